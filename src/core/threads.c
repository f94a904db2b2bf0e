/* threads.c — owns the parallel loops and the persistent worker pool behind them.
 *
 * The pool: worker threads created lazily (grown to the largest thread count asked for so far,
 * at most FW_MAX_THREADS - 1 workers) that park on a condition variable between passes, after a
 * short spin. A pass posts one job (a sequence number), runs its own share (thread 0) on the
 * calling thread, and waits until every worker that has a share is done. Only one pass uses the
 * pool at a time: a pass started while the pool is busy (another thread's pass: the cores are
 * taken) or from inside a pass (a worker or the owner running a share) runs inline on the calling
 * thread, share after share — never waiting for the pool, so it cannot deadlock, and starting
 * extra threads would only oversubscribe the cores. The split of the work never depends on how a
 * pass runs, so results do not either. If a worker cannot be started, its share runs on the
 * calling thread.
 * Shutdown: fw_threads_shutdown (also registered with atexit when the first worker starts) joins
 * the workers; a later pass recreates them. A forked child starts with an empty pool. */
#include "core/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define FW_MAX_THREADS 64
/* Spin iterations (each a CPU pause) before a waiting thread parks: a pass that follows within a
 * few microseconds skips the futex round trip. Kept short because the machine may be shared. */
#define FW_SPIN 2000

int fw_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    return (int)n;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* One pass: either contiguous ranges (one per thread) or fixed blocks handed out dynamically. */
typedef struct job {
    int n_threads;
    bool blocks;
    void *ctx;
    size_t n;
    fw_range_fn range_fn;
    fw_block_fn block_fn;
    size_t block_size, n_blocks;
    atomic_size_t next;
} job;

/* Chunk t of the fixed split of [0, n) into n_threads contiguous ranges. */
static void range_of(const job *j, int t, size_t *begin, size_t *end) {
    size_t chunk = j->n / (size_t)j->n_threads, rem = j->n % (size_t)j->n_threads;
    size_t ut = (size_t)t;
    *begin = ut * chunk + (ut < rem ? ut : rem);
    *end = *begin + chunk + (ut < rem ? 1 : 0);
}

/* > 0 while this thread runs a share of a pass: a pass started then runs inline. */
static _Thread_local int tls_depth;

static void run_share(job *j, int t) {
    tls_depth++;
    if (j->blocks) {
        for (;;) {
            size_t b = atomic_fetch_add(&j->next, 1);
            if (b >= j->n_blocks) break;
            size_t begin = b * j->block_size;
            size_t end = begin + j->block_size < j->n ? begin + j->block_size : j->n;
            j->block_fn(j->ctx, t, b, begin, end);
        }
    } else {
        size_t begin, end;
        range_of(j, t, &begin, &end);
        j->range_fn(j->ctx, t, begin, end);
    }
    tls_depth--;
}

/* ---- the pool ------------------------------------------------------------------------------ */

/* A job is posted seqlock-style: seq goes odd, (cur, cur_n) are written, seq goes even again, so a
 * worker reads a consistent pair without the mutex. A worker only dereferences cur when it has a
 * share (t < cur_n): the owner waits for those before the job (on its stack) goes away. */
static struct {
    atomic_flag busy;            /* set while one pass owns the pool */
    pthread_mutex_t m;           /* guards the waits below and the worker list */
    pthread_cond_t work, done;
    atomic_ulong seq;            /* even when stable; +2 per posted job */
    atomic_int pending;          /* workers with a share in the current job not yet done */
    job *_Atomic cur;
    atomic_int cur_n;
    int n_workers;
    bool stop;
    pthread_t tid[FW_MAX_THREADS];
    int index[FW_MAX_THREADS];   /* thread index of worker w: w + 1 */
    unsigned long start_seq[FW_MAX_THREADS];
} P = {.busy = ATOMIC_FLAG_INIT,
       .m = PTHREAD_MUTEX_INITIALIZER,
       .work = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg) {
    int t = *(int *)arg;
    pthread_setname_np(pthread_self(), "fw-pool"); /* named for per-thread CPU (/proc/PID/task/TID/comm) */
    pthread_mutex_lock(&P.m);
    unsigned long seen = P.start_seq[t - 1];
    pthread_mutex_unlock(&P.m);
    for (;;) {
        for (int i = 0; i < FW_SPIN && atomic_load(&P.seq) == seen; i++) cpu_relax();
        if (atomic_load(&P.seq) == seen) {
            pthread_mutex_lock(&P.m);
            while (atomic_load(&P.seq) == seen && !P.stop) pthread_cond_wait(&P.work, &P.m);
            bool stop = P.stop && atomic_load(&P.seq) == seen;
            pthread_mutex_unlock(&P.m);
            if (stop) break;
        }
        unsigned long s1, s2;
        int n;
        job *j;
        for (;;) {
            s1 = atomic_load(&P.seq);
            if (s1 & 1) {
                cpu_relax();
                continue;
            }
            n = atomic_load(&P.cur_n);
            j = atomic_load(&P.cur);
            s2 = atomic_load(&P.seq);
            if (s1 == s2) break;
        }
        seen = s1;
        if (t >= n) continue; /* no share in this pass */
        run_share(j, t);
        if (atomic_fetch_sub(&P.pending, 1) == 1) {
            pthread_mutex_lock(&P.m);
            pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.m);
        }
    }
    return NULL;
}

