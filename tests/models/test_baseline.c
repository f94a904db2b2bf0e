/* test_baseline.c — tests for the baseline family (src/models/baseline.c) and rule baselines
 * (src/models/rule.c): fitted constants per task and kind, explain/save/load, bad input, rule
 * parsing with positions, binding, evaluation, the else default and serialization. */
#include "core/alloc.h"
#include "models/model.h"
#include "models/rule.h"
#include "test.h"

extern const fw_model_vtable fw_baseline_vtable;

static fw_model *fit(fw_task task, size_t no, const double *y, const double *w, size_t n,
                     const char *param, fw_err *err) {
    fw_matrix X;
    CHECK_OK(fw_matrix_alloc(&X, n, 2, 0));
    fw_train_data d = {.X = &X, .y = y, .weight = w, .task = task, .n_outputs = no,
                       .n_classes = task == FW_TASK_MULTICLASS ? no : task == FW_TASK_BINARY ? 2 : 0};
    fw_fit_options o;
    fw_fit_options_init(&o);
    const char *ps[1] = {param};
    o.params = ps;
    o.n_params = param ? 1 : 0;
    fw_model *m = NULL;
    fw_err_clear(err);
    fw_baseline_vtable.fit(&d, &o, &m, err);
    fw_matrix_free(&X);
    return m;
}

static void predict1(const fw_model *m, double *out) {
    float dense[2] = {0, 0};
    fw_row r = {dense, NULL, NULL, 0};
    CHECK_OK(fw_model_predict_row(m, &r, NULL, out));
}

