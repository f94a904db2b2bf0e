/* linear.c — owns the linear family's model interface: hyperparameters, fit dispatch to the batch
 * (linear_lbfgs.c) or online (linear_online.c) solver, prediction, explanations, importance,
 * deterministic save/load, clone and the public partial_fit. See linear.h for the objective. */
#include "models/linear_int.h"

#include "core/alloc.h"
#include "core/threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIN_FORMAT 1u

/* ---- per-row math shared by the solvers --------------------------------------------------- */

/* Dense margins of R (1 or 4) rows for a model with no > 1 outputs: m_r[k] = th[k] + sum_j
 * x_r[j] * th[(1 + j) * no + k], added in j order for every (r, k) — the bits do not depend on R.
 * Outputs are taken four at a time (then two, then one) with the accumulators in registers. */
static void margins_dense_multi(const double *th, size_t no, size_t nd, const float *const *xs,
                                int R, double *const *ms) {
    size_t k = 0;
    if (R == 4) {
        k = fw__linear_margins4_simd(th, no, nd, xs, ms); /* AVX2: eight outputs at a time */
        const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
        for (; k + 4 <= no; k += 4) {
            v2d a0 = ld2(th + k), b0 = ld2(th + k + 2);
            v2d a1 = a0, b1 = b0, a2 = a0, b2 = b0, a3 = a0, b3 = b0;
            const double *w = th + no + k;
            for (size_t j = 0; j < nd; j++, w += no) {
                v2d wa = ld2(w), wb = ld2(w + 2);
                double v0 = x0[j], v1 = x1[j], v2 = x2[j], v3 = x3[j];
                a0 += v0 * wa; b0 += v0 * wb;
                a1 += v1 * wa; b1 += v1 * wb;
                a2 += v2 * wa; b2 += v2 * wb;
                a3 += v3 * wa; b3 += v3 * wb;
            }
            st2(ms[0] + k, a0); st2(ms[0] + k + 2, b0);
            st2(ms[1] + k, a1); st2(ms[1] + k + 2, b1);
            st2(ms[2] + k, a2); st2(ms[2] + k + 2, b2);
            st2(ms[3] + k, a3); st2(ms[3] + k + 2, b3);
        }
        for (; k + 2 <= no; k += 2) {
            v2d a0 = ld2(th + k), a1 = a0, a2 = a0, a3 = a0;
            const double *w = th + no + k;
            for (size_t j = 0; j < nd; j++, w += no) {
                v2d wa = ld2(w);
                a0 += (double)x0[j] * wa;
                a1 += (double)x1[j] * wa;
                a2 += (double)x2[j] * wa;
                a3 += (double)x3[j] * wa;
            }
            st2(ms[0] + k, a0);
            st2(ms[1] + k, a1);
            st2(ms[2] + k, a2);
            st2(ms[3] + k, a3);
        }
        for (; k < no; k++) {
            double a0 = th[k], a1 = a0, a2 = a0, a3 = a0;
            const double *w = th + no + k;
            for (size_t j = 0; j < nd; j++, w += no) {
                a0 += (double)x0[j] * *w;
                a1 += (double)x1[j] * *w;
                a2 += (double)x2[j] * *w;
                a3 += (double)x3[j] * *w;
            }
            ms[0][k] = a0;
            ms[1][k] = a1;
            ms[2][k] = a2;
            ms[3][k] = a3;
        }
        return;
    }
    const float *x = xs[0];
    double *m = ms[0];
    for (; k + 4 <= no; k += 4) {
        v2d a = ld2(th + k), b = ld2(th + k + 2);
        const double *w = th + no + k;
        for (size_t j = 0; j < nd; j++, w += no) {
            double v = x[j];
            a += v * ld2(w);
            b += v * ld2(w + 2);
        }
        st2(m + k, a);
        st2(m + k + 2, b);
    }
    for (; k + 2 <= no; k += 2) {
        v2d a = ld2(th + k);
        const double *w = th + no + k;
        for (size_t j = 0; j < nd; j++, w += no) a += (double)x[j] * ld2(w);
        st2(m + k, a);
    }
    for (; k < no; k++) {
        double a = th[k];
        const double *w = th + no + k;
        for (size_t j = 0; j < nd; j++, w += no) a += (double)x[j] * *w;
        m[k] = a;
    }
}

/* Adds the in-range sparse entries of x to the margins m (multi-output models), in entry order. */
static void add_sparse(const fw_linear *lm, const fw_row *x, double *m) {
    size_t no = lm->base.n_outputs, nd = lm->base.n_dense;
    for (size_t e = 0; e < x->nnz; e++) {
        if (x->indices[e] >= lm->base.sparse_dim) continue;
        double v = x->values[e];
        const double *wr = lm->theta + (1 + nd + x->indices[e]) * no;
        for (size_t k = 0; k < no; k++) m[k] += v * wr[k];
    }
}

