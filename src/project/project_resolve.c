/* project_resolve.c — owns completing a project against a loaded dataset: every named column must
 * exist (the error names the key, the line it was given on and the nearest column name), the task
 * is inferred from the label when not declared, the positive class is chosen for binary tasks,
 * feature specs are completed (declared ones get their column's type, unlisted columns are added
 * with defaults) in dataset column order, and the metric and baseline get their per-task defaults.
 *
 * Task inference (when `task` is not given):
 *   several label columns → multilabel; a query column → ranking;
 *   exactly 2 distinct label values → binary;
 *   a string label with more → multiclass;
 *   a numeric label whose values are all integers with at most 10 distinct values → multiclass;
 *   any other numeric label → regression.
 *
 * Positive class for binary (when data.positive is not given), first rule that decides:
 *   1. exactly one of the two values is a conventional positive spelling (case-insensitive):
 *      1, true, t, yes, y, pos, positive, spam, fraud, churn, malignant, abnormal, anomaly;
 *   2. numeric labels: the larger value;
 *   3. the minority class in the data (ties: the later one in strcmp order). */
#include "project/project.h"

#include "core/alloc.h"
#include "core/dtoa.h"
#include "core/suggest.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct rctx {
    fw_project *p;
    const fw_dataset *ds;
    fw_err *err;
} rctx;

/* "flywheel.yaml:7: " when the key came from a file, else "". */
static void where(const fw_project *p, int line, char *out, size_t size) {
    if (p->path && line > 0) snprintf(out, size, "%s:%d: ", p->path, line);
    else if (p->path) snprintf(out, size, "%s: ", p->path);
    else out[0] = 0;
}

static fw_status need_column(rctx *c, const char *key, const char *name, int line) {
    if (!name) return FW_OK;
    if (fw_dataset_find(c->ds, name) >= 0) return FW_OK;
    char w[300];
    where(c->p, line, w, sizeof w);
    const char **names = fw_calloc(c->ds->n_cols ? c->ds->n_cols : 1, sizeof(char *));
    const char *near = NULL;
    if (names) {
        for (size_t i = 0; i < c->ds->n_cols; i++) names[i] = c->ds->cols[i].name;
        near = fw_suggest(name, names, c->ds->n_cols);
    }
    fw_status st;
    const char *src = c->ds->source ? c->ds->source : "the data";
    if (near)
        st = fw_err_set(c->err, FW_ECONFIG, "%s'%s' names column '%s', which is not in %s (did you mean '%s'?)",
                        w, key, name, src, near);
    else
        st = fw_err_set(c->err, FW_ECONFIG, "%s'%s' names column '%s', which is not in %s (%zu columns)",
                        w, key, name, src, c->ds->n_cols);
    fw_free(names);
    return st;
}

static fw_status check_columns(rctx *c) {
    fw_project *p = c->p;
    fw_status st;
    char key[64];
    for (size_t i = 0; i < p->n_label_columns; i++)
        if ((st = need_column(c, "data.label", p->label_columns[i], p->lines.label))) return st;
    if ((st = need_column(c, "data.id", p->id_column, p->lines.id))) return st;
    if ((st = need_column(c, "data.time", p->time_column, p->lines.time))) return st;
    if ((st = need_column(c, "data.query", p->query_column, p->lines.query))) return st;
    if ((st = need_column(c, "split.group", p->split_group, p->lines.split_group))) return st;
    if ((st = need_column(c, "data.weight", p->weight_column, p->line_weight))) return st;
    if ((st = need_column(c, "hierarchy.parent", p->hier_parent, p->line_hierarchy))) return st;
    for (size_t i = 0; i < p->n_group_columns; i++)
        if ((st = need_column(c, "data.groups", p->group_columns[i], p->lines.groups))) return st;
    for (size_t i = 0; i < p->n_exclude; i++)
        if ((st = need_column(c, "data.exclude", p->exclude[i], p->lines.exclude))) return st;
    for (size_t i = 0; i < p->n_expectations; i++)
        if ((st = need_column(c, "expectations", p->expectations[i].column, p->expectations[i].line))) return st;
    for (size_t i = 0; i < p->n_features; i++) {
        snprintf(key, sizeof key, "features[%zu]", i);
        if ((st = need_column(c, key, p->features[i].name, p->features[i].line))) return st;
    }
    for (size_t i = 0; i < p->n_crosses; i++)
        for (size_t j = 0; j < p->crosses[i].n_columns; j++) {
            snprintf(key, sizeof key, "crosses[%zu]", i);
            if ((st = need_column(c, key, p->crosses[i].columns[j], p->crosses[i].line))) return st;
        }
    if (p->baseline.kind == FW_BASELINE_RULE && p->baseline.rule) {
        fw_rule r;
        if ((st = fw_rule_parse(p->baseline.rule, &r, c->err))) return st;
        for (size_t i = 0; i < r.n_conds && !st; i++)
            st = need_column(c, "baseline.rule", r.conds[i].column, p->lines.baseline);
        fw_rule_free(&r);
        if (st) return st;
    }
    return FW_OK;
}

