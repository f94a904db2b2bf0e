/* explain.h — owns what the families that have no additive explanation say about one answer:
 * knn, the nearest training rows with their labels and distances; hier, the path through the
 * hierarchy (the group, then the class within it) with each level's linear contributions. The
 * serving layer (serve/explain.c) turns them into the :explain reply.
 *
 *   uint64_t rows[8]; double dist[8], lab[8];
 *   size_t n = fw_knn_neighbors(model, &row, scratch, 8, rows, dist, lab);
 */
#ifndef FW_MODELS_EXPLAIN_H
#define FW_MODELS_EXPLAIN_H

#include "models/model.h"

#include <stddef.h>
#include <stdint.h>

/* True when m is a knn / hier model. */
bool fw_model_is_knn(const fw_model *m);
bool fw_model_is_hier(const fw_model *m);

/* knn: the neighbours that vote for x, nearest first (ties by training row), at most max:
 * training row index (in the order the model was fitted on), distance (euclidean, or cosine
 * distance) and the first label value (class index, or the target value). Returns how many
 * (0 when x has a missing feature). scratch: the model's predict scratch. Thread-safe. */
size_t fw_knn_neighbors(const fw_model *m, const fw_row *x, void *scratch, size_t max, uint64_t *rows,
                        double *dist, double *label);

/* hier: the path of class cls for x. */
typedef struct fw_hier_path {
    uint32_t group;        /* the class's group */
    size_t n_groups;
    double p_group;        /* P(group | x) */
    double p_in_group;     /* P(class | group, x) */
    bool has_group_model;  /* false with one group: P(group) = 1, no contributions */
    bool has_class_model;  /* false for a group of one class: P(class | group) = 1 */
} fw_hier_path;

/* Fills *path and the contributions (n_dense + 1 each, the last is the bias, margin space) of the
 * group's logit in the group classifier and of the class's logit within its group. Either array
 * is left zero when that level has no model. FW_EINVAL for a class out of range; FW_ENOMEM. */
fw_status fw_hier_explain(const fw_model *m, const fw_row *x, uint32_t cls, fw_hier_path *path,
                          double *group_contrib, double *class_contrib);

#endif
