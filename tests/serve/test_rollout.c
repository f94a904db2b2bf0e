/* test_rollout.c — canary rollouts in the real server (serve/rollout.h) over HTTP, with the test
 * build's fault injection (FLYWHEEL_TEST_CANARY_FAULT) standing in for a defective canary:
 *   - a canary failing a share of requests: every request still answered 200 (the champion answers
 *     the failed ones), the analysis rolls back on the error guard, the state and /metrics say so;
 *   - a healthy canary advances through its steps to the last one;
 *   - a canary slower than deadline_ms rolls back at once;
 *   - a canary whose requests get fewer clicks (feedback events) rolls back on the business metric;
 *   - with a store: the rollback is in the audit log with its evidence.
 * Mechanisms with generous bounds (no timing figure is asserted: those are in bench/experiment). */
#include "core/alloc.h"
#include "test.h"
#include "client.h"
#include "db.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

static char g_dir[600];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s/models", fw_test_tmpdir());
    mkdir(g_dir, 0755);
    char p[800];
    snprintf(p, sizeof p, "%s/spam", g_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/spam/1.json", g_dir);
    write_file(p, "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\"],\"weights\":[1.0,-2.0],\"bias\":0.1,\"classes\":[\"ham\",\"spam\"]}");
    snprintf(p, sizeof p, "%s/spam/2.json", g_dir);
    write_file(p, "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\"],\"weights\":[2.0,-1.0],\"bias\":0,\"classes\":[\"ham\",\"spam\"]}");
    snprintf(p, sizeof p, "%s/spam/aliases.json", g_dir);
    write_file(p, "{\"production\":\"1\",\"staging\":\"2\"}");
}

/* Starts the test binary on the models directory with a config holding `split` (one YAML flow map)
 * and extra serving keys; fault: FLYWHEEL_TEST_CANARY_FAULT or NULL. */
static int start(hc_server *s, const char *name, const char *split, const char *extra, const char *fault) {
    char cfg[800], text[2000];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", fw_test_tmpdir(), name);
    snprintf(text, sizeof text, "serving:\n  alias_poll_s: 0\n%s  splits:\n    - %s\n", extra ? extra : "", split);
    write_file(cfg, text);
    if (fault) setenv("FLYWHEEL_TEST_CANARY_FAULT", fault, 1);
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, NULL};
    int rc = hc_server_start_bin(s, fault ? hc_test_bin() : NULL, args);
    (void)hc_server_start;
    unsetenv("FLYWHEEL_TEST_CANARY_FAULT");
    return rc;
}

/* n predictions on one connection: how many were answered 200, and by the canary. */
static void predict_n(int port, int n, int *ok, int *canary) {
    *ok = *canary = 0;
    int fd = hc_connect(port);
    for (int i = 0; i < n; i++) {
        hc_resp r = {0};
        char body[100];
        snprintf(body, sizeof body, "{\"instances\":[{\"a\":%d,\"b\":%d}]}", i % 7, i % 3);
        if (fd < 0 || hc_request_fd(fd, "POST", "/v1/models/spam:predict", body, NULL, &r) != 0) {
            if (fd >= 0) close(fd);
            fd = hc_connect(port);
            continue;
        }
        *ok += r.status == 200;
        *canary += r.body && strstr(r.body, "\"variant\":\"challenger\"") != NULL;
        hc_resp_free(&r);
    }
    if (fd >= 0) close(fd);
}

/* Polls the rollout state until it contains want (up to secs); returns the last body (free it). */
static char *wait_state(int port, const char *want, double secs) {
    char *last = NULL;
    for (int i = 0; i < (int)(secs * 20); i++) {
        hc_resp r = {0};
        if (hc_request(port, "GET", "/v1/models/spam/rollout", NULL, NULL, &r) == 0 && r.body) {
            free(last);
            last = r.body;
            r.body = NULL;
            if (strstr(last, want)) return last;
        }
        hc_resp_free(&r);
        usleep(50000);
    }
    return last;
}

