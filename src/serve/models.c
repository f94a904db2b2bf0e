/* models.c — owns the served-model table: lock-free route lookup, lazy loads, LRU eviction,
 * RCU-style swaps, and the background loader thread that runs alias moves, reloads and admin
 * loads and frees retired versions (see models.h for the protocol). */
#include "serve/models.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/test_hooks.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
    char *key;
    char *name;
    char *alias;   /* NULL for a version route */
    char *version; /* NULL for an alias route */
    _Atomic(fw_srv_model *) cur;
    atomic_long pin;
    atomic_ullong last_used;
} slot;

/* A retired model: unpublished, waiting for its in-flight readers to let go. */
typedef struct retired {
    fw_srv_model *m;
    struct retired *next;
} retired;

struct fw_model_job {
    fw_model_job_kind kind;
    char *name, *alias, *version;
    void (*done)(void *ud, fw_model_job *j);
    void *ud;
    atomic_int refs;          /* the submitter's and the loader's */
    atomic_bool finished;
    fw_model_job_result res;
    struct fw_model_job *next;
};

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
    atomic_ullong generation;     /* +1 whenever a route's model changes (swap_in) */
    long test_delay_ms; /* test builds: env FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS makes alias swaps load this much slower */
    pthread_mutex_t mu; /* cold paths: insert, publish, evict; never held during a source load */
    pthread_mutex_t swap_mu; /* serialises alias re-resolution (refresh, set_alias): one swapper */
    retired *retire;    /* under mu: unpublished models the loader frees once only it holds them */
    atomic_size_t n_retiring; /* its length, readable without mu (/metrics) */
    /* the loader thread and its queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    fw_model_job *qhead, *qtail;
    bool stop, loader_started;
    pthread_t loader;
    void (*on_load)(void *ud, fw_srv_model *m); /* fw_model_table_set_on_load */
    void *on_load_ud;
};

#define KEY_MAX 600

static void *loader_main(void *arg);
static size_t reap(fw_model_table *t, bool all);

void fw_model_table_set_on_load(fw_model_table *t, void (*fn)(void *ud, fw_srv_model *m), void *ud) {
    t->on_load = fn;
    t->on_load_ud = ud;
}

/* The source's load, then the on_load hook. */
static fw_status source_load(fw_model_table *t, const char *name, const char *version, fw_srv_model **out,
                             fw_err *err) {
    fw_status st = t->src.load(t->src.ud, name, version, out, err);
    if (st == FW_OK && t->on_load) t->on_load(t->on_load_ud, *out);
    return st;
}

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
    pthread_mutex_init(&t->swap_mu, NULL);
    const char *delay = FW_TEST_ENV("FLYWHEEL_SERVE_TEST_LOAD_DELAY_MS"); /* test builds only */
    t->test_delay_ms = delay ? atol(delay) : 0;
    pthread_mutex_init(&t->qmu, NULL);
    pthread_cond_init(&t->qcv, NULL);
    if (pthread_create(&t->loader, NULL, loader_main, t) == 0) t->loader_started = true;
    *out = t;
    return FW_OK;
}

/* Publishes m (which may be NULL) in s. Once no reader can still be taking a reference to the old
 * model, the table's reference moves to the retire list: the loader thread frees it when in-flight
 * requests are done with it (so an munmap never runs on a request thread). Caller holds t->mu. */
static void swap_in(fw_model_table *t, slot *s, fw_srv_model *m) {
    if (m) {
        fw_srv_model_ref(m);
        atomic_fetch_add(&t->bytes, m->bytes);
        atomic_fetch_add(&t->n_loaded, 1);
    }
    fw_srv_model *old = atomic_exchange(&s->cur, m);
    atomic_fetch_add(&t->generation, 1);
    while (atomic_load(&s->pin) != 0) sched_yield();
    if (old) {
        atomic_fetch_sub(&t->bytes, old->bytes);
        atomic_fetch_sub(&t->n_loaded, 1);
        retired *r = fw_malloc(sizeof *r);
        if (!r) {
            fw_srv_model_unref(old); /* out of memory: the last reader frees it */
            return;
        }
        r->m = old;
        r->next = t->retire;
        t->retire = r;
        atomic_fetch_add(&t->n_retiring, 1);
        pthread_mutex_lock(&t->qmu);
        pthread_cond_signal(&t->qcv);
        pthread_mutex_unlock(&t->qmu);
    }
}

/* Frees retired models only the table still holds (all = every one, at shutdown). Returns how many
 * are left. Takes t->mu. */
