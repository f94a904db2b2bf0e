/* hier.c — owns the hierarchical classifier family ("hier") for large label sets (multiclass only):
 * classes are put into K groups, a softmax picks the group and one softmax per group picks the
 * class within it: P(class) = P(group(class)) * P(class | group). All the inner classifiers are
 * linear-family models (linear.h), so they share its solver, determinism and serialization.
 *
 * Params: groups=K (default round(sqrt(n_classes)), 1..n_classes), or group_map="g0,g1,...": the
 * group id of each class index in order (ids 0..K-1, each used at least once); inner linear params
 * l2, l1, C, max_iter, tol are passed through.
 * Grouping without a map: a deterministic k-means over the classes' mean dense feature vectors
 * (farthest-point initialisation from the most frequent class, Lloyd iterations, ties by lowest
 * index; an emptied group takes the class farthest from its centre).
 * A group of one class needs no inner model (P(class | group) = 1).
 * explain_row: FW_EUNSUPPORTED; importance: the sum of the inner models' importances. */
#include "models/linear.h"
#include "models/explain.h"
#include "models/model.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIER_FORMAT 1u

extern const fw_model_vtable fw_hier_vtable;

typedef struct fw_hier {
    fw_model base;
    size_t n_classes, n_groups;
    uint32_t *group;     /* class → group */
    uint32_t *local;     /* class → index within its group */
    uint32_t *gsize;     /* classes per group */
    uint32_t **members;  /* group → class list (gsize entries) */
    fw_model *top;       /* group classifier (NULL when n_groups == 1) */
    fw_model **sub;      /* per group (NULL when the group has one class) */
    size_t max_gsize;
} fw_hier;

static void hier_free(fw_model *m) {
    fw_hier *h = (fw_hier *)m;
    if (!h) return;
    fw_model_free(h->top);
    for (size_t g = 0; h->sub && g < h->n_groups; g++) fw_model_free(h->sub[g]);
    for (size_t g = 0; h->members && g < h->n_groups; g++) fw_free(h->members[g]);
    fw_free(h->members);
    fw_free(h->sub);
    fw_free(h->group);
    fw_free(h->local);
    fw_free(h->gsize);
    fw_free(h);
}

/* Allocates the per-class/per-group tables from h->group. Validates every group is used. */
static fw_status hier_index(fw_hier *h) {
    size_t C = h->n_classes, K = h->n_groups;
    h->local = fw_calloc(C, sizeof(uint32_t));
    h->gsize = fw_calloc(K, sizeof(uint32_t));
    h->members = fw_calloc(K, sizeof(uint32_t *));
    h->sub = fw_calloc(K, sizeof(fw_model *));
    if (!h->local || !h->gsize || !h->members || !h->sub) return FW_ENOMEM;
    for (size_t c = 0; c < C; c++) {
        if (h->group[c] >= K) return FW_EINVAL;
        h->local[c] = h->gsize[h->group[c]]++;
    }
    h->max_gsize = 0;
    for (size_t g = 0; g < K; g++) {
        if (h->gsize[g] == 0) return FW_EINVAL;
        if (h->gsize[g] > h->max_gsize) h->max_gsize = h->gsize[g];
        if (!(h->members[g] = fw_malloc(h->gsize[g] * sizeof(uint32_t)))) return FW_ENOMEM;
    }
    for (size_t c = 0; c < C; c++) h->members[h->group[c]][h->local[c]] = (uint32_t)c;
    return FW_OK;
}

