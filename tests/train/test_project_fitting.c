/* test_project_fitting.c — the project file frames how models are fitted, not only --param:
 * `objective:` reaches each family (linear loss, gbdt objective) and is checked against the task;
 * `class_weights:` (per class, or balanced) and `data.weight` (a per-row weight column, never a
 * feature) weight the fit, and the two spell the same weights the same way; a declared class
 * `hierarchy:` (a parent column or a map of classes to groups) trains the hier family by default
 * with that grouping and reports metrics per level (text and --json). Every key round-trips
 * through --write-project. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

/* The first model named `name` in a --json report. */
static json_t *model_of(json_t *rep, const char *name) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(rep, "models"), i, m) if (!strcmp(json_string_value(json_object_get(m, "name")), name))
        return m;
    return NULL;
}

static double metric(json_t *rep, const char *model, const char *name) {
    json_t *m = model_of(rep, model);
    return m ? json_number_value(json_object_get(json_object_get(m, "metrics"), name)) : NAN;
}

static json_t *train_json(const char *yaml_cmd) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "%s && \"$FW\" train \"$T/p.yaml\" --models linear,gbdt --threads 1 --quiet --no-register "
                            "--home \"$T/h\" --json", yaml_cmd);
    CHECK_MSG(rc == 0, "train failed: %s", o ? o : "");
    json_t *j = rc == 0 && o ? json_loads(o, 0, NULL) : NULL;
    free(o);
    return j;
}

static void test_objective(void) {
    json_t *j = train_json("fw_project boston \"$T/p.yaml\" && echo 'objective: absolute_error' >> \"$T/p.yaml\"");
    CHECK(j != NULL);
    json_t *lin = model_of(j, "linear"), *gb = model_of(j, "gbdt");
    CHECK_STR(json_string_value(json_object_get(json_object_get(lin, "params"), "loss")), "absolute");
    CHECK_STR(json_string_value(json_object_get(json_object_get(gb, "params"), "objective")), "l1");
    json_decref(j);
    /* --param still wins over the project */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/p.yaml\" --models gbdt --param gbdt.objective=huber --threads 1 --quiet "
                            "--no-register --home \"$T/h\" --json"),
             0);
    CHECK_CONTAINS(o, "\"objective\": \"huber\"");
    free(o);
    o = NULL;
    /* an objective that does not fit the task names the key and the line */
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/q.yaml\" && echo 'objective: huber' >> \"$T/q.yaml\" && "
                            "\"$FW\" train \"$T/q.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "q.yaml:27: 'objective: huber' does not fit a binary task");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed -i 's/objective: huber/objective: hubber/' \"$T/q.yaml\" && "
                            "\"$FW\" train \"$T/q.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "objective");
    CHECK_CONTAINS(o, "huber");
    free(o);
}

