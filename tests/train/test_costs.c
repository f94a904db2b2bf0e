/* test_costs.c — what surrounds the fit in `flywheel train`, and the regression starting point:
 *   - permutation importance uses at most FW_TRAIN_IMPORTANCE_MAX_ROWS test rows (an even stride
 *     sample): the report's values are those of fw_eval_permutation_importance on that sample;
 *   - each step is timed (phase_seconds / phase_cpu_seconds), and FLYWHEEL_TIMINGS=1 prints them;
 *   - on small regression data the cross-validation folds, not one holdout of a few dozen rows,
 *     decide how long the refit runs: diabetes (442 rows) with its every fifth row as the test
 *     file is within 0.5% of scikit-learn's least squares (the holdout's early stop kept 3 L-BFGS
 *     iterations: 7% behind). */
#include "core/alloc.h"
#include "eval/importance.h"
#include "project/project.h"
#include "test.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>

/* 30,000 rows of 6 features, 2 of them informative: a 20% test split is 6,000 rows. */
static const char *write_big(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/big.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,c,d,e,g,y\n");
    unsigned s = 4242;
    for (int i = 0; i < 30000; i++) {
        double v[6];
        fw_test_uniforms(&s, v, 6);
        s = s * 1103515245u + 12345u;
        double noise = (double)((s >> 8) % 1000) / 1000.0 - 0.5;
        fprintf(f, "%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%d\n", v[0], v[1], v[2], v[3], v[4], v[5],
                v[0] + 0.5 * v[1] + noise > 0);
    }
    fclose(f);
    return path;
}

static void test_importance_on_a_stride_sample(void) {
    const char *path = write_big();
    fw_project p;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_from_args(path, "y", &p, &err));
    fw_train_options o;
    fw_train_options_init(&o);
    o.families = "gbdt";
    const char *params[] = {"gbdt.n_estimators=20", "gbdt.early_stopping_rounds=0"};
    o.params = params;
    o.n_params = 2;
    o.threads = 2;
    fw_train_result r;
    fw_status st = fw_train_run(&p, &o, &r, &err);
    CHECK_MSG(st == FW_OK, "train: %s", err.msg);
    fw_project_free(&p);
    if (st) return;
    CHECK(r.n_test > FW_TRAIN_IMPORTANCE_MAX_ROWS);
    const fw_candidate *c = &r.cands[1];
    CHECK(c->importance != NULL);
    /* the same sample and options by hand */
    size_t rows = FW_TRAIN_IMPORTANCE_MAX_ROWS;
    uint32_t *pick = malloc(rows * sizeof *pick);
    double *ys = malloc(rows * sizeof *ys);
    for (size_t i = 0; i < rows; i++) {
        pick[i] = (uint32_t)((i * r.n_test) / rows);
        ys[i] = r.y_test[pick[i]];
    }
    fw_matrix Xs;
    CHECK_OK(fw_matrix_select(&r.X_test, pick, rows, &Xs));
    fw_importance imp;
    fw_importance_options io;
    fw_importance_options_init(&io);
    io.seed = r.seed;
    io.n_repeats = 3;
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = r.project.metric;
    CHECK_OK(fw_eval_permutation_importance(r.target.task, &Xs, ys, 1, &eo, fw_eval_predict_model,
                                            c->model, &io, &imp, &err));
    for (size_t j = 0; c->importance && j < imp.n; j++)
        CHECK_MSG(c->importance[j] == imp.mean[j], "feature %zu: %.17g vs %.17g", j, c->importance[j], imp.mean[j]);
    CHECK(imp.n == r.X_test.n_dense && c->importance && c->importance[0] > c->importance[2]);
    fw_importance_free(&imp);
    fw_matrix_free(&Xs);
    free(pick);
    free(ys);
    /* the steps are timed */
    double sum = 0;
    for (int ph = 0; ph < FW_TRAIN_N_PHASES; ph++) {
        CHECK_MSG(r.phase_seconds[ph] >= -1e-9 && r.phase_cpu_seconds[ph] >= -1e-3, "%s: %g / %g",
                  fw_train_phase_name(ph), r.phase_seconds[ph], r.phase_cpu_seconds[ph]);
        sum += r.phase_seconds[ph];
    }
    CHECK(r.phase_seconds[FW_TRAIN_PHASE_LOAD] > 0 && r.phase_seconds[FW_TRAIN_PHASE_FIT] > 0);
    CHECK(r.phase_cpu_seconds[FW_TRAIN_PHASE_FIT] > 0 && r.phase_seconds[FW_TRAIN_PHASE_IMPORTANCE] > 0);
    CHECK_MSG(sum <= r.total_seconds + 1e-3, "phases %g > total %g", sum, r.total_seconds);
    CHECK_STR(fw_train_phase_name(FW_TRAIN_PHASE_IMPORTANCE), "importance");
    fw_train_result_free(&r);
}

static void test_timings_printed(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "FLYWHEEL_TIMINGS=1 \"$FW\" train examples/pima/flywheel.yaml --home \"$T/h\" "
                            "--no-register --quiet --models linear >/dev/null"),
             0);
    CHECK_CONTAINS(o, "flywheel timings (wall/cpu s): load=");
    CHECK_CONTAINS(o, " fit=");
    CHECK_CONTAINS(o, " importance=");
    CHECK_CONTAINS(o, " report+register=");
    free(o);
    o = NULL; /* and not without the variable */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train examples/pima/flywheel.yaml --home \"$T/h\" --no-register --quiet "
                            "--models linear >/dev/null"),
             0);
    CHECK(o && !strstr(o, "timings"));
    free(o);
}

/* sklearn 1.2 on the same files (fit on train.csv, RMSE on test.csv):
 *   LinearRegression 48.7717, Ridge(alpha=1, standardized) 48.7809, HistGradientBoosting 51.9425
 * (python3: StandardScaler().fit(Xtr); LinearRegression().fit(...); sqrt(mean((p - y)^2))). */
static void test_diabetes_regression(void) {
    const char *src = fw_test_shared("diabetes.csv");
    if (!src) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "awk -F, 'NR==1{print > \"'\"$T\"'/dtrain.csv\"; print > \"'\"$T\"'/dtest.csv\"; next} "
                            "NR%%5==0{print > \"'\"$T\"'/dtest.csv\"; next} {print > \"'\"$T\"'/dtrain.csv\"}' %s && "
                            "\"$FW\" train \"$T/dtrain.csv\" --label target --test \"$T/dtest.csv\" --home \"$T/h\" "
                            "--no-register --quiet --models linear,gbdt",
                            src),
             0);
    const char *best = o ? strstr(o, "best: ") : NULL;
    CHECK(best != NULL);
    /* the chosen model's row: "  NAME *  FAMILY  RMSE ..." */
    const char *star = o ? strstr(o, " * ") : NULL;
    double rmse = 1e9;
    char fam[32];
    if (star) CHECK_EQ(sscanf(star + 3, "%31s %lf", fam, &rmse), 2);
    CHECK_MSG(rmse <= 48.7717 * 1.005, "chosen model's RMSE %g > 0.5%% over least squares' 48.7717:\n%s", rmse, o);
    free(o);
}

int main(void) {
    TEST_RUN(test_importance_on_a_stride_sample);
    TEST_RUN(test_timings_printed);
    TEST_RUN(test_diabetes_regression);
    return fw_test_report("test_costs");
}
