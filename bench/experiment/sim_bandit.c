/* sim_bandit.c — the bandit of a `kind: bandit` split (src/experiment/bandit.h) in a simulation
 * where the truth is known, as the server runs it: one request per time step routed by the
 * published shares, the shares recomputed every REFRESH steps (the server's 50 ms updater tick),
 * each request's reward event arriving after a delay drawn uniformly from 1..DELAY steps, joined by
 * the request's key (a click enters the posterior when it arrives, a silent trial as a weighted 0
 * until its reward window of WINDOW steps closes, then as a 0: src/experiment/bandit.h).
 * bench/experiment/bandit_regret.py runs it beside a reference Thompson sampler and prints the
 * ratio of the regrets.
 *
 *   sim_bandit rate|mean T DELAY WINDOW REFRESH FLOOR SEEDS SEED0 MEAN1 MEAN2 [...]
 *
 * rate: arm i clicks with probability MEANi (an event only for a click); mean: every request's
 * reward is Normal(MEANi, 1), sent as an event's value. Prints the mean cumulative (pseudo-)regret
 * sum over steps of (best mean - the routed arm's mean) over SEEDS runs, its standard error, and
 * each run's regret on one line (for the script). */
#include "experiment/bandit.h"

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
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }
static void seed(uint64_t s) {
    s0 = s * 0x9E3779B97F4A7C15ull + 1;
    s1 = (s ^ 0xD1B54A32D192ED03ull) * 0xBF58476D1CE4E5B9ull + 7;
    for (int i = 0; i < 20; i++) next();
}

typedef struct ev {
    uint64_t key;
    double value;
} ev;

int main(int argc, char **argv) {
    if (argc < 11) {
        fprintf(stderr, "usage: sim_bandit rate|mean T DELAY WINDOW REFRESH FLOOR SEEDS SEED0 MEAN1 MEAN2 [...]\n");
        return 2;
    }
    int mean_model = strcmp(argv[1], "mean") == 0;
    long T = atol(argv[2]), D = atol(argv[3]), W = atol(argv[4]), R = atol(argv[5]);
    double floor_ = atof(argv[6]);
    int seeds = atoi(argv[7]);
    uint64_t seed0 = strtoull(argv[8], NULL, 10);
    size_t k = (size_t)(argc - 9);
    double mu[FW_BANDIT_MAX_ARMS], best = -INFINITY;
    if (k > FW_BANDIT_MAX_ARMS || D < 1 || W < D || R < 1) return 2;
    for (size_t i = 0; i < k; i++) {
        mu[i] = atof(argv[9 + i]);
        if (mu[i] > best) best = mu[i];
    }
    /* events due at step t: a ring of D + 1 buckets */
    ev **bucket = calloc((size_t)D + 1, sizeof *bucket);
    size_t *nb = calloc((size_t)D + 1, sizeof *nb), *cb = calloc((size_t)D + 1, sizeof *cb);
    double sum = 0, sumsq = 0;
    clock_t c0 = clock();
    for (int sd = 0; sd < seeds; sd++) {
        seed(seed0 * 1000003 + (uint64_t)sd);
        fw_bandit_opts o;
        fw_bandit_opts_init(&o);
        o.n_arms = k;
        o.model = mean_model ? FW_BANDIT_MEAN : FW_BANDIT_RATE;
        o.min_share = floor_;
        o.window = (double)W;
        o.seed = seed0 * 7919 + (uint64_t)sd;
        o.max_pending = (size_t)W + 16;
        fw_bandit *b;
        fw_err err;
        if (fw_bandit_new(&o, &b, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (long i = 0; i <= D; i++) nb[i] = 0;
        double sh[FW_BANDIT_MAX_ARMS], regret = 0;
        for (long t = 0; t < T; t++) {
            size_t slot = (size_t)(t % (D + 1));
            for (size_t i = 0; i < nb[slot]; i++) fw_bandit_reward(b, bucket[slot][i].key, bucket[slot][i].value, (double)t);
            nb[slot] = 0;
            if (t % R == 0) {
                fw_bandit_advance(b, (double)t);
                fw_bandit_shares(b, sh);
            }
            int arm = fw_bandit_pick(sh, k, unif());
            uint64_t key = (uint64_t)t + 1;
            fw_bandit_trial(b, key, arm, (double)t);
            regret += best - mu[arm];
            double value = NAN;
            if (mean_model) value = mu[arm] + gauss();
            else if (unif() < mu[arm]) value = 1;
            long d = 1 + (long)(unif() * (double)D);
            if (d > D) d = D;
            if (!isnan(value)) {
                size_t due = (size_t)((t + d) % (D + 1));
                if (nb[due] == cb[due]) {
                    cb[due] = cb[due] ? 2 * cb[due] : 8;
                    bucket[due] = realloc(bucket[due], cb[due] * sizeof **bucket);
                }
                bucket[due][nb[due]++] = (ev){key, value};
            }
        }
        fw_bandit_free(b);
        printf("run %d regret %.3f\n", sd, regret);
        sum += regret;
        sumsq += regret * regret;
    }
    double m = sum / seeds, se = seeds > 1 ? sqrt((sumsq - sum * sum / seeds) / (seeds - 1) / seeds) : 0;
    printf("flywheel model=%s arms=%zu T=%ld delay=U(1,%ld) window=%ld refresh=%ld floor=%g seeds=%d regret_mean %.3f se %.3f "
           "cpu_s %.1f\n",
           argv[1], k, T, D, W, R, floor_, seeds, m, se, (double)(clock() - c0) / CLOCKS_PER_SEC);
    for (long i = 0; i <= D; i++) free(bucket[i]);
    free(bucket);
    free(nb);
    free(cb);
    return 0;
}
