/* common.c — owns the small helpers every command file shares: errors and option parsing. */
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

int fw_cli_fail(const char *cmd, int code, const char *fmt, ...) {
    fprintf(stderr, "flywheel %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool fw_cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int fw_cli_opt(int argc, char **argv, int *i, const char *name, const char **val, const char *cmd) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fw_cli_fail(cmd, FW_EXIT_USAGE, "option %s needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}
