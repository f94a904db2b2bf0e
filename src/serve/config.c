/* config.c — owns fw_serve_config: defaults and the parsers of the `serving:` and `monitoring:`
 * YAML sections (libyaml document API; every error names the file, line, column and key). */
#include "serve/config.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/yaml_read.h"

#include <errno.h>
#include <math.h>
#include "project/learn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const char *fw_log_policy_name(fw_log_policy p) {
    switch (p) {
    case FW_LOG_DROP_NEWEST: return "drop-newest";
    case FW_LOG_DROP_OLDEST: return "drop-oldest";
    case FW_LOG_SAMPLE: return "sample";
    }
    return "?";
}

bool fw_log_policy_parse(const char *s, fw_log_policy *out) {
    for (int p = 0; p <= FW_LOG_SAMPLE; p++)
        if (strcmp(s, fw_log_policy_name((fw_log_policy)p)) == 0) {
            *out = (fw_log_policy)p;
            return true;
        }
    return false;
}

void fw_serve_config_init(fw_serve_config *c) {
    memset(c, 0, sizeof *c);
    c->host = fw_strdup("127.0.0.1");
    c->port = 8080;
    c->threads = 0;
    c->max_body_bytes = 1u << 20;
    c->conn_limit = 4096;
    c->conn_timeout_s = 30;
    c->model_memory_bytes = (size_t)1 << 30;
    c->max_models = 65536;
    c->alias_poll_s = 2.0;
    c->drain_timeout_s = 10.0;
    c->admin_wait_s = 10.0;
    c->log_capacity = 65536;
    c->log_queue_bytes = FW_LOG_QUEUE_BYTES_DEFAULT;
    c->log_policy = FW_LOG_DROP_NEWEST;
    c->log_sample = 0.1;
    c->log_batch = 512;
    c->log_spool_bytes = (size_t)1 << 30;
    c->log_ingest_batch = 4096;
    c->log_catch_up = true;
    c->log_direct = true;
    c->log_flush_ms = 2;
    c->batch_max_age_s = 0;
    c->batch_cache_ttl_s = 1.0;
    c->confidence_threshold = -1;
    c->request_timeout_s = 10;
    c->max_instances = 10000;
    c->max_reply_bytes = (size_t)16 << 20;
    c->max_pending_reply_bytes = (size_t)256 << 20;
    fw_serve_monitoring *m = &c->monitoring;
    m->enabled = true;
    m->sensitivity = 1;
    m->block_s = 300; /* a trickle is tested every 5 minutes; a stream that never pauses that long is
                         windowed by counts alone (docs/MONITORING.md, "Windows by time") */
    m->metrics_columns = 50;
    m->join_table = 65536;
    m->history = true;
    m->alert_log = true;
    m->webhook_retries = 5;
    m->webhook_backoff_s = 0.5;
    m->webhook_timeout_s = 5;
    m->alert_queue = 1024;
    fw_serve_learn *l = &c->learn;
    l->lr = 0.1;
    l->beta = 1;
    l->l1 = l->l2 = NAN;
    l->batch = 32;
    l->snapshot_rows = 1000;
    l->snapshot_s = 300;
    l->gate_min_rows = 200;
    l->gate_confidence = 0.95;
    l->promote = false;
    l->join_wait_s = 30;
    l->queue = 65536;
    l->join_cache = 16384;
}

static void free_objs(fw_serve_objective *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        fw_free(o[i].model);
        fw_free(o[i].cls);
    }
    fw_free(o);
}

static void free_split(fw_serve_split *s) {
    fw_free(s->model);
    fw_free(s->challenger);
    for (size_t j = 0; j < s->n_challengers; j++) fw_free(s->challengers[j]);
    fw_free(s->challengers);
    fw_free(s->reward_event);
    fw_serve_rollout_free(s->rollout);
}

void fw_serve_config_free(fw_serve_config *c) {
    if (!c) return;
    fw_free(c->host);
    fw_free(c->admin_token);
    fw_free(c->store_path);
    fw_free(c->models_dir);
    fw_free(c->log_path);
    for (size_t i = 0; i < c->n_models; i++) fw_free(c->models[i]);
    fw_free(c->models);
    for (size_t i = 0; i < c->n_splits; i++) free_split(&c->splits[i]);
    fw_free(c->splits);
    free_objs(c->objectives, c->n_objectives);
    free_objs(c->filters, c->n_filters);
    fw_free(c->predict_token);
    fw_free(c->rank_token);
    fw_free(c->feedback_token);
    for (size_t i = 0; i < c->n_cors_origins; i++) fw_free(c->cors_origins[i]);
    fw_free(c->cors_origins);
    fw_free(c->tls_cert);
    fw_free(c->tls_key);
    for (size_t i = 0; i < c->monitoring.n_columns; i++) fw_free(c->monitoring.columns[i]);
    fw_free(c->monitoring.columns);
    fw_free(c->monitoring.webhook_url);
    for (size_t i = 0; i < c->learn.n_models; i++) fw_free(c->learn.models[i]);
    fw_free(c->learn.models);
    fw_free(c->learn.solver);
    memset(c, 0, sizeof *c);
}

fw_status fw_serve_config_set_str(char **field, const char *value) {
    char *s = value ? fw_strdup(value) : NULL;
    if (value && !s) return FW_ENOMEM;
    fw_free(*field);
    *field = s;
    return FW_OK;
}

/* ---- YAML walking (core/yaml_read.h: typed getters, file:line:column errors) ------------------ */

static fw_status get_size(fw_yaml *y, yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi, size_t *out) {
    uint64_t v;
    fw_status st = fw_yaml_get_int(y, n, path, lo, hi, &v);
    if (st == FW_OK) *out = (size_t)v;
    return st;
}

