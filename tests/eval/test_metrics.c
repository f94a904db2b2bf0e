/* test_metrics.c — checks every metric of src/eval against scikit-learn 1.2 on the checked-in
 * fixtures (tests/eval/fixtures/sklearn_metrics.json, made by make_fixtures.py): each value to
 * 1e-9, absolute for |value| <= 1 and relative above; NaN where sklearn has no value. Also the
 * documented edge cases: empty input, NaN predictions, bad labels, unknown metric names, one class,
 * unseen classes, metric directions and lookups. */
#include "core/alloc.h"
#include "eval/eval_int.h"
#include "eval/metrics.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#define FIXTURE "tests/eval/fixtures/sklearn_metrics.json"

static int near(double got, double want) {
    double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
    return fabs(got - want) <= tol;
}

static double *doubles(json_t *a) {
    size_t n = json_array_size(a);
    double *v = fw_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_number_value(json_array_get(a, i));
    return v;
}

static uint32_t *u32s(json_t *a) {
    size_t n = json_array_size(a);
    uint32_t *v = fw_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (uint32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static fw_task task_of(const char *s) {
    if (!strcmp(s, "binary")) return FW_TASK_BINARY;
    if (!strcmp(s, "multiclass")) return FW_TASK_MULTICLASS;
    if (!strcmp(s, "multilabel")) return FW_TASK_MULTILABEL;
    if (!strcmp(s, "regression")) return FW_TASK_REGRESSION;
    return FW_TASK_RANKING;
}

static void check_case(json_t *c, int *n_values) {
    const char *name = json_string_value(json_object_get(c, "name"));
    fw_task task = task_of(json_string_value(json_object_get(c, "task")));
    size_t n = (size_t)json_integer_value(json_object_get(c, "n"));
    size_t k = (size_t)json_integer_value(json_object_get(c, "n_outputs"));
    double *y = doubles(json_object_get(c, "y")), *p = doubles(json_object_get(c, "p"));
    json_t *jo = json_object_get(c, "options");
    fw_eval_options o;
    fw_eval_options_init(&o);
    json_t *v;
    if ((v = json_object_get(jo, "threshold"))) o.threshold = json_number_value(v);
    if ((v = json_object_get(jo, "calibration_bins"))) o.calibration_bins = (size_t)json_integer_value(v);
    if ((v = json_object_get(jo, "top_k"))) o.top_k = (size_t)json_integer_value(v);
    if ((v = json_object_get(jo, "k"))) o.k = (size_t)json_integer_value(v);
    if ((v = json_object_get(jo, "log_loss_eps"))) o.log_loss_eps = json_number_value(v);
    double *lt = NULL;
    if ((v = json_object_get(jo, "label_thresholds"))) o.label_thresholds = lt = doubles(v);
    uint32_t *q = NULL, *item = NULL;
    if ((v = json_object_get(c, "query"))) o.query = q = u32s(v);
    if ((v = json_object_get(c, "item"))) o.item = item = u32s(v);

    fw_metric_set s;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_eval_compute(task, y, p, n, k, &o, &s, &err);
    CHECK_MSG(st == FW_OK, "%s: compute failed: %s", name, err.msg);
    if (st == FW_OK) {
        CHECK_EQ(s.n_unseen, json_integer_value(json_object_get(c, "n_unseen")));
        const char *key;
        json_t *want;
        json_object_foreach(json_object_get(c, "expected"), key, want) {
            double got;
            bool have = fw_metric_set_get(&s, key, &got);
            CHECK_MSG(have, "%s: metric %s missing", name, key);
            if (!have) continue;
            (*n_values)++;
            if (json_is_null(want))
                CHECK_MSG(isnan(got), "%s: %s = %.17g, sklearn has no value (want NaN)", name, key, got);
            else
                CHECK_MSG(near(got, json_number_value(want)), "%s: %s = %.17g, sklearn %.17g", name,
                          key, got, json_number_value(want));
        }
        json_t *cm = json_object_get(c, "confusion");
        if (cm) {
            CHECK_MSG(s.confusion && json_array_size(cm) == s.n_classes * s.n_classes,
                      "%s: confusion shape", name);
            for (size_t i = 0; s.confusion && i < json_array_size(cm); i++)
                CHECK_MSG((long long)s.confusion[i] == json_integer_value(json_array_get(cm, i)),
                          "%s: confusion[%zu] = %llu", name, i, (unsigned long long)s.confusion[i]);
        }
        json_t *cal = json_object_get(c, "calibration");
        if (cal) {
            json_t *counts = json_object_get(cal, "counts");
            CHECK_EQ(s.n_calibration, json_array_size(counts));
            json_t *fp = json_object_get(cal, "frac_pos"), *mp = json_object_get(cal, "mean_pred");
            size_t nz = 0;
            for (size_t b = 0; b < s.n_calibration && b < json_array_size(counts); b++) {
                CHECK_MSG((long long)s.calibration[b].count == json_integer_value(json_array_get(counts, b)),
                          "%s: calibration bin %zu count %zu", name, b, s.calibration[b].count);
                if (s.calibration[b].count && fp) { /* sklearn lists the non-empty bins only */
                    CHECK(near(s.calibration[b].frac_pos, json_number_value(json_array_get(fp, nz))));
                    CHECK(near(s.calibration[b].mean_pred, json_number_value(json_array_get(mp, nz))));
                    nz++;
                }
            }
        }
        json_t *lf = json_object_get(c, "label_f1");
        if (lf) {
            CHECK_EQ(s.n_labels, json_array_size(lf));
            for (size_t j = 0; j < s.n_labels; j++)
                CHECK_MSG(near(s.label_f1[j], json_number_value(json_array_get(lf, j))),
                          "%s: label_f1[%zu] = %.17g", name, j, s.label_f1[j]);
        }
    }
    fw_metric_set_free(&s);
    fw_free(y);
    fw_free(p);
    fw_free(lt);
    fw_free(q);
    fw_free(item);
}

static void test_sklearn_fixtures(void) {
    json_error_t je;
    json_t *root = json_load_file(FIXTURE, 0, &je);
    CHECK_MSG(root != NULL, "cannot read %s: %s (line %d)", FIXTURE, je.text, je.line);
    if (!root) return;
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) >= 15);
    int n_values = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) check_case(c, &n_values);
    CHECK(n_values > 100);
    json_decref(root);
}

