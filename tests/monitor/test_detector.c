/* test_detector.c — tests for src/monitor/detector.c on simulated streams with fixed seeds: the
 * slot of a value (bins, ends, NaN, top categories, other, text), refused settings, deterministic
 * calibration, the calibrated chi-square's exceedance rate at a measurable level, no alarm before
 * an injected change with default settings and 50 watched columns, and the detection
 * targets (0.5 SD shift within 1,000 rows, missing rate +20 points within 200 rows, unseen category
 * at 5% within 500 rows), the alarm naming its column, and the effect floor at a million rows.
 * The long runs (false alarms per 100,000 rows, delay distributions) are bench/monitor/. */
#include "core/alloc.h"
#include "core/rng.h"
#include "monitor/detector.h"
#include "monitor/stats.h"
#include "test.h"

#include <stdlib.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A numeric reference profiled as reference.c does: n_ref standard normals (a share `miss`
 * missing), quantile edges at (m - 1) i / n_bins, duplicates dropped, counts per bin. */
static fw_ref_column numeric_ref(const char *name, size_t n_ref, uint32_t n_bins, double miss, uint64_t seed) {
    fw_ref_column c;
    memset(&c, 0, sizeof c);
    c.name = fw_strdup(name);
    c.type = FW_COL_NUMERIC;
    fw_rng r;
    fw_rng_seed(&r, seed);
    double *v = fw_malloc(n_ref * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n_ref; i++) {
        double x = fw_rng_normal(&r);
        if (fw_rng_uniform(&r) < miss) continue;
        v[m++] = x;
    }
    qsort(v, m, sizeof *v, cmp_d);
    c.n_rows = n_ref;
    c.n_missing = n_ref - m;
    c.min = v[0];
    c.max = v[m - 1];
    c.edges = fw_malloc((n_bins + 1) * sizeof *c.edges);
    uint32_t ne = 0;
    for (uint32_t i = 0; i <= n_bins; i++) {
        double e = v[(size_t)((double)(m - 1) * i / n_bins)];
        if (ne == 0 || e > c.edges[ne - 1]) c.edges[ne++] = e;
    }
    c.n_bins = ne - 1;
    c.counts = fw_calloc(c.n_bins, sizeof *c.counts);
    for (size_t i = 0; i < m; i++) {
        uint32_t lo = 0, hi = c.n_bins - 1;
        while (lo < hi) {
            uint32_t mid = (lo + hi + 1) / 2;
            if (v[i] >= c.edges[mid]) lo = mid;
            else hi = mid - 1;
        }
        c.counts[lo]++;
    }
    fw_free(v);
    return c;
}

/* A categorical reference: categories "c0".."c{k-1}" drawn with probabilities p, top 20 kept. */
static fw_ref_column cat_ref(const char *name, size_t n_ref, const double *p, uint32_t k, uint64_t seed) {
    fw_ref_column c;
    memset(&c, 0, sizeof c);
    c.name = fw_strdup(name);
    c.type = FW_COL_CATEGORICAL;
    uint64_t *cnt = fw_calloc(k, sizeof *cnt);
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (size_t i = 0; i < n_ref; i++) {
        double u = fw_rng_uniform(&r), cum = 0;
        uint32_t j = 0;
        for (; j + 1 < k; j++) {
            cum += p[j];
            if (u < cum) break;
        }
        cnt[j]++;
    }
    /* order: count desc (the categories are generated in decreasing probability; sort anyway) */
    uint32_t *ord = fw_malloc(k * sizeof *ord);
    for (uint32_t i = 0; i < k; i++) ord[i] = i;
    for (uint32_t i = 1; i < k; i++)
        for (uint32_t j = i; j > 0 && cnt[ord[j - 1]] < cnt[ord[j]]; j--) {
            uint32_t t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    c.n_rows = n_ref;
    c.min = c.max = NAN;
    c.n_top = k < FW_REFERENCE_TOP_N ? k : FW_REFERENCE_TOP_N;
    c.top_values = fw_calloc(c.n_top, sizeof *c.top_values);
    c.top_counts = fw_calloc(c.n_top, sizeof *c.top_counts);
    for (uint32_t i = 0; i < c.n_top; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "c%u", ord[i]);
        c.top_values[i] = fw_strdup(buf);
        c.top_counts[i] = cnt[ord[i]];
    }
    for (uint32_t i = c.n_top; i < k; i++) c.other_count += cnt[ord[i]];
    c.n_distinct = k;
    fw_free(cnt);
    fw_free(ord);
    return c;
}

