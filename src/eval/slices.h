/* slices.h — owns per-slice evaluation: for one group column (per-row int codes + the code
 * names), the metric set on each value's rows, its row count, the gap to the overall figure on
 * the primary metric and a bootstrap confidence interval of it; slices below a minimum size are
 * flagged (their figures are noisy), and a slice is called worse only when its interval excludes
 * the overall figure.
 *
 * Example:
 *   fw_slice_report r;
 *   fw_eval_slices(FW_TASK_BINARY, y, p, n, 1, &opt, "region", codes, names, n_names, 30, &r, &err);
 *   for (size_t i = 0; i < r.n_slices; i++) printf("%s %zu %g\n", r.slices[i].name, ...);
 *   fw_slice_report_free(&r); */
#ifndef FW_EVAL_SLICES_H
#define FW_EVAL_SLICES_H

#include "eval/metrics.h"

typedef struct fw_slice {
    char *name;            /* the group value ("(missing)" for code -1) */
    size_t n_rows;
    bool small;            /* n_rows < min_size */
    bool ok;               /* metrics computed; when false, error says why */
    char error[FW_ERR_MSG_MAX];
    fw_metric_set metrics;
    double primary;        /* primary metric on the slice (NaN when undefined) */
    double gap;            /* primary - overall primary (raw difference; NaN when undefined) */
    double ci_lo, ci_hi;   /* 95% bootstrap interval of primary on the slice (percentile, seeded
                              resampling of the slice's rows; ranking: of its whole queries); NaN
                              when not computed (fewer than 2 rows or queries, metric undefined) */
    bool worse;            /* worse than overall beyond noise: not small, and the whole interval
                              lies on the worse side of the overall figure (no interval: false) */
} fw_slice;

typedef struct fw_slice_report {
    char *column;          /* group column name */
    char primary[FW_METRIC_NAME_MAX];
    double overall;        /* primary metric on all rows */
    size_t min_size;
    fw_slice *slices;      /* in code order; values with no rows are omitted; "(missing)" last */
    size_t n_slices;
} fw_slice_report;

/* Evaluates every slice of one group column. codes[i] in [0, n_names) or -1 (missing); other
 * codes → FW_EINVAL naming the row. Inputs as fw_eval_compute (ranking: opt->query/item are
 * per row and are subset with the rows). A slice whose metrics cannot be computed does not fail
 * the call: it is kept with ok = false and its error. Errors of the overall figure are returned.
 * Free with fw_slice_report_free (also safe after an error). Reentrant. */
fw_status fw_eval_slices(fw_task task, const double *y, const double *p, size_t n,
                         size_t n_outputs, const fw_eval_options *opt, const char *column,
                         const int32_t *codes, const char *const *names, size_t n_names,
                         size_t min_size, fw_slice_report *out, fw_err *err);
void fw_slice_report_free(fw_slice_report *r);

#endif
