/* logq.c — owns the bounded MPMC ring (Vyukov's sequence-numbered cells), the byte ring the
 * request threads build their prediction records in (the queue's memory bound), the writer thread
 * that batches records into the sink, the JSON-lines file sink and the discard sink (a log to
 * /dev/null formats nothing). */
#include "serve/logq.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* A durable push's rendezvous: the request thread and the writer each hold a reference. */
typedef struct fw_log_ack {
    int state;                   /* 0 pending, 1 durable, -1 not kept (q->ack_mu) */
    atomic_int refs;
    void (*done)(void *ud, fw_status st); /* asynchronous pushes: called once with the outcome */
    void *ud;
} fw_log_ack;

typedef struct cell {
    atomic_size_t seq;
    fw_log_record *rec;
} cell;

struct fw_logq {
    cell *cells;
    size_t mask;
    /* head, tail and the counters on separate cache lines (padding, not _Alignas: the struct comes
     * from fw_calloc, which aligns to 16, and UBSan rightly refuses an over-aligned member there) */
    char pad0[64];
    atomic_size_t head; /* next to pop */
    char pad1[64];
    atomic_size_t tail; /* next to push */
    char pad2[64];
    atomic_ullong pushed, dropped, written, write_errors, batches;
    char pad3[64];
    fw_log_policy policy;
    double sample;
    size_t batch;
    fw_log_sink sink;
    atomic_bool stop;
    /* the writer parked (idle): it waits without the flush tick, and the next push wakes it */
    char pad4[64];
    atomic_bool parked;
    atomic_ullong wakeups; /* the writer's wake-ups (fw_logq_stats) */
    pthread_t writer;
    int flush_ms;
    /* group commit: durable pushers wait on ack_cv. The writer sleeps on wake between flushes: a
     * semaphore, not a condition variable — a condvar's timed wait re-takes its mutex marked
     * contended, so each flush tick cost a second futex call (the wake-up at the unlock); a post
     * made before the writer waits is kept, so no flag is needed either */
    pthread_mutex_t ack_mu;
    pthread_cond_t ack_cv, sync_cv;
    sem_t wake;                  /* posted: a durable record is queued, a parked writer has records,
                                    or close: flush now */
    /* the syncer: acks of written records waiting for the sink's sync, on a thread of their own so
     * the writer keeps appending while a sync (fdatasync of everything dirty) runs */
    fw_log_ack **pend;           /* (ack_mu) */
    size_t n_pend, cap_pend;
    bool sync_stop, syncer_started;
    pthread_t syncer;
    /* the record memory (fw_logq_new_bytes): request threads reserve a record's bytes at a shard's
     * rtail with a CAS, build it there and mark it LIVE; whoever disposes of it marks it FREED (out
     * of order: the writer frees batches, a drop frees at once); the writer alone moves each
     * shard's rhead over the FREED records at its head, in order. Bytes in use = the shards'
     * rtail - rhead <= ring_size, whatever the traffic: RSS stays flat once the ring has been round
     * once, and no record is a malloc of a request thread's arena freed by the writer (those arenas
     * kept each burst's peak: 30 -> 106 MB in a 7-minute soak on a busy machine). Records too large
     * for a shard (over a quarter of it) are heap blocks under the same byte bound (heap_bytes).
     * Why shards: a record reserved but not yet queued (its thread descheduled between the two)
     * stops its shard's rhead until that thread runs again. With one ring that stopped every
     * thread's records: on a busy machine (load 12-17) 41k-148k of ~300k records of a c=64 run
     * were dropped on the memory bound while the writer sat idle with an empty queue. A thread
     * reserves in its own shard first (threads are spread over them) and in the others when its
     * own is full, so one stalled thread no longer blocks the rest. */
    unsigned char *ring;
    size_t ring_size, shard_size;
    _Atomic unsigned char *ring_state; /* per RING_GRAIN bytes: the state of a record starting there */
    struct ring_shard {
        char pad0[64];
        atomic_ullong rtail;           /* bytes ever reserved in the shard */
        char pad1[64];
        atomic_ullong rhead;           /* bytes ever released (the writer) */
    } shard[4];
    char pad6[64];
    atomic_ullong heap_bytes;          /* bytes of oversized records on the heap */
    atomic_ullong mem_dropped;         /* records dropped because the bound was reached */
    atomic_ullong mem_peak;            /* the most bytes ever in use (sampled by the writer) */
};

/* How a record's memory is held (fw_log_record.where). */
enum { REC_HEAP = 0, REC_RING = 1, REC_HEAP_COUNTED = 2 };
/* Byte-ring states, and its granule (a record starts on one; its header holds its size). */
enum { RS_NONE = 0, RS_LIVE = 1, RS_FREED = 2, RS_PAD = 3, RING_GRAIN = 32, RING_HDR = 16 };

typedef struct ring_hdr {
    uint64_t size;  /* bytes of this block, header included, a multiple of RING_GRAIN */
    uint64_t pos;   /* rtail when reserved (debugging aid) */
} ring_hdr;

enum { RING_SHARDS = 4 };
/* empty flush intervals in a row before the writer parks (50 x 2 ms: 0.1 s without a record) */
enum { PARK_AFTER = 50 };
_Static_assert(sizeof ((fw_logq *)0)->shard / sizeof ((fw_logq *)0)->shard[0] == RING_SHARDS, "one per shard");

/* Test seam (logq.h): called between reserving a prediction record's bytes and queueing it. */
void (*fw_logq_test_between)(void);

