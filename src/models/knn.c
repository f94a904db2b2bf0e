/* knn.c — owns the k-nearest-neighbours family ("knn"): brute-force search over the stored
 * training rows, tiled (a few queries x a block of training rows at a time, for cache) and split
 * over threads by query.
 *
 * Features: the DENSE part only (the sparse hashed part is ignored), used as given — the pipeline
 * already standardizes numeric features, so the model does not rescale them again. NaN in the
 * training features is rejected at fit time; a NaN in a query gives FW_EINVAL.
 * Params: k (default 5), metric=euclidean|cosine (cosine distance 1 - a·b/(|a||b|), 1 when either
 * vector is zero), weights=uniform|distance (1/d; when some neighbours are at distance 0 only those
 * vote). Sample weights multiply the votes.
 * Neighbours are ordered by (distance, training row index): ties are broken by the lower row index,
 * so results are deterministic and predict_row == predict_block bit-for-bit.
 * k larger than the number of training rows is an error at fit time (FW_EINVAL naming both).
 * Outputs: binary P(pos) = weighted vote share; multiclass class shares; multilabel per-label
 * shares; regression/ranking the weighted mean.
 * explain_row and importance return FW_EUNSUPPORTED (the evaluator uses permutation importance).
 * Memory: the model stores the training matrix (size_bytes reports it). */
#include "models/explain.h"
#include "models/model.h"

#include "core/alloc.h"
#include "core/threads.h"

#include <math.h>
#include <string.h>

#define KNN_FORMAT 1u
#define QB 8      /* queries per tile */
#define TB 512    /* training rows per tile */

extern const fw_model_vtable fw_knn_vtable;

typedef struct fw_knn {
    fw_model base;
    size_t n, k, n_classes, ys;
    int cosine, distance;
    float *X;      /* n x n_dense */
    double *y;     /* n x ys */
    double *w;     /* n sample weights or NULL */
    double *norm;  /* cosine: n row norms */
} fw_knn;

/* A neighbour list kept sorted by (d, i), at most k long. */
typedef struct topk {
    double *d;
    uint64_t *i;
    size_t cnt;
} topk;

static void knn_free(fw_model *m) {
    fw_knn *kn = (fw_knn *)m;
    if (!kn) return;
    fw_free(kn->X);
    fw_free(kn->y);
    fw_free(kn->w);
    fw_free(kn->norm);
    fw_free(kn);
}

static double row_norm(const float *a, size_t nd) {
    double s = 0;
    for (size_t j = 0; j < nd; j++) s += (double)a[j] * a[j];
    return sqrt(s);
}

/* Distance used for ordering (squared euclidean, or cosine distance). */
/* Sums over four interleaved lanes (j % 4) added as (l0 + l1) + (l2 + l3): four independent
 * chains instead of one, in a fixed order, so every path (row, block, any thread count) gets the
 * same bits; with fewer than four features it equals the plain left-to-right sum. */
static double dist(const fw_knn *kn, const float *q, double qn, size_t t) {
    size_t nd = kn->base.n_dense, j = 0;
    const float *a = kn->X + t * nd;
    double l0 = 0, l1 = 0, l2 = 0, l3 = 0;
    if (kn->cosine) {
        for (; j + 4 <= nd; j += 4) {
            l0 += (double)q[j] * a[j];
            l1 += (double)q[j + 1] * a[j + 1];
            l2 += (double)q[j + 2] * a[j + 2];
            l3 += (double)q[j + 3] * a[j + 3];
        }
        if (j < nd) l0 += (double)q[j] * a[j];
        if (j + 1 < nd) l1 += (double)q[j + 1] * a[j + 1];
        if (j + 2 < nd) l2 += (double)q[j + 2] * a[j + 2];
        double dot = (l0 + l1) + (l2 + l3);
        double den = qn * kn->norm[t];
        if (den == 0) return 1.0;
        double dd = 1.0 - dot / den;
        return dd < 0 ? 0 : dd;
    }
    for (; j + 4 <= nd; j += 4) {
        double d0 = (double)q[j] - a[j], d1 = (double)q[j + 1] - a[j + 1];
        double d2 = (double)q[j + 2] - a[j + 2], d3 = (double)q[j + 3] - a[j + 3];
        l0 += d0 * d0;
        l1 += d1 * d1;
        l2 += d2 * d2;
        l3 += d3 * d3;
    }
    if (j < nd) {
        double d0 = (double)q[j] - a[j];
        l0 += d0 * d0;
    }
    if (j + 1 < nd) {
        double d1 = (double)q[j + 1] - a[j + 1];
        l1 += d1 * d1;
    }
    if (j + 2 < nd) {
        double d2 = (double)q[j + 2] - a[j + 2];
        l2 += d2 * d2;
    }
    return (l0 + l1) + (l2 + l3);
}