static fw_status get_unsigned(fw_yaml *y, yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi, unsigned *out) {
    uint64_t v;
    fw_status st = fw_yaml_get_int(y, n, path, lo, hi, &v);
    if (st == FW_OK) *out = (unsigned)v;
    return st;
}

/* A string that must be given (null is refused). */
static fw_status get_name(fw_yaml *y, yaml_node_t *n, const char *path, char **out) {
    fw_status st = fw_yaml_get_str(y, n, path, out);
    if (st == FW_OK && !*out) return fw_yaml_error(y, n, "'%s': expected a string, got nothing", path);
    return st;
}

typedef struct objs_ud {
    fw_serve_objective *o;
    const char *path;
    bool filter;
} objs_ud;

static const char *const k_objective_keys[] = {"model", "class", "weight", NULL};
static const char *const k_filter_keys[] = {"model", "class", "max", NULL};

static fw_status objective_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *vud) {
    objs_ud *u = vud;
    char path[96];
    snprintf(path, sizeof path, "%s.%s", u->path, fw_yaml_scalar(k));
    switch (key) {
    case 0: return get_name(y, v, path, &u->o->model);
    case 1: return fw_yaml_get_str(y, v, path, &u->o->cls);
    default:
        if (u->filter) return fw_yaml_get_double(y, v, path, -1e300, 1e300, &u->o->max);
        return fw_yaml_get_double(y, v, path, -1e9, 1e9, &u->o->weight);
    }
}

static fw_status parse_objectives(fw_yaml *y, yaml_node_t *seq, const char *key, bool filter,
                                  fw_serve_objective **out, size_t *n_out) {
    size_t n;
    fw_status lst = fw_yaml_list(y, seq, key, NULL, 100000, &n);
    if (lst) return lst;
    fw_serve_objective *o = fw_calloc(n ? n : 1, sizeof *o);
    if (!o) return fw_yaml_oom(y);
    free_objs(*out, *n_out);
    *out = o;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = fw_yaml_item(y, seq, i);
        o[i].weight = 1.0;
        o[i].max = INFINITY;
        char path[80];
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        objs_ud u = {&o[i], path, filter};
        fw_status st = fw_yaml_walk_map(y, it, path, filter ? k_filter_keys : k_objective_keys, objective_pair, &u);
        if (st) return st;
        if (!o[i].model) return fw_yaml_error(y, it, "'%s': missing required key 'model'", path);
    }
    return FW_OK;
}

static const char *const k_split_keys[] = {"model", "challenger", "percent", "kind", "steps", "tick_s",
                                           "min_requests", "alpha", "deadline_ms", "rollback", "metrics",
                                           "challengers", "reward", "min_share", "seed", "timeout_ms",
                                           "max_inflight", NULL};
static const char *const k_split_kinds[] = {"ab", "canary", "shadow", "bandit", NULL};
static const char *const k_reward_keys[] = {"event", "kind", "window_s", NULL};
static const char *const k_reward_kinds[] = {"rate", "mean", NULL};
static const char *const k_rollback_keys[] = {"errors", "p99", "srm", "metric", NULL};
static const char *const k_metric_keys[] = {"name", "event", "kind", "better", "min_effect", "margin", NULL};
static const char *const k_metric_kinds[] = {"rate", "mean", NULL};
static const char *const k_better[] = {"higher", "lower", NULL};

void fw_serve_rollout_free(fw_serve_rollout *r) {
    if (!r) return;
    fw_free(r->steps);
    for (size_t i = 0; i < r->n_metrics; i++) {
        fw_free(r->metrics[i].name);
        fw_free(r->metrics[i].event);
    }
    fw_free(r->metrics);
    fw_free(r);
}

/* The split's rollout, made with its defaults on first use. */
static fw_serve_rollout *rollout_of(fw_yaml *y, fw_serve_split *s) {
    if (s->rollout) return s->rollout;
    fw_serve_rollout *r = fw_calloc(1, sizeof *r);
    if (!r) return (void)fw_yaml_oom(y), NULL;
    r->tick_s = 10;
    r->min_requests = 1000;
    r->alpha = 0.05;
    r->max_errors = 0.01;
    r->max_p99 = 0.5;
    r->srm_alpha = 0.001;
    r->timeout_ms = 1000;
    return s->rollout = r;
}

static fw_status rollback_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_rollout *r = ud;
    switch (key) {
    case 0: return fw_yaml_get_double(y, v, "serving.splits.rollback.errors", 0, 1, &r->max_errors);
    case 1: return fw_yaml_get_double(y, v, "serving.splits.rollback.p99", 0, 100, &r->max_p99);
    case 2: return fw_yaml_get_double(y, v, "serving.splits.rollback.srm", 1e-12, 0.5, &r->srm_alpha);
    default:
        r->live_metric = true;
        return fw_yaml_get_double(y, v, "serving.splits.rollback.metric", 0, 1e12, &r->max_metric);
    }
}

static fw_status metric_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_rollout_metric *m = ud;
    int e;
    fw_status st;
    switch (key) {
    case 0: return get_name(y, v, "serving.splits.metrics.name", &m->name);
    case 1: return get_name(y, v, "serving.splits.metrics.event", &m->event);
    case 2:
        if (!(st = fw_yaml_get_enum(y, v, "serving.splits.metrics.kind", k_metric_kinds, &e)))
            m->kind = (fw_rollout_metric_kind)e;
        return st;
    case 3:
        if (!(st = fw_yaml_get_enum(y, v, "serving.splits.metrics.better", k_better, &e))) m->higher_is_better = e == 0;
        return st;
    case 4: return fw_yaml_get_double(y, v, "serving.splits.metrics.min_effect", 1e-12, 1e12, &m->min_effect);
    default: return fw_yaml_get_double(y, v, "serving.splits.metrics.margin", 0, 1e12, &m->margin);
    }
}

