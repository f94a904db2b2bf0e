/* test_stats.c — checks src/monitor/stats.c against SciPy 1.10 on the checked-in fixtures
 * (tests/monitor/fixtures/scipy_stats.json, made by make_fixtures.py): the KS statistic to 1e-12
 * and its p-value to 1e-9 relative (exact and asymptotic branches alike), chi-square
 * statistics and p-values to 1e-9 (relative above 1 / relative for p-values), the incomplete gamma
 * functions, chi2.sf/isf, PSI / Jensen–Shannon / total variation, Bonferroni and Holm; and the
 * documented refusals (empty samples, NaN, mismatched sums, zero margins). */
#include "core/alloc.h"
#include "monitor/stats.h"
#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#define FIXTURE "tests/monitor/fixtures/scipy_stats.json"

static json_t *root;

/* |got - want| <= tol * max(1, |want|) */
static int near_abs(double got, double want, double tol) {
    double s = fabs(want) > 1 ? fabs(want) : 1;
    return fabs(got - want) <= tol * s;
}
/* relative for p-values (they span 1e-100..1), and equal when both are 0 */
static int near_rel(double got, double want, double tol) {
    if (want == 0) return fabs(got) <= 1e-300;
    return fabs(got - want) <= tol * fabs(want);
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static double *doubles(json_t *a) {
    size_t n = json_array_size(a);
    double *v = fw_malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = json_number_value(json_array_get(a, i));
    return v;
}

/* the fixture generator: 64-bit LCG, 53-bit uniforms, affine map, optional floor */
static double *sample(json_t *g, size_t *n) {
    uint64_t s = (uint64_t)json_integer_value(json_object_get(g, "seed"));
    *n = (size_t)json_integer_value(json_object_get(g, "n"));
    double shift = num(g, "shift"), scale = num(g, "scale");
    int fl = json_is_true(json_object_get(g, "floor"));
    double *x = fw_malloc(*n * sizeof *x);
    for (size_t i = 0; i < *n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) * (1.0 / 9007199254740992.0);
        x[i] = shift + scale * u;
        if (fl) x[i] = floor(x[i]);
    }
    return x;
}

static void test_ks_2samp(void) {
    json_t *cases = json_object_get(root, "ks_2samp"), *c;
    size_t i;
    CHECK(json_array_size(cases) >= 12);
    int n_asymp = 0;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t n1, n2;
        double *a = sample(json_object_get(c, "a"), &n1), *b = sample(json_object_get(c, "b"), &n2);
        fw_ks_result r;
        fw_err err;
        CHECK_OK(fw_stats_ks_2samp(a, n1, b, n2, &r, &err));
        double ws = num(c, "statistic"), wp = num(c, "pvalue");
        int want_exact = json_is_true(json_object_get(c, "exact"));
        CHECK_MSG(fabs(r.statistic - ws) <= 1e-12, "%s: statistic %.17g vs scipy %.17g", name, r.statistic, ws);
        CHECK_MSG(r.exact == want_exact, "%s: exact %d", name, r.exact);
        double tol = 1e-9;
        CHECK_MSG(near_rel(r.pvalue, wp, tol), "%s: pvalue %.17g vs scipy %.17g (rel tol %g)", name, r.pvalue, wp, tol);
        n_asymp += !want_exact;
        fw_free(a);
        fw_free(b);
    }
    CHECK(n_asymp >= 3);
}

