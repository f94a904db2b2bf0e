/* logq.h — owns the asynchronous prediction log: a bounded lock-free queue (many request threads
 * push, one writer thread pops) and the writer that hands records to a sink in batches, one
 * transaction per batch. Pushing never blocks and never allocates beyond the record itself; when
 * the queue is full the configured policy drops a record and counts it.
 *
 * Example:
 *   fw_logq *q; fw_logq_new(&cfg_sink, 65536, FW_LOG_DROP_NEWEST, 0.1, 512, &q, &err);
 *   fw_logq_push(q, fw_log_prediction_new(&pred));
 *   fw_logq_close(q);   // drains, flushes, joins the writer, frees */
#ifndef FW_SERVE_LOGQ_H
#define FW_SERVE_LOGQ_H

#include "core/buf.h"
#include "flywheel.h"
#include "serve/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fw_logrec_kind { FW_LOGREC_PREDICTION = 0, FW_LOGREC_FEEDBACK } fw_logrec_kind;

/* One record, built on the request thread with a single allocation and no JSON encoding of
 * numbers: the request's own JSON text is copied as the inputs, scores stay binary doubles; the
 * writer thread formats them (fw_log_record_json / fw_log_record_outputs_json). Every pointer
 * points into the record's own trailing bytes or at a static string. */
typedef struct fw_log_record {
    fw_logrec_kind kind;
    char request_id[48];
    int64_t ts_ms;                /* wall clock, Unix ms */
    /* prediction */
    const char *model, *version;
    const char *entity_id;        /* NULL: none */
    const char *variant;          /* "primary", "challenger", "shadow" (static) */
    const char *source;           /* "online" or "batch" (static) */
    const char *protocol;         /* "v1" or "v2" (static) */
    const char *outcome;          /* "model", "fallback", "review" (static): the worst instance's */
    int64_t latency_us;
    const char *inputs;           /* JSON text of the inputs (NULL: none) */
    uint32_t inputs_len;          /* its bytes (without the NUL) */
    const char *answers;          /* JSON array text of the decided answers (NULL: none) */
    const double *outputs;        /* n_rows x n_out model scores (8-byte aligned) */
    uint32_t n_rows, n_out;
    /* feedback */
    const char *label_json;       /* JSON text of the label, or NULL */
    const char *event;            /* or NULL */
    double value;                 /* NaN when none */
    bool matched;                 /* the request id is known (issued here, or in the store) */
    size_t size;                  /* bytes allocated */
    _Alignas(8) char data[];
} fw_log_record;

/* What a prediction record holds (strings are copied; NULL allowed where noted above). */
typedef struct fw_log_prediction {
    const char *request_id, *model, *version, *entity_id, *variant, *source, *protocol, *outcome;
    int64_t latency_us;
    const char *inputs;
    size_t inputs_len;
    const char *answers;
    size_t answers_len;
    const double *outputs;
    size_t n_rows, n_out;
} fw_log_prediction;

/* A new prediction / feedback record (one fw_malloc; NULL on OOM). Freed by the queue (or by the
 * caller with fw_free if it never pushes it). */
fw_log_record *fw_log_prediction_new(const fw_log_prediction *p);
fw_log_record *fw_log_feedback_new(const char *request_id, const char *label_json, const char *event,
                                   double value, bool matched);

/* The whole record as one JSON object (no newline), appended to out — the JSON-lines format:
 *   {"type":"prediction","request_id":..,"time":..,"model":..,"version":..,"variant":..,
 *    "source":..,"protocol":..,"entity_id":..,"latency_ms":..,"outcome":..,"inputs":..,
 *    "answers":[..],"outputs":[[..],..]}
 *   {"type":"feedback","request_id":..,"time":..,"matched":..,"label":..,"event":..,"value":..} */
void fw_log_record_json(const fw_log_record *r, fw_buf *out);
/* A prediction's output column for the store: {"variant":..,"source":..,"protocol":..,
 * "entity_id":..,"answers":[..],"outputs":[[..]]}. */
void fw_log_record_outputs_json(const fw_log_record *r, fw_buf *out);

/* What a sink reports beyond the queue's own counters (a spooling sink: log_spool.h). */
typedef struct fw_log_sink_stats {
    bool spooled;                 /* the sink spools to disk before the store */
    uint64_t spool_bytes, spool_records, spool_capacity_bytes;  /* not yet in the store */
    uint64_t stored;              /* records now in the store */
    uint64_t store_errors;        /* records the store refused (lost, counted) */
    uint64_t spool_dropped;       /* records dropped because the spool was full */
    uint64_t recovered;           /* records ingested from spools of processes that are gone */
    uint64_t caught_up;           /* records the catch-up thread stored (serving.log.catch_up) */
    double lag_s;                 /* age of the oldest record not yet in the store (0: none) */
} fw_log_sink_stats;

/* Where batches go. write is called from the writer thread only, with 1..batch records, and should
 * store them in one transaction. A failing write is counted (records lost), never retried forever.
 * contains and stats are optional (NULL): contains says whether the sink already holds a record
 * (a prediction's request id; a feedback's request id and time), stats fills what it knows. */
typedef struct fw_log_sink {
    void *ud;
    fw_status (*write)(void *ud, fw_log_record *const *recs, size_t n, fw_err *err);
    void (*close)(void *ud); /* flush and free */
    bool (*contains)(void *ud, const fw_log_record *r);
    void (*stats)(void *ud, fw_log_sink_stats *s);
} fw_log_sink;

/* A JSON-lines file sink (appends; fflush per batch, fdatasync at close). */
fw_status fw_log_sink_file(const char *path, fw_log_sink *out, fw_err *err);

/* The store sink (log_store.c): predictions go to the store's prediction_log table (through the
 * sink's own SQLite connection: 32-row INSERTs, input_json = the request's JSON without the
 * whitespace between tokens, WAL checkpoints on a thread of the sink's), feedback to its feedback
 * table through the sink's store handle, each batch in one transaction per table (home NULL:
 * $FLYWHEEL_HOME or ./.flywheel). Feedback whose request id is neither known to this
 * process nor present in prediction_log is still stored, and also listed in the serve-owned table
 * feedback_unmatched(feedback_id, request_id, ts_ms) so later joins can find it; *matched /
 * *unmatched (may be NULL) count both kinds as they are written. */
fw_status fw_log_sink_store(const char *home, _Atomic(unsigned long long) *matched,
                            _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err);

/* The spool directory of a store sink made by fw_log_sink_store: <home>/spool into buf. False when
 * sink is not one or buf is too small. */
bool fw_log_sink_store_spool_dir(const fw_log_sink *sink, char *buf, size_t size);

typedef struct fw_logq fw_logq;

/* Starts the writer thread. capacity is rounded up to a power of two. The sink is owned. */
fw_status fw_logq_new(const fw_log_sink *sink, size_t capacity, fw_log_policy policy, double sample,
                      size_t batch, fw_logq **out, fw_err *err);
/* Enqueues r (ownership passes to the queue). Returns false when r was dropped by the policy
 * (r freed). Thread-safe, lock-free, never blocks. NULL r counts as a drop (OOM). */
bool fw_logq_push(fw_logq *q, fw_log_record *r);

typedef struct fw_logq_stats {
    uint64_t depth, capacity, pushed, dropped, written, write_errors, batches;
    fw_log_sink_stats sink;       /* the sink's own (zero when it has no stats hook) */
} fw_logq_stats;
void fw_logq_get_stats(const fw_logq *q, fw_logq_stats *s);

/* Stops accepting, writes everything queued, closes the sink, joins and frees. */
void fw_logq_close(fw_logq *q);

#endif
