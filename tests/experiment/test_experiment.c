/* test_experiment.c — the analysis of experiment/experiment.h through its library API: the delta
 * method's variance of a rate and the mean per unit against direct computations, CUPED's variance
 * reduction, the data gate ("too little data", never a winner), a clear effect called with its
 * direction, the sample ratio mismatch check, units seen in two variants, the canonical event
 * order (file order never changes a byte) and the default metric declaration. */
#include "core/alloc.h"
#include "experiment/events.h"
#include "experiment/experiment.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double unif(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }

static fw_experiment *make(const fw_exp_metric_spec *m, size_t k, int cuped) {
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    o.metrics = m;
    o.n_metrics = k;
    o.cuped = cuped;
    fw_experiment *e = NULL;
    fw_err err;
    CHECK_OK(fw_experiment_new(&o, &e, &err));
    return e;
}

static void add(fw_experiment *e, int unit, const char *variant, const char *metric, double value, double pre) {
    char u[32];
    int n = snprintf(u, sizeof u, "u%d", unit);
    fw_err err;
    CHECK_OK(fw_experiment_add(e, u, (size_t)n, variant, strlen(variant), metric, strlen(metric), value, pre, &err));
}

static json_t *report(fw_experiment *e) {
    fw_buf b;
    fw_buf_init(&b);
    fw_experiment_json(e, &b);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    CHECK_MSG(j != NULL, "report is not JSON: %s", je.text);
    fw_buf_free(&b);
    return j;
}

static json_t *metric(json_t *r, size_t i) { return json_array_get(json_object_get(r, "metrics"), i); }
static double num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Units with 1..3 exposures and a click count each: the rate's delta-method standard error equals
 * the direct formula over the units, and the mean per unit's equals s / sqrt(n). */
static void test_delta_method(void) {
    fw_exp_metric_spec m[2] = {{"ctr", "click", FW_EXP_RATE, 1, 0.05}, {"clicks_per_unit", "click", FW_EXP_MEAN, 1, 0.05}};
    fw_experiment *e = make(m, 2, 0);
    enum { N = 400 };
    double ex[N], cl[N];
    for (int u = 0; u < 2 * N; u++) {
        const char *v = u % 2 ? "B" : "A";
        int ne = 1 + (int)(unif() * 3), nc = 0;
        for (int i = 0; i < ne; i++) {
            add(e, u, v, "exposure", NAN, NAN);
            if (unif() < 0.3) {
                add(e, u, v, "click", NAN, NAN);
                nc++;
            }
        }
        if (u % 2 == 0) {
            ex[u / 2] = ne;
            cl[u / 2] = nc;
        }
    }
    /* control A, directly */
    double se = 0, sc = 0;
    for (int i = 0; i < N; i++) {
        se += ex[i];
        sc += cl[i];
    }
    double r = sc / se, ebar = se / N, s2 = 0, my = sc / N, v2 = 0;
    for (int i = 0; i < N; i++) {
        double phi = (cl[i] - r * ex[i]) / ebar;
        s2 += phi * phi;
        v2 += (cl[i] - my) * (cl[i] - my);
    }
    double want_rate_se = sqrt(s2 / (N - 1) / N), want_mean_se = sqrt(v2 / (N - 1) / N);
    json_t *j = report(e);
    CHECK_NEAR(num(metric(j, 0), "control_estimate"), r, 1e-12);
    CHECK_NEAR(num(metric(j, 0), "control_std_error"), want_rate_se, 1e-9);
    CHECK_NEAR(num(metric(j, 1), "control_estimate"), my, 1e-12);
    CHECK_NEAR(num(metric(j, 1), "control_std_error"), want_mean_se, 1e-9);
    CHECK_STR(json_string_value(json_object_get(j, "control")), "A");
    CHECK_EQ(json_integer_value(json_object_get(j, "units")), 2 * N);
    json_decref(j);
    fw_experiment_free(e);
}

/* A pre-period covariate correlated with the outcome: CUPED cuts the standard error (by about
 * sqrt(1 - rho^2)) and keeps the estimate near the truth. */