static double sqdist(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

/* Deterministic k-means over class means (C x nd) → group[c]. */
static fw_status kmeans_groups(const fw_matrix *X, const double *y, size_t C, size_t K,
                               uint32_t *group) {
    size_t n = X->n_rows, nd = X->n_dense;
    double *mean = fw_calloc(C * (nd ? nd : 1), sizeof(double));
    double *cnt = fw_calloc(C, sizeof(double));
    double *cen = fw_calloc(K * (nd ? nd : 1), sizeof(double));
    double *best = fw_malloc(C * sizeof(double));
    if (!mean || !cnt || !cen || !best) {
        fw_free(mean);
        fw_free(cnt);
        fw_free(cen);
        fw_free(best);
        return FW_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)y[i];
        cnt[c] += 1;
        for (size_t j = 0; j < nd; j++) mean[c * nd + j] += X->dense[i * nd + j];
    }
    size_t first = 0;
    for (size_t c = 0; c < C; c++) {
        if (cnt[c] > 0)
            for (size_t j = 0; j < nd; j++) mean[c * nd + j] /= cnt[c];
        if (cnt[c] > cnt[first]) first = c;
    }
    /* farthest-point initialisation */
    memcpy(cen, mean + first * nd, nd * sizeof(double));
    for (size_t c = 0; c < C; c++) best[c] = sqdist(mean + c * nd, cen, nd);
    for (size_t g = 1; g < K; g++) {
        size_t far = 0;
        for (size_t c = 1; c < C; c++)
            if (best[c] > best[far]) far = c;
        memcpy(cen + g * nd, mean + far * nd, nd * sizeof(double));
        for (size_t c = 0; c < C; c++) {
            double d = sqdist(mean + c * nd, cen + g * nd, nd);
            if (d < best[c]) best[c] = d;
        }
    }
    for (int it = 0; it < 100; it++) {
        int changed = it == 0;
        for (size_t c = 0; c < C; c++) {
            uint32_t bg = 0;
            double bd = INFINITY;
            for (size_t g = 0; g < K; g++) {
                double d = sqdist(mean + c * nd, cen + g * nd, nd);
                if (d < bd) {
                    bd = d;
                    bg = (uint32_t)g;
                }
            }
            if (it == 0 || group[c] != bg) changed = 1;
            group[c] = bg;
            best[c] = bd;
        }
        /* an empty group takes the class farthest from its centre (never emptying another) */
        for (size_t g = 0; g < K; g++) {
            size_t used = 0;
            for (size_t c = 0; c < C; c++) used += group[c] == g;
            if (used) continue;
            size_t far = SIZE_MAX;
            for (size_t c = 0; c < C; c++) {
                size_t same = 0;
                for (size_t q = 0; q < C; q++) same += group[q] == group[c];
                if (same > 1 && (far == SIZE_MAX || best[c] > best[far])) far = c;
            }
            group[far] = (uint32_t)g;
            best[far] = 0;
            changed = 1;
        }
        if (!changed) break;
        memset(cen, 0, K * nd * sizeof(double));
        memset(best, 0, C * sizeof(double)); /* reuse as per-group count below */
        double *gc = best;
        for (size_t g = 0; g < K; g++) gc[g] = 0;
        for (size_t c = 0; c < C; c++) {
            gc[group[c]] += 1;
            for (size_t j = 0; j < nd; j++) cen[group[c] * nd + j] += mean[c * nd + j];
        }
        for (size_t g = 0; g < K; g++)
            for (size_t j = 0; j < nd; j++) cen[g * nd + j] /= gc[g];
    }
    fw_free(mean);
    fw_free(cnt);
    fw_free(cen);
    fw_free(best);
    return FW_OK;
}

static fw_status parse_map(const char *v, size_t C, uint32_t *group, size_t *K, fw_err *err) {
    const char *p = v;
    size_t mx = 0;
    for (size_t c = 0; c < C; c++) {
        char *end;
        long g = strtol(p, &end, 10);
        if (end == p || g < 0 || g >= (long)C)
            return fw_err_set(err, FW_EINVAL,
                              "hier.group_map: entry %zu: expected a group id in [0, %zu), got '%.10s'",
                              c + 1, C, p);
        group[c] = (uint32_t)g;
        if ((size_t)g > mx) mx = (size_t)g;
        p = end;
        if (c + 1 < C) {
            if (*p != ',')
                return fw_err_set(err, FW_EINVAL,
                                  "hier.group_map: expected %zu comma-separated group ids (one per class), got %zu",
                                  C, c + 1);
            p++;
        }
    }
    if (*p) return fw_err_set(err, FW_EINVAL, "hier.group_map: more than %zu entries", C);
    *K = mx + 1;
    return FW_OK;
}

