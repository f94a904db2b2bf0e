/* test_store_backends.c — the registry half of the store interface (store.h) driven through
 * fw_store_* only, once per back end (SQLite and PostgreSQL: backend.h): versions numbered per name
 * and never reused, every field kept (NaN metrics as unknown), latest active / any, status
 * changes, aliases (set, move, remove, list in byte order), the model summary, runs (a second
 * insert of a run id is FW_EEXIST and the transaction goes on), the audit log in order, artifacts
 * (content-addressed, verified on read, listed, removed, mapped from another thread), batch runs, jobs and answers, settings
 * kept by the first writer, transactions that roll back leave nothing, a concurrent writer queues
 * behind the write lock; the PostgreSQL home's errors: an unreachable server is FW_EBUSY naming the
 * home (password hidden), a missing libpq names the library. */
#include "core/alloc.h"
#include "core/clock.h"
#include "store/store.h"
#include "test.h"

#include "backend.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static fw_status add_version(fw_store *s, const char *name, const char *hash, double metric, int64_t *v,
                             fw_err *err) {
    fw_version_rec r = {.name = (char *)name, .artifact_hash = (char *)hash, .artifact_size = 42, .created_ms = 1000,
                        .run_id = (char *)"run-1", .family = (char *)"gbdt", .task = (char *)"binary",
                        .metric_name = (char *)"auc", .greater_is_better = 1, .metric = metric,
                        .baseline_metric = 0.5, .min_improvement = NAN, .params_json = (char *)"{\"trees\":10}",
                        .created_by = (char *)"me: flywheel train"};
    fw_status st = fw_store_begin(s, true, err);
    if (!st) st = fw_store_version_insert(s, &r, err);
    if (!st) st = fw_store_commit(s, err);
    else fw_store_rollback(s);
    *v = r.version;
    return st;
}

