/* input.c — owns batch's streaming input: the columns a run needs (model inputs, id columns),
 * read block by block from a CSV file (through the data layer's fixed-schema stream) or a JSON
 * Lines file (line by line over a source, one jansson parse per line). Memory is one block. */
#include "batch/batch_int.h"

#include "core/alloc.h"
#include "data/scalar.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define JSONL_MAX_LINE (64u << 20)

void fw__in_block_init(fw__in_block *b) {
    memset(b, 0, sizeof *b);
    fw_row_block_init(&b->rb);
    fw_buf_init(&b->arena);
}

void fw__in_block_free(fw__in_block *b) {
    fw_row_block_free(&b->rb);
    fw_free(b->vals);
    fw_free(b->jlines);
    fw_free(b->jrej);
    fw_buf_free(&b->arena);
    memset(b, 0, sizeof *b);
}

void fw__in_close(fw__in_reader *r) {
    if (r->cols)
        for (size_t i = 0; i < r->n_cols; i++) fw_free(r->cols[i]);
    fw_free(r->cols);
    fw_free(r->present);
    fw_free(r->ds_col);
    fw_csv_stream_close(r->csv);
    fw_source_close(r->src);
    fw_free(r->buf);
    fw_free(r->name);
    memset(r, 0, sizeof *r);
}

static bool has_suffix(const char *p, const char *suf) {
    size_t n = strlen(p), k = strlen(suf);
    if (n > 3 && strcasecmp(p + n - 3, ".gz") == 0) n -= 3;
    return n >= k && strncasecmp(p + n - k, suf, k) == 0;
}

static fw_status open_csv(fw__in_reader *r, const char *path, const fw_col_type *types,
                          fw_err *err) {
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    if (has_suffix(path, ".tsv")) lo.delimiter = '\t';
    lo.skip_bad_rows = true;
    /* First a peek at the header (one sample row) to learn which wanted columns exist. */
    lo.sample_rows = 1;
    fw_csv_stream *peek;
    fw_status st = fw_csv_stream_open(path, &lo, NULL, &peek, err);
    if (st) return st;
    const fw_schema *hs = fw_csv_stream_schema(peek);
    size_t n_present = 0;
    const char **names = fw_calloc(r->n_cols ? r->n_cols : 1, sizeof *names);
    fw_schema sc = {0};
    if (!names) {
        fw_csv_stream_close(peek);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_cols; i++) {
        r->present[i] = fw_schema_find(hs, r->cols[i], strlen(r->cols[i])) >= 0;
        r->ds_col[i] = -1;
        if (r->present[i]) {
            r->ds_col[i] = (int)n_present;
            names[n_present++] = r->cols[i];
        }
    }
    fw_csv_stream_close(peek);
    st = fw_schema_init(&sc, n_present, names);
    if (st) {
        fw_free(names);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_cols; i++)
        if (r->ds_col[i] >= 0) sc.types[r->ds_col[i]] = types[i];
    lo.sample_rows = 0;
    st = fw_csv_stream_open(path, &lo, &sc, &r->csv, err);
    fw_schema_free(&sc);
    fw_free(names);
    return st;
}

static fw_status open_jsonl(fw__in_reader *r, const char *path, fw_err *err) {
    fw_status st = fw_source_open(path, &r->src, err);
    if (st) return st;
    r->buf_cap = 1u << 20;
    r->buf = fw_malloc(r->buf_cap);
    if (!r->buf) return fw_err_set(err, FW_ENOMEM, "out of memory");
    /* Every wanted column may appear on any line: all are "present". */
    for (size_t i = 0; i < r->n_cols; i++) {
        r->present[i] = true;
        r->ds_col[i] = (int)i;
    }
    return FW_OK;
}

fw_status fw__in_open(fw__in_reader *r, const char *path, size_t n_cols, const char *const *names,
                      const fw_col_type *types, fw_err *err) {
    memset(r, 0, sizeof *r);
    r->fmt = FW_FORMAT_CSV;
    (void)fw_data_format_of(path, &r->fmt);
    r->n_cols = n_cols;
    r->cols = fw_calloc(n_cols ? n_cols : 1, sizeof *r->cols);
    r->present = fw_calloc(n_cols ? n_cols : 1, sizeof *r->present);
    r->ds_col = fw_calloc(n_cols ? n_cols : 1, sizeof *r->ds_col);
    r->name = fw_strdup(path);
    if (!r->cols || !r->present || !r->ds_col || !r->name) goto oom;
    for (size_t i = 0; i < n_cols; i++)
        if (!(r->cols[i] = fw_strdup(names[i]))) goto oom;
    struct stat stt;
    if (stat(path, &stt) == 0) r->size_hint = (size_t)stt.st_size;
    fw_status st = r->fmt == FW_FORMAT_JSONL ? open_jsonl(r, path, err) : open_csv(r, path, types, err);
    if (st) {
        fw__in_close(r);
        return st;
    }
    if (r->src) r->gzip = fw_source_is_gzip(r->src);
    return FW_OK;
oom:
    fw__in_close(r);
    return fw_err_set(err, FW_ENOMEM, "out of memory");
}

