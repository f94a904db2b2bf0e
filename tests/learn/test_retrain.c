/* test_retrain.c — black-box tests of `flywheel retrain` (src/learn/retrain.c, src/cli/cmd_retrain.c)
 * on the real binary and the real server: a model served over HTTP, a stream of predictions whose
 * labels come back late through /v1/feedback after a concept change, then retrain → the gate
 * promotes → production moves (audited with the gate's evidence), `models history` says why the
 * version exists, `reproduce` rebuilds it byte for byte; the negative controls (no change, noisy
 * labels) never promote; too few labels is "inconclusive" with no challenger; a held retrain lock
 * refuses a second run; usage errors. */
#include "core/rng.h"
#include "store/store.h"
#include "test.h"

#include "../serve/client.h"

#include "learn/retrain.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char g_base[600];

/* x1, x2, x3 ~ N(0, 1); y = pos with probability sigmoid(2 * x_k + 0.5 * x3), k = 1 before the change */
static const char *draw_label(fw_rng *r, double x1, double x2, double x3, int mode) {
    double z = mode == 1 ? 2 * x2 + 0.5 * x3 : 2 * x1 + 0.5 * x3;
    if (mode == 2) z = 0; /* noisy labels: a coin */
    return fw_rng_uniform(r) < 1 / (1 + exp(-z)) ? "pos" : "neg";
}

static void write_base(void) {
    snprintf(g_base, sizeof g_base, "%s/base.csv", fw_test_tmpdir());
    FILE *f = fopen(g_base, "w");
    fw_rng r;
    fw_rng_seed(&r, 1);
    fprintf(f, "x1,x2,x3,y\n");
    for (int i = 0; i < 2000; i++) {
        double x1 = fw_rng_normal(&r), x2 = fw_rng_normal(&r), x3 = fw_rng_normal(&r);
        fprintf(f, "%.4f,%.4f,%.4f,%s\n", x1, x2, x3, draw_label(&r, x1, x2, x3, 0));
    }
    fclose(f);
}

/* A home with m@1 trained on the base data (linear) and promoted; learn: as given. */
static int setup_home(const char *tag, const char *learn) {
    return fw_test_sh(NULL,
                      "set -e; mkdir -p \"$T/%s\"; cd \"$T/%s\";"
                      "printf 'name: m\\ntask: binary\\ndata:\\n  train: %s\\n  label: y\\n  positive: pos\\n"
                      "split: {kind: stratified, seed: 3}\\nmetric: roc_auc\\n%s' > p.yaml;"
                      "\"$FW\" train p.yaml --home h --models linear --quiet >/dev/null;"
                      "\"$FW\" models promote m@1 --home h >/dev/null",
                      tag, tag, g_base, learn);
}

/* Serves n predictions from the home and sends each one's label (drawn with mode) as feedback. */
static void serve_traffic(const char *tag, int n, int mode, uint64_t seed) {
    char home[700];
    snprintf(home, sizeof home, "%s/%s/h", fw_test_tmpdir(), tag);
    const char *args[] = {"--home", home, NULL};
    hc_server srv;
    if (hc_server_start(&srv, args) != 0) {
        fw_test_fail(__FILE__, __LINE__, "server did not start");
        return;
    }
    int fd = hc_connect(srv.port);
    fw_rng r;
    fw_rng_seed(&r, seed);
    int ok = 0;
    for (int i = 0; i < n && fd >= 0; i++) {
        double x1 = fw_rng_normal(&r), x2 = fw_rng_normal(&r), x3 = fw_rng_normal(&r);
        char body[300];
        snprintf(body, sizeof body, "{\"instances\":[{\"x1\":%.4f,\"x2\":%.4f,\"x3\":%.4f}]}", x1, x2, x3);
        hc_resp resp;
        if (hc_request_fd(fd, "POST", "/v1/models/m:predict", body, NULL, &resp) != 0) break;
        json_t *j = resp.status == 200 ? json_loads(resp.body, 0, NULL) : NULL;
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        if (rid) {
            snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid, draw_label(&r, x1, x2, x3, mode));
            hc_resp fb;
            if (hc_request_fd(fd, "POST", "/v1/feedback", body, NULL, &fb) == 0 && fb.status == 202) ok++;
            hc_resp_free(&fb);
        }
        if (j) json_decref(j);
        hc_resp_free(&resp);
    }
    if (fd >= 0) close(fd);
    CHECK_EQ(ok, n);
    CHECK_EQ(hc_server_stop(&srv, SIGTERM), 0); /* drains the log into the store */
}