/* Reserves need bytes in shard si; NULL when it is full. */
static void *shard_alloc(fw_logq *q, int si, uint64_t need) {
    struct ring_shard *sh = &q->shard[si];
    size_t size = q->shard_size;
    unsigned char *base = q->ring + (size_t)si * size;
    size_t base_grain = (size_t)si * size / RING_GRAIN;
    unsigned long long t = atomic_load_explicit(&sh->rtail, memory_order_relaxed), pad;
    for (;;) {
        unsigned long long h = atomic_load_explicit(&sh->rhead, memory_order_acquire);
        uint64_t off = t % size;
        pad = off + need > size ? size - off : 0; /* a block never wraps: skip the end */
        if (t + pad + need - h > size) return NULL;
        if (atomic_compare_exchange_weak_explicit(&sh->rtail, &t, t + pad + need, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    if (pad) {
        ring_hdr *ph = (ring_hdr *)(void *)(base + t % size);
        ph->size = pad;
        ph->pos = t;
        atomic_store_explicit(&q->ring_state[base_grain + (t % size) / RING_GRAIN], RS_PAD, memory_order_release);
    }
    uint64_t off = (t + pad) % size;
    ring_hdr *h = (ring_hdr *)(void *)(base + off);
    h->size = need;
    h->pos = t + pad;
    atomic_store_explicit(&q->ring_state[base_grain + off / RING_GRAIN], RS_LIVE, memory_order_relaxed);
    return base + off + RING_HDR;
}

/* Reserves n bytes for a record in the byte ring: the calling thread's shard first, then the
 * others; NULL when all are full or n is over a quarter of a shard. */
static void *ring_alloc(fw_logq *q, size_t n) {
    static atomic_uint next_shard;
    static _Thread_local int mine = -1;
    if (!q->ring_size) return NULL;
    uint64_t need = ((uint64_t)RING_HDR + n + RING_GRAIN - 1) & ~(uint64_t)(RING_GRAIN - 1);
    if (need > q->shard_size / 4) return NULL;
    if (mine < 0) mine = (int)(atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % RING_SHARDS);
    for (int k = 0; k < RING_SHARDS; k++) {
        void *p = shard_alloc(q, (mine + k) % RING_SHARDS, need);
        if (p) return p;
    }
    return NULL;
}

static unsigned long long ring_used(const fw_logq *q) {
    unsigned long long used = 0;
    for (int si = 0; si < RING_SHARDS; si++)
        used += atomic_load_explicit(&q->shard[si].rtail, memory_order_relaxed) -
                atomic_load_explicit(&q->shard[si].rhead, memory_order_relaxed);
    return used;
}

/* The writer: moves each shard's rhead over the disposed blocks at its head. */
static void ring_release(fw_logq *q) {
    if (!q->ring_size) return;
    unsigned long long used = ring_used(q) + atomic_load_explicit(&q->heap_bytes, memory_order_relaxed);
    if (used > atomic_load_explicit(&q->mem_peak, memory_order_relaxed)) atomic_store(&q->mem_peak, used);
    for (int si = 0; si < RING_SHARDS; si++) {
        struct ring_shard *sh = &q->shard[si];
        const unsigned char *base = q->ring + (size_t)si * q->shard_size;
        size_t base_grain = (size_t)si * q->shard_size / RING_GRAIN;
        unsigned long long h = atomic_load_explicit(&sh->rhead, memory_order_relaxed), h0 = h;
        for (;;) {
            uint64_t off = h % q->shard_size;
            _Atomic unsigned char *st = &q->ring_state[base_grain + off / RING_GRAIN];
            unsigned char v = atomic_load_explicit(st, memory_order_acquire);
            if (v != RS_FREED && v != RS_PAD) break;
            uint64_t sz = ((const ring_hdr *)(const void *)(base + off))->size;
            atomic_store_explicit(st, RS_NONE, memory_order_relaxed);
            h += sz;
        }
        if (h != h0) atomic_store_explicit(&sh->rhead, h, memory_order_release);
    }
}

/* Gives a record's memory back (whichever thread disposes of it). */
static void rec_free(fw_logq *q, fw_log_record *r) {
    if (r->where == REC_RING) {
        uint64_t off = (uint64_t)((unsigned char *)r - RING_HDR - q->ring);
        atomic_store_explicit(&q->ring_state[off / RING_GRAIN], RS_FREED, memory_order_release);
        return;
    }
    if (r->where == REC_HEAP_COUNTED) atomic_fetch_sub_explicit(&q->heap_bytes, r->size, memory_order_relaxed);
    fw_free(r);
}

/* A record leaves the queue without reaching the sink's write (dropped, freed at close). */
static void settle(fw_logq *q, unsigned long long n) {
    if (q->sink.settled) atomic_fetch_add(q->sink.settled, n);
}

/* Answers a durable pusher (ok or not) and drops the writer's reference. Call with ack_mu held. */
static void ack_set_locked(fw_log_ack *a, fw_status st) {
    a->state = st == FW_OK ? 1 : -1;
    if (a->done) a->done(a->ud, st);
    if (atomic_fetch_sub(&a->refs, 1) == 1) fw_free(a);
}

static void ack_done_locked(fw_log_record *r, fw_status st) {
    fw_log_ack *a = r->ack;
    if (!a) return;
    r->ack = NULL;
    ack_set_locked(a, st);
}

/* Hands a written record's ack to the syncer (answered at once, not kept, when that fails). */
static void ack_pend_locked(fw_logq *q, fw_log_record *r) {
    fw_log_ack *a = r->ack;
    if (!a) return;
    if (q->n_pend == q->cap_pend) {
        size_t nc = q->cap_pend ? q->cap_pend * 2 : 64;
        fw_log_ack **np = fw_realloc(q->pend, nc * sizeof *np);
        if (!np) {
            ack_done_locked(r, FW_ENOMEM);
            return;
        }
        q->pend = np;
        q->cap_pend = nc;
    }
    r->ack = NULL;
    q->pend[q->n_pend++] = a;
}

/* Group commit: one sync for every ack handed over since the last one. */
static void *syncer_main(void *arg) {
    fw_logq *q = arg;
    pthread_setname_np(pthread_self(), "fw-log-sync");
    fw_log_ack **mine = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&q->ack_mu);
    for (;;) {
        while (!q->n_pend && !q->sync_stop) pthread_cond_wait(&q->sync_cv, &q->ack_mu);
        if (!q->n_pend) break;
        /* take the list: swap buffers so the writer keeps adding to an empty one */
        fw_log_ack **batch = q->pend;
        size_t n = q->n_pend, bcap = q->cap_pend;
        q->pend = mine;
        q->cap_pend = cap;
        q->n_pend = 0;
        pthread_mutex_unlock(&q->ack_mu);
        fw_err err;
        fw_err_clear(&err);
        bool ok = q->sink.sync(q->sink.ud, &err) == FW_OK;
        if (!ok) fprintf(stderr, "flywheel serve: prediction log: %s\n", err.msg);
        pthread_mutex_lock(&q->ack_mu);
        for (size_t i = 0; i < n; i++) ack_set_locked(batch[i], ok ? FW_OK : FW_EIO);
        pthread_cond_broadcast(&q->ack_cv);
        mine = batch;
        cap = bcap;
    }
    pthread_mutex_unlock(&q->ack_mu);
    fw_free(mine);
    return NULL;
}

/* Frees a record that never reached the sink, answering its waiter. */
static void discard(fw_logq *q, fw_log_record *r) {
    if (r->ack) {
        pthread_mutex_lock(&q->ack_mu);
        ack_done_locked(r, FW_ELIMIT); /* dropped by the queue, or at close */
        pthread_cond_broadcast(&q->ack_cv);
        pthread_mutex_unlock(&q->ack_mu);
    }
    rec_free(q, r);
}

/* Copies n bytes (NUL-terminated) at *p, returns the copy and advances *p. */
static const char *put_str(char **p, const char *s, size_t n) {
    if (!s) return NULL;
    char *d = *p;
    memcpy(d, s, n);
    d[n] = 0;
    *p = d + n + 1;
    return d;
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

static size_t prediction_size(const fw_log_prediction *p) {
    size_t nd = p->n_rows * p->n_out;
    size_t strs = slen(p->model) + slen(p->version) + slen(p->entity_id) + (p->inputs ? p->inputs_len + 1 : 0) +
                  (p->answers ? p->answers_len + 1 : 0);
    return sizeof(fw_log_record) + nd * sizeof(double) + strs;
}

/* Builds the record of p in mem (prediction_size(p) bytes, 8-byte aligned). */
static fw_log_record *prediction_build(void *mem, size_t size, const fw_log_prediction *p, bool compact) {
    size_t nd = p->n_rows * p->n_out;
    fw_log_record *r = mem;
    memset(r, 0, sizeof *r);
    r->kind = FW_LOGREC_PREDICTION;
    r->size = size;
    if (p->request_id) { /* a copy, not snprintf: this runs once per answered request */
        size_t l = strnlen(p->request_id, sizeof r->request_id - 1);
        memcpy(r->request_id, p->request_id, l);
        r->request_id[l] = 0;
    }
    r->ts_ms = fw_wall_unix_ms();
    double *o = (double *)(void *)r->data;
    if (nd) memcpy(o, p->outputs, nd * sizeof *o);
    r->outputs = o;
    r->n_rows = (uint32_t)p->n_rows;
    r->n_out = (uint32_t)p->n_out;
    char *q = r->data + nd * sizeof(double);
    r->model = put_str(&q, p->model, p->model ? strlen(p->model) : 0);
    r->version = put_str(&q, p->version, p->version ? strlen(p->version) : 0);
    r->entity_id = put_str(&q, p->entity_id, p->entity_id ? strlen(p->entity_id) : 0);
    size_t cl = compact && p->inputs && p->inputs_gaps
                    ? fw_json_compact_gaps(q, p->inputs, p->inputs_len, p->inputs_gaps, p->n_gaps)
                    : (size_t)-1;
    if (cl != (size_t)-1) { /* compacted as copied (the writer copies it as it is) */
        r->inputs = q;
        q[cl] = 0;
        q += cl + 1;
        r->inputs_len = (uint32_t)cl;
        r->inputs_compact = true;
    } else {
        r->inputs = put_str(&q, p->inputs, p->inputs_len);
        r->inputs_len = p->inputs ? (uint32_t)p->inputs_len : 0;
    }
    r->answers = put_str(&q, p->answers, p->answers_len);
    r->variant = p->variant ? p->variant : "primary";
    r->source = p->source ? p->source : "online";
    r->protocol = p->protocol ? p->protocol : "v1";
    r->outcome = p->outcome ? p->outcome : "model";
    r->latency_us = p->latency_us;
    r->value = NAN;
    return r;
}

fw_log_record *fw_log_prediction_new(const fw_log_prediction *p) {
    size_t size = prediction_size(p);
    void *mem = fw_malloc(size);
    return mem ? prediction_build(mem, size, p, false) : NULL;
}

size_t fw_log_prediction_size(const fw_log_prediction *p) { return prediction_size(p); }

fw_log_record *fw_log_prediction_build(void *mem, size_t size, const fw_log_prediction *p) {
    return prediction_build(mem, size, p, false);
}

fw_log_record *fw_log_feedback_new(const char *request_id, const char *label_json, const char *event, double value,
                                   bool matched) {
    return fw_log_feedback_new2(request_id, label_json, event, value, matched, false, NULL);
}

fw_log_record *fw_log_feedback_new2(const char *request_id, const char *label_json, const char *event, double value,
                                    bool matched, bool update, const char *origin) {
    size_t size = sizeof(fw_log_record) + slen(label_json) + slen(event) + slen(origin);
    fw_log_record *r = fw_malloc(size);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->kind = FW_LOGREC_FEEDBACK;
    r->size = size;
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id ? request_id : "");
    r->ts_ms = fw_wall_unix_ms();
    char *q = r->data;
    r->label_json = put_str(&q, label_json, label_json ? strlen(label_json) : 0);
    r->event = put_str(&q, event, event ? strlen(event) : 0);
    r->origin = put_str(&q, origin, origin ? strlen(origin) : 0);
    r->value = value;
    r->matched = matched;
    r->update = update;
    return r;
}

/* ---- JSON formatting (writer thread) ------------------------------------------------------- */

size_t fw_json_compact(char *dst, const char *s, size_t n) {
    char *d = dst;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            *d++ = c;
            if (c == '\\' && i + 1 < n) *d++ = s[++i];
            else if (c == '"') in_str = false;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            *d++ = c;
            in_str = c == '"';
        }
    }
    return (size_t)(d - dst);
}

