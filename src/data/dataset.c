/* dataset.c — owns the columnar dataset: construction, row appends, dictionaries, lookups. */
#include "data/dataset.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {"numeric", "categorical", "text", "timestamp"};

const char *fw_col_type_name(fw_col_type t) {
    return (unsigned)t < 4 ? type_names[t] : "unknown";
}

bool fw_col_type_parse(const char *s, fw_col_type *out) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, type_names[i]) == 0) {
            *out = (fw_col_type)i;
            return true;
        }
    return false;
}

void fw_dict_init(fw_dict *d) { fw_strmap_init(&d->map); }
void fw_dict_free(fw_dict *d) { fw_strmap_free(&d->map); }

int32_t fw_dict_intern(fw_dict *d, const char *s, size_t len) {
    int64_t v = fw_strmap_get(&d->map, s, len);
    if (v >= 0) return (int32_t)v;
    if (d->map.count >= INT32_MAX) return -1;
    uint32_t code = (uint32_t)d->map.count;
    if (fw_strmap_put(&d->map, s, len, code) != FW_OK) return -1;
    return (int32_t)code;
}

int32_t fw_dict_find(const fw_dict *d, const char *s, size_t len) {
    int64_t v = fw_strmap_get(&d->map, s, len);
    return v >= 0 ? (int32_t)v : -1;
}

/* Row capacity is kept in a side field per dataset: all columns share it. */
typedef struct dataset_impl {
    fw_dataset pub;
    size_t cap_rows;
} dataset_impl;

static bool col_is_num(fw_col_type t) { return t == FW_COL_NUMERIC || t == FW_COL_TIMESTAMP; }

fw_status fw_dataset_new(size_t n_cols, const char *const *names, const fw_col_type *types,
                         fw_dataset **out) {
    *out = NULL;
    dataset_impl *d = fw_calloc(1, sizeof *d);
    if (!d) return FW_ENOMEM;
    d->pub.n_cols = n_cols;
    if (n_cols) {
        d->pub.cols = fw_calloc(n_cols, sizeof(fw_column));
        if (!d->pub.cols) {
            fw_free(d);
            return FW_ENOMEM;
        }
    }
    for (size_t c = 0; c < n_cols; c++) {
        fw_column *col = &d->pub.cols[c];
        col->type = types[c];
        fw_dict_init(&col->dict);
        col->name = fw_strdup(names[c]);
        if (!col->name) {
            fw_dataset_free(&d->pub);
            return FW_ENOMEM;
        }
    }
    *out = &d->pub;
    return FW_OK;
}

void fw_dataset_free(fw_dataset *ds) {
    if (!ds) return;
    for (size_t c = 0; c < ds->n_cols; c++) {
        fw_column *col = &ds->cols[c];
        fw_free(col->name);
        fw_free(col->num);
        fw_free(col->code);
        fw_dict_free(&col->dict);
    }
    fw_free(ds->cols);
    fw_free(ds->source);
    fw_free(ds);
}

int fw_dataset_find(const fw_dataset *ds, const char *name) {
    for (size_t c = 0; c < ds->n_cols; c++)
        if (strcmp(ds->cols[c].name, name) == 0) return (int)c;
    return -1;
}

bool fw_dataset_is_missing(const fw_dataset *ds, size_t c, size_t r) {
    const fw_column *col = &ds->cols[c];
    return col_is_num(col->type) ? isnan(col->num[r]) : col->code[r] < 0;
}

const char *fw_dataset_str(const fw_dataset *ds, size_t c, size_t r) {
    const fw_column *col = &ds->cols[c];
    if (col_is_num(col->type) || col->code[r] < 0) return NULL;
    return fw_dict_str(&col->dict, col->code[r]);
}

fw_status fw_dataset_group_codes(const fw_dataset *ds, size_t c, const uint32_t *rows, size_t n, fw_group_codes *out) {
    const fw_column *col = &ds->cols[c];
    memset(out, 0, sizeof *out);
    fw_dict_init(&out->own);
    out->codes = fw_malloc((n ? n : 1) * sizeof *out->codes);
    if (!out->codes) return FW_ENOMEM;
    const fw_dict *d = &col->dict;
    if (col->code) {
        for (size_t i = 0; i < n; i++) out->codes[i] = col->code[rows ? rows[i] : i];
    } else {
        for (size_t i = 0; i < n; i++) {
            double v = col->num[rows ? rows[i] : i];
            if (isnan(v)) {
                out->codes[i] = -1;
                continue;
            }
            char txt[40];
            int len = snprintf(txt, sizeof txt, "%g", v);
            if ((out->codes[i] = fw_dict_intern(&out->own, txt, (size_t)len)) < 0) return FW_ENOMEM;
        }
        d = &out->own;
    }
    out->n_names = fw_dict_size(d);
    out->names = fw_malloc((out->n_names ? out->n_names : 1) * sizeof *out->names);
    if (!out->names) return FW_ENOMEM;
    for (size_t i = 0; i < out->n_names; i++) out->names[i] = fw_dict_str(d, (int32_t)i);
    return FW_OK;
}

void fw_group_codes_free(fw_group_codes *g) {
    fw_free(g->codes);
    fw_free(g->names);
    fw_dict_free(&g->own);
    memset(g, 0, sizeof *g);
}

fw_status fw_dataset_reserve(fw_dataset *ds, size_t n_rows) {
    dataset_impl *d = (dataset_impl *)ds;
    if (n_rows <= d->cap_rows) return FW_OK;
    for (size_t c = 0; c < ds->n_cols; c++) {
        fw_column *col = &ds->cols[c];
        if (col_is_num(col->type)) {
            double *p = fw_realloc(col->num, n_rows * sizeof *p);
            if (!p) return FW_ENOMEM;
            col->num = p;
        } else {
            int32_t *p = fw_realloc(col->code, n_rows * sizeof *p);
            if (!p) return FW_ENOMEM;
            col->code = p;
        }
    }
    d->cap_rows = n_rows;
    return FW_OK;
}

fw_status fw_dataset_append_row(fw_dataset *ds) {
    dataset_impl *d = (dataset_impl *)ds;
    if (ds->n_rows == d->cap_rows) {
        size_t nc = d->cap_rows ? d->cap_rows * 2 : 1024;
        fw_status st = fw_dataset_reserve(ds, nc);
        if (st) return st;
    }
    size_t r = ds->n_rows++;
    for (size_t c = 0; c < ds->n_cols; c++) {
        fw_column *col = &ds->cols[c];
        if (col_is_num(col->type))
            col->num[r] = NAN;
        else
            col->code[r] = -1;
    }
    return FW_OK;
}

void fw_dataset_set_num(fw_dataset *ds, size_t c, size_t r, double v) { ds->cols[c].num[r] = v; }

fw_status fw_dataset_set_str(fw_dataset *ds, size_t c, size_t r, const char *s, size_t len) {
    fw_column *col = &ds->cols[c];
    int32_t code = fw_dict_intern(&col->dict, s, len);
    if (code < 0) return FW_ENOMEM;
    col->code[r] = code;
    return FW_OK;
}