static fw_status hier_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                          fw_err *err) {
    *out = NULL;
    static const char *const known[] = {"groups", "group_map", "l2", "l1", "C", "max_iter", "tol", NULL};
    fw_status st = fw_fit_params_check(o, "hier", known, err);
    if (st) return st;
    if (d->task != FW_TASK_MULTICLASS)
        return fw_err_set(err, FW_EUNSUPPORTED, "hier: only for multiclass tasks (got %s)",
                          fw_task_name(d->task));
    size_t C = d->n_classes, n = d->X->n_rows;
    if (C < 2 || d->n_outputs != C) return fw_err_set(err, FW_EINVAL, "hier: needs n_outputs == n_classes >= 2");
    for (size_t i = 0; i < n; i++)
        if (!(d->y[i] >= 0 && d->y[i] < (double)C && d->y[i] == floor(d->y[i])))
            return fw_err_set(err, FW_EDATA, "hier: label of row %zu is %g, expected a class in [0, %zu)",
                              i, d->y[i], C);
    fw_hier *h = fw_calloc(1, sizeof *h);
    if (!h || !(h->group = fw_calloc(C, sizeof(uint32_t)))) {
        fw_free(h);
        return fw_err_set(err, FW_ENOMEM, "hier: out of memory");
    }
    h->base.vt = &fw_hier_vtable;
    h->base.task = d->task;
    h->base.n_outputs = C;
    h->base.n_dense = d->X->n_dense;
    h->base.sparse_dim = d->X->sparse_dim;
    h->n_classes = C;
    const char *map = fw_fit_param(o, "group_map");
    size_t K = 1;
    uint32_t *rows = NULL;
    double *yg = NULL, *wg = NULL;
    fw_matrix Xg;
    memset(&Xg, 0, sizeof Xg);
    if (map) {
        if ((st = parse_map(map, C, h->group, &K, err))) goto fail;
        h->n_groups = K;
    } else {
        long kg = (long)floor(sqrt((double)C) + 0.5);
        if ((st = fw_fit_param_int(o, "hier", "groups", 1, (long)C, &kg, err))) goto fail;
        K = (size_t)kg;
        h->n_groups = K;
        if ((st = kmeans_groups(d->X, d->y, C, K, h->group))) goto oom;
    }
    if ((st = hier_index(h))) {
        if (st == FW_ENOMEM) goto oom;
        st = fw_err_set(err, FW_EINVAL, "hier.group_map: every group id 0..%zu must be used", K - 1);
        goto fail;
    }
    /* inner options: the pass-through linear params only */
    const char *inner[8];
    size_t ni = 0;
    for (size_t i = 0; o && i < o->n_params && ni < 8; i++)
        if (strncmp(o->params[i], "groups=", 7) && strncmp(o->params[i], "group_map=", 10))
            inner[ni++] = o->params[i];
    fw_fit_options io;
    fw_fit_options_init(&io);
    if (o) io = *o;
    io.params = inner;
    io.n_params = ni;
    io.progress = NULL;
    yg = fw_malloc(n * sizeof(double));
    rows = fw_malloc(n * sizeof(uint32_t));
    wg = d->weight ? fw_malloc(n * sizeof(double)) : NULL;
    if (!yg || !rows || (d->weight && !wg)) goto oom;
    if (K > 1) {
        for (size_t i = 0; i < n; i++) yg[i] = h->group[(size_t)d->y[i]];
        fw_train_data td = *d;
        td.y = yg;
        td.n_outputs = td.n_classes = K;
        td.X_valid = NULL;
        td.y_valid = NULL;
        if ((st = fw_linear_vtable.fit(&td, &io, &h->top, err))) {
            fw_err_prefix(err, "hier: group classifier");
            goto fail;
        }
    }
    for (size_t g = 0; g < K; g++) {
        if (h->gsize[g] < 2) continue;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (h->group[(size_t)d->y[i]] == g) {
                rows[m] = (uint32_t)i;
                yg[m] = h->local[(size_t)d->y[i]];
                if (wg) wg[m] = d->weight[i];
                m++;
            }
        if ((st = fw_matrix_select(d->X, rows, m, &Xg))) goto oom;
        fw_train_data td = {.X = &Xg, .y = yg, .weight = wg, .task = FW_TASK_MULTICLASS,
                            .n_outputs = h->gsize[g], .n_classes = h->gsize[g]};
        st = m ? fw_linear_vtable.fit(&td, &io, &h->sub[g], err)
               : fw_err_set(err, FW_EDATA, "hier: group %zu has no training rows", g);
        fw_matrix_free(&Xg);
        if (st) {
            fw_err_prefix(err, "hier: classifier of group %zu", g);
            goto fail;
        }
    }
    fw_free(yg);
    fw_free(wg);
    fw_free(rows);
    *out = &h->base;
    return FW_OK;
oom:
    st = fw_err_set(err, FW_ENOMEM, "hier: out of memory");
fail:
    fw_free(yg);
    fw_free(wg);
    fw_free(rows);
    hier_free(&h->base);
    return st;
}

