/* bootstrap.c — owns the percentile bootstrap of test metrics (bootstrap.h): one seeded stream of
 * row draws, every metric recomputed per resample (curves kept small; resamples spread over
 * threads, each writing its own slots; binary resamples handed over in score order so the curve's
 * sort has nothing to do), then the two percentiles of each metric's finite values. */
#include "eval/bootstrap.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/threads.h"
#include "eval/eval_int.h"

#include <math.h>
#include <string.h>

void fw_bootstrap_options_init(fw_bootstrap_options *o) {
    o->n_resamples = 200;
    o->level = 0.95;
    o->seed = 42;
    o->max_work = 4e6;
    o->min_resamples = 50;
    o->threads = 1;
}

/* The q-quantile of sorted v[0..n) by linear interpolation (numpy's default). */
static double quantile(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return v[n - 1];
    double f = pos - (double)i;
    return v[i] + f * (v[i + 1] - v[i]);
}

/* The resamples' work, shared by the threads: each resample b reads its draws
 * draws[b * m_rows ..) and writes its metric values vals[k * B + b]. */
typedef struct boot_ctx {
    fw_task task;
    const double *y, *p;
    size_t n, n_outputs, ny, np, m_rows, B;
    const uint32_t *draws;
    const uint32_t *ord, *rank; /* binary: rows by descending score, and each row's place there */
    const fw_eval_options *o;
    const fw_metric_set *point;
    double *vals;
    struct boot_scratch {
        double *yb, *pb;
        uint32_t *cnt; /* binary: draws per place in ord */
        fw_status st;
        fw_err err;
    } *sc;
} boot_ctx;

static void boot_resample(void *vctx, int thread, size_t b, size_t begin, size_t end) {
    (void)begin;
    (void)end;
    boot_ctx *c = vctx;
    struct boot_scratch *sc = &c->sc[thread];
    if (sc->st) return;
    const uint32_t *dr = c->draws + b * c->m_rows;
    if (c->ord) {
        /* the drawn rows put in descending score order by counting their places in ord: the
         * metrics' sort then finds them in order (no radix passes), and the multiset is the same */
        memset(sc->cnt, 0, c->n * sizeof *sc->cnt);
        for (size_t i = 0; i < c->m_rows; i++) sc->cnt[c->rank[dr[i]]]++;
        size_t i = 0;
        for (size_t q = 0; q < c->n; q++)
            for (uint32_t k = sc->cnt[q]; k; k--) {
                sc->yb[i] = c->y[c->ord[q]];
                sc->pb[i++] = c->p[c->ord[q]];
            }
    } else {
        for (size_t i = 0; i < c->m_rows; i++) {
            size_t j = dr[i];
            memcpy(sc->yb + i * c->ny, c->y + j * c->ny, c->ny * sizeof(double));
            memcpy(sc->pb + i * c->np, c->p + j * c->np, c->np * sizeof(double));
        }
    }
    fw_metric_set s;
    fw_metric_set_init(&s);
    sc->st = fw_eval_compute(c->task, sc->yb, sc->pb, c->m_rows, c->n_outputs, c->o, &s, &sc->err);
    if (!sc->st)
        for (size_t k = 0; k < c->point->n_items; k++) {
            double v = NAN;
            fw_metric_set_get(&s, c->point->items[k].name, &v);
            c->vals[k * c->B + b] = v;
        }
    fw_metric_set_free(&s);
}

static void boot_free(boot_ctx *c, int nt, uint32_t *draws, uint32_t *ord, uint32_t *rank) {
    for (int t = 0; c->sc && t < nt; t++) {
        fw_free(c->sc[t].yb);
        fw_free(c->sc[t].pb);
        fw_free(c->sc[t].cnt);
    }
    fw_free(c->sc);
    fw_free(c->vals);
    fw_free(draws);
    fw_free(ord);
    fw_free(rank);
}

