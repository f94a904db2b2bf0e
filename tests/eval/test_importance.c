/* test_importance.c — tests for permutation importance (a model that reads only feature 0 → feature
 * 0 important, the others exactly 0; deterministic; lower-is-better metrics still give positive
 * drops), a gbdt model's column scorer (the same scores and importances, bit for bit) and the
 * single-row latency helper (percentiles ordered, errors named). */
#include "core/alloc.h"
#include "core/rng.h"
#include "eval/importance.h"
#include "eval/latency.h"
#include "models/model.h"
#include "test.h"

#include <string.h>

enum { N = 300, D = 3 };

static void make_data(fw_matrix *X, double *y, int regression) {
    CHECK_OK(fw_matrix_alloc(X, N, D, 0));
    fw_rng r;
    fw_rng_seed(&r, 7);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < D; j++) X->dense[i * D + j] = (float)fw_rng_uniform(&r);
        double x0 = X->dense[i * D];
        y[i] = regression ? 3 * x0 : (x0 + 0.2 * (fw_rng_uniform(&r) - 0.5) > 0.5);
    }
}

static int g_calls;
/* A "model" that uses only feature 0. */
static fw_status predict_f0(void *ud, const fw_matrix *X, double *out, fw_err *err) {
    (void)err;
    int regression = *(int *)ud;
    g_calls++;
    for (size_t i = 0; i < X->n_rows; i++) {
        double x0 = X->dense[i * X->n_dense];
        out[i] = regression ? 3 * x0 : 1 / (1 + exp(-10 * (x0 - 0.5)));
    }
    return FW_OK;
}

static void test_feature0_most_important(void) {
    fw_matrix X;
    double y[N];
    int regression = 0;
    make_data(&X, y, regression);
    fw_importance_options io;
    fw_importance_options_init(&io);
    io.n_repeats = 4;
    fw_importance a, b;
    fw_err err;
    fw_err_clear(&err);
    g_calls = 0;
    CHECK_OK(fw_eval_permutation_importance(FW_TASK_BINARY, &X, y, 1, NULL, predict_f0, &regression,
                                            &io, &a, &err));
    CHECK_EQ(g_calls, 1 + D * 4);
    CHECK_STR(a.metric, "roc_auc");
    CHECK(a.base_score > 0.9);
    CHECK_EQ(a.n, D);
    CHECK(a.mean[0] > 0.3);
    CHECK(a.mean[1] == 0 && a.mean[2] == 0);
    CHECK(a.std[1] == 0);
    CHECK(a.std[0] > 0);
    /* deterministic: bit-identical on a second run; the input matrix is untouched */
    CHECK_OK(fw_eval_permutation_importance(FW_TASK_BINARY, &X, y, 1, NULL, predict_f0, &regression,
                                            &io, &b, &err));
    CHECK(memcmp(a.mean, b.mean, D * sizeof *a.mean) == 0);
    CHECK(memcmp(a.std, b.std, D * sizeof *a.std) == 0);
    fw_rng r;
    fw_rng_seed(&r, 7);
    CHECK(X.dense[0] == (float)fw_rng_uniform(&r));
    fw_importance_free(&b);
    io.seed = 43; /* another seed: other shuffles */
    CHECK_OK(fw_eval_permutation_importance(FW_TASK_BINARY, &X, y, 1, NULL, predict_f0, &regression,
                                            &io, &b, &err));
    CHECK(b.mean[0] != a.mean[0]);
    fw_importance_free(&a);
    fw_importance_free(&b);
    fw_matrix_free(&X);
}

static void test_lower_is_better_positive(void) {
    fw_matrix X;
    double y[N];
    int regression = 1;
    make_data(&X, y, regression);
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = "rmse";
    fw_importance imp;
    CHECK_OK(fw_eval_permutation_importance(FW_TASK_REGRESSION, &X, y, 1, &eo, predict_f0,
                                            &regression, NULL, &imp, NULL));
    CHECK_NEAR(imp.base_score, 0, 1e-6);
    CHECK(imp.mean[0] > 0.5); /* rmse grows → positive importance */
    CHECK(imp.mean[1] == 0);
    fw_importance_free(&imp);
    fw_matrix_free(&X);
}

static fw_status failing(void *ud, const fw_matrix *X, double *out, fw_err *err) {
    (void)ud;
    (void)X;
    (void)out;
    return fw_err_set(err, FW_EDATA, "model exploded");
}

