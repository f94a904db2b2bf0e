/* test_hash_dispatch.c — fw_hash64 (src/core/hash.c) picks a vector build of XXH3 at run time
 * (core/hash_simd.h: AVX2 or the SSE2 baseline): every build must give the hash the portable
 * scalar XXH3 gives (compiled here, XXH_VECTOR=XXH_SCALAR) — the spool's checksums, artifacts'
 * content addresses and hashed features must not depend on the CPU. Every length 0..4096, a few
 * large ones, several seeds, unaligned starts; the builds this CPU cannot run are skipped (said). */
#include "core/hash.h"
#include "core/hash_simd.h"
#include "test.h"

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_SCALAR
#include <xxhash.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t (*hash_fn)(const void *, size_t, uint64_t);

static uint64_t scalar(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }

/* The builds this CPU runs, with their names. */
static size_t builds(hash_fn *fn, const char **name) {
    size_t k = 0;
    fn[k] = fw_hash64, name[k++] = "fw_hash64";
    fn[k] = fw__hash64_base, name[k++] = "base";
#ifdef FW_HASH_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) fn[k] = fw__hash64_avx2, name[k++] = "avx2";
    else printf("# no AVX2 on this CPU: its build not checked\n");
#endif
    return k;
}

/* Bytes from a fixed xorshift stream (the same every run). */
static void fill(unsigned char *b, size_t n) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (unsigned char)(x >> 24);
    }
}

static void test_builds_agree(void) {
    enum { MAXLEN = 4096 + 8 };
    static const size_t large[] = {4097, 8191, 65536, 100003, (1u << 20) + 13};
    static const uint64_t seeds[] = {0, 1, 0x5f3759df2c1b3c6dull /* the spool's */, 0xFFFFFFFFFFFFFFFFull,
                                     0x0123456789ABCDEFull};
    size_t big = (1u << 20) + 64;
    unsigned char *buf = malloc(big);
    CHECK(buf != NULL);
    if (!buf) return;
    fill(buf, big);
    hash_fn fn[3];
    const char *name[3];
    size_t nb = builds(fn, name);
    printf("# fw_hash64 uses the %s build for long inputs; %zu builds checked\n", fw__hash64_impl(), nb);
    long checked = 0, differ = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            const unsigned char *p = buf + (len * 7 + s) % 8; /* unaligned starts */
            uint64_t want = scalar(p, len, seeds[s]);
            for (size_t b = 0; b < nb; b++, checked++) {
                if (fn[b](p, len, seeds[s]) != want && differ++ < 5)
                    CHECK_MSG(0, "%s: length %zu seed %llx differs from scalar XXH3", name[b], len,
                              (unsigned long long)seeds[s]);
            }
        }
        for (size_t i = 0; i < sizeof large / sizeof *large; i++) {
            uint64_t want = scalar(buf + 3, large[i], seeds[s]);
            for (size_t b = 0; b < nb; b++, checked++)
                if (fn[b](buf + 3, large[i], seeds[s]) != want && differ++ < 5)
                    CHECK_MSG(0, "%s: length %zu seed %llx differs from scalar XXH3", name[b], large[i],
                              (unsigned long long)seeds[s]);
        }
    }
    CHECK_EQ(differ, 0);
    CHECK(checked > 5 * 4096 * 2);
    free(buf);
}

/* The pick follows the CPU: AVX2 where it runs (so the comparison above covers what is used). */
static void test_pick_follows_cpu(void) {
    const char *want = "base";
#ifdef FW_HASH_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) want = "avx2";
#endif
    unsigned char b[300] = {0};
    (void)fw_hash64(b, sizeof b, 0); /* the first long input makes the pick */
    CHECK_STR(fw__hash64_impl(), want);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_builds_agree);
    TEST_RUN(test_pick_follows_cpu);
    return fw_test_report(argv[0]);
}
