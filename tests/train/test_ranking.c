/* test_ranking.c — a ranking run through fw_train_run (examples/ranking): every query on one side
 * of the split only, every cross-validation fold holding whole queries, the baseline the best
 * single feature's order, LambdaMART and the pairwise linear model chosen on NDCG@10 over queries;
 * and for every task the project's metrics: list choosing the report's columns (a listed metric
 * shown, an unlisted default one not) with a clear error naming an unknown metric. */
#include "train/report_build.h"
#include "train/train.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static bool disjoint(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i] == b[j]) return false;
    return true;
}

static void test_queries_stay_together(void) {
    fw_project p;
    fw_err err;
    CHECK_OK(fw_project_load("examples/ranking/flywheel.yaml", &p, &err));
    fw_train_options o;
    fw_train_options_init(&o);
    o.families = "linear,gbdt";
    o.threads = 1;
    o.importance = false;
    fw_train_result r;
    fw_status st = fw_train_run(&p, &o, &r, &err);
    CHECK_MSG(st == FW_OK, "train: %s", err.msg);
    if (st) {
        fw_project_free(&p);
        return;
    }
    CHECK(r.q_train && r.q_valid && r.q_test);
    CHECK(r.split.n_valid > 0);
    CHECK(disjoint(r.q_train, r.split.n_train, r.q_test, r.n_test));
    CHECK(disjoint(r.q_train, r.split.n_train, r.q_valid, r.split.n_valid));
    CHECK(disjoint(r.q_valid, r.split.n_valid, r.q_test, r.n_test));
    CHECK(r.cv_folds > 1); /* small data: selection by folds of whole queries */
    for (uint32_t f = 0; f < r.cv_folds; f++) {
        CHECK(r.cv[f].q_fit && r.cv[f].q_score);
        if (r.cv[f].q_fit && r.cv[f].q_score)
            CHECK_MSG(disjoint(r.cv[f].q_fit, r.cv[f].X_fit.n_rows, r.cv[f].q_score, r.cv[f].X_score.n_rows),
                      "fold %u splits a query", f);
    }
    CHECK_CONTAINS(r.cands[0].params_json, "\"kind\":\"feature\"");
    for (size_t i = 1; i < r.n_cands; i++) {
        CHECK(!r.cands[i].failed);
        CHECK(r.cands[i].valid_score > 0.5 && r.cands[i].valid_score <= 1); /* NDCG@10 */
        double v = NAN, b = NAN;
        CHECK(fw_metric_set_get(&r.cands[i].metrics, "ndcg@10", &v));
        CHECK(fw_metric_set_get(&r.cands[0].metrics, "ndcg@10", &b));
        CHECK_MSG(v > b, "%s %g vs baseline %g", r.cands[i].name, v, b);
        CHECK(fw_metric_set_get(&r.cands[i].metrics, "ndcg@5", NULL)); /* from the metrics: list */
        CHECK(fw_metric_set_get(&r.cands[i].metrics, "map@10", NULL));
        CHECK(fw_metric_set_get(&r.cands[i].metrics, "mrr", NULL));
    }
    fw_train_report tr;
    CHECK_OK(fw_train_report_build(&r, &tr));
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_report_text(&tr.report, &b));
    fw_buf_put_u8(&b, 0);
    const char *t = (const char *)b.data;
    CHECK_CONTAINS(t, "ndcg@10  vs baseline  ndcg@5  map@10  precision@5  recall@10     mrr  hit_rate@1");
    fw_buf_free(&b);
    fw_train_report_free(&tr);
    fw_train_result_free(&r);
}