static void pool_atfork_child(void) {
    /* the workers do not exist in the child: start over with an empty pool */
    pthread_mutex_init(&P.m, NULL);
    pthread_cond_init(&P.work, NULL);
    pthread_cond_init(&P.done, NULL);
    P.n_workers = 0;
    P.stop = false;
    atomic_store(&P.pending, 0);
    atomic_flag_clear(&P.busy);
}

static void pool_once_init(void) {
    atexit(fw_threads_shutdown);
    pthread_atfork(NULL, NULL, pool_atfork_child);
}
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* Grows the pool to `want` workers (caller owns the pool); returns how many exist. */
static int pool_grow(int want) {
    if (P.n_workers >= want) return P.n_workers;
    pthread_once(&pool_once, pool_once_init);
    pthread_mutex_lock(&P.m);
    while (P.n_workers < want) {
        int w = P.n_workers;
        P.index[w] = w + 1;
        P.start_seq[w] = atomic_load(&P.seq);
        if (pthread_create(&P.tid[w], NULL, worker_main, &P.index[w]) != 0) break;
        P.n_workers++;
    }
    pthread_mutex_unlock(&P.m);
    return P.n_workers;
}

/* Runs j on the pool (caller owns it). Range shares without a worker run here after share 0;
 * blocks need no such care (the threads that exist take every block). */
static void pool_run(job *j) {
    int have = pool_grow(j->n_threads - 1);
    int with_worker = j->n_threads - 1 < have ? j->n_threads - 1 : have;
    atomic_store(&P.pending, with_worker);
    pthread_mutex_lock(&P.m);
    atomic_fetch_add(&P.seq, 1);
    atomic_store(&P.cur_n, with_worker + 1);
    atomic_store(&P.cur, j);
    atomic_fetch_add(&P.seq, 1);
    pthread_cond_broadcast(&P.work);
    pthread_mutex_unlock(&P.m);
    run_share(j, 0);
    if (!j->blocks)
        for (int t = with_worker + 1; t < j->n_threads; t++) run_share(j, t);
    for (int i = 0; i < FW_SPIN && atomic_load(&P.pending) > 0; i++) cpu_relax();
    if (atomic_load(&P.pending) > 0) {
        pthread_mutex_lock(&P.m);
        while (atomic_load(&P.pending) > 0) pthread_cond_wait(&P.done, &P.m);
        pthread_mutex_unlock(&P.m);
    }
}

void fw_threads_shutdown(void) {
    if (tls_depth > 0) return;                  /* called from inside a pass */
    if (atomic_flag_test_and_set(&P.busy)) return; /* another thread's pass is running */
    pthread_mutex_lock(&P.m);
    P.stop = true;
    pthread_cond_broadcast(&P.work);
    int n = P.n_workers;
    pthread_mutex_unlock(&P.m);
    for (int w = 0; w < n; w++) pthread_join(P.tid[w], NULL);
    pthread_mutex_lock(&P.m);
    P.n_workers = 0;
    P.stop = false;
    pthread_mutex_unlock(&P.m);
    atomic_flag_clear(&P.busy);
}

/* ---- running a pass ------------------------------------------------------------------------ */

/* Every share in order on this thread (blocks: all taken by thread 0). */
static void run_inline(job *j) {
    if (j->blocks) {
        run_share(j, 0);
    } else {
        for (int t = 0; t < j->n_threads; t++) run_share(j, t);
    }
}

static void run_job(job *j) {
    if (j->n_threads <= 1 || tls_depth > 0) {
        run_inline(j);
        return;
    }
    if (!atomic_flag_test_and_set(&P.busy)) {
        pool_run(j);
        atomic_flag_clear(&P.busy);
    } else {
        run_inline(j);
    }
}

static int clamp_threads(int n_threads) {
    if (n_threads <= 0) n_threads = fw_default_threads();
    if (n_threads > FW_MAX_THREADS) n_threads = FW_MAX_THREADS;
    return n_threads;
}

void fw_parallel_for(int n_threads, size_t n, fw_range_fn fn, void *ctx) {
    n_threads = clamp_threads(n_threads);
    if ((size_t)n_threads > n) n_threads = n ? (int)n : 1;
    if (n_threads <= 1) {
        fn(ctx, 0, 0, n);
        return;
    }
    job j = {.n_threads = n_threads, .blocks = false, .ctx = ctx, .n = n, .range_fn = fn};
    run_job(&j);
}

void fw_parallel_blocks(int n_threads, size_t n, size_t block_size, fw_block_fn fn, void *ctx) {
    if (block_size == 0) block_size = 1;
    n_threads = clamp_threads(n_threads);
    job j = {.blocks = true, .ctx = ctx, .n = n, .block_fn = fn, .block_size = block_size};
    j.n_blocks = (n + block_size - 1) / block_size;
    atomic_init(&j.next, 0);
    if ((size_t)n_threads > j.n_blocks) n_threads = j.n_blocks ? (int)j.n_blocks : 1;
    j.n_threads = n_threads;
    run_job(&j);
}
