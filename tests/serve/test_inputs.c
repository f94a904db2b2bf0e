/* test_inputs.c — black-box tests of what `flywheel serve` tells a client about its inputs, with
 * REAL registry models trained here on small generated tables (a categorical column, numeric ones,
 * a Yes/No label, and a three-class label): warnings for an unseen category, a value of the wrong
 * type coerced, most features missing (and their counts in /metrics); feedback whose label the
 * model does not know refused; KServe v2 metadata that types categorical inputs as BYTES and names
 * the classes in the order of the probabilities; /v1/rank objectives that name a class, and unknown
 * objective keys refused; request ids checked by a second server on the same home and by the first
 * one restarted (the home's request-id key); class names that are real numbers ("0.1") matched by
 * feedback labels written as numbers or as text. */
#include "client.h"
#include "test.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

static char g_home[600];
static hc_server g_srv;
static bool g_up;

static int cli(const char *cmd) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "%s", cmd);
    if (rc) fw_test_fail(__FILE__, __LINE__, "%s: %s", cmd, out ? out : "");
    free(out);
    return rc;
}

static void setup(void) {
    snprintf(g_home, sizeof g_home, "%s/home", fw_test_tmpdir());
    char p[800];
    snprintf(p, sizeof p, "%s/churn.csv", fw_test_tmpdir());
    FILE *f = fopen(p, "w");
    snprintf(p, sizeof p, "%s/kinds.csv", fw_test_tmpdir());
    FILE *g = fopen(p, "w");
    CHECK(f && g);
    if (!f || !g) return;
    fprintf(f, "color,size,weight,height,churn\n");
    fprintf(g, "x,y,kind\n");
    snprintf(p, sizeof p, "%s/reals.csv", fw_test_tmpdir());
    FILE *h = fopen(p, "w");
    CHECK(h != NULL);
    if (!h) return;
    fprintf(h, "x,y,level\n");
    for (int i = 0; i < 120; i++) /* three classes named by real numbers, written as the CSV has them */
        fprintf(h, "%d,%d,%s\n", i % 10, (i * 7) % 10, i % 10 < 4 ? "0.10" : i % 10 < 7 ? "0.25" : "1.0");
    fclose(h);
    static const char *colors[] = {"red", "green", "blue"};
    for (int i = 0; i < 150; i++) {
        int c = (i * 7) % 3;
        double size = (i * 13) % 17, weight = (i * 5) % 11, height = (i * 3) % 7;
        fprintf(f, "%s,%g,%g,%g,%s\n", colors[c], size, weight, height, (c == 0) ^ (size > 8) ? "Yes" : "No");
        fprintf(g, "%d,%d,%s\n", i % 10, (i * 3) % 10, i % 10 < 3 ? "a" : i % 10 < 7 ? "b" : "c");
    }
    fclose(f);
    fclose(g);
    if (cli("\"$FW\" train \"$T/churn.csv\" --label churn --name churn --models linear --threads 1 --quiet --home \"$T/home\" 2>&1") ||
        cli("\"$FW\" models promote churn@1 --force --home \"$T/home\" 2>&1") ||
        cli("\"$FW\" train \"$T/kinds.csv\" --label kind --name kinds --models linear --threads 1 --quiet --home \"$T/home\" 2>&1") ||
        cli("\"$FW\" models promote kinds@1 --force --home \"$T/home\" 2>&1") ||
        cli("\"$FW\" train \"$T/reals.csv\" --label level --task multiclass --name reals --models linear --threads 1 --quiet --home \"$T/home\" 2>&1") ||
        cli("\"$FW\" models promote reals@1 --force --home \"$T/home\" 2>&1"))
        return;
    const char *args[] = {"--home", g_home, "--threads", "2", "--alias-poll", "0", NULL};
    g_up = hc_server_start(&g_srv, args) == 0;
    CHECK_MSG(g_up, "server did not start");
}

static json_t *post(const char *path, const char *body, int *status) {
    hc_resp r;
    *status = 0;
    if (hc_request(g_srv.port, "POST", path, body, NULL, &r) != 0) return NULL;
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j) fw_test_fail(__FILE__, __LINE__, "not JSON: %s", r.body);
    hc_resp_free(&r);
    return j;
}

/* The warnings array as one string (for CHECK_CONTAINS). */
static char *warnings_of(json_t *j) {
    return json_dumps(json_object_get(j, "warnings"), JSON_COMPACT | JSON_ENCODE_ANY);
}

