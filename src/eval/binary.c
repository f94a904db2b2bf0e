/* binary.c — owns the binary classification metrics: thresholded counts (accuracy, precision,
 * recall, F1, confusion matrix), the ranking-quality figures read off the score curve (roc_auc,
 * average_precision, pr_auc), probabilistic losses (log_loss, brier_score_loss), and the
 * downsampled ROC/PR curves kept for reports. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Evenly spaced indices over [0, n) keeping the first and last; *m points. */
static size_t pick(size_t j, size_t n, size_t m) {
    if (m <= 1 || n <= 1) return 0;
    return (size_t)llround((double)j * (double)(n - 1) / (double)(m - 1));
}

static fw_status curve_alloc(fw_curve *c, size_t n) {
    c->x = fw_malloc(n * sizeof *c->x);
    c->y = fw_malloc(n * sizeof *c->y);
    c->threshold = fw_malloc(n * sizeof *c->threshold);
    c->n = n;
    return (c->x && c->y && c->threshold) ? FW_OK : FW_ENOMEM;
}

/* ROC: (0,0) at threshold max+1 (as sklearn), then one point per distinct score.
 * PR: (recall, precision) per distinct score, then (0, 1) — (0, prevalence) when every row has
 * the same score (a constant scorer has no ranking: a horizontal line at the prevalence). */
static fw_status store_curves(const fw__bcurve *c, size_t max_points, fw_metric_set *s) {
    if (c->pos == 0 || c->neg == 0 || c->n == 0) return FW_OK;
    if (max_points < 2) max_points = 2;
    size_t full = c->n + 1;
    size_t m = full < max_points ? full : max_points;
    if (curve_alloc(&s->roc, m) || curve_alloc(&s->pr, m)) return FW_ENOMEM;
    for (size_t j = 0; j < m; j++) {
        size_t i = pick(j, full, m);
        if (i == 0) {
            s->roc.x[j] = 0;
            s->roc.y[j] = 0;
            s->roc.threshold[j] = c->thr[0] + 1;
        } else {
            s->roc.x[j] = c->fps[i - 1] / c->neg;
            s->roc.y[j] = c->tps[i - 1] / c->pos;
            s->roc.threshold[j] = c->thr[i - 1];
        }
        /* PR in sklearn's order (recall descending): position i < n is the (n-1-i)-th
         * distinct score, position n the closing (recall 0, precision 1) point. */
        if (i == c->n) {
            s->pr.x[j] = 0;
            /* one score for all rows: no ranking, the curve stays at the prevalence */
            s->pr.y[j] = c->n == 1 ? c->tps[0] / (c->tps[0] + c->fps[0]) : 1;
            s->pr.threshold[j] = c->thr[0] + 1;
        } else {
            size_t q = c->n - 1 - i;
            s->pr.x[j] = c->tps[q] / c->pos;
            s->pr.y[j] = c->tps[q] / (c->tps[q] + c->fps[q]);
            s->pr.threshold[j] = c->thr[q];
        }
    }
    return FW_OK;
}

fw_status fw__eval_binary(const double *y, const double *p, size_t n, const fw_eval_options *o,
                          fw_metric_set *s, fw_err *err) {
    double t = o->threshold;
    s->threshold = t;
    uint64_t tp = 0, fp = 0, tn = 0, fn = 0;
    double ll = 0, brier = 0;
    size_t m = 0;
    double eps = o->log_loss_eps;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) continue;
        int pred = p[i] >= t;
        if (y[i] == 1) pred ? tp++ : fn++;
        else pred ? fp++ : tn++;
        /* sklearn: clip, then [1-q, q] renormalised by its sum */
        double q = p[i] < eps ? eps : (p[i] > 1 - eps ? 1 - eps : p[i]);
        double sum = (1 - q) + q;
        ll -= y[i] == 1 ? log(q / sum) : log((1 - q) / sum);
        brier += (y[i] - p[i]) * (y[i] - p[i]);
        m++;
    }
    s->n_classes = 2;
    s->confusion = fw_calloc(4, sizeof *s->confusion);
    if (!s->confusion) return FW_ENOMEM;
    s->confusion[0] = tn;
    s->confusion[1] = fp;
    s->confusion[2] = fn;
    s->confusion[3] = tp;
    double prec = tp + fp ? (double)tp / (double)(tp + fp) : 0;
    double rec = tp + fn ? (double)tp / (double)(tp + fn) : 0;
    double f1 = 2 * tp + fp + fn ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0;
    double acc = (double)(tp + tn) / (double)n; /* unseen rows count as wrong */

    fw__bcurve c;
    fw_status st = fw__bcurve_build(y, p, n, 1, &c);
    if (st) return st;
    if (c.pos == 0 || c.neg == 0) {
        s->warnings |= FW_EVAL_WARN_ONE_CLASS;
        snprintf(s->warning, sizeof s->warning,
                 "only one class (%s) present in y_true: roc_auc, average_precision and pr_auc "
                 "are undefined (NaN)",
                 c.pos == 0 ? "negative" : "positive");
    }
    st = fw_metric_set_put(s, "accuracy", acc);
    if (!st) st = fw_metric_set_put(s, "precision", prec);
    if (!st) st = fw_metric_set_put(s, "recall", rec);
    if (!st) st = fw_metric_set_put(s, "f1", f1);
    if (!st) st = fw_metric_set_put(s, "roc_auc", fw__bcurve_roc_auc(&c));
    if (!st) st = fw_metric_set_put(s, "average_precision", fw__bcurve_average_precision(&c));
    if (!st) st = fw_metric_set_put(s, "pr_auc", fw__bcurve_pr_auc(&c));
    if (!st) st = fw_metric_set_put(s, "log_loss", m ? ll / (double)m : NAN);
    if (!st) st = fw_metric_set_put(s, "brier_score_loss", m ? brier / (double)m : NAN);
    if (!st) st = store_curves(&c, o->max_curve_points, s);
    fw__bcurve_free(&c);
    if (!st) st = fw__eval_calibration(y, p, n, o->calibration_bins, s);
    (void)err;
    return st;
}
