/* pipeline.c — owns the fitted feature pipeline as a whole (see pipeline.h): fitting every
 * column's transform on training rows, the output layout (dense offsets and names, the shared
 * hashed space), the record path with its per-thread scratch, the block path built on it, and the
 * deterministic binary format. The per-kind transforms live in numeric.c, categorical.c, text.c,
 * timestamp.c and cross.c.
 *
 * Format (little-endian, through core/buf.h), version 1:
 *   "FWPL" u32 version u32 hash_bits u32 n_cols, then per column:
 *     str name, u8 type, u8 impute, u8 scale, u8 encode, u8 flags (1 missing_indicator, 2 tfidf,
 *     4 bigrams, 8 timestamp parts follow), [u8 parts: FW__TS_* bits, only with flag 8; without
 *     it a timestamp has hour, dow, month, age_days], u64 seed, f64 fill, f64 center, f64 div, f64 ref,
 *     u32 n_edges + f64[n_edges] (strictly increasing),
 *     u32 n_cats + str[n_cats] (strictly increasing by strcmp),
 *     u32 n_idf + u32[n_idf] (strictly increasing, < 2^hash_bits) + f32[n_idf] + f32 idf_unseen;
 *   u32 n_crosses, per cross: u32 n (2..8), u32 cols[n] (< n_cols), u64 seed.
 * Load checks every count against the bytes left and every index against its bound. */
#include "features/pipeline.h"

#include "core/alloc.h"
#include "core/threads.h"
#include "features/pipeline_int.h"
#include "core/dtoa.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PIPELINE_MAGIC 0x4c505746u /* "FWPL" */
#define PIPELINE_VERSION 1u
#define MAX_INPUTS 1000000u

/* ---- values and scratch --------------------------------------------------------------------- */

bool fw__value_str(const fw_value *v, char buf[32], fw__str *out) {
    if (v->kind == FW_VALUE_STRING && v->str) {
        out->p = v->str;
        out->len = v->len;
        return true;
    }
    if (v->kind == FW_VALUE_NUMBER && !isnan(v->num)) {
        out->len = fw_num_format(v->num, buf);
        out->p = buf;
        return true;
    }
    out->p = NULL;
    out->len = 0;
    return false;
}

fw_status fw__scratch_reserve(fw_pipeline_scratch *s, size_t extra) {
    size_t need = s->n_ent + extra;
    if (need > s->ent_cap && FW_GROW(&s->ent, &s->ent_cap, need)) return FW_ENOMEM;
    if (s->out_cap < s->ent_cap) {
        uint32_t *ni = fw_realloc(s->indices, s->ent_cap * sizeof(uint32_t));
        if (!ni) return FW_ENOMEM;
        s->indices = ni;
        float *nv = fw_realloc(s->values, s->ent_cap * sizeof(float));
        if (!nv) return FW_ENOMEM;
        s->values = nv;
        s->out_cap = s->ent_cap;
    }
    return FW_OK;
}

fw_status fw_pipeline_scratch_new(const fw_pipeline *pl, fw_pipeline_scratch **out) {
    fw_pipeline_scratch *s = fw_calloc(1, sizeof *s);
    if (!s) return FW_ENOMEM;
    if (fw__scratch_reserve(s, (size_t)pl->n_cols + pl->n_crosses + 64)) {
        fw_pipeline_scratch_free(s);
        return FW_ENOMEM;
    }
    *out = s;
    return FW_OK;
}

fw_status fw_pipeline_scratch_reserve_text(const fw_pipeline *pl, fw_pipeline_scratch *s, size_t text_bytes) {
    /* a record's entries: one per column and cross, and at most len + 2 per text value (unigrams and
     * bigrams of tokens at least one byte apart), as fw__text_apply reserves them */
    s->n_ent = 0;
    if (text_bytes && s->tok_cap < text_bytes && FW_GROW(&s->tok, &s->tok_cap, text_bytes)) return FW_ENOMEM;
    return fw__scratch_reserve(s, (size_t)pl->n_cols * 3 + pl->n_crosses + text_bytes + 64);
}

void fw_pipeline_scratch_free(fw_pipeline_scratch *s) {
    if (!s) return;
    fw_free(s->ent);
    fw_free(s->indices);
    fw_free(s->values);
    fw_free(s->tok);
    fw_free(s);
}

/* ---- lifetime, layout, accessors ------------------------------------------------------------ */

static void col_free(fw__col *c) {
    fw_free(c->name);
    fw_free(c->edges);
    for (uint32_t i = 0; i < c->n_cats; i++) fw_free(c->cats[i]);
    fw_free(c->cats);
    fw_free(c->idf_idx);
    fw_free(c->idf_val);
    fw_strmap_free(&c->cat_map);
}

void fw_pipeline_free(fw_pipeline *pl) {
    if (!pl) return;
    for (uint32_t i = 0; i < pl->n_cols; i++) col_free(&pl->cols[i]);
    fw_free(pl->cols);
    fw_free(pl->crosses);
    if (pl->dense_names)
        for (size_t j = 0; j < pl->n_dense; j++) fw_free(pl->dense_names[j]);
    fw_free(pl->dense_names);
    fw_strmap_free(&pl->input_map);
    fw_free(pl);
}