static void topk_push(topk *h, size_t k, double d, uint64_t i) {
    if (h->cnt == k && !(d < h->d[k - 1] || (d == h->d[k - 1] && i < h->i[k - 1]))) return;
    size_t p = h->cnt < k ? h->cnt++ : k - 1;
    while (p > 0 && (d < h->d[p - 1] || (d == h->d[p - 1] && i < h->i[p - 1]))) {
        h->d[p] = h->d[p - 1];
        h->i[p] = h->i[p - 1];
        p--;
    }
    h->d[p] = d;
    h->i[p] = i;
}

static void aggregate(const fw_knn *kn, const topk *h, double *out) {
    size_t no = kn->base.n_outputs, cnt = h->cnt;
    for (size_t k = 0; k < no; k++) out[k] = 0;
    int zero = kn->distance && cnt && h->d[0] == 0;
    double tot = 0;
    for (int pass = 0; pass < 2; pass++) {
        tot = 0;
        for (size_t q = 0; q < cnt; q++) {
            double v = 1.0;
            if (kn->distance) {
                double dd = kn->cosine ? h->d[q] : sqrt(h->d[q]);
                v = zero ? (h->d[q] == 0 ? 1.0 : 0.0) : 1.0 / dd;
            }
            if (pass == 0 && kn->w) v *= kn->w[h->i[q]];
            if (v == 0) continue;
            const double *yr = kn->y + h->i[q] * kn->ys;
            if (kn->base.task == FW_TASK_MULTICLASS) out[(size_t)yr[0]] += v;
            else
                for (size_t k = 0; k < no; k++) out[k] += v * yr[k];
            tot += v;
        }
        if (tot > 0) break;
        for (size_t k = 0; k < no; k++) out[k] = 0; /* all votes weighted 0: ignore sample weights */
    }
    if (tot > 0)
        for (size_t k = 0; k < no; k++) out[k] /= tot;
}

static bool query_ok(const float *q, size_t nd) {
    for (size_t j = 0; j < nd; j++)
        if (isnan(q[j])) return false;
    return true;
}

static fw_status knn_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out) {
    const fw_knn *kn = (const fw_knn *)m;
    size_t nd = m->n_dense;
    if (!query_ok(x->dense, nd)) return FW_EINVAL;
    topk h = {(double *)scratch, (uint64_t *)((double *)scratch + kn->k), 0};
    double qn = kn->cosine ? row_norm(x->dense, nd) : 0;
    for (size_t t = 0; t < kn->n; t++) topk_push(&h, kn->k, dist(kn, x->dense, qn, t), t);
    aggregate(kn, &h, out);
    return FW_OK;
}

typedef struct pb_ctx {
    const fw_knn *kn;
    const fw_matrix *X;
    double *out;
    int failed;
} pb_ctx;

static void pb_range(void *ctx, int th, size_t b, size_t e) {
    (void)th;
    pb_ctx *c = ctx;
    const fw_knn *kn = c->kn;
    size_t nd = kn->base.n_dense, k = kn->k, no = kn->base.n_outputs;
    double *buf = fw_malloc(QB * k * (sizeof(double) + sizeof(uint64_t)));
    if (!buf) {
        c->failed = FW_ENOMEM;
        return;
    }
    for (size_t q0 = b; q0 < e; q0 += QB) {
        size_t nq = e - q0 < QB ? e - q0 : QB;
        topk h[QB];
        double qn[QB];
        for (size_t a = 0; a < nq; a++) {
            h[a] = (topk){buf + a * k, (uint64_t *)(buf + QB * k) + a * k, 0};
            const float *q = c->X->dense + (q0 + a) * nd;
            if (!query_ok(q, nd)) c->failed = FW_EINVAL;
            qn[a] = kn->cosine ? row_norm(q, nd) : 0;
        }
        for (size_t t0 = 0; t0 < kn->n; t0 += TB) {
            size_t t1 = t0 + TB < kn->n ? t0 + TB : kn->n;
            for (size_t a = 0; a < nq; a++) {
                const float *q = c->X->dense + (q0 + a) * nd;
                for (size_t t = t0; t < t1; t++) topk_push(&h[a], k, dist(kn, q, qn[a], t), t);
            }
        }
        for (size_t a = 0; a < nq; a++) aggregate(kn, &h[a], c->out + (q0 + a) * no);
    }
    fw_free(buf);
}

