/* test_real.c — black-box tests of `flywheel serve` with REAL registry models: trains the pima
 * (linear) and boston examples into a temporary home with the real binary, promotes them, serves
 * the home on a free port and checks :predict against batch scoring of the same row (bit-equal),
 * unknown-feature warnings, abstention with the artifact's baseline fallback, :explain (the
 * contributions plus the bias are the margin), v2 equal to v1, /v1/rank over two models, feedback
 * (known and unknown request ids) in the store, hybrid answers from `flywheel batch --output
 * store`, an alias swap made by `flywheel models promote` in another process under load (zero
 * non-200s), the prediction log rows in the store after the SIGTERM flush, and a kill -9 with the
 * store locked elsewhere that loses no logged prediction (the next server ingests the spool). */
#include "core/clock.h"
#include "client.h"
#include "test.h"
#include "db.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <dirent.h>
#include <sys/stat.h>

static char g_home[600];
static hc_server g_srv;
static bool g_up, g_trained;
static int g_requests; /* predictions we made that must be in the log */
static char g_rid[64];
static int g_confident_pos; /* test_abstain: answers P(pos) >= 0.5 under a threshold <= 0.3 */

static const char *bin(void) {
    const char *b = getenv("FLYWHEEL_BIN");
    return b ? b : "build/flywheel";
}

/* Runs `flywheel ARGS...` (NULL-terminated) with stdout/stderr to /dev/null; returns its exit code. */
static int run_cli(const char *const *args) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        FILE *dn = freopen("/dev/null", "w", stdout);
        (void)dn;
        const char *argv[40] = {bin()};
        int n = 1;
        for (int i = 0; args[i] && n < 38; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(bin(), (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static json_t *post_json(const char *path, const char *body, int *status) {
    hc_resp r;
    *status = 0;
    if (hc_request(g_srv.port, "POST", path, body, NULL, &r) != 0) return NULL;
    *status = r.status;
    json_t *j = json_loads(r.body, JSON_REJECT_DUPLICATES, NULL); /* a key twice is a server bug */
    if (!j) fw_test_fail(__FILE__, __LINE__, "not JSON (or a key twice): %s", r.body);
    hc_resp_free(&r);
    return j;
}

static const char *ROW2 = "{\"pregnant\":6,\"glucose\":148,\"pressure\":72,\"triceps\":35,\"insulin\":null,"
                          "\"mass\":33.6,\"pedigree\":0.627,\"age\":50";

static void setup(void) {
    snprintf(g_home, sizeof g_home, "%s/home", fw_test_tmpdir());
    const char *t1[] = {"train", "examples/pima/flywheel.yaml", "--models", "linear", "--threads", "1", "--quiet",
                        "--home", g_home, NULL};
    const char *p1[] = {"models", "promote", "pima@1", "--home", g_home, NULL};
    const char *t2[] = {"train", "examples/boston/flywheel.yaml", "--models", "linear", "--threads", "1", "--quiet",
                        "--home", g_home, NULL};
    const char *p2[] = {"models", "promote", "boston@1", "--home", g_home, NULL};
    g_trained = run_cli(t1) == 0 && run_cli(p1) == 0 && run_cli(t2) == 0 && run_cli(p2) == 0;
    CHECK_MSG(g_trained, "training/promoting the examples failed (FLYWHEEL_BIN=%s)", bin());
    if (!g_trained) return;
    const char *args[] = {"--home", g_home, "--threads", "2", "--alias-poll", "0.2", "--batch-max-age", "3600", NULL};
    g_up = hc_server_start(&g_srv, args) == 0;
    CHECK_MSG(g_up, "server did not start");
}

/* The score batch scoring gives the first data row (id 2) of pima.csv, as text. */
static void batch_score_row2(char *out, size_t cap) {
    char csv[700];
    snprintf(csv, sizeof csv, "%s/batch.csv", fw_test_tmpdir());
    const char *a[] = {"batch", "--model", "pima", "--input", "examples/pima/pima.csv", "--output", csv,
                       "--threads", "1", "--quiet", "--home", g_home, NULL};
    out[0] = 0;
    CHECK_EQ(run_cli(a), 0);
    FILE *f = fopen(csv, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "2,", 2) == 0) {
            char *c1 = strchr(line + 2, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
            if (c1 && c2) snprintf(out, cap, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        }
    fclose(f);
}

static void test_predict(void) {
    if (!g_up) return;
    char want[64];
    batch_score_row2(want, sizeof want);
    char body[600];
    snprintf(body, sizeof body, "{\"instances\":[%s,\"foo\":1}]}", ROW2);
    hc_resp r;
    CHECK_OK(hc_request(g_srv.port, "POST", "/v1/models/pima:predict", body, NULL, &r));
    g_requests++;
    CHECK_EQ(r.status, 200);
    /* the very same path as batch: bit-identical score text */
    /* a pretty-printed body with a space inside a string: the log stores it compacted (below) */
    hc_resp rp;
    CHECK_OK(hc_request(g_srv.port, "POST", "/v1/models/pima:predict",
                        "{ \"instances\" : [ { \"glucose\" : 121 ,\n\t\"note\": \"a \\\" b\" } ],\r\n"
                        "  \"entity_id\": \"compact me\" }", NULL, &rp));
    g_requests++;
    CHECK_EQ(rp.status, 200);
    hc_resp_free(&rp);
    char s[100];
    snprintf(s, sizeof s, "\"score\":%s,", want);
    CHECK_MSG(want[0] && strstr(r.body, s), "batch score %s not in %s", want, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(j != NULL);
    if (j) {
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        CHECK(rid && strlen(rid) == 41 && rid[32] == '-');
        snprintf(g_rid, sizeof g_rid, "%s", rid ? rid : "");
        CHECK_STR(json_string_value(json_object_get(j, "version")), "1");
        CHECK_STR(json_string_value(json_object_get(j, "source")), "online");
        json_t *p = json_array_get(json_object_get(j, "predictions"), 0);
        json_t *pr = json_object_get(p, "probabilities");
        double pos = json_number_value(json_object_get(pr, "pos")), neg = json_number_value(json_object_get(pr, "neg"));
        CHECK_NEAR(pos + neg, 1.0, 1e-12);
        double thr = json_number_value(json_object_get(p, "threshold"));
        CHECK(thr > 0 && thr < 1);
        CHECK_STR(json_string_value(json_object_get(p, "label")), pos >= thr ? "pos" : "neg");
        CHECK_CONTAINS(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)), "unknown feature 'foo' ignored");
        json_decref(j);
    }
    CHECK_CONTAINS(r.headers, "X-Request-Id:");
    hc_resp_free(&r);
    /* a value of the wrong type names the field */
    int st;
    json_t *e = post_json("/v1/models/pima:predict", "{\"instances\":[{\"glucose\":\"high\"}]}", &st);
    CHECK_EQ(st, 400);
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(e, "error"), "message")), "glucose");
    json_decref(e);
}