void fw__linear_margins(const fw_linear *lm, const fw_row *x, double *m) {
    size_t no = lm->base.n_outputs, nd = lm->base.n_dense;
    const double *th = lm->theta;
    if (no == 1) {
        /* four interleaved lanes (j % 4) added as (l0 + l1) + (l2 + l3): four independent chains
         * instead of one; fit, predict_row and predict_block all come here, so they agree */
        const double *wd = th + 1;
        const float *xd = x->dense;
        double l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        size_t j = 0;
        for (; j + 4 <= nd; j += 4) {
            l0 += (double)xd[j] * wd[j];
            l1 += (double)xd[j + 1] * wd[j + 1];
            l2 += (double)xd[j + 2] * wd[j + 2];
            l3 += (double)xd[j + 3] * wd[j + 3];
        }
        if (j < nd) l0 += (double)xd[j] * wd[j];
        if (j + 1 < nd) l1 += (double)xd[j + 1] * wd[j + 1];
        if (j + 2 < nd) l2 += (double)xd[j + 2] * wd[j + 2];
        double s = th[0] + ((l0 + l1) + (l2 + l3));
        if (lm->base.sparse_dim) {
            const double *ws = th + 1 + nd;
            for (size_t e = 0; e < x->nnz; e++)
                if (x->indices[e] < lm->base.sparse_dim) s += (double)x->values[e] * ws[x->indices[e]];
        }
        m[0] = s;
        return;
    }
    margins_dense_multi(th, no, nd, &x->dense, 1, &m);
    if (lm->base.sparse_dim) add_sparse(lm, x, m);
}

void fw__linear_margins_rows(const fw_linear *lm, const fw_row *rows, size_t n_rows, double *m) {
    size_t no = lm->base.n_outputs, nd = lm->base.n_dense;
    if (no == 1) {
        for (size_t r = 0; r < n_rows; r++) fw__linear_margins(lm, &rows[r], m + r);
        return;
    }
    size_t r = 0;
    for (; r + 4 <= n_rows; r += 4) {
        const float *xs[4] = {rows[r].dense, rows[r + 1].dense, rows[r + 2].dense,
                              rows[r + 3].dense};
        double *ms[4] = {m + r * no, m + (r + 1) * no, m + (r + 2) * no, m + (r + 3) * no};
        margins_dense_multi(lm->theta, no, nd, xs, 4, ms);
    }
    for (; r < n_rows; r++) {
        double *mr = m + r * no;
        margins_dense_multi(lm->theta, no, nd, &rows[r].dense, 1, &mr);
    }
    if (lm->base.sparse_dim)
        for (r = 0; r < n_rows; r++) add_sparse(lm, &rows[r], m + r * no);
}

static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* log(1 + e^z) and sigmoid(z) from one exp(-|z|) (the exp sigmoid() above computes too, so the
 * same bits), at half the cost of two exps — the solvers' hot path. */
static inline double logistic_pair(double z, double *sig) {
    double e = exp(z > 0 ? -z : z);
    *sig = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    return z > 0 ? z + log1p(e) : log1p(e);
}

/* Class weight of output k of a row (1 when there are none). */
static double row_cw(const fw_linear *lm, const double *y, size_t k) {
    if (!lm->cw) return 1.0;
    if (lm->base.task == FW_TASK_MULTILABEL) return lm->cw[2 * k + (y[k] > 0.5)];
    return lm->cw[(size_t)y[0]];
}

double fw__linear_row_loss(const fw_linear *lm, const double *m, const double *y, double *d) {
    size_t no = lm->base.n_outputs;
    switch (lm->base.task) {
    case FW_TASK_BINARY: {
        double c = row_cw(lm, y, 0), sg;
        double lp = logistic_pair(m[0], &sg);
        d[0] = c * (sg - y[0]);
        return c * (lp - y[0] * m[0]);
    }
    case FW_TASK_MULTILABEL: {
        double l = 0;
        for (size_t k = 0; k < no; k++) {
            double c = row_cw(lm, y, k), sg;
            double lp = logistic_pair(m[k], &sg);
            d[k] = c * (sg - y[k]);
            l += c * (lp - y[k] * m[k]);
        }
        return l;
    }
    case FW_TASK_MULTICLASS: {
        double mx = m[0];
        for (size_t k = 1; k < no; k++) mx = m[k] > mx ? m[k] : mx;
        double s = 0;
        for (size_t k = 0; k < no; k++) s += (d[k] = exp(m[k] - mx));
        size_t cls = (size_t)y[0];
        double c = row_cw(lm, y, 0);
        for (size_t k = 0; k < no; k++) d[k] = c * d[k] / s;
        d[cls] -= c;
        return c * (mx + log(s) - m[cls]);
    }
    default: {
        double r = m[0] - y[0];
        if (lm->loss == FW_LIN_SQUARED) {
            d[0] = r;
            return 0.5 * r * r;
        }
        if (lm->loss == FW_LIN_HUBER) {
            double a = fabs(r);
            if (a <= lm->delta) {
                d[0] = r;
                return 0.5 * r * r;
            }
            d[0] = r > 0 ? lm->delta : -lm->delta;
            return lm->delta * (a - 0.5 * lm->delta);
        }
        double q = sqrt(r * r + lm->abs_eps * lm->abs_eps);
        d[0] = r / q;
        return q - lm->abs_eps;
    }
    }
}

