/* test_bad_data.c — training on bad data (issue: models, training and evaluation): a label with one
 * class, an all-missing column, constant features, NaN/inf in numeric input, classes in the test
 * split unseen in training, no rows left, k larger than the training set. Each is a clear error or
 * a documented behaviour (a warning in the report), never a crash or a NaN model. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* Writes a CSV with header h and n generated rows: row(i, buf) fills one line. */
static const char *write_csv(const char *name, const char *h, size_t n, void (*row)(size_t, char *, size_t)) {
    static char path[64][1024];
    static int k;
    char *p = path[k++ % 64];
    snprintf(p, 1024, "%s/%s", fw_test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    fprintf(f, "%s\n", h);
    char line[256];
    for (size_t i = 0; i < n; i++) {
        row(i, line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    fclose(f);
    return p;
}

static double u(size_t i, unsigned salt) { return (double)((i * 2654435761u + salt * 97u) % 1000u) / 1000.0; }

static void row_one_class(size_t i, char *b, size_t n) { snprintf(b, n, "%.3f,%.3f,yes", u(i, 1), u(i, 2)); }
static void row_all_missing(size_t i, char *b, size_t n) {
    snprintf(b, n, "%.3f,,%s", u(i, 1), u(i, 1) + 0.3 * u(i, 3) > 0.6 ? "yes" : "no");
}
static void row_constant(size_t i, char *b, size_t n) {
    snprintf(b, n, "%.3f,7,%s", u(i, 1), u(i, 1) + 0.3 * u(i, 3) > 0.6 ? "yes" : "no");
}
static void row_nonfinite(size_t i, char *b, size_t n) {
    static const char *bad[] = {"nan", "inf", "-inf", "NaN", "Infinity"};
    if (i % 4 == 0) snprintf(b, n, "%s,%.3f,%s", bad[(i / 4) % 5], u(i, 2), u(i, 2) > 0.5 ? "yes" : "no");
    else snprintf(b, n, "%.3f,%.3f,%s", u(i, 1), u(i, 2), u(i, 1) + u(i, 2) > 1.0 ? "yes" : "no");
}
static void row_three(size_t i, char *b, size_t n) {
    snprintf(b, n, "%.3f,%s", u(i, 1), u(i, 1) < 0.33 ? "a" : u(i, 1) < 0.66 ? "b" : "c");
}
static void row_tiny(size_t i, char *b, size_t n) { snprintf(b, n, "%zu,%s", i, i % 2 ? "yes" : "no"); }

static void test_one_class_label(void) {
    const char *f = write_csv("one.csv", "x,z,y", 200, row_one_class);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h\" --quiet", f), 1);
    CHECK_CONTAINS(o, "single value");
    CHECK_CONTAINS(o, "'y'");
    free(o);
}

static void test_all_missing_and_constant_columns_warn(void) {
    const char *f = write_csv("miss.csv", "x,m,y", 300, row_all_missing);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h\" --no-register", f), 0);
    CHECK_CONTAINS(o, "warning: feature 'm' is missing in every training row");
    CHECK(o && !strstr(o, "nan ") && !strstr(o, " nan"));
    free(o);
    f = write_csv("const.csv", "x,c,y", 300, row_constant);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h\" --no-register --json", f), 0);
    CHECK_CONTAINS(o, "\"data_warnings\":[\"feature 'c' has the same value in every training row");
    free(o);
}

static void test_nonfinite_numbers_are_missing(void) {
    const char *f = write_csv("nonfinite.csv", "x,z,y", 400, row_nonfinite);
    char *o = NULL;
    /* the column stays numeric: nan/inf spellings read as missing values */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y | grep '^x '", f), 0);
    CHECK_CONTAINS(o, "numeric");
    CHECK_CONTAINS(o, "25.0%");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --home \"$T/h\" --no-register --json", f), 0);
    CHECK(o && !strstr(o, "NaN") && !strstr(o, "nan,"));
    CHECK_CONTAINS(o, "\"roc_auc\"");
    free(o);
}

static void test_unseen_test_class(void) {
    const char *f = write_csv("three.csv", "x,y", 300, row_three);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "printf 'x,y\\n0.1,a\\n0.5,d\\n0.9,c\\n' > \"$T/t.csv\" && "
                            "\"$FW\" train '%s' --test \"$T/t.csv\" --label y --home \"$T/h\" --no-register",
                        f),
             0);
    CHECK_CONTAINS(o, "unseen in training");
    free(o);
}

static void test_no_rows(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "printf 'x,y\\n' > \"$T/empty.csv\" && \"$FW\" train \"$T/empty.csv\" --label y --home \"$T/h\""), 1);
    CHECK_CONTAINS(o, "empty.csv");
    free(o);
    /* every row bad and skipped: nothing left to train on */
    CHECK_EQ(fw_test_sh(&o, "printf 'x,y\\n1,2,3\\n4,5,6\\n' > \"$T/allbad.csv\" && "
                            "\"$FW\" train \"$T/allbad.csv\" --label y --skip-bad-rows --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "allbad.csv");
    free(o);
}

static void test_k_larger_than_training_set(void) {
    const char *f = write_csv("tiny.csv", "x,y", 6, row_tiny);
    char *o = NULL;
    /* knn alone cannot train: a clear error naming k and the row count */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --models knn --home \"$T/h\" --no-register", f), 1);
    CHECK_CONTAINS(o, "knn.k = 5 exceeds");
    free(o);
    /* among other families, knn's failure is reported and the others go on */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --models linear,knn --home \"$T/h\" --no-register", f), 0);
    CHECK_CONTAINS(o, "knn failed: knn.k = 5 exceeds");
    CHECK_CONTAINS(o, "linear");
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return fw_test_report(argv[0]);
    }
    TEST_RUN(test_one_class_label);
    TEST_RUN(test_all_missing_and_constant_columns_warn);
    TEST_RUN(test_nonfinite_numbers_are_missing);
    TEST_RUN(test_unseen_test_class);
    TEST_RUN(test_no_rows);
    TEST_RUN(test_k_larger_than_training_set);
    return fw_test_report(argv[0]);
}