/* Sweeping glucose crosses the confidence threshold (0.65 in the project): abstentions are answered
 * by the artifact's baseline and say so; the others are not. */
static void test_abstain(void) {
    if (!g_up) return;
    int abst = 0, kept = 0;
    for (int g = 60; g <= 200; g += 5) {
        char body[200];
        snprintf(body, sizeof body, "{\"instances\":[{\"pregnant\":1,\"glucose\":%d,\"mass\":33}]}", g);
        int st;
        json_t *j = post_json("/v1/models/pima:predict", body, &st);
        g_requests++;
        CHECK_EQ(st, 200);
        json_t *p = json_array_get(json_object_get(j, "predictions"), 0);
        double conf = json_number_value(json_object_get(p, "confidence"));
        /* measured from the decision threshold (docs/API.md): the odds over the threshold's odds */
        double sc = json_number_value(json_object_get(p, "score")), th = json_number_value(json_object_get(p, "threshold"));
        double q = sc * (1 - th) / (sc * (1 - th) + (1 - sc) * th);
        CHECK_NEAR(conf, q >= 0.5 ? q : 1 - q, 1e-9);
        /* a low (out-of-fold) threshold: a "pos" with P(pos) >= 0.5 is far from it, never abstains */
        if (th <= 0.3 && sc >= 0.5) CHECK_MSG(!json_is_true(json_object_get(p, "abstained")), "P(pos) %g abstains", sc);
        if (th <= 0.3 && sc >= 0.5) g_confident_pos++;
        if (json_is_true(json_object_get(p, "abstained"))) {
            abst++;
            CHECK(conf < 0.65);
            CHECK_NEAR(json_number_value(json_object_get(p, "confidence_threshold")), 0.65, 1e-12);
            CHECK_STR(json_string_value(json_object_get(p, "fallback")), "baseline");
            const char *ans = json_string_value(json_object_get(p, "answer"));
            CHECK(ans && (!strcmp(ans, "pos") || !strcmp(ans, "neg")));
        } else {
            kept++;
            CHECK(conf >= 0.65);
        }
        json_decref(j);
    }
    CHECK(abst > 0);
    CHECK(kept > 0);
    /* the example's out-of-fold threshold is low: the sweep meets answers of P(pos) >= 0.5 above it */
    CHECK(g_confident_pos > 0);
}

