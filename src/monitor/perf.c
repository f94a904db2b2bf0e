/* perf.c — owns the live-performance tracker (perf.h): the bounded join table of recent
 * predictions, the label and estimate windows, their metrics (src/eval's fw_eval_compute and
 * fw_eval_bootstrap for the realized ones, perf_cbpe.c for the estimate), the slices, the two
 * alarms with their calibrated thresholds, and the state JSON. */
#include "monitor/perf.h"

#include "core/alloc.h"
#include "core/dtoa.h"
#include "core/hash.h"
#include "core/json_out.h"
#include "eval/bootstrap.h"
#include "eval/metrics.h"
#include "monitor/perf_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WAYS = 16,            /* entries per set of the join table (wide: a set overflows, and the table
                             grows, only when the table is about half full) */
    SHARDS = 64,          /* locks over the table's sets */
    MAX_SLICE_COLS = 8,   /* data.groups columns followed (more are reported as not followed) */
    MAX_METRICS = 16,     /* metrics kept per window (a task has at most 10) */
    HISTORY = 32,         /* closed windows kept for the state */
    TABLE_START = 64,     /* join-table slots of a new tracker (it doubles when a set overflows) */
};
#define NO_SLICE UINT16_MAX

typedef struct mstat {
    char name[FW_METRIC_NAME_MAX];
    double v, lo, hi;
} mstat;

/* One closed window's figures. */
typedef struct win_res {
    size_t rows;
    uint64_t from_row, to_row;
    size_t n;
    mstat m[MAX_METRICS];     /* realized (label window) or estimated (estimate window) */
    size_t ne;
    mstat e[FW__CBPE_MAX];    /* label window: the estimate over the same rows */
    double value, lo, hi;     /* the primary metric: realized, or estimated */
    double est, est_lo, est_hi; /* label window: the primary's estimate over its rows */
} win_res;

typedef struct slice_res {
    size_t rows;
    size_t n;
    mstat m[MAX_METRICS];
} slice_res;

/* A followed slice value's performance alarm: its reference (the slice's first evaluated window:
 * the artifact carries no per-slice test metric) and its state. */
typedef struct slice_alarm {
    double ref, ref_se;       /* NaN until the first window with the slice's metric */
    bool active;
    fw_alarm a;
} slice_alarm;

typedef struct hist {
    int kind;                 /* 0 realized, 1 estimate */
    size_t rows;
    uint64_t to_row;
    double value, lo, hi, est;
} hist;

/* Slice values of one column: fixed, filled first come first served. */
typedef struct slice_dict {
    pthread_mutex_t mu;
    int input;                /* the column's input position (-1: not an input, not followed) */
    char name[FW_ALARM_TEXT];
    size_t n;
    uint64_t *h;              /* max_slice_values hashes */
    char (*text)[FW_PERF_SLICE_TEXT];
} slice_dict;

/* A label or estimate window being filled. */
typedef struct window {
    size_t n;
    int64_t t0;               /* wall time of its first row (0: none) */
    uint64_t first_row;
    double *y;                /* label windows */
    double *p;                /* W x k */
    uint64_t *row;
    uint16_t *sl;             /* W x n_slices */
} window;

/* A label window with its place in the stream: filled under lab_mu, then handed off full (a pointer
 * swap: an empty one takes its place) to the queue of windows to close (pend_mu), closed in that
 * order under close_mu, then kept as a spare (pend_mu) for the next swap. */
typedef struct lwin {
    window w;
    uint64_t idx;             /* the window's number in the stream (its bootstrap seed) */
    int64_t ts;               /* the wall time of the label that closed it (its alarms' ts_ms) */
    struct lwin *next;
} lwin;

struct fw_perf {
    fw_perf_settings s;
    fw_task task;
    size_t k, n_classes;
    char **classes;
    char primary[FW_METRIC_NAME_MAX];
    bool higher, bounded, has_estimate;
    double threshold;
    double ref[2], ref_se[2];  /* [0] realized, [1] estimate */
    double warm_sum[2], warm_se[2]; /* windows standing in for a missing reference */
    size_t warm_n[2];
    size_t ref_rows;
    double z_alarm, z_ci;
    size_t W;
    /* slices */
    size_t n_slices, n_slice_cols_given;
    slice_dict dict[MAX_SLICE_COLS];
    /* the join table: n_sets sets of WAYS slots, grown on demand (doubling) up to max_sets; a set's
     * slots are guarded by shard[set % SHARDS]; growing takes every shard, so n_sets is stable
     * while any one is held */
    _Atomic size_t n_sets;
    size_t max_sets;
    pthread_mutex_t shard[SHARDS];
    uint64_t *key;            /* slots: a set's keys side by side (its scan reads two cache lines) */
    uint8_t *fifo;            /* n_sets: the way a full set replaces next (its oldest entry) */
    unsigned char *rec;       /* slots x rec_size: the row, then k scores, then the slice ids */
    size_t rec_size;
    /* lookup beyond the table */
    fw_perf_lookup_fn lookup;
    void *lookup_ud;
    /* the label window being filled (lab_mu); lab_seq numbers the windows handed off */
    pthread_mutex_t lab_mu;
    lwin *lab;
    uint64_t lab_seq;
    /* full label windows waiting for their close, oldest first, and spare empty ones (pend_mu; taken
     * after lab_mu or close_mu, never before); the closes run one at a time, in order (close_mu:
     * also guards the realized computations' scratch) */
    pthread_mutex_t pend_mu, close_mu;
    lwin *pend_head, *pend_tail, *spare;
    size_t n_pend, n_spare;
    fw_perf_closer_fn closer; /* who closes handed-off windows (NULL: the labelling thread) */
    void *closer_ud;
    uint64_t lab_windows;     /* label windows closed (res_mu) */
    /* the estimate windows: two buffers, the one filled under est_mu, the full one computed under
     * calc_mu (taken before est_mu is let go, so a buffer is never refilled while computed). With
     * a closer the full one is queued (est_queued, set under est_mu; cleared under calc_mu once it
     * is computed) for the closer's thread (fw_perf_close_next); a window that fills while the
     * previous one is still queued waits for it (calc_mu), closing it here if still queued. Lock
     * order est_mu -> calc_mu, as before. */
    pthread_mutex_t est_mu, calc_mu;
    window est[2];
    int est_cur;
    atomic_bool est_queued;    /* est[est_q_idx] (= est[est_cur ^ 1]) is full and waits for its close */
    int est_q_idx;             /* which one: recorded when queued (est_mu), read by its closer after
                                  it sees est_queued (calc_mu) — never derived from an est_cur read
                                  earlier: that one can be stale (a reader closed the window and
                                  another was queued meanwhile: the open window was closed instead) */
    int64_t est_q_ts;          /* its closing row's time (est_mu) */
    uint64_t est_windows;
    /* scratch of the computations (close_mu for realized, calc_mu for estimate) */
    double *sc_m[2];
    uint32_t *sc_ord[2];
    struct sortkey { double p; uint32_t i; } *sc_key[2];
    double *sc_y, *sc_p;      /* a slice's rows */
    /* results (res_mu) */
    pthread_mutex_t res_mu;
    win_res last_real, last_est;
    bool have_real, have_est;
    slice_res *slices;        /* n_slices x (max_slice_values + 2): values, "(other)", "(missing)" */
    slice_alarm *sl_al;       /* n_slices x (max_slice_values + 2) (only the values are tested) */
    double z_slice;           /* the slices' z: alpha / (n_slices x max_slice_values), Bonferroni */
    hist history[HISTORY];
    size_t n_hist;
    bool active[2];
    fw_alarm alarm[2];
    /* counters */
    atomic_uint_fast64_t n_pred, n_labels, n_joined, n_lookup, n_unmatched, n_invalid;
};

void fw_perf_settings_init(fw_perf_settings *s) {
    s->window_rows = 500;
    s->window_seconds = 3600;
    s->min_window_rows = 100;
    s->table_slots = 65536;
    s->alpha = 0.001;
    s->min_drop = 0.02;
    s->max_slice_values = 16;
    s->min_slice_rows = 30;
    s->bootstrap_resamples = 200;
    s->seed = 42;
    s->estimate_reference_windows = 4;
}

