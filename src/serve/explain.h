/* explain.h — owns the :explain answer of an artifact-backed model (see explain.c). */
#ifndef FW_SERVE_EXPLAIN_H
#define FW_SERVE_EXPLAIN_H

#include "artifact/bundle.h"
#include "artifact/explain_inputs.h"
#include "core/buf.h"
#include "flywheel.h"

#include <stdint.h>

/* Appends the explanation fields of one instance (",\"explained\":{...},\"contributions\":{...}"
 * or the knn neighbours / the hier path) to b. own: the model's own n_outputs scores for the
 * instance (the default class is its decision). cls: the class to explain (-1: the decision's;
 * binary: the positive class). Thread-safe; allocates. */
fw_status fw__explain_bundle(const fw_bundle *bu, const fw_value *inputs, const double *own, int32_t cls, fw_buf *b,
                             fw_err *err);

/* The parts every model source's explanation is written with, so that all answer one format:
 * ",\"explained\":{\"output\":..,[\"class_index\":k,]\"method\":..[,\"space\":..]}" (name: the class
 * explained, NULL for a score or a value), and {"col": v, ..., "(bias)": bias} with one entry per
 * input column (names[i], per_input[i]), zeros left out, largest magnitude first, the bias last. */
/* Which output is explained: fw_explain_output_for (artifact/explain_inputs.h). */

void fw__explain_put_explained(fw_buf *b, fw_task task, const char *name, int32_t k, const char *method,
                               const char *space);
void fw__explain_put_contribs(fw_buf *b, const char *const *names, size_t n, const double *per_input, double bias);

#endif
