/* test_gbdt.c — tests for the gbdt family (src/models/gbdt*.c) on small generated data: it learns
 * interactions, steps and classes, learns the missing-value direction, stops early, is bit-identical
 * across thread counts, round-trips through bytes, agrees row vs block, explains rows with exact
 * TreeSHAP (checked against brute-force Shapley values), rejects corrupt bytes and keeps an
 * extremely imbalanced set from collapsing. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/gbdt_int.h"
#include "test.h"

#include <stdlib.h>

/* ---- helpers --------------------------------------------------------------------------------- */

typedef struct dataset {
    fw_matrix X;
    double *y;
} dataset;

static void ds_alloc(dataset *d, size_t n, size_t nf) {
    CHECK_OK(fw_matrix_alloc(&d->X, n, nf, 0));
    d->y = fw_calloc(n, sizeof(double));
}

static void ds_free(dataset *d) {
    fw_matrix_free(&d->X);
    fw_free(d->y);
}

static float uni(fw_rng *r) { return (float)(fw_rng_uniform(r) * 2 - 1); }

/* XOR of the signs of features 0 and 1; features 2.. are noise. */
static void make_xor(dataset *d, size_t n, size_t nf, uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    ds_alloc(d, n, nf);
    for (size_t i = 0; i < n; i++) {
        float *x = d->X.dense + i * nf;
        for (size_t f = 0; f < nf; f++) x[f] = uni(&r);
        d->y[i] = (x[0] > 0) != (x[1] > 0);
    }
}

static fw_model *fit(const fw_train_data *td, const char *const *params, size_t n_params,
                     int threads) {
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = n_params;
    o.threads = threads;
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_model_fit("gbdt", td, &o, &m, &err);
    CHECK_MSG(st == FW_OK, "fit failed: %s", err.msg);
    return m;
}

static fw_train_data tdata(const dataset *d, fw_task task, size_t k) {
    fw_train_data td = {0};
    td.X = &d->X;
    td.y = d->y;
    td.task = task;
    td.n_classes = task == FW_TASK_BINARY ? 2 : task == FW_TASK_MULTICLASS ? k : 0;
    td.n_outputs = task == FW_TASK_MULTICLASS ? k : 1;
    return td;
}

static double *predict(const fw_model *m, const fw_matrix *X, int threads) {
    double *out = fw_malloc(X->n_rows * m->n_outputs * sizeof(double));
    CHECK_OK(fw_model_predict_block(m, X, threads, out));
    return out;
}

static double accuracy01(const double *p, const double *y, size_t n) {
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) ok += (p[i] > 0.5) == (y[i] > 0.5);
    return (double)ok / (double)n;
}

static uint8_t *save_bytes(const fw_model *m, size_t *len) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_model_save(m, &b));
    return fw_buf_take(&b, len);
}

static double margin_of(const fw_gbdt_model *m, const float *x, uint32_t k) {
    double s = m->base_score[k];
    for (uint32_t t = k; t < m->n_trees; t += m->n_groups)
        s += fw__gbdt_tree_value(m->nodes, m->tree_start[t], x);
    return s;
}

/* ---- learning -------------------------------------------------------------------------------- */

static void test_learns_xor(void) {
    dataset tr, te;
    make_xor(&tr, 3000, 4, 1);
    make_xor(&te, 1000, 4, 2);
    fw_train_data td = tdata(&tr, FW_TASK_BINARY, 2);
    fw_model *m = fit(&td, NULL, 0, 2);
    if (m) {
        CHECK_STR(m->vt->family, "gbdt");
        CHECK_EQ(m->sparse_dim, 0);
        double *p = predict(m, &te.X, 2);
        double acc = accuracy01(p, te.y, te.X.n_rows);
        CHECK_MSG(acc > 0.95, "xor accuracy %.3f", acc);
        double imp[4];
        CHECK_OK(m->vt->importance(m, imp));
        CHECK(imp[0] > imp[2] && imp[1] > imp[3]);
        fw_free(p);
        fw_model_free(m);
    }
    ds_free(&tr);
    ds_free(&te);
}

