/* importance.c — owns permutation importance (see importance.h). */
#include "eval/importance.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void fw_importance_options_init(fw_importance_options *o) {
    o->n_repeats = 5;
    o->seed = 42;
    o->col_scorer = NULL;
}

void fw_importance_free(fw_importance *imp) {
    if (!imp) return;
    fw_free(imp->mean);
    fw_free(imp->std);
    memset(imp, 0, sizeof *imp);
}

fw_status fw_eval_predict_model(void *ud, const fw_matrix *X, double *out, fw_err *err) {
    const fw_model *m = ud;
    fw_status st = fw_model_predict_block(m, X, 0, out);
    if (st) return fw_err_set(err, st, "permutation importance: predict failed: %s", fw_strerror(st));
    return FW_OK;
}

/* The primary metric of X's predictions: by the column scorer cs when given (X = the scorer's rows
 * with column col permuted), else by the callback. */
static fw_status score(fw_task task, const fw_matrix *X, const double *y, size_t k,
                       const fw_eval_options *eo, fw_predict_matrix_fn predict, void *ud,
                       fw_col_scorer *cs, size_t col, double *pred, double *value, fw_err *err) {
    fw_status st;
    if (cs) {
        st = cs->predict(cs, X, col, pred);
        if (st) return fw_err_set(err, st, "permutation importance: predict failed: %s", fw_strerror(st));
    } else {
        st = predict(ud, X, pred, err);
    }
    if (st) return st;
    fw_metric_set s;
    st = fw_eval_compute(task, y, pred, X->n_rows, k, eo, &s, err);
    if (st) return st;
    *value = fw_metric_set_primary(&s);
    fw_metric_set_free(&s);
    return FW_OK;
}

fw_status fw_eval_permutation_importance(fw_task task, const fw_matrix *X, const double *y,
                                         size_t n_outputs, const fw_eval_options *eval_opt,
                                         fw_predict_matrix_fn predict, void *ud,
                                         const fw_importance_options *opt, fw_importance *out,
                                         fw_err *err) {
    memset(out, 0, sizeof *out);
    fw_importance_options def;
    if (!opt) {
        fw_importance_options_init(&def);
        opt = &def;
    }
    fw_eval_options edef;
    if (!eval_opt) {
        fw_eval_options_init(&edef);
        eval_opt = &edef;
    }
    if (!X || !y || !predict || X->n_rows == 0)
        return fw_err_set(err, FW_EINVAL, "permutation importance: no rows or no predictor");
    size_t n = X->n_rows, d = X->n_dense, k = n_outputs ? n_outputs : 1;
    size_t reps = opt->n_repeats ? opt->n_repeats : 1;
    fw_matrix W = *X; /* shares the sparse part (read-only), owns a dense copy */
    W.dense = fw_malloc((n * d > 0 ? n * d : 1) * sizeof *W.dense);
    double *pred = fw_malloc(n * k * sizeof *pred);
    float *col = fw_malloc(n * sizeof *col);
    uint32_t *perm = fw_malloc(n * sizeof *perm);
    out->n = d;
    out->mean = fw_calloc(d ? d : 1, sizeof *out->mean);
    out->std = fw_calloc(d ? d : 1, sizeof *out->std);
    double *drops = fw_malloc(reps * sizeof *drops);
    fw_status st = FW_OK;
    if (!W.dense || !pred || !col || !perm || !out->mean || !out->std || !drops) {
        st = fw_err_set(err, FW_ENOMEM, "permutation importance: out of memory");
        goto done;
    }
    memcpy(W.dense, X->dense, n * d * sizeof *W.dense);
    const char *primary = eval_opt->primary ? eval_opt->primary : fw_eval_default_metric(task);
    snprintf(out->metric, sizeof out->metric, "%s", primary);
    bool hib = fw_metric_higher_is_better(primary);
    st = score(task, &W, y, k, eval_opt, predict, ud, NULL, 0, pred, &out->base_score, err);
    if (st) goto done;
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < n; i++) col[i] = X->dense[i * d + j];
        for (size_t r = 0; r < reps; r++) {
            fw_rng rng;
            fw_rng_seed(&rng, opt->seed ^ (0x9E3779B97F4A7C15ull * (j + 1)) ^ ((uint64_t)r << 48));
            for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
            fw_rng_shuffle_u32(&rng, perm, n);
            for (size_t i = 0; i < n; i++) W.dense[i * d + j] = col[perm[i]];
            double v = 0;
            st = score(task, &W, y, k, eval_opt, predict, ud, opt->col_scorer, j, pred, &v, err);
            if (st) goto done;
            drops[r] = hib ? out->base_score - v : v - out->base_score;
        }
        for (size_t i = 0; i < n; i++) W.dense[i * d + j] = col[i];
        double m = 0, ss = 0;
        for (size_t r = 0; r < reps; r++) m += drops[r];
        m /= (double)reps;
        for (size_t r = 0; r < reps; r++) ss += (drops[r] - m) * (drops[r] - m);
        out->mean[j] = m;
        out->std[j] = sqrt(ss / (double)reps);
    }
done:
    fw_free(W.dense);
    fw_free(pred);
    fw_free(col);
    fw_free(perm);
    fw_free(drops);
    if (st) fw_importance_free(out);
    return st;
}
