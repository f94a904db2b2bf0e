/* test_text.c — the one home of number and string text (src/core/dtoa.c, json_out.c, decimal.c):
 * fw_dtoa gives exactly the reference's bytes (the first of "%.15g", "%.16g", "%.17g" strtod reads back) over
 * edge cases and a million random values; it reads back to the same double (17 significant digits
 * round trip); -0, subnormals, NaN and the infinities; fw_json_put_* on invalid UTF-8, control
 * characters and very long strings (always valid JSON, checked with jansson); fw_decimal_parse
 * gives exactly strtod's double. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/decimal.h"
#include "core/dtoa.h"
#include "core/json_out.h"
#include "core/rng.h"
#include "test.h"

#include <float.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

static int g_bad;

/* the definition dtoa.h states, written the slow, obvious way */
static void reference(double v, char *out, size_t cap) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void check_dtoa(double v) {
    if (!isfinite(v)) return;
    char want[64], got[FW_DTOA_MAX + 8];
    memset(got, 'x', sizeof got);
    reference(v, want, sizeof want);
    size_t n = fw_dtoa(v, got);
    if ((n != strlen(want) || strcmp(want, got) != 0) && g_bad++ < 10)
        CHECK_MSG(0, "fw_dtoa(%a): want %s, got %.*s", v, want, (int)n, got);
    double back = strtod(got, NULL);
    if (memcmp(&back, &v, sizeof v) != 0 && g_bad++ < 10) CHECK_MSG(0, "fw_dtoa(%a) = %s does not read back", v, got);
}

static double from_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void test_dtoa_special(void) {
    char b[FW_DTOA_MAX];
    CHECK_EQ(fw_dtoa(0.0, b), 1);
    CHECK_STR(b, "0");
    CHECK_EQ(fw_dtoa(-0.0, b), 2);
    CHECK_STR(b, "-0");
    fw_num_format(-0.0, b); /* category names: one value, one name */
    CHECK_STR(b, "0");
    fw_num_format(3.0, b);
    CHECK_STR(b, "3");
    fw_dtoa(NAN, b);
    CHECK_STR(b, "nan");
    fw_dtoa(-NAN, b);
    CHECK_STR(b, "nan");
    fw_dtoa(INFINITY, b);
    CHECK_STR(b, "inf");
    fw_dtoa(-INFINITY, b);
    CHECK_STR(b, "-inf");
    fw_dtoa(0.1, b);
    CHECK_STR(b, "0.1");
    fw_dtoa(0.1 + 0.2, b);
    CHECK_STR(b, "0.30000000000000004");
    fw_dtoa(1e-5, b);
    CHECK_STR(b, "1e-05");
    fw_dtoa(1.000000000000001, b); /* 16 digits when 15 do not read back and 16 do */
    CHECK_STR(b, "1.000000000000001");
    fw_dtoa(1.5e-5, b);
    CHECK_STR(b, "1.5e-05");
    fw_dtoa(1e20, b);
    CHECK_STR(b, "1e+20");
    fw_dtoa(-1234.5, b);
    CHECK_STR(b, "-1234.5");
    fw_dtoa(4.9406564584124654e-324, b); /* the smallest subnormal: 15 digits read back */
    CHECK_STR(b, "4.94065645841247e-324");
    fw_dtoa(2.2250738585072009e-308, b); /* the largest subnormal */
    CHECK_STR(b, "2.225073858507201e-308");
    fw_dtoa(DBL_MAX, b);
    CHECK_STR(b, "1.7976931348623157e+308");
    CHECK(strlen("-2.2250738585072014e-308") < FW_DTOA_MAX);
    g_bad = 0;
    const double v[] = {1, -1, 0.5, 1.0 / 3, 2.0 / 3, 1e-16, 9.9999999999999998e-17, 1e-4, 9.9999999999999991e-05,
                        0.0001000000000000001, 999999999999999.88, 99999999999999.984, 1e15, 1e16, 1e17,
                        123456789012345678.0, 0.77169113095643338, 0.35061607316560278, 9.5, 0.95, 1e-10, 1e308,
                        1e-300, 5e-324, DBL_MIN, nextafter(DBL_MIN, 0), 1 + 0x1p-17, 1 + 0x1p-20, 3 + 0x1p-16,
                        0.5 + 0x1p-19, 1024 + 0x1p-7, 0.99999999999999989, 1.0000000000000002, 123.45, -0.000123};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) check_dtoa(v[i]);
    /* powers of two and their neighbours (the interval below a power of two is half as wide) */
    for (int k = -60; k < 60; k++) {
        double p2 = ldexp(1, k);
        check_dtoa(p2);
        check_dtoa(nextafter(p2, 0));
        check_dtoa(nextafter(p2, INFINITY));
    }
    /* powers of ten and their neighbours (the decade boundaries of the notation) */
    for (int k = -20; k < 20; k++) {
        double p = pow(10, k);
        check_dtoa(p);
        check_dtoa(nextafter(p, 0));
        check_dtoa(nextafter(p, INFINITY));
        check_dtoa(p * 9.9999999999999991);
    }
    /* short decimals and their neighbours; ties at the 18th digit round half to even, as printf */
    for (int k = 1; k < 3000; k++) {
        double d = k * 0.001;
        check_dtoa(d);
        check_dtoa(nextafter(d, 0));
        check_dtoa(nextafter(d, INFINITY));
    }
    for (int k = 1; k < 50; k++) {
        check_dtoa(1 + ldexp(1, -k));
        check_dtoa(7 + ldexp(3, -k));
    }
    CHECK_EQ(g_bad, 0);
}

