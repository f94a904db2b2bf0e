/* importance.c — owns permutation importance (see importance.h). */
#include "eval/importance.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/threads.h"
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void fw_importance_options_init(fw_importance_options *o) {
    o->n_repeats = 5;
    o->seed = 42;
    o->col_scorer = NULL;
    o->threads = 1;
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

/* What every feature's drops need, shared (read-only) by the threads. */
typedef struct imp_ctx {
    fw_task task;
    const fw_matrix *X;
    const double *y;
    size_t k, reps;
    const fw_eval_options *eo;
    fw_predict_matrix_fn predict;
    void *ud;
    const fw_importance_options *opt;
    bool hib;
    fw_importance *out;
    struct imp_thread { /* one thread's copy of the rows and scratch */
        fw_matrix W;
        double *pred, *drops;
        float *col;
        uint32_t *perm;
        fw_status st;
        fw_err err;
    } th[64];
} imp_ctx;

static fw_status thread_init(const imp_ctx *c, struct imp_thread *t) {
    size_t n = c->X->n_rows, d = c->X->n_dense;
    t->W = *c->X; /* shares the sparse part (read-only), owns a dense copy */
    t->W.dense = fw_malloc((n * d > 0 ? n * d : 1) * sizeof *t->W.dense);
    t->pred = fw_malloc(n * c->k * sizeof *t->pred);
    t->col = fw_malloc(n * sizeof *t->col);
    t->perm = fw_malloc(n * sizeof *t->perm);
    t->drops = fw_malloc(c->reps * sizeof *t->drops);
    if (!t->W.dense || !t->pred || !t->col || !t->perm || !t->drops) return FW_ENOMEM;
    memcpy(t->W.dense, c->X->dense, n * d * sizeof *t->W.dense);
    return FW_OK;
}

static void thread_free(struct imp_thread *t) {
    fw_free(t->W.dense);
    fw_free(t->pred);
    fw_free(t->col);
    fw_free(t->perm);
    fw_free(t->drops);
}

/* Feature j's drops (column j shuffled reps times, each shuffle seeded by (seed, j, repeat)) into
 * out->mean[j] and out->std[j]; t's copy of the rows is the original again afterwards. */
static fw_status feature_drops(const imp_ctx *c, struct imp_thread *t, size_t j, fw_err *err) {
    size_t n = c->X->n_rows, d = c->X->n_dense;
    fw_importance *out = c->out;
    for (size_t i = 0; i < n; i++) t->col[i] = c->X->dense[i * d + j];
    for (size_t r = 0; r < c->reps; r++) {
        fw_rng rng;
        fw_rng_seed(&rng, c->opt->seed ^ (0x9E3779B97F4A7C15ull * (j + 1)) ^ ((uint64_t)r << 48));
        for (size_t i = 0; i < n; i++) t->perm[i] = (uint32_t)i;
        fw_rng_shuffle_u32(&rng, t->perm, n);
        for (size_t i = 0; i < n; i++) t->W.dense[i * d + j] = t->col[t->perm[i]];
        double v = 0;
        fw_status st = score(c->task, &t->W, c->y, c->k, c->eo, c->predict, c->ud, c->opt->col_scorer, j,
                             t->pred, &v, err);
        if (st) return st;
        t->drops[r] = c->hib ? out->base_score - v : v - out->base_score;
    }
    for (size_t i = 0; i < n; i++) t->W.dense[i * d + j] = t->col[i];
    double m = 0, ss = 0;
    for (size_t r = 0; r < c->reps; r++) m += t->drops[r];
    m /= (double)c->reps;
    for (size_t r = 0; r < c->reps; r++) ss += (t->drops[r] - m) * (t->drops[r] - m);
    out->mean[j] = m;
    out->std[j] = sqrt(ss / (double)c->reps);
    return FW_OK;
}

/* Features handed out one at a time to the threads (the column scorer's calls are thread-safe,
 * and every feature's numbers depend on nothing but the feature: the same for any thread count). */
static void features_pass(void *vctx, int thread, size_t j, size_t b, size_t e) {
    (void)b;
    (void)e;
    imp_ctx *c = vctx;
    struct imp_thread *t = &c->th[thread];
    if (t->st) return;
    if (!t->W.dense && (t->st = thread_init(c, t))) {
        fw_err_set(&t->err, t->st, "permutation importance: out of memory");
        return;
    }
    t->st = feature_drops(c, t, j, &t->err);
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
    size_t d = X->n_dense;
    imp_ctx *c = fw_calloc(1, sizeof *c);
    out->n = d;
    out->mean = fw_calloc(d ? d : 1, sizeof *out->mean);
    out->std = fw_calloc(d ? d : 1, sizeof *out->std);
    fw_status st = FW_OK;
    if (!c || !out->mean || !out->std) {
        st = fw_err_set(err, FW_ENOMEM, "permutation importance: out of memory");
        goto done;
    }
    c->task = task;
    c->X = X;
    c->y = y;
    c->k = n_outputs ? n_outputs : 1;
    c->reps = opt->n_repeats ? opt->n_repeats : 1;
    c->eo = eval_opt;
    c->predict = predict;
    c->ud = ud;
    c->opt = opt;
    c->out = out;
    if (thread_init(c, &c->th[0])) {
        st = fw_err_set(err, FW_ENOMEM, "permutation importance: out of memory");
        goto done;
    }
    const char *primary = eval_opt->primary ? eval_opt->primary : fw_eval_default_metric(task);
    snprintf(out->metric, sizeof out->metric, "%s", primary);
    c->hib = fw_metric_higher_is_better(primary);
    st = score(task, &c->th[0].W, y, c->k, eval_opt, predict, ud, NULL, 0, c->th[0].pred, &out->base_score, err);
    if (st) goto done;
    int nt = opt->col_scorer ? opt->threads : 1; /* a caller's callback may not be thread-safe */
    if (nt > 64) nt = 64;
    if (nt > 1 && d > 1) {
        fw_parallel_blocks(nt, d, 1, features_pass, c);
        for (int t = 0; t < nt && !st; t++)
            if ((st = c->th[t].st)) *err = c->th[t].err;
    } else {
        for (size_t j = 0; j < d && !st; j++) st = feature_drops(c, &c->th[0], j, err);
    }
done:
    if (c)
        for (int t = 0; t < 64; t++) thread_free(&c->th[t]);
    fw_free(c);
    if (st) fw_importance_free(out);
    return st;
}
