/* test_scalar.c — tests for src/data/scalar.c and schema inference: the number parser is exact
 * (checked against strtod on many generated strings, fast path and fallback), strict (rejects
 * malformed text), timestamps are range-checked and converted correctly, and the inference rule. */
#include "data/scalar.h"
#include "data/schema.h"
#include "core/rng.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static bool num(const char *s, double *v) { return fw_parse_number(s, strlen(s), v, NULL); }

static void test_numbers_accept(void) {
    double v;
    bool is_int;
    CHECK(num("0", &v) && v == 0);
    CHECK(num("-12", &v) && v == -12);
    CHECK(num("+7", &v) && v == 7);
    CHECK(num("3.25", &v) && v == 3.25);
    CHECK(num(".5", &v) && v == 0.5);
    CHECK(num("5.", &v) && v == 5);
    CHECK(num("1e3", &v) && v == 1000);
    CHECK(num("1E-3", &v) && v == 0.001);
    CHECK(num(" 42 ", &v) && v == 42);
    CHECK(num("0.1", &v) && v == 0.1);
    CHECK(num("9007199254740993", &v) && v == 9007199254740992.0); /* rounds like strtod */
    CHECK(num("123456789012345678901234567890", &v) && v == 1.2345678901234568e29);
    CHECK(num("1e-320", &v) && v == 1e-320); /* subnormal via the fallback */
    CHECK(num("-0", &v) && v == 0 && signbit(v));
    CHECK(fw_parse_number("17", 2, &v, &is_int) && is_int);
    CHECK(fw_parse_number("17.0", 4, &v, &is_int) && !is_int);
    CHECK(fw_parse_number("12,5", 2, &v, NULL) && v == 12); /* length-bounded */
}

static void test_numbers_reject(void) {
    const char *bad[] = {"", " ", "1.2.3", "12abc", "0x1F", "inf", "nan", "NaN", "1e", "1e+",
                         "--1", "+-1", ".", "-", "1,000", "1 2", "e5", "1e5.5", "1d", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        CHECK_MSG(!num(bad[i], &v), "accepted '%s'", bad[i]);
    }
    double v;
    CHECK(!num("1e400", &v)); /* overflow is not a silently infinite value */
}

static void test_numbers_exact_vs_strtod(void) {
    fw_rng r;
    fw_rng_seed(&r, 7);
    char s[64];
    int mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        int kind = (int)fw_rng_below(&r, 4);
        uint64_t m = fw_rng_next(&r) >> fw_rng_below(&r, 64);
        int e = (int)fw_rng_below(&r, 70) - 35;
        int frac = (int)fw_rng_below(&r, 12);
        if (kind == 0)
            snprintf(s, sizeof s, "%llu", (unsigned long long)m);
        else if (kind == 1)
            snprintf(s, sizeof s, "%.*f", frac, (double)m / 1e6);
        else if (kind == 2)
            snprintf(s, sizeof s, "-%llue%d", (unsigned long long)m, e);
        else
            snprintf(s, sizeof s, "%.17g", fw_rng_normal(&r) * pow(10, e / 4));
        double a, b = strtod(s, NULL);
        if (!num(s, &a) || memcmp(&a, &b, sizeof a) != 0) {
            if (mismatches++ < 5) fw_test_fail(__FILE__, __LINE__, "'%s': %.17g vs strtod %.17g", s, a, b);
        }
    }
    CHECK_EQ(mismatches, 0);
}

static bool ts(const char *s, double *v) { return fw_parse_timestamp(s, strlen(s), v); }

