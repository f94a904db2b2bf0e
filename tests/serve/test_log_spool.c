/* test_log_spool.c — the prediction log's disk spool (src/serve/log_spool.c) on its own, with an
 * in-memory inner sink: records round-trip through the encoding; damaged bytes are refused; every
 * appended record reaches the sink in order and close removes the drained file; the byte bound
 * drops and counts; a spool left by a dead process is ingested (from its header's offset, skipping
 * what the sink already holds, stopping at a torn tail) and removed; a spool another live process
 * holds is left alone; a store locked through shutdown keeps the file for the next process; the
 * catch-up thread takes over a half-full spool from an idle ingester stuck in its step; the real
 * store sink behind a spool ends with every row, none twice; the bytes of the encoding are
 * pinned (spools written by older processes are recovered by newer ones); close drains at its
 * own thread's priority, not the idle ingester's (every CPU busy, no CAP_SYS_NICE); and decoding
 * allocates the record only, the ingest not even that (one reused block a batch); the ingest reads
 * each byte of the spool once, across records cut by its read window and one longer than it. */
#include "serve/log_spool.h"
#include "test.h"
#include "db.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/test_hooks.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/capability.h>
#include <sys/syscall.h>

static fw_log_record *pred(int i) {
    char rid[32], in[96], ver[8];
    snprintf(rid, sizeof rid, "req-%05d", i);
    snprintf(ver, sizeof ver, "%d", 1 + i % 3);
    int n = snprintf(in, sizeof in, "{\"instances\":[{\"x\":%d}]}", i);
    double out[4] = {0.25, (double)i, -1e300, 3.5};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = ver, .entity_id = i % 2 ? "e1" : NULL,
                           .variant = i % 5 == 0 ? "shadow" : "primary", .source = "online",
                           .protocol = i % 2 ? "v2" : "v1", .outcome = i % 7 == 0 ? "fallback" : "model",
                           .latency_us = 100 + i, .inputs = in, .inputs_len = (size_t)n,
                           .answers = "[\"pos\",\"neg\"]", .answers_len = 13, .outputs = out,
                           .n_rows = 2, .n_out = 2};
    return fw_log_prediction_new(&p);
}

/* Writes predictions first..first+n-1 to sp in one batch (n <= 100). */
static void write_batch(const fw_log_sink *sp, int first, int n) {
    fw_log_record *b[100] = {0};
    fw_err err;
    for (int k = 0; k < n && k < 100; k++) b[k] = pred(first + k);
    CHECK_OK(sp->write(sp->ud, b, (size_t)n, &err));
    for (int k = 0; k < n; k++) fw_free(b[k]);
}

/* Predictions 0..n - 1 (n a multiple of 100) written to sink sp in batches of 100. */
static void write_preds(const fw_log_sink *sp, int n) {
    for (int i = 0; i < n; i += 100) write_batch(sp, i, 100);
}

/* Bytes pred(i) takes in a spool. */
static size_t encoded_size(int i) {
    fw_buf b;
    fw_buf_init(&b);
    fw_log_record *r = pred(i);
    fw_log_spool_encode(r, &b);
    fw_free(r);
    size_t n = b.len;
    fw_buf_free(&b);
    return n;
}

/* ---- an in-memory sink: request ids in arrival order; may be held shut ---- */
typedef struct mem_sink {
    pthread_mutex_t mu;
    pthread_mutex_t gate;     /* write blocks while the test holds it */
    char ids[4096][48];
    int kinds[4096];
    size_t n;
    int closed;
    int stored_lo, stored_hi;  /* contains() says yes to req-<lo..hi> */
    int busy;                  /* write answers FW_EBUSY (the store locked elsewhere) */
    const char *hold_thread;   /* only this thread (by name) waits at the gate; NULL: every one */
    atomic_int at_gate;        /* writes that reached the gate */
    int work_us;               /* CPU time each record costs the writing thread (a store's work) */
    int now_take;              /* write_now: >= 0: store this many of the batch, then refuse it (FW_EBUSY) */
    bool contains_stored;      /* contains: yes for a request id stored here (not stored_lo..hi) */
    atomic_int now_calls, syncs;
} mem_sink;

static double thread_cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static fw_status mem_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)err;
    mem_sink *m = ud;
    char me[32] = "";
    pthread_getname_np(pthread_self(), me, sizeof me);
    if (!m->hold_thread || strcmp(me, m->hold_thread) == 0) {
        atomic_fetch_add(&m->at_gate, 1);
        pthread_mutex_lock(&m->gate);
        pthread_mutex_unlock(&m->gate);
    }
    if (m->busy) return FW_EBUSY;
    if (m->work_us) { /* CPU time, not wall time: a preempted thread has done none of it */
        double until = thread_cpu_us() + (double)m->work_us * (double)n;
        while (thread_cpu_us() < until) {
        }
    }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n && m->n < 4096; i++, m->n++) {
        snprintf(m->ids[m->n], sizeof m->ids[m->n], "%s", recs[i]->request_id);
        m->kinds[m->n] = (int)recs[i]->kind;
    }
    pthread_mutex_unlock(&m->mu);
    return FW_OK;
}
static void mem_close(void *ud) { ((mem_sink *)ud)->closed++; }
static bool mem_contains(void *ud, const fw_log_record *r) {
    mem_sink *m = ud;
    if (m->contains_stored) {
        pthread_mutex_lock(&m->mu);
        bool found = false;
        for (size_t i = 0; i < m->n && !found; i++) found = strcmp(m->ids[i], r->request_id) == 0;
        pthread_mutex_unlock(&m->mu);
        return found;
    }
    int i = atoi(r->request_id + 4);
    return m->stored_hi > 0 && i >= m->stored_lo && i <= m->stored_hi;
}
static fw_log_sink mem_sink_of(mem_sink *m) {
    return (fw_log_sink){.ud = m, .write = mem_write, .close = mem_close, .contains = mem_contains};
}
/* write_now: like write, or (now_take >= 0) a store that takes the first now_take records and then
 * refuses the rest of the batch, as a busy store does after the predictions' transaction. */
static fw_status mem_write_now(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    mem_sink *m = ud;
    atomic_fetch_add(&m->now_calls, 1);
    if (m->now_take < 0) return mem_write(ud, recs, n, err);
    size_t k = (size_t)m->now_take < n ? (size_t)m->now_take : n;
    if (k) mem_write(ud, recs, k, err);
    return fw_err_set(err, FW_EBUSY, "busy");
}
static fw_status mem_sync(void *ud, fw_err *err) {
    (void)err;
    atomic_fetch_add(&((mem_sink *)ud)->syncs, 1);
    return FW_OK;
}
static void mem_init(mem_sink *m) {
    memset(m, 0, sizeof *m);
    m->now_take = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->gate, NULL);
}

/* True when the sink's first n records are req-00000 .. req-<n-1>, in that order. */
static bool ids_in_order(const mem_sink *m, size_t n) {
    if (m->n < n) return false;
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05zu", i);
        if (strcmp(m->ids[i], want) != 0) return false;
    }
    return true;
}

static int count_spools(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".spool") != NULL;
    closedir(d);
    return n;
}

