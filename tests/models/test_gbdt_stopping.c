/* test_gbdt_stopping.c — what gbdt's early stopping watches (early_stopping_metric): the loss by
 * default, or the classification error (ties broken by the loss), which keeps the round with the
 * fewest validation mistakes; the setting is checked, saved, reloaded, and a version-1 model (before
 * the setting existed) still loads. Also the refit hook: the rounds kept, scaled by the rows. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/gbdt_int.h"
#include "test.h"

#include <stdlib.h>

typedef struct dataset {
    fw_matrix X;
    double *y;
} dataset;

/* Three noisy classes from two features (overlapping: the loss turns up while the error is flat or
 * still falling); features 2.. are noise. */
static void make_noisy(dataset *d, size_t n, size_t nf, uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    CHECK_OK(fw_matrix_alloc(&d->X, n, nf, 0));
    d->y = fw_calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        float *x = d->X.dense + i * nf;
        for (size_t f = 0; f < nf; f++) x[f] = (float)(fw_rng_uniform(&r) * 2 - 1);
        double s = x[0] + 0.5 * x[1] + 0.9 * (fw_rng_uniform(&r) - 0.5);
        d->y[i] = s < -0.3 ? 0 : s < 0.4 ? 1 : 2;
    }
}

static void ds_free(dataset *d) {
    fw_matrix_free(&d->X);
    fw_free(d->y);
}

static fw_train_data tdata(const dataset *tr, const dataset *va, fw_task task) {
    fw_train_data td = {0};
    td.X = &tr->X;
    td.y = tr->y;
    td.X_valid = va ? &va->X : NULL;
    td.y_valid = va ? va->y : NULL;
    td.task = task;
    td.n_classes = task == FW_TASK_MULTICLASS ? 3 : task == FW_TASK_BINARY ? 2 : 0;
    td.n_outputs = task == FW_TASK_MULTICLASS ? 3 : 1;
    return td;
}

static fw_status fit(const fw_train_data *td, const char *const *params, size_t n, fw_model **m,
                     fw_err *err) {
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = n;
    o.threads = 1;
    fw_err_clear(err);
    return fw_model_fit("gbdt", td, &o, m, err);
}

/* Validation error of a multiclass model (argmax of the probabilities). */
static double valid_error(const fw_model *m, const dataset *va) {
    size_t n = va->X.n_rows, wrong = 0;
    double *p = fw_malloc(n * 3 * sizeof(double));
    CHECK_OK(fw_model_predict_block(m, &va->X, 1, p));
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < 3; k++)
            if (p[i * 3 + k] > p[i * 3 + best]) best = k;
        wrong += (double)best != va->y[i];
    }
    fw_free(p);
    return (double)wrong / (double)n;
}

static void test_error_keeps_fewest_mistakes(void) {
    dataset tr, va;
    make_noisy(&tr, 1500, 6, 7);
    make_noisy(&va, 600, 6, 8);
    fw_train_data td = tdata(&tr, &va, FW_TASK_MULTICLASS);
    /* patience beyond the rounds: both runs see all 80 rounds and keep their metric's best */
    const char *by_loss[] = {"n_estimators=80", "learning_rate=0.3", "early_stopping_rounds=1000"};
    const char *by_err[] = {"n_estimators=80", "learning_rate=0.3", "early_stopping_rounds=1000",
                            "early_stopping_metric=error"};
    fw_model *ml = NULL, *me = NULL;
    fw_err err;
    CHECK_OK(fit(&td, by_loss, 3, &ml, &err));
    CHECK_OK(fit(&td, by_err, 4, &me, &err));
    if (ml && me) {
        const fw_gbdt_model *gl = (const fw_gbdt_model *)ml, *ge = (const fw_gbdt_model *)me;
        CHECK_EQ(gl->params.stop_metric, FW_GBDT_METRIC_LOSS);
        CHECK_EQ(ge->params.stop_metric, FW_GBDT_METRIC_ERROR);
        CHECK_EQ(gl->rounds_trained, 80u);
        CHECK_EQ(ge->rounds_trained, 80u);
        /* the loss overfits on this noisy set well before 80 rounds */
        CHECK(gl->n_rounds < 80);
        double el = valid_error(ml, &va), ee = valid_error(me, &va);
        CHECK_MSG(ee <= el, "error-stopped model makes more validation mistakes (%.4f) than the loss-stopped one (%.4f)", ee, el);
        /* the kept round is the first with the fewest mistakes among equal-loss ties: re-fitting with
         * exactly that many rounds and no stopping gives the same validation error */
        char rounds[32];
        snprintf(rounds, sizeof rounds, "n_estimators=%u", ge->n_rounds);
        const char *fixed[] = {rounds, "learning_rate=0.3", "early_stopping_rounds=0"};
        fw_model *mf = NULL;
        CHECK_OK(fit(&td, fixed, 3, &mf, &err));
        if (mf) CHECK_NEAR(valid_error(mf, &va), ee, 0);
        fw_model_free(mf);
        fw_buf pj;
        fw_buf_init(&pj);
        me->vt->params_json(me, &pj);
        fw_buf_put_u8(&pj, 0);
        CHECK_CONTAINS((const char *)pj.data, "\"early_stopping_metric\":\"error\"");
        fw_buf_free(&pj);
    }
    fw_model_free(ml);
    fw_model_free(me);
    ds_free(&tr);
    ds_free(&va);
}

