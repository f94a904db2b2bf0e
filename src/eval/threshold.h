/* threshold.h — owns the binary decision threshold: choosing it on held-out predictions by the
 * project's rule (max F1, target recall, target precision, minimum expected cost, fixed) and the
 * decision itself (positive when p >= threshold), which the server reuses.
 *
 * Candidates are the distinct predicted scores (predicting positive for p >= candidate), plus,
 * for the cost rule, "never positive" (a threshold just above the highest score). Ties between
 * candidates are broken as stated per rule, so the choice is deterministic.
 *
 * Example:
 *   fw_threshold_options to; fw_threshold_options_from_project(&project.constraints, &to);
 *   fw_threshold_choice ch;
 *   if (fw_eval_threshold(y, p, n, &to, &ch, &err) == FW_OK) use(ch.threshold); */
#ifndef FW_EVAL_THRESHOLD_H
#define FW_EVAL_THRESHOLD_H

#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_threshold_options {
    fw_threshold_rule rule;
    double fixed;             /* FW_THRESHOLD_FIXED (default 0.5) */
    double target_recall;     /* FW_THRESHOLD_TARGET_RECALL, in (0, 1] */
    double target_precision;  /* FW_THRESHOLD_TARGET_PRECISION, in (0, 1] */
    double cost_fp, cost_fn;  /* FW_THRESHOLD_MIN_COST, both >= 0, not both 0 */
} fw_threshold_options;

typedef struct fw_threshold_choice {
    fw_threshold_rule rule;
    double threshold;
    bool reached;        /* target rules: false when no threshold meets the target (best effort) */
    uint64_t tp, fp, tn, fn;
    double accuracy, precision, recall, f1;
    double cost;         /* cost_fp * fp + cost_fn * fn (0 unless the cost rule or costs given) */
    /* Which rows it was chosen on (the figures above are those rows'): "validation" or
     * "out-of-fold"; set by the caller (fw_eval_threshold leaves it NULL), with their count. */
    const char *rows;
    size_t n_rows;
} fw_threshold_choice;

/* Defaults: max F1, fixed 0.5. */
void fw_threshold_options_init(fw_threshold_options *o);
/* The options a project's constraints select: an explicit threshold_rule wins when it is not the
 * default; otherwise cost_fp/cost_fn both > 0 → min cost, target_recall > 0 → target recall,
 * target_precision > 0 → target precision, else max F1. */
void fw_threshold_options_from_project(const fw_constraints *c, fw_threshold_options *o);
/* Short rule name: "max_f1", "fixed", "target_recall", "target_precision", "min_cost". */
const char *fw_threshold_rule_name(fw_threshold_rule r);

/* Chooses the threshold on (y in {0,1}, p in [0,1]) pairs (rows with y = -1 are ignored) and
 * fills the metrics at it. Tie-breaks: max F1 → the highest threshold among equal F1; target
 * recall → the highest threshold with recall >= target (best effort: the lowest score, recall
 * then being 1 when any positive exists); target precision → the lowest threshold with
 * precision >= target (best effort: the threshold of maximal precision, reached = false);
 * min cost → the highest threshold among equal cost. Errors: n = 0 or no labelled rows →
 * FW_EINVAL; NaN prediction → FW_EDATA naming the row; bad targets/costs → FW_EINVAL. */
fw_status fw_eval_threshold(const double *y, const double *p, size_t n,
                            const fw_threshold_options *o, fw_threshold_choice *out, fw_err *err);

/* The decision at a threshold: 1 (positive) when p >= threshold. Thread-safe, inline. */
static inline int fw_decide(double p, double threshold) { return p >= threshold; }

#endif