static fw_status knn_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out) {
    if (X->n_dense != m->n_dense) return FW_ESCHEMA;
    pb_ctx c = {(const fw_knn *)m, X, out, 0};
    fw_parallel_for(X->n_rows < 2 * QB ? 1 : threads, X->n_rows, pb_range, &c);
    return c.failed ? (fw_status)c.failed : FW_OK;
}

static fw_knn *knn_new(fw_task task, size_t no, size_t nd, size_t n, size_t k, size_t ys) {
    fw_knn *kn = fw_calloc(1, sizeof *kn);
    if (!kn) return NULL;
    kn->base.vt = &fw_knn_vtable;
    kn->base.task = task;
    kn->base.n_outputs = no;
    kn->base.n_dense = nd;
    kn->n = n;
    kn->k = k;
    kn->ys = ys;
    kn->X = fw_malloc(n * nd * sizeof(float) + 1);
    kn->y = fw_malloc(n * ys * sizeof(double));
    if (!kn->X || !kn->y) {
        knn_free(&kn->base);
        return NULL;
    }
    return kn;
}

static fw_status finish_norms(fw_knn *kn) {
    if (!kn->cosine) return FW_OK;
    kn->norm = fw_malloc(kn->n * sizeof(double));
    if (!kn->norm) return FW_ENOMEM;
    for (size_t t = 0; t < kn->n; t++) kn->norm[t] = row_norm(kn->X + t * kn->base.n_dense, kn->base.n_dense);
    return FW_OK;
}

static fw_status knn_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                         fw_err *err) {
    *out = NULL;
    static const char *const known[] = {"k", "metric", "weights", NULL};
    fw_status st = fw_fit_params_check(o, "knn", known, err);
    if (st) return st;
    long k = 5;
    if ((st = fw_fit_param_int(o, "knn", "k", 1, 100000, &k, err))) return st;
    int cosine = 0, distance = 0;
    const char *v = fw_fit_param(o, "metric");
    if (v) {
        if (!strcmp(v, "cosine")) cosine = 1;
        else if (strcmp(v, "euclidean") != 0)
            return fw_err_set(err, FW_EINVAL, "knn.metric: expected euclidean|cosine, got '%s'", v);
    }
    if ((v = fw_fit_param(o, "weights"))) {
        if (!strcmp(v, "distance")) distance = 1;
        else if (strcmp(v, "uniform") != 0)
            return fw_err_set(err, FW_EINVAL, "knn.weights: expected uniform|distance, got '%s'", v);
    }
    const fw_matrix *X = d->X;
    size_t n = X->n_rows, nd = X->n_dense, no = d->n_outputs;
    if (n == 0) return fw_err_set(err, FW_EDATA, "knn: no training rows");
    if ((size_t)k > n)
        return fw_err_set(err, FW_EINVAL, "knn.k = %ld exceeds the %zu training rows", k, n);
    if (no == 0 || (d->task == FW_TASK_MULTICLASS && no != d->n_classes) ||
        (d->task != FW_TASK_MULTICLASS && d->task != FW_TASK_MULTILABEL && no != 1))
        return fw_err_set(err, FW_EINVAL, "knn: bad output count %zu for a %s task", no,
                          fw_task_name(d->task));
    size_t ys = d->task == FW_TASK_MULTILABEL ? no : 1;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < nd; j++)
            if (!isfinite(X->dense[i * nd + j]))
                return fw_err_set(err, FW_EDATA, "knn: row %zu, feature %zu%s%s%s is not finite", i, j,
                                  X->dense_names ? " '" : "", X->dense_names ? X->dense_names[j] : "",
                                  X->dense_names ? "'" : "");
        for (size_t q = 0; q < ys; q++) {
            double yv = d->y[i * ys + q];
            if (!isfinite(yv)) return fw_err_set(err, FW_EDATA, "knn: label of row %zu is not a number", i);
            if (d->task == FW_TASK_MULTICLASS && (yv < 0 || yv >= (double)no || yv != floor(yv)))
                return fw_err_set(err, FW_EDATA, "knn: label of row %zu is %g, expected a class in [0, %zu)",
                                  i, yv, no);
            if ((d->task == FW_TASK_BINARY || d->task == FW_TASK_MULTILABEL) && yv != 0 && yv != 1)
                return fw_err_set(err, FW_EDATA, "knn: label of row %zu is %g, expected 0 or 1", i, yv);
        }
        if (d->weight && (!isfinite(d->weight[i]) || d->weight[i] < 0))
            return fw_err_set(err, FW_EDATA, "knn: weight of row %zu is %g (must be >= 0)", i, d->weight[i]);
    }
    fw_knn *kn = knn_new(d->task, no, nd, n, (size_t)k, ys);
    if (!kn) return fw_err_set(err, FW_ENOMEM, "knn: out of memory storing %zu rows", n);
    kn->n_classes = d->task == FW_TASK_MULTICLASS ? no : 0;
    kn->cosine = cosine;
    kn->distance = distance;
    memcpy(kn->X, X->dense, n * nd * sizeof(float));
    memcpy(kn->y, d->y, n * ys * sizeof(double));
    if (d->weight) {
        if (!(kn->w = fw_malloc(n * sizeof(double)))) goto oom;
        memcpy(kn->w, d->weight, n * sizeof(double));
    }
    if (finish_norms(kn)) goto oom;
    *out = &kn->base;
    return FW_OK;
