/* perf_int.h — private to src/monitor's live-performance files (perf.c, perf_cbpe.c, perf_store.c):
 * the confidence-based performance estimate (CBPE) of a window and the normal quantile the alarm
 * thresholds use. Not part of any API. */
#ifndef FW_MONITOR_PERF_INT_H
#define FW_MONITOR_PERF_INT_H

#include "eval/metrics.h"

#include <stddef.h>
#include <stdint.h>

enum { FW__CBPE_MAX = 12 };

/* The expected metrics of n rows whose labels are drawn from their (calibrated) scores p, each row
 * weighted by w[i] (NULL: 1; a bootstrap passes draw counts): the expected confusion matrix
 * (binary: tp = sum of p over predicted positives (p >= threshold), fp = sum of 1 - p there, fn and
 * tn likewise; multiclass: row i adds p[i][j] to cell (j, argmax p[i])) and the metrics read off
 * it, named as eval names them:
 *   binary:     accuracy precision recall f1 roc_auc log_loss brier_score_loss
 *               (roc_auc: the expected ROC curve, true and false positive rates from the cumulated
 *               p and 1 - p down the scores, as NannyML's CBPE; order = rows by descending score,
 *               ties together; log_loss: the mean entropy; brier: mean p (1 - p))
 *   multiclass: accuracy f1_macro f1_micro f1_weighted precision_macro recall_macro log_loss
 *               top_k_accuracy (k = top_k)
 * Writes at most FW__CBPE_MAX metrics to out and returns how many (0: regression, or n = 0);
 * top_k 0 leaves top_k_accuracy NaN (it costs K^2 per row).
 * se (NULL: not wanted) gets each metric's standard error over windows of this size, analytic:
 * the sample standard error of the mean of the per-row contributions for accuracy, log loss,
 * Brier and top-k accuracy (exact for a mean of independent rows); binary precision, recall, F1
 * and AUC by the delta method over each row's influence (ratios of row sums; the AUC a ratio of
 * V-statistics: needs order); multiclass macro averages the binomial errors of the per-class
 * ratios combined — those of the realized metric, label noise included: wider than the
 * estimate's own, so there the estimate alarm errs on the side of not alarming.
 * k = n_outputs. Reentrant; does not allocate (multiclass: scratch of K * (K + 3) doubles
 * supplied by the caller). */
size_t fw__cbpe(fw_task task, const double *p, const double *w, const uint32_t *order, size_t n, size_t k,
                double threshold, size_t top_k, double *scratch, fw_metric *out, double *se);

/* The standard normal quantile of q in (0, 1) (bisection on erfc, to 1e-12). */
double fw__norm_quantile(double q);

#endif
