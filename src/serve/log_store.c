/* log_store.c — owns the prediction log's store sink: the writer thread's batches go into
 * <home>/log.db (store/log_db.h: prediction_log, feedback, feedback_unmatched; a file of its own
 * so ingestion never holds the registry's write lock), one transaction per batch; predictions
 * with multi-row INSERTs prepared once (lengths bound, no strlen, inputs stored without
 * insignificant whitespace) and WAL checkpoints on a checkpointer thread of the sink's own (so the
 * writer never stalls on copying the WAL back and its fdatasync: at 25-30k rows/s the inline
 * checkpoints made the queue peak at 44-65k, 4-9k without them); feedback whose request id is
 * unknown is kept anyway and also listed in feedback_unmatched, so it is never lost and a later
 * join can tell it apart. */
#include "serve/logq.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "store/log_db.h"
#include "store/store.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct store_sink {
    char *home;                  /* resolved FLYWHEEL_HOME (the spool lives under it) */
    sqlite3 *db;                 /* our connection to <home>/log.db (NULL: the store is unhealthy) */
    atomic_bool unhealthy;       /* log.db cannot be opened or written (damaged): writes are refused
                                    as busy, so a spool keeps the records, and reopened every
                                    REOPEN_MS */
    int64_t last_open_ms;        /* when the writer last tried to open log.db */
    sqlite3_stmt *q_label;       /* does a request id have a label in force? */
    sqlite3_stmt *q_supersede;   /* mark its labels in force superseded */
    sqlite3_stmt *q_known;       /* is a request id in prediction_log? */
    sqlite3_stmt *q_has_pred;    /* is this prediction record stored? (spool recovery) */
    sqlite3_stmt *q_has_fb;      /* is this feedback record stored? */
    sqlite3_stmt *q_fb;          /* INSERT one feedback row */
    sqlite3_stmt *q_flag;        /* insert into feedback_unmatched */
    sqlite3_stmt *q_ins1;        /* INSERT one prediction_log row */
    sqlite3_stmt *q_insn;        /* INSERT ROWS_PER_INSERT rows */
    /* checkpointer: the writer's WAL hook asks, this thread runs PASSIVE checkpoints */
    sqlite3 *ckdb;
    pthread_t ckpt;
    bool ckpt_started, ck_stop, ck_pending;
    pthread_mutex_t ckmu;
    pthread_cond_t ckcv;
    /* retention (serving.log.retention): a thread of its own, with its own connection */
    fw_log_retention ret;
    pthread_t rthread;
    bool r_started, r_stop;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    _Atomic(unsigned long long) retention_deleted;
    fw_buf out;                  /* the batch's texts: compacted inputs and output_json, back to back */
    size_t *offs;                /* per record: input start, input len, output start, output len */
    size_t cap;
    _Atomic(unsigned long long) *matched, *unmatched;
} store_sink;

/* FW_EBUSY when another connection held the lock past the busy timeout (the spool tries the batch
 * again later), FW_ESTORE otherwise. */
/* A full disk (SQLITE_FULL) is busy too: the records stay in the spool until there is space. A
 * damaged file (SQLITE_CORRUPT, SQLITE_NOTADB) marks the store unhealthy (health and /metrics say
 * so) and is busy as well: the spool keeps the records, bounded, while someone repairs it. */
static fw_status db_err(store_sink *s, fw_err *err, const char *what) {
    int code = sqlite3_errcode(s->db) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) atomic_store(&s->unhealthy, true);
    fw_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL || code == SQLITE_CORRUPT ||
                           code == SQLITE_NOTADB
                       ? FW_EBUSY
                       : FW_ESTORE;
    return fw_err_set(err, st, "prediction log: %s: %s", what, sqlite3_errmsg(s->db));
}

/* True when prediction_log holds request_id (written by any process, any time). */
static bool known_in_store(store_sink *s, const char *rid) {
    sqlite3_reset(s->q_known);
    sqlite3_bind_text(s->q_known, 1, rid, -1, SQLITE_STATIC);
    bool found = sqlite3_step(s->q_known) == SQLITE_ROW;
    sqlite3_reset(s->q_known);
    return found;
}

/* The sink's contains hook: a prediction is the same when request id, model, version and time
 * match (a shadow record shares its request's id, not its model version); feedback when request
 * id, time and event match. */
