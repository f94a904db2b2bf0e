/* gbdt_predict.c — owns gbdt scoring: predict_block (blocks of 256 rows handed out to threads,
 * each scoring 64 rows at a time tree by tree so a tree's nodes stay in cache) and predict_row
 * (no allocation, no lock; the caller's scratch holds the per-class margins). Both add the trees to the base score
 * in the same order, so they agree bit for bit. */
#include "models/gbdt_int.h"

#include "core/alloc.h"
#include "core/threads.h"

#include <stdbool.h>
#include <string.h>

#define ROW_BLOCK 64
#define PRED_BLOCK (4 * ROW_BLOCK) /* rows per block handed to a thread */

typedef struct pred_job {
    const fw_gbdt_model *m;
    const fw_matrix *X;
    double *out;
} pred_job;

static bool has_nan(const float *x, size_t n) {
    int any = 0;
    for (size_t i = 0; i < n; i++) any |= x[i] != x[i];
    return any != 0;
}

/* Tree t over nr rows (x0, nd floats a row), eight rows at a time with their slot indexes in
 * registers: D steps of eight independent load chains, no index array in memory. Row r's leaf
 * value is added to dst[r * stride] when `add` (the scores), stored there otherwise (the column
 * scorer's cache). `nan` (the short step when the rows have no NaN) and `add` are compile-time
 * constants at every call site. */
static inline __attribute__((always_inline)) void tree_rows(const fw_gbdt_model *m, uint32_t t,
                                                            const float *x0, size_t nd, size_t nr,
                                                            double *dst, size_t stride, bool nan,
                                                            bool add) {
    const fw_gbdt_dsplit *sp = m->dsplit + m->dsplit_off[t];
    const uint8_t *dl = m->ddleft + m->dsplit_off[t];
    uint32_t D = m->tree_depth[t];
    const double *leaf = m->dleaf + m->dleaf_off[t] - ((1u << D) - 1);
#define FW__DSTEP(i, x) (nan ? fw__gbdt_dstep_nan(sp, dl, i, x) : fw__gbdt_dstep(sp, i, x))
#define FW__PUT(o, v) ((o) = add ? (o) + (v) : (v))
    size_t r = 0;
    for (; r + 8 <= nr; r += 8) {
        const float *xa = x0 + r * nd;
        uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
        for (uint32_t l = 0; l < D; l++) {
            i0 = FW__DSTEP(i0, xa);
            i1 = FW__DSTEP(i1, xa + nd);
            i2 = FW__DSTEP(i2, xa + 2 * nd);
            i3 = FW__DSTEP(i3, xa + 3 * nd);
            i4 = FW__DSTEP(i4, xa + 4 * nd);
            i5 = FW__DSTEP(i5, xa + 5 * nd);
            i6 = FW__DSTEP(i6, xa + 6 * nd);
            i7 = FW__DSTEP(i7, xa + 7 * nd);
        }
        double *o = dst + r * stride;
        FW__PUT(o[0], leaf[i0]);
        FW__PUT(o[stride], leaf[i1]);
        FW__PUT(o[2 * stride], leaf[i2]);
        FW__PUT(o[3 * stride], leaf[i3]);
        FW__PUT(o[4 * stride], leaf[i4]);
        FW__PUT(o[5 * stride], leaf[i5]);
        FW__PUT(o[6 * stride], leaf[i6]);
        FW__PUT(o[7 * stride], leaf[i7]);
    }
    for (; r < nr; r++) {
        const float *xa = x0 + r * nd;
        uint32_t i = 0;
        for (uint32_t l = 0; l < D; l++) i = FW__DSTEP(i, xa);
        FW__PUT(dst[r * stride], leaf[i]);
    }
#undef FW__PUT
#undef FW__DSTEP
}

/* One block of rows (their scores in out, K a row) through every dense tree, in tree order as in
 * predict_row. `nan` as in tree_rows. */
static inline __attribute__((always_inline)) void block_dense(const fw_gbdt_model *m,
                                                              const float *x0, size_t nd,
                                                              size_t nr, double *out, bool nan) {
    uint32_t K = m->n_groups, n_trees = m->n_trees;
    for (uint32_t t = 0; t < n_trees; t++) tree_rows(m, t, x0, nd, nr, out + t % K, K, nan, true);
}

