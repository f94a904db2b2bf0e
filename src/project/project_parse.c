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
#include "project/suggest.h"

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
    yaml_document_t *doc;
    const char *src;       /* the YAML text and its length */
    size_t src_len;
    const char *file;
    fw_project *p;
    fw_err *err;
    bool threshold_set;
    bool fallback_set;
} pctx;

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static int col_of(const yaml_node_t *n) { return (int)n->start_mark.column + 1; }

__attribute__((format(printf, 3, 4))) static fw_status perr(pctx *c, const yaml_node_t *n,
                                                            const char *fmt, ...) {
    char msg[FW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) return fw_err_set(c->err, FW_ECONFIG, "%s:%d:%d: %s", c->file, line_of(n), col_of(n), msg);
    return fw_err_set(c->err, FW_ECONFIG, "%s: %s", c->file, msg);
}

static fw_status oom(pctx *c) { return fw_err_set(c->err, FW_ENOMEM, "%s: out of memory", c->file); }

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a map";
    default: return "nothing";
    }
}

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A plain empty scalar, "~" or "null" means "not given". */
static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* The nearest of `known` (NULL-terminated) to s when close enough to be a typo, else NULL. */
static const char *nearest(const char *s, const char *const *known) {
    size_t n = 0;
    while (known[n]) n++;
    return fw_suggest(s, known, n);
}

static void join(const char *const *known, char *out, size_t size) {
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; known[i] && at + 1 < size; i++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", i ? ", " : "", known[i]);
}

/* ---- scalar readers ------------------------------------------------------------------------- */

static fw_status want_scalar(pctx *c, const yaml_node_t *n, const char *path, const char *what) {
    if (n->type == YAML_SCALAR_NODE) return FW_OK;
    return perr(c, n, "'%s': expected %s, got %s", path, what, kind_name(n));
}

/* Replaces *out with a copy of the scalar (NULL for a null scalar). */
static fw_status get_str(pctx *c, const yaml_node_t *n, const char *path, char **out) {
    fw_status st = want_scalar(c, n, path, "a string");
    if (st) return st;
    fw_free(*out);
    *out = NULL;
    if (is_null(n)) return FW_OK;
    *out = fw_strdup(sval(n));
    return *out ? FW_OK : oom(c);
}

static fw_status get_double(pctx *c, const yaml_node_t *n, const char *path, double lo, double hi,
                            double *out) {
    fw_status st = want_scalar(c, n, path, "a number");
    if (st) return st;
    const char *s = sval(n);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || end == s || *end || errno == ERANGE || !isfinite(v) || isspace((unsigned char)*s))
        return perr(c, n, "'%s': expected a number, got '%s'", path, s);
    if (v < lo || v > hi)
        return perr(c, n, "'%s': %s is out of range [%g, %g]", path, s, lo, hi);
    *out = v;
    return FW_OK;
}

static fw_status get_int(pctx *c, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
                         uint64_t *out) {
    fw_status st = want_scalar(c, n, path, "an integer");
    if (st) return st;
    const char *s = sval(n);
    const char *q = s;
    if (*q == '+') q++;
    bool digits = *q != 0;
    for (const char *t = q; *t; t++)
        if (!isdigit((unsigned char)*t)) digits = false;
    if (!digits) return perr(c, n, "'%s': expected an integer, got '%s'", path, s);
    errno = 0;
    unsigned long long v = strtoull(q, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return perr(c, n, "'%s': %s is out of range [%llu, %llu]", path, s, (unsigned long long)lo,
                    (unsigned long long)hi);
    *out = v;
    return FW_OK;
}

static fw_status get_u32(pctx *c, const yaml_node_t *n, const char *path, uint32_t lo, uint32_t hi,
                         uint32_t *out) {
    uint64_t v;
    fw_status st = get_int(c, n, path, lo, hi, &v);
    if (!st) *out = (uint32_t)v;
    return st;
}

static fw_status get_bool(pctx *c, const yaml_node_t *n, const char *path, bool *out) {
    fw_status st = want_scalar(c, n, path, "true or false");
    if (st) return st;
    const char *s = sval(n);
    static const char *const yes[] = {"true", "yes", "on", NULL}, *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (!strcasecmp(s, yes[i])) return *out = true, FW_OK;
    for (int i = 0; no[i]; i++)
        if (!strcasecmp(s, no[i])) return *out = false, FW_OK;
    return perr(c, n, "'%s': expected true or false, got '%s'", path, s);
}

/* An enum: index into allowed (NULL-terminated). */
static fw_status get_enum(pctx *c, const yaml_node_t *n, const char *path,
                          const char *const *allowed, int *out) {
    fw_status st = want_scalar(c, n, path, "a string");
    if (st) return st;
    const char *s = sval(n);
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(s, allowed[i])) return *out = i, FW_OK;
    char list[256];
    join(allowed, list, sizeof list);
    const char *near = nearest(s, allowed);
    if (near) return perr(c, n, "'%s': unknown value '%s' (did you mean '%s'? allowed: %s)", path, s, near, list);
    return perr(c, n, "'%s': unknown value '%s' (allowed: %s)", path, s, list);
}