static void test_binary_prior_majority(void) {
    double y[10] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    fw_err err;
    fw_model *m = fit(FW_TASK_BINARY, 1, y, NULL, 10, NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    double p;
    predict1(m, &p);
    CHECK_NEAR(p, 0.3, 1e-15);
    double c[3];
    float dense[2] = {5, 6};
    fw_row r = {dense, NULL, NULL, 0};
    CHECK_OK(m->vt->explain_row(m, &r, NULL, c));
    CHECK(c[0] == 0 && c[1] == 0);
    CHECK_NEAR(c[2], log(0.3 / 0.7), 1e-12);
    fw_model_free(m);
    m = fit(FW_TASK_BINARY, 1, y, NULL, 10, "kind=majority", &err);
    predict1(m, &p);
    CHECK(p == 0.0);
    fw_model_free(m);
    /* weights: positives weighted 3 → 9 / 16 */
    double w[10];
    for (int i = 0; i < 10; i++) w[i] = y[i] ? 3 : 1;
    m = fit(FW_TASK_BINARY, 1, y, w, 10, "kind=prior", &err);
    predict1(m, &p);
    CHECK_NEAR(p, 9.0 / 16.0, 1e-15);
    fw_model_free(m);
}

static void test_multiclass_multilabel(void) {
    double y[8] = {0, 2, 2, 1, 2, 0, 2, 2};
    fw_err err;
    fw_model *m = fit(FW_TASK_MULTICLASS, 3, y, NULL, 8, NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    double p[3];
    predict1(m, p);
    CHECK_NEAR(p[0], 0.25, 1e-15);
    CHECK_NEAR(p[1], 0.125, 1e-15);
    CHECK_NEAR(p[2], 0.625, 1e-15);
    fw_model_free(m);
    m = fit(FW_TASK_MULTICLASS, 3, y, NULL, 8, "kind=majority", &err);
    predict1(m, p);
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 1);
    fw_model_free(m);
    double yl[8] = {1, 0, 1, 1, 0, 1, 1, 0}; /* 4 rows x 2 labels */
    m = fit(FW_TASK_MULTILABEL, 2, yl, NULL, 4, NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    predict1(m, p);
    CHECK_NEAR(p[0], 0.75, 1e-15);
    CHECK_NEAR(p[1], 0.5, 1e-15);
    fw_model_free(m);
}

static void test_regression_and_save(void) {
    double y[5] = {1, 2, 100, 4, 3};
    fw_err err;
    fw_model *m = fit(FW_TASK_REGRESSION, 1, y, NULL, 5, NULL, &err);
    double p;
    predict1(m, &p);
    CHECK_NEAR(p, 22.0, 1e-12);
    fw_model_free(m);
    m = fit(FW_TASK_REGRESSION, 1, y, NULL, 5, "kind=median", &err);
    predict1(m, &p);
    CHECK(p == 3.0);
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_model_save(m, &b));
    fw_model *l = NULL;
    CHECK_OK(fw_model_load(b.data, b.len, &l, &err));
    if (l) {
        double q;
        predict1(l, &q);
        CHECK(q == 3.0);
        fw_matrix X;
        fw_matrix_alloc(&X, 3, 2, 0);
        double out[3];
        CHECK_OK(fw_model_predict_block(l, &X, 1, out));
        CHECK(out[0] == 3 && out[2] == 3);
        fw_matrix_free(&X);
        fw_model_free(l);
    }
    for (size_t cut = 0; cut < b.len; cut++) {
        fw_model *bad = NULL;
        CHECK(fw_model_load(b.data, cut, &bad, &err) < 0 && !bad);
    }
    fw_buf_free(&b);
    fw_model_free(m);
}

static void test_bad_input(void) {
    double y[4] = {0, 1, NAN, 1};
    fw_err err;
    CHECK(fit(FW_TASK_BINARY, 1, y, NULL, 4, NULL, &err) == NULL);
    CHECK_CONTAINS(err.msg, "row 2");
    y[2] = 0;
    CHECK(fit(FW_TASK_BINARY, 1, y, NULL, 4, "kind=mean", &err) == NULL);
    CHECK_CONTAINS(err.msg, "does not apply");
    CHECK(fit(FW_TASK_REGRESSION, 1, y, NULL, 4, "kind=prior", &err) == NULL);
    CHECK(fit(FW_TASK_BINARY, 1, y, NULL, 4, "kind=mode", &err) == NULL);
    CHECK_CONTAINS(err.msg, "prior|majority|mean|median");
    CHECK(fit(FW_TASK_BINARY, 1, y, NULL, 4, "k=3", &err) == NULL);
    CHECK_CONTAINS(err.msg, "unknown parameter 'k'");
}

static fw_value num(double v) { return (fw_value){FW_VALUE_NUMBER, v, NULL, 0}; }
static fw_value str(const char *s) { return (fw_value){FW_VALUE_STRING, 0, s, strlen(s)}; }

static void test_rule_parse_errors(void) {
    fw_baseline_rule r;
    fw_err err;
    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"calls >= -> yes", "column 10: expected a value"},
        {"calls ~ 4 -> yes", "column 7: expected an operator"},
        {"calls >= 4 yes", "column 12: expected 'and' or '->'"},
        {"calls >= 4 -> ", "column 15: expected a value"},
        {"calls >= 4 -> yes extra", "column 19: expected the end"},
        {"plan < 'basic' -> yes", "column 8: a string value needs == or !="},
        {"4 > calls -> yes", "column 1: expected a column name"},
        {"calls >= 4x -> yes", "column 10: expected a number"},
        {"\"calls >= 4 -> yes", "unterminated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fw_err_clear(&err);
        CHECK_EQ(fw_baseline_rule_parse(bad[i].text, &r, &err), FW_EPARSE);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        fw_baseline_rule_free(&r);
    }
    CHECK_OK(fw_baseline_rule_parse("age<30 and plan=='basic' and `odd col`!=x -> 0.2 else 0.05", &r, &err));
    CHECK_EQ(r.n_conds, 3);
    CHECK_STR(r.conds[2].column, "odd col");
    CHECK_EQ(r.conds[0].op, FW_BRULE_LT);
    CHECK(r.then_v.is_num && r.then_v.num == 0.2 && r.else_v.present && r.else_v.num == 0.05);
    fw_baseline_rule_free(&r);
}

