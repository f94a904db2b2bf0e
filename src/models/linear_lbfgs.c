/* linear_lbfgs.c — owns the linear family's batch solver: L-BFGS with Armijo backtracking, and
 * OWL-QN (orthant-wise L-BFGS, Andrew & Gao 2007) when l1 > 0, which yields exact zeros.
 *
 * Objective and gradient are evaluated in one fused pass over the rows, split into fixed blocks
 * (size depends only on the number of rows). Each block writes its loss and its dense/intercept
 * gradient into its own slot; slots are added in block order. The sparse part of the gradient is
 * computed per hashed column over a column-major copy (rows in order). Hence the result is
 * bit-identical for any thread count.
 * Hashed columns that no training row uses keep weight 0 (their gradient is l2·w = 0), so the
 * solver works on a compact vector [intercepts, dense, used hashed columns] and scatters it back;
 * with 2^18 hashed dimensions and a few hundred used, an iteration costs O(used), not O(2^18). */
#include "models/linear_int.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/threads.h"

#include <math.h>
#include <string.h>

#define MAX_THREADS 64
/* Validation early stopping keeps the latest point whose validation loss is within 3% of the
 * lowest seen: converging fits whose loss wobbles at the optimum (spam, diamonds) run to the end,
 * fits that overfit (Fashion-MNIST's 784 pixels: the loss doubles by 500 iterations) are cut back. */
#define ES_TOLERANCE 0.03

typedef struct prob {
    fw_linear ev;            /* copy of the model whose theta points at the evaluation point */
    const fw_matrix *X;
    const double *y, *w;
    size_t n, no, nd, P, ys, nblk, blk, gdim;  /* P: compact parameter count */
    double inv_w, l2;
    int threads;
    double *blk_f;           /* nblk */
    double *blk_g;           /* nblk * gdim, gdim = (1 + nd) * no */
    double *dm;              /* n * no loss derivatives (sparse part only) */
    double *tscr;            /* MAX_THREADS * 8 * no: 4 rows of margins, 4 of derivatives */
    uint64_t *colptr;        /* CSC of the used hashed columns: n_used + 1 */
    uint32_t *rowi;
    float *cval;
    uint32_t *used;          /* used hashed columns, ascending */
    size_t n_used;
    double *full;            /* full-size weights the margins read (sparse models only) */
    double *g;               /* output gradient during a pass */
} prob;

/* Adds four rows' dense gradient terms to gd[j * no + k] (dense part, feature-major):
 * gd += x_0[j] d_0[k], then x_1 d_1, x_2 d_2, x_3 d_3 — the order a row-by-row loop adds them, so
 * the bits are the same; the gradient is read and written once per four rows, not per row. */