static void test_cuped(void) {
    fw_exp_metric_spec m[1] = {{"revenue", "revenue", FW_EXP_MEAN, 1, 0.05}};
    fw_experiment *on = make(m, 1, 1), *off = make(m, 1, 0);
    for (int u = 0; u < 4000; u++) {
        const char *v = u % 2 ? "B" : "A";
        double z = gauss(), y = 10 + 3 * z + gauss() + (u % 2 ? 0.5 : 0);
        fw_experiment *es[2] = {on, off};
        for (int i = 0; i < 2; i++) {
            char us[16];
            int n = snprintf(us, sizeof us, "u%d", u);
            fw_err err;
            CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "exposure", 8, NAN, z, &err));
            CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "revenue", 7, y, NAN, &err));
        }
    }
    json_t *jon = report(on), *joff = report(off);
    double se_on = num(metric(jon, 0), "std_error"), se_off = num(metric(joff, 0), "std_error");
    CHECK_MSG(se_on < 0.45 * se_off, "CUPED std error %g vs %g without", se_on, se_off);
    CHECK(json_is_true(json_object_get(jon, "cuped")) && json_is_false(json_object_get(joff, "cuped")));
    CHECK_NEAR(num(metric(jon, 0), "lift"), 0.05, 0.015);
    CHECK(json_is_true(json_object_get(metric(jon, 0), "significant")));
    CHECK_STR(json_string_value(json_object_get(metric(jon, 0), "decision")), "better");
    json_decref(jon);
    json_decref(joff);
    fw_experiment_free(on);
    fw_experiment_free(off);
}

/* A huge apparent effect on too few units is "too little data", never a winner; and a direction
 * "decrease" metric that rose is "worse". */
static void test_gate_and_direction(void) {
    fw_exp_metric_spec m[1] = {{"latency", "latency", FW_EXP_MEAN, -1, 0.05}};
    fw_experiment *e = make(m, 1, 0);
    for (int u = 0; u < 60; u++) add(e, u, u % 2 ? "B" : "A", "latency", u % 2 ? 100 + u : 10 + u % 7, NAN);
    json_t *j = report(e);
    CHECK_STR(json_string_value(json_object_get(metric(j, 0), "decision")), "too little data");
    CHECK(json_is_false(json_object_get(metric(j, 0), "significant")));
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "inconclusive");
    CHECK(json_is_null(json_array_get(json_object_get(metric(j, 0), "interval"), 0)));
    json_decref(j);
    for (int u = 60; u < 600; u++) add(e, u, u % 2 ? "B" : "A", "latency", (u % 2 ? 100 : 10) + 5 * gauss(), NAN);
    j = report(e);
    CHECK(json_is_true(json_object_get(metric(j, 0), "significant")));
    CHECK_STR(json_string_value(json_object_get(metric(j, 0), "decision")), "worse");
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "worse");
    CHECK(num(metric(j, 0), "p_value") <= 0.05);
    json_t *iv = json_object_get(metric(j, 0), "interval");
    double lo = json_number_value(json_array_get(iv, 0)), hi = json_number_value(json_array_get(iv, 1));
    double lift = num(metric(j, 0), "lift");
    CHECK(lo > 0 && lo <= lift && lift <= hi);
    json_decref(j);
    fw_experiment_free(e);
}

/* Sample ratio: 55/45 of 10,000 units is a mismatch at p < 0.001 and the decision says so first;
 * the same counts with the expected weights declared are not. */
static void test_srm(void) {
    double c[2] = {5500, 4500}, w[2] = {0.55, 0.45}, stat;
    double p = fw_exp_srm_pvalue(c, NULL, 2, &stat);
    CHECK_NEAR(stat, 100.0, 1e-9); /* (500^2 / 5000) * 2 */
    CHECK(p < 1e-20);
    CHECK(fw_exp_srm_pvalue(c, w, 2, NULL) > 0.99);
    double c3[3] = {10, 10, 5}, w3[3] = {1, 1, 0};
    CHECK(fw_exp_srm_pvalue(c3, w3, 3, NULL) == 0); /* units where none are expected */
    fw_exp_metric_spec m[1] = {{"click", "click", FW_EXP_RATE, 1, 0.05}};
    fw_experiment *e = make(m, 1, 0);
    for (int u = 0; u < 10000; u++) add(e, u, u % 20 < 11 ? "A" : "B", "exposure", NAN, NAN);
    json_t *j = report(e);
    CHECK(json_is_true(json_object_get(json_object_get(j, "srm"), "mismatch")));
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "sample ratio mismatch");
    json_decref(j);
    fw_buf b;
    fw_buf_init(&b);
    fw_experiment_text(e, &b);
    fw_buf_put_u8(&b, 0);
    CHECK(strncmp((const char *)b.data, "sample ratio: MISMATCH", 22) == 0); /* shown first */
    fw_buf_free(&b);
    fw_experiment_free(e);
}

