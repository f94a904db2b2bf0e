/* shadow.c — owns the shadow agreement report of shadow.h: per shadow version, the instance pairs
 * (answers compared as classes, scores as the model's primary score — P(positive), the top class
 * probability, or the value), the labelled single-instance requests' paired metric, and the JSON,
 * text and HTML forms. */
#include "experiment/shadow.h"

#include "core/alloc.h"
#include "core/dtoa.h"
#include "core/json_out.h"
#include "experiment/sequential.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 64

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

typedef struct group {
    char name[160];        /* "MODEL#VERSION" */
    uint64_t requests, instances, skipped;
    uint64_t compared, differ;
    dvec diff;             /* shadow score - champion score, per instance */
    int metric;            /* 0 unknown, 1 accuracy, 2 mae */
    dvec champ, shad;      /* per labelled request: the champion's and the shadow's correctness / |error| */
    dvec delta;            /* ... and the paired difference shadow - champion (each sorted when read) */
} group;

struct fw_shadow {
    group *g;
    size_t n;
    uint64_t requests;
};

static bool push(dvec *d, double x) {
    if (d->n == d->cap) {
        size_t c = d->cap ? 2 * d->cap : 64;
        double *v = fw_realloc(d->v, c * sizeof *v);
        if (!v) return false;
        d->v = v;
        d->cap = c;
    }
    d->v[d->n++] = x;
    return true;
}

fw_status fw_shadow_new(fw_shadow **out, fw_err *err) {
    *out = fw_calloc(1, sizeof **out);
    if (*out && !((*out)->g = fw_calloc(MAX_GROUPS, sizeof *(*out)->g))) {
        fw_free(*out);
        *out = NULL;
    }
    return *out ? FW_OK : fw_err_set(err, FW_ENOMEM, "out of memory");
}

void fw_shadow_free(fw_shadow *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        fw_free(s->g[i].diff.v);
        fw_free(s->g[i].champ.v);
        fw_free(s->g[i].shad.v);
        fw_free(s->g[i].delta.v);
    }
    fw_free(s->g);
    fw_free(s);
}

uint64_t fw_shadow_requests(const fw_shadow *s) { return s->requests; }

/* The primary score of one instance's outputs. */
static double score_of(json_t *o) {
    size_t n = json_array_size(o);
    if (!n) return NAN;
    double best = json_number_value(json_array_get(o, 0));
    if (!json_is_number(json_array_get(o, 0))) return NAN;
    for (size_t k = 1; k < n; k++) {
        json_t *x = json_array_get(o, k);
        if (!json_is_number(x)) return NAN;
        if (json_number_value(x) > best) best = json_number_value(x);
    }
    return best;
}

/* The label as a class name (the text a classifier's answer would be), into buf; NULL when it
 * cannot name one. */
static const char *label_text(json_t *l, char *buf, size_t cap) {
    if (json_is_string(l)) return json_string_value(l);
    if (json_is_integer(l)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(l));
        return buf;
    }
    if (json_is_real(l) && cap >= FW_DTOA_MAX) {
        fw_dtoa(json_real_value(l), buf);
        return buf;
    }
    if (json_is_boolean(l)) return json_is_true(l) ? "true" : "false";
    return NULL;
}

static group *group_of(fw_shadow *s, const char *model, int64_t version) {
    char name[160];
    snprintf(name, sizeof name, "%.120s#%lld", model, (long long)version);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->g[i].name, name) == 0) return &s->g[i];
    if (s->n == MAX_GROUPS) return NULL;
    group *g = &s->g[s->n++];
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

