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
    if (K == 1) {
        double s = margin[0];
        for (uint32_t t = 0; t < m->n_trees; t++) {
            uint32_t i = start[t];
            for (uint32_t l = m->tree_depth[t]; l > 0; l--) i = fw__gbdt_step(walk, i, xd);
            s += nodes[i].value;
        }
        margin[0] = s;
    } else {
        for (uint32_t t = 0; t < m->n_trees; t++) {
            uint32_t i = start[t];
            for (uint32_t l = m->tree_depth[t]; l > 0; l--) i = fw__gbdt_step(walk, i, xd);
            margin[t % K] += nodes[i].value;
        }
    }
    fw__gbdt_transform(m, margin, out);
    return FW_OK;
}
