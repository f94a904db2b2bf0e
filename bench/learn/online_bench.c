/* online_bench.c — owns the online-learning speed benchmark's flywheel side (bench/learn/online.sh):
 * one online pass of the linear family's FTRL-proximal learner (the solver online learning in the
 * server uses) over the "eat-rate" data of Fwumious Wabbit's published VW benchmark: each row an
 * animal (1000 kinds, herbivore or carnivore) and a food (1000 kinds, plant or meat), label 1 when
 * a herbivore meets a plant or a carnivore meets meat; features: the animal, the food and their
 * interaction (one-hot, 3 non-zeros per row, 1,002,000 columns). It writes the rows (int32 animal,
 * food, label) to FILE for the Python peer, then times one pass (CPU time of this thread) with
 * batch=1 (one update per example, as VW) and batch=32 (the server's micro-batch), and the
 * progressive log loss of the pass.
 *
 *   online_bench N FILE  →  key=value lines */
#include "core/alloc.h"
#include "models/linear.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}


int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: online_bench N FILE\n");
        return 2;
    }
    size_t n = (size_t)atol(argv[1]);
    FILE *f = fopen(argv[2], "wb");
    if (!f) return 1;
    const uint32_t D = 2000 + 1000 * 1000;
    fw_matrix X;
    if (fw_matrix_alloc(&X, n, 0, D)) return 1;
    X.indices = fw_malloc(3 * n * sizeof(uint32_t));
    X.values = fw_malloc(3 * n * sizeof(float));
    X.nnz_cap = 3 * n;
    double *y = fw_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        int32_t a = (int32_t)(next_u32() % 1000), fd = (int32_t)(next_u32() % 1000);
        int herb = a < 500, plant = fd < 500;
        int32_t lab = herb == plant;
        int32_t rec[3] = {a, fd, lab};
        fwrite(rec, sizeof rec, 1, f);
        uint32_t c[3] = {(uint32_t)a, 1000u + (uint32_t)fd, 2000u + (uint32_t)a * 1000u + (uint32_t)fd};
        X.indptr[i] = 3 * i;
        for (int k = 0; k < 3; k++) {
            X.indices[3 * i + k] = c[k];
            X.values[3 * i + k] = 1.0f;
        }
        y[i] = lab;
    }
    X.indptr[n] = 3 * n;
    fclose(f);
    int batches[2] = {1, 32};
    for (int b = 0; b < 2; b++) {
        char p0[32], p1[32];
        snprintf(p0, sizeof p0, "batch=%d", batches[b]);
        snprintf(p1, sizeof p1, "epochs=1");
        const char *params[] = {"solver=ftrl", p0, p1, "lr=0.5", "l2=0"};
        fw_fit_options o;
        fw_fit_options_init(&o);
        o.params = params;
        o.n_params = 5;
        o.threads = 1;
        fw_train_data d = {.X = &X, .y = y, .task = FW_TASK_BINARY, .n_outputs = 1, .n_classes = 2};
        fw_model *m = NULL;
        fw_err err;
        double t0 = cpu_s();
        fw_status st = fw_model_fit("linear", &d, &o, &m, &err);
        double t1 = cpu_s();
        if (st) {
            fprintf(stderr, "fit: %s\n", err.msg);
            return 1;
        }
        /* the learned model's log loss on the first 100k rows (a sanity check of the pass) */
        size_t k = n < 100000 ? n : 100000;
        double *out = fw_malloc(k * sizeof(double)), ll = 0;
        fw_matrix Xk = X;
        Xk.n_rows = k;
        fw_model_predict_block(m, &Xk, 1, out);
        for (size_t i = 0; i < k; i++) {
            double p = y[i] > 0.5 ? out[i] : 1 - out[i];
            ll -= log(p > 1e-15 ? p : 1e-15);
        }
        printf("flywheel_batch%d_cpu_s=%.4f\nflywheel_batch%d_examples_per_cpu_s=%.0f\nflywheel_batch%d_log_loss=%.4f\n",
               batches[b], t1 - t0, batches[b], (double)n / (t1 - t0), batches[b], ll / (double)k);
        fw_free(out);
        fw_model_free(m);
    }
    fw_free(y);
    fw_matrix_free(&X);
    return 0;
}