static void test_class_and_row_weights(void) {
    /* w: 5 for the positive rows, 1 for the others */
    const char *mk = "awk -F, 'NR==1{print $0\",w\"; next}{print $0\",\"($9==\"pos\"?5:1)}' examples/pima/pima.csv > \"$T/pw.csv\"";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s && sed -e \"s#train: pima.csv#train: $T/pw.csv#\" "
             "-e 's/^  positive: pos/  positive: pos\\n  exclude: [w]/' examples/pima/flywheel.yaml > \"$T/p.yaml\"", mk);
    json_t *none = train_json(cmd);
    snprintf(cmd, sizeof cmd, "%s && sed -e \"s#train: pima.csv#train: $T/pw.csv#\" "
             "-e 's/^  positive: pos/  positive: pos\\n  exclude: [w]/' -e 's/^metric: roc_auc/metric: roc_auc\\nclass_weights:\\n  pos: 5/' "
             "examples/pima/flywheel.yaml > \"$T/p.yaml\"", mk);
    json_t *cw = train_json(cmd);
    snprintf(cmd, sizeof cmd, "%s && sed -e \"s#train: pima.csv#train: $T/pw.csv#\" "
             "-e 's/^  positive: pos/  positive: pos\\n  weight: w/' examples/pima/flywheel.yaml > \"$T/p.yaml\"", mk);
    json_t *rw = train_json(cmd);
    CHECK(none && cw && rw);
    /* weighting the positives 5x moves every model's probabilities up: recall at the chosen
     * threshold is not the point, the log loss of the (weighted-prior) baseline is */
    CHECK_MSG(fabs(metric(none, "baseline", "log_loss") - metric(cw, "baseline", "log_loss")) > 0.1,
              "class_weights did not change the baseline: %g vs %g", metric(none, "baseline", "log_loss"),
              metric(cw, "baseline", "log_loss"));
    CHECK(fabs(metric(none, "linear", "log_loss") - metric(cw, "linear", "log_loss")) > 0.01);
    /* the same weights spelled as a column or per class: the same models */
    for (int k = 0; k < 3; k++) {
        const char *name = k == 0 ? "baseline" : k == 1 ? "linear" : "gbdt";
        CHECK_NEAR(metric(cw, name, "log_loss"), metric(rw, name, "log_loss"), 1e-12);
        CHECK_NEAR(metric(cw, name, "roc_auc"), metric(rw, name, "roc_auc"), 1e-12);
    }
    /* the weight column is not a feature */
    json_t *imp = json_object_get(model_of(rw, "linear"), "importance");
    size_t i;
    json_t *e;
    json_array_foreach(imp, i, e) CHECK(strcmp(json_string_value(json_object_get(e, "feature")), "w") != 0);
    json_decref(none);
    json_decref(cw);
    json_decref(rw);
    /* balanced, a class that does not exist, a bad weight */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed -i 's/^  weight: w/  exclude: [w]/' \"$T/p.yaml\" && echo 'class_weights: balanced' >> \"$T/p.yaml\" && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --quiet --no-register --home \"$T/h\" --write-project \"$T/w.yaml\" "
                            ">/dev/null && grep -c 'class_weights: balanced' \"$T/w.yaml\""),
             0);
    CHECK_CONTAINS(o, "1");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed -i 's/^class_weights: balanced/class_weights: {maybe: 2}/' \"$T/p.yaml\" && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "'class_weights': 'maybe' is not a class of the label (classes: 'neg', 'pos')");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed -i 's/^class_weights: {maybe: 2}/class_weights: {pos: -1}/' \"$T/p.yaml\" && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "'class_weights.pos': expected a number >= 0");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "sed -e 's/^class_weights: .*//' -e 's/^  exclude: \\[w\\]/  weight: w/' \"$T/p.yaml\" > \"$T/p2.yaml\" && "
                            "sed -i '5s/,[0-9]*$/,-2/' \"$T/pw.csv\" && "
                            "\"$FW\" train \"$T/p2.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "line 5: weight column 'w' is negative or infinite");
    free(o);
}

/* 900 rows, 6 sub-categories in 2 categories decided by x1 (then x2 within) */
static const char *write_products(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/products.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    fprintf(f, "x1,x2,noise,category,sub\n");
    unsigned s = 777;
    for (int i = 0; i < 900; i++) {
        double v[3];
        fw_test_uniforms(&s, v, 3);
        const char *cat = v[0] < 0 ? "home" : "tech";
        const char *sub = v[0] < 0 ? (v[1] < -0.3 ? "sofa" : v[1] < 0.3 ? "lamp" : "rug")
                                   : (v[1] < -0.3 ? "phone" : v[1] < 0.3 ? "laptop" : "tv");
        if (i % 10 == 3) v[1] = -v[1]; /* noise within a category */
        fprintf(f, "%.4f,%.4f,%.4f,%s,%s\n", v[0], v[1], v[2], cat, sub);
    }
    fclose(f);
    return path;
}

