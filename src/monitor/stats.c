/* stats.c — owns the exact statistics of stats.h: the two-sample Kolmogorov–Smirnov test (lattice
 * path probabilities, Kolmogorov's finite-n distribution for large samples), the incomplete gamma
 * functions and the chi-square tests, the effect sizes between count vectors and the corrections
 * for multiple tests. Each follows the definition SciPy 1.10 uses (see stats.h). */
#include "monitor/stats.h"

#include "core/alloc.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KS_MAX_EXACT 10000u /* ks_2samp "auto": exact when both samples are at most this */

/* ---- Kolmogorov–Smirnov ------------------------------------------------------------------- */

double fw_stats_ks_statistic_sorted(const double *x1, size_t n1, const double *x2, size_t n2) {
    /* at every distinct value v: F1(v) - F2(v) with F = (count <= v) / n, the largest of both signs */
    size_t i = 0, j = 0;
    double maxs = -INFINITY, mins = INFINITY;
    while (i < n1 || j < n2) {
        double v = (j >= n2 || (i < n1 && x1[i] <= x2[j])) ? x1[i] : x2[j];
        while (i < n1 && x1[i] <= v) i++;
        while (j < n2 && x2[j] <= v) j++;
        double diff = (double)i / (double)n1 - (double)j / (double)n2;
        if (diff > maxs) maxs = diff;
        if (diff < mins) mins = diff;
    }
    double neg = -mins;
    if (neg < 0) neg = 0;
    if (neg > 1) neg = 1;
    return neg > maxs ? neg : maxs;
}

