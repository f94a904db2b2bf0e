/* sim.c — the simulations behind the detectors' promises (src/monitor/detector.h), printed as the
 * figures docs/MONITORING.md and docs/BENCHMARKS.md quote:
 *   sim fa ROWS [SEED]      streams ROWS predictions of 50 columns with no change (20 normal, 5
 *                           skewed, 5 with heavy ties, 5 with a 500-row reference, 5 with a
 *                           100,000-row one, 5 categorical with 8 values, 5 with 40 values and
 *                           rare ones), every column watched with default settings; prints alarms
 *                           raised per 100,000 predictions per test and in total, beside a naive
 *                           peer rule (uncorrected chi-square p < 0.05 on each 500-row window, the
 *                           rule the issue complains about);
 *   sim delay TRIALS [SEED] the delay (rows from the change to the alarm) of each injected change,
 *                           over TRIALS streams each: 0.5 / 0.25 / 0.1 SD shifts of one numeric
 *                           column, missing rate +20 points, an unseen category at 5% (rate CUSUM),
 *                           two categories trading places; median / p90 / max, the share within
 *                           the target, and false alarms before the change;
 *   sim cost PREDICTIONS    CPU ns per prediction for the slot lookups of 50 columns (the hot path).
 * Deterministic for a seed. Build and run: bench/monitor/run.sh. */
#include "core/alloc.h"
#include "core/rng.h"
#include "monitor/detector.h"
#include "monitor/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NCOL 50

typedef enum gen_kind { G_NORMAL, G_LOGNORMAL, G_TIES, G_CAT } gen_kind;

typedef struct gen {
    gen_kind kind;
    double miss;     /* missing rate */
    uint32_t k;      /* categories */
    double p[64];    /* category probabilities */
} gen;

static double draw_num(fw_rng *r, const gen *g) {
    double z = fw_rng_normal(r);
    switch (g->kind) {
    case G_LOGNORMAL: return exp(z);
    case G_TIES: { /* Poisson(1.5) by inversion */
        double u = fw_rng_uniform(r), p = exp(-1.5), c = p;
        int k = 0;
        while (u > c && k < 30) {
            k++;
            p *= 1.5 / k;
            c += p;
        }
        return k;
    }
    default: return z;
    }
}

static uint32_t draw_cat(fw_rng *r, const gen *g) {
    double u = fw_rng_uniform(r), c = 0;
    for (uint32_t j = 0; j + 1 < g->k; j++) {
        c += g->p[j];
        if (u < c) return j;
    }
    return g->k - 1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A reference profiled as src/artifact/reference.c does (quantile edges at (m-1) i / 10, top 20). */
static void make_ref(fw_ref_column *c, const char *name, const gen *g, size_t n_ref, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->name = fw_strdup(name);
    fw_rng r;
    fw_rng_seed(&r, seed);
    c->n_rows = n_ref;
    if (g->kind != G_CAT) {
        c->type = FW_COL_NUMERIC;
        double *v = fw_malloc(n_ref * sizeof *v);
        size_t m = 0;
        for (size_t i = 0; i < n_ref; i++) {
            double x = draw_num(&r, g);
            if (fw_rng_uniform(&r) < g->miss) continue;
            v[m++] = x;
        }
        qsort(v, m, sizeof *v, cmp_d);
        c->n_missing = n_ref - m;
        c->min = v[0];
        c->max = v[m - 1];
        c->edges = fw_malloc(11 * sizeof *c->edges);
        uint32_t ne = 0;
        for (uint32_t i = 0; i <= 10; i++) {
            double e = v[(size_t)((double)(m - 1) * i / 10)];
            if (ne == 0 || e > c->edges[ne - 1]) c->edges[ne++] = e;
        }
        if (ne == 1) c->edges[ne++] = v[0];
        c->n_bins = ne - 1;
        c->counts = fw_calloc(c->n_bins, sizeof *c->counts);
        for (size_t i = 0; i < m; i++) {
            uint32_t lo = 0, hi = c->n_bins - 1;
            while (lo < hi) {
                uint32_t mid = (lo + hi + 1) / 2;
                if (v[i] >= c->edges[mid]) lo = mid;
                else hi = mid - 1;
            }
            c->counts[lo]++;
        }
        fw_free(v);
        return;
    }
    c->type = FW_COL_CATEGORICAL;
    c->min = c->max = NAN;
    uint64_t cnt[64] = {0};
    for (size_t i = 0; i < n_ref; i++) {
        if (fw_rng_uniform(&r) < g->miss) {
            c->n_missing++;
            continue;
        }
        cnt[draw_cat(&r, g)]++;
    }
    uint32_t ord[64];
    for (uint32_t i = 0; i < g->k; i++) ord[i] = i;
    for (uint32_t i = 1; i < g->k; i++)
        for (uint32_t j = i; j > 0 && cnt[ord[j - 1]] < cnt[ord[j]]; j--) {
            uint32_t t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    uint32_t used = 0;
    while (used < g->k && cnt[ord[used]]) used++;
    c->n_distinct = used;
    c->n_top = used < FW_REFERENCE_TOP_N ? used : FW_REFERENCE_TOP_N;
    c->top_values = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_values);
    c->top_counts = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_counts);
    for (uint32_t i = 0; i < c->n_top; i++) {
        char b[16];
        snprintf(b, sizeof b, "v%u", ord[i]);
        c->top_values[i] = fw_strdup(b);
        c->top_counts[i] = cnt[ord[i]];
    }
    for (uint32_t i = c->n_top; i < used; i++) c->other_count += cnt[ord[i]];
}

