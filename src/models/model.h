/* model.h — owns the model interface every family implements (baseline, linear, gbdt, knn,
 * hierarchical) and that the trainer, evaluator, artifact, server and batch scorer use.
 *
 * Outputs per row (n_outputs doubles):
 *   binary:      1 value, P(positive class)
 *   multiclass:  n_classes probabilities summing to 1
 *   multilabel:  n_labels independent probabilities
 *   regression:  1 value; ranking: 1 score (higher = better)
 *
 * A fitted or loaded model is immutable and may be shared by any number of threads; each thread
 * brings its own scratch (fw_model_scratch_size bytes, caller-allocated, 16-byte aligned).
 * predict_row never allocates and never locks. */
#ifndef FW_MODELS_MODEL_H
#define FW_MODELS_MODEL_H

#include "core/buf.h"
#include "features/matrix.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_model fw_model;

#define FW_REFIT_PARAM_LEN 64

/* Training inputs shared by every family. */
typedef struct fw_train_data {
    const fw_matrix *X;          /* training features */
    const double *y;             /* encoded labels (see features/target.h) */
    const double *weight;        /* per-row sample weights, or NULL for 1 */
    const fw_matrix *X_valid;    /* optional validation set (early stopping), may be NULL */
    const double *y_valid;
    const double *weight_valid;  /* per-row weights of the validation rows (their loss is weighted
                                    as the training loss is), or NULL for 1 */
    fw_task task;
    size_t n_outputs;            /* 1, n_classes or n_labels */
    size_t n_classes;            /* classification, else 0 */
    const uint32_t *query;       /* ranking: query id per training row (NULL otherwise) */
    const uint32_t *query_valid; /* ranking: query id per validation row (with X_valid) */
} fw_train_data;

/* Progress callback: one call per iteration (tree, epoch, ...). valid_loss is NaN when there is no
 * validation set. Return non-zero to stop early (time budget). */
typedef int (*fw_progress_fn)(void *ud, const char *family, int iter, int n_iter,
                              double train_loss, double valid_loss);

/* Common fit options; family-specific hyperparameters are given as "key=value" strings so the
 * CLI (--param gbdt.max_depth=6), the project file and the random search share one path. */
typedef struct fw_fit_options {
    uint64_t seed;
    int threads;                 /* 0 = all cores */
    const char *const *params;   /* "key=value" (without the family prefix) */
    size_t n_params;
    fw_progress_fn progress;
    void *progress_ud;
    double time_budget_s;        /* 0 = none */
    /* gbdt: every checkpoint_every rounds the trees so far go to a file in checkpoint_dir (named by
     * a hash of the data and parameters); a fit that finds its file there resumes from it and ends
     * with the same model, byte for byte (gbdt_checkpoint.c). NULL / 0 = none. */
    const char *checkpoint_dir;
    uint32_t checkpoint_every;
} fw_fit_options;
void fw_fit_options_init(fw_fit_options *o);

