/* models.c — owns the served-model table: lock-free route lookup, lazy loads, LRU eviction and
 * RCU-style swaps (see models.h for the protocol). */
#include "serve/models.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

typedef struct slot {
    char *key;
    char *name;
    char *alias;   /* NULL for a version route */
    char *version; /* NULL for an alias route */
    _Atomic(fw_srv_model *) cur;
    atomic_long pin;
    atomic_ullong last_used;
} slot;

struct fw_model_table {
    fw_serve_source src;
    _Atomic(slot *) *cells;
    size_t mask;
    size_t max_slots;
    atomic_size_t n_slots;
    size_t mem_limit;
    atomic_size_t bytes;
    atomic_size_t n_loaded;
    atomic_ullong loads, evictions, swaps;
    pthread_mutex_t mu; /* cold paths: insert, load, swap, evict, refresh */
};

#define KEY_MAX 600

static int make_key(char *key, const char *name, const char *alias, const char *version) {
    int n = alias ? snprintf(key, KEY_MAX, "%s@%s", name, alias) : snprintf(key, KEY_MAX, "%s#%s", name, version ? version : "");
    return n > 0 && n < KEY_MAX ? n : -1;
}

fw_status fw_model_table_new(const fw_serve_source *src, size_t max_models, size_t mem_limit,
                             fw_model_table **out, fw_err *err) {
    fw_model_table *t = fw_calloc(1, sizeof *t);
    if (!t) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t cap = 16;
    while (cap < max_models * 2) cap <<= 1;
    t->cells = fw_calloc(cap, sizeof *t->cells);
    if (!t->cells) {
        fw_free(t);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    t->mask = cap - 1;
    t->max_slots = max_models;
    t->mem_limit = mem_limit;
    t->src = *src;
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return FW_OK;
}

/* Publishes m (which may be NULL) in s; the table's reference to the old model is dropped once no
 * reader can still be taking a reference to it. Caller holds t->mu. */
static void swap_in(fw_model_table *t, slot *s, fw_srv_model *m) {
    if (m) {
        fw_srv_model_ref(m);
        atomic_fetch_add(&t->bytes, m->bytes);
        atomic_fetch_add(&t->n_loaded, 1);
    }
    fw_srv_model *old = atomic_exchange(&s->cur, m);
    while (atomic_load(&s->pin) != 0) sched_yield();
    if (old) {
        atomic_fetch_sub(&t->bytes, old->bytes);
        atomic_fetch_sub(&t->n_loaded, 1);
        fw_srv_model_unref(old);
    }
}

void fw_model_table_free(fw_model_table *t) {
    if (!t) return;
    for (size_t i = 0; i <= t->mask; i++) {
        slot *s = atomic_load(&t->cells[i]);
        if (!s) continue;
        fw_srv_model_unref(atomic_load(&s->cur));
        fw_free(s->key);
        fw_free(s->name);
        fw_free(s->alias);
        fw_free(s->version);
        fw_free(s);
    }
    fw_free(t->cells);
    if (t->src.free) t->src.free(t->src.ud);
    pthread_mutex_destroy(&t->mu);
    fw_free(t);
}

static slot *find(const fw_model_table *t, const char *key, size_t len, uint64_t h) {
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        slot *s = atomic_load_explicit(&t->cells[i], memory_order_acquire);
        if (!s) return NULL;
        if (strncmp(s->key, key, len) == 0 && s->key[len] == 0) return s;
    }
}

static fw_srv_model *pin_ref(slot *s) {
    atomic_fetch_add(&s->pin, 1);
    fw_srv_model *m = atomic_load(&s->cur);
    if (m) fw_srv_model_ref(m);
    atomic_fetch_sub(&s->pin, 1);
    return m;
}

