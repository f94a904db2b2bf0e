/* log_sqlite.c — owns the SQLite back end of the prediction log (fw_store_log, store.h): batches go
 * into <home>/log.db (store/log_db.h: prediction_log, feedback, feedback_unmatched; a file of its
 * own so ingestion never holds the registry's write lock), one transaction per batch; predictions
 * with multi-row INSERTs prepared once (lengths bound, no strlen) and WAL checkpoints on a
 * checkpointer thread of the handle's own (so the writer never stalls on copying the WAL back and
 * its fdatasync: at 25-30k rows/s the inline checkpoints made the server's queue peak at 44-65k,
 * 4-9k without them) — except for a writer at SCHED_IDLE, which checkpoints inline; and retention (serving.log.retention) on a thread with its own connection. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/log_db.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    ROWS_PER_INSERT = 32,
    PRED_COLS = 9,
    CKPT_BYTES = 32 << 20,      /* ask the checkpointer once the WAL holds this much (8,192 pages of 4 KiB,
                                   2,048 of 16 KiB): a page written by several transactions in between
                                   (the random request-id index's leaves) is copied back once (SQLite's
                                   default, 1,000 pages: 3-4% more ingest CPU on 1 KB rows) */
    CKPT_INLINE_BYTES = 128 << 20, /* the writer checkpoints itself past this: the WAL stays bounded */
    BUSY_MS = FW_STORE_LOG_BUSY_MS,
};

typedef struct sqlite_log {
    fw_store_log base;
    sqlite3 *db;
    char wal_path[4200];         /* log.db-wal (lg_sync) */
    sqlite3_stmt *q_label;       /* does a request id have a label in force? */
    sqlite3_stmt *q_supersede;   /* mark its labels in force superseded */
    sqlite3_stmt *q_known;       /* is a request id in prediction_log? */
    sqlite3_stmt *q_has_pred;    /* is this prediction record stored? (spool recovery) */
    sqlite3_stmt *q_has_fb;      /* is this feedback record stored? */
    sqlite3_stmt *q_fb;          /* INSERT one feedback row */
    sqlite3_stmt *q_flag;        /* insert into feedback_unmatched */
    sqlite3_stmt *q_ins1;        /* INSERT one prediction_log row */
    sqlite3_stmt *q_insn;        /* INSERT ROWS_PER_INSERT rows */
    sqlite3_stmt *q_get_pred;    /* a request's first prediction by model and version, in one segment */
    sqlite3_stmt *q_segs;        /* min(id), max(id) of prediction_log: the segments to probe */
    /* the run index (log_db.h) */
    sqlite3_stmt *q_runs;        /* the built runs between two, ascending */
    sqlite3_stmt *q_run_seek;    /* one bucket of one run's entries */
    sqlite3_stmt *q_row_pred;    /* one row by id, checked against request, model and version */
    sqlite3_stmt *q_row_known;   /* one row by id, checked against the request id */
    sqlite3_stmt *q_seg_ids;     /* the request-id hashes and ids of one segment (building a run) */
    sqlite3_stmt *q_rid_of;      /* one row's request id (a row without its hash: written by hand) */
    sqlite3_stmt *q_run_ins;     /* one bucket of prediction_log_run */
    sqlite3_stmt *q_max_built;   /* the newest built run */
    int64_t *built;              /* q_runs' answer (a lookup's scratch) */
    size_t n_built, cap_built;
    /* the run this writer is building: segments read so far (then entries inserted) */
    int64_t build_run;           /* -1: none */
    int build_seg;
    struct run_entry { uint64_t h; int64_t id; } *build;
    size_t build_n, build_cap, build_done; /* build_done: entries written */
    uint8_t *blob;               /* one bucket's encoding */
    size_t blob_cap;
    int64_t idle_max_run;        /* every run below this was built when last looked (skip the search) */
    /* checkpointer: the writer's WAL hook asks, this thread runs PASSIVE checkpoints */
    sqlite3 *ckdb;
    pthread_t ckpt;
    bool ckpt_started, ck_stop, ck_pending;
    int ckpt_pages, ckpt_inline_pages; /* CKPT_BYTES and CKPT_INLINE_BYTES in the file's pages */
    pthread_mutex_t ckmu;
    pthread_cond_t ckcv;
} sqlite_log;

/* FW_EBUSY when another connection held the lock past the busy timeout or the disk is full (the
 * caller keeps the records and tries again later), FW_ECORRUPT when the file is damaged
 * (SQLITE_CORRUPT, SQLITE_NOTADB: the caller reopens it later), FW_ESTORE otherwise. */
static fw_status db_err(sqlite_log *s, fw_err *err, const char *what) {
    int code = sqlite3_errcode(s->db) & 0xff;
    fw_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_FULL ? FW_EBUSY
                   : code == SQLITE_CORRUPT || code == SQLITE_NOTADB                 ? FW_ECORRUPT
                                                                                     : FW_ESTORE;
    return fw_err_set(err, st, "prediction log: %s: %s", what, sqlite3_errmsg(s->db));
}