/* Errors and losses without an upper bound: their effect floor is relative to the reference. */
static bool unbounded_metric(const char *name) {
    static const char *const u[] = {"rmse", "mse", "mae", "mape", "median_absolute_error", "log_loss"};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++)
        if (!strcmp(name, u[i])) return true;
    return false;
}

static void window_free(window *w) {
    fw_free(w->y);
    fw_free(w->p);
    fw_free(w->row);
    fw_free(w->sl);
}

static void lwin_free_list(lwin *l) {
    while (l) {
        lwin *next = l->next;
        window_free(&l->w);
        fw_free(l);
        l = next;
    }
}

static bool window_alloc(window *w, size_t W, size_t k, size_t ns, bool labels) {
    memset(w, 0, sizeof *w);
    w->p = fw_malloc(W * k * sizeof *w->p);
    w->row = fw_malloc(W * sizeof *w->row);
    w->sl = fw_malloc((W * ns + 1) * sizeof *w->sl);
    if (labels) w->y = fw_malloc(W * sizeof *w->y);
    return w->p && w->row && w->sl && (!labels || w->y);
}

/* An empty label window (NULL: out of memory). */
static lwin *lwin_new(const fw_perf *P) {
    lwin *l = fw_calloc(1, sizeof *l);
    if (l && !window_alloc(&l->w, P->W, P->k, P->n_slices, true)) {
        window_free(&l->w);
        fw_free(l);
        l = NULL;
    }
    return l;
}

void fw_perf_free(fw_perf *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_slices; i++) {
        pthread_mutex_destroy(&p->dict[i].mu);
        fw_free(p->dict[i].h);
        fw_free(p->dict[i].text);
    }
    for (int i = 0; i < SHARDS; i++) pthread_mutex_destroy(&p->shard[i]);
    pthread_mutex_destroy(&p->lab_mu);
    pthread_mutex_destroy(&p->pend_mu);
    pthread_mutex_destroy(&p->close_mu);
    pthread_mutex_destroy(&p->est_mu);
    pthread_mutex_destroy(&p->calc_mu);
    pthread_mutex_destroy(&p->res_mu);
    for (size_t i = 0; p->classes && i < p->n_classes; i++) fw_free(p->classes[i]);
    fw_free(p->classes);
    fw_free(p->key);
    fw_free(p->fifo);
    fw_free(p->rec);
    lwin_free_list(p->lab);
    lwin_free_list(p->pend_head); /* windows never closed: the owner closes them before (perf.h) */
    lwin_free_list(p->spare);
    window_free(&p->est[0]);
    window_free(&p->est[1]);
    for (int i = 0; i < 2; i++) {
        fw_free(p->sc_m[i]);
        fw_free(p->sc_ord[i]);
        fw_free(p->sc_key[i]);
    }
    fw_free(p->sc_y);
    fw_free(p->sc_p);
    fw_free(p->slices);
    fw_free(p->sl_al);
    fw_free(p);
}

fw_status fw_perf_new(const fw_perf_model *m, const fw_perf_settings *s, fw_perf **out, fw_err *err) {
    *out = NULL;
    if (m->task != FW_TASK_BINARY && m->task != FW_TASK_MULTICLASS && m->task != FW_TASK_REGRESSION)
        return fw_err_set(err, FW_EUNSUPPORTED, "live performance: %s models are not tracked",
                          fw_eval_task_name(m->task));
    size_t k = m->n_outputs;
    if (k == 0 || (m->task != FW_TASK_MULTICLASS && k != 1) || (m->task == FW_TASK_MULTICLASS && k < 2))
        return fw_err_set(err, FW_EINVAL, "live performance: a %s model with %zu outputs", fw_eval_task_name(m->task), k);
    if (s->window_rows < 2 || !(s->alpha > 0 && s->alpha < 0.5) || !(s->min_drop >= 0))
        return fw_err_set(err, FW_EINVAL, "live performance: window_rows must be >= 2, alpha in (0, 0.5), "
                                          "min_drop >= 0");
    const char *primary = m->primary ? m->primary : fw_eval_default_metric(m->task);
    fw_status st = fw_eval_check_metric(m->task, primary, err);
    if (st) return st;
    fw_perf *p = fw_calloc(1, sizeof *p);
    if (!p) return fw_err_set(err, FW_ENOMEM, "out of memory");
    p->s = *s;
    p->task = m->task;
    p->k = k;
    snprintf(p->primary, sizeof p->primary, "%s", primary);
    p->higher = fw_metric_higher_is_better(primary);
    p->bounded = !unbounded_metric(primary);
    p->threshold = isfinite(m->threshold) && m->threshold > 0 ? m->threshold : 0.5;
    p->ref[0] = m->reference;
    p->ref_se[0] = m->reference_se > 0 ? m->reference_se : NAN;
    p->ref[1] = m->has_reference_estimate ? m->reference_estimate : NAN;
    p->ref_se[1] = m->has_reference_estimate ? 0 : NAN;
    p->ref_rows = m->reference_rows;
    p->z_alarm = fw__norm_quantile(1 - s->alpha);
    p->z_ci = fw__norm_quantile(0.975);
    p->W = s->window_rows;
    if (p->s.max_slice_values < 1) p->s.max_slice_values = 1;
    if (p->s.max_slice_values > 1000) p->s.max_slice_values = 1000;
    /* the locks request threads take per prediction (a table shard, the estimate window's append)
     * are held for a few dozen instructions: adaptive (a short spin before sleeping), see monitor.c */
    pthread_mutexattr_t adaptive;
    pthread_mutexattr_init(&adaptive);
    pthread_mutexattr_settype(&adaptive, PTHREAD_MUTEX_ADAPTIVE_NP);
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&p->shard[i], &adaptive);
    pthread_mutex_init(&p->lab_mu, NULL);
    pthread_mutex_init(&p->pend_mu, NULL);
    pthread_mutex_init(&p->close_mu, NULL);
    pthread_mutex_init(&p->est_mu, &adaptive);
    pthread_mutexattr_destroy(&adaptive);
    pthread_mutex_init(&p->calc_mu, NULL);
    atomic_init(&p->est_queued, false);
    pthread_mutex_init(&p->res_mu, NULL);
    bool ok = true;
    if (m->classes && m->n_classes) {
        p->classes = fw_calloc(m->n_classes, sizeof *p->classes);
        ok = p->classes != NULL;
        if (ok) p->n_classes = m->n_classes;
        for (size_t i = 0; ok && i < m->n_classes; i++) ok = (p->classes[i] = fw_strdup(m->classes[i] ? m->classes[i] : ""));
    }
    /* slices: the data.groups columns that are inputs */
    p->n_slice_cols_given = m->n_slice_columns;
    for (size_t c = 0; ok && c < m->n_slice_columns && p->n_slices < MAX_SLICE_COLS; c++) {
        slice_dict *d = &p->dict[p->n_slices];
        pthread_mutex_init(&d->mu, NULL);
        snprintf(d->name, sizeof d->name, "%s", m->slice_columns[c]);
        d->input = -1;
        for (size_t i = 0; i < m->n_inputs; i++)
            if (m->input_names && m->input_names[i] && !strcmp(m->input_names[i], m->slice_columns[c])) d->input = (int)i;
        d->h = fw_calloc(p->s.max_slice_values, sizeof *d->h);
        d->text = fw_calloc(p->s.max_slice_values, sizeof *d->text);
        ok = d->h && d->text;
        p->n_slices++;
    }
    /* the join table: starts at TABLE_START slots, grows with the traffic up to table_slots */
    size_t slots = 64;
    while (slots < s->table_slots && slots < ((size_t)1 << 30)) slots <<= 1;
    p->max_sets = slots / WAYS;
    size_t start = slots < TABLE_START ? slots : TABLE_START;
    atomic_init(&p->n_sets, start / WAYS);
    size_t W = p->W, ns = p->n_slices;
    if (ok) {
        p->key = fw_calloc(start, sizeof *p->key);
        p->rec_size = (sizeof(uint64_t) + k * sizeof(double) + ns * sizeof(uint16_t) + 7) & ~(size_t)7;
        p->fifo = fw_calloc(start / WAYS, 1);
        p->rec = fw_calloc(start, p->rec_size);
        ok = p->key && p->fifo && p->rec;
    }
    ok = ok && (p->lab = lwin_new(p)) != NULL;
    p->has_estimate = m->task != FW_TASK_REGRESSION;
    if (ok && p->has_estimate) ok = window_alloc(&p->est[0], W, k, ns, false) && window_alloc(&p->est[1], W, k, ns, false);
    for (int i = 0; ok && i < 2; i++) {
        p->sc_m[i] = fw_malloc(k * (k + 3) * sizeof(double));
        p->sc_ord[i] = fw_malloc(W * sizeof(uint32_t));
        p->sc_key[i] = fw_malloc(W * sizeof(struct sortkey));
        ok = p->sc_m[i] && p->sc_ord[i] && p->sc_key[i];
    }
    if (ok) {
        p->sc_y = fw_malloc(W * sizeof(double));
        p->sc_p = fw_malloc(W * k * sizeof(double));
        p->slices = fw_calloc(ns * (p->s.max_slice_values + 2) + 1, sizeof *p->slices);
        p->sl_al = fw_calloc(ns * (p->s.max_slice_values + 2) + 1, sizeof *p->sl_al);
        ok = p->sc_y && p->sc_p && p->slices && p->sl_al;
        for (size_t i = 0; ok && i < ns * (p->s.max_slice_values + 2); i++) p->sl_al[i].ref = p->sl_al[i].ref_se = NAN;
        /* every value a followed column can hold counts in the family, seen or not yet: the
         * threshold does not move as values appear */
        size_t followed = 0;
        for (size_t c = 0; c < ns; c++) followed += p->dict[c].input >= 0;
        p->z_slice = fw__norm_quantile(1 - p->s.alpha / (double)(followed ? followed * p->s.max_slice_values : 1));
    }
    if (!ok) {
        fw_perf_free(p);
        return fw_err_set(err, FW_ENOMEM, "out of memory creating the live-performance tracker");
    }
    *out = p;
    return FW_OK;
}