static void test_warnings(void) {
    if (!g_up) return;
    int st;
    /* clean: no warnings */
    json_t *j = post("/v1/models/churn:predict", "{\"instances\":[{\"color\":\"red\",\"size\":3,\"weight\":2,\"height\":1}]}", &st);
    CHECK_EQ(st, 200);
    char *w = warnings_of(j);
    CHECK_STR(w, "[]");
    free(w);
    json_decref(j);
    /* an unseen category, a numeric string, a number for a category, most features missing */
    j = post("/v1/models/churn:predict",
             "{\"instances\":[{\"color\":\"purple\",\"size\":3,\"weight\":2,\"height\":1},"
             "{\"color\":\"red\",\"size\":\"3.5\",\"weight\":2,\"height\":1},"
             "{\"color\":7,\"size\":3,\"weight\":2,\"height\":1},"
             "{\"size\":3}]}", &st);
    CHECK_EQ(st, 200);
    w = warnings_of(j);
    CHECK_CONTAINS(w, "instances[0].color: unseen category 'purple' (scored as __unknown__)");
    CHECK_CONTAINS(w, "instances[1].size: the string '3.5' was read as a number");
    CHECK_CONTAINS(w, "instances[2].color: the number 7 was read as the category '7'");
    CHECK_CONTAINS(w, "instances[2].color: unseen category '7'");
    CHECK_CONTAINS(w, "instances[3]: 3 of 4 features missing (imputed)");
    CHECK(!strstr(w, "instances[1].color"));
    free(w);
    json_decref(j);
    /* the same through the jansson path (an unknown top-level key sends it there): the same warnings */
    j = post("/v1/models/churn:predict",
             "{\"instances\":[{\"color\":\"purple\",\"size\":\"3.5\",\"zz\":1}],\"extra\":1}", &st);
    CHECK_EQ(st, 200);
    w = warnings_of(j);
    CHECK_CONTAINS(w, "unknown top-level key 'extra' ignored");
    CHECK_CONTAINS(w, "instances[0]: unknown feature 'zz' ignored");
    CHECK_CONTAINS(w, "instances[0].color: unseen category 'purple'");
    CHECK_CONTAINS(w, "instances[0].size: the string '3.5' was read as a number");
    CHECK(!strstr(w, "features missing")); /* 2 of 4 missing is not most */
    free(w);
    json_decref(j);
    /* counted per model in /metrics */
    hc_resp r;
    CHECK_OK(hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_input_warnings_total{model=\"churn\",version=\"1\",kind=\"unseen_category\"} 3");
    CHECK_CONTAINS(r.body, "flywheel_input_warnings_total{model=\"churn\",version=\"1\",kind=\"coerced\"} 3");
    CHECK_CONTAINS(r.body, "flywheel_input_warnings_total{model=\"churn\",version=\"1\",kind=\"mostly_missing\"} 1");
    hc_resp_free(&r);
}

/* KServe v2 answers carry the same input warnings as /v1, under "parameters"."warnings" (rows
 * named rows[i]): per-input tensors (the jansson path) and one row tensor (the fast decoder). */
static void test_v2_warnings(void) {
    if (!g_up) return;
    int st;
    json_t *j = post("/v2/models/churn/infer",
                     "{\"inputs\":[{\"name\":\"color\",\"shape\":[3],\"datatype\":\"BYTES\",\"data\":[\"purple\",\"red\",7]},"
                     "{\"name\":\"size\",\"shape\":[3],\"datatype\":\"BYTES\",\"data\":[3,\"3.5\",3]},"
                     "{\"name\":\"weight\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[2,2,null]},"
                     "{\"name\":\"height\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[1,1,null]}]}", &st);
    CHECK_EQ(st, 200);
    char *w = json_dumps(json_object_get(json_object_get(j, "parameters"), "warnings"), JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK_CONTAINS(w, "rows[0].color: unseen category 'purple' (scored as __unknown__)");
    CHECK_CONTAINS(w, "rows[1].size: the string '3.5' was read as a number");
    CHECK_CONTAINS(w, "rows[2].color: the number 7 was read as the category '7'");
    CHECK(!strstr(w, "rows[1].color"));
    free(w);
    json_decref(j);
    /* one row tensor: the fast decoder's answer warns alike */
    j = post("/v2/models/churn/infer",
             "{\"inputs\":[{\"name\":\"rows\",\"shape\":[2,4],\"datatype\":\"FP64\",\"data\":[[\"purple\",3,2,1],[null,null,null,1]]}]}",
             &st);
    CHECK_EQ(st, 200);
    w = json_dumps(json_object_get(json_object_get(j, "parameters"), "warnings"), JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK_CONTAINS(w, "rows[0].color: unseen category 'purple'");
    CHECK_CONTAINS(w, "rows[1]: 3 of 4 features missing (imputed)");
    free(w);
    json_decref(j);
    /* a clean request: an empty list */
    j = post("/v2/models/churn/infer",
             "{\"inputs\":[{\"name\":\"rows\",\"shape\":[1,4],\"datatype\":\"FP64\",\"data\":[[\"red\",3,2,1]]}]}", &st);
    CHECK_EQ(st, 200);
    CHECK_EQ(json_array_size(json_object_get(json_object_get(j, "parameters"), "warnings")), 0);
    CHECK(json_is_array(json_object_get(json_object_get(j, "parameters"), "warnings")));
    json_decref(j);
}

static void test_feedback_labels(void) {
    if (!g_up) return;
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", "{\"request_id\":\"r1\",\"model\":\"churn\",\"label\":\"maybe\"}", NULL, 400,
              "label \\\"maybe\\\" is not a class of model 'churn' version '1' (its classes: 'No', 'Yes')");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", "{\"request_id\":\"r1\",\"model\":\"churn@production\",\"label\":1}", NULL, 400,
              "unknown_label");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", "{\"request_id\":\"r1\",\"model\":\"churn\",\"label\":\"Yes\"}", NULL, 202,
              "\"stored\":true");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", "{\"request_id\":\"r1\",\"model\":\"ghost\",\"label\":\"Yes\"}", NULL, 404, NULL);
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", "{\"request_id\":\"r1\",\"model\":7,\"label\":\"Yes\"}", NULL, 400, NULL);
}

/* Feedback naming only its request id: the id names the version that answered (request_id.h), so
 * "maybe" for a Yes/No model is refused without "model"; the first label stands (409), "update"
 * replaces it; a v2 id (a three-class model) alike. */
static void test_feedback_labels_by_id(void) {
    if (!g_up) return;
    int st;
    json_t *j = post("/v1/models/churn:predict", "{\"instances\":[{\"color\":\"red\",\"size\":3,\"weight\":2,\"height\":1}]}", &st);
    CHECK_EQ(st, 200);
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    CHECK(rid && strlen(rid) == 41);
    char body[300];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400,
              "label \\\"maybe\\\" is not a class of model 'churn' version '1' (its classes: 'No', 'Yes')");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":true}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, "unknown_label");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"Yes\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"No\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 409, "label_conflict");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\",\"update\":true}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, "unknown_label");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"No\",\"update\":true}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"stored\":true");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"click\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
    /* another digit in the model part breaks the tag: not an id of ours, kept unchecked and unmatched */
    char forged[64];
    snprintf(forged, sizeof forged, "%s", rid ? rid : "");
    forged[30] = forged[30] == '0' ? '1' : '0';
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", forged);
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":false");
    json_decref(j);
    /* a v2 answer's id names its model too */
    j = post("/v2/models/kinds/infer",
             "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
             "{\"name\":\"y\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}", &st);
    CHECK_EQ(st, 200);
    rid = json_string_value(json_object_get(json_object_get(j, "parameters"), "request_id"));
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"Yes\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, "is not a class of model 'kinds' version '1'");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"c\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
    json_decref(j);
}

