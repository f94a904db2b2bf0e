/* learn_sqlite.c — owns the SQLite back end's continual-learning operations (store.h, "continual
 * learning"): the scan of labelled served rows (log.db's prediction_log joined to the label in force
 * in feedback, on a read connection of its own) and the per-model retrain lock (a row of
 * flywheel.db's fw_meta, key "learn.lock.NAME", value "EXPIRES_MS OWNER": no schema change, taken
 * and renewed in one BEGIN IMMEDIATE transaction so two processes can never both hold it). */
#include "store/store_int.h"

#include "store/log_db.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { LEARN_BUSY_MS = 30000 };

static fw_status sq_err(sqlite3 *db, const char *path, const char *what, fw_err *err) {
    int code = sqlite3_errcode(db) & 0xff;
    fw_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED      ? FW_EBUSY
                   : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? FW_ECORRUPT
                   : code == SQLITE_FULL || code == SQLITE_IOERR     ? FW_EIO
                                                                     : FW_ESTORE;
    return fw_err_set(err, st, "store %s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* The first logged prediction of each request id of the model, with the label in force (the last
 * one in force, should there be several). log.db has no index on request_id alone (log_db.h: it is
 * keyed by segment first), so the first row of each request is found by grouping the model's rows
 * of the time window (by prediction_log_by_time) by request id, the window widened by
 * SCAN_MARGIN_MS (?4 = since - margin): every row of a request carries the request's time, however
 * late it was ingested, so its rows are never that far apart. */
#define SCAN_MARGIN_MS 60000
static const char SCAN_SQL[] =
    "SELECT p.request_id, p.ts_ms, p.version, p.input_json, f.label_json, f.ts_ms"
    " FROM (SELECT MIN(id) AS id FROM prediction_log WHERE model_name = ?1 AND ts_ms >= ?4 AND ts_ms < ?3"
    "       GROUP BY request_id) m"
    " JOIN prediction_log p ON p.id = m.id"
    " JOIN feedback f ON f.request_id = p.request_id"
    " WHERE p.ts_ms >= ?2 AND f.label_json IS NOT NULL AND f.status IS NULL"
    "   AND f.id = (SELECT MAX(f2.id) FROM feedback f2 WHERE f2.request_id = p.request_id"
    "               AND f2.label_json IS NOT NULL AND f2.status IS NULL)"
    " ORDER BY p.ts_ms, p.id";

fw_status fw__sqlite_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms,
                                fw_learn_row_fn fn, void *ud, fw_err *err) {
    const char *home = fw_store_home(s);
    char path[4200];
    snprintf(path, sizeof path, "%s/log.db", home);
    struct stat sb;
    if (stat(path, &sb) != 0) return FW_OK; /* no log yet: no rows */
    sqlite3 *db = NULL;
    fw_status st = fw_log_db_open(home, LEARN_BUSY_MS, &db, err);
    if (st) return st;
    sqlite3_stmt *q = NULL;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, SCAN_SQL, -1, &q, NULL) != SQLITE_OK) {
        st = sq_err(db, path, "reading labelled predictions", err);
        goto done;
    }
    sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, since_ms);
    sqlite3_bind_int64(q, 3, until_ms > 0 ? until_ms : INT64_MAX);
    sqlite3_bind_int64(q, 4, since_ms > INT64_MIN + SCAN_MARGIN_MS ? since_ms - SCAN_MARGIN_MS : INT64_MIN);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fw_learn_row r = {
            .request_id = (const char *)sqlite3_column_text(q, 0),
            .ts_ms = sqlite3_column_int64(q, 1),
            .version = sqlite3_column_int64(q, 2),
            .input_json = (const char *)sqlite3_column_text(q, 3),
            .label_json = (const char *)sqlite3_column_text(q, 4),
            .label_ts_ms = sqlite3_column_int64(q, 5),
        };
        if (!r.request_id || !r.label_json) continue;
        if (fn(ud, &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) st = sq_err(db, path, "reading labelled predictions", err);
done:
    sqlite3_finalize(q);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return st;
}

/* ---- the retrain lock ----------------------------------------------------------------------- */

static fw_status open_registry(fw_store *s, sqlite3 **db, char *path, size_t size, fw_err *err) {
    snprintf(path, size, "%s/flywheel.db", fw_store_home(s));
    return fw__sqlite_open_wal(path, LEARN_BUSY_MS, db, err);
}

fw_status fw__sqlite_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                                char *holder, size_t holder_size, fw_err *err) {
    if (holder && holder_size) holder[0] = 0;
    char path[4200], key[256];
    snprintf(key, sizeof key, "learn.lock.%s", model);
    sqlite3 *db = NULL;
    fw_status st = open_registry(s, &db, path, sizeof path, err);
    if (st) return st;
    sqlite3_stmt *get = NULL, *put = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        st = sq_err(db, path, "taking the retrain lock", err);
        goto done;
    }
    if (sqlite3_prepare_v2(db, "SELECT value FROM fw_meta WHERE key = ?1", -1, &get, NULL) != SQLITE_OK) {
        st = sq_err(db, path, "reading the retrain lock", err);
        goto rollback;
    }
    sqlite3_bind_text(get, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(get, 0);
        char *end = NULL;
        long long until = v ? strtoll(v, &end, 10) : 0;
        const char *who = end && *end == ' ' ? end + 1 : "";
        if (strcmp(who, owner) != 0 && until > now_ms) {
            if (holder && holder_size) snprintf(holder, holder_size, "%s", who);
            st = fw_err_set(err, FW_EBUSY, "a retrain of %s is running (%s) until %lld ms at most", model, who, until);
            goto rollback;
        }
    } else if (rc != SQLITE_DONE) {
        st = sq_err(db, path, "reading the retrain lock", err);
        goto rollback;
    }
    char *value = sqlite3_mprintf("%lld %s", (long long)(now_ms + ttl_ms), owner);
    if (!value || sqlite3_prepare_v2(db,
                                     "INSERT INTO fw_meta(key, value) VALUES(?1, ?2)"
                                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                     -1, &put, NULL) != SQLITE_OK) {
        sqlite3_free(value);
        st = value ? sq_err(db, path, "taking the retrain lock", err) : fw_err_set(err, FW_ENOMEM, "out of memory");
        goto rollback;
    }
    sqlite3_bind_text(put, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 2, value, -1, sqlite3_free);
    if (sqlite3_step(put) != SQLITE_DONE || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        st = sq_err(db, path, "taking the retrain lock", err);
        goto rollback;
    }
    goto done;
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    sqlite3_close(db);
    return st;
}

fw_status fw__sqlite_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err) {
    char path[4200], key[256];
    snprintf(key, sizeof key, "learn.lock.%s", model);
    sqlite3 *db = NULL;
    fw_status st = open_registry(s, &db, path, sizeof path, err);
    if (st) return st;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM fw_meta WHERE key = ?1 AND substr(value, instr(value, ' ') + 1) = ?2",
                           -1, &q, NULL) != SQLITE_OK) {
        st = sq_err(db, path, "releasing the retrain lock", err);
    } else {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, owner, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) st = sq_err(db, path, "releasing the retrain lock", err);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return st;
}
