/* project_parse.c — owns reading flywheel.yaml into fw_project (libyaml document API).
 *
 * Every error names the file, line and column, and the key path ("features[2].scale"):
 *   - unknown keys (with the nearest known key by edit distance: "did you mean 'label'?"),
 *   - duplicate keys, wrong node kinds (a list where a string is expected),
 *   - bad scalars ("abc" for a number, 1.5 for an integer, out of range values),
 *   - unknown enum values (listing the allowed ones),
 *   - missing required keys (data, data.train, data.label; a feature's name).
 * Relative data paths are resolved against the directory of the project file. */
#include "project/project.h"

#include "core/alloc.h"
#include "core/yaml_read.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_LIST_ITEMS 100000 /* guards against alias bombs and absurd files */
#define MAX_CROSS_COLUMNS 8

typedef struct pctx {
    fw_yaml y;             /* the document, file name and error; y.user is this pctx */
    const char *src;       /* the YAML text and its length */
    size_t src_len;
    fw_project *p;
    bool threshold_set;
    bool fallback_set;
} pctx;

/* ---- data ----------------------------------------------------------------------------------- */

static const char *const k_data_keys[] = {"train", "test", "id", "time", "groups", "label", "positive",
                                          "query", "missing_tokens", "exclude", "weight", NULL};

static fw_status resolve_path(pctx *c, char **path) {
    if (!*path || (*path)[0] == '/') return FW_OK;
    const char *slash = strrchr(c->y.file, '/');
    if (!slash) return FW_OK;
    size_t dl = (size_t)(slash - c->y.file);
    size_t pl = strlen(*path);
    char *full = fw_malloc(dl + 1 + pl + 1);
    if (!full) return fw_yaml_oom(&c->y);
    memcpy(full, c->y.file, dl);
    full[dl] = '/';
    memcpy(full + dl + 1, *path, pl + 1);
    fw_free(*path);
    *path = full;
    return FW_OK;
}

static fw_status data_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)ud;
    fw_project *p = c->p;
    int line = fw_yaml_line(k);
    fw_status st;
    switch (key) {
    case 0:
        if ((st = fw_yaml_get_str(&c->y, v, "data.train", &p->train_path))) return st;
        return resolve_path(c, &p->train_path);
    case 1:
        if ((st = fw_yaml_get_str(&c->y, v, "data.test", &p->test_path))) return st;
        return resolve_path(c, &p->test_path);
    case 2: p->lines.id = line; return fw_yaml_get_str(&c->y, v, "data.id", &p->id_column);
    case 3: p->lines.time = line; return fw_yaml_get_str(&c->y, v, "data.time", &p->time_column);
    case 4:
        p->lines.groups = line;
        return fw_yaml_get_str_list(&c->y, v, "data.groups", false, &p->group_columns, &p->n_group_columns);
    case 5:
        p->lines.label = line;
        return fw_yaml_get_str_list(&c->y, v, "data.label", true, &p->label_columns, &p->n_label_columns);
    case 6: p->lines.positive = line; return fw_yaml_get_str(&c->y, v, "data.positive", &p->positive_value);
    case 7: p->lines.query = line; return fw_yaml_get_str(&c->y, v, "data.query", &p->query_column);
    case 8: {
        /* A list of tokens; the empty string is a valid token here, so read by hand. */
        if (v->type != YAML_SEQUENCE_NODE)
            return fw_yaml_error(&c->y, v, "'data.missing_tokens': expected a list, got %s", fw_yaml_kind(v));
        fw_status s2 = fw_yaml_get_str_list(&c->y, v, "data.missing_tokens", false, &p->missing_tokens,
                                    &p->n_missing_tokens);
        return s2;
    }
    case 9:
        p->lines.exclude = line;
        return fw_yaml_get_str_list(&c->y, v, "data.exclude", false, &p->exclude, &p->n_exclude);
    case 10: p->line_weight = line; return fw_yaml_get_str(&c->y, v, "data.weight", &p->weight_column);
    }
    return FW_OK;
}

/* ---- features ------------------------------------------------------------------------------- */

static const char *const k_feature_keys[] = {"name", "type", "impute", "impute_value",
                                             "missing_indicator", "scale", "bins", "encode",
                                             "min_frequency", "max_categories", "tfidf", "bigrams",
                                             NULL};