static void test_dtoa_random(void) {
    g_bad = 0;
    fw_rng r;
    fw_rng_seed(&r, 17);
    char t[64];
    for (int i = 0; i < 200000; i++) {
        check_dtoa(from_bits(fw_rng_next(&r)));                                        /* any bit pattern */
        check_dtoa(from_bits(fw_rng_next(&r) >> 12));                                  /* subnormals */
        check_dtoa(1.0 / (1.0 + exp(-(fw_rng_uniform(&r) * 20 - 10))));              /* probabilities */
        check_dtoa((fw_rng_uniform(&r) - 0.5) * pow(10, (double)fw_rng_below(&r, 44) - 22));
        check_dtoa((double)(int64_t)(fw_rng_next(&r) >> fw_rng_below(&r, 64)));     /* integers */
        snprintf(t, sizeof t, "%.14e", fw_rng_uniform(&r) * pow(10, (double)fw_rng_below(&r, 40) - 20));
        check_dtoa(strtod(t, NULL)); /* 15 significant digits: the short form */
        snprintf(t, sizeof t, "%.15e", fw_rng_uniform(&r) * pow(10, (double)fw_rng_below(&r, 40) - 20));
        check_dtoa(strtod(t, NULL)); /* 16 */
    }
    CHECK_EQ(g_bad, 0);
}

/* 17 significant digits round trip: every double written and read back is the same double */
static void test_round_trip(void) {
    fw_rng r;
    fw_rng_seed(&r, 99);
    int bad = 0;
    for (int i = 0; i < 300000; i++) {
        double v = from_bits(fw_rng_next(&r));
        if (!isfinite(v)) continue;
        char b[FW_DTOA_MAX];
        size_t n = fw_dtoa(v, b);
        double back;
        if (!fw_decimal_parse(b, n, &back, NULL) || memcmp(&back, &v, sizeof v) != 0) bad++;
    }
    CHECK_EQ(bad, 0);
}

static char *json_of(const char *s, size_t n) {
    fw_buf b;
    fw_buf_init(&b);
    fw_json_put_strn(&b, s, n);
    fw_buf_put_u8(&b, 0);
    return (char *)fw_buf_take(&b, NULL);
}