/* serving.confidence_threshold overrides the artifact's constraints.confidence_threshold (0.65):
 * 0 → no instance abstains and each answer is the model's own label; 0.99 → every instance below
 * 0.99 abstains with the artifact's baseline fallback and says 0.99. Scores never change. */
static json_t *predict_on(int port, int g, int *status) {
    char body[200];
    snprintf(body, sizeof body, "{\"instances\":[{\"pregnant\":1,\"glucose\":%d,\"mass\":33}]}", g);
    hc_resp r;
    *status = 0;
    if (hc_request(port, "POST", "/v1/models/pima:predict", body, NULL, &r) != 0) return NULL;
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    hc_resp_free(&r);
    return j;
}

static void test_threshold_override(void) {
    if (!g_up) return;
    char cfg0[700], cfg99[700];
    snprintf(cfg0, sizeof cfg0, "%s/ct0.yaml", fw_test_tmpdir());
    snprintf(cfg99, sizeof cfg99, "%s/ct99.yaml", fw_test_tmpdir());
    FILE *f = fopen(cfg0, "w");
    if (f) fputs("serving:\n  confidence_threshold: 0\n", f), fclose(f);
    f = fopen(cfg99, "w");
    if (f) fputs("serving:\n  confidence_threshold: 0.99\n", f), fclose(f);
    hc_server s0, s99;
    const char *a0[] = {"--home", g_home, "--config", cfg0, "--alias-poll", "0", "--threads", "1", NULL};
    const char *a99[] = {"--home", g_home, "--config", cfg99, "--alias-poll", "0", "--threads", "1", NULL};
    int up0 = hc_server_start(&s0, a0), up99 = hc_server_start(&s99, a99);
    CHECK_OK(up0);
    CHECK_OK(up99);
    int default_abst = 0, abst0 = 0, abst99 = 0, relabelled = 0;
    for (int g = 60; g <= 200 && !up0 && !up99; g += 5) {
        int st, st0, st99;
        json_t *j = predict_on(g_srv.port, g, &st), *j0 = predict_on(s0.port, g, &st0), *j99 = predict_on(s99.port, g, &st99);
        g_requests++;
        CHECK_EQ(st, 200);
        CHECK_EQ(st0, 200);
        CHECK_EQ(st99, 200);
        json_t *p = json_array_get(json_object_get(j, "predictions"), 0);
        json_t *p0 = json_array_get(json_object_get(j0, "predictions"), 0);
        json_t *p99 = json_array_get(json_object_get(j99, "predictions"), 0);
        double conf = json_number_value(json_object_get(p, "confidence"));
        /* the same model scores everywhere */
        CHECK_NEAR(json_number_value(json_object_get(p0, "score")), json_number_value(json_object_get(p, "score")), 0);
        CHECK_NEAR(json_number_value(json_object_get(p99, "score")), json_number_value(json_object_get(p, "score")), 0);
        bool ab = json_is_true(json_object_get(p, "abstained"));
        default_abst += ab;
        /* 0: never abstains; the label is the model's own (the one the default server reports beside
         * its fallback answer) */
        abst0 += json_is_true(json_object_get(p0, "abstained"));
        CHECK_STR(json_string_value(json_object_get(p0, "label")), json_string_value(json_object_get(p, "label")));
        CHECK(json_object_get(p0, "answer") == NULL);
        if (ab) relabelled++;
        /* 0.99: abstains exactly below 0.99, answered by the artifact's baseline */
        bool ab99 = json_is_true(json_object_get(p99, "abstained"));
        abst99 += ab99;
        CHECK_EQ(ab99, conf < 0.99);
        if (ab99) {
            CHECK_NEAR(json_number_value(json_object_get(p99, "confidence_threshold")), 0.99, 1e-12);
            CHECK_STR(json_string_value(json_object_get(p99, "fallback")), "baseline");
            const char *ans = json_string_value(json_object_get(p99, "answer"));
            CHECK(ans && (!strcmp(ans, "pos") || !strcmp(ans, "neg")));
            /* where the artifact abstains too, both fall back to the same baseline answer */
            if (ab) CHECK_STR(ans, json_string_value(json_object_get(p, "answer")));
        }
        json_decref(j);
        json_decref(j0);
        json_decref(j99);
    }
    CHECK(default_abst > 0);
    CHECK(relabelled > 0);
    CHECK_EQ(abst0, 0);
    CHECK(abst99 > default_abst);
    if (!up0) CHECK_EQ(hc_server_stop(&s0, SIGTERM), 0);
    if (!up99) CHECK_EQ(hc_server_stop(&s99, SIGTERM), 0);
}