size_t fw_json_compact_gaps(char *dst, const char *s, size_t n, const uint32_t *gaps, size_t n_gaps) {
    char *d = dst;
    size_t at = 0;
    for (size_t g = 0; g < n_gaps; g++) {
        size_t off = gaps[2 * g], len = gaps[2 * g + 1];
        if (off < at || off > n || len > n - off) return (size_t)-1;
        if (off - at <= 16 && at + 16 <= n) {
            /* the usual run between two gaps (`0.64,`): 16 bytes moved at once (two loads, two
             * stores), of which off - at count; the rest is overwritten next. d + 16 stays inside
             * dst's n bytes as d <= dst + at */
            char t[16];
            memcpy(t, s + at, 16);
            memcpy(d, t, 16);
        } else {
            memmove(d, s + at, off - at);
        }
        d += off - at;
        at = off + len;
    }
    memmove(d, s + at, n - at);
    return (size_t)(d - dst) + (n - at);
}

static void jraw(fw_buf *b, const char *s) {
    if (s) fw_buf_put(b, s, strlen(s));
    else fw_buf_put(b, "null", 4);
}

static void put_outputs(fw_buf *b, const fw_log_record *r) {
    fw_buf_put_u8(b, '[');
    for (uint32_t i = 0; i < r->n_rows; i++) {
        fw_buf_put(b, i ? ",[" : "[", i ? 2 : 1);
        for (uint32_t k = 0; k < r->n_out; k++) {
            if (k) fw_buf_put_u8(b, ',');
            fw_json_put_f64(b, r->outputs[(size_t)i * r->n_out + k]);
        }
        fw_buf_put_u8(b, ']');
    }
    fw_buf_put_u8(b, ']');
}