/* ---- JSONL ----------------------------------------------------------------------------------- */

/* Next line (without its newline) into *s and *n; *got false at the end. */
static fw_status next_line(fw__in_reader *r, const char **s, size_t *n, bool *got, fw_err *err) {
    *got = false;
    for (;;) {
        char *nl = r->buf_pos < r->buf_len ? memchr(r->buf + r->buf_pos, '\n', r->buf_len - r->buf_pos) : NULL;
        if (nl || (r->eof && r->buf_pos < r->buf_len)) {
            size_t end = nl ? (size_t)(nl - r->buf) : r->buf_len;
            *s = r->buf + r->buf_pos;
            *n = end - r->buf_pos;
            if (*n && (*s)[*n - 1] == '\r') (*n)--;
            r->buf_pos = nl ? end + 1 : end;
            r->line++;
            *got = true;
            return FW_OK;
        }
        if (r->eof) return FW_OK;
        /* Compact, grow when one line fills the buffer, then read more. */
        if (r->buf_pos) {
            memmove(r->buf, r->buf + r->buf_pos, r->buf_len - r->buf_pos);
            r->buf_len -= r->buf_pos;
            r->buf_pos = 0;
        }
        if (r->buf_len == r->buf_cap) {
            if (r->buf_cap >= JSONL_MAX_LINE)
                return fw_err_set(err, FW_ELIMIT, "%s:%llu: line longer than %u bytes", r->name,
                                  (unsigned long long)r->line + 1, JSONL_MAX_LINE);
            char *nb = fw_realloc(r->buf, r->buf_cap * 2);
            if (!nb) return fw_err_set(err, FW_ENOMEM, "out of memory");
            r->buf = nb;
            r->buf_cap *= 2;
        }
        size_t got_n;
        fw_status st = fw_source_read(r->src, r->buf + r->buf_len, r->buf_cap - r->buf_len, &got_n, err);
        if (st) return st;
        if (!got_n) r->eof = true;
        r->buf_len += got_n;
    }
}

static fw_status add_reject(fw__in_block *b, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fw_status add_reject(fw__in_block *b, uint64_t line, const char *fmt, ...) {
    if (b->n_rejects == b->cap_rej) {
        size_t cap = b->cap_rej;
        if (FW_GROW(&b->jrej, &cap, b->n_rejects + 1)) return FW_ENOMEM;
        b->cap_rej = cap;
    }
    fw_load_reject *rj = &b->jrej[b->n_rejects++];
    rj->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rj->msg, sizeof rj->msg, fmt, ap);
    va_end(ap);
    return FW_OK;
}

/* Strings are first stored as arena offsets (the arena may move), fixed up at the end. */
static fw_status parse_jsonl_row(fw__in_reader *r, fw__in_block *b, const char *s, size_t n,
                                 bool *ok) {
    *ok = false;
    json_error_t je;
    json_t *j = json_loadb(s, n, 0, &je);
    if (!j)
        return add_reject(b, r->line, "%s:%llu:%d: invalid JSON: %s", r->name, (unsigned long long)r->line,
                          je.column > 0 ? je.column : 1, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return add_reject(b, r->line, "%s:%llu: expected a JSON object", r->name, (unsigned long long)r->line);
    }
    fw_value *row = b->vals + b->n_rows * r->n_cols;
    fw_status st = FW_OK;
    for (size_t i = 0; i < r->n_cols; i++) {
        fw_value *v = &row[i];
        memset(v, 0, sizeof *v);
        json_t *x = json_object_get(j, r->cols[i]);
        if (!x || json_is_null(x)) continue;
        if (json_is_integer(x)) {
            v->kind = FW_VALUE_NUMBER;
            v->num = (double)json_integer_value(x);
        } else if (json_is_real(x)) {
            v->kind = FW_VALUE_NUMBER;
            v->num = json_real_value(x);
        } else if (json_is_string(x) || json_is_boolean(x)) {
            const char *str = json_is_string(x) ? json_string_value(x) : json_is_true(x) ? "true" : "false";
            size_t len = json_is_string(x) ? json_string_length(x) : strlen(str);
            if (json_is_string(x) && fw_is_missing(str, len, fw_default_missing, fw_default_n_missing))
                continue;
            v->kind = FW_VALUE_STRING;
            v->str = (const char *)(uintptr_t)b->arena.len;
            v->len = len;
            fw_buf_put(&b->arena, str, len);
        } else {
            json_decref(j);
            return add_reject(b, r->line, "%s:%llu: field '%s': nested objects and arrays are not supported",
                              r->name, (unsigned long long)r->line, r->cols[i]);
        }
    }
    json_decref(j);
    if (!fw_buf_ok(&b->arena)) return FW_ENOMEM;
    *ok = true;
    return st;
}