static void test_explain(void) {
    if (!g_up) return;
    char body[600];
    snprintf(body, sizeof body, "{\"instances\":[%s}]}", ROW2);
    int st;
    json_t *j = post_json("/v1/models/pima:explain", body, &st);
    g_requests++;
    CHECK_EQ(st, 200);
    json_t *p = json_array_get(json_object_get(j, "predictions"), 0);
    json_t *c = json_object_get(p, "contributions");
    /* one entry per input column that contributes (insulin's value and its missing indicator are
     * one entry), then the bias */
    CHECK(json_object_size(c) >= 6 && json_object_size(c) <= 9);
    CHECK(json_object_get(c, "glucose") != NULL);
    CHECK(json_object_get(c, "insulin") != NULL);
    CHECK(json_object_get(c, "(bias)") != NULL);
    double sum = 0, prev = INFINITY;
    const char *k;
    json_t *v;
    json_object_foreach(c, k, v) {
        sum += json_number_value(v);
        CHECK_MSG(!strchr(k, '='), "a transformed feature name: %s", k);
        if (strcmp(k, "(bias)")) {
            CHECK(json_number_value(v) != 0);
            CHECK_MSG(fabs(json_number_value(v)) <= prev, "not sorted by magnitude at %s", k);
            prev = fabs(json_number_value(v));
        }
    }
    double pr = json_number_value(json_object_get(p, "score"));
    CHECK_NEAR(sum, log(pr / (1 - pr)), 1e-9);
    CHECK_STR(json_string_value(json_object_get(p, "contribution_space")), "log_odds");
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "explained"), "output")), "pos");
    json_decref(j);
}

static void test_v2_equals_v1(void) {
    if (!g_up) return;
    const char *v2 = "{\"inputs\":[{\"name\":\"glucose\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[148,90]},"
                     "{\"name\":\"mass\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[33.6,22]}]}";
    const char *v1 = "{\"instances\":[{\"glucose\":148,\"mass\":33.6},{\"glucose\":90,\"mass\":22}]}";
    int s1, s2;
    json_t *a = post_json("/v2/models/pima/infer", v2, &s2);
    json_t *b = post_json("/v1/models/pima:predict", v1, &s1);
    g_requests += 2;
    CHECK_EQ(s1, 200);
    CHECK_EQ(s2, 200);
    json_t *score = NULL, *label = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(a, "outputs"), i, o) {
        const char *nm = json_string_value(json_object_get(o, "name"));
        if (nm && !strcmp(nm, "score")) score = json_object_get(o, "data");
        if (nm && !strcmp(nm, "label")) label = json_object_get(o, "data");
    }
    CHECK_EQ(json_array_size(score), 2);
    for (size_t r = 0; r < 2; r++) {
        json_t *p = json_array_get(json_object_get(b, "predictions"), r);
        CHECK(json_number_value(json_array_get(score, r)) == json_number_value(json_object_get(p, "score")));
        CHECK_STR(json_string_value(json_array_get(label, r)), json_string_value(json_object_get(p, "label")));
    }
    CHECK_STR(json_string_value(json_object_get(a, "model_version")), "1");
    json_decref(a);
    json_decref(b);
    /* "parameters" sends the same shape through the jansson path; both are logged in the /v1 shape
     * (test_drain_log_in_store) */
    a = post_json("/v2/models/pima/infer",
                  "{\"inputs\":[{\"name\":\"mass\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[30]},"
                  "{\"name\":\"glucose\",\"shape\":[1,1],\"datatype\":\"FP64\",\"data\":[[121.5]]}],"
                  "\"parameters\":{},\"id\":\"slow-1\"}", &s2);
    g_requests++;
    CHECK_EQ(s2, 200);
    json_decref(a);
}

