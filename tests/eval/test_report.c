/* test_report.c — tests for the training report renderings: the text table lists every model with
 * its delta vs the baseline; the JSON parses back with the documented keys and values; the HTML
 * is self-contained (inline <svg>, no "http", no <script>), escapes names; all three are
 * byte-identical when rendered twice. Set FW_REPORT_HTML=path to keep the HTML for a look. */
#include "core/alloc.h"
#include "eval/report.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

enum { N = 400 };

typedef struct fixture {
    double y[N], p_good[N], p_base[N], p_lin[N];
    int32_t codes[N];
    fw_metric_set good, base, lin;
    fw_slice_report slices;
    fw_threshold_choice th;
    fw_report_model models[3];
    fw_report r;
} fixture;

static const char *const GROUPS[3] = {"north", "south", "<tiny & \"odd\">"};
static const char *const FEATURES[4] = {"age", "calls", "plan<x>", "tenure"};
static const double IMPORTANCE[4] = {0.02, 0.21, 0.0, 0.08};

static void build(fixture *f) {
    uint64_t s = 12345;
    for (size_t i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) / 9007199254740992.0;
        f->y[i] = u < 0.3;
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (double)(s >> 11) / 9007199254740992.0;
        f->p_good[i] = fmin(1, fmax(0, 0.3 + 0.4 * f->y[i] + 0.45 * (u2 - 0.5)));
        f->p_lin[i] = fmin(1, fmax(0, 0.3 + 0.2 * f->y[i] + 0.3 * (((i * 7) % 10) / 10.0 - 0.5)));
        f->p_base[i] = 0.3;
        f->codes[i] = i % 50 == 0 ? 2 : (int32_t)(i % 2);
    }
    fw_eval_options o;
    fw_eval_options_init(&o);
    fw_err err;
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, f->y, f->p_good, N, 1, &o, &f->good, &err));
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, f->y, f->p_lin, N, 1, &o, &f->lin, &err));
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, f->y, f->p_base, N, 1, &o, &f->base, &err));
    CHECK_OK(fw_eval_slices(FW_TASK_BINARY, f->y, f->p_good, N, 1, &o, "region", f->codes, GROUPS, 3,
                            30, &f->slices, &err));
    CHECK_OK(fw_eval_threshold(f->y, f->p_good, N, NULL, &f->th, &err));
    memset(f->models, 0, sizeof f->models);
    f->models[0] = (fw_report_model){.name = "baseline", .family = "baseline",
                                     .params_json = "{\"kind\":\"prior\"}", .train_seconds = 0.001,
                                     .metrics = &f->base, .size_bytes = 64};
    f->models[1] = (fw_report_model){.name = "linear", .family = "linear",
                                     .params_json = "{\"l2\":0.1}", .train_seconds = 0.4,
                                     .metrics = &f->lin, .size_bytes = 900, .has_latency = true,
                                     .latency = {.n_calls = 100, .p50_us = 1.5, .p99_us = 4.25}};
    f->models[2] = (fw_report_model){.name = "gbdt", .family = "gbdt",
                                     .params_json = "{\"max_depth\":6,\"lr\":0.1}", .train_seconds = 2.5,
                                     .metrics = &f->good, .size_bytes = 123456, .has_latency = true,
                                     .latency = {.n_calls = 100, .p50_us = 11, .p99_us = 30},
                                     .importance_names = FEATURES, .importance = IMPORTANCE,
                                     .n_importance = 4, .slices = &f->slices, .n_slices = 1,
                                     .threshold = &f->th};
    static const char *const classes[2] = {"stay", "churn"};
    f->r = (fw_report){.title = "churn <demo>", .task = FW_TASK_BINARY, .min_improvement = 0.01,
                       .models = f->models, .n_models = 3, .baseline = &f->models[0],
                       .class_names = classes, .n_classes = 2};
}

static void release(fixture *f) {
    fw_metric_set_free(&f->good);
    fw_metric_set_free(&f->lin);
    fw_metric_set_free(&f->base);
    fw_slice_report_free(&f->slices);
}

static char *render(const fw_report *r, int which) {
    fw_buf b;
    fw_buf_init(&b);
    fw_err err;
    fw_err_clear(&err);
    fw_status st = which == 0 ? fw_report_text(r, &b) : which == 1 ? fw_report_json(r, &b, &err) : fw_report_html(r, &b);
    CHECK_MSG(st == FW_OK, "render %d failed: %d %s", which, st, err.msg);
    fw_buf_put_u8(&b, 0);
    size_t len;
    return (char *)fw_buf_take(&b, &len);
}

