/* test_args.c — the command line's option parser (src/cli/args.c) on its own: every kind of option,
 * both value forms, short names, "--" and "-", and the usage errors (unknown option, missing value,
 * bad number, a value given twice, too many values) with the option and the value named; and the
 * --help it generates from the table. Then the same through the real binary, for each command. */
#include "test.h"

#include "cli/args.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The options of one made-up command, fresh for each parse. */
typedef struct vals {
    const char *model, *list[3];
    size_t n_list;
    bool quiet, json;
    int threads, mode;
    size_t rows;
    uint64_t seed;
    double frac;
    fw_opt opts[12];
    fw_args a;
} vals;

static const char *const modes[] = {"fast", "exact", NULL};

static void setup(vals *v) {
    memset(v, 0, sizeof *v);
    v->threads = -7; /* untouched unless given */
    v->mode = -1;
    const fw_opt t[] = {
        {"--model", 'm', FW_OPT_STRING, &v->model, "REF", "the model"},
        {"--input", 0, FW_OPT_STRING, NULL, "FILE", "the same as --model", .same_as = "--model"},
        {"--quiet", 'q', FW_OPT_FLAG, &v->quiet, NULL, "no progress"},
        {.kind = FW_OPT_SECTION, .help = "more:"},
        {"--json", 0, FW_OPT_FLAG, &v->json, NULL, "JSON\nout"},
        {"--threads", 0, FW_OPT_INT, &v->threads, "N", "threads", FW_OPT_RANGE(v->threads, 1, 64)},
        {"--rows", 0, FW_OPT_INT, &v->rows, "N", "rows", FW_OPT_RANGE(v->rows, 1, 1000000000000)},
        {"--seed", 0, FW_OPT_INT, &v->seed, "N", "seed", FW_OPT_RANGE(v->seed, 0, UINT64_MAX),
         .expect = "a non-negative integer"},
        {"--fraction", 0, FW_OPT_DOUBLE, &v->frac, "F", "fraction", .lo = 0, .hi = 1},
        {"--mode", 0, FW_OPT_ENUM, &v->mode, NULL, "mode", .choices = modes},
        {"--group", 'g', FW_OPT_LIST, v->list, "COL", "group (repeatable)", .count = &v->n_list, .cap = 3},
    };
    memcpy(v->opts, t, sizeof t);
    v->a = (fw_args){.cmd = "demo", .usage = "usage: flywheel demo [options] FILE\n\n", .epilog = "the end\n",
                     .opts = v->opts, .n_opts = sizeof t / sizeof *t, .max_pos = 2};
}

