/* gbdt_bin.c — owns quantile binning for the gbdt trainer: per-feature cut points from a seeded,
 * radix-sorted sample of the training rows (at most max_bin value bins plus a missing bin, so ids
 * fit a byte), the row-major byte matrix of bin ids the histograms are built from and its
 * column-major copy the row partitions read. Upper edges are actual
 * data values (the last is +inf), so a split "bin <= b" is exactly "x <= upper[b]" at predict time. */
#include "models/gbdt_int.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_MAX 200000

void fw__gbdt_bins_free(fw_gbdt_bins *b) {
    fw_free(b->bins);
    fw_free(b->cols);
    fw_free(b->n_bins);
    fw_free(b->offset);
    fw_free(b->upper);
    memset(b, 0, sizeof *b);
}

/* Sorts n non-NaN floats ascending (LSD radix, 3 passes of 11 bits over order-preserving keys;
 * tmp holds n floats). -0 is stored as +0 first, so equal values are bit-equal. */
static void sort_floats(float *v, float *tmp, size_t n) {
    uint32_t *a = (uint32_t *)v, *b = (uint32_t *)tmp;
    for (size_t i = 0; i < n; i++) {
        float x = v[i] + 0.0f; /* -0 → +0 */
        uint32_t u;
        memcpy(&u, &x, sizeof u);
        a[i] = u & 0x80000000u ? ~u : u | 0x80000000u;
    }
    uint32_t cnt[2048];
    for (int pass = 0; pass < 3; pass++) {
        int sh = 11 * pass;
        memset(cnt, 0, sizeof cnt);
        for (size_t i = 0; i < n; i++) cnt[(a[i] >> sh) & 2047]++;
        uint32_t sum = 0;
        for (int k = 0; k < 2048; k++) {
            uint32_t c = cnt[k];
            cnt[k] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) b[cnt[(a[i] >> sh) & 2047]++] = a[i];
        uint32_t *t = a;
        a = b;
        b = t;
    }
    /* three passes: the sorted keys are in tmp */
    for (size_t i = 0; i < n; i++) {
        uint32_t u = a[i];
        u = u & 0x80000000u ? u & 0x7FFFFFFFu : ~u;
        memcpy(&v[i], &u, sizeof u);
    }
}

typedef struct cut_ctx {
    const fw_matrix *X;
    const uint32_t *sample; /* NULL = all rows */
    size_t n_sample;
    uint32_t max_bin;
    float *cuts;            /* n_features x max_bin scratch for the edges */
    uint32_t *n_bins;
    float *vals;            /* per thread: n_sample floats */
    int failed;
} cut_ctx;

static void cut_features(void *vctx, int thread, size_t fb, size_t fe) {
    cut_ctx *c = vctx;
    float *vals = c->vals + (size_t)thread * 2 * c->n_sample, *tmp = vals + c->n_sample;
    size_t nd = c->X->n_dense;
    for (size_t f = fb; f < fe; f++) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_sample; i++) {
            size_t r = c->sample ? c->sample[i] : i;
            float v = c->X->dense[r * nd + f];
            if (v == v) vals[n++] = v;
        }
        float *cuts = c->cuts + f * c->max_bin;
        uint32_t nb = 0;
        if (n > 0) {
            sort_floats(vals, tmp, n);
            size_t distinct = 1;
            for (size_t i = 1; i < n; i++) distinct += vals[i] != vals[i - 1];
            if (distinct <= c->max_bin) {
                for (size_t i = 0; i < n; i++)
                    if (i + 1 == n || vals[i + 1] != vals[i]) cuts[nb++] = vals[i];
            } else {
                /* Close a bin at the end of a run of equal values once the running count passes
                 * the next quantile. */
                double per = (double)n / c->max_bin;
                for (size_t i = 0; i < n && nb < c->max_bin - 1; i++) {
                    if (i + 1 < n && vals[i + 1] == vals[i]) continue;
                    if ((double)(i + 1) >= per * (nb + 1)) cuts[nb++] = vals[i];
                }
                nb++; /* the last bin takes the rest */
            }
        } else {
            nb = 1;
        }
        cuts[nb - 1] = INFINITY;
        c->n_bins[f] = nb;
    }
}

typedef struct map_ctx {
    const fw_matrix *X;
    fw_gbdt_bins *b;
} map_ctx;