struct fw_col_scorer;
typedef struct fw_model_vtable {
    const char *family;   /* "baseline", "linear", "gbdt", "knn", "hier" */
    fw_status (*fit)(const fw_train_data *d, const fw_fit_options *o, fw_model **out, fw_err *err);
    /* out: n_rows x n_outputs, row-major. Threads: 0 = all cores. */
    fw_status (*predict_block)(const fw_model *m, const fw_matrix *X, int threads, double *out);
    fw_status (*predict_row)(const fw_model *m, const fw_row *x, void *scratch, double *out);
    /* Per-feature contributions for one row: (n_dense + 1) x n_outputs, row-major, the last row is
     * the bias/expected value; contributions are in margin (log-odds / raw) space. Sparse features'
     * contributions are summed into the bias row's companion... see each family's doc. */
    fw_status (*explain_row)(const fw_model *m, const fw_row *x, void *scratch, double *contrib);
    /* Global importance per dense feature (n_dense values, non-negative). */
    fw_status (*importance)(const fw_model *m, double *out);
    fw_status (*save)(const fw_model *m, fw_buf *out);
    fw_status (*load)(const uint8_t *data, size_t len, fw_model **out, fw_err *err);
    size_t (*scratch_size)(const fw_model *m);
    size_t (*size_bytes)(const fw_model *m);   /* memory held by the model */
    /* Writes the chosen hyperparameters as a JSON object text (for reports and lineage). */
    void (*params_json)(const fw_model *m, fw_buf *out);
    void (*free)(fw_model *m);
    /* Optional (NULL: the same parameters do): the "key=value" parameters that refit this model on
     * row_scale times its training rows with no validation rows, written into out (at most max
     * strings of FW_REFIT_PARAM_LEN); returns how many. gbdt: the rounds early stopping kept. */
    size_t (*refit_params)(const fw_model *m, double row_scale, char (*out)[FW_REFIT_PARAM_LEN],
                           size_t max);
    /* Optional (NULL: not offered): a scorer of rows that differ from `base` in one column
     * (fw_col_scorer below). */
    fw_status (*col_scorer)(const fw_model *m, const fw_matrix *base, int threads,
                            struct fw_col_scorer **out);
} fw_model_vtable;

/* Scores rows that equal fixed rows (the `base` it was made from) except in one dense column,
 * faster than predict_block and bit for bit the same (permutation importance; gbdt: a tree that
 * does not split on the column adds its value for the base row, kept from the start). Made by
 * fw_model_col_scorer; calls may run on several threads at once; free with its `free`. */
typedef struct fw_col_scorer {
    /* X: base's rows with column `col` changed; out as predict_block's. */
    fw_status (*predict)(struct fw_col_scorer *s, const fw_matrix *X, size_t col, double *out);
    void (*free)(struct fw_col_scorer *s);
} fw_col_scorer;

/* Every model struct starts with this header. */
struct fw_model {
    const fw_model_vtable *vt;
    fw_task task;
    size_t n_outputs;
    size_t n_dense;       /* dense features expected */
    uint32_t sparse_dim;  /* sparse dimension expected (0 = ignores sparse) */
};

/* Families by name ("gbdt") — NULL when unknown. */
const fw_model_vtable *fw_model_family(const char *name);
/* All registered families, NULL-terminated. */
const fw_model_vtable *const *fw_model_families(void);

/* Convenience wrappers (check arguments, dispatch through vt). */
fw_status fw_model_fit(const char *family, const fw_train_data *d, const fw_fit_options *o,
                       fw_model **out, fw_err *err);
fw_status fw_model_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out);
fw_status fw_model_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out);
size_t fw_model_scratch_size(const fw_model *m);
/* A column scorer for m over the rows base (FW_EUNSUPPORTED when the family, or this model, has
 * none: e.g. memory for the cached tree values would be too large). */
fw_status fw_model_col_scorer(const fw_model *m, const fw_matrix *base, int threads, fw_col_scorer **out);
/* Serialized form: family name + family bytes, so fw_model_load needs no outside hint. */
fw_status fw_model_save(const fw_model *m, fw_buf *out);
fw_status fw_model_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err);
void fw_model_free(fw_model *m);

/* Looks up "key" in o->params; returns the value string or NULL. Helpers parse with range checks
 * and report "gbdt.max_depth: expected an integer in [1, 64], got 'x'". */
const char *fw_fit_param(const fw_fit_options *o, const char *key);
fw_status fw_fit_param_int(const fw_fit_options *o, const char *family, const char *key, long lo,
                           long hi, long *inout, fw_err *err);
fw_status fw_fit_param_double(const fw_fit_options *o, const char *family, const char *key,
                              double lo, double hi, double *inout, fw_err *err);
/* Fails with a clear error when o->params holds a key not in `known` (NULL-terminated). */
fw_status fw_fit_params_check(const fw_fit_options *o, const char *family,
                              const char *const *known, fw_err *err);

#endif