static void ref_free(fw_ref_column *c) {
    fw_free(c->name);
    fw_free(c->edges);
    fw_free(c->counts);
    for (uint32_t i = 0; c->top_values && i < c->n_top; i++) fw_free(c->top_values[i]);
    fw_free(c->top_values);
    fw_free(c->top_counts);
}

typedef struct column {
    gen g;
    fw_ref_column ref;
    fw_detector *d;
    fw_detector_state *st;
    uint64_t *blk, *naive;  /* block counts; the naive rule's tumbling 500-row window */
    uint32_t cat_slot[64];  /* category → slot (looked up once, as a monitor would) */
    int active[FW_DETECTOR_TESTS];
} column;

static void setup_columns(column *cols, const fw_detector_settings *s, uint64_t seed) {
    for (int j = 0; j < NCOL; j++) {
        column *c = &cols[j];
        memset(c, 0, sizeof *c);
        size_t n_ref = 10000;
        c->g.miss = 0.02;
        if (j < 20) c->g.kind = G_NORMAL;
        else if (j < 25) c->g.kind = G_LOGNORMAL, n_ref = 5000;
        else if (j < 30) c->g.kind = G_TIES;
        else if (j < 35) c->g.kind = G_NORMAL, n_ref = 500;
        else if (j < 40) c->g.kind = G_NORMAL, n_ref = 100000, c->g.miss = 0;
        else {
            c->g.kind = G_CAT;
            c->g.k = j < 45 ? 8 : 40;
            double tot = 0;
            for (uint32_t i = 0; i < c->g.k; i++) tot += c->g.p[i] = 1.0 / (1.0 + i); /* Zipf: rare tail */
            for (uint32_t i = 0; i < c->g.k; i++) c->g.p[i] /= tot;
        }
        char name[16];
        snprintf(name, sizeof name, "col%02d", j);
        make_ref(&c->ref, name, &c->g, n_ref, seed * 1000 + (uint64_t)j);
        fw_err err;
        if (fw_detector_create(&c->ref, s, &c->d, &err) || fw_detector_state_new(c->d, &c->st)) {
            fprintf(stderr, "sim: %s\n", err.msg);
            exit(2);
        }
        uint32_t ns = fw_detector_n_slots(c->d);
        c->blk = fw_calloc(ns, sizeof *c->blk);
        c->naive = fw_calloc(ns, sizeof *c->naive);
        if (c->g.kind == G_CAT)
            for (uint32_t i = 0; i < c->g.k; i++) {
                char b[16];
                int len = snprintf(b, sizeof b, "v%u", i);
                c->cat_slot[i] = fw_detector_slot_str(c->d, b, (size_t)len);
            }
    }
}

static void free_columns(column *cols) {
    for (int j = 0; j < NCOL; j++) {
        fw_free(cols[j].blk);
        fw_free(cols[j].naive);
        fw_detector_state_free(cols[j].st);
        fw_detector_free(cols[j].d);
        ref_free(&cols[j].ref);
    }
}

