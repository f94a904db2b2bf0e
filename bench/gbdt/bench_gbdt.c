/* bench_gbdt.c — the flywheel side of the gbdt benchmark (bench/gbdt/run.sh runs it next to
 * peer_xgboost.py). Two modes:
 *   bench_gbdt prep OUTDIR TRAIN.csv[.gz] LABEL [TEST.csv[.gz]] [binary|multiclass|regression]
 *       loads with the real loader (data/load.h), encodes categoricals as ordinal codes (first
 *       appearance order) and the label (binary: sorted class names, index 1 positive; multiclass:
 *       sorted names; regression: the value), splits 80/20 with a fixed seed unless a test file is
 *       given, and writes OUTDIR/{train,test}.bin: i64 n, i64 d, f64 y[n], f32 X[n*d] (native
 *       little-endian), which both sides read, so they see the same bytes.
 *   bench_gbdt synth OUTDIR N D          generated binary set (seeded), same files.
 *   bench_gbdt fit OUTDIR TASK [key=value ...]
 *       trains (100 trees, depth 6, lr 0.3 unless overridden), prints train seconds, the test
 *       metric, batch throughput (2 threads, then 1 thread), single-row latency and an xxh64 of
 *       the batch scores as key=value lines, each also measured in CPU seconds (*_cpu_* keys:
 *       busy-machine-proof; the 1-thread figure in the thread's own CPU time). */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/rng.h"
#include "data/load.h"
#include "models/gbdt_int.h" /* FW_GBDT_PHASES=1: per-phase wall/CPU of the fit, printed with CPU/wall */
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

/* CPU seconds of the whole process (all threads): on a shared machine this is the steadier
 * figure; the wall times are printed as well. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* model.c refers to the families weakly; a static link pulls gbdt in only when named. */
extern const fw_model_vtable fw_gbdt_vtable;
/* The trainer's "pass worth threads" bar (models/gbdt_int.h); FW_GBDT_PARALLEL_MIN_NS overrides
 * it here to measure other settings (the model bytes do not depend on it). */
extern double fw__gbdt_parallel_min_ns;

static void die(const char *msg) {
    fprintf(stderr, "bench_gbdt: %s\n", msg);
    exit(1);
}

static void write_bin(const char *path, size_t n, size_t d, const double *y, const float *X) {
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write output");
    int64_t h[2] = {(int64_t)n, (int64_t)d};
    fwrite(h, sizeof h, 1, f);
    fwrite(y, sizeof(double), n, f);
    fwrite(X, sizeof(float), n * d, f);
    fclose(f);
}

static void read_bin(const char *path, fw_matrix *X, double **y) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read input (run prep first)");
    int64_t h[2];
    if (fread(h, sizeof h, 1, f) != 1) die("short file");
    if (fw_matrix_alloc(X, (size_t)h[0], (size_t)h[1], 0)) die("oom");
    *y = fw_malloc((size_t)h[0] * sizeof(double));
    if (fread(*y, sizeof(double), (size_t)h[0], f) != (size_t)h[0] ||
        fread(X->dense, sizeof(float), (size_t)(h[0] * h[1]), f) != (size_t)(h[0] * h[1]))
        die("short file");
    fclose(f);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Encodes dataset ds into X (all columns but the label) and y. Label classes: sorted names. */
static void encode(const fw_dataset *ds, int label, const char *task, char ***classes,
                   size_t *n_classes, float **X, double **y, size_t *d_out) {
    size_t n = ds->n_rows, d = ds->n_cols - 1;
    *X = fw_malloc(n * d * sizeof(float));
    *y = fw_malloc(n * sizeof(double));
    const fw_column *lc = &ds->cols[label];
    if (strcmp(task, "regression") != 0 && lc->type == FW_COL_NUMERIC) {
        /* numeric class labels (fashion_mnist): used as the class index */
        for (size_t r = 0; r < n; r++) {
            double v = lc->num[r];
            if (!(v >= 0) || v != floor(v)) die("numeric class label must be an index >= 0");
            (*y)[r] = v;
            if ((size_t)v + 1 > *n_classes) *n_classes = (size_t)v + 1;
        }
    } else if (strcmp(task, "regression") != 0) {
        if (!*classes) {
            size_t k = fw_dict_size(&lc->dict);
            char **names = fw_malloc(k * sizeof(char *));
            for (size_t i = 0; i < k; i++) names[i] = (char *)fw_dict_str(&lc->dict, (int32_t)i);
            qsort(names, k, sizeof(char *), cmp_str);
            *classes = names;
            *n_classes = k;
        }
        for (size_t r = 0; r < n; r++) {
            const char *s = fw_dataset_str(ds, (size_t)label, r);
            double v = -1;
            for (size_t c = 0; s && c < *n_classes; c++)
                if (strcmp((*classes)[c], s) == 0) v = (double)c;
            if (v < 0) die("label value not in the training classes");
            (*y)[r] = v;
        }
    } else {
        for (size_t r = 0; r < n; r++) (*y)[r] = lc->num[r];
    }
    size_t j = 0;
    for (size_t c = 0; c < ds->n_cols; c++) {
        if ((int)c == label) continue;
        const fw_column *col = &ds->cols[c];
        for (size_t r = 0; r < n; r++) {
            float v;
            if (col->num)
                v = (float)col->num[r];
            else
                v = col->code[r] < 0 ? NAN : (float)col->code[r];
            (*X)[r * d + j] = v;
        }
        j++;
    }
    *d_out = d;
}

