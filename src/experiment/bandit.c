/* bandit.c — owns the Thompson-sampling bandit of bandit.h: the pending trials (a FIFO ring in
 * arrival order with an open-addressing index by key), the first rewards that settle them and the
 * windows that close them into the arms' posteriors, the observed reward delays (a histogram per
 * arm) that weigh the still-silent pending trials, the seeded draws (xoshiro256**, Marsaglia-Tsang gamma for the Beta posterior, a
 * normal for the Gaussian one) that estimate each arm's probability of being best, the exploration
 * floor, and the JSON state. */
#include "experiment/bandit.h"

#include "core/alloc.h"
#include "core/json_out.h"

#include <math.h>
#include <string.h>

typedef struct trial {
    uint64_t key;
    double t0, t1, sum; /* t1: its first reward's time (hits > 0) */
    uint32_t hits;
    uint8_t arm, live; /* live: window still open (not closed) */
} trial;

#define NBINS 64       /* the delay histogram: first-reward delays as a fraction of the window */
#define PRIOR_DELAYS 4 /* pseudo-observations spread evenly over the window before any is seen */

typedef struct arm_acc {
    uint64_t n, pending, begun; /* n: in the posterior; pending: open and silent */
    uint64_t closed, closed_hit; /* windows closed, and of those the ones that had a reward */
    uint64_t delay[NBINS];       /* first-reward delays of the closed trials that had one */
    double s, ss;
    double wait_w;               /* the silent pending trials' weight, as of the last fw_bandit_shares */
} arm_acc;

struct fw_bandit {
    fw_bandit_opts o;
    trial *ring;        /* FIFO of pending trials: head (oldest) .. head + count */
    size_t cap, head, count;
    uint32_t *index;    /* open addressing: ring position + 1, 0 empty */
    size_t icap;        /* power of two >= 2 cap */
    arm_acc arm[FW_BANDIT_MAX_ARMS];
    double share[FW_BANDIT_MAX_ARMS], p_best[FW_BANDIT_MAX_ARMS];
    fw_bandit_counts c;
    uint64_t rng[4];
    double now; /* the last fw_bandit_advance's */
};

/* ---- random numbers (xoshiro256**, seeded by splitmix64) ---------------------------------------- */

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double unif(uint64_t *s) { return ((double)(next64(s) >> 11) + 0.5) / 9007199254740992.0; }

