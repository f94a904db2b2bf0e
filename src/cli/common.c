/* common.c — owns the small helpers every command file shares: errors and the --help test (options: args.c). */
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
