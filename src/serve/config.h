/* config.h — owns the server's configuration: one struct with defaults (_init), filled by the CLI
 * flags of `flywheel serve` and by the `serving:` section of a YAML config/project file.
 *
 * Example (flywheel.yaml):
 *   serving:
 *     host: 127.0.0.1
 *     port: 8080
 *     threads: 2
 *     max_body_bytes: 1048576
 *     models: [spam@production, churn@staging]
 *     model_memory_bytes: 1073741824
 *     admin_wait_s: 10              # admin alias/load/reload: 200 when done within, else 202
 *     log: {path: predictions.jsonl, capacity: 65536, policy: drop-newest, sample: 0.1,
 *           spool_bytes: 1073741824, ingest_batch: 4096, catch_up: true, direct: true, flush_ms: 2,
 *           retention: {max_age_s: 2592000, max_rows: 100000000, max_bytes: 53687091200}}
 *     splits:
 *       - {model: spam, kind: canary, challenger: spam@staging, percent: 10}
 *       - {model: ads, kind: bandit, challenger: ads@staging, reward: {event: click, kind: rate, window_s: 600},
 *          min_share: 0.05}
 *       - model: churn                # a canary rollout (docs/EXPERIMENTS.md, "Safe rollout")
 *         kind: canary
 *         challenger: churn@staging
 *         steps: [1, 5, 25, 100]      # percent; the analysis advances them
 *         tick_s: 10
 *         min_requests: 1000          # per arm and step before a step may advance
 *         alpha: 0.05
 *         deadline_ms: 250            # a slower canary request rolls back at once
 *         timeout_ms: 1000            # the champion answers a canary request not answered by then
 *         max_inflight: 8             # canary evaluations at once (off the HTTP threads)
 *         rollback: {errors: 0.01, p99: 0.5, srm: 0.001, metric: 0.02}
 *         metrics:
 *           - {name: ctr, event: click, kind: rate, better: higher, min_effect: 0.01, margin: 0.005}
 *     batch_max_age_s: 86400        # hybrid: answer entity_id requests from `flywheel batch --output store`
 *     rank: {objectives: [{model: quality, weight: 0.7}], filters: [{model: spam, max: 0.9}]}
 *     request_timeout_s: 10         # guards: docs/SECURITY.md
 *     max_instances: 10000
 *     max_reply_bytes: 16777216
 *     predict_token: ...            # also rank_token, feedback_token
 *     cors_origins: [https://app.example.com]
 *     tls: {cert: server.pem, key: server.key}
 *
 * and, in the same file, the top-level `monitoring:` section (docs/MONITORING.md, "In the server"):
 *   monitoring:
 *     enabled: true                 # false: no monitor, no /monitor state, no alarms
 *     step_rows: 50                 # a block of predictions closes after this many ...
 *     block_s: 300                  # ... or before the first row this many seconds past its first
 *                                   # (0: by count only; the replay: --time-column)
 *     window_rows: 1000             # drift and prediction tests look at the last this many rows
 *     quality_rows: 200             # quality and latency tests look at the last this many rows
 *     sensitivity: 1                # > 1 more sensitive, < 1 less (thresholds scaled)
 *     columns: [age, income]        # the inputs watched (default: every input)
 *     metrics_columns: 50           # /metrics: per-column series for at most this many columns
 *     history: true                 # raised / cleared alarms kept in the store (`monitor --history`)
 *     join_table: 65536             # most recent predictions a version keeps for the label join (grows
 *                                   # with the traffic up to this; older ones are read from the store)
 *     alerts:
 *       log: true                   # one stderr line per raised / cleared alarm
 *       webhook: https://hooks.example.com/flywheel   # POST of the JSON alert
 *       retries: 5                  # attempts after the first, backoff_s doubling each time
 *       backoff_s: 0.5
 *       timeout_s: 5                # per attempt
 *       queue: 1024                 # alerts waiting to be sent; past it the newest are dropped (counted)
 */
#ifndef FW_SERVE_CONFIG_H
#define FW_SERVE_CONFIG_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* serving.log.queue_bytes by default: the bound on queued prediction records' memory (logq.h) */
#define FW_LOG_QUEUE_BYTES_DEFAULT ((size_t)16 << 20)

/* What the log queue does when it is full. */
typedef enum fw_log_policy {
    FW_LOG_DROP_NEWEST = 0, /* the record being added is dropped (counted) */
    FW_LOG_DROP_OLDEST,     /* the oldest queued record is dropped to make room */
    FW_LOG_SAMPLE,          /* above half full, only a `sample` fraction is kept; when full, newest dropped */
} fw_log_policy;
const char *fw_log_policy_name(fw_log_policy p);
bool fw_log_policy_parse(const char *s, fw_log_policy *out);