/* Two objectives (a classifier's P(pos) and a regressor's value) ranked by the weighted sum. */
static void test_rank(void) {
    if (!g_up) return;
    const char *cands[3] = {"{\"id\":\"a\",\"glucose\":90,\"rm\":6.5,\"lstat\":5}",
                            "{\"id\":\"b\",\"glucose\":180,\"rm\":5.0,\"lstat\":20}",
                            "{\"id\":\"c\",\"glucose\":140,\"rm\":7.5,\"lstat\":3}"};
    double want[3];
    for (int i = 0; i < 3; i++) {
        char body[300];
        int st;
        snprintf(body, sizeof body, "{\"instances\":[%s]}", cands[i]);
        json_t *p = post_json("/v1/models/pima:predict", body, &st);
        json_t *q = post_json("/v1/models/boston:predict", body, &st);
        g_requests += 2;
        CHECK_EQ(st, 200);
        want[i] = json_number_value(json_object_get(json_array_get(json_object_get(p, "predictions"), 0), "score")) +
                  0.02 * json_number_value(json_object_get(json_array_get(json_object_get(q, "predictions"), 0), "score"));
        json_decref(p);
        json_decref(q);
    }
    char body[800];
    snprintf(body, sizeof body, "{\"candidates\":[%s,%s,%s],\"objectives\":[{\"model\":\"pima\",\"weight\":1},"
             "{\"model\":\"boston\",\"weight\":0.02}],\"top_k\":3}", cands[0], cands[1], cands[2]);
    int st;
    json_t *j = post_json("/v1/rank", body, &st);
    CHECK_EQ(st, 200);
    json_t *ranked = json_object_get(j, "ranked");
    CHECK_EQ(json_array_size(ranked), 3);
    double prev = INFINITY;
    for (size_t i = 0; i < json_array_size(ranked); i++) {
        json_t *it = json_array_get(ranked, i);
        size_t idx = (size_t)json_integer_value(json_object_get(it, "index"));
        double sc = json_number_value(json_object_get(it, "score"));
        CHECK(idx < 3);
        if (idx < 3) CHECK_NEAR(sc, want[idx], 1e-9);
        CHECK(sc <= prev);
        prev = sc;
    }
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "models"), "boston")), "1");
    json_decref(j);
    /* a model both scored and filtered on is listed once under "models" */
    snprintf(body, sizeof body, "{\"candidates\":[%s,%s,%s],\"objectives\":[{\"model\":\"pima\",\"weight\":1}],"
             "\"filters\":[{\"model\":\"pima\",\"max\":2}]}", cands[0], cands[1], cands[2]);
    j = post_json("/v1/rank", body, &st);
    CHECK_EQ(st, 200);
    CHECK_EQ(json_object_size(json_object_get(j, "models")), 1);
    CHECK_EQ(json_array_size(json_object_get(j, "ranked")), 3);
    json_decref(j);
    /* the same model twice among the objectives is a 400 naming both places */
    snprintf(body, sizeof body, "{\"candidates\":[%s],\"objectives\":[{\"model\":\"pima\",\"weight\":1},"
             "{\"model\":\"boston\",\"weight\":1},{\"model\":\"pima\",\"weight\":2}]}", cands[0]);
    j = post_json("/v1/rank", body, &st);
    CHECK_EQ(st, 400);
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                   "objectives[2]: model 'pima' is already objectives[0]");
    json_decref(j);
}

static void test_feedback(void) {
    if (!g_up || !g_rid[0]) return;
    char body[200];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"pos\"}", g_rid);
    int st;
    json_t *j = post_json("/v1/feedback", body, &st);
    CHECK_EQ(st, 202);
    CHECK(json_is_true(json_object_get(j, "matched")));
    json_decref(j);
    /* a label for a request id nobody issued (yet): stored, flagged, counted */
    j = post_json("/v1/feedback", "{\"request_id\":\"from-elsewhere-42\",\"label\":\"neg\",\"event\":\"chargeback\",\"value\":12.5}", &st);
    CHECK_EQ(st, 202);
    CHECK(json_is_false(json_object_get(j, "matched")));
    json_decref(j);
    /* the first label stands: a second one without "update" is a 409, with it a replacement */
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"neg\"}", g_rid);
    j = post_json("/v1/feedback", body, &st);
    CHECK_EQ(st, 409);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "label_conflict");
    json_decref(j);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"neg\",\"update\":true}", g_rid);
    j = post_json("/v1/feedback", body, &st);
    CHECK_EQ(st, 202);
    json_decref(j);
    /* ids are unguessable: a neighbour of a real id (one hex digit off, tag kept or not) was never
     * issued, so its feedback is not matched to anything */
    char nb[64];
    snprintf(nb, sizeof nb, "%s", g_rid);
    nb[31] = nb[31] == '0' ? '1' : '0';
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"probe\"}", nb);
    j = post_json("/v1/feedback", body, &st);
    CHECK_EQ(st, 202);
    CHECK(json_is_false(json_object_get(j, "matched")));
    json_decref(j);
    /* counted once stored: the ingest runs at idle priority, so on a busy machine that can take a
     * while (seconds while other processes keep both cores busy) */
    hc_resp r = {0};
    for (int i = 0; i < 300; i++) {
        hc_resp_free(&r);
        CHECK_OK(hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r));
        if (r.body && strstr(r.body, "flywheel_feedback_total{matched=\"false\"} 2")) break;
        usleep(50000);
    }
    CHECK_CONTAINS(r.body, "flywheel_feedback_total{matched=\"true\"} 2");
    CHECK_CONTAINS(r.body, "flywheel_feedback_total{matched=\"false\"} 2");
    hc_resp_free(&r);
}

