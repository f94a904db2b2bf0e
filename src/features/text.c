/* text.c — owns text columns: ASCII lowercasing (UTF-8 bytes are kept as they are), tokens are
 * maximal runs of ASCII letters/digits and bytes >= 0x80, unigrams plus (optionally) bigrams of
 * adjacent tokens, signed hashing into the shared sparse space, optional TF-IDF and L2
 * normalisation over the column's entries.
 *
 * TF-IDF (as scikit-learn's smooth_idf): idf(b) = ln((1 + N) / (1 + df(b))) + 1 where N is the
 * number of training rows with a value and df(b) the number of those whose hashed bucket b is
 * non-zero. A bucket no training document had gets ln(1 + N) + 1. A row's value in bucket b is the
 * signed count of its tokens hashed there, times idf(b); then the column's entries are divided by
 * their L2 norm. */
#include "features/pipeline_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline bool tok_byte(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80;
}

static float idf_of(const fw__col *c, uint32_t idx) {
    uint32_t lo = 0, hi = c->n_idf;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (c->idf_idx[mid] < idx) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n_idf && c->idf_idx[lo] == idx ? c->idf_val[lo] : c->idf_unseen;
}

fw_status fw__text_apply(const fw__col *c, const fw__str *v, fw_pipeline_scratch *s, uint32_t dim_mask) {
    if (!v->p || !v->len) return FW_OK;
    size_t len = v->len;
    if (s->tok_cap < len && FW_GROW(&s->tok, &s->tok_cap, len)) return FW_ENOMEM;
    if (fw__scratch_reserve(s, len + 2)) return FW_ENOMEM;
    char *t = s->tok;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v->p[i];
        t[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    size_t seg = s->n_ent;
    uint64_t prev = 0;
    bool have_prev = false;
    for (size_t i = 0; i < len;) {
        if (!tok_byte((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t b = i;
        while (i < len && tok_byte((unsigned char)t[i])) i++;
        uint64_t h = fw_feature_hash64(c->seed, t + b, i - b);
        fw__scratch_push(s, (uint32_t)(h & dim_mask), (h >> 63) ? -1.0f : 1.0f);
        if (c->bigrams && have_prev) {
            uint64_t h2 = fw_feature_hash64(fw_feature_bigram_seed(c->seed, prev), t + b, i - b);
            fw__scratch_push(s, (uint32_t)(h2 & dim_mask), (h2 >> 63) ? -1.0f : 1.0f);
        }
        prev = h;
        have_prev = true;
    }
    size_t n = fw_sparse_merge(s->ent + seg, s->n_ent - seg);
    double ss = 0;
    for (size_t k = 0; k < n; k++) {
        fw__entry *e = &s->ent[seg + k];
        if (c->tfidf) e->val *= idf_of(c, e->idx);
        ss += (double)e->val * (double)e->val;
    }
    if (ss > 0) {
        double inv = 1.0 / sqrt(ss);
        for (size_t k = 0; k < n; k++) s->ent[seg + k].val = (float)((double)s->ent[seg + k].val * inv);
    }
    s->n_ent = seg + n;
    return FW_OK;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

fw_status fw__text_fit(fw__col *c, const fw__str *vals, size_t n, uint32_t dim_mask, fw_err *err) {
    if (!c->tfidf) return FW_OK;
    fw_pipeline_scratch s;
    memset(&s, 0, sizeof s);
    fw__col raw = *c;
    raw.tfidf = false;
    uint32_t *df = NULL;
    size_t n_df = 0, cap = 0, docs = 0;
    fw_status st = FW_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (!vals[i].p) continue;
        docs++;
        s.n_ent = 0;
        if ((st = fw__text_apply(&raw, &vals[i], &s, dim_mask))) break;
        if ((st = FW_GROW(&df, &cap, n_df + s.n_ent))) break;
        for (size_t k = 0; k < s.n_ent; k++) df[n_df++] = s.ent[k].idx;
    }
    if (!st) qsort(df, n_df, sizeof *df, cmp_u32);
    size_t distinct = 0;
    for (size_t k = 0; !st && k < n_df; k++) distinct += (k == 0 || df[k] != df[k - 1]);
    if (!st && distinct) {
        c->idf_idx = fw_malloc(distinct * sizeof(uint32_t));
        c->idf_val = fw_malloc(distinct * sizeof(float));
        if (!c->idf_idx || !c->idf_val) st = FW_ENOMEM;
    }
    if (!st) {
        double N = (double)docs;
        c->n_idf = 0;
        for (size_t k = 0; k < n_df;) {
            size_t e = k;
            while (e < n_df && df[e] == df[k]) e++;
            c->idf_idx[c->n_idf] = df[k];
            c->idf_val[c->n_idf] = (float)(log((1 + N) / (1 + (double)(e - k))) + 1);
            c->n_idf++;
            k = e;
        }
        c->idf_unseen = (float)(log(1 + N) + 1);
    }
    fw_free(df);
    fw_free(s.ent);
    fw_free(s.indices);
    fw_free(s.values);
    fw_free(s.tok);
    if (st) return fw_err_set(err, st, "out of memory");
    return FW_OK;
}