static void lit(fw_buf *b, const char *s) { fw_buf_put(b, s, strlen(s)); }

/* "variant", "source", "protocol", "entity_id": how the request was routed (both the outputs JSON
 * and the JSON-lines record carry them, in this order). */
static void put_route(fw_buf *b, const fw_log_record *r) {
    lit(b, "\"variant\":\"");
    lit(b, r->variant);
    lit(b, "\",\"source\":\"");
    lit(b, r->source);
    lit(b, "\",\"protocol\":\"");
    lit(b, r->protocol);
    lit(b, "\",\"entity_id\":");
    fw_json_put_str(b, r->entity_id);
}

void fw_log_record_outputs_json(const fw_log_record *r, fw_buf *b) {
    /* the writer thread formats one of these per logged request: plain puts, no printf */
    fw_buf_put_u8(b, '{');
    put_route(b, r);
    lit(b, ",\"answers\":");
    jraw(b, r->answers);
    lit(b, ",\"outputs\":");
    put_outputs(b, r);
    fw_buf_put_u8(b, '}');
}

/* The record's time as fw_format_iso8601 writes it ("2026-12-07T20:06:05.123Z", 24 bytes) into
 * d, without gmtime_r and snprintf (the writer formats one per logged record): days to civil date
 * by Hinnant's algorithm, for 1970 to 9999; other times (negative, later) go to fw_format_iso8601,
 * so the bytes are its bytes everywhere (tests/serve/test_log_file). Returns the length. */
