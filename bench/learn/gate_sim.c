/* gate_sim.c — the gate's false-promotion rate under a true null, by simulation (docs/LEARNING.md):
 * n held-out rows with y ~ Bernoulli(sigmoid(s)), two models that see s through independent noise of
 * the same size (equally good: no true difference), many seeds; the share of seeds the gate promotes
 * for each method (DeLong on roc_auc, paired losses on log_loss, paired bootstrap on f1), beside the
 * nominal (1 - confidence) / 2 = 2.5%. And the power: the share promoted when the challenger's noise
 * is smaller. Usage: gate_sim [SEEDS (2000)] [ROWS (500)] */
#include "core/rng.h"
#include "learn/gate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void make(uint64_t seed, size_t n, double na, double nb, double *y, double *a, double *b) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double s = fw_rng_normal(&r) * 1.5;
        y[i] = fw_rng_uniform(&r) < 1 / (1 + exp(-s)) ? 1 : 0;
        a[i] = 1 / (1 + exp(-(s + na * fw_rng_normal(&r))));
        b[i] = 1 / (1 + exp(-(s + nb * fw_rng_normal(&r))));
    }
}

int main(int argc, char **argv) {
    int seeds = argc > 1 ? atoi(argv[1]) : 2000;
    size_t n = argc > 2 ? (size_t)atoi(argv[2]) : 500;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    static const char *const metrics[] = {"roc_auc", "log_loss", "f1"};
    for (int m = 0; m < 3; m++) {
        int s_max = m == 2 ? seeds / 4 : seeds; /* the bootstrap is 1,000x the work */
        int null_promote = 0, power = 0;
        const char *method = "";
        for (int s = 0; s < s_max; s++) {
            fw_gate_options o;
            fw_gate_options_init(&o);
            o.metric = metrics[m];
            o.seed = (uint64_t)s;
            o.n_resamples = 500;
            fw_gate_result g;
            fw_err err;
            make((uint64_t)s + 1, n, 1.0, 1.0, y, a, b);
            if (fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err)) return 1;
            null_promote += g.decision == FW_GATE_PROMOTE;
            method = g.method;
            make((uint64_t)s + 1000003, n, 1.0, 0.6, y, a, b);
            if (fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err)) return 1;
            power += g.decision == FW_GATE_PROMOTE;
        }
        printf("%-9s %-16s %5d seeds x %zu rows: false promotions %4d = %.2f%% (nominal 2.5%%); "
               "promoted when better (noise 0.6 vs 1.0) %.1f%%\n",
               metrics[m], method, s_max, n, null_promote, 100.0 * null_promote / s_max, 100.0 * power / s_max);
    }
    free(y), free(a), free(b);
    return 0;
}