/* The writer connection's WAL hook (after each commit, on the committing thread), replacing SQLite's
 * auto-checkpoint. Past CKPT_BYTES it checkpoints inline when the committing thread runs at
 * SCHED_IDLE (the spool's ingest thread: the copy and its fdatasync then only take CPU no request
 * thread wants — at SCHED_BATCH on the checkpointer they took ~2.4% of the server's CPU during a
 * c=64 burst, competing with the request threads), and otherwise asks the checkpointer, so a
 * writer at normal priority (the catch-up thread, a log without a spool) never stalls on it. Why
 * not the checkpointer at SCHED_IDLE: a checkpoint holds SQLite's checkpoint lock, and a starved
 * idle thread holding it would make the writer's own checkpoints past CKPT_INLINE_BYTES fail
 * (SQLITE_BUSY) while the catch-up thread grows the WAL; the ingest thread's inline checkpoint
 * runs while it holds the spool's baton, like its transactions: no writer grows the WAL meanwhile. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages) {
    sqlite_log *s = ud;
    if (pages < s->ckpt_pages) return SQLITE_OK;
    bool idle = (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_IDLE; /* one syscall a commit past CKPT_BYTES */
    if (pages >= s->ckpt_inline_pages || !s->ckpt_started || idle) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else {
        pthread_mutex_lock(&s->ckmu);
        s->ck_pending = true;
        pthread_cond_signal(&s->ckcv);
        pthread_mutex_unlock(&s->ckmu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg) {
    sqlite_log *s = arg;
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

static void bind_row(sqlite3_stmt *st, int base, const fw_log_pred_row *r) {
    sqlite3_bind_text(st, base + 1, r->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 2, r->ts_ms);
    sqlite3_bind_text(st, base + 3, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 4, r->version);
    if (r->input_json) sqlite3_bind_text(st, base + 5, r->input_json, (int)r->input_len, SQLITE_STATIC);
    else sqlite3_bind_null(st, base + 5);
    sqlite3_bind_text(st, base + 6, r->output_json, (int)r->output_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 7, r->latency_us);
    sqlite3_bind_text(st, base + 8, r->outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 9, (sqlite3_int64)fw_log_db_rid_hash(r->request_id, strlen(r->request_id)));
}

static fw_status run_stmt(sqlite_log *s, sqlite3_stmt *st, const char *what, fw_err *err) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? FW_OK : db_err(s, err, what);
}

static fw_status unmark_reused(sqlite_log *s, int64_t first_id, fw_err *err);
static void run_step(sqlite_log *s);

/* One transaction: ROWS_PER_INSERT rows per statement, the rest one by one; then a step of the run
 * index's build (log_db.h) in a transaction of its own. The INSERTs are OR ROLLBACK: a failed one
 * ends the whole transaction (as the error path here does anyway), so SQLite keeps no statement
 * journal for them — with the default ABORT a multi-row INSERT journals every page it touches and
 * spilled that journal to a temp file past 64 KiB: ~600 pwrite calls to /var/tmp a batch
 * (tests/store/test_store_log test_sustained_ingest_no_temp_files). */
static fw_status lg_put_predictions(fw_store_log *b, const fw_log_pred_row *rows, size_t n, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, err, "starting a log transaction");
    fw_status st = FW_OK;
    size_t i = 0;
    for (; st == FW_OK && i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
        for (int k = 0; k < ROWS_PER_INSERT; k++) bind_row(s->q_insn, k * PRED_COLS, &rows[i + (size_t)k]);
        st = run_stmt(s, s->q_insn, "logging predictions", err);
    }
    for (; st == FW_OK && i < n; i++) {
        bind_row(s->q_ins1, 0, &rows[i]);
        st = run_stmt(s, s->q_ins1, "logging predictions", err);
    }
    /* the batch's ids are consecutive (one writer inside the transaction) and end at the last */
    if (st == FW_OK && n) st = unmark_reused(s, (int64_t)sqlite3_last_insert_rowid(s->db) - (int64_t)n + 1, err);
    if (st == FW_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = db_err(s, err, "committing the prediction log");
    if (st) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else run_step(s);
    return st;
}

/* The segments of prediction_log (log_db.h: the request-id index is keyed by id >> SEG_SHIFT
 * first): false when the table is empty. */
static bool seg_range(sqlite_log *s, int64_t *lo, int64_t *hi) {
    sqlite3_reset(s->q_segs);
    bool ok = sqlite3_step(s->q_segs) == SQLITE_ROW && sqlite3_column_type(s->q_segs, 0) != SQLITE_NULL;
    if (ok) {
        *lo = sqlite3_column_int64(s->q_segs, 0) >> FW_LOG_DB_SEG_SHIFT;
        *hi = sqlite3_column_int64(s->q_segs, 1) >> FW_LOG_DB_SEG_SHIFT;
    }
    sqlite3_reset(s->q_segs);
    return ok;
}

enum { RUN_SEGS_SHIFT = FW_LOG_DB_RUN_SHIFT - FW_LOG_DB_SEG_SHIFT };

/* The built runs from lo to hi into s->built (ascending); false on an error (then none). */
static bool load_built(sqlite_log *s, int64_t lo, int64_t hi) {
    s->n_built = 0;
    sqlite3_reset(s->q_runs);
    sqlite3_bind_int64(s->q_runs, 1, lo);
    sqlite3_bind_int64(s->q_runs, 2, hi);
    int rc;
    while ((rc = sqlite3_step(s->q_runs)) == SQLITE_ROW) {
        if (s->n_built == s->cap_built) {
            size_t cap = s->cap_built ? 2 * s->cap_built : 256;
            int64_t *b = fw_realloc(s->built, cap * sizeof *b);
            if (!b) break;
            s->built = b, s->cap_built = cap;
        }
        s->built[s->n_built++] = sqlite3_column_int64(s->q_runs, 0);
    }
    sqlite3_reset(s->q_runs);
    if (rc != SQLITE_DONE) s->n_built = 0; /* every segment probed: slower, never wrong */
    return rc == SQLITE_DONE;
}

static bool is_built(const sqlite_log *s, int64_t run) {
    size_t a = 0, b = s->n_built;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (s->built[m] < run) a = m + 1;
        else b = m;
    }
    return a < s->n_built && s->built[a] == run;
}

enum { BUCKETS = 1 << FW_LOG_DB_RUN_BUCKET_BITS, ENTRY_BYTES = 12 };

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++, v >>= 8) p[i] = (uint8_t)v;
}

/* The ids run holds under hash h (its bucket's entries: one rowid seek), ascending, each given to
 * check (a row by id: true when it is the one sought, with q's row then kept for the caller); true
 * when one was. */
