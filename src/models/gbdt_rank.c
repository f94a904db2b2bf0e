/* gbdt_rank.c — owns the gbdt family's LambdaMART objective (objective=lambdarank, the ranking
 * default when the rows carry query ids): per query, the rows sorted by the current scores; every
 * pair with different relevance where at least one row sits in the top `truncation` positions
 * contributes a RankNet gradient sigma * rho (rho = 1 / (1 + exp(sigma (s_hi - s_lo)))) weighted
 * by |ΔNDCG|, the change in the query's NDCG had the two rows swapped (gain of the labels:
 * linear rel, or 2^rel - 1 with gain=exponential; discount 1 / log2(position + 2); normalised by
 * the query's ideal DCG at the truncation), and the Hessian sigma^2 rho (1 - rho) |ΔNDCG|. Each
 * query's gradients are then scaled by log2(1 + S) / S, S the sum of its |lambda|s, so that long
 * queries do not drown short ones (per-query normalisation). Queries are independent, so the pass
 * runs in parallel over queries with bit-identical results for any thread count. The validation
 * measure (early stopping) is NDCG@ndcg_at over the validation queries. */
#include "models/gbdt_int.h"
#include "models/rank_groups.h"

#include "core/alloc.h"
#include "core/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fw__gbdt_rank {
    fw_rank_groups g;
    const double *y;
    double *inv_max_dcg; /* per query: 1 / ideal DCG at the truncation (0 when no relevant row) */
    uint32_t truncation;
    uint32_t ndcg_at;
    bool exp_gain;
    double sigma;
    double *disc;        /* max_size + 1: 1 / log2(position + 2) */
    void *scratch;       /* fw_rank_ndcg scratch (serial) */
};

