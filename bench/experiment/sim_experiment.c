/* sim_experiment.c — simulations of online experiments where the truth is known, run through the
 * analysis `flywheel experiment` uses (src/experiment/experiment.h, events fed one by one, the
 * report read after every 100 events). bench/experiment/run.sh runs every mode; docs/BENCHMARKS.md
 * has the figures.
 *
 * Each unit (user) is one exposure; with a latent activity z ~ N(0, 1) it clicks with probability
 * 0.05 * exp(0.5 z - 0.125) (mean 5%), converts with probability 0.02 * exp(0.5 z - 0.125), and a
 * conversion brings revenue ~ lognormal(0, 1.5). Its pre-period covariate (CUPED) is z plus noise
 * N(0, 1). A treatment effect multiplies the click and conversion probabilities by 1 + lift (so
 * revenue per unit rises by the same relative lift). Units go to control or treatment by a fair coin.
 *
 *   sim_experiment aa    N_EXP UNITS CUPED(0|1) SEED  A/A: share of experiments ever called
 *                                                      significant per metric (mSPRT, looks every 100
 *                                                      events) raw and with Holm across the three
 *                                                      metrics, any of the three (family-wise), and a
 *                                                      fixed-horizon z-test on clicks peeked 30 times
 *                                                      ("daily") and every 100 events
 *   sim_experiment lift  N_EXP LIFT CUPED(0|1) SEED [K] true relative lift on every metric, K metrics
 *                                                      declared (1: clicks alone; 3, the default:
 *                                                      clicks, conversions, revenue, Holm across them):
 *                                                      coverage of the always-valid interval of clicks
 *                                                      at the decision (or the cap), and units to the
 *                                                      family's decision on clicks against the
 *                                                      fixed-horizon sample size at 80% power (at
 *                                                      alpha, and at alpha / K: Bonferroni's); the cap
 *                                                      is 4x that size
 *   sim_experiment srm   N_EXP UNITS DROP SEED        sample ratio mismatch: share of experiments with
 *                                                      p < 0.001 at the end, A/A and with DROP of the
 *                                                      treatment's exposures lost */
