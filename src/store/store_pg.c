/* store_pg.c — owns the PostgreSQL store back end: a home `postgresql://...` (or `postgres://...`,
 * a libpq connection URI) keeps every table in that database — the registry, artifacts (bytea),
 * batch jobs and answers, settings, alarms, the retrain locks and (log_pg.c) the prediction log
 * with feedback — so several Flywheel processes on several machines share one store. libpq is
 * loaded at run time (pg.h). Schema migrations are forward only, each recorded as a row of
 * schema_version, applied under a transaction-scoped advisory lock so concurrent first opens
 * serialize. Registry writes (fw_store_begin(write)) take one advisory lock too: writers queue as
 * they do behind SQLite's BEGIN IMMEDIATE, so version numbers are assigned without races. Text
 * order is byte order (COLLATE "C"), as in SQLite, whatever the database's locale. */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/hash.h"
#include "store/pg.h"
#include "store/pg_int.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Migration i brings the schema from version i to i + 1 (recorded as row i + 1 of schema_version).
 * Never edit a released entry: append. */
static const char *const pg_migrations[] = {
    /* 0 -> 1: everything the SQLite store's flywheel.db (schema 4) and log.db (log schema 3) hold */
    "CREATE TABLE fw_meta(key text PRIMARY KEY, value text NOT NULL);\n"
    "CREATE TABLE models(id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, created_ms bigint NOT NULL);\n"
    "CREATE TABLE versions(\n"
    "  id bigserial PRIMARY KEY, model_id bigint NOT NULL REFERENCES models(id), version bigint NOT NULL,\n"
    "  status text NOT NULL DEFAULT 'active' CHECK(status IN ('active','archived','deleted')),\n"
    "  artifact_hash text NOT NULL, artifact_size bigint NOT NULL, created_ms bigint NOT NULL,\n"
    "  parent_version bigint, run_id text, family text, task text, data_fingerprint text,\n"
    "  test_fingerprint text, metric_name text, greater_is_better integer, metric double precision,\n"
    "  baseline_metric double precision, min_improvement double precision, params_json text,\n"
    "  metrics_json text, tags_json text, created_by text, UNIQUE(model_id, version));\n"
    "CREATE INDEX versions_by_hash ON versions(artifact_hash);\n"
    "CREATE TABLE aliases(\n"
    "  model_id bigint NOT NULL REFERENCES models(id), alias text NOT NULL,\n"
    "  version_id bigint NOT NULL REFERENCES versions(id), updated_ms bigint NOT NULL,\n"
    "  PRIMARY KEY(model_id, alias));\n"
    "CREATE TABLE runs(run_id text PRIMARY KEY, model_name text, created_ms bigint NOT NULL, command text,\n"
    "  user_name text, record_json text);\n"
    "CREATE TABLE audit_log(\n"
    "  id bigserial PRIMARY KEY, ts_ms bigint NOT NULL, model_name text NOT NULL, version bigint,\n"
    "  action text NOT NULL, alias text, from_version bigint, to_version bigint,\n"
    "  forced integer NOT NULL DEFAULT 0, reason text, command text, user_name text, pid bigint);\n"
    "CREATE INDEX audit_by_model ON audit_log(model_name, id);\n"
    "CREATE TABLE alarms(\n"
    "  id bigserial PRIMARY KEY, model_name text NOT NULL, version bigint NOT NULL, kind text NOT NULL,\n"
    "  column_name text, statistic text, value double precision, threshold double precision,\n"
    "  row_index bigint, raised_ms bigint NOT NULL, cleared_ms bigint, detail text);\n"
    "CREATE INDEX alarms_by_model ON alarms(model_name, id);\n"
    "CREATE TABLE artifacts(hash text PRIMARY KEY, size bigint NOT NULL, data bytea NOT NULL,\n"
    "  created_ms bigint NOT NULL);\n"
    "CREATE TABLE batch_runs(\n"
    "  id bigserial PRIMARY KEY, model_name text NOT NULL, version bigint NOT NULL,\n"
    "  started_ms bigint NOT NULL, finished_ms bigint, input_path text, n_rows bigint, status text NOT NULL);\n"
    "CREATE TABLE batch_predictions(\n"
    "  batch_id bigint NOT NULL REFERENCES batch_runs(id), row_index bigint NOT NULL,\n"
    "  output_json text NOT NULL, PRIMARY KEY(batch_id, row_index));\n"
    "CREATE TABLE batch_jobs(\n"
    "  id bigserial PRIMARY KEY, job text NOT NULL, model text NOT NULL, version text NOT NULL,\n"
    "  input text, output text, started_ms bigint NOT NULL, ended_ms bigint, rows_read bigint,\n"
    "  rows_scored bigint, rows_rejected bigint, rows_written bigint, outcome text NOT NULL,\n"
    "  exit_code integer, attempts integer, message text);\n"
    "CREATE INDEX batch_jobs_by_job ON batch_jobs(job, id);\n"
    "CREATE TABLE batch_answers(\n"
    "  model text NOT NULL, entity_id text NOT NULL, version text NOT NULL, prediction text,\n"
    "  scores_json text, scored_ms bigint NOT NULL, run_id bigint, PRIMARY KEY(model, entity_id));\n"
    "CREATE TABLE learn_locks(model text PRIMARY KEY, owner text NOT NULL, until_ms bigint NOT NULL);\n"
    "CREATE TABLE prediction_log(\n"
    "  id bigserial PRIMARY KEY, request_id text NOT NULL, ts_ms bigint NOT NULL,\n"
    "  model_name text NOT NULL, version bigint NOT NULL, input_json text, output_json text,\n"
    "  latency_us bigint, outcome text);\n"
    "CREATE INDEX prediction_log_by_request ON prediction_log(request_id, id);\n"
    "CREATE INDEX prediction_log_by_time ON prediction_log(model_name, ts_ms);\n"
    "CREATE TABLE feedback(\n"
    "  id bigserial PRIMARY KEY, request_id text NOT NULL, ts_ms bigint NOT NULL, label_json text,\n"
    "  event text, value double precision, source text, status text);\n"
    "CREATE INDEX feedback_by_request ON feedback(request_id, id);\n"
    "CREATE TABLE feedback_unmatched(\n"
    "  id bigserial PRIMARY KEY, request_id text NOT NULL, ts_ms bigint NOT NULL, label_json text);\n"
    "CREATE INDEX feedback_unmatched_by_request ON feedback_unmatched(request_id);\n",
    /* 1 -> 2: a slice's performance alarm keeps its slice value in a column of its own (SQLite's
     * schema 5), so clearing one slice clears that slice alone */
    "ALTER TABLE alarms ADD COLUMN IF NOT EXISTS slice text;\n",
};

