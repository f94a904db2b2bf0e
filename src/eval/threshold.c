/* threshold.c — owns the choice of the binary decision threshold by rule (see threshold.h),
 * walking the distinct scores from the highest down with cumulative counts. */
#include "eval/threshold.h"

#include "eval/eval_int.h"

#include <math.h>
#include <string.h>

void fw_threshold_options_init(fw_threshold_options *o) {
    memset(o, 0, sizeof *o);
    o->rule = FW_THRESHOLD_MAX_F1;
    o->fixed = 0.5;
}

void fw_threshold_options_from_project(const fw_constraints *c, fw_threshold_options *o) {
    fw_threshold_options_init(o);
    o->cost_fp = c->cost_fp;
    o->cost_fn = c->cost_fn;
    o->target_recall = c->target_recall;
    o->target_precision = c->target_precision;
    if (c->threshold_rule == FW_THRESHOLD_FIXED) o->fixed = c->threshold;
    if (c->threshold_rule != FW_THRESHOLD_MAX_F1) o->rule = c->threshold_rule;
    else if (c->cost_fp > 0 && c->cost_fn > 0) o->rule = FW_THRESHOLD_MIN_COST;
    else if (c->target_recall > 0) o->rule = FW_THRESHOLD_TARGET_RECALL;
    else if (c->target_precision > 0) o->rule = FW_THRESHOLD_TARGET_PRECISION;
}

const char *fw_threshold_rule_name(fw_threshold_rule r) {
    switch (r) {
    case FW_THRESHOLD_MAX_F1: return "max_f1";
    case FW_THRESHOLD_FIXED: return "fixed";
    case FW_THRESHOLD_TARGET_RECALL: return "target_recall";
    case FW_THRESHOLD_TARGET_PRECISION: return "target_precision";
    case FW_THRESHOLD_MIN_COST: return "min_cost";
    }
    return "unknown";
}

static void fill(fw_threshold_choice *ch, double t, double tp, double fp, double pos, double neg,
                 const fw_threshold_options *o) {
    ch->threshold = t;
    ch->tp = (uint64_t)tp;
    ch->fp = (uint64_t)fp;
    ch->fn = (uint64_t)(pos - tp);
    ch->tn = (uint64_t)(neg - fp);
    ch->accuracy = (pos + neg) > 0 ? (tp + neg - fp) / (pos + neg) : NAN;
    ch->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    ch->recall = pos > 0 ? tp / pos : 0;
    ch->f1 = 2 * tp + fp + (pos - tp) > 0 ? 2 * tp / (2 * tp + fp + (pos - tp)) : 0;
    ch->cost = o->cost_fp * fp + o->cost_fn * (pos - tp);
}

fw_status fw_eval_threshold(const double *y, const double *p, size_t n,
                            const fw_threshold_options *o, fw_threshold_choice *out, fw_err *err) {
    fw_threshold_options def;
    if (!o) {
        fw_threshold_options_init(&def);
        o = &def;
    }
    memset(out, 0, sizeof *out);
    out->rule = o->rule;
    out->reached = true;
    if (n == 0 || !y || !p) return fw_err_set(err, FW_EINVAL, "threshold: no predictions (0 rows)");
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i])) return fw_err_set(err, FW_EDATA, "threshold: prediction at row %zu is NaN", i);
        if (y[i] != 0 && y[i] != 1 && y[i] != -1)
            return fw_err_set(err, FW_EDATA, "threshold: label at row %zu is %g, expected 0 or 1", i, y[i]);
    }
    switch (o->rule) {
    case FW_THRESHOLD_TARGET_RECALL:
        if (!(o->target_recall > 0 && o->target_recall <= 1))
            return fw_err_set(err, FW_EINVAL, "target_recall must be in (0, 1], got %g", o->target_recall);
        break;
    case FW_THRESHOLD_TARGET_PRECISION:
        if (!(o->target_precision > 0 && o->target_precision <= 1))
            return fw_err_set(err, FW_EINVAL, "target_precision must be in (0, 1], got %g",
                              o->target_precision);
        break;
    case FW_THRESHOLD_MIN_COST:
        if (!(o->cost_fp >= 0 && o->cost_fn >= 0) || o->cost_fp + o->cost_fn <= 0)
            return fw_err_set(err, FW_EINVAL, "cost_fp and cost_fn must be >= 0 and not both 0 (got %g, %g)",
                              o->cost_fp, o->cost_fn);
        break;
    case FW_THRESHOLD_FIXED:
        if (!isfinite(o->fixed)) return fw_err_set(err, FW_EINVAL, "fixed threshold is not a number");
        break;
    case FW_THRESHOLD_MAX_F1: break;
    }
    fw__bcurve c;
    if (fw__bcurve_build(y, p, n, 1, &c)) return fw_err_set(err, FW_ENOMEM, "threshold: out of memory");
    if (c.n == 0) {
        fw__bcurve_free(&c);
        return fw_err_set(err, FW_EINVAL, "threshold: no labelled rows");
    }
    double pos = c.pos, neg = c.neg;
    size_t best = 0;
    switch (o->rule) {
    case FW_THRESHOLD_FIXED: {
        /* counts at p >= fixed: the last distinct score still >= fixed */
        double tp = 0, fp = 0;
        for (size_t i = 0; i < c.n && c.thr[i] >= o->fixed; i++) {
            tp = c.tps[i];
            fp = c.fps[i];
        }
        fill(out, o->fixed, tp, fp, pos, neg, o);
        fw__bcurve_free(&c);
        return FW_OK;
    }
    case FW_THRESHOLD_MAX_F1: {
        double bf = -1;
        for (size_t i = 0; i < c.n; i++) {
            double f = 2 * c.tps[i] / (c.tps[i] + c.fps[i] + pos);
            if (f > bf) {
                bf = f;
                best = i;
            }
        }
        break;
    }
    case FW_THRESHOLD_TARGET_RECALL: {
        best = c.n - 1;
        out->reached = false;
        for (size_t i = 0; i < c.n; i++)
            if (pos > 0 && c.tps[i] / pos >= o->target_recall) {
                best = i;
                out->reached = true;
                break;
            }
        break;
    }
    case FW_THRESHOLD_TARGET_PRECISION: {
        out->reached = false;
        double bp = -1;
        size_t bi = 0;
        for (size_t i = 0; i < c.n; i++) {
            double pr = c.tps[i] / (c.tps[i] + c.fps[i]);
            if (pr >= o->target_precision) {
                best = i; /* keep going: the lowest threshold wins */
                out->reached = true;
            }
            if (pr >= bp) {
                bp = pr;
                bi = i;
            }
        }
        if (!out->reached) best = bi;
        break;
    }
    case FW_THRESHOLD_MIN_COST: {
        /* start from "never positive": threshold above the highest score */
        double bc = o->cost_fn * pos;
        double t = nextafter(c.thr[0], INFINITY);
        size_t bi = SIZE_MAX;
        for (size_t i = 0; i < c.n; i++) {
            double cost = o->cost_fp * c.fps[i] + o->cost_fn * (pos - c.tps[i]);
            if (cost < bc) {
                bc = cost;
                bi = i;
            }
        }
        if (bi == SIZE_MAX) {
            fill(out, t, 0, 0, pos, neg, o);
            fw__bcurve_free(&c);
            return FW_OK;
        }
        best = bi;
        break;
    }
    }
    fill(out, c.thr[best], c.tps[best], c.fps[best], pos, neg, o);
    fw__bcurve_free(&c);
    return FW_OK;
}
