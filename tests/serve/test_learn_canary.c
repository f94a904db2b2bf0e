/* test_learn_canary.c — promotion through a canary (docs/LEARNING.md "Promotion through a canary"),
 * black box: a linear pima model served from the store whose serve config has a canary rollout
 * (`kind: canary`, `challenger: pima@candidate`, steps) for it. Labelled traffic with a concept
 * change goes through the server; then
 *   - `flywheel retrain pima --promote auto` (another process, the server running): the gate says
 *     promote, the challenger goes behind `candidate` — production does not move ("promotion":
 *     "canary"); the server's rollout starts again with it, advances to 100% and, on completing,
 *     moves production to it (audited with the gate's evidence); every request answered meanwhile;
 *   - the same with a canary that fails half its requests (the test build's
 *     FLYWHEEL_TEST_CANARY_FAULT): the rollout rolls the challenger back and production never moves,
 *     not even when a restarted server (the fault gone) then completes that version's rollout;
 *   - the server's own trigger (`learn: {after_labels, promote: auto}`) hands its challenger to the
 *     canary the same way, and production moves when the canary completes;
 *   - without a canary rollout, `--promote auto` still moves production at once ("direct").
 * The CLI hand-over and the rollback run on both store back ends (SQLite home, PostgreSQL). */
#include "test.h"

#include "backend.h"
#include "client.h"

#include <jansson.h>
#include <stdbool.h>
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

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Streams rows [first, first + n): predict, then (labels) the label, flipped (a concept change).
 * Returns the failed requests; the answering versions are counted in versions[1..8). */
static int stream(int port, size_t first, size_t n, bool labels, size_t *versions) {
    int fd = hc_connect(port), failed = 0;
    if (fd < 0) return (int)n;
    char body[1024], fb[512], label[64];
    for (size_t i = first; i < first + n; i++) {
        fw_test_v1_row_body(header, lines[(i * 7919) % n_lines], body, sizeof body, label, sizeof label);
        hc_resp r;
        if (hc_request_fd(fd, "POST", "/v1/models/pima:predict", body, NULL, &r) != 0 || r.status != 200) {
            hc_resp_free(&r);
            failed++;
            continue;
        }
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        hc_resp_free(&r);
        const char *ver = json_string_value(json_object_get(j, "version"));
        long long v = ver ? atoll(ver) : json_integer_value(json_object_get(j, "version"));
        if (v > 0 && v < 8) versions[v]++;
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        if (labels && rid) {
            snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid, strcmp(label, "pos") ? "pos" : "neg");
            if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) failed++;
            hc_resp_free(&r);
        }
        json_decref(j);
    }
    close(fd);
    return failed;
}


/* Trains pima (linear) into home (a directory or a PostgreSQL URL) with a learn: section fit for
 * ~500 served rows and promotes version 1 to production. */
static bool train(const char *home) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "[ -f \"$T/pima.yaml\" ] || fw_project pima \"$T/pima.yaml\"; "
                            "[ -f \"$T/pima_learn.yaml\" ] || { cp \"$T/pima.yaml\" \"$T/pima_learn.yaml\"; "
                            "printf 'learn:\\n  base: false\\n  gate: {holdout: 0.3, min_rows: 100}\\n' >> \"$T/pima_learn.yaml\"; }; "
                            "\"$FW\" train \"$T/pima_learn.yaml\" --home '%s' --quiet --models linear && "
                            "\"$FW\" models promote pima@1 --force --home '%s'", home, home);
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return rc == 0;
}

/* A healthy canary advances quickly: 50% then 100%, 200 requests per arm; on the HTTP thread (timeout_ms:
 * 0) and a generous latency margin, so that a loaded test machine does not hold it back. */
static const char k_split[] = "serving:\n  alias_poll_s: 0.2\n  splits:\n"
                              "    - {model: pima, kind: canary, challenger: pima@candidate, steps: [50, 100], "
                              "tick_s: 0.1, min_requests: 200, timeout_ms: 0, rollback: {errors: 0.02, p99: 100}}\n";