static void test_hybrid(void) {
    if (!g_up) return;
    const char *a[] = {"batch", "--model", "pima", "--input", "examples/pima/pima.csv", "--output", "store",
                       "--threads", "1", "--quiet", "--home", g_home, NULL};
    CHECK_EQ(run_cli(a), 0);
    int st;
    /* entity 2 has a batch answer: served from it, instances not even needed */
    json_t *j = post_json("/v1/models/pima:predict", "{\"entity_id\":\"2\"}", &st);
    g_requests++;
    CHECK_EQ(st, 200);
    CHECK_STR(json_string_value(json_object_get(j, "source")), "batch");
    CHECK_STR(json_string_value(json_object_get(j, "version")), "1");
    json_t *p = json_array_get(json_object_get(j, "predictions"), 0);
    CHECK_STR(json_string_value(json_object_get(p, "label")), "pos");
    CHECK(json_object_get(json_object_get(p, "scores"), "score") != NULL);
    /* the same keys as an online answer: probabilities by class, score, threshold */
    double bs = json_number_value(json_object_get(p, "score"));
    CHECK(bs > 0.5 && bs < 1);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(p, "probabilities"), "pos")), bs, 1e-15);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(p, "probabilities"), "neg")), 1 - bs, 1e-15);
    CHECK(json_is_number(json_object_get(p, "threshold")));
    json_decref(j);
    /* an entity batch never saw: answered online */
    j = post_json("/v1/models/pima:predict", "{\"entity_id\":\"nobody\",\"instances\":[{\"glucose\":120}]}", &st);
    g_requests++;
    CHECK_EQ(st, 200);
    CHECK_STR(json_string_value(json_object_get(j, "source")), "online");
    json_decref(j);
    j = post_json("/v1/models/pima:predict", "{\"entity_id\":\"nobody\"}", &st);
    CHECK_EQ(st, 404);
    json_decref(j);
}

typedef struct hammer {
    atomic_bool stop;
    atomic_int ok, bad, v1, v2;
} hammer;
static hammer g_h;

