/* test_alerts.c — the alert thread (src/serve/alerts.c) against a tiny HTTP receiver in this test:
 * the webhook POSTs the JSON alert and retries after a failed answer until one succeeds (receiver
 * failing first, then answering 200), gives up after the configured retries with a log line, keeps
 * raised and cleared alarms in the store's history, writes one log line per event, and a push never
 * waits for the network (a receiver that never answers, a queue of 4: pushes return at once and the
 * overflow is counted). */
#include "core/clock.h"
#include "serve/alerts.h"
#include "serve/config.h"
#include "store/store.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the receiver ------------------------------------------------------------------------------ */

typedef struct receiver {
    int fd, port;
    int fail_first;            /* answer 500 to this many requests, then 200 (-1: always 503) */
    bool hang;                 /* accept and read, never answer (until stopped) */
    atomic_bool stop;
    atomic_int requests;
    char last[4096];           /* the last request (headers and body) */
    pthread_mutex_t mu;
    pthread_t th;
} receiver;

static void *serve_loop(void *arg) {
    receiver *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) continue;
        char buf[4096];
        size_t got = 0;
        long want = -1;
        while (got < sizeof buf - 1) {
            struct pollfd q = {c, POLLIN, 0};
            if (poll(&q, 1, 2000) <= 0) break;
            ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            buf[got] = 0;
            char *end = strstr(buf, "\r\n\r\n");
            if (end && want < 0) {
                char *cl = strcasestr(buf, "Content-Length:");
                want = (long)(end + 4 - buf) + (cl ? atol(cl + 15) : 0);
            }
            if (want >= 0 && (long)got >= want) break;
        }
        buf[got] = 0;
        pthread_mutex_lock(&r->mu);
        memcpy(r->last, buf, got + 1);
        pthread_mutex_unlock(&r->mu);
        int k = atomic_fetch_add(&r->requests, 1);
        if (r->hang) {
            while (!atomic_load(&r->stop)) usleep(10000);
        } else {
            const char *ans = r->fail_first < 0 || k < r->fail_first
                                  ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            if (write(c, ans, strlen(ans)) < 0) { /* the client went away: nothing to do */
            }
        }
        close(c);
    }
    return NULL;
}

static bool receiver_start(receiver *r, int fail_first, bool hang) {
    memset(r, 0, sizeof *r);
    r->fail_first = fail_first;
    r->hang = hang;
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof a) || listen(r->fd, 16) ||
        getsockname(r->fd, (struct sockaddr *)&a, &len)) {
        fw_test_fail(__FILE__, __LINE__, "cannot listen on 127.0.0.1");
        return false;
    }
    r->port = ntohs(a.sin_port);
    pthread_create(&r->th, NULL, serve_loop, r);
    return true;
}

static void receiver_stop(receiver *r) {
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    close(r->fd);
    pthread_mutex_destroy(&r->mu);
}

/* ---- helpers ----------------------------------------------------------------------------------- */

static fw_alarm drift_alarm(void) {
    fw_alarm a;
    memset(&a, 0, sizeof a);
    a.kind = FW_ALARM_DRIFT;
    snprintf(a.column, sizeof a.column, "age");
    snprintf(a.statistic, sizeof a.statistic, "ks");
    a.value = 0.3125;
    a.threshold = 0.125;
    a.row = 1199;
    snprintf(a.detail, sizeof a.detail, "age's distribution moved");
    return a;
}

static void settings(fw_serve_monitoring *m, const char *url) {
    fw_serve_config c;
    fw_serve_config_init(&c);
    *m = c.monitoring;
    fw_serve_config_free(&c);
    m->webhook_url = (char *)url;
    m->webhook_backoff_s = 0.01;
    m->webhook_timeout_s = 2;
}