/* Rows b..e over the dense trees, a few rows at a time: as many as keep their features within
 * ~32 KB (an L1 data cache), so the rows stay in L1 while every tree reads them (8 to 64 rows,
 * a multiple of 8). On Fashion-MNIST (784 features: 8 rows) ~13% faster than 64 rows. */
static void pred_range_dense(const fw_gbdt_model *m, const fw_matrix *X, double *out_all,
                             size_t b, size_t e) {
    uint32_t K = m->n_groups;
    size_t nd = X->n_dense;
    size_t step = nd ? (size_t)8192 / nd : ROW_BLOCK;
    step = step < 8 ? 8 : step > ROW_BLOCK ? ROW_BLOCK : step & ~(size_t)7;
    for (size_t rb = b; rb < e; rb += step) {
        size_t re = rb + step < e ? rb + step : e;
        double *out = out_all + rb * K;
        const float *x0 = X->dense + rb * nd;
        size_t nr = re - rb;
        for (size_t r = 0; r < nr; r++) memcpy(out + r * K, m->base_score, K * sizeof(double));
        if (has_nan(x0, nr * nd))
            block_dense(m, x0, nd, nr, out, true);
        else
            block_dense(m, x0, nd, nr, out, false);
        for (size_t r = 0; r < nr; r++) fw__gbdt_transform(m, out + r * K, out + r * K);
    }
}

static void pred_blocks(void *vctx, int thread, size_t block, size_t b, size_t e);

static void pred_range(void *vctx, int thread, size_t b, size_t e) {
    const pred_job *j = vctx;
    const fw_gbdt_model *m = j->m;
    const fw_gbdt_walk *walk = m->walk;
    const fw_gbdt_node *nodes = m->nodes;
    const uint32_t *start = m->tree_start;
    uint32_t K = m->n_groups, n_trees = m->n_trees;
    size_t nd = j->X->n_dense;
    uint32_t idx[ROW_BLOCK];
    if (m->dsplit) {
        pred_range_dense(m, j->X, j->out, b, e);
        return;
    }
    for (size_t rb = b; rb < e; rb += ROW_BLOCK) {
        size_t re = rb + ROW_BLOCK < e ? rb + ROW_BLOCK : e;
        double *out = j->out + rb * K;
        const float *x0 = j->X->dense + rb * nd;
        size_t nr = re - rb;
        for (size_t r = 0; r < nr; r++) memcpy(out + r * K, m->base_score, K * sizeof(double));
        for (uint32_t t = 0; t < n_trees; t++) {
            uint32_t root = start[t], k = t % K, depth = m->tree_depth[t];
            /* every row takes `depth` steps together: independent loads, no branches */
            for (size_t r = 0; r < nr; r++) idx[r] = root;
            for (uint32_t l = 0; l < depth; l++)
                for (size_t r = 0; r < nr; r++) idx[r] = fw__gbdt_step(walk, idx[r], x0 + r * nd);
            for (size_t r = 0; r < nr; r++) out[r * K + k] += nodes[idx[r]].value;
        }
        for (size_t r = 0; r < nr; r++) fw__gbdt_transform(m, out + r * K, out + r * K);
    }
}

fw_status fw__gbdt_predict_block(const fw_model *mm, const fw_matrix *X, int threads,
                                 double *out) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    if (!X || !out) return FW_EINVAL;
    if (X->n_dense != m->base.n_dense) return FW_ESCHEMA;
    if (X->n_rows == 0) return FW_OK;
    if (!X->dense) return FW_EINVAL;
    pred_job j = {m, X, out};
    /* A batch under ~0.1 ms of work (~1 ns per tree level per row) is not worth waking a pool
     * worker. Rows go out in blocks of PRED_BLOCK, taken dynamically, so a thread that gets no
     * core on a busy machine does not hold the others up; rows are independent, so the scores
     * are the same for any thread count. */
    if (threads <= 0) threads = fw_default_threads();
    double levels = 0;
    for (uint32_t t = 0; t < m->n_trees; t++) levels += 1 + m->tree_depth[t];
    if (levels * (double)X->n_rows < 1e5) threads = 1;
    if (threads == 1)
        pred_range(&j, 0, 0, X->n_rows);
    else
        fw_parallel_blocks(threads, X->n_rows, PRED_BLOCK, pred_blocks, &j);
    return FW_OK;
}

