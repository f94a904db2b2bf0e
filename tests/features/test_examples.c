/* test_examples.c — end to end over the checked-in examples: load the project file, read the CSV
 * (src/data), resolve, fit the target and the pipeline on the first 75% of rows and transform all
 * rows; checks shapes, missing indicators against the known missing counts, that no NaN reaches
 * the dense block under the default imputation, and that high-cardinality "town" is hashed. */
#include "core/alloc.h"
#include "data/load.h"
#include "features/pipeline.h"
#include "features/target.h"
#include "project/project.h"
#include "test.h"

#include <math.h>

static void run(const char *project_path, fw_project *p, fw_dataset **ds, fw_pipeline **pl,
                fw_matrix *m, fw_target *t) {
    fw_err err;
    fw_err_clear(&err);
    *ds = NULL;
    *pl = NULL;
    CHECK_OK(fw_project_load(project_path, p, &err));
    CHECK_OK(fw_data_load(p->train_path, NULL, ds, NULL, &err));
    CHECK_MSG(!err.msg[0], "%s", err.msg);
    if (!*ds) return;
    CHECK_OK(fw_project_resolve(p, *ds, &err));
    CHECK_MSG(!err.msg[0], "%s", err.msg);
    size_t n_train = (*ds)->n_rows * 3 / 4;
    uint32_t *rows = fw_malloc(n_train * sizeof(uint32_t));
    for (size_t i = 0; i < n_train; i++) rows[i] = (uint32_t)i;
    CHECK_OK(fw_target_fit(p, *ds, rows, n_train, t, &err));
    CHECK_OK(fw_pipeline_fit(p, *ds, rows, n_train, pl, &err));
    CHECK_MSG(!err.msg[0], "%s", err.msg);
    if (*pl) CHECK_OK(fw_pipeline_transform_block(*pl, *ds, NULL, 0, 2, m, &err));
    fw_free(rows);
}

static void test_pima(void) {
    fw_project p;
    fw_dataset *ds;
    fw_pipeline *pl;
    fw_matrix m;
    fw_target t;
    memset(&m, 0, sizeof m);
    run("examples/pima/flywheel.yaml", &p, &ds, &pl, &m, &t);
    if (!pl) goto done;
    CHECK_EQ(m.n_rows, 768);
    CHECK_STR(t.class_names[1], "pos");
    /* 8 numeric inputs + 2 missing indicators, nothing hashed */
    CHECK_EQ(fw_pipeline_n_dense(pl), 10);
    CHECK_EQ(fw_pipeline_sparse_dim(pl), 0);
    int ins = -1;
    for (size_t j = 0; j < m.n_dense; j++)
        if (!strcmp(fw_pipeline_dense_name(pl, j), "insulin_missing")) ins = (int)j;
    CHECK(ins >= 0);
    size_t missing = 0, nans = 0;
    for (size_t r = 0; r < m.n_rows; r++) {
        if (ins >= 0) missing += m.dense[r * m.n_dense + (size_t)ins] == 1.0f;
        for (size_t j = 0; j < m.n_dense; j++) nans += isnan(m.dense[r * m.n_dense + j]);
    }
    CHECK_EQ(missing, 374); /* examples/README.md */
    CHECK_EQ(nans, 0);
done:
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_target_free(&t);
    fw_dataset_free(ds);
    fw_project_free(&p);
}

static void test_boston(void) {
    fw_project p;
    fw_dataset *ds;
    fw_pipeline *pl;
    fw_matrix m;
    fw_target t;
    memset(&m, 0, sizeof m);
    run("examples/boston/flywheel.yaml", &p, &ds, &pl, &m, &t);
    if (!pl) goto done;
    CHECK(p.task == FW_TASK_REGRESSION);
    CHECK_EQ(m.n_rows, 506);
    CHECK_EQ(fw_pipeline_sparse_dim(pl), 1u << 18); /* town: 92 levels > 64 → hashed */
    CHECK_EQ(m.indptr[m.n_rows], 506);               /* one town entry per row */
    for (size_t j = 0; j < m.n_dense; j++) {
        CHECK(strcmp(fw_pipeline_dense_name(pl, j), "medv") != 0); /* excluded */
        CHECK(strcmp(fw_pipeline_dense_name(pl, j), "tract") != 0); /* the id */
    }
done:
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_target_free(&t);
    fw_dataset_free(ds);
    fw_project_free(&p);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_pima);
    TEST_RUN(test_boston);
    return fw_test_report(argv[0]);
}
