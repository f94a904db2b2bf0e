/* test_server.c — black-box tests of `flywheel serve`: starts the real binary on a free port with
 * a directory of small linear models, speaks HTTP over sockets and checks every endpoint, every
 * bad-input case, admin auth, traffic splits, LRU eviction, slow clients, an alias swap under load
 * (zero non-200s) and the SIGTERM drain that flushes the prediction log. */
#include "client.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

static char g_dir[512], g_log[600], g_cfg[600];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void make_model(const char *name, const char *version, const char *json) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s.json", g_dir, name, version);
    write_file(p, json);
}

static void set_aliases(const char *name, const char *json) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/aliases.json", g_dir, name);
    write_file(p, json);
}

static const char *SPAM1 = "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\"],\"weights\":[1.0,-2.0],\"bias\":0.1,"
                           "\"classes\":[\"ham\",\"spam\"],\"confidence_threshold\":0.6,\"fallback\":\"review\"}";
static const char *SPAM2 = "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\"],\"weights\":[2.0,-1.0],\"bias\":0,"
                           "\"classes\":[\"ham\",\"spam\"]}";

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s/models", fw_test_tmpdir());
    mkdir(g_dir, 0755);
    snprintf(g_log, sizeof g_log, "%s/predictions.jsonl", fw_test_tmpdir());
    snprintf(g_cfg, sizeof g_cfg, "%s/flywheel.yaml", fw_test_tmpdir());
    make_model("spam", "1", SPAM1);
    make_model("spam", "2", SPAM2);
    set_aliases("spam", "{\"production\":\"1\",\"staging\":\"2\"}");
    make_model("quality", "1", "{\"task\":\"regression\",\"inputs\":[\"x\"],\"weights\":[1.0],\"bias\":0}");
    set_aliases("quality", "{\"production\":\"1\"}");
    make_model("engage", "1", "{\"task\":\"regression\",\"inputs\":[\"x\"],\"weights\":[-1.0],\"bias\":10}");
    set_aliases("engage", "{\"production\":\"1\"}");
    make_model("iris", "7", "{\"task\":\"multiclass\",\"inputs\":[\"x\"],\"weights\":[[1],[0],[-1]],\"bias\":[0,0,0],"
                            "\"classes\":[\"setosa\",\"versicolor\",\"virginica\"]}");
    set_aliases("iris", "{\"production\":\"7\"}");
    write_file(g_cfg, "serving:\n  conn_timeout_s: 1\n  max_body_bytes: 4096\n  alias_poll_s: 0\n"
                      "  splits:\n    - {model: quality, kind: shadow, challenger: engage@production}\n"
                      "  rank:\n    objectives: [{model: quality, weight: 0.5}]\n");
}

static hc_server g_srv;
static bool g_up;

static void start_main(void) {
    const char *args[] = {"--models-dir", g_dir, "--log", g_log, "--admin-token", "sekret", "--threads", "2",
                          "--config", g_cfg, NULL};
    g_up = hc_server_start(&g_srv, args) == 0;
    CHECK_MSG(g_up, "server did not start (FLYWHEEL_BIN=%s)", getenv("FLYWHEEL_BIN"));
}

#define REQ(m, p, b, extra, r) CHECK_OK(hc_request(g_srv.port, m, p, b, extra, r))
/* a request on the main server whose status (and, unless NULL, body substring) is checked */
#define EXPECT(m, p, b, extra, status, want) HC_EXPECT(g_srv.port, m, p, b, extra, status, want)

