/* bench_predict.c — a fixed gbdt batch predict for comparing two builds of models/gbdt_predict.c
 * (bench/gbdt/predict_instr.sh links it against each and counts instructions with callgrind, or
 * times it). Two modes:
 *   bench_predict make DIR    (native, seconds) generates seeded rows (30 features; one in 50
 *       values of features 5..9 missing; the test rows' first half has no missing value, so both
 *       the NaN and the no-NaN walks run), trains 100 trees of depth 6 on them and writes
 *       DIR/model.bin (fw_model_save) and DIR/rows.bin (i64 n, i64 d, f32 X[n*d]).
 *   bench_predict run DIR [REPS]
 *       loads them and, on one thread: predict_block REPS times (default 5); a column scorer
 *       (permutation importance) made over the rows, then one call per column with that column's
 *       values reversed. Prints each phase's thread CPU seconds and an xxh64 of the batch scores
 *       and of the column scores, which must not change between builds. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/rng.h"
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

/* model.c refers to the families weakly; a static link pulls gbdt in only when named. */
extern const fw_model_vtable fw_gbdt_vtable;

#define N_TRAIN 20000
#define N_TEST 4096
#define N_FEAT 30

static void die(const char *msg) {
    fprintf(stderr, "bench_predict: %s\n", msg);
    exit(1);
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n rows into X (n x N_FEAT) and labels y; rows before `clean` have no missing value. */
static void gen(fw_rng *r, fw_matrix *X, double *y, size_t n, size_t clean) {
    for (size_t i = 0; i < n; i++) {
        float *x = X->dense + i * N_FEAT;
        double s = 0;
        for (size_t j = 0; j < N_FEAT; j++) {
            x[j] = (float)fw_rng_normal(r);
            s += (j < 10 ? 1.0 : 0.1) * x[j];
        }
        s += 1.5 * x[0] * x[1] - fabs(x[2]) + sin(3 * x[3]) + fw_rng_normal(r);
        y[i] = s > 0;
        for (size_t j = 5; j < 10 && i >= clean; j++)
            if (fw_rng_uniform(r) < 0.02) x[j] = NAN;
    }
}

static void write_file(const char *dir, const char *name, const void *a, size_t na, const void *b,
                       size_t nb) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f))
        die("cannot write DIR");
}

static uint8_t *read_file(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read DIR (run make first)");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = fw_malloc(*len);
    if (!p || fread(p, 1, *len, f) != *len) die("short file");
    fclose(f);
    return p;
}

static int make(const char *dir) {
    fw_rng r;
    fw_rng_seed(&r, 11);
    fw_matrix X, T;
    double *y = fw_malloc(N_TRAIN * sizeof(double)), *yt = fw_malloc(N_TEST * sizeof(double));
    if (fw_matrix_alloc(&X, N_TRAIN, N_FEAT, 0) || fw_matrix_alloc(&T, N_TEST, N_FEAT, 0)) die("oom");
    gen(&r, &X, y, N_TRAIN, 0);
    gen(&r, &T, yt, N_TEST, N_TEST / 2);
    fw_train_data td = {0};
    td.X = &X;
    td.y = y;
    td.task = FW_TASK_BINARY;
    td.n_classes = 2;
    td.n_outputs = 1;
    const char *params[] = {"n_estimators=100", "max_depth=6", "learning_rate=0.3"};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.seed = 42;
    o.threads = 2;
    o.params = params;
    o.n_params = 3;
    fw_model *m = NULL;
    fw_err err;
    if (fw_gbdt_vtable.fit(&td, &o, &m, &err)) die(err.msg);
    fw_buf b;
    fw_buf_init(&b);
    if (fw_model_save(m, &b)) die("save failed");
    write_file(dir, "model.bin", b.data, b.len, NULL, 0);
    int64_t h[2] = {N_TEST, N_FEAT};
    write_file(dir, "rows.bin", h, sizeof h, T.dense, (size_t)N_TEST * N_FEAT * sizeof(float));
    printf("model_bytes=%zu rows=%d features=%d\n", b.len, N_TEST, N_FEAT);
    fw_buf_free(&b);
    fw_model_free(m);
    fw_matrix_free(&X);
    fw_matrix_free(&T);
    fw_free(y);
    fw_free(yt);
    return 0;
}

static int run(const char *dir, int reps) {
    size_t len;
    uint8_t *mb = read_file(dir, "model.bin", &len);
    fw_model *m = NULL;
    fw_err err;
    if (fw_model_load(mb, len, &m, &err)) die(err.msg);
    uint8_t *rb = read_file(dir, "rows.bin", &len);
    int64_t h[2];
    memcpy(h, rb, sizeof h);
    size_t n = (size_t)h[0], d = (size_t)h[1];
    if (len != sizeof h + n * d * sizeof(float)) die("rows.bin: wrong size");
    fw_matrix X, P;
    if (fw_matrix_alloc(&X, n, d, 0) || fw_matrix_alloc(&P, n, d, 0)) die("oom");
    memcpy(X.dense, rb + sizeof h, n * d * sizeof(float));
    double *out = fw_malloc(n * sizeof(double)), *col = fw_malloc(n * d * sizeof(double));

    double c0 = thread_cpu();
    for (int i = 0; i < reps; i++)
        if (fw_model_predict_block(m, &X, 1, out)) die("predict failed");
    double c_pred = thread_cpu() - c0;

    c0 = thread_cpu();
    fw_col_scorer *s = NULL;
    if (fw_model_col_scorer(m, &X, 1, &s)) die("col scorer failed");
    double c_cache = thread_cpu() - c0;
    double c_col = 0;
    for (size_t j = 0; j < d; j++) {
        memcpy(P.dense, X.dense, n * d * sizeof(float));
        for (size_t r = 0; r < n; r++) P.dense[r * d + j] = X.dense[(n - 1 - r) * d + j];
        c0 = thread_cpu();
        if (s->predict(s, &P, j, col + j * n)) die("col predict failed");
        c_col += thread_cpu() - c0;
    }
    s->free(s);
    printf("predict_block reps=%d rows=%zu cpu_s=%.4f xxh64=%016llx\n", reps, n, c_pred,
           (unsigned long long)XXH64(out, n * sizeof(double), 0));
    printf("col_scorer cache_cpu_s=%.4f calls=%zu cpu_s=%.4f xxh64=%016llx\n", c_cache, d, c_col,
           (unsigned long long)XXH64(col, n * d * sizeof(double), 0));
    fw_free(out);
    fw_free(col);
    fw_free(mb);
    fw_free(rb);
    fw_matrix_free(&X);
    fw_matrix_free(&P);
    fw_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "make") == 0) return make(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "run") == 0) return run(argv[2], argc > 3 ? atoi(argv[3]) : 5);
    die("usage: bench_predict make DIR | run DIR [REPS]");
    return 1;
}
