/* test_gbdt_rank.c — the gbdt family's LambdaMART objective (gbdt_rank.c) and the ranking helpers
 * of the families (rank_groups.c, the pairwise linear loss, the baseline's best feature): lambda
 * gradients and Hessians of a hand-computed query (|ΔNDCG| weights, the sigmoid of the score gap,
 * per-query normalisation), gradients summing to zero per query, NDCG rising with the rounds and
 * beating pointwise regression on queries whose relevance depends on the query, early stopping on
 * validation NDCG, the model saved and reloaded, errors (no query ids, lambdarank outside ranking),
 * and the pairwise linear model and the feature baseline ordering rows within queries. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/gbdt_int.h"
#include "models/rank_groups.h"
#include "test.h"

#include <stdlib.h>

/* One query, labels 2, 0, 1; truncation 30, linear gain. Expected values computed by hand
 * (python, in the comment of each case): positions by score (ties by row), pairs (i < j) of
 * different labels, delta = |y_i - y_j| |1/log2(i+2) - 1/log2(j+2)| / IDCG (IDCG = 2 + 1/log2 3),
 * rho = 1 / (1 + exp(s_hi - s_lo)), lambda = rho delta, hess = rho (1 - rho) delta, then every
 * value times log2(1 + S) / S, S = 2 sum lambda. */
static void test_hand_computed_gradients(void) {
    uint32_t q[3] = {7, 7, 7};
    double y[3] = {2, 0, 1};
    fw_gbdt_params p;
    fw__gbdt_params_init(&p);
    fw__gbdt_rank *r = NULL;
    CHECK_OK(fw__gbdt_rank_new(q, y, 3, &p, &r));
    if (!r) return;
    double gh[6];
    /* equal scores: positions 0, 1, 2; every rho = 1/2 */
    double s0[3] = {0, 0, 0};
    fw__gbdt_rank_grad(r, s0, NULL, gh, 1);
    const double g0[3] = {-0.2733117170210089, 0.19184178421880707, 0.0814699328022019};
    const double h0[3] = {0.13665585851050446, 0.09592089210940354, 0.06963688501550422};
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(gh[2 * i], g0[i], 1e-12);
        CHECK_NEAR(gh[2 * i + 1], h0[i], 1e-12);
    }
    /* row 1 (relevance 0) scored highest: order 1, 0, 2 */
    double s1[3] = {0, 1, 0};
    fw__gbdt_rank_grad(r, s1, NULL, gh, 1);
    const double g1[3] = {-0.2485222367985537, 0.3717647707435239, -0.12324253394497016};
    const double h1[3] = {0.07305056920566723, 0.09998294585905367, 0.05382012795805462};
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(gh[2 * i], g1[i], 1e-12);
        CHECK_NEAR(gh[2 * i + 1], h1[i], 1e-12);
    }
    /* row weights scale a row's gradient and Hessian */
    double w[3] = {2, 1, 1};
    fw__gbdt_rank_grad(r, s1, w, gh, 1);
    CHECK_NEAR(gh[0], 2 * g1[0], 1e-12);
    CHECK_NEAR(gh[1], 2 * h1[0], 1e-12);
    CHECK_NEAR(gh[2], g1[1], 1e-12);
    fw__gbdt_rank_free(r);
}

/* Queries of 20 rows; relevance 0..3 by the row's place within its query (the top 2 rows 3, the
 * next 3 rows 2, the next 5 rows 1, the rest 0) of a query-dependent mix of features 0 and 1
 * (feature 2 says the mix); features 0 and 1 carry a per-query offset (feature 3 is noise), so a
 * feature value says little about the grade across queries (pointwise regression suffers) but
 * the order within a query says everything. */
typedef struct rset {
    fw_matrix X;
    double *y;
    uint32_t *q;
    size_t n;
} rset;