static void test_predict_v1(void) {
    if (!g_up) return;
    hc_resp r;
    REQ("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1,\"b\":0.2,\"zz\":3},{\"a\":0.1,\"b\":0.1}],\"entity_id\":\"u1\"}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"model\":\"spam\",\"version\":\"1\",\"variant\":\"primary\",\"source\":\"online\"");
    CHECK_CONTAINS(r.body, "\"label\":\"spam\",\"probabilities\":{\"ham\":0.33181222783183");
    CHECK_CONTAINS(r.body, "\"threshold\":0.5");
    /* second instance: p = 0.5 < confidence 0.6 → abstains with "needs review" */
    CHECK_CONTAINS(r.body, "\"abstained\":true");
    CHECK_CONTAINS(r.body, "\"answer\":\"needs review\"");
    CHECK_CONTAINS(r.body, "unknown feature 'zz' ignored");
    CHECK_CONTAINS(r.body, "\"request_id\":\"");
    CHECK_CONTAINS(r.headers, "X-Request-Id:");
    /* the whole body, byte for byte (the request id, random, masked): the reply's fixed parts,
     * number formats, the abstained prediction's fields and the warnings' order */
    const char *rid = r.body ? strstr(r.body, "\"request_id\":\"") : NULL;
    CHECK(rid != NULL && strlen(rid) > 14 + 41);
    if (rid && strlen(rid) > 14 + 41) memset((char *)rid + 14, 'X', 41);
    CHECK_STR(r.body, "{\"request_id\":\"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\",\"model\":\"spam\",\"version\":\"1\","
                      "\"variant\":\"primary\",\"source\":\"online\",\"predictions\":[{\"label\":\"spam\",\"probabilities\":"
                      "{\"ham\":0.33181222783183384,\"spam\":0.6681877721681662},\"score\":0.6681877721681662,\"threshold\":0.5,"
                      "\"confidence\":0.6681877721681662,\"abstained\":false},{\"label\":\"spam\",\"probabilities\":{\"ham\":0.5,"
                      "\"spam\":0.5},\"score\":0.5,\"threshold\":0.5,\"confidence\":0.5,\"abstained\":true,"
                      "\"confidence_threshold\":0.6,\"fallback\":\"review\",\"answer\":\"needs review\"}],"
                      "\"warnings\":[\"instances[0]: unknown feature 'zz' ignored\"]}");
    hc_resp_free(&r);
    /* explicit version and alias routes */
    REQ("POST", "/v1/models/spam/versions/2:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"version\":\"2\"");
    CHECK_CONTAINS(r.body, "\"score\":0.88079707797788");
    hc_resp_free(&r);
    EXPECT("POST", "/v1/models/spam/aliases/staging:predict", "{\"instances\":[{\"a\":1,\"b\":null}]}", NULL, 200, "\"version\":\"2\"");
    /* multiclass */
    REQ("POST", "/v1/models/iris:predict", "{\"instances\":[{\"x\":3}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"label\":\"setosa\"");
    CHECK_CONTAINS(r.body, "\"virginica\":");
    hc_resp_free(&r);
    /* quality has a shadow split: engage scores too (logged), quality answers */
    REQ("POST", "/v1/models/quality:predict", "{\"instances\":[{\"x\":4}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"model\":\"quality\",\"version\":\"1\",\"variant\":\"primary\"");
    CHECK_CONTAINS(r.body, "\"score\":4,");
    hc_resp_free(&r);
    /* numeric string is accepted, a non-numeric string is a clear error */
    EXPECT("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":\"1.5\"}]}", NULL, 200, NULL);
    EXPECT("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":\"lots\"}]}", NULL, 400, "field 'a': expected a number");
}

static void test_explain(void) {
    if (!g_up) return;
    hc_resp r;
    REQ("POST", "/v1/models/spam/versions/2:explain", "{\"instances\":[{\"a\":1,\"b\":0.2}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"contributions\":{\"a\":2,\"b\":-0.2");
    CHECK_CONTAINS(r.body, "\"(bias)\":0");
    hc_resp_free(&r);
    /* the same format as a store model's (docs/API.md): what is explained, per input column sorted by
     * magnitude with zeros left out, the bias last, the space named */
    REQ("POST", "/v1/models/spam/versions/2:explain", "{\"instances\":[{\"a\":0.25,\"b\":0.75}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"explained\":{\"output\":\"spam\",\"class_index\":1,\"method\":\"additive\",\"space\":\"log_odds\"}");
    CHECK_CONTAINS(r.body, "\"contributions\":{\"b\":-0.75,\"a\":0.5,\"(bias)\":0},\"contribution_space\":\"log_odds\"");
    hc_resp_free(&r);
    REQ("POST", "/v1/models/spam/versions/2:explain", "{\"instances\":[{\"a\":0,\"b\":0.5}],\"class\":\"ham\"}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"output\":\"ham\",\"class_index\":0");
    CHECK_CONTAINS(r.body, "\"contributions\":{\"b\":0.5,\"(bias)\":0}"); /* negated; a's zero left out */
    hc_resp_free(&r);
    /* multiclass: the predicted class by default, another when asked */
    REQ("POST", "/v1/models/iris:explain", "{\"instances\":[{\"x\":3}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"explained\":{\"output\":\"setosa\",\"class_index\":0,\"method\":\"additive\",\"space\":\"softmax_margin\"}");
    CHECK_CONTAINS(r.body, "\"contributions\":{\"x\":3,\"(bias)\":0}");
    hc_resp_free(&r);
    REQ("POST", "/v1/models/iris:explain", "{\"instances\":[{\"x\":3}],\"class\":\"virginica\"}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"output\":\"virginica\",\"class_index\":2");
    CHECK_CONTAINS(r.body, "\"contributions\":{\"x\":-3,\"(bias)\":0}");
    hc_resp_free(&r);
    /* regression: the value */
    REQ("POST", "/v1/models/quality:explain", "{\"instances\":[{\"x\":4}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"explained\":{\"output\":\"value\",\"method\":\"additive\",\"space\":\"raw\"},\"contributions\":{\"x\":4,\"(bias)\":0}");
    hc_resp_free(&r);
}