static void ref_free(fw_ref_column *c) {
    fw_free(c->name);
    fw_free(c->edges);
    fw_free(c->counts);
    for (uint32_t i = 0; c->top_values && i < c->n_top; i++) fw_free(c->top_values[i]);
    fw_free(c->top_values);
    fw_free(c->top_counts);
}

static void test_slots(void) {
    fw_ref_column c = numeric_ref("x", 10000, 10, 0.0, 1);
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, NULL, &d, &err));
    CHECK_EQ(fw_detector_n_slots(d), 11);
    CHECK_EQ(fw_detector_missing_slot(d), 10);
    CHECK(fw_detector_numeric(d));
    CHECK_STR(fw_detector_column(d), "x");
    CHECK_EQ(fw_detector_slot_num(d, NAN), 10);
    CHECK_EQ(fw_detector_slot_num(d, -1e300), 0);      /* below the first edge: first bin */
    CHECK_EQ(fw_detector_slot_num(d, 1e300), 9);       /* above the last: last bin */
    CHECK_EQ(fw_detector_slot_num(d, c.edges[3]), 3);  /* an edge opens its bin */
    CHECK_EQ(fw_detector_slot_num(d, c.edges[10]), 9); /* the last bin is closed */
    CHECK_EQ(fw_detector_slot_num(d, 0.5 * (c.edges[6] + c.edges[7])), 6);
    CHECK_EQ(fw_detector_slot_str(d, "1e300", 5), 9);
    CHECK_EQ(fw_detector_slot_str(d, "abc", 3), 10); /* unparsable: missing */
    CHECK_EQ(fw_detector_slot_str(d, NULL, 0), 10);
    fw_detector_free(d);
    ref_free(&c);

    double p[25];
    for (int i = 0; i < 25; i++) p[i] = (i < 5 ? 0.12 : 0.4 / 20);
    fw_ref_column k = cat_ref("city", 20000, p, 25, 2);
    CHECK_OK(fw_detector_create(&k, NULL, &d, &err));
    CHECK(!fw_detector_numeric(d));
    CHECK_EQ(fw_detector_n_slots(d), 22); /* 20 top + other + missing */
    for (uint32_t i = 0; i < k.n_top; i++) CHECK_EQ(fw_detector_slot_str(d, k.top_values[i], strlen(k.top_values[i])), i);
    CHECK_EQ(fw_detector_slot_str(d, "never-seen", 10), 20);
    CHECK_EQ(fw_detector_slot_str(d, "c1x", 2), fw_detector_slot_str(d, "c1", 2)); /* length counts */
    CHECK_EQ(fw_detector_slot_str(d, NULL, 0), 21);
    fw_detector_free(d);
    ref_free(&k);
}

/* The slot of a value is the same by the branch-free count (<= 32 bins) and the binary search
 * (more): both against a plain scan of the edges; a 100-bin window test runs (over 64 pooled
 * groups: its scratch comes from the heap). */
static void test_many_bins(void) {
    uint32_t bins[2] = {10, 100};
    for (int k = 0; k < 2; k++) {
        fw_ref_column c = numeric_ref("x", 50000, bins[k], 0.0, 12);
        fw_detector_settings s;
        fw_detector_settings_init(&s);
        s.window_rows = 2000;
        fw_detector *d;
        fw_err err;
        CHECK_OK(fw_detector_create(&c, &s, &d, &err));
        CHECK_EQ(fw_detector_n_slots(d), c.n_bins + 1);
        fw_rng r;
        fw_rng_seed(&r, 13);
        int wrong = 0;
        for (int i = 0; i < 20000; i++) {
            double x = i < 200 ? c.edges[i % (c.n_bins + 1)] : 1.5 * fw_rng_normal(&r);
            uint32_t want = 0;
            for (uint32_t b = 1; b < c.n_bins; b++)
                if (x >= c.edges[b]) want = b;
            wrong += fw_detector_slot_num(d, x) != want;
        }
        CHECK_MSG(wrong == 0, "%u bins: %d values in the wrong slot", c.n_bins, wrong);
        uint64_t *w = fw_calloc(fw_detector_n_slots(d), sizeof *w);
        for (int i = 0; i < 2000; i++) w[fw_detector_slot_num(d, fw_rng_normal(&r) + 1.0)]++;
        fw_detector_check ck;
        fw_detector_test_window(d, w, &ck);
        CHECK(ck.evaluated && ck.active); /* a 1 SD shift over 2,000 rows */
        fw_free(w);
        fw_detector_free(d);
        ref_free(&c);
    }
}