/* A unit in two variants is counted in each, and reported. */
static void test_mixed_units(void) {
    fw_exp_metric_spec m[1] = {{"click", "click", FW_EXP_RATE, 1, 0.05}};
    fw_experiment *e = make(m, 1, 0);
    add(e, 1, "A", "exposure", NAN, NAN);
    add(e, 1, "B", "exposure", NAN, NAN);
    add(e, 1, "A", "click", NAN, NAN);
    add(e, 2, "B", "exposure", NAN, NAN);
    json_t *j = report(e);
    CHECK_EQ(json_integer_value(json_object_get(j, "mixed_units")), 1);
    CHECK_EQ(json_integer_value(json_object_get(j, "units")), 3);
    CHECK_EQ(json_integer_value(json_object_get(j, "events")), 4);
    json_decref(j);
    fw_experiment_free(e);
}

/* Rows in another order give the same bytes; the default metrics are a rate for a count event and a
 * mean for a valued one. */
static void test_order_and_defaults(void) {
    const char *a = "unit,variant,time,metric,value\n"
                    "u1,A,1,exposure,\nu2,B,2,exposure,\nu1,A,3,click,\nu2,B,3,revenue,2.5\nu3,A,3,exposure,\n";
    const char *b = "metric,value,time,variant,unit\n"
                    "revenue,2.5,3,B,u2\nexposure,,3,A,u3\nclick,,3,A,u1\nexposure,,2,B,u2\nexposure,,1,A,u1\n";
    fw_exp_events ea, eb;
    fw_exp_events_init(&ea);
    fw_exp_events_init(&eb);
    fw_err err;
    CHECK_OK(fw_exp_events_parse_csv(&ea, "a.csv", a, strlen(a), &err));
    CHECK_OK(fw_exp_events_parse_csv(&eb, "b.csv", b, strlen(b), &err));
    CHECK_OK(fw_exp_events_sort(&ea, &err));
    CHECK_OK(fw_exp_events_sort(&eb, &err));
    fw_exp_metric_spec *m;
    size_t n;
    CHECK_OK(fw_exp_events_default_metrics(&ea, &m, &n, &err));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(m[0].name, "click");
        CHECK_EQ(m[0].kind, FW_EXP_RATE);
        CHECK_STR(m[1].name, "revenue");
        CHECK_EQ(m[1].kind, FW_EXP_MEAN);
    }
    fw_free(m);
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    fw_buf ba, bb;
    fw_buf_init(&ba);
    fw_buf_init(&bb);
    CHECK_OK(fw_exp_events_report(&ea, &o, 0, true, &ba, NULL, &err));
    CHECK_OK(fw_exp_events_report(&eb, &o, 0, true, &bb, NULL, &err));
    CHECK(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0);
    fw_buf_free(&ba);
    fw_buf_free(&bb);
    fw_exp_events_free(&ea);
    fw_exp_events_free(&eb);
}

