/* dist_mpi.c — owns the MPI side of dist.h (compiled into the MPI build only, `make MPI=1`):
 * initialisation when launched by mpirun, the collectives training uses, and ending the job so a
 * failed or killed rank never leaves the others waiting. */
#include "dist/dist.h"

#ifdef FW_MPI
#include <mpi.h>
#include <stdlib.h>

static bool g_active;
static int g_rank, g_size = 1;

/* mpirun (Open MPI), srun / PMI (MPICH, Slurm) and PMIx all leave one of these in a rank's
 * environment. */
static bool launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

void fw_dist_init(int *argc, char ***argv) {
    if (!launched_by_mpi()) return;
    int provided = 0;
    /* FUNNELED: worker threads compute, only the main thread talks to MPI */
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = true;
}

int fw_dist_finish(int rc) {
    if (!g_active) return rc;
    if (rc != 0 && g_size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    g_active = false;
    return rc;
}

bool fw_dist_active(void) { return g_active; }
int fw_dist_rank(void) { return g_rank; }
int fw_dist_size(void) { return g_active ? g_size : 1; }

void fw_dist_sum(double *v, size_t n) {
    if (!g_active || g_size == 1) return;
    while (n > 0) { /* counts are ints */
        int c = n > (1u << 30) ? (1 << 30) : (int)n;
        MPI_Allreduce(MPI_IN_PLACE, v, c, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        v += c;
        n -= (size_t)c;
    }
}

int fw_dist_bcast_int(int v) {
    if (!g_active || g_size == 1) return v;
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}

void fw_dist_allgather_u64(uint64_t v, uint64_t *all) {
    if (!g_active || g_size == 1) {
        all[0] = v;
        return;
    }
    MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
}

void fw_dist_bcast_bytes(void *buf, size_t n, int root) {
    if (!g_active || g_size == 1) return;
    for (char *p = buf; n > 0;) { /* counts are ints */
        int c = n > (1u << 30) ? (1 << 30) : (int)n;
        MPI_Bcast(p, c, MPI_BYTE, root, MPI_COMM_WORLD);
        p += c;
        n -= (size_t)c;
    }
}
#else
typedef int fw_dist_mpi_unused; /* the default build has no MPI: dist.h's inline forms */
#endif