static fw_status parse_rollout_metrics(fw_yaml *y, yaml_node_t *seq, fw_serve_rollout *r) {
    size_t n;
    fw_status st = fw_yaml_list(y, seq, "serving.splits.metrics", "a list of {name, event, kind, ...}", 64, &n);
    if (st) return st;
    if (r->n_metrics) return fw_yaml_error(y, seq, "'serving.splits.metrics': given twice");
    if (!(r->metrics = fw_calloc(n ? n : 1, sizeof *r->metrics))) return fw_yaml_oom(y);
    r->n_metrics = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = fw_yaml_item(y, seq, i);
        fw_rollout_metric *m = &r->metrics[i];
        m->higher_is_better = true;
        char path[64];
        snprintf(path, sizeof path, "serving.splits.metrics[%zu]", i);
        if ((st = fw_yaml_walk_map(y, it, path, k_metric_keys, metric_pair, m))) return st;
        if (!m->name || !m->event || !(m->min_effect > 0))
            return fw_yaml_error(y, it, "'%s': each metric needs 'name', 'event' and 'min_effect' (> 0)", path);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r->metrics[j].name, m->name))
                return fw_yaml_error(y, it, "'%s': metric name '%s' is used twice", path, m->name);
    }
    return FW_OK;
}

static fw_status parse_steps(fw_yaml *y, yaml_node_t *seq, fw_serve_rollout *r) {
    size_t n;
    fw_status st = fw_yaml_list(y, seq, "serving.splits.steps", "a list of percents, e.g. [1, 5, 25, 100]", 32, &n);
    if (st) return st;
    if (n == 0) return fw_yaml_error(y, seq, "'serving.splits.steps': expected at least one step");
    fw_free(r->steps);
    if (!(r->steps = fw_calloc(n, sizeof *r->steps))) return fw_yaml_oom(y);
    r->n_steps = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = fw_yaml_item(y, seq, i);
        if ((st = fw_yaml_get_double(y, it, "serving.splits.steps[]", 1e-6, 100, &r->steps[i]))) return st;
        if (i && r->steps[i] <= r->steps[i - 1])
            return fw_yaml_error(y, it, "'serving.splits.steps[%zu]': %g is not above the step before it (%g)", i,
                                 r->steps[i], r->steps[i - 1]);
    }
    return FW_OK;
}

static fw_status reward_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_split *s = ud;
    (void)k;
    switch (key) {
    case 0: return get_name(y, v, "serving.splits.reward.event", &s->reward_event);
    case 1: return fw_yaml_get_enum(y, v, "serving.splits.reward.kind", k_reward_kinds, &s->reward_mean);
    default: return fw_yaml_get_double(y, v, "serving.splits.reward.window_s", 0.001, 1e9, &s->reward_window_s);
    }
}

/* The keys of kind: bandit (serve/bandit.h), after the rollout's. */
static fw_status bandit_pair(fw_yaml *y, int key, yaml_node_t *v, fw_serve_split *s) {
    switch (key) {
    case 11: return fw_yaml_get_str_list(y, v, "serving.splits.challengers", true, &s->challengers, &s->n_challengers);
    case 12: return fw_yaml_walk_map(y, v, "serving.splits.reward", k_reward_keys, reward_pair, s);
    case 13: return fw_yaml_get_double(y, v, "serving.splits.min_share", 0, 0.5, &s->min_share);
    default: return fw_yaml_get_int(y, v, "serving.splits.seed", 0, UINT64_MAX, &s->seed);
    }
}

static fw_status split_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_split *s = ud;
    int e;
    fw_status st;
    uint64_t u;
    (void)k;
    if (key >= 15) { /* the rollout's canary isolation (canary_runner.h) */
        fw_serve_rollout *r = rollout_of(y, s);
        if (!r) return FW_ENOMEM;
        if (key == 15) return fw_yaml_get_double(y, v, "serving.splits.timeout_ms", 0, 3.6e6, &r->timeout_ms);
        return fw_yaml_get_int(y, v, "serving.splits.max_inflight", 0, 1000000, &r->max_inflight);
    }
    if (key >= 11) return bandit_pair(y, key, v, s);
    fw_serve_rollout *r = key >= 4 ? rollout_of(y, s) : NULL;
    if (key >= 4 && !r) return FW_ENOMEM;
    switch (key) {
    case 0: return get_name(y, v, "serving.splits.model", &s->model);
    case 1: return get_name(y, v, "serving.splits.challenger", &s->challenger);
    case 2: return fw_yaml_get_double(y, v, "serving.splits.percent", 0, 100, &s->percent);
    case 3:
        if ((st = fw_yaml_get_enum(y, v, "serving.splits.kind", k_split_kinds, &e))) return st;
        s->kind = e == 0 ? FW_SPLIT_AB : e == 1 ? FW_SPLIT_CANARY : e == 2 ? FW_SPLIT_SHADOW : FW_SPLIT_BANDIT;
        return FW_OK;
    case 4: return parse_steps(y, v, r);
    case 5: return fw_yaml_get_double(y, v, "serving.splits.tick_s", 0.01, 86400, &r->tick_s);
    case 6:
        if (!(st = fw_yaml_get_int(y, v, "serving.splits.min_requests", 1, (uint64_t)1e12, &u))) r->min_requests = u;
        return st;
    case 7: return fw_yaml_get_double(y, v, "serving.splits.alpha", 1e-9, 0.5, &r->alpha);
    case 8: return fw_yaml_get_double(y, v, "serving.splits.deadline_ms", 0, 3.6e6, &r->deadline_ms);
    case 9:
        if (v->type != YAML_MAPPING_NODE)
            return fw_yaml_error(y, v, "'serving.splits.rollback': expected a map {errors, p99, srm, metric}, got %s",
                                 fw_yaml_kind(v));
        return fw_yaml_walk_map(y, v, "serving.splits.rollback", k_rollback_keys, rollback_pair, r);
    default: return parse_rollout_metrics(y, v, r);
    }
}

