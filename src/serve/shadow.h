/* shadow.h — owns shadow scoring off the request path: a bounded queue of shadow jobs (the request's
 * body, id and entity, and a reference to the shadow model) and one worker thread that scores them
 * (fw__shadow_score, api_v1.c) and logs them as the `shadow` variant. The request path copies the
 * body and enqueues; when the queue is full the job is dropped and counted. A shadow that errors,
 * hangs or runs slowly therefore costs the champion's requests a copy and an enqueue, never its
 * latency or its errors (docs/SERVING.md, "Shadow"). */
#ifndef FW_SERVE_SHADOW_H
#define FW_SERVE_SHADOW_H

#include "core/buf.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

struct fw_server;
struct fw_srv_model;
typedef struct fw_shadowq fw_shadowq;

#define FW_SHADOW_QUEUE_DEFAULT 1024 /* jobs waiting; FLYWHEEL_TEST_SHADOW_QUEUE overrides in test builds */

/* A queue of `capacity` jobs and its worker thread, which scores for server s. */
fw_status fw_shadowq_new(struct fw_server *s, size_t capacity, fw_shadowq **out, fw_err *err);
/* Lets the worker score what is queued for up to wait_s seconds, then stops it (jobs still queued
 * are dropped, their references released) and frees. NULL is fine. */
void fw_shadowq_free(fw_shadowq *q, double wait_s);
/* Request path: queues a job for shadow model m (takes a new reference) with copies of body, rid
 * and entity (may be NULL). False when it was dropped (queue full, out of memory, stopping). */
bool fw_shadowq_push(fw_shadowq *q, struct fw_srv_model *m, const char *body, size_t len, const char *rid,
                     const char *entity);
/* flywheel_shadow_* families for /metrics. */
void fw_shadowq_metrics(fw_shadowq *q, fw_buf *out);

#endif