static void map_rows(void *vctx, int thread, size_t rb, size_t re) {
    (void)thread;
    map_ctx *c = vctx;
    size_t nd = c->X->n_dense;
    const uint32_t *nbins = c->b->n_bins, *off = c->b->offset;
    const float *upper = c->b->upper;
    size_t n = c->X->n_rows;
    uint8_t *cols = c->b->cols;
    for (size_t r = rb; r < re; r++) {
        const float *x = c->X->dense + r * nd;
        uint8_t *out = c->b->bins + r * nd;
        for (size_t f = 0; f < nd; f++) {
            float v = x[f];
            uint32_t nb = nbins[f];
            if (v != v) {
                out[f] = (uint8_t)nb;
                cols[f * n + r] = (uint8_t)nb;
                continue;
            }
            /* first edge >= v (u[nb-1] = +inf), branch-free: the halving steps do not depend on
             * the data, so nothing is mispredicted */
            const float *u = upper + off[f], *base = u;
            uint32_t len = nb;
            while (len > 1) {
                uint32_t half = len >> 1;
                base += (size_t)(base[half - 1] < v) * half;
                len -= half;
            }
            out[f] = (uint8_t)((base - u) + (*base < v));
            cols[f * n + r] = out[f];
        }
    }
}

fw_status fw__gbdt_bins_build(const fw_matrix *X, uint32_t max_bin, uint64_t seed, int threads,
                              fw_gbdt_bins *out) {
    memset(out, 0, sizeof *out);
    size_t n = X->n_rows, nd = X->n_dense;
    if (max_bin < 2) max_bin = 2;
    if (max_bin > 255) max_bin = 255;
    if (threads <= 0) threads = fw_default_threads();
    out->n_rows = n;
    out->n_features = nd;
    uint32_t *sample = NULL;
    size_t n_sample = n;
    if (n > SAMPLE_MAX) {
        /* Partial Fisher–Yates over the row ids, then sorted for cache-friendly reads. */
        uint32_t *perm = fw_malloc(n * sizeof(uint32_t));
        if (!perm) return FW_ENOMEM;
        for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
        fw_rng rng;
        fw_rng_seed(&rng, seed ^ 0x62696e73ull);
        for (size_t i = 0; i < SAMPLE_MAX; i++) {
            size_t j = i + (size_t)fw_rng_below(&rng, n - i);
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        sample = perm;
        n_sample = SAMPLE_MAX;
        uint8_t *mark = fw_calloc(n, 1);
        if (!mark) {
            fw_free(perm);
            return FW_ENOMEM;
        }
        for (size_t i = 0; i < n_sample; i++) mark[perm[i]] = 1;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (mark[i]) sample[k++] = (uint32_t)i;
        fw_free(mark);
    }
    int nt = threads;
    if ((size_t)nt > nd) nt = nd ? (int)nd : 1;
    cut_ctx c = {X, sample, n_sample, max_bin, NULL, NULL, NULL, 0};
    c.cuts = fw_malloc((nd ? nd : 1) * max_bin * sizeof(float));
    out->n_bins = fw_calloc(nd ? nd : 1, sizeof(uint32_t));
    out->offset = fw_calloc(nd + 1, sizeof(uint32_t));
    c.vals = fw_malloc((size_t)nt * 2 * (n_sample ? n_sample : 1) * sizeof(float));
    c.n_bins = out->n_bins;
    if (!c.cuts || !out->n_bins || !out->offset || !c.vals) goto oom;
    fw_parallel_for(nt, nd, cut_features, &c);
    fw_free(c.vals);
    c.vals = NULL;
    fw_free(sample);
    sample = NULL;
    for (size_t f = 0; f < nd; f++) out->offset[f + 1] = out->offset[f] + out->n_bins[f] + 1;
    out->upper = fw_malloc((out->offset[nd] ? out->offset[nd] : 1) * sizeof(float));
    if (!out->upper) goto oom;
    for (size_t f = 0; f < nd; f++) {
        memcpy(out->upper + out->offset[f], c.cuts + f * max_bin, out->n_bins[f] * sizeof(float));
        out->upper[out->offset[f] + out->n_bins[f]] = NAN;
    }
    fw_free(c.cuts);
    c.cuts = NULL;
    out->bins = fw_malloc(n * nd > 0 ? n * nd : 1);
    out->cols = fw_malloc(n * nd > 0 ? n * nd : 1);
    if (!out->bins || !out->cols) goto oom;
    map_ctx mc = {X, out};
    /* ~10 ns per value (a binary search over the edges) */
    fw_parallel_for(fw__gbdt_pass_threads(threads, 10.0 * (double)n * (double)nd), n, map_rows,
                    &mc);
    return FW_OK;
oom:
    fw_free(sample);
    fw_free(c.cuts);
    fw_free(c.vals);
    fw__gbdt_bins_free(out);
    return FW_ENOMEM;
}
