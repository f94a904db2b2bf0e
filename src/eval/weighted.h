/* weighted.h — owns the metrics weighted by a per-row weight (the project's data.weight column):
 * each is scikit-learn's metric with sample_weight = w, so a row of weight 3 counts as three rows.
 *
 *   binary:      accuracy precision recall f1 (at the threshold) roc_auc log_loss brier_score_loss
 *   multiclass:  accuracy f1_macro log_loss
 *   regression:  rmse mse mae r2
 *   other tasks: none (the set is left empty)
 *
 * The figures that need a sort or a per-query grouping beyond these (average_precision, the
 * calibration table, top-k, ranking metrics) stay unweighted in the main metric set. Rows of
 * weight 0 do not count; y = -1 (a class unseen in training) counts as wrong for accuracy and is
 * left out of every other figure, as in fw_eval_compute. A precision/recall/F1 with nothing to
 * count is 0 (sklearn's zero_division default); an AUC with one class only is NaN.
 *
 * Example:
 *   fw_metric_set ws; fw_metric_set_init(&ws);
 *   fw_eval_weighted(FW_TASK_BINARY, y, p, w, n, 1, 0.5, &ws, &err);
 *   double acc; fw_metric_set_get(&ws, "accuracy", &acc); */
#ifndef FW_EVAL_WEIGHTED_H
#define FW_EVAL_WEIGHTED_H

#include "eval/metrics.h"

/* Fills *out (initialised or freed by the caller) with the weighted metrics of the task. y, p and
 * n_outputs as fw_eval_compute; w: n weights, each finite and >= 0 (else FW_EDATA naming the row);
 * all weights 0 → FW_EDATA. threshold: binary decision threshold. Reentrant. */
fw_status fw_eval_weighted(fw_task task, const double *y, const double *p, const double *w, size_t n,
                           size_t n_outputs, double threshold, fw_metric_set *out, fw_err *err);

#endif