static double gauss(uint64_t *s) { /* Box-Muller, one of the pair (simple and deterministic) */
    double u = unif(s), v = unif(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Gamma(a, 1), a > 0: Marsaglia and Tsang (2000); a < 1 by Gamma(a + 1) U^(1/a). */
static double gamma_draw(uint64_t *s, double a) {
    if (a < 1) return gamma_draw(s, a + 1) * pow(unif(s), 1 / a);
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x, v;
        do {
            x = gauss(s);
            v = 1 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = unif(s);
        if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v;
    }
}

static double beta_draw(uint64_t *s, double a, double b) {
    double x = gamma_draw(s, a), y = gamma_draw(s, b);
    return x / (x + y);
}

/* ---- life cycle ------------------------------------------------------------------------------- */

void fw_bandit_opts_init(fw_bandit_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_arms = 2;
    o->min_share = 0.05;
    o->window = 3600;
    o->draws = 1024;
    o->seed = 1;
    o->max_pending = 262144;
    o->prior_a = o->prior_b = 1;
}

fw_status fw_bandit_new(const fw_bandit_opts *o, fw_bandit **out, fw_err *err) {
    *out = NULL;
    if (o->n_arms < 2 || o->n_arms > FW_BANDIT_MAX_ARMS)
        return fw_err_set(err, FW_EINVAL, "a bandit needs 2 to %d arms (got %zu)", FW_BANDIT_MAX_ARMS, o->n_arms);
    if (!(o->min_share >= 0) || o->min_share * (double)o->n_arms > 1 + 1e-12)
        return fw_err_set(err, FW_EINVAL, "min_share %g: want 0 <= min_share <= 1 / arms (%zu arms)", o->min_share,
                          o->n_arms);
    if (!(o->window > 0) || !isfinite(o->window))
        return fw_err_set(err, FW_EINVAL, "the reward window must be > 0");
    if (!o->draws) return fw_err_set(err, FW_EINVAL, "draws must be > 0");
    if (o->max_pending < 1 || o->max_pending > ((size_t)1 << 30))
        return fw_err_set(err, FW_EINVAL, "max_pending must be in 1 .. 2^30");
    if (!(o->prior_a > 0) || !(o->prior_b > 0)) return fw_err_set(err, FW_EINVAL, "the Beta prior must be > 0");
    if (o->model != FW_BANDIT_RATE && o->model != FW_BANDIT_MEAN) return fw_err_set(err, FW_EINVAL, "unknown reward model");
    fw_bandit *b = fw_calloc(1, sizeof *b);
    if (!b) return fw_err_set(err, FW_ENOMEM, "out of memory");
    b->o = *o;
    b->cap = o->max_pending;
    b->icap = 16;
    while (b->icap < 2 * b->cap) b->icap *= 2;
    b->ring = fw_calloc(b->cap, sizeof *b->ring);
    b->index = fw_calloc(b->icap, sizeof *b->index);
    if (!b->ring || !b->index) {
        fw_bandit_free(b);
        return fw_err_set(err, FW_ENOMEM, "out of memory (%zu pending trials)", o->max_pending);
    }
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++) b->rng[i] = splitmix(&x);
    for (size_t i = 0; i < o->n_arms; i++) b->share[i] = b->p_best[i] = 1.0 / (double)o->n_arms;
    *out = b;
    return FW_OK;
}

void fw_bandit_free(fw_bandit *b) {
    if (!b) return;
    fw_free(b->ring);
    fw_free(b->index);
    fw_free(b);
}

/* ---- the pending index ------------------------------------------------------------------------ */

static size_t slot_of(const fw_bandit *b, uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & (b->icap - 1);
}

/* The ring position of key's pending trial, or SIZE_MAX; *where gets its index slot (or the empty
 * slot where it would go). */
static size_t find(const fw_bandit *b, uint64_t key, size_t *where) {
    size_t i = slot_of(b, key);
    while (b->index[i]) {
        size_t pos = b->index[i] - 1;
        if (b->ring[pos].key == key) {
            *where = i;
            return pos;
        }
        i = (i + 1) & (b->icap - 1);
    }
    *where = i;
    return SIZE_MAX;
}

/* Removes index slot i by backward shift (no tombstones). */
static void unindex(fw_bandit *b, size_t i) {
    size_t m = b->icap - 1, j = i;
    for (;;) {
        j = (j + 1) & m;
        if (!b->index[j]) break;
        size_t home = slot_of(b, b->ring[b->index[j] - 1].key);
        /* move j to i when its home is not cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            b->index[i] = b->index[j];
            i = j;
        }
    }
    b->index[i] = 0;
}

/* ---- trials and rewards ----------------------------------------------------------------------- */

bool fw_bandit_trial(fw_bandit *b, uint64_t key, int arm, double t) {
    size_t where;
    if (arm < 0 || (size_t)arm >= b->o.n_arms || !key || b->count == b->cap || find(b, key, &where) != SIZE_MAX ||
        !isfinite(t)) {
        b->c.untracked++;
        return false;
    }
    size_t pos = (b->head + b->count++) % b->cap;
    b->ring[pos] = (trial){.key = key, .t0 = t, .arm = (uint8_t)arm, .live = 1};
    b->index[where] = (uint32_t)(pos + 1);
    b->arm[arm].pending++;
    b->arm[arm].begun++;
    return true;
}

bool fw_bandit_reward(fw_bandit *b, uint64_t key, double value, double t) {
    size_t where, pos = key ? find(b, key, &where) : SIZE_MAX;
    if (pos == SIZE_MAX) {
        b->c.unmatched++;
        return false;
    }
    trial *tr = &b->ring[pos];
    if (!(t <= tr->t0 + b->o.window)) {
        b->c.late++;
        return false;
    }
    if (isnan(value)) value = 1;
    if (!isfinite(value)) {
        b->c.unmatched++;
        return false;
    }
    arm_acc *a = &b->arm[tr->arm];
    if (!tr->hits) { /* the first reward settles the trial: it enters the posterior now */
        double r = b->o.model == FW_BANDIT_RATE ? 1 : value;
        a->n++;
        a->s += r;
        a->ss += r * r;
        a->pending--;
        tr->t1 = t < tr->t0 ? tr->t0 : t;
    } else if (b->o.model == FW_BANDIT_MEAN) { /* a later one within the window adds to its sum */
        a->s += value;
        a->ss += (tr->sum + value) * (tr->sum + value) - tr->sum * tr->sum;
    }
    tr->sum += value;
    tr->hits++;
    b->c.joined++;
    return true;
}

static void close_trial(fw_bandit *b, trial *tr) {
    arm_acc *a = &b->arm[tr->arm];
    a->closed++;
    if (tr->hits) { /* already in the posterior; its delay joins the histogram */
        a->closed_hit++;
        size_t bin = (size_t)((tr->t1 - tr->t0) / b->o.window * NBINS);
        a->delay[bin < NBINS ? bin : NBINS - 1]++;
    } else { /* silent to the end: a 0 */
        a->n++;
        a->pending--;
    }
    tr->live = 0;
}

size_t fw_bandit_advance(fw_bandit *b, double now) {
    size_t closed = 0;
    if (now > b->now) b->now = now;
    /* the ring is in arrival order; a trial that arrived a little out of time order waits for
       the ones before it (its rewards are still cut at its own window: fw_bandit_reward) */
    while (b->count) {
        trial *tr = &b->ring[b->head];
        if (!(tr->t0 + b->o.window <= now)) break;
        size_t where;
        if (find(b, tr->key, &where) != SIZE_MAX) unindex(b, where);
        close_trial(b, tr);
        b->head = (b->head + 1) % b->cap;
        b->count--;
        closed++;
    }
    return closed;
}

/* ---- the silent pending trials ------------------------------------------------------------------ */

/* Each arm's wait_w: the number of failures its silent pending trials are worth now. A trial of
 * age x with no reward yet would have shown one by now with probability F(x) (F: the arm's observed
 * first-reward delays over the window, with PRIOR_DELAYS spread evenly), so its silence is evidence
 * of a 0 worth w = F(x) (1 - q) / (1 - q F(x)) trials, q being the arm's chance of a reward at all:
 * E[settled + w x silent] = F(x), the share of the trial's information that has arrived. q is
 * estimated from the closed trials and the open ones alike — an open trial of age x has shown its
 * reward by now with probability q F(x), so q = (rewarded) / (closed + sum of F over the open),
 * with one pseudo-reward in two. Counting rewards at once and silence only at the window's end
 * would overrate an arm with many trials in flight; this weighs both as they come. */
static void weigh_pending(fw_bandit *b) {
    size_t k = b->o.n_arms;
    double cdf[FW_BANDIT_MAX_ARMS][NBINS + 1], fopen_[FW_BANDIT_MAX_ARMS], settled[FW_BANDIT_MAX_ARMS];
    for (size_t i = 0; i < k; i++) {
        arm_acc *a = &b->arm[i];
        double tot = (double)a->closed_hit + PRIOR_DELAYS, c = 0;
        cdf[i][0] = 0;
        for (size_t j = 0; j < NBINS; j++) {
            c += (double)a->delay[j] + (double)PRIOR_DELAYS / NBINS;
            cdf[i][j + 1] = c / tot;
        }
        fopen_[i] = settled[i] = a->wait_w = 0;
    }
    /* pass 1: F summed over every open trial and the settled ones, for q; pass 2: the silent
       trials' weights */
    double q[FW_BANDIT_MAX_ARMS];
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            for (size_t i = 0; i < k; i++) {
                const arm_acc *a = &b->arm[i];
                q[i] = ((double)a->closed_hit + settled[i] + 1) / ((double)a->closed + fopen_[i] + 2);
                if (!(q[i] < 1)) q[i] = 1; /* every trial rewarded so far: silence says nothing yet */
            }
        for (size_t n = 0; n < b->count; n++) {
            const trial *tr = &b->ring[(b->head + n) % b->cap];
            double x = (b->now - tr->t0) / b->o.window * NBINS, F = 0;
            if (x >= NBINS) F = 1;
            else if (x > 0) {
                size_t j = (size_t)x;
                F = cdf[tr->arm][j] + (x - (double)j) * (cdf[tr->arm][j + 1] - cdf[tr->arm][j]);
            }
            if (!pass) {
                fopen_[tr->arm] += F;
                settled[tr->arm] += tr->hits > 0;
            } else if (!tr->hits && F > 0 && q[tr->arm] < 1) {
                b->arm[tr->arm].wait_w += F * (1 - q[tr->arm]) / (1 - q[tr->arm] * F);
            }
        }
    }
}

/* ---- shares ----------------------------------------------------------------------------------- */

void fw_bandit_shares(fw_bandit *b, double *shares) {
    size_t k = b->o.n_arms;
    double mu[FW_BANDIT_MAX_ARMS], sd[FW_BANDIT_MAX_ARMS], pa[FW_BANDIT_MAX_ARMS], pb[FW_BANDIT_MAX_ARMS];
    weigh_pending(b);
    if (b->o.model == FW_BANDIT_RATE) {
        for (size_t i = 0; i < k; i++) {
            pa[i] = b->o.prior_a + b->arm[i].s;
            pb[i] = b->o.prior_b + (double)b->arm[i].n + b->arm[i].wait_w - b->arm[i].s;
        }
    } else { /* Gaussian: one pseudo-observation at the pooled mean with the pooled variance */
        double n = 0, s = 0, ss = 0;
        for (size_t i = 0; i < k; i++) {
            n += (double)b->arm[i].n + b->arm[i].wait_w;
            s += b->arm[i].s;
            ss += b->arm[i].ss;
        }
        double m0 = n > 0 ? s / n : 0, v0 = n > 1 ? (ss - s * s / n) / (n - 1) : 1;
        if (!(v0 > 1e-12)) v0 = 1e-12;
        for (size_t i = 0; i < k; i++) {
            double ni = (double)b->arm[i].n + b->arm[i].wait_w, si = b->arm[i].s; /* silent: zeros */
            double within = ni > 0 ? b->arm[i].ss - si * si / ni : 0;
            if (within < 0) within = 0;
            double var = (within + v0) / (ni + 1); /* the reward's variance, shrunk to the pool's */
            mu[i] = (si + m0) / (ni + 1);
            sd[i] = sqrt(var / (ni + 1));
        }
    }
    uint32_t wins[FW_BANDIT_MAX_ARMS] = {0};
    for (uint32_t d = 0; d < b->o.draws; d++) {
        size_t best = 0;
        double bv = -INFINITY;
        for (size_t i = 0; i < k; i++) {
            double x = b->o.model == FW_BANDIT_RATE ? beta_draw(b->rng, pa[i], pb[i]) : mu[i] + sd[i] * gauss(b->rng);
            if (x > bv) {
                bv = x;
                best = i;
            }
        }
        wins[best]++;
    }
    double free_ = 1 - (double)k * b->o.min_share;
    if (free_ < 0) free_ = 0;
    for (size_t i = 0; i < k; i++) {
        b->p_best[i] = (double)wins[i] / (double)b->o.draws;
        b->share[i] = b->o.min_share + free_ * b->p_best[i];
        shares[i] = b->share[i];
    }
}

int fw_bandit_pick(const double *shares, size_t n_arms, double u) {
    double c = 0;
    for (size_t i = 0; i + 1 < n_arms; i++) {
        c += shares[i];
        if (u < c) return (int)i;
    }
    return (int)n_arms - 1;
}

/* ---- reading ---------------------------------------------------------------------------------- */

void fw_bandit_arm(const fw_bandit *b, int arm, fw_bandit_arm_stats *out) {
    memset(out, 0, sizeof *out);
    if (arm < 0 || (size_t)arm >= b->o.n_arms) return;
    const arm_acc *a = &b->arm[arm];
    out->trials = a->n;
    out->reward_sum = a->s;
    out->reward_sumsq = a->ss;
    out->pending = a->pending;
    out->pending_weight = a->wait_w;
    out->begun = a->begun;
    double n = (double)a->n + a->wait_w;
    out->mean = b->o.model == FW_BANDIT_RATE ? (b->o.prior_a + a->s) / (b->o.prior_a + b->o.prior_b + n)
                : n > 0 ? a->s / n
                        : NAN;
    out->share = b->share[arm];
    out->p_best = b->p_best[arm];
}

void fw_bandit_counts_get(const fw_bandit *b, fw_bandit_counts *out) { *out = b->c; }

static void put_num(fw_buf *o, double v) {
    if (isfinite(v)) fw_json_put_f64(o, v);
    else fw_buf_printf(o, "null");
}

void fw_bandit_json(const fw_bandit *b, const char *const *names, fw_buf *o) {
    fw_buf_printf(o, "{\"reward_model\":\"%s\",\"window\":", b->o.model == FW_BANDIT_RATE ? "beta-bernoulli" : "gaussian");
    put_num(o, b->o.window);
    fw_buf_printf(o, ",\"min_share\":");
    put_num(o, b->o.min_share);
    fw_buf_printf(o, ",\"draws\":%u,\"arms\":[", b->o.draws);
    for (size_t i = 0; i < b->o.n_arms; i++) {
        fw_bandit_arm_stats st;
        fw_bandit_arm(b, (int)i, &st);
        fw_buf_printf(o, "%s{\"arm\":", i ? "," : "");
        if (names) fw_json_put_str(o, names[i]);
        else fw_buf_printf(o, "\"%zu\"", i);
        fw_buf_printf(o, ",\"share\":");
        put_num(o, st.share);
        fw_buf_printf(o, ",\"p_best\":");
        put_num(o, st.p_best);
        fw_buf_printf(o, ",\"trials\":%llu,\"reward_sum\":", (unsigned long long)st.trials);
        put_num(o, st.reward_sum);
        fw_buf_printf(o, ",\"mean\":");
        put_num(o, st.mean);
        fw_buf_printf(o, ",\"pending\":%llu,\"pending_weight\":", (unsigned long long)st.pending);
        put_num(o, st.pending_weight);
        fw_buf_printf(o, ",\"begun\":%llu}", (unsigned long long)st.begun);
    }
    fw_buf_printf(o, "],\"untracked_trials\":%llu,\"joined_rewards\":%llu,\"late_rewards\":%llu,\"unmatched_rewards\":%llu}",
                  (unsigned long long)b->c.untracked, (unsigned long long)b->c.joined, (unsigned long long)b->c.late,
                  (unsigned long long)b->c.unmatched);
}
