/* bandit.h — owns the Thompson-sampling bandit of a `kind: bandit` split (docs/EXPERIMENTS.md,
 * "Bandits"): the arms' posteriors on a chosen reward — Beta-Bernoulli for a rate (did the request
 * earn the event, e.g. a click) or Gaussian for a mean (the event's total per request, e.g.
 * revenue) — the routing shares (each arm's posterior probability of being best, estimated by
 * seeded Monte Carlo draws, with a minimum share per arm), and delayed rewards.
 *
 * Delayed rewards: a request is a trial of the arm that answered it. Its reward events arrive
 * later (through /v1/feedback, joined by the request's key) and count while its reward window is
 * open. Outcomes are learnt as they arrive: a trial enters the posterior at its first reward
 * (rate: a success at once; mean: its value, later events within the window adding to it), and a
 * trial that stays silent enters at its window's end (begin + window) as a 0. In between, a silent
 * trial is partial evidence of a 0: with F the arm's observed distribution of first-reward delays
 * (a histogram of the closed trials', starting from a few pseudo-delays spread over the window)
 * and q the arm's chance of a reward at all, a silent trial of age x counts as
 * F(x) (1 - q) / (1 - q F(x)) of a 0 — so an arm whose rewards come fast or slow, or one with many
 * trials in flight, is neither overrated (rewards counted before the silences) nor learnt late
 * (every trial held to its window's end). Events after the window are counted as late and
 * ignored; events for unknown keys as unmatched.
 *
 * Single-threaded and deterministic: the same calls with the same seed give the same shares, bit
 * for bit. The server (serve/bandit.h) calls it from one thread and publishes the shares to the
 * request path; a simulation (bench/experiment/sim_bandit.c) calls it with its own clock.
 *
 * Example:
 *   fw_bandit_opts o; fw_bandit_opts_init(&o); o.n_arms = 2; o.window = 3600; o.seed = 7;
 *   fw_bandit *b; fw_bandit_new(&o, &b, &err);
 *   double sh[FW_BANDIT_MAX_ARMS]; fw_bandit_shares(b, sh);   // 0.5, 0.5 before any data
 *   int arm = fw_bandit_pick(sh, 2, u);                        // u uniform in [0, 1)
 *   fw_bandit_trial(b, key, arm, now);  ...  fw_bandit_reward(b, key, 1, later);
 *   fw_bandit_advance(b, now);  fw_bandit_shares(b, sh);       // periodically
 */
#ifndef FW_EXPERIMENT_BANDIT_H
#define FW_EXPERIMENT_BANDIT_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_BANDIT_MAX_ARMS 16

typedef enum fw_bandit_model {
    FW_BANDIT_RATE = 0, /* Beta-Bernoulli: reward 1 when the event came within the window */
    FW_BANDIT_MEAN = 1, /* Gaussian: reward = the event's values summed within the window */
} fw_bandit_model;

typedef struct fw_bandit_opts {
    size_t n_arms;       /* 2 .. FW_BANDIT_MAX_ARMS */
    fw_bandit_model model;
    double min_share;    /* each arm's routing share is at least this (0 <= min_share <= 1 / n_arms);
                            default 0.05 */
    double window;       /* the reward window, in the caller's time unit (> 0); default 3600 */
    uint32_t draws;      /* Monte Carlo draws per fw_bandit_shares; default 1024 (P(best) to +-0.016) */
    uint64_t seed;       /* default 1 */
    size_t max_pending;  /* trials waiting for their window; past it a trial is not tracked (counted);
                            default 262144 */
    double prior_a, prior_b; /* the Beta prior (rate); default 1, 1 */
} fw_bandit_opts;

void fw_bandit_opts_init(fw_bandit_opts *o);

typedef struct fw_bandit fw_bandit;

/* FW_EINVAL (message says which option) or FW_ENOMEM. */
fw_status fw_bandit_new(const fw_bandit_opts *o, fw_bandit **out, fw_err *err);
void fw_bandit_free(fw_bandit *b);

/* A trial begins: the request with key (nonzero, unique per request) was answered by arm at time
 * t. Returns false when not tracked (pending table full, a repeated key, a bad arm; counted). */
bool fw_bandit_trial(fw_bandit *b, uint64_t key, int arm, double t);
/* A reward event for the request with key at time t (value: NaN counts as 1). Returns true when it
 * joined an open trial; false when its key is unknown (unmatched) or its window had closed (late). */
bool fw_bandit_reward(fw_bandit *b, uint64_t key, double value, double t);
/* Closes every trial whose window ended by now (begin + window <= now): a silent one enters its
 * arm's posterior as a 0. now is also the clock the silent trials' ages are read against in
 * fw_bandit_shares. Returns how many closed. */
size_t fw_bandit_advance(fw_bandit *b, double now);
/* The routing shares (n_arms values summing to 1): min_share + (1 - n_arms min_share) x the arm's
 * posterior probability of having the best mean, from `draws` seeded draws. Also kept for
 * fw_bandit_json. */
void fw_bandit_shares(fw_bandit *b, double *shares);
/* The arm for u in [0, 1) under shares (cumulative; the last arm takes rounding). */
int fw_bandit_pick(const double *shares, size_t n_arms, double u);

typedef struct fw_bandit_arm_stats {
    uint64_t trials;     /* trials in the posterior: settled by a reward, or closed silent */
    double reward_sum;   /* successes (rate) or the summed reward (mean) of those */
    double reward_sumsq;
    uint64_t pending;    /* trials begun, window open, no reward yet (silent) */
    double pending_weight; /* the 0s the silent ones count as, as of the last fw_bandit_shares */
    uint64_t begun;      /* trials begun (tracked) */
    double mean;         /* posterior mean of the reward (rate: (a + s) / (a + b + n + pending_weight);
                            mean: s / (n + pending_weight)) */
    double share, p_best; /* as of the last fw_bandit_shares */
} fw_bandit_arm_stats;

void fw_bandit_arm(const fw_bandit *b, int arm, fw_bandit_arm_stats *out);

typedef struct fw_bandit_counts {
    uint64_t untracked;  /* trials not tracked (table full, repeated key) */
    uint64_t unmatched;  /* rewards with no trial */
    uint64_t late;       /* rewards after their trial's window */
    uint64_t joined;     /* rewards added to an open trial */
} fw_bandit_counts;

void fw_bandit_counts_get(const fw_bandit *b, fw_bandit_counts *out);

/* The state as one JSON object (docs/EXPERIMENTS.md): names (may be NULL: "0", "1", ...) label the
 * arms. */
void fw_bandit_json(const fw_bandit *b, const char *const *names, fw_buf *out);

#endif