static bool run_seek(sqlite_log *s, int64_t run, uint64_t h, sqlite3_stmt *q, const char *rid) {
    atomic_fetch_add_explicit(&fw_log_db_probes, 1, memory_order_relaxed);
    sqlite3_stmt *k = s->q_run_seek;
    sqlite3_reset(k);
    sqlite3_bind_int64(k, 1, run << FW_LOG_DB_RUN_BUCKET_BITS | (int64_t)(h >> (64 - FW_LOG_DB_RUN_BUCKET_BITS)));
    bool found = false;
    if (sqlite3_step(k) == SQLITE_ROW) {
        const uint8_t *e = sqlite3_column_blob(k, 0);
        size_t n = e ? (size_t)sqlite3_column_bytes(k, 0) / ENTRY_BYTES : 0;
        size_t a = 0, b = n; /* the first entry with hash >= h */
        while (a < b) {
            size_t m = a + (b - a) / 2;
            if (get_le(e + m * ENTRY_BYTES, 8) < h) a = m + 1;
            else b = m;
        }
        for (; !found && a < n && get_le(e + a * ENTRY_BYTES, 8) == h; a++) {
            sqlite3_reset(q);
            sqlite3_bind_int64(q, 1, (run << FW_LOG_DB_RUN_SHIFT) + (int64_t)get_le(e + a * ENTRY_BYTES + 8, 4));
            sqlite3_bind_text(q, 2, rid, -1, SQLITE_STATIC);
            found = sqlite3_step(q) == SQLITE_ROW;
        }
    }
    sqlite3_reset(k);
    return found;
}

/* True when prediction_log holds request_id (written by any process, any time): the newest
 * segment first (feedback mostly follows its prediction soon); a built run in one seek. */
static bool known_in_log(sqlite_log *s, const char *rid) {
    int64_t lo, hi;
    if (!seg_range(s, &lo, &hi)) return false;
    load_built(s, lo >> RUN_SEGS_SHIFT, hi >> RUN_SEGS_SHIFT);
    uint64_t h = fw_log_db_rid_hash(rid, strlen(rid));
    bool found = false;
    for (int64_t seg = hi; seg >= lo && !found;) {
        int64_t run = seg >> RUN_SEGS_SHIFT;
        if (is_built(s, run)) {
            found = run_seek(s, run, h, s->q_row_known, rid);
            sqlite3_reset(s->q_row_known);
            seg = (run << RUN_SEGS_SHIFT) - 1;
            continue;
        }
        atomic_fetch_add_explicit(&fw_log_db_probes, 1, memory_order_relaxed);
        sqlite3_reset(s->q_known);
        sqlite3_bind_text(s->q_known, 1, rid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->q_known, 2, seg);
        sqlite3_bind_int64(s->q_known, 3, (sqlite3_int64)h);
        found = sqlite3_step(s->q_known) == SQLITE_ROW;
        seg--;
    }
    sqlite3_reset(s->q_known);
    return found;
}

/* One feedback row under the label rule (store.h). */
static fw_status write_feedback(sqlite_log *s, const fw_log_feedback_row *r, fw_err *err) {
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
            fw_status st = run_stmt(s, s->q_supersede, "superseding a label", err);
            if (st) return st;
        }
    }
    sqlite3_bind_text(s->q_fb, 1, r->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->q_fb, 2, r->ts_ms);
    sqlite3_bind_text(s->q_fb, 3, r->label_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->q_fb, 4, r->event, -1, SQLITE_STATIC);
    if (isnan(r->value)) sqlite3_bind_null(s->q_fb, 5);
    else sqlite3_bind_double(s->q_fb, 5, r->value);
    sqlite3_bind_text(s->q_fb, 6, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->q_fb, 7, status, -1, SQLITE_STATIC);
    return run_stmt(s, s->q_fb, "storing feedback", err);
}