static size_t y_stride(const fw_linear *lm) {
    return lm->base.task == FW_TASK_MULTILABEL ? lm->base.n_outputs : 1;
}

fw_status fw__linear_check_data(const fw_linear *lm, const fw_matrix *X, const double *y,
                                const double *w, fw_err *err) {
    if (!X || !y) return fw_err_set(err, FW_EINVAL, "linear: missing X or y");
    if (X->n_dense != lm->base.n_dense)
        return fw_err_set(err, FW_ESCHEMA, "linear: expected %zu dense features, got %zu",
                          lm->base.n_dense, X->n_dense);
    if (lm->base.sparse_dim && X->sparse_dim != lm->base.sparse_dim)
        return fw_err_set(err, FW_ESCHEMA, "linear: expected sparse dimension %u, got %u",
                          lm->base.sparse_dim, X->sparse_dim);
    size_t ys = y_stride(lm);
    for (size_t i = 0; i < X->n_rows; i++) {
        const float *r = X->dense + i * X->n_dense;
        for (size_t j = 0; j < X->n_dense; j++)
            if (!isfinite(r[j]))
                return fw_err_set(err, FW_EDATA,
                                  "linear: row %zu, feature %zu%s%s%s: value is %s (linear models "
                                  "need imputed features)",
                                  i, j, X->dense_names ? " '" : "",
                                  X->dense_names ? X->dense_names[j] : "",
                                  X->dense_names ? "'" : "", isnan(r[j]) ? "NaN" : "infinite");
        if (X->sparse_dim)
            for (uint64_t e = X->indptr[i]; e < X->indptr[i + 1]; e++)
                if (!isfinite(X->values[e]) || X->indices[e] >= X->sparse_dim)
                    return fw_err_set(err, FW_EDATA, "linear: row %zu: bad sparse entry %u", i,
                                      X->indices[e]);
        for (size_t k = 0; k < ys; k++) {
            double v = y[i * ys + k];
            if (!isfinite(v))
                return fw_err_set(err, FW_EDATA, "linear: label of row %zu is %s", i,
                                  isnan(v) ? "NaN" : "infinite");
            if (lm->base.task == FW_TASK_BINARY || lm->base.task == FW_TASK_MULTILABEL) {
                if (v != 0.0 && v != 1.0)
                    return fw_err_set(err, FW_EDATA, "linear: label of row %zu is %g, expected 0 or 1",
                                      i, v);
            } else if (lm->base.task == FW_TASK_MULTICLASS) {
                if (v < 0 || v >= (double)lm->n_classes || v != floor(v))
                    return fw_err_set(err, FW_EDATA,
                                      "linear: label of row %zu is %g, expected a class index in "
                                      "[0, %zu)",
                                      i, v, lm->n_classes);
            }
        }
        if (w && (!isfinite(w[i]) || w[i] < 0))
            return fw_err_set(err, FW_EDATA, "linear: weight of row %zu is %g (must be >= 0)", i,
                              w[i]);
    }
    return FW_OK;
}

/* ---- hyperparameters ---------------------------------------------------------------------- */

static const char *const k_known[] = {"solver", "l2",    "l1",      "C",      "alpha",
                                      "l1_ratio", "class_weight", "loss", "delta", "max_iter",
                                      "tol",    "memory", "epochs",  "batch",  "lr",
                                      "beta",   "early_stopping_rounds", NULL};

