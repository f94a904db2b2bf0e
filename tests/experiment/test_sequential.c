/* test_sequential.c — the always-valid test of experiment/sequential.h: the normal functions
 * against known values, the mixture likelihood ratio and half-width against their closed forms,
 * and by simulation (small and fast) the property that matters: read after every observation, the
 * mSPRT's false-positive rate stays <= alpha and its confidence sequence covers the truth, while a
 * fixed-horizon z-test read as often does not. */
#include "experiment/sequential.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 88172645463325252ull;
static double unif(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return fw_normal_ppf(unif()); }

static void test_normal(void) {
    CHECK_NEAR(fw_normal_cdf(0), 0.5, 1e-16);
    CHECK_NEAR(fw_normal_cdf(1.959963984540054), 0.975, 1e-15);
    CHECK_NEAR(fw_normal_sf(5), 2.866515718791939e-07, 1e-20);
    CHECK_NEAR(fw_normal_ppf(0.975), 1.959963984540054, 1e-13);
    CHECK_NEAR(fw_normal_ppf(0.8), 0.8416212335729143, 1e-13);
    CHECK_NEAR(fw_normal_ppf(1e-10), -6.361340902404056, 1e-10);
    CHECK(isinf(fw_normal_ppf(0)) && isnan(fw_normal_ppf(2)));
}

static void test_closed_forms(void) {
    double V = 0.01, t2 = 0.04, est = 0.3;
    double want = 0.5 * log(V / (V + t2)) + t2 * est * est / (2 * V * (V + t2));
    CHECK_NEAR(fw_seq_log_lr(est, V, t2, 0), want, 1e-14);
    /* at the half-width the ratio is exactly 1/alpha */
    double h = fw_seq_halfwidth(V, t2, 0.05);
    CHECK_NEAR(fw_seq_log_lr(h, V, t2, 0), -log(0.05), 1e-12);
    CHECK(isnan(fw_seq_log_lr(1, 0, t2, 0)));
    fw_seq s;
    fw_seq_init(&s, 0.05, 0.2, 0);
    CHECK(s.p_value == 1 && isinf(s.lo) && isinf(s.hi));
    CHECK_EQ(fw_seq_look(&s, 1, 0), 0);       /* no variance: not a look */
    CHECK_EQ(fw_seq_look(&s, NAN, 1), 0);
    CHECK_EQ(s.looks, 0);
    CHECK_EQ(fw_seq_look(&s, est, V), 1);
    CHECK_NEAR(s.p_value, exp(-want), 1e-14);
    CHECK_NEAR(s.hi - s.lo, 2 * h, 1e-12);
    CHECK_EQ(fw_seq_side(&s, 0), s.p_value <= 0.05 ? 1 : 0);
    /* the p-value never rises, the interval never widens */
    double p = s.p_value, lo = s.lo, hi = s.hi;
    fw_seq_look(&s, 0.0, V);
    CHECK(s.p_value == p && s.lo >= lo && s.hi <= hi);
}

/* A stream of N(theta, 1) observations; the estimate after n is the mean, variance 1/n. */
static void run(double theta, int n_sims, int n_obs, double *fp_seq, double *fp_z, double *cover) {
    int rej_seq = 0, rej_z = 0, covered = 0;
    for (int k = 0; k < n_sims; k++) {
        fw_seq s;
        fw_seq_init(&s, 0.05, 0.1, 0);
        double sum = 0;
        int z_hit = 0;
        for (int n = 1; n <= n_obs; n++) {
            sum += theta + gauss();
            double est = sum / n, var = 1.0 / n;
            if (n >= 10) {
                fw_seq_look(&s, est, var);
                if (fabs(est) / sqrt(var) > 1.959963984540054) z_hit = 1;
            }
        }
        rej_seq += s.p_value <= 0.05;
        rej_z += z_hit;
        covered += s.lo <= theta && theta <= s.hi;
    }
    *fp_seq = (double)rej_seq / n_sims;
    *fp_z = (double)rej_z / n_sims;
    *cover = (double)covered / n_sims;
}

static void test_peeking_aa(void) {
    double fs, fz, cov;
    run(0, 600, 1500, &fs, &fz, &cov);
    /* mSPRT: <= alpha with room for the simulation's noise (sd ~0.009) */
    CHECK_MSG(fs <= 0.07, "mSPRT false positives %.3f", fs);
    /* the same data read as often by a fixed-horizon z-test: far above alpha */
    CHECK_MSG(fz >= 0.25, "peeked z-test false positives %.3f", fz);
    CHECK_MSG(cov >= 0.93, "coverage under the null %.3f", cov);
}

static void test_power_and_coverage(void) {
    double fs, fz, cov;
    run(0.1, 400, 3000, &fs, &fz, &cov);
    CHECK_MSG(fs >= 0.9, "mSPRT power at 3000 obs %.3f", fs);
    CHECK_MSG(cov >= 0.93, "coverage under an effect %.3f", cov);
}

int main(void) {
    TEST_RUN(test_normal);
    TEST_RUN(test_closed_forms);
    TEST_RUN(test_peeking_aa);
    TEST_RUN(test_power_and_coverage);
    return fw_test_report("test_sequential");
}