static void test_round_trip(void) {
    fw_buf b;
    fw_buf_init(&b);
    fw_log_record *p = pred(7);
    fw_log_record *f = fw_log_feedback_new("req-00007", "\"pos\"", "click", 2.5, true);
    fw_log_record *g = fw_log_feedback_new("nobody", NULL, NULL, NAN, false);
    CHECK(p && f && g);
    p->ts_ms = 1234567890123;
    fw_log_spool_encode(p, &b);
    size_t l1 = b.len;
    fw_log_spool_encode(f, &b);
    size_t l2 = b.len;
    fw_log_spool_encode(g, &b);
    CHECK(fw_buf_ok(&b));
    /* FW_SPOOL_SEEDS=DIR writes these records as fuzz seeds (fuzz/corpus/log_spool/ came from it) */
    const char *seeds = getenv("FW_SPOOL_SEEDS");
    if (seeds && *seeds) {
        const char *names[3] = {"three-records", "one-prediction", "torn-tail"};
        size_t lens[3] = {b.len, l1, l1 + (l2 - l1) / 2};
        for (int i = 0; i < 3; i++) {
            char path[700];
            snprintf(path, sizeof path, "%s/%s", seeds, names[i]);
            FILE *out = fopen(path, "wb");
            if (out) {
                fputc(i == 2, out); /* the target's mode byte: bit 0 re-seals checksums */
                fwrite(b.data, 1, lens[i], out);
                fclose(out);
            }
        }
    }
    size_t used;
    fw_log_record *q = fw_log_spool_decode(b.data, b.len, &used);
    CHECK(q != NULL);
    CHECK_EQ(used, l1);
    if (q) {
        CHECK_STR(q->request_id, "req-00007");
        CHECK_EQ(q->ts_ms, 1234567890123);
        CHECK_STR(q->model, "m");
        CHECK_STR(q->version, "2");
        CHECK_STR(q->entity_id, "e1");
        CHECK_STR(q->variant, "primary");
        CHECK_STR(q->protocol, "v2");
        CHECK_STR(q->outcome, "fallback");
        CHECK_EQ(q->latency_us, 107);
        CHECK_EQ(q->inputs_len, p->inputs_len);
        CHECK_STR(q->inputs, p->inputs);
        CHECK_STR(q->answers, "[\"pos\",\"neg\"]");
        CHECK_EQ(q->n_rows, 2u);
        CHECK_EQ(q->n_out, 2u);
        CHECK(q->outputs[1] == 7.0 && q->outputs[2] == -1e300);
        fw_free(q);
    }
    q = fw_log_spool_decode(b.data + l1, b.len - l1, &used);
    CHECK(q && used == l2 - l1);
    if (q) {
        CHECK_EQ((int)q->kind, (int)FW_LOGREC_FEEDBACK);
        CHECK_STR(q->label_json, "\"pos\"");
        CHECK_STR(q->event, "click");
        CHECK(q->value == 2.5 && q->matched);
        fw_free(q);
    }
    q = fw_log_spool_decode(b.data + l2, b.len - l2, &used);
    CHECK(q && used == b.len - l2);
    if (q) {
        CHECK(q->label_json == NULL && q->event == NULL && isnan(q->value) && !q->matched);
        fw_free(q);
    }
    /* damage: a short read, a flipped body byte, a bad length — all refused with used = 0 */
    CHECK(fw_log_spool_decode(b.data, l1 - 1, &used) == NULL && used == 0);
    b.data[20] ^= 1;
    CHECK(fw_log_spool_decode(b.data, b.len, &used) == NULL && used == 0);
    b.data[20] ^= 1;
    b.data[3] = 0x7f;
    CHECK(fw_log_spool_decode(b.data, b.len, &used) == NULL && used == 0);
    fw_free(p);
    fw_free(f);
    fw_free(g);
    fw_buf_free(&b);
}

/* Decoding a record makes one allocation, the record: the scratch for its NUL-terminated strings is
 * sized from the string table (~60 bytes for a spam-sized prediction, on the stack), not from the
 * whole body (1 KB of inputs made it a heap block per record). */
static void test_decode_one_allocation(void) {
    char in[1200];
    memset(in, '1', sizeof in - 1);
    in[0] = '[', in[sizeof in - 2] = ']', in[sizeof in - 1] = 0;
    double out[2] = {0.25, 0.75};
    fw_log_prediction p = {.request_id = "0123456789abcdef0123456789abcdef-01234567", .model = "spam", .version = "3",
                           .variant = "primary", .source = "online", .protocol = "v1", .outcome = "model",
                           .inputs = in, .inputs_len = strlen(in), .answers = "[\"spam\"]", .answers_len = 8,
                           .outputs = out, .n_rows = 1, .n_out = 2};
    fw_log_record *r = fw_log_prediction_new(&p);
    fw_log_record *f = fw_log_feedback_new2("req-1", "\"spam\"", NULL, NAN, true, false, "127.0.0.1 role=feedback");
    fw_buf b;
    fw_buf_init(&b);
    fw_log_spool_encode(r, &b);
    size_t l1 = b.len;
    fw_log_spool_encode(f, &b);
    CHECK(fw_buf_ok(&b));
    size_t used;
    long before = fw_alloc_count();
    fw_log_record *q = fw_log_spool_decode(b.data, l1, &used);
    CHECK_EQ(fw_alloc_count() - before, 1);
    CHECK(q && used == l1 && q->inputs_len == strlen(in) && strcmp(q->inputs, in) == 0);
    CHECK(q && strcmp(q->request_id, p.request_id) == 0 && strcmp(q->model, "spam") == 0);
    before = fw_alloc_count();
    fw_log_record *g = fw_log_spool_decode(b.data + l1, b.len - l1, &used);
    CHECK_EQ(fw_alloc_count() - before, 1);
    CHECK(g && g->origin && strcmp(g->origin, "127.0.0.1 role=feedback") == 0 && strcmp(g->label_json, "\"spam\"") == 0);
    fw_free(q);
    fw_free(g);
    fw_free(r);
    fw_free(f);
    fw_buf_free(&b);
}

/* The encoding's bytes for predictions and feedback of every shape (compact inputs, no inputs,
 * entity or answers, scores or none; a label update with its origin, an event-less label-less
 * feedback): pinned by length and hash, taken from the encoder before session 14's rewrite. */
static void test_encoding_pinned(void) {
    fw_buf b;
    fw_buf_init(&b);
    double out[4] = {0.25, 7.0, -1e300, 3.5};
    fw_log_prediction p = {.request_id = "req-00007", .model = "m", .version = "2", .entity_id = "e1",
                           .variant = "primary", .source = "online", .protocol = "v2", .outcome = "fallback",
                           .latency_us = 107, .inputs = "{\"instances\":[{\"x\":7}]}", .inputs_len = 23,
                           .answers = "[\"pos\",\"neg\"]", .answers_len = 13, .outputs = out, .n_rows = 2, .n_out = 2};
    fw_log_prediction q = {.request_id = "req-2", .model = "other", .version = "12", .variant = "shadow",
                           .source = "batch", .protocol = "v1", .outcome = "model", .latency_us = -1};
    fw_log_record *r[4] = {fw_log_prediction_new(&p), fw_log_prediction_new(&q),
                           fw_log_feedback_new2("req-00007", "\"pos\"", "click", 2.5, true, true, "10.0.0.1"),
                           fw_log_feedback_new2("nobody", NULL, NULL, NAN, false, false, NULL)};
    for (int i = 0; i < 4; i++) {
        CHECK(r[i] != NULL);
        if (!r[i]) return;
    }
    r[0]->inputs_compact = true;
    size_t at[5] = {0};
    for (int i = 0; i < 4; i++) {
        r[i]->ts_ms = 1234567890123 + i;
        fw_log_spool_encode(r[i], &b);
        at[i + 1] = b.len;
    }
    CHECK(fw_buf_ok(&b));
    CHECK_EQ(b.len, 539);
    CHECK_MSG(fw_hash64(b.data, b.len, 0) == 0xca168baeed9a40d5ull, "encoding hash 0x%016llx",
              (unsigned long long)fw_hash64(b.data, b.len, 0));
    for (int i = 0; i < 4; i++) { /* and each decodes to what was encoded */
        size_t used = 0;
        fw_log_record *d = fw_log_spool_decode(b.data + at[i], b.len - at[i], &used);
        CHECK_EQ(used, at[i + 1] - at[i]);
        if (d) {
            CHECK_STR(d->request_id, r[i]->request_id);
            CHECK_EQ(d->ts_ms, r[i]->ts_ms);
            CHECK_EQ(d->kind, r[i]->kind);
        }
        fw_free(d);
        fw_free(r[i]);
    }
    fw_buf_free(&b);
}

