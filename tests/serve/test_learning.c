/* test_learning.c — online learning inside `flywheel serve` (src/serve/learning.c), black box: a
 * linear pima model served from the store with `learn.online: true`; a client streams predictions
 * and their labels through /v1/feedback. With a concept change (labels flipped) the learner's
 * progressive-validation loss falls below the champion's, a snapshot is registered as version 2
 * (parent 1), passes the gate, becomes production and answers every later request — with no failed
 * request meanwhile; the state is in GET /v1/models/pima/monitor ("online") and /metrics
 * (flywheel_learn_*). Negative control: the same distribution with the gate's minimum improvement
 * — snapshots are registered but none is promoted and version 1 keeps serving. Retrain triggers:
 * after N labels; on a performance alarm (late labels after a concept change: alarm -> retrain ->
 * gate -> promote -> swap, no failed request) and its negative controls (no change: no alarm, no
 * retrain; labels turned to noise: the alarm fires but the gate does not promote). */
#include "test.h"

#include "client.h"

#include "serve/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *lines[1000];
static size_t n_lines;
static char header[512];
static char *text;

static bool load_pima(void) {
    if (n_lines) return true;
    text = fw_test_slurp("examples/pima/pima.csv", NULL);
    if (!text) return false;
    n_lines = fw_test_csv_lines(text, header, sizeof header, lines, 1000);
    return n_lines > 0;
}

/* Predicts one /v1 body on fd: true on a 200, with its request id in rid ("" when it has none) and
 * the answering version counted in versions[1..8). */
static bool predict_rid(int fd, const char *body, char *rid, size_t cap, size_t *versions) {
    hc_resp r;
    rid[0] = 0;
    if (hc_request_fd(fd, "POST", "/v1/models/pima:predict", body, NULL, &r) != 0 || r.status != 200) {
        hc_resp_free(&r);
        return false;
    }
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    const char *id = json_string_value(json_object_get(j, "request_id"));
    const char *ver = json_string_value(json_object_get(j, "version"));
    long long v = ver ? atoll(ver) : json_integer_value(json_object_get(j, "version"));
    if (v > 0 && v < 8) versions[v]++;
    snprintf(rid, cap, "%s", id ? id : "");
    json_decref(j);
    hc_resp_free(&r);
    return true;
}

/* Streams n rows (predict, then the label; flipped when flip). Returns the failed requests; the
 * versions that answered are counted in versions[0..8). */
static int stream(int port, size_t first, size_t n, bool flip, size_t *versions) {
    int fd = hc_connect(port), failed = 0;
    CHECK(fd >= 0);
    if (fd < 0) return 1;
    char body[1024], fb[512], label[64], rid[208];
    for (size_t i = first; i < first + n; i++) {
        fw_test_v1_row_body(header, lines[(i * 7919) % n_lines], body, sizeof body, label, sizeof label);
        if (!predict_rid(fd, body, rid, sizeof rid, versions)) {
            failed++;
            continue;
        }
        const char *lab = label;
        if (flip) lab = !strcmp(lab, "pos") ? "neg" : "pos";
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid, lab);
        hc_resp r;
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) failed++;
        hc_resp_free(&r);
    }
    close(fd);
    return failed;
}

/* The "online" object of the monitor state (caller json_decrefs the root in *root). */
static json_t *online_state(int port, json_t **root) {
    hc_resp r;
    *root = NULL;
    if (hc_request(port, "GET", "/v1/models/pima/monitor", NULL, NULL, &r) != 0) return NULL;
    json_error_t je;
    *root = r.status == 200 && r.body ? json_loads(r.body, 0, &je) : NULL;
    hc_resp_free(&r);
    return *root ? json_object_get(*root, "online") : NULL;
}