#include "experiment/experiment.h"
#include "experiment/sequential.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t s0, s1;
static uint64_t next(void) { /* xorshift128+ */
    uint64_t x = s0, y = s1;
    s0 = y;
    x ^= x << 23;
    s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s1 + y;
}
static double unif(void) { return ((double)(next() >> 11) + 0.5) / 9007199254740992.0; }
static double gauss(void) {
    static int have;
    static double spare;
    if (have) {
        have = 0;
        return spare;
    }
    double u = unif(), v = unif(), r = sqrt(-2 * log(u));
    spare = r * sin(2 * M_PI * v);
    have = 1;
    return r * cos(2 * M_PI * v);
}
static void seed(uint64_t s) {
    s0 = s * 0x9E3779B97F4A7C15ull + 1;
    s1 = (s ^ 0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull + 7;
    for (int i = 0; i < 20; i++) next();
}

static const double P_CLICK = 0.05, P_CONV = 0.02, SIGMA = 1.5;
enum { M_CLICK, M_CONV, M_REV, N_M };
static fw_exp_metric_spec specs[N_M] = {
    {"click", "click", FW_EXP_RATE, 1, 0.05},
    {"conversion", "conversion", FW_EXP_RATE, 1, 0.05},
    {"revenue", "revenue", FW_EXP_MEAN, 1, 0.05},
};

static fw_experiment *new_exp(int cuped, size_t n_metrics) {
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    o.metrics = specs;
    o.n_metrics = n_metrics;
    o.cuped = cuped;
    o.look_every = 100;
    o.control = "A";
    fw_experiment *e;
    fw_err err;
    if (fw_experiment_new(&o, &e, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return e;
}

/* One unit's events; returns how many. */
static int add_unit(fw_experiment *e, uint64_t id, int treat, double lift) {
    char u[24];
    int ul = snprintf(u, sizeof u, "u%llu", (unsigned long long)id);
    const char *v = treat ? "B" : "A";
    double z = gauss(), pre = z + gauss(), f = exp(0.5 * z - 0.125) * (treat ? 1 + lift : 1);
    fw_err err;
    int n = 1;
    fw_experiment_add(e, u, (size_t)ul, v, 1, "exposure", 8, 1, pre, &err);
    if (unif() < P_CLICK * f) {
        fw_experiment_add(e, u, (size_t)ul, v, 1, "click", 5, 1, NAN, &err);
        n++;
    }
    if (unif() < P_CONV * f) {
        fw_experiment_add(e, u, (size_t)ul, v, 1, "conversion", 10, 1, NAN, &err);
        fw_experiment_add(e, u, (size_t)ul, v, 1, "revenue", 7, exp(SIGMA * gauss()), NAN, &err);
        n += 2;
    }
    return n;
}

/* The fixed-horizon z statistic of comparison i (NaN when not estimable). */
static double z_of(fw_experiment *e, size_t i) {
    double l, var;
    bool sig;
    if (!fw_experiment_comparison(e, i, &l, &var, &sig) || !(var > 0)) return NAN;
    return l / sqrt(var);
}

static void mode_aa(int n_exp, long units, int cuped, uint64_t sd) {
    int ever[N_M] = {0}, any = 0, raw[N_M] = {0}, any_raw = 0, z_daily = 0, z_every = 0, z_end = 0;
    const double zc = fw_normal_ppf(0.975);
    for (int k = 0; k < n_exp; k++) {
        seed(sd * 1000003 + (uint64_t)k);
        fw_experiment *e = new_exp(cuped, N_M);
        long events = 0, next_peek = 100;
        int hit_daily = 0, hit_every = 0;
        for (long u = 0; u < units; u++) {
            events += add_unit(e, (uint64_t)u, unif() < 0.5, 0);
            if (events >= next_peek) { /* every 100 events: the peeked z-test on clicks */
                next_peek += 100;
                double z = z_of(e, M_CLICK);
                if (fabs(z) > zc && u >= 200) hit_every = 1;
            }
            if ((u + 1) % (units / 30) == 0 && fabs(z_of(e, M_CLICK)) > zc) hit_daily = 1;
        }
        int a = 0, ar = 0; /* p-values never rise, intervals never widen: significant at the end = ever */
        for (int m = 0; m < N_M; m++) {
            double l, var;
            bool sig;
            const fw_seq *s = fw_experiment_comparison(e, (size_t)m, &l, &var, &sig);
            int r = s->p_value <= 0.05 && fw_seq_side(s, 0) != 0;
            ever[m] += sig;
            raw[m] += r;
            a |= sig;
            ar |= r;
        }
        any += a;
        any_raw += ar;
        z_daily += hit_daily;
        z_every += hit_every;
        z_end += fabs(z_of(e, M_CLICK)) > zc;
        fw_experiment_free(e);
    }
    printf("aa experiments=%d units=%ld cuped=%s looks_every=100_events alpha=0.05\n", n_exp, units, cuped ? "on" : "off");
    for (int m = 0; m < N_M; m++)
        printf("  msprt_ever_significant %-10s raw %.4f   holm %.4f\n", specs[m].name, (double)raw[m] / n_exp,
               (double)ever[m] / n_exp);
    printf("  msprt_ever_significant any_metric raw %.4f   holm (family-wise) %.4f\n", (double)any_raw / n_exp,
           (double)any / n_exp);
    printf("  ztest_clicks_final_look_only %.4f\n", (double)z_end / n_exp);
    printf("  ztest_clicks_peeked_30_daily %.4f\n", (double)z_daily / n_exp);
    printf("  ztest_clicks_peeked_every_100_events %.4f\n", (double)z_every / n_exp);
}

static void mode_lift(int n_exp, double lift, int cuped, uint64_t sd, size_t n_metrics) {
    /* the fixed-horizon size at 80% power, two-sided 5%, for clicks: units per arm (and at 5% / k) */
    double p1 = P_CLICK, p2 = P_CLICK * (1 + lift), za = fw_normal_ppf(0.975), zb = fw_normal_ppf(0.8);
    double zk = fw_normal_ppf(1 - 0.025 / (double)n_metrics);
    double per_arm = (za + zb) * (za + zb) * (p1 * (1 - p1) + p2 * (1 - p2)) / ((p2 - p1) * (p2 - p1));
    double per_arm_k = (zk + zb) * (zk + zb) * (p1 * (1 - p1) + p2 * (1 - p2)) / ((p2 - p1) * (p2 - p1));
    long n_fh = (long)ceil(2 * per_arm), n_fh_k = (long)ceil(2 * per_arm_k), cap = 4 * n_fh;
    double sum_units = 0, sum_events = 0, fh_events = 0;
    int decided = 0, covered = 0, wrong_sign = 0, decided_within_fh = 0;
    for (int k = 0; k < n_exp; k++) {
        seed(sd * 7919 + (uint64_t)k);
        fw_experiment *e = new_exp(cuped, n_metrics);
        long events = 0, u = 0, fh_ev = 0;
        bool sig = false;
        double l = NAN, var;
        const fw_seq *s = NULL;
        for (; u < cap && !sig;) {
            events += add_unit(e, (uint64_t)u, unif() < 0.5, lift);
            u++;
            if (u == n_fh) fh_ev = events;
            s = fw_experiment_comparison(e, M_CLICK, &l, &var, &sig);
        }
        s = fw_experiment_comparison(e, M_CLICK, &l, &var, &sig);
        if (!fh_ev) fh_ev = (long)((double)events * (double)n_fh / (double)u);
        fh_events += (double)fh_ev;
        decided += sig;
        decided_within_fh += sig && u <= n_fh;
        wrong_sign += sig && s->hi < 0;
        covered += s->lo <= lift && lift <= s->hi;
        sum_units += (double)u;
        sum_events += (double)events;
        fw_experiment_free(e);
    }
    printf("lift experiments=%d true_relative_lift=%.3f cuped=%s metric=click family=%zu_metrics(holm) "
           "looks_every=100_events alpha=0.05\n", n_exp, lift, cuped ? "on" : "off", n_metrics);
    printf("  fixed_horizon_units_80pct_power %ld (cap %ld)\n", n_fh, cap);
    printf("  decided %.4f   decided_by_fixed_horizon_size %.4f   wrong_sign %.4f\n", (double)decided / n_exp,
           (double)decided_within_fh / n_exp, (double)wrong_sign / n_exp);
    printf("  coverage_of_true_lift_at_stop %.4f\n", (double)covered / n_exp);
    printf("  mean_units_to_decision %.0f   ratio_to_fixed_horizon %.3f (undecided counted at the cap)\n",
           sum_units / n_exp, sum_units / n_exp / (double)n_fh);
    printf("  mean_events_to_decision %.0f   fixed_horizon_events %.0f   ratio %.3f\n", sum_events / n_exp,
           fh_events / n_exp, sum_events / fh_events);
    if (n_metrics > 1)
        printf("  fixed_horizon_units_at_alpha/%zu (bonferroni) %ld   ratio_of_mean_units %.3f\n", n_metrics, n_fh_k,
               sum_units / n_exp / (double)n_fh_k);
}

static void mode_srm(int n_exp, long units, double drop, uint64_t sd) {
    int aa_final = 0, aa_ever = 0, drop_final = 0, drop_ever = 0;
    for (int k = 0; k < n_exp; k++) {
        seed(sd * 104729 + (uint64_t)k);
        for (int d = 0; d < 2; d++) {
            double c[2] = {0, 0};
            int ever = 0;
            for (long u = 0; u < units; u++) {
                int t = unif() < 0.5;
                if (t && d && unif() < drop) continue; /* the exposure is lost */
                c[t] += 1;
                if ((u + 1) % (units / 100) == 0 && fw_exp_srm_pvalue(c, NULL, 2, NULL) < 0.001) ever = 1;
            }
            int fin = fw_exp_srm_pvalue(c, NULL, 2, NULL) < 0.001;
            if (d) {
                drop_final += fin;
                drop_ever += ever;
            } else {
                aa_final += fin;
                aa_ever += ever;
            }
        }
    }
    printf("srm experiments=%d units=%ld dropped_treatment_share=%.3f threshold p<0.001\n", n_exp, units, drop);
    printf("  aa_false_alarm_final %.4f   aa_false_alarm_any_of_100_looks %.4f\n", (double)aa_final / n_exp,
           (double)aa_ever / n_exp);
    printf("  dropped_caught_final %.4f   dropped_caught_any_of_100_looks %.4f\n", (double)drop_final / n_exp,
           (double)drop_ever / n_exp);
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: sim_experiment aa|lift|srm N_EXP ARG CUPED|DROP SEED [K]\n");
        return 2;
    }
    int n = atoi(argv[2]);
    uint64_t sd = strtoull(argv[5], NULL, 10);
    clock_t t0 = clock();
    if (strcmp(argv[1], "aa") == 0) mode_aa(n, atol(argv[3]), atoi(argv[4]), sd);
    else if (strcmp(argv[1], "lift") == 0) mode_lift(n, atof(argv[3]), atoi(argv[4]), sd, argc == 7 ? (size_t)atoi(argv[6]) : N_M);
    else if (strcmp(argv[1], "srm") == 0) mode_srm(n, atol(argv[3]), atof(argv[4]), sd);
    else return 2;
    printf("  cpu_seconds %.1f\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    return 0;
}
