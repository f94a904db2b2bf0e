/* metrics.h — owns the evaluation metric set: the type that holds every figure computed on a
 * held-out split (ordered name/value pairs plus confusion matrix, calibration table and curves),
 * the options that steer it, and fw_eval_compute, which fills it for any task. Metric names are
 * spelled as scikit-learn spells them and agree with scikit-learn 1.2 to 1e-9 (see
 * tests/eval/fixtures/make_fixtures.py).
 *
 * Names per task (k = options.k for ranking, written literally, e.g. "ndcg@10"):
 *   binary:      accuracy precision recall f1 (at options.threshold, predicted positive = p >= t)
 *                roc_auc average_precision pr_auc log_loss brier_score_loss
 *                expected_calibration_error
 *                  - average_precision is sklearn's step-wise AP (sum of (R_n - R_n-1) * P_n);
 *                  - pr_auc is the trapezoid area under sklearn's precision_recall_curve
 *                    (sklearn.metrics.auc(recall, precision)) — optimistic, reported for reference;
 *                    except that a scorer giving every row the same score (the prior baseline) gets
 *                    the prevalence (its curve is the horizontal no-skill line, where sklearn would
 *                    draw from (0, 1) and report (1 + prevalence) / 2).
 *   multiclass:  accuracy f1_macro f1_micro f1_weighted precision_macro recall_macro log_loss
 *                top_k_accuracy (k = options.top_k, default 3)
 *   multilabel:  accuracy (subset accuracy, as sklearn) hamming_loss f1_micro f1_macro
 *                (+ per-label F1 in fw_metric_set.label_f1)
 *   regression:  rmse mse mae r2 mape median_absolute_error
 *   ranking:     ndcg@k map map@k precision@k recall@k hit_rate@k mrr@k coverage@k
 *                (ndcg = ndcg@all, mrr = mrr@all; see ranking.c)
 *
 * Documented edge cases (each tested in tests/eval):
 *   - empty input → FW_EINVAL; NaN/inf in a prediction → FW_EDATA naming row and output;
 *     a label that is not a valid class index → FW_EDATA naming the row.
 *   - only one class present in y (binary): roc_auc, average_precision and pr_auc are NaN and
 *     FW_EVAL_WARN_ONE_CLASS is set (sklearn raises for roc_auc); never a crash.
 *   - y = -1 (a class unseen in training, see features/target.h): counted in n_unseen and as wrong
 *     for accuracy (and a miss for top_k_accuracy); for multiclass precision/recall/F1 the row is a
 *     false positive of the predicted class (sklearn with labels = the known classes); excluded
 *     from log_loss, brier, AUCs, calibration and the confusion matrix.
 *     Binary: excluded from every metric except accuracy.
 *
 * Thread safety: every function here is reentrant; a metric set is owned by one caller. */
#ifndef FW_EVAL_METRICS_H
#define FW_EVAL_METRICS_H

#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_METRIC_NAME_MAX 40

typedef struct fw_metric {
    char name[FW_METRIC_NAME_MAX];
    double value; /* NaN when undefined (see warnings) */
} fw_metric;

/* A curve for reports: points (x, y) with the threshold that produced them, at most
 * options.max_curve_points points (downsampled evenly, first and last kept).
 * ROC: x = false positive rate, y = true positive rate. PR: x = recall, y = precision. */
typedef struct fw_curve {
    size_t n;
    double *x, *y, *threshold;
} fw_curve;

/* One bin of the calibration table: uniform bins over [0, 1] like sklearn's calibration_curve
 * (bin i holds (i/n, (i+1)/n], bin 0 also holds 0). Empty bins have count 0 and NaN means. */
typedef struct fw_calib_bin {
    double lo, hi;
    double mean_pred;    /* mean predicted probability in the bin */
    double frac_pos;     /* fraction of positives in the bin */
    size_t count;
} fw_calib_bin;

/* Warning flags on a metric set. */
#define FW_EVAL_WARN_ONE_CLASS 0x1u   /* binary: one class only; AUC-type metrics are NaN */
#define FW_EVAL_WARN_UNSEEN 0x2u      /* rows with a class unseen in training (n_unseen) */
#define FW_EVAL_WARN_NO_RELEVANT 0x4u /* ranking: no query had a relevant row; map/recall NaN */