fw_status fw_eval_bootstrap(fw_task task, const double *y, const double *p, size_t n, size_t n_outputs,
                            const fw_eval_options *eo, const fw_bootstrap_options *bo,
                            const fw_metric_set *point, fw_metric_ci **out, size_t *n_out,
                            size_t *n_resamples, fw_err *err) {
    *out = NULL;
    *n_out = 0;
    if (n_resamples) *n_resamples = 0;
    if (task == FW_TASK_RANKING || n < 2 || point->n_items == 0) return FW_OK;
    if (n > UINT32_MAX) return fw_err_set(err, FW_ELIMIT, "bootstrap: too many test rows (%zu)", n);
    size_t B = bo->n_resamples, m_rows = n; /* rows drawn per resample */
    if ((double)B * (double)n > bo->max_work) {
        B = (size_t)(bo->max_work / (double)n);
        if (B < bo->min_resamples) {
            B = bo->min_resamples;
            m_rows = (size_t)(bo->max_work / (double)B);
            if (m_rows < 2) m_rows = 2;
            if (m_rows > n) m_rows = n;
        }
    }
    if (B < 2) B = 2;
    double shrink = sqrt((double)m_rows / (double)n); /* m-out-of-n: sd scales as 1/sqrt(rows) */
    size_t ny = task == FW_TASK_MULTILABEL ? n_outputs : 1; /* label values per row */
    size_t np = n_outputs;                                 /* predictions per row */
    size_t m = point->n_items;
    int nt = bo->threads > 0 ? bo->threads : 1;
    if ((size_t)nt > B) nt = (int)B;
    /* binary: resamples in score order when counting places (O(n)) is not much more than the draws */
    bool by_rank = task == FW_TASK_BINARY && np == 1 && n <= 4 * m_rows;
    fw_eval_options o = *eo;
    o.max_curve_points = 2;
    boot_ctx c = {task, y, p, n, n_outputs, ny, np, m_rows, B, NULL, NULL, NULL, &o, point, NULL, NULL};
    uint32_t *draws = fw_malloc(B * m_rows * sizeof *draws);
    c.vals = fw_malloc(m * B * sizeof(double));
    c.sc = fw_calloc((size_t)nt, sizeof *c.sc);
    fw_metric_ci *ci = fw_calloc(m, sizeof *ci);
    uint32_t *rank = NULL, *ord = NULL;
    fw_status st = FW_ENOMEM;
    if (!draws || !c.vals || !c.sc || !ci) goto fail;
    for (int t = 0; t < nt; t++) {
        c.sc[t].yb = fw_malloc(m_rows * ny * sizeof(double));
        c.sc[t].pb = fw_malloc(m_rows * np * sizeof(double));
        if (by_rank) c.sc[t].cnt = fw_malloc(n * sizeof(uint32_t));
        if (!c.sc[t].yb || !c.sc[t].pb || (by_rank && !c.sc[t].cnt)) goto fail;
    }
    if (by_rank) {
        ord = fw__argsort_desc(p, n);
        rank = fw_malloc(n * sizeof *rank);
        if (!ord || !rank) goto fail;
        for (size_t q = 0; q < n; q++) rank[ord[q]] = (uint32_t)q;
        c.ord = ord;
        c.rank = rank;
    }
    /* one seeded stream of draws, resample after resample, whatever the threads */
    fw_rng rng;
    fw_rng_seed(&rng, bo->seed ^ 0x626f6f74ull);
    for (size_t i = 0; i < B * m_rows; i++) draws[i] = (uint32_t)fw_rng_below(&rng, n);
    c.draws = draws;
    fw_parallel_blocks(nt, B, 1, boot_resample, &c);
    st = FW_OK;
    for (int t = 0; t < nt && !st; t++)
        if ((st = c.sc[t].st)) *err = c.sc[t].err;
    if (st) goto fail;
    double *vals = c.vals;
    double a = (1 - bo->level) / 2;
    for (size_t k = 0; k < m; k++) {
        double *v = vals + k * B;
        size_t f = 0;
        for (size_t b = 0; b < B; b++)
            if (isfinite(v[b])) v[f++] = v[b];
        memcpy(ci[k].name, point->items[k].name, sizeof ci[k].name);
        if (f * 2 < B) { /* mostly undefined (e.g. one class in most resamples) */
            ci[k].lo = ci[k].hi = NAN;
            continue;
        }
        fw__sort_doubles(v, f);
        double pt = point->items[k].value;
        ci[k].lo = quantile(v, f, a);
        ci[k].hi = quantile(v, f, 1 - a);
        if (m_rows < n && isfinite(pt)) {
            ci[k].lo = pt + shrink * (ci[k].lo - pt);
            ci[k].hi = pt + shrink * (ci[k].hi - pt);
        }
    }
    boot_free(&c, nt, draws, ord, rank);
    *out = ci;
    *n_out = m;
    if (n_resamples) *n_resamples = B;
    return FW_OK;
fail:
    if (st == FW_ENOMEM) fw_err_set(err, st, "out of memory bootstrapping the test metrics");
    boot_free(&c, nt, draws, ord, rank);
    fw_free(ci);
    return st;
}