static void test_rule_eval_and_fit(void) {
    const char *inputs[] = {"age", "calls", "plan"};
    const char *classes[] = {"no", "yes"};
    fw_baseline_rule r;
    fw_err err;
    CHECK_OK(fw_baseline_rule_parse("calls >= 4 -> yes", &r, &err));
    CHECK_OK(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_BINARY, classes, 2, &err));
    CHECK_EQ(r.conds[0].input, 1);
    /* 6 rows: fires on rows 0, 1; the other 4 have 1 positive → else = 0.25 */
    fw_value rows[6][3] = {
        {num(30), num(5), str("a")}, {num(40), num(4), str("b")}, {num(20), num(3.9), str("a")},
        {num(50), str("1"), str("b")}, {num(60), (fw_value){0}, str("a")}, {num(70), str("x"), str("a")}};
    double y[6] = {1, 0, 1, 0, 0, 0};
    CHECK_OK(fw_baseline_rule_fit(&r, &rows[0][0], 3, y, 6, &err));
    double p;
    fw_baseline_rule_eval(&r, rows[0], &p);
    CHECK_NEAR(p, 0.999, 1e-12);
    fw_baseline_rule_eval(&r, rows[2], &p);
    CHECK_NEAR(p, 0.25, 1e-12);
    CHECK(!fw_baseline_rule_test(&r, rows[4])); /* missing never fires */
    fw_value s = str("4.5");
    fw_value rec[3] = {num(1), s, str("a")};
    CHECK(fw_baseline_rule_test(&r, rec)); /* numeric string compares as a number */
    /* save / load round trip */
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_baseline_rule_save(&r, &b));
    fw_reader rd;
    fw_reader_init(&rd, b.data, b.len);
    fw_baseline_rule l;
    CHECK_OK(fw_baseline_rule_load(&rd, &l, &err));
    double q;
    fw_baseline_rule_eval(&l, rows[2], &q);
    CHECK(q == 0.25);
    fw_baseline_rule_free(&l);
    for (size_t cut = 0; cut + 1 < b.len; cut += 2) {
        fw_reader_init(&rd, b.data, cut);
        CHECK(fw_baseline_rule_load(&rd, &l, &err) < 0);
        fw_baseline_rule_free(&l);
    }
    fw_buf_free(&b);
    fw_baseline_rule_free(&r);
    /* unknown column / class with positions */
    CHECK_OK(fw_baseline_rule_parse("age < 30 and minutes > 2 -> yes", &r, &err));
    CHECK_EQ(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_BINARY, classes, 2, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "column 14: unknown input column 'minutes'");
    fw_baseline_rule_free(&r);
    CHECK_OK(fw_baseline_rule_parse("age < 30 -> maybe", &r, &err));
    CHECK_EQ(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_BINARY, classes, 2, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "unknown class 'maybe'");
    fw_baseline_rule_free(&r);
    /* regression: number when true, mean of the others otherwise; and-conditions, strings */
    CHECK_OK(fw_baseline_rule_parse("age < 30 and plan == a -> 0.2", &r, &err));
    CHECK_OK(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_REGRESSION, NULL, 0, &err));
    double yr[6] = {10, 20, 30, 40, 50, 60};
    CHECK_OK(fw_baseline_rule_fit(&r, &rows[0][0], 3, yr, 6, &err)); /* fires on row 2 only */
    fw_baseline_rule_eval(&r, rows[2], &q);
    CHECK(q == 0.2);
    fw_baseline_rule_eval(&r, rows[0], &q);
    CHECK_NEAR(q, (10 + 20 + 40 + 50 + 60) / 5.0, 1e-12);
    fw_baseline_rule_free(&r);
    /* multiclass label → one-hot-ish; multilabel unsupported */
    const char *three[] = {"a", "b", "c"};
    CHECK_OK(fw_baseline_rule_parse("plan != 'a' -> c else a", &r, &err));
    CHECK_OK(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_MULTICLASS, three, 3, &err));
    double pm[3];
    fw_baseline_rule_eval(&r, rows[1], pm);
    CHECK_NEAR(pm[2], 0.999, 1e-12);
    CHECK_NEAR(pm[0] + pm[1] + pm[2], 1, 1e-12);
    fw_baseline_rule_eval(&r, rows[0], pm);
    CHECK_NEAR(pm[0], 0.999, 1e-12);
    CHECK_EQ(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_MULTILABEL, three, 3, &err), FW_EUNSUPPORTED);
    fw_baseline_rule_free(&r);
    const char *digits[] = {"0", "1", "2"};
    CHECK_OK(fw_baseline_rule_parse("age < 30 -> 2 else 1", &r, &err));
    CHECK_OK(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_MULTICLASS, digits, 3, &err));
    fw_baseline_rule_eval(&r, rows[0], pm); /* age 30: else → class "1" */
    CHECK_NEAR(pm[1], 0.999, 1e-12);
    fw_baseline_rule_free(&r);
    CHECK_OK(fw_baseline_rule_parse("age < 30 -> 1", &r, &err));
    CHECK_OK(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_BINARY, digits, 2, &err));
    CHECK_NEAR(r.out_true[0], 0.999, 1e-12);
    fw_baseline_rule_free(&r);
    CHECK_OK(fw_baseline_rule_parse("age < 30 -> 1.5", &r, &err));
    CHECK_EQ(fw_baseline_rule_bind(&r, inputs, 3, FW_TASK_BINARY, classes, 2, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "probability");
    fw_baseline_rule_free(&r);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_binary_prior_majority);
    TEST_RUN(test_multiclass_multilabel);
    TEST_RUN(test_regression_and_save);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_rule_parse_errors);
    TEST_RUN(test_rule_eval_and_fit);
    return fw_test_report(argv[0]);
}
