/* test_ranking.c — the ranking metrics against tests/eval/fixtures/ranking_metrics.json (made by
 * make_ranking_fixtures.py: sklearn's ndcg_score and average_precision_score, and the documented
 * definitions of precision@k, recall@k, hit_rate@k, map@k, mrr@k and mrr computed by hand): every
 * value to 1e-12 (null = NaN), with the cutoffs asked for through options.metrics; the metric
 * names map@K, mrr and mrr@K are known, an unknown one is refused naming the known names. */
#include "eval/metrics.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

#define FIXTURE "tests/eval/fixtures/ranking_metrics.json"

static void check_case(json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *jy = json_object_get(c, "y"), *jp = json_object_get(c, "p"), *jq = json_object_get(c, "q");
    json_t *jk = json_object_get(c, "k"), *exp = json_object_get(c, "expected");
    size_t n = json_array_size(jy);
    double *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p);
    uint32_t *q = malloc(n * sizeof *q);
    for (size_t i = 0; i < n; i++) {
        y[i] = json_number_value(json_array_get(jy, i));
        p[i] = json_number_value(json_array_get(jp, i));
        q[i] = (uint32_t)json_integer_value(json_array_get(jq, i));
    }
    /* every cutoff through the metrics list: ndcg@k names ask for the k */
    char names[8][FW_METRIC_NAME_MAX];
    const char *list[8];
    size_t nk = json_array_size(jk);
    for (size_t i = 0; i < nk && i < 8; i++) {
        snprintf(names[i], sizeof names[i], "map@%lld", (long long)json_integer_value(json_array_get(jk, i)));
        list[i] = names[i];
    }
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.query = q;
    o.primary = "mrr";
    o.metrics = list;
    o.n_metrics = nk;
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, y, p, n, 1, &o, &s, &err));
    const char *key;
    json_t *v;
    size_t checked = 0;
    json_object_foreach(exp, key, v) {
        double got = NAN;
        CHECK_MSG(fw_metric_set_get(&s, key, &got), "%s: metric %s not computed", name, key);
        if (json_is_null(v)) CHECK_MSG(isnan(got), "%s: %s = %g, expected NaN", name, key, got);
        else CHECK_MSG(fabs(got - json_number_value(v)) <= 1e-12, "%s: %s = %.17g, expected %.17g", name, key,
                       got, json_number_value(v));
        checked++;
    }
    CHECK(checked >= 9);
    fw_metric_set_free(&s);
    free(y);
    free(p);
    free(q);
}

static void test_fixtures(void) {
    json_error_t je;
    json_t *root = json_load_file(FIXTURE, 0, &je);
    CHECK_MSG(root != NULL, "%s: %s", FIXTURE, je.text);
    if (!root) return;
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) >= 3);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) check_case(c);
    json_decref(root);
}

static void test_names(void) {
    fw_err err;
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "map@5", &err));
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "mrr", &err));
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "mrr@3", &err));
    CHECK_OK(fw_eval_check_metric(FW_TASK_RANKING, "precision@1", &err));
    CHECK_EQ(fw_eval_check_metric(FW_TASK_RANKING, "mrr@0", &err), FW_EINVAL);
    CHECK_EQ(fw_eval_check_metric(FW_TASK_RANKING, "ndgc@10", &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "unknown metric 'ndgc@10'");
    CHECK_CONTAINS(err.msg, "map@K");
    CHECK_CONTAINS(err.msg, "mrr");
    CHECK(fw_metric_higher_is_better("mrr@10"));
    CHECK(fw_metric_higher_is_better("map@10"));
}

int main(void) {
    TEST_RUN(test_fixtures);
    TEST_RUN(test_names);
    return fw_test_report("test_ranking");
}