static fw_status hier_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out) {
    const fw_hier *h = (const fw_hier *)m;
    double *pg = scratch, *pc = pg + h->n_groups;
    fw_status st;
    if (h->top) {
        if ((st = fw_model_predict_row(h->top, x, NULL, pg))) return st;
    } else {
        pg[0] = 1.0;
    }
    for (size_t g = 0; g < h->n_groups; g++) {
        if (h->sub[g]) {
            if ((st = fw_model_predict_row(h->sub[g], x, NULL, pc))) return st;
        } else {
            pc[0] = 1.0;
        }
        for (size_t q = 0; q < h->gsize[g]; q++) out[h->members[g][q]] = pg[g] * pc[q];
    }
    return FW_OK;
}

static fw_status hier_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out) {
    const fw_hier *h = (const fw_hier *)m;
    size_t n = X->n_rows, K = h->n_groups, C = h->n_classes;
    double *pg = fw_malloc((n * K + n * h->max_gsize + 1) * sizeof(double));
    if (!pg) return FW_ENOMEM;
    double *pc = pg + n * K;
    fw_status st = FW_OK;
    if (h->top) st = fw_model_predict_block(h->top, X, threads, pg);
    else
        for (size_t i = 0; i < n; i++) pg[i] = 1.0;
    for (size_t g = 0; g < K && !st; g++) {
        size_t gs = h->gsize[g];
        if (h->sub[g]) st = fw_model_predict_block(h->sub[g], X, threads, pc);
        for (size_t i = 0; i < n && !st; i++)
            for (size_t q = 0; q < gs; q++)
                out[i * C + h->members[g][q]] = pg[i * K + g] * (h->sub[g] ? pc[i * gs + q] : 1.0);
    }
    fw_free(pg);
    return st;
}

static fw_status hier_explain_row(const fw_model *m, const fw_row *x, void *s, double *c) {
    (void)m;
    (void)x;
    (void)s;
    (void)c;
    return FW_EUNSUPPORTED;
}

static fw_status hier_importance(const fw_model *m, double *out) {
    const fw_hier *h = (const fw_hier *)m;
    size_t nd = m->n_dense;
    memset(out, 0, nd * sizeof(double));
    double *tmp = fw_malloc((nd ? nd : 1) * sizeof(double));
    if (!tmp) return FW_ENOMEM;
    for (size_t g = 0; g <= h->n_groups; g++) {
        const fw_model *im = g == h->n_groups ? h->top : h->sub[g];
        if (!im) continue;
        im->vt->importance(im, tmp);
        for (size_t j = 0; j < nd; j++) out[j] += tmp[j];
    }
    fw_free(tmp);
    return FW_OK;
}

static fw_status put_model(fw_buf *b, const fw_model *m) {
    fw_buf_put_u8(b, m != NULL);
    if (!m) return FW_OK;
    fw_buf inner;
    fw_buf_init(&inner);
    fw_status st = fw_model_save(m, &inner);
    if (!st) {
        fw_buf_put_u64(b, inner.len);
        fw_buf_put(b, inner.data, inner.len);
    }
    fw_buf_free(&inner);
    return st;
}

