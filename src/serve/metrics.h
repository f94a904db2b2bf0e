/* metrics.h — owns the server's counters and histograms and their Prometheus text exposition.
 * Every counter is a relaxed atomic: observing never locks. One fw_srv_metrics per loaded model
 * (labels model, version) plus one for requests that reached no model. */
#ifndef FW_SERVE_METRICS_H
#define FW_SERVE_METRICS_H

#include "core/buf.h"

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum { FW_VARIANT_PRIMARY = 0, FW_VARIANT_CHALLENGER, FW_VARIANT_SHADOW, FW_N_VARIANTS };
/* Variant label: "primary", "challenger", "shadow". */
const char *fw_variant_name(int v);

#define FW_N_CODES 14
#define FW_LAT_BUCKETS 15   /* 50us .. 1s, then +Inf */
#define FW_SCORE_BUCKETS 10 /* 0.1 .. 1.0, then +Inf */

enum { FW_WARN_UNSEEN_CATEGORY = 0, FW_WARN_COERCED, FW_WARN_MOSTLY_MISSING, FW_N_INPUT_WARNINGS };

typedef struct fw_srv_metrics {
    atomic_ulong requests[FW_N_VARIANTS][FW_N_CODES];
    atomic_ulong lat[FW_N_VARIANTS][FW_LAT_BUCKETS + 1];
    atomic_ulong lat_sum_ns[FW_N_VARIANTS];
    atomic_ulong abstained[FW_N_VARIANTS];
    atomic_ulong score[FW_N_VARIANTS][FW_SCORE_BUCKETS + 1];
    atomic_ulong score_sum_u[FW_N_VARIANTS]; /* sum of scores in millionths (clamped at 0) */
    atomic_ulong input_warnings[FW_N_INPUT_WARNINGS]; /* instances warned about, by fw_input_warning */
} fw_srv_metrics;

/* Input problems answered with a warning (the instance is still scored). */
const char *fw_input_warning_name(int kind); /* "unseen_category", "coerced", "mostly_missing" */
void fw_metrics_input_warning(fw_srv_metrics *m, int kind);

/* A zeroed metrics block (fw_calloc); NULL on OOM. Free with fw_free. */
fw_srv_metrics *fw_srv_metrics_new(void);
/* Index of an HTTP status code in the per-code arrays (unknown codes share "other"). */
int fw_metrics_code_index(int code);
int fw_metrics_code_value(int idx); /* 0 for "other" */
/* Thread-safe observers. */
void fw_metrics_request(fw_srv_metrics *m, int variant, int code, uint64_t latency_ns);
void fw_metrics_score(fw_srv_metrics *m, int variant, double score, int abstained);
/* The q-quantile in seconds of a request-latency histogram (per-bucket counts, the last one +Inf),
 * interpolated linearly inside its bucket as Prometheus' histogram_quantile(); NaN when empty. */
double fw_metrics_quantile(const unsigned long counts[FW_LAT_BUCKETS + 1], double q);

/* One labelled series for rendering. */
typedef struct fw_metrics_series {
    const char *model;
    const char *version;
    const fw_srv_metrics *m;
} fw_metrics_series;

/* Appends the per-model families (requests, errors, latency, abstentions, scores) for all series
 * to out in Prometheus text format 0.0.4. */
void fw_metrics_render(fw_buf *out, const fw_metrics_series *s, size_t n);
/* ---- monitoring (issue 17): one block per monitored model version ------------------------------ */

enum { FW_METRICS_ALARM_KINDS = 7 }; /* FW_ALARM_KIND_COUNT (monitor/alarm.h) */

/* One watched column's latest figures (from the monitor's last tested windows). */
typedef struct fw_metrics_monitor_column {
    const char *name;
    const char *statistic;     /* the drift statistic's name; "" = not tested yet (no drift series) */
    double drift, drift_threshold; /* NaN = not tested yet */
    double missing_rate;       /* NaN = not tested yet */
} fw_metrics_monitor_column;

/* One slice value of the live metric (a data.groups column's value: at most 16 per column, then
 * "(other)"; and "(missing)"): the primary metric over its labelled rows in the last label window
 * (NaN = none: no series), those rows, and its performance alarm (active or not). */
typedef struct fw_metrics_monitor_slice {
    const char *column, *value;
    uint64_t rows;
    double metric;
    bool alarm;
} fw_metrics_monitor_slice;

typedef struct fw_metrics_monitor {
    const char *model, *version;
    uint64_t rows;                                 /* predictions observed */
    uint64_t active[FW_METRICS_ALARM_KINDS];       /* alarms active now, by kind */
    uint64_t raised[FW_METRICS_ALARM_KINDS];       /* alarms raised so far, by kind */
    const fw_metrics_monitor_column *columns;      /* the watched columns, in the model's input order */
    size_t n_columns;
    const char *metric;                            /* the primary metric's name; NULL = no tracker */
    double live, live_lo, live_hi;                 /* realized from labels, last window (NaN = none yet) */
    double estimated, estimated_lo, estimated_hi;  /* label-free estimate, last window (NaN = none) */
    uint64_t labels, labels_joined;                /* feedback labels received / joined to a prediction */
    const fw_metrics_monitor_slice *slices;        /* the live metric's followed slice values */
    size_t n_slices;
} fw_metrics_monitor;

/* Appends the monitoring families for all blocks: flywheel_monitor_rows_total,
 * flywheel_monitor_drift / _drift_threshold / _missing_rate (per column: at most max_columns
 * columns per model version — the first in input order, so the label set is stable —, the number
 * left out in flywheel_monitor_columns_omitted), flywheel_monitor_alarms_active (gauge) and
 * flywheel_monitor_alarms_raised_total (counter) by kind, flywheel_monitor_metric{source="live" or
 * "estimated"} with _lower / _upper interval bounds, flywheel_monitor_labels_total and
 * flywheel_monitor_labels_joined_total; per slice value of the live metric (label `slice`, bounded
 * as the slices' alarms are: 16 values per column, then "(other)"), flywheel_monitor_slice_metric,
 * flywheel_monitor_slice_labels and flywheel_monitor_slice_alarm (1 while its performance alarm is
 * active). Label values are escaped; series with no value yet are left out. */
void fw_metrics_render_monitor(fw_buf *out, const fw_metrics_monitor *s, size_t n, size_t max_columns);

/* Appends one gauge or counter with HELP and TYPE lines. */
void fw_metrics_render_scalar(fw_buf *out, const char *name, const char *type, const char *help,
                              double value);

#endif
