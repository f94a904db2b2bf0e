/* log_store.c — owns the prediction log's store sink: the writer thread's batches go to the store's
 * prediction log (store/store.h fw_store_log: one transaction per batch for the predictions, one
 * for the feedback), with the texts formatted here (inputs stored without insignificant
 * whitespace, the outputs column from the record's binary scores) into one buffer the rows point
 * into (inputs already compact: the record's own bytes); a store that cannot be opened or is
 * damaged is reported unhealthy and tried again every REOPEN_MS while the spool keeps the
 * records; feedback whose request id is unknown is kept anyway
 * and also listed as unmatched by the store, so it is never lost and a later join can tell it
 * apart. Retention runs beside it (fw_store_log_retention). */
#include "serve/logq.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    REOPEN_MS = 5000,           /* an unhealthy store is tried again this often */
    NOW_BUSY_MS = 20,           /* write_now's wait for a lock another connection holds */
};

typedef struct store_sink {
    char *home;                  /* resolved FLYWHEEL_HOME (the spool lives under it) */
    size_t cache_bytes;          /* the log connection's page cache bound (0: the store's default) */
    fw_store_log *log;           /* NULL: the store is unhealthy */
    pthread_mutex_t log_mu;      /* held to replace log (the writer) and to sync it (the syncer) */
    atomic_bool unhealthy;       /* the log cannot be opened or written (damaged): writes are refused
                                    as busy, so a spool keeps the records, and reopened every
                                    REOPEN_MS */
    int64_t last_open_ms;        /* when the writer last tried to open the log */
    fw_store_log_retention *retention;
    _Atomic(unsigned long long) retention_deleted;
    fw_buf out;                  /* the batch's texts: compacted inputs and output_json, back to back */
    size_t *offs;                /* per record: input start, input len, output start, output len */
    fw_log_pred_row *prow;       /* the batch's prediction rows */
    fw_log_feedback_row *frow;   /* the batch's feedback rows */
    fw_log_record **fb;          /* the records behind frow */
    size_t cap;
    _Atomic(unsigned long long) *matched, *unmatched;
} store_sink;

/* A damaged log (FW_ECORRUPT) marks the store unhealthy (health and /metrics say so); it and a busy
 * or full one are FW_EBUSY to the spool, which keeps the records, bounded, and tries again. */
static fw_status store_failed(store_sink *s, fw_status st, fw_err *err) {
    if (st == FW_ECORRUPT) {
        atomic_store(&s->unhealthy, true);
        st = fw_err_set(err, FW_EBUSY, "%s", err->msg);
    }
    return st;
}

/* The sink's contains hook (spool recovery). */
static bool sink_contains(void *ud, const fw_log_record *r) {
    store_sink *s = ud;
    if (!s->log) return false;
    if (r->kind == FW_LOGREC_PREDICTION)
        return fw_store_log_has_prediction(s->log, r->request_id, r->ts_ms, r->model,
                                           strtoll(r->version ? r->version : "0", NULL, 10));
    return fw_store_log_has_feedback(s->log, r->request_id, r->ts_ms, r->event);
}

/* Appends JSON text without the whitespace between tokens (strings kept byte for byte): one
 * reservation, then fw_json_compact straight into the buffer. (Inputs the spool's writer compacted
 * already are not copied at all: their rows point at the records.) */
static void put_compact_json(fw_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap && FW_GROW(&b->data, &b->cap, b->len + n) != FW_OK) {
        b->oom = true;
        return;
    }
    b->len += fw_json_compact((char *)b->data + b->len, s, n);
}

static fw_status grow(store_sink *s, size_t n, fw_err *err) {
    if (n <= s->cap) return FW_OK;
    size_t *no = fw_realloc(s->offs, n * 4 * sizeof *no);
    if (no) s->offs = no;
    fw_log_pred_row *np = no ? fw_realloc(s->prow, n * sizeof *np) : NULL;
    if (np) s->prow = np;
    fw_log_feedback_row *nf = np ? fw_realloc(s->frow, n * sizeof *nf) : NULL;
    if (nf) s->frow = nf;
    fw_log_record **nr = nf ? fw_realloc(s->fb, n * sizeof *nr) : NULL;
    if (nr) s->fb = nr;
    if (!nr) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->cap = n;
    return FW_OK;
}

