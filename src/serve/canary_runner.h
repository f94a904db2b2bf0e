/* canary_runner.h — owns canary evaluation off the request thread (docs/EXPERIMENTS.md, "A bad canary
 * is isolated"): a request a canary rollout routes to the canary becomes a job for a small pool of
 * runner threads while its connection is suspended (the HTTP worker thread goes on serving other
 * connections). The connection is resumed when the canary has answered, or at the split's
 * `timeout_ms` — then the champion answers it and the canary's late answer is dropped when it comes.
 * At most `max_inflight` canary jobs exist at once (running, queued, or abandoned but still inside
 * the canary); over that the champion answers at once (shed). So a canary that hangs, fails or runs
 * 10x slower holds runner threads, never HTTP worker threads, and each of its requests waits at
 * most timeout_ms.
 *
 * Lifetime: a job has two references, the request's and the runner's; the last one frees it (the
 * late answer of an abandoned job is freed by the runner, so nothing touches a freed request). The
 * runner is stopped (fw_canary_runner_free) after the HTTP daemon, before the log and the model
 * table: a canary still inside a model then is waited for (the test build's `hang` fault ends when
 * the server stops; a model that never returns holds the shutdown, as it would on a request thread).
 *
 * Thread safety: every function may be called from any thread. */
#ifndef FW_SERVE_CANARY_RUNNER_H
#define FW_SERVE_CANARY_RUNNER_H

#include "flywheel.h"
#include "serve/routes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw_server;
struct fw_reply;
struct fw_rollout_split;
struct MHD_Connection;
typedef struct fw_canary_runner fw_canary_runner;
typedef struct fw_canary_job fw_canary_job;

/* A pool of `workers` runner threads for server s, at most max_inflight jobs at once. */
fw_status fw_canary_runner_new(struct fw_server *s, unsigned workers, unsigned max_inflight, fw_canary_runner **out,
                               fw_err *err);
/* Stops taking jobs, resumes every waiting connection, joins the threads (a canary still inside a
 * model is waited for) and frees; jobs still queued are dropped. NULL is fine. */
void fw_canary_runner_free(fw_canary_runner *cr);
/* Draining: no new job; every waiting connection is resumed now (the champion answers them). */
void fw_canary_runner_close(fw_canary_runner *cr);

typedef enum fw_canary_submit_result {
    FW_CANARY_SUSPENDED = 0, /* queued; conn suspended: the handler is called again once it resumes */
    FW_CANARY_SHED,          /* max_inflight reached (or closing, or out of memory): answer with the champion */
} fw_canary_submit_result;

/* Request thread, inside the MHD handler of conn: queues the canary evaluation of a predict /
 * explain, /v2 infer or /v1 rank request (route rt, by its kind; body copied, request number reqno whose id r already carries) for
 * rollout split ro, with a deadline timeout_ns from now, and suspends conn. *slot receives the job
 * (kept in the request's record across the suspension). */
fw_canary_submit_result fw_canary_submit(fw_canary_runner *cr, struct MHD_Connection *conn, fw_canary_job **slot,
                                         struct fw_rollout_split *ro, const fw_route *rt, const char *body,
                                         size_t len, bool explain, uint64_t reqno, const struct fw_reply *r,
                                         uint64_t timeout_ns);
/* Request thread, on the call after the resume: true when the canary answered in time — its reply
 * (code, body, the model reference and the counting fields) is moved into r; false when it timed
 * out (the job is abandoned: its answer will be dropped). Releases the request's reference either
 * way. *ro_out: the job's rollout split. */
bool fw_canary_finish(fw_canary_runner *cr, fw_canary_job *j, struct fw_reply *r, struct fw_rollout_split **ro_out);
/* The connection closed while its job was pending: abandons it and releases the request's
 * reference. */
void fw_canary_abandon(fw_canary_runner *cr, fw_canary_job *j);

/* When j was submitted (fw_now_ns), for the time a timed-out request waited. */
uint64_t fw_canary_job_t0(const fw_canary_job *j);
/* Jobs in flight now (for the state and the tests). */
unsigned fw_canary_runner_inflight(const fw_canary_runner *cr);

#endif
