/* test_shadow.c — the shadow agreement report of experiment/shadow.h: the disagreement rate and its
 * Wilson interval, the score differences (mean, mean |d|, quantiles) and the paired live metric
 * (accuracy for classes, mean absolute error for values) against direct computations; multi-instance
 * requests compared per instance but not labelled; unparseable rows skipped; the same JSON bytes
 * whatever the rows' order. */
#include "core/buf.h"
#include "experiment/shadow.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static json_t *report(fw_shadow *s) {
    fw_buf b;
    fw_buf_init(&b);
    fw_shadow_json(s, &b);
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    CHECK(j != NULL);
    fw_buf_free(&b);
    return j;
}

static double num(json_t *o, const char *path1, const char *path2) {
    json_t *v = json_object_get(json_object_get(o, path1), path2);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* 40 classifier requests: the shadow answers differently on every 4th (10 of 40), its score is the
 * champion's + 0.01 * (i % 5) (|d| = 0, .01, .02, .03, .04 eight times each); labels on the first
 * 20: the champion right on all but i = 0, 4 (those the shadow got right: the label is the
 * shadow's answer), the shadow right where it agrees with the champion and on 0, 4. */
static void add_all(fw_shadow *s, int from, int to, int step) {
    for (int i = from; i != to; i += step) {
        char a[64], o[64], sa[64], so[64], lb[32];
        const char *ca = i % 2 ? "spam" : "ham", *xa = i % 4 == 0 ? (i % 2 ? "ham" : "spam") : ca;
        double p = 0.3 + 0.01 * (i % 7), q = p + 0.01 * (i % 5);
        snprintf(a, sizeof a, "[\"%s\"]", ca);
        snprintf(sa, sizeof sa, "[\"%s\"]", xa);
        snprintf(o, sizeof o, "[[%.17g]]", p);
        snprintf(so, sizeof so, "[[%.17g]]", q);
        const char *label = NULL;
        if (i < 20) {
            snprintf(lb, sizeof lb, "\"%s\"", (i == 0 || i == 4) ? xa : ca);
            label = lb;
        }
        fw_err err;
        CHECK_OK(fw_shadow_add(s, "spam2", 3, a, o, sa, so, label, &err));
    }
}

static void test_classifier(void) {
    fw_shadow *s = NULL, *r = NULL;
    fw_err err;
    CHECK_OK(fw_shadow_new(&s, &err));
    CHECK_OK(fw_shadow_new(&r, &err));
    if (!s || !r) return;
    add_all(s, 0, 40, 1);
    add_all(r, 39, -1, -1); /* the same rows backwards */
    fw_err e2;
    CHECK_OK(fw_shadow_add(s, "spam2", 3, "[\"a\"", "[[1]]", "[\"b\"]", "[[1]]", NULL, &e2)); /* bad JSON */
    CHECK_OK(fw_shadow_add(r, "spam2", 3, "[\"a\"", "[[1]]", "[\"b\"]", "[[1]]", NULL, &e2));
    json_t *j = report(s);
    json_t *g = json_array_get(json_object_get(j, "shadows"), 0);
    CHECK_STR(json_string_value(json_object_get(g, "shadow")), "spam2#3");
    CHECK_EQ(json_integer_value(json_object_get(g, "requests")), 41);
    CHECK_EQ(json_integer_value(json_object_get(g, "skipped")), 1);
    CHECK_EQ(json_integer_value(json_object_get(g, "instances")), 40);
    CHECK(num(g, "disagreement", "differ") == 10 && num(g, "disagreement", "compared") == 40);
    CHECK_NEAR(num(g, "disagreement", "rate"), 0.25, 1e-15);
    /* Wilson at z = 1.959964: p = .25, n = 40 */
    double z = 1.959963984540054, n = 40, p = 0.25, den = 1 + z * z / n, c = (p + z * z / (2 * n)) / den;
    double h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den;
    json_t *iv = json_object_get(json_object_get(g, "disagreement"), "interval");
    CHECK_NEAR(json_number_value(json_array_get(iv, 0)), c - h, 1e-9);
    CHECK_NEAR(json_number_value(json_array_get(iv, 1)), c + h, 1e-9);
    CHECK_NEAR(num(g, "score_diff", "mean_abs"), 0.02, 1e-12);
    CHECK_NEAR(num(g, "score_diff", "mean"), 0.02, 1e-12);
    CHECK_NEAR(num(g, "score_diff", "p50_abs"), 0.02, 1e-12);
    CHECK_NEAR(num(g, "score_diff", "max_abs"), 0.04, 1e-12);
    json_t *live = json_object_get(g, "live");
    CHECK_STR(json_string_value(json_object_get(live, "metric")), "accuracy");
    CHECK_EQ(json_integer_value(json_object_get(live, "labelled")), 20);
    /* champion wrong on 0 and 4; shadow wrong where it disagrees (8, 12, 16) */
    CHECK_NEAR(num(g, "live", "champion"), 18.0 / 20, 1e-12);
    CHECK_NEAR(num(g, "live", "shadow"), 17.0 / 20, 1e-12);
    CHECK_NEAR(num(g, "live", "difference"), -1.0 / 20, 1e-12);
    json_decref(j);
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    fw_shadow_json(s, &a);
    fw_shadow_json(r, &b);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    fw_shadow_text(s, &a);
    fw_shadow_html(s, &a);
    fw_buf_put_u8(&a, 0);
    CHECK_CONTAINS((const char *)a.data, "answers differ: 25% of 40");
    CHECK_CONTAINS((const char *)a.data, "<h2>Shadow agreement</h2>");
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_shadow_free(s);
    fw_shadow_free(r);
}

/* Values: a regressor's answers are numbers, the live metric the mean absolute error; a request of
 * two instances compares both instances and is not labelled. */
static void test_regressor(void) {
    fw_shadow *s = NULL;
    fw_err err;
    CHECK_OK(fw_shadow_new(&s, &err));
    if (!s) return;
    CHECK_OK(fw_shadow_add(s, "price", 2, "[10]", "[[10]]", "[12]", "[[12]]", "11.5", &err));
    CHECK_OK(fw_shadow_add(s, "price", 2, "[20]", "[[20]]", "[19]", "[[19]]", "20", &err));
    CHECK_OK(fw_shadow_add(s, "price", 2, "[1,2]", "[[1],[2]]", "[1,5]", "[[1],[5]]", "3", &err));
    json_t *j = report(s);
    json_t *g = json_array_get(json_object_get(j, "shadows"), 0);
    CHECK_EQ(json_integer_value(json_object_get(g, "instances")), 4);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(g, "disagreement"), "compared")), 0);
    CHECK(json_is_null(json_object_get(json_object_get(g, "disagreement"), "rate")));
    CHECK_NEAR(num(g, "score_diff", "mean"), (2 - 1 + 0 + 3) / 4.0, 1e-12);
    CHECK_NEAR(num(g, "score_diff", "mean_abs"), (2 + 1 + 0 + 3) / 4.0, 1e-12);
    CHECK_STR(json_string_value(json_object_get(json_object_get(g, "live"), "metric")), "mae");
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(g, "live"), "labelled")), 2);
    CHECK_NEAR(num(g, "live", "champion"), (1.5 + 0) / 2, 1e-12);
    CHECK_NEAR(num(g, "live", "shadow"), (0.5 + 1) / 2, 1e-12);
    json_decref(j);
    fw_shadow_free(s);
}

int main(void) {
    TEST_RUN(test_classifier);
    TEST_RUN(test_regressor);
    return fw_test_report("test_shadow");
}
