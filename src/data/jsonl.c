/* jsonl.c — owns the JSON Lines reader (jansson per line): sampling, inference, typed rows. */
#include "data/jsonl.h"

#include "core/alloc.h"
#include "core/dtoa.h"
#include "data/scalar.h"
#include "data/schema.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct line_it {
    const char *p, *end;
    uint64_t line;     /* line number of the line last returned */
} line_it;

/* Next non-blank line [*s, *s + *n). Returns false at the end. */
static bool next_line(line_it *it, const char **s, size_t *n) {
    while (it->p < it->end) {
        const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
        const char *e = nl ? nl : it->end;
        const char *b = it->p;
        it->p = nl ? nl + 1 : it->end;
        it->line++;
        size_t len = (size_t)(e - b);
        if (len && b[len - 1] == '\r') len--;
        size_t k = 0;
        while (k < len && (b[k] == ' ' || b[k] == '\t')) k++;
        if (k == len) continue;
        *s = b;
        *n = len;
        return true;
    }
    return false;
}

/* Text of a scalar JSON value for a string column (numbers formatted exactly). */
static const char *scalar_text(json_t *v, char tmp[64], size_t cap, size_t *len) {
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v))
        snprintf(tmp, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) /* the text a CSV cell would hold: 0.1, not 0.10000000000000001 */
        fw_dtoa(json_real_value(v), tmp);
    else
        snprintf(tmp, cap, "%s", json_is_true(v) ? "true" : "false");
    *len = strlen(tmp);
    return tmp;
}

static fw_status parse_line(const char *name, uint64_t line, const char *s, size_t n,
                            json_t **out, fw_err *err) {
    json_error_t je;
    if (memchr(s, 0, n))
        return fw_err_set(err, FW_EDATA, "%s:%llu: NUL byte: this looks like a binary file, not JSON Lines",
                          name, (unsigned long long)line);
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return fw_err_set(err, FW_EPARSE, "%s:%llu:%d: %s", name, (unsigned long long)line,
                          je.column > 0 ? je.column : 1, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return fw_err_set(err, FW_EPARSE, "%s:%llu: expected a JSON object on each line", name,
                          (unsigned long long)line);
    }
    *out = j;
    return FW_OK;
}

static fw_status read_all(fw_source *src, size_t limit, char **data, size_t *len, fw_err *err) {
    size_t cap = 1u << 16, n = 0;
    char *b = fw_malloc(cap);
    if (!b) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (;;) {
        if (n == cap) {
            if (cap >= limit) {
                fw_free(b);
                return fw_err_set(err, FW_ELIMIT, "%s: input larger than %zu bytes",
                                  fw_source_name(src), limit);
            }
            char *nb = fw_realloc(b, cap * 2);
            if (!nb) {
                fw_free(b);
                return fw_err_set(err, FW_ENOMEM, "%s: out of memory", fw_source_name(src));
            }
            b = nb;
            cap *= 2;
        }
        size_t got;
        fw_status st = fw_source_read(src, b + n, cap - n, &got, err);
        if (st) {
            fw_free(b);
            return st;
        }
        if (!got) break;
        n += got;
    }
    *data = b;
    *len = n;
    return FW_OK;
}

