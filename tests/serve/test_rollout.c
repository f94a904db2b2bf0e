/* test_rollout.c — canary rollouts in the real server (serve/rollout.h) over HTTP, with the test
 * build's fault injection (FLYWHEEL_TEST_CANARY_FAULT) standing in for a defective canary:
 *   - a canary failing a share of requests: every request still answered 200 (the champion answers
 *     the failed ones), the analysis rolls back on the error guard, the state and /metrics say so;
 *   - a healthy canary advances through its steps to the last one;
 *   - a canary slower than deadline_ms rolls back at once;
 *   - a canary whose requests get fewer clicks (feedback events) rolls back on the business metric;
 *   - with a store: the rollback is in the audit log with its evidence;
 *   - a canary that hangs, under concurrent load on 2 HTTP threads: every request answered 200 (the
 *     champion answers after timeout_ms, or at once past max_inflight), the rollout rolls back, the
 *     server goes on answering and stops cleanly; the same for /v2 infer and /v1/rank load; a hung
 *     shadow costs nothing either;
 *   - the canary timer thread wakes for deadlines, not once per canary request.
 * Mechanisms with generous bounds (no timing figure is asserted: those are in bench/experiment). */
#include "core/alloc.h"
#include "test.h"
#include "client.h"
#include "db.h"

#include <dirent.h>
#include <pthread.h>
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
    /* generous latency margin (the test may run at load 10): p99 over 20x the champion's; the canary
       inline (timeout_ms: 0): on a canary runner its requests also wait for a runner thread, which
       at load 12 on 2 cores pushed over 1% of them past 20x the champion's ~20 us p99 */
    CHECK_OK(start(&s, "ok", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 0.1, "
                             "min_requests: 200, timeout_ms: 0, rollback: {errors: 0.02, p99: 20}}", NULL, NULL));
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


/* The live model metric over HTTP: labels sent to /v1/feedback join the answers the rollout kept;
 * the test labels every answer, agreeing with the champion's and disagreeing with the canary's. */