static uint32_t col_n_dense(const fw__col *c) {
    uint32_t ind = c->missing_indicator ? 1 : 0;
    switch (c->type) {
    case FW_COL_NUMERIC: return 1 + ind;
    case FW_COL_CATEGORICAL: return (c->encode == FW_ENCODE_HASH ? 0 : c->n_cats + 1) + ind;
    case FW_COL_TEXT: return ind;
    case FW_COL_TIMESTAMP: return fw__timestamp_n_parts(c->ts_parts) + ind;
    }
    return 0;
}

static char *name2(const char *a, const char *sep, const char *b) {
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = fw_malloc(la + ls + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

/* Computes the derived fields: dense offsets and names, sparse_dim, the input map. */
static fw_status layout(fw_pipeline *pl) {
    size_t n = 0;
    bool hashed = pl->n_crosses > 0;
    for (uint32_t i = 0; i < pl->n_cols; i++) {
        fw__col *c = &pl->cols[i];
        c->dense_off = (uint32_t)n;
        c->n_dense = col_n_dense(c);
        n += c->n_dense;
        if (c->type == FW_COL_TEXT || (c->type == FW_COL_CATEGORICAL && c->encode == FW_ENCODE_HASH))
            hashed = true;
        if (fw_strmap_put(&pl->input_map, c->name, strlen(c->name), i)) return FW_ENOMEM;
    }
    pl->sparse_dim = hashed ? (uint32_t)1 << pl->hash_bits : 0;
    pl->n_dense = n;
    pl->dense_names = fw_calloc(n ? n : 1, sizeof(char *));
    if (!pl->dense_names) return FW_ENOMEM;
    for (uint32_t i = 0; i < pl->n_cols; i++) {
        const fw__col *c = &pl->cols[i];
        char **out = pl->dense_names + c->dense_off;
        size_t k = 0;
        switch (c->type) {
        case FW_COL_NUMERIC: out[k++] = fw_strdup(c->name); break;
        case FW_COL_CATEGORICAL:
            if (c->encode == FW_ENCODE_HASH) break;
            for (uint32_t j = 0; j < c->n_cats; j++) out[k++] = name2(c->name, "=", c->cats[j]);
            out[k++] = name2(c->name, "=", "__unknown__");
            break;
        case FW_COL_TIMESTAMP:
            for (uint32_t j = 0; j < fw__timestamp_n_parts(c->ts_parts); j++)
                out[k++] = name2(c->name, fw__timestamp_part_name(c->ts_parts, j), "");
            break;
        default: break;
        }
        if (c->missing_indicator) out[k++] = name2(c->name, "_missing", "");
        for (size_t j = 0; j < k; j++)
            if (!out[j]) return FW_ENOMEM;
    }
    return FW_OK;
}

size_t fw_pipeline_n_dense(const fw_pipeline *pl) { return pl->n_dense; }

const char *fw_pipeline_dense_input_name(const fw_pipeline *pl, size_t j) {
    for (uint32_t i = 0; i < pl->n_cols; i++)
        if (j >= pl->cols[i].dense_off && j < (size_t)pl->cols[i].dense_off + pl->cols[i].n_dense)
            return pl->cols[i].name;
    return NULL;
}
uint32_t fw_pipeline_sparse_dim(const fw_pipeline *pl) { return pl->sparse_dim; }
const char *fw_pipeline_dense_name(const fw_pipeline *pl, size_t j) {
    return j < pl->n_dense ? pl->dense_names[j] : NULL;
}
size_t fw_pipeline_n_inputs(const fw_pipeline *pl) { return pl->n_cols; }
const char *fw_pipeline_input_name(const fw_pipeline *pl, size_t i) {
    return i < pl->n_cols ? pl->cols[i].name : NULL;
}
fw_col_type fw_pipeline_input_type(const fw_pipeline *pl, size_t i) {
    return i < pl->n_cols ? (fw_col_type)pl->cols[i].type : FW_COL_NUMERIC;
}
int fw_pipeline_input_index(const fw_pipeline *pl, const char *name, size_t len) {
    return (int)fw_strmap_get(&pl->input_map, name, len);
}
int fw_pipeline_category_known(const fw_pipeline *pl, size_t i, const char *s, size_t len) {
    if (i >= pl->n_cols) return -1;
    const fw__col *c = &pl->cols[i];
    if (c->type != FW_COL_CATEGORICAL || c->encode != FW_ENCODE_ONEHOT) return -1;
    return fw_strmap_get(&c->cat_map, s, len) >= 0;
}

fw_status fw_pipeline_input_num(const fw_pipeline *pl, size_t i, const fw_value *v, double *out, fw_err *err) {
    if (i >= pl->n_cols) {
        *out = NAN;
        return fw_err_set(err, FW_EINVAL, "no input %zu", i);
    }
    return fw__value_num(&pl->cols[i], v, out, err);
}

/* ---- fit ------------------------------------------------------------------------------------ */

/* The record value of dataset cell (col, r): numbers for numeric/timestamp columns, strings else. */
static fw_value ds_value(const fw_dataset *ds, size_t col, size_t r) {
    const fw_column *c = &ds->cols[col];
    fw_value v = {FW_VALUE_MISSING, 0, NULL, 0};
    if (c->num) {
        if (!isnan(c->num[r])) v.kind = FW_VALUE_NUMBER, v.num = c->num[r];
    } else if (c->code && c->code[r] >= 0) {
        v.kind = FW_VALUE_STRING;
        v.str = fw_dict_str(&c->dict, c->code[r]);
        v.len = fw_dict_len(&c->dict, c->code[r]);
    }
    return v;
}

static fw_status fit_column(fw_pipeline *pl, fw__col *c, const fw_feature_spec *f, const fw_dataset *ds,
                            size_t col, const uint32_t *rows, size_t n, fw_err *err) {
    c->type = (uint8_t)f->type;
    c->missing_indicator = f->missing_indicator;
    c->seed = fw_feature_seed(c->name);
    c->fill = NAN;
    c->div = 1;
    fw_status st = FW_OK;
    if (c->type == FW_COL_NUMERIC || c->type == FW_COL_TIMESTAMP) {
        double *v = fw_malloc((n ? n : 1) * sizeof(double));
        if (!v) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n && !st; i++) {
            fw_value val = ds_value(ds, col, rows ? rows[i] : i);
            st = c->type == FW_COL_NUMERIC ? fw__value_num(c, &val, &v[i], err) : fw__value_time(c, &val, &v[i], err);
            if (st) fw_err_prefix(err, "training row %zu", (rows ? rows[i] : i) + 1);
        }
        if (!st) st = c->type == FW_COL_NUMERIC ? fw__numeric_fit(c, f, v, n, err) : fw__timestamp_fit(c, v, n, err);
        fw_free(v);
        return st;
    }
    fw__str *sv = fw_malloc((n ? n : 1) * sizeof *sv);
    char(*nb)[32] = ds->cols[col].num ? fw_malloc((n ? n : 1) * 32) : NULL;
    if (!sv || (ds->cols[col].num && !nb)) {
        fw_free(sv);
        fw_free(nb);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        fw_value val = ds_value(ds, col, rows ? rows[i] : i);
        if (!fw__value_str(&val, nb ? nb[i] : NULL, &sv[i])) sv[i].p = NULL;
    }
    if (c->type == FW_COL_CATEGORICAL) {
        st = fw__categorical_fit(c, f, sv, n, err);
    } else {
        c->tfidf = f->tfidf;
        c->bigrams = f->bigrams;
        st = fw__text_fit(c, sv, n, ((uint32_t)1 << pl->hash_bits) - 1, err);
    }
    fw_free(sv);
    fw_free(nb);
    return st;
}

/* The columns' fits, one column per block on every thread: each fits only its own column. */
typedef struct fit_ctx {
    fw_pipeline *pl;
    const fw_project *p;
    const fw_dataset *ds;
    const int *col;
    const uint32_t *rows;
    size_t n_rows;
    fw_status *st;
    fw_err *errs;
} fit_ctx;

static void fit_block(void *vctx, int thread, size_t i, size_t begin, size_t end) {
    (void)thread;
    (void)begin;
    (void)end;
    fit_ctx *f = vctx;
    f->st[i] = fit_column(f->pl, &f->pl->cols[i], &f->p->features[i], f->ds, (size_t)f->col[i], f->rows, f->n_rows,
                          &f->errs[i]);
}

fw_status fw_pipeline_fit(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                          size_t n_rows, fw_pipeline **out, fw_err *err) {
    return fw_pipeline_fit_threads(p, ds, rows, n_rows, 1, out, err);
}

fw_status fw_pipeline_fit_threads(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                                  size_t n_rows, int threads, fw_pipeline **out, fw_err *err) {
    *out = NULL;
    if (p->hash_bits < 4 || p->hash_bits > 28)
        return fw_err_set(err, FW_ECONFIG, "hash_bits must be in [4, 28], got %u", p->hash_bits);
    if (!p->n_features) return fw_err_set(err, FW_ECONFIG, "no features (was the project resolved?)");
    if (p->n_features > MAX_INPUTS) return fw_err_set(err, FW_ELIMIT, "too many features (%zu)", p->n_features);
    fw_pipeline *pl = fw_calloc(1, sizeof *pl);
    if (!pl) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_strmap_init(&pl->input_map);
    pl->hash_bits = p->hash_bits;
    pl->cols = fw_calloc(p->n_features, sizeof *pl->cols);
    int *col_of = fw_malloc(p->n_features * sizeof *col_of);
    fw_status *col_st = fw_calloc(p->n_features, sizeof *col_st);
    fw_err *errs = fw_calloc(p->n_features, sizeof *errs);
    fw_status st = pl->cols && col_of && col_st && errs ? FW_OK : fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_features && !st; i++) {
        const fw_feature_spec *f = &p->features[i];
        fw__col *c = &pl->cols[i];
        pl->n_cols = (uint32_t)(i + 1);
        fw_strmap_init(&c->cat_map);
        c->name = fw_strdup(f->name);
        if (!c->name) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            break;
        }
        int col = fw_dataset_find(ds, f->name);
        if (col < 0) {
            st = fw_err_set(err, FW_ESCHEMA, "feature column '%s' is not in %s", f->name,
                            ds->source ? ds->source : "the data");
            break;
        }
        if ((unsigned)f->type > FW_COL_TIMESTAMP) {
            st = fw_err_set(err, FW_ECONFIG, "feature '%s' has an unknown type", f->name);
            break;
        }
        col_of[i] = col;
    }
    if (!st) {
        /* the columns' fits are independent: spread over the threads; the first failing column
         * (in column order) reports, as a serial loop would */
        fit_ctx fc = {pl, p, ds, col_of, rows, n_rows, col_st, errs};
        int nt = threads > 0 ? threads : 1;
        if ((double)n_rows * (double)p->n_features < 1e4) nt = 1; /* small: not worth a pass */
        fw_parallel_blocks(nt, p->n_features, 1, fit_block, &fc);
        for (size_t i = 0; i < p->n_features && !st; i++)
            if ((st = col_st[i])) *err = errs[i];
    }
    fw_free(col_of);
    fw_free(col_st);
    fw_free(errs);
    if (!st && p->n_crosses) {
        pl->crosses = fw_calloc(p->n_crosses, sizeof *pl->crosses);
        if (!pl->crosses) st = fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_crosses && !st; i++) {
            const fw_cross_spec *x = &p->crosses[i];
            fw__cross *cx = &pl->crosses[i];
            pl->n_crosses = (uint32_t)(i + 1);
            if (x->n_columns < 2 || x->n_columns > 8) {
                st = fw_err_set(err, FW_ECONFIG, "crosses[%zu]: a cross needs 2 to 8 columns", i);
                break;
            }
            cx->n = (uint32_t)x->n_columns;
            uint64_t seed = 0x63726f7373ull; /* "cross" */
            for (size_t k = 0; k < x->n_columns && !st; k++) {
                uint32_t j = 0;
                while (j < pl->n_cols && strcmp(pl->cols[j].name, x->columns[k])) j++;
                if (j == pl->n_cols)
                    st = fw_err_set(err, FW_ECONFIG, "crosses[%zu]: column '%s' is not a feature", i, x->columns[k]);
                cx->cols[k] = j;
                seed = fw_feature_hash64(seed, x->columns[k], strlen(x->columns[k]));
            }
            cx->seed = seed;
        }
    }
    if (!st && layout(pl)) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    if (st) {
        fw_pipeline_free(pl);
        return st;
    }
    *out = pl;
    return FW_OK;
}

