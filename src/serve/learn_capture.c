/* learn_capture.c — owns the online learner's join cache (learn_capture.h): a two-way set-associative
 * table of fixed-size slots (a request id may sit in either slot of its pair, so two ids that hash
 * alike both stay), each guarded by a one-word try-lock, and the per-instance check that a served
 * model's inputs are the learner's. */
#include "serve/learn_capture.h"

#include "core/alloc.h"
#include "core/hash.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum { GENS = 8, TAKE_TRIES = 1000 };

typedef struct slot_hdr {
    atomic_uint lock;            /* 1 while a put or a take holds the slot */
    uint32_t str_len;            /* bytes of strings used */
    uint64_t key;                /* the request id's keyed hash (0: empty) */
    int64_t version;             /* the version that answered */
    uint64_t pad;
} slot_hdr;                      /* then double num[n], uint8_t kind[n], char str[FW_LEARN_CAPTURE_STR] */

struct fw_learn_capture {
    char *name;
    char **names;                /* the learner's inputs, in order */
    size_t n;
    uint64_t seed;
    size_t mask, slot_bytes;
    unsigned char *slots;
    _Atomic uint64_t gens[GENS]; /* loaded model instances checked: (gen << 1 | same inputs) + 1; 0 empty */
    atomic_uint gen_next;
    _Atomic(unsigned long long) skipped;
    unsigned long long hits, misses; /* the learning thread's */
};

fw_learn_capture *fw_learn_capture_new(const char *name, const char *const *inputs, size_t n, size_t slots) {
    fw_learn_capture *c = fw_calloc(1, sizeof *c);
    if (!c) return NULL;
    size_t s = 64;
    while (s < slots && s < ((size_t)1 << 24)) s <<= 1;
    c->mask = s - 1;
    c->n = n;
    c->slot_bytes = (sizeof(slot_hdr) + n * (sizeof(double) + 1) + FW_LEARN_CAPTURE_STR + 7) / 8 * 8;
    c->name = fw_strdup(name);
    c->names = fw_calloc(n ? n : 1, sizeof *c->names);
    c->slots = fw_calloc(s, c->slot_bytes); /* zero pages: paid as slots fill */
    bool ok = c->name && c->names && c->slots;
    for (size_t i = 0; ok && i < n; i++) ok = (c->names[i] = fw_strdup(inputs[i])) != NULL;
    if (!ok) {
        fw_learn_capture_free(c);
        return NULL;
    }
    if (getrandom(&c->seed, sizeof c->seed, 0) != (ssize_t)sizeof c->seed) c->seed = (uint64_t)(uintptr_t)c;
    return c;
}

void fw_learn_capture_free(fw_learn_capture *c) {
    if (!c) return;
    for (size_t i = 0; c->names && i < c->n; i++) fw_free(c->names[i]);
    fw_free(c->names);
    fw_free(c->slots);
    fw_free(c->name);
    fw_free(c);
}

const char *fw_learn_capture_name(const fw_learn_capture *c) { return c->name; }

bool fw_learn_capture_same_inputs(const fw_learn_capture *c, const char *const *names, size_t n) {
    if (n != c->n) return false;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || strcmp(names[i], c->names[i])) return false;
    return true;
}

/* True when m's inputs are the learner's (checked once per loaded instance, then remembered). */
static bool inputs_match(fw_learn_capture *c, const fw_srv_model *m) {
    for (int i = 0; i < GENS; i++) {
        uint64_t g = atomic_load_explicit(&c->gens[i], memory_order_relaxed);
        if (g && (g - 1) >> 1 == m->gen) return (g - 1) & 1;
    }
    bool same = fw_learn_capture_same_inputs(c, (const char *const *)m->input_names, m->n_inputs);
    unsigned k = atomic_fetch_add_explicit(&c->gen_next, 1, memory_order_relaxed) % GENS;
    atomic_store_explicit(&c->gens[k], ((m->gen << 1) | (same ? 1u : 0u)) + 1, memory_order_relaxed);
    return same;
}

static uint64_t key_of(const fw_learn_capture *c, const char *rid) {
    uint64_t k = fw_hash64(rid, strlen(rid), c->seed);
    return k ? k : 1;
}

/* The pair of slots a key may occupy: slot_at(c, key, 0) and slot_at(c, key, 1). */
static slot_hdr *slot_at(const fw_learn_capture *c, uint64_t key, unsigned way) {
    return (slot_hdr *)(c->slots + (size_t)(((key & c->mask) & ~(uint64_t)1) | way) * c->slot_bytes);
}

/* Takes a slot of KEY's pair for a put without waiting: the one holding KEY already or an empty one,
 * else (both hold other ids) the one a bit of the key picks, else (busy) the other; NULL when both
 * are busy. The slot is returned locked. */
