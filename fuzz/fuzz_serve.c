/* fuzz_serve.c — libFuzzer target for the server's request-body parsers (src/serve): the v1
 * predict / explain / rank / feedback JSON and the v2 (KServe) infer JSON, called directly through
 * the handlers in serve/server_int.h on a server that is created but never listens (no socket).
 * Models come from a directory source written at start-up to a temporary folder: a binary model
 * "m" (inputs a, b, c) and a three-class model "mc". Every reply must be a status in 200..599 with
 * a body that is valid JSON; nothing may crash, leak or read out of bounds.
 *
 * Input: one selector byte (which endpoint and route), then the body. Build and run: fuzz/README.md. */
#include "core/alloc.h"
#include "serve/server_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fw_server *fw_fuzz_serve_srv;
static fw_serve_config fw_fuzz_serve_cfg;
static char fw_fuzz_serve_dir[256];

static void fw_fuzz_serve_write(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", fw_fuzz_serve_dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0) abort();
    fclose(f);
}

static void fw_fuzz_serve_rm(void) {
    const char *files[] = {"m/1.json", "m/aliases.json", "mc/1.json", "mc/aliases.json", "m", "mc", ""};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", fw_fuzz_serve_dir, files[i]);
        if (remove(p) != 0) { /* already gone */ }
    }
}

static fw_server *fw_fuzz_serve_server(void) {
    if (fw_fuzz_serve_srv) return fw_fuzz_serve_srv;
    const char *tmp = getenv("TMPDIR");
    snprintf(fw_fuzz_serve_dir, sizeof fw_fuzz_serve_dir, "%s/fw-fuzz-serve-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fw_fuzz_serve_dir)) abort();
    char p[512];
    snprintf(p, sizeof p, "%s/m", fw_fuzz_serve_dir);
    if (mkdir(p, 0755)) abort();
    snprintf(p, sizeof p, "%s/mc", fw_fuzz_serve_dir);
    if (mkdir(p, 0755)) abort();
    fw_fuzz_serve_write("m/1.json",
                        "{\"task\":\"binary\",\"inputs\":[\"a\",\"b\",\"c\"],\"weights\":[0.5,-1,2],\"bias\":0.1,"
                        "\"impute\":[0,1,0],\"classes\":[\"no\",\"yes\"],\"threshold\":0.5,"
                        "\"confidence_threshold\":0.6,\"fallback\":\"baseline\",\"baseline\":[0.3]}");
    fw_fuzz_serve_write("m/aliases.json", "{\"production\":\"1\"}");
    fw_fuzz_serve_write("mc/1.json",
                        "{\"task\":\"multiclass\",\"inputs\":[\"x\",\"y\"],\"weights\":[[1,0],[0,1],[1,1]],"
                        "\"bias\":[0,0.5,-0.5],\"classes\":[\"r\",\"g\",\"b\"]}");
    fw_fuzz_serve_write("mc/aliases.json", "{\"production\":\"1\"}");
    fw_serve_config_init(&fw_fuzz_serve_cfg);
    fw_fuzz_serve_cfg.threads = 1;
    fw_fuzz_serve_cfg.alias_poll_s = 0;
    if (fw_serve_config_set_str(&fw_fuzz_serve_cfg.models_dir, fw_fuzz_serve_dir)) abort();
    fw_err err;
    fw_err_clear(&err);
    if (fw_server_new(&fw_fuzz_serve_cfg, &fw_fuzz_serve_srv, &err)) {
        fprintf(stderr, "fuzz_serve: server: %s\n", err.msg);
        abort();
    }
    atexit(fw_fuzz_serve_rm);
    return fw_fuzz_serve_srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fw_server *s = fw_fuzz_serve_server();
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    static const char *const paths[] = {
        "/v1/models/m:predict",     "/v1/models/m:explain",      "/v1/models/mc/versions/1:predict",
        "/v1/models/m/aliases/production:predict", "/v1/rank",   "/v1/feedback",
        "/v2/models/m/infer",       "/v2/models/mc/versions/1/infer", "/v1/models/nope:predict",
        "/v2/models/nope/infer",
    };
    const char *path = paths[sel % (sizeof paths / sizeof *paths)];
    fw_route rt;
    fw_route_match("POST", path, &rt);
    if (rt.status != 0) abort();
    fw_reply r;
    memset(&r, 0, sizeof r);
    fw_buf_init(&r.body);
    switch (rt.kind) {
    case FW_ROUTE_V1_PREDICT: fw__api_predict(s, &rt, body, len, false, &r); break;
    case FW_ROUTE_V1_EXPLAIN: fw__api_predict(s, &rt, body, len, true, &r); break;
    case FW_ROUTE_V1_RANK: fw__api_rank(s, &rt, body, len, &r); break;
    case FW_ROUTE_V1_FEEDBACK: fw__api_feedback(s, "127.0.0.1", NULL, body, len, &r); break;
    case FW_ROUTE_V2_INFER: fw__api_v2(s, &rt, body, len, &r); break;
    default: abort();
    }
    if (r.code < 200 || r.code > 599) {
        fprintf(stderr, "fuzz_serve: %s answered HTTP %d\n", path, r.code);
        abort();
    }
    if (fw_buf_ok(&r.body)) {
        json_error_t je;
        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, &je);
        if (!j) {
            fprintf(stderr, "fuzz_serve: %s answered %d with invalid JSON (%s): %.*s\n", path, r.code, je.text,
                    (int)r.body.len, (const char *)r.body.data);
            abort();
        }
        json_decref(j);
    }
    fw_srv_model_unref(r.hold);
    fw_buf_free(&r.body);
    return 0;
}

#include "driver.h"
