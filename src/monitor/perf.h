/* perf.h — owns live performance of one served model version (issue 17, "Live performance" and
 * "Estimated performance before labels arrive"): predictions' scores joined to the labels that
 * come back through /v1/feedback by request id, the primary metric and its siblings per window and
 * per slice (data.groups) with confidence intervals, the label-free estimate of the metric from
 * the model's confidences (CBPE, classifiers only) beside the realized one, and the two alarms
 * FW_ALARM_PERFORMANCE (realized metric) and FW_ALARM_ESTIMATE (estimate).
 *
 * Who calls what: the monitor of a served model version (monitor.h) owns one tracker. Request
 * threads call fw_perf_observe once per predicted instance; feedback threads (and the replay
 * command's `--label COL`, right after each row) call fw_perf_label. Both are thread-safe.
 * fw_perf_observe never allocates and holds one short lock (a shard of the table, then the
 * estimate window's append); the estimate window's computation (O(W log W) once per W
 * predictions: ~375k instructions for a binary W = 500) runs on the closer's thread when one is
 * attached (the full window queued: the prediction that fills it only swaps the two buffers; a
 * window that fills while the previous one still waits closes both on its thread, in order), and
 * on the thread whose row closed it otherwise. The label window's close (metrics and a
 * bootstrap of 200 resamples for the window and each slice: ~87k instructions x W, tens of ms at
 * W = 1,000) does not hold up the labeller: the label that fills the window swaps it for an empty
 * one (a pointer swap under the lock) and queues it; with a closer attached (fw_perf_set_closer:
 * the server's monitor thread) the closer's thread closes the queued windows
 * (fw_perf_close_next) and raises their alarms; without one (a library user, the replay) the
 * labelling thread closes them itself after letting the lock go, and fw_perf_label returns the
 * alarms as before. Either way windows close one at a time in stream order, with a bootstrap seed
 * fixed by the window's number: the same labels give the same figures and alarms.
 *
 * Join: a table of recent predictions (16-way sets keyed by a 64-bit hash of the request id) that
 * starts at 64 slots and doubles whenever a prediction finds its set full, up to `table_slots`;
 * at the cap a full set replaces its oldest entry (first in, first out). Memory = slots x (16 +
 * 8 x n_outputs + 2 x slice columns, rounded up to 8) bytes: 1.5 KiB for a new binary model,
 * 1.5 MiB at the 65,536 default cap. An insert reads the set's keys (two cache lines) and writes
 * one record; a grow
 * takes every shard lock once (log2(cap / 64) times in a tracker's life). A label whose request
 * is no longer there (hours late, or written by an earlier process) is looked up through the
 * lookup function (fw_perf_set_lookup): fw_perf_store_lookup_* reads the prediction log of a store
 * home (store/store.h fw_store_log_get_prediction). A request that carried several instances joins
 * its label to its first instance.
 *
 * Windows: tumbling, by count (window_rows labelled rows; window_rows predictions for the
 * estimate) and by time (a window whose first row is window_seconds older than the current one
 * closes early when it holds at least min_window_rows; timestamps are the caller's, so a replay
 * that passes 0 closes by count only and live and replay agree row for row).
 *
 * Per slice: each followed value of a data.groups column (at most max_slice_values per column) has
 * its own FW_ALARM_PERFORMANCE alarm (column = the group column, slice = the value), decided on the
 * value's rows of each label window (when it holds min_slice_rows) against the value's first such
 * window (the artifact records no per-slice test metric), as below with alpha divided by the
 * number of values that can be followed (followed columns x max_slice_values: Bonferroni).
 *
 * Alarms (raised once; cleared when a later window of the same kind passes): a window's metric m
 * is compared with the reference expectation r (realized: the model's test-set primary metric,
 * recorded in the artifact as metric.model; estimate: the estimate on the test set, or the mean
 * estimate of the stream's first windows): with d = r - m (m - r for losses and errors),
 *     alarm when d > z(1 - alpha) x sqrt(se_window^2 + se_reference^2) + min_drop
 * where se_window is the window's sampling error (realized: from the window's bootstrap; estimate:
 * analytic, see perf.c) and min_drop the effect-size floor (relative to r for unbounded error
 * metrics such as rmse). See docs/MONITORING.md, "Live performance".
 *
 * Example:
 *   fw_perf_model pm = {.task = FW_TASK_BINARY, .n_outputs = 1, .reference = 0.95,
 *                       .reference_rows = 1150, ...};
 *   fw_perf_settings ps; fw_perf_settings_init(&ps);
 *   fw_perf *p; if (fw_perf_new(&pm, &ps, &p, &err)) ...
 *   request thread:  fw_perf_observe(p, rid, rid_len, scores, inputs, row, now_ms, al, 4);
 *   feedback thread: double y; if (!fw_perf_parse_label(p, txt, len, &y, &err))
 *                        fw_perf_label(p, rid, rid_len, y, now_ms, al, 4);
 *   state:           fw_perf_state_json(p, &buf);
 *   fw_perf_free(p); */