/* Columns the reference never saw a value of (all missing in training): one cell, no drift test,
 * no crash; every value counts in the one cell, NaN in the missing slot. */
static void test_empty_reference(void) {
    fw_ref_column c;
    memset(&c, 0, sizeof c);
    c.name = "empty";
    c.type = FW_COL_NUMERIC;
    c.n_rows = 1000;
    c.n_missing = 1000;
    c.min = c.max = NAN;
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, NULL, &d, &err));
    CHECK_EQ(fw_detector_n_slots(d), 2);
    CHECK_EQ(fw_detector_slot_num(d, 3.5), 0);
    CHECK_EQ(fw_detector_slot_num(d, NAN), 1);
    CHECK(isinf(fw_detector_threshold(d, FW_DET_CHI2)));
    fw_detector_state *st;
    CHECK_OK(fw_detector_state_new(d, &st));
    uint64_t blk[2] = {50, 0};
    fw_detector_check ck[FW_DETECTOR_TESTS];
    for (int i = 0; i < 20; i++) fw_detector_step(d, st, blk, ck);
    CHECK(!ck[FW_DET_CHI2].evaluated && !ck[FW_DET_CUSUM].evaluated);
    CHECK(ck[FW_DET_MISSING].evaluated && !ck[FW_DET_MISSING].active); /* fewer missing is no alarm */
    fw_detector_state_free(st);
    fw_detector_free(d);
    fw_ref_column k;
    memset(&k, 0, sizeof k);
    k.name = "empty_cat";
    k.type = FW_COL_CATEGORICAL;
    k.n_rows = 10;
    k.n_missing = 10;
    CHECK_OK(fw_detector_create(&k, NULL, &d, &err));
    CHECK_EQ(fw_detector_n_slots(d), 2); /* "other" + missing */
    CHECK_EQ(fw_detector_slot_str(d, "a", 1), 0);
    fw_detector_free(d);
}

