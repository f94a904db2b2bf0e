/* sim_srm.c — issue 19's SRM target for the sequential test (experiment/srm_seq.h) by simulation:
 *   sim_srm aa   SIMS UNITS CONC ALPHA SEED : A/A 50/50, the test read after EVERY unit (continuous
 *                                             peeking); prints the share ever rejected.
 *   sim_srm drop SIMS MAXUNITS DROP CONC ALPHA SEED : a share DROP of the treatment's exposures lost;
 *                                             prints the share caught within MAXUNITS and the median
 *                                             / 90th percentile of units (logged exposures) at the catch.
 * Statistical figures, not timings: the load average does not change them. */
#include "experiment/srm_seq.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t st;
static double unif(void) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return ((double)(st >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: sim_srm aa SIMS UNITS CONC ALPHA SEED | drop SIMS MAXUNITS DROP CONC ALPHA SEED\n");
        return 2;
    }
    double p0[2] = {0.5, 0.5};
    int sims = atoi(argv[2]);
    uint64_t units = strtoull(argv[3], NULL, 10);
    if (argv[1][0] == 'a') {
        double conc = atof(argv[4]), alpha = atof(argv[5]);
        st = strtoull(argv[6], NULL, 10) * 2654435761u + 1;
        int fa = 0;
        for (int k = 0; k < sims; k++) {
            fw_srm_seq t;
            fw_srm_seq_init(&t, 2, p0, conc, alpha);
            for (uint64_t i = 0; i < units && !t.rejected; i++) fw_srm_seq_add(&t, unif() < 0.5, 1);
            fa += t.rejected;
        }
        printf("srm_seq aa: %d A/A experiments x %llu units, read after every unit, c=%g alpha=%g: ever rejected %d = %.4f\n",
               sims, (unsigned long long)units, conc, alpha, fa, (double)fa / sims);
        return 0;
    }
    if (argc < 8) return 2;
    double drop = atof(argv[4]), conc = atof(argv[5]), alpha = atof(argv[6]);
    st = strtoull(argv[7], NULL, 10) * 2654435761u + 1;
    double share = 0.5 * (1 - drop) / (0.5 * (1 - drop) + 0.5); /* the treatment's share of logged exposures */
    uint64_t *at = calloc((size_t)sims, sizeof *at);
    int caught = 0;
    for (int k = 0; k < sims; k++) {
        fw_srm_seq t;
        fw_srm_seq_init(&t, 2, p0, conc, alpha);
        uint64_t i = 0;
        for (; i < units && !t.rejected; i++) fw_srm_seq_add(&t, unif() < share, 1);
        at[k] = t.rejected ? i : UINT64_MAX;
        caught += t.rejected;
    }
    qsort(at, (size_t)sims, sizeof *at, cmp);
    printf("srm_seq drop %.3f: %d experiments, max %llu units, c=%g alpha=%g: caught %d = %.3f; units at the catch: median %s%llu, p90 %s%llu\n",
           drop, sims, (unsigned long long)units, conc, alpha, caught, (double)caught / sims,
           at[sims / 2] == UINT64_MAX ? ">" : "", (unsigned long long)(at[sims / 2] == UINT64_MAX ? units : at[sims / 2]),
           at[sims * 9 / 10] == UINT64_MAX ? ">" : "",
           (unsigned long long)(at[sims * 9 / 10] == UINT64_MAX ? units : at[sims * 9 / 10]));
    free(at);
    return 0;
}