static fw_status hier_save(const fw_model *m, fw_buf *b) {
    const fw_hier *h = (const fw_hier *)m;
    fw_buf_put_u32(b, HIER_FORMAT);
    fw_buf_put_u64(b, h->n_classes);
    fw_buf_put_u64(b, h->n_groups);
    fw_buf_put_u64(b, m->n_dense);
    fw_buf_put_u32(b, m->sparse_dim);
    fw_buf_put_u32s(b, h->group, h->n_classes);
    fw_status st = put_model(b, h->top);
    for (size_t g = 0; g < h->n_groups && !st; g++) st = put_model(b, h->sub[g]);
    if (st) return st;
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

static fw_status get_model(fw_reader *r, fw_model **out, size_t n_out, const fw_hier *h, fw_err *err) {
    *out = NULL;
    uint8_t has = fw_reader_u8(r);
    if (!fw_reader_ok(r) || has > 1) return FW_ECORRUPT;
    if (!has) return n_out < 2 ? FW_OK : FW_ECORRUPT;
    if (n_out < 2) return FW_ECORRUPT;
    uint64_t len = fw_reader_u64(r);
    const uint8_t *p = fw_reader_ok(r) && len <= fw_reader_left(r) ? fw_reader_get(r, (size_t)len) : NULL;
    if (!p) return FW_ECORRUPT;
    fw_status st = fw_model_load(p, (size_t)len, out, err);
    if (st) return st;
    const fw_model *m = *out;
    if (m->vt != &fw_linear_vtable || m->task != FW_TASK_MULTICLASS || m->n_outputs != n_out ||
        m->n_dense != h->base.n_dense || m->sparse_dim != h->base.sparse_dim) {
        fw_model_free(*out);
        *out = NULL;
        return FW_ECORRUPT;
    }
    return FW_OK;
}

static fw_status hier_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    *out = NULL;
    fw_reader r;
    fw_reader_init(&r, data, len);
    uint32_t ver = fw_reader_u32(&r);
    if (!fw_reader_ok(&r)) return fw_err_set(err, FW_ECORRUPT, "hier model: truncated");
    if (ver != HIER_FORMAT) return fw_err_set(err, FW_EVERSION, "hier model: format %u unsupported", ver);
    uint64_t C = fw_reader_u64(&r), K = fw_reader_u64(&r), nd = fw_reader_u64(&r);
    uint32_t sd = fw_reader_u32(&r);
    if (!fw_reader_ok(&r) || C < 2 || C > (1u << 20) || K == 0 || K > C || nd > (1u << 28) ||
        C * 4 > fw_reader_left(&r))
        return fw_err_set(err, FW_ECORRUPT, "hier model: bad header");
    fw_hier *h = fw_calloc(1, sizeof *h);
    if (!h || !(h->group = fw_malloc((size_t)C * 4))) {
        fw_free(h);
        return fw_err_set(err, FW_ENOMEM, "hier model: out of memory");
    }
    h->base.vt = &fw_hier_vtable;
    h->base.task = FW_TASK_MULTICLASS;
    h->base.n_outputs = (size_t)C;
    h->base.n_dense = (size_t)nd;
    h->base.sparse_dim = sd;
    h->n_classes = (size_t)C;
    h->n_groups = (size_t)K;
    fw_reader_u32s(&r, h->group, (size_t)C);
    fw_status st = hier_index(h);
    if (st) goto bad;
    if ((st = get_model(&r, &h->top, (size_t)K, h, err))) goto bad;
    for (size_t g = 0; g < K; g++)
        if ((st = get_model(&r, &h->sub[g], h->gsize[g], h, err))) goto bad;
    if (fw_reader_left(&r) != 0) {
        st = FW_ECORRUPT;
        goto bad;
    }
    *out = &h->base;
    return FW_OK;
bad:
    hier_free(&h->base);
    if (st == FW_ENOMEM) return fw_err_set(err, st, "hier model: out of memory");
    return fw_err_set(err, st == FW_EVERSION ? st : FW_ECORRUPT, "hier model: corrupt section");
}