void fw_perf_set_lookup(fw_perf *p, fw_perf_lookup_fn fn, void *ud) {
    p->lookup = fn;
    p->lookup_ud = ud;
}

void fw_perf_set_closer(fw_perf *p, fw_perf_closer_fn fn, void *ud) {
    p->closer = fn;
    p->closer_ud = ud;
}

/* ---- slices --------------------------------------------------------------------------------- */
/* The id of a slice value: 0..max-1 its place, max "(other)" (the table is full), max+1
 * "(missing)". */
static uint16_t slice_id_text(fw_perf *p, size_t c, const char *s, size_t len) {
    slice_dict *d = &p->dict[c];
    size_t max = p->s.max_slice_values;
    if (len >= FW_PERF_SLICE_TEXT) len = FW_PERF_SLICE_TEXT - 1;
    uint64_t h = fw_hash64(s, len, 0x736c6963) | 1;
    pthread_mutex_lock(&d->mu);
    size_t i = 0;
    for (; i < d->n; i++)
        if (d->h[i] == h) break;
    if (i == d->n) {
        if (d->n < max) {
            d->h[i] = h;
            memcpy(d->text[i], s, len);
            d->text[i][len] = 0;
            d->n++;
        } else {
            i = max;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return (uint16_t)i;
}

static uint16_t slice_id_value(fw_perf *p, size_t c, const fw_value *v) {
    if (!v || v->kind == FW_VALUE_MISSING) return (uint16_t)(p->s.max_slice_values + 1);
    if (v->kind == FW_VALUE_NUMBER) {
        char t[FW_NUMFMT_MAX];
        size_t n = fw_num_format(v->num, t);
        return slice_id_text(p, c, t, n);
    }
    if (!v->str || v->len == 0) return (uint16_t)(p->s.max_slice_values + 1);
    return slice_id_text(p, c, v->str, v->len);
}

static const char *slice_text(const fw_perf *p, size_t c, uint16_t id) {
    if (id == p->s.max_slice_values) return "(other)";
    if (id == p->s.max_slice_values + 1) return "(missing)";
    return p->dict[c].text[id];
}

/* ---- the join table ------------------------------------------------------------------------- */
static uint64_t rid_key(const char *rid, size_t len) { return fw_hash64(rid, len, 0x70657266) | 1; }

/* Locks the shard of key's set and returns the set's first slot (the set count read under the lock:
 * a table growing meanwhile holds every shard, so it is re-read until stable). */
static size_t table_lock(fw_perf *P, uint64_t key, pthread_mutex_t **mu_out) {
    for (;;) {
        size_t n_sets = atomic_load_explicit(&P->n_sets, memory_order_relaxed);
        size_t set = (size_t)(key >> 7) & (n_sets - 1);
        pthread_mutex_t *mu = &P->shard[set % SHARDS];
        pthread_mutex_lock(mu);
        if (atomic_load_explicit(&P->n_sets, memory_order_relaxed) == n_sets) {
            *mu_out = mu;
            return set * WAYS;
        }
        pthread_mutex_unlock(mu);
    }
}

/* Doubles the table from `from` sets (every shard taken; a no-op when another thread grew it
 * first, or at the cap, or out of memory: the set's oldest entry is then replaced, as before).
 * Each old set splits into two new ones, so no entry is lost. */
static void table_grow(fw_perf *P, size_t from) {
    for (int i = 0; i < SHARDS; i++) pthread_mutex_lock(&P->shard[i]);
    size_t n_sets = atomic_load_explicit(&P->n_sets, memory_order_relaxed);
    if (n_sets == from && n_sets < P->max_sets) {
        size_t slots = 2 * n_sets * WAYS, rs = P->rec_size;
        uint64_t *key = fw_calloc(slots, sizeof *key);
        uint8_t *fifo = fw_calloc(2 * n_sets, 1);
        unsigned char *rec = fw_calloc(slots, rs);
        if (key && fifo && rec) {
            for (size_t w = 0; w < n_sets * WAYS; w++) {
                if (!P->key[w]) continue;
                size_t d = ((size_t)(P->key[w] >> 7) & (2 * n_sets - 1)) * WAYS;
                while (key[d]) d++; /* at most WAYS entries of one old set land in a new one */
                key[d] = P->key[w];
                memcpy(rec + d * rs, P->rec + w * rs, rs);
            }
            fw_free(P->key);
            fw_free(P->fifo);
            fw_free(P->rec);
            P->key = key;
            P->fifo = fifo;
            P->rec = rec;
            atomic_store_explicit(&P->n_sets, 2 * n_sets, memory_order_relaxed);
            key = NULL;
            fifo = NULL;
            rec = NULL;
        }
        fw_free(key);
        fw_free(fifo);
        fw_free(rec);
    }
    for (int i = SHARDS - 1; i >= 0; i--) pthread_mutex_unlock(&P->shard[i]);
}

size_t fw_perf_table_slots(fw_perf *P) { return atomic_load(&P->n_sets) * WAYS; }

/* ---- the estimate --------------------------------------------------------------------------- */
static int cmp_key_desc(const void *a, const void *b) {
    const struct sortkey *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The estimate's metrics over n rows of scores with their intervals (value -/+ 1.96 analytic
 * standard errors, perf_int.h); sc selects the scratch set. Returns the metrics written. */
static size_t estimate(fw_perf *P, int sc, const double *scores, size_t n, mstat *out, double *value, double *lo,
                       double *hi) {
    *value = *lo = *hi = NAN;
    if (!P->has_estimate || n == 0) return 0;
    uint32_t *ord = NULL;
    if (P->task == FW_TASK_BINARY) {
        struct sortkey *key = P->sc_key[sc];
        for (size_t i = 0; i < n; i++) key[i] = (struct sortkey){scores[i], (uint32_t)i};
        qsort(key, n, sizeof *key, cmp_key_desc);
        ord = P->sc_ord[sc];
        for (size_t i = 0; i < n; i++) ord[i] = key[i].i;
    }
    /* top-k accuracy costs K^2 per row: skipped for many classes unless it is the primary */
    size_t top_k = P->k <= 16 || !strcmp(P->primary, "top_k_accuracy") ? 3 : 0;
    fw_metric m[FW__CBPE_MAX];
    double se[FW__CBPE_MAX];
    size_t nm = fw__cbpe(P->task, scores, NULL, ord, n, P->k, P->threshold, top_k, P->sc_m[sc], m, se);
    for (size_t j = 0; j < nm; j++) {
        memcpy(out[j].name, m[j].name, sizeof out[j].name);
        out[j].v = m[j].value;
        bool ok = isfinite(m[j].value) && isfinite(se[j]);
        out[j].lo = ok ? m[j].value - P->z_ci * se[j] : NAN;
        out[j].hi = ok ? m[j].value + P->z_ci * se[j] : NAN;
        if (!strcmp(m[j].name, P->primary)) {
            *value = out[j].v;
            *lo = out[j].lo;
            *hi = out[j].hi;
        }
    }
    return nm;
}

/* ---- alarms --------------------------------------------------------------------------------- */
/* Decides one window's alarm (which: 0 performance, 1 estimate) under res_mu; writes a newly
 * raised alarm to out when there is room; returns 1 when one was raised. */
static size_t decide(fw_perf *P, int which, double m, double lo, double hi, size_t rows, uint64_t row, int64_t ts,
                     fw_alarm *out, size_t cap) {
    if (!isfinite(m) || !isfinite(lo) || !isfinite(hi)) return 0;
    double se = (hi - lo) / (2 * P->z_ci);
    if (!isfinite(P->ref[which])) {
        /* no reference: the first window (realized), the mean of the first windows (estimate)
         * stands in for it, with its standard error */
        size_t want = which ? (P->s.estimate_reference_windows ? P->s.estimate_reference_windows : 1) : 1;
        P->warm_sum[which] += m;
        P->warm_se[which] += se;
        if (++P->warm_n[which] < want) return 0;
        P->ref[which] = P->warm_sum[which] / (double)want;
        P->ref_se[which] = P->warm_se[which] / (double)want / sqrt((double)want);
        return 0;
    }
    double ref = P->ref[which], se_ref = P->ref_se[which];
    if (!isfinite(se_ref)) se_ref = !which && P->ref_rows ? se * sqrt((double)rows / (double)P->ref_rows) : 0;
    double d = P->higher ? ref - m : m - ref;
    double floor = P->bounded ? P->s.min_drop : P->s.min_drop * fabs(ref);
    double dmax = P->z_alarm * sqrt(se * se + se_ref * se_ref) + floor;
    bool alarm = d > dmax;
    if (!alarm) {
        P->active[which] = false;
        return 0;
    }
    if (P->active[which]) return 0;
    fw_alarm *a = &P->alarm[which];
    memset(a, 0, sizeof *a);
    a->kind = which ? FW_ALARM_ESTIMATE : FW_ALARM_PERFORMANCE;
    snprintf(a->statistic, sizeof a->statistic, "%s", P->primary);
    a->value = m;
    a->threshold = P->higher ? ref - dmax : ref + dmax;
    a->row = row;
    a->ts_ms = ts;
    char d_txt[160] = {0};
    snprintf(d_txt, sizeof d_txt, "%s %s %.4g [%.4g, %.4g] over %zu %s vs %.4g expected", P->primary,
             which ? "estimated" : "realized", m, lo, hi, rows, which ? "predictions" : "labelled rows", ref);
    memcpy(a->detail, d_txt, sizeof a->detail - 1);
    a->detail[sizeof a->detail - 1] = 0;
    P->active[which] = true;
    if (cap) {
        *out = *a;
        return 1;
    }
    return 0;
}

/* Decides the performance alarm of slice value v of column c (res_mu held) on a label window where
 * the slice holds rows labelled rows with primary metric m [lo, hi]: the first such window is the
 * slice's reference; later ones alarm as decide() does, with z_slice (Bonferroni across the
 * followed values). Writes a newly raised alarm to out when there is room; returns 1 then. */
static size_t decide_slice(fw_perf *P, size_t c, size_t v, double m, double lo, double hi, size_t rows, uint64_t row,
                           int64_t ts, fw_alarm *out, size_t cap) {
    slice_alarm *sa = &P->sl_al[c * (P->s.max_slice_values + 2) + v];
    if (!isfinite(m) || !isfinite(lo) || !isfinite(hi)) return 0;
    double se = (hi - lo) / (2 * P->z_ci);
    if (!isfinite(sa->ref)) {
        sa->ref = m;
        sa->ref_se = se;
        return 0;
    }
    double d = P->higher ? sa->ref - m : m - sa->ref;
    double floor = P->bounded ? P->s.min_drop : P->s.min_drop * fabs(sa->ref);
    double dmax = P->z_slice * sqrt(se * se + sa->ref_se * sa->ref_se) + floor;
    if (!(d > dmax)) {
        sa->active = false;
        return 0;
    }
    if (sa->active) return 0;
    fw_alarm *a = &sa->a;
    memset(a, 0, sizeof *a);
    a->kind = FW_ALARM_PERFORMANCE;
    snprintf(a->column, sizeof a->column, "%s", P->dict[c].name);
    snprintf(a->slice, sizeof a->slice, "%s", slice_text(P, c, (uint16_t)v));
    snprintf(a->statistic, sizeof a->statistic, "%s", P->primary);
    a->value = m;
    a->threshold = P->higher ? sa->ref - dmax : sa->ref + dmax;
    a->row = row;
    a->ts_ms = ts;
    char d_txt[512] = {0};
    snprintf(d_txt, sizeof d_txt, "slice %s=%s: %s realized %.4g [%.4g, %.4g] over %zu labelled rows vs %.4g in its first window",
             P->dict[c].name, a->slice, P->primary, m, lo, hi, rows, sa->ref);
    memcpy(a->detail, d_txt, sizeof a->detail - 1);
    a->detail[sizeof a->detail - 1] = 0;
    sa->active = true;
    if (cap) {
        *out = *a;
        return 1;
    }
    return 0;
}

static void push_history(fw_perf *P, int kind, const win_res *r) {
    if (P->n_hist == HISTORY) {
        memmove(P->history, P->history + 1, (HISTORY - 1) * sizeof *P->history);
        P->n_hist--;
    }
    P->history[P->n_hist++] = (hist){kind, r->rows, r->to_row, r->value, r->lo, r->hi, r->est};
}

/* Closes the estimate window w (calc_mu held). */
static size_t close_estimate(fw_perf *P, window *w, int64_t ts, fw_alarm *out, size_t cap) {
    win_res r;
    memset(&r, 0, sizeof r);
    r.rows = w->n;
    r.from_row = w->first_row;
    r.to_row = w->row[w->n - 1];
    P->est_windows++;
    r.n = estimate(P, 1, w->p, w->n, r.m, &r.value, &r.lo, &r.hi);
    r.est = r.est_lo = r.est_hi = NAN;
    pthread_mutex_lock(&P->res_mu);
    P->last_est = r;
    P->have_est = true;
    push_history(P, 1, &r);
    size_t n = decide(P, 1, r.value, r.lo, r.hi, r.rows, r.to_row, ts, out, cap);
    pthread_mutex_unlock(&P->res_mu);
    w->n = 0;
    w->t0 = 0;
    return n;
}

/* Closes the queued estimate window, if any (calc_mu held): est[est_q_idx], stamped est_q_ts (both
 * written before est_queued was set, and not again until it is cleared here). */
static size_t est_close_queued(fw_perf *P, fw_alarm *out, size_t cap) {
    if (!atomic_load(&P->est_queued)) return 0;
    size_t n = close_estimate(P, &P->est[P->est_q_idx], P->est_q_ts, out, cap);
    atomic_store(&P->est_queued, false);
    return n;
}

/* The current estimate window is full (est_mu held; let go on return): with a closer it is queued
 * for the closer's thread (unless the previous one still waits: then that one is closed first,
 * here, and this one too, as without a closer); without one, or when the closer declines, it is
 * closed here (calc_mu). Returns the alarms written. */
static size_t est_full(fw_perf *P, int64_t ts, fw_alarm *out, size_t cap) {
    size_t n = 0;
    if (P->closer && !atomic_load(&P->est_queued)) {
        /* calc_mu around the flip: the window flipped to may still be computed by a thread that
         * closed it inline (below: est_mu let go before its close ends) — filling it then would
         * write past its end (test_perf_close test_estimate_close_races) */
        pthread_mutex_lock(&P->calc_mu);
        P->est_q_ts = ts;
        P->est_q_idx = P->est_cur;
        P->est_cur ^= 1;
        atomic_store(&P->est_queued, true); /* seq_cst: the closer's thread reads it after its flag */
        pthread_mutex_unlock(&P->calc_mu);
        pthread_mutex_unlock(&P->est_mu);
        if (P->closer(P->closer_ud)) return 0;
        pthread_mutex_lock(&P->calc_mu); /* declined: closed here, in order */
        n = est_close_queued(P, out, cap);
        pthread_mutex_unlock(&P->calc_mu);
        return n;
    }
    pthread_mutex_lock(&P->calc_mu); /* waits for a close under way */
    n = est_close_queued(P, out, cap); /* the previous window first */
    window *w = &P->est[P->est_cur];
    P->est_cur ^= 1;
    pthread_mutex_unlock(&P->est_mu);
    n += close_estimate(P, w, ts, out + n, cap - n);
    pthread_mutex_unlock(&P->calc_mu);
    return n;
}

/* ---- predictions ---------------------------------------------------------------------------- */
size_t fw_perf_observe(fw_perf *P, const char *rid, size_t rid_len, const double *scores, const fw_value *inputs,
                       uint64_t row, int64_t ts_ms, fw_alarm *out, size_t cap) {
    atomic_fetch_add_explicit(&P->n_pred, 1, memory_order_relaxed);
    size_t k = P->k, ns = P->n_slices;
    for (size_t j = 0; j < k; j++)
        if (!isfinite(scores[j])) return 0;
    uint16_t sl[MAX_SLICE_COLS];
    for (size_t c = 0; c < ns; c++)
        sl[c] = inputs && P->dict[c].input >= 0 ? slice_id_value(P, c, &inputs[P->dict[c].input]) : NO_SLICE;
    if (rid && rid_len) {
        uint64_t key = rid_key(rid, rid_len);
        pthread_mutex_t *mu;
        bool may_grow = true;
        for (;;) {
            size_t base = table_lock(P, key, &mu), slot = SIZE_MAX;
            bool dup = false;
            for (size_t w = base; w < base + WAYS; w++) {
                if (P->key[w] == key) { /* another instance of the same request: the first one joins */
                    dup = true;
                    break;
                }
                if (P->key[w] == 0) {
                    slot = w;
                    break;
                }
            }
            size_t n_sets = atomic_load_explicit(&P->n_sets, memory_order_relaxed);
            if (!dup && slot == SIZE_MAX && may_grow && n_sets < P->max_sets) {
                /* the set is full: grow the table (or, out of memory, replace the set's oldest) */
                pthread_mutex_unlock(mu);
                table_grow(P, n_sets);
                may_grow = atomic_load_explicit(&P->n_sets, memory_order_relaxed) != n_sets;
                continue;
            }
            if (!dup) {
                if (slot == SIZE_MAX) { /* full at the cap: the oldest entry of the set goes */
                    uint8_t *f = &P->fifo[base / WAYS];
                    slot = base + *f;
                    *f = (uint8_t)((*f + 1) % WAYS);
                }
                unsigned char *r = P->rec + slot * P->rec_size;
                P->key[slot] = key;
                memcpy(r, &row, sizeof row);
                memcpy(r + sizeof row, scores, k * sizeof *scores);
                if (ns) memcpy(r + sizeof row + k * sizeof *scores, sl, ns * sizeof *sl);
            }
            pthread_mutex_unlock(mu);
            break;
        }
    }
    if (!P->has_estimate) return 0;
    size_t n_al = 0;
    pthread_mutex_lock(&P->est_mu);
    window *w = &P->est[P->est_cur];
    /* by time: a window old enough closes before this row when it holds enough rows */
    if (P->s.window_seconds > 0 && ts_ms > 0 && w->n >= P->s.min_window_rows && w->t0 > 0 &&
        (double)(ts_ms - w->t0) >= P->s.window_seconds * 1000) {
        n_al += est_full(P, ts_ms, out, cap); /* lets est_mu go */
        pthread_mutex_lock(&P->est_mu);
        w = &P->est[P->est_cur];
    }
    if (w->n == 0) {
        w->t0 = ts_ms;
        w->first_row = row;
    }
    memcpy(w->p + w->n * k, scores, k * sizeof *scores);
    w->row[w->n++] = row;
    if (w->n < P->W) {
        pthread_mutex_unlock(&P->est_mu);
        return n_al;
    }
    return n_al + est_full(P, ts_ms, out + n_al, cap - n_al); /* lets est_mu go */
}

/* ---- labels --------------------------------------------------------------------------------- */
static bool text_is(const char *t, size_t n, const char *s) { return strlen(s) == n && !memcmp(t, s, n); }

fw_status fw_perf_parse_label(const fw_perf *p, const char *t, size_t n, double *y, fw_err *err) {
    if (p->task == FW_TASK_REGRESSION) {
        char buf[64];
        if (n > 0 && n < sizeof buf) {
            memcpy(buf, t, n);
            buf[n] = 0;
            char *end;
            double v = strtod(buf, &end);
            if (end == buf + n && isfinite(v)) {
                *y = v;
                return FW_OK;
            }
        }
        return fw_err_set(err, FW_EDATA, "label '%.*s' is not a finite number", (int)(n < 60 ? n : 60), t);
    }
    for (size_t i = 0; i < p->n_classes; i++)
        if (text_is(t, n, p->classes[i])) {
            *y = (double)i;
            return FW_OK;
        }
    if (p->task == FW_TASK_BINARY) {
        if (text_is(t, n, "1") || text_is(t, n, "true") || text_is(t, n, "1.0")) return *y = 1, FW_OK;
        if (text_is(t, n, "0") || text_is(t, n, "false") || text_is(t, n, "0.0")) return *y = 0, FW_OK;
    } else {
        char buf[24];
        if (n > 0 && n < sizeof buf) {
            memcpy(buf, t, n);
            buf[n] = 0;
            char *end;
            long v = strtol(buf, &end, 10);
            if (end == buf + n && v >= 0 && (size_t)v < p->k) return *y = (double)v, FW_OK;
        }
    }
    return fw_err_set(err, FW_EDATA, "label '%.*s' is not one of the model's classes", (int)(n < 60 ? n : 60), t);
}

static bool label_valid(const fw_perf *p, double y) {
    if (!isfinite(y)) return false;
    if (p->task == FW_TASK_REGRESSION) return true;
    if (p->task == FW_TASK_BINARY) return y == 0 || y == 1;
    return y >= 0 && y < (double)p->k && y == floor(y);
}

/* Copies the 1.96-interval bounds of a metric from the bootstrap's list. */
static void find_ci(const fw_metric_ci *ci, size_t n, const char *name, double *lo, double *hi) {
    *lo = *hi = NAN;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ci[i].name, name)) {
            *lo = ci[i].lo;
            *hi = ci[i].hi;
        }
}

