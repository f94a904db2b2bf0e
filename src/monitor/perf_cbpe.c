/* perf_cbpe.c — owns the confidence-based performance estimate (perf_int.h): the metrics a
 * classifier should reach on a window if its scores are calibrated, computed from the scores alone
 * (no labels) through the expected confusion matrix; and the normal quantile of the alarm
 * thresholds. */
#include "monitor/perf_int.h"

#include <math.h>
#include <string.h>

static size_t put(fw_metric *out, size_t m, const char *name, double v) {
    memset(out[m].name, 0, sizeof out[m].name);
    strncpy(out[m].name, name, sizeof out[m].name - 1);
    out[m].value = v;
    return m + 1;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* The standard error of a mean from the sums of x and x^2 over wsum rows. */
static double se_mean(double s, double s2, double wsum) {
    if (wsum < 2) return NAN;
    double m = s / wsum, v = (s2 - wsum * m * m) / (wsum - 1);
    return v > 0 ? sqrt(v / wsum) : 0;
}

/* The binomial standard error of a proportion v over n trials. */
static double se_prop(double v, double n) { return n >= 1 && v >= 0 && v <= 1 ? sqrt(v * (1 - v) / n) : NAN; }

static size_t cbpe_binary(const double *p, const double *w, const uint32_t *order, size_t n, double t,
                          fw_metric *out, double *se) {
    double tp = 0, fp = 0, fn = 0, tn = 0, ent = 0, ent2 = 0, brier = 0, brier2 = 0, acc2 = 0, wsum = 0, npos = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1, q = p[i];
        if (wi == 0) continue;
        double c = q >= t ? q : 1 - q; /* P(this row's decision is right) */
        if (q >= t) tp += wi * q, fp += wi * (1 - q), npos += wi;
        else fn += wi * q, tn += wi * (1 - q);
        acc2 += wi * c * c;
        double e = q > 0 && q < 1 ? -(q * log(q) + (1 - q) * log(1 - q)) : 0, b = q * (1 - q);
        ent += wi * e;
        ent2 += wi * e * e;
        brier += wi * b;
        brier2 += wi * b * b;
        wsum += wi;
    }
    if (wsum <= 0) return 0;
    size_t m = 0;
    double acc = (tp + tn) / wsum, prec = ratio(tp, tp + fp), rec = ratio(tp, tp + fn),
           f1 = ratio(2 * tp, 2 * tp + fp + fn);
    if (se) {
        /* ratio metrics T / D, each row adding t_i to T and d_i to D: the delta method's
         * influence of a row is (t_i - R d_i) / mean(d) (d: predicted positive for precision,
         * p for recall, both for F1) */
        double vp = 0, vr = 0, vf = 0;
        for (size_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1, q = p[i], d = q >= t;
            if (wi == 0) continue;
            double ep = q * d - prec * d, er = q * d - rec * q, ef = 2 * q * d - f1 * (d + q);
            vp += wi * ep * ep;
            vr += wi * er * er;
            vf += wi * ef * ef;
        }
        double nn = wsum * (wsum - 1);
        se[0] = se_mean(tp + tn, acc2, wsum);
        se[1] = npos > 0 && nn > 0 ? sqrt(vp / nn) / (npos / wsum) : NAN;
        se[2] = tp + fn > 0 && nn > 0 ? sqrt(vr / nn) / ((tp + fn) / wsum) : NAN;
        se[3] = nn > 0 && 2 * tp + fp + fn > 0 ? sqrt(vf / nn) / ((npos + tp + fn) / wsum) : NAN;
    }
    m = put(out, m, "accuracy", acc);
    m = put(out, m, "precision", prec);
    m = put(out, m, "recall", rec);
    m = put(out, m, "f1", f1);
    /* the expected ROC: down the scores (ties as one step), trapezoids between its points */
    double pos = tp + fn, neg = fp + tn, auc = NAN;
    if (order && pos > 0 && neg > 0) {
        double ctp = 0, area = 0;
        for (size_t a = 0; a < n;) {
            double s = p[order[a]], gtp = 0, gfp = 0;
            size_t b = a;
            for (; b < n && p[order[b]] == s; b++) {
                double wi = w ? w[order[b]] : 1;
                gtp += wi * s;
                gfp += wi * (1 - s);
            }
            area += gfp * (2 * ctp + gtp) / 2;
            ctp += gtp;
            a = b;
        }
        auc = area / (pos * neg);
    }
    /* the AUC's standard error over windows of rows: the expected AUC is a ratio of V-statistics
     * of the rows, U / (P N) with U = sum over pairs of p_i (1 - p_j) [s_i > s_j] (ties half);
     * its first-order (delta method) influence of row i is
     *   (h1_i + h2_i - 2 U / n^2) / (mp mq) - auc ((p_i - mp) / mp + (q_i - mq) / mq),
     * h1_i = p_i (sum of q below s_i) / n, h2_i = q_i (sum of p above s_i) / n, mp and mq the
     * means of p and q = 1 - p; the error is sqrt(sum of influence^2 / (n (n - 1))) */
    double se_a = NAN;
    if (se && isfinite(auc) && wsum > 1) {
        double mp = pos / wsum, mq = neg / wsum, theta = auc * mp * mq, ctp = 0, cq = 0, v = 0;
        for (size_t a = 0; a < n;) {
            double sc = p[order[a]], gp = 0, gq = 0;
            size_t b = a;
            for (; b < n && p[order[b]] == sc; b++) {
                double wi = w ? w[order[b]] : 1;
                gp += wi * sc;
                gq += wi * (1 - sc);
            }
            double above_p = ctp + gp / 2, below_q = neg - cq - gq / 2;
            for (size_t r = a; r < b; r++) {
                double wi = w ? w[order[r]] : 1, q = p[order[r]];
                if (wi == 0) continue;
                double h = (q * below_q + (1 - q) * above_p) / wsum;
                double inf = (h - 2 * theta) / (mp * mq) - auc * ((q - mp) / mp + ((1 - q) - mq) / mq);
                v += wi * inf * inf;
            }
            ctp += gp;
            cq += gq;
            a = b;
        }
        se_a = sqrt(v / (wsum * (wsum - 1)));
    }
    if (se) {
        se[4] = se_a;
        se[5] = se_mean(ent, ent2, wsum);
        se[6] = se_mean(brier, brier2, wsum);
    }
    m = put(out, m, "roc_auc", auc);
    m = put(out, m, "log_loss", ent / wsum);
    m = put(out, m, "brier_score_loss", brier / wsum);
    return m;
}

