/* dataset.h — owns the columnar in-memory dataset: numeric columns as doubles with NaN for missing,
 * categorical and text columns dictionary-encoded (int32 codes, -1 for missing), timestamps as
 * seconds since the Unix epoch (double, NaN for missing). Every layer above reads data through it.
 *
 * A dataset is built by the readers in data/ (csv, jsonl) and is immutable once built. */
#ifndef FW_DATA_DATASET_H
#define FW_DATA_DATASET_H

#include "core/hash.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fw_col_type {
    FW_COL_NUMERIC = 0,
    FW_COL_CATEGORICAL = 1,
    FW_COL_TEXT = 2,
    FW_COL_TIMESTAMP = 3,
} fw_col_type;

const char *fw_col_type_name(fw_col_type t);     /* "numeric", "categorical", "text", "timestamp" */
bool fw_col_type_parse(const char *s, fw_col_type *out);

/* Dictionary of distinct strings of a categorical or text column; code = index. */
typedef struct fw_dict {
    fw_strmap map;          /* string → code */
} fw_dict;

void fw_dict_init(fw_dict *d);
void fw_dict_free(fw_dict *d);
/* Code for s (adding it when new). Returns code >= 0, or -1 on out of memory. */
int32_t fw_dict_intern(fw_dict *d, const char *s, size_t len);
/* Code for s, or -1 when absent. */
int32_t fw_dict_find(const fw_dict *d, const char *s, size_t len);
static inline size_t fw_dict_size(const fw_dict *d) { return d->map.count; }
static inline const char *fw_dict_str(const fw_dict *d, int32_t code) { return d->map.keys[code]; }
static inline size_t fw_dict_len(const fw_dict *d, int32_t code) { return d->map.key_len[code]; }

typedef struct fw_column {
    char *name;
    fw_col_type type;
    double *num;    /* NUMERIC, TIMESTAMP: n_rows values, NaN = missing; else NULL */
    int32_t *code;  /* CATEGORICAL, TEXT: n_rows codes into dict, -1 = missing; else NULL */
    fw_dict dict;
} fw_column;

typedef struct fw_dataset {
    size_t n_rows;
    size_t n_cols;
    fw_column *cols;
    char *source;   /* file the data came from (for messages); may be NULL */
} fw_dataset;

/* Creates an empty dataset with the given column names and types (capacity grows on append). */
fw_status fw_dataset_new(size_t n_cols, const char *const *names, const fw_col_type *types,
                         fw_dataset **out);
void fw_dataset_free(fw_dataset *ds);
/* Index of the column named `name`, or -1. */
int fw_dataset_find(const fw_dataset *ds, const char *name);
/* True when row r of column c is missing. */
bool fw_dataset_is_missing(const fw_dataset *ds, size_t c, size_t r);
/* The string value of a categorical/text cell (NULL when missing). */
const char *fw_dataset_str(const fw_dataset *ds, size_t c, size_t r);

/* Per-row slice codes of a group column, for per-slice evaluation (train's `groups:` and eval's
 * --group alike): categorical and text columns give their dictionary codes and values; numeric
 * and timestamp columns one code per distinct value, named by its %g text (a 0/1 column gives
 * slices "0" and "1"), in order of first appearance. Missing cells → -1. */
typedef struct fw_group_codes {
    int32_t *codes;         /* n rows */
    const char **names;     /* n_names; point into the column's dictionary or into own */
    size_t n_names;
    fw_dict own;            /* numeric columns: the value names */
} fw_group_codes;

/* Codes of column c for rows (NULL: rows 0 .. n-1). FW_ENOMEM on out of memory. Free with
 * fw_group_codes_free (also safe after an error). */
fw_status fw_dataset_group_codes(const fw_dataset *ds, size_t c, const uint32_t *rows, size_t n, fw_group_codes *out);
void fw_group_codes_free(fw_group_codes *g);

/* Row-wise append used by readers: begin a row, set each column's cell, commit. Cells not set are
 * missing. Strings are copied into the column dictionary. */
fw_status fw_dataset_reserve(fw_dataset *ds, size_t n_rows);
fw_status fw_dataset_append_row(fw_dataset *ds); /* adds one all-missing row, returns FW_ENOMEM */
void fw_dataset_set_num(fw_dataset *ds, size_t c, size_t r, double v);
fw_status fw_dataset_set_str(fw_dataset *ds, size_t c, size_t r, const char *s, size_t len);

#endif