static void test_versions_aliases(void) {
    const char *home = fw_test_store_home("reg");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    CHECK_STR(fw_store_kind(s), fw_test_backend());
    CHECK_STR(fw_store_home(s), home);
    int64_t v = 0;
    CHECK_OK(add_version(s, "spam", "00112233445566778899aabbccddeeff", 0.75, &v, &err));
    CHECK_EQ(v, 1);
    CHECK_OK(add_version(s, "spam", "00112233445566778899aabbccddeeff", 0.5, &v, &err));
    CHECK_EQ(v, 2);
    CHECK_OK(add_version(s, "churn", "ffeeddccbbaa99887766554433221100", NAN, &v, &err));
    CHECK_EQ(v, 1);
    fw_version_rec r;
    CHECK_OK(fw_store_version_get(s, "spam", 1, &r, &err));
    CHECK_STR(r.name, "spam");
    CHECK_STR(r.status, "active");
    CHECK_STR(r.family, "gbdt");
    CHECK_STR(r.params_json, "{\"trees\":10}");
    CHECK(r.metrics_json == NULL);
    CHECK(r.metric == 0.75 && r.baseline_metric == 0.5 && isnan(r.min_improvement));
    CHECK_EQ(r.artifact_size, 42);
    CHECK_EQ(r.greater_is_better, 1);
    CHECK_EQ(r.parent_version, 0);
    fw_version_rec_free(&r);
    CHECK_OK(fw_store_version_get(s, "churn", 1, &r, &err));
    CHECK(isnan(r.metric));
    fw_version_rec_free(&r);
    CHECK_EQ(fw_store_version_get(s, "spam", 9, &r, &err), FW_ENOTFOUND);
    /* status; latest active vs any; numbers never reused after a delete */
    CHECK_OK(fw_store_version_set_status(s, "spam", 2, "deleted", &err));
    CHECK_EQ(fw_store_version_set_status(s, "spam", 7, "archived", &err), FW_ENOTFOUND);
    int64_t latest = 0;
    CHECK_OK(fw_store_version_latest(s, "spam", false, &latest, &err));
    CHECK_EQ(latest, 1);
    CHECK_OK(fw_store_version_latest(s, "spam", true, &latest, &err));
    CHECK_EQ(latest, 2);
    CHECK_EQ(fw_store_version_latest(s, "nobody", true, &latest, &err), FW_ENOTFOUND);
    CHECK_OK(add_version(s, "spam", "0123456789abcdef0123456789abcdef", 0.8, &v, &err));
    CHECK_EQ(v, 3);
    fw_version_rec *list = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_version_list(s, "spam", &list, &n, &err));
    CHECK_EQ(n, 3);
    if (n == 3) CHECK(list[0].version == 1 && list[1].version == 2 && list[2].version == 3);
    for (size_t i = 0; i < n; i++) fw_version_rec_free(&list[i]);
    fw_free(list);
    int64_t refs = 0;
    CHECK_OK(fw_store_artifact_refs(s, "00112233445566778899aabbccddeeff", &refs, &err));
    CHECK_EQ(refs, 1); /* version 2 is deleted */
    bool exists = false;
    CHECK_OK(fw_store_model_exists(s, "churn", &exists, &err));
    CHECK(exists);
    CHECK_OK(fw_store_model_exists(s, "Churn", &exists, &err));
    CHECK(!exists);
    /* aliases */
    CHECK_OK(fw_store_alias_set(s, "spam", "staging", 3, &err));
    CHECK_OK(fw_store_alias_set(s, "spam", "production", 1, &err));
    CHECK_OK(fw_store_alias_set(s, "spam", "production", 3, &err)); /* moved */
    CHECK_OK(fw_store_alias_set(s, "spam", "Zeta", 1, &err));
    CHECK_EQ(fw_store_alias_set(s, "spam", "canary", 9, &err), FW_ENOTFOUND);
    int64_t av = 0;
    CHECK_OK(fw_store_alias_get(s, "spam", "production", &av, &err));
    CHECK_EQ(av, 3);
    CHECK_EQ(fw_store_alias_get(s, "spam", "canary", &av, &err), FW_ENOTFOUND);
    fw_alias_rec *al = NULL;
    CHECK_OK(fw_store_alias_list(s, "spam", &al, &n, &err));
    CHECK_EQ(n, 3);
    if (n == 3) { /* byte order: upper case first */
        CHECK_STR(al[0].alias, "Zeta");
        CHECK_STR(al[1].alias, "production");
        CHECK_STR(al[2].alias, "staging");
        CHECK(al[1].updated_ms > 0);
    }
    fw_alias_recs_free(al, n);
    CHECK_OK(fw_store_alias_remove(s, "spam", "Zeta", &err));
    CHECK_EQ(fw_store_alias_remove(s, "spam", "Zeta", &err), FW_ENOTFOUND);
    fw_model_summary *m = NULL;
    CHECK_OK(fw_store_model_list(s, &m, &n, &err));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(m[0].name, "churn");
        CHECK(m[0].aliases == NULL);
        CHECK_EQ(m[0].n_versions, 1);
        CHECK_STR(m[1].name, "spam");
        CHECK_EQ(m[1].n_versions, 2);
        CHECK_EQ(m[1].latest_version, 3);
        CHECK_STR(m[1].aliases, "production=3,staging=3");
    }
    fw_model_summaries_free(m, n);
    fw_store_close(s);
}

