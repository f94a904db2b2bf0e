/* test_test_hooks.c — test-only code stays out of what ships (core/test_hooks.h): the shipped
 * binary ($FLYWHEEL_BIN) and the libflywheel.a (and libflywheel.so when built) beside it hold none of the test
 * hooks — no name of a test environment variable, no fuzz harness — while the test build of the
 * binary ($FLYWHEEL_TEST_BIN) holds every one (so the scan can tell); and in this program (linked
 * with the test library) FW_TEST_ENV reads the environment. */
#include "core/test_hooks.h"
#include "test.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const hooks[] = {
    "FW_CRASH_POINT", "FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS", "FLYWHEEL_SERVE_SLOW_DECODE", "FLYWHEEL_SERVE_CONN_MEMORY",
    "fw_serve_fuzz_v1_decode", "fw__crash_point", "FLYWHEEL_TEST_CANARY_FAULT", "FLYWHEEL_TEST_SHADOW_QUEUE",
};
enum { N_HOOKS = sizeof hooks / sizeof *hooks };

/* Which hooks' names occur in the file's bytes (bit i: hooks[i]); -1 when it cannot be read. */
static int scan(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    int found = -1;
    if (b && fread(b, 1, (size_t)n, f) == (size_t)n) {
        found = 0;
        for (int i = 0; i < N_HOOKS; i++)
            if (memmem(b, (size_t)n, hooks[i], strlen(hooks[i]))) found |= 1 << i;
    }
    free(b);
    fclose(f);
    return found;
}

static void test_shipped_has_none(void) {
    const char *bin = fw_test_bin();
    if (!bin) {
        fw_test_fail(__FILE__, __LINE__, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s", bin);
    const char *d = dirname(dir);
    const char *files[] = {bin, "libflywheel.a", "libflywheel.so"};
    for (int k = 0; k < 3; k++) {
        if (k == 0) snprintf(path, sizeof path, "%s", bin);
        else snprintf(path, sizeof path, "%s/%s", d, files[k]);
        int found = scan(path);
        if (found < 0 && k == 2) continue; /* the .so is built by `make all`, not by `make tests` */
        CHECK_MSG(found >= 0, "cannot read %s", path);
        for (int i = 0; found > 0 && i < N_HOOKS; i++)
            CHECK_MSG(!(found & (1 << i)), "%s (shipped) holds the test hook %s", path, hooks[i]);
    }
}

static void test_test_build_has_all(void) {
    const char *tb = getenv("FLYWHEEL_TEST_BIN");
    if (!tb || !*tb) {
        fw_test_fail(__FILE__, __LINE__, "FLYWHEEL_TEST_BIN is not set (run through tests/run.sh)");
        return;
    }
    int found = scan(tb);
    CHECK_MSG(found >= 0, "cannot read %s", tb);
    /* the harness is a library part no CLI command calls: only the names the binary reads */
    for (int i = 0; found >= 0 && i < 4; i++)
        CHECK_MSG(found & (1 << i), "%s (test build) lacks the hook %s", tb, hooks[i]);
}

static void test_env_in_test_build(void) {
    setenv("FW_TEST_HOOKS_PROBE", "7", 1);
    const char *v = FW_TEST_ENV("FW_TEST_HOOKS_PROBE");
    CHECK(v != NULL && strcmp(v, "7") == 0);
    unsetenv("FW_TEST_HOOKS_PROBE");
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_shipped_has_none);
    TEST_RUN(test_test_build_has_all);
    TEST_RUN(test_env_in_test_build);
    return fw_test_report(argv[0]);
}
