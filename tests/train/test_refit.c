/* test_refit.c — what `flywheel train` does after choosing a model: refits it on the training and
 * validation rows together (split.refit, the default), reports that in text and --json, keeps the
 * other candidates as selected, stays byte-identical run to run and reproducible from its record;
 * `refit: false` turns it off. And the gbdt candidate stops on the validation error when the
 * primary metric is a decision metric. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* Three noisy classes from two features; the rest is noise. */
static const char *write_three_class(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/three.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,c,d,y\n");
    unsigned s = 12345;
    for (int i = 0; i < 900; i++) {
        double v[5];
        fw_test_uniforms(&s, v, 5);
        double score = v[0] + 0.5 * v[1] + 0.6 * v[4];
        fprintf(f, "%.4f,%.4f,%.4f,%.4f,%s\n", v[0], v[1], v[2], v[3],
                score < -0.3 ? "low" : score < 0.4 ? "mid" : "high");
    }
    fclose(f);
    return path;
}

static void test_pima_refits_the_chosen_model(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --home \"$T/h1\" --no-register "
                            "--json --quiet --models linear,gbdt"),
             0);
    /* 768 rows, test 25%: 576 on the training side (train + validation) */
    CHECK_CONTAINS(o, "\"refit\": {\n        \"rows\": 576,");
    /* exactly one model is refit: the chosen one */
    const char *first = o ? strstr(o, "\"refit\": {") : NULL;
    CHECK(first && !strstr(first + 1, "\"refit\": {"));
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --home \"$T/h1\" --no-register "
                            "--models linear,gbdt"),
             0);
    CHECK_CONTAINS(o, "was refit on 576 training + validation rows");
    free(o);
}

static void test_refit_off(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/norefit.yaml\" 's/^  seed: 7$/  seed: 7\\n  refit: false/' && "
                            "\"$FW\" train \"$T/norefit.yaml\" --home \"$T/h2\" --no-register --json --quiet "
                            "--models linear,gbdt"),
             0);
    CHECK_CONTAINS(o, "\"refit\": null");
    CHECK(o && !strstr(o, "\"refit\": {"));
    free(o);
    /* a bad value names the key and the allowed words */
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed 's/refit: false/refit: maybe/' \"$T/norefit.yaml\" > \"$T/bad.yaml\" && "
                            "\"$FW\" train \"$T/bad.yaml\" --home \"$T/h2\" --no-register --quiet"),
             1); /* a project file error, like every other one */
    CHECK_CONTAINS(o, "split.refit");
    CHECK_CONTAINS(o, "auto");
    free(o);
}

static void test_refit_is_deterministic(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && for i in 1 2; do \"$FW\" train flywheel.yaml --home \"$T/h3\" "
                            "--no-register --quiet --models gbdt --out \"$T/out$i\" >/dev/null || exit 3; done; "
                            "cmp \"$T/out1/pima.fwm\" \"$T/out2/pima.fwm\" && echo same"),
             0);
    CHECK_CONTAINS(o, "same");
    free(o);
}

/* Retraining from the record (`flywheel reproduce`) gives the same bytes when the candidate's own
 * starting parameters (gbdt: learning rate, rounds, stopping metric; linear: early stopping) meet
 * the user's: the record holds each key once, the user's value winning. */
static void test_reproduce_with_candidate_and_user_params(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && "
                            "\"$FW\" train flywheel.yaml --home \"$T/h5\" --quiet --models gbdt "
                            "--param gbdt.learning_rate=0.2 --param gbdt.max_depth=3 >/dev/null && "
                            "\"$FW\" train flywheel.yaml --home \"$T/h5\" --quiet --models linear >/dev/null && "
                            "\"$FW\" reproduce pima@1 --home \"$T/h5\" && \"$FW\" reproduce pima@2 --home \"$T/h5\""),
             0);
    CHECK_CONTAINS(o, "gbdt with 3 recorded parameters"); /* learning_rate (the user's), n_estimators, max_depth */
    CHECK_CONTAINS(o, "linear with 1 recorded parameters");
    const char *first = o ? strstr(o, "reproduced: byte-identical") : NULL;
    CHECK(first && strstr(first + 1, "reproduced: byte-identical"));
    free(o);
}

static void test_gbdt_stops_on_error_for_accuracy(void) {
    const char *f = write_three_class();
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h4\" --no-register --json --quiet "
                            "--models gbdt --param split.folds=1",
                        f),
             2); /* split.folds is a project key, not a model parameter: a usage error */
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h4\" --no-register --json --quiet "
                            "--models gbdt",
                        f),
             0);
    CHECK_CONTAINS(o, "\"primary_metric\": \"accuracy\"");
    CHECK_CONTAINS(o, "\"early_stopping_metric\": \"error\"");
    CHECK_CONTAINS(o, "\"refit\": {\n        \"rows\": 720,"); /* 900 rows less the 20% test split */
    free(o);
    /* with ROC-AUC (a score metric) the loss decides */
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --home \"$T/h4\" --no-register "
                            "--json --quiet --models gbdt"),
             0);
    CHECK_CONTAINS(o, "\"early_stopping_metric\": \"loss\"");
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_pima_refits_the_chosen_model);
    TEST_RUN(test_refit_off);
    TEST_RUN(test_refit_is_deterministic);
    TEST_RUN(test_reproduce_with_candidate_and_user_params);
    TEST_RUN(test_gbdt_stops_on_error_for_accuracy);
    return fw_test_report(argv[0]);
}