static size_t hier_scratch_size(const fw_model *m) {
    const fw_hier *h = (const fw_hier *)m;
    return (h->n_groups + h->max_gsize) * sizeof(double);
}

static size_t hier_size_bytes(const fw_model *m) {
    const fw_hier *h = (const fw_hier *)m;
    size_t s = sizeof *h + h->n_classes * 8 + h->n_groups * 24;
    if (h->top) s += h->top->vt->size_bytes(h->top);
    for (size_t g = 0; g < h->n_groups; g++)
        if (h->sub[g]) s += h->sub[g]->vt->size_bytes(h->sub[g]);
    return s;
}

static void hier_params_json(const fw_model *m, fw_buf *out) {
    const fw_hier *h = (const fw_hier *)m;
    fw_buf_printf(out, "{\"groups\":%zu,\"group_map\":\"", h->n_groups);
    for (size_t c = 0; c < h->n_classes; c++) fw_buf_printf(out, c ? ",%u" : "%u", h->group[c]);
    fw_buf_printf(out, "\",\"inner\":");
    const fw_model *im = h->top;
    for (size_t g = 0; !im && g < h->n_groups; g++) im = h->sub[g];
    if (im) im->vt->params_json(im, out);
    else fw_buf_printf(out, "null");
    fw_buf_printf(out, "}");
}

const fw_model_vtable fw_hier_vtable = {
    .family = "hier",
    .fit = hier_fit,
    .predict_block = hier_predict_block,
    .predict_row = hier_predict_row,
    .explain_row = hier_explain_row,
    .importance = hier_importance,
    .save = hier_save,
    .load = hier_load,
    .scratch_size = hier_scratch_size,
    .size_bytes = hier_size_bytes,
    .params_json = hier_params_json,
    .free = hier_free,
};

/* ---- explanation (models/explain.h) ----------------------------------------------------------- */

bool fw_model_is_hier(const fw_model *m) { return m && m->vt == &fw_hier_vtable; }

/* Contributions of output k of a linear-family model into out (n_dense + 1). */
static fw_status inner_contrib(const fw_model *inner, const fw_row *x, size_t k, double *out) {
    size_t nd = inner->n_dense, no = inner->n_outputs;
    double *all = fw_malloc((nd + 1) * no * sizeof(double));
    if (!all) return FW_ENOMEM;
    fw_status st = inner->vt->explain_row(inner, x, NULL, all);
    if (!st)
        for (size_t j = 0; j <= nd; j++) out[j] = all[j * no + k];
    fw_free(all);
    return st;
}

fw_status fw_hier_explain(const fw_model *m, const fw_row *x, uint32_t cls, fw_hier_path *path,
                          double *group_contrib, double *class_contrib) {
    const fw_hier *h = (const fw_hier *)m;
    if (!fw_model_is_hier(m) || cls >= h->n_classes) return FW_EINVAL;
    size_t nd = m->n_dense;
    memset(path, 0, sizeof *path);
    memset(group_contrib, 0, (nd + 1) * sizeof(double));
    memset(class_contrib, 0, (nd + 1) * sizeof(double));
    uint32_t g = h->group[cls];
    path->group = g;
    path->n_groups = h->n_groups;
    double *p = fw_malloc((h->n_groups + h->max_gsize + 1) * sizeof(double));
    if (!p) return FW_ENOMEM;
    fw_status st = FW_OK;
    path->p_group = 1.0;
    path->p_in_group = 1.0;
    if (h->top) {
        path->has_group_model = true;
        st = fw_model_predict_row(h->top, x, NULL, p);
        if (!st) path->p_group = p[g];
        if (!st) st = inner_contrib(h->top, x, g, group_contrib);
    }
    if (!st && h->sub[g]) {
        path->has_class_model = true;
        st = fw_model_predict_row(h->sub[g], x, NULL, p);
        if (!st) path->p_in_group = p[h->local[cls]];
        if (!st) st = inner_contrib(h->sub[g], x, h->local[cls], class_contrib);
    }
    fw_free(p);
    return st;
}
