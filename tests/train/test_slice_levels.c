/* test_slice_levels.c — per-slice reports go as far as the whole-model ones, through the real
 * binary: with a class `hierarchy:` every slice is also scored at the group level (`levels` per
 * slice in --json, a group-level slice table in the text report, a group-level chart in HTML), and
 * the HTML report charts every metric of the project's `metrics:` list per slice, not only the
 * primary. The per-slice group accuracies add up (weighted by rows) to the model's group accuracy. */
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* 900 rows, 6 sub-categories in 2 categories decided by x1 (then x2 within), a region to slice by */
static const char *write_products(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/products.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f) return path;
    fprintf(f, "x1,x2,noise,region,category,sub\n");
    unsigned s = 4242;
    for (int i = 0; i < 900; i++) {
        double v[3];
        for (int k = 0; k < 3; k++) {
            s = s * 1103515245u + 12345u;
            v[k] = (double)((s >> 8) % 10000) / 5000.0 - 1.0;
        }
        const char *cat = v[0] < 0 ? "home" : "tech";
        const char *sub = v[0] < 0 ? (v[1] < -0.3 ? "sofa" : v[1] < 0.3 ? "lamp" : "rug")
                                   : (v[1] < -0.3 ? "phone" : v[1] < 0.3 ? "laptop" : "tv");
        if (i % 7 == 3) v[1] = -v[1]; /* noise within a category */
        if (i % 11 == 5) v[0] = -v[0]; /* and across */
        fprintf(f, "%.4f,%.4f,%.4f,%s,%s,%s\n", v[0], v[1], v[2], i % 3 ? "north" : "south", cat, sub);
    }
    fclose(f);
    return path;
}

static json_t *model_of(json_t *rep, const char *name) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(rep, "models"), i, m) if (!strcmp(json_string_value(json_object_get(m, "name")), name))
        return m;
    return NULL;
}

static void test_hier_slices_and_metric_charts(void) {
    const char *csv = write_products();
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "printf 'data:\\n  train: %s\\n  label: sub\\n  groups: [region]\\ntask: multiclass\\nhierarchy:\\n  parent: category\\n"
                            "metric: f1_macro\\nmetrics: [accuracy, log_loss]\\n' > \"$T/h.yaml\" && "
                            "\"$FW\" train \"$T/h.yaml\" --models linear,hier --threads 1 --quiet --no-register --home \"$T/h\" "
                            "--html \"$T/h.html\" --json > \"$T/h.json\" && "
                            "echo \"charts: $(grep -c '>accuracy by region<' \"$T/h.html\") $(grep -c '>log_loss by region<' \"$T/h.html\") "
                            "$(grep -c '>f1_macro by region<' \"$T/h.html\") $(grep -c '>group level: f1_macro by region<' \"$T/h.html\")\" && "
                            "\"$FW\" train \"$T/h.yaml\" --models linear,hier --threads 1 --quiet --no-register --home \"$T/h\"",
                        csv),
             0);
    CHECK_CONTAINS(o, "charts: 1 1 1 1");
    CHECK_CONTAINS(o, "by 'region' at the group level (f1_macro;");
    free(o);
    char path[700];
    snprintf(path, sizeof path, "%s/h.json", fw_test_tmpdir());
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    CHECK_MSG(j != NULL, "report JSON: %s", je.text);
    if (!j) return;
    for (int k = 0; k < 2; k++) {
        json_t *m = model_of(j, k ? "hier" : "linear");
        CHECK(m != NULL);
        double overall = json_number_value(json_object_get(json_object_get(json_object_get(m, "levels"), "group"), "accuracy"));
        json_t *sl = json_object_get(json_object_get(json_object_get(m, "slices"), "region"), "slices");
        CHECK_EQ(json_array_size(sl), 2);
        double sum = 0;
        size_t rows = 0, i;
        json_t *s;
        json_array_foreach(sl, i, s) {
            json_t *lv = json_object_get(s, "levels");
            double ga = json_number_value(json_object_get(json_object_get(lv, "group"), "accuracy"));
            double ca = json_number_value(json_object_get(json_object_get(lv, "class"), "accuracy"));
            CHECK(isfinite(ga));
            /* the class level is the slice's own metrics */
            CHECK_NEAR(ca, json_number_value(json_object_get(json_object_get(s, "metrics"), "accuracy")), 0);
            size_t n = (size_t)json_integer_value(json_object_get(s, "n_rows"));
            sum += ga * (double)n;
            rows += n;
        }
        CHECK_NEAR(sum / (double)rows, overall, 1e-12);
    }
    json_decref(j);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_hier_slices_and_metric_charts);
    return fw_test_report(argv[0]);
}
