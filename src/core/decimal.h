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

/* Parses s[0..n) as above. Returns true and sets *out on success; *is_int (may be NULL) is set
 * when the text has no fraction and no exponent part. */
bool fw_decimal_parse(const char *s, size_t n, double *out, bool *is_int);

#endif
