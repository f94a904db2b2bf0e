/* bandit.c — owns the server side of `kind: bandit` splits (serve/bandit.h): per split, the
 * published shares (a ring of immutable snapshots; the current one is an atomic pointer), the two
 * bounded lock-free queues (trials, rewards: Vyukov's array queue, many producers, one consumer),
 * the updater thread that feeds the sampler of experiment/bandit.h, and the state as JSON and
 * Prometheus series. */
#include "serve/bandit.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "experiment/bandit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define QCAP 65536u   /* per queue, a power of two */
#define NSNAP 64u     /* published snapshots cycled through (a reader holds one for nanoseconds) */

typedef struct item {
    uint64_t key;
    double value, t;
    int arm;
} item;

typedef struct qcell {
    atomic_size_t seq;
    item it;
} qcell;

typedef struct queue {
    qcell *cell;
    atomic_size_t tail; /* producers */
    size_t head;        /* the consumer (the updater thread) */
    atomic_ullong dropped;
} queue;

typedef struct snap {
    double cum[FW_BANDIT_MAX_ARMS]; /* cumulative shares; the last arm takes the rest */
} snap;

typedef struct one {
    const fw_serve_split *sp;
    size_t n_arms;
    const char *ref[FW_BANDIT_MAX_ARMS]; /* arm i's reference (NULL for the default route) */
    char *name[FW_BANDIT_MAX_ARMS];      /* arm names for the state ("NAME@default" for arm 0) */
    fw_bandit *b;                        /* under the updater's lock */
    queue trials, rewards;
    snap *snaps;
    _Atomic(snap *) cur;
    size_t next_snap;                    /* the updater's */
    uint64_t joined;                     /* the updater's: rewards joined as of its last shares */
    bool was_silent;                     /* the updater's: silent trials were pending then */
    atomic_ullong picked[FW_BANDIT_MAX_ARMS];
} one;

#define BATCH 4096

struct fw_srv_bandits {
    item rw[BATCH];     /* the updater's scratch: rewards popped, waiting for their trials */
    one *v;
    size_t n;
    uint64_t t0_ns;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* the samplers (the updater and the state readers) */
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
};

/* ---- the queues ------------------------------------------------------------------------------- */

static bool q_init(queue *q) {
    q->cell = fw_calloc(QCAP, sizeof *q->cell);
    if (!q->cell) return false;
    for (size_t i = 0; i < QCAP; i++) atomic_init(&q->cell[i].seq, i);
    atomic_init(&q->tail, 0);
    q->head = 0;
    atomic_init(&q->dropped, 0);
    return true;
}

static void q_push(queue *q, uint64_t key, int arm, double value, double t) {
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        qcell *c = &q->cell[pos & (QCAP - 1)];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->it = (item){.key = key, .value = value, .t = t, .arm = arm};
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return;
            }
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed); /* full */
            return;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

/* The consumer: the next ready cell into *out, or false. */
static bool q_pop(queue *q, item *out) {
    qcell *c = &q->cell[q->head & (QCAP - 1)];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if ((intptr_t)seq - (intptr_t)(q->head + 1) < 0) return false;
    *out = c->it;
    atomic_store_explicit(&c->seq, q->head + QCAP, memory_order_release);
    q->head++;
    return true;
}

/* ---- life cycle ------------------------------------------------------------------------------- */

static double now_s(const fw_srv_bandits *b) { return (double)(fw_now_ns() - b->t0_ns) / 1e9; }

static void publish(one *o, const double *shares) {
    snap *s = &o->snaps[o->next_snap];
    o->next_snap = (o->next_snap + 1) % NSNAP;
    double c = 0;
    for (size_t i = 0; i < o->n_arms; i++) s->cum[i] = (c += shares[i]);
    s->cum[o->n_arms - 1] = 2; /* the last arm takes rounding */
    atomic_store_explicit(&o->cur, s, memory_order_release);
}