/* the literal is JSON, and jansson reads it back to the expected text */
static void check_json(const char *s, size_t n, const char *want_literal, const char *want_value) {
    char *j = json_of(s, n);
    if (want_literal) CHECK_STR(j, want_literal);
    json_error_t je;
    json_t *v = json_loads(j, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    CHECK_MSG(v && json_is_string(v), "not a JSON string: %s (%s)", j, je.text);
    if (v && want_value) {
        CHECK_EQ(json_string_length(v), strlen(want_value));
        CHECK(memcmp(json_string_value(v), want_value, strlen(want_value)) == 0);
    }
    json_decref(v);
    fw_free(j);
}

static void test_json_strings(void) {
    check_json("plain", 5, "\"plain\"", "plain");
    check_json("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"", "q\"b\\s/");
    check_json("a\nb\rc\td", 7, "\"a\\nb\\rc\\td\"", "a\nb\rc\td");
    check_json("\x01\x08\x0c\x1f\x7f", 5, "\"\\u0001\\u0008\\u000c\\u001f\x7f\"", "\x01\x08\x0c\x1f\x7f");
    check_json("a\0b", 3, "\"a\\u0000b\"", NULL); /* an embedded NUL (length given) */
    /* valid UTF-8 passes: 2, 3 and 4 bytes, the edges U+0080, U+07FF, U+FFFF, U+10FFFF */
    check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", NULL);
    check_json("\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf", 11, "\"\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", NULL);
    /* invalid: each bad byte becomes U+FFFD — a lone continuation byte, a bad lead (0xff, 0xc0),
     * an overlong form (c0 af), a surrogate (ed a0 80), above U+10FFFF (f4 90 80 80), a sequence cut
     * short by the end or by an ASCII byte */
    check_json("\x80", 1, "\"\\ufffd\"", "\xef\xbf\xbd");
    check_json("a\xff" "b", 3, "\"a\\ufffdb\"", "a\xef\xbf\xbd" "b");
    check_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"", NULL);
    check_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", NULL);
    check_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", NULL);
    check_json("x\xe2\x82", 3, "\"x\\ufffd\\ufffd\"", NULL);
    check_json("\xe2\x82z", 3, "\"\\ufffd\\ufffdz\"", NULL);
    /* NUL-terminated and NULL */
    fw_buf b;
    fw_buf_init(&b);
    fw_json_put_str(&b, NULL);
    fw_buf_put_u8(&b, ',');
    fw_json_put_str(&b, "x\xff");
    fw_buf_put_u8(&b, 0);
    CHECK_STR((const char *)b.data, "null,\"x\\ufffd\"");
    fw_buf_free(&b);
    /* numbers: shortest round trip; non-finite values are null */
    fw_buf_init(&b);
    const double nums[] = {0.1, -0.0, NAN, INFINITY, -INFINITY, 1e300, 5e-324, 0.30000000000000004};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (i) fw_buf_put_u8(&b, ',');
        fw_json_put_f64(&b, nums[i]);
    }
    fw_buf_put_u8(&b, 0);
    CHECK_STR((const char *)b.data, "0.1,-0,null,null,null,1e+300,4.94065645841247e-324,0.30000000000000004");
    fw_buf_free(&b);
}

/* random bytes of every kind, and a very long string: always one valid JSON string, which reads
 * back to the input wherever the input was valid UTF-8 */