static size_t put_iso8601(char *d, int64_t ms) {
    if (ms < 0 || ms >= INT64_C(253402300800000)) { /* 10000-01-01: %04d would widen */
        fw_format_iso8601(ms, d, 32);
        return strlen(d);
    }
    int64_t days = ms / 86400000, in_day = ms % 86400000;
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned day = doy - (153 * mp + 2) / 5 + 1, mon = mp < 10 ? mp + 3 : mp - 9;
    unsigned year = (unsigned)(yoe + era * 400) + (mon <= 2);
    unsigned sec = (unsigned)(in_day / 1000), milli = (unsigned)(in_day % 1000);
    unsigned hh = sec / 3600, mm = sec / 60 % 60, ss = sec % 60;
    d[0] = (char)('0' + year / 1000), d[1] = (char)('0' + year / 100 % 10);
    d[2] = (char)('0' + year / 10 % 10), d[3] = (char)('0' + year % 10), d[4] = '-';
    d[5] = (char)('0' + mon / 10), d[6] = (char)('0' + mon % 10), d[7] = '-';
    d[8] = (char)('0' + day / 10), d[9] = (char)('0' + day % 10), d[10] = 'T';
    d[11] = (char)('0' + hh / 10), d[12] = (char)('0' + hh % 10), d[13] = ':';
    d[14] = (char)('0' + mm / 10), d[15] = (char)('0' + mm % 10), d[16] = ':';
    d[17] = (char)('0' + ss / 10), d[18] = (char)('0' + ss % 10), d[19] = '.';
    d[20] = (char)('0' + milli / 100), d[21] = (char)('0' + milli / 10 % 10), d[22] = (char)('0' + milli % 10);
    d[23] = 'Z';
    d[24] = 0;
    return 24;
}

/* The latency in ms as "%.4f" of latency_us * 1e-3 writes it, without printf: below 10^12 us the
 * double is within far less than 0.00005 of us / 1000, whose fourth decimal is 0, so the text is
 * the integer's digits with the point moved and a 0 appended. Larger values go to printf. */
static void put_latency_ms(fw_buf *b, int64_t us) {
    if (us <= -INT64_C(1000000000000) || us >= INT64_C(1000000000000)) {
        fw_buf_printf(b, "%.4f", (double)us * 1e-3);
        return;
    }
    char t[24], *e = t + sizeof t, *p = e;
    uint64_t a = us < 0 ? (uint64_t)-us : (uint64_t)us;
    *--p = '0';
    for (int i = 0; i < 3; i++, a /= 10) *--p = (char)('0' + a % 10);
    *--p = '.';
    do *--p = (char)('0' + a % 10);
    while (a /= 10);
    if (us < 0) *--p = '-';
    fw_buf_put(b, p, (size_t)(e - p));
}

static void put_time(fw_buf *b, int64_t ts_ms) {
    char ts[40];
    size_t n = put_iso8601(ts, ts_ms);
    lit(b, ",\"time\":\"");
    fw_buf_put(b, ts, n);
    fw_buf_put_u8(b, '"');
}

void fw_log_record_json(const fw_log_record *r, fw_buf *b) {
    /* the JSON-lines sink formats one of these per logged record: plain puts, no printf */
    if (r->kind == FW_LOGREC_FEEDBACK) {
        lit(b, "{\"type\":\"feedback\",\"request_id\":");
        fw_json_put_str(b, r->request_id);
        put_time(b, r->ts_ms);
        lit(b, r->matched ? ",\"matched\":true" : ",\"matched\":false");
        if (r->label_json) {
            lit(b, ",\"label\":");
            lit(b, r->label_json);
        }
        if (r->event) {
            lit(b, ",\"event\":");
            fw_json_put_str(b, r->event);
        }
        if (isfinite(r->value)) {
            lit(b, ",\"value\":");
            fw_json_put_f64(b, r->value);
        }
        if (r->update) lit(b, ",\"update\":true");
        if (r->origin) {
            lit(b, ",\"source\":");
            fw_json_put_str(b, r->origin);
        }
        fw_buf_put_u8(b, '}');
        return;
    }
    lit(b, "{\"type\":\"prediction\",\"request_id\":");
    fw_json_put_str(b, r->request_id);
    put_time(b, r->ts_ms);
    lit(b, ",\"model\":");
    fw_json_put_str(b, r->model);
    lit(b, ",\"version\":");
    fw_json_put_str(b, r->version);
    fw_buf_put_u8(b, ',');
    put_route(b, r);
    lit(b, ",\"latency_ms\":");
    put_latency_ms(b, r->latency_us);
    lit(b, ",\"outcome\":\"");
    lit(b, r->outcome);
    lit(b, "\",\"inputs\":");
    jraw(b, r->inputs);
    lit(b, ",\"answers\":");
    jraw(b, r->answers);
    lit(b, ",\"outputs\":");
    put_outputs(b, r);
    fw_buf_put_u8(b, '}');
}