static void pred_blocks(void *vctx, int thread, size_t block, size_t b, size_t e) {
    (void)block;
    pred_range(vctx, thread, b, e);
}

/* One row over the dense trees, four trees at a time (independent load chains overlap in the
 * pipeline). Values are added in tree order. `nan` as in block_dense. */
static inline __attribute__((always_inline)) void row_dense(const fw_gbdt_model *m,
                                                            const float *xd, double *margin,
                                                            bool nan) {
    uint32_t K = m->n_groups, n_trees = m->n_trees, t = 0;
    const uint8_t *depth = m->tree_depth;
#define FW__DSTEP(sp, dl, i) (nan ? fw__gbdt_dstep_nan(sp, dl, i, xd) : fw__gbdt_dstep(sp, i, xd))
    for (; t + 4 <= n_trees; t += 4) {
        uint32_t o0 = m->dsplit_off[t], o1 = m->dsplit_off[t + 1], o2 = m->dsplit_off[t + 2],
                 o3 = m->dsplit_off[t + 3];
        const fw_gbdt_dsplit *s0 = m->dsplit + o0, *s1 = m->dsplit + o1, *s2 = m->dsplit + o2,
                             *s3 = m->dsplit + o3;
        const uint8_t *l0 = m->ddleft + o0, *l1 = m->ddleft + o1, *l2 = m->ddleft + o2,
                      *l3 = m->ddleft + o3;
        uint32_t d0 = depth[t], d1 = depth[t + 1], d2 = depth[t + 2], d3 = depth[t + 3];
        uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0;
        if (d0 == d1 && d0 == d2 && d0 == d3) {
            for (uint32_t l = 0; l < d0; l++) {
                i0 = FW__DSTEP(s0, l0, i0);
                i1 = FW__DSTEP(s1, l1, i1);
                i2 = FW__DSTEP(s2, l2, i2);
                i3 = FW__DSTEP(s3, l3, i3);
            }
        } else {
            for (uint32_t l = 0; l < d0; l++) i0 = FW__DSTEP(s0, l0, i0);
            for (uint32_t l = 0; l < d1; l++) i1 = FW__DSTEP(s1, l1, i1);
            for (uint32_t l = 0; l < d2; l++) i2 = FW__DSTEP(s2, l2, i2);
            for (uint32_t l = 0; l < d3; l++) i3 = FW__DSTEP(s3, l3, i3);
        }
        double v0 = m->dleaf[m->dleaf_off[t] + i0 - ((1u << d0) - 1)];
        double v1 = m->dleaf[m->dleaf_off[t + 1] + i1 - ((1u << d1) - 1)];
        double v2 = m->dleaf[m->dleaf_off[t + 2] + i2 - ((1u << d2) - 1)];
        double v3 = m->dleaf[m->dleaf_off[t + 3] + i3 - ((1u << d3) - 1)];
        if (K == 1) {
            margin[0] += v0;
            margin[0] += v1;
            margin[0] += v2;
            margin[0] += v3;
        } else {
            margin[t % K] += v0;
            margin[(t + 1) % K] += v1;
            margin[(t + 2) % K] += v2;
            margin[(t + 3) % K] += v3;
        }
    }
    for (; t < n_trees; t++) {
        uint32_t o = m->dsplit_off[t];
        const fw_gbdt_dsplit *sp = m->dsplit + o;
        const uint8_t *dl = m->ddleft + o;
        uint32_t i = 0, d = depth[t];
        for (uint32_t l = 0; l < d; l++) i = FW__DSTEP(sp, dl, i);
        margin[t % K] += m->dleaf[m->dleaf_off[t] + i - ((1u << d) - 1)];
    }
#undef FW__DSTEP
}