static void grad_rows4(double *gd, size_t no, size_t nd, const float *const *xs, const double *d) {
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    const double *d0 = d, *d1 = d + no, *d2 = d + 2 * no, *d3 = d + 3 * no;
    if (no == 1) {
        double e0 = d0[0], e1 = d1[0], e2 = d2[0], e3 = d3[0];
        for (size_t j = 0; j < nd; j++) {
            double a = gd[j];
            a += e0 * (double)x0[j];
            a += e1 * (double)x1[j];
            a += e2 * (double)x2[j];
            a += e3 * (double)x3[j];
            gd[j] = a;
        }
        return;
    }
    size_t k = fw__linear_grad4_simd(gd, no, nd, xs, d); /* AVX2: eight outputs at a time */
    for (; k + 4 <= no; k += 4) {
        v2d a0 = ld2(d0 + k), b0 = ld2(d0 + k + 2), a1 = ld2(d1 + k), b1 = ld2(d1 + k + 2);
        v2d a2 = ld2(d2 + k), b2 = ld2(d2 + k + 2), a3 = ld2(d3 + k), b3 = ld2(d3 + k + 2);
        double *gr = gd + k;
        for (size_t j = 0; j < nd; j++, gr += no) {
            v2d ga = ld2(gr), gb = ld2(gr + 2);
            double v0 = x0[j], v1 = x1[j], v2 = x2[j], v3 = x3[j];
            ga += a0 * v0; gb += b0 * v0;
            ga += a1 * v1; gb += b1 * v1;
            ga += a2 * v2; gb += b2 * v2;
            ga += a3 * v3; gb += b3 * v3;
            st2(gr, ga);
            st2(gr + 2, gb);
        }
    }
    for (; k + 2 <= no; k += 2) {
        v2d a0 = ld2(d0 + k), a1 = ld2(d1 + k), a2 = ld2(d2 + k), a3 = ld2(d3 + k);
        double *gr = gd + k;
        for (size_t j = 0; j < nd; j++, gr += no) {
            v2d ga = ld2(gr);
            ga += a0 * (double)x0[j];
            ga += a1 * (double)x1[j];
            ga += a2 * (double)x2[j];
            ga += a3 * (double)x3[j];
            st2(gr, ga);
        }
    }
    for (; k < no; k++) {
        double *gr = gd + k;
        for (size_t j = 0; j < nd; j++, gr += no) {
            double a = *gr;
            a += d0[k] * (double)x0[j];
            a += d1[k] * (double)x1[j];
            a += d2[k] * (double)x2[j];
            a += d3[k] * (double)x3[j];
            *gr = a;
        }
    }
}

/* One row's dense gradient terms (the tail of a block that is not a multiple of four rows). */
static void grad_row1(double *gd, size_t no, size_t nd, const float *x, const double *d) {
    for (size_t j = 0; j < nd; j++) {
        double v = x[j];
        double *gr = gd + j * no;
        for (size_t k = 0; k < no; k++) gr[k] += d[k] * v;
    }
}

/* Rows [beg, end) four at a time: margins (fw__linear_margins_rows), losses and derivatives, then
 * the gradient. Per gradient entry the rows are added in row order, so the block's result has the
 * same bits as a row-at-a-time loop. */
static void eval_block(void *ctx, int t, size_t b, size_t beg, size_t end) {
    prob *p = ctx;
    size_t no = p->no, nd = p->nd;
    double *g = p->blk_g + b * p->gdim;
    memset(g, 0, p->gdim * sizeof(double));
    double *m = p->tscr + (size_t)t * 8 * no, *d = m + 4 * no;
    double f = 0;
    fw_matrix Xv = *p->X;
    if (!p->ev.base.sparse_dim) Xv.sparse_dim = 0;
    for (size_t i = beg; i < end; i += 4) {
        size_t R = end - i < 4 ? end - i : 4;
        fw_row r[4];
        const float *xs[4];
        for (size_t q = 0; q < R; q++) {
            r[q] = fw_matrix_row(&Xv, i + q);
            xs[q] = r[q].dense;
        }
        fw__linear_margins_rows(&p->ev, r, R, m);
        for (size_t q = 0; q < R; q++) {
            double s = (p->w ? p->w[i + q] : 1.0) * p->inv_w;
            double *dq = d + q * no;
            f += s * fw__linear_row_loss(&p->ev, m + q * no, p->y + (i + q) * p->ys, dq);
            for (size_t k = 0; k < no; k++) dq[k] *= s;
            for (size_t k = 0; k < no; k++) g[k] += dq[k];
        }
        if (R == 4)
            grad_rows4(g + no, no, nd, xs, d);
        else
            for (size_t q = 0; q < R; q++) grad_row1(g + no, no, nd, xs[q], d + q * no);
        if (p->dm) memcpy(p->dm + i * no, d, R * no * sizeof(double));
    }
    p->blk_f[b] = f;
}