static uint32_t slot_of(const column *c, fw_rng *r) {
    if (fw_rng_uniform(r) < c->g.miss) return fw_detector_missing_slot(c->d);
    if (c->g.kind == G_CAT) return c->cat_slot[draw_cat(r, &c->g)];
    return fw_detector_slot_num(c->d, draw_num(r, &c->g));
}

/* the naive peer: two-sample chi-square of the window's cells against the reference, p < 0.05 */
static int naive_alarm(const column *c) {
    uint32_t k = fw_detector_n_slots(c->d) - 1;
    double a[64], b[64];
    for (uint32_t i = 0; i < k; i++) {
        b[i] = (double)c->naive[i];
        a[i] = c->ref.n_bins ? (double)c->ref.counts[i] : i < c->ref.n_top ? (double)c->ref.top_counts[i] : (double)c->ref.other_count;
    }
    double df, x = fw_stats_chi2_two_sample(a, b, k, &df);
    return df > 0 && fw_stats_chi2_sf(x, df) < 0.05;
}

/* SIM_WINDOW=N: the chi-square window (the monitor's default is 1000; the detector's 500) */
static void window_from_env(fw_detector_settings *s) {
    const char *w = getenv("SIM_WINDOW");
    if (w && atoi(w) > 0) s->window_rows = (uint32_t)atoi(w);
}

static int cmd_fa(uint64_t rows, uint64_t seed) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(NCOL, 0);
    window_from_env(&s);
    static column cols[NCOL];
    setup_columns(cols, &s, seed);
    fw_rng r;
    fw_rng_seed(&r, seed);
    uint64_t raises[FW_DETECTOR_TESTS] = {0}, naive = 0, naive_windows = 0, col_raises[NCOL] = {0};
    for (uint64_t i = 0; i < rows; i++) {
        for (int j = 0; j < NCOL; j++) {
            uint32_t sl = slot_of(&cols[j], &r);
            cols[j].blk[sl]++;
            cols[j].naive[sl]++;
        }
        if ((i + 1) % s.step_rows == 0)
            for (int j = 0; j < NCOL; j++) {
                column *c = &cols[j];
                fw_detector_check ck[FW_DETECTOR_TESTS];
                fw_detector_step(c->d, c->st, c->blk, ck);
                memset(c->blk, 0, fw_detector_n_slots(c->d) * sizeof *c->blk);
                for (int t = 0; t < FW_DETECTOR_TESTS; t++) {
                    if (ck[t].active && !c->active[t]) {
                        raises[t]++;
                        col_raises[j]++;
                    }
                    c->active[t] = ck[t].active;
                }
            }
        if ((i + 1) % 500 == 0)
            for (int j = 0; j < NCOL; j++) {
                naive += naive_alarm(&cols[j]);
                naive_windows++;
                memset(cols[j].naive, 0, fw_detector_n_slots(cols[j].d) * sizeof *cols[j].naive);
            }
    }
    double per = 1e5 / (double)rows;
    uint64_t total = raises[0] + raises[1] + raises[2];
    printf("no-change stream: %llu predictions x %d columns (seed %llu), default settings (window %u, step %u, target "
           "%.2g per 100k, family %u tests)\n",
           (unsigned long long)rows, NCOL, (unsigned long long)seed, s.window_rows, s.step_rows,
           s.false_alarms_per_100k, s.family_size);
    printf("  alarms raised: chi2 %llu, cusum %llu, missing_rate %llu; total %llu = %.3f per 100,000 predictions\n",
           (unsigned long long)raises[0], (unsigned long long)raises[1], (unsigned long long)raises[2],
           (unsigned long long)total, (double)total * per);
    printf("  columns that raised:");
    for (int j = 0; j < NCOL; j++)
        if (col_raises[j]) printf(" col%02d:%llu", j, (unsigned long long)col_raises[j]);
    printf("\n  naive peer (uncorrected chi2 p < 0.05 per 500-row window): %llu of %llu windows alarm (%.1f%%) = %.0f "
           "per 100,000 predictions\n",
           (unsigned long long)naive, (unsigned long long)naive_windows, 100.0 * (double)naive / (double)naive_windows,
           (double)naive * per);
    free_columns(cols);
    return 0;
}