/* Bad CSVs: each error names the file, line and column. */
static void test_csv_errors(void) {
    struct {
        const char *text, *want;
    } cases[] = {
        {"", "e.csv:1:1: empty file"},
        {"unit,variant,time,metric\n", "no column 'value'"},
        {"unit,variant,time,metric,value,unit\n", "e.csv:1:32: column 'unit': repeated"},
        {"unit,variant,time,metric,value\nu1,A,1,click,abc\n", "e.csv:2:14: column 'value': 'abc' is not a number"},
        {"unit,variant,time,metric,value\nu1,A,yesterday,click,1\n", "e.csv:2:6: column 'time'"},
        {"unit,variant,time,metric,value\nu1,A,1,click\n", "e.csv:2:1: 4 fields, the header has 5"},
        {"unit,variant,time,metric,value\n,A,1,click,1\n", "e.csv:2:1: column 'unit': empty"},
        {"unit,variant,time,metric,value\nu1,\"A,1,click,1\n", "e.csv:2:4: a quoted field is not closed"},
        {"unit,variant,time,metric,value\nu1,A,1,click,nan\n", "column 'value': 'nan' is not a number"},
        {"unit,variant,time,metric,value\nu1,A\"x,1,click,1\n", "e.csv:2:5: a quote inside an unquoted field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fw_exp_events ev;
        fw_exp_events_init(&ev);
        fw_err err;
        fw_err_clear(&err);
        fw_status st = fw_exp_events_parse_csv(&ev, "e.csv", cases[i].text, strlen(cases[i].text), &err);
        CHECK_MSG(st == FW_EPARSE, "case %zu: status %d", i, (int)st);
        CHECK_CONTAINS(err.msg, cases[i].want);
        fw_exp_events_free(&ev);
    }
    /* quoted fields, CRLF, a BOM, an ISO time and a blank line are fine */
    const char *ok = "\xEF\xBB\xBFunit,variant,time,metric,value,pre\r\n\"u,1\",\"A \"\"x\"\"\",2026-12-07T01:00:00Z,click,,1.5\r\n\r\n";
    fw_exp_events ev;
    fw_exp_events_init(&ev);
    fw_err err;
    CHECK_OK(fw_exp_events_parse_csv(&ev, "ok.csv", ok, strlen(ok), &err));
    CHECK_EQ(ev.n, 1);
    if (ev.n == 1) {
        CHECK_STR(ev.units.keys[ev.ev[0].unit], "u,1");
        CHECK_STR(ev.variants.keys[ev.ev[0].variant], "A \"x\"");
        CHECK_NEAR(ev.ev[0].time, 1796605200000.0, 0.5);
        CHECK(isnan(ev.ev[0].value) && ev.ev[0].pre == 1.5);
    }
    fw_exp_events_free(&ev);
}

/* A header and no rows (found by fuzz_experiment_events: the sort was handed a NULL array) is an
 * empty report, not undefined behaviour. */
static void test_no_rows(void) {
    const char *h = "unit,variant,time,metric,value\n";
    fw_exp_events ev;
    fw_exp_events_init(&ev);
    fw_err err;
    CHECK_OK(fw_exp_events_parse_csv(&ev, "h.csv", h, strlen(h), &err));
    CHECK_OK(fw_exp_events_sort(&ev, &err));
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_exp_events_report(&ev, &o, 0, true, &b, NULL, &err));
    fw_buf_put_u8(&b, 0);
    CHECK(strncmp((const char *)b.data, "{\"events\":0,", 12) == 0);
    CHECK_CONTAINS((const char *)b.data, "\"decision\":\"too little data\"");
    fw_buf_free(&b);
    fw_exp_events_free(&ev);
}

/* Holm's adjusted p-values against a hand computation (statsmodels' multipletests(method="holm")
 * gives the same): sorted 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x, then the running maximum. */
static void test_holm_values(void) {
    double p[5] = {0.01, 0.04, 0.03, 0.005, 0.9}, q[5];
    fw_exp_holm(p, 5, q);
    CHECK_NEAR(q[3], 0.025, 1e-15);
    CHECK_NEAR(q[0], 0.04, 1e-15);
    CHECK_NEAR(q[2], 0.09, 1e-15);
    CHECK_NEAR(q[1], 0.09, 1e-15); /* 2 x 0.04 = 0.08 < 0.09: the running maximum */
    CHECK_NEAR(q[4], 0.9, 1e-15);
    double t[3] = {0.02, 0.02, 0.5}, r[3];
    fw_exp_holm(t, 3, r);
    CHECK(r[0] == 0.06 && r[1] == 0.06 && r[2] == 0.5);
}

/* Three metrics, one with a moderate effect, two with none: when the effect's raw always-valid
 * p-value first falls to alpha it is called significant without a correction but not by Holm
 * (adjusted p = 3p > alpha while p > alpha / 3); the report carries both p-values; Holm calls it
 * once p <= alpha / 3. The same events feed both experiments. */