static void *hammer_main(void *arg) {
    (void)arg;
    int fd = hc_connect(g_srv.port);
    while (!atomic_load(&g_h.stop)) {
        hc_resp r;
        if (fd < 0 || hc_request_fd(fd, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":150,\"mass\":30}]}",
                                    NULL, &r) != 0) {
            atomic_fetch_add(&g_h.bad, 1);
            if (fd >= 0) close(fd);
            fd = hc_connect(g_srv.port);
            continue;
        }
        if (r.status == 200) atomic_fetch_add(&g_h.ok, 1);
        else atomic_fetch_add(&g_h.bad, 1);
        if (r.body && strstr(r.body, "\"version\":\"1\"")) atomic_fetch_add(&g_h.v1, 1);
        if (r.body && strstr(r.body, "\"version\":\"2\"")) atomic_fetch_add(&g_h.v2, 1);
        hc_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* A second version (GBDT) promoted by another process while two clients hammer the route. */
static void test_swap_under_load(void) {
    if (!g_up) return;
    const char *t[] = {"train", "examples/pima/flywheel.yaml", "--models", "gbdt", "--threads", "1", "--quiet",
                       "--home", g_home, NULL};
    CHECK_EQ(run_cli(t), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, hammer_main, NULL);
    usleep(200000);
    const char *p[] = {"models", "promote", "pima@2", "--force", "--home", g_home, NULL};
    CHECK_EQ(run_cli(p), 0);
    for (int i = 0; i < 100 && atomic_load(&g_h.v2) < 20; i++) usleep(50000);
    atomic_store(&g_h.stop, true);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    g_requests += atomic_load(&g_h.ok);
    CHECK_EQ(atomic_load(&g_h.bad), 0);
    CHECK(atomic_load(&g_h.v1) > 0);
    CHECK(atomic_load(&g_h.v2) >= 20);
    hc_resp r;
    CHECK_OK(hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_model_swaps_total 1");
    hc_resp_free(&r);
}

static void test_drain_log_in_store(void) {
    if (!g_up) return;
    CHECK_EQ(hc_server_stop(&g_srv, SIGTERM), 0);
    g_up = false;
    char path[700];
    snprintf(path, sizeof path, "%s/log.db", g_home);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    long long n = DB_INT(db, "SELECT count(*) FROM prediction_log");
    CHECK_MSG(n >= g_requests, "prediction_log has %lld rows, %d requests were answered", n, g_requests);
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM prediction_log WHERE request_id = '%s' AND model_name = 'pima'"
             " AND version = 1 AND input_json LIKE '%%\"glucose\":148%%' AND output_json LIKE '%%\"answers\":[\"pos\"]%%'"
             " AND outcome = 'model' AND latency_us >= 0", g_rid);
    CHECK_EQ(DB_INT(db, sql), 1);
    /* inputs are stored as valid JSON without the whitespace between tokens, strings intact */
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json = "
                           "'{\"instances\":[{\"glucose\":121,\"note\":\"a \\\" b\"}],\"entity_id\":\"compact me\"}'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json IS NOT NULL AND NOT json_valid(input_json)"), 0);
    CHECK(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE version = 2") >= 20);
    CHECK(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE outcome = 'fallback'") >= 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE output_json LIKE '%\"source\":\"batch\"%'"), 1);
    CHECK(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE output_json LIKE '%\"protocol\":\"v2\"%'") >= 1);
    /* /v2 tensors per input are logged in the /v1 shape, inputs in the model's order: the same text
     * as the equivalent /v1 request's (fast path), and from the jansson path too */
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json ="
                        " '{\"instances\":[{\"glucose\":148,\"mass\":33.6},{\"glucose\":90,\"mass\":22}]}'"
                        " AND output_json LIKE '%\"protocol\":\"v2\"%'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json ="
                        " '{\"instances\":[{\"glucose\":121.5,\"mass\":30}],\"id\":\"slow-1\"}'"), 1);
    /* feedback joins its prediction by request id; the unknown one is kept and flagged */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM feedback f JOIN prediction_log p USING(request_id)"
             " WHERE f.request_id = '%s' AND f.label_json = '\"pos\"'", g_rid);
    CHECK_EQ(DB_INT(db, sql), 1);
    /* the first label was superseded by the explicit update; each row says where it came from */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM feedback WHERE request_id = '%s' AND ((label_json = '\"pos\"'"
             " AND status = 'superseded') OR (label_json = '\"neg\"' AND status IS NULL))", g_rid);
    CHECK_EQ(DB_INT(db, sql), 2);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback WHERE source IS NULL OR source NOT LIKE '127.0.0.1%'"), 0);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback WHERE request_id = 'from-elsewhere-42' AND event = 'chargeback'"
                           " AND value = 12.5"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback_unmatched WHERE request_id = 'from-elsewhere-42'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback_unmatched"), 2);
    sqlite3_close(db);
}

/* A late label: a new server process gets feedback for a request the first one logged; it is
 * matched through the store. */
static void test_late_label(void) {
    if (!g_trained || !g_rid[0]) return;
    const char *args[] = {"--home", g_home, "--threads", "1", NULL};
    CHECK_OK(hc_server_start(&g_srv, args));
    g_up = true;
    char body[200];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"paid\"}", g_rid);
    int st;
    json_t *j = post_json("/v1/feedback", body, &st);
    CHECK_EQ(st, 202);
    json_decref(j);
    for (int i = 0; i < 100; i++) {
        hc_resp r;
        bool done = hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r) == 0 && r.body &&
                    strstr(r.body, "flywheel_feedback_total{matched=\"true\"} 1");
        hc_resp_free(&r);
        if (done) break;
        usleep(20000);
    }
    hc_resp r;
    CHECK_OK(hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_feedback_total{matched=\"true\"} 1");
    CHECK_CONTAINS(r.body, "flywheel_feedback_total{matched=\"false\"} 0");
    hc_resp_free(&r);
    /* the promoted second version is what this process serves */
    j = post_json("/v1/models/pima:predict", "{\"instances\":[{\"glucose\":100}]}", &st);
    CHECK_EQ(st, 200);
    CHECK_STR(json_string_value(json_object_get(j, "version")), "2");
    json_decref(j);
    CHECK_EQ(hc_server_stop(&g_srv, SIGTERM), 0);
    g_up = false;
}

