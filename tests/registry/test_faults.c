/* test_faults.c — the registry's fault requirements beyond tests/registry/test_registry.c (which
 * covers single-process semantics, one concurrent same-name run and one kill -9 child):
 *   - several `flywheel train` processes into one store at once (the real binary), and several
 *     library processes registering many names at once: no lost or duplicated versions;
 *   - kill -9 of several registering processes at random moments, over many rounds: afterwards no
 *     half-registered version is visible, numbering continues, and the store checks clean (SQLite
 *     integrity, fw_registry_check, `flywheel models check`, runs and audit match versions);
 *   - allocation failure at every point of a registration: all or nothing, no leak;
 *   - unknown names and versions, malformed references, an alias at a deleted version, artifact
 *     files missing, altered, truncated or replaced, a version row whose hash is not a hash, a store
 *     from a newer Flywheel and a store file that is not a database: clear errors, store untouched;
 *   - names: path separators, '..', length bound, control bytes, through the library and the CLI.
 * The tests of concurrency, kill -9, crash points, allocation failures, bad references, a dangling
 * alias, damaged artifacts and names run on both store back ends (SQLite, and PostgreSQL: artifacts
 * are bytea rows there, damaged by UPDATE instead of on disk); the ones about SQLite's files (its
 * write lock, temporary artifact files, foreign database files) on SQLite only.
 * CLI parts use $FLYWHEEL_BIN (tests/run.sh sets it) and skip politely without it. */
#include "artifact/artifact.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "registry/registry.h"
#include "test.h"

#include "backend.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------- */

/* An artifact with the metadata the registry reads; `salt` makes the bytes unique. */
static void make_artifact(fw_buf *out, const char *name, int salt) {
    fw_buf_init(out);
    fw_artifact_writer *w;
    if (fw_artifact_writer_new(&w)) return;
    if (name) fw_artifact_writer_str(w, FW_KV_NAME, name);
    fw_artifact_writer_str(w, FW_KV_TASK, "binary");
    fw_artifact_writer_str(w, FW_KV_FAMILY, "linear");
    fw_artifact_writer_str(w, FW_KV_METRIC, "roc_auc");
    fw_artifact_writer_i64(w, FW_KV_GREATER_BETTER, 1);
    fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, 0.8);
    fw_artifact_writer_f64(w, FW_KV_METRIC_BASELINE, 0.5);
    fw_artifact_writer_str(w, FW_KV_TEST_FP, "t");
    fw_artifact_writer_i64(w, FW_KV_SEED, salt);
    const char *run = "{\"candidates\":[{\"family\":\"linear\",\"roc_auc\":0.8}]}";
    fw_artifact_writer_section(w, FW_SECTION_RUN, run, strlen(run));
    fw_artifact_writer_section(w, FW_SECTION_MODEL, &salt, sizeof salt);
    fw_err err;
    fw_artifact_writer_finish(w, out, &err);
    fw_artifact_writer_free(w);
}

static char home_buf[600];
static const char *new_home(const char *tag) {
    snprintf(home_buf, sizeof home_buf, "%s/%s", fw_test_tmpdir(), tag);
    return home_buf;
}

static fw_registry *open_reg(const char *home) {
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = home;
    o.command = "test_faults";
    o.user = "tester";
    fw_registry *r = NULL;
    fw_err err;
    fw_status st = fw_registry_open(&o, &r, &err);
    CHECK_MSG(st == FW_OK, "open %s: %s", home, err.msg);
    return r;
}

static fw_status reg_named(fw_registry *r, const char *name, int salt, int64_t *v, fw_err *err) {
    fw_buf b;
    make_artifact(&b, name, salt);
    fw_status st = fw_registry_register(r, b.data, b.len, NULL, v, err);
    fw_buf_free(&b);
    return st;
}

/* A fresh home of the running test's back end (a directory, or a PostgreSQL database URL). */
static const char *store_home(const char *tag) {
    const char *h = fw_test_store_home(tag);
    return h ? h : new_home(tag);
}

/* One SELECT returning one integer, on either back end. */
static int64_t sql_int(const char *home, const char *sql) { return (int64_t)HOME_INT(home, "flywheel.db", sql); }

/* One UPDATE of the registry's tables behind its back, on either back end. */
static void sql_update(const char *home, const char *sql) {
    if (fw_test_is_pg()) {
        char q[1200];
        snprintf(q, sizeof q, "WITH u AS (%s RETURNING 1) SELECT count(*) FROM u", sql);
        CHECK_MSG(HOME_INT(home, "", q) >= 0, "%s", sql);
        return;
    }
    char db[700];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    char *msg = NULL;
    CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
}

static void sql_exec(const char *home, const char *sql) {
    char db[700];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    char *msg = NULL;
    CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
}

static bool integrity_ok(const char *home) {
    if (fw_test_is_pg()) return true; /* PostgreSQL's pages are its own (WAL, checksummed by it) */
    char db[700];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    sqlite3 *h = NULL;
    bool ok = false;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return ok;
}

/* Store-wide invariants after any fault: every name's versions are exactly 1..n; every version has
 * one run row and one register/import audit entry; fw_registry_check finds nothing. Returns the
 * number of versions over all names. */