static void test_v2(void) {
    if (!g_up) return;
    hc_resp r;
    EXPECT("GET", "/v2/health/live", NULL, NULL, 200, "\"live\":true");
    EXPECT("GET", "/v2/health/ready", NULL, NULL, 200, NULL);
    EXPECT("GET", "/v2/models/spam", NULL, NULL, 200, "\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP64\"");
    EXPECT("GET", "/v2/models/spam/versions/2/ready", NULL, NULL, 200, "\"ready\":true");
    EXPECT("GET", "/v2/models/nosuch/ready", NULL, NULL, 404, NULL);
    /* per-feature tensors */
    REQ("POST", "/v2/models/spam/infer",
        "{\"id\":\"abc\",\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1,0.1]},"
        "{\"name\":\"b\",\"shape\":[2,1],\"datatype\":\"FP64\",\"data\":[[0.2],[0.1]]}]}", NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"model_name\":\"spam\",\"model_version\":\"1\",\"id\":\"abc\"");
    CHECK_CONTAINS(r.body, "\"name\":\"score\",\"datatype\":\"FP64\",\"shape\":[2],\"data\":[0.66818777216816");
    CHECK_CONTAINS(r.body, "\"data\":[\"spam\",\"spam\"]");
    hc_resp_free(&r);
    /* one row tensor [n, n_features] */
    REQ("POST", "/v2/models/spam/versions/1/infer",
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,0.2]}],\"outputs\":[{\"name\":\"score\"}]}",
        NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"data\":[0.66818777216816");
    CHECK(strstr(r.body, "\"label\"") == NULL);
    hc_resp_free(&r);
    /* v2 errors use the protocol's {"error": "..."} */
    EXPECT("POST", "/v2/models/spam/infer", "{\"inputs\":[{\"name\":\"a\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[1]}]}", NULL, 400, "{\"error\":\"inputs[0] 'a': shape says 3 values, data has 1\"}");
    EXPECT("POST", "/v2/models/spam/infer", "{\"inputs\":[{\"name\":\"nope\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}", NULL, 400, "unknown input 'nope'");
}

static void test_rank(void) {
    if (!g_up) return;
    hc_resp r;
    REQ("POST", "/v1/rank",
        "{\"candidates\":[{\"id\":\"a\",\"x\":1},{\"id\":\"b\",\"x\":5},{\"id\":\"c\",\"x\":3},{\"id\":\"d\",\"x\":9}],"
        "\"objectives\":[{\"model\":\"quality\",\"weight\":0.7},{\"model\":\"engage\",\"weight\":0.3}],"
        "\"filters\":[{\"model\":\"quality\",\"max\":8}],\"top_k\":2}", NULL, &r);
    CHECK_EQ(r.status, 200);
    /* totals: 0.7x + 0.3(10-x) = 3 + 0.4x: b (5) first, then c (3); d (9) filtered */
    CHECK_CONTAINS(r.body, "\"ranked\":[{\"index\":1,\"id\":\"b\",\"score\":5");
    CHECK_CONTAINS(r.body, "{\"index\":2,\"id\":\"c\"");
    CHECK_CONTAINS(r.body, "\"scores\":{\"quality\":5,\"engage\":5}");
    CHECK_CONTAINS(r.body, "\"filtered\":1");
    hc_resp_free(&r);
    /* default objectives from the config file */
    EXPECT("POST", "/v1/rank", "{\"candidates\":[{\"x\":1},{\"x\":2}]}", NULL, 200, "\"ranked\":[{\"index\":1,\"score\":1");
    EXPECT("POST", "/v1/rank", "{\"candidates\":[{\"x\":1}],\"objectives\":[{\"model\":\"ghost\",\"weight\":1}]}", NULL, 404, NULL);
}

