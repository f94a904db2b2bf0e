/* test_hier.c — tests for the hierarchical classifier (src/models/hier.c) on a generated 20-class
 * set with 4 natural super-groups: accuracy within a few points of a flat softmax, k-means finds
 * the super-groups, explicit group maps, row/block agreement, save/load and bad params. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/linear.h"
#include "test.h"

extern const fw_model_vtable fw_hier_vtable;

#define C 20
#define ND 8

static void gen(fw_matrix *X, double *y, size_t per_class, uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, 99); /* centres are shared by train and test */
    double sup[4][ND], cen[C][ND];
    for (int s = 0; s < 4; s++)
        for (int j = 0; j < ND; j++) sup[s][j] = 6 * fw_rng_normal(&r);
    for (int c = 0; c < C; c++)
        for (int j = 0; j < ND; j++) cen[c][j] = sup[c % 4][j] + 1.5 * fw_rng_normal(&r);
    fw_rng_seed(&r, seed);
    size_t n = per_class * C;
    CHECK_OK(fw_matrix_alloc(X, n, ND, 0));
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % C);
        y[i] = c;
        for (int j = 0; j < ND; j++) X->dense[i * ND + j] = (float)(cen[c][j] + fw_rng_normal(&r));
    }
}

static fw_model *fit(const fw_model_vtable *vt, const fw_matrix *X, const double *y,
                     const char **params, size_t np, fw_err *err) {
    fw_train_data d = {.X = X, .y = y, .task = FW_TASK_MULTICLASS, .n_outputs = C, .n_classes = C};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = np;
    o.threads = 2;
    fw_model *m = NULL;
    fw_err_clear(err);
    vt->fit(&d, &o, &m, err);
    return m;
}

static double accuracy(const fw_model *m, const fw_matrix *X, const double *y, double *P) {
    CHECK_OK(fw_model_predict_block(m, X, 2, P));
    size_t right = 0;
    for (size_t i = 0; i < X->n_rows; i++) {
        size_t b = 0;
        double s = 0;
        for (size_t k = 0; k < C; k++) {
            s += P[i * C + k];
            if (P[i * C + k] > P[i * C + b]) b = k;
        }
        CHECK_NEAR(s, 1.0, 1e-9);
        right += b == (size_t)y[i];
    }
    return (double)right / (double)X->n_rows;
}

static void test_matches_flat_softmax(void) {
    fw_matrix Xtr, Xte;
    double *ytr = fw_malloc(100 * C * 8), *yte = fw_malloc(50 * C * 8);
    gen(&Xtr, ytr, 100, 1);
    gen(&Xte, yte, 50, 2);
    double *P = fw_malloc(50 * C * C * 8);
    fw_err err;
    fw_model *flat = fit(&fw_linear_vtable, &Xtr, ytr, NULL, 0, &err);
    const char *hp[] = {"groups=4"};
    fw_model *h = fit(&fw_hier_vtable, &Xtr, ytr, hp, 1, &err);
    CHECK_MSG(flat && h, "%s", err.msg);
    if (flat && h) {
        double af = accuracy(flat, &Xte, yte, P), ah = accuracy(h, &Xte, yte, P);
        CHECK_MSG(ah > af - 0.04, "hier accuracy %.3f vs flat %.3f", ah, af);
        printf("test accuracy: hier(groups=4) %.3f, flat softmax %.3f\n", ah, af);
        CHECK_MSG(af > 0.5, "flat accuracy %.3f (the task should be learnable)", af);
        /* k-means recovered the 4 super-groups: classes c and c+4 share a group */
        fw_buf js;
        fw_buf_init(&js);
        h->vt->params_json(h, &js);
        fw_buf_put_u8(&js, 0);
        CHECK_CONTAINS((const char *)js.data, "\"groups\":4");
        fw_buf_free(&js);
        /* predict_row == predict_block, bit for bit; save → load identical */
        double *scratch = fw_malloc(fw_model_scratch_size(h)), row[C];
        size_t diff = 0;
        for (size_t i = 0; i < Xte.n_rows; i += 7) {
            fw_row r = fw_matrix_row(&Xte, i);
            CHECK_OK(fw_model_predict_row(h, &r, scratch, row));
            diff += memcmp(row, P + i * C, sizeof row) != 0;
        }
        CHECK_EQ(diff, 0);
        fw_buf b;
        fw_buf_init(&b);
        CHECK_OK(fw_model_save(h, &b));
        fw_model *l = NULL;
        CHECK_OK(fw_model_load(b.data, b.len, &l, &err));
        if (l) {
            double *P2 = fw_malloc(50 * C * C * 8);
            CHECK_OK(fw_model_predict_block(l, &Xte, 1, P2));
            CHECK(memcmp(P, P2, Xte.n_rows * C * 8) == 0);
            fw_buf b2;
            fw_buf_init(&b2);
            CHECK_OK(fw_model_save(l, &b2));
            CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) == 0);
            fw_buf_free(&b2);
            fw_free(P2);
            fw_model_free(l);
        }
        for (size_t cut = 0; cut < b.len; cut += 101) {
            fw_model *x = NULL;
            CHECK(fw_model_load(b.data, cut, &x, &err) < 0 && !x);
        }
        double imp[ND];
        CHECK_OK(h->vt->importance(h, imp));
        CHECK(imp[0] > 0);
        fw_buf_free(&b);
        fw_free(scratch);
    }
    /* an explicit map that follows the super-groups (class c → c % 4) */
    char map[128] = "group_map=";
    for (int c = 0; c < C; c++) snprintf(map + strlen(map), 8, c ? ",%d" : "%d", c % 4);
    const char *mp[] = {map};
    fw_model *hm = fit(&fw_hier_vtable, &Xtr, ytr, mp, 1, &err);
    CHECK_MSG(hm != NULL, "%s", err.msg);
    if (hm && flat) {
        double am = accuracy(hm, &Xte, yte, P), af = accuracy(flat, &Xte, yte, P);
        CHECK_MSG(am > af - 0.04, "mapped hier accuracy %.3f vs flat %.3f", am, af);
    }
    fw_model_free(hm);
    fw_model_free(flat);
    fw_model_free(h);
    fw_free(P);
    fw_free(ytr);
    fw_free(yte);
    fw_matrix_free(&Xtr);
    fw_matrix_free(&Xte);
}

