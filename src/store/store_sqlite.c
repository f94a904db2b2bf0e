/* store_sqlite.c — owns the embedded store back end: SQLite in WAL mode at <home>/flywheel.db
 * (registry, batch jobs, batch answers), schema migrations recorded in fw_meta, BEGIN IMMEDIATE for
 * writes, a busy timeout so concurrent processes queue instead of failing, prepared statements
 * cached per handle; artifacts are files under <home>/artifacts (store.c) and the prediction log is
 * <home>/log.db (log_sqlite.c). Its fw_store_backend claims every home that is not a URL. */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/files.h"
#include "store/log_db.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/store_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 30000

/* Migration i brings the schema from version i to i + 1. Never edit a released entry: append. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE models(\n"
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL);\n"
    "CREATE TABLE versions(\n"
    "  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  version INTEGER NOT NULL,\n"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active','archived','deleted')),\n"
    "  artifact_hash TEXT NOT NULL, artifact_size INTEGER NOT NULL, created_ms INTEGER NOT NULL,\n"
    "  parent_version INTEGER, run_id TEXT, family TEXT, task TEXT,\n"
    "  data_fingerprint TEXT, test_fingerprint TEXT, metric_name TEXT, greater_is_better INTEGER,\n"
    "  metric REAL, baseline_metric REAL, min_improvement REAL,\n"
    "  params_json TEXT, metrics_json TEXT, tags_json TEXT, created_by TEXT,\n"
    "  UNIQUE(model_id, version));\n"
    "CREATE INDEX versions_by_hash ON versions(artifact_hash);\n"
    "CREATE TABLE aliases(\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id), alias TEXT NOT NULL,\n"
    "  version_id INTEGER NOT NULL REFERENCES versions(id), updated_ms INTEGER NOT NULL,\n"
    "  PRIMARY KEY(model_id, alias)) WITHOUT ROWID;\n"
    "CREATE TABLE runs(\n"
    "  run_id TEXT PRIMARY KEY, model_name TEXT, created_ms INTEGER NOT NULL, command TEXT,\n"
    "  user TEXT, record_json TEXT);\n"
    "CREATE TABLE audit_log(\n"
    "  id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, model_name TEXT NOT NULL, version INTEGER,\n"
    "  action TEXT NOT NULL, alias TEXT, from_version INTEGER, to_version INTEGER,\n"
    "  forced INTEGER NOT NULL DEFAULT 0, reason TEXT, command TEXT, user TEXT, pid INTEGER);\n"
    "CREATE INDEX audit_by_model ON audit_log(model_name, id);\n"
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
    "CREATE TABLE batch_runs(\n"
    "  id INTEGER PRIMARY KEY, model_name TEXT NOT NULL, version INTEGER NOT NULL,\n"
    "  started_ms INTEGER NOT NULL, finished_ms INTEGER, input_path TEXT, n_rows INTEGER,\n"
    "  status TEXT NOT NULL);\n"
    "CREATE TABLE batch_predictions(\n"
    "  batch_id INTEGER NOT NULL REFERENCES batch_runs(id), row_index INTEGER NOT NULL,\n"
    "  output_json TEXT NOT NULL, PRIMARY KEY(batch_id, row_index)) WITHOUT ROWID;\n",
    /* 1 -> 2: the prediction log moves to <home>/log.db (store/log_db.h); migrate() copies the rows
     * there first, under this transaction's lock */
    "DROP TABLE IF EXISTS prediction_log;\n"
    "DROP TABLE IF EXISTS feedback;\n"
    "DROP TABLE IF EXISTS feedback_unmatched;\n",
    /* 2 -> 3: batch jobs and answers, created until now by the batch code on first use (IF NOT
     * EXISTS: stores that ran a batch have them) */
    "CREATE TABLE IF NOT EXISTS batch_jobs(\n"
    "  id INTEGER PRIMARY KEY, job TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,\n"
    "  input TEXT, output TEXT, started_ms INTEGER NOT NULL, ended_ms INTEGER,\n"
    "  rows_read INTEGER, rows_scored INTEGER, rows_rejected INTEGER, rows_written INTEGER,\n"
    "  outcome TEXT NOT NULL, exit_code INTEGER, attempts INTEGER, message TEXT);\n"
    "CREATE INDEX IF NOT EXISTS batch_jobs_by_job ON batch_jobs(job, id);\n"
    "CREATE TABLE IF NOT EXISTS batch_answers(\n"
    "  model TEXT NOT NULL, entity_id TEXT NOT NULL, version TEXT NOT NULL, prediction TEXT,\n"
    "  scores_json TEXT, scored_ms INTEGER NOT NULL, run_id INTEGER,\n"
    "  PRIMARY KEY(model, entity_id)) WITHOUT ROWID;\n",
    /* 3 -> 4: the monitors' alarm history (serve/alerts.c writes it, `flywheel monitor --history`
     * reads it; IF NOT EXISTS: a store set back to an older version number re-runs it) */
    "CREATE TABLE IF NOT EXISTS alarms(\n"
    "  id INTEGER PRIMARY KEY, model_name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,\n"
    "  column_name TEXT, statistic TEXT, value REAL, threshold REAL, row_index INTEGER,\n"
    "  raised_ms INTEGER NOT NULL, cleared_ms INTEGER, detail TEXT);\n"
    "CREATE INDEX IF NOT EXISTS alarms_by_model ON alarms(model_name, id);\n",
    /* 4 -> 5: a slice's performance alarm keeps its slice value in a column of its own (it was only
     * in the detail), so clearing one slice clears that slice alone. migrate() skips it when the
     * column is there already (a store set back to an older version number re-runs migrations, and
     * SQLite has no ADD COLUMN IF NOT EXISTS). */
    "ALTER TABLE alarms ADD COLUMN slice TEXT;\n",
};

_Static_assert(sizeof migrations / sizeof *migrations == FW_STORE_SCHEMA_VERSION,
               "FW_STORE_SCHEMA_VERSION (store.h) is the number of migrations");

#define VERSION_COLS                                                                              \
    "m.name, v.version, v.status, v.artifact_hash, v.artifact_size, v.created_ms,"               \
    " v.parent_version, v.run_id, v.family, v.task, v.data_fingerprint, v.test_fingerprint,"     \
    " v.metric_name, v.greater_is_better, v.metric, v.baseline_metric, v.min_improvement,"       \
    " v.params_json, v.metrics_json, v.tags_json, v.created_by"

