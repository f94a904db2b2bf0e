/* test_monitor_live.c — the server's monitors (src/serve/monitoring.c) against the replay command:
 * one stream (pima rows resampled with a fixed seed; glucose shifted by half an SD from row 2000,
 * a value of the wrong type in `mass` at row 3000, labels coming back as feedback), sent by a single
 * sequential client as one /v1 instance per request, raises the same alarms at the same rows (kind,
 * column, row) as `flywheel monitor pima@1 --input FILE --label diabetes`; the alarms reach the
 * store's history (`flywheel monitor pima --history --json`) and the log; GET
 * /v1/models/pima/monitor answers the monitor's state with "alarms"; /metrics carries the monitoring
 * families and passes `promtool check metrics`; with `monitoring.enabled: false` there is no
 * monitor (404) and no alarm. With windows by time (block_s: 3) and the stream paused three times
 * for 6 s, the server (whose idle tick closes the open block during a pause: the state's "blocks"
 * moves with no prediction) and the replay with --time-column (the client's send times) raise the
 * same alarms at the same rows; the stream without pauses runs under the default block_s (300). */
#include "test.h"

#include "client.h"
#include "pima_serve.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

enum { N_ROWS = 4000, SHIFT_AT = 2000, BAD_AT = 3000 };

static char *lines[1000];
static size_t n_lines;
static char header[512];
static char *text;

static bool load_pima(void) {
    if (text) return n_lines > 0; /* once for every test */
    text = fw_test_slurp("examples/pima/pima.csv", NULL);
    if (!text) return false;
    n_lines = fw_test_csv_lines(text, header, sizeof header, lines, 1000);
    return n_lines > 0;
}

static size_t split(char *line, char **f) { return fw_test_split_commas(line, f, 16); }

/* Row i of the stream as CSV fields in f (copied into buf). Columns: pregnant, glucose, pressure,
 * triceps, insulin, mass, pedigree, age, diabetes. */
static size_t stream_row(size_t i, unsigned *seed, char *buf, size_t cap, char **f, char *num) {
    double v[2];
    fw_test_uniforms(seed, v, 2);
    size_t src = (size_t)((v[0] + 1) / 2 * (double)n_lines) % n_lines;
    snprintf(buf, cap, "%s", lines[src]);
    size_t n = split(buf, f);
    if (i >= SHIFT_AT && *f[1]) {
        snprintf(num, 32, "%.6g", atof(f[1]) + 16.0);
        f[1] = num;
    }
    if (i == BAD_AT) f[5] = (char *)"abc";
    return n;
}

static bool is_number(const char *s) {
    if (!*s) return false;
    char *end;
    strtod(s, &end);
    return !*end;
}

/* (row, kind, column) of every alarm in a JSON array, as "row kind column;" text. */
static char *alarm_keys(json_t *al) {
    size_t cap = 64 + 96 * json_array_size(al), len = 0;
    char *s = calloc(1, cap);
    for (size_t i = 0; i < json_array_size(al); i++) {
        json_t *a = json_array_get(al, i);
        json_t *c = json_object_get(a, "column");
        len += (size_t)snprintf(s + len, cap - len, "%lld %s %s;", (long long)json_integer_value(json_object_get(a, "row")),
                                json_string_value(json_object_get(a, "kind")), json_is_string(c) ? json_string_value(c) : "-");
    }
    return s;
}

static json_t *run_json(const char *fmt, const char *arg) {
    char *o = NULL;
    int rc = fw_test_sh(&o, fmt, arg);
    CHECK_MSG(rc == 0, "exit %d: %.500s", rc, o ? o : "");
    json_error_t je;
    json_t *j = rc == 0 && o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "not JSON: %.500s", o ? o : "(null)");
    free(o);
    return j;
}

static bool trained;
static bool train(void) {
    if (trained) return true;
    if (!fw_test_pima_train(NULL, "baseline,linear")) return false;
    char *o = NULL;
    int rc = fw_test_sh(&o, "cp -r \"$T/h\" \"$T/h0\""); /* h0: a home no server has run on */
    CHECK_MSG(rc == 0, "copy the home: %s", o ? o : "");
    free(o);
    return trained = rc == 0;
}

/* The time-windowed run: block_s 3 s, a 6 s pause before each of these rows. */
enum { BLOCK_S = 3, PAUSE_MS = 6000 };
static const size_t pause_before[] = {520, 1237, 3333}; /* each with a block open */
static int64_t sent_ms[N_ROWS];

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static long state_blocks(int port) {
    hc_resp r;
    long b = -1;
    if (hc_request(port, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r) == 0 && r.status == 200) {
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        b = j ? (long)json_integer_value(json_object_get(j, "blocks")) : -1;
        json_decref(j);
    }
    hc_resp_free(&r);
    return b;
}

/* Streams the rows to the server (one instance per request, then its label as feedback); timed:
 * pauses before the rows of pause_before, records each row's send time, and checks that the
 * server's tick closes the open block during a pause. */
