/* shadow.c — owns the shadow queue and its worker (shadow.h): a ring of jobs under one mutex (the
 * request path holds it for a pointer store), a condition variable for the worker. */
#include "serve/shadow.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/metrics.h"
#include "serve/model.h"
#include "serve/server_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct shadow_job {
    fw_srv_model *m;
    char *body;        /* body, then the entity (NUL-terminated each) in one allocation */
    size_t len;
    char *entity;      /* NULL or inside body's allocation */
    char rid[48];
} shadow_job;

struct fw_shadowq {
    fw_server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    shadow_job *ring;
    size_t cap, head, n;
    bool stop;
    pthread_t thread;
    bool started;
    atomic_ullong queued, dropped, scored;
};

static void job_free(shadow_job *j) {
    fw_srv_model_unref(j->m);
    fw_free(j->body);
    memset(j, 0, sizeof *j);
}

static void *worker(void *arg) {
    fw_shadowq *q = arg;
    pthread_setname_np(pthread_self(), "fw-shadow");
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->n && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop) break;
        shadow_job j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        __atomic_store_n(&q->n, q->n - 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&q->mu);
        fw__shadow_score(q->s, j.m, j.body, j.len, j.rid, j.entity);
        atomic_fetch_add_explicit(&q->scored, 1, memory_order_relaxed);
        job_free(&j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

fw_status fw_shadowq_new(fw_server *s, size_t capacity, fw_shadowq **out, fw_err *err) {
    fw_shadowq *q = fw_calloc(1, sizeof *q);
    if (!q || !(q->ring = fw_calloc(capacity ? capacity : 1, sizeof *q->ring))) {
        fw_free(q);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    q->s = s;
    q->cap = capacity ? capacity : 1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pthread_create(&q->thread, NULL, worker, q) != 0) {
        fw_shadowq_free(q, 0);
        return fw_err_set(err, FW_EIO, "cannot start the shadow thread");
    }
    q->started = true;
    *out = q;
    return FW_OK;
}

void fw_shadowq_free(fw_shadowq *q, double wait_s) {
    if (!q) return;
    uint64_t until = fw_now_ns() + (uint64_t)(wait_s * 1e9);
    while (q->started && __atomic_load_n(&q->n, __ATOMIC_RELAXED) && fw_now_ns() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->started) pthread_join(q->thread, NULL);
    for (; q->n; q->n--, q->head = (q->head + 1) % q->cap) job_free(&q->ring[q->head]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    fw_free(q->ring);
    fw_free(q);
}

bool fw_shadowq_push(fw_shadowq *q, fw_srv_model *m, const char *body, size_t len, const char *rid,
                     const char *entity) {
    if (!q) return false;
    /* cheap refusal before copying when the queue is visibly full (read without the lock) */
    if (__atomic_load_n(&q->n, __ATOMIC_RELAXED) >= q->cap) {
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        return false;
    }
    size_t el = entity ? strlen(entity) + 1 : 0;
    shadow_job j = {0};
    if (!(j.body = fw_malloc(len + 1 + el))) {
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        return false;
    }
    memcpy(j.body, body, len);
    j.body[len] = 0;
    j.len = len;
    if (entity) memcpy(j.entity = j.body + len + 1, entity, el);
    snprintf(j.rid, sizeof j.rid, "%s", rid);
    fw_srv_model_ref(m);
    j.m = m;
    pthread_mutex_lock(&q->mu);
    bool ok = !q->stop && q->n < q->cap;
    if (ok) {
        q->ring[(q->head + q->n) % q->cap] = j;
        __atomic_store_n(&q->n, q->n + 1, __ATOMIC_RELAXED);
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (!ok) {
        job_free(&j);
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        return false;
    }
    atomic_fetch_add_explicit(&q->queued, 1, memory_order_relaxed);
    return true;
}

void fw_shadowq_metrics(fw_shadowq *q, fw_buf *out) {
    if (!q) return;
    fw_metrics_render_scalar(out, "flywheel_shadow_queued_total", "counter",
                             "Shadow jobs queued for the shadow thread (off the request path).", (double)atomic_load(&q->queued));
    fw_metrics_render_scalar(out, "flywheel_shadow_dropped_total", "counter",
                             "Shadow jobs dropped because the shadow queue was full.", (double)atomic_load(&q->dropped));
    fw_metrics_render_scalar(out, "flywheel_shadow_scored_total", "counter", "Shadow jobs scored (or refused by the shadow model).",
                             (double)atomic_load(&q->scored));
    fw_metrics_render_scalar(out, "flywheel_shadow_queue_depth", "gauge", "Shadow jobs waiting.",
                             (double)__atomic_load_n(&q->n, __ATOMIC_RELAXED));
}