static void test_regression_step(void) {
    dataset d;
    fw_rng r;
    fw_rng_seed(&r, 3);
    ds_alloc(&d, 2000, 3);
    for (size_t i = 0; i < 2000; i++) {
        float *x = d.X.dense + i * 3;
        for (int f = 0; f < 3; f++) x[f] = uni(&r);
        d.y[i] = x[0] > 0.25f ? 10.0 : -2.0;
    }
    fw_train_data td = tdata(&d, FW_TASK_REGRESSION, 0);
    fw_model *m = fit(&td, NULL, 0, 1);
    if (m) {
        double *p = predict(m, &d.X, 1);
        double se = 0;
        for (size_t i = 0; i < 2000; i++) se += (p[i] - d.y[i]) * (p[i] - d.y[i]);
        CHECK_MSG(sqrt(se / 2000) < 0.05, "step rmse %g", sqrt(se / 2000));
        float lo[3] = {0.2f, 0, 0}, hi[3] = {0.3f, 0, 0};
        fw_row rl = {lo, NULL, NULL, 0}, rh = {hi, NULL, NULL, 0};
        double scratch[4], a, b;
        CHECK_OK(fw_model_predict_row(m, &rl, scratch, &a));
        CHECK_OK(fw_model_predict_row(m, &rh, scratch, &b));
        CHECK_NEAR(a, -2.0, 0.05);
        CHECK_NEAR(b, 10.0, 0.05);
        fw_free(p);
        fw_model_free(m);
    }
    /* the robust objectives fit it too */
    const char *objs[] = {"objective=l1", "objective=huber"};
    for (int o = 0; o < 2; o++) {
        const char *params[] = {objs[o], "huber_delta=1"};
        m = fit(&td, params, 2, 2);
        if (!m) continue;
        double *p = predict(m, &d.X, 2);
        double ae = 0;
        for (size_t i = 0; i < 2000; i++) ae += fabs(p[i] - d.y[i]);
        CHECK_MSG(ae / 2000 < 0.5, "%s mae %g", objs[o], ae / 2000);
        fw_free(p);
        fw_model_free(m);
    }
    ds_free(&d);
}

static void make_3class(dataset *d, size_t n, uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    ds_alloc(d, n, 3);
    for (size_t i = 0; i < n; i++) {
        float *x = d->X.dense + i * 3;
        for (int f = 0; f < 3; f++) x[f] = uni(&r);
        d->y[i] = x[0] < -0.3f ? 0 : (x[1] > 0 ? 1 : 2);
    }
}

static void test_multiclass(void) {
    dataset tr, te;
    make_3class(&tr, 3000, 4);
    make_3class(&te, 1000, 5);
    fw_train_data td = tdata(&tr, FW_TASK_MULTICLASS, 3);
    fw_model *m = fit(&td, NULL, 0, 2);
    if (m) {
        CHECK_EQ(m->n_outputs, 3);
        double *p = predict(m, &te.X, 2);
        size_t ok = 0;
        for (size_t i = 0; i < 1000; i++) {
            const double *q = p + i * 3;
            CHECK_NEAR(q[0] + q[1] + q[2], 1.0, 1e-9);
            size_t best = q[1] > q[0] ? 1 : 0;
            if (q[2] > q[best]) best = 2;
            ok += best == (size_t)te.y[i];
        }
        CHECK_MSG(ok > 950, "3-class accuracy %zu/1000", ok);
        fw_free(p);
        fw_model_free(m);
    }
    /* a class absent from the training rows: allowed, and it gets a tiny probability */
    td = tdata(&tr, FW_TASK_MULTICLASS, 4);
    m = fit(&td, NULL, 0, 1);
    if (m) {
        double *p = predict(m, &te.X, 1);
        for (size_t i = 0; i < 1000; i++) CHECK(p[i * 4 + 3] < 1e-3);
        fw_free(p);
        fw_model_free(m);
    }
    ds_free(&tr);
    ds_free(&te);
}