static void test_empty_and_nan(void) {
    fw_metric_set s;
    fw_err err;
    fw_err_clear(&err);
    double y[3] = {0, 1, 1}, p[3] = {0.2, NAN, 0.7};
    CHECK_EQ(fw_eval_compute(FW_TASK_BINARY, y, p, 0, 1, NULL, &s, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "empty");
    CHECK_EQ(fw_eval_compute(FW_TASK_BINARY, y, p, 3, 1, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
    CHECK_CONTAINS(err.msg, "NaN");
    CHECK_EQ(s.n_items, 0);
    double pm[6] = {0.5, 0.5, 0.1, INFINITY, 0.3, 0.7};
    CHECK_EQ(fw_eval_compute(FW_TASK_MULTICLASS, y, pm, 3, 2, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1, output 1");
    double yr[2] = {1, 2}, pr[2] = {1, NAN};
    CHECK_EQ(fw_eval_compute(FW_TASK_REGRESSION, yr, pr, 2, 1, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
}

static void test_bad_labels_and_probs(void) {
    fw_metric_set s;
    fw_err err;
    double y[3] = {0, 2, 1}, p[3] = {0.2, 0.3, 0.7};
    CHECK_EQ(fw_eval_compute(FW_TASK_BINARY, y, p, 3, 1, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "label at row 1");
    double y2[3] = {0, 1, 1}, p2[3] = {0.2, 1.3, 0.7};
    CHECK_EQ(fw_eval_compute(FW_TASK_BINARY, y2, p2, 3, 1, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
    double ym[2] = {0, 3}, pm[4] = {0.5, 0.5, 0.5, 0.5};
    CHECK_EQ(fw_eval_compute(FW_TASK_MULTICLASS, ym, pm, 2, 2, NULL, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 1");
    double rel[2] = {1, -1}, sc[2] = {0.1, 0.2};
    uint32_t q[2] = {0, 0};
    fw_eval_options o;
    fw_eval_options_init(&o);
    CHECK_EQ(fw_eval_compute(FW_TASK_RANKING, rel, sc, 2, 1, &o, &s, &err), FW_EINVAL); /* no query */
    o.query = q;
    CHECK_EQ(fw_eval_compute(FW_TASK_RANKING, rel, sc, 2, 1, &o, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "relevance at row 1");
}

static void test_unknown_metric_lists_known(void) {
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_eval_check_metric(FW_TASK_BINARY, "auc", &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown metric 'auc'");
    CHECK_CONTAINS(err.msg, "roc_auc");
    CHECK_CONTAINS(err.msg, "average_precision");
    CHECK_EQ(fw_eval_check_metric(FW_TASK_RANKING, "ndcg@0", &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "ndcg@K");
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "ndcg@7", &err));
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "ndcg", &err));
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "map@3", &err)); /* MAP@k (issue 13) */
    CHECK_EQ(fw_eval_check_metric(FW_TASK_RANKING, "mapp@3", &err), FW_EINVAL);
    CHECK_EQ(fw_eval_check_metric(FW_TASK_RANKING, "coverage", &err), FW_EINVAL); /* needs a cutoff */
    CHECK_EQ(fw_eval_check_metric(FW_TASK_REGRESSION, "roc_auc", &err), FW_EINVAL);
    fw_metric_set s;
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.primary = "rsme";
    double y[2] = {1, 2}, p[2] = {1, 2};
    CHECK_EQ(fw_eval_compute(FW_TASK_REGRESSION, y, p, 2, 1, &o, &s, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "rmse");
}

static void test_one_class_roc_is_nan_with_warning(void) {
    double y[4] = {1, 1, 1, 1}, p[4] = {0.9, 0.2, 0.6, 0.6};
    fw_metric_set s;
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, 4, 1, NULL, &s, &err));
    CHECK(s.warnings & FW_EVAL_WARN_ONE_CLASS);
    CHECK_CONTAINS(s.warning, "one class");
    CHECK(isnan(fw_metric_set_primary(&s))); /* roc_auc is the default primary */
    double acc;
    CHECK(fw_metric_set_get(&s, "accuracy", &acc));
    CHECK_NEAR(acc, 0.75, 1e-12);
    CHECK_EQ(s.roc.n, 0);
    fw_metric_set_free(&s);
}

static void test_unseen_counted_wrong(void) {
    /* 4 rows, one unseen (-1) whose prediction would otherwise be "right" for class 0 */
    double y[4] = {0, 1, -1, 1}, p[8] = {0.9, 0.1, 0.2, 0.8, 0.9, 0.1, 0.3, 0.7};
    fw_metric_set s;
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_MULTICLASS, y, p, 4, 2, NULL, &s, &err));
    CHECK_EQ(s.n_unseen, 1);
    CHECK(s.warnings & FW_EVAL_WARN_UNSEEN);
    CHECK_CONTAINS(s.warning, "1 row(s)");
    double acc = 0;
    CHECK(fw_metric_set_get(&s, "accuracy", &acc));
    CHECK_NEAR(acc, 0.75, 1e-12);
    CHECK_EQ(s.confusion[0] + s.confusion[1] + s.confusion[2] + s.confusion[3], 3);
    fw_metric_set_free(&s);
}

static void test_directions_and_set(void) {
    CHECK(!fw_metric_higher_is_better("log_loss"));
    CHECK(!fw_metric_higher_is_better("rmse"));
    CHECK(!fw_metric_higher_is_better("hamming_loss"));
    CHECK(!fw_metric_higher_is_better("brier_score_loss"));
    CHECK(fw_metric_higher_is_better("roc_auc"));
    CHECK(fw_metric_higher_is_better("ndcg@10"));
    CHECK(fw_metric_higher_is_better("r2"));
    CHECK_STR(fw_eval_default_metric(FW_TASK_RANKING), "ndcg@10");
    fw_metric_set s;
    fw_metric_set_init(&s);
    CHECK_OK(fw_metric_set_put(&s, "a", 1));
    CHECK_OK(fw_metric_set_put(&s, "b", 2));
    CHECK_OK(fw_metric_set_put(&s, "a", 3));
    CHECK_EQ(s.n_items, 2);
    CHECK_STR(s.items[0].name, "a");
    double v = 0;
    CHECK(fw_metric_set_get(&s, "a", &v) && v == 3);
    CHECK(!fw_metric_set_get(&s, "c", &v));
    fw_metric_set_free(&s);
}

static void test_ranking_primary_k_and_curves(void) {
    double rel[6] = {1, 0, 2, 0, 1, 0}, sc[6] = {0.9, 0.8, 0.1, 0.5, 0.4, 0.3};
    uint32_t q[6] = {1, 1, 1, 2, 2, 2};
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.query = q;
    o.primary = "ndcg@2";
    fw_metric_set s;
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, rel, sc, 6, 1, &o, &s, &err));
    double v;
    CHECK(fw_metric_set_get(&s, "ndcg@10", &v));
    CHECK(fw_metric_set_get(&s, "ndcg@2", &v));
    CHECK(fw_metric_set_get(&s, "precision@2", &v));
    CHECK_NEAR(v, 0.5, 1e-12); /* q1: 1 of its top 2 relevant, q2: 1 of 2 */
    CHECK_STR(s.primary, "ndcg@2");
    CHECK(fw_metric_set_get(&s, "ndcg@2", &v));
    CHECK(fw_metric_set_primary(&s) == v);
    /* q1 ideal order (2,1,0): dcg@2 = 1 + 0/log2(3) = 1, ideal = 2 + 1/log2(3) */
    /* q2: dcg@2 = 0 + 1/log2(3), ideal = 1 */
    CHECK_NEAR(v, (1 / (2 + 1 / log2(3.0)) + 1 / log2(3.0)) / 2, 1e-12);
    fw_metric_set_free(&s);
    /* requested extra names add their cutoffs; unknown ones are rejected */
    const char *extra[3] = {"recall@1", "hit_rate@3", "map"};
    o.metrics = extra;
    o.n_metrics = 3;
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, rel, sc, 6, 1, &o, &s, &err));
    CHECK(fw_metric_set_get(&s, "recall@1", &v));
    CHECK_NEAR(v, 0.25, 1e-12); /* q1: 1 of its 2 relevant at the top, q2: its top row is irrelevant */
    CHECK(fw_metric_set_get(&s, "hit_rate@3", &v));
    CHECK(fw_metric_set_get(&s, "ndcg@3", &v));
    fw_metric_set_free(&s);
    extra[1] = "hitrate@3";
    CHECK_EQ(fw_eval_compute(FW_TASK_RANKING, rel, sc, 6, 1, &o, &s, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "hitrate@3");

    /* ROC/PR curves are downsampled to max_curve_points with ends kept */
    enum { N = 1000 };
    double *y = fw_malloc(N * sizeof *y), *p = fw_malloc(N * sizeof *p);
    for (int i = 0; i < N; i++) {
        y[i] = (i * 7) % 3 == 0;
        p[i] = (double)((i * 37) % N) / N;
    }
    fw_eval_options_init(&o);
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, N, 1, &o, &s, &err));
    CHECK_EQ(s.roc.n, 200);
    CHECK_EQ(s.pr.n, 200);
    CHECK(s.roc.x[0] == 0 && s.roc.y[0] == 0);
    CHECK(s.roc.x[199] == 1 && s.roc.y[199] == 1);
    CHECK(s.pr.x[199] == 0 && s.pr.y[199] == 1);
    CHECK(s.pr.x[0] == 1);
    for (size_t i = 1; i < s.roc.n; i++) CHECK(s.roc.x[i] >= s.roc.x[i - 1]);
    fw_metric_set_free(&s);
    fw_free(y);
    fw_free(p);
}

static void test_calibration_by_hand(void) {
    /* 2 bins, edge 0.5 belongs to the lower bin: bin 0 = {.05 .15 .5 .5} (mean .3, 2 of 4
     * positive), bin 1 = {.95} (1 of 1). ECE = 4/5 * |.3 - .5| + 1/5 * |.95 - 1| = .17 */
    double y[5] = {0, 1, 0, 1, 1}, p[5] = {0.05, 0.15, 0.5, 0.5, 0.95};
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.calibration_bins = 2;
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, 5, 1, &o, &s, NULL));
    CHECK_EQ(s.n_calibration, 2);
    CHECK_EQ(s.calibration[0].count, 4);
    CHECK_EQ(s.calibration[1].count, 1);
    CHECK_NEAR(s.calibration[0].mean_pred, 0.3, 1e-12);
    CHECK_NEAR(s.calibration[0].frac_pos, 0.5, 1e-12);
    CHECK_NEAR(s.calibration[1].lo, 0.5, 0);
    CHECK_NEAR(s.calibration[1].hi, 1.0, 0);
    double ece = 0;
    CHECK(fw_metric_set_get(&s, "expected_calibration_error", &ece));
    CHECK_NEAR(ece, 0.17, 1e-12);
    fw_metric_set_free(&s);
    /* a perfectly calibrated table has ECE 0; empty bins are NaN, not counted */
    double y2[4] = {0, 0, 1, 1}, p2[4] = {0, 0, 1, 1};
    o.calibration_bins = 10;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y2, p2, 4, 1, &o, &s, NULL));
    CHECK(fw_metric_set_get(&s, "expected_calibration_error", &ece));
    CHECK_NEAR(ece, 0, 1e-15);
    CHECK(isnan(s.calibration[5].mean_pred));
    fw_metric_set_free(&s);
}