/* A list of strings; when allow_scalar, a single string is a one-item list. */
static fw_status get_str_list(pctx *c, const yaml_node_t *n, const char *path, bool allow_scalar,
                              char ***out, size_t *n_out) {
    for (size_t i = 0; i < *n_out; i++) fw_free((*out)[i]);
    fw_free(*out);
    *out = NULL;
    *n_out = 0;
    if (is_null(n)) return FW_OK;
    if (n->type == YAML_SCALAR_NODE && allow_scalar) {
        *out = fw_calloc(1, sizeof(char *));
        if (!*out || !(**out = fw_strdup(sval(n)))) return oom(c);
        *n_out = 1;
        return FW_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(c, n, "'%s': expected a list%s, got %s", path, allow_scalar ? " or a string" : "",
                    kind_name(n));
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > MAX_LIST_ITEMS) return perr(c, n, "'%s': too many items (%zu)", path, count);
    if (!count) return FW_OK;
    *out = fw_calloc(count, sizeof(char *));
    if (!*out) return oom(c);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        char sub[128];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        if (!it || it->type != YAML_SCALAR_NODE || is_null(it))
            return perr(c, it ? it : n, "'%s': expected a string, got %s", sub,
                        it && it->type == YAML_SCALAR_NODE ? "nothing" : it ? kind_name(it) : "nothing");
        (*out)[i] = fw_strdup(sval(it));
        if (!(*out)[i]) return oom(c);
        *n_out = i + 1;
    }
    return FW_OK;
}

/* ---- maps ----------------------------------------------------------------------------------- */

/* Calls fn(c, key_index, value_node, key_node, ud) for every pair of a map whose keys are all in
 * known; unknown and duplicate keys are errors. */
typedef fw_status (*pair_fn)(pctx *c, int key, yaml_node_t *val, yaml_node_t *keynode, void *ud);

static fw_status walk_map(pctx *c, const yaml_node_t *map, const char *path,
                          const char *const *known, pair_fn fn, void *ud) {
    if (map->type != YAML_MAPPING_NODE)
        return perr(c, map, "'%s': expected a map, got %s", path, kind_name(map));
    int seen_line[64] = {0};
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, pr->value);
        if (!k || !v) return perr(c, map, "'%s': malformed map", path);
        if (k->type != YAML_SCALAR_NODE)
            return perr(c, k, "%s%s%skeys must be strings, got %s", *path ? "'" : "", path,
                        *path ? "': " : "", kind_name(k));
        const char *ks = sval(k);
        int idx = -1;
        for (int i = 0; known[i]; i++)
            if (!strcmp(ks, known[i])) idx = i;
        if (idx < 0) {
            const char *near = nearest(ks, known);
            char where[160];
            if (*path) snprintf(where, sizeof where, " in '%s'", path);
            else where[0] = 0;
            if (near) return perr(c, k, "unknown key '%s'%s (did you mean '%s'?)", ks, where, near);
            char list[400];
            join(known, list, sizeof list);
            return perr(c, k, "unknown key '%s'%s (known keys: %s)", ks, where, list);
        }
        if (seen_line[idx])
            return perr(c, k, "duplicate key '%s%s%s' (first given on line %d)", path, *path ? "." : "",
                        ks, seen_line[idx]);
        seen_line[idx] = line_of(k);
        fw_status st = fn(c, idx, v, k, ud);
        if (st) return st;
    }
    return FW_OK;
}

