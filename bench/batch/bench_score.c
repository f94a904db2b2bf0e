/* bench_score.c — the pure-scoring side of bench/batch: loads a model artifact (.fwm) and a CSV
 * into memory with the real loader (the model's input types), then times THE prediction path batch
 * and serve share, fw_bundle_predict_block, over every row (2 threads by default), best of 3, in
 * wall seconds and process CPU seconds. The peer (peer_xgboost.py score) times XGBoost's predict on
 * the same rows in memory. Prints key=value lines.
 *
 *   bench_score MODEL.fwm DATA.csv [THREADS] */
#include "artifact/bundle.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "data/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const fw_err *err) {
    fprintf(stderr, "bench_score: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_score MODEL.fwm DATA.csv [THREADS]\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    fw_err err;
    fw_err_clear(&err);
    fw_bundle *b;
    if (fw_bundle_load_file(argv[1], &b, &err)) die(argv[1], &err);
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    size_t ni = fw_pipeline_n_inputs(pl);
    fw_type_override *ov = fw_calloc(ni + 1, sizeof *ov);
    for (size_t i = 0; i < ni; i++) ov[i] = (fw_type_override){fw_pipeline_input_name(pl, i), fw_pipeline_input_type(pl, i)};
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    lo.overrides = ov;
    lo.n_overrides = ni;
    double t0 = fw_now_seconds();
    fw_dataset *ds;
    if (fw_data_load(argv[2], &lo, &ds, NULL, &err)) die(argv[2], &err);
    printf("load_s=%.3f rows=%zu inputs=%zu\n", fw_now_seconds() - t0, ds->n_rows, ni);
    size_t no = fw_bundle_n_outputs(b);
    double *scores = fw_malloc(ds->n_rows * no * sizeof *scores);
    int32_t *labels = fw_malloc(ds->n_rows * sizeof *labels);
    if (!scores || !labels) die("out of memory", NULL);
    double best = 1e30, best_cpu = 1e30, sum = 0;
    for (int rep = 0; rep < 3; rep++) {
        double w0 = fw_now_seconds(), c0 = cpu_now();
        if (fw_bundle_predict_block(b, ds, threads, scores, labels, NULL, &err)) die("predict", &err);
        double w = fw_now_seconds() - w0, c = cpu_now() - c0;
        if (w < best) best = w;
        if (c < best_cpu) best_cpu = c;
    }
    for (size_t i = 0; i < ds->n_rows * no; i++) sum += scores[i];
    printf("flywheel_predict_threads=%d\n", threads);
    printf("flywheel_predict_s=%.3f\n", best);
    printf("flywheel_predict_rows_per_s=%.0f\n", (double)ds->n_rows / best);
    printf("flywheel_predict_cpu_s=%.3f\n", best_cpu);
    printf("flywheel_predict_checksum=%.6f\n", sum);
    fw_free(scores);
    fw_free(labels);
    fw_free(ov);
    fw_dataset_free(ds);
    fw_bundle_free(b);
    return 0;
}