/* Cached statements, prepared on first use. */
enum {
    Q_BEGIN_R, Q_BEGIN_W, Q_COMMIT, Q_ROLLBACK,
    Q_MODEL_GET, Q_MODEL_INSERT, Q_NEXT_VERSION, Q_VERSION_INSERT, Q_VERSION_GET, Q_VERSION_LATEST,
    Q_VERSION_LATEST_ANY, Q_VERSION_LIST, Q_VERSION_STATUS, Q_ARTIFACT_REFS, Q_MODEL_LIST,
    Q_ALIAS_SET, Q_ALIAS_GET, Q_ALIAS_REMOVE, Q_ALIAS_LIST, Q_RUN_INSERT, Q_RUN_GET,
    Q_AUDIT_INSERT, Q_AUDIT_LIST, Q_AUDIT_LIST_ALL,
    Q_ALARM_INSERT, Q_ALARM_CLEAR, Q_ALARM_LIST,
    Q_BATCH_BEGIN, Q_BATCH_FINISH, Q_BATCH_PRED_INSERT,
    Q_JOB_BEGIN, Q_JOB_UPDATE, Q_JOB_HISTORY, Q_ANSWER_PUT, Q_ANSWER_GET, Q_ANSWER_COUNT,
    Q_SETTING_GET, Q_SETTING_ADD,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN_R] = "BEGIN DEFERRED",
    [Q_BEGIN_W] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_MODEL_GET] = "SELECT id FROM models WHERE name = ?1",
    [Q_MODEL_INSERT] = "INSERT INTO models(name, created_ms) VALUES(?1, ?2)",
    [Q_NEXT_VERSION] = "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE model_id = ?1",
    [Q_VERSION_INSERT] =
        "INSERT INTO versions(model_id, version, status, artifact_hash, artifact_size, created_ms,"
        " parent_version, run_id, family, task, data_fingerprint, test_fingerprint, metric_name,"
        " greater_is_better, metric, baseline_metric, min_improvement, params_json, metrics_json,"
        " tags_json, created_by)"
        " VALUES(?1, ?2, 'active', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " ?17, ?18, ?19, ?20)",
    [Q_VERSION_GET] = "SELECT " VERSION_COLS " FROM versions v JOIN models m ON m.id = v.model_id"
                      " WHERE m.name = ?1 AND v.version = ?2",
    [Q_VERSION_LATEST] = "SELECT MAX(v.version) FROM versions v JOIN models m ON m.id = v.model_id"
                         " WHERE m.name = ?1 AND v.status = 'active'",
    [Q_VERSION_LATEST_ANY] = "SELECT MAX(v.version) FROM versions v JOIN models m ON m.id = v.model_id"
                             " WHERE m.name = ?1",
    [Q_VERSION_LIST] = "SELECT " VERSION_COLS " FROM versions v JOIN models m ON m.id = v.model_id"
                       " WHERE m.name = ?1 ORDER BY v.version",
    [Q_VERSION_STATUS] = "UPDATE versions SET status = ?3 WHERE version = ?2 AND model_id ="
                         " (SELECT id FROM models WHERE name = ?1)",
    [Q_ARTIFACT_REFS] = "SELECT COUNT(*) FROM versions WHERE artifact_hash = ?1 AND status != 'deleted'",
    [Q_MODEL_LIST] =
        "SELECT m.name, m.created_ms,"
        " (SELECT COUNT(*) FROM versions v WHERE v.model_id = m.id AND v.status != 'deleted'),"
        " (SELECT MAX(v.version) FROM versions v WHERE v.model_id = m.id AND v.status != 'deleted'),"
        " (SELECT group_concat(x, ',') FROM (SELECT a.alias || '=' || v.version AS x FROM aliases a"
        "   JOIN versions v ON v.id = a.version_id WHERE a.model_id = m.id ORDER BY a.alias))"
        " FROM models m ORDER BY m.name",
    [Q_ALIAS_SET] = "INSERT INTO aliases(model_id, alias, version_id, updated_ms)"
                    " SELECT m.id, ?2, v.id, ?4 FROM models m JOIN versions v ON v.model_id = m.id"
                    " WHERE m.name = ?1 AND v.version = ?3"
                    " ON CONFLICT(model_id, alias) DO UPDATE SET version_id = excluded.version_id,"
                    " updated_ms = excluded.updated_ms",
    [Q_ALIAS_GET] = "SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id"
                    " JOIN versions v ON v.id = a.version_id WHERE m.name = ?1 AND a.alias = ?2",
    [Q_ALIAS_REMOVE] = "DELETE FROM aliases WHERE alias = ?2 AND model_id = (SELECT id FROM models WHERE name = ?1)",
    [Q_ALIAS_LIST] = "SELECT a.alias, v.version, a.updated_ms FROM aliases a JOIN models m ON m.id = a.model_id"
                     " JOIN versions v ON v.id = a.version_id WHERE m.name = ?1 ORDER BY a.alias",
    [Q_RUN_INSERT] = "INSERT INTO runs(run_id, model_name, created_ms, command, user, record_json)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_RUN_GET] = "SELECT run_id, model_name, created_ms, command, user, record_json FROM runs WHERE run_id = ?1",
    [Q_AUDIT_INSERT] = "INSERT INTO audit_log(ts_ms, model_name, version, action, alias, from_version,"
                       " to_version, forced, reason, command, user, pid)"
                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [Q_AUDIT_LIST] = "SELECT id, ts_ms, model_name, version, action, alias, from_version, to_version,"
                     " forced, reason, command, user, pid FROM audit_log WHERE model_name = ?1 ORDER BY id",
    [Q_AUDIT_LIST_ALL] = "SELECT id, ts_ms, model_name, version, action, alias, from_version, to_version,"
                         " forced, reason, command, user, pid FROM audit_log ORDER BY id",
    [Q_ALARM_INSERT] = "INSERT INTO alarms(model_name, version, kind, column_name, statistic, value, threshold,"
                       " row_index, raised_ms, cleared_ms, detail, slice)"
                       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [Q_ALARM_CLEAR] = "UPDATE alarms SET cleared_ms = ?5 WHERE model_name = ?1 AND version = ?2 AND kind = ?3"
                      " AND column_name IS ?4 AND slice IS ?6 AND cleared_ms IS NULL",
    /* the newest ?2 (all when -1) of a model's alarms (all models' when ?1 is NULL), oldest first */
    [Q_ALARM_LIST] = "SELECT * FROM (SELECT id, model_name, version, kind, column_name, statistic, value, threshold,"
                     " row_index, raised_ms, cleared_ms, detail, slice FROM alarms WHERE ?1 IS NULL OR model_name = ?1"
                     " ORDER BY id DESC LIMIT ?2) ORDER BY id",
    [Q_BATCH_BEGIN] = "INSERT INTO batch_runs(model_name, version, started_ms, input_path, status)"
                      " VALUES(?1, ?2, ?3, ?4, 'running')",
    [Q_BATCH_FINISH] = "UPDATE batch_runs SET finished_ms = ?2, n_rows = ?3, status = ?4 WHERE id = ?1",
    [Q_BATCH_PRED_INSERT] = "INSERT INTO batch_predictions(batch_id, row_index, output_json) VALUES(?1, ?2, ?3)",
    [Q_JOB_BEGIN] = "INSERT INTO batch_jobs(job, model, version, input, output, started_ms, ended_ms, rows_read,"
                    " rows_scored, rows_rejected, rows_written, outcome, exit_code, attempts, message)"
                    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
    [Q_JOB_UPDATE] = "UPDATE batch_jobs SET job=?1, model=?2, version=?3, input=?4, output=?5, started_ms=?6,"
                     " ended_ms=?7, rows_read=?8, rows_scored=?9, rows_rejected=?10, rows_written=?11, outcome=?12,"
                     " exit_code=?13, attempts=?14, message=?15 WHERE id=?16",
    [Q_JOB_HISTORY] = "SELECT id, job, model, version, input, output, started_ms, ended_ms, rows_read, rows_scored,"
                      " rows_rejected, rows_written, outcome, exit_code, attempts, message FROM batch_jobs"
                      " WHERE ?1 IS NULL OR job = ?1 OR model = ?1 ORDER BY id DESC LIMIT ?2",
    [Q_ANSWER_PUT] = "INSERT OR REPLACE INTO batch_answers(model, entity_id, version, prediction, scores_json,"
                     " scored_ms, run_id) VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [Q_ANSWER_GET] = "SELECT version, prediction, scores_json, scored_ms, run_id FROM batch_answers"
                     " WHERE model = ?1 AND entity_id = ?2",
    [Q_ANSWER_COUNT] = "SELECT count(*) FROM batch_answers WHERE model = ?1",
    [Q_SETTING_GET] = "SELECT value FROM fw_meta WHERE key = ?1",
    [Q_SETTING_ADD] = "INSERT OR IGNORE INTO fw_meta(key, value) VALUES(?1, ?2)",
};