/* Finds a key's value node in a map (NULL when absent). */
static yaml_node_t *map_get(pctx *c, const yaml_node_t *map, const char *key) {
    if (map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key))
            return yaml_document_get_node(c->doc, pr->value);
    }
    return NULL;
}

/* ---- data ----------------------------------------------------------------------------------- */

static const char *const k_data_keys[] = {"train", "test", "id", "time", "groups", "label", "positive",
                                          "query", "missing_tokens", "exclude", "weight", NULL};

static fw_status resolve_path(pctx *c, char **path) {
    if (!*path || (*path)[0] == '/') return FW_OK;
    const char *slash = strrchr(c->file, '/');
    if (!slash) return FW_OK;
    size_t dl = (size_t)(slash - c->file);
    size_t pl = strlen(*path);
    char *full = fw_malloc(dl + 1 + pl + 1);
    if (!full) return oom(c);
    memcpy(full, c->file, dl);
    full[dl] = '/';
    memcpy(full + dl + 1, *path, pl + 1);
    fw_free(*path);
    *path = full;
    return FW_OK;
}

static fw_status data_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)ud;
    fw_project *p = c->p;
    int line = line_of(k);
    fw_status st;
    switch (key) {
    case 0:
        if ((st = get_str(c, v, "data.train", &p->train_path))) return st;
        return resolve_path(c, &p->train_path);
    case 1:
        if ((st = get_str(c, v, "data.test", &p->test_path))) return st;
        return resolve_path(c, &p->test_path);
    case 2: p->lines.id = line; return get_str(c, v, "data.id", &p->id_column);
    case 3: p->lines.time = line; return get_str(c, v, "data.time", &p->time_column);
    case 4:
        p->lines.groups = line;
        return get_str_list(c, v, "data.groups", false, &p->group_columns, &p->n_group_columns);
    case 5:
        p->lines.label = line;
        return get_str_list(c, v, "data.label", true, &p->label_columns, &p->n_label_columns);
    case 6: p->lines.positive = line; return get_str(c, v, "data.positive", &p->positive_value);
    case 7: p->lines.query = line; return get_str(c, v, "data.query", &p->query_column);
    case 8: {
        /* A list of tokens; the empty string is a valid token here, so read by hand. */
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(c, v, "'data.missing_tokens': expected a list, got %s", kind_name(v));
        fw_status s2 = get_str_list(c, v, "data.missing_tokens", false, &p->missing_tokens,
                                    &p->n_missing_tokens);
        return s2;
    }
    case 9:
        p->lines.exclude = line;
        return get_str_list(c, v, "data.exclude", false, &p->exclude, &p->n_exclude);
    case 10: p->line_weight = line; return get_str(c, v, "data.weight", &p->weight_column);
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

static fw_status feature_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *vud) {
    (void)k;
    feat_ud *u = vud;
    fw_feature_spec *f = u->f;
    char path[160];
    snprintf(path, sizeof path, "%s.%s", u->path, k_feature_keys[key]);
    int e;
    fw_status st;
    switch (key) {
    case 0:
        if (is_null(v)) return perr(c, v, "'%s': a feature needs a name", path);
        return get_str(c, v, path, &f->name);
    case 1:
        if ((st = get_enum(c, v, path, k_types, &e))) return st;
        f->type = (fw_col_type)e; /* k_types is in fw_col_type order */
        f->type_set = true;
        return FW_OK;
    case 2:
        if ((st = get_enum(c, v, path, k_impute, &e))) return st;
        f->impute = (fw_impute)(e + 1);
        u->impute_node = v;
        return FW_OK;
    case 3: u->impute_value_set = true; return get_double(c, v, path, -HUGE_VAL, HUGE_VAL, &f->impute_value);
    case 4: return get_bool(c, v, path, &f->missing_indicator);
    case 5:
        if ((st = get_enum(c, v, path, k_scale, &e))) return st;
        f->scale = (fw_scale)(e + 1);
        return FW_OK;
    case 6: return get_u32(c, v, path, 2, 1000, &f->quantile_bins);
    case 7:
        if ((st = get_enum(c, v, path, k_encode, &e))) return st;
        f->encode = (fw_encode)(e + 1);
        return FW_OK;
    case 8: return get_u32(c, v, path, 1, 1000000000u, &f->min_frequency);
    case 9: return get_u32(c, v, path, 1, 100000, &f->max_categories);
    case 10: return get_bool(c, v, path, &f->tfidf);
    case 11: return get_bool(c, v, path, &f->bigrams);
    }
    return FW_OK;
}

