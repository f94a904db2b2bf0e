/* server_int.h — the server's private parts shared by server.c (HTTP plumbing, lifecycle, admin,
 * metrics) and the API files (api_v1.c, api_v2.c): the server struct, the reply being built, JSON
 * writing helpers and model-route resolution with traffic splits. */
#ifndef FW_SERVE_SERVER_INT_H
#define FW_SERVE_SERVER_INT_H

#include "core/buf.h"
#include "core/json_out.h"
#include "serve/config.h"
#include "serve/hybrid.h"
#include "serve/logq.h"
#include "serve/metrics.h"
#include "serve/models.h"
#include "serve/request_id.h"
#include "serve/routes.h"
#include "serve/server.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct MHD_Daemon;

struct fw_server {
    const fw_serve_config *cfg;
    fw_model_table *models;
    fw_logq *logq;              /* NULL: logging off */
    bool log_to_store;          /* the sink is the store (feedback verdicts counted by the sink) */
    fw_hybrid *hybrid;          /* NULL: no hybrid answers */
    struct MHD_Daemon *d;       /* the listener (serving.listeners: shared), or the first of n_listeners */
    struct MHD_Daemon **more;   /* per_thread: listeners 1..n_listeners-1, one thread each (SO_REUSEPORT) */
    int n_listeners;            /* 1 (shared) or threads (per_thread) */
    _Atomic unsigned long long *listener_conns; /* connections accepted by each listener (/metrics) */
    int port;
    int threads;
    atomic_long inflight;
    atomic_bool draining;
    atomic_bool ready;
    /* the readiness check's last listing of the `production` names (fw__routes_unready): while
     * the store cannot be reached the replica stays ready on what it has loaded */
    pthread_mutex_t ready_mu;
    char **ready_names;
    size_t n_ready_names;
    atomic_bool stopped;
    uint32_t boot;              /* random per process */
    fw_reqid_key idkey;         /* request ids: request_id.h */
    /* fw__request_id_model's cache: model code -> the loaded model (a reference), valid while the
     * table's generation is idc_gen; without it every feedback scanned the whole route table
     * (max_models x 2 cells, 1 MiB at the default) once per use — three times with learning on */
    pthread_mutex_t idc_mu;
    uint64_t idc_gen;
    struct { uint32_t code; fw_srv_model *m; } idc[64];
    struct fw_label_set *labels; /* request ids labelled through this process (feedback_labels.h) */
    atomic_ullong next_req;
    fw_srv_metrics *global;     /* requests that reached no model */
    atomic_ullong feedback_matched, feedback_unmatched;
    atomic_ullong bad_requests;
    pthread_t poller;
    bool poller_started;
    atomic_bool stop_poll;
    const char *admin_token;    /* cfg or env; NULL = admin disabled */
    uint64_t start_ns;
    /* admin requests waiting (connection suspended) for their loader job; see api_admin */
    pthread_mutex_t admin_mu;
    struct conn_req *waiters;   /* under admin_mu */
    bool admin_closed;          /* under admin_mu: draining, no more suspensions */
    fw_model_job *poll_job;     /* the alias poll's last reload job (poller thread only) */
    bool slow_decode;           /* /v1 bodies always through jansson (env FLYWHEEL_SERVE_SLOW_DECODE=1;
                                   tests compare the two paths) */
    /* guards (server.c; docs/SECURITY.md) */
    const char *role_token[3];  /* predict, rank, feedback bearer tokens (cfg or env); NULL = open */
    pthread_mutex_t conn_mu;
    struct fw_conn *conns;      /* open connections with their phase deadlines, under conn_mu */
    size_t n_conns;             /* under conn_mu */
    atomic_ullong conns_closed_slow, conns_closed_pressure;
    atomic_size_t pending_reply_bytes; /* large replies queued, not yet sent */
    atomic_ullong refused_pending;     /* large replies refused because of pending_reply_bytes */
    atomic_ullong refused_no_room;     /* requests refused (431): no room for their reply (reply_fits) */
    size_t conn_mem;                   /* libmicrohttpd's connection pool, bytes */
    char *tls_cert_pem, *tls_key_pem;  /* kept while the daemon runs */
    struct fw_srv_monitoring *monitoring; /* NULL: monitoring.enabled false (serve/monitoring.h) */
    struct fw_srv_learning *learning;     /* NULL: learn.online off (serve/learning.h) */
    struct fw_srv_bandits *bandits;       /* NULL: no `kind: bandit` split (serve/bandit.h) */
    struct fw_rollout *rollout;           /* NULL: no canary rollout configured (serve/rollout.h) */
    struct fw_shadowq *shadowq;           /* NULL: no shadow split or no log (serve/shadow.h) */
    struct fw_canary_runner *canary;      /* NULL: no rollout evaluates its canary off the request thread
                                             (serve/canary_runner.h) */
    double fault_error_p;       /* test builds: FLYWHEEL_TEST_CANARY_FAULT=error=P makes a canary fail this share */
    unsigned fault_delay_us;    /* ... =delay_us=N makes every canary answer N us later */
    bool fault_hang;            /* ... =hang makes every canary (and shadow) answer only when the server stops */
    pthread_mutex_t fault_mu;   /* fault_hang's wait */
    pthread_cond_t fault_cv;
    bool fault_released;        /* under fault_mu: the server is stopping, hung canaries return */
};