static void test_argsort_order(void) {
    /* descending, ties by index, negatives and signed zeros ordered as doubles compare */
    double k[10] = {0.5, -1e300, 0.0, 3.25, -0.0, 0.5, -2.5, 1e-300, -1e-300, 3.25};
    uint32_t *o = fw__argsort_desc(k, 10);
    uint32_t want[10] = {3, 9, 0, 5, 7, 2, 4, 8, 6, 1};
    CHECK(o != NULL);
    for (int i = 0; o && i < 10; i++) CHECK_MSG(o[i] == want[i], "position %d: %u, want %u", i, o[i], want[i]);
    fw_free(o);
}

static void test_ranking_shift_invariant(void) {
    /* scores are model margins: shifting them below zero must not change any ranking metric */
    enum { N = 60 };
    double rel[N], s1[N], s2[N];
    uint32_t q[N], item[N];
    for (int i = 0; i < N; i++) {
        rel[i] = (i * 7) % 4 == 0 ? (double)(i % 3 + 1) : 0;
        s1[i] = (double)((i * 13) % 17) / 4;
        s2[i] = s1[i] - 10;
        q[i] = (uint32_t)(i % 6);
        item[i] = (uint32_t)(i % 11);
    }
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.query = q;
    o.item = item;
    o.k = 3;
    fw_metric_set a, b;
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, rel, s1, N, 1, &o, &a, NULL));
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, rel, s2, N, 1, &o, &b, NULL));
    CHECK_EQ(a.n_items, b.n_items);
    for (size_t i = 0; i < a.n_items && i < b.n_items; i++)
        CHECK_MSG(a.items[i].value == b.items[i].value, "%s: %.17g vs %.17g", a.items[i].name,
                  a.items[i].value, b.items[i].value);
    fw_metric_set_free(&a);
    fw_metric_set_free(&b);
}

