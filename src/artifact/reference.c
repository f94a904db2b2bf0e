/* reference.c — owns building (a column per thread at a time), saving and loading the training
 * reference profile. */
#include "artifact/reference.h"

#include "core/alloc.h"
#include "core/select.h"
#include "core/threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINS 4096u

static void column_free(fw_ref_column *c) {
    fw_free(c->name);
    fw_free(c->edges);
    fw_free(c->counts);
    for (uint32_t i = 0; c->top_values && i < c->n_top; i++) fw_free(c->top_values[i]);
    fw_free(c->top_values);
    fw_free(c->top_counts);
    memset(c, 0, sizeof *c);
}

void fw_reference_free(fw_reference *r) {
    if (!r) return;
    for (size_t i = 0; r->cols && i < r->n_columns; i++) column_free(&r->cols[i]);
    for (size_t i = 0; r->pred && i < r->n_outputs; i++) column_free(&r->pred[i]);
    fw_free(r->cols);
    fw_free(r->pred);
    fw_free(r);
}

const fw_ref_column *fw_reference_column(const fw_reference *r, const char *name) {
    for (size_t i = 0; i < r->n_columns; i++)
        if (strcmp(r->cols[i].name, name) == 0) return &r->cols[i];
    return NULL;
}

/* The bin of x: the last b with edges[b] <= x, 0 below edges[1] (edges strictly increase). */
static uint32_t bin_of(const fw_ref_column *c, double x) {
    uint32_t lo = 0, hi = c->n_bins - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (x >= c->edges[mid]) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Point masses (a value tied on at least 1/n_bins of the non-missing rows: the zeros of a
 * zero-inflated column, the levels of a count or a 0/1 column) get a bin of their own,
 * [v, nextafter(v)), and the other values are quantile-binned among themselves into the remaining
 * n_bins - P bins; bins left empty by that (between two adjacent masses) are merged into the one
 * below. Without it the quantile edges collapse on the ties (a column 0 in 90% of the rows had a
 * single bin: no drift test at all). v[0..m) holds the values, partitioned around ks[0..n_bins]
 * (fw_select_doubles); *done = false when the column has no point mass (the caller bins as before,
 * so such columns keep their old bytes). */
static fw_status point_mass_profile(fw_ref_column *c, double *v, size_t m, const size_t *ks, uint32_t n_bins,
                                    bool *done) {
    *done = false;
    if (n_bins < 2 || n_bins > MAX_BINS / 2) return FW_OK;
    /* a value on at least m / n_bins rows covers one of the quantile positions: the candidates are
     * the distinct values there; count each one's ties with the partition (a value strictly between
     * two positions' values cannot equal any candidate) */
    double *cand = fw_malloc((n_bins + 1) * sizeof *cand);
    uint64_t *cnt = fw_calloc(n_bins + 1, sizeof *cnt);
    uint32_t *ci = fw_malloc((n_bins + 1) * sizeof *ci);
    double *pv = fw_malloc((n_bins + 1) * sizeof *pv);
    uint64_t *pc = fw_malloc((n_bins + 1) * sizeof *pc);
    double *edges = fw_malloc((2 * (size_t)n_bins + 4) * sizeof *edges);
    size_t *rks = fw_malloc((n_bins + 1) * sizeof *rks);
    fw_status st = FW_OK;
    if (!cand || !cnt || !ci || !pv || !pc || !edges || !rks) {
        st = FW_ENOMEM;
        goto out;
    }
    uint32_t nc = 0;
    for (uint32_t i = 0; i <= n_bins; i++) {
        double x = v[ks[i]];
        if (nc == 0 || x > cand[nc - 1]) cand[nc++] = x;
        ci[i] = nc - 1;
    }
    for (uint32_t s = 0; s < n_bins; s++) {
        double lo_v = v[ks[s]], hi_v = v[ks[s + 1]];
        for (size_t i = ks[s]; i < ks[s + 1]; i++) {
            if (v[i] == lo_v) cnt[ci[s]]++;
            else if (v[i] == hi_v) cnt[ci[s + 1]]++;
        }
    }
    cnt[ci[n_bins]]++; /* v[m - 1] */
    uint32_t np = 0;
    uint64_t in_mass = 0;
    for (uint32_t j = 0; j < nc; j++)
        if (cnt[j] >= 2 && cnt[j] * (uint64_t)n_bins >= m) {
            pv[np] = cand[j];
            pc[np++] = cnt[j];
            in_mass += cnt[j];
        }
    if (np == 0) goto out;
    /* the rest to the front of v, quantile-binned among themselves */
    size_t r = 0;
    for (size_t i = 0; i < m; i++) {
        double x = v[i];
        uint32_t lo = 0, hi = np; /* is x one of pv (sorted)? */
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (pv[mid] < x) lo = mid + 1;
            else hi = mid;
        }
        if (lo < np && pv[lo] == x) continue;
        v[r++] = x;
    }
    if (r != m - in_mass) { /* cannot happen: the ties were counted exactly */
        st = FW_EINVAL;
        goto out;
    }
    uint32_t ne = 0;
    if (r > 0) {
        uint32_t nr = n_bins > np ? n_bins - np : 1;
        for (uint32_t i = 0; i <= nr; i++) rks[i] = (size_t)((double)(r - 1) * i / nr);
        fw_select_doubles(v, r, rks, nr + 1);
        for (uint32_t i = 0; i <= nr; i++) edges[ne++] = v[rks[i]];
    }
    for (uint32_t j = 0; j < np; j++) {
        edges[ne++] = pv[j];
        edges[ne++] = nextafter(pv[j], INFINITY);
    }
    qsort(edges, ne, sizeof *edges, cmp_double);
    uint32_t nu = 0;
    for (uint32_t i = 0; i < ne; i++)
        if (nu == 0 || edges[i] > edges[nu - 1]) edges[nu++] = edges[i];
    if (nu == 1) edges[nu++] = edges[0]; /* [inf, inf] */
    /* the last edge is the maximum, or just above it when the maximum is a point mass */
    uint32_t nb = nu - 1;
    uint64_t *counts = fw_calloc(nb, sizeof *counts);
    if (!counts) {
        st = FW_ENOMEM;
        goto out;
    }
    c->edges = edges;
    c->n_bins = nb;
    edges = NULL;
    for (uint32_t j = 0; j < np; j++) counts[bin_of(c, pv[j])] += pc[j];
    if (r > 0) {
        /* the rest is partitioned around rks: a segment's values strictly between its two order
         * statistics share one bin unless a point mass lies between them (then each is searched) */
        uint32_t nr = n_bins > np ? n_bins - np : 1;
        for (uint32_t q = 0; q < nr; q++) {
            double lo_v = v[rks[q]], hi_v = v[rks[q + 1]];
            bool split = false;
            for (uint32_t j = 0; j < np && !split; j++) split = pv[j] > lo_v && pv[j] < hi_v;
            uint32_t b_in = bin_of(c, lo_v);
            size_t inside = 0;
            for (size_t i = rks[q]; i < rks[q + 1]; i++) {
                double x = v[i];
                if (!split && x > lo_v && x < hi_v) inside++;
                else counts[bin_of(c, x)]++;
            }
            counts[b_in] += inside;
        }
        counts[bin_of(c, v[r - 1])]++; /* rks[nr] = r - 1 */
    }
    /* merge empty bins into the one below (bin 0 holds the minimum: never empty) */
    uint32_t kept = 1;
    for (uint32_t b = 1; b < nb; b++)
        if (counts[b]) {
            c->edges[kept] = c->edges[b];
            counts[kept++] = counts[b];
        }
    c->edges[kept] = c->edges[nb];
    c->n_bins = kept;
    c->counts = counts;
    *done = true;
out:
    fw_free(cand);
    fw_free(cnt);
    fw_free(ci);
    fw_free(pv);
    fw_free(pc);
    fw_free(edges);
    fw_free(rks);
    return st;
}

