/* alerts.h — owns what happens to an alarm after a monitor raises or clears it in the server: one
 * thread of its own takes events from a bounded queue and, for each, writes a log line (stderr),
 * keeps it in the store's alarm history (store.h fw_store_alarm_raise / _clear) and POSTs the JSON
 * alert to the configured webhook, retried with doubling backoff. Nothing of this runs on a request
 * thread: fw_alerts_push copies the event into the queue under a short mutex and returns (when the
 * queue is full the event is dropped and counted; the monitor's own state is unaffected).
 *
 * The webhook body (Content-Type: application/json):
 *   {"event":"raised"|"cleared","model":"spam","version":3,"ts":"2026-12-06T22:40:01.123Z",
 *    "alarm":{"row":1200,"kind":"drift","column":"age","statistic":"ks","value":0.31,
 *             "threshold":0.12,"ts_ms":...,"detail":"..."}}
 * A 2xx answer is delivered; anything else (or no answer within timeout_s) is retried up to
 * `retries` times after backoff_s, 2*backoff_s, ... (capped at 60 s); then it is counted failed.
 *
 * Example:
 *   fw_alerts *al; fw_alerts_start(&cfg.monitoring, cfg.store_path, NULL, &al, &err);
 *   ... monitor callback: fw_alerts_push(al, "spam", 3, alarm, true);
 *   fw_alerts_stop(al);   // delivers what is queued (webhook: within a bounded time), joins */
#ifndef FW_SERVE_ALERTS_H
#define FW_SERVE_ALERTS_H

#include "core/buf.h"
#include "flywheel.h"
#include "monitor/alarm.h"
#include "serve/config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fw_alerts fw_alerts;

/* Counters, for /metrics and tests. */
typedef struct fw_alerts_stats {
    uint64_t queued;           /* events accepted by fw_alerts_push */
    uint64_t dropped;          /* events refused because the queue was full (or left at stop) */
    uint64_t handled;          /* events the thread has finished with (logged, stored, sent or failed) */
    uint64_t webhook_sent;     /* delivered (2xx) */
    uint64_t webhook_failed;   /* given up after every retry */
    uint64_t webhook_retries;  /* attempts after a failed one */
    uint64_t stored;           /* history rows written (raised) or updated (cleared) */
    uint64_t store_errors;
} fw_alerts_stats;

/* Starts the alert thread for m's settings: history in the store at store_home when m->history and
 * store_home is not NULL; the webhook when m->webhook_url (libcurl is loaded then: FW_EIO when it
 * cannot be); log lines to log (NULL: stderr) when m->alert_log. The settings are copied. */
fw_status fw_alerts_start(const fw_serve_monitoring *m, const char *store_home, FILE *log, fw_alerts **out,
                          fw_err *err);

/* Queues one event: alarm a of model version (model, version) raised (or cleared); version <= 0 (a
 * directory model's version that is not a registry number) is logged and sent but not stored. Thread-safe,
 * never blocks on I/O, does not allocate. False when the queue was full (dropped, counted). */
bool fw_alerts_push(fw_alerts *al, const char *model, int64_t version, const fw_alarm *a, bool raised);

void fw_alerts_stats_get(fw_alerts *al, fw_alerts_stats *out);

/* Waits until every event queued so far is handled or timeout_s passes; true when all were. */
bool fw_alerts_wait_idle(fw_alerts *al, double timeout_s);

/* Handles what is queued (log and history always; webhook attempts only within drain_s seconds,
 * the rest counted dropped), stops the thread and frees everything. NULL is a no-op. */
void fw_alerts_stop(fw_alerts *al, double drain_s);

/* Appends the webhook body of one event (above) to out. */
void fw_alerts_event_json(const char *model, int64_t version, const fw_alarm *a, bool raised, int64_t ts_ms,
                          fw_buf *out);

#endif
