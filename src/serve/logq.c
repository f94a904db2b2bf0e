/* logq.c — owns the bounded MPMC ring (Vyukov's sequence-numbered cells), the writer thread that
 * batches records into the sink, and the JSON-lines file sink. */
#include "serve/logq.h"

#include "core/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cell {
    atomic_size_t seq;
    fw_log_record *rec;
} cell;

struct fw_logq {
    cell *cells;
    size_t mask;
    _Alignas(64) atomic_size_t head; /* next to pop */
    _Alignas(64) atomic_size_t tail; /* next to push */
    _Alignas(64) atomic_ullong pushed, dropped, written, write_errors, batches;
    fw_log_policy policy;
    double sample;
    size_t batch;
    fw_log_sink sink;
    atomic_bool stop;
    pthread_t writer;
};

fw_log_record *fw_log_record_new(fw_logrec_kind kind, const char *request_id, const char *json, size_t len) {
    fw_log_record *r = fw_malloc(sizeof *r + len + 1);
    if (!r) return NULL;
    r->kind = kind;
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id ? request_id : "");
    r->len = len;
    memcpy(r->json, json, len);
    r->json[len] = 0;
    return r;
}

static bool try_push(fw_logq *q, fw_log_record *r) {
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->rec = r;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (dif < 0) {
            return false; /* full */
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

static fw_log_record *try_pop(fw_logq *q) {
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                fw_log_record *r = c->rec;
                atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
                return r;
            }
        } else if (dif < 0) {
            return NULL; /* empty */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}

static size_t depth(const fw_logq *q) {
    size_t t = atomic_load(&q->tail), h = atomic_load(&q->head);
    return t > h ? t - h : 0;
}

/* Per-thread xorshift for sampling: no shared state on the hot path. */
static double thread_uniform(void) {
    static _Thread_local uint64_t s;
    if (!s) s = (uint64_t)(uintptr_t)&s ^ (uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (double)(s >> 11) * 0x1.0p-53;
}

bool fw_logq_push(fw_logq *q, fw_log_record *r) {
    if (!r) {
        atomic_fetch_add(&q->dropped, 1);
        return false;
    }
    if (atomic_load_explicit(&q->stop, memory_order_relaxed)) goto drop;
    if (q->policy == FW_LOG_SAMPLE && depth(q) > (q->mask + 1) / 2 && thread_uniform() >= q->sample) goto drop;
    if (try_push(q, r)) {
        atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
        return true;
    }
    if (q->policy == FW_LOG_DROP_OLDEST) {
        for (int tries = 0; tries < 4; tries++) {
            fw_log_record *old = try_pop(q);
            if (old) {
                fw_free(old);
                atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
            }
            if (try_push(q, r)) {
                atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
                return true;
            }
        }
    }
drop:
    fw_free(r);
    atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
    return false;
}

static void write_batch(fw_logq *q, fw_log_record **buf, size_t n) {
    if (!n) return;
    fw_err err;
    fw_err_clear(&err);
    if (q->sink.write(q->sink.ud, buf, n, &err) != FW_OK) {
        atomic_fetch_add(&q->write_errors, n);
        fprintf(stderr, "flywheel serve: prediction log: %s (%zu records lost)\n", err.msg, n);
    } else {
        atomic_fetch_add(&q->written, n);
    }
    atomic_fetch_add(&q->batches, 1);
    for (size_t i = 0; i < n; i++) fw_free(buf[i]);
}

static void *writer_main(void *arg) {
    fw_logq *q = arg;
    fw_log_record **buf = fw_malloc(q->batch * sizeof *buf);
    for (;;) {
        size_t n = 0;
        fw_log_record *r;
        while (n < q->batch && (r = try_pop(q)) != NULL) {
            if (buf) buf[n++] = r;
            else fw_free(r), atomic_fetch_add(&q->write_errors, 1);
        }
        write_batch(q, buf, n);
        if (n == 0) {
            if (atomic_load(&q->stop) && depth(q) == 0) break;
            struct timespec ts = {0, 2000000}; /* 2 ms */
            nanosleep(&ts, NULL);
        }
    }
    fw_free(buf);
    return NULL;
}

fw_status fw_logq_new(const fw_log_sink *sink, size_t capacity, fw_log_policy policy, double sample,
                      size_t batch, fw_logq **out, fw_err *err) {
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    fw_logq *q = fw_calloc(1, sizeof *q);
    if (!q || !(q->cells = fw_calloc(cap, sizeof *q->cells))) {
        fw_free(q);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cap; i++) atomic_init(&q->cells[i].seq, i);
    q->mask = cap - 1;
    q->policy = policy;
    q->sample = sample;
    q->batch = batch ? batch : 1;
    q->sink = *sink;
    if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
        fw_free(q->cells);
        fw_free(q);
        return fw_err_set(err, FW_EIO, "cannot start the log writer thread");
    }
    *out = q;
    return FW_OK;
}

void fw_logq_get_stats(const fw_logq *q, fw_logq_stats *s) {
    s->depth = depth(q);
    s->capacity = q->mask + 1;
    s->pushed = atomic_load(&q->pushed);
    s->dropped = atomic_load(&q->dropped);
    s->written = atomic_load(&q->written);
    s->write_errors = atomic_load(&q->write_errors);
    s->batches = atomic_load(&q->batches);
}

void fw_logq_close(fw_logq *q) {
    if (!q) return;
    atomic_store(&q->stop, true);
    pthread_join(q->writer, NULL);
    fw_log_record *r;
    while ((r = try_pop(q)) != NULL) fw_free(r); /* raced pushes after stop */
    if (q->sink.close) q->sink.close(q->sink.ud);
    fw_free(q->cells);
    fw_free(q);
}

/* ---- JSON-lines file sink -------------------------------------------------------------------- */

static fw_status file_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    FILE *f = ud;
    for (size_t i = 0; i < n; i++) {
        fwrite(recs[i]->json, 1, recs[i]->len, f);
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f)) return fw_err_set(err, FW_EIO, "write failed: %s", strerror(errno));
    return FW_OK;
}

static void file_close(void *ud) {
    FILE *f = ud;
    fflush(f);
    fdatasync(fileno(f));
    fclose(f);
}

fw_status fw_log_sink_file(const char *path, fw_log_sink *out, fw_err *err) {
    FILE *f = fopen(path, "ab");
    if (!f) return fw_err_set(err, FW_EIO, "%s: cannot open for append: %s", path, strerror(errno));
    *out = (fw_log_sink){f, file_write, file_close};
    return FW_OK;
}