static void make_rank(rset *d, size_t n_q, uint64_t seed) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    size_t per = 20, nf = 4;
    d->n = n_q * per;
    CHECK_OK(fw_matrix_alloc(&d->X, d->n, nf, 0));
    d->y = fw_calloc(d->n, sizeof(double));
    d->q = fw_calloc(d->n, sizeof(uint32_t));
    double s[20];
    for (size_t qi = 0; qi < n_q; qi++) {
        double mix = fw_rng_uniform(&r);
        double offset = 2 * fw_rng_uniform(&r);
        for (size_t k = 0; k < per; k++) {
            size_t i = qi * per + k;
            float *x = d->X.dense + i * nf;
            double a = fw_rng_uniform(&r), b = fw_rng_uniform(&r);
            x[0] = (float)(a + offset);
            x[1] = (float)(b + offset);
            x[2] = (float)mix;
            x[3] = (float)fw_rng_uniform(&r);
            s[k] = mix * a + (1 - mix) * b + 0.05 * fw_rng_uniform(&r);
            d->q[i] = (uint32_t)(1000 + qi);
        }
        for (size_t k = 0; k < per; k++) {
            size_t above = 0;
            for (size_t j = 0; j < per; j++) above += s[j] > s[k];
            d->y[qi * per + k] = above < 2 ? 3 : above < 5 ? 2 : above < 10 ? 1 : 0;
        }
    }
}

static void rset_free(rset *d) {
    fw_matrix_free(&d->X);
    fw_free(d->y);
    fw_free(d->q);
}

static double ndcg10(const rset *d, const fw_model *m) {
    double *p = fw_malloc(d->n * sizeof *p);
    CHECK_OK(fw_model_predict_block(m, &d->X, 1, p));
    fw_rank_groups g;
    CHECK_OK(fw_rank_groups_make(d->q, d->n, &g));
    void *scratch = fw_malloc(fw_rank_ndcg_scratch_bytes(&g));
    double v = fw_rank_ndcg(&g, d->y, p, 1, 10, scratch);
    fw_free(scratch);
    fw_rank_groups_free(&g);
    fw_free(p);
    return v;
}

static fw_train_data tdata(const rset *tr, const rset *va) {
    fw_train_data td = {0};
    td.X = &tr->X;
    td.y = tr->y;
    td.query = tr->q;
    td.X_valid = va ? &va->X : NULL;
    td.y_valid = va ? va->y : NULL;
    td.query_valid = va ? va->q : NULL;
    td.task = FW_TASK_RANKING;
    td.n_outputs = 1;
    return td;
}

static fw_model *fit(const char *family, const fw_train_data *td, const char *const *params, size_t n) {
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = n;
    o.threads = 1;
    fw_err err;
    fw_err_clear(&err);
    fw_model *m = NULL;
    fw_status st = fw_model_fit(family, td, &o, &m, &err);
    CHECK_MSG(st == FW_OK, "%s fit: %s", family, err.msg);
    return m;
}

static void test_gradients_sum_to_zero(void) {
    rset d;
    make_rank(&d, 30, 5);
    fw_gbdt_params p;
    fw__gbdt_params_init(&p);
    fw__gbdt_rank *r = NULL;
    CHECK_OK(fw__gbdt_rank_new(d.q, d.y, d.n, &p, &r));
    double *s = fw_malloc(d.n * sizeof *s), *gh = fw_malloc(2 * d.n * sizeof *gh);
    fw_rng rng;
    fw_rng_seed(&rng, 9);
    for (size_t i = 0; i < d.n; i++) s[i] = fw_rng_uniform(&rng);
    fw__gbdt_rank_grad(r, s, NULL, gh, 2);
    for (size_t qi = 0; qi < 30; qi++) {
        double sum = 0, hs = 0;
        for (size_t k = 0; k < 20; k++) {
            sum += gh[2 * (qi * 20 + k)];
            hs += gh[2 * (qi * 20 + k) + 1];
        }
        CHECK_NEAR(sum, 0, 1e-12);
        CHECK(hs > 0);
    }
    /* threads do not change a bit */
    double *gh1 = fw_malloc(2 * d.n * sizeof *gh1);
    fw__gbdt_rank_grad(r, s, NULL, gh1, 1);
    CHECK(memcmp(gh, gh1, 2 * d.n * sizeof *gh) == 0);
    fw_free(gh1);
    fw_free(s);
    fw_free(gh);
    fw__gbdt_rank_free(r);
    rset_free(&d);
}