static void test_error_canary(void) {
    hc_server s;
    CHECK_OK(start(&s, "err", "{model: spam, kind: canary, challenger: spam@staging, steps: [30, 100], tick_s: 0.1, "
                              "min_requests: 100000, rollback: {errors: 0.02}}", NULL, "error=0.3"));
    int ok, canary;
    predict_n(s.port, 600, &ok, &canary);
    CHECK_EQ(ok, 600); /* the champion answered the canary's failures */
    CHECK(canary > 50);
    char *st = wait_state(s.port, "\"state\":\"rolled_back\"", 30);
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    CHECK_CONTAINS(st, "\"reason\":\"errors: canary ");
    CHECK_CONTAINS(st, "\"percent\":0,");
    free(st);
    predict_n(s.port, 200, &ok, &canary);
    CHECK_EQ(ok, 200);
    CHECK_EQ(canary, 0); /* traffic is back on the champion */
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_rollout_state{model=\"spam\",state=\"rolled_back\"} 1");
    CHECK_CONTAINS(r.body, "flywheel_rollout_percent{model=\"spam\"} 0");
    CHECK_CONTAINS(r.body, "flywheel_rollout_rollbacks_total{model=\"spam\"} 1");
    const char *fb = r.body ? strstr(r.body, "flywheel_rollout_fallbacks_total{model=\"spam\"} ") : NULL;
    CHECK(fb && atol(fb + strlen("flywheel_rollout_fallbacks_total{model=\"spam\"} ")) > 10);
    hc_resp_free(&r);
    CHECK_OK(hc_request(s.port, "GET", "/v1/models/nosuch/rollout", NULL, NULL, &r));
    CHECK_EQ(r.status, 404);
    CHECK_CONTAINS(r.body, "no_rollout");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_healthy_canary_advances(void) {
    hc_server s;
    /* generous latency margin (the test may run at load 10): p99 over 20x the champion's */
    CHECK_OK(start(&s, "ok", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 0.1, "
                             "min_requests: 200, rollback: {errors: 0.02, p99: 20}}", NULL, NULL));
    int ok = 0, canary = 0, total = 0, t_ok, t_c;
    char *st = NULL;
    for (int round = 0; round < 20; round++) {
        predict_n(s.port, 500, &t_ok, &t_c);
        ok += t_ok;
        canary += t_c;
        total += 500;
        usleep(300000);
        free(st);
        st = wait_state(s.port, "\"state\":\"complete\"", 0.1);
        if (st && strstr(st, "\"state\":\"complete\"")) break;
    }
    CHECK_EQ(ok, total);
    CHECK(canary > 0);
    CHECK_CONTAINS(st, "\"state\":\"complete\"");
    CHECK_CONTAINS(st, "\"percent\":100");
    CHECK_CONTAINS(st, "\"event\":\"advance\",\"from\":50,\"to\":100");
    free(st);
    predict_n(s.port, 50, &t_ok, &t_c);
    CHECK_EQ(t_c, 50); /* every request on the canary now */
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_deadline(void) {
    hc_server s;
    CHECK_OK(start(&s, "slow", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 60, "
                               "deadline_ms: 20}", NULL, "delay_us=100000"));
    int ok, canary;
    predict_n(s.port, 40, &ok, &canary);
    CHECK_EQ(ok, 40);
    CHECK(canary >= 1 && canary <= 4); /* tripped by the first slow answer(s), not at the next tick (60 s) */
    char *st = wait_state(s.port, "\"state\":\"rolled_back\"", 20);
    CHECK_CONTAINS(st, "\"reason\":\"deadline: a canary request took ");
    free(st);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* Clicks are the business metric: the test clicks 40% of the champion's answers and 5% of the
 * canary's, deterministically. */
static void test_business_metric(void) {
    hc_server s;
    char extra[800];
    snprintf(extra, sizeof extra, "  log: {path: %s/pred.jsonl}\n", fw_test_tmpdir());
    CHECK_OK(start(&s, "ctr", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 0.1, "
                              "min_requests: 100000, metrics: [{name: ctr, event: click, kind: rate, min_effect: 0.05}]}",
                   extra, NULL));
    int fd = hc_connect(s.port), answered = 0, clicks = 0;
    char *st = NULL;
    for (int i = 0; i < 3000; i++) {
        hc_resp r = {0};
        if (hc_request_fd(fd, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1,\"b\":2}]}", NULL, &r) != 0)
            break;
        answered += r.status == 200;
        const char *id = r.body ? strstr(r.body, "\"request_id\":\"") : NULL;
        bool can = r.body && strstr(r.body, "\"variant\":\"challenger\"");
        if (id && (i * 37 % 100) < (can ? 5 : 40)) {
            char rid[64] = {0}, fb[200];
            id += 14;
            size_t k = 0;
            while (id[k] && id[k] != '"' && k < sizeof rid - 1) rid[k] = id[k], k++;
            snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"event\":\"click\"}", rid);
            hc_resp f = {0};
            if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &f) == 0 && f.status == 202) clicks++;
            hc_resp_free(&f);
        }
        hc_resp_free(&r);
        if (i % 200 == 199) {
            free(st);
            st = wait_state(s.port, "\"state\":\"rolled_back\"", 0.2);
            if (st && strstr(st, "rolled_back")) break;
        }
    }
    close(fd);
    CHECK(clicks > 10);
    CHECK(answered > 100);
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    CHECK_CONTAINS(st, "\"reason\":\"ctr: canary worse by ");
    free(st);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}


