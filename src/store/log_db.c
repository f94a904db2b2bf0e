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
    /* 4 -> 5: each row's request-id hash; then (after_migration) the hashes of the rows of runs not
     * built, and the segment index keyed by hash instead of the request id's text (log_db.h) */
    "ALTER TABLE prediction_log ADD COLUMN rid_hash INTEGER;\n",
};

/* The second half of 4 -> 5, after its SQL: rows in runs not built get their hash (a rowid range
 * per run: the built runs' rows are found through the run index and need none), then the index
 * (built once, over the filled column). */
static int after_4(sqlite3 *db) {
    sqlite3_stmt *runs = NULL, *built = NULL, *upd = NULL;
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT min(id) FROM prediction_log) >> %d, (SELECT max(id) FROM prediction_log) >> %d",
             FW_LOG_DB_RUN_SHIFT, FW_LOG_DB_RUN_SHIFT);
    int rc = sqlite3_prepare_v2(db, sql, -1, &runs, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE prediction_log SET rid_hash = fw_rid_hash(request_id) WHERE id BETWEEN ?1 AND ?2",
                                -1, &upd, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT 1 FROM prediction_log_run_built WHERE run = ?1", -1, &built, NULL);
    if (rc == SQLITE_OK && sqlite3_step(runs) == SQLITE_ROW && sqlite3_column_type(runs, 0) != SQLITE_NULL) {
        int64_t lo = sqlite3_column_int64(runs, 0), hi = sqlite3_column_int64(runs, 1);
        for (int64_t r = lo; r <= hi && rc == SQLITE_OK; r++) {
            sqlite3_bind_int64(built, 1, r);
            int b = sqlite3_step(built);
            sqlite3_reset(built);
            if (b == SQLITE_ROW) continue;
            if (b != SQLITE_DONE) {
                rc = SQLITE_ERROR;
                break;
            }
            sqlite3_bind_int64(upd, 1, r << FW_LOG_DB_RUN_SHIFT);
            sqlite3_bind_int64(upd, 2, ((r + 1) << FW_LOG_DB_RUN_SHIFT) - 1);
            rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            sqlite3_reset(upd);
        }
    }
    sqlite3_finalize(runs);
    sqlite3_finalize(built);
    sqlite3_finalize(upd);
    if (rc != SQLITE_OK) return rc;
    return sqlite3_exec(db,
                        "DROP INDEX IF EXISTS prediction_log_by_request_seg;\n"
                        "CREATE INDEX prediction_log_by_hash_seg ON prediction_log(id >> 14, rid_hash);\n",
                        NULL, NULL, NULL);
}

/* Steps a migration takes in C after its SQL (NULL: none), by the version it starts from. */
static int (*const after_migration[])(sqlite3 *) = {NULL, NULL, NULL, NULL, after_4};
_Static_assert(sizeof after_migration / sizeof *after_migration == sizeof log_migrations / sizeof *log_migrations,
               "one after_migration entry per migration");

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

/* fw_rid_hash(text): fw_log_db_rid_hash as SQL (an integer: the 64 bits as signed), NULL for NULL. */
static void sql_rid_hash(sqlite3_context *c, int n, sqlite3_value **v) {
    (void)n;
    if (sqlite3_value_type(v[0]) == SQLITE_NULL) {
        sqlite3_result_null(c);
        return;
    }
    const unsigned char *t = sqlite3_value_text(v[0]);
    int len = sqlite3_value_bytes(v[0]);
    sqlite3_result_int64(c, (sqlite3_int64)fw_log_db_rid_hash(t ? (const char *)t : "", t ? (size_t)len : 0));
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
        if (sqlite3_exec(db, log_migrations[i], NULL, NULL, NULL) != SQLITE_OK ||
            (after_migration[i] && after_migration[i](db) != SQLITE_OK)) {
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
    sqlite3_create_function_v2(db, "fw_rid_hash", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                               sql_rid_hash, NULL, NULL, NULL);
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
    static const char *const cols[] = {"id, request_id, ts_ms, model_name, version, input_json, output_json, latency_us, outcome",
                                       "id, request_id, ts_ms, label_json, event, value", "*"};
    /* only log.db is written: BEGIN IMMEDIATE would also take the store's write lock */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) st = db_err(db, path, "starting the copy", err);
    for (size_t i = 0; !st && i < sizeof tables / sizeof *tables; i++) {
        if (!has_table(db, tables[i])) continue;
        char sql[512];
        if (i == 0) /* with each row's request-id hash (schema 5) */
            snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO main.%s(%s, rid_hash) SELECT %s, fw_rid_hash(request_id) FROM legacy.%s",
                     tables[i], cols[i], cols[i], tables[i]);
        else if (i == 1)
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
