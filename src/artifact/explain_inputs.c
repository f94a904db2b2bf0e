/* explain_inputs.c — owns one record's additive explanation per input column (explain_inputs.h):
 * the output explained, the grouping of per-feature contributions (dense and hashed) into input
 * columns, and the order they are shown in. */
#include "artifact/explain_inputs.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fw_explain_scratch {
    fw_pipeline_scratch *ps;
    float *dense, *zeros;   /* n_dense each */
    double *contrib, *work; /* (n_dense + 1) x n_outputs each */
    double *dc;             /* n_dense + 1: the explained output's column */
    double *own;            /* n_outputs */
    void *mscratch;         /* the model's scratch, 16-byte aligned */
};

void fw_explain_scratch_free(fw_explain_scratch *s) {
    if (!s) return;
    fw_pipeline_scratch_free(s->ps);
    fw_free(s->dense);
    fw_free(s->zeros);
    fw_free(s->contrib);
    fw_free(s->work);
    fw_free(s->dc);
    fw_free(s->own);
    fw_free(s->mscratch);
    fw_free(s);
}

fw_status fw_explain_scratch_new(const fw_bundle *bu, fw_explain_scratch **out) {
    const fw_model *model = fw_bundle_model(bu);
    const fw_pipeline *pl = fw_bundle_pipeline(bu);
    size_t nd = fw_pipeline_n_dense(pl), no = model->n_outputs;
    size_t msz = (fw_model_scratch_size(model) + 15) & ~(size_t)15;
    fw_explain_scratch *s = fw_calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return FW_ENOMEM;
    s->dense = fw_calloc(nd ? nd : 1, sizeof(float));
    s->zeros = fw_calloc(nd ? nd : 1, sizeof(float));
    s->contrib = fw_malloc((nd + 1) * no * sizeof(double));
    s->work = fw_malloc((nd + 1) * no * sizeof(double));
    s->dc = fw_malloc((nd + 1) * sizeof(double));
    s->own = fw_calloc(no ? no : 1, sizeof(double));
    s->mscratch = fw_calloc(1, msz ? msz : 16); /* fw_alloc's blocks are 16-byte aligned */
    if (!s->dense || !s->zeros || !s->contrib || !s->work || !s->dc || !s->own || !s->mscratch ||
        fw_pipeline_scratch_new(pl, &s->ps) != FW_OK) {
        fw_explain_scratch_free(s);
        return FW_ENOMEM;
    }
    *out = s;
    return FW_OK;
}

fw_status fw_explain_scratch_reserve_text(const fw_bundle *bu, fw_explain_scratch *s, size_t text_bytes) {
    return fw_pipeline_scratch_reserve_text(fw_bundle_pipeline(bu), s->ps, text_bytes);
}

void *fw_explain_scratch_model(fw_explain_scratch *s) { return s->mscratch; }
fw_status fw_explain_prepare(const fw_bundle *bu, const fw_value *inputs, fw_explain_scratch *s, fw_row *row,
                             fw_err *err) {
    return fw_pipeline_transform_record(fw_bundle_pipeline(bu), inputs, s->ps, s->dense, row, err);
}

/* The class a multiclass answer explains by default: the model's own argmax. */
static int32_t argmax(const double *o, size_t n) {
    int32_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (o[k] > o[best]) best = (int32_t)k;
    return best;
}

fw_explain_output fw_explain_output_for(fw_task task, int32_t cls, const double *own, size_t n_out) {
    fw_explain_output o = {0, 1, -1, "raw"};
    if (task == FW_TASK_BINARY) {
        o.shown = cls >= 0 ? cls : 1;
        o.sign = o.shown == 0 ? -1 : 1;
        o.space = "log_odds";
    } else if (task == FW_TASK_MULTICLASS) {
        o.shown = cls >= 0 ? cls : argmax(own, n_out);
        o.k = (size_t)o.shown;
        o.space = "softmax_margin";
    } else if (task == FW_TASK_MULTILABEL) {
        o.shown = cls >= 0 ? cls : 0;
        o.k = (size_t)o.shown;
        o.space = "log_odds";
    }
    return o;
}

void fw_explain_group_dense(const fw_pipeline *pl, const double *dense_contrib, size_t nd, double *per_input) {
    for (size_t j = 0; j < nd; j++) {
        int i = fw_pipeline_dense_input(pl, j);
        if (i >= 0) per_input[i] += dense_contrib[j];
    }
}