static int64_t check_consistent(const char *home, const char *when) {
    CHECK_MSG(integrity_ok(home), "%s: SQLite integrity check failed", when);
    int64_t versions = sql_int(home, "SELECT COUNT(*) FROM versions");
    int64_t gaps = sql_int(home, "SELECT COUNT(*) FROM (SELECT model_id, MAX(version) AS mx, COUNT(*) AS n,"
                                 " COUNT(DISTINCT version) AS d FROM versions GROUP BY model_id) g"
                                 " WHERE mx != n OR d != n");
    CHECK_MSG(gaps == 0, "%s: %lld names have gaps or duplicates in their version numbers", when, (long long)gaps);
    int64_t audits = sql_int(home, "SELECT COUNT(*) FROM audit_log WHERE action IN ('register','import')");
    CHECK_MSG(audits == versions, "%s: %lld register entries for %lld versions", when, (long long)audits,
              (long long)versions);
    int64_t orphans = sql_int(home, "SELECT COUNT(*) FROM versions v LEFT JOIN runs r ON r.run_id = v.run_id"
                                    " WHERE r.run_id IS NULL");
    CHECK_MSG(orphans == 0, "%s: %lld versions without their run record", when, (long long)orphans);
    int64_t empty_models = sql_int(home, "SELECT COUNT(*) FROM models m WHERE NOT EXISTS"
                                         " (SELECT 1 FROM versions v WHERE v.model_id = m.id)");
    CHECK_MSG(empty_models == 0, "%s: %lld model names without any version", when, (long long)empty_models);
    fw_registry *r = open_reg(home);
    if (r) {
        fw_buf rep;
        fw_buf_init(&rep);
        size_t problems = 99;
        fw_err err;
        CHECK_OK(fw_registry_check(r, &rep, &problems, &err));
        fw_buf_put_u8(&rep, 0);
        CHECK_MSG(problems == 0, "%s: check found %zu problems: %s", when, problems, (const char *)rep.data);
        fw_buf_free(&rep);
        fw_registry_close(r);
    }
    return versions;
}

/* Runs `$FLYWHEEL_BIN args` (a shell fragment) capturing stdout+stderr into out; returns the exit
 * code, or -1 when there is no binary (the caller skips). */
static const char *flywheel_bin(void) {
    const char *b = getenv("FLYWHEEL_BIN");
    return b && *b && access(b, X_OK) == 0 ? b : NULL;
}

static int run_cli(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run_cli(char *out, size_t size, const char *fmt, ...) {
    const char *bin = flywheel_bin();
    if (out && size) out[0] = 0;
    if (!bin) return -1;
    char args[3000], cmd[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    char tmp[1024];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (out && n + 1 < size) {
            size_t k = got < size - 1 - n ? got : size - 1 - n;
            memcpy(out + n, tmp, k);
            n += k;
            out[n] = 0;
        }
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int64_t clock_gettime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void file_hash(const char *path, char out[33]) {
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fw_buf b;
    fw_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) fw_buf_put(&b, tmp, n);
    fclose(f);
    fw_hash128_hex(b.data, b.len, out);
    fw_buf_free(&b);
}

/* The artifact hash of ref ("" when it does not resolve: a test failure). */
static void artifact_hash_of(const char *home, const char *ref, char out[33]) {
    out[0] = 0;
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_version_rec v;
    fw_err err;
    if (fw_registry_resolve(r, ref, &v, &err) == FW_OK) {
        snprintf(out, 33, "%s", v.artifact_hash);
        fw_version_rec_free(&v);
    } else {
        fw_test_fail(__FILE__, __LINE__, "resolve %s: %s", ref, err.msg);
    }
    fw_registry_close(r);
}

/* True when ref resolves and its artifact reads back verified. */
static bool artifact_readable(const char *home, const char *ref) {
    fw_registry *r = open_reg(home);
    if (!r) return false;
    fw_version_rec v;
    fw_err err;
    bool ok = false;
    if (fw_registry_resolve(r, ref, &v, &err) == FW_OK) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        ok = fw_registry_read_artifact(r, &v, &bytes, &len, &err) == FW_OK;
        fw_free(bytes);
        fw_version_rec_free(&v);
    }
    fw_registry_close(r);
    return ok;
}

static void artifact_path_of(const char *home, const char *ref, char *path, size_t size) {
    path[0] = 0;
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_version_rec v;
    fw_err err;
    if (fw_registry_resolve(r, ref, &v, &err) == FW_OK) {
        snprintf(path, size, "%s/artifacts/%.2s/%s.fwm", home, v.artifact_hash, v.artifact_hash + 2);
        fw_version_rec_free(&v);
    } else {
        fw_test_fail(__FILE__, __LINE__, "resolve %s: %s", ref, err.msg);
    }
    fw_registry_close(r);
}

/* ---- concurrency --------------------------------------------------------------------------- */

/* 4 processes, each registering 12 versions spread over 3 shared names plus one name of its own,
 * all starting together: every name ends with exactly the versions registered, numbered 1..n. */
static void test_concurrent_many_names(void) {
    const char *home = store_home("many");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) < 0) _exit(13); /* start together (EOF when the parent closes) */
            fw_registry_options o;
            fw_registry_options_init(&o);
            o.home = h;
            fw_registry *r;
            fw_err err;
            if (fw_registry_open(&o, &r, &err)) {
                fprintf(stderr, "child %d open: %s\n", k, err.msg);
                _exit(10);
            }
            for (int i = 0; i < 12; i++) {
                char name[32];
                if (i % 4 == 3) snprintf(name, sizeof name, "own-%d", k);
                else snprintf(name, sizeof name, "shared-%d", i % 4);
                if (reg_named(r, name, k * 1000 + i, NULL, &err)) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    _exit(11);
                }
            }
            fw_registry_close(r);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < 4; k++) {
        int status = 0;
        waitpid(kids[k], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", k, status);
    }
    CHECK_EQ(check_consistent(home, "many names"), 48);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_model_summary *m;
    size_t n;
    fw_err err;
    CHECK_OK(fw_registry_list(r, &m, &n, &err));
    CHECK_EQ(n, 7); /* own-0..3, shared-0..2 */
    for (size_t i = 0; i < n; i++) {
        bool own = strncmp(m[i].name, "own-", 4) == 0;
        CHECK_EQ(m[i].n_versions, own ? 3 : 12);
        CHECK_EQ(m[i].latest_version, own ? 3 : 12);
    }
    fw_model_summaries_free(m, n);
    fw_registry_close(r);
}

