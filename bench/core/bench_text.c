/* bench_text.c — CPU cost of the shared text paths (src/core/dtoa.c, json_out.c, decimal.c) against
 * the code they replaced (built from BASE by bench/core/run.sh, symbols renamed old_*): batch and
 * serve number formatting, JSON string escaping, CSV and JSON decimal parsing.
 *   bench_text WORKLOAD old|new   prints "WORKLOAD SIDE ns_per_op=X check=Y" (process CPU time)
 * Workloads: fmt_batch (probabilities + typed decimals, old = batch's fw__fmt_double),
 * fmt_serve (probabilities, old = serve's %.17g fw__fmt_g17), json_batch (old = batch's escaper),
 * json_serve (old = the server's escaper), parse_csv (CSV cells, old = data/scalar.c's parser),
 * parse_json (JSON reals, old = serve's short-decimal fast path + strtod). */
#include "core/buf.h"
#include "core/decimal.h"
#include "core/dtoa.h"
#include "core/json_out.h"
#include "core/rng.h"
#include "data/scalar.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t old_fmt_double(char *out, size_t cap, double v);
size_t old_fmt_g17(double v, char out[32]);
void old_json_put(fw_buf *b, const char *s, size_t n);
void old_json_str(fw_buf *b, const char *s, size_t n);
bool old_parse_number(const char *s, size_t len, double *out, bool *is_int);
bool old_parse_short_decimal(const char *s, size_t n, double *out);

static double cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

enum { N_VALS = 4096 };

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_text WORKLOAD old|new [REPS]\n");
        return 2;
    }
    const char *w = argv[1];
    bool old = strcmp(argv[2], "old") == 0;
    long reps = argc > 3 ? atol(argv[3]) : 400;
    fw_rng r;
    fw_rng_seed(&r, 42);
    static double vals[N_VALS];
    static char cells[N_VALS][32];
    static char strs[N_VALS][48];
    for (int i = 0; i < N_VALS; i++) {
        /* what batch and serve write: scores and probabilities, some typed decimals and integers */
        int kind = i % 8;
        vals[i] = kind < 6 ? 1.0 / (1.0 + exp(-(fw_rng_uniform(&r) * 12 - 6)))
                  : kind == 6 ? (double)fw_rng_below(&r, 100000) / 100.0 : (double)fw_rng_below(&r, 1000);
        /* what CSV cells hold: short decimals, integers, a few long ones */
        if (i % 4 == 3) snprintf(cells[i], sizeof cells[i], "%.17g", fw_rng_uniform(&r) * 100);
        else if (i % 4 == 2) snprintf(cells[i], sizeof cells[i], "%d", (int)fw_rng_below(&r, 100000));
        else snprintf(cells[i], sizeof cells[i], "%.*f", 1 + (int)fw_rng_below(&r, 5), fw_rng_uniform(&r) * 1000 - 500);
        /* strings replies and JSONL carry: ids, class labels, names; one in 8 with UTF-8 */
        snprintf(strs[i], sizeof strs[i], i % 8 ? "user-%06d-%s" : "caf\xc3\xa9-%d-%s", (int)fw_rng_below(&r, 1000000),
                 i % 3 ? "production" : "spam");
    }
    fw_buf b;
    fw_buf_init(&b);
    double check = 0, t0 = cpu_ns();
    long ops = 0;
    char out[40];
    for (long k = 0; k < reps; k++) {
        b.len = 0;
        if (!strcmp(w, "fmt_batch") || !strcmp(w, "fmt_serve")) {
            bool serve = w[4] == 's';
            for (int i = 0; i < N_VALS; i++) {
                size_t n = old ? (serve ? old_fmt_g17(vals[i], out) : old_fmt_double(out, sizeof out, vals[i]))
                               : fw_dtoa(vals[i], out);
                check += (double)n;
            }
        } else if (!strcmp(w, "json_batch") || !strcmp(w, "json_serve")) {
            bool serve = w[5] == 's';
            for (int i = 0; i < N_VALS; i++) {
                size_t n = strlen(strs[i]);
                if (old) serve ? old_json_str(&b, strs[i], n) : old_json_put(&b, strs[i], n);
                else fw_json_put_strn(&b, strs[i], n);
            }
            check += (double)b.len;
        } else if (!strcmp(w, "parse_csv")) {
            for (int i = 0; i < N_VALS; i++) {
                double v = 0;
                size_t n = strlen(cells[i]);
                bool ok = old ? old_parse_number(cells[i], n, &v, NULL) : fw_parse_number(cells[i], n, &v, NULL);
                check += ok ? v : 0;
            }
        } else if (!strcmp(w, "parse_json")) {
            for (int i = 0; i < N_VALS; i++) {
                double v = 0;
                size_t n = strlen(cells[i]);
                if (old) {
                    if (!old_parse_short_decimal(cells[i], n, &v)) v = strtod(cells[i], NULL);
                } else {
                    fw_decimal_parse(cells[i], n, &v, NULL);
                }
                check += v;
            }
        } else {
            fprintf(stderr, "unknown workload %s\n", w);
            return 2;
        }
        ops += N_VALS;
    }
    double ns = (cpu_ns() - t0) / (double)ops;
    printf("%s %s ns_per_op=%.2f check=%.6g\n", w, old ? "old" : "new", ns, check);
    fw_buf_free(&b);
    return 0;
}
