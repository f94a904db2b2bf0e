/* monitor.h — owns the monitor of ONE served model version (issue 17): it is built from the loaded
 * model (input names and types, known categories, task, classes, outputs), the training reference
 * profile the artifact carries (artifact/reference.h) and settings; it is fed one observation per
 * predicted instance from the request threads, closes windows by count (and, optionally, by time),
 * tests each closed window for input drift (mstat's detectors), quality (missing rate, unseen
 * categories, out-of-range values, the project file's per-column expectations), schema (a value that
 * cannot be read as its column's type, an absent column: raised AT THE ROW that carries it),
 * prediction drift (outputs against the reference's prediction histograms) and latency against the
 * budget, and raises / clears fw_alarm records (monitor/alarm.h) with de-duplication.
 *
 * The server (src/serve) and the replay command (`flywheel monitor NAME@REF --input FILE`) run this
 * very code. Window boundaries are decided by the observation count: a block closes after
 * step_rows observations, and every test looks at the last window_rows (drift, prediction) or
 * quality_rows (quality) observations, i.e. a whole number of blocks. A block also closes by time
 * (block_seconds > 0): before counting the first row whose own timestamp is block_seconds past the
 * block's first row, or at fw_monitor_tick once the clock is — the same row either way. One stream
 * in one order with the same timestamps therefore raises the same alarms at the same rows in the
 * server and in the replay (which takes the times from --time-column, and without one passes none:
 * count-only).
 *
 * Threads: fw_monitor_observe may be called concurrently from any number of threads. It computes
 * every value's cell outside any lock, takes a short mutex (count_mu) to number the row and mark
 * its thread's count array busy, then adds the cells without the lock into an array of the calling
 * thread's own (one of 4, by thread number: two threads do not pass the counts' cache lines back
 * and forth). The observation that fills a block closes it under count_mu in O(1) — its last row
 * noted, its threads' arrays swapped for empty ones — then, with count_mu let go, adds those arrays
 * into the block (every row still counts in the block of its row number) and hands the block to its
 * tests: with settings.on_blocks the caller's thread (a server's monitor thread) runs them through
 * fw_monitor_close_blocks; without, the closing thread runs them itself after letting count_mu go.
 * Either way the tests of closed blocks run one at a time in row order under a second mutex
 * (test_mu), so alarm callbacks see rows in increasing order. Up to 15 closed blocks wait for their
 * tests (a request thread helps when 8 do, and runs them itself when the ring is full). Readers of the
 * results (fw_monitor_counts_get, _column_get, _active, _state_json, _history), a schema alarm and
 * fw_monitor_signal first run the tests of the blocks closed so far, so they see every closed
 * block. It does not allocate once the monitor is built. The other functions are thread-safe too.
 *
 * Built on first use: fw_monitor_new checks the settings (windows, column names) and keeps a copy
 * of them, nothing more, so that a server holding thousands of versions pays nothing for the idle
 * ones; the body (columns, detectors, blocks, the performance tracker) is built by the first
 * fw_monitor_observe, fw_monitor_feedback, fw_monitor_state_json, fw_monitor_n_columns /
 * fw_monitor_column_get or fw_monitor_build (a few µs per column: the detectors' chi-square
 * thresholds are calibrated later, at the first full drift window, or ahead of it by
 * fw_monitor_prepare off the request path). Before that, fw_monitor_counts_get,
 * fw_monitor_active and fw_monitor_perf_summary report an empty monitor without building it
 * (fw_monitor_built tells; a server's /metrics skips unbuilt monitors). Row numbers count
 * from the first observation either way, so the replay and the server raise the same alarms.
 *
 * Example (the replay, shortened):
 *   fw_monitor_settings s; fw_monitor_settings_init(&s);
 *   s.on_alarm = print_alarm; s.ud = stdout;
 *   fw_monitor *mon; fw_monitor_new(model, &s, &mon, &err);
 *   for each row: fw_monitor_observe(mon, &(fw_monitor_obs){.values = v, .outputs = out, .latency_ms = ms});
 *   fw_monitor_flush(mon);            // tests the last, partial block
 *   fw_monitor_state_json(mon, &buf); // what GET /v1/models/{name}/monitor answers
 *   fw_monitor_free(mon); */
#ifndef FW_MONITOR_MONITOR_H
#define FW_MONITOR_MONITOR_H

