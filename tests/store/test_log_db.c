/* test_log_db.c — tests for src/store/log_db.c: a new log.db gets its tables and schema version;
 * a registry write goes through at once while another connection holds log.db's write lock (the
 * reason the log has its own file); a store written before the split (the log inside flywheel.db,
 * store schema 1) is migrated with every row moved, ids kept, and an interrupted move repeated
 * without duplicates; a log.db from a newer Flywheel is refused by name. */
#include "core/clock.h"
#include "store/log_db.h"
#include "store/store.h"
#include "test.h"

#include "db.h"

#include <stdio.h>
#include <string.h>

static char home_buf[512];
static const char *new_home(const char *tag) {
    snprintf(home_buf, sizeof home_buf, "%s/%s", fw_test_tmpdir(), tag);
    return home_buf;
}

static sqlite3 *open_file(const char *home, const char *file) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", home, file);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fw_test_fail(__FILE__, __LINE__, "open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* A new store under tmp/tag and a connection to its log.db; false (test failed) when either does not
 * open. */
static bool open_both(const char *tag, fw_store **s, sqlite3 **log) {
    fw_err err;
    *log = NULL;
    CHECK_OK(fw_store_open(new_home(tag), s, &err));
    if (!*s) return false;
    CHECK_OK(fw_log_db_open(fw_store_home(*s), 1000, log, &err));
    if (*log) return true;
    fw_store_close(*s);
    return false;
}

