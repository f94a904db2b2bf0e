/* test_linear.c — tests for the linear family (src/models/linear*.c) on generated data: closed
 * forms (Newton for logistic, normal equations for least squares), L1 sparsity, softmax,
 * multilabel, robust losses, online FTRL and its continuation from an L-BFGS model, determinism
 * across thread counts, save/load, row/block agreement, sparse features and bad input. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/linear_int.h" /* fw__linear_simd */
#include "test.h"

#include <stdlib.h>

static fw_model *fit(fw_task task, size_t n_out, size_t ncls, const fw_matrix *X, const double *y,
                     const double *w, int threads, const char **params, size_t np, fw_err *err) {
    fw_train_data d = {.X = X, .y = y, .weight = w, .task = task, .n_outputs = n_out,
                       .n_classes = ncls};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = threads;
    o.params = params;
    o.n_params = np;
    fw_model *m = NULL;
    fw_err_clear(err);
    fw_status st = fw_model_fit("linear", &d, &o, &m, err);
    if (st) return NULL;
    return m;
}

/* Dense gaussian features; optional sparse part with `per_row` random entries in [0, dim). */
static void make_X(fw_matrix *X, size_t n, size_t nd, uint32_t dim, size_t per_row, uint64_t seed) {
    CHECK_OK(fw_matrix_alloc(X, n, nd, dim));
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n * nd; i++) X->dense[i] = (float)fw_rng_normal(&r);
    if (dim) {
        X->indices = fw_malloc(n * per_row * sizeof(uint32_t) + 4);
        X->values = fw_malloc(n * per_row * sizeof(float) + 4);
        X->nnz_cap = n * per_row;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t base = (uint32_t)fw_rng_below(&r, dim / per_row);
            for (size_t q = 0; q < per_row; q++) { /* sorted, unique: one per stripe */
                X->indices[at] = (uint32_t)(q * (dim / per_row)) + base;
                X->values[at] = 1.0f;
                at++;
            }
            X->indptr[i + 1] = at;
        }
    }
}

static double logit_label(fw_rng *r, double z) { return fw_rng_uniform(r) < 1 / (1 + exp(-z)); }

