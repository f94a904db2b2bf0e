/* bandit.h — owns the server's `kind: bandit` splits (docs/EXPERIMENTS.md, "Bandits"): for each,
 * the Thompson-sampling bandit of experiment/bandit.h over its arms (the model's default route,
 * `challenger`, `challengers`), fed and read off the request path.
 *
 * The request path (route resolution, /v1/feedback) never locks and never allocates: picking an
 * arm reads the published routing shares (an immutable snapshot swapped in by one atomic pointer
 * store), a trial (request key, arm, time) and a reward (key, value, time) are pushed onto
 * bounded lock-free queues (full: dropped and counted, which cannot bias the posterior — a
 * dropped trial is independent of its reward). One background thread drains the queues every
 * 50 ms, joins rewards to trials by key (a first reward puts its trial in the posterior at once),
 * closes trials whose reward window ended (silent: a 0), recomputes the
 * shares and publishes them. The key of a request is the random part of its request id
 * (request_id.h), so /v1/feedback naming the id joins the reward to the arm that answered.
 *
 * State: GET /v1/bandits (fw_srv_bandits_json) and the flywheel_bandit_* series of /metrics.
 * Trials live in this process: feedback for a request another process answered is unmatched
 * (counted), and a restart starts the posteriors over. */
#ifndef FW_SERVE_BANDIT_H
#define FW_SERVE_BANDIT_H

#include "core/buf.h"
#include "flywheel.h"
#include "serve/config.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fw_srv_bandits fw_srv_bandits;

/* One bandit per `kind: bandit` split of cfg (which must outlive it) and the updater thread; *out
 * NULL when there is none. FW_EINVAL (an option the sampler refuses) or FW_ENOMEM. */
fw_status fw_srv_bandits_new(const fw_serve_config *cfg, fw_srv_bandits **out, fw_err *err);
/* Stops the thread and frees; NULL is fine. */
void fw_srv_bandits_free(fw_srv_bandits *b);

/* The request path. The arm (0: the default route, i: the i-th of challenger, challengers...) for
 * the split sp (a `kind: bandit` split of the config) and the request with key (from
 * fw_srv_bandit_key), and its reference ("NAME@ALIAS" / "NAME#VERSION"; NULL for arm 0). Lock-free. */
int fw_srv_bandit_pick(fw_srv_bandits *b, const fw_serve_split *sp, uint64_t key, const char **ref);
/* The request with key was answered by arm: a trial begins now. Lock-free (dropped when full). */
void fw_srv_bandit_trial(fw_srv_bandits *b, const fw_serve_split *sp, uint64_t key, int arm);
/* A /v1/feedback event (stored) for the request id rid: a reward for every bandit whose reward is
 * this event (value NaN: 1). Lock-free (dropped when full). */
void fw_srv_bandit_feedback(fw_srv_bandits *b, const char *rid, const char *event, double value);
/* The join key of a request id: its first 16 hex digits (the random part); 0 when rid has another
 * shape. */
uint64_t fw_srv_bandit_key(const char *rid);

/* Off the request path: {"bandits":[{"model", "reward":{...}, "arms":[...], ...}]} (takes the
 * updater's lock briefly), and the Prometheus series. Both NULL-safe ({"bandits":[]}, nothing). */
void fw_srv_bandits_json(fw_srv_bandits *b, fw_buf *out);
void fw_srv_bandits_metrics(fw_srv_bandits *b, fw_buf *out);
/* Runs one update now (drain, join, close, publish) — for tests; the thread does it every 50 ms. */
void fw_srv_bandits_tick(fw_srv_bandits *b);

#endif
