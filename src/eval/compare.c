/* compare.c — owns model-versus-baseline improvement (see compare.h). */
#include "eval/compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void fw_eval_improvement(const char *metric, double model, double baseline,
                         double min_improvement, fw_improvement *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->metric, sizeof out->metric, "%s", metric ? metric : "");
    out->model = model;
    out->baseline = baseline;
    out->min_improvement = min_improvement;
    bool hib = fw_metric_higher_is_better(out->metric);
    out->improvement = hib ? model - baseline : baseline - model;
    out->relative = (isfinite(baseline) && baseline != 0) ? out->improvement / fabs(baseline) : NAN;
    out->meets = isfinite(out->improvement) && out->improvement >= min_improvement;
}

void fw_eval_improvement_sets(const fw_metric_set *model, const fw_metric_set *baseline,
                              double min_improvement, fw_improvement *out) {
    double b = NAN;
    fw_metric_set_get(baseline, model->primary, &b);
    fw_eval_improvement(model->primary, fw_metric_set_primary(model), b, min_improvement, out);
}
