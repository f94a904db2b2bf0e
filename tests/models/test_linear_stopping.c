/* test_linear_stopping.c — validation early stopping of the linear family's L-BFGS solver
 * (early_stopping_rounds): on wide, noisy data with a weak l2 the fit overfits long before it
 * converges, and the kept point has a much lower validation loss than the converged one; without
 * validation rows (or with 0) nothing changes; the result is the same for every thread count; the
 * refit hook keeps the stopped iteration count; weighted validation rows are judged weighted. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/linear_int.h"
#include "test.h"

#include <stdlib.h>

typedef struct set {
    fw_matrix X;
    double *y;
} set;

/* Three classes from 3 of 120 features, the rest noise: 150 rows overfit easily. */
static void make_wide(set *s, size_t n, uint64_t seed) {
    const size_t nd = 120;
    CHECK_OK(fw_matrix_alloc(&s->X, n, nd, 0));
    s->y = fw_calloc(n, sizeof(double));
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        float *x = s->X.dense + i * nd;
        for (size_t j = 0; j < nd; j++) x[j] = (float)fw_rng_normal(&r);
        double z = x[0] + 0.7 * x[1] - 0.5 * x[2] + 1.2 * fw_rng_normal(&r);
        s->y[i] = z < -0.5 ? 0 : z < 0.5 ? 1 : 2;
    }
}

static void set_free(set *s) {
    fw_matrix_free(&s->X);
    fw_free(s->y);
}

static fw_model *fit(const set *tr, const set *va, int threads, const char **params, size_t np) {
    fw_train_data d = {.X = &tr->X, .y = tr->y, .task = FW_TASK_MULTICLASS, .n_outputs = 3, .n_classes = 3};
    if (va) {
        d.X_valid = &va->X;
        d.y_valid = va->y;
    }
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = threads;
    o.params = params;
    o.n_params = np;
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_model_fit("linear", &d, &o, &m, &err);
    CHECK_MSG(st == FW_OK, "fit failed: %s", err.msg);
    return m;
}

/* Mean log loss of a multiclass model on a set. */
static double log_loss(const fw_model *m, const set *s) {
    size_t n = s->X.n_rows;
    double *p = fw_malloc(n * 3 * sizeof(double)), l = 0;
    CHECK_OK(fw_model_predict_block(m, &s->X, 1, p));
    for (size_t i = 0; i < n; i++) l -= log(fmax(p[i * 3 + (size_t)s->y[i]], 1e-15));
    fw_free(p);
    return l / (double)n;
}

static uint8_t *bytes_of(const fw_model *m, size_t *len) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_model_save(m, &b));
    *len = b.len;
    return b.data;
}

static void test_stops_where_validation_loss_climbs(void) {
    set tr, va, te;
    make_wide(&tr, 150, 1);
    make_wide(&va, 300, 2);
    make_wide(&te, 2000, 3);
    const char *conv[] = {"l2=0.00001", "max_iter=500"};
    const char *es[] = {"l2=0.00001", "max_iter=500", "early_stopping_rounds=20"};
    fw_model *mc = fit(&tr, &va, 1, conv, 2), *me = fit(&tr, &va, 1, es, 3);
    if (mc && me) {
        const fw_linear *lc = (const fw_linear *)mc, *le = (const fw_linear *)me;
        CHECK(!lc->stopped_early);
        CHECK(le->stopped_early);
        CHECK_MSG(le->iters < lc->iters, "stopped at %d, converged at %d", le->iters, lc->iters);
        double vc = log_loss(mc, &va), ve = log_loss(me, &va);
        CHECK_MSG(ve < vc, "validation loss: stopped %.4f, converged %.4f", ve, vc);
        /* and it generalizes: the test loss falls too */
        double tc = log_loss(mc, &te), tE = log_loss(me, &te);
        CHECK_MSG(tE < tc, "test loss: stopped %.4f, converged %.4f", tE, tc);
        /* the refit keeps the iteration count */
        char out[1][FW_REFIT_PARAM_LEN];
        CHECK_EQ(me->vt->refit_params(me, 1.2, out, 1), 1u);
        char want[FW_REFIT_PARAM_LEN];
        snprintf(want, sizeof want, "max_iter=%d", le->iters);
        CHECK_STR(out[0], want);
        CHECK_EQ(mc->vt->refit_params(mc, 1.2, out, 1), 0u); /* converged: same parameters */
    }
    fw_model_free(mc);
    fw_model_free(me);
    set_free(&tr);
    set_free(&va);
    set_free(&te);
}