static fw_status parse_features(pctx *c, yaml_node_t *n) {
    fw_project *p = c->p;
    if (is_null(n)) return FW_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(c, n, "'features': expected a list, got %s", kind_name(n));
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > MAX_LIST_ITEMS) return perr(c, n, "'features': too many items (%zu)", count);
    if (!count) return FW_OK;
    p->features = fw_calloc(count, sizeof *p->features);
    if (!p->features) return oom(c);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        char path[64];
        snprintf(path, sizeof path, "features[%zu]", i);
        fw_feature_spec *f = &p->features[i];
        fw_feature_spec_init(f);
        p->n_features = i + 1;
        if (!it) return perr(c, n, "'%s': malformed item", path);
        f->line = line_of(it);
        if (it->type == YAML_SCALAR_NODE) {
            if (is_null(it)) return perr(c, it, "'%s': a feature needs a name", path);
            if (!(f->name = fw_strdup(sval(it)))) return oom(c);
        } else if (it->type == YAML_MAPPING_NODE) {
            feat_ud u = {f, path, false, NULL};
            fw_status st = walk_map(c, it, path, k_feature_keys, feature_pair, &u);
            if (st) return st;
            if (!f->name) return perr(c, it, "'%s': missing required key 'name'", path);
            if (f->impute == FW_IMPUTE_CONSTANT && !u.impute_value_set)
                return perr(c, u.impute_node, "'%s.impute': constant imputation needs 'impute_value'", path);
        } else {
            return perr(c, it, "'%s': expected a column name or a map, got %s", path, kind_name(it));
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->features[j].name, f->name))
                return perr(c, it, "'%s': feature '%s' is listed twice (first on line %d)", path,
                            f->name, p->features[j].line);
    }
    return FW_OK;
}

static fw_status parse_crosses(pctx *c, yaml_node_t *n) {
    fw_project *p = c->p;
    if (is_null(n)) return FW_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(c, n, "'crosses': expected a list of lists of column names, got %s", kind_name(n));
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > 10000) return perr(c, n, "'crosses': too many items (%zu)", count);
    if (!count) return FW_OK;
    p->crosses = fw_calloc(count, sizeof *p->crosses);
    if (!p->crosses) return oom(c);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        char path[64];
        snprintf(path, sizeof path, "crosses[%zu]", i);
        p->n_crosses = i + 1;
        if (!it) return perr(c, n, "'%s': malformed item", path);
        p->crosses[i].line = line_of(it);
        if (it->type != YAML_SEQUENCE_NODE)
            return perr(c, it, "'%s': expected a list of column names, got %s", path, kind_name(it));
        fw_status st = get_str_list(c, it, path, false, &p->crosses[i].columns, &p->crosses[i].n_columns);
        if (st) return st;
        if (p->crosses[i].n_columns < 2 || p->crosses[i].n_columns > MAX_CROSS_COLUMNS)
            return perr(c, it, "'%s': a cross needs 2 to %d columns, got %zu", path, MAX_CROSS_COLUMNS,
                        p->crosses[i].n_columns);
    }
    return FW_OK;
}

