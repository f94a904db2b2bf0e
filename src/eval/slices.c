/* slices.c — owns per-slice evaluation (see slices.h): groups rows by code, copies each group's
 * labels, predictions and ranking ids, evaluates them with fw_eval_compute, and bootstraps the
 * primary metric's interval (rows resampled with replacement, seeded: the same data give the same
 * interval). */
#include "eval/slices.h"

#include "core/alloc.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void fw_slice_report_free(fw_slice_report *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_slices; i++) {
        fw_free(r->slices[i].name);
        fw_metric_set_free(&r->slices[i].metrics);
    }
    fw_free(r->slices);
    fw_free(r->column);
    memset(r, 0, sizeof *r);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One resample's primary metric appended to vals (*nv of them so far) when it is defined (finite);
 * a resample that cannot be scored is skipped. FW_ENOMEM when scoring ran out of memory. */
static fw_status resample_value(fw_task task, const double *y, const double *p, size_t n, size_t k,
                                const fw_eval_options *o, double *vals, size_t *nv) {
    fw_metric_set ms;
    fw_metric_set_init(&ms);
    fw_err e;
    fw_status cs = fw_eval_compute(task, y, p, n, k, o, &ms, &e);
    double v = cs == FW_OK ? fw_metric_set_primary(&ms) : NAN;
    fw_metric_set_free(&ms);
    if (cs == FW_ENOMEM) return FW_ENOMEM;
    if (isfinite(v)) vals[(*nv)++] = v;
    return FW_OK;
}

/* The 2.5th and 97.5th percentiles of the nv resampled values (sorted in place) as s's interval. */
static void percentiles(double *vals, size_t nv, fw_slice *s) {
    qsort(vals, nv, sizeof *vals, cmp_double);
    s->ci_lo = vals[(size_t)floor(0.025 * (double)(nv - 1))];
    s->ci_hi = vals[(size_t)ceil(0.975 * (double)(nv - 1))];
}

/* Rows per resample at most: a larger slice is resampled at this size and its interval narrowed
 * by sqrt(MAX_RESAMPLE / rows) (an m-out-of-n bootstrap), so the cost does not grow with the data. */
enum { MAX_RESAMPLE = 20000 };

/* The resamples per slice when the slices resample n rows in all: 200, fewer on large data (at
 * least 50; about 4 million resampled rows per group column). */
static size_t n_resamples(size_t n) {
    return n * 200 <= 4000000 ? 200 : 4000000 / n < 50 ? 50 : 4000000 / n;
}

/* Resamples a slice's m rows (sy: m x ny labels, sp: m x k predictions) B times and sets the
 * 2.5th / 97.5th percentiles of the primary metric; resamples where the metric is undefined are
 * skipped. */
static fw_status bootstrap(fw_task task, const double *sy, const double *sp, size_t m, size_t ny, size_t k,
                           const fw_eval_options *o, size_t B, uint64_t seed, fw_slice *s) {
    s->ci_lo = s->ci_hi = NAN;
    if (task == FW_TASK_RANKING || m < 2) return FW_OK;
    size_t full = m;
    if (m > MAX_RESAMPLE) m = MAX_RESAMPLE;
    double *by = fw_malloc(m * ny * sizeof *by), *bp = fw_malloc(m * k * sizeof *bp);
    double *vals = fw_malloc(B * sizeof *vals);
    fw_status st = FW_OK;
    if (!by || !bp || !vals) {
        st = FW_ENOMEM;
        goto done;
    }
    fw_rng rng;
    fw_rng_seed(&rng, seed);
    size_t nv = 0;
    for (size_t r = 0; r < B; r++) {
        for (size_t j = 0; j < m; j++) {
            size_t i = (size_t)fw_rng_below(&rng, full);
            memcpy(by + j * ny, sy + i * ny, ny * sizeof *by);
            memcpy(bp + j * k, sp + i * k, k * sizeof *bp);
        }
        if ((st = resample_value(task, by, bp, m, k, o, vals, &nv))) goto done;
    }
    if (nv >= B / 2) { /* an interval only when most resamples define the metric */
        percentiles(vals, nv, s);
        if (m < full) { /* resampled at m rows: spread around the mean, narrowed to the full size */
            double mean = 0, f = sqrt((double)m / (double)full);
            for (size_t i = 0; i < nv; i++) mean += vals[i];
            mean /= (double)nv;
            double lo = s->primary + (s->ci_lo - mean) * f, hi = s->primary + (s->ci_hi - mean) * f;
            s->ci_lo = lo;
            s->ci_hi = hi;
        }
    }
done:
    fw_free(by);
    fw_free(bp);
    fw_free(vals);
    return st;
}