/* With a store: the rollback is in the audit log, with its evidence. */
static void test_audit(void) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "for s in 7 8; do \"$FW\" train examples/pima/flywheel.yaml --seed $s --models linear "
                            "--threads 1 --quiet --home \"$T/h\" >/dev/null || exit 3; done && "
                            "\"$FW\" models promote pima@1 --home \"$T/h\" >/dev/null");
    CHECK_EQ(rc, 0);
    free(o);
    if (rc) return;
    char home[600], cfg[700];
    snprintf(home, sizeof home, "%s/h", fw_test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/audit.yaml", fw_test_tmpdir());
    write_file(cfg, "serving:\n  alias_poll_s: 0\n  splits:\n    - {model: pima, kind: canary, challenger: 'pima#2', "
                    "steps: [50, 100], tick_s: 0.1, rollback: {errors: 0.05}}\n");
    setenv("FLYWHEEL_TEST_CANARY_FAULT", "error=0.5", 1);
    const char *args[] = {"--home", home, "--threads", "1", "--config", cfg, NULL};
    hc_server s;
    rc = hc_server_start_bin(&s, hc_test_bin(), args);
    unsetenv("FLYWHEEL_TEST_CANARY_FAULT");
    CHECK_OK(rc);
    if (rc) return;
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        hc_resp r = {0};
        if (hc_request(s.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, &r) == 0)
            ok += r.status == 200;
        hc_resp_free(&r);
    }
    CHECK_EQ(ok, 300);
    char *st = NULL;
    for (int i = 0; i < 200; i++) {
        hc_resp r = {0};
        if (hc_request(s.port, "GET", "/v1/models/pima/rollout", NULL, NULL, &r) == 0 && r.body &&
            strstr(r.body, "rolled_back")) {
            st = r.body;
            break;
        }
        hc_resp_free(&r);
        usleep(50000);
    }
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    free(st);
    hc_server_stop(&s, SIGTERM);
    char db_path[700];
    snprintf(db_path, sizeof db_path, "%s/flywheel.db", home);
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE model_name = 'pima' AND action = 'canary_rollback' "
                        "AND reason LIKE 'errors: canary %always-valid interval%'"), 1);
    sqlite3_close(db);
}

/* A shadow 100 ms slow costs the champion nothing: scored on the shadow thread, the overflow of a
 * 2-job queue dropped and counted, every request answered at once. */
static void test_slow_shadow_isolated(void) {
    char cfg[700], text[1200];
    snprintf(cfg, sizeof cfg, "%s/shadow.yaml", fw_test_tmpdir());
    snprintf(text, sizeof text, "serving:\n  alias_poll_s: 0\n  log: {path: %s/shadow.jsonl}\n  splits:\n"
                                "    - {model: spam, kind: shadow, challenger: spam@staging}\n", fw_test_tmpdir());
    write_file(cfg, text);
    setenv("FLYWHEEL_TEST_CANARY_FAULT", "delay_us=100000", 1);
    setenv("FLYWHEEL_TEST_SHADOW_QUEUE", "2", 1);
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, NULL};
    hc_server s;
    int rc = hc_server_start_bin(&s, hc_test_bin(), args);
    unsetenv("FLYWHEEL_TEST_CANARY_FAULT");
    unsetenv("FLYWHEEL_TEST_SHADOW_QUEUE");
    CHECK_OK(rc);
    if (rc) return;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int ok, canary;
    predict_n(s.port, 40, &ok, &canary);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    CHECK_EQ(ok, 40);
    CHECK_MSG(secs < 3.0, "40 requests took %.2f s: the 100 ms shadow (4 s inline) is on the request path", secs);
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    const char *d = r.body ? strstr(r.body, "\nflywheel_shadow_dropped_total ") : NULL;
    CHECK(d && atol(d + strlen("\nflywheel_shadow_dropped_total ")) >= 20);
    const char *q = r.body ? strstr(r.body, "\nflywheel_shadow_queued_total ") : NULL;
    CHECK(q && atol(q + strlen("\nflywheel_shadow_queued_total ")) >= 2);
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    setup();
    TEST_RUN(test_error_canary);
    TEST_RUN(test_healthy_canary_advances);
    TEST_RUN(test_deadline);
    TEST_RUN(test_business_metric);
    TEST_RUN(test_audit);
    TEST_RUN(test_slow_shadow_isolated);
    return fw_test_report(argv[0]);
}