/* Realized metrics of n rows (y, p) with bootstrap intervals into m (at most MAX_METRICS).
 * Returns the count (0 when they cannot be computed). */
static size_t realized(fw_perf *P, const double *y, const double *p, size_t n, uint64_t seed, size_t resamples,
                       mstat *m) {
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = P->primary;
    eo.threshold = P->threshold;
    eo.max_curve_points = 2;
    fw_metric_set set;
    fw_metric_set_init(&set);
    fw_err e;
    if (fw_eval_compute(P->task, y, p, n, P->k, &eo, &set, &e) != FW_OK) {
        fw_metric_set_free(&set);
        return 0;
    }
    fw_bootstrap_options bo;
    fw_bootstrap_options_init(&bo);
    bo.n_resamples = resamples;
    bo.seed = seed;
    fw_metric_ci *ci = NULL;
    size_t nci = 0;
    if (fw_eval_bootstrap(P->task, y, p, n, P->k, &eo, &bo, &set, &ci, &nci, NULL, &e) != FW_OK) nci = 0;
    size_t nm = 0;
    for (size_t i = 0; i < set.n_items && nm < MAX_METRICS; i++, nm++) {
        memcpy(m[nm].name, set.items[i].name, sizeof m[nm].name);
        m[nm].v = set.items[i].value;
        find_ci(ci, nci, m[nm].name, &m[nm].lo, &m[nm].hi);
    }
    fw_free(ci);
    fw_metric_set_free(&set);
    return nm;
}