static size_t gcd_z(size_t a, size_t b) {
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* P(D_{n,n} >= h/n): 2 (A0 (1 - A1 (1 - A2 (...)))) with A_k = C(2n, n - kh) / C(2n, n - (k-1)h)
 * products, evaluated from the innermost term (no cancellation). */
static double ks_prob_outside_square(size_t n, size_t h) {
    double p = 0.0;
    for (long k = (long)(n / h); k >= 0; k--) {
        double p1 = 1.0;
        for (size_t j = 0; j < h; j++)
            p1 = ((double)n - (double)k * (double)h - (double)j) * p1 / ((double)n + (double)k * (double)h + (double)j + 1.0);
        p = p1 * (1.0 - p);
    }
    return 2 * p;
}

/* P(D_{m,n} >= d) for m != n, d = h / lcm: the share of the lattice paths from (0,0) to (m,n) that
 * touch |i/m - j/n| >= d. a[j] is, for the current column i, the share of the paths reaching (i,j)
 * that went outside before; a point outside has 1, and a point inside gets the mix of its two
 * predecessors weighted by the share of the paths through each (i/(i+j) from the left, j/(i+j) from
 * below). Only the band inside the boundary is computed. Returns NaN when out of memory. */
static double ks_prob_outside_lattice(size_t m, size_t n, size_t g, size_t h) {
    if (m < n) {
        size_t t = m;
        m = n;
        n = t;
    }
    size_t mg = m / g, ng = n / g;
    /* in lcm units the point (i, j) is inside when |i ng - j mg| < h */
    double *a = fw_malloc((n + 1) * sizeof *a);
    if (!a) return NAN;
    for (size_t j = 0; j <= n; j++) a[j] = 1.0;
    size_t top0 = (h + mg - 1) / mg; /* column 0: j mg < h */
    for (size_t j = 0; j < top0 && j <= n; j++) a[j] = 0.0;
    size_t lo_prev = 0;
    for (size_t i = 1; i <= m; i++) {
        /* inside: (i ng - h) / mg < j < (i ng + h) / mg */
        long long num_lo = (long long)(i * ng) - (long long)h;
        size_t lo = num_lo < 0 ? 0 : (size_t)(num_lo / (long long)mg) + 1;
        size_t hi = (i * ng + h + mg - 1) / mg; /* exclusive */
        if (hi > n + 1) hi = n + 1;
        if (lo > n) lo = n + 1;
        for (size_t j = lo_prev; j < lo && j <= n; j++) a[j] = 1.0;
        if (hi <= lo) {
            fw_free(a);
            return 1.0; /* every path goes outside */
        }
        double below = lo == 0 ? 0.0 : 1.0; /* a[lo - 1] of this column: outside */
        for (size_t j = lo; j < hi; j++) {
            double v = ((double)i * a[j] + (double)j * below) / (double)(i + j);
            a[j] = v;
            below = v;
        }
        lo_prev = lo;
    }
    double p = a[n];
    fw_free(a);
    return p;
}

/* ln(n! / n^n) */
static double log_nfact_over_npow(double n) { return lgamma(n + 1) - n * log(n); }

/* P(D_n^+ >= x), the one-sided Smirnov statistic of n uniforms (Birnbaum–Tingey sum, in logs). */
static double smirnov_sf(double n, double x) {
    if (x <= 0) return 1.0;
    if (x >= 1) return 0.0;
    long jmax = (long)floor(n * (1 - x));
    double lmax = -INFINITY;
    /* pass 1: the largest log term; pass 2: the sum scaled by it */
    for (int pass = 0; pass < 2; pass++) {
        double s = 0;
        for (long j = 0; j <= jmax; j++) {
            double u = 1 - x - (double)j / n, v = x + (double)j / n;
            if (u <= 0) continue;
            double lt = lgamma(n + 1) - lgamma((double)j + 1) - lgamma(n - (double)j + 1) + (n - (double)j) * log(u) +
                        ((double)j - 1) * log(v);
            if (pass == 0) {
                if (lt > lmax) lmax = lt;
            } else {
                s += exp(lt - lmax);
            }
        }
        if (pass == 1) {
            double p = x * s * exp(lmax);
            return p > 1 ? 1 : p;
        }
    }
    return 0;
}

#define PI_SQ (M_PI * M_PI)

/* Pelz–Good's expansion of P(D_n <= x): K0 + K1/sqrt(n) + K2/n + K3/n^1.5 in z = x sqrt(n), each
 * term in its theta-function form for small z. */
static double kolmogn_pelz_good_cdf(double n, double x) {
    double z = sqrt(n) * x;
    double z2 = z * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -PI_SQ / 8 / z2;
    if (qlog < -745.0) return 0.0;
    double q = exp(qlog);
    double k1a = -z2, k1b = PI_SQ / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * PI_SQ / 4, k2c = PI_SQ * PI_SQ * (1 - 2 * z2) / 16;
    double k3d = PI_SQ * PI_SQ * PI_SQ * (5 - 30 * z2) / 64;
    double k3c = PI_SQ * PI_SQ * (-60 * z2 + 212 * z4) / 16;
    double k3b = PI_SQ * (135 * z4 - 96 * z6) / 4;
    double k3a = -30 * z6 - 90 * z4 * z4;
    double k[4] = {0, 0, 0, 0};
    int maxk = (int)ceil(16 * z / M_PI);
    for (int kk = maxk; kk > 0; kk--) {
        double m = 2.0 * kk - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, 8.0 * kk);
        double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int t = 0; t < 4; t++) k[t] = k[t] * qp + c[t];
    }
    double sqrt2pi = sqrt(2 * M_PI);
    double den[4] = {z, 6 * z4, 72 * z4 * z2 * z, 6480 * z4 * z6};
    for (int t = 0; t < 4; t++) k[t] = k[t] * q * sqrt2pi / den[t];
    double q2 = exp(-PI_SQ / 2 / z2), e2 = 0, e3 = 0, s3z = sqrt(3.0) * z;
    for (int kk = maxk; kk > 0; kk--) {
        double ks = (double)kk * kk, qk = pow(q2, ks), kp = M_PI * kk;
        e2 += ks * qk;
        e3 += (s3z + kp) * (s3z - kp) * ks * qk;
    }
    k[2] += e2 * PI_SQ * sqrt2pi / (-36 * z2 * z);
    k[3] += e3 * PI_SQ * sqrt2pi / (216 * z6);
    double p = k[0] + k[1] / sqrt(n) + k[2] / n + k[3] / (n * sqrt(n));
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* P(D_n >= x) of the one-sample statistic (scipy.stats.kstwo.sf) in the regimes ks_2samp's
 * asymptotic branch reaches (n = round(n1 n2 / (n1 + n2)) > 140 when a sample exceeds 10,000):
 * the exact ends (n x <= 1, n x >= n - 1), 2 P(D+ >= x) where the two one-sided events cannot both
 * happen or their joint probability is negligible (x >= 0.5 or n x^2 >= 2.2), else 1 - the
 * Pelz–Good expansion of the CDF. */