static void test_hierarchy(void) {
    const char *csv = write_products();
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "printf 'data:\\n  train: %s\\n  label: sub\\ntask: multiclass\\nhierarchy:\\n  parent: category\\n' "
                            "> \"$T/h.yaml\" && \"$FW\" train \"$T/h.yaml\" --threads 1 --quiet --no-register --home \"$T/h\" "
                            "--write-project \"$T/hw.yaml\" --html \"$T/h.html\" && cat \"$T/hw.yaml\" && "
                            "echo \"html levels: $(grep -c '<h2>Per level of the class hierarchy</h2>' \"$T/h.html\")\"",
                        csv),
             0);
    /* hier is a default candidate, and every model is reported per level */
    CHECK_CONTAINS(o, "\n  hier ");
    CHECK_CONTAINS(o, "Per level of the class hierarchy");
    CHECK_CONTAINS(o, "  hier      group ");
    CHECK_CONTAINS(o, "  hier      class ");
    CHECK_CONTAINS(o, "hierarchy:\n  parent: category\n");
    CHECK_CONTAINS(o, "html levels: 1"); /* the HTML report has the per-level table */
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train \"$T/h.yaml\" --models linear,hier --threads 1 --quiet --no-register --home \"$T/h\" --json"), 0);
    json_t *j = o ? json_loads(o, 0, NULL) : NULL;
    CHECK(j != NULL);
    json_t *hier = model_of(j, "hier");
    CHECK(hier != NULL);
    /* the declared grouping: 2 groups, classes in name order lamp laptop phone rug sofa tv */
    CHECK_STR(json_string_value(json_object_get(json_object_get(hier, "params"), "group_map")), "0,1,1,0,0,1");
    double g = json_number_value(json_object_get(json_object_get(json_object_get(hier, "levels"), "group"), "accuracy"));
    double c = json_number_value(json_object_get(json_object_get(json_object_get(hier, "levels"), "class"), "accuracy"));
    CHECK_MSG(g > 0.95 && g >= c, "group accuracy %g, class accuracy %g", g, c);
    CHECK(json_is_object(json_object_get(json_object_get(model_of(j, "linear"), "levels"), "group")));
    json_decref(j);
    free(o);
    o = NULL;
    /* the same hierarchy as a map: the same grouping (and the parent column becomes a feature again) */
    CHECK_EQ(fw_test_sh(&o, "printf 'data:\\n  train: %s\\n  label: sub\\n  exclude: [category]\\ntask: multiclass\\nhierarchy:\\n"
                            "  groups: {sofa: home, lamp: home, rug: home, phone: tech, laptop: tech, tv: tech}\\n' > \"$T/g.yaml\" && "
                            "\"$FW\" train \"$T/g.yaml\" --models hier --threads 1 --quiet --no-register --home \"$T/h\" --json",
                        csv),
             0);
    CHECK_CONTAINS(o, "\"group_map\": \"0,1,1,0,0,1\"");
    free(o);
    o = NULL;
    /* a class without a group, a class with two parents, a hierarchy on a binary task */
    CHECK_EQ(fw_test_sh(&o, "sed -i 's/, tv: tech//' \"$T/g.yaml\" && "
                            "\"$FW\" train \"$T/g.yaml\" --models hier --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "'hierarchy.groups': class 'tv' has no group");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "awk -F, -v OFS=, 'NR==5{$4=($4==\"home\"?\"tech\":\"home\")}{print}' %s > \"$T/x.csv\" && cp \"$T/x.csv\" %s && "
                            "\"$FW\" train \"$T/h.yaml\" --models hier --quiet --no-register --home \"$T/h\"",
                        csv, csv),
             1);
    CHECK_CONTAINS(o, "has two parents in column 'category'");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/b.yaml\" && printf 'hierarchy:\\n  parent: age\\n' >> \"$T/b.yaml\" && "
                            "\"$FW\" train \"$T/b.yaml\" --models linear --quiet --no-register --home \"$T/h\""),
             1);
    CHECK_CONTAINS(o, "'hierarchy' applies to multiclass tasks, not binary");
    free(o);
}

int main(void) {
    TEST_RUN(test_objective);
    TEST_RUN(test_class_and_row_weights);
    TEST_RUN(test_hierarchy);
    return fw_test_report("test_project_fitting");
}