/* The bandit keys belong to kind: bandit, which needs a reward; an arm's floor times the arms is
 * at most 1. Errors point at the split. */
static fw_status check_split(fw_yaml *y, yaml_node_t *it, const fw_serve_split *s) {
    bool bandit_keys = fw_yaml_map_get(y, it, "reward") || fw_yaml_map_get(y, it, "min_share") ||
                       fw_yaml_map_get(y, it, "seed") || fw_yaml_map_get(y, it, "challengers");
    if (s->kind != FW_SPLIT_BANDIT) {
        if (bandit_keys)
            return fw_yaml_error(y, it, "'serving.splits': reward, challengers, min_share and seed are for kind: bandit");
        return FW_OK;
    }
    if (fw_yaml_map_get(y, it, "percent"))
        return fw_yaml_error(y, fw_yaml_map_get(y, it, "percent"),
                             "'serving.splits.percent': a bandit sets its own shares (use min_share)");
    if (!s->reward_event)
        return fw_yaml_error(y, it, "'serving.splits': a bandit needs 'reward: {event: NAME, kind: rate|mean}'");
    size_t arms = 2 + s->n_challengers;
    if (arms > 16) return fw_yaml_error(y, it, "'serving.splits': a bandit has at most 16 arms (%zu given)", arms);
    if (s->min_share * (double)arms > 1 + 1e-12)
        return fw_yaml_error(y, fw_yaml_map_get(y, it, "min_share"),
                             "'serving.splits.min_share': %g x %zu arms is more than 1", s->min_share, arms);
    return FW_OK;
}

/* A split's rollout keys make sense only on a canary with steps. */
static fw_status check_rollout(fw_yaml *y, yaml_node_t *it, fw_serve_split *s) {
    if (!s->rollout) return FW_OK;
    if (s->kind != FW_SPLIT_CANARY)
        return fw_yaml_error(y, it, "'serving.splits': steps, tick_s, rollback and metrics belong to kind: canary (this split is %s)",
                             s->kind == FW_SPLIT_AB ? "ab" : s->kind == FW_SPLIT_SHADOW ? "shadow" : "bandit");
    if (!s->rollout->n_steps)
        return fw_yaml_error(y, it, "'serving.splits': a canary rollout needs 'steps' (e.g. [1, 5, 25, 100])");
    yaml_node_t *pc = fw_yaml_map_get(y, it, "percent");
    if (pc && s->percent != s->rollout->steps[0])
        return fw_yaml_error(y, pc, "'serving.splits.percent': %g differs from the first step (%g); give one of them",
                             s->percent, s->rollout->steps[0]);
    s->percent = s->rollout->steps[0];
    return FW_OK;
}

/* %.17g, so that the value reads back exactly. */
static void put_num(fw_buf *b, double v) { fw_buf_printf(b, "%.17g", v); }

void fw_serve_rollout_write(fw_buf *b, const fw_serve_split *sp) {
    const fw_serve_rollout *r = sp->rollout;
    if (!r) return;
    fw_buf_printf(b, ", steps: [");
    for (size_t i = 0; i < r->n_steps; i++) {
        if (i) fw_buf_printf(b, ", ");
        put_num(b, r->steps[i]);
    }
    fw_buf_printf(b, "], tick_s: ");
    put_num(b, r->tick_s);
    fw_buf_printf(b, ", min_requests: %llu, alpha: ", (unsigned long long)r->min_requests);
    put_num(b, r->alpha);
    fw_buf_printf(b, ", deadline_ms: ");
    put_num(b, r->deadline_ms);
    fw_buf_printf(b, ", timeout_ms: ");
    put_num(b, r->timeout_ms);
    fw_buf_printf(b, ", max_inflight: %llu", (unsigned long long)r->max_inflight);
    fw_buf_printf(b, ", rollback: {errors: ");
    put_num(b, r->max_errors);
    fw_buf_printf(b, ", p99: ");
    put_num(b, r->max_p99);
    fw_buf_printf(b, ", srm: ");
    put_num(b, r->srm_alpha);
    if (r->live_metric) {
        fw_buf_printf(b, ", metric: ");
        put_num(b, r->max_metric);
    }
    fw_buf_printf(b, "}");
    if (!r->n_metrics) return;
    fw_buf_printf(b, ", metrics: [");
    for (size_t i = 0; i < r->n_metrics; i++) {
        const fw_rollout_metric *m = &r->metrics[i];
        fw_buf_printf(b, "%s{name: \"%s\", event: \"%s\", kind: %s, better: %s, min_effect: ", i ? ", " : "", m->name,
                      m->event, k_metric_kinds[m->kind], m->higher_is_better ? "higher" : "lower");
        put_num(b, m->min_effect);
        fw_buf_printf(b, ", margin: ");
        put_num(b, m->margin);
        fw_buf_printf(b, "}");
    }
    fw_buf_printf(b, "]");
}

static fw_status parse_splits(fw_yaml *y, yaml_node_t *seq, fw_serve_config *c) {
    size_t n;
    fw_status lst = fw_yaml_list(y, seq, "serving.splits", NULL, 100000, &n);
    if (lst) return lst;
    fw_serve_split *s = fw_calloc(n ? n : 1, sizeof *s);
    if (!s) return fw_yaml_oom(y);
    for (size_t i = 0; i < c->n_splits; i++) free_split(&c->splits[i]); /* a repeated `splits:` key replaces the first list */
    fw_free(c->splits);
    c->splits = s;
    c->n_splits = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = fw_yaml_item(y, seq, i);
        s[i].min_share = 0.05;
        s[i].reward_window_s = 3600;
        s[i].seed = 1;
        fw_status st = fw_yaml_walk_map(y, it, "serving.splits", k_split_keys, split_pair, &s[i]);
        if (st) return st;
        if (!s[i].model || !s[i].challenger)
            return fw_yaml_error(y, it, "'serving.splits': each split needs 'model' and 'challenger'");
        if ((st = check_rollout(y, it, &s[i]))) return st;
        if ((st = check_split(y, it, &s[i]))) return st;
    }
    return FW_OK;
}

