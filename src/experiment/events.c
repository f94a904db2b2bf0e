/* events.c — owns the experiment event list of events.h: the CSV reader, the canonical order, the
 * default metrics and the replay that prints the report. */
#include "experiment/events.h"

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/json_out.h"
#include "data/scalar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_exp_events_init(fw_exp_events *l) {
    memset(l, 0, sizeof *l);
    fw_strmap_init(&l->units);
    fw_strmap_init(&l->variants);
    fw_strmap_init(&l->metrics);
    fw_strmap_init(&l->slices);
}

void fw_exp_events_free(fw_exp_events *l) {
    fw_strmap_free(&l->units);
    fw_strmap_free(&l->variants);
    fw_strmap_free(&l->metrics);
    fw_strmap_free(&l->slices);
    fw_free(l->ev);
    memset(l, 0, sizeof *l);
}

static fw_status intern(fw_strmap *m, const char *s, size_t len, uint32_t *out) {
    int64_t i = fw_strmap_get(m, s, len);
    if (i >= 0) {
        *out = (uint32_t)i;
        return FW_OK;
    }
    *out = (uint32_t)m->count;
    return fw_strmap_put(m, s, len, *out);
}

fw_status fw_exp_events_push(fw_exp_events *l, const char *unit, size_t unit_len, const char *variant,
                             size_t variant_len, double time, const char *metric, size_t metric_len, double value,
                             double pre, fw_err *err) {
    fw_exp_event ev = {.time = time, .value = value, .pre = pre, .slice = FW_EXP_NO_SLICE};
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 1024;
        fw_exp_event *p = fw_realloc(l->ev, c * sizeof *p);
        if (!p) return fw_err_set(err, FW_ENOMEM, "out of memory reading events");
        l->ev = p;
        l->cap = c;
    }
    if (intern(&l->units, unit, unit_len, &ev.unit) || intern(&l->variants, variant, variant_len, &ev.variant) ||
        intern(&l->metrics, metric, metric_len, &ev.metric))
        return fw_err_set(err, FW_ENOMEM, "out of memory reading events");
    l->ev[l->n++] = ev;
    return FW_OK;
}

fw_status fw_exp_events_set_slice(fw_exp_events *l, const char *slice, size_t len, fw_err *err) {
    if (!l->n || !len) return FW_OK;
    if (intern(&l->slices, slice, len, &l->ev[l->n - 1].slice))
        return fw_err_set(err, FW_ENOMEM, "out of memory reading events");
    return FW_OK;
}

/* ---- CSV ------------------------------------------------------------------------------------ */

enum { COL_UNIT, COL_VARIANT, COL_TIME, COL_METRIC, COL_VALUE, COL_PRE, COL_SLICE, N_COLS };
static const char *const col_names[N_COLS] = {"unit", "variant", "time", "metric", "value", "pre", "slice"};

/* One field of the record being read: where it starts, and its text (unquoted into scratch when
 * it was quoted). */
typedef struct field {
    const char *s;
    size_t len;
    uint64_t line, col;
} field;

typedef struct reader {
    const char *p, *end, *line_start;
    uint64_t line;
    fw_buf scratch;       /* unquoted texts of quoted fields, back to back */
    field *f;
    size_t nf, capf;
    size_t *soff;         /* per field: offset into scratch, or SIZE_MAX when f[i].s points into the data */
} reader;