fw_status fw__gbdt_predict_row(const fw_model *mm, const fw_row *x, void *scratch, double *out) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    if (!x || !x->dense || !scratch || !out) return FW_EINVAL;
    double *margin = scratch;
    uint32_t K = m->n_groups;
    memcpy(margin, m->base_score, K * sizeof(double));
    const fw_gbdt_node *nodes = m->nodes;
    const fw_gbdt_walk *walk = m->walk;
    const uint32_t *start = m->tree_start;
    const float *xd = x->dense;
    if (m->dsplit) {
        if (has_nan(xd, m->base.n_dense))
            row_dense(m, xd, margin, true);
        else
            row_dense(m, xd, margin, false);
        fw__gbdt_transform(m, margin, out);
        return FW_OK;
    }
    /* Four trees walk together (independent load chains overlap in the pipeline); a tree that
     * reaches its leaf early keeps looping on it. Values are added in tree order, so the sum is
     * the same as a one-tree-at-a-time walk. */
    const uint8_t *depth = m->tree_depth;
    uint32_t n_trees = m->n_trees, t = 0;
    for (; t + 4 <= n_trees; t += 4) {
        uint32_t i0 = start[t], i1 = start[t + 1], i2 = start[t + 2], i3 = start[t + 3];
        uint32_t d = depth[t];
        if (depth[t + 1] > d) d = depth[t + 1];
        if (depth[t + 2] > d) d = depth[t + 2];
        if (depth[t + 3] > d) d = depth[t + 3];
        for (; d > 0; d--) {
            i0 = fw__gbdt_step(walk, i0, xd);
            i1 = fw__gbdt_step(walk, i1, xd);
            i2 = fw__gbdt_step(walk, i2, xd);
            i3 = fw__gbdt_step(walk, i3, xd);
        }
        if (K == 1) {
            margin[0] += nodes[i0].value;
            margin[0] += nodes[i1].value;
            margin[0] += nodes[i2].value;
            margin[0] += nodes[i3].value;
        } else {
            margin[t % K] += nodes[i0].value;
            margin[(t + 1) % K] += nodes[i1].value;
            margin[(t + 2) % K] += nodes[i2].value;
            margin[(t + 3) % K] += nodes[i3].value;
        }
    }
    for (; t < n_trees; t++) {
        uint32_t i = start[t];
        for (uint32_t l = depth[t]; l > 0; l--) i = fw__gbdt_step(walk, i, xd);
        margin[t % K] += nodes[i].value;
    }
    fw__gbdt_transform(m, margin, out);
    return FW_OK;
}

/* ---- rows that differ in one column (permutation importance: fw_col_scorer) ------------------ */

/* The cached values: what every tree gives every base row. A call walks only the trees that
 * split on the changed column (on the synthetic 50-feature benchmark about half of them) and
 * takes the others' values from the cache; each row still adds its trees to the base score in
 * tree order, so the scores are predict_block's bit for bit. */
typedef struct col_scorer {
    fw_col_scorer base;
    const fw_gbdt_model *m;
    size_t n, nd;
    int threads;
    double *leaf;  /* n x n_trees, row-major */
    uint8_t *uses; /* nd x n_trees: 1 when tree t splits on the feature */
    const fw_matrix *X; /* the base rows while the cache is made */
} col_scorer;

/* One call's pass (calls may run on several threads at once: the scorer is read-only then). */
typedef struct col_job {
    const col_scorer *s;
    const fw_matrix *X;
    size_t col;
    double *out;
} col_job;

#define COL_CACHE_MAX ((size_t)64 << 20) /* bytes of cached tree values at most */

static size_t dense_step(size_t nd) { /* rows per step, as pred_range_dense */
    size_t step = nd ? (size_t)8192 / nd : ROW_BLOCK;
    return step < 8 ? 8 : step > ROW_BLOCK ? ROW_BLOCK : step & ~(size_t)7;
}

static void cache_blocks(void *vctx, int thread, size_t block, size_t b, size_t e) {
    (void)thread;
    (void)block;
    col_scorer *s = vctx;
    const fw_gbdt_model *m = s->m;
    size_t nd = s->nd, T = m->n_trees, step = dense_step(nd);
    for (size_t rb = b; rb < e; rb += step) {
        size_t nr = (rb + step < e ? rb + step : e) - rb;
        const float *x0 = s->X->dense + rb * nd;
        bool nan = has_nan(x0, nr * nd);
        for (uint32_t t = 0; t < T; t++) {
            if (nan)
                tree_rows(m, t, x0, nd, nr, s->leaf + rb * T + t, T, true, false);
            else
                tree_rows(m, t, x0, nd, nr, s->leaf + rb * T + t, T, false, false);
        }
    }
}

