/* canary_runner.c — owns the canary runner pool (canary_runner.h): a FIFO of jobs and the runner
 * threads under one mutex, the waiting connections with their deadlines, and a timer thread that
 * resumes a connection whose canary is past its deadline (woken by a submit only when the new
 * deadline is earlier than the one it sleeps until). */
#include "serve/canary_runner.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/metrics.h"
#include "serve/model.h"
#include "serve/server_int.h"

#include "serve/mhd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct fw_canary_job {
    atomic_int refs;               /* the request's and the runner's */
    fw_canary_job *next;           /* in the queue (under cr->mu) */
    fw_canary_job *wprev, *wnext;  /* in the waiting list (under cr->mu) */
    struct MHD_Connection *conn;   /* suspended while waiting */
    uint64_t deadline_ns;
    bool waiting;                  /* conn is suspended, not yet resumed (under cr->mu) */
    bool done;                     /* the canary answered: r holds its reply (under cr->mu) */
    bool abandoned;                /* the request went on without it (under cr->mu) */
    struct fw_rollout_split *ro;
    fw_route rt;
    bool explain;
    uint64_t reqno;
    uint64_t t0_ns;
    char *body;
    size_t len;
    fw_reply r;                    /* the canary's reply, built on the runner thread */
};

struct fw_canary_runner {
    fw_server *s;
    pthread_mutex_t mu;
    pthread_cond_t work;           /* runners: a job is queued, or stop */
    pthread_cond_t timer;          /* the timer: the waiting list changed, or stop (CLOCK_MONOTONIC) */
    fw_canary_job *head, *tail;    /* queued jobs */
    fw_canary_job *waiting;        /* jobs whose connection is suspended */
    unsigned inflight, max_inflight;
    bool closed, stop;
    pthread_t *threads;
    unsigned n_threads;
    pthread_t timer_thread;
    bool timer_started;
    uint64_t timer_at;             /* the deadline the timer sleeps until (UINT64_MAX: none; 0: not
                                    * asleep yet): a job due no earlier needs no wake-up (under mu) */
};

static void job_unref(fw_canary_job *j) {
    if (atomic_fetch_sub(&j->refs, 1) != 1) return;
    fw_srv_model_unref(j->r.hold);
    fw_buf_free(&j->r.body);
    fw_free(j->body);
    fw_free(j);
}

/* Caller holds cr->mu. */
static void unlink_waiting(fw_canary_runner *cr, fw_canary_job *j) {
    if (j->wprev) j->wprev->wnext = j->wnext;
    else if (cr->waiting == j) cr->waiting = j->wnext;
    if (j->wnext) j->wnext->wprev = j->wprev;
    j->wprev = j->wnext = NULL;
}

/* Resumes j's connection (once). Caller holds cr->mu. */
static void resume(fw_canary_runner *cr, fw_canary_job *j) {
    if (!j->waiting) return;
    j->waiting = false;
    unlink_waiting(cr, j);
    fw_mhd.resume_connection(j->conn);
}

static void *runner_main(void *arg) {
    fw_canary_runner *cr = arg;
    pthread_setname_np(pthread_self(), "fw-canary");
    pthread_mutex_lock(&cr->mu);
    for (;;) {
        while (!cr->head && !cr->stop) pthread_cond_wait(&cr->work, &cr->mu);
        if (cr->stop) break;
        fw_canary_job *j = cr->head;
        cr->head = j->next;
        if (!cr->head) cr->tail = NULL;
        bool skip = j->abandoned; /* timed out while queued: nobody wants the answer */
        pthread_mutex_unlock(&cr->mu);
        if (!skip) fw__canary_run(cr->s, j->ro, &j->rt, j->body, j->len, j->explain, j->reqno, &j->r);
        pthread_mutex_lock(&cr->mu);
        j->done = true;
        bool late = j->abandoned;
        resume(cr, j);
        __atomic_store_n(&cr->inflight, cr->inflight - 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&cr->mu);
        /* an answer nobody waits for: its latency still counts in the canary version's metrics */
        if (late && !skip && j->r.metrics)
            fw_metrics_request(j->r.metrics, j->r.variant, j->r.code, fw_now_ns() - j->t0_ns);
        job_unref(j);
        pthread_mutex_lock(&cr->mu);
    }
    pthread_mutex_unlock(&cr->mu);
    return NULL;
}