fw_status fw_shadow_add(fw_shadow *s, const char *shadow_model, int64_t shadow_version, const char *answers,
                        const char *outputs, const char *shadow_answers, const char *shadow_outputs,
                        const char *label_json, fw_err *err) {
    s->requests++;
    group *g = group_of(s, shadow_model, shadow_version);
    if (!g) return FW_OK; /* more shadow versions than a report shows: counted in requests only */
    g->requests++;
    json_t *a = json_loads(answers, JSON_DECODE_ANY, NULL), *o = json_loads(outputs, JSON_DECODE_ANY, NULL);
    json_t *sa = json_loads(shadow_answers, JSON_DECODE_ANY, NULL), *so = json_loads(shadow_outputs, JSON_DECODE_ANY, NULL);
    json_t *lb = label_json ? json_loads(label_json, JSON_DECODE_ANY, NULL) : NULL;
    fw_status st = FW_OK;
    size_t n = json_array_size(a);
    if (!json_is_array(a) || !json_is_array(o) || !json_is_array(sa) || !json_is_array(so) || n == 0 ||
        json_array_size(o) != n || json_array_size(sa) != n || json_array_size(so) != n) {
        g->skipped++;
        goto out;
    }
    for (size_t i = 0; i < n && !st; i++) {
        json_t *ca = json_array_get(a, i), *xa = json_array_get(sa, i);
        g->instances++;
        if (json_is_string(ca) && json_is_string(xa)) {
            g->compared++;
            g->differ += strcmp(json_string_value(ca), json_string_value(xa)) != 0;
        }
        double d = score_of(json_array_get(so, i)) - score_of(json_array_get(o, i));
        if (isfinite(d) && !push(&g->diff, d)) st = FW_ENOMEM;
    }
    /* the live metric: a label names one request, so single-instance requests only */
    if (!st && lb && n == 1) {
        json_t *ca = json_array_get(a, 0), *xa = json_array_get(sa, 0);
        char buf[64];
        if (json_is_string(ca) && json_is_string(xa) && g->metric != 2) {
            const char *t = label_text(lb, buf, sizeof buf);
            if (t) {
                g->metric = 1;
                double c = strcmp(json_string_value(ca), t) == 0, x = strcmp(json_string_value(xa), t) == 0;
                if (!push(&g->champ, c) || !push(&g->shad, x) || !push(&g->delta, x - c)) st = FW_ENOMEM;
            }
        } else if (json_is_number(ca) && json_is_number(xa) && json_is_number(lb) && g->metric != 1) {
            g->metric = 2;
            double y = json_number_value(lb);
            double c = fabs(json_number_value(ca) - y), x = fabs(json_number_value(xa) - y);
            if (!push(&g->champ, c) || !push(&g->shad, x) || !push(&g->delta, x - c)) st = FW_ENOMEM;
        }
    }
out:
    json_decref(a);
    json_decref(o);
    json_decref(sa);
    json_decref(so);
    json_decref(lb);
    return st ? fw_err_set(err, st, "out of memory") : FW_OK;
}

/* ---- statistics --------------------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sum in ascending order (so the row order never changes a bit); sorts v. */
static double sorted_sum(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_d);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s;
}

