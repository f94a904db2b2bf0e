/* target.c — owns the label encoding (see target.h).
 *
 * Class names are the canonical text of the label values (fw_num_format for numeric labels, the
 * string itself otherwise), fitted on the training rows:
 *   binary:     [negative, positive]; the positive is p->positive_value (compared numerically for
 *               numeric labels), else the second class in sorted order;
 *   multiclass: sorted — by numeric value when every name parses as a number, else by strcmp;
 *   multilabel: class_names are the label column names; a numeric cell is 1 when non-zero, a string
 *               cell is 1 when it is one of 1, true, t, yes, y, pos, positive (case-insensitive);
 *   regression and ranking: the label column must be numeric. */
#include "features/target.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/dtoa.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TARGET_FORMAT 1
#define MAX_CLASSES 100000

static void free_strs(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) fw_free(v[i]);
    fw_free(v);
}

void fw_target_free(fw_target *t) {
    if (!t) return;
    free_strs(t->class_names, t->n_classes);
    free_strs(t->label_columns, t->n_label_columns);
    memset(t, 0, sizeof *t);
}

/* The text of cell (col, row) into buf, or NULL when missing. */
static const char *cell_text(const fw_dataset *ds, int col, size_t row, char buf[FW_NUMFMT_MAX]) {
    const fw_column *c = &ds->cols[col];
    if (c->num) {
        if (isnan(c->num[row])) return NULL;
        fw_num_format(c->num[row], buf);
        return buf;
    }
    return fw_dataset_str(ds, (size_t)col, row);
}

static bool parse_num(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE) return false;
    *out = v;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_num_str(const void *a, const void *b) {
    double x = strtod(*(char *const *)a, NULL), y = strtod(*(char *const *)b, NULL);
    return (x > y) - (x < y);
}