/* A traffic split on a model's default route. */
typedef enum fw_split_kind_srv { FW_SPLIT_AB = 0, FW_SPLIT_CANARY, FW_SPLIT_SHADOW, FW_SPLIT_BANDIT } fw_split_kind_srv;
/* One business metric of a canary rollout (docs/EXPERIMENTS.md, "Safe rollout"): feedback events
 * named `event` joined to the arm that answered the request. */
typedef enum fw_rollout_metric_kind { FW_ROLLOUT_RATE = 0, FW_ROLLOUT_MEAN } fw_rollout_metric_kind;
typedef struct fw_rollout_metric {
    char *name;                 /* shown in the rollout state (required) */
    char *event;                /* the feedback event counted, e.g. click (required) */
    fw_rollout_metric_kind kind; /* rate: events per exposure; mean: sum of the events' values per exposure */
    bool higher_is_better;      /* better: higher (default) | lower */
    double min_effect;          /* the smallest difference per exposure that matters (> 0, required): the
                                   mixture's scale and the bar a step must clear to advance */
    double margin;              /* roll back when the canary is worse by more than this (>= 0; default 0) */
} fw_rollout_metric;

/* A canary's rollout policy: the steps the analysis advances through and when it rolls back. */
typedef struct fw_serve_rollout {
    double *steps;              /* percent of traffic to the canary, increasing, in (0, 100] */
    size_t n_steps;
    double tick_s;              /* analysis every this many seconds; default 10 */
    uint64_t min_requests;      /* requests per arm in a step before it may advance; default 1000 */
    double alpha;               /* level of the sequential tests; default 0.05 */
    double deadline_ms;         /* a canary request slower than this rolls back at once; 0 = none (default) */
    double timeout_ms;          /* a canary answer not ready after this is answered by the champion (the
                                   canary runs off the request thread: serve/canary_runner.h); default
                                   1000; 0 = the canary answers on the request thread, unbounded */
    uint64_t max_inflight;      /* canary evaluations at once; over it the champion answers; 0 = 4 x the
                                   serving threads (default) */
    double max_errors;          /* rollback.errors: error-rate margin (absolute); default 0.01 */
    double max_p99;             /* rollback.p99: relative p99 latency margin (0.5 = 1.5x the champion's); default 0.5 */
    double srm_alpha;           /* rollback.srm: level of the sequential SRM test; default 0.001 */
    bool live_metric;           /* rollback.metric given: the live model metric is a guard */
    double max_metric;          /* rollback.metric: margin on the mean loss per labelled request (a
                                   classifier's error 0/1, a regressor's absolute error) */
    fw_rollout_metric *metrics;
    size_t n_metrics;
} fw_serve_rollout;

typedef struct fw_serve_split {
    char *model;       /* model name the split applies to */
    fw_split_kind_srv kind;
    char *challenger;  /* "NAME@ALIAS" or "NAME#VERSION" */
    double percent;    /* ab / canary: share of traffic (0..100) sent to the challenger (a rollout: its
                          first step) */
    fw_serve_rollout *rollout; /* canary with steps: the analysis moves percent (serve/rollout.h); NULL = none */
    /* kind: bandit (serve/bandit.h, docs/EXPERIMENTS.md "Bandits"): the arms are the model's default
       route, `challenger` and `challengers`, routed by Thompson sampling on the reward */
    char **challengers;   /* more arms (NAME@ALIAS / NAME#VERSION) */
    size_t n_challengers;
    char *reward_event;   /* reward.event: the /v1/feedback event that is the reward (required) */
    int reward_mean;      /* reward.kind: 0 rate (Beta-Bernoulli, default), 1 mean (Gaussian) */
    double reward_window_s; /* reward.window_s: a trial counts when this has passed; default 3600 */
    double min_share;     /* each arm's share is at least this; default 0.05 */
    uint64_t seed;        /* the sampler's seed; default 1 */
} fw_serve_split;

/* The rollout of a split as YAML flow-map pairs (", steps: [...], tick_s: ..."; nothing when it has
 * none), so that parsing the split back gives the same policy (round trip). */
struct fw_buf;
void fw_serve_rollout_write(struct fw_buf *out, const fw_serve_split *sp);
void fw_serve_rollout_free(fw_serve_rollout *r);

/* One objective or filter of /v1/rank's defaults. */
typedef struct fw_serve_objective {
    char *model;
    double weight;     /* objectives */
    double max;        /* filters: drop a candidate whose score is above max */
    char *cls;         /* a classifier's class: its probability is the score (NULL: the primary score) */
} fw_serve_objective;

/* The `monitoring:` section: one monitor per served model version (serve/models.c), its alarms to
 * the alert thread (serve/alerts.h: log line, store history, webhook). */
