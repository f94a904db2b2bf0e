/* test_pg_home.c — Flywheel end to end on a postgresql:// home (issue 20; store/store_pg.c,
 * store/log_pg.c), through the real binary and server only: `train` registers into PostgreSQL,
 * `models promote` moves production, `serve` with `store: postgresql://...` in its config loads the
 * artifact from the database and answers, its prediction log reaches prediction_log and `/v1/feedback` the feedback
 * table (every label matched, none unmatched), a promotion made by another process while it serves
 * reaches it at once (alias_poll_s is 600: by the store's NOTIFY), `batch` records its run (batch history reads it back), `retrain` finds every labelled
 * served row through the store's scan, and `monitor --history` lists the alarm table's rows. The side
 * files of a URL home (the log spool, batch locks) go to $FLYWHEEL_LOCAL_DIR, never a path named
 * after the URL. And an outage: PostgreSQL stopped while serving, requests answered, the log's
 * backlog spooled and counted, drained once it is back. */
#include "test.h"

#include "backend.h"
#include "client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { N = 240 };

static char *lines[800];
static size_t n_lines;
static char header[512];
static char *text;

static bool load_pima(void) {
    if (text) return n_lines > 0;
    text = fw_test_slurp("examples/pima/pima.csv", NULL);
    if (!text) return false;
    n_lines = fw_test_csv_lines(text, header, sizeof header, lines, 800);
    return n_lines > 0;
}

/* Row i of pima as a /v1 body (empty fields null) and its label. */
static void body_of(size_t i, char *body, size_t cap, char *label, size_t lcap) {
    fw_test_v1_row_body(header, lines[i % n_lines], body, cap, label, lcap);
}

static double fw_test_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double metric_value(const char *metrics, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = metrics ? strstr(metrics, key) : NULL;
    return p ? atof(p + strlen(key)) : -1;
}

/* The version a /v1 answer names ("" when none). */
static void version_of(const char *body, char *out, size_t cap) {
    json_error_t je;
    json_t *j = body ? json_loads(body, 0, &je) : NULL;
    const char *v = json_string_value(json_object_get(j, "version"));
    snprintf(out, cap, "%s", v ? v : "");
    json_decref(j);
}

