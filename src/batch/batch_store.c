/* batch_store.c — owns the batch_jobs and batch_answers tables in <home>/flywheel.db (SQLite). */
#include "batch/batch_store.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct fw_batch_db {
    sqlite3 *db;
    sqlite3_stmt *put;
    sqlite3_stmt *get;       /* lookup, prepared on first use */
    char path[1100];
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS batch_jobs(\n"
    "  id INTEGER PRIMARY KEY, job TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,\n"
    "  input TEXT, output TEXT, started_ms INTEGER NOT NULL, ended_ms INTEGER,\n"
    "  rows_read INTEGER, rows_scored INTEGER, rows_rejected INTEGER, rows_written INTEGER,\n"
    "  outcome TEXT NOT NULL, exit_code INTEGER, attempts INTEGER, message TEXT);\n"
    "CREATE INDEX IF NOT EXISTS batch_jobs_by_job ON batch_jobs(job, id);\n"
    "CREATE TABLE IF NOT EXISTS batch_answers(\n"
    "  model TEXT NOT NULL, entity_id TEXT NOT NULL, version TEXT NOT NULL, prediction TEXT,\n"
    "  scores_json TEXT, scored_ms INTEGER NOT NULL, run_id INTEGER,\n"
    "  PRIMARY KEY(model, entity_id)) WITHOUT ROWID;\n";

static fw_status dberr(fw_batch_db *db, fw_err *err, const char *what) {
    return fw_err_set(err, FW_ESTORE, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->db));
}

void fw_batch_db_close(fw_batch_db *db) {
    if (!db) return;
    sqlite3_finalize(db->put);
    sqlite3_finalize(db->get);
    sqlite3_close(db->db);
    fw_free(db);
}

fw_status fw_batch_db_open(const char *home, fw_batch_db **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    mkdir(home, 0755);
    fw_batch_db *db = fw_calloc(1, sizeof *db);
    if (!db) return fw_err_set(err, FW_ENOMEM, "out of memory");
    snprintf(db->path, sizeof db->path, "%s/flywheel.db", home);
    if (sqlite3_open_v2(db->path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        fw_status st = fw_err_set(err, FW_EIO, "cannot open %s: %s", db->path,
                                  db->db ? sqlite3_errmsg(db->db) : "out of memory");
        fw_batch_db_close(db);
        return st;
    }
    sqlite3_busy_timeout(db->db, 30000);
    if (sqlite3_exec(db->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        fw_status st = dberr(db, err, "creating the batch tables");
        fw_batch_db_close(db);
        return st;
    }
    *out = db;
    return FW_OK;
}

static void bind_rec(sqlite3_stmt *s, const fw_batch_run_rec *r) {
    sqlite3_bind_text(s, 1, r->job, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->input, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, r->output, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, r->started_ms);
    if (r->ended_ms) sqlite3_bind_int64(s, 7, r->ended_ms);
    else sqlite3_bind_null(s, 7);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)r->rows_read);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)r->rows_scored);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)r->rows_rejected);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)r->rows_written);
    sqlite3_bind_text(s, 12, r->outcome, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 13, r->exit_code);
    sqlite3_bind_int(s, 14, r->attempts);
    sqlite3_bind_text(s, 15, r->message, -1, SQLITE_TRANSIENT);
}

fw_status fw_batch_db_run_begin(fw_batch_db *db, fw_batch_run_rec *r, fw_err *err) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO batch_jobs(job, model, version, input, output, started_ms, ended_ms,"
                           " rows_read, rows_scored, rows_rejected, rows_written, outcome, exit_code, attempts,"
                           " message) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                           -1, &s, NULL) != SQLITE_OK)
        return dberr(db, err, "recording the run");
    bind_rec(s, r);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return dberr(db, err, "recording the run");
    r->run_id = sqlite3_last_insert_rowid(db->db);
    return FW_OK;
}

