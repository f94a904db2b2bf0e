/* gate.h — owns the promotion gate of continual learning (docs/LEARNING.md): is a challenger
 * truly better than the champion on the same held-out rows? A paired comparison with uncertainty,
 * never two point estimates side by side:
 *   - roc_auc (binary): DeLong's test for two correlated AUCs (the variance of the difference from
 *     the structural components of both models on the same rows);
 *   - metrics that are a mean of per-row losses (accuracy, log_loss, brier, mse, mae): the paired
 *     per-row loss differences, their mean and its normal interval;
 *   - every other metric (rmse, f1, r2, ...): the paired bootstrap — the same resampled rows score
 *     both models, and the percentile interval of the difference.
 * The difference is signed so that positive means the challenger is better, whichever direction
 * the metric has. Decision at confidence c (two-sided interval [lo, hi] of the difference):
 *   - fewer than min_rows rows → "inconclusive" (never a promotion);
 *   - lo > min_improvement → "promote" (the challenger beats the champion by more than the margin
 *     with one-sided confidence (1 + c) / 2);
 *   - otherwise → "reject".
 * Under no true difference the false-promotion rate is at most (1 - c) / 2 (bench/learn measures it).
 *
 * Pure computation: no store, no clock, no global state; reentrant. The online learner reuses it
 * for each snapshot: score the progressive-validation rows with both, call fw_gate_decide.
 *
 * Example:
 *   fw_gate_options go; fw_gate_options_init(&go); go.metric = "roc_auc";
 *   fw_gate_result g;
 *   if (fw_gate_decide(FW_TASK_BINARY, y, p_champ, p_chal, n, 1, &go, &g, &err) == FW_OK &&
 *       g.decision == FW_GATE_PROMOTE) ... */
#ifndef FW_LEARN_GATE_H
#define FW_LEARN_GATE_H

#include "eval/metrics.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fw_gate_decision {
    FW_GATE_INCONCLUSIVE = 0,    /* too few rows, or the metric is undefined on them */
    FW_GATE_PROMOTE,
    FW_GATE_REJECT,
} fw_gate_decision;
/* "inconclusive", "promote", "reject" (the --json contract's spelling). */
const char *fw_gate_decision_name(fw_gate_decision d);

typedef struct fw_gate_options {
    const char *metric;          /* the primary metric (scikit-learn spelling); NULL: the task's default */
    double min_improvement;      /* the margin the lower bound must pass (absolute; default 0) */
    double confidence;           /* two-sided level of the interval, in (0.5, 1) (default 0.95) */
    size_t min_rows;             /* below → inconclusive (default FW_LEARN_DEFAULT_MIN_ROWS = 200) */
    size_t n_resamples;          /* paired bootstrap resamples (default 1000) */
    uint64_t seed;               /* the bootstrap's draws (default 42) */
    double threshold;            /* binary: the champion's decision threshold for thresholded metrics
                                    (accuracy, precision, recall, f1; default 0.5) */
    double challenger_threshold; /* ... and the challenger's (NaN, the default: threshold) */
} fw_gate_options;
void fw_gate_options_init(fw_gate_options *o);
/* The gate's options from a project's learn: section (min_improvement, confidence, min_rows,
 * resamples, seed) and primary metric. */
void fw_gate_options_from_learn(const fw_learn_spec *l, const char *metric, fw_gate_options *o);

typedef struct fw_gate_result {
    fw_gate_decision decision;
    char metric[FW_METRIC_NAME_MAX];
    bool greater_is_better;      /* the metric's own direction */
    size_t n_rows;               /* rows compared */
    double champion_metric, challenger_metric; /* point values on the rows (NaN: undefined) */
    double difference;           /* the challenger's gain: challenger - champion when greater is
                                    better, champion - challenger otherwise */
    double lo, hi;               /* the interval of difference at confidence (NaN when inconclusive
                                    for lack of rows) */
    double se;                   /* its standard error (DeLong, paired losses; bootstrap: the sd of
                                    the resampled differences) */
    double min_improvement, confidence;
    const char *method;          /* "delong", "paired_loss", "paired_bootstrap" (static strings) */
    char reason[256];            /* one sentence: why this decision */
} fw_gate_result;

/* Decides on n held-out rows: y the encoded labels (the target's encoding: binary 0/1, class
 * index, regression value), p_champion and p_challenger the two models' predictions (n x
 * n_outputs, the layout fw_eval_compute reads: binary P(positive), multiclass probabilities,
 * regression values). Ranking and multilabel are FW_EUNSUPPORTED. A metric unknown for the task is
 * FW_EINVAL. Too few rows is not an error: decision inconclusive with the reason. FW_ENOMEM. */
fw_status fw_gate_decide(fw_task task, const double *y, const double *p_champion, const double *p_challenger,
                         size_t n, size_t n_outputs, const fw_gate_options *o, fw_gate_result *out, fw_err *err);

/* Appends the result as a JSON object: {"decision", "metric", "method", "rows", "champion_metric",
 * "challenger_metric", "difference", "interval": [lo, hi], "se", "confidence", "min_improvement",
 * "reason"} (NaN as null): the gate's evidence the audit log and `retrain --json` carry. */
void fw_gate_result_json(const fw_gate_result *g, fw_buf *out);

#endif
