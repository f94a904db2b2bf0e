/* log_store.c — owns the prediction log's store sink: the writer thread's batches go into the
 * store's prediction_log and feedback tables (store/store.h) through its own store handle, one
 * transaction per batch; feedback whose request id is unknown is kept anyway and also listed in
 * the serve-owned table feedback_unmatched (created here on first use) so it is never lost and a
 * later join can tell it apart. */
#include "serve/logq.h"

#include "core/alloc.h"
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct store_sink {
    fw_store *store;
    sqlite3 *db;                 /* our own connection to <home>/flywheel.db: lookups + feedback_unmatched */
    sqlite3_stmt *q_known;       /* is a request id in prediction_log? */
    sqlite3_stmt *q_flag;        /* insert into feedback_unmatched */
    fw_buf out;                  /* output_json scratch */
    fw_prediction_log_rec *recs; /* one batch */
    size_t cap;
    char **texts;                /* output texts of the batch (owned) */
    _Atomic(unsigned long long) *matched, *unmatched;
} store_sink;

static const char *UNMATCHED_SQL =
    "CREATE TABLE IF NOT EXISTS feedback_unmatched(\n"
    "  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, label_json TEXT);\n"
    "CREATE INDEX IF NOT EXISTS feedback_unmatched_by_request ON feedback_unmatched(request_id);\n";

static fw_status db_err(store_sink *s, fw_err *err, const char *what) {
    return fw_err_set(err, FW_ESTORE, "prediction log: %s: %s", what, sqlite3_errmsg(s->db));
}

/* True when prediction_log holds request_id (written by any process, any time). */
static bool known_in_store(store_sink *s, const char *rid) {
    sqlite3_reset(s->q_known);
    sqlite3_bind_text(s->q_known, 1, rid, -1, SQLITE_STATIC);
    bool found = sqlite3_step(s->q_known) == SQLITE_ROW;
    sqlite3_reset(s->q_known);
    return found;
}

static fw_status write_predictions(store_sink *s, fw_log_record *const *recs, size_t n, fw_err *err) {
    if (!n) return FW_OK;
    if (n > s->cap) {
        fw_prediction_log_rec *nr = fw_realloc(s->recs, n * sizeof *nr);
        char **nt = fw_realloc(s->texts, n * sizeof *nt);
        if (nr) s->recs = nr;
        if (nt) s->texts = nt;
        if (!nr || !nt) return fw_err_set(err, FW_ENOMEM, "out of memory");
        s->cap = n;
    }
    fw_status st = FW_OK;
    size_t made = 0;
    for (; made < n; made++) {
        const fw_log_record *r = recs[made];
        s->out.len = 0;
        fw_log_record_outputs_json(r, &s->out);
        fw_buf_put_u8(&s->out, 0);
        if (!fw_buf_ok(&s->out) || !(s->texts[made] = fw_strdup((const char *)s->out.data))) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            break;
        }
        s->recs[made] = (fw_prediction_log_rec){
            .request_id = r->request_id,
            .ts_ms = r->ts_ms,
            .name = r->model,
            .version = strtoll(r->version ? r->version : "0", NULL, 10),
            .input_json = r->inputs,
            .output_json = s->texts[made],
            .latency_us = r->latency_us,
            .outcome = r->outcome,
        };
    }
    if (st == FW_OK) st = s->store->ops->prediction_log_insert(s->store, s->recs, n, err);
    for (size_t i = 0; i < made; i++) fw_free(s->texts[i]);
    return st;
}

static fw_status sink_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    store_sink *s = ud;
    /* predictions first (one transaction), so feedback in the same batch finds its request */
    size_t np = 0;
    fw_log_record **preds = fw_malloc((n ? n : 1) * sizeof *preds);
    if (!preds) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FW_LOGREC_PREDICTION) preds[np++] = recs[i];
    fw_status st = write_predictions(s, preds, np, err);
    fw_free(preds);
    if (st || np == n) return st;
    /* feedback: one transaction over the store's tables ... */
    if ((st = fw_store_begin(s->store, true, err))) return st;
    for (size_t i = 0; i < n && st == FW_OK; i++) {
        fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_FEEDBACK) continue;
        if (!r->matched) r->matched = known_in_store(s, r->request_id);
        fw_feedback_rec fb = {r->request_id, r->ts_ms, r->label_json, r->event, r->value};
        st = s->store->ops->feedback_insert(s->store, &fb, err);
    }
    if (st) {
        fw_store_rollback(s->store);
        return st;
    }
    if ((st = fw_store_commit(s->store, err))) return st;
    /* ... then the unmatched flags (our table; a failure here loses only the flag) */
    bool tx = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; i < n; i++) {
        fw_log_record *r = recs[i];
        if (r->kind != FW_LOGREC_FEEDBACK) continue;
        if (r->matched) {
            if (s->matched) atomic_fetch_add(s->matched, 1);
            continue;
        }
        if (s->unmatched) atomic_fetch_add(s->unmatched, 1);
        sqlite3_reset(s->q_flag);
        sqlite3_bind_text(s->q_flag, 1, r->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->q_flag, 2, r->ts_ms);
        sqlite3_bind_text(s->q_flag, 3, r->label_json, -1, SQLITE_STATIC);
        if (sqlite3_step(s->q_flag) != SQLITE_DONE && st == FW_OK) st = db_err(s, err, "flagging unmatched feedback");
        sqlite3_reset(s->q_flag);
    }
    if (tx && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (st == FW_OK) st = db_err(s, err, "committing unmatched feedback flags");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return st;
}

static void sink_close(void *ud) {
    store_sink *s = ud;
    if (!s) return;
    sqlite3_finalize(s->q_known);
    sqlite3_finalize(s->q_flag);
    if (s->db) sqlite3_close(s->db);
    if (s->store) fw_store_close(s->store);
    fw_buf_free(&s->out);
    fw_free(s->recs);
    fw_free(s->texts);
    fw_free(s);
}

fw_status fw_log_sink_store(const char *home, _Atomic(unsigned long long) *matched,
                            _Atomic(unsigned long long) *unmatched, fw_log_sink *out, fw_err *err) {
    store_sink *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_buf_init(&s->out);
    s->matched = matched;
    s->unmatched = unmatched;
    fw_status st = fw_store_open(home, &s->store, err);
    if (st) {
        sink_close(s);
        return st;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/flywheel.db", s->store->home);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        st = fw_err_set(err, FW_ESTORE, "prediction log: cannot open %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sink_close(s);
        return st;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, UNMATCHED_SQL, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM prediction_log WHERE request_id = ?1 LIMIT 1", -1, &s->q_known,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO feedback_unmatched(request_id, ts_ms, label_json) VALUES(?1, ?2, ?3)",
                           -1, &s->q_flag, NULL) != SQLITE_OK) {
        st = db_err(s, err, path);
        sink_close(s);
        return st;
    }
    *out = (fw_log_sink){s, sink_write, sink_close};
    return FW_OK;
}
