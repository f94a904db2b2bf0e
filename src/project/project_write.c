/* project_write.c — owns writing fw_project back out as readable YAML (--write-project) that
 * fw_project_parse reads back to the same struct: write → read → write gives identical bytes.
 * Only non-default values are written for features; every top-level section is written in full. */
#include "project/project.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/dtoa.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True when s can be written as a plain YAML scalar that reads back as the same string (and is
 * not one of the spellings the parser takes for "not given"). */
static bool plain_ok(const char *s) {
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@`. ", s[0])) return false;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '/' || ch == '@' || ch == '+'))
            return false;
    }
    return true;
}

static void put_scalar(fw_buf *b, const char *s) {
    if (plain_ok(s)) {
        fw_buf_printf(b, "%s", s);
        return;
    }
    fw_buf_put_u8(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fw_buf_printf(b, "\\%c", *p);
        else if (*p == '\n') fw_buf_printf(b, "\\n");
        else if (*p == '\t') fw_buf_printf(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f) fw_buf_printf(b, "\\x%02x", *p);
        else fw_buf_put_u8(b, *p);
    }
    fw_buf_put_u8(b, '"');
}

static void put_num(fw_buf *b, double v) {
    char tmp[FW_DTOA_MAX];
    fw_buf_put(b, tmp, fw_dtoa(v, tmp));
}

static void put_list(fw_buf *b, char *const *v, size_t n) {
    fw_buf_put_u8(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) fw_buf_printf(b, ", ");
        put_scalar(b, v[i]);
    }
    fw_buf_put_u8(b, ']');
}

static void put_key_str(fw_buf *b, const char *indent, const char *key, const char *v) {
    if (!v) return;
    fw_buf_printf(b, "%s%s: ", indent, key);
    put_scalar(b, v);
    fw_buf_put_u8(b, '\n');
}

/* path made absolute (realpath when it exists, else joined to the current directory), in out. */
static bool absolute(const char *path, char *out, size_t size) {
    char *r = realpath(path, NULL);
    if (r) {
        int n = snprintf(out, size, "%s", r);
        free(r);
        return n > 0 && (size_t)n < size;
    }
    if (path[0] == '/') return (size_t)snprintf(out, size, "%s", path) < size;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return false;
    return (size_t)snprintf(out, size, "%s/%s", cwd, path) < size;
}

/* The path as it should appear in a file written into directory dir: relative to dir (which the
 * parser resolves it against), so a project directory can be moved or shared as a whole.
 * dir "" (the artifact's record): the path as it is. */
static void put_path(fw_buf *b, const char *key, const char *path, const char *dir) {
    if (!path) return;
    char ap[4096], ad[4096], rel[8192];
    if (!*dir || !absolute(path, ap, sizeof ap) || !absolute(dir, ad, sizeof ad)) {
        put_key_str(b, "  ", key, path);
        return;
    }
    /* the longest common run of whole components */
    size_t common = 0;
    for (size_t i = 0;; i++) {
        bool end_a = ap[i] == '/' || ap[i] == 0, end_d = ad[i] == '/' || ad[i] == 0;
        if (end_a && end_d) common = i;
        if (ap[i] != ad[i] || !ap[i] || !ad[i]) break;
    }
    size_t k = 0;
    rel[0] = 0;
    for (const char *s = ad + common; *s; s++) /* one ".." per component of dir past the common part */
        if (*s == '/' && k + 4 < sizeof rel) k += (size_t)snprintf(rel + k, sizeof rel - k, "../");
    const char *rest = ap + common + (ap[common] == '/');
    snprintf(rel + k, sizeof rel - k, "%s", rest);
    put_key_str(b, "  ", key, rel[0] ? rel : path);
}

static const char *const k_impute[] = {"default", "mean", "median", "constant", "none"};
static const char *const k_scale[] = {"default", "none", "standard", "minmax", "log1p", "quantile"};
static const char *const k_encode[] = {"default", "onehot", "hash"};
static const char *const k_baselines[] = {"auto", "prior", "majority", "mean", "median"};
static const char *const k_fallbacks[] = {"baseline", "value", "review"};
static const char *const k_thresholds[] = {"max_f1", "fixed", "target_recall", "target_precision",
                                           "min_cost"};

static void put_feature(fw_buf *b, const fw_feature_spec *f) {
    fw_feature_spec d;
    fw_feature_spec_init(&d);
    fw_buf_printf(b, "  - name: ");
    put_scalar(b, f->name);
    fw_buf_put_u8(b, '\n');
    if (f->type_set || f->line == 0) fw_buf_printf(b, "    type: %s\n", fw_col_type_name(f->type));
    if (f->impute != FW_IMPUTE_DEFAULT && (unsigned)f->impute <= FW_IMPUTE_NONE)
        fw_buf_printf(b, "    impute: %s\n", k_impute[f->impute]);
    if (f->impute == FW_IMPUTE_CONSTANT) {
        fw_buf_printf(b, "    impute_value: ");
        put_num(b, f->impute_value);
        fw_buf_put_u8(b, '\n');
    }
    if (f->missing_indicator) fw_buf_printf(b, "    missing_indicator: true\n");
    if (f->scale != FW_SCALE_DEFAULT && (unsigned)f->scale <= FW_SCALE_QUANTILE)
        fw_buf_printf(b, "    scale: %s\n", k_scale[f->scale]);
    if (f->quantile_bins != d.quantile_bins) fw_buf_printf(b, "    bins: %u\n", f->quantile_bins);
    if (f->encode != FW_ENCODE_DEFAULT && (unsigned)f->encode <= FW_ENCODE_HASH)
        fw_buf_printf(b, "    encode: %s\n", k_encode[f->encode]);
    if (f->min_frequency != d.min_frequency) fw_buf_printf(b, "    min_frequency: %u\n", f->min_frequency);
    if (f->max_categories != d.max_categories) fw_buf_printf(b, "    max_categories: %u\n", f->max_categories);
    if (f->tfidf != d.tfidf) fw_buf_printf(b, "    tfidf: %s\n", f->tfidf ? "true" : "false");
    if (f->bigrams != d.bigrams) fw_buf_printf(b, "    bigrams: %s\n", f->bigrams ? "true" : "false");
}

/* objective, class_weights and hierarchy, when stated. */
static void put_fitting(const fw_project *p, fw_buf *b) {
    put_key_str(b, "", "objective", p->objective);
    if (p->class_weights_balanced) fw_buf_printf(b, "class_weights: balanced\n");
    else if (p->n_class_weights) {
        fw_buf_printf(b, "class_weights:\n");
        for (size_t i = 0; i < p->n_class_weights; i++) {
            fw_buf_printf(b, "  ");
            put_scalar(b, p->class_weight_names[i]);
            fw_buf_printf(b, ": ");
            put_num(b, p->class_weight_values[i]);
            fw_buf_put_u8(b, '\n');
        }
    }
    if (p->hier_parent) {
        fw_buf_printf(b, "hierarchy:\n");
        put_key_str(b, "  ", "parent", p->hier_parent);
    } else if (p->n_hier) {
        fw_buf_printf(b, "hierarchy:\n  groups:\n");
        for (size_t i = 0; i < p->n_hier; i++) {
            fw_buf_printf(b, "    ");
            put_scalar(b, p->hier_classes[i]);
            fw_buf_printf(b, ": ");
            put_scalar(b, p->hier_groups[i]);
            fw_buf_put_u8(b, '\n');
        }
    }
}

fw_status fw_project_to_yaml(const fw_project *p, const char *dir, fw_buf *b) {
    if (!dir) dir = "";
    fw_buf_printf(b, "# Flywheel project file: frames the ML problem (data, task, features, split,\n"
                     "# metric, baseline, constraints). Written by flywheel " FW_VERSION_STRING ";\n"
                     "# edit freely: unknown keys are errors, so typos cannot pass silently.\n");
    for (const char *s = p->notes; s && *s;) { /* what flywheel decided on its own */
        const char *e = strchr(s, '\n');
        int len = e ? (int)(e - s) : (int)strlen(s);
        fw_buf_printf(b, "# note: %.*s\n", len, s);
        s += len + (e ? 1 : 0);
    }
    put_key_str(b, "", "name", p->name);
    if (p->task_set) fw_buf_printf(b, "task: %s\n", fw_task_name(p->task));
    fw_buf_printf(b, "data:\n");
    put_path(b, "train", p->train_path, dir);
    put_path(b, "test", p->test_path, dir);
    put_key_str(b, "  ", "id", p->id_column);
    put_key_str(b, "  ", "time", p->time_column);
    if (p->n_group_columns) {
        fw_buf_printf(b, "  groups: ");
        put_list(b, p->group_columns, p->n_group_columns);
        fw_buf_put_u8(b, '\n');
    }
    if (p->n_label_columns == 1) put_key_str(b, "  ", "label", p->label_columns[0]);
    else if (p->n_label_columns > 1) {
        fw_buf_printf(b, "  label: ");
        put_list(b, p->label_columns, p->n_label_columns);
        fw_buf_put_u8(b, '\n');
    }
    put_key_str(b, "  ", "positive", p->positive_value);
    put_key_str(b, "  ", "query", p->query_column);
    put_key_str(b, "  ", "weight", p->weight_column);
    if (p->n_missing_tokens) {
        fw_buf_printf(b, "  missing_tokens: ");
        put_list(b, p->missing_tokens, p->n_missing_tokens);
        fw_buf_put_u8(b, '\n');
    }
    if (p->n_exclude) {
        fw_buf_printf(b, "  exclude: ");
        put_list(b, p->exclude, p->n_exclude);
        fw_buf_put_u8(b, '\n');
    }
    if (p->n_features) {
        fw_buf_printf(b, "features:\n");
        for (size_t i = 0; i < p->n_features; i++) put_feature(b, &p->features[i]);
    }
    if (p->n_crosses) {
        fw_buf_printf(b, "crosses:\n");
        for (size_t i = 0; i < p->n_crosses; i++) {
            fw_buf_printf(b, "  - ");
            put_list(b, p->crosses[i].columns, p->crosses[i].n_columns);
            fw_buf_put_u8(b, '\n');
        }
    }
    fw_buf_printf(b, "hash_bits: %u\n", p->hash_bits);
    fw_buf_printf(b, "split:\n  kind: %s\n  test_fraction: ", fw_split_kind_name(p->split));
    put_num(b, p->test_fraction);
    fw_buf_printf(b, "\n  valid_fraction: ");
    put_num(b, p->valid_fraction);
    fw_buf_printf(b, "\n  seed: %llu\n  folds: %u\n  refit: %s\n", (unsigned long long)p->seed, p->folds,
                  p->refit == FW_REFIT_ON ? "true" : p->refit == FW_REFIT_OFF ? "false" : "auto");
    put_key_str(b, "  ", "group", p->split_group);
    put_key_str(b, "", "metric", p->metric);
    if (p->n_extra_metrics) {
        fw_buf_printf(b, "metrics: ");
        put_list(b, p->extra_metrics, p->n_extra_metrics);
        fw_buf_put_u8(b, '\n');
    }
    if (p->baseline.kind == FW_BASELINE_RULE && p->baseline.rule) {
        fw_buf_printf(b, "baseline:\n  rule: ");
        put_scalar(b, p->baseline.rule);
        fw_buf_put_u8(b, '\n');
    } else if (p->baseline.kind == FW_BASELINE_FEATURE) {
        fw_buf_printf(b, "baseline: feature\n");
    } else if ((unsigned)p->baseline.kind <= FW_BASELINE_MEDIAN) {
        fw_buf_printf(b, "baseline: %s\n", k_baselines[p->baseline.kind]);
    }
    const fw_constraints *cs = &p->constraints;
    fw_buf_printf(b, "constraints:\n  p99_latency_ms: ");
    put_num(b, cs->p99_latency_ms);
    fw_buf_printf(b, "\n  min_improvement: ");
    put_num(b, cs->min_improvement);
    fw_buf_printf(b, "\n  confidence_threshold: ");
    put_num(b, cs->confidence_threshold);
    if ((unsigned)cs->fallback <= FW_FALLBACK_REVIEW)
        fw_buf_printf(b, "\n  fallback: %s", k_fallbacks[cs->fallback]);
    fw_buf_put_u8(b, '\n');
    put_key_str(b, "  ", "fallback_value", cs->fallback_value);
    fw_buf_printf(b, "  cost_fp: ");
    put_num(b, cs->cost_fp);
    fw_buf_printf(b, "\n  cost_fn: ");
    put_num(b, cs->cost_fn);
    fw_buf_printf(b, "\n  target_recall: ");
    put_num(b, cs->target_recall);
    fw_buf_printf(b, "\n  target_precision: ");
    put_num(b, cs->target_precision);
    fw_buf_printf(b, "\n  threshold: ");
    if (cs->threshold_rule == FW_THRESHOLD_FIXED) put_num(b, cs->threshold);
    else if ((unsigned)cs->threshold_rule <= FW_THRESHOLD_MIN_COST)
        fw_buf_printf(b, "%s", k_thresholds[cs->threshold_rule]);
    fw_buf_put_u8(b, '\n');
    put_fitting(p, b);
    if (p->n_expectations) fw_buf_printf(b, "expectations:\n");
    for (size_t i = 0; i < p->n_expectations; i++) {
        const fw_expectation *e = &p->expectations[i];
        fw_buf_printf(b, "  ");
        put_scalar(b, e->column);
        fw_buf_printf(b, ":%s", isnan(e->min) && isnan(e->max) && !e->n_allowed && e->max_missing < 0 ? " {}" : "");
        if (!isnan(e->min)) {
            fw_buf_printf(b, "\n    min: ");
            put_num(b, e->min);
        }
        if (!isnan(e->max)) {
            fw_buf_printf(b, "\n    max: ");
            put_num(b, e->max);
        }
        if (e->n_allowed) {
            fw_buf_printf(b, "\n    allowed: [");
            for (size_t j = 0; j < e->n_allowed; j++) {
                if (j) fw_buf_printf(b, ", ");
                put_scalar(b, e->allowed[j]);
            }
            fw_buf_put_u8(b, ']');
        }
        if (e->max_missing >= 0) {
            fw_buf_printf(b, "\n    max_missing: ");
            put_num(b, e->max_missing);
        }
        fw_buf_put_u8(b, '\n');
    }
    fw_learn_write(&p->learn, b);
    if (p->learn.set) put_path(b, "base_data", p->learn.base_data, dir);
    if (p->serving_yaml) {
        size_t n = strlen(p->serving_yaml);
        fw_buf_put(b, p->serving_yaml, n);
        if (n && p->serving_yaml[n - 1] != '\n') fw_buf_put_u8(b, '\n');
    }
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

fw_status fw_project_write(const fw_project *p, const char *path, fw_err *err) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? fw_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : fw_strdup(".");
    if (!dir) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_buf b;
    fw_buf_init(&b);
    fw_status st = fw_project_to_yaml(p, dir, &b);
    fw_free(dir);
    if (st) {
        fw_buf_free(&b);
        return fw_err_set(err, st, "%s: out of memory", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = fw_err_set(err, FW_EIO, "%s: cannot create: %s", path, strerror(errno));
    } else {
        if (fwrite(b.data, 1, b.len, f) != b.len) st = fw_err_set(err, FW_EIO, "%s: write failed", path);
        if (fclose(f) && !st) st = fw_err_set(err, FW_EIO, "%s: write failed", path);
    }
    fw_buf_free(&b);
    return st;
}
