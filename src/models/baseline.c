/* baseline.c — owns the "baseline" model family, always trained so every report compares against
 * it. It ignores the features and predicts constants fitted on the training labels:
 *   kind=prior    (classification default) class frequencies as probabilities: binary P(pos) = the
 *                 (weighted) base rate; multiclass the class distribution; multilabel per-label rates
 *   kind=majority the same as a one-hot on the majority class (ties → lowest class index);
 *                 multilabel: 1 for labels with rate > 1/2
 *   kind=mean     (regression/ranking default) the weighted mean of y
 *   kind=median   the median of y (weights ignored)
 *   kind=feature  (ranking default) one dense feature's order: the feature and direction whose
 *                 order scores the best NDCG@10 over the training queries (baseline_rank.c);
 *                 a missing value ranks last. Without queries or dense features: the mean.
 * Rule baselines read raw input columns and live in rule.h. explain_row: zero contributions and the
 * margin (log-odds / log-probability / value) in the bias row; importance: zeros. */
#include "models/model.h"
#include "models/rank_groups.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BASE_FORMAT 1u

enum { KIND_PRIOR = 0, KIND_MAJORITY, KIND_MEAN, KIND_MEDIAN, KIND_FEATURE, N_KINDS };
static const char *const k_kinds[] = {"prior", "majority", "mean", "median", "feature"};

typedef struct fw_baseline {
    fw_model base;
    int kind;
    double *out;   /* n_outputs */
    uint64_t feature; /* kind=feature: the dense feature (UINT64_MAX: none, out[0] is the score) */
    double sign;      /* kind=feature: +1 (higher value ranks first) or -1 */
} fw_baseline;

/* kind=feature: the score of one row */
static double feature_score(const fw_baseline *b, const float *x) {
    if (b->feature == UINT64_MAX) return b->out[0];
    float v = x[b->feature];
    return v != v ? -1e30 : b->sign * (double)v;
}

extern const fw_model_vtable fw_baseline_vtable;

static void bl_free(fw_model *m) {
    fw_baseline *b = (fw_baseline *)m;
    if (!b) return;
    fw_free(b->out);
    fw_free(b);
}