#include "artifact/reference.h"
#include "core/buf.h"
#include "flywheel.h"
#include "monitor/alarm.h"
#include "monitor/perf.h"
#include "serve/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_monitor fw_monitor;

/* One column's expectations from the project file (`expectations:`, docs/PROJECT.md): each
 * violation counts as a quality problem of that column. */
typedef struct fw_monitor_expect {
    const char *column;
    double min, max;               /* allowed range (numeric); NaN = no bound */
    const char *const *allowed;    /* allowed categories; NULL = any */
    size_t n_allowed;
    double max_missing;            /* largest acceptable missing rate in a quality window; < 0 = none */
} fw_monitor_expect;

/* Called once per alarm raised (raised = true) and once when it clears (raised = false; a->row is
 * the row at which it cleared). Called from the thread that tests the window (the one whose
 * observation closed it, or settings.on_blocks' thread, or a reader catching up; for schema alarms,
 * the thread that observed the bad value) with the monitor's test lock held, in row
 * order: it must be quick (copy, queue, count) and must not call back into this monitor. The
 * record is valid only during the call. */
typedef void (*fw_monitor_alarm_fn)(void *ud, const fw_alarm *a, bool raised);

typedef struct fw_monitor_settings {
    uint32_t step_rows;            /* a block closes after this many observations (default 50) */
    uint32_t window_rows;          /* drift + prediction window, a multiple of step_rows (default 1000) */
    uint32_t quality_rows;         /* quality + latency window, a multiple of step_rows (default 200) */
    double block_seconds;          /* a block also closes by time: before counting the first row
                                      stamped this long after the block's first row (ts_ms), or at
                                      fw_monitor_tick once the clock is that far; 0 = by count only
                                      (the library's default; the server's is 300, docs/MONITORING.md) */
    double sensitivity;            /* 1 = default; larger = more sensitive (thresholds of the quality
                                      and drift tests are scaled, see docs/MONITORING.md) */
    const char *const *columns;    /* the inputs watched (names); NULL = every input */
    size_t n_columns;
    const fw_monitor_expect *expect; /* per-column expectations, added to those of the project
                                        recorded in the artifact; copied at fw_monitor_new */
    size_t n_expect;
    double p50_ms, p90_ms, p99_ms; /* latency budgets; 0 = none. p99 < 0 (default): the project's
                                      constraints.p99_latency_ms recorded in the artifact, if any */
    const char *const *groups;     /* slice columns of the live metric; NULL = the recorded project's
                                      data.groups */
    size_t n_groups;
    const fw_reference *reference; /* the profile to test against; NULL = the artifact's
                                      (fw_srv_model.bundle). Must outlive the monitor. */
    bool drift;                    /* test input and prediction drift (default true; needs a reference) */
    bool history;                  /* keep every tested window's per-column statistic (for --html;
                                      default false: bounded memory in the server) */
    fw_monitor_alarm_fn on_alarm;  /* may be NULL */
    void *ud;
    const char *perf_home;         /* a store home whose prediction log the live metric's join reads
                                      for labels older than the tracker's table (perf.h's store
                                      lookup; NULL: none, such labels count as unmatched) */
    int64_t perf_version;          /* the registry version number logged with the predictions (> 0
                                      with perf_home) */
    size_t join_table;             /* cap of the live metric's join table (perf.h table_slots; it
                                      grows with the traffic up to this); 0 = perf.h's default */
    bool (*on_perf_window)(void *ud); /* a label filled a live-metric window, or a prediction an
                                      estimate window (called with ud, on that thread, no lock
                                      held): return true when a thread of yours will call
                                      fw_monitor_perf_close soon (the window's metrics, intervals
                                      and alarms are computed there, off the labeller and the
                                      request thread); false, or NULL (the default), to compute
                                      them on the filling thread (inside fw_monitor_feedback /
                                      fw_monitor_observe) */
    bool (*on_blocks)(void *ud);   /* a block closed (called with ud on the observing thread, no lock
                                      held, after each close): return true when a thread of yours
                                      will call fw_monitor_close_blocks soon (the block's tests and
                                      alarms run there, off the request thread); false, or NULL
                                      (the default), to run them on the observing thread */
} fw_monitor_settings;

void fw_monitor_settings_init(fw_monitor_settings *s);