/* Quantile q of sorted v (linear between order statistics, numpy's default). */
static double quantile(const double *v, size_t n, double q) {
    if (!n) return NAN;
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

typedef struct stats {
    double rate, r_lo, r_hi;
    double mean_abs, mean, p50, p90, p99, max_abs;
    size_t n_diff, labelled;
    double champ, shadow, delta, d_lo, d_hi;
} stats;

static void compute(group *g, stats *t) {
    const double z = fw_normal_ppf(0.975);
    memset(t, 0, sizeof *t);
    double n = (double)g->compared;
    t->rate = t->r_lo = t->r_hi = NAN;
    if (n > 0) { /* Wilson score interval */
        double p = (double)g->differ / n, den = 1 + z * z / n;
        double c = (p + z * z / (2 * n)) / den, h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den;
        t->rate = p;
        t->r_lo = c - h < 0 ? 0 : c - h;
        t->r_hi = c + h > 1 ? 1 : c + h;
    }
    size_t k = g->diff.n;
    t->n_diff = k;
    t->mean_abs = t->mean = t->p50 = t->p90 = t->p99 = t->max_abs = NAN;
    if (k) {
        double *ab = fw_malloc(k * sizeof *ab);
        t->mean = sorted_sum(g->diff.v, k) / (double)k;
        if (ab) {
            for (size_t i = 0; i < k; i++) ab[i] = fabs(g->diff.v[i]);
            t->mean_abs = sorted_sum(ab, k) / (double)k;
            t->p50 = quantile(ab, k, 0.5);
            t->p90 = quantile(ab, k, 0.9);
            t->p99 = quantile(ab, k, 0.99);
            t->max_abs = ab[k - 1];
            fw_free(ab);
        }
    }
    size_t m = g->champ.n;
    t->labelled = m;
    t->champ = t->shadow = t->delta = t->d_lo = t->d_hi = NAN;
    if (m) {
        double *d = g->delta.v;
        double sd = sorted_sum(d, m) / (double)m, ss = 0;
        for (size_t i = 0; i < m; i++) ss += (d[i] - sd) * (d[i] - sd); /* d is sorted: a fixed order */
        t->delta = sd;
        if (m > 1) { /* the paired difference's normal interval */
            double se = sqrt(ss / (double)(m - 1) / (double)m);
            t->d_lo = sd - z * se;
            t->d_hi = sd + z * se;
        }
        t->champ = sorted_sum(g->champ.v, m) / (double)m;
        t->shadow = sorted_sum(g->shad.v, m) / (double)m;
    }
}

/* ---- reports ------------------------------------------------------------------------------------ */

static void num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

static int cmp_group(const void *a, const void *b) { return strcmp(((const group *)a)->name, ((const group *)b)->name); }

void fw_shadow_json(fw_shadow *s, fw_buf *b) {
    qsort(s->g, s->n, sizeof *s->g, cmp_group);
    fw_buf_printf(b, "{\"shadows\":[");
    for (size_t i = 0; i < s->n; i++) {
        group *g = &s->g[i];
        stats t;
        compute(g, &t);
        fw_buf_printf(b, "%s{\"shadow\":", i ? "," : "");
        fw_json_put_str(b, g->name);
        fw_buf_printf(b, ",\"requests\":%llu,\"instances\":%llu,\"skipped\":%llu,\"disagreement\":{\"compared\":%llu,"
                         "\"differ\":%llu,\"rate\":",
                      (unsigned long long)g->requests, (unsigned long long)g->instances, (unsigned long long)g->skipped,
                      (unsigned long long)g->compared, (unsigned long long)g->differ);
        num(b, t.rate);
        fw_buf_printf(b, ",\"interval\":[");
        num(b, t.r_lo);
        fw_buf_put_u8(b, ',');
        num(b, t.r_hi);
        fw_buf_printf(b, "]},\"score_diff\":{\"compared\":%zu,\"mean_abs\":", t.n_diff);
        num(b, t.mean_abs);
        fw_buf_printf(b, ",\"mean\":");
        num(b, t.mean);
        fw_buf_printf(b, ",\"p50_abs\":");
        num(b, t.p50);
        fw_buf_printf(b, ",\"p90_abs\":");
        num(b, t.p90);
        fw_buf_printf(b, ",\"p99_abs\":");
        num(b, t.p99);
        fw_buf_printf(b, ",\"max_abs\":");
        num(b, t.max_abs);
        fw_buf_printf(b, "},\"live\":{\"metric\":");
        if (g->metric) fw_buf_printf(b, "\"%s\"", g->metric == 1 ? "accuracy" : "mae");
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"labelled\":%zu,\"champion\":", t.labelled);
        num(b, t.champ);
        fw_buf_printf(b, ",\"shadow\":");
        num(b, t.shadow);
        fw_buf_printf(b, ",\"difference\":");
        num(b, t.delta);
        fw_buf_printf(b, ",\"interval\":[");
        num(b, t.d_lo);
        fw_buf_put_u8(b, ',');
        num(b, t.d_hi);
        fw_buf_printf(b, "]}}");
    }
    fw_buf_printf(b, "]}");
}

