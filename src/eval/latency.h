/* latency.h — owns the single-row scoring latency measurement the training report prints next to
 * each model's metrics: call a predict-row function over sample rows (cycling), time each call
 * with the monotonic clock, report p50/p90/p99 (nearest rank) in microseconds. */
#ifndef FW_EVAL_LATENCY_H
#define FW_EVAL_LATENCY_H

#include "features/matrix.h"
#include "flywheel.h"
#include "models/model.h"

#include <stddef.h>

/* Scores one row into out (the caller's n_outputs doubles). */
typedef fw_status (*fw_predict_row_fn)(void *ud, const fw_row *x, double *out);

typedef struct fw_latency {
    size_t n_calls;
    double p50_us, p99_us, mean_us, max_us;
    double p90_us;
} fw_latency;

/* Times n_calls calls (after `warmup` untimed ones) over X's rows in order, cycling.
 * n_outputs sizes the output buffer. Errors: no rows / n_calls 0 → FW_EINVAL; a failing call
 * → its status, naming the row. Runs on the calling thread. */
fw_status fw_eval_latency(const fw_matrix *X, size_t n_outputs, fw_predict_row_fn fn, void *ud,
                          size_t n_calls, size_t warmup, fw_latency *out, fw_err *err);
/* The same for a model, with a 16-byte-aligned scratch of fw_model_scratch_size bytes. */
fw_status fw_eval_latency_model(const fw_model *m, const fw_matrix *X, size_t n_calls,
                                fw_latency *out, fw_err *err);

#endif