static size_t reap(fw_model_table *t, bool all) {
    retired *done = NULL;
    size_t left = 0;
    pthread_mutex_lock(&t->mu);
    for (retired **pp = &t->retire; *pp;) {
        retired *r = *pp;
        if (all || atomic_load(&r->m->refs) == 1) {
            atomic_fetch_sub(&t->n_retiring, 1);
            *pp = r->next;
            r->next = done;
            done = r;
        } else {
            pp = &r->next;
            left++;
        }
    }
    pthread_mutex_unlock(&t->mu);
    while (done) {
        retired *r = done;
        done = r->next;
        fw_srv_model_unref(r->m);
        fw_free(r);
    }
    return left;
}

void fw_model_table_free(fw_model_table *t) {
    if (!t) return;
    pthread_mutex_lock(&t->qmu);
    t->stop = true; /* the loader finishes the queued jobs first */
    pthread_cond_signal(&t->qcv);
    pthread_mutex_unlock(&t->qmu);
    if (t->loader_started) pthread_join(t->loader, NULL);
    reap(t, true);
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
    pthread_mutex_destroy(&t->swap_mu);
    pthread_mutex_destroy(&t->qmu);
    pthread_cond_destroy(&t->qcv);
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
    fw_status st = source_load(t, name, version, out, err);
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

/* Re-resolves one alias route and swaps when its version changed. The resolve and the load run
 * without t->mu (requests and cold loads of other routes go on); only the publish takes it.
 * Caller holds t->swap_mu. */
static fw_status refresh_slot(fw_model_table *t, slot *s, size_t *swapped, fw_err *err) {
    if (!s->alias) return FW_OK;
    fw_srv_model *cur = pin_ref(s);
    if (!cur) return FW_OK;
    char v[256];
    fw_status st = t->src.resolve(t->src.ud, s->name, s->alias, v, sizeof v, err);
    bool same = st == FW_OK && strcmp(v, cur->version) == 0;
    fw_srv_model_unref(cur);
    if (st || same) return st;
    fw_srv_model *m;
    uint64_t t0 = fw_now_ns();
    if (t->test_delay_ms > 0) {
        struct timespec ts = {t->test_delay_ms / 1000, (t->test_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    st = source_load(t, s->name, v, &m, err);
    if (st) return st;
    m->load_ms = (double)(fw_now_ns() - t0) * 1e-6;
    atomic_fetch_add(&t->loads, 1);
    pthread_mutex_lock(&t->mu);
    /* the route may have been unloaded meanwhile (it reloads lazily) or cold-loaded at v already */
    fw_srv_model *now = atomic_load(&s->cur);
    if (now && strcmp(now->version, v) != 0) {
        swap_in(t, s, m);
        atomic_fetch_add(&t->swaps, 1);
        if (swapped) (*swapped)++;
        evict(t, s);
    }
    pthread_mutex_unlock(&t->mu);
    fw_srv_model_unref(m);
    return FW_OK;
}

fw_status fw_model_table_set_alias(fw_model_table *t, const char *name, const char *alias,
                                   const char *version, bool force, fw_err *err) {
    if (!t->src.set_alias) return fw_err_set(err, FW_EUNSUPPORTED, "the %s source cannot move aliases", t->src.kind);
    pthread_mutex_lock(&t->swap_mu);
    fw_status st = t->src.set_alias(t->src.ud, name, alias, version, force, err);
    if (st == FW_OK) {
        char key[KEY_MAX];
        int len = make_key(key, name, alias, NULL);
        slot *s = len > 0 ? find(t, key, (size_t)len, fw_hash64(key, (size_t)len, 0)) : NULL;
        if (s) st = refresh_slot(t, s, NULL, err);
    }
    pthread_mutex_unlock(&t->swap_mu);
    return st;
}

fw_status fw_model_table_refresh(fw_model_table *t, size_t *swapped, fw_err *err) {
    if (swapped) *swapped = 0;
    fw_status first = FW_OK;
    pthread_mutex_lock(&t->swap_mu);
    for (size_t i = 0; i <= t->mask; i++) {
        slot *s = atomic_load(&t->cells[i]); /* slots are never removed */
        if (!s) continue;
        fw_err e;
        fw_err_clear(&e);
        fw_status st = refresh_slot(t, s, swapped, &e);
        if (st && first == FW_OK) first = fw_err_set(err, st, "%s: %s", s->key, e.msg);
    }
    pthread_mutex_unlock(&t->swap_mu);
    return first;
}

/* ---- the loader thread ----------------------------------------------------------------------- */

static void job_release(fw_model_job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    fw_free(j->name);
    fw_free(j->alias);
    fw_free(j->version);
    fw_free(j);
}

void fw_model_job_release(fw_model_job *j) { job_release(j); }

bool fw_model_job_done(const fw_model_job *j) { return atomic_load(&j->finished); }

const fw_model_job_result *fw_model_job_get_result(const fw_model_job *j) {
    return atomic_load(&j->finished) ? &j->res : NULL;
}

static void run_job(fw_model_table *t, fw_model_job *j) {
    fw_err e;
    fw_err_clear(&e);
    fw_status st = FW_OK;
    if (j->kind == FW_MODEL_JOB_ALIAS || j->kind == FW_MODEL_JOB_ALIAS_FORCE) {
        st = fw_model_table_set_alias(t, j->name, j->alias, j->version, j->kind == FW_MODEL_JOB_ALIAS_FORCE, &e);
    } else if (j->kind == FW_MODEL_JOB_RELOAD) {
        st = fw_model_table_refresh(t, &j->res.swapped, &e);
    } else {
        fw_srv_model *m = NULL;
        st = fw_model_table_acquire(t, j->name, j->alias, j->version, fw_now_ns(), &m, &e);
        if (st == FW_OK) {
            snprintf(j->res.version, sizeof j->res.version, "%s", m->version);
            j->res.bytes = m->bytes;
            j->res.load_ms = m->load_ms;
            fw_srv_model_unref(m);
        }
    }
    j->res.status = st;
    if (st) snprintf(j->res.msg, sizeof j->res.msg, "%s", e.msg);
    atomic_store(&j->finished, true);
    if (j->done) j->done(j->ud, j);
}

static void *loader_main(void *arg) {
    fw_model_table *t = arg;
    pthread_setname_np(pthread_self(), "fw-model-loader");
    struct sched_param sp = {0}; /* SCHED_BATCH: a load never preempts a request thread */
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    pthread_mutex_lock(&t->qmu);
    for (;;) {
        fw_model_job *j = t->qhead;
        if (j) {
            t->qhead = j->next;
            if (!t->qhead) t->qtail = NULL;
            pthread_mutex_unlock(&t->qmu);
            run_job(t, j);
            job_release(j);
            pthread_mutex_lock(&t->qmu);
            continue;
        }
        if (t->stop) break;
        pthread_mutex_unlock(&t->qmu);
        size_t left = reap(t, false);
        pthread_mutex_lock(&t->qmu);
        if (t->qhead || t->stop) continue;
        /* retired models still in use are polled every 2 ms; otherwise a signal (or 200 ms) wakes us */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long add = left ? 2000000L : 200000000L;
        ts.tv_nsec += add;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->qcv, &t->qmu, &ts);
    }
    pthread_mutex_unlock(&t->qmu);
    return NULL;
}

static char *dup_or_null(const char *s, bool *oom) {
    if (!s) return NULL;
    char *d = fw_strdup(s);
    if (!d) *oom = true;
    return d;
}

fw_status fw_model_table_submit(fw_model_table *t, fw_model_job_kind kind, const char *name, const char *alias,
                                const char *version, void (*done)(void *ud, fw_model_job *j), void *ud,
                                fw_model_job **out, fw_err *err) {
    fw_model_job *j = fw_calloc(1, sizeof *j);
    if (!j) return fw_err_set(err, FW_ENOMEM, "out of memory");
    bool oom = false;
    j->kind = kind;
    j->name = dup_or_null(name, &oom);
    j->alias = dup_or_null(alias, &oom);
    j->version = dup_or_null(version, &oom);
    j->done = done;
    j->ud = ud;
    atomic_init(&j->refs, out ? 2 : 1);
    if (oom) {
        atomic_store(&j->refs, 1);
        job_release(j);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&t->qmu);
    if (t->stop || !t->loader_started) {
        pthread_mutex_unlock(&t->qmu);
        atomic_store(&j->refs, 1);
        job_release(j);
        return fw_err_set(err, FW_ELIMIT, "the model loader is not running (shutting down)");
    }
    if (t->qtail) t->qtail->next = j;
    else t->qhead = j;
    t->qtail = j;
    pthread_cond_signal(&t->qcv);
    pthread_mutex_unlock(&t->qmu);
    if (out) *out = j;
    return FW_OK;
}

size_t fw_model_table_retiring(fw_model_table *t) { return atomic_load(&t->n_retiring); }

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

uint64_t fw_model_table_generation(const fw_model_table *t) { return atomic_load(&t->generation); }

void fw_model_table_counters(const fw_model_table *t, uint64_t *loads, uint64_t *evictions, uint64_t *swaps) {
    *loads = atomic_load(&t->loads);
    *evictions = atomic_load(&t->evictions);
    *swaps = atomic_load(&t->swaps);
}
