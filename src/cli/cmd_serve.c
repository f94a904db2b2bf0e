/* cmd_serve.c — owns `flywheel serve`: maps the flags and the config file's `serving:` section
 * onto fw_serve_config, starts the server, prints the bound address on stdout, and on SIGTERM or
 * SIGINT drains in-flight requests and flushes the prediction log before exiting. */
#include "cli/cli.h"
#include "serve/config.h"
#include "serve/server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "serve";

static void usage(FILE *f) {
    fprintf(f,
            "usage: flywheel serve [--home DIR] [--host 127.0.0.1] [--port 8080] [--threads N]\n"
            "                      [--config flywheel.yaml] [--models-dir DIR] [--log PATH]\n"
            "                      [--admin-token TOKEN] [--max-body BYTES] [--model-memory BYTES]\n"
            "                      [--batch-max-age SECONDS] [--alias-poll SECONDS]\n\n"
            "Serves every model of the registry with a `production` alias (and any NAME@ALIAS under\n"
            "serving.models) over HTTP/1.1: v1 JSON (:predict, :explain, /v1/rank, /v1/feedback),\n"
            "KServe v2 (/v2/...), /metrics (Prometheus), /healthz and /admin (bearer token).\n\n"
            "  --home DIR             Flywheel home: the registry the models come from, and the store\n"
            "                         the prediction log and feedback go to (default $FLYWHEEL_HOME,\n"
            "                         else ./.flywheel; --store is the same flag)\n"
            "  --models-dir DIR       serve linear JSON models from DIR instead of the registry\n"
            "  --log PATH             prediction log as JSON lines in PATH instead of the store\n"
            "  --batch-max-age S      hybrid: a request with entity_id is answered from the batch answer\n"
            "                         of the served version (flywheel batch --output store) when younger\n"
            "                         than S seconds (serving.batch_max_age_s; 0 = off, the default)\n"
            "  --alias-poll S         re-read aliases every S seconds: `flywheel models promote` in another\n"
            "                         process is served within S (serving.alias_poll_s, default 2)\n\n"
            "--port 0 picks a free port; the bound address is printed on stdout:\n"
            "  flywheel serve: listening on http://HOST:PORT\n"
            "Flags override the config file. SIGTERM drains in-flight requests and flushes the log.\n");
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi) {
        fw_cli_fail(CMD, FW_EXIT_USAGE, "%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int fw_cmd_serve(int argc, char **argv) {
    const char *config = NULL, *host = NULL, *port = NULL, *threads = NULL, *dir = NULL, *store = NULL,
               *logp = NULL, *token = NULL, *maxbody = NULL, *mem = NULL, *maxage = NULL, *poll = NULL;
    for (int i = 1; i < argc; i++) {
        if (fw_cli_is_help(argv[i])) {
            usage(stdout);
            return FW_EXIT_OK;
        }
        int r;
        if ((r = fw_cli_opt(argc, argv, &i, "--config", &config, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--host", &host, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--port", &port, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--threads", &threads, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--models-dir", &dir, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--store", &store, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--home", &store, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--batch-max-age", &maxage, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--alias-poll", &poll, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--log", &logp, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--admin-token", &token, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--max-body", &maxbody, CMD)) ||
            (r = fw_cli_opt(argc, argv, &i, "--model-memory", &mem, CMD))) {
            if (r < 0) return FW_EXIT_USAGE;
            continue;
        }
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "unknown option '%s' (see flywheel serve --help)", argv[i]);
    }
    fw_serve_config cfg;
    fw_serve_config_init(&cfg);
    fw_err err;
    fw_err_clear(&err);
    int code = FW_EXIT_OK;
    double d;
    if (config && fw_serve_config_load(&cfg, config, &err) != FW_OK) {
        code = fw_cli_fail(CMD, FW_EXIT_USAGE, "%s", err.msg);
        goto done;
    }
    if (host) fw_serve_config_set_str(&cfg.host, host);
    if (dir) fw_serve_config_set_str(&cfg.models_dir, dir);
    if (store) fw_serve_config_set_str(&cfg.store_path, store);
    if (logp) fw_serve_config_set_str(&cfg.log_path, logp);
    if (token) fw_serve_config_set_str(&cfg.admin_token, token);
    if (port) {
        if (parse_num("--port", port, 0, 65535, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.port = (int)d;
    }
    if (threads) {
        if (parse_num("--threads", threads, 0, 1024, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.threads = (int)d;
    }
    if (maxbody) {
        if (parse_num("--max-body", maxbody, 64, 1 << 30, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.max_body_bytes = (size_t)d;
    }
    if (maxage) {
        if (parse_num("--batch-max-age", maxage, 0, 1e9, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.batch_max_age_s = d;
    }
    if (poll) {
        if (parse_num("--alias-poll", poll, 0, 86400, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.alias_poll_s = d;
    }
    if (mem) {
        if (parse_num("--model-memory", mem, 0, 1e15, &d)) { code = FW_EXIT_USAGE; goto done; }
        cfg.model_memory_bytes = (size_t)d;
    }
    /* Block the stop signals in every thread (the server's inherit the mask); wait for them here. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Request threads allocate each prediction's log record (its request text included); the log
     * writer frees it milliseconds later. With glibc's defaults every drained queue let the request
     * threads' heaps shrink and every burst fault them in again: sysmalloc and page faults took a
     * third of the request threads' CPU with 4 KB bodies (36-44 µs a request, 25-31 with these;
     * docs/bench/serve.md). Free heap kept for reuse is bounded by the threshold per arena. */
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    fw_server *s = NULL;
    if (fw_server_new(&cfg, &s, &err) != FW_OK || fw_server_start(s, &err) != FW_OK) {
        code = fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        fw_server_free(s);
        goto done;
    }
    printf("flywheel serve: listening on %s://%s:%d\n", cfg.tls_cert ? "https" : "http", cfg.host, fw_server_port(s));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "flywheel serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fw_server_drain(s);
    fw_server_free(s);
    fprintf(stderr, "flywheel serve: stopped\n");
done:
    fw_serve_config_free(&cfg);
    return code;
}