static const char *const k_types[] = {"numeric", "categorical", "text", "timestamp", NULL};
static const char *const k_impute[] = {"mean", "median", "constant", "none", NULL};
static const char *const k_scale[] = {"none", "standard", "minmax", "log1p", "quantile", NULL};
static const char *const k_encode[] = {"onehot", "hash", NULL};

typedef struct feat_ud {
    fw_feature_spec *f;
    const char *path;
    bool impute_value_set;
    yaml_node_t *impute_node;
} feat_ud;

static fw_status feature_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *vud) {
    pctx *c = y->user;
    (void)k;
    feat_ud *u = vud;
    fw_feature_spec *f = u->f;
    char path[160];
    snprintf(path, sizeof path, "%s.%s", u->path, k_feature_keys[key]);
    int e;
    fw_status st;
    switch (key) {
    case 0:
        if (fw_yaml_is_null(v)) return fw_yaml_error(&c->y, v, "'%s': a feature needs a name", path);
        return fw_yaml_get_str(&c->y, v, path, &f->name);
    case 1:
        if ((st = fw_yaml_get_enum(&c->y, v, path, k_types, &e))) return st;
        f->type = (fw_col_type)e; /* k_types is in fw_col_type order */
        f->type_set = true;
        return FW_OK;
    case 2:
        if ((st = fw_yaml_get_enum(&c->y, v, path, k_impute, &e))) return st;
        f->impute = (fw_impute)(e + 1);
        u->impute_node = v;
        return FW_OK;
    case 3: u->impute_value_set = true; return fw_yaml_get_double(&c->y, v, path, -HUGE_VAL, HUGE_VAL, &f->impute_value);
    case 4: return fw_yaml_get_bool(&c->y, v, path, &f->missing_indicator);
    case 5:
        if ((st = fw_yaml_get_enum(&c->y, v, path, k_scale, &e))) return st;
        f->scale = (fw_scale)(e + 1);
        return FW_OK;
    case 6: return fw_yaml_get_u32(&c->y, v, path, 2, 1000, &f->quantile_bins);
    case 7:
        if ((st = fw_yaml_get_enum(&c->y, v, path, k_encode, &e))) return st;
        f->encode = (fw_encode)(e + 1);
        return FW_OK;
    case 8: return fw_yaml_get_u32(&c->y, v, path, 1, 1000000000u, &f->min_frequency);
    case 9: return fw_yaml_get_u32(&c->y, v, path, 1, 100000, &f->max_categories);
    case 10: return fw_yaml_get_bool(&c->y, v, path, &f->tfidf);
    case 11: return fw_yaml_get_bool(&c->y, v, path, &f->bigrams);
    }
    return FW_OK;
}

static fw_status parse_features(pctx *c, yaml_node_t *n) {
    fw_project *p = c->p;
    size_t count;
    fw_status lst = fw_yaml_list(&c->y, n, "features", NULL, MAX_LIST_ITEMS, &count);
    if (lst || !count) return lst;
    p->features = fw_calloc(count, sizeof *p->features);
    if (!p->features) return fw_yaml_oom(&c->y);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = fw_yaml_item(&c->y, n, i);
        char path[64];
        snprintf(path, sizeof path, "features[%zu]", i);
        fw_feature_spec *f = &p->features[i];
        fw_feature_spec_init(f);
        p->n_features = i + 1;
        if (!it) return fw_yaml_error(&c->y, n, "'%s': malformed item", path);
        f->line = fw_yaml_line(it);
        if (it->type == YAML_SCALAR_NODE) {
            if (fw_yaml_is_null(it)) return fw_yaml_error(&c->y, it, "'%s': a feature needs a name", path);
            if (!(f->name = fw_strdup(fw_yaml_scalar(it)))) return fw_yaml_oom(&c->y);
        } else if (it->type == YAML_MAPPING_NODE) {
            feat_ud u = {f, path, false, NULL};
            fw_status st = fw_yaml_walk_map(&c->y, it, path, k_feature_keys, feature_pair, &u);
            if (st) return st;
            if (!f->name) return fw_yaml_error(&c->y, it, "'%s': missing required key 'name'", path);
            if (f->impute == FW_IMPUTE_CONSTANT && !u.impute_value_set)
                return fw_yaml_error(&c->y, u.impute_node, "'%s.impute': constant imputation needs 'impute_value'", path);
        } else {
            return fw_yaml_error(&c->y, it, "'%s': expected a column name or a map, got %s", path, fw_yaml_kind(it));
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->features[j].name, f->name))
                return fw_yaml_error(&c->y, it, "'%s': feature '%s' is listed twice (first on line %d)", path,
                            f->name, p->features[j].line);
    }
    return FW_OK;
}

