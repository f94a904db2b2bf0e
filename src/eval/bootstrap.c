/* bootstrap.c — owns the percentile bootstrap of test metrics (bootstrap.h): one seeded stream of
 * row draws, every metric recomputed per resample (curves kept small), then the
 * two percentiles of each metric's finite values. */
#include "eval/bootstrap.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "eval/eval_int.h"

#include <math.h>
#include <string.h>

void fw_bootstrap_options_init(fw_bootstrap_options *o) {
    o->n_resamples = 200;
    o->level = 0.95;
    o->seed = 42;
    o->max_work = 2e7;
    o->min_resamples = 50;
}

/* The q-quantile of sorted v[0..n) by linear interpolation (numpy's default). */
static double quantile(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    double f = pos - (double)i;
    return v[i] + f * (v[i + 1] - v[i]);
}

fw_status fw_eval_bootstrap(fw_task task, const double *y, const double *p, size_t n, size_t n_outputs,
                            const fw_eval_options *eo, const fw_bootstrap_options *bo,
                            const fw_metric_set *point, fw_metric_ci **out, size_t *n_out,
                            size_t *n_resamples, fw_err *err) {
    *out = NULL;
    *n_out = 0;
    if (n_resamples) *n_resamples = 0;
    if (task == FW_TASK_RANKING || n < 2 || point->n_items == 0) return FW_OK;
    size_t B = bo->n_resamples;
    if ((double)B * (double)n > bo->max_work) {
        B = (size_t)(bo->max_work / (double)n);
        if (B < bo->min_resamples) B = bo->min_resamples;
    }
    if (B < 2) B = 2;
    size_t ny = task == FW_TASK_MULTILABEL ? n_outputs : 1; /* label values per row */
    size_t np = n_outputs;                                 /* predictions per row */
    size_t m = point->n_items;
    double *yb = fw_malloc(n * ny * sizeof(double));
    double *pb = fw_malloc(n * np * sizeof(double));
    double *vals = fw_malloc(m * B * sizeof(double));
    fw_metric_ci *ci = fw_calloc(m, sizeof *ci);
    fw_status st = FW_ENOMEM;
    if (!yb || !pb || !vals || !ci) goto fail;
    fw_eval_options o = *eo;
    o.max_curve_points = 2;
    fw_rng rng;
    fw_rng_seed(&rng, bo->seed ^ 0x626f6f74ull);
    for (size_t b = 0; b < B; b++) {
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)fw_rng_below(&rng, n);
            memcpy(yb + i * ny, y + j * ny, ny * sizeof(double));
            memcpy(pb + i * np, p + j * np, np * sizeof(double));
        }
        fw_metric_set s;
        fw_metric_set_init(&s);
        st = fw_eval_compute(task, yb, pb, n, n_outputs, &o, &s, err);
        if (st) goto fail;
        for (size_t k = 0; k < m; k++) {
            double v = NAN;
            fw_metric_set_get(&s, point->items[k].name, &v);
            vals[k * B + b] = v;
        }
        fw_metric_set_free(&s);
    }
    double a = (1 - bo->level) / 2;
    for (size_t k = 0; k < m; k++) {
        double *v = vals + k * B;
        size_t f = 0;
        for (size_t b = 0; b < B; b++)
            if (isfinite(v[b])) v[f++] = v[b];
        memcpy(ci[k].name, point->items[k].name, sizeof ci[k].name);
        if (f * 2 < B) { /* mostly undefined (e.g. one class in most resamples) */
            ci[k].lo = ci[k].hi = NAN;
            continue;
        }
        fw__sort_doubles(v, f);
        ci[k].lo = quantile(v, f, a);
        ci[k].hi = quantile(v, f, 1 - a);
    }
    fw_free(yb);
    fw_free(pb);
    fw_free(vals);
    *out = ci;
    *n_out = m;
    if (n_resamples) *n_resamples = B;
    return FW_OK;
fail:
    if (st == FW_ENOMEM) fw_err_set(err, st, "out of memory bootstrapping the test metrics");
    fw_free(yb);
    fw_free(pb);
    fw_free(vals);
    fw_free(ci);
    return st;
}
