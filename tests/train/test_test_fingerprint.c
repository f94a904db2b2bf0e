/* test_test_fingerprint.c — the promotion rule compares models evaluated on the same test rows:
 * the test fingerprint is taken over the rows as read, so two versions trained with different
 * seeds (and so different fitted pipelines) on the same training file and scored on the same
 * test file have the same fingerprint, and `models promote` compares them. A different test file
 * still gives a different fingerprint. */
#include "test.h"

#include <stdlib.h>

static void test_seeds_do_not_change_the_test_fingerprint(void) {
    char *o = NULL;
    /* pima split in two files by line: the first 576 rows train, the rest test */
    CHECK_EQ(fw_test_sh(&o, "head -n 577 examples/pima/pima.csv > \"$T/tr.csv\" && "
                            "(head -n 1 examples/pima/pima.csv; tail -n +578 examples/pima/pima.csv) > \"$T/te.csv\" && "
                            "(head -n 1 examples/pima/pima.csv; tail -n +600 examples/pima/pima.csv) > \"$T/te2.csv\" && "
                            "for s in 1 2; do \"$FW\" train \"$T/tr.csv\" --label diabetes --test \"$T/te.csv\" --seed $s "
                            "--models linear --name fp --home \"$T/h\" --quiet >/dev/null || exit 3; done && "
                            "\"$FW\" train \"$T/tr.csv\" --label diabetes --test \"$T/te2.csv\" --seed 1 "
                            "--models linear --name fp --home \"$T/h\" --quiet >/dev/null || exit 4; "
                            "for v in 1 2 3; do \"$FW\" models show fp@$v --home \"$T/h\" | grep 'data:'; done"),
             0);
    /* "  data:           train X, test Y" for versions 1, 2 and 3 */
    char t1[64] = "", t2[64] = "", t3[64] = "";
    const char *p = o ? strstr(o, ", test ") : NULL;
    if (p) sscanf(p + 7, "%63s", t1);
    p = p ? strstr(p + 1, ", test ") : NULL;
    if (p) sscanf(p + 7, "%63s", t2);
    p = p ? strstr(p + 1, ", test ") : NULL;
    if (p) sscanf(p + 7, "%63s", t3);
    CHECK(t1[0] && strcmp(t1, "?") != 0);
    CHECK_STR(t1, t2);
    CHECK_MSG(t3[0] && strcmp(t1, t3) != 0, "another test file must give another fingerprint: %s vs %s", t1, t3);
    free(o);
    o = NULL;
    /* the promotion rule compares versions 1 and 2 (it may still refuse: not by fingerprint) */
    fw_test_sh(&o, "\"$FW\" models promote fp@1 --force --home \"$T/h\" && \"$FW\" models promote fp@2 --home \"$T/h\"");
    CHECK(o && !strstr(o, "not comparable"));
    free(o);
    o = NULL;
    fw_test_sh(&o, "\"$FW\" models promote fp@3 --home \"$T/h\"");
    CHECK_CONTAINS(o, "not comparable");
    free(o);
}

int main(void) {
    TEST_RUN(test_seeds_do_not_change_the_test_fingerprint);
    return fw_test_report("test_test_fingerprint");
}