static void test_oom_paths(void) {
    double y[8] = {0, 1, 1, 0, 1, 0, 0, 1}, p[8] = {0.1, 0.9, 0.4, 0.3, 0.8, 0.7, 0.2, 0.6};
    size_t before = fw_bytes_in_use();
    for (long k = 1; k < 40; k++) {
        fw_metric_set s;
        fw_err err;
        fw_alloc_fail_after(k);
        fw_status st = fw_eval_compute(FW_TASK_BINARY, y, p, 8, 1, NULL, &s, &err);
        fw_alloc_fail_after(0);
        CHECK(st == FW_OK || st == FW_ENOMEM);
        fw_metric_set_free(&s);
    }
    CHECK_EQ(fw_bytes_in_use(), before);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_sklearn_fixtures);
    TEST_RUN(test_empty_and_nan);
    TEST_RUN(test_bad_labels_and_probs);
    TEST_RUN(test_unknown_metric_lists_known);
    TEST_RUN(test_one_class_roc_is_nan_with_warning);
    TEST_RUN(test_unseen_counted_wrong);
    TEST_RUN(test_directions_and_set);
    TEST_RUN(test_ranking_primary_k_and_curves);
    TEST_RUN(test_calibration_by_hand);
    TEST_RUN(test_argsort_order);
    TEST_RUN(test_ranking_shift_invariant);
    TEST_RUN(test_oom_paths);
    return fw_test_report(argv[0]);
}
