/* test_gbdt_predict.c — gbdt batch scoring (eight rows per step, rows per block chosen from the
 * feature count, blocks handed out dynamically to threads) equals single-row scoring bit for bit:
 * every batch size from 1 to 40 rows (tails that are not a multiple of eight), blocks with and
 * without NaN, narrow (64 rows per block) and wide (8 rows per block) data, binary and
 * multiclass, for 1, 2 and 3 threads. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/model.h"
#include "test.h"

#include <math.h>
#include <string.h>

/* n x nf rows; features 0..2 informative; NaN in feature 4 of every 5th row when `nan`. */
static void make(fw_matrix *X, double *y, size_t n, size_t nf, uint32_t k, bool nan,
                 uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    CHECK_OK(fw_matrix_alloc(X, n, nf, 0));
    for (size_t i = 0; i < n; i++) {
        float *x = X->dense + i * nf;
        for (size_t f = 0; f < nf; f++) x[f] = (float)(fw_rng_uniform(&r) * 2 - 1);
        if (nan && nf > 4 && i % 5 == 0) x[4] = NAN;
        double s = x[0] + 0.6 * x[1] - 0.4 * x[2] * x[2] + 0.2 * fw_rng_normal(&r);
        if (y) y[i] = k > 2 ? (double)((uint32_t)((s + 2) * k / 4) % k) : s > 0;
    }
}

static fw_model *fit(const fw_matrix *X, const double *y, uint32_t k) {
    fw_train_data td = {0};
    td.X = X;
    td.y = y;
    td.task = k > 2 ? FW_TASK_MULTICLASS : FW_TASK_BINARY;
    td.n_classes = k > 2 ? k : 2;
    td.n_outputs = k > 2 ? k : 1;
    const char *p[] = {"n_estimators=9", "max_depth=5", "learning_rate=0.3"};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = 1;
    o.params = p;
    o.n_params = 3;
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    return m;
}

/* Scores the first n rows of X as one batch (threads) and row by row; counts differing bytes. */
static size_t batch_vs_rows(const fw_model *m, const fw_matrix *X, size_t n, int threads) {
    size_t no = m->n_outputs, nd = X->n_dense, bad = 0;
    fw_matrix V = *X;
    V.n_rows = n;
    double *blk = fw_malloc(n * no * sizeof(double));
    void *scr = fw_malloc(fw_model_scratch_size(m) + 16);
    double out[16];
    CHECK_OK(fw_model_predict_block(m, &V, threads, blk));
    for (size_t i = 0; i < n; i++) {
        fw_row r = {X->dense + i * nd, NULL, NULL, 0};
        CHECK_OK(fw_model_predict_row(m, &r, scr, out));
        bad += memcmp(out, blk + i * no, no * sizeof(double)) != 0;
    }
    fw_free(scr);
    fw_free(blk);
    return bad;
}

static void check_case(size_t nf, uint32_t k, bool nan) {
    size_t n = 3000;
    fw_matrix X;
    double *y = fw_calloc(n, sizeof(double));
    make(&X, y, n, nf, k, nan, 7 + nf + k);
    fw_model *m = fit(&X, y, k);
    if (!m) {
        fw_matrix_free(&X);
        fw_free(y);
        return;
    }
    size_t bad = 0;
    for (size_t b = 1; b <= 40; b++) bad += batch_vs_rows(m, &X, b, 1);
    for (int t = 1; t <= 3; t++) bad += batch_vs_rows(m, &X, n, t);
    CHECK_MSG(bad == 0, "%zu rows differ (features %zu, classes %u, nan %d)", bad, nf, k, nan);
    fw_model_free(m);
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_narrow_binary(void) {
    check_case(12, 2, false);
    check_case(12, 2, true);
}

static void test_wide_multiclass(void) {
    check_case(1100, 3, false); /* over 1024 features: eight rows per block */
    check_case(300, 4, true);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_narrow_binary);
    TEST_RUN(test_wide_multiclass);
    return fw_test_report(argv[0]);
}