static void test_metrics_list_chooses_columns(void) {
    /* boston lists metrics: [mae, r2]: those columns, not the default mape */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/boston && \"$FW\" train flywheel.yaml --home \"$T/hb\" --no-register "
                            "--models linear --threads 1"), 0);
    CHECK_CONTAINS(o, "rmse  vs baseline     mae       r2  p50 us");
    CHECK(o && !strstr(o, "mape"));
    free(o);
    o = NULL;
    /* a metric listed for a regression task is shown even when it is not a default column */
    CHECK_EQ(fw_test_sh(&o, "fw_project boston \"$T/b2.yaml\" "
                            "'s/^metrics: \\[mae, r2\\]$/metrics: [median_absolute_error, mse]/' && \"$FW\" train \"$T/b2.yaml\" --home \"$T/hb\" --no-register "
                            "--models linear --threads 1"), 0);
    CHECK_CONTAINS(o, "median_absolute_error");
    CHECK_CONTAINS(o, " mse ");
    free(o);
    o = NULL;
    /* an unknown name is a clear error naming the known ones */
    CHECK_EQ(fw_test_sh(&o, "fw_project boston \"$T/b3.yaml\" 's/^metrics: \\[mae, r2\\]$/metrics: [mae, ndcg@10]/' && \"$FW\" train \"$T/b3.yaml\" --home \"$T/hb\" --no-register "
                            "--models linear --threads 1"), 1);
    CHECK_CONTAINS(o, "metrics: unknown metric 'ndcg@10' for a regression task (known: rmse");
    free(o);
}

static void test_early_stopping_at_the_primary_cutoff(void) {
    /* metric: ndcg@5 → LambdaMART stops on the validation queries' NDCG@5 */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "fw_project ranking \"$T/r5.yaml\" 's/^metric: ndcg@10$/metric: ndcg@5/' && \"$FW\" train \"$T/r5.yaml\" --home \"$T/hr\" --no-register "
                            "--models gbdt --threads 1 --json --quiet"), 0);
    CHECK_CONTAINS(o, "\"primary_metric\": \"ndcg@5\"");
    CHECK_CONTAINS(o, "\"objective\": \"lambdarank\"");
    CHECK_CONTAINS(o, "\"ndcg_at\": 5,");
    free(o);
}

static void test_query_flag_without_a_project(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/ranking/diamonds_rank.csv --label relevance --query query "
                            "--models gbdt --threads 1 --home \"$T/hq\" --no-register --json --quiet"), 0);
    CHECK_CONTAINS(o, "\"task\": \"ranking\"");
    CHECK_CONTAINS(o, "\"primary_metric\": \"ndcg@10\"");
    free(o);
    o = NULL;
    /* --task ranking without a query column: a clear error */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/ranking/diamonds_rank.csv --label relevance --task ranking "
                            "--models gbdt --threads 1 --home \"$T/hq\" --no-register --quiet"), 1);
    CHECK_CONTAINS(o, "data.query");
    free(o);
}

static void test_folds_by_queries_not_rows(void) {
    /* 21,000 rows (over the 20,000-row auto limit of other tasks) in 300 queries: a ranking holdout's
     * noise goes with its queries, so selection still uses folds of whole queries */
    char path[900];
    snprintf(path, sizeof path, "%s/many.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "q,a,b,rel\n");
    unsigned s = 99;
    for (int i = 0; i < 21000; i++) {
        double v[2];
        for (int k = 0; k < 2; k++) {
            s = s * 1103515245u + 12345u;
            v[k] = (double)((s >> 8) % 10000) / 10000.0;
        }
        double score = v[0] + 0.3 * v[1];
        fprintf(f, "q%d,%.4f,%.4f,%d\n", i % 300, v[0], v[1], score > 1.0 ? 2 : score > 0.7 ? 1 : 0);
    }
    fclose(f);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label rel --query q --models linear --threads 1 "
                            "--home \"$T/hm\" --no-register --quiet", path), 0);
    CHECK_CONTAINS(o, "selection: 5-fold cross-validation on the training side");
    free(o);
}

int main(void) {
    TEST_RUN(test_queries_stay_together);
    TEST_RUN(test_metrics_list_chooses_columns);
    TEST_RUN(test_early_stopping_at_the_primary_cutoff);
    TEST_RUN(test_query_flag_without_a_project);
    TEST_RUN(test_folds_by_queries_not_rows);
    return fw_test_report("test_ranking");
}
