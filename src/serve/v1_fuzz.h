/* v1_fuzz.h — owns the differential check of the fast /v1 decoder against the jansson path: the
 * same body sent through both on one server must give the same HTTP code and the same body bytes.
 * Used by tests/serve/test_v1_decode.c (corpus + mutation replay) and meant for a libFuzzer target
 * (fuzz/ is another engineer's: a target there only needs to call fw_serve_fuzz_v1_decode). */
#ifndef FW_SERVE_V1_FUZZ_H
#define FW_SERVE_V1_FUZZ_H

#include "serve/server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends body to POST path (a /v1 :predict or :explain route, or a /v2 infer route) on s twice — fast decoder allowed,
 * then forced through jansson — with the same request number. Returns 0 when code and body bytes
 * are identical, -1 when they differ (why gets both answers, truncated to cap), -2 when path is not
 * one of those routes. *fast (may be NULL) tells whether the fast decoder answered the first time.
 * Not thread-safe against other requests on s (it rewinds the request counter). */
int fw_serve_v1_compare(fw_server *s, const char *path, const char *body, size_t len, bool *fast, char *why,
                        size_t cap);

/* The fuzz routes: data[0] picks one of these (modulo the count); the rest is the body. */
extern const char *const fw_serve_fuzz_v1_paths[];
extern const size_t fw_serve_fuzz_v1_n_paths;

/* libFuzzer-compatible entry (LLVMFuzzerTestOneInput can just return this): on first use builds a
 * server (never listening) over a temporary directory of linear models — "m" binary (a, b, c; with
 * a baseline fallback), "mc" three-class (x, y), "w" regression with 24 inputs f0..f23 — then
 * compares both paths on data[1..] and abort()s with both answers on stderr when they differ.
 * Returns 0. The temporary directory is removed at exit. */
int fw_serve_fuzz_v1_decode(const uint8_t *data, size_t size);
/* The fuzz server (built on first use, NULL if it could not be). */
fw_server *fw_serve_fuzz_v1_server(void);

#endif