/* Three `flywheel train` processes at once into one store: versions 1, 2, 3, each printed by one
 * process, and `flywheel models check` is clean. */
static void test_concurrent_cli_train(void) {
    if (!flywheel_bin()) {
        printf("  skipped: FLYWHEEL_BIN not set\n");
        return;
    }
    const char *home = store_home("cli-train");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    enum { N = 3 };
    char logs[N][700];
    pid_t kids[N];
    for (int k = 0; k < N; k++) {
        snprintf(logs[k], sizeof logs[k], "%s/train-%d.log", fw_test_tmpdir(), k);
        kids[k] = fork();
        if (kids[k] == 0) {
            char seed[16];
            snprintf(seed, sizeof seed, "%d", 7 + k);
            FILE *f = freopen(logs[k], "w", stdout);
            if (!f || dup2(fileno(stdout), 2) < 0) _exit(12);
            execl(flywheel_bin(), "flywheel", "train", "tests/artifact/fixtures/tiny.yaml", "--models",
                  "baseline,linear", "--threads", "1", "--seed", seed, "--home", h, "--quiet", "--json", (char *)NULL);
            _exit(127);
        }
    }
    for (int k = 0; k < N; k++) {
        int status = 0;
        waitpid(kids[k], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "train %d status %d (log %s)", k, status, logs[k]);
    }
    CHECK_EQ(check_consistent(home, "cli train"), N);
    char out[8192];
    int rc = run_cli(out, sizeof out, "models list tiny --home '%s'", h);
    CHECK_EQ(rc, 0);
    for (int k = 1; k <= N; k++) {
        char line[32];
        snprintf(line, sizeof line, "\n%d        active", k);
        CHECK_CONTAINS(out, line);
    }
    rc = run_cli(out, sizeof out, "models check --home '%s'", h);
    CHECK_MSG(rc == 0, "models check exit %d: %s", rc, out);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_version_rec *v;
    size_t n;
    fw_err err;
    CHECK_OK(fw_registry_versions(r, "tiny", &v, &n, &err));
    CHECK_EQ(n, N);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(v[i].version, (int64_t)i + 1);
        CHECK_CONTAINS(v[i].created_by, "train");
        fw_version_rec_free(&v[i]);
    }
    fw_free(v);
    fw_registry_close(r);
}

/* ---- crashes -------------------------------------------------------------------------------- */

/* Several children register in loops (distinct and shared names); all are killed with SIGKILL at a
 * random moment — often in the middle of writing the artifact or the transaction. Over 6 rounds the
 * store must stay consistent, and numbering continues where the visible versions end. */
static void test_kill9_many_writers(void) {
    const char *home = store_home("kill9-many");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r0 = open_reg(home);
    fw_registry_close(r0);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("  kill -9 seed %u\n", seed);
    srand(seed);
    int64_t before = 0;
    for (int round = 0; round < 6; round++) {
        enum { K = 3 };
        pid_t kids[K];
        int ready[2];
        CHECK(pipe(ready) == 0);
        for (int k = 0; k < K; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                close(ready[0]);
                fw_registry_options o;
                fw_registry_options_init(&o);
                o.home = h;
                fw_registry *c;
                fw_err err;
                if (fw_registry_open(&o, &c, &err)) _exit(10);
                for (int i = 0;; i++) {
                    char name[32];
                    snprintf(name, sizeof name, i % 2 ? "w%d" : "common", k);
                    (void)reg_named(c, name, (round * K + k) * 100000 + i, NULL, &err);
                    if (i == 0 && write(ready[1], "x", 1) != 1) _exit(12);
                }
            }
        }
        close(ready[1]);
        char x;
        for (int k = 0; k < K; k++) CHECK(read(ready[0], &x, 1) == 1);
        close(ready[0]);
        usleep((useconds_t)(rand() % 40000));
        for (int k = 0; k < K; k++) kill(kids[k], SIGKILL);
        for (int k = 0; k < K; k++) {
            int status;
            waitpid(kids[k], &status, 0);
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
        char when[64];
        snprintf(when, sizeof when, "after kill -9 round %d", round);
        int64_t now = check_consistent(home, when);
        CHECK_MSG(now >= before + K, "%s: %lld versions, had %lld before", when, (long long)now, (long long)before);
        /* the next registration continues the numbering */
        fw_registry *r = open_reg(home);
        if (!r) return;
        int64_t latest = sql_int(home, "SELECT MAX(version) FROM versions v JOIN models m ON m.id = v.model_id"
                                       " WHERE m.name = 'common'");
        int64_t v = 0;
        fw_err err;
        CHECK_OK(reg_named(r, "common", 900000 + round, &v, &err));
        CHECK_EQ(v, latest + 1);
        fw_registry_close(r);
        before = now + 1;
    }
    char out[4096];
    int rc = run_cli(out, sizeof out, "models check --home '%s'", h);
    if (rc >= 0) CHECK_MSG(rc == 0, "models check after kill -9: exit %d: %s", rc, out);
}