static const char *const k_retention_keys[] = {"max_age_s", "max_rows", "max_bytes", "interval_s", NULL};

static fw_status retention_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_config *c = ud;
    switch (key) {
    case 0: return fw_yaml_get_double(y, v, "serving.log.retention.max_age_s", 0, 1e12, &c->log_retention_age_s);
    case 1:
        return fw_yaml_get_int(y, v, "serving.log.retention.max_rows", 0, (uint64_t)1e15, &c->log_retention_rows);
    case 2:
        return fw_yaml_get_int(y, v, "serving.log.retention.max_bytes", 0, (uint64_t)1e15, &c->log_retention_bytes);
    default:
        return fw_yaml_get_double(y, v, "serving.log.retention.interval_s", 0.01, 86400, &c->log_retention_interval_s);
    }
}

static const char *const k_log_keys[] = {"path", "capacity", "batch", "spool_bytes", "catch_up",
                                         "ingest_batch", "sample", "retention", "flush_ms", "policy",
                                         "queue_bytes", "cache_bytes", "direct", NULL};
static const char *const k_log_policies[] = {"drop-newest", "drop-oldest", "sample", NULL}; /* fw_log_policy order */

static fw_status log_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_config *c = ud;
    uint64_t u;
    int e;
    fw_status st;
    switch (key) {
    case 0: return fw_yaml_get_str(y, v, "serving.log.path", &c->log_path);
    case 1: return get_size(y, v, "serving.log.capacity", 2, 1 << 26, &c->log_capacity);
    case 2: return get_size(y, v, "serving.log.batch", 1, 1 << 20, &c->log_batch);
    case 3: return get_size(y, v, "serving.log.spool_bytes", 0, 1099511627776ull, &c->log_spool_bytes);
    case 4: return fw_yaml_get_bool(y, v, "serving.log.catch_up", &c->log_catch_up);
    case 5: return get_size(y, v, "serving.log.ingest_batch", 1, 1 << 16, &c->log_ingest_batch);
    case 6: return fw_yaml_get_double(y, v, "serving.log.sample", 0, 1, &c->log_sample);
    case 7: return fw_yaml_walk_map(y, v, "serving.log.retention", k_retention_keys, retention_pair, c);
    case 8:
        if (!(st = fw_yaml_get_int(y, v, "serving.log.flush_ms", 1, 60000, &u))) c->log_flush_ms = (int)u;
        return st;
    case 9:
        if (!(st = fw_yaml_get_enum(y, v, "serving.log.policy", k_log_policies, &e))) c->log_policy = (fw_log_policy)e;
        return st;
    case 10: return get_size(y, v, "serving.log.queue_bytes", 65536, (uint64_t)1 << 40, &c->log_queue_bytes);
    case 11: return get_size(y, v, "serving.log.cache_bytes", 65536, (uint64_t)1 << 40, &c->log_cache_bytes);
    default: return fw_yaml_get_bool(y, v, "serving.log.direct", &c->log_direct);
    }
}

static const char *const k_tls_keys[] = {"cert", "key", NULL};

static fw_status tls_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_config *c = ud;
    return key == 0 ? get_name(y, v, "serving.tls.cert", &c->tls_cert) : get_name(y, v, "serving.tls.key", &c->tls_key);
}

static const char *const k_rank_keys[] = {"objectives", "filters", NULL};

static fw_status rank_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_config *c = ud;
    if (key == 0) return parse_objectives(y, v, "serving.rank.objectives", false, &c->objectives, &c->n_objectives);
    return parse_objectives(y, v, "serving.rank.filters", true, &c->filters, &c->n_filters);
}

/* A list of strings that replaces any earlier one: each item must hold `must` (NULL: any non-empty
 * string); `what` names an item in the error. */
static fw_status get_list(fw_yaml *y, yaml_node_t *v, const char *path, const char *must, const char *what,
                          char ***out, size_t *n_out) {
    fw_status st = fw_yaml_get_str_list(y, v, path, false, out, n_out);
    if (st) return st;
    for (size_t i = 0; i < *n_out; i++)
        if (!(*out)[i][0] || (must && !strstr((*out)[i], must))) {
            yaml_node_t *e = fw_yaml_item(y, v, i);
            return fw_yaml_error(y, e, "'%s[%zu]': expected %s, got '%s'", path, i, what, (*out)[i]);
        }
    return FW_OK;
}

static const char *const k_serving_keys[] = {
    "host", "port", "threads", "max_body_bytes", "conn_limit", "conn_timeout_s", "model_memory_bytes",
    "max_models", "alias_poll_s", "admin_wait_s", "drain_timeout_s", "batch_max_age_s", "batch_cache_ttl_s",
    "confidence_threshold", "admin_token", "predict_token", "rank_token", "feedback_token",
    "request_timeout_s", "max_instances", "max_reply_bytes", "max_pending_reply_bytes", "cors_origins", "tls",
    "store", "models_dir", "log", "splits", "models", "rank", "drain_delay_s", "listeners", NULL};