static void test_settings_refused(void) {
    fw_ref_column c = numeric_ref("x", 1000, 10, 0.0, 3);
    fw_detector_settings s;
    fw_detector *d = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_detector_settings_init(&s);
    s.window_rows = s.step_rows - 1;
    CHECK_EQ(fw_detector_create(&c, &s, &d, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "window_rows");
    CHECK(d == NULL);
    fw_detector_settings_init(&s);
    s.false_alarms_per_100k = 0;
    CHECK_EQ(fw_detector_create(&c, &s, &d, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "false_alarms_per_100k");
    fw_detector_settings_init(&s);
    s.step_rows = 0;
    CHECK_EQ(fw_detector_create(&c, &s, &d, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "step_rows");
    CHECK_EQ(fw_detector_family_size(50, 4), 154);
    CHECK_EQ(fw_detector_family_size(0, 0), 1);
    ref_free(&c);
}

static void test_calibration_deterministic(void) {
    fw_ref_column c = numeric_ref("x", 5000, 10, 0.05, 4);
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(50, 0);
    fw_detector *a, *b;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &a, &err));
    CHECK_OK(fw_detector_create(&c, &s, &b, &err));
    double ta = fw_detector_threshold(a, FW_DET_CHI2), tb = fw_detector_threshold(b, FW_DET_CHI2);
    CHECK(ta == tb);
    /* never below the plain chi-square quantile at the test's alpha (10 bins: df 9) */
    double alpha = fw_detector_alpha_row(&s) * s.step_rows;
    CHECK(ta >= fw_stats_chi2_isf(alpha, 9) * (1 - 1e-12));
    CHECK(ta < 2 * fw_stats_chi2_isf(alpha, 9));
    /* Lorden: the missing CUSUM's h = ln(1 / alpha_row) */
    CHECK_NEAR(fw_detector_threshold(a, FW_DET_MISSING), -log(fw_detector_alpha_row(&s)), 1e-12);
    CHECK(isfinite(fw_detector_threshold(a, FW_DET_CUSUM)));
    fw_detector_free(a);
    fw_detector_free(b);
    ref_free(&c);
}

/* A stream of one numeric column: rows from N(shift, 1) after `change`, N(0, 1) before, missing
 * with rate miss0 / miss1 before / after; returns the first row at which a test raised (or
 * UINT64_MAX) and counts raises (0 → 1) and evaluations / exceedances per test. */
typedef struct run_stats {
    uint64_t first_row[FW_DETECTOR_TESTS];
    uint64_t raises[FW_DETECTOR_TESTS], evals[FW_DETECTOR_TESTS], over[FW_DETECTOR_TESTS];
} run_stats;

static void run_numeric(const fw_detector *d, const fw_detector_settings *s, uint64_t rows, uint64_t change,
                        double shift, double miss0, double miss1, uint64_t seed, run_stats *rs) {
    fw_detector_state *st;
    CHECK_OK(fw_detector_state_new(d, &st));
    memset(rs, 0, sizeof *rs);
    for (int t = 0; t < FW_DETECTOR_TESTS; t++) rs->first_row[t] = UINT64_MAX;
    uint32_t ns = fw_detector_n_slots(d);
    uint64_t *blk = fw_calloc(ns, sizeof *blk);
    int active[FW_DETECTOR_TESTS] = {0};
    fw_rng r;
    fw_rng_seed(&r, seed);
    for (uint64_t i = 0; i < rows; i++) {
        bool after = i >= change;
        double x = fw_rng_normal(&r) + (after ? shift : 0);
        if (fw_rng_uniform(&r) < (after ? miss1 : miss0)) x = NAN;
        blk[fw_detector_slot_num(d, x)]++;
        if ((i + 1) % s->step_rows == 0) {
            fw_detector_check ck[FW_DETECTOR_TESTS];
            fw_detector_step(d, st, blk, ck);
            memset(blk, 0, ns * sizeof *blk);
            for (int t = 0; t < FW_DETECTOR_TESTS; t++) {
                if (!ck[t].evaluated) continue;
                rs->evals[t]++;
                if (t == FW_DET_CHI2 && ck[t].value >= ck[t].threshold) rs->over[t]++;
                if (ck[t].active && !active[t]) {
                    rs->raises[t]++;
                    if (rs->first_row[t] == UINT64_MAX) rs->first_row[t] = i;
                }
                active[t] = ck[t].active;
            }
        }
    }
    fw_free(blk);
    fw_detector_state_free(st);
}

/* The calibrated threshold's exceedance rate matches its alpha at a level a test can measure
 * (alpha 0.01 per window; PSI floor off): the simulation calibrates what it should.
 * FW_TEST_VERBOSE=1 prints the measured rates. */
static void test_chi2_calibrated_rate(void) {
    fw_ref_column c = numeric_ref("x", 20000, 10, 0.0, 5);
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.false_alarms_per_100k = 1000.0 / s.step_rows; /* alpha per evaluation 0.01 */
    s.min_psi = 0;
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &d, &err));
    run_stats rs;
    run_numeric(d, &s, 600000, UINT64_MAX, 0, 0, 0, 77, &rs);
    double rate = (double)rs.over[FW_DET_CHI2] / (double)rs.evals[FW_DET_CHI2];
    if (getenv("FW_TEST_VERBOSE")) printf("    chi2 exceedance rate %.4f over %llu windows\n", rate, (unsigned long long)rs.evals[FW_DET_CHI2]);
    CHECK_MSG(rate > 0.005 && rate < 0.015, "chi2 exceedance rate %.4f over %llu windows (alpha 0.01)", rate,
              (unsigned long long)rs.evals[FW_DET_CHI2]);
    /* the sequential tests stay within their budget: raises per row <= alpha_row */
    for (int t = FW_DET_CUSUM; t <= FW_DET_MISSING; t++)
        CHECK_MSG((double)rs.raises[t] <= fw_detector_alpha_row(&s) * 600000, "test %d raised %llu times", t,
                  (unsigned long long)rs.raises[t]);
    fw_detector_free(d);
    ref_free(&c);
}