/* Runs retrain --json (extra flags appended) and parses its object; NULL on a failure. */
static json_t *retrain(const char *tag, const char *flags, int *code) {
    char *out = NULL;
    *code = fw_test_sh(&out, "cd \"$T/%s\" && \"$FW\" retrain m --home h --json %s 2>&1", tag, flags);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    if (!j) fw_test_fail(__FILE__, __LINE__, "retrain %s: exit %d: %s", tag, *code, out ? out : "");
    free(out);
    return j;
}

static const char *js(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static double jnum(json_t *j, const char *k) { return json_number_value(json_object_get(j, k)); }

/* The concept changed (the label now follows x2): the challenger is promoted and serves. */
static void test_change_is_promoted(void) {
    CHECK_EQ(setup_home("change", "learn:\\n  base: false\\n  gate: {holdout: 0.3}\\n"), 0);
    serve_traffic("change", 1200, 1, 11);
    int code;
    json_t *j = retrain("change", "--promote auto", &code);
    CHECK_EQ(code, 0);
    if (!j) return;
    CHECK_STR(js(j, "decision"), "promote");
    CHECK_STR(js(j, "champion"), "m@1");
    CHECK_STR(js(j, "challenger"), "m@2");
    CHECK(jnum(j, "challenger_metric") > jnum(j, "champion_metric") + 0.1);
    json_t *iv = json_object_get(j, "interval");
    CHECK(json_array_size(iv) == 2 && json_number_value(json_array_get(iv, 0)) > 0);
    CHECK(json_is_true(json_object_get(j, "promoted")));
    json_t *rows = json_object_get(j, "rows");
    CHECK_EQ(json_integer_value(json_object_get(rows, "labelled")), 1200);
    CHECK_EQ(json_integer_value(json_object_get(rows, "holdout")), 360);
    CHECK_EQ(json_integer_value(json_object_get(rows, "served_train")), 840);
    CHECK_EQ(json_integer_value(json_object_get(rows, "base")), 0);
    /* the steps' wall times: each present, none negative, training took some, the sum within the run */
    json_t *ph = json_object_get(j, "phases");
    double sum = 0;
    const char *steps[] = {"lock", "scan", "snapshot", "train", "register", "gate", "promote"};
    for (size_t k = 0; k < 7; k++) {
        json_t *v = json_object_get(ph, steps[k]);
        CHECK_MSG(json_is_number(v) && json_number_value(v) >= 0, "phases.%s missing", steps[k]);
        sum += json_number_value(v);
    }
    CHECK(jnum(ph, "train") > 0 && jnum(ph, "promote") > 0);
    CHECK(sum <= jnum(j, "seconds") + 0.002);
    CHECK(json_integer_value(json_object_get(j, "started_ms")) > 1700000000000LL);
    json_decref(j);
    char *out = NULL;
    /* production moved, audited with the gate's evidence; the version says why it exists */
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/change\" && \"$FW\" models list --home h"), 0);
    CHECK_CONTAINS(out, "production=2");
    free(out);
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/change\" && \"$FW\" models history m --home h"), 0);
    CHECK_CONTAINS(out, "register     m@2");
    CHECK_CONTAINS(out, "retrain (manual) from m@1");
    CHECK_CONTAINS(out, "production: 1 -> 2");
    CHECK_CONTAINS(out, "gate: {\"decision\":\"promote\",\"metric\":\"roc_auc\",\"method\":\"delong\"");
    free(out);
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/change\" && \"$FW\" models show m@2 --home h --json"), 0);
    CHECK_CONTAINS(out, "\"parent\":1");
    CHECK_CONTAINS(out, "\"reason\":\"manual\"");
    free(out);
    /* reproducible: the snapshots are in the store, named by the recorded project */
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/change\" && \"$FW\" reproduce m@2 --home h"), 0);
    CHECK_CONTAINS(out, "reproduced: byte-identical");
    free(out);
    /* a second retrain: the champion is now m@2, the same rows give the same challenger bytes */
    j = retrain("change", "--reason alarm --detail 'drift on x2'", &code);
    CHECK_EQ(code, 0);
    if (j) {
        CHECK_STR(js(j, "champion"), "m@2");
        CHECK_STR(js(j, "reason"), "alarm");
        CHECK(!json_is_true(json_object_get(j, "promoted")));
        json_decref(j);
    }
}