static double kolmogn_sf(double n, double x) {
    if (x >= 1.0) return 0.0;
    if (x <= 0.0) return 1.0;
    double t = n * x;
    if (t <= 1.0) {
        if (t <= 0.5) return 1.0;
        double cdf = exp(log_nfact_over_npow(n) + n * log(2 * t - 1));
        return 1.0 - cdf;
    }
    if (t >= n - 1) return 2 * pow(1.0 - x, n);
    if (x >= 0.5) return fmin(1.0, 2 * smirnov_sf(n, x));
    double nx2 = t * x;
    if (nx2 >= 370.0) return 0.0;
    if (nx2 >= 2.2) return fmin(1.0, 2 * smirnov_sf(n, x));
    return 1.0 - kolmogn_pelz_good_cdf(n, x);
}

double fw_stats_ks_pvalue(double d, size_t n1, size_t n2, int *exact) {
    if (exact) *exact = 0;
    if (n1 == 0 || n2 == 0 || isnan(d)) return NAN;
    if (n1 <= KS_MAX_EXACT && n2 <= KS_MAX_EXACT) {
        size_t g = gcd_z(n1, n2);
        size_t lcm = (n1 / g) * n2;
        double hd = nearbyint(d * (double)lcm);
        size_t h = hd <= 0 ? 0 : (size_t)hd;
        double p;
        if (h == 0) p = 1.0;
        else if (n1 == n2) p = ks_prob_outside_square(n1, h);
        else p = ks_prob_outside_lattice(n1, n2, g, h);
        if (p >= 0 && p <= 1) {
            if (exact) *exact = 1;
            return p;
        }
    }
    double m = (double)(n1 > n2 ? n1 : n2), n = (double)(n1 > n2 ? n2 : n1);
    double en = m * n / (m + n);
    double p = kolmogn_sf(nearbyint(en), d);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

fw_status fw_stats_ks_2samp(const double *x1, size_t n1, const double *x2, size_t n2, fw_ks_result *out,
                            fw_err *err) {
    memset(out, 0, sizeof *out);
    if (n1 == 0 || n2 == 0) return fw_err_set(err, FW_EINVAL, "ks_2samp: a sample is empty");
    for (size_t i = 0; i < n1; i++)
        if (isnan(x1[i])) return fw_err_set(err, FW_EINVAL, "ks_2samp: sample 1 has NaN at %zu", i);
    for (size_t i = 0; i < n2; i++)
        if (isnan(x2[i])) return fw_err_set(err, FW_EINVAL, "ks_2samp: sample 2 has NaN at %zu", i);
    double *a = fw_malloc((n1 + n2) * sizeof *a);
    if (!a) return fw_err_set(err, FW_ENOMEM, "out of memory");
    double *b = a + n1;
    memcpy(a, x1, n1 * sizeof *a);
    memcpy(b, x2, n2 * sizeof *b);
    qsort(a, n1, sizeof *a, cmp_double);
    qsort(b, n2, sizeof *b, cmp_double);
    double d = fw_stats_ks_statistic_sorted(a, n1, b, n2);
    fw_free(a);
    out->statistic = d;
    out->pvalue = fw_stats_ks_pvalue(d, n1, n2, &out->exact);
    if (out->exact) { /* the exact branch reports the statistic on the lattice, h / lcm */
        size_t g = gcd_z(n1, n2);
        double lcm = (double)((n1 / g) * n2);
        out->statistic = nearbyint(d * lcm) / lcm;
    }
    return FW_OK;
}

/* ---- gamma and chi-square ----------------------------------------------------------------- */

/* ln(x^a e^-x / Gamma(a)) */
static double gamma_prefix_log(double a, double x) { return a * log(x) - x - lgamma(a); }

static double gamma_p_series(double a, double x) {
    double sum = 1.0 / a, term = sum, ap = a;
    for (int i = 0; i < 100000; i++) {
        ap += 1;
        term *= x / ap;
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(gamma_prefix_log(a, x));
}

/* Q(a, x) by Lentz's continued fraction (x >= a + 1). */
static double gamma_q_cf(double a, double x) {
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16) break;
    }
    return exp(gamma_prefix_log(a, x)) * h;
}

double fw_stats_gamma_p(double a, double x) {
    if (!(a > 0) || !(x >= 0) || isnan(x)) return NAN;
    if (x == 0) return 0;
    if (isinf(x)) return 1;
    if (x < a + 1) return gamma_p_series(a, x);
    return 1 - gamma_q_cf(a, x);
}