static fw_status parse_crosses(pctx *c, yaml_node_t *n) {
    fw_project *p = c->p;
    size_t count;
    fw_status lst = fw_yaml_list(&c->y, n, "crosses", "a list of lists of column names", 10000, &count);
    if (lst || !count) return lst;
    p->crosses = fw_calloc(count, sizeof *p->crosses);
    if (!p->crosses) return fw_yaml_oom(&c->y);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = fw_yaml_item(&c->y, n, i);
        char path[64];
        snprintf(path, sizeof path, "crosses[%zu]", i);
        p->n_crosses = i + 1;
        if (!it) return fw_yaml_error(&c->y, n, "'%s': malformed item", path);
        p->crosses[i].line = fw_yaml_line(it);
        if (it->type != YAML_SEQUENCE_NODE)
            return fw_yaml_error(&c->y, it, "'%s': expected a list of column names, got %s", path, fw_yaml_kind(it));
        fw_status st = fw_yaml_get_str_list(&c->y, it, path, false, &p->crosses[i].columns, &p->crosses[i].n_columns);
        if (st) return st;
        if (p->crosses[i].n_columns < 2 || p->crosses[i].n_columns > MAX_CROSS_COLUMNS)
            return fw_yaml_error(&c->y, it, "'%s': a cross needs 2 to %d columns, got %zu", path, MAX_CROSS_COLUMNS,
                        p->crosses[i].n_columns);
    }
    return FW_OK;
}

/* ---- split, baseline, constraints ------------------------------------------------------------ */

static const char *const k_split_keys[] = {"kind", "test_fraction", "valid_fraction", "seed", "folds",
                                           "group", "refit", NULL};
static const char *const k_split_kinds[] = {"random", "stratified", "time", "group", NULL};

static fw_status split_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)ud;
    fw_project *p = c->p;
    int e;
    fw_status st;
    switch (key) {
    case 0:
        if ((st = fw_yaml_get_enum(&c->y, v, "split.kind", k_split_kinds, &e))) return st;
        p->split = (fw_split_kind)e;
        p->split_set = true;
        return FW_OK;
    case 1: return fw_yaml_get_double(&c->y, v, "split.test_fraction", 0.0, 0.95, &p->test_fraction);
    case 2: return fw_yaml_get_double(&c->y, v, "split.valid_fraction", 0.0, 0.9, &p->valid_fraction);
    case 3: return fw_yaml_get_int(&c->y, v, "split.seed", 0, UINT64_MAX, &p->seed);
    case 4: return fw_yaml_get_u32(&c->y, v, "split.folds", 0, 100, &p->folds);
    case 5: p->lines.split_group = fw_yaml_line(k); return fw_yaml_get_str(&c->y, v, "split.group", &p->split_group);
    case 6: {
        /* auto, or a boolean (true / false, yes / no) */
        static const char *const refit_words[] = {"auto", "true", "false", "yes", "no", "on", "off", NULL};
        if ((st = fw_yaml_get_enum(&c->y, v, "split.refit", refit_words, &e))) return st;
        p->refit = e == 0 ? FW_REFIT_AUTO : (e % 2 == 1) ? FW_REFIT_ON : FW_REFIT_OFF;
        return FW_OK;
    }
    }
    return FW_OK;
}

static const char *const k_baselines[] = {"auto", "prior", "majority", "mean", "median", "feature", NULL};
static const char *const k_baseline_keys[] = {"rule", NULL};

static fw_status set_rule(pctx *c, yaml_node_t *v, const char *path) {
    fw_project *p = c->p;
    fw_status st = fw_yaml_get_str(&c->y, v, path, &p->baseline.rule);
    if (st) return st;
    if (!p->baseline.rule) return fw_yaml_error(&c->y, v, "'%s': empty rule", path);
    fw_rule r;
    fw_err e2;
    fw_err_clear(&e2);
    st = fw_rule_parse(p->baseline.rule, &r, &e2);
    if (st == FW_ENOMEM) return fw_yaml_oom(&c->y);
    if (st) return fw_yaml_error(&c->y, v, "'%s': %s", path, e2.msg);
    fw_rule_free(&r);
    p->baseline.kind = FW_BASELINE_RULE;
    return FW_OK;
}