static char *read_all(FILE *f) {
    fflush(f);
    long n = ftell(f);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    return s;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_webhook_retries_until_delivered(void) {
    receiver r;
    if (!receiver_start(&r, 2, false)) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", r.port);
    fw_serve_monitoring m;
    settings(&m, url);
    m.webhook_retries = 3;
    FILE *log = tmpfile();
    fw_alerts *al;
    fw_err err;
    CHECK_OK(fw_alerts_start(&m, NULL, log, &al, &err));
    if (!al) return;
    fw_alarm a = drift_alarm();
    CHECK(fw_alerts_push(al, "spam", 3, &a, true));
    CHECK(fw_alerts_wait_idle(al, 20));
    fw_alerts_stats s;
    fw_alerts_stats_get(al, &s);
    CHECK_EQ(s.webhook_sent, 1);
    CHECK_EQ(s.webhook_retries, 2);
    CHECK_EQ(s.webhook_failed, 0);
    CHECK_EQ(atomic_load(&r.requests), 3); /* 500, 500, then 200 */
    pthread_mutex_lock(&r.mu);
    CHECK(strncmp(r.last, "POST /hook HTTP/1.1\r\n", 21) == 0);
    CHECK_CONTAINS(r.last, "Content-Type: application/json");
    CHECK_CONTAINS(r.last, "\r\n\r\n{\"event\":\"raised\",\"model\":\"spam\",\"version\":3,\"ts\":\"");
    CHECK_CONTAINS(r.last, "\"alarm\":{\"row\":1199,\"kind\":\"drift\",\"column\":\"age\",\"statistic\":\"ks\","
                           "\"value\":0.3125,\"threshold\":0.125,\"ts_ms\":0,\"detail\":\"age's distribution moved\"}}");
    pthread_mutex_unlock(&r.mu);
    fw_alerts_stop(al, 1);
    char *text = read_all(log);
    CHECK_CONTAINS(text, "flywheel serve: alarm raised: spam#3 drift column age: ks 0.3125, threshold 0.125, at row 1199: "
                         "age's distribution moved\n");
    CHECK(!strstr(text, "not delivered"));
    free(text);
    fclose(log);
    receiver_stop(&r);
}

static void test_webhook_gives_up(void) {
    receiver r;
    if (!receiver_start(&r, -1, false)) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", r.port);
    fw_serve_monitoring m;
    settings(&m, url);
    m.webhook_retries = 2;
    m.alert_log = false;
    FILE *log = tmpfile();
    fw_alerts *al;
    fw_err err;
    CHECK_OK(fw_alerts_start(&m, NULL, log, &al, &err));
    if (!al) return;
    fw_alarm a = drift_alarm();
    a.kind = FW_ALARM_LATENCY;
    a.column[0] = 0;
    CHECK(fw_alerts_push(al, "spam", 1, &a, false));
    CHECK(fw_alerts_wait_idle(al, 20));
    fw_alerts_stats s;
    fw_alerts_stats_get(al, &s);
    CHECK_EQ(s.webhook_sent, 0);
    CHECK_EQ(s.webhook_failed, 1);
    CHECK_EQ(atomic_load(&r.requests), 3);
    pthread_mutex_lock(&r.mu);
    CHECK_CONTAINS(r.last, "{\"event\":\"cleared\",\"model\":\"spam\",\"version\":1,");
    CHECK_CONTAINS(r.last, "\"kind\":\"latency\",\"column\":null,");
    pthread_mutex_unlock(&r.mu);
    fw_alerts_stop(al, 1);
    char *text = read_all(log);
    CHECK_CONTAINS(text, "flywheel serve: alarm webhook: spam#1 latency alert not delivered to ");
    CHECK_CONTAINS(text, "after 3 attempts: HTTP 500\n");
    CHECK(!strstr(text, "alarm cleared")); /* alert_log off */
    free(text);
    fclose(log);
    receiver_stop(&r);
}

static void test_history_in_store(void) {
    char home[600];
    snprintf(home, sizeof home, "%s/alerts-home", fw_test_tmpdir());
    fw_serve_monitoring m;
    settings(&m, NULL);
    FILE *log = tmpfile();
    fw_alerts *al;
    fw_err err;
    CHECK_OK(fw_alerts_start(&m, home, log, &al, &err));
    if (!al) return;
    fw_alarm a = drift_alarm();
    a.ts_ms = 1700000000000;
    fw_alarm lat = drift_alarm();
    lat.kind = FW_ALARM_LATENCY;
    lat.column[0] = 0;
    snprintf(lat.statistic, sizeof lat.statistic, "p99_ms");
    CHECK(fw_alerts_push(al, "spam", 3, &a, true));
    CHECK(fw_alerts_push(al, "spam", 3, &lat, true));
    a.row = 2399;
    CHECK(fw_alerts_push(al, "spam", 3, &a, false));
    CHECK(fw_alerts_wait_idle(al, 20));
    fw_alerts_stats s;
    fw_alerts_stats_get(al, &s);
    CHECK_EQ(s.stored, 3);
    CHECK_EQ(s.store_errors, 0);
    fw_alerts_stop(al, 1);
    fw_store *st;
    CHECK_OK(fw_store_open(home, &st, &err));
    if (st) {
        fw_alarm_rec *l = NULL;
        size_t n = 0;
        CHECK_OK(fw_store_alarm_list(st, "spam", 0, &l, &n, &err));
        CHECK_EQ(n, 2);
        if (n == 2) {
            CHECK_STR(l[0].kind, "drift");
            CHECK_STR(l[0].column, "age");
            CHECK_EQ(l[0].row, 1199);
            CHECK_EQ(l[0].raised_ms, 1700000000000);
            CHECK(l[0].cleared_ms > 1700000000000);
            CHECK_STR(l[1].kind, "latency");
            CHECK(l[1].column == NULL);
            CHECK_STR(l[1].statistic, "p99_ms");
            CHECK_EQ(l[1].cleared_ms, 0);
        }
        fw_alarm_recs_free(l, n);
        fw_store_close(st);
    }
    char *text = read_all(log);
    CHECK_CONTAINS(text, "alarm raised: spam#3 latency: p99_ms 0.3125");
    CHECK_CONTAINS(text, "alarm cleared: spam#3 drift column age: ks 0.3125, threshold 0.125, at row 2399");
    free(text);
    fclose(log);
}

/* Slices' performance alarms in the history: two values of the group column "region" and the
 * model's own performance alarm raised; the clear of region=eu (as the monitor sends it: the raised
 * record with the clearing row) closes that row alone — region=us and the model's stay active. */
static void test_history_slices(void) {
    char home[600];
    snprintf(home, sizeof home, "%s/alerts-slices", fw_test_tmpdir());
    fw_serve_monitoring m;
    settings(&m, NULL);
    m.alert_log = false;
    FILE *log = tmpfile();
    fw_alerts *al;
    fw_err err;
    CHECK_OK(fw_alerts_start(&m, home, log, &al, &err));
    if (!al) return;
    fw_alarm eu = drift_alarm();
    eu.kind = FW_ALARM_PERFORMANCE;
    snprintf(eu.column, sizeof eu.column, "region");
    snprintf(eu.slice, sizeof eu.slice, "eu");
    snprintf(eu.statistic, sizeof eu.statistic, "auc");
    fw_alarm us = eu;
    snprintf(us.slice, sizeof us.slice, "us");
    fw_alarm whole = eu;
    whole.column[0] = whole.slice[0] = 0;
    CHECK(fw_alerts_push(al, "churn", 2, &eu, true));
    CHECK(fw_alerts_push(al, "churn", 2, &us, true));
    CHECK(fw_alerts_push(al, "churn", 2, &whole, true));
    eu.row = 5000;
    CHECK(fw_alerts_push(al, "churn", 2, &eu, false));
    CHECK(fw_alerts_wait_idle(al, 20));
    fw_alerts_stop(al, 1);
    fw_store *st;
    CHECK_OK(fw_store_open(home, &st, &err));
    if (st) {
        fw_alarm_rec *l = NULL;
        size_t n = 0;
        CHECK_OK(fw_store_alarm_list(st, "churn", 0, &l, &n, &err));
        CHECK_EQ(n, 3);
        if (n == 3) {
            CHECK_STR(l[0].column, "region");
            CHECK_STR(l[0].slice, "eu");
            CHECK(l[0].cleared_ms > 0);
            CHECK_STR(l[1].slice, "us");
            CHECK_EQ(l[1].cleared_ms, 0);
            CHECK(l[2].column == NULL && l[2].slice == NULL);
            CHECK_EQ(l[2].cleared_ms, 0);
        }
        fw_alarm_recs_free(l, n);
        fw_store_close(st);
    }
    fclose(log);
}

static void test_push_never_waits(void) {
    receiver r;
    if (!receiver_start(&r, 0, true)) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", r.port);
    fw_serve_monitoring m;
    settings(&m, url);
    m.alert_queue = 4;
    m.alert_log = false;
    m.webhook_timeout_s = 1;
    fw_alerts *al;
    fw_err err;
    FILE *log = tmpfile();
    CHECK_OK(fw_alerts_start(&m, NULL, log, &al, &err));
    if (!al) return;
    fw_alarm a = drift_alarm();
    /* the first alert is in flight, its receiver silent */
    CHECK(fw_alerts_push(al, "spam", 1, &a, true));
    for (int i = 0; i < 500 && atomic_load(&r.requests) == 0; i++) usleep(10000);
    CHECK_EQ(atomic_load(&r.requests), 1);
    double t0 = fw_now_seconds();
    size_t accepted = 0;
    for (int i = 0; i < 1000; i++) accepted += fw_alerts_push(al, "spam", 1, &a, true);
    double took = fw_now_seconds() - t0;
    CHECK_MSG(took < 0.5, "1000 pushes took %.3f s", took);
    CHECK_EQ(accepted, 4); /* the queue's room */
    fw_alerts_stats s;
    fw_alerts_stats_get(al, &s);
    CHECK_EQ(s.dropped, 996);
    CHECK_EQ(s.handled, 0);
    t0 = fw_now_seconds();
    fw_alerts_stop(al, 0.2);
    took = fw_now_seconds() - t0;
    CHECK_MSG(took < 3, "stop took %.3f s", took); /* at most the attempt in flight (1 s) */
    fclose(log);
    receiver_stop(&r);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_webhook_retries_until_delivered);
    TEST_RUN(test_webhook_gives_up);
    TEST_RUN(test_history_in_store);
    TEST_RUN(test_history_slices);
    TEST_RUN(test_push_never_waits);
    return fw_test_report(argv[0]);
}
