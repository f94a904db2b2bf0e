/* calib_cache.c — owns the process-wide cache of detector calibrations (calib_cache.h): an
 * open-addressing table of FW_CALIB_CACHE_MAX * 2 slots under one mutex, entries never removed. */
#include "monitor/calib_cache.h"

#include "core/alloc.h"
#include "core/hash.h"

#include <pthread.h>
#include <string.h>

enum { SLOTS = 2 * FW_CALIB_CACHE_MAX };

typedef struct entry {
    uint64_t h;                /* 0: free */
    size_t len;
    void *key;
    double val[FW_CALIB_CACHE_VALUES];
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *table;           /* SLOTS, allocated at the first put */
static size_t n_entries;
static uint64_t n_hits;

static entry *find(uint64_t h, const void *key, size_t len) {
    for (size_t i = h & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        entry *e = &table[i];
        if (!e->h || (e->h == h && e->len == len && !memcmp(e->key, key, len))) return e;
    }
}

bool fw_calib_cache_get(const void *key, size_t len, double *val, size_t n_val) {
    uint64_t h = fw_hash64(key, len, 0x63616c) | 1;
    bool found = false;
    pthread_mutex_lock(&mu);
    if (table) {
        entry *e = find(h, key, len);
        if (e->h) {
            memcpy(val, e->val, n_val * sizeof *val);
            n_hits++;
            found = true;
        }
    }
    pthread_mutex_unlock(&mu);
    return found;
}

void fw_calib_cache_put(const void *key, size_t len, const double *val, size_t n_val) {
    if (n_val > FW_CALIB_CACHE_VALUES) return;
    uint64_t h = fw_hash64(key, len, 0x63616c) | 1;
    pthread_mutex_lock(&mu);
    if (!table) table = fw_calloc(SLOTS, sizeof *table); /* process-wide, kept until exit */
    if (table && n_entries < FW_CALIB_CACHE_MAX) {
        entry *e = find(h, key, len);
        if (!e->h && (e->key = fw_malloc(len ? len : 1))) {
            memcpy(e->key, key, len);
            e->len = len;
            memcpy(e->val, val, n_val * sizeof *val);
            e->h = h;
            n_entries++;
        }
    }
    pthread_mutex_unlock(&mu);
}

void fw_calib_cache_stats(size_t *entries, uint64_t *hits) {
    pthread_mutex_lock(&mu);
    *entries = n_entries;
    *hits = n_hits;
    pthread_mutex_unlock(&mu);
}