static void test_holm_family(void) {
    fw_exp_metric_spec m[3] = {{"click", "click", FW_EXP_RATE, 1, 0.05},
                               {"buy", "buy", FW_EXP_RATE, 1, 0.05},
                               {"spend", "spend", FW_EXP_MEAN, 1, 0.05}};
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    o.metrics = m;
    o.n_metrics = 3;
    fw_experiment *holm = NULL, *none = NULL;
    fw_err err;
    CHECK_OK(fw_experiment_new(&o, &holm, &err));
    o.correction = FW_EXP_NONE;
    CHECK_OK(fw_experiment_new(&o, &none, &err));
    if (!holm || !none) return;
    int raw_at = -1, holm_at = -1;
    double p_raw_first = NAN, q_first = NAN;
    bool none_sig_first = false, holm_sig_first = true;
    for (int u = 0; u < 200000 && holm_at < 0; u++) {
        const char *v = u % 2 ? "B" : "A";
        fw_experiment *es[2] = {holm, none};
        double r1 = unif(), r2 = unif(), r3 = unif(), y = 1 + unif();
        for (int i = 0; i < 2; i++) {
            char us[16];
            int n = snprintf(us, sizeof us, "u%d", u);
            CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "exposure", 8, NAN, NAN, &err));
            if (r1 < (u % 2 ? 0.12 : 0.10)) CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "click", 5, NAN, NAN, &err));
            if (r2 < 0.1) CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "buy", 3, NAN, NAN, &err));
            if (r3 < 0.2) CHECK_OK(fw_experiment_add(es[i], us, (size_t)n, v, 1, "spend", 5, y, NAN, &err));
        }
        double l, var;
        bool sh, sn;
        const fw_seq *s = fw_experiment_comparison(holm, 0, &l, &var, &sh);
        fw_experiment_comparison(none, 0, &l, &var, &sn);
        if (!s) continue; /* one variant so far */
        if (raw_at < 0 && s->p_value <= 0.05) {
            raw_at = u;
            p_raw_first = s->p_value;
            q_first = fw_experiment_adjusted_p(holm, 0);
            none_sig_first = sn;
            holm_sig_first = sh;
        }
        if (sh) holm_at = u;
    }
    CHECK_MSG(raw_at > 0 && holm_at > raw_at, "raw first at %d, holm at %d", raw_at, holm_at);
    CHECK(p_raw_first > 0.05 / 3); /* the step this test is about */
    CHECK_NEAR(q_first, fmin(1, 3 * p_raw_first), 1e-12);
    CHECK(none_sig_first && !holm_sig_first);
    CHECK(fw_experiment_adjusted_p(holm, 0) <= 0.05);
    CHECK(fw_experiment_adjusted_p(none, 0) == fw_experiment_comparison(none, 0, &(double){0}, &(double){0}, &(bool){0})->p_value);
    json_t *j = report(holm);
    CHECK_STR(json_string_value(json_object_get(j, "correction")), "holm");
    CHECK_EQ(json_integer_value(json_object_get(j, "comparisons")), 3);
    CHECK(num(metric(j, 0), "p_value_adjusted") <= 0.05 && num(metric(j, 0), "p_value") <= 0.05 / 3);
    CHECK(num(metric(j, 1), "p_value_adjusted") >= num(metric(j, 1), "p_value"));
    CHECK(json_is_true(json_object_get(metric(j, 0), "significant")));
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "better");
    json_decref(j);
    fw_buf b;
    fw_buf_init(&b);
    fw_experiment_text(holm, &b);
    fw_experiment_html(holm, &b);
    fw_buf_put_u8(&b, 0);
    CHECK_CONTAINS((const char *)b.data, "correction: holm over 3 comparisons");
    CHECK_CONTAINS((const char *)b.data, "<th>p adjusted</th>");
    fw_buf_free(&b);
    fw_experiment_free(holm);
    fw_experiment_free(none);
}

/* Per-slice breakdowns: a `slice` column (given on a unit's exposure only) splits the units; each
 * slice gets the whole analysis of its own units (its clicks included), in byte order of the slice
 * names; the overall report is byte for byte the one without the column, plus "slices". */
