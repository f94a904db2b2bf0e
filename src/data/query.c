/* query.c — owns query ids for ranking (one dense id per row from the query column) and k-fold
 * assignment by whole query groups. See query.h. */
#include "data/query.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

fw_status fw_query_ids(const fw_dataset *ds, const char *column, uint32_t *ids, uint32_t *n_ids,
                       fw_err *err) {
    int c = column ? fw_dataset_find(ds, column) : -1;
    if (c < 0)
        return fw_err_set(err, FW_ENOTFOUND, "%s: no query column '%s'",
                          ds->source ? ds->source : "data", column ? column : "(none)");
    const fw_column *col = &ds->cols[c];
    size_t n = ds->n_rows;
    uint32_t next = 0;
    if (col->code) {
        size_t nd = fw_dict_size(&col->dict);
        uint32_t *map = fw_malloc((nd ? nd : 1) * sizeof *map);
        if (!map) return fw_err_set(err, FW_ENOMEM, "query ids: out of memory");
        for (size_t k = 0; k < nd; k++) map[k] = UINT32_MAX;
        for (size_t r = 0; r < n; r++) {
            int32_t code = col->code[r];
            if (code < 0 || (size_t)code >= nd) {
                fw_free(map);
                return fw_err_set(err, FW_EDATA,
                                  "%s: row %zu: the query column '%s' is missing (every row of a "
                                  "ranking task belongs to a query)",
                                  ds->source ? ds->source : "data", r + 2, column);
            }
            if (map[code] == UINT32_MAX) map[code] = next++;
            ids[r] = map[code];
        }
        fw_free(map);
    } else {
        fw_strmap m;
        fw_strmap_init(&m);
        for (size_t r = 0; r < n; r++) {
            double x = col->num[r];
            if (isnan(x)) {
                fw_strmap_free(&m);
                return fw_err_set(err, FW_EDATA,
                                  "%s: row %zu: the query column '%s' is missing (every row of a "
                                  "ranking task belongs to a query)",
                                  ds->source ? ds->source : "data", r + 2, column);
            }
            if (x == 0) x = 0; /* -0 and 0 are one query */
            int64_t g = fw_strmap_get(&m, (const char *)&x, sizeof x);
            if (g < 0) {
                g = next++;
                if (fw_strmap_put(&m, (const char *)&x, sizeof x, (uint32_t)g)) {
                    fw_strmap_free(&m);
                    return fw_err_set(err, FW_ENOMEM, "query ids: out of memory");
                }
            }
            ids[r] = (uint32_t)g;
        }
        fw_strmap_free(&m);
    }
    *n_ids = next;
    return FW_OK;
}

fw_status fw_kfold_groups(const uint32_t *group_of_row, size_t n, uint32_t n_groups, uint32_t k,
                          uint64_t seed, uint32_t *fold_of_row, fw_err *err) {
    if (k < 2 || k > n_groups)
        return fw_err_set(err, FW_EINVAL, "k-fold by query: k must be in [2, %u queries], got %u",
                          n_groups, k);
    uint32_t *order = fw_malloc(n_groups * sizeof *order);
    uint32_t *fold_of_group = fw_malloc(n_groups * sizeof *fold_of_group);
    size_t *size = fw_calloc(n_groups, sizeof *size);
    size_t *load = fw_calloc(k, sizeof *load);
    if (!order || !fold_of_group || !size || !load) {
        fw_free(order);
        fw_free(fold_of_group);
        fw_free(size);
        fw_free(load);
        return fw_err_set(err, FW_ENOMEM, "k-fold by query: out of memory");
    }
    for (size_t r = 0; r < n; r++) size[group_of_row[r]]++;
    for (uint32_t g = 0; g < n_groups; g++) order[g] = g;
    fw_rng rng;
    fw_rng_seed(&rng, seed);
    fw_rng_shuffle_u32(&rng, order, n_groups);
    /* each group (in shuffled order) to the fold with the fewest rows so far (lowest index on a
     * tie): folds stay within one group's size of each other */
    for (uint32_t i = 0; i < n_groups; i++) {
        uint32_t g = order[i], best = 0;
        for (uint32_t f = 1; f < k; f++)
            if (load[f] < load[best]) best = f;
        fold_of_group[g] = best;
        load[best] += size[g];
    }
    for (size_t r = 0; r < n; r++) fold_of_row[r] = fold_of_group[group_of_row[r]];
    fw_free(order);
    fw_free(fold_of_group);
    fw_free(size);
    fw_free(load);
    return FW_OK;
}