/* ---- delays ------------------------------------------------------------------------------- */

typedef enum change_kind { C_SHIFT, C_MISSING, C_UNSEEN, C_SWAP } change_kind;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One stream of one column with a change at row `at`; returns the delay (alarm row - at) of the
 * first alarm at or after the change, UINT64_MAX when none within `horizon`; *early = an alarm
 * before the change. */
static uint64_t one_delay(const fw_detector_settings *s, const column *proto, change_kind kind, double size,
                          uint64_t at, uint64_t horizon, uint64_t seed, int *early) {
    fw_detector_state *st;
    fw_rate_cusum rc;
    fw_rate_cusum_init(&rc, 0, (double)proto->ref.n_rows, 0.05, fw_detector_alpha_row(s));
    if (fw_detector_state_new(proto->d, &st)) exit(2);
    uint32_t ns = fw_detector_n_slots(proto->d);
    uint64_t blk[64] = {0}, hits = 0;
    fw_rng r;
    fw_rng_seed(&r, seed);
    *early = 0;
    uint64_t out = UINT64_MAX;
    for (uint64_t i = 0; i < at + horizon; i++) {
        bool after = i >= at;
        uint32_t sl;
        double miss = proto->g.miss + (after && kind == C_MISSING ? size : 0);
        if (fw_rng_uniform(&r) < miss) sl = fw_detector_missing_slot(proto->d);
        else if (proto->g.kind == G_CAT) {
            uint32_t v = draw_cat(&r, &proto->g);
            if (after && kind == C_SWAP && v < 2) v = 1 - v;
            if (after && kind == C_UNSEEN && fw_rng_uniform(&r) < size) {
                hits++;
                sl = fw_detector_n_slots(proto->d) - 2; /* "other" */
            } else {
                sl = proto->cat_slot[v];
            }
        } else {
            sl = fw_detector_slot_num(proto->d, draw_num(&r, &proto->g) + (after && kind == C_SHIFT ? size : 0));
        }
        blk[sl]++;
        if ((i + 1) % s->step_rows == 0) {
            fw_detector_check ck[FW_DETECTOR_TESTS];
            fw_detector_step(proto->d, st, blk, ck);
            memset(blk, 0, ns * sizeof *blk);
            int fired = ck[0].active || ck[1].active || ck[2].active;
            if (kind == C_UNSEEN) fired = fw_rate_cusum_update(&rc, hits, s->step_rows);
            hits = 0;
            if (fired) {
                if (!after) *early = 1;
                else {
                    out = i - at;
                    break;
                }
            }
        }
    }
    fw_detector_state_free(st);
    return out;
}

static void delays(const fw_detector_settings *s, const column *proto, const char *what, change_kind kind,
                   double size, uint64_t target, int trials, uint64_t seed) {
    uint64_t *d = fw_malloc((size_t)trials * sizeof *d);
    int early = 0, within = 0, missed = 0;
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (int t = 0; t < trials; t++) {
        uint64_t at = 5000 + fw_rng_below(&r, 1000); /* anywhere inside a block */
        int e;
        d[t] = one_delay(s, proto, kind, size, at, 20000, seed + 7919u * (uint64_t)t, &e);
        early += e;
        if (d[t] == UINT64_MAX) missed++;
        else if (d[t] < target) within++;
    }
    qsort(d, (size_t)trials, sizeof *d, cmp_u64);
    char p50[24], p90[24], mx[24];
#define FMT(buf, v) (v == UINT64_MAX ? snprintf(buf, sizeof buf, "none") : snprintf(buf, sizeof buf, "%llu", (unsigned long long)(v)))
    FMT(p50, d[trials / 2]);
    FMT(p90, d[(trials * 9) / 10]);
    FMT(mx, d[trials - 1]);
    printf("  %-34s delay rows: median %s, p90 %s, max %s; within %llu rows: %d/%d; none in 20,000 rows: %d; "
           "alarm before the change: %d\n",
           what, p50, p90, mx, (unsigned long long)target, within, trials, missed, early);
    fw_free(d);
}

