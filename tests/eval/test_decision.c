/* test_decision.c — tests for src/eval threshold rules (each hand-checked on one small table) and
 * the model-versus-baseline improvement (sign for higher- and lower-is-better metrics). */
#include "eval/compare.h"
#include "eval/threshold.h"
#include "test.h"

/* y and p sorted by p descending; pos = neg = 4. (tp, fp) at each threshold:
 * .9 (1,0) .8 (2,0) .7 (2,1) .6 (3,1) .5 (3,2) .4 (3,3) .3 (4,3) .2 (4,4)
 * F1: .4 .667 .571 .75 .667 .6 .727 .667 */
static const double Y[8] = {1, 1, 0, 1, 0, 0, 1, 0};
static const double P[8] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2};

static fw_threshold_choice choose(fw_threshold_rule rule, double a, double b) {
    fw_threshold_options o;
    fw_threshold_options_init(&o);
    o.rule = rule;
    o.fixed = a;
    o.target_recall = a;
    o.target_precision = a;
    o.cost_fp = a;
    o.cost_fn = b;
    fw_threshold_choice ch;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_eval_threshold(Y, P, 8, &o, &ch, &err);
    CHECK_MSG(st == FW_OK, "threshold failed: %s", err.msg);
    return ch;
}

static void test_max_f1(void) {
    fw_threshold_choice ch = choose(FW_THRESHOLD_MAX_F1, 0, 0);
    CHECK(ch.threshold == 0.6);
    CHECK_NEAR(ch.f1, 0.75, 1e-12);
    CHECK_EQ(ch.tp, 3);
    CHECK_EQ(ch.fp, 1);
    CHECK_EQ(ch.tn, 3);
    CHECK_EQ(ch.fn, 1);
    CHECK_NEAR(ch.accuracy, 0.75, 1e-12);
    /* ties: two thresholds with equal F1 → the higher one */
    double y[4] = {1, 0, 1, 0}, p[4] = {0.8, 0.6, 0.4, 0.2};
    /* .8: F1 2/3; .6: 2/4; .4: 4/5; .2: 4/6 → .4 */
    fw_threshold_choice c2;
    CHECK_OK(fw_eval_threshold(y, p, 4, NULL, &c2, NULL));
    CHECK(c2.threshold == 0.4);
    double y3[2] = {1, 1}, p3[2] = {0.7, 0.7};
    CHECK_OK(fw_eval_threshold(y3, p3, 2, NULL, &c2, NULL));
    CHECK(c2.threshold == 0.7);
}

static void test_target_recall(void) {
    fw_threshold_choice ch = choose(FW_THRESHOLD_TARGET_RECALL, 0.7, 0);
    CHECK(ch.threshold == 0.6);
    CHECK(ch.reached);
    CHECK_NEAR(ch.recall, 0.75, 1e-12);
    ch = choose(FW_THRESHOLD_TARGET_RECALL, 1.0, 0);
    CHECK(ch.threshold == 0.3);
    ch = choose(FW_THRESHOLD_TARGET_RECALL, 0.25, 0);
    CHECK(ch.threshold == 0.9);
}

static void test_target_precision(void) {
    fw_threshold_choice ch = choose(FW_THRESHOLD_TARGET_PRECISION, 0.7, 0);
    CHECK(ch.threshold == 0.6); /* lowest threshold with precision >= .7 */
    CHECK(ch.reached);
    ch = choose(FW_THRESHOLD_TARGET_PRECISION, 0.55, 0);
    CHECK(ch.threshold == 0.3); /* precision 4/7 */
    ch = choose(FW_THRESHOLD_TARGET_PRECISION, 1.0, 0);
    CHECK(ch.threshold == 0.8);
    /* unreachable: best effort = maximal precision, reached = false */
    double y[2] = {0, 1}, p[2] = {0.9, 0.1};
    fw_threshold_options o;
    fw_threshold_options_init(&o);
    o.rule = FW_THRESHOLD_TARGET_PRECISION;
    o.target_precision = 0.9;
    CHECK_OK(fw_eval_threshold(y, p, 2, &o, &ch, NULL));
    CHECK(!ch.reached);
    CHECK(ch.threshold == 0.1);
    CHECK_NEAR(ch.precision, 0.5, 1e-12);
}

static void test_min_cost(void) {
    /* cost = fp + 5 fn: none 20, .9 15, .8 10, .7 11, .6 6, .5 7, .4 8, .3 3, .2 4 */
    fw_threshold_choice ch = choose(FW_THRESHOLD_MIN_COST, 1, 5);
    CHECK(ch.threshold == 0.3);
    CHECK_NEAR(ch.cost, 3, 1e-12);
    /* cost = 10 fp + fn: none 4, .9 3, .8 2, .7 12 ... */
    ch = choose(FW_THRESHOLD_MIN_COST, 10, 1);
    CHECK(ch.threshold == 0.8);
    CHECK_NEAR(ch.cost, 2, 1e-12);
    /* never predicting positive is cheapest: threshold above every score */
    double y[2] = {0, 1}, p[2] = {0.9, 0.1};
    fw_threshold_options o;
    fw_threshold_options_init(&o);
    o.rule = FW_THRESHOLD_MIN_COST;
    o.cost_fp = 100;
    o.cost_fn = 1;
    CHECK_OK(fw_eval_threshold(y, p, 2, &o, &ch, NULL));
    CHECK(ch.threshold > 0.9);
    CHECK(!fw_decide(0.9, ch.threshold));
    CHECK_EQ(ch.tp + ch.fp, 0);
    CHECK_NEAR(ch.cost, 1, 1e-12);
}

