/* scalar.h — owns parsing of one cell's text into a value: exact decimal numbers (a fast path for
 * up to 19 significant digits and small exponents, correctly rounded strtod otherwise), ISO 8601
 * dates and datetimes (→ Unix seconds), and the missing-value tokens. Every reader (CSV, JSONL,
 * batch, the server's record decoding) uses these so a value means the same thing everywhere.
 * All functions are pure and thread-safe. */
#ifndef FW_DATA_SCALAR_H
#define FW_DATA_SCALAR_H

#include <stdbool.h>
#include <stddef.h>

/* Parses s[0..len) as a decimal number: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
 * with optional surrounding spaces/tabs. Rejects everything else ("1.2.3", "12abc", "0x1F", "",
 * "inf", "nan", "1e", thousands separators). The result is the correctly rounded double (overflow
 * to ±inf is rejected). Returns true and sets *out on success. *is_int (may be NULL) is set when the
 * text has no fraction or exponent part. */
bool fw_parse_number(const char *s, size_t len, double *out, bool *is_int);

/* Parses an ISO 8601 date or datetime into seconds since the Unix epoch (UTC):
 *   YYYY-MM-DD
 *   YYYY-MM-DD(T| )HH:MM[:SS[.fraction]][Z|(+|-)HH[:]MM]
 * Fields are range-checked (month 1-12, day within the month incl. leap years, hour < 24, minute
 * < 60, second <= 60). A time without an offset is taken as UTC. Returns true on success. */
bool fw_parse_timestamp(const char *s, size_t len, double *out);

/* The default missing tokens: "", "NA", "NaN", "null", "?", "N/A", and the usual spellings of
 * non-finite numbers (nan, NAN, -nan, inf, -inf, Inf, INF, Infinity, ... with an optional sign)
 * (compared exactly). */
extern const char *const fw_default_missing[];
extern const size_t fw_default_n_missing;

/* True when s[0..len) is empty or equals one of tokens[0..n). */
bool fw_is_missing(const char *s, size_t len, const char *const *tokens, size_t n);

#endif