/* Numeric profile of v[0..n) (NaN = missing); v is reordered. */
static fw_status numeric_profile(fw_ref_column *c, double *v, size_t n, uint32_t n_bins) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    c->n_rows = n;
    c->n_missing = n - m;
    c->min = c->max = NAN;
    if (m == 0) return FW_OK;
    /* the quantile positions' order statistics (a selection, not a full sort), the values a
     * sort would put there */
    size_t ks[MAX_BINS + 1];
    for (uint32_t i = 0; i <= n_bins; i++) ks[i] = (size_t)((double)(m - 1) * i / n_bins);
    fw_select_doubles(v, m, ks, n_bins + 1);
    c->min = v[0];
    c->max = v[m - 1];
    bool done;
    fw_status st = point_mass_profile(c, v, m, ks, n_bins, &done);
    if (st || done) return st;
    c->edges = fw_malloc((n_bins + 1) * sizeof *c->edges);
    if (!c->edges) return FW_ENOMEM;
    /* quantile edges, duplicates dropped (a constant column has one bin) */
    uint32_t ne = 0;
    for (uint32_t i = 0; i <= n_bins; i++) {
        double e = v[ks[i]];
        if (ne == 0 || e > c->edges[ne - 1]) c->edges[ne++] = e;
    }
    if (ne == 1) c->edges[ne++] = v[0]; /* [x, x] */
    c->n_bins = ne - 1;
    c->counts = fw_calloc(c->n_bins, sizeof *c->counts);
    if (!c->counts) return FW_ENOMEM;
    /* bin b: the last with edges[b] <= v (bin 0 below edges[1]). The selection left v partitioned
     * around every ks: a value strictly between its segment's two order statistics is in the
     * lower one's bin; only values equal to one of them need the search. */
    for (uint32_t s = 0; s < n_bins; s++) {
        double lo_v = v[ks[s]], hi_v = v[ks[s + 1]];
        uint32_t b_lo = bin_of(c, lo_v);
        size_t inside = 0;
        for (size_t i = ks[s]; i < ks[s + 1]; i++) {
            double x = v[i];
            if (x > lo_v && x < hi_v) inside++;
            else c->counts[bin_of(c, x)]++;
        }
        c->counts[b_lo] += inside;
    }
    c->counts[bin_of(c, v[m - 1])]++; /* ks[n_bins] = m - 1 */
    return FW_OK;
}

