/* test_latency_budget.c — the project's p99 latency budget (constraints.p99_latency_ms) in
 * `flywheel train`: a model over it is not chosen while another is within it (a warning names the
 * one passed over), every model's p99 is marked against it in text and --json, and when no model
 * is within, the choice falls back to the metric with a warning. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* A disc in two of eight features (the rest noise): knn beats a linear model by far, and scans all
 * 6,000 training rows per prediction, so its single-row p99 is tens of microseconds. */
static void write_disc(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/disc.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "x0,x1,x2,x3,x4,x5,x6,x7,y\n");
    unsigned s = 99;
    for (int i = 0; i < 6000; i++) {
        double v[8];
        fw_test_uniforms(&s, v, 8);
        for (int k = 0; k < 8; k++) fprintf(f, "%.4f,", v[k]);
        fprintf(f, "%s\n", v[0] * v[0] + v[1] * v[1] < 0.5 ? "in" : "out");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/disc.yaml", dir);
    f = fopen(path, "w");
    fprintf(f, "name: disc\ntask: binary\ndata:\n  train: %s/disc.csv\n  label: y\n  positive: in\n"
               "metric: roc_auc\nconstraints:\n  p99_latency_ms: 0.005\n", dir);
    fclose(f);
}

static void test_over_budget_model_not_chosen(void) {
    write_disc(fw_test_tmpdir());
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/disc.yaml\" --home \"$T/h\" --no-register --models knn,linear"), 0);
    CHECK_CONTAINS(o, "knn scored best on validation but its p99 latency");
    CHECK_CONTAINS(o, "over the 0.005 ms budget; chose linear");
    CHECK_CONTAINS(o, "best: linear");
    CHECK_CONTAINS(o, "(over)"); /* knn's p99 cell */
    CHECK_CONTAINS(o, "p99 latency budget 0.005 ms: linear has p99");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/disc.yaml\" --home \"$T/h\" --no-register --models knn,linear --json --quiet"), 0);
    CHECK_CONTAINS(o, "\"p99_latency_budget_us\": 5.0");
    CHECK_CONTAINS(o, "\"within_budget\": false");
    CHECK_CONTAINS(o, "\"within_budget\": true");
    CHECK_CONTAINS(o, "\"best\": \"linear\"");
    free(o);
}

static void test_no_model_within_budget(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/disc.yaml\" --home \"$T/h\" --no-register --models knn"), 0);
    CHECK_CONTAINS(o, "no model meets the p99 latency budget of 0.005 ms");
    CHECK_CONTAINS(o, "best: knn");
    CHECK_CONTAINS(o, "OVER the budget");
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_over_budget_model_not_chosen);
    TEST_RUN(test_no_model_within_budget);
    return fw_test_report(argv[0]);
}