/* The request id of one churn prediction from the server on port (malloc'd; NULL on failure). */
static char *churn_id(int port) {
    hc_resp r;
    if (hc_request(port, "POST", "/v1/models/churn:predict",
                   "{\"instances\":[{\"color\":\"blue\",\"size\":9,\"weight\":2,\"height\":1}]}", NULL, &r) != 0)
        return NULL;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    char *out = rid && strlen(rid) == 41 ? strdup(rid) : NULL;
    if (!out) fw_test_fail(__FILE__, __LINE__, "predict: %d %s", r.status, r.body);
    json_decref(j);
    hc_resp_free(&r);
    return out;
}

#define MAYBE_REFUSED "label \\\"maybe\\\" is not a class of model 'churn' version '1' (its classes: 'No', 'Yes')"

/* Feedback naming only an id issued by ANOTHER process on the same home: a second server, and the
 * first one after a restart (issue 15: the request-id key is the home's, kept in the store). Before,
 * the key was per process and such feedback was stored unchecked: "maybe" got 202. */
static void test_feedback_ids_across_processes(void) {
    if (!g_up) return;
    char *before_restart = churn_id(g_srv.port), *for_other = churn_id(g_srv.port);
    hc_server other;
    const char *args[] = {"--home", g_home, "--threads", "1", "--alias-poll", "0", NULL};
    bool other_up = hc_server_start(&other, args) == 0;
    CHECK_MSG(other_up, "a second server on the same home did not start");
    char body[300];
    if (other_up && for_other) {
        /* the second server checks the first one's id ... */
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", for_other);
        HC_EXPECT(other.port, "POST", "/v1/feedback", body, NULL, 400, MAYBE_REFUSED);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"Yes\"}", for_other);
        HC_EXPECT(other.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
        /* ... and the first checks the second's */
        char *from_other = churn_id(other.port);
        CHECK(from_other && strcmp(from_other, for_other) != 0);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", from_other ? from_other : "");
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, MAYBE_REFUSED);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"No\"}", from_other ? from_other : "");
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
        free(from_other);
    }
    if (other_up) hc_server_stop(&other, SIGTERM);
    /* the first server restarted on the same home: its old ids still name their model */
    hc_server_stop(&g_srv, SIGTERM);
    const char *args0[] = {"--home", g_home, "--threads", "2", "--alias-poll", "0", NULL};
    g_up = hc_server_start(&g_srv, args0) == 0;
    CHECK_MSG(g_up, "the server did not restart");
    if (g_up && before_restart) {
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", before_restart);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, MAYBE_REFUSED);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":true}", before_restart);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, "unknown_label");
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"Yes\"}", before_restart);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
        /* a digit changed: not an id of this home's, kept unchecked and unmatched as before */
        before_restart[5] = before_restart[5] == '0' ? '1' : '0';
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"maybe\"}", before_restart);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":false");
    }
    free(before_restart);
    free(for_other);
}

