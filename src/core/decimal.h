/* decimal.h — owns reading decimal number text into a double, for every reader of numbers: CSV and
 * JSONL cells (data/scalar.h), the server's request decoder, batch input.
 *
 * The one behaviour: the correctly rounded double (exactly strtod's in the C locale) of text
 *   [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
 * and nothing else: no spaces, no hex, no "inf"/"nan", no thousands separators. Text that
 * overflows to ±inf is refused; text that underflows reads as 0 or a subnormal, as strtod does.
 * "-0" reads as -0. Fast path (Clinger): up to 19 significant digits whose value is below 2^53
 * and a decimal exponent within ±22 is one exact multiply or divide, correctly rounded; strtod
 * otherwise. Pure, thread-safe; allocates only for numbers longer than 127 characters. */
#ifndef FW_CORE_DECIMAL_H
#define FW_CORE_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s[0..n) as above. Returns true and sets *out on success; *is_int (may be NULL) is set
 * when the text has no fraction and no exponent part. */
bool fw_decimal_parse(const char *s, size_t n, double *out, bool *is_int);

/* Powers of ten exactly representable as doubles (10^0 .. 10^22); decimal.c defines them. */
extern const double fw__exact_pow10[23];

/* Clinger's exact case on its own, for scanners that gather the digits themselves: the value
 * (neg ? -1 : 1) * mant * 10^exp10, where mant holds every significant digit exactly. True and *out
 * when it is exact in one IEEE operation (mant <= 2^53, |exp10| <= 22; mant 0 gives ±0), which is
 * then the correctly rounded double, fw_decimal_parse's; false: the caller parses the text.
 * Inline: the /v1 decoder calls it once per number. */
static inline bool fw_decimal_exact(uint64_t mant, int exp10, bool neg, double *out) {
    double v;
    if (mant == 0) {
        v = 0.0;
    } else if (mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        /* both operands exact, one IEEE operation: correctly rounded */
        v = (double)mant;
        v = exp10 < 0 ? v / fw__exact_pow10[-exp10] : v * fw__exact_pow10[exp10];
    } else {
        return false;
    }
    *out = neg ? -v : v;
    return true;
}

#endif