static void test_ks_refusals(void) {
    double a[3] = {1, 2, 3}, b[2] = {NAN, 1};
    fw_ks_result r;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_stats_ks_2samp(a, 0, a, 3, &r, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "empty");
    CHECK_EQ(fw_stats_ks_2samp(a, 3, b, 2, &r, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "NaN at 0");
    /* the statistic on sorted input without allocation: two disjoint samples are 1 apart */
    double lo[2] = {0, 1}, hi[3] = {5, 6, 7};
    CHECK_NEAR(fw_stats_ks_statistic_sorted(lo, 2, hi, 3), 1.0, 0);
    CHECK_NEAR(fw_stats_ks_statistic_sorted(hi, 3, lo, 2), 1.0, 0);
}

static void test_gamma_and_chi2(void) {
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(root, "gamma"), i, c) {
        double a = num(c, "a"), x = num(c, "x");
        double p = fw_stats_gamma_p(a, x), q = fw_stats_gamma_q(a, x);
        /* each side relative to itself where it is small (tails), absolute 1e-12 otherwise */
        double wp = num(c, "p"), wq = num(c, "q");
        CHECK_MSG(wp < 1e-3 ? near_rel(p, wp, 1e-9) : fabs(p - wp) <= 1e-12, "P(%g, %g) = %.17g vs %.17g", a, x, p, wp);
        CHECK_MSG(wq < 1e-3 ? near_rel(q, wq, 1e-9) : fabs(q - wq) <= 1e-12, "Q(%g, %g) = %.17g vs %.17g", a, x, q, wq);
    }
    json_array_foreach(json_object_get(root, "chi2_sf"), i, c) {
        double x = num(c, "x"), df = num(c, "df"), w = num(c, "sf");
        double got = fw_stats_chi2_sf(x, df);
        CHECK_MSG(near_rel(got, w, 1e-9), "chi2.sf(%g, %g) = %.17g vs %.17g", x, df, got, w);
    }
    json_array_foreach(json_object_get(root, "chi2_isf"), i, c) {
        double p = num(c, "p"), df = num(c, "df"), w = num(c, "x");
        double got = fw_stats_chi2_isf(p, df);
        CHECK_MSG(near_rel(got, w, 1e-9), "chi2.isf(%g, %g) = %.17g vs %.17g", p, df, got, w);
    }
    CHECK(isnan(fw_stats_gamma_p(-1, 1)));
    CHECK(isnan(fw_stats_chi2_sf(1, 0)));
    CHECK_NEAR(fw_stats_chi2_sf(-3, 4), 1.0, 0);
}

