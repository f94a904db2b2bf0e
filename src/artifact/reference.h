/* reference.h — owns the training reference profile stored in every artifact: per input column a
 * binned distribution (quantile bin edges + counts) or category frequencies (top N + other), the
 * missing rate and the value range, plus the distribution of the model's predictions on the test
 * split. The monitoring issue compares live traffic against it. Serialized little-endian, fixed
 * width (docs/FORMAT.md, section "reference"). */
#ifndef FW_ARTIFACT_REFERENCE_H
#define FW_ARTIFACT_REFERENCE_H

#include "core/buf.h"
#include "data/dataset.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

#define FW_REFERENCE_VERSION 1u
#define FW_REFERENCE_TOP_N 20u  /* categories kept by name; the rest are counted as "other" */

typedef struct fw_ref_column {
    char *name;
    fw_col_type type;
    uint64_t n_rows, n_missing;
    double min, max;            /* over non-missing values (numeric, timestamp); NaN when none */
    /* numeric / timestamp: n_bins quantile bins; bin i is [edges[i], edges[i+1]) (last closed).
     * A point mass (a value tied on >= 1/n_bins of the non-missing rows) has a bin of its own,
     * [v, nextafter(v)); the other values are quantile-binned among themselves. edges[0] = min;
     * edges[n_bins] = max, or nextafter(max) when the maximum is a point mass. */
    uint32_t n_bins;
    double *edges;              /* n_bins + 1 */
    uint64_t *counts;           /* n_bins */
    /* categorical / text: the most frequent values (count desc, then value asc) */
    uint32_t n_top;
    char **top_values;
    uint64_t *top_counts;
    uint64_t other_count;       /* non-missing rows outside the top N */
    uint64_t n_distinct;
} fw_ref_column;

typedef struct fw_reference {
    size_t n_columns;
    fw_ref_column *cols;
    size_t n_outputs;           /* prediction histograms: one numeric column per model output */
    fw_ref_column *pred;
} fw_reference;

/* Builds the profile of the named columns over the given rows of ds (all rows when rows is NULL)
 * and of the predictions pred (n_pred rows x n_outputs, row-major; may be NULL). n_bins: bins per
 * numeric column (0 = 10). A column name absent from ds → FW_ESCHEMA naming it. Free with
 * fw_reference_free. Deterministic: same inputs → same bytes from fw_reference_save. */
fw_status fw_reference_build(const fw_dataset *ds, const uint32_t *rows, size_t n_rows,
                             const char *const *columns, size_t n_columns, const double *pred,
                             size_t n_pred, size_t n_outputs, uint32_t n_bins, fw_reference **out,
                             fw_err *err);
/* The same, the columns spread over `threads` threads (<= 0: 1): the same result for any count. */
fw_status fw_reference_build_threads(const fw_dataset *ds, const uint32_t *rows, size_t n_rows,
                                     const char *const *columns, size_t n_columns, const double *pred, size_t n_pred,
                                     size_t n_outputs, uint32_t n_bins, int threads, fw_reference **out, fw_err *err);
void fw_reference_free(fw_reference *r);
/* The column named name, or NULL. */
const fw_ref_column *fw_reference_column(const fw_reference *r, const char *name);

fw_status fw_reference_save(const fw_reference *r, fw_buf *out);
/* FW_ECORRUPT / FW_EVERSION with a message on bad bytes; never reads out of bounds. */
fw_status fw_reference_load(const uint8_t *data, size_t len, fw_reference **out, fw_err *err);

#endif