static fw_status parse_hp(const fw_fit_options *o, fw_task task, double wsum, fw_linear_hp *hp,
                          fw_err *err) {
    memset(hp, 0, sizeof *hp);
    hp->l2 = 1e-4;
    hp->delta = 1.0;
    hp->tol = 1e-5;
    hp->lr = 0.1;
    hp->beta = 1.0;
    hp->max_iter = 500;
    hp->memory = 10;
    hp->epochs = 1;
    hp->batch = 32;
    fw_status st = fw_fit_params_check(o, "linear", k_known, err);
    if (st) return st;
    const char *v = fw_fit_param(o, "solver");
    if (v) {
        if (!strcmp(v, "lbfgs")) hp->solver = FW_LIN_LBFGS;
        else if (!strcmp(v, "ftrl")) hp->solver = FW_LIN_FTRL;
        else if (!strcmp(v, "sgd")) hp->solver = FW_LIN_SGD;
        else return fw_err_set(err, FW_EINVAL, "linear.solver: expected lbfgs|ftrl|sgd, got '%s'", v);
    }
    v = fw_fit_param(o, "loss");
    if (v) {
        if (task != FW_TASK_REGRESSION && task != FW_TASK_RANKING)
            return fw_err_set(err, FW_EINVAL, "linear.loss: only for regression and ranking");
        if (!strcmp(v, "squared")) hp->loss = FW_LIN_SQUARED;
        else if (!strcmp(v, "absolute")) hp->loss = FW_LIN_ABSOLUTE;
        else if (!strcmp(v, "huber")) hp->loss = FW_LIN_HUBER;
        else if (!strcmp(v, "pairwise") && task == FW_TASK_RANKING) hp->loss = FW_LIN_PAIRWISE;
        else
            return fw_err_set(err, FW_EINVAL, "linear.loss: expected squared|absolute|huber%s, got '%s'",
                              task == FW_TASK_RANKING ? "|pairwise" : "", v);
    }
    v = fw_fit_param(o, "class_weight");
    if (v) {
        if (!strcmp(v, "balanced")) hp->balanced = 1;
        else if (strcmp(v, "none") != 0)
            return fw_err_set(err, FW_EINVAL, "linear.class_weight: expected none|balanced, got '%s'",
                              v);
        if (hp->balanced && task != FW_TASK_BINARY && task != FW_TASK_MULTICLASS &&
            task != FW_TASK_MULTILABEL)
            return fw_err_set(err, FW_EINVAL, "linear.class_weight: only for classification");
    }
    if ((st = fw_fit_param_double(o, "linear", "l2", 0, 1e6, &hp->l2, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "l1", 0, 1e6, &hp->l1, err))) return st;
    double C = -1, alpha = -1, ratio = 0;
    if ((st = fw_fit_param_double(o, "linear", "C", 1e-12, 1e12, &C, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "alpha", 0, 1e6, &alpha, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "l1_ratio", 0, 1, &ratio, err))) return st;
    if (C > 0) hp->l2 = 1.0 / (C * (wsum > 0 ? wsum : 1));
    if (alpha >= 0) {
        hp->l1 = alpha * ratio;
        hp->l2 = alpha * (1 - ratio);
    }
    if ((st = fw_fit_param_double(o, "linear", "delta", 1e-12, 1e300, &hp->delta, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "tol", 0, 1, &hp->tol, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "lr", 1e-12, 1e6, &hp->lr, err))) return st;
    if ((st = fw_fit_param_double(o, "linear", "beta", 0, 1e6, &hp->beta, err))) return st;
    if ((st = fw_fit_param_int(o, "linear", "max_iter", 1, 100000, &hp->max_iter, err))) return st;
    if ((st = fw_fit_param_int(o, "linear", "memory", 1, 100, &hp->memory, err))) return st;
    if ((st = fw_fit_param_int(o, "linear", "early_stopping_rounds", 0, 100000, &hp->early_stopping_rounds,
                                err)))
        return st;
    if ((st = fw_fit_param_int(o, "linear", "epochs", 1, 10000, &hp->epochs, err))) return st;
    if ((st = fw_fit_param_int(o, "linear", "batch", 1, 1 << 20, &hp->batch, err))) return st;
    return FW_OK;
}

/* ---- construction ------------------------------------------------------------------------- */

static void lin_free(fw_model *m) {
    fw_linear *lm = (fw_linear *)m;
    if (!lm) return;
    fw_free(lm->theta);
    fw_free(lm->acc);
    fw_free(lm->cw);
    fw_free(lm);
}