static void test_live_metric(void) {
    hc_server s;
    char extra[800];
    snprintf(extra, sizeof extra, "  log: {path: %s/live.jsonl}\n", fw_test_tmpdir());
    CHECK_OK(start(&s, "live", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 0.1, "
                               "min_requests: 100000, rollback: {metric: 0.05, p99: 20}}", extra, NULL));
    int fd = hc_connect(s.port), labels = 0;
    char *st = NULL;
    for (int i = 0; i < 2000; i++) {
        hc_resp r = {0};
        if (hc_request_fd(fd, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1,\"b\":2}]}", NULL, &r) != 0)
            break;
        const char *id = r.body ? strstr(r.body, "\"request_id\":\"") : NULL;
        const char *lab = r.body ? strstr(r.body, "\"label\":\"") : NULL;
        bool can = r.body && strstr(r.body, "\"variant\":\"challenger\"");
        if (id && lab) {
            char rid[64] = {0}, got[16] = {0}, fb[200];
            id += 14;
            lab += 9;
            for (size_t k = 0; id[k] && id[k] != '"' && k < sizeof rid - 1; k++) rid[k] = id[k];
            for (size_t k = 0; lab[k] && lab[k] != '"' && k < sizeof got - 1; k++) got[k] = lab[k];
            const char *truth = can ? (strcmp(got, "spam") ? "spam" : "ham") : got;
            snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid, truth);
            hc_resp f = {0};
            if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &f) == 0 && f.status == 202) labels++;
            hc_resp_free(&f);
        }
        hc_resp_free(&r);
        if (i % 100 == 99) {
            free(st);
            st = wait_state(s.port, "\"state\":\"rolled_back\"", 0.2);
            if (st && strstr(st, "rolled_back")) break;
        }
    }
    close(fd);
    CHECK(labels > 10);
    CHECK_CONTAINS(st, "\"reason\":\"live_metric: canary loss 1 vs champion 0 ");
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
    write_file(cfg, "serving:\n  alias_poll_s: 0\n  admin_token: t0k\n  splits:\n    - {model: pima, kind: canary, challenger: 'pima#2', "
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
    /* a rollback is final until restarted: by an admin, audited */
    const char *auth = "Authorization: Bearer t0k\r\n";
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "POST", "/admin/models/pima/rollout:restart", NULL, NULL, &r));
    CHECK_EQ(r.status, 401);
    hc_resp_free(&r);
    CHECK_OK(hc_request(s.port, "POST", "/admin/models/nosuch/rollout:restart", NULL, auth, &r));
    CHECK_EQ(r.status, 404);
    hc_resp_free(&r);
    CHECK_OK(hc_request(s.port, "POST", "/admin/models/pima/rollout:restart", NULL, auth, &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"state\":\"running\"");
    CHECK_CONTAINS(r.body, "\"percent\":50,");
    CHECK_CONTAINS(r.body, "\"event\":\"restart\"");
    hc_resp_free(&r);
    CHECK_OK(hc_request(s.port, "POST", "/admin/models/pima/rollout:restart", NULL, auth, &r));
    CHECK_EQ(r.status, 409); /* running: nothing to restart */
    CHECK_CONTAINS(r.body, "rollout_running");
    hc_resp_free(&r);
    int canary = 0;
    for (int i = 0; i < 40; i++) { /* the canary gets its share again */
        if (hc_request(s.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, &r) == 0 &&
            r.body)
            canary += strstr(r.body, "\"variant\":\"challenger\"") != NULL;
        hc_resp_free(&r);
    }
    CHECK(canary > 0);
    hc_server_stop(&s, SIGTERM);
    char db_path[700];
    snprintf(db_path, sizeof db_path, "%s/flywheel.db", home);
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE model_name = 'pima' AND action = 'canary_rollback' "
                        "AND reason LIKE 'errors: canary %always-valid interval%'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE model_name = 'pima' AND action = 'canary_restart' "
                        "AND reason LIKE 'restarted by the admin endpoint (127.0.0.1)%was rolled_back at step 0: errors: canary%'"), 1);
    sqlite3_close(db);
}

/* A shadow 100 ms slow, or hung, costs the champion nothing: scored on the shadow thread, the
 * overflow of a 2-job queue dropped and counted, every request answered at once. */