/* Reads the next record into r->f. Returns 1 for a record, 0 at the end, negative on an error. */
static int next_record(reader *r, const char *name, fw_err *err) {
    r->nf = 0;
    r->scratch.len = 0;
    if (r->p >= r->end) return 0;
    for (;;) {
        if (r->nf == r->capf) {
            size_t c = r->capf ? r->capf * 2 : 16;
            field *f = fw_realloc(r->f, c * sizeof *f);
            size_t *o = f ? fw_realloc(r->soff, c * sizeof *o) : NULL;
            if (f) r->f = f;
            if (!f || !o) return fw_err_set(err, FW_ENOMEM, "out of memory reading %s", name);
            r->soff = o;
            r->capf = c;
        }
        field *fd = &r->f[r->nf];
        fd->line = r->line;
        fd->col = (uint64_t)(r->p - r->line_start) + 1;
        r->soff[r->nf] = SIZE_MAX;
        if (r->p < r->end && *r->p == '"') {
            size_t off = r->scratch.len;
            r->p++;
            for (;;) {
                if (r->p >= r->end)
                    return fw_err_set(err, FW_EPARSE, "%s:%llu:%llu: a quoted field is not closed before the end of the file",
                                      name, (unsigned long long)fd->line, (unsigned long long)fd->col);
                char ch = *r->p++;
                if (ch == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        fw_buf_put_u8(&r->scratch, '"');
                        r->p++;
                        continue;
                    }
                    break;
                }
                if (ch == '\n') {
                    r->line++;
                    r->line_start = r->p;
                }
                fw_buf_put_u8(&r->scratch, (uint8_t)ch);
            }
            if (!fw_buf_ok(&r->scratch)) return fw_err_set(err, FW_ENOMEM, "out of memory reading %s", name);
            r->soff[r->nf] = off;
            fd->len = r->scratch.len - off;
            if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
                return fw_err_set(err, FW_EPARSE, "%s:%llu:%llu: text after a closing quote", name,
                                  (unsigned long long)r->line, (unsigned long long)(r->p - r->line_start) + 1);
        } else {
            const char *s = r->p;
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                if (*r->p == '"')
                    return fw_err_set(err, FW_EPARSE, "%s:%llu:%llu: a quote inside an unquoted field", name,
                                      (unsigned long long)r->line, (unsigned long long)(r->p - r->line_start) + 1);
                r->p++;
            }
            fd->s = s;
            fd->len = (size_t)(r->p - s);
        }
        r->nf++;
        if (r->p >= r->end) break;
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == '\r') {
            r->p++;
            if (r->p < r->end && *r->p != '\n')
                return fw_err_set(err, FW_EPARSE, "%s:%llu:%llu: a carriage return not followed by a newline", name,
                                  (unsigned long long)r->line, (unsigned long long)(r->p - r->line_start));
        }
        if (r->p < r->end) r->p++; /* the newline */
        r->line++;
        r->line_start = r->p;
        break;
    }
    for (size_t i = 0; i < r->nf; i++) /* quoted texts: point into the finished scratch */
        if (r->soff[i] != SIZE_MAX) /* all quoted fields empty: no scratch yet */
            r->f[i].s = r->scratch.data ? (const char *)r->scratch.data + r->soff[i] : "";
    return 1;
}

static fw_status field_err(const char *name, const field *f, const char *col, const char *what, fw_err *err) {
    return fw_err_set(err, FW_EPARSE, "%s:%llu:%llu: column '%s': %s", name, (unsigned long long)f->line,
                      (unsigned long long)f->col, col, what);
}

/* A number, or NaN when the field is empty; FW_EPARSE otherwise. */
static fw_status number(const char *name, const field *f, const char *col, double *out, fw_err *err) {
    if (f->len == 0) {
        *out = NAN;
        return FW_OK;
    }
    bool is_int;
    if (!fw_decimal_parse(f->s, f->len, out, &is_int) || !isfinite(*out)) {
        char what[160];
        snprintf(what, sizeof what, "'%.*s' is not a number", (int)(f->len > 60 ? 60 : f->len), f->s);
        return field_err(name, f, col, what, err);
    }
    return FW_OK;
}