/* Crash at each step of registering and deleting (FW_CRASH_POINT makes the child SIGKILL itself
 * exactly there): afterwards the version is either fully there or not at all, a live version always
 * has its file (a crash may leave only an orphan file), and the numbering goes on. */
static void crash_child(const char *home, const char *point, const char *op, int salt) {
    pid_t kid = fork();
    if (kid == 0) {
        setenv("FW_CRASH_POINT", point, 1);
        fw_registry_options o;
        fw_registry_options_init(&o);
        o.home = home;
        fw_registry *c;
        fw_err err;
        if (fw_registry_open(&o, &c, &err)) _exit(10);
        if (strcmp(op, "register") == 0) (void)reg_named(c, "c", salt, NULL, &err);
        else (void)fw_registry_delete(c, op, false, &err);
        _exit(0); /* not reached when the point was hit */
    }
    int status = 0;
    waitpid(kid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: the child did not stop at the crash point (status %d)",
              point, status);
}

static void test_crash_points(void) {
    const char *home = store_home("crash-points");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "c", 1, NULL, &err));
    CHECK_OK(reg_named(r, "c", 2, NULL, &err));
    fw_registry_close(r);
    const char *reg_points[] = {"register:file-written", "register:before-commit"};
    for (int i = 0; i < 2; i++) {
        crash_child(h, reg_points[i], "register", 100 + i);
        CHECK_EQ(check_consistent(home, reg_points[i]), 2);
    }
    /* each crashed registration left its artifact with no version: `models check` reports both
     * orphans, --clean removes them, the live versions' files stay */
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" models check --home '%s'", h), 0);
    CHECK_CONTAINS(out, "2 orphan artifacts no version refers to");
    free(out);
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" models check --clean --json --home '%s'", h), 0);
    CHECK_CONTAINS(out, "\"orphan_artifacts\":2,\"orphans_removed\":true");
    free(out);
    r = open_reg(home);
    if (!r) return;
    size_t n_orph = 9;
    CHECK_OK(fw_registry_orphans(r, false, NULL, &n_orph, &err));
    CHECK_EQ(n_orph, 0u);
    fw_registry_close(r);
    CHECK_EQ(check_consistent(home, "after --clean"), 2);
    char p2[1024] = "";
    if (!fw_test_is_pg()) artifact_path_of(home, "c@2", p2, sizeof p2);
    crash_child(h, "delete:before-commit", "c@2", 0);
    check_consistent(home, "delete:before-commit"); /* c@2 still live: its bytes must still be there */
    CHECK_MSG(p2[0] == 0 || access(p2, R_OK) == 0, "a crash before the delete committed removed the file of live c@2");
    CHECK_MSG(artifact_readable(home, "c@2"), "a crash before the delete committed lost the bytes of live c@2");
    r = open_reg(home);
    if (!r) return;
    fw_version_rec v;
    CHECK_OK(fw_registry_resolve(r, "c@2", &v, &err));
    fw_version_rec_free(&v);
    fw_registry_close(r);
    crash_child(h, "delete:after-commit", "c@2", 0);
    check_consistent(home, "delete:after-commit");
    r = open_reg(home);
    if (!r) return;
    CHECK_EQ(fw_registry_resolve(r, "c@2", &v, &err), FW_ENOTFOUND);
    /* the orphan file left behind is harmless: the same bytes register again and read back */
    int64_t nv = 0;
    CHECK_OK(reg_named(r, "c", 2, &nv, &err));
    CHECK_EQ(nv, 3); /* crashed registrations took no number; deleted 2 is never reused */
    CHECK_OK(fw_registry_resolve(r, "c@3", &v, &err));
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK_OK(fw_registry_read_artifact(r, &v, &bytes, &len, &err));
    fw_free(bytes);
    fw_version_rec_free(&v);
    fw_registry_close(r);
    check_consistent(home, "after re-registering");
}

/* A crash between writing the artifact's temporary file and renaming it leaves that file behind:
 * no version, a consistent store, and `check` lists the leftover (not a problem) until --clean
 * deletes it; a temporary file whose writer is still alive is never touched. */
static void test_leftover_temp_files(void) {
    const char *home = new_home("leftovers");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "t", 1, NULL, &err));
    fw_registry_close(r);
    crash_child(h, "artifact:temp-written", "register", 7);
    CHECK_EQ(check_consistent(home, "artifact:temp-written"), 1);
    /* a live writer's file, named as this process would name it */
    char live[1024];
    snprintf(live, sizeof live, "%s/artifacts/ab/cd.fwm.tmp.%ld.0", home, (long)getppid());
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/artifacts/ab", home);
    mkdir(dir, 0755);
    FILE *f = fopen(live, "w");
    if (f) fclose(f);
    r = open_reg(home);
    if (!r) return;
    fw_buf rep;
    fw_buf_init(&rep);
    size_t n = 0;
    CHECK_OK(fw_registry_leftovers(r, false, &rep, &n, &err));
    CHECK_EQ(n, 1u);
    fw_buf_put_u8(&rep, 0);
    CHECK_CONTAINS((const char *)rep.data, ".fwm.tmp.");
    CHECK(!strstr((const char *)rep.data, "cd.fwm.tmp"));
    fw_buf_free(&rep);
    CHECK_OK(fw_registry_leftovers(r, true, NULL, &n, &err));
    CHECK_EQ(n, 1u);
    CHECK_OK(fw_registry_leftovers(r, false, NULL, &n, &err));
    CHECK_EQ(n, 0u);
    CHECK_MSG(access(live, F_OK) == 0, "a live writer's temporary file was removed");
    fw_registry_close(r);
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" models check --home '%s'", home), 0);
    CHECK_CONTAINS(out, "0 problems");
    CHECK(out && !strstr(out, "temporary file"));
    free(out);
}