typedef struct fw_metric_set {
    fw_task task;
    size_t n_rows;          /* rows evaluated (including unseen) */
    size_t n_unseen;        /* rows with y = -1 */
    unsigned warnings;      /* FW_EVAL_WARN_* */
    char warning[256];      /* human text for the warnings ("" when none) */
    double threshold;       /* binary/multilabel: the threshold used for thresholded metrics */
    char primary[FW_METRIC_NAME_MAX]; /* primary metric name */

    fw_metric *items;       /* ordered (name, value) pairs */
    size_t n_items, cap_items;

    /* binary: 2x2, multiclass: K x K; row = true class, column = predicted. NULL otherwise. */
    uint64_t *confusion;
    size_t n_classes;
    /* multilabel: per-label F1 (n_labels values) and supports. NULL otherwise. */
    double *label_f1;
    size_t n_labels;
    /* binary only */
    fw_calib_bin *calibration;
    size_t n_calibration;
    fw_curve roc, pr;
} fw_metric_set;

typedef struct fw_eval_options {
    const char *primary;          /* primary metric; NULL = fw_eval_default_metric(task) */
    double threshold;             /* binary/multilabel decision threshold (default 0.5) */
    const double *label_thresholds; /* multilabel: per-label thresholds, or NULL */
    size_t calibration_bins;      /* default 10 */
    size_t top_k;                 /* multiclass top_k_accuracy (default 3) */
    size_t k;                     /* ranking cutoff (default 10) */
    const uint32_t *query;        /* ranking: query id per row (required for ranking) */
    const uint32_t *item;         /* ranking: item id per row, for coverage@k (optional) */
    size_t n_items;               /* ranking: catalog size for coverage (0 = distinct in data) */
    size_t max_curve_points;      /* default 200 */
    double log_loss_eps;          /* clip; default DBL_EPSILON (sklearn 1.2 eps="auto") */
    const char *const *metrics;   /* extra metric names the caller will look up (e.g. the
                                   * project's extra_metrics): each is checked like the primary,
                                   * and ranking "@k" names add their cutoff (at most 8 cutoffs) */
    size_t n_metrics;
} fw_eval_options;

/* Fills defaults. */
void fw_eval_options_init(fw_eval_options *o);

void fw_metric_set_init(fw_metric_set *s);
/* Frees everything a set holds (not the struct itself); the set is reset to empty. */
void fw_metric_set_free(fw_metric_set *s);
/* Appends or replaces a (name, value) pair. FW_OK or FW_ENOMEM. */
fw_status fw_metric_set_put(fw_metric_set *s, const char *name, double value);
/* Looks up a metric: true and *value when present. */
bool fw_metric_set_get(const fw_metric_set *s, const char *name, double *value);
/* The primary metric's value (NaN when absent). */
double fw_metric_set_primary(const fw_metric_set *s);

/* Evaluates predictions p against labels y.
 *   binary/regression/ranking: y has n values, p has n values (n_outputs = 1);
 *   multiclass: y has n class indices (or -1), p is n x n_outputs row-major (K = n_outputs);
 *   multilabel: y and p are both n x n_outputs row-major, y in {0, 1}.
 * Fills *out (call fw_metric_set_init first or pass a freed set); on error *out is left empty
 * and err names the problem. The primary metric must be one of the task's names (else FW_EINVAL
 * listing the known names). Reentrant. */
fw_status fw_eval_compute(fw_task task, const double *y, const double *p, size_t n,
                          size_t n_outputs, const fw_eval_options *opt, fw_metric_set *out,
                          fw_err *err);

/* True when a larger value of the named metric is better (false for losses and errors:
 * log_loss, brier_score_loss, expected_calibration_error, hamming_loss, rmse, mse, mae, mape,
 * median_absolute_error). Unknown names → true. */
bool fw_metric_higher_is_better(const char *name);

/* Default primary metric per task: roc_auc, f1_macro, f1_micro, rmse, ndcg@10. */
const char *fw_eval_default_metric(fw_task task);
/* Checks that `name` is a metric of the task ("ndcg@5" style names accept any k >= 1).
 * FW_OK, or FW_EINVAL with a message listing the known names. */
fw_status fw_eval_check_metric(fw_task task, const char *name, fw_err *err);
/* The task's name, "binary" .. "ranking" (eval keeps its own copy so it links on its own). */
const char *fw_eval_task_name(fw_task task);

#endif