static void test_no_validation_no_change_and_threads(void) {
    set tr, va;
    make_wide(&tr, 150, 4);
    make_wide(&va, 300, 5);
    const char *plain[] = {"l2=0.00001"};
    const char *es[] = {"l2=0.00001", "early_stopping_rounds=20"};
    fw_model *a = fit(&tr, NULL, 1, plain, 1), *b = fit(&tr, NULL, 1, es, 2);
    size_t la = 0, lb = 0;
    uint8_t *ba = a ? bytes_of(a, &la) : NULL, *bb = b ? bytes_of(b, &lb) : NULL;
    CHECK(ba && bb && la == lb && memcmp(ba, bb, la) == 0); /* no validation rows: ignored */
    fw_free(ba);
    fw_free(bb);
    fw_model_free(a);
    fw_model_free(b);
    /* with validation rows: the same bytes for 1, 2 and 3 threads */
    uint8_t *first = NULL;
    size_t lf = 0;
    for (int t = 1; t <= 3; t++) {
        fw_model *m = fit(&tr, &va, t, es, 2);
        if (!m) continue;
        size_t l = 0;
        uint8_t *by = bytes_of(m, &l);
        if (!first) {
            first = by;
            lf = l;
        } else {
            CHECK_MSG(l == lf && memcmp(by, first, l) == 0, "%d threads gave other bytes", t);
            fw_free(by);
        }
        fw_model_free(m);
    }
    fw_free(first);
    set_free(&tr);
    set_free(&va);
}

/* Weighted rows (data.weight, retrain's learn.rows: decay): the validation loss is weighted as the
 * training loss is. The training rows are 300 of a new concept at weight 1 and 3,000 of the old one
 * (the sign of x0 flipped) at weight 1e-6; the validation rows likewise. Judged unweighted, the
 * validation rows are the old concept's, the loss climbs from the first step and the fit is cut
 * back to its start (no slope); weighted, the fit keeps the new concept's slope. */
static void test_weighted_validation(void) {
    set tr, va;
    size_t nn = 300, no = 3000, n = nn + no;
    double *wt = fw_calloc(n, sizeof(double)), *wv = fw_calloc(n, sizeof(double));
    for (int k = 0; k < 2; k++) {
        set *s = k ? &va : &tr;
        double *w = k ? wv : wt;
        CHECK_OK(fw_matrix_alloc(&s->X, n, 2, 0));
        s->y = fw_calloc(n, sizeof(double));
        fw_rng r;
        fw_rng_seed(&r, 11 + (uint64_t)k);
        for (size_t i = 0; i < n; i++) {
            float *x = s->X.dense + i * 2;
            x[0] = (float)fw_rng_normal(&r);
            x[1] = (float)fw_rng_normal(&r);
            double sign = i < nn ? 1 : -1; /* the new concept first */
            s->y[i] = sign * 2 * x[0] + 0.5 * fw_rng_normal(&r) > 0;
            w[i] = i < nn ? 1 : 1e-6;
        }
    }
    const char *es[] = {"early_stopping_rounds=5"};
    fw_train_data d = {.X = &tr.X, .y = tr.y, .weight = wt, .X_valid = &va.X, .y_valid = va.y, .weight_valid = wv,
                       .task = FW_TASK_BINARY, .n_outputs = 1, .n_classes = 2};
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.threads = 1;
    o.params = es;
    o.n_params = 1;
    fw_model *m = NULL;
    fw_err err;
    CHECK_OK(fw_model_fit("linear", &d, &o, &m, &err));
    if (m) {
        /* P(y=1 | x0 = 1) under the new concept is high: the fit learned its slope */
        fw_matrix q;
        CHECK_OK(fw_matrix_alloc(&q, 2, 2, 0));
        q.dense[0] = 1, q.dense[1] = 0, q.dense[2] = -1, q.dense[3] = 0;
        double p[2];
        CHECK_OK(fw_model_predict_block(m, &q, 1, p));
        CHECK_MSG(p[0] > 0.8 && p[1] < 0.2, "P(y | x0 = +1) %.3f, P(y | x0 = -1) %.3f: the slope was cut back", p[0], p[1]);
        fw_matrix_free(&q);
        fw_model_free(m);
    }
    fw_free(wt);
    fw_free(wv);
    set_free(&tr);
    set_free(&va);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_stops_where_validation_loss_climbs);
    TEST_RUN(test_no_validation_no_change_and_threads);
    TEST_RUN(test_weighted_validation);
    return fw_test_report(argv[0]);
}