typedef struct sqlite_store {
    fw_store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[Q_COUNT];
    int schema;
    bool in_tx;
} sqlite_store;

static sqlite_store *S(fw_store *s) { return (sqlite_store *)s; }

static fw_status db_error(sqlite_store *s, fw_err *err, const char *what) {
    int code = sqlite3_extended_errcode(s->db);
    fw_status st = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? FW_EBUSY
                   : (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB ? FW_ECORRUPT
                   : (code & 0xff) == SQLITE_FULL || (code & 0xff) == SQLITE_IOERR ? FW_EIO
                   : FW_ESTORE;
    return fw_err_set(err, st, "store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* The cached statement q, reset and with bindings cleared. NULL with err set on failure. */
static sqlite3_stmt *stmt(sqlite_store *s, int q, fw_err *err) {
    if (!s->stmt[q]) {
        if (sqlite3_prepare_v3(s->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q], NULL) != SQLITE_OK) {
            db_error(s, err, "prepare");
            return NULL;
        }
    } else {
        sqlite3_reset(s->stmt[q]);
        sqlite3_clear_bindings(s->stmt[q]);
    }
    return s->stmt[q];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}
static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}
static char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? fw_strdup((const char *)t) : NULL;
}
static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Runs a statement that returns no rows. */
static fw_status step_done(sqlite_store *s, sqlite3_stmt *st, fw_err *err, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, what);
    return FW_OK;
}

static fw_status exec(sqlite_store *s, const char *sql, fw_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fw_status st = db_error(s, err, "exec");
        sqlite3_free(msg);
        return st;
    }
    return FW_OK;
}

/* ---- transactions --------------------------------------------------------------------------- */
static fw_status sq_begin(fw_store *b, bool write, fw_err *err) {
    sqlite_store *s = S(b);
    if (s->in_tx) return fw_err_set(err, FW_EINVAL, "store: transaction already open");
    sqlite3_stmt *st = stmt(s, write ? Q_BEGIN_W : Q_BEGIN_R, err);
    if (!st) return err ? err->status : FW_ESTORE;
    fw_status rc = step_done(s, st, err, "begin");
    if (rc == FW_OK) s->in_tx = true;
    return rc;
}

static fw_status sq_commit(fw_store *b, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_COMMIT, err);
    if (!st) return err ? err->status : FW_ESTORE;
    fw_status rc = step_done(s, st, err, "commit");
    if (rc == FW_OK)
        s->in_tx = false;
    else
        b->ops->rollback(b);
    return rc;
}

static void sq_rollback(fw_store *b) {
    sqlite_store *s = S(b);
    if (!s->in_tx) return;
    /* reset every cached statement so none holds the transaction open */
    for (int i = 0; i < Q_COUNT; i++)
        if (s->stmt[i]) sqlite3_reset(s->stmt[i]);
    if (sqlite3_get_autocommit(s->db) == 0) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = false;
}

static int sq_schema_version(fw_store *b) { return S(b)->schema; }

/* ---- versions ------------------------------------------------------------------------------- */
static fw_status model_id(sqlite_store *s, const char *name, int64_t *id, fw_err *err) {
    sqlite3_stmt *st = stmt(s, Q_MODEL_GET, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return FW_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, "find model");
    return fw_err_set(err, FW_ENOTFOUND, "no model named '%s'", name);
}