static void shadow_isolated(const char *fault) {
    char cfg[700], text[1200];
    snprintf(cfg, sizeof cfg, "%s/shadow.yaml", fw_test_tmpdir());
    snprintf(text, sizeof text, "serving:\n  alias_poll_s: 0\n  log: {path: %s/shadow.jsonl}\n  splits:\n"
                                "    - {model: spam, kind: shadow, challenger: spam@staging}\n", fw_test_tmpdir());
    write_file(cfg, text);
    setenv("FLYWHEEL_TEST_CANARY_FAULT", fault, 1);
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
    CHECK_MSG(secs < 3.0, "40 requests took %.2f s with a shadow fault %s: it is on the request path", secs, fault);
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    const char *d = r.body ? strstr(r.body, "\nflywheel_shadow_dropped_total ") : NULL;
    CHECK(d && atol(d + strlen("\nflywheel_shadow_dropped_total ")) >= 20);
    const char *q = r.body ? strstr(r.body, "\nflywheel_shadow_queued_total ") : NULL;
    CHECK(q && atol(q + strlen("\nflywheel_shadow_queued_total ")) >= 2);
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_slow_shadow_isolated(void) {
    shadow_isolated("delay_us=100000");
    shadow_isolated("hang");
}

typedef struct load_arg {
    int port, n, ok, canary;
} load_arg;

static void *load_main(void *p) {
    load_arg *a = p;
    predict_n(a->port, a->n, &a->ok, &a->canary);
    return NULL;
}

/* A count from the rollout state: "key":N. */
static long state_count(const char *st, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = st ? strstr(st, k) : NULL;
    return p ? atol(p + strlen(k)) : -1;
}

/* A canary that never answers (the test build's hang: its runner thread waits until the server
 * stops). 6 clients x 100 requests on their own connections against 2 HTTP threads: inline, the
 * first two canary requests would take both threads for good and every later request time out. */
static void test_hanging_canary(void) {
    hc_server s;
    CHECK_OK(start(&s, "hang", "{model: spam, kind: canary, challenger: spam@staging, steps: [20, 100], tick_s: 0.2, "
                               "min_requests: 100000, timeout_ms: 150, max_inflight: 3, rollback: {errors: 0.02}}",
                   "  threads: 2\n", "hang"));
    load_arg a[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (load_arg){s.port, 100, 0, 0};
        CHECK_EQ(pthread_create(&th[i], NULL, load_main, &a[i]), 0);
    }
    int ok = 0, canary = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        canary += a[i].canary;
    }
    CHECK_EQ(ok, 600);  /* not one failed request */
    CHECK_EQ(canary, 0); /* the hung canary answered nothing */
    char *st = wait_state(s.port, "\"state\":\"rolled_back\"", 30);
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    CHECK_CONTAINS(st, "\"reason\":\"errors: canary ");
    /* the first max_inflight canary requests waited timeout_ms; the others were shed at once */
    CHECK(state_count(st, "timeouts") >= 1 && state_count(st, "timeouts") <= 3);
    CHECK(state_count(st, "shed") >= 1);
    CHECK_EQ(state_count(st, "fallbacks"), state_count(st, "timeouts") + state_count(st, "shed"));
    free(st);
    int ok2, c2;
    predict_n(s.port, 100, &ok2, &c2); /* still answering, on the champion */
    CHECK_EQ(ok2, 100);
    CHECK_EQ(c2, 0);
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_rollout_timeouts_total{model=\"spam\"} ");
    CHECK_CONTAINS(r.body, "flywheel_rollout_shed_total{model=\"spam\"} ");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0); /* the hung runners return at shutdown */
}

/* /v2 infer and /v1/rank on one connection, n requests of one kind: how many were answered 200, and
 * how many by the canary (v2: variant challenger; rank: the staging version's scores). */
typedef struct mixed_arg {
    int port, n, ok, canary;
    bool rank;
} mixed_arg;