/* One transaction, the unmatched flags with their rows; matched is only set once it committed. */
static fw_status lg_put_feedback(fw_store_log *b, fw_log_feedback_row *rows, size_t n, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, err, "starting a feedback transaction");
    fw_status st = FW_OK;
    for (size_t i = 0; i < n && st == FW_OK; i++) {
        fw_log_feedback_row *r = &rows[i];
        if (!r->matched) r->matched = known_in_log(s, r->request_id);
        if ((st = write_feedback(s, r, err)) || r->matched) continue;
        sqlite3_bind_text(s->q_flag, 1, r->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->q_flag, 2, r->ts_ms);
        sqlite3_bind_text(s->q_flag, 3, r->label_json, -1, SQLITE_STATIC);
        st = run_stmt(s, s->q_flag, "flagging unmatched feedback", err);
    }
    if (st == FW_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = db_err(s, err, "committing feedback");
    if (st) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* A prediction is the same when request id, model, version and time match (a shadow record shares
 * its request's id, not its model version); feedback when request id, time and event match. */
static bool lg_has_prediction(fw_store_log *b, const char *rid, int64_t ts_ms, const char *model, int64_t version) {
    sqlite_log *s = (sqlite_log *)b;
    sqlite3_stmt *st = s->q_has_pred;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ts_ms);
    sqlite3_bind_text(st, 3, model ? model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, version);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

static bool lg_has_feedback(fw_store_log *b, const char *rid, int64_t ts_ms, const char *event) {
    sqlite_log *s = (sqlite_log *)b;
    sqlite3_stmt *st = s->q_has_fb;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ts_ms);
    if (event) sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

static char *col_text(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t) return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *c = fw_malloc(n + 1);
    if (c) {
        memcpy(c, t, n);
        c[n] = 0;
    }
    return c;
}

static fw_status lg_get_prediction(fw_store_log *b, const char *rid, const char *model, int64_t version,
                                   fw_log_pred_found *out, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    sqlite3_stmt *st = NULL;
    int64_t lo = 0, hi = -1;
    int rc = SQLITE_DONE;
    if (seg_range(s, &lo, &hi)) load_built(s, lo >> RUN_SEGS_SHIFT, hi >> RUN_SEGS_SHIFT);
    uint64_t h = fw_log_db_rid_hash(rid, strlen(rid));
    sqlite3_stmt *rp = s->q_row_pred;
    sqlite3_bind_text(rp, 3, model ? model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(rp, 4, version);
    /* the oldest segment first: the first match is the request's first row (ORDER BY id in one;
     * a built run's ids come ascending) */
    for (int64_t seg = lo; seg <= hi && rc == SQLITE_DONE;) {
        int64_t run = seg >> RUN_SEGS_SHIFT;
        if (is_built(s, run)) {
            if (run_seek(s, run, h, rp, rid)) rc = SQLITE_ROW, st = rp;
            seg = (run + 1) << RUN_SEGS_SHIFT;
            continue;
        }
        atomic_fetch_add_explicit(&fw_log_db_probes, 1, memory_order_relaxed);
        st = s->q_get_pred;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, model ? model : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, version);
        sqlite3_bind_int64(st, 4, seg);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)h);
        rc = sqlite3_step(st);
        seg++;
    }
    fw_status r = FW_OK;
    if (rc == SQLITE_ROW) {
        out->ts_ms = sqlite3_column_int64(st, 0);
        out->input_json = col_text(st, 1);
        out->output_json = col_text(st, 2);
        if ((sqlite3_column_type(st, 1) != SQLITE_NULL && !out->input_json) || !out->output_json) {
            fw_log_pred_found_free(out);
            r = fw_err_set(err, FW_ENOMEM, "out of memory reading a logged prediction");
        }
    } else if (rc == SQLITE_DONE) {
        r = fw_err_set(err, FW_ENOTFOUND, "no logged prediction of request %s by %s version %lld", rid,
                       model ? model : "", (long long)version);
    } else {
        r = db_err(s, err, "looking up a logged prediction");
    }
    sqlite3_reset(s->q_get_pred);
    sqlite3_clear_bindings(s->q_get_pred);
    sqlite3_reset(rp);
    sqlite3_clear_bindings(rp);
    return r;
}

/* ---- the run index (log_db.h): built by the writer, a step after each batch ---------------------- */

static void build_abandon(sqlite_log *s) {
    s->build_run = -1;
    s->build_seg = 0;
    s->build_n = s->build_done = 0;
    fw_free(s->build);
    s->build = NULL;
    s->build_cap = 0;
    fw_free(s->blob);
    s->blob = NULL;
    s->blob_cap = 0;
}

/* Inside the batch's transaction: rows whose ids fall into a built run (ids reused: the newest rows
 * were deleted) unmark that run and every later one, so a marked run never misses a row. One seek
 * when nothing is to do. */
static fw_status unmark_reused(sqlite_log *s, int64_t first_id, fw_err *err) {
    int64_t run = first_id >> FW_LOG_DB_RUN_SHIFT;
    if (s->build_run >= run) build_abandon(s);
    if (s->idle_max_run > run) s->idle_max_run = run;
    sqlite3_reset(s->q_max_built);
    bool reused = sqlite3_step(s->q_max_built) == SQLITE_ROW && sqlite3_column_type(s->q_max_built, 0) != SQLITE_NULL &&
                  sqlite3_column_int64(s->q_max_built, 0) >= run;
    sqlite3_reset(s->q_max_built);
    if (!reused) return FW_OK;
    char sql[200];
    snprintf(sql, sizeof sql, "DELETE FROM prediction_log_run_built WHERE run >= %lld;"
             " DELETE FROM prediction_log_run WHERE key >= %lld", (long long)run,
             (long long)(run << FW_LOG_DB_RUN_BUCKET_BITS));
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? FW_OK : db_err(s, err, "unmarking a reused run");
}

static int entry_cmp(const void *a, const void *b) {
    const struct run_entry *x = a, *y = b;
    return x->h != y->h ? (x->h < y->h ? -1 : 1) : (x->id > y->id) - (x->id < y->id);
}

/* Reads one segment's request-id hashes (the segment index, covering: ~16 pages) into the run's
 * entries. */
static bool build_read_segment(sqlite_log *s) {
    sqlite3_stmt *q = s->q_seg_ids;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (s->build_run << RUN_SEGS_SHIFT) + s->build_seg);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (s->build_n == s->build_cap) {
            size_t cap = s->build_cap ? 2 * s->build_cap : (size_t)1 << FW_LOG_DB_SEG_SHIFT;
            struct run_entry *e = fw_realloc(s->build, cap * sizeof *e);
            if (!e) break;
            s->build = e, s->build_cap = cap;
        }
        int64_t id = sqlite3_column_int64(q, 1);
        uint64_t h;
        if (sqlite3_column_type(q, 0) != SQLITE_NULL) {
            h = (uint64_t)sqlite3_column_int64(q, 0);
        } else { /* a row written without its hash (by hand): hashed from its request id */
            sqlite3_stmt *r = s->q_rid_of;
            sqlite3_bind_int64(r, 1, id);
            if (sqlite3_step(r) != SQLITE_ROW) {
                sqlite3_reset(r);
                rc = SQLITE_ERROR;
                break;
            }
            const char *rid = (const char *)sqlite3_column_text(r, 0);
            h = fw_log_db_rid_hash(rid ? rid : "", rid ? (size_t)sqlite3_column_bytes(r, 0) : 0);
            sqlite3_reset(r);
        }
        s->build[s->build_n++] = (struct run_entry){h, id};
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE;
}

/* Writes the next BUCKETS / 4 buckets (each a row: appends to the run's key range) in a
 * transaction; with the last ones, checks the run holds no row it missed and marks it built. */