/* Polls until the learner has learned `examples` examples and taken `snapshots` snapshots. */
static json_t *wait_learner(int port, long long examples, long long snapshots, json_t **root) {
    for (int tries = 0; tries < 600; tries++) {
        json_t *on = online_state(port, root);
        json_t *ln = json_object_get(on, "learner");
        if (ln && json_integer_value(json_object_get(ln, "examples")) >= examples &&
            json_integer_value(json_object_get(ln, "snapshots")) >= snapshots)
            return on;
        if (tries == 599) {
            json_t *o = *root ? json_object_get(*root, "online") : NULL;
            char *d = o ? json_dumps(o, 0) : NULL;
            fw_test_fail(__FILE__, __LINE__, "learner state: %.2000s", d ? d : "(none)");
            free(d);
        }
        json_decref(*root);
        *root = NULL;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}


static bool train_project(const char *home, const char *project) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "[ -f \"$T/pima.yaml\" ] || fw_project pima \"$T/pima.yaml\"; "
                            "[ -f \"$T/pima_learn.yaml\" ] || { cp \"$T/pima.yaml\" \"$T/pima_learn.yaml\"; "
                            "printf 'learn:\\n  base: false\\n  gate: {holdout: 0.3, min_rows: 100}\\n' >> \"$T/pima_learn.yaml\"; }; "
                            "\"$FW\" train \"$T/%s\" --home \"$T/%s\" --quiet --models linear && "
                            "\"$FW\" models promote pima@1 --force --home \"$T/%s\"", project, home, home);
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return rc == 0;
}

static bool train(const char *home) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "[ -f \"$T/pima.yaml\" ] || fw_project pima \"$T/pima.yaml\"; "
                            "\"$FW\" train \"$T/pima.yaml\" --home \"$T/%s\" --quiet --models linear && "
                            "\"$FW\" models promote pima@1 --force --home \"$T/%s\"", home, home);
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return rc == 0;
}

static int start(hc_server *s, const char *home, const char *yaml) {
    char cfg[700], h[700], log[700];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", fw_test_tmpdir(), home);
    snprintf(h, sizeof h, "%s/%s", fw_test_tmpdir(), home);
    snprintf(log, sizeof log, "%s/%s.err", fw_test_tmpdir(), home);
    FILE *c = fopen(cfg, "w");
    if (!c) return -1;
    fputs(yaml, c);
    fclose(c);
    int saved = dup(2);
    FILE *err = freopen(log, "w", stderr);
    (void)err;
    const char *args[] = {"--home", h, "--config", cfg, NULL};
    int rc = hc_server_start(s, args);
    dup2(saved, 2);
    close(saved);
    return rc;
}

static void test_change_promotes_and_swaps(void) {
    if (!fw_test_bin() || !load_pima() || !train("h")) return;
    hc_server s;
    int rc = start(&s, "h", "learn:\n  online: true\n  promote: auto\n  batch: 16\n  snapshot: {updates: 320, interval: 0}\n"
                            "  gate: {min_rows: 100}\n");
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 672, true, versions), 0);
    json_t *root = NULL;
    json_t *on = wait_learner(s.port, 640, 2, &root);
    CHECK_MSG(on != NULL, "the learner did not take two snapshots of 640 examples");
    json_t *ln = json_object_get(on, "learner");
    CHECK_STR(json_string_value(json_object_get(on, "state")), "learning");
    CHECK_MSG(json_integer_value(json_object_get(ln, "promoted")) >= 1, "no promotion: %s",
              root ? json_dumps(root, 0) : "");
    CHECK(json_real_value(json_object_get(ln, "recent_loss")) < json_real_value(json_object_get(ln, "recent_champion_loss")));
    { char *d = json_dumps(json_object_get(ln, "last_gate"), 0); CHECK_MSG(json_is_string(json_object_get(json_object_get(ln, "last_gate"), "loss")), "last_gate: %s", d ? d : "(null)"); free(d); }
    CHECK_STR(json_string_value(json_object_get(json_object_get(ln, "last_gate"), "loss")), "log_loss");
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(ln, "last_gate"), "gate"), "method")), "delong");
    json_decref(root);
    /* production moved to a snapshot (version 2 or 3) and every later request is answered by it */
    size_t after[8] = {0};
    for (int tries = 0; tries < 100; tries++) {
        memset(after, 0, sizeof after);
        CHECK_EQ(stream(s.port, 2000, 20, true, after), 0);
        if (after[1] == 0) break;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(after[1], 0);
    CHECK_EQ(after[2] + after[3], 20);
    hc_resp r;
    CHECK_EQ(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r), 0);
    CHECK_CONTAINS(r.body, "flywheel_learn_examples_total{model=\"pima\"}");
    CHECK_CONTAINS(r.body, "flywheel_learn_progressive_loss{model=\"pima\",weights=\"learner\"}");
    CHECK_CONTAINS(r.body, "flywheel_learn_labels_total{outcome=\"learned\"}");
    hc_resp_free(&r);
    /* the labels joined their predictions in memory (learn.join_cache, filled on predict), not by
     * reading the prediction log back: only those sent before the learner started went to the store */
    double mem = hc_metric(s.port, "flywheel_learn_joins_total{via=\"memory\"}");
    double store = hc_metric(s.port, "flywheel_learn_joins_total{via=\"store\"}");
    CHECK_MSG(mem >= 500 && store >= 0 && store < 172, "joins: %g in memory, %g through the store", mem, store);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    /* lineage: version 2 is a child of version 1, the registry's production is a snapshot */
    char *o = NULL;
    rc = fw_test_sh(&o, "\"$FW\" models show pima@2 --home \"$T/h\" --json");
    CHECK_MSG(rc == 0, "models show: %s", o ? o : "");
    CHECK_CONTAINS(o, "\"lineage\":{\"parent\":1,");
    free(o);
    o = NULL;
    rc = fw_test_sh(&o, "\"$FW\" models history pima --home \"$T/h\"");
    CHECK_CONTAINS(o, "online learning gate: promote");
    free(o);
}

