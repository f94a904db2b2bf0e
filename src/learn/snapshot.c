/* snapshot.c — owns the training-set snapshots of a retrain (see snapshot.h): collecting the served
 * rows, the window / decay policy, and writing the training and held-out files in the base data's
 * format (base records copied byte for byte; served rows written from their logged inputs). */
#include "learn/snapshot.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/dtoa.h"
#include "data/load.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* ---- served rows ----------------------------------------------------------------------------- */

void fw_served_rows_init(fw_served_rows *s) { memset(s, 0, sizeof *s); }

void fw_served_rows_free(fw_served_rows *s) {
    for (size_t i = 0; i < s->n; i++) {
        fw_free(s->v[i].request_id);
        fw_free(s->v[i].input_json);
        fw_free(s->v[i].label_json);
    }
    fw_free(s->v);
    fw_served_rows_init(s);
}

/* The served record of a logged request: the one instance of a v1 body {"instances": [{...}]}, or
 * the object itself when it is a record (no "instances" / "inputs"); NULL otherwise (several
 * instances share one request id and so one label; a KServe v2 tensor body). fw_malloc'd. */
static char *served_record(const char *input_json) {
    if (!input_json || input_json[0] != '{') return NULL;
    json_error_t je;
    json_t *root = json_loads(input_json, 0, &je);
    if (!json_is_object(root)) {
        if (root) json_decref(root);
        return NULL;
    }
    json_t *inst = json_object_get(root, "instances"), *rec = NULL;
    if (json_is_array(inst)) {
        if (json_array_size(inst) == 1 && json_is_object(json_array_get(inst, 0))) rec = json_array_get(inst, 0);
    } else if (!json_object_get(root, "inputs")) {
        rec = root;
    }
    char *out = NULL;
    if (rec) {
        char *t = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        if (t) {
            out = fw_strdup(t);
            json_free_t jfree; /* jansson's own free: the server installs fw_malloc/fw_free for it */
            json_get_alloc_funcs(NULL, &jfree);
            jfree(t);
        }
    }
    json_decref(root);
    return out;
}

fw_status fw_served_rows_add(fw_served_rows *s, const fw_learn_row *r) {
    char *rec = served_record(r->input_json);
    if (!rec) {
        s->n_skipped++;
        return FW_OK;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        fw_served_row *v = fw_realloc(s->v, cap * sizeof *v);
        if (!v) {
            fw_free(rec);
            s->oom = true;
            return FW_ENOMEM;
        }
        s->v = v;
        s->cap = cap;
    }
    fw_served_row *d = &s->v[s->n];
    d->request_id = fw_strdup(r->request_id);
    d->input_json = rec;
    d->label_json = fw_strdup(r->label_json);
    d->ts_ms = r->ts_ms;
    d->version = r->version;
    if (!d->request_id || !d->input_json || !d->label_json) {
        fw_free(d->request_id);
        fw_free(d->input_json);
        fw_free(d->label_json);
        s->oom = true;
        return FW_ENOMEM;
    }
    s->n++;
    return FW_OK;
}

/* ---- the policy ------------------------------------------------------------------------------ */

size_t fw_snapshot_policy(const fw_learn_spec *l, const fw_served_rows *rows, size_t n_train, int64_t now_ms,
                          bool *keep, double *weight) {
    size_t kept = 0;
    if (l->rows == FW_LEARN_ROWS_DECAY) {
        for (size_t i = 0; i < n_train; i++) {
            double age_s = (double)(now_ms - rows->v[i].ts_ms) / 1000.0;
            if (age_s < 0) age_s = 0;
            keep[i] = true;
            if (weight) weight[i] = pow(0.5, age_s / l->half_life_s);
            kept++;
        }
        return kept;
    }
    /* window: the most recent window_rows, none older than max_age */
    size_t first = 0;
    if (l->window_rows && n_train > l->window_rows) first = n_train - (size_t)l->window_rows;
    for (size_t i = 0; i < n_train; i++) {
        bool k = i >= first;
        if (k && l->window_max_age_s > 0 && (double)(now_ms - rows->v[i].ts_ms) / 1000.0 > l->window_max_age_s)
            k = false;
        keep[i] = k;
        if (weight) weight[i] = 1;
        kept += k;
    }
    return kept;
}

