/* test_log_db.c — tests for src/store/log_db.c: a new log.db gets its tables and schema version;
 * a registry write goes through at once while another connection holds log.db's write lock (the
 * reason the log has its own file); a store written before the split (the log inside flywheel.db,
 * store schema 1) is migrated with every row moved, ids kept, and an interrupted move repeated
 * without duplicates; a log.db from a newer Flywheel is refused by name; the request-id index is
 * keyed by the row's segment first (schema 3): random request ids cost a bounded number of WAL
 * pages per row, lookups by request id find rows in every segment (the first of a repeated id),
 * and a schema-2 file is migrated with its rows; the run index (schema 4) makes a lookup one seek
 * per built run, not one per segment, and never misses a row (reused ids, a restarted table); the
 * segment index keyed by the request id's hash (schema 5) costs fewer WAL pages a row, a schema-4
 * file is migrated (hashes filled where no run index covers the rows), rows written by hand without
 * a hash are still found; a new
 * log.db has FW_LOG_DB_PAGE_SIZE pages, and a file made with SQLite's default 4 KiB pages (before
 * session 14) keeps them and answers the same. */
#include "core/clock.h"
#include "store/log_db.h"
#include "store/store.h"
#include "test.h"

#include "db.h"

#include <math.h>
#include <stdint.h>
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

/* a server-shaped random request id for n (41 characters) */
static void rid_of(uint64_t n, char *out) {
    uint64_t x = (n + 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    uint64_t y = x * 0x94D049BB133111EBull;
    snprintf(out, 48, "%016llx%016llx-%08x", (unsigned long long)x, (unsigned long long)(y ^ y >> 32),
             (unsigned)(x >> 40));
}

static uint64_t g_wal_frames;
static int count_wal(void *ud, sqlite3 *db, const char *name, int pages) {
    (void)ud, (void)db, (void)name;
    g_wal_frames = (uint64_t)pages;
    return SQLITE_OK;
}

/* Random request ids into prediction_log, 1,024 rows a transaction as the ingester does (each with
 * its request-id hash): WAL pages written per row, without checkpoints. The plain request_id index
 * (schema 2) put each row into a random leaf: 0.74 pages a row at 96k rows (4 KiB pages) and rising
 * with the table; by segment, 0.16 (4 KiB pages): the newest segment's pages only; keyed by the
 * request id's text (schema 3-4) 0.045 in 16 KiB pages, by its 8-byte hash (schema 5) 0.028: a
 * segment's entries fill 40% of the pages the text needed. */
static void test_ingest_pages_bounded(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("pages", &s, &log)) return;
    fw_store_close(s);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_hash_seg'"), 1);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_request_seg'"), 0);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_request'"), 0);
    CHECK_EQ(sqlite3_exec(log, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_wal_hook(log, count_wal, NULL);
    sqlite3_stmt *ins = NULL;
    CHECK_EQ(sqlite3_prepare_v2(log, "INSERT INTO prediction_log(request_id, ts_ms, model_name, version, input_json,"
                                     " output_json, latency_us, outcome, rid_hash) VALUES(?1, ?2, 'spam', 3, '{\"n\":1}',"
                                     " '{\"p\":0.5}', 40, 'model', ?3)", -1, &ins, NULL),
             SQLITE_OK);
    if (!ins) return;
    enum { TXNS = 96, PER = 1024 };
    uint64_t frames_before = 0;
    for (uint64_t t = 0; t < TXNS; t++) {
        if (t == TXNS / 2) frames_before = g_wal_frames;
        sqlite3_exec(log, "BEGIN", NULL, NULL, NULL);
        for (uint64_t i = 0; i < PER; i++) {
            char rid[48];
            rid_of(t * PER + i, rid);
            sqlite3_bind_text(ins, 1, rid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 2, (int64_t)(t * PER + i));
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)fw_log_db_rid_hash(rid, strlen(rid))); /* as the ingester does */
            CHECK_EQ(sqlite3_step(ins), SQLITE_DONE);
            sqlite3_reset(ins);
        }
        CHECK_EQ(sqlite3_exec(log, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_finalize(ins);
    /* the second half of the rows: the table is large by then */
    double per_row = (double)(g_wal_frames - frames_before) / (double)(TXNS / 2 * PER);
    CHECK_MSG(per_row < 0.036, "%.3f WAL pages per row ingested (random request ids)", per_row);
    sqlite3_close(log);
}

/* Lookups by request id through the store's log: rows in the first, a middle and the newest
 * segment; a request id logged twice by the same model version answers its first row; feedback
 * matches an old row; an unknown id is unmatched. */
static void test_lookup_every_segment(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("segments", &s, &log)) return;
    sqlite3_close(log);
    fw_err err;
    fw_store_log *l = NULL;
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (!l) {
        fw_store_close(s);
        return;
    }
    enum { N = 40000, BATCH = 1000 };
    static char rids[BATCH][48];
    fw_log_pred_row rows[BATCH];
    char first[48];
    rid_of(5, first);
    for (int b = 0; b < N / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            int n = b * BATCH + i;
            rid_of((uint64_t)n, rids[i]);
            if (n == N - 3) memcpy(rids[i], first, sizeof rids[i]); /* row 5's id again, 2 segments on */
            rows[i] = (fw_log_pred_row){rids[i], 1000 + n, "spam", 3, "{}", 2, "[1]", 3, 10, "model"};
        }
        CHECK_OK(fw_store_log_put_predictions(l, rows, BATCH, &err));
    }
    static const int probe[] = {0, 5, 16383, 16384, 20000, 32768, N - 1};
    for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
        char rid[48];
        rid_of((uint64_t)probe[k], rid);
        fw_log_pred_found f = {0};
        CHECK_OK(fw_store_log_get_prediction(l, rid, "spam", 3, &f, &err));
        CHECK_MSG(f.ts_ms == 1000 + probe[k], "row %d: ts %lld", probe[k], (long long)f.ts_ms);
        fw_log_pred_found_free(&f);
        CHECK(fw_store_log_has_prediction(l, rid, 1000 + probe[k], "spam", 3));
    }
    fw_log_pred_found f = {0};
    CHECK_EQ(fw_store_log_get_prediction(l, "no-such-request", "spam", 3, &f, &err), FW_ENOTFOUND);
    char old[48];
    rid_of(7, old);
    fw_log_feedback_row fb[2] = {{old, 5000, "1", NULL, NAN, "test", false, false},
                                 {"no-such-request", 5001, "1", NULL, NAN, "test", false, false}};
    CHECK_OK(fw_store_log_put_feedback(l, fb, 2, &err));
    CHECK(fb[0].matched);
    CHECK(!fb[1].matched);
    fw_store_log_close(l);
    fw_store_close(s);
}

