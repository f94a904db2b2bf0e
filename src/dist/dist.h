/* dist.h — owns the process group a command runs in: one process (the default build, and any run
 * not launched by mpirun), or the ranks of an MPI job (`make MPI=1`, `mpirun -np N flywheel
 * train`). Training asks only: am I one of several ranks, which one, and sum / agree on these
 * values with the others. Without FW_MPI every function is an inline no-op the compiler removes:
 * the default binary neither links MPI nor pays a branch for it (docs/SCALING.md).
 *
 * Every collective must be reached by every rank in the same order: callers make sure the
 * decisions that lead to one (tree growth, rounds, early stopping) are the same on all ranks. */
#ifndef FW_DIST_DIST_H
#define FW_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef FW_MPI
/* Starts MPI when the process was launched by mpirun / srun (its environment says so), else
 * nothing. Errors are fatal on every rank (a dead peer aborts the job, never hangs it). */
void fw_dist_init(int *argc, char ***argv);
/* Ends the job: MPI_Finalize when rc is 0 (or one rank), MPI_Abort(rc) otherwise so ranks blocked
 * in a collective do not wait for the one that failed. Returns rc. */
int fw_dist_finish(int rc);
/* True inside an MPI job (any size, 1 too: so np = 1 trains exactly as np = N does). */
bool fw_dist_active(void);
int fw_dist_rank(void);
int fw_dist_size(void);
/* In-place sum over all ranks of n doubles (the caller keeps the sums exact: integer-valued
 * fixed-point values, so the order MPI adds them in cannot matter). */
void fw_dist_sum(double *v, size_t n);
/* Rank 0's value of v, on every rank (a clock-driven decision taken once for all). */
int fw_dist_bcast_int(int v);
/* all[q] = rank q's v, on every rank (all holds fw_dist_size() values). */
void fw_dist_allgather_u64(uint64_t v, uint64_t *all);
/* Rank root's n bytes at buf, into buf on every rank. */
void fw_dist_bcast_bytes(void *buf, size_t n, int root);
#else
static inline void fw_dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
static inline int fw_dist_finish(int rc) { return rc; }
static inline bool fw_dist_active(void) { return false; }
static inline int fw_dist_rank(void) { return 0; }
static inline int fw_dist_size(void) { return 1; }
static inline void fw_dist_sum(double *v, size_t n) {
    (void)v;
    (void)n;
}
static inline int fw_dist_bcast_int(int v) { return v; }
static inline void fw_dist_allgather_u64(uint64_t v, uint64_t *all) { all[0] = v; }
static inline void fw_dist_bcast_bytes(void *buf, size_t n, int root) {
    (void)buf;
    (void)n;
    (void)root;
}
#endif

/* Rows [*lo, *hi) of n that this rank owns: contiguous, in rank order, sizes differing by at most
 * one. */
static inline void fw_dist_shard(size_t n, size_t *lo, size_t *hi) {
    size_t r = (size_t)fw_dist_rank(), s = (size_t)fw_dist_size();
    *lo = n / s * r + (r < n % s ? r : n % s);
    *hi = *lo + n / s + (r < n % s);
}

#endif