/* Allocation failure at each point of a registration, then of a promotion: every attempt either
 * fully happened or left no trace; ASan checks nothing leaks on any path. */
static void test_alloc_failures(void) {
    const char *home = store_home("oom");
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    int64_t expect = 1;
    int failures = 0, n;
    for (n = 1; n < 400; n++) {
        fw_buf b;
        make_artifact(&b, "m", 1000 + n);
        int64_t v = 0;
        fw_err_clear(&err);
        fw_alloc_fail_after(n);
        fw_status st = fw_registry_register(r, b.data, b.len, NULL, &v, &err);
        fw_alloc_fail_after(0);
        fw_buf_free(&b);
        if (st == FW_OK) {
            CHECK_EQ(v, ++expect);
            break; /* the Nth allocation came after the last one: all paths covered */
        }
        failures++;
        CHECK_MSG(err.msg[0] != 0, "allocation %d: failure without a message", n);
        int64_t rows = sql_int(home, "SELECT COUNT(*) FROM versions");
        CHECK_MSG(rows == expect, "allocation %d failed (%s) but %lld versions exist (expected %lld)", n, err.msg,
                  (long long)rows, (long long)expect);
    }
    CHECK_MSG(failures > 5, "only %d failure points", failures);
    CHECK_EQ(check_consistent(home, "after allocation failures"), expect);
    /* the same for promote and delete: the alias and statuses are all or nothing */
    for (n = 1; n < 200; n++) {
        fw_promote_options po;
        fw_promote_options_init(&po);
        po.force = true;
        fw_alloc_fail_after(n);
        fw_status st = fw_registry_promote(r, "m@2", &po, NULL, 0, &err);
        fw_alloc_fail_after(0);
        int64_t aliases = sql_int(home, "SELECT COUNT(*) FROM aliases");
        int64_t promotes = sql_int(home, "SELECT COUNT(*) FROM audit_log WHERE action = 'promote'");
        if (st == FW_OK) {
            CHECK_EQ(aliases, 1);
            CHECK_EQ(promotes, 1);
            break;
        }
        CHECK_MSG(aliases == 0 && promotes == 0, "promote failed at allocation %d but left %lld aliases, %lld entries",
                  n, (long long)aliases, (long long)promotes);
    }
    fw_registry_close(r);
}

/* A process holding the write lock (a long batch write, or one stuck mid-transaction) must not
 * stall readers: opening the store, listing and resolving work at once (WAL), and when the holder
 * is killed -9 its unfinished rows never appear. */
static void test_readers_not_blocked_by_writer(void) {
    const char *home = new_home("writer-lock");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    fw_registry_close(r);
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t kid = fork();
    if (kid == 0) {
        close(ready[0]);
        char db[800];
        snprintf(db, sizeof db, "%s/flywheel.db", h);
        sqlite3 *c;
        if (sqlite3_open(db, &c) != SQLITE_OK) _exit(10);
        if (sqlite3_exec(c, "BEGIN IMMEDIATE; INSERT INTO models(name, created_ms) VALUES('half', 0);", NULL, NULL,
                         NULL) != SQLITE_OK)
            _exit(11);
        if (write(ready[1], "x", 1) != 1) _exit(12);
        sleep(60); /* holds the write lock until killed */
        _exit(0);
    }
    close(ready[1]);
    char x;
    CHECK(read(ready[0], &x, 1) == 1);
    close(ready[0]);
    double t0 = (double)clock_gettime_ms();
    r = open_reg(home);
    if (r) {
        fw_version_rec v;
        CHECK_OK(fw_registry_resolve(r, "m", &v, &err));
        fw_version_rec_free(&v);
        fw_model_summary *m;
        size_t n;
        CHECK_OK(fw_registry_list(r, &m, &n, &err));
        CHECK_EQ(n, 1);
        fw_model_summaries_free(m, n);
        fw_registry_close(r);
    }
    double waited = (double)clock_gettime_ms() - t0;
    CHECK_MSG(waited < 3000, "readers waited %.0f ms behind a writer", waited);
    char out[4096];
    int rc = run_cli(out, sizeof out, "models list --home '%s'", h);
    if (rc >= 0) CHECK_MSG(rc == 0, "models list beside a writer: exit %d: %s", rc, out);
    kill(kid, SIGKILL);
    int status;
    waitpid(kid, &status, 0);
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM models WHERE name = 'half'"), 0);
    check_consistent(home, "after killing the lock holder");
    r = open_reg(home);
    if (!r) return;
    int64_t v2 = 0;
    CHECK_OK(reg_named(r, "m", 2, &v2, &err)); /* the lock died with its holder */
    CHECK_EQ(v2, 2);
    fw_registry_close(r);
}

/* ---- bad references, damaged stores ---------------------------------------------------------- */