static void test_feedback(void) {
    if (!g_up) return;
    hc_resp r, f;
    REQ("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r);
    const char *p = r.body ? strstr(r.body, "\"request_id\":\"") : NULL;
    CHECK(p != NULL);
    if (!p) return;
    char rid[64] = {0}, body[256];
    sscanf(p + 14, "%63[^\"]", rid);
    hc_resp_free(&r);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"label\":\"spam\"}", rid);
    REQ("POST", "/v1/feedback", body, NULL, &f);
    CHECK_EQ(f.status, 202);
    CHECK_CONTAINS(f.body, "\"matched\":true");
    hc_resp_free(&f);
    REQ("POST", "/v1/feedback", "{\"request_id\":\"from-yesterday\",\"event\":\"click\",\"value\":1}", NULL, &f);
    CHECK_EQ(f.status, 202);
    CHECK_CONTAINS(f.body, "\"matched\":false");
    hc_resp_free(&f);
    REQ("POST", "/v1/feedback", "{\"label\":1}", NULL, &f);
    CHECK_EQ(f.status, 400);
    CHECK_CONTAINS(f.body, "'request_id'");
    hc_resp_free(&f);
}

static void test_bad_input(void) {
    if (!g_up) return;
    hc_resp r;
    REQ("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}\n,]}", NULL, &r);
    CHECK_EQ(r.status, 400);
    CHECK_CONTAINS(r.body, "\"code\":\"bad_json\"");
    CHECK_CONTAINS(r.body, "line 2, column");
    hc_resp_free(&r);
    EXPECT("POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":[1,2]}]}", NULL, 400, "instances[0].a: expected a number, string, boolean or null, got an array");
    EXPECT("POST", "/v1/models/spam:predict", "{\"instances\":{}}", NULL, 400, "'instances' must be a non-empty array");
    EXPECT("POST", "/v1/models/spam:predict", "[1,2]", NULL, 400, NULL);
    EXPECT("POST", "/v1/models/ghost:predict", "{\"instances\":[{}]}", NULL, 404, "\"code\":\"model_not_found\"");
    EXPECT("POST", "/v1/models/spam/versions/99:predict", "{\"instances\":[{}]}", NULL, 404, NULL);
    EXPECT("GET", "/nothing/here", NULL, NULL, 404, "{\"error\":{\"code\":\"not_found\"");
    REQ("GET", "/v1/models/spam:predict", NULL, NULL, &r);
    CHECK_EQ(r.status, 405);
    CHECK_CONTAINS(r.headers, "Allow: POST");
    hc_resp_free(&r);
    EXPECT("DELETE", "/healthz", NULL, NULL, 405, NULL);
    /* body over serving.max_body_bytes (4096 in the config) */
    char *big = malloc(10000);
    memset(big, ' ', 9999);
    big[0] = '{';
    big[9998] = '}';
    big[9999] = 0;
    EXPECT("POST", "/v1/models/spam:predict", big, NULL, 413, "payload_too_large");
    free(big);
    /* the server still answers */
    EXPECT("GET", "/healthz", NULL, NULL, 200, "\"status\":\"ok\"");
}

static void test_slow_client(void) {
    if (!g_up) return;
    /* a client that sends half a request and stalls is dropped after conn_timeout_s (1 s) */
    int fd = hc_connect(g_srv.port);
    CHECK(fd >= 0);
    if (fd < 0) return;
    hc_write_all(fd, "POST /v1/models/spam:predict HTTP/1.1\r\nHost: x\r\n", 48);
    hc_resp r;
    REQ("GET", "/healthz", NULL, NULL, &r); /* others keep being served meanwhile */
    CHECK_EQ(r.status, 200);
    hc_resp_free(&r);
    char buf[64];
    struct pollfd p = {fd, POLLIN, 0};
    int pr = poll(&p, 1, 5000);
    CHECK_EQ(pr, 1);
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    CHECK(n <= 0); /* closed by the server */
    close(fd);
}