fw_status fw_exp_events_parse_csv(fw_exp_events *l, const char *name, const char *data, size_t len, fw_err *err) {
    reader r = {.p = data, .end = data + len, .line_start = data, .line = 1};
    fw_buf_init(&r.scratch);
    fw_status st = FW_OK;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        r.p += 3;
        r.line_start = r.p;
    }
    if (memchr(data, 0, len)) {
        st = fw_err_set(err, FW_EPARSE, "%s: a NUL byte: not a text CSV file", name);
        goto done;
    }
    int rc = next_record(&r, name, err);
    if (rc <= 0) {
        st = rc < 0 ? (fw_status)rc : fw_err_set(err, FW_EPARSE, "%s:1:1: empty file (want a header with unit,variant,time,metric,value[,pre][,slice])", name);
        goto done;
    }
    int pos[N_COLS];
    for (int c = 0; c < N_COLS; c++) pos[c] = -1;
    size_t n_header = r.nf;
    for (size_t i = 0; i < r.nf; i++)
        for (int c = 0; c < N_COLS; c++)
            if (r.f[i].len == strlen(col_names[c]) && memcmp(r.f[i].s, col_names[c], r.f[i].len) == 0) {
                if (pos[c] >= 0) {
                    st = field_err(name, &r.f[i], col_names[c], "repeated in the header", err);
                    goto done;
                }
                pos[c] = (int)i;
            }
    for (int c = 0; c < COL_PRE; c++)
        if (pos[c] < 0) {
            st = fw_err_set(err, FW_EPARSE, "%s:1:1: the header has no column '%s' (want unit,variant,time,metric,value[,pre][,slice])",
                            name, col_names[c]);
            goto done;
        }
    while ((rc = next_record(&r, name, err)) > 0) {
        if (r.nf == 1 && r.f[0].len == 0) continue; /* a blank line */
        if (r.nf != n_header) {
            st = fw_err_set(err, FW_EPARSE, "%s:%llu:1: %zu fields, the header has %zu", name,
                            (unsigned long long)r.f[0].line, r.nf, n_header);
            goto done;
        }
        const field *u = &r.f[pos[COL_UNIT]], *v = &r.f[pos[COL_VARIANT]], *t = &r.f[pos[COL_TIME]],
                    *m = &r.f[pos[COL_METRIC]];
        if (!u->len) { st = field_err(name, u, "unit", "empty (every event needs its randomization unit)", err); goto done; }
        if (!v->len) { st = field_err(name, v, "variant", "empty", err); goto done; }
        if (!m->len) { st = field_err(name, m, "metric", "empty", err); goto done; }
        double time, value, pre = NAN;
        bool is_int;
        if (t->len == 0) { st = field_err(name, t, "time", "empty", err); goto done; }
        if (!fw_decimal_parse(t->s, t->len, &time, &is_int) || !isfinite(time)) {
            double secs;
            if (!fw_parse_timestamp(t->s, t->len, &secs)) {
                char what[160];
                snprintf(what, sizeof what, "'%.*s' is neither a number nor an ISO 8601 time",
                         (int)(t->len > 60 ? 60 : t->len), t->s);
                st = field_err(name, t, "time", what, err);
                goto done;
            }
            time = secs * 1000.0;
        }
        if ((st = number(name, &r.f[pos[COL_VALUE]], "value", &value, err))) goto done;
        if (pos[COL_PRE] >= 0 && (st = number(name, &r.f[pos[COL_PRE]], "pre", &pre, err))) goto done;
        if ((st = fw_exp_events_push(l, u->s, u->len, v->s, v->len, time, m->s, m->len, value, pre, err))) goto done;
        if (pos[COL_SLICE] >= 0 &&
            (st = fw_exp_events_set_slice(l, r.f[pos[COL_SLICE]].s, r.f[pos[COL_SLICE]].len, err)))
            goto done;
    }
    if (rc < 0) st = (fw_status)rc;
done:
    fw_buf_free(&r.scratch);
    fw_free(r.f);
    fw_free(r.soff);
    return st;
}

/* ---- canonical order ---------------------------------------------------------------------- */

typedef struct order_ctx {
    const uint32_t *urank, *vrank, *mrank, *srank;
} order_ctx;

