/* categorical.c — owns categorical columns: one-hot over the categories seen at least
 * min_frequency times in the training rows (at most max_categories, the most frequent kept, ties by
 * strcmp), listed in strcmp order, plus one "__unknown__" bucket that takes unseen, rare and missing
 * values; or signed hashing into the sparse part (+-1 in one bucket) for high cardinality — chosen
 * automatically when the encode is not given and there are more than max_categories distinct values.
 * With missing_indicator an extra "<name>_missing" column is 1 for a missing value. */
#include "features/pipeline_int.h"

#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct cat_count {
    const char *s;
    size_t count;
} cat_count;

static int by_count_then_name(const void *a, const void *b) {
    const cat_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->s, y->s);
}
static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

fw_status fw__categorical_index(fw__col *c) {
    fw_strmap_free(&c->cat_map);
    fw_strmap_init(&c->cat_map);
    for (uint32_t i = 0; i < c->n_cats; i++)
        if (fw_strmap_put(&c->cat_map, c->cats[i], strlen(c->cats[i]), i)) return FW_ENOMEM;
    return FW_OK;
}

fw_status fw__categorical_fit(fw__col *c, const fw_feature_spec *f, const fw__str *vals, size_t n,
                              fw_err *err) {
    c->missing_indicator = f->missing_indicator;
    fw_strmap m;
    fw_strmap_init(&m);
    size_t *counts = NULL, cap = 0;
    fw_status st = FW_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (!vals[i].p) continue;
        int64_t k = fw_strmap_get(&m, vals[i].p, vals[i].len);
        if (k < 0) {
            k = (int64_t)m.count;
            if (fw_strmap_put(&m, vals[i].p, vals[i].len, (uint32_t)k) || FW_GROW(&counts, &cap, m.count)) {
                st = FW_ENOMEM;
                break;
            }
            counts[k] = 0;
        }
        counts[k]++;
    }
    cat_count *cc = NULL;
    if (!st && m.count) {
        cc = fw_malloc(m.count * sizeof *cc);
        if (!cc) st = FW_ENOMEM;
    }
    if (!st) {
        c->encode = f->encode != FW_ENCODE_DEFAULT ? (uint8_t)f->encode
                    : m.count > f->max_categories   ? FW_ENCODE_HASH
                                                    : FW_ENCODE_ONEHOT;
    }
    if (!st && c->encode == FW_ENCODE_ONEHOT) {
        size_t kept = 0;
        for (size_t i = 0; i < m.count; i++)
            if (counts[i] >= f->min_frequency) cc[kept++] = (cat_count){m.keys[i], counts[i]};
        qsort(cc, kept, sizeof *cc, by_count_then_name);
        if (kept > f->max_categories) kept = f->max_categories;
        c->cats = fw_calloc(kept ? kept : 1, sizeof(char *));
        if (!c->cats) st = FW_ENOMEM;
        for (size_t i = 0; i < kept && !st; i++) {
            c->cats[i] = fw_strdup(cc[i].s);
            if (!c->cats[i]) st = FW_ENOMEM;
            c->n_cats = (uint32_t)(i + 1);
        }
        if (!st) {
            qsort(c->cats, c->n_cats, sizeof(char *), by_name);
            st = fw__categorical_index(c);
        }
    }
    fw_free(cc);
    fw_free(counts);
    fw_strmap_free(&m);
    if (st) return fw_err_set(err, st, "out of memory");
    return FW_OK;
}

void fw__categorical_apply(const fw__col *c, const fw__str *v, bool present, float *dense,
                           fw_pipeline_scratch *s, uint32_t dim_mask) {
    if (c->encode == FW_ENCODE_HASH) {
        if (present) {
            float sign;
            uint32_t idx = fw_feature_hash(c->seed, v->p, v->len, dim_mask, &sign);
            fw__scratch_push(s, idx, sign);
        }
        if (c->missing_indicator) dense[0] = present ? 0.0f : 1.0f;
        return;
    }
    memset(dense, 0, (c->n_cats + 1) * sizeof(float));
    int64_t k = present ? fw_strmap_get(&c->cat_map, v->p, v->len) : -1;
    dense[k >= 0 ? (size_t)k : c->n_cats] = 1.0f;
    if (c->missing_indicator) dense[c->n_cats + 1] = present ? 0.0f : 1.0f;
}