/* Evicts least-recently-used routes (never `keep`) until bytes fit the limit. Caller holds t->mu. */
static void evict(fw_model_table *t, const slot *keep) {
    if (!t->mem_limit) return;
    while (atomic_load(&t->bytes) > t->mem_limit) {
        slot *victim = NULL;
        unsigned long long best = ~0ull;
        for (size_t i = 0; i <= t->mask; i++) {
            slot *s = atomic_load(&t->cells[i]);
            if (!s || s == keep || !atomic_load(&s->cur)) continue;
            unsigned long long u = atomic_load(&s->last_used);
            if (u < best) {
                best = u;
                victim = s;
            }
        }
        if (!victim) return;
        swap_in(t, victim, NULL);
        atomic_fetch_add(&t->evictions, 1);
    }
}

static fw_status load_route(fw_model_table *t, const char *name, const char *alias, const char *version,
                            fw_srv_model **out, fw_err *err) {
    char v[256];
    if (alias) {
        fw_status st = t->src.resolve(t->src.ud, name, alias, v, sizeof v, err);
        if (st) return st;
        version = v;
    }
    uint64_t t0 = fw_now_ns();
    fw_status st = t->src.load(t->src.ud, name, version, out, err);
    if (st == FW_OK) {
        (*out)->load_ms = (double)(fw_now_ns() - t0) * 1e-6;
        atomic_fetch_add(&t->loads, 1);
    }
    return st;
}

fw_status fw_model_table_acquire(fw_model_table *t, const char *name, const char *alias,
                                 const char *version, uint64_t now_ns, fw_srv_model **out, fw_err *err) {
    char key[KEY_MAX];
    int len = make_key(key, name, alias, version);
    if (len < 0) return fw_err_set(err, FW_ENOTFOUND, "model name too long");
    uint64_t h = fw_hash64(key, (size_t)len, 0);
    slot *s = find(t, key, (size_t)len, h);
    if (s) {
        fw_srv_model *m = pin_ref(s);
        if (m) {
            unsigned long long u = atomic_load_explicit(&s->last_used, memory_order_relaxed);
            if (now_ns > u + 1000000) atomic_store_explicit(&s->last_used, now_ns, memory_order_relaxed);
            *out = m;
            return FW_OK;
        }
    }
    /* cold path */
    pthread_mutex_lock(&t->mu);
    fw_status st = FW_OK;
    s = find(t, key, (size_t)len, h);
    fw_srv_model *m = s ? pin_ref(s) : NULL;
    if (m) goto done;
    if (!s && atomic_load(&t->n_slots) >= t->max_slots) {
        st = fw_err_set(err, FW_ELIMIT, "too many model routes (serving.max_models = %zu)", t->max_slots);
        goto done;
    }
    st = load_route(t, name, alias, version, &m, err);
    if (st) goto done;
    if (!s) {
        s = fw_calloc(1, sizeof *s);
        if (!s || !(s->key = fw_strdup(key)) || !(s->name = fw_strdup(name)) ||
            (alias && !(s->alias = fw_strdup(alias))) || (version && !(s->version = fw_strdup(version)))) {
            if (s) {
                fw_free(s->key);
                fw_free(s->name);
                fw_free(s->alias);
                fw_free(s->version);
                fw_free(s);
            }
            fw_srv_model_unref(m);
            m = NULL;
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            goto done;
        }
        size_t i = h & t->mask;
        while (atomic_load(&t->cells[i])) i = (i + 1) & t->mask;
        atomic_store_explicit(&t->cells[i], s, memory_order_release);
        atomic_fetch_add(&t->n_slots, 1);
    }
    atomic_store(&s->last_used, now_ns);
    swap_in(t, s, m); /* the table's reference; m keeps the caller's */
    evict(t, s);
done:
    pthread_mutex_unlock(&t->mu);
    if (st == FW_OK) *out = m;
    return st;
}