/* ---- reading the base data ------------------------------------------------------------------- */

static fw_status read_all(const char *path, fw_buf *out, fw_err *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "base data %s: %s", path, strerror(errno));
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) fw_buf_put(out, buf, (size_t)n);
    int e = 0;
    const char *msg = n < 0 ? gzerror(f, &e) : NULL;
    gzclose(f);
    if (n < 0) return fw_err_set(err, FW_EIO, "base data %s: %s", path, msg ? msg : "read error");
    if (!fw_buf_ok(out)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    return FW_OK;
}

/* The end of the CSV record starting at p (the position of its newline, or end), quotes respected. */
static size_t record_end(const char *s, size_t p, size_t end) {
    bool q = false;
    for (; p < end; p++) {
        if (s[p] == '"') q = !q;
        else if (s[p] == '\n' && !q) return p;
    }
    return end;
}

/* The header's fields (unquoted), fw_malloc'd. */
static fw_status header_fields(const char *s, size_t len, char delim, char ***out, size_t *n_out) {
    char **v = NULL;
    size_t n = 0, cap = 0;
    fw_buf f;
    fw_buf_init(&f);
    size_t i = 0;
    for (;;) {
        f.len = 0;
        bool quoted = i < len && s[i] == '"';
        if (quoted) {
            for (i++; i < len; i++) {
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        fw_buf_put_u8(&f, '"');
                        i++;
                    } else {
                        i++;
                        break;
                    }
                } else {
                    fw_buf_put_u8(&f, (uint8_t)s[i]);
                }
            }
            while (i < len && s[i] != delim) i++;
        } else {
            while (i < len && s[i] != delim) fw_buf_put_u8(&f, (uint8_t)s[i++]);
        }
        while (f.len && (f.data[f.len - 1] == '\r')) f.len--;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = fw_realloc(v, cap * sizeof *nv);
            if (!nv) goto oom;
            v = nv;
        }
        fw_buf_put_u8(&f, 0);
        if (!fw_buf_ok(&f) || !(v[n] = fw_strdup((const char *)f.data))) goto oom;
        n++;
        if (i >= len) break;
        i++; /* the delimiter */
    }
    fw_buf_free(&f);
    *out = v;
    *n_out = n;
    return FW_OK;
oom:
    for (size_t k = 0; k < n; k++) fw_free(v[k]);
    fw_free(v);
    fw_buf_free(&f);
    return FW_ENOMEM;
}

/* ---- writing served rows --------------------------------------------------------------------- */