fw_status fw_jsonl_load_source(fw_source *src, const fw_load_opts *opts, fw_dataset **out,
                               fw_load_result *res, fw_err *err) {
    *out = NULL;
    fw_load_opts o;
    if (opts)
        o = *opts;
    else
        fw_load_opts_init(&o);
    if (!o.missing) {
        o.missing = fw_default_missing;
        o.n_missing = fw_default_n_missing;
    }
    if (!o.sample_rows) o.sample_rows = 1;
    if (!o.max_record_bytes) o.max_record_bytes = 64u << 20;
    fw_load_result local;
    if (!res) res = &local;
    fw_load_result_clear(res);
    res->gzip = fw_source_is_gzip(src);
    const char *name = fw_source_name(src);
    char *data = NULL;
    size_t len = 0;
    fw_status st = read_all(src, SIZE_MAX / 4, &data, &len, err);
    if (st) return st;
    res->bytes = len;
    const char *s;
    size_t n;
    line_it it = {data, data + len, 0};
    /* Sample: keys in first-appearance order and their values. */
    fw_strmap keys;
    fw_strmap_init(&keys);
    fw_infer_col *ic = NULL;
    size_t cap_ic = 0;
    size_t rows = 0;
    char tmp[64];
    while (!st && rows < o.sample_rows && next_line(&it, &s, &n)) {
        if (n > o.max_record_bytes) {
            st = fw_err_set(err, FW_ELIMIT, "%s:%llu: line longer than the limit (%zu bytes)", name,
                            (unsigned long long)it.line, o.max_record_bytes);
            break;
        }
        json_t *j;
        if (parse_line(name, it.line, s, n, &j, err)) {
            if (o.skip_bad_rows && err->status != FW_EDATA) continue;
            st = err->status;
            break;
        }
        rows++;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            size_t kl = strlen(k);
            int64_t c = fw_strmap_get(&keys, k, kl);
            if (c < 0) {
                c = (int64_t)keys.count;
                if (FW_GROW(&ic, &cap_ic, keys.count + 1) || fw_strmap_put(&keys, k, kl, (uint32_t)c)) {
                    st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                    break;
                }
                fw_infer_col_init(&ic[c]);
            }
            if (json_is_number(v)) {
                fw_infer_col_number(&ic[c], json_number_value(v));
            } else if (json_is_string(v) || json_is_boolean(v)) {
                size_t vl;
                const char *vs = scalar_text(v, tmp, sizeof tmp, &vl);
                if (!fw_is_missing(vs, vl, o.missing, o.n_missing) && fw_infer_col_text(&ic[c], vs, vl))
                    st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            }
        }
        json_decref(j);
    }
    fw_schema sc = {0};
    fw_dataset *ds = NULL;
    if (!st && keys.count == 0)
        st = fw_err_set(err, FW_EDATA, "%s:1: empty file (no JSON objects)", name);
    if (!st) {
        st = fw_schema_init(&sc, keys.count, (const char *const *)keys.keys);
        if (st) fw_err_set(err, st, "%s: out of memory", name);
    }
    for (size_t c = 0; c < keys.count; c++) {
        if (!st) sc.types[c] = fw_infer_col_type(&ic[c], &sc.is_integer[c]);
        fw_infer_col_free(&ic[c]);
    }
    fw_free(ic);
    if (!st) st = fw_schema_apply_overrides(&sc, o.overrides, o.n_overrides, name, err);
    if (!st) {
        st = fw_dataset_new(sc.n, (const char *const *)sc.names, sc.types, &ds);
        if (!st && !(ds->source = fw_strdup(name))) st = FW_ENOMEM;
        if (st) fw_err_set(err, st, "%s: out of memory", name);
    }
    /* Typed pass over every line. */
    it = (line_it){data, data + len, 0};
    size_t max_rows = o.max_rows ? o.max_rows : SIZE_MAX;
    while (!st && ds->n_rows < max_rows && next_line(&it, &s, &n)) {
        if (n > o.max_record_bytes) {
            st = fw_err_set(err, FW_ELIMIT, "%s:%llu: line longer than the limit (%zu bytes)", name,
                            (unsigned long long)it.line, o.max_record_bytes);
            break;
        }
        json_t *j;
        fw_status rs = parse_line(name, it.line, s, n, &j, err);
        if (!rs) {
            /* validate types first so a rejected row leaves nothing behind */
            const char *k;
            json_t *v;
            json_object_foreach(j, k, v) {
                int64_t c = fw_strmap_get(&keys, k, strlen(k));
                if (c < 0) continue;
                if (json_is_object(v) || json_is_array(v)) {
                    rs = fw_err_set(err, FW_ESCHEMA, "%s:%llu: field '%s' holds %s (nested values are not supported)",
                                    name, (unsigned long long)it.line, k,
                                    json_is_object(v) ? "an object" : "an array");
                    break;
                }
                fw_col_type ty = sc.types[c];
                if ((ty == FW_COL_NUMERIC || ty == FW_COL_TIMESTAMP) && !json_is_null(v) &&
                    !json_is_number(v)) {
                    size_t vl;
                    const char *vs = scalar_text(v, tmp, sizeof tmp, &vl);
                    double d;
                    bool ok = fw_is_missing(vs, vl, o.missing, o.n_missing) ||
                              (ty == FW_COL_NUMERIC ? fw_parse_number(vs, vl, &d, NULL)
                                                    : fw_parse_timestamp(vs, vl, &d));
                    if (!ok) {
                        rs = fw_err_set(err, FW_ESCHEMA, "%s:%llu: field '%s': expected %s, got '%.*s'%s",
                                        name, (unsigned long long)it.line, k,
                                        ty == FW_COL_NUMERIC ? "a number" : "an ISO 8601 date/time",
                                        vl > 40 ? 40 : (int)vl, vs, vl > 40 ? "..." : "");
                        break;
                    }
                }
                if (ty == FW_COL_TIMESTAMP && json_is_number(v)) {
                    rs = fw_err_set(err, FW_ESCHEMA, "%s:%llu: field '%s': expected an ISO 8601 date/time string, got a number",
                                    name, (unsigned long long)it.line, k);
                    break;
                }
            }
            if (!rs) {
                if (fw_dataset_append_row(ds)) {
                    rs = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                    st = rs;
                }
                size_t r = ds->n_rows - 1;
                json_object_foreach(j, k, v) {
                    if (st) break;
                    int64_t c = fw_strmap_get(&keys, k, strlen(k));
                    if (c < 0 || json_is_null(v)) continue;
                    fw_col_type ty = sc.types[c];
                    size_t vl;
                    const char *vs = json_is_number(v) ? NULL : scalar_text(v, tmp, sizeof tmp, &vl);
                    if (ty == FW_COL_NUMERIC || ty == FW_COL_TIMESTAMP) {
                        double d = NAN;
                        if (!vs)
                            d = json_number_value(v);
                        else if (!fw_is_missing(vs, vl, o.missing, o.n_missing))
                            (void)(ty == FW_COL_NUMERIC ? fw_parse_number(vs, vl, &d, NULL)
                                                        : fw_parse_timestamp(vs, vl, &d));
                        fw_dataset_set_num(ds, (size_t)c, r, d);
                    } else {
                        if (!vs) vs = scalar_text(v, tmp, sizeof tmp, &vl);
                        if (fw_is_missing(vs, vl, o.missing, o.n_missing)) continue;
                        if (fw_dataset_set_str(ds, (size_t)c, r, vs, vl))
                            st = rs = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                    }
                }
            }
            json_decref(j);
        }
        if (rs && !st) {
            if (o.skip_bad_rows && rs != FW_EDATA && rs != FW_ENOMEM)
                fw_load_result_reject(res, it.line, err->msg);
            else
                st = rs;
        }
    }
    if (!st) fw_err_clear(err);
    fw_strmap_free(&keys);
    fw_schema_free(&sc);
    fw_free(data);
    if (st) {
        fw_dataset_free(ds);
        return st;
    }
    res->rows = ds->n_rows;
    *out = ds;
    return FW_OK;
}

fw_status fw_jsonl_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                        fw_load_result *res, fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open(path, &src, err);
    if (st) return st;
    st = fw_jsonl_load_source(src, opts, out, res, err);
    fw_source_close(src);
    return st;
}

fw_status fw_jsonl_load_mem(const void *data, size_t len, const char *name,
                            const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                            fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open_mem(data, len, name, &src, err);
    if (st) return st;
    st = fw_jsonl_load_source(src, opts, out, res, err);
    fw_source_close(src);
    return st;
}