static bool try_push(fw_logq *q, fw_log_record *r) {
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        cell *c = &q->cells[pos & q->mask];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) { /* seq_cst: wake_if_parked */
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

/* After a successful push: wakes a parked writer. The writer stores parked, then reads tail; a
 * push moves tail (a seq_cst CAS: on x86 the lock cmpxchg it always was), then reads parked. In the
 * single total order of seq_cst operations one of the two sees the other, so a record is never
 * left behind a sleeping writer. Costs a plain load per push while the writer is awake. */
static void wake_if_parked(fw_logq *q) {
    if (!atomic_load(&q->parked)) return;
    sem_post(&q->wake);
}

bool fw_logq_push(fw_logq *q, fw_log_record *r) {
    if (!r) {
        atomic_fetch_add(&q->dropped, 1);
        return false;
    }
    /* accepted before it is visible to the writer, so settled never passes accepted */
    if (q->sink.accepted) atomic_fetch_add_explicit(q->sink.accepted, 1, memory_order_relaxed);
    if (atomic_load_explicit(&q->stop, memory_order_relaxed)) goto drop;
    if (q->policy == FW_LOG_SAMPLE && depth(q) > (q->mask + 1) / 2 && thread_uniform() >= q->sample) goto drop;
    if (try_push(q, r)) {
        atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
        wake_if_parked(q);
        return true;
    }
    if (q->policy == FW_LOG_DROP_OLDEST) {
        for (int tries = 0; tries < 4; tries++) {
            fw_log_record *old = try_pop(q);
            if (old) {
                discard(q, old);
                settle(q, 1);
                atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
            }
            if (try_push(q, r)) {
                atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
                wake_if_parked(q);
                return true;
            }
        }
    }
drop:
    discard(q, r);
    settle(q, 1);
    atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
    return false;
}

bool fw_logq_push_prediction(fw_logq *q, const fw_log_prediction *p) {
    size_t size = prediction_size(p);
    void *mem = ring_alloc(q, size);
    unsigned char where = REC_RING;
    if (!mem && q->ring_size && size + RING_HDR > q->shard_size / 4) {
        /* too large for the ring: a heap block under the same bound */
        unsigned long long had = atomic_fetch_add_explicit(&q->heap_bytes, size, memory_order_relaxed);
        if (had + size <= q->ring_size && (mem = fw_malloc(size)) != NULL) where = REC_HEAP_COUNTED;
        else atomic_fetch_sub_explicit(&q->heap_bytes, size, memory_order_relaxed);
    } else if (!mem && !q->ring_size) {
        mem = fw_malloc(size);
        where = REC_HEAP;
    }
    if (!mem) { /* the bound on the queue's memory: dropped and counted like a full queue */
        if (q->sink.accepted) atomic_fetch_add_explicit(q->sink.accepted, 1, memory_order_relaxed);
        settle(q, 1);
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&q->mem_dropped, 1, memory_order_relaxed);
        return false;
    }
    fw_log_record *r = prediction_build(mem, size, p, q->sink.compacts_inputs);
    r->where = where;
    if (fw_logq_test_between) fw_logq_test_between();
    return fw_logq_push(q, r);
}

fw_status fw_logq_push_durable(fw_logq *q, fw_log_record *r, int timeout_ms) {
    if (!r) {
        atomic_fetch_add(&q->dropped, 1);
        return FW_ENOMEM;
    }
    fw_log_ack *a = fw_calloc(1, sizeof *a);
    if (!a) {
        fw_free(r);
        atomic_fetch_add(&q->dropped, 1);
        return FW_ENOMEM;
    }
    atomic_init(&a->refs, 2);
    r->ack = a;
    if (!fw_logq_push(q, r)) { /* discard answered it (state -1) and dropped the writer's reference */
        fw_free(a);
        return FW_ELIMIT;
    }
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    sem_post(&q->wake);
    pthread_mutex_lock(&q->ack_mu);
    int rc = 0;
    while (a->state == 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&q->ack_cv, &q->ack_mu, &dl);
    int state = a->state;
    pthread_mutex_unlock(&q->ack_mu);
    if (atomic_fetch_sub(&a->refs, 1) == 1) fw_free(a);
    return state > 0 ? FW_OK : state < 0 ? FW_EIO : FW_EBUSY;
}

fw_status fw_logq_push_durable_async(fw_logq *q, fw_log_record *r, void (*done)(void *ud, fw_status st), void *ud) {
    fw_log_ack *a = r ? fw_calloc(1, sizeof *a) : NULL;
    if (!a) {
        fw_free(r);
        atomic_fetch_add(&q->dropped, 1);
        return FW_ENOMEM; /* done is not called */
    }
    atomic_init(&a->refs, 1); /* the writer's only: the caller hears through done */
    a->done = done;
    a->ud = ud;
    r->ack = a;
    if (!fw_logq_push(q, r)) return FW_ELIMIT; /* done was called (not kept) */
    sem_post(&q->wake);
    return FW_OK;
}

void fw_logq_set_flush_ms(fw_logq *q, int ms) { q->flush_ms = ms > 0 ? ms : 2; }

static void write_batch(fw_logq *q, fw_log_record **buf, size_t n) {
    if (!n) return;
    fw_err err;
    fw_err_clear(&err);
    bool waited = false;
    for (size_t i = 0; i < n; i++) waited |= buf[i]->ack != NULL;
    bool ok = q->sink.write(q->sink.ud, buf, n, &err) == FW_OK;
    if (!ok) {
        atomic_fetch_add(&q->write_errors, n);
        /* said at most every 10 s (a store down for long would flood stderr): the count is in /metrics */
        static _Thread_local int64_t said_ms;
        int64_t now = fw_wall_unix_ms();
        if (now - said_ms >= 10000) {
            said_ms = now;
            fprintf(stderr, "flywheel serve: prediction log: %s (%zu records lost; flywheel_log_write_errors_total "
                            "counts them all)\n", err.msg, n);
        }
    } else {
        size_t kept = 0; /* records the sink dropped itself (lost) it counts itself */
        for (size_t i = 0; i < n; i++) kept += !buf[i]->lost;
        atomic_fetch_add(&q->written, kept);
    }
    settle(q, n);
    atomic_fetch_add(&q->batches, 1);
    if (waited) { /* answered now when not kept or nothing to sync, else after the syncer's next sync */
        pthread_mutex_lock(&q->ack_mu);
        for (size_t i = 0; i < n; i++) {
            if (!buf[i]->ack) continue;
            if (ok && !buf[i]->lost && q->syncer_started) ack_pend_locked(q, buf[i]);
            else ack_done_locked(buf[i], ok && !buf[i]->lost ? FW_OK : FW_EIO);
        }
        pthread_cond_broadcast(&q->ack_cv);
        if (q->n_pend) pthread_cond_signal(&q->sync_cv);
        pthread_mutex_unlock(&q->ack_mu);
    }
    for (size_t i = 0; i < n; i++) rec_free(q, buf[i]);
    ring_release(q);
}