/* Classes named by real numbers: the training CSV writes them "0.10", "0.25", "1.0"; the model names
 * them by the numbers' canonical text "0.1", "0.25", "1". A feedback label names a class when its
 * text is the class name, or it is a number (JSON number, or a string that reads as one) whose
 * canonical text is: 0.1, "0.1", "0.10", "1e-1", 1, 1.0 and "1.0" all match; 0.2, "0.1 " (a space),
 * "one" do not. */
static void test_feedback_real_class_names(void) {
    if (!g_up) return;
    static const char *const ok[] = {"0.1", "\"0.1\"", "\"0.10\"", "\"1e-1\"", "0.25", "\"0.250\"", "1", "1.0", "\"1.0\"", "\"1\"", "1e0"};
    char body[300];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        snprintf(body, sizeof body, "{\"request_id\":\"real-%zu\",\"model\":\"reals\",\"label\":%s}", i, ok[i]);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"stored\":true");
    }
    static const char *const bad[] = {"0.2", "\"0.1 \"", "\"one\"", "\"0x1\"", "true", "-0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(body, sizeof body, "{\"request_id\":\"real-bad-%zu\",\"model\":\"reals\",\"label\":%s}", i, bad[i]);
        HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400,
                  "is not a class of model 'reals' version '1' (its classes: '0.1', '0.25', '1')");
    }
    /* by request id alone: the id names the reals model, whose class "0.1" the text "0.10" names */
    int st;
    json_t *j = post("/v1/models/reals:predict", "{\"instances\":[{\"x\":1,\"y\":2}]}", &st);
    CHECK_EQ(st, 200);
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":0.2}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 400, "label 0.2 is not a class of model 'reals'");
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"0.10\"}", rid ? rid : "");
    HC_EXPECT(g_srv.port, "POST", "/v1/feedback", body, NULL, 202, "\"matched\":true");
    json_decref(j);
}