static void sparse_grad_block(void *ctx, int t, size_t b, size_t beg, size_t end) {
    (void)t;
    (void)b;
    prob *p = ctx;
    size_t no = p->no;
    for (size_t c = beg; c < end; c++) { /* c indexes the used columns */
        double *gc = p->g + (1 + p->nd + c) * no;
        for (size_t k = 0; k < no; k++) gc[k] = 0;
        for (uint64_t e = p->colptr[c]; e < p->colptr[c + 1]; e++) {
            double v = p->cval[e];
            const double *dr = p->dm + (size_t)p->rowi[e] * no;
            for (size_t k = 0; k < no; k++) gc[k] += v * dr[k];
        }
    }
}

/* Smooth part of the objective (mean loss + l2/2 ||w||², intercepts excluded) and its gradient. */
static double eval_fg(prob *p, double *x, double *g) {
    if (p->full) { /* scatter the compact point into the full weights */
        memcpy(p->full, x, p->gdim * sizeof(double));
        for (size_t u = 0; u < p->n_used; u++)
            memcpy(p->full + (1 + p->nd + p->used[u]) * p->no, x + p->gdim + u * p->no,
                   p->no * sizeof(double));
        p->ev.theta = p->full;
    } else {
        p->ev.theta = x;
    }
    p->g = g;
    fw_parallel_blocks(p->threads, p->n, p->blk, eval_block, p);
    double f = 0;
    memset(g, 0, p->gdim * sizeof(double));
    for (size_t b = 0; b < p->nblk; b++) {
        f += p->blk_f[b];
        const double *gb = p->blk_g + b * p->gdim;
        for (size_t i = 0; i < p->gdim; i++) g[i] += gb[i];
    }
    if (p->n_used) fw_parallel_blocks(p->threads, p->n_used, 4096, sparse_grad_block, p);
    if (p->l2 > 0) {
        double r = 0;
        for (size_t i = p->no; i < p->P; i++) {
            r += x[i] * x[i];
            g[i] += p->l2 * x[i];
        }
        f += 0.5 * p->l2 * r;
    }
    return f;
}

/* Mean loss (class weights applied, no penalty) of the validation rows at the point the last
 * eval_fg set in p->ev. Serial, rows in order: deterministic. */
static double valid_loss(prob *p, const fw_matrix *Xv, const double *yv, const double *wv) {
    size_t no = p->no;
    double *m = p->tscr, *d = m + 4 * no; /* the first thread's scratch: no pass is running */
    fw_matrix V = *Xv;
    if (!p->ev.base.sparse_dim) V.sparse_dim = 0;
    double f = 0, sw = 0;
    for (size_t i = 0; i < V.n_rows; i += 4) {
        size_t R = V.n_rows - i < 4 ? V.n_rows - i : 4;
        fw_row r[4];
        for (size_t q = 0; q < R; q++) r[q] = fw_matrix_row(&V, i + q);
        fw__linear_margins_rows(&p->ev, r, R, m);
        for (size_t q = 0; q < R; q++) {
            double wi = wv ? wv[i + q] : 1.0; /* weighted as the training loss: a row the training
                                                 discounts (learn.rows: decay) does not decide */
            f += wi * fw__linear_row_loss(&p->ev, m + q * no, yv + (i + q) * p->ys, d);
            sw += wi;
        }
    }
    return sw > 0 ? f / sw : 0;
}