/* Per-value flags of an observation (fw_monitor_obs.flags). The monitor itself finds values that
 * cannot be read as their column's type (text in a numeric column) and unseen categories. */
enum {
    FW_MON_ABSENT = 1,             /* the request did not carry the column at all (not null: absent) */
    FW_MON_BAD_TYPE = 2,           /* the caller could not read the value as the column's type */
};

/* One predicted instance. */
typedef struct fw_monitor_obs {
    const fw_value *values;        /* n_inputs values in the model's input order */
    const uint8_t *flags;          /* n_inputs FW_MON_* flags; NULL = none */
    const double *outputs;         /* the model's own n_outputs scores; NULL = no prediction (error) */
    double latency_ms;             /* < 0 or NaN = unknown */
    const char *request_id;        /* for the feedback join (may be NULL) */
    size_t request_id_len;
    int64_t ts_ms;                 /* the row's time, Unix ms; 0 = now (the wall clock, read under the
                                      count lock); < 0 = none (recorded as 0; such rows never close a
                                      block by time: the replay without --time-column) */
    const char *absent_mark;       /* non-NULL: a missing value (FW_VALUE_MISSING) whose str is this
                                      very pointer was absent from the request, as if flagged
                                      FW_MON_ABSENT (the server's decoders mark absent inputs so, and
                                      the monitor looks only at its missing values: no pass over
                                      every input to build flags) */
} fw_monitor_obs;

/* Builds the monitor of model m (m must outlive it). The reference profile and the recorded
 * project (constraints.p99_latency_ms, expectations:) come from the artifact the model was loaded
 * from (fw_srv_model.bundle; NULL for directory models: no drift tests, quality against the
 * pipeline only). Settings are copied (expectations too); a column named in
 * s->columns or s->expect that the model does not have → FW_EINVAL naming it. */
fw_status fw_monitor_new(const fw_srv_model *m, const fw_monitor_settings *s, fw_monitor **out, fw_err *err);
void fw_monitor_free(fw_monitor *mon);

/* Builds the body now if it is not built yet (the first observation would). FW_OK once built; the
 * build's error otherwise (out of memory; a monitor that failed to build stays inert: observations
 * are ignored and every reader reports it empty). */
fw_status fw_monitor_build(fw_monitor *mon, fw_err *err);
/* fw_monitor_build, then calibrates every detector's thresholds (detector.h fw_detector_calibrate)
 * so that the first full drift window does not calibrate on the request thread that closes it.
 * For a server's background thread, after the first observation; idempotent. */
fw_status fw_monitor_prepare(fw_monitor *mon, fw_err *err);
/* True once the body is built (without building it). */
bool fw_monitor_built(const fw_monitor *mon);

/* Records one observation and returns its 0-based row index in the stream. Thread-safe, does not
 * allocate; closes (and tests) a block when this observation fills it. */
uint64_t fw_monitor_observe(fw_monitor *mon, const fw_monitor_obs *o);

/* Closes (and tests) the open block by time when now_ms (Unix ms) is block_seconds or more past
 * its first row's timestamp — exactly where the next observation, stamped now_ms or later, would
 * close it, so an idle server's tick and the late row's arrival close the same block at the same
 * row. No-op when block_seconds is 0, the block is empty or its rows carry no time. True when a
 * block was closed. fw_monitor_tick reads the wall clock (under the lock observations read it
 * under): for a server's periodic tick. */
bool fw_monitor_tick_at(fw_monitor *mon, int64_t now_ms);
bool fw_monitor_tick(fw_monitor *mon);
/* Closes and tests the open block whatever its size (end of a replay), after closing the queued
 * live-metric windows (fw_monitor_perf_close); the closed blocks still waiting are tested first. */
void fw_monitor_flush(fw_monitor *mon);

/* A label came back (feedback) for the prediction request_id: forwarded to the performance tracker
 * (perf.h) when one is attached. FW_ENOTFOUND when no tracker is attached. When the label fills a
 * window: with settings.on_perf_window taking it, the call only queues the window (its close and
 * alarms come from fw_monitor_perf_close); otherwise it closes it and raises its alarms before
 * returning. */
fw_status fw_monitor_feedback(fw_monitor *mon, const char *request_id, size_t len, const fw_value *label,
                              int64_t ts_ms, fw_err *err);

