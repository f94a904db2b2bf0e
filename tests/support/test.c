/* test.c — owns the harness state: per-test failure counting and the closing line. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int fw_test_failed_checks;
const char *fw_test_name = "?";
static int passed, failed;
static char tmpdir[256];

void fw_test_fail(const char *file, int line, const char *fmt, ...) {
    fw_test_failed_checks++;
    fprintf(stderr, "  FAIL %s (%s:%d): ", fw_test_name, file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A check that failed outside any test (a program's set-up, or between two tests) is a failure too:
 * it is counted once, as "(outside a test)", before the next test starts or at the report. */
static void count_stray_failures(void) {
    if (!fw_test_failed_checks) return;
    failed++;
    fprintf(stderr, "not ok (outside a test, after %s)\n", fw_test_name);
    fw_test_failed_checks = 0;
}

void fw_test_run(const char *name, void (*fn)(void)) {
    count_stray_failures();
    fw_test_name = name;
    fw_test_failed_checks = 0;
    fn();
    if (fw_test_failed_checks) {
        failed++;
        fprintf(stderr, "not ok %s\n", name);
        fw_test_failed_checks = 0;
    } else {
        passed++;
        if (getenv("FW_TEST_VERBOSE")) fprintf(stderr, "ok %s\n", name);
    }
}

static void rm_tmpdir(void) {
    if (!tmpdir[0] || getenv("FW_TEST_KEEP")) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *fw_test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/fwtest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *fw_test_shared(const char *file) {
    static char path[1024];
    const char *dirs[] = {getenv("FW_SHARED_DATASETS"), "../shared/datasets", "../../shared/datasets"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (!dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        if (access(path, R_OK) == 0) return path;
    }
    return NULL;
}

int fw_test_report(const char *program) {
    count_stray_failures();
    const char *slash = strrchr(program, '/');
    printf("%s: %d passed, %d failed\n", slash ? slash + 1 : program, passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

const char *fw_test_bin(void) {
    const char *b = getenv("FLYWHEEL_BIN");
    return b && access(b, X_OK) == 0 ? b : NULL;
}

char *fw_test_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) b = realloc(b, cap *= 2);
        size_t got = fread(b + n, 1, cap - n - 1, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

int fw_test_sh(char **out, const char *fmt, ...) {
    char cmd[8192], log[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    static int seq;
    snprintf(log, sizeof log, "%s/.sh.%d.log", fw_test_tmpdir(), seq++);
    const char *bin = fw_test_bin();
    setenv("FW", bin ? bin : "false", 1);
    setenv("T", fw_test_tmpdir(), 1);
    char full[sizeof cmd + sizeof log + 32];
    snprintf(full, sizeof full, "( %s ) >'%s' 2>&1", cmd, log);
    int st = system(full);
    int rc = st == -1 ? 127 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (out) *out = fw_test_slurp(log, NULL);
    unlink(log);
    return rc;
}