static void test_end_to_end(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    CHECK(load_pima());
    const char *home = fw_test_store_home("e2e");
    if (!home || !n_lines) return;
    char local[600];
    snprintf(local, sizeof local, "%s/local", fw_test_tmpdir());
    setenv("FLYWHEEL_LOCAL_DIR", local, 1); /* the server and every command below inherit it */
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" && \"$FW\" train \"$T/pima.yaml\" --home '%s' --quiet"
                            " --models linear && \"$FW\" models promote pima@1 --home '%s' --force", home, home);
    CHECK_MSG(rc == 0, "train + promote on %s: %s", home, o ? o : "");
    free(o);
    if (rc) return;
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM artifacts"), 1);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM audit_log WHERE action IN ('register', 'promote')"), 2);
    /* the server finds the store through its config (serving.store), not --home */
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/serve.yaml", fw_test_tmpdir());
    FILE *c = fopen(cfg, "w");
    CHECK(c != NULL);
    if (!c) return;
    /* the alias poll (the backstop) far out of reach: a promotion made elsewhere must arrive by
     * the store's announcement (LISTEN/NOTIFY) */
    fprintf(c, "serving:\n  store: %s\n  alias_poll_s: 600\n", home);
    fclose(c);
    hc_server s;
    const char *args[] = {"--config", cfg, NULL};
    int started = hc_server_start(&s, args);
    CHECK_EQ(started, 0);
    if (started != 0) return;
    int fd = hc_connect(s.port);
    CHECK(fd >= 0);
    static char rids[N][80], labels[N][16];
    char body[1024], fb[256], ver[16];
    hc_resp r;
    for (size_t i = 0; fd >= 0 && i < N; i++) {
        body_of(i, body, sizeof body, labels[i], sizeof labels[i]);
        if (hc_request_fd(fd, "POST", "/v1/models/pima:predict", body, NULL, &r) != 0 || r.status != 200) {
            fw_test_fail(__FILE__, __LINE__, "row %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            break;
        }
        version_of(r.body, ver, sizeof ver);
        if (i == 0) CHECK_STR(ver, "1");
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        snprintf(rids[i], sizeof rids[i], "%s", json_string_value(json_object_get(j, "request_id")) ?: "");
        json_decref(j);
        hc_resp_free(&r);
    }
    /* the log reaches PostgreSQL off the request path: wait for every row */
    double stored = 0;
    for (int t = 0; fd >= 0 && t < 600 && stored < N; t++) {
        if (hc_request_fd(fd, "GET", "/metrics", NULL, NULL, &r) == 0) stored = metric_value(r.body, "flywheel_log_stored_total");
        hc_resp_free(&r);
        if (stored < N) usleep(100000);
    }
    CHECK_MSG(stored >= N, "the store holds %g of %d predictions", stored, N);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM prediction_log WHERE model_name = 'pima' AND version = 1"), N);
    for (size_t i = 0; fd >= 0 && i < N; i++) {
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rids[i], labels[i]);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) {
            fw_test_fail(__FILE__, __LINE__, "feedback %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            break;
        }
        hc_resp_free(&r);
    }
    /* acknowledged feedback is in the table (wait for the writer's batch) */
    long long fbn = 0;
    for (int t = 0; t < 300 && fbn < N; t++) {
        fbn = HOME_INT(home, "", "SELECT count(*) FROM feedback WHERE status IS NULL AND label_json IS NOT NULL");
        if (fbn < N) usleep(100000);
    }
    CHECK_EQ(fbn, N);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM feedback_unmatched"), 0);
    /* a second version promoted by another process reaches the running server at once (NOTIFY) */
    rc = fw_test_sh(&o, "\"$FW\" train \"$T/pima.yaml\" --home '%s' --quiet --models knn && \"$FW\" models promote"
                        " pima@2 --home '%s' --force", home, home);
    CHECK_MSG(rc == 0, "train v2 + promote: %s", o ? o : "");
    free(o);
    ver[0] = 0;
    double t0 = fw_test_now_s();
    body_of(0, body, sizeof body, labels[0], sizeof labels[0]);
    for (int t = 0; fd >= 0 && rc == 0 && t < 300 && strcmp(ver, "2") != 0; t++) {
        if (hc_request_fd(fd, "POST", "/v1/models/pima:predict", body, NULL, &r) == 0) version_of(r.body, ver, sizeof ver);
        hc_resp_free(&r);
        if (strcmp(ver, "2") != 0) usleep(100000);
    }
    CHECK_STR(ver, "2");
    if (getenv("FW_TEST_VERBOSE")) fprintf(stderr, "promotion served after %.3f s\n", fw_test_now_s() - t0);
    if (fd >= 0) close(fd);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    /* no directory named after the URL; the spool is under the local directory */
    struct stat sb;
    CHECK(stat("postgresql:", &sb) != 0);
    char spool[700];
    snprintf(spool, sizeof spool, "%s/spool", local);
    CHECK_MSG(stat(spool, &sb) == 0 && S_ISDIR(sb.st_mode), "no spool directory %s", spool);
    /* batch: scored, and its run recorded in the database */
    rc = fw_test_sh(&o, "\"$FW\" batch --model pima@1 --input examples/pima/pima.csv --output \"$T/out.csv\" --home '%s'"
                        " --threads 1 && \"$FW\" batch history --home '%s' --json", home, home);
    CHECK_MSG(rc == 0, "batch: %s", o ? o : "");
    CHECK_CONTAINS(o, "\"outcome\":\"ok\"");
    free(o);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM batch_jobs WHERE model = 'pima' AND outcome = 'ok'"), 1);
    /* retrain: every labelled served row, found by the store's scan in PostgreSQL */
    rc = fw_test_sh(&o, "\"$FW\" retrain pima --home '%s' --json", home);
    CHECK_MSG(rc == 0, "retrain: %s", o ? o : "");
    char want[64];
    snprintf(want, sizeof want, "\"labelled\":%d", N);
    CHECK_CONTAINS(o, want);
    free(o);
    /* the alarm history is read from the database: as many alarms as the table holds (the
     * server's monitors may have raised some while it served) */
    rc = fw_test_sh(&o, "\"$FW\" monitor pima --history --json --home '%s'", home);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(o, "{\"model\":\"pima\",\"alarms\":[");
    long long listed = 0;
    for (const char *p = o; p && (p = strstr(p, "\"raised_ms\":")); p++) listed++;
    CHECK_EQ(listed, HOME_INT(home, "", "SELECT count(*) FROM alarms WHERE model_name = 'pima'"));
    free(o);
    CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM learn_locks"), 0); /* released */
}