static fw_dataset *load(const char *path) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    fw_dataset *ds;
    fw_err err;
    if (fw_data_load(path, &o, &ds, NULL, &err)) {
        fprintf(stderr, "bench_gbdt: %s\n", err.msg);
        exit(1);
    }
    return ds;
}

static int prep(int argc, char **argv) {
    if (argc < 5) die("usage: prep OUTDIR TRAIN LABEL [TEST|-] [TASK]");
    const char *out = argv[2], *task = argc > 6 ? argv[6] : "binary";
    const char *test = argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL;
    fw_dataset *ds = load(argv[3]);
    int label = fw_dataset_find(ds, argv[4]);
    if (label < 0) die("no such label column");
    char **classes = NULL;
    size_t k = 0, d;
    float *X;
    double *y;
    encode(ds, label, task, &classes, &k, &X, &y, &d);
    char path[4096];
    if (test) {
        snprintf(path, sizeof path, "%s/train.bin", out);
        write_bin(path, ds->n_rows, d, y, X);
        fw_dataset *dt = load(test);
        int lt = fw_dataset_find(dt, argv[4]);
        float *Xt;
        double *yt;
        size_t dt_d;
        /* categorical codes must agree: this mode is for numeric features only */
        encode(dt, lt, task, &classes, &k, &Xt, &yt, &dt_d);
        snprintf(path, sizeof path, "%s/test.bin", out);
        write_bin(path, dt->n_rows, dt_d, yt, Xt);
        printf("prep rows_train=%zu rows_test=%zu features=%zu classes=%zu\n", ds->n_rows,
               dt->n_rows, d, k);
        return 0;
    }
    size_t n = ds->n_rows;
    uint32_t *perm = fw_malloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    fw_rng r;
    fw_rng_seed(&r, 42);
    fw_rng_shuffle_u32(&r, perm, n);
    size_t nt = n / 5, ntr = n - nt;
    float *Xa = fw_malloc(ntr * d * sizeof(float)), *Xb = fw_malloc(nt * d * sizeof(float));
    double *ya = fw_malloc(ntr * sizeof(double)), *yb = fw_malloc(nt * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        size_t src = perm[i];
        if (i < ntr) {
            memcpy(Xa + i * d, X + src * d, d * sizeof(float));
            ya[i] = y[src];
        } else {
            memcpy(Xb + (i - ntr) * d, X + src * d, d * sizeof(float));
            yb[i - ntr] = y[src];
        }
    }
    snprintf(path, sizeof path, "%s/train.bin", out);
    write_bin(path, ntr, d, ya, Xa);
    snprintf(path, sizeof path, "%s/test.bin", out);
    write_bin(path, nt, d, yb, Xb);
    printf("prep rows_train=%zu rows_test=%zu features=%zu classes=%zu\n", ntr, nt, d, k);
    return 0;
}