/* Writes $T/<tag>.yaml (yaml) and starts the server on home; fault: FLYWHEEL_TEST_CANARY_FAULT (the
 * test build) or NULL. */
static int start(hc_server *s, const char *tag, const char *home, const char *yaml, const char *fault) {
    char cfg[700], log[700];
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", fw_test_tmpdir(), tag);
    snprintf(log, sizeof log, "%s/%s.err", fw_test_tmpdir(), tag);
    FILE *c = fopen(cfg, "w");
    if (!c) return -1;
    fputs(yaml, c);
    fclose(c);
    int saved = dup(2);
    FILE *err = freopen(log, "w", stderr);
    (void)err;
    if (fault) setenv("FLYWHEEL_TEST_CANARY_FAULT", fault, 1);
    const char *args[] = {"--home", home, "--config", cfg, NULL};
    int rc = fault ? hc_server_start_bin(s, hc_test_bin(), args) : hc_server_start(s, args);
    unsetenv("FLYWHEEL_TEST_CANARY_FAULT");
    dup2(saved, 2);
    close(saved);
    return rc;
}

/* The rollout's state (the body, malloc'd) once it contains want, or the last one after secs;
 * predictions keep flowing meanwhile (failures added to *failed, versions counted). */
static char *wait_rollout(int port, const char *want, double secs, int *failed, size_t *versions) {
    char *last = NULL;
    for (int i = 0; i < (int)(secs * 10); i++) {
        hc_resp r = {0};
        if (hc_request(port, "GET", "/v1/models/pima/rollout", NULL, NULL, &r) == 0 && r.body) {
            free(last);
            last = r.body;
            r.body = NULL;
            if (strstr(last, want)) return last;
        }
        hc_resp_free(&r);
        *failed += stream(port, 3000 + (size_t)i * 40, 40, false, versions);
        sleep_ms(20);
    }
    return last;
}

/* Waits until the 2 x n records of n labelled predictions are in the store (the CLI reads it). */
static bool wait_stored(int port, double n) {
    for (int i = 0; i < 600; i++) {
        if (hc_metric(port, "flywheel_log_stored_total") >= 2 * n && hc_metric(port, "flywheel_log_spool_records") == 0)
            return true;
        sleep_ms(100);
    }
    return false;
}

/* The version pima's alias points at in home (0: none). */
static long long alias_of(const char *home, const char *alias) {
    char q[400];
    snprintf(q, sizeof q, "SELECT COALESCE((SELECT v.version FROM aliases a JOIN models m ON m.id = a.model_id "
                          "JOIN versions v ON v.id = a.version_id WHERE m.name = 'pima' AND a.alias = '%s'), 0)", alias);
    return HOME_INT(home, "flywheel.db", q);
}

static long long audit_count(const char *home, const char *where) {
    char q[600];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM audit_log WHERE model_name = 'pima' AND %s", where);
    return HOME_INT(home, "flywheel.db", q);
}

/* Serves pima with the canary on a fresh home of the running back end (*home), streams 520
 * labelled rows after a change, waits for them in the store and runs `flywheel retrain pima
 * --promote auto --json --config CFG` from another process: its JSON in *json. */