static const mstat *find_m(const mstat *m, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name)) return &m[i];
    return NULL;
}

/* Closes the full label window l (close_mu held; l is the closer's alone): metrics, the estimate
 * over the same rows, slices, alarm. Its bootstrap seed is the window's number in the stream, so
 * the figures do not depend on the thread that closes it nor on when. */
static size_t close_labels(fw_perf *P, lwin *l, fw_alarm *out, size_t cap) {
    window *w = &l->w;
    size_t n = w->n, k = P->k, ns = P->n_slices;
    int64_t ts = l->ts;
    uint64_t seed = P->s.seed ^ (l->idx * 0x9e3779b97f4a7c15ull);
    win_res r;
    memset(&r, 0, sizeof r);
    r.rows = n;
    r.from_row = w->first_row;
    r.to_row = w->row[n - 1];
    r.n = realized(P, w->y, w->p, n, seed, P->s.bootstrap_resamples, r.m);
    const mstat *pm = find_m(r.m, r.n, P->primary);
    r.value = pm ? pm->v : NAN;
    r.lo = pm ? pm->lo : NAN;
    r.hi = pm ? pm->hi : NAN;
    r.ne = estimate(P, 0, w->p, n, r.e, &r.est, &r.est_lo, &r.est_hi);
    /* slices: each followed column's values with enough rows; each value's own alarm */
    size_t nv = P->s.max_slice_values + 2, na = 0;
    slice_res *sr = P->slices;
    for (size_t c = 0; c < ns; c++)
        for (size_t v = 0; v < nv; v++) {
            slice_res *s = &sr[c * nv + v];
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (w->sl[i * ns + c] == v) {
                    P->sc_y[m] = w->y[i];
                    memcpy(P->sc_p + m * k, w->p + i * k, k * sizeof(double));
                    m++;
                }
            slice_res tmp = {.rows = m};
            if (m >= P->s.min_slice_rows && m >= 2)
                tmp.n = realized(P, P->sc_y, P->sc_p, m, seed ^ (c * 131 + v), P->s.bootstrap_resamples, tmp.m);
            const mstat *sp = tmp.n ? find_m(tmp.m, tmp.n, P->primary) : NULL;
            pthread_mutex_lock(&P->res_mu);
            *s = tmp;
            if (sp && v < P->s.max_slice_values) /* the values; not "(other)" or "(missing)" */
                na += decide_slice(P, c, v, sp->v, sp->lo, sp->hi, m, r.to_row, ts, out + na, cap - na);
            pthread_mutex_unlock(&P->res_mu);
        }
    pthread_mutex_lock(&P->res_mu);
    P->lab_windows++;
    P->last_real = r;
    P->have_real = true;
    push_history(P, 0, &r);
    na += decide(P, 0, r.value, r.lo, r.hi, r.rows, r.to_row, ts, out + na, cap - na);
    pthread_mutex_unlock(&P->res_mu);
    w->n = 0;
    w->t0 = 0;
    return na;
}

