/* input_warnings.h — owns the warnings about an instance's values that are still scored: an unseen
 * category (scored as "__unknown__"), a value of the other type read as the input's (a numeric
 * string for a number, a number for a category), and most features missing (imputed). The /v1
 * answers carry them under "warnings", the KServe v2 answers under "parameters"."warnings"; both
 * list at most FW_MAX_INPUT_WARNINGS and count the rest in a last entry. Each kind is counted once
 * per instance in the model's metrics (flywheel_input_warnings_total{kind}). */
#ifndef FW_SERVE_INPUT_WARNINGS_H
#define FW_SERVE_INPUT_WARNINGS_H

#include "core/buf.h"
#include "serve/model.h"

#include <stddef.h>

enum { FW_MAX_INPUT_WARNINGS = 100 };

/* Appends the warnings about instance idx (vals: its n_inputs values in the model's order) to w as
 * comma-separated JSON strings, counting every one in *n (listed or not). what names the
 * instances in the text: "instances" (/v1) or "rows" (v2), as in "instances[3].color: ...". */
void fw__input_warnings(const fw_srv_model *m, const fw_value *vals, const char *what, size_t idx, fw_buf *w,
                        size_t *n);
/* Appends the input warnings iw (n_iw counted) after warn's n_warn entries, with a last entry
 * counting those not listed. */
void fw__input_warnings_merge(fw_buf *warn, size_t n_warn, const fw_buf *iw, size_t n_iw);

#endif