void fw_srv_bandits_tick(fw_srv_bandits *b) {
    if (!b) return;
    double now = now_s(b);
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n; i++) {
        one *o = &b->v[i];
        item *rw = b->rw;
        /* rewards first, then trials: a reward popped here was pushed after its trial's push
           completed, so that trial is popped below (unless a slower producer's cell before it is
           not ready yet: then it joins as unmatched, which is counted) */
        for (;;) {
            size_t nr = 0;
            while (nr < BATCH && q_pop(&o->rewards, &rw[nr])) nr++;
            item c;
            while (q_pop(&o->trials, &c)) fw_bandit_trial(o->b, c.key, c.arm, c.t);
            for (size_t k = 0; k < nr; k++) fw_bandit_reward(o->b, rw[k].key, rw[k].value, rw[k].t);
            if (nr < BATCH) break;
        }
        /* the posterior changed (a trial settled by its first reward or closed by its window) or
           silent trials are in flight (their weight grows with their age): new shares */
        fw_bandit_counts c;
        fw_bandit_counts_get(o->b, &c);
        size_t closed = fw_bandit_advance(o->b, now);
        bool silent = false;
        for (size_t a = 0; a < o->n_arms && !silent; a++) {
            fw_bandit_arm_stats st;
            fw_bandit_arm(o->b, (int)a, &st);
            silent = st.pending > 0;
        }
        if (closed || c.joined != o->joined || silent || o->was_silent) {
            o->joined = c.joined;
            o->was_silent = silent;
            double sh[FW_BANDIT_MAX_ARMS];
            fw_bandit_shares(o->b, sh);
            publish(o, sh);
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static void *updater(void *arg) {
    fw_srv_bandits *b = arg;
    pthread_mutex_lock(&b->stop_mu);
    while (!b->stop) {
        pthread_mutex_unlock(&b->stop_mu);
        fw_srv_bandits_tick(b);
        pthread_mutex_lock(&b->stop_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (!b->stop) pthread_cond_timedwait(&b->stop_cv, &b->stop_mu, &ts);
    }
    pthread_mutex_unlock(&b->stop_mu);
    return NULL;
}

fw_status fw_srv_bandits_new(const fw_serve_config *cfg, fw_srv_bandits **out, fw_err *err) {
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_splits; i++) n += cfg->splits[i].kind == FW_SPLIT_BANDIT;
    if (!n) return FW_OK;
    fw_srv_bandits *b = fw_calloc(1, sizeof *b);
    if (!b || !(b->v = fw_calloc(n, sizeof *b->v))) {
        fw_free(b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    b->t0_ns = fw_now_ns();
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->stop_mu, NULL);
    pthread_cond_init(&b->stop_cv, NULL);
    fw_status st = FW_OK;
    for (size_t i = 0; i < cfg->n_splits && st == FW_OK; i++) {
        const fw_serve_split *sp = &cfg->splits[i];
        if (sp->kind != FW_SPLIT_BANDIT) continue;
        one *o = &b->v[b->n++];
        o->sp = sp;
        o->n_arms = 2 + sp->n_challengers;
        if (o->n_arms > FW_BANDIT_MAX_ARMS) {
            st = fw_err_set(err, FW_EINVAL, "serving.splits: bandit on '%s' has more than %d arms", sp->model,
                            FW_BANDIT_MAX_ARMS);
            break;
        }
        o->ref[1] = sp->challenger;
        for (size_t j = 0; j < sp->n_challengers; j++) o->ref[2 + j] = sp->challengers[j];
        for (size_t a = 0; a < o->n_arms && st == FW_OK; a++) {
            const char *nm = a ? o->ref[a] : sp->model;
            size_t len = strlen(nm) + (a ? 1 : 9);
            if (!(o->name[a] = fw_malloc(len))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
            else if (a) memcpy(o->name[a], nm, len);
            else snprintf(o->name[a], len, "%s@default", nm);
        }
        fw_bandit_opts bo;
        fw_bandit_opts_init(&bo);
        bo.n_arms = o->n_arms;
        bo.model = sp->reward_mean ? FW_BANDIT_MEAN : FW_BANDIT_RATE;
        bo.min_share = sp->min_share;
        bo.window = sp->reward_window_s;
        bo.seed = sp->seed;
        if (st == FW_OK) st = fw_bandit_new(&bo, &o->b, err);
        if (st == FW_OK && (!q_init(&o->trials) || !q_init(&o->rewards) || !(o->snaps = fw_calloc(NSNAP, sizeof *o->snaps))))
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        if (st == FW_OK) {
            double sh[FW_BANDIT_MAX_ARMS];
            fw_bandit_shares(o->b, sh);
            publish(o, sh);
        }
    }
    if (st == FW_OK && pthread_create(&b->thread, NULL, updater, b) != 0)
        st = fw_err_set(err, FW_ENOMEM, "cannot start the bandit thread");
    else if (st == FW_OK)
        b->started = true;
    if (st) {
        fw_srv_bandits_free(b);
        return st;
    }
    *out = b;
    return FW_OK;
}

void fw_srv_bandits_free(fw_srv_bandits *b) {
    if (!b) return;
    if (b->started) {
        pthread_mutex_lock(&b->stop_mu);
        b->stop = true;
        pthread_cond_signal(&b->stop_cv);
        pthread_mutex_unlock(&b->stop_mu);
        pthread_join(b->thread, NULL);
    }
    for (size_t i = 0; i < b->n; i++) {
        one *o = &b->v[i];
        fw_bandit_free(o->b);
        fw_free(o->trials.cell);
        fw_free(o->rewards.cell);
        fw_free(o->snaps);
        for (size_t a = 0; a < FW_BANDIT_MAX_ARMS; a++) fw_free(o->name[a]);
    }
    fw_free(b->v);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->stop_mu);
    pthread_cond_destroy(&b->stop_cv);
    fw_free(b);
}

/* ---- the request path ------------------------------------------------------------------------- */

static one *find_one(fw_srv_bandits *b, const fw_serve_split *sp) {
    for (size_t i = 0; b && i < b->n; i++)
        if (b->v[i].sp == sp) return &b->v[i];
    return NULL;
}

uint64_t fw_srv_bandit_key(const char *rid) {
    uint64_t k = 0;
    for (int i = 0; i < 16; i++) {
        char c = rid[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return 0;
        k = k << 4 | (uint64_t)d;
    }
    return k;
}

int fw_srv_bandit_pick(fw_srv_bandits *b, const fw_serve_split *sp, uint64_t key, const char **ref) {
    one *o = find_one(b, sp);
    *ref = NULL;
    if (!o) return 0;
    /* the key is a keyed PRF's output (request_id.h): uniform, and independent of everything the
       sampler saw; mixed once more so the bits differ from the join key's use */
    uint64_t h = key * 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    double u = (double)(h >> 11) / 9007199254740992.0;
    const snap *s = atomic_load_explicit(&o->cur, memory_order_acquire);
    int arm = 0;
    while ((size_t)arm + 1 < o->n_arms && u >= s->cum[arm]) arm++;
    *ref = o->ref[arm];
    return arm;
}

void fw_srv_bandit_trial(fw_srv_bandits *b, const fw_serve_split *sp, uint64_t key, int arm) {
    one *o = find_one(b, sp);
    if (!o || !key || arm < 0 || (size_t)arm >= o->n_arms) return;
    atomic_fetch_add_explicit(&o->picked[arm], 1, memory_order_relaxed);
    q_push(&o->trials, key, arm, 0, now_s(b));
}

void fw_srv_bandit_feedback(fw_srv_bandits *b, const char *rid, const char *event, double value) {
    if (!b || !rid || !event) return;
    uint64_t key = 0;
    for (size_t i = 0; i < b->n; i++) {
        one *o = &b->v[i];
        if (strcmp(o->sp->reward_event, event) != 0) continue;
        if (!key && strlen(rid) < 16) return;
        if (!key && !(key = fw_srv_bandit_key(rid))) return;
        q_push(&o->rewards, key, 0, value, now_s(b));
    }
}

/* ---- state ------------------------------------------------------------------------------------ */

void fw_srv_bandits_json(fw_srv_bandits *b, fw_buf *out) {
    fw_buf_printf(out, "{\"bandits\":[");
    if (b) pthread_mutex_lock(&b->mu);
    for (size_t i = 0; b && i < b->n; i++) {
        one *o = &b->v[i];
        fw_buf_printf(out, "%s{\"model\":", i ? "," : "");
        fw_json_put_str(out, o->sp->model);
        fw_buf_printf(out, ",\"reward\":{\"event\":");
        fw_json_put_str(out, o->sp->reward_event);
        fw_buf_printf(out, ",\"kind\":\"%s\",\"window_s\":", o->sp->reward_mean ? "mean" : "rate");
        fw_json_put_f64(out, o->sp->reward_window_s);
        fw_buf_printf(out, "},\"routed\":[");
        for (size_t a = 0; a < o->n_arms; a++)
            fw_buf_printf(out, "%s%llu", a ? "," : "", (unsigned long long)atomic_load(&o->picked[a]));
        fw_buf_printf(out, "],\"dropped_trials\":%llu,\"dropped_rewards\":%llu,\"state\":",
                      (unsigned long long)atomic_load(&o->trials.dropped),
                      (unsigned long long)atomic_load(&o->rewards.dropped));
        fw_bandit_json(o->b, (const char *const *)o->name, out);
        fw_buf_put_u8(out, '}');
    }
    if (b) pthread_mutex_unlock(&b->mu);
    fw_buf_printf(out, "]}");
}

static void label(fw_buf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') fw_buf_printf(out, "\\%c", *s);
        else if (*s == '\n') fw_buf_printf(out, "\\n");
        else fw_buf_put_u8(out, (uint8_t)*s);
    }
}

void fw_srv_bandits_metrics(fw_srv_bandits *b, fw_buf *out) {
    if (!b || !b->n) return;
    static const char *const series[][3] = {
        {"flywheel_bandit_share", "gauge", "Routing share of a bandit arm (Thompson sampling, with the floor)."},
        {"flywheel_bandit_p_best", "gauge", "Posterior probability that the arm has the best reward."},
        {"flywheel_bandit_reward_mean", "gauge", "Posterior mean reward of the arm."},
        {"flywheel_bandit_trials_total", "counter", "Trials whose reward window closed (in the posterior)."},
        {"flywheel_bandit_pending", "gauge", "Trials waiting for their reward window to close."},
        {"flywheel_bandit_routed_total", "counter", "Requests the bandit routed to the arm."},
    };
    pthread_mutex_lock(&b->mu);
    for (size_t k = 0; k < sizeof series / sizeof *series; k++) {
        fw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[k][0], series[k][2], series[k][0], series[k][1]);
        for (size_t i = 0; i < b->n; i++) {
            one *o = &b->v[i];
            for (size_t a = 0; a < o->n_arms; a++) {
                fw_bandit_arm_stats st;
                fw_bandit_arm(o->b, (int)a, &st);
                double v = k == 0 ? st.share : k == 1 ? st.p_best : k == 2 ? st.mean : k == 3 ? (double)st.trials
                           : k == 4 ? (double)st.pending : (double)atomic_load(&o->picked[a]);
                fw_buf_printf(out, "%s{model=\"", series[k][0]);
                label(out, o->sp->model);
                fw_buf_printf(out, "\",arm=\"");
                label(out, o->name[a]);
                fw_buf_printf(out, "\"} ");
                if (isfinite(v)) fw_buf_printf(out, "%.17g\n", v);
                else fw_buf_printf(out, "NaN\n");
            }
        }
    }
    fw_buf_printf(out, "# HELP flywheel_bandit_rewards_total Reward events by outcome: joined to an open trial, late "
                       "(after its window), unmatched (no trial), dropped (queue full).\n"
                       "# TYPE flywheel_bandit_rewards_total counter\n");
    for (size_t i = 0; i < b->n; i++) {
        one *o = &b->v[i];
        fw_bandit_counts c;
        fw_bandit_counts_get(o->b, &c);
        const char *names[4] = {"joined", "late", "unmatched", "dropped"};
        unsigned long long v[4] = {c.joined, c.late, c.unmatched, atomic_load(&o->rewards.dropped)};
        for (int k = 0; k < 4; k++) {
            fw_buf_printf(out, "flywheel_bandit_rewards_total{model=\"");
            label(out, o->sp->model);
            fw_buf_printf(out, "\",outcome=\"%s\"} %llu\n", names[k], v[k]);
        }
    }
    pthread_mutex_unlock(&b->mu);
}
