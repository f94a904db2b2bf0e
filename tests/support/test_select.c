/* test_select.c — the harness runs one test by name: this program runs itself with names, shell
 * patterns, --list and a name that matches nothing, and checks which tests ran and the closing line. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static void test_alpha(void) { printf("ran test_alpha\n"); }
static void test_beta(void) { printf("ran test_beta\n"); }
static void test_beta_two(void) { printf("ran test_beta_two\n"); }

static char self[4096];

static char *run_self(int *rc, const char *args) {
    char *o = NULL;
    *rc = fw_test_sh(&o, "'%s' %s", self, args);
    return o ? o : calloc(1, 1);
}

static void test_selection_from_the_command_line(void) {
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    if (n <= 0) return;
    self[n] = '\0';
    int rc;
    char *o = run_self(&rc, "test_beta");
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(o, "ran test_beta\n");
    CHECK(!strstr(o, "ran test_alpha") && !strstr(o, "ran test_beta_two"));
    CHECK_CONTAINS(o, "test_select: 1 passed, 0 failed");
    free(o);
    /* a shell pattern, and two names */
    o = run_self(&rc, "'test_beta*'");
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(o, "ran test_beta_two");
    CHECK_CONTAINS(o, "test_select: 2 passed, 0 failed");
    free(o);
    o = run_self(&rc, "test_alpha test_beta_two");
    CHECK_CONTAINS(o, "test_select: 2 passed, 0 failed");
    free(o);
    /* --list names every test and runs none */
    o = run_self(&rc, "--list");
    CHECK_EQ(rc, 0);
    CHECK_STR(o, "test_alpha\ntest_beta\ntest_beta_two\ntest_selection_from_the_command_line\n");
    free(o);
    /* a name that matches no test fails the run (a typo must not pass as "0 failed") */
    o = run_self(&rc, "test_alpah");
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(o, "no test named 'test_alpah'");
    CHECK_CONTAINS(o, "test_select: 0 passed, 1 failed");
    free(o);
    o = run_self(&rc, "--bogus");
    CHECK_EQ(rc, 2);
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_alpha);
    TEST_RUN(test_beta);
    TEST_RUN(test_beta_two);
    TEST_RUN(test_selection_from_the_command_line);
    return fw_test_report(argv[0]);
}