static fw_status serving_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_config *c = ud;
    uint64_t u;
    fw_status st;
    switch (key) {
    case 0: return get_name(y, v, "serving.host", &c->host);
    case 1:
        if (!(st = fw_yaml_get_int(y, v, "serving.port", 0, 65535, &u))) c->port = (int)u;
        return st;
    case 2:
        if (!(st = fw_yaml_get_int(y, v, "serving.threads", 0, 1024, &u))) c->threads = (int)u;
        return st;
    case 3: return get_size(y, v, "serving.max_body_bytes", 64, 1 << 30, &c->max_body_bytes);
    case 4: return get_unsigned(y, v, "serving.conn_limit", 1, 1 << 20, &c->conn_limit);
    case 5: return get_unsigned(y, v, "serving.conn_timeout_s", 1, 86400, &c->conn_timeout_s);
    case 6: return get_size(y, v, "serving.model_memory_bytes", 0, (uint64_t)1e15, &c->model_memory_bytes);
    case 7: return get_size(y, v, "serving.max_models", 1, 1 << 24, &c->max_models);
    case 8: return fw_yaml_get_double(y, v, "serving.alias_poll_s", 0, 86400, &c->alias_poll_s);
    case 9: return fw_yaml_get_double(y, v, "serving.admin_wait_s", 0, 3600, &c->admin_wait_s);
    case 10: return fw_yaml_get_double(y, v, "serving.drain_timeout_s", 0, 3600, &c->drain_timeout_s);
    case 11: return fw_yaml_get_double(y, v, "serving.batch_max_age_s", 0, 1e9, &c->batch_max_age_s);
    case 12: return fw_yaml_get_double(y, v, "serving.batch_cache_ttl_s", 0, 3600, &c->batch_cache_ttl_s);
    case 13: return fw_yaml_get_double(y, v, "serving.confidence_threshold", 0, 1, &c->confidence_threshold);
    case 14: return fw_yaml_get_str(y, v, "serving.admin_token", &c->admin_token);
    case 15: return fw_yaml_get_str(y, v, "serving.predict_token", &c->predict_token);
    case 16: return fw_yaml_get_str(y, v, "serving.rank_token", &c->rank_token);
    case 17: return fw_yaml_get_str(y, v, "serving.feedback_token", &c->feedback_token);
    case 18: return get_unsigned(y, v, "serving.request_timeout_s", 1, 86400, &c->request_timeout_s);
    case 19: return get_size(y, v, "serving.max_instances", 1, (uint64_t)1e9, &c->max_instances);
    case 20: return get_size(y, v, "serving.max_reply_bytes", 1024, (uint64_t)1e12, &c->max_reply_bytes);
    case 21:
        return get_size(y, v, "serving.max_pending_reply_bytes", 65536, (uint64_t)1e13, &c->max_pending_reply_bytes);
    case 22:
        return get_list(y, v, "serving.cors_origins", NULL, "an origin string", &c->cors_origins, &c->n_cors_origins);
    case 23:
        if (v->type != YAML_MAPPING_NODE)
            return fw_yaml_error(y, v, "'serving.tls': expected a map {cert, key}, got %s", fw_yaml_kind(v));
        return fw_yaml_walk_map(y, v, "serving.tls", k_tls_keys, tls_pair, c);
    case 24: return fw_yaml_get_str(y, v, "serving.store", &c->store_path);
    case 25: return fw_yaml_get_str(y, v, "serving.models_dir", &c->models_dir);
    case 26: return fw_yaml_walk_map(y, v, "serving.log", k_log_keys, log_pair, c);
    case 27: return parse_splits(y, v, c);
    case 28: return get_list(y, v, "serving.models", "@", "NAME@ALIAS", &c->models, &c->n_models);
    case 29: return fw_yaml_walk_map(y, v, "serving.rank", k_rank_keys, rank_pair, c);
    case 30: return fw_yaml_get_double(y, v, "serving.drain_delay_s", 0, 3600, &c->drain_delay_s);
    default: {
        char *how = NULL;
        if ((st = fw_yaml_get_str(y, v, "serving.listeners", &how))) return st;
        bool shared = how && strcmp(how, "shared") == 0, per = how && strcmp(how, "per_thread") == 0;
        if (!shared && !per) st = fw_yaml_error(y, v, "'serving.listeners': expected shared or per_thread, got '%s'", how ? how : "");
        else c->listen_per_thread = per;
        fw_free(how);
        return st;
    }
    }
}

/* ---- the `monitoring:` section ---------------------------------------------------------------- */

static const char *const k_alert_keys[] = {"log", "webhook", "retries", "backoff_s", "timeout_s", "queue", NULL};

static fw_status alert_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_monitoring *m = ud;
    fw_status st;
    switch (key) {
    case 0: return fw_yaml_get_bool(y, v, "monitoring.alerts.log", &m->alert_log);
    case 1:
        if ((st = fw_yaml_get_str(y, v, "monitoring.alerts.webhook", &m->webhook_url))) return st;
        if (m->webhook_url && strncmp(m->webhook_url, "http://", 7) != 0 && strncmp(m->webhook_url, "https://", 8) != 0)
            return fw_yaml_error(y, v, "'monitoring.alerts.webhook': expected an http:// or https:// URL, got '%s'",
                                 m->webhook_url);
        if (m->webhook_url && (strchr(m->webhook_url, ' ') || strchr(m->webhook_url, '\n') ||
                               !m->webhook_url[strncmp(m->webhook_url, "https://", 8) == 0 ? 8 : 7]))
            return fw_yaml_error(y, v, "'monitoring.alerts.webhook': expected a URL with a host and no spaces, got '%s'",
                                 m->webhook_url);
        return FW_OK;
    case 2: return get_unsigned(y, v, "monitoring.alerts.retries", 0, 100, &m->webhook_retries);
    case 3: return fw_yaml_get_double(y, v, "monitoring.alerts.backoff_s", 0, 60, &m->webhook_backoff_s);
    case 4: return fw_yaml_get_double(y, v, "monitoring.alerts.timeout_s", 0.01, 600, &m->webhook_timeout_s);
    default: return get_size(y, v, "monitoring.alerts.queue", 1, 1 << 20, &m->alert_queue);
    }
}