#ifndef FW_MONITOR_PERF_H
#define FW_MONITOR_PERF_H

#include "core/buf.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "monitor/alarm.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_perf fw_perf;

typedef struct fw_perf_settings {
    size_t window_rows;         /* labelled rows (and predictions, for the estimate) per window: 500 */
    double window_seconds;      /* time bound of a window, seconds (0: count only): 3600 */
    size_t min_window_rows;     /* a window closed by time needs at least this many rows: 100 */
    size_t table_slots;         /* recent predictions kept for the join (rounded up to a power of
                                   two, at least 64): 65536 */
    double alpha;               /* one-sided false-alarm level of one window's test: 0.001 */
    double min_drop;            /* effect-size floor of an alarm: 0.02 (absolute for metrics in
                                   [0, 1], relative to the reference for errors such as rmse) */
    size_t max_slice_values;    /* distinct values kept per slice column, the rest "(other)": 16 */
    size_t min_slice_rows;      /* a slice's metric is reported when it holds this many rows: 30 */
    size_t bootstrap_resamples; /* resamples of a window's intervals: 200 */
    size_t estimate_reference_windows; /* estimate windows averaged into the estimate's reference
                                   when the model has none: 4 (no estimate alarm before) */
    uint64_t seed;              /* bootstrap seed: 42 */
} fw_perf_settings;
void fw_perf_settings_init(fw_perf_settings *s);

/* What the tracker needs of the model (copied by fw_perf_new; nothing is kept). */
typedef struct fw_perf_model {
    fw_task task;                 /* binary, multiclass or regression (others: FW_EUNSUPPORTED) */
    size_t n_outputs;             /* binary 1 (P(positive)), multiclass n_classes, regression 1 */
    const char *const *classes;   /* n_classes class labels (binary: [negative, positive]), or NULL */
    size_t n_classes;
    const char *primary;          /* the primary metric (NULL: fw_eval_default_metric(task)) */
    double threshold;             /* binary decision threshold (NaN or <= 0: 0.5) */
    double reference;             /* the primary metric on the test set (artifact metric.model);
                                     NaN: unknown, the first closed label window stands in for it
                                     (set NaN explicitly: 0 is a value) */
    double reference_se;          /* its standard error (<= 0 or NaN: from reference_rows, else 0) */
    size_t reference_rows;        /* test rows behind reference (0: unknown) */
    bool has_reference_estimate;  /* reference_estimate below is known (false: the mean estimate
                                     of the first estimate_reference_windows windows stands in) */
    double reference_estimate;    /* the estimate (CBPE) of the primary metric on the test set: the
                                     estimate alarm's reference. Not the realized metric: CBPE is
                                     only as calibrated as the model, and comparing it with the
                                     realized metric would alarm on a calibration offset alone */
    const char *const *input_names; /* the model's inputs, in order (to find the slice columns) */
    size_t n_inputs;
    const char *const *slice_columns; /* data.groups: slice columns (those that are not inputs are
                                         reported as unavailable) */
    size_t n_slice_columns;
} fw_perf_model;

