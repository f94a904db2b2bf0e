/* bench_linear.c — owns the linear-family benchmark driver: loads spam.csv (small numeric CSV
 * reader, last column the label), a multiclass CSV whose first column is the class 0..K-1
 * (Fashion-MNIST) or generates an n x d logistic data set, splits 80/20 with a fixed seed,
 * standardizes with training statistics, writes the same split in libsvm format for liblinear,
 * fits flywheel's logistic regression (multinomial for the multiclass file) and prints key=value
 * lines (time, accuracy, an xxh64 of the saved model bytes).
 *
 *   bench_linear spam CSV OUTDIR [key=value ...]
 *   bench_linear multiclass CSV OUTDIR [key=value ...]
 *   bench_linear synth N D OUTDIR [key=value ...]
 * Default params: C=1 (liblinear's default objective, see linear.h) unless C= or l2= is given,
 * threads=0 (all cores). */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/rng.h"
#include "models/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* label_first: the first column is the class number (multiclass); else the last column is the
 * spam/nonspam label. */
static int load_csv(const char *path, int label_first, float **Xo, double **yo, size_t *n,
                    size_t *d) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, f) < 0) return -1;
    size_t cols = 1;
    for (char *p = line; *p; p++) cols += *p == ',';
    *d = cols - 1;
    size_t rc = 0, rn = 0;
    float *X = NULL;
    double *y = NULL;
    while (getline(&line, &cap, f) > 0) {
        if (rn == rc) {
            rc = rc ? 2 * rc : 1024;
            X = realloc(X, rc * *d * sizeof(float));
            y = realloc(y, rc * sizeof(double));
        }
        char *p = line;
        if (label_first) {
            y[rn] = strtod(p, &p);
            if (*p == ',') p++;
        }
        for (size_t j = 0; j < *d; j++) {
            X[rn * *d + j] = strtof(p, &p);
            if (*p == ',') p++;
        }
        if (!label_first) y[rn] = strncmp(p, "spam", 4) == 0;
        rn++;
    }
    free(line);
    fclose(f);
    *Xo = X;
    *yo = y;
    *n = rn;
    return 0;
}

static int multiclass_labels;