/* Ranking: the slice's rows grouped by query (rows sorted by query id, then row) and whole queries
 * resampled B times, each drawn query getting a fresh id; the 2.5th / 97.5th percentiles of the
 * primary metric. Nothing when the slice has fewer than 2 queries. */
static const uint32_t *sort_query;
static int cmp_by_query(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    uint32_t qx = sort_query[x], qy = sort_query[y];
    return qx != qy ? (qx > qy) - (qx < qy) : (x > y) - (x < y);
}

static fw_status bootstrap_queries(const double *sy, const double *sp, const uint32_t *sq, const uint32_t *si,
                                   size_t m, const fw_eval_options *o, size_t B, uint64_t seed, fw_slice *s) {
    uint32_t *order = fw_malloc(m * sizeof *order), *start = fw_malloc((m + 1) * sizeof *start);
    uint32_t *pick = NULL, *bq = NULL, *bi = NULL;
    double *by = NULL, *bp = NULL, *vals = fw_malloc(B * sizeof *vals);
    fw_status st = FW_OK;
    if (!order || !start || !vals) {
        st = FW_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < m; i++) order[i] = (uint32_t)i;
    sort_query = sq; /* qsort has no context argument; slices are evaluated on one thread */
    qsort(order, m, sizeof *order, cmp_by_query);
    size_t ng = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || sq[order[i]] != sq[order[i - 1]]) start[ng++] = (uint32_t)i;
    start[ng] = (uint32_t)m;
    if (ng < 2) goto done;
    pick = fw_malloc(ng * sizeof *pick);
    if (!pick) {
        st = FW_ENOMEM;
        goto done;
    }
    fw_rng rng;
    fw_rng_seed(&rng, seed);
    size_t nv = 0, cap = 0;
    for (size_t r = 0; r < B; r++) {
        size_t rows = 0;
        for (size_t g = 0; g < ng; g++) {
            pick[g] = (uint32_t)fw_rng_below(&rng, ng);
            rows += start[pick[g] + 1] - start[pick[g]];
        }
        if (rows > cap) {
            cap = rows;
            double *ny_ = fw_realloc(by, cap * sizeof *by), *np_ = ny_ ? fw_realloc(bp, cap * sizeof *bp) : NULL;
            if (ny_) by = ny_;
            if (np_) bp = np_;
            uint32_t *nq = np_ ? fw_realloc(bq, cap * sizeof *bq) : NULL, *ni = nq && si ? fw_realloc(bi, cap * sizeof *bi) : NULL;
            if (nq) bq = nq;
            if (ni) bi = ni;
            if (!ny_ || !np_ || !nq || (si && !ni)) {
                st = FW_ENOMEM;
                goto done;
            }
        }
        size_t j = 0;
        for (size_t g = 0; g < ng; g++)
            for (uint32_t t = start[pick[g]]; t < start[pick[g] + 1]; t++, j++) {
                by[j] = sy[order[t]];
                bp[j] = sp[order[t]];
                bq[j] = (uint32_t)g; /* a query drawn twice counts as two queries */
                if (si) bi[j] = si[order[t]];
            }
        fw_eval_options ro = *o;
        ro.query = bq;
        ro.item = si ? bi : NULL;
        if ((st = resample_value(FW_TASK_RANKING, by, bp, rows, 1, &ro, vals, &nv))) goto done;
    }
    if (nv >= B / 2) percentiles(vals, nv, s);
done:
    fw_free(order);
    fw_free(start);
    fw_free(pick);
    fw_free(by);
    fw_free(bp);
    fw_free(bq);
    fw_free(bi);
    fw_free(vals);
    return st;
}

