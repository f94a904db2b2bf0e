/* bench_load.c — the loader benchmark program (run by bench/load/run.sh):
 *   bench_load gen PATH ROWS COLS     writes a deterministic numeric CSV (mixed reals and ints)
 *   bench_load load PATH [THREADS] [REPEATS]
 *                                     loads PATH with fw_data_load, prints the best wall time
 *                                     ("seconds=<s> rows=<n> cols=<n>") over REPEATS runs. */
#include "core/clock.h"
#include "core/rng.h"
#include "data/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gen(const char *path, long rows, long cols) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    for (long c = 0; c < cols; c++) fprintf(f, "%sf%ld", c ? "," : "", c);
    fputc('\n', f);
    fw_rng r;
    fw_rng_seed(&r, 2026);
    for (long i = 0; i < rows; i++) {
        for (long c = 0; c < cols; c++) {
            if (c) fputc(',', f);
            if (c % 5 == 0)
                fprintf(f, "%d", (int)fw_rng_below(&r, 1000));
            else
                fprintf(f, "%.6f", fw_rng_normal(&r) * (double)(c + 1));
        }
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "gen") == 0) return gen(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc < 3 || strcmp(argv[1], "load") != 0) {
        fprintf(stderr, "usage: bench_load gen PATH ROWS COLS | load PATH [THREADS] [REPEATS]\n");
        return 2;
    }
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.threads = argc > 3 ? atoi(argv[3]) : 0;
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    double best = 1e30;
    size_t rows = 0, cols = 0;
    for (int k = 0; k < reps; k++) {
        fw_dataset *ds;
        fw_err err;
        fw_err_clear(&err);
        double t0 = fw_now_seconds();
        if (fw_data_load(argv[2], &o, &ds, NULL, &err) < 0) {
            fprintf(stderr, "bench_load: %s\n", err.msg);
            return 1;
        }
        double t = fw_now_seconds() - t0;
        if (t < best) best = t;
        rows = ds->n_rows;
        cols = ds->n_cols;
        fw_dataset_free(ds);
    }
    printf("seconds=%.3f rows=%zu cols=%zu\n", best, rows, cols);
    return 0;
}