static void test_runs_audit_tx(void) {
    const char *home = fw_test_store_home("audit");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    fw_run_rec run = {.run_id = "run-7", .name = "spam", .created_ms = 5, .command = "flywheel train",
                      .user = "ann", .record_json = "{\"candidates\":[]}"};
    CHECK_OK(fw_store_begin(s, true, &err));
    CHECK_OK(fw_store_run_insert(s, &run, &err));
    CHECK_EQ(fw_store_run_insert(s, &run, &err), FW_EEXIST);
    /* the transaction goes on after FW_EEXIST (several versions of one run) */
    fw_audit_rec a = {.ts_ms = 10, .name = "spam", .version = 1, .action = "register", .reason = "first",
                      .command = "flywheel train", .user = "ann", .pid = 77};
    CHECK_OK(fw_store_audit_append(s, &a, &err));
    CHECK_OK(fw_store_commit(s, &err));
    fw_run_rec got;
    CHECK_OK(fw_store_run_get(s, "run-7", &got, &err));
    CHECK_STR(got.user, "ann");
    CHECK_STR(got.record_json, "{\"candidates\":[]}");
    CHECK_EQ(got.created_ms, 5);
    fw_run_rec_free(&got);
    CHECK_EQ(fw_store_run_get(s, "run-8", &got, &err), FW_ENOTFOUND);
    fw_audit_rec b = {.ts_ms = 11, .name = "spam", .action = "promote", .alias = "production", .from_version = 0,
                      .to_version = 1, .forced = 1, .reason = "--force"};
    CHECK_OK(fw_store_audit_append(s, &b, &err));
    fw_audit_rec c = {.ts_ms = 12, .name = "churn", .version = 2, .action = "archive"};
    CHECK_OK(fw_store_audit_append(s, &c, &err));
    /* a rolled back write leaves nothing */
    CHECK_OK(fw_store_begin(s, true, &err));
    fw_audit_rec d = {.ts_ms = 13, .name = "spam", .action = "delete"};
    CHECK_OK(fw_store_audit_append(s, &d, &err));
    fw_store_rollback(s);
    CHECK_EQ(fw_store_begin(s, false, &err), FW_OK);
    CHECK_EQ(fw_store_begin(s, false, &err), FW_EINVAL); /* one at a time */
    fw_store_rollback(s);
    fw_audit_rec *l = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_audit_list(s, "spam", &l, &n, &err));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(l[0].action, "register");
        CHECK_EQ(l[0].pid, 77);
        CHECK_EQ(l[0].version, 1);
        CHECK_STR(l[1].alias, "production");
        CHECK_EQ(l[1].version, 0);
        CHECK_EQ(l[1].from_version, 0);
        CHECK_EQ(l[1].to_version, 1);
        CHECK_EQ(l[1].forced, 1);
        CHECK(l[0].id < l[1].id);
    }
    fw_audit_recs_free(l, n);
    CHECK_OK(fw_store_audit_list(s, NULL, &l, &n, &err));
    CHECK_EQ(n, 3);
    fw_audit_recs_free(l, n);
    fw_store_close(s);
}

static void test_artifacts(void) {
    const char *home = fw_test_store_home("art");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    static unsigned char big[300000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7 + (i >> 9)); /* NULs, high bytes */
    char h1[33], h2[33], again[33];
    CHECK_OK(fw_store_artifact_put(s, big, sizeof big, h1, &err));
    CHECK_OK(fw_store_artifact_put(s, "small", 5, h2, &err));
    CHECK_OK(fw_store_artifact_put(s, big, sizeof big, again, &err)); /* the same bytes: kept once */
    CHECK_STR(h1, again);
    uint8_t *back = NULL;
    size_t len = 0;
    CHECK_OK(fw_store_artifact_read(s, h1, &back, &len, &err));
    CHECK(len == sizeof big && back && memcmp(back, big, len) == 0);
    fw_free(back);
    char **hs = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_artifact_list(s, &hs, &n, &err));
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < n; i++) fw_free(hs[i]);
    fw_free(hs);
    CHECK_EQ(fw_store_artifact_read(s, "0123456789abcdef0123456789abcdef", &back, &len, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_store_artifact_read(s, "../etc/passwd", &back, &len, &err), FW_EINVAL);
    CHECK_OK(fw_store_artifact_remove(s, h2, &err));
    CHECK_OK(fw_store_artifact_remove(s, h2, &err)); /* already gone */
    CHECK_EQ(fw_store_artifact_read(s, h2, &back, &len, &err), FW_ENOTFOUND);
    char where[700];
    fw_store_artifact_where(s, h1, where, sizeof where);
    CHECK_CONTAINS(where, h1 + 2);
    /* an artifact altered in place is refused (FW_ECORRUPT) and a put of the true bytes repairs it */
    if (fw_test_is_pg()) {
        char sql[200];
        snprintf(sql, sizeof sql, "WITH u AS (UPDATE artifacts SET data = 'x'::bytea || data WHERE hash = '%s'"
                                  " RETURNING 1) SELECT count(*) FROM u", h1);
        CHECK_EQ(HOME_INT(home, "", sql), 1);
    } else {
        char path[800];
        fw_store_artifact_where(s, h1, path, sizeof path);
        FILE *f = fopen(path, "r+b");
        CHECK(f != NULL);
        if (f) {
            fputc('x', f);
            fclose(f);
        }
    }
    CHECK_EQ(fw_store_artifact_read(s, h1, &back, &len, &err), FW_ECORRUPT);
    CHECK_OK(fw_store_artifact_put(s, big, sizeof big, again, &err));
    CHECK_OK(fw_store_artifact_read(s, h1, &back, &len, &err));
    fw_free(back);
    fw_store_close(s);
}