/* The batch's predictions: texts formatted first (one buffer), then rows pointing into it. */
static fw_status write_predictions(store_sink *s, fw_log_record *const *recs, size_t n, fw_err *err) {
    s->out.len = 0;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        const fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_PREDICTION) continue;
        size_t *o = s->offs + 4 * np++;
        o[0] = s->out.len;
        if (r->inputs && r->inputs_compact) o[0] = SIZE_MAX; /* bound from the record itself: no copy */
        else if (r->inputs) put_compact_json(&s->out, r->inputs, r->inputs_len);
        o[1] = o[0] == SIZE_MAX ? r->inputs_len : s->out.len - o[0];
        o[2] = s->out.len;
        fw_log_record_outputs_json(r, &s->out);
        o[3] = s->out.len - o[2];
    }
    if (!np) return FW_OK;
    if (!fw_buf_ok(&s->out)) return fw_err_set(err, FW_ENOMEM, "out of memory formatting the prediction log");
    const char *texts = (const char *)s->out.data;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_PREDICTION) continue;
        const size_t *o = s->offs + 4 * k;
        s->prow[k++] = (fw_log_pred_row){
            .request_id = r->request_id,
            .ts_ms = r->ts_ms,
            .model = r->model,
            .version = strtoll(r->version ? r->version : "0", NULL, 10),
            .input_json = !r->inputs ? NULL : o[0] == SIZE_MAX ? r->inputs : texts + o[0],
            .input_len = o[1],
            .output_json = texts + o[2],
            .output_len = o[3],
            .latency_us = r->latency_us,
            .outcome = r->outcome,
        };
    }
    return fw_store_log_put_predictions(s->log, s->prow, np, err);
}

/* The writer's view of an unhealthy store: reopened at most every REOPEN_MS; busy until then. */
static fw_status ensure_log(store_sink *s, fw_err *err) {
    if (s->log && !atomic_load(&s->unhealthy)) return FW_OK;
    int64_t now = fw_wall_unix_ms();
    if (now - s->last_open_ms < REOPEN_MS)
        return fw_err_set(err, FW_EBUSY, "prediction log: the store is unhealthy; records wait in the spool");
    s->last_open_ms = now;
    pthread_mutex_lock(&s->log_mu);
    fw_store_log_close(s->log);
    s->log = NULL;
    fw_err e;
    fw_err_clear(&e);
    fw_status st = fw_store_log_open_cache(s->home, s->cache_bytes, &s->log, &e);
    pthread_mutex_unlock(&s->log_mu);
    if (st != FW_OK) {
        atomic_store(&s->unhealthy, true);
        return fw_err_set(err, FW_EBUSY, "prediction log: the store is unhealthy (%s); records wait in the spool",
                          e.msg);
    }
    if (atomic_exchange(&s->unhealthy, false))
        fprintf(stderr, "flywheel serve: prediction log: the store under %s is healthy again\n", s->home);
    return FW_OK;
}

static fw_status sink_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    store_sink *s = ud;
    fw_status st = ensure_log(s, err);
    if (st) return st;
    if ((st = grow(s, n, err))) return st;
    /* predictions first (one transaction), so feedback in the same batch finds its request */
    if ((st = write_predictions(s, recs, n, err))) return store_failed(s, st, err);
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_FEEDBACK) continue;
        s->fb[nf] = r;
        s->frow[nf++] = (fw_log_feedback_row){
            .request_id = r->request_id,
            .ts_ms = r->ts_ms,
            .label_json = r->label_json,
            .event = r->event,
            .value = r->value,
            .source = r->origin,
            .update = r->update,
            .matched = r->matched,
        };
    }
    if (!nf) return FW_OK;
    if ((st = fw_store_log_put_feedback(s->log, s->frow, nf, err))) return store_failed(s, st, err);
    size_t n_matched = 0;
    for (size_t i = 0; i < nf; i++) {
        s->fb[i]->matched = s->frow[i].matched;
        n_matched += s->frow[i].matched;
    }
    if (s->matched) atomic_fetch_add(s->matched, n_matched);
    if (s->unmatched) atomic_fetch_add(s->unmatched, nf - n_matched);
    return FW_OK;
}

/* write, waiting at most NOW_BUSY_MS for another connection's lock (the spool's direct writes). */
static fw_status sink_write_now(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    store_sink *s = ud;
    if (s->log) fw_store_log_busy_ms(s->log, NOW_BUSY_MS);
    fw_status st = sink_write(ud, recs, n, err);
    if (s->log) fw_store_log_busy_ms(s->log, FW_STORE_LOG_BUSY_MS);
    return st;
}