static fw_status sq_version_insert(fw_store *b, fw_version_rec *v, fw_err *err) {
    sqlite_store *s = S(b);
    int64_t mid = 0;
    fw_status rc = model_id(s, v->name, &mid, err);
    if (rc == FW_ENOTFOUND) {
        sqlite3_stmt *st = stmt(s, Q_MODEL_INSERT, err);
        if (!st) return err->status;
        bind_text(st, 1, v->name);
        sqlite3_bind_int64(st, 2, v->created_ms);
        if ((rc = step_done(s, st, err, "insert model"))) return rc;
        mid = sqlite3_last_insert_rowid(s->db);
    } else if (rc) {
        return rc;
    }
    sqlite3_stmt *st = stmt(s, Q_NEXT_VERSION, err);
    if (!st) return err->status;
    sqlite3_bind_int64(st, 1, mid);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_error(s, err, "next version");
    }
    v->version = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (!(st = stmt(s, Q_VERSION_INSERT, err))) return err->status;
    sqlite3_bind_int64(st, 1, mid);
    sqlite3_bind_int64(st, 2, v->version);
    bind_text(st, 3, v->artifact_hash);
    sqlite3_bind_int64(st, 4, v->artifact_size);
    sqlite3_bind_int64(st, 5, v->created_ms);
    if (v->parent_version > 0)
        sqlite3_bind_int64(st, 6, v->parent_version);
    else
        sqlite3_bind_null(st, 6);
    bind_text(st, 7, v->run_id);
    bind_text(st, 8, v->family);
    bind_text(st, 9, v->task);
    bind_text(st, 10, v->data_fp);
    bind_text(st, 11, v->test_fp);
    bind_text(st, 12, v->metric_name);
    sqlite3_bind_int(st, 13, v->greater_is_better);
    bind_real(st, 14, v->metric);
    bind_real(st, 15, v->baseline_metric);
    bind_real(st, 16, v->min_improvement);
    bind_text(st, 17, v->params_json);
    bind_text(st, 18, v->metrics_json);
    bind_text(st, 19, v->tags_json);
    bind_text(st, 20, v->created_by);
    return step_done(s, st, err, "insert version");
}

static fw_status read_version(sqlite3_stmt *st, fw_version_rec *v) {
    memset(v, 0, sizeof *v);
    v->name = col_text(st, 0);
    v->version = sqlite3_column_int64(st, 1);
    v->status = col_text(st, 2);
    v->artifact_hash = col_text(st, 3);
    v->artifact_size = sqlite3_column_int64(st, 4);
    v->created_ms = sqlite3_column_int64(st, 5);
    v->parent_version = sqlite3_column_int64(st, 6);
    v->run_id = col_text(st, 7);
    v->family = col_text(st, 8);
    v->task = col_text(st, 9);
    v->data_fp = col_text(st, 10);
    v->test_fp = col_text(st, 11);
    v->metric_name = col_text(st, 12);
    v->greater_is_better = sqlite3_column_int(st, 13);
    v->metric = col_real(st, 14);
    v->baseline_metric = col_real(st, 15);
    v->min_improvement = col_real(st, 16);
    v->params_json = col_text(st, 17);
    v->metrics_json = col_text(st, 18);
    v->tags_json = col_text(st, 19);
    v->created_by = col_text(st, 20);
    if (!v->name || !v->status || !v->artifact_hash) {
        fw_version_rec_free(v);
        return FW_ENOMEM;
    }
    return FW_OK;
}

static fw_status sq_version_get(fw_store *b, const char *name, int64_t version, fw_version_rec *out,
                                fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_VERSION_GET, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        fw_status r = read_version(st, out);
        sqlite3_reset(st);
        return r ? fw_err_set(err, r, "out of memory") : FW_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, "get version");
    return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
}

static fw_status sq_version_latest(fw_store *b, const char *name, bool any, int64_t *out, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, any ? Q_VERSION_LATEST_ANY : Q_VERSION_LATEST, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_error(s, err, "latest version");
    }
    bool null = sqlite3_column_type(st, 0) == SQLITE_NULL;
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (null) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no %sversions", name, any ? "" : "active ");
    return FW_OK;
}

static fw_status sq_version_list(fw_store *b, const char *name, fw_version_rec **out, size_t *n,
                                 fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, Q_VERSION_LIST, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    fw_version_rec *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&v, &cap, cnt + 1) || read_version(st, &v[cnt])) {
            sqlite3_reset(st);
            for (size_t i = 0; i < cnt; i++) fw_version_rec_free(&v[i]);
            fw_free(v);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        cnt++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < cnt; i++) fw_version_rec_free(&v[i]);
        fw_free(v);
        return db_error(s, err, "list versions");
    }
    *out = v;
    *n = cnt;
    return FW_OK;
}

static fw_status sq_version_set_status(fw_store *b, const char *name, int64_t version, const char *status,
                                       fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_VERSION_STATUS, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, version);
    bind_text(st, 3, status);
    fw_status rc = step_done(s, st, err, "set status");
    if (rc) return rc;
    if (sqlite3_changes(s->db) == 0)
        return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
    return FW_OK;
}

static fw_status sq_artifact_refs(fw_store *b, const char *hash, int64_t *out, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ARTIFACT_REFS, err);
    if (!st) return err->status;
    bind_text(st, 1, hash);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_error(s, err, "count artifact references");
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return FW_OK;
}

static fw_status sq_model_exists(fw_store *b, const char *name, bool *out, fw_err *err) {
    int64_t id;
    fw_status rc = model_id(S(b), name, &id, err);
    *out = rc == FW_OK;
    return rc == FW_ENOTFOUND ? FW_OK : rc;
}

static fw_status sq_model_list(fw_store *b, fw_model_summary **out, size_t *n, fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, Q_MODEL_LIST, err);
    if (!st) return err->status;
    fw_model_summary *m = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&m, &cap, cnt + 1)) break;
        fw_model_summary *e = &m[cnt++];
        e->name = col_text(st, 0);
        e->created_ms = sqlite3_column_int64(st, 1);
        e->n_versions = sqlite3_column_int64(st, 2);
        e->latest_version = sqlite3_column_int64(st, 3);
        e->aliases = col_text(st, 4);
        if (!e->name) break;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        fw_model_summaries_free(m, cnt);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (rc != SQLITE_DONE) {
        fw_model_summaries_free(m, cnt);
        return db_error(s, err, "list models");
    }
    *out = m;
    *n = cnt;
    return FW_OK;
}

/* ---- aliases -------------------------------------------------------------------------------- */
static fw_status sq_alias_set(fw_store *b, const char *name, const char *alias, int64_t version, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ALIAS_SET, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    bind_text(st, 2, alias);
    sqlite3_bind_int64(st, 3, version);
    sqlite3_bind_int64(st, 4, fw_wall_unix_ms());
    fw_status rc = step_done(s, st, err, "set alias");
    if (rc) return rc;
    if (sqlite3_changes(s->db) == 0)
        return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
    return FW_OK;
}