static void test_append_drain(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool1", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 16, false, &sp, &err));
    CHECK_EQ(count_spools(dir), 1);
    enum { N = 1000 };
    for (int i = 0; i < N; i += 50) {
        fw_log_record *batch[50];
        for (int k = 0; k < 50; k++) batch[k] = pred(i + k);
        CHECK_OK(sp.write(sp.ud, batch, 50, &err));
        for (int k = 0; k < 50; k++) fw_free(batch[k]);
    }
    fw_log_record *fb = fw_log_feedback_new("req-00999", "1", NULL, NAN, true);
    CHECK_OK(sp.write(sp.ud, &fb, 1, &err));
    fw_free(fb);
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK(st.spooled);
    CHECK_EQ(st.spool_dropped, 0u);
    sp.close(sp.ud); /* drains */
    CHECK_EQ(m.closed, 1);
    CHECK_EQ(m.n, (size_t)N + 1);
    CHECK(ids_in_order(&m, (size_t)N));
    CHECK_EQ(m.kinds[N], (int)FW_LOGREC_FEEDBACK);
    CHECK_EQ(count_spools(dir), 0); /* drained: removed */
}

/* Pacing (INGEST_PACE_MS, 20 ms): appends every ~2 ms (the writer's flush tick) of a few records
 * each reach the store in steps at least 20 ms apart — one store transaction per append was one
 * wake-up of the ingester per append. All arrive, in order. */
static void test_ingest_paced(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_paced", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 1024, false, &sp, &err));
    enum { APPENDS = 150, PER = 2 };
    uint64_t t0 = fw_now_ns();
    for (int i = 0; i < APPENDS; i++) {
        fw_log_record *batch[PER];
        for (int k = 0; k < PER; k++) batch[k] = pred(i * PER + k);
        CHECK_OK(sp.write(sp.ud, batch, PER, &err));
        for (int k = 0; k < PER; k++) fw_free(batch[k]);
        usleep(2000);
    }
    /* the last records reach the store within a pace interval (generous: a loaded machine) */
    for (int t = 0; t < 5000; t++) {
        pthread_mutex_lock(&m.mu);
        size_t n = m.n;
        pthread_mutex_unlock(&m.mu);
        if (n == (size_t)APPENDS * PER) break;
        usleep(1000);
    }
    double ms = (double)(fw_now_ns() - t0) / 1e6;
    int steps = atomic_load(&m.at_gate);
    pthread_mutex_lock(&m.mu);
    CHECK_EQ(m.n, (size_t)APPENDS * PER); /* stored before close: pacing delays, never holds back */
    pthread_mutex_unlock(&m.mu);
    /* one step per 20 ms at most (+1: the first goes at once); 150 without pacing on an idle machine */
    CHECK_MSG(steps >= 1 && steps <= (int)(ms / 20.0) + 2, "%d store writes in %.0f ms", steps, ms);
    sp.close(sp.ud);
    bool in_order = true;
    for (int i = 0; i < APPENDS * PER; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05d", i);
        if (strcmp(m.ids[i], want) != 0) in_order = false;
    }
    CHECK(in_order);
}

static void test_bound_drops(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool2", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    pthread_mutex_lock(&m.gate); /* the store is stuck: nothing leaves the spool */
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    size_t rec = encoded_size(0);
    /* room for 10 records; ingest takes 1 per transaction, so at most 1 is out of the spool */
    CHECK_OK(fw_log_sink_spool(dir, &inner, rec * 10, 1, false, &sp, &err));
    for (int i = 0; i < 30; i++) {
        fw_log_record *r = pred(i);
        CHECK_OK(sp.write(sp.ud, &r, 1, &err));
        fw_free(r);
    }
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK(st.spool_dropped >= 19 && st.spool_dropped <= 20);
    CHECK(st.spool_bytes <= rec * 10);
    CHECK(st.lag_s >= 0);
    pthread_mutex_unlock(&m.gate);
    sp.close(sp.ud);
    CHECK_EQ(m.n + st.spool_dropped, 30u);
}

static void write_file(const char *path, const fw_buf *b) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(b->data, 1, b->len, f);
        fclose(f);
    }
}

/* Writes a spool file as a crashed process would leave it: records 0..n-1, the header saying the
 * first `done` are stored, then `torn` bytes of a half-written record. */
static void write_orphan(const char *path, int first, int n, int done, size_t torn) {
    fw_buf b;
    fw_buf_init(&b);
    unsigned char h[32] = {'F', 'W', 'S', 'P', 'O', 'O', 'L', '1'};
    fw_buf_put(&b, h, sizeof h);
    uint64_t off = 32;
    for (int i = 0; i < n; i++) {
        if (i == done) off = b.len;
        fw_log_record *r = pred(first + i);
        fw_log_spool_encode(r, &b);
        fw_free(r);
    }
    if (done >= n) off = b.len;
    if (torn) {
        fw_log_record *r = pred(first + n);
        fw_buf t;
        fw_buf_init(&t);
        fw_log_spool_encode(r, &t);
        fw_buf_put(&b, t.data, torn < t.len ? torn : t.len - 1);
        fw_buf_free(&t);
        fw_free(r);
    }
    for (int i = 0; i < 8; i++) b.data[8 + i] = (uint8_t)(off >> (8 * i));
    write_file(path, &b);
    fw_buf_free(&b);
}

static void test_recovery(void) {
    char dir[600], dead[700], live[700];
    snprintf(dir, sizeof dir, "%s/spool3", fw_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(dead, sizeof dead, "%s/serve-1-dead.spool", dir);
    snprintf(live, sizeof live, "%s/serve-2-live.spool", dir);
    /* dead: records 100..119, header says 5 are stored; 3 more were stored before the crash (the
     * sink holds req-0010[5-7]: contains says so); a torn record at the end */
    write_orphan(dead, 100, 20, 5, 30);
    write_orphan(live, 500, 4, 0, 0);
    int lfd = open(live, O_RDWR);
    CHECK(lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0); /* a live server holds it */
    mem_sink m;
    mem_init(&m);
    m.stored_lo = 100; /* 100-104 are behind the header; 105-107 were stored after it moved last */
    m.stored_hi = 107;
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 4, false, &sp, &err));
    fw_log_record *r = pred(900);
    CHECK_OK(sp.write(sp.ud, &r, 1, &err));
    fw_free(r);
    sp.close(sp.ud);
    /* 108..119 recovered (105-107 skipped as stored, the torn one discarded), then 900 */
    CHECK_EQ(m.n, 13u);
    CHECK_STR(m.ids[0], "req-00108");
    CHECK_STR(m.ids[11], "req-00119");
    CHECK_STR(m.ids[12], "req-00900");
    CHECK(access(dead, F_OK) != 0);  /* ingested and removed */
    CHECK(access(live, F_OK) == 0);  /* its owner is alive: untouched */
    close(lfd);
}