/* ---- split, baseline, constraints ------------------------------------------------------------ */

static const char *const k_split_keys[] = {"kind", "test_fraction", "valid_fraction", "seed", "folds",
                                           "group", "refit", NULL};
static const char *const k_split_kinds[] = {"random", "stratified", "time", "group", NULL};

static fw_status split_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)ud;
    fw_project *p = c->p;
    int e;
    fw_status st;
    switch (key) {
    case 0:
        if ((st = get_enum(c, v, "split.kind", k_split_kinds, &e))) return st;
        p->split = (fw_split_kind)e;
        p->split_set = true;
        return FW_OK;
    case 1: return get_double(c, v, "split.test_fraction", 0.0, 0.95, &p->test_fraction);
    case 2: return get_double(c, v, "split.valid_fraction", 0.0, 0.9, &p->valid_fraction);
    case 3: return get_int(c, v, "split.seed", 0, UINT64_MAX, &p->seed);
    case 4: return get_u32(c, v, "split.folds", 0, 100, &p->folds);
    case 5: p->lines.split_group = line_of(k); return get_str(c, v, "split.group", &p->split_group);
    case 6: {
        /* auto, or a boolean (true / false, yes / no) */
        static const char *const refit_words[] = {"auto", "true", "false", "yes", "no", "on", "off", NULL};
        if ((st = get_enum(c, v, "split.refit", refit_words, &e))) return st;
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
    fw_status st = get_str(c, v, path, &p->baseline.rule);
    if (st) return st;
    if (!p->baseline.rule) return perr(c, v, "'%s': empty rule", path);
    fw_rule r;
    fw_err e2;
    fw_err_clear(&e2);
    st = fw_rule_parse(p->baseline.rule, &r, &e2);
    if (st == FW_ENOMEM) return oom(c);
    if (st) return perr(c, v, "'%s': %s", path, e2.msg);
    fw_rule_free(&r);
    p->baseline.kind = FW_BASELINE_RULE;
    return FW_OK;
}

static fw_status baseline_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)key, (void)k, (void)ud;
    return set_rule(c, v, "baseline.rule");
}

static fw_status parse_baseline(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    c->p->lines.baseline = line_of(k);
    if (v->type == YAML_MAPPING_NODE) {
        fw_status st = walk_map(c, v, "baseline", k_baseline_keys, baseline_pair, NULL);
        if (st) return st;
        if (c->p->baseline.kind != FW_BASELINE_RULE)
            return perr(c, v, "'baseline': missing required key 'rule'");
        return FW_OK;
    }
    if (v->type == YAML_SCALAR_NODE && strstr(sval(v), "->")) return set_rule(c, v, "baseline");
    if (v->type != YAML_SCALAR_NODE)
        return perr(c, v, "'baseline': expected one of auto, prior, majority, mean, median, feature, a rule "
                          "\"COLUMN OP VALUE -> LABEL\" or {rule: ...}, got %s", kind_name(v));
    int e;
    fw_status st = get_enum(c, v, "baseline", k_baselines, &e);
    if (st) return st;
    c->p->baseline.kind = e == 5 ? FW_BASELINE_FEATURE : (fw_baseline_kind)e; /* 5: "feature" */
    if (c->p->baseline.kind == FW_BASELINE_FEATURE && c->p->task_set && c->p->task != FW_TASK_RANKING)
        return perr(c, v, "'baseline: feature' is for a ranking task");
    return FW_OK;
}

static const char *const k_constraint_keys[] = {"p99_latency_ms", "min_improvement",
                                                "confidence_threshold", "fallback", "fallback_value",
                                                "cost_fp", "cost_fn", "target_recall",
                                                "target_precision", "threshold", NULL};
static const char *const k_fallbacks[] = {"baseline", "value", "review", NULL};
static const char *const k_thresholds[] = {"max_f1", "fixed", "target_recall", "target_precision",
                                           "min_cost", NULL};