static bool build_insert_chunk(sqlite_log *s) {
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return true; /* busy: next time */
    char sql[200];
    bool ok = true;
    int64_t key0 = s->build_run << FW_LOG_DB_RUN_BUCKET_BITS;
    if (s->build_done == 0) { /* buckets a build cut short left behind */
        snprintf(sql, sizeof sql, "DELETE FROM prediction_log_run WHERE key BETWEEN %lld AND %lld", (long long)key0,
                 (long long)(key0 + BUCKETS - 1));
        ok = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK;
    }
    size_t i = s->build_done;
    uint64_t b_end = i < s->build_n ? (s->build[i].h >> (64 - FW_LOG_DB_RUN_BUCKET_BITS)) + BUCKETS / 4 : BUCKETS;
    sqlite3_stmt *q = s->q_run_ins;
    while (ok && i < s->build_n) {
        uint64_t bucket = s->build[i].h >> (64 - FW_LOG_DB_RUN_BUCKET_BITS);
        if (bucket >= b_end) break;
        size_t j = i;
        while (j < s->build_n && s->build[j].h >> (64 - FW_LOG_DB_RUN_BUCKET_BITS) == bucket) j++;
        size_t bytes = (j - i) * ENTRY_BYTES;
        if (bytes > s->blob_cap) {
            uint8_t *nb = fw_realloc(s->blob, bytes);
            if (!nb) {
                ok = false;
                break;
            }
            s->blob = nb, s->blob_cap = bytes;
        }
        for (size_t k = i; k < j; k++) {
            put_le(s->blob + (k - i) * ENTRY_BYTES, s->build[k].h, 8);
            put_le(s->blob + (k - i) * ENTRY_BYTES + 8, (uint64_t)(s->build[k].id - (s->build_run << FW_LOG_DB_RUN_SHIFT)), 4);
        }
        sqlite3_bind_int64(q, 1, key0 + (int64_t)bucket);
        sqlite3_bind_blob(q, 2, s->blob, (int)bytes, SQLITE_STATIC);
        ok = sqlite3_step(q) == SQLITE_DONE;
        sqlite3_reset(q);
        i = j;
    }
    if (ok && i == s->build_n) {
        int64_t seg0 = s->build_run << RUN_SEGS_SHIFT;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM prediction_log INDEXED BY prediction_log_by_hash_seg"
                 " WHERE (id >> 14) BETWEEN %lld AND %lld", (long long)seg0,
                 (long long)(seg0 + (1 << RUN_SEGS_SHIFT) - 1));
        sqlite3_stmt *c = NULL;
        ok = sqlite3_prepare_v2(s->db, sql, -1, &c, NULL) == SQLITE_OK && sqlite3_step(c) == SQLITE_ROW &&
             sqlite3_column_int64(c, 0) <= (int64_t)s->build_n; /* fewer: rows retention deleted since */
        sqlite3_finalize(c);
        if (ok) {
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO prediction_log_run_built(run, n) VALUES(%lld, %zu)",
                     (long long)s->build_run, s->build_n);
            ok = sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK;
        }
    }
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        s->build_done = i;
        if (i == s->build_n) build_abandon(s); /* done: the buffers go */
        return true;
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

/* One step: choose the oldest complete run not built (the newest row is past it), read one of its
 * segments, or insert a chunk of its entries. A failed step drops the build (tried again later). */
static void run_step(sqlite_log *s) {
    if (s->build_run < 0) {
        int64_t lo, hi;
        if (!seg_range(s, &lo, &hi)) return;
        int64_t last = hi >> RUN_SEGS_SHIFT; /* the newest run is not complete */
        if (last <= s->idle_max_run) return;
        int64_t r = lo >> RUN_SEGS_SHIFT;
        if (r < s->idle_max_run) r = s->idle_max_run; /* built when last looked (unmark_reused lowers it) */
        if (!load_built(s, r, last - 1)) return;
        for (size_t i = 0; i < s->n_built && s->built[i] == r; i++) r++;
        if (r >= last) {
            s->idle_max_run = last;
            return;
        }
        s->build_run = r;
        s->build_seg = 0;
        s->build_n = s->build_done = 0;
    }
    bool ok;
    if (s->build_seg < (1 << RUN_SEGS_SHIFT)) {
        ok = build_read_segment(s);
        if (ok && ++s->build_seg == (1 << RUN_SEGS_SHIFT))
            qsort(s->build, s->build_n, sizeof *s->build, entry_cmp);
    } else {
        ok = build_insert_chunk(s);
    }
    if (!ok) build_abandon(s);
}

/* PRAGMA page_size of a connection's main file (4096 when it cannot be read). */
static size_t page_size_of(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    int64_t page = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        page = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return page > 0 ? (size_t)page : 4096;
}

/* PRAGMA cache_size of a connection in bytes (negative values are KiB, positive pages); 0 on error. */
static size_t cache_bytes_of(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA cache_size", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v < 0 ? (size_t)(-v) * 1024 : (size_t)v * page_size_of(db);
}

/* Bounds a connection's page cache: bytes, as KiB (PRAGMA cache_size = -KiB). */
static bool set_cache(sqlite3 *db, size_t bytes) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%zu", (bytes + 1023) / 1024);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static void lg_busy_ms(fw_store_log *b, int ms) { sqlite3_busy_timeout(((sqlite_log *)b)->db, ms); }

/* fdatasync of log.db-wal through a descriptor opened here (the connection's own is SQLite's, and
 * the connection may be writing on another thread meanwhile). No WAL file: nothing uncheckpointed
 * (a checkpoint syncs the database file before it restarts the WAL). */
static fw_status lg_sync(fw_store_log *b, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    int fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? FW_OK : fw_err_set(err, FW_EIO, "opening %s: %s", s->wal_path, strerror(errno));
    fw_status st = fdatasync(fd) == 0 ? FW_OK : fw_err_set(err, FW_EIO, "syncing %s: %s", s->wal_path, strerror(errno));
    close(fd);
    return st;
}