/* The prediction of a request: from the table (taken out of it: a label joins once), else the
 * lookup. */
static int join(fw_perf *P, const char *rid, size_t rid_len, double *p, uint16_t *sl, uint64_t *row) {
    size_t k = P->k, ns = P->n_slices;
    uint64_t key = rid_key(rid, rid_len);
    pthread_mutex_t *mu;
    size_t base = table_lock(P, key, &mu);
    for (size_t w = base; w < base + WAYS; w++)
        if (P->key[w] == key) {
            const unsigned char *r = P->rec + w * P->rec_size;
            memcpy(row, r, sizeof *row);
            memcpy(p, r + sizeof *row, k * sizeof *p);
            if (ns) memcpy(sl, r + sizeof *row + k * sizeof *p, ns * sizeof *sl);
            P->key[w] = 0;
            pthread_mutex_unlock(mu);
            return 1;
        }
    pthread_mutex_unlock(mu);
    if (!P->lookup) return 0;
    char(*texts)[FW_PERF_SLICE_TEXT] = fw_calloc(ns + 1, sizeof *texts);
    char *rz = fw_malloc(rid_len + 1);
    if (!texts || !rz) {
        fw_free(texts);
        fw_free(rz);
        return 0;
    }
    memcpy(rz, rid, rid_len);
    rz[rid_len] = 0;
    fw_err e;
    uint64_t r = UINT64_MAX;
    fw_status st = P->lookup(P->lookup_ud, rz, rid_len, p, k, texts, ns, &r, &e);
    int found = 0;
    if (st == FW_OK) {
        found = 2;
        for (size_t j = 0; j < k; j++)
            if (!isfinite(p[j])) found = 0;
        for (size_t c = 0; found && c < ns; c++)
            sl[c] = P->dict[c].input < 0 ? NO_SLICE
                    : texts[c][0]       ? slice_id_text(P, c, texts[c], strnlen(texts[c], FW_PERF_SLICE_TEXT - 1))
                                        : (uint16_t)(P->s.max_slice_values + 1);
        *row = r != UINT64_MAX ? r : atomic_load(&P->n_pred);
    }
    fw_free(texts);
    fw_free(rz);
    return found;
}

/* Hands the full label window off to the close queue (lab_mu held): an empty one (a spare, else a
 * new one) takes its place. False when no empty window can be had (out of memory): the caller
 * then closes the window in place (close_in_place). */
static bool hand_off(fw_perf *P, int64_t ts) {
    pthread_mutex_lock(&P->pend_mu);
    lwin *fresh = P->spare;
    if (fresh) {
        P->spare = fresh->next;
        P->n_spare--;
    }
    pthread_mutex_unlock(&P->pend_mu);
    if (!fresh && !(fresh = lwin_new(P))) return false; /* rare: only while the closer lags */
    fresh->next = NULL;
    lwin *full = P->lab;
    full->idx = P->lab_seq++;
    full->ts = ts;
    full->next = NULL;
    fresh->w.n = 0;
    fresh->w.t0 = 0;
    P->lab = fresh;
    pthread_mutex_lock(&P->pend_mu);
    if (P->pend_tail) P->pend_tail->next = full;
    else P->pend_head = full;
    P->pend_tail = full;
    P->n_pend++;
    pthread_mutex_unlock(&P->pend_mu);
    return true;
}

/* Closes the oldest handed-off window, if any (close_mu held): *closed tells whether there was one;
 * the window then becomes a spare (two are kept, the rest freed). Returns the alarms written. */
