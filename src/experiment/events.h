/* events.h — owns a list of experiment events (unit, variant, time, metric, value, pre) as the
 * analysis replays them: read from the CSV file of `flywheel experiment analyze` or pushed by
 * `flywheel experiment report` from the store; put in one canonical order (time, then unit,
 * variant, metric, value, pre — so the file's row order or the store's never changes a byte of
 * the report); the default metric declaration; and the replay into an experiment that prints the
 * report at the end (--json) or after every N events (--every N, JSON Lines).
 *
 * The CSV (RFC 4180: header row, quoted fields with doubled quotes and newlines, LF or CRLF, a
 * UTF-8 BOM skipped): columns `unit`, `variant`, `time`, `metric`, `value` (empty: 1) and an
 * optional `pre`, in any order; other columns are ignored. `time` is a number (any unit, e.g.
 * epoch ms) or an ISO 8601 date-time. An optional `slice` column names the unit's slice (a
 * segment such as a country; a unit's first non-empty one stands): the report then adds, per
 * slice, the whole analysis of that slice's units ("slices"). Errors name "file:line:column: ...". */
#ifndef FW_EXPERIMENT_EVENTS_H
#define FW_EXPERIMENT_EVENTS_H

#include "core/buf.h"
#include "core/hash.h"
#include "experiment/experiment.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

#define FW_EXP_NO_SLICE UINT32_MAX
#define FW_EXP_MAX_SLICES 64

typedef struct fw_exp_event {
    double time, value, pre;   /* value, pre: NaN when empty */
    uint32_t unit, variant, metric; /* indices into the list's dictionaries */
    uint32_t slice;            /* index into slices, or FW_EXP_NO_SLICE */
} fw_exp_event;

typedef struct fw_exp_events {
    fw_strmap units, variants, metrics; /* interned strings (keys) */
    fw_strmap slices;          /* the optional `slice` column's values */
    fw_exp_event *ev;
    size_t n, cap;
} fw_exp_events;

void fw_exp_events_init(fw_exp_events *l);
void fw_exp_events_free(fw_exp_events *l);
/* Appends one event (strings copied into the dictionaries). FW_OK or FW_ENOMEM. */
fw_status fw_exp_events_push(fw_exp_events *l, const char *unit, size_t unit_len, const char *variant,
                             size_t variant_len, double time, const char *metric, size_t metric_len, double value,
                             double pre, fw_err *err);
/* Sets the slice of the event pushed last (len 0: none). FW_OK or FW_ENOMEM. */
fw_status fw_exp_events_set_slice(fw_exp_events *l, const char *slice, size_t len, fw_err *err);
/* Parses a CSV of events (see above) from memory; name labels the errors. Appends to l. A bad file
 * is FW_EPARSE with "name:line:column: what" in err. */
fw_status fw_exp_events_parse_csv(fw_exp_events *l, const char *name, const char *data, size_t len, fw_err *err);
/* Puts the events in the canonical order. */
fw_status fw_exp_events_sort(fw_exp_events *l, fw_err *err);
/* The default metrics (docs/EXPERIMENTS.md): one per distinct event name besides the exposure, in
 * byte order — a rate per exposure when every value is 1 or empty (clicks, conversions), else a
 * mean per unit (revenue per unit); direction increase, min_effect 0.05. *out fw_malloc'd. */
fw_status fw_exp_events_default_metrics(const fw_exp_events *l, fw_exp_metric_spec **out, size_t *n_out, fw_err *err);
/* Replays the (sorted) events into a new experiment with opts (opts->metrics NULL: the defaults)
 * and appends to out the report: with every > 0, one JSON object per line after every `every`
 * events and after the last; else at the end, as JSON (json) or text. html (may be NULL) gets the
 * final report as an HTML page. When events carry slices, the final JSON / text report also has
 * one analysis per slice (the same metrics, the slice's units only), slices in byte order (not with
 * every). FW_EINVAL for bad options, too many variants or more than FW_EXP_MAX_SLICES slices. */
fw_status fw_exp_events_report(const fw_exp_events *l, const fw_exp_opts *opts, uint64_t every, bool json,
                               fw_buf *out, fw_buf *html, fw_err *err);

#endif