static void *timer_main(void *arg) {
    fw_canary_runner *cr = arg;
    pthread_setname_np(pthread_self(), "fw-canary-timer");
    pthread_mutex_lock(&cr->mu);
    while (!cr->stop) {
        uint64_t now = fw_now_ns(), next = UINT64_MAX;
        for (fw_canary_job *j = cr->waiting, *n; j; j = n) {
            n = j->wnext;
            if (now >= j->deadline_ns) resume(cr, j); /* the champion answers it */
            else if (j->deadline_ns < next) next = j->deadline_ns;
        }
        cr->timer_at = next;
        if (next == UINT64_MAX) {
            pthread_cond_wait(&cr->timer, &cr->mu);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + (next - now);
            ts.tv_sec = (time_t)(at / 1000000000ull);
            ts.tv_nsec = (long)(at % 1000000000ull);
            pthread_cond_timedwait(&cr->timer, &cr->mu, &ts);
        }
        cr->timer_at = 0;
    }
    pthread_mutex_unlock(&cr->mu);
    return NULL;
}

fw_status fw_canary_runner_new(fw_server *s, unsigned workers, unsigned max_inflight, fw_canary_runner **out,
                               fw_err *err) {
    *out = NULL;
    fw_canary_runner *cr = fw_calloc(1, sizeof *cr);
    if (!workers) workers = 1;
    if (!cr || !(cr->threads = fw_calloc(workers, sizeof *cr->threads))) {
        fw_free(cr);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    cr->s = s;
    cr->max_inflight = max_inflight ? max_inflight : 1;
    pthread_mutex_init(&cr->mu, NULL);
    pthread_cond_init(&cr->work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cr->timer, &ca);
    pthread_condattr_destroy(&ca);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&cr->threads[i], NULL, runner_main, cr) != 0) break;
        cr->n_threads++;
    }
    if (cr->n_threads && pthread_create(&cr->timer_thread, NULL, timer_main, cr) == 0) cr->timer_started = true;
    if (!cr->n_threads || !cr->timer_started) {
        fw_canary_runner_free(cr);
        return fw_err_set(err, FW_EIO, "cannot start the canary runner threads");
    }
    *out = cr;
    return FW_OK;
}

void fw_canary_runner_close(fw_canary_runner *cr) {
    if (!cr) return;
    pthread_mutex_lock(&cr->mu);
    cr->closed = true;
    while (cr->waiting) resume(cr, cr->waiting);
    pthread_mutex_unlock(&cr->mu);
}

void fw_canary_runner_free(fw_canary_runner *cr) {
    if (!cr) return;
    fw_canary_runner_close(cr);
    pthread_mutex_lock(&cr->mu);
    cr->stop = true;
    pthread_cond_broadcast(&cr->work);
    pthread_cond_broadcast(&cr->timer);
    pthread_mutex_unlock(&cr->mu);
    for (unsigned i = 0; i < cr->n_threads; i++) pthread_join(cr->threads[i], NULL);
    if (cr->timer_started) pthread_join(cr->timer_thread, NULL);
    while (cr->head) { /* queued, never run: only the runner's reference is left (the request went on) */
        fw_canary_job *j = cr->head;
        cr->head = j->next;
        job_unref(j);
    }
    pthread_mutex_destroy(&cr->mu);
    pthread_cond_destroy(&cr->work);
    pthread_cond_destroy(&cr->timer);
    fw_free(cr->threads);
    fw_free(cr);
}

