/* eval_int.h — private helpers shared by the files of src/eval (not part of the API): the binary
 * score curve (cumulative true/false positives per distinct threshold, as sklearn's
 * _binary_clf_curve), stable index sorting, and the per-task fillers fw_eval_compute calls. */
#ifndef FW_EVAL_INT_H
#define FW_EVAL_INT_H

#include "eval/metrics.h"

#include <stddef.h>
#include <stdint.h>

/* Cumulative counts at each distinct score, scores descending: predicting "positive when
 * p >= thr[i]" gives tps[i] true and fps[i] false positives. */
typedef struct fw__bcurve {
    size_t n;          /* distinct thresholds */
    double *thr, *tps, *fps;
    double pos, neg;   /* totals */
} fw__bcurve;

/* Builds the curve over rows with y in {0,1} (rows with y = -1 are skipped). FW_OK / FW_ENOMEM. */
fw_status fw__bcurve_build(const double *y, const double *p, size_t n, size_t stride,
                           fw__bcurve *c);
void fw__bcurve_free(fw__bcurve *c);
double fw__bcurve_roc_auc(const fw__bcurve *c);          /* NaN with one class */
double fw__bcurve_average_precision(const fw__bcurve *c); /* NaN without positives */
double fw__bcurve_pr_auc(const fw__bcurve *c);            /* NaN without positives */

/* Indices 0..n-1 sorted by key descending, ties by index ascending (stable). fw_malloc'd. */
uint32_t *fw__argsort_desc(const double *key, size_t n);
/* Ascending sort of doubles in place. */
void fw__sort_doubles(double *v, size_t n);

/* Per-task fillers (inputs already validated by fw_eval_compute). */
fw_status fw__eval_binary(const double *y, const double *p, size_t n, const fw_eval_options *o,
                          fw_metric_set *s, fw_err *err);
fw_status fw__eval_calibration(const double *y, const double *p, size_t n, size_t bins,
                               fw_metric_set *s);
fw_status fw__eval_multiclass(const double *y, const double *p, size_t n, size_t k,
                              const fw_eval_options *o, fw_metric_set *s, fw_err *err);
fw_status fw__eval_multilabel(const double *y, const double *p, size_t n, size_t l,
                              const fw_eval_options *o, fw_metric_set *s, fw_err *err);
fw_status fw__eval_regression(const double *y, const double *p, size_t n, fw_metric_set *s,
                              fw_err *err);
fw_status fw__eval_ranking(const double *y, const double *p, size_t n, const fw_eval_options *o,
                           fw_metric_set *s, fw_err *err);

/* Parses "name@k": copies the base into base (size FW_METRIC_NAME_MAX) and sets *k (0 = none).
 * Returns false on a malformed k. */
bool fw__metric_split_k(const char *name, char *base, size_t *k);

#endif
