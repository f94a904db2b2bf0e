/* profile.c — owns the column profile: statistics, top categories, label balance, table and JSON
 * output. */
#include "data/profile.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/dtoa.h"
#include "core/threads.h"
#include "data/schema.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..m) by counting when its values are integers in a range of at most 2^20 and 4m
 * (pixels, counts, codes: Fashion-MNIST's 785 columns of 0..255 took half of `describe` to sort
 * by comparison); the array comes out exactly as a sort leaves it. false: not done. */
static bool sort_small_ints(double *v, size_t m, bool ints, double lo, double hi) {
    if (!ints || m < 64 || m >= UINT32_MAX || !(hi - lo <= 1048576.0) || hi - lo > 4.0 * (double)m) return false;
    if (!(fabs(lo) < 9007199254740992.0 && fabs(hi) < 9007199254740992.0)) return false;
    size_t range = (size_t)(hi - lo) + 1;
    uint32_t *cnt = fw_calloc(range, sizeof *cnt);
    if (!cnt) return false;
    for (size_t i = 0; i < m; i++) cnt[(size_t)(v[i] - lo)]++;
    size_t at = 0;
    for (size_t k = 0; k < range; k++)
        for (uint32_t c = cnt[k]; c > 0; c--) v[at++] = lo + (double)k;
    fw_free(cnt);
    return true;
}

/* Linear interpolation between order statistics (numpy "linear"). */
static double quantile(const double *v, size_t n, double p) {
    if (n == 0) return NAN;
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

typedef struct code_count {
    int32_t code;
    size_t count;
} code_count;

static int cmp_count(const void *a, const void *b) {
    const code_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->code > y->code) - (x->code < y->code);
}

/* Counts of each code of a string column, sorted; *n_used = codes present. */
static code_count *code_counts(const fw_column *col, size_t n_rows, size_t *n_used) {
    size_t nd = fw_dict_size(&col->dict);
    code_count *cc = fw_calloc(nd ? nd : 1, sizeof *cc);
    if (!cc) return NULL;
    for (size_t k = 0; k < nd; k++) cc[k].code = (int32_t)k;
    for (size_t r = 0; r < n_rows; r++)
        if (col->code[r] >= 0) cc[col->code[r]].count++;
    qsort(cc, nd, sizeof *cc, cmp_count);
    size_t used = 0;
    while (used < nd && cc[used].count) used++;
    *n_used = used;
    return cc;
}

static fw_status profile_col(const fw_dataset *ds, size_t c, fw_col_profile *cp) {
    const fw_column *col = &ds->cols[c];
    size_t n = ds->n_rows;
    cp->name = col->name;
    cp->type = col->type;
    cp->min = cp->max = cp->mean = cp->std = NAN;
    for (int k = 0; k < 5; k++) cp->q[k] = NAN;
    if (col->type == FW_COL_NUMERIC || col->type == FW_COL_TIMESTAMP) {
        double *v = fw_malloc((n ? n : 1) * sizeof *v);
        if (!v) return FW_ENOMEM;
        size_t m = 0;
        bool all_int = true, neg_zero = false;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t r = 0; r < n; r++) {
            double x = col->num[r];
            if (isnan(x)) continue;
            v[m++] = x;
            if (x != floor(x)) all_int = false;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
            if (x == 0 && signbit(x)) neg_zero = true;
        }
        cp->n_missing = n - m;
        if (!sort_small_ints(v, m, all_int && !neg_zero, lo, hi)) qsort(v, m, sizeof *v, cmp_f64);
        if (m) {
            /* Welford for a stable mean/variance */
            double mean = 0, m2 = 0;
            for (size_t i = 0; i < m; i++) {
                double d = v[i] - mean;
                mean += d / (double)(i + 1);
                m2 += d * (v[i] - mean);
            }
            cp->mean = mean;
            cp->std = m > 1 ? sqrt(m2 / (double)(m - 1)) : 0.0;
            cp->min = v[0];
            cp->max = v[m - 1];
            static const double ps[5] = {0.01, 0.25, 0.5, 0.75, 0.99};
            if (col->type == FW_COL_NUMERIC)
                for (int k = 0; k < 5; k++) cp->q[k] = quantile(v, m, ps[k]);
            size_t d = 0;
            for (size_t i = 0; i < m; i++)
                if (i == 0 || v[i] != v[i - 1]) d++;
            cp->distinct = d;
        }
        cp->is_integer = col->type == FW_COL_NUMERIC && m > 0 && all_int;
        fw_free(v);
    } else {
        size_t miss = 0, tokens = 0;
        for (size_t r = 0; r < n; r++) {
            if (col->code[r] < 0) {
                miss++;
                continue;
            }
            if (col->type == FW_COL_TEXT)
                tokens += fw_count_tokens(fw_dict_str(&col->dict, col->code[r]),
                                       fw_dict_len(&col->dict, col->code[r]));
        }
        cp->n_missing = miss;
        if (col->type == FW_COL_TEXT && n > miss) cp->avg_tokens = (double)tokens / (double)(n - miss);
        size_t used;
        code_count *cc = code_counts(col, n, &used);
        if (!cc) return FW_ENOMEM;
        cp->distinct = used;
        cp->n_top = used < FW_PROFILE_TOP ? used : FW_PROFILE_TOP;
        for (size_t k = 0; k < cp->n_top; k++) {
            cp->top[k].value = fw_strdup(fw_dict_str(&col->dict, cc[k].code));
            cp->top[k].count = cc[k].count;
            if (!cp->top[k].value) {
                fw_free(cc);
                return FW_ENOMEM;
            }
        }
        fw_free(cc);
    }
    cp->missing_rate = n ? (double)cp->n_missing / (double)n : 0.0;
    return FW_OK;
}