/* Parses the words (NULL-terminated) after a command name; returns the exit code, -1 to go on. */
static int run(vals *v, const char *const *words) {
    char *argv[32];
    int argc = 0;
    argv[argc++] = "demo";
    for (; *words && argc < 31; words++) argv[argc++] = (char *)*words;
    argv[argc] = NULL;
    setup(v);
    int code = 99;
    return fw_args_parse(&v->a, argc, argv, 1, &code) ? -1 : code;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_values_both_forms(void) {
    vals v;
    CHECK_EQ(run(&v, WORDS("--model", "a@1", "--threads=4", "data.csv", "--quiet", "--rows", "1e6", "--seed",
                           "18446744073709551615", "--fraction=0.25", "--mode", "exact", "--group", "x", "-g", "y",
                           "--group=z")),
             -1);
    CHECK_STR(v.model, "a@1");
    CHECK_EQ(v.threads, 4);
    CHECK_EQ(v.rows, 1000000);
    CHECK(v.seed == UINT64_MAX);
    CHECK_NEAR(v.frac, 0.25, 0);
    CHECK_EQ(v.mode, 1);
    CHECK(v.quiet && !v.json);
    CHECK_EQ(v.n_list, 3);
    CHECK_STR(v.list[0], "x");
    CHECK_STR(v.list[2], "z");
    CHECK_EQ(v.a.n_pos, 1);
    CHECK_STR(v.a.pos[0], "data.csv");
    CHECK_EQ(fw_args_seen(&v.a, "--threads"), 1);
    CHECK_EQ(fw_args_seen(&v.a, "--json"), 0);
    /* not given: the destination keeps its default */
    CHECK_EQ(run(&v, WORDS("x")), -1);
    CHECK_EQ(v.threads, -7);
    CHECK_EQ(v.mode, -1);
    CHECK(v.model == NULL);
}

static void test_short_names_and_aliases(void) {
    vals v;
    CHECK_EQ(run(&v, WORDS("-m", "m1", "-q")), -1);
    CHECK_STR(v.model, "m1");
    CHECK(v.quiet);
    CHECK_EQ(run(&v, WORDS("-mm2")), -1);
    CHECK_STR(v.model, "m2");
    /* another spelling writes the same destination and counts as the same option */
    CHECK_EQ(run(&v, WORDS("--input", "in.csv")), -1);
    CHECK_STR(v.model, "in.csv");
    CHECK_EQ(fw_args_seen(&v.a, "--model"), 1);
    CHECK_EQ(run(&v, WORDS("--input", "a", "--model", "b")), 2);
    CHECK_CONTAINS(v.a.error, "--model: given twice ('a', then 'b')");
}

static void test_end_of_options(void) {
    vals v;
    /* after "--" everything is positional, even words that look like options; "-" alone is one too */
    CHECK_EQ(run(&v, WORDS("--quiet", "--", "--json")), -1);
    CHECK(v.quiet && !v.json);
    CHECK_EQ(v.a.n_pos, 1);
    CHECK_STR(v.a.pos[0], "--json");
    CHECK_EQ(run(&v, WORDS("-", "--", "-q")), -1);
    CHECK_EQ(v.a.n_pos, 2);
    CHECK_STR(v.a.pos[0], "-");
    CHECK_STR(v.a.pos[1], "-q");
    CHECK(!v.quiet);
    /* a value may start with '-' (a negative number, a dash file name) */
    CHECK_EQ(run(&v, WORDS("--model", "-x-")), -1);
    CHECK_STR(v.model, "-x-");
}

static void test_unknown_option(void) {
    vals v;
    CHECK_EQ(run(&v, WORDS("--modle", "x")), 2);
    CHECK_STR(v.a.error, "unknown option '--modle' (see flywheel demo --help)");
    CHECK_EQ(run(&v, WORDS("--modle=x")), 2);
    CHECK_STR(v.a.error, "unknown option '--modle' (see flywheel demo --help)");
    CHECK_EQ(run(&v, WORDS("-z")), 2);
    CHECK_CONTAINS(v.a.error, "unknown option '-z'");
}

static void test_missing_value(void) {
    vals v;
    CHECK_EQ(run(&v, WORDS("x", "--model")), 2);
    CHECK_STR(v.a.error, "option --model needs a value");
    /* the next word is another option of the command: not taken as the value */
    CHECK_EQ(run(&v, WORDS("--model", "--quiet")), 2);
    CHECK_STR(v.a.error, "option --model needs a value (got the option '--quiet')");
    CHECK_EQ(run(&v, WORDS("--quiet=yes")), 2);
    CHECK_STR(v.a.error, "option --quiet takes no value (got 'yes')");
}

static void test_bad_numbers(void) {
    vals v;
    CHECK_EQ(run(&v, WORDS("--threads", "abc")), 2);
    CHECK_STR(v.a.error, "--threads: expected an integer in [1, 64], got 'abc'");
    CHECK_EQ(run(&v, WORDS("--threads=65")), 2);
    CHECK_STR(v.a.error, "--threads: expected an integer in [1, 64], got '65'");
    CHECK_EQ(run(&v, WORDS("--threads", "2.5")), 2);
    CHECK_EQ(run(&v, WORDS("--threads", "")), 2);
    CHECK_EQ(run(&v, WORDS("--threads", "0")), 2);
    CHECK_EQ(run(&v, WORDS("--seed", "-1")), 2);
    CHECK_STR(v.a.error, "--seed: expected a non-negative integer, got '-1'");
    CHECK_EQ(run(&v, WORDS("--seed", "18446744073709551616")), 2); /* 2^64 */
    CHECK_EQ(run(&v, WORDS("--fraction", "1.5")), 2);
    CHECK_STR(v.a.error, "--fraction: expected a number in [0, 1], got '1.5'");
    CHECK_EQ(run(&v, WORDS("--fraction", "nan")), 2);
    CHECK_EQ(run(&v, WORDS("--fraction", "0.5x")), 2);
    CHECK_EQ(run(&v, WORDS("--mode", "slow")), 2);
    CHECK_STR(v.a.error, "--mode: expected one of fast, exact, got 'slow'");
    CHECK_EQ(v.threads, -7); /* a refused value is not stored */
}

static void test_repeated(void) {
    vals v;
    /* a value option given twice with two values is ambiguous: refused, naming both */
    CHECK_EQ(run(&v, WORDS("--threads", "2", "--threads", "3")), 2);
    CHECK_STR(v.a.error, "--threads: given twice ('2', then '3')");
    /* the same value twice, and a flag twice, are harmless */
    CHECK_EQ(run(&v, WORDS("--threads", "2", "--threads=2", "-q", "--quiet")), -1);
    CHECK_EQ(v.threads, 2);
    /* a repeatable option collects each value, up to its limit */
    CHECK_EQ(run(&v, WORDS("-g", "a", "-g", "b", "-g", "c", "-g", "d")), 2);
    CHECK_STR(v.a.error, "-g: at most 3");
    /* positionals beyond the command's limit */
    CHECK_EQ(run(&v, WORDS("a", "b", "c")), 2);
    CHECK_STR(v.a.error, "unexpected argument 'c' (see flywheel demo --help)");
}

static void test_help_from_the_table(void) {
    vals v;
    setup(&v);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fw_args_help(&v.a, f);
    fclose(f);
    CHECK_CONTAINS(buf, "usage: flywheel demo [options] FILE\n\noptions:\n");
    CHECK_CONTAINS(buf, "  -m, --model REF    the model\n");
    CHECK_CONTAINS(buf, "  --input FILE       the same as --model\n");
    CHECK_CONTAINS(buf, "more:\n  --json             JSON\n                     out\n");
    CHECK_CONTAINS(buf, "  --mode fast|exact  mode\n");
    CHECK_CONTAINS(buf, "  -g, --group COL    group (repeatable)\n");
    CHECK_CONTAINS(buf, "the end\n");
    /* every option of the table is in the help */
    for (size_t i = 0; i < v.a.n_opts; i++)
        if (v.opts[i].name) CHECK_MSG(strstr(buf, v.opts[i].name), "%s missing from --help", v.opts[i].name);
    free(buf);
    /* --help and -h stop the parse with exit 0, wherever they stand */
    CHECK_EQ(run(&v, WORDS("--threads", "2", "--help", "--nonsense")), 0);
    CHECK_EQ(run(&v, WORDS("-h")), 0);
    /* after "--" it is a positional */
    CHECK_EQ(run(&v, WORDS("--", "--help")), -1);
}

/* The real binary: each command's --help lists every option it parses, and the errors are one
 * line naming the option and the value, exit 2. */
static void test_binary_usage_errors(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    static const struct {
        const char *args, *expect;
    } cases[] = {
        {"train examples/pima/flywheel.yaml --threads x", "flywheel train: --threads: expected an integer in [0, 256], got 'x'"},
        {"train examples/pima/flywheel.yaml --seed=-3", "flywheel train: --seed: expected a non-negative integer, got '-3'"},
        {"train examples/pima/flywheel.yaml --task bin", "flywheel train: --task: expected one of binary, multiclass, multilabel, regression, ranking, got 'bin'"},
        {"train examples/pima/flywheel.yaml --label", "flywheel train: option --label needs a value"},
        {"train a.yaml b.yaml", "flywheel train: one project or data file, got 'a.yaml' and 'b.yaml'"},
        {"train examples/pima/flywheel.yaml --models linear --models gbdt", "flywheel train: --models: given twice ('linear', then 'gbdt')"},
        {"eval --model a@1 --model b@1 x.csv", "flywheel eval: --model: given twice ('a@1', then 'b@1')"},
        {"eval m@1 d.csv --threshold 2", "flywheel eval: --threshold: expected a number in [0, 1], got '2'"},
        {"batch --model m --input x.csv --top-k 0", "flywheel batch: --top-k: expected an integer in [1, 1000000], got '0'"},
        {"batch --model m --input x.csv --json", "flywheel batch: unknown option '--json' (see flywheel batch --help)"},
        {"batch history --limit=0", "flywheel batch: --limit: expected an integer in [1, 1000000], got '0'"},
        {"batch history a b", "flywheel batch: unexpected argument 'b' (see flywheel batch history --help)"},
        {"serve --port 70000", "flywheel serve: --port: expected an integer in [0, 65535], got '70000'"},
        {"serve --max-body 1", "flywheel serve: --max-body: expected a number in [64, 1.07374e+09], got '1'"},
        {"describe x.csv --sample-rows 0", "flywheel describe: --sample-rows: expected a positive integer, got '0'"},
        {"describe x.csv --json=1", "flywheel describe: option --json takes no value (got '1')"},
        {"models list --min-improvement -1", "flywheel models: --min-improvement: expected a number >= 0, got '-1'"},
        {"models list --bogus", "flywheel models: unknown option '--bogus' (see flywheel models --help)"},
        {"reproduce a@1 --home", "flywheel reproduce: option --home needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *o = NULL;
        /* (a trailing --home keeps every case away from a real home; the cases whose last option
         * misses its value then read "needs a value (got the option '--home')") */
        int rc = fw_test_sh(&o, "\"$FW\" %s --home \"$T/none\" 2>&1 >/dev/null", cases[i].args);
        CHECK_MSG(rc == 2, "%s: exit %d: %s", cases[i].args, rc, o ? o : "");
        CHECK_MSG(o && strncmp(o, cases[i].expect, strlen(cases[i].expect)) == 0 && strchr(o, '\n') &&
                      strchr(o, '\n')[1] == '\0',
                  "%s:\n  got      %s  expected %s", cases[i].args, o ? o : "(null)", cases[i].expect);
        free(o);
    }
    /* each command's --help lists the options it accepts, and --help of every command exits 0 */
    static const char *const helps[][2] = {
        {"train", "--time-budget SECONDS"}, {"eval", "--threshold T"},        {"batch", "--checkpoint-rows N"},
        {"batch history", "--limit N"},      {"serve", "--alias-poll S"},      {"describe", "--sample-rows N"},
        {"reproduce", "--data FILE"},        {"models", "--min-improvement X"},
        {"monitor", "--label COL"},
    };
    for (size_t i = 0; i < sizeof helps / sizeof *helps; i++) {
        char *o = NULL;
        CHECK_EQ(fw_test_sh(&o, "\"$FW\" %s --help", helps[i][0]), 0);
        CHECK_CONTAINS(o, helps[i][1]);
        free(o);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_values_both_forms);
    TEST_RUN(test_short_names_and_aliases);
    TEST_RUN(test_end_of_options);
    TEST_RUN(test_unknown_option);
    TEST_RUN(test_missing_value);
    TEST_RUN(test_bad_numbers);
    TEST_RUN(test_repeated);
    TEST_RUN(test_help_from_the_table);
    TEST_RUN(test_binary_usage_errors);
    return fw_test_report(argv[0]);
}