static size_t close_oldest(fw_perf *P, fw_alarm *out, size_t cap, bool *closed) {
    pthread_mutex_lock(&P->pend_mu);
    lwin *l = P->pend_head;
    if (l) {
        P->pend_head = l->next;
        if (!P->pend_head) P->pend_tail = NULL;
        l->next = NULL;
    }
    pthread_mutex_unlock(&P->pend_mu);
    *closed = l != NULL;
    if (!l) return 0;
    size_t na = close_labels(P, l, out, cap);
    pthread_mutex_lock(&P->pend_mu);
    P->n_pend--; /* counted until closed: fw_perf_pending() == 0 means its figures are published */
    if (P->n_spare < 2) {
        l->next = P->spare;
        P->spare = l;
        P->n_spare++;
        l = NULL;
    }
    pthread_mutex_unlock(&P->pend_mu);
    if (l) lwin_free_list(l);
    return na;
}

/* Closes every handed-off window, in order, into out[0..cap); returns the alarms written. */
static size_t close_all(fw_perf *P, fw_alarm *out, size_t cap) {
    size_t na = 0;
    bool closed = true;
    pthread_mutex_lock(&P->close_mu);
    while (closed) na += close_oldest(P, out + na, cap - na, &closed);
    pthread_mutex_unlock(&P->close_mu);
    return na;
}

/* Out of memory for an empty window (lab_mu held): closes the windows handed off before it, then
 * the full current one in place, on this thread — nothing is lost, the order is kept. */
static size_t close_in_place(fw_perf *P, int64_t ts, fw_alarm *out, size_t cap) {
    size_t na = close_all(P, out, cap);
    pthread_mutex_lock(&P->close_mu);
    pthread_mutex_lock(&P->pend_mu);
    P->n_pend++;
    pthread_mutex_unlock(&P->pend_mu);
    P->lab->idx = P->lab_seq++;
    P->lab->ts = ts;
    na += close_labels(P, P->lab, out + na, cap - na);
    pthread_mutex_lock(&P->pend_mu);
    P->n_pend--;
    pthread_mutex_unlock(&P->pend_mu);
    pthread_mutex_unlock(&P->close_mu);
    P->lab->w.n = 0;
    P->lab->w.t0 = 0;
    return na;
}

/* Closes the queued estimate window, if any; *closed tells whether there was one. */
static size_t est_close_next(fw_perf *P, fw_alarm *out, size_t cap, bool *closed) {
    *closed = false;
    if (!atomic_load(&P->est_queued)) return 0;
    pthread_mutex_lock(&P->calc_mu);
    *closed = atomic_load(&P->est_queued);
    size_t n = est_close_queued(P, out, cap);
    pthread_mutex_unlock(&P->calc_mu);
    return n;
}

size_t fw_perf_close_estimate(fw_perf *P, fw_alarm *out, size_t cap) {
    bool closed;
    return est_close_next(P, out, cap, &closed);
}

size_t fw_perf_close_next(fw_perf *P, fw_alarm *out, size_t cap, bool *closed) {
    size_t na = est_close_next(P, out, cap, closed);
    if (*closed) return na;
    pthread_mutex_lock(&P->close_mu);
    na = close_oldest(P, out, cap, closed);
    pthread_mutex_unlock(&P->close_mu);
    return na;
}

size_t fw_perf_pending(fw_perf *P) {
    pthread_mutex_lock(&P->pend_mu);
    size_t n = P->n_pend;
    pthread_mutex_unlock(&P->pend_mu);
    return n + atomic_load(&P->est_queued);
}

size_t fw_perf_label(fw_perf *P, const char *rid, size_t rid_len, double y, int64_t ts_ms, fw_alarm *out,
                     size_t cap) {
    atomic_fetch_add(&P->n_labels, 1);
    if (!label_valid(P, y)) {
        atomic_fetch_add(&P->n_invalid, 1);
        return 0;
    }
    size_t k = P->k, ns = P->n_slices;
    double pbuf[16], *p = k <= 16 ? pbuf : fw_malloc(k * sizeof *p);
    if (!p) return 0;
    uint16_t sl[MAX_SLICE_COLS];
    for (size_t c = 0; c < ns; c++) sl[c] = NO_SLICE;
    uint64_t row = 0;
    int how = rid && rid_len ? join(P, rid, rid_len, p, sl, &row) : 0;
    if (!how) {
        atomic_fetch_add(&P->n_unmatched, 1);
        if (p != pbuf) fw_free(p);
        return 0;
    }
    atomic_fetch_add(&P->n_joined, 1);
    if (how == 2) atomic_fetch_add(&P->n_lookup, 1);
    size_t n_al = 0;
    bool handed = false;
    pthread_mutex_lock(&P->lab_mu);
    window *w = &P->lab->w;
    if (P->s.window_seconds > 0 && ts_ms > 0 && w->n >= P->s.min_window_rows && w->t0 > 0 &&
        (double)(ts_ms - w->t0) >= P->s.window_seconds * 1000) {
        if (hand_off(P, ts_ms)) handed = true;
        else n_al += close_in_place(P, ts_ms, out, cap);
        w = &P->lab->w;
    }
    if (w->n == 0) {
        w->t0 = ts_ms;
        w->first_row = row;
    }
    w->y[w->n] = y;
    memcpy(w->p + w->n * k, p, k * sizeof *p);
    if (ns) memcpy(w->sl + w->n * ns, sl, ns * sizeof *sl);
    w->row[w->n++] = row;
    if (w->n >= P->W) {
        if (hand_off(P, ts_ms)) handed = true;
        else n_al += close_in_place(P, ts_ms, out + n_al, cap - n_al);
    }
    pthread_mutex_unlock(&P->lab_mu);
    if (p != pbuf) fw_free(p);
    /* the close: by the closer's thread when one takes it, else here (outside lab_mu: the other
     * labellers go on filling the next window meanwhile) */
    if (handed && !(P->closer && P->closer(P->closer_ud))) n_al += close_all(P, out + n_al, cap - n_al);
    return n_al;
}

size_t fw_perf_active(fw_perf *P, fw_alarm *out, size_t cap) {
    size_t n = 0;
    pthread_mutex_lock(&P->res_mu);
    for (int i = 0; i < 2; i++)
        if (P->active[i] && n < cap) out[n++] = P->alarm[i];
    for (size_t i = 0; i < P->n_slices * (P->s.max_slice_values + 2); i++)
        if (P->sl_al[i].active && n < cap) out[n++] = P->sl_al[i].a;
    pthread_mutex_unlock(&P->res_mu);
    return n;
}

void fw_perf_summary_get(fw_perf *P, fw_perf_summary *o) {
    memset(o, 0, sizeof *o);
    o->predictions = atomic_load(&P->n_pred);
    o->labels = atomic_load(&P->n_labels);
    o->joined = atomic_load(&P->n_joined);
    o->joined_lookup = atomic_load(&P->n_lookup);
    o->unmatched = atomic_load(&P->n_unmatched);
    o->invalid = atomic_load(&P->n_invalid);
    snprintf(o->metric, sizeof o->metric, "%s", P->primary);
    pthread_mutex_lock(&P->res_mu);
    o->windows = P->lab_windows;
    o->estimate_windows = P->est_windows;
    o->reference = P->ref[0];
    o->realized = P->have_real ? P->last_real.value : NAN;
    o->realized_lo = P->have_real ? P->last_real.lo : NAN;
    o->realized_hi = P->have_real ? P->last_real.hi : NAN;
    o->estimated_labelled = P->have_real ? P->last_real.est : NAN;
    o->estimated = P->have_est ? P->last_est.value : NAN;
    o->estimated_lo = P->have_est ? P->last_est.lo : NAN;
    o->estimated_hi = P->have_est ? P->last_est.hi : NAN;
    pthread_mutex_unlock(&P->res_mu);
}

size_t fw_perf_slices_max(const fw_perf *P) { return P->n_slices * (P->s.max_slice_values + 2); }