static void test_best_and_text(void) {
    static fixture f;
    build(&f);
    const fw_report_model *best = fw_report_best(&f.r);
    CHECK(best != NULL);
    CHECK_STR(best ? best->name : NULL, "gbdt");
    CHECK_STR(fw_report_primary(&f.r), "roc_auc");
    char *t = render(&f.r, 0);
    CHECK_CONTAINS(t, "primary metric roc_auc");
    CHECK_CONTAINS(t, "gbdt *");
    CHECK_CONTAINS(t, "(baseline)");
    CHECK_CONTAINS(t, "vs baseline");
    CHECK_CONTAINS(t, "p99 us");
    CHECK_CONTAINS(t, "120.6 KB");
    CHECK_CONTAINS(t, "decision threshold");
    CHECK_CONTAINS(t, "Slices of gbdt by 'region'");
    CHECK_CONTAINS(t, "small");
    char *t2 = render(&f.r, 0);
    CHECK_STR(t, t2);
    if (getenv("FW_REPORT_SHOW")) fputs(t, stdout);
    fw_free(t);
    fw_free(t2);
    /* an explicit best wins */
    f.r.best = "linear";
    CHECK_STR(fw_report_best(&f.r)->name, "linear");
    release(&f);
}

static void test_json_parses_back(void) {
    static fixture f;
    build(&f);
    char *text = render(&f.r, 1);
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    CHECK_MSG(root != NULL, "JSON does not parse: %s at line %d", je.text, je.line);
    if (root) {
        const char *keys[] = {"task", "primary_metric", "best", "threshold", "models", "baseline"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            CHECK_MSG(json_object_get(root, keys[i]) != NULL, "missing top-level key %s", keys[i]);
        CHECK_STR(json_string_value(json_object_get(root, "task")), "binary");
        CHECK_STR(json_string_value(json_object_get(root, "best")), "gbdt");
        CHECK_NEAR(json_number_value(json_object_get(json_object_get(root, "threshold"), "value")), f.th.threshold, 0);
        json_t *models = json_object_get(root, "models");
        CHECK_EQ(json_array_size(models), 3);
        json_t *g = json_array_get(models, 2);
        const char *mkeys[] = {"name", "family", "params", "train_seconds", "metrics", "vs_baseline",
                               "latency_us", "size_bytes", "slices", "importance"};
        for (size_t i = 0; i < sizeof mkeys / sizeof *mkeys; i++)
            CHECK_MSG(json_object_get(g, mkeys[i]) != NULL, "missing model key %s", mkeys[i]);
        CHECK_EQ(json_integer_value(json_object_get(json_object_get(g, "params"), "max_depth")), 6);
        double auc = 0;
        fw_metric_set_get(&f.good, "roc_auc", &auc);
        CHECK(json_number_value(json_object_get(json_object_get(g, "metrics"), "roc_auc")) == auc);
        json_t *vb = json_object_get(g, "vs_baseline");
        CHECK(json_is_true(json_object_get(vb, "meets_min_improvement")));
        CHECK_NEAR(json_number_value(json_object_get(vb, "improvement")), auc - 0.5, 1e-12);
        CHECK_NEAR(json_number_value(json_object_get(json_object_get(g, "latency_us"), "p99")), 30, 0);
        CHECK_EQ(json_integer_value(json_object_get(g, "size_bytes")), 123456);
        json_t *reg = json_object_get(json_object_get(g, "slices"), "region");
        CHECK_EQ(json_array_size(json_object_get(reg, "slices")), 3);
        json_t *imp = json_object_get(g, "importance");
        CHECK_EQ(json_array_size(imp), 4);
        CHECK_STR(json_string_value(json_object_get(json_array_get(imp, 1), "feature")), "calls");
        CHECK(json_is_null(json_object_get(json_array_get(models, 0), "vs_baseline")));
        CHECK(json_is_null(json_object_get(json_array_get(models, 0), "latency_us")));
        CHECK_EQ(json_array_size(json_object_get(g, "confusion_matrix")), 2);
        /* NaN becomes null: the baseline's constant prediction still has an AUC of 0.5, but a
         * one-class slice would not; check the baseline object exists with its metrics */
        CHECK(json_object_get(json_object_get(root, "baseline"), "metrics") != NULL);
        json_decref(root);
    }
    char *again = render(&f.r, 1);
    CHECK_STR(text, again);
    fw_free(text);
    fw_free(again);
    release(&f);
}

static void test_html_self_contained(void) {
    static fixture f;
    build(&f);
    char *h = render(&f.r, 2);
    CHECK_CONTAINS(h, "<!DOCTYPE html>");
    CHECK_CONTAINS(h, "<svg");
    CHECK_CONTAINS(h, "ROC curve");
    CHECK_CONTAINS(h, "Precision-recall curve");
    CHECK_CONTAINS(h, "Calibration");
    CHECK_CONTAINS(h, "Confusion matrix");
    CHECK_CONTAINS(h, "rows = true class");
    CHECK_CONTAINS(h, "Feature importance");
    CHECK_CONTAINS(h, "region");
    CHECK_CONTAINS(h, "churn &lt;demo&gt;");
    CHECK_CONTAINS(h, "&lt;tiny &amp; &quot;odd&quot;&gt;");
    CHECK_CONTAINS(h, "plan&lt;x&gt;");
    CHECK(strstr(h, "http") == NULL);
    CHECK(strstr(h, "<script") == NULL);
    CHECK(strstr(h, "<tiny") == NULL);
    CHECK(strstr(h, "nan") == NULL);
    size_t svgs = 0;
    for (const char *p = h; (p = strstr(p, "<svg")); p++) svgs++;
    CHECK_EQ(svgs, 6); /* ROC, PR, calibration, confusion, importance, one slice column */
    char *again = render(&f.r, 2);
    CHECK_STR(h, again);
    const char *keep = getenv("FW_REPORT_HTML");
    fw_err err;
    char path[512];
    snprintf(path, sizeof path, "%s/report.html", fw_test_tmpdir());
    CHECK_OK(fw_report_write_file(keep ? keep : path, h, strlen(h), &err));
    CHECK_EQ(fw_report_write_file("/nonexistent-dir/x.html", h, 1, &err), FW_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent-dir/x.html");
    fw_free(h);
    fw_free(again);
    release(&f);
}

static void test_other_tasks_render(void) {
    /* multiclass and regression reports render without curves; a model without metrics is an error */
    double y[6] = {0, 1, 2, 0, 1, 2}, p[18] = {0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.2, 0.7,
                                                0.3, 0.4, 0.3, 0.1, 0.8, 0.1, 0.6, 0.2, 0.2};
    fw_metric_set s;
    CHECK_OK(fw_eval_compute(FW_TASK_MULTICLASS, y, p, 6, 3, NULL, &s, NULL));
    fw_report_model m = {.name = "knn", .family = "knn", .metrics = &s};
    fw_report r = {.title = "iris", .task = FW_TASK_MULTICLASS, .models = &m, .n_models = 1};
    char *h = render(&r, 2);
    CHECK_CONTAINS(h, "Confusion matrix");
    CHECK_CONTAINS(h, "rows = true class");
    CHECK(strstr(h, "ROC curve") == NULL);
    char *j = render(&r, 1);
    json_t *root = json_loads(j, 0, NULL);
    CHECK(root != NULL);
    CHECK(json_is_null(json_object_get(root, "baseline")));
    CHECK(json_is_null(json_object_get(root, "threshold")));
    json_decref(root);
    char *t = render(&r, 0);
    CHECK_CONTAINS(t, "f1_macro");
    fw_free(h);
    fw_free(j);
    fw_free(t);
    fw_metric_set_free(&s);
    fw_report_model bad = {.name = "x"};
    fw_report rb = {.task = FW_TASK_BINARY, .models = &bad, .n_models = 1};
    fw_buf b;
    fw_buf_init(&b);
    CHECK_EQ(fw_report_text(&rb, &b), FW_EINVAL);
    CHECK_EQ(fw_report_html(&rb, &b), FW_EINVAL);
    CHECK_EQ(fw_report_json(&rb, &b, NULL), FW_EINVAL);
    fw_buf_free(&b);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_best_and_text);
    TEST_RUN(test_json_parses_back);
    TEST_RUN(test_html_self_contained);
    TEST_RUN(test_other_tasks_render);
    return fw_test_report(argv[0]);
}