static fw_status lg_cache(fw_store_log *b, size_t *writer, size_t *checkpointer, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    (void)err;
    *writer = cache_bytes_of(s->db);
    *checkpointer = s->ckdb ? cache_bytes_of(s->ckdb) : 0;
    return FW_OK;
}

/* Stops the checkpointer and closes both connections. */
static void lg_close(fw_store_log *b) {
    sqlite_log *s = (sqlite_log *)b;
    if (!s) return;
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckmu);
        s->ck_stop = true;
        pthread_cond_signal(&s->ckcv);
        pthread_mutex_unlock(&s->ckmu);
        pthread_join(s->ckpt, NULL);
    }
    if (s->ckdb) sqlite3_close(s->ckdb);
    sqlite3_stmt *sts[] = {s->q_known, s->q_has_pred, s->q_has_fb, s->q_fb,     s->q_flag,
                           s->q_ins1,  s->q_insn,     s->q_label,  s->q_supersede, s->q_get_pred, s->q_segs,
                           s->q_runs,  s->q_run_seek, s->q_row_pred, s->q_row_known, s->q_seg_ids, s->q_run_ins,
                           s->q_max_built, s->q_rid_of};
    for (size_t i = 0; i < sizeof sts / sizeof *sts; i++) sqlite3_finalize(sts[i]);
    if (s->db) sqlite3_close(s->db);
    pthread_mutex_destroy(&s->ckmu);
    pthread_cond_destroy(&s->ckcv);
    fw_free(s->built);
    fw_free(s->build);
    fw_free(s->blob);
    fw_free(s);
}

/* ---- experiments (issue 19) ------------------------------------------------------------------ */

/* The predictions of a model that are exposures of its experiment, with their unit and variant. */
#define EXP_UNIT "COALESCE(NULLIF(json_extract(%s.output_json, '$.entity_id'), ''), %s.request_id)"
#define EXP_VARIANT "json_extract(%s.output_json, '$.variant')"

static fw_status exp_rows_of(sqlite_log *s, const char *sql, const char *model, const char *slice_path, bool events,
                             fw_log_exp_fn fn, void *ud, fw_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return db_err(s, err, "reading an experiment");
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    if (slice_path) sqlite3_bind_text(st, 2, slice_path, -1, SQLITE_STATIC);
    fw_status r = FW_OK;
    int rc;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fw_log_exp_row row = {0};
        row.ts_ms = sqlite3_column_int64(st, 0);
        row.unit = (const char *)sqlite3_column_text(st, 1);
        row.unit_len = (size_t)sqlite3_column_bytes(st, 1);
        row.variant = (const char *)sqlite3_column_text(st, 2);
        row.variant_len = (size_t)sqlite3_column_bytes(st, 2);
        row.value = NAN;
        if (events) {
            row.event = (const char *)sqlite3_column_text(st, 3);
            row.event_len = (size_t)sqlite3_column_bytes(st, 3);
            if (sqlite3_column_type(st, 4) != SQLITE_NULL) row.value = sqlite3_column_double(st, 4);
        } else if (slice_path && sqlite3_column_type(st, 3) != SQLITE_NULL) {
            row.slice = (const char *)sqlite3_column_text(st, 3);
            row.slice_len = (size_t)sqlite3_column_bytes(st, 3);
        }
        if (!row.unit || !row.variant || (events && !row.event)) continue;
        r = fn(ud, &row, err);
    }
    if (!r && rc != SQLITE_DONE) r = db_err(s, err, "reading an experiment");
    sqlite3_finalize(st);
    return r;
}

static fw_status lg_experiment_rows(fw_store_log *b, const char *model, const char *slice_feature, fw_log_exp_fn fn,
                                    void *ud, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    char sql[1400], path[300];
    if (slice_feature) {
        if (strlen(slice_feature) > 200 || strpbrk(slice_feature, "\"\\"))
            return fw_err_set(err, FW_EINVAL, "slice feature '%.200s': at most 200 characters, no '\"' or '\\'", slice_feature);
        snprintf(path, sizeof path, "$.instances[0].\"%s\"", slice_feature);
    }
    /* the slice from the logged input (an input that is not JSON has none) */
    snprintf(sql, sizeof sql,
             "SELECT ts_ms, " EXP_UNIT ", " EXP_VARIANT "%s FROM prediction_log p WHERE model_name = ?1 AND "
             EXP_VARIANT " IN ('primary', 'challenger')",
             "p", "p", "p", slice_feature ? ", CASE WHEN json_valid(p.input_json) THEN json_extract(p.input_json, ?2) END" : "",
             "p");
    fw_status r = exp_rows_of(s, sql, model, slice_feature ? path : NULL, false, fn, ud, err);
    if (r) return r;
    /* each event joins the request's first exposure (a shadow's record shares the request id) */
    snprintf(sql, sizeof sql,
             "SELECT f.ts_ms, " EXP_UNIT ", " EXP_VARIANT ", f.event, f.value FROM feedback f JOIN prediction_log p"
             " ON p.id = (SELECT min(q.id) FROM prediction_log q WHERE q.request_id = f.request_id AND"
             " q.model_name = ?1 AND " EXP_VARIANT " IN ('primary', 'challenger')) WHERE f.event IS NOT NULL",
             "p", "p", "p", "q");
    return exp_rows_of(s, sql, model, NULL, true, fn, ud, err);
}

/* The champion's records of the model and the shadow records, each materialised once (SQLite
 * indexes a materialised CTE for the join automatically: no request-id index needed, log_db.h),
 * joined by request id; the label in force of each request (the last counting one) likewise. */
