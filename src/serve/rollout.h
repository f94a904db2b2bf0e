/* rollout.h — owns canary rollouts in the server (docs/EXPERIMENTS.md, "Safe rollout"): for each
 * `kind: canary` split with `steps`, the share of traffic the canary gets (an atomic the request
 * path reads without a lock), per-arm counters the request path bumps (requests, errors, a latency
 * histogram) and the feedback path feeds (business metrics), and an analysis thread that ticks every
 * `tick_s`: sequential tests (experiment/sequential.h, experiment/srm_seq.h) on the current step's
 * data, advance a step when the canary is shown not worse, roll back (share to 0 at once) when it is
 * shown worse by more than a margin or the split's ratio mismatches; every decision goes to the
 * store's audit log with its evidence. State: GET /v1/models/{name}/rollout and /metrics.
 *
 * Thread safety: fw_rollout_ppm / _observe / _trip are lock-free (request threads); _feedback takes
 * one split's mutex (feedback path); _tick, _state_json and _metrics take the same mutex. */
#ifndef FW_SERVE_ROLLOUT_H
#define FW_SERVE_ROLLOUT_H

#include "core/buf.h"
#include "flywheel.h"
#include "serve/config.h"

#include <stdbool.h>
#include <stdint.h>

enum { FW_RO_CHAMPION = 0, FW_RO_CANARY = 1 };

typedef struct fw_rollout fw_rollout;
typedef struct fw_rollout_split fw_rollout_split;

/* The rollouts of cfg's splits (cfg must outlive it); *out = NULL when no split has one. store_home:
 * where decisions are audited (NULL: $FLYWHEEL_HOME or ./.flywheel; audit off when models_dir is
 * set). Starts the analysis thread. */
fw_status fw_rollout_new(const fw_serve_config *cfg, fw_rollout **out, fw_err *err);
/* Stops the thread and frees. NULL is fine. */
void fw_rollout_free(fw_rollout *ro);
/* The state of split i of cfg->splits, NULL when it has no rollout (or ro is NULL). */
fw_rollout_split *fw_rollout_for(fw_rollout *ro, size_t split_index);

/* Request path. The canary's share now, in millionths of the traffic. */
uint32_t fw_rollout_ppm(const fw_rollout_split *rs);
/* One request routed by the split finished: arm (FW_RO_*), failed (a 5xx of the model it was
 * routed to, answered or not by the champion), its latency, and the model code of the version that
 * answered it (request_id.h; 0 = unknown) so feedback naming the request finds the arm. A canary
 * request over deadline_ms rolls back at once. */
void fw_rollout_observe(fw_rollout_split *rs, int arm, bool failed, uint64_t latency_ns, uint32_t model_code);
/* A canary request failed and the champion answered it instead (counted; the failure itself is
 * reported by fw_rollout_observe). */
void fw_rollout_fallback(fw_rollout_split *rs);
/* A canary request the champion answered because the canary had not answered within timeout_ms
 * (timed_out) or because max_inflight canary evaluations were under way (shed): counted (the failure
 * itself is reported by fw_rollout_observe). */
void fw_rollout_isolated(fw_rollout_split *rs, bool timed_out);

/* Request path, with rollback.metric: the answer of a request routed by the split (its first
 * instance), kept in a fixed table (65,536 slots per rollout, one relaxed atomic store; a newer
 * request in the same slot replaces an older one) until its label comes back. answer: a
 * classifier's decided class name (NULL: nothing kept); value: a regressor's answer. */
void fw_rollout_prediction(fw_rollout_split *rs, int arm, const char *rid, bool is_class, const char *answer,
                           double value);
/* Feedback path: a label for request rid (text: a class name or the number's text). Its loss — 0/1
 * for a class, |label - answer| for a number — goes to the arm that answered, once per request. */
void fw_rollout_label(fw_rollout *ro, const char *rid, const char *text, bool is_number, double num);

/* Feedback path: a feedback event for a request whose id names model_code. */
void fw_rollout_feedback(fw_rollout *ro, uint32_t model_code, const char *event, double value);

/* POST /admin/models/{name}/rollout:restart: model's rollout, rolled back (or complete), starts
 * again at its first step with fresh counters — audited as `canary_restart` with who asked and the
 * state it left. Returns 0 (the new state's JSON appended to out), 1 when model has no rollout, 2
 * when it is running (nothing changed). */
int fw_rollout_restart(fw_rollout *ro, const char *model, const char *who, fw_buf *out);

/* One analysis of every rollout now (the thread calls it every tick; tests may call it). */
void fw_rollout_tick(fw_rollout *ro);
/* GET /v1/models/{name}/rollout: the JSON state of model's rollout into out; false when none. */
bool fw_rollout_state_json(fw_rollout *ro, const char *model, fw_buf *out);
/* The flywheel_rollout_* families for /metrics. */
void fw_rollout_metrics(fw_rollout *ro, fw_buf *out);

/* Promotion through the canary (docs/LEARNING.md "Promotion through a canary"). The rollout of
 * cfg for model, if any: 1 with its challenger's alias in alias when the challenger is
 * model@ALIAS (a retrain that promotes moves ALIAS; fw_retrain_options.canary), 0 when model has
 * no canary rollout, -1 with the challenger's reference in alias when it names a fixed version or
 * another model. */
int fw_rollout_canary_alias(const fw_serve_config *cfg, const char *model, char *alias, size_t cap);

/* The server's view of a reference ("NAME@ALIAS"): the version its route serves now, into version
 * ("" and false when it does not resolve). Set once, right after fw_rollout_new; the analysis
 * thread calls it before each tick, outside every rollout lock. With it, a rollout whose canary is
 * an alias (a) waits — no analysis, no decision — while the alias names no version, (b) starts
 * again at its first step, audited `canary_restart`, when the alias names another version (a
 * challenger handed over by a retrain, or any alias move), and (c) on completing, when that version
 * was handed over by a retrain's gate (the alias move's audit row carries the gate's evidence),
 * moves `production` to it — audited as a promotion with the gate's evidence and the canary's —
 * unless production moved since the rollout started. */
typedef bool (*fw_rollout_resolve_fn)(void *ud, const char *ref, char *version, size_t cap);
void fw_rollout_set_resolver(fw_rollout *ro, fw_rollout_resolve_fn fn, void *ud);

/* The latency histogram's bucket of a latency (exposed for the tests). */
int fw_rollout_lat_bucket(uint64_t latency_ns);

#endif
