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

/* Order-preserving map of a double to an unsigned key (ascending double → ascending key);
 * -0.0 and 0.0 map to the same key so they tie, as they compare equal. */
static uint64_t sortable(double v) {
    if (v == 0) v = 0.0;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x8000000000000000ull) ? ~b : (b | 0x8000000000000000ull);
}

/* Stable LSD radix sort of (key, payload) pairs by key ascending, 8 bits per pass; passes in which
 * every key has the same byte are skipped. Stability keeps payload order among equal keys.
 * The result is left in key/val. */
static fw_status radix_sort(uint64_t *key, uint32_t *val, size_t n) {
    if (n < 2) return FW_OK;
    uint64_t *kb = fw_malloc(n * sizeof *kb);
    uint32_t *vb = fw_malloc(n * sizeof *vb);
    if (!kb || !vb) {
        fw_free(kb);
        fw_free(vb);
        return FW_ENOMEM;
    }
    uint64_t *ks = key, *kd = kb;
    uint32_t *vs = val, *vd = vb;
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++) count[(ks[i] >> shift) & 0xFF]++;
        if (count[(ks[0] >> shift) & 0xFF] == n) continue;
        size_t pos = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t d = count[(ks[i] >> shift) & 0xFF]++;
            kd[d] = ks[i];
            vd[d] = vs[i];
        }
        uint64_t *tk = ks;
        ks = kd;
        kd = tk;
        uint32_t *tv = vs;
        vs = vd;
        vd = tv;
    }
    if (ks != key) {
        memcpy(key, ks, n * sizeof *key);
        memcpy(val, vs, n * sizeof *val);
    }
    fw_free(kb);
    fw_free(vb);
    return FW_OK;
}

uint32_t *fw__argsort_desc(const double *key, size_t n) {
    uint64_t *k = fw_malloc((n ? n : 1) * sizeof *k);
    uint32_t *out = fw_malloc((n ? n : 1) * sizeof *out);
    if (!k || !out) {
        fw_free(k);
        fw_free(out);
        return NULL;
    }
    /* descending by value = ascending by the complemented key; ties keep index order */
    for (size_t i = 0; i < n; i++) {
        k[i] = ~sortable(key[i]);
        out[i] = (uint32_t)i;
    }
    size_t i = 1; /* already in order (a bootstrap resample hands its rows over so): done */
    while (i < n && k[i - 1] <= k[i]) i++;
    if (i < n && radix_sort(k, out, n)) {
        fw_free(out);
        out = NULL;
    }
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
    /* One score for every row (a prior baseline) ranks nothing: its curve is the horizontal line at
     * the prevalence, not a line from (0, 1) (which would credit it with (1 + prevalence) / 2). */
    if (c->n == 1) return c->tps[0] / (c->tps[0] + c->fps[0]);
    double area = 0, pr = 0, pp = 1; /* the curve starts at recall 0, precision 1 */
    for (size_t i = 0; i < c->n; i++) {
        double r = c->tps[i] / c->pos, prec = c->tps[i] / (c->tps[i] + c->fps[i]);
        area += (r - pr) * (prec + pp) / 2;
        pr = r;
        pp = prec;
    }
    return area;
}
