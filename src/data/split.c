/* split.c — owns the split strategies (random, stratified, time, group) and k-fold assignment. */
#include "data/split.h"

#include "core/alloc.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fw_split_opts_init(fw_split_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = FW_SPLIT_RANDOM;
    o->test_fraction = 0.2;
    o->seed = 42;
}

void fw_split_free(fw_split *s) {
    fw_free(s->train);
    fw_free(s->valid);
    fw_free(s->test);
    memset(s, 0, sizeof *s);
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Class id of each row (0..n_classes-1), in order of first appearance. */
static fw_status class_ids(const fw_dataset *ds, int c, uint32_t *cls, uint32_t *n_classes) {
    const fw_column *col = &ds->cols[c];
    size_t n = ds->n_rows;
    if (col->type == FW_COL_CATEGORICAL || col->type == FW_COL_TEXT) {
        size_t nd = fw_dict_size(&col->dict);
        uint32_t *map = fw_malloc((nd + 1) * sizeof *map);
        if (!map) return FW_ENOMEM;
        for (size_t k = 0; k <= nd; k++) map[k] = UINT32_MAX;
        uint32_t next = 0;
        for (size_t r = 0; r < n; r++) {
            size_t key = col->code[r] < 0 ? nd : (size_t)col->code[r];
            if (map[key] == UINT32_MAX) map[key] = next++;
            cls[r] = map[key];
        }
        fw_free(map);
        *n_classes = next;
        return FW_OK;
    }
    /* numeric: distinct values; many of them → 10 quantile bins; NaN is its own class */
    double *v = fw_malloc((n ? n : 1) * sizeof *v);
    if (!v) return FW_ENOMEM;
    size_t m = 0;
    for (size_t r = 0; r < n; r++)
        if (!isnan(col->num[r])) v[m++] = col->num[r];
    qsort(v, m, sizeof *v, cmp_f64);
    size_t nd = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || v[i] != v[i - 1]) v[nd++] = v[i];
    double cuts[9];
    bool binned = nd > 32;
    if (binned) {
        /* cut points from the sorted distinct values is wrong for quantiles of rows; recompute */
        size_t mm = 0;
        for (size_t r = 0; r < n; r++)
            if (!isnan(col->num[r])) v[mm++] = col->num[r];
        qsort(v, mm, sizeof *v, cmp_f64);
        for (int q = 1; q < 10; q++) cuts[q - 1] = v[(size_t)((double)mm * q / 10.0)];
    }
    uint32_t next = 0;
    for (size_t r = 0; r < n; r++) {
        double x = col->num[r];
        uint32_t raw;
        if (isnan(x)) {
            raw = binned ? 10 : (uint32_t)nd;
        } else if (binned) {
            raw = 0;
            while (raw < 9 && x >= cuts[raw]) raw++;
        } else {
            size_t lo = 0, hi = nd;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (v[mid] < x) lo = mid + 1; else hi = mid;
            }
            raw = (uint32_t)lo;
        }
        cls[r] = raw; /* remapped below to first-appearance order */
    }
    size_t n_raw = binned ? 11 : nd + 1;
    uint32_t *map = fw_malloc(n_raw * sizeof *map);
    if (!map) {
        fw_free(v);
        return FW_ENOMEM;
    }
    for (size_t k = 0; k < n_raw; k++) map[k] = UINT32_MAX;
    for (size_t r = 0; r < n; r++) {
        if (map[cls[r]] == UINT32_MAX) map[cls[r]] = next++;
        cls[r] = map[cls[r]];
    }
    fw_free(map);
    fw_free(v);
    *n_classes = next;
    return FW_OK;
}

static fw_status find_col(const fw_dataset *ds, const char *name, const char *what, int *c,
                          fw_err *err) {
    if (!name || !*name)
        return fw_err_set(err, FW_ENOTFOUND, "a %s split needs a column name", what);
    *c = fw_dataset_find(ds, name);
    if (*c < 0)
        return fw_err_set(err, FW_ENOTFOUND, "%s split: column '%s' is not in %s", what, name,
                          ds->source ? ds->source : "the data");
    return FW_OK;
}

