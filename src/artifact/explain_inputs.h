/* explain_inputs.h — owns one record's additive explanation in the terms of its INPUT columns, for
 * every caller: the server's :explain (serve/explain.c writes it as JSON) and the C API
 * (fw_explain_inputs, include/flywheel.h). The family's per-feature contributions (linear,
 * baseline: exact; gbdt: TreeSHAP) of the output explained are summed per input column: one-hot
 * parts, missing indicators and timestamp parts of a column together, hashed categorical and text
 * columns given what their hashed entries add, a hashed cross split evenly between its columns (the
 * Shapley split of a conjunction); the rest is the bias, and all of it adds up to the explained
 * output's margin. Shown largest magnitude first (ties by name), zeros and non-finite values left
 * out (fw_explain_order).
 *
 *   fw_explain_scratch *s; fw_explain_scratch_new(bundle, &s);
 *   fw_row row; fw_explain_prepare(bundle, inputs, s, &row, &err);
 *   fw_explain_by_input(bundle, inputs, &row, NULL, -1, s, per_input, &bias, &eo, &err);
 *   size_t n = fw_explain_order(names, per_input, n_inputs, order); */
#ifndef FW_ARTIFACT_EXPLAIN_INPUTS_H
#define FW_ARTIFACT_EXPLAIN_INPUTS_H

#include "artifact/bundle.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

/* Which output an additive explanation shows, and its sign: binary explains the positive class's
 * log-odds (the negative class's when cls is 0: the same contributions negated), multiclass the
 * class asked for or the model's argmax of own[0..n_out) (softmax margin), multilabel the label
 * asked for or the first (log-odds), regression the raw value. k: the column of the model's
 * per-output contributions; shown: the class index named in the answer (-1: none). */
typedef struct {
    size_t k;
    double sign;
    int32_t shown;
    const char *space;
} fw_explain_output;
fw_explain_output fw_explain_output_for(fw_task task, int32_t cls, const double *own, size_t n_out);

/* Everything one explanation needs (a pipeline pass, the model's scratch, contribution buffers),
 * allocated once: a caller that keeps it explains without allocating. One thread at a time. */
typedef struct fw_explain_scratch fw_explain_scratch;
fw_status fw_explain_scratch_new(const fw_bundle *bu, fw_explain_scratch **out);
void fw_explain_scratch_free(fw_explain_scratch *s);
/* Sizes the pipeline pass for records with that much text (fw_pipeline_scratch_reserve_text). */
fw_status fw_explain_scratch_reserve_text(const fw_bundle *bu, fw_explain_scratch *s, size_t text_bytes);
/* The model's scratch inside s (what fw_knn_neighbors and fw_hier_explain take). */
void *fw_explain_scratch_model(fw_explain_scratch *s);

/* The record through the pipeline into *row (pointing into s until its next use). */
fw_status fw_explain_prepare(const fw_bundle *bu, const fw_value *inputs, fw_explain_scratch *s, fw_row *row,
                             fw_err *err);

/* The additive explanation of the prepared record (same inputs and row) per input column into
 * per_input (n_inputs values), the bias into *bias, the output explained into *eo. own: the scores
 * that decide the default class (NULL: the model's own, computed here with fw_model_predict_row); cls: the class asked for (-1: the
 * decision's; binary: the positive class). FW_EUNSUPPORTED for a family with no additive
 * explanation (knn, hier). */
fw_status fw_explain_by_input(const fw_bundle *bu, const fw_value *inputs, const fw_row *row, const double *own,
                              int32_t cls, fw_explain_scratch *s, double *per_input, double *bias,
                              fw_explain_output *eo, fw_err *err);

/* Dense contributions (nd of them) summed per input column into per_input (added to it). */
void fw_explain_group_dense(const fw_pipeline *pl, const double *dense_contrib, size_t nd, double *per_input);

/* The order contributions are shown in: the indexes i of v[0..n) with a non-zero finite value,
 * largest |v[i]| first, ties by names[i]; into order (n entries); returns how many. No allocation. */
size_t fw_explain_order(const char *const *names, const double *v, size_t n, uint32_t *order);

#endif
