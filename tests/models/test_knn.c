/* test_knn.c — tests for the k-NN family (src/models/knn.c): exact neighbours against a naive
 * sort, tie-breaking by row index, row/block agreement across threads, k > n, weights, cosine,
 * save/load and bad input. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/model.h"
#include "test.h"

#include <stdlib.h>

extern const fw_model_vtable fw_knn_vtable;

static fw_model *fit(fw_task task, size_t no, const fw_matrix *X, const double *y, const double *w,
                     const char **params, size_t np, fw_err *err) {
    fw_train_data d = {.X = X, .y = y, .weight = w, .task = task, .n_outputs = no,
                       .n_classes = task == FW_TASK_MULTICLASS ? no : task == FW_TASK_BINARY ? 2 : 0};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = np;
    fw_model *m = NULL;
    fw_err_clear(err);
    fw_knn_vtable.fit(&d, &o, &m, err);
    return m;
}

static void make(fw_matrix *X, size_t n, size_t nd, uint64_t seed) {
    CHECK_OK(fw_matrix_alloc(X, n, nd, 0));
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n * nd; i++) X->dense[i] = (float)(int)(fw_rng_normal(&r) * 2); /* ties */
}

typedef struct nb {
    double d;
    size_t i;
} nb;
static int cmp_nb(const void *a, const void *b) {
    const nb *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void test_exact_vs_naive(void) {
    size_t n = 300, nd = 3, nq = 57, k = 7;
    fw_matrix X, Q;
    make(&X, n, nd, 1);
    make(&Q, nq, nd, 2);
    double *y = fw_malloc(n * 8);
    for (size_t i = 0; i < n; i++) y[i] = (double)i; /* the mean of neighbour indices */
    const char *params[] = {"k=7"};
    fw_err err;
    fw_model *m = fit(FW_TASK_REGRESSION, 1, &X, y, NULL, params, 1, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    double *pb = fw_malloc(nq * 8), *pb2 = fw_malloc(nq * 8);
    CHECK_OK(fw_model_predict_block(m, &Q, 1, pb));
    CHECK_OK(fw_model_predict_block(m, &Q, 2, pb2));
    void *scratch = fw_malloc(fw_model_scratch_size(m));
    nb *all = fw_malloc(n * sizeof(nb));
    size_t bad = 0;
    for (size_t q = 0; q < nq; q++) {
        for (size_t t = 0; t < n; t++) {
            double s = 0;
            for (size_t j = 0; j < nd; j++) {
                double df = (double)Q.dense[q * nd + j] - X.dense[t * nd + j];
                s += df * df;
            }
            all[t] = (nb){s, t};
        }
        qsort(all, n, sizeof(nb), cmp_nb);
        double want = 0;
        for (size_t a = 0; a < k; a++) want += (double)all[a].i;
        want /= (double)k;
        double pr;
        fw_row r = fw_matrix_row(&Q, q);
        CHECK_OK(fw_model_predict_row(m, &r, scratch, &pr));
        bad += fabs(pr - want) > 1e-9 || memcmp(&pr, &pb[q], 8) != 0 || memcmp(&pr, &pb2[q], 8) != 0;
    }
    CHECK_EQ(bad, 0);
    CHECK(m->vt->size_bytes(m) >= n * nd * sizeof(float));
    double c[4];
    fw_row r0 = fw_matrix_row(&Q, 0);
    CHECK_EQ(m->vt->explain_row(m, &r0, scratch, c), FW_EUNSUPPORTED);
    CHECK_EQ(m->vt->importance(m, c), FW_EUNSUPPORTED);
    /* save → load → identical predictions; truncations rejected */
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_model_save(m, &b));
    fw_model *l = NULL;
    CHECK_OK(fw_model_load(b.data, b.len, &l, &err));
    if (l) {
        double *pl = fw_malloc(nq * 8);
        CHECK_OK(fw_model_predict_block(l, &Q, 2, pl));
        CHECK(memcmp(pl, pb, nq * 8) == 0);
        fw_free(pl);
        fw_model_free(l);
    }
    for (size_t cut = 0; cut < b.len; cut += 97) {
        fw_model *x = NULL;
        CHECK(fw_model_load(b.data, cut, &x, &err) < 0 && !x);
    }
    fw_buf_free(&b);
    fw_free(all);
    fw_free(scratch);
    fw_free(pb);
    fw_free(pb2);
    fw_free(y);
    fw_model_free(m);
    fw_matrix_free(&X);
    fw_matrix_free(&Q);
}

static void test_ties_and_k(void) {
    /* 4 identical rows: labels 1, 0, 0, 1; k = 1 picks row 0, k = 2 rows 0 and 1 */
    fw_matrix X;
    CHECK_OK(fw_matrix_alloc(&X, 4, 2, 0));
    double y[4] = {1, 0, 0, 1};
    fw_err err;
    const char *k1[] = {"k=1"}, *k2[] = {"k=2"}, *k5[] = {"k=5"}, *k4[] = {"k=4"};
    fw_model *m = fit(FW_TASK_BINARY, 1, &X, y, NULL, k1, 1, &err);
    double p, scratch[16];
    fw_row r = fw_matrix_row(&X, 2);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, &p));
    CHECK(p == 1.0);
    fw_model_free(m);
    m = fit(FW_TASK_BINARY, 1, &X, y, NULL, k2, 1, &err);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, &p));
    CHECK(p == 0.5);
    fw_model_free(m);
    CHECK(fit(FW_TASK_BINARY, 1, &X, y, NULL, k5, 1, &err) == NULL);
    CHECK_EQ(err.status, FW_EINVAL);
    CHECK_CONTAINS(err.msg, "knn.k = 5 exceeds the 4 training rows");
    m = fit(FW_TASK_BINARY, 1, &X, y, NULL, k4, 1, &err);
    CHECK(m != NULL);
    fw_model_free(m);
    fw_matrix_free(&X);
}