/* What a handler produces. */
typedef struct fw_reply {
    int code;
    fw_buf body;
    const char *allow;          /* 405 */
    char request_id[48];
    const char *auth_role;      /* the data-plane token role that authorised the request (NULL: none);
                                   recorded with feedback as its source */
    fw_srv_metrics *metrics;    /* where to count the request (NULL → server's global) */
    int variant;
    fw_srv_model *hold;         /* a reference released after metrics are recorded */
    bool suspended;             /* the connection was suspended: no reply now (admin jobs) */
    size_t max_bytes;           /* serving.max_reply_bytes (0 = no cap): see fw__reply_too_large */
    uint64_t t0_ns;             /* predict / infer: when the request began (the monitor's latency) */
    struct fw_rollout_split *ro; /* the canary rollout that routed it (NULL: none); counted when it ends */
    int ro_arm;                 /* FW_RO_CHAMPION or FW_RO_CANARY: the arm it was routed to */
    bool ro_failed;             /* it was routed to the canary, which failed: the champion answered */
    unsigned resolve_flags;     /* FW_RESOLVE_* for fw__resolve_flags */
    struct MHD_Connection *conn; /* predict / explain / infer / rank: the connection (to suspend while a
                                    canary runs) */
    struct fw_canary_job **canary_slot; /* ... and where its canary job is kept across the suspension */
} fw_reply;

/* True, after replacing the reply with 413 reply_too_large, when the body being built has grown
 * past r->max_bytes: loops that write one entry per instance call it so that no reply is built
 * past serving.max_reply_bytes. */
bool fw__reply_too_large(fw_reply *r);

