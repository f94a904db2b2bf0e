/* test_logq_memory.c — the log queue's memory bound (serving.log.queue_bytes, src/serve/logq.c):
 * prediction records built in the queue's byte ring reach the sink intact and in full, from
 * several threads, across many laps of a small ring, with frees out of order; with the sink
 * stalled the queue's memory stays under its bound (drops counted, resident memory flat) where a
 * malloc per record grew with every record queued; records too large for the ring go to the heap
 * under the same bound; a thread stalled between reserving a record and queueing it (descheduled)
 * does not stop the other threads' records. */
#include "serve/logq.h"
#include "test.h"

#include "core/alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The inputs text of record i: a length and bytes that depend on i (checked by the sink). */
static size_t inputs_of(int i, size_t base, char *buf, size_t cap) {
    size_t n = base + (size_t)(i * 37 % 1500);
    if (n > cap) n = cap;
    for (size_t k = 0; k < n; k++) buf[k] = (char)('a' + (i + (int)k) % 26);
    return n;
}

typedef struct check_sink {
    pthread_mutex_t gate;              /* write blocks while the test holds it */
    atomic_int got, bad;
    atomic_int slow;                   /* write sleeps this many µs per batch */
    size_t base;
} check_sink;

static fw_status check_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)err;
    check_sink *k = ud;
    pthread_mutex_lock(&k->gate);
    pthread_mutex_unlock(&k->gate);
    char want[4096];
    for (size_t i = 0; i < n; i++) {
        const fw_log_record *r = recs[i];
        int id = -1;
        if (sscanf(r->request_id, "r-%d", &id) != 1 || id < 0) {
            atomic_fetch_add(&k->bad, 1);
            continue;
        }
        size_t len = inputs_of(id, k->base, want, sizeof want);
        bool ok = r->inputs && r->inputs_len == len && memcmp(r->inputs, want, len) == 0 && r->inputs[len] == 0 &&
                  r->n_rows == 1 && r->n_out == 2 && r->outputs[0] == id && r->outputs[1] == -id &&
                  strcmp(r->model, "m") == 0 && strcmp(r->version, "3") == 0;
        atomic_fetch_add(ok ? &k->got : &k->bad, 1);
    }
    int us = atomic_load(&k->slow);
    if (us) usleep((useconds_t)us);
    return FW_OK;
}
static void check_close(void *ud) { (void)ud; }

static bool push_one(fw_logq *q, int i, size_t base) {
    char rid[32], in[4096];
    snprintf(rid, sizeof rid, "r-%d", i);
    size_t n = inputs_of(i, base, in, sizeof in);
    double out[2] = {(double)i, -(double)i};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = "3", .inputs = in, .inputs_len = n,
                           .outputs = out, .n_rows = 1, .n_out = 2, .latency_us = 5};
    return fw_logq_push_prediction(q, &p);
}

typedef struct producer {
    fw_logq *q;
    int from, count;
    size_t base;
    int pushed_ok;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (int i = 0; i < p->count; i++) p->pushed_ok += push_one(p->q, p->from + i, p->base);
    return NULL;
}

static void wait_drained(fw_logq *q) {
    for (int t = 0; t < 2000; t++) {
        fw_logq_stats s;
        fw_logq_get_stats(q, &s);
        if (s.depth == 0 && s.mem_bytes == 0) return;
        usleep(1000);
    }
}

/* Three threads through a 256 KiB ring, many laps: every record arrives intact, none twice, every
 * one either written or counted as dropped, and the ring never holds more than its size. */