static fw_status sq_alias_get(fw_store *b, const char *name, const char *alias, int64_t *version, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ALIAS_GET, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    bind_text(st, 2, alias);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return FW_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, "get alias");
    return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no alias '%s'", name, alias);
}

static fw_status sq_alias_remove(fw_store *b, const char *name, const char *alias, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ALIAS_REMOVE, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    bind_text(st, 2, alias);
    fw_status rc = step_done(s, st, err, "remove alias");
    if (rc) return rc;
    if (sqlite3_changes(s->db) == 0)
        return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no alias '%s'", name, alias);
    return FW_OK;
}

static fw_status sq_alias_list(fw_store *b, const char *name, fw_alias_rec **out, size_t *n, fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, Q_ALIAS_LIST, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    fw_alias_rec *a = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&a, &cap, cnt + 1)) break;
        a[cnt].alias = col_text(st, 0);
        a[cnt].version = sqlite3_column_int64(st, 1);
        a[cnt].updated_ms = sqlite3_column_int64(st, 2);
        if (!a[cnt++].alias) break;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fw_alias_recs_free(a, cnt);
        return rc == SQLITE_ROW ? fw_err_set(err, FW_ENOMEM, "out of memory") : db_error(s, err, "list aliases");
    }
    *out = a;
    *n = cnt;
    return FW_OK;
}

/* ---- runs and audit ------------------------------------------------------------------------- */
static fw_status sq_run_insert(fw_store *b, const fw_run_rec *r, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_RUN_INSERT, err);
    if (!st) return err->status;
    bind_text(st, 1, r->run_id);
    bind_text(st, 2, r->name);
    sqlite3_bind_int64(st, 3, r->created_ms);
    bind_text(st, 4, r->command);
    bind_text(st, 5, r->user);
    bind_text(st, 6, r->record_json);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fw_err_set(err, FW_EEXIST, "run '%s' is already recorded", r->run_id);
    if (rc != SQLITE_DONE) return db_error(s, err, "insert run");
    return FW_OK;
}

static fw_status sq_run_get(fw_store *b, const char *run_id, fw_run_rec *out, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_RUN_GET, err);
    if (!st) return err->status;
    bind_text(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->run_id = col_text(st, 0);
        out->name = col_text(st, 1);
        out->created_ms = sqlite3_column_int64(st, 2);
        out->command = col_text(st, 3);
        out->user = col_text(st, 4);
        out->record_json = col_text(st, 5);
        sqlite3_reset(st);
        return FW_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_error(s, err, "get run");
    return fw_err_set(err, FW_ENOTFOUND, "no run '%s'", run_id);
}

static void bind_opt_version(sqlite3_stmt *st, int i, int64_t v) {
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static fw_status sq_audit_append(fw_store *b, const fw_audit_rec *a, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_AUDIT_INSERT, err);
    if (!st) return err->status;
    sqlite3_bind_int64(st, 1, a->ts_ms);
    bind_text(st, 2, a->name);
    bind_opt_version(st, 3, a->version);
    bind_text(st, 4, a->action);
    bind_text(st, 5, a->alias);
    bind_opt_version(st, 6, a->from_version);
    bind_opt_version(st, 7, a->to_version);
    sqlite3_bind_int(st, 8, a->forced);
    bind_text(st, 9, a->reason);
    bind_text(st, 10, a->command);
    bind_text(st, 11, a->user);
    sqlite3_bind_int64(st, 12, a->pid);
    return step_done(s, st, err, "append audit entry");
}

static fw_status sq_audit_list(fw_store *b, const char *name, fw_audit_rec **out, size_t *n, fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, name ? Q_AUDIT_LIST : Q_AUDIT_LIST_ALL, err);
    if (!st) return err->status;
    if (name) bind_text(st, 1, name);
    fw_audit_rec *a = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&a, &cap, cnt + 1)) break;
        fw_audit_rec *e = &a[cnt++];
        memset(e, 0, sizeof *e);
        e->id = sqlite3_column_int64(st, 0);
        e->ts_ms = sqlite3_column_int64(st, 1);
        e->name = col_text(st, 2);
        e->version = sqlite3_column_int64(st, 3);
        e->action = col_text(st, 4);
        e->alias = col_text(st, 5);
        e->from_version = sqlite3_column_int64(st, 6);
        e->to_version = sqlite3_column_int64(st, 7);
        e->forced = sqlite3_column_int(st, 8);
        e->reason = col_text(st, 9);
        e->command = col_text(st, 10);
        e->user = col_text(st, 11);
        e->pid = sqlite3_column_int64(st, 12);
        if (!e->name || !e->action) break;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fw_audit_recs_free(a, cnt);
        return rc == SQLITE_ROW ? fw_err_set(err, FW_ENOMEM, "out of memory") : db_error(s, err, "list audit log");
    }
    *out = a;
    *n = cnt;
    return FW_OK;
}

/* ---- alarm history -------------------------------------------------------------------------- */
static fw_status sq_alarm_raise(fw_store *b, fw_alarm_rec *a, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ALARM_INSERT, err);
    if (!st) return err->status;
    bind_text(st, 1, a->model);
    sqlite3_bind_int64(st, 2, a->version);
    bind_text(st, 3, a->kind);
    bind_text(st, 4, a->column && a->column[0] ? a->column : NULL);
    bind_text(st, 5, a->statistic);
    bind_real(st, 6, a->value);
    bind_real(st, 7, a->threshold);
    sqlite3_bind_int64(st, 8, a->row);
    sqlite3_bind_int64(st, 9, a->raised_ms);
    bind_opt_version(st, 10, a->cleared_ms);
    bind_text(st, 11, a->detail);
    bind_text(st, 12, a->slice && a->slice[0] ? a->slice : NULL);
    fw_status rc = step_done(s, st, err, "record alarm");
    if (rc == FW_OK) a->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static fw_status sq_alarm_clear(fw_store *b, const char *model, int64_t version, const char *kind, const char *column,
                                const char *slice, int64_t cleared_ms, int64_t *n_cleared, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ALARM_CLEAR, err);
    if (!st) return err->status;
    bind_text(st, 1, model);
    sqlite3_bind_int64(st, 2, version);
    bind_text(st, 3, kind);
    bind_text(st, 4, column && column[0] ? column : NULL);
    sqlite3_bind_int64(st, 5, cleared_ms);
    bind_text(st, 6, slice && slice[0] ? slice : NULL);
    fw_status rc = step_done(s, st, err, "clear alarm");
    if (rc == FW_OK && n_cleared) *n_cleared = sqlite3_changes(s->db);
    return rc;
}

