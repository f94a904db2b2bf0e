/* pipeline.h — owns the fitted feature pipeline: schema + per-column transforms fitted on training
 * rows only, applied by the very same per-row code in training, batch and online serving.
 *
 * Input columns → output features:
 *   numeric:     impute (mean/median/constant) → optional missing indicator → scale
 *                (standard/min-max/log1p/quantile buckets) → 1 dense feature (+1 indicator)
 *   categorical: one-hot over categories seen >= min_frequency times, plus an "unknown" bucket
 *                (dense); or signed hashing into the sparse part for high cardinality
 *   text:        lowercase, tokenize, unigrams (+ bigrams), signed hashing into the sparse part,
 *                optional TF-IDF weights (idf fitted on training rows), L2-normalised
 *   timestamp:   hour, day of week, month, age in days relative to a reference time (dense)
 *   crosses:     hashed conjunction of named columns' values into the sparse part
 *
 * Two entry points over the same code: fw_pipeline_transform_record (one record of field values,
 * the server's path: no allocation after warm-up with a caller-provided scratch) and
 * fw_pipeline_transform_block (rows of a dataset: training and batch; implemented by the record
 * path, so there is no train/serve skew). A fitted pipeline is immutable and thread-safe. */
#ifndef FW_FEATURES_PIPELINE_H
#define FW_FEATURES_PIPELINE_H

#include "core/buf.h"
#include "data/dataset.h"
#include "features/matrix.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_pipeline fw_pipeline;

/* One input value of a record, as the server decodes it from JSON or batch reads from CSV. */
typedef enum fw_value_kind { FW_VALUE_MISSING = 0, FW_VALUE_NUMBER, FW_VALUE_STRING } fw_value_kind;
typedef struct fw_value {
    fw_value_kind kind;
    double num;          /* FW_VALUE_NUMBER */
    const char *str;     /* FW_VALUE_STRING: not NUL-terminated necessarily */
    size_t len;
} fw_value;

/* Fits on the given training rows of ds (never on test rows). Feature columns and their transforms
 * come from the resolved project p (fw_project_resolve). The label/id/time/query columns and the
 * excluded ones are not features. */
fw_status fw_pipeline_fit(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                          size_t n_rows, fw_pipeline **out, fw_err *err);
/* The same, the columns fitted on `threads` threads (<= 0: 1): the same pipeline for any count. */
fw_status fw_pipeline_fit_threads(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                                  size_t n_rows, int threads, fw_pipeline **out, fw_err *err);
void fw_pipeline_free(fw_pipeline *pl);

/* Shape of the output. */
size_t fw_pipeline_n_dense(const fw_pipeline *pl);
uint32_t fw_pipeline_sparse_dim(const fw_pipeline *pl);   /* 0 when nothing is hashed */
const char *fw_pipeline_dense_name(const fw_pipeline *pl, size_t j);  /* e.g. "color=red" */
/* The input column dense feature j derives from ("color" for "color=red" and for
 * "color_missing"), or NULL when j is out of range. */
const char *fw_pipeline_dense_input_name(const fw_pipeline *pl, size_t j);

/* Input columns the pipeline reads, in record order. */
size_t fw_pipeline_n_inputs(const fw_pipeline *pl);
const char *fw_pipeline_input_name(const fw_pipeline *pl, size_t i);
fw_col_type fw_pipeline_input_type(const fw_pipeline *pl, size_t i);
/* Index of the input column named name[0..len), or -1 (unknown features go to warnings). */
int fw_pipeline_input_index(const fw_pipeline *pl, const char *name, size_t len);
/* For a one-hot categorical input i: 1 when s[0..len) is one of its categories, 0 when it is not
 * (an unseen category: the record scores it as "__unknown__"). -1 when input i keeps no list of
 * categories (hashed, or not categorical). Thread-safe. */
int fw_pipeline_category_known(const fw_pipeline *pl, size_t i, const char *s, size_t len);
/* Input i's value read as a number exactly as the record path reads a numeric input: a number as
 * is (±inf → NaN), a string parsed (blanks trimmed; the missing words "", NA, N/A, NaN, null, None,
 * ? → NaN), missing → NaN. A string that is neither → FW_ESCHEMA naming the field (err may be
 * NULL). Thread-safe, no allocation. */
fw_status fw_pipeline_input_num(const fw_pipeline *pl, size_t i, const fw_value *v, double *out, fw_err *err);

/* Per-thread scratch for the record path. Allocate once per thread; reuse for every record. */
typedef struct fw_pipeline_scratch fw_pipeline_scratch;
fw_status fw_pipeline_scratch_new(const fw_pipeline *pl, fw_pipeline_scratch **out);
void fw_pipeline_scratch_free(fw_pipeline_scratch *s);
/* Grows s so that a record whose text values add up to at most text_bytes is transformed without
 * allocating (text is tokenized in the scratch, which otherwise grows to the longest record seen).
 * FW_OK or FW_ENOMEM. */
fw_status fw_pipeline_scratch_reserve_text(const fw_pipeline *pl, fw_pipeline_scratch *s, size_t text_bytes);

/* Transforms one record: values[i] is input column i (fw_pipeline_n_inputs of them; missing
 * where absent). Writes n_dense floats to dense and the sparse part into the scratch; *row is set
 * to point at dense and at the scratch's sparse arrays (valid until the next call with s).
 * A string given for a numeric column that does not parse as a number → FW_ESCHEMA with err
 * naming the field. */
fw_status fw_pipeline_transform_record(const fw_pipeline *pl, const fw_value *values,
                                       fw_pipeline_scratch *s, float *dense, fw_row *row,
                                       fw_err *err);

/* Explanations (sources.c): the input column a dense feature comes from (-1 out of range), and a
 * record's hashed part source by source, before merging: fn gets the input columns a source reads
 * (one; a cross's several) and the entries it emits. dense: n_dense floats of work space
 * (overwritten). The entries add up to the record's sparse part (fw_pipeline_transform_record). */
int fw_pipeline_dense_input(const fw_pipeline *pl, size_t j);
typedef void (*fw_sparse_source_fn)(void *ud, const uint32_t *inputs, size_t n_inputs, const uint32_t *idx,
                                    const float *val, size_t n);
fw_status fw_pipeline_sparse_sources(const fw_pipeline *pl, const fw_value *values, fw_pipeline_scratch *s,
                                     float *dense, fw_sparse_source_fn fn, void *ud, fw_err *err);

/* Transforms rows of ds (all rows when rows == NULL) into a new matrix (freed by the caller with
 * fw_matrix_free). Uses the record path row by row; threads split the rows (0 = default). */
fw_status fw_pipeline_transform_block(const fw_pipeline *pl, const fw_dataset *ds,
                                      const uint32_t *rows, size_t n_rows, int threads,
                                      fw_matrix *out, fw_err *err);

/* Serialization (deterministic bytes) for the artifact. */
fw_status fw_pipeline_save(const fw_pipeline *pl, fw_buf *out);
fw_status fw_pipeline_load(const uint8_t *data, size_t len, fw_pipeline **out, fw_err *err);

#endif
