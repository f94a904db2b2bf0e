/* test_consistency.c — the commands agree with each other (issue 15, "Consistency"), through the
 * real binary: train takes --metric/--group/--id as eval and batch do; eval takes --model/--input as
 * batch does (and still REF DATA); batch history --json; describe and train write the same kind
 * of data path (relative to the project file) and the resolved transforms; models list names its
 * metric; models diff shows project changes and no alias noise; a failed batch does not claim
 * "0 written to FILE"; an identical artifact is not registered twice; knn leaves the default
 * families when its known cost is high. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *jparse(const char *o) {
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "not JSON: %.300s", o ? o : "(null)");
    return j;
}

static void test_train_flags_like_eval(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/pima.csv --label diabetes --no-register --home \"$T/h\" --json "
                            "--models baseline,linear --metric average_precision --group pregnant --id age 2>/dev/null"), 0);
    json_t *j = jparse(o);
    free(o);
    if (!j) return;
    CHECK_STR(json_string_value(json_object_get(j, "primary_metric")), "average_precision");
    json_t *m = json_array_get(json_object_get(j, "models"), 1);
    CHECK(json_is_object(json_object_get(json_object_get(m, "slices"), "pregnant")));
    json_t *imp = json_object_get(m, "importance");
    CHECK(json_array_size(imp) > 0);
    for (size_t i = 0; i < json_array_size(imp); i++)
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(imp, i), "feature")), "age") != 0);
    json_decref(j);
}

static void test_eval_model_flag_and_registry(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/r\" --quiet --models baseline,linear"), 0);
    CHECK_CONTAINS(o, "registered pima@1");
    free(o);
    /* the same run again: the same bytes, not a new version */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/r\" --quiet --models baseline,linear"), 0);
    CHECK_CONTAINS(o, "not registered again: the artifact is identical to pima@1");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models list pima --home \"$T/r\" | wc -l"), 0);
    CHECK_CONTAINS(o, "2"); /* the header and one version */
    free(o);
    /* eval: --model/--input as batch, and REF DATA as before; intervals on every metric */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval --model pima@1 --input examples/pima/pima.csv --home \"$T/r\" --json"), 0);
    json_t *j = jparse(o);
    free(o);
    if (j) {
        json_t *ci = json_object_get(json_array_get(json_object_get(j, "models"), 1), "metrics_ci");
        CHECK(json_is_array(json_object_get(json_object_get(ci, "intervals"), "roc_auc")));
        json_decref(j);
    }
    /* eval --group takes a numeric column as train's groups: does (one slice per value) */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval --model pima@1 --input examples/pima/pima.csv --home \"$T/r\" --json "
                            "--group pregnant"), 0);
    j = jparse(o);
    free(o);
    if (j) {
        json_t *g = json_object_get(json_object_get(json_array_get(json_object_get(j, "models"), 1), "slices"), "pregnant");
        CHECK_MSG(json_is_object(g), "no pregnant slices");
        json_t *sl = json_object_get(g, "slices");
        size_t zero = 0;
        for (size_t i = 0; i < json_array_size(sl); i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(sl, i), "value")) ?: "", "0"))
                zero = (size_t)json_integer_value(json_object_get(json_array_get(sl, i), "n_rows"));
        CHECK_EQ(zero, 111); /* the rows of pima.csv with pregnant = 0 */
        json_decref(j);
    }
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval pima@1 examples/pima/pima.csv --home \"$T/r\""), 0);
    CHECK_CONTAINS(o, "95% bootstrap intervals");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" eval examples/pima/pima.csv --model pima@1 --home \"$T/r\""), 0);
    free(o);
    /* models list names the metric; models diff shows the project change, no aliases */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/r\" --quiet --models baseline,linear "
                            "--metric average_precision"), 0);
    CHECK_CONTAINS(o, "registered pima@2");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models list pima --home \"$T/r\""), 0);
    CHECK_CONTAINS(o, "TEST METRIC");
    CHECK_CONTAINS(o, "roc_auc 0.");
    CHECK_CONTAINS(o, "average_precision 0.");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models diff pima@1 pima@2 --home \"$T/r\""), 0);
    CHECK_CONTAINS(o, "project:\n");
    CHECK_CONTAINS(o, "- metric: roc_auc");
    CHECK_CONTAINS(o, "+ metric: average_precision");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" models diff pima@1 pima@2 --home \"$T/r\" --json"), 0);
    CHECK_MSG(o && !strstr(o, "\"aliases\""), "aliases in diff: %.300s", o ? o : "");
    j = jparse(o);
    free(o);
    CHECK(j && json_array_size(json_object_get(j, "project")) == 2);
    json_decref(j);
    /* batch history --json; a failed batch says so, without "written to" */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" batch --model pima@1 --input examples/pima/pima.csv --output \"$T/s.csv\" --home \"$T/r\" --quiet"), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "printf 'glucose,mass\\n1,2\\n' > \"$T/bad.csv\" && "
                            "\"$FW\" batch --model pima@1 --input \"$T/bad.csv\" --output \"$T/p.csv\" --home \"$T/r\""), 1);
    CHECK_CONTAINS(o, "batch: FAILED after 0 rows read");
    CHECK_CONTAINS(o, "no output file was written");
    CHECK_MSG(o && !strstr(o, "written to"), "failed batch claims output: %s", o ? o : "");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "test ! -e \"$T/p.csv\""), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" batch history --home \"$T/r\" --json"), 0);
    j = jparse(o);
    free(o);
    CHECK(j && json_array_size(j) >= 1);
    json_t *run = json_array_get(j, json_array_size(j) - 1); /* newest first: the oldest is the ok run */
    CHECK_STR(json_string_value(json_object_get(run, "outcome")), "ok");
    CHECK_EQ(json_integer_value(json_object_get(run, "rows_written")), 768);
    json_decref(j);
}