static void *writer_main(void *arg) {
    fw_logq *q = arg;
    pthread_setname_np(pthread_self(), "fw-log-writer");
    /* SCHED_BATCH: same CPU share, but its wake-ups do not preempt a request thread mid-request
     * (p99 at c=16 lower in 3 of 3 alternating runs: 14.2/11.1/6.5 ms vs 18.8/12.8/9.4 ms) */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    fw_log_record **buf = fw_malloc(q->batch * sizeof *buf);
    unsigned idle = 0; /* empty flush intervals in a row */
    for (;;) {
        size_t n = 0;
        fw_log_record *r;
        while (n < q->batch && (r = try_pop(q)) != NULL) {
            if (buf) buf[n++] = r;
            else discard(q, r), settle(q, 1), atomic_fetch_add(&q->write_errors, 1);
        }
        write_batch(q, buf, n);
        if (n == q->batch) { /* a backlog: on at once */
            idle = 0;
            continue;
        }
        bool stop = atomic_load(&q->stop);
        if (n == 0) {
            ring_release(q); /* records the request threads dropped */
            if (stop && depth(q) == 0) break;
        } else if (stop) {
            continue; /* closing: drain without waiting */
        }
        /* The flush interval, after a partial batch too: records pushed while one was written wait
         * for the next tick instead of going one or two at a time (each a sink write: a pwrite of
         * ~1 KB; strace at c=64 showed ~6 appends per tick, most of one record). A durable push
         * wakes it at once. After PARK_AFTER empty intervals in a row the writer parks: no tick (an
         * idle server's writer woke 500 times a second, four replicas 2,000), the next push wakes
         * it at once (sooner than a tick would). The tick comes back with the traffic. A 1 s
         * backstop tick frees what dropped records hold. */
        bool park = n == 0 && ++idle >= PARK_AFTER;
        if (n) idle = 0;
        if (park) atomic_store(&q->parked, true);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        if (park) dl.tv_sec += 1;
        else dl.tv_nsec += (long)q->flush_ms * 1000000L;
        while (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
        /* parked: depth is read after parked is set (seq_cst, see wake_if_parked) */
        if (!(park && depth(q) > 0))
            while (sem_timedwait(&q->wake, &dl) != 0 && errno == EINTR) {
            }
        while (sem_trywait(&q->wake) == 0) { /* posts made meanwhile: this wake-up serves them all */
        }
        if (park) atomic_store(&q->parked, false);
        atomic_fetch_add_explicit(&q->wakeups, 1, memory_order_relaxed);
    }
    fw_free(buf);
    return NULL;
}

static void stop_syncer(fw_logq *q) {
    if (!q->syncer_started) return;
    pthread_mutex_lock(&q->ack_mu);
    q->sync_stop = true;
    pthread_cond_signal(&q->sync_cv);
    pthread_mutex_unlock(&q->ack_mu);
    pthread_join(q->syncer, NULL); /* answers what is pending first */
    q->syncer_started = false;
    fw_free(q->pend);
    q->pend = NULL;
}

fw_status fw_logq_new(const fw_log_sink *sink, size_t capacity, fw_log_policy policy, double sample,
                      size_t batch, fw_logq **out, fw_err *err) {
    return fw_logq_new_bytes(sink, capacity, FW_LOGQ_DEFAULT_BYTES, policy, sample, batch, out, err);
}

fw_status fw_logq_new_bytes(const fw_log_sink *sink, size_t capacity, size_t bytes, fw_log_policy policy,
                            double sample, size_t batch, fw_logq **out, fw_err *err) {
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    fw_logq *q = fw_calloc(1, sizeof *q);
    if (!q || !(q->cells = fw_calloc(cap, sizeof *q->cells))) {
        fw_free(q);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cap; i++) atomic_init(&q->cells[i].seq, i);
    q->mask = cap - 1;
    if (bytes) { /* reserved, not touched: pages fault in as the ring first goes round */
        size_t rs = (bytes + RING_GRAIN * RING_SHARDS - 1) & ~(size_t)(RING_GRAIN * RING_SHARDS - 1);
        if (rs < 64 * 1024) rs = 64 * 1024;
        void *m = mmap(NULL, rs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        q->ring_state = fw_calloc(rs / RING_GRAIN, sizeof *q->ring_state);
        if (m == MAP_FAILED || !q->ring_state) {
            if (m != MAP_FAILED) munmap(m, rs);
            fw_free((void *)q->ring_state);
            fw_free(q->cells);
            fw_free(q);
            return fw_err_set(err, FW_ENOMEM, "out of memory for the log queue (%zu bytes)", rs);
        }
        q->ring = m;
        q->ring_size = rs;
        q->shard_size = rs / RING_SHARDS;
    }
    q->policy = policy;
    q->sample = sample;
    q->batch = batch ? batch : 1;
    q->sink = *sink;
    q->flush_ms = 2;
    pthread_mutex_init(&q->ack_mu, NULL);
    pthread_cond_init(&q->ack_cv, NULL);
    sem_init(&q->wake, 0, 0);
    pthread_cond_init(&q->sync_cv, NULL);
    if (sink->sync && pthread_create(&q->syncer, NULL, syncer_main, q) == 0) q->syncer_started = true;
    if (pthread_create(&q->writer, NULL, writer_main, q) != 0) {
        stop_syncer(q);
        pthread_mutex_destroy(&q->ack_mu);
        pthread_cond_destroy(&q->ack_cv);
        sem_destroy(&q->wake);
        pthread_cond_destroy(&q->sync_cv);
        if (q->ring) munmap(q->ring, q->ring_size);
        fw_free((void *)q->ring_state);
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
    s->writer_wakeups = atomic_load(&q->wakeups);
    s->mem_bytes = ring_used(q) + atomic_load(&q->heap_bytes);
    s->mem_capacity = q->ring_size;
    s->mem_peak = atomic_load(&q->mem_peak);
    if (s->mem_bytes > s->mem_peak) s->mem_peak = s->mem_bytes;
    s->mem_dropped = atomic_load(&q->mem_dropped);
    memset(&s->sink, 0, sizeof s->sink);
    if (q->sink.stats) q->sink.stats(q->sink.ud, &s->sink);
}

void fw_logq_close(fw_logq *q) {
    if (!q) return;
    atomic_store(&q->stop, true);
    sem_post(&q->wake);
    pthread_join(q->writer, NULL);
    fw_log_record *r;
    while ((r = try_pop(q)) != NULL) discard(q, r), settle(q, 1); /* raced pushes after stop */
    stop_syncer(q);
    if (q->sink.close) q->sink.close(q->sink.ud);
    pthread_mutex_destroy(&q->ack_mu);
    pthread_cond_destroy(&q->ack_cv);
    sem_destroy(&q->wake);
    pthread_cond_destroy(&q->sync_cv);
    if (q->ring) munmap(q->ring, q->ring_size);
    fw_free((void *)q->ring_state);
    fw_free(q->cells);
    fw_free(q);
}

/* ---- JSON-lines file sink -------------------------------------------------------------------- */

typedef struct file_sink {
    FILE *f;
    fw_buf line;
} file_sink;

static fw_status file_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    file_sink *fs = ud;
    for (size_t i = 0; i < n; i++) {
        fs->line.len = 0;
        fw_log_record_json(recs[i], &fs->line);
        fw_buf_put_u8(&fs->line, '\n');
        if (!fw_buf_ok(&fs->line)) return fw_err_set(err, FW_ENOMEM, "out of memory formatting a log line");
        fwrite(fs->line.data, 1, fs->line.len, fs->f);
    }
    if (fflush(fs->f) != 0 || ferror(fs->f)) return fw_err_set(err, FW_EIO, "write failed: %s", strerror(errno));
    return FW_OK;
}

static fw_status file_sync(void *ud, fw_err *err) {
    file_sink *fs = ud;
    /* EINVAL: a special file (--log /dev/null, a pipe) has nothing to sync */
    if (fflush(fs->f) != 0 || (fdatasync(fileno(fs->f)) != 0 && errno != EINVAL))
        return fw_err_set(err, FW_EIO, "syncing the log file: %s", strerror(errno));
    return FW_OK;
}

static void file_close(void *ud) {
    file_sink *fs = ud;
    fflush(fs->f);
    fdatasync(fileno(fs->f));
    fclose(fs->f);
    fw_buf_free(&fs->line);
    fw_free(fs);
}

/* ---- the discard sink: --log /dev/null ------------------------------------------------------- */

/* Every record "written" and nothing formatted: a log that goes to /dev/null cost the writer a JSON
 * line per record (printf of the time and numbers) for bytes the kernel threw away. The queue
 * counts them as written, as it did; there is nothing to sync, so a durable push is answered once
 * its batch is handed over (fdatasync of /dev/null was EINVAL, ignored). */
static fw_status discard_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)ud, (void)recs, (void)n, (void)err;
    return FW_OK;
}