static const char *const k_monitoring_keys[] = {"enabled", "step_rows", "window_rows", "quality_rows", "block_s",
                                                "sensitivity", "columns", "metrics_columns", "history", "alerts",
                                                "join_table", NULL};

static fw_status get_u32(fw_yaml *y, yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi, uint32_t *out) {
    uint64_t v;
    fw_status st = fw_yaml_get_int(y, n, path, lo, hi, &v);
    if (st == FW_OK) *out = (uint32_t)v;
    return st;
}

static fw_status monitoring_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_serve_monitoring *m = ud;
    fw_status st;
    switch (key) {
    case 0: return fw_yaml_get_bool(y, v, "monitoring.enabled", &m->enabled);
    case 1: return get_u32(y, v, "monitoring.step_rows", 1, 1000000, &m->step_rows);
    case 2: return get_u32(y, v, "monitoring.window_rows", 1, 100000000, &m->window_rows);
    case 3: return get_u32(y, v, "monitoring.quality_rows", 1, 100000000, &m->quality_rows);
    case 4: return fw_yaml_get_double(y, v, "monitoring.block_s", 0, 86400, &m->block_s);
    case 5: return fw_yaml_get_double(y, v, "monitoring.sensitivity", 0.01, 100, &m->sensitivity);
    case 6:
        if ((st = get_list(y, v, "monitoring.columns", NULL, "a column name", &m->columns, &m->n_columns))) return st;
        for (size_t i = 0; i < m->n_columns; i++)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(m->columns[i], m->columns[j]))
                    return fw_yaml_error(y, fw_yaml_item(y, v, i), "'monitoring.columns[%zu]': '%s' is listed twice", i,
                                         m->columns[i]);
        return FW_OK;
    case 7: return get_size(y, v, "monitoring.metrics_columns", 0, 10000, &m->metrics_columns);
    case 8: return fw_yaml_get_bool(y, v, "monitoring.history", &m->history);
    case 10: return get_size(y, v, "monitoring.join_table", 64, (size_t)1 << 30, &m->join_table);
    default:
        if (v->type != YAML_MAPPING_NODE)
            return fw_yaml_error(y, v, "'monitoring.alerts': expected a map {log, webhook, retries, ...}, got %s",
                                 fw_yaml_kind(v));
        return fw_yaml_walk_map(y, v, "monitoring.alerts", k_alert_keys, alert_pair, m);
    }
}

/* window_rows and quality_rows are whole numbers of blocks (the monitor's defaults: 50, 1000, 200;
 * monitor/monitor.h): checked here so the error names the line. */
static fw_status check_windows(fw_yaml *y, yaml_node_t *map, const fw_serve_monitoring *m) {
    uint32_t step = m->step_rows ? m->step_rows : 50;
    const char *keys[2] = {"window_rows", "quality_rows"};
    uint32_t vals[2] = {m->window_rows ? m->window_rows : 1000, m->quality_rows ? m->quality_rows : 200};
    for (int i = 0; i < 2; i++)
        if (vals[i] % step) {
            yaml_node_t *n = fw_yaml_map_get(y, map, keys[i]);
            if (!n) n = fw_yaml_map_get(y, map, "step_rows");
            return fw_yaml_error(y, n ? n : map, "'monitoring.%s': %u is not a multiple of step_rows (%u)", keys[i],
                                 vals[i], step);
        }
    return FW_OK;
}

/* `learn:` — only the keys of online learning are read here; the others (retraining's) belong to
 * the project file's parser. */