/* A store that stays locked through shutdown: close gives up without losing anything (the file
 * stays), and the next spool on the directory delivers every record once the store is free. */
static void test_busy_store_at_close(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool4", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    m.busy = 1;
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 8, false, &sp, &err));
    for (int i = 0; i < 20; i++) {
        fw_log_record *r = pred(i);
        CHECK_OK(sp.write(sp.ud, &r, 1, &err));
        fw_free(r);
    }
    usleep(50000); /* the ingest thread meets the busy store and backs off */
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK_EQ(st.stored, 0u);
    CHECK_EQ(st.spool_records, 20u);
    sp.close(sp.ud);
    CHECK_EQ(m.n, 0u);
    CHECK_EQ(count_spools(dir), 1); /* kept for the next server */
    mem_sink m2;
    mem_init(&m2);
    inner = mem_sink_of(&m2);
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 8, false, &sp, &err));
    sp.close(sp.ud);
    CHECK_EQ(m2.n, 20u);
    CHECK_STR(m2.ids[0], "req-00000");
    CHECK_STR(m2.ids[19], "req-00019");
    CHECK_EQ(count_spools(dir), 0);
}

/* catch_up: the idle ingester is held inside its step (as if starved of CPU there, holding the
 * baton); the catch-up thread, woken past half full, waits for that one step, then takes the spool
 * down to a quarter while the idle ingester stands aside. */
static void test_catch_up(void) {
    size_t rec = encoded_size(0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool5", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    m.hold_thread = "fw-log-ingest";
    pthread_mutex_lock(&m.gate);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, rec * 40, 1, true, &sp, &err));
    /* one record: the idle ingester takes it and is held in its step, holding the baton */
    fw_log_record *batch[36];
    for (int i = 0; i < 36; i++) batch[i] = pred(i);
    CHECK_OK(sp.write(sp.ud, batch, 1, &err));
    for (int i = 0; i < 5000 && atomic_load(&m.at_gate) == 0; i++) usleep(2000); /* idle priority: slow on a busy machine */
    CHECK_EQ(atomic_load(&m.at_gate), 1);
    /* 35 more: past half full, the catcher wakes and waits for the held step */
    CHECK_OK(sp.write(sp.ud, batch + 1, 35, &err));
    for (int i = 0; i < 36; i++) fw_free(batch[i]);
    usleep(50000);
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK_EQ(st.stored, 0u);
    pthread_mutex_unlock(&m.gate);
    for (int i = 0; i < 2000; i++) {
        sp.stats(sp.ud, &st);
        if (st.spool_records <= 10) break;
        usleep(5000);
    }
    sp.stats(sp.ud, &st);
    CHECK(st.spool_records <= 10);
    /* the catcher took it from 35 waiting to about 10 (records differ a little in size) */
    CHECK(st.caught_up >= 20 && st.caught_up <= 35);
    sp.close(sp.ud);
    CHECK_EQ(m.n, 36u);
    CHECK(ids_in_order(&m, (size_t)36)); /* two threads, one order */
}

/* The real store sink behind a spool, and recovery against it: the crash window (rows stored, the
 * header not yet moved) does not store a row twice. */
static void test_store_behind_spool(void) {
    char home[600], dir[700], dead[800], path[800];
    snprintf(home, sizeof home, "%s/home", fw_test_tmpdir());
    fw_log_sink store, sp;
    fw_err err;
    CHECK_OK(fw_log_sink_store(home, NULL, NULL, &store, &err));
    CHECK(fw_log_sink_store_spool_dir(&store, dir, sizeof dir));
    /* rows 0..9 stored directly (as if ingested just before a crash) */
    fw_log_record *recs[10];
    for (int i = 0; i < 10; i++) recs[i] = pred(i);
    CHECK_OK(store.write(store.ud, recs, 10, &err));
    /* the dead process's spool holds 0..29 with its header at 0: 0..9 must not come twice */
    mkdir(dir, 0755);
    snprintf(dead, sizeof dead, "%s/serve-9-dead.spool", dir);
    fw_buf b;
    fw_buf_init(&b);
    unsigned char h[32] = {'F', 'W', 'S', 'P', 'O', 'O', 'L', '1', 32};
    fw_buf_put(&b, h, sizeof h);
    for (int i = 0; i < 30; i++) {
        fw_log_record *r = i < 10 ? recs[i] : pred(i);
        fw_log_spool_encode(r, &b);
        if (i >= 10) fw_free(r);
    }
    for (int i = 0; i < 10; i++) fw_free(recs[i]);
    write_file(dead, &b);
    fw_buf_free(&b);
    CHECK_OK(fw_log_sink_spool(dir, &store, 1 << 20, 8, false, &sp, &err));
    fw_log_record *more[2] = {pred(30), fw_log_feedback_new("req-00030", "1", NULL, NAN, false)};
    CHECK_OK(sp.write(sp.ud, more, 2, &err));
    fw_free(more[0]);
    fw_free(more[1]);
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK(st.spooled);
    sp.close(sp.ud);
    snprintf(path, sizeof path, "%s/log.db", home);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log"), 31);
    CHECK_EQ(DB_INT(db, "SELECT count(DISTINCT request_id) FROM prediction_log"), 31);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback WHERE request_id = 'req-00030'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE request_id = 'req-00021' AND latency_us = 121"
                       " AND output_json LIKE '%\"protocol\":\"v2\"%'"),
             1);
    sqlite3_close(db);
    CHECK_EQ(count_spools(dir), 0);
}

/* 300 records with 200 garbled bytes in the middle: recovery resynchronises on the next valid
 * record (it used to stop there: 149 of 300), in order, and counts the skipped bytes. */
static void test_resync(void) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/spool-resync", fw_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/serve-7-dead.spool", dir);
    write_orphan(path, 0, 300, 0, 0);
    size_t rec = encoded_size(150);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, (long)(32 + 150 * rec + rec / 3), SEEK_SET);
    for (int i = 0; i < 200; i++) fputc((i * 37 + 11) & 0xff, f);
    fclose(f);
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 16, false, &sp, &err));
    fw_log_sink_stats st;
    /* recovery is over when the spool file is removed (after its last batch and its damaged bytes
     * are counted); a count of recovered records alone can be read before the skipped bytes are */
    for (int i = 0; i < 3000 && access(path, F_OK) == 0; i++) usleep(10000);
    sp.stats(sp.ud, &st);
    sp.close(sp.ud);
    size_t lost = 1 + (200 + rec - 1) / rec; /* the records the garbage touched */
    CHECK_MSG(m.n >= 300 - lost && m.n < 300, "recovered %zu of 300", m.n);
    CHECK(st.damaged_bytes >= 200);
    bool in_order = true;
    for (size_t i = 1; i < m.n; i++) in_order &= strcmp(m.ids[i - 1], m.ids[i]) < 0;
    CHECK(in_order);
    CHECK_STR(m.ids[m.n - 1], "req-00299");
    CHECK(access(path, F_OK) != 0);
}

/* A spool whose header is damaged is set aside as *.damaged (reported, counted), not left in place
 * for every later server; an empty one (its process died creating it) is removed; accepted -
 * settled from a dead spool's counter file in /dev/shm is counted as lost. */