fw_status fw_model_table_unload(fw_model_table *t, const char *name, const char *alias,
                                const char *version, fw_err *err) {
    char key[KEY_MAX];
    int len = make_key(key, name, alias, version);
    if (len < 0) return fw_err_set(err, FW_ENOTFOUND, "model name too long");
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, (size_t)len, fw_hash64(key, (size_t)len, 0));
    fw_status st = FW_OK;
    if (!s || !atomic_load(&s->cur)) st = fw_err_set(err, FW_ENOTFOUND, "route '%s' is not loaded", key);
    else swap_in(t, s, NULL);
    pthread_mutex_unlock(&t->mu);
    return st;
}

/* Re-resolves one alias route and swaps when its version changed. Caller holds t->mu. */
static fw_status refresh_slot(fw_model_table *t, slot *s, size_t *swapped, fw_err *err) {
    fw_srv_model *cur = atomic_load(&s->cur);
    if (!s->alias || !cur) return FW_OK;
    char v[256];
    fw_status st = t->src.resolve(t->src.ud, s->name, s->alias, v, sizeof v, err);
    if (st) return st;
    if (strcmp(v, cur->version) == 0) return FW_OK;
    fw_srv_model *m;
    uint64_t t0 = fw_now_ns();
    st = t->src.load(t->src.ud, s->name, v, &m, err);
    if (st) return st;
    m->load_ms = (double)(fw_now_ns() - t0) * 1e-6;
    atomic_fetch_add(&t->loads, 1);
    swap_in(t, s, m);
    fw_srv_model_unref(m);
    atomic_fetch_add(&t->swaps, 1);
    if (swapped) (*swapped)++;
    evict(t, s);
    return FW_OK;
}

fw_status fw_model_table_set_alias(fw_model_table *t, const char *name, const char *alias,
                                   const char *version, fw_err *err) {
    if (!t->src.set_alias) return fw_err_set(err, FW_EUNSUPPORTED, "the %s source cannot move aliases", t->src.kind);
    pthread_mutex_lock(&t->mu);
    fw_status st = t->src.set_alias(t->src.ud, name, alias, version, err);
    if (st == FW_OK) {
        char key[KEY_MAX];
        int len = make_key(key, name, alias, NULL);
        slot *s = len > 0 ? find(t, key, (size_t)len, fw_hash64(key, (size_t)len, 0)) : NULL;
        if (s) st = refresh_slot(t, s, NULL, err);
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

fw_status fw_model_table_refresh(fw_model_table *t, size_t *swapped, fw_err *err) {
    if (swapped) *swapped = 0;
    fw_status first = FW_OK;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i <= t->mask; i++) {
        slot *s = atomic_load(&t->cells[i]);
        if (!s) continue;
        fw_err e;
        fw_err_clear(&e);
        fw_status st = refresh_slot(t, s, swapped, &e);
        if (st && first == FW_OK) first = fw_err_set(err, st, "%s: %s", s->key, e.msg);
    }
    pthread_mutex_unlock(&t->mu);
    return first;
}

fw_status fw_model_table_list(fw_model_table *t, const char *alias, char ***names, size_t *n, fw_err *err) {
    if (!t->src.list) {
        *names = NULL;
        *n = 0;
        return FW_OK;
    }
    return t->src.list(t->src.ud, alias, names, n, err);
}

size_t fw_model_table_loaded(const fw_model_table *t, size_t *bytes) {
    if (bytes) *bytes = atomic_load(&t->bytes);
    return atomic_load(&t->n_loaded);
}

fw_status fw_model_table_snapshot(fw_model_table *t, fw_srv_model ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        slot *s = atomic_load(&t->cells[i]);
        if (!s) continue;
        fw_srv_model *m = pin_ref(s);
        if (!m) continue;
        if (FW_GROW(out, &cap, *n + 1) != FW_OK) {
            fw_srv_model_unref(m);
            return FW_ENOMEM;
        }
        (*out)[(*n)++] = m;
    }
    return FW_OK;
}

void fw_model_table_counters(const fw_model_table *t, uint64_t *loads, uint64_t *evictions, uint64_t *swaps) {
    *loads = atomic_load(&t->loads);
    *evictions = atomic_load(&t->evictions);
    *swaps = atomic_load(&t->swaps);
}