static int cmp_num(double a, double b) { /* NaN first */
    if (isnan(a) || isnan(b)) return isnan(a) ? (isnan(b) ? 0 : -1) : 1;
    return a < b ? -1 : a > b;
}

static int cmp_event(const void *pa, const void *pb, void *ctx) {
    const fw_exp_event *a = pa, *b = pb;
    const order_ctx *o = ctx;
    int c;
    if ((c = cmp_num(a->time, b->time))) return c;
    if (a->unit != b->unit) return o->urank[a->unit] < o->urank[b->unit] ? -1 : 1;
    if (a->variant != b->variant) return o->vrank[a->variant] < o->vrank[b->variant] ? -1 : 1;
    if (a->metric != b->metric) return o->mrank[a->metric] < o->mrank[b->metric] ? -1 : 1;
    if ((c = cmp_num(a->value, b->value))) return c;
    if ((c = cmp_num(a->pre, b->pre))) return c;
    if (a->slice != b->slice) { /* none first, then byte order */
        uint32_t ra = a->slice == FW_EXP_NO_SLICE ? 0 : o->srank[a->slice] + 1;
        uint32_t rb = b->slice == FW_EXP_NO_SLICE ? 0 : o->srank[b->slice] + 1;
        return ra < rb ? -1 : ra > rb;
    }
    return 0;
}

static int cmp_key(const void *pa, const void *pb, void *ctx) {
    const fw_strmap *m = ctx;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    size_t la = m->key_len[a], lb = m->key_len[b];
    int c = memcmp(m->keys[a], m->keys[b], la < lb ? la : lb);
    return c ? c : la < lb ? -1 : la > lb;
}