static void write_svm(const char *path, const fw_matrix *X, const double *y) {
    FILE *f = fopen(path, "w");
    static char buf[1 << 16];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    for (size_t i = 0; i < X->n_rows; i++) {
        if (multiclass_labels)
            fprintf(f, "%d", (int)y[i]);
        else
            fprintf(f, "%d", y[i] > 0.5 ? 1 : -1);
        for (size_t j = 0; j < X->n_dense; j++) {
            float v = X->dense[i * X->n_dense + j];
            if (v != 0) fprintf(f, " %zu:%.7g", j + 1, v);
        }
        fputc('\n', f);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_linear spam|multiclass CSV OUTDIR [k=v...] | synth N D OUTDIR [k=v...]\n");
        return 2;
    }
    float *X0 = NULL;
    double *y0 = NULL;
    size_t n = 0, d = 0;
    const char *outdir;
    int argi;
    fw_rng r;
    fw_rng_seed(&r, 20261123);
    double t_gen = fw_now_seconds();
    int multiclass = !strcmp(argv[1], "multiclass");
    if (!strcmp(argv[1], "spam") || multiclass) {
        if (load_csv(argv[2], multiclass, &X0, &y0, &n, &d)) {
            fprintf(stderr, "cannot read %s\n", argv[2]);
            return 1;
        }
        outdir = argv[3];
        argi = 4;
    } else {
        if (argc < 5) return 2;
        n = strtoul(argv[2], NULL, 10);
        d = strtoul(argv[3], NULL, 10);
        outdir = argv[4];
        argi = 5;
        X0 = malloc(n * d * sizeof(float));
        y0 = malloc(n * sizeof(double));
        double *wt = malloc(d * sizeof(double));
        for (size_t j = 0; j < d; j++) wt[j] = fw_rng_normal(&r) * 0.5;
        for (size_t i = 0; i < n; i++) {
            double z = 0.1;
            for (size_t j = 0; j < d; j++) {
                float v = (float)fw_rng_normal(&r);
                X0[i * d + j] = v;
                z += wt[j] * v;
            }
            y0[i] = fw_rng_uniform(&r) < 1 / (1 + exp(-z));
        }
        free(wt);
    }
    t_gen = fw_now_seconds() - t_gen;
    size_t n_classes = 2;
    if (multiclass) {
        multiclass_labels = 1;
        for (size_t i = 0; i < n; i++)
            if ((size_t)y0[i] + 1 > n_classes) n_classes = (size_t)y0[i] + 1;
    }
    /* 80/20 split with a fixed seed; standardize with training mean/std */
    uint32_t *perm = malloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    fw_rng_shuffle_u32(&r, perm, n);
    size_t ntr = n * 8 / 10, nte = n - ntr;
    fw_matrix Xtr, Xte;
    fw_matrix_alloc(&Xtr, ntr, d, 0);
    fw_matrix_alloc(&Xte, nte, d, 0);
    double *ytr = malloc(ntr * 8), *yte = malloc(nte * 8);
    double *mu = calloc(d, 8), *sd = calloc(d, 8);
    for (size_t i = 0; i < ntr; i++)
        for (size_t j = 0; j < d; j++) mu[j] += X0[(size_t)perm[i] * d + j];
    for (size_t j = 0; j < d; j++) mu[j] /= (double)ntr;
    for (size_t i = 0; i < ntr; i++)
        for (size_t j = 0; j < d; j++) {
            double v = X0[(size_t)perm[i] * d + j] - mu[j];
            sd[j] += v * v;
        }
    for (size_t j = 0; j < d; j++) {
        sd[j] = sqrt(sd[j] / (double)ntr);
        if (sd[j] == 0) sd[j] = 1;
    }
    for (size_t i = 0; i < n; i++) {
        fw_matrix *M = i < ntr ? &Xtr : &Xte;
        size_t row = i < ntr ? i : i - ntr;
        for (size_t j = 0; j < d; j++)
            M->dense[row * d + j] = (float)((X0[(size_t)perm[i] * d + j] - mu[j]) / sd[j]);
        (i < ntr ? ytr : yte)[row] = y0[perm[i]];
    }
    free(X0);
    char path[4096];
    snprintf(path, sizeof path, "%s/train.svm", outdir);
    write_svm(path, &Xtr, ytr);
    snprintf(path, sizeof path, "%s/test.svm", outdir);
    write_svm(path, &Xte, yte);

    const char *params[16];
    size_t np = 0;
    /* C=1 (liblinear's objective) unless the command line gives C or l2 */
    int own_c = 0;
    for (int a = argi; a < argc; a++)
        own_c |= !strncmp(argv[a], "C=", 2) || !strncmp(argv[a], "l2=", 3);
    if (!own_c) params[np++] = "C=1";
    int threads = 0;
    for (int a = argi; a < argc && np < 15; a++) {
        if (!strncmp(argv[a], "threads=", 8)) threads = atoi(argv[a] + 8);
        else params[np++] = argv[a];
    }
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = threads;
    o.params = params;
    o.n_params = np;
    fw_train_data td = {.X = &Xtr, .y = ytr, .task = FW_TASK_BINARY, .n_outputs = 1, .n_classes = 2};
    if (multiclass) {
        td.task = FW_TASK_MULTICLASS;
        td.n_outputs = n_classes;
        td.n_classes = n_classes;
    }
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    double t0 = fw_now_seconds();
    /* direct reference: model.c refers to families weakly, which does not pull them from a .a */
    fw_status st = fw_linear_vtable.fit(&td, &o, &m, &err);
    double t_fit = fw_now_seconds() - t0;
    if (st) {
        fprintf(stderr, "fit: %s\n", err.msg);
        return 1;
    }
    double *p = malloc(nte * td.n_outputs * 8);
    fw_model_predict_block(m, &Xte, 0, p);
    size_t right = 0;
    for (size_t i = 0; i < nte; i++) {
        if (multiclass) {
            size_t best = 0;
            for (size_t k = 1; k < td.n_outputs; k++)
                if (p[i * td.n_outputs + k] > p[i * td.n_outputs + best]) best = k;
            right += best == (size_t)yte[i];
        } else {
            right += (p[i] > 0.5) == (yte[i] > 0.5);
        }
    }
    fw_buf saved;
    fw_buf_init(&saved);
    fw_model_save(m, &saved);
    unsigned long long model_hash = XXH64(saved.data, saved.len, 0);
    fw_buf_free(&saved);
    fw_buf js;
    fw_buf_init(&js);
    m->vt->params_json(m, &js);
    printf("rows_train=%zu rows_test=%zu features=%zu\n", ntr, nte, d);
    printf("flywheel_fit_s=%.3f\n", t_fit);
    printf("flywheel_accuracy=%.4f\n", (double)right / (double)nte);
    printf("flywheel_params=%.*s\n", (int)js.len, (const char *)js.data);
    printf("flywheel_model_xxh64=%016llx\n", model_hash);
    fw_buf_free(&js);
    fw_model_free(m);
    fw_matrix_free(&Xtr);
    fw_matrix_free(&Xte);
    free(p);
    free(ytr);
    free(yte);
    free(y0);
    free(perm);
    free(mu);
    free(sd);
    return 0;
}
