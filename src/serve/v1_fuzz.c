/* v1_fuzz.c — owns the differential check of the fast /v1 decoder (see v1_fuzz.h): one body through
 * the fast path and through jansson must answer byte for byte alike. Test-only code: compiled in
 * test builds (-DFW_TEST, core/test_hooks.h) only; the shipped library has none of it. */
#include "core/test_hooks.h"
#ifdef FW_TEST
#include "serve/v1_fuzz.h"

#include "core/alloc.h"
#include "serve/server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Thread_local uint64_t fw__v1_fast_answers;

static void run(fw_server *s, const fw_route *rt, const char *body, size_t len, bool slow, uint64_t reqno,
                fw_reply *r) {
    memset(r, 0, sizeof *r);
    fw_buf_init(&r->body);
    s->slow_decode = slow;
    atomic_store(&s->next_req, reqno);
    if (rt->kind == FW_ROUTE_V2_INFER) fw__api_v2(s, rt, body, len, r);
    else fw__api_predict(s, rt, body, len, rt->kind == FW_ROUTE_V1_EXPLAIN, r);
    fw_srv_model_unref(r->hold);
    r->hold = NULL;
}

int fw_serve_v1_compare(fw_server *s, const char *path, const char *body, size_t len, bool *fast, char *why,
                        size_t cap) {
    fw_route rt;
    fw_route_match("POST", path, &rt);
    if (rt.status != 0 ||
        (rt.kind != FW_ROUTE_V1_PREDICT && rt.kind != FW_ROUTE_V1_EXPLAIN && rt.kind != FW_ROUTE_V2_INFER))
        return -2;
    bool was_slow = s->slow_decode;
    uint64_t reqno = atomic_load(&s->next_req);
    fw_reply a, b;
    uint64_t before = fw__v1_fast_answers;
    run(s, &rt, body, len, false, reqno, &a);
    if (fast) *fast = fw__v1_fast_answers != before;
    run(s, &rt, body, len, true, reqno, &b);
    s->slow_decode = was_slow;
    int rc = 0;
    if (a.code != b.code || !fw_buf_ok(&a.body) || !fw_buf_ok(&b.body) || a.body.len != b.body.len ||
        (a.body.len && memcmp(a.body.data, b.body.data, a.body.len) != 0)) {
        rc = -1;
        if (why && cap)
            snprintf(why, cap, "fast: %d %.*s\njansson: %d %.*s", a.code, (int)(a.body.len > 2000 ? 2000 : a.body.len),
                     a.body.data ? (const char *)a.body.data : "", b.code,
                     (int)(b.body.len > 2000 ? 2000 : b.body.len), b.body.data ? (const char *)b.body.data : "");
    }
    fw_buf_free(&a.body);
    fw_buf_free(&b.body);
    return rc;
}

const char *const fw_serve_fuzz_v1_paths[] = {
    "/v1/models/m:predict", "/v1/models/m:explain", "/v1/models/mc/versions/1:predict",
    "/v1/models/w/aliases/production:predict", "/v1/models/nope:predict", "/v2/models/w/infer",
    "/v2/models/mc/versions/1/infer",
};
const size_t fw_serve_fuzz_v1_n_paths = sizeof fw_serve_fuzz_v1_paths / sizeof *fw_serve_fuzz_v1_paths;

static fw_server *g_srv;
static fw_serve_config g_cfg;
static char g_dir[256];

static bool write_file(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    FILE *f = fopen(p, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void remove_dir(void) {
    static const char *const files[] = {"m/1.json", "m/aliases.json", "mc/1.json", "mc/aliases.json",
                                        "w/1.json", "w/aliases.json", "m", "mc", "w", ""};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        if (remove(p) != 0) { /* already gone */ }
    }
}

static void free_server(void) {
    fw_server_free(g_srv);
    fw_serve_config_free(&g_cfg);
    g_srv = NULL;
    remove_dir();
}

fw_server *fw_serve_fuzz_v1_server(void) {
    if (g_srv) return g_srv;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/fw-v1-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return NULL;
    static const char *const dirs[] = {"m", "mc", "w"};
    for (size_t i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", g_dir, dirs[i]);
        if (mkdir(p, 0755)) return NULL;
    }
    char w[2048];
    size_t o = (size_t)snprintf(w, sizeof w, "{\"task\":\"regression\",\"inputs\":[");
    for (int i = 0; i < 24; i++) o += (size_t)snprintf(w + o, sizeof w - o, "%s\"f%d\"", i ? "," : "", i);
    o += (size_t)snprintf(w + o, sizeof w - o, "],\"weights\":[");
    for (int i = 0; i < 24; i++) o += (size_t)snprintf(w + o, sizeof w - o, "%s%g", i ? "," : "", 0.25 * (i - 11));
    snprintf(w + o, sizeof w - o, "],\"bias\":1.5}");
    bool ok = write_file("m/1.json",
                         "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\",\"c\"],\"weights\":[0.5,-1,2],\"bias\":0.1,"
                         "\"impute\":[0,1,0],\"classes\":[\"no\",\"yes\"],\"threshold\":0.5,"
                         "\"confidence_threshold\":0.6,\"fallback\":\"baseline\",\"baseline\":[0.3]}") &&
              write_file("m/aliases.json", "{\"production\":\"1\"}") &&
              write_file("mc/1.json", "{\"task\":\"multiclass\",\"inputs\":[\"x\",\"y\"],\"weights\":[[1,0],[0,1],[1,1]],"
                                      "\"bias\":[0,0.5,-0.5],\"classes\":[\"r\",\"g\",\"b\"]}") &&
              write_file("mc/aliases.json", "{\"production\":\"1\"}") && write_file("w/1.json", w) &&
              write_file("w/aliases.json", "{\"production\":\"1\"}");
    if (!ok) {
        remove_dir();
        return NULL;
    }
    fw_serve_config_init(&g_cfg);
    g_cfg.threads = 1;
    g_cfg.alias_poll_s = 0;
    fw_err err;
    fw_err_clear(&err);
    if (fw_serve_config_set_str(&g_cfg.models_dir, g_dir) || fw_server_new(&g_cfg, &g_srv, &err)) {
        fprintf(stderr, "fw_serve_fuzz_v1: server: %s\n", err.msg);
        fw_serve_config_free(&g_cfg);
        remove_dir();
        g_srv = NULL;
        return NULL;
    }
    atexit(free_server);
    return g_srv;
}

int fw_serve_fuzz_v1_decode(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fw_server *s = fw_serve_fuzz_v1_server();
    if (!s) abort();
    const char *path = fw_serve_fuzz_v1_paths[data[0] % fw_serve_fuzz_v1_n_paths];
    static char why[8192];
    if (fw_serve_v1_compare(s, path, (const char *)data + 1, size - 1, NULL, why, sizeof why) != 0) {
        fprintf(stderr, "fw_serve_fuzz_v1: %s: the fast decoder and jansson answered differently\n%s\n", path, why);
        abort();
    }
    return 0;
}
#else
typedef int fw__v1_fuzz_not_built; /* a shipped build: nothing here (ISO C wants a declaration) */
#endif /* FW_TEST */