static fw_status sq_alarm_list(fw_store *b, const char *model, size_t limit, fw_alarm_rec **out, size_t *n,
                               fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, Q_ALARM_LIST, err);
    if (!st) return err->status;
    bind_text(st, 1, model);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    fw_alarm_rec *a = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&a, &cap, cnt + 1)) break;
        fw_alarm_rec *e = &a[cnt++];
        memset(e, 0, sizeof *e);
        e->id = sqlite3_column_int64(st, 0);
        e->model = col_text(st, 1);
        e->version = sqlite3_column_int64(st, 2);
        e->kind = col_text(st, 3);
        e->column = col_text(st, 4);
        e->statistic = col_text(st, 5);
        e->value = col_real(st, 6);
        e->threshold = col_real(st, 7);
        e->row = sqlite3_column_int64(st, 8);
        e->raised_ms = sqlite3_column_int64(st, 9);
        e->cleared_ms = sqlite3_column_int64(st, 10);
        e->detail = col_text(st, 11);
        e->slice = col_text(st, 12);
        if (!e->model || !e->kind) break;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fw_alarm_recs_free(a, cnt);
        return rc == SQLITE_ROW ? fw_err_set(err, FW_ENOMEM, "out of memory") : db_error(s, err, "list alarms");
    }
    *out = a;
    *n = cnt;
    return FW_OK;
}

/* ---- artifacts (files) ---------------------------------------------------------------------- */
static fw_status sq_artifact_put(fw_store *b, const void *data, size_t len, char hash_out[33], fw_err *err) {
    return fw__fs_artifact_put(b->home, data, len, hash_out, err);
}
static fw_status sq_artifact_read(fw_store *b, const char *hash, uint8_t **out, size_t *len, fw_err *err) {
    return fw__fs_artifact_read(b->home, hash, out, len, err);
}
static fw_status sq_artifact_remove(fw_store *b, const char *hash, fw_err *err) {
    return fw__fs_artifact_remove(b->home, hash, err);
}
static fw_status sq_artifact_has(fw_store *b, const char *hash, size_t len, fw_err *err) {
    return fw__fs_artifact_has(b->home, hash, len, err);
}
static fw_status sq_artifact_map(fw_store *b, const char *hash, const void **data, size_t *len, fw_err *err) {
    return fw__fs_artifact_map(b->home, hash, data, len, err);
}
static void sq_artifact_unmap(fw_store *b, const void *data, size_t len) { fw__fs_artifact_unmap(data, len); }
static void sq_artifact_where(const fw_store *b, const char *hash, char *out, size_t size) {
    fw__artifact_path(b->home, hash, out, size);
}
static fw_status sq_artifact_leftovers(fw_store *b, bool remove, fw_buf *report, size_t *n, fw_err *err) {
    return fw__fs_artifact_leftovers(b->home, remove, report, n, err);
}
static fw_status sq_artifact_list(fw_store *b, char ***hashes, size_t *n, fw_err *err) {
    return fw__fs_artifact_list(b->home, hashes, n, err);
}

/* ---- server and batch ----------------------------------------------------------------------- */
static fw_status sq_batch_run_begin(fw_store *b, const char *name, int64_t version, const char *input_path,
                                    int64_t *batch_id, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_BATCH_BEGIN, err);
    if (!st) return err->status;
    bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_int64(st, 3, fw_wall_unix_ms());
    bind_text(st, 4, input_path);
    fw_status rc = step_done(s, st, err, "begin batch run");
    if (rc == FW_OK) *batch_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static fw_status sq_batch_run_finish(fw_store *b, int64_t batch_id, int64_t n_rows, const char *status,
                                     fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_BATCH_FINISH, err);
    if (!st) return err->status;
    sqlite3_bind_int64(st, 1, batch_id);
    sqlite3_bind_int64(st, 2, fw_wall_unix_ms());
    sqlite3_bind_int64(st, 3, n_rows);
    bind_text(st, 4, status);
    return step_done(s, st, err, "finish batch run");
}

static fw_status sq_batch_predictions_insert(fw_store *b, int64_t batch_id, const int64_t *row_index,
                                             const char *const *output_json, size_t n, fw_err *err) {
    sqlite_store *s = S(b);
    bool own = !s->in_tx;
    fw_status rc;
    if (own && (rc = sq_begin(b, true, err))) return rc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, Q_BATCH_PRED_INSERT, err);
        if (!st) {
            rc = err->status;
            goto fail;
        }
        sqlite3_bind_int64(st, 1, batch_id);
        sqlite3_bind_int64(st, 2, row_index[i]);
        bind_text(st, 3, output_json[i]);
        if ((rc = step_done(s, st, err, "insert batch prediction"))) goto fail;
    }
    return own ? sq_commit(b, err) : FW_OK;
fail:
    if (own) sq_rollback(b);
    return rc;
}