static void test_bad_references(void) {
    const char *home = store_home("refs");
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    fw_version_rec v;
    struct {
        const char *ref;
        fw_status st;
        const char *msg;
    } cases[] = {
        {"", FW_EINVAL, "empty"},
        {"@1", FW_EINVAL, "model name is empty"},
        {"m@", FW_EINVAL, "alias is empty"},
        {"m@0", FW_EINVAL, "bad version number"},
        {"m@v0", FW_EINVAL, "bad version number"},
        {"m@-1", FW_EINVAL, "alias '-1'"},
        {"m@99999999999999999999999", FW_EINVAL, "bad version number"},
        {"m@1@2", FW_EINVAL, "'@'"},
        {"m@../x", FW_EINVAL, "alias"},
        {"../m", FW_EINVAL, "model name"},
        {"m@2", FW_ENOTFOUND, "no version 2"},
        {"m@v9", FW_ENOTFOUND, "no version 9"},
        {"m@staging", FW_ENOTFOUND, "no alias 'staging'"},
        {"other", FW_ENOTFOUND, "no model named 'other'"},
        {"other@1", FW_ENOTFOUND, "no model named 'other'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fw_err_clear(&err);
        fw_status st = fw_registry_resolve(r, cases[i].ref, &v, &err);
        CHECK_MSG(st == cases[i].st, "'%s': status %d, expected %d (%s)", cases[i].ref, st, cases[i].st, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].msg) != NULL, "'%s': message '%s' lacks '%s'", cases[i].ref, err.msg,
                  cases[i].msg);
        if (st == FW_OK) fw_version_rec_free(&v);
    }
    /* every mutating call refuses an unknown version without changing anything */
    int64_t audits = sql_int(home, "SELECT COUNT(*) FROM audit_log");
    fw_promote_options po;
    fw_promote_options_init(&po);
    CHECK_EQ(fw_registry_promote(r, "m@7", &po, NULL, 0, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_registry_alias_set(r, "nope@1", "staging", false, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_registry_alias_remove(r, "nope", "staging", &err), FW_ENOTFOUND);
    CHECK_EQ(fw_registry_archive(r, "m@7", false, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_registry_delete(r, "nope", false, &err), FW_ENOTFOUND);
    int64_t to;
    CHECK_EQ(fw_registry_rollback(r, "nope", NULL, &to, &err), FW_ENOTFOUND);
    char written[4096];
    CHECK_EQ(fw_registry_export(r, "m@3", fw_test_tmpdir(), written, sizeof written, &err), FW_ENOTFOUND);
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM audit_log"), audits);
    fw_registry_close(r);
    /* the CLI: exit 1 and the message on stderr */
    char out[4096];
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    int rc = run_cli(out, sizeof out, "models show nope --home '%s'", h);
    if (rc < 0) return;
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(out, "no model named 'nope'");
    rc = run_cli(out, sizeof out, "models show m@42 --home '%s'", h);
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(out, "no version 42");
    rc = run_cli(out, sizeof out, "models promote 'm@../../x' --home '%s'", h);
    CHECK(rc == 1 || rc == 2);
    CHECK_CONTAINS(out, "alias");
}

/* An alias whose version was deleted behind the registry's back: resolve says the store is
 * inconsistent, check and the CLI report it, and setting the alias again repairs it. */
static void test_alias_at_deleted_version(void) {
    const char *home = store_home("dangling");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    CHECK_OK(reg_named(r, "m", 2, NULL, &err));
    fw_promote_options po;
    fw_promote_options_init(&po);
    CHECK_OK(fw_registry_promote(r, "m@1", &po, NULL, 0, &err));
    fw_registry_close(r);
    sql_update(home, "UPDATE versions SET status='deleted' WHERE version = 1");
    r = open_reg(home);
    if (!r) return;
    fw_version_rec v;
    CHECK_EQ(fw_registry_resolve(r, "m", &v, &err), FW_ECORRUPT); /* NAME goes through production */
    CHECK_CONTAINS(err.msg, "points at deleted version 1");
    char out[4096];
    int rc = run_cli(out, sizeof out, "models check --home '%s'", h);
    if (rc >= 0) {
        CHECK_EQ(rc, 1);
        CHECK_CONTAINS(out, "production");
    }
    rc = run_cli(out, sizeof out, "models show m --home '%s'", h);
    if (rc >= 0) {
        CHECK_EQ(rc, 1);
        CHECK_CONTAINS(out, "deleted version 1");
    }
    /* repair: point the alias at a live version */
    po.force = true;
    CHECK_OK(fw_registry_promote(r, "m@2", &po, NULL, 0, &err));
    CHECK_OK(fw_registry_resolve(r, "m", &v, &err));
    CHECK_EQ(v.version, 2);
    fw_version_rec_free(&v);
    size_t problems = 9;
    CHECK_OK(fw_registry_check(r, NULL, &problems, &err));
    CHECK_EQ(problems, 0);
    fw_registry_close(r);
}

/* Artifact files damaged in every way a disk or a person can: each read says which version and
 * what happened; check counts each; nothing outside the artifacts folder is ever opened. */
static void test_damaged_artifacts(void) {
    const char *home = store_home("damaged");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    for (int i = 1; i <= 5; i++) CHECK_OK(reg_named(r, "m", i, NULL, &err));
    fw_registry_close(r);
    /* v1 truncated to nothing, v2 truncated by one byte, v3 replaced by v4's (valid) bytes,
     * v4 replaced by a directory (PostgreSQL: its row deleted), v5 row names a "hash" that walks
     * out of the store */
    if (fw_test_is_pg()) {
        char hs[5][33], sql[400];
        for (int i = 0; i < 5; i++) {
            char ref[16];
            snprintf(ref, sizeof ref, "m@%d", i + 1);
            artifact_hash_of(home, ref, hs[i]);
        }
        snprintf(sql, sizeof sql, "UPDATE artifacts SET data = ''::bytea WHERE hash = '%s'", hs[0]);
        sql_update(home, sql);
        snprintf(sql, sizeof sql, "UPDATE artifacts SET data = substring(data from 1 for length(data) - 1) WHERE hash = '%s'", hs[1]);
        sql_update(home, sql);
        snprintf(sql, sizeof sql, "UPDATE artifacts SET data = (SELECT data FROM artifacts WHERE hash = '%s') WHERE hash = '%s'",
                 hs[3], hs[2]);
        sql_update(home, sql);
        snprintf(sql, sizeof sql, "DELETE FROM artifacts WHERE hash = '%s'", hs[3]);
        sql_update(home, sql);
    } else {
        char p[5][1024];
        for (int i = 0; i < 5; i++) {
            char ref[16];
            snprintf(ref, sizeof ref, "m@%d", i + 1);
            artifact_path_of(home, ref, p[i], sizeof p[i]);
        }
        CHECK(truncate(p[0], 0) == 0);
        struct stat st;
        CHECK(stat(p[1], &st) == 0);
        CHECK(truncate(p[1], st.st_size - 1) == 0);
        char cmd[3000];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p[3], p[2]);
        CHECK(system(cmd) == 0);
        CHECK(unlink(p[3]) == 0);
        CHECK(mkdir(p[3], 0755) == 0);
    }
    sql_update(home, "UPDATE versions SET artifact_hash = '../../../../../../../../etc/passwd' WHERE version = 5");
    r = open_reg(home);
    if (!r) return;
    const fw_status expect[5] = {FW_ECORRUPT, FW_ECORRUPT, FW_ECORRUPT, fw_test_is_pg() ? FW_ENOTFOUND : FW_EIO,
                                 FW_EINVAL};
    for (int i = 0; i < 5; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "m@%d", i + 1);
        fw_version_rec v;
        CHECK_OK(fw_registry_resolve(r, ref, &v, &err));
        uint8_t *bytes = NULL;
        size_t len = 0;
        fw_err_clear(&err);
        fw_status s = fw_registry_read_artifact(r, &v, &bytes, &len, &err);
        CHECK_MSG(s == expect[i], "%s: status %d, expected %d (%s)", ref, s, expect[i], err.msg);
        CHECK_MSG(bytes == NULL, "%s: bytes returned with an error", ref);
        CHECK_CONTAINS(err.msg, ref);
        fw_version_rec_free(&v);
    }
    fw_buf rep;
    fw_buf_init(&rep);
    size_t problems = 0;
    CHECK_OK(fw_registry_check(r, &rep, &problems, &err));
    CHECK_EQ(problems, 5);
    fw_buf_put_u8(&rep, 0);
    CHECK_CONTAINS((const char *)rep.data, "m@5");
    fw_buf_free(&rep);
    /* export refuses to copy damaged bytes */
    char written[4096];
    CHECK_EQ(fw_registry_export(r, "m@3", fw_test_tmpdir(), written, sizeof written, &err), FW_ECORRUPT);
    fw_registry_close(r);
    char out[4096];
    int rc = run_cli(out, sizeof out, "models check --home '%s'", h);
    if (rc >= 0) {
        CHECK_EQ(rc, 1);
        CHECK_CONTAINS(out, "m@1");
        CHECK_CONTAINS(out, "m@4");
    }
}

