/* test_monitor_slices.c — the live metric's slices through the real server (issue 17: per slice,
 * `data.groups`): pima trained with `groups: [pregnant]`, served with monitoring on, 1,500
 * predictions labelled through /v1/feedback in three label windows of 500 rows. The labels of
 * slices pregnant = 0 and 1 are flipped in the second window (both slices' performance alarms are
 * raised), only those of slice 1 in the third (slice 0 clears, slice 1 stays). Then:
 *   - the store's alarm history (`flywheel monitor pima --history --json`) has slice 0 cleared and
 *     slice 1 still active — the clear of one slice no longer closes the column's other slices;
 *   - GET /v1/models/pima/monitor lists slice 1's alarm with "slice";
 *   - /metrics has the per-slice series (flywheel_monitor_slice_labels / _metric / _alarm): slice 1's
 *     alarm 1, slice 0's 0, the slices' labelled rows adding up to the window, pima's 17 values of
 *     pregnant as 16 by name + "(other)", and `promtool check metrics` accepts the text. */
#include "test.h"

#include "client.h"
#include "pima_serve.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WINDOW = 500, N = 3 * WINDOW };

/* Row i of pima as a /v1 body (empty fields null), its label and its `pregnant` value (the first
 * column). */
static void body_of(size_t i, char *body, size_t cap, char *label, size_t lcap, int *pregnant) {
    fw_test_pima_body(i, body, cap, label, lcap);
    *pregnant = atoi(fw_test_pima_line(i));
}