static fw_status baseline_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)key, (void)k, (void)ud;
    return set_rule(c, v, "baseline.rule");
}

static fw_status parse_baseline(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    c->p->lines.baseline = fw_yaml_line(k);
    if (v->type == YAML_MAPPING_NODE) {
        fw_status st = fw_yaml_walk_map(&c->y, v, "baseline", k_baseline_keys, baseline_pair, NULL);
        if (st) return st;
        if (c->p->baseline.kind != FW_BASELINE_RULE)
            return fw_yaml_error(&c->y, v, "'baseline': missing required key 'rule'");
        return FW_OK;
    }
    if (v->type == YAML_SCALAR_NODE && strstr(fw_yaml_scalar(v), "->")) return set_rule(c, v, "baseline");
    if (v->type != YAML_SCALAR_NODE)
        return fw_yaml_error(&c->y, v, "'baseline': expected one of auto, prior, majority, mean, median, feature, a rule "
                          "\"COLUMN OP VALUE -> LABEL\" or {rule: ...}, got %s", fw_yaml_kind(v));
    int e;
    fw_status st = fw_yaml_get_enum(&c->y, v, "baseline", k_baselines, &e);
    if (st) return st;
    c->p->baseline.kind = e == 5 ? FW_BASELINE_FEATURE : (fw_baseline_kind)e; /* 5: "feature" */
    if (c->p->baseline.kind == FW_BASELINE_FEATURE && c->p->task_set && c->p->task != FW_TASK_RANKING)
        return fw_yaml_error(&c->y, v, "'baseline: feature' is for a ranking task");
    return FW_OK;
}

static const char *const k_constraint_keys[] = {"p99_latency_ms", "min_improvement",
                                                "confidence_threshold", "fallback", "fallback_value",
                                                "cost_fp", "cost_fn", "target_recall",
                                                "target_precision", "threshold", NULL};
static const char *const k_fallbacks[] = {"baseline", "value", "review", NULL};
static const char *const k_thresholds[] = {"max_f1", "fixed", "target_recall", "target_precision",
                                           "min_cost", NULL};

static fw_status constraint_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)k, (void)ud;
    fw_constraints *cs = &c->p->constraints;
    int e;
    fw_status st;
    switch (key) {
    case 0: return fw_yaml_get_double(&c->y, v, "constraints.p99_latency_ms", 0, 1e9, &cs->p99_latency_ms);
    case 1: return fw_yaml_get_double(&c->y, v, "constraints.min_improvement", -1e300, 1e300, &cs->min_improvement);
    case 2: return fw_yaml_get_double(&c->y, v, "constraints.confidence_threshold", 0, 1, &cs->confidence_threshold);
    case 3:
        if ((st = fw_yaml_get_enum(&c->y, v, "constraints.fallback", k_fallbacks, &e))) return st;
        cs->fallback = (fw_fallback_kind)e;
        c->fallback_set = true;
        return FW_OK;
    case 4: return fw_yaml_get_str(&c->y, v, "constraints.fallback_value", &cs->fallback_value);
    case 5: return fw_yaml_get_double(&c->y, v, "constraints.cost_fp", 0, 1e300, &cs->cost_fp);
    case 6: return fw_yaml_get_double(&c->y, v, "constraints.cost_fn", 0, 1e300, &cs->cost_fn);
    case 7: return fw_yaml_get_double(&c->y, v, "constraints.target_recall", 0, 1, &cs->target_recall);
    case 8: return fw_yaml_get_double(&c->y, v, "constraints.target_precision", 0, 1, &cs->target_precision);
    case 9:
        c->threshold_set = true;
        if (v->type == YAML_SCALAR_NODE && !fw_yaml_is_null(v)) {
            const char *s = fw_yaml_scalar(v);
            if (isdigit((unsigned char)s[0]) || s[0] == '.' || s[0] == '-' || s[0] == '+') {
                cs->threshold_rule = FW_THRESHOLD_FIXED;
                return fw_yaml_get_double(&c->y, v, "constraints.threshold", 0, 1, &cs->threshold);
            }
        }
        if ((st = fw_yaml_get_enum(&c->y, v, "constraints.threshold (a number in [0, 1] or a rule)", k_thresholds, &e)))
            return st;
        if (e == FW_THRESHOLD_FIXED) return fw_yaml_error(&c->y, v, "'constraints.threshold': give the number itself");
        cs->threshold_rule = (fw_threshold_rule)e;
        return FW_OK;
    }
    return FW_OK;
}