static void test_chisquare(void) {
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(root, "chisquare"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *je = json_object_get(c, "expected");
        size_t k = json_array_size(json_object_get(c, "observed"));
        double *o = doubles(json_object_get(c, "observed")), *e = json_is_null(je) ? NULL : doubles(je);
        fw_chi2_result r;
        fw_err err;
        CHECK_OK(fw_stats_chisquare(o, e, k, &r, &err));
        CHECK_MSG(near_abs(r.statistic, num(c, "statistic"), 1e-9), "%s: %.17g", name, r.statistic);
        CHECK_MSG(near_rel(r.pvalue, num(c, "pvalue"), 1e-9), "%s: p %.17g vs %.17g", name, r.pvalue, num(c, "pvalue"));
        CHECK_EQ(r.df, num(c, "df"));
        fw_free(o);
        fw_free(e);
    }
    double o[3] = {10, 10, 10}, e[3] = {10, 10, 11}, z[3] = {15, 15, 0};
    fw_chi2_result r;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_stats_chisquare(o, e, 3, &r, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "differ");
    CHECK_EQ(fw_stats_chisquare(o, z, 3, &r, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "expected count 2");
}

static void test_contingency(void) {
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(root, "chi2_contingency"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *t = json_object_get(c, "table");
        size_t r = json_array_size(t), k = json_array_size(json_array_get(t, 0));
        double *tab = fw_malloc(r * k * sizeof *tab);
        for (size_t a = 0; a < r; a++)
            for (size_t b = 0; b < k; b++) tab[a * k + b] = json_number_value(json_array_get(json_array_get(t, a), b));
        fw_chi2_result res;
        fw_err err;
        CHECK_OK(fw_stats_chi2_contingency(tab, r, k, json_is_true(json_object_get(c, "correction")), &res, &err));
        CHECK_MSG(near_abs(res.statistic, num(c, "statistic"), 1e-9), "%s: %.17g vs %.17g", name, res.statistic,
                  num(c, "statistic"));
        CHECK_MSG(near_rel(res.pvalue, num(c, "pvalue"), 1e-9), "%s: p %.17g vs %.17g", name, res.pvalue,
                  num(c, "pvalue"));
        CHECK_EQ(res.df, num(c, "df"));
        /* the allocation-free two-sample form is the same statistic without correction */
        if (r == 2 && !json_is_true(json_object_get(c, "correction"))) {
            double df;
            CHECK_NEAR(fw_stats_chi2_two_sample(tab, tab + k, k, &df), res.statistic, 1e-9 * fmax(1, res.statistic));
            CHECK_EQ(df, res.df);
        }
        if (r == 2 && res.df > 1) {
            double df;
            CHECK_NEAR(fw_stats_chi2_two_sample(tab, tab + k, k, &df), res.statistic, 1e-9 * fmax(1, res.statistic));
        }
        fw_free(tab);
    }
    double zero_col[4] = {3, 0, 4, 0};
    fw_chi2_result res;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_stats_chi2_contingency(zero_col, 2, 2, 1, &res, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "zero");
    /* cells empty on both sides do not count as degrees of freedom */
    double a[4] = {10, 0, 20, 30}, b[4] = {5, 0, 9, 16}, df;
    fw_stats_chi2_two_sample(a, b, 4, &df);
    CHECK_EQ(df, 2);
}

static void test_effects(void) {
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(root, "effects"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t k = json_array_size(json_object_get(c, "a"));
        double *a = doubles(json_object_get(c, "a")), *b = doubles(json_object_get(c, "b"));
        CHECK_MSG(near_abs(fw_stats_psi(a, b, k, 0.5), num(c, "psi_0_5"), 1e-12), "%s psi", name);
        CHECK_MSG(near_abs(fw_stats_js_distance(a, b, k), num(c, "js"), 1e-12), "%s js %.17g vs %.17g", name,
                  fw_stats_js_distance(a, b, k), num(c, "js"));
        CHECK_MSG(near_abs(fw_stats_total_variation(a, b, k), num(c, "tv"), 1e-12), "%s tv", name);
        fw_free(a);
        fw_free(b);
    }
    double a[2] = {5, 0}, b[2] = {3, 2};
    CHECK(isinf(fw_stats_psi(a, b, 2, 0)));
    CHECK(isfinite(fw_stats_psi(a, b, 2, 0.5)));
}

static void test_multitest(void) {
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(root, "multitest"), i, c) {
        size_t n = json_array_size(json_object_get(c, "p"));
        double *p = doubles(json_object_get(c, "p")), *wb = doubles(json_object_get(c, "bonferroni")),
               *wh = doubles(json_object_get(c, "holm"));
        double *adj = fw_malloc(n * sizeof *adj);
        fw_stats_bonferroni(p, n, adj);
        for (size_t j = 0; j < n; j++) CHECK_NEAR(adj[j], wb[j], 1e-15);
        CHECK_OK(fw_stats_holm(p, n, adj));
        for (size_t j = 0; j < n; j++) CHECK_NEAR(adj[j], wh[j], 1e-15);
        fw_free(p);
        fw_free(wb);
        fw_free(wh);
        fw_free(adj);
    }
    double p[3] = {0.01, NAN, 0.02}, adj[3];
    CHECK_OK(fw_stats_holm(p, 3, adj));
    CHECK(isnan(adj[1]));
    CHECK_NEAR(adj[0], 0.02, 1e-15); /* two p-values counted, not three */
    CHECK_NEAR(adj[2], 0.02, 1e-15);
}

int main(void) {
    json_error_t je;
    root = json_load_file(FIXTURE, 0, &je);
    if (!root) {
        fw_test_fail(__FILE__, __LINE__, "cannot read %s: %s", FIXTURE, je.text);
        return fw_test_report("test_stats");
    }
    TEST_RUN(test_ks_2samp);
    TEST_RUN(test_ks_refusals);
    TEST_RUN(test_gamma_and_chi2);
    TEST_RUN(test_chisquare);
    TEST_RUN(test_contingency);
    TEST_RUN(test_effects);
    TEST_RUN(test_multitest);
    json_decref(root);
    return fw_test_report("test_stats");
}