static size_t count_lines(const char *t, const char *prefix) {
    size_t n = 0, len = strlen(prefix);
    for (const char *p = t; p && *p;) {
        if (!strncmp(p, prefix, len)) n++;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

/* The sum of the values of every line starting with prefix. */
static double sum_lines(const char *t, const char *prefix) {
    double s = 0;
    size_t len = strlen(prefix);
    for (const char *p = t; p && *p;) {
        if (!strncmp(p, prefix, len)) {
            const char *sp = strchr(p, '}');
            if (sp) s += atof(sp + 1);
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return s;
}

static bool predict(int fd, size_t i, char rids[][80], char labels[][16], int *preg) {
    char body[1024];
    hc_resp r;
    body_of(i, body, sizeof body, labels[i], sizeof labels[i], &preg[i]);
    if (hc_request_fd(fd, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r) != 0 || r.status != 200) {
        fw_test_fail(__FILE__, __LINE__, "row %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
        hc_resp_free(&r);
        return false;
    }
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    snprintf(rids[i], 80, "%s", rid ? rid : "");
    json_decref(j);
    hc_resp_free(&r);
    return true;
}

static void test_slices_live(void) {
    if (!fw_test_pima_n_rows()) return;
    fw_test_pima p;
    if (!fw_test_pima_serve(&p, "'s/^  positive: pos$/  positive: pos\\n  groups: [pregnant]/'",
                            "monitoring:\n  enabled: true\n"))
        return;
    int fd = hc_connect(p.srv.port);
    CHECK(fd >= 0);
    if (fd < 0) {
        fw_test_pima_stop(&p);
        return;
    }
    static char rids[N + 100][80], labels[N + 100][16];
    static int preg[N + 100];
    char fb[256];
    hc_resp r;
    bool ok = true;
    for (size_t i = 0; ok && i < N; i++) ok = predict(fd, i, rids, labels, preg);
    /* labels in order: window 2 flips slices 0 and 1, window 3 slice 1 only */
    for (size_t i = 0; ok && i < N; i++) {
        bool flip = (i / WINDOW == 1 && (preg[i] == 0 || preg[i] == 1)) || (i / WINDOW == 2 && preg[i] == 1);
        const char *y = flip ? (!strcmp(labels[i], "pos") ? "neg" : "pos") : labels[i];
        snprintf(fb, sizeof fb, "{\"request_id\":\"%.79s\",\"label\":\"%.15s\"}", rids[i], y);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) {
            fw_test_fail(__FILE__, __LINE__, "feedback %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            ok = false;
        }
        hc_resp_free(&r);
    }
    /* every label joined (feedback is matched off the request thread) and every window closed (by
     * the monitor thread, after the label that filled it was answered) */
    long long joined = 0, windows = 0;
    for (int t = 0; ok && t < 300 && (joined < N || windows < N / WINDOW); t++) {
        if (hc_request_fd(fd, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r) == 0 && r.body) {
            json_error_t je;
            json_t *st = json_loads(r.body, 0, &je);
            json_t *counts = json_object_get(json_object_get(st, "performance"), "counts");
            joined = json_integer_value(json_object_get(counts, "joined"));
            windows = json_integer_value(json_object_get(counts, "windows"));
            json_decref(st);
        }
        hc_resp_free(&r);
        if (joined < N || windows < N / WINDOW) usleep(100000);
    }
    CHECK_EQ(joined, N);
    CHECK_EQ(windows, N / WINDOW);
    /* one more block of predictions: the monitor forwards the tracker's clears when a block closes */
    for (size_t i = N; ok && i < N + 50; i++) ok = predict(fd, i, rids, labels, preg);
    close(fd);

    /* the endpoint: slice 1's alarm active, slice 0's not */
    CHECK_EQ(hc_request(p.srv.port, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r), 0);
    CHECK_CONTAINS(r.body, "\"kind\":\"performance\",\"column\":\"pregnant\",\"slice\":\"1\"");
    CHECK(r.body && !strstr(r.body, "\"kind\":\"performance\",\"column\":\"pregnant\",\"slice\":\"0\""));
    hc_resp_free(&r);

    /* /metrics: per-slice series, bounded, promtool-clean */
    CHECK_EQ(hc_request(p.srv.port, "GET", "/metrics", NULL, NULL, &r), 0);
    const char *m = r.body ? r.body : "";
    CHECK_CONTAINS(m, "flywheel_monitor_slice_alarm{model=\"pima\",version=\"1\",column=\"pregnant\",slice=\"1\"} 1\n");
    CHECK_CONTAINS(m, "flywheel_monitor_slice_alarm{model=\"pima\",version=\"1\",column=\"pregnant\",slice=\"0\"} 0\n");
    CHECK_CONTAINS(m, "flywheel_monitor_slice_metric{model=\"pima\",version=\"1\",column=\"pregnant\",slice=\"1\","
                      "metric=\"roc_auc\"} ");
    /* pregnant has 17 values in pima: the first 16 met by name, the last one in "(other)" */
    CHECK_EQ(count_lines(m, "flywheel_monitor_slice_labels{model=\"pima\""), 17);
    CHECK_CONTAINS(m, "flywheel_monitor_slice_labels{model=\"pima\",version=\"1\",column=\"pregnant\",slice=\"(other)\"} ");
    CHECK_EQ(sum_lines(m, "flywheel_monitor_slice_labels{model=\"pima\""), WINDOW);
    char path[700];
    snprintf(path, sizeof path, "%s/slices-metrics.txt", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(m, f);
        fclose(f);
    }
    hc_resp_free(&r);
    char *out = NULL;
    int rc = fw_test_sh(&out, "promtool check metrics < '%s'", path);
    CHECK_MSG(rc == 0, "promtool check metrics: %s", out ? out : "");
    free(out);

    /* the history, once the alert thread has written the clear: slice 0 cleared, slice 1 active */
    bool seen = false;
    for (int t = 0; t < 100 && !seen; t++) {
        out = NULL;
        fw_test_sh(&out, "\"$FW\" monitor pima --history --json --home '%s'", p.home);
        json_error_t je;
        json_t *h = out ? json_loads(out, 0, &je) : NULL;
        json_t *al = json_object_get(h, "alarms");
        int s0 = -1, s1 = -1; /* 1 active, 0 cleared */
        for (size_t i = 0; i < json_array_size(al); i++) {
            json_t *a = json_array_get(al, i);
            const char *sl = json_string_value(json_object_get(a, "slice"));
            if (!sl || strcmp(json_string_value(json_object_get(a, "kind")), "performance")) continue;
            CHECK_STR(json_string_value(json_object_get(a, "column")), "pregnant");
            if (!strcmp(sl, "0")) s0 = json_is_true(json_object_get(a, "active"));
            if (!strcmp(sl, "1")) s1 = json_is_true(json_object_get(a, "active"));
        }
        seen = s0 == 0 && s1 == 1;
        if (!seen && t == 99) fw_test_fail(__FILE__, __LINE__, "history: slice 0 %d, slice 1 %d: %.600s", s0, s1, out ? out : "");
        json_decref(h);
        free(out);
        if (!seen) usleep(100000);
    }
    CHECK_EQ(fw_test_pima_stop(&p), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_slices_live);
    return fw_test_report(argv[0]);
}