static bool sink_contains(void *ud, const fw_log_record *r) {
    store_sink *s = ud;
    if (!s->db) return false;
    sqlite3_stmt *st = r->kind == FW_LOGREC_PREDICTION ? s->q_has_pred : s->q_has_fb;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, r->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->ts_ms);
    if (r->kind == FW_LOGREC_PREDICTION) {
        sqlite3_bind_text(st, 3, r->model ? r->model : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, strtoll(r->version ? r->version : "0", NULL, 10));
    } else if (r->event) {
        sqlite3_bind_text(st, 3, r->event, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 3);
    }
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

enum {
    ROWS_PER_INSERT = 32,
    PRED_COLS = 8,
    CKPT_PAGES = 1000,          /* ask the checkpointer once the WAL holds this many pages (SQLite's default) */
    CKPT_INLINE_PAGES = 32768,  /* the writer checkpoints itself past this (128 MiB): the WAL stays bounded */
    REOPEN_MS = 5000,           /* an unhealthy store is tried again this often */
};

/* The writer connection's WAL hook (after each commit), replacing SQLite's auto-checkpoint. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages) {
    store_sink *s = ud;
    if (pages >= CKPT_INLINE_PAGES || !s->ckpt_started) {
        if (pages >= CKPT_PAGES) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&s->ckmu);
        s->ck_pending = true;
        pthread_cond_signal(&s->ckcv);
        pthread_mutex_unlock(&s->ckmu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg) {
    store_sink *s = arg;
    pthread_setname_np(pthread_self(), "fw-log-ckpt");
    struct sched_param sp = {0}; /* SCHED_BATCH like the writer: never preempts request threads */
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    pthread_mutex_lock(&s->ckmu);
    for (;;) {
        while (!s->ck_pending && !s->ck_stop) pthread_cond_wait(&s->ckcv, &s->ckmu);
        if (!s->ck_pending) break;
        s->ck_pending = false;
        pthread_mutex_unlock(&s->ckmu);
        /* PASSIVE: copies what it can without waiting for (or blocking) the writer */
        sqlite3_wal_checkpoint_v2(s->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ckmu);
    }
    pthread_mutex_unlock(&s->ckmu);
    return NULL;
}

/* Appends JSON text without the whitespace between tokens (strings kept byte for byte): one
 * reservation, then a byte loop writing straight into the buffer. */
static void put_compact_json(fw_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap && FW_GROW(&b->data, &b->cap, b->len + n) != FW_OK) {
        b->oom = true;
        return;
    }
    char *d = (char *)b->data + b->len, *d0 = d;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            *d++ = c;
            if (c == '\\' && i + 1 < n) *d++ = s[++i];
            else if (c == '"') in_str = false;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            *d++ = c;
            in_str = c == '"';
        }
    }
    b->len += (size_t)(d - d0);
}

static void bind_row(sqlite3_stmt *st, int base, const fw_log_record *r, const char *texts, const size_t *o) {
    sqlite3_bind_text(st, base + 1, r->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 2, r->ts_ms);
    sqlite3_bind_text(st, base + 3, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 4, strtoll(r->version ? r->version : "0", NULL, 10));
    if (r->inputs) sqlite3_bind_text(st, base + 5, texts + o[0], (int)o[1], SQLITE_STATIC);
    else sqlite3_bind_null(st, base + 5);
    sqlite3_bind_text(st, base + 6, texts + o[2], (int)o[3], SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 7, r->latency_us);
    sqlite3_bind_text(st, base + 8, r->outcome, -1, SQLITE_STATIC);
}

static fw_status run_insert(store_sink *s, sqlite3_stmt *st, const char *what, fw_err *err) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? FW_OK : db_err(s, err, what);
}

/* One transaction for the batch's predictions: texts formatted first (one buffer), then rows bound
 * straight from it, ROWS_PER_INSERT per statement. */
