/* monitoring.h — owns the server's side of monitoring (issue 17; docs/MONITORING.md, "In the
 * server"): the monitor of every served model version (monitor/monitor.h), created when the model
 * table loads the version (its settings only: the monitor is built by the version's first
 * prediction, and a background "prepare" thread then calibrates its detectors off the request
 * path) and freed with it; the one call per predicted instance the /v1 and v2
 * paths make; the feedback label handed to the answering version's monitor; GET
 * /v1/models/{name}/monitor; the monitoring families of /metrics; and the alert thread
 * (serve/alerts.h) each monitor's alarms go to. With `monitoring.enabled: false` no monitor is
 * created and every call here is a test of a NULL pointer. */
#ifndef FW_SERVE_MONITORING_H
#define FW_SERVE_MONITORING_H

#include "core/buf.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "serve/config.h"
#include "serve/model.h"

#include <stdint.h>

typedef struct fw_srv_monitoring fw_srv_monitoring;

/* The server-wide part: cfg->monitoring (kept by pointer: cfg must outlive it) and, when monitoring
 * is enabled, the alert thread (history in the store the server serves from, if any). *out stays
 * NULL when monitoring is disabled. */
fw_status fw_srv_monitoring_new(const fw_serve_config *cfg, fw_srv_monitoring **out, fw_err *err);
/* Raised alarms are also handed to fn (the learn: triggers, serve/learning.h), on the thread that
 * raised them: fn must not block. Set before the first model loads. NULL sm is a no-op. */
typedef void (*fw_srv_alarm_hook_fn)(void *ud, const char *name, int64_t version, int kind, const char *detail);
void fw_srv_monitoring_set_alarm_hook(fw_srv_monitoring *sm, fw_srv_alarm_hook_fn fn, void *ud);
/* Stops the alert thread (its queue handled within drain_s for the webhook) and frees. Call after
 * every model (and so every monitor) is freed. NULL is a no-op. */
void fw_srv_monitoring_free(fw_srv_monitoring *sm, double drain_s);

/* The model table's load hook (models.h fw_model_table_set_on_load): attaches a monitor to m
 * (m->monitor). A model that cannot be monitored (a configured column it does not have, out of
 * memory) is served unmonitored, with one line on stderr. ud is the fw_srv_monitoring. */
void fw_srv_monitoring_attach(void *ud, fw_srv_model *m);
/* Frees m's monitor (model.c, when the last reference goes). */
void fw_srv_monitor_detach(fw_srv_model *m);

/* The value the /v1 decoders leave for an input the instance does not carry at all: missing to the
 * model, like an explicit null (FW_VALUE_MISSING with str NULL), but the monitor tells them apart —
 * an absent input is a schema problem (FW_MON_ABSENT: a schema alarm at its row), a null is a
 * missing value (the missing-rate test). Only the address of the mark matters. */
extern const char fw_srv_absent_mark[];
#define FW_SRV_ABSENT ((fw_value){FW_VALUE_MISSING, 0, fw_srv_absent_mark, 0})

/* One instance of m: its values in m's input order (FW_SRV_ABSENT where the request had no such
 * key), the model's own outputs (NULL: the model refused
 * it, e.g. a value of the wrong type: still observed, so the schema check sees it), the start
 * of its request (fw_now_ns) and its request id. Thread-safe; does not allocate. */
void fw__srv_monitor_observe(const fw_srv_model *m, const fw_value *vals, const double *out, uint64_t t0_ns,
                             const char *request_id);
static inline void fw_srv_monitor_observe(const fw_srv_model *m, const fw_value *vals, const double *out,
                                          uint64_t t0_ns, const char *request_id) {
    if (m->monitor) fw__srv_monitor_observe(m, vals, out, t0_ns, request_id);
}

/* A label came back for request_id (after it was stored): handed to m's monitor (its live
 * performance). label is the label's text (a class name, or a number's text). */
void fw_srv_monitor_feedback(const fw_srv_model *m, const char *request_id, const char *label, size_t len,
                             bool is_number, double num);

/* GET /v1/models/{name}/monitor: m's monitor state (monitor.h fw_monitor_state_json) into out;
 * false when m is not monitored. */
bool fw_srv_monitor_state(const fw_srv_model *m, fw_buf *out);

/* GET /v1/models/{name}[/versions/{v}|/aliases/{a}]/monitor: 200 with the state of the version the
 * route resolves to, 404 when monitoring is off or that version is not monitored. */
struct fw_server;
struct fw_route;
struct fw_reply;
struct json_t;
void fw__api_monitor(struct fw_server *s, const struct fw_route *rt, struct fw_reply *r);
/* /v1/feedback stored a label for rid: handed to the monitor of m, the version that answered rid
 * (fw__request_id_model; NULL when this process did not issue rid or no longer has it loaded). */
struct fw_srv_model;
void fw__monitor_feedback(struct fw_server *s, struct fw_srv_model *m, const char *rid, struct json_t *label);

/* The monitoring families of /metrics for the loaded models ms[0..n) (metrics.h
 * fw_metrics_render_monitor), with the alert thread's counters. */
void fw_srv_monitoring_metrics(fw_srv_monitoring *sm, fw_srv_model *const *ms, size_t n, fw_buf *out);

#endif
