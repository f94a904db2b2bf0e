/* model.c — owns fw_srv_model's life cycle (reference counting) and the per-thread scratch cache. */
#include "serve/model.h"

#include "core/alloc.h"
#include "serve/metrics.h"

#include <pthread.h>
#include <string.h>

static atomic_ulong g_next_gen = 1;

fw_srv_model *fw_srv_model_new(const char *name, const char *version) {
    fw_srv_model *m = fw_calloc(1, sizeof *m);
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    m->gen = atomic_fetch_add(&g_next_gen, 1);
    fw_strmap_init(&m->input_index);
    m->name = fw_strdup(name);
    m->version = fw_strdup(version);
    m->threshold = 0.5;
    m->metrics = fw_srv_metrics_new();
    if (!m->name || !m->version || !m->metrics) {
        fw_srv_model_unref(m);
        return NULL;
    }
    return m;
}

fw_status fw_srv_model_set_inputs(fw_srv_model *m, const char *const *names, size_t n) {
    m->input_names = fw_calloc(n ? n : 1, sizeof(char *));
    if (!m->input_names) return FW_ENOMEM;
    m->n_inputs = n;
    for (size_t i = 0; i < n; i++) {
        if (!(m->input_names[i] = fw_strdup(names[i]))) return FW_ENOMEM;
        if (fw_strmap_put(&m->input_index, names[i], strlen(names[i]), (uint32_t)i) != FW_OK)
            return FW_ENOMEM;
    }
    return FW_OK;
}

void fw_srv_model_ref(fw_srv_model *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

static void free_strs(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) fw_free(v[i]);
    fw_free(v);
}

void fw_srv_model_unref(fw_srv_model *m) {
    if (!m) return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    if (m->ops && m->ops->free_impl && m->impl) m->ops->free_impl(m->impl);
    fw_free(m->name);
    fw_free(m->version);
    free_strs(m->classes, m->n_classes);
    free_strs(m->input_names, m->n_inputs);
    free_strs(m->explain_names, m->n_explain);
    fw_strmap_free(&m->input_index);
    fw_free(m->fallback_value);
    fw_free(m->baseline_out);
    fw_free(m->metrics);
    fw_free(m);
}

/* ---- per-thread scratch cache ---------------------------------------------------------------- */
#define SCRATCH_SLOTS 8
typedef struct scratch_slot {
    uint64_t gen;
    void *p;
    void (*free_fn)(void *);
    uint64_t used;
} scratch_slot;

typedef struct scratch_cache {
    scratch_slot s[SCRATCH_SLOTS];
    uint64_t tick;
} scratch_cache;

/* The cache lives behind a pthread key so its scratches are freed when a worker thread exits. */
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch_cache *t_cache;

static void cache_free(void *p) {
    scratch_cache *c = p;
    for (int i = 0; i < SCRATCH_SLOTS; i++)
        if (c->s[i].p && c->s[i].free_fn) c->s[i].free_fn(c->s[i].p);
    fw_free(c);
}

static void make_key(void) { pthread_key_create(&g_key, cache_free); }

void *fw_srv_model_scratch(const fw_srv_model *m, bool *oom) {
    *oom = false;
    if (!m->ops->scratch_new) return NULL;
    scratch_cache *c = t_cache;
    if (!c) {
        pthread_once(&g_once, make_key);
        if (!(c = fw_calloc(1, sizeof *c))) {
            *oom = true;
            return NULL;
        }
        pthread_setspecific(g_key, c);
        t_cache = c;
    }
    c->tick++;
    int victim = 0;
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        if (c->s[i].gen == m->gen) {
            c->s[i].used = c->tick;
            return c->s[i].p;
        }
        if (c->s[i].used < c->s[victim].used) victim = i;
    }
    void *p = m->ops->scratch_new(m);
    if (!p) {
        *oom = true;
        return NULL;
    }
    scratch_slot *v = &c->s[victim];
    if (v->p && v->free_fn) v->free_fn(v->p);
    v->gen = m->gen;
    v->p = p;
    v->free_fn = m->ops->scratch_free;
    v->used = c->tick;
    return p;
}
