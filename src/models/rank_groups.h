/* rank_groups.h — owns the query groups the ranking objectives of the model families share (gbdt's
 * LambdaMART, linear's pairwise loss, the baseline's best-feature choice): rows grouped by query id
 * (rows of a query need not be contiguous) and NDCG@k of a score vector over those groups.
 * NDCG here is the training-time measure: linear gain, discount 1/log2(position + 1), ties in score
 * broken by row order (the reports' NDCG, src/eval/ranking.c, averages tied gains instead); a
 * query without a relevant row counts as 1 (nothing to order) so it neither helps nor hurts. */
#ifndef FW_MODELS_RANK_GROUPS_H
#define FW_MODELS_RANK_GROUPS_H

#include "flywheel.h"
#include "models/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fw_rank_groups {
    size_t n_rows;
    uint32_t n_groups;
    uint32_t *start;  /* n_groups + 1: group g owns rows[start[g] .. start[g + 1]) */
    uint32_t *rows;   /* n_rows row indices, grouped by query, ascending within a group */
    uint32_t max_size; /* the largest group */
} fw_rank_groups;

/* Groups n rows by query[i]. FW_OK, FW_EINVAL (query NULL, n == 0), FW_ENOMEM. */
fw_status fw_rank_groups_make(const uint32_t *query, size_t n, fw_rank_groups *g);
void fw_rank_groups_free(fw_rank_groups *g);

/* Mean NDCG@k over the groups of scores s (s[row], stride: s[row * stride]) against labels y
 * (relevance >= 0). k = 0: every row. scratch: 2 * max_size uint32 + max_size doubles
 * (fw_rank_ndcg_scratch_bytes). Deterministic. */
size_t fw_rank_ndcg_scratch_bytes(const fw_rank_groups *g);
double fw_rank_ndcg(const fw_rank_groups *g, const double *y, const double *s, size_t stride,
                    size_t k, void *scratch);

/* Sorts idx[0..m) (row indices) by key[idx] descending, ties by row index ascending. */
void fw_rank_sort_desc(uint32_t *idx, size_t m, const double *key, size_t stride);

/* ---- baseline_rank.c ---- */

/* The ranking baseline's choice: the dense feature and direction (sign +1: higher value first,
 * -1: lower first; a missing value always last) whose order scores the best mean NDCG@10 over
 * d's training queries (d->query required). Ties → the lower feature index, descending first.
 * On wide data a prefix of the queries (about 20M feature-rows) decides. */
fw_status fw__baseline_best_feature(const fw_train_data *d, uint64_t *feature, double *sign,
                                    fw_err *err);

#endif
