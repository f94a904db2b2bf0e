/* alarm.h — owns the one record every monitoring signal raises: what an alarm is about (kind and
 * column), the statistic that decided it, its value and threshold, and where in the stream it was
 * raised. The drift detectors (detector.h), the live-performance tracker (perf.h) and the monitor
 * of a served model version (monitor.h) all produce fw_alarm; the server's endpoint, /metrics,
 * the alert hooks, the alarm history in the store and `flywheel monitor --json` all read it.
 *
 * An alarm is raised once and stays active until the signal that raised it clears; a listing of
 * what fired names it once, at the row where it was raised. */
#ifndef FW_MONITOR_ALARM_H
#define FW_MONITOR_ALARM_H

#include <stdbool.h>
#include <stdint.h>

/* The kinds, as named in JSON (`"kind"`), in /metrics labels and in the store. */
typedef enum fw_alarm_kind {
    FW_ALARM_DRIFT = 0,     /* an input's distribution moved away from the training reference */
    FW_ALARM_QUALITY,       /* missing rate, unseen categories, out-of-range values, expectations */
    FW_ALARM_SCHEMA,        /* a value that cannot be read as the column's type, a missing column */
    FW_ALARM_PREDICTION,    /* the distribution of the model's outputs moved */
    FW_ALARM_PERFORMANCE,   /* the realized metric from labels (feedback) got worse */
    FW_ALARM_ESTIMATE,      /* the label-free estimate of the metric got worse */
    FW_ALARM_LATENCY,       /* latency percentiles or the error rate past the constraints' budget */
    FW_ALARM_KIND_COUNT
} fw_alarm_kind;

/* "drift", "quality", "schema", "prediction", "performance", "estimate", "latency"; NULL when out
 * of range. */
const char *fw_alarm_kind_name(fw_alarm_kind k);
/* The kind named name (exact match); false when no kind has that name. */
bool fw_alarm_kind_parse(const char *name, fw_alarm_kind *out);

enum { FW_ALARM_TEXT = 64 };

typedef struct fw_alarm {
    fw_alarm_kind kind;
    char column[FW_ALARM_TEXT];    /* the input column (or output) it is about; "" = the model; a
                                      slice's performance alarm: the slice (group) column */
    char slice[FW_ALARM_TEXT];     /* a slice's performance alarm: the slice value; "" otherwise */
    char statistic[FW_ALARM_TEXT]; /* e.g. "ks", "chi2", "missing_rate", "unseen_rate", "auc", "p99_ms" */
    double value;                  /* the statistic's value in the window that raised it */
    double threshold;              /* the value past which it alarms */
    uint64_t row;                  /* 0-based index of the observation (prediction) that raised it */
    int64_t ts_ms;                 /* wall clock when raised, Unix ms (replay: the row's time, or 0) */
    char detail[2 * FW_ALARM_TEXT]; /* one human sentence, e.g. "missing rate 0.31 vs 0.02 in training" */
} fw_alarm;

#endif
