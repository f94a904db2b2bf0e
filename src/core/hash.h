/* hash.h — owns hashing: xxHash (XXH3) for feature hashing, content addresses and fingerprints,
 * and a small open-addressing string→index map used by dictionaries and pipelines. */
#ifndef FW_CORE_HASH_H
#define FW_CORE_HASH_H

#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

uint64_t fw_hash64(const void *p, size_t n, uint64_t seed);
/* 128-bit content hash as 32 lowercase hex chars + NUL into out[33]. */
void fw_hash128_hex(const void *p, size_t n, char out[33]);

/* Streaming 64-bit hash for fingerprints of large data. */
typedef struct fw_hasher fw_hasher;
fw_hasher *fw_hasher_new(uint64_t seed);
void fw_hasher_update(fw_hasher *h, const void *p, size_t n);
uint64_t fw_hasher_digest(const fw_hasher *h);
void fw_hasher_free(fw_hasher *h);

/* String → uint32 map (keys copied, insertion order kept as the value by the caller's choice).
 * Lookups take a pointer and a length, so keys need not be NUL-terminated. */
typedef struct fw_strmap {
    uint32_t *slots;   /* index+1 into keys; 0 = empty */
    size_t n_slots;    /* power of two */
    char **keys;
    uint32_t *key_len;
    uint32_t *values;
    size_t count, cap;
} fw_strmap;

void fw_strmap_init(fw_strmap *m);
void fw_strmap_free(fw_strmap *m);
/* Returns the value for key, or -1 when absent. */
int64_t fw_strmap_get(const fw_strmap *m, const char *key, size_t len);
/* Inserts key→value (replaces the value if present). FW_OK or FW_ENOMEM. */
fw_status fw_strmap_put(fw_strmap *m, const char *key, size_t len, uint32_t value);

#endif
