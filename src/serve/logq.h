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
#include "store/store.h"

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
    bool inputs_compact;          /* inputs hold no whitespace between tokens (the spool's writer
                                     compacted them: fw_json_compact) */
    const char *answers;          /* JSON array text of the decided answers (NULL: none) */
    const double *outputs;        /* n_rows x n_out model scores (8-byte aligned) */
    uint32_t n_rows, n_out;
    /* feedback */
    const char *label_json;       /* JSON text of the label, or NULL */
    const char *event;            /* or NULL */
    double value;                 /* NaN when none */
    bool matched;                 /* the request id is known (issued here, or in the store) */
    bool update;                  /* an explicit label update ("update": true): replaces the first */
    const char *origin;           /* who sent the feedback: "<remote address>[ role=<token role>]" */
    /* set by the queue and the sink, not by the request */
    struct fw_log_ack *ack;       /* a durable push waits on this (fw_logq_push_durable) */
    bool lost;                    /* the sink could not keep this record (dropped, counted) */
    unsigned char where;          /* how the queue holds its memory (0: a fw_malloc block, logq.c) */
    size_t size;                  /* bytes allocated */
    _Alignas(8) char data[];
} fw_log_record;

/* What a prediction record holds (strings are copied; NULL allowed where noted above). */
typedef struct fw_log_prediction {
    const char *request_id, *model, *version, *entity_id, *variant, *source, *protocol, *outcome;
    int64_t latency_us;
    const char *inputs;
    size_t inputs_len;
    /* optional: inputs' whitespace between tokens, n_gaps (offset, length) pairs in order (the /v1
     * decoder's, fw_v1_decoded.gaps): a queue whose sink compacts the inputs (compacts_inputs)
     * drops them as it copies, and the writer then has nothing left to compact */
    const uint32_t *inputs_gaps;
    size_t n_gaps;
    const char *answers;
    size_t answers_len;
    const double *outputs;
    size_t n_rows, n_out;
} fw_log_prediction;

/* A new prediction / feedback record (one fw_malloc; NULL on OOM). Freed by the queue (or by the
 * caller with fw_free if it never pushes it). */
fw_log_record *fw_log_prediction_new(const fw_log_prediction *p);
/* The bytes fw_log_prediction_new allocates for p, and the same record built in mem instead (that
 * many bytes, 8-byte aligned, owned by the caller: never fw_free it unless it came from fw_malloc).
 * The spool's ingest builds a batch's records in one reused block (log_spool.c). */
size_t fw_log_prediction_size(const fw_log_prediction *p);
fw_log_record *fw_log_prediction_build(void *mem, size_t size, const fw_log_prediction *p);
fw_log_record *fw_log_feedback_new(const char *request_id, const char *label_json, const char *event,
                                   double value, bool matched);
/* A feedback record with its source (origin, NULL: unknown) and the explicit-update flag. */
fw_log_record *fw_log_feedback_new2(const char *request_id, const char *label_json, const char *event,
                                    double value, bool matched, bool update, const char *origin);

/* The whole record as one JSON object (no newline), appended to out — the JSON-lines format:
 *   {"type":"prediction","request_id":..,"time":..,"model":..,"version":..,"variant":..,
 *    "source":..,"protocol":..,"entity_id":..,"latency_ms":..,"outcome":..,"inputs":..,
 *    "answers":[..],"outputs":[[..],..]}
 *   {"type":"feedback","request_id":..,"time":..,"matched":..,"label":..,"event":..,"value":..} */
void fw_log_record_json(const fw_log_record *r, fw_buf *out);
/* A prediction's output column for the store: {"variant":..,"source":..,"protocol":..,
 * "entity_id":..,"answers":[..],"outputs":[[..]]}. */
void fw_log_record_outputs_json(const fw_log_record *r, fw_buf *out);

/* Copies the n bytes of JSON text at s to dst without the whitespace between tokens (strings kept
 * byte for byte); returns the bytes written (<= n). dst may be s (in place). */
size_t fw_json_compact(char *dst, const char *s, size_t n);
/* The same text from s without the n_gaps (offset, length) runs of gaps (ascending, inside n bytes,
 * not overlapping): what fw_json_compact writes when the gaps are the text's whitespace runs
 * between tokens. dst has room for n bytes (it may be s: in place). Returns the bytes written,
 * or (size_t)-1 (nothing promised in dst) when the runs are not ascending or leave the text. */
size_t fw_json_compact_gaps(char *dst, const char *s, size_t n, const uint32_t *gaps, size_t n_gaps);