/* side[r]: 0 train, 1 valid, 2 test → the output arrays (ascending). */
static fw_status collect(const uint8_t *side, size_t n, fw_split *out, fw_err *err) {
    size_t cnt[3] = {0, 0, 0};
    for (size_t r = 0; r < n; r++) cnt[side[r]]++;
    out->train = fw_malloc((cnt[0] ? cnt[0] : 1) * sizeof(uint32_t));
    out->valid = fw_malloc((cnt[1] ? cnt[1] : 1) * sizeof(uint32_t));
    out->test = fw_malloc((cnt[2] ? cnt[2] : 1) * sizeof(uint32_t));
    if (!out->train || !out->valid || !out->test) {
        fw_split_free(out);
        return fw_err_set(err, FW_ENOMEM, "split: out of memory");
    }
    for (size_t r = 0; r < n; r++) {
        uint32_t *dst = side[r] == 0 ? out->train : side[r] == 1 ? out->valid : out->test;
        size_t *k = side[r] == 0 ? &out->n_train : side[r] == 1 ? &out->n_valid : &out->n_test;
        dst[(*k)++] = (uint32_t)r;
    }
    return FW_OK;
}

/* Assigns a shuffled list of m items: the first round(m*test) to test, the next round(m*valid)
 * to valid, the rest to train. */
static void assign_list(const uint32_t *items, size_t m, double test, double valid, uint8_t *side) {
    size_t nt = (size_t)llround((double)m * test);
    size_t nv = (size_t)llround((double)m * valid);
    if (nt + nv > m) nv = m - (nt > m ? m : nt);
    for (size_t i = 0; i < m; i++) side[items[i]] = i < nt ? 2 : i < nt + nv ? 1 : 0;
}

typedef struct time_key {
    double t;
    uint32_t row;
} time_key;