/* Reads flywheel_<name> from /metrics (-1 when absent or unreachable). */
static double metric(const char *name) { return hc_metric(g_srv.port, name); }

/* Nothing answered is lost when the server is killed: with the log's file locked by another
 * process (a long write elsewhere), the answered predictions wait in the disk spool; kill -9; the next
 * server on the same home ingests the dead one's spool — every request id exactly once. */
static void test_crash_keeps_log(void) {
    if (!g_trained) return;
    char path[700];
    snprintf(path, sizeof path, "%s/log.db", g_home);
    sqlite3 *lock;
    CHECK_EQ(sqlite3_open_v2(path, &lock, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    const char *args[] = {"--home", g_home, "--threads", "1", NULL};
    CHECK_OK(hc_server_start(&g_srv, args));
    g_up = true;
    enum { N = 40 };
    char rids[N][64];
    int answered = 0;
    for (int i = 0; i < N; i++) {
        char body[120];
        snprintf(body, sizeof body, "{\"instances\":[{\"glucose\":%d,\"mass\":31}]}", 90 + i);
        int st;
        json_t *j = post_json("/v1/models/pima:predict", body, &st);
        rids[i][0] = 0;
        if (st == 200 && j) {
            snprintf(rids[i], sizeof rids[i], "%s", json_string_value(json_object_get(j, "request_id")));
            answered++;
        }
        json_decref(j);
    }
    CHECK_EQ(answered, N); /* a locked log never holds a request up */
    /* nor a registry write: the log has its own file, so an alias moves at once */
    double t0 = fw_now_seconds();
    CHECK_EQ(fw_test_sh(NULL, "\"$FW\" models alias pima@1 staging --home '%s'", g_home), 0);
    double took = fw_now_seconds() - t0;
    CHECK_MSG(took < 5, "an alias move took %.2f s while the log was locked", took);
    for (int i = 0; i < 1000 && metric("flywheel_log_written_total") < N; i++) usleep(10000); /* up to 10 s on a busy machine */
    CHECK_EQ(metric("flywheel_log_written_total"), N);  /* in the spool */
    CHECK_EQ(metric("flywheel_log_stored_total"), 0);   /* not in the store */
    CHECK_EQ(metric("flywheel_log_spool_records"), N);
    CHECK_EQ(hc_server_stop(&g_srv, SIGKILL), 128 + SIGKILL);
    g_up = false;
    CHECK_EQ(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    /* the next server recovers the spool, then drains on SIGTERM */
    CHECK_OK(hc_server_start(&g_srv, args));
    g_up = true;
    for (int i = 0; i < 1000 && metric("flywheel_log_recovered_total") < N; i++) usleep(10000); /* idle-priority ingest */
    CHECK_EQ(metric("flywheel_log_recovered_total"), N);
    CHECK_EQ(hc_server_stop(&g_srv, SIGTERM), 0);
    g_up = false;
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int found = 0;
    for (int i = 0; i < N; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM prediction_log WHERE request_id = '%.63s'", rids[i]);
        found += DB_INT(db, sql) == 1;
    }
    CHECK_EQ(found, N);
    sqlite3_close(db);
    char spool[700];
    snprintf(spool, sizeof spool, "%s/spool", g_home);
    DIR *d = opendir(spool);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) left += strstr(e->d_name, ".spool") != NULL;
    if (d) closedir(d);
    CHECK_EQ(left, 0);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    setup();
    TEST_RUN(test_predict);
    TEST_RUN(test_abstain);
    TEST_RUN(test_threshold_override);
    TEST_RUN(test_explain);
    TEST_RUN(test_v2_equals_v1);
    TEST_RUN(test_rank);
    TEST_RUN(test_feedback);
    TEST_RUN(test_hybrid);
    TEST_RUN(test_swap_under_load);
    TEST_RUN(test_drain_log_in_store);
    TEST_RUN(test_late_label);
    TEST_RUN(test_crash_keeps_log);
    if (g_up) hc_server_stop(&g_srv, SIGKILL);
    return fw_test_report(argv[0]);
}