/* Feature 0 is missing exactly for positives; the tree must send NaN to the positive side. */
static void test_missing_direction(void) {
    dataset d;
    fw_rng r;
    fw_rng_seed(&r, 6);
    ds_alloc(&d, 2000, 2);
    for (size_t i = 0; i < 2000; i++) {
        float *x = d.X.dense + i * 2;
        bool pos = fw_rng_uniform(&r) < 0.3;
        x[0] = pos ? NAN : uni(&r);
        x[1] = uni(&r);
        d.y[i] = pos;
    }
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    const char *params[] = {"n_estimators=10"};
    fw_model *m = fit(&td, params, 1, 1);
    if (m) {
        const fw_gbdt_model *g = (const fw_gbdt_model *)m;
        const fw_gbdt_node *root = &g->nodes[0];
        CHECK(root->left >= 0);
        CHECK_EQ(root->feature & FW_GBDT_FEATURE_MASK, 0);
        /* the missing side must be the side with the positive leaf value */
        int32_t miss = (root->feature & FW_GBDT_DEFAULT_LEFT) ? root->left : root->right;
        int32_t other = miss == root->left ? root->right : root->left;
        CHECK(g->nodes[miss].value > g->nodes[other].value);
        float xn[2] = {NAN, 0.5f}, xv[2] = {0.5f, 0.5f};
        fw_row rn = {xn, NULL, NULL, 0}, rv = {xv, NULL, NULL, 0};
        double s[4], pn, pv;
        CHECK_OK(fw_model_predict_row(m, &rn, s, &pn));
        CHECK_OK(fw_model_predict_row(m, &rv, s, &pv));
        CHECK_MSG(pn > 0.9 && pv < 0.1, "P(missing)=%g P(value)=%g", pn, pv);
        fw_model_free(m);
    }
    ds_free(&d);
}

static int g_calls;
static double g_last_train, g_first_train;
static int count_progress(void *ud, const char *family, int iter, int n_iter, double tl,
                          double vl) {
    (void)family;
    (void)n_iter;
    (void)vl;
    if (g_calls == 0) g_first_train = tl;
    g_last_train = tl;
    g_calls++;
    return ud && iter + 1 >= *(int *)ud;
}

static void test_early_stopping_and_progress(void) {
    /* random labels: the validation loss stops improving quickly */
    dataset tr, va;
    fw_rng r;
    fw_rng_seed(&r, 7);
    ds_alloc(&tr, 1000, 3);
    ds_alloc(&va, 500, 3);
    for (size_t i = 0; i < 1000 * 3; i++) tr.X.dense[i] = uni(&r);
    for (size_t i = 0; i < 500 * 3; i++) va.X.dense[i] = uni(&r);
    for (size_t i = 0; i < 1000; i++) tr.y[i] = fw_rng_uniform(&r) < 0.5;
    for (size_t i = 0; i < 500; i++) va.y[i] = fw_rng_uniform(&r) < 0.5;
    fw_train_data td = tdata(&tr, FW_TASK_BINARY, 2);
    td.X_valid = &va.X;
    td.y_valid = va.y;
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.progress = count_progress;
    g_calls = 0;
    fw_model *m = NULL;
    fw_err err;
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    if (m) {
        const fw_gbdt_model *g = (const fw_gbdt_model *)m;
        CHECK(g->rounds_trained < 100);
        CHECK_EQ(g->stop_reason, FW_GBDT_STOP_EARLY);
        CHECK(g->best_iteration >= 0);
        CHECK_EQ(g->n_rounds, (uint32_t)g->best_iteration + 1);
        CHECK_EQ(g->rounds_trained, (uint32_t)g->best_iteration + 21);
        CHECK_EQ(g_calls, (int)g->rounds_trained);
        CHECK(g_last_train < g_first_train);
        fw_buf b;
        fw_buf_init(&b);
        m->vt->params_json(m, &b);
        fw_buf_put_u8(&b, 0);
        CHECK_CONTAINS((const char *)b.data, "\"stopped\":\"early_stopping\"");
        CHECK_CONTAINS((const char *)b.data, "\"learning_rate\":0.29999999999999999");
        fw_buf_free(&b);
        fw_model_free(m);
    }
    /* the callback can stop training; so can the time budget */
    int stop_at = 5;
    o.progress_ud = &stop_at;
    g_calls = 0;
    td.X_valid = NULL;
    td.y_valid = NULL;
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    if (m) {
        CHECK_EQ(((fw_gbdt_model *)m)->rounds_trained, 5);
        CHECK_EQ(((fw_gbdt_model *)m)->stop_reason, FW_GBDT_STOP_CALLBACK);
        fw_model_free(m);
    }
    fw_fit_options_init(&o);
    o.time_budget_s = 1e-9;
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    if (m) {
        CHECK_EQ(((fw_gbdt_model *)m)->rounds_trained, 1);
        CHECK_EQ(((fw_gbdt_model *)m)->stop_reason, FW_GBDT_STOP_TIME_BUDGET);
        fw_model_free(m);
    }
    ds_free(&tr);
    ds_free(&va);
}

