/* test_weighted.c — tests for src/eval/weighted: every weighted metric against a hand computation
 * (scikit-learn's sample_weight semantics), weights of 1 agreeing with the unweighted metrics, and
 * bad weights refused. */
#include "eval/weighted.h"
#include "test.h"

#include <math.h>

static double get(const fw_metric_set *s, const char *name) {
    double v = NAN;
    CHECK_MSG(fw_metric_set_get(s, name, &v), "no %s", name);
    return v;
}

/* y = 1 0 1 0, p = .9 .6 .4 .2, w = 1 2 3 4, threshold 0.5: predicted 1 1 0 0.
 *   accuracy: rows 0 and 3 right, (1 + 4) / 10 = 0.5
 *   tp = 1 (row 0), fp = 2 (row 1), fn = 3 (row 2): precision 1/3, recall 1/4, f1 2/(2+2+3) = 2/7
 *   roc_auc: (pos, neg) pairs ordered right, weighted: (0,1) 1*2 + (0,3) 1*4 + (2,3) 3*4 = 18 of
 *            (1+3)(2+4) = 24 → 0.75
 *   brier: (1*.01 + 2*.36 + 3*.36 + 4*.04) / 10 = 0.197
 *   log_loss: -(ln .9 + 2 ln .4 + 3 ln .4 + 4 ln .8) / 10 = 0.557938842... */
static void test_binary(void) {
    double y[4] = {1, 0, 1, 0}, p[4] = {0.9, 0.6, 0.4, 0.2}, w[4] = {1, 2, 3, 4};
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_eval_weighted(FW_TASK_BINARY, y, p, w, 4, 1, 0.5, &s, &err));
    CHECK_NEAR(get(&s, "accuracy"), 0.5, 1e-12);
    CHECK_NEAR(get(&s, "precision"), 1.0 / 3, 1e-12);
    CHECK_NEAR(get(&s, "recall"), 0.25, 1e-12);
    CHECK_NEAR(get(&s, "f1"), 2.0 / 7, 1e-12);
    CHECK_NEAR(get(&s, "roc_auc"), 0.75, 1e-12);
    CHECK_NEAR(get(&s, "brier_score_loss"), 0.197, 1e-12);
    CHECK_NEAR(get(&s, "log_loss"), -(log(0.9) + 5 * log(0.4) + 4 * log(0.8)) / 10, 1e-12);
    fw_metric_set_free(&s);
    /* a tie between a positive and a negative counts half: p = .5 .5, w = 2 3 → 0.5 */
    double yt[2] = {1, 0}, pt[2] = {0.5, 0.5}, wt[2] = {2, 3};
    fw_metric_set_init(&s);
    CHECK_OK(fw_eval_weighted(FW_TASK_BINARY, yt, pt, wt, 2, 1, 0.5, &s, &err));
    CHECK_NEAR(get(&s, "roc_auc"), 0.5, 1e-12);
    fw_metric_set_free(&s);
}

/* Weights of 1 give the unweighted figures (fw_eval_compute). */
static void test_unit_weights_agree(void) {
    double y[8] = {1, 1, 0, 1, 0, 0, 1, 0}, p[8] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2}, w[8];
    for (int i = 0; i < 8; i++) w[i] = 1;
    fw_metric_set a, b;
    fw_metric_set_init(&a);
    fw_metric_set_init(&b);
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_eval_weighted(FW_TASK_BINARY, y, p, w, 8, 1, 0.5, &a, &err));
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, 8, 1, NULL, &b, &err));
    static const char *const names[] = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier_score_loss"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) CHECK_NEAR(get(&a, names[i]), get(&b, names[i]), 1e-12);
    fw_metric_set_free(&a);
    fw_metric_set_free(&b);
}

/* Three classes, argmax predictions 0 1 1 2, y = 0 1 2 2, w = 1 2 3 4:
 *   accuracy (1 + 2 + 4) / 10 = 0.7
 *   class 0: tp 1 → f1 1; class 1: tp 2, fp 3 → 4/7; class 2: tp 4, fn 3 → 8/11; macro = mean
 *   log_loss: -(1 ln .8 + 2 ln .7 + 3 ln .2 + 4 ln .6) / 10 */
static void test_multiclass(void) {
    double y[4] = {0, 1, 2, 2};
    double p[12] = {0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.7, 0.2, 0.2, 0.2, 0.6};
    double w[4] = {1, 2, 3, 4};
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_eval_weighted(FW_TASK_MULTICLASS, y, p, w, 4, 3, 0.5, &s, &err));
    CHECK_NEAR(get(&s, "accuracy"), 0.7, 1e-12);
    CHECK_NEAR(get(&s, "f1_macro"), (1 + 4.0 / 7 + 8.0 / 11) / 3, 1e-12);
    CHECK_NEAR(get(&s, "log_loss"), -(log(0.8) + 2 * log(0.7) + 3 * log(0.2) + 4 * log(0.6)) / 10, 1e-12);
    fw_metric_set_free(&s);
}

/* y = 1 2 3, p = 1.5 2 2, w = 2 1 1: errors -.5 0 1.
 *   mse (2*.25 + 0 + 1) / 4 = 0.375, rmse sqrt(.375), mae (2*.5 + 1) / 4 = 0.5
 *   weighted mean 7/4; total 2*.5625 + .0625 + 1.5625 = 2.75; r2 = 1 - 1.5/2.75 */
static void test_regression(void) {
    double y[3] = {1, 2, 3}, p[3] = {1.5, 2, 2}, w[3] = {2, 1, 1};
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_eval_weighted(FW_TASK_REGRESSION, y, p, w, 3, 1, 0.5, &s, &err));
    CHECK_NEAR(get(&s, "mse"), 0.375, 1e-12);
    CHECK_NEAR(get(&s, "rmse"), sqrt(0.375), 1e-12);
    CHECK_NEAR(get(&s, "mae"), 0.5, 1e-12);
    CHECK_NEAR(get(&s, "r2"), 1 - 1.5 / 2.75, 1e-12);
    fw_metric_set_free(&s);
}

static void test_bad_weights(void) {
    double y[2] = {1, 0}, p[2] = {0.6, 0.4}, neg[2] = {1, -1}, zero[2] = {0, 0}, nan_w[2] = {1, NAN};
    fw_metric_set s;
    fw_err err;
    fw_metric_set_init(&s);
    CHECK_EQ(fw_eval_weighted(FW_TASK_BINARY, y, p, neg, 2, 1, 0.5, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
    CHECK_EQ(fw_eval_weighted(FW_TASK_BINARY, y, p, zero, 2, 1, 0.5, &s, &err), FW_EDATA);
    CHECK_EQ(fw_eval_weighted(FW_TASK_BINARY, y, p, nan_w, 2, 1, 0.5, &s, &err), FW_EDATA);
    fw_metric_set_free(&s);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_binary);
    TEST_RUN(test_unit_weights_agree);
    TEST_RUN(test_multiclass);
    TEST_RUN(test_regression);
    TEST_RUN(test_bad_weights);
    return fw_test_report(argv[0]);
}