/* ---- top level ------------------------------------------------------------------------------ */

static const char *const k_top_keys[] = {"name", "data", "task", "features", "crosses", "hash_bits",
                                         "split", "metric", "metrics", "baseline", "constraints",
                                         "serving", "objective", "class_weights", "hierarchy",
                                         "monitoring", "expectations", "learn", NULL};

/* Bytes of the line break at s (0 when none), counted as libyaml counts lines: CR LF is one break,
 * and so are a lone CR, LF, NEL (C2 85), LS and PS (E2 80 A8/A9). */
static size_t break_width(const unsigned char *s, size_t left) {
    if (s[0] == '\r') return left > 1 && s[1] == '\n' ? 2 : 1;
    if (s[0] == '\n') return 1;
    if (s[0] == 0xC2 && left > 1 && s[1] == 0x85) return 2;
    if (s[0] == 0xE2 && left > 2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) return 3;
    return 0;
}

/* Byte offset of the start of 0-based line `line` in the source (len when past the end). */
static size_t line_start(const pctx *c, size_t line) {
    const unsigned char *s = (const unsigned char *)c->src;
    size_t at = 0;
    for (size_t l = 0; l < line && at < c->src_len;) {
        size_t w = break_width(s + at, c->src_len - at);
        at += w ? w : 1;
        l += w != 0;
    }
    return at;
}

/* Keeps the serving section's text (whole lines, from its key on) for fw_project_write; serve/
 * config.c parses and validates it. Kept only when the lines are recognisably the section. */
static fw_status keep_serving(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    c->p->lines.serving = fw_yaml_line(k);
    if (fw_yaml_is_null(v) || k->start_mark.column != 0) return FW_OK;
    size_t b = line_start(c, k->start_mark.line);
    size_t e;
    bool block = (v->type == YAML_MAPPING_NODE && v->data.mapping.style == YAML_BLOCK_MAPPING_STYLE) ||
                 (v->type == YAML_SEQUENCE_NODE && v->data.sequence.style == YAML_BLOCK_SEQUENCE_STYLE);
    if (block && v->end_mark.column == 0) e = line_start(c, v->end_mark.line);
    else e = line_start(c, v->end_mark.line + 1);
    while (e > b && (c->src[e - 1] == '\n' || c->src[e - 1] == '\r' || c->src[e - 1] == ' ' || c->src[e - 1] == '\t'))
        e--;
    if (e <= b || e - b < 8 || memcmp(c->src + b, "serving", 7) || memchr(c->src + b, 0, e - b)) return FW_OK;
    fw_free(c->p->serving_yaml);
    c->p->serving_yaml = fw_strndup(c->src + b, e - b);
    return c->p->serving_yaml ? FW_OK : fw_yaml_oom(&c->y);
}

/* ---- fitting: objective, class weights, hierarchy ---------------------------------------------- */

static const char *const k_objectives[] = {"squared_error", "absolute_error", "huber", "log_loss", NULL};

static fw_status parse_objective(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    int e;
    fw_status st = fw_yaml_get_enum(&c->y, v, "objective", k_objectives, &e);
    if (st) return st;
    c->p->line_objective = fw_yaml_line(k);
    fw_free(c->p->objective);
    c->p->objective = fw_strdup(k_objectives[e]);
    return c->p->objective ? FW_OK : fw_yaml_oom(&c->y);
}

/* A map of scalar keys to scalar values, as two parallel string lists. */
static fw_status get_str_map(pctx *c, yaml_node_t *v, const char *path, char ***keys, char ***vals, size_t *n) {
    if (v->type != YAML_MAPPING_NODE) return fw_yaml_error(&c->y, v, "'%s': expected a map, got %s", path, fw_yaml_kind(v));
    size_t cap = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    *keys = fw_calloc(cap ? cap : 1, sizeof(char *));
    *vals = fw_calloc(cap ? cap : 1, sizeof(char *));
    if (!*keys || !*vals) return fw_yaml_oom(&c->y);
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->y.doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(c->y.doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE)
            return fw_yaml_error(&c->y, kn ? kn : v, "'%s': expected 'name: value' pairs of plain values", path);
        for (size_t i = 0; i < *n; i++)
            if (!strcmp((*keys)[i], fw_yaml_scalar(kn))) return fw_yaml_error(&c->y, kn, "'%s': '%s' is given twice", path, fw_yaml_scalar(kn));
        (*keys)[*n] = fw_strdup(fw_yaml_scalar(kn));
        (*vals)[*n] = fw_strdup(fw_yaml_scalar(vn));
        if (!(*keys)[*n] || !(*vals)[*n]) return fw_yaml_oom(&c->y);
        (*n)++;
    }
    return *n ? FW_OK : fw_yaml_error(&c->y, v, "'%s': the map is empty", path);
}