/* Solves A x = b (n x n, row-major) by Gaussian elimination with partial pivoting. */
static void solve(double *A, double *b, size_t n) {
    for (size_t c = 0; c < n; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[p * n + c])) p = r;
        for (size_t k = 0; k < n; k++) {
            double t = A[c * n + k];
            A[c * n + k] = A[p * n + k];
            A[p * n + k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (size_t r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (size_t k = c; k < n; k++) A[r * n + k] -= f * A[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (size_t c = n; c-- > 0;) {
        for (size_t k = c + 1; k < n; k++) b[c] -= A[c * n + k] * b[k];
        b[c] /= A[c * n + c];
    }
}

static void explain_margin(const fw_model *m, const fw_matrix *X, size_t i, double *margin) {
    size_t no = m->n_outputs;
    double *c = fw_malloc((m->n_dense + 1) * no * sizeof(double));
    fw_row r = fw_matrix_row(X, i);
    CHECK_OK(m->vt->explain_row(m, &r, NULL, c));
    for (size_t k = 0; k < no; k++) {
        margin[k] = 0;
        for (size_t j = 0; j <= m->n_dense; j++) margin[k] += c[j * no + k];
    }
    fw_free(c);
}

static void test_logistic_matches_newton(void) {
    size_t n = 3000, nd = 3;
    fw_matrix X;
    make_X(&X, n, nd, 0, 0, 1);
    double *y = fw_malloc(n * sizeof(double));
    fw_rng r;
    fw_rng_seed(&r, 2);
    const double wt[3] = {1.0, -2.0, 0.5}, bt = 0.3;
    for (size_t i = 0; i < n; i++) {
        double z = bt;
        for (size_t j = 0; j < nd; j++) z += wt[j] * X.dense[i * nd + j];
        y[i] = logit_label(&r, z);
    }
    const double l2 = 1e-3;
    const char *params[] = {"l2=0.001", "tol=1e-10", "max_iter=1000"};
    fw_err err;
    fw_model *m = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 2, params, 3, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (!m) goto out;
    /* Newton's method on the same objective: mean log-loss + l2/2 ||w||², intercept free. */
    double beta[4] = {0}, H[16], g[4];
    for (int it = 0; it < 30; it++) {
        memset(H, 0, sizeof H);
        memset(g, 0, sizeof g);
        for (size_t i = 0; i < n; i++) {
            double xi[4] = {1, X.dense[i * 3], X.dense[i * 3 + 1], X.dense[i * 3 + 2]};
            double z = 0;
            for (int j = 0; j < 4; j++) z += beta[j] * xi[j];
            double p = 1 / (1 + exp(-z));
            for (int a = 0; a < 4; a++) {
                g[a] += (p - y[i]) * xi[a] / (double)n;
                for (int b = 0; b < 4; b++) H[a * 4 + b] += p * (1 - p) * xi[a] * xi[b] / (double)n;
            }
        }
        for (int j = 1; j < 4; j++) {
            g[j] += l2 * beta[j];
            H[j * 4 + j] += l2;
        }
        solve(H, g, 4);
        for (int j = 0; j < 4; j++) beta[j] -= g[j];
    }
    /* compare through explanations: contributions are w_j x_j, last row the intercept */
    fw_matrix U;
    CHECK_OK(fw_matrix_alloc(&U, 1, 3, 0));
    for (int j = 0; j < 3; j++) {
        memset(U.dense, 0, 3 * sizeof(float));
        U.dense[j] = 1.0f;
        double c[4];
        fw_row row = fw_matrix_row(&U, 0);
        CHECK_OK(m->vt->explain_row(m, &row, NULL, c));
        CHECK_NEAR(c[j], beta[j + 1], 1e-5);
        CHECK_NEAR(c[3], beta[0], 1e-5);
        CHECK_NEAR(c[j], wt[j], 0.25); /* and near the generating weights */
    }
    fw_matrix_free(&U);
    /* explain sums to the margin */
    double p, mg;
    fw_row r0 = fw_matrix_row(&X, 5);
    CHECK_OK(fw_model_predict_row(m, &r0, NULL, &p));
    explain_margin(m, &X, 5, &mg);
    CHECK_NEAR(1 / (1 + exp(-mg)), p, 1e-12);
    double imp[3];
    CHECK_OK(m->vt->importance(m, imp));
    CHECK(imp[1] > imp[0] && imp[0] > imp[2] && imp[2] > 0);
    fw_model_free(m);
out:
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_l1_exact_zeros(void) {
    size_t n = 2000, nd = 10;
    fw_matrix X;
    make_X(&X, n, nd, 0, 0, 3);
    double *y = fw_malloc(n * sizeof(double));
    fw_rng r;
    fw_rng_seed(&r, 4);
    for (size_t i = 0; i < n; i++) y[i] = logit_label(&r, 2 * X.dense[i * nd] - 1.5 * X.dense[i * nd + 1]);
    const char *params[] = {"l1=0.02", "l2=0"};
    fw_err err;
    fw_model *m = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 2, params, 2, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        double imp[10];
        CHECK_OK(m->vt->importance(m, imp));
        CHECK(imp[0] > 0.5 && imp[1] > 0.5);
        int zeros = 0;
        for (int j = 2; j < 10; j++) zeros += imp[j] == 0.0;
        CHECK_MSG(zeros >= 7, "only %d of 8 noise weights are exactly zero", zeros);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_softmax_accuracy(void) {
    size_t n = 3000, nd = 4, K = 3;
    fw_matrix X;
    make_X(&X, n, nd, 0, 0, 5);
    double *y = fw_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        y[i] = (double)(i % K);
        X.dense[i * nd + (i % K)] += 3.0f; /* class c shifts feature c */
    }
    fw_err err;
    fw_model *m = fit(FW_TASK_MULTICLASS, K, K, &X, y, NULL, 2, NULL, 0, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        double *P = fw_malloc(n * K * sizeof(double));
        CHECK_OK(fw_model_predict_block(m, &X, 2, P));
        size_t right = 0;
        for (size_t i = 0; i < n; i++) {
            size_t best = 0;
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                s += P[i * K + k];
                if (P[i * K + k] > P[i * K + best]) best = k;
            }
            CHECK_NEAR(s, 1.0, 1e-12);
            right += best == (size_t)y[i];
        }
        CHECK_MSG(right > 0.9 * n, "softmax accuracy %zu/%zu", right, n);
        double mg[3], pr[3];
        explain_margin(m, &X, 7, mg);
        fw_row r7 = fw_matrix_row(&X, 7);
        CHECK_OK(fw_model_predict_row(m, &r7, NULL, pr));
        double mx = fmax(mg[0], fmax(mg[1], mg[2])), z = 0;
        for (int k = 0; k < 3; k++) z += exp(mg[k] - mx);
        CHECK_NEAR(exp(mg[1] - mx) / z, pr[1], 1e-12);
        fw_free(P);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_multilabel(void) {
    size_t n = 3000, nd = 3, L = 2;
    fw_matrix X;
    make_X(&X, n, nd, 0, 0, 6);
    double *y = fw_malloc(n * L * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        y[i * L] = X.dense[i * nd] > 0.2;
        y[i * L + 1] = X.dense[i * nd + 2] < -0.1;
    }
    const char *params[] = {"class_weight=balanced"};
    fw_err err;
    fw_model *m = fit(FW_TASK_MULTILABEL, L, 0, &X, y, NULL, 2, params, 1, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        double *P = fw_malloc(n * L * sizeof(double));
        CHECK_OK(fw_model_predict_block(m, &X, 1, P));
        size_t right[2] = {0, 0};
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < L; k++) right[k] += (P[i * L + k] > 0.5) == (y[i * L + k] > 0.5);
        CHECK_MSG(right[0] > 0.93 * n && right[1] > 0.93 * n, "accuracy %zu %zu", right[0], right[1]);
        double imp[3];
        CHECK_OK(m->vt->importance(m, imp));
        CHECK(imp[1] < imp[0] && imp[1] < imp[2]);
        fw_free(P);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

/* y = 3 + 2 x0 - x1 + noise; returns the fitted [b, w0, w1] read through explain_row */
static void coefs(const fw_model *m, double *c3) {
    fw_matrix U;
    CHECK_OK(fw_matrix_alloc(&U, 1, 2, 0));
    U.dense[0] = 1;
    U.dense[1] = 1;
    double c[3];
    fw_row r = fw_matrix_row(&U, 0);
    CHECK_OK(m->vt->explain_row(m, &r, NULL, c));
    c3[0] = c[2];
    c3[1] = c[0];
    c3[2] = c[1];
    fw_matrix_free(&U);
}

static void test_regression_losses(void) {
    size_t n = 2000;
    fw_matrix X;
    make_X(&X, n, 2, 0, 0, 7);
    double *y = fw_malloc(n * sizeof(double));
    fw_rng r;
    fw_rng_seed(&r, 8);
    for (size_t i = 0; i < n; i++) {
        y[i] = 3 + 2 * X.dense[2 * i] - X.dense[2 * i + 1] + 0.3 * fw_rng_normal(&r);
        if (i % 20 == 0) y[i] += 40; /* 5% gross outliers */
    }
    /* squared loss, no penalty: the normal equations */
    double A[9] = {0}, b[3] = {0};
    for (size_t i = 0; i < n; i++) {
        double xi[3] = {1, X.dense[2 * i], X.dense[2 * i + 1]};
        for (int a = 0; a < 3; a++) {
            b[a] += xi[a] * y[i];
            for (int c = 0; c < 3; c++) A[a * 3 + c] += xi[a] * xi[c];
        }
    }
    solve(A, b, 3);
    fw_err err;
    const char *sq[] = {"loss=squared", "l2=0", "tol=1e-10"};
    fw_model *m = fit(FW_TASK_REGRESSION, 1, 0, &X, y, NULL, 2, sq, 3, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    double c[3];
    if (m) {
        coefs(m, c);
        for (int j = 0; j < 3; j++) CHECK_NEAR(c[j], b[j], 1e-6);
        CHECK(c[0] > 4.5); /* the outliers pull the intercept up by ~2 */
        fw_model_free(m);
    }
    const char *hu[] = {"loss=huber", "delta=1", "l2=0"};
    m = fit(FW_TASK_REGRESSION, 1, 0, &X, y, NULL, 2, hu, 3, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        coefs(m, c);
        CHECK_NEAR(c[0], 3, 0.15);
        CHECK_NEAR(c[1], 2, 0.05);
        CHECK_NEAR(c[2], -1, 0.05);
        fw_model_free(m);
    }
    const char *ab[] = {"loss=absolute", "l2=0", "tol=1e-9"};
    m = fit(FW_TASK_REGRESSION, 1, 0, &X, y, NULL, 2, ab, 3, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        coefs(m, c);
        CHECK_NEAR(c[0], 3, 0.1);
        CHECK_NEAR(c[1], 2, 0.05);
        /* LAD with an intercept: about half the residuals on each side */
        size_t pos = 0;
        double *p = fw_malloc(n * sizeof(double));
        CHECK_OK(fw_model_predict_block(m, &X, 2, p));
        for (size_t i = 0; i < n; i++) pos += y[i] > p[i];
        CHECK_NEAR((double)pos / (double)n, 0.5, 0.01);
        fw_free(p);
        fw_model_free(m);
    }
    /* ranking: pointwise regression on relevance */
    const char *rk[] = {"l2=0", "tol=1e-10"};
    m = fit(FW_TASK_RANKING, 1, 0, &X, y, NULL, 2, rk, 2, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        coefs(m, c);
        CHECK_NEAR(c[1], b[1], 1e-6);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

static double logloss(const fw_model *m, const fw_matrix *X, const double *y) {
    double *p = fw_malloc(X->n_rows * sizeof(double)), l = 0;
    CHECK_OK(fw_model_predict_block(m, X, 1, p));
    for (size_t i = 0; i < X->n_rows; i++) {
        double q = fmin(fmax(p[i], 1e-15), 1 - 1e-15);
        l -= y[i] * log(q) + (1 - y[i]) * log(1 - q);
    }
    fw_free(p);
    return l / (double)X->n_rows;
}

static double accuracy(const fw_model *m, const fw_matrix *X, const double *y) {
    double *p = fw_malloc(X->n_rows * sizeof(double));
    CHECK_OK(fw_model_predict_block(m, X, 1, p));
    size_t right = 0;
    for (size_t i = 0; i < X->n_rows; i++) right += (p[i] > 0.5) == (y[i] > 0.5);
    fw_free(p);
    return (double)right / (double)X->n_rows;
}

static void gen_binary(fw_matrix *X, double *y, size_t n, const double *wt, uint64_t seed) {
    make_X(X, n, 5, 0, 0, seed);
    fw_rng r;
    fw_rng_seed(&r, seed + 100);
    for (size_t i = 0; i < n; i++) {
        double z = 0.2;
        for (int j = 0; j < 5; j++) z += wt[j] * X->dense[i * 5 + j];
        y[i] = logit_label(&r, z);
    }
}

static void test_ftrl_and_continuation(void) {
    size_t n = 20000;
    const double w1[5] = {1.5, -1, 0.5, 0, 0}, w2[5] = {-0.5, -1, 1.5, 1, 0};
    fw_matrix A, At, B, Bt;
    double *ya = fw_malloc(n * 8), *yat = fw_malloc(n * 8), *yb = fw_malloc(n * 8),
           *ybt = fw_malloc(n * 8);
    gen_binary(&A, ya, n, w1, 11);
    gen_binary(&At, yat, n, w1, 12);
    gen_binary(&B, yb, n, w2, 13);
    gen_binary(&Bt, ybt, n, w2, 14);
    fw_err err;
    const char *fp[] = {"solver=ftrl", "lr=0.1"};
    fw_model *f = fit(FW_TASK_BINARY, 1, 2, &A, ya, NULL, 1, fp, 2, &err);
    fw_model *l = fit(FW_TASK_BINARY, 1, 2, &A, ya, NULL, 1, NULL, 0, &err);
    CHECK(f && l);
    if (f && l) {
        double af = accuracy(f, &At, yat), al = accuracy(l, &At, yat);
        CHECK_MSG(af > al - 0.01, "one-pass FTRL accuracy %.4f vs L-BFGS %.4f", af, al);
        double before = logloss(l, &Bt, ybt);
        fw_model *c = NULL;
        CHECK_OK(fw_linear_clone(l, &c));
        fw_fit_options o;
        fw_fit_options_init(&o);
        CHECK_OK(fw_linear_partial_fit(c, &B, yb, NULL, &o, &err));
        double after = logloss(c, &Bt, ybt);
        CHECK_MSG(after < before - 0.05, "continuation: log-loss %.4f -> %.4f", before, after);
        CHECK_NEAR(logloss(l, &Bt, ybt), before, 0); /* the original is untouched */
        /* the accumulators are saved: save/load then continue gives the same bytes */
        fw_buf b1, b2;
        fw_buf_init(&b1);
        fw_buf_init(&b2);
        CHECK_OK(fw_model_save(c, &b1));
        fw_model *c2 = NULL;
        CHECK_OK(fw_model_load(b1.data, b1.len, &c2, &err));
        if (c2) {
            CHECK_OK(fw_linear_partial_fit(c, &Bt, ybt, NULL, &o, &err));
            CHECK_OK(fw_linear_partial_fit(c2, &Bt, ybt, NULL, &o, &err));
            fw_buf_free(&b1);
            CHECK_OK(fw_model_save(c, &b1));
            CHECK_OK(fw_model_save(c2, &b2));
            CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
            fw_model_free(c2);
        }
        fw_buf_free(&b1);
        fw_buf_free(&b2);
        /* sgd also learns */
        const char *sp[] = {"solver=sgd", "lr=0.5"};
        fw_model *s = fit(FW_TASK_BINARY, 1, 2, &A, ya, NULL, 1, sp, 2, &err);
        CHECK(s && accuracy(s, &At, yat) > al - 0.02);
        fw_model_free(s);
        fw_model_free(c);
    }
    fw_model_free(f);
    fw_model_free(l);
    fw_matrix_free(&A);
    fw_matrix_free(&At);
    fw_matrix_free(&B);
    fw_matrix_free(&Bt);
    fw_free(ya);
    fw_free(yat);
    fw_free(yb);
    fw_free(ybt);
}

/* label = parity of which stripe-0 token appears: only the sparse part can explain it */
static void make_sparse_task(fw_matrix *X, double *y, size_t n, uint64_t seed) {
    make_X(X, n, 2, 64, 2, seed);
    for (size_t i = 0; i < n; i++) y[i] = (X->indices[X->indptr[i]] % 2) == 0;
}

static void test_sparse_and_determinism(void) {
    size_t n = 10000; /* several fixed row blocks */
    fw_matrix X;
    double *y = fw_malloc(n * 8);
    make_sparse_task(&X, y, n, 21);
    fw_err err;
    const char *params[] = {"l2=1e-4", "l1=1e-4"};
    fw_buf b[3];
    fw_model *m[3];
    for (int t = 0; t < 3; t++) {
        m[t] = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, t + 1, params, 2, &err);
        CHECK_MSG(m[t] != NULL, "fit: %s", err.msg);
        fw_buf_init(&b[t]);
        if (m[t]) CHECK_OK(fw_model_save(m[t], &b[t]));
    }
    CHECK(b[0].len > 0 && b[0].len == b[1].len && b[1].len == b[2].len);
    CHECK(memcmp(b[0].data, b[1].data, b[0].len) == 0);
    CHECK(memcmp(b[0].data, b[2].data, b[0].len) == 0);
    if (m[0]) {
        CHECK_MSG(accuracy(m[0], &X, y) > 0.99, "sparse accuracy %.3f", accuracy(m[0], &X, y));
        /* predict_row == predict_block bit-for-bit; save→load→predict identical */
        fw_model *l = NULL;
        CHECK_OK(fw_model_load(b[0].data, b[0].len, &l, &err));
        double *pb = fw_malloc(n * 8);
        CHECK_OK(fw_model_predict_block(m[0], &X, 2, pb));
        size_t diff = 0;
        for (size_t i = 0; i < n && l; i++) {
            fw_row r = fw_matrix_row(&X, i);
            double p1, p2;
            fw_model_predict_row(m[0], &r, NULL, &p1);
            fw_model_predict_row(l, &r, NULL, &p2);
            diff += memcmp(&p1, &pb[i], 8) != 0 || memcmp(&p2, &pb[i], 8) != 0;
        }
        CHECK_EQ(diff, 0);
        fw_buf again;
        fw_buf_init(&again);
        if (l) CHECK_OK(fw_model_save(l, &again));
        CHECK(again.len == b[0].len && memcmp(again.data, b[0].data, again.len) == 0);
        fw_buf_free(&again);
        /* sparse weights are stored sparsely: 2 + 64 features, bytes well under dense size */
        CHECK(m[0]->vt->size_bytes(m[0]) > 0);
        /* corrupt bytes: every truncation is rejected, no crash */
        size_t skip = 4 + strlen("linear");
        for (size_t cut = skip; cut < b[0].len; cut += 3) {
            fw_model *bad = NULL;
            CHECK(fw_model_load(b[0].data, cut, &bad, &err) < 0 && bad == NULL);
        }
        uint8_t *cp = fw_malloc(b[0].len);
        memcpy(cp, b[0].data, b[0].len);
        cp[skip] = 9; /* format version */
        fw_model *bad = NULL;
        CHECK_EQ(fw_model_load(cp, b[0].len, &bad, &err), FW_EVERSION);
        memcpy(cp, b[0].data, b[0].len);
        cp[skip + 8] = 0xFF; /* n_outputs huge */
        CHECK(fw_model_load(cp, b[0].len, &bad, &err) < 0);
        fw_free(cp);
        fw_free(pb);
        fw_model_free(l);
    }
    for (int t = 0; t < 3; t++) {
        fw_model_free(m[t]);
        fw_buf_free(&b[t]);
    }
    /* FTRL on the sparse task in one pass */
    const char *fp[] = {"solver=ftrl", "lr=0.5"};
    fw_model *f = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, fp, 2, &err);
    CHECK(f && accuracy(f, &X, y) > 0.97);
    fw_model_free(f);
    fw_matrix_free(&X);
    fw_free(y);
}

/* Multi-output models are scored four rows x four outputs at a time (then two, then one
 * output; row tails one at a time): for 3, 5 and 10 classes, dense + hashed features and a row
 * count that is not a multiple of four, the fit gives the same bytes for 1, 2 and 3 threads and
 * with the AVX2 kernels turned off, and predict_block equals predict_row bit for bit. */
static void test_multiclass_blocked_paths(void) {
    size_t n = 5003, ncls[] = {3, 5, 10};
    fw_matrix X;
    make_X(&X, n, 9, 32, 2, 77);
    double *y = fw_malloc(n * sizeof(double));
    for (size_t c = 0; c < 3; c++) {
        size_t K = ncls[c];
        for (size_t i = 0; i < n; i++) {
            const float *x = X.dense + i * 9;
            double s = x[0] + 0.5 * x[1] - x[2] + 0.3 * (double)(X.indices[X.indptr[i]] % 3);
            long v = (long)floor((s + 3) / 6 * (double)K);
            y[i] = (double)(v < 0 ? 0 : v >= (long)K ? (long)K - 1 : v);
        }
        const char *params[] = {"l2=1e-3", "max_iter=30"};
        fw_err err;
        fw_buf b[3];
        fw_model *m[3];
        for (int t = 0; t < 3; t++) {
            m[t] = fit(FW_TASK_MULTICLASS, K, K, &X, y, NULL, t + 1, params, 2, &err);
            CHECK_MSG(m[t] != NULL, "fit: %s", err.msg);
            fw_buf_init(&b[t]);
            if (m[t]) CHECK_OK(fw_model_save(m[t], &b[t]));
        }
        CHECK(b[0].len > 0 && b[0].len == b[1].len && b[1].len == b[2].len);
        CHECK(memcmp(b[0].data, b[1].data, b[0].len) == 0);
        CHECK(memcmp(b[0].data, b[2].data, b[0].len) == 0);
        /* without the AVX2 kernels (10 classes use them where the CPU has AVX2): same bytes */
        fw__linear_simd = 0;
        fw_model *g = fit(FW_TASK_MULTICLASS, K, K, &X, y, NULL, 2, params, 2, &err);
        fw__linear_simd = 1;
        CHECK_MSG(g != NULL, "fit: %s", err.msg);
        if (g) {
            fw_buf gb;
            fw_buf_init(&gb);
            CHECK_OK(fw_model_save(g, &gb));
            CHECK_MSG(gb.len == b[0].len && memcmp(gb.data, b[0].data, gb.len) == 0,
                      "generic and AVX2 kernels differ for %zu classes", K);
            if (m[0]) { /* and the generic scorer gives the same scores */
                double *p1 = fw_malloc(n * K * sizeof(double));
                double *p2 = fw_malloc(n * K * sizeof(double));
                CHECK_OK(fw_model_predict_block(m[0], &X, 1, p1));
                fw__linear_simd = 0;
                CHECK_OK(fw_model_predict_block(m[0], &X, 1, p2));
                fw__linear_simd = 1;
                CHECK(memcmp(p1, p2, n * K * sizeof(double)) == 0);
                fw_free(p1);
                fw_free(p2);
            }
            fw_buf_free(&gb);
            fw_model_free(g);
        }
        if (m[0]) {
            double *pb = fw_malloc(n * K * sizeof(double)), pr[16];
            CHECK_OK(fw_model_predict_block(m[0], &X, 2, pb));
            size_t diff = 0;
            for (size_t i = 0; i < n; i++) {
                fw_row r = fw_matrix_row(&X, i);
                CHECK_OK(fw_model_predict_row(m[0], &r, NULL, pr));
                diff += memcmp(pr, pb + i * K, K * sizeof(double)) != 0;
            }
            CHECK_MSG(diff == 0, "%zu rows differ for %zu classes", diff, K);
            size_t right = 0;
            for (size_t i = 0; i < n; i++) {
                size_t best = 0;
                for (size_t k = 1; k < K; k++)
                    if (pb[i * K + k] > pb[i * K + best]) best = k;
                right += best == (size_t)y[i];
            }
            CHECK_MSG(right > n / 2, "accuracy %.3f for %zu classes", (double)right / (double)n, K);
            fw_free(pb);
        }
        for (int t = 0; t < 3; t++) {
            fw_buf_free(&b[t]);
            fw_model_free(m[t]);
        }
    }
    fw_free(y);
    fw_matrix_free(&X);
}

static void test_bad_input(void) {
    size_t n = 100;
    fw_matrix X;
    make_X(&X, n, 3, 0, 0, 31);
    double *y = fw_malloc(n * 8);
    for (size_t i = 0; i < n; i++) y[i] = i % 2;
    fw_err err;
    y[17] = NAN;
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, NULL, 0, &err) == NULL);
    CHECK_EQ(err.status, FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 17");
    y[17] = 2;
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, NULL, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "expected 0 or 1");
    y[17] = 1;
    X.dense[5 * 3 + 2] = NAN;
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, NULL, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "row 5, feature 2");
    X.dense[5 * 3 + 2] = 0;
    const char *bad[] = {"l2=-1"};
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, bad, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "linear.l2");
    const char *unk[] = {"depth=3"};
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, unk, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "unknown parameter 'depth'");
    const char *sol[] = {"solver=newton"};
    CHECK(fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, sol, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "lbfgs|ftrl|sgd");
    /* constant features (all zero, all one) are fine */
    for (size_t i = 0; i < n; i++) {
        X.dense[i * 3] = 0;
        X.dense[i * 3 + 1] = 1;
    }
    fw_model *m = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, NULL, 0, &err);
    CHECK_MSG(m != NULL, "fit: %s", err.msg);
    if (m) {
        double p;
        fw_row r = fw_matrix_row(&X, 0);
        CHECK_OK(fw_model_predict_row(m, &r, NULL, &p));
        CHECK(isfinite(p) && p > 0 && p < 1);
        double imp[3];
        CHECK_OK(m->vt->importance(m, imp));
        CHECK(imp[0] == 0.0);
        fw_model_free(m);
    }
    /* all-zero C is out of range; C and alpha+l1_ratio are accepted */
    const char *cp[] = {"C=1"};
    m = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, cp, 1, &err);
    CHECK(m != NULL);
    if (m) {
        fw_buf js;
        fw_buf_init(&js);
        m->vt->params_json(m, &js);
        fw_buf_put_u8(&js, 0);
        CHECK_CONTAINS((const char *)js.data, "\"l2\":0.01"); /* 1 / (C n) with n = 100 */
        fw_buf_free(&js);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

static void test_class_weight_balanced(void) {
    size_t n = 4000;
    fw_matrix X;
    make_X(&X, n, 2, 0, 0, 41);
    double *y = fw_malloc(n * 8);
    fw_rng r;
    fw_rng_seed(&r, 42);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += (y[i] = logit_label(&r, -3 + X.dense[2 * i]));
    fw_err err;
    const char *bal[] = {"class_weight=balanced"};
    fw_model *a = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 2, NULL, 0, &err);
    fw_model *b = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 2, bal, 1, &err);
    CHECK(a && b);
    if (a && b) {
        double *pa = fw_malloc(n * 8), *pb = fw_malloc(n * 8), ma = 0, mb = 0;
        fw_model_predict_block(a, &X, 1, pa);
        fw_model_predict_block(b, &X, 1, pb);
        for (size_t i = 0; i < n; i++) {
            ma += pa[i] / (double)n;
            mb += pb[i] / (double)n;
        }
        CHECK_NEAR(ma, (double)pos / (double)n, 0.01); /* calibrated without weights */
        CHECK(mb > 0.35 && mb < 0.65);                  /* balanced pushes towards 1/2 */
        fw_free(pa);
        fw_free(pb);
    }
    /* sample weights: weight 0 rows are ignored exactly like absent rows */
    double *w = fw_malloc(n * 8);
    for (size_t i = 0; i < n; i++) w[i] = i < n / 2 ? 1.0 : 0.0;
    fw_model *c = fit(FW_TASK_BINARY, 1, 2, &X, y, w, 2, NULL, 0, &err);
    fw_matrix H;
    uint32_t *rows = fw_malloc(n / 2 * sizeof(uint32_t));
    for (size_t i = 0; i < n / 2; i++) rows[i] = (uint32_t)i;
    CHECK_OK(fw_matrix_select(&X, rows, n / 2, &H));
    fw_model *d = fit(FW_TASK_BINARY, 1, 2, &H, y, NULL, 2, NULL, 0, &err);
    CHECK(c && d);
    if (c && d) {
        double p1, p2;
        fw_row r0 = fw_matrix_row(&X, 0);
        fw_model_predict_row(c, &r0, NULL, &p1);
        fw_model_predict_row(d, &r0, NULL, &p2);
        CHECK_NEAR(p1, p2, 1e-4);
    }
    fw_model_free(a);
    fw_model_free(b);
    fw_model_free(c);
    fw_model_free(d);
    fw_matrix_free(&X);
    fw_matrix_free(&H);
    fw_free(rows);
    fw_free(w);
    fw_free(y);
}