static void test_json_random_and_long(void) {
    fw_rng r;
    fw_rng_seed(&r, 3);
    int bad = 0;
    char s[64];
    for (int i = 0; i < 50000; i++) {
        size_t n = fw_rng_below(&r, sizeof s);
        for (size_t k = 0; k < n; k++) s[k] = (char)fw_rng_below(&r, 256);
        char *j = json_of(s, n);
        json_error_t je;
        json_t *v = json_loads(j, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v || !json_is_string(v)) bad++;
        json_decref(v);
        fw_free(j);
    }
    CHECK_EQ(bad, 0);
    size_t n = 5u << 20; /* 5 MiB: every kind of byte, repeated */
    char *big = malloc(n);
    CHECK(big != NULL);
    if (!big) return;
    const char unit[] = "ab\"\\\n\x01\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff z";
    for (size_t k = 0; k < n; k++) big[k] = unit[k % (sizeof unit - 1)];
    char *j = json_of(big, n);
    json_error_t je;
    json_t *v = json_loads(j, JSON_DECODE_ANY, &je);
    CHECK_MSG(v && json_is_string(v), "long string: %s", je.text);
    if (v) CHECK(json_string_length(v) > n); /* \xff became 3 bytes (U+FFFD) */
    json_decref(v);
    fw_free(j);
    free(big);
}

static void check_parse(const char *s) {
    double got, want = strtod(s, NULL);
    bool ok = fw_decimal_parse(s, strlen(s), &got, NULL);
    if (isinf(want)) {
        if (ok && g_bad++ < 10) CHECK_MSG(0, "parse %s: overflow accepted", s);
        return;
    }
    if ((!ok || memcmp(&got, &want, sizeof got) != 0) && g_bad++ < 10)
        CHECK_MSG(0, "parse %s: want %a, got %s %a", s, want, ok ? "ok" : "refused", got);
}

static void test_decimal(void) {
    g_bad = 0;
    const char *s[] = {"0.64", "-0.0", "0.000123", "1.5e3", "1.5E-3", "123456789012345.6", "0.1", "9007199254740993",
                       "9007199254740993.0", "1e22", "1e-22", "1e23", "4.35e+2", "-12.5e-10", "0.30000000000000004",
                       "+7", ".5", "5.", "4.9406564584124654e-324", "2.4703282292062328e-324", "1e-400",
                       "1.7976931348623157e308", "12345678901234567890123", "0.1000000000000000055511151231257827"};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) check_parse(s[i]);
    double v;
    bool is_int = false;
    CHECK(fw_decimal_parse("-0", 2, &v, &is_int) && v == 0 && signbit(v) && is_int);
    CHECK(fw_decimal_parse("2.5", 3, &v, &is_int) && v == 2.5 && !is_int);
    CHECK(fw_decimal_parse("1e3", 3, &v, &is_int) && v == 1000 && !is_int);
    const char *refused[] = {"", " 1", "1 ", "1.2.3", "12abc", "0x1F", "inf", "nan", "1e", "1e+", "-", ".", "1,000", "2e999"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK_MSG(!fw_decimal_parse(refused[i], strlen(refused[i]), &v, NULL), "accepted '%s'", refused[i]);
    /* a very long number (the strtod path past the stack buffer) */
    char longnum[400];
    memset(longnum, '3', sizeof longnum - 1);
    longnum[1] = '.';
    longnum[sizeof longnum - 1] = 0;
    check_parse(longnum);
    fw_rng r;
    fw_rng_seed(&r, 5);
    char buf[64];
    for (int i = 0; i < 300000; i++) {
        int ndig = 1 + (int)fw_rng_below(&r, 25), dot = (int)fw_rng_below(&r, (uint64_t)ndig + 1);
        size_t o = 0;
        if (fw_rng_below(&r, 4) == 0) buf[o++] = '-';
        for (int k = 0; k < ndig; k++) {
            if (k == dot && k) buf[o++] = '.';
            buf[o++] = (char)('0' + fw_rng_below(&r, 10));
        }
        if (fw_rng_below(&r, 3) == 0)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "e%d", (int)fw_rng_below(&r, 81) - 40);
        buf[o] = 0;
        check_parse(buf);
    }
    CHECK_EQ(g_bad, 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_dtoa_special);
    TEST_RUN(test_dtoa_random);
    TEST_RUN(test_round_trip);
    TEST_RUN(test_json_strings);
    TEST_RUN(test_json_random_and_long);
    TEST_RUN(test_decimal);
    return fw_test_report(argv[0]);
}