static void *mixed_main(void *p) {
    mixed_arg *a = p;
    int fd = hc_connect(a->port);
    for (int i = 0; i < a->n; i++) {
        char body[300];
        if (a->rank)
            snprintf(body, sizeof body, "{\"candidates\":[{\"a\":%d,\"b\":2},{\"a\":3,\"b\":%d}],"
                                        "\"objectives\":[{\"model\":\"spam\"}]}", i % 7, i % 3);
        else
            snprintf(body, sizeof body, "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[%d]},"
                                        "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[%d]}]}", i % 7, i % 3);
        hc_resp r = {0};
        if (fd < 0 || hc_request_fd(fd, "POST", a->rank ? "/v1/rank" : "/v2/models/spam/infer", body, NULL, &r) != 0) {
            if (fd >= 0) close(fd);
            fd = hc_connect(a->port);
            continue;
        }
        a->ok += r.status == 200;
        a->canary += r.body && (a->rank ? strstr(r.body, "\"spam\":\"2\"") : strstr(r.body, "\"variant\":\"challenger\"")) != NULL;
        hc_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* The hanging canary under /v2 infer and /v1/rank load: 3 + 3 clients x 60 requests against 2 HTTP
 * threads. Their canary requests run on canary runners too (the connection suspended): the
 * champion answers after timeout_ms or at once past max_inflight; inline, the first two canary
 * requests would hold both HTTP threads for good. */
static void test_hanging_canary_v2_rank(void) {
    hc_server s;
    CHECK_OK(start(&s, "hang2", "{model: spam, kind: canary, challenger: spam@staging, steps: [20, 100], tick_s: 0.2, "
                                "min_requests: 100000, timeout_ms: 150, max_inflight: 3, rollback: {errors: 0.02}}",
                   "  threads: 2\n", "hang"));
    mixed_arg a[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (mixed_arg){s.port, 60, 0, 0, i % 2 == 1};
        CHECK_EQ(pthread_create(&th[i], NULL, mixed_main, &a[i]), 0);
    }
    int ok = 0, canary = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        canary += a[i].canary;
    }
    CHECK_EQ(ok, 360);   /* not one failed request */
    CHECK_EQ(canary, 0); /* the hung canary answered nothing */
    char *st = wait_state(s.port, "\"state\":\"rolled_back\"", 30);
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    CHECK(state_count(st, "timeouts") >= 1 && state_count(st, "timeouts") <= 3);
    CHECK(state_count(st, "shed") >= 1);
    CHECK_EQ(state_count(st, "fallbacks"), state_count(st, "timeouts") + state_count(st, "shed"));
    free(st);
    mixed_arg m[2] = {{s.port, 30, 0, 0, false}, {s.port, 30, 0, 0, true}}; /* still answering, on the champion */
    mixed_main(&m[0]);
    mixed_main(&m[1]);
    CHECK(m[0].ok == 30 && m[1].ok == 30 && m[0].canary == 0 && m[1].canary == 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0); /* the hung runners return at shutdown */
}

/* A canary 10x slower than timeout_ms: the champion answers its requests after the timeout; the
 * canary's late answers are dropped when they come (under ASan: no use after free). */
static void test_slow_canary_timeout(void) {
    hc_server s;
    CHECK_OK(start(&s, "tmo", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 60, "
                              "timeout_ms: 20}", "  threads: 2\n", "delay_us=200000"));
    int ok, canary;
    predict_n(s.port, 40, &ok, &canary);
    CHECK_EQ(ok, 40);
    CHECK_EQ(canary, 0);
    usleep(300000); /* the late answers arrive and are dropped */
    char *st = wait_state(s.port, "\"timeouts\":", 5);
    CHECK(state_count(st, "timeouts") >= 5);
    CHECK_EQ(state_count(st, "timeouts") + state_count(st, "shed"), state_count(st, "fallbacks"));
    free(st);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* Context switches (voluntary + not) of process pid's threads named name; -1 when it has none. */
static long thread_switches(pid_t pid, const char *name) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return -1;
    long total = -1;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[400], comm[64] = "", line[200];
        snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name) != 0) continue;
        snprintf(path, sizeof path, "%s/%s/status", dir, e->d_name);
        if (!(f = fopen(path, "r"))) continue;
        if (total < 0) total = 0;
        while (fgets(line, sizeof line, f))
            if (strstr(line, "ctxt_switches:")) total += atol(strchr(line, ':') + 1);
        fclose(f);
    }
    closedir(d);
    return total;
}

/* The canary timer thread wakes for deadlines, not for each canary request: 100 canary requests
 * answered in time (2 ms each, timeout_ms 5000) cost it a few wake-ups (it sleeps until the
 * earliest deadline; a later one needs no wake-up), where it used to wake once per request. The
 * runners (named fw-canary) still take every job. */