static fw_status write_predictions(store_sink *s, fw_log_record *const *recs, size_t n, fw_err *err) {
    if (!n) return FW_OK;
    if (n > s->cap) {
        size_t *no = fw_realloc(s->offs, n * 4 * sizeof *no);
        if (!no) return fw_err_set(err, FW_ENOMEM, "out of memory");
        s->offs = no;
        s->cap = n;
    }
    s->out.len = 0;
    for (size_t i = 0; i < n; i++) {
        const fw_log_record *r = recs[i];
        size_t *o = s->offs + 4 * i;
        o[0] = s->out.len;
        if (r->inputs) put_compact_json(&s->out, r->inputs, r->inputs_len);
        o[1] = s->out.len - o[0];
        o[2] = s->out.len;
        fw_log_record_outputs_json(r, &s->out);
        o[3] = s->out.len - o[2];
    }
    if (!fw_buf_ok(&s->out)) return fw_err_set(err, FW_ENOMEM, "out of memory formatting the prediction log");
    const char *texts = (const char *)s->out.data;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, err, "starting a log transaction");
    fw_status st = FW_OK;
    size_t i = 0;
    for (; st == FW_OK && i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
        for (int k = 0; k < ROWS_PER_INSERT; k++)
            bind_row(s->q_insn, k * PRED_COLS, recs[i + (size_t)k], texts, s->offs + 4 * (i + (size_t)k));
        st = run_insert(s, s->q_insn, "logging predictions", err);
    }
    for (; st == FW_OK && i < n; i++) {
        bind_row(s->q_ins1, 0, recs[i], texts, s->offs + 4 * i);
        st = run_insert(s, s->q_ins1, "logging predictions", err);
    }
    if (st == FW_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = db_err(s, err, "committing the prediction log");
    if (st) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

static fw_status open_db(store_sink *s, fw_err *err);

/* The writer's view of an unhealthy store: reopened at most every REOPEN_MS; busy until then. */
static fw_status ensure_db(store_sink *s, fw_err *err) {
    if (s->db && !atomic_load(&s->unhealthy)) return FW_OK;
    int64_t now = fw_wall_unix_ms();
    if (now - s->last_open_ms < REOPEN_MS)
        return fw_err_set(err, FW_EBUSY, "prediction log: the store is unhealthy; records wait in the spool");
    s->last_open_ms = now;
    fw_err e;
    fw_err_clear(&e);
    if (open_db(s, &e) != FW_OK) {
        atomic_store(&s->unhealthy, true);
        return fw_err_set(err, FW_EBUSY, "prediction log: the store is unhealthy (%s); records wait in the spool",
                          e.msg);
    }
    if (atomic_exchange(&s->unhealthy, false))
        fprintf(stderr, "flywheel serve: prediction log: %s/log.db is healthy again\n", s->home);
    return FW_OK;
}

/* One feedback row: a second label for a request id without "update" is kept as 'ignored' (the
 * first stands); with "update" the labels in force become 'superseded'. Events always count. */
static fw_status write_feedback(store_sink *s, fw_log_record *r, fw_err *err) {
    const char *status = NULL;
    if (r->label_json) {
        sqlite3_reset(s->q_label);
        sqlite3_bind_text(s->q_label, 1, r->request_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s->q_label);
        sqlite3_reset(s->q_label);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_err(s, err, "looking up a label");
        if (rc == SQLITE_ROW && !r->update) status = "ignored";
        else if (rc == SQLITE_ROW) {
            sqlite3_bind_text(s->q_supersede, 1, r->request_id, -1, SQLITE_STATIC);
            fw_status st = run_insert(s, s->q_supersede, "superseding a label", err);
            if (st) return st;
        }
    }
    sqlite3_bind_text(s->q_fb, 1, r->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->q_fb, 2, r->ts_ms);
    sqlite3_bind_text(s->q_fb, 3, r->label_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->q_fb, 4, r->event, -1, SQLITE_STATIC);
    if (isnan(r->value)) sqlite3_bind_null(s->q_fb, 5);
    else sqlite3_bind_double(s->q_fb, 5, r->value);
    sqlite3_bind_text(s->q_fb, 6, r->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->q_fb, 7, status, -1, SQLITE_STATIC);
    return run_insert(s, s->q_fb, "storing feedback", err);
}

static fw_status sink_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    store_sink *s = ud;
    fw_status st = ensure_db(s, err);
    if (st) return st;
    /* predictions first (one transaction), so feedback in the same batch finds its request */
    size_t np = 0;
    fw_log_record **preds = fw_malloc((n ? n : 1) * sizeof *preds);
    if (!preds) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FW_LOGREC_PREDICTION) preds[np++] = recs[i];
    st = write_predictions(s, preds, np, err);
    fw_free(preds);
    if (st || np == n) return st;
    /* feedback: one transaction, the unmatched flags with their rows */
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, err, "starting a feedback transaction");
    size_t n_matched = 0, n_unmatched = 0;
    for (size_t i = 0; i < n && st == FW_OK; i++) {
        fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_FEEDBACK) continue;
        if (!r->matched) r->matched = known_in_store(s, r->request_id);
        st = write_feedback(s, r, err);
        if (st || r->matched) {
            n_matched += r->matched;
            continue;
        }
        n_unmatched++;
        sqlite3_bind_text(s->q_flag, 1, r->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->q_flag, 2, r->ts_ms);
        sqlite3_bind_text(s->q_flag, 3, r->label_json, -1, SQLITE_STATIC);
        st = run_insert(s, s->q_flag, "flagging unmatched feedback", err);
    }
    if (st == FW_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = db_err(s, err, "committing feedback");
    if (st) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    if (s->matched) atomic_fetch_add(s->matched, n_matched);
    if (s->unmatched) atomic_fetch_add(s->unmatched, n_unmatched);
    return FW_OK;
}

