/* sequential.h — owns always-valid inference for one asymptotically normal estimate: the mixture
 * sequential probability ratio test (mSPRT) with a normal mixture, its always-valid p-value and
 * its confidence sequence, after
 *   R. Johari, P. Koomen, L. Pekelis, D. Walsh, "Peeking at A/B tests: why it matters, and what to
 *   do about it", KDD 2017, and R. Johari, L. Pekelis, D. Walsh, "Always valid inference:
 *   continuous monitoring of A/B tests", Operations Research 70(3), 2022.
 * plus the normal distribution functions the fixed-horizon statistics use.
 *
 * The model: at each look the caller has an estimate theta_hat of an effect theta (a difference or
 * a relative lift) with variance V (known or plugged in; asymptotically normal). The mixture
 * likelihood ratio of H0: theta = theta0 against theta ~ N(theta0, tau^2) is
 *     Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (theta_hat - theta0)^2 / (2 V (V + tau^2))),
 * a nonnegative martingale under H0, so by Ville's inequality P(sup_n Lambda_n >= 1/alpha) <= alpha:
 * the running p-value p_n = min(p_{n-1}, 1/Lambda_n) is valid at any stopping time, however often
 * it is read. Inverting the test gives the confidence sequence
 *     theta_hat +- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) - 2 log alpha)),
 * and the running intersection of those intervals covers theta at every look at once with
 * probability >= 1 - alpha. tau is the scale of effects that matter (the minimum effect): the test
 * decides fastest for effects near it.
 *
 * Example (a canary's error-rate difference checked at each analysis tick):
 *   fw_seq s; fw_seq_init(&s, 0.05, 0.01, 0.0);
 *   each tick: fw_seq_look(&s, canary_rate - champion_rate, var_canary + var_champion);
 *              if (s.lo > margin) roll back;   // worse by more than the margin, at any peek
 * Plain structs and functions, no allocation, thread-compatible (one fw_seq per thread).
 * Stable API: the server's canary analysis calls it; additions go at the end. */
#ifndef FW_EXPERIMENT_SEQUENTIAL_H
#define FW_EXPERIMENT_SEQUENTIAL_H

#include <stdint.h>

/* One always-valid test and confidence sequence. Read the fields; change them only through the
 * functions. */
typedef struct fw_seq {
    double alpha;       /* the error level, in (0, 1) */
    double tau2;        /* the mixture variance tau^2 > 0 (on the estimate's scale) */
    double theta0;      /* the null value */
    double p_value;     /* always-valid p-value so far: 1 before any look, never increases */
    double lo, hi;      /* the confidence sequence so far (running intersection): -inf, +inf before
                           any look; never widens */
    double estimate, variance;  /* the last look's */
    double cur_lo, cur_hi;      /* the last look's own interval (before intersecting) */
    uint64_t looks;     /* looks taken (looks with a variance <= 0 or non-finite are not taken) */
} fw_seq;

/* Starts a test at level alpha (0 < alpha < 1) with mixture standard deviation tau (> 0) and
 * null value theta0. */
void fw_seq_init(fw_seq *s, double alpha, double tau, double theta0);
/* One look at estimate with variance. Returns 1 when taken, 0 when skipped (variance <= 0 or
 * estimate/variance not finite: the state is unchanged). */
int fw_seq_look(fw_seq *s, double estimate, double variance);
/* Whether the confidence sequence lies entirely above (+1) or below (-1) value, else 0. With
 * value = theta0 this is "p_value <= alpha" with its sign. */
int fw_seq_side(const fw_seq *s, double value);

/* The pieces, stateless. */
/* log Lambda at one look (see above); -inf..+inf; NaN when variance <= 0. */
double fw_seq_log_lr(double estimate, double variance, double tau2, double theta0);
/* The confidence sequence's half-width at variance, tau2, alpha. */
double fw_seq_halfwidth(double variance, double tau2, double alpha);

/* The standard normal distribution: cdf, survival function (accurate in the tail) and its
 * inverse (0 < p < 1; Acklam's rational approximation refined by one Halley step, ~1e-15). */
double fw_normal_cdf(double z);
double fw_normal_sf(double z);
double fw_normal_ppf(double p);

#endif
