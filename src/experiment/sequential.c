/* sequential.c — owns the mSPRT with a normal mixture and its confidence sequence (sequential.h)
 * and the normal distribution functions. */
#include "experiment/sequential.h"

#include <math.h>

void fw_seq_init(fw_seq *s, double alpha, double tau, double theta0) {
    s->alpha = alpha;
    s->tau2 = tau * tau;
    s->theta0 = theta0;
    s->p_value = 1.0;
    s->lo = -INFINITY;
    s->hi = INFINITY;
    s->estimate = NAN;
    s->variance = NAN;
    s->cur_lo = -INFINITY;
    s->cur_hi = INFINITY;
    s->looks = 0;
}

double fw_seq_log_lr(double estimate, double variance, double tau2, double theta0) {
    if (!(variance > 0) || !(tau2 > 0)) return NAN;
    double d = estimate - theta0;
    return 0.5 * log(variance / (variance + tau2)) + tau2 * d * d / (2.0 * variance * (variance + tau2));
}

double fw_seq_halfwidth(double variance, double tau2, double alpha) {
    if (!(variance > 0) || !(tau2 > 0)) return INFINITY;
    return sqrt(variance * (variance + tau2) / tau2 * (log((variance + tau2) / variance) - 2.0 * log(alpha)));
}

int fw_seq_look(fw_seq *s, double estimate, double variance) {
    if (!isfinite(estimate) || !isfinite(variance) || !(variance > 0)) return 0;
    double llr = fw_seq_log_lr(estimate, variance, s->tau2, s->theta0);
    double p = llr <= 0 ? 1.0 : exp(-llr);
    if (p < s->p_value) s->p_value = p;
    double h = fw_seq_halfwidth(variance, s->tau2, s->alpha);
    s->cur_lo = estimate - h;
    s->cur_hi = estimate + h;
    double lo = s->cur_lo > s->lo ? s->cur_lo : s->lo;
    double hi = s->cur_hi < s->hi ? s->cur_hi : s->hi;
    if (lo > hi) { /* disjoint from an earlier interval: the model misfits; keep the point where they met */
        double m = s->cur_lo > s->hi ? s->hi : s->lo;
        lo = hi = m;
    }
    s->lo = lo;
    s->hi = hi;
    s->estimate = estimate;
    s->variance = variance;
    s->looks++;
    return 1;
}

int fw_seq_side(const fw_seq *s, double value) {
    if (s->lo > value) return 1;
    if (s->hi < value) return -1;
    return 0;
}

double fw_normal_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }
double fw_normal_sf(double z) { return 0.5 * erfc(z / sqrt(2.0)); }

double fw_normal_ppf(double p) {
    if (!(p > 0 && p < 1)) return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double x, q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* one Halley step on cdf(x) - p */
    double e = fw_normal_cdf(x) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}