static bool serve_and_retrain(hc_server *s, const char *tag, const char **home, const char *fault, json_t **json) {
    *json = NULL;
    s->pid = 0;
    if (!fw_test_bin() || !load_pima() || !(*home = fw_test_store_home(tag)) || !train(*home)) return false;
    int rc = start(s, tag, *home, k_split, fault);
    CHECK_EQ(rc, 0);
    if (rc) return false;
    /* no canary yet: the alias names no version, the rollout waits and the champion answers */
    int failed = 0;
    size_t versions[8] = {0};
    char *st = wait_rollout(s->port, "\"waiting\":true", 30, &failed, versions);
    CHECK_CONTAINS(st, "\"canary_version\":null,\"waiting\":true");
    free(st);
    CHECK_EQ(stream(s->port, 0, 520, true, versions), 0);
    CHECK_EQ(failed, 0);
    CHECK_EQ(versions[2], 0);
    CHECK_MSG(wait_stored(s->port, 520), "the labelled rows did not reach the store");
    char *o = NULL;
    rc = fw_test_sh(&o, "\"$FW\" retrain pima --promote auto --json --home '%s' --config \"$T/%s.yaml\"", *home, tag);
    CHECK_MSG(rc == 0, "retrain: %s", o ? o : "");
    json_error_t je;
    *json = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(*json != NULL, "retrain --json: %s", o ? o : "");
    free(o);
    return *json != NULL;
}

static void test_cli_promotes_through_canary(void) {
    hc_server s;
    json_t *j = NULL;
    const char *h = NULL;
    if (!serve_and_retrain(&s, "c", &h, NULL, &j)) {
        if (s.pid > 0) hc_server_stop(&s, SIGTERM);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "promote");
    CHECK_STR(json_string_value(json_object_get(j, "challenger")), "pima@2");
    CHECK_STR(json_string_value(json_object_get(j, "promotion")), "canary");
    CHECK_STR(json_string_value(json_object_get(j, "canary")), "pima@candidate");
    CHECK(json_is_false(json_object_get(j, "promoted")));
    json_decref(j);
    /* production did not move; the challenger is behind the canary's alias, with the gate's evidence */
    CHECK_EQ(alias_of(h, "production"), 1);
    CHECK_EQ(alias_of(h, "candidate"), 2);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'candidate' AND reason LIKE 'gate: {\"decision\":\"promote\"%'"), 1);
    /* the server sees the alias move, starts the rollout again with version 2, and completes it */
    int failed = 0;
    size_t versions[8] = {0};
    char *st = wait_rollout(s.port, "\"state\":\"complete\"", 120, &failed, versions);
    CHECK_CONTAINS(st, "\"canary_version\":\"2\"");
    CHECK_CONTAINS(st, "\"event\":\"restart\"");
    CHECK_CONTAINS(st, "\"state\":\"complete\"");
    CHECK_CONTAINS(st, "production moved to pima@2");
    free(st);
    CHECK_EQ(failed, 0);
    CHECK(versions[2] > 0);
    /* production moved when the canary completed, audited with the gate's evidence and the canary's */
    CHECK_EQ(alias_of(h, "production"), 2);
    CHECK_EQ(audit_count(h, "action = 'canary_complete'"), 1);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'production' AND to_version = 2 AND "
                              "reason LIKE 'gate: {\"decision\":\"promote\"%canary_complete: pima@candidate%'"), 1);
    /* and the default route swaps to it: every later answer from version 2 */
    size_t after[8] = {0};
    for (int tries = 0; tries < 100; tries++) {
        memset(after, 0, sizeof after);
        CHECK_EQ(stream(s.port, 9000, 20, false, after), 0);
        if (after[2] == 20) break;
        sleep_ms(100);
    }
    CHECK_EQ(after[2], 20);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_cli_canary_rolls_back(void) {
    hc_server s;
    json_t *j = NULL;
    const char *h = NULL;
    if (!serve_and_retrain(&s, "r", &h, "error=0.5", &j)) {
        if (s.pid > 0) hc_server_stop(&s, SIGTERM);
        return;
    }
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "promote");
    CHECK_STR(json_string_value(json_object_get(j, "promotion")), "canary");
    json_decref(j);
    CHECK_EQ(alias_of(h, "production"), 1);
    int failed = 0;
    size_t versions[8] = {0};
    char *st = wait_rollout(s.port, "\"state\":\"rolled_back\"", 120, &failed, versions);
    CHECK_CONTAINS(st, "\"canary_version\":\"2\"");
    CHECK_CONTAINS(st, "\"state\":\"rolled_back\"");
    CHECK_CONTAINS(st, "\"reason\":\"errors: canary ");
    free(st);
    CHECK_EQ(failed, 0); /* the champion answered the canary's failures */
    /* the rolled-back challenger never becomes production */
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(stream(s.port, 7000 + (size_t)i * 50, 50, false, versions), 0);
        sleep_ms(100);
    }
    CHECK_EQ(alias_of(h, "production"), 1);
    CHECK_EQ(audit_count(h, "action = 'canary_rollback' AND version = 2"), 1);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'production' AND to_version = 2"), 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    /* a restarted server (the fault gone) runs the rollout of version 2 afresh and completes it, but
     * a challenger once rolled back is never promoted */
    CHECK_EQ(start(&s, "r", h, k_split, NULL), 0);
    st = wait_rollout(s.port, "\"state\":\"complete\"", 120, &failed, versions);
    CHECK_CONTAINS(st, "\"state\":\"complete\"");
    free(st);
    CHECK_EQ(failed, 0);
    CHECK_EQ(alias_of(h, "production"), 1);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'production' AND to_version = 2"), 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* The server's own trigger hands its challenger to the canary: production moves on completion. */