typedef struct fw_serve_monitoring {
    bool enabled;               /* default true */
    /* windows (monitor/monitor.h fw_monitor_settings); 0 = the monitor's default. window_rows and
       quality_rows are whole numbers of blocks (checked against step_rows, given or default) */
    uint32_t step_rows, window_rows, quality_rows;
    double block_s;             /* a block also closes by time (monitor.h block_seconds); default 300; 0 = by count only */
    double sensitivity;         /* default 1 */
    char **columns;             /* the inputs watched; n_columns == 0: every input */
    size_t n_columns;
    size_t metrics_columns;     /* /metrics per-column series cap (label cardinality); default 50 */
    bool history;               /* alarms into the store (when there is one); default true */
    bool alert_log;             /* a stderr line per alarm raised / cleared; default true */
    char *webhook_url;          /* http:// or https:// URL; NULL = no webhook */
    unsigned webhook_retries;   /* attempts after the first; default 5 */
    double webhook_backoff_s;   /* delay before the first retry, doubled each retry (max 60 s); default 0.5 */
    double webhook_timeout_s;   /* per attempt (connect + send + answer); default 5 */
    size_t alert_queue;         /* alerts waiting for the alert thread; default 1024 */
    size_t join_table;          /* cap of a version's join table (perf.h table_slots); default 65536 */
} fw_serve_monitoring;

/* The top-level `learn:` section's in-server online learning (docs/LEARNING.md, "Online learning in
 * the server"; serve/learning.h). Keys this server does not read (the retrain policy's) are left
 * to the project parser. */
typedef struct fw_serve_learn {
    bool online;                /* learn.online: learn the served linear models from their labels; default false */
    char **models;              /* learn.models: the model names that learn (n_models == 0: every one) */
    size_t n_models;
    char *solver;               /* learn.solver: ftrl | sgd; NULL = ftrl */
    double lr, beta;            /* learn.lr (0.1), learn.beta (1) */
    double l1, l2;              /* learn.l1, learn.l2; NaN (default) = the batch model's own */
    size_t batch;               /* learn.batch: examples per update; default 32 */
    size_t snapshot_rows;       /* learn.snapshot.updates: a snapshot every this many examples; default 1000 */
    double snapshot_s;          /* learn.snapshot.interval: ... or this often (a duration); default 5m */
    size_t gate_min_rows;       /* learn.gate.min_rows: default 200 */
    double gate_confidence;     /* learn.gate.confidence: default 0.95 */
    double gate_min_improvement; /* learn.gate.min_improvement: on the primary metric; default 0 */
    bool promote;               /* learn.promote: auto (true) | none (false, the default) */
    /* retrain triggers (learn/retrain.h fw_retrain_run on a background thread) */
    double every_s;             /* learn.every: retrain on a schedule (a duration); 0 = off */
    uint64_t after_labels;      /* learn.after_labels: retrain after N new labels; 0 = off */
    bool on_drift, on_performance; /* learn.on_alarm: true (both) | [drift, performance] */
    double join_wait_s;         /* learn.join_wait_s: how long a label waits for its logged prediction; 30 */
    size_t queue;               /* learn.queue: labels waiting for the learning thread; 65536 */
    size_t join_cache;          /* learn.join_cache: recent predictions' inputs kept in memory per
                                   learning model for the label join (serve/learn_capture.h); 0 = off
                                   (every label joins through the store); 16384 */
} fw_serve_learn;