fw_status fw_batch_db_run_update(fw_batch_db *db, const fw_batch_run_rec *r, fw_err *err) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "UPDATE batch_jobs SET job=?1, model=?2, version=?3, input=?4, output=?5,"
                           " started_ms=?6, ended_ms=?7, rows_read=?8, rows_scored=?9, rows_rejected=?10,"
                           " rows_written=?11, outcome=?12, exit_code=?13, attempts=?14, message=?15"
                           " WHERE id=?16",
                           -1, &s, NULL) != SQLITE_OK)
        return dberr(db, err, "updating the run");
    bind_rec(s, r);
    sqlite3_bind_int64(s, 16, r->run_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return dberr(db, err, "updating the run");
    return FW_OK;
}

static void col_text(sqlite3_stmt *s, int i, char *out, size_t cap) {
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

fw_status fw_batch_db_history(fw_batch_db *db, const char *filter, size_t limit,
                              fw_batch_run_rec **out, size_t *n, fw_err *err) {
    *out = NULL;
    *n = 0;
    if (!limit) limit = 50;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT id, job, model, version, input, output, started_ms, ended_ms, rows_read,"
                           " rows_scored, rows_rejected, rows_written, outcome, exit_code, attempts, message"
                           " FROM batch_jobs WHERE ?1 IS NULL OR job = ?1 OR model = ?1 ORDER BY id DESC LIMIT ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return dberr(db, err, "reading the history");
    if (filter) sqlite3_bind_text(s, 1, filter, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    fw_batch_run_rec *v = NULL;
    size_t cap = 0, k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (FW_GROW(&v, &cap, k + 1)) {
            sqlite3_finalize(s);
            fw_free(v);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        fw_batch_run_rec *r = &v[k++];
        memset(r, 0, sizeof *r);
        r->run_id = sqlite3_column_int64(s, 0);
        col_text(s, 1, r->job, sizeof r->job);
        col_text(s, 2, r->model, sizeof r->model);
        col_text(s, 3, r->version, sizeof r->version);
        col_text(s, 4, r->input, sizeof r->input);
        col_text(s, 5, r->output, sizeof r->output);
        r->started_ms = sqlite3_column_int64(s, 6);
        r->ended_ms = sqlite3_column_int64(s, 7);
        r->rows_read = (uint64_t)sqlite3_column_int64(s, 8);
        r->rows_scored = (uint64_t)sqlite3_column_int64(s, 9);
        r->rows_rejected = (uint64_t)sqlite3_column_int64(s, 10);
        r->rows_written = (uint64_t)sqlite3_column_int64(s, 11);
        col_text(s, 12, r->outcome, sizeof r->outcome);
        r->exit_code = sqlite3_column_int(s, 13);
        r->attempts = sqlite3_column_int(s, 14);
        col_text(s, 15, r->message, sizeof r->message);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        fw_free(v);
        return dberr(db, err, "reading the history");
    }
    *out = v;
    *n = k;
    return FW_OK;
}

fw_status fw_batch_db_begin(fw_batch_db *db, fw_err *err) {
    if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(db, err, "begin");
    return FW_OK;
}

fw_status fw_batch_db_commit(fw_batch_db *db, fw_err *err) {
    if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return dberr(db, err, "commit");
    return FW_OK;
}

fw_status fw_batch_db_put_answer(fw_batch_db *db, const char *model, const char *entity_id,
                                 size_t entity_len, const char *version, const char *prediction,
                                 size_t prediction_len, const char *scores_json, size_t scores_len,
                                 int64_t scored_ms, int64_t run_id, fw_err *err) {
    if (!db->put &&
        sqlite3_prepare_v2(db->db,
                           "INSERT OR REPLACE INTO batch_answers(model, entity_id, version, prediction,"
                           " scores_json, scored_ms, run_id) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                           -1, &db->put, NULL) != SQLITE_OK)
        return dberr(db, err, "storing answers");
    sqlite3_stmt *s = db->put;
    sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, entity_id, (int)entity_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, prediction, (int)prediction_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, scores_json, (int)scores_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, scored_ms);
    sqlite3_bind_int64(s, 7, run_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return dberr(db, err, "storing answers");
    return FW_OK;
}

fw_status fw_batch_answer_get(fw_batch_db *db, const char *model, const char *entity_id,
                              fw_batch_answer *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT version, prediction, scores_json, scored_ms, run_id FROM batch_answers"
                           " WHERE model = ?1 AND entity_id = ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return dberr(db, err, "reading answers");
    sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, entity_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    fw_status st = FW_OK;
    if (rc == SQLITE_ROW) {
        col_text(s, 0, out->version, sizeof out->version);
        const unsigned char *p = sqlite3_column_text(s, 1), *j = sqlite3_column_text(s, 2);
        out->prediction = fw_strdup(p ? (const char *)p : "");
        out->scores_json = fw_strdup(j ? (const char *)j : "null");
        out->scored_ms = sqlite3_column_int64(s, 3);
        out->run_id = sqlite3_column_int64(s, 4);
        if (!out->prediction || !out->scores_json) {
            fw_batch_answer_free(out);
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    } else if (rc == SQLITE_DONE)
        st = fw_err_set(err, FW_ENOTFOUND, "no precomputed answer for %s / %s", model, entity_id);
    else
        st = dberr(db, err, "reading answers");
    sqlite3_finalize(s);
    return st;
}

void fw_batch_answer_free(fw_batch_answer *a) {
    fw_free(a->prediction);
    fw_free(a->scores_json);
    a->prediction = a->scores_json = NULL;
}

fw_status fw_batch_answer_count(fw_batch_db *db, const char *model, int64_t *n, fw_err *err) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->db, "SELECT count(*) FROM batch_answers WHERE model = ?1", -1, &s, NULL) != SQLITE_OK)
        return dberr(db, err, "counting answers");
    sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? FW_OK : dberr(db, err, "counting answers");
}

fw_status fw_batch_db_lookup(fw_batch_db *db, const char *model, const char *version, const char *entity,
                             size_t entity_len, int64_t max_age_ms, int64_t now_ms, fw_batch_answer *out,
                             fw_batch_miss *why, fw_err *err) {
    memset(out, 0, sizeof *out);
    fw_batch_miss miss = FW_BATCH_MISSING;
    if (why) *why = miss;
    if (entity_len > (size_t)INT32_MAX) return fw_err_set(err, FW_EINVAL, "entity id too long");
    if (!db->get &&
        sqlite3_prepare_v2(db->db,
                           "SELECT version, prediction, scores_json, scored_ms, run_id FROM batch_answers"
                           " WHERE model = ?1 AND entity_id = ?2",
                           -1, &db->get, NULL) != SQLITE_OK)
        return dberr(db, err, "reading answers");
    sqlite3_stmt *s = db->get;
    sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, entity, (int)entity_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    fw_status st = FW_OK;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        int64_t scored = sqlite3_column_int64(s, 3);
        if (!now_ms) now_ms = fw_wall_unix_ms();
        if (version && strcmp(version, v ? (const char *)v : "") != 0) miss = FW_BATCH_OTHER_VERSION;
        else if (max_age_ms > 0 && now_ms - scored > max_age_ms) miss = FW_BATCH_STALE;
        else {
            miss = FW_BATCH_HIT;
            col_text(s, 0, out->version, sizeof out->version);
            const unsigned char *p = sqlite3_column_text(s, 1), *j = sqlite3_column_text(s, 2);
            out->prediction = fw_strdup(p ? (const char *)p : "");
            out->scores_json = fw_strdup(j ? (const char *)j : "null");
            out->scored_ms = scored;
            out->run_id = sqlite3_column_int64(s, 4);
            if (!out->prediction || !out->scores_json) {
                fw_batch_answer_free(out);
                st = fw_err_set(err, FW_ENOMEM, "out of memory");
            }
        }
    } else if (rc != SQLITE_DONE)
        st = dberr(db, err, "reading answers");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (st) return st;
    if (why) *why = miss;
    if (miss == FW_BATCH_HIT) return FW_OK;
    static const char *const what[] = {"", "no precomputed answer", "the precomputed answer is too old",
                                       "the precomputed answer is from another version"};
    return fw_err_set(err, FW_ENOTFOUND, "%s for %s / %.*s", what[miss], model, (int)(entity_len < 200 ? entity_len : 200),
                      entity);
}
