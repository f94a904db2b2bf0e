/* threads.c — owns the pthread-based parallel loops. Threads are created per call: the loops here
 * are coarse (a histogram pass, a scoring block), so creation cost (~20 µs) is negligible. */
#include "core/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

int fw_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    return (int)n;
}

typedef struct range_job {
    fw_range_fn fn;
    void *ctx;
    int thread;
    size_t begin, end;
} range_job;

static void *range_main(void *arg) {
    range_job *j = arg;
    j->fn(j->ctx, j->thread, j->begin, j->end);
    return NULL;
}

#define FW_MAX_THREADS 64

void fw_parallel_for(int n_threads, size_t n, fw_range_fn fn, void *ctx) {
    if (n_threads <= 0) n_threads = fw_default_threads();
    if (n_threads > FW_MAX_THREADS) n_threads = FW_MAX_THREADS;
    if ((size_t)n_threads > n) n_threads = n ? (int)n : 1;
    if (n_threads <= 1) {
        fn(ctx, 0, 0, n);
        return;
    }
    range_job jobs[FW_MAX_THREADS];
    pthread_t tids[FW_MAX_THREADS];
    int started[FW_MAX_THREADS] = {0};
    size_t chunk = n / (size_t)n_threads, rem = n % (size_t)n_threads, at = 0;
    for (int t = 0; t < n_threads; t++) {
        size_t len = chunk + ((size_t)t < rem ? 1 : 0);
        jobs[t] = (range_job){fn, ctx, t, at, at + len};
        at += len;
    }
    for (int t = 1; t < n_threads; t++)
        started[t] = pthread_create(&tids[t], NULL, range_main, &jobs[t]) == 0;
    range_main(&jobs[0]);
    for (int t = 1; t < n_threads; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            range_main(&jobs[t]); /* could not start a thread: do its share here */
    }
}

typedef struct block_job {
    fw_block_fn fn;
    void *ctx;
    size_t n, block_size, n_blocks;
    atomic_size_t next;
} block_job;

typedef struct block_worker {
    block_job *job;
    int thread;
} block_worker;

static void *block_main(void *arg) {
    block_worker *w = arg;
    block_job *j = w->job;
    for (;;) {
        size_t b = atomic_fetch_add(&j->next, 1);
        if (b >= j->n_blocks) break;
        size_t begin = b * j->block_size;
        size_t end = begin + j->block_size < j->n ? begin + j->block_size : j->n;
        j->fn(j->ctx, w->thread, b, begin, end);
    }
    return NULL;
}

void fw_parallel_blocks(int n_threads, size_t n, size_t block_size, fw_block_fn fn, void *ctx) {
    if (block_size == 0) block_size = 1;
    if (n_threads <= 0) n_threads = fw_default_threads();
    if (n_threads > FW_MAX_THREADS) n_threads = FW_MAX_THREADS;
    block_job job = {.fn = fn, .ctx = ctx, .n = n, .block_size = block_size};
    job.n_blocks = (n + block_size - 1) / block_size;
    atomic_init(&job.next, 0);
    if ((size_t)n_threads > job.n_blocks) n_threads = job.n_blocks ? (int)job.n_blocks : 1;
    block_worker w[FW_MAX_THREADS];
    pthread_t tids[FW_MAX_THREADS];
    int started[FW_MAX_THREADS] = {0};
    for (int t = 0; t < n_threads; t++) w[t] = (block_worker){&job, t};
    for (int t = 1; t < n_threads; t++)
        started[t] = pthread_create(&tids[t], NULL, block_main, &w[t]) == 0;
    block_main(&w[0]);
    for (int t = 1; t < n_threads; t++)
        if (started[t]) pthread_join(tids[t], NULL);
}
