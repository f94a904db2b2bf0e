/* logq.h — owns the asynchronous prediction log: a bounded lock-free queue (many request threads
 * push, one writer thread pops) and the writer that hands records to a sink in batches, one
 * transaction per batch. Pushing never blocks and never allocates beyond the record itself; when
 * the queue is full the configured policy drops a record and counts it.
 *
 * Example:
 *   fw_logq *q; fw_logq_new(&cfg_sink, 65536, FW_LOG_DROP_NEWEST, 0.1, 512, &q, &err);
 *   fw_logq_push(q, fw_log_record_new(FW_LOGREC_PREDICTION, "req-1", json, len));
 *   fw_logq_close(q);   // drains, flushes, joins the writer, frees */
#ifndef FW_SERVE_LOGQ_H
#define FW_SERVE_LOGQ_H

#include "flywheel.h"
#include "serve/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fw_logrec_kind { FW_LOGREC_PREDICTION = 0, FW_LOGREC_FEEDBACK } fw_logrec_kind;

/* One record: its kind, the request id it belongs to, and one JSON object text (no newline). */
typedef struct fw_log_record {
    fw_logrec_kind kind;
    char request_id[48];
    size_t len;
    char json[]; /* NUL-terminated */
} fw_log_record;

/* A new record (fw_malloc; NULL on OOM). Freed by the queue (or by the caller with fw_free if it
 * never pushes it). */
fw_log_record *fw_log_record_new(fw_logrec_kind kind, const char *request_id, const char *json, size_t len);

/* Where batches go. write is called from the writer thread only, with 1..batch records, and should
 * store them in one transaction. A failing write is counted (records lost), never retried forever. */
typedef struct fw_log_sink {
    void *ud;
    fw_status (*write)(void *ud, fw_log_record *const *recs, size_t n, fw_err *err);
    void (*close)(void *ud); /* flush and free */
} fw_log_sink;

/* A JSON-lines file sink (appends; fflush + fdatasync per batch). */
fw_status fw_log_sink_file(const char *path, fw_log_sink *out, fw_err *err);

typedef struct fw_logq fw_logq;

/* Starts the writer thread. capacity is rounded up to a power of two. The sink is owned. */
fw_status fw_logq_new(const fw_log_sink *sink, size_t capacity, fw_log_policy policy, double sample,
                      size_t batch, fw_logq **out, fw_err *err);
/* Enqueues r (ownership passes to the queue). Returns false when r was dropped by the policy
 * (r freed). Thread-safe, lock-free, never blocks. NULL r counts as a drop (OOM). */
bool fw_logq_push(fw_logq *q, fw_log_record *r);

typedef struct fw_logq_stats {
    uint64_t depth, capacity, pushed, dropped, written, write_errors, batches;
} fw_logq_stats;
void fw_logq_get_stats(const fw_logq *q, fw_logq_stats *s);

/* Stops accepting, writes everything queued, closes the sink, joins and frees. */
void fw_logq_close(fw_logq *q);

#endif