static fw_status constraint_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)k, (void)ud;
    fw_constraints *cs = &c->p->constraints;
    int e;
    fw_status st;
    switch (key) {
    case 0: return get_double(c, v, "constraints.p99_latency_ms", 0, 1e9, &cs->p99_latency_ms);
    case 1: return get_double(c, v, "constraints.min_improvement", -1e300, 1e300, &cs->min_improvement);
    case 2: return get_double(c, v, "constraints.confidence_threshold", 0, 1, &cs->confidence_threshold);
    case 3:
        if ((st = get_enum(c, v, "constraints.fallback", k_fallbacks, &e))) return st;
        cs->fallback = (fw_fallback_kind)e;
        c->fallback_set = true;
        return FW_OK;
    case 4: return get_str(c, v, "constraints.fallback_value", &cs->fallback_value);
    case 5: return get_double(c, v, "constraints.cost_fp", 0, 1e300, &cs->cost_fp);
    case 6: return get_double(c, v, "constraints.cost_fn", 0, 1e300, &cs->cost_fn);
    case 7: return get_double(c, v, "constraints.target_recall", 0, 1, &cs->target_recall);
    case 8: return get_double(c, v, "constraints.target_precision", 0, 1, &cs->target_precision);
    case 9:
        c->threshold_set = true;
        if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
            const char *s = sval(v);
            if (isdigit((unsigned char)s[0]) || s[0] == '.' || s[0] == '-' || s[0] == '+') {
                cs->threshold_rule = FW_THRESHOLD_FIXED;
                return get_double(c, v, "constraints.threshold", 0, 1, &cs->threshold);
            }
        }
        if ((st = get_enum(c, v, "constraints.threshold (a number in [0, 1] or a rule)", k_thresholds, &e)))
            return st;
        if (e == FW_THRESHOLD_FIXED) return perr(c, v, "'constraints.threshold': give the number itself");
        cs->threshold_rule = (fw_threshold_rule)e;
        return FW_OK;
    }
    return FW_OK;
}

/* ---- top level ------------------------------------------------------------------------------ */

static const char *const k_top_keys[] = {"name", "data", "task", "features", "crosses", "hash_bits",
                                         "split", "metric", "metrics", "baseline", "constraints",
                                         "serving", "objective", "class_weights", "hierarchy", NULL};

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
    c->p->lines.serving = line_of(k);
    if (is_null(v) || k->start_mark.column != 0) return FW_OK;
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
    return c->p->serving_yaml ? FW_OK : oom(c);
}

/* ---- fitting: objective, class weights, hierarchy ---------------------------------------------- */

static const char *const k_objectives[] = {"squared_error", "absolute_error", "huber", "log_loss", NULL};

static fw_status parse_objective(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    int e;
    fw_status st = get_enum(c, v, "objective", k_objectives, &e);
    if (st) return st;
    c->p->line_objective = line_of(k);
    fw_free(c->p->objective);
    c->p->objective = fw_strdup(k_objectives[e]);
    return c->p->objective ? FW_OK : oom(c);
}

/* A map of scalar keys to scalar values, as two parallel string lists. */
static fw_status get_str_map(pctx *c, yaml_node_t *v, const char *path, char ***keys, char ***vals, size_t *n) {
    if (v->type != YAML_MAPPING_NODE) return perr(c, v, "'%s': expected a map, got %s", path, kind_name(v));
    size_t cap = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    *keys = fw_calloc(cap ? cap : 1, sizeof(char *));
    *vals = fw_calloc(cap ? cap : 1, sizeof(char *));
    if (!*keys || !*vals) return oom(c);
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE)
            return perr(c, kn ? kn : v, "'%s': expected 'name: value' pairs of plain values", path);
        for (size_t i = 0; i < *n; i++)
            if (!strcmp((*keys)[i], sval(kn))) return perr(c, kn, "'%s': '%s' is given twice", path, sval(kn));
        (*keys)[*n] = fw_strdup(sval(kn));
        (*vals)[*n] = fw_strdup(sval(vn));
        if (!(*keys)[*n] || !(*vals)[*n]) return oom(c);
        (*n)++;
    }
    return *n ? FW_OK : perr(c, v, "'%s': the map is empty", path);
}

