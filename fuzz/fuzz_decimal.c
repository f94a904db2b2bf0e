/* fuzz_decimal.c — libFuzzer target for core/decimal (fw_decimal_parse, the one reader of number
 * text: CSV and JSONL cells, the server's request decoder, batch input, the YAML getters), checked
 * against an independent reference on every input:
 *   - accepted exactly when the text matches [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
 *     and strtod (C locale) of it is finite;
 *   - the value is strtod's bit for bit (the sign of zero included);
 *   - is_int is set exactly when there is no '.' and no exponent part.
 * The first byte, when it is 'N', means "parse the rest as one number"; otherwise the input is cut
 * at '\n' and each piece is checked (more numbers per run). Build and run: fuzz/README.md. */
#include "core/decimal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The grammar, written independently of decimal.c; *is_int as decimal.h defines it. */
static bool fw_fuzz_decimal_grammar(const char *s, size_t n, bool *is_int) {
    size_t i = 0, int_digits = 0, frac_digits = 0;
    bool dot = false, ex = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, int_digits++;
    if (i < n && s[i] == '.') {
        dot = true;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, frac_digits++;
    }
    if (int_digits + frac_digits == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ex = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, e++;
        if (!e) return false;
    }
    *is_int = !dot && !ex;
    return i == n;
}

static void fw_fuzz_decimal_check(const char *s, size_t n) {
    double got = 12345.0;
    bool got_int = false;
    bool ok = fw_decimal_parse(s, n, &got, &got_int);
    bool want_int = false;
    bool want = fw_fuzz_decimal_grammar(s, n, &want_int);
    double ref = 0;
    if (want) {
        char *z = malloc(n + 1);
        if (!z) abort();
        memcpy(z, s, n);
        z[n] = 0;
        char *end = NULL;
        ref = strtod(z, &end);
        if (end != z + n) abort(); /* the reference grammar and strtod disagree: a bug in this target */
        free(z);
        want = ref - ref == 0; /* finite */
    }
    if (ok != want) abort();
    if (!ok) return;
    if (memcmp(&got, &ref, sizeof got) != 0) abort(); /* not strtod's double, bit for bit */
    if (got_int != want_int) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    if (size > 0 && s[0] == 'N') {
        fw_fuzz_decimal_check(s + 1, size - 1);
        return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size || s[i] == '\n') {
            fw_fuzz_decimal_check(s + start, i - start);
            start = i + 1;
        }
    return 0;
}

#include "driver.h"
