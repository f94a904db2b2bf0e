/* matrix.c — owns allocation, release and row selection of fw_matrix. */
#include "features/matrix.h"

#include "core/alloc.h"

#include <string.h>

fw_status fw_matrix_alloc(fw_matrix *m, size_t n_rows, size_t n_dense, uint32_t sparse_dim) {
    memset(m, 0, sizeof *m);
    m->n_rows = n_rows;
    m->n_dense = n_dense;
    m->sparse_dim = sparse_dim;
    if (n_rows && n_dense) {
        if (n_dense > SIZE_MAX / n_rows) return FW_ENOMEM;
        m->dense = fw_calloc(n_rows * n_dense, sizeof(float));
        if (!m->dense) return FW_ENOMEM;
    }
    if (sparse_dim) {
        m->indptr = fw_calloc(n_rows + 1, sizeof(uint64_t));
        if (!m->indptr) {
            fw_matrix_free(m);
            return FW_ENOMEM;
        }
    }
    return FW_OK;
}

void fw_matrix_free(fw_matrix *m) {
    if (!m) return;
    fw_free(m->dense);
    fw_free(m->indptr);
    fw_free(m->indices);
    fw_free(m->values);
    if (m->dense_names) {
        for (size_t i = 0; i < m->n_dense; i++) fw_free(m->dense_names[i]);
        fw_free(m->dense_names);
    }
    memset(m, 0, sizeof *m);
}

fw_status fw_matrix_select(const fw_matrix *m, const uint32_t *rows, size_t n, fw_matrix *out) {
    fw_status st = fw_matrix_alloc(out, n, m->n_dense, m->sparse_dim);
    if (st) return st;
    for (size_t i = 0; i < n; i++)
        if (m->n_dense)
            memcpy(out->dense + i * m->n_dense, m->dense + (size_t)rows[i] * m->n_dense,
                   m->n_dense * sizeof(float));
    if (m->sparse_dim) {
        size_t nnz = 0;
        for (size_t i = 0; i < n; i++) nnz += (size_t)(m->indptr[rows[i] + 1] - m->indptr[rows[i]]);
        if (nnz) {
            out->indices = fw_malloc(nnz * sizeof(uint32_t));
            out->values = fw_malloc(nnz * sizeof(float));
            if (!out->indices || !out->values) {
                fw_matrix_free(out);
                return FW_ENOMEM;
            }
        }
        out->nnz_cap = nnz;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t b = m->indptr[rows[i]], e = m->indptr[rows[i] + 1];
            size_t k = (size_t)(e - b);
            if (k) {
                memcpy(out->indices + at, m->indices + b, k * sizeof(uint32_t));
                memcpy(out->values + at, m->values + b, k * sizeof(float));
            }
            at += k;
            out->indptr[i + 1] = at;
        }
    }
    if (m->dense_names) {
        out->dense_names = fw_calloc(m->n_dense, sizeof(char *));
        if (!out->dense_names) {
            fw_matrix_free(out);
            return FW_ENOMEM;
        }
        for (size_t j = 0; j < m->n_dense; j++) {
            out->dense_names[j] = fw_strdup(m->dense_names[j]);
            if (!out->dense_names[j]) {
                fw_matrix_free(out);
                return FW_ENOMEM;
            }
        }
    }
    return FW_OK;
}

fw_status fw_matrix_concat(const fw_matrix *a, const fw_matrix *b, fw_matrix *out) {
    memset(out, 0, sizeof *out);
    if (a->n_dense != b->n_dense || a->sparse_dim != b->sparse_dim) return FW_EINVAL;
    size_t n = a->n_rows + b->n_rows;
    uint32_t *rows = fw_malloc((a->n_rows ? a->n_rows : 1) * sizeof(uint32_t));
    if (!rows) return FW_ENOMEM;
    for (size_t i = 0; i < a->n_rows; i++) rows[i] = (uint32_t)i;
    fw_status st = fw_matrix_select(a, rows, a->n_rows, out); /* a's rows and names */
    fw_free(rows);
    if (st) return st;
    if (a->n_dense && n) {
        float *dense = fw_realloc(out->dense, n * a->n_dense * sizeof(float));
        if (!dense) goto oom;
        out->dense = dense;
        if (b->n_rows)
            memcpy(out->dense + a->n_rows * a->n_dense, b->dense, b->n_rows * b->n_dense * sizeof(float));
    }
    if (a->sparse_dim) {
        size_t na = (size_t)out->indptr[a->n_rows], nb = (size_t)b->indptr[b->n_rows];
        uint64_t *indptr = fw_realloc(out->indptr, (n + 1) * sizeof(uint64_t));
        if (!indptr) goto oom;
        out->indptr = indptr;
        if (nb) {
            uint32_t *idx = fw_realloc(out->indices, (na + nb) * sizeof(uint32_t));
            if (!idx) goto oom;
            out->indices = idx;
            float *val = fw_realloc(out->values, (na + nb) * sizeof(float));
            if (!val) goto oom;
            out->values = val;
            memcpy(out->indices + na, b->indices, nb * sizeof(uint32_t));
            memcpy(out->values + na, b->values, nb * sizeof(float));
        }
        out->nnz_cap = na + nb;
        for (size_t i = 1; i <= b->n_rows; i++) out->indptr[a->n_rows + i] = na + b->indptr[i];
    }
    out->n_rows = n;
    return FW_OK;
oom:
    fw_matrix_free(out);
    return FW_ENOMEM;
}