/* ---- determinism, bytes, row vs block -------------------------------------------------------- */

static void test_threads_bit_identical(void) {
    dataset d;
    make_xor(&d, 20000, 6, 8); /* > 8192 rows: histograms use several blocks */
    for (size_t i = 0; i < 20000; i += 7) d.X.dense[i * 6 + 2] = NAN;
    const char *params[] = {"n_estimators=15", "subsample=0.8", "colsample_bytree=0.7",
                            "max_depth=5"};
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    uint8_t *bytes[3] = {0};
    size_t len[3] = {0};
    for (int t = 1; t <= 3; t++) {
        fw_model *m = fit(&td, params, 4, t);
        if (!m) return;
        bytes[t - 1] = save_bytes(m, &len[t - 1]);
        fw_model_free(m);
    }
    CHECK(len[0] > 0);
    CHECK_EQ(len[0], len[1]);
    CHECK_EQ(len[0], len[2]);
    CHECK(memcmp(bytes[0], bytes[1], len[0]) == 0);
    CHECK(memcmp(bytes[0], bytes[2], len[0]) == 0);
    /* a different seed gives a different model (subsampling is seeded) */
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.seed = 43;
    o.params = params;
    o.n_params = 4;
    fw_model *m = NULL;
    fw_err err;
    CHECK_OK(fw_model_fit("gbdt", &td, &o, &m, &err));
    if (m) {
        size_t l2;
        uint8_t *b2 = save_bytes(m, &l2);
        CHECK(l2 != len[0] || memcmp(b2, bytes[0], l2) != 0);
        fw_free(b2);
        fw_model_free(m);
    }
    for (int t = 0; t < 3; t++) fw_free(bytes[t]);
    ds_free(&d);
}

static void check_row_block_roundtrip(const fw_model *m, const fw_matrix *X) {
    size_t K = m->n_outputs;
    double *p1 = predict(m, X, 1), *p2 = predict(m, X, 2);
    CHECK(memcmp(p1, p2, X->n_rows * K * sizeof(double)) == 0);
    size_t ss = fw_model_scratch_size(m);
    void *scratch = fw_malloc(ss);
    double out[8];
    size_t mism = 0;
    for (size_t i = 0; i < X->n_rows; i++) {
        fw_row row = fw_matrix_row(X, i);
        CHECK_OK(fw_model_predict_row(m, &row, scratch, out));
        mism += memcmp(out, p1 + i * K, K * sizeof(double)) != 0;
    }
    CHECK_EQ(mism, 0);
    /* save → load → same predictions, same bytes */
    size_t len;
    uint8_t *bytes = save_bytes(m, &len);
    fw_model *l = NULL;
    fw_err err;
    CHECK_OK(fw_model_load(bytes, len, &l, &err));
    if (l) {
        double *p3 = predict(l, X, 2);
        CHECK(memcmp(p1, p3, X->n_rows * K * sizeof(double)) == 0);
        size_t len2;
        uint8_t *b2 = save_bytes(l, &len2);
        CHECK(len2 == len && memcmp(bytes, b2, len) == 0);
        double i1[16], i2[16];
        CHECK_OK(m->vt->importance(m, i1));
        CHECK_OK(l->vt->importance(l, i2));
        CHECK(memcmp(i1, i2, m->n_dense * sizeof(double)) == 0);
        CHECK_EQ(m->vt->size_bytes(m), l->vt->size_bytes(l));
        fw_free(b2);
        fw_free(p3);
        fw_model_free(l);
    }
    fw_free(bytes);
    fw_free(scratch);
    fw_free(p1);
    fw_free(p2);
}

static void test_row_block_and_roundtrip(void) {
    dataset d, c;
    make_xor(&d, 1500, 5, 9);
    for (size_t i = 0; i < 1500; i += 5) d.X.dense[i * 5 + 1] = NAN;
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    fw_model *m = fit(&td, NULL, 0, 2);
    if (m) {
        check_row_block_roundtrip(m, &d.X);
        fw_model_free(m);
    }
    make_3class(&c, 1500, 10);
    td = tdata(&c, FW_TASK_MULTICLASS, 3);
    const char *params[] = {"grow_policy=lossguide", "max_leaves=8"};
    m = fit(&td, params, 2, 2);
    if (m) {
        const fw_gbdt_model *g = (const fw_gbdt_model *)m;
        for (uint32_t t = 0; t < g->n_trees; t++) {
            uint32_t leaves = 0;
            for (uint32_t i = g->tree_start[t]; i < g->tree_start[t + 1]; i++)
                leaves += g->nodes[i].left < 0;
            CHECK(leaves <= 8);
        }
        check_row_block_roundtrip(m, &c.X);
        fw_model_free(m);
    }
    ds_free(&d);
    ds_free(&c);
}