size_t fw_perf_slices(fw_perf *P, fw_perf_slice *out, size_t cap) {
    size_t nv = P->s.max_slice_values + 2, n = 0;
    for (size_t c = 0; c < P->n_slices; c++) {
        slice_dict *d = &P->dict[c];
        if (d->input < 0) continue; /* not an input: not followed */
        pthread_mutex_lock(&d->mu); /* the values met so far (first come, first served) */
        size_t met = d->n, first = n;
        for (size_t v = 0; v < met; v++, n++)
            if (n < cap) {
                snprintf(out[n].column, sizeof out[n].column, "%s", d->name);
                snprintf(out[n].value, sizeof out[n].value, "%s", d->text[v]);
            }
        pthread_mutex_unlock(&d->mu);
        pthread_mutex_lock(&P->res_mu);
        for (size_t v = 0; v < nv; v++) {
            const slice_res *r = &P->slices[c * nv + v];
            size_t at;
            if (v < met) {
                at = first + v;
            } else if ((v == P->s.max_slice_values && met == P->s.max_slice_values) ||
                       (v == P->s.max_slice_values + 1 && r->rows > 0)) {
                at = n++;
                if (at < cap) {
                    snprintf(out[at].column, sizeof out[at].column, "%s", d->name);
                    snprintf(out[at].value, sizeof out[at].value, "%s", slice_text(P, c, (uint16_t)v));
                }
            } else {
                continue;
            }
            if (at >= cap) continue;
            const mstat *m = r->n ? find_m(r->m, r->n, P->primary) : NULL;
            out[at].rows = r->rows;
            out[at].metric = m ? m->v : NAN;
            out[at].alarm = P->sl_al[c * nv + v].active;
        }
        pthread_mutex_unlock(&P->res_mu);
    }
    return n;
}

/* ---- state JSON ----------------------------------------------------------------------------- */
static void lit(fw_buf *b, const char *s) { fw_buf_put(b, s, strlen(s)); }

static void put_key(fw_buf *b, const char *k) {
    fw_json_put_str(b, k);
    fw_buf_put_u8(b, ':');
}

static void put_metrics(fw_buf *b, const mstat *m, size_t n) {
    fw_buf_put_u8(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) fw_buf_put_u8(b, ',');
        put_key(b, m[i].name);
        lit(b, "{\"value\":");
        fw_json_put_f64(b, m[i].v);
        lit(b, ",\"lo\":");
        fw_json_put_f64(b, m[i].lo);
        lit(b, ",\"hi\":");
        fw_json_put_f64(b, m[i].hi);
        fw_buf_put_u8(b, '}');
    }
    fw_buf_put_u8(b, '}');
}

static void put_alarm(fw_buf *b, const fw_alarm *a) {
    lit(b, "{\"kind\":");
    fw_json_put_str(b, fw_alarm_kind_name(a->kind));
    lit(b, ",\"column\":");
    fw_json_put_str(b, a->column[0] ? a->column : NULL);
    if (a->slice[0]) { /* a slice's alarm: the value of that (group) column */
        lit(b, ",\"slice\":");
        fw_json_put_str(b, a->slice);
    }
    lit(b, ",\"statistic\":");
    fw_json_put_str(b, a->statistic);
    lit(b, ",\"value\":");
    fw_json_put_f64(b, a->value);
    lit(b, ",\"threshold\":");
    fw_json_put_f64(b, a->threshold);
    fw_buf_printf(b, ",\"row\":%llu,\"detail\":", (unsigned long long)a->row);
    fw_json_put_str(b, a->detail);
    fw_buf_put_u8(b, '}');
}

fw_status fw_perf_state_json(fw_perf *P, fw_buf *b) {
    fw_perf_summary s;
    fw_perf_summary_get(P, &s);
    lit(b, "{\"metric\":");
    fw_json_put_str(b, P->primary);
    lit(b, ",\"reference\":");
    pthread_mutex_lock(&P->res_mu);
    fw_json_put_f64(b, P->ref[0]);
    fw_buf_printf(b,
                  ",\"window_rows\":%zu,\"counts\":{\"predictions\":%llu,\"labels\":%llu,\"joined\":%llu,"
                  "\"joined_from_store\":%llu,\"unmatched\":%llu,\"invalid\":%llu,\"windows\":%llu,"
                  "\"estimate_windows\":%llu}",
                  P->W, (unsigned long long)s.predictions, (unsigned long long)s.labels,
                  (unsigned long long)s.joined, (unsigned long long)s.joined_lookup, (unsigned long long)s.unmatched,
                  (unsigned long long)s.invalid, (unsigned long long)P->lab_windows,
                  (unsigned long long)P->est_windows);
    lit(b, ",\"realized\":");
    if (P->have_real) {
        const win_res *r = &P->last_real;
        fw_buf_printf(b, "{\"rows\":%zu,\"from_row\":%llu,\"to_row\":%llu,\"metrics\":", r->rows,
                      (unsigned long long)r->from_row, (unsigned long long)r->to_row);
        put_metrics(b, r->m, r->n);
        lit(b, ",\"estimate\":");
        put_metrics(b, r->e, r->ne);
        fw_buf_put_u8(b, '}');
    } else {
        lit(b, "null");
    }
    lit(b, ",\"estimated\":");
    if (P->have_est) {
        const win_res *r = &P->last_est;
        fw_buf_printf(b, "{\"rows\":%zu,\"from_row\":%llu,\"to_row\":%llu,\"metrics\":", r->rows,
                      (unsigned long long)r->from_row, (unsigned long long)r->to_row);
        put_metrics(b, r->m, r->n);
        fw_buf_put_u8(b, '}');
    } else {
        lit(b, "null");
    }
    lit(b, ",\"slices\":[");
    size_t nv = P->s.max_slice_values + 2;
    bool first = true;
    for (size_t c = 0; c < P->n_slices; c++) {
        if (P->dict[c].input < 0) continue;
        for (size_t v = 0; v < nv; v++) {
            const slice_res *sr = &P->slices[c * nv + v];
            if (!sr->rows) continue;
            if (!first) fw_buf_put_u8(b, ',');
            first = false;
            lit(b, "{\"column\":");
            fw_json_put_str(b, P->dict[c].name);
            lit(b, ",\"value\":");
            pthread_mutex_lock(&P->dict[c].mu);
            fw_json_put_str(b, slice_text(P, c, (uint16_t)v));
            pthread_mutex_unlock(&P->dict[c].mu);
            fw_buf_printf(b, ",\"rows\":%zu,\"metrics\":", sr->rows);
            put_metrics(b, sr->m, sr->n);
            fw_buf_put_u8(b, '}');
        }
    }
    lit(b, "],\"slices_not_followed\":[");
    first = true;
    for (size_t c = 0; c < P->n_slices; c++)
        if (P->dict[c].input < 0) {
            if (!first) fw_buf_put_u8(b, ',');
            first = false;
            fw_json_put_str(b, P->dict[c].name);
        }
    lit(b, "],\"history\":[");
    for (size_t i = 0; i < P->n_hist; i++) {
        const hist *h = &P->history[i];
        if (i) fw_buf_put_u8(b, ',');
        fw_buf_printf(b, "{\"kind\":\"%s\",\"rows\":%zu,\"to_row\":%llu,\"value\":", h->kind ? "estimated" : "realized",
                      h->rows, (unsigned long long)h->to_row);
        fw_json_put_f64(b, h->value);
        lit(b, ",\"lo\":");
        fw_json_put_f64(b, h->lo);
        lit(b, ",\"hi\":");
        fw_json_put_f64(b, h->hi);
        if (!h->kind) {
            lit(b, ",\"estimate\":");
            fw_json_put_f64(b, h->est);
        }
        fw_buf_put_u8(b, '}');
    }
    lit(b, "],\"alarms\":[");
    first = true;
    for (int i = 0; i < 2; i++)
        if (P->active[i]) {
            if (!first) fw_buf_put_u8(b, ',');
            first = false;
            put_alarm(b, &P->alarm[i]);
        }
    for (size_t i = 0; i < P->n_slices * (P->s.max_slice_values + 2); i++)
        if (P->sl_al[i].active) {
            if (!first) fw_buf_put_u8(b, ',');
            first = false;
            put_alarm(b, &P->sl_al[i].a);
        }
    lit(b, "]}");
    pthread_mutex_unlock(&P->res_mu);
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}
