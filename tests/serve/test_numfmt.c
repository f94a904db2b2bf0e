/* test_numfmt.c — the server's number text (src/serve/numfmt.c): fw__fmt_g17 must give exactly
 * printf("%.17g")'s bytes and fw__parse_short_decimal exactly strtod's double, over edge cases and
 * hundreds of thousands of random values (random bit patterns, probabilities, integers, decimals). */
#include "core/rng.h"
#include "serve/numfmt.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

static int g_bad;

static void check_fmt(double v) {
    char want[64], got[33];
    snprintf(want, sizeof want, "%.17g", v);
    size_t n = fw__fmt_g17(v, got);
    got[n < 32 ? n : 32] = 0;
    if (strcmp(want, got) != 0 && g_bad++ < 10) CHECK_MSG(0, "%%.17g of %a: want %s, got %s", v, want, got);
}

static void check_parse(const char *s) {
    double got;
    if (!fw__parse_short_decimal(s, strlen(s), &got)) return;
    double want = strtod(s, NULL);
    if (memcmp(&got, &want, sizeof got) != 0 && g_bad++ < 10)
        CHECK_MSG(0, "parse %s: want %a, got %a", s, want, got);
}

static double from_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void test_format_edges(void) {
    g_bad = 0;
    const double v[] = {0.0, -0.0, 1, -1, 0.5, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e-16, 9.9999999999999998e-17, 1e-5,
                        1e-4, 0.0001234, 9.99999999999999999e-5, 99999999999999999.0, 1e17, 9.999999999999999e16,
                        1e16, 123456789012345678.0, 0.77169113095643338, 0.22830886904356662, 4.9e-324, 1e308,
                        -2.5, 1e15 + 0.5, 7, 10, 100, 1e-300, 5e-17, 0.35061607316560278, 9.5, 0.95, 1e-10};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) check_fmt(v[i]);
    char nan_out[32];
    size_t n = fw__fmt_g17(NAN, nan_out);
    CHECK(n > 0 && n < 32);
    CHECK_EQ(g_bad, 0);
}

static void test_format_random(void) {
    g_bad = 0;
    fw_rng r;
    fw_rng_seed(&r, 17);
    for (int i = 0; i < 150000; i++) {
        check_fmt(from_bits(fw_rng_next(&r)));                             /* any double */
        check_fmt(fw_rng_uniform(&r));                                     /* probabilities */
        check_fmt((fw_rng_uniform(&r) - 0.5) * pow(10, (double)fw_rng_below(&r, 40) - 20));
        check_fmt((double)(int64_t)(fw_rng_next(&r) >> fw_rng_below(&r, 64))); /* integers */
        check_fmt((double)fw_rng_below(&r, 100000) / 1000.0);              /* short decimals */
    }
    CHECK_EQ(g_bad, 0);
}

static void test_parse(void) {
    g_bad = 0;
    const char *s[] = {"0.64", "-0.0", "0.000123", "1.5e3", "1.5E-3", "123456789012345.6", "0.1", "9007199254740993.0",
                       "1e22", "1e-22", "4.35e+2", "-12.5e-10", "0.30000000000000004"};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) check_parse(s[i]);
    double v;
    CHECK(fw__parse_short_decimal("0.64", 4, &v) && v == 0.64);
    CHECK(!fw__parse_short_decimal("1e23", 4, &v));
    CHECK(!fw__parse_short_decimal("1.2345678901234567", 18, &v));
    fw_rng r;
    fw_rng_seed(&r, 5);
    char buf[64];
    for (int i = 0; i < 200000; i++) {
        int ndig = 1 + (int)fw_rng_below(&r, 15), dot = (int)fw_rng_below(&r, (uint64_t)ndig + 1);
        size_t o = 0;
        if (fw_rng_below(&r, 4) == 0) buf[o++] = '-';
        for (int k = 0; k < ndig; k++) {
            if (k == dot && k) buf[o++] = '.';
            buf[o++] = (char)('0' + fw_rng_below(&r, 10));
        }
        if (fw_rng_below(&r, 3) == 0) o += (size_t)snprintf(buf + o, sizeof buf - o, "e%d", (int)fw_rng_below(&r, 41) - 20);
        buf[o] = 0;
        check_parse(buf);
    }
    CHECK_EQ(g_bad, 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_format_edges);
    TEST_RUN(test_format_random);
    TEST_RUN(test_parse);
    return fw_test_report(argv[0]);
}