double fw_stats_gamma_q(double a, double x) {
    if (!(a > 0) || !(x >= 0) || isnan(x)) return NAN;
    if (x == 0) return 1;
    if (isinf(x)) return 0;
    if (x < a + 1) return 1 - gamma_p_series(a, x);
    return gamma_q_cf(a, x);
}

double fw_stats_chi2_sf(double x, double df) {
    if (isnan(x) || !(df > 0)) return NAN;
    if (x <= 0) return 1.0;
    return fw_stats_gamma_q(df / 2, x / 2);
}

double fw_stats_chi2_isf(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0)) return p == 1 ? 0 : p == 0 ? INFINITY : NAN;
    /* bracket, then bisection in x refined by Newton steps on ln Q (Q is monotone) */
    double lo = 0, hi = df + 10 * sqrt(2 * df) + 10;
    while (fw_stats_chi2_sf(hi, df) > p) hi *= 2;
    double x = 0.5 * (lo + hi);
    for (int it = 0; it < 400; it++) {
        double q = fw_stats_chi2_sf(x, df);
        if (q > p) lo = x;
        else hi = x;
        /* Newton on ln Q: d ln Q / dx = -pdf / Q */
        double lpdf = (df / 2 - 1) * log(x) - x / 2 - (df / 2) * M_LN2 - lgamma(df / 2);
        double step = q > 0 ? (log(q) - log(p)) * q / exp(lpdf) : 0;
        double nx = x + step;
        if (!(nx > lo && nx < hi) || !isfinite(nx)) nx = 0.5 * (lo + hi);
        if (fabs(nx - x) <= 1e-15 * fabs(x) || hi - lo <= 1e-15 * hi) {
            x = nx;
            break;
        }
        x = nx;
    }
    return x;
}

fw_status fw_stats_chisquare(const double *observed, const double *expected, size_t k, fw_chi2_result *out,
                             fw_err *err) {
    memset(out, 0, sizeof *out);
    if (k == 0) return fw_err_set(err, FW_EINVAL, "chisquare: no cells");
    double so = 0, se = 0;
    for (size_t i = 0; i < k; i++) so += observed[i];
    if (expected) {
        for (size_t i = 0; i < k; i++) {
            if (!(expected[i] > 0)) return fw_err_set(err, FW_EINVAL, "chisquare: expected count %zu is not > 0", i);
            se += expected[i];
        }
        double lo = so < se ? so : se;
        if (fabs(so - se) / lo > 1e-8)
            return fw_err_set(err, FW_EINVAL, "chisquare: observed sum %.17g and expected sum %.17g differ", so, se);
    }
    double mean = so / (double)k, stat = 0;
    for (size_t i = 0; i < k; i++) {
        double e = expected ? expected[i] : mean, t = observed[i] - e;
        stat += t * t / e;
    }
    out->statistic = stat;
    out->df = (double)k - 1;
    out->pvalue = k > 1 ? fw_stats_chi2_sf(stat, out->df) : NAN;
    return FW_OK;
}

fw_status fw_stats_chi2_contingency(const double *table, size_t r, size_t c, int correction, fw_chi2_result *out,
                                    fw_err *err) {
    memset(out, 0, sizeof *out);
    if (r == 0 || c == 0) return fw_err_set(err, FW_EINVAL, "chi2_contingency: empty table");
    double *rs = fw_calloc(r + c, sizeof *rs);
    if (!rs) return fw_err_set(err, FW_ENOMEM, "out of memory");
    double *cs = rs + r, total = 0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double v = table[i * c + j];
            if (v < 0 || isnan(v)) {
                fw_free(rs);
                return fw_err_set(err, FW_EINVAL, "chi2_contingency: cell (%zu, %zu) is negative or NaN", i, j);
            }
            rs[i] += v;
            cs[j] += v;
        }
    for (size_t i = 0; i < r; i++) total += rs[i];
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++)
            if (!(rs[i] * cs[j] / total > 0)) {
                fw_free(rs);
                return fw_err_set(err, FW_EINVAL,
                                  "chi2_contingency: the expected count of cell (%zu, %zu) is zero (an empty row or column)",
                                  i, j);
            }
    size_t df = (r - 1) * (c - 1);
    out->df = (double)df;
    if (df == 0) {
        out->statistic = 0;
        out->pvalue = 1;
        fw_free(rs);
        return FW_OK;
    }
    double stat = 0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) {
            double e = rs[i] * cs[j] / total, o = table[i * c + j];
            if (df == 1 && correction) { /* Yates: move each cell up to 0.5 towards its expectation */
                double diff = e - o, mag = fabs(diff) < 0.5 ? fabs(diff) : 0.5;
                o += diff > 0 ? mag : diff < 0 ? -mag : 0;
            }
            double t = o - e;
            stat += t * t / e;
        }
    fw_free(rs);
    out->statistic = stat;
    out->pvalue = fw_stats_chi2_sf(stat, out->df);
    return FW_OK;
}

