/* query.h — owns query ids for ranking: one dense uint32 id per dataset row read from the query
 * column (a categorical's codes, or a numeric column's distinct values), and k-fold assignment by
 * whole groups (every row of a query in one fold), so cross-validation never splits a query.
 *
 * Example:
 *   uint32_t *q = fw_malloc(ds->n_rows * sizeof *q);
 *   if (fw_query_ids(ds, "session", q, &n_q, &err)) die(err.msg);
 *   fw_kfold_groups(q, ds->n_rows, n_q, 5, 42, fold_of_row, &err); */
#ifndef FW_DATA_QUERY_H
#define FW_DATA_QUERY_H

#include "data/dataset.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

/* ids[r] for every row r of ds (caller provides ds->n_rows entries): equal values → equal ids,
 * ids dense in [0, *n_ids) in order of first appearance. A missing value is an error
 * (FW_EDATA naming the file, the row and the column): a row outside every query cannot be ranked.
 * FW_ENOTFOUND when the column is not in ds. */
fw_status fw_query_ids(const fw_dataset *ds, const char *column, uint32_t *ids, uint32_t *n_ids,
                       fw_err *err);

/* fold_of_row[r] in [0, k) for each of the n rows, by group: groups (ids in [0, n_groups)) are
 * shuffled with the seed and dealt, largest folds last, so that fold row counts stay close; every
 * row of a group lands in its group's fold. FW_EINVAL when k < 2 or k > n_groups. */
fw_status fw_kfold_groups(const uint32_t *group_of_row, size_t n, uint32_t n_groups, uint32_t k,
                          uint64_t seed, uint32_t *fold_of_row, fw_err *err);

#endif
