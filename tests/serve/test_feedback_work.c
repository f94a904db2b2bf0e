/* test_feedback_work.c — how much work one /v1/feedback costs, counted by the test build's hooks
 * (core/test_hooks.h; /metrics shows them as flywheel_test_count in build/flywheel-test): its body is
 * parsed once — on the first call, kept with the request while the connection waits for the group
 * commit — and the model its request id names is looked up once and carried to the monitor. Beside
 * the counts, every contract of the path still holds: 202 {"stored":true} once durable, the first
 * label per request kept unless "update": true, unmatched feedback stored, each refusal's error body,
 * and the label reaching the monitor's live metric. */
#include "test.h"

#include "client.h"
#include "pima_serve.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { K = 12 };

static double count(int port, const char *counter) {
    char key[128];
    snprintf(key, sizeof key, "flywheel_test_count{counter=\"%s\"}", counter);
    return hc_metric(port, key);
}

/* One feedback on connection fd: its status, the body checked to contain want (when not NULL). */
static int feedback(int fd, const char *body, const char *want) {
    hc_resp r;
    int status = hc_request_fd(fd, "POST", "/v1/feedback", body, NULL, &r) == 0 ? r.status : -1;
    if (want) CHECK_MSG(r.body && strstr(r.body, want), "feedback %s: %d %.300s (want %s)", body, status, r.body ? r.body : "", want);
    hc_resp_free(&r);
    return status;
}

static void test_one_parse_one_lookup_per_feedback(void) {
    if (!fw_test_pima_n_rows() || !fw_test_bin() || !fw_test_pima_train(NULL, NULL)) return;
    fw_test_pima p;
    snprintf(p.home, sizeof p.home, "%s/h", fw_test_tmpdir());
    snprintf(p.cfg, sizeof p.cfg, "%s/serve.yaml", fw_test_tmpdir());
    FILE *c = fopen(p.cfg, "w");
    CHECK(c != NULL);
    if (!c) return;
    fputs("monitoring:\n  enabled: true\n", c);
    fclose(c);
    const char *args[] = {"--home", p.home, "--config", p.cfg, "--threads", "2", NULL};
    int started = hc_server_start_bin(&p.srv, hc_test_bin(), args);
    CHECK_EQ(started, 0);
    if (started) return;
    int port = p.srv.port, fd = hc_connect(port);
    CHECK(fd >= 0);
    static char rids[K][80], labels[K][16];
    char body[1024], fb[2048];
    hc_resp r;
    for (size_t i = 0; fd >= 0 && i < K; i++) {
        fw_test_pima_body(i, body, sizeof body, labels[i], sizeof labels[i]);
        CHECK_EQ(hc_request_fd(fd, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r), 0);
        CHECK_EQ(r.status, 200);
        json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
        snprintf(rids[i], sizeof rids[i], "%s", json_string_value(json_object_get(j, "request_id")) ?: "");
        json_decref(j);
        hc_resp_free(&r);
    }
    double parses0 = count(port, "feedback_parse"), lookups0 = count(port, "request_id_model");
    CHECK_MSG(parses0 >= 0 && lookups0 >= 0, "no flywheel_test_count in /metrics (not the test build?)");
    /* K labels, each answered once durable */
    for (size_t i = 0; fd >= 0 && i < K; i++) {
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rids[i], labels[i]);
        CHECK_EQ(feedback(fd, fb, "{\"stored\":true,\"request_id\":\""), 202);
    }
    CHECK_EQ(count(port, "feedback_parse") - parses0, K);     /* was 2 per feedback: before and after the wait */
    CHECK_EQ(count(port, "request_id_model") - lookups0, K);  /* was 2: the label's check, then the monitor */
    /* the contracts, each request still parsed once */
    parses0 = count(port, "feedback_parse");
    lookups0 = count(port, "request_id_model");
    snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rids[0], labels[0]);
    CHECK_EQ(feedback(fd, fb, "\"code\":\"label_conflict\""), 409); /* the first label stands */
    snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\",\"update\":true}", rids[0], labels[0]);
    CHECK_EQ(feedback(fd, fb, "\"stored\":true"), 202);
    snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", rids[1]);
    CHECK_EQ(feedback(fd, fb, "\"code\":\"unknown_label\""), 400);
    CHECK_EQ(feedback(fd, "{\"request_id\":\"from-another-process\",\"label\":\"1\"}", "\"matched\":false"), 202);
    CHECK_EQ(feedback(fd, "{\"request_id\":\"x\",\"label\":", "\"code\":\"bad_json\""), 400);
    CHECK_EQ(feedback(fd, "{\"label\":\"1\"}", "'request_id'"), 400);
    CHECK_EQ(count(port, "feedback_parse") - parses0, 6);
    CHECK_EQ(count(port, "request_id_model") - lookups0, 3); /* conflict, update, unknown label: ids this process issued */
    /* the labels reached the monitor (K first labels; the update replaces one) */
    CHECK_EQ(hc_request_fd(fd, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r), 0);
    json_t *st = r.body ? json_loads(r.body, 0, NULL) : NULL;
    json_t *counts = json_object_get(json_object_get(st, "performance"), "counts");
    CHECK_MSG(counts != NULL, "no performance counts: %.400s", r.body ? r.body : "");
    CHECK_MSG(json_integer_value(json_object_get(counts, "joined")) >= K, "joined %lld of %d labels",
              (long long)json_integer_value(json_object_get(counts, "joined")), K);
    json_decref(st);
    hc_resp_free(&r);
    if (fd >= 0) close(fd);
    CHECK_EQ(fw_test_pima_stop(&p), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_one_parse_one_lookup_per_feedback);
    return fw_test_report(argv[0]);
}
