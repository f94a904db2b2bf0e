/* test_threads.c — tests for src/core/threads.c: the fixed split of fw_parallel_for and the block
 * hand-out of fw_parallel_blocks, run on the persistent pool, from several threads at once, from
 * inside a running pass (nested), after fw_threads_shutdown, and in a forked child. */
#include "core/threads.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXT 16

/* What one fw_parallel_for call saw: per thread index, the bounds and how often it was called. */
typedef struct seen {
    size_t begin[MAXT], end[MAXT];
    atomic_int calls[MAXT];
    atomic_int bad_thread;
} seen;

static void record_range(void *ctx, int t, size_t begin, size_t end) {
    seen *s = ctx;
    if (t < 0 || t >= MAXT) {
        atomic_fetch_add(&s->bad_thread, 1);
        return;
    }
    s->begin[t] = begin;
    s->end[t] = end;
    atomic_fetch_add(&s->calls[t], 1);
}

/* Checks that the chunks are the documented split: contiguous, in thread order, sizes differ by
 * at most one, the larger ones first. Returns 1 when right. */
static int split_ok(const seen *s, int nt, size_t n) {
    if (atomic_load(&s->bad_thread)) return 0;
    size_t at = 0;
    for (int t = 0; t < nt; t++) {
        if (atomic_load(&s->calls[t]) != 1) return 0;
        size_t want = n / (size_t)nt + ((size_t)t < n % (size_t)nt ? 1 : 0);
        if (s->begin[t] != at || s->end[t] != at + want) return 0;
        at += want;
    }
    for (int t = nt; t < MAXT; t++)
        if (atomic_load(&s->calls[t]) != 0) return 0;
    return at == n;
}

static void test_split_is_fixed(void) {
    size_t ns[] = {2, 3, 7, 64, 1001, 100000};
    for (int nt = 1; nt <= 9; nt++) {
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            seen s;
            memset(&s, 0, sizeof s);
            fw_parallel_for(nt, ns[i], record_range, &s);
            int eff = (size_t)nt > ns[i] ? (int)ns[i] : nt;
            CHECK_MSG(split_ok(&s, eff, ns[i]), "split of %zu over %d threads", ns[i], nt);
        }
    }
    /* n = 0 and n = 1: one call on the caller */
    seen s;
    memset(&s, 0, sizeof s);
    fw_parallel_for(4, 0, record_range, &s);
    CHECK_EQ(atomic_load(&s.calls[0]), 1);
    CHECK_EQ(s.end[0], 0);
}

typedef struct blocks_seen {
    atomic_int calls[4096];
    atomic_int bad;
    size_t n, bs;
    int max_thread;
} blocks_seen;

static void record_block(void *ctx, int t, size_t b, size_t begin, size_t end) {
    blocks_seen *s = ctx;
    size_t want_end = (b + 1) * s->bs < s->n ? (b + 1) * s->bs : s->n;
    if (b >= 4096 || begin != b * s->bs || end != want_end || t < 0 || t >= s->max_thread) {
        atomic_fetch_add(&s->bad, 1);
        return;
    }
    atomic_fetch_add(&s->calls[b], 1);
}

static void check_blocks(int nt, size_t n, size_t bs) {
    static blocks_seen s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.bs = bs;
    s.max_thread = nt;
    fw_parallel_blocks(nt, n, bs, record_block, &s);
    CHECK_EQ(atomic_load(&s.bad), 0);
    size_t nb = (n + bs - 1) / bs;
    int once = 1;
    for (size_t b = 0; b < nb; b++) once &= atomic_load(&s.calls[b]) == 1;
    CHECK_MSG(once, "every block once: n %zu bs %zu threads %d", n, bs, nt);
}

static void test_blocks_each_once(void) {
    for (int nt = 1; nt <= 8; nt++) {
        check_blocks(nt, 10001, 64);
        check_blocks(nt, 5, 1);
        check_blocks(nt, 3, 100);
    }
    check_blocks(2, 0, 8);
}

/* A sum over [0, n) computed per chunk and reduced in chunk order. */
typedef struct sum_ctx {
    uint64_t part[MAXT];
} sum_ctx;

static void sum_range(void *ctx, int t, size_t begin, size_t end) {
    sum_ctx *c = ctx;
    uint64_t s = 0;
    for (size_t i = begin; i < end; i++) s += i * i;
    c->part[t] = s;
}

static uint64_t parallel_sum(int nt, size_t n) {
    sum_ctx c;
    memset(&c, 0, sizeof c);
    fw_parallel_for(nt, n, sum_range, &c);
    uint64_t s = 0;
    for (int t = 0; t < MAXT; t++) s += c.part[t];
    return s;
}

static uint64_t sum_squares(size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += i * i;
    return s;
}

typedef struct blocksum_ctx {
    uint64_t part[512];
} blocksum_ctx;

