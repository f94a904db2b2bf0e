/* bench_perf.c — CPU cost of the live-performance tracker (src/monitor/perf.c): process CPU ns per
 * fw_perf_observe (binary model, one slice column, estimate windows closing every 500 rows
 * included) and per fw_perf_label (joins from the table, realized windows with their bootstrap
 * and slices included), and the cost of one realized window close.
 *   bench_perf [N]   prints "observe ns_per_op=X", "label ns_per_op=Y", "window ms_per_op=Z" */
#include "monitor/perf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 200000;
    static const char *const inputs[] = {"x", "g"};
    static const char *const groups[] = {"g"};
    static const char *const classes[] = {"no", "yes"};
    fw_perf_model pm = {.task = FW_TASK_BINARY, .n_outputs = 1, .classes = classes, .n_classes = 2, .threshold = 0.5,
                        .reference = 0.8, .reference_rows = 2000, .input_names = inputs, .n_inputs = 2,
                        .slice_columns = groups, .n_slice_columns = 1};
    fw_perf_settings ps;
    fw_perf_settings_init(&ps);
    fw_perf *p;
    fw_err err;
    if (fw_perf_new(&pm, &ps, &p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char (*rid)[24] = malloc(n * sizeof *rid);
    double *s = malloc(n * sizeof *s), *y = malloc(n * sizeof *y);
    static const char *const g[] = {"north", "south", "east", "west"};
    unsigned long long x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        snprintf(rid[i], sizeof rid[i], "%016zx-%zu", i * 2654435761u, i);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s[i] = (double)(x % 1000) / 1000;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        y[i] = (double)(x % 1000) / 1000 < s[i];
    }
    fw_alarm al[4];
    double t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        fw_value in[2] = {{.kind = FW_VALUE_NUMBER, .num = s[i]},
                          {.kind = FW_VALUE_STRING, .str = g[i & 3], .len = strlen(g[i & 3])}};
        fw_perf_observe(p, rid[i], strlen(rid[i]), &s[i], in, i, 0, al, 4);
    }
    double t1 = cpu_ns();
    /* the last table_slots predictions are still in the table: label those */
    size_t from = n > ps.table_slots ? n - ps.table_slots : 0;
    for (size_t i = from; i < n; i++) fw_perf_label(p, rid[i], strlen(rid[i]), y[i], 0, al, 4);
    double t2 = cpu_ns();
    fw_perf_summary su;
    fw_perf_summary_get(p, &su);
    printf("observe ns_per_op=%.1f (%zu predictions, %llu estimate windows)\n", (t1 - t0) / (double)n, n,
           (unsigned long long)su.estimate_windows);
    printf("label ns_per_op=%.1f (%llu of the last %zu predictions still in the table, %llu windows)\n",
           (t2 - t1) / (double)(n - from), (unsigned long long)su.joined, n - from, (unsigned long long)su.windows);
    printf("window ms_per_op=%.2f\n", su.windows ? (t2 - t1) / 1e6 / (double)su.windows : NAN);
    fw_perf_free(p);
    free(rid);
    free(s);
    free(y);
    return su.joined ? 0 : 1;
}
