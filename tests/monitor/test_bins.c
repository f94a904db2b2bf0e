/* test_bins.c — tests for src/monitor/bins.h: the halving search gives the linear count of edges at
 * or below a value for every length 0..70, ties (point-mass edges), infinities and values on,
 * between, below and above the edges, and so does the unrolled search over the edges padded with NaN
 * to a power of two (up to 1,024 edges); fw_bins_sorted refuses disorder and NaN. */
#include "monitor/bins.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static uint32_t linear(const double *e, uint32_t n, double x) {
    uint32_t b = 0;
    for (uint32_t i = 0; i < n; i++) b += x >= e[i];
    return b;
}

static void test_count_is_the_linear_count(void) {
    unsigned seed = 11;
    double e[72], u[4];
    size_t checked = 0, wrong = 0;
    for (uint32_t n = 0; n <= 70; n++)
        for (int rep = 0; rep < 20; rep++) {
            double at = -5;
            for (uint32_t i = 0; i < n; i++) { /* ascending, with ties */
                fw_test_uniforms(&seed, u, 1);
                if (u[0] > -0.6) at += (u[0] + 1) * 3;
                e[i] = at;
            }
            if (n && rep == 7) e[n - 1] = INFINITY;
            if (n && rep == 8) e[0] = -INFINITY;
            CHECK(fw_bins_sorted(e, n));
            double xs[8] = {-INFINITY, INFINITY, -1e300, 1e300, n ? e[0] : 0, n ? e[n / 2] : 0, n ? e[n - 1] : 0, 0};
            for (int k = 0; k < 40; k++) {
                double x;
                if (k < 8) x = xs[k];
                else {
                    fw_test_uniforms(&seed, u, 1);
                    x = -10 + (u[0] + 1) * 1.7 * (n + 4);
                }
                checked++;
                if (fw_bins_count_le(e, n, x) != linear(e, n, x)) wrong++;
                double pad[1024];
                uint32_t lg = fw_bins_log2(n);
                for (uint32_t i = 0; i < (1u << lg); i++) pad[i] = i < n ? e[i] : NAN;
                if (fw_bins_count_pow2(pad, lg, x) != linear(e, n, x)) wrong++;
            }
        }
    CHECK_MSG(wrong == 0, "%zu of %zu searches differ from the linear count", wrong, checked);
    /* the widest: 1,024 edges */
    static double big[1024];
    for (uint32_t i = 0; i < 1024; i++) big[i] = (double)(i / 3); /* ties of three */
    CHECK_EQ(fw_bins_log2(1024), 10u);
    CHECK_EQ(fw_bins_log2(1025), 11u);
    for (double x = -2; x < 345; x += 0.25)
        CHECK_EQ(fw_bins_count_pow2(big, 10, x), linear(big, 1024, x));
}

static void test_sorted(void) {
    double a[4] = {1, 2, 2, 3};
    CHECK(fw_bins_sorted(a, 4));
    CHECK(fw_bins_sorted(a, 0));
    a[2] = 2.5;
    CHECK(fw_bins_sorted(a, 4));
    a[2] = 0.5;
    CHECK(!fw_bins_sorted(a, 4));
    a[2] = NAN;
    CHECK(!fw_bins_sorted(a, 4));
    double one[1] = {NAN};
    CHECK(!fw_bins_sorted(one, 1));
}

int main(void) {
    TEST_RUN(test_count_is_the_linear_count);
    TEST_RUN(test_sorted);
    return fw_test_report("test_bins");
}
