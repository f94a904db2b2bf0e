/* test_target.c — tests for src/features/target.c: class names and order per task, the positive
 * class, encoding (unseen classes, missing labels), multilabel, regression checks, save/load and
 * load of corrupt bytes. */
#include "core/alloc.h"
#include "core/buf.h"
#include "features/target.h"
#include "test.h"

static fw_dataset *make_ds(void) {
    const char *names[] = {"s", "n", "m", "r", "l1", "l2"};
    fw_col_type types[] = {FW_COL_CATEGORICAL, FW_COL_NUMERIC, FW_COL_CATEGORICAL, FW_COL_NUMERIC,
                           FW_COL_NUMERIC, FW_COL_CATEGORICAL};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(6, names, types, &ds));
    if (!ds) return NULL;
    static const char *s[] = {"spam", "ham", "ham", "spam", "ham", "eggs"};
    static const double n[] = {0, 1, 1, 0, 1, 2};
    static const char *m[] = {"10", "9", "100", "9", "10", "2"};
    static const char *l2[] = {"yes", "no", "No", "TRUE", "0", "1"};
    for (size_t r = 0; r < 6; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        CHECK_OK(fw_dataset_set_str(ds, 0, r, s[r], strlen(s[r])));
        fw_dataset_set_num(ds, 1, r, n[r]);
        CHECK_OK(fw_dataset_set_str(ds, 2, r, m[r], strlen(m[r])));
        fw_dataset_set_num(ds, 3, r, 0.5 * (double)r);
        fw_dataset_set_num(ds, 4, r, (double)(r % 2) * 3.0);
        CHECK_OK(fw_dataset_set_str(ds, 5, r, l2[r], strlen(l2[r])));
    }
    return ds;
}

static void setup(fw_project *p, fw_task task, const char *label, const char *positive) {
    fw_project_init(p);
    p->task = task;
    p->task_set = true;
    p->label_columns = fw_calloc(1, sizeof(char *));
    p->label_columns[0] = fw_strdup(label);
    p->n_label_columns = 1;
    if (positive) p->positive_value = fw_strdup(positive);
}

static const uint32_t k_train[] = {0, 1, 2, 3, 4}; /* row 5 ("eggs", 2) is a test row */