static void col_blocks(void *vctx, int thread, size_t block, size_t b, size_t e) {
    (void)thread;
    (void)block;
    const col_job *j = vctx;
    const col_scorer *s = j->s;
    const fw_gbdt_model *m = s->m;
    size_t nd = s->nd, T = m->n_trees, step = dense_step(nd);
    uint32_t K = m->n_groups;
    const uint8_t *use = s->uses + j->col * T;
    for (size_t rb = b; rb < e; rb += step) {
        size_t nr = (rb + step < e ? rb + step : e) - rb;
        const float *x0 = j->X->dense + rb * nd;
        double *out = j->out + rb * K;
        bool nan = has_nan(x0, nr * nd);
        for (size_t r = 0; r < nr; r++) memcpy(out + r * K, m->base_score, K * sizeof(double));
        for (uint32_t t = 0; t < T; t++) {
            uint32_t k = t % K;
            if (use[t]) {
                if (nan)
                    tree_rows(m, t, x0, nd, nr, out + k, K, true, true);
                else
                    tree_rows(m, t, x0, nd, nr, out + k, K, false, true);
            } else {
                const double *lv = s->leaf + rb * T + t;
                for (size_t r = 0; r < nr; r++) out[r * K + k] += lv[r * T];
            }
        }
        for (size_t r = 0; r < nr; r++) fw__gbdt_transform(m, out + r * K, out + r * K);
    }
}

/* Runs fn(ctx) over the scorer's rows on s->threads (one thread under ~0.1 ms of work, as
 * predict_block; a call from inside another pass runs on its thread). */
static void col_run(const col_scorer *s, fw_block_fn fn, void *ctx, double tree_share) {
    double levels = 0;
    for (uint32_t t = 0; t < s->m->n_trees; t++) levels += 1 + s->m->tree_depth[t];
    int threads = levels * tree_share * (double)s->n < 1e5 ? 1 : s->threads;
    fw_parallel_blocks(threads, s->n, PRED_BLOCK, fn, ctx);
}

static fw_status col_predict(fw_col_scorer *cs, const fw_matrix *X, size_t col, double *out) {
    col_scorer *s = (col_scorer *)cs;
    if (!X || !out || X->n_rows != s->n || X->n_dense != s->nd || col >= s->nd || !X->dense) return FW_EINVAL;
    size_t used = 0;
    for (uint32_t t = 0; t < s->m->n_trees; t++) used += s->uses[col * s->m->n_trees + t];
    col_job j = {s, X, col, out};
    col_run(s, col_blocks, &j, s->m->n_trees ? (double)used / s->m->n_trees : 0);
    return FW_OK;
}

static void col_free(fw_col_scorer *cs) {
    col_scorer *s = (col_scorer *)cs;
    if (!s) return;
    fw_free(s->leaf);
    fw_free(s->uses);
    fw_free(s);
}

fw_status fw__gbdt_col_scorer(const fw_model *mm, const fw_matrix *base, int threads, fw_col_scorer **out) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    *out = NULL;
    if (base->n_dense != m->base.n_dense || !base->dense) return FW_EINVAL;
    size_t n = base->n_rows, nd = base->n_dense, T = m->n_trees;
    if (!m->dsplit || n == 0 || T == 0 || (double)n * (double)T * sizeof(double) > (double)COL_CACHE_MAX)
        return FW_EUNSUPPORTED;
    col_scorer *s = fw_calloc(1, sizeof *s);
    if (!s) return FW_ENOMEM;
    s->base.predict = col_predict;
    s->base.free = col_free;
    s->m = m;
    s->n = n;
    s->nd = nd;
    s->threads = threads > 0 ? threads : fw_default_threads();
    s->leaf = fw_malloc(n * T * sizeof(double));
    s->uses = fw_calloc(nd * T, 1);
    if (!s->leaf || !s->uses) {
        col_free(&s->base);
        return FW_ENOMEM;
    }
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t i = m->tree_start[t]; i < m->tree_start[t + 1]; i++)
            if (m->nodes[i].left >= 0) s->uses[(size_t)(m->nodes[i].feature & FW_GBDT_FEATURE_MASK) * T + t] = 1;
    s->X = base;
    col_run(s, cache_blocks, s, 1.0);
    s->X = NULL;
    *out = &s->base;
    return FW_OK;
}
