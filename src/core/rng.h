/* rng.h — owns the deterministic pseudo-random generator (xoshiro256** seeded by splitmix64).
 * Same seed → same sequence on every machine: splits, subsampling and searches are reproducible. */
#ifndef FW_CORE_RNG_H
#define FW_CORE_RNG_H

#include <stdint.h>
#include <stddef.h>

typedef struct fw_rng {
    uint64_t s[4];
} fw_rng;

void fw_rng_seed(fw_rng *r, uint64_t seed);
uint64_t fw_rng_next(fw_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double fw_rng_uniform(fw_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t fw_rng_below(fw_rng *r, uint64_t n);
/* Standard normal (Box–Muller; deterministic). */
double fw_rng_normal(fw_rng *r);
/* Fisher–Yates shuffle of n uint32 values. */
void fw_rng_shuffle_u32(fw_rng *r, uint32_t *v, size_t n);

#endif