static fw_linear *lin_new(fw_task task, size_t n_out, size_t n_classes, size_t n_dense,
                          uint32_t sparse_dim) {
    fw_linear *lm = fw_calloc(1, sizeof *lm);
    if (!lm) return NULL;
    lm->base.vt = &fw_linear_vtable;
    lm->base.task = task;
    lm->base.n_outputs = n_out;
    lm->base.n_dense = n_dense;
    lm->base.sparse_dim = sparse_dim;
    lm->n_classes = n_classes;
    lm->n_feat = 1 + n_dense + sparse_dim;
    lm->delta = 1.0;
    lm->abs_eps = 1e-3;
    if (lm->n_feat > SIZE_MAX / 8 / n_out || !(lm->theta = fw_calloc(lm->n_feat * n_out, 8))) {
        fw_free(lm);
        return NULL;
    }
    return lm;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Class weights and starting intercepts from the (weighted) label distribution. */
static fw_status init_from_labels(fw_linear *lm, const double *y, const double *w, size_t n,
                                  int balanced) {
    size_t no = lm->base.n_outputs;
    fw_task t = lm->base.task;
    double wsum = 0;
    for (size_t i = 0; i < n; i++) wsum += w ? w[i] : 1.0;
    if (wsum <= 0) wsum = 1;
    if (t == FW_TASK_BINARY || t == FW_TASK_MULTICLASS) {
        size_t K = lm->n_classes;
        double *cnt = fw_calloc(K, sizeof(double));
        if (!cnt) return FW_ENOMEM;
        for (size_t i = 0; i < n; i++) cnt[(size_t)y[i]] += w ? w[i] : 1.0;
        if (balanced) {
            lm->cw = fw_calloc(K, sizeof(double));
            if (!lm->cw) {
                fw_free(cnt);
                return FW_ENOMEM;
            }
            lm->n_cw = K;
            for (size_t c = 0; c < K; c++) lm->cw[c] = cnt[c] > 0 ? wsum / ((double)K * cnt[c]) : 1.0;
            for (size_t c = 0; c < K; c++) cnt[c] *= lm->cw[c];
        }
        double tot = 0;
        for (size_t c = 0; c < K; c++) tot += cnt[c];
        if (t == FW_TASK_BINARY) {
            double p = (cnt[1] + 0.5) / (tot + 1.0);
            lm->theta[0] = log(p / (1 - p));
        } else {
            for (size_t c = 0; c < K; c++) lm->theta[c] = log((cnt[c] + 0.5) / (tot + 0.5 * (double)K));
        }
        fw_free(cnt);
        return FW_OK;
    }
    if (t == FW_TASK_MULTILABEL) {
        if (balanced) {
            lm->cw = fw_calloc(2 * no, sizeof(double));
            if (!lm->cw) return FW_ENOMEM;
            lm->n_cw = 2 * no;
        }
        for (size_t k = 0; k < no; k++) {
            double pos = 0;
            for (size_t i = 0; i < n; i++) pos += (w ? w[i] : 1.0) * y[i * no + k];
            double neg = wsum - pos;
            if (balanced) {
                lm->cw[2 * k] = neg > 0 ? wsum / (2 * neg) : 1.0;
                lm->cw[2 * k + 1] = pos > 0 ? wsum / (2 * pos) : 1.0;
                pos *= lm->cw[2 * k + 1];
                neg *= lm->cw[2 * k];
            }
            double p = (pos + 0.5) / (pos + neg + 1.0);
            lm->theta[k] = log(p / (1 - p));
        }
        return FW_OK;
    }
    /* regression / ranking: mean (squared) or median (absolute, huber); ε from the spread of y */
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
    double sd = sqrt(var / (double)n);
    lm->abs_eps = 1e-3 * (sd > 0 ? sd : 1.0);
    lm->theta[0] = mean;
    if (lm->loss != FW_LIN_SQUARED) {
        double *c = fw_malloc(n * sizeof(double));
        if (!c) return FW_ENOMEM;
        memcpy(c, y, n * sizeof(double));
        qsort(c, n, sizeof(double), cmp_double);
        lm->theta[0] = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
        fw_free(c);
    }
    return FW_OK;
}

static fw_status check_shape(const fw_train_data *d, fw_err *err) {
    switch (d->task) {
    case FW_TASK_BINARY:
        if (d->n_outputs != 1) return fw_err_set(err, FW_EINVAL, "linear: binary needs 1 output");
        break;
    case FW_TASK_MULTICLASS:
        if (d->n_classes < 2 || d->n_outputs != d->n_classes)
            return fw_err_set(err, FW_EINVAL, "linear: multiclass needs n_outputs == n_classes >= 2");
        break;
    case FW_TASK_MULTILABEL:
        if (d->n_outputs < 1) return fw_err_set(err, FW_EINVAL, "linear: multilabel needs labels");
        break;
    default:
        if (d->n_outputs != 1) return fw_err_set(err, FW_EINVAL, "linear: regression needs 1 output");
    }
    return FW_OK;
}

static fw_status lin_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                         fw_err *err) {
    *out = NULL;
    fw_status st = check_shape(d, err);
    if (st) return st;
    const fw_matrix *X = d->X;
    if (X->n_rows == 0) return fw_err_set(err, FW_EDATA, "linear: no training rows");
    double wsum = 0;
    for (size_t i = 0; i < X->n_rows; i++) wsum += d->weight ? d->weight[i] : 1.0;
    fw_linear_hp hp;
    if ((st = parse_hp(o, d->task, wsum, &hp, err))) return st;
    if (d->task == FW_TASK_RANKING && d->query && !fw_fit_param(o, "loss")) hp.loss = FW_LIN_PAIRWISE;
    if (hp.loss == FW_LIN_PAIRWISE && (!d->query || hp.solver != FW_LIN_LBFGS))
        return fw_err_set(err, FW_EINVAL, "linear.loss: pairwise needs a query id per row and the lbfgs solver");
    size_t ncls = d->task == FW_TASK_BINARY ? 2 : d->task == FW_TASK_MULTICLASS ? d->n_classes : 0;
    fw_linear *lm = lin_new(d->task, d->n_outputs, ncls, X->n_dense, X->sparse_dim);
    if (!lm) return fw_err_set(err, FW_ENOMEM, "linear: out of memory for %zu weights",
                               (1 + X->n_dense + (size_t)X->sparse_dim) * d->n_outputs);
    lm->loss = hp.loss;
    lm->delta = hp.delta;
    lm->l1 = hp.l1;
    lm->l2 = hp.l2;
    lm->solver = hp.solver;
    lm->balanced = hp.balanced;
    if ((st = fw__linear_check_data(lm, X, d->y, d->weight, err))) goto fail;
    if (wsum <= 0) {
        st = fw_err_set(err, FW_EDATA, "linear: all sample weights are zero");
        goto fail;
    }
    if ((st = init_from_labels(lm, d->y, d->weight, X->n_rows, hp.balanced))) {
        fw_err_set(err, st, "linear: out of memory");
        goto fail;
    }
    if (hp.loss == FW_LIN_PAIRWISE)
        st = fw__linear_pairwise(lm, d, &hp, o, err);
    else if (hp.solver == FW_LIN_LBFGS)
        st = fw__linear_lbfgs(lm, X, d->y, d->weight, d->X_valid, d->y_valid, d->weight_valid, &hp, o, err);
    else
        st = fw__linear_online(lm, X, d->y, d->weight, &hp, o, err);
    if (st) goto fail;
    *out = &lm->base;
    return FW_OK;
fail:
    lin_free(&lm->base);
    return st;
}

