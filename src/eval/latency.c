/* latency.c — owns single-row latency measurement (see latency.h). */
#include "eval/latency.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "eval/eval_int.h"

#include <math.h>
#include <string.h>

fw_status fw_eval_latency(const fw_matrix *X, size_t n_outputs, fw_predict_row_fn fn, void *ud,
                          size_t n_calls, size_t warmup, fw_latency *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!X || X->n_rows == 0 || !fn || n_calls == 0)
        return fw_err_set(err, FW_EINVAL, "latency: no rows or no calls to time");
    double *t = fw_malloc(n_calls * sizeof *t);
    double *o = fw_malloc((n_outputs ? n_outputs : 1) * sizeof *o);
    if (!t || !o) {
        fw_free(t);
        fw_free(o);
        return fw_err_set(err, FW_ENOMEM, "latency: out of memory");
    }
    fw_status st = FW_OK;
    for (size_t i = 0; i < warmup + n_calls && !st; i++) {
        size_t r = i % X->n_rows;
        fw_row row = fw_matrix_row(X, r);
        uint64_t a = fw_now_ns();
        st = fn(ud, &row, o);
        uint64_t b = fw_now_ns();
        if (st) fw_err_set(err, st, "latency: predicting row %zu failed: %s", r, fw_strerror(st));
        else if (i >= warmup) t[i - warmup] = (double)(b - a) / 1000.0;
    }
    if (!st) {
        double sum = 0;
        for (size_t i = 0; i < n_calls; i++) sum += t[i];
        fw__sort_doubles(t, n_calls);
        /* nearest rank: the ceil(q * n)-th smallest */
        size_t i50 = (size_t)ceil(0.50 * (double)n_calls), i99 = (size_t)ceil(0.99 * (double)n_calls);
        out->n_calls = n_calls;
        out->p50_us = t[(i50 ? i50 : 1) - 1];
        out->p99_us = t[(i99 ? i99 : 1) - 1];
        size_t i90 = (size_t)ceil(0.90 * (double)n_calls);
        out->p90_us = t[(i90 ? i90 : 1) - 1];
        out->mean_us = sum / (double)n_calls;
        out->max_us = t[n_calls - 1];
    }
    fw_free(t);
    fw_free(o);
    return st;
}

typedef struct model_ctx {
    const fw_model *m;
    void *scratch;
} model_ctx;

static fw_status model_row(void *ud, const fw_row *x, double *out) {
    model_ctx *c = ud;
    return fw_model_predict_row(c->m, x, c->scratch, out);
}

fw_status fw_eval_latency_model(const fw_model *m, const fw_matrix *X, size_t n_calls,
                                fw_latency *out, fw_err *err) {
    if (!m) return fw_err_set(err, FW_EINVAL, "latency: no model");
    size_t sz = fw_model_scratch_size(m);
    unsigned char *raw = fw_malloc(sz + 16);
    if (!raw) return fw_err_set(err, FW_ENOMEM, "latency: out of memory");
    model_ctx c = {m, raw + ((16 - ((uintptr_t)raw & 15)) & 15)};
    size_t warm = n_calls / 10 < 100 ? n_calls / 10 : 100;
    fw_status st = fw_eval_latency(X, m->n_outputs, model_row, &c, n_calls, warm, out, err);
    fw_free(raw);
    return st;
}