static void test_classes_weights_cosine(void) {
    fw_matrix X;
    CHECK_OK(fw_matrix_alloc(&X, 6, 2, 0));
    float pts[12] = {0, 0, 1, 0, 0, 1, 10, 10, 11, 10, 10, 11};
    memcpy(X.dense, pts, sizeof pts);
    double y[6] = {0, 0, 1, 2, 2, 2};
    fw_err err;
    const char *p3[] = {"k=3"};
    fw_model *m = fit(FW_TASK_MULTICLASS, 3, &X, y, NULL, p3, 1, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    double out[3], scratch[32];
    fw_row r = fw_matrix_row(&X, 0);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, out));
    CHECK_NEAR(out[0], 2.0 / 3, 1e-15);
    CHECK_NEAR(out[1], 1.0 / 3, 1e-15);
    CHECK(out[2] == 0);
    fw_model_free(m);
    /* distance weights: an exact match takes all the vote */
    const char *pd[] = {"k=3", "weights=distance"};
    m = fit(FW_TASK_MULTICLASS, 3, &X, y, NULL, pd, 2, &err);
    r = fw_matrix_row(&X, 2);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, out));
    CHECK(out[1] == 1.0 && out[0] == 0);
    float q[2] = {0.9f, 0.0f};
    fw_row rq = {q, NULL, NULL, 0};
    CHECK_OK(fw_model_predict_row(m, &rq, scratch, out));
    CHECK(out[0] > 0.9); /* the close class-0 row at distance 0.1 dominates */
    fw_model_free(m);
    /* sample weights multiply the votes */
    double w[6] = {1, 1, 10, 1, 1, 1};
    m = fit(FW_TASK_MULTICLASS, 3, &X, y, w, p3, 1, &err);
    r = fw_matrix_row(&X, 0);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, out));
    CHECK_NEAR(out[1], 10.0 / 12, 1e-12);
    fw_model_free(m);
    /* cosine: scale does not matter */
    const char *pc[] = {"k=1", "metric=cosine"};
    m = fit(FW_TASK_MULTICLASS, 3, &X, y, NULL, pc, 2, &err);
    float q2[2] = {0.1f, 3.0f};
    fw_row r2 = {q2, NULL, NULL, 0};
    CHECK_OK(fw_model_predict_row(m, &r2, scratch, out));
    CHECK(out[1] == 1.0); /* direction of (0, 1) */
    fw_model_free(m);
    /* multilabel: per-label shares */
    double yl[12] = {1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    m = fit(FW_TASK_MULTILABEL, 2, &X, yl, NULL, p3, 1, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    r = fw_matrix_row(&X, 0);
    CHECK_OK(fw_model_predict_row(m, &r, scratch, out));
    CHECK_NEAR(out[0], 2.0 / 3, 1e-15);
    CHECK_NEAR(out[1], 2.0 / 3, 1e-15);
    fw_model_free(m);
    fw_matrix_free(&X);
}

static void test_bad_input(void) {
    fw_matrix X;
    CHECK_OK(fw_matrix_alloc(&X, 5, 2, 0));
    double y[5] = {0, 1, 0, 1, 1};
    fw_err err;
    X.dense[7] = NAN;
    CHECK(fit(FW_TASK_BINARY, 1, &X, y, NULL, NULL, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "row 3, feature 1");
    X.dense[7] = 0;
    y[4] = NAN;
    CHECK(fit(FW_TASK_BINARY, 1, &X, y, NULL, NULL, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "row 4");
    y[4] = 1;
    const char *bm[] = {"metric=manhattan"};
    CHECK(fit(FW_TASK_BINARY, 1, &X, y, NULL, bm, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "euclidean|cosine");
    fw_model *m = fit(FW_TASK_BINARY, 1, &X, y, NULL, NULL, 0, &err);
    CHECK(m != NULL);
    if (m) {
        float q[2] = {NAN, 0};
        fw_row r = {q, NULL, NULL, 0};
        double p, scratch[16];
        CHECK_EQ(fw_model_predict_row(m, &r, scratch, &p), FW_EINVAL);
        fw_model_free(m);
    }
    fw_matrix_free(&X);
}

/* Every allocation failure during fit, predict_block, save and load is an error, never a crash
 * or a leak. */
static void test_alloc_failures(void) {
    fw_matrix X;
    make(&X, 40, 3, 5);
    double y[40];
    for (int i = 0; i < 40; i++) y[i] = i % 3;
    const char *p[] = {"metric=cosine", "k=3"};
    int ok = 0;
    for (long k = 1; k < 100 && !ok; k++) {
        fw_err err;
        fw_alloc_fail_after(k);
        fw_model *m = fit(FW_TASK_MULTICLASS, 3, &X, y, NULL, p, 2, &err);
        fw_model *l = NULL;
        fw_buf b;
        fw_buf_init(&b);
        double out[120];
        if (m && fw_model_predict_block(m, &X, 1, out) == FW_OK && fw_model_save(m, &b) == FW_OK &&
            fw_model_load(b.data, b.len, &l, &err) == FW_OK)
            ok = 1;
        fw_alloc_fail_after(0);
        fw_buf_free(&b);
        fw_model_free(l);
        fw_model_free(m);
    }
    CHECK(ok);
    fw_matrix_free(&X);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_exact_vs_naive);
    TEST_RUN(test_ties_and_k);
    TEST_RUN(test_classes_weights_cosine);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_alloc_failures);
    return fw_test_report(argv[0]);
}