/* Negative controls: nothing changed, or the labels are noise — no promotion. */
static void test_no_change_is_not_promoted(void) {
    CHECK_EQ(setup_home("same", "learn:\\n  gate: {holdout: 0.3}\\n"), 0);
    serve_traffic("same", 1200, 0, 12);
    int code;
    json_t *j = retrain("same", "--promote auto", &code);
    CHECK_EQ(code, 0);
    if (j) {
        CHECK_STR(js(j, "challenger"), "m@2");
        CHECK(strcmp(js(j, "decision") ? js(j, "decision") : "", "promote") != 0);
        CHECK(!json_is_true(json_object_get(j, "promoted")));
        CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "rows"), "base")), 2000);
        json_decref(j);
    }
    CHECK_EQ(setup_home("noise", "learn:\\n  base: false\\n  gate: {holdout: 0.3}\\n"), 0);
    serve_traffic("noise", 1200, 2, 13);
    j = retrain("noise", "--promote auto", &code);
    CHECK_EQ(code, 0);
    if (j) {
        CHECK(strcmp(js(j, "decision") ? js(j, "decision") : "", "promote") != 0);
        json_decref(j);
    }
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/same\" && \"$FW\" models list --home h; cd \"$T/noise\" && \"$FW\" models list --home h"), 0);
    CHECK(out && !strstr(out, "production=2"));
    free(out);
}

/* Two threads of one process retrain the same model at once: the store's lock lets one run. */
static pthread_barrier_t g_barrier;
static void *retrain_thread(void *arg) {
    fw_retrain_options o;
    fw_retrain_options_init(&o);
    char home[700];
    snprintf(home, sizeof home, "%s/same/h", fw_test_tmpdir());
    o.home = home;
    o.name = "m";
    fw_retrain_result r;
    fw_err err;
    pthread_barrier_wait(&g_barrier);
    *(fw_status *)arg = fw_retrain_run(&o, &r, &err);
    return NULL;
}

static void test_one_retrain_at_a_time(void) {
    pthread_t t[2];
    fw_status st[2] = {1, 1};
    pthread_barrier_init(&g_barrier, NULL, 2);
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, retrain_thread, &st[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&g_barrier);
    CHECK_MSG((st[0] == FW_OK && st[1] == FW_EBUSY) || (st[0] == FW_EBUSY && st[1] == FW_OK), "statuses %d and %d",
              st[0], st[1]);
}

static void test_too_few_labels(void) {
    CHECK_EQ(setup_home("few", ""), 0);
    serve_traffic("few", 150, 1, 14);
    int code;
    json_t *j = retrain("few", "--promote auto", &code);
    CHECK_EQ(code, 0);
    if (!j) return;
    CHECK_STR(js(j, "decision"), "inconclusive");
    CHECK(json_is_null(json_object_get(j, "challenger")));
    CHECK_STR(js(j, "champion"), "m@1");
    CHECK(json_is_null(json_object_get(j, "champion_metric")));
    CHECK_EQ(json_array_size(json_object_get(j, "interval")), 2u);
    CHECK_CONTAINS(js(j, "note"), "fewer than the 200");
    json_decref(j);
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/few\" && \"$FW\" retrain m --home h"), 0); /* the text form */
    CHECK_CONTAINS(out, "decision   inconclusive");
    free(out);
}

static void test_lock_and_errors(void) {
    CHECK_EQ(setup_home("locked", ""), 0);
    char home[700];
    snprintf(home, sizeof home, "%s/locked/h", fw_test_tmpdir());
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    CHECK_OK(fw_store_learn_lock(s, "m", "another server", 0, (int64_t)1 << 50, NULL, 0, &err));
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/locked\" && \"$FW\" retrain m --home h"), 1);
    CHECK_CONTAINS(out, "a retrain of m is running (another server)");
    free(out);
    CHECK_OK(fw_store_learn_unlock(s, "m", "another server", &err));
    fw_store_close(s);
    CHECK_EQ(fw_test_sh(&out, "cd \"$T/locked\" && \"$FW\" retrain nosuch --home h"), 1);
    free(out);
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" retrain"), 2);
    free(out);
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" retrain m@3"), 2);
    free(out);
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" retrain m --promote sometimes"), 2);
    free(out);
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" retrain --help"), 0);
    CHECK_CONTAINS(out, "--promote");
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    if (!fw_test_bin()) {
        printf("test_retrain: 0 passed, 0 failed (no FLYWHEEL_BIN)\n");
        return 0;
    }
    write_base();
    TEST_RUN(test_change_is_promoted);
    TEST_RUN(test_no_change_is_not_promoted);
    TEST_RUN(test_one_retrain_at_a_time);
    TEST_RUN(test_too_few_labels);
    TEST_RUN(test_lock_and_errors);
    return fw_test_report(argv[0]);
}