/* Every allocation failure during fit, save and load is reported as an error, never a crash or a
 * leak (ASan checks the leaks). */
static void test_alloc_failures(void) {
    size_t n = 300;
    fw_matrix X;
    double *y = fw_malloc(n * 8);
    make_sparse_task(&X, y, n, 51);
    const char *solvers[][1] = {{"solver=lbfgs"}, {"solver=ftrl"}};
    for (int s = 0; s < 2; s++) {
        int ok = 0;
        for (long k = 1; k < 200 && !ok; k++) {
            fw_err err;
            fw_alloc_fail_after(k);
            fw_model *m = fit(FW_TASK_BINARY, 1, 2, &X, y, NULL, 1, solvers[s], 1, &err);
            fw_model *l = NULL;
            fw_buf b;
            fw_buf_init(&b);
            if (m && fw_model_save(m, &b) == FW_OK && fw_model_load(b.data, b.len, &l, &err) == FW_OK)
                ok = 1;
            fw_alloc_fail_after(0);
            if (!m) CHECK(err.status == FW_ENOMEM);
            fw_buf_free(&b);
            fw_model_free(l);
            fw_model_free(m);
        }
        CHECK(ok);
    }
    fw_matrix_free(&X);
    fw_free(y);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_logistic_matches_newton);
    TEST_RUN(test_l1_exact_zeros);
    TEST_RUN(test_softmax_accuracy);
    TEST_RUN(test_multilabel);
    TEST_RUN(test_regression_losses);
    TEST_RUN(test_ftrl_and_continuation);
    TEST_RUN(test_sparse_and_determinism);
    TEST_RUN(test_multiclass_blocked_paths);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_class_weight_balanced);
    TEST_RUN(test_alloc_failures);
    return fw_test_report(argv[0]);
}