/* ---- the record path ------------------------------------------------------------------------ */

fw_status fw_pipeline_transform_record(const fw_pipeline *pl, const fw_value *values,
                                       fw_pipeline_scratch *s, float *dense, fw_row *row,
                                       fw_err *err) {
    s->n_ent = 0;
    if (fw__scratch_reserve(s, (size_t)pl->n_cols + pl->n_crosses)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    uint32_t mask = pl->sparse_dim ? pl->sparse_dim - 1 : 0;
    fw_status st;
    for (uint32_t i = 0; i < pl->n_cols; i++) {
        const fw__col *c = &pl->cols[i];
        float *d = dense + c->dense_off;
        const fw_value *v = &values[i];
        double x;
        char buf[32];
        fw__str sv;
        bool present;
        switch (c->type) {
        case FW_COL_NUMERIC:
            if (v->kind == FW_VALUE_NUMBER) x = isfinite(v->num) ? v->num : NAN; /* fw__value_num's, inline */
            else if ((st = fw__value_num(c, v, &x, err))) return st;
            if ((c->scale == FW_SCALE_STANDARD || c->scale == FW_SCALE_MINMAX) && !c->missing_indicator)
                d[0] = (float)(((isnan(x) ? c->fill : x) - c->center) / c->div); /* fw__numeric_apply's, inline */
            else fw__numeric_apply(c, x, d);
            break;
        case FW_COL_TIMESTAMP:
            if ((st = fw__value_time(c, v, &x, err))) return st;
            fw__timestamp_apply(c, x, d);
            break;
        case FW_COL_CATEGORICAL:
            present = fw__value_str(v, buf, &sv);
            fw__categorical_apply(c, &sv, present, d, s, mask);
            break;
        default:
            present = fw__value_str(v, buf, &sv);
            if (fw__text_apply(c, &sv, s, mask)) return fw_err_set(err, FW_ENOMEM, "out of memory");
            if (c->missing_indicator) d[0] = present ? 0.0f : 1.0f;
            break;
        }
    }
    for (uint32_t i = 0; i < pl->n_crosses; i++) fw__cross_apply(&pl->crosses[i], pl->cols, values, s, mask);
    size_t n = fw_sparse_merge(s->ent, s->n_ent);
    for (size_t k = 0; k < n; k++) {
        s->indices[k] = s->ent[k].idx;
        s->values[k] = s->ent[k].val;
    }
    row->dense = dense;
    row->indices = s->indices;
    row->values = s->values;
    row->nnz = n;
    return FW_OK;
}

/* ---- the block path ------------------------------------------------------------------------- */

typedef struct block_part {
    size_t begin, end;
    uint32_t *idx;
    float *val;
    size_t nnz, cap;
    fw_status st;
    fw_err err;
} block_part;

typedef struct block_ctx {
    const fw_pipeline *pl;
    const fw_dataset *ds;
    const uint32_t *rows;
    const int *in_col;   /* dataset column of each input */
    fw_matrix *out;
    block_part *parts;
} block_ctx;

static void block_run(void *vctx, int t, size_t begin, size_t end) {
    block_ctx *c = vctx;
    block_part *part = &c->parts[t];
    const fw_pipeline *pl = c->pl;
    part->begin = begin;
    part->end = end;
    fw_pipeline_scratch *s = NULL;
    fw_value *vals = fw_calloc(pl->n_cols ? pl->n_cols : 1, sizeof *vals);
    if (!vals || fw_pipeline_scratch_new(pl, &s)) {
        part->st = fw_err_set(&part->err, FW_ENOMEM, "out of memory");
        fw_free(vals);
        return;
    }
    for (size_t i = begin; i < end; i++) {
        size_t r = c->rows ? c->rows[i] : i;
        for (uint32_t k = 0; k < pl->n_cols; k++) vals[k] = ds_value(c->ds, (size_t)c->in_col[k], r);
        fw_row row;
        fw_status st = fw_pipeline_transform_record(pl, vals, s, c->out->dense + i * pl->n_dense, &row, &part->err);
        if (st) {
            fw_err_prefix(&part->err, "row %zu", r + 1);
            part->st = st;
            break;
        }
        if (pl->sparse_dim) {
            if (part->nnz + row.nnz > part->cap) {
                size_t cap = part->cap;
                if (FW_GROW(&part->idx, &cap, part->nnz + row.nnz) ||
                    FW_GROW(&part->val, &part->cap, part->nnz + row.nnz)) {
                    part->st = fw_err_set(&part->err, FW_ENOMEM, "out of memory");
                    break;
                }
            }
            if (row.nnz) {
                memcpy(part->idx + part->nnz, row.indices, row.nnz * sizeof(uint32_t));
                memcpy(part->val + part->nnz, row.values, row.nnz * sizeof(float));
            }
            part->nnz += row.nnz;
            c->out->indptr[i + 1] = row.nnz; /* counts for now; prefix sums after the join */
        }
    }
    fw_pipeline_scratch_free(s);
    fw_free(vals);
}

/* The numeric-only block path: every input a numeric column of the dataset, no sparse part. The
 * cells are the record path's (fw__numeric_apply of the same value), written row by row of the
 * dataset: a training split lists its rows shuffled, and gathering them reads every cell from a
 * different cache line of 50 column arrays (~23 ns a cell at 500k x 50); in dataset order the
 * columns stream and each output row is written whole (pos: the output row of each dataset row,
 * UINT32_MAX when not asked for). */
typedef struct num_ctx {
    const fw_pipeline *pl;
    const double *const *num; /* per input: the dataset column's values */
    const uint32_t *pos;      /* NULL: output row = dataset row */
    const uint32_t *rows;     /* gather order when pos is NULL and rows is not */
    float *dense;
} num_ctx;

static void num_run(void *vctx, int t, size_t begin, size_t end) {
    (void)t;
    const num_ctx *c = vctx;
    const fw_pipeline *pl = c->pl;
    for (size_t r = begin; r < end; r++) {
        size_t i = r, src = r;
        if (c->pos) {
            if (c->pos[r] == UINT32_MAX) continue;
            i = c->pos[r];
        } else if (c->rows) {
            src = c->rows[r];
        }
        float *d = c->dense + i * pl->n_dense;
        for (uint32_t k = 0; k < pl->n_cols; k++) {
            const fw__col *col = &pl->cols[k];
            double x = c->num[k][src];
            if (!isfinite(x)) x = NAN;
            if (col->scale == FW_SCALE_STANDARD && !col->missing_indicator) {
                /* the default column, inline: fw__numeric_apply's arithmetic, in its order */
                d[col->dense_off] = (float)(((isnan(x) ? col->fill : x) - col->center) / col->div);
            } else {
                fw__numeric_apply(col, x, d + col->dense_off);
            }
        }
    }
}

/* Returns true when the numeric path did the block (false: the record path must). */
static bool transform_numeric(const fw_pipeline *pl, const fw_dataset *ds, const uint32_t *rows, size_t n_rows,
                              const int *in_col, int threads, fw_matrix *out) {
    if (pl->sparse_dim || pl->n_crosses || !n_rows) return false;
    const double **num = fw_malloc((pl->n_cols ? pl->n_cols : 1) * sizeof *num);
    if (!num) return false;
    for (uint32_t k = 0; k < pl->n_cols; k++) {
        num[k] = ds->cols[in_col[k]].num;
        if (pl->cols[k].type != FW_COL_NUMERIC || !num[k]) {
            fw_free(num);
            return false;
        }
    }
    num_ctx c = {pl, num, NULL, rows, out->dense};
    uint32_t *pos = NULL;
    size_t n_iter = n_rows;
    if (rows && n_rows >= ds->n_rows / 4 && ds->n_rows < UINT32_MAX) {
        /* a large share of the rows: in dataset order (a row asked for twice: gathered) */
        pos = fw_malloc(ds->n_rows * sizeof *pos);
        if (pos) {
            memset(pos, 0xff, ds->n_rows * sizeof *pos);
            for (size_t i = 0; i < n_rows && pos; i++) {
                if (pos[rows[i]] != UINT32_MAX) {
                    fw_free(pos);
                    pos = NULL;
                } else {
                    pos[rows[i]] = (uint32_t)i;
                }
            }
        }
        if (pos) {
            c.pos = pos;
            n_iter = ds->n_rows;
        }
    }
    if ((size_t)threads > n_iter / 256 + 1) threads = (int)(n_iter / 256 + 1);
    fw_parallel_for(threads, n_iter, num_run, &c);
    fw_free(pos);
    fw_free(num);
    return true;
}

fw_status fw_pipeline_transform_block(const fw_pipeline *pl, const fw_dataset *ds,
                                      const uint32_t *rows, size_t n_rows, int threads,
                                      fw_matrix *out, fw_err *err) {
    if (!rows) n_rows = ds->n_rows;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; rows && i < n_rows; i++)
        if (rows[i] >= ds->n_rows) return fw_err_set(err, FW_EINVAL, "row index %u out of range", rows[i]);
    int *in_col = fw_malloc((pl->n_cols ? pl->n_cols : 1) * sizeof(int));
    if (!in_col) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < pl->n_cols; k++) {
        in_col[k] = fw_dataset_find(ds, pl->cols[k].name);
        if (in_col[k] < 0) {
            fw_free(in_col);
            return fw_err_set(err, FW_ESCHEMA, "column '%s' (a model input) is not in %s", pl->cols[k].name,
                              ds->source ? ds->source : "the data");
        }
    }
    fw_status st = fw_matrix_alloc(out, n_rows, pl->n_dense, pl->sparse_dim);
    if (st) {
        fw_free(in_col);
        return fw_err_set(err, st, "out of memory");
    }
    if (threads <= 0) threads = fw_default_threads();
    if (transform_numeric(pl, ds, rows, n_rows, in_col, threads, out)) {
        threads = 0; /* done: no record-path parts */
    } else if ((size_t)threads > n_rows / 256 + 1) {
        threads = (int)(n_rows / 256 + 1);
    }
    block_part *parts = fw_calloc(threads ? (size_t)threads : 1, sizeof *parts);
    if (!parts) {
        fw_free(in_col);
        fw_matrix_free(out);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    block_ctx ctx = {pl, ds, rows, in_col, out, parts};
    if (n_rows && threads) fw_parallel_for(threads, n_rows, block_run, &ctx);
    for (int t = 0; t < threads && !st; t++)
        if (parts[t].st) {
            st = parts[t].st;
            if (err) *err = parts[t].err;
        }
    if (!st && pl->sparse_dim) {
        size_t nnz = 0;
        for (size_t i = 0; i < n_rows; i++) {
            nnz += (size_t)out->indptr[i + 1];
            out->indptr[i + 1] = nnz;
        }
        out->nnz_cap = nnz;
        out->indices = fw_malloc((nnz ? nnz : 1) * sizeof(uint32_t));
        out->values = fw_malloc((nnz ? nnz : 1) * sizeof(float));
        if (!out->indices || !out->values) st = fw_err_set(err, FW_ENOMEM, "out of memory");
        for (int t = 0; t < threads && !st; t++) {
            block_part *pt = &parts[t];
            if (pt->nnz) {
                memcpy(out->indices + out->indptr[pt->begin], pt->idx, pt->nnz * sizeof(uint32_t));
                memcpy(out->values + out->indptr[pt->begin], pt->val, pt->nnz * sizeof(float));
            }
        }
    }
    if (!st && pl->n_dense) {
        out->dense_names = fw_calloc(pl->n_dense, sizeof(char *));
        if (!out->dense_names) st = fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t j = 0; j < pl->n_dense && !st; j++)
            if (!(out->dense_names[j] = fw_strdup(pl->dense_names[j]))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (int t = 0; t < threads; t++) {
        fw_free(parts[t].idx);
        fw_free(parts[t].val);
    }
    fw_free(parts);
    fw_free(in_col);
    if (st) fw_matrix_free(out);
    return st;
}

/* ---- save / load ---------------------------------------------------------------------------- */

fw_status fw_pipeline_save(const fw_pipeline *pl, fw_buf *b) {
    fw_buf_put_u32(b, PIPELINE_MAGIC);
    fw_buf_put_u32(b, PIPELINE_VERSION);
    fw_buf_put_u32(b, pl->hash_bits);
    fw_buf_put_u32(b, pl->n_cols);
    for (uint32_t i = 0; i < pl->n_cols; i++) {
        const fw__col *c = &pl->cols[i];
        fw_buf_put_str(b, c->name);
        fw_buf_put_u8(b, c->type);
        fw_buf_put_u8(b, c->impute);
        fw_buf_put_u8(b, c->scale);
        fw_buf_put_u8(b, c->encode);
        bool parts = c->type == FW_COL_TIMESTAMP && c->ts_parts != FW__TS_LEGACY;
        fw_buf_put_u8(b, (uint8_t)((c->missing_indicator ? 1 : 0) | (c->tfidf ? 2 : 0) | (c->bigrams ? 4 : 0) |
                                   (parts ? 8 : 0)));
        if (parts) fw_buf_put_u8(b, c->ts_parts);
        fw_buf_put_u64(b, c->seed);
        fw_buf_put_f64(b, c->fill);
        fw_buf_put_f64(b, c->center);
        fw_buf_put_f64(b, c->div);
        fw_buf_put_f64(b, c->ref);
        fw_buf_put_u32(b, c->n_edges);
        fw_buf_put_f64s(b, c->edges, c->n_edges);
        fw_buf_put_u32(b, c->n_cats);
        for (uint32_t k = 0; k < c->n_cats; k++) fw_buf_put_str(b, c->cats[k]);
        fw_buf_put_u32(b, c->n_idf);
        fw_buf_put_u32s(b, c->idf_idx, c->n_idf);
        fw_buf_put_f32s(b, c->idf_val, c->n_idf);
        fw_buf_put_f32(b, c->idf_unseen);
    }
    fw_buf_put_u32(b, pl->n_crosses);
    for (uint32_t i = 0; i < pl->n_crosses; i++) {
        fw_buf_put_u32(b, pl->crosses[i].n);
        fw_buf_put_u32s(b, pl->crosses[i].cols, pl->crosses[i].n);
        fw_buf_put_u64(b, pl->crosses[i].seed);
    }
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

/* fw_reader_str that also refuses strings with embedded NUL bytes (they would not save back). */
static bool read_str(fw_reader *r, char **out) {
    size_t at = r->pos;
    if (!fw_reader_str(r, out)) return false;
    if (*out && strlen(*out) != r->pos - at - 4) {
        fw_free(*out);
        *out = NULL;
        r->bad = true;
        return false;
    }
    return true;
}

#define BAD(...) do { st = fw_err_set(err, FW_ECORRUPT, "pipeline: " __VA_ARGS__); goto fail; } while (0)

static fw_status load_col(fw_reader *r, fw__col *c, uint32_t hash_bits, fw_err *err) {
    fw_status st = FW_OK;
    if (!read_str(r, &c->name)) {
        if (fw_reader_ok(r)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        BAD("truncated or malformed column name");
    }
    if (!c->name) BAD("column without a name");
    c->type = fw_reader_u8(r);
    c->impute = fw_reader_u8(r);
    c->scale = fw_reader_u8(r);
    c->encode = fw_reader_u8(r);
    uint8_t flags = fw_reader_u8(r);
    c->missing_indicator = flags & 1;
    c->tfidf = (flags & 2) != 0;
    c->bigrams = (flags & 4) != 0;
    c->ts_parts = (flags & 8) ? fw_reader_u8(r) : FW__TS_LEGACY;
    c->seed = fw_reader_u64(r);
    c->fill = fw_reader_f64(r);
    c->center = fw_reader_f64(r);
    c->div = fw_reader_f64(r);
    c->ref = fw_reader_f64(r);
    if (!fw_reader_ok(r)) BAD("truncated column '%s'", c->name);
    if (c->type > FW_COL_TIMESTAMP || c->impute > FW_IMPUTE_NONE || c->scale > FW_SCALE_QUANTILE ||
        c->encode > FW_ENCODE_HASH || flags > 15 || ((flags & 8) && c->type != FW_COL_TIMESTAMP) ||
        c->ts_parts == 0 || c->ts_parts > 31)
        BAD("column '%s': bad transform codes", c->name);
    if (c->type == FW_COL_NUMERIC && (c->impute == FW_IMPUTE_DEFAULT || c->scale == FW_SCALE_DEFAULT))
        BAD("column '%s': unresolved transform", c->name);
    if (c->type == FW_COL_CATEGORICAL && c->encode == FW_ENCODE_DEFAULT) BAD("column '%s': unresolved encoding", c->name);
    if (!isfinite(c->center) || !isfinite(c->div) || c->div == 0 || !isfinite(c->ref) ||
        (!isnan(c->fill) && !isfinite(c->fill)))
        BAD("column '%s': bad statistics", c->name);
    c->n_edges = fw_reader_u32(r);
    if (c->n_edges > fw_reader_left(r) / 8) BAD("column '%s': bad edge count", c->name);
    if (c->n_edges) {
        if (!(c->edges = fw_malloc(c->n_edges * sizeof(double)))) return fw_err_set(err, FW_ENOMEM, "out of memory");
        if (!fw_reader_f64s(r, c->edges, c->n_edges)) BAD("column '%s': truncated edges", c->name);
        for (uint32_t k = 0; k < c->n_edges; k++)
            if (!isfinite(c->edges[k]) || (k && !(c->edges[k] > c->edges[k - 1])))
                BAD("column '%s': bin edges not increasing", c->name);
    }
    uint32_t n_cats = fw_reader_u32(r);
    if (n_cats > fw_reader_left(r) / 4) BAD("column '%s': bad category count", c->name);
    if (n_cats) {
        if (!(c->cats = fw_calloc(n_cats, sizeof(char *)))) return fw_err_set(err, FW_ENOMEM, "out of memory");
        c->n_cats = n_cats;
        for (uint32_t k = 0; k < c->n_cats; k++) {
            if (!read_str(r, &c->cats[k])) {
                if (fw_reader_ok(r)) return fw_err_set(err, FW_ENOMEM, "out of memory");
                BAD("column '%s': truncated or malformed categories", c->name);
            }
            if (!c->cats[k] || (k && strcmp(c->cats[k - 1], c->cats[k]) >= 0))
                BAD("column '%s': categories not sorted", c->name);
        }
    }
    c->n_idf = fw_reader_u32(r);
    if (c->n_idf > fw_reader_left(r) / 8) BAD("column '%s': bad idf count", c->name);
    if (c->n_idf) {
        c->idf_idx = fw_malloc(c->n_idf * sizeof(uint32_t));
        c->idf_val = fw_malloc(c->n_idf * sizeof(float));
        if (!c->idf_idx || !c->idf_val) return fw_err_set(err, FW_ENOMEM, "out of memory");
        if (!fw_reader_u32s(r, c->idf_idx, c->n_idf) || !fw_reader_f32s(r, c->idf_val, c->n_idf))
            BAD("column '%s': truncated idf table", c->name);
        for (uint32_t k = 0; k < c->n_idf; k++)
            if (c->idf_idx[k] >= ((uint32_t)1 << hash_bits) || (k && c->idf_idx[k] <= c->idf_idx[k - 1]) ||
                !isfinite(c->idf_val[k]))
                BAD("column '%s': bad idf table", c->name);
    }
    c->idf_unseen = fw_reader_f32(r);
    if (!fw_reader_ok(r)) BAD("truncated column '%s'", c->name);
    if (!isfinite(c->idf_unseen)) BAD("column '%s': bad idf", c->name);
    if (c->type == FW_COL_CATEGORICAL && c->encode == FW_ENCODE_ONEHOT && fw__categorical_index(c))
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    return FW_OK;
fail:
    return st;
}

fw_status fw_pipeline_load(const uint8_t *data, size_t len, fw_pipeline **out, fw_err *err) {
    *out = NULL;
    fw_reader rd, *r = &rd;
    fw_reader_init(r, data, len);
    fw_status st = FW_OK;
    fw_pipeline *pl = NULL;
    uint32_t magic = fw_reader_u32(r), ver = fw_reader_u32(r);
    if (!fw_reader_ok(r) || magic != PIPELINE_MAGIC) BAD("not a pipeline (bad magic)");
    if (ver != PIPELINE_VERSION)
        return fw_err_set(err, FW_EVERSION, "pipeline: format version %u, this build reads %u", ver, PIPELINE_VERSION);
    pl = fw_calloc(1, sizeof *pl);
    if (!pl) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_strmap_init(&pl->input_map);
    pl->hash_bits = fw_reader_u32(r);
    uint32_t n_cols = fw_reader_u32(r);
    if (!fw_reader_ok(r) || pl->hash_bits < 4 || pl->hash_bits > 28) BAD("bad hash_bits");
    if (n_cols == 0 || n_cols > MAX_INPUTS || n_cols > fw_reader_left(r) / 60) BAD("bad column count %u", n_cols);
    pl->cols = fw_calloc(n_cols, sizeof *pl->cols);
    if (!pl->cols) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < n_cols; i++) {
        pl->n_cols = i + 1;
        fw_strmap_init(&pl->cols[i].cat_map);
        if ((st = load_col(r, &pl->cols[i], pl->hash_bits, err))) goto fail;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(pl->cols[j].name, pl->cols[i].name)) BAD("column '%s' given twice", pl->cols[i].name);
    }
    uint32_t n_crosses = fw_reader_u32(r);
    if (!fw_reader_ok(r) || n_crosses > fw_reader_left(r) / 20) BAD("bad cross count");
    if (n_crosses) {
        pl->crosses = fw_calloc(n_crosses, sizeof *pl->crosses);
        if (!pl->crosses) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            goto fail;
        }
        pl->n_crosses = n_crosses;
        for (uint32_t i = 0; i < n_crosses; i++) {
            fw__cross *x = &pl->crosses[i];
            x->n = fw_reader_u32(r);
            if (!fw_reader_ok(r) || x->n < 2 || x->n > 8) BAD("cross %u: bad column count", i);
            if (!fw_reader_u32s(r, x->cols, x->n)) BAD("cross %u: truncated", i);
            x->seed = fw_reader_u64(r);
            for (uint32_t k = 0; k < x->n; k++)
                if (x->cols[k] >= n_cols) BAD("cross %u: column index out of range", i);
        }
    }
    if (!fw_reader_ok(r)) BAD("truncated");
    if (fw_reader_left(r)) BAD("%zu trailing bytes", fw_reader_left(r));
    if (layout(pl)) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto fail;
    }
    *out = pl;
    return FW_OK;
fail:
    fw_pipeline_free(pl);
    return st;
}