/* ---- batch jobs and answers ------------------------------------------------------------------ */
static void bind_job(sqlite3_stmt *s, const fw_batch_run_rec *r) {
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

static void col_fixed(sqlite3_stmt *s, int i, char *out, size_t cap) {
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static fw_status sq_batch_job_begin(fw_store *b, fw_batch_run_rec *r, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_JOB_BEGIN, err);
    if (!st) return err->status;
    bind_job(st, r);
    fw_status rc = step_done(s, st, err, "recording the batch run");
    if (rc == FW_OK) r->run_id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static fw_status sq_batch_job_update(fw_store *b, const fw_batch_run_rec *r, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_JOB_UPDATE, err);
    if (!st) return err->status;
    bind_job(st, r);
    sqlite3_bind_int64(st, 16, r->run_id);
    return step_done(s, st, err, "updating the batch run");
}

static fw_status sq_batch_history(fw_store *b, const char *filter, size_t limit, fw_batch_run_rec **out, size_t *n,
                                  fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_JOB_HISTORY, err);
    if (!st) return err->status;
    if (filter) sqlite3_bind_text(st, 1, filter, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    fw_batch_run_rec *v = NULL;
    size_t cap = 0, k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (FW_GROW(&v, &cap, k + 1)) {
            sqlite3_reset(st);
            fw_free(v);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        fw_batch_run_rec *r = &v[k++];
        memset(r, 0, sizeof *r);
        r->run_id = sqlite3_column_int64(st, 0);
        col_fixed(st, 1, r->job, sizeof r->job);
        col_fixed(st, 2, r->model, sizeof r->model);
        col_fixed(st, 3, r->version, sizeof r->version);
        col_fixed(st, 4, r->input, sizeof r->input);
        col_fixed(st, 5, r->output, sizeof r->output);
        r->started_ms = sqlite3_column_int64(st, 6);
        r->ended_ms = sqlite3_column_int64(st, 7);
        r->rows_read = (uint64_t)sqlite3_column_int64(st, 8);
        r->rows_scored = (uint64_t)sqlite3_column_int64(st, 9);
        r->rows_rejected = (uint64_t)sqlite3_column_int64(st, 10);
        r->rows_written = (uint64_t)sqlite3_column_int64(st, 11);
        col_fixed(st, 12, r->outcome, sizeof r->outcome);
        r->exit_code = sqlite3_column_int(st, 13);
        r->attempts = sqlite3_column_int(st, 14);
        col_fixed(st, 15, r->message, sizeof r->message);
    }
    if (rc != SQLITE_DONE) {
        fw_status e = db_error(s, err, "reading the batch history");
        sqlite3_reset(st);
        fw_free(v);
        return e;
    }
    sqlite3_reset(st);
    *out = v;
    *n = k;
    return FW_OK;
}

static fw_status sq_answer_put(fw_store *b, const char *model, const char *entity_id, size_t entity_len,
                               const char *version, const char *prediction, size_t prediction_len,
                               const char *scores_json, size_t scores_len, int64_t scored_ms, int64_t run_id,
                               fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ANSWER_PUT, err);
    if (!st) return err->status;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, entity_id, (int)entity_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, prediction, (int)prediction_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, scores_json, (int)scores_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, scored_ms);
    sqlite3_bind_int64(st, 7, run_id);
    return step_done(s, st, err, "storing batch answers");
}

static fw_status sq_answer_get(fw_store *b, const char *model, const char *entity, size_t entity_len,
                               fw_batch_answer *out, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ANSWER_GET, err);
    if (!st) return err->status;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, entity, (int)entity_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    fw_status res = FW_OK;
    if (rc == SQLITE_ROW) {
        col_fixed(st, 0, out->version, sizeof out->version);
        const unsigned char *p = sqlite3_column_text(st, 1), *j = sqlite3_column_text(st, 2);
        out->prediction = fw_strdup(p ? (const char *)p : "");
        out->scores_json = fw_strdup(j ? (const char *)j : "null");
        out->scored_ms = sqlite3_column_int64(st, 3);
        out->run_id = sqlite3_column_int64(st, 4);
        if (!out->prediction || !out->scores_json) {
            fw_batch_answer_free(out);
            res = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    } else if (rc == SQLITE_DONE) {
        res = fw_err_set(err, FW_ENOTFOUND, "no precomputed answer for %s / %.*s", model,
                         (int)(entity_len < 200 ? entity_len : 200), entity);
    } else {
        res = db_error(s, err, "reading batch answers");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return res;
}

static fw_status sq_answer_count(fw_store *b, const char *model, int64_t *n, fw_err *err) {
    sqlite_store *s = S(b);
    sqlite3_stmt *st = stmt(s, Q_ANSWER_COUNT, err);
    if (!st) return err->status;
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    fw_status res = rc == SQLITE_ROW ? FW_OK : db_error(s, err, "counting batch answers");
    sqlite3_reset(st);
    return res;
}

/* ---- settings (fw_meta rows beside schema_version) ------------------------------------------- */
/* The value under key: FW_OK with *out, FW_ENOTFOUND, or an error. */
static fw_status setting_get(sqlite_store *s, const char *key, char **out, fw_err *err) {
    sqlite3_stmt *st = stmt(s, Q_SETTING_GET, err);
    if (!st) return err->status;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    fw_status res = FW_ENOTFOUND;
    if (rc == SQLITE_ROW)
        res = (*out = col_text(st, 0)) ? FW_OK : fw_err_set(err, FW_ENOMEM, "out of memory");
    else if (rc != SQLITE_DONE)
        res = db_error(s, err, "reading a setting");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return res;
}

/* Read first (no write lock when the row exists, as on every start but the first); else INSERT OR
 * IGNORE, which keeps a concurrent first writer's row, and read again. */
static fw_status sq_setting_get_or_put(fw_store *b, const char *key, const char *fresh, char **out, fw_err *err) {
    sqlite_store *s = S(b);
    *out = NULL;
    fw_status rc = setting_get(s, key, out, err);
    if (rc != FW_ENOTFOUND) return rc;
    sqlite3_stmt *st = stmt(s, Q_SETTING_ADD, err);
    if (!st) return err->status;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fresh, -1, SQLITE_STATIC);
    rc = step_done(s, st, err, "storing a setting");
    sqlite3_clear_bindings(st);
    if (rc) return rc;
    rc = setting_get(s, key, out, err);
    return rc == FW_ENOTFOUND ? fw_err_set(err, FW_ESTORE, "store %s: setting '%s' not kept", s->path, key) : rc;
}

/* ---- open / close --------------------------------------------------------------------------- */
static void sq_close(fw_store *b) {
    sqlite_store *s = S(b);
    if (!s) return;
    sq_rollback(b);
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    fw_free(s->path);
    fw_free(b->home);
    fw_free(s);
}

static const fw_store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .schema_version = sq_schema_version,
    .version_insert = sq_version_insert,
    .version_get = sq_version_get,
    .version_latest = sq_version_latest,
    .version_list = sq_version_list,
    .version_set_status = sq_version_set_status,
    .artifact_refs = sq_artifact_refs,
    .model_exists = sq_model_exists,
    .model_list = sq_model_list,
    .alias_set = sq_alias_set,
    .alias_get = sq_alias_get,
    .alias_remove = sq_alias_remove,
    .alias_list = sq_alias_list,
    .run_insert = sq_run_insert,
    .run_get = sq_run_get,
    .audit_append = sq_audit_append,
    .audit_list = sq_audit_list,
    .alarm_raise = sq_alarm_raise,
    .alarm_clear = sq_alarm_clear,
    .alarm_list = sq_alarm_list,
    .artifact_put = sq_artifact_put,
    .artifact_read = sq_artifact_read,
    .artifact_remove = sq_artifact_remove,
    .artifact_has = sq_artifact_has,
    .artifact_leftovers = sq_artifact_leftovers,
    .artifact_list = sq_artifact_list,
    .batch_run_begin = sq_batch_run_begin,
    .batch_run_finish = sq_batch_run_finish,
    .batch_predictions_insert = sq_batch_predictions_insert,
    .batch_job_begin = sq_batch_job_begin,
    .batch_job_update = sq_batch_job_update,
    .batch_history = sq_batch_history,
    .answer_put = sq_answer_put,
    .answer_get = sq_answer_get,
    .answer_count = sq_answer_count,
    .setting_get_or_put = sq_setting_get_or_put,
    .artifact_map = sq_artifact_map,
    .artifact_unmap = sq_artifact_unmap,
    .artifact_where = sq_artifact_where,
    /* continual learning (learn_sqlite.c) */
    .learn_scan = fw__sqlite_learn_scan,
    .learn_lock = fw__sqlite_learn_lock,
    .learn_unlock = fw__sqlite_learn_unlock,
};

