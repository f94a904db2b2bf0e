/* split.h — owns train/validation/test splits over row indices: random, stratified by a label
 * column, time-based (train on the past, test on the future), and group (no group value on both
 * sides); plus k-fold assignment (stratified when asked). Everything is seeded through core/rng.h:
 * the same dataset, options and seed give the same split on every machine.
 *
 * Example:
 *   fw_split_opts o; fw_split_opts_init(&o);
 *   o.kind = FW_SPLIT_STRATIFIED; o.column = "label"; o.test_fraction = 0.2; o.seed = 42;
 *   fw_split sp;
 *   if (fw_split_make(ds, &o, &sp, &err) < 0) die(err.msg);
 *   ... sp.train[0..n_train), sp.test[0..n_test) ...
 *   fw_split_free(&sp);
 */
#ifndef FW_DATA_SPLIT_H
#define FW_DATA_SPLIT_H

#include "data/dataset.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

/* How rows are split (the project's split.kind names these: project/project.h). */
typedef enum fw_split_kind { FW_SPLIT_RANDOM = 0, FW_SPLIT_STRATIFIED, FW_SPLIT_TIME, FW_SPLIT_GROUP } fw_split_kind;

typedef struct fw_split_opts {
    fw_split_kind kind;        /* default FW_SPLIT_RANDOM */
    double test_fraction;      /* in (0, 1); default 0.2 */
    double valid_fraction;     /* in [0, 1); default 0 (no validation side) */
    const char *column;        /* label (stratified), time (time) or group (group) column */
    uint64_t seed;             /* default 42 */
} fw_split_opts;

void fw_split_opts_init(fw_split_opts *o);

/* Row indices of each side, each sorted ascending. The three sets are disjoint and cover all rows
 * of the dataset. Arrays are fw_malloc'd and freed by fw_split_free. */
typedef struct fw_split {
    uint32_t *train, *valid, *test;
    size_t n_train, n_valid, n_test;
} fw_split;

/* Splits the rows of ds.
 *   random:     shuffle, then cut;
 *   stratified: each class of `column` (missing is its own class; a numeric label with more than
 *               32 distinct values is binned by quantiles into 10 bins) is split in the same ratio;
 *   time:       rows sorted by `column` (numeric or timestamp; no missing values allowed), the
 *               latest test_fraction of rows is test, the valid_fraction before it is validation:
 *               max time of train <= min time of valid <= min time of test;
 *   group:      whole groups (distinct values of `column`; missing is one group) are shuffled and
 *               assigned, so the row fractions are approximate.
 * Errors (err names the problem): FW_EINVAL (fraction out of range, or test+valid >= 1),
 * FW_ENOTFOUND (column missing or not given), FW_ESCHEMA (a time column that is not numeric),
 * FW_EDATA (missing time values, or a side left with zero rows). Thread-safe. */
fw_status fw_split_make(const fw_dataset *ds, const fw_split_opts *o, fw_split *out, fw_err *err);
void fw_split_free(fw_split *s);

/* k-fold: fold_of_row[r] in [0, k) for every row r (caller provides ds->n_rows entries). Folds
 * differ in size by at most one (per class when stratify_column is given; then each fold has the
 * classes in about the same ratio). Errors: k < 2 or k > n_rows (FW_EINVAL), unknown column. */
fw_status fw_kfold_make(const fw_dataset *ds, uint32_t k, const char *stratify_column,
                        uint64_t seed, uint32_t *fold_of_row, fw_err *err);

#endif