oom:
    knn_free(&kn->base);
    return fw_err_set(err, FW_ENOMEM, "knn: out of memory");
}

static fw_status knn_explain_row(const fw_model *m, const fw_row *x, void *s, double *c) {
    (void)m;
    (void)x;
    (void)s;
    (void)c;
    return FW_EUNSUPPORTED;
}

static fw_status knn_importance(const fw_model *m, double *out) {
    (void)m;
    (void)out;
    return FW_EUNSUPPORTED;
}

static fw_status knn_save(const fw_model *m, fw_buf *b) {
    const fw_knn *kn = (const fw_knn *)m;
    fw_buf_put_u32(b, KNN_FORMAT);
    fw_buf_put_u32(b, (uint32_t)m->task);
    fw_buf_put_u64(b, m->n_outputs);
    fw_buf_put_u64(b, m->n_dense);
    fw_buf_put_u64(b, kn->n);
    fw_buf_put_u64(b, kn->k);
    fw_buf_put_u8(b, (uint8_t)kn->cosine);
    fw_buf_put_u8(b, (uint8_t)kn->distance);
    fw_buf_put_u8(b, kn->w != NULL);
    fw_buf_put_f32s(b, kn->X, kn->n * m->n_dense);
    fw_buf_put_f64s(b, kn->y, kn->n * kn->ys);
    if (kn->w) fw_buf_put_f64s(b, kn->w, kn->n);
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

static fw_status knn_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    *out = NULL;
    fw_reader r;
    fw_reader_init(&r, data, len);
    uint32_t ver = fw_reader_u32(&r);
    if (!fw_reader_ok(&r)) return fw_err_set(err, FW_ECORRUPT, "knn model: truncated");
    if (ver != KNN_FORMAT) return fw_err_set(err, FW_EVERSION, "knn model: format %u unsupported", ver);
    uint32_t task = fw_reader_u32(&r);
    uint64_t no = fw_reader_u64(&r), nd = fw_reader_u64(&r), n = fw_reader_u64(&r), k = fw_reader_u64(&r);
    uint8_t cos = fw_reader_u8(&r), dst = fw_reader_u8(&r), hw = fw_reader_u8(&r);
    size_t left = fw_reader_left(&r);
    if (!fw_reader_ok(&r) || task > FW_TASK_RANKING || no == 0 || no > (1u << 20) ||
        nd > (1u << 24) || n == 0 || k == 0 || k > n || cos > 1 || dst > 1 || hw > 1 ||
        ((task == FW_TASK_BINARY || task >= FW_TASK_REGRESSION) && no != 1))
        return fw_err_set(err, FW_ECORRUPT, "knn model: bad header");
    uint64_t ys = task == FW_TASK_MULTILABEL ? no : 1;
    if (n > left || (nd && n * nd > left / 4) || n * ys > left / 8 ||
        n * nd * 4 + n * ys * 8 + (hw ? n * 8 : 0) != left)
        return fw_err_set(err, FW_ECORRUPT, "knn model: sizes do not match the data");
    fw_knn *kn = knn_new((fw_task)task, (size_t)no, (size_t)nd, (size_t)n, (size_t)k, (size_t)ys);
    if (!kn) return fw_err_set(err, FW_ENOMEM, "knn model: out of memory");
    kn->cosine = cos;
    kn->distance = dst;
    kn->n_classes = task == FW_TASK_MULTICLASS ? (size_t)no : 0;
    fw_reader_f32s(&r, kn->X, (size_t)(n * nd));
    fw_reader_f64s(&r, kn->y, (size_t)(n * ys));
    if (hw && (kn->w = fw_malloc((size_t)n * 8))) fw_reader_f64s(&r, kn->w, (size_t)n);
    if ((hw && !kn->w) || finish_norms(kn)) {
        knn_free(&kn->base);
        return fw_err_set(err, FW_ENOMEM, "knn model: out of memory");
    }
    for (size_t i = 0; i < n * nd; i++)
        if (!isfinite(kn->X[i])) goto bad;
    for (size_t i = 0; i < n * ys; i++)
        if (!isfinite(kn->y[i]) || (task == FW_TASK_MULTICLASS && (kn->y[i] < 0 || kn->y[i] >= (double)no)))
            goto bad;
    for (size_t i = 0; hw && i < n; i++)
        if (!(kn->w[i] >= 0)) goto bad;
    *out = &kn->base;
    return FW_OK;
bad:
    knn_free(&kn->base);
    return fw_err_set(err, FW_ECORRUPT, "knn model: bad values");
}