static fw_status parse_class_weights(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    fw_project *p = c->p;
    p->line_class_weights = fw_yaml_line(k);
    if (v->type == YAML_SCALAR_NODE) {
        if (strcmp(fw_yaml_scalar(v), "balanced") != 0)
            return fw_yaml_error(&c->y, v, "'class_weights': expected 'balanced' or a map {class: weight}, got '%s'", fw_yaml_scalar(v));
        p->class_weights_balanced = true;
        return FW_OK;
    }
    char **vals = NULL;
    fw_status st = get_str_map(c, v, "class_weights", &p->class_weight_names, &vals, &p->n_class_weights);
    if (!st && !(p->class_weight_values = fw_calloc(p->n_class_weights ? p->n_class_weights : 1, sizeof(double))))
        st = fw_yaml_oom(&c->y);
    for (size_t i = 0; !st && i < p->n_class_weights; i++) {
        char *end;
        double w = strtod(vals[i], &end);
        if (end == vals[i] || *end || !isfinite(w) || w < 0)
            st = fw_yaml_error(&c->y, v, "'class_weights.%s': expected a number >= 0, got '%s'", p->class_weight_names[i], vals[i]);
        else p->class_weight_values[i] = w;
    }
    for (size_t i = 0; vals && i < p->n_class_weights; i++) fw_free(vals[i]);
    fw_free(vals);
    return st;
}

static const char *const k_hierarchy_keys[] = {"parent", "groups", NULL};

static fw_status hierarchy_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)k;
    (void)ud;
    fw_project *p = c->p;
    if (key == 0) return fw_yaml_get_str(&c->y, v, "hierarchy.parent", &p->hier_parent);
    return get_str_map(c, v, "hierarchy.groups", &p->hier_classes, &p->hier_groups, &p->n_hier);
}

static fw_status parse_hierarchy(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    c->p->line_hierarchy = fw_yaml_line(k);
    fw_status st = fw_yaml_walk_map(&c->y, v, "hierarchy", k_hierarchy_keys, hierarchy_pair, NULL);
    if (st) return st;
    if (!c->p->hier_parent == !c->p->n_hier)
        return fw_yaml_error(&c->y, v, "'hierarchy': give either 'parent' (a column naming each row's group) or 'groups' "
                          "(a map {class: group}), not both");
    return FW_OK;
}

/* ---- expectations (the monitor's per-column quality checks) ---------------------------------- */

static const char *const k_expect_keys[] = {"min", "max", "allowed", "max_missing", NULL};

static fw_status expect_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    fw_expectation *e = ud;
    (void)k;
    char path[160];
    snprintf(path, sizeof path, "expectations.%.100s.%s", e->column, k_expect_keys[key]);
    switch (key) {
    case 0: return fw_yaml_get_double(y, v, path, -1e300, 1e300, &e->min);
    case 1: return fw_yaml_get_double(y, v, path, -1e300, 1e300, &e->max);
    case 2: return fw_yaml_get_str_list(y, v, path, false, &e->allowed, &e->n_allowed);
    case 3: return fw_yaml_get_double(y, v, path, 0, 1, &e->max_missing);
    }
    return FW_OK;
}

