/* profile.h — owns the per-column data profile behind `flywheel describe`: type, missing rate,
 * distinct count; numeric min/max/mean/std and quantiles p01 p25 p50 p75 p99; top categories with
 * counts; average tokens of text; timestamp range; and the label's class balance when a label
 * column is given. Printed as a readable table or as JSON.
 *
 * Definitions: std is the sample standard deviation (n - 1 denominator, as pandas); quantiles
 * interpolate linearly between order statistics (numpy's default); all are over non-missing
 * values. Categories are ordered by count, ties by first appearance.
 *
 * Example:
 *   fw_profile *p;
 *   if (fw_profile_build(ds, "label", &p, &err) < 0) die(err.msg);
 *   fw_profile_print(p, stdout);
 *   char *js = fw_profile_json(p); puts(js); fw_free(js);
 *   fw_profile_free(p);
 */
#ifndef FW_DATA_PROFILE_H
#define FW_DATA_PROFILE_H

#include "data/dataset.h"
#include "flywheel.h"

#include <stdio.h>

#define FW_PROFILE_TOP 10

typedef struct fw_value_count {
    char *value;             /* category text (numeric labels as fw_dtoa writes them) */
    size_t count;
} fw_value_count;

typedef struct fw_col_profile {
    const char *name;        /* points into the dataset's column name */
    fw_col_type type;
    size_t n_missing;
    double missing_rate;     /* n_missing / n_rows (0 when there are no rows) */
    size_t distinct;         /* distinct non-missing values */
    /* numeric and timestamp (NaN when every value is missing) */
    double min, max, mean, std;
    double q[5];             /* p01 p25 p50 p75 p99 (numeric only) */
    bool is_integer;         /* every non-missing value is an integer (numeric) */
    /* categorical and text */
    size_t n_top;
    fw_value_count top[FW_PROFILE_TOP];
    double avg_tokens;       /* text: mean whitespace-separated tokens per non-missing value */
} fw_col_profile;

typedef struct fw_profile {
    const char *source;      /* the dataset's source (may be NULL) */
    size_t n_rows, n_cols;
    fw_col_profile *cols;
    /* label balance: set when a label column was given and it is categorical, or numeric with
     * at most 20 distinct values (classes sorted by count); NULL/0 otherwise */
    const char *label;
    size_t n_classes;
    fw_value_count *classes;
} fw_profile;

/* Profiles every column of ds. label may be NULL; a label that is not a column is FW_ENOTFOUND.
 * The profile points into ds (names), so ds must outlive it. Free with fw_profile_free.
 * Thread-safe on distinct outputs. */
fw_status fw_profile_build(const fw_dataset *ds, const char *label, fw_profile **out, fw_err *err);
void fw_profile_free(fw_profile *p);

/* A readable table: one line per column, then the label balance. */
void fw_profile_print(const fw_profile *p, FILE *f);

/* The profile as a JSON document (fw_malloc'd, NUL-terminated; caller fw_frees), or NULL when
 * out of memory. Keys: source, rows, columns[{name, type, missing, missing_rate, distinct, min,
 * max, mean, std, p01, p25, p50, p75, p99, is_integer, top[{value, count}], avg_tokens}],
 * label, label_balance[{value, count, fraction}]. NaN is written as null; timestamps also get
 * min_iso/max_iso. */
char *fw_profile_json(const fw_profile *p);

#endif
