/* test_fixtures.c — the set-up the tests share (tests/support/test.h): fw_project copies an example
 * project with its data path made absolute and refuses an edit that changes nothing;
 * fw_test_uniforms draws the same numbers for the same seed. */
#include "test.h"

#include <stdlib.h>

static void test_project_copy(void) {
    char *o = NULL;
    /* the copy names the example's data by its absolute path and trains from another directory */
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/p.yaml\" && grep -c \"^  train: $PWD/examples/pima/pima.csv$\" "
                            "\"$T/p.yaml\" && cd \"$T\" && \"$FW\" describe \"$(sed -n 's/^  train: //p' p.yaml)\" "
                            "--label diabetes >/dev/null"),
             0);
    CHECK_CONTAINS(o, "1\n");
    free(o);
    /* edits apply in order; the rest of the file is the example's */
    CHECK_EQ(fw_test_sh(&o, "fw_project boston \"$T/b.yaml\" 's/^metric: rmse$/metric: mae/' 's/^metric: mae$/metric: r2/' "
                            "&& grep -c '^metric: r2$' \"$T/b.yaml\" && diff \"$T/b.yaml\" examples/boston/flywheel.yaml | "
                            "grep -c '^[<>]'"),
             0);
    CHECK_STR(o, "1\n4\n"); /* metric: and train: differ, one line each side */
    free(o);
    /* an edit that matches nothing fails, naming it: a test must not pass on a missed edit */
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/q.yaml\" 's/^no such line$/x/' && echo reached"), 1);
    CHECK_CONTAINS(o, "fw_project: the edit 's/^no such line$/x/' changed nothing in");
    CHECK(o && !strstr(o, "reached"));
    free(o);
    CHECK(fw_test_sh(NULL, "fw_project no_such_example \"$T/n.yaml\"") != 0);
}

static void test_uniforms(void) {
    unsigned a = 777, b = 777;
    double x[64], y[64];
    fw_test_uniforms(&a, x, 64);
    fw_test_uniforms(&b, y, 32);
    fw_test_uniforms(&b, y + 32, 32); /* drawn in two goes: the same sequence */
    CHECK(memcmp(x, y, sizeof x) == 0);
    double lo = 1, hi = -1;
    for (int i = 0; i < 64; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    CHECK(lo >= -1 && hi < 1 && hi - lo > 1); /* spread over [-1, 1) */
    /* the first draws of seed 777 (the products data of serve/test_explain and train/test_project_fitting):
     * a change of the generator changes every synthetic data set, so it is pinned */
    unsigned s = 777;
    double v[3];
    fw_test_uniforms(&s, v, 3);
    CHECK_NEAR(v[0], 0.0514, 1e-12);
    CHECK_NEAR(v[1], 0.8142, 1e-12);
    CHECK_NEAR(v[2], -0.9246, 1e-12);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_project_copy);
    TEST_RUN(test_uniforms);
    return fw_test_report(argv[0]);
}