static fw_status eval_slice(fw_task task, const double *y, const double *p, size_t k,
                            const fw_eval_options *opt, const uint32_t *rows, size_t m, size_t B,
                            fw_slice *s, fw_err *err) {
    size_t ny = task == FW_TASK_MULTILABEL ? k : 1;
    double *sy = fw_malloc(m * ny * sizeof *sy), *sp = fw_malloc(m * k * sizeof *sp);
    uint32_t *sq = opt->query ? fw_malloc(m * sizeof *sq) : NULL;
    uint32_t *si = opt->item ? fw_malloc(m * sizeof *si) : NULL;
    fw_status st = FW_OK;
    if (!sy || !sp || (opt->query && !sq) || (opt->item && !si)) {
        st = fw_err_set(err, FW_ENOMEM, "slices: out of memory");
        goto done;
    }
    for (size_t j = 0; j < m; j++) {
        memcpy(sy + j * ny, y + (size_t)rows[j] * ny, ny * sizeof *sy);
        memcpy(sp + j * k, p + (size_t)rows[j] * k, k * sizeof *sp);
        if (sq) sq[j] = opt->query[rows[j]];
        if (si) si[j] = opt->item[rows[j]];
    }
    fw_eval_options o = *opt;
    o.query = sq;
    o.item = si;
    fw_err e;
    fw_err_clear(&e);
    fw_status cs = fw_eval_compute(task, sy, sp, m, k, &o, &s->metrics, &e);
    if (cs == FW_ENOMEM) {
        st = fw_err_set(err, FW_ENOMEM, "slices: out of memory");
    } else if (cs) {
        s->ok = false;
        snprintf(s->error, sizeof s->error, "%s", e.msg);
    } else {
        s->ok = true;
        s->primary = fw_metric_set_primary(&s->metrics);
        uint64_t seed = 0x51ce5eedULL ^ ((uint64_t)m << 20) ^ rows[0];
        fw_status bs = task == FW_TASK_RANKING
                           ? (sq ? bootstrap_queries(sy, sp, sq, si, m, &o, B, seed, s) : FW_OK)
                           : bootstrap(task, sy, sp, m, ny, k, &o, B, seed, s);
        if (bs != FW_OK)
            st = fw_err_set(err, FW_ENOMEM, "slices: out of memory");
    }
done:
    fw_free(sy);
    fw_free(sp);
    fw_free(sq);
    fw_free(si);
    return st;
}

fw_status fw_eval_slices(fw_task task, const double *y, const double *p, size_t n,
                         size_t n_outputs, const fw_eval_options *opt, const char *column,
                         const int32_t *codes, const char *const *names, size_t n_names,
                         size_t min_size, fw_slice_report *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    fw_eval_options def;
    if (!opt) {
        fw_eval_options_init(&def);
        opt = &def;
    }
    if (!codes || (n_names && !names))
        return fw_err_set(err, FW_EINVAL, "slices: no group codes for column '%s'", column ? column : "?");
    for (size_t i = 0; i < n; i++)
        if (codes[i] < -1 || (codes[i] >= 0 && (size_t)codes[i] >= n_names))
            return fw_err_set(err, FW_EINVAL, "slices: column '%s', row %zu: group code %d out of range [-1, %zu)",
                              column ? column : "?", i, codes[i], n_names);
    fw_metric_set all;
    fw_status st = fw_eval_compute(task, y, p, n, n_outputs, opt, &all, err);
    if (st) return st;
    out->overall = fw_metric_set_primary(&all);
    snprintf(out->primary, sizeof out->primary, "%s", all.primary);
    fw_metric_set_free(&all);
    out->min_size = min_size;
    out->column = fw_strdup(column ? column : "");
    size_t n_groups = n_names + 1; /* last = missing */
    size_t *count = fw_calloc(n_groups, sizeof *count);
    uint32_t *rows = fw_malloc((n ? n : 1) * sizeof *rows);
    out->slices = fw_calloc(n_groups, sizeof *out->slices);
    if (!out->column || !count || !rows || !out->slices) {
        st = fw_err_set(err, FW_ENOMEM, "slices: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) count[codes[i] < 0 ? n_names : (size_t)codes[i]]++;
    size_t resampled = 0;
    for (size_t g = 0; g < n_groups; g++) resampled += count[g] < MAX_RESAMPLE ? count[g] : MAX_RESAMPLE;
    size_t B = n_resamples(resampled);
    bool hib = fw_metric_higher_is_better(out->primary);
    size_t k = n_outputs ? n_outputs : 1;
    for (size_t g = 0; g < n_groups && !st; g++) {
        if (count[g] == 0) continue;
        size_t m = 0;
        int32_t code = g == n_names ? -1 : (int32_t)g;
        for (size_t i = 0; i < n; i++)
            if (codes[i] == code) rows[m++] = (uint32_t)i;
        fw_slice *s = &out->slices[out->n_slices++];
        fw_metric_set_init(&s->metrics);
        s->name = fw_strdup(code < 0 ? "(missing)" : names[g]);
        s->n_rows = m;
        s->small = m < min_size;
        s->primary = NAN;
        s->gap = NAN;
        s->ci_lo = s->ci_hi = NAN;
        if (!s->name) {
            st = fw_err_set(err, FW_ENOMEM, "slices: out of memory");
            break;
        }
        st = eval_slice(task, y, p, k, opt, rows, m, B, s, err);
        if (!st && s->ok) {
            s->gap = s->primary - out->overall;
            if (s->small) s->worse = false; /* too few rows to call */
            else if (isfinite(s->ci_lo) && isfinite(s->ci_hi))
                s->worse = hib ? s->ci_hi < out->overall : s->ci_lo > out->overall;
            else s->worse = false; /* no interval (too few queries, metric undefined): not called */
        }
    }
done:
    fw_free(count);
    fw_free(rows);
    if (st) fw_slice_report_free(out);
    return st;
}
