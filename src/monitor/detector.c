/* detector.c — owns the drift detector of one column (detector.h): the slot lookup of the request
 * path, the calibration of the window chi-square threshold by a deterministic simulation of the
 * reference, the pooled two-sample chi-square with its PSI floor, the score CUSUM of numeric
 * columns and the rate CUSUMs. */
#include "monitor/detector.h"

#include "monitor/bins.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "monitor/calib_cache.h"
#include "monitor/stats.h"

#include <pthread.h>
#include <stdatomic.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_EXPECTED 5.0 /* rows a pooled cell expects in a window (the chi-square rule of thumb) */

struct fw_detector {
    char *name;
    bool numeric;
    fw_detector_settings set;
    uint32_t n_cells; /* drift cells; the missing slot is n_cells */
    /* numeric: bin b is [edges[b], edges[b+1]) (the last closed), out-of-range values in the end bins */
    uint32_t n_bins;
    double *edges;
    bool sorted;       /* the inner edges edges[1..n_bins) ascending: searched by halving (bins.h) */
    /* categorical: top values, open-addressing table of index + 1 */
    uint32_t n_top;
    char **top;
    size_t *top_len;
    uint32_t *table;
    uint32_t table_mask;
    /* the reference */
    double *ref;       /* counts per cell */
    double ref_n;      /* non-missing rows */
    double ref_rows;   /* all rows */
    double ref_missing;
    /* pooling for the chi-square: cell → group */
    uint32_t *group;
    uint32_t n_groups;
    double *ref_g;     /* reference counts per group */
    /* FW_DET_CHI2 */
    double alpha_row, alpha_test;
    double fit_c, fit_nu, fit_mean, fit_var; /* moment-matched c * chi2(nu) of the simulated null */
    double chi2_threshold;
    double robust;     /* the threshold covering the reference's own error (99% of references) */
    /* FW_DET_CUSUM (numeric, >= 2 cells with mass) */
    double *z;         /* standardised score per cell */
    bool has_cusum;
    double k_allow, h_cusum;
    double cusum_theta; /* the scores' adjustment coefficient (2k for normal increments) */
    /* FW_DET_CUSUM (categorical): Bernoulli CUSUMs of each cell's share, up and down */
    uint32_t n_cat;    /* sides: 2 per cell; a side that cannot be tested has h = INFINITY */
    fw_rate_cusum *cat;
    double h_cat;
    /* FW_DET_MISSING */
    fw_rate_cusum miss;
    /* settings.defer_calibration: FW_DET_CHI2's threshold is calibrated at its first use */
    _Atomic int calibrated;
    pthread_mutex_t calib_mu;
};

struct fw_detector_state {
    uint32_t cap, head, filled; /* ring of the last `cap` blocks */
    uint32_t n_slots, n_cat;
    uint64_t *ring;             /* cap * n_slots */
    uint64_t *win;              /* n_slots: the ring's sum */
    double *scratch;            /* n_groups: pooled window counts */
    double cus_pos, cus_neg;
    fw_rate_cusum *cat;         /* n_cat: the categorical CUSUMs */
    fw_rate_cusum miss;
};

void fw_detector_settings_init(fw_detector_settings *s) {
    memset(s, 0, sizeof *s);
    s->false_alarms_per_100k = 0.5;
    s->family_size = 1;
    s->window_rows = 500;
    s->step_rows = 50;
    s->min_psi = 0.1;
    s->cusum_shift = 0.25;
    s->rate_shift = 0.1;
    s->calib_windows = 2000;
    s->seed = 20261206u;
}

uint32_t fw_detector_family_size(uint32_t n_columns, uint32_t extra_tests) {
    uint64_t f = (uint64_t)n_columns * FW_DETECTOR_TESTS_PER_COLUMN + extra_tests;
    if (f < 1) f = 1;
    if (f > UINT32_MAX) f = UINT32_MAX;
    return (uint32_t)f;
}

double fw_detector_alpha_row(const fw_detector_settings *s) {
    double fam = s->family_size ? (double)s->family_size : 1.0;
    return s->false_alarms_per_100k / 1e5 / fam;
}

const char *fw_detector_test_name(fw_detector_test t) {
    switch (t) {
    case FW_DET_CHI2: return "chi2";
    case FW_DET_CUSUM: return "cusum";
    case FW_DET_MISSING: return "missing_rate";
    default: return NULL;
    }
}

/* ---- rate CUSUM --------------------------------------------------------------------------- */

void fw_rate_cusum_init(fw_rate_cusum *c, double ref_hits, double ref_n, double shift, double alpha_row) {
    memset(c, 0, sizeof *c);
    if (!(ref_n >= 0)) ref_n = 0;
    if (!(ref_hits >= 0)) ref_hits = 0;
    double p = (ref_hits + 0.5) / (ref_n + 1);
    /* the reference is a sample: take the rate two standard errors up, so the bound below holds
     * for the true rate behind the reference, not only for its estimate */
    p += 2 * sqrt(p * (1 - p) / (ref_n + 1));
    if (p > 0.98) p = 0.98;
    double p1 = p + (shift > 0 ? shift : 0.1);
    if (p1 > 0.995) p1 = (p + 1) / 2;
    c->p0 = p;
    c->p1 = p1;
    c->llr_hit = log(p1 / p);
    c->llr_miss = log((1 - p1) / (1 - p));
    if (!(alpha_row > 0 && alpha_row < 1)) alpha_row = 1e-9;
    c->h = -log(alpha_row); /* Lorden: the average run length without change is >= e^h */
    c->s = 0;
}

