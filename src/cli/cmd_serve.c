/* cmd_serve.c — owns `flywheel serve`: maps the flags and the config file's `serving:` section
 * onto fw_serve_config, starts the server, prints the bound address on stdout, and on SIGTERM or
 * SIGINT drains in-flight requests and flushes the prediction log before exiting. */
#include "cli/args.h"
#include "cli/cli.h"
#include "serve/config.h"
#include "serve/server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CMD = "serve";

static const char usage_text[] =
    "usage: flywheel serve [--home DIR] [--port 8080] [--config flywheel.yaml] [options]\n\n"
    "Serves every model of the registry with a `production` alias (and any NAME@ALIAS under\n"
    "serving.models) over HTTP/1.1: v1 JSON (:predict, :explain, /v1/rank, /v1/feedback),\n"
    "KServe v2 (/v2/...), /metrics (Prometheus), /healthz and /admin (bearer token).\n\n";

static const char epilog[] =
    "\n--port 0 picks a free port; the bound address is printed on stdout:\n"
    "  flywheel serve: listening on http://HOST:PORT\n"
    "Flags override the config file. SIGTERM drains in-flight requests and flushes the log.\n";

int fw_cmd_serve(int argc, char **argv) {
    const char *config = NULL, *host = NULL, *dir = NULL, *store = NULL, *logp = NULL, *token = NULL;
    int port = 0, threads = 0;
    double maxbody = 0, mem = 0, maxage = 0, poll = 0;
    fw_opt opts[] = {
        {"--home", 0, FW_OPT_STRING, &store, "DIR",
         "Flywheel home: the registry the models come from, and the store\n"
         "the prediction log and feedback go to (default $FLYWHEEL_HOME,\nelse ./.flywheel)"},
        {"--store", 0, FW_OPT_STRING, NULL, "DIR", "the same as --home", .same_as = "--home"},
        {"--host", 0, FW_OPT_STRING, &host, "ADDR", "address to listen on (serving.host; default 127.0.0.1)"},
        {"--port", 0, FW_OPT_INT, &port, "N", "port (serving.port, default 8080; 0 picks a free one)",
         FW_OPT_RANGE(port, 0, 65535)},
        {"--threads", 0, FW_OPT_INT, &threads, "N", "HTTP worker threads (serving.threads; default 0: the online cores)",
         FW_OPT_RANGE(threads, 0, 1024)},
        {"--config", 0, FW_OPT_STRING, &config, "FILE", "a project or config file with a serving: section"},
        {"--models-dir", 0, FW_OPT_STRING, &dir, "DIR", "serve linear JSON models from DIR instead of the registry"},
        {"--log", 0, FW_OPT_STRING, &logp, "PATH", "prediction log as JSON lines in PATH instead of the store"},
        {"--admin-token", 0, FW_OPT_STRING, &token, "TOKEN", "bearer token for /admin (serving.admin_token)"},
        {"--max-body", 0, FW_OPT_DOUBLE, &maxbody, "BYTES", "larger request bodies get 413 (serving.max_body_bytes; default 1 MiB)",
         .lo = 64, .hi = 1 << 30},
        {"--model-memory", 0, FW_OPT_DOUBLE, &mem, "BYTES",
         "LRU bound on loaded models (serving.model_memory_bytes; default 1 GiB)",
         .lo = 0, .hi = 1e15},
        {"--batch-max-age", 0, FW_OPT_DOUBLE, &maxage, "S",
         "hybrid: a request with entity_id is answered from the batch answer\n"
         "of the served version (flywheel batch --output store) when younger\n"
         "than S seconds (serving.batch_max_age_s; 0 = off, the default)",
         .lo = 0, .hi = 1e9},
        {"--alias-poll", 0, FW_OPT_DOUBLE, &poll, "S",
         "re-read aliases every S seconds: `flywheel models promote` in another\n"
         "process is served within S (serving.alias_poll_s, default 2)",
         .lo = 0, .hi = 86400},
    };
    fw_args a = {.cmd = CMD, .usage = usage_text, .epilog = epilog, .opts = opts, .n_opts = sizeof opts / sizeof *opts};
    int code = FW_EXIT_OK;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    fw_serve_config cfg;
    fw_serve_config_init(&cfg);
    fw_err err;
    fw_err_clear(&err);
    if (config && fw_serve_config_load(&cfg, config, &err) != FW_OK) {
        code = fw_cli_fail(CMD, FW_EXIT_USAGE, "%s", err.msg);
        goto done;
    }
    if (host) fw_serve_config_set_str(&cfg.host, host);
    if (dir) fw_serve_config_set_str(&cfg.models_dir, dir);
    if (store) fw_serve_config_set_str(&cfg.store_path, store);
    if (logp) fw_serve_config_set_str(&cfg.log_path, logp);
    if (token) fw_serve_config_set_str(&cfg.admin_token, token);
    if (fw_args_seen(&a, "--port")) cfg.port = port;
    if (fw_args_seen(&a, "--threads")) cfg.threads = threads;
    if (fw_args_seen(&a, "--max-body")) cfg.max_body_bytes = (size_t)maxbody;
    if (fw_args_seen(&a, "--batch-max-age")) cfg.batch_max_age_s = maxage;
    if (fw_args_seen(&a, "--alias-poll")) cfg.alias_poll_s = poll;
    if (fw_args_seen(&a, "--model-memory")) cfg.model_memory_bytes = (size_t)mem;
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
