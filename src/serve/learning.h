/* learning.h — owns the server's online learning (issue 18; docs/LEARNING.md, "Online learning in
 * the server"): with `learn.online: true`, every label /v1/feedback stores is handed (a copy, one
 * short lock) to one background thread at low priority. That thread joins the label to the logged
 * prediction's inputs by request id through the store (store/store.h fw_store_log_get_prediction,
 * the same join the live-performance tracker uses for labels it no longer holds; a label whose
 * prediction is not in the log yet waits up to learn.join_wait_s), feeds it to the model's online
 * learner (learn/online.h: progressive validation, micro-batches, each example once), and on each
 * snapshot registers the learned weights as a new version (parent: the previous snapshot, else the
 * batch-trained version), runs the gate, and with learn.promote: auto moves `production` to a
 * version that passed it and has the model table swap it in (the same swap as any alias move:
 * requests never wait). The request path never reads or writes learner state.
 *
 * State: GET /v1/models/{name}/monitor gains "online" (learn/online.h fw_online_stats_json plus
 * "state"), /metrics the flywheel_learn_* families. */
#ifndef FW_SERVE_LEARNING_H
#define FW_SERVE_LEARNING_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stdint.h>

struct fw_server;
struct json_t;
typedef struct fw_srv_learning fw_srv_learning;

/* Starts the learning thread when s->cfg->learn.online is set and the server logs predictions to
 * its store (else *out stays NULL and FW_OK: a line on stderr says why when online was asked for). */
fw_status fw_srv_learning_new(struct fw_server *s, fw_srv_learning **out, fw_err *err);
/* Stops the thread (the labels still queued are dropped; an incomplete batch is not learned) and
 * frees. Call before the model table is freed. NULL is a no-op. */
void fw_srv_learning_free(fw_srv_learning *l);

/* A v1 prediction of m answered request rid: the first instance's values (m's input order) go to
 * the join cache of m's learner (serve/learn_capture.h), when m's model learns and its inputs are
 * the learner's, so its label joins in memory. Request threads; no allocation, no wait; nothing
 * when no learner of m's name has started. NULL l is a no-op. */
struct fw_srv_model;
struct fw_value;
void fw_srv_learning_capture(fw_srv_learning *l, const struct fw_srv_model *m, const char *rid,
                             const struct fw_value *vals);

/* /v1/feedback stored the first label of rid: queued for the learning thread when rid names a
 * version of a model that learns. m: the loaded model rid names (fw__request_id_model, looked up
 * once by the feedback), or NULL. Thread-safe; no I/O; one short lock. */
void fw_srv_learning_feedback(fw_srv_learning *l, const char *rid, const struct fw_srv_model *m,
                              struct json_t *label);

/* The monitors' alarm hook (serve/monitoring.h fw_srv_monitoring_set_alarm_hook; ud is the
 * fw_srv_learning): a drift (learn.on_alarm: drift) or performance/estimate (performance) alarm of a
 * model that learns asks for a retrain (learn/retrain.h fw_retrain_run on the retrain worker, one at
 * a time, nice +10; production moves when learn.promote is auto and the gate says promote).
 * learn.every and learn.after_labels start one the same way. Thread-safe; no I/O. */
void fw_srv_learning_alarm(void *ud, const char *name, int64_t version, int kind, const char *detail);

/* Appends ,"online":{...} for model `name` to out (nothing when the model does not learn). */
void fw_srv_learning_state_json(fw_srv_learning *l, const char *name, fw_buf *out);
/* The flywheel_learn_* /metrics families. */
void fw_srv_learning_metrics(fw_srv_learning *l, fw_buf *out);

/* Waits (tests) until the learning thread has no label queued or waiting for its prediction, or
 * timeout_s passes; true when idle. */
bool fw_srv_learning_idle_wait(fw_srv_learning *l, double timeout_s);

#endif