/* A store written by a newer Flywheel, a flywheel.db that is not a database, and a home that is a
 * file: each refused with a clear error, and the files are left exactly as they were. */
static void test_foreign_stores(void) {
    const char *home = new_home("newer");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    fw_registry_close(r);
    char future[160], future_msg[40];
    snprintf(future, sizeof future, "UPDATE fw_meta SET value='%d' WHERE key='schema_version';"
             "CREATE TABLE from_the_future(x INTEGER)", FW_STORE_SCHEMA_VERSION + 1);
    snprintf(future_msg, sizeof future_msg, "schema version %d", FW_STORE_SCHEMA_VERSION + 1);
    sql_exec(home, future);
    char db[800], before[33], after[33];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    file_hash(db, before);
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = h;
    CHECK_EQ(fw_registry_open(&o, &r, &err), FW_EVERSION);
    CHECK_CONTAINS(err.msg, future_msg);
    CHECK_CONTAINS(err.msg, "newer Flywheel");
    CHECK_CONTAINS(err.msg, db);
    char out[4096];
    int rc = run_cli(out, sizeof out, "models list --home '%s'", h);
    if (rc >= 0) {
        CHECK_EQ(rc, 1);
        CHECK_CONTAINS(out, "newer Flywheel");
    }
    rc = run_cli(out, sizeof out, "models import '%s/artifacts' --home '%s'", h, h);
    if (rc >= 0) CHECK(rc != 0);
    file_hash(db, after);
    CHECK_STR(before, after);
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM versions"), 1);

    /* not a database at all */
    const char *junk_home = new_home("junk");
    char jh[700];
    snprintf(jh, sizeof jh, "%s", junk_home);
    CHECK(mkdir(jh, 0755) == 0);
    char jdb[800];
    snprintf(jdb, sizeof jdb, "%s/flywheel.db", jh);
    FILE *f = fopen(jdb, "wb");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, f);
        fclose(f);
    }
    file_hash(jdb, before);
    o.home = jh;
    fw_status st = fw_registry_open(&o, &r, &err);
    CHECK_MSG(st == FW_ECORRUPT, "junk store: status %d (%s)", st, err.msg);
    CHECK_CONTAINS(err.msg, jdb);
    file_hash(jdb, after);
    CHECK_STR(before, after);

    /* an emptied registry next to its artifacts (truncated to 0 bytes, or every table dropped) is
     * refused, never silently a new empty registry; a fresh home still starts one */
    const char *emptied = new_home("emptied");
    char eh[700], edb[800];
    snprintf(eh, sizeof eh, "%s", emptied);
    r = open_reg(eh);
    if (!r) return;
    CHECK_OK(reg_named(r, "m", 1, NULL, &err));
    fw_registry_close(r);
    snprintf(edb, sizeof edb, "%s/flywheel.db", eh);
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0) {
            char wal[900];
            snprintf(wal, sizeof wal, "%s-wal", edb);
            unlink(wal);
            CHECK(truncate(edb, 0) == 0);
        } else {
            sql_exec(eh, "CREATE TABLE stray(x)");
        }
        o.home = eh;
        st = fw_registry_open(&o, &r, &err);
        CHECK_MSG(st == FW_ECORRUPT, "emptied store (%d): status %d (%s)", kind, st, err.msg);
        CHECK_CONTAINS(err.msg, kind == 0 ? "holds 1 model artifact" : "no fw_meta");
        if (st == FW_OK) fw_registry_close(r);
        rc = run_cli(out, sizeof out, "models list --home '%s'", eh);
        if (rc >= 0) CHECK(rc != 0);
    }
    CHECK_EQ(sql_int(eh, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'versions'"), 0);

    /* a home that is a regular file */
    char fh[800];
    snprintf(fh, sizeof fh, "%s/plainfile", fw_test_tmpdir());
    f = fopen(fh, "w");
    if (f) fclose(f);
    o.home = fh;
    CHECK_EQ(fw_registry_open(&o, &r, &err), FW_EIO);
    CHECK_CONTAINS(err.msg, "plainfile");
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_names(void) {
    const char *home = store_home("names");
    char h[700];
    snprintf(h, sizeof h, "%s", home);
    fw_registry *r = open_reg(home);
    if (!r) return;
    fw_err err;
    char n128[FW_NAME_MAX + 1], n129[FW_NAME_MAX + 2];
    memset(n128, 'a', FW_NAME_MAX);
    n128[FW_NAME_MAX] = 0;
    memset(n129, 'b', FW_NAME_MAX + 1);
    n129[FW_NAME_MAX + 1] = 0;
    CHECK_OK(fw_registry_check_name(n128, &err));
    CHECK_EQ(fw_registry_check_name(n129, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "at most 128");
    const char *bad[] = {"a/../../b", "/abs", "x/", "..", "a..", "-lead", "_lead", "tab\tname", "nl\n",
                         "caf\xc3\xa9", "sp ace", "q\"uote", "semi;colon", "star*", "a@b", "%2e%2e"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(fw_registry_check_name(bad[i], &err) == FW_EINVAL, "name '%s' accepted", bad[i]);
        CHECK_MSG(fw_registry_check_alias(bad[i], &err) == FW_EINVAL, "alias '%s' accepted", bad[i]);
    }
    /* the name inside the artifact is validated too (no --name given) */
    fw_buf b;
    make_artifact(&b, "../../escape", 1);
    CHECK_EQ(fw_registry_register(r, b.data, b.len, NULL, NULL, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "../../escape");
    fw_buf_free(&b);
    make_artifact(&b, NULL, 2);
    CHECK_EQ(fw_registry_register(r, b.data, b.len, NULL, NULL, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, FW_KV_NAME);
    fw_buf_free(&b);
    CHECK_OK(reg_named(r, n128, 3, NULL, &err));
    CHECK_OK(fw_registry_alias_set(r, n128, "champion", false, &err));
    CHECK_EQ(fw_registry_alias_set(r, n128, "../x", false, &err), FW_EINVAL);
    CHECK_EQ(fw_registry_alias_set(r, n128, "v7", false, &err), FW_EINVAL);
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM models"), 1);
    /* through the CLI: import and train with a bad --name create nothing, anywhere */
    char exported[4096];
    CHECK_OK(fw_registry_export(r, n128, fw_test_tmpdir(), exported, sizeof exported, &err));
    fw_registry_close(r);
    char out[4096];
    int rc = run_cli(out, sizeof out, "models import '%s' --name '../../evil' --home '%s'", exported, h);
    if (rc >= 0) {
        CHECK(rc == 1 || rc == 2);
        CHECK_CONTAINS(out, "model name");
        rc = run_cli(out, sizeof out, "train tests/artifact/fixtures/tiny.yaml --models baseline --threads 1 "
                                      "--name 'a/b' --home '%s' --quiet", h);
        CHECK(rc != 0);
        CHECK_CONTAINS(out, "model name");
        char esc[800];
        snprintf(esc, sizeof esc, "%s/evil", fw_test_tmpdir());
        CHECK(access(esc, F_OK) != 0);
    }
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM models"), 1);
    CHECK_EQ(sql_int(home, "SELECT COUNT(*) FROM versions"), 1);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_concurrent_many_names);
    TEST_RUN_BACKENDS(test_concurrent_cli_train);
    TEST_RUN_BACKENDS(test_kill9_many_writers);
    TEST_RUN_BACKENDS(test_crash_points);
    TEST_RUN(test_leftover_temp_files);
    TEST_RUN_BACKENDS(test_alloc_failures);
    TEST_RUN(test_readers_not_blocked_by_writer);
    TEST_RUN_BACKENDS(test_bad_references);
    TEST_RUN_BACKENDS(test_alias_at_deleted_version);
    TEST_RUN_BACKENDS(test_damaged_artifacts);
    TEST_RUN(test_foreign_stores);
    TEST_RUN_BACKENDS(test_names);
    return fw_test_report(argv[0]);
}
