/* feedback_labels.c — owns the table of labelled request ids (feedback_labels.h): open addressing
 * over keyed 64-bit hashes, compare-and-swap inserts, tombstones for released claims. */
#include "serve/feedback_labels.h"

#include "core/alloc.h"
#include "core/hash.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

enum { EMPTY = 0, TOMB = 1 };

struct fw_label_set {
    uint64_t seed;
    atomic_size_t used;
    _Atomic uint64_t *slots;
};

fw_label_set *fw_label_set_new(void) {
    fw_label_set *s = fw_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!(s->slots = fw_calloc(FW_LABEL_SLOTS, sizeof *s->slots))) { /* zero pages: paid as they fill */
        fw_free(s);
        return NULL;
    }
    if (getrandom(&s->seed, sizeof s->seed, 0) != (ssize_t)sizeof s->seed) s->seed = (uint64_t)(uintptr_t)s;
    return s;
}

void fw_label_set_free(fw_label_set *s) {
    if (!s) return;
    fw_free((void *)s->slots);
    fw_free(s);
}

static uint64_t key_of(const fw_label_set *s, const char *id) {
    uint64_t k = fw_hash64(id, strlen(id), s->seed);
    return k > TOMB ? k : k + 2;
}

int fw_label_set_claim(fw_label_set *s, const char *id) {
    uint64_t k = key_of(s, id), mask = FW_LABEL_SLOTS - 1;
    for (size_t i = (size_t)(k & mask), probes = 0; probes < FW_LABEL_SLOTS; i = (i + 1) & mask, probes++) {
        uint64_t v = atomic_load_explicit(&s->slots[i], memory_order_acquire);
        if (v == k) return 0;
        if (v != EMPTY) continue;
        if (atomic_load_explicit(&s->used, memory_order_relaxed) >= FW_LABEL_SLOTS / 4 * 3) return -1;
        uint64_t want = EMPTY;
        if (atomic_compare_exchange_strong(&s->slots[i], &want, k)) {
            atomic_fetch_add_explicit(&s->used, 1, memory_order_relaxed);
            return 1;
        }
        if (want == k) return 0; /* another thread claimed the same id here first */
    }
    return -1;
}

void fw_label_set_release(fw_label_set *s, const char *id) {
    uint64_t k = key_of(s, id), mask = FW_LABEL_SLOTS - 1;
    for (size_t i = (size_t)(k & mask), probes = 0; probes < FW_LABEL_SLOTS; i = (i + 1) & mask, probes++) {
        uint64_t v = atomic_load_explicit(&s->slots[i], memory_order_acquire);
        if (v == EMPTY) return;
        if (v == k) {
            atomic_store(&s->slots[i], (uint64_t)TOMB);
            return;
        }
    }
}
