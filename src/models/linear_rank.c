/* linear_rank.c — owns the linear family's pairwise ranking loss (loss=pairwise, the ranking
 * default when the rows carry query ids): RankNet's logistic loss on pairs of rows of one query
 * with different relevance, log(1 + exp(-(s_hi - s_lo))), weighted by the relevance gap. For a
 * linear score s = w.x the pair's margin is w.(x_hi - x_lo), so the fit is a logistic regression
 * on difference rows (no intercept needed: each pair is put in a random orientation, label 1 for
 * hi - lo, 0 for lo - hi) solved by the family's L-BFGS (linear_lbfgs.c) with a temporary binary
 * model; the ranking model keeps its weights and a zero intercept. Pairs: every pair of a query
 * up to PAIRS_PER_QUERY (more: that many drawn with the seed), and about MAX_CELLS difference
 * values in all. Validation pairs (query_valid) drive the solver's early stopping. */
#include "models/linear_int.h"
#include "models/rank_groups.h"

#include "core/alloc.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

#define PAIRS_PER_QUERY 400
#define MAX_CELLS 4e7

typedef struct pair_set {
    fw_matrix X;
    double *y, *w;
    size_t n;
} pair_set;

static void pair_set_free(pair_set *p) {
    fw_matrix_free(&p->X);
    fw_free(p->y);
    fw_free(p->w);
    memset(p, 0, sizeof *p);
}

/* Appends the sparse difference row a - b (indices sorted in both) to X's CSR at row r. */
static fw_status sparse_diff(const fw_matrix *S, uint32_t a, uint32_t b, double sign, fw_matrix *X,
                             size_t r) {
    uint64_t ia = S->indptr[a], ea = S->indptr[a + 1], ib = S->indptr[b], eb = S->indptr[b + 1];
    size_t need = (size_t)X->indptr[r] + (size_t)(ea - ia) + (size_t)(eb - ib);
    if (need > X->nnz_cap) {
        size_t cap = X->nnz_cap ? X->nnz_cap : 1024;
        while (cap < need) cap *= 2;
        uint32_t *ni = fw_realloc(X->indices, cap * sizeof *ni);
        if (!ni) return FW_ENOMEM;
        X->indices = ni;
        float *nv = fw_realloc(X->values, cap * sizeof *nv);
        if (!nv) return FW_ENOMEM;
        X->values = nv;
        X->nnz_cap = cap;
    }
    size_t o = (size_t)X->indptr[r];
    while (ia < ea || ib < eb) {
        uint32_t ka = ia < ea ? S->indices[ia] : UINT32_MAX, kb = ib < eb ? S->indices[ib] : UINT32_MAX;
        float v;
        uint32_t k;
        if (ka == kb) {
            k = ka;
            v = S->values[ia++] - S->values[ib++];
        } else if (ka < kb) {
            k = ka;
            v = S->values[ia++];
        } else {
            k = kb;
            v = -S->values[ib++];
        }
        if (v != 0) {
            X->indices[o] = k;
            X->values[o++] = (float)(sign * v);
        }
    }
    X->indptr[r + 1] = o;
    return FW_OK;
}

