/* multilabel.c — owns the multilabel metrics: each label thresholded on its own (options.threshold
 * or options.label_thresholds[l]; positive = p >= t), per-label F1, micro and macro F1 over all
 * labels (sklearn on an indicator matrix, zero_division = 0), subset accuracy (sklearn's
 * "accuracy" for multilabel) and hamming_loss. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>

fw_status fw__eval_multilabel(const double *y, const double *p, size_t n, size_t l,
                              const fw_eval_options *o, fw_metric_set *s, fw_err *err) {
    (void)err;
    double *tp = fw_calloc(l, sizeof *tp), *fp = fw_calloc(l, sizeof *fp),
           *fn = fw_calloc(l, sizeof *fn);
    s->label_f1 = fw_calloc(l, sizeof *s->label_f1);
    if (!tp || !fp || !fn || !s->label_f1) {
        fw_free(tp);
        fw_free(fp);
        fw_free(fn);
        return FW_ENOMEM;
    }
    s->n_labels = l;
    s->threshold = o->threshold;
    size_t exact = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        int all = 1;
        for (size_t j = 0; j < l; j++) {
            double t = o->label_thresholds ? o->label_thresholds[j] : o->threshold;
            int pred = p[i * l + j] >= t, truth = y[i * l + j] == 1;
            if (pred != truth) {
                all = 0;
                wrong++;
            }
            if (pred && truth) tp[j]++;
            else if (pred) fp[j]++;
            else if (truth) fn[j]++;
        }
        exact += (size_t)all;
    }
    double stp = 0, sfp = 0, sfn = 0, sf = 0;
    for (size_t j = 0; j < l; j++) {
        double prec = tp[j] + fp[j] > 0 ? tp[j] / (tp[j] + fp[j]) : 0;
        double rec = tp[j] + fn[j] > 0 ? tp[j] / (tp[j] + fn[j]) : 0;
        s->label_f1[j] = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        sf += s->label_f1[j];
        stp += tp[j];
        sfp += fp[j];
        sfn += fn[j];
    }
    double mp = stp + sfp > 0 ? stp / (stp + sfp) : 0, mr = stp + sfn > 0 ? stp / (stp + sfn) : 0;
    fw_free(tp);
    fw_free(fp);
    fw_free(fn);
    fw_status st = fw_metric_set_put(s, "accuracy", (double)exact / (double)n);
    if (!st) st = fw_metric_set_put(s, "hamming_loss", (double)wrong / ((double)n * (double)l));
    if (!st) st = fw_metric_set_put(s, "f1_micro", mp + mr > 0 ? 2 * mp * mr / (mp + mr) : 0);
    if (!st) st = fw_metric_set_put(s, "f1_macro", sf / (double)l);
    return st;
}
