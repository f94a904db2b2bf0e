/* matrix.h — owns the feature matrix that flows from the pipeline into every model: a dense
 * row-major float block plus an optional sparse hashed part in CSR form.
 *
 *   dense:  n_rows x n_dense floats, row-major; NaN only where the pipeline lets missing through
 *           (trees learn a default direction for it; linear models never see NaN).
 *   sparse: CSR over a hashed space of `sparse_dim` columns: row r's entries are
 *           indices[indptr[r] .. indptr[r+1]) with values likewise; indptr has n_rows+1 entries.
 *           indices are sorted and unique within a row. n_sparse = 0 means no sparse part. */
#ifndef FW_FEATURES_MATRIX_H
#define FW_FEATURES_MATRIX_H

#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fw_matrix {
    size_t n_rows;
    size_t n_dense;
    float *dense;
    uint32_t sparse_dim;   /* 0 = no sparse part */
    uint64_t *indptr;      /* n_rows + 1 (NULL when sparse_dim == 0) */
    uint32_t *indices;
    float *values;
    size_t nnz_cap;        /* capacity of indices/values */
    char **dense_names;    /* optional: n_dense feature names for reports/explanations */
} fw_matrix;

/* One row's view, as the server passes it to a model's predict_row. */
typedef struct fw_row {
    const float *dense;        /* n_dense */
    const uint32_t *indices;   /* nnz sparse entries (sorted) */
    const float *values;
    size_t nnz;
} fw_row;

/* Allocates dense (zeroed) and, when sparse_dim > 0, indptr. Frees on failure. */
fw_status fw_matrix_alloc(fw_matrix *m, size_t n_rows, size_t n_dense, uint32_t sparse_dim);
void fw_matrix_free(fw_matrix *m);
static inline fw_row fw_matrix_row(const fw_matrix *m, size_t r) {
    fw_row row = {m->dense + r * m->n_dense, NULL, NULL, 0};
    if (m->sparse_dim) {
        row.indices = m->indices + m->indptr[r];
        row.values = m->values + m->indptr[r];
        row.nnz = (size_t)(m->indptr[r + 1] - m->indptr[r]);
    }
    return row;
}
/* A new matrix holding the given rows of m (in that order). */
fw_status fw_matrix_select(const fw_matrix *m, const uint32_t *rows, size_t n, fw_matrix *out);
/* A new matrix holding a's rows then b's (same n_dense and sparse_dim, else FW_EINVAL); names are
 * copied from a. On failure out is left empty. */
fw_status fw_matrix_concat(const fw_matrix *a, const fw_matrix *b, fw_matrix *out);

#endif
