/* model.c — owns fw_srv_model's life cycle (reference counting) and the per-thread scratch cache. */
#include "serve/model.h"
#include "serve/monitoring.h"

#include "core/alloc.h"
#include "serve/metrics.h"

#include <math.h>
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
    fw_srv_monitor_detach(m);
    if (m->ops && m->ops->free_impl && m->impl) m->ops->free_impl(m->impl);
    fw_free(m->name);
    fw_free(m->version);
    free_strs(m->classes, m->n_classes);
    free_strs(m->input_names, m->n_inputs);
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

/* ---- decisions ------------------------------------------------------------------------------- */

/* Class index and confidence of a classifier's scores (binary: P(positive) against threshold). */
static int32_t classify(const fw_srv_model *m, const double *o, double *conf) {
    if (m->task == FW_TASK_BINARY) {
        double p = o[0];
        int32_t lab = p >= m->threshold ? 1 : 0;
        *conf = fw_binary_confidence(p, m->threshold); /* measured from the threshold (bundle.h) */
        return lab;
    }
    size_t best = 0;
    for (size_t k = 1; k < m->n_outputs; k++) best = o[k] > o[best] ? k : best;
    *conf = o[best];
    return (int32_t)best;
}

static bool is_classifier(fw_task t) { return t == FW_TASK_BINARY || t == FW_TASK_MULTICLASS; }

static double p_of(const fw_srv_model *m, const double *o, int32_t k) {
    if (m->task == FW_TASK_BINARY) return k == 1 ? o[0] : 1 - o[0];
    return o[k];
}

fw_status fw_srv_model_decide(const fw_srv_model *m, const fw_value *inputs, void *scratch, double override,
                              double *out, fw_srv_decision *d, fw_err *err) {
    fw_status st;
    memset(d, 0, sizeof *d);
    d->answer_index = -1;
    d->answer_value = NAN;
    d->confidence = NAN;
    if (m->ops->predict_decide) {
        fw_prediction p;
        if ((st = m->ops->predict_decide(m, inputs, scratch, override, out, &p, err))) return st;
        d->abstained = p.abstained;
        d->source = p.source;
        d->answer = p.label_name;
        d->answer_index = p.label;
        d->answer_value = p.value;
        d->confidence = p.confidence;
        d->threshold = override >= 0 && is_classifier(m->task) ? override : m->confidence_threshold;
        return FW_OK;
    }
    if ((st = m->ops->predict(m, inputs, scratch, out, err))) return st;
    if (!is_classifier(m->task)) {
        d->answer_value = out[0];
        return FW_OK;
    }
    double conf;
    int32_t k = classify(m, out, &conf);
    d->confidence = conf;
    d->threshold = override >= 0 ? override : m->confidence_threshold;
    if (d->threshold > 0 && conf < d->threshold) {
        d->abstained = true;
        switch (m->fallback) {
        case FW_FALLBACK_BASELINE:
            if (m->baseline_out) {
                double c2;
                d->source = FW_PRED_BASELINE;
                k = classify(m, m->baseline_out, &c2);
                d->answer_index = k;
                d->answer_value = p_of(m, m->baseline_out, k);
                d->answer = m->classes && (size_t)k < m->n_classes ? m->classes[k] : NULL;
                return FW_OK;
            }
            /* no baseline kept: review */
            d->source = FW_PRED_REVIEW;
            return FW_OK;
        case FW_FALLBACK_VALUE:
            d->source = FW_PRED_VALUE;
            d->answer = m->fallback_value;
            for (size_t c = 0; m->fallback_value && c < m->n_classes; c++)
                if (strcmp(m->classes[c], m->fallback_value) == 0) d->answer_index = (int32_t)c;
            return FW_OK;
        case FW_FALLBACK_REVIEW:
            d->source = FW_PRED_REVIEW;
            return FW_OK;
        }
    }
    d->answer_index = k;
    d->answer_value = p_of(m, out, k);
    d->answer = m->classes && (size_t)k < m->n_classes ? m->classes[k] : NULL;
    return FW_OK;
}