typedef struct cat_count {
    int32_t code;
    uint64_t count;
    const char *s;
} cat_count;

static int cmp_cat(const void *a, const void *b) {
    const cat_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->s, y->s);
}

static fw_status categorical_profile(fw_ref_column *c, const fw_column *col, const uint32_t *rows, size_t n) {
    size_t nd = fw_dict_size(&col->dict);
    cat_count *cc = fw_calloc(nd ? nd : 1, sizeof *cc);
    if (!cc) return FW_ENOMEM;
    c->n_rows = n;
    for (size_t i = 0; i < n; i++) {
        int32_t code = col->code[rows ? rows[i] : i];
        if (code < 0)
            c->n_missing++;
        else
            cc[code].count++;
    }
    size_t used = 0;
    for (size_t k = 0; k < nd; k++)
        if (cc[k].count) cc[used++] = (cat_count){(int32_t)k, cc[k].count, fw_dict_str(&col->dict, (int32_t)k)};
    qsort(cc, used, sizeof *cc, cmp_cat);
    c->n_distinct = used;
    c->n_top = (uint32_t)(used < FW_REFERENCE_TOP_N ? used : FW_REFERENCE_TOP_N);
    c->min = c->max = NAN;
    c->top_values = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_values);
    c->top_counts = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_counts);
    if (!c->top_values || !c->top_counts) {
        fw_free(cc);
        return FW_ENOMEM;
    }
    for (uint32_t i = 0; i < c->n_top; i++) {
        c->top_values[i] = fw_strndup(cc[i].s, fw_dict_len(&col->dict, cc[i].code));
        c->top_counts[i] = cc[i].count;
        if (!c->top_values[i]) {
            fw_free(cc);
            return FW_ENOMEM;
        }
    }
    for (size_t i = c->n_top; i < used; i++) c->other_count += cc[i].count;
    fw_free(cc);
    return FW_OK;
}

/* The columns' profiles, one column per block on every thread (each writes its own column,
 * with its thread's scratch): the same bytes whatever the threads. */
typedef struct build_ctx {
    const fw_dataset *ds;
    const uint32_t *rows;
    size_t n_rows;
    const int *col;         /* dataset column of each profiled column */
    fw_reference *r;
    uint32_t n_bins;
    double **tmp;           /* per thread: n_rows values */
    fw_status *st;          /* per column */
} build_ctx;

static void build_column(void *vctx, int thread, size_t j, size_t begin, size_t end) {
    (void)begin;
    (void)end;
    build_ctx *b = vctx;
    const fw_column *col = &b->ds->cols[b->col[j]];
    fw_ref_column *rc = &b->r->cols[j];
    if (col->num) {
        double *tmp = b->tmp[thread];
        for (size_t i = 0; i < b->n_rows; i++) tmp[i] = col->num[b->rows ? b->rows[i] : i];
        b->st[j] = numeric_profile(rc, tmp, b->n_rows, b->n_bins);
    } else {
        b->st[j] = categorical_profile(rc, col, b->rows, b->n_rows);
    }
}

fw_status fw_reference_build(const fw_dataset *ds, const uint32_t *rows, size_t n_rows, const char *const *columns,
                             size_t n_columns, const double *pred, size_t n_pred, size_t n_outputs, uint32_t n_bins,
                             fw_reference **out, fw_err *err) {
    return fw_reference_build_threads(ds, rows, n_rows, columns, n_columns, pred, n_pred, n_outputs, n_bins, 1, out,
                                      err);
}