static void test_bad_values(void) {
    dataset tr, va;
    make_noisy(&tr, 200, 3, 1);
    make_noisy(&va, 100, 3, 2);
    fw_model *m = NULL;
    fw_err err;
    fw_train_data td = tdata(&tr, &va, FW_TASK_MULTICLASS);
    const char *bad[] = {"early_stopping_metric=auc"};
    CHECK_EQ(fit(&td, bad, 1, &m, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "gbdt.early_stopping_metric");
    CHECK(m == NULL);
    fw_train_data tr_reg = tdata(&tr, &va, FW_TASK_REGRESSION);
    const char *err_on_reg[] = {"early_stopping_metric=error"};
    CHECK_EQ(fit(&tr_reg, err_on_reg, 1, &m, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "classification");
    CHECK(m == NULL);
    ds_free(&tr);
    ds_free(&va);
}

/* Saved with the setting; a version-1 model (no setting byte) loads as "loss". */
static void test_roundtrip_and_version1(void) {
    dataset tr, va;
    make_noisy(&tr, 300, 3, 3);
    make_noisy(&va, 100, 3, 4);
    fw_train_data td = tdata(&tr, &va, FW_TASK_MULTICLASS);
    const char *p[] = {"n_estimators=10", "early_stopping_metric=error"};
    fw_model *m = NULL;
    fw_err err;
    CHECK_OK(fit(&td, p, 2, &m, &err));
    if (!m) return;
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw__gbdt_save(m, &b)); /* the family's own bytes, without the family-name prefix */
    fw_model *back = NULL;
    fw_err_clear(&err);
    CHECK_OK(fw__gbdt_load(b.data, b.len, &back, &err));
    if (back) CHECK_EQ(((fw_gbdt_model *)back)->params.stop_metric, FW_GBDT_METRIC_ERROR);
    fw_model_free(back);
    /* Version 1: the same bytes without the setting. Find it: magic, version, task, objective,
     * n_groups, n_outputs (4 x u32), n_dense (u64), then the params up to early_stopping_rounds. */
    size_t at = 4 + 4 + 4 * 4 + 8 + (4 + 8 + 4 + 4 + 1 + 4 + 8 * 7 + 1 + 4);
    CHECK_EQ(b.data[at], FW_GBDT_METRIC_ERROR);
    uint8_t *v1 = fw_malloc(b.len - 1);
    memcpy(v1, b.data, at);
    memcpy(v1 + at, b.data + at + 1, b.len - at - 1);
    v1[4] = 1; /* version, little-endian */
    fw_err_clear(&err);
    back = NULL;
    fw_status st = fw__gbdt_load(v1, b.len - 1, &back, &err);
    CHECK_MSG(st == FW_OK, "version 1 did not load: %s", err.msg);
    if (st == FW_OK && back) {
        CHECK_EQ(((fw_gbdt_model *)back)->params.stop_metric, FW_GBDT_METRIC_LOSS);
        CHECK_EQ(((fw_gbdt_model *)back)->n_trees, ((fw_gbdt_model *)m)->n_trees);
    }
    fw_model_free(back);
    /* a bad setting byte is corruption, not a crash */
    b.data[at] = 7;
    back = NULL;
    fw_err_clear(&err);
    CHECK_EQ(fw__gbdt_load(b.data, b.len, &back, &err), FW_ECORRUPT);
    CHECK(back == NULL);
    fw_free(v1);
    fw_buf_free(&b);
    fw_model_free(m);
    ds_free(&tr);
    ds_free(&va);
}

/* The refit hook: the rounds kept times the growth in rows, rounded; never fewer than kept. */
static void test_refit_params(void) {
    dataset tr, va;
    make_noisy(&tr, 400, 3, 5);
    make_noisy(&va, 200, 3, 6);
    fw_train_data td = tdata(&tr, &va, FW_TASK_MULTICLASS);
    const char *p[] = {"n_estimators=200", "learning_rate=0.5"};
    fw_model *m = NULL;
    fw_err err;
    CHECK_OK(fit(&td, p, 2, &m, &err));
    if (!m) return;
    const fw_gbdt_model *g = (const fw_gbdt_model *)m;
    CHECK(m->vt->refit_params != NULL);
    char out[2][FW_REFIT_PARAM_LEN];
    CHECK_EQ(m->vt->refit_params(m, 1.5, out, 2), 1u);
    char want[FW_REFIT_PARAM_LEN];
    snprintf(want, sizeof want, "n_estimators=%lu", (unsigned long)(g->n_rounds * 1.5 + 0.5));
    CHECK_STR(out[0], want);
    CHECK_EQ(m->vt->refit_params(m, 0.5, out, 2), 1u);
    snprintf(want, sizeof want, "n_estimators=%u", g->n_rounds);
    CHECK_STR(out[0], want);
    CHECK_EQ(m->vt->refit_params(m, 2, out, 0), 0u);
    fw_model_free(m);
    ds_free(&tr);
    ds_free(&va);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_error_keeps_fewest_mistakes);
    TEST_RUN(test_bad_values);
    TEST_RUN(test_roundtrip_and_version1);
    TEST_RUN(test_refit_params);
    return fw_test_report(argv[0]);
}