double fw_stats_chi2_two_sample(const double *a, const double *b, size_t k, double *df) {
    double na = 0, nb = 0;
    size_t used = 0;
    for (size_t i = 0; i < k; i++) {
        na += a[i];
        nb += b[i];
        if (a[i] + b[i] > 0) used++;
    }
    if (df) *df = used > 1 ? (double)(used - 1) : 0;
    if (used < 2 || na <= 0 || nb <= 0) return 0;
    double n = na + nb, stat = 0;
    for (size_t i = 0; i < k; i++) {
        double col = a[i] + b[i];
        if (col <= 0) continue;
        double ea = na * col / n, eb = nb * col / n, ta = a[i] - ea, tb = b[i] - eb;
        stat += ta * ta / ea + tb * tb / eb;
    }
    return stat;
}

/* ---- effect sizes ------------------------------------------------------------------------- */

double fw_stats_psi(const double *a, const double *b, size_t k, double smooth) {
    double sa = 0, sb = 0;
    for (size_t i = 0; i < k; i++) {
        sa += a[i] + smooth;
        sb += b[i] + smooth;
    }
    if (!(sa > 0) || !(sb > 0)) return NAN;
    double psi = 0;
    for (size_t i = 0; i < k; i++) {
        double p = (a[i] + smooth) / sa, q = (b[i] + smooth) / sb;
        if (p == q) continue;
        if (p == 0 || q == 0) return INFINITY;
        psi += (q - p) * log(q / p);
    }
    return psi;
}

static double rel_entr(double x, double y) {
    if (x > 0 && y > 0) return x * log(x / y);
    if (x == 0 && y >= 0) return 0;
    return INFINITY;
}

double fw_stats_js_distance(const double *a, const double *b, size_t k) {
    double sa = 0, sb = 0;
    for (size_t i = 0; i < k; i++) {
        sa += a[i];
        sb += b[i];
    }
    if (!(sa > 0) || !(sb > 0)) return NAN;
    double l = 0, r = 0;
    for (size_t i = 0; i < k; i++) {
        double p = a[i] / sa, q = b[i] / sb, m = (p + q) / 2.0;
        l += rel_entr(p, m);
        r += rel_entr(q, m);
    }
    double js = (l + r) / 2.0;
    return sqrt(js > 0 ? js : 0);
}

double fw_stats_total_variation(const double *a, const double *b, size_t k) {
    double sa = 0, sb = 0;
    for (size_t i = 0; i < k; i++) {
        sa += a[i];
        sb += b[i];
    }
    if (!(sa > 0) || !(sb > 0)) return NAN;
    double tv = 0;
    for (size_t i = 0; i < k; i++) tv += fabs(a[i] / sa - b[i] / sb);
    return 0.5 * tv;
}

/* ---- corrections -------------------------------------------------------------------------- */

void fw_stats_bonferroni(const double *p, size_t n, double *adj) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(p[i])) m++;
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            adj[i] = NAN;
            continue;
        }
        double v = p[i] * (double)m;
        adj[i] = v > 1 ? 1 : v;
    }
}

typedef struct pidx {
    double p;
    size_t i;
} pidx;

static int cmp_pidx(const void *a, const void *b) {
    const pidx *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

fw_status fw_stats_holm(const double *p, size_t n, double *adj) {
    pidx *v = fw_malloc((n ? n : 1) * sizeof *v);
    if (!v) return FW_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(p[i])) v[m++] = (pidx){p[i], i};
    qsort(v, m, sizeof *v, cmp_pidx);
    for (size_t i = 0; i < n; i++)
        if (isnan(p[i])) adj[i] = NAN;
    double run = 0;
    for (size_t r = 0; r < m; r++) {
        double a = v[r].p * (double)(m - r);
        if (a > run) run = a; /* step-down: adjusted p-values never decrease with rank */
        adj[v[r].i] = run > 1 ? 1 : run;
    }
    fw_free(v);
    return FW_OK;
}