static void test_ring_round_trip(void) {
    check_sink k;
    memset(&k, 0, sizeof k);
    pthread_mutex_init(&k.gate, NULL);
    k.base = 50;
    atomic_store(&k.slow, 200);
    fw_log_sink sink = {.ud = &k, .write = check_write, .close = check_close};
    fw_logq *q;
    fw_err err;
    CHECK_OK(fw_logq_new_bytes(&sink, 65536, 256 * 1024, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    enum { PER = 20000 };
    producer ps[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        ps[i] = (producer){q, i * PER, PER, 50, 0};
        pthread_create(&th[i], NULL, produce, &ps[i]);
    }
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ok += ps[i].pushed_ok;
    }
    wait_drained(q);
    fw_logq_stats s;
    fw_logq_get_stats(q, &s);
    CHECK_EQ(s.mem_capacity, 256u * 1024);
    CHECK_MSG(s.mem_peak <= 256u * 1024 && s.mem_peak > 0, "peak %llu", (unsigned long long)s.mem_peak);
    CHECK_EQ(s.mem_bytes, 0u); /* all released once written */
    CHECK_EQ(s.pushed + s.dropped, 3u * PER);
    CHECK_EQ((uint64_t)ok, s.pushed);
    fw_logq_close(q);
    CHECK_EQ(atomic_load(&k.bad), 0);
    CHECK_EQ(atomic_load(&k.got), ok);
    CHECK_MSG(s.mem_peak * 4 > 256u * 1024, "the ring never filled (peak %llu): the test proves little",
              (unsigned long long)s.mem_peak);
    pthread_mutex_destroy(&k.gate);
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The sink stalls (a writer starved of CPU, a slow disk): 20,000 records of ~3.5 KB arrive. The
 * queue keeps at most queue_bytes of them (1 MiB), drops the rest and counts them; resident memory
 * grows by about the bound, not by the ~70 MB a malloc per record queued (the queue's capacity of
 * 65,536 records would have taken them all). */
static void test_bound_when_stalled(void) {
    check_sink k;
    memset(&k, 0, sizeof k);
    pthread_mutex_init(&k.gate, NULL);
    k.base = 3000;
    fw_log_sink sink = {.ud = &k, .write = check_write, .close = check_close};
    fw_logq *q;
    fw_err err;
    CHECK_OK(fw_logq_new_bytes(&sink, 65536, 1 << 20, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    pthread_mutex_lock(&k.gate);
    long rss0 = rss_kib();
    int ok = 0;
    for (int i = 0; i < 20000; i++) ok += push_one(q, i, 3000);
    long grew = rss_kib() - rss0;
    fw_logq_stats s;
    fw_logq_get_stats(q, &s);
    CHECK_MSG(grew < 4 * 1024, "resident memory grew by %ld KiB with the sink stalled", grew);
    CHECK(s.mem_bytes <= 1u << 20);
    CHECK(s.mem_dropped > 0);
    CHECK_EQ(s.dropped, s.mem_dropped);
    CHECK_EQ((uint64_t)ok + s.dropped, 20000u);
    CHECK(ok > 100 && ok < 600); /* about 1 MiB / 3.5 KB, less the one batch the writer holds */
    pthread_mutex_unlock(&k.gate);
    wait_drained(q);
    /* room again: new records are taken */
    CHECK(push_one(q, 30000, 3000));
    fw_logq_close(q);
    CHECK_EQ(atomic_load(&k.bad), 0);
    CHECK_EQ(atomic_load(&k.got), ok + 1);
    pthread_mutex_destroy(&k.gate);
}

/* Records over a quarter of the ring are heap blocks counted against the same bound. */
static void test_oversized(void) {
    check_sink k;
    memset(&k, 0, sizeof k);
    pthread_mutex_init(&k.gate, NULL);
    k.base = 3000;
    fw_log_sink sink = {.ud = &k, .write = check_write, .close = check_close};
    fw_logq *q;
    fw_err err;
    CHECK_OK(fw_logq_new_bytes(&sink, 1024, 64 * 1024, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    /* a 40 KB record: over the quarter (16 KiB), under the bound */
    char rid[] = "r-0", *in = fw_malloc(40000);
    memset(in, 'x', 40000);
    double out[2] = {0, 0};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = "3", .inputs = in, .inputs_len = 40000,
                           .outputs = out, .n_rows = 1, .n_out = 2};
    pthread_mutex_lock(&k.gate);
    CHECK(fw_logq_push_prediction(q, &p));
    fw_logq_stats s;
    fw_logq_get_stats(q, &s);
    CHECK(s.mem_bytes >= 40000 && s.mem_bytes <= 64u * 1024);
    /* a second one would pass the bound: dropped, counted */
    CHECK(!fw_logq_push_prediction(q, &p));
    fw_logq_get_stats(q, &s);
    CHECK_EQ(s.mem_dropped, 1u);
    pthread_mutex_unlock(&k.gate);
    wait_drained(q);
    fw_logq_get_stats(q, &s);
    CHECK_EQ(s.mem_bytes, 0u);
    fw_logq_close(q);
    CHECK_EQ(atomic_load(&k.bad), 1); /* its inputs are not the pattern: it arrived, and was looked at */
    fw_free(in);
    pthread_mutex_destroy(&k.gate);
}

/* The stalled thread of test_stalled_thread: it blocks in the seam until released. */
static pthread_t g_stalled;
static atomic_int g_in_seam, g_release;
static void seam(void) {
    if (!pthread_equal(pthread_self(), g_stalled)) return;
    atomic_store(&g_in_seam, 1);
    while (!atomic_load(&g_release)) usleep(1000);
}

static void *stall_one(void *arg) {
    producer *p = arg;
    p->pushed_ok = push_one(p->q, p->from, p->base);
    return NULL;
}

/* One thread holds its reserved record unqueued (a request thread descheduled between the two)
 * while another pushes twelve rings' worth of records, waiting whenever the queue is half full so
 * the writer keeps up: none is dropped. With one ring the held record stopped the ring's head, the
 * ring filled behind it and every later record was dropped while the writer sat idle. */
static void test_stalled_thread(void) {
    check_sink k;
    memset(&k, 0, sizeof k);
    pthread_mutex_init(&k.gate, NULL);
    k.base = 900;
    fw_log_sink sink = {.ud = &k, .write = check_write, .close = check_close};
    fw_logq *q;
    fw_err err;
    enum { RING = 256 * 1024, N = 3000 };
    CHECK_OK(fw_logq_new_bytes(&sink, 65536, RING, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    atomic_store(&g_in_seam, 0);
    atomic_store(&g_release, 0);
    fw_logq_test_between = seam;
    producer a = {q, 0, 1, 900, 0};
    pthread_create(&g_stalled, NULL, stall_one, &a);
    for (int t = 0; t < 5000 && !atomic_load(&g_in_seam); t++) usleep(1000);
    CHECK(atomic_load(&g_in_seam));
    int ok = 0;
    double deadline = 20000; /* ms of waiting for the writer in all (a stuck ring never drains) */
    for (int i = 1; i <= N; i++) {
        fw_logq_stats s;
        fw_logq_get_stats(q, &s);
        while (s.mem_bytes > RING / 2 && deadline > 0) {
            usleep(500);
            deadline -= 0.5;
            fw_logq_get_stats(q, &s);
        }
        ok += push_one(q, i, 900);
    }
    atomic_store(&g_release, 1);
    pthread_join(g_stalled, NULL);
    fw_logq_test_between = NULL;
    CHECK(a.pushed_ok);
    wait_drained(q);
    fw_logq_stats s;
    fw_logq_get_stats(q, &s);
    CHECK_MSG(s.dropped == 0, "%llu of %d records dropped behind the stalled thread's record",
              (unsigned long long)s.dropped, N);
    CHECK_EQ(ok, N);
    fw_logq_close(q);
    CHECK_EQ(atomic_load(&k.bad), 0);
    CHECK_EQ(atomic_load(&k.got), N + 1);
    pthread_mutex_destroy(&k.gate);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_ring_round_trip);
    TEST_RUN(test_bound_when_stalled);
    TEST_RUN(test_oversized);
    TEST_RUN(test_stalled_thread);
    return fw_test_report(argv[0]);
}