static fw_status fit_classes(const fw_project *p, const fw_dataset *ds, int col, const uint32_t *rows,
                             size_t n_rows, fw_target *t, fw_err *err) {
    fw_strmap seen;
    fw_strmap_init(&seen);
    char buf[FW_NUMFMT_MAX];
    fw_status st = FW_OK;
    for (size_t i = 0; i < n_rows && !st; i++) {
        size_t r = rows ? rows[i] : i;
        const char *s = cell_text(ds, col, r, buf);
        if (!s) continue;
        if (fw_strmap_get(&seen, s, strlen(s)) < 0) {
            if (seen.count >= MAX_CLASSES)
                st = fw_err_set(err, FW_EDATA, "label '%s' has more than %d classes", ds->cols[col].name, MAX_CLASSES);
            else if (fw_strmap_put(&seen, s, strlen(s), (uint32_t)seen.count))
                st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    if (!st && seen.count < 2)
        st = fw_err_set(err, FW_EDATA, "label '%s' takes %zu distinct value%s in the training rows: nothing to learn",
                        ds->cols[col].name, seen.count, seen.count == 1 ? "" : "s");
    if (!st && t->task == FW_TASK_BINARY && seen.count != 2)
        st = fw_err_set(err, FW_EDATA, "binary label '%s' takes %zu distinct values in the training rows",
                        ds->cols[col].name, seen.count);
    if (st) {
        fw_strmap_free(&seen);
        return st;
    }
    t->n_classes = seen.count;
    t->class_names = fw_calloc(seen.count, sizeof(char *));
    if (!t->class_names) {
        fw_strmap_free(&seen);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    bool all_num = true;
    for (size_t i = 0; i < seen.count; i++) {
        t->class_names[i] = seen.keys[i];
        seen.keys[i] = NULL;
        double v;
        if (!parse_num(t->class_names[i], &v)) all_num = false;
    }
    seen.count = 0;
    fw_strmap_free(&seen);
    qsort(t->class_names, t->n_classes, sizeof(char *), all_num ? cmp_num_str : cmp_str);
    if (t->task == FW_TASK_BINARY) {
        int pos = 1;
        if (p->positive_value) {
            double pv, cv;
            bool pnum = parse_num(p->positive_value, &pv);
            pos = -1;
            for (int i = 0; i < 2; i++) {
                if (!strcmp(t->class_names[i], p->positive_value) ||
                    (pnum && parse_num(t->class_names[i], &cv) && cv == pv))
                    pos = i;
            }
            if (pos < 0)
                return fw_err_set(err, FW_EDATA, "positive value '%s' does not occur in label '%s' (values: '%s', '%s')",
                                  p->positive_value, ds->cols[col].name, t->class_names[0], t->class_names[1]);
        }
        if (pos == 0) {
            char *tmp = t->class_names[0];
            t->class_names[0] = t->class_names[1];
            t->class_names[1] = tmp;
        }
    }
    return FW_OK;
}

fw_status fw_target_fit(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                        size_t n_rows, fw_target *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!p->n_label_columns) return fw_err_set(err, FW_ECONFIG, "no label column");
    out->task = p->task;
    out->label_columns = fw_calloc(p->n_label_columns, sizeof(char *));
    if (!out->label_columns) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_label_columns; i++) {
        out->label_columns[i] = fw_strdup(p->label_columns[i]);
        out->n_label_columns = i + 1;
        if (!out->label_columns[i]) {
            fw_target_free(out);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        if (fw_dataset_find(ds, p->label_columns[i]) < 0) {
            fw_target_free(out);
            return fw_err_set(err, FW_ECONFIG, "label column '%s' is not in the data", p->label_columns[i]);
        }
    }
    int col = fw_dataset_find(ds, p->label_columns[0]);
    fw_status st = FW_OK;
    switch (p->task) {
    case FW_TASK_BINARY:
    case FW_TASK_MULTICLASS:
        if (p->n_label_columns != 1) {
            st = fw_err_set(err, FW_ECONFIG, "task %s takes one label column, got %zu", fw_task_name(p->task),
                            p->n_label_columns);
            break;
        }
        st = fit_classes(p, ds, col, rows, n_rows, out, err);
        out->n_outputs = p->task == FW_TASK_BINARY ? 1 : out->n_classes;
        break;
    case FW_TASK_MULTILABEL:
        out->n_classes = p->n_label_columns;
        out->n_outputs = p->n_label_columns;
        out->class_names = fw_calloc(out->n_classes, sizeof(char *));
        if (!out->class_names) {
            out->n_classes = 0;
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < out->n_classes && !st; i++)
            if (!(out->class_names[i] = fw_strdup(p->label_columns[i])))
                st = fw_err_set(err, FW_ENOMEM, "out of memory");
        break;
    case FW_TASK_REGRESSION:
    case FW_TASK_RANKING:
        out->n_outputs = 1;
        if (!ds->cols[col].num || ds->cols[col].type != FW_COL_NUMERIC)
            st = fw_err_set(err, FW_ESCHEMA, "task %s needs a numeric label, but column '%s' is %s",
                            fw_task_name(p->task), ds->cols[col].name, fw_col_type_name(ds->cols[col].type));
        break;
    default: st = fw_err_set(err, FW_ECONFIG, "unknown task %d", (int)p->task);
    }
    if (st) fw_target_free(out);
    return st;
}

static bool truthy(const char *s) {
    static const char *const yes[] = {"1", "true", "t", "yes", "y", "pos", "positive"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!strcasecmp(s, yes[i])) return true;
    return false;
}

fw_status fw_target_encode(const fw_target *t, const fw_dataset *ds, const uint32_t *rows,
                           size_t n_rows, double *y, size_t *n_unseen, fw_err *err) {
    size_t unseen = 0;
    if (n_unseen) *n_unseen = 0;
    int cols[64];
    if (t->n_label_columns == 0 || t->n_label_columns > 64)
        return fw_err_set(err, FW_EINVAL, "target has %zu label columns", t->n_label_columns);
    for (size_t j = 0; j < t->n_label_columns; j++) {
        cols[j] = fw_dataset_find(ds, t->label_columns[j]);
        if (cols[j] < 0)
            return fw_err_set(err, FW_ESCHEMA, "label column '%s' is not in %s", t->label_columns[j],
                              ds->source ? ds->source : "the data");
    }
    char buf[FW_NUMFMT_MAX];
    if (t->task == FW_TASK_REGRESSION || t->task == FW_TASK_RANKING) {
        const fw_column *c = &ds->cols[cols[0]];
        if (!c->num || c->type != FW_COL_NUMERIC)
            return fw_err_set(err, FW_ESCHEMA, "label column '%s' is not numeric", c->name);
        for (size_t i = 0; i < n_rows; i++) {
            size_t r = rows ? rows[i] : i;
            if (isnan(c->num[r]))
                return fw_err_set(err, FW_EDATA, "row %zu: label '%s' is missing", r + 1, c->name);
            y[i] = c->num[r];
        }
        return FW_OK;
    }
    if (t->task == FW_TASK_MULTILABEL) {
        size_t L = t->n_label_columns;
        for (size_t i = 0; i < n_rows; i++) {
            size_t r = rows ? rows[i] : i;
            for (size_t j = 0; j < L; j++) {
                const fw_column *c = &ds->cols[cols[j]];
                const char *s = cell_text(ds, cols[j], r, buf);
                if (!s) return fw_err_set(err, FW_EDATA, "row %zu: label '%s' is missing", r + 1, c->name);
                y[i * L + j] = c->num ? (c->num[r] != 0) : truthy(s);
            }
        }
        return FW_OK;
    }
    fw_strmap map;
    fw_strmap_init(&map);
    for (size_t k = 0; k < t->n_classes; k++)
        if (fw_strmap_put(&map, t->class_names[k], strlen(t->class_names[k]), (uint32_t)k)) {
            fw_strmap_free(&map);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    const fw_column *c = &ds->cols[cols[0]];
    for (size_t i = 0; i < n_rows; i++) {
        size_t r = rows ? rows[i] : i;
        const char *s = cell_text(ds, cols[0], r, buf);
        if (!s) {
            fw_strmap_free(&map);
            return fw_err_set(err, FW_EDATA, "row %zu: label '%s' is missing", r + 1, c->name);
        }
        int64_t k = fw_strmap_get(&map, s, strlen(s));
        if (k < 0) unseen++;
        y[i] = (double)k;
    }
    fw_strmap_free(&map);
    if (n_unseen) *n_unseen = unseen;
    return FW_OK;
}

fw_status fw_target_save(const fw_target *t, fw_buf *out) {
    fw_buf_put_u32(out, TARGET_FORMAT);
    fw_buf_put_u32(out, (uint32_t)t->task);
    fw_buf_put_u64(out, t->n_outputs);
    fw_buf_put_u64(out, t->n_classes);
    for (size_t i = 0; i < t->n_classes; i++) fw_buf_put_str(out, t->class_names[i]);
    fw_buf_put_u64(out, t->n_label_columns);
    for (size_t i = 0; i < t->n_label_columns; i++) fw_buf_put_str(out, t->label_columns[i]);
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}

static fw_status read_strs(fw_reader *r, size_t n, char ***out) {
    if (n > fw_reader_left(r) / 4) return FW_ECORRUPT; /* each string takes at least 4 bytes */
    *out = fw_calloc(n ? n : 1, sizeof(char *));
    if (!*out) return FW_ENOMEM;
    for (size_t i = 0; i < n; i++)
    {
        size_t at = r->pos;
        if (!fw_reader_str(r, &(*out)[i])) return fw_reader_ok(r) ? FW_ENOMEM : FW_ECORRUPT;
        if (!(*out)[i]) return FW_ECORRUPT; /* names are never NULL */
        if (strlen((*out)[i]) != r->pos - at - 4) return FW_ECORRUPT; /* embedded NUL */
    }
    return FW_OK;
}

fw_status fw_target_load(fw_reader *r, fw_target *out) {
    memset(out, 0, sizeof *out);
    uint32_t ver = fw_reader_u32(r);
    if (!fw_reader_ok(r)) return FW_ECORRUPT;
    if (ver != TARGET_FORMAT) return FW_EVERSION;
    uint32_t task = fw_reader_u32(r);
    uint64_t n_out = fw_reader_u64(r), n_cls = fw_reader_u64(r);
    if (!fw_reader_ok(r) || task > FW_TASK_RANKING || n_cls > MAX_CLASSES || n_out > MAX_CLASSES)
        return FW_ECORRUPT;
    out->task = (fw_task)task;
    out->n_outputs = (size_t)n_out;
    out->n_classes = (size_t)n_cls;
    fw_status st = read_strs(r, out->n_classes, &out->class_names);
    if (!st) {
        uint64_t nl = fw_reader_u64(r);
        if (!fw_reader_ok(r) || nl == 0 || nl > 64) st = FW_ECORRUPT;
        else {
            out->n_label_columns = (size_t)nl;
            st = read_strs(r, out->n_label_columns, &out->label_columns);
        }
    }
    if (!st) {
        bool ok;
        switch (out->task) {
        case FW_TASK_BINARY: ok = n_cls == 2 && n_out == 1 && out->n_label_columns == 1; break;
        case FW_TASK_MULTICLASS: ok = n_cls >= 2 && n_out == n_cls && out->n_label_columns == 1; break;
        case FW_TASK_MULTILABEL: ok = n_cls == out->n_label_columns && n_out == n_cls; break;
        default: ok = n_cls == 0 && n_out == 1 && out->n_label_columns == 1; break;
        }
        if (!ok) st = FW_ECORRUPT;
    }
    if (st) {
        if (!out->class_names) out->n_classes = 0;
        if (!out->label_columns) out->n_label_columns = 0;
        fw_target_free(out);
    }
    return st;
}