static void test_fixed_and_decide(void) {
    fw_threshold_choice ch = choose(FW_THRESHOLD_FIXED, 0.55, 0);
    CHECK(ch.threshold == 0.55);
    CHECK_EQ(ch.tp, 3);
    CHECK_EQ(ch.fp, 1);
    ch = choose(FW_THRESHOLD_FIXED, 0.6, 0); /* p >= t: 0.6 itself is positive */
    CHECK_EQ(ch.tp, 3);
    CHECK_EQ(ch.fp, 1);
    ch = choose(FW_THRESHOLD_FIXED, 0.95, 0);
    CHECK_EQ(ch.tp + ch.fp, 0);
    CHECK(fw_decide(0.5, 0.5));
    CHECK(!fw_decide(0.49, 0.5));
}

static void test_threshold_errors_and_project(void) {
    fw_threshold_options o;
    fw_threshold_options_init(&o);
    fw_threshold_choice ch;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_eval_threshold(Y, P, 0, &o, &ch, &err), FW_EINVAL);
    double p[3] = {0.1, NAN, 0.3};
    CHECK_EQ(fw_eval_threshold(Y, p, 3, &o, &ch, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
    o.rule = FW_THRESHOLD_TARGET_RECALL;
    o.target_recall = 1.5;
    CHECK_EQ(fw_eval_threshold(Y, P, 8, &o, &ch, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "target_recall");
    o.rule = FW_THRESHOLD_MIN_COST;
    o.cost_fp = o.cost_fn = 0;
    CHECK_EQ(fw_eval_threshold(Y, P, 8, &o, &ch, &err), FW_EINVAL);

    fw_constraints c;
    memset(&c, 0, sizeof c);
    fw_threshold_options_from_project(&c, &o);
    CHECK_EQ(o.rule, FW_THRESHOLD_MAX_F1);
    c.cost_fp = 1;
    c.cost_fn = 5;
    fw_threshold_options_from_project(&c, &o);
    CHECK_EQ(o.rule, FW_THRESHOLD_MIN_COST);
    CHECK(o.cost_fn == 5);
    c.threshold_rule = FW_THRESHOLD_FIXED;
    c.threshold = 0.3;
    fw_threshold_options_from_project(&c, &o);
    CHECK_EQ(o.rule, FW_THRESHOLD_FIXED);
    CHECK(o.fixed == 0.3);
    memset(&c, 0, sizeof c);
    c.target_recall = 0.9;
    fw_threshold_options_from_project(&c, &o);
    CHECK_EQ(o.rule, FW_THRESHOLD_TARGET_RECALL);
    CHECK_STR(fw_threshold_rule_name(FW_THRESHOLD_TARGET_PRECISION), "target_precision");
}

static void test_improvement_sign(void) {
    fw_improvement im;
    fw_eval_improvement("log_loss", 0.3, 0.5, 0.1, &im); /* lower is better: 0.2 better */
    CHECK_NEAR(im.improvement, 0.2, 1e-12);
    CHECK_NEAR(im.relative, 0.4, 1e-12);
    CHECK(im.meets);
    fw_eval_improvement("rmse", 2.0, 1.5, 0, &im); /* worse */
    CHECK_NEAR(im.improvement, -0.5, 1e-12);
    CHECK(!im.meets);
    fw_eval_improvement("roc_auc", 0.8, 0.7, 0.15, &im);
    CHECK_NEAR(im.improvement, 0.1, 1e-12);
    CHECK(!im.meets);
    fw_eval_improvement("roc_auc", 0.8, 0.7, 0.05, &im);
    CHECK(im.meets);
    fw_eval_improvement("roc_auc", NAN, 0.5, 0, &im);
    CHECK(!im.meets);
    fw_eval_improvement("r2", 0.5, 0, 0, &im);
    CHECK(isnan(im.relative));

    fw_metric_set a, b;
    fw_metric_set_init(&a);
    fw_metric_set_init(&b);
    strcpy(a.primary, "mae");
    fw_metric_set_put(&a, "mae", 1.0);
    fw_metric_set_put(&b, "mae", 3.0);
    fw_eval_improvement_sets(&a, &b, 1.5, &im);
    CHECK_STR(im.metric, "mae");
    CHECK_NEAR(im.improvement, 2.0, 1e-12);
    CHECK(im.meets);
    fw_metric_set_free(&a);
    fw_metric_set_free(&b);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_max_f1);
    TEST_RUN(test_target_recall);
    TEST_RUN(test_target_precision);
    TEST_RUN(test_min_cost);
    TEST_RUN(test_fixed_and_decide);
    TEST_RUN(test_threshold_errors_and_project);
    TEST_RUN(test_improvement_sign);
    return fw_test_report(argv[0]);
}