static fw_baseline *bl_new(fw_task task, size_t no, size_t nd, uint32_t sd, int kind) {
    fw_baseline *b = fw_calloc(1, sizeof *b);
    if (!b) return NULL;
    b->base.vt = &fw_baseline_vtable;
    b->base.task = task;
    b->base.n_outputs = no;
    b->base.n_dense = nd;
    b->base.sparse_dim = sd;
    b->kind = kind;
    b->feature = UINT64_MAX;
    b->sign = 1;
    if (!(b->out = fw_calloc(no, sizeof(double)))) {
        fw_free(b);
        return NULL;
    }
    return b;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static fw_status bl_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                        fw_err *err) {
    *out = NULL;
    static const char *const known[] = {"kind", NULL};
    fw_status st = fw_fit_params_check(o, "baseline", known, err);
    if (st) return st;
    bool cls = d->task == FW_TASK_BINARY || d->task == FW_TASK_MULTICLASS ||
               d->task == FW_TASK_MULTILABEL;
    int kind = cls ? KIND_PRIOR : d->task == FW_TASK_RANKING && d->query ? KIND_FEATURE : KIND_MEAN;
    const char *v = fw_fit_param(o, "kind");
    if (v) {
        int k;
        for (k = 0; k < N_KINDS && strcmp(v, k_kinds[k]) != 0; k++) {}
        if (k == N_KINDS)
            return fw_err_set(err, FW_EINVAL,
                              "baseline.kind: expected prior|majority|mean|median|feature, got '%s'", v);
        if (k == KIND_FEATURE && d->task != FW_TASK_RANKING)
            return fw_err_set(err, FW_EINVAL, "baseline.kind: 'feature' is for a ranking task");
        if (cls != (k <= KIND_MAJORITY))
            return fw_err_set(err, FW_EINVAL, "baseline.kind: '%s' does not apply to a %s task", v,
                              fw_task_name(d->task));
        kind = k;
    }
    size_t n = d->X->n_rows, no = d->n_outputs;
    if (n == 0) return fw_err_set(err, FW_EDATA, "baseline: no training rows");
    if (no == 0 || (d->task == FW_TASK_MULTICLASS && no != d->n_classes) ||
        (d->task != FW_TASK_MULTICLASS && d->task != FW_TASK_MULTILABEL && no != 1))
        return fw_err_set(err, FW_EINVAL, "baseline: bad output count %zu for a %s task", no,
                          fw_task_name(d->task));
    size_t ys = d->task == FW_TASK_MULTILABEL ? no : 1;
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        double w = d->weight ? d->weight[i] : 1.0;
        if (!isfinite(w) || w < 0)
            return fw_err_set(err, FW_EDATA, "baseline: weight of row %zu is %g (must be >= 0)", i, w);
        wsum += w;
        for (size_t k = 0; k < ys; k++) {
            double y = d->y[i * ys + k];
            if (!isfinite(y))
                return fw_err_set(err, FW_EDATA, "baseline: label of row %zu is %s", i,
                                  isnan(y) ? "NaN" : "infinite");
            if ((d->task == FW_TASK_BINARY || d->task == FW_TASK_MULTILABEL) && y != 0 && y != 1)
                return fw_err_set(err, FW_EDATA, "baseline: label of row %zu is %g, expected 0 or 1",
                                  i, y);
            if (d->task == FW_TASK_MULTICLASS && (y < 0 || y >= (double)no || y != floor(y)))
                return fw_err_set(err, FW_EDATA,
                                  "baseline: label of row %zu is %g, expected a class in [0, %zu)",
                                  i, y, no);
        }
    }
    if (!(wsum > 0)) return fw_err_set(err, FW_EDATA, "baseline: all sample weights are zero");
    fw_baseline *b = bl_new(d->task, no, d->X->n_dense, d->X->sparse_dim, kind);
    if (!b) return fw_err_set(err, FW_ENOMEM, "baseline: out of memory");
    if (kind == KIND_MEDIAN) {
        double *c = fw_malloc(n * sizeof(double));
        if (!c) {
            bl_free(&b->base);
            return fw_err_set(err, FW_ENOMEM, "baseline: out of memory");
        }
        memcpy(c, d->y, n * sizeof(double));
        qsort(c, n, sizeof(double), cmp_double);
        b->out[0] = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
        fw_free(c);
    } else {
        for (size_t i = 0; i < n; i++) {
            double w = d->weight ? d->weight[i] : 1.0;
            if (d->task == FW_TASK_MULTICLASS) b->out[(size_t)d->y[i]] += w;
            else
                for (size_t k = 0; k < ys; k++) b->out[k] += w * d->y[i * ys + k];
        }
        for (size_t k = 0; k < no; k++) b->out[k] /= wsum;
        if (kind == KIND_MAJORITY) {
            if (d->task == FW_TASK_MULTICLASS) {
                size_t best = 0;
                for (size_t k = 1; k < no; k++)
                    if (b->out[k] > b->out[best]) best = k;
                for (size_t k = 0; k < no; k++) b->out[k] = k == best ? 1.0 : 0.0;
            } else {
                for (size_t k = 0; k < no; k++) b->out[k] = b->out[k] > 0.5 ? 1.0 : 0.0;
            }
        }
    }
    if (kind == KIND_FEATURE && d->query && d->X->n_dense) {
        if ((st = fw__baseline_best_feature(d, &b->feature, &b->sign, err))) {
            bl_free(&b->base);
            return st;
        }
    }
    *out = &b->base;
    return FW_OK;
}

static fw_status bl_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out) {
    (void)x;
    (void)scratch;
    const fw_baseline *b = (const fw_baseline *)m;
    if (b->kind == KIND_FEATURE) {
        out[0] = feature_score(b, x->dense);
        return FW_OK;
    }
    memcpy(out, b->out, m->n_outputs * sizeof(double));
    return FW_OK;
}

static fw_status bl_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out) {
    (void)threads;
    const fw_baseline *b = (const fw_baseline *)m;
    if (b->kind == KIND_FEATURE) {
        for (size_t i = 0; i < X->n_rows; i++) out[i] = feature_score(b, X->dense + i * X->n_dense);
        return FW_OK;
    }
    for (size_t i = 0; i < X->n_rows; i++)
        memcpy(out + i * m->n_outputs, b->out, m->n_outputs * sizeof(double));
    return FW_OK;
}

static double clamp_p(double p) { return p < 1e-15 ? 1e-15 : p > 1 - 1e-15 ? 1 - 1e-15 : p; }

static fw_status bl_explain_row(const fw_model *m, const fw_row *x, void *scratch, double *contrib) {
    (void)scratch;
    const fw_baseline *b = (const fw_baseline *)m;
    size_t no = m->n_outputs;
    memset(contrib, 0, m->n_dense * no * sizeof(double));
    double *bias = contrib + m->n_dense * no;
    if (b->kind == KIND_FEATURE && b->feature != UINT64_MAX) {
        contrib[b->feature] = feature_score(b, x->dense);
        bias[0] = 0;
        return FW_OK;
    }
    for (size_t k = 0; k < no; k++) {
        double p = b->out[k];
        switch (m->task) {
        case FW_TASK_BINARY:
        case FW_TASK_MULTILABEL: bias[k] = log(clamp_p(p) / (1 - clamp_p(p))); break;
        case FW_TASK_MULTICLASS: bias[k] = log(clamp_p(p)); break;
        default: bias[k] = p;
        }
    }
    return FW_OK;
}