/* {"error": {"code": code_name, "message": msg}} with reply code http. Returns nothing. */
void fw__reply_error(fw_reply *r, int http, const char *code_name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* KServe v2 error body {"error": msg}. */
void fw__reply_error_v2(fw_reply *r, int http, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses a JSON body; on failure fills a 400 reply naming line/column and returns NULL. */
json_t *fw__parse_body(fw_reply *r, const char *body, size_t len, bool v2);
/* HTTP code for a status from the model table. */
int fw__http_for(fw_status st);

/* The model answering a request and an optional shadow. */
typedef struct fw_srv_target {
    fw_srv_model *m;
    int variant;
    fw_srv_model *shadow;       /* scores and is logged, never answers; may be NULL */
    struct fw_rollout_split *ro; /* a canary rollout's split routed it (NULL: none) */
    int ro_arm;                 /* then: FW_RO_CHAMPION or FW_RO_CANARY */
} fw_srv_target;
/* fw__resolve_flags: FW_RESOLVE_CHAMPION answers with the default route's model even when the
 * split would pick the canary (a failed canary's request is answered again by the champion);
 * FW_RESOLVE_CANARY sends a rollout's request to the canary while its share is above 0 (the
 * request was routed there before it was handed to a canary runner). */
enum { FW_RESOLVE_CHAMPION = 1, FW_RESOLVE_CANARY = 2 };
/* Resolves a route (explicit version/alias, or the default route with traffic splits keyed by
 * entity_id or the request number). References in t are released with fw__target_release. */
fw_status fw__resolve(fw_server *s, const char *name, const char *alias, const char *version,
                      const char *entity_id, uint64_t reqno, fw_srv_target *t, fw_err *err);
fw_status fw__resolve_flags(fw_server *s, const char *name, const char *alias, const char *version,
                            const char *entity_id, uint64_t reqno, unsigned flags, fw_srv_target *t, fw_err *err);
void fw__target_release(fw_srv_target *t);
/* The canary rollout split that routes request number reqno of route rt to its canary, evaluated
 * off the request thread (its timeout_ms > 0, its share below 100%); NULL otherwise. *timeout_ns:
 * the split's timeout_ms. */
struct fw_rollout_split *fw__canary_route(fw_server *s, const fw_route *rt, uint64_t reqno, uint64_t *timeout_ns);
/* A canary runner thread (canary_runner.h): answers a predict / explain, /v2 infer or /v1 rank
 * request (by rt->kind; its id already in r->request_id, its number reqno) with the canary of
 * rollout split ro, into r. */
void fw__canary_run(fw_server *s, struct fw_rollout_split *ro, const fw_route *rt, const char *body, size_t len,
                    bool explain, uint64_t reqno, fw_reply *r);
/* Test builds (FLYWHEEL_TEST_CANARY_FAULT, api_v1.c): when t routes to a challenger, makes it slow,
 * fail (an error reply into r: true) or hang; false otherwise, and always in shipped builds. */
bool fw__canary_fault(fw_server *s, const fw_srv_target *t, uint64_t reqno, fw_reply *r);
/* Test builds (FLYWHEEL_TEST_CANARY_FAULT=hang): blocks until the server stops. */
void fw__fault_hang(fw_server *s);
/* Readiness: tries every served route (serving.models and each model's production alias) and
 * appends {"route","error"} objects, comma-separated, to out for those that cannot answer (a
 * damaged artifact, a missing version). Returns how many. */
size_t fw__routes_unready(fw_server *s, fw_buf *out);

/* New request id into r->request_id (naming no model yet); returns the request number. */
uint64_t fw__new_request_id(fw_server *s, fw_reply *r);
/* Re-issues r's id (same request number) naming m, the model that answers (request_id.h), so that
 * feedback naming only the id can be checked against m's classes. */
void fw__request_id_bind(fw_server *s, fw_reply *r, const fw_srv_model *m);
/* The loaded model of a request id's model code (fw_reqid_code of an id this process issued), with
 * a reference the caller drops (fw_srv_model_unref); NULL when code is 0 (the id names no model) or
 * that version is no longer loaded. The caller checks the id once (fw_reqid_code) and carries the
 * code and the model: a feedback looks its model up once for the label's check, the monitor and
 * the learner. */
fw_srv_model *fw__request_id_model(fw_server *s, uint32_t code);
/* Queues one prediction log record for n instances (no-op when logging is off): inputs is the
 * request's JSON text (copied as is), out the model's n x n_outputs scores, dec the decisions (may
 * be NULL). protocol: "v1" or "v2". Never encodes numbers on the request thread. */
void fw__log_prediction(fw_server *s, const char *rid, const fw_srv_model *m, int variant, const char *entity,
                        uint64_t latency_ns, const char *inputs, size_t inputs_len, const double *out,
                        const fw_srv_decision *dec, size_t n, const char *protocol);

/* The shadow thread (shadow.h): scores one queued request body with shadow model m and logs it as
 * the `shadow` variant under the request's id rid (entity may be NULL). */
void fw__shadow_score(fw_server *s, const fw_srv_model *m, const char *body, size_t len, const char *rid,
                      const char *entity);

/* Requests this thread answered through the fast /v1 decoder (v1_fuzz.c reads it): counted in test
 * builds only (core/test_hooks.h); a file that counts includes that header. */
#ifdef FW_TEST
extern _Thread_local uint64_t fw__v1_fast_answers;
#define FW_V1_FAST_ANSWERED() ((void)fw__v1_fast_answers++)
#else
#define FW_V1_FAST_ANSWERED() ((void)0)
#endif

/* Handlers. body may be NULL for GET. */
void fw__api_predict(fw_server *s, const fw_route *rt, const char *body, size_t len, bool explain, fw_reply *r);
void fw__api_rank(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r);
/* A canary runner thread: answers a /v2 infer request (its id already in r, number reqno) with the
 * canary of the rollout that routed it (api_v2.c). */
void fw__v2_infer_canary(fw_server *s, const fw_route *rt, const char *body, size_t len, uint64_t reqno, fw_reply *r);
/* A feedback request across MHD's two calls: the first queues the record and suspends the
 * connection (its worker thread serves others meanwhile), the log's writer/syncer resumes it once
 * the record is durable (or not kept), and the second call answers. */
struct MHD_Connection;
typedef struct fw_feedback_wait {
    struct MHD_Connection *conn; /* NULL: no connection to suspend (fuzzing): wait on this thread */
    _Atomic int phase;           /* 0 new, 1 waiting, 2 answered (outcome set) */
    fw_status outcome;
    int claim;                   /* the label claim taken on the first call (feedback_labels.h) */
    /* kept from the first call for the second (parsed and looked up once): */
    struct json_t *body;         /* the parsed body (jansson) */
    fw_srv_model *m;             /* the model the request id names (a reference), or NULL */
    bool known;                  /* the request id was issued by this process */
    uint32_t code;               /* its model code (fw_reqid_code), 0 for none */
} fw_feedback_wait;
/* Drops what w still keeps (a request closed between its two calls); w stays usable. */
void fw__feedback_wait_release(fw_feedback_wait *w);
/* origin: who sent it ("<remote address>[ role=<role>]"), recorded with the feedback. w: the
 * request's wait state (zeroed for a new request; may be NULL). */
void fw__api_feedback(fw_server *s, const char *origin, fw_feedback_wait *w, const char *body, size_t len,
                      fw_reply *r);
void fw__api_v2(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r);

#endif
