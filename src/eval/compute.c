/* compute.c — owns fw_eval_compute: argument and data validation (empty input, NaN predictions,
 * labels outside the task's domain — each an error naming the row), counting of unseen-class
 * rows, and dispatch to the per-task metric files. */
#include "eval/eval_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static fw_status validate(fw_task task, const double *y, const double *p, size_t n, size_t k,
                          const fw_eval_options *o, fw_metric_set *s, fw_err *err) {
    size_t ny = task == FW_TASK_MULTILABEL ? k : 1;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < k; j++) {
            double v = p[i * k + j];
            if (!isfinite(v))
                return fw_err_set(err, FW_EDATA, "prediction at row %zu%s%zu is %s", i,
                                  k > 1 ? ", output " : "", k > 1 ? j : (size_t)0,
                                  isnan(v) ? "NaN" : "infinite");
            bool prob = task == FW_TASK_BINARY || task == FW_TASK_MULTICLASS ||
                        task == FW_TASK_MULTILABEL;
            if (prob && (v < 0 || v > 1))
                return fw_err_set(err, FW_EDATA,
                                  "prediction at row %zu, output %zu is %g: a probability must be "
                                  "in [0, 1]",
                                  i, j, v);
        }
        for (size_t j = 0; j < ny; j++) {
            double v = y[i * ny + j];
            if (!isfinite(v))
                return fw_err_set(err, FW_EDATA, "label at row %zu is %s", i,
                                  isnan(v) ? "NaN (missing)" : "infinite");
            switch (task) {
            case FW_TASK_BINARY:
            case FW_TASK_MULTICLASS: {
                double hi = task == FW_TASK_BINARY ? 1 : (double)k - 1;
                if (v == -1) {
                    s->n_unseen++;
                    break;
                }
                if (v != floor(v) || v < 0 || v > hi)
                    return fw_err_set(err, FW_EDATA,
                                      "label at row %zu is %g: expected a class index in [0, %g] "
                                      "(or -1 for a class unseen in training)",
                                      i, v, hi);
                break;
            }
            case FW_TASK_MULTILABEL:
                if (v != 0 && v != 1)
                    return fw_err_set(err, FW_EDATA, "label at row %zu, label %zu is %g: expected 0 or 1",
                                      i, j, v);
                break;
            case FW_TASK_RANKING:
                if (v < 0)
                    return fw_err_set(err, FW_EDATA,
                                      "relevance at row %zu is %g: must be >= 0", i, v);
                break;
            case FW_TASK_REGRESSION:
                break;
            }
        }
    }
    if (task == FW_TASK_MULTILABEL && o->label_thresholds)
        for (size_t j = 0; j < k; j++)
            if (!isfinite(o->label_thresholds[j]))
                return fw_err_set(err, FW_EINVAL, "threshold of label %zu is not a number", j);
    return FW_OK;
}

fw_status fw_eval_compute(fw_task task, const double *y, const double *p, size_t n,
                          size_t n_outputs, const fw_eval_options *opt, fw_metric_set *out,
                          fw_err *err) {
    if (!out) return fw_err_set(err, FW_EINVAL, "fw_eval_compute: no output set");
    fw_metric_set_init(out);
    fw_eval_options def;
    if (!opt) {
        fw_eval_options_init(&def);
        opt = &def;
    }
    if (n == 0 || !y || !p)
        return fw_err_set(err, FW_EINVAL, "cannot evaluate an empty set of predictions (0 rows)");
    size_t k = n_outputs ? n_outputs : 1;
    switch (task) {
    case FW_TASK_BINARY:
    case FW_TASK_REGRESSION:
    case FW_TASK_RANKING:
        if (k != 1)
            return fw_err_set(err, FW_EINVAL, "a %s task has 1 output per row, got %zu",
                              fw_eval_task_name(task), k);
        break;
    case FW_TASK_MULTICLASS:
        if (k < 2)
            return fw_err_set(err, FW_EINVAL, "multiclass needs >= 2 outputs (classes), got %zu", k);
        break;
    case FW_TASK_MULTILABEL:
        break;
    default:
        return fw_err_set(err, FW_EINVAL, "unknown task %d", (int)task);
    }
    if (task == FW_TASK_RANKING && !opt->query)
        return fw_err_set(err, FW_EINVAL, "ranking evaluation needs a query id per row");
    if (!isfinite(opt->threshold))
        return fw_err_set(err, FW_EINVAL, "decision threshold is not a number");
    const char *primary = opt->primary ? opt->primary : fw_eval_default_metric(task);
    fw_status st = fw_eval_check_metric(task, primary, err);
    for (size_t i = 0; !st && i < opt->n_metrics; i++)
        st = fw_eval_check_metric(task, opt->metrics[i], err);
    if (st) return st;
    out->task = task;
    out->n_rows = n;
    snprintf(out->primary, sizeof out->primary, "%s", primary);
    st = validate(task, y, p, n, k, opt, out, err);
    if (st) {
        fw_metric_set_free(out);
        return st;
    }
    switch (task) {
    case FW_TASK_BINARY: st = fw__eval_binary(y, p, n, opt, out, err); break;
    case FW_TASK_MULTICLASS: st = fw__eval_multiclass(y, p, n, k, opt, out, err); break;
    case FW_TASK_MULTILABEL: st = fw__eval_multilabel(y, p, n, k, opt, out, err); break;
    case FW_TASK_REGRESSION: st = fw__eval_regression(y, p, n, out, err); break;
    case FW_TASK_RANKING: st = fw__eval_ranking(y, p, n, opt, out, err); break;
    }
    if (!st && out->n_unseen) {
        out->warnings |= FW_EVAL_WARN_UNSEEN;
        size_t used = strlen(out->warning);
        snprintf(out->warning + used, sizeof out->warning - used,
                 "%s%zu row(s) have a class unseen in training: counted as wrong", used ? "; " : "",
                 out->n_unseen);
    }
    if (st) {
        if (st == FW_ENOMEM) fw_err_set(err, st, "out of memory while computing metrics");
        fw_metric_set_free(out);
    }
    return st;
}