static fw_status parse_class_weights(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    fw_project *p = c->p;
    p->line_class_weights = line_of(k);
    if (v->type == YAML_SCALAR_NODE) {
        if (strcmp(sval(v), "balanced") != 0)
            return perr(c, v, "'class_weights': expected 'balanced' or a map {class: weight}, got '%s'", sval(v));
        p->class_weights_balanced = true;
        return FW_OK;
    }
    char **vals = NULL;
    fw_status st = get_str_map(c, v, "class_weights", &p->class_weight_names, &vals, &p->n_class_weights);
    if (!st && !(p->class_weight_values = fw_calloc(p->n_class_weights ? p->n_class_weights : 1, sizeof(double))))
        st = oom(c);
    for (size_t i = 0; !st && i < p->n_class_weights; i++) {
        char *end;
        double w = strtod(vals[i], &end);
        if (end == vals[i] || *end || !isfinite(w) || w < 0)
            st = perr(c, v, "'class_weights.%s': expected a number >= 0, got '%s'", p->class_weight_names[i], vals[i]);
        else p->class_weight_values[i] = w;
    }
    for (size_t i = 0; vals && i < p->n_class_weights; i++) fw_free(vals[i]);
    fw_free(vals);
    return st;
}

static const char *const k_hierarchy_keys[] = {"parent", "groups", NULL};

static fw_status hierarchy_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)k;
    (void)ud;
    fw_project *p = c->p;
    if (key == 0) return get_str(c, v, "hierarchy.parent", &p->hier_parent);
    return get_str_map(c, v, "hierarchy.groups", &p->hier_classes, &p->hier_groups, &p->n_hier);
}

static fw_status parse_hierarchy(pctx *c, yaml_node_t *v, yaml_node_t *k) {
    c->p->line_hierarchy = line_of(k);
    fw_status st = walk_map(c, v, "hierarchy", k_hierarchy_keys, hierarchy_pair, NULL);
    if (st) return st;
    if (!c->p->hier_parent == !c->p->n_hier)
        return perr(c, v, "'hierarchy': give either 'parent' (a column naming each row's group) or 'groups' "
                          "(a map {class: group}), not both");
    return FW_OK;
}

static fw_status top_pair(pctx *c, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    (void)ud;
    fw_project *p = c->p;
    fw_status st;
    switch (key) {
    case 0: return get_str(c, v, "name", &p->name);
    case 1: return walk_map(c, v, "data", k_data_keys, data_pair, NULL);
    case 2: {
        int e;
        static const char *const tasks[] = {"binary", "multiclass", "multilabel", "regression",
                                            "ranking", NULL};
        if ((st = get_enum(c, v, "task", tasks, &e))) return st;
        p->task = (fw_task)e;
        p->task_set = true;
        return FW_OK;
    }
    case 3: return parse_features(c, v);
    case 4: return parse_crosses(c, v);
    case 5: return get_u32(c, v, "hash_bits", 4, 28, &p->hash_bits);
    case 6: return walk_map(c, v, "split", k_split_keys, split_pair, NULL);
    case 7: return get_str(c, v, "metric", &p->metric);
    case 8: return get_str_list(c, v, "metrics", false, &p->extra_metrics, &p->n_extra_metrics);
    case 9: return parse_baseline(c, v, k);
    case 10: return walk_map(c, v, "constraints", k_constraint_keys, constraint_pair, NULL);
    case 11: return keep_serving(c, v, k);
    case 12: return parse_objective(c, v, k);
    case 13: return parse_class_weights(c, v, k);
    case 14: return parse_hierarchy(c, v, k);
    }
    return FW_OK;
}