/* ---- TreeSHAP -------------------------------------------------------------------------------- */

/* Path-dependent expectation of tree t given the features in mask S are known. */
static double cond_exp(const fw_gbdt_model *m, uint32_t node, const float *x, unsigned S) {
    const fw_gbdt_node *n = &m->nodes[node];
    if (n->left < 0) return n->value;
    uint32_t f = n->feature & FW_GBDT_FEATURE_MASK;
    if (S & (1u << f)) {
        float v = x[f];
        bool left = v != v ? (n->feature & FW_GBDT_DEFAULT_LEFT) != 0 : v <= n->threshold;
        return cond_exp(m, (uint32_t)(left ? n->left : n->right), x, S);
    }
    return (m->cover[n->left] * cond_exp(m, (uint32_t)n->left, x, S) +
            m->cover[n->right] * cond_exp(m, (uint32_t)n->right, x, S)) /
           m->cover[node];
}

static double brute_value(const fw_gbdt_model *m, const float *x, unsigned S) {
    double v = m->base_score[0];
    for (uint32_t t = 0; t < m->n_trees; t++) v += cond_exp(m, m->tree_start[t], x, S);
    return v;
}

static void test_treeshap(void) {
    dataset d;
    fw_rng r;
    fw_rng_seed(&r, 11);
    size_t nf = 4;
    ds_alloc(&d, 800, nf);
    for (size_t i = 0; i < 800; i++) {
        float *x = d.X.dense + i * nf;
        for (size_t f = 0; f < nf; f++) x[f] = uni(&r);
        if (i % 9 == 0) x[2] = NAN;
        d.y[i] = x[0] * x[1] + (x[2] == x[2] ? x[2] : 0.5f) + 0.3 * x[3] * x[0] + 0.1 * uni(&r);
    }
    fw_train_data td = tdata(&d, FW_TASK_REGRESSION, 0);
    const char *params[] = {"n_estimators=6", "max_depth=4"};
    fw_model *m = fit(&td, params, 2, 1);
    if (!m) return;
    const fw_gbdt_model *g = (const fw_gbdt_model *)m;
    void *scratch = fw_malloc(fw_model_scratch_size(m));
    double phi[5];
    double fact[5] = {1, 1, 2, 6, 24};
    for (size_t i = 0; i < 40; i++) {
        const float *x = d.X.dense + i * nf;
        fw_row row = {x, NULL, NULL, 0};
        CHECK_OK(m->vt->explain_row(m, &row, scratch, phi));
        double sum = 0;
        for (size_t f = 0; f <= nf; f++) sum += phi[f];
        CHECK_NEAR(sum, margin_of(g, x, 0), 1e-6);
        CHECK_NEAR(phi[nf], brute_value(g, x, 0), 1e-9);
        for (unsigned f = 0; f < nf; f++) {
            double want = 0;
            for (unsigned S = 0; S < (1u << nf); S++) {
                if (S & (1u << f)) continue;
                int s = __builtin_popcount(S);
                double wgt = fact[s] * fact[nf - s - 1] / fact[nf];
                want += wgt * (brute_value(g, x, S | (1u << f)) - brute_value(g, x, S));
            }
            CHECK_NEAR(phi[f], want, 1e-9);
        }
    }
    fw_free(scratch);
    fw_model_free(m);
    /* multiclass: each class column sums to its margin */
    dataset c;
    make_3class(&c, 600, 12);
    td = tdata(&c, FW_TASK_MULTICLASS, 3);
    m = fit(&td, NULL, 0, 1);
    if (m) {
        g = (const fw_gbdt_model *)m;
        scratch = fw_malloc(fw_model_scratch_size(m));
        double con[4 * 3];
        for (size_t i = 0; i < 20; i++) {
            fw_row row = fw_matrix_row(&c.X, i);
            CHECK_OK(m->vt->explain_row(m, &row, scratch, con));
            for (uint32_t k = 0; k < 3; k++) {
                double s = 0;
                for (size_t f = 0; f <= 3; f++) s += con[f * 3 + k];
                CHECK_NEAR(s, margin_of(g, row.dense, k), 1e-6);
            }
        }
        fw_free(scratch);
        fw_model_free(m);
    }
    ds_free(&c);
    ds_free(&d);
}

