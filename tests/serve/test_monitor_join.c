/* test_monitor_join.c — the live metric's late-label join through the real server (issue 17, "labels
 * may come hours late"): with `monitoring.join_table: 64` a version keeps only its ~64 latest
 * predictions in memory, so labels sent after 600 predictions find most of them gone from the
 * table; they must still be joined — through the store's prediction log (perf.h's store lookup,
 * store/store.h fw_store_log_get_prediction) — and counted in the live metric that
 * GET /v1/models/{name}/monitor and /metrics show. Also: a version that has not predicted yet has
 * no monitor built (nothing in /metrics), and its state endpoint builds it. */
#include "test.h"

#include "client.h"
#include "pima_serve.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 600 };

/* The value of an unlabelled series in a /metrics text (-1 when absent). */
static double metric_value(const char *metrics, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = metrics ? strstr(metrics, key) : NULL;
    return p ? atof(p + strlen(key)) : -1;
}

static void test_late_labels_join_through_the_store(void) {
    if (!fw_test_pima_n_rows()) return;
    fw_test_pima p;
    if (!fw_test_pima_serve(&p, NULL, "monitoring:\n  enabled: true\n  join_table: 64\n")) return;
    /* loaded, not used: no monitor built, no monitoring series for it */
    hc_resp r;
    CHECK_EQ(hc_request(p.srv.port, "GET", "/metrics", NULL, NULL, &r), 0);
    CHECK(r.body && !strstr(r.body, "flywheel_monitor_rows_total{model=\"pima\""));
    hc_resp_free(&r);
    int fd = hc_connect(p.srv.port);
    CHECK(fd >= 0);
    if (fd < 0) {
        fw_test_pima_stop(&p);
        return;
    }
    static char rids[N][80], labels[N][16];
    char body[1024], fb[256];
    for (size_t i = 0; i < N; i++) {
        fw_test_pima_body(i, body, sizeof body, labels[i], sizeof labels[i]);
        if (hc_request_fd(fd, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r) != 0 || r.status != 200) {
            fw_test_fail(__FILE__, __LINE__, "row %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            close(fd);
            fw_test_pima_stop(&p);
            return;
        }
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        snprintf(rids[i], sizeof rids[i], "%s", rid ? rid : "");
        json_decref(j);
        hc_resp_free(&r);
    }
    /* the prediction log reaches the store in the background: wait for every row to be there */
    double stored = 0;
    for (int t = 0; t < 300 && stored < N; t++) {
        if (hc_request_fd(fd, "GET", "/metrics", NULL, NULL, &r) == 0) stored = metric_value(r.body, "flywheel_log_stored_total");
        hc_resp_free(&r);
        if (stored < N) usleep(100000);
    }
    CHECK_MSG(stored >= N, "the store holds %g of %d predictions", stored, N);
    /* every label, oldest first: all but the table's last few come from the store */
    for (size_t i = 0; i < N; i++) {
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rids[i], labels[i]);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) {
            fw_test_fail(__FILE__, __LINE__, "feedback %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            break;
        }
        hc_resp_free(&r);
    }
    close(fd);
    /* the window the 500th label filled is closed by the server's monitor thread, after that label
     * was answered: wait for it */
    json_error_t je;
    json_t *st = NULL, *perf = NULL, *counts = NULL;
    for (int t = 0; t < 300; t++) {
        json_decref(st);
        st = NULL;
        CHECK_EQ(hc_request(p.srv.port, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r), 0);
        CHECK_EQ(r.status, 200);
        st = r.body ? json_loads(r.body, 0, &je) : NULL;
        perf = json_object_get(st, "performance");
        counts = json_object_get(perf, "counts");
        if (json_integer_value(json_object_get(counts, "windows")) >= 1 || t == 299) break;
        hc_resp_free(&r);
        usleep(100000);
    }
    CHECK_MSG(counts != NULL, "no performance counts: %.400s", r.body ? r.body : "");
    long long joined = json_integer_value(json_object_get(counts, "joined"));
    long long from_store = json_integer_value(json_object_get(counts, "joined_from_store"));
    CHECK_EQ(joined, N);
    CHECK_MSG(from_store >= N - 64 && from_store < N, "joined from the store: %lld of %d", from_store, N);
    CHECK_EQ(json_integer_value(json_object_get(counts, "unmatched")), 0);
    CHECK_EQ(json_integer_value(json_object_get(counts, "windows")), 1); /* 500 labelled rows: the live metric */
    CHECK(json_is_object(json_object_get(perf, "realized")));
    json_decref(st);
    hc_resp_free(&r);
    CHECK_EQ(hc_request(p.srv.port, "GET", "/metrics", NULL, NULL, &r), 0);
    CHECK_CONTAINS(r.body, "flywheel_monitor_labels_joined_total{model=\"pima\",version=\"1\"} 600\n");
    CHECK_CONTAINS(r.body, "source=\"live\"}");
    hc_resp_free(&r);
    CHECK_EQ(fw_test_pima_stop(&p), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_late_labels_join_through_the_store);
    return fw_test_report(argv[0]);
}