/* Distinct non-missing values of a label column, as canonical strings with their counts. */
typedef struct distinct {
    size_t n;          /* distinct values (capped at cap + 1 when counting stops early) */
    char vals[2][FW_NUMFMT_MAX * 8];
    size_t counts[2];
    bool all_integer;
    bool numeric;
    double nums[2];
    size_t n_present;
} distinct;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static fw_status count_distinct(rctx *c, int col, distinct *d) {
    const fw_column *cl = &c->ds->cols[col];
    memset(d, 0, sizeof *d);
    size_t n = c->ds->n_rows;
    if (cl->num) {
        d->numeric = true;
        d->all_integer = true;
        /* A label usually has few values: one pass with a small table of them (with their counts,
         * in order of first appearance) replaces the sort; past SMALL_DISTINCT values, the sort. */
        enum { SMALL_DISTINCT = 64 };
        double sv[SMALL_DISTINCT];
        size_t sc[SMALL_DISTINCT], ns = 0, row = 0;
        for (; row < n; row++) {
            double x = cl->num[row];
            if (isnan(x)) continue;
            size_t j = 0;
            while (j < ns && sv[j] != x) j++;
            if (j == ns) {
                if (ns == SMALL_DISTINCT) break;
                sv[ns] = x;
                sc[ns++] = 0;
                if (x != floor(x)) d->all_integer = false;
            }
            sc[j]++;
            d->n_present++;
        }
        if (row == n) {
            /* the two smallest, as the sort would give them (first appearance among equals) */
            for (size_t q = 0; q < 2 && q < ns; q++) {
                size_t m = q;
                for (size_t j = q + 1; j < ns; j++)
                    if (sv[j] < sv[m]) m = j;
                double tv = sv[m];
                size_t tc = sc[m];
                memmove(sv + q + 1, sv + q, (m - q) * sizeof *sv); /* keeps the others' order */
                memmove(sc + q + 1, sc + q, (m - q) * sizeof *sc);
                sv[q] = tv;
                sc[q] = tc;
                d->nums[q] = tv;
                d->counts[q] = tc;
                fw_num_format(tv, d->vals[q]);
            }
            d->n = ns;
            return FW_OK;
        }
        d->all_integer = true;
        d->n_present = 0;
        double *v = fw_malloc((n ? n : 1) * sizeof(double));
        if (!v) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t r = 0; r < n; r++)
            if (!isnan(cl->num[r])) {
                v[k++] = cl->num[r];
                if (cl->num[r] != floor(cl->num[r])) d->all_integer = false;
            }
        qsort(v, k, sizeof *v, cmp_double);
        for (size_t i = 0; i < k; i++) {
            if (i == 0 || v[i] != v[i - 1]) {
                if (d->n < 2) {
                    d->nums[d->n] = v[i];
                    fw_num_format(v[i], d->vals[d->n]);
                }
                d->n++;
            }
            if (d->n <= 2) d->counts[d->n - 1]++;
        }
        d->n_present = k;
        fw_free(v);
        return FW_OK;
    }
    size_t nd = fw_dict_size(&cl->dict);
    size_t *cnt = fw_calloc(nd ? nd : 1, sizeof(size_t));
    if (!cnt) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
    for (size_t r = 0; r < n; r++)
        if (cl->code[r] >= 0 && (size_t)cl->code[r] < nd) cnt[cl->code[r]]++, d->n_present++;
    for (size_t i = 0; i < nd; i++)
        if (cnt[i]) {
            if (d->n < 2) {
                snprintf(d->vals[d->n], sizeof d->vals[0], "%s", fw_dict_str(&cl->dict, (int32_t)i));
                d->counts[d->n] = cnt[i];
            }
            d->n++;
        }
    fw_free(cnt);
    return FW_OK;
}

