/* config.c — owns fw_serve_config: defaults and the `serving:` YAML section parser (libyaml
 * document API; every error names the file, line, column and key). */
#include "serve/config.h"

#include "core/alloc.h"
#include "core/buf.h"

#include <errno.h>
#include <math.h>
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
    c->log_policy = FW_LOG_DROP_NEWEST;
    c->log_sample = 0.1;
    c->log_batch = 512;
    c->log_spool_bytes = (size_t)1 << 30;
    c->log_ingest_batch = 256;
    c->log_catch_up = true;
    c->log_flush_ms = 2;
    c->batch_max_age_s = 0;
    c->batch_cache_ttl_s = 1.0;
    c->confidence_threshold = -1;
    c->request_timeout_s = 10;
    c->max_instances = 10000;
    c->max_reply_bytes = (size_t)16 << 20;
    c->max_pending_reply_bytes = (size_t)256 << 20;
}

static void free_objs(fw_serve_objective *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        fw_free(o[i].model);
        fw_free(o[i].cls);
    }
    fw_free(o);
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
    for (size_t i = 0; i < c->n_splits; i++) {
        fw_free(c->splits[i].model);
        fw_free(c->splits[i].challenger);
    }
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
    memset(c, 0, sizeof *c);
}

fw_status fw_serve_config_set_str(char **field, const char *value) {
    char *s = value ? fw_strdup(value) : NULL;
    if (value && !s) return FW_ENOMEM;
    fw_free(*field);
    *field = s;
    return FW_OK;
}

/* ---- YAML walking ---------------------------------------------------------------------------- */

typedef struct ctx {
    yaml_document_t *doc;
    const char *file;
    fw_err *err;
} ctx;

static fw_status at(ctx *x, yaml_node_t *n, const char *key, const char *fmt, const char *got) {
    return fw_err_set(x->err, FW_ECONFIG, "%s:%lu:%lu: %s: %s%s%s%s", x->file,
                      (unsigned long)n->start_mark.line + 1, (unsigned long)n->start_mark.column + 1,
                      key, fmt, got ? ", got '" : "", got ? got : "", got ? "'" : "");
}

static const char *scalar(yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static fw_status get_str(ctx *x, yaml_node_t *n, const char *key, char **out) {
    const char *s = scalar(n);
    if (!s) return at(x, n, key, "expected a string", NULL);
    return fw_serve_config_set_str(out, s) == FW_OK ? FW_OK : fw_err_set(x->err, FW_ENOMEM, "out of memory");
}

static fw_status get_bool(ctx *x, yaml_node_t *n, const char *key, bool *out) {
    const char *s = scalar(n);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) *out = true;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) *out = false;
    else return at(x, n, key, "expected true or false", s ? s : "(not a scalar)");
    return FW_OK;
}

static fw_status get_num(ctx *x, yaml_node_t *n, const char *key, double lo, double hi, bool integer,
                         double *out) {
    const char *s = scalar(n);
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || errno || !isfinite(v) || v < lo || v > hi ||
        (integer && v != floor(v))) {
        char want[96];
        snprintf(want, sizeof want, "expected %s in [%.17g, %.17g]", integer ? "an integer" : "a number",
                 lo, hi);
        return at(x, n, key, want, s ? s : "(not a scalar)");
    }
    *out = v;
    return FW_OK;
}

static fw_status get_size(ctx *x, yaml_node_t *n, const char *key, double lo, double hi, size_t *out) {
    double v;
    fw_status st = get_num(x, n, key, lo, hi, true, &v);
    if (st == FW_OK) *out = (size_t)v;
    return st;
}