static fw_status next_jsonl(fw__in_reader *r, size_t max_rows, fw__in_block *b, fw_err *err) {
    b->arena.len = 0;
    b->n_rows = 0;
    b->n_rejects = 0;
    if (b->cap_rows < max_rows) {
        fw_value *v = fw_realloc(b->vals, max_rows * (r->n_cols ? r->n_cols : 1) * sizeof *v);
        if (!v) return fw_err_set(err, FW_ENOMEM, "out of memory");
        b->vals = v;
        uint64_t *l = fw_realloc(b->jlines, max_rows * sizeof *l);
        if (!l) return fw_err_set(err, FW_ENOMEM, "out of memory");
        b->jlines = l;
        b->cap_rows = max_rows;
    }
    while (b->n_rows < max_rows) {
        const char *s;
        size_t n;
        bool got, ok;
        fw_status st = next_line(r, &s, &n, &got, err);
        if (st) return st;
        if (!got) break;
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == n) continue; /* blank line */
        if (memchr(s, 0, n))
            return fw_err_set(err, FW_EDATA, "%s:%llu: NUL byte: this looks like a binary file, not JSON Lines",
                              r->name, (unsigned long long)r->line);
        if (parse_jsonl_row(r, b, s, n, &ok)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        if (ok) b->jlines[b->n_rows++] = r->line;
        else if (b->n_rejects >= max_rows && b->n_rows == 0)
            break; /* a long run of bad lines: hand them over */
    }
    for (size_t i = 0; i < b->n_rows * r->n_cols; i++)
        if (b->vals[i].kind == FW_VALUE_STRING)
            b->vals[i].str = (const char *)b->arena.data + (uintptr_t)b->vals[i].str;
    b->lines = b->jlines;
    b->rejects = b->jrej;
    return FW_OK;
}

fw_status fw__in_next(fw__in_reader *r, size_t max_rows, fw__in_block *b, fw_err *err) {
    if (r->fmt == FW_FORMAT_JSONL) return next_jsonl(r, max_rows, b, err);
    fw_status st = fw_csv_stream_next(r->csv, max_rows, &b->rb, err);
    if (st) return st;
    b->n_rows = b->rb.ds->n_rows;
    b->lines = b->rb.lines;
    b->n_rejects = b->rb.n_rejects;
    b->rejects = b->rb.rejects;
    return FW_OK;
}

void fw__in_values(const fw__in_reader *r, const fw__in_block *b, size_t row, const int *idx,
                   size_t n, fw_value *out) {
    if (r->fmt == FW_FORMAT_JSONL) {
        const fw_value *src = b->vals + row * r->n_cols;
        for (size_t i = 0; i < n; i++) {
            if (idx[i] < 0)
                out[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            else
                out[i] = src[idx[i]];
        }
        return;
    }
    const fw_dataset *ds = b->rb.ds;
    for (size_t i = 0; i < n; i++) {
        fw_value *v = &out[i];
        *v = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
        int c = idx[i] < 0 ? -1 : r->ds_col[idx[i]];
        if (c < 0) continue;
        const fw_column *col = &ds->cols[c];
        if (col->num) {
            double x = col->num[row];
            if (x == x) {
                v->kind = FW_VALUE_NUMBER;
                v->num = x;
            }
        } else if (col->code[row] >= 0) {
            v->kind = FW_VALUE_STRING;
            v->str = fw_dict_str(&col->dict, col->code[row]);
            v->len = fw_dict_len(&col->dict, col->code[row]);
        }
    }
}
