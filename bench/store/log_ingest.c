/* log_ingest.c — CPU cost of the prediction log's store ingest: the store sink (serve/logq.h
 * fw_log_sink_store, the path the server's ingest thread takes) writes BATCHES batches of 512
 * prediction records (a 1-row /v1 body, 2 scores) plus 8 feedback records each into a fresh home;
 * prints the process CPU time per record (all threads: the sink's checkpointer included) and the
 * wall time. Request ids look like the server's (41 characters, random order: a keyed hash of the
 * record number), so the request-id index sees what it sees in production.
 * Built by bench/store/log_ingest.sh against a build's libflywheel.a.
 * Usage: log_ingest HOME [BATCHES] */
#include "serve/logq.h"

#include "core/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double secs(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* a server-shaped request id for record (b, i): 32 hex of a mixed 64-bit hash, "-", 8 hex */
static void make_id(char *out, size_t cap, unsigned b, unsigned i) {
    uint64_t x = ((uint64_t)b << 20 | i) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    uint64_t y = x * 0x94D049BB133111EBull;
    y ^= y >> 32;
    snprintf(out, cap, "%016llx%016llx-%08x", (unsigned long long)x, (unsigned long long)y, (unsigned)(x >> 40));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: log_ingest HOME [BATCHES]\n");
        return 2;
    }
    int batches = argc > 2 ? atoi(argv[2]) : 200;
    enum { PER = 512, FB = 8 };
    fw_log_sink sink;
    fw_err err;
    _Atomic(unsigned long long) matched = 0, unmatched = 0;
    if (fw_log_sink_store(argv[1], &matched, &unmatched, &sink, &err)) {
        fprintf(stderr, "log_ingest: %s\n", err.msg);
        return 1;
    }
    fw_log_record *recs[PER + FB];
    double c0 = secs(CLOCK_PROCESS_CPUTIME_ID), w0 = secs(CLOCK_MONOTONIC);
    long n = 0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < PER; i++) {
            char rid[48], in[160];
            make_id(rid, sizeof rid, (unsigned)b, (unsigned)i);
            int len = snprintf(in, sizeof in, "{\"instances\": [{\"text\": \"free money now %d\", \"n\": %d, \"ok\": true}]}",
                               i, b);
            double out[2] = {0.125 * i, 1.0 - 0.125 * i};
            fw_log_prediction p = {.request_id = rid, .model = "spam", .version = "3", .outcome = "model",
                                   .variant = "primary", .source = "online", .protocol = "v1", .latency_us = 40 + i,
                                   .inputs = in, .inputs_len = (size_t)len, .outputs = out, .n_rows = 1, .n_out = 2,
                                   .answers = "[\"spam\"]", .answers_len = 8};
            recs[i] = fw_log_prediction_new(&p);
        }
        for (int i = 0; i < FB; i++) {
            char rid[48];
            make_id(rid, sizeof rid, (unsigned)b, (unsigned)(i * 7));
            recs[PER + i] = fw_log_feedback_new2(rid, i % 2 ? "\"spam\"" : NULL, i % 2 ? NULL : "click", 1.0, true,
                                                 false, "127.0.0.1");
        }
        if (sink.write(sink.ud, recs, PER + FB, &err)) {
            fprintf(stderr, "log_ingest: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; i < PER + FB; i++) fw_free(recs[i]);
        n += PER + FB;
    }
    sink.close(sink.ud);
    double c1 = secs(CLOCK_PROCESS_CPUTIME_ID), w1 = secs(CLOCK_MONOTONIC);
    printf("%.3f us_cpu/record  %.3f us_wall/record  %ld records\n", (c1 - c0) * 1e6 / (double)n,
           (w1 - w0) * 1e6 / (double)n, n);
    return 0;
}