static void test_damaged_header_and_lost(void) {
    char dir[600], bad[700], empty[700], counted[700], aside[800];
    snprintf(dir, sizeof dir, "%s/spool-hdr", fw_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(bad, sizeof bad, "%s/serve-8-bad.spool", dir);
    snprintf(empty, sizeof empty, "%s/serve-9-empty.spool", dir);
    snprintf(counted, sizeof counted, "%s/serve-10-counted.spool", dir);
    snprintf(aside, sizeof aside, "%s.damaged", bad);
    write_orphan(bad, 0, 5, 0, 0);
    FILE *f = fopen(bad, "r+b");
    CHECK(f != NULL);
    if (f) {
        fputs("GARBAGE!", f);
        fclose(f);
    }
    f = fopen(empty, "wb");
    if (f) fclose(f);
    write_orphan(counted, 50, 3, 0, 0);
    struct stat cst;
    char cnt[200] = "";
    CHECK(stat(counted, &cst) == 0);
    snprintf(cnt, sizeof cnt, "/dev/shm/flywheel-spool-%llx-%llx.count", (unsigned long long)cst.st_dev,
             (unsigned long long)cst.st_ino);
    f = fopen(cnt, "wb");
    CHECK(f != NULL);
    if (f) { /* accepted 25, settled 20: 5 records were in the dead process's queue */
        unsigned char c[16] = {25, 0, 0, 0, 0, 0, 0, 0, 20};
        fwrite(c, 1, 16, f);
        fclose(f);
    }
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 20, 16, false, &sp, &err));
    fw_log_sink_stats st = {0};
    for (int i = 0; i < 500; i++) {
        sp.stats(sp.ud, &st);
        if (st.recovered >= 3 && st.set_aside >= 1) break;
        usleep(10000);
    }
    sp.close(sp.ud);
    CHECK_EQ(m.n, 3u);
    CHECK_EQ(st.set_aside, 1u);
    CHECK_EQ(st.lost, 5u);
    CHECK(access(aside, F_OK) == 0);
    CHECK(access(bad, F_OK) != 0);
    CHECK(access(empty, F_OK) != 0);
    CHECK(access(counted, F_OK) != 0);
    CHECK(access(cnt, F_OK) != 0); /* its counters went with it */
}

/* ---- group commit through the queue ---- */
typedef struct sync_sink {
    atomic_int writes, syncs, kept;
    _Atomic(unsigned long long) accepted, settled;
} sync_sink;
static fw_status sync_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)err;
    sync_sink *k = ud;
    atomic_fetch_add(&k->writes, 1);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(recs[i]->request_id, "lose") == 0) recs[i]->lost = true;
        else atomic_fetch_add(&k->kept, 1);
    }
    return FW_OK;
}
static fw_status sync_sync(void *ud, fw_err *err) {
    (void)err;
    atomic_fetch_add(&((sync_sink *)ud)->syncs, 1);
    return FW_OK;
}
static void sync_close(void *ud) { (void)ud; }

typedef struct pusher {
    fw_logq *q;
    int ok;
} pusher;
static void *push_main(void *arg) {
    pusher *p = arg;
    for (int i = 0; i < 50; i++)
        p->ok += fw_logq_push_durable(p->q, fw_log_feedback_new("req-1", "1", NULL, NAN, true), 5000) == FW_OK;
    return NULL;
}

static void test_durable_push(void) {
    sync_sink k;
    memset(&k, 0, sizeof k);
    fw_log_sink sink = {.ud = &k, .write = sync_write, .close = sync_close, .sync = sync_sync,
                        .accepted = &k.accepted, .settled = &k.settled};
    fw_logq *q;
    fw_err err;
    CHECK_OK(fw_logq_new(&sink, 1024, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    fw_logq_set_flush_ms(q, 1000); /* a durable push must not wait for the flush interval */
    double t0 = fw_now_seconds();
    CHECK_OK(fw_logq_push_durable(q, fw_log_feedback_new("req-0", "1", NULL, NAN, true), 5000));
    CHECK_MSG(fw_now_seconds() - t0 < 0.5, "a durable push waited %.3f s", fw_now_seconds() - t0);
    CHECK_EQ(atomic_load(&k.kept), 1);
    CHECK(atomic_load(&k.syncs) >= 1); /* answered only after the sync */
    /* a record the sink could not keep is answered as such */
    CHECK_EQ(fw_logq_push_durable(q, fw_log_feedback_new("lose", "1", NULL, NAN, true), 5000), FW_EIO);
    /* many waiters: all answered, and fewer syncs than records when they share batches */
    pthread_t th[8];
    pusher ps[8];
    for (int i = 0; i < 8; i++) {
        ps[i] = (pusher){q, 0};
        pthread_create(&th[i], NULL, push_main, &ps[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ok += ps[i].ok;
    }
    CHECK_EQ(ok, 400);
    CHECK(atomic_load(&k.syncs) <= atomic_load(&k.writes));
    /* plain pushes are not synced */
    int syncs = atomic_load(&k.syncs);
    for (int i = 0; i < 100; i++) fw_logq_push(q, pred(i));
    fw_logq_close(q);
    CHECK_EQ(atomic_load(&k.syncs), syncs);
    CHECK_EQ(atomic_load(&k.kept), 1 + 400 + 100);
    CHECK_EQ(atomic_load(&k.accepted), 502u);
    CHECK_EQ(atomic_load(&k.settled), 502u);
}

/* The writer compacts a prediction's inputs once, before it appends (flag bit 1): the spool is
 * smaller and the store gets the same compact text; a record from an earlier version's spool
 * (flag 0, inputs as sent) is still read and compacted by the store. */
static fw_log_record *spaced(int i) {
    char rid[32], in[128];
    snprintf(rid, sizeof rid, "cmp-%d", i);
    int n = snprintf(in, sizeof in, "{ \"instances\" : [ {\"x\": %d,\n \"s\": \"a b\\\" c\"} ] }", i);
    double out[1] = {0.5};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = "1", .inputs = in, .inputs_len = (size_t)n,
                           .outputs = out, .n_rows = 1, .n_out = 1};
    return fw_log_prediction_new(&p);
}

static void test_compact_inputs(void) {
    char home[600], dir[700], dead[800], path[800];
    snprintf(home, sizeof home, "%s/home-compact", fw_test_tmpdir());
    fw_log_sink store, sp;
    fw_err err;
    CHECK_OK(fw_log_sink_store(home, NULL, NULL, &store, &err));
    CHECK(fw_log_sink_store_spool_dir(&store, dir, sizeof dir));
    mkdir(dir, 0755);
    /* an earlier version's spool: inputs as sent, flag 0 */
    snprintf(dead, sizeof dead, "%s/serve-8-dead.spool", dir);
    fw_buf b;
    fw_buf_init(&b);
    unsigned char h[32] = {'F', 'W', 'S', 'P', 'O', 'O', 'L', '1', 32};
    fw_buf_put(&b, h, sizeof h);
    fw_log_record *old = spaced(1);
    CHECK(!old->inputs_compact);
    fw_log_spool_encode(old, &b);
    size_t spaced_len = b.len - 32;
    CHECK_EQ(b.data[32 + 8 + 2], 0); /* flags */
    fw_free(old);
    write_file(dead, &b);
    fw_buf_free(&b);
    CHECK_OK(fw_log_sink_spool(dir, &store, 1 << 20, 8, false, &sp, &err));
    fw_log_record *r = spaced(2);
    CHECK_OK(sp.write(sp.ud, &r, 1, &err));
    CHECK(r->inputs_compact);
    CHECK_EQ(strcmp(r->inputs, "{\"instances\":[{\"x\":2,\"s\":\"a b\\\" c\"}]}"), 0);
    CHECK_EQ((size_t)r->inputs_len, strlen(r->inputs));
    fw_buf e;
    fw_buf_init(&e);
    fw_log_spool_encode(r, &e);
    CHECK(e.len < spaced_len);
    CHECK_EQ(e.data[8 + 2], 2); /* flag bit 1: compact */
    size_t used;
    fw_log_record *back = fw_log_spool_decode(e.data, e.len, &used);
    CHECK(back && used == e.len && back->inputs_compact && strcmp(back->inputs, r->inputs) == 0);
    fw_free(back);
    fw_buf_free(&e);
    fw_free(r);
    sp.close(sp.ud);
    snprintf(path, sizeof path, "%s/log.db", home);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log"), 2);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json = "
                       "'{\"instances\":[{\"x\":1,\"s\":\"a b\\\" c\"}]}'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE input_json = "
                       "'{\"instances\":[{\"x\":2,\"s\":\"a b\\\" c\"}]}'"), 1);
    sqlite3_close(db);
}

/* The ingest builds a batch's decoded predictions in one reused block: draining 1,000 records
 * makes a handful of allocations, not one a record (a malloc and a free each, ~500 instructions of
 * the ingest's ~25k). */
static void test_ingest_without_allocation_per_record(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_arena", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    pthread_mutex_lock(&m.gate); /* the ingest thread stops in its first write: close drains the rest */
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 24, 64, false, &sp, &err));
    enum { N = 1000 };
    write_preds(&sp, N);
    for (int t = 0; t < 5000 && atomic_load(&m.at_gate) == 0; t++) usleep(1000);
    CHECK_EQ(atomic_load(&m.at_gate), 1);
    long before = fw_alloc_count();
    pthread_mutex_unlock(&m.gate);
    sp.close(sp.ud);
    long allocs = fw_alloc_count() - before;
    CHECK_EQ(m.n, (size_t)N);
    CHECK_MSG(allocs < N / 10, "%ld allocations draining %d records", allocs, N);
    bool in_order = true;
    for (int i = 0; i < N && (size_t)i < m.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05d", i);
        if (strcmp(m.ids[i], want) != 0) in_order = false;
    }
    CHECK(in_order);
}

