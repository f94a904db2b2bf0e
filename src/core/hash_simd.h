/* hash_simd.h — private to core/hash*.c and their tests: XXH3's seeded 64-bit hash built for
 * AVX2 beside the baseline (SSE2), between which fw_hash64 (core/hash.h) picks once at run time for
 * inputs longer than 240 bytes (shorter ones never reach vector code). No AVX-512 build: on this
 * project's machine (AMD EPYC, AVX-512 in two 256-bit halves) it hashed 1 KB in 32.3 ns against
 * AVX2's 34.7 and SSE2's 75.3, 64 KB in 1,428 ns against 1,370 — not worth a third build.
 * XXH3 is one algorithm: every build returns the same hash for the same input and seed — the
 * spool's checksums, content addresses and hashed features do not depend on the CPU
 * (tests/core/test_hash_dispatch.c compares them with the portable scalar XXH3). */
#ifndef FW_CORE_HASH_SIMD_H
#define FW_CORE_HASH_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* hash.c: the baseline build (SSE2 on x86-64, what every x86-64 CPU has; scalar elsewhere) */
uint64_t fw__hash64_base(const void *p, size_t n, uint64_t seed);
#if defined(__x86_64__)
#define FW_HASH_SIMD 1
/* hash_avx2.c (compiled with -mavx2): call only when the CPU has AVX2 */
uint64_t fw__hash64_avx2(const void *p, size_t n, uint64_t seed);
#endif

/* The build fw_hash64 uses for long inputs on this CPU: "avx2" or "base". */
const char *fw__hash64_impl(void);

#endif