fw_status fw_reference_build_threads(const fw_dataset *ds, const uint32_t *rows, size_t n_rows,
                                     const char *const *columns, size_t n_columns, const double *pred, size_t n_pred,
                                     size_t n_outputs, uint32_t n_bins, int threads, fw_reference **out, fw_err *err) {
    *out = NULL;
    if (n_bins == 0) n_bins = 10;
    if (n_bins > MAX_BINS) return fw_err_set(err, FW_EINVAL, "reference: %u bins is too many (at most %u)", n_bins, MAX_BINS);
    if (!rows) n_rows = ds->n_rows;
    int nt = threads > 0 ? threads : 1;
    if ((size_t)nt > n_columns) nt = n_columns ? (int)n_columns : 1;
    fw_reference *r = fw_calloc(1, sizeof *r);
    if (!r) return fw_err_set(err, FW_ENOMEM, "out of memory");
    r->cols = fw_calloc(n_columns ? n_columns : 1, sizeof *r->cols);
    r->pred = fw_calloc(n_outputs ? n_outputs : 1, sizeof *r->pred);
    int *col_of = fw_malloc((n_columns ? n_columns : 1) * sizeof *col_of);
    fw_status *col_st = fw_calloc(n_columns ? n_columns : 1, sizeof *col_st);
    double **tmps = fw_calloc((size_t)nt, sizeof *tmps);
    size_t tmp_n = n_rows > n_pred ? n_rows : n_pred;
    fw_status st = (!r->cols || !r->pred || !col_of || !col_st || !tmps) ? FW_ENOMEM : FW_OK;
    for (int t = 0; t < nt && !st; t++)
        if (!(tmps[t] = fw_malloc((tmp_n ? tmp_n : 1) * sizeof(double)))) st = FW_ENOMEM;
    for (size_t j = 0; j < n_columns && !st; j++) {
        int c = fw_dataset_find(ds, columns[j]);
        if (c < 0) {
            for (int t = 0; t < nt; t++) fw_free(tmps[t]);
            fw_free(tmps);
            fw_free(col_of);
            fw_free(col_st);
            fw_reference_free(r);
            return fw_err_set(err, FW_ESCHEMA, "reference: no column '%s' in %s", columns[j],
                              ds->source ? ds->source : "the dataset");
        }
        col_of[j] = c;
        fw_ref_column *rc = &r->cols[r->n_columns++];
        rc->name = fw_strdup(ds->cols[c].name);
        rc->type = ds->cols[c].type;
        if (!rc->name) st = FW_ENOMEM;
    }
    if (!st && n_columns) {
        build_ctx b = {ds, rows, n_rows, col_of, r, n_bins, tmps, col_st};
        fw_parallel_blocks(nt, n_columns, 1, build_column, &b);
        for (size_t j = 0; j < n_columns && !st; j++) st = col_st[j];
    }
    for (size_t k = 0; k < n_outputs && pred && !st; k++) {
        fw_ref_column *pc = &r->pred[r->n_outputs++];
        pc->name = fw_malloc(32);
        if (!pc->name) {
            st = FW_ENOMEM;
            break;
        }
        snprintf(pc->name, 32, "output_%zu", k);
        pc->type = FW_COL_NUMERIC;
        for (size_t i = 0; i < n_pred; i++) tmps[0][i] = pred[i * n_outputs + k];
        st = numeric_profile(pc, tmps[0], n_pred, n_bins);
    }
    for (int t = 0; tmps && t < nt; t++) fw_free(tmps[t]);
    fw_free(tmps);
    fw_free(col_of);
    fw_free(col_st);
    if (st) {
        fw_reference_free(r);
        return fw_err_set(err, st, "reference: out of memory");
    }
    *out = r;
    return FW_OK;
}

static void save_column(const fw_ref_column *c, fw_buf *b) {
    fw_buf_put_str(b, c->name);
    fw_buf_put_u32(b, (uint32_t)c->type);
    fw_buf_put_u64(b, c->n_rows);
    fw_buf_put_u64(b, c->n_missing);
    fw_buf_put_f64(b, c->min);
    fw_buf_put_f64(b, c->max);
    fw_buf_put_u32(b, c->n_bins);
    if (c->n_bins) {
        fw_buf_put_f64s(b, c->edges, c->n_bins + 1);
        for (uint32_t i = 0; i < c->n_bins; i++) fw_buf_put_u64(b, c->counts[i]);
    }
    fw_buf_put_u32(b, c->n_top);
    for (uint32_t i = 0; i < c->n_top; i++) {
        fw_buf_put_str(b, c->top_values[i]);
        fw_buf_put_u64(b, c->top_counts[i]);
    }
    fw_buf_put_u64(b, c->other_count);
    fw_buf_put_u64(b, c->n_distinct);
}

