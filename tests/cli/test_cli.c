/* test_cli.c — black-box tests of the flywheel binary's command line: --help/--version and exit
 * codes, errors that name the file and place, and the main job on the shipped examples: describe,
 * train (registers), eval, models, reproduce (byte-identical), determinism of the artifact. */
#include "test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool have_bin(void) {
    if (fw_test_bin()) return true;
    CHECK_MSG(0, "FLYWHEEL_BIN is not set or not executable (run through tests/run.sh)");
    return false;
}

static void test_help_version_exit_codes(void) {
    if (!have_bin()) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" --version"), 0);
    CHECK_CONTAINS(o, "flywheel ");
    CHECK_CONTAINS(o, "(");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" --help"), 0);
    const char *cmds[] = {"describe", "train", "eval", "models", "reproduce", "serve", "batch", "monitor"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) CHECK_CONTAINS(o, cmds[i]);
    free(o);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        CHECK_MSG(fw_test_sh(&o, "\"$FW\" %s --help", cmds[i]) == 0, "%s --help: %s", cmds[i], o);
        CHECK_CONTAINS(o, "usage: flywheel");
        free(o);
    }
    /* usage errors exit 2 with one line on stderr saying what was wrong */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" no-such-command"), 2);
    CHECK_CONTAINS(o, "no-such-command");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train"), 2);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-such-flag"), 2);
    CHECK_CONTAINS(o, "--no-such-flag");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval"), 2);
    free(o);
}

/* Only `flywheel serve` loads the HTTP library (and gnutls and the rest it pulls in): 5.4 ms of
 * start-up that every other command used to pay (src/serve/mhd.h). */
static void test_http_library_only_for_serve(void) {
    if (!have_bin()) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "LD_DEBUG=libs \"$FW\" models list --home \"$T/no-http\""), 0);
    CHECK_MSG(o && strstr(o, "libsqlite3") && !strstr(o, "libmicrohttpd") && !strstr(o, "libgnutls"),
              "models list loaded: %.2000s", o ? o : "(null)");
    free(o);
}

static void test_errors_name_the_place(void) {
    if (!have_bin()) return;
    char *o = NULL;
    /* a file that does not exist: runtime failure naming the file */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/nosuch.csv\" --label y --home \"$T/h0\""), 1);
    CHECK_CONTAINS(o, "nosuch.csv");
    CHECK_CONTAINS(o, "No such file");
    free(o);
    /* a YAML syntax error: file:line:column */
    CHECK_EQ(fw_test_sh(&o, "printf 'name: x\\ntask: binary\\ndata:\\n  train: [oops\\n' > \"$T/bad.yaml\" && "
                            "\"$FW\" train \"$T/bad.yaml\" --home \"$T/h0\""),
             1);
    CHECK_CONTAINS(o, "bad.yaml:");
    CHECK_CONTAINS(o, "YAML");
    free(o);
    /* an unknown label column is named, with the file */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/pima.csv --label nosuch --home \"$T/h0\""), 1);
    CHECK_CONTAINS(o, "'nosuch'");
    CHECK_CONTAINS(o, "pima.csv");
    free(o);
    /* a malformed CSV row: line and column */
    CHECK_EQ(fw_test_sh(&o, "printf 'a,b,y\\n1,2,x\\n3,\"4,y\\n' > \"$T/broken.csv\" && "
                            "\"$FW\" describe \"$T/broken.csv\""),
             1);
    CHECK_CONTAINS(o, "broken.csv:3:");
    free(o);
    /* each error is one line on stderr */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/nosuch.csv\" --label y --home \"$T/h0\" 2>&1 >/dev/null | wc -l"), 0);
    CHECK_CONTAINS(o, "1");
    free(o);
}

static void test_describe(void) {
    if (!have_bin()) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe examples/pima/pima.csv --label diabetes"), 0);
    CHECK_CONTAINS(o, "rows: 768");
    CHECK_CONTAINS(o, "glucose");
    CHECK_CONTAINS(o, "pos 268");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe examples/pima/pima.csv --json"), 0);
    CHECK(o && o[0] == '{');
    CHECK_CONTAINS(o, "\"glucose\"");
    free(o);
    /* --write-project writes a project file that train accepts */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe examples/pima/pima.csv --label diabetes --write-project \"$T/p.yaml\" && "
                            "grep -c 'label: diabetes' \"$T/p.yaml\""),
             0);
    free(o);
}