/* Stops the checkpointer and closes both connections (the store is reopened by open_db). */
static void close_db(store_sink *s) {
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckmu);
        s->ck_stop = true;
        pthread_cond_signal(&s->ckcv);
        pthread_mutex_unlock(&s->ckmu);
        pthread_join(s->ckpt, NULL);
        s->ckpt_started = false;
        s->ck_stop = s->ck_pending = false;
    }
    if (s->ckdb) sqlite3_close(s->ckdb);
    s->ckdb = NULL;
    sqlite3_stmt **sts[] = {&s->q_known, &s->q_has_pred, &s->q_has_fb, &s->q_fb,  &s->q_flag,
                            &s->q_ins1,  &s->q_insn,     &s->q_label,  &s->q_supersede};
    for (size_t i = 0; i < sizeof sts / sizeof *sts; i++) {
        sqlite3_finalize(*sts[i]);
        *sts[i] = NULL;
    }
    if (s->db) sqlite3_close(s->db);
    s->db = NULL;
}

static void stop_retention(store_sink *s) {
    if (!s->r_started) return;
    pthread_mutex_lock(&s->rmu);
    s->r_stop = true;
    pthread_cond_signal(&s->rcv);
    pthread_mutex_unlock(&s->rmu);
    pthread_join(s->rthread, NULL);
    s->r_started = false;
}

static void sink_close(void *ud) {
    store_sink *s = ud;
    if (!s) return;
    stop_retention(s);
    close_db(s);
    pthread_mutex_destroy(&s->ckmu);
    pthread_cond_destroy(&s->ckcv);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcv);
    fw_free(s->home);
    fw_buf_free(&s->out);
    fw_free(s->offs);
    fw_free(s);
}

static void sink_stats(void *ud, fw_log_sink_stats *st) {
    store_sink *s = ud;
    st->store_unhealthy = atomic_load(&s->unhealthy);
    st->retention_deleted = atomic_load(&s->retention_deleted);
}