static int synth(int argc, char **argv) {
    if (argc < 5) die("usage: synth OUTDIR N D");
    size_t n = strtoull(argv[3], NULL, 10), d = strtoull(argv[4], NULL, 10);
    fw_rng r;
    fw_rng_seed(&r, 7);
    double *w = fw_malloc(d * sizeof(double));
    for (size_t j = 0; j < d; j++) w[j] = j < 10 ? fw_rng_normal(&r) : 0.1 * fw_rng_normal(&r);
    char path[4096];
    for (int part = 0; part < 2; part++) {
        size_t m = part == 0 ? n : n / 4;
        float *X = fw_malloc(m * d * sizeof(float));
        double *y = fw_malloc(m * sizeof(double));
        for (size_t i = 0; i < m; i++) {
            float *x = X + i * d;
            double s = 0;
            for (size_t j = 0; j < d; j++) {
                x[j] = (float)fw_rng_normal(&r);
                s += w[j] * x[j];
            }
            s += 1.5 * x[0] * x[1] - fabs(x[2]) + sin(3 * x[3]) + fw_rng_normal(&r);
            y[i] = s > 0;
        }
        snprintf(path, sizeof path, "%s/%s.bin", argv[2], part == 0 ? "train" : "test");
        write_bin(path, m, d, y, X);
        fw_free(X);
        fw_free(y);
    }
    printf("synth rows_train=%zu rows_test=%zu features=%zu\n", n, n / 4, d);
    return 0;
}

static int cmp_first(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ROC AUC by the rank-sum formula (ties get the average rank). */
static double auc(const double *p, const double *y, size_t n) {
    double *pairs = fw_malloc(2 * n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = p[i];
        pairs[2 * i + 1] = y[i];
    }
    qsort(pairs, n, 2 * sizeof(double), cmp_first);
    double rank_sum = 0, npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && pairs[2 * j] == pairs[2 * i]) j++;
        double avg = (double)(i + j + 1) / 2.0;
        for (size_t k = i; k < j; k++)
            if (pairs[2 * k + 1] > 0.5) {
                rank_sum += avg;
                npos++;
            }
        i = j;
    }
    fw_free(pairs);
    double nneg = (double)n - npos;
    return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