static void stream_to_server(int port, bool timed) {
    int fd = hc_connect(port);
    CHECK(fd >= 0);
    if (fd < 0) return;
    unsigned seed = 12345;
    char buf[512], num[32], body[1024], fb[256], *f[16];
    char names[16][32], hb[512], *h[16];
    snprintf(hb, sizeof hb, "%s", header);
    size_t nh = split(hb, h);
    for (size_t k = 0; k < nh; k++) snprintf(names[k], sizeof names[k], "%s", h[k]);
    for (size_t i = 0; i < N_ROWS; i++) {
        for (size_t p = 0; timed && p < sizeof pause_before / sizeof *pause_before; p++)
            if (pause_before[p] == i) {
                long before = state_blocks(port);
                struct timespec ts = {PAUSE_MS / 1000, (PAUSE_MS % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                long after = state_blocks(port);
                CHECK_MSG(after == before + 1, "pause before row %zu: blocks %ld -> %ld (the tick closes the open block)",
                          i, before, after);
            }
        if (timed) sent_ms[i] = wall_ms();
        size_t n = stream_row(i, &seed, buf, sizeof buf, f, num);
        size_t len = (size_t)snprintf(body, sizeof body, "{\"instances\":[{");
        for (size_t k = 0; k + 1 < n && k + 1 < nh; k++) { /* the last column is the label */
            const char *v = f[k];
            if (!*v) len += (size_t)snprintf(body + len, sizeof body - len, "%s\"%s\":null", k ? "," : "", names[k]);
            else if (is_number(v)) len += (size_t)snprintf(body + len, sizeof body - len, "%s\"%s\":%s", k ? "," : "", names[k], v);
            else len += (size_t)snprintf(body + len, sizeof body - len, "%s\"%s\":\"%s\"", k ? "," : "", names[k], v);
        }
        snprintf(body + len, sizeof body - len, "}]}");
        hc_resp r;
        int want = i == BAD_AT ? 400 : 200; /* the model refuses "abc" for a number; the monitor still sees it */
        if (hc_request_fd(fd, "POST", "/v1/models/pima/versions/1:predict", body, NULL, &r) != 0 || r.status != want) {
            fw_test_fail(__FILE__, __LINE__, "row %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            break;
        }
        if (want != 200) { /* no prediction: no label comes back (as the replay) */
            hc_resp_free(&r);
            continue;
        }
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid ? rid : "", f[n - 1]);
        json_decref(j);
        hc_resp_free(&r);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r) != 0 || r.status != 202) {
            fw_test_fail(__FILE__, __LINE__, "feedback %zu: status %d: %.300s", i, r.status, r.body ? r.body : "");
            hc_resp_free(&r);
            break;
        }
        hc_resp_free(&r);
    }
    close(fd);
}