/* The learner of a model with a production version starts with the server, before the first
 * request: every label joins its prediction in memory, none through the store — also the labels of
 * the first predictions, which used to come before the learner (it started on the first label). */
static void test_learner_starts_at_boot(void) {
    if (!fw_test_bin() || !load_pima() || !train("b")) return;
    hc_server s;
    int rc = start(&s, "b", "learn:\n  online: true\n  batch: 16\n");
    CHECK_EQ(rc, 0);
    if (rc) return;
    json_t *root = NULL;
    json_t *on = online_state(s.port, &root);
    CHECK_STR(json_string_value(json_object_get(on, "state")), "learning"); /* before any label */
    json_decref(root);
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 96, false, versions), 0);
    on = wait_learner(s.port, 96, 0, &root);
    CHECK(on != NULL);
    json_decref(root);
    CHECK_NEAR(hc_metric(s.port, "flywheel_learn_joins_total{via=\"store\"}"), 0, 0);
    CHECK_NEAR(hc_metric(s.port, "flywheel_learn_joins_total{via=\"memory\"}"), 96, 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_no_change_no_promotion(void) {
    if (!fw_test_bin() || !load_pima() || !train("n")) return;
    hc_server s;
    /* join_cache: 0 — every label joins through the store's prediction log */
    int rc = start(&s, "n", "learn:\n  online: true\n  promote: auto\n  batch: 16\n  snapshot: {updates: 320, interval: 0}\n"
                            "  gate: {min_rows: 100, min_improvement: 0.01}\n  join_cache: 0\n");
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 672, false, versions), 0);
    json_t *root = NULL;
    json_t *on = wait_learner(s.port, 640, 2, &root);
    CHECK(on != NULL);
    json_t *ln = json_object_get(on, "learner");
    CHECK_EQ(json_integer_value(json_object_get(ln, "promoted")), 0);
    CHECK_EQ(json_integer_value(json_object_get(on, "champion")), 1);
    json_decref(root);
    CHECK_NEAR(hc_metric(s.port, "flywheel_learn_joins_total{via=\"memory\"}"), 0, 0);
    CHECK(hc_metric(s.port, "flywheel_learn_joins_total{via=\"store\"}") >= 640);
    size_t after[8] = {0};
    CHECK_EQ(stream(s.port, 2000, 10, false, after), 0);
    CHECK_EQ(after[1], 10);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static int stream_late(int port, size_t first, size_t n, int mode, bool labels, size_t *versions);

/* learn.after_labels inside the server: after 500 new labels (flipped: a concept change) a retrain
 * runs on the background worker (fw_retrain_run), its challenger passes the gate and production
 * moves to it; requests sent meanwhile all succeed; the audit log says why (labels). */
static void test_trigger_after_labels(void) {
    if (!fw_test_bin() || !load_pima() || !train_project("t", "pima_learn.yaml")) return;
    hc_server s;
    int rc = start(&s, "t", "learn:\n  after_labels: 500\n  promote: auto\n");
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 520, true, versions), 0);
    size_t after[8] = {0};
    int tries = 0, failed = 0;
    for (; tries < 600; tries++) { /* requests keep flowing while it trains and swaps */
        memset(after, 0, sizeof after);
        failed += stream_late(s.port, 3000 + (size_t)tries * 10, 10, 0, false, after); /* no labels: no second trigger */
        if (after[1] == 0) break;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(failed, 0);
    CHECK_MSG(after[1] == 0 && after[2] == 10, "production did not move to the retrained version 2 (%zu/%zu)", after[1], after[2]);
    json_t *root = NULL;
    json_t *on = online_state(s.port, &root);
    { char *d = root ? json_dumps(root, 0) : NULL; CHECK_MSG(on != NULL, "no online state: %.300s", d ? d + (strlen(d) > 300 ? strlen(d) - 300 : 0) : "(none)"); free(d); }
    CHECK_EQ(json_integer_value(json_object_get(on, "retrains")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(on, "last_retrain"), "decision")), "promote");
    CHECK_STR(json_string_value(json_object_get(json_object_get(on, "last_retrain"), "reason")), "labels");
    json_decref(root);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    char *o = NULL;
    fw_test_sh(&o, "\"$FW\" models history pima --home \"$T/t\"");
    CHECK_CONTAINS(o, "labels");
    free(o);
}