/* A 300-row reference: its own sampling error is as large as a 500-row window's, and a deployment
 * has one reference. For each of 20 references (each with its stream of 2,500 windows), the rate
 * of windows past the threshold (alpha 0.01, PSI floor off) stays <= 0.02 for at least 19: the
 * threshold covers the reference's error for 99% of references. (Calibrated on the average over
 * references alone, 3 of these 20 references gave 0.027, 0.106 and 0.143.) */
static void test_small_reference(void) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.false_alarms_per_100k = 1000.0 / s.step_rows;
    s.min_psi = 0;
    int bad = 0;
    for (uint64_t k = 0; k < 20; k++) {
        fw_ref_column c = numeric_ref("x", 300, 10, 0.0, 500 + k);
        fw_detector *d;
        fw_err err;
        CHECK_OK(fw_detector_create(&c, &s, &d, &err));
        run_stats rs;
        run_numeric(d, &s, 50000, UINT64_MAX, 0, 0, 0, 900 + k, &rs);
        double rate = (double)rs.over[FW_DET_CHI2] / (double)rs.evals[FW_DET_CHI2];
        if (getenv("FW_TEST_VERBOSE")) printf(" %.3f", rate);
        bad += rate > 0.02;
        fw_detector_free(d);
        ref_free(&c);
    }
    CHECK_MSG(bad <= 1, "300-row references: %d of 20 over twice alpha", bad);
}

/* Default settings, 50 watched columns: a 0.5 SD shift of one column at row 20,000 is found within
 * 1,000 rows, by a drift alarm naming the column; nothing fires before the change. */
static void test_shift_detected(void) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(50, 0);
    fw_ref_column c = numeric_ref("income", 10000, 10, 0.02, 6);
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &d, &err));
    for (uint64_t seed = 100; seed < 105; seed++) {
        run_stats rs;
        run_numeric(d, &s, 22000, 20000, 0.5, 0.02, 0.02, seed, &rs);
        uint64_t first = UINT64_MAX;
        for (int t = 0; t < FW_DETECTOR_TESTS; t++)
            if (rs.first_row[t] < first) first = rs.first_row[t];
        CHECK_MSG(first >= 20000 && first < 21000, "seed %llu: first alarm at row %llu", (unsigned long long)seed,
                  (unsigned long long)first);
        CHECK(rs.first_row[FW_DET_MISSING] == UINT64_MAX);
    }
    /* the alarm record names the column and the statistic */
    fw_detector_check ck = {1, 1, 80.5, 40.2, 0.3, 0.1, 500, -1};
    fw_alarm a;
    fw_detector_alarm(d, FW_DET_CHI2, &ck, 20399, 0, &a);
    CHECK_EQ(a.kind, FW_ALARM_DRIFT);
    CHECK_STR(a.column, "income");
    CHECK_STR(a.statistic, "chi2");
    CHECK_EQ(a.row, 20399);
    CHECK_CONTAINS(a.detail, "PSI 0.3");
    fw_detector_free(d);
    ref_free(&c);
}

/* Missing rate from 2% to 22% at row 20,000: a quality alarm within 200 rows. */
static void test_missing_detected(void) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(50, 0);
    fw_ref_column c = numeric_ref("age", 10000, 10, 0.02, 7);
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &d, &err));
    for (uint64_t seed = 200; seed < 205; seed++) {
        run_stats rs;
        run_numeric(d, &s, 21000, 20000, 0, 0.02, 0.22, seed, &rs);
        CHECK_MSG(rs.first_row[FW_DET_MISSING] >= 20000 && rs.first_row[FW_DET_MISSING] < 20200,
                  "seed %llu: missing alarm at row %llu", (unsigned long long)seed,
                  (unsigned long long)rs.first_row[FW_DET_MISSING]);
        CHECK(rs.first_row[FW_DET_CHI2] >= 20000 && rs.first_row[FW_DET_CUSUM] >= 20000);
    }
    fw_detector_check ck = {1, 1, 30, 17, 0.21, 0.02, 100, -1};
    fw_alarm a;
    fw_detector_alarm(d, FW_DET_MISSING, &ck, 20099, 5, &a);
    CHECK_EQ(a.kind, FW_ALARM_QUALITY);
    CHECK_STR(a.column, "age");
    CHECK_STR(a.statistic, "missing_rate");
    CHECK_CONTAINS(a.detail, "missing rate 0.21");
    fw_detector_free(d);
    ref_free(&c);
}