/* Looks up a prediction the table no longer holds: fills scores (n_outputs) and slice_values
 * (n_slice_columns texts, NUL-terminated, "" when absent, each at most FW_PERF_SLICE_TEXT bytes)
 * and *row (its stream index, or UINT64_MAX when unknown). FW_OK, FW_ENOTFOUND, or an error.
 * Called from the feedback thread, outside the tracker's locks. */
#define FW_PERF_SLICE_TEXT 64
typedef fw_status (*fw_perf_lookup_fn)(void *ud, const char *request_id, size_t rid_len, double *scores,
                                       size_t n_outputs, char (*slice_values)[FW_PERF_SLICE_TEXT],
                                       size_t n_slice_columns, uint64_t *row, fw_err *err);

fw_status fw_perf_new(const fw_perf_model *m, const fw_perf_settings *s, fw_perf **out, fw_err *err);
void fw_perf_free(fw_perf *p);
/* Sets the lookup used beyond the table (NULL: none, such labels count as unmatched). Call before
 * any label arrives. */
void fw_perf_set_lookup(fw_perf *p, fw_perf_lookup_fn fn, void *ud);

/* The join table's current number of slots (it grows with the traffic up to table_slots). */
size_t fw_perf_table_slots(fw_perf *p);

/* One predicted instance: its request id, the model's n_outputs scores, its inputs in the model's
 * order (NULL: no slices), its stream index and wall time (Unix ms; 0 in a replay). Writes the
 * alarms this row raised (the estimate window it closed) into out[0..cap) and returns how many.
 * Thread-safe; no allocation. */
size_t fw_perf_observe(fw_perf *p, const char *request_id, size_t rid_len, const double *scores,
                       const fw_value *inputs, uint64_t row, int64_t ts_ms, fw_alarm *out, size_t cap);

/* Who closes full label and estimate windows. Called by the thread whose label (or prediction)
 * filled a window, outside the tracker's locks, after queueing it: return true when a thread of
 * the caller's will call fw_perf_close_next until it reports no window (soon: the window's figures
 * and alarms wait for it); false to have the filling thread close it (e.g. the closer's thread is
 * stopping). */
typedef bool (*fw_perf_closer_fn)(void *ud);
/* Attaches the closer (NULL: the filling thread closes, the default). Call before any label or
 * prediction. */
void fw_perf_set_closer(fw_perf *p, fw_perf_closer_fn fn, void *ud);
/* Closes the queued estimate window, else the oldest queued label window, if any: *closed tells
 * whether there was one; its alarms are written to out[0..cap) (at most 2 + the followed slice
 * values) and their count returned.
 * Thread-safe; windows close one at a time, in order. */
size_t fw_perf_close_next(fw_perf *p, fw_alarm *out, size_t cap, bool *closed);
/* Closes the queued estimate window, if any (what a reader of the estimate calls first); its alarms
 * into out[0..cap), their count returned. Thread-safe. */
size_t fw_perf_close_estimate(fw_perf *p, fw_alarm *out, size_t cap);
/* Windows queued or being closed now, label windows and the estimate's (0: every full window's
 * figures are published). */
size_t fw_perf_pending(fw_perf *p);

/* A label text as feedback carries it (JSON's string contents or number text, or a CSV cell) →
 * y: binary 0/1 (the positive class's name or "1"/"true" → 1, the negative's or "0"/"false" → 0),
 * multiclass the class index, regression the number. FW_EDATA naming the text otherwise. */
fw_status fw_perf_parse_label(const fw_perf *p, const char *text, size_t len, double *y, fw_err *err);

/* The label y of a request (see fw_perf_parse_label), at wall time ts_ms (0 in a replay): joined
 * to its prediction (table, then lookup), added to the current window; when that fills, it is
 * queued for its close: without a closer it is closed here (after the lock is let go) and the
 * alarms raised are written to out[0..cap); with one, the closer's thread closes it and 0 is
 * returned. Returns how many alarms were written.
 * A label whose prediction cannot be found counts as unmatched. A label that is not one of the
 * task's values counts as invalid. Thread-safe. fw_perf_free discards windows still queued:
 * their owner closes them first (fw_perf_close_next). */