/* What the store committed made durable against a power cut (fw_store_log_sync: safe beside a
 * write on the writer thread). */
static fw_status sink_sync(void *ud, fw_err *err) {
    store_sink *s = ud;
    pthread_mutex_lock(&s->log_mu);
    fw_status st = s->log ? fw_store_log_sync(s->log, err) : FW_OK;
    pthread_mutex_unlock(&s->log_mu);
    return st;
}

static void sink_close(void *ud) {
    store_sink *s = ud;
    if (!s) return;
    fw_store_log_retention_stop(s->retention);
    fw_store_log_close(s->log);
    fw_free(s->home);
    fw_buf_free(&s->out);
    fw_free(s->offs);
    fw_free(s->prow);
    fw_free(s->frow);
    fw_free(s->fb);
    pthread_mutex_destroy(&s->log_mu);
    fw_free(s);
}

static void sink_stats(void *ud, fw_log_sink_stats *st) {
    store_sink *s = ud;
    st->store_unhealthy = atomic_load(&s->unhealthy);
    st->retention_deleted = atomic_load(&s->retention_deleted);
}

fw_status fw_log_sink_store(const char *home, _Atomic(unsigned long long) *matched,
                            _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err) {
    return fw_log_sink_store_cache(home, 0, matched, unmatched, out, err);
}

fw_status fw_log_sink_store_cache(const char *home, size_t cache_bytes, _Atomic(unsigned long long) *matched,
                                  _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err) {
    store_sink *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->cache_bytes = cache_bytes;
    pthread_mutex_init(&s->log_mu, NULL);
    fw_buf_init(&s->out);
    s->matched = matched;
    s->unmatched = unmatched;
    /* the store first: opening it migrates a store that still holds the log (schema 1) */
    fw_store *store;
    fw_status st = fw_store_open(home, &store, err);
    if (st) {
        sink_close(s);
        return st;
    }
    s->home = fw_strdup(fw_store_home(store));
    fw_store_close(store);
    if (!s->home) {
        sink_close(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_err e;
    fw_err_clear(&e);
    s->last_open_ms = fw_wall_unix_ms();
    if ((st = fw_store_log_open_cache(s->home, s->cache_bytes, &s->log, &e))) {
        if (st == FW_ENOMEM) {
            sink_close(s);
            *err = e;
            return st;
        }
        /* a damaged or unopenable log does not stop serving: the sink starts unhealthy (the spool
         * keeps the records, bounded) and the writer tries it again every REOPEN_MS */
        atomic_store(&s->unhealthy, true);
        fprintf(stderr, "flywheel serve: prediction log: %s; serving anyway, the store is reported unhealthy and "
                        "records wait in the spool (move the file aside to start a new log)\n", e.msg);
    }
    /* write_now only for the embedded store: a network store (a PostgreSQL URL home) can stall a
     * write for as long as a TCP timeout, and the spool keeps that off the writer's thread */
    *out = (fw_log_sink){.ud = s, .write = sink_write, .close = sink_close, .contains = sink_contains,
                         .stats = sink_stats, .sync = sink_sync,
                         .write_now = strstr(s->home, "://") ? NULL : sink_write_now, .compacts_inputs = true};
    return FW_OK;
}

bool fw_log_sink_store_retention(const fw_log_sink *sink, const fw_log_retention *r) {
    if (sink->write != sink_write || (r->max_age_s <= 0 && !r->max_rows && !r->max_bytes)) return false;
    store_sink *s = sink->ud;
    if (s->retention) return false;
    s->retention = fw_store_log_retention_start(s->home, r, &s->retention_deleted);
    return s->retention != NULL;
}

bool fw_log_sink_store_cache_bytes(const fw_log_sink *sink, size_t *writer, size_t *checkpointer) {
    *writer = *checkpointer = 0;
    if (sink->write != sink_write) return false;
    store_sink *s = sink->ud;
    fw_err e;
    return s->log && fw_store_log_cache(s->log, writer, checkpointer, &e) == FW_OK;
}

bool fw_log_sink_store_spool_dir(const fw_log_sink *sink, char *buf, size_t size) {
    if (sink->write != sink_write) return false;
    const store_sink *s = sink->ud;
    char local[4096];
    fw_store_local_dir(s->home, local, sizeof local); /* a URL home's spool is on this machine */
    if (strstr(s->home, "://")) mkdir(local, 0755);    /* (a directory home exists already) */
    int n = snprintf(buf, size, "%s/spool", local);
    return n > 0 && (size_t)n < size;
}
