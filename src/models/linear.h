/* linear.h — owns the public entry points of the linear model family ("linear") beyond the model
 * interface: online learning that continues a fitted model, and cloning.
 *
 * One model type covers every task, the solver is a hyperparameter:
 *   binary → logistic; multiclass → softmax; multilabel → one-vs-rest (independent sigmoids);
 *   regression → squared | absolute | huber loss (param loss); ranking → pointwise squared loss on
 *   the relevance.
 * Objective (every solver minimises the same thing):
 *   F(w) = (1/Σs_i) Σ_i s_i c_i loss_i(w)  +  l2/2 ||w||²  +  l1 ||w||₁
 * where s_i is the sample weight (1 when none), c_i the class weight (1, or n/(K n_k) with
 * class_weight=balanced; multilabel: per label and side), and the intercepts are never
 * regularised. Aliases: C=c sets l2 = 1/(c n) (liblinear's C Σloss + ½||w||², rescaled);
 * alpha=a with l1_ratio=r sets l1 = a r, l2 = a (1-r) (scikit-learn's elastic net).
 * Parameters (key=value): solver=lbfgs|ftrl|sgd, l2 (default 1e-4), l1 (0), C, alpha, l1_ratio,
 * class_weight=none|balanced, loss=squared|absolute|huber, delta (huber, 1.0, in units of y),
 * max_iter (lbfgs, 500), tol (lbfgs, 1e-5: stop when ||projected gradient||∞ <= tol·max(1,
 * ||g0||∞)), memory (lbfgs history, 10; shortened so the solver's vectors stay under ~1 GiB, at
 * least 2), epochs (online, 1), batch (online, 32),
 * lr (online α, 0.1), beta (online β, 1).
 * Batch solver: L-BFGS with Armijo backtracking; with l1 > 0 it is OWL-QN (orthant-wise, exact zeros).
 * The gradient is computed over fixed row blocks whose partial sums are reduced in block order
 * (dense part) and by sparse column in row order (sparse part), so the fitted bytes are identical
 * for any thread count.
 * The absolute loss is optimised in a smoothed form sqrt(r² + ε²) - ε with ε = 1e-3·(std of y),
 * which differs from |r| by at most ε per row.
 * Features are expected standardized by the pipeline (linear models never see NaN: NaN in X or y
 * is rejected at fit time with the row and column). importance() is Σ_k |w_jk| per dense
 * feature: on standardized inputs |w|·std reduces to |w|. explain_row gives w_jk x_j per dense
 * feature; the last row holds the intercept PLUS the summed contributions of sparse features. */
#ifndef FW_MODELS_LINEAR_H
#define FW_MODELS_LINEAR_H

#include "models/model.h"

extern const fw_model_vtable fw_linear_vtable;

/* Continues training a fitted linear model `m` (any solver) on new rows, each seen once per epoch
 * in the given order, in mini-batches: FTRL-proximal (default) or AdaGrad SGD (params solver=,
 * lr=, beta=, batch=, epochs=, l1=, l2= from o; l1/l2 default to the model's). y / w as in
 * fw_train_data for the model's task (w may be NULL). Class weights of the original fit are kept.
 * Per-coordinate accumulators are kept inside the model (and saved), so successive calls continue
 * smoothly. Modifies m in place: NOT thread-safe and m must not be shared while it runs — the
 * online-learning path clones the published model (fw_linear_clone), updates the clone, then
 * publishes it. Returns FW_OK, FW_EDATA (NaN, wrong shape) or FW_ENOMEM; on error m is unchanged
 * only for validation errors. */
fw_status fw_linear_partial_fit(fw_model *m, const fw_matrix *X, const double *y, const double *w,
                                const fw_fit_options *o, fw_err *err);

/* Forgets the per-coordinate squared-gradient sums (the weights stay): the next partial_fit steps
 * as large as a fresh learner's. For a learner that saw the world change (learn/online.c).
 * FW_EINVAL if m is not linear. */
fw_status fw_linear_reset_rates(fw_model *m);

/* A deep copy of a linear model (free with fw_model_free). FW_EINVAL if m is not linear. */
fw_status fw_linear_clone(const fw_model *m, fw_model **out);

#endif