static fw_status parse_objectives(ctx *x, yaml_node_t *seq, const char *key, bool filter,
                                  fw_serve_objective **out, size_t *n_out) {
    if (seq->type != YAML_SEQUENCE_NODE) return at(x, seq, key, "expected a list", NULL);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    fw_serve_objective *o = fw_calloc(n ? n : 1, sizeof *o);
    if (!o) return fw_err_set(x->err, FW_ENOMEM, "out of memory");
    free_objs(*out, *n_out);
    *out = o;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(x->doc, seq->data.sequence.items.start[i]);
        if (it->type != YAML_MAPPING_NODE) return at(x, it, key, "expected a mapping {model, ...}", NULL);
        o[i].weight = 1.0;
        o[i].max = INFINITY;
        for (yaml_node_pair_t *p = it->data.mapping.pairs.start; p < it->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
            const char *ks = scalar(k);
            fw_status st;
            if (ks && strcmp(ks, "model") == 0) st = get_str(x, v, "model", &o[i].model);
            else if (ks && strcmp(ks, "class") == 0) st = get_str(x, v, "class", &o[i].cls);
            else if (ks && !filter && strcmp(ks, "weight") == 0)
                st = get_num(x, v, "weight", -1e9, 1e9, false, &o[i].weight);
            else if (ks && filter && strcmp(ks, "max") == 0)
                st = get_num(x, v, "max", -1e300, 1e300, false, &o[i].max);
            else st = at(x, k, key, "unknown key", ks ? ks : "?");
            if (st) return st;
        }
        if (!o[i].model) return at(x, it, key, "missing 'model'", NULL);
    }
    return FW_OK;
}

static fw_status parse_splits(ctx *x, yaml_node_t *seq, fw_serve_config *c) {
    if (seq->type != YAML_SEQUENCE_NODE) return at(x, seq, "serving.splits", "expected a list", NULL);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    fw_serve_split *s = fw_calloc(n ? n : 1, sizeof *s);
    if (!s) return fw_err_set(x->err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_splits; i++) { /* a repeated `splits:` key replaces the first list */
        fw_free(c->splits[i].model);
        fw_free(c->splits[i].challenger);
    }
    fw_free(c->splits);
    c->splits = s;
    c->n_splits = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(x->doc, seq->data.sequence.items.start[i]);
        if (it->type != YAML_MAPPING_NODE) return at(x, it, "serving.splits", "expected a mapping", NULL);
        for (yaml_node_pair_t *p = it->data.mapping.pairs.start; p < it->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
            const char *ks = scalar(k);
            fw_status st = FW_OK;
            if (ks && strcmp(ks, "model") == 0) st = get_str(x, v, "serving.splits.model", &s[i].model);
            else if (ks && strcmp(ks, "challenger") == 0)
                st = get_str(x, v, "serving.splits.challenger", &s[i].challenger);
            else if (ks && strcmp(ks, "percent") == 0)
                st = get_num(x, v, "serving.splits.percent", 0, 100, false, &s[i].percent);
            else if (ks && strcmp(ks, "kind") == 0) {
                const char *vs = scalar(v);
                if (vs && strcmp(vs, "ab") == 0) s[i].kind = FW_SPLIT_AB;
                else if (vs && strcmp(vs, "canary") == 0) s[i].kind = FW_SPLIT_CANARY;
                else if (vs && strcmp(vs, "shadow") == 0) s[i].kind = FW_SPLIT_SHADOW;
                else st = at(x, v, "serving.splits.kind", "expected ab, canary or shadow", vs ? vs : "?");
            } else st = at(x, k, "serving.splits", "unknown key", ks ? ks : "?");
            if (st) return st;
        }
        if (!s[i].model || !s[i].challenger)
            return at(x, it, "serving.splits", "each split needs 'model' and 'challenger'", NULL);
    }
    return FW_OK;
}