/* PostgreSQL down while serving (a server of this test's own, stopped with an immediate shutdown):
 * every request is still answered from the loaded model, the prediction log's records wait in the
 * local spool (counted: flywheel_log_spool_records; bounded by serving.log.spool_bytes), and when
 * the database is back the backlog drains into prediction_log, each record once. */
static void test_outage(void) {
    if (!fw_test_bin() || !load_pima()) return;
    char *o = NULL;
    char url[256] = "", dir[256] = "";
    FILE *p = popen("tests/support/pg.sh start", "r");
    char line[600] = "";
    if (p && fgets(line, sizeof line, p) && sscanf(line, "%255s %255s", url, dir) == 2) {
    } else {
        url[0] = 0;
    }
    if (p) pclose(p);
    CHECK_MSG(url[0], "tests/support/pg.sh start failed");
    if (!url[0]) return;
    char home[300];
    snprintf(home, sizeof home, "%s/postgres", url);
    char local[600];
    snprintf(local, sizeof local, "%s/local-outage", fw_test_tmpdir());
    setenv("FLYWHEEL_LOCAL_DIR", local, 1);
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima2.yaml\" && \"$FW\" train \"$T/pima2.yaml\" --home '%s' --quiet"
                            " --models linear", home);
    CHECK_MSG(rc == 0, "train: %s", o ? o : "");
    free(o);
    hc_server s;
    const char *args[] = {"--home", home, NULL};
    if (rc == 0 && hc_server_start(&s, args) == 0) {
        enum { M = 60 };
        char body[1024], label[16];
        hc_resp r;
        int ok = 0;
        for (int i = 0; i < M; i++) {
            body_of((size_t)i, body, sizeof body, label, sizeof label);
            ok += hc_request(s.port, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r) == 0 && r.status == 200;
            hc_resp_free(&r);
        }
        double stored = 0;
        for (int t = 0; t < 600 && stored < M; t++) {
            if (hc_request(s.port, "GET", "/metrics", NULL, NULL, &r) == 0) stored = metric_value(r.body, "flywheel_log_stored_total");
            hc_resp_free(&r);
            if (stored < M) usleep(100000);
        }
        CHECK_EQ(stored, M);
        /* the outage */
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tests/support/pg.sh pause '%s'", dir);
        CHECK_EQ(system(cmd), 0);
        for (int i = M; i < 2 * M; i++) {
            body_of((size_t)i, body, sizeof body, label, sizeof label);
            ok += hc_request(s.port, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r) == 0 && r.status == 200;
            hc_resp_free(&r);
        }
        CHECK_EQ(ok, 2 * M); /* served throughout */
        double waiting = 0;
        for (int t = 0; t < 100 && waiting < M; t++) {
            if (hc_request(s.port, "GET", "/metrics", NULL, NULL, &r) == 0) {
                waiting = metric_value(r.body, "flywheel_log_spool_records");
                stored = metric_value(r.body, "flywheel_log_stored_total");
            }
            hc_resp_free(&r);
            if (waiting < M) usleep(100000);
        }
        CHECK_MSG(waiting == M && stored == M, "while down: %g spooled, %g stored", waiting, stored);
        snprintf(cmd, sizeof cmd, "tests/support/pg.sh resume '%s'", dir);
        CHECK_EQ(system(cmd), 0);
        for (int t = 0; t < 600 && stored < 2 * M; t++) {
            if (hc_request(s.port, "GET", "/metrics", NULL, NULL, &r) == 0) stored = metric_value(r.body, "flywheel_log_stored_total");
            hc_resp_free(&r);
            if (stored < 2 * M) usleep(100000);
        }
        CHECK_MSG(stored == 2 * M, "after the outage: %g of %d stored", stored, 2 * M);
        CHECK_EQ(HOME_INT(home, "", "SELECT count(*) FROM prediction_log"), 2 * M);
        CHECK_EQ(HOME_INT(home, "", "SELECT count(DISTINCT request_id) FROM prediction_log"), 2 * M);
        CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    } else {
        CHECK_MSG(0, "the server did not start on %s", home);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tests/support/pg.sh stop '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_PG(test_end_to_end);
    TEST_RUN_PG(test_outage);
    free(text);
    return fw_test_report(argv[0]);
}
