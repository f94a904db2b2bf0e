/* hash.c — owns the xxHash wrappers, the run-time pick of XXH3's vector build for long inputs
 * (hash_simd.h), and the string map. */
#include "core/hash.h"

#include "core/alloc.h"
#include "core/hash_simd.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

uint64_t fw__hash64_base(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }

typedef uint64_t (*hash64_fn)(const void *, size_t, uint64_t);
static _Atomic(hash64_fn) long_hash; /* the pick, made at the first long input (any thread: same answer) */
static const char *_Atomic long_hash_name;

/* AVX2 when the CPU (and the OS: __builtin_cpu_supports checks both) has it: a 1 KB spool record
 * hashes in ~440 instructions instead of ~1,140 (callgrind), 35 ns instead of 75. */
static hash64_fn pick_long_hash(void) {
    hash64_fn f = fw__hash64_base;
    const char *name = "base";
#ifdef FW_HASH_SIMD
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f = fw__hash64_avx2, name = "avx2";
#endif
    atomic_store_explicit(&long_hash_name, name, memory_order_relaxed);
    atomic_store_explicit(&long_hash, f, memory_order_relaxed);
    return f;
}

const char *fw__hash64_impl(void) {
    if (!atomic_load_explicit(&long_hash, memory_order_relaxed)) pick_long_hash();
    return atomic_load_explicit(&long_hash_name, memory_order_relaxed);
}

/* Up to 240 bytes XXH3 is scalar code whatever the build (inlined here: hashed feature names, map
 * keys); longer inputs (a spool record, ~1 KB) go to the picked vector build. */
uint64_t fw_hash64(const void *p, size_t n, uint64_t seed) {
    if (n > XXH3_MIDSIZE_MAX) {
        hash64_fn f = atomic_load_explicit(&long_hash, memory_order_relaxed);
        return (f ? f : pick_long_hash())(p, n, seed);
    }
    return XXH3_64bits_withSeed(p, n, seed);
}

void fw_hash128_hex(const void *p, size_t n, char out[33]) {
    XXH128_hash_t h = XXH3_128bits(p, n);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

/* XXH3_state_t wants 64-byte alignment, more than fw_malloc promises: the state lives at the first
 * 64-byte boundary inside an over-allocated block. */
struct fw_hasher {
    void *block;
    XXH3_state_t *st;
};

fw_hasher *fw_hasher_new(uint64_t seed) {
    fw_hasher *h = fw_malloc(sizeof *h);
    void *block = fw_malloc(sizeof(XXH3_state_t) + 64);
    if (!h || !block) {
        fw_free(h);
        fw_free(block);
        return NULL;
    }
    h->block = block;
    h->st = (XXH3_state_t *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    XXH3_64bits_reset_withSeed(h->st, seed);
    return h;
}

void fw_hasher_update(fw_hasher *h, const void *p, size_t n) { XXH3_64bits_update(h->st, p, n); }
uint64_t fw_hasher_digest(const fw_hasher *h) { return XXH3_64bits_digest(h->st); }
void fw_hasher_free(fw_hasher *h) {
    if (!h) return;
    fw_free(h->block);
    fw_free(h);
}

void fw_strmap_init(fw_strmap *m) { memset(m, 0, sizeof *m); }

void fw_strmap_free(fw_strmap *m) {
    for (size_t i = 0; i < m->count; i++) fw_free(m->keys[i]);
    fw_free(m->keys);
    fw_free(m->key_len);
    fw_free(m->values);
    fw_free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t find_slot(const fw_strmap *m, const char *key, size_t len, int *found) {
    size_t mask = m->n_slots - 1;
    size_t i = (size_t)fw_hash64(key, len, 0) & mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0) {
            *found = 0;
            return i;
        }
        if (m->key_len[s - 1] == len && memcmp(m->keys[s - 1], key, len) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

int64_t fw_strmap_get(const fw_strmap *m, const char *key, size_t len) {
    if (m->n_slots == 0) return -1;
    int found;
    size_t i = find_slot(m, key, len, &found);
    return found ? (int64_t)m->values[m->slots[i] - 1] : -1;
}

static fw_status rehash(fw_strmap *m, size_t n_slots) {
    uint32_t *slots = fw_calloc(n_slots, sizeof *slots);
    if (!slots) return FW_ENOMEM;
    fw_free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    for (size_t k = 0; k < m->count; k++) {
        int found;
        size_t i = find_slot(m, m->keys[k], m->key_len[k], &found);
        m->slots[i] = (uint32_t)(k + 1);
    }
    return FW_OK;
}

fw_status fw_strmap_put(fw_strmap *m, const char *key, size_t len, uint32_t value) {
    if (len > UINT32_MAX) return FW_EINVAL;
    if ((m->count + 1) * 2 > m->n_slots) {
        fw_status st = rehash(m, m->n_slots ? m->n_slots * 2 : 16);
        if (st) return st;
    }
    int found;
    size_t i = find_slot(m, key, len, &found);
    if (found) {
        m->values[m->slots[i] - 1] = value;
        return FW_OK;
    }
    size_t cap = m->cap;
    if (FW_GROW(&m->keys, &cap, m->count + 1)) return FW_ENOMEM;
    size_t cap2 = m->cap;
    if (FW_GROW(&m->key_len, &cap2, m->count + 1)) return FW_ENOMEM;
    size_t cap3 = m->cap;
    if (FW_GROW(&m->values, &cap3, m->count + 1)) return FW_ENOMEM;
    m->cap = cap;
    char *k = fw_strndup(key, len);
    if (!k) return FW_ENOMEM;
    m->keys[m->count] = k;
    m->key_len[m->count] = (uint32_t)len;
    m->values[m->count] = value;
    m->count++;
    m->slots[i] = (uint32_t)m->count;
    return FW_OK;
}