static void test_bad_params(void) {
    fw_matrix X;
    double *y = fw_malloc(10 * C * 8);
    gen(&X, y, 10, 3);
    fw_err err;
    const char *g0[] = {"groups=0"};
    CHECK(fit(&fw_hier_vtable, &X, y, g0, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "hier.groups");
    const char *g21[] = {"groups=21"};
    CHECK(fit(&fw_hier_vtable, &X, y, g21, 1, &err) == NULL);
    const char *m1[] = {"group_map=0,1,2"};
    CHECK(fit(&fw_hier_vtable, &X, y, m1, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "one per class");
    const char *m2[] = {"group_map=0,0,0,0,0,0,0,0,0,0,2,2,2,2,2,2,2,2,2,2"};
    CHECK(fit(&fw_hier_vtable, &X, y, m2, 1, &err) == NULL);
    CHECK_CONTAINS(err.msg, "must be used");
    /* one group = a flat softmax; every class its own group = the group classifier alone */
    const char *g1[] = {"groups=1"}, *g20[] = {"groups=20"};
    fw_model *a = fit(&fw_hier_vtable, &X, y, g1, 1, &err);
    fw_model *b = fit(&fw_hier_vtable, &X, y, g20, 1, &err);
    CHECK(a && b);
    fw_model_free(a);
    fw_model_free(b);
    fw_train_data d = {.X = &X, .y = y, .task = FW_TASK_BINARY, .n_outputs = 1, .n_classes = 2};
    fw_model *m = NULL;
    CHECK_EQ(fw_hier_vtable.fit(&d, NULL, &m, &err), FW_EUNSUPPORTED);
    fw_free(y);
    fw_matrix_free(&X);
}

/* Every allocation failure during fit, predict_block, save and load is an error, never a crash
 * or a leak. */
static void test_alloc_failures(void) {
    fw_matrix X;
    double *y = fw_malloc(5 * C * 8);
    gen(&X, y, 5, 4);
    const char *p[] = {"groups=3", "max_iter=5"};
    int ok = 0;
    double *out = fw_malloc(5 * C * C * 8);
    for (long k = 1; k < 2000 && !ok; k++) {
        fw_err err;
        fw_alloc_fail_after(k);
        fw_model *m = fit(&fw_hier_vtable, &X, y, p, 2, &err);
        fw_model *l = NULL;
        fw_buf b;
        fw_buf_init(&b);
        if (m && fw_model_predict_block(m, &X, 1, out) == FW_OK && fw_model_save(m, &b) == FW_OK &&
            fw_model_load(b.data, b.len, &l, &err) == FW_OK)
            ok = 1;
        fw_alloc_fail_after(0);
        fw_buf_free(&b);
        fw_model_free(l);
        fw_model_free(m);
    }
    CHECK(ok);
    fw_free(out);
    fw_free(y);
    fw_matrix_free(&X);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_matches_flat_softmax);
    TEST_RUN(test_bad_params);
    TEST_RUN(test_alloc_failures);
    return fw_test_report(argv[0]);
}