static fw_status parse_learn(fw_yaml *y, yaml_node_t *map, fw_serve_learn *l) {
    if (map->type != YAML_MAPPING_NODE)
        return fw_yaml_error(y, map, "'learn': expected a map {online, batch, ...}, got %s", fw_yaml_kind(map));
    static const char *const solvers[] = {"ftrl", "sgd", NULL};
    static const char *const promote[] = {"auto", "none", NULL};
    fw_status st = FW_OK;
    yaml_node_t *v, *g;
    int e;
    if (!st && (v = fw_yaml_map_get(y, map, "online"))) st = fw_yaml_get_bool(y, v, "learn.online", &l->online);
    if (!st && (v = fw_yaml_map_get(y, map, "models"))) {
        for (size_t i = 0; i < l->n_models; i++) fw_free(l->models[i]);
        fw_free(l->models);
        l->models = NULL;
        l->n_models = 0;
        st = get_list(y, v, "learn.models", NULL, "a model name", &l->models, &l->n_models);
    }
    if (!st && (v = fw_yaml_map_get(y, map, "solver")) && !(st = fw_yaml_get_enum(y, v, "learn.solver", solvers, &e)))
        st = fw_serve_config_set_str(&l->solver, solvers[e]);
    if (!st && (v = fw_yaml_map_get(y, map, "lr"))) st = fw_yaml_get_double(y, v, "learn.lr", 1e-9, 1e6, &l->lr);
    if (!st && (v = fw_yaml_map_get(y, map, "beta"))) st = fw_yaml_get_double(y, v, "learn.beta", 0, 1e6, &l->beta);
    if (!st && (v = fw_yaml_map_get(y, map, "l1"))) st = fw_yaml_get_double(y, v, "learn.l1", 0, 1e6, &l->l1);
    if (!st && (v = fw_yaml_map_get(y, map, "l2"))) st = fw_yaml_get_double(y, v, "learn.l2", 0, 1e6, &l->l2);
    if (!st && (v = fw_yaml_map_get(y, map, "batch"))) st = get_size(y, v, "learn.batch", 1, 65536, &l->batch);
    if (!st && (g = fw_yaml_map_get(y, map, "snapshot")) && g->type == YAML_MAPPING_NODE) {
        if ((v = fw_yaml_map_get(y, g, "updates"))) st = get_size(y, v, "learn.snapshot.updates", 0, 1000000000, &l->snapshot_rows);
        if (!st && (v = fw_yaml_map_get(y, g, "interval"))) {
            const char *t = fw_yaml_scalar(v);
            if (!t || !fw_learn_parse_duration(t, &l->snapshot_s))
                st = fw_yaml_error(y, v, "'learn.snapshot.interval': expected a duration (90s, 15m, 6h, 7d, 2w or seconds)");
        }
    }
    if (!st && (v = fw_yaml_map_get(y, map, "promote")) && !(st = fw_yaml_get_enum(y, v, "learn.promote", promote, &e)))
        l->promote = e == 0;
    if (!st && (v = fw_yaml_map_get(y, map, "join_wait_s")))
        st = fw_yaml_get_double(y, v, "learn.join_wait_s", 0, 86400, &l->join_wait_s);
    if (!st && (v = fw_yaml_map_get(y, map, "queue"))) st = get_size(y, v, "learn.queue", 1, 100000000, &l->queue);
    if (!st && (v = fw_yaml_map_get(y, map, "join_cache")))
        st = get_size(y, v, "learn.join_cache", 0, (size_t)1 << 24, &l->join_cache);
    if (!st && (v = fw_yaml_map_get(y, map, "every"))) {
        const char *t = fw_yaml_scalar(v);
        if (!t || !fw_learn_parse_duration(t, &l->every_s))
            st = fw_yaml_error(y, v, "'learn.every': expected a duration (90s, 15m, 6h, 7d, 2w or seconds)");
    }
    if (!st && (v = fw_yaml_map_get(y, map, "after_labels")))
        st = fw_yaml_get_int(y, v, "learn.after_labels", 0, UINT64_MAX, &l->after_labels);
    if (!st && (v = fw_yaml_map_get(y, map, "on_alarm"))) {
        if (v->type == YAML_SEQUENCE_NODE) {
            for (size_t i = 0; i < (size_t)(v->data.sequence.items.top - v->data.sequence.items.start); i++) {
                const char *t = fw_yaml_scalar(fw_yaml_item(y, v, i));
                if (t && !strcmp(t, "drift")) l->on_drift = true;
                else if (t && !strcmp(t, "performance")) l->on_performance = true;
            }
        } else {
            bool b = false;
            if (!(st = fw_yaml_get_bool(y, v, "learn.on_alarm", &b))) l->on_drift = l->on_performance = b;
        }
    }
    if (!st && (g = fw_yaml_map_get(y, map, "gate")) && g->type == YAML_MAPPING_NODE) {
        if (!st && (v = fw_yaml_map_get(y, g, "min_rows"))) st = get_size(y, v, "learn.gate.min_rows", 2, 1000000000, &l->gate_min_rows);
        if (!st && (v = fw_yaml_map_get(y, g, "confidence")))
            st = fw_yaml_get_double(y, v, "learn.gate.confidence", 0.5000001, 0.9999999, &l->gate_confidence);
        if (!st && (v = fw_yaml_map_get(y, g, "min_improvement")))
            st = fw_yaml_get_double(y, v, "learn.gate.min_improvement", -1e9, 1e9, &l->gate_min_improvement);
    }
    if (!st && l->online && l->snapshot_rows == 0 && l->snapshot_s == 0)
        st = fw_yaml_error(y, map, "'learn.snapshot': updates and interval are both 0: no snapshot would ever be taken");
    return st;
}

fw_status fw_serve_config_parse(fw_serve_config *c, const char *yaml, size_t len,
                                const char *name_for_errors, fw_err *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fw_status st = fw_err_set(err, FW_ECONFIG, "%s:%lu:%lu: %s", name_for_errors,
                                  (unsigned long)parser.problem_mark.line + 1,
                                  (unsigned long)parser.problem_mark.column + 1,
                                  parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return st;
    }
    fw_yaml y = {&doc, name_for_errors, err, NULL};
    fw_status st = FW_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        yaml_node_t *serving = fw_yaml_map_get(&y, root, "serving");
        if (serving) st = fw_yaml_walk_map(&y, serving, "serving", k_serving_keys, serving_pair, c);
        yaml_node_t *monitoring = st ? NULL : fw_yaml_map_get(&y, root, "monitoring");
        if (monitoring && !fw_yaml_is_null(monitoring)) {
            if (monitoring->type != YAML_MAPPING_NODE)
                st = fw_yaml_error(&y, monitoring, "'monitoring': expected a map {enabled, window_rows, ...}, got %s",
                                   fw_yaml_kind(monitoring));
            else
                st = fw_yaml_walk_map(&y, monitoring, "monitoring", k_monitoring_keys, monitoring_pair, &c->monitoring);
            if (!st) st = check_windows(&y, monitoring, &c->monitoring);
        }
        yaml_node_t *learn = st ? NULL : fw_yaml_map_get(&y, root, "learn");
        if (learn && !fw_yaml_is_null(learn)) st = parse_learn(&y, learn, &c->learn);
    } else if (root && !fw_yaml_is_null(root)) {
        st = fw_yaml_error(&y, root, "expected a map at the top level, got %s", fw_yaml_kind(root));
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

fw_status fw_serve_config_load(fw_serve_config *c, const char *path, fw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return fw_err_set(err, FW_EIO, "%s: cannot open: %s", path, strerror(errno));
    fw_buf b;
    fw_buf_init(&b);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) fw_buf_put(&b, tmp, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_EIO, "%s: read error", path);
    }
    if (!fw_buf_ok(&b)) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_status st = fw_serve_config_parse(c, (const char *)b.data, b.len, path, err);
    fw_buf_free(&b);
    return st;
}
