/* ranking.c — owns the query ids of a ranking run: read once from the project's query column for
 * the training file (and the test file when there is one), then gathered per side (training,
 * validation, test) so fits, early stopping, selection and evaluation score queries, never rows. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "data/query.h"

#include <string.h>

static uint32_t *gather(const uint32_t *all, const uint32_t *rows, size_t n) {
    uint32_t *q = fw_malloc((n ? n : 1) * sizeof *q);
    if (q)
        for (size_t i = 0; i < n; i++) q[i] = all[rows[i]];
    return q;
}

fw_status fw__train_prepare_queries(fw_train_result *r, fw_err *err) {
    if (r->target.task != FW_TASK_RANKING) return FW_OK;
    const char *col = r->project.query_column;
    if (!col) return fw_err_set(err, FW_ECONFIG, "a ranking task needs a query column (data.query)");
    uint32_t n_q = 0;
    fw_status st;
    r->q_all = fw_malloc((r->train_ds->n_rows ? r->train_ds->n_rows : 1) * sizeof(uint32_t));
    if (!r->q_all) return fw_err_set(err, FW_ENOMEM, "out of memory");
    if ((st = fw_query_ids(r->train_ds, col, r->q_all, &n_q, err))) return st;
    r->q_train = gather(r->q_all, r->split.train, r->split.n_train);
    r->q_valid = gather(r->q_all, r->split.valid, r->split.n_valid);
    if (!r->q_train || !r->q_valid) return fw_err_set(err, FW_ENOMEM, "out of memory");
    if (r->eval_ds == r->train_ds) {
        r->q_test = gather(r->q_all, r->test_rows, r->n_test);
        if (!r->q_test) return fw_err_set(err, FW_ENOMEM, "out of memory");
        return FW_OK;
    }
    uint32_t *q_eval = fw_malloc((r->eval_ds->n_rows ? r->eval_ds->n_rows : 1) * sizeof(uint32_t));
    if (!q_eval) return fw_err_set(err, FW_ENOMEM, "out of memory");
    st = fw_query_ids(r->eval_ds, col, q_eval, &n_q, err);
    if (!st) {
        r->q_test = gather(q_eval, r->test_rows, r->n_test);
        if (!r->q_test) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_free(q_eval);
    return st;
}

void fw__train_free_queries(fw_train_result *r) {
    fw_free(r->q_all);
    fw_free(r->q_train);
    fw_free(r->q_valid);
    fw_free(r->q_test);
    r->q_all = r->q_train = r->q_valid = r->q_test = NULL;
}