static const char *const k_positive_words[] = {"1", "true", "t", "yes", "y", "pos", "positive", "spam",
                                               "fraud", "churn", "malignant", "abnormal", "anomaly"};

static bool is_positive_word(const char *s) {
    for (size_t i = 0; i < sizeof k_positive_words / sizeof *k_positive_words; i++)
        if (!strcasecmp(s, k_positive_words[i])) return true;
    return false;
}

static fw_status infer_task_and_positive(rctx *c) {
    fw_project *p = c->p;
    char w[300];
    if (p->n_label_columns == 0) return fw_err_set(c->err, FW_ECONFIG, "no label column given");
    if (!p->task_set) {
        if (p->n_label_columns > 1) p->task = FW_TASK_MULTILABEL;
        else if (p->query_column) p->task = FW_TASK_RANKING;
    }
    if (p->task_set && p->task == FW_TASK_MULTILABEL) return FW_OK;
    if (!p->task_set && (p->task == FW_TASK_MULTILABEL || p->task == FW_TASK_RANKING) &&
        (p->n_label_columns > 1 || p->query_column)) {
        p->task_set = true;
        return FW_OK;
    }
    if (p->n_label_columns > 1) {
        where(p, p->lines.label, w, sizeof w);
        return fw_err_set(c->err, FW_ECONFIG, "%s'data.label' lists %zu columns: only task multilabel takes several",
                          w, p->n_label_columns);
    }
    int col = fw_dataset_find(c->ds, p->label_columns[0]);
    const fw_column *cl = &c->ds->cols[col];
    where(p, p->lines.label, w, sizeof w);
    if (cl->type == FW_COL_TIMESTAMP)
        return fw_err_set(c->err, FW_ECONFIG, "%slabel column '%s' holds timestamps; a label must be numeric or categorical",
                          w, cl->name);
    distinct d;
    fw_status st = count_distinct(c, col, &d);
    if (st) return st;
    if (d.n_present == 0)
        return fw_err_set(c->err, FW_EDATA, "%slabel column '%s' has no values in %s (%zu rows)", w, cl->name,
                          c->ds->source ? c->ds->source : "the data", c->ds->n_rows);
    if (!p->task_set) {
        if (d.n == 2) p->task = FW_TASK_BINARY;
        else if (!d.numeric) p->task = FW_TASK_MULTICLASS;
        else if (d.all_integer && d.n <= 10) p->task = FW_TASK_MULTICLASS;
        else p->task = FW_TASK_REGRESSION;
        p->task_set = true;
    }
    if ((p->task == FW_TASK_REGRESSION || p->task == FW_TASK_RANKING) && !cl->num)
        return fw_err_set(c->err, FW_ECONFIG, "%stask %s needs a numeric label, but column '%s' holds strings",
                          w, fw_task_name(p->task), cl->name);
    if ((p->task == FW_TASK_BINARY || p->task == FW_TASK_MULTICLASS) && d.n < 2)
        return fw_err_set(c->err, FW_EDATA, "%slabel column '%s' has a single value ('%s'): nothing to learn",
                          w, cl->name, d.vals[0]);
    if (p->task == FW_TASK_BINARY && d.n != 2)
        return fw_err_set(c->err, FW_ECONFIG, "%stask binary needs 2 label values, column '%s' has %zu",
                          w, cl->name, d.n);
    if (p->task == FW_TASK_BINARY) {
        if (p->positive_value) {
            bool found = false;
            for (int i = 0; i < 2; i++) {
                if (d.numeric) {
                    char *end;
                    double v = strtod(p->positive_value, &end);
                    found |= (end != p->positive_value && !*end && v == d.nums[i]);
                } else {
                    found |= !strcmp(p->positive_value, d.vals[i]);
                }
            }
            if (!found) {
                where(p, p->lines.positive, w, sizeof w);
                return fw_err_set(c->err, FW_ECONFIG, "%s'data.positive' is '%s', but label '%s' only takes '%s' and '%s'",
                                  w, p->positive_value, cl->name, d.vals[0], d.vals[1]);
            }
        } else {
            int pick;
            bool w0 = is_positive_word(d.vals[0]), w1 = is_positive_word(d.vals[1]);
            if (w0 != w1) pick = w1 ? 1 : 0;
            else if (d.numeric) pick = d.nums[1] > d.nums[0] ? 1 : 0;
            else if (d.counts[0] != d.counts[1]) pick = d.counts[0] < d.counts[1] ? 0 : 1;
            else pick = strcmp(d.vals[0], d.vals[1]) > 0 ? 0 : 1;
            p->positive_value = fw_strdup(d.vals[pick]);
            if (!p->positive_value) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
        }
    }
    return FW_OK;
}

