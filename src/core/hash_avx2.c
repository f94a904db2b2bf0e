/* hash_avx2.c — owns the AVX2 build of XXH3's seeded 64-bit hash (hash_simd.h). The Makefile
 * compiles this file alone with -mavx2; fw_hash64 (core/hash.c) calls it only on a CPU that has
 * AVX2: a 1 KB input in ~440 instructions where the SSE2 build takes ~1,140 (callgrind, session 16). */
#include "core/hash_simd.h"

#if defined(__x86_64__) && defined(__AVX2__)
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

uint64_t fw__hash64_avx2(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }
#elif defined(__x86_64__)
#error "core/hash_avx2.c is compiled with -mavx2 (Makefile: SIMD_FLAGS)"
#endif
