/* test_report_html.c — tests for what the HTML report shows a stakeholder (src/eval/report_html*.c):
 * params as "key = value" pairs with shortest round-trip numbers (no raw JSON, no float noise);
 * long feature names never cut off (the label column is as wide as the longest name); importance
 * summed per input column with its method and units stated; a threshold marker on ROC and PR; rows
 * per calibration bin; slices on a zoomed axis from the overall value with intervals; per-class
 * precision/recall/F1 for multiclass; predicted-vs-actual and residual plots for regression. */
#include "core/alloc.h"
#include "eval/report.h"
#include "eval/report_html_int.h"
#include "test.h"

#include <stdlib.h>

static char *html(const fw_report *r) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_report_html(r, &b));
    fw_buf_put_u8(&b, 0);
    return (char *)fw_buf_take(&b, NULL);
}

static size_t count(const char *h, const char *needle) {
    size_t n = 0;
    for (const char *p = h; (p = strstr(p, needle)); p++) n++;
    return n;
}

enum { N = 600 };

static void binary_data(double *y, double *p, int32_t *codes) {
    uint64_t s = 99;
    for (size_t i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) / 9007199254740992.0;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (double)(s >> 11) / 9007199254740992.0;
        y[i] = u < 0.35;
        codes[i] = (int32_t)(i % 3);
        /* group 2 is clearly worse (weaker signal) */
        double signal = codes[i] == 2 ? 0.05 : 0.45;
        p[i] = fmin(1, fmax(0, 0.3 + signal * y[i] + 0.5 * (u2 - 0.5)));
    }
}

static void test_shortest_numbers(void) {
    char buf[64];
    fw__report_shortest(buf, sizeof buf, 0.10000000000000001);
    CHECK_STR(buf, "0.1");
    fw__report_shortest(buf, sizeof buf, 1e-4);
    CHECK_STR(buf, "0.0001");
    fw__report_shortest(buf, sizeof buf, 50);
    CHECK_STR(buf, "50");
    fw__report_shortest(buf, sizeof buf, 1.0 / 3);
    CHECK_STR(buf, "0.3333333333333333");
    fw__report_shortest(buf, sizeof buf, 1e300);
    CHECK_STR(buf, "1e+300");
}

static void test_params_readable(void) {
    double y[N], p[N];
    int32_t codes[N];
    binary_data(y, p, codes);
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, N, 1, NULL, &s, NULL));
    fw_report_model m = {.name = "gbdt", .family = "gbdt", .metrics = &s,
                         .params_json = "{\"learning_rate\":0.10000000000000001,\"max_depth\":6,"
                                        "\"objective\":\"logloss\",\"tree\":{\"l2\":1.0000000000000001e-05},"
                                        "\"note\":\"<b>&\"}"};
    fw_report r = {.title = "t", .task = FW_TASK_BINARY, .models = &m, .n_models = 1};
    char *h = html(&r);
    CHECK_CONTAINS(h, "learning_rate = 0.1<");
    CHECK_CONTAINS(h, "max_depth = 6<");
    CHECK_CONTAINS(h, "objective = logloss<");
    CHECK_CONTAINS(h, "tree.l2 = 0.00001<");
    CHECK_CONTAINS(h, "note = &lt;b&gt;&amp;<");
    CHECK(strstr(h, "0.10000000000000001") == NULL);
    CHECK(strstr(h, "{&quot;") == NULL && strstr(h, "{\"learning") == NULL); /* no raw JSON */
    CHECK(strstr(h, "word-break:break-all") == NULL); /* the rule that wrapped JSON char by char */
    fw_free(h);
    fw_metric_set_free(&s);
}

static void test_binary_marks_and_importance(void) {
    double y[N], p[N];
    int32_t codes[N];
    binary_data(y, p, codes);
    fw_metric_set s;
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.threshold = 0.45;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, N, 1, &o, &s, NULL));
    static const char *const names[5] = {"plan=basic", "plan=premium", "plan_missing",
                                         "average_monthly_minutes_in_the_evening_last_quarter", "age"};
    static const char *const inputs[5] = {"plan", "plan", "plan",
                                          "average_monthly_minutes_in_the_evening_last_quarter", "age"};
    static const double imp[5] = {0.01, 0.02, 0.005, 0.03, 0.001};
    fw_report_model m = {.name = "gbdt", .family = "gbdt", .metrics = &s, .importance = imp,
                         .importance_names = names, .importance_inputs = inputs, .n_importance = 5,
                         .importance_metric = "roc_auc", .importance_repeats = 3, .importance_rows = N};
    fw_report r = {.title = "t", .task = FW_TASK_BINARY, .models = &m, .n_models = 1};
    char *h = html(&r);
    /* a threshold marker on ROC and on PR, at the confusion matrix's operating point */
    CHECK_EQ(count(h, "class=\"thr\""), 2);
    CHECK_CONTAINS(h, "threshold 0.45");
    /* rows per calibration bin */
    CHECK_CONTAINS(h, "rows per bin (600 in all)");
    CHECK_CONTAINS(h, "class=\"cnt\"");
    /* importance: method, metric, units, repeats; one-hot parts summed into "plan" = 0.035 */
    CHECK_CONTAINS(h, "Permutation importance");
    CHECK_CONTAINS(h, "roc_auc points");
    CHECK_CONTAINS(h, "mean of 3 shuffles");
    CHECK_CONTAINS(h, "(600 rows)");
    CHECK_CONTAINS(h, ">plan</text>");
    CHECK_CONTAINS(h, "0.0350 (3 parts)");
    CHECK(strstr(h, "plan=basic") == NULL);
    /* the long name is shown whole, and the label column is wide enough for it (the label's
     * right edge is at the column width: x = width - 6 >= its estimated width) */
    CHECK_CONTAINS(h, ">average_monthly_minutes_in_the_evening_last_quarter</text>");
    const char *lbl = strstr(h, ">average_monthly_minutes_in_the_evening_last_quarter</text>");
    const char *open = lbl;
    while (open > h && strncmp(open, "<text x=\"", 9) != 0) open--;
    double x = atof(open + 9);
    CHECK_MSG(x >= fw__html_text_px("average_monthly_minutes_in_the_evening_last_quarter", 11),
              "label right edge %.0f is left of its width: cut off", x);
    fw_free(h);
    fw_metric_set_free(&s);
}