void fw_shadow_text(fw_shadow *s, fw_buf *b) {
    qsort(s->g, s->n, sizeof *s->g, cmp_group);
    for (size_t i = 0; i < s->n; i++) {
        group *g = &s->g[i];
        stats t;
        compute(g, &t);
        fw_buf_printf(b, "shadow %s: %llu requests (%llu instances, %llu skipped) scored beside the champion\n", g->name,
                      (unsigned long long)g->requests, (unsigned long long)g->instances, (unsigned long long)g->skipped);
        if (g->compared)
            fw_buf_printf(b, "  answers differ: %.4g%% of %llu (95%% interval %.4g%% .. %.4g%%)\n", 100 * t.rate,
                          (unsigned long long)g->compared, 100 * t.r_lo, 100 * t.r_hi);
        if (t.n_diff)
            fw_buf_printf(b, "  score difference (shadow - champion): mean %+.4g, mean |d| %.4g; |d| p50 %.4g p90 %.4g p99 %.4g max %.4g\n",
                          t.mean, t.mean_abs, t.p50, t.p90, t.p99, t.max_abs);
        if (t.labelled)
            fw_buf_printf(b, "  live %s on the same %zu labelled requests: champion %.4g, shadow %.4g, difference %+.4g (95%% interval %+.4g .. %+.4g)\n",
                          g->metric == 1 ? "accuracy" : "mean absolute error", t.labelled, t.champ, t.shadow, t.delta,
                          t.d_lo, t.d_hi);
        else
            fw_buf_printf(b, "  live metric: no labels yet\n");
    }
}

static void html_num(fw_buf *b, const char *fmt, double v) {
    if (isfinite(v)) fw_buf_printf(b, fmt, v);
    else fw_buf_printf(b, "&ndash;");
}

static void html_text(fw_buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fw_buf_printf(b, "&lt;"); break;
        case '>': fw_buf_printf(b, "&gt;"); break;
        case '&': fw_buf_printf(b, "&amp;"); break;
        case '"': fw_buf_printf(b, "&quot;"); break;
        default: fw_buf_put_u8(b, (uint8_t)*s);
        }
    }
}

void fw_shadow_html(fw_shadow *s, fw_buf *b) {
    qsort(s->g, s->n, sizeof *s->g, cmp_group);
    fw_buf_printf(b, "<h2>Shadow agreement</h2>\n<table><tr><th class=\"l\">shadow</th><th>requests</th>"
                     "<th>answers differ</th><th>95%% interval</th><th>mean |score diff|</th><th>p90 |diff|</th>"
                     "<th>p99 |diff|</th><th>labelled</th><th>champion</th><th>shadow</th><th>difference (95%%)</th></tr>\n");
    for (size_t i = 0; i < s->n; i++) {
        group *g = &s->g[i];
        stats t;
        compute(g, &t);
        fw_buf_printf(b, "<tr><td class=\"l\">");
        html_text(b, g->name);
        fw_buf_printf(b, "</td><td>%llu</td><td>", (unsigned long long)g->requests);
        html_num(b, "%.4g%%", 100 * t.rate);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "[%.4g%%, ", 100 * t.r_lo);
        html_num(b, "%.4g%%]", 100 * t.r_hi);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "%.4g", t.mean_abs);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "%.4g", t.p90);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "%.4g", t.p99);
        fw_buf_printf(b, "</td><td>%zu %s</td><td>", t.labelled, g->metric == 2 ? "(MAE)" : g->metric ? "(accuracy)" : "");
        html_num(b, "%.4g", t.champ);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "%.4g", t.shadow);
        fw_buf_printf(b, "</td><td>");
        html_num(b, "%+.4g ", t.delta);
        html_num(b, "[%+.4g, ", t.d_lo);
        html_num(b, "%+.4g]", t.d_hi);
        fw_buf_printf(b, "</td></tr>\n");
    }
    fw_buf_printf(b, "</table>\n");
}
