/* test_weighted_metrics.c — data.weight weights the reports' metrics, through the real binary: train
 * and eval (--json) carry `metrics_weighted` and `weight_column`, the text report a weighted table,
 * and eval's weighted accuracy and log loss equal the ones computed here by hand from batch's
 * answers for the same rows (each row counted as its weight). */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *jparse(const char *o) {
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "not JSON: %.300s", o ? o : "(null)");
    return j;
}

/* The last n comma-separated fields of a line (no quoting in these files). */
static void last_fields(char *line, int n, char **out) {
    line[strcspn(line, "\r\n")] = 0;
    for (int k = n - 1; k >= 0; k--) {
        char *c = strrchr(line, ',');
        out[k] = c ? c + 1 : line;
        if (c) *c = 0;
    }
}

static void test_weighted_reports(void) {
    char *o = NULL;
    /* w = pregnant % 3 + 1; no abstention, so batch's answers are the model's own */
    CHECK_EQ(fw_test_sh(&o, "awk -F, 'NR==1{print $0\",w\"; next}{print $0\",\"($1%%3+1)}' examples/pima/pima.csv > \"$T/pw.csv\" && "
                            "sed -e \"s#train: pima.csv#train: $T/pw.csv#\" -e 's/^  positive: pos/  positive: pos\\n  weight: w/' "
                            "-e 's/^  confidence_threshold: .*/  confidence_threshold: 0/' examples/pima/flywheel.yaml > \"$T/p.yaml\" && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --threads 1 --quiet --home \"$T/h\" --json"),
             0);
    json_t *j = jparse(o);
    free(o);
    if (!j) return;
    CHECK_STR(json_string_value(json_object_get(j, "weight_column")), "w");
    json_t *m = json_array_get(json_object_get(j, "models"), 1);
    json_t *mw = json_object_get(m, "metrics_weighted");
    CHECK(json_is_number(json_object_get(mw, "accuracy")) && json_is_number(json_object_get(mw, "roc_auc")));
    json_decref(j);
    /* the text report has the weighted table */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval pima@1 \"$T/pw.csv\" --home \"$T/h\""), 0);
    CHECK_CONTAINS(o, "Weighted by data.weight 'w'");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval pima@1 \"$T/pw.csv\" --home \"$T/h\" --json"), 0);
    j = jparse(o);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" batch --model pima@1 --input \"$T/pw.csv\" --output \"$T/o.csv\" --home \"$T/h\" --quiet"), 0);
    free(o);
    if (!j) return;
    mw = json_object_get(json_array_get(json_object_get(j, "models"), 1), "metrics_weighted");
    /* by hand: every row of pw.csv (label, weight) against batch's answer (prediction, score) */
    char data[1024], ans[1024], path[600];
    snprintf(path, sizeof path, "%s/pw.csv", fw_test_tmpdir());
    FILE *fd = fopen(path, "r");
    snprintf(path, sizeof path, "%s/o.csv", fw_test_tmpdir());
    FILE *fa = fopen(path, "r");
    CHECK(fd && fa);
    double W = 0, right = 0, ll = 0, right_unw = 0;
    size_t n = 0;
    if (fd && fa && fgets(data, sizeof data, fd) && fgets(ans, sizeof ans, fa)) { /* headers */
        while (fgets(data, sizeof data, fd) && fgets(ans, sizeof ans, fa)) {
            char *d[2], *a[4];
            last_fields(data, 2, d);                         /* diabetes, w */
            last_fields(ans, 4, a);                          /* prediction, score, model_version, scored_at */
            double w = atof(d[1]), s = atof(a[1]);
            bool pos = !strcmp(d[0], "pos");
            W += w;
            right += !strcmp(a[0], d[0]) ? w : 0;
            right_unw += !strcmp(a[0], d[0]);
            ll -= w * (pos ? log(s) : log(1 - s));
            n++;
        }
    }
    if (fd) fclose(fd);
    if (fa) fclose(fa);
    CHECK_EQ(n, 768);
    CHECK_NEAR(json_number_value(json_object_get(mw, "accuracy")), right / W, 1e-12);
    CHECK_NEAR(json_number_value(json_object_get(mw, "log_loss")), ll / W, 1e-9);
    /* the weights matter here: the weighted accuracy is not the per-row one */
    CHECK(fabs(right / W - right_unw / (double)n) > 1e-6);
    json_decref(j);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_weighted_reports);
    return fw_test_report(argv[0]);
}
