/* log_db.c — owns <home>/log.db (see log_db.h): its schema and migrations, recorded in the file's
 * own fw_meta, and the one-time adoption of the log tables that stores before schema 2 kept in
 * flywheel.db. */
#include "store/log_db.h"

#include "store/store_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Migration i brings log.db from version i to i + 1. Never edit a released entry: append. The
 * columns are those of the tables flywheel.db held at store schema 1, so adoption copies rows as
 * they are. */
static const char *const log_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE prediction_log(\n"
    "  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,\n"
    "  model_name TEXT NOT NULL, version INTEGER NOT NULL, input_json TEXT, output_json TEXT,\n"
    "  latency_us INTEGER, outcome TEXT);\n"
    "CREATE INDEX prediction_log_by_request ON prediction_log(request_id);\n"
    "CREATE INDEX prediction_log_by_time ON prediction_log(model_name, ts_ms);\n"
    "CREATE TABLE feedback(\n"
    "  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,\n"
    "  label_json TEXT, event TEXT, value REAL);\n"
    "CREATE INDEX feedback_by_request ON feedback(request_id);\n"
    "CREATE TABLE feedback_unmatched(\n"
    "  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, label_json TEXT);\n"
    "CREATE INDEX feedback_unmatched_by_request ON feedback_unmatched(request_id);\n",
    /* 1 -> 2: who sent each feedback, and which labels count (NULL: the label in force) */
    "ALTER TABLE feedback ADD COLUMN source TEXT;\n"
    "ALTER TABLE feedback ADD COLUMN status TEXT;\n",
    /* 2 -> 3: the request-id index ordered by segment (id >> 14: 16,384 rows) first (log_db.h) */
    "DROP INDEX IF EXISTS prediction_log_by_request;\n"
    "CREATE INDEX prediction_log_by_request_seg ON prediction_log(id >> 14, request_id);\n",
    /* 3 -> 4: the run index (log_db.h): per run and hash bucket, the sorted (hash, id) entries */
    "CREATE TABLE prediction_log_run(key INTEGER PRIMARY KEY, entries BLOB NOT NULL);\n"
    "CREATE TABLE prediction_log_run_built(run INTEGER PRIMARY KEY, n INTEGER NOT NULL);\n",
};

uint64_t fw_log_db_rid_hash(const char *rid, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then the splitmix64 finalizer: stored, never change it */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)rid[i]) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

_Atomic(unsigned long long) fw_log_db_probes;

static fw_status db_err(sqlite3 *db, const char *path, const char *what, fw_err *err) {
    int code = sqlite3_errcode(db) & 0xff;
    fw_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED      ? FW_EBUSY
                   : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? FW_ECORRUPT
                   : code == SQLITE_FULL || code == SQLITE_IOERR     ? FW_EIO
                                                                     : FW_ESTORE;
    return fw_err_set(err, st, "prediction log %s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* The version in fw_meta: 0 when the file has no fw_meta yet, -1 when it cannot be read. */
static int schema_version(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM fw_meta WHERE key = 'log_schema_version'", -1, &st, NULL) !=
        SQLITE_OK)
        v = sqlite3_errcode(db) == SQLITE_ERROR ? 0 : -1; /* no such table: a new file */
    else if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Like the store's: an up-to-date file is only read (opening never waits for the write lock). */
static fw_status migrate(sqlite3 *db, const char *path, fw_err *err) {
    int latest = (int)(sizeof log_migrations / sizeof *log_migrations);
    int v = schema_version(db);
    if (v == latest) return FW_OK;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(db, path, "starting the schema migration", err);
    fw_status st = FW_OK;
    if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS fw_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", NULL,
                     NULL, NULL) != SQLITE_OK) {
        st = db_err(db, path, "creating fw_meta", err);
        goto fail;
    }
    v = schema_version(db); /* again, under the lock: another process may have migrated */
    if (v < 0) {
        st = db_err(db, path, "reading the schema version", err);
        goto fail;
    }
    if (v > latest) {
        st = fw_err_set(err, FW_EVERSION,
                        "prediction log %s has schema version %d, written by a newer Flywheel; this Flywheel (%s) "
                        "reads up to version %d: upgrade Flywheel",
                        path, v, FW_VERSION_STRING, latest);
        goto fail;
    }
    for (int i = v; i < latest; i++)
        if (sqlite3_exec(db, log_migrations[i], NULL, NULL, NULL) != SQLITE_OK) {
            st = db_err(db, path, "migrating the schema", err);
            goto fail;
        }
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO fw_meta(key, value) VALUES('log_schema_version', '%d')"
             " ON CONFLICT(key) DO UPDATE SET value = excluded.value", latest);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        st = db_err(db, path, "recording the schema version", err);
        goto fail;
    }
    return FW_OK;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

fw_status fw_log_db_open(const char *home, int busy_ms, sqlite3 **out, fw_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/log.db", home);
    sqlite3 *db;
    fw_status st = fw__sqlite_open_wal_paged(path, busy_ms, FW_LOG_DB_PAGE_SIZE, &db, err);
    if (st) return st;
    /* a new file reclaims the space retention frees (incremental vacuum); SQLite ignores this once
     * tables exist, so older files keep reusing their free pages instead */
    if (schema_version(db) == 0) {
        sqlite3_stmt *q = NULL;
        bool empty = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) == SQLITE_OK &&
                     sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 0;
        sqlite3_finalize(q);
        /* WAL mode already wrote the header: the setting takes with a VACUUM (instant when empty) */
        if (empty && sqlite3_exec(db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, NULL) == SQLITE_OK)
            sqlite3_exec(db, "VACUUM", NULL, NULL, NULL);
    }
    if ((st = migrate(db, path, err))) {
        sqlite3_close(db);
        return st;
    }
    *out = db;
    return FW_OK;
}

/* True when schema `legacy` of db has table name. */
static bool has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

fw_status fw_log_db_adopt_legacy(const char *home, const char *store_path, fw_err *err) {
    sqlite3 *db;
    fw_status st = fw_log_db_open(home, 30000, &db, err);
    if (st) return st;
    const char *path = sqlite3_db_filename(db, "main");
    sqlite3_stmt *at = NULL;
    if (sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS legacy", -1, &at, NULL) != SQLITE_OK) {
        st = db_err(db, path, "attaching the store", err);
        sqlite3_close(db);
        return st;
    }
    sqlite3_bind_text(at, 1, store_path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(at);
    sqlite3_finalize(at);
    if (rc != SQLITE_DONE) {
        st = db_err(db, path, "attaching the store", err);
        sqlite3_close(db);
        return st;
    }
    static const char *const tables[] = {"prediction_log", "feedback", "feedback_unmatched"};
    /* the legacy columns (log.db's feedback has grown since: schema 2) */
    static const char *const cols[] = {"*", "id, request_id, ts_ms, label_json, event, value", "*"};
    /* only log.db is written: BEGIN IMMEDIATE would also take the store's write lock */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) st = db_err(db, path, "starting the copy", err);
    for (size_t i = 0; !st && i < sizeof tables / sizeof *tables; i++) {
        if (!has_table(db, tables[i])) continue;
        char sql[300];
        if (i == 1)
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO main.%s(%s) SELECT %s FROM legacy.%s", tables[i], cols[i],
                     cols[i], tables[i]);
        else
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO main.%s SELECT * FROM legacy.%s", tables[i], tables[i]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) st = db_err(db, path, "copying the old log", err);
    }
    if (!st && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) st = db_err(db, path, "committing the copy", err);
    if (st) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(db, "DETACH DATABASE legacy", NULL, NULL, NULL);
    sqlite3_close(db);
    return st;
}
