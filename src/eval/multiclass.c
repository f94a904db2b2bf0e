/* multiclass.c — owns the multiclass metrics: accuracy, per-class precision/recall/F1 with macro,
 * micro and weighted averages (sklearn's semantics: averaged over the classes present in y_true
 * or in the predictions, zero_division = 0), log_loss (clip, renormalise), top_k_accuracy (ties
 * ranked as sklearn's stable argsort: a higher class index wins a tie) and the K x K confusion
 * matrix. The predicted class is the first argmax (as numpy). */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>

static size_t argmax(const double *row, size_t k) {
    size_t best = 0;
    for (size_t j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

static double f1_of(double prec, double rec) {
    return prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
}

fw_status fw__eval_multiclass(const double *y, const double *p, size_t n, size_t k,
                              const fw_eval_options *o, fw_metric_set *s, fw_err *err) {
    (void)err;
    double *tp = fw_calloc(k, sizeof *tp), *npred = fw_calloc(k, sizeof *npred),
           *ntrue = fw_calloc(k, sizeof *ntrue);
    s->confusion = fw_calloc(k * k, sizeof *s->confusion);
    if (!tp || !npred || !ntrue || !s->confusion) {
        fw_free(tp);
        fw_free(npred);
        fw_free(ntrue);
        return FW_ENOMEM;
    }
    s->n_classes = k;
    size_t correct = 0, topk = 0, m = 0;
    size_t kk = o->top_k ? o->top_k : 3;
    double ll = 0, eps = o->log_loss_eps;
    for (size_t i = 0; i < n; i++) {
        const double *row = p + i * k;
        size_t pred = argmax(row, k);
        npred[pred]++;
        if (y[i] < 0) continue; /* unseen: wrong, a miss, a false positive of `pred` */
        size_t c = (size_t)y[i];
        ntrue[c]++;
        s->confusion[c * k + pred]++;
        if (pred == c) {
            correct++;
            tp[c]++;
        }
        size_t rank = 0;
        for (size_t j = 0; j < k; j++)
            if (row[j] > row[c] || (row[j] == row[c] && j > c)) rank++;
        if (rank < kk) topk++;
        double sum = 0;
        for (size_t j = 0; j < k; j++) {
            double q = row[j] < eps ? eps : (row[j] > 1 - eps ? 1 - eps : row[j]);
            sum += q;
        }
        double qc = row[c] < eps ? eps : (row[c] > 1 - eps ? 1 - eps : row[c]);
        ll -= log(qc / sum);
        m++;
    }
    double sp = 0, sr = 0, sf = 0, sw = 0, tps = 0, preds = 0, trues = 0;
    size_t n_labels = 0;
    for (size_t c = 0; c < k; c++) {
        if (npred[c] == 0 && ntrue[c] == 0) continue;
        n_labels++;
        double prec = npred[c] > 0 ? tp[c] / npred[c] : 0;
        double rec = ntrue[c] > 0 ? tp[c] / ntrue[c] : 0;
        double f = f1_of(prec, rec);
        sp += prec;
        sr += rec;
        sf += f;
        sw += f * ntrue[c];
        tps += tp[c];
        preds += npred[c];
        trues += ntrue[c];
    }
    double mp = preds > 0 ? tps / preds : 0, mr = trues > 0 ? tps / trues : 0;
    fw_free(tp);
    fw_free(npred);
    fw_free(ntrue);
    double nl = n_labels ? (double)n_labels : NAN;
    fw_status st = fw_metric_set_put(s, "accuracy", (double)correct / (double)n);
    if (!st) st = fw_metric_set_put(s, "f1_macro", sf / nl);
    if (!st) st = fw_metric_set_put(s, "f1_micro", f1_of(mp, mr));
    if (!st) st = fw_metric_set_put(s, "f1_weighted", trues > 0 ? sw / trues : 0);
    if (!st) st = fw_metric_set_put(s, "precision_macro", sp / nl);
    if (!st) st = fw_metric_set_put(s, "recall_macro", sr / nl);
    if (!st) st = fw_metric_set_put(s, "log_loss", m ? ll / (double)m : NAN);
    if (!st) st = fw_metric_set_put(s, "top_k_accuracy", (double)topk / (double)n);
    return st;
}