static void test_v2_metadata(void) {
    if (!g_up) return;
    hc_resp r;
    CHECK_OK(hc_request(g_srv.port, "GET", "/v2/models/churn", NULL, NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "{\"name\":\"color\",\"datatype\":\"BYTES\",\"shape\":[-1]}");
    CHECK_CONTAINS(r.body, "{\"name\":\"size\",\"datatype\":\"FP64\",\"shape\":[-1]}");
    CHECK_CONTAINS(r.body, "\"probability_of\":\"Yes\"");
    hc_resp_free(&r);
    CHECK_OK(hc_request(g_srv.port, "GET", "/v2/models/kinds", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "{\"name\":\"probabilities\",\"datatype\":\"FP64\",\"shape\":[-1,3],\"parameters\":{\"classes\":[\"a\",\"b\",\"c\"]}}");
    CHECK_CONTAINS(r.body, "\"parameters\":{\"task\":\"multiclass\"}");
    hc_resp_free(&r);
    /* the infer answer names them too */
    CHECK_OK(hc_request(g_srv.port, "POST", "/v2/models/kinds/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
                        "{\"name\":\"y\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}", NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "{\"name\":\"probabilities\",\"datatype\":\"FP64\",\"shape\":[1,3],\"parameters\":{\"classes\":[\"a\",\"b\",\"c\"]},\"data\":[");
    hc_resp_free(&r);
}

static void test_rank_classes(void) {
    if (!g_up) return;
    int st;
    /* x = 1 is mostly "a", x = 8 mostly "c": ranking by P(c) puts the x = 8 candidate first */
    json_t *j = post("/v1/rank",
                     "{\"candidates\":[{\"id\":\"low\",\"x\":1,\"y\":3},{\"id\":\"high\",\"x\":8,\"y\":4}],"
                     "\"objectives\":[{\"model\":\"kinds\",\"class\":\"c\"}]}", &st);
    CHECK_EQ(st, 200);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "ranked"), 0), "id")), "high");
    json_decref(j);
    j = post("/v1/rank",
             "{\"candidates\":[{\"id\":\"low\",\"x\":1,\"y\":3},{\"id\":\"high\",\"x\":8,\"y\":4}],"
             "\"objectives\":[{\"model\":\"kinds\",\"class\":\"a\"}]}", &st);
    CHECK_EQ(st, 200);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "ranked"), 0), "id")), "low");
    json_decref(j);
    HC_EXPECT(g_srv.port, "POST", "/v1/rank", "{\"candidates\":[{\"x\":1}],\"objectives\":[{\"model\":\"kinds\",\"class\":\"z\"}]}",
              NULL, 400, "model 'kinds' has no class 'z' (its classes: 'a', 'b', 'c')");
    HC_EXPECT(g_srv.port, "POST", "/v1/rank", "{\"candidates\":[{\"x\":1}],\"objectives\":[{\"model\":\"kinds\",\"clas\":\"a\"}]}",
              NULL, 400, "objectives[0]: unknown key 'clas' (allowed: model, weight, class)");
    HC_EXPECT(g_srv.port, "POST", "/v1/rank", "{\"candidates\":[{\"x\":1}],\"objectives\":[{\"model\":\"kinds\"}],"
              "\"filters\":[{\"model\":\"kinds\",\"max\":1,\"weight\":2}]}", NULL, 400, "filters[0]: unknown key 'weight'");
    HC_EXPECT(g_srv.port, "POST", "/v1/rank", "{\"candidates\":[{\"x\":1}],\"objectives\":[{\"model\":\"kinds\",\"class\":3}]}",
              NULL, 400, "'class' must be a class name");
    /* binary: the negative class is 1 - P(positive) */
    j = post("/v1/rank", "{\"candidates\":[{\"color\":\"red\",\"size\":3}],\"objectives\":[{\"model\":\"churn\",\"class\":\"No\"}]}", &st);
    json_t *j2 = post("/v1/rank", "{\"candidates\":[{\"color\":\"red\",\"size\":3}],\"objectives\":[{\"model\":\"churn\",\"class\":\"Yes\"}]}", &st);
    double no = json_number_value(json_object_get(json_array_get(json_object_get(j, "ranked"), 0), "score"));
    double yes = json_number_value(json_object_get(json_array_get(json_object_get(j2, "ranked"), 0), "score"));
    CHECK_NEAR(no + yes, 1.0, 1e-12);
    json_decref(j);
    json_decref(j2);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    setup();
    TEST_RUN(test_warnings);
    TEST_RUN(test_feedback_labels);
    TEST_RUN(test_feedback_labels_by_id);
    TEST_RUN(test_v2_metadata);
    TEST_RUN(test_v2_warnings);
    TEST_RUN(test_rank_classes);
    TEST_RUN(test_feedback_real_class_names);
    TEST_RUN(test_feedback_ids_across_processes);
    if (g_up) hc_server_stop(&g_srv, SIGKILL);
    return fw_test_report(argv[0]);
}
