/* schema.h — owns a table's schema (column names and types) and type inference from a sample of
 * cell values, shared by the CSV and JSONL readers.
 *
 * Inference rule for a column, over its non-missing sample values:
 *   - no values at all                          → numeric (all missing; override to change)
 *   - every value parses as a number            → numeric (is_integer when all are integers)
 *   - every value is an ISO 8601 date/datetime  → timestamp
 *   - > 50% of values distinct and on average >= 3 whitespace-separated tokens → text
 *   - otherwise                                 → categorical
 * A type override by column name always wins. */
#ifndef FW_DATA_SCHEMA_H
#define FW_DATA_SCHEMA_H

#include "core/hash.h"
#include "data/dataset.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_schema {
    size_t n;
    char **names;          /* fw_malloc'd copies */
    fw_col_type *types;
    bool *is_integer;      /* numeric columns whose sample values were all integers */
    bool *overridden;      /* type came from an override */
} fw_schema;

/* A type override: the column named `name` gets `type` whatever its values look like. */
typedef struct fw_type_override {
    const char *name;
    fw_col_type type;
} fw_type_override;

/* Allocates a schema of n columns with the given names (copied) and all types numeric.
 * Returns FW_OK or FW_ENOMEM. Free with fw_schema_free (safe on a zeroed struct). */
fw_status fw_schema_init(fw_schema *s, size_t n, const char *const *names);
void fw_schema_free(fw_schema *s);
/* Deep copy of src into dst. */
fw_status fw_schema_copy(fw_schema *dst, const fw_schema *src);
/* Index of the column named name[0..len), or -1. Linear. */
int fw_schema_find(const fw_schema *s, const char *name, size_t len);
/* The schema of an existing dataset (names and types). */
fw_status fw_schema_from_dataset(fw_schema *s, const fw_dataset *ds);

/* Accumulates sample values for one column, then decides its type. */
typedef struct fw_infer_col {
    size_t n_values;       /* non-missing values seen */
    size_t n_number;       /* parsed as numbers (text or JSON numbers) */
    size_t n_integer;
    size_t n_timestamp;
    size_t n_tokens;       /* total whitespace-separated tokens over string values */
    size_t n_other;        /* values that are neither numbers nor timestamps */
    fw_strmap distinct;    /* distinct values (capped) */
} fw_infer_col;

void fw_infer_col_init(fw_infer_col *c);
void fw_infer_col_free(fw_infer_col *c);
/* Observes one non-missing text value (call fw_is_missing first). Returns FW_OK or FW_ENOMEM. */
fw_status fw_infer_col_text(fw_infer_col *c, const char *s, size_t len);
/* The whitespace-separated tokens (runs without space, tab, CR or LF) in s[0..len): what
 * n_tokens adds up, and the data profile's average tokens per text value. */
size_t fw_count_tokens(const char *s, size_t len);
/* Observes one native number (JSON). */
void fw_infer_col_number(fw_infer_col *c, double v);
/* The inferred type; *is_integer is set for numeric columns of integers. */
fw_col_type fw_infer_col_type(const fw_infer_col *c, bool *is_integer);

/* Applies the overrides: each named column gets its type. An override naming a column that does
 * not exist is an error (FW_ECONFIG, naming it) so typos are not silently ignored. */
fw_status fw_schema_apply_overrides(fw_schema *s, const fw_type_override *ov, size_t n,
                                    const char *source, fw_err *err);

#endif
