/* schema.c — owns schema storage and the per-column type inference rule. */
#include "data/schema.h"

#include "core/alloc.h"
#include "data/scalar.h"

#include <math.h>
#include <string.h>

fw_status fw_schema_init(fw_schema *s, size_t n, const char *const *names) {
    memset(s, 0, sizeof *s);
    s->names = fw_calloc(n ? n : 1, sizeof *s->names);
    s->types = fw_calloc(n ? n : 1, sizeof *s->types);
    s->is_integer = fw_calloc(n ? n : 1, sizeof *s->is_integer);
    s->overridden = fw_calloc(n ? n : 1, sizeof *s->overridden);
    if (!s->names || !s->types || !s->is_integer || !s->overridden) {
        fw_schema_free(s);
        return FW_ENOMEM;
    }
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        s->names[i] = fw_strdup(names ? names[i] : "");
        if (!s->names[i]) {
            fw_schema_free(s);
            return FW_ENOMEM;
        }
        s->types[i] = FW_COL_NUMERIC;
    }
    return FW_OK;
}

void fw_schema_free(fw_schema *s) {
    if (s->names)
        for (size_t i = 0; i < s->n; i++) fw_free(s->names[i]);
    fw_free(s->names);
    fw_free(s->types);
    fw_free(s->is_integer);
    fw_free(s->overridden);
    memset(s, 0, sizeof *s);
}

fw_status fw_schema_copy(fw_schema *dst, const fw_schema *src) {
    fw_status st = fw_schema_init(dst, src->n, (const char *const *)src->names);
    if (st) return st;
    for (size_t i = 0; i < src->n; i++) {
        dst->types[i] = src->types[i];
        dst->is_integer[i] = src->is_integer[i];
        dst->overridden[i] = src->overridden[i];
    }
    return FW_OK;
}

int fw_schema_find(const fw_schema *s, const char *name, size_t len) {
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->names[i]) == len && memcmp(s->names[i], name, len) == 0) return (int)i;
    return -1;
}

fw_status fw_schema_from_dataset(fw_schema *s, const fw_dataset *ds) {
    const char **names = fw_calloc(ds->n_cols ? ds->n_cols : 1, sizeof *names);
    if (!names) return FW_ENOMEM;
    for (size_t c = 0; c < ds->n_cols; c++) names[c] = ds->cols[c].name;
    fw_status st = fw_schema_init(s, ds->n_cols, names);
    fw_free(names);
    if (st) return st;
    for (size_t c = 0; c < ds->n_cols; c++) s->types[c] = ds->cols[c].type;
    return FW_OK;
}

void fw_infer_col_init(fw_infer_col *c) {
    memset(c, 0, sizeof *c);
    fw_strmap_init(&c->distinct);
}

void fw_infer_col_free(fw_infer_col *c) { fw_strmap_free(&c->distinct); }

#define FW__DISTINCT_CAP 100000

size_t fw_count_tokens(const char *s, size_t len) {
    size_t n = 0;
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        bool sp = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

fw_status fw_infer_col_text(fw_infer_col *c, const char *s, size_t len) {
    c->n_values++;
    double v;
    bool is_int;
    if (fw_parse_number(s, len, &v, &is_int)) {
        c->n_number++;
        if (is_int) c->n_integer++;
    } else if (fw_parse_timestamp(s, len, &v)) {
        c->n_timestamp++;
    } else {
        c->n_other++;
    }
    c->n_tokens += fw_count_tokens(s, len);
    if (c->distinct.count < FW__DISTINCT_CAP && fw_strmap_get(&c->distinct, s, len) < 0)
        return fw_strmap_put(&c->distinct, s, len, 0);
    return FW_OK;
}

void fw_infer_col_number(fw_infer_col *c, double v) {
    c->n_values++;
    c->n_number++;
    if (v == floor(v) && fabs(v) < 9007199254740992.0) c->n_integer++;
    c->n_tokens++;
}

fw_col_type fw_infer_col_type(const fw_infer_col *c, bool *is_integer) {
    if (is_integer) *is_integer = false;
    if (c->n_values == 0) return FW_COL_NUMERIC;
    if (c->n_number == c->n_values) {
        if (is_integer) *is_integer = c->n_integer == c->n_values;
        return FW_COL_NUMERIC;
    }
    if (c->n_timestamp == c->n_values) return FW_COL_TIMESTAMP;
    double distinct_ratio = (double)c->distinct.count / (double)c->n_values;
    double avg_tokens = (double)c->n_tokens / (double)c->n_values;
    if (distinct_ratio > 0.5 && avg_tokens >= 3.0) return FW_COL_TEXT;
    return FW_COL_CATEGORICAL;
}

fw_status fw_schema_apply_overrides(fw_schema *s, const fw_type_override *ov, size_t n,
                                    const char *source, fw_err *err) {
    for (size_t i = 0; i < n; i++) {
        int c = fw_schema_find(s, ov[i].name, strlen(ov[i].name));
        if (c < 0)
            return fw_err_set(err, FW_ECONFIG, "%s: type override names column '%s', which is not in the data",
                              source ? source : "<data>", ov[i].name);
        s->types[c] = ov[i].type;
        s->overridden[c] = true;
        s->is_integer[c] = false;
    }
    return FW_OK;
}