/* Prediction i with inputs of about `bytes` bytes (a string feature of that length). */
static fw_log_record *pred_sized(int i, size_t bytes) {
    char rid[32];
    snprintf(rid, sizeof rid, "req-%05d", i);
    char *in = fw_malloc(bytes + 64);
    CHECK(in != NULL);
    int n = snprintf(in, 64, "{\"instances\":[{\"x\":\"");
    memset(in + n, 'a' + i % 26, bytes);
    n += (int)bytes;
    n += snprintf(in + n, 64, "\"}]}");
    double out[2] = {0.5, (double)i};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = "1", .variant = "primary",
                           .source = "online", .protocol = "v1", .outcome = "model", .latency_us = 7,
                           .inputs = in, .inputs_len = (size_t)n, .outputs = out, .n_rows = 1, .n_out = 2};
    fw_log_record *r = fw_log_prediction_new(&p);
    fw_free(in);
    return r;
}

/* Bytes of the spool the ingest reads (core/test_hooks.h: test builds count them). */
static unsigned long long spool_read_bytes(void) { return atomic_load(&fw__test_counts[FW_TC_SPOOL_READ_BYTES]); }

/* The ingest reads each byte of the spool once: its window keeps what a step did not decode for
 * the next step. Until session 16 every step read READ_CHUNK (4 MiB) afresh from its offset and
 * decoded one batch of it: here (4000 records of ~250 bytes, batches of 64) ~30 times the file. */
static void test_ingest_reads_once(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_once", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    pthread_mutex_lock(&m.gate); /* the ingest thread stops in its first write: the rest is one file */
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    unsigned long long read0 = spool_read_bytes();
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 24, 64, false, &sp, &err));
    enum { N = 4000 };
    write_preds(&sp, N);
    size_t written = 0;
    for (int i = 0; i < N; i++) written += encoded_size(i);
    for (int t = 0; t < 5000 && atomic_load(&m.at_gate) == 0; t++) usleep(1000);
    pthread_mutex_unlock(&m.gate);
    sp.close(sp.ud);
    unsigned long long read = spool_read_bytes() - read0;
    CHECK_EQ(m.n, (size_t)N);
    /* each record once, and a record's time (20 bytes) at most once a step */
    CHECK_MSG(read >= written && read <= written + (N / 64 + 2) * 20, "%llu bytes read for %zu written", read,
              written);
    bool in_order = true;
    for (int i = 0; i < N && (size_t)i < m.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05d", i);
        if (strcmp(m.ids[i], want) != 0) in_order = false;
    }
    CHECK(in_order);
}

/* Records that cross the window's end (the ingest reads on, keeping the cut record's head), steps
 * bounded by READ_CHUNK bytes rather than ingest_batch records (1024 records of 6 KB), and one
 * record longer than READ_CHUNK in the middle (5 MB): every record arrives once, in order, and the
 * file is read about once (the cut records' heads move in memory, they are not read again). */
static void test_ingest_window_boundaries(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_window", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    pthread_mutex_lock(&m.gate);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    unsigned long long read0 = spool_read_bytes();
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 26, 1024, false, &sp, &err));
    enum { N = 3000, BIG = 1700 };
    size_t written = 0;
    fw_buf b;
    fw_buf_init(&b);
    for (int i = 0; i < N; i += 50) {
        fw_log_record *batch[50];
        for (int k = 0; k < 50; k++) {
            batch[k] = pred_sized(i + k, i + k == BIG ? (5u << 20) : 6000 + (size_t)(i + k) % 977);
            b.len = 0;
            fw_log_spool_encode(batch[k], &b);
            written += b.len;
        }
        CHECK_OK(sp.write(sp.ud, batch, 50, &err));
        for (int k = 0; k < 50; k++) fw_free(batch[k]);
    }
    fw_buf_free(&b);
    for (int t = 0; t < 5000 && atomic_load(&m.at_gate) == 0; t++) usleep(1000);
    pthread_mutex_unlock(&m.gate);
    sp.close(sp.ud);
    unsigned long long read = spool_read_bytes() - read0;
    CHECK_EQ(m.n, (size_t)N);
    bool in_order = true;
    for (int i = 0; i < N && (size_t)i < m.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05d", i);
        if (strcmp(m.ids[i], want) != 0) in_order = false;
    }
    CHECK(in_order);
    CHECK_MSG(read >= written && read <= written + written / 50, "%llu bytes read for %zu written", read, written);
    CHECK_EQ(count_spools(dir), 0);
}

/* ---- the drain at close runs at the closing thread's priority ---- */

static atomic_bool hogs_stop;
static void *hog(void *arg) {
    (void)arg;
    uint64_t t0 = fw_now_ns();
    volatile unsigned long spin = 0;
    while (!atomic_load(&hogs_stop) && fw_now_ns() - t0 < 10000000000ull) /* 10 s at most */
        for (int i = 0; i < 100000; i++) spin++;
    return NULL;
}

/* CAP_SYS_NICE in the calling thread's effective set: off (a server not run as root: leaving
 * SCHED_IDLE is refused, EPERM) or back on. Threads created meanwhile inherit it off. */