/* What a sink reports beyond the queue's own counters (a spooling sink: log_spool.h). */
typedef struct fw_log_sink_stats {
    bool spooled;                 /* the sink spools to disk before the store */
    uint64_t spool_bytes, spool_records, spool_capacity_bytes;  /* not yet in the store */
    uint64_t stored;              /* records now in the store */
    uint64_t store_errors;        /* records the store refused (lost, counted) */
    uint64_t spool_dropped;       /* records dropped because the spool was full */
    uint64_t recovered;           /* records ingested from spools of processes that are gone */
    uint64_t caught_up;           /* records the catch-up thread stored (serving.log.catch_up) */
    uint64_t lost;                /* records a dead process accepted but never appended (kill -9
                                     inside the flush window), counted when its spool is recovered */
    uint64_t append_errors;       /* records dropped because the spool could not be written (disk full) */
    uint64_t damaged_bytes;       /* bytes of recovered spools that held no valid record (skipped) */
    uint64_t set_aside;           /* spool files with a damaged header, renamed *.damaged */
    uint64_t direct;              /* records the writer stored itself, past an empty spool */
    bool store_unhealthy;         /* the store refuses writes (damaged, unopenable): records wait in the spool */
    uint64_t retention_deleted;   /* prediction_log rows removed by serving.log.retention */
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
    /* optional: makes what write returned durable against a power cut (fdatasync); called by the
     * writer after a batch holding a record a request waits for (group commit) */
    fw_status (*sync)(void *ud, fw_err *err);
    /* optional: write, but answer FW_EBUSY within a few milliseconds when another connection holds
     * the store's lock instead of waiting out its busy timeout (the spool's direct writes: the
     * writer thread must not stall). Like write otherwise: one transaction per table, so on an
     * error the predictions may be in and the feedback not (contains tells) */
    fw_status (*write_now)(void *ud, fw_log_record *const *recs, size_t n, fw_err *err);
    /* optional: counters that survive kill -9 (the spool's, mapped from /dev/shm): the queue adds every
     * record it accepts to *accepted before it enqueues it, and every record it disposes of
     * (handed to write, dropped, freed at close) to *settled after; a later process counts
     * accepted - settled as lost in the flush window */
    _Atomic(unsigned long long) *accepted, *settled;
    /* the sink keeps predictions' inputs without the whitespace between tokens (fw_json_compact):
     * the queue may drop it as it copies a record (fw_log_prediction.inputs_gaps) */
    bool compacts_inputs;
} fw_log_sink;

/* A JSON-lines file sink (appends; fflush per batch, fdatasync at close). A path naming the null
 * device (/dev/null) gives the discard sink instead: records are counted as written and never
 * formatted (fw_log_sink_discards). */
fw_status fw_log_sink_file(const char *path, fw_log_sink *out, fw_err *err);
/* True when sink is the discard sink fw_log_sink_file made for the null device. */
bool fw_log_sink_discards(const fw_log_sink *sink);

/* The store sink (log_store.c): predictions go to the store's prediction log (fw_store_log,
 * store/store.h; input_json = the request's JSON without the whitespace between tokens), feedback
 * to its feedback table, each batch in one transaction per table (home NULL:
 * $FLYWHEEL_HOME or ./.flywheel). Feedback whose request id is neither known to this
 * process nor present in prediction_log is still stored, and also listed in the serve-owned table
 * feedback_unmatched(feedback_id, request_id, ts_ms) so later joins can find it; *matched /
 * *unmatched (may be NULL) count both kinds as they are written. */
fw_status fw_log_sink_store(const char *home, _Atomic(unsigned long long) *matched,
                            _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err);

/* fw_log_sink_store with the page cache bound of the log's connection (serving.log.cache_bytes;
 * 0: FW_STORE_LOG_CACHE_BYTES). */
fw_status fw_log_sink_store_cache(const char *home, size_t cache_bytes, _Atomic(unsigned long long) *matched,
                                  _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err);
/* The page cache bounds the store sink's connections run with, read back from the store (bytes).
 * Call from the thread that writes the sink (or before it starts). False when sink is not one or
 * its store is not open. */
bool fw_log_sink_store_cache_bytes(const fw_log_sink *sink, size_t *writer, size_t *checkpointer);

/* Starts serving.log.retention (fw_log_retention, store/store.h) on a store sink made by fw_log_sink_store (before it is wrapped by a spool).
 * False when sink is not one or nothing is bounded. */