/* An unseen category at 5% of rows from row 20,000: the rate CUSUM (reference: never seen in 20,000
 * rows) raises within 500 rows, and not before; a categorical shift raises a chi2 drift alarm. */
static void test_unseen_and_categorical(void) {
    fw_detector_settings s;
    fw_detector_settings_init(&s);
    s.family_size = fw_detector_family_size(50, 50);
    double alpha = fw_detector_alpha_row(&s);
    for (uint64_t seed = 300; seed < 305; seed++) {
        fw_rate_cusum rc;
        fw_rate_cusum_init(&rc, 0, 20000, 0.05, alpha);
        fw_rng r;
        fw_rng_seed(&r, seed);
        uint64_t first = UINT64_MAX, hits = 0;
        for (uint64_t i = 0; i < 21000; i++) {
            hits += i >= 20000 && fw_rng_uniform(&r) < 0.05;
            if ((i + 1) % s.step_rows == 0) {
                if (fw_rate_cusum_update(&rc, hits, s.step_rows) && first == UINT64_MAX) first = i;
                hits = 0;
            }
        }
        CHECK_MSG(first >= 20000 && first < 20500, "seed %llu: unseen alarm at %llu", (unsigned long long)seed,
                  (unsigned long long)first);
    }
    double p[8] = {0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02};
    fw_ref_column c = cat_ref("plan", 20000, p, 8, 8);
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &d, &err));
    fw_detector_state *st;
    CHECK_OK(fw_detector_state_new(d, &st));
    uint32_t ns = fw_detector_n_slots(d);
    uint64_t *blk = fw_calloc(ns, sizeof *blk);
    fw_rng r;
    fw_rng_seed(&r, 9);
    uint64_t first = UINT64_MAX;
    for (uint64_t i = 0; i < 22000 && first == UINT64_MAX; i++) {
        double u = fw_rng_uniform(&r), cum = 0;
        char name[16];
        int j = 0;
        /* after row 20,000 the first two categories trade places */
        for (; j < 7; j++) {
            double pj = p[j];
            if (i >= 20000 && j < 2) pj = p[1 - j];
            cum += pj;
            if (u < cum) break;
        }
        int len = snprintf(name, sizeof name, "c%d", j);
        blk[fw_detector_slot_str(d, name, (size_t)len)]++;
        if ((i + 1) % s.step_rows == 0) {
            fw_detector_check ck[FW_DETECTOR_TESTS];
            fw_detector_step(d, st, blk, ck);
            memset(blk, 0, ns * sizeof *blk);
            CHECK(ck[FW_DET_CUSUM].evaluated); /* the cells' CUSUM runs on categories */
            if (ck[FW_DET_CHI2].active || ck[FW_DET_CUSUM].active) first = i;
        }
    }
    CHECK_MSG(first >= 20000 && first < 21000, "categorical swap found at %llu", (unsigned long long)first);
    fw_free(blk);
    fw_detector_state_free(st);
    fw_detector_free(d);
    ref_free(&c);
}

/* A million-row window: a 0.03 SD shift is significant (chi2 past its threshold) but under the PSI
 * floor, so it does not alarm; 0.5 SD does. */