static void discard_close(void *ud) { (void)ud; }

/* path names the null device (/dev/null, or a link to it): the same character device. */
static bool is_null_device(const char *path) {
    struct stat a, n;
    return stat(path, &a) == 0 && S_ISCHR(a.st_mode) && stat("/dev/null", &n) == 0 && S_ISCHR(n.st_mode) &&
           a.st_rdev == n.st_rdev;
}

bool fw_log_sink_discards(const fw_log_sink *sink) { return sink->write == discard_write; }

fw_status fw_log_sink_file(const char *path, fw_log_sink *out, fw_err *err) {
    if (is_null_device(path)) {
        *out = (fw_log_sink){.ud = NULL, .write = discard_write, .close = discard_close};
        return FW_OK;
    }
    FILE *f = fopen(path, "ab");
    if (!f) return fw_err_set(err, FW_EIO, "%s: cannot open for append: %s", path, strerror(errno));
    file_sink *fs = fw_calloc(1, sizeof *fs);
    if (!fs) {
        fclose(f);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fs->f = f;
    /* a batch's lines leave in one write (fflush per batch), not one per stdio buffer's 4 KiB */
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fw_buf_init(&fs->line);
    *out = (fw_log_sink){.ud = fs, .write = file_write, .close = file_close, .sync = file_sync};
    return FW_OK;
}