/* Runs the tests of the closed blocks waiting for them (in row order) and raises their alarms
 * through on_alarm; returns how many blocks were tested. For the thread settings.on_blocks
 * promised, and before fw_monitor_free (which discards blocks still waiting). Thread-safe. */
size_t fw_monitor_close_blocks(fw_monitor *mon);
/* Closed blocks waiting for their tests (0: every closed block's figures and alarms are out). */
size_t fw_monitor_blocks_pending(fw_monitor *mon);

/* Closes the live-metric windows that labels filled (in order) and raises their alarms through
 * on_alarm; returns how many were closed. For the thread settings.on_perf_window promised (it
 * must be called after each promise), for tests, and before fw_monitor_free (which discards
 * windows still queued). Thread-safe. */
size_t fw_monitor_perf_close(fw_monitor *mon);
/* Live-metric windows queued or being closed (0: every filled window's figures and alarms are
 * out). */
size_t fw_monitor_perf_pending(fw_monitor *mon);

/* Raises (raised = true) or clears an alarm from a signal outside this file (the performance
 * tracker): de-duplicated by (kind, column) with the others and passed to on_alarm. */
void fw_monitor_signal(fw_monitor *mon, const fw_alarm *a, bool raised);

/* Counts so far. active / raised: per fw_alarm_kind (arrays of FW_ALARM_KIND_COUNT; may be NULL). */
typedef struct fw_monitor_counts {
    uint64_t rows;                 /* observations */
    uint64_t blocks;               /* blocks closed */
    uint64_t errors;               /* observations without outputs */
    uint64_t active[FW_ALARM_KIND_COUNT];
    uint64_t raised[FW_ALARM_KIND_COUNT];
} fw_monitor_counts;
void fw_monitor_counts_get(fw_monitor *mon, fw_monitor_counts *out);

/* One watched column's latest figures (for /metrics), from the last tested window. */
typedef struct fw_monitor_column {
    const char *name;              /* valid while the monitor lives */
    const char *statistic;         /* the drift statistic's name ("" before the first test) */
    double drift;                  /* its value in the last drift window (NaN before) */
    double drift_threshold;        /* the threshold it was compared with */
    double missing_rate;           /* in the last quality window (NaN before) */
    double unseen_rate;            /* categorical: unseen categories' share (NaN otherwise) */
    double out_of_range_rate;      /* numeric: share outside the training range (NaN otherwise) */
} fw_monitor_column;
/* The number of watched columns. */
size_t fw_monitor_n_columns(const fw_monitor *mon);
/* Column i (< fw_monitor_n_columns). */
void fw_monitor_column_get(fw_monitor *mon, size_t i, fw_monitor_column *out);

/* The performance tracker's summary (perf.h); false when the model's task has no tracker. */
bool fw_monitor_perf_summary(fw_monitor *mon, fw_perf_summary *out);
/* The tracker's followed slice values (perf.h fw_perf_slices): at most cap copied into out, returns
 * how many there are; 0 without a tracker or before the monitor is built. */
size_t fw_monitor_perf_slices(fw_monitor *mon, fw_perf_slice *out, size_t cap);

/* The active alarms (at most cap copied into out; returns how many are active). */
size_t fw_monitor_active(fw_monitor *mon, fw_alarm *out, size_t cap);

/* Appends the state as one JSON object: {"model","version","rows","blocks","settings":{...},
 * "alarms":[active alarms: kind, column (null for model-level), statistic, value, threshold, row,
 * ts_ms, detail], "columns":[{name, type, drift statistic/value/threshold, missing_rate, ...}],
 * "predictions":{...}, "latency":{"p50_ms","p90_ms","p99_ms", budgets}} (docs/MONITORING.md). */
fw_status fw_monitor_state_json(fw_monitor *mon, fw_buf *out);

/* Appends one alarm as a JSON object: {"row","kind","column" (null when ""),"statistic","value",
 * "threshold","ts_ms","detail"} — the one spelling of `monitor --json`, the endpoint and hooks. */
void fw_monitor_alarm_json(const fw_alarm *a, fw_buf *out);

/* With settings.history: the tested blocks so far, for plots. row[w] is the row that closed block
 * w; value[w * fw_monitor_n_columns + c] watched column c's drift statistic (chi2; NaN before the
 * window is full). Pointers valid until the next observe. */
size_t fw_monitor_history(fw_monitor *mon, const uint64_t **row, const double **value);

#endif