static bool in_list(char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (v[i] && !strcmp(v[i], s)) return true;
    return false;
}

/* Why column `name` is not a feature, or NULL when it may be one. */
static const char *reserved_role(const fw_project *p, const char *name) {
    if (in_list(p->label_columns, p->n_label_columns, name)) return "the label";
    if (p->id_column && !strcmp(p->id_column, name)) return "the id column";
    if (p->time_column && !strcmp(p->time_column, name)) return "the time column";
    if (p->query_column && !strcmp(p->query_column, name)) return "the query column";
    if (in_list(p->exclude, p->n_exclude, name)) return "excluded";
    if (p->weight_column && !strcmp(p->weight_column, name)) return "the weight column";
    if (p->hier_parent && !strcmp(p->hier_parent, name)) return "the hierarchy's parent column";
    return NULL;
}

static bool type_compatible(fw_col_type declared, fw_col_type stored) {
    if (declared == stored) return true;
    if (stored == FW_COL_NUMERIC && declared == FW_COL_CATEGORICAL) return true;
    if ((stored == FW_COL_CATEGORICAL || stored == FW_COL_TEXT) &&
        (declared == FW_COL_CATEGORICAL || declared == FW_COL_TEXT))
        return true;
    return false;
}

static fw_status build_features(rctx *c) {
    fw_project *p = c->p;
    char w[300];
    for (size_t i = 0; i < p->n_features; i++) {
        const char *role = reserved_role(p, p->features[i].name);
        if (role) {
            where(p, p->features[i].line, w, sizeof w);
            return fw_err_set(c->err, FW_ECONFIG, "%s'features[%zu]': column '%s' is %s and cannot be a feature",
                              w, i, p->features[i].name, role);
        }
    }
    fw_feature_spec *out = fw_calloc(c->ds->n_cols ? c->ds->n_cols : 1, sizeof *out);
    if (!out) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t col = 0; col < c->ds->n_cols; col++) {
        const fw_column *cl = &c->ds->cols[col];
        if (reserved_role(p, cl->name)) continue;
        fw_feature_spec *f = &out[n];
        size_t k = 0;
        while (k < p->n_features && (!p->features[k].name || strcmp(p->features[k].name, cl->name))) k++;
        if (k < p->n_features) {
            *f = p->features[k];
            p->features[k].name = NULL; /* moved */
            if (!f->type_set) f->type = cl->type;
            if (!type_compatible(f->type, cl->type)) {
                where(p, f->line, w, sizeof w);
                fw_status st = fw_err_set(c->err, FW_ECONFIG,
                                          "%s'features[%zu].type': column '%s' is %s and cannot be used as %s",
                                          w, k, cl->name, fw_col_type_name(cl->type), fw_col_type_name(f->type));
                fw_free(f->name);
                for (size_t i = 0; i < n; i++) fw_free(out[i].name);
                fw_free(out);
                return st;
            }
        } else {
            fw_feature_spec_init(f);
            f->type = cl->type;
            f->name = fw_strdup(cl->name);
            if (!f->name) {
                for (size_t i = 0; i < n; i++) fw_free(out[i].name);
                fw_free(out);
                return fw_err_set(c->err, FW_ENOMEM, "out of memory");
            }
        }
        n++;
    }
    for (size_t i = 0; i < p->n_features; i++) fw_free(p->features[i].name);
    fw_free(p->features);
    p->features = out;
    p->n_features = n;
    if (n == 0) {
        where(p, 0, w, sizeof w);
        return fw_err_set(c->err, FW_ECONFIG, "%sno feature columns left (every column is the label, an id or excluded)", w);
    }
    for (size_t i = 0; i < p->n_crosses; i++)
        for (size_t j = 0; j < p->crosses[i].n_columns; j++) {
            const char *name = p->crosses[i].columns[j];
            bool found = false;
            for (size_t k = 0; k < n; k++) found |= !strcmp(out[k].name, name);
            if (!found) {
                where(p, p->crosses[i].line, w, sizeof w);
                return fw_err_set(c->err, FW_ECONFIG, "%s'crosses[%zu]': column '%s' is %s, not a feature",
                                  w, i, name, reserved_role(p, name));
            }
        }
    return FW_OK;
}