static void test_written_projects_agree(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "mkdir -p \"$T/proj\" && "
                            "\"$FW\" describe examples/pima/pima.csv --label diabetes --write-project \"$T/proj/d.yaml\" >/dev/null && "
                            "\"$FW\" train examples/pima/pima.csv --label diabetes --write-project \"$T/proj/t.yaml\" "
                            "--no-register --quiet --models baseline,linear --home \"$T/h\" >/dev/null && "
                            "grep 'train:' \"$T/proj/d.yaml\" && grep 'train:' \"$T/proj/t.yaml\""), 0);
    /* both relative to the project file (the parser resolves them against it), and the same */
    char *nl = o ? strchr(o, '\n') : NULL;
    CHECK(nl && strncmp(o, nl + 1, (size_t)(nl - o)) == 0);
    CHECK_MSG(o && !strstr(o, "train: /"), "absolute path: %s", o ? o : "");
    free(o);
    /* the written project says what training does with each feature, and trains as written */
    CHECK_EQ(fw_test_sh(&o, "cat \"$T/proj/d.yaml\""), 0);
    CHECK_CONTAINS(o, "    impute: median\n    scale: standard\n");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "cd /tmp && \"$FW\" train \"$T/proj/d.yaml\" --no-register --quiet --models baseline,linear"), 0);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "printf 'c,x,y\\n' > \"$T/cat.csv\" && for i in $(seq 1 60); do "
                            "echo \"v$((i %% 7)),$i,$((i %% 2))\" >> \"$T/cat.csv\"; done && "
                            "\"$FW\" describe \"$T/cat.csv\" --label y --write-project \"$T/cat.yaml\" >/dev/null && cat \"$T/cat.yaml\""), 0);
    CHECK_CONTAINS(o, "  - name: c\n    type: categorical\n    encode: onehot\n");
    free(o);
}

/* 3,000 rows x 40 numeric features: knn's brute-force cost is estimated well over its 5 s budget
 * (mostly permutation importance); pima (768 x 8) keeps it. */
static void test_knn_budget(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "awk 'BEGIN{srand(3); h=\"y\"; for(j=1;j<=40;j++) h=h\",f\"j; print h; "
                            "for(i=0;i<3000;i++){ s=0; l=\"\"; for(j=1;j<=40;j++){v=rand(); s+=v; l=l\",\"v} "
                            "print (s>20?1:0) l } }' > \"$T/wide.csv\" && "
                            "\"$FW\" train \"$T/wide.csv\" --label y --no-register --quiet --home \"$T/h\""), 0);
    CHECK_CONTAINS(o, "warning: knn left out of the default families: estimated");
    CHECK_MSG(o && !strstr(o, "\n  knn "), "knn trained: %s", o ? o : "");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --no-register --quiet --home \"$T/h\""), 0);
    CHECK_CONTAINS(o, "\n  knn ");
    free(o);
}

int main(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return fw_test_report("test_consistency");
    }
    TEST_RUN(test_train_flags_like_eval);
    TEST_RUN(test_eval_model_flag_and_registry);
    TEST_RUN(test_written_projects_agree);
    TEST_RUN(test_knn_budget);
    return fw_test_report("test_consistency");
}
