/* importance.h — owns model-agnostic permutation importance: for each dense feature column,
 * shuffle it (seeded rng, n_repeats times), re-predict through a caller's callback and record the
 * drop in the primary metric (signed so positive = the model got worse without the feature).
 * Deterministic: the same seed, data and model give the same numbers; column j's shuffles depend
 * only on (seed, j, repeat), not on the other columns. Sparse features are left untouched. */
#ifndef FW_EVAL_IMPORTANCE_H
#define FW_EVAL_IMPORTANCE_H

#include "eval/metrics.h"
#include "features/matrix.h"

/* Predicts every row of X into out (n_rows x n_outputs, row-major). Return FW_OK or an error
 * with err set. */
typedef fw_status (*fw_predict_matrix_fn)(void *ud, const fw_matrix *X, double *out, fw_err *err);

struct fw_col_scorer;
typedef struct fw_importance_options {
    size_t n_repeats;   /* default 5 */
    uint64_t seed;      /* default 42 */
    /* Optional (NULL): scores the permuted copies instead of the callback — made over the same X
     * (models/model.h fw_model_col_scorer), it gives the callback's predictions bit for bit, so
     * the importances are the same, only sooner. */
    struct fw_col_scorer *col_scorer;
    /* With a column scorer: features spread over this many threads (default 1); the numbers do
     * not depend on it. The callback is always called from one thread. */
    int threads;
} fw_importance_options;
void fw_importance_options_init(fw_importance_options *o);

typedef struct fw_importance {
    char metric[FW_METRIC_NAME_MAX];
    double base_score;  /* primary metric on the unpermuted data */
    size_t n;           /* = X->n_dense */
    double *mean;       /* mean drop per feature (positive = important) */
    double *std;        /* population standard deviation over repeats */
} fw_importance;

/* Computes permutation importance for X's dense columns. y and eval options as for
 * fw_eval_compute (the primary metric is eval_opt->primary or the task default). The callback
 * is called 1 + n_dense * n_repeats times with a private copy of X. Free with
 * fw_importance_free (safe after an error). Not thread-safe with respect to `ud`. */
fw_status fw_eval_permutation_importance(fw_task task, const fw_matrix *X, const double *y,
                                         size_t n_outputs, const fw_eval_options *eval_opt,
                                         fw_predict_matrix_fn predict, void *ud,
                                         const fw_importance_options *opt, fw_importance *out,
                                         fw_err *err);
void fw_importance_free(fw_importance *imp);

/* Adapter: ud is a const fw_model *; predicts with fw_model_predict_block (all cores). */
fw_status fw_eval_predict_model(void *ud, const fw_matrix *X, double *out, fw_err *err);

#endif
