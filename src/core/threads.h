/* threads.h — owns parallel loops over both cores: a fixed split of [0, n) into contiguous chunks,
 * one per thread, so results that are reduced in chunk order are identical for a given thread count.
 * Callers that must be identical across thread counts reduce in a fixed block order instead (see
 * fw_parallel_blocks). */
#ifndef FW_CORE_THREADS_H
#define FW_CORE_THREADS_H

#include <stddef.h>

/* Number of threads to use when the caller says 0: online CPUs (at least 1). */
int fw_default_threads(void);

/* Calls fn(ctx, thread_index, begin, end) for n_threads contiguous chunks of [0, n) in parallel
 * (pthreads; the calling thread runs chunk 0). n_threads <= 1 or small n runs inline. */
typedef void (*fw_range_fn)(void *ctx, int thread, size_t begin, size_t end);
void fw_parallel_for(int n_threads, size_t n, fw_range_fn fn, void *ctx);

/* Splits [0, n) into fixed blocks of block_size (independent of the thread count) and hands blocks
 * to threads dynamically: fn(ctx, thread, block_index, begin, end). Reducing per-block results in
 * block order gives bit-identical answers for any thread count. */
typedef void (*fw_block_fn)(void *ctx, int thread, size_t block, size_t begin, size_t end);
void fw_parallel_blocks(int n_threads, size_t n, size_t block_size, fw_block_fn fn, void *ctx);

#endif