#define FW_PG_SCHEMA_VERSION ((int)(sizeof pg_migrations / sizeof *pg_migrations))

typedef struct pg_store {
    fw_store base;
    PGconn *c;
    char where[1024];          /* the home without its password, for messages */
    int schema;
    bool in_tx;
} pg_store;

static pg_store *P(fw_store *s) { return (pg_store *)s; }

#define Q(s, sql, p, what) fw_pq_query((s)->c, (sql), (p), false, (s)->where, (what), err)
#define CMD(s, sql, p, what, n) fw_pq_cmd((s)->c, (sql), (p), (s)->where, (what), (n), err)

/* ---- transactions --------------------------------------------------------------------------- */
static fw_status pg_begin(fw_store *b, bool write, fw_err *err) {
    pg_store *s = P(b);
    if (s->in_tx) return fw_err_set(err, FW_EINVAL, "store: transaction already open");
    fw_status st = CMD(s, write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL, "begin", NULL);
    if (st) return st;
    s->in_tx = true;
    if (write && (st = CMD(s, "SELECT pg_advisory_xact_lock(" FW_PG_LOCK_REGISTRY ")", NULL, "taking the write lock",
                           NULL))) {
        b->ops->rollback(b);
        return st;
    }
    return FW_OK;
}

static void pg_rollback(fw_store *b) {
    pg_store *s = P(b);
    if (!s->in_tx) return;
    PGresult *r = fw_pq.exec(s->c, "ROLLBACK");
    if (r) fw_pq.clear(r);
    s->in_tx = false;
}

static fw_status pg_commit(fw_store *b, fw_err *err) {
    pg_store *s = P(b);
    /* COMMIT of an aborted transaction answers ROLLBACK without an error: look first */
    if (fw_pq.transactionStatus(s->c) != PQTRANS_INTRANS) {
        pg_rollback(b);
        return fw_err_set(err, FW_ESTORE, "store %s: commit: the transaction failed earlier", s->where);
    }
    fw_status st = CMD(s, "COMMIT", NULL, "commit", NULL);
    s->in_tx = false;
    return st;
}

static int pg_schema_version(fw_store *b) { return P(b)->schema; }

/* ---- versions ------------------------------------------------------------------------------- */
#define VERSION_COLS                                                                              \
    "m.name, v.version, v.status, v.artifact_hash, v.artifact_size, v.created_ms,"               \
    " v.parent_version, v.run_id, v.family, v.task, v.data_fingerprint, v.test_fingerprint,"     \
    " v.metric_name, v.greater_is_better, v.metric, v.baseline_metric, v.min_improvement,"       \
    " v.params_json, v.metrics_json, v.tags_json, v.created_by"

static fw_status read_version(PGresult *r, int i, fw_version_rec *v) {
    memset(v, 0, sizeof *v);
    v->name = fw_pq_dup(r, i, 0);
    v->version = fw_pq_i64(r, i, 1);
    v->status = fw_pq_dup(r, i, 2);
    v->artifact_hash = fw_pq_dup(r, i, 3);
    v->artifact_size = fw_pq_i64(r, i, 4);
    v->created_ms = fw_pq_i64(r, i, 5);
    v->parent_version = fw_pq_i64(r, i, 6);
    v->run_id = fw_pq_dup(r, i, 7);
    v->family = fw_pq_dup(r, i, 8);
    v->task = fw_pq_dup(r, i, 9);
    v->data_fp = fw_pq_dup(r, i, 10);
    v->test_fp = fw_pq_dup(r, i, 11);
    v->metric_name = fw_pq_dup(r, i, 12);
    v->greater_is_better = (int)fw_pq_i64(r, i, 13);
    v->metric = fw_pq_f64(r, i, 14);
    v->baseline_metric = fw_pq_f64(r, i, 15);
    v->min_improvement = fw_pq_f64(r, i, 16);
    v->params_json = fw_pq_dup(r, i, 17);
    v->metrics_json = fw_pq_dup(r, i, 18);
    v->tags_json = fw_pq_dup(r, i, 19);
    v->created_by = fw_pq_dup(r, i, 20);
    if (!v->name || !v->status || !v->artifact_hash) {
        fw_version_rec_free(v);
        return FW_ENOMEM;
    }
    return FW_OK;
}

static fw_status pg_version_insert(fw_store *b, fw_version_rec *v, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, v->name);
    fw_pq_int(&p, v->created_ms);
    fw_status st = CMD(s, "INSERT INTO models(name, created_ms) VALUES($1, $2) ON CONFLICT(name) DO NOTHING", &p,
                       "insert model", NULL);
    if (st) return st;
    p = (fw_pq_params){0};
    fw_pq_text(&p, v->name);
    fw_pq_text(&p, v->artifact_hash);
    fw_pq_int(&p, v->artifact_size);
    fw_pq_int(&p, v->created_ms);
    fw_pq_int_or_null(&p, v->parent_version);
    fw_pq_text(&p, v->run_id);
    fw_pq_text(&p, v->family);
    fw_pq_text(&p, v->task);
    fw_pq_text(&p, v->data_fp);
    fw_pq_text(&p, v->test_fp);
    fw_pq_text(&p, v->metric_name);
    fw_pq_int(&p, v->greater_is_better);
    fw_pq_real(&p, v->metric);
    fw_pq_real(&p, v->baseline_metric);
    fw_pq_real(&p, v->min_improvement);
    fw_pq_text(&p, v->params_json);
    fw_pq_text(&p, v->metrics_json);
    fw_pq_text(&p, v->tags_json);
    fw_pq_text(&p, v->created_by);
    /* the next number over every row of the name, deleted included: numbers are never reused */
    PGresult *r = Q(s,
                    "INSERT INTO versions(model_id, version, status, artifact_hash, artifact_size, created_ms,"
                    " parent_version, run_id, family, task, data_fingerprint, test_fingerprint, metric_name,"
                    " greater_is_better, metric, baseline_metric, min_improvement, params_json, metrics_json,"
                    " tags_json, created_by)"
                    " SELECT m.id, COALESCE((SELECT max(version) FROM versions WHERE model_id = m.id), 0) + 1,"
                    " 'active', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::bigint::integer, $13, $14, $15, $16,"
                    " $17, $18, $19 FROM models m WHERE m.name = $1 RETURNING version",
                    &p, "insert version");
    if (!r) return err->status;
    st = fw_pq.ntuples(r) == 1 ? FW_OK : fw_err_set(err, FW_ESTORE, "store %s: insert version: no row", s->where);
    if (st == FW_OK) v->version = fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    return st;
}