/* Checks that need the whole file: required keys, cross-key consistency, implied threshold rule. */
static fw_status finish(pctx *c, yaml_node_t *root) {
    fw_project *p = c->p;
    yaml_node_t *data = map_get(c, root, "data");
    if (!data) return perr(c, root, "missing required key 'data' (with at least 'train' and 'label')");
    if (!p->train_path) return perr(c, data, "'data': missing required key 'train'");
    if (!p->n_label_columns) return perr(c, data, "'data': missing required key 'label'");
    fw_constraints *cs = &c->p->constraints;
    if (!c->threshold_set) {
        if (cs->target_precision > 0) cs->threshold_rule = FW_THRESHOLD_TARGET_PRECISION;
        else if (cs->target_recall > 0) cs->threshold_rule = FW_THRESHOLD_TARGET_RECALL;
        else if (cs->cost_fp > 0 && cs->cost_fn > 0) cs->threshold_rule = FW_THRESHOLD_MIN_COST;
    }
    yaml_node_t *cn = map_get(c, root, "constraints");
    if (cs->threshold_rule == FW_THRESHOLD_TARGET_RECALL && !(cs->target_recall > 0))
        return perr(c, cn, "'constraints.threshold' is target_recall but 'constraints.target_recall' is not set");
    if (cs->threshold_rule == FW_THRESHOLD_TARGET_PRECISION && !(cs->target_precision > 0))
        return perr(c, cn, "'constraints.threshold' is target_precision but 'constraints.target_precision' is not set");
    if (cs->threshold_rule == FW_THRESHOLD_MIN_COST && !(cs->cost_fp > 0 && cs->cost_fn > 0))
        return perr(c, cn, "'constraints.threshold' is min_cost but 'constraints.cost_fp' and 'cost_fn' are not both set");
    if (cs->fallback_value && !c->fallback_set) cs->fallback = FW_FALLBACK_VALUE;
    if (cs->fallback == FW_FALLBACK_VALUE && !cs->fallback_value)
        return perr(c, cn, "'constraints.fallback' is value but 'constraints.fallback_value' is not set");
    if (p->split_group && p->split != FW_SPLIT_GROUP)
        return perr(c, map_get(c, root, "split"), "'split.group' is only used with 'split.kind: group'");
    if (p->split == FW_SPLIT_GROUP && !p->split_group && !p->n_group_columns)
        return perr(c, map_get(c, root, "split"), "'split.kind: group' needs 'split.group' (or 'data.groups')");
    if (p->split == FW_SPLIT_TIME && !p->time_column)
        return perr(c, map_get(c, root, "split"), "'split.kind: time' needs 'data.time'");
    if (p->task_set && p->task == FW_TASK_RANKING && !p->query_column)
        return perr(c, map_get(c, root, "task"), "'task: ranking' needs 'data.query'");
    if (p->task_set && p->task != FW_TASK_MULTILABEL && p->n_label_columns > 1)
        return perr(c, map_get(c, root, "task"), "'data.label' lists %zu columns: only task multilabel takes several",
                    p->n_label_columns);
    if (p->test_fraction + p->valid_fraction >= 0.95)
        return perr(c, map_get(c, root, "split"), "'split.test_fraction' + 'split.valid_fraction' leaves no training rows");
    if (!p->name) {
        const char *base = strrchr(p->train_path, '/');
        base = base ? base + 1 : p->train_path;
        const char *dot = strchr(base, '.');
        p->name = fw_strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
        if (!p->name) return oom(c);
    }
    return FW_OK;
}

fw_status fw_project_parse(const char *yaml, size_t len, const char *name_for_errors,
                           fw_project *out, fw_err *err) {
    fw_project_init(out);
    pctx c = {NULL, yaml, len, name_for_errors ? name_for_errors : "flywheel.yaml", out, err, false, false};
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fw_status st = fw_err_set(err, FW_ECONFIG, "%s:%d:%d: YAML syntax error: %s%s%s", c.file,
                                  (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                                  parser.problem ? parser.problem : "malformed",
                                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    c.doc = &doc;
    fw_status st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root)) {
        st = perr(&c, NULL, "the project file is empty (it needs at least data.train and data.label)");
    } else {
        st = walk_map(&c, root, "", k_top_keys, top_pair, NULL);
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
