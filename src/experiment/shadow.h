/* shadow.h — owns the agreement report of a shadow split (docs/EXPERIMENTS.md, "Shadow
 * agreement"): on the requests the champion answered and a shadow also scored, how often the
 * shadow's answer differs from the champion's (the class disagreement rate, with a Wilson
 * interval), how far its scores are (mean |difference|, mean signed difference, quantiles of
 * |difference|), and — on the requests whose label has come — both models' live metric on the
 * same traffic (accuracy for classifiers, mean absolute error for regressors) with the paired
 * difference and its interval. One report per shadow model version seen.
 *
 * Fed row by row (the store's fw_store_log_shadow_rows, or a test); the result does not depend on
 * the rows' order (values are sorted before they are summed). Not thread-safe. */
#ifndef FW_EXPERIMENT_SHADOW_H
#define FW_EXPERIMENT_SHADOW_H

#include "core/buf.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fw_shadow fw_shadow;

fw_status fw_shadow_new(fw_shadow **out, fw_err *err);
void fw_shadow_free(fw_shadow *s);

/* One request: the shadow's model and version, the champion's and the shadow's logged answers and
 * outputs (JSON arrays, one entry per instance), and the label in force (JSON text; NULL: none).
 * A request whose texts do not parse, or whose two sides have different instance counts, is
 * counted as skipped. FW_OK or FW_ENOMEM. */
fw_status fw_shadow_add(fw_shadow *s, const char *shadow_model, int64_t shadow_version, const char *answers,
                        const char *outputs, const char *shadow_answers, const char *shadow_outputs,
                        const char *label_json, fw_err *err);

/* Requests added (skipped ones included). */
uint64_t fw_shadow_requests(const fw_shadow *s);

/* {"shadows":[{"shadow":"NAME#VERSION","requests":..,"instances":..,"skipped":..,
 *   "disagreement":{"compared":..,"differ":..,"rate":..,"interval":[lo,hi]},
 *   "score_diff":{"compared":..,"mean_abs":..,"mean":..,"p50_abs":..,"p90_abs":..,"p99_abs":..,"max_abs":..},
 *   "live":{"metric":"accuracy"|"mae","labelled":..,"champion":..,"shadow":..,"difference":..,"interval":[lo,hi]}}]}
 * appended to out (keys in docs/EXPERIMENTS.md); numbers not computable are null. */
void fw_shadow_json(fw_shadow *s, fw_buf *out);
void fw_shadow_text(fw_shadow *s, fw_buf *out);
/* An HTML section (a heading and a table) to put in a page. */
void fw_shadow_html(fw_shadow *s, fw_buf *out);

#endif