fw_canary_submit_result fw_canary_submit(fw_canary_runner *cr, struct MHD_Connection *conn, fw_canary_job **slot,
                                         struct fw_rollout_split *ro, const fw_route *rt, const char *body,
                                         size_t len, bool explain, uint64_t reqno, const fw_reply *r,
                                         uint64_t timeout_ns) {
    *slot = NULL;
    /* cheap refusal before copying (read without the lock; checked again under it) */
    if (__atomic_load_n(&cr->inflight, __ATOMIC_RELAXED) >= cr->max_inflight) return FW_CANARY_SHED;
    fw_canary_job *j = fw_calloc(1, sizeof *j);
    if (!j || !(j->body = fw_malloc(len + 1))) {
        fw_free(j);
        return FW_CANARY_SHED;
    }
    if (len) memcpy(j->body, body, len);
    j->body[len] = 0;
    j->len = len;
    atomic_init(&j->refs, 2);
    j->conn = conn;
    j->ro = ro;
    j->rt = *rt;
    j->explain = explain;
    j->reqno = reqno;
    j->t0_ns = fw_now_ns();
    j->deadline_ns = j->t0_ns + timeout_ns;
    fw_buf_init(&j->r.body);
    snprintf(j->r.request_id, sizeof j->r.request_id, "%s", r->request_id);
    j->r.auth_role = r->auth_role;
    j->r.max_bytes = r->max_bytes;
    pthread_mutex_lock(&cr->mu);
    if (cr->closed || cr->inflight >= cr->max_inflight) {
        pthread_mutex_unlock(&cr->mu);
        fw_free(j->body);
        fw_free(j);
        return FW_CANARY_SHED;
    }
    __atomic_store_n(&cr->inflight, cr->inflight + 1, __ATOMIC_RELAXED);
    if (cr->tail) cr->tail->next = j;
    else cr->head = j;
    cr->tail = j;
    /* suspended under the lock: a runner that finishes at once resumes it only after this */
    fw_mhd.suspend_connection(conn);
    j->waiting = true;
    j->wnext = cr->waiting;
    if (cr->waiting) cr->waiting->wprev = j;
    cr->waiting = j;
    pthread_cond_signal(&cr->work);
    /* the timer wakes for a deadline earlier than the one it sleeps until, else at that one (and
     * finds this job then): one wake-up per timeout_ms under steady traffic, not one per job */
    if (j->deadline_ns < cr->timer_at) pthread_cond_signal(&cr->timer);
    pthread_mutex_unlock(&cr->mu);
    *slot = j;
    return FW_CANARY_SUSPENDED;
}

bool fw_canary_finish(fw_canary_runner *cr, fw_canary_job *j, fw_reply *r, struct fw_rollout_split **ro_out) {
    pthread_mutex_lock(&cr->mu);
    bool done = j->done;
    if (!done) j->abandoned = true;
    if (j->waiting) { /* resumed for another reason (never expected): do not leave it in the list */
        j->waiting = false;
        unlink_waiting(cr, j);
    }
    pthread_mutex_unlock(&cr->mu);
    *ro_out = j->ro;
    if (done) { /* the runner is finished with j->r: move it into the request's reply */
        fw_buf tmp = r->body;
        r->body = j->r.body;
        j->r.body = tmp;
        r->code = j->r.code;
        r->allow = j->r.allow;
        snprintf(r->request_id, sizeof r->request_id, "%s", j->r.request_id);
        r->metrics = j->r.metrics;
        r->variant = j->r.variant;
        r->hold = j->r.hold;
        j->r.hold = NULL;
        r->t0_ns = j->r.t0_ns;
        r->ro = j->r.ro;
        r->ro_arm = j->r.ro_arm;
        r->ro_failed = j->r.ro_failed;
    }
    job_unref(j);
    return done;
}

void fw_canary_abandon(fw_canary_runner *cr, fw_canary_job *j) {
    pthread_mutex_lock(&cr->mu);
    j->abandoned = true;
    if (j->waiting) { /* the connection is gone: nothing to resume */
        j->waiting = false;
        unlink_waiting(cr, j);
    }
    pthread_mutex_unlock(&cr->mu);
    job_unref(j);
}

uint64_t fw_canary_job_t0(const fw_canary_job *j) { return j->t0_ns; }

unsigned fw_canary_runner_inflight(const fw_canary_runner *cr) {
    return cr ? __atomic_load_n(&cr->inflight, __ATOMIC_RELAXED) : 0;
}