static const char SHADOW_SQL[] =
    "WITH pr AS MATERIALIZED (SELECT request_id, MIN(id) AS id, ts_ms, json_extract(output_json, '$.answers') AS a,"
    "   json_extract(output_json, '$.outputs') AS o FROM prediction_log"
    "   WHERE model_name = ?1 AND json_extract(output_json, '$.variant') = 'primary' GROUP BY request_id),"
    " sh AS MATERIALIZED (SELECT request_id, MIN(id) AS id, model_name, version, json_extract(output_json, '$.answers') AS a,"
    "   json_extract(output_json, '$.outputs') AS o FROM prediction_log"
    "   WHERE json_extract(output_json, '$.variant') = 'shadow' GROUP BY request_id),"
    " lb AS MATERIALIZED (SELECT request_id, label_json, MAX(id) FROM feedback"
    "   WHERE label_json IS NOT NULL AND status IS NULL GROUP BY request_id)"
    " SELECT pr.request_id, pr.ts_ms, sh.model_name, sh.version, pr.a, pr.o, sh.a, sh.o, lb.label_json"
    " FROM pr JOIN sh ON sh.request_id = pr.request_id LEFT JOIN lb ON lb.request_id = pr.request_id";

static const char *sh_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

static fw_status lg_shadow_rows(fw_store_log *b, const char *model, fw_log_shadow_fn fn, void *ud, fw_err *err) {
    sqlite_log *s = (sqlite_log *)b;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, SHADOW_SQL, -1, &st, NULL) != SQLITE_OK) return db_err(s, err, "reading shadow answers");
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    fw_status r = FW_OK;
    int rc;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fw_log_shadow_row row = {
            .request_id = sh_text(st, 0),
            .ts_ms = sqlite3_column_int64(st, 1),
            .shadow_model = sh_text(st, 2),
            .shadow_version = sqlite3_column_int64(st, 3),
            .answers = sh_text(st, 4),
            .outputs = sh_text(st, 5),
            .shadow_answers = sh_text(st, 6),
            .shadow_outputs = sh_text(st, 7),
            .label_json = sh_text(st, 8),
        };
        if (!row.request_id || !row.shadow_model || !row.answers || !row.outputs || !row.shadow_answers ||
            !row.shadow_outputs)
            continue;
        r = fn(ud, &row, err);
    }
    if (!r && rc != SQLITE_DONE) r = db_err(s, err, "reading shadow answers");
    sqlite3_finalize(st);
    return r;
}

static const fw_store_log_ops sqlite_log_ops = {
    .close = lg_close,
    .put_predictions = lg_put_predictions,
    .put_feedback = lg_put_feedback,
    .has_prediction = lg_has_prediction,
    .has_feedback = lg_has_feedback,
    .get_prediction = lg_get_prediction,
    .cache = lg_cache,
    .busy_ms = lg_busy_ms,
    .sync = lg_sync,
    .experiment_rows = lg_experiment_rows, /* issue 19 */
    .shadow_rows = lg_shadow_rows,
};