/* Trains the pima example into home h; returns its stdout+stderr (caller frees). */
static char *train_pima(const char *home, const char *extra) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/%s\" %s", home, extra);
    CHECK_MSG(rc == 0, "train exited %d: %s", rc, o ? o : "");
    return o;
}

static void test_train_eval_models_reproduce(void) {
    if (!have_bin()) return;
    char *o = train_pima("h1", "--models baseline,linear,gbdt");
    CHECK_CONTAINS(o, "pima — binary task, primary metric roc_auc");
    CHECK_CONTAINS(o, "baseline");
    CHECK_CONTAINS(o, "over the baseline");
    CHECK_CONTAINS(o, "decision threshold:");
    CHECK_CONTAINS(o, "registered pima@1");
    free(o);
    /* a second run registers version 2 (another seed: the same bytes would reuse version 1) */
    o = train_pima("h1", "--models baseline,linear --seed 8 --json");
    CHECK(o && o[0] == '{');
    CHECK_CONTAINS(o, "\"registered\":{\"name\":\"pima\",\"version\":2");
    CHECK_CONTAINS(o, "\"data_warnings\":[]");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models list --home \"$T/h1\""), 0);
    CHECK_CONTAINS(o, "pima");
    free(o);
    /* eval on a file with the label, per slice */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval pima@1 examples/pima/pima.csv --home \"$T/h1\" --json"), 0);
    CHECK(o && o[0] == '{');
    CHECK_CONTAINS(o, "\"roc_auc\"");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "awk -F, 'NR==1{print $0\",agegroup\"; next} {print $0\",\"($8<30?\"young\":\"older\")}' "
                            "examples/pima/pima.csv > \"$T/pima_g.csv\" && "
                            "\"$FW\" eval pima@1 \"$T/pima_g.csv\" --home \"$T/h1\" --group agegroup"),
             0);
    CHECK_CONTAINS(o, "roc_auc");
    CHECK_CONTAINS(o, "agegroup");
    CHECK_CONTAINS(o, "young");
    CHECK_CONTAINS(o, "older");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval pima@7 examples/pima/pima.csv --home \"$T/h1\""), 1);
    CHECK_CONTAINS(o, "no version 7");
    free(o);
    /* reproduce: retrained from the record, byte for byte */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" reproduce pima@1 --home \"$T/h1\""), 0);
    CHECK_CONTAINS(o, "reproduced: byte-identical");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" reproduce pima@2 --home \"$T/h1\""), 0);
    CHECK_CONTAINS(o, "reproduced: byte-identical");
    free(o);
}

static void test_artifact_determinism(void) {
    if (!have_bin()) return;
    char *o = NULL;
    /* same data, seed and parameters → the same bytes, run after run */
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/boston/flywheel.yaml --models baseline,gbdt,linear "
                                "--no-register --out \"$T/det%d\" --quiet --home \"$T/h2\"",
                            i),
                 0);
        free(o);
    }
    CHECK_EQ(fw_test_sh(&o, "ls \"$T/det0\"/*.fwm && cmp \"$T\"/det0/*.fwm \"$T\"/det1/*.fwm"), 0);
    free(o);
    /* a different seed gives a different model */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/boston/flywheel.yaml --models baseline,gbdt,linear --seed 99 "
                            "--no-register --out \"$T/det2\" --quiet --home \"$T/h2\" && "
                            "! cmp -s \"$T\"/det0/*.fwm \"$T\"/det2/*.fwm"),
             0);
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_help_version_exit_codes);
    TEST_RUN(test_http_library_only_for_serve);
    TEST_RUN(test_errors_name_the_place);
    TEST_RUN(test_describe);
    TEST_RUN(test_train_eval_models_reproduce);
    TEST_RUN(test_artifact_determinism);
    return fw_test_report(argv[0]);
}