static int read_schema_version(sqlite_store *s) {
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM fw_meta WHERE key = 'schema_version'", -1, &st, NULL) ==
        SQLITE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        else if (rc == SQLITE_DONE)
            v = 0;
    }
    sqlite3_finalize(st);
    return v;
}

static fw_status newer_schema(sqlite_store *s, int v, int latest, fw_err *err) {
    return fw_err_set(err, FW_EVERSION,
                      "store %s has schema version %d, written by a newer Flywheel; this Flywheel (%s) "
                      "reads up to schema version %d: upgrade Flywheel",
                      s->path, v, FW_VERSION_STRING, latest);
}

/* True when table has a column of that name. */
static bool has_column(sqlite_store *s, const char *table, const char *column) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1", table);
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, column, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

/* Creates fw_meta and applies every migration above the stored version, in one transaction. A store
 * already at the latest schema (or a newer one) is only read: opening never takes the write lock,
 * so it never waits behind a long writer and works on a store the user may only read. */
static fw_status migrate(sqlite_store *s, fw_err *err) {
    fw_status rc;
    int latest = (int)(sizeof migrations / sizeof *migrations);
    int current = read_schema_version(s); /* -1 when there is no fw_meta yet (or it is unreadable) */
    if (current == latest) {
        s->schema = latest;
        return FW_OK;
    }
    if (current > latest) return newer_schema(s, current, latest, err);
    if ((rc = exec(s, "BEGIN IMMEDIATE", err))) return rc;
    if ((rc = exec(s, "CREATE TABLE IF NOT EXISTS fw_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", err)))
        goto fail;
    int v = read_schema_version(s);
    if (v < 0) {
        rc = db_error(s, err, "read schema version");
        goto fail;
    }
    if (v > latest) {
        rc = newer_schema(s, v, latest, err);
        goto fail;
    }
    for (int i = v; i < latest; i++) {
        if (i == 1 && (rc = fw_log_db_adopt_legacy(s->base.home, s->path, err))) {
            fw_err_prefix(err, "moving the prediction log out of the store");
            goto fail;
        }
        if (i == 4 && has_column(s, "alarms", "slice")) continue; /* 4 -> 5 re-run: done already */
        if ((rc = exec(s, migrations[i], err))) {
            fw_err_prefix(err, "migrating the store schema from version %d", i);
            goto fail;
        }
    }
    if (v < latest) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "INSERT INTO fw_meta(key, value) VALUES('schema_version', '%d')"
                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value", latest);
        if ((rc = exec(s, sql, err))) goto fail;
    }
    if ((rc = exec(s, "COMMIT", err))) goto fail;
    s->schema = latest;
    return FW_OK;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* A store file without fw_meta is new only when nothing says a registry was here: an emptied or
 * truncated flywheel.db (0 bytes, or tables but no fw_meta) next to artifact files would silently
 * become an empty registry and orphan every model, so it is refused. */
static fw_status refuse_emptied(sqlite_store *s, const char *home, fw_err *err) {
    if (read_schema_version(s) >= 0) return FW_OK;
    sqlite3_stmt *st = NULL;
    int tables = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (tables > 0)
        return fw_err_set(err, FW_ECORRUPT,
                          "store %s has tables but no fw_meta: it is not a Flywheel store (or it was damaged); "
                          "restore it from a backup or point --home elsewhere", s->path);
    char **h = NULL;
    size_t n = 0;
    fw_err ignore;
    if (fw__fs_artifact_list(home, &h, &n, &ignore) != FW_OK) n = 0;
    for (size_t i = 0; i < n; i++) fw_free(h[i]);
    fw_free(h);
    if (n > 0)
        return fw_err_set(err, FW_ECORRUPT,
                          "store %s is empty but %s/artifacts holds %zu model artifact%s: the registry was emptied or "
                          "truncated; restore flywheel.db from a backup (or move the artifacts away to start a new "
                          "registry)", s->path, home, n, n == 1 ? "" : "s");
    return FW_OK;
}

static fw_status sqlite_open(const char *home, fw_store **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    fw_status rc = fw_mkdirs(home, err);
    if (rc) return rc;
    sqlite_store *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->base.ops = &sqlite_ops;
    s->base.home = fw_strdup(home);
    size_t n = strlen(home) + 16;
    s->path = fw_malloc(n);
    if (!s->base.home || !s->path) {
        sq_close(&s->base);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    snprintf(s->path, n, "%s/flywheel.db", home);
    if ((rc = fw__sqlite_open_wal(s->path, BUSY_TIMEOUT_MS, &s->db, err))) {
        if (rc == FW_ECORRUPT) fw_err_prefix(err, "opening the store");
        sq_close(&s->base);
        return rc;
    }
    if ((rc = refuse_emptied(s, home, err)) || (rc = exec(s, "PRAGMA foreign_keys=ON", err)) ||
        (rc = migrate(s, err))) {
        if (rc == FW_ECORRUPT || rc == FW_ESTORE) fw_err_prefix(err, "opening the store");
        sq_close(&s->base);
        return rc;
    }
    char adir[4096];
    snprintf(adir, sizeof adir, "%s/artifacts", home);
    if ((rc = fw_mkdirs(adir, err))) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return FW_OK;
}

/* Every home that is not a URL (scheme://...) is a directory for SQLite. */
static bool sqlite_claims(const char *home) { return strstr(home, "://") == NULL; }

const fw_store_backend fw_store_sqlite_backend = {
    .name = "sqlite",
    .claims = sqlite_claims,
    .open = sqlite_open,
    .log_open = fw__sqlite_log_open,
    .retention_start = fw__sqlite_retention_start,
    .claims_open = fw__local_claims_open,
};