static fw_status pg_version_get(fw_store *b, const char *name, int64_t version, fw_version_rec *out, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_int(&p, version);
    PGresult *r = Q(s, "SELECT " VERSION_COLS " FROM versions v JOIN models m ON m.id = v.model_id"
                       " WHERE m.name = $1 AND v.version = $2", &p, "get version");
    if (!r) return err->status;
    fw_status st;
    if (fw_pq.ntuples(r) == 0)
        st = fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
    else if ((st = read_version(r, 0, out)))
        st = fw_err_set(err, st, "out of memory");
    fw_pq.clear(r);
    return st;
}

static fw_status pg_version_latest(fw_store *b, const char *name, bool any, int64_t *out, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    PGresult *r = Q(s,
                    any ? "SELECT max(v.version) FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1"
                        : "SELECT max(v.version) FROM versions v JOIN models m ON m.id = v.model_id"
                          " WHERE m.name = $1 AND v.status = 'active'",
                    &p, "latest version");
    if (!r) return err->status;
    bool null = fw_pq.ntuples(r) == 0 || fw_pq.getisnull(r, 0, 0);
    *out = null ? 0 : fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    if (null) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no %sversions", name, any ? "" : "active ");
    return FW_OK;
}

static fw_status pg_version_list(fw_store *b, const char *name, fw_version_rec **out, size_t *n, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    PGresult *r = Q(s, "SELECT " VERSION_COLS " FROM versions v JOIN models m ON m.id = v.model_id"
                       " WHERE m.name = $1 ORDER BY v.version", &p, "list versions");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_version_rec *v = k ? fw_calloc((size_t)k, sizeof *v) : NULL;
    if (k && !v) {
        fw_pq.clear(r);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (int i = 0; i < k; i++)
        if (read_version(r, i, &v[i])) {
            for (int j = 0; j < i; j++) fw_version_rec_free(&v[j]);
            fw_free(v);
            fw_pq.clear(r);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    fw_pq.clear(r);
    *out = v;
    *n = (size_t)k;
    return FW_OK;
}

static fw_status pg_version_set_status(fw_store *b, const char *name, int64_t version, const char *status,
                                       fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_int(&p, version);
    fw_pq_text(&p, status);
    int64_t n = 0;
    fw_status st = CMD(s, "UPDATE versions SET status = $3 WHERE version = $2 AND model_id ="
                          " (SELECT id FROM models WHERE name = $1)", &p, "set status", &n);
    if (st) return st;
    if (n == 0) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
    return FW_OK;
}

/* One integer (0 when NULL) of a one-row query. */
static fw_status one_int(pg_store *s, const char *sql, const fw_pq_params *p, const char *what, int64_t *out,
                         fw_err *err) {
    PGresult *r = Q(s, sql, p, what);
    if (!r) return err->status;
    *out = fw_pq.ntuples(r) ? fw_pq_i64(r, 0, 0) : 0;
    fw_pq.clear(r);
    return FW_OK;
}

static fw_status pg_artifact_refs(fw_store *b, const char *hash, int64_t *out, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, hash);
    return one_int(P(b), "SELECT count(*) FROM versions WHERE artifact_hash = $1 AND status <> 'deleted'", &p,
                   "count artifact references", out, err);
}

static fw_status pg_model_exists(fw_store *b, const char *name, bool *out, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    int64_t n = 0;
    fw_status st = one_int(P(b), "SELECT count(*) FROM models WHERE name = $1", &p, "find model", &n, err);
    *out = n > 0;
    return st;
}

static fw_status pg_model_list(fw_store *b, fw_model_summary **out, size_t *n, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    PGresult *r = Q(s,
                    "SELECT m.name, m.created_ms,"
                    " (SELECT count(*) FROM versions v WHERE v.model_id = m.id AND v.status <> 'deleted'),"
                    " (SELECT max(v.version) FROM versions v WHERE v.model_id = m.id AND v.status <> 'deleted'),"
                    " (SELECT string_agg(a.alias || '=' || v.version, ',' ORDER BY a.alias COLLATE \"C\")"
                    "  FROM aliases a JOIN versions v ON v.id = a.version_id WHERE a.model_id = m.id)"
                    " FROM models m ORDER BY m.name COLLATE \"C\"",
                    NULL, "list models");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_model_summary *m = k ? fw_calloc((size_t)k, sizeof *m) : NULL;
    bool oom = k && !m;
    for (int i = 0; i < k && !oom; i++) {
        m[i].name = fw_pq_dup(r, i, 0);
        m[i].created_ms = fw_pq_i64(r, i, 1);
        m[i].n_versions = fw_pq_i64(r, i, 2);
        m[i].latest_version = fw_pq_i64(r, i, 3);
        m[i].aliases = fw_pq_dup(r, i, 4);
        oom = !m[i].name || (!fw_pq.getisnull(r, i, 4) && !m[i].aliases);
    }
    fw_pq.clear(r);
    if (oom) {
        fw_model_summaries_free(m, (size_t)k);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = m;
    *n = (size_t)k;
    return FW_OK;
}

/* ---- aliases -------------------------------------------------------------------------------- */
static fw_status pg_alias_set(fw_store *b, const char *name, const char *alias, int64_t version, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_text(&p, alias);
    fw_pq_int(&p, version);
    fw_pq_int(&p, fw_wall_unix_ms());
    int64_t n = 0;
    fw_status st = CMD(s,
                       "INSERT INTO aliases(model_id, alias, version_id, updated_ms)"
                       " SELECT m.id, $2, v.id, $4 FROM models m JOIN versions v ON v.model_id = m.id"
                       " WHERE m.name = $1 AND v.version = $3"
                       " ON CONFLICT(model_id, alias) DO UPDATE SET version_id = excluded.version_id,"
                       " updated_ms = excluded.updated_ms",
                       &p, "set alias", &n);
    if (st) return st;
    if (n == 0) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version %lld", name, (long long)version);
    /* replicas listening learn of the move at once (the alias poll stays the backstop) */
    fw_pq_params q = {0};
    fw_pq_text(&q, name);
    return CMD(s, "SELECT pg_notify('" FW_PG_ALIAS_CHANNEL "', $1)", &q, "announcing the alias move", NULL);
}

static fw_status pg_alias_get(fw_store *b, const char *name, const char *alias, int64_t *version, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_text(&p, alias);
    PGresult *r = Q(s, "SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id"
                       " JOIN versions v ON v.id = a.version_id WHERE m.name = $1 AND a.alias = $2", &p, "get alias");
    if (!r) return err->status;
    bool found = fw_pq.ntuples(r) > 0;
    if (found) *version = fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    return found ? FW_OK : fw_err_set(err, FW_ENOTFOUND, "model '%s' has no alias '%s'", name, alias);
}

static fw_status pg_alias_remove(fw_store *b, const char *name, const char *alias, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_text(&p, alias);
    int64_t n = 0;
    fw_status st = CMD(s, "DELETE FROM aliases WHERE alias = $2 AND model_id = (SELECT id FROM models WHERE name = $1)",
                       &p, "remove alias", &n);
    if (st) return st;
    if (n == 0) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no alias '%s'", name, alias);
    fw_pq_params q = {0};
    fw_pq_text(&q, name);
    return CMD(s, "SELECT pg_notify('" FW_PG_ALIAS_CHANNEL "', $1)", &q, "announcing the alias move", NULL);
}

static fw_status pg_alias_list(fw_store *b, const char *name, fw_alias_rec **out, size_t *n, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    PGresult *r = Q(s, "SELECT a.alias, v.version, a.updated_ms FROM aliases a JOIN models m ON m.id = a.model_id"
                       " JOIN versions v ON v.id = a.version_id WHERE m.name = $1 ORDER BY a.alias COLLATE \"C\"",
                    &p, "list aliases");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_alias_rec *a = k ? fw_calloc((size_t)k, sizeof *a) : NULL;
    bool oom = k && !a;
    for (int i = 0; i < k && !oom; i++) {
        a[i].alias = fw_pq_dup(r, i, 0);
        a[i].version = fw_pq_i64(r, i, 1);
        a[i].updated_ms = fw_pq_i64(r, i, 2);
        oom = !a[i].alias;
    }
    fw_pq.clear(r);
    if (oom) {
        fw_alias_recs_free(a, (size_t)k);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = a;
    *n = (size_t)k;
    return FW_OK;
}

/* ---- runs and audit ------------------------------------------------------------------------- */
static fw_status pg_run_insert(fw_store *b, const fw_run_rec *r, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, r->run_id);
    fw_pq_text(&p, r->name);
    fw_pq_int(&p, r->created_ms);
    fw_pq_text(&p, r->command);
    fw_pq_text(&p, r->user);
    fw_pq_text(&p, r->record_json);
    int64_t n = 0;
    /* DO NOTHING, not a unique violation: an error would abort the caller's transaction, which
     * goes on after FW_EEXIST (several versions of one run) */
    fw_status st = CMD(s, "INSERT INTO runs(run_id, model_name, created_ms, command, user_name, record_json)"
                          " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(run_id) DO NOTHING", &p, "insert run", &n);
    if (st) return st;
    return n ? FW_OK : fw_err_set(err, FW_EEXIST, "run '%s' is already recorded", r->run_id);
}

static fw_status pg_run_get(fw_store *b, const char *run_id, fw_run_rec *out, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, run_id);
    PGresult *r = Q(s, "SELECT run_id, model_name, created_ms, command, user_name, record_json FROM runs"
                       " WHERE run_id = $1", &p, "get run");
    if (!r) return err->status;
    fw_status st = FW_OK;
    if (fw_pq.ntuples(r) == 0) {
        st = fw_err_set(err, FW_ENOTFOUND, "no run '%s'", run_id);
    } else {
        memset(out, 0, sizeof *out);
        out->run_id = fw_pq_dup(r, 0, 0);
        out->name = fw_pq_dup(r, 0, 1);
        out->created_ms = fw_pq_i64(r, 0, 2);
        out->command = fw_pq_dup(r, 0, 3);
        out->user = fw_pq_dup(r, 0, 4);
        out->record_json = fw_pq_dup(r, 0, 5);
        if (!out->run_id) {
            fw_run_rec_free(out);
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    fw_pq.clear(r);
    return st;
}

static fw_status pg_audit_append(fw_store *b, const fw_audit_rec *a, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_int(&p, a->ts_ms);
    fw_pq_text(&p, a->name);
    fw_pq_int_or_null(&p, a->version);
    fw_pq_text(&p, a->action);
    fw_pq_text(&p, a->alias);
    fw_pq_int_or_null(&p, a->from_version);
    fw_pq_int_or_null(&p, a->to_version);
    fw_pq_int(&p, a->forced);
    fw_pq_text(&p, a->reason);
    fw_pq_text(&p, a->command);
    fw_pq_text(&p, a->user);
    fw_pq_int(&p, a->pid);
    return CMD(s, "INSERT INTO audit_log(ts_ms, model_name, version, action, alias, from_version, to_version, forced,"
                  " reason, command, user_name, pid) VALUES($1, $2, $3, $4, $5, $6, $7, $8::bigint::integer, $9, $10,"
                  " $11, $12)", &p, "append audit entry", NULL);
}

static fw_status pg_audit_list(fw_store *b, const char *name, fw_audit_rec **out, size_t *n, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    PGresult *r = Q(s, "SELECT id, ts_ms, model_name, version, action, alias, from_version, to_version, forced,"
                       " reason, command, user_name, pid FROM audit_log WHERE $1::text IS NULL OR model_name = $1"
                       " ORDER BY id", &p, "list audit log");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_audit_rec *a = k ? fw_calloc((size_t)k, sizeof *a) : NULL;
    bool oom = k && !a;
    for (int i = 0; i < k && !oom; i++) {
        fw_audit_rec *e = &a[i];
        e->id = fw_pq_i64(r, i, 0);
        e->ts_ms = fw_pq_i64(r, i, 1);
        e->name = fw_pq_dup(r, i, 2);
        e->version = fw_pq_i64(r, i, 3);
        e->action = fw_pq_dup(r, i, 4);
        e->alias = fw_pq_dup(r, i, 5);
        e->from_version = fw_pq_i64(r, i, 6);
        e->to_version = fw_pq_i64(r, i, 7);
        e->forced = (int)fw_pq_i64(r, i, 8);
        e->reason = fw_pq_dup(r, i, 9);
        e->command = fw_pq_dup(r, i, 10);
        e->user = fw_pq_dup(r, i, 11);
        e->pid = fw_pq_i64(r, i, 12);
        oom = !e->name || !e->action;
    }
    fw_pq.clear(r);
    if (oom) {
        fw_audit_recs_free(a, (size_t)k);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = a;
    *n = (size_t)k;
    return FW_OK;
}

/* ---- alarm history -------------------------------------------------------------------------- */
static fw_status pg_alarm_raise(fw_store *b, fw_alarm_rec *a, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, a->model);
    fw_pq_int(&p, a->version);
    fw_pq_text(&p, a->kind);
    fw_pq_text(&p, a->column && a->column[0] ? a->column : NULL);
    fw_pq_text(&p, a->statistic);
    fw_pq_real(&p, a->value);
    fw_pq_real(&p, a->threshold);
    fw_pq_int(&p, a->row);
    fw_pq_int(&p, a->raised_ms);
    fw_pq_int_or_null(&p, a->cleared_ms);
    fw_pq_text(&p, a->detail);
    fw_pq_text(&p, a->slice && a->slice[0] ? a->slice : NULL);
    PGresult *r = Q(s, "INSERT INTO alarms(model_name, version, kind, column_name, statistic, value, threshold,"
                       " row_index, raised_ms, cleared_ms, detail, slice)"
                       " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id", &p, "record alarm");
    if (!r) return err->status;
    a->id = fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    return FW_OK;
}

static fw_status pg_alarm_clear(fw_store *b, const char *model, int64_t version, const char *kind, const char *column,
                                const char *slice, int64_t cleared_ms, int64_t *n_cleared, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_int(&p, version);
    fw_pq_text(&p, kind);
    fw_pq_text(&p, column && column[0] ? column : NULL);
    fw_pq_int(&p, cleared_ms);
    fw_pq_text(&p, slice && slice[0] ? slice : NULL);
    int64_t n = 0;
    fw_status st = CMD(s, "UPDATE alarms SET cleared_ms = $5 WHERE model_name = $1 AND version = $2 AND kind = $3"
                          " AND column_name IS NOT DISTINCT FROM $4 AND slice IS NOT DISTINCT FROM $6"
                          " AND cleared_ms IS NULL", &p, "clear alarm", &n);
    if (st == FW_OK && n_cleared) *n_cleared = n;
    return st;
}

static fw_status pg_alarm_list(fw_store *b, const char *model, size_t limit, fw_alarm_rec **out, size_t *n,
                               fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_int_or_null(&p, (int64_t)limit); /* LIMIT NULL: all */
    PGresult *r = Q(s, "SELECT * FROM (SELECT id, model_name, version, kind, column_name, statistic, value, threshold,"
                       " row_index, raised_ms, cleared_ms, detail, slice FROM alarms"
                       " WHERE $1::text IS NULL OR model_name = $1"
                       " ORDER BY id DESC LIMIT $2) t ORDER BY id", &p, "list alarms");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_alarm_rec *a = k ? fw_calloc((size_t)k, sizeof *a) : NULL;
    bool oom = k && !a;
    for (int i = 0; i < k && !oom; i++) {
        fw_alarm_rec *e = &a[i];
        e->id = fw_pq_i64(r, i, 0);
        e->model = fw_pq_dup(r, i, 1);
        e->version = fw_pq_i64(r, i, 2);
        e->kind = fw_pq_dup(r, i, 3);
        e->column = fw_pq_dup(r, i, 4);
        e->statistic = fw_pq_dup(r, i, 5);
        e->value = fw_pq_f64(r, i, 6);
        e->threshold = fw_pq_f64(r, i, 7);
        e->row = fw_pq_i64(r, i, 8);
        e->raised_ms = fw_pq_i64(r, i, 9);
        e->cleared_ms = fw_pq_i64(r, i, 10);
        e->detail = fw_pq_dup(r, i, 11);
        e->slice = fw_pq_dup(r, i, 12);
        oom = !e->model || !e->kind;
    }
    fw_pq.clear(r);
    if (oom) {
        fw_alarm_recs_free(a, (size_t)k);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = a;
    *n = (size_t)k;
    return FW_OK;
}

/* ---- artifacts (bytea rows) ----------------------------------------------------------------- */
static bool valid_hash(const char *h) {
    if (!h || strlen(h) != 32) return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

/* One statement: a new row, or the bytes rewritten when the row kept holds other bytes (altered in
 * place); an intact row is left as it is. */
static fw_status pg_artifact_put(fw_store *b, const void *data, size_t len, char hash_out[33], fw_err *err) {
    pg_store *s = P(b);
    fw_hash128_hex(data, len, hash_out);
    fw_pq_params p = {0};
    fw_pq_text(&p, hash_out);
    fw_pq_int(&p, (int64_t)len);
    fw_pq_bytes(&p, data, len);
    fw_pq_int(&p, fw_wall_unix_ms());
    return CMD(s, "INSERT INTO artifacts(hash, size, data, created_ms) VALUES($1, $2, $3, $4)"
                  " ON CONFLICT(hash) DO UPDATE SET size = excluded.size, data = excluded.data"
                  " WHERE artifacts.size <> excluded.size OR artifacts.data <> excluded.data",
               &p, "storing an artifact", NULL);
}

/* The verified bytes of hash, read on connection c, into *out (fw_malloc'd). */
static fw_status fetch_artifact(PGconn *c, const char *where, const char *hash, uint8_t **out, size_t *len,
                                fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, hash);
    PGresult *r = fw_pq_query(c, "SELECT data FROM artifacts WHERE hash = $1", &p, true, where, "reading an artifact", err);
    if (!r) return err->status;
    fw_status st = FW_OK;
    if (fw_pq.ntuples(r) == 0) {
        st = fw_err_set(err, FW_ENOTFOUND, "artifact %s is missing from store %s", hash, where);
    } else {
        size_t n = (size_t)fw_pq.getlength(r, 0, 0);
        uint8_t *d = fw_malloc(n ? n : 1);
        if (!d) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        } else {
            memcpy(d, fw_pq.getvalue(r, 0, 0), n);
            char h[33];
            fw_hash128_hex(d, n, h);
            if (strcmp(h, hash) != 0) {
                fw_free(d);
                st = fw_err_set(err, FW_ECORRUPT, "artifact %s in store %s was altered (its content hash is %s)", hash,
                                where, h);
            } else {
                *out = d;
                *len = n;
            }
        }
    }
    fw_pq.clear(r);
    return st;
}

static fw_status pg_artifact_read(fw_store *b, const char *hash, uint8_t **out, size_t *len, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *len = 0;
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    return fetch_artifact(s->c, s->where, hash, out, len, err);
}

/* The view of fw_store_artifact_map, callable from any thread beside the handle's user (a server
 * loads models on its loader threads while requests use the registry): the bytes are read on a
 * connection of its own, opened for the call — the handle's connection is neither thread-safe nor
 * free of its caller's transaction — verified, and held in memory of their own until unmap. There
 * is no file to map: a row's bytes reach the client through the socket, so the view is a copy. */
static fw_status pg_artifact_map(fw_store *b, const char *hash, const void **data, size_t *len, fw_err *err) {
    pg_store *s = P(b);
    if (!valid_hash(hash)) return fw_err_set(err, FW_ECORRUPT, "invalid artifact hash '%s'", hash ? hash : "");
    PGconn *c = NULL;
    fw_status st = fw_pq_connect(fw_store_home(b), &c, err);
    if (st) return st;
    uint8_t *bytes = NULL;
    st = fetch_artifact(c, s->where, hash, &bytes, len, err);
    fw_pq.finish(c);
    *data = bytes;
    return st;
}

static void pg_artifact_unmap(fw_store *b, const void *data, size_t len) {
    (void)b;
    (void)len;
    fw_free((void *)data);
}

static fw_status pg_artifact_remove(fw_store *b, const char *hash, fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    fw_pq_params p = {0};
    fw_pq_text(&p, hash);
    return CMD(P(b), "DELETE FROM artifacts WHERE hash = $1", &p, "removing an artifact", NULL);
}

/* artifact_has: the row is there with len bytes (its size column; the bytes stay on the server). */
static fw_status pg_artifact_has(fw_store *b, const char *hash, size_t len, fw_err *err) {
    pg_store *s = P(b);
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    fw_pq_params p = {0};
    fw_pq_text(&p, hash);
    PGresult *r = Q(s, "SELECT size FROM artifacts WHERE hash = $1", &p, "checking an artifact");
    if (!r) return err->status;
    bool ok = fw_pq.ntuples(r) == 1 && strtoll(fw_pq.getvalue(r, 0, 0), NULL, 10) == (long long)len;
    fw_pq.clear(r);
    return ok ? FW_OK : fw_err_set(err, FW_ENOTFOUND, "artifact %s is not in store %s with %zu bytes", hash, s->where, len);
}

static fw_status pg_artifact_list(fw_store *b, char ***hashes, size_t *n, fw_err *err) {
    pg_store *s = P(b);
    *hashes = NULL;
    *n = 0;
    PGresult *r = Q(s, "SELECT hash FROM artifacts ORDER BY hash", NULL, "listing artifacts");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    char **h = k ? fw_calloc((size_t)k, sizeof *h) : NULL;
    bool oom = k && !h;
    for (int i = 0; i < k && !oom; i++) oom = !(h[i] = fw_pq_dup(r, i, 0));
    fw_pq.clear(r);
    if (oom) {
        for (int i = 0; h && i < k; i++) fw_free(h[i]);
        fw_free(h);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *hashes = h;
    *n = (size_t)k;
    return FW_OK;
}

static void pg_artifact_where(const fw_store *b, const char *hash, char *out, size_t size) {
    snprintf(out, size, "artifact %s in %s", hash, ((const pg_store *)b)->where);
}

/* ---- server and batch ----------------------------------------------------------------------- */
static fw_status pg_batch_run_begin(fw_store *b, const char *name, int64_t version, const char *input_path,
                                    int64_t *batch_id, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, name);
    fw_pq_int(&p, version);
    fw_pq_int(&p, fw_wall_unix_ms());
    fw_pq_text(&p, input_path);
    return one_int(P(b), "INSERT INTO batch_runs(model_name, version, started_ms, input_path, status)"
                         " VALUES($1, $2, $3, $4, 'running') RETURNING id", &p, "begin batch run", batch_id, err);
}

static fw_status pg_batch_run_finish(fw_store *b, int64_t batch_id, int64_t n_rows, const char *status, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_int(&p, batch_id);
    fw_pq_int(&p, fw_wall_unix_ms());
    fw_pq_int(&p, n_rows);
    fw_pq_text(&p, status);
    return CMD(P(b), "UPDATE batch_runs SET finished_ms = $2, n_rows = $3, status = $4 WHERE id = $1", &p,
               "finish batch run", NULL);
}

static fw_status pg_batch_predictions_insert(fw_store *b, int64_t batch_id, const int64_t *row_index,
                                             const char *const *output_json, size_t n, fw_err *err) {
    pg_store *s = P(b);
    bool own = !s->in_tx;
    fw_status st;
    if (own && (st = pg_begin(b, true, err))) return st;
    for (size_t i = 0; i < n; i++) {
        fw_pq_params p = {0};
        fw_pq_int(&p, batch_id);
        fw_pq_int(&p, row_index[i]);
        fw_pq_text(&p, output_json[i]);
        if ((st = CMD(s, "INSERT INTO batch_predictions(batch_id, row_index, output_json) VALUES($1, $2, $3)", &p,
                      "insert batch prediction", NULL))) {
            if (own) pg_rollback(b);
            return st;
        }
    }
    return own ? pg_commit(b, err) : FW_OK;
}

static void job_params(fw_pq_params *p, const fw_batch_run_rec *r) {
    fw_pq_text(p, r->job);
    fw_pq_text(p, r->model);
    fw_pq_text(p, r->version);
    fw_pq_text(p, r->input);
    fw_pq_text(p, r->output);
    fw_pq_int(p, r->started_ms);
    fw_pq_int_or_null(p, r->ended_ms);
    fw_pq_int(p, (int64_t)r->rows_read);
    fw_pq_int(p, (int64_t)r->rows_scored);
    fw_pq_int(p, (int64_t)r->rows_rejected);
    fw_pq_int(p, (int64_t)r->rows_written);
    fw_pq_text(p, r->outcome);
    fw_pq_int(p, r->exit_code);
    fw_pq_int(p, r->attempts);
    fw_pq_text(p, r->message);
}

static fw_status pg_batch_job_begin(fw_store *b, fw_batch_run_rec *r, fw_err *err) {
    fw_pq_params p = {0};
    job_params(&p, r);
    return one_int(P(b),
                   "INSERT INTO batch_jobs(job, model, version, input, output, started_ms, ended_ms, rows_read,"
                   " rows_scored, rows_rejected, rows_written, outcome, exit_code, attempts, message)"
                   " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13::bigint::integer,$14::bigint::integer,$15)"
                   " RETURNING id",
                   &p, "recording the batch run", &r->run_id, err);
}

static fw_status pg_batch_job_update(fw_store *b, const fw_batch_run_rec *r, fw_err *err) {
    fw_pq_params p = {0};
    job_params(&p, r);
    fw_pq_int(&p, r->run_id);
    return CMD(P(b),
               "UPDATE batch_jobs SET job=$1, model=$2, version=$3, input=$4, output=$5, started_ms=$6, ended_ms=$7,"
               " rows_read=$8, rows_scored=$9, rows_rejected=$10, rows_written=$11, outcome=$12,"
               " exit_code=$13::bigint::integer, attempts=$14::bigint::integer, message=$15 WHERE id=$16",
               &p, "updating the batch run", NULL);
}

static void copy_fixed(const PGresult *r, int i, int col, char *out, size_t cap) {
    snprintf(out, cap, "%s", fw_pq.getisnull(r, i, col) ? "" : fw_pq.getvalue(r, i, col));
}

static fw_status pg_batch_history(fw_store *b, const char *filter, size_t limit, fw_batch_run_rec **out, size_t *n,
                                  fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    *n = 0;
    fw_pq_params p = {0};
    fw_pq_text(&p, filter);
    fw_pq_int(&p, (int64_t)limit);
    PGresult *r = Q(s, "SELECT id, job, model, version, input, output, started_ms, ended_ms, rows_read, rows_scored,"
                       " rows_rejected, rows_written, outcome, exit_code, attempts, message FROM batch_jobs"
                       " WHERE $1::text IS NULL OR job = $1 OR model = $1 ORDER BY id DESC LIMIT $2",
                    &p, "reading the batch history");
    if (!r) return err->status;
    int k = fw_pq.ntuples(r);
    fw_batch_run_rec *v = k ? fw_calloc((size_t)k, sizeof *v) : NULL;
    if (k && !v) {
        fw_pq.clear(r);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (int i = 0; i < k; i++) {
        fw_batch_run_rec *e = &v[i];
        e->run_id = fw_pq_i64(r, i, 0);
        copy_fixed(r, i, 1, e->job, sizeof e->job);
        copy_fixed(r, i, 2, e->model, sizeof e->model);
        copy_fixed(r, i, 3, e->version, sizeof e->version);
        copy_fixed(r, i, 4, e->input, sizeof e->input);
        copy_fixed(r, i, 5, e->output, sizeof e->output);
        e->started_ms = fw_pq_i64(r, i, 6);
        e->ended_ms = fw_pq_i64(r, i, 7);
        e->rows_read = (uint64_t)fw_pq_i64(r, i, 8);
        e->rows_scored = (uint64_t)fw_pq_i64(r, i, 9);
        e->rows_rejected = (uint64_t)fw_pq_i64(r, i, 10);
        e->rows_written = (uint64_t)fw_pq_i64(r, i, 11);
        copy_fixed(r, i, 12, e->outcome, sizeof e->outcome);
        e->exit_code = (int)fw_pq_i64(r, i, 13);
        e->attempts = (int)fw_pq_i64(r, i, 14);
        copy_fixed(r, i, 15, e->message, sizeof e->message);
    }
    fw_pq.clear(r);
    *out = v;
    *n = (size_t)k;
    return FW_OK;
}

static fw_status pg_answer_put(fw_store *b, const char *model, const char *entity_id, size_t entity_len,
                               const char *version, const char *prediction, size_t prediction_len,
                               const char *scores_json, size_t scores_len, int64_t scored_ms, int64_t run_id,
                               fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_textn(&p, entity_id, entity_len);
    fw_pq_text(&p, version);
    fw_pq_textn(&p, prediction, prediction_len);
    fw_pq_textn(&p, scores_json, scores_len);
    fw_pq_int(&p, scored_ms);
    fw_pq_int(&p, run_id);
    return CMD(P(b),
               "INSERT INTO batch_answers(model, entity_id, version, prediction, scores_json, scored_ms, run_id)"
               " VALUES($1,$2,$3,$4,$5,$6,$7) ON CONFLICT(model, entity_id) DO UPDATE SET version = excluded.version,"
               " prediction = excluded.prediction, scores_json = excluded.scores_json,"
               " scored_ms = excluded.scored_ms, run_id = excluded.run_id",
               &p, "storing batch answers", NULL);
}

static fw_status pg_answer_get(fw_store *b, const char *model, const char *entity, size_t entity_len,
                               fw_batch_answer *out, fw_err *err) {
    pg_store *s = P(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_textn(&p, entity, entity_len);
    PGresult *r = Q(s, "SELECT version, prediction, scores_json, scored_ms, run_id FROM batch_answers"
                       " WHERE model = $1 AND entity_id = $2", &p, "reading batch answers");
    if (!r) return err->status;
    fw_status st = FW_OK;
    if (fw_pq.ntuples(r) == 0) {
        st = fw_err_set(err, FW_ENOTFOUND, "no precomputed answer for %s / %.*s", model,
                        (int)(entity_len < 200 ? entity_len : 200), entity);
    } else {
        copy_fixed(r, 0, 0, out->version, sizeof out->version);
        out->prediction = fw_strdup(fw_pq.getisnull(r, 0, 1) ? "" : fw_pq.getvalue(r, 0, 1));
        out->scores_json = fw_strdup(fw_pq.getisnull(r, 0, 2) ? "null" : fw_pq.getvalue(r, 0, 2));
        out->scored_ms = fw_pq_i64(r, 0, 3);
        out->run_id = fw_pq_i64(r, 0, 4);
        if (!out->prediction || !out->scores_json) {
            fw_batch_answer_free(out);
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    fw_pq.clear(r);
    return st;
}

static fw_status pg_answer_count(fw_store *b, const char *model, int64_t *n, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    return one_int(P(b), "SELECT count(*) FROM batch_answers WHERE model = $1", &p, "counting batch answers", n, err);
}

/* ---- settings ------------------------------------------------------------------------------- */
/* INSERT ... ON CONFLICT DO NOTHING keeps a concurrent first writer's row; then read what is kept. */
static fw_status pg_setting_get_or_put(fw_store *b, const char *key, const char *fresh, char **out, fw_err *err) {
    pg_store *s = P(b);
    *out = NULL;
    fw_pq_params p = {0};
    fw_pq_text(&p, key);
    fw_pq_text(&p, fresh);
    fw_status st = CMD(s, "INSERT INTO fw_meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO NOTHING", &p,
                       "storing a setting", NULL);
    if (st) return st;
    p = (fw_pq_params){0};
    fw_pq_text(&p, key);
    PGresult *r = Q(s, "SELECT value FROM fw_meta WHERE key = $1", &p, "reading a setting");
    if (!r) return err->status;
    if (fw_pq.ntuples(r) == 0) st = fw_err_set(err, FW_ESTORE, "store %s: setting '%s' not kept", s->where, key);
    else if (!(*out = fw_pq_dup(r, 0, 0))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_pq.clear(r);
    return st;
}

PGconn *fw__pg_conn(fw_store *s) { return P(s)->c; }
const char *fw__pg_where(fw_store *s) { return P(s)->where; }

/* ---- open / close --------------------------------------------------------------------------- */
static void pg_close(fw_store *b) {
    pg_store *s = P(b);
    if (!s) return;
    if (s->c) {
        pg_rollback(b);
        fw_pq.finish(s->c);
    }
    fw_free(b->home);
    fw_free(s);
}

static const fw_store_ops pg_ops = {
    .kind = "postgresql",
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .schema_version = pg_schema_version,
    .version_insert = pg_version_insert,
    .version_get = pg_version_get,
    .version_latest = pg_version_latest,
    .version_list = pg_version_list,
    .version_set_status = pg_version_set_status,
    .artifact_refs = pg_artifact_refs,
    .model_exists = pg_model_exists,
    .model_list = pg_model_list,
    .alias_set = pg_alias_set,
    .alias_get = pg_alias_get,
    .alias_remove = pg_alias_remove,
    .alias_list = pg_alias_list,
    .run_insert = pg_run_insert,
    .run_get = pg_run_get,
    .audit_append = pg_audit_append,
    .audit_list = pg_audit_list,
    .alarm_raise = pg_alarm_raise,
    .alarm_clear = pg_alarm_clear,
    .alarm_list = pg_alarm_list,
    .artifact_put = pg_artifact_put,
    .artifact_read = pg_artifact_read,
    .artifact_map = pg_artifact_map,
    .artifact_unmap = pg_artifact_unmap,
    .artifact_remove = pg_artifact_remove,
    .artifact_has = pg_artifact_has,
    /* no map: artifacts are rows, read with artifact_read (source_store.c falls back to it) */
    .artifact_list = pg_artifact_list,
    .artifact_where = pg_artifact_where,
    .batch_run_begin = pg_batch_run_begin,
    .batch_run_finish = pg_batch_run_finish,
    .batch_predictions_insert = pg_batch_predictions_insert,
    .batch_job_begin = pg_batch_job_begin,
    .batch_job_update = pg_batch_job_update,
    .batch_history = pg_batch_history,
    .answer_put = pg_answer_put,
    .answer_get = pg_answer_get,
    .answer_count = pg_answer_count,
    .setting_get_or_put = pg_setting_get_or_put,
    /* continual learning (log_pg.c) */
    .learn_scan = fw__pg_learn_scan,
    .learn_lock = fw__pg_learn_lock,
    .learn_unlock = fw__pg_learn_unlock,
};

/* The newest migration recorded: 0 when there is no schema_version table yet, -1 on an error. */
static int read_schema_version(PGconn *c) {
    PGresult *r = fw_pq.exec(c, "SELECT COALESCE(max(version), 0) FROM schema_version");
    int v = -1;
    if (r && fw_pq.resultStatus(r) == PGRES_TUPLES_OK && fw_pq.ntuples(r) == 1)
        v = (int)strtol(fw_pq.getvalue(r, 0, 0), NULL, 10);
    else if (r) {
        const char *state = fw_pq.resultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "42P01")) v = 0; /* undefined table: a new database */
    }
    if (r) fw_pq.clear(r);
    return v;
}

fw_status fw__pg_migrate(PGconn *c, const char *where, int *schema, fw_err *err) {
    int latest = FW_PG_SCHEMA_VERSION;
    int v = read_schema_version(c);
    if (v == latest) {
        *schema = latest;
        return FW_OK;
    }
    if (v > latest)
        return fw_err_set(err, FW_EVERSION,
                          "store %s has schema version %d, written by a newer Flywheel; this Flywheel (%s) reads up "
                          "to schema version %d: upgrade Flywheel", where, v, FW_VERSION_STRING, latest);
    fw_status st = fw_pq_cmd(c, "BEGIN", NULL, where, "starting the schema migration", NULL, err);
    if (st) return st;
    /* concurrent first opens queue here; the loser then finds the work done */
    if ((st = fw_pq_cmd(c, "SELECT pg_advisory_xact_lock(" FW_PG_LOCK_MIGRATE ")", NULL, where,
                        "taking the migration lock", NULL, err)) ||
        (st = fw_pq_cmd(c, "CREATE TABLE IF NOT EXISTS schema_version(version integer PRIMARY KEY,"
                           " applied_ms bigint NOT NULL, flywheel text NOT NULL)", NULL, where,
                        "creating schema_version", NULL, err)))
        goto fail;
    v = read_schema_version(c);
    if (v < 0) {
        st = fw_pq_error(c, NULL, where, "reading the schema version", err);
        goto fail;
    }
    if (v > latest) {
        st = fw_err_set(err, FW_EVERSION, "store %s has schema version %d, written by a newer Flywheel; this Flywheel "
                                          "(%s) reads up to schema version %d: upgrade Flywheel",
                        where, v, FW_VERSION_STRING, latest);
        goto fail;
    }
    for (int i = v; i < latest; i++) {
        /* several statements: the simple query protocol (no parameters) */
        PGresult *r = fw_pq.exec(c, pg_migrations[i]);
        if (!r || fw_pq.resultStatus(r) != PGRES_COMMAND_OK) {
            char what[80];
            snprintf(what, sizeof what, "migrating the store schema from version %d", i);
            st = fw_pq_error(c, r, where, what, err);
            if (r) fw_pq.clear(r);
            goto fail;
        }
        fw_pq.clear(r);
        fw_pq_params p = {0};
        fw_pq_int(&p, i + 1);
        fw_pq_int(&p, fw_wall_unix_ms());
        fw_pq_text(&p, FW_VERSION_STRING);
        if ((st = fw_pq_cmd(c, "INSERT INTO schema_version(version, applied_ms, flywheel) VALUES($1::bigint::integer,"
                               " $2, $3)", &p, where, "recording the schema version", NULL, err)))
            goto fail;
    }
    if ((st = fw_pq_cmd(c, "COMMIT", NULL, where, "committing the schema migration", NULL, err))) return st;
    *schema = latest;
    return FW_OK;
fail: {
    PGresult *r = fw_pq.exec(c, "ROLLBACK");
    if (r) fw_pq.clear(r);
}
    return st;
}

static fw_status pg_open(const char *home, fw_store **out, fw_err *err) {
    *out = NULL;
    pg_store *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->base.ops = &pg_ops;
    if (!(s->base.home = fw_strdup(home))) {
        fw_free(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_pq_redact(home, s->where, sizeof s->where);
    fw_status st = fw_pq_connect(home, &s->c, err);
    if (!st) st = fw__pg_migrate(s->c, s->where, &s->schema, err);
    if (st) {
        pg_close(&s->base);
        return st;
    }
    *out = &s->base;
    return FW_OK;
}

const fw_store_backend fw_store_pg_backend = {
    .name = "postgresql",
    .claims = fw_pq_claims,
    .open = pg_open,
    .log_open = fw__pg_log_open,
    .retention_start = fw__pg_retention_start,
    .watch_open = fw__pg_watch_open,
    .claims_open = fw__pg_claims_open,
};