static void test_admin(void) {
    if (!g_up) return;
    EXPECT("POST", "/admin/reload", NULL, NULL, 401, NULL);
    EXPECT("POST", "/admin/reload", NULL, "Authorization: Bearer wrong\r\n", 401, NULL);
    const char *auth = "Authorization: Bearer sekret\r\n";
    EXPECT("POST", "/admin/models/iris:load", NULL, auth, 200, "\"loaded\":true");
    EXPECT("POST", "/admin/models/iris:unload", NULL, auth, 200, NULL);
    EXPECT("POST", "/admin/models/iris:unload", NULL, auth, 404, NULL);
    EXPECT("PUT", "/admin/models/spam/aliases/production", "{\"version\":\"404\"}", auth, 404, NULL);
    EXPECT("POST", "/admin/reload", NULL, auth, 200, NULL);
}

static void test_metrics(void) {
    if (!g_up) return;
    hc_resp r;
    REQ("GET", "/metrics", NULL, NULL, &r);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.headers, "text/plain");
    CHECK_CONTAINS(r.body, "flywheel_requests_total{model=\"spam\",version=\"1\",variant=\"primary\",code=\"200\"}");
    CHECK_CONTAINS(r.body, "flywheel_request_duration_seconds_bucket{model=\"spam\",version=\"1\",variant=\"primary\",le=\"5e-05\"}");
    CHECK_CONTAINS(r.body, "flywheel_abstentions_total{model=\"spam\",version=\"1\",variant=\"primary\"} ");
    CHECK_CONTAINS(r.body, "flywheel_prediction_score_bucket{");
    CHECK_CONTAINS(r.body, "flywheel_log_queue_depth ");
    CHECK_CONTAINS(r.body, "flywheel_log_dropped_total 0");
    CHECK_CONTAINS(r.body, "flywheel_bytes_in_use ");
    CHECK_CONTAINS(r.body, "flywheel_models_loaded ");
    CHECK_CONTAINS(r.body, "code=\"404\"");
    CHECK_CONTAINS(r.body, "flywheel_feedback_total{matched=\"false\"} 1");
    /* shadow split on quality: engage scored as the shadow */
    CHECK_CONTAINS(r.body, "model=\"engage\",version=\"1\",variant=\"shadow\"");
    hc_resp_free(&r);
}

/* ---- swap under load ------------------------------------------------------------------------- */
typedef struct hammer {
    int port;
    atomic_bool stop;
    atomic_long ok, bad, v1, v2;
} hammer;

static void *hammer_main(void *arg) {
    hammer *h = arg;
    int fd = hc_connect(h->port);
    while (!atomic_load(&h->stop)) {
        hc_resp r;
        if (fd < 0 || hc_request_fd(fd, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1,\"b\":0.5}]}", NULL, &r) != 0) {
            atomic_fetch_add(&h->bad, 1);
            if (fd >= 0) close(fd);
            fd = hc_connect(h->port);
            continue;
        }
        if (r.status == 200) atomic_fetch_add(&h->ok, 1);
        else atomic_fetch_add(&h->bad, 1);
        if (r.body && strstr(r.body, "\"version\":\"1\"")) atomic_fetch_add(&h->v1, 1);
        if (r.body && strstr(r.body, "\"version\":\"2\"")) atomic_fetch_add(&h->v2, 1);
        hc_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_swap_under_load(void) {
    if (!g_up) return;
    hammer h = {.port = g_srv.port};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, hammer_main, &h);
    const char *auth = "Authorization: Bearer sekret\r\n";
    for (int k = 0; k < 10; k++) {
        usleep(30000);
        EXPECT("PUT", "/admin/models/spam/aliases/production", k % 2 == 0 ? "{\"version\":\"2\"}" : "{\"version\":\"1\"}", auth, 200, NULL);
    }
    usleep(30000);
    atomic_store(&h.stop, true);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&h.bad), 0);
    CHECK(atomic_load(&h.ok) > 20);
    CHECK(atomic_load(&h.v1) > 0);
    CHECK(atomic_load(&h.v2) > 0);
    hc_resp r;
    REQ("GET", "/metrics", NULL, NULL, &r);
    CHECK_CONTAINS(r.body, "flywheel_model_swaps_total 10");
    hc_resp_free(&r);
    /* the swapped-out versions are freed by the loader once no request holds them */
    bool freed = false;
    for (int i = 0; i < 100 && !freed; i++) {
        if (hc_request(g_srv.port, "GET", "/metrics", NULL, NULL, &r) == 0 && r.body)
            freed = strstr(r.body, "\nflywheel_models_retiring 0\n") != NULL;
        hc_resp_free(&r);
        if (!freed) usleep(10000);
    }
    CHECK(freed);
}