static void test_slices(void) {
    fw_buf with, without;
    fw_buf_init(&with);
    fw_buf_init(&without);
    fw_buf_printf(&with, "unit,variant,time,metric,value,slice\n");
    fw_buf_printf(&without, "unit,variant,time,metric,value\n");
    int units[2] = {0, 0};
    for (int u = 0; u < 3000; u++) {
        const char *v = u % 2 ? "B" : "A", *sl = u % 3 == 0 ? "us" : "de";
        units[u % 3 == 0]++;
        double p = 0.1 * (u % 3 == 0 && u % 2 ? 1.6 : 1); /* B better in "us" only */
        fw_buf_printf(&with, "u%d,%s,%d,exposure,,%s\n", u, v, u, sl);
        fw_buf_printf(&without, "u%d,%s,%d,exposure,\n", u, v, u);
        if (unif() < p) {
            fw_buf_printf(&with, "u%d,%s,%d,click,,\n", u, v, u + 1);
            fw_buf_printf(&without, "u%d,%s,%d,click,\n", u, v, u + 1);
        }
    }
    fw_exp_events ew, eo;
    fw_exp_events_init(&ew);
    fw_exp_events_init(&eo);
    fw_err err;
    CHECK_OK(fw_exp_events_parse_csv(&ew, "w.csv", (const char *)with.data, with.len, &err));
    CHECK_OK(fw_exp_events_parse_csv(&eo, "o.csv", (const char *)without.data, without.len, &err));
    CHECK_OK(fw_exp_events_sort(&ew, &err));
    CHECK_OK(fw_exp_events_sort(&eo, &err));
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    fw_buf bw, bo;
    fw_buf_init(&bw);
    fw_buf_init(&bo);
    CHECK_OK(fw_exp_events_report(&ew, &o, 0, true, &bw, NULL, &err));
    CHECK_OK(fw_exp_events_report(&eo, &o, 0, true, &bo, NULL, &err));
    CHECK(bo.len > 2 && bw.len > bo.len && memcmp(bw.data, bo.data, bo.len - 2) == 0); /* same up to the last "}" */
    json_error_t je;
    json_t *j = json_loadb((const char *)bw.data, bw.len, 0, &je);
    CHECK_MSG(j != NULL, "not JSON: %s", je.text);
    json_t *sl = json_object_get(j, "slices");
    CHECK_EQ(json_array_size(sl), 2);
    json_t *de = json_array_get(sl, 0), *us = json_array_get(sl, 1);
    CHECK_STR(json_string_value(json_object_get(de, "slice")), "de");
    CHECK_STR(json_string_value(json_object_get(us, "slice")), "us");
    json_t *rde = json_object_get(de, "report"), *rus = json_object_get(us, "report");
    CHECK_EQ(json_integer_value(json_object_get(rde, "units")), units[0]);
    CHECK_EQ(json_integer_value(json_object_get(rus, "units")), units[1]);
    CHECK(num(metric(rus, 0), "lift") > 0.3 && fabs(num(metric(rde, 0), "lift")) < 0.3);
    CHECK(json_is_array(json_object_get(metric(rus, 0), "interval")));
    json_decref(j);
    fw_buf txt;
    fw_buf_init(&txt);
    CHECK_OK(fw_exp_events_report(&ew, &o, 0, false, &txt, NULL, &err));
    fw_buf_put_u8(&txt, 0);
    CHECK_CONTAINS((const char *)txt.data, "== slice us (its units only; not corrected across slices)");
    fw_buf_free(&txt);
    fw_buf_free(&bw);
    fw_buf_free(&bo);
    fw_buf_free(&with);
    fw_buf_free(&without);
    fw_exp_events_free(&ew);
    fw_exp_events_free(&eo);
}

static void test_metric_parse(void) {
    fw_exp_metric_spec m;
    fw_err err;
    CHECK_OK(fw_exp_metric_parse("lat=latency_ms:mean:decrease:0.02", &m, &err));
    CHECK_STR(m.name, "lat");
    CHECK_STR(m.event, "latency_ms");
    CHECK(m.kind == FW_EXP_MEAN && m.direction == -1 && m.min_effect == 0.02);
    CHECK_OK(fw_exp_metric_parse("ctr=click:rate", &m, &err));
    CHECK(m.kind == FW_EXP_RATE && m.direction == 1 && m.min_effect == 0.05);
    CHECK(fw_exp_metric_parse("ctr=click", &m, &err) == FW_EINVAL);
    CHECK(fw_exp_metric_parse("ctr=click:ratio", &m, &err) == FW_EINVAL);
    CHECK(fw_exp_metric_parse("=click:rate", &m, &err) == FW_EINVAL);
    CHECK(fw_exp_metric_parse("c=click:rate:up", &m, &err) == FW_EINVAL);
    CHECK(fw_exp_metric_parse("c=click:rate:increase:-1", &m, &err) == FW_EINVAL);
}

int main(void) {
    TEST_RUN(test_delta_method);
    TEST_RUN(test_cuped);
    TEST_RUN(test_gate_and_direction);
    TEST_RUN(test_srm);
    TEST_RUN(test_mixed_units);
    TEST_RUN(test_order_and_defaults);
    TEST_RUN(test_csv_errors);
    TEST_RUN(test_no_rows);
    TEST_RUN(test_metric_parse);
    TEST_RUN(test_holm_values);
    TEST_RUN(test_holm_family);
    TEST_RUN(test_slices);
    return fw_test_report("test_experiment");
}