/* ---- prediction --------------------------------------------------------------------------- */

static void link(const fw_linear *lm, double *out) {
    size_t no = lm->base.n_outputs;
    switch (lm->base.task) {
    case FW_TASK_BINARY:
    case FW_TASK_MULTILABEL:
        for (size_t k = 0; k < no; k++) out[k] = sigmoid(out[k]);
        break;
    case FW_TASK_MULTICLASS: {
        double mx = out[0], s = 0;
        for (size_t k = 1; k < no; k++) mx = out[k] > mx ? out[k] : mx;
        for (size_t k = 0; k < no; k++) s += (out[k] = exp(out[k] - mx));
        for (size_t k = 0; k < no; k++) out[k] /= s;
        break;
    }
    default:
        break;
    }
}

static fw_status lin_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out) {
    (void)scratch;
    const fw_linear *lm = (const fw_linear *)m;
    fw__linear_margins(lm, x, out);
    link(lm, out);
    return FW_OK;
}

typedef struct pb_ctx {
    const fw_linear *lm;
    const fw_matrix *X;
    double *out;
} pb_ctx;

/* Rows b..e, 32 at a time through fw__linear_margins_rows (the same bits as predict_row). */
static void pb_range(void *ctx, int t, size_t b, size_t e) {
    (void)t;
    pb_ctx *c = ctx;
    fw_matrix Xv = *c->X;
    if (!c->lm->base.sparse_dim) Xv.sparse_dim = 0;
    size_t no = c->lm->base.n_outputs;
    fw_row rows[32];
    for (size_t i = b; i < e; i += 32) {
        size_t n = e - i < 32 ? e - i : 32;
        for (size_t q = 0; q < n; q++) rows[q] = fw_matrix_row(&Xv, i + q);
        fw__linear_margins_rows(c->lm, rows, n, c->out + i * no);
        for (size_t q = 0; q < n; q++) link(c->lm, c->out + (i + q) * no);
    }
}

static fw_status lin_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out) {
    const fw_linear *lm = (const fw_linear *)m;
    if (X->n_dense != m->n_dense) return FW_ESCHEMA;
    if (m->sparse_dim && X->sparse_dim != m->sparse_dim) return FW_ESCHEMA;
    pb_ctx c = {lm, X, out};
    /* threads only for ~0.1 ms of work or more (waking a pool worker costs a few µs) */
    double work = (double)X->n_rows * (double)(m->n_dense + 8) * (double)m->n_outputs;
    fw_parallel_for(work < 2e5 ? 1 : threads, X->n_rows, pb_range, &c);
    return FW_OK;
}

static fw_status lin_explain_row(const fw_model *m, const fw_row *x, void *scratch, double *contrib) {
    (void)scratch;
    const fw_linear *lm = (const fw_linear *)m;
    size_t no = m->n_outputs, nd = m->n_dense;
    for (size_t j = 0; j < nd; j++)
        for (size_t k = 0; k < no; k++)
            contrib[j * no + k] = (double)x->dense[j] * lm->theta[(1 + j) * no + k];
    double *bias = contrib + nd * no;
    for (size_t k = 0; k < no; k++) bias[k] = lm->theta[k];
    if (m->sparse_dim)
        for (size_t e = 0; e < x->nnz; e++)
            if (x->indices[e] < m->sparse_dim)
                for (size_t k = 0; k < no; k++)
                    bias[k] += (double)x->values[e] * lm->theta[(1 + nd + x->indices[e]) * no + k];
    return FW_OK;
}

static fw_status lin_importance(const fw_model *m, double *out) {
    const fw_linear *lm = (const fw_linear *)m;
    size_t no = m->n_outputs;
    for (size_t j = 0; j < m->n_dense; j++) {
        double s = 0;
        for (size_t k = 0; k < no; k++) s += fabs(lm->theta[(1 + j) * no + k]);
        out[j] = s;
    }
    return FW_OK;
}

/* ---- serialization ------------------------------------------------------------------------ */

/* A flat vector written sparsely: count of non-zeros, then (u64 index, f64 value) pairs. */
static void put_sparse_vec(fw_buf *b, const double *v, size_t n) {
    uint64_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += v[i] != 0.0;
    fw_buf_put_u64(b, nz);
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0.0) {
            fw_buf_put_u64(b, i);
            fw_buf_put_f64(b, v[i]);
        }
}

static bool get_sparse_vec(fw_reader *r, double *v, size_t n) {
    uint64_t nz = fw_reader_u64(r);
    if (!fw_reader_ok(r) || nz > n || nz > fw_reader_left(r) / 16) return false;
    uint64_t prev = 0;
    for (uint64_t e = 0; e < nz; e++) {
        uint64_t i = fw_reader_u64(r);
        double x = fw_reader_f64(r);
        if (!fw_reader_ok(r) || i >= n || (e && i <= prev) || !isfinite(x)) return false;
        v[i] = x;
        prev = i;
    }
    return true;
}

