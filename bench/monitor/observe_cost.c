/* observe_cost.c — CPU cost of fw_monitor_observe per prediction (issue 17: <= 2 us for 50
 * columns): a model of COLS numeric inputs (default 50; the bare model has no pipeline, so every input is numeric) and
 * its reference built from 5,000 synthetic rows; ROWS observations (default 1,000,000) with
 * values cycling through fresh rows of the same distribution, every block closed and tested
 * (detectors, quality, latency) on the observing thread, as in the server. THREADS threads observe
 * concurrently (default 1). BINARY=1: a binary classifier (the live-metric tracker then keeps an
 * estimate window and, with RID=1, every observation carries a fresh request id that goes into the
 * join table — what the server does for a classifier). Prints CPU ns and wall ns per observation
 * (the CPU figure is the one to compare on a busy machine). TIME=1: the server's default windows
 * by time (block_seconds 300, every observation stamped by the clock under the count lock). */
#include "core/alloc.h"
#include "core/clock.h"
#include "data/load.h"
#include "monitor/monitor.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    fw_monitor *mon;
    const fw_value *vals; /* n_pool x cols */
    size_t n_pool, cols, rows;
    const char *rids;     /* rows x 24 request ids, or NULL */
    size_t rid0;
    int64_t ts;           /* the observations' ts_ms: -1 none (a replay), 0 the clock (the server) */
} job;

static void *run(void *p) {
    job *j = p;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (j->rid0 + 1); /* outputs drawn i.i.d. per thread: a
                                                          * deterministic cycle (r % 97) is not, and
                                                          * two threads' cycles made the score CUSUM
                                                          * flap (~300 alarms per 1M rows) */
    for (size_t r = 0; r < j->rows; r++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double out = (double)(seed >> 11) * 0x1p-53;
        const char *rid = j->rids ? j->rids + (j->rid0 + r) * 24 : NULL;
        fw_monitor_obs o = {.values = j->vals + (r % j->n_pool) * j->cols, .outputs = &out, .latency_ms = 0.05,
                            .ts_ms = j->ts, .request_id = rid, .request_id_len = rid ? strlen(rid) : 0};
        fw_monitor_observe(j->mon, &o);
    }
    return NULL;
}

static unsigned lcg(unsigned *s) { return *s = *s * 1103515245u + 12345u; }

int main(void) {
    size_t cols = getenv("COLS") ? (size_t)atol(getenv("COLS")) : 50;
    size_t rows = getenv("ROWS") ? (size_t)atol(getenv("ROWS")) : 1000000;
    int threads = getenv("THREADS") ? atoi(getenv("THREADS")) : 1;
    const size_t n_ref = 5000, n_pool = 4096;
    char path[] = "/tmp/fw-observe-cost-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return 1;
    for (size_t c = 0; c < cols; c++) fprintf(f, "%sc%zu", c ? "," : "", c);
    fputc('\n', f);
    unsigned s = 7;
    for (size_t r = 0; r < n_ref; r++)
        for (size_t c = 0; c < cols; c++) {
            fprintf(f, "%.4f", (double)((lcg(&s) >> 8) % 100000) / 1000.0);
            fputc(c + 1 < cols ? ',' : '\n', f);
        }
    fclose(f);
    fw_err err;
    fw_dataset *ds;
    if (fw_data_load(path, NULL, &ds, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    remove(path);
    const char **names = calloc(cols, sizeof *names);
    for (size_t c = 0; c < cols; c++) names[c] = ds->cols[c].name;
    double *pred = calloc(n_ref, sizeof *pred);
    for (size_t r = 0; r < n_ref; r++) pred[r] = (double)(r % 100) / 100.0;
    fw_reference *ref;
    if (fw_reference_build(ds, NULL, 0, names, cols, pred, n_ref, 1, 0, &ref, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fw_srv_model *m = fw_srv_model_new("bench", "1");
    fw_srv_model_set_inputs(m, names, cols);
    m->task = FW_TASK_REGRESSION;
    m->n_outputs = 1;
    bool binary = getenv("BINARY") && atoi(getenv("BINARY"));
    if (binary) {
        m->task = FW_TASK_BINARY;
        m->classes = fw_calloc(2, sizeof *m->classes);
        m->classes[0] = fw_strdup("neg");
        m->classes[1] = fw_strdup("pos");
        m->n_classes = 2;
        m->threshold = 0.5;
    }
    char *rids = NULL;
    if (getenv("RID") && atoi(getenv("RID"))) {
        rids = malloc((rows + 20000) * 24);
        for (size_t r = 0; r < rows + 20000; r++) snprintf(rids + r * 24, 24, "req-%zu", r);
    }
    fw_value *vals = calloc(n_pool * cols, sizeof *vals);
    for (size_t r = 0; r < n_pool; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t src = (r * 7919) % n_ref;
            const fw_column *col = &ds->cols[c];
            vals[r * cols + c] = col->num ? (fw_value){FW_VALUE_NUMBER, col->num[src], NULL, 0}
                                          : (fw_value){FW_VALUE_STRING, 0, fw_dict_str(&col->dict, col->code[src]),
                                                       fw_dict_len(&col->dict, col->code[src])};
        }
    fw_monitor_settings ms;
    fw_monitor_settings_init(&ms);
    ms.reference = ref;
    bool timed = getenv("TIME") && atoi(getenv("TIME")); /* the server's default: block_s 300, clock stamps */
    if (timed) ms.block_seconds = 300;
    fw_monitor *mon;
    if (fw_monitor_new(m, &ms, &mon, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    job j = {mon, vals, n_pool, cols, 20000, rids, 0, timed ? 0 : -1};
    run(&j); /* warm-up */
    j.rows = rows / (size_t)threads;
    pthread_t t[64];
    job jt[64];
    double c0 = fw_cpu_seconds(), w0 = fw_now_seconds();
    for (int i = 0; i < threads; i++) {
        jt[i] = j;
        jt[i].rid0 = 20000 + (size_t)i * j.rows;
        pthread_create(&t[i], NULL, run, &jt[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double cpu = fw_cpu_seconds() - c0, wall = fw_now_seconds() - w0;
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    uint64_t raised = 0;
    for (int i = 0; i < FW_ALARM_KIND_COUNT; i++) raised += k.raised[i];
    size_t n = j.rows * (size_t)threads;
    printf("%s%scols=%zu threads=%d rows=%zu cpu_ns_per_obs=%.0f wall_ns_per_obs=%.0f blocks=%llu alarms=%llu\n",
           binary ? (rids ? "binary+rid " : "binary ") : "", timed ? "time " : "", cols,
           threads, n, cpu / (double)n * 1e9, wall / (double)n * 1e9, (unsigned long long)k.blocks,
           (unsigned long long)raised);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
    fw_reference_free(ref);
    fw_dataset_free(ds);
    free(vals);
    free(names);
    free(pred);
    free(rids);
    return 0;
}