/* rank[i] = position of key i in byte order. */
static uint32_t *ranks(const fw_strmap *m) {
    size_t n = m->count;
    uint32_t *idx = fw_malloc((n ? n : 1) * sizeof *idx), *rank = fw_malloc((n ? n : 1) * sizeof *rank);
    if (!idx || !rank) {
        fw_free(idx);
        fw_free(rank);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    if (n > 1) qsort_r(idx, n, sizeof *idx, cmp_key, (void *)m);
    for (size_t i = 0; i < n; i++) rank[idx[i]] = (uint32_t)i;
    fw_free(idx);
    return rank;
}

fw_status fw_exp_events_sort(fw_exp_events *l, fw_err *err) {
    order_ctx o = {ranks(&l->units), ranks(&l->variants), ranks(&l->metrics), ranks(&l->slices)};
    fw_status st = FW_OK;
    if (!o.urank || !o.vrank || !o.mrank || !o.srank) st = fw_err_set(err, FW_ENOMEM, "out of memory sorting events");
    else if (l->n > 1) qsort_r(l->ev, l->n, sizeof *l->ev, cmp_event, &o); /* no rows: ev may be NULL */
    fw_free((void *)o.urank);
    fw_free((void *)o.vrank);
    fw_free((void *)o.mrank);
    fw_free((void *)o.srank);
    return st;
}

/* ---- default metrics ---------------------------------------------------------------------- */

fw_status fw_exp_events_default_metrics(const fw_exp_events *l, fw_exp_metric_spec **out, size_t *n_out, fw_err *err) {
    *out = NULL;
    *n_out = 0;
    size_t nm = l->metrics.count;
    uint32_t *rank = ranks(&l->metrics);
    bool *counts = fw_calloc(nm ? nm : 1, sizeof *counts);
    fw_exp_metric_spec *m = fw_calloc(nm ? nm : 1, sizeof *m);
    if (!rank || !counts || !m) {
        fw_free(rank);
        fw_free(counts);
        fw_free(m);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nm; i++) counts[i] = true;
    for (size_t i = 0; i < l->n; i++)
        if (!isnan(l->ev[i].value) && l->ev[i].value != 1) counts[l->ev[i].metric] = false;
    size_t k = 0;
    fw_status st = FW_OK;
    for (size_t r = 0; r < nm && !st; r++) {
        size_t i = 0;
        while (rank[i] != r) i++;
        const char *name = l->metrics.keys[i];
        size_t len = l->metrics.key_len[i];
        if (len == strlen(FW_EXP_EXPOSURE) && memcmp(name, FW_EXP_EXPOSURE, len) == 0) continue;
        if (len >= sizeof m[k].name) {
            st = fw_err_set(err, FW_EINVAL, "event name '%.40s...' is longer than %zu bytes", name, sizeof m[k].name - 1);
            break;
        }
        if (k >= FW_EXP_MAX_METRICS) {
            st = fw_err_set(err, FW_EINVAL, "more than %d distinct event names (declare the metrics with --metric)",
                            FW_EXP_MAX_METRICS);
            break;
        }
        memcpy(m[k].name, name, len);
        memcpy(m[k].event, name, len);
        m[k].kind = counts[i] ? FW_EXP_RATE : FW_EXP_MEAN;
        m[k].direction = 1;
        m[k].min_effect = 0.05;
        k++;
    }
    fw_free(rank);
    fw_free(counts);
    if (st) {
        fw_free(m);
        return st;
    }
    *out = m;
    *n_out = k;
    return FW_OK;
}

/* ---- replay ------------------------------------------------------------------------------- */

/* The per-slice analyses after the report in out: a unit belongs to its first non-empty slice;
 * each slice's experiment replays the events of its units (canonical order) with the same options.
 * JSON: a "slices" key added to the document in out; text: a section per slice. */
/* A slice's HTML section: its name (escaped) as a heading, then the body of its report's page. */
static void html_slice(fw_buf *html, const char *name, fw_experiment *e) {
    static const char head[] = "<h1>Experiment report</h1>\n", tail[] = "</body></html>\n";
    fw_buf page;
    fw_buf_init(&page);
    fw_experiment_html(e, &page);
    fw_buf_printf(html, "<h2>Slice ");
    for (const char *c = name; *c; c++) {
        if (*c == '<') fw_buf_printf(html, "&lt;");
        else if (*c == '>') fw_buf_printf(html, "&gt;");
        else if (*c == '&') fw_buf_printf(html, "&amp;");
        else if (*c == '"') fw_buf_printf(html, "&quot;");
        else fw_buf_put_u8(html, (uint8_t)*c);
    }
    fw_buf_printf(html, " <small>(its units only; not corrected across slices)</small></h2>\n");
    const char *p = fw_buf_ok(&page) ? (const char *)page.data : NULL;
    const char *from = p ? strstr(p, head) : NULL;
    if (from && page.len >= sizeof tail - 1) {
        from += sizeof head - 1;
        size_t end = page.len - (sizeof tail - 1);
        if ((size_t)(from - p) <= end) fw_buf_put(html, from, end - (size_t)(from - p));
    }
    fw_buf_free(&page);
}

static fw_status report_slices(const fw_exp_events *l, const fw_exp_opts *o, bool json, fw_buf *out, fw_buf *html,
                               fw_err *err) {
    size_t ns = l->slices.count;
    if (ns > FW_EXP_MAX_SLICES)
        return fw_err_set(err, FW_EINVAL, "%zu slices (at most %d in a report)", ns, FW_EXP_MAX_SLICES);
    uint32_t *us = fw_malloc((l->units.count ? l->units.count : 1) * sizeof *us), *rank = ranks(&l->slices);
    fw_status st = FW_OK;
    if (!us || !rank) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t u = 0; !st && u < l->units.count; u++) us[u] = FW_EXP_NO_SLICE;
    for (size_t i = 0; !st && i < l->n; i++)
        if (l->ev[i].slice != FW_EXP_NO_SLICE && us[l->ev[i].unit] == FW_EXP_NO_SLICE) us[l->ev[i].unit] = l->ev[i].slice;
    if (!st && json) {
        if (out->len >= 2) out->len -= 2; /* "}\n" */
        fw_buf_printf(out, ",\"slices\":[");
    }
    static const char tail[] = "</body></html>\n"; /* the page goes on after the whole report's tables */
    bool html_open = html && html->len >= sizeof tail - 1 &&
                     memcmp(html->data + html->len - (sizeof tail - 1), tail, sizeof tail - 1) == 0;
    if (html_open) html->len -= sizeof tail - 1;
    for (uint32_t r = 0; !st && r < ns; r++) {
        uint32_t sl = 0;
        while (rank[sl] != r) sl++;
        fw_experiment *e;
        if ((st = fw_experiment_new(o, &e, err))) break;
        for (size_t i = 0; i < l->n && !st; i++) {
            const fw_exp_event *ev = &l->ev[i];
            if (us[ev->unit] != sl) continue;
            st = fw_experiment_add(e, l->units.keys[ev->unit], l->units.key_len[ev->unit], l->variants.keys[ev->variant],
                                   l->variants.key_len[ev->variant], l->metrics.keys[ev->metric],
                                   l->metrics.key_len[ev->metric], ev->value, ev->pre, err);
        }
        if (!st && json) {
            fw_buf_printf(out, "%s{\"slice\":", r ? "," : "");
            fw_json_put_str(out, l->slices.keys[sl]);
            fw_buf_printf(out, ",\"report\":");
            fw_experiment_json(e, out);
            fw_buf_put_u8(out, '}');
        } else if (!st) {
            fw_buf_printf(out, "\n== slice %s (its units only; not corrected across slices)\n", l->slices.keys[sl]);
            fw_experiment_text(e, out);
        }
        if (!st && html_open) html_slice(html, l->slices.keys[sl], e);
        fw_experiment_free(e);
    }
    if (html_open) fw_buf_printf(html, "%s", tail);
    if (!st && json) fw_buf_printf(out, "]}\n");
    fw_free(us);
    fw_free(rank);
    return st;
}