/* A slow alias load (FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS) on a ONE-worker server: the load runs on
 * the loader thread, so predictions keep being answered by the old version meanwhile; the admin
 * PUT answers 200 once the new version serves. With serving.admin_wait_s below the load time the
 * PUT answers 202 pending at once and the swap still lands. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct put_job {
    int port;
    const char *body;
    int status;
    double secs;
    char reply[512];
} put_job;

static void *put_main(void *arg) {
    put_job *p = arg;
    double t0 = now_s();
    hc_resp r;
    if (hc_request(p->port, "PUT", "/admin/models/spam/aliases/production", p->body,
                   "Authorization: Bearer sekret\r\n", &r) == 0) {
        p->status = r.status;
        snprintf(p->reply, sizeof p->reply, "%s", r.body ? r.body : "");
    }
    hc_resp_free(&r);
    p->secs = now_s() - t0;
    return NULL;
}

static void test_swap_off_worker(void) {
    char dir[600], p[800], cfg[700];
    snprintf(dir, sizeof dir, "%s/slow", fw_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/spam", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/spam/1.json", dir);
    write_file(p, SPAM1);
    snprintf(p, sizeof p, "%s/spam/2.json", dir);
    write_file(p, SPAM2);
    snprintf(p, sizeof p, "%s/spam/aliases.json", dir);
    write_file(p, "{\"production\":\"1\"}");
    snprintf(cfg, sizeof cfg, "%s/slow.yaml", fw_test_tmpdir());
    write_file(cfg, "serving:\n  alias_poll_s: 0\n  admin_wait_s: 0.1\n");
    setenv("FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS", "600", 1);
    hc_server s;
    const char *args[] = {"--models-dir", dir, "--admin-token", "sekret", "--threads", "1", NULL};
    /* the hook is compiled into the test build of the binary only (core/test_hooks.h) */
    int up = hc_server_start_bin(&s, hc_test_bin(), args);
    hc_server s2;
    const char *args2[] = {"--models-dir", dir, "--admin-token", "sekret", "--threads", "1", "--config", cfg, NULL};
    int up2 = hc_server_start_bin(&s2, hc_test_bin(), args2);
    unsetenv("FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS");
    CHECK_OK(up);
    CHECK_OK(up2);
    if (up || up2) return;
    /* 1. waits for the swap (200), while the only worker keeps answering on version 1 */
    put_job pj = {.port = s.port, .body = "{\"version\":\"2\"}"};
    pthread_t th;
    pthread_create(&th, NULL, put_main, &pj);
    int fd = hc_connect(s.port);
    int answered = 0, old = 0;
    double worst = 0, t_end = now_s() + 0.4;
    while (now_s() < t_end) {
        double t0 = now_s();
        hc_resp r;
        if (hc_request_fd(fd, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r) == 0 &&
            r.status == 200) {
            answered++;
            old += strstr(r.body, "\"version\":\"1\"") != NULL;
        }
        hc_resp_free(&r);
        if (now_s() - t0 > worst) worst = now_s() - t0;
        usleep(5000);
    }
    close(fd);
    pthread_join(th, NULL);
    CHECK(answered >= 10);
    CHECK_EQ(old, answered);          /* the old version answered during the load */
    CHECK_MSG(worst < 0.3, "a prediction waited %.3f s during the swap", worst);
    CHECK_EQ(pj.status, 200);
    CHECK(pj.secs >= 0.5);            /* it waited for the load */
    CHECK_CONTAINS(pj.reply, "\"version\":\"2\"");
    hc_resp r;
    CHECK_OK(hc_request(s.port, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r));
    CHECK_CONTAINS(r.body, "\"version\":\"2\"");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
    /* 2. admin_wait_s 0.1 < the load: 202 pending at once, the swap lands later */
    put_job pj2 = {.port = s2.port, .body = "{\"version\":\"2\"}"};
    put_main(&pj2);
    CHECK_EQ(pj2.status, 202);
    CHECK(pj2.secs < 0.5);
    CHECK_CONTAINS(pj2.reply, "\"status\":\"pending\"");
    CHECK_OK(hc_request(s2.port, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r));
    CHECK_CONTAINS(r.body, "\"version\":\"1\"");
    hc_resp_free(&r);
    bool swapped = false;
    for (int i = 0; i < 100 && !swapped; i++) {
        usleep(20000);
        if (hc_request(s2.port, "GET", "/v1/models", NULL, NULL, &r) == 0 && r.body)
            swapped = strstr(r.body, "\"version\":\"2\"") != NULL;
        hc_resp_free(&r);
    }
    CHECK(swapped);
    /* a reload queued behind nothing answers 200 with what it did */
    CHECK_OK(hc_request(s2.port, "POST", "/admin/reload", NULL, "Authorization: Bearer sekret\r\n", &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"swapped\":0");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s2, SIGTERM), 0);
}

