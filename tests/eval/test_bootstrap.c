/* test_bootstrap.c — the percentile bootstrap of test metrics (eval/bootstrap.h): deterministic for a
 * seed, intervals around the point value that narrow with more rows, none for ranking; and the
 * precision-recall figures of a scorer with no ranking (one score for every row): pr_auc is the
 * prevalence and the PR curve a horizontal line there. */
#include "test.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "eval/bootstrap.h"

#include <stdlib.h>
#include <string.h>

/* n rows of a noisy binary problem: y ~ Bernoulli(0.3), p = clip(0.3 + 0.3 y + noise). */
static void make_binary(size_t n, double *y, double *p) {
    fw_rng r;
    fw_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        y[i] = fw_rng_uniform(&r) < 0.3;
        double v = 0.3 + 0.3 * y[i] + 0.25 * fw_rng_normal(&r);
        p[i] = v < 0.01 ? 0.01 : v > 0.99 ? 0.99 : v;
    }
}

static const fw_metric_ci *find(const fw_metric_ci *ci, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ci[i].name, name)) return &ci[i];
    return NULL;
}

static void test_deterministic_and_around_the_point(void) {
    size_t n = 400;
    double *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p);
    make_binary(n, y, p);
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, n, 1, &eo, &s, &err));
    fw_bootstrap_options bo;
    fw_bootstrap_options_init(&bo);
    fw_metric_ci *a = NULL, *b = NULL;
    size_t na = 0, nb = 0, used = 0;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_BINARY, y, p, n, 1, &eo, &bo, &s, &a, &na, &used, &err));
    CHECK_OK(fw_eval_bootstrap(FW_TASK_BINARY, y, p, n, 1, &eo, &bo, &s, &b, &nb, NULL, &err));
    CHECK_EQ(na, s.n_items);
    CHECK_EQ(used, 200);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0); /* same seed, same bytes */
    for (size_t i = 0; i < na; i++) {
        CHECK_STR(a[i].name, s.items[i].name);
        CHECK_MSG(a[i].lo <= s.items[i].value && s.items[i].value <= a[i].hi, "%s: %g not in [%g, %g]",
                  a[i].name, s.items[i].value, a[i].lo, a[i].hi);
        CHECK(a[i].lo < a[i].hi);
    }
    /* another seed: other intervals */
    bo.seed = 43;
    fw_metric_ci *c = NULL;
    size_t nc = 0;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_BINARY, y, p, n, 1, &eo, &bo, &s, &c, &nc, NULL, &err));
    CHECK(memcmp(a, c, na * sizeof *a) != 0);
    /* a quarter of the rows: a wider roc_auc interval (width ~ 1/sqrt(n)) */
    fw_metric_set q;
    fw_metric_set_init(&q);
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, n / 4, 1, &eo, &q, &err));
    fw_metric_ci *d = NULL;
    size_t nd = 0;
    bo.seed = 42;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_BINARY, y, p, n / 4, 1, &eo, &bo, &q, &d, &nd, NULL, &err));
    const fw_metric_ci *wa = find(a, na, "roc_auc"), *wd = find(d, nd, "roc_auc");
    CHECK(wa && wd && (wd->hi - wd->lo) > 1.4 * (wa->hi - wa->lo));
    /* a work cap below 50 full resamples: 50 resamples of 80 rows, deviations scaled by
     * sqrt(80 / 400): around the point, about as wide as the full bootstrap */
    bo.max_work = 4000;
    fw_metric_ci *e = NULL;
    size_t ne = 0;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_BINARY, y, p, n, 1, &eo, &bo, &s, &e, &ne, &used, &err));
    CHECK_EQ(used, 50);
    const fw_metric_ci *we = find(e, ne, "roc_auc");
    double auc = NAN;
    fw_metric_set_get(&s, "roc_auc", &auc);
    CHECK(we && we->lo < auc && auc < we->hi);
    CHECK_MSG(we && (we->hi - we->lo) < 2 * (wa->hi - wa->lo) && (we->hi - we->lo) > 0.5 * (wa->hi - wa->lo),
              "m-out-of-n width %g vs full %g", we ? we->hi - we->lo : NAN, wa->hi - wa->lo);
    fw_free(e);
    fw_free(a);
    fw_free(b);
    fw_free(c);
    fw_free(d);
    fw_metric_set_free(&s);
    fw_metric_set_free(&q);
    free(y);
    free(p);
}