static void test_binary(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_target t;
    fw_err err;
    setup(&p, FW_TASK_BINARY, "s", "spam");
    CHECK_OK(fw_target_fit(&p, ds, k_train, 5, &t, &err));
    CHECK_EQ(t.n_classes, 2);
    CHECK_EQ(t.n_outputs, 1);
    CHECK_STR(t.class_names[0], "ham");
    CHECK_STR(t.class_names[1], "spam"); /* index 1 is the positive */
    double y[6];
    size_t unseen = 9;
    CHECK_OK(fw_target_encode(&t, ds, NULL, 6, y, &unseen, &err));
    CHECK(y[0] == 1 && y[1] == 0 && y[3] == 1 && y[5] == -1);
    CHECK_EQ(unseen, 1);
    fw_target_free(&t);
    fw_project_free(&p);
    /* positive "ham" swaps the order; numeric positive compared by value */
    setup(&p, FW_TASK_BINARY, "s", "ham");
    CHECK_OK(fw_target_fit(&p, ds, k_train, 5, &t, &err));
    CHECK_STR(t.class_names[1], "ham");
    fw_target_free(&t);
    fw_project_free(&p);
    setup(&p, FW_TASK_BINARY, "n", "0.0");
    CHECK_OK(fw_target_fit(&p, ds, k_train, 5, &t, &err));
    CHECK_STR(t.class_names[0], "1");
    CHECK_STR(t.class_names[1], "0");
    fw_target_free(&t);
    fw_project_free(&p);
    setup(&p, FW_TASK_BINARY, "s", "eggs");
    CHECK_EQ(fw_target_fit(&p, ds, k_train, 5, &t, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "positive value 'eggs' does not occur in label 's'");
    fw_project_free(&p);
    /* three values in the training rows is not binary */
    setup(&p, FW_TASK_BINARY, "s", NULL);
    CHECK_EQ(fw_target_fit(&p, ds, NULL, 6, &t, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "takes 3 distinct values");
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_multiclass_order_and_missing(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_target t;
    fw_err err;
    /* strings that are all numbers sort by value: 2 < 9 < 10 < 100 */
    setup(&p, FW_TASK_MULTICLASS, "m", NULL);
    CHECK_OK(fw_target_fit(&p, ds, NULL, 6, &t, &err));
    CHECK_EQ(t.n_classes, 4);
    CHECK_EQ(t.n_outputs, 4);
    CHECK_STR(t.class_names[0], "2");
    CHECK_STR(t.class_names[1], "9");
    CHECK_STR(t.class_names[2], "10");
    CHECK_STR(t.class_names[3], "100");
    double y[6];
    CHECK_OK(fw_target_encode(&t, ds, NULL, 6, y, NULL, &err));
    CHECK(y[0] == 2 && y[1] == 1 && y[2] == 3 && y[5] == 0);
    fw_target_free(&t);
    fw_project_free(&p);
    /* strings sort by strcmp */
    setup(&p, FW_TASK_MULTICLASS, "s", NULL);
    CHECK_OK(fw_target_fit(&p, ds, NULL, 6, &t, &err));
    CHECK_STR(t.class_names[0], "eggs");
    CHECK_STR(t.class_names[2], "spam");
    /* a missing label is an error naming the row */
    ds->cols[0].code[4] = -1;
    CHECK_EQ(fw_target_encode(&t, ds, NULL, 6, y, NULL, &err), FW_EDATA);
    CHECK_STR(err.msg, "row 5: label 's' is missing");
    fw_target_free(&t);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_regression_multilabel(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_target t;
    fw_err err;
    setup(&p, FW_TASK_REGRESSION, "r", NULL);
    CHECK_OK(fw_target_fit(&p, ds, k_train, 5, &t, &err));
    double y[12];
    CHECK_OK(fw_target_encode(&t, ds, NULL, 6, y, NULL, &err));
    CHECK(y[3] == 1.5 && t.n_classes == 0 && t.n_outputs == 1);
    fw_target_free(&t);
    fw_project_free(&p);
    setup(&p, FW_TASK_REGRESSION, "s", NULL);
    CHECK_EQ(fw_target_fit(&p, ds, k_train, 5, &t, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "needs a numeric label, but column 's' is categorical");
    fw_project_free(&p);
    setup(&p, FW_TASK_MULTILABEL, "l1", NULL);
    p.label_columns = fw_realloc(p.label_columns, 2 * sizeof(char *));
    p.label_columns[1] = fw_strdup("l2");
    p.n_label_columns = 2;
    CHECK_OK(fw_target_fit(&p, ds, k_train, 5, &t, &err));
    CHECK_EQ(t.n_outputs, 2);
    CHECK_STR(t.class_names[1], "l2");
    CHECK_OK(fw_target_encode(&t, ds, NULL, 6, y, NULL, &err));
    static const double want[12] = {0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1};
    for (int i = 0; i < 12; i++) CHECK_MSG(y[i] == want[i], "y[%d] = %g, want %g", i, y[i], want[i]);
    /* save → load gives the same fields; truncated/corrupt bytes are refused */
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_target_save(&t, &b));
    fw_reader r;
    fw_reader_init(&r, b.data, b.len);
    fw_target t2;
    CHECK_OK(fw_target_load(&r, &t2));
    CHECK(t2.task == FW_TASK_MULTILABEL && t2.n_outputs == 2 && t2.n_label_columns == 2);
    CHECK_STR(t2.label_columns[0], "l1");
    fw_target_free(&t2);
    for (size_t cut = 0; cut < b.len; cut++) {
        fw_reader_init(&r, b.data, cut);
        CHECK(fw_target_load(&r, &t2) != FW_OK);
    }
    b.data[4] = 9; /* task out of range */
    fw_reader_init(&r, b.data, b.len);
    CHECK_EQ(fw_target_load(&r, &t2), FW_ECORRUPT);
    fw_buf_free(&b);
    fw_target_free(&t);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_binary);
    TEST_RUN(test_multiclass_order_and_missing);
    TEST_RUN(test_regression_multilabel);
    return fw_test_report(argv[0]);
}
