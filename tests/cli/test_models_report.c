/* test_models_report.c — the HTML report stays with the registered version: `flywheel train`
 * keeps the report it rendered with the version, and `flywheel models show NAME@V --html F` writes
 * it back byte for byte, for that version (not the latest); a version without one (imported, or
 * registered before reports were kept) gets a clear message and exit 1; --html belongs to show;
 * train --out DIR writes report.html and report.json next to the artifact; eval --html of a
 * regression model has the predicted-vs-actual and residual plots. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_show_writes_the_versions_report(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    char *o = NULL;
    /* version 1: pima as shipped; version 2: another seed (a different report) */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/h\" --quiet --html \"$T/v1.html\""), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/h\" --quiet --seed 3 --models baseline,linear "
                            "--html \"$T/v2.html\""), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models show pima@1 --home \"$T/h\" --html \"$T/show1.html\""), 0);
    CHECK_CONTAINS(o, "pima@1");
    CHECK_CONTAINS(o, "report:         written to");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models show pima@2 --home \"$T/h\" --html \"$T/show2.html\" --json"), 0);
    CHECK_CONTAINS(o, "\"version\"");
    free(o);
    CHECK_EQ(fw_test_sh(NULL, "cmp -s \"$T/v1.html\" \"$T/show1.html\""), 0);
    CHECK_EQ(fw_test_sh(NULL, "cmp -s \"$T/v2.html\" \"$T/show2.html\""), 0);
    CHECK(fw_test_sh(NULL, "cmp -s \"$T/show1.html\" \"$T/show2.html\"") != 0); /* each version its own */
    char path[600];
    snprintf(path, sizeof path, "%s/show1.html", fw_test_tmpdir());
    char *h = fw_test_slurp(path, NULL);
    CHECK_CONTAINS(h, "<!DOCTYPE html>");
    CHECK_CONTAINS(h, "ROC curve");
    free(h);

    /* an imported version has no stored report: a clear message, exit 1, no file */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models export pima@1 \"$T/p.fwm\" --home \"$T/h\" && "
                            "\"$FW\" models import \"$T/p.fwm\" --home \"$T/h\""), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models show pima@3 --home \"$T/h\" --html \"$T/show3.html\""), 1);
    CHECK_CONTAINS(o, "pima@3 has no stored report");
    CHECK_CONTAINS(o, "--html F");
    free(o);
    CHECK(fw_test_sh(NULL, "test -e \"$T/show3.html\"") != 0);

    /* a version registered before reports were kept: its run record has no report_html */
    if (fw_test_sh(NULL, "command -v sqlite3") == 0) {
        CHECK_EQ(fw_test_sh(&o, "sqlite3 \"$T/h/flywheel.db\" \"UPDATE runs SET record_json = "
                                "json_remove(record_json, '$.report_html') WHERE run_id = (SELECT v.run_id FROM "
                                "versions v JOIN models m ON m.id = v.model_id WHERE m.name = 'pima' AND v.version = 1)\""),
                 0);
        free(o);
        CHECK_EQ(fw_test_sh(&o, "\"$FW\" models show pima@1 --home \"$T/h\" --html \"$T/old.html\""), 1);
        CHECK_CONTAINS(o, "pima@1 has no stored report: it was registered before");
        free(o);
        CHECK_EQ(fw_test_sh(NULL, "\"$FW\" models show pima@2 --home \"$T/h\" --html \"$T/again2.html\""), 0);
    } else {
        printf("test_models_report: sqlite3 absent; the pre-report version case is covered by the import case\n");
    }

    /* train --out DIR writes the artifact, report.html and report.json there (as --help says) */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/h\" --quiet --no-register --out \"$T/out\" "
                            "--html \"$T/out-html.html\""), 0);
    free(o);
    CHECK_EQ(fw_test_sh(NULL, "test -s \"$T/out/pima.fwm\" && cmp -s \"$T/out/report.html\" \"$T/out-html.html\" && "
                              "grep -q '\"primary_metric\"' \"$T/out/report.json\""), 0);

    /* --html is an option of show only */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models list --home \"$T/h\" --html \"$T/x.html\""), 2);
    CHECK_CONTAINS(o, "--html is an option of 'show'");
    free(o);
}

/* `flywheel eval REF DATA --html F` on a regression model: predicted-vs-actual and residual plots
 * of the evaluated rows. */
static void test_eval_html_regression(void) {
    if (!fw_test_bin()) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/boston/flywheel.yaml --home \"$T/hb\" --quiet && "
                            "\"$FW\" eval boston@1 examples/boston/boston.csv --home \"$T/hb\" --html \"$T/eval.html\""),
             0);
    free(o);
    char path[600];
    snprintf(path, sizeof path, "%s/eval.html", fw_test_tmpdir());
    char *h = fw_test_slurp(path, NULL);
    CHECK_CONTAINS(h, "Predicted vs actual");
    CHECK_CONTAINS(h, "Residuals");
    CHECK_CONTAINS(h, "test rows of <b>boston@1</b>");
    free(h);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_show_writes_the_versions_report);
    TEST_RUN(test_eval_html_regression);
    return fw_test_report(argv[0]);
}