static void test_slices_zoomed_with_intervals(void) {
    double y[N], p[N];
    int32_t codes[N];
    binary_data(y, p, codes);
    static const char *const groups[3] = {"north", "south", "west"};
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, y, p, N, 1, NULL, &s, NULL));
    fw_slice_report sr;
    CHECK_OK(fw_eval_slices(FW_TASK_BINARY, y, p, N, 1, NULL, "region", codes, groups, 3, 30, &sr, NULL));
    CHECK(sr.slices[2].worse);
    CHECK(!sr.slices[0].worse && !sr.slices[1].worse);
    fw_report_model m = {.name = "gbdt", .family = "gbdt", .metrics = &s, .slices = &sr, .n_slices = 1};
    fw_report r = {.title = "t", .task = FW_TASK_BINARY, .models = &m, .n_models = 1};
    char *h = html(&r);
    const char *chart = strstr(h, "roc_auc by region");
    CHECK(chart != NULL);
    if (chart) {
        /* the axis starts near the values, not at zero: its first tick is above 0.4 */
        const char *tick = strstr(chart, "class=\"tick\" text-anchor=\"middle\">");
        CHECK(tick != NULL);
        if (tick) CHECK_MSG(atof(tick + 35) > 0.4, "slice axis starts at %s", tick + 35);
        CHECK_EQ(count(chart, "class=\"ci\""), 3);     /* an interval per slice */
        CHECK_EQ(count(chart, "class=\"worse\""), 1);  /* only west */
        CHECK_CONTAINS(chart, "n=200 worse");
    }
    fw_free(h);
    fw_slice_report_free(&sr);
    fw_metric_set_free(&s);
}

static void test_multiclass_per_class(void) {
    /* 3 classes, 9 rows; confusion: class a 3/3 right; b: 2 right, 1 predicted c; c: 3 right */
    double y[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    double p[27];
    int pred[9] = {0, 0, 0, 1, 1, 2, 2, 2, 2};
    for (int i = 0; i < 9; i++)
        for (int k = 0; k < 3; k++) p[i * 3 + k] = k == pred[i] ? 0.8 : 0.1;
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_MULTICLASS, y, p, 9, 3, NULL, &s, NULL));
    static const char *const classes[3] = {"setosa", "versicolor", "virginica"};
    fw_report_model m = {.name = "knn", .family = "knn", .metrics = &s};
    fw_report r = {.title = "iris", .task = FW_TASK_MULTICLASS, .models = &m, .n_models = 1,
                   .class_names = classes, .n_classes = 3};
    char *h = html(&r);
    CHECK_CONTAINS(h, "Per-class precision, recall and F1");
    /* versicolor: precision 2/2, recall 2/3, F1 0.8; virginica: precision 3/4, recall 1 */
    CHECK_CONTAINS(h, "<td>versicolor</td><td>1.0000</td><td>0.6667</td><td>0.8000</td><td>3</td><td>2</td>");
    CHECK_CONTAINS(h, "<td>virginica</td><td>0.7500</td><td>1.0000</td><td>0.8571</td><td>3</td><td>4</td>");
    CHECK_CONTAINS(h, "Confusion matrix");
    fw_free(h);
    fw_metric_set_free(&s);
}

static void test_regression_plots(void) {
    enum { M = 5000 };
    double *y = fw_malloc(M * sizeof *y), *p = fw_malloc(M * sizeof *p);
    for (size_t i = 0; i < M; i++) {
        y[i] = 10 + (double)(i % 97);
        p[i] = y[i] + ((double)(i % 13) - 6) * 0.7;
    }
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_REGRESSION, y, p, M, 1, NULL, &s, NULL));
    fw_report_model m = {.name = "gbdt", .family = "gbdt", .metrics = &s, .test_y = y, .test_pred = p, .n_test = M};
    fw_report r = {.title = "boston", .task = FW_TASK_REGRESSION, .models = &m, .n_models = 1};
    char *h = html(&r);
    CHECK_CONTAINS(h, "Predicted vs actual");
    CHECK_CONTAINS(h, "Residuals");
    CHECK_CONTAINS(h, "1667 (every 3rd row) of 5000 test rows"); /* at most 2000 points per plot */
    size_t circles = count(h, "<circle cx=");
    CHECK_MSG(circles == 2 * 1667, "%zu points", circles);
    CHECK(strstr(h, "e+01") == NULL); /* ticks read 20, 40, not 2e+01 */
    fw_free(h);
    /* without test predictions: no plots */
    m.test_y = NULL;
    h = html(&r);
    CHECK(strstr(h, "Predicted vs actual") == NULL);
    fw_free(h);
    fw_metric_set_free(&s);
    fw_free(y);
    fw_free(p);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_shortest_numbers);
    TEST_RUN(test_params_readable);
    TEST_RUN(test_binary_marks_and_importance);
    TEST_RUN(test_slices_zoomed_with_intervals);
    TEST_RUN(test_multiclass_per_class);
    TEST_RUN(test_regression_plots);
    return fw_test_report(argv[0]);
}
