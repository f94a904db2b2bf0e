/* test_gate.c — tests for src/learn/gate.c: DeLong's variance against a brute-force computation of
 * the structural components, each method's decision on a clear gain, a clear loss and no
 * difference, the false-promotion rate under no difference (many seeds), too few rows →
 * inconclusive, the margin, and the JSON evidence. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/rng.h"
#include "learn/gate.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

/* Brute-force DeLong: psi over every (positive, negative) pair. */
static void brute_delong(const double *y, const double *a, const double *b, size_t n, double *auc_a, double *auc_b,
                         double *var) {
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++) m += y[i] == 1, k += y[i] == 0;
    double *v10a = calloc(m, sizeof(double)), *v10b = calloc(m, sizeof(double));
    double *v01a = calloc(k, sizeof(double)), *v01b = calloc(k, sizeof(double));
    size_t ip = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 1) continue;
        size_t jn = 0;
        for (size_t j = 0; j < n; j++) {
            if (y[j] != 0) continue;
            double pa = a[i] > a[j] ? 1 : a[i] == a[j] ? 0.5 : 0, pb = b[i] > b[j] ? 1 : b[i] == b[j] ? 0.5 : 0;
            v10a[ip] += pa / (double)k;
            v10b[ip] += pb / (double)k;
            v01a[jn] += pa / (double)m;
            v01b[jn] += pb / (double)m;
            jn++;
        }
        ip++;
    }
    double ma = 0, mb = 0;
    for (size_t i = 0; i < m; i++) ma += v10a[i] / (double)m, mb += v10b[i] / (double)m;
    double s10 = 0, s01 = 0;
    for (size_t i = 0; i < m; i++) {
        double d = (v10a[i] - ma) - (v10b[i] - mb);
        s10 += d * d / (double)(m - 1);
    }
    double na = 0, nb = 0;
    for (size_t j = 0; j < k; j++) na += v01a[j] / (double)k, nb += v01b[j] / (double)k;
    for (size_t j = 0; j < k; j++) {
        double d = (v01a[j] - na) - (v01b[j] - nb);
        s01 += d * d / (double)(k - 1);
    }
    *auc_a = ma;
    *auc_b = mb;
    *var = s10 / (double)m + s01 / (double)k;
    free(v10a), free(v10b), free(v01a), free(v01b);
}

/* n rows: a latent score s, y ~ Bernoulli(sigmoid(s)); model a sees s + noise_a, model b s + noise_b
 * (rounded to 0.05 so there are ties). */
static void make_binary(uint64_t seed, size_t n, double noise_a, double noise_b, double *y, double *a, double *b) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double s = fw_rng_normal(&r) * 1.5;
        y[i] = fw_rng_uniform(&r) < 1 / (1 + exp(-s)) ? 1 : 0;
        double sa = s + noise_a * fw_rng_normal(&r), sb = s + noise_b * fw_rng_normal(&r);
        a[i] = round(20 / (1 + exp(-sa))) / 20;
        b[i] = round(20 / (1 + exp(-sb))) / 20;
    }
}

static void test_delong_matches_brute_force(void) {
    size_t n = 600;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    make_binary(7, n, 0.5, 2.0, y, a, b);
    fw_gate_options o;
    fw_gate_options_init(&o);
    o.metric = "roc_auc";
    fw_gate_result g;
    fw_err err;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    double auc_a, auc_b, var;
    brute_delong(y, a, b, n, &auc_a, &auc_b, &var);
    CHECK_STR(g.method, "delong");
    CHECK_NEAR(g.champion_metric, auc_a, 1e-12);
    CHECK_NEAR(g.challenger_metric, auc_b, 1e-12);
    CHECK_NEAR(g.se, sqrt(var), 1e-12);
    CHECK_NEAR(g.difference, auc_b - auc_a, 1e-12);
    CHECK_NEAR(g.lo, g.difference - 1.959963984540054 * g.se, 1e-9);
    CHECK(g.champion_metric > g.challenger_metric); /* b is the noisier model */
    CHECK(g.decision == FW_GATE_REJECT);
    /* the other way round: a clear gain is promoted */
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, b, a, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_PROMOTE);
    CHECK(g.lo > 0);
    free(y), free(a), free(b);
}

/* DeLong's results, to the last bit, on scores with many ties, negative values and both signed
 * zeros: pinned from the comparison sort (qsort) the radix sort replaced — the snapshot's gate JSON
 * is part of its artifact, which must stay byte-identical. */