static fw_status lin_save(const fw_model *m, fw_buf *b) {
    const fw_linear *lm = (const fw_linear *)m;
    fw_buf_put_u32(b, LIN_FORMAT);
    fw_buf_put_u32(b, (uint32_t)m->task);
    fw_buf_put_u64(b, m->n_outputs);
    fw_buf_put_u64(b, m->n_dense);
    fw_buf_put_u32(b, m->sparse_dim);
    fw_buf_put_u64(b, lm->n_classes);
    fw_buf_put_u32(b, (uint32_t)lm->loss);
    fw_buf_put_u32(b, (uint32_t)lm->solver);
    fw_buf_put_u32(b, (uint32_t)lm->balanced);
    fw_buf_put_i32(b, lm->iters);
    fw_buf_put_f64(b, lm->delta);
    fw_buf_put_f64(b, lm->abs_eps);
    fw_buf_put_f64(b, lm->l1);
    fw_buf_put_f64(b, lm->l2);
    fw_buf_put_u64(b, lm->n_cw);
    fw_buf_put_f64s(b, lm->cw, lm->n_cw);
    put_sparse_vec(b, lm->theta, lm->n_feat * m->n_outputs);
    fw_buf_put_u8(b, lm->acc != NULL);
    if (lm->acc) put_sparse_vec(b, lm->acc, lm->n_feat * m->n_outputs);
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

static fw_status lin_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    *out = NULL;
    fw_reader r;
    fw_reader_init(&r, data, len);
    uint32_t ver = fw_reader_u32(&r);
    if (!fw_reader_ok(&r)) return fw_err_set(err, FW_ECORRUPT, "linear model: truncated header");
    if (ver != LIN_FORMAT)
        return fw_err_set(err, FW_EVERSION, "linear model: format %u, this build reads %u", ver,
                          LIN_FORMAT);
    uint32_t task = fw_reader_u32(&r);
    uint64_t no = fw_reader_u64(&r), nd = fw_reader_u64(&r);
    uint32_t sd = fw_reader_u32(&r);
    uint64_t ncls = fw_reader_u64(&r);
    uint32_t loss = fw_reader_u32(&r), solver = fw_reader_u32(&r), bal = fw_reader_u32(&r);
    int32_t iters = fw_reader_i32(&r);
    if (!fw_reader_ok(&r) || task > FW_TASK_RANKING || no == 0 || no > (1u << 20) ||
        nd > (1u << 28) || sd > (1u << 28) || loss > FW_LIN_PAIRWISE || (loss == FW_LIN_PAIRWISE && task != FW_TASK_RANKING) || solver > FW_LIN_SGD ||
        bal > 1 || ncls > (1u << 20) ||
        (task == FW_TASK_BINARY && (no != 1 || ncls != 2)) ||
        (task == FW_TASK_MULTICLASS && ncls != no) ||
        ((task == FW_TASK_REGRESSION || task == FW_TASK_RANKING) && no != 1) ||
        (1 + nd + sd) * no > fw_reader_left(&r) * 64 + (1u << 20))
        return fw_err_set(err, FW_ECORRUPT, "linear model: bad header");
    fw_linear *lm = lin_new((fw_task)task, (size_t)no, (size_t)ncls, (size_t)nd, sd);
    if (!lm) return fw_err_set(err, FW_ENOMEM, "linear model: out of memory");
    lm->loss = (int)loss;
    lm->solver = (int)solver;
    lm->balanced = (int)bal;
    lm->iters = iters;
    lm->delta = fw_reader_f64(&r);
    lm->abs_eps = fw_reader_f64(&r);
    lm->l1 = fw_reader_f64(&r);
    lm->l2 = fw_reader_f64(&r);
    uint64_t ncw = fw_reader_u64(&r);
    size_t P = lm->n_feat * (size_t)no;
    fw_status st = FW_ECORRUPT;
    if (!fw_reader_ok(&r) || !(lm->delta > 0) || !(lm->abs_eps > 0) || !(lm->l1 >= 0) ||
        !(lm->l2 >= 0) || ncw > 2 * no + ncls || ncw > fw_reader_left(&r) / 8)
        goto bad;
    if (ncw) {
        if (!(lm->cw = fw_malloc((size_t)ncw * 8))) {
            st = FW_ENOMEM;
            goto bad;
        }
        lm->n_cw = (size_t)ncw;
        if (!fw_reader_f64s(&r, lm->cw, lm->n_cw)) goto bad;
    }
    if (!get_sparse_vec(&r, lm->theta, P)) goto bad;
    uint8_t has_acc = fw_reader_u8(&r);
    if (!fw_reader_ok(&r) || has_acc > 1) goto bad;
    if (has_acc) {
        if (!(lm->acc = fw_calloc(P, 8))) {
            st = FW_ENOMEM;
            goto bad;
        }
        if (!get_sparse_vec(&r, lm->acc, P)) goto bad;
    }
    if (fw_reader_left(&r) != 0) goto bad;
    *out = &lm->base;
    return FW_OK;
bad:
    lin_free(&lm->base);
    return fw_err_set(err, st, st == FW_ENOMEM ? "linear model: out of memory"
                                               : "linear model: corrupt weights section");
}

