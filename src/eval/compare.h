/* compare.h — owns the comparison of a model to the baseline on one metric: the improvement,
 * signed so that positive always means better whichever direction the metric has, the relative
 * improvement, and whether it meets the project's min_improvement. Pure functions, thread-safe. */
#ifndef FW_EVAL_COMPARE_H
#define FW_EVAL_COMPARE_H

#include "eval/metrics.h"

typedef struct fw_improvement {
    char metric[FW_METRIC_NAME_MAX];
    double model, baseline;
    double improvement;      /* model - baseline (higher is better) or baseline - model (lower) */
    double relative;         /* improvement / |baseline|; NaN when the baseline is 0 or undefined */
    double min_improvement;  /* the project's constraint (absolute) */
    bool meets;              /* improvement is defined and >= min_improvement */
} fw_improvement;

/* Fills *out for one metric's model and baseline values. Never fails; NaN in → improvement NaN
 * and meets = false. */
void fw_eval_improvement(const char *metric, double model, double baseline,
                         double min_improvement, fw_improvement *out);
/* The same on the primary metric of two metric sets (model and baseline). */
void fw_eval_improvement_sets(const fw_metric_set *model, const fw_metric_set *baseline,
                              double min_improvement, fw_improvement *out);

#endif