typedef struct sparse_ctx {
    const fw_model *model;
    size_t k;               /* output explained */
    double sign;
    const float *zeros;     /* n_dense zeros */
    void *mscratch;
    double *work;           /* (nd + 1) x n_out */
    double base;            /* the bias of the row with nothing in it */
    double *per_input;
    double attributed;      /* sum given to columns */
    fw_status st;
} sparse_ctx;

/* One source's hashed entries: its contribution is what they add to the explained margin (the
 * families that read the hashed part are additive in it), split evenly among its columns. */
static void on_source(void *ud, const uint32_t *inputs, size_t n_inputs, const uint32_t *idx, const float *val,
                      size_t n) {
    sparse_ctx *c = ud;
    if (c->st || !n_inputs) return;
    fw_row row = {c->zeros, idx, val, n};
    size_t nd = c->model->n_dense, no = c->model->n_outputs;
    if ((c->st = c->model->vt->explain_row(c->model, &row, c->mscratch, c->work))) return;
    double d = c->sign * (c->work[nd * no + c->k] - c->base);
    for (size_t q = 0; q < n_inputs; q++) c->per_input[inputs[q]] += d / (double)n_inputs;
    c->attributed += d;
}

fw_status fw_explain_by_input(const fw_bundle *bu, const fw_value *inputs, const fw_row *row, const double *own,
                              int32_t cls, fw_explain_scratch *s, double *per_input, double *bias,
                              fw_explain_output *eo, fw_err *err) {
    const fw_model *model = fw_bundle_model(bu);
    const fw_pipeline *pl = fw_bundle_pipeline(bu);
    size_t nd = fw_pipeline_n_dense(pl), no = model->n_outputs, ni = fw_pipeline_n_inputs(pl);
    if (!model->vt->explain_row)
        return fw_err_set(err, FW_EUNSUPPORTED, "model family '%s' has no additive explanation", model->vt->family);
    fw_status st;
    if (!own && fw_bundle_task(bu) == FW_TASK_MULTICLASS && cls < 0) { /* the decision needs the scores */
        if ((st = fw_model_predict_row(model, row, s->mscratch, s->own)))
            return fw_err_set(err, st, "model prediction failed: %s", fw_strerror(st));
        own = s->own;
    }
    *eo = fw_explain_output_for(fw_bundle_task(bu), cls, own, no);
    size_t k = eo->k;
    double sign = eo->sign;
    st = model->vt->explain_row(model, row, s->mscratch, s->contrib);
    if (st) return fw_err_set(err, st, "explain failed: %s", fw_strerror(st));
    for (size_t j = 0; j <= nd; j++) s->dc[j] = sign * s->contrib[j * no + k];
    memset(per_input, 0, ni * sizeof *per_input);
    fw_explain_group_dense(pl, s->dc, nd, per_input);
    *bias = s->dc[nd];
    if (model->sparse_dim && fw_pipeline_sparse_dim(pl)) {
        /* the hashed part sits in the bias row: give it back to its columns */
        sparse_ctx sc = {model, k, sign, s->zeros, s->mscratch, s->work, 0, per_input, 0, FW_OK};
        fw_row empty = {s->zeros, NULL, NULL, 0};
        if ((st = model->vt->explain_row(model, &empty, s->mscratch, s->work)))
            return fw_err_set(err, st, "explain failed: %s", fw_strerror(st));
        sc.base = s->work[nd * no + k];
        if ((st = fw_pipeline_sparse_sources(pl, inputs, s->ps, s->dense, on_source, &sc, err))) return st;
        if ((st = sc.st)) return fw_err_set(err, st, "explain failed: %s", fw_strerror(st));
        *bias -= sc.attributed;
    }
    if (*bias == 0) *bias = 0; /* never -0 (a negated zero bias) */
    return FW_OK;
}

typedef struct {
    const char *const *names;
    const double *v;
} order_ctx;

static int by_magnitude(const void *a, const void *b, void *ud) {
    const order_ctx *c = ud;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    double ax = fabs(c->v[x]), ay = fabs(c->v[y]);
    if (ax != ay) return ax > ay ? -1 : 1;
    return strcmp(c->names[x], c->names[y]);
}

size_t fw_explain_order(const char *const *names, const double *v, size_t n, uint32_t *order) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0 && isfinite(v[i])) order[m++] = (uint32_t)i;
    order_ctx c = {names, v};
    qsort_r(order, m, sizeof *order, by_magnitude, &c);
    return m;
}