static fw_status parse_expectations(pctx *c, yaml_node_t *v) {
    if (fw_yaml_is_null(v)) return FW_OK;
    if (v->type != YAML_MAPPING_NODE)
        return fw_yaml_error(&c->y, v, "'expectations': expected a map {column: {min, max, allowed, max_missing}}, got %s",
                             fw_yaml_kind(v));
    size_t cap = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    fw_project *p = c->p;
    if (!(p->expectations = fw_calloc(cap ? cap : 1, sizeof *p->expectations))) return fw_yaml_oom(&c->y);
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->y.doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(c->y.doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE || fw_yaml_is_null(kn))
            return fw_yaml_error(&c->y, kn ? kn : v, "'expectations': each key is a column name");
        for (size_t i = 0; i < p->n_expectations; i++)
            if (!strcmp(p->expectations[i].column, fw_yaml_scalar(kn)))
                return fw_yaml_error(&c->y, kn, "'expectations': column '%s' is given twice (first on line %d)",
                                     fw_yaml_scalar(kn), p->expectations[i].line);
        fw_expectation *e = &p->expectations[p->n_expectations++];
        e->min = NAN;
        e->max = NAN;
        e->max_missing = -1;
        e->line = fw_yaml_line(kn);
        if (!(e->column = fw_strdup(fw_yaml_scalar(kn)))) return fw_yaml_oom(&c->y);
        char path[120];
        snprintf(path, sizeof path, "expectations.%.100s", e->column);
        fw_status st = fw_yaml_walk_map(&c->y, vn, path, k_expect_keys, expect_pair, e);
        if (st) return st;
        if (e->min > e->max) return fw_yaml_error(&c->y, vn, "'%s': min %g is above max %g", path, e->min, e->max);
    }
    return FW_OK;
}

static fw_status top_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    pctx *c = y->user;
    (void)ud;
    fw_project *p = c->p;
    fw_status st;
    switch (key) {
    case 0: return fw_yaml_get_str(&c->y, v, "name", &p->name);
    case 1: return fw_yaml_walk_map(&c->y, v, "data", k_data_keys, data_pair, NULL);
    case 2: {
        int e;
        static const char *const tasks[] = {"binary", "multiclass", "multilabel", "regression",
                                            "ranking", NULL};
        if ((st = fw_yaml_get_enum(&c->y, v, "task", tasks, &e))) return st;
        p->task = (fw_task)e;
        p->task_set = true;
        return FW_OK;
    }
    case 3: return parse_features(c, v);
    case 4: return parse_crosses(c, v);
    case 5: return fw_yaml_get_u32(&c->y, v, "hash_bits", 4, 28, &p->hash_bits);
    case 6: return fw_yaml_walk_map(&c->y, v, "split", k_split_keys, split_pair, NULL);
    case 7: return fw_yaml_get_str(&c->y, v, "metric", &p->metric);
    case 8: return fw_yaml_get_str_list(&c->y, v, "metrics", false, &p->extra_metrics, &p->n_extra_metrics);
    case 9: return parse_baseline(c, v, k);
    case 10: return fw_yaml_walk_map(&c->y, v, "constraints", k_constraint_keys, constraint_pair, NULL);
    case 11: return keep_serving(c, v, k);
    case 12: return parse_objective(c, v, k);
    case 13: return parse_class_weights(c, v, k);
    case 14: return parse_hierarchy(c, v, k);
    case 15: return FW_OK; /* monitoring: read and validated by serve/config.c */
    case 16: return parse_expectations(c, v);
    case 17:
        if ((st = fw_learn_parse(&c->y, v, k, &p->learn))) return st;
        return resolve_path(c, &p->learn.base_data);
    }
    return FW_OK;
}