static size_t lin_scratch_size(const fw_model *m) {
    (void)m;
    return 0;
}

static size_t lin_size_bytes(const fw_model *m) {
    const fw_linear *lm = (const fw_linear *)m;
    size_t P = lm->n_feat * m->n_outputs;
    return sizeof *lm + P * 8 + (lm->acc ? P * 8 : 0) + lm->n_cw * 8;
}

static void lin_params_json(const fw_model *m, fw_buf *out) {
    const fw_linear *lm = (const fw_linear *)m;
    static const char *solvers[] = {"lbfgs", "ftrl", "sgd"};
    static const char *losses[] = {"squared", "absolute", "huber", "pairwise"};
    fw_buf_printf(out, "{\"solver\":\"%s\",\"l1\":%.17g,\"l2\":%.17g,\"class_weight\":\"%s\"",
                  solvers[lm->solver], lm->l1, lm->l2, lm->balanced ? "balanced" : "none");
    if (m->task == FW_TASK_REGRESSION || m->task == FW_TASK_RANKING) {
        fw_buf_printf(out, ",\"loss\":\"%s\"", losses[lm->loss]);
        if (lm->loss == FW_LIN_HUBER) fw_buf_printf(out, ",\"delta\":%.17g", lm->delta);
    }
    fw_buf_printf(out, ",\"iterations\":%d,\"sparse_dim\":%u}", lm->iters, m->sparse_dim);
}

fw_status fw_linear_reset_rates(fw_model *m) {
    if (!m || m->vt != &fw_linear_vtable) return FW_EINVAL;
    fw_linear *lm = (fw_linear *)m;
    fw_free(lm->acc); /* partial_fit starts new sums (zeros) and re-derives FTRL's z from the weights */
    lm->acc = NULL;
    return FW_OK;
}

fw_status fw_linear_clone(const fw_model *m, fw_model **out) {
    *out = NULL;
    if (!m || m->vt != &fw_linear_vtable) return FW_EINVAL;
    const fw_linear *a = (const fw_linear *)m;
    fw_linear *b = fw_malloc(sizeof *b);
    if (!b) return FW_ENOMEM;
    *b = *a;
    b->theta = b->acc = b->cw = NULL;
    size_t P = a->n_feat * m->n_outputs;
    if (!(b->theta = fw_malloc(P * 8)) || (a->acc && !(b->acc = fw_malloc(P * 8))) ||
        (a->n_cw && !(b->cw = fw_malloc(a->n_cw * 8)))) {
        lin_free(&b->base);
        return FW_ENOMEM;
    }
    memcpy(b->theta, a->theta, P * 8);
    if (a->acc) memcpy(b->acc, a->acc, P * 8);
    if (a->n_cw) memcpy(b->cw, a->cw, a->n_cw * 8);
    *out = &b->base;
    return FW_OK;
}

fw_status fw_linear_partial_fit(fw_model *m, const fw_matrix *X, const double *y, const double *w,
                                const fw_fit_options *o, fw_err *err) {
    if (!m || m->vt != &fw_linear_vtable)
        return fw_err_set(err, FW_EINVAL, "linear.partial_fit: not a linear model");
    fw_linear *lm = (fw_linear *)m;
    if (!X || X->n_rows == 0) return fw_err_set(err, FW_EDATA, "linear.partial_fit: no rows");
    fw_status st = fw__linear_check_data(lm, X, y, w, err);
    if (st) return st;
    fw_linear_hp hp;
    if ((st = parse_hp(o, m->task, (double)X->n_rows, &hp, err))) return st;
    if (!fw_fit_param(o, "l1")) hp.l1 = lm->l1;
    if (!fw_fit_param(o, "l2")) hp.l2 = lm->l2;
    if (hp.solver == FW_LIN_LBFGS) hp.solver = FW_LIN_FTRL;
    return fw__linear_online(lm, X, y, w, &hp, o, err);
}

/* Refit on more rows without validation rows: an L-BFGS fit that validation stopped early keeps its
 * iteration count (the stop is the regularization); otherwise the same parameters do. */
static size_t lin_refit_params(const fw_model *m, double row_scale, char (*out)[FW_REFIT_PARAM_LEN],
                               size_t max) {
    const fw_linear *lm = (const fw_linear *)m;
    (void)row_scale;
    if (max < 1 || lm->solver != FW_LIN_LBFGS || !lm->stopped_early) return 0;
    snprintf(out[0], FW_REFIT_PARAM_LEN, "max_iter=%d", lm->iters > 1 ? lm->iters : 1);
    return 1;
}

const fw_model_vtable fw_linear_vtable = {
    .family = "linear",
    .fit = lin_fit,
    .predict_block = lin_predict_block,
    .predict_row = lin_predict_row,
    .explain_row = lin_explain_row,
    .importance = lin_importance,
    .save = lin_save,
    .load = lin_load,
    .scratch_size = lin_scratch_size,
    .size_bytes = lin_size_bytes,
    .params_json = lin_params_json,
    .free = lin_free,
    .refit_params = lin_refit_params,
};