static int cmd_delay(int trials, uint64_t seed) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(NCOL, NCOL); /* 50 columns + a rate test each */
    window_from_env(&s);
    static column cols[NCOL];
    setup_columns(cols, &s, seed);
    printf("delays: %d streams each (seed %llu), default settings (window %u, step %u), family %u tests (50 columns + "
           "a rate test each); change at a random row in [5000, 6000)\n",
           trials, (unsigned long long)seed, s.window_rows, s.step_rows, s.family_size);
    const column *num = &cols[0], *cat = &cols[40];
    delays(&s, num, "numeric shift 0.5 SD", C_SHIFT, 0.5, 1000, trials, seed + 1);
    delays(&s, num, "numeric shift 0.25 SD", C_SHIFT, 0.25, 1000, trials, seed + 2);
    delays(&s, num, "numeric shift 0.1 SD", C_SHIFT, 0.1, 1000, trials, seed + 3);
    delays(&s, num, "numeric shift 0.05 SD (under the floor)", C_SHIFT, 0.05, 1000, trials, seed + 8);
    /* lognormal(0, 1): SD sqrt((e - 1) e) */
    delays(&s, &cols[20], "lognormal column shift 0.5 SD", C_SHIFT, 0.5 * sqrt((M_E - 1) * M_E), 1000, trials,
           seed + 4);
    delays(&s, num, "missing rate +20 points", C_MISSING, 0.2, 200, trials, seed + 5);
    delays(&s, cat, "unseen category at 5% (rate CUSUM)", C_UNSEEN, 0.05, 500, trials, seed + 6);
    delays(&s, cat, "two top categories trade places", C_SWAP, 0, 1000, trials, seed + 7);
    free_columns(cols);
    return 0;
}

static int cmd_cost(uint64_t preds) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    static column cols[NCOL];
    setup_columns(cols, &s, 1);
    /* pre-drawn values (the generator is not the hot path): 4096 rows x 50 columns */
    enum { ROWS = 4096 };
    double *num = fw_malloc((size_t)ROWS * NCOL * sizeof *num);
    char(*txt)[16] = fw_malloc((size_t)ROWS * NCOL * sizeof *txt);
    uint8_t *len = fw_malloc((size_t)ROWS * NCOL);
    fw_rng r;
    fw_rng_seed(&r, 3);
    for (size_t i = 0; i < ROWS; i++)
        for (int j = 0; j < NCOL; j++) {
            size_t o = i * NCOL + (size_t)j;
            if (cols[j].g.kind == G_CAT) len[o] = (uint8_t)snprintf(txt[o], 16, "v%u", draw_cat(&r, &cols[j].g));
            else num[o] = draw_num(&r, &cols[j].g);
        }
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    uint64_t sink = 0;
    for (uint64_t p = 0; p < preds; p++) {
        size_t base = (p % ROWS) * NCOL;
        for (int j = 0; j < NCOL; j++) {
            column *c = &cols[j];
            uint32_t sl = c->g.kind == G_CAT ? fw_detector_slot_str(c->d, txt[base + (size_t)j], len[base + (size_t)j])
                                             : fw_detector_slot_num(c->d, num[base + (size_t)j]);
            c->blk[sl]++;
            sink += sl;
        }
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)preds;
    printf("hot path: %.1f ns CPU per prediction for %d columns (40 numeric bin searches, 10 category hashes of "
           "text), %.2f ns per value (sink %llu)\n",
           ns, NCOL, ns / NCOL, (unsigned long long)(sink % 7));
    fw_free(num);
    fw_free(txt);
    fw_free(len);
    free_columns(cols);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "fa"))
        return cmd_fa(strtoull(argv[2], NULL, 10), argc > 3 ? strtoull(argv[3], NULL, 10) : 1);
    if (argc >= 3 && !strcmp(argv[1], "delay"))
        return cmd_delay(atoi(argv[2]), argc > 3 ? strtoull(argv[3], NULL, 10) : 1);
    if (argc >= 3 && !strcmp(argv[1], "cost")) return cmd_cost(strtoull(argv[2], NULL, 10));
    fprintf(stderr, "usage: sim fa ROWS [SEED] | sim delay TRIALS [SEED] | sim cost PREDICTIONS\n");
    return 2;
}
