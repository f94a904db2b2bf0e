/* fit.c — the benchmark's flywheel side (bench/rank/run.sh): loads train.csv / test.csv (numeric
 * features, a `qid` column and a `relevance` label), fits the gbdt family's LambdaMART objective
 * through the library (fw_model_fit, the same call `flywheel train` makes) with the given
 * "key=value" parameters, and prints the fit's wall and CPU seconds; writes one test score per
 * line to PRED. Usage: fit TRAIN TEST PRED THREADS [key=value ...] */
#include "core/alloc.h"
#include "data/load.h"
#include "data/query.h"
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int load(const char *path, fw_matrix *X, double **y, uint32_t **q) {
    fw_err err;
    fw_err_clear(&err);
    fw_dataset *ds = NULL;
    if (fw_data_load(path, NULL, &ds, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int cy = fw_dataset_find(ds, "relevance"), cq = fw_dataset_find(ds, "qid");
    if (cy < 0 || cq < 0) {
        fprintf(stderr, "%s: needs qid and relevance columns\n", path);
        return 1;
    }
    size_t n = ds->n_rows, nd = ds->n_cols - 2;
    if (fw_matrix_alloc(X, n, nd, 0)) return 1;
    *y = malloc(n * sizeof **y);
    *q = malloc(n * sizeof **q);
    uint32_t nq;
    if (fw_query_ids(ds, "qid", *q, &nq, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t f = 0;
    for (size_t c = 0; c < ds->n_cols; c++) {
        if ((int)c == cy || (int)c == cq) continue;
        for (size_t r = 0; r < n; r++) X->dense[r * nd + f] = (float)ds->cols[c].num[r];
        f++;
    }
    for (size_t r = 0; r < n; r++) (*y)[r] = ds->cols[cy].num[r];
    fw_dataset_free(ds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: fit TRAIN TEST PRED THREADS [key=value ...]\n");
        return 2;
    }
    fw_matrix X, T;
    memset(&X, 0, sizeof X);
    memset(&T, 0, sizeof T);
    double *y, *yt;
    uint32_t *q, *qt;
    if (load(argv[1], &X, &y, &q) || load(argv[2], &T, &yt, &qt)) return 1;
    fw_train_data d;
    memset(&d, 0, sizeof d);
    d.X = &X;
    d.y = y;
    d.task = FW_TASK_RANKING;
    d.n_outputs = 1;
    d.query = q;
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = atoi(argv[4]);
    o.params = (const char *const *)argv + 5;
    o.n_params = (size_t)(argc - 5);
    fw_err err;
    fw_err_clear(&err);
    fw_model *m = NULL;
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (fw_model_fit("gbdt", &d, &o, &m, &err)) {
        fprintf(stderr, "fit: %s\n", err.msg);
        return 1;
    }
    double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
    double *p = malloc(T.n_rows * sizeof *p);
    if (fw_model_predict_block(m, &T, o.threads, p)) return 1;
    FILE *f = fopen(argv[3], "w");
    for (size_t i = 0; i < T.n_rows; i++) fprintf(f, "%.17g\n", p[i]);
    fclose(f);
    printf("fit_wall_s=%.4f fit_cpu_s=%.4f\n", w1 - w0, c1 - c0);
    fw_model_free(m);
    fw_matrix_free(&X);
    fw_matrix_free(&T);
    free(y);
    free(yt);
    free(q);
    free(qt);
    free(p);
    return 0;
}
