/* weighted.c — owns the metrics weighted by a per-row weight (weighted.h). */
#include "eval/weighted.h"

#include "core/alloc.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double clip(double p) { return p < DBL_EPSILON ? DBL_EPSILON : p > 1 - DBL_EPSILON ? 1 - DBL_EPSILON : p; }

typedef struct scored {
    double p, w;
    bool pos;
} scored;

static int by_score_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    return x->p > y->p ? -1 : x->p < y->p ? 1 : 0;
}

/* The area under the weighted ROC curve (trapezoids between distinct scores, as sklearn's
 * roc_curve(sample_weight) + auc): the weighted share of (positive, negative) pairs ordered
 * right, a tie counting half. NaN with one class only. */
static double weighted_auc(const double *y, const double *p, const double *w, size_t n, fw_status *st) {
    scored *s = fw_malloc((n ? n : 1) * sizeof *s);
    if (!s) {
        *st = FW_ENOMEM;
        return NAN;
    }
    size_t m = 0;
    double P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || w[i] == 0) continue;
        s[m++] = (scored){p[i], w[i], y[i] > 0.5};
        *(y[i] > 0.5 ? &P : &N) += w[i];
    }
    qsort(s, m, sizeof *s, by_score_desc);
    double tp = 0, fp = 0, area = 0;
    for (size_t i = 0; i < m;) {
        double tp0 = tp, fp0 = fp;
        size_t j = i;
        for (; j < m && s[j].p == s[i].p; j++) *(s[j].pos ? &tp : &fp) += s[j].w;
        area += (fp - fp0) * (tp + tp0) / 2;
        i = j;
    }
    fw_free(s);
    return P > 0 && N > 0 ? area / (P * N) : NAN;
}

static fw_status binary(const double *y, const double *p, const double *w, size_t n, double t, fw_metric_set *o) {
    double W = 0, right = 0, tp = 0, fp = 0, fn = 0, Wk = 0, ll = 0, brier = 0;
    for (size_t i = 0; i < n; i++) {
        bool pred = p[i] >= t;
        W += w[i];
        if (y[i] < 0) continue; /* unseen: wrong for accuracy only */
        bool pos = y[i] > 0.5;
        right += pred == pos ? w[i] : 0;
        tp += pred && pos ? w[i] : 0;
        fp += pred && !pos ? w[i] : 0;
        fn += !pred && pos ? w[i] : 0;
        Wk += w[i];
        double q = clip(p[i]);
        ll -= w[i] * (pos ? log(q) : log(1 - q));
        brier += w[i] * (p[i] - (pos ? 1 : 0)) * (p[i] - (pos ? 1 : 0));
    }
    fw_status st = FW_OK;
    double auc = weighted_auc(y, p, w, n, &st);
    if (st) return st;
    double prec = tp + fp > 0 ? tp / (tp + fp) : 0, rec = tp + fn > 0 ? tp / (tp + fn) : 0;
    double f1 = 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
    if ((st = fw_metric_set_put(o, "accuracy", right / W)) || (st = fw_metric_set_put(o, "precision", prec)) ||
        (st = fw_metric_set_put(o, "recall", rec)) || (st = fw_metric_set_put(o, "f1", f1)) ||
        (st = fw_metric_set_put(o, "roc_auc", auc)) ||
        (st = fw_metric_set_put(o, "log_loss", Wk > 0 ? ll / Wk : NAN)) ||
        (st = fw_metric_set_put(o, "brier_score_loss", Wk > 0 ? brier / Wk : NAN)))
        return st;
    return FW_OK;
}

static fw_status multiclass(const double *y, const double *p, const double *w, size_t n, size_t K, fw_metric_set *o) {
    double *c = fw_calloc(3 * K + 1, sizeof *c); /* per class: tp, fp, fn; present flag folded in */
    bool *seen = fw_calloc(K ? K : 1, sizeof *seen);
    if (!c || !seen) {
        fw_free(c);
        fw_free(seen);
        return FW_ENOMEM;
    }
    double W = 0, right = 0, Wk = 0, ll = 0;
    for (size_t i = 0; i < n; i++) {
        const double *pi = p + i * K;
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (pi[k] > pi[best]) best = k;
        W += w[i];
        seen[best] = true;
        c[3 * best + 1] += w[i]; /* predicted best: a false positive unless right */
        if (y[i] < 0 || (size_t)y[i] >= K) continue;
        size_t k = (size_t)y[i];
        seen[k] = true;
        if (k == best) {
            right += w[i];
            c[3 * k] += w[i];
            c[3 * k + 1] -= w[i];
        } else {
            c[3 * k + 2] += w[i];
        }
        Wk += w[i];
        ll -= w[i] * log(clip(pi[k]));
    }
    double f1 = 0;
    size_t n_seen = 0;
    for (size_t k = 0; k < K; k++) {
        if (!seen[k]) continue;
        double tp = c[3 * k], fp = c[3 * k + 1], fn = c[3 * k + 2];
        f1 += 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
        n_seen++;
    }
    fw_free(c);
    fw_free(seen);
    fw_status st;
    if ((st = fw_metric_set_put(o, "accuracy", right / W)) ||
        (st = fw_metric_set_put(o, "f1_macro", n_seen ? f1 / (double)n_seen : NAN)) ||
        (st = fw_metric_set_put(o, "log_loss", Wk > 0 ? ll / Wk : NAN)))
        return st;
    return FW_OK;
}

static fw_status regression(const double *y, const double *p, const double *w, size_t n, fw_metric_set *o) {
    double W = 0, sy = 0, se = 0, ae = 0;
    for (size_t i = 0; i < n; i++) {
        W += w[i];
        sy += w[i] * y[i];
        se += w[i] * (y[i] - p[i]) * (y[i] - p[i]);
        ae += w[i] * fabs(y[i] - p[i]);
    }
    double mean = sy / W, ss = 0;
    for (size_t i = 0; i < n; i++) ss += w[i] * (y[i] - mean) * (y[i] - mean);
    fw_status st;
    if ((st = fw_metric_set_put(o, "rmse", sqrt(se / W))) || (st = fw_metric_set_put(o, "mse", se / W)) ||
        (st = fw_metric_set_put(o, "mae", ae / W)) || (st = fw_metric_set_put(o, "r2", ss > 0 ? 1 - se / ss : NAN)))
        return st;
    return FW_OK;
}

fw_status fw_eval_weighted(fw_task task, const double *y, const double *p, const double *w, size_t n,
                           size_t n_outputs, double threshold, fw_metric_set *out, fw_err *err) {
    double W = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return fw_err_set(err, FW_EDATA, "row %zu: weight %g (weights must be numbers >= 0)", i, w[i]);
        W += w[i];
    }
    if (!(W > 0)) return fw_err_set(err, FW_EDATA, "every row has weight 0: no weighted metric");
    out->task = task;
    out->n_rows = n;
    out->threshold = threshold;
    fw_status st = FW_OK;
    switch (task) {
    case FW_TASK_BINARY: st = binary(y, p, w, n, threshold, out); break;
    case FW_TASK_MULTICLASS: st = multiclass(y, p, w, n, n_outputs, out); break;
    case FW_TASK_REGRESSION: st = regression(y, p, w, n, out); break;
    default: break;
    }
    return st ? fw_err_set(err, st, "out of memory") : FW_OK;
}