static void test_delong_bits_pinned(void) {
    size_t n = 1500;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    fw_rng r;
    fw_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++) {
        double s = fw_rng_normal(&r);
        y[i] = fw_rng_uniform(&r) < 1 / (1 + exp(-s)) ? 1 : 0;
        a[i] = round((s + 0.8 * fw_rng_normal(&r)) * 8) / 8;
        b[i] = i % 7 == 0 ? -0.0 : (s + 0.7 * fw_rng_normal(&r)) * 1e-3;
        if (i % 11 == 0) a[i] = -0.0;
    }
    fw_gate_options o;
    fw_gate_options_init(&o);
    o.metric = "roc_auc";
    fw_gate_result g;
    fw_err err;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK_STR(g.method, "delong");
    CHECK(g.champion_metric == 0x1.5e9a3a40cb267p-1);
    CHECK(g.challenger_metric == 0x1.66391d75b305ap-1);
    CHECK(g.difference == 0x1.e7b8cd39f7ccp-7);
    CHECK(g.se == 0x1.bc904231b1b4dp-7);
    CHECK(g.lo == -0x1.7f9b494965112p-7);
    CHECK(g.hi == 0x1.53c338ef552a4p-5);
    free(y), free(a), free(b);
}

/* Under no difference (the two models are equally good, different noise), promotions stay rare. */
static void false_promotions(const char *metric, fw_task task) {
    size_t n = 400, seeds = 200, promoted = 0;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t s = 0; s < seeds; s++) {
        make_binary(1000 + s, n, 1.0, 1.0, y, a, b);
        fw_gate_options o;
        fw_gate_options_init(&o);
        o.metric = metric;
        o.n_resamples = 200;
        o.seed = s;
        fw_gate_result g;
        fw_err err;
        CHECK_OK(fw_gate_decide(task, y, a, b, n, 1, &o, &g, &err));
        promoted += g.decision == FW_GATE_PROMOTE;
    }
    /* the one-sided level is 2.5%: at most 5% over 200 seeds (a generous bound for the noise) */
    CHECK_MSG(promoted <= seeds / 20, "%s: %zu false promotions of %zu", metric, promoted, seeds);
    free(y), free(a), free(b);
}

static void test_false_promotion_rate_delong(void) { false_promotions("roc_auc", FW_TASK_BINARY); }
static void test_false_promotion_rate_paired_loss(void) { false_promotions("log_loss", FW_TASK_BINARY); }
static void test_false_promotion_rate_bootstrap(void) { false_promotions("f1", FW_TASK_BINARY); }

static void test_methods_promote_a_clear_gain(void) {
    size_t n = 1000;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    make_binary(3, n, 3.0, 0.3, y, a, b);
    static const char *const metrics[] = {"roc_auc", "log_loss", "brier_score_loss", "accuracy", "f1", "average_precision"};
    static const char *const methods[] = {"delong", "paired_loss", "paired_loss", "paired_loss", "paired_bootstrap",
                                          "paired_bootstrap"};
    for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++) {
        fw_gate_options o;
        fw_gate_options_init(&o);
        o.metric = metrics[i];
        o.n_resamples = 300;
        fw_gate_result g;
        fw_err err;
        CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
        CHECK_STR(g.method, methods[i]);
        CHECK_MSG(g.decision == FW_GATE_PROMOTE, "%s: %s (%s)", metrics[i], fw_gate_decision_name(g.decision), g.reason);
        CHECK(g.difference > 0); /* positive = better, for losses too */
        CHECK(g.lo <= g.difference && g.difference <= g.hi);
        CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, b, a, n, 1, &o, &g, &err));
        CHECK_MSG(g.decision == FW_GATE_REJECT, "%s reversed: %s", metrics[i], fw_gate_decision_name(g.decision));
        CHECK(g.difference < 0);
    }
    free(y), free(a), free(b);
}