bool fw_log_sink_store_retention(const fw_log_sink *sink, const fw_log_retention *r);

/* The spool directory of a store sink made by fw_log_sink_store: <home>/spool into buf. False when
 * sink is not one or buf is too small. */
bool fw_log_sink_store_spool_dir(const fw_log_sink *sink, char *buf, size_t size);

typedef struct fw_logq fw_logq;

/* The default bound on the memory of queued prediction records (serving.log.queue_bytes). */
#define FW_LOGQ_DEFAULT_BYTES FW_LOG_QUEUE_BYTES_DEFAULT

/* Starts the writer thread. capacity is rounded up to a power of two. The sink is owned. The
 * prediction records' memory is bounded by FW_LOGQ_DEFAULT_BYTES (fw_logq_new_bytes). */
fw_status fw_logq_new(const fw_log_sink *sink, size_t capacity, fw_log_policy policy, double sample,
                      size_t batch, fw_logq **out, fw_err *err);
/* The same with the bound on the bytes of prediction records waiting in the queue (a ring
 * reserved once; 0: no bound, a malloc per record): records pushed with fw_logq_push_prediction
 * are built in it, and dropped (counted) when it is full. */
fw_status fw_logq_new_bytes(const fw_log_sink *sink, size_t capacity, size_t bytes, fw_log_policy policy,
                            double sample, size_t batch, fw_logq **out, fw_err *err);
/* The writer's flush interval (ms, default 2): after a batch short of `batch` records (or none) it
 * sleeps this long before it looks again (a durable push wakes it), so a record waits at most about
 * this long plus the write in progress (plus any backlog) before the sink has it — the prediction
 * loss window on kill -9 (serving.log.flush_ms). Call before pushing. */
void fw_logq_set_flush_ms(fw_logq *q, int ms);
/* Enqueues r (ownership passes to the queue). Returns false when r was dropped by the policy
 * (r freed). Thread-safe, lock-free, never blocks. NULL r counts as a drop (OOM). */
bool fw_logq_push(fw_logq *q, fw_log_record *r);
/* fw_logq_push(q, fw_log_prediction_new(p)) without the malloc: the record is built in the
 * queue's bounded memory (fw_logq_new_bytes). False when it was dropped (counted): the memory
 * bound, the queue's capacity or its policy. */
bool fw_logq_push_prediction(fw_logq *q, const fw_log_prediction *p);
/* Tests only (NULL otherwise): called by fw_logq_push_prediction between reserving the record's
 * bytes and queueing it — where a descheduled request thread holds its reservation. */
extern void (*fw_logq_test_between)(void);
/* Group commit: enqueues r, wakes the writer and waits until the sink has written it and synced
 * the batch (one fdatasync for every record waiting on that batch), at most timeout_ms. FW_OK: r is
 * durable. FW_ELIMIT: the queue was full (r dropped); FW_EIO: the sink could not keep it (disk
 * full, store refused); FW_EBUSY: not durable within timeout_ms (it may still be
 * written later). Ownership of r passes to the queue in every case. */
fw_status fw_logq_push_durable(fw_logq *q, fw_log_record *r, int timeout_ms);
/* The same without waiting: done(ud, FW_OK) once r is durable, done(ud, FW_EIO) when it was not
 * kept — called exactly once, from the writer or the syncer thread, or from this call itself when
 * the queue is full (then FW_ELIMIT is returned too). It runs under the queue's ack lock: it must
 * not block nor push. FW_ENOMEM: r could not be queued and done is not called. The server
 * suspends the feedback request's connection meanwhile, so its worker thread serves others. */
fw_status fw_logq_push_durable_async(fw_logq *q, fw_log_record *r, void (*done)(void *ud, fw_status st), void *ud);

typedef struct fw_logq_stats {
    uint64_t depth, capacity, pushed, dropped, written, write_errors, batches;
    uint64_t mem_bytes, mem_capacity, mem_peak; /* the records' memory: in use, bound, most ever */
    uint64_t mem_dropped;         /* records dropped because the memory bound was reached (in dropped) */
    uint64_t writer_wakeups;      /* the writer's waits that ended (a tick, a push, a durable push); an
                                   * idle queue's writer parks after 0.1 s: about one a second then */
    fw_log_sink_stats sink;       /* the sink's own (zero when it has no stats hook) */
} fw_logq_stats;
void fw_logq_get_stats(const fw_logq *q, fw_logq_stats *s);

/* Stops accepting, writes everything queued, closes the sink, joins and frees. */
void fw_logq_close(fw_logq *q);

#endif