static fw_status build_csc(prob *p) {
    const fw_matrix *X = p->X;
    uint32_t D = X->sparse_dim;
    size_t nnz = (size_t)X->indptr[X->n_rows];
    uint64_t *cnt = fw_calloc((size_t)D + 1, sizeof(uint64_t));
    p->rowi = fw_malloc((nnz ? nnz : 1) * sizeof(uint32_t));
    p->cval = fw_malloc((nnz ? nnz : 1) * sizeof(float));
    p->dm = fw_malloc(p->n * p->no * sizeof(double));
    if (!cnt || !p->rowi || !p->cval || !p->dm) {
        fw_free(cnt);
        return FW_ENOMEM;
    }
    for (size_t e = 0; e < nnz; e++) cnt[X->indices[e]]++;
    for (uint32_t c = 0; c < D; c++) p->n_used += cnt[c] > 0;
    p->used = fw_malloc((p->n_used ? p->n_used : 1) * sizeof(uint32_t));
    p->colptr = fw_calloc(p->n_used + 1, sizeof(uint64_t));
    if (!p->used || !p->colptr) {
        fw_free(cnt);
        return FW_ENOMEM;
    }
    /* cnt[c] becomes the write position of column c in the compact CSC */
    size_t u = 0;
    uint64_t at = 0;
    for (uint32_t c = 0; c < D; c++) {
        if (!cnt[c]) continue;
        p->used[u] = c;
        uint64_t k = cnt[c];
        cnt[c] = at;
        at += k;
        p->colptr[++u] = at;
    }
    for (size_t i = 0; i < X->n_rows; i++)
        for (uint64_t e = X->indptr[i]; e < X->indptr[i + 1]; e++) {
            uint64_t q = cnt[X->indices[e]]++;
            p->rowi[q] = (uint32_t)i;
            p->cval[q] = X->values[e];
        }
    fw_free(cnt);
    return FW_OK;
}