/* Checks that need the whole file: required keys, cross-key consistency, implied threshold rule. */
static fw_status finish(pctx *c, yaml_node_t *root) {
    fw_project *p = c->p;
    yaml_node_t *data = fw_yaml_map_get(&c->y, root, "data");
    if (!data) return fw_yaml_error(&c->y, root, "missing required key 'data' (with at least 'train' and 'label')");
    if (!p->train_path) return fw_yaml_error(&c->y, data, "'data': missing required key 'train'");
    if (!p->n_label_columns) return fw_yaml_error(&c->y, data, "'data': missing required key 'label'");
    fw_constraints *cs = &c->p->constraints;
    if (!c->threshold_set) {
        if (cs->target_precision > 0) cs->threshold_rule = FW_THRESHOLD_TARGET_PRECISION;
        else if (cs->target_recall > 0) cs->threshold_rule = FW_THRESHOLD_TARGET_RECALL;
        else if (cs->cost_fp > 0 && cs->cost_fn > 0) cs->threshold_rule = FW_THRESHOLD_MIN_COST;
    }
    yaml_node_t *cn = fw_yaml_map_get(&c->y, root, "constraints");
    if (cs->threshold_rule == FW_THRESHOLD_TARGET_RECALL && !(cs->target_recall > 0))
        return fw_yaml_error(&c->y, cn, "'constraints.threshold' is target_recall but 'constraints.target_recall' is not set");
    if (cs->threshold_rule == FW_THRESHOLD_TARGET_PRECISION && !(cs->target_precision > 0))
        return fw_yaml_error(&c->y, cn, "'constraints.threshold' is target_precision but 'constraints.target_precision' is not set");
    if (cs->threshold_rule == FW_THRESHOLD_MIN_COST && !(cs->cost_fp > 0 && cs->cost_fn > 0))
        return fw_yaml_error(&c->y, cn, "'constraints.threshold' is min_cost but 'constraints.cost_fp' and 'cost_fn' are not both set");
    if (cs->fallback_value && !c->fallback_set) cs->fallback = FW_FALLBACK_VALUE;
    if (cs->fallback == FW_FALLBACK_VALUE && !cs->fallback_value)
        return fw_yaml_error(&c->y, cn, "'constraints.fallback' is value but 'constraints.fallback_value' is not set");
    if (p->split_group && p->split != FW_SPLIT_GROUP)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "split"), "'split.group' is only used with 'split.kind: group'");
    if (p->split == FW_SPLIT_GROUP && !p->split_group && !p->n_group_columns)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "split"), "'split.kind: group' needs 'split.group' (or 'data.groups')");
    if (p->split == FW_SPLIT_TIME && !p->time_column)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "split"), "'split.kind: time' needs 'data.time'");
    if (p->task_set && p->task == FW_TASK_RANKING && !p->query_column)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "task"), "'task: ranking' needs 'data.query'");
    if (p->task_set && p->task != FW_TASK_MULTILABEL && p->n_label_columns > 1)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "task"), "'data.label' lists %zu columns: only task multilabel takes several",
                    p->n_label_columns);
    if (p->test_fraction + p->valid_fraction >= 0.95)
        return fw_yaml_error(&c->y, fw_yaml_map_get(&c->y, root, "split"), "'split.test_fraction' + 'split.valid_fraction' leaves no training rows");
    if (!p->name) {
        const char *base = strrchr(p->train_path, '/');
        base = base ? base + 1 : p->train_path;
        const char *dot = strchr(base, '.');
        p->name = fw_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
        if (!p->name) return fw_yaml_oom(&c->y);
    }
    return FW_OK;
}

fw_status fw_project_parse(const char *yaml, size_t len, const char *name_for_errors,
                           fw_project *out, fw_err *err) {
    fw_project_init(out);
    pctx c = {{NULL, name_for_errors ? name_for_errors : "flywheel.yaml", err, NULL}, yaml, len, out, false, false};
    c.y.user = &c;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fw_status st = fw_err_set(err, FW_ECONFIG, "%s:%d:%d: YAML syntax error: %s%s%s", c.y.file,
                                  (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                                  parser.problem ? parser.problem : "malformed",
                                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    c.y.doc = &doc;
    fw_status st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || fw_yaml_is_null(root)) {
        st = fw_yaml_error(&c.y, NULL, "the project file is empty (it needs at least data.train and data.label)");
    } else {
        st = fw_yaml_walk_map(&c.y, root, "", k_top_keys, top_pair, NULL);
        if (!st) st = finish(&c, root);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (st) fw_project_free(out);
    return st;
}

fw_status fw_project_load(const char *path, fw_project *out, fw_err *err) {
    fw_project_init(out);
    FILE *f = fopen(path, "rb");
    if (!f) return fw_err_set(err, FW_EIO, "%s: cannot open: %s", path, strerror(errno));
    fw_status st = FW_OK;
    size_t cap = 4096, len = 0;
    char *buf = fw_malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        if (cap >= ((size_t)64 << 20)) {
            st = fw_err_set(err, FW_ELIMIT, "%s: project file larger than 64 MiB", path);
            break;
        }
        char *nb = fw_realloc(buf, cap * 2);
        if (!nb) {
            fw_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool rerr = ferror(f);
    fclose(f);
    if (!buf) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", path);
    if (!st && rerr) st = fw_err_set(err, FW_EIO, "%s: read error", path);
    if (!st) st = fw_project_parse(buf, len, path, out, err);
    fw_free(buf);
    if (!st) {
        out->path = fw_strdup(path);
        if (!out->path) {
            fw_project_free(out);
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    return st;
}