/* ---- corrupt bytes --------------------------------------------------------------------------- */

static void test_corrupt_bytes(void) {
    dataset d;
    make_xor(&d, 600, 3, 13);
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    const char *params[] = {"n_estimators=5", "max_depth=3"};
    fw_model *m = fit(&td, params, 2, 1);
    if (!m) return;
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(m->vt->save(m, &b));
    fw_model *l = NULL;
    fw_err err;
    /* every truncation fails cleanly */
    size_t bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        fw_err_clear(&err);
        fw_status st = fw_gbdt_vtable.load(b.data, n, &l, &err);
        bad += st != FW_OK && l == NULL;
        if (l) fw_model_free(l), l = NULL;
    }
    CHECK_EQ(bad, b.len);
    /* trailing garbage fails */
    fw_buf_put_u8(&b, 0);
    CHECK(fw_gbdt_vtable.load(b.data, b.len, &l, &err) == FW_ECORRUPT);
    b.len--;
    /* a child pointing backwards / a feature out of range are named errors */
    uint8_t *copy = fw_malloc(b.len);
    const fw_gbdt_model *g = (const fw_gbdt_model *)m;
    size_t nodes_at = b.len - (size_t)g->n_nodes * 32 - 3 * 8;
    memcpy(copy, b.data, b.len);
    copy[nodes_at + 8] = 0; /* root.left = 0 (itself) */
    copy[nodes_at + 9] = copy[nodes_at + 10] = copy[nodes_at + 11] = 0;
    CHECK(fw_gbdt_vtable.load(copy, b.len, &l, &err) == FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "child index");
    memcpy(copy, b.data, b.len);
    copy[nodes_at + 4] = 7; /* root.feature = 7 >= 3 */
    CHECK(fw_gbdt_vtable.load(copy, b.len, &l, &err) == FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "feature");
    /* random byte flips: load either fails or gives a model that predicts without crashing */
    fw_rng r;
    fw_rng_seed(&r, 99);
    void *scratch = fw_malloc(4096);
    for (int it = 0; it < 3000; it++) {
        memcpy(copy, b.data, b.len);
        int flips = 1 + (int)fw_rng_below(&r, 4);
        for (int k = 0; k < flips; k++) copy[fw_rng_below(&r, b.len)] ^= (uint8_t)(1 + fw_rng_below(&r, 255));
        fw_status st = fw_gbdt_vtable.load(copy, b.len, &l, &err);
        if (st == FW_OK) {
            fw_row row = fw_matrix_row(&d.X, 0);
            double out[1], con[4];
            if (fw_model_scratch_size(l) <= 4096) {
                CHECK_OK(fw_model_predict_row(l, &row, scratch, out));
                CHECK_OK(l->vt->explain_row(l, &row, scratch, con));
            }
            fw_model_free(l);
            l = NULL;
        } else {
            CHECK(l == NULL);
        }
    }
    /* pure noise */
    for (int it = 0; it < 500; it++) {
        size_t n = (size_t)fw_rng_below(&r, 400);
        for (size_t i = 0; i < n; i++) copy[i] = (uint8_t)fw_rng_next(&r);
        if (n >= 4) memcpy(copy, b.data, 4); /* past the magic sometimes */
        CHECK(fw_gbdt_vtable.load(copy, n, &l, &err) != FW_OK);
    }
    fw_free(scratch);
    fw_free(copy);
    fw_buf_free(&b);
    fw_model_free(m);
    ds_free(&d);
}

/* ---- imbalance, weights, bad input ----------------------------------------------------------- */

static double auc(const double *p, const double *y, size_t n) {
    /* positives are few: count pairs directly */
    double pairs = 0, good = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0.5) continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j] > 0.5) continue;
            pairs++;
            good += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
        }
    }
    return good / pairs;
}