static void put_csv_field(fw_buf *b, const char *s, size_t n, char delim) {
    bool quote = n && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        if (s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r') quote = true;
    if (!quote) {
        fw_buf_put(b, s, n);
        return;
    }
    fw_buf_put_u8(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') fw_buf_put_u8(b, '"');
        fw_buf_put_u8(b, (uint8_t)s[i]);
    }
    fw_buf_put_u8(b, '"');
}

/* A JSON scalar as the text a CSV cell holds ("" for null, objects and lists). */
static void json_text(const json_t *v, fw_buf *t) {
    char num[FW_DTOA_MAX];
    switch (json_typeof(v)) {
    case JSON_STRING: fw_buf_put(t, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: fw_buf_printf(t, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: fw_buf_put(t, num, fw_dtoa(json_real_value(v), num)); break;
    case JSON_TRUE: fw_buf_printf(t, "true"); break;
    case JSON_FALSE: fw_buf_printf(t, "false"); break;
    default: break;
    }
}

/* How the base data writes its time column, so served rows' times read back as the same type. */
typedef enum time_fmt { TIME_ISO = 0, TIME_DATE, TIME_SPACE, TIME_EPOCH } time_fmt;

static time_fmt time_fmt_of(const char *v) {
    size_t n = v ? strlen(v) : 0;
    if (n == 10 && v[4] == '-' && v[7] == '-') return TIME_DATE;          /* 2026-12-07 */
    if (n >= 19 && v[4] == '-' && v[10] == ' ') return TIME_SPACE;        /* 2026-12-07 01:02:03 */
    if (n && strspn(v, "0123456789.") == n) return TIME_EPOCH;             /* seconds */
    return TIME_ISO;
}

static void format_time(int64_t ms, time_fmt f, char out[40]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    switch (f) {
    case TIME_DATE: strftime(out, 40, "%Y-%m-%d", &tm); break;
    case TIME_SPACE: strftime(out, 40, "%Y-%m-%d %H:%M:%S", &tm); break;
    case TIME_EPOCH: snprintf(out, 40, "%lld", (long long)(ms / 1000)); break;
    case TIME_ISO: strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm); break;
    }
}

typedef struct writer {
    const fw_project *p;
    char **cols;
    size_t n_cols;
    char delim;
    bool jsonl;
    const char *weight_col;    /* the column weights go in (NULL: none) */
    bool weight_added;         /* ... a column the base data does not have */
    time_fmt time;             /* the base data's time format (a time column requests lack) */
} writer;

/* Appends one served row; false when its inputs are not a JSON object (skipped). */
static bool put_served(const writer *w, const fw_served_row *r, double weight, fw_buf *b) {
    json_error_t je;
    json_t *in = json_loads(r->input_json, 0, &je);
    json_t *label = json_loads(r->label_json, JSON_DECODE_ANY, &je);
    bool ok = json_is_object(in) && label && !json_is_object(label) && !json_is_array(label);
    const char *label_col = w->p->label_columns[0];
    const char *time_col = w->p->time_column;
    char when[40];
    format_time(r->ts_ms, w->time, when);
    if (!ok) goto done;
    if (w->jsonl) {
        json_object_set(in, label_col, label);
        if (time_col && !json_object_get(in, time_col)) json_object_set_new(in, time_col, json_string(when));
        if (w->weight_col) json_object_set_new(in, w->weight_col, json_real(weight));
        char *s = json_dumps(in, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        if (s) {
            fw_buf_printf(b, "%s\n", s);
            json_free_t jfree; /* jansson's own free: the server installs fw_malloc/fw_free for it */
            json_get_alloc_funcs(NULL, &jfree);
            jfree(s);
        } else {
            ok = false;
        }
        goto done;
    }
    fw_buf t;
    fw_buf_init(&t);
    char num[FW_DTOA_MAX];
    for (size_t c = 0; c < w->n_cols; c++) {
        if (c) fw_buf_put_u8(b, (uint8_t)w->delim);
        t.len = 0;
        const char *col = w->cols[c];
        if (!strcmp(col, label_col)) json_text(label, &t);
        else if (w->weight_col && !strcmp(col, w->weight_col)) fw_buf_put(&t, num, fw_dtoa(weight, num));
        else if (json_object_get(in, col)) json_text(json_object_get(in, col), &t);
        else if (time_col && !strcmp(col, time_col)) fw_buf_printf(&t, "%s", when);
        put_csv_field(b, t.data ? (const char *)t.data : "", t.len, w->delim);
    }
    fw_buf_put_u8(b, '\n');
    fw_buf_free(&t);
done:
    if (in) json_decref(in);
    if (label) json_decref(label);
    return ok;
}

/* Base records copied into b (with the added weight column's value when weight_added). */
static size_t put_base(const writer *w, const fw_buf *base, size_t body, double weight, fw_buf *b) {
    const char *s = (const char *)base->data;
    size_t end = base->len, n = 0;
    char num[FW_DTOA_MAX];
    size_t nl = fw_dtoa(weight, num);
    for (size_t p = body; p < end;) {
        size_t e = w->jsonl ? p : record_end(s, p, end);
        if (w->jsonl)
            while (e < end && s[e] != '\n') e++;
        size_t stop = e;
        while (stop > p && (s[stop - 1] == '\r')) stop--;
        bool blank = true;
        for (size_t i = p; i < stop && blank; i++) blank = s[i] == ' ' || s[i] == '\t';
        if (!blank) {
            if (w->weight_added && w->jsonl) {
                size_t close = stop;
                while (close > p && s[close - 1] != '}') close--;
                if (close > p) {
                    size_t open = p;
                    while (open < close && s[open] != '{') open++;
                    bool empty = true;
                    for (size_t i = open + 1; i + 1 < close && empty; i++) empty = s[i] == ' ' || s[i] == '\t';
                    fw_buf_put(b, s + p, close - 1 - p);
                    fw_buf_printf(b, "%s\"%s\":", empty ? "" : ",", w->weight_col);
                    fw_buf_put(b, num, nl);
                    fw_buf_put(b, s + close - 1, stop - (close - 1));
                } else {
                    fw_buf_put(b, s + p, stop - p);
                }
            } else {
                fw_buf_put(b, s + p, stop - p);
                if (w->weight_added) {
                    fw_buf_put_u8(b, (uint8_t)w->delim);
                    fw_buf_put(b, num, nl);
                }
            }
            fw_buf_put_u8(b, '\n');
            n++;
        }
        p = e + 1;
    }
    return n;
}

void fw_snapshot_plan_init(fw_snapshot_plan *p) { memset(p, 0, sizeof *p); }

fw_status fw_snapshot_write(fw_store *s, const fw_snapshot_plan *p, fw_snapshot_files *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    fw_data_format fmt = FW_FORMAT_CSV;
    (void)fw_data_format_of(p->base_path, &fmt);
    size_t bl = strlen(p->base_path);
    bool gz = bl > 3 && !strcmp(p->base_path + bl - 3, ".gz");
    bool tsv = bl > 4 && !strncmp(p->base_path + bl - (gz ? 7 : 4), ".tsv", 4);
    writer w = {.p = p->project, .delim = tsv ? '\t' : ',', .jsonl = fmt == FW_FORMAT_JSONL};
    const char *ext = w.jsonl ? "jsonl" : tsv ? "tsv" : "csv";
    if (!realpath(p->base_path, out->base_abs)) snprintf(out->base_abs, sizeof out->base_abs, "%s", p->base_path);
    fw_buf base, train, hold;
    fw_buf_init(&base);
    fw_buf_init(&train);
    fw_buf_init(&hold);
    bool *keep = NULL;
    double *weight = NULL;
    fw_status st = read_all(p->base_path, &base, err);
    if (st) goto done;
    const char *bs = (const char *)base.data;
    size_t body = 0, head_start = 0;
    if (base.len >= 3 && !memcmp(bs, "\xEF\xBB\xBF", 3)) head_start = 3;
    /* weights: the project's own column, else an added one (decay only) */
    bool decay = p->learn->rows == FW_LEARN_ROWS_DECAY;
    w.weight_col = p->project->weight_column;
    if (decay && !w.weight_col) {
        w.weight_col = FW_SNAPSHOT_WEIGHT_COLUMN;
        w.weight_added = true;
        snprintf(out->weight_column, sizeof out->weight_column, "%s", FW_SNAPSHOT_WEIGHT_COLUMN);
    }
    if (!w.jsonl) {
        size_t e = record_end(bs ? bs : "", head_start, base.len);
        if (e <= head_start) {
            st = fw_err_set(err, FW_EDATA, "base data %s has no header row", p->base_path);
            goto done;
        }
        if ((st = header_fields(bs + head_start, e - head_start, w.delim, &w.cols, &w.n_cols))) {
            st = fw_err_set(err, st, "out of memory");
            goto done;
        }
        body = e + 1;
        /* the time column's format, from the first record */
        const char *tc = p->project->time_column;
        if (tc && body < base.len) {
            char **f1 = NULL;
            size_t n1 = 0;
            size_t e1 = record_end(bs, body, base.len);
            if (header_fields(bs + body, e1 - body, w.delim, &f1, &n1) == FW_OK) {
                for (size_t i = 0; i < w.n_cols && i < n1; i++)
                    if (!strcmp(w.cols[i], tc)) w.time = time_fmt_of(f1[i]);
                for (size_t i = 0; i < n1; i++) fw_free(f1[i]);
                fw_free(f1);
            }
        }
        /* the header, with the added weight column */
        size_t stop = e;
        while (stop > head_start && bs[stop - 1] == '\r') stop--;
        for (fw_buf *b = &train;; b = &hold) {
            fw_buf_put(b, bs + head_start, stop - head_start);
            if (w.weight_added) {
                fw_buf_put_u8(b, (uint8_t)w.delim);
                fw_buf_printf(b, "%s", w.weight_col);
            }
            fw_buf_put_u8(b, '\n');
            if (b == &hold) break;
        }
        if (w.weight_added) { /* the served rows write every column, the added one included */
            char **nc = fw_realloc(w.cols, (w.n_cols + 1) * sizeof *nc);
            if (!nc || !(nc[w.n_cols] = fw_strdup(w.weight_col))) {
                if (nc) w.cols = nc;
                st = fw_err_set(err, FW_ENOMEM, "out of memory");
                goto done;
            }
            w.cols = nc;
            w.n_cols++;
        }
    }
    /* the base rows, weighted as of base_ms in decay */
    double base_w = 1;
    if (decay) {
        double age = (double)(p->now_ms - p->base_ms) / 1000.0;
        base_w = pow(0.5, (age > 0 ? age : 0) / p->learn->half_life_s);
    }
    if (p->learn->base) out->n_base = put_base(&w, &base, w.jsonl ? head_start : body, base_w, &train);
    /* the served rows under the policy */
    size_t nt = p->n_train;
    keep = fw_calloc(nt ? nt : 1, sizeof *keep);
    weight = fw_calloc(nt ? nt : 1, sizeof *weight);
    if (!keep || !weight) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    fw_snapshot_policy(p->learn, p->rows, nt, p->now_ms, keep, weight);
    for (size_t i = 0; i < nt; i++)
        if (keep[i] && put_served(&w, &p->rows->v[i], weight[i], &train)) out->n_served_train++;
    size_t n_hold = 0;
    for (size_t i = nt; i < p->rows->n; i++) n_hold += put_served(&w, &p->rows->v[i], 1.0, &hold);
    if (!fw_buf_ok(&train) || !fw_buf_ok(&hold)) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    if (out->n_base + out->n_served_train == 0) {
        st = fw_err_set(err, FW_EDATA, "no training rows: learn.base is false and no served row is within the "
                        "policy (learn.rows: %s)", fw_learn_rows_name(p->learn->rows));
        goto done;
    }
    if (n_hold == 0) {
        st = fw_err_set(err, FW_EDATA, "no held-out row could be written (their logged inputs are not JSON objects)");
        goto done;
    }
    if ((st = fw_store_learn_snapshot_put(s, train.data, train.len, ext, out->train_hash, out->train_path,
                                          sizeof out->train_path, err)) ||
        (st = fw_store_learn_snapshot_put(s, hold.data, hold.len, ext, out->holdout_hash, out->holdout_path,
                                          sizeof out->holdout_path, err)))
        goto done;
done:
    for (size_t i = 0; i < w.n_cols; i++) fw_free(w.cols[i]);
    fw_free(w.cols);
    fw_free(keep);
    fw_free(weight);
    fw_buf_free(&base);
    fw_buf_free(&train);
    fw_buf_free(&hold);
    return st;
}