static void blocksum(void *ctx, int t, size_t b, size_t begin, size_t end) {
    blocksum_ctx *c = ctx;
    uint64_t s = 0;
    for (size_t i = begin; i < end; i++) s += i * 3 + 1;
    c->part[b] = s;
}

static uint64_t parallel_blocksum(int nt, size_t n) {
    blocksum_ctx c;
    memset(&c, 0, sizeof c);
    fw_parallel_blocks(nt, n, 100, blocksum, &c);
    uint64_t s = 0;
    for (size_t b = 0; b < 512; b++) s += c.part[b];
    return s;
}

/* Several threads run passes at the same time (as the HTTP server's workers do): every answer
 * must be right and none may wait forever. */
typedef struct caller {
    int id, errors;
} caller;

static void *caller_main(void *arg) {
    caller *c = arg;
    for (int r = 0; r < 200; r++) {
        size_t n = 1000 + (size_t)(r * 37 + c->id * 101) % 20000;
        int nt = 2 + (r + c->id) % 3;
        if (parallel_sum(nt, n) != sum_squares(n)) c->errors++;
        size_t nb = 5000 + (size_t)r;
        uint64_t want = 0;
        for (size_t i = 0; i < nb; i++) want += i * 3 + 1;
        if (parallel_blocksum(nt, nb) != want) c->errors++;
    }
    return NULL;
}

static void test_concurrent_callers(void) {
    enum { NC = 4 };
    pthread_t tid[NC];
    caller c[NC];
    for (int i = 0; i < NC; i++) {
        c[i] = (caller){i, 0};
        CHECK_OK(pthread_create(&tid[i], NULL, caller_main, &c[i]));
    }
    caller_main(&(caller){NC, 0}); /* and the main thread too */
    for (int i = 0; i < NC; i++) {
        pthread_join(tid[i], NULL);
        CHECK_EQ(c[i].errors, 0);
    }
}

/* A pass started from inside a pass (on a pool worker and on the owner) runs inline. */
typedef struct nested_ctx {
    atomic_int errors;
    atomic_int chunks;
} nested_ctx;

static void nested_range(void *ctx, int t, size_t begin, size_t end) {
    nested_ctx *c = ctx;
    for (size_t i = begin; i < end; i++) {
        size_t n = 3000 + i * 17;
        if (parallel_sum(2, n) != sum_squares(n)) atomic_fetch_add(&c->errors, 1);
        seen s;
        memset(&s, 0, sizeof s);
        fw_parallel_for(3, n, record_range, &s);
        if (!split_ok(&s, 3, n)) atomic_fetch_add(&c->errors, 1);
    }
    atomic_fetch_add(&c->chunks, 1);
}

static void nested_block(void *ctx, int t, size_t b, size_t begin, size_t end) {
    nested_range(ctx, t, begin, end);
}

static void test_nested_passes(void) {
    nested_ctx c;
    atomic_init(&c.errors, 0);
    atomic_init(&c.chunks, 0);
    fw_parallel_for(2, 8, nested_range, &c);
    CHECK_EQ(atomic_load(&c.errors), 0);
    CHECK_EQ(atomic_load(&c.chunks), 2);
    atomic_store(&c.chunks, 0);
    fw_parallel_blocks(3, 9, 2, nested_block, &c);
    CHECK_EQ(atomic_load(&c.errors), 0);
    CHECK_EQ(atomic_load(&c.chunks), 5);
}

/* Shutdown from inside a pass is a no-op; after a shutdown the pool starts again. */
static void shutdown_inside(void *ctx, int t, size_t begin, size_t end) {
    fw_threads_shutdown();
    sum_range(ctx, t, begin, end);
}

static void test_shutdown_and_restart(void) {
    CHECK(parallel_sum(2, 50000) == sum_squares(50000));
    fw_threads_shutdown();
    fw_threads_shutdown(); /* twice is fine */
    CHECK(parallel_sum(2, 50000) == sum_squares(50000));
    CHECK(parallel_sum(8, 50000) == sum_squares(50000)); /* grows */
    CHECK(parallel_sum(3, 50000) == sum_squares(50000));
    sum_ctx c;
    memset(&c, 0, sizeof c);
    fw_parallel_for(2, 1000, shutdown_inside, &c);
    CHECK(c.part[0] + c.part[1] == sum_squares(1000));
    CHECK(parallel_sum(2, 777) == sum_squares(777));
}

static void test_forked_child(void) {
    CHECK(parallel_sum(2, 10000) == sum_squares(10000)); /* the pool exists in the parent */
    pid_t pid = fork();
    if (pid == 0) {
        int ok = parallel_sum(2, 10000) == sum_squares(10000) &&
                 parallel_blocksum(3, 4000) != 0;
        _exit(ok ? 0 : 3);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_split_is_fixed);
    TEST_RUN(test_blocks_each_once);
    TEST_RUN(test_concurrent_callers);
    TEST_RUN(test_nested_passes);
    TEST_RUN(test_shutdown_and_restart);
    TEST_RUN(test_forked_child);
    return fw_test_report(argv[0]);
}