static void test_new_file(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("fresh", &s, &log)) return;
    const char *home = home_buf;
    fw_store_close(s);
    CHECK_EQ(DB_INT(log, "SELECT value FROM fw_meta WHERE key = 'log_schema_version'"), FW_LOG_DB_SCHEMA_VERSION);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                         " ('prediction_log', 'feedback', 'feedback_unmatched')"), 3);
    CHECK_EQ(DB_INT(log, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    sqlite3_close(log);
    sqlite3 *store = open_file(home, "flywheel.db");
    if (!store) return;
    /* the registry file holds no log table any more */
    CHECK_EQ(DB_INT(store, "SELECT count(*) FROM sqlite_master WHERE name IN ('prediction_log', 'feedback')"), 0);
    CHECK_EQ(DB_INT(store, "SELECT value FROM fw_meta WHERE key = 'schema_version'"), FW_STORE_SCHEMA_VERSION);
    sqlite3_close(store);
}

/* The log's ingester holds log.db's write lock for whole batches; a registry write must not wait. */
static void test_registry_write_not_blocked_by_log(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("locks", &s, &log)) return;
    fw_err err;
    CHECK_EQ(sqlite3_exec(log, "BEGIN IMMEDIATE; INSERT INTO prediction_log(request_id, ts_ms, model_name, version)"
                               " VALUES('r', 1, 'm', 1)", NULL, NULL, NULL), SQLITE_OK);
    double t0 = fw_now_seconds();
    CHECK_OK(fw_store_begin(s, true, &err));
    CHECK_OK(fw_store_commit(s, &err));
    double waited = fw_now_seconds() - t0;
    CHECK_MSG(waited < 0.5, "a registry write waited %.3f s for the log's lock", waited);
    /* and a second log writer does wait for the first (same file, one lock) */
    sqlite3 *log2;
    CHECK_OK(fw_log_db_open(fw_store_home(s), 50, &log2, &err));
    if (log2) {
        CHECK_EQ(sqlite3_exec(log2, "BEGIN IMMEDIATE", NULL, NULL, NULL) & 0xff, SQLITE_BUSY);
        sqlite3_close(log2);
    }
    CHECK_EQ(sqlite3_exec(log, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(log);
    fw_store_close(s);
}

/* Turns a new store into what Flywheel wrote before the split: schema 1, the log tables (with the
 * schema-1 columns) and rows inside flywheel.db, no log.db. */
static void make_legacy_store(const char *home) {
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (s) fw_store_close(s);
    sqlite3 *db = open_file(home, "flywheel.db");
    if (!db) return;
    CHECK_EQ(sqlite3_exec(db,
                          "UPDATE fw_meta SET value = '1' WHERE key = 'schema_version';"
                          "CREATE TABLE prediction_log(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
                          " ts_ms INTEGER NOT NULL, model_name TEXT NOT NULL, version INTEGER NOT NULL,"
                          " input_json TEXT, output_json TEXT, latency_us INTEGER, outcome TEXT);"
                          "CREATE TABLE feedback(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
                          " ts_ms INTEGER NOT NULL, label_json TEXT, event TEXT, value REAL);"
                          "CREATE TABLE feedback_unmatched(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
                          " ts_ms INTEGER NOT NULL, label_json TEXT);"
                          "INSERT INTO prediction_log VALUES(7, 'req-a', 1000, 'spam', 2, '{\"x\":1}',"
                          " '{\"label\":\"spam\"}', 150, 'model');"
                          "INSERT INTO prediction_log VALUES(9, 'req-b', 1001, 'spam', 2, NULL, '{}', 90, 'fallback');"
                          "INSERT INTO feedback VALUES(3, 'req-a', 5000, '\"spam\"', NULL, NULL);"
                          "INSERT INTO feedback VALUES(4, 'nobody', 5001, NULL, 'click', 1.5);"
                          "INSERT INTO feedback_unmatched VALUES(1, 'nobody', 5001, NULL);",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    char path[700];
    snprintf(path, sizeof path, "%s/log.db", home);
    remove(path);
}

static void check_moved(const char *home) {
    sqlite3 *log = open_file(home, "log.db");
    if (!log) return;
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log"), 2);
    CHECK_EQ(DB_INT(log, "SELECT latency_us FROM prediction_log WHERE id = 7 AND request_id = 'req-a'"
                         " AND input_json = '{\"x\":1}' AND outcome = 'model'"), 150);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE id = 9 AND input_json IS NULL"), 1);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM feedback"), 2);
    CHECK_EQ(DB_INT(log, "SELECT value * 10 FROM feedback WHERE id = 4 AND event = 'click'"), 15);
    CHECK_EQ(DB_INT(log, "SELECT id FROM feedback_unmatched WHERE request_id = 'nobody'"), 1);
    /* new rows continue after the adopted ids */
    CHECK_EQ(sqlite3_exec(log, "INSERT INTO prediction_log(request_id, ts_ms, model_name, version)"
                               " VALUES('req-c', 2000, 'spam', 3)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(log, "SELECT id FROM prediction_log WHERE request_id = 'req-c'"), 10);
    sqlite3_close(log);
    sqlite3 *db = open_file(home, "flywheel.db");
    if (!db) return;
    CHECK_EQ(DB_INT(db, "SELECT value FROM fw_meta WHERE key = 'schema_version'"), FW_STORE_SCHEMA_VERSION);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM sqlite_master WHERE name IN"
                        " ('prediction_log', 'feedback', 'feedback_unmatched')"), 0);
    sqlite3_close(db);
}

static void test_legacy_store_migrates(void) {
    const char *home = new_home("legacy");
    make_legacy_store(home);
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (s) fw_store_close(s);
    check_moved(home);
}

/* A migration cut off after the copy committed and before the drop did: the copy runs again. */
static void test_interrupted_move_repeats_cleanly(void) {
    const char *home = new_home("legacy2");
    make_legacy_store(home);
    char store_path[700];
    snprintf(store_path, sizeof store_path, "%s/flywheel.db", home);
    fw_err err;
    CHECK_OK(fw_log_db_adopt_legacy(home, store_path, &err)); /* the first attempt's copy */
    fw_store *s;
    CHECK_OK(fw_store_open(home, &s, &err));                  /* the restart: copy again, then drop */
    if (s) fw_store_close(s);
    check_moved(home);
}

static void test_newer_log_schema_refused(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("newer", &s, &log)) return;
    CHECK_EQ(sqlite3_exec(log, "UPDATE fw_meta SET value = '99' WHERE key = 'log_schema_version'", NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(log);
    log = NULL;
    fw_err err;
    CHECK_EQ(fw_log_db_open(fw_store_home(s), 1000, &log, &err), FW_EVERSION);
    CHECK(log == NULL);
    CHECK_CONTAINS(err.msg, "log.db");
    CHECK_CONTAINS(err.msg, "newer Flywheel");
    fw_store_close(s);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_new_file);
    TEST_RUN(test_registry_write_not_blocked_by_log);
    TEST_RUN(test_legacy_store_migrates);
    TEST_RUN(test_interrupted_move_repeats_cleanly);
    TEST_RUN(test_newer_log_schema_refused);
    return fw_test_report(argv[0]);
}