static void test_drain_flushes_log(void) {
    if (!g_up) return;
    int code = hc_server_stop(&g_srv, SIGTERM);
    g_up = false;
    CHECK_EQ(code, 0);
    FILE *f = fopen(g_log, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[8192];
    int preds = 0, fb = 0, shadow = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"type\":\"prediction\"")) preds++;
        if (strstr(line, "\"type\":\"feedback\"")) fb++;
        if (strstr(line, "\"variant\":\"shadow\"")) shadow++;
    }
    fclose(f);
    CHECK(preds > 20);
    CHECK_EQ(fb, 2);
    CHECK(shadow >= 1);
}

/* Many small models under a tight memory bound: all served, some evicted, reloaded on demand. */
static void test_lru_many_models(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/many", fw_test_tmpdir());
    mkdir(dir, 0755);
    for (int i = 0; i < 60; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/m%d", dir, i);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/m%d/1.json", dir, i);
        char body[200];
        snprintf(body, sizeof body, "{\"task\":\"regression\",\"inputs\":[\"x\"],\"weights\":[%d],\"bias\":0}", i);
        write_file(p, body);
        snprintf(p, sizeof p, "%s/m%d/aliases.json", dir, i);
        write_file(p, "{\"production\":\"1\"}");
    }
    hc_server s;
    const char *args[] = {"--models-dir", dir, "--model-memory", "4000", NULL};
    CHECK_OK(hc_server_start(&s, args));
    int ok = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 60; i++) {
            char path[100], want[64];
            snprintf(path, sizeof path, "/v1/models/m%d:predict", i);
            hc_resp r;
            if (hc_request(s.port, "POST", path, "{\"instances\":[{\"x\":2}]}", NULL, &r) == 0 && r.status == 200) {
                snprintf(want, sizeof want, "\"score\":%d,", 2 * i);
                ok += strstr(r.body, want) != NULL;
            }
            hc_resp_free(&r);
        }
    CHECK_EQ(ok, 120);
    hc_resp r;
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    const char *ev = r.body ? strstr(r.body, "\nflywheel_model_evictions_total ") : NULL;
    CHECK(ev && atol(ev + 32) > 0);
    const char *mb = r.body ? strstr(r.body, "\nflywheel_model_bytes ") : NULL;
    CHECK(mb && atol(mb + 22) <= 4000);
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* Canary at 100%: every default-route answer comes from the challenger and says so. */
static void test_canary(void) {
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/canary.yaml", fw_test_tmpdir());
    write_file(cfg, "serving:\n  splits:\n    - {model: spam, kind: canary, challenger: 'spam#2', percent: 100}\n");
    hc_server s;
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, NULL};
    CHECK_OK(hc_server_start(&s, args));
    hc_resp r;
    CHECK_OK(hc_request(s.port, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"version\":\"2\",\"variant\":\"challenger\"");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

static void test_bad_config(void) {
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", fw_test_tmpdir());
    write_file(cfg, "serving:\n  port: lots\n");
    hc_server s;
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, NULL};
    CHECK(hc_server_start(&s, args) != 0);
    int st;
    waitpid(s.pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    setup();
    start_main();
    TEST_RUN(test_predict_v1);
    TEST_RUN(test_explain);
    TEST_RUN(test_v2);
    TEST_RUN(test_rank);
    TEST_RUN(test_feedback);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_slow_client);
    TEST_RUN(test_admin);
    TEST_RUN(test_metrics);
    TEST_RUN(test_swap_under_load);
    TEST_RUN(test_drain_flushes_log);
    TEST_RUN(test_lru_many_models);
    TEST_RUN(test_swap_off_worker);
    TEST_RUN(test_canary);
    TEST_RUN(test_bad_config);
    if (g_up) hc_server_stop(&g_srv, SIGKILL);
    return fw_test_report(argv[0]);
}
