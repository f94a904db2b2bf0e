/* args.h — owns the command line's option parser: every command describes its options in one table
 * (long name, short name, kind, destination, help text) and fw_args_parse reads argv against it;
 * fw_args_help prints the command's --help from the same table, so what --help lists and what the
 * parser accepts cannot disagree.
 *
 * Accepted forms: --name VALUE, --name=VALUE, -x VALUE, -xVALUE, flags alone (--json, -q);
 * "--" ends the options (everything after it is positional); "-" alone is positional.
 * Errors go to stderr as one line "flywheel <cmd>: ..." naming the option and the bad value, and
 * the parse answers exit code 2 (usage). --help / -h prints the help on stdout and answers 0.
 *
 * Example:
 *   const char *model = NULL; int threads = 0; bool quiet = false;
 *   fw_opt opts[] = {
 *       {"--model", 0, FW_OPT_STRING, &model, "REF", "the model"},
 *       {"--threads", 0, FW_OPT_INT, &threads, "N", "scorer threads", FW_OPT_RANGE(threads, 1, 64)},
 *       {"--quiet", 'q', FW_OPT_FLAG, &quiet, NULL, "no progress bar"},
 *   };
 *   fw_args a = {.cmd = "batch", .usage = "usage: ...\n", .opts = opts, .n_opts = 3};
 *   int code;
 *   if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;   // --help (0) or a usage error (2)
 */
#ifndef FW_CLI_ARGS_H
#define FW_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum fw_opt_kind {
    FW_OPT_SECTION = 0, /* not an option: a heading line in --help (help = the heading) */
    FW_OPT_FLAG,        /* bool *dest = true; takes no value */
    FW_OPT_STRING,      /* const char **dest = the value as given */
    FW_OPT_INT,         /* an integer in [min, max] into dest of `size` bytes (4: int, 8: int64_t,
                           long long, size_t, uint64_t); "1e6" is accepted when it is a whole number */
    FW_OPT_DOUBLE,      /* double *dest, a finite number in [lo, hi] */
    FW_OPT_ENUM,        /* int *dest = index of the value in choices (NULL-terminated) */
    FW_OPT_LIST,        /* repeatable: each value appended to const char **dest (cap entries), *count */
} fw_opt_kind;

typedef struct fw_opt {
    const char *name;          /* "--model" (NULL for a section) */
    char short_name;           /* 'q' for -q; 0 = none */
    fw_opt_kind kind;
    void *dest;                /* where the value goes (see fw_opt_kind); untouched when not given */
    const char *meta;          /* the value's placeholder in --help ("FILE"); NULL for flags */
    const char *help;          /* help text; '\n' starts an indented continuation line */
    /* FW_OPT_INT: the range and the destination's size (FW_OPT_RANGE fills all three) */
    int64_t min;
    uint64_t max;
    size_t size;
    /* FW_OPT_DOUBLE: the range */
    double lo, hi;
    const char *expect;        /* what the error says was expected, replacing "an integer in [min, max]" */
    const char *const *choices; /* FW_OPT_ENUM */
    size_t *count;             /* FW_OPT_LIST: values so far; at most cap */
    size_t cap;
    const char *same_as;       /* another spelling of the option of that name (its dest and kind) */
    /* set by the parser */
    unsigned seen;             /* times given (counted on the option same_as names) */
    const char *text;          /* the last value's text as given */
} fw_opt;

/* FW_OPT_INT's range and destination size, e.g. FW_OPT_RANGE(o.threads, 1, 64). */
#define FW_OPT_RANGE(var, lo_, hi_) .min = (lo_), .max = (hi_), .size = sizeof(var)

enum { FW_ARGS_MAX_POS = 16 };

/* A table entry names the fields its kind uses ({name, short, kind, dest, meta, help} and then
 * designated ones); the rest are zero. Files that include this header hold such tables. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct fw_args {
    const char *cmd;           /* errors say "flywheel <cmd>: ..." */
    const char *help_cmd;      /* "see flywheel <help_cmd> --help" (default: cmd) */
    const char *usage;         /* --help: the text before the options */
    const char *epilog;        /* --help: the text after them (may be NULL) */
    fw_opt *opts;
    size_t n_opts;
    size_t max_pos;            /* positional arguments allowed (more: "unexpected argument") */
    const char *pos_name;      /* with max_pos 1: what it is ("data file"); a second one is refused
                                  as "one data file, got 'a' and 'b'" */
    /* results */
    size_t n_pos;
    const char *pos[FW_ARGS_MAX_POS];
    char error[600];           /* the last error's text (without the "flywheel <cmd>: " prefix) */
} fw_args;

/* Parses argv[first..argc) against a->opts. Returns true when the command should go on (values in
 * the destinations, positionals in a->pos); false when it should exit with *exit_code: 0 after
 * printing --help on stdout, 2 after printing a usage error on stderr (also kept in a->error). */
bool fw_args_parse(fw_args *a, int argc, char **argv, int first, int *exit_code);

/* Prints a->usage, the options table ("options:" unless the table starts with a section) and
 * a->epilog. */
void fw_args_help(const fw_args *a, FILE *f);

/* The option of that name (a same_as spelling answers its target), or NULL. */
fw_opt *fw_args_find(const fw_args *a, const char *name);

/* Times the option (or another spelling of it) was given. */
unsigned fw_args_seen(const fw_args *a, const char *name);

#endif