static void test_effect_floor(void) {
    fw_ref_column c = numeric_ref("x", 50000, 10, 0.0, 10);
    fw_detector *d;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, NULL, &d, &err));
    uint32_t ns = fw_detector_n_slots(d);
    uint64_t *w = fw_calloc(ns, sizeof *w);
    double shifts[2] = {0.03, 0.5};
    for (int k = 0; k < 2; k++) {
        memset(w, 0, ns * sizeof *w);
        fw_rng r;
        fw_rng_seed(&r, 11);
        for (int i = 0; i < 1000000; i++) w[fw_detector_slot_num(d, fw_rng_normal(&r) + shifts[k])]++;
        fw_detector_check ck;
        fw_detector_test_window(d, w, &ck);
        CHECK(ck.evaluated);
        CHECK_EQ(ck.rows, 1000000);
        CHECK_MSG(ck.value > ck.threshold, "shift %g: chi2 %g <= %g", shifts[k], ck.value, ck.threshold);
        if (k == 0) CHECK_MSG(!ck.active && ck.effect < 0.01, "trivial shift: PSI %g active %d", ck.effect, ck.active);
        else CHECK_MSG(ck.active && ck.effect > 0.1, "0.5 SD: PSI %g active %d", ck.effect, ck.active);
    }
    fw_free(w);
    fw_detector_free(d);
    ref_free(&c);
}

/* settings.effect_when_over: every check the same as without it, except FW_DET_CHI2's effect (the
 * PSI), NaN while the statistic is under its threshold and the same PSI at or over it; a shift
 * makes both happen in one stream. */
static void test_effect_when_over(void) {
    fw_ref_column c = numeric_ref("x", 20000, 10, 0.05, 5);
    fw_detector_settings s, l;
    fw_detector_settings_init(&s);
    s.window_rows = 500;
    l = s;
    l.effect_when_over = true;
    fw_detector *d = NULL, *dl = NULL;
    fw_err err;
    CHECK_OK(fw_detector_create(&c, &s, &d, &err));
    CHECK_OK(fw_detector_create(&c, &l, &dl, &err));
    fw_detector_state *st = NULL, *stl = NULL;
    if (d && dl) {
        CHECK_OK(fw_detector_state_new(d, &st));
        CHECK_OK(fw_detector_state_new(dl, &stl));
    }
    uint32_t ns = d ? fw_detector_n_slots(d) : 1;
    uint64_t *blk = fw_calloc(ns, sizeof *blk);
    fw_rng r;
    fw_rng_seed(&r, 77);
    size_t under = 0, over = 0;
    for (uint64_t i = 0; st && stl && blk && i < 20000; i++) {
        double x = fw_rng_normal(&r) + (i >= 10000 ? 0.5 : 0);
        if (fw_rng_uniform(&r) < 0.05) x = NAN;
        blk[fw_detector_slot_num(d, x)]++;
        if ((i + 1) % 50) continue;
        fw_detector_check a[FW_DETECTOR_TESTS], b[FW_DETECTOR_TESTS];
        fw_detector_step(d, st, blk, a);
        fw_detector_step(dl, stl, blk, b);
        memset(blk, 0, ns * sizeof *blk);
        for (int t = 0; t < FW_DETECTOR_TESTS; t++) {
            if (t == FW_DET_CHI2 && a[t].evaluated && !(a[t].value >= a[t].threshold)) {
                under++;
                CHECK(isnan(b[t].effect));
                b[t].effect = a[t].effect;
            } else if (t == FW_DET_CHI2 && a[t].evaluated) {
                over++;
            }
            CHECK_MSG(!memcmp(&a[t], &b[t], sizeof a[t]), "block ending at row %llu, test %d differs",
                      (unsigned long long)i, t);
        }
    }
    CHECK(under > 100 && over > 10);
    fw_free(blk);
    fw_detector_state_free(st);
    fw_detector_state_free(stl);
    fw_detector_free(d);
    fw_detector_free(dl);
    ref_free(&c);
}

int main(void) {
    TEST_RUN(test_slots);
    TEST_RUN(test_effect_when_over);
    TEST_RUN(test_many_bins);
    TEST_RUN(test_empty_reference);
    TEST_RUN(test_settings_refused);
    TEST_RUN(test_calibration_deterministic);
    TEST_RUN(test_chi2_calibrated_rate);
    TEST_RUN(test_small_reference);
    TEST_RUN(test_shift_detected);
    TEST_RUN(test_missing_detected);
    TEST_RUN(test_unseen_and_categorical);
    TEST_RUN(test_effect_floor);
    return fw_test_report("test_detector");
}