/* Opens log.db, prepares the statements and starts the checkpointer. */
static fw_status open_db(store_sink *s, fw_err *err) {
    close_db(s);
    fw_status st = fw_log_db_open(s->home, 5000, &s->db, err);
    if (st) return st;
    const char *path = sqlite3_db_filename(s->db, "main");
    static const char INS[] = "INSERT INTO prediction_log(request_id, ts_ms, model_name, version, input_json,"
                              " output_json, latency_us, outcome) VALUES(?,?,?,?,?,?,?,?)";
    fw_buf ins;
    fw_buf_init(&ins);
    fw_buf_put(&ins, INS, sizeof INS - 1);
    for (int k = 1; k < ROWS_PER_INSERT; k++) fw_buf_put(&ins, ",(?,?,?,?,?,?,?,?)", 18);
    fw_buf_put_u8(&ins, 0);
    bool ins_ok = fw_buf_ok(&ins) &&
                  sqlite3_prepare_v3(s->db, (const char *)ins.data, -1, SQLITE_PREPARE_PERSISTENT, &s->q_insn,
                                     NULL) == SQLITE_OK &&
                  sqlite3_prepare_v3(s->db, INS, -1, SQLITE_PREPARE_PERSISTENT, &s->q_ins1, NULL) == SQLITE_OK;
    fw_buf_free(&ins);
    if (!ins_ok ||
        sqlite3_prepare_v2(s->db, "INSERT INTO feedback(request_id, ts_ms, label_json, event, value, source, status)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s->q_fb, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM prediction_log WHERE request_id = ?1 LIMIT 1", -1, &s->q_known,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO feedback_unmatched(request_id, ts_ms, label_json) VALUES(?1, ?2, ?3)",
                           -1, &s->q_flag, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM prediction_log WHERE request_id = ?1 AND ts_ms = ?2 AND model_name = ?3"
                           " AND version = ?4 LIMIT 1",
                           -1, &s->q_has_pred, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM feedback WHERE request_id = ?1 AND ts_ms = ?2 AND event IS ?3 LIMIT 1",
                           -1, &s->q_has_fb, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM feedback WHERE request_id = ?1 AND label_json IS NOT NULL AND status IS NULL"
                           " LIMIT 1",
                           -1, &s->q_label, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "UPDATE feedback SET status = 'superseded' WHERE request_id = ?1 AND label_json IS NOT NULL"
                           " AND status IS NULL",
                           -1, &s->q_supersede, NULL) != SQLITE_OK) {
        st = db_err(s, err, path);
        if (st == FW_EBUSY) st = FW_ECORRUPT;
        close_db(s);
        return st;
    }
    /* the checkpointer (without it, the hook checkpoints inline like SQLite's auto-checkpoint) */
    if (sqlite3_open_v2(path, &s->ckdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
        pthread_create(&s->ckpt, NULL, ckpt_main, s) == 0)
        s->ckpt_started = true;
    sqlite3_wal_hook(s->db, wal_hook, s);
    return FW_OK;
}

fw_status fw_log_sink_store(const char *home, _Atomic(unsigned long long) *matched,
                            _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err) {
    store_sink *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_buf_init(&s->out);
    pthread_mutex_init(&s->ckmu, NULL);
    pthread_cond_init(&s->ckcv, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcv, NULL);
    s->matched = matched;
    s->unmatched = unmatched;
    /* the store first: opening it migrates a store that still holds the log (schema 1) */
    fw_store *store;
    fw_status st = fw_store_open(home, &store, err);
    if (st) {
        sink_close(s);
        return st;
    }
    s->home = fw_strdup(store->home);
    fw_store_close(store);
    if (!s->home) {
        sink_close(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_err e;
    fw_err_clear(&e);
    s->last_open_ms = fw_wall_unix_ms();
    if ((st = open_db(s, &e))) {
        if (st == FW_ENOMEM) {
            sink_close(s);
            *err = e;
            return st;
        }
        /* a damaged or unopenable log.db does not stop serving: the sink starts unhealthy (the
         * spool keeps the records, bounded) and the writer tries the file again every REOPEN_MS */
        atomic_store(&s->unhealthy, true);
        fprintf(stderr, "flywheel serve: prediction log: %s; serving anyway, the store is reported unhealthy and "
                        "records wait in the spool (move the file aside to start a new log)\n", e.msg);
    }
    *out = (fw_log_sink){.ud = s, .write = sink_write, .close = sink_close, .contains = sink_contains,
                         .stats = sink_stats};
    return FW_OK;
}

/* ---- retention ------------------------------------------------------------------------------ */

static int64_t q_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Deletes up to FW_LOG_RETENTION_CHUNK of the oldest rows (by id) matching the bound; returns how
 * many went, or -1 on an error (busy: the next pass tries again). */
static int64_t delete_chunk(sqlite3 *db, int64_t below_id, int64_t before_ms) {
    sqlite3_stmt *st = NULL;
    const char *sql = before_ms > 0
                          ? "DELETE FROM prediction_log WHERE id IN (SELECT id FROM prediction_log ORDER BY id LIMIT ?1)"
                            " AND ts_ms < ?2"
                          : "DELETE FROM prediction_log WHERE id IN (SELECT id FROM prediction_log WHERE id < ?2"
                            " ORDER BY id LIMIT ?1)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int(st, 1, FW_LOG_RETENTION_CHUNK);
    sqlite3_bind_int64(st, 2, before_ms > 0 ? before_ms : below_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

static bool retention_stopping(store_sink *s, long wait_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->rmu);
    if (!s->r_stop && wait_ms > 0) pthread_cond_timedwait(&s->rcv, &s->rmu, &dl);
    bool stop = s->r_stop;
    pthread_mutex_unlock(&s->rmu);
    return stop;
}

/* One pass: each bound in turn, a chunk per transaction (autocommit), pausing between chunks so
 * the ingester gets the write lock; then the freed pages go back to the file system. */
static void retention_pass(store_sink *s, sqlite3 *db) {
    int64_t page = q_int(db, "PRAGMA page_size");
    for (int kind = 0; kind < 3; kind++) {
        for (;;) {
            if (retention_stopping(s, 0)) return;
            int64_t n = 0;
            if (kind == 0) {
                if (s->ret.max_age_s <= 0) break;
                n = delete_chunk(db, 0, fw_wall_unix_ms() - (int64_t)(s->ret.max_age_s * 1000));
            } else if (kind == 1) {
                if (!s->ret.max_rows) break;
                int64_t hi = q_int(db, "SELECT max(id) FROM prediction_log"), lo = q_int(db, "SELECT min(id) FROM prediction_log");
                if (hi <= 0 || lo <= 0 || hi - lo + 1 <= (int64_t)s->ret.max_rows) break;
                n = delete_chunk(db, hi - (int64_t)s->ret.max_rows + 1, 0);
            } else {
                if (!s->ret.max_bytes || page <= 0) break;
                int64_t used = (q_int(db, "PRAGMA page_count") - q_int(db, "PRAGMA freelist_count")) * page;
                if (used <= (int64_t)s->ret.max_bytes) break;
                int64_t lo = q_int(db, "SELECT min(id) FROM prediction_log");
                if (lo <= 0) break;
                n = delete_chunk(db, lo + FW_LOG_RETENTION_CHUNK, 0);
            }
            if (n <= 0) break;
            atomic_fetch_add(&s->retention_deleted, (unsigned long long)n);
            if (retention_stopping(s, 5)) return; /* the ingester's turn */
        }
    }
    /* give the free pages back, a slice per transaction (a no-op without auto_vacuum=INCREMENTAL) */
    while (q_int(db, "PRAGMA freelist_count") > 0 && !retention_stopping(s, 0)) {
        if (sqlite3_exec(db, "PRAGMA incremental_vacuum(2000)", NULL, NULL, NULL) != SQLITE_OK) break;
        if (q_int(db, "PRAGMA auto_vacuum") != 2) break;
        if (retention_stopping(s, 5)) return;
    }
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void *retention_main(void *arg) {
    store_sink *s = arg;
    pthread_setname_np(pthread_self(), "fw-log-retain");
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    long every_ms = (long)((s->ret.interval_s > 0 ? s->ret.interval_s : 10.0) * 1000);
    sqlite3 *db = NULL;
    do {
        if (!db) {
            fw_err e;
            if (fw_log_db_open(s->home, 5000, &db, &e) != FW_OK) db = NULL;
        }
        if (db) retention_pass(s, db);
    } while (!retention_stopping(s, every_ms));
    if (db) sqlite3_close(db);
    return NULL;
}

bool fw_log_sink_store_retention(const fw_log_sink *sink, const fw_log_retention *r) {
    if (sink->write != sink_write || (r->max_age_s <= 0 && !r->max_rows && !r->max_bytes)) return false;
    store_sink *s = sink->ud;
    if (s->r_started) return false;
    s->ret = *r;
    s->r_stop = false;
    s->r_started = pthread_create(&s->rthread, NULL, retention_main, s) == 0;
    return s->r_started;
}

bool fw_log_sink_store_spool_dir(const fw_log_sink *sink, char *buf, size_t size) {
    if (sink->write != sink_write) return false;
    const store_sink *s = sink->ud;
    int n = snprintf(buf, size, "%s/spool", s->home);
    return n > 0 && (size_t)n < size;
}
