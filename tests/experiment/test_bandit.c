/* test_bandit.c — the Thompson-sampling bandit of experiment/bandit.h: the Beta-Bernoulli and
 * Gaussian posteriors behind the shares (P(best) against exact values), the exploration floor, the
 * reward window (a reward counts at once, a silent trial at its window's end, late and unmatched
 * rewards), the weight of silent trials in flight (from the arm's observed reward delays), that
 * rewards arriving at different speeds on two equal arms do not bias the posterior, the pending
 * bound, seeded determinism and the option errors. */
#include "core/buf.h"
#include "experiment/bandit.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static fw_bandit *make(size_t k, fw_bandit_model model, double floor_, double window, uint32_t draws, uint64_t seed) {
    fw_bandit_opts o;
    fw_bandit_opts_init(&o);
    o.n_arms = k;
    o.model = model;
    o.min_share = floor_;
    o.window = window;
    o.draws = draws;
    o.seed = seed;
    fw_bandit *b = NULL;
    fw_err err;
    CHECK_OK(fw_bandit_new(&o, &b, &err));
    return b;
}

static uint64_t rs = 88172645463325252ull;
static double unif(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

/* One success on arm 0, nothing on arm 1: P(Beta(2,1) > Beta(1,1)) = E[Beta(2,1)] = 2/3. With a
 * floor of 0.1 the shares are 0.1 + 0.8 P(best). */
static void test_beta_posterior(void) {
    fw_bandit *b = make(2, FW_BANDIT_RATE, 0.1, 10, 200000, 3);
    if (!b) return;
    double sh[2];
    fw_bandit_shares(b, sh);
    CHECK_NEAR(sh[0], 0.5, 0.01);
    CHECK(fw_bandit_trial(b, 1, 0, 0));
    CHECK(fw_bandit_reward(b, 1, NAN, 1));
    CHECK_EQ(fw_bandit_advance(b, 10), 1);
    fw_bandit_shares(b, sh);
    fw_bandit_arm_stats st;
    fw_bandit_arm(b, 0, &st);
    CHECK_NEAR(st.p_best, 2.0 / 3, 0.005);
    CHECK_NEAR(sh[0], 0.1 + 0.8 * st.p_best, 1e-12);
    CHECK_NEAR(sh[0] + sh[1], 1, 1e-12);
    CHECK_NEAR(st.mean, 2.0 / 3, 1e-12); /* (1 + 1) / (1 + 1 + 1) */
    CHECK_EQ(st.trials, 1);
    fw_bandit_free(b);
    /* the same success learnt the moment it arrives, long before its window closes */
    b = make(2, FW_BANDIT_RATE, 0.1, 10, 200000, 3);
    if (!b) return;
    CHECK(fw_bandit_trial(b, 1, 0, 0));
    CHECK(fw_bandit_reward(b, 1, NAN, 1));
    CHECK_EQ(fw_bandit_advance(b, 1), 0);
    fw_bandit_shares(b, sh);
    fw_bandit_arm(b, 0, &st);
    CHECK(st.trials == 1 && st.pending == 0 && st.pending_weight == 0);
    CHECK_NEAR(st.p_best, 2.0 / 3, 0.005);
    fw_bandit_free(b);
}

/* Gaussian rewards with means 1, 1.2 and -3 (sd 1), 400 trials each: P(best) of the second is
 * Phi((mu1 - mu0) / sqrt(v0 + v1)) under the posterior (computed here from the arms' sums).
 * Three arms, floor 0.05: the worst arm's share is the floor. */
static void test_gaussian_posterior(void) {
    fw_bandit *b = make(3, FW_BANDIT_MEAN, 0.05, 1, 20000, 5);
    if (!b) return;
    uint64_t key = 1;
    for (int i = 0; i < 400; i++)
        for (int a = 0; a < 3; a++) {
            double mean = a == 0 ? 1 : a == 1 ? 1.2 : -3;
            double z = sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
            CHECK(fw_bandit_trial(b, key, a, 0));
            fw_bandit_reward(b, key, mean + z, 0.5);
            key++;
        }
    fw_bandit_advance(b, 1);
    double sh[3];
    fw_bandit_shares(b, sh);
    fw_bandit_arm_stats s0, s1, s2;
    fw_bandit_arm(b, 0, &s0);
    fw_bandit_arm(b, 1, &s1);
    fw_bandit_arm(b, 2, &s2);
    /* the posterior of bandit.c by hand: one pseudo-observation at the pooled mean and variance */
    fw_bandit_arm_stats *as[3] = {&s0, &s1, &s2};
    double N = 0, S = 0, SS = 0, mu[3], var[3];
    for (int a = 0; a < 3; a++) {
        N += (double)as[a]->trials;
        S += as[a]->reward_sum;
        SS += as[a]->reward_sumsq;
    }
    double m0 = S / N, v0 = (SS - S * S / N) / (N - 1);
    for (int a = 0; a < 3; a++) {
        double n = (double)as[a]->trials, sa = as[a]->reward_sum;
        mu[a] = (sa + m0) / (n + 1);
        var[a] = (as[a]->reward_sumsq - sa * sa / n + v0) / (n + 1) / (n + 1);
    }
    double z = (mu[1] - mu[0]) / sqrt(var[0] + var[1]); /* arm 2 (mean -3) never wins */
    double want = 0.5 * erfc(-z / sqrt(2));
    CHECK_MSG(fabs(s1.p_best - want) < 0.01, "p_best %g, want %g", s1.p_best, want);
    CHECK(s1.p_best > 0.5);
    CHECK_NEAR(s1.mean, 1.2, 0.2);
    CHECK(s2.p_best == 0 && sh[2] == 0.05);        /* the floor, exactly */
    CHECK_NEAR(sh[0] + sh[1] + sh[2], 1, 1e-12);
    CHECK_EQ(s0.trials, 400);
    fw_bandit_free(b);
}

/* The window: a trial counts only once begin + window <= now; a reward inside it joins, one after
 * it is late, one for an unknown key unmatched; a trial whose reward never came counts as 0. */
static void test_window(void) {
    fw_bandit *b = make(2, FW_BANDIT_RATE, 0, 10, 100, 1);
    if (!b) return;
    CHECK(fw_bandit_trial(b, 7, 1, 0));
    CHECK(fw_bandit_trial(b, 8, 1, 2));
    CHECK(!fw_bandit_trial(b, 7, 0, 3)); /* a repeated key */
    CHECK(fw_bandit_reward(b, 7, 1, 5));
    CHECK(!fw_bandit_reward(b, 8, 1, 12.5)); /* after 2 + 10 */
    CHECK(!fw_bandit_reward(b, 99, 1, 5));
    CHECK_EQ(fw_bandit_advance(b, 9.99), 0);
    fw_bandit_arm_stats st;
    fw_bandit_arm(b, 1, &st);
    CHECK(st.trials == 1 && st.reward_sum == 1 && st.pending == 1 && st.begun == 2); /* 7: its reward */
    CHECK_EQ(fw_bandit_advance(b, 10), 1);
    fw_bandit_arm(b, 1, &st);
    CHECK(st.trials == 1 && st.reward_sum == 1 && st.pending == 1); /* 7 closed: counted once */
    CHECK_EQ(fw_bandit_advance(b, 100), 1);
    fw_bandit_arm(b, 1, &st);
    CHECK(st.trials == 2 && st.reward_sum == 1 && st.pending == 0); /* the second: no reward = 0 */
    CHECK(!fw_bandit_reward(b, 7, 1, 100)); /* closed: unknown now */
    fw_bandit_counts c;
    fw_bandit_counts_get(b, &c);
    CHECK(c.untracked == 1 && c.late == 1 && c.unmatched == 2 && c.joined == 1);
    fw_buf j;
    fw_buf_init(&j);
    const char *names[2] = {"m@production", "m@staging"};
    fw_bandit_json(b, names, &j);
    fw_buf_put_u8(&j, 0);
    CHECK_CONTAINS((const char *)j.data, "\"arm\":\"m@staging\"");
    CHECK_CONTAINS((const char *)j.data, "\"late_rewards\":1");
    fw_buf_free(&j);
    fw_bandit_free(b);
}

/* Two arms with the same outcomes (30% clicks); arm 0's clicks arrive at once, arm 1's after 0.9 of the window.
 * Counting a click when it arrives and a silent trial only when its window closes would make arm 0
 * look better mid-stream (its clicks are in, its silences not yet); weighing the silent trials by
 * each arm's observed delays keeps both estimates on the truth, while both learn every click at once. */
static void test_delay_no_bias(void) {
    fw_bandit *b = make(2, FW_BANDIT_RATE, 0, 100, 10, 1);
    if (!b) return;
    uint64_t key = 1;
    struct { uint64_t key; double t; } late[4000];
    size_t n_late = 0, next_late = 0;
    double clicks = 0, clicks_old = 0; /* all, and those of steps older than the delay */
    for (int t = 0; t < 4000; t++) {
        bool click = unif() < 0.3; /* the same outcome on both arms: equal rates, exactly */
        clicks += click;
        clicks_old += click && t < 3910;
        for (int a = 0; a < 2; a++, key++) {
            CHECK(fw_bandit_trial(b, key, a, t));
            if (click) {
                if (a == 0) {
                    CHECK(fw_bandit_reward(b, key, 1, t));
                } else {
                    late[n_late].key = key;
                    late[n_late++].t = t + 90;
                }
            }
        }
        while (next_late < n_late && late[next_late].t <= t) CHECK(fw_bandit_reward(b, late[next_late++].key, 1, t));
        fw_bandit_advance(b, t);
    }
    double sh[2];
    fw_bandit_shares(b, sh);
    fw_bandit_arm_stats s0, s1;
    fw_bandit_arm(b, 0, &s0);
    fw_bandit_arm(b, 1, &s1);
    CHECK(s0.trials > 3900 && s1.trials > 3900 && s0.reward_sum > 1000);
    /* arm 0: every click of the last window is in, its ~70 silences weigh ~1 each; arm 1: ~97
       silences younger than its delay weigh ~0 */
    CHECK_MSG(s0.pending_weight > 0.9 * (double)s0.pending && s1.pending_weight < 0.2 * (double)s1.pending,
              "silent weights %g of %llu, %g of %llu", s0.pending_weight, (unsigned long long)s0.pending,
              s1.pending_weight, (unsigned long long)s1.pending);
    /* each estimate is the click rate of the trials whose outcome it could know: arm 0 all of
       them, arm 1 those older than its delay (the two differ by the last 90 steps' luck only) */
    CHECK_MSG(fabs(s0.mean - clicks / 4000) < 0.001 && fabs(s1.mean - clicks_old / 3910) < 0.001,
              "weighted means %g vs %g, sample rates %g and %g", s0.mean, s1.mean, clicks / 4000, clicks_old / 3910);
    /* the unweighted count, for contrast: arm 0 overrated by its silences not yet closed */
    double naive0 = (1 + s0.reward_sum) / (2 + (double)s0.trials);
    CHECK_MSG(naive0 - clicks / 4000 > 0.003, "unweighted %g vs sample rate %g", naive0, clicks / 4000);
    fw_bandit_free(b);
}

/* A silent trial in flight weighs what its silence says: on an arm whose rewards came at 0.1 of
 * the window it is nearly a 0 at half the window; on an arm whose rewards came at 0.9, nearly
 * nothing yet. */
static void test_silent_weight(void) {
    fw_bandit *b = make(2, FW_BANDIT_RATE, 0, 100, 10, 1);
    if (!b) return;
    uint64_t key = 1;
    for (int i = 0; i < 200; i++)
        for (int a = 0; a < 2; a++, key++) {
            CHECK(fw_bandit_trial(b, key, a, 0));
            if (i % 2) CHECK(fw_bandit_reward(b, key, 1, a ? 90 : 10));
        }
    CHECK_EQ(fw_bandit_advance(b, 100), 400);
    for (int i = 0; i < 100; i++)
        for (int a = 0; a < 2; a++, key++) CHECK(fw_bandit_trial(b, key, a, 100));
    CHECK_EQ(fw_bandit_advance(b, 150), 0);
    double sh[2];
    fw_bandit_shares(b, sh);
    fw_bandit_arm_stats s0, s1;
    fw_bandit_arm(b, 0, &s0);
    fw_bandit_arm(b, 1, &s1);
    CHECK(s0.trials == 200 && s1.trials == 200 && s0.pending == 100 && s1.pending == 100);
    CHECK_MSG(s0.pending_weight > 90 && s0.pending_weight < 100, "fast arm: %g", s0.pending_weight);
    CHECK_MSG(s1.pending_weight > 0 && s1.pending_weight < 3, "slow arm: %g", s1.pending_weight);
    CHECK(s0.mean < s1.mean && sh[0] < sh[1]);
    /* no reward came for any of them: at the window's end each is a 0 (the weights gone) */
    CHECK_EQ(fw_bandit_advance(b, 200), 200);
    fw_bandit_shares(b, sh);
    fw_bandit_arm(b, 0, &s0);
    fw_bandit_arm(b, 1, &s1);
    CHECK(s0.trials == 300 && s0.pending == 0 && s0.pending_weight == 0 && s0.mean == s1.mean);
    fw_bandit_free(b);
}

/* Same seed and calls, same shares to the bit; the pending bound; pick() by cumulative share. */
static void test_determinism_and_bounds(void) {
    double a[2], c[2];
    for (int r = 0; r < 2; r++) {
        fw_bandit *b = make(2, FW_BANDIT_RATE, 0.05, 5, 777, 42);
        if (!b) return;
        for (uint64_t k = 1; k <= 50; k++) {
            fw_bandit_trial(b, k, (int)(k % 2), 0);
            if (k % 3 == 0) fw_bandit_reward(b, k, 1, 1);
        }
        fw_bandit_advance(b, 5);
        fw_bandit_shares(b, r ? c : a);
        fw_bandit_free(b);
    }
    CHECK(memcmp(a, c, sizeof a) == 0);
    fw_bandit_opts o;
    fw_bandit_opts_init(&o);
    o.max_pending = 3;
    fw_bandit *b = NULL;
    fw_err err;
    CHECK_OK(fw_bandit_new(&o, &b, &err));
    if (!b) return;
    for (uint64_t k = 1; k <= 5; k++) fw_bandit_trial(b, k, 0, 0);
    fw_bandit_counts cn;
    fw_bandit_counts_get(b, &cn);
    CHECK_EQ(cn.untracked, 2);
    CHECK_EQ(fw_bandit_advance(b, 1e9), 3);
    CHECK(fw_bandit_trial(b, 9, 1, 1e9)); /* room again */
    fw_bandit_free(b);
    double sh[3] = {0.2, 0.3, 0.5};
    CHECK(fw_bandit_pick(sh, 3, 0.1) == 0 && fw_bandit_pick(sh, 3, 0.2) == 1 && fw_bandit_pick(sh, 3, 0.49) == 1 &&
          fw_bandit_pick(sh, 3, 0.999999) == 2);
}

static void test_option_errors(void) {
    fw_bandit_opts o;
    fw_bandit *b = NULL;
    fw_err err;
    fw_bandit_opts_init(&o);
    o.n_arms = 4;
    o.min_share = 0.3;
    CHECK(fw_bandit_new(&o, &b, &err) == FW_EINVAL);
    CHECK_CONTAINS(err.msg, "min_share");
    fw_bandit_opts_init(&o);
    o.n_arms = 1;
    CHECK(fw_bandit_new(&o, &b, &err) == FW_EINVAL);
    fw_bandit_opts_init(&o);
    o.window = 0;
    CHECK(fw_bandit_new(&o, &b, &err) == FW_EINVAL);
    CHECK(b == NULL);
}

int main(void) {
    TEST_RUN(test_beta_posterior);
    TEST_RUN(test_gaussian_posterior);
    TEST_RUN(test_window);
    TEST_RUN(test_delay_no_bias);
    TEST_RUN(test_silent_weight);
    TEST_RUN(test_determinism_and_bounds);
    TEST_RUN(test_option_errors);
    return fw_test_report("test_bandit");
}