static fw_status bl_importance(const fw_model *m, double *out) {
    memset(out, 0, m->n_dense * sizeof(double));
    return FW_OK;
}

static fw_status bl_save(const fw_model *m, fw_buf *out) {
    const fw_baseline *b = (const fw_baseline *)m;
    fw_buf_put_u32(out, BASE_FORMAT);
    fw_buf_put_u32(out, (uint32_t)m->task);
    fw_buf_put_u32(out, (uint32_t)b->kind);
    fw_buf_put_u64(out, m->n_outputs);
    fw_buf_put_u64(out, m->n_dense);
    fw_buf_put_u32(out, m->sparse_dim);
    fw_buf_put_f64s(out, b->out, m->n_outputs);
    if (b->kind == KIND_FEATURE) {
        fw_buf_put_u64(out, b->feature);
        fw_buf_put_f64s(out, &b->sign, 1);
    }
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}

static fw_status bl_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    *out = NULL;
    fw_reader r;
    fw_reader_init(&r, data, len);
    uint32_t ver = fw_reader_u32(&r);
    if (!fw_reader_ok(&r)) return fw_err_set(err, FW_ECORRUPT, "baseline model: truncated");
    if (ver != BASE_FORMAT)
        return fw_err_set(err, FW_EVERSION, "baseline model: format %u, this build reads %u", ver,
                          BASE_FORMAT);
    uint32_t task = fw_reader_u32(&r), kind = fw_reader_u32(&r);
    uint64_t no = fw_reader_u64(&r), nd = fw_reader_u64(&r);
    uint32_t sd = fw_reader_u32(&r);
    if (!fw_reader_ok(&r) || task > FW_TASK_RANKING || kind >= N_KINDS || no == 0 ||
        (kind == KIND_FEATURE && task != FW_TASK_RANKING) ||
        no > (1u << 20) || nd > (1u << 28) ||
        fw_reader_left(&r) != no * 8 + (kind == KIND_FEATURE ? 16 : 0) ||
        ((task == FW_TASK_BINARY || task >= FW_TASK_REGRESSION) && no != 1))
        return fw_err_set(err, FW_ECORRUPT, "baseline model: bad header");
    fw_baseline *b = bl_new((fw_task)task, (size_t)no, (size_t)nd, sd, (int)kind);
    if (!b) return fw_err_set(err, FW_ENOMEM, "baseline model: out of memory");
    fw_reader_f64s(&r, b->out, (size_t)no);
    if (kind == KIND_FEATURE) {
        b->feature = fw_reader_u64(&r);
        fw_reader_f64s(&r, &b->sign, 1);
        if ((b->feature != UINT64_MAX && b->feature >= nd) || (b->sign != 1 && b->sign != -1)) {
            bl_free(&b->base);
            return fw_err_set(err, FW_ECORRUPT, "baseline model: bad feature");
        }
    }
    for (size_t k = 0; k < no; k++)
        if (!isfinite(b->out[k]) ||
            (task <= FW_TASK_MULTILABEL && (b->out[k] < 0 || b->out[k] > 1))) {
            bl_free(&b->base);
            return fw_err_set(err, FW_ECORRUPT, "baseline model: bad output value");
        }
    *out = &b->base;
    return FW_OK;
}

static size_t bl_scratch_size(const fw_model *m) {
    (void)m;
    return 0;
}

static size_t bl_size_bytes(const fw_model *m) { return sizeof(fw_baseline) + m->n_outputs * 8; }

static void bl_params_json(const fw_model *m, fw_buf *out) {
    const fw_baseline *b = (const fw_baseline *)m;
    if (b->kind == KIND_FEATURE && b->feature != UINT64_MAX)
        fw_buf_printf(out, "{\"kind\":\"feature\",\"feature\":%llu,\"direction\":\"%s\"}",
                      (unsigned long long)b->feature, b->sign > 0 ? "descending" : "ascending");
    else
        fw_buf_printf(out, "{\"kind\":\"%s\"}", k_kinds[b->kind]);
}

const fw_model_vtable fw_baseline_vtable = {
    .family = "baseline",
    .fit = bl_fit,
    .predict_block = bl_predict_block,
    .predict_row = bl_predict_row,
    .explain_row = bl_explain_row,
    .importance = bl_importance,
    .save = bl_save,
    .load = bl_load,
    .scratch_size = bl_scratch_size,
    .size_bytes = bl_size_bytes,
    .params_json = bl_params_json,
    .free = bl_free,
};