static fw_status parse_retention(ctx *x, yaml_node_t *m, fw_serve_config *c) {
    if (m->type != YAML_MAPPING_NODE) return at(x, m, "serving.log.retention", "expected a mapping", NULL);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        fw_status st;
        double d = 0;
        if (ks && strcmp(ks, "max_age_s") == 0) st = get_num(x, v, "serving.log.retention.max_age_s", 0, 1e12, false, &c->log_retention_age_s);
        else if (ks && strcmp(ks, "interval_s") == 0) st = get_num(x, v, "serving.log.retention.interval_s", 0.01, 86400, false, &c->log_retention_interval_s);
        else if (ks && strcmp(ks, "max_rows") == 0) {
            if (!(st = get_num(x, v, "serving.log.retention.max_rows", 0, 1e15, true, &d))) c->log_retention_rows = (uint64_t)d;
        } else if (ks && strcmp(ks, "max_bytes") == 0) {
            if (!(st = get_num(x, v, "serving.log.retention.max_bytes", 0, 1e15, true, &d))) c->log_retention_bytes = (uint64_t)d;
        } else st = at(x, k, "serving.log.retention", "unknown key (max_age_s, max_rows, max_bytes, interval_s)", ks ? ks : "?");
        if (st) return st;
    }
    return FW_OK;
}

static fw_status parse_log(ctx *x, yaml_node_t *m, fw_serve_config *c) {
    if (m->type != YAML_MAPPING_NODE) return at(x, m, "serving.log", "expected a mapping", NULL);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        fw_status st = FW_OK;
        if (!ks) st = at(x, k, "serving.log", "expected a key", NULL);
        else if (strcmp(ks, "path") == 0) st = get_str(x, v, "serving.log.path", &c->log_path);
        else if (strcmp(ks, "capacity") == 0)
            st = get_size(x, v, "serving.log.capacity", 2, 1 << 26, &c->log_capacity);
        else if (strcmp(ks, "batch") == 0) st = get_size(x, v, "serving.log.batch", 1, 1 << 20, &c->log_batch);
        else if (strcmp(ks, "spool_bytes") == 0)
            st = get_size(x, v, "serving.log.spool_bytes", 0, 1099511627776.0, &c->log_spool_bytes);
        else if (strcmp(ks, "catch_up") == 0) st = get_bool(x, v, "serving.log.catch_up", &c->log_catch_up);
        else if (strcmp(ks, "ingest_batch") == 0)
            st = get_size(x, v, "serving.log.ingest_batch", 1, 1 << 16, &c->log_ingest_batch);
        else if (strcmp(ks, "sample") == 0) st = get_num(x, v, "serving.log.sample", 0, 1, false, &c->log_sample);
        else if (strcmp(ks, "retention") == 0) st = parse_retention(x, v, c);
        else if (strcmp(ks, "flush_ms") == 0) {
            double d;
            if (!(st = get_num(x, v, "serving.log.flush_ms", 1, 60000, true, &d))) c->log_flush_ms = (int)d;
        } else if (strcmp(ks, "policy") == 0) {
            const char *vs = scalar(v);
            if (!vs || !fw_log_policy_parse(vs, &c->log_policy))
                st = at(x, v, "serving.log.policy", "expected drop-newest, drop-oldest or sample", vs ? vs : "?");
        } else st = at(x, k, "serving.log", "unknown key", ks);
        if (st) return st;
    }
    return FW_OK;
}

/* serving.tls: {cert: FILE, key: FILE} */
static fw_status parse_tls(ctx *x, yaml_node_t *m, fw_serve_config *c) {
    if (m->type != YAML_MAPPING_NODE) return at(x, m, "serving.tls", "expected a mapping {cert, key}", NULL);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        fw_status st;
        if (ks && strcmp(ks, "cert") == 0) st = get_str(x, v, "serving.tls.cert", &c->tls_cert);
        else if (ks && strcmp(ks, "key") == 0) st = get_str(x, v, "serving.tls.key", &c->tls_key);
        else st = at(x, k, "serving.tls", "unknown key", ks ? ks : "?");
        if (st) return st;
    }
    return FW_OK;
}