/* ---- learn.on_alarm: a performance alarm of the monitor starts the retrain ---------------------- */

/* Streams rows [first, first + n) with late labels: `chunk` predictions, then their labels. mode 0:
 * the true label, 1: flipped (a concept change), 2: a coin flip per row (labels turned to noise).
 * Returns the failed requests; answering versions are counted in versions[0..8). labels false:
 * predictions only. */
static int stream_late(int port, size_t first, size_t n, int mode, bool labels, size_t *versions) {
    enum { CHUNK = 50 };
    int fd = hc_connect(port), failed = 0;
    CHECK(fd >= 0);
    if (fd < 0) return 1;
    char body[1024], fb[256], label[64];
    char rids[CHUNK][64];
    const char *labs[CHUNK];
    for (size_t c0 = first; c0 < first + n; c0 += CHUNK) {
        size_t m = 0;
        for (size_t i = c0; i < c0 + CHUNK && i < first + n; i++, m++) {
            fw_test_v1_row_body(header, lines[(i * 7919) % n_lines], body, sizeof body, label, sizeof label);
            bool pos = !strcmp(label, "pos");
            if (mode == 1) pos = !pos;
            if (mode == 2) pos = ((i * 2654435761u) >> 7) & 1;
            labs[m] = pos ? "pos" : "neg";
            if (!predict_rid(fd, body, rids[m], sizeof rids[m], versions)) failed++;
        }
        for (size_t k = 0; labels && k < m; k++) { /* the labels come back after the chunk's predictions */
            if (!rids[k][0]) continue;
            hc_resp r;
            snprintf(fb, sizeof fb, "{\"request_id\":\"%.63s\",\"label\":\"%.3s\"}", rids[k], labs[k]);
            if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) failed++;
            hc_resp_free(&r);
        }
    }
    close(fd);
    return failed;
}

/* pima, linear, with a learn: section fit for 1,000 served rows: the most recent 30% held out, the
 * challenger trained on the 200 labelled rows before them (base: false), and a margin of 0.05 AUC. */
static bool train_alarm(const char *home) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "[ -f \"$T/pima.yaml\" ] || fw_project pima \"$T/pima.yaml\"; "
                            "[ -f \"$T/pima_alarm.yaml\" ] || { cp \"$T/pima.yaml\" \"$T/pima_alarm.yaml\"; "
                            "printf 'learn:\\n  base: false\\n  window: {rows: 200}\\n"
                            "  gate: {holdout: 0.3, min_rows: 100, min_improvement: 0.05}\\n' >> \"$T/pima_alarm.yaml\"; }; "
                            "\"$FW\" train \"$T/pima_alarm.yaml\" --home \"$T/%s\" --quiet --models linear && "
                            "\"$FW\" models promote pima@1 --force --home \"$T/%s\"", home, home);
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return rc == 0;
}