static void test_ndcg_rises(void) {
    rset tr, te;
    make_rank(&tr, 150, 1);
    make_rank(&te, 60, 2);
    fw_train_data td = tdata(&tr, NULL);
    const char *one[] = {"n_estimators=1"};
    const char *many[] = {"n_estimators=60", "learning_rate=0.2"};
    const char *l2[] = {"n_estimators=60", "learning_rate=0.2", "objective=l2"};
    fw_model *m1 = fit("gbdt", &td, one, 1);
    fw_model *m60 = fit("gbdt", &td, many, 2);
    fw_model *mp = fit("gbdt", &td, l2, 3);
    if (m1 && m60 && mp) {
        double a = ndcg10(&te, m1), b = ndcg10(&te, m60), c = ndcg10(&te, mp);
        CHECK_MSG(b > a + 0.03, "NDCG@10 after 1 round %g, after 60 %g", a, b);
        CHECK_MSG(b > c, "lambdarank %g vs pointwise l2 %g", b, c);
        CHECK_STR(fw__gbdt_objective_name(((fw_gbdt_model *)m60)->params.objective), "lambdarank");
        CHECK_STR(fw__gbdt_objective_name(((fw_gbdt_model *)mp)->params.objective), "l2");
        /* saved and reloaded: the same scores */
        fw_buf b1;
        fw_buf_init(&b1);
        CHECK_OK(fw_model_save(m60, &b1));
        fw_model *back = NULL;
        fw_err err;
        CHECK_OK(fw_model_load(b1.data, b1.len, &back, &err));
        if (back) CHECK_NEAR(ndcg10(&te, back), b, 0);
        fw_model_free(back);
        fw_buf_free(&b1);
    }
    fw_model_free(m1);
    fw_model_free(m60);
    fw_model_free(mp);
    rset_free(&tr);
    rset_free(&te);
}

static void test_early_stopping_on_ndcg(void) {
    rset tr, va;
    make_rank(&tr, 80, 3);
    make_rank(&va, 40, 4);
    fw_train_data td = tdata(&tr, &va);
    const char *p[] = {"n_estimators=400", "learning_rate=0.5", "early_stopping_rounds=5"};
    fw_model *m = fit("gbdt", &td, p, 3);
    if (m) {
        fw_gbdt_model *g = (fw_gbdt_model *)m;
        CHECK(g->stop_reason == FW_GBDT_STOP_EARLY);
        CHECK(g->best_iteration >= 0);
        CHECK_EQ(g->n_rounds, (uint32_t)g->best_iteration + 1);
        /* the kept rounds' validation NDCG is the best seen: 1 - best_valid_loss */
        CHECK_NEAR(1.0 - g->best_valid_loss, ndcg10(&va, m), 1e-9);
    }
    fw_model_free(m);
    rset_free(&tr);
    rset_free(&va);
}

