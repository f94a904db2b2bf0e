/* stats.h — owns the exact statistics the monitoring code decides with, each computed the way SciPy
 * 1.10 computes it (tests/monitor/test_stats.c checks them against fixtures made by
 * tests/monitor/fixtures/make_fixtures.py with Debian's python3-scipy):
 *   - the two-sample Kolmogorov–Smirnov test (scipy.stats.ks_2samp, two-sided, method "auto"),
 *   - the regularised incomplete gamma functions and the chi-square distribution
 *     (scipy.special.gammainc / gammaincc, scipy.stats.chi2.sf / isf),
 *   - chi-square goodness of fit (scipy.stats.chisquare) and the test of a contingency table
 *     (scipy.stats.chi2_contingency, with Yates' correction for one degree of freedom),
 *   - effect sizes between two count vectors: population stability index, Jensen–Shannon distance
 *     (scipy.spatial.distance.jensenshannon, natural log), total variation distance,
 *   - Bonferroni and Holm adjusted p-values (statsmodels' multipletests, clipped to 1).
 * Plain functions, no state, thread-safe. Only fw_stats_ks_2samp allocates (a sorted copy).
 *
 * Signatures are stable (mhub/mperf/mserve code against them); additions go at the end. */
#ifndef FW_MONITOR_STATS_H
#define FW_MONITOR_STATS_H

#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

/* ---- Kolmogorov–Smirnov ------------------------------------------------------------------- */

typedef struct fw_ks_result {
    double statistic;  /* sup |F1 - F2| of the two empirical CDFs (right-continuous) */
    double pvalue;     /* two-sided, as scipy.stats.ks_2samp(method="auto") */
    int exact;         /* 1: exact lattice-path probability; 0: asymptotic (a sample > 10,000) */
} fw_ks_result;

/* The statistic of two samples already sorted ascending (no NaN). n1, n2 > 0. No allocation. */
double fw_stats_ks_statistic_sorted(const double *x1, size_t n1, const double *x2, size_t n2);
/* The two-sided p-value of statistic d for sample sizes n1, n2 as ks_2samp computes it: exact
 * when both sizes are <= 10,000 (and the exact computation does not overflow), else Kolmogorov's
 * asymptotic distribution at n1*n2/(n1+n2). *exact (may be NULL) says which. */
double fw_stats_ks_pvalue(double d, size_t n1, size_t n2, int *exact);
/* Both, on unsorted samples (copied and sorted; NaN values are refused with FW_EINVAL, as is an
 * empty sample). */
fw_status fw_stats_ks_2samp(const double *x1, size_t n1, const double *x2, size_t n2, fw_ks_result *out,
                            fw_err *err);

/* ---- gamma and chi-square ----------------------------------------------------------------- */

/* Regularised lower / upper incomplete gamma P(a, x), Q(a, x) = 1 - P; a > 0, x >= 0 (NaN
 * otherwise). Relative accuracy ~1e-14 (series / continued fraction). */
double fw_stats_gamma_p(double a, double x);
double fw_stats_gamma_q(double a, double x);
/* Survival function of the chi-square distribution with df degrees of freedom at x. */
double fw_stats_chi2_sf(double x, double df);
/* Its inverse: the x with chi2_sf(x, df) = p (0 < p < 1). */
double fw_stats_chi2_isf(double p, double df);

typedef struct fw_chi2_result {
    double statistic;
    double pvalue;
    double df;         /* degrees of freedom used */
} fw_chi2_result;

/* Pearson's goodness of fit of observed counts against expected counts (k cells, ddof = 0), as
 * scipy.stats.chisquare(obs, exp): df = k - 1. expected NULL = uniform. The expected counts must
 * be > 0 and sum to the observed total within 1e-8 relative (FW_EINVAL otherwise, as SciPy 1.10
 * refuses). */
fw_status fw_stats_chisquare(const double *observed, const double *expected, size_t k, fw_chi2_result *out,
                             fw_err *err);
/* The test of independence of an r x c table (row-major), as scipy.stats.chi2_contingency(table,
 * correction): expected counts from the margins, df = (r-1)(c-1), Yates' correction when df == 1
 * and correction != 0. A zero row or column total → FW_EINVAL (SciPy raises too). df == 0 gives
 * statistic 0, p-value 1. */
fw_status fw_stats_chi2_contingency(const double *table, size_t r, size_t c, int correction, fw_chi2_result *out,
                                    fw_err *err);
/* The two-sample chi-square statistic of two count vectors over the same k cells (the 2 x k
 * contingency table without correction), skipping cells empty in both; *df gets (cells used - 1).
 * No allocation, no error: the hot helper the detectors use. Returns 0 when df == 0. */
double fw_stats_chi2_two_sample(const double *a, const double *b, size_t k, double *df);

/* ---- effect sizes between two count vectors over the same k cells -------------------------- */

/* Population stability index sum (q - p) ln(q / p) of the proportions p = a / sum a, q = b / sum b,
 * each count first increased by `smooth` (e.g. 0.5; 0 = none: a cell empty on one side only then
 * gives +inf). */
double fw_stats_psi(const double *a, const double *b, size_t k, double smooth);
/* Jensen–Shannon distance (the square root of the divergence, natural log), as
 * scipy.spatial.distance.jensenshannon(a, b): in [0, sqrt(ln 2)]. */
double fw_stats_js_distance(const double *a, const double *b, size_t k);
/* Total variation distance 0.5 sum |p - q|, in [0, 1]. */
double fw_stats_total_variation(const double *a, const double *b, size_t k);

/* ---- corrections for multiple tests ------------------------------------------------------- */

/* Bonferroni: adj[i] = min(1, n p[i]). Holm (step-down): the same family-wise control, uniformly
 * more powerful. adj may alias p. NaN p-values are left NaN and not counted in n. */
void fw_stats_bonferroni(const double *p, size_t n, double *adj);
fw_status fw_stats_holm(const double *p, size_t n, double *adj);

#endif