/* The fitting keys against the task: objective, class weights, hierarchy, weight column type. */
static fw_status check_fitting(rctx *c) {
    fw_project *p = c->p;
    char w[300];
    bool cls = p->task == FW_TASK_BINARY || p->task == FW_TASK_MULTICLASS || p->task == FW_TASK_MULTILABEL;
    if (p->objective && cls != (strcmp(p->objective, "log_loss") == 0)) {
        where(p, p->line_objective, w, sizeof w);
        return fw_err_set(c->err, FW_ECONFIG, "%s'objective: %s' does not fit a %s task (%s)", w, p->objective,
                          fw_task_name(p->task),
                          cls ? "classification fits log_loss" : "use squared_error, absolute_error or huber");
    }
    if ((p->class_weights_balanced || p->n_class_weights) && p->task != FW_TASK_BINARY &&
        p->task != FW_TASK_MULTICLASS) {
        where(p, p->line_class_weights, w, sizeof w);
        return fw_err_set(c->err, FW_ECONFIG, "%s'class_weights' applies to binary and multiclass tasks, not %s", w,
                          fw_task_name(p->task));
    }
    if (fw_project_has_hierarchy(p) && p->task != FW_TASK_MULTICLASS) {
        where(p, p->line_hierarchy, w, sizeof w);
        return fw_err_set(c->err, FW_ECONFIG, "%s'hierarchy' applies to multiclass tasks, not %s", w,
                          fw_task_name(p->task));
    }
    if (p->weight_column) {
        int col = fw_dataset_find(c->ds, p->weight_column);
        if (col >= 0 && !c->ds->cols[col].num) {
            where(p, p->line_weight, w, sizeof w);
            return fw_err_set(c->err, FW_ECONFIG, "%s'data.weight' names column '%s', which is %s: weights must be numbers",
                              w, p->weight_column, fw_col_type_name(c->ds->cols[col].type));
        }
    }
    return FW_OK;
}