/* serving.cors_origins: a list of origins ("https://host[:port]" or "*"); replaces any earlier list */
static fw_status parse_origins(ctx *x, yaml_node_t *v, fw_serve_config *c) {
    if (v->type != YAML_SEQUENCE_NODE) return at(x, v, "serving.cors_origins", "expected a list of origins", NULL);
    for (size_t i = 0; i < c->n_cors_origins; i++) fw_free(c->cors_origins[i]);
    fw_free(c->cors_origins);
    c->cors_origins = NULL;
    c->n_cors_origins = 0;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n && !(c->cors_origins = fw_calloc(n, sizeof *c->cors_origins)))
        return fw_err_set(x->err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, v->data.sequence.items.start[i]);
        const char *s = scalar(e);
        if (!s || !*s) return at(x, e, "serving.cors_origins", "expected an origin string", s);
        if (!(c->cors_origins[i] = fw_strdup(s))) return fw_err_set(x->err, FW_ENOMEM, "out of memory");
        c->n_cors_origins++;
    }
    return FW_OK;
}

static fw_status parse_serving(ctx *x, yaml_node_t *m, fw_serve_config *c) {
    if (m->type != YAML_MAPPING_NODE) return at(x, m, "serving", "expected a mapping", NULL);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *ks = scalar(k);
        fw_status st = FW_OK;
        double d;
        if (!ks) return at(x, k, "serving", "expected a key", NULL);
        if (strcmp(ks, "host") == 0) st = get_str(x, v, "serving.host", &c->host);
        else if (strcmp(ks, "port") == 0) {
            if (!(st = get_num(x, v, "serving.port", 0, 65535, true, &d))) c->port = (int)d;
        } else if (strcmp(ks, "threads") == 0) {
            if (!(st = get_num(x, v, "serving.threads", 0, 1024, true, &d))) c->threads = (int)d;
        } else if (strcmp(ks, "max_body_bytes") == 0)
            st = get_size(x, v, "serving.max_body_bytes", 64, 1 << 30, &c->max_body_bytes);
        else if (strcmp(ks, "conn_limit") == 0) {
            if (!(st = get_num(x, v, "serving.conn_limit", 1, 1 << 20, true, &d))) c->conn_limit = (unsigned)d;
        } else if (strcmp(ks, "conn_timeout_s") == 0) {
            if (!(st = get_num(x, v, "serving.conn_timeout_s", 1, 86400, true, &d))) c->conn_timeout_s = (unsigned)d;
        } else if (strcmp(ks, "model_memory_bytes") == 0)
            st = get_size(x, v, "serving.model_memory_bytes", 0, 1e15, &c->model_memory_bytes);
        else if (strcmp(ks, "max_models") == 0)
            st = get_size(x, v, "serving.max_models", 1, 1 << 24, &c->max_models);
        else if (strcmp(ks, "alias_poll_s") == 0)
            st = get_num(x, v, "serving.alias_poll_s", 0, 86400, false, &c->alias_poll_s);
        else if (strcmp(ks, "admin_wait_s") == 0)
            st = get_num(x, v, "serving.admin_wait_s", 0, 3600, false, &c->admin_wait_s);
        else if (strcmp(ks, "drain_timeout_s") == 0)
            st = get_num(x, v, "serving.drain_timeout_s", 0, 3600, false, &c->drain_timeout_s);
        else if (strcmp(ks, "batch_max_age_s") == 0)
            st = get_num(x, v, "serving.batch_max_age_s", 0, 1e9, false, &c->batch_max_age_s);
        else if (strcmp(ks, "batch_cache_ttl_s") == 0)
            st = get_num(x, v, "serving.batch_cache_ttl_s", 0, 3600, false, &c->batch_cache_ttl_s);
        else if (strcmp(ks, "confidence_threshold") == 0)
            st = get_num(x, v, "serving.confidence_threshold", 0, 1, false, &c->confidence_threshold);
        else if (strcmp(ks, "admin_token") == 0) st = get_str(x, v, "serving.admin_token", &c->admin_token);
        else if (strcmp(ks, "predict_token") == 0) st = get_str(x, v, "serving.predict_token", &c->predict_token);
        else if (strcmp(ks, "rank_token") == 0) st = get_str(x, v, "serving.rank_token", &c->rank_token);
        else if (strcmp(ks, "feedback_token") == 0) st = get_str(x, v, "serving.feedback_token", &c->feedback_token);
        else if (strcmp(ks, "request_timeout_s") == 0) {
            if (!(st = get_num(x, v, "serving.request_timeout_s", 1, 86400, true, &d))) c->request_timeout_s = (unsigned)d;
        } else if (strcmp(ks, "max_instances") == 0)
            st = get_size(x, v, "serving.max_instances", 1, 1e9, &c->max_instances);
        else if (strcmp(ks, "max_reply_bytes") == 0)
            st = get_size(x, v, "serving.max_reply_bytes", 1024, 1e12, &c->max_reply_bytes);
        else if (strcmp(ks, "max_pending_reply_bytes") == 0)
            st = get_size(x, v, "serving.max_pending_reply_bytes", 65536, 1e13, &c->max_pending_reply_bytes);
        else if (strcmp(ks, "cors_origins") == 0) st = parse_origins(x, v, c);
        else if (strcmp(ks, "tls") == 0) st = parse_tls(x, v, c);
        else if (strcmp(ks, "store") == 0) st = get_str(x, v, "serving.store", &c->store_path);
        else if (strcmp(ks, "models_dir") == 0) st = get_str(x, v, "serving.models_dir", &c->models_dir);
        else if (strcmp(ks, "log") == 0) st = parse_log(x, v, c);
        else if (strcmp(ks, "splits") == 0) st = parse_splits(x, v, c);
        else if (strcmp(ks, "models") == 0) {
            if (v->type != YAML_SEQUENCE_NODE) return at(x, v, "serving.models", "expected a list of NAME@ALIAS", NULL);
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(x->doc, *it);
                const char *s = scalar(e);
                if (!s || !strchr(s, '@')) return at(x, e, "serving.models", "expected NAME@ALIAS", s);
                if (FW_GROW(&c->models, &(size_t){c->n_models}, c->n_models + 1) != FW_OK)
                    return fw_err_set(x->err, FW_ENOMEM, "out of memory");
                if (!(c->models[c->n_models] = fw_strdup(s))) return fw_err_set(x->err, FW_ENOMEM, "out of memory");
                c->n_models++;
            }
        } else if (strcmp(ks, "rank") == 0) {
            if (v->type != YAML_MAPPING_NODE) return at(x, v, "serving.rank", "expected a mapping", NULL);
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
                yaml_node_t *v2 = yaml_document_get_node(x->doc, q->value);
                const char *k2s = scalar(k2);
                if (k2s && strcmp(k2s, "objectives") == 0)
                    st = parse_objectives(x, v2, "serving.rank.objectives", false, &c->objectives, &c->n_objectives);
                else if (k2s && strcmp(k2s, "filters") == 0)
                    st = parse_objectives(x, v2, "serving.rank.filters", true, &c->filters, &c->n_filters);
                else st = at(x, k2, "serving.rank", "unknown key", k2s ? k2s : "?");
                if (st) return st;
            }
        } else st = at(x, k, "serving", "unknown key", ks);
        if (st) return st;
    }
    return FW_OK;
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
    ctx x = {&doc, name_for_errors, err};
    fw_status st = FW_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            const char *ks = scalar(yaml_document_get_node(&doc, p->key));
            if (ks && strcmp(ks, "serving") == 0) {
                st = parse_serving(&x, yaml_document_get_node(&doc, p->value), c);
                if (st) break;
            }
        }
    } else if (root) {
        st = at(&x, root, "(top level)", "expected a mapping", NULL);
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