static void test_regression_and_multiclass(void) {
    size_t n = 500;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    fw_rng r;
    fw_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++) {
        y[i] = fw_rng_normal(&r);
        a[i] = y[i] + fw_rng_normal(&r);
        b[i] = y[i] + 0.3 * fw_rng_normal(&r);
    }
    static const char *const metrics[] = {"rmse", "mse", "mae", "r2"};
    for (size_t i = 0; i < 4; i++) {
        fw_gate_options o;
        fw_gate_options_init(&o);
        o.metric = metrics[i];
        o.n_resamples = 300;
        fw_gate_result g;
        fw_err err;
        CHECK_OK(fw_gate_decide(FW_TASK_REGRESSION, y, a, b, n, 1, &o, &g, &err));
        CHECK_MSG(g.decision == FW_GATE_PROMOTE, "%s: %s", metrics[i], g.reason);
        CHECK_EQ(g.greater_is_better, !strcmp(metrics[i], "r2"));
    }
    /* multiclass: 3 classes, b puts more mass on the true class */
    double *pa = malloc(n * 3 * sizeof *pa), *pb = malloc(n * 3 * sizeof *pb);
    for (size_t i = 0; i < n; i++) {
        y[i] = (double)(i % 3);
        for (size_t c = 0; c < 3; c++) {
            pa[i * 3 + c] = c == (size_t)y[i] ? 0.4 : 0.3;
            pb[i * 3 + c] = c == (size_t)y[i] ? 0.6 : 0.2;
        }
        if (i % 10 == 0) pb[i * 3 + (size_t)y[i]] = 0.1, pb[i * 3 + ((size_t)y[i] + 1) % 3] = 0.7;
    }
    fw_gate_options o;
    fw_gate_options_init(&o);
    o.metric = "log_loss";
    fw_gate_result g;
    fw_err err;
    CHECK_OK(fw_gate_decide(FW_TASK_MULTICLASS, y, pa, pb, n, 3, &o, &g, &err));
    CHECK_STR(g.method, "paired_loss");
    CHECK(g.decision == FW_GATE_PROMOTE);
    free(y), free(a), free(b), free(pa), free(pb);
}

static void test_too_few_rows_is_inconclusive(void) {
    size_t n = 150;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    make_binary(5, n, 3.0, 0.1, y, a, b); /* a huge gain, but 150 < 200 rows */
    fw_gate_options o;
    fw_gate_options_init(&o);
    fw_gate_result g;
    fw_err err;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_INCONCLUSIVE);
    CHECK_STR(fw_gate_decision_name(g.decision), "inconclusive");
    CHECK_CONTAINS(g.reason, "fewer than the 200");
    CHECK(isfinite(g.challenger_metric)); /* the point values are there for information */
    o.min_rows = 100;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_PROMOTE);
    /* one class only: AUC undefined → inconclusive, never promote */
    for (size_t i = 0; i < n; i++) y[i] = 1;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_INCONCLUSIVE);
    free(y), free(a), free(b);
}

static void test_margin(void) {
    size_t n = 2000;
    double *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    make_binary(9, n, 1.5, 0.8, y, a, b);
    fw_gate_options o;
    fw_gate_options_init(&o);
    fw_gate_result g;
    fw_err err;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_PROMOTE);
    o.min_improvement = g.lo + 1e-6; /* the lower bound must pass the margin, not the point gain */
    CHECK(o.min_improvement < g.difference);
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, a, b, n, 1, &o, &g, &err));
    CHECK(g.decision == FW_GATE_REJECT);
    CHECK_CONTAINS(g.reason, "not surely above the minimum improvement");
    free(y), free(a), free(b);
}

static void test_errors_and_json(void) {
    double y[4] = {0, 1, 0, 1}, p[4] = {0.1, 0.9, 0.2, 0.8};
    fw_gate_options o;
    fw_gate_options_init(&o);
    fw_gate_result g;
    fw_err err;
    o.metric = "ndcg@10";
    CHECK(fw_gate_decide(FW_TASK_BINARY, y, p, p, 4, 1, &o, &g, &err) == FW_EINVAL);
    o.metric = NULL;
    CHECK(fw_gate_decide(FW_TASK_RANKING, y, p, p, 4, 1, &o, &g, &err) == FW_EUNSUPPORTED);
    o.confidence = 1.5;
    CHECK(fw_gate_decide(FW_TASK_BINARY, y, p, p, 4, 1, &o, &g, &err) == FW_EINVAL);
    o.confidence = 0.95;
    CHECK_OK(fw_gate_decide(FW_TASK_BINARY, y, p, p, 4, 1, &o, &g, &err));
    fw_buf b;
    fw_buf_init(&b);
    fw_gate_result_json(&g, &b);
    fw_buf_put_u8(&b, 0);
    CHECK_CONTAINS((const char *)b.data, "\"decision\":\"inconclusive\"");
    CHECK_CONTAINS((const char *)b.data, "\"interval\":[null,null]");
    CHECK_CONTAINS((const char *)b.data, "\"metric\":\"roc_auc\"");
    fw_buf_free(&b);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_delong_matches_brute_force);
    TEST_RUN(test_delong_bits_pinned);
    TEST_RUN(test_false_promotion_rate_delong);
    TEST_RUN(test_false_promotion_rate_paired_loss);
    TEST_RUN(test_false_promotion_rate_bootstrap);
    TEST_RUN(test_methods_promote_a_clear_gain);
    TEST_RUN(test_regression_and_multiclass);
    TEST_RUN(test_too_few_rows_is_inconclusive);
    TEST_RUN(test_margin);
    TEST_RUN(test_errors_and_json);
    return fw_test_report(argv[0]);
}