static size_t cbpe_multiclass(const double *p, const double *w, size_t n, size_t k, size_t top_k, double *c,
                              fw_metric *out, double *se) {
    /* c: K x K expected confusion (true row, predicted column), then per class predicted, true, f1 */
    double *pred = c + k * k, *truth = pred + k, *f1 = truth + k;
    memset(c, 0, k * (k + 3) * sizeof *c);
    double wsum = 0, ent = 0, ent2 = 0, topk = 0, topk2 = 0, acc2 = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        if (wi == 0) continue;
        const double *r = p + i * k;
        size_t am = 0;
        for (size_t j = 1; j < k; j++)
            if (r[j] > r[am]) am = j;
        acc2 += wi * r[am] * r[am];
        double e = 0, tk = 0;
        for (size_t j = 0; j < k; j++) {
            c[j * k + am] += wi * r[j];
            truth[j] += wi * r[j];
            if (r[j] > 0) e -= r[j] * log(r[j]);
            /* P(the true class is among the top k): the classes ranked above j (ties by index, as a
             * stable descending sort) number fewer than top_k (top_k 0: not computed) */
            if (top_k) {
                size_t above = 0;
                for (size_t q = 0; q < k && above < top_k; q++)
                    if (r[q] > r[j] || (r[q] == r[j] && q < j)) above++;
                if (above < top_k) tk += r[j];
            }
        }
        ent += wi * e;
        ent2 += wi * e * e;
        topk += wi * tk;
        topk2 += wi * tk * tk;
        pred[am] += wi;
        wsum += wi;
    }
    if (wsum <= 0) return 0;
    double diag = 0, f1m = 0, f1w = 0, pm = 0, rm = 0, vf = 0, vp = 0, vr = 0;
    for (size_t j = 0; j < k; j++) {
        double d = c[j * k + j];
        diag += d;
        f1[j] = ratio(2 * d, pred[j] + truth[j]);
        f1m += f1[j];
        f1w += truth[j] * f1[j];
        double pj = ratio(d, pred[j]), rj = ratio(d, truth[j]);
        pm += pj;
        rm += rj;
        /* the per-class proportions' binomial variances (a class without rows adds none) */
        if (pred[j] + truth[j] > 0) vf += f1[j] * (1 - f1[j]) / ((pred[j] + truth[j]) / 2);
        if (pred[j] > 0) vp += pj * (1 - pj) / pred[j];
        if (truth[j] > 0) vr += rj * (1 - rj) / truth[j];
    }
    if (se) {
        double kk = (double)k;
        se[0] = se_mean(diag, acc2, wsum);
        se[1] = sqrt(vf) / kk;
        se[2] = se[0];
        se[3] = se_prop(f1w / wsum, wsum);
        se[4] = sqrt(vp) / kk;
        se[5] = sqrt(vr) / kk;
        se[6] = se_mean(ent, ent2, wsum);
        se[7] = top_k ? se_mean(topk, topk2, wsum) : NAN;
    }
    size_t m = 0;
    m = put(out, m, "accuracy", diag / wsum);
    m = put(out, m, "f1_macro", f1m / (double)k);
    m = put(out, m, "f1_micro", diag / wsum);
    m = put(out, m, "f1_weighted", f1w / wsum);
    m = put(out, m, "precision_macro", pm / (double)k);
    m = put(out, m, "recall_macro", rm / (double)k);
    m = put(out, m, "log_loss", ent / wsum);
    m = put(out, m, "top_k_accuracy", top_k ? topk / wsum : NAN);
    return m;
}

size_t fw__cbpe(fw_task task, const double *p, const double *w, const uint32_t *order, size_t n, size_t k,
                double threshold, size_t top_k, double *scratch, fw_metric *out, double *se) {
    if (n == 0) return 0;
    if (task == FW_TASK_BINARY) return cbpe_binary(p, w, order, n, threshold, out, se);
    if (task == FW_TASK_MULTICLASS && k >= 2 && scratch) return cbpe_multiclass(p, w, n, k, top_k, scratch, out, se);
    return 0;
}

double fw__norm_quantile(double q) {
    if (!(q > 0 && q < 1)) return NAN;
    double lo = -40, hi = 40;
    for (int i = 0; i < 200 && hi - lo > 1e-12; i++) {
        double mid = (lo + hi) / 2;
        if (0.5 * erfc(-mid / sqrt(2.0)) < q) lo = mid;
        else hi = mid;
    }
    return (lo + hi) / 2;
}
