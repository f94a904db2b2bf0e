/* dtoa.h — owns the text of a double wherever Flywheel writes one for people or other programs to
 * read back: batch CSV/JSONL cells, server replies and log lines, artifact metadata, registry and
 * CLI JSON, category names made from numbers.
 *
 * The one behaviour: the shortest round-trip text of the two printf precisions, "%.15g" when
 * strtod reads it back to exactly the same double, else "%.17g" (17 significant digits always
 * read back). A number a person typed with up to 15 significant digits prints as typed (0.1, 1e-05,
 * 1234.5, 1e+20); a computed one prints all 17 digits (0.30000000000000004). Fifteen or seventeen
 * and never sixteen: this is the text batch output, category and class names (so the bytes of
 * artifacts) have always used, and it stays stable across releases. -0 is "-0" (fw_num_format
 * maps it to "0" for category names); NaN is "nan", the infinities "inf" and "-inf" (callers
 * decide what a non-finite value becomes: JSON null, an empty CSV cell). Subnormals print like any
 * other double (4.9406564584124654e-324).
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
