/* test_profile.c — tests for src/data/profile.c: statistics checked against hand-computed
 * values, top categories and label balance, text tokens, timestamp range, table and JSON. */
#include "core/alloc.h"
#include "data/csv.h"
#include "data/profile.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

static const char *csv =
    "x,color,note,when,label\n"
    "1,red,one two three,2024-01-01,yes\n"
    "2,blue,four five six seven,2024-01-03,no\n"
    "3,red,a b c,,yes\n"
    "4,,d e f g h,2024-01-02T12:00:00Z,yes\n"
    ",red,i j k,2024-01-02,no\n"
    "10,green,l m n,2024-01-05,yes\n";

static fw_dataset *load(void) {
    fw_dataset *ds = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_csv_load_mem(csv, strlen(csv), "p.csv", NULL, &ds, NULL, &err);
    CHECK_MSG(st == FW_OK, "%s", err.msg);
    return ds;
}

static void test_numbers(void) {
    fw_dataset *ds = load();
    if (!ds) return;
    fw_profile *p;
    fw_err err;
    CHECK_OK(fw_profile_build(ds, "label", &p, &err));
    const fw_col_profile *x = &p->cols[0];
    CHECK_EQ(x->type, FW_COL_NUMERIC);
    CHECK_EQ(x->n_missing, 1);
    CHECK_NEAR(x->missing_rate, 1.0 / 6.0, 1e-12);
    CHECK_EQ(x->distinct, 5);
    CHECK(x->min == 1 && x->max == 10);
    CHECK_NEAR(x->mean, 4.0, 1e-12);                 /* (1+2+3+4+10)/5 */
    CHECK_NEAR(x->std, sqrt(50.0 / 4.0), 1e-12);     /* squares of deviations: 9+4+1+0+36 */
    CHECK_NEAR(x->q[0], 1.04, 1e-12);                /* h = 4*0.01 = 0.04 → 1 + 0.04*1 */
    CHECK_NEAR(x->q[1], 2.0, 1e-12);
    CHECK_NEAR(x->q[2], 3.0, 1e-12);
    CHECK_NEAR(x->q[3], 4.0, 1e-12);
    CHECK_NEAR(x->q[4], 9.76, 1e-12);                /* h = 3.96 → 4 + 0.96*6 */
    CHECK(x->is_integer);
    const fw_col_profile *color = &p->cols[1];
    CHECK_EQ(color->type, FW_COL_CATEGORICAL);
    CHECK_EQ(color->distinct, 3);
    CHECK_EQ(color->n_top, 3);
    CHECK_STR(color->top[0].value, "red");
    CHECK_EQ(color->top[0].count, 3);
    CHECK_STR(color->top[1].value, "blue"); /* tie with green: first appearance wins */
    CHECK_STR(color->top[2].value, "green");
    const fw_col_profile *note = &p->cols[2];
    CHECK_EQ(note->type, FW_COL_TEXT);
    CHECK_NEAR(note->avg_tokens, (3 + 4 + 3 + 5 + 3 + 3) / 6.0, 1e-12);
    const fw_col_profile *when = &p->cols[3];
    CHECK_EQ(when->type, FW_COL_TIMESTAMP);
    CHECK(when->min == 1704067200.0);
    CHECK(when->max == 1704067200.0 + 4 * 86400);
    CHECK_EQ(when->n_missing, 1);
    CHECK_STR(p->label, "label");
    CHECK_EQ(p->n_classes, 2);
    CHECK_STR(p->classes[0].value, "yes");
    CHECK_EQ(p->classes[0].count, 4);
    CHECK_EQ(p->classes[1].count, 2);
    fw_profile_free(p);
    CHECK_EQ(fw_profile_build(ds, "nope", &p, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "'nope'");
    /* Numeric label with few values gets a balance too. */
    CHECK_OK(fw_profile_build(ds, "x", &p, &err));
    CHECK_EQ(p->n_classes, 5);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

static void test_outputs(void) {
    fw_dataset *ds = load();
    if (!ds) return;
    fw_profile *p;
    fw_err err;
    CHECK_OK(fw_profile_build(ds, "label", &p, &err));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fw_profile_print(p, f);
    fclose(f);
    CHECK_CONTAINS(buf, "rows: 6");
    CHECK_CONTAINS(buf, "p50 3");
    CHECK_CONTAINS(buf, "red 3 (60.0%)");
    CHECK_CONTAINS(buf, "2024-01-01T00:00:00.000Z .. 2024-01-05T00:00:00.000Z");
    CHECK_CONTAINS(buf, "label 'label': 2 classes");
    free(buf);
    char *js = fw_profile_json(p);
    CHECK(js != NULL);
    json_error_t je;
    json_t *root = js ? json_loads(js, 0, &je) : NULL;
    CHECK(root != NULL);
    if (root) {
        json_t *c0 = json_array_get(json_object_get(root, "columns"), 0);
        CHECK_NEAR(json_real_value(json_object_get(c0, "p99")), 9.76, 1e-12);
        CHECK_EQ(json_integer_value(json_object_get(c0, "missing")), 1);
        json_t *bal = json_object_get(root, "label_balance");
        CHECK_EQ(json_array_size(bal), 2);
        CHECK_NEAR(json_real_value(json_object_get(json_array_get(bal, 0), "fraction")), 4.0 / 6.0, 1e-12);
        json_decref(root);
    }
    fw_free(js);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

static void test_all_missing_and_empty(void) {
    fw_dataset *ds = NULL;
    fw_err err;
    CHECK_OK(fw_csv_load_mem("a,b\n,\n,\n", 8, "e.csv", NULL, &ds, NULL, &err));
    if (!ds) return;
    fw_profile *p;
    CHECK_OK(fw_profile_build(ds, NULL, &p, &err));
    CHECK(isnan(p->cols[0].mean));
    CHECK_NEAR(p->cols[0].missing_rate, 1.0, 0);
    char *js = fw_profile_json(p);
    CHECK_CONTAINS(js, "\"mean\": null");
    fw_free(js);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_numbers);
    TEST_RUN(test_outputs);
    TEST_RUN(test_all_missing_and_empty);
    return fw_test_report(argv[0]);
}