size_t fw_perf_label(fw_perf *p, const char *request_id, size_t rid_len, double y, int64_t ts_ms,
                     fw_alarm *out, size_t cap);

/* The alarms active now (performance, estimate, then the slices' performance alarms) into
 * out[0..cap); returns how many were copied. */
size_t fw_perf_active(fw_perf *p, fw_alarm *out, size_t cap);

/* Counters and the last closed windows, for /metrics and the state JSON. */
typedef struct fw_perf_summary {
    uint64_t predictions;       /* observed */
    uint64_t labels;            /* received */
    uint64_t joined;            /* joined to a prediction (table or lookup) */
    uint64_t joined_lookup;     /* of which through the lookup */
    uint64_t unmatched;         /* no prediction found */
    uint64_t invalid;           /* label not a value of the task */
    uint64_t windows;           /* realized windows closed */
    uint64_t estimate_windows;  /* estimate windows closed */
    char metric[40];            /* the primary metric's name */
    double reference;           /* the reference expectation in use (NaN: none yet) */
    double realized, realized_lo, realized_hi;   /* last realized window (NaN: none yet) */
    double estimated, estimated_lo, estimated_hi; /* last estimate window (NaN: none / regression) */
    double estimated_labelled;  /* the estimate over the last realized window's rows (NaN: none) */
} fw_perf_summary;
void fw_perf_summary_get(fw_perf *p, fw_perf_summary *out);

/* One followed slice value, for /metrics: the group column, the value ("(other)" for the values
 * past max_slice_values, "(missing)"), its labelled rows in the last closed label window, the
 * primary metric over them (NaN: no window yet, or fewer than min_slice_rows) and whether its
 * performance alarm is active. */
typedef struct fw_perf_slice {
    char column[FW_ALARM_TEXT];
    char value[FW_PERF_SLICE_TEXT];
    size_t rows;
    double metric;
    bool alarm;
} fw_perf_slice;
/* The followed slice values: per followed data.groups column each value met (at most
 * max_slice_values: the label cardinality the alarms have), then "(other)" once the column's
 * values are full, and "(missing)" when the last window had missing values. Copies at most cap into
 * out and returns how many there are (<= fw_perf_slices_max). Thread-safe. */
size_t fw_perf_slices(fw_perf *p, fw_perf_slice *out, size_t cap);
/* The most fw_perf_slices can return for p. */
size_t fw_perf_slices_max(const fw_perf *p);

/* The state as one JSON object appended to out: {"metric", "reference", "counts": {...},
 * "realized": {window: rows, from_row, to_row, metrics: {name: {value, lo, hi}}, estimate: {...}},
 * "estimated": {...}, "slices": [{column, value, rows, metrics: {...}}], "history": [...the last
 * 32 windows: realized value, interval, estimate, row], "alarms": [...]}.
 * (Key list in docs/MONITORING.md.) FW_OK or FW_ENOMEM. */
fw_status fw_perf_state_json(fw_perf *p, fw_buf *out);

/* ---- the store lookup (perf_store.c) ---------------------------------------------------------- */
/* A lookup of the prediction log under a store home, for (model name, version): the logged
 * "outputs" of the request's first instance and the slice columns' values from its logged inputs.
 * Opens its own log connection on first use; thread-safe (one lookup at a time). */
typedef struct fw_perf_store_lookup fw_perf_store_lookup;
fw_status fw_perf_store_lookup_new(const char *home, const char *model, int64_t version,
                                   const fw_perf_model *m, fw_perf_store_lookup **out, fw_err *err);
void fw_perf_store_lookup_free(fw_perf_store_lookup *l);
/* The fw_perf_lookup_fn to pass with l as ud. */
fw_status fw_perf_store_lookup_fn(void *ud, const char *request_id, size_t rid_len, double *scores,
                                  size_t n_outputs, char (*slice_values)[FW_PERF_SLICE_TEXT],
                                  size_t n_slice_columns, uint64_t *row, fw_err *err);

#endif
