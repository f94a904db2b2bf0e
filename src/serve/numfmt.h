/* numfmt.h — owns the server's number text: a "%.17g" formatter that gives exactly printf's bytes
 * (so every JSON answer and log line keeps its format) without printf's multi-precision path, and
 * an exact decimal reader for short JSON numbers that gives exactly strtod's double. */
#ifndef FW_SERVE_NUMFMT_H
#define FW_SERVE_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes v as printf("%.17g", v) would into out (no NUL needed; at most 32 bytes) and returns the
 * length. Exact integer arithmetic for finite 1e-16 <= |v| < 1e17 and zero; snprintf otherwise.
 * Thread-safe, no allocation. */
size_t fw__fmt_g17(double v, char out[32]);

/* Reads the JSON number s[0..n) (already validated: -?int(.frac)?([eE][+-]?exp)?) as strtod would,
 * when it has at most 15 significant digits and a decimal exponent within [-22, 22] (one correctly
 * rounded multiply or divide of exact doubles). Returns false when it cannot (call strtod). */
bool fw__parse_short_decimal(const char *s, size_t n, double *out);

#endif