/* fw_store_artifact_map on both back ends (SQLite: a memory map of the file; PostgreSQL: a copy
 * read on a connection of its own), called from another thread while the handle's owner is inside
 * a write transaction: the verified bytes; a missing hash is FW_ENOTFOUND, altered bytes
 * FW_ECORRUPT. */
typedef struct map_job {
    fw_store *s;
    const char *hash;
    const void *data;
    size_t len;
    fw_status st;
    fw_err err;
} map_job;

static void *map_thread(void *arg) {
    map_job *j = arg;
    j->st = fw_store_artifact_map(j->s, j->hash, &j->data, &j->len, &j->err);
    return NULL;
}

static void test_artifact_map(void) {
    const char *home = fw_test_store_home("map");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    static unsigned char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 13 + (i >> 7));
    char h[33];
    CHECK_OK(fw_store_artifact_put(s, big, sizeof big, h, &err));
    int64_t v = 0;
    CHECK_OK(add_version(s, "m", h, 0.5, &v, &err));
    CHECK_OK(fw_store_begin(s, true, &err)); /* the owner is mid-transaction on its handle */
    CHECK_OK(fw_store_alias_set(s, "m", "production", v, &err));
    map_job j = {.s = s, .hash = h};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, map_thread, &j), 0);
    pthread_join(t, NULL);
    CHECK_MSG(j.st == FW_OK, "map: %s", j.err.msg);
    CHECK(j.len == sizeof big && j.data && memcmp(j.data, big, j.len) == 0);
    fw_store_artifact_unmap(s, j.data, j.len);
    map_job missing = {.s = s, .hash = "0123456789abcdef0123456789abcdef"};
    map_thread(&missing);
    CHECK_EQ(missing.st, FW_ENOTFOUND);
    CHECK(missing.data == NULL);
    fw_store_rollback(s);
    if (fw_test_is_pg()) {
        char sql[200];
        snprintf(sql, sizeof sql, "WITH u AS (UPDATE artifacts SET data = 'y'::bytea || data WHERE hash = '%s'"
                                  " RETURNING 1) SELECT count(*) FROM u", h);
        CHECK_EQ(HOME_INT(home, "", sql), 1);
    } else {
        char path[800];
        fw_store_artifact_where(s, h, path, sizeof path);
        FILE *f = fopen(path, "r+b");
        CHECK(f != NULL);
        if (f) {
            fputc('y', f);
            fclose(f);
        }
    }
    map_job altered = {.s = s, .hash = h};
    map_thread(&altered);
    CHECK_EQ(altered.st, FW_ECORRUPT);
    fw_store_close(s);
}