static bool set_sys_nice(bool on) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return false;
    unsigned bit = 1u << (CAP_SYS_NICE % 32);
    if (on) d[CAP_SYS_NICE / 32].effective |= d[CAP_SYS_NICE / 32].permitted & bit;
    else d[CAP_SYS_NICE / 32].effective &= ~bit;
    return syscall(SYS_capset, &h, d) == 0;
}

/* Every CPU busy with normal-priority work (as a machine shared with other jobs), and a server
 * without CAP_SYS_NICE: the records the SCHED_IDLE ingest thread could not take before close are
 * drained by close itself, at its thread's priority, in moments. Until session 15 the idle thread
 * drained them after trying to raise itself (refused without the capability): at idle priority
 * beside busy CPUs it took until the load stopped (here the hogs' 10 s; 13 minutes measured on a
 * busy machine with a full spool). */
static void test_drain_at_close_not_idle(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_drain", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    m.work_us = 50; /* 3000 records: 0.15 s of CPU */
    CHECK(set_sys_nice(false));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nh = ncpu > 0 && ncpu < 16 ? (int)ncpu + 1 : 4;
    pthread_t hogs[17];
    atomic_store(&hogs_stop, false);
    for (int i = 0; i < nh; i++) pthread_create(&hogs[i], NULL, hog, NULL);
    usleep(100000); /* the hogs run: the ingest thread gets next to no CPU from here */
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 24, 8, false, &sp, &err));
    enum { N = 3000 };
    write_preds(&sp, N);
    uint64_t t0 = fw_now_ns();
    sp.close(sp.ud);
    double s = (double)(fw_now_ns() - t0) / 1e9;
    atomic_store(&hogs_stop, true);
    for (int i = 0; i < nh; i++) pthread_join(hogs[i], NULL);
    CHECK(set_sys_nice(true));
    CHECK_EQ(m.n, (size_t)N);
    CHECK_MSG(s < 3.0, "close took %.2f s to drain with every CPU busy", s);
    bool in_order = true;
    for (int i = 0; i < N && (size_t)i < m.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "req-%05d", i);
        if (strcmp(m.ids[i], want) != 0) in_order = false;
    }
    CHECK(in_order);
    CHECK_EQ(count_spools(dir), 0);
}

/* The one *.spool file of dir into buf ("" when there is none). */
static void spool_in(const char *dir, char *buf, size_t cap) {
    buf[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".spool")) snprintf(buf, cap, "%s/%s", dir, e->d_name);
    closedir(d);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static unsigned long long spool_wraps(void) { return atomic_load(&fw__test_counts[FW_TC_SPOOL_WRAPS]); }

/* Waits up to 10 s for the spool to have wrapped more than `since` times. */
static bool wait_wraps(unsigned long long since) {
    for (int t = 0; t < 1000 && spool_wraps() <= since; t++) usleep(10000);
    return spool_wraps() > since;
}

/* A drained spool past 8 MiB starts again after its header, over its own pages (the file is not
 * cut back: the kernel's page allocation was most of the spool's cost), and the header's end keeps
 * a dead process's recovery off the earlier lap's records still in the file past it: a copy taken
 * with five new records over the start of a 9 MB file gives back exactly those five. A header
 * whose end the file does not reach is set aside as damaged. Until session 17 the spool was
 * truncated (the size check fails there). */
static void test_wrap_reuses_pages(void) {
    char dir[600], dead_dir[600], live[800], copy[800], bad[800];
    snprintf(dir, sizeof dir, "%s/spool_wrap", fw_test_tmpdir());
    snprintf(dead_dir, sizeof dead_dir, "%s/spool_wrap_dead", fw_test_tmpdir());
    mkdir(dead_dir, 0755);
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    unsigned long long w0 = spool_wraps();
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 26, 64, false, &sp, &err));
    enum { N = 2200 }; /* 4 KB each: ~8.9 MB, past the 8 MiB wrap */
    for (int i = 0; i < N; i += 100) {
        fw_log_record *batch[100];
        for (int k = 0; k < 100; k++) batch[k] = pred_sized(i + k, 4000);
        CHECK_OK(sp.write(sp.ud, batch, 100, &err));
        for (int k = 0; k < 100; k++) fw_free(batch[k]);
    }
    CHECK(wait_wraps(w0));
    fw_log_sink_stats st = {0};
    for (int t = 0; t < 1000; t++) { /* all of them in (a wrap may have come before the last few) */
        sp.stats(sp.ud, &st);
        if (st.stored >= N && st.spool_bytes == 0) break;
        usleep(10000);
    }
    spool_in(dir, live, sizeof live);
    long long size = file_size(live);
    CHECK_MSG(size > 8 << 20, "spool of %lld bytes after the wrap", size);
    /* five records over the start; the ingest held at its first write of them: a dead process's file */
    pthread_mutex_lock(&m.gate);
    int gate0 = atomic_load(&m.at_gate);
    fw_log_record *five[5];
    for (int k = 0; k < 5; k++) five[k] = pred(5000 + k);
    CHECK_OK(sp.write(sp.ud, five, 5, &err));
    for (int k = 0; k < 5; k++) fw_free(five[k]);
    for (int t = 0; t < 5000 && atomic_load(&m.at_gate) == gate0; t++) usleep(1000);
    snprintf(copy, sizeof copy, "%s/serve-1-copy.spool", dead_dir);
    snprintf(bad, sizeof bad, "%s/serve-2-bad.spool", dead_dir);
    fw_buf b;
    fw_buf_init(&b);
    FILE *f = fopen(live, "rb");
    CHECK(f != NULL);
    if (f) {
        unsigned char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) fw_buf_put(&b, chunk, got);
        fclose(f);
    }
    CHECK_EQ((long long)b.len, size); /* the five went over the first lap's start: no new pages */
    write_file(copy, &b);
    if (b.len >= 24) { /* the same file, its header's end past the file's end */
        uint64_t past = (uint64_t)b.len + 1000;
        for (int i = 0; i < 8; i++) b.data[16 + i] = (uint8_t)(past >> (8 * i));
        write_file(bad, &b);
    }
    fw_buf_free(&b);
    pthread_mutex_unlock(&m.gate);
    sp.close(sp.ud);
    CHECK_EQ(m.n, (size_t)N + 5);
    CHECK_STR(m.ids[N + 4], "req-05004");

    mem_sink m2;
    mem_init(&m2);
    fw_log_sink inner2 = mem_sink_of(&m2), sp2;
    CHECK_OK(fw_log_sink_spool(dead_dir, &inner2, 1 << 26, 64, false, &sp2, &err));
    st = (fw_log_sink_stats){0};
    for (int t = 0; t < 1000; t++) {
        sp2.stats(sp2.ud, &st);
        if (st.recovered >= 5 && st.set_aside >= 1) break;
        usleep(10000);
    }
    sp2.close(sp2.ud);
    CHECK_EQ(m2.n, 5u); /* not one of the earlier lap's 2,200 */
    CHECK_STR(m2.ids[0], "req-05000");
    CHECK_STR(m2.ids[4], "req-05004");
    CHECK_EQ(st.set_aside, 1u);
}

/* A spool that grew past 32 MiB (a backlog) is cut back to its header when it drains: the file is
 * not kept at its largest. */