static void test_trigger_through_canary(void) {
    const char *h = NULL;
    if (!fw_test_bin() || !load_pima() || !(h = fw_test_store_home("t")) || !train(h)) return;
    char yaml[1200];
    snprintf(yaml, sizeof yaml, "%slearn:\n  after_labels: 500\n  promote: auto\n", k_split);
    hc_server s;
    int rc = start(&s, "t", h, yaml, NULL);
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 520, true, versions), 0);
    int failed = 0;
    char *st = wait_rollout(s.port, "\"state\":\"complete\"", 180, &failed, versions);
    CHECK_CONTAINS(st, "\"canary_version\":\"2\"");
    CHECK_CONTAINS(st, "\"state\":\"complete\"");
    free(st);
    CHECK_EQ(failed, 0);
    CHECK_EQ(alias_of(h, "candidate"), 2);
    CHECK_EQ(alias_of(h, "production"), 2);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'candidate' AND reason LIKE 'gate: %handed to the canary%'"), 1);
    CHECK_EQ(audit_count(h, "action = 'promote' AND alias = 'production' AND to_version = 2 AND "
                              "reason LIKE 'gate: %canary_complete%'"), 1);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* No canary rollout for the model: production moves at once, as before. */
static void test_no_canary_direct(void) {
    const char *h = NULL;
    if (!fw_test_bin() || !load_pima() || !(h = fw_test_store_home("d")) || !train(h)) return;
    hc_server s;
    int rc = start(&s, "d", h, "serving:\n  alias_poll_s: 0.2\n", NULL);
    CHECK_EQ(rc, 0);
    if (rc) return;
    size_t versions[8] = {0};
    CHECK_EQ(stream(s.port, 0, 520, true, versions), 0);
    CHECK(wait_stored(s.port, 520));
    char *o = NULL;
    rc = fw_test_sh(&o, "\"$FW\" retrain pima --promote auto --json --home '%s' --config \"$T/d.yaml\"", h);
    CHECK_MSG(rc == 0, "retrain: %s", o ? o : "");
    CHECK_CONTAINS(o, "\"decision\":\"promote\"");
    CHECK_CONTAINS(o, "\"promoted\":true");
    CHECK_CONTAINS(o, "\"promotion\":\"direct\"");
    free(o);
    CHECK_EQ(alias_of(h, "production"), 2);
    CHECK_EQ(alias_of(h, "candidate"), 0);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_no_canary_direct);
    TEST_RUN_BACKENDS(test_cli_promotes_through_canary); /* the hand-over through either store */
    TEST_RUN_BACKENDS(test_cli_canary_rolls_back);
    TEST_RUN(test_trigger_through_canary);
    free(text);
    return fw_test_report(argv[0]);
}