static slot_hdr *put_slot(fw_learn_capture *c, uint64_t key) {
    slot_hdr *full = NULL, *second = NULL;
    for (unsigned way = 0; way < 2; way++) {
        slot_hdr *h = slot_at(c, key, way);
        if (atomic_exchange_explicit(&h->lock, 1, memory_order_acquire)) continue;
        if (h->key == 0 || h->key == key) {
            if (full) atomic_store_explicit(&full->lock, 0, memory_order_release);
            return h;
        }
        if (!full) full = h;
        else second = h;
    }
    if (full && second) { /* both hold other ids: replace the one the key's high bit names */
        slot_hdr *keep = (key >> 63) ? full : second;
        atomic_store_explicit(&keep->lock, 0, memory_order_release);
        return keep == full ? second : full;
    }
    return full;
}

void fw_learn_capture_put(fw_learn_capture *c, const fw_srv_model *m, const char *rid, const fw_value *vals) {
    if (!c || !rid || !*rid || !inputs_match(c, m)) {
        if (c) atomic_fetch_add_explicit(&c->skipped, 1, memory_order_relaxed);
        return;
    }
    char *end;
    long long version = strtoll(m->version, &end, 10);
    uint64_t key = key_of(c, rid);
    slot_hdr *h = *end ? NULL : put_slot(c, key);
    if (!h) { /* busy: never wait */
        atomic_fetch_add_explicit(&c->skipped, 1, memory_order_relaxed);
        return;
    }
    double *num = (double *)(h + 1);
    uint8_t *kind = (uint8_t *)(num + c->n);
    char *str = (char *)(kind + c->n);
    uint32_t used = 0;
    bool fits = true;
    for (size_t i = 0; i < c->n && fits; i++) {
        kind[i] = (uint8_t)vals[i].kind;
        num[i] = vals[i].num;
        if (vals[i].kind != FW_VALUE_STRING) continue;
        if (vals[i].len > FW_LEARN_CAPTURE_STR - used) {
            fits = false;
            break;
        }
        memcpy(str + used, vals[i].str, vals[i].len);
        num[i] = (double)used; /* its offset: its length runs to the next string's (or str_len) */
        used += (uint32_t)vals[i].len;
    }
    h->key = fits ? key : 0;
    h->version = version;
    h->str_len = used;
    atomic_store_explicit(&h->lock, 0, memory_order_release);
    if (!fits) atomic_fetch_add_explicit(&c->skipped, 1, memory_order_relaxed);
}

bool fw_learn_capture_peek(fw_learn_capture *c, const char *rid, int64_t *version) {
    if (!c || !rid || !*rid) return false;
    uint64_t key = key_of(c, rid);
    for (unsigned way = 0; way < 2; way++) {
        slot_hdr *h = slot_at(c, key, way);
        if (atomic_exchange_explicit(&h->lock, 1, memory_order_acquire)) continue; /* busy: never wait */
        bool hit = h->key == key;
        if (hit) *version = h->version;
        atomic_store_explicit(&h->lock, 0, memory_order_release);
        if (hit) return true;
    }
    return false;
}

bool fw_learn_capture_take(fw_learn_capture *c, const char *rid, int64_t version, fw_value *vals, char *strs,
                           size_t cap) {
    if (!c) return false;
    uint64_t key = key_of(c, rid);
    slot_hdr *h = NULL;
    for (unsigned way = 0; way < 2 && !h; way++) {
        slot_hdr *w = slot_at(c, key, way);
        int tries = 0;
        while (atomic_exchange_explicit(&w->lock, 1, memory_order_acquire))
            if (++tries == TAKE_TRIES) {
                c->misses++;
                return false;
            }
        if (w->key == key || way == 1) h = w;
        else atomic_store_explicit(&w->lock, 0, memory_order_release);
    }
    bool found = h->key == key && h->version == version && h->str_len <= cap;
    if (found) {
        const double *num = (const double *)(h + 1);
        const uint8_t *kind = (const uint8_t *)(num + c->n);
        const char *str = (const char *)(kind + c->n);
        memcpy(strs, str, h->str_len);
        /* a string's length: up to the next string's offset, or str_len for the last */
        size_t next = h->str_len;
        for (size_t i = c->n; i-- > 0;) {
            vals[i].kind = (fw_value_kind)kind[i];
            vals[i].num = kind[i] == FW_VALUE_NUMBER ? num[i] : 0;
            vals[i].str = NULL;
            vals[i].len = 0;
            if (kind[i] == FW_VALUE_STRING) {
                size_t at = (size_t)num[i];
                vals[i].str = strs + at;
                vals[i].len = next - at;
                next = at;
            }
        }
        h->key = 0; /* each example is learned once */
    }
    atomic_store_explicit(&h->lock, 0, memory_order_release);
    if (found) c->hits++;
    else c->misses++;
    return found;
}

void fw_learn_capture_stats_get(const fw_learn_capture *c, fw_learn_capture_stats *out) {
    out->skipped = atomic_load_explicit(&((fw_learn_capture *)c)->skipped, memory_order_relaxed);
    out->hits = c->hits;
    out->misses = c->misses;
}