static void test_imbalanced(void) {
    dataset d;
    fw_rng r;
    fw_rng_seed(&r, 14);
    size_t n = 100000;
    ds_alloc(&d, n, 3);
    for (size_t i = 0; i < n; i++) {
        float *x = d.X.dense + i * 3;
        bool pos = i % 10000 == 17;
        x[0] = pos ? 2.0f + (float)fw_rng_uniform(&r) : uni(&r);
        x[1] = uni(&r);
        x[2] = uni(&r);
        d.y[i] = pos;
    }
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    for (int v = 0; v < 2; v++) {
        const char *params[] = {"n_estimators=20", "class_weight=balanced"};
        fw_model *m = fit(&td, params, v ? 2 : 1, 2);
        if (!m) continue;
        double *p = predict(m, &d.X, 2);
        double a = auc(p, d.y, n);
        CHECK_MSG(a > 0.95, "AUC %.4f (%s)", a, v ? "balanced" : "none");
        fw_free(p);
        fw_model_free(m);
    }
    ds_free(&d);
}

static void test_sample_weights(void) {
    /* rows with weight 0 are ignored: their labels are flipped and must not matter */
    dataset d;
    make_xor(&d, 2000, 2, 15);
    double *w = fw_malloc(2000 * sizeof(double));
    for (size_t i = 0; i < 2000; i++) {
        w[i] = i % 4 == 0 ? 0.0 : 1.0;
        if (i % 4 == 0) d.y[i] = 1 - d.y[i];
    }
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    td.weight = w;
    fw_model *m = fit(&td, NULL, 0, 1);
    if (m) {
        double *p = predict(m, &d.X, 1);
        size_t ok = 0, cnt = 0;
        for (size_t i = 0; i < 2000; i++)
            if (i % 4) {
                cnt++;
                ok += (p[i] > 0.5) == (d.y[i] > 0.5);
            }
        CHECK_MSG(ok > cnt * 95 / 100, "weighted accuracy %zu/%zu", ok, cnt);
        fw_free(p);
        fw_model_free(m);
    }
    fw_free(w);
    ds_free(&d);
}

static void test_bad_input(void) {
    dataset d;
    make_xor(&d, 300, 4, 16);
    /* constant and all-missing features are fine (never split on) */
    for (size_t i = 0; i < 300; i++) {
        d.X.dense[i * 4 + 2] = 5.0f;
        d.X.dense[i * 4 + 3] = NAN;
    }
    fw_train_data td = tdata(&d, FW_TASK_BINARY, 2);
    fw_model *m = fit(&td, NULL, 0, 1);
    if (m) {
        double imp[4];
        CHECK_OK(m->vt->importance(m, imp));
        CHECK(imp[2] == 0 && imp[3] == 0 && imp[0] > 0);
        fw_model_free(m);
    }
    fw_err err;
    fw_fit_options o;
    fw_fit_options_init(&o);
    /* NaN and inf labels */
    d.y[17] = NAN;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 17");
    d.y[17] = INFINITY;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EDATA);
    CHECK_CONTAINS(err.msg, "infinite");
    /* binary label that is not 0/1; constant binary label */
    d.y[17] = 2;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EDATA);
    for (size_t i = 0; i < 300; i++) d.y[i] = 1;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EDATA);
    CHECK_CONTAINS(err.msg, "at least two classes");
    /* unknown or out-of-range parameters */
    const char *p1[] = {"max_dept=3"};
    o.params = p1;
    o.n_params = 1;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EINVAL);
    CHECK_CONTAINS(err.msg, "max_dept");
    const char *p2[] = {"objective=l2"};
    o.params = p2;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EINVAL);
    const char *p3[] = {"max_bin=256"};
    o.params = p3;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EINVAL);
    CHECK_CONTAINS(err.msg, "max_bin");
    /* multilabel is not supported */
    td.task = FW_TASK_MULTILABEL;
    o.n_params = 0;
    CHECK(fw_model_fit("gbdt", &td, &o, &m, &err) == FW_EUNSUPPORTED);
    ds_free(&d);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_learns_xor);
    TEST_RUN(test_regression_step);
    TEST_RUN(test_multiclass);
    TEST_RUN(test_missing_direction);
    TEST_RUN(test_early_stopping_and_progress);
    TEST_RUN(test_threads_bit_identical);
    TEST_RUN(test_row_block_and_roundtrip);
    TEST_RUN(test_treeshap);
    TEST_RUN(test_corrupt_bytes);
    TEST_RUN(test_imbalanced);
    TEST_RUN(test_sample_weights);
    TEST_RUN(test_bad_input);
    return fw_test_report(argv[0]);
}