fw_status fw_reference_save(const fw_reference *r, fw_buf *out) {
    fw_buf_put_u32(out, FW_REFERENCE_VERSION);
    fw_buf_put_u32(out, (uint32_t)r->n_columns);
    for (size_t i = 0; i < r->n_columns; i++) save_column(&r->cols[i], out);
    fw_buf_put_u32(out, (uint32_t)r->n_outputs);
    for (size_t i = 0; i < r->n_outputs; i++) save_column(&r->pred[i], out);
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}

static bool load_column(fw_reader *rd, fw_ref_column *c) {
    if (!fw_reader_str(rd, &c->name) || !c->name) return false;
    c->type = (fw_col_type)fw_reader_u32(rd);
    if ((unsigned)c->type > FW_COL_TIMESTAMP) return false;
    c->n_rows = fw_reader_u64(rd);
    c->n_missing = fw_reader_u64(rd);
    c->min = fw_reader_f64(rd);
    c->max = fw_reader_f64(rd);
    c->n_bins = fw_reader_u32(rd);
    if (c->n_bins > MAX_BINS || (size_t)c->n_bins * 16 > fw_reader_left(rd)) return false;
    if (c->n_bins) {
        c->edges = fw_malloc((c->n_bins + 1) * sizeof *c->edges);
        c->counts = fw_malloc(c->n_bins * sizeof *c->counts);
        if (!c->edges || !c->counts || !fw_reader_f64s(rd, c->edges, c->n_bins + 1)) return false;
        for (uint32_t i = 0; i < c->n_bins; i++) c->counts[i] = fw_reader_u64(rd);
    }
    c->n_top = fw_reader_u32(rd);
    if (c->n_top > FW_REFERENCE_TOP_N * 64 || (size_t)c->n_top * 12 > fw_reader_left(rd)) return false;
    c->top_values = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_values);
    c->top_counts = fw_calloc(c->n_top ? c->n_top : 1, sizeof *c->top_counts);
    if (!c->top_values || !c->top_counts) return false;
    for (uint32_t i = 0; i < c->n_top; i++) {
        if (!fw_reader_str(rd, &c->top_values[i]) || !c->top_values[i]) return false;
        c->top_counts[i] = fw_reader_u64(rd);
    }
    c->other_count = fw_reader_u64(rd);
    c->n_distinct = fw_reader_u64(rd);
    return fw_reader_ok(rd);
}

fw_status fw_reference_load(const uint8_t *data, size_t len, fw_reference **out, fw_err *err) {
    *out = NULL;
    fw_reader rd;
    fw_reader_init(&rd, data, len);
    uint32_t version = fw_reader_u32(&rd);
    if (fw_reader_ok(&rd) && version != FW_REFERENCE_VERSION)
        return fw_err_set(err, FW_EVERSION, "reference profile version %u is not supported (this build reads %u)",
                          version, FW_REFERENCE_VERSION);
    uint32_t nc = fw_reader_u32(&rd);
    if (!fw_reader_ok(&rd) || (size_t)nc * 40 > fw_reader_left(&rd))
        return fw_err_set(err, FW_ECORRUPT, "reference profile: bad column count");
    fw_reference *r = fw_calloc(1, sizeof *r);
    if (!r || !(r->cols = fw_calloc(nc ? nc : 1, sizeof *r->cols))) {
        fw_reference_free(r);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < nc; i++) {
        r->n_columns++;
        if (!load_column(&rd, &r->cols[i])) goto bad;
    }
    uint32_t no = fw_reader_u32(&rd);
    if (!fw_reader_ok(&rd) || (size_t)no * 40 > fw_reader_left(&rd)) goto bad;
    if (!(r->pred = fw_calloc(no ? no : 1, sizeof *r->pred))) goto bad;
    for (uint32_t i = 0; i < no; i++) {
        r->n_outputs++;
        if (!load_column(&rd, &r->pred[i])) goto bad;
    }
    if (fw_reader_left(&rd) != 0) goto bad;
    *out = r;
    return FW_OK;
bad:
    fw_reference_free(r);
    return fw_err_set(err, FW_ECORRUPT, "reference profile is malformed or truncated");
}