/* Opens log.db, prepares the statements and starts the checkpointer. */
fw_status fw__sqlite_log_open(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err) {
    *out = NULL;
    sqlite_log *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->base.ops = &sqlite_log_ops;
    s->build_run = -1;
    pthread_mutex_init(&s->ckmu, NULL);
    pthread_cond_init(&s->ckcv, NULL);
    fw_status st = fw_log_db_open(home, BUSY_MS, &s->db, err);
    if (st) {
        lg_close(&s->base);
        return st;
    }
    const char *path = sqlite3_db_filename(s->db, "main");
    snprintf(s->wal_path, sizeof s->wal_path, "%s-wal", path);
    set_cache(s->db, cache_bytes);
    size_t page = page_size_of(s->db);
    s->ckpt_pages = (int)(CKPT_BYTES / page);
    s->ckpt_inline_pages = (int)(CKPT_INLINE_BYTES / page);
    static const char INS[] = "INSERT OR ROLLBACK INTO prediction_log(request_id, ts_ms, model_name, version, input_json,"
                              " output_json, latency_us, outcome, rid_hash) VALUES(?,?,?,?,?,?,?,?,?)";
    fw_buf ins;
    fw_buf_init(&ins);
    fw_buf_put(&ins, INS, sizeof INS - 1);
    for (int k = 1; k < ROWS_PER_INSERT; k++) fw_buf_put(&ins, ",(?,?,?,?,?,?,?,?,?)", 20);
    fw_buf_put_u8(&ins, 0);
    bool ins_ok = fw_buf_ok(&ins) &&
                  sqlite3_prepare_v3(s->db, (const char *)ins.data, -1, SQLITE_PREPARE_PERSISTENT, &s->q_insn,
                                     NULL) == SQLITE_OK &&
                  sqlite3_prepare_v3(s->db, INS, -1, SQLITE_PREPARE_PERSISTENT, &s->q_ins1, NULL) == SQLITE_OK;
    fw_buf_free(&ins);
    if (!ins_ok ||
        sqlite3_prepare_v2(s->db, "INSERT INTO feedback(request_id, ts_ms, label_json, event, value, source, status)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &s->q_fb, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM prediction_log INDEXED BY prediction_log_by_hash_seg"
                           " WHERE (id >> 14) = ?2 AND rid_hash = ?3 AND request_id = ?1"
                           " UNION ALL SELECT 1 FROM prediction_log INDEXED BY prediction_log_by_hash_seg"
                           " WHERE (id >> 14) = ?2 AND rid_hash IS NULL AND request_id = ?1 LIMIT 1",
                           -1, &s->q_known, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT min(id) FROM prediction_log), (SELECT max(id) FROM prediction_log)", -1,
                           &s->q_segs, NULL) != SQLITE_OK ||
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
                           -1, &s->q_supersede, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT ts_ms, input_json, output_json FROM (SELECT id, ts_ms, input_json, output_json"
                           " FROM prediction_log INDEXED BY prediction_log_by_hash_seg WHERE (id >> 14) = ?4"
                           " AND rid_hash = ?5 AND request_id = ?1 AND model_name = ?2 AND version = ?3"
                           " UNION ALL SELECT id, ts_ms, input_json, output_json"
                           " FROM prediction_log INDEXED BY prediction_log_by_hash_seg WHERE (id >> 14) = ?4"
                           " AND rid_hash IS NULL AND request_id = ?1 AND model_name = ?2 AND version = ?3)"
                           " ORDER BY id LIMIT 1",
                           -1, &s->q_get_pred, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT run FROM prediction_log_run_built WHERE run BETWEEN ?1 AND ?2 ORDER BY run",
                           -1, &s->q_runs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT entries FROM prediction_log_run WHERE key = ?1", -1,
                           &s->q_run_seek, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT ts_ms, input_json, output_json FROM prediction_log WHERE id = ?1 AND request_id = ?2"
                           " AND model_name = ?3 AND version = ?4",
                           -1, &s->q_row_pred, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM prediction_log WHERE id = ?1 AND request_id = ?2", -1,
                           &s->q_row_known, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT rid_hash, id FROM prediction_log INDEXED BY prediction_log_by_hash_seg"
                           " WHERE (id >> 14) = ?1",
                           -1, &s->q_seg_ids, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT request_id FROM prediction_log WHERE id = ?1", -1, &s->q_rid_of, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO prediction_log_run(key, entries) VALUES(?1, ?2)", -1, &s->q_run_ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT max(run) FROM prediction_log_run_built", -1, &s->q_max_built, NULL) !=
            SQLITE_OK) {
        st = db_err(s, err, path);
        if (st == FW_EBUSY) st = FW_ECORRUPT;
        lg_close(&s->base);
        return st;
    }
    /* the checkpointer (without it, the hook checkpoints inline like SQLite's auto-checkpoint) */
    if (sqlite3_open_v2(path, &s->ckdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
        set_cache(s->ckdb, FW_STORE_LOG_AUX_CACHE_BYTES) && pthread_create(&s->ckpt, NULL, ckpt_main, s) == 0)
        s->ckpt_started = true;
    sqlite3_wal_hook(s->db, wal_hook, s);
    *out = &s->base;
    return FW_OK;
}

/* ---- retention ------------------------------------------------------------------------------ */
typedef struct sqlite_retention {
    fw_store_log_retention base;
    char *home;
    fw_log_retention ret;
    _Atomic(unsigned long long) *deleted;
    pthread_t thread;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sqlite_retention;

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

static bool retention_stopping(sqlite_retention *s, long wait_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    if (!s->stop && wait_ms > 0) pthread_cond_timedwait(&s->cv, &s->mu, &dl);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* One pass: each bound in turn, a chunk per transaction (autocommit), pausing between chunks so
 * the ingester gets the write lock; then the freed pages go back to the file system. */
static void retention_pass(sqlite_retention *s, sqlite3 *db) {
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
            if (s->deleted) atomic_fetch_add(s->deleted, (unsigned long long)n);
            if (retention_stopping(s, 5)) return; /* the ingester's turn */
        }
    }
    /* the run index (log_db.h) of runs whose rows are all gone: marks first, then entries a run at a time */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT coalesce(min(id), 9223372036854775807) >> %d FROM prediction_log",
             FW_LOG_DB_RUN_SHIFT);
    int64_t below = q_int(db, sql);
    snprintf(sql, sizeof sql, "DELETE FROM prediction_log_run_built WHERE run < %lld", (long long)below);
    if (below >= 0 && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK && !retention_stopping(s, 0)) {
        snprintf(sql, sizeof sql, "DELETE FROM prediction_log_run WHERE key < %lld",
                 (long long)(below < (INT64_MAX >> FW_LOG_DB_RUN_BUCKET_BITS) ? below << FW_LOG_DB_RUN_BUCKET_BITS
                                                                              : INT64_MAX));
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    /* give the free pages back, ~8 MB a transaction (2,000 pages of 4 KiB; a no-op without
     * auto_vacuum=INCREMENTAL) */
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld)", (long long)(page > 0 ? (8192000 + page - 1) / page : 2000));
    while (q_int(db, "PRAGMA freelist_count") > 0 && !retention_stopping(s, 0)) {
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) break;
        if (q_int(db, "PRAGMA auto_vacuum") != 2) break;
        if (retention_stopping(s, 5)) return;
    }
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void *retention_main(void *arg) {
    sqlite_retention *s = arg;
    pthread_setname_np(pthread_self(), "fw-log-retain");
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    long every_ms = (long)((s->ret.interval_s > 0 ? s->ret.interval_s : 10.0) * 1000);
    sqlite3 *db = NULL;
    do {
        if (!db) {
            fw_err e;
            if (fw_log_db_open(s->home, BUSY_MS, &db, &e) != FW_OK) db = NULL;
            else set_cache(db, FW_STORE_LOG_AUX_CACHE_BYTES * 8); /* deletes walk the indexes */
        }
        if (db) retention_pass(s, db);
    } while (!retention_stopping(s, every_ms));
    if (db) sqlite3_close(db);
    return NULL;
}

static void retention_stop(fw_store_log_retention *b) {
    sqlite_retention *s = (sqlite_retention *)b;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    fw_free(s->home);
    fw_free(s);
}

fw_store_log_retention *fw__sqlite_retention_start(const char *home, const fw_log_retention *r,
                                                   _Atomic(unsigned long long) *deleted) {
    sqlite_retention *s = fw_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!(s->home = fw_strdup(home))) {
        fw_free(s);
        return NULL;
    }
    s->base.stop = retention_stop;
    s->ret = *r;
    s->deleted = deleted;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, retention_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        fw_free(s->home);
        fw_free(s);
        return NULL;
    }
    return &s->base;
}

/* ---- memory --------------------------------------------------------------------------------- */
void fw_store_memory(uint64_t *now, uint64_t *peak) {
    sqlite3_int64 cur = 0, hi = 0;
    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0);
    *now = (uint64_t)cur;
    *peak = (uint64_t)hi;
}
