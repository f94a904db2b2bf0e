/* hashing.h — owns signed feature hashing (the "hashing trick") shared by text, hashed categoricals
 * and crosses: a per-column seed, the bucket index and sign of a token, and sorting/merging sparse
 * entries of one row. All functions are pure, thread-safe and never allocate.
 *
 * Bucket of bytes p[0..n) for a column: h = XXH3-64(p, n, seed); index = h & (2^hash_bits - 1);
 * sign = -1 when bit 63 of h is set, else +1 (so collisions cancel in expectation). */
#ifndef FW_FEATURES_HASHING_H
#define FW_FEATURES_HASHING_H

#include <stddef.h>
#include <stdint.h>

/* A sparse entry of one row. */
typedef struct fw__entry {
    uint32_t idx;
    float val;
} fw__entry;

/* Seed of a column's hashed space: differs per column name, so "red" in two columns lands apart. */
uint64_t fw_feature_seed(const char *column);
/* Bucket index (h & dim_mask) of bytes p[0..n) under seed; *sign gets +1 or -1. */
uint32_t fw_feature_hash(uint64_t seed, const void *p, size_t n, uint32_t dim_mask, float *sign);
/* The seed for a bigram whose first token hashed to h1 (order matters: "a b" != "b a"). */
uint64_t fw_feature_bigram_seed(uint64_t seed, uint64_t h1);
/* Raw 64-bit hash of a token under seed (the value fw_feature_hash derives index and sign from). */
uint64_t fw_feature_hash64(uint64_t seed, const void *p, size_t n);
/* Sorts e[0..n) by index (in-place heapsort, no allocation), sums entries with equal index and
 * drops exact zeros. Returns the new count. Deterministic for a given input order. */
size_t fw_sparse_merge(fw__entry *e, size_t n);

#endif