int fw_rate_cusum_update(fw_rate_cusum *c, uint64_t hits, uint64_t n) {
    if (hits > n) hits = n;
    c->s += (double)hits * c->llr_hit + (double)(n - hits) * c->llr_miss;
    if (c->s < 0) c->s = 0;
    if (c->s > 2 * c->h) c->s = 2 * c->h;
    return c->s >= c->h;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* The standard normal quantile (Acklam's rational approximation, one Newton step on erfc). */
static double norm_ppf(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        double q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = 0.5 * erfc(-x / M_SQRT2) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* A binomial draw: inversion when the mean is small, else the rounded normal approximation (the
 * calibration needs the first two moments of the statistic, not the binomial's far tail). */
static uint64_t binomial(fw_rng *r, uint64_t n, double p) {
    if (n == 0 || p <= 0) return 0;
    if (p >= 1) return n;
    bool flip = p > 0.5;
    double q = flip ? 1 - p : p;
    uint64_t k;
    if ((double)n * q < 25) {
        /* inversion: walk the pmf from 0 */
        double u = fw_rng_uniform(r), pmf = pow(1 - q, (double)n), cdf = pmf;
        k = 0;
        while (u > cdf && k < n) {
            pmf *= (double)(n - k) / (double)(k + 1) * q / (1 - q);
            k++;
            cdf += pmf;
            if (pmf < 1e-300 && cdf < u) break;
        }
    } else {
        double m = (double)n * q, sd = sqrt(m * (1 - q));
        double v = nearbyint(m + sd * fw_rng_normal(r));
        k = v < 0 ? 0 : v > (double)n ? n : (uint64_t)v;
    }
    return flip ? n - k : k;
}

/* Multinomial counts of n rows over k cells with probabilities p (conditional binomials). */
static void multinomial(fw_rng *r, uint64_t n, const double *p, size_t k, double *out) {
    double rest = 1.0;
    for (size_t i = 0; i < k; i++) {
        if (n == 0 || rest <= 0) {
            out[i] = 0;
            continue;
        }
        double pi = i + 1 == k ? 1.0 : p[i] / rest;
        if (pi > 1) pi = 1;
        uint64_t c = binomial(r, n, pi);
        out[i] = (double)c;
        n -= c;
        rest -= p[i];
    }
}

static uint64_t fnv1a(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- creation ----------------------------------------------------------------------------- */

static fw_status check_settings(const fw_detector_settings *s, fw_err *err) {
    if (!(s->false_alarms_per_100k > 0) || !isfinite(s->false_alarms_per_100k))
        return fw_err_set(err, FW_EINVAL, "detector: false_alarms_per_100k must be > 0");
    if (s->step_rows == 0) return fw_err_set(err, FW_EINVAL, "detector: step_rows must be > 0");
    if (s->window_rows < s->step_rows)
        return fw_err_set(err, FW_EINVAL, "detector: window_rows (%u) must be >= step_rows (%u)", s->window_rows,
                          s->step_rows);
    if (s->window_rows / s->step_rows > 10000)
        return fw_err_set(err, FW_EINVAL, "detector: window_rows / step_rows must be <= 10000");
    if (!(s->min_psi >= 0)) return fw_err_set(err, FW_EINVAL, "detector: min_psi must be >= 0");
    if (!(s->cusum_shift > 0)) return fw_err_set(err, FW_EINVAL, "detector: cusum_shift must be > 0");
    if (!(s->rate_shift > 0 && s->rate_shift < 1)) return fw_err_set(err, FW_EINVAL, "detector: rate_shift must be in (0, 1)");
    if (s->calib_windows < 100) return fw_err_set(err, FW_EINVAL, "detector: calib_windows must be >= 100");
    return FW_OK;
}

/* Pools cells expecting under MIN_EXPECTED rows in a window of w rows: the smallest cells go into
 * one group until it expects enough; a pool still short at the end joins the smallest other group. */
static fw_status pool_cells(fw_detector *d, double w) {
    uint32_t k = d->n_cells;
    d->group = fw_malloc(k * sizeof *d->group);
    uint32_t *order = fw_malloc(k * sizeof *order);
    d->ref_g = fw_calloc(k, sizeof *d->ref_g);
    if (!d->group || !order || !d->ref_g) {
        fw_free(order);
        return FW_ENOMEM;
    }
    for (uint32_t i = 0; i < k; i++) order[i] = i;
    /* insertion sort by reference count ascending, index ascending (k is small) */
    for (uint32_t i = 1; i < k; i++) {
        uint32_t v = order[i], j = i;
        while (j > 0 && (d->ref[order[j - 1]] > d->ref[v] || (d->ref[order[j - 1]] == d->ref[v] && order[j - 1] > v))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    double scale = d->ref_n > 0 ? w / d->ref_n : 0;
    uint32_t g = 0, pool = UINT32_MAX;
    double pool_exp = 0;
    uint32_t i = 0;
    for (; i < k; i++) {
        uint32_t c = order[i];
        double e = d->ref[c] * scale;
        if (e >= MIN_EXPECTED && pool == UINT32_MAX) break;
        if (pool == UINT32_MAX) pool = g++;
        d->group[c] = pool;
        pool_exp += e;
        if (pool_exp >= MIN_EXPECTED) {
            pool = UINT32_MAX;
            pool_exp = 0;
        }
    }
    bool short_pool = pool != UINT32_MAX;
    for (; i < k; i++) d->group[order[i]] = g++;
    if (short_pool && g > 1) {
        /* the short pool (the last one opened) joins the smallest other group: the next cell in order */
        uint32_t target = UINT32_MAX;
        for (uint32_t j = 0; j < k; j++)
            if (d->group[order[j]] != pool) {
                target = d->group[order[j]];
                break;
            }
        /* prefer the first group after the pool in the order (the smallest standalone cell) */
        for (uint32_t j = 0; j < k; j++)
            if (d->group[order[j]] == pool && j + 1 < k && d->group[order[j + 1]] != pool) target = d->group[order[j + 1]];
        for (uint32_t j = 0; j < k; j++)
            if (d->group[j] == pool) d->group[j] = target;
        /* renumber densely */
        uint32_t *map = order; /* reuse: group → new id */
        for (uint32_t j = 0; j < g; j++) map[j] = UINT32_MAX;
        uint32_t ng = 0;
        for (uint32_t j = 0; j < k; j++) {
            if (map[d->group[j]] == UINT32_MAX) map[d->group[j]] = ng++;
            d->group[j] = map[d->group[j]];
        }
        g = ng;
    }
    fw_free(order);
    d->n_groups = g;
    for (uint32_t c = 0; c < k; c++) d->ref_g[d->group[c]] += d->ref[c];
    return FW_OK;
}

/* The chi-square threshold at the window's size: S windows and S references drawn from the
 * reference's group probabilities (two samples, as the statistic compares), the statistic's
 * mean and variance matched by c * chi2(nu), its 1 - alpha quantile; never below the plain
 * chi-square quantile with the pooled degrees of freedom. */
static fw_status calibrate_chi2(fw_detector *d) {
    uint32_t k = d->n_groups;
    if (k < 2 || d->ref_n <= 0) {
        d->chi2_threshold = INFINITY;
        return FW_OK;
    }
    /* the process-wide cache (calib_cache.h): the result depends on these inputs alone (a new input
     * of the simulation must join the key) */
    double *key = fw_malloc((k + 8) * sizeof *key);
    if (!key) return FW_ENOMEM;
    key[0] = (double)k;
    key[1] = d->ref_n;
    key[2] = d->ref_rows;
    key[3] = d->ref_missing;
    key[4] = (double)d->set.window_rows;
    memcpy(&key[5], &d->set.seed, sizeof key[5]); /* the seed's bits: every uint64 stays distinct */
    key[6] = (double)d->set.calib_windows;
    key[7] = d->alpha_test;
    memcpy(key + 8, d->ref_g, k * sizeof *key);
    double got[6];
    if (fw_calib_cache_get(key, (k + 8) * sizeof *key, got, 6)) {
        d->fit_mean = got[0];
        d->fit_var = got[1];
        d->fit_c = got[2];
        d->fit_nu = got[3];
        d->chi2_threshold = got[4];
        d->robust = got[5];
        fw_free(key);
        return FW_OK;
    }
    double *p = fw_malloc(k * sizeof *p), *a = fw_malloc(k * sizeof *a), *b = fw_malloc(k * sizeof *b);
    if (!p || !a || !b) {
        fw_free(p);
        fw_free(a);
        fw_free(b);
        fw_free(key);
        return FW_ENOMEM;
    }
    for (uint32_t i = 0; i < k; i++) p[i] = d->ref_g[i] / d->ref_n;
    double miss = d->ref_rows > 0 ? d->ref_missing / d->ref_rows : 0;
    double wn = nearbyint((double)d->set.window_rows * (1 - miss));
    uint64_t w = wn < 1 ? 1 : (uint64_t)wn, nref = (uint64_t)d->ref_n;
    fw_rng r;
    fw_rng_seed(&r, d->set.seed);
    double mean = 0, m2 = 0;
    uint32_t s_n = d->set.calib_windows;
    for (uint32_t s = 0; s < s_n; s++) {
        multinomial(&r, nref, p, k, a);
        multinomial(&r, w, p, k, b);
        double stat = fw_stats_chi2_two_sample(a, b, k, NULL);
        double delta = stat - mean;
        mean += delta / (s + 1);
        m2 += delta * (stat - mean);
    }
    double var = m2 / (s_n - 1);
    fw_free(p);
    fw_free(a);
    fw_free(b);
    double df = (double)(k - 1);
    double plain = fw_stats_chi2_isf(d->alpha_test, df);
    d->fit_mean = mean;
    d->fit_var = var;
    if (mean > 0 && var > 0) {
        d->fit_c = var / (2 * mean);
        d->fit_nu = 2 * mean * mean / var;
        double fit = d->fit_c * fw_stats_chi2_isf(d->alpha_test, d->fit_nu);
        d->chi2_threshold = fit > plain ? fit : plain;
    } else {
        d->fit_c = 1;
        d->fit_nu = df;
        d->chi2_threshold = plain;
    }
    /* The simulation averages over references; a deployment has ONE. Given it, the statistic is
     * about n/(n+w) * chi2(df, lambda) with lambda = w * sum (reference error)^2 / p, itself
     * ~ (w/n) chi2(df) over references. Covering the 99th percentile of lambda (Patnaik's scaled
     * chi-square for the noncentral one) keeps the rate per window <= alpha for 99 of 100
     * references; it matters only when the reference is small next to the window. */
    double wn_ = (double)w, nr = d->ref_n;
    double lam = wn_ / nr * fw_stats_chi2_isf(0.01, df);
    double cc = (df + 2 * lam) / (df + lam), nu2 = (df + lam) * (df + lam) / (df + 2 * lam);
    double robust = nr / (nr + wn_) * cc * fw_stats_chi2_isf(d->alpha_test, nu2);
    d->robust = robust;
    if (robust > d->chi2_threshold) d->chi2_threshold = robust;
    double put[6] = {d->fit_mean, d->fit_var, d->fit_c, d->fit_nu, d->chi2_threshold, d->robust};
    fw_calib_cache_put(key, (k + 8) * sizeof *key, put, 6);
    fw_free(key);
    return FW_OK;
}

fw_status fw_detector_calibrate(const fw_detector *cd) {
    fw_detector *d = (fw_detector *)cd; /* the deferred part of its construction: once, under calib_mu */
    if (atomic_load_explicit(&d->calibrated, memory_order_acquire)) return FW_OK;
    pthread_mutex_lock(&d->calib_mu);
    fw_status st = FW_OK;
    if (!atomic_load_explicit(&d->calibrated, memory_order_relaxed)) {
        st = calibrate_chi2(d);
        if (st == FW_OK) atomic_store_explicit(&d->calibrated, 1, memory_order_release);
    }
    pthread_mutex_unlock(&d->calib_mu);
    return st;
}

bool fw_detector_calibrated(const fw_detector *d) {
    return atomic_load_explicit(&((fw_detector *)d)->calibrated, memory_order_acquire) != 0;
}

/* Siegmund's approximation of a one-sided CUSUM's average run length for increments of unit
 * variance with allowance k and threshold h, written with the increments' adjustment coefficient
 * theta (the root > 0 of E exp(theta (X - k)) = 1; 2k for normal increments, where this is the
 * textbook formula (e^{2kb} - 1 - 2kb) / 2k^2, b = h + 1.166). */
static double siegmund_arl(double theta, double k, double h) {
    double t = theta * (h + 1.166);
    return (exp(t) - 1 - t) / (theta * k);
}

/* The adjustment coefficient of one side of the score CUSUM: theta > 0 with
 * sum_i p_i exp(theta (sign z_i - k)) = 1, the p_i the reference's cell shares. Normal scores of a
 * few cells are not normal: a rare cell (a 0/1 column, the non-zero values of a column 99% zeros)
 * has a standardised score of 10 or more, one row of it a jump no normal increment makes, and a
 * threshold from the normal formula then alarms on three such rows close together. theta carries
 * that: it is smaller than 2k for skewed cells (a larger threshold) and close to 2k for ten
 * quantile bins. INFINITY when no cell's score exceeds k (the sum never grows). */
static double adjustment_coef(const double *ref, const double *z, uint32_t n, double ref_n, double sign, double k) {
    double zmax = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (ref[i] > 0 && sign * z[i] > zmax) zmax = sign * z[i];
    if (!(zmax > k)) return INFINITY;
    double lo = 0, hi = 1;
    for (;;) {
        double f = -1;
        for (uint32_t i = 0; i < n; i++) f += ref[i] / ref_n * exp(hi * (sign * z[i] - k));
        if (f > 0 || hi > 1e6) break;
        lo = hi;
        hi *= 2;
    }
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi), f = -1;
        for (uint32_t i = 0; i < n; i++) f += ref[i] / ref_n * exp(mid * (sign * z[i] - k));
        if (f < 0) lo = mid;
        else hi = mid;
    }
    return hi;
}

static void setup_cusum(fw_detector *d) {
    d->has_cusum = false;
    if (!d->numeric || d->n_cells < 2 || d->ref_n <= 0) return;
    /* the normal score of each bin: the quantile of the middle of its reference mass */
    double cum = 0, mu = 0, var = 0;
    for (uint32_t i = 0; i < d->n_cells; i++) {
        double pi = d->ref[i] / d->ref_n;
        d->z[i] = norm_ppf(cum + pi / 2);
        cum += pi;
        if (!isfinite(d->z[i])) d->z[i] = 0;
    }
    for (uint32_t i = 0; i < d->n_cells; i++) mu += d->ref[i] / d->ref_n * d->z[i];
    for (uint32_t i = 0; i < d->n_cells; i++) var += d->ref[i] / d->ref_n * (d->z[i] - mu) * (d->z[i] - mu);
    if (!(var > 1e-12)) return;
    double sd = sqrt(var);
    for (uint32_t i = 0; i < d->n_cells; i++) d->z[i] = (d->z[i] - mu) / sd;
    /* allowance: half the design shift, plus two standard errors of the reference's own mean score
     * (its sampling error must not accumulate) */
    d->k_allow = d->set.cusum_shift / 2 + 2 / sqrt(d->ref_n);
    double arl = 2 / d->alpha_row; /* two sides share the test's rate */
    /* the smaller side's coefficient, never above the normal increments' 2k: the threshold is at
     * least the normal formula's */
    double theta = 2 * d->k_allow;
    double tp = adjustment_coef(d->ref, d->z, d->n_cells, d->ref_n, 1, d->k_allow);
    double tn = adjustment_coef(d->ref, d->z, d->n_cells, d->ref_n, -1, d->k_allow);
    if (tp < theta) theta = tp;
    if (tn < theta) theta = tn;
    d->cusum_theta = theta;
    double lo = 0, hi = 1;
    while (siegmund_arl(theta, d->k_allow, hi) < arl && hi < 1e9) hi *= 2;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (siegmund_arl(theta, d->k_allow, mid) < arl) lo = mid;
        else hi = mid;
    }
    d->h_cusum = hi;
    d->has_cusum = true;
}

/* The categorical CUSUM: per cell (each top value, "other") two Bernoulli CUSUMs of its share
 * among the non-missing rows, one for an increase and one for a decrease, each designed for a move
 * of cusum_shift standard deviations of the cell's indicator (delta = cusum_shift * sqrt(p (1 - p)),
 * the numeric score CUSUM's design in the same units). The reference share is a sample: the
 * increase side starts from p + 2 SE, the decrease side from p - 2 SE, so Lorden's bound (run
 * length without change >= e^h) holds for the true share behind the reference. The test's rate is
 * split over its sides (Bonferroni): h = ln(2 cells / alpha_row). A side whose design rate leaves
 * (0, 1) is not run (a cell of 1% cannot fall by more; the others' increase sides see it). */
static fw_status setup_cat_cusum(fw_detector *d) {
    d->n_cat = 0;
    d->h_cat = INFINITY;
    if (d->numeric || d->n_cells < 2 || d->ref_n <= 0) return FW_OK;
    d->cat = fw_calloc(2 * (size_t)d->n_cells, sizeof *d->cat);
    if (!d->cat) return FW_ENOMEM;
    d->n_cat = 2 * d->n_cells;
    double alpha = d->alpha_row / (double)d->n_cat;
    d->h_cat = -log(alpha);
    for (uint32_t c = 0; c < d->n_cells; c++) {
        double p = (d->ref[c] + 0.5) / (d->ref_n + 1), se = sqrt(p * (1 - p) / (d->ref_n + 1));
        double delta = d->set.cusum_shift * sqrt(p * (1 - p));
        for (int side = 0; side < 2; side++) {
            fw_rate_cusum *r = &d->cat[2 * c + (uint32_t)side];
            double p0 = side == 0 ? p + 2 * se : p - 2 * se, p1 = side == 0 ? p0 + delta : p0 - delta;
            r->h = INFINITY;
            if (!(p0 > 0 && p0 < 1 && p1 > 0 && p1 < 1)) continue;
            r->p0 = p0;
            r->p1 = p1;
            r->llr_hit = log(p1 / p0);
            r->llr_miss = log((1 - p1) / (1 - p0));
            r->h = d->h_cat;
        }
    }
    return FW_OK;
}

fw_status fw_detector_create(const fw_ref_column *ref, const fw_detector_settings *s, fw_detector **out,
                             fw_err *err) {
    *out = NULL;
    fw_detector_settings def;
    if (!s) {
        fw_detector_settings_init(&def);
        s = &def;
    }
    fw_status st = check_settings(s, err);
    if (st) return st;
    fw_detector *d = fw_calloc(1, sizeof *d);
    if (!d) return fw_err_set(err, FW_ENOMEM, "out of memory");
    pthread_mutex_init(&d->calib_mu, NULL);
    atomic_init(&d->calibrated, 0);
    d->set = *s;
    d->name = fw_strdup(ref->name ? ref->name : "");
    d->numeric = ref->type == FW_COL_NUMERIC || ref->type == FW_COL_TIMESTAMP;
    if (!d->numeric && ref->n_bins > 0 && ref->n_top == 0) d->numeric = true; /* bins say numeric */
    if (!d->name) goto oom;
    d->ref_rows = (double)ref->n_rows;
    d->ref_missing = (double)ref->n_missing;
    if (d->numeric) {
        d->n_bins = ref->n_bins;
        d->n_cells = ref->n_bins ? ref->n_bins : 1;
        d->ref = fw_calloc(d->n_cells, sizeof *d->ref);
        if (!d->ref) goto oom;
        if (ref->n_bins) {
            d->edges = fw_malloc((ref->n_bins + 1) * sizeof *d->edges);
            if (!d->edges) goto oom;
            memcpy(d->edges, ref->edges, (ref->n_bins + 1) * sizeof *d->edges);
            for (uint32_t i = 0; i < ref->n_bins; i++) d->ref[i] = (double)ref->counts[i];
            d->sorted = fw_bins_sorted(d->edges + 1, d->n_bins - 1);
        } else {
            d->ref[0] = (double)(ref->n_rows - ref->n_missing);
        }
    } else {
        d->n_top = ref->n_top;
        d->n_cells = ref->n_top + 1;
        d->ref = fw_calloc(d->n_cells, sizeof *d->ref);
        d->top = fw_calloc(d->n_top ? d->n_top : 1, sizeof *d->top);
        d->top_len = fw_calloc(d->n_top ? d->n_top : 1, sizeof *d->top_len);
        uint32_t size = 8;
        while (size < 4 * d->n_top) size *= 2;
        d->table = fw_calloc(size, sizeof *d->table);
        d->table_mask = size - 1;
        if (!d->ref || !d->top || !d->top_len || !d->table) goto oom;
        for (uint32_t i = 0; i < d->n_top; i++) {
            d->top_len[i] = strlen(ref->top_values[i]);
            d->top[i] = fw_strndup(ref->top_values[i], d->top_len[i]);
            if (!d->top[i]) goto oom;
            d->ref[i] = (double)ref->top_counts[i];
            uint32_t h = (uint32_t)fnv1a(d->top[i], d->top_len[i]) & d->table_mask;
            while (d->table[h]) h = (h + 1) & d->table_mask;
            d->table[h] = i + 1;
        }
        d->ref[d->n_top] = (double)ref->other_count;
    }
    for (uint32_t i = 0; i < d->n_cells; i++) d->ref_n += d->ref[i];
    d->alpha_row = fw_detector_alpha_row(s);
    d->alpha_test = d->alpha_row * s->step_rows;
    if (d->alpha_test > 0.5) d->alpha_test = 0.5;
    double miss = d->ref_rows > 0 ? d->ref_missing / d->ref_rows : 0;
    if (pool_cells(d, (double)s->window_rows * (1 - miss))) goto oom;
    if (!s->defer_calibration && fw_detector_calibrate(d)) goto oom;
    d->z = fw_calloc(d->n_cells, sizeof *d->z);
    if (!d->z) goto oom;
    setup_cusum(d);
    if (setup_cat_cusum(d)) goto oom;
    fw_rate_cusum_init(&d->miss, d->ref_missing, d->ref_rows, s->rate_shift, d->alpha_row);
    *out = d;
    return FW_OK;
oom:
    fw_detector_free(d);
    return fw_err_set(err, FW_ENOMEM, "out of memory");
}

void fw_detector_free(fw_detector *d) {
    if (!d) return;
    fw_free(d->name);
    fw_free(d->edges);
    for (uint32_t i = 0; d->top && i < d->n_top; i++) fw_free(d->top[i]);
    fw_free(d->top);
    fw_free(d->top_len);
    fw_free(d->table);
    fw_free(d->ref);
    fw_free(d->group);
    fw_free(d->ref_g);
    fw_free(d->z);
    fw_free(d->cat);
    pthread_mutex_destroy(&d->calib_mu);
    fw_free(d);
}

const char *fw_detector_column(const fw_detector *d) { return d->name; }
bool fw_detector_numeric(const fw_detector *d) { return d->numeric; }
uint32_t fw_detector_n_slots(const fw_detector *d) { return d->n_cells + 1; }
uint32_t fw_detector_missing_slot(const fw_detector *d) { return d->n_cells; }

double fw_detector_threshold(const fw_detector *d, fw_detector_test t) {
    switch (t) {
    case FW_DET_CHI2: return fw_detector_calibrate(d) ? NAN : d->chi2_threshold;
    case FW_DET_CUSUM: return d->has_cusum ? d->h_cusum : d->n_cat ? d->h_cat : INFINITY;
    case FW_DET_MISSING: return d->miss.h;
    default: return NAN;
    }
}

/* ---- hot path ----------------------------------------------------------------------------- */

uint32_t fw_detector_slot_num(const fw_detector *d, double x) {
    if (isnan(x)) return d->n_cells;
    if (d->n_bins == 0) return 0;
    const double *e = d->edges;
    if (d->sorted) return fw_bins_count_le(e + 1, d->n_bins - 1, x); /* the count of inner edges <= x */
    /* edges out of order (never from fw_reference_build): as before the halving search */
    if (d->n_bins <= 32) {
        uint32_t b = 0;
        for (uint32_t i = 1; i < d->n_bins; i++) b += x >= e[i];
        return b;
    }
    uint32_t lo = 0, hi = d->n_bins - 1;
    while (lo < hi) { /* the last bin b with e[b] <= x; bin 0 below e[1] */
        uint32_t mid = (lo + hi + 1) / 2;
        if (x >= e[mid]) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

const char *fw_detector_top_value(const fw_detector *d, uint32_t j, size_t *len) {
    *len = 0;
    if (d->numeric || j >= d->n_top) return NULL;
    *len = d->top_len[j];
    return d->top[j];
}

const double *fw_detector_inner_edges(const fw_detector *d, uint32_t *n) {
    *n = 0;
    if (!d->numeric) return NULL;
    static const double no_edges[1] = {0};
    if (d->n_bins == 0) return no_edges; /* one bin: every number in slot 0 */
    if (!d->sorted) return NULL;
    *n = d->n_bins - 1;
    return d->edges + 1;
}

uint32_t fw_detector_slot_str(const fw_detector *d, const char *s, size_t len) {
    if (!s) return d->n_cells;
    if (d->numeric) {
        char buf[64];
        if (len == 0 || len >= sizeof buf) return d->n_cells;
        memcpy(buf, s, len);
        buf[len] = 0;
        char *end;
        double x = strtod(buf, &end);
        if (end == buf || *end) return d->n_cells;
        return fw_detector_slot_num(d, x);
    }
    uint32_t h = (uint32_t)fnv1a(s, len) & d->table_mask;
    for (;;) {
        uint32_t v = d->table[h];
        if (!v) return d->n_top; /* other */
        if (d->top_len[v - 1] == len && memcmp(d->top[v - 1], s, len) == 0) return v - 1;
        h = (h + 1) & d->table_mask;
    }
}

/* ---- tests -------------------------------------------------------------------------------- */

fw_status fw_detector_state_new(const fw_detector *d, fw_detector_state **out) {
    *out = NULL;
    fw_detector_state *s = fw_calloc(1, sizeof *s);
    if (!s) return FW_ENOMEM;
    s->cap = d->set.window_rows / d->set.step_rows;
    if (s->cap < 1) s->cap = 1;
    s->n_slots = d->n_cells + 1;
    s->ring = fw_calloc((size_t)s->cap * s->n_slots, sizeof *s->ring);
    s->win = fw_calloc(s->n_slots, sizeof *s->win);
    s->scratch = fw_calloc(d->n_groups ? d->n_groups : 1, sizeof *s->scratch);
    s->cat = fw_calloc(d->n_cat ? d->n_cat : 1, sizeof *s->cat);
    if (!s->ring || !s->win || !s->scratch || !s->cat) {
        fw_detector_state_free(s);
        return FW_ENOMEM;
    }
    s->n_cat = d->n_cat;
    if (d->n_cat) memcpy(s->cat, d->cat, d->n_cat * sizeof *s->cat);
    s->miss = d->miss;
    *out = s;
    return FW_OK;
}

void fw_detector_state_free(fw_detector_state *s) {
    if (!s) return;
    fw_free(s->ring);
    fw_free(s->win);
    fw_free(s->scratch);
    fw_free(s->cat);
    fw_free(s);
}

void fw_detector_state_reset(fw_detector_state *s) {
    memset(s->ring, 0, (size_t)s->cap * s->n_slots * sizeof *s->ring);
    memset(s->win, 0, s->n_slots * sizeof *s->win);
    s->head = s->filled = 0;
    s->cus_pos = s->cus_neg = 0;
    for (uint32_t i = 0; i < s->n_cat; i++) s->cat[i].s = 0;
    s->miss.s = 0;
}

/* chi-square of counts (n_cells slots) over the pooled groups, bb: n_groups doubles of scratch. lazy:
 * the PSI only when the statistic reaches its threshold (settings.effect_when_over), NaN otherwise. */
static void chi2_check(const fw_detector *d, const uint64_t *counts, double *bb, fw_detector_check *out, bool lazy) {
    memset(out, 0, sizeof *out);
    out->cell = -1;
    uint32_t k = d->n_groups;
    if (k < 2 || fw_detector_calibrate(d)) return; /* deferred: calibrated at its first use */
    memset(bb, 0, k * sizeof *bb);
    uint64_t n = 0;
    for (uint32_t c = 0; c < d->n_cells; c++) {
        bb[d->group[c]] += (double)counts[c];
        n += counts[c];
    }
    out->rows = n;
    if (n >= 1) {
        out->evaluated = 1;
        out->value = fw_stats_chi2_two_sample(d->ref_g, bb, k, NULL);
        out->threshold = d->chi2_threshold;
        out->effect = lazy && !(out->value >= out->threshold) ? NAN : fw_stats_psi(d->ref_g, bb, k, 0.5);
        out->reference = d->set.min_psi;
        out->active = out->value >= out->threshold && out->effect >= d->set.min_psi;
    }
}

void fw_detector_test_window(const fw_detector *d, const uint64_t *counts, fw_detector_check *out) {
    double b[64];
    if (d->n_groups <= 64) {
        chi2_check(d, counts, b, out, false);
        return;
    }
    double *heap = fw_malloc(d->n_groups * sizeof *heap); /* references with over 64 bins only */
    if (!heap) {
        memset(out, 0, sizeof *out);
        return;
    }
    chi2_check(d, counts, heap, out, false);
    fw_free(heap);
}

void fw_detector_step(const fw_detector *d, fw_detector_state *s, const uint64_t *block,
                      fw_detector_check check[FW_DETECTOR_TESTS]) {
    memset(check, 0, FW_DETECTOR_TESTS * sizeof *check);
    for (int t = 0; t < FW_DETECTOR_TESTS; t++) check[t].cell = -1;
    uint32_t ns = s->n_slots;
    /* slide: the oldest block leaves the window once the ring is full; in the same pass the block's
     * rows and the window's (integers: the order of the adds does not matter) */
    uint64_t *slot = s->ring + (size_t)s->head * ns;
    bool full = s->filled == s->cap;
    if (!full) s->filled++;
    uint64_t n = 0, miss = block[d->n_cells], wrows = 0;
    for (uint32_t i = 0; i < ns; i++) {
        uint64_t w = s->win[i] - (full ? slot[i] : 0) + block[i];
        s->win[i] = w;
        wrows += w;
        slot[i] = block[i];
        n += block[i];
    }
    n -= miss; /* the missing slot is the last: n counts the cells */
    s->head = (s->head + 1) % s->cap;

    /* FW_DET_CHI2 on the full window */
    if (s->filled == s->cap) chi2_check(d, s->win, s->scratch, &check[FW_DET_CHI2], d->set.effect_when_over);

    /* FW_DET_CUSUM on this block's scores */
    if (d->has_cusum) {
        fw_detector_check *c = &check[FW_DET_CUSUM];
        double zsum = 0;
        for (uint32_t i = 0; i < d->n_cells; i++) zsum += (double)block[i] * d->z[i];
        double allow = d->k_allow * (double)n, cap = 2 * d->h_cusum;
        s->cus_pos += zsum - allow;
        s->cus_neg += -zsum - allow;
        if (s->cus_pos < 0) s->cus_pos = 0;
        if (s->cus_neg < 0) s->cus_neg = 0;
        if (s->cus_pos > cap) s->cus_pos = cap;
        if (s->cus_neg > cap) s->cus_neg = cap;
        c->evaluated = 1;
        c->value = s->cus_pos > s->cus_neg ? s->cus_pos : s->cus_neg;
        c->threshold = d->h_cusum;
        c->effect = n ? zsum / (double)n : 0;
        c->reference = 0;
        c->rows = n;
        c->active = c->value >= c->threshold;
    }

    /* FW_DET_CUSUM (categorical) on this block's cell counts */
    if (d->n_cat && n > 0) {
        fw_detector_check *c = &check[FW_DET_CUSUM];
        double best = -1;
        int32_t worst = -1;
        for (uint32_t i = 0; i < d->n_cat; i++) {
            fw_rate_cusum *r = &s->cat[i];
            if (!isfinite(r->h)) continue;
            uint64_t hits = block[i / 2];
            r->s += (double)hits * r->llr_hit + (double)(n - hits) * r->llr_miss;
            if (r->s < 0) r->s = 0;
            if (r->s > 2 * r->h) r->s = 2 * r->h;
            if (r->s > best) {
                best = r->s;
                worst = (int32_t)i;
            }
        }
        if (worst >= 0) {
            uint32_t cell = (uint32_t)worst / 2;
            uint64_t wn = 0;
            for (uint32_t i = 0; i < d->n_cells; i++) wn += s->win[i];
            c->evaluated = 1;
            c->value = best;
            c->threshold = d->h_cat;
            c->active = best >= d->h_cat;
            c->effect = wn ? (double)s->win[cell] / (double)wn : 0;
            c->reference = d->ref[cell] / d->ref_n;
            c->rows = n;
            c->cell = (int32_t)cell;
        }
    }

    /* FW_DET_MISSING on this block */
    {
        fw_detector_check *c = &check[FW_DET_MISSING];
        uint64_t rows = n + miss;
        c->evaluated = rows > 0;
        c->active = fw_rate_cusum_update(&s->miss, miss, rows);
        c->value = s->miss.s;
        c->threshold = s->miss.h;
        c->effect = wrows ? (double)s->win[d->n_cells] / (double)wrows : 0;
        c->reference = d->ref_rows > 0 ? d->ref_missing / d->ref_rows : 0;
        c->rows = rows;
    }
}

void fw_detector_alarm(const fw_detector *d, fw_detector_test t, const fw_detector_check *c, uint64_t row,
                       int64_t ts_ms, fw_alarm *out) {
    memset(out, 0, sizeof *out);
    out->kind = t == FW_DET_MISSING ? FW_ALARM_QUALITY : FW_ALARM_DRIFT;
    snprintf(out->column, sizeof out->column, "%s", d->name);
    const char *stat = fw_detector_test_name(t);
    snprintf(out->statistic, sizeof out->statistic, "%s", stat ? stat : "");
    out->value = c->value;
    out->threshold = c->threshold;
    out->row = row;
    out->ts_ms = ts_ms;
    switch (t) {
    case FW_DET_CHI2:
        snprintf(out->detail, sizeof out->detail, "distribution moved: chi2 %.4g > %.4g over %llu rows, PSI %.3g",
                 c->value, c->threshold, (unsigned long long)c->rows, c->effect);
        break;
    case FW_DET_CUSUM:
        if (!d->numeric && c->cell >= 0 && (uint32_t)c->cell < d->n_cells)
            snprintf(out->detail, sizeof out->detail,
                     "persistent shift: category '%s' at %.3g of the rows (window) vs %.3g in training, CUSUM %.4g > %.4g",
                     (uint32_t)c->cell < d->n_top ? d->top[c->cell] : "(other)", c->effect, c->reference, c->value,
                     c->threshold);
        else
            snprintf(out->detail, sizeof out->detail, "persistent shift: CUSUM %.4g > %.4g, last block %+.2f SD",
                     c->value, c->threshold, c->effect);
        break;
    default:
        snprintf(out->detail, sizeof out->detail, "missing rate %.3g vs %.3g in training", c->effect, c->reference);
        break;
    }
}
