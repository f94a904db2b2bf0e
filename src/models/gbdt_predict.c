/* gbdt_predict.c — owns gbdt scoring: predict_block (rows split over threads, each thread scores
 * blocks of 64 rows tree by tree so a tree's nodes stay in cache) and predict_row (no allocation,
 * no lock; the caller's scratch holds the per-class margins). Both add the trees to the base score
 * in the same order, so they agree bit for bit. */
#include "models/gbdt_int.h"

#include "core/threads.h"

#include <string.h>

#define ROW_BLOCK 64

typedef struct pred_job {
    const fw_gbdt_model *m;
    const fw_matrix *X;
    double *out;
} pred_job;

static void pred_range(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    const pred_job *j = vctx;
    const fw_gbdt_model *m = j->m;
    const fw_gbdt_walk *walk = m->walk;
    const fw_gbdt_node *nodes = m->nodes;
    const uint32_t *start = m->tree_start;
    uint32_t K = m->n_groups, n_trees = m->n_trees;
    size_t nd = j->X->n_dense;
    uint32_t idx[ROW_BLOCK];
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
    /* Small batches are not worth a thread. */
    if (threads <= 0) threads = fw_default_threads();
    if (X->n_rows < 256) threads = 1;
    fw_parallel_for(threads, X->n_rows, pred_range, &j);
    return FW_OK;
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
