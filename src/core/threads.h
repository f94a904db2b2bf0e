/* threads.h — owns parallel loops over both cores: a fixed split of [0, n) into contiguous chunks,
 * one per thread, so results that are reduced in chunk order are identical for a given thread count.
 * Callers that must be identical across thread counts reduce in a fixed block order instead (see
 * fw_parallel_blocks). The loops run on a persistent pool of worker threads (created on first use,
 * parked between passes); both loops are safe to call from several threads at once and from inside
 * a running pass (one pass at a time uses the pool; a nested or concurrent pass runs on the
 * calling thread). The split, and therefore the
 * result, is the same however a pass is run. */
#ifndef FW_CORE_THREADS_H
#define FW_CORE_THREADS_H

#include <stddef.h>

/* Number of threads to use when the caller says 0: online CPUs (at least 1). */
int fw_default_threads(void);

/* Calls fn(ctx, thread_index, begin, end) for n_threads contiguous chunks of [0, n) in parallel
 * (the calling thread runs chunk 0; n_threads <= 0 means fw_default_threads()). n_threads <= 1,
 * n < 2, a call from inside a running pass, or a call while another thread's pass holds the pool
 * runs every chunk in order on the calling thread, with the same thread indexes and bounds (it
 * never waits for the pool). Returns when every chunk is done. */
typedef void (*fw_range_fn)(void *ctx, int thread, size_t begin, size_t end);
void fw_parallel_for(int n_threads, size_t n, fw_range_fn fn, void *ctx);

/* Splits [0, n) into fixed blocks of block_size (independent of the thread count) and hands blocks
 * to threads dynamically: fn(ctx, thread, block_index, begin, end). Reducing per-block results in
 * block order gives bit-identical answers for any thread count. */
typedef void (*fw_block_fn)(void *ctx, int thread, size_t block, size_t begin, size_t end);
void fw_parallel_blocks(int n_threads, size_t n, size_t block_size, fw_block_fn fn, void *ctx);

/* Stops and joins the pool's worker threads (registered with atexit when the first worker starts;
 * may also be called from main). Does nothing when called from inside a pass or while another
 * thread's pass is running. A later pass starts the workers again. */
void fw_threads_shutdown(void);

#endif