static void test_importance_errors(void) {
    fw_matrix X;
    double y[N];
    int regression = 0;
    make_data(&X, y, regression);
    fw_importance imp;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_eval_permutation_importance(FW_TASK_BINARY, &X, y, 1, NULL, failing, NULL, NULL,
                                            &imp, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "exploded");
    CHECK(imp.mean == NULL);
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = "nope";
    CHECK_EQ(fw_eval_permutation_importance(FW_TASK_BINARY, &X, y, 1, &eo, predict_f0, &regression,
                                            NULL, &imp, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "nope");
    fw_matrix_free(&X);
}

static fw_status row_fn(void *ud, const fw_row *x, double *out) {
    int *calls = ud;
    (*calls)++;
    double s = 0;
    for (int k = 0; k < 200; k++) s += x->dense[k % D] * k;
    out[0] = s;
    return *calls == -1 ? FW_EDATA : FW_OK;
}

static fw_status row_fail(void *ud, const fw_row *x, double *out) {
    (void)ud;
    (void)x;
    (void)out;
    return FW_EDATA;
}

static void test_latency(void) {
    fw_matrix X;
    double y[N];
    make_data(&X, y, 0);
    int calls = 0;
    fw_latency lat;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_eval_latency(&X, 1, row_fn, &calls, 1000, 50, &lat, &err));
    CHECK_EQ(calls, 1050);
    CHECK_EQ(lat.n_calls, 1000);
    CHECK(lat.p50_us > 0);
    CHECK(lat.p50_us <= lat.p99_us);
    CHECK(lat.p99_us <= lat.max_us);
    CHECK(lat.mean_us > 0);
    CHECK_EQ(fw_eval_latency(&X, 1, row_fn, &calls, 0, 0, &lat, &err), FW_EINVAL);
    CHECK_EQ(fw_eval_latency(&X, 1, row_fail, NULL, 10, 0, &lat, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 0");
    fw_matrix_free(&X);
}

/* A gbdt model's column scorer (only the trees that split on the changed column walked, the others'
 * values cached) gives predict_block's scores bit for bit, and permutation importance through it
 * the same numbers, with features spread over threads too: binary and multiclass, rows with NaN
 * (in every block of rows: the NaN walk) and without (the short walk). */
static void col_scorer_case(uint32_t k, bool nan) {
    enum { NR = 1500, NF = 9 };
    fw_matrix X;
    CHECK_OK(fw_matrix_alloc(&X, NR, NF, 0));
    double *y = fw_malloc(NR * sizeof(double));
    fw_rng r;
    fw_rng_seed(&r, 11 + k);
    for (size_t i = 0; i < NR; i++) {
        float *x = X.dense + i * NF;
        for (size_t j = 0; j < NF; j++) x[j] = (float)fw_rng_normal(&r);
        if (nan && i % 17 == 3) x[i % NF] = NAN;
        double s = x[0] + 0.5 * x[1] * (x[2] > 0) + 0.3 * fw_rng_normal(&r);
        y[i] = k > 2 ? (s < -0.5 ? 0 : s < 0.5 ? 1 : 2) : s > 0;
    }
    fw_train_data td = {0};
    td.X = &X;
    td.y = y;
    td.task = k > 2 ? FW_TASK_MULTICLASS : FW_TASK_BINARY;
    td.n_classes = k;
    td.n_outputs = k > 2 ? k : 1;
    fw_fit_options o;
    fw_fit_options_init(&o);
    const char *params[] = {"n_estimators=12", "max_depth=4"};
    o.params = params;
    o.n_params = 2;
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    if (!m) goto done;
    size_t no = m->n_outputs;
    fw_col_scorer *cs = NULL;
    CHECK_OK(fw_model_col_scorer(m, &X, 2, &cs));
    if (!cs) goto done;
    /* column 4 shuffled: the scorer against predict_block */
    fw_matrix W;
    CHECK_OK(fw_matrix_alloc(&W, NR, NF, 0));
    memcpy(W.dense, X.dense, NR * NF * sizeof(float));
    for (size_t i = 0; i < NR; i++) W.dense[i * NF + 4] = X.dense[((i * 7919) % NR) * NF + 4];
    double *a = fw_malloc(NR * no * sizeof(double)), *b = fw_malloc(NR * no * sizeof(double));
    CHECK_OK(fw_model_predict_block(m, &W, 2, a));
    CHECK_OK(cs->predict(cs, &W, 4, b));
    CHECK_MSG(memcmp(a, b, NR * no * sizeof(double)) == 0, "column scorer differs from predict_block (k=%u nan=%d)", k, nan);
    CHECK_EQ(cs->predict(cs, &W, NF, b), FW_EINVAL);
    /* importance with and without the scorer: the same bits */
    fw_importance_options io;
    fw_importance_options_init(&io);
    io.n_repeats = 2;
    fw_importance i1, i2;
    CHECK_OK(fw_eval_permutation_importance(td.task, &X, y, no, NULL, fw_eval_predict_model, m, &io, &i1, &err));
    io.col_scorer = cs;
    CHECK_OK(fw_eval_permutation_importance(td.task, &X, y, no, NULL, fw_eval_predict_model, m, &io, &i2, &err));
    CHECK(memcmp(i1.mean, i2.mean, NF * sizeof(double)) == 0);
    CHECK(memcmp(i1.std, i2.std, NF * sizeof(double)) == 0);
    CHECK(i1.mean[0] > 0);
    /* features spread over threads: the same numbers */
    fw_importance i3;
    io.threads = 3;
    CHECK_OK(fw_eval_permutation_importance(td.task, &X, y, no, NULL, fw_eval_predict_model, m, &io, &i3, &err));
    CHECK(memcmp(i1.mean, i3.mean, NF * sizeof(double)) == 0);
    CHECK(memcmp(i1.std, i3.std, NF * sizeof(double)) == 0);
    CHECK(i1.base_score == i3.base_score);
    fw_importance_free(&i1);
    fw_importance_free(&i2);
    fw_importance_free(&i3);
    cs->free(cs);
    fw_free(a);
    fw_free(b);
    fw_matrix_free(&W);
done:
    fw_model_free(m);
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_gbdt_col_scorer(void) {
    col_scorer_case(2, true);
    col_scorer_case(3, true);
    col_scorer_case(2, false);
    col_scorer_case(3, false);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_feature0_most_important);
    TEST_RUN(test_lower_is_better_positive);
    TEST_RUN(test_importance_errors);
    TEST_RUN(test_latency);
    TEST_RUN(test_gbdt_col_scorer);
    return fw_test_report(argv[0]);
}
