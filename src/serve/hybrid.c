/* hybrid.c — owns the batch-answer lookup for hybrid serving: a direct-mapped cache with striped
 * locks in front of a pool of store handles (store/store.h; one connection per concurrent lookup). */
#include "serve/hybrid.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define CACHE_SLOTS 4096 /* power of two */
#define STRIPES 64
#define POOL_MAX 16

typedef struct centry {
    uint64_t key;
    char *model, *entity;
    bool found;
    char version[64];
    char *prediction, *scores;
    int64_t scored_ms, run_id;
    uint64_t fetched_ns;
} centry;

struct fw_hybrid {
    char *home;
    int64_t max_age_ms;
    uint64_t ttl_ns;
    centry *cache;
    pthread_mutex_t stripe[STRIPES];
    pthread_mutex_t pool_mu;
    fw_store *pool[POOL_MAX];
    size_t n_pool;
    atomic_ullong hits, misses, stale, cache_hits, queries, errors;
};

fw_status fw_hybrid_new(const char *home, double max_age_s, double cache_ttl_s, fw_hybrid **out, fw_err *err) {
    fw_hybrid *h = fw_calloc(1, sizeof *h);
    if (!h || !(h->cache = fw_calloc(CACHE_SLOTS, sizeof *h->cache)) || (home && !(h->home = fw_strdup(home)))) {
        if (h) fw_free(h->cache);
        fw_free(h);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    h->max_age_ms = (int64_t)(max_age_s * 1000.0);
    h->ttl_ns = (uint64_t)(cache_ttl_s * 1e9);
    for (int i = 0; i < STRIPES; i++) pthread_mutex_init(&h->stripe[i], NULL);
    pthread_mutex_init(&h->pool_mu, NULL);
    *out = h;
    return FW_OK;
}

static void entry_clear(centry *e) {
    fw_free(e->model);
    fw_free(e->entity);
    fw_free(e->prediction);
    fw_free(e->scores);
    memset(e, 0, sizeof *e);
}

void fw_hybrid_free(fw_hybrid *h) {
    if (!h) return;
    for (size_t i = 0; i < CACHE_SLOTS; i++) entry_clear(&h->cache[i]);
    for (size_t i = 0; i < h->n_pool; i++) fw_store_close(h->pool[i]);
    for (int i = 0; i < STRIPES; i++) pthread_mutex_destroy(&h->stripe[i]);
    pthread_mutex_destroy(&h->pool_mu);
    fw_free(h->cache);
    fw_free(h->home);
    fw_free(h);
}

void fw_hybrid_answer_free(fw_hybrid_answer *a) {
    fw_free(a->prediction);
    fw_free(a->scores_json);
    memset(a, 0, sizeof *a);
}

static fw_store *pool_take(fw_hybrid *h) {
    pthread_mutex_lock(&h->pool_mu);
    fw_store *db = h->n_pool ? h->pool[--h->n_pool] : NULL;
    pthread_mutex_unlock(&h->pool_mu);
    if (!db) {
        fw_err err;
        if (fw_store_open(h->home, &db, &err) != FW_OK) {
            fprintf(stderr, "flywheel serve: hybrid answers: %s\n", err.msg);
            return NULL;
        }
    }
    return db;
}

static void pool_give(fw_hybrid *h, fw_store *db) {
    pthread_mutex_lock(&h->pool_mu);
    if (h->n_pool < POOL_MAX) {
        h->pool[h->n_pool++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&h->pool_mu);
    fw_store_close(db);
}

static uint64_t key_of(const char *model, const char *entity) {
    uint64_t a = fw_hash64(model, strlen(model), 0x6879);
    return fw_hash64(entity, strlen(entity), a);
}

/* Copies a cached entry's answer out when it is usable for version; caller holds the stripe. */
static bool use_entry(fw_hybrid *h, const centry *e, const char *version, fw_hybrid_answer *out) {
    if (!e->found) {
        atomic_fetch_add_explicit(&h->misses, 1, memory_order_relaxed);
        return false;
    }
    if (strcmp(e->version, version) != 0 || fw_wall_unix_ms() - e->scored_ms > h->max_age_ms) {
        atomic_fetch_add_explicit(&h->stale, 1, memory_order_relaxed);
        return false;
    }
    out->prediction = fw_strdup(e->prediction ? e->prediction : "");
    out->scores_json = fw_strdup(e->scores ? e->scores : "null");
    out->scored_ms = e->scored_ms;
    out->run_id = e->run_id;
    if (!out->prediction || !out->scores_json) {
        fw_hybrid_answer_free(out);
        return false;
    }
    atomic_fetch_add_explicit(&h->hits, 1, memory_order_relaxed);
    return true;
}

bool fw_hybrid_get(fw_hybrid *h, const char *model, const char *version, const char *entity,
                   fw_hybrid_answer *out) {
    memset(out, 0, sizeof *out);
    uint64_t key = key_of(model, entity);
    size_t slot = key & (CACHE_SLOTS - 1);
    pthread_mutex_t *mu = &h->stripe[slot % STRIPES];
    centry *e = &h->cache[slot];
    uint64_t now = fw_now_ns();
    pthread_mutex_lock(mu);
    if (e->model && e->key == key && now - e->fetched_ns < h->ttl_ns && strcmp(e->model, model) == 0 &&
        strcmp(e->entity, entity) == 0) {
        atomic_fetch_add_explicit(&h->cache_hits, 1, memory_order_relaxed);
        bool ok = use_entry(h, e, version, out);
        pthread_mutex_unlock(mu);
        return ok;
    }
    pthread_mutex_unlock(mu);
    /* miss: ask the store (no lock held) */
    atomic_fetch_add_explicit(&h->queries, 1, memory_order_relaxed);
    fw_store *db = pool_take(h);
    if (!db) {
        atomic_fetch_add_explicit(&h->errors, 1, memory_order_relaxed);
        return false;
    }
    fw_batch_answer a;
    memset(&a, 0, sizeof a);
    fw_err err;
    fw_status st = fw_store_answer_get(db, model, entity, strlen(entity), &a, &err);
    pool_give(h, db);
    if (st != FW_OK && st != FW_ENOTFOUND) {
        atomic_fetch_add_explicit(&h->errors, 1, memory_order_relaxed);
        return false;
    }
    centry fresh = {0};
    fresh.key = key;
    fresh.fetched_ns = now;
    fresh.model = fw_strdup(model);
    fresh.entity = fw_strdup(entity);
    if (st == FW_OK) {
        fresh.found = true;
        snprintf(fresh.version, sizeof fresh.version, "%s", a.version);
        fresh.prediction = a.prediction;
        fresh.scores = a.scores_json;
        fresh.scored_ms = a.scored_ms;
        fresh.run_id = a.run_id;
        a.prediction = a.scores_json = NULL;
    }
    fw_batch_answer_free(&a);
    pthread_mutex_lock(mu);
    bool ok = use_entry(h, &fresh, version, out);
    if (fresh.model && fresh.entity) {
        entry_clear(e);
        *e = fresh;
    } else {
        entry_clear(&fresh);
    }
    pthread_mutex_unlock(mu);
    return ok;
}

void fw_hybrid_get_stats(const fw_hybrid *h, fw_hybrid_stats *s) {
    s->hits = atomic_load(&h->hits);
    s->misses = atomic_load(&h->misses);
    s->stale = atomic_load(&h->stale);
    s->cache_hits = atomic_load(&h->cache_hits);
    s->queries = atomic_load(&h->queries);
    s->errors = atomic_load(&h->errors);
}
