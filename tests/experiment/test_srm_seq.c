/* test_srm_seq.c — the anytime-valid SRM test of experiment/srm_seq.h: the per-unit update equals
 * the closed form from counts, bad arguments are refused, and by small simulations the properties
 * that matter: read after every unit, A/A false alarms stay <= alpha (the chi-square read after
 * every 100 units does not), and a real mismatch is caught. */
#include "experiment/srm_seq.h"
#include "test.h"

#include <math.h>
#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double unif(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static void test_closed_form(void) {
    fw_srm_seq t;
    double p0[3] = {2, 1, 1}; /* normalised to 0.5, 0.25, 0.25 */
    CHECK_EQ(fw_srm_seq_init(&t, 3, p0, 50, 0.01), 0);
    CHECK_NEAR(t.p0[0], 0.5, 1e-15);
    CHECK(t.p_value == 1 && !t.rejected);
    uint64_t x[3] = {0, 0, 0};
    for (int i = 0; i < 500; i++) {
        int arm = i % 7 == 0 ? 2 : i % 3 == 0 ? 1 : 0;
        fw_srm_seq_add(&t, arm, 1);
        x[arm]++;
    }
    CHECK_NEAR(t.log_bf, fw_srm_seq_log_bf(3, t.p0, 50, x), 1e-9);
    fw_srm_seq u;
    fw_srm_seq_init(&u, 3, p0, 50, 0.01);
    fw_srm_seq_set_counts(&u, x);
    CHECK_NEAR(u.log_bf, t.log_bf, 1e-9);
    CHECK(u.max_log_bf <= t.max_log_bf + 1e-9); /* one look cannot exceed the running max of 500 */
    /* the p-value never rises */
    double p = t.p_value;
    fw_srm_seq_add(&t, 0, 1);
    CHECK(t.p_value <= p);
    double one[2] = {1, 0};
    CHECK_EQ(fw_srm_seq_init(&u, 2, one, 0, 0.01), -1);
    CHECK_EQ(fw_srm_seq_init(&u, 1, p0, 0, 0.01), -1);
    CHECK_EQ(fw_srm_seq_init(&u, 2, p0, 0, 1.5), -1);
    CHECK_EQ(fw_srm_seq_init(&u, 2, p0, 0, 0.01), 0);
    CHECK_NEAR(u.conc, FW_SRM_SEQ_CONCENTRATION, 0);
}

/* Pearson chi-square with 1 degree of freedom beyond the 0.05 critical value (3.841). */
static bool chi2_rejects(uint64_t a, uint64_t b, double pa) {
    double n = (double)(a + b), ea = n * pa, eb = n * (1 - pa);
    double c = (a - ea) * (a - ea) / ea + (b - eb) * (b - eb) / eb;
    return c > 3.841458820694124;
}

static void test_aa_peeking(void) {
    int sims = 400, units = 4000, seq_fa = 0, chi_fa = 0;
    double p0[2] = {0.5, 0.5};
    for (int k = 0; k < sims; k++) {
        fw_srm_seq t;
        fw_srm_seq_init(&t, 2, p0, 100, 0.05);
        uint64_t a = 0;
        bool chi = false;
        for (int i = 1; i <= units; i++) {
            int arm = unif() < 0.5;
            a += (uint64_t)(arm == 0);
            fw_srm_seq_add(&t, arm, 1);
            if (i % 100 == 0 && chi2_rejects(a, (uint64_t)i - a, 0.5)) chi = true;
        }
        seq_fa += t.rejected;
        chi_fa += chi;
    }
    double fa = (double)seq_fa / sims, fc = (double)chi_fa / sims;
    /* Ville: <= alpha = 0.05 (plus 3 binomial standard errors); the chi-square peeked 40 times is far above */
    CHECK(fa <= 0.05 + 3 * sqrt(0.05 * 0.95 / sims));
    CHECK(fc > 0.15);
    CHECK(fc > 3 * fa);
}

static void test_detects(void) {
    /* 10% of the treatment's units lost: its share falls from 0.5 to 0.4737 */
    int sims = 100, caught = 0;
    double p0[2] = {0.5, 0.5}, share = 0.45 / 0.95;
    for (int k = 0; k < sims; k++) {
        fw_srm_seq t;
        fw_srm_seq_init(&t, 2, p0, 1000, 0.001);
        for (int i = 0; i < 40000 && !t.rejected; i++) fw_srm_seq_add(&t, unif() < share, 1);
        caught += t.rejected;
    }
    CHECK(caught >= 90);
}

int main(void) {
    TEST_RUN(test_closed_form);
    TEST_RUN(test_aa_peeking);
    TEST_RUN(test_detects);
    return fw_test_report("test_srm_seq");
}