/* Appends one line to p->notes. */
static fw_status note(fw_project *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fw_status note(fw_project *p, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = p->notes ? strlen(p->notes) : 0, add = strlen(line);
    char *n = fw_realloc(p->notes, old + add + 2);
    if (!n) return FW_ENOMEM;
    memcpy(n + old, line, add);
    n[old + add] = '\n';
    n[old + add + 1] = 0;
    p->notes = n;
    return FW_OK;
}

static bool declared_feature(const fw_project *p, const char *name) {
    for (size_t i = 0; i < p->n_features; i++)
        if (p->features[i].name && !strcmp(p->features[i].name, name)) return true;
    return false;
}

static bool name_ends_in_id(const char *s) {
    size_t n = strlen(s);
    if (n < 2 || strcasecmp(s + n - 2, "id") != 0) return false;
    if (n == 2) return true;
    char before = s[n - 3];
    /* "customer_id", "user-id", "CustomerID", "userId" — not "paid", "valid" */
    return before == '_' || before == '-' || before == ' ' || before == '.' ||
           (s[n - 2] == 'I' && before >= 'a' && before <= 'z') || (s[n - 2] == 'I' && s[n - 1] == 'D');
}

bool fw_project_id_like(const fw_dataset *ds, size_t col, size_t *n_distinct) {
    const fw_column *cl = &ds->cols[col];
    size_t n = ds->n_rows, present = 0, n_dist = 0;
    bool like = false;
    if (n_distinct) *n_distinct = 0;
    if (cl->type == FW_COL_CATEGORICAL && cl->code) {
        size_t nd = fw_dict_size(&cl->dict);
        uint8_t *seen = fw_calloc(nd ? nd : 1, 1);
        if (!seen) return false;
        for (size_t r = 0; r < n; r++) {
            int32_t k = cl->code[r];
            if (k < 0 || (size_t)k >= nd) continue;
            present++;
            if (!seen[k]) seen[k] = 1, n_dist++;
        }
        fw_free(seen);
        like = present >= 20 && (double)n_dist >= 0.95 * (double)present;
    } else if (cl->type == FW_COL_NUMERIC && cl->num && name_ends_in_id(cl->name)) {
        /* the name and the values' being integers decide before the sort that counts the distinct
         * values: every column of a wide numeric file went through a sort here (4 CPU-s of a
         * 500k x 50 training run) */
        bool integer = true;
        for (size_t r = 0; r < n && integer; r++) {
            double x = cl->num[r];
            if (!isnan(x) && x != floor(x)) integer = false;
        }
        if (!integer) return false;
        double *v = fw_malloc((n ? n : 1) * sizeof(double));
        if (!v) return false;
        for (size_t r = 0; r < n; r++) {
            double x = cl->num[r];
            if (isnan(x)) continue;
            v[present++] = x;
        }
        qsort(v, present, sizeof *v, cmp_double);
        for (size_t i = 0; i < present; i++) n_dist += i == 0 || v[i] != v[i - 1];
        fw_free(v);
        like = present >= 20 && integer && n_dist == present && name_ends_in_id(cl->name);
    }
    if (n_distinct) *n_distinct = n_dist;
    return like;
}

/* Columns no project names that would mislead as features: identifiers go to data.exclude. */
static fw_status exclude_id_like(rctx *c) {
    fw_project *p = c->p;
    for (size_t col = 0; col < c->ds->n_cols; col++) {
        const char *name = c->ds->cols[col].name;
        size_t nd = 0;
        if (reserved_role(p, name) || declared_feature(p, name) || !fw_project_id_like(c->ds, col, &nd)) continue;
        char **ex = fw_realloc(p->exclude, (p->n_exclude + 1) * sizeof(char *));
        if (!ex) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
        p->exclude = ex;
        if (!(p->exclude[p->n_exclude] = fw_strdup(name))) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
        p->n_exclude++;
        if (note(p, "column '%s' looks like an identifier (%zu distinct values in %zu rows): excluded from the features "
                    "(data.exclude); list it under features: to use it", name, nd, c->ds->n_rows))
            return fw_err_set(c->err, FW_ENOMEM, "out of memory");
    }
    return FW_OK;
}

/* split.kind when the project does not give it: time when there is a time column (data.time, or
 * else the first timestamp column no key names, which becomes data.time), stratified for a
 * binary label (a rare class keeps its share in every split), else random. */
static fw_status default_split(rctx *c) {
    fw_project *p = c->p;
    if (p->split_set) return FW_OK;
    if (p->task == FW_TASK_RANKING) return FW_OK; /* the trainer keeps a query's rows together */
    if (!p->time_column) {
        for (size_t col = 0; col < c->ds->n_cols; col++) {
            const fw_column *cl = &c->ds->cols[col];
            if (cl->type != FW_COL_TIMESTAMP || reserved_role(p, cl->name) || declared_feature(p, cl->name)) continue;
            size_t missing = 0;
            for (size_t r = 0; r < c->ds->n_rows; r++) missing += isnan(cl->num[r]);
            if (missing) { /* a time split needs every row's time: suggest it only */
                if (note(p, "column '%s' holds timestamps: a random split lets the model see the future; consider "
                            "data.time: %s and split.kind: time (%zu rows have no time yet)", cl->name, cl->name, missing))
                    return fw_err_set(c->err, FW_ENOMEM, "out of memory");
                break;
            }
            if (!(p->time_column = fw_strdup(cl->name))) return fw_err_set(c->err, FW_ENOMEM, "out of memory");
            if (note(p, "column '%s' holds timestamps: split by time (the latest rows are the test rows), so the "
                        "model is judged on a future it has not seen; '%s' is data.time, not a feature "
                        "(split.kind: random uses it as a feature)", cl->name, cl->name))
                return fw_err_set(c->err, FW_ENOMEM, "out of memory");
            break;
        }
        if (p->time_column) {
            p->split = FW_SPLIT_TIME;
            return FW_OK;
        }
    } else {
        p->split = FW_SPLIT_TIME;
        return note(p, "data.time '%s' is given: split by time", p->time_column) ? fw_err_set(c->err, FW_ENOMEM, "out of memory") : FW_OK;
    }
    if (p->task == FW_TASK_BINARY) {
        /* stratify when each class has enough rows to spread over test, validation and training */
        distinct d;
        fw_status st = count_distinct(c, fw_dataset_find(c->ds, p->label_columns[0]), &d);
        if (st) return st;
        if (d.n == 2 && d.counts[0] >= 10 && d.counts[1] >= 10) p->split = FW_SPLIT_STRATIFIED;
    }
    return FW_OK;
}

/* The transforms the pipeline would pick for features that leave them at "default", made explicit
 * so the written project says what training does: numeric → median imputation and standard
 * scaling; categorical → one-hot, or hashing when the column has more distinct values than
 * max_categories. */
static void resolve_transforms(rctx *c) {
    fw_project *p = c->p;
    for (size_t i = 0; i < p->n_features; i++) {
        fw_feature_spec *f = &p->features[i];
        if (f->type == FW_COL_NUMERIC) {
            if (f->impute == FW_IMPUTE_DEFAULT) f->impute = FW_IMPUTE_MEDIAN;
            if (f->scale == FW_SCALE_DEFAULT) f->scale = FW_SCALE_STANDARD;
        } else if (f->type == FW_COL_CATEGORICAL && f->encode == FW_ENCODE_DEFAULT) {
            int col = fw_dataset_find(c->ds, f->name);
            if (col < 0) continue;
            const fw_column *cl = &c->ds->cols[col];
            size_t n_dist = 0;
            if (cl->code) {
                n_dist = fw_dict_size(&cl->dict);
            } else if (cl->num) { /* numbers used as categories: their distinct values */
                double *v = fw_malloc((c->ds->n_rows ? c->ds->n_rows : 1) * sizeof(double));
                if (!v) continue;
                size_t k = 0;
                for (size_t r = 0; r < c->ds->n_rows; r++)
                    if (!isnan(cl->num[r])) v[k++] = cl->num[r];
                qsort(v, k, sizeof *v, cmp_double);
                for (size_t j = 0; j < k; j++) n_dist += j == 0 || v[j] != v[j - 1];
                fw_free(v);
            }
            f->encode = n_dist > f->max_categories ? FW_ENCODE_HASH : FW_ENCODE_ONEHOT;
        }
    }
}

fw_status fw_project_resolve(fw_project *p, const fw_dataset *ds, fw_err *err) {
    rctx c = {p, ds, err};
    fw_status st = check_columns(&c);
    if (!st) st = infer_task_and_positive(&c);
    if (!st) st = default_split(&c);
    if (!st) st = exclude_id_like(&c);
    if (!st) st = build_features(&c);
    if (!st) st = check_fitting(&c);
    if (st) return st;
    resolve_transforms(&c);
    if (p->split == FW_SPLIT_GROUP && !p->split_group && p->n_group_columns) {
        p->split_group = fw_strdup(p->group_columns[0]);
        if (!p->split_group) return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (!p->metric) {
        p->metric = fw_strdup(fw_project_default_metric(p->task));
        if (!p->metric) return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (p->baseline.kind == FW_BASELINE_AUTO)
        p->baseline.kind = p->task == FW_TASK_REGRESSION ? FW_BASELINE_MEAN
                           : p->task == FW_TASK_RANKING  ? FW_BASELINE_FEATURE
                                                         : FW_BASELINE_PRIOR;
    if (p->baseline.kind == FW_BASELINE_FEATURE && p->task != FW_TASK_RANKING) {
        char w[300];
        where(p, p->lines.baseline, w, sizeof w);
        return fw_err_set(err, FW_ECONFIG, "%sbaseline 'feature' is for a ranking task, but the task is %s",
                          w, fw_task_name(p->task));
    }
    if (p->baseline.kind == FW_BASELINE_PRIOR && p->task == FW_TASK_RANKING) {
        char w[300];
        where(p, p->lines.baseline, w, sizeof w);
        return fw_err_set(err, FW_ECONFIG, "%sbaseline 'prior' does not apply to a ranking task (use feature, mean or median)", w);
    }
    if ((p->baseline.kind == FW_BASELINE_MEAN || p->baseline.kind == FW_BASELINE_MEDIAN) &&
        p->task != FW_TASK_REGRESSION && p->task != FW_TASK_RANKING) {
        char w[300];
        where(p, p->lines.baseline, w, sizeof w);
        return fw_err_set(err, FW_ECONFIG, "%sbaseline '%s' needs a numeric target, but the task is %s (use prior or majority)",
                          w, p->baseline.kind == FW_BASELINE_MEAN ? "mean" : "median", fw_task_name(p->task));
    }
    return FW_OK;
}
