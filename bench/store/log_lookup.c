/* log_lookup.c — the prediction log's lookups by request id at scale, through the store interface
 * (store/store.h fw_store_log_get_prediction: a late label's prediction, online learning; and
 * fw_store_log_put_feedback with matched=false: feedback whose id this process did not issue):
 * fills HOME's log with ROWS server-shaped rows (random 41-character ids, ~150 bytes of inputs) in
 * batches of 1,024 as the ingest thread writes them (unless the log already holds them: a second
 * run reuses the home), then times LOOKUPS lookups of each kind: a hit among the newest 1% of rows,
 * a hit among the oldest 1%, a miss; and feedback matching of misses. Prints the fill's CPU per row,
 * each kind's CPU us per lookup (this thread's CPU time: lookups are synchronous) and, when the
 * tree has the run index (log_db.h FW_LOG_DB_RUN_SHIFT), the index seeks per lookup.
 * Built by bench/store/log_lookup.sh against a build's libflywheel.a.
 * Usage: log_lookup HOME ROWS [LOOKUPS] */
#include "store/log_db.h"
#include "store/store.h"

#include <math.h>
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

static void rid_of(uint64_t n, char *out) {
    uint64_t x = (n + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    uint64_t y = x * 0x94D049BB133111EBull;
    snprintf(out, 48, "%016llx%016llx-%08x", (unsigned long long)x, (unsigned long long)(y ^ y >> 32),
             (unsigned)(x >> 40));
}

static unsigned long long probes(void) {
#ifdef FW_LOG_DB_RUN_SHIFT
    return fw_log_db_probes;
#else
    return 0;
#endif
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: log_lookup HOME ROWS [LOOKUPS]\n");
        return 2;
    }
    const char *home = argv[1];
    uint64_t rows = strtoull(argv[2], NULL, 10);
    int lookups = argc > 3 ? atoi(argv[3]) : 1000;
    fw_err err;
    fw_store *s = NULL;
    fw_store_log *l = NULL;
    if (fw_store_open(home, &s, &err) || fw_store_log_open(fw_store_home(s), &l, &err)) {
        fprintf(stderr, "log_lookup: %s\n", err.msg);
        return 1;
    }
    enum { BATCH = 1024 };
    static char rids[BATCH][48], ins[BATCH][200];
    fw_log_pred_row batch[BATCH];
    /* the fill: skipped when the newest row is already there */
    char last[48];
    rid_of(rows - 1, last);
    fw_log_pred_found f = {0};
    bool have = fw_store_log_get_prediction(l, last, "spam", 3, &f, &err) == FW_OK;
    fw_log_pred_found_free(&f);
    if (!have) {
        double c0 = secs(CLOCK_PROCESS_CPUTIME_ID), w0 = secs(CLOCK_MONOTONIC);
        for (uint64_t n = 0; n < rows;) {
            size_t k = 0;
            for (; k < BATCH && n < rows; k++, n++) {
                rid_of(n, rids[k]);
                int len = snprintf(ins[k], sizeof ins[k],
                                   "{\"instances\":[{\"text\":\"free money now %llu\",\"n\":%llu,\"ok\":true,"
                                   "\"country\":\"DE\",\"amount\":%.3f,\"device\":\"mobile\"}]}",
                                   (unsigned long long)n, (unsigned long long)(n % 977), (double)(n % 1013) * 0.37);
                batch[k] = (fw_log_pred_row){rids[k], (int64_t)n, "spam", 3, ins[k], (size_t)len, "[0.25,0.75]", 11,
                                             40, "model"};
            }
            if (fw_store_log_put_predictions(l, batch, k, &err)) {
                fprintf(stderr, "log_lookup: %s\n", err.msg);
                return 1;
            }
        }
        double c1 = secs(CLOCK_PROCESS_CPUTIME_ID), w1 = secs(CLOCK_MONOTONIC);
        /* a few one-row batches: the writer finishes building the last complete run */
        for (int i = 0; i < 200; i++) {
            snprintf(rids[0], sizeof rids[0], "tail-%d", i);
            batch[0] = (fw_log_pred_row){rids[0], (int64_t)rows + i, "tail", 1, "{}", 2, "[1]", 3, 1, "model"};
            fw_store_log_put_predictions(l, batch, 1, &err);
        }
        printf("fill: %llu rows, %.2f CPU us/row, %.0f rows/s wall\n", (unsigned long long)rows,
               (c1 - c0) * 1e6 / (double)rows, (double)rows / (w1 - w0));
    }
    const char *kinds[] = {"hit fresh", "hit old", "miss", "feedback miss"};
    for (int kind = 0; kind < 4; kind++) {
        unsigned long long p0 = probes();
        double c0 = secs(CLOCK_THREAD_CPUTIME_ID);
        int found = 0;
        for (int i = 0; i < lookups; i++) {
            char rid[48];
            uint64_t span = rows / 100 ? rows / 100 : 1, j = (uint64_t)i * 7919 % span;
            if (kind == 0) rid_of(rows - 1 - j, rid);
            else if (kind == 1) rid_of(j, rid);
            else snprintf(rid, sizeof rid, "no-such-request-%d", i);
            if (kind < 3) {
                fw_log_pred_found g = {0};
                found += fw_store_log_get_prediction(l, rid, "spam", 3, &g, &err) == FW_OK;
                fw_log_pred_found_free(&g);
            } else {
                fw_log_feedback_row fb = {rid, 1, NULL, "click", 1.0, "bench", false, false};
                fw_store_log_put_feedback(l, &fb, 1, &err);
                found += fb.matched;
            }
        }
        double c1 = secs(CLOCK_THREAD_CPUTIME_ID);
        printf("%-13s %9.1f CPU us/lookup  %8.1f seeks/lookup  found %d/%d\n", kinds[kind],
               (c1 - c0) * 1e6 / lookups, (double)(probes() - p0) / lookups, found, lookups);
    }
    fw_store_log_close(l);
    fw_store_close(s);
    return 0;
}
