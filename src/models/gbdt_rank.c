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
    if (!r->inv_max_dcg || !rel || !r->scratch) {
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
    *out = r;
    return FW_OK;
}

void fw__gbdt_rank_free(fw__gbdt_rank *r) {
    if (!r) return;
    fw_rank_groups_free(&r->g);
    fw_free(r->inv_max_dcg);
    fw_free(r->scratch);
    fw_free(r);
}

typedef struct grad_ctx {
    const fw__gbdt_rank *r;
    const double *margin;
    const double *w;
    double *gh;
} grad_ctx;

/* One query: gradients and Hessians of its rows into gh (2 per row: g, h). idx: scratch. */
static void query_grad(const fw__gbdt_rank *r, uint32_t q, const double *s, const double *w,
                       double *gh, uint32_t *idx) {
    size_t b = r->g.start[q], m = r->g.start[q + 1] - b;
    const uint32_t *rows = r->g.rows + b;
    for (size_t i = 0; i < m; i++) {
        gh[2 * (size_t)rows[i]] = 0;
        gh[2 * (size_t)rows[i] + 1] = 0;
    }
    double inv = r->inv_max_dcg[q];
    if (m < 2 || inv == 0) return;
    memcpy(idx, rows, m * sizeof *idx);
    fw_rank_sort_desc(idx, m, s, 1);
    const double *y = r->y;
    double sigma = r->sigma, sum_lambda = 0;
    size_t top = m < r->truncation ? m : r->truncation;
    for (size_t i = 0; i < top; i++) {
        uint32_t a = idx[i];
        double ya = y[a], ga = gain_of(r, ya), da = 1.0 / log2((double)i + 2);
        for (size_t j = i + 1; j < m; j++) {
            uint32_t c = idx[j];
            double yc = y[c];
            if (ya == yc) continue;
            uint32_t hi = ya > yc ? a : c, lo = ya > yc ? c : a;
            double dgain = fabs(ga - gain_of(r, yc));
            double ddisc = da - 1.0 / log2((double)j + 2);
            double delta = dgain * ddisc * inv;
            double ds = s[hi] - s[lo];
            double rho = 1.0 / (1.0 + exp(sigma * ds));
            double lambda = sigma * rho * delta;
            double hess = sigma * sigma * rho * (1.0 - rho) * delta;
            gh[2 * (size_t)hi] -= lambda;
            gh[2 * (size_t)lo] += lambda;
            gh[2 * (size_t)hi + 1] += hess;
            gh[2 * (size_t)lo + 1] += hess;
            sum_lambda += 2 * lambda;
        }
    }
    double norm = sum_lambda > 0 ? log2(1.0 + sum_lambda) / sum_lambda : 1.0;
    for (size_t i = 0; i < m; i++) {
        size_t row = rows[i];
        double wi = w ? w[row] : 1.0;
        gh[2 * row] *= norm * wi;
        double h = gh[2 * row + 1] * norm * wi;
        gh[2 * row + 1] = h < 1e-16 ? 1e-16 : h;
    }
}

static void grad_range(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    grad_ctx *c = vctx;
    uint32_t *idx = fw_malloc(((size_t)c->r->g.max_size + 1) * sizeof *idx);
    if (!idx) { /* out of memory: zero gradients (the round then adds a zero tree) */
        for (size_t q = b; q < e; q++)
            for (uint32_t i = c->r->g.start[q]; i < c->r->g.start[q + 1]; i++) {
                c->gh[2 * (size_t)c->r->g.rows[i]] = 0;
                c->gh[2 * (size_t)c->r->g.rows[i] + 1] = 1e-16;
            }
        return;
    }
    for (size_t q = b; q < e; q++) query_grad(c->r, (uint32_t)q, c->margin, c->w, c->gh, idx);
    fw_free(idx);
}

void fw__gbdt_rank_grad(const fw__gbdt_rank *r, const double *margin, const double *w, double *gh,
                        int threads) {
    grad_ctx c = {r, margin, w, gh};
    /* ~ truncation x rows pair terms of ~10 ns */
    double work = 10.0 * (double)r->g.n_rows * (double)(r->truncation < r->g.max_size ? r->truncation : r->g.max_size);
    fw_parallel_for(fw__gbdt_pass_threads(threads, work), r->g.n_groups, grad_range, &c);
}

double fw__gbdt_rank_ndcg(fw__gbdt_rank *r, const double *margin) {
    return fw_rank_ndcg(&r->g, r->y, margin, 1, r->ndcg_at, r->scratch);
}