static void test_budget_and_ranking(void) {
    double y[4] = {1, 0, 1, 0}, p[4] = {0.9, 0.2, 0.6, 0.4};
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_REGRESSION, y, p, 4, 1, &eo, &s, &err));
    fw_bootstrap_options bo;
    fw_bootstrap_options_init(&bo);
    bo.max_work = 4 * 60; /* rows x resamples: 60 resamples */
    fw_metric_ci *ci = NULL;
    size_t n = 0, used = 0;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_REGRESSION, y, p, 4, 1, &eo, &bo, &s, &ci, &n, &used, &err));
    CHECK_EQ(used, 60);
    CHECK(n > 0 && find(ci, n, "rmse"));
    fw_free(ci);
    /* ranking rows are not independent: no intervals */
    ci = NULL;
    CHECK_OK(fw_eval_bootstrap(FW_TASK_RANKING, y, p, 4, 1, &eo, &bo, &s, &ci, &n, &used, &err));
    CHECK_EQ(n, 0);
    CHECK(ci == NULL);
    fw_metric_set_free(&s);
}

/* A constant scorer (the prior baseline) has no ranking: pr_auc = prevalence, not (1 + prev) / 2,
 * and its PR curve is flat at the prevalence (it used to be drawn from (0, 1)). */
static void test_pr_baseline_is_the_prevalence(void) {
    double y[10] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0}, p[10];
    for (int i = 0; i < 10; i++) p[i] = 0.2;
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, 10, 1, &eo, &s, &err));
    double pr = NAN, ap = NAN;
    CHECK(fw_metric_set_get(&s, "pr_auc", &pr));
    CHECK(fw_metric_set_get(&s, "average_precision", &ap));
    CHECK_NEAR(pr, 0.2, 1e-12);
    CHECK_NEAR(ap, 0.2, 1e-12);
    CHECK(s.pr.n >= 2);
    for (size_t i = 0; i < s.pr.n; i++) CHECK_NEAR(s.pr.y[i], 0.2, 1e-12);
    fw_metric_set_free(&s);
    /* a scorer with a ranking keeps sklearn's curve, which closes at (0, 1) */
    double q[10] = {0.9, 0.1, 0.2, 0.3, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5};
    fw_metric_set_init(&s);
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, q, 10, 1, &eo, &s, &err));
    CHECK_NEAR(s.pr.y[s.pr.n - 1], 1.0, 0);
    CHECK(fw_metric_set_get(&s, "pr_auc", &pr));
    CHECK_NEAR(pr, 1.0, 1e-12);
    fw_metric_set_free(&s);
}

/* Resamples spread over threads give the same bytes as one thread (binary with tied scores: the
 * resamples go to the metrics in score order), and regression too. */
static void test_threads_same_bytes(void) {
    size_t n = 3000;
    double *y = malloc(n * sizeof *y), *p = malloc(n * sizeof *p);
    make_binary(n, y, p);
    for (size_t i = 0; i < n; i++) p[i] = (double)(long)(p[i] * 10) / 10; /* ties */
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    fw_err err;
    for (int task = 0; task < 2; task++) {
        fw_task tk = task ? FW_TASK_REGRESSION : FW_TASK_BINARY;
        fw_metric_set s;
        fw_metric_set_init(&s);
        CHECK_OK(fw_eval_compute(tk, y, p, n, 1, &eo, &s, &err));
        fw_bootstrap_options bo;
        fw_bootstrap_options_init(&bo);
        fw_metric_ci *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        CHECK_OK(fw_eval_bootstrap(tk, y, p, n, 1, &eo, &bo, &s, &a, &na, NULL, &err));
        bo.threads = 3;
        CHECK_OK(fw_eval_bootstrap(tk, y, p, n, 1, &eo, &bo, &s, &b, &nb, NULL, &err));
        CHECK(na > 0 && na == nb && a && b && memcmp(a, b, na * sizeof *a) == 0);
        for (size_t i = 0; a && i < na; i++)
            CHECK_MSG(!(a[i].lo > s.items[i].value) && !(s.items[i].value > a[i].hi), "%s: %g not in [%g, %g]",
                      a[i].name, s.items[i].value, a[i].lo, a[i].hi);
        fw_free(a);
        fw_free(b);
        fw_metric_set_free(&s);
    }
    free(y);
    free(p);
}

int main(void) {
    TEST_RUN(test_deterministic_and_around_the_point);
    TEST_RUN(test_budget_and_ranking);
    TEST_RUN(test_pr_baseline_is_the_prevalence);
    TEST_RUN(test_threads_same_bytes);
    return fw_test_report("test_bootstrap");
}