static void test_batch_settings(void) {
    const char *home = fw_test_store_home("batch");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    int64_t bid = 0;
    CHECK_OK(fw_store_batch_run_begin(s, "spam", 1, "/in.csv", &bid, &err));
    CHECK(bid > 0);
    int64_t rows[3] = {0, 1, 2};
    const char *outs[3] = {"{\"a\":1}", "{\"a\":2}", "{\"a\":3}"};
    CHECK_OK(fw_store_batch_predictions_insert(s, bid, rows, outs, 3, &err));
    CHECK(fw_store_batch_predictions_insert(s, bid, rows, outs, 1, &err) != FW_OK); /* the same row twice */
    CHECK_OK(fw_store_batch_run_finish(s, bid, 3, "ok", &err));
    CHECK_EQ(HOME_INT(home, "flywheel.db", "SELECT count(*) FROM batch_predictions"), 3);
    fw_batch_run_rec j = {0};
    snprintf(j.job, sizeof j.job, "nightly");
    snprintf(j.model, sizeof j.model, "spam");
    snprintf(j.version, sizeof j.version, "1");
    snprintf(j.outcome, sizeof j.outcome, "running");
    j.started_ms = 100;
    j.attempts = 1;
    CHECK_OK(fw_store_batch_job_begin(s, &j, &err));
    CHECK(j.run_id > 0);
    j.ended_ms = 200;
    j.rows_read = j.rows_scored = 10;
    snprintf(j.outcome, sizeof j.outcome, "ok");
    CHECK_OK(fw_store_batch_job_update(s, &j, &err));
    fw_batch_run_rec k = j;
    snprintf(k.job, sizeof k.job, "other");
    CHECK_OK(fw_store_batch_job_begin(s, &k, &err));
    fw_batch_run_rec *h = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_batch_history(s, NULL, 10, &h, &n, &err));
    CHECK_EQ(n, 2);
    if (n == 2) CHECK_STR(h[0].job, "other"); /* newest first */
    fw_free(h);
    CHECK_OK(fw_store_batch_history(s, "nightly", 10, &h, &n, &err));
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_STR(h[0].outcome, "ok");
        CHECK_EQ(h[0].ended_ms, 200);
        CHECK_EQ(h[0].rows_scored, 10);
    }
    fw_free(h);
    /* answers: one per (model, entity); a later put replaces it */
    CHECK_OK(fw_store_answer_put(s, "spam", "alice", 5, "1", "pos", 3, "{\"score\":0.9}", 13, 1000, j.run_id, &err));
    CHECK_OK(fw_store_answer_put(s, "spam", "alice", 5, "2", "neg", 3, "{\"score\":0.1}", 13, 2000, j.run_id, &err));
    CHECK_OK(fw_store_answer_put(s, "spam", "bobXX", 3, "2", "pos", 3, "{}", 2, 2000, j.run_id, &err));
    fw_batch_answer a = {0};
    CHECK_OK(fw_store_answer_get(s, "spam", "alice", 5, &a, &err));
    CHECK_STR(a.version, "2");
    CHECK_STR(a.prediction, "neg");
    CHECK_STR(a.scores_json, "{\"score\":0.1}");
    CHECK_EQ(a.scored_ms, 2000);
    fw_batch_answer_free(&a);
    CHECK_OK(fw_store_answer_get(s, "spam", "bob", 3, &a, &err));
    fw_batch_answer_free(&a);
    CHECK_EQ(fw_store_answer_get(s, "spam", "carol", 5, &a, &err), FW_ENOTFOUND);
    int64_t cnt = 0;
    CHECK_OK(fw_store_answer_count(s, "spam", &cnt, &err));
    CHECK_EQ(cnt, 2);
    /* settings: the first writer's value stays */
    unsigned char k1[16], k2[16];
    CHECK_OK(fw_store_secret(s, "t", k1, sizeof k1, &err));
    fw_store *t;
    CHECK_OK(fw_store_open(home, &t, &err));
    if (t) {
        CHECK_OK(fw_store_secret(t, "t", k2, sizeof k2, &err));
        CHECK(memcmp(k1, k2, sizeof k1) == 0);
        fw_store_close(t);
    }
    fw_store_close(s);
}

/* A writer holding the write lock makes a second writer (another process) wait, not fail, and the
 * versions come out numbered 1..N without a gap or a duplicate. */
static void test_concurrent_writers(void) {
    const char *home = fw_test_store_home("writers");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    enum { N = 4, EACH = 5 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            fw_store *c;
            fw_err e;
            if (fw_store_open(home, &c, &e)) _exit(2);
            for (int k = 0; k < EACH; k++) {
                int64_t v;
                if (add_version(c, "m", "00112233445566778899aabbccddeeff", 0.5, &v, &e)) _exit(3);
            }
            fw_store_close(c);
            _exit(0);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: status %d", i, status);
    }
    fw_version_rec *list = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_version_list(s, "m", &list, &n, &err));
    CHECK_EQ(n, N * EACH);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(list[i].version, (int64_t)i + 1);
        fw_version_rec_free(&list[i]);
    }
    fw_free(list);
    fw_store_close(s);
}

/* The watcher of alias moves: SQLite has none (the poll only); PostgreSQL announces a committed move
 * (set or removal) to every watcher, not one rolled back, and a wait without a move times out. */
