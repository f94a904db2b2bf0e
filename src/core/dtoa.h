/* dtoa.h — owns the text of a double wherever Flywheel writes one for people or other programs to
 * read back: batch CSV/JSONL cells, server replies and log lines, artifact metadata, registry and
 * CLI JSON, category names made from numbers.
 *
 * The one behaviour: the shortest round-trip text. Of printf's "%.15g", "%.16g" and "%.17g", the
 * first that strtod reads back to exactly the same double (17 significant digits always do). Its
 * digits are those of the shortest decimal that reads back (what Python's repr, JavaScript and
 * Ryu print: fewer than 15 digits show up as %g drops trailing zeros), written in %g's notation
 * for that precision: 0.1, 0.30000000000000004, 1e-05, 1e+20, 1234.5. This is the text artifact
 * metadata (the metrics section) always used, so artifact bytes are unchanged. -0 is "-0"
 * (fw_num_format maps it to "0" for category names); NaN is "nan", the infinities "inf" and
 * "-inf" (callers decide what a non-finite value becomes: JSON null, an empty CSV cell).
 * Subnormals print like any other double (4.9406564584124654e-324).
 *
 * Fast path: exact 128-bit integer arithmetic for 1e-16 <= |v| < 1e15 (every probability, score
 * and ordinary measurement), about ten times cheaper than printf + strtod; printf + strtod
 * otherwise. Both give the same bytes (tests/core/test_text.c checks millions of values).
 * Pure, thread-safe, never allocates. */
#ifndef FW_CORE_DTOA_H
#define FW_CORE_DTOA_H

#include <stddef.h>

#define FW_DTOA_MAX 32 /* enough for any output plus its NUL ("-2.2250738585072014e-308" is 24) */

/* Writes the shortest round-trip text of v and a NUL into out; returns its length (never 0). */
size_t fw_dtoa(double v, char out[FW_DTOA_MAX]);

/* The text of a number used as a category or class name (numeric labels, numeric columns declared
 * categorical, crosses): fw_dtoa's, with -0 written "0" (one value, one category). */
#define FW_NUMFMT_MAX FW_DTOA_MAX
size_t fw_num_format(double v, char out[FW_NUMFMT_MAX]);

#endif