static size_t knn_scratch_size(const fw_model *m) {
    const fw_knn *kn = (const fw_knn *)m;
    return kn->k * (sizeof(double) + sizeof(uint64_t));
}

static size_t knn_size_bytes(const fw_model *m) {
    const fw_knn *kn = (const fw_knn *)m;
    return sizeof *kn + kn->n * m->n_dense * sizeof(float) + kn->n * kn->ys * 8 +
           (kn->w ? kn->n * 8 : 0) + (kn->norm ? kn->n * 8 : 0);
}

static void knn_params_json(const fw_model *m, fw_buf *out) {
    const fw_knn *kn = (const fw_knn *)m;
    fw_buf_printf(out, "{\"k\":%zu,\"metric\":\"%s\",\"weights\":\"%s\",\"train_rows\":%zu}", kn->k,
                  kn->cosine ? "cosine" : "euclidean", kn->distance ? "distance" : "uniform", kn->n);
}

const fw_model_vtable fw_knn_vtable = {
    .family = "knn",
    .fit = knn_fit,
    .predict_block = knn_predict_block,
    .predict_row = knn_predict_row,
    .explain_row = knn_explain_row,
    .importance = knn_importance,
    .save = knn_save,
    .load = knn_load,
    .scratch_size = knn_scratch_size,
    .size_bytes = knn_size_bytes,
    .params_json = knn_params_json,
    .free = knn_free,
};

/* ---- explanation (models/explain.h) ----------------------------------------------------------- */

bool fw_model_is_knn(const fw_model *m) { return m && m->vt == &fw_knn_vtable; }

size_t fw_knn_neighbors(const fw_model *m, const fw_row *x, void *scratch, size_t max, uint64_t *rows,
                        double *dist_out, double *label) {
    const fw_knn *kn = (const fw_knn *)m;
    size_t nd = m->n_dense;
    if (!fw_model_is_knn(m) || !query_ok(x->dense, nd)) return 0;
    topk h = {(double *)scratch, (uint64_t *)((double *)scratch + kn->k), 0};
    double qn = kn->cosine ? row_norm(x->dense, nd) : 0;
    for (size_t t = 0; t < kn->n; t++) topk_push(&h, kn->k, dist(kn, x->dense, qn, t), t);
    size_t n = h.cnt < max ? h.cnt : max;
    for (size_t q = 0; q < n; q++) {
        rows[q] = h.i[q];
        dist_out[q] = kn->cosine ? h.d[q] : sqrt(h.d[q]);
        label[q] = kn->y[h.i[q] * kn->ys];
    }
    return n;
}