/* timed: block_s 3 with pauses (a home of its own: h0's copy); else the default config */
static void live_vs_replay(bool timed) {
    if (!fw_test_bin() || !load_pima() || !train()) return;
    const char *hn = timed ? "ht" : "h";
    if (timed) {
        char *o = NULL;
        CHECK_EQ(fw_test_sh(&o, "rm -rf \"$T/ht\" && cp -r \"$T/h0\" \"$T/ht\""), 0);
        free(o);
    }
    char path[600]; /* the stream as a file, for the replay: written after the live run (the timed
                       stream's time column is the rows' send times) */
    snprintf(path, sizeof path, "%s/%s", fw_test_tmpdir(), timed ? "stream_t.csv" : "stream.csv");
    /* the server, the same rows in the same order */
    char cfg[700], hook_log[700];
    snprintf(cfg, sizeof cfg, "%s/serve.yaml", fw_test_tmpdir());
    snprintf(hook_log, sizeof hook_log, "%s/serve.err", fw_test_tmpdir());
    FILE *c = fopen(cfg, "w");
    fprintf(c, "monitoring:\n  enabled: true\n");
    if (timed) fprintf(c, "  block_s: %d\n", BLOCK_S);
    fclose(c);
    char home[700];
    snprintf(home, sizeof home, "%s/%s", fw_test_tmpdir(), hn);
    int saved = dup(2);
    FILE *err = freopen(hook_log, "w", stderr); /* the server inherits it: its log lines */
    (void)err;
    hc_server s;
    const char *args[] = {"--home", home, "--config", cfg, NULL};
    int started = hc_server_start(&s, args);
    dup2(saved, 2);
    close(saved);
    CHECK_EQ(started, 0);
    if (started == 0) {
        stream_to_server(s.port, timed);
        hc_resp r;
        CHECK_EQ(hc_request(s.port, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r), 0);
        CHECK_EQ(r.status, 200);
        json_error_t je;
        json_t *st = r.body ? json_loads(r.body, 0, &je) : NULL;
        CHECK_MSG(st && json_is_array(json_object_get(st, "alarms")), "state: %.300s", r.body ? r.body : "");
        CHECK_EQ(json_integer_value(json_object_get(st, "rows")), N_ROWS);
        json_decref(st);
        hc_resp_free(&r);
        CHECK_EQ(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r), 0);
        CHECK_CONTAINS(r.body, "flywheel_monitor_rows_total{model=\"pima\",version=\"1\"} 4000\n");
        CHECK_CONTAINS(r.body, "flywheel_monitor_drift{model=\"pima\",version=\"1\",column=\"glucose\"");
        CHECK_CONTAINS(r.body, "flywheel_monitor_alarms_raised_total{model=\"pima\",version=\"1\",kind=\"schema\"} 1\n");
        CHECK_CONTAINS(r.body, "flywheel_monitor_labels_joined_total{model=\"pima\",version=\"1\"} 3999\n");
        char mpath[700];
        snprintf(mpath, sizeof mpath, "%s/metrics.txt", fw_test_tmpdir());
        FILE *mf = fopen(mpath, "w");
        if (mf && r.body) fputs(r.body, mf);
        if (mf) fclose(mf);
        hc_resp_free(&r);
        char *o = NULL;
        int rc = fw_test_sh(&o, "promtool check metrics < \"$T/metrics.txt\"");
        CHECK_MSG(rc == 0, "promtool check metrics: %s", o ? o : "");
        free(o);
        CHECK_EQ(hc_server_stop(&s, SIGTERM), 0); /* drains the alert thread: history written */
    }
    /* the stream as a file, for the replay (with the send times as its time column) */
    FILE *out = fopen(path, "w");
    CHECK(out != NULL);
    if (!out) return;
    fprintf(out, "%s%s\n", header, timed ? ",t" : "");
    unsigned seed = 12345;
    char buf[512], num[32], *f[16];
    for (size_t i = 0; i < N_ROWS; i++) {
        size_t n = stream_row(i, &seed, buf, sizeof buf, f, num);
        for (size_t k = 0; k < n; k++) fprintf(out, "%s%s", k ? "," : "", f[k]);
        if (timed) fprintf(out, ",%lld", (long long)sent_ms[i]);
        fputc('\n', out);
    }
    fclose(out);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "\"$FW\" monitor pima@1 --input \"$T/%%s\" --label diabetes --home \"$T/h0\" --json%s",
             timed ? " --time-column t --block-seconds 3" : "");
    json_t *rep = run_json(cmd, timed ? "stream_t.csv" : "stream.csv");
    char *want = rep ? alarm_keys(json_object_get(rep, "alarms")) : NULL;
    CHECK_MSG(want && strstr(want, " drift glucose;"), "replay: no drift alarm on glucose: %s", want ? want : "");
    CHECK_MSG(want && strstr(want, "3000 schema mass;"), "replay: no schema alarm on mass at row 3000: %s", want ? want : "");
    if (timed) { /* time closed blocks: more than the 80 of counts alone */
        long blocks = rep ? (long)json_integer_value(json_object_get(json_object_get(rep, "monitor"), "blocks")) : -1;
        CHECK_MSG(blocks >= 82, "replay with --time-column: %ld blocks", blocks); /* 80 + a partial block per pause */
    }
    json_t *hist = run_json("\"$FW\" monitor pima --history --json --home \"$T/%s\"", hn);
    char *got = hist ? alarm_keys(json_object_get(hist, "alarms")) : NULL;
    CHECK_MSG(want && got && !strcmp(want, got), "live alarms differ from the replay's:\n  replay: %s\n  live:   %s",
              want ? want : "", got ? got : "");
    char *log = fw_test_slurp(hook_log, NULL);
    CHECK_CONTAINS(log, "flywheel serve: alarm raised: pima#1 schema column mass:");
    free(log);
    free(want);
    free(got);
    json_decref(rep);
    json_decref(hist);
}

static void test_live_equals_replay(void) { live_vs_replay(false); }

static void test_live_equals_replay_timed(void) { live_vs_replay(true); }

static void test_disabled(void) {
    if (!fw_test_bin() || !train()) return;
    fw_test_pima p;
    if (!fw_test_pima_start(&p, "monitoring:\n  enabled: false\n")) return;
    HC_EXPECT(p.srv.port, "POST", "/v1/models/pima/versions/1:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, 200, NULL);
    HC_EXPECT(p.srv.port, "GET", "/v1/models/pima/monitor", NULL, NULL, 404, "monitoring_off");
    hc_resp r;
    CHECK_EQ(hc_request(p.srv.port, "GET", "/metrics", NULL, NULL, &r), 0);
    CHECK(r.body && !strstr(r.body, "flywheel_monitor_"));
    hc_resp_free(&r);
    CHECK_EQ(fw_test_pima_stop(&p), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_live_equals_replay);
    TEST_RUN(test_live_equals_replay_timed);
    TEST_RUN(test_disabled);
    free(text);
    return fw_test_report(argv[0]);
}