static unsigned long long probes_of(fw_store_log *l, const char *rid, const char *model, fw_status want) {
    fw_err err;
    fw_log_pred_found f = {0};
    unsigned long long p0 = fw_log_db_probes;
    fw_status st = fw_store_log_get_prediction(l, rid, model, 3, &f, &err);
    CHECK_MSG(st == want, "%s by %s: status %d, wanted %d", rid, model, (int)st, (int)want);
    fw_log_pred_found_free(&f);
    return fw_log_db_probes - p0;
}

/* A log spanning 40 runs (1,280 segments: rows every 4,096 ids, written straight into log.db), then
 * batches through the store's log, each followed by a step of the run index's build, until every
 * complete run is built. A miss, an old hit and a fresh hit then take at most one seek per run plus
 * the unfinished run's segments (the probe per segment took 1,280+); the first row of a reused id
 * (in run 2 and again in run 30) and a shadow row under another model still answer right; feedback
 * matches an old id. Then the newest rows are deleted so new ids land inside built runs, and the
 * table is emptied so ids restart at 1: the new rows are found (their runs were unmarked). */
static void test_lookup_runs(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("runs", &s, &log)) return;
    enum { RUNS = 40, STEP = 4096 };
    const int64_t span = (int64_t)RUNS << FW_LOG_DB_RUN_SHIFT;
    sqlite3_stmt *ins = NULL;
    CHECK_EQ(sqlite3_prepare_v2(log, "INSERT INTO prediction_log(id, request_id, ts_ms, model_name, version, input_json,"
                                     " output_json, latency_us, outcome) VALUES(?1, ?2, ?1, ?3, 3, '{}', '[1]', 5,"
                                     " 'model')", -1, &ins, NULL),
             SQLITE_OK);
    if (!ins) return;
    sqlite3_exec(log, "BEGIN", NULL, NULL, NULL);
    for (int64_t id = 1; id < span; id += STEP) {
        char rid[48];
        rid_of((uint64_t)id, rid);
        int64_t run = id >> FW_LOG_DB_RUN_SHIFT;
        if (id == 30 * ((int64_t)1 << FW_LOG_DB_RUN_SHIFT) + 1) rid_of(2 * ((uint64_t)1 << FW_LOG_DB_RUN_SHIFT) + 1, rid);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_text(ins, 2, rid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, run == 7 && id % 2 ? "shadow" : "spam", -1, SQLITE_STATIC);
        CHECK_EQ(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    CHECK_EQ(sqlite3_exec(log, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_finalize(ins);
    fw_err err;
    fw_store_log *l = NULL;
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (!l) {
        sqlite3_close(log);
        fw_store_close(s);
        return;
    }
    /* the linear probe's cost before any run is built */
    CHECK(probes_of(l, "no-such-request", "spam", FW_ENOTFOUND) >= (unsigned long long)(span >> FW_LOG_DB_SEG_SHIFT));
    static char rids[8][48];
    fw_log_pred_row rows[8];
    for (int b = 0; b < RUNS * 40 && DB_INT(log, "SELECT count(*) FROM prediction_log_run_built") < RUNS; b++) {
        for (int i = 0; i < 8; i++) {
            snprintf(rids[i], sizeof rids[i], "fresh-%d-%d", b, i);
            rows[i] = (fw_log_pred_row){rids[i], span + b, "spam", 3, "{}", 2, "[2]", 3, 10, "model"};
        }
        CHECK_OK(fw_store_log_put_predictions(l, rows, 8, &err));
    }
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log_run_built"), RUNS);
    /* every row of the 40 runs (the store's batches filled the end of run 39) has its entry */
    CHECK_EQ(DB_INT(log, "SELECT sum(length(entries)) / 12 FROM prediction_log_run WHERE key < (40 << 12)"),
             DB_INT(log, "SELECT count(*) FROM prediction_log WHERE (id >> 19) < 40"));
    CHECK_EQ(DB_INT(log, "SELECT sum(n) FROM prediction_log_run_built"),
             DB_INT(log, "SELECT count(*) FROM prediction_log WHERE (id >> 19) < 40"));
    const unsigned long long bound = RUNS + (1u << (FW_LOG_DB_RUN_SHIFT - FW_LOG_DB_SEG_SHIFT)) + 2;
    unsigned long long p = probes_of(l, "no-such-request", "spam", FW_ENOTFOUND);
    CHECK_MSG(p <= bound, "a miss took %llu seeks", p);
    char rid[48];
    rid_of(1 + STEP, rid);
    CHECK_MSG((p = probes_of(l, rid, "spam", FW_OK)) <= 2, "an old hit took %llu seeks", p);
    CHECK_MSG((p = probes_of(l, "fresh-3-5", "spam", FW_OK)) <= bound, "a fresh hit took %llu seeks", p);
    /* the reused id answers its first row (run 2), the shadow its own */
    rid_of(2 * ((uint64_t)1 << FW_LOG_DB_RUN_SHIFT) + 1, rid);
    fw_log_pred_found f = {0};
    CHECK_OK(fw_store_log_get_prediction(l, rid, "spam", 3, &f, &err));
    CHECK_EQ(f.ts_ms, 2 * ((int64_t)1 << FW_LOG_DB_RUN_SHIFT) + 1);
    fw_log_pred_found_free(&f);
    int64_t shadow_id = 7 * ((int64_t)1 << FW_LOG_DB_RUN_SHIFT) + 1 + STEP; /* odd: the shadow's */
    rid_of((uint64_t)shadow_id, rid);
    CHECK_OK(fw_store_log_get_prediction(l, rid, "shadow", 3, &f, &err));
    CHECK_EQ(f.ts_ms, shadow_id);
    fw_log_pred_found_free(&f);
    CHECK_EQ(fw_store_log_get_prediction(l, rid, "spam", 3, &f, &err), FW_ENOTFOUND);
    rid_of(1 + 9 * STEP, rid);
    fw_log_feedback_row fb[2] = {{rid, 5000, "1", NULL, NAN, "test", false, false},
                                 {"no-such-request", 5001, "1", NULL, NAN, "test", false, false}};
    p = fw_log_db_probes;
    CHECK_OK(fw_store_log_put_feedback(l, fb, 2, &err));
    CHECK(fb[0].matched);
    CHECK(!fb[1].matched);
    CHECK_MSG(fw_log_db_probes - p <= 2 * bound, "feedback took %llu seeks", fw_log_db_probes - p);
    /* ids reused inside built runs: the newest rows deleted, then new ones */
    int64_t keep = 20 * ((int64_t)1 << FW_LOG_DB_RUN_SHIFT) + 5;
    char sql[120];
    snprintf(sql, sizeof sql, "DELETE FROM prediction_log WHERE id > %lld", (long long)keep);
    CHECK_EQ(sqlite3_exec(log, sql, NULL, NULL, NULL), SQLITE_OK);
    rows[0] = (fw_log_pred_row){"reused-a", 77, "spam", 3, "{}", 2, "[3]", 3, 10, "model"};
    CHECK_OK(fw_store_log_put_predictions(l, rows, 1, &err));
    CHECK_OK(fw_store_log_get_prediction(l, "reused-a", "spam", 3, &f, &err));
    CHECK_EQ(f.ts_ms, 77);
    fw_log_pred_found_free(&f);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log_run_built WHERE run >= 20"), 0);
    CHECK_EQ(sqlite3_exec(log, "DELETE FROM prediction_log", NULL, NULL, NULL), SQLITE_OK);
    rows[0] = (fw_log_pred_row){"reused-b", 78, "spam", 3, "{}", 2, "[3]", 3, 10, "model"};
    CHECK_OK(fw_store_log_put_predictions(l, rows, 1, &err));
    CHECK_EQ(DB_INT(log, "SELECT min(id) FROM prediction_log"), 1);
    CHECK_OK(fw_store_log_get_prediction(l, "reused-b", "spam", 3, &f, &err));
    CHECK_EQ(f.ts_ms, 78);
    fw_log_pred_found_free(&f);
    fw_store_log_close(l);
    sqlite3_close(log);
    fw_store_close(s);
}

/* A schema-2 log.db (the plain request_id index) opens as schema 3, rows kept, lookups working. */
static void test_schema2_migrates(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("schema2", &s, &log)) return;
    CHECK_EQ(sqlite3_exec(log,
                          "DROP INDEX prediction_log_by_hash_seg; ALTER TABLE prediction_log DROP COLUMN rid_hash;"
                          "DROP TABLE prediction_log_run; DROP TABLE prediction_log_run_built;"
                          "CREATE INDEX prediction_log_by_request ON prediction_log(request_id);"
                          "UPDATE fw_meta SET value = '2' WHERE key = 'log_schema_version';"
                          "INSERT INTO prediction_log(id, request_id, ts_ms, model_name, version, output_json)"
                          " VALUES(3, 'old-a', 10, 'spam', 1, '[0]'), (40000, 'old-b', 20, 'spam', 1, '[1]');",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(log);
    fw_err err;
    log = NULL;
    CHECK_OK(fw_log_db_open(fw_store_home(s), 1000, &log, &err));
    if (!log) {
        fw_store_close(s);
        return;
    }
    CHECK_EQ(DB_INT(log, "SELECT value FROM fw_meta WHERE key = 'log_schema_version'"), FW_LOG_DB_SCHEMA_VERSION);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_request'"), 0);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_hash_seg'"), 1);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log"), 2);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE rid_hash IS NULL"), 0); /* no run built */
    sqlite3_close(log);
    fw_store_log *l = NULL;
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (l) {
        fw_log_pred_found f = {0};
        CHECK_OK(fw_store_log_get_prediction(l, "old-a", "spam", 1, &f, &err));
        CHECK_EQ(f.ts_ms, 10);
        fw_log_pred_found_free(&f);
        CHECK_OK(fw_store_log_get_prediction(l, "old-b", "spam", 1, &f, &err));
        CHECK_EQ(f.ts_ms, 20);
        fw_log_pred_found_free(&f);
        fw_store_log_close(l);
    }
    fw_store_close(s);
}

/* A schema-4 log.db (the segment index keyed by the request id's text, no rid_hash column) opens
 * as schema 5: the rows of runs not built get their hash, those of built runs keep none (the run
 * index finds them), the text index is gone; lookups and feedback find rows of both kinds. A row
 * written by hand without its hash (a user's INSERT) is found too. */
static void test_schema4_migrates(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("schema4", &s, &log)) return;
    enum { STEP = 4096 };
    const int64_t span = (int64_t)2 << FW_LOG_DB_RUN_SHIFT; /* runs 0 and 1 by hand, then one row in run 2 */
    sqlite3_stmt *ins = NULL;
    CHECK_EQ(sqlite3_prepare_v2(log, "INSERT INTO prediction_log(id, request_id, ts_ms, model_name, version, input_json,"
                                     " output_json, latency_us, outcome) VALUES(?1, ?2, ?1, 'spam', 3, '{}', '[1]', 5,"
                                     " 'model')", -1, &ins, NULL),
             SQLITE_OK);
    if (!ins) return;
    sqlite3_exec(log, "BEGIN", NULL, NULL, NULL);
    for (int64_t id = 1; id <= span + 1; id += id < span ? STEP : 1) {
        if (id > span - STEP && id <= span) continue;
        char rid[48];
        rid_of((uint64_t)id, rid);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_text(ins, 2, rid, -1, SQLITE_TRANSIENT);
        CHECK_EQ(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    CHECK_EQ(sqlite3_exec(log, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_finalize(ins);
    fw_err err;
    fw_store_log *l = NULL;
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (!l) {
        sqlite3_close(log);
        fw_store_close(s);
        return;
    }
    static char rids[8][48];
    fw_log_pred_row rows[8];
    for (int b = 0; b < 200 && DB_INT(log, "SELECT count(*) FROM prediction_log_run_built") < 2; b++) {
        for (int i = 0; i < 8; i++) {
            snprintf(rids[i], sizeof rids[i], "fresh-%d-%d", b, i);
            rows[i] = (fw_log_pred_row){rids[i], span + b, "spam", 3, "{}", 2, "[2]", 3, 10, "model"};
        }
        CHECK_OK(fw_store_log_put_predictions(l, rows, 8, &err));
    }
    fw_store_log_close(l);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log_run_built"), 2);
    /* back to schema 4's shape */
    CHECK_EQ(sqlite3_exec(log,
                          "DROP INDEX prediction_log_by_hash_seg; ALTER TABLE prediction_log DROP COLUMN rid_hash;"
                          "CREATE INDEX prediction_log_by_request_seg ON prediction_log(id >> 14, request_id);"
                          "UPDATE fw_meta SET value = '4' WHERE key = 'log_schema_version';",
                          NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(log);
    log = NULL;
    CHECK_OK(fw_log_db_open(fw_store_home(s), 1000, &log, &err));
    if (!log) {
        fw_store_close(s);
        return;
    }
    CHECK_EQ(DB_INT(log, "SELECT value FROM fw_meta WHERE key = 'log_schema_version'"), FW_LOG_DB_SCHEMA_VERSION);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_request_seg'"), 0);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM sqlite_master WHERE name = 'prediction_log_by_hash_seg'"), 1);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE rid_hash IS NULL"),
             DB_INT(log, "SELECT count(*) FROM prediction_log WHERE (id >> 19) < 2"));
    CHECK(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE (id >> 19) >= 2") > 8);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE (id >> 19) >= 2 AND rid_hash IS NOT fw_rid_hash(request_id)"), 0);
    char rid[48];
    rid_of(1 + STEP, rid);
    CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log WHERE rid_hash IS NOT NULL AND rid_hash = fw_rid_hash('fresh-3-5')"), 1);
    CHECK_EQ(sqlite3_exec(log, "INSERT INTO prediction_log(request_id, ts_ms, model_name, version, output_json)"
                               " VALUES('by-hand', 99, 'spam', 3, '[0]')", NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(log);
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (l) {
        static const struct { const char *rid; int64_t ts; } want[] = {{NULL, 1 + STEP}, {"fresh-3-5", span + 3}, {"by-hand", 99}};
        for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
            fw_log_pred_found f = {0};
            const char *r = want[k].rid ? want[k].rid : rid;
            CHECK_OK(fw_store_log_get_prediction(l, r, "spam", 3, &f, &err));
            CHECK_MSG(f.ts_ms == want[k].ts, "%s: ts %lld", r, (long long)f.ts_ms);
            fw_log_pred_found_free(&f);
        }
        fw_log_feedback_row fb[3] = {{rid, 5000, "1", NULL, NAN, "test", false, false},
                                     {"by-hand", 5001, "1", NULL, NAN, "test", false, false},
                                     {"no-such-request", 5002, "1", NULL, NAN, "test", false, false}};
        CHECK_OK(fw_store_log_put_feedback(l, fb, 3, &err));
        CHECK(fb[0].matched);
        CHECK(fb[1].matched);
        CHECK(!fb[2].matched);
        fw_store_log_close(l);
    }
    fw_store_close(s);
}

/* A new log.db gets FW_LOG_DB_PAGE_SIZE pages (its auto_vacuum and WAL as before); a log.db created
 * with 4 KiB pages (every file before session 14, SQLite's default) is migrated, keeps its pages
 * (a WAL file's page size is fixed) and takes predictions, lookups by request id and feedback
 * joins as a new one does. */
static void test_page_size(void) {
    fw_store *s;
    sqlite3 *log;
    if (!open_both("page-new", &s, &log)) return;
    CHECK_EQ(DB_INT(log, "PRAGMA page_size"), FW_LOG_DB_PAGE_SIZE);
    CHECK_EQ(DB_INT(log, "PRAGMA auto_vacuum"), 2);
    CHECK_EQ(DB_INT(log, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    sqlite3_close(log);
    fw_store_close(s);
    if (!open_both("page-4k", &s, &log)) return;
    sqlite3_close(log);
    char path[700];
    snprintf(path, sizeof path, "%s/log.db", fw_store_home(s));
    fw_test_sh(NULL, "rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
    sqlite3 *old = NULL;
    CHECK_EQ(sqlite3_open_v2(path, &old, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(old, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t(x); DROP TABLE t",
                          NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(old);
    fw_err err;
    log = NULL;
    CHECK_OK(fw_log_db_open(fw_store_home(s), 1000, &log, &err));
    if (!log) {
        fw_store_close(s);
        return;
    }
    CHECK_EQ(DB_INT(log, "PRAGMA page_size"), 4096);
    CHECK_EQ(DB_INT(log, "SELECT value FROM fw_meta WHERE key = 'log_schema_version'"), FW_LOG_DB_SCHEMA_VERSION);
    sqlite3_close(log);
    fw_store_log *l = NULL;
    CHECK_OK(fw_store_log_open(fw_store_home(s), &l, &err));
    if (!l) {
        fw_store_close(s);
        return;
    }
    enum { N = 20000, BATCH = 1000 };
    static char rids[BATCH][48];
    fw_log_pred_row rows[BATCH];
    for (int b = 0; b < N / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            rid_of((uint64_t)(b * BATCH + i), rids[i]);
            rows[i] = (fw_log_pred_row){rids[i], 1000 + b * BATCH + i, "spam", 3, "{}", 2, "[1]", 3, 10, "model"};
        }
        CHECK_OK(fw_store_log_put_predictions(l, rows, BATCH, &err));
    }
    static const int probe[] = {0, 16383, 16384, N - 1};
    for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
        char rid[48];
        rid_of((uint64_t)probe[k], rid);
        fw_log_pred_found f = {0};
        CHECK_OK(fw_store_log_get_prediction(l, rid, "spam", 3, &f, &err));
        CHECK_EQ(f.ts_ms, 1000 + probe[k]);
        fw_log_pred_found_free(&f);
    }
    char known[48];
    rid_of(123, known);
    fw_log_feedback_row fb[2] = {{known, 5000, "1", NULL, NAN, "test", false, false},
                                 {"no-such-request", 5001, "1", NULL, NAN, "test", false, false}};
    CHECK_OK(fw_store_log_put_feedback(l, fb, 2, &err));
    CHECK(fb[0].matched);
    CHECK(!fb[1].matched);
    fw_store_log_close(l);
    if ((log = open_file(fw_store_home(s), "log.db"))) {
        CHECK_EQ(DB_INT(log, "PRAGMA page_size"), 4096);
        CHECK_EQ(DB_INT(log, "SELECT count(*) FROM prediction_log"), N);
        sqlite3_close(log);
    }
    fw_store_close(s);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_new_file);
    TEST_RUN(test_registry_write_not_blocked_by_log);
    TEST_RUN(test_legacy_store_migrates);
    TEST_RUN(test_interrupted_move_repeats_cleanly);
    TEST_RUN(test_newer_log_schema_refused);
    TEST_RUN(test_ingest_pages_bounded);
    TEST_RUN(test_lookup_every_segment);
    TEST_RUN(test_schema2_migrates);
    TEST_RUN(test_schema4_migrates);
    TEST_RUN(test_lookup_runs);
    TEST_RUN(test_page_size);
    return fw_test_report(argv[0]);
}