static void test_timestamps(void) {
    double v;
    CHECK(ts("1970-01-01", &v) && v == 0);
    CHECK(ts("2000-02-29", &v) && v == 951782400);
    CHECK(ts("2024-01-02T03:04:05Z", &v) && v == 1704164645);
    CHECK(ts("2024-01-02 03:04:05.5", &v) && v == 1704164645.5);
    CHECK(ts("2024-01-02T03:04:05+01:00", &v) && v == 1704164645 - 3600);
    CHECK(ts("2024-01-02T03:04-0230", &v) && v == 1704164640 + 9000);
    CHECK(ts("1969-12-31T23:59:59Z", &v) && v == -1);
    const char *bad[] = {"2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-1-5",
                         "2024-01-02T24:00", "2024-01-02T10:60", "2024-01-02X10:00",
                         "2024-01-02T10:00:00.", "2024-01-02T10:00+5", "20240102", "2024-01-02T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!ts(bad[i], &v), "accepted '%s'", bad[i]);
}

static void test_missing(void) {
    CHECK(fw_is_missing("", 0, fw_default_missing, fw_default_n_missing));
    CHECK(fw_is_missing("NA", 2, fw_default_missing, fw_default_n_missing));
    CHECK(fw_is_missing("N/A", 3, fw_default_missing, fw_default_n_missing));
    CHECK(fw_is_missing("?", 1, fw_default_missing, fw_default_n_missing));
    CHECK(!fw_is_missing("na", 2, fw_default_missing, fw_default_n_missing));
    CHECK(!fw_is_missing("nil", 3, fw_default_missing, fw_default_n_missing));
    /* non-finite numbers are missing values in every usual spelling */
    const char *nonfinite[] = {"nan", "NaN", "NAN", "-nan", "inf", "-inf", "+inf", "Inf", "-Inf", "INF", "Infinity", "-Infinity"};
    for (size_t i = 0; i < sizeof nonfinite / sizeof *nonfinite; i++)
        CHECK_MSG(fw_is_missing(nonfinite[i], strlen(nonfinite[i]), fw_default_missing, fw_default_n_missing),
                  "'%s' is not missing", nonfinite[i]);
    CHECK(!fw_is_missing("infinite", 8, fw_default_missing, fw_default_n_missing));
}

static fw_col_type infer(const char *const *vals, size_t n, bool *is_int) {
    fw_infer_col c;
    fw_infer_col_init(&c);
    for (size_t i = 0; i < n; i++) fw_infer_col_text(&c, vals[i], strlen(vals[i]));
    fw_col_type t = fw_infer_col_type(&c, is_int);
    fw_infer_col_free(&c);
    return t;
}

static void test_inference_rule(void) {
    bool is_int;
    const char *ints[] = {"1", "2", "-3"};
    CHECK_EQ(infer(ints, 3, &is_int), FW_COL_NUMERIC);
    CHECK(is_int);
    const char *reals[] = {"1", "2.5"};
    CHECK_EQ(infer(reals, 2, &is_int), FW_COL_NUMERIC);
    CHECK(!is_int);
    const char *dates[] = {"2024-01-01", "2024-01-02T10:00:00Z"};
    CHECK_EQ(infer(dates, 2, NULL), FW_COL_TIMESTAMP);
    const char *cats[] = {"red", "blue", "red", "green", "red"};
    CHECK_EQ(infer(cats, 5, NULL), FW_COL_CATEGORICAL);
    const char *mixed[] = {"1", "two"};
    CHECK_EQ(infer(mixed, 2, NULL), FW_COL_CATEGORICAL);
    const char *text[] = {"a short free text", "another sentence with words", "yet more words here"};
    CHECK_EQ(infer(text, 3, NULL), FW_COL_TEXT);
    /* Distinct but short (ids, names): categorical. */
    const char *names[] = {"Alice Smith", "Bob Jones", "Carol White"};
    CHECK_EQ(infer(names, 3, NULL), FW_COL_CATEGORICAL);
    /* Repeated sentences (few distinct): categorical. */
    const char *rep[] = {"the same long phrase", "the same long phrase", "the same long phrase"};
    CHECK_EQ(infer(rep, 3, NULL), FW_COL_CATEGORICAL);
    CHECK_EQ(infer(NULL, 0, NULL), FW_COL_NUMERIC);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_numbers_accept);
    TEST_RUN(test_numbers_reject);
    TEST_RUN(test_numbers_exact_vs_strtod);
    TEST_RUN(test_timestamps);
    TEST_RUN(test_missing);
    TEST_RUN(test_inference_rule);
    return fw_test_report(argv[0]);
}