/* The pairs of one side: difference rows, random orientation labels, relevance-gap weights. */
static fw_status make_pairs(const fw_matrix *S, const double *y, const uint32_t *query,
                            uint64_t seed, pair_set *out) {
    memset(out, 0, sizeof *out);
    fw_rank_groups g;
    fw_status st = fw_rank_groups_make(query, S->n_rows, &g);
    if (st) return st;
    double per_row = (double)(S->n_dense ? S->n_dense : 1);
    double cap_total = MAX_CELLS / per_row;
    size_t per_q = PAIRS_PER_QUERY;
    if ((double)per_q * g.n_groups > cap_total) per_q = (size_t)(cap_total / g.n_groups);
    if (per_q < 8) per_q = 8;
    /* count the pairs first */
    size_t total = 0;
    for (uint32_t q = 0; q < g.n_groups; q++) {
        size_t m = g.start[q + 1] - g.start[q];
        size_t all = m * (m - 1) / 2;
        total += all < per_q ? all : per_q;
    }
    if (total == 0) total = 1;
    st = FW_ENOMEM;
    if (fw_matrix_alloc(&out->X, total, S->n_dense, S->sparse_dim)) goto fail;
    out->y = fw_malloc(total * sizeof *out->y);
    out->w = fw_malloc(total * sizeof *out->w);
    if (!out->y || !out->w) goto fail;
    fw_rng rng;
    fw_rng_seed(&rng, seed ^ 0x70616972ull);
    size_t n = 0;
    for (uint32_t q = 0; q < g.n_groups; q++) {
        const uint32_t *rows = g.rows + g.start[q];
        size_t m = g.start[q + 1] - g.start[q];
        size_t all = m * (m - 1) / 2;
        size_t want = all < per_q ? all : per_q;
        for (size_t t = 0; t < want; t++) {
            uint32_t a, b;
            if (all <= per_q) { /* the t-th pair (i < j) in order */
                size_t i = 0, rem = t;
                while (rem >= m - 1 - i) {
                    rem -= m - 1 - i;
                    i++;
                }
                a = rows[i];
                b = rows[i + 1 + rem];
            } else {
                size_t i = (size_t)fw_rng_below(&rng, m), j = (size_t)fw_rng_below(&rng, m - 1);
                if (j >= i) j++;
                a = rows[i];
                b = rows[j];
            }
            if (y[a] == y[b]) continue;
            if (y[a] < y[b]) {
                uint32_t x = a;
                a = b;
                b = x;
            }
            double sign = fw_rng_uniform(&rng) < 0.5 ? 1.0 : -1.0; /* a is the more relevant */
            float *dst = out->X.dense + n * S->n_dense;
            const float *xa = S->dense + (size_t)a * S->n_dense, *xb = S->dense + (size_t)b * S->n_dense;
            for (size_t f = 0; f < S->n_dense; f++) dst[f] = (float)(sign * ((double)xa[f] - (double)xb[f]));
            if (S->sparse_dim && (st = sparse_diff(S, a, b, sign, &out->X, n))) goto fail;
            st = FW_ENOMEM;
            out->y[n] = sign > 0 ? 1.0 : 0.0;
            out->w[n] = y[a] - y[b];
            n++;
        }
    }
    out->n = n;
    out->X.n_rows = n;
    fw_rank_groups_free(&g);
    return FW_OK;
fail:
    fw_rank_groups_free(&g);
    pair_set_free(out);
    return st;
}

fw_status fw__linear_pairwise(fw_linear *lm, const fw_train_data *d, const fw_linear_hp *hp,
                              const fw_fit_options *o, fw_err *err) {
    pair_set tr, va;
    memset(&va, 0, sizeof va);
    fw_status st = make_pairs(d->X, d->y, d->query, o->seed, &tr);
    if (st) return fw_err_set(err, st, "linear: %s making the training pairs", fw_strerror(st));
    if (tr.n == 0) {
        pair_set_free(&tr);
        return fw_err_set(err, FW_EDATA,
                          "linear: no query has two rows of different relevance: nothing to rank");
    }
    if (d->X_valid && d->query_valid &&
        (st = make_pairs(d->X_valid, d->y_valid, d->query_valid, o->seed + 1, &va))) {
        pair_set_free(&tr);
        return fw_err_set(err, st, "linear: %s making the validation pairs", fw_strerror(st));
    }
    /* the binary problem on difference rows */
    fw_linear *b = fw_calloc(1, sizeof *b);
    if (!b || !(b->theta = fw_calloc(lm->n_feat, sizeof(double)))) {
        fw_free(b);
        pair_set_free(&tr);
        pair_set_free(&va);
        return fw_err_set(err, FW_ENOMEM, "linear: out of memory");
    }
    b->base = lm->base;
    b->base.task = FW_TASK_BINARY;
    b->base.n_outputs = 1;
    b->n_classes = 2;
    b->n_feat = lm->n_feat;
    b->l1 = lm->l1;
    b->l2 = lm->l2;
    b->solver = FW_LIN_LBFGS;
    st = fw__linear_lbfgs(b, &tr.X, tr.y, tr.w, va.n ? &va.X : NULL, va.n ? va.y : NULL, NULL, hp, o, err);
    if (!st) {
        memcpy(lm->theta, b->theta, lm->n_feat * sizeof(double));
        lm->theta[0] = 0; /* only the order within a query matters */
        lm->iters = b->iters;
        lm->stopped_early = b->stopped_early;
    }
    fw_free(b->theta);
    fw_free(b);
    pair_set_free(&tr);
    pair_set_free(&va);
    return st;
}
