/* test_honest_report.c — the figures a training report prints say which rows they come from and
 * how much they could move (issue 15, "numbers that mislead"): with cross-validation the decision
 * threshold is chosen on the out-of-fold predictions (not the small validation holdout) and the
 * report labels the threshold's own figures and the test rows' figures apart; every candidate
 * shows its cross-validation mean and spread; every test metric has a seeded bootstrap interval;
 * the prior baseline's PR AUC is the prevalence. Drives the real binary on examples/pima. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *train_json(const char *extra) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --home \"$T/h\" --json %s 2>/dev/null",
                        extra);
    CHECK_MSG(rc == 0, "train exited %d: %s", rc, o ? o : "");
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "not JSON: %.300s", o ? o : "");
    free(o);
    return j;
}

static double jnum(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static void test_threshold_out_of_fold_and_labelled(void) {
    json_t *j = train_json("");
    if (!j) return;
    json_t *th = json_object_get(j, "threshold");
    CHECK_STR(json_string_value(json_object_get(th, "rows")), "out-of-fold");
    /* pima: 768 rows, 20% test → 576 training-side rows, every one scored out of fold */
    CHECK_EQ(json_integer_value(json_object_get(th, "n_rows")), 576);
    CHECK_EQ(json_integer_value(json_object_get(j, "test_rows")), 192);
    json_decref(j);

    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --home \"$T/h\" --quiet "
                            "--html \"$T/r.html\""), 0);
    CHECK_CONTAINS(o, "metrics on the 192 test rows");
    CHECK_CONTAINS(o, "chosen on 576 out-of-fold rows: there precision");
    CHECK_CONTAINS(o, "at that threshold on the 192 test rows: precision");
    free(o);
    char path[1200];
    snprintf(path, sizeof path, "%s/r.html", fw_test_tmpdir());
    char *h = fw_test_slurp(path, NULL);
    CHECK_CONTAINS(h, "chosen on 576 out-of-fold rows");
    CHECK_CONTAINS(h, "on the 192 test rows (the confusion matrix below)");
    CHECK_CONTAINS(h, "no skill (prevalence");
    CHECK_CONTAINS(h, "bootstrap intervals");
    free(h);
}

static void test_cv_spread_and_intervals(void) {
    json_t *j = train_json("");
    if (!j) return;
    json_t *models = json_object_get(j, "models");
    size_t n_cv = 0;
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        const char *fam = json_string_value(json_object_get(m, "family"));
        json_t *cv = json_object_get(m, "cv");
        if (strcmp(fam, "baseline") != 0) {
            CHECK_MSG(json_is_object(cv), "%s has no cv", fam);
            json_t *sc = json_object_get(cv, "scores");
            CHECK_EQ(json_array_size(sc), 5);
            double mean = 0;
            for (size_t f = 0; f < 5; f++) mean += json_number_value(json_array_get(sc, f)) / 5;
            CHECK_NEAR(jnum(cv, "mean"), mean, 1e-12);
            CHECK(jnum(cv, "std") > 0);
            CHECK_STR(json_string_value(json_object_get(cv, "metric")), "roc_auc");
            n_cv++;
        }
        json_t *ci = json_object_get(m, "metrics_ci");
        CHECK_MSG(json_is_object(ci), "%s has no metrics_ci", fam);
        CHECK_EQ(json_integer_value(json_object_get(ci, "resamples")), 200);
        json_t *iv = json_object_get(ci, "intervals"), *metrics = json_object_get(m, "metrics");
        CHECK_EQ(json_object_size(iv), json_object_size(metrics)); /* every test metric */
        json_t *auc = json_object_get(iv, "roc_auc");
        double v = jnum(metrics, "roc_auc");
        if (strcmp(fam, "baseline") != 0)
            CHECK_MSG(json_number_value(json_array_get(auc, 0)) < v && v < json_number_value(json_array_get(auc, 1)),
                      "%s roc_auc %g outside its interval", fam, v);
    }
    CHECK_EQ(n_cv, 3);
    /* the prior baseline ranks nothing: PR AUC = prevalence = its average precision */
    json_t *bm = json_object_get(json_object_get(j, "baseline"), "metrics");
    CHECK_NEAR(jnum(bm, "pr_auc"), jnum(bm, "average_precision"), 1e-12);
    CHECK(jnum(bm, "pr_auc") < 0.4);
    /* seeded: the same run gives the same intervals */
    json_t *j2 = train_json("");
    char *a = json_dumps(json_object_get(json_array_get(models, 1), "metrics_ci"), JSON_SORT_KEYS);
    char *b = j2 ? json_dumps(json_object_get(json_array_get(json_object_get(j2, "models"), 1), "metrics_ci"), JSON_SORT_KEYS) : NULL;
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    json_decref(j2);
    json_decref(j);
    /* the text table: a cv column per candidate, and the intervals of the chosen model */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --home \"$T/h\" --quiet"), 0);
    CHECK_CONTAINS(o, "cv roc_auc (5 folds)");
    CHECK_CONTAINS(o, " +/- ");
    CHECK_CONTAINS(o, "95% bootstrap intervals on the 192 test rows (200 resamples");
    free(o);
}

/* In a log (stderr not a terminal), each long phase writes one line when it ends. */
static void test_phase_lines_in_logs(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --home \"$T/h\" 2>&1 >/dev/null"), 0);
    CHECK_CONTAINS(o, "flywheel train: gbdt: 1 trial(s), 5-fold cross-validation roc_auc");
    CHECK_CONTAINS(o, "flywheel train: knn: evaluated on 192 test rows");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --home \"$T/h\" --quiet 2>&1 >/dev/null"), 0);
    CHECK_MSG(o && !strstr(o, "flywheel train:"), "--quiet printed: %s", o ? o : "");
    free(o);
}

int main(void) {
    TEST_RUN(test_threshold_out_of_fold_and_labelled);
    TEST_RUN(test_cv_spread_and_intervals);
    TEST_RUN(test_phase_lines_in_logs);
    return fw_test_report("test_honest_report");
}