static int fit(int argc, char **argv) {
    if (argc < 4) die("usage: fit OUTDIR TASK [key=value ...]");
    char path[4096];
    fw_matrix Xtr, Xte;
    double *ytr, *yte;
    snprintf(path, sizeof path, "%s/train.bin", argv[2]);
    read_bin(path, &Xtr, &ytr);
    snprintf(path, sizeof path, "%s/test.bin", argv[2]);
    read_bin(path, &Xte, &yte);
    const char *task = argv[3];
    fw_train_data td = {0};
    td.X = &Xtr;
    td.y = ytr;
    size_t K = 1;
    if (strcmp(task, "binary") == 0) {
        td.task = FW_TASK_BINARY;
        td.n_classes = 2;
    } else if (strcmp(task, "multiclass") == 0) {
        td.task = FW_TASK_MULTICLASS;
        double mx = 0;
        for (size_t i = 0; i < Xtr.n_rows; i++)
            if (ytr[i] > mx) mx = ytr[i];
        K = (size_t)mx + 1;
        td.n_classes = K;
    } else {
        td.task = FW_TASK_REGRESSION;
    }
    td.n_outputs = K;
    /* FW_GBDT_LEVELS=0: depthwise trees grown a node at a time (the same trees; for comparing
     * the two schedules) */
    const char *lv = getenv("FW_GBDT_LEVELS");
    if (lv) fw__gbdt_levels = atoi(lv) != 0;
    const char *pmin = getenv("FW_GBDT_PARALLEL_MIN_NS");
    if (pmin) fw__gbdt_parallel_min_ns = atof(pmin);
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = getenv("FW_GBDT_THREADS") ? atoi(getenv("FW_GBDT_THREADS")) : 2; /* the fit's */
    o.params = (const char *const *)(argv + 4);
    o.n_params = (size_t)(argc - 4);
    fw_model *m = NULL;
    fw_err err;
    static fw__gbdt_phases ph;
    if (getenv("FW_GBDT_PHASES")) fw__gbdt_phase_stats = &ph;
    double t0 = fw_now_seconds(), c0 = cpu_now();
    if (fw_gbdt_vtable.fit(&td, &o, &m, &err)) die(err.msg);
    fw__gbdt_phase_stats = NULL;
    double fit_s = fw_now_seconds() - t0, fit_cpu = cpu_now() - c0;
    size_t n = Xte.n_rows;
    double *p = fw_malloc(n * K * sizeof(double));
    double best = 1e30, best_cpu = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        t0 = fw_now_seconds();
        c0 = cpu_now();
        if (fw_model_predict_block(m, &Xte, 2, p)) die("predict failed");
        double s = fw_now_seconds() - t0, c = cpu_now() - c0;
        if (s < best) best = s;
        if (c < best_cpu) best_cpu = c;
    }
    /* the same with one thread (thread CPU time: what one core does, load or not) */
    double best1 = 1e30, best1_cpu = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        struct timespec a, b2;
        t0 = fw_now_seconds();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        if (fw_model_predict_block(m, &Xte, 1, p)) die("predict failed");
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b2);
        double s = fw_now_seconds() - t0;
        double c = (double)(b2.tv_sec - a.tv_sec) + 1e-9 * (double)(b2.tv_nsec - a.tv_nsec);
        if (s < best1) best1 = s;
        if (c < best1_cpu) best1_cpu = c;
    }
    unsigned long long pred_hash = XXH64(p, n * K * sizeof(double), 0);
    /* single row: in-process, one thread, scratch reused */
    void *scratch = fw_malloc(fw_model_scratch_size(m));
    double out[64];
    size_t reps = n < 20000 ? n : 20000;
    double lat = 1e30, lat_cpu = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        t0 = fw_now_seconds();
        c0 = cpu_now();
        for (size_t i = 0; i < reps; i++) {
            fw_row row = fw_matrix_row(&Xte, i);
            fw_model_predict_row(m, &row, scratch, out);
        }
        double s = (fw_now_seconds() - t0) / (double)reps, c = (cpu_now() - c0) / (double)reps;
        if (s < lat) lat = s;
        if (c < lat_cpu) lat_cpu = c;
    }
    printf("flywheel_train_s=%.4f\nflywheel_train_cpu_s=%.4f\n", fit_s, fit_cpu);
    if (getenv("FW_GBDT_PHASES"))
        for (int i = 0; i < FW_GBDT_N_PH; i++)
            printf("flywheel_phase_%s=%.4f/%.4f busy=%.2f\n", fw__gbdt_phase_name(i), ph.wall[i], ph.cpu[i],
                   ph.wall[i] > 0 ? ph.cpu[i] / ph.wall[i] : 0.0);
    if (td.task == FW_TASK_BINARY) {
        double ll = 0;
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
            double q = p[i] < 1e-15 ? 1e-15 : p[i] > 1 - 1e-15 ? 1 - 1e-15 : p[i];
            ll -= yte[i] > 0.5 ? log(q) : log(1 - q);
            ok += (p[i] > 0.5) == (yte[i] > 0.5);
        }
        printf("flywheel_metric_auc=%.6f\nflywheel_logloss=%.6f\nflywheel_accuracy=%.6f\n",
               auc(p, yte, n), ll / n, (double)ok / n);
    } else if (td.task == FW_TASK_MULTICLASS) {
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
            size_t b = 0;
            for (size_t k = 1; k < K; k++)
                if (p[i * K + k] > p[i * K + b]) b = k;
            ok += b == (size_t)yte[i];
        }
        printf("flywheel_metric_accuracy=%.6f\n", (double)ok / n);
    } else {
        double se = 0;
        for (size_t i = 0; i < n; i++) se += (p[i] - yte[i]) * (p[i] - yte[i]);
        printf("flywheel_metric_rmse=%.6f\n", sqrt(se / n));
    }
    printf("flywheel_predict_rows_per_s=%.0f\nflywheel_predict_rows_per_cpu_s=%.0f\n"
           "flywheel_single_row_us=%.3f\nflywheel_single_row_cpu_us=%.3f\n",
           n / best, n / best_cpu, lat * 1e6, lat_cpu * 1e6);
    printf("flywheel_predict_1thread_rows_per_s=%.0f\nflywheel_predict_1thread_rows_per_cpu_s=%.0f\n"
           "flywheel_predict_xxh64=%016llx\n",
           n / best1, n / best1_cpu, pred_hash);
    fw_buf b;
    fw_buf_init(&b);
    if (m->vt->save(m, &b)) die("save failed");
    double load_s = 1e30;
    for (int rep = 0; rep < 20; rep++) {
        fw_model *l = NULL;
        t0 = fw_now_seconds();
        if (m->vt->load(b.data, b.len, &l, &err)) die(err.msg);
        double s = fw_now_seconds() - t0;
        if (s < load_s) load_s = s;
        fw_model_free(l);
    }
    printf("flywheel_model_bytes=%zu\nflywheel_load_us=%.1f\n", b.len, load_s * 1e6);
    b.len = 0;
    m->vt->params_json(m, &b);
    printf("flywheel_params=%.*s\n", (int)b.len, (const char *)b.data);
    fw_buf_free(&b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: bench_gbdt prep|synth|fit ...");
    if (strcmp(argv[1], "prep") == 0) return prep(argc, argv);
    if (strcmp(argv[1], "synth") == 0) return synth(argc, argv);
    if (strcmp(argv[1], "fit") == 0) return fit(argc, argv);
    die("unknown mode");
    return 1;
}