typedef struct num_count {
    double v;
    size_t count;
    size_t first;
} num_count;

static int cmp_num_count(const void *a, const void *b) {
    const num_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

static fw_status label_balance(const fw_dataset *ds, int c, fw_profile *p) {
    const fw_column *col = &ds->cols[c];
    size_t n = ds->n_rows;
    if (col->type == FW_COL_CATEGORICAL || col->type == FW_COL_TEXT) {
        size_t used;
        code_count *cc = code_counts(col, n, &used);
        if (!cc) return FW_ENOMEM;
        p->classes = fw_calloc(used ? used : 1, sizeof *p->classes);
        if (!p->classes) {
            fw_free(cc);
            return FW_ENOMEM;
        }
        for (size_t k = 0; k < used; k++) {
            p->classes[k].value = fw_strdup(fw_dict_str(&col->dict, cc[k].code));
            p->classes[k].count = cc[k].count;
            p->n_classes++;
            if (!p->classes[k].value) {
                fw_free(cc);
                return FW_ENOMEM;
            }
        }
        fw_free(cc);
        return FW_OK;
    }
    if (col->type != FW_COL_NUMERIC) return FW_OK;
    num_count vals[21];
    size_t nv = 0;
    for (size_t r = 0; r < n; r++) {
        double x = col->num[r];
        if (isnan(x)) continue;
        size_t k = 0;
        while (k < nv && vals[k].v != x) k++;
        if (k == nv) {
            if (nv == 20) return FW_OK; /* many values: a regression target, no balance */
            vals[nv++] = (num_count){x, 0, r};
        }
        vals[k].count++;
    }
    qsort(vals, nv, sizeof *vals, cmp_num_count);
    p->classes = fw_calloc(nv ? nv : 1, sizeof *p->classes);
    if (!p->classes) return FW_ENOMEM;
    for (size_t k = 0; k < nv; k++) {
        char buf[FW_DTOA_MAX];
        fw_dtoa(vals[k].v, buf);
        p->classes[k].value = fw_strdup(buf);
        p->classes[k].count = vals[k].count;
        p->n_classes++;
        if (!p->classes[k].value) return FW_ENOMEM;
    }
    return FW_OK;
}

typedef struct prof_job {
    const fw_dataset *ds;
    fw_profile *p;
    fw_status *sts; /* per column */
} prof_job;

static void profile_cols(void *ctx, int thread, size_t blk, size_t b, size_t e) {
    (void)thread;
    (void)blk;
    prof_job *j = ctx;
    for (size_t c = b; c < e; c++) j->sts[c] = profile_col(j->ds, c, &j->p->cols[c]);
}

fw_status fw_profile_build(const fw_dataset *ds, const char *label, fw_profile **out, fw_err *err) {
    *out = NULL;
    int lc = -1;
    if (label) {
        lc = fw_dataset_find(ds, label);
        if (lc < 0)
            return fw_err_set(err, FW_ENOTFOUND, "profile: label column '%s' is not in %s", label,
                              ds->source ? ds->source : "the data");
    }
    fw_profile *p = fw_calloc(1, sizeof *p);
    if (!p) return fw_err_set(err, FW_ENOMEM, "profile: out of memory");
    p->source = ds->source;
    p->n_rows = ds->n_rows;
    p->n_cols = ds->n_cols;
    p->cols = fw_calloc(ds->n_cols ? ds->n_cols : 1, sizeof *p->cols);
    fw_status *sts = fw_calloc(ds->n_cols ? ds->n_cols : 1, sizeof *sts);
    fw_status st = p->cols && sts ? FW_OK : FW_ENOMEM;
    if (!st) {
        /* Columns are independent: handed out one at a time to the threads (a table of many
         * small-integer columns, Fashion-MNIST's 785, keeps both cores busy). */
        prof_job job = {ds, p, sts};
        double cells = (double)ds->n_rows * (double)ds->n_cols;
        fw_parallel_blocks(cells >= 1e6 ? 0 : 1, ds->n_cols, 1, profile_cols, &job);
        for (size_t c = 0; c < ds->n_cols && !st; c++) st = sts[c];
    }
    fw_free(sts);
    if (!st && lc >= 0) {
        p->label = ds->cols[lc].name;
        st = label_balance(ds, lc, p);
    }
    if (st) {
        fw_profile_free(p);
        return fw_err_set(err, st, "profile: out of memory");
    }
    *out = p;
    return FW_OK;
}

void fw_profile_free(fw_profile *p) {
    if (!p) return;
    if (p->cols)
        for (size_t c = 0; c < p->n_cols; c++)
            for (size_t k = 0; k < p->cols[c].n_top; k++) fw_free(p->cols[c].top[k].value);
    fw_free(p->cols);
    for (size_t k = 0; k < p->n_classes; k++) fw_free(p->classes[k].value);
    fw_free(p->classes);
    fw_free(p);
}

static void fmt_time(double t, char *buf, unsigned cap) {
    if (isnan(t)) {
        snprintf(buf, cap, "-");
        return;
    }
    fw_format_iso8601((int64_t)llround(t * 1000.0), buf, cap);
}

void fw_profile_print(const fw_profile *p, FILE *f) {
    fprintf(f, "source: %s   rows: %zu   columns: %zu\n\n", p->source ? p->source : "-", p->n_rows,
            p->n_cols);
    size_t w = 6;
    for (size_t c = 0; c < p->n_cols; c++) {
        size_t l = strlen(p->cols[c].name);
        if (l > w) w = l;
    }
    if (w > 32) w = 32;
    fprintf(f, "%-*s  %-11s  %7s  %8s  %s\n", (int)w, "column", "type", "missing", "distinct",
            "summary");
    for (size_t c = 0; c < p->n_cols; c++) {
        const fw_col_profile *cp = &p->cols[c];
        fprintf(f, "%-*.*s  %-11s  %6.1f%%  %8zu  ", (int)w, (int)w, cp->name,
                fw_col_type_name(cp->type), cp->missing_rate * 100.0, cp->distinct);
        if (cp->type == FW_COL_NUMERIC) {
            if (isnan(cp->min))
                fprintf(f, "all missing");
            else
                fprintf(f, "min %.6g  p01 %.6g  p25 %.6g  p50 %.6g  p75 %.6g  p99 %.6g  max %.6g  mean %.6g  std %.6g",
                        cp->min, cp->q[0], cp->q[1], cp->q[2], cp->q[3], cp->q[4], cp->max, cp->mean,
                        cp->std);
        } else if (cp->type == FW_COL_TIMESTAMP) {
            char a[40], b[40];
            fmt_time(cp->min, a, sizeof a);
            fmt_time(cp->max, b, sizeof b);
            fprintf(f, "%s .. %s", a, b);
        } else {
            if (cp->type == FW_COL_TEXT) fprintf(f, "avg tokens %.1f; ", cp->avg_tokens);
            size_t nonmiss = p->n_rows - cp->n_missing;
            for (size_t k = 0; k < cp->n_top && k < 5; k++)
                fprintf(f, "%s%.24s %zu (%.1f%%)", k ? ", " : "", cp->top[k].value, cp->top[k].count,
                        nonmiss ? 100.0 * (double)cp->top[k].count / (double)nonmiss : 0.0);
            if (cp->distinct > 5) fprintf(f, ", ... (%zu more)", cp->distinct - 5);
        }
        fputc('\n', f);
    }
    if (p->label) {
        fprintf(f, "\nlabel '%s': ", p->label);
        if (!p->n_classes) {
            fprintf(f, "numeric with many values (regression)\n");
        } else {
            size_t tot = 0;
            for (size_t k = 0; k < p->n_classes; k++) tot += p->classes[k].count;
            fprintf(f, "%zu classes\n", p->n_classes);
            for (size_t k = 0; k < p->n_classes; k++)
                fprintf(f, "  %-24.24s %8zu  %5.1f%%\n", p->classes[k].value, p->classes[k].count,
                        tot ? 100.0 * (double)p->classes[k].count / (double)tot : 0.0);
        }
    }
}

static json_t *jnum(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

char *fw_profile_json(const fw_profile *p) {
    json_t *root = json_object();
    if (!root) return NULL;
    json_object_set_new(root, "source", p->source ? json_string(p->source) : json_null());
    json_object_set_new(root, "rows", json_integer((json_int_t)p->n_rows));
    json_t *cols = json_array();
    json_object_set_new(root, "columns", cols);
    for (size_t c = 0; c < p->n_cols; c++) {
        const fw_col_profile *cp = &p->cols[c];
        json_t *o = json_object();
        json_array_append_new(cols, o);
        json_object_set_new(o, "name", json_string(cp->name));
        json_object_set_new(o, "type", json_string(fw_col_type_name(cp->type)));
        json_object_set_new(o, "missing", json_integer((json_int_t)cp->n_missing));
        json_object_set_new(o, "missing_rate", json_real(cp->missing_rate));
        json_object_set_new(o, "distinct", json_integer((json_int_t)cp->distinct));
        if (cp->type == FW_COL_NUMERIC || cp->type == FW_COL_TIMESTAMP) {
            json_object_set_new(o, "min", jnum(cp->min));
            json_object_set_new(o, "max", jnum(cp->max));
            json_object_set_new(o, "mean", jnum(cp->mean));
            json_object_set_new(o, "std", jnum(cp->std));
        }
        if (cp->type == FW_COL_NUMERIC) {
            static const char *qn[5] = {"p01", "p25", "p50", "p75", "p99"};
            for (int k = 0; k < 5; k++) json_object_set_new(o, qn[k], jnum(cp->q[k]));
            json_object_set_new(o, "is_integer", json_boolean(cp->is_integer));
        }
        if (cp->type == FW_COL_TIMESTAMP) {
            char a[40], b[40];
            fmt_time(cp->min, a, sizeof a);
            fmt_time(cp->max, b, sizeof b);
            json_object_set_new(o, "min_iso", isnan(cp->min) ? json_null() : json_string(a));
            json_object_set_new(o, "max_iso", isnan(cp->max) ? json_null() : json_string(b));
        }
        if (cp->type == FW_COL_CATEGORICAL || cp->type == FW_COL_TEXT) {
            json_t *top = json_array();
            for (size_t k = 0; k < cp->n_top; k++) {
                json_t *t = json_object();
                json_object_set_new(t, "value", json_string(cp->top[k].value));
                json_object_set_new(t, "count", json_integer((json_int_t)cp->top[k].count));
                json_array_append_new(top, t);
            }
            json_object_set_new(o, "top", top);
        }
        if (cp->type == FW_COL_TEXT) json_object_set_new(o, "avg_tokens", json_real(cp->avg_tokens));
    }
    json_object_set_new(root, "label", p->label ? json_string(p->label) : json_null());
    if (p->label && p->n_classes) {
        size_t tot = 0;
        for (size_t k = 0; k < p->n_classes; k++) tot += p->classes[k].count;
        json_t *bal = json_array();
        for (size_t k = 0; k < p->n_classes; k++) {
            json_t *t = json_object();
            json_object_set_new(t, "value", json_string(p->classes[k].value));
            json_object_set_new(t, "count", json_integer((json_int_t)p->classes[k].count));
            json_object_set_new(t, "fraction",
                                json_real(tot ? (double)p->classes[k].count / (double)tot : 0.0));
            json_array_append_new(bal, t);
        }
        json_object_set_new(root, "label_balance", bal);
    }
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!s) return NULL;
    char *out = fw_strdup(s);
    json_free_t jfree; /* json_dumps allocates with jansson's allocator: fw_malloc inside the server */
    json_get_alloc_funcs(NULL, &jfree);
    jfree(s);
    return out;
}
