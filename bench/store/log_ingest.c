/* log_ingest.c — CPU cost of the prediction log per record: the store sink (serve/logq.h
 * fw_log_sink_store, the path the server's ingest thread takes) writes BATCHES batches of 512
 * prediction records (2 scores) plus 8 feedback records each into a fresh home; prints the process
 * CPU time per record (all threads: the sink's checkpointer included) and the wall time. Request
 * ids look like the server's (41 characters, random order: a keyed hash of the record number), so
 * the request-id index sees what it sees in production.
 * MODE store (default): the records go to the store sink directly, each input a 1-row /v1 body of
 * 3 features (~80 bytes). MODE spool: the server's whole path after the queue — the writer's
 * spool append (encoding, pwrite), the spool's ingest thread (read, decode) and the store sink
 * (serve/log_spool.h, ingest_batch 1024 as `flywheel serve` runs it), each input the spam
 * benchmark's 57-feature /v1 row (~970 bytes, bench/serve/request_instr.sh's body) already compact
 * (as the server's request thread hands it to the writer).
 * Built by bench/store/log_ingest.sh against a build's libflywheel.a.
 * INGEST_BATCH: the spool's records per store transaction (1024 when absent: the serving default).
 * Usage: log_ingest HOME [BATCHES] [store|spool] [INGEST_BATCH] */
#include "serve/log_spool.h"
#include "serve/logq.h"

#include "core/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* the spam benchmark's row shape: 57 named features with short decimal values, compact JSON */
static int wide_input(char *in, size_t cap, unsigned b, unsigned i) {
    int len = snprintf(in, cap, "{\"instances\":[{");
    for (int f = 0; f < 57 && len > 0 && (size_t)len < cap; f++)
        len += snprintf(in + len, cap - (size_t)len, "%s\"word_freq_%02d\":%u.%02u", f ? "," : "", f,
                        (b + i + (unsigned)f) % 7, (i * 31u + (unsigned)f) % 100);
    if (len > 0 && (size_t)len < cap) len += snprintf(in + len, cap - (size_t)len, "}]}");
    return len;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: log_ingest HOME [BATCHES] [store|spool] [INGEST_BATCH]\n");
        return 2;
    }
    int batches = argc > 2 ? atoi(argv[2]) : 200;
    bool spool = argc > 3 && strcmp(argv[3], "spool") == 0;
    enum { PER = 512, FB = 8 };
    fw_log_sink sink;
    fw_err err;
    _Atomic(unsigned long long) matched = 0, unmatched = 0;
    if (fw_log_sink_store(argv[1], &matched, &unmatched, &sink, &err)) {
        fprintf(stderr, "log_ingest: %s\n", err.msg);
        return 1;
    }
    if (spool) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/spool", argv[1]);
        fw_log_sink sp;
        if (fw_log_sink_spool(dir, &sink, 1ull << 34, argc > 4 ? (size_t)atoi(argv[4]) : 1024, false, &sp, &err)) {
            fprintf(stderr, "log_ingest: %s\n", err.msg);
            return 1;
        }
        sink = sp;
    }
    fw_log_record *recs[PER + FB];
    static char wide[PER][2048]; /* made before the clock starts: 57 snprintf calls a record would be most of it */
    static int wide_len[PER];
    for (int i = 0; spool && i < PER; i++) wide_len[i] = wide_input(wide[i], sizeof wide[i], 0, (unsigned)i);
    double c0 = secs(CLOCK_PROCESS_CPUTIME_ID), w0 = secs(CLOCK_MONOTONIC);
    long n = 0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < PER; i++) {
            char rid[48], in[160];
            make_id(rid, sizeof rid, (unsigned)b, (unsigned)i);
            int len = spool ? wide_len[i]
                            : snprintf(in, sizeof in,
                                       "{\"instances\": [{\"text\": \"free money now %d\", \"n\": %d, \"ok\": true}]}",
                                       i, b);
            double out[2] = {0.125 * i, 1.0 - 0.125 * i};
            fw_log_prediction p = {.request_id = rid, .model = "spam", .version = "3", .outcome = "model",
                                   .variant = "primary", .source = "online", .protocol = "v1", .latency_us = 40 + i,
                                   .inputs = spool ? wide[i] : in, .inputs_len = (size_t)len, .outputs = out, .n_rows = 1, .n_out = 2,
                                   .answers = "[\"spam\"]", .answers_len = 8};
            recs[i] = fw_log_prediction_new(&p);
            if (spool) recs[i]->inputs_compact = true;
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
    sink.close(sink.ud); /* a spool drains into the store first */
    double c1 = secs(CLOCK_PROCESS_CPUTIME_ID), w1 = secs(CLOCK_MONOTONIC);
    printf("%.3f us_cpu/record  %.3f us_wall/record  %ld records\n", (c1 - c0) * 1e6 / (double)n,
           (w1 - w0) * 1e6 / (double)n, n);
    return 0;
}