static int cmp_time(const void *a, const void *b) {
    const time_key *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

fw_status fw_split_make(const fw_dataset *ds, const fw_split_opts *o, fw_split *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!(o->test_fraction > 0 && o->test_fraction < 1))
        return fw_err_set(err, FW_EINVAL, "split: test_fraction must be in (0, 1), got %g",
                          o->test_fraction);
    if (!(o->valid_fraction >= 0 && o->valid_fraction < 1) ||
        o->test_fraction + o->valid_fraction >= 1)
        return fw_err_set(err, FW_EINVAL,
                          "split: valid_fraction must be in [0, 1) with test + valid < 1, got %g + %g",
                          o->test_fraction, o->valid_fraction);
    size_t n = ds->n_rows;
    if (n > UINT32_MAX) return fw_err_set(err, FW_ELIMIT, "split: too many rows (%zu)", n);
    uint8_t *side = fw_calloc(n ? n : 1, 1);
    uint32_t *idx = fw_malloc((n ? n : 1) * sizeof *idx);
    fw_status st = FW_OK;
    if (!side || !idx) {
        st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
        goto done;
    }
    fw_rng rng;
    fw_rng_seed(&rng, o->seed);
    int c = -1;
    switch (o->kind) {
    case FW_SPLIT_RANDOM:
        for (size_t r = 0; r < n; r++) idx[r] = (uint32_t)r;
        fw_rng_shuffle_u32(&rng, idx, n);
        assign_list(idx, n, o->test_fraction, o->valid_fraction, side);
        break;
    case FW_SPLIT_STRATIFIED: {
        if ((st = find_col(ds, o->column, "stratified", &c, err))) goto done;
        uint32_t *cls = fw_malloc((n ? n : 1) * sizeof *cls);
        uint32_t nc = 0;
        if (!cls || class_ids(ds, c, cls, &nc)) {
            fw_free(cls);
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        /* rows grouped by class (counting sort keeps row order), each class shuffled */
        size_t *start = fw_calloc((size_t)nc + 1, sizeof *start);
        if (!start) {
            fw_free(cls);
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        for (size_t r = 0; r < n; r++) start[cls[r] + 1]++;
        for (uint32_t k = 0; k < nc; k++) start[k + 1] += start[k];
        size_t *fillp = fw_malloc(((size_t)nc + 1) * sizeof *fillp);
        if (!fillp) {
            fw_free(cls);
            fw_free(start);
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        memcpy(fillp, start, ((size_t)nc + 1) * sizeof *fillp);
        for (size_t r = 0; r < n; r++) idx[fillp[cls[r]]++] = (uint32_t)r;
        for (uint32_t k = 0; k < nc; k++) {
            size_t m = start[k + 1] - start[k];
            fw_rng_shuffle_u32(&rng, idx + start[k], m);
            assign_list(idx + start[k], m, o->test_fraction, o->valid_fraction, side);
        }
        fw_free(fillp);
        fw_free(start);
        fw_free(cls);
        break;
    }
    case FW_SPLIT_TIME: {
        if ((st = find_col(ds, o->column, "time", &c, err))) goto done;
        const fw_column *col = &ds->cols[c];
        if (col->type != FW_COL_NUMERIC && col->type != FW_COL_TIMESTAMP) {
            st = fw_err_set(err, FW_ESCHEMA, "time split: column '%s' is %s, not a timestamp or number",
                            col->name, fw_col_type_name(col->type));
            goto done;
        }
        size_t missing = 0, first = 0;
        for (size_t r = 0; r < n; r++)
            if (isnan(col->num[r]) && missing++ == 0) first = r;
        if (missing) {
            st = fw_err_set(err, FW_EDATA,
                            "time split: column '%s' has %zu missing values (first at row %zu); "
                            "every row needs a time",
                            col->name, missing, first + 1);
            goto done;
        }
        time_key *keys = fw_malloc((n ? n : 1) * sizeof *keys);
        if (!keys) {
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        for (size_t r = 0; r < n; r++) keys[r] = (time_key){col->num[r], (uint32_t)r};
        qsort(keys, n, sizeof *keys, cmp_time);
        size_t nt = (size_t)llround((double)n * o->test_fraction);
        size_t nv = (size_t)llround((double)n * o->valid_fraction);
        if (nt + nv > n) nv = n - (nt > n ? n : nt);
        for (size_t i = 0; i < n; i++)
            side[keys[i].row] = i >= n - nt ? 2 : i >= n - nt - nv ? 1 : 0;
        fw_free(keys);
        break;
    }
    case FW_SPLIT_GROUP: {
        if ((st = find_col(ds, o->column, "group", &c, err))) goto done;
        uint32_t *grp = fw_malloc((n ? n : 1) * sizeof *grp);
        uint32_t ng = 0;
        if (!grp) {
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        /* group ids: exact distinct values (no binning) */
        const fw_column *col = &ds->cols[c];
        if (col->type == FW_COL_CATEGORICAL || col->type == FW_COL_TEXT) {
            if (class_ids(ds, c, grp, &ng)) st = FW_ENOMEM;
        } else {
            fw_strmap m;
            fw_strmap_init(&m);
            for (size_t r = 0; r < n && !st; r++) {
                double x = col->num[r];
                if (isnan(x)) x = NAN; /* one canonical NaN: all missing rows are one group */
                if (x == 0) x = 0;     /* -0 and 0 are one group */
                int64_t g = fw_strmap_get(&m, (const char *)&x, sizeof x);
                if (g < 0) {
                    g = ng++;
                    if (fw_strmap_put(&m, (const char *)&x, sizeof x, (uint32_t)g)) st = FW_ENOMEM;
                }
                grp[r] = (uint32_t)g;
            }
            fw_strmap_free(&m);
        }
        if (st) {
            fw_free(grp);
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        uint32_t *order = fw_malloc(((size_t)ng ? ng : 1) * sizeof *order);
        size_t *size = fw_calloc((size_t)ng + 1, sizeof *size);
        uint8_t *gside = fw_calloc((size_t)ng + 1, 1);
        if (!order || !size || !gside) {
            fw_free(grp);
            fw_free(order);
            fw_free(size);
            fw_free(gside);
            st = fw_err_set(err, FW_ENOMEM, "split: out of memory");
            goto done;
        }
        for (size_t r = 0; r < n; r++) size[grp[r]]++;
        for (uint32_t g = 0; g < ng; g++) order[g] = g;
        fw_rng_shuffle_u32(&rng, order, ng);
        double want_t = (double)n * o->test_fraction, want_v = (double)n * o->valid_fraction;
        size_t got_t = 0, got_v = 0;
        for (uint32_t i = 0; i < ng; i++) {
            uint32_t g = order[i];
            if ((double)got_t + (double)size[g] / 2 <= want_t || got_t == 0) {
                gside[g] = 2;
                got_t += size[g];
            } else if (want_v > 0 && ((double)got_v + (double)size[g] / 2 <= want_v || got_v == 0)) {
                gside[g] = 1;
                got_v += size[g];
            } else {
                gside[g] = 0;
            }
        }
        for (size_t r = 0; r < n; r++) side[r] = gside[grp[r]];
        fw_free(grp);
        fw_free(order);
        fw_free(size);
        fw_free(gside);
        break;
    }
    default:
        st = fw_err_set(err, FW_EINVAL, "split: unknown split kind %d", (int)o->kind);
        goto done;
    }
    if ((st = collect(side, n, out, err))) goto done;
    if (out->n_train == 0 || out->n_test == 0 || (o->valid_fraction > 0 && out->n_valid == 0)) {
        const char *empty = out->n_train == 0 ? "train" : out->n_test == 0 ? "test" : "validation";
        st = fw_err_set(err, FW_EDATA,
                        "split: the %s side would have zero rows (%zu rows in total, test_fraction "
                        "%g, valid_fraction %g)",
                        empty, n, o->test_fraction, o->valid_fraction);
        fw_split_free(out);
    }
done:
    fw_free(side);
    fw_free(idx);
    return st;
}

fw_status fw_kfold_make(const fw_dataset *ds, uint32_t k, const char *stratify_column,
                        uint64_t seed, uint32_t *fold_of_row, fw_err *err) {
    size_t n = ds->n_rows;
    if (k < 2 || k > n)
        return fw_err_set(err, FW_EINVAL, "k-fold: k must be in [2, %zu rows], got %u", n, k);
    if (n > UINT32_MAX) return fw_err_set(err, FW_ELIMIT, "k-fold: too many rows (%zu)", n);
    int c = -1;
    if (stratify_column) {
        fw_status st = find_col(ds, stratify_column, "stratified k-fold", &c, err);
        if (st) return st;
    }
    uint32_t *idx = fw_malloc(n * sizeof *idx);
    uint32_t *cls = fw_calloc(n, sizeof *cls);
    if (!idx || !cls) {
        fw_free(idx);
        fw_free(cls);
        return fw_err_set(err, FW_ENOMEM, "k-fold: out of memory");
    }
    uint32_t nc = 1;
    if (c >= 0 && class_ids(ds, c, cls, &nc)) {
        fw_free(idx);
        fw_free(cls);
        return fw_err_set(err, FW_ENOMEM, "k-fold: out of memory");
    }
    fw_rng rng;
    fw_rng_seed(&rng, seed);
    /* Rows grouped by class (counting sort), each class shuffled and dealt round-robin, the fold
     * counter continuing across classes so fold sizes stay within one of each other. */
    size_t *start = fw_calloc((size_t)nc + 2, sizeof *start);
    if (!start) {
        fw_free(idx);
        fw_free(cls);
        return fw_err_set(err, FW_ENOMEM, "k-fold: out of memory");
    }
    for (size_t r = 0; r < n; r++) start[cls[r] + 2]++;
    for (uint32_t q = 0; q < nc; q++) start[q + 2] += start[q + 1];
    for (size_t r = 0; r < n; r++) idx[start[cls[r] + 1]++] = (uint32_t)r;
    uint32_t next_fold = 0;
    for (uint32_t cl = 0; cl < nc; cl++) {
        size_t b = start[cl], m = start[cl + 1] - b;
        fw_rng_shuffle_u32(&rng, idx + b, m);
        for (size_t i = 0; i < m; i++) {
            fold_of_row[idx[b + i]] = next_fold;
            next_fold = (next_fold + 1) % k;
        }
    }
    fw_free(start);
    fw_free(idx);
    fw_free(cls);
    return FW_OK;
}