static double gain_of(const fw__gbdt_rank *r, double rel) {
    return r->exp_gain ? exp2(rel) - 1.0 : rel;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

fw_status fw__gbdt_rank_new(const uint32_t *query, const double *y, size_t n,
                            const fw_gbdt_params *p, fw__gbdt_rank **out) {
    *out = NULL;
    fw__gbdt_rank *r = fw_calloc(1, sizeof *r);
    if (!r) return FW_ENOMEM;
    fw_status st = fw_rank_groups_make(query, n, &r->g);
    if (st) {
        fw_free(r);
        return st;
    }
    r->y = y;
    r->truncation = p->rank_truncation ? p->rank_truncation : UINT32_MAX;
    r->ndcg_at = p->ndcg_at;
    r->exp_gain = p->rank_exp_gain;
    r->sigma = 1.0;
    r->inv_max_dcg = fw_malloc(((size_t)r->g.n_groups + 1) * sizeof(double));
    double *rel = fw_malloc(((size_t)r->g.max_size + 1) * sizeof(double));
    r->scratch = fw_malloc(fw_rank_ndcg_scratch_bytes(&r->g));
    r->disc = fw_malloc(((size_t)r->g.max_size + 1) * sizeof(double));
    if (!r->inv_max_dcg || !rel || !r->scratch || !r->disc) {
        fw_free(rel);
        fw__gbdt_rank_free(r);
        return FW_ENOMEM;
    }
    for (uint32_t q = 0; q < r->g.n_groups; q++) {
        size_t b = r->g.start[q], m = r->g.start[q + 1] - b;
        for (size_t i = 0; i < m; i++) rel[i] = y[r->g.rows[b + i]];
        qsort(rel, m, sizeof *rel, cmp_desc);
        size_t kk = m < r->truncation ? m : r->truncation;
        double ideal = 0;
        for (size_t i = 0; i < kk; i++) ideal += gain_of(r, rel[i]) / log2((double)i + 2);
        r->inv_max_dcg[q] = ideal > 0 ? 1.0 / ideal : 0;
    }
    fw_free(rel);
    for (size_t i = 0; i <= r->g.max_size; i++) r->disc[i] = 1.0 / log2((double)i + 2);
    *out = r;
    return FW_OK;
}

void fw__gbdt_rank_free(fw__gbdt_rank *r) {
    if (!r) return;
    fw_rank_groups_free(&r->g);
    fw_free(r->inv_max_dcg);
    fw_free(r->disc);
    fw_free(r->scratch);
    fw_free(r);
}

/* Per-thread scratch of one query: its rows by score and, in that order, labels, gains, exp(score
 * - max score) and the gradient / Hessian sums. */
typedef struct qscratch {
    uint32_t *idx;
    double *y, *gain, *e, *g, *h;
} qscratch;

/* One query: gradients and Hessians of its rows into gh (2 per row: g, h). Every pair works in
 * sorted positions on contiguous arrays; rho = 1 / (1 + exp(s_hi - s_lo)) is e_lo / (e_lo + e_hi)
 * with e = exp(s - max s) computed once per row, so the pair loop has no exp or log. */
static void query_grad(const fw__gbdt_rank *r, uint32_t q, const double *s, const double *w,
                       double *gh, qscratch *x) {
    size_t b = r->g.start[q], m = r->g.start[q + 1] - b;
    const uint32_t *rows = r->g.rows + b;
    for (size_t i = 0; i < m; i++) {
        gh[2 * (size_t)rows[i]] = 0;
        gh[2 * (size_t)rows[i] + 1] = 0;
    }
    double inv = r->inv_max_dcg[q];
    if (m < 2 || inv == 0) return;
    uint32_t *idx = x->idx;
    memcpy(idx, rows, m * sizeof *idx);
    fw_rank_sort_desc(idx, m, s, 1);
    double smax = s[idx[0]];
    for (size_t i = 0; i < m; i++) {
        x->y[i] = r->y[idx[i]];
        x->gain[i] = gain_of(r, x->y[i]);
        x->e[i] = exp(s[idx[i]] - smax);
        x->g[i] = x->h[i] = 0;
    }
    const double *disc = r->disc, *yy = x->y, *gg = x->gain, *ee = x->e;
    double *G = x->g, *H = x->h;
    double sum_lambda = 0;
    size_t top = m < r->truncation ? m : r->truncation;
    for (size_t i = 0; i < top; i++) {
        double ya = yy[i], ga = gg[i], da = disc[i], ea = ee[i];
        for (size_t j = i + 1; j < m; j++) {
            double yc = yy[j];
            if (ya == yc) continue;
            double delta = fabs(ga - gg[j]) * (da - disc[j]) * inv;
            double ec = ee[j];
            size_t hi = ya > yc ? i : j, lo = ya > yc ? j : i;
            double e_hi = ya > yc ? ea : ec, e_lo = ya > yc ? ec : ea;
            double den = e_lo + e_hi;
            double rho = den > 0 ? e_lo / den : 1.0 / (1.0 + exp(s[idx[hi]] - s[idx[lo]]));
            double lambda = rho * delta;
            double hess = rho * (1.0 - rho) * delta;
            G[hi] -= lambda;
            G[lo] += lambda;
            H[hi] += hess;
            H[lo] += hess;
            sum_lambda += 2 * lambda;
        }
    }
    double norm = sum_lambda > 0 ? log2(1.0 + sum_lambda) / sum_lambda : 1.0;
    for (size_t i = 0; i < m; i++) {
        size_t row = idx[i];
        double wi = w ? w[row] : 1.0;
        gh[2 * row] = G[i] * norm * wi;
        double h = H[i] * norm * wi;
        gh[2 * row + 1] = h < 1e-16 ? 1e-16 : h;
    }
}

typedef struct grad_ctx {
    const fw__gbdt_rank *r;
    const double *margin;
    const double *w;
    double *gh;
    qscratch *x; /* one per thread */
} grad_ctx;

static void grad_block(void *vctx, int thread, size_t block, size_t b, size_t e) {
    (void)block;
    grad_ctx *c = vctx;
    for (size_t q = b; q < e; q++) query_grad(c->r, (uint32_t)q, c->margin, c->w, c->gh, &c->x[thread]);
}

void fw__gbdt_rank_grad(const fw__gbdt_rank *r, const double *margin, const double *w, double *gh,
                        int threads) {
    /* ~ truncation x rows pair terms of ~3 ns */
    size_t trunc = r->truncation < r->g.max_size ? r->truncation : r->g.max_size;
    int nt = fw__gbdt_pass_threads(threads, 3.0 * (double)r->g.n_rows * (double)trunc);
    if (nt < 1) nt = 1;
    size_t ms = (size_t)r->g.max_size + 1;
    qscratch x[64];
    if (nt > 64) nt = 64;
    void *block = fw_malloc((size_t)nt * ms * (sizeof(uint32_t) + 5 * sizeof(double)));
    if (!block) { /* out of memory: zero gradients (the round then adds a zero tree) */
        for (size_t i = 0; i < r->g.n_rows; i++) {
            gh[2 * i] = 0;
            gh[2 * i + 1] = 1e-16;
        }
        return;
    }
    double *d = block;
    uint32_t *u = (uint32_t *)(void *)(d + (size_t)nt * ms * 5);
    for (int t = 0; t < nt; t++) {
        double *base = d + (size_t)t * ms * 5;
        x[t] = (qscratch){u + (size_t)t * ms, base, base + ms, base + 2 * ms, base + 3 * ms, base + 4 * ms};
    }
    grad_ctx c = {r, margin, w, gh, x};
    /* one query per block, handed out dynamically: query sizes vary by orders of magnitude; each
     * query's values depend only on the query, so the result is the same for any thread count */
    fw_parallel_blocks(nt, r->g.n_groups, 1, grad_block, &c);
    fw_free(block);
}

double fw__gbdt_rank_ndcg(fw__gbdt_rank *r, const double *margin) {
    return fw_rank_ndcg(&r->g, r->y, margin, 1, r->ndcg_at, r->scratch);
}