static void test_timer_wakes_for_deadlines(void) {
    hc_server s;
    CHECK_OK(start(&s, "tmr", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 60, "
                              "timeout_ms: 5000}", "  threads: 2\n", "delay_us=2000"));
    long t0 = thread_switches(s.pid, "fw-canary-timer"), r0 = thread_switches(s.pid, "fw-canary");
    CHECK_MSG(t0 >= 0 && r0 >= 0, "threads fw-canary-timer (%ld) and fw-canary (%ld) found", t0, r0);
    int ok, canary;
    predict_n(s.port, 200, &ok, &canary);
    CHECK_EQ(ok, 200);
    CHECK(canary > 50);
    long t1 = thread_switches(s.pid, "fw-canary-timer"), r1 = thread_switches(s.pid, "fw-canary");
    CHECK_MSG(t1 - t0 < 20, "the timer switched %ld times for %d canary requests", t1 - t0, canary);
    CHECK_MSG(r1 - r0 >= canary, "the runners switched %ld times for %d canary requests", r1 - r0, canary);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* /v2 infer and /v1/rank requests follow the share, are counted by the rollout, and a failing canary
 * is answered again by the champion there too. */
static void test_v2_and_rank_counted(void) {
    hc_server s;
    CHECK_OK(start(&s, "v2rank", "{model: spam, kind: canary, challenger: spam@staging, steps: [50, 100], tick_s: 60}",
                   NULL, "error=0.3"));
    int ok = 0, canary = 0;
    for (int i = 0; i < 100; i++) {
        char body[300];
        snprintf(body, sizeof body, "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[%d]},"
                                    "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[%d]}]}", i % 7, i % 3);
        hc_resp r = {0};
        if (hc_request(s.port, "POST", "/v2/models/spam/infer", body, NULL, &r) == 0) {
            ok += r.status == 200;
            canary += r.body && strstr(r.body, "\"variant\":\"challenger\"") != NULL;
        }
        hc_resp_free(&r);
    }
    CHECK_EQ(ok, 100);
    CHECK(canary > 10);
    int rank_ok = 0;
    for (int i = 0; i < 60; i++) {
        hc_resp r = {0};
        if (hc_request(s.port, "POST", "/v1/rank",
                       "{\"candidates\":[{\"a\":1,\"b\":2},{\"a\":3,\"b\":0}],\"objectives\":[{\"model\":\"spam\"}]}", NULL,
                       &r) == 0)
            rank_ok += r.status == 200;
        hc_resp_free(&r);
    }
    CHECK_EQ(rank_ok, 60);
    hc_resp r = {0};
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    const char *a = r.body ? strstr(r.body, "flywheel_rollout_requests_total{model=\"spam\",arm=\"champion\"} ") : NULL;
    const char *b = r.body ? strstr(r.body, "flywheel_rollout_requests_total{model=\"spam\",arm=\"canary\"} ") : NULL;
    long na = a ? atol(a + strlen("flywheel_rollout_requests_total{model=\"spam\",arm=\"champion\"} ")) : -1;
    long nb = b ? atol(b + strlen("flywheel_rollout_requests_total{model=\"spam\",arm=\"canary\"} ")) : -1;
    CHECK_MSG(na + nb == 160 && na > 30 && nb > 30, "rollout counted %ld champion + %ld canary of 160 requests", na, nb);
    const char *e = r.body ? strstr(r.body, "flywheel_rollout_errors_total{model=\"spam\",arm=\"canary\"} ") : NULL;
    CHECK(e && atol(e + strlen("flywheel_rollout_errors_total{model=\"spam\",arm=\"canary\"} ")) > 5);
    const char *f = r.body ? strstr(r.body, "flywheel_rollout_fallbacks_total{model=\"spam\"} ") : NULL;
    CHECK(f && atol(f + strlen("flywheel_rollout_fallbacks_total{model=\"spam\"} ")) > 5);
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
    TEST_RUN(test_live_metric);
    TEST_RUN(test_audit);
    TEST_RUN(test_slow_shadow_isolated);
    TEST_RUN(test_hanging_canary);
    TEST_RUN(test_hanging_canary_v2_rank);
    TEST_RUN(test_slow_canary_timeout);
    TEST_RUN(test_timer_wakes_for_deadlines);
    TEST_RUN(test_v2_and_rank_counted);
    return fw_test_report(argv[0]);
}
