/* bootstrap.h — owns confidence intervals for test metrics: the percentile bootstrap (resample the
 * test rows with replacement, recompute every metric, take the 2.5th and 97.5th percentiles).
 * Seeded, so the same predictions and seed give the same intervals on every machine.
 *
 * Ranking is not resampled (its rows are not independent: a query's rows go together), so a
 * ranking metric set gets no intervals.
 *
 * Example:
 *   fw_bootstrap_options bo; fw_bootstrap_options_init(&bo); bo.seed = 42;
 *   fw_metric_ci *ci; size_t n;
 *   if (fw_eval_bootstrap(task, y, p, n_rows, k, &eo, &bo, &point, &ci, &n, &err) == FW_OK) ...
 *   fw_free(ci); */
#ifndef FW_EVAL_BOOTSTRAP_H
#define FW_EVAL_BOOTSTRAP_H

#include "eval/metrics.h"

/* A metric's interval: NaN bounds when too few resamples gave a finite value. */
typedef struct fw_metric_ci {
    char name[FW_METRIC_NAME_MAX];
    double lo, hi;
} fw_metric_ci;

typedef struct fw_bootstrap_options {
    size_t n_resamples;   /* default 200 */
    double level;         /* default 0.95 */
    uint64_t seed;        /* default 42 */
    double max_work;      /* rows x resamples at most (default 4e6): more rows, fewer resamples,
                             never fewer than min_resamples; past that, each resample draws
                             m = max_work / min_resamples rows (m-out-of-n bootstrap) and the
                             deviations from the point value shrink by sqrt(m / n) */
    size_t min_resamples; /* default 50 */
    int threads;          /* resamples computed on this many threads (default 1); the draws and
                             so the intervals do not depend on it */
} fw_bootstrap_options;
void fw_bootstrap_options_init(fw_bootstrap_options *o);

/* Intervals for every metric of `point` (the metrics of the same y, p, n, n_outputs, eo — as
 * fw_eval_compute filled them), in point's order. *out is fw_malloc'd (caller frees with fw_free);
 * *n_out is 0 (and *out NULL) for ranking or n < 2. *n_resamples (optional) gets the resamples
 * used. Errors: FW_ENOMEM, or what fw_eval_compute returns. Reentrant. */
fw_status fw_eval_bootstrap(fw_task task, const double *y, const double *p, size_t n, size_t n_outputs,
                            const fw_eval_options *eo, const fw_bootstrap_options *bo,
                            const fw_metric_set *point, fw_metric_ci **out, size_t *n_out,
                            size_t *n_resamples, fw_err *err);

#endif
