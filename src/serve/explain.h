/* explain.h — owns the :explain answer of an artifact-backed model (see explain.c). */
#ifndef FW_SERVE_EXPLAIN_H
#define FW_SERVE_EXPLAIN_H

#include "artifact/bundle.h"
#include "core/buf.h"
#include "flywheel.h"

#include <stdint.h>

/* Appends the explanation fields of one instance (",\"explained\":{...},\"contributions\":{...}"
 * or the knn neighbours / the hier path) to b. own: the model's own n_outputs scores for the
 * instance (the default class is its decision). cls: the class to explain (-1: the decision's;
 * binary: the positive class). Thread-safe; allocates. */
fw_status fw__explain_bundle(const fw_bundle *bu, const fw_value *inputs, const double *own, int32_t cls, fw_buf *b,
                             fw_err *err);

#endif
