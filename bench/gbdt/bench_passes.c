/* bench_passes.c — cost of one parallel pass (core/threads.c) on this machine: 2,000 passes of a
 * ~1.6 µs loop with 2 threads and with 1 thread, three times. The gbdt trainer's "pass worth
 * threads" bar (models/gbdt_int.h) and the linear family's thread thresholds are set from it.
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/gbdt/bench_passes.c src/core/threads.c -lpthread */
#include "core/threads.h"

#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile double sink[64];

static void work(void *ctx, int t, size_t b, size_t e) {
    (void)ctx;
    double s = 0;
    for (size_t i = b; i < e; i++) s += (double)i * 0.5;
    sink[t] = s;
}

int main(void) {
    enum { N = 2000 };
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int i = 0; i < N; i++) fw_parallel_for(2, 2000, work, NULL);
        double t1 = now();
        for (int i = 0; i < N; i++) fw_parallel_for(1, 2000, work, NULL);
        double t2 = now();
        printf("per pass: 2 threads %.1f us, 1 thread %.1f us\n", (t1 - t0) / N * 1e6,
               (t2 - t1) / N * 1e6);
    }
    return 0;
}