fw_status fw_exp_events_report(const fw_exp_events *l, const fw_exp_opts *opts, uint64_t every, bool json,
                               fw_buf *out, fw_buf *html, fw_err *err) {
    fw_exp_opts o = *opts;
    fw_exp_metric_spec *defaults = NULL;
    fw_status st;
    if (!o.metrics) {
        size_t n;
        if ((st = fw_exp_events_default_metrics(l, &defaults, &n, err))) return st;
        o.metrics = defaults;
        o.n_metrics = n;
    }
    fw_experiment *e;
    if ((st = fw_experiment_new(&o, &e, err))) {
        fw_free(defaults);
        return st;
    }
    for (size_t i = 0; i < l->n && !st; i++) {
        const fw_exp_event *ev = &l->ev[i];
        st = fw_experiment_add(e, l->units.keys[ev->unit], l->units.key_len[ev->unit], l->variants.keys[ev->variant],
                               l->variants.key_len[ev->variant], l->metrics.keys[ev->metric],
                               l->metrics.key_len[ev->metric], ev->value, ev->pre, err);
        if (!st && every && (i + 1) % every == 0) {
            fw_experiment_json(e, out);
            fw_buf_put_u8(out, '\n');
        }
    }
    if (!st && (!every || l->n % every != 0 || l->n == 0)) {
        if (json || every) {
            fw_experiment_json(e, out);
            fw_buf_put_u8(out, '\n');
        } else {
            fw_experiment_text(e, out);
        }
    }
    if (!st && html) fw_experiment_html(e, html);
    fw_experiment_free(e);
    if (!st && !every && l->slices.count) st = report_slices(l, &o, json, out, html, err);
    fw_free(defaults);
    if (!st && (!fw_buf_ok(out) || (html && !fw_buf_ok(html)))) st = fw_err_set(err, FW_ENOMEM, "out of memory writing the report");
    return st;
}
