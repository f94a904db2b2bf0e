/* baseline_rank.c — owns the ranking baseline's choice of one feature's order: every dense feature
 * in both directions scored by NDCG@10 over the training queries, the best kept (rank_groups.h). */
#include "models/rank_groups.h"

#include "core/alloc.h"

#include <math.h>
#include <string.h>

fw_status fw__baseline_best_feature(const fw_train_data *d, uint64_t *feature, double *sign,
                                    fw_err *err) {
    const fw_matrix *X = d->X;
    size_t n = X->n_rows, nd = X->n_dense;
    *feature = UINT64_MAX;
    *sign = 1;
    if (!d->query || nd == 0 || n == 0) return FW_OK;
    fw_rank_groups g;
    fw_status st = fw_rank_groups_make(d->query, n, &g);
    if (st) return fw_err_set(err, st, "baseline: %s grouping the queries", fw_strerror(st));
    /* a prefix of the queries on wide data: about 20M feature-rows */
    uint32_t ng = g.n_groups;
    double budget = 2e7 / (double)nd;
    while (ng > 1 && (double)g.start[ng - 1] >= budget) ng--;
    uint32_t full = g.n_groups;
    g.n_groups = ng;
    double *key = fw_malloc(n * sizeof *key);
    void *scratch = fw_malloc(fw_rank_ndcg_scratch_bytes(&g));
    if (!key || !scratch) {
        fw_free(key);
        fw_free(scratch);
        g.n_groups = full;
        fw_rank_groups_free(&g);
        return fw_err_set(err, FW_ENOMEM, "baseline: out of memory");
    }
    double best = -INFINITY;
    for (size_t f = 0; f < nd; f++) {
        for (int dir = 0; dir < 2; dir++) {
            double sg = dir == 0 ? 1.0 : -1.0;
            for (uint32_t q = 0; q < ng; q++)
                for (uint32_t i = g.start[q]; i < g.start[q + 1]; i++) {
                    uint32_t r = g.rows[i];
                    float v = X->dense[(size_t)r * nd + f];
                    key[r] = v != v ? -1e30 : sg * (double)v;
                }
            double s = fw_rank_ndcg(&g, d->y, key, 1, 10, scratch);
            if (s > best) {
                best = s;
                *feature = f;
                *sign = sg;
            }
        }
    }
    fw_free(key);
    fw_free(scratch);
    g.n_groups = full;
    fw_rank_groups_free(&g);
    return FW_OK;
}