typedef struct fw_serve_config {
    char *host;                 /* default "127.0.0.1" */
    int port;                   /* default 8080; 0 = pick a free port (printed on stdout) */
    int threads;                /* worker threads; 0 = online cores */
    size_t max_body_bytes;      /* larger bodies get 413; default 1 MiB */
    unsigned conn_limit;        /* simultaneous connections; default 4096 */
    bool listen_per_thread;     /* serving.listeners: per_thread — one listening socket per worker
                                   thread (SO_REUSEPORT: the kernel spreads new connections over
                                   them) instead of one shared by the thread pool (shared, the
                                   default; a burst of connections can all land on one thread) */
    unsigned conn_timeout_s;    /* idle/stalled connection timeout; default 30 */
    size_t model_memory_bytes;  /* LRU bound on loaded models; default 1 GiB */
    size_t max_models;          /* distinct model routes; default 65536 */
    double alias_poll_s;        /* re-resolve aliases this often (0 = only on admin reload); default 2 */
    double drain_timeout_s;     /* SIGTERM waits this long for in-flight requests; default 10 */
    double drain_delay_s;       /* SIGTERM: unready (503) but still answering this long first, so a
                                   load balancer's health checks take the replica out before the
                                   listener closes; default 0 */
    double admin_wait_s;        /* admin load/alias/reload answer 200 when done within this, else 202
                                   {"status":"pending"} (the job goes on); 0 = always 202; default 10 */
    char *admin_token;          /* bearer token for /admin (env FLYWHEEL_ADMIN_TOKEN overrides NULL) */
    char *store_path;           /* the store (registry + logs); NULL = none */
    char *models_dir;           /* a directory source of models (see source_dir.c); NULL = none */
    char **models;              /* extra routes "NAME@ALIAS" to serve (and preload) */
    size_t n_models;
    /* Prediction log */
    char *log_path;             /* JSON-lines sink when there is no store; NULL = logging off */
    size_t log_capacity;        /* bounded queue size; default 65536 */
    size_t log_queue_bytes;     /* bound on the queued prediction records' memory (a ring reserved once);
                                   default FW_LOG_QUEUE_BYTES_DEFAULT */
    size_t log_cache_bytes;     /* the log store connection's page cache bound; 0 = the store's default
                                   (FW_STORE_LOG_CACHE_BYTES) */
    fw_log_policy log_policy;
    double log_sample;          /* FW_LOG_SAMPLE keep fraction; default 0.1 */
    size_t log_batch;           /* records per transaction; default 512 */
    size_t log_spool_bytes;     /* store sink: disk spool bound (log_spool.h); default 1 GiB; 0 = no spool */
    size_t log_ingest_batch;    /* spool -> store records per transaction; default 4096 */
    bool log_catch_up;          /* spool past half full: ingest at normal priority too; default true */
    bool log_direct;            /* an empty spool: the writer stores batches itself; default true */
    int log_flush_ms;           /* the log writer's flush interval: the kill -9 loss window; default 2 */
    double log_retention_age_s; /* serving.log.retention: prediction_log bounds (logq.h); 0 = none */
    uint64_t log_retention_rows, log_retention_bytes;
    double log_retention_interval_s;
    /* Hybrid batch answers */
    double batch_max_age_s;     /* precomputed predictions younger than this answer; 0 = never */
    double batch_cache_ttl_s;   /* how long a looked-up batch answer (or its absence) is reused; default 1 */
    /* Abstention override: when set (>= 0; 0 = never abstain) it replaces every served
     * classifier's own confidence threshold — an artifact's constraints.confidence_threshold and a
     * directory model's "confidence_threshold" alike (the config wins); the fallback stays the
     * model's own. Default -1: each model's own threshold. */
    double confidence_threshold;
    fw_serve_split *splits;
    size_t n_splits;
    fw_serve_objective *objectives;
    size_t n_objectives;
    fw_serve_objective *filters;
    size_t n_filters;
    /* Guards (docs/SECURITY.md) */
    unsigned request_timeout_s; /* a request's line, headers and body must all arrive within this many
                                   seconds of its first line (slow clients are closed); default 10 */
    size_t max_instances;       /* instances, v2 rows or rank candidates per request (413 over); default 10000 */
    size_t max_reply_bytes;     /* a reply over this is refused with 413; default 16 MiB */
    size_t max_pending_reply_bytes; /* large replies (> 64 KiB) queued but not yet sent, over all clients:
                                       a new large reply over it is refused with 503; default 256 MiB */
    char *predict_token;        /* bearer tokens per data-plane role (NULL = open; env FLYWHEEL_PREDICT_TOKEN, */
    char *rank_token;           /* FLYWHEEL_RANK_TOKEN, FLYWHEEL_FEEDBACK_TOKEN fill a NULL) */
    char *feedback_token;
    char **cors_origins;        /* origins answered for CORS (exact match, or "*"); none by default */
    size_t n_cors_origins;
    char *tls_cert;             /* PEM files: both set = HTTPS (libmicrohttpd + GnuTLS) */
    char *tls_key;
    fw_serve_monitoring monitoring; /* the top-level `monitoring:` section */
    fw_serve_learn learn;           /* the top-level `learn:` section (online learning) */
} fw_serve_config;

/* Fills the defaults above (pointers NULL except host). Free with fw_serve_config_free. */
void fw_serve_config_init(fw_serve_config *c);
void fw_serve_config_free(fw_serve_config *c);

/* Reads the `serving:`, `monitoring:` and `learn:` sections of a YAML file into c (other top-level sections
 * are ignored; a file without them leaves c unchanged). Unknown keys and wrong types are FW_ECONFIG
 * errors like "flywheel.yaml:12:5: serving.port: expected an integer in [0, 65535], got 'x'". */
fw_status fw_serve_config_load(fw_serve_config *c, const char *path, fw_err *err);
fw_status fw_serve_config_parse(fw_serve_config *c, const char *yaml, size_t len,
                                const char *name_for_errors, fw_err *err);

/* Sets a string field (frees the old value). FW_OK or FW_ENOMEM. */
fw_status fw_serve_config_set_str(char **field, const char *value);

#endif