static void test_errors(void) {
    rset d;
    make_rank(&d, 10, 6);
    fw_train_data td = tdata(&d, NULL);
    fw_fit_options o;
    fw_fit_options_init(&o);
    fw_err err;
    fw_model *m = NULL;
    /* a regression task cannot ask for lambdarank */
    fw_train_data reg = td;
    reg.task = FW_TASK_REGRESSION;
    const char *lr[] = {"objective=lambdarank"};
    o.params = lr;
    o.n_params = 1;
    CHECK_EQ(fw_model_fit("gbdt", &reg, &o, &m, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "does not fit");
    /* lambdarank without query ids */
    fw_train_data noq = td;
    noq.query = NULL;
    CHECK_EQ(fw_model_fit("gbdt", &noq, &o, &m, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "query");
    /* a negative relevance */
    d.y[3] = -1;
    o.n_params = 0;
    CHECK_EQ(fw_model_fit("gbdt", &td, &o, &m, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "relevance");
    CHECK(m == NULL);
    rset_free(&d);
}

static void test_linear_pairwise_and_baseline(void) {
    rset tr, te;
    make_rank(&tr, 150, 11);
    make_rank(&te, 60, 12);
    fw_train_data td = tdata(&tr, NULL);
    fw_model *pw = fit("linear", &td, NULL, 0);
    const char *sq[] = {"loss=squared"};
    fw_model *ls = fit("linear", &td, sq, 1);
    fw_model *bl = fit("baseline", &td, NULL, 0);
    if (pw && ls && bl) {
        double a = ndcg10(&te, pw), b = ndcg10(&te, ls), c = ndcg10(&te, bl);
        CHECK_MSG(a > c, "pairwise %g vs baseline %g", a, c);
        CHECK_MSG(a >= b - 0.01, "pairwise %g vs squared %g", a, b);
        fw_buf pj;
        fw_buf_init(&pj);
        pw->vt->params_json(pw, &pj);
        fw_buf_put_u8(&pj, 0);
        CHECK_CONTAINS((const char *)pj.data, "\"loss\":\"pairwise\"");
        pj.len = 0;
        bl->vt->params_json(bl, &pj);
        fw_buf_put_u8(&pj, 0);
        CHECK_CONTAINS((const char *)pj.data, "\"kind\":\"feature\"");
        fw_buf_free(&pj);
        /* the baseline is one feature's order: the best single feature scores every row */
        fw_buf sb;
        fw_buf_init(&sb);
        CHECK_OK(fw_model_save(bl, &sb));
        fw_model *back = NULL;
        fw_err err;
        CHECK_OK(fw_model_load(sb.data, sb.len, &back, &err));
        if (back) CHECK_NEAR(ndcg10(&te, back), c, 0);
        fw_model_free(back);
        fw_buf_free(&sb);
    }
    fw_model_free(pw);
    fw_model_free(ls);
    fw_model_free(bl);
    rset_free(&tr);
    rset_free(&te);
}

static void test_baseline_picks_the_feature(void) {
    /* relevance = the order of feature 2 reversed (lower is better): the baseline must find it */
    rset d;
    make_rank(&d, 20, 21);
    for (size_t i = 0; i < d.n; i++) {
        float v = (float)((i * 7919) % 97) / 97.0f;
        d.X.dense[i * 4 + 2] = v;
        d.y[i] = v < 0.2f ? 3 : v < 0.4f ? 2 : v < 0.6f ? 1 : 0;
    }
    fw_train_data td = tdata(&d, NULL);
    fw_model *bl = fit("baseline", &td, NULL, 0);
    if (bl) {
        fw_buf pj;
        fw_buf_init(&pj);
        bl->vt->params_json(bl, &pj);
        fw_buf_put_u8(&pj, 0);
        CHECK_CONTAINS((const char *)pj.data, "\"feature\":2,\"direction\":\"ascending\"");
        fw_buf_free(&pj);
        CHECK_NEAR(ndcg10(&d, bl), 1.0, 1e-12);
    }
    fw_model_free(bl);
    rset_free(&d);
}

int main(void) {
    TEST_RUN(test_hand_computed_gradients);
    TEST_RUN(test_gradients_sum_to_zero);
    TEST_RUN(test_ndcg_rises);
    TEST_RUN(test_early_stopping_on_ndcg);
    TEST_RUN(test_errors);
    TEST_RUN(test_linear_pairwise_and_baseline);
    TEST_RUN(test_baseline_picks_the_feature);
    return fw_test_report("test_gbdt_rank");
}