static void test_wrap_cuts_back_a_large_file(void) {
    char dir[600], live[800];
    snprintf(dir, sizeof dir, "%s/spool_wrap_big", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    pthread_mutex_lock(&m.gate); /* the ingest waits: the whole backlog is one lap */
    fw_log_sink inner = mem_sink_of(&m), sp;
    fw_err err;
    unsigned long long w0 = spool_wraps();
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1ull << 30, 256, false, &sp, &err));
    enum { N = 8600 }; /* ~34.8 MB */
    for (int i = 0; i < N; i += 100) {
        fw_log_record *batch[100];
        for (int k = 0; k < 100; k++) batch[k] = pred_sized(i + k, 4000);
        CHECK_OK(sp.write(sp.ud, batch, 100, &err));
        for (int k = 0; k < 100; k++) fw_free(batch[k]);
    }
    spool_in(dir, live, sizeof live);
    long long big = file_size(live);
    CHECK_MSG(big > 32 << 20, "spool of %lld bytes", big);
    pthread_mutex_unlock(&m.gate);
    CHECK(wait_wraps(w0));
    long long after = file_size(live);
    CHECK_MSG(after == 32, "spool of %lld bytes after draining %lld", after, big);
    sp.close(sp.ud);
}

static fw_log_sink mem_sink_direct(mem_sink *m) {
    fw_log_sink k = mem_sink_of(m);
    k.write_now = mem_write_now;
    k.sync = mem_sync;
    return k;
}

/* Waits up to 10 s for the spool to have stored n records. */
static fw_log_sink_stats wait_stored(const fw_log_sink *sp, uint64_t n) {
    fw_log_sink_stats st = {0};
    for (int t = 0; t < 1000; t++) {
        sp->stats(sp->ud, &st);
        if (st.stored >= n && st.spool_bytes == 0) break;
        usleep(10000);
    }
    return st;
}


/* Writes batches of 100 (ids from *next on), each once the spool is drained, until one goes to the
 * sink directly (at most 50: the idle ingest thread may still hold the sink for its bookkeeping
 * after its last delivery, and then the writer appends rather than wait). skipped: records the
 * sink holds that the spool does not count as stored (a refused direct write's part). */
static void write_going_direct(const fw_log_sink *sp, int *next, int skipped) {
    for (int attempt = 0; attempt < 50; attempt++) {
        fw_log_sink_stats st = wait_stored(sp, (uint64_t)(*next - skipped)), after;
        write_batch(sp, *next, 100);
        *next += 100;
        sp->stats(sp->ud, &after);
        if (after.direct == st.direct + 100) return;
        usleep(2000);
    }
    CHECK_MSG(false, "no batch went to the sink directly in 50 tries");
}

/* Direct writes: with nothing waiting in the spool the writer's batch goes to the sink on the
 * writer's thread (write_now), not through the file; while records wait (the ingest held at its
 * gate) batches are appended, so they stay behind the earlier ones; a sync after a direct write
 * syncs the sink too. Every record arrives once, in order. */
static void test_direct_when_empty(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_direct", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    fw_log_sink inner = mem_sink_direct(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 24, 64, false, &sp, &err));
    fw_log_spool_direct(&sp, true);
    int next = 0;
    write_going_direct(&sp, &next, 0);
    fw_log_sink_stats st;
    sp.stats(sp.ud, &st);
    CHECK_EQ(st.spool_bytes, 0u);
    CHECK_OK(sp.sync(sp.ud, &err));
    CHECK_EQ(atomic_load(&m.syncs), 1); /* the direct write's commit, made durable */
    CHECK_OK(sp.sync(sp.ud, &err));
    CHECK_EQ(atomic_load(&m.syncs), 1); /* nothing direct since: the spool's fdatasync alone */
    /* records waiting (appended with direct writes off, the ingest held at its gate): the next
     * batch is appended behind them with direct writes on, not written past them */
    st = wait_stored(&sp, (uint64_t)next);
    uint64_t direct1 = st.direct;
    pthread_mutex_lock(&m.gate);
    m.hold_thread = "fw-log-ingest";
    int gate0 = atomic_load(&m.at_gate);
    fw_log_spool_direct(&sp, false);
    write_batch(&sp, next, 100);
    fw_log_spool_direct(&sp, true);
    for (int t = 0; t < 5000 && atomic_load(&m.at_gate) == gate0; t++) usleep(1000);
    write_batch(&sp, next + 100, 100);
    next += 200;
    sp.stats(sp.ud, &st);
    CHECK_EQ(st.direct, direct1);
    CHECK(st.spool_bytes > 0);
    pthread_mutex_unlock(&m.gate);
    write_going_direct(&sp, &next, 0); /* drained: direct again */
    sp.close(sp.ud);
    CHECK_EQ(m.n, (size_t)next);
    CHECK(ids_in_order(&m, (size_t)next));
}

/* A direct write the sink refuses part-way (its predictions' transaction in, the rest refused as
 * busy) goes to the spool whole; the ingest skips what the sink holds, so each record is stored
 * once, in order; for the back-off the next batches are appended too, then writes go direct again. */
static void test_direct_refused_falls_back(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/spool_direct_busy", fw_test_tmpdir());
    mem_sink m;
    mem_init(&m);
    m.contains_stored = true;
    fw_log_sink inner = mem_sink_direct(&m), sp;
    fw_err err;
    CHECK_OK(fw_log_sink_spool(dir, &inner, 1 << 24, 64, false, &sp, &err));
    fw_log_spool_direct(&sp, true);
    int next = 0;
    write_going_direct(&sp, &next, 0);
    fw_log_sink_stats st = wait_stored(&sp, (uint64_t)next);
    m.now_take = 40; /* the next direct write: 40 stored, then refused */
    int calls0 = atomic_load(&m.now_calls);
    for (int t = 0; t < 50 && atomic_load(&m.now_calls) == calls0; t++) { /* until one is tried */
        wait_stored(&sp, (uint64_t)next);
        write_batch(&sp, next, 100);
        next += 100;
    }
    CHECK_EQ(atomic_load(&m.now_calls), calls0 + 1);
    m.now_take = -1;
    write_batch(&sp, next, 100); /* inside the back-off: appended, no direct attempt */
    next += 100;
    CHECK_EQ(atomic_load(&m.now_calls), calls0 + 1);
    st = wait_stored(&sp, (uint64_t)next - 40);
    uint64_t direct1 = st.direct;
    usleep(1100 * 1000); /* past the back-off */
    write_going_direct(&sp, &next, 40);
    sp.stats(sp.ud, &st);
    CHECK_EQ(st.direct, direct1 + 100);
    sp.close(sp.ud);
    CHECK_EQ(m.n, (size_t)next); /* the refused batch's first 40 once, not twice */
    CHECK(ids_in_order(&m, (size_t)next));
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_round_trip);
    TEST_RUN(test_decode_one_allocation);
    TEST_RUN(test_encoding_pinned);
    TEST_RUN(test_append_drain);
    TEST_RUN(test_ingest_paced);
    TEST_RUN(test_bound_drops);
    TEST_RUN(test_recovery);
    TEST_RUN(test_busy_store_at_close);
    TEST_RUN(test_catch_up);
    TEST_RUN(test_store_behind_spool);
    TEST_RUN(test_resync);
    TEST_RUN(test_damaged_header_and_lost);
    TEST_RUN(test_durable_push);
    TEST_RUN(test_compact_inputs);
    TEST_RUN(test_drain_at_close_not_idle);
    TEST_RUN(test_ingest_without_allocation_per_record);
    TEST_RUN(test_ingest_reads_once);
    TEST_RUN(test_ingest_window_boundaries);
    TEST_RUN(test_wrap_reuses_pages);
    TEST_RUN(test_wrap_cuts_back_a_large_file);
    TEST_RUN(test_direct_when_empty);
    TEST_RUN(test_direct_refused_falls_back);
    return fw_test_report(argv[0]);
}
