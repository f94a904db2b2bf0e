/* test.c — owns the harness state: per-test failure counting, the closing line, and the choice of
 * tests by name from the command line (`test_csv NAME...`, `test_csv --list`). */
#include "test.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int fw_test_failed_checks;
const char *fw_test_name = "?";
static int passed, failed;
static char tmpdir[256];

/* The command line's choice: the names (or shell patterns) of the tests to run, or --list. glibc
 * hands every .init_array function the program's arguments, so no test's main has to pass them. */
static int n_wanted;
static char **wanted;
static unsigned char *wanted_hit;
static int list_only;

static void usage(const char *prog) {
    printf("usage: %s [NAME|PATTERN...]   run every test, or only those named (shell patterns: 'test_quote*')\n"
           "       %s --list              print the test names (the program's set-up still runs)\n",
           prog, prog);
}

static void read_command_line(int argc, char **argv, char **envp) {
    (void)envp;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) list_only = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(argv[0]);
            exit(0);
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
            usage(argv[0]);
            exit(2);
        }
    }
    wanted = calloc((size_t)argc, sizeof *wanted);
    wanted_hit = calloc((size_t)argc, 1);
    if (!wanted || !wanted_hit) exit(2);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') wanted[n_wanted++] = argv[i];
}
__attribute__((used, section(".init_array"))) static void (*const fw_test_args_hook)(int, char **, char **) =
    read_command_line;

/* Whether the command line asks for this test (and notes which names matched). */
static int selected(const char *name) {
    if (!n_wanted) return 1;
    int hit = 0;
    for (int i = 0; i < n_wanted; i++)
        if (fnmatch(wanted[i], name, 0) == 0) {
            wanted_hit[i] = 1;
            hit = 1;
        }
    return hit;
}

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
    if (!selected(name)) return;
    if (list_only) {
        printf("%s\n", name);
        return;
    }
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
    for (int i = 0; i < n_wanted; i++)
        if (!wanted_hit[i]) { /* a name that matches no test is a mistake, not a pass */
            fprintf(stderr, "no test named '%s' in %s (--list shows the names)\n", wanted[i], slash ? slash + 1 : program);
            failed++;
        }
    if (list_only) {
        fflush(stdout);
        return failed ? 1 : 0;
    }
    printf("%s: %d passed, %d failed\n", slash ? slash + 1 : program, passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

const char *fw_test_bin(void) {
    const char *b = getenv("FLYWHEEL_BIN");
    return b && access(b, X_OK) == 0 ? b : NULL;
}

bool fw_test_same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = fw_test_slurp(a, &la), *y = fw_test_slurp(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

const char *fw_test_tmp_file(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fw_test_tmpdir(), name);
    return buf[k];
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

const char fw_test_sh_functions[] =
    "fw_project() { fw_ex=\"$1\"; fw_out=\"$2\"; shift 2; "
    "sed \"s#^\\\\(  train: \\\\)\\\\([^/]\\\\)#\\\\1$PWD/examples/$fw_ex/\\\\2#\" \"examples/$fw_ex/flywheel.yaml\" "
    "> \"$fw_out\" || return 1; "
    "for fw_e in \"$@\"; do cp \"$fw_out\" \"$fw_out.before\" && sed -i \"$fw_e\" \"$fw_out\" || return 1; "
    "if cmp -s \"$fw_out\" \"$fw_out.before\"; then "
    "echo \"fw_project: the edit '$fw_e' changed nothing in $fw_out\" >&2; rm -f \"$fw_out.before\"; return 1; fi; "
    "rm -f \"$fw_out.before\"; done; }\n";

void fw_test_uniforms(unsigned *s, double *v, size_t n) {
    for (size_t k = 0; k < n; k++) {
        *s = *s * 1103515245u + 12345u;
        v[k] = (double)((*s >> 8) % 10000) / 5000.0 - 1.0;
    }
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
    char full[sizeof fw_test_sh_functions + sizeof cmd + sizeof log + 32];
    snprintf(full, sizeof full, "%s( %s ) >'%s' 2>&1", fw_test_sh_functions, cmd, log);
    int st = system(full);
    int rc = st == -1 ? 127 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (out) *out = fw_test_slurp(log, NULL);
    unlink(log);
    return rc;
}

size_t fw_test_csv_lines(char *text, char *header, size_t hcap, char **lines, size_t cap) {
    size_t k = 0;
    bool have_header = false;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(l);
        if (n && l[n - 1] == '\r') l[n - 1] = 0;
        if (!have_header) {
            snprintf(header, hcap, "%s", l);
            have_header = true;
        } else if (k < cap) {
            lines[k++] = l;
        }
    }
    return k;
}

void fw_test_v1_row_body(const char *header, const char *line, char *body, size_t cap, char *label, size_t lcap) {
    char hb[512], rb[512], *h[16], *f[16];
    snprintf(hb, sizeof hb, "%s", header);
    snprintf(rb, sizeof rb, "%s", line);
    size_t nh = fw_test_split_commas(hb, h, 16), nf = fw_test_split_commas(rb, f, 16);
    size_t len = (size_t)snprintf(body, cap, "{\"instances\":[{");
    for (size_t k = 0; k + 1 < nh && k + 1 < nf; k++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s\":%s", k ? "," : "", h[k], *f[k] ? f[k] : "null");
    snprintf(body + len, cap - len, "}]}");
    snprintf(label, lcap, "%s", f[nf - 1]);
}

size_t fw_test_split_commas(char *line, char **f, size_t cap) {
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < cap; p++)
        if (*p == ',') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}