static void test_watch(void) {
    const char *home = fw_test_store_home("watch");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    fw_store_watch *w = NULL;
    fw_status st = fw_store_watch_open(home, &w, &err);
    if (!fw_test_is_pg()) {
        CHECK_EQ(st, FW_EUNSUPPORTED);
        CHECK(w == NULL);
        fw_store_close(s);
        return;
    }
    CHECK_OK(st);
    if (!w) {
        fw_store_close(s);
        return;
    }
    CHECK_EQ(fw_store_watch_wait(w, 50), 0);
    int64_t v = 0;
    CHECK_OK(add_version(s, "m", "00112233445566778899aabbccddeeff", 0.5, &v, &err));
    CHECK_OK(fw_store_begin(s, true, &err));
    CHECK_OK(fw_store_alias_set(s, "m", "production", v, &err));
    fw_store_rollback(s); /* not committed: not announced */
    CHECK_EQ(fw_store_watch_wait(w, 200), 0);
    CHECK_OK(fw_store_alias_set(s, "m", "production", v, &err));
    CHECK_OK(fw_store_alias_set(s, "m", "staging", v, &err));
    int got = 0;
    for (int i = 0; i < 100 && got != 1; i++) got = fw_store_watch_wait(w, 100);
    CHECK_EQ(got, 1);
    for (int i = 0; i < 10 && fw_store_watch_wait(w, 100) == 1; i++) continue; /* the second, if apart */
    CHECK_OK(fw_store_alias_remove(s, "m", "staging", &err));
    got = 0;
    for (int i = 0; i < 100 && got != 1; i++) got = fw_store_watch_wait(w, 100);
    CHECK_EQ(got, 1);
    fw_store_watch_close(w);
    fw_store_close(s);
}

/* A second open of a migrated database applies nothing; the schema_version table records each
 * migration (PostgreSQL); a database at a newer schema is refused by name. */
static void test_pg_schema(void) {
    const char *home = fw_test_store_home("schema");
    if (!home) return;
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    fw_store_close(s);
    CHECK_OK(fw_store_open(home, &s, &err));
    fw_store_close(s);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM schema_version"), 2); /* 2: the alarms' slice */
    CHECK_EQ(HOME_INT(home, "", "SELECT max(version) FROM schema_version"), 2);
    CHECK_EQ(HOME_INT(home, "", "WITH i AS (INSERT INTO schema_version VALUES(99, 0, 'future') RETURNING 1)"
                                " SELECT count(*) FROM i"), 1);
    CHECK_EQ(fw_store_open(home, &s, &err), FW_EVERSION);
    CHECK_CONTAINS(err.msg, "schema version 99");
    fw_store_log *l = NULL;
    CHECK_EQ(fw_store_log_open(home, &l, &err), FW_EVERSION);
}

/* Errors of a PostgreSQL home: nobody listening is FW_EBUSY (try again later) naming the home
 * without its password; in a process whose libpq cannot be loaded, FW_EIO names the library. */
static void test_pg_errors(void) {
    fw_store *s = NULL;
    fw_err err;
    CHECK_EQ(fw_store_open("postgresql://ann:sekrit@127.0.0.1:1/fw?connect_timeout=5", &s, &err), FW_EBUSY);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "postgresql://ann:***@127.0.0.1:1/fw");
    CHECK(!strstr(err.msg, "sekrit"));
    fw_store_log *l = NULL;
    CHECK_EQ(fw_store_log_open("postgres://127.0.0.1:1/fw", &l, &err), FW_EBUSY);
    CHECK(l == NULL);
    char *out = NULL;
    int rc = fw_test_sh(&out, "FLYWHEEL_LIBPQ=libpq-missing.so.5 \"$FW\" models list --home postgresql://127.0.0.1:1/x");
    CHECK(rc != 0);
    CHECK_CONTAINS(out, "libpq.so.5");
    CHECK_CONTAINS(out, "libpq-missing.so.5");
    free(out);
    /* the binary does not link libpq: it starts (and serves SQLite homes) without it */
    rc = fw_test_sh(&out, "ldd \"$FW\" | grep -c libpq || true");
    CHECK_STR(out, "0\n");
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_versions_aliases);
    TEST_RUN_BACKENDS(test_runs_audit_tx);
    TEST_RUN_BACKENDS(test_artifacts);
    TEST_RUN_BACKENDS(test_artifact_map);
    TEST_RUN_BACKENDS(test_batch_settings);
    TEST_RUN_BACKENDS(test_concurrent_writers);
    TEST_RUN_BACKENDS(test_watch);
    TEST_RUN_PG(test_pg_schema);
    TEST_RUN(test_pg_errors);
    return fw_test_report(argv[0]);
}
