/* linear_int.h — the linear family's private model struct and the helpers its three files share:
 * linear.c (interface: params, predict, explain, save/load), linear_lbfgs.c (batch L-BFGS/OWL-QN)
 * and linear_online.c (FTRL-proximal / AdaGrad mini-batch updates). Not for use outside them.
 *
 * Parameters live in one flat vector theta of n_feat * n_out doubles, feature-major:
 *   theta[f * n_out + k], f = 0 the intercept, f = 1 + j dense feature j,
 *   f = 1 + n_dense + s sparse (hashed) dimension s. */
#ifndef FW_MODELS_LINEAR_INT_H
#define FW_MODELS_LINEAR_INT_H

#include "models/linear.h"

#include <string.h>

/* Pairs of doubles (GCC/Clang vector extension: SSE2 on x86-64, NEON on arm64, scalar code
 * elsewhere) for the solvers' and scoring's inner loops. Lane arithmetic is the same IEEE
 * arithmetic as scalar code, so results do not depend on it. */
typedef double v2d __attribute__((vector_size(16)));
static inline v2d ld2(const double *p) {
    v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st2(double *p, v2d v) { memcpy(p, &v, sizeof v); }

enum { FW_LIN_SQUARED = 0, FW_LIN_ABSOLUTE = 1, FW_LIN_HUBER = 2, FW_LIN_PAIRWISE = 3 };
enum { FW_LIN_LBFGS = 0, FW_LIN_FTRL = 1, FW_LIN_SGD = 2 };

typedef struct fw_linear {
    fw_model base;
    size_t n_classes;
    int loss;          /* regression/ranking */
    double delta;      /* huber threshold */
    double abs_eps;    /* smoothing of the absolute loss */
    double l1, l2;
    int solver;        /* the solver of the original fit */
    int balanced;      /* class_weight=balanced */
    double *cw;        /* class weights: n_classes (binary/multiclass) or 2*n_out (multilabel) */
    size_t n_cw;
    size_t n_feat;     /* 1 + n_dense + sparse_dim */
    double *theta;     /* n_feat * n_out */
    double *acc;       /* online squared-gradient accumulators (n_feat * n_out) or NULL */
    int iters;         /* iterations / epochs of the last fit (reported in params_json) */
    bool stopped_early; /* the last L-BFGS fit kept its best validation iteration (not saved) */
} fw_linear;

/* Hyperparameters as parsed from fw_fit_options. */
typedef struct fw_linear_hp {
    int solver, loss, balanced;
    double l1, l2, delta, tol, lr, beta;
    long max_iter, memory, epochs, batch;
    long early_stopping_rounds; /* L-BFGS: stop when the validation loss has not improved for this
                                   many iterations and keep the best (0: off; needs X_valid) */
} fw_linear_hp;

/* Loss of one row given its margins m[n_out], class weights applied (not sample weights); writes
 * dLoss/dm into d[n_out]. y points at the row's label (multilabel: n_out labels). */
double fw__linear_row_loss(const fw_linear *lm, const double *m, const double *y, double *d);
/* Margins of one row (intercept + dense + in-range sparse), in a fixed summation order. */
void fw__linear_margins(const fw_linear *lm, const fw_row *x, double *m);
/* Margins of n_rows rows into m[r * n_out + k]: the same bits as fw__linear_margins row by row,
 * computed four rows at a time (the weights are read once per four rows). */
void fw__linear_margins_rows(const fw_linear *lm, const fw_row *rows, size_t n_rows, double *m);
/* AVX2 kernels (linear_simd.c) for multi-output models, four rows at a time: margins
 * (ms[r][k] for k < the returned count, starting from th[k]) and gradient terms (gd as in
 * linear_lbfgs.c's grad_rows4), eight outputs at a time in the generic code's order, so the bits
 * are the same. Each returns how many leading outputs it did (a multiple of 8; 0 without AVX2,
 * with fewer than 8 outputs or when fw__linear_simd is 0); the caller does the rest. */
size_t fw__linear_margins4_simd(const double *th, size_t no, size_t nd, const float *const *xs,
                                double *const *ms);
size_t fw__linear_grad4_simd(double *gd, size_t no, size_t nd, const float *const *xs,
                             const double *d);
/* 1 (default): use the AVX2 kernels when the CPU has AVX2; 0: never (tests compare the two).
 * Set it before any fit or prediction, not while one runs. */
extern int fw__linear_simd;

/* Validates X/y/w for fitting (NaN, ranges, class indices). */
fw_status fw__linear_check_data(const fw_linear *lm, const fw_matrix *X, const double *y,
                                const double *w, fw_err *err);

/* Batch fit with L-BFGS / OWL-QN from the current theta. With hp->early_stopping_rounds and
 * validation rows (Xv, yv, their weights wv or NULL for 1; else NULL), the weights with the lowest
 * validation loss (weighted as the training loss) are kept. */
fw_status fw__linear_lbfgs(fw_linear *lm, const fw_matrix *X, const double *y, const double *w,
                           const fw_matrix *Xv, const double *yv, const double *wv, const fw_linear_hp *hp,
                           const fw_fit_options *o, fw_err *err);
/* Ranking, loss=pairwise (linear_rank.c): RankNet's logistic loss on pairs of rows within each
 * query (d->query; d->query_valid for early stopping), solved as a logistic regression on
 * difference rows; lm's weights are set, its intercept 0. */
fw_status fw__linear_pairwise(fw_linear *lm, const fw_train_data *d, const fw_linear_hp *hp,
                              const fw_fit_options *o, fw_err *err);
/* One or more online passes (FTRL or SGD) from the current theta. */
fw_status fw__linear_online(fw_linear *lm, const fw_matrix *X, const double *y, const double *w,
                            const fw_linear_hp *hp, const fw_fit_options *o, fw_err *err);

#endif
