/* curves.c — owns the binary score curve (cumulative true/false positives per distinct score,
 * sklearn's _binary_clf_curve) and what is read off it: ROC AUC, average precision, the trapezoid
 * PR AUC, and the downsampled ROC/PR point lists kept in a metric set for reports. Also the
 * stable index sort the other metric files share. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* qsort is not stable, so the comparator breaks ties by index: the order is fully determined. */
typedef struct keyed {
    double key;
    uint32_t idx;
} keyed;

static int cmp_keyed_desc(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key > y->key) return -1;
    if (x->key < y->key) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

uint32_t *fw__argsort_desc(const double *key, size_t n) {
    keyed *k = fw_malloc((n ? n : 1) * sizeof *k);
    uint32_t *out = fw_malloc((n ? n : 1) * sizeof *out);
    if (!k || !out) {
        fw_free(k);
        fw_free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) k[i] = (keyed){key[i], (uint32_t)i};
    qsort(k, n, sizeof *k, cmp_keyed_desc);
    for (size_t i = 0; i < n; i++) out[i] = k[i].idx;
    fw_free(k);
    return out;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void fw__sort_doubles(double *v, size_t n) { qsort(v, n, sizeof *v, cmp_double); }

void fw__bcurve_free(fw__bcurve *c) {
    fw_free(c->thr);
    fw_free(c->tps);
    fw_free(c->fps);
    memset(c, 0, sizeof *c);
}

fw_status fw__bcurve_build(const double *y, const double *p, size_t n, size_t stride,
                           fw__bcurve *c) {
    memset(c, 0, sizeof *c);
    double *key = fw_malloc((n ? n : 1) * sizeof *key);
    if (!key) return FW_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) key[i] = p[i * stride];
    uint32_t *ord = fw__argsort_desc(key, n);
    c->thr = fw_malloc((n ? n : 1) * sizeof *c->thr);
    c->tps = fw_malloc((n ? n : 1) * sizeof *c->tps);
    c->fps = fw_malloc((n ? n : 1) * sizeof *c->fps);
    if (!ord || !c->thr || !c->tps || !c->fps) {
        fw_free(key);
        fw_free(ord);
        fw__bcurve_free(c);
        return FW_ENOMEM;
    }
    double tp = 0, fp = 0, cur = 0;
    bool open = false;
    for (size_t j = 0; j < n; j++) {
        size_t i = ord[j];
        double yi = y[i * stride];
        if (yi != 0 && yi != 1) continue; /* unseen class rows */
        /* a new distinct score closes the previous threshold group */
        if (open && key[i] != cur) {
            c->thr[m] = cur;
            c->tps[m] = tp;
            c->fps[m] = fp;
            m++;
        }
        cur = key[i];
        open = true;
        if (yi == 1) tp++;
        else fp++;
    }
    if (open) {
        c->thr[m] = cur;
        c->tps[m] = tp;
        c->fps[m] = fp;
        m++;
    }
    c->n = m;
    c->pos = tp;
    c->neg = fp;
    fw_free(key);
    fw_free(ord);
    return FW_OK;
}

double fw__bcurve_roc_auc(const fw__bcurve *c) {
    if (c->pos == 0 || c->neg == 0) return NAN;
    double auc = 0, px = 0, py = 0;
    for (size_t i = 0; i < c->n; i++) {
        double x = c->fps[i] / c->neg, yv = c->tps[i] / c->pos;
        auc += (x - px) * (yv + py) / 2;
        px = x;
        py = yv;
    }
    return auc;
}

double fw__bcurve_average_precision(const fw__bcurve *c) {
    if (c->pos == 0) return NAN;
    double ap = 0, pr = 0;
    for (size_t i = 0; i < c->n; i++) {
        double r = c->tps[i] / c->pos, prec = c->tps[i] / (c->tps[i] + c->fps[i]);
        ap += (r - pr) * prec;
        pr = r;
    }
    return ap;
}

double fw__bcurve_pr_auc(const fw__bcurve *c) {
    if (c->pos == 0) return NAN;
    double area = 0, pr = 0, pp = 1; /* the curve starts at recall 0, precision 1 */
    for (size_t i = 0; i < c->n; i++) {
        double r = c->tps[i] / c->pos, prec = c->tps[i] / (c->tps[i] + c->fps[i]);
        area += (r - pr) * (prec + pp) / 2;
        pr = r;
        pp = prec;
    }
    return area;
}