/* The "raised" count of kind in the served version's monitor state (-1: not there). */
static long long raised(int port, const char *kind) {
    hc_resp r;
    if (hc_request(port, "GET", "/v1/models/pima/monitor", NULL, NULL, &r) != 0) return -1;
    json_error_t je;
    json_t *j = r.status == 200 && r.body ? json_loads(r.body, 0, &je) : NULL;
    hc_resp_free(&r);
    json_t *v = json_object_get(json_object_get(j, "raised"), kind);
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

/* Polls the online state until `retrains` triggered retrains have finished (last_retrain set);
 * predictions keep flowing meanwhile (counted in versions, failures in *failed). */
static json_t *wait_retrain(int port, long long retrains, int *failed, size_t *versions, json_t **root) {
    for (int tries = 0; tries < 1800; tries++) { /* 180 s and more: generous at load 10 */
        json_t *on = online_state(port, root);
        if (on && json_integer_value(json_object_get(on, "retrains")) >= retrains &&
            json_is_object(json_object_get(on, "last_retrain")))
            return on;
        json_decref(*root);
        *root = NULL;
        *failed += stream_late(port, 5000 + (size_t)tries * 5, 5, 0, false, versions);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static const char k_alarm_cfg[] = "learn:\n  on_alarm: [performance]\n  promote: auto\n";

/* The loop closed by an alarm: 500 rows as trained, then 500 after a concept change (labels
 * flipped), their labels coming back late; the performance window over the changed rows raises the
 * alarm, the alarm starts a retrain on the worker, the gate says promote, production moves, and the
 * server swaps to the challenger — 100% of later requests answered by version 2 and none failed. */
static void test_alarm_change_promotes(void) {
    if (!fw_test_bin() || !load_pima() || !train_alarm("a")) return;
    hc_server s;
    int rc = start(&s, "a", k_alarm_cfg);
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    int failed = stream_late(s.port, 0, 500, 0, true, versions);
    CHECK_EQ(failed, 0);
    CHECK_EQ(raised(s.port, "performance"), 0); /* the first window, before the change: no alarm */
    failed += stream_late(s.port, 500, 500, 1, true, versions);
    CHECK_EQ(versions[1], 1000);
    json_t *root = NULL;
    json_t *on = wait_retrain(s.port, 1, &failed, versions, &root);
    CHECK_MSG(on != NULL, "no retrain after the performance alarm (raised: %lld)", raised(s.port, "performance"));
    json_t *lr = json_object_get(on, "last_retrain");
    CHECK_STR(json_string_value(json_object_get(lr, "reason")), "alarm");
    CHECK_STR(json_string_value(json_object_get(lr, "decision")), "promote");
    CHECK_STR(json_string_value(json_object_get(lr, "challenger")), "pima@2");
    CHECK(json_is_true(json_object_get(lr, "promoted")));
    CHECK(json_real_value(json_object_get(lr, "challenger_metric")) > json_real_value(json_object_get(lr, "champion_metric")) + 0.05);
    CHECK_EQ(json_integer_value(json_object_get(on, "retrains")), 1);
    /* the retrain waited for the log: the labels that raised the alarm were in the store when it
     * scanned (all 1,000; the last may still be on its way when the alarm is raised) */
    long long labelled = json_integer_value(json_object_get(json_object_get(lr, "rows"), "labelled"));
    CHECK_MSG(labelled >= 999, "the retrain scanned %lld labelled rows of 1000", labelled);
    json_decref(root);
    /* the swap: every request after it is answered by version 2; none failed at any time */
    size_t after[8] = {0};
    for (int tries = 0; tries < 600; tries++) {
        memset(after, 0, sizeof after);
        failed += stream_late(s.port, 6000 + (size_t)tries * 20, 20, 0, false, after);
        if (after[2] == 20) break;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(after[2], 20);
    CHECK_EQ(failed, 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    char *o = NULL;
    fw_test_sh(&o, "\"$FW\" models history pima --home \"$T/a\"");
    CHECK_CONTAINS(o, "performance");
    CHECK_CONTAINS(o, "gate:");
    free(o);
    o = NULL;
    rc = fw_test_sh(&o, "\"$FW\" models show pima@2 --home \"$T/a\" --json");
    CHECK_CONTAINS(o, "\"lineage\":{\"parent\":1,");
    CHECK_CONTAINS(o, "\"reason\":\"alarm\"");
    free(o);
}

/* Negative controls. No change: 1,000 rows as trained — no performance alarm, no retrain, version 1
 * keeps serving. Noise: the last 500 labels turned into coin flips — the alarm fires and the retrain
 * runs, but a challenger trained on noise is no better on the held-out rows: the gate does not
 * promote and version 1 keeps serving. */
static void test_alarm_negative_controls(void) {
    if (!fw_test_bin() || !load_pima() || !train_alarm("b")) return;
    hc_server s;
    int rc = start(&s, "b", k_alarm_cfg);
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    int failed = stream_late(s.port, 0, 1000, 0, true, versions);
    json_t *root = NULL;
    json_t *on = NULL;
    for (int tries = 0; tries < 600; tries++) { /* every label has reached the learning thread */
        on = online_state(s.port, &root);
        if (on && json_integer_value(json_object_get(on, "labels_since_retrain")) >= 1000) break;
        json_decref(root);
        root = NULL;
        on = NULL;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(on != NULL, "the learning thread did not count 1000 labels");
    json_decref(root);
    struct timespec sec = {1, 0};
    nanosleep(&sec, NULL); /* an alarm, had there been one, has reached the worker by now */
    CHECK_EQ(raised(s.port, "performance"), 0);
    on = online_state(s.port, &root);
    CHECK_EQ(json_integer_value(json_object_get(on, "retrains")), 0);
    json_decref(root);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);

    if (!train_alarm("c")) return;
    rc = start(&s, "c", k_alarm_cfg);
    CHECK_EQ(rc, 0);
    if (rc) return;
    memset(versions, 0, sizeof versions);
    failed += stream_late(s.port, 0, 500, 0, true, versions);
    failed += stream_late(s.port, 500, 500, 2, true, versions);
    on = wait_retrain(s.port, 1, &failed, versions, &root);
    CHECK_MSG(on != NULL, "no retrain after the performance alarm (raised: %lld)", raised(s.port, "performance"));
    json_t *lr = json_object_get(on, "last_retrain");
    CHECK_STR(json_string_value(json_object_get(lr, "reason")), "alarm");
    const char *d = json_string_value(json_object_get(lr, "decision"));
    CHECK_MSG(d && strcmp(d, "promote") != 0, "a challenger trained on noise was promoted: %s", d ? d : "(none)");
    CHECK(!json_is_true(json_object_get(lr, "promoted")));
    json_decref(root);
    size_t after[8] = {0};
    failed += stream_late(s.port, 6000, 20, 0, false, after);
    CHECK_EQ(after[1], 20);
    CHECK_EQ(failed, 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    char *o = NULL;
    fw_test_sh(&o, "\"$FW\" models show pima@production --home \"$T/c\" --json");
    CHECK_CONTAINS(o, "\"version\":1,");
    free(o);
}

/* The `learn:` section of the serve config: the project's keys for the shared meanings, defaults,
 * errors naming line and column. */
static void test_config(void) {
    fw_serve_config c;
    fw_err err;
    fw_serve_config_init(&c);
    CHECK(!c.learn.online && !c.learn.promote && c.learn.batch == 32 && c.learn.snapshot_rows == 1000);
    CHECK_EQ(c.learn.join_cache, 16384);
    const char *y = "learn:\n  online: true\n  promote: auto\n  every: 6h\n  snapshot: {updates: 50, interval: 2m}\n"
                    "  gate: {min_rows: 30, confidence: 0.9, min_improvement: 0.01}\n  solver: sgd\n  batch: 8\n"
                    "  models: [pima]\n  join_cache: 100\n";
    CHECK_OK(fw_serve_config_parse(&c, y, strlen(y), "s.yaml", &err));
    CHECK(c.learn.online && c.learn.promote && c.learn.snapshot_rows == 50 && c.learn.snapshot_s == 120);
    CHECK(c.learn.gate_min_rows == 30 && c.learn.gate_confidence == 0.9 && c.learn.gate_min_improvement == 0.01);
    CHECK(c.learn.batch == 8 && c.learn.n_models == 1 && !strcmp(c.learn.solver, "sgd"));
    CHECK_EQ(c.learn.join_cache, 100);
    fw_serve_config_free(&c);
    fw_serve_config_init(&c);
    y = "learn:\n  online: true\n  snapshot: {updates: 0, interval: 0}\n";
    CHECK_EQ(fw_serve_config_parse(&c, y, strlen(y), "s.yaml", &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "no snapshot would ever be taken");
    fw_serve_config_free(&c);
    fw_serve_config_init(&c);
    y = "learn:\n  online: true\n  batch: 0\n";
    CHECK_EQ(fw_serve_config_parse(&c, y, strlen(y), "s.yaml", &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "s.yaml:3:10: 'learn.batch'");
    fw_serve_config_free(&c);
    fw_serve_config_init(&c);
    y = "learn:\n  snapshot: {interval: soon}\n";
    CHECK_EQ(fw_serve_config_parse(&c, y, strlen(y), "s.yaml", &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "'learn.snapshot.interval': expected a duration");
    fw_serve_config_free(&c);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_config);
    TEST_RUN(test_trigger_after_labels);
    TEST_RUN(test_alarm_change_promotes);
    TEST_RUN(test_alarm_negative_controls);
    TEST_RUN(test_change_promotes_and_swaps);
    TEST_RUN(test_no_change_no_promotion);
    TEST_RUN(test_learner_starts_at_boot);
    free(text);
    return fw_test_report(argv[0]);
}