static void prob_free(prob *p) {
    fw_free(p->blk_f);
    fw_free(p->blk_g);
    fw_free(p->dm);
    fw_free(p->tscr);
    fw_free(p->colptr);
    fw_free(p->rowi);
    fw_free(p->cval);
    fw_free(p->used);
    fw_free(p->full);
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* OWL-QN pseudo-gradient (plain gradient when l1 == 0); returns its max-norm. */
static double pseudo_grad(const double *x, const double *g, double *pg, size_t P, size_t no,
                          double l1) {
    double mx = 0;
    for (size_t i = 0; i < P; i++) {
        double v = g[i];
        if (l1 > 0 && i >= no) {
            if (x[i] > 0) v = g[i] + l1;
            else if (x[i] < 0) v = g[i] - l1;
            else if (g[i] + l1 < 0) v = g[i] + l1;
            else if (g[i] - l1 > 0) v = g[i] - l1;
            else v = 0;
        }
        pg[i] = v;
        if (fabs(v) > mx) mx = fabs(v);
    }
    return mx;
}

static double l1_norm(const double *x, size_t P, size_t no) {
    double s = 0;
    for (size_t i = no; i < P; i++) s += fabs(x[i]);
    return s;
}

fw_status fw__linear_lbfgs(fw_linear *lm, const fw_matrix *X, const double *y, const double *w,
                           const fw_matrix *Xv, const double *yv, const double *wv, const fw_linear_hp *hp,
                           const fw_fit_options *o, fw_err *err) {
    prob p;
    memset(&p, 0, sizeof p);
    p.ev = *lm;
    p.X = X;
    p.y = y;
    p.w = w;
    p.n = X->n_rows;
    p.no = lm->base.n_outputs;
    p.nd = lm->base.n_dense;
    p.P = 0; /* set once the used hashed columns are known */
    p.ys = lm->base.task == FW_TASK_MULTILABEL ? p.no : 1;
    p.gdim = (1 + p.nd) * p.no;
    p.l2 = hp->l2;
    p.threads = o && o->threads > 0 ? o->threads : fw_default_threads();
    if (p.threads > MAX_THREADS) p.threads = MAX_THREADS;
    /* a pass this small (under ~0.5 ms) is not worth waking a pool worker (the result does not
     * depend on it) */
    if ((double)p.n * (double)(p.gdim + 1) < 1e6 && !lm->base.sparse_dim) p.threads = 1;
    double wsum = 0;
    for (size_t i = 0; i < p.n; i++) wsum += w ? w[i] : 1.0;
    p.inv_w = 1.0 / wsum;
    p.blk = (p.n + 255) / 256;
    if (p.blk < 2048) p.blk = 2048;
    p.nblk = (p.n + p.blk - 1) / p.blk;
    size_t M = (size_t)hp->memory, no = p.no, P = 0;
    double l1 = hp->l1;
    fw_status st = FW_ENOMEM;
    double *mem = NULL, *rho = NULL, *al = NULL, *best_x = NULL;
    bool es = hp->early_stopping_rounds > 0 && Xv && yv && Xv->n_rows > 0 &&
              Xv->n_dense == X->n_dense && Xv->sparse_dim == X->sparse_dim;
    p.blk_f = fw_malloc(p.nblk * sizeof(double));
    p.blk_g = fw_malloc(p.nblk * p.gdim * sizeof(double));
    p.tscr = fw_malloc(MAX_THREADS * 8 * no * sizeof(double));
    if (!p.blk_f || !p.blk_g || !p.tscr) goto done;
    if (lm->base.sparse_dim) {
        if (build_csc(&p)) goto done;
        if (!(p.full = fw_malloc(lm->n_feat * no * sizeof(double)))) goto done;
        memcpy(p.full, lm->theta, lm->n_feat * no * sizeof(double));
    }
    P = p.P = p.gdim + p.n_used * no;
    /* keep the solver's vectors under ~1 GiB for huge hashed spaces: shorten the history */
    size_t cap_m = ((size_t)1 << 30) / (8 * P);
    cap_m = cap_m > 6 ? (cap_m - 6) / 2 : 0;
    if (M > cap_m) M = cap_m < 2 ? 2 : cap_m;
    /* x, g, pg, d, xn, gn, then M pairs of s and y */
    mem = fw_malloc((6 + 2 * M) * P * sizeof(double));
    rho = fw_malloc(M * sizeof(double));
    al = fw_malloc(M * sizeof(double));
    if (!mem || !rho || !al) goto done;
    if (es && !(best_x = fw_malloc(P * sizeof(double)))) goto done;
    double *g = mem, *pg = mem + P, *d = mem + 2 * P, *xn = mem + 3 * P, *gn = mem + 4 * P,
           *x = mem + 5 * P, *S = mem + 6 * P, *Yv = mem + (6 + M) * P;
    memcpy(x, lm->theta, p.gdim * sizeof(double));
    for (size_t u = 0; u < p.n_used; u++)
        memcpy(x + p.gdim + u * no, lm->theta + (1 + p.nd + p.used[u]) * no, no * sizeof(double));
    double f = eval_fg(&p, x, g) + l1 * l1_norm(x, P, no);
    double pg0 = pseudo_grad(x, g, pg, P, no, l1), pgn = pg0;
    /* validation early stopping: the point with the lowest validation loss so far (the start
     * counts as iteration 0) */
    double best_vl = INFINITY;
    int best_it = 0;
    if (es) {
        best_vl = valid_loss(&p, Xv, yv, wv);
        memcpy(best_x, x, P * sizeof(double));
    }
    size_t hist = 0, head = 0; /* ring buffer: newest at (head + M - 1) % M */
    double t0 = fw_now_seconds();
    int it;
    for (it = 0; it < hp->max_iter; it++) {
        if (pgn <= hp->tol * (pg0 > 1 ? pg0 : 1)) break;
        /* two-loop recursion: d = -H pg */
        for (size_t i = 0; i < P; i++) d[i] = pg[i];
        for (size_t h = 0; h < hist; h++) {
            size_t q = (head + M - 1 - h) % M;
            al[q] = rho[q] * dot(S + q * P, d, P);
            const double *yq = Yv + q * P;
            for (size_t i = 0; i < P; i++) d[i] -= al[q] * yq[i];
        }
        if (hist) {
            size_t q = (head + M - 1) % M;
            double yy = dot(Yv + q * P, Yv + q * P, P);
            double gam = yy > 0 ? 1.0 / (rho[q] * yy) : 1.0;
            for (size_t i = 0; i < P; i++) d[i] *= gam;
        }
        for (size_t h = hist; h-- > 0;) {
            size_t q = (head + M - 1 - h) % M;
            double be = rho[q] * dot(Yv + q * P, d, P);
            const double *sq = S + q * P;
            for (size_t i = 0; i < P; i++) d[i] += (al[q] - be) * sq[i];
        }
        for (size_t i = 0; i < P; i++) d[i] = -d[i];
        if (l1 > 0)
            for (size_t i = no; i < P; i++)
                if (d[i] * pg[i] >= 0) d[i] = 0;
        double gd = dot(pg, d, P);
        if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
            hist = 0;
            for (size_t i = 0; i < P; i++) d[i] = -pg[i];
            gd = -dot(pg, pg, P);
        }
        double step = 1.0;
        if (hist == 0) {
            double dn = sqrt(dot(d, d, P));
            if (dn > 1) step = 1.0 / dn;
        }
        double fn = 0;
        int ok = 0;
        for (int ls = 0; ls < 50; ls++) {
            for (size_t i = 0; i < P; i++) xn[i] = x[i] + step * d[i];
            if (l1 > 0)
                for (size_t i = no; i < P; i++) {
                    double xi = x[i] != 0 ? x[i] : -pg[i];
                    if (xn[i] * xi <= 0) xn[i] = 0;
                }
            fn = eval_fg(&p, xn, gn) + l1 * l1_norm(xn, P, no);
            double dec = 0;
            for (size_t i = 0; i < P; i++) dec += pg[i] * (xn[i] - x[i]);
            if (isfinite(fn) && fn <= f + 1e-4 * dec) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) break; /* no further decrease possible at double precision */
        /* history update with s = xn - x, y = gn - g (smooth gradients) */
        double *sq = S + head * P, *yq = Yv + head * P;
        for (size_t i = 0; i < P; i++) {
            sq[i] = xn[i] - x[i];
            yq[i] = gn[i] - g[i];
        }
        double sy = dot(sq, yq, P);
        if (sy > 1e-300) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % M;
            if (hist < M) hist++;
        }
        double fold = f;
        memcpy(x, xn, P * sizeof(double));
        memcpy(g, gn, P * sizeof(double));
        f = fn;
        pgn = pseudo_grad(x, g, pg, P, no, l1);
        if (es) { /* p.ev is at xn == x, the point just accepted */
            /* The kept point: the latest whose validation loss is within a small tolerance of
             * the lowest so far, so a fit that merely wobbles at its optimum still converges and
             * only one that overfits (the loss climbs) is cut back. */
            double vl = valid_loss(&p, Xv, yv, wv);
            if (vl < best_vl) best_vl = vl;
            if (vl <= best_vl * (1 + ES_TOLERANCE)) {
                best_it = it + 1;
                memcpy(best_x, x, P * sizeof(double));
            } else if (it + 1 - best_it >= hp->early_stopping_rounds) {
                it++;
                break;
            }
        }
        if (o && o->progress &&
            o->progress(o->progress_ud, "linear", it + 1, (int)hp->max_iter, f, NAN)) {
            it++;
            break;
        }
        if (o && o->time_budget_s > 0 && fw_now_seconds() - t0 > o->time_budget_s) {
            it++;
            break;
        }
        if (fold - f <= 1e-15 * (fabs(f) > 1 ? fabs(f) : 1)) {
            it++;
            break;
        }
    }
    lm->iters = it;
    lm->stopped_early = false;
    if (es && best_it < it) { /* keep the best validation point */
        memcpy(x, best_x, P * sizeof(double));
        lm->iters = best_it;
        lm->stopped_early = true;
    }
    memcpy(lm->theta, x, p.gdim * sizeof(double));
    for (size_t u = 0; u < p.n_used; u++)
        memcpy(lm->theta + (1 + p.nd + p.used[u]) * no, x + p.gdim + u * no, no * sizeof(double));
    st = FW_OK;
done:
    if (st)
        fw_err_set(err, st, "linear: out of memory for the L-BFGS solver (%zu weights)",
                   lm->n_feat * no);
    fw_free(mem);
    fw_free(rho);
    fw_free(al);
    fw_free(best_x);
    prob_free(&p);
    return st;
}
