/* json_out.h — owns the JSON text Flywheel writes by hand (no DOM): string literals and numbers,
 * for server replies and log lines, batch JSONL, artifact metadata, registry and CLI output.
 * (Documents built as jansson trees — the training report — are written by jansson.)
 *
 * Strings: valid UTF-8 passes through unchanged; each byte that does not start or continue a
 * valid sequence (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF, a
 * sequence cut short) becomes the escape \ufffd, so the output is always valid JSON and valid
 * UTF-8. Quote and backslash are escaped as \" and \\, newline, carriage return and tab as \n,
 * \r, \t, every other control character below 0x20 as \u00XX (lower-case hex); DEL and '/' pass.
 * Numbers: fw_dtoa's shortest round-trip text (core/dtoa.h); NaN and the infinities are null.
 * All functions append to an fw_buf (its oom flag records a failed append); thread-safe. */
#ifndef FW_CORE_JSON_OUT_H
#define FW_CORE_JSON_OUT_H

#include "core/buf.h"

#include <stddef.h>

/* Appends s[0..n) as a JSON string literal (quoted, escaped as above). */
void fw_json_put_strn(fw_buf *out, const char *s, size_t n);
/* Appends the NUL-terminated s as a JSON string literal; NULL is written as null. */
void fw_json_put_str(fw_buf *out, const char *s);
/* Appends v as a JSON number (shortest round-trip text); NaN and ±inf as null. */
void fw_json_put_f64(fw_buf *out, double v);

#endif
