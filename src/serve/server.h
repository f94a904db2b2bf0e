/* server.h — owns the online prediction server: libmicrohttpd (epoll, internal thread pool) in
 * front of the model table, the v1 JSON API, the KServe Open Inference Protocol v2, /v1/rank,
 * /v1/feedback, /metrics, /healthz and the admin endpoints; the asynchronous prediction log; and
 * the drain on shutdown.
 *
 * Example:
 *   fw_serve_config cfg; fw_serve_config_init(&cfg);  ... set fields ...
 *   fw_server *s; if (fw_server_new(&cfg, &s, &err) || fw_server_start(s, &err)) fail(err.msg);
 *   printf("port %d\n", fw_server_port(s));
 *   ... wait for SIGTERM ...
 *   fw_server_drain(s);   // stop accepting, finish in-flight requests, flush the log
 *   fw_server_free(s);
 *
 * Thread safety: fw_server_new/start/drain/free from one controlling thread; requests are served
 * by the pool's threads. */
#ifndef FW_SERVE_SERVER_H
#define FW_SERVE_SERVER_H

#include "flywheel.h"
#include "serve/config.h"

typedef struct fw_server fw_server;

/* Builds the server from cfg (kept by pointer: cfg must outlive the server): the model source
 * (cfg->models_dir, else the registry of the store at cfg->store_path / $FLYWHEEL_HOME /
 * ./.flywheel), the model table, the log queue (cfg->log_path as JSON lines, else the store's
 * prediction_log and feedback tables when serving from the store) and the hybrid batch-answer
 * lookup (cfg->batch_max_age_s > 0 with the store). Does not bind. */
fw_status fw_server_new(const fw_serve_config *cfg, fw_server **out, fw_err *err);
/* Binds host:port and starts the worker threads; preloads cfg->models and every model with a
 * `production` alias (up to the memory bound). FW_EIO when the port cannot be bound. */
fw_status fw_server_start(fw_server *s, fw_err *err);
/* The bound port (useful with port 0). */
int fw_server_port(const fw_server *s);
/* Re-resolves aliases now (what the poll thread and POST /admin/reload do). */
fw_status fw_server_reload(fw_server *s, fw_err *err);
/* Turns unready, answers on for cfg->drain_delay_s (a load balancer's health checks notice), then
 * stops accepting connections, waits up to cfg->drain_timeout_s for in-flight requests, stops the
 * threads and flushes the prediction log. Idempotent. */
void fw_server_drain(fw_server *s);
void fw_server_free(fw_server *s);

#endif
