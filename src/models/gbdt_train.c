/* gbdt_train.c — owns gbdt training: parameter parsing and input checks, objectives (gradients,
 * base scores, losses), histogram building over fixed row blocks reduced in block order (so the
 * result is bit-identical for any thread count), the smaller-child-plus-subtraction trick, split
 * search with a learned default direction for missing values, depth-wise and loss-guided growth,
 * early stopping, the time budget, and packing the trees into the flat model. */
#include "models/gbdt_int.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/rng.h"
#include "core/threads.h"
#include "dist/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gpair {
    double g, h;
} gpair;

/* A node while training: the model node plus what only training needs. */
typedef struct tnode {
    fw_gbdt_node n;
    double cover;
    double gain;
    uint32_t bin; /* split bin: left when bin id <= bin (missing bin follows the default) */
} tnode;

/* An open leaf that may still be split. */
typedef struct cand {
    uint32_t node;
    uint32_t begin, end; /* its rows: t->rows[begin .. end) */
    uint32_t depth;
    double G, H;
    gpair *hist;
    double gain; /* best split (-inf: none) */
    uint32_t feat, bin;
    int default_left;
    double GL, HL;
    int done;
} cand;

typedef struct trainer {
    const fw_train_data *d;
    fw_gbdt_params p;
    int threads;
    size_t n, nf, nv;
    uint32_t K;
    fw_gbdt_bins bins;
    double *w;      /* n: sample weight x class weight */
    double *margin; /* n x K */
    double *vmargin; /* nv x K */
    gpair *gp;      /* K x n */
    uint32_t *rows, *tmp;
    size_t n_rows_sampled;
    uint32_t *active;
    size_t n_active;
    size_t hist_len;
    gpair **pool;   /* free histogram buffers */
    size_t n_pool, cap_pool;
    gpair *partial; /* MAX_BLOCKS - 1 partial histograms */
    tnode *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *tree_start;
    size_t n_trees, cap_trees;
    cand *cands;
    size_t cap_cands;
    double *l1_buf; /* l1 leaf refit scratch: 2 x n */
    fw__gbdt_rank *rank, *vrank; /* lambdarank: training / validation queries (gbdt_rank.c) */
    fw_rng rng;
    bool defer_margins; /* this tree's leaf values reach the margins in one parallel pass at its end */
    /* Under mpirun (dist/dist.h; never in the default build): every rank holds all rows and their
     * gradients, but builds histograms over its shard [lo, hi) only, and the ranks sum them. The
     * gradient pairs are rounded to fixed point first (quantize_grads), so every sum is exact and
     * the same bits come out for any number of ranks; subsampling is keyed on the global row id;
     * margins are updated for all rows by walking each finished tree. */
    bool dist;
    size_t lo, hi; /* this rank's rows (0, n without MPI) */
    uint32_t round; /* the boosting round being grown (row sampling under MPI) */
    /* Depthwise growth a level at a time (grow_levels): the level's splits, one pass's tasks and
     * the scratch for the histograms' row blocks 1.. (gpairs), kept from tree to tree. */
    struct lsplit *lsp;
    size_t cap_lsp;
    struct ltask *ltk;
    size_t cap_ltk;
    gpair *lscr;
    size_t cap_lscr;
    fw__gbdt_phases *ph; /* fw__gbdt_phase_stats at the fit's start (NULL: not timed) */
    double ph_wall, ph_cpu; /* when the previous phase ended */
} trainer;

fw__gbdt_phases *fw__gbdt_phase_stats;

const char *fw__gbdt_phase_name(int phase) {
    static const char *const names[FW_GBDT_N_PH] = {"setup", "grad", "hist", "partition",
                                                    "split", "tree", "margin", "eval"};
    return phase >= 0 && phase < FW_GBDT_N_PH ? names[phase] : "?";
}

/* Charges the time since the previous phase ended to `phase` (when timing). */
static void ph_end(trainer *t, int phase) {
    if (!t->ph) return;
    double w = fw_now_seconds(), c = fw_cpu_seconds();
    t->ph->wall[phase] += w - t->ph_wall;
    t->ph->cpu[phase] += c - t->ph_cpu;
    t->ph_wall = w;
    t->ph_cpu = c;
}

#define MAX_BLOCKS 8

/* Rows read ahead in the histogram loops: a node's rows are ascending but gapped below the root,
 * which the hardware prefetcher does not follow. */
#define PREFETCH_ROWS 24

/* ---- parameters ------------------------------------------------------------------------------ */

static const char *const known_params[] = {
    "objective", "n_estimators", "learning_rate", "eta", "max_depth", "max_leaves", "grow_policy",
    "max_bin", "lambda", "reg_lambda", "alpha", "reg_alpha", "min_child_weight", "gamma",
    "min_split_gain", "subsample", "colsample_bytree", "huber_delta", "class_weight",
    "early_stopping_rounds", "early_stopping_metric", "ndcg_at", "truncation", "gain", NULL};

static fw_status parse_params(const fw_train_data *d, const fw_fit_options *o, fw_gbdt_params *p,
                              fw_err *err) {
    fw__gbdt_params_init(p);
    p->seed = o->seed;
    fw_status st = fw_fit_params_check(o, "gbdt", known_params, err);
    if (st) return st;
    switch (d->task) {
    case FW_TASK_BINARY: p->objective = FW_GBDT_LOGLOSS; break;
    case FW_TASK_MULTICLASS: p->objective = FW_GBDT_SOFTMAX; break;
    case FW_TASK_REGRESSION: p->objective = FW_GBDT_L2; break;
    case FW_TASK_RANKING: p->objective = d->query ? FW_GBDT_LAMBDARANK : FW_GBDT_L2; break;
    default:
        return fw_err_set(err, FW_EUNSUPPORTED, "gbdt: task '%s' is not supported",
                          fw_task_name(d->task));
    }
    const char *obj = fw_fit_param(o, "objective");
    if (obj) {
        bool cls = d->task == FW_TASK_BINARY || d->task == FW_TASK_MULTICLASS;
        fw_gbdt_objective want;
        if (strcmp(obj, "logloss") == 0 || strcmp(obj, "binary") == 0)
            want = FW_GBDT_LOGLOSS;
        else if (strcmp(obj, "softmax") == 0 || strcmp(obj, "multiclass") == 0)
            want = FW_GBDT_SOFTMAX;
        else if (strcmp(obj, "l2") == 0 || strcmp(obj, "regression") == 0 ||
                 strcmp(obj, "pointwise") == 0)
            want = FW_GBDT_L2;
        else if (strcmp(obj, "l1") == 0)
            want = FW_GBDT_L1;
        else if (strcmp(obj, "huber") == 0)
            want = FW_GBDT_HUBER;
        else if (strcmp(obj, "lambdarank") == 0 || strcmp(obj, "lambdamart") == 0 ||
                 strcmp(obj, "rank:ndcg") == 0)
            want = FW_GBDT_LAMBDARANK;
        else
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.objective: expected logloss, softmax, l2, l1, huber or "
                              "lambdarank, got '%s'",
                              obj);
        bool ok = (want == p->objective) || (!cls && want >= FW_GBDT_L2 && want <= FW_GBDT_HUBER) ||
                  (want == FW_GBDT_LAMBDARANK && d->task == FW_TASK_RANKING);
        if (ok && want == FW_GBDT_LAMBDARANK && !d->query)
            return fw_err_set(err, FW_EINVAL, "gbdt.objective: lambdarank needs a query id per row (data.query)");
        if (!ok)
            return fw_err_set(err, FW_EINVAL, "gbdt.objective: '%s' does not fit a %s task", obj,
                              fw_task_name(d->task));
        p->objective = want;
    }
    const char *gp = fw_fit_param(o, "grow_policy");
    if (gp) {
        if (strcmp(gp, "lossguide") == 0) {
            p->lossguide = true;
            p->max_leaves = 31;
            p->max_depth = 0;
        } else if (strcmp(gp, "depthwise") != 0) {
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.grow_policy: expected depthwise or lossguide, got '%s'", gp);
        }
    }
    const char *cw = fw_fit_param(o, "class_weight");
    if (cw) {
        if (strcmp(cw, "balanced") == 0)
            p->class_balanced = true;
        else if (strcmp(cw, "none") != 0)
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.class_weight: expected balanced or none, got '%s'", cw);
        if (p->class_balanced && d->task != FW_TASK_BINARY && d->task != FW_TASK_MULTICLASS)
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.class_weight: balanced needs a classification task");
    }
    const char *sm = fw_fit_param(o, "early_stopping_metric");
    if (sm) {
        if (strcmp(sm, "error") == 0)
            p->stop_metric = FW_GBDT_METRIC_ERROR;
        else if (strcmp(sm, "loss") != 0)
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.early_stopping_metric: expected loss or error, got '%s'", sm);
        if (p->stop_metric == FW_GBDT_METRIC_ERROR && d->task != FW_TASK_BINARY &&
            d->task != FW_TASK_MULTICLASS)
            return fw_err_set(err, FW_EINVAL,
                              "gbdt.early_stopping_metric: error needs a classification task");
    }
    long v;
    v = p->n_estimators;
    if ((st = fw_fit_param_int(o, "gbdt", "n_estimators", 1, 100000, &v, err))) return st;
    p->n_estimators = (uint32_t)v;
    if ((st = fw_fit_param_double(o, "gbdt", "eta", 1e-6, 10, &p->learning_rate, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "learning_rate", 1e-6, 10, &p->learning_rate, err)))
        return st;
    v = p->max_depth;
    if ((st = fw_fit_param_int(o, "gbdt", "max_depth", 0, FW_GBDT_MAX_DEPTH, &v, err))) return st;
    p->max_depth = (uint32_t)v;
    v = p->max_leaves;
    if ((st = fw_fit_param_int(o, "gbdt", "max_leaves", 0, 1 << 20, &v, err))) return st;
    if (v == 1) return fw_err_set(err, FW_EINVAL, "gbdt.max_leaves: must be 0 (no limit) or >= 2");
    p->max_leaves = (uint32_t)v;
    v = p->max_bin;
    if ((st = fw_fit_param_int(o, "gbdt", "max_bin", 2, 255, &v, err))) return st;
    p->max_bin = (uint32_t)v;
    if ((st = fw_fit_param_double(o, "gbdt", "reg_lambda", 0, 1e12, &p->lambda, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "lambda", 0, 1e12, &p->lambda, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "reg_alpha", 0, 1e12, &p->alpha, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "alpha", 0, 1e12, &p->alpha, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "min_child_weight", 0, 1e12, &p->min_child_weight,
                                  err)))
        return st;
    if ((st = fw_fit_param_double(o, "gbdt", "min_split_gain", 0, 1e12, &p->gamma, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "gamma", 0, 1e12, &p->gamma, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "subsample", 1e-6, 1, &p->subsample, err))) return st;
    if ((st = fw_fit_param_double(o, "gbdt", "colsample_bytree", 1e-6, 1, &p->colsample_bytree,
                                  err)))
        return st;
    if ((st = fw_fit_param_double(o, "gbdt", "huber_delta", 1e-12, 1e12, &p->huber_delta, err)))
        return st;
    v = p->early_stopping_rounds;
    if ((st = fw_fit_param_int(o, "gbdt", "early_stopping_rounds", 0, 1000000, &v, err))) return st;
    p->early_stopping_rounds = (uint32_t)v;
    if (!d->X_valid) p->early_stopping_rounds = 0;
    v = p->ndcg_at;
    if ((st = fw_fit_param_int(o, "gbdt", "ndcg_at", 1, 1000000, &v, err))) return st;
    p->ndcg_at = (uint32_t)v;
    v = p->rank_truncation;
    if ((st = fw_fit_param_int(o, "gbdt", "truncation", 0, 1000000, &v, err))) return st;
    p->rank_truncation = (uint32_t)v;
    const char *gain = fw_fit_param(o, "gain");
    if (gain) {
        if (strcmp(gain, "exponential") != 0 && strcmp(gain, "linear") != 0)
            return fw_err_set(err, FW_EINVAL, "gbdt.gain: expected linear or exponential, got '%s'", gain);
        p->rank_exp_gain = strcmp(gain, "exponential") == 0;
    }
    if (p->lambda == 0 && p->min_child_weight == 0)
        p->min_child_weight = 1e-12; /* keeps every leaf's hessian positive */
    return FW_OK;
}

/* ---- input checks ---------------------------------------------------------------------------- */

static fw_status check_labels(const char *what, const double *y, size_t n, const fw_gbdt_params *p,
                              uint32_t K, fw_err *err) {
    for (size_t i = 0; i < n; i++) {
        double v = y[i];
        if (!isfinite(v))
            return fw_err_set(err, FW_EDATA, "gbdt: %s label of row %zu is %s", what, i,
                              isnan(v) ? "NaN" : "infinite");
        if (p->objective == FW_GBDT_LOGLOSS && v != 0 && v != 1)
            return fw_err_set(err, FW_EDATA, "gbdt: %s label of row %zu is %g, expected 0 or 1",
                              what, i, v);
        if (p->objective == FW_GBDT_LAMBDARANK && (v < 0 || v > 64))
            return fw_err_set(err, FW_EDATA,
                              "gbdt: %s label of row %zu is %g, expected a relevance grade in [0, 64]",
                              what, i, v);
        if (p->objective == FW_GBDT_SOFTMAX && (v < 0 || v >= K || v != floor(v)))
            return fw_err_set(err, FW_EDATA,
                              "gbdt: %s label of row %zu is %g, expected a class index in [0, %u)",
                              what, i, v, K);
    }
    return FW_OK;
}

static fw_status check_inputs(const fw_train_data *d, const fw_gbdt_params *p, uint32_t K,
                              fw_err *err) {
    const fw_matrix *X = d->X;
    if (!X || !d->y || X->n_rows == 0)
        return fw_err_set(err, FW_EDATA, "gbdt: no training rows");
    if (X->n_rows > UINT32_MAX - 1)
        return fw_err_set(err, FW_ELIMIT, "gbdt: %zu training rows (at most %u)", X->n_rows,
                          UINT32_MAX - 1);
    if (X->n_dense == 0 || !X->dense)
        return fw_err_set(err, FW_EDATA, "gbdt: no dense features (gbdt ignores sparse features)");
    if (X->n_dense > (1u << 24))
        return fw_err_set(err, FW_ELIMIT, "gbdt: %zu dense features (at most %u)", X->n_dense,
                          1u << 24);
    if (p->objective == FW_GBDT_SOFTMAX && (K < 2 || K > FW_GBDT_MAX_OUTPUTS))
        return fw_err_set(err, FW_EDATA, "gbdt: multiclass needs 2..%d classes, got %u",
                          FW_GBDT_MAX_OUTPUTS, K);
    fw_status st = check_labels("training", d->y, X->n_rows, p, K, err);
    if (st) return st;
    if (p->objective == FW_GBDT_LOGLOSS || p->objective == FW_GBDT_SOFTMAX) {
        double first = d->y[0];
        size_t i = 1;
        while (i < X->n_rows && d->y[i] == first) i++;
        if (i == X->n_rows)
            return fw_err_set(err, FW_EDATA,
                              "gbdt: every training label is class %g: a classifier needs at "
                              "least two classes",
                              first);
    }
    if (d->weight) {
        double s = 0;
        for (size_t i = 0; i < X->n_rows; i++) {
            double w = d->weight[i];
            if (!isfinite(w) || w < 0)
                return fw_err_set(err, FW_EDATA, "gbdt: weight of row %zu is %g (need >= 0)", i,
                                  w);
            s += w;
        }
        if (!(s > 0)) return fw_err_set(err, FW_EDATA, "gbdt: all sample weights are zero");
    }
    if (p->objective == FW_GBDT_LAMBDARANK && (!d->query || (d->X_valid && !d->query_valid)))
        return fw_err_set(err, FW_EINVAL, "gbdt: lambdarank needs a query id per training and validation row");
    if (d->X_valid) {
        if (!d->y_valid) return fw_err_set(err, FW_EINVAL, "gbdt: X_valid given without y_valid");
        if (d->X_valid->n_dense != X->n_dense)
            return fw_err_set(err, FW_ESCHEMA,
                              "gbdt: validation set has %zu dense features, training has %zu",
                              d->X_valid->n_dense, X->n_dense);
        if ((st = check_labels("validation", d->y_valid, d->X_valid->n_rows, p, K, err)))
            return st;
    }
    return FW_OK;
}

/* ---- objectives ------------------------------------------------------------------------------ */

static int cmp_pair(const void *a, const void *b) {
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Weighted median of (value, weight) pairs packed as 2*n doubles (sorted in place). */
static double weighted_median(double *pairs, size_t n) {
    if (n == 0) return 0;
    qsort(pairs, n, 2 * sizeof(double), cmp_pair);
    double total = 0;
    for (size_t i = 0; i < n; i++) total += pairs[2 * i + 1];
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += pairs[2 * i + 1];
        if (acc >= 0.5 * total) return pairs[2 * i];
    }
    return pairs[2 * (n - 1)];
}

static void base_scores(trainer *t, double *base) {
    const double *y = t->d->y;
    size_t n = t->n;
    switch (t->p.objective) {
    case FW_GBDT_LOGLOSS: {
        double sw = 0, sp = 0;
        for (size_t i = 0; i < n; i++) {
            sw += t->w[i];
            sp += t->w[i] * y[i];
        }
        double pr = sp / sw;
        if (pr < 1e-7) pr = 1e-7;
        if (pr > 1 - 1e-7) pr = 1 - 1e-7;
        base[0] = log(pr / (1 - pr));
        break;
    }
    case FW_GBDT_SOFTMAX: {
        double sw = 0, mean = 0;
        for (uint32_t k = 0; k < t->K; k++) base[k] = 0;
        for (size_t i = 0; i < n; i++) {
            base[(size_t)y[i]] += t->w[i];
            sw += t->w[i];
        }
        for (uint32_t k = 0; k < t->K; k++) {
            double pr = base[k] / sw;
            base[k] = log(pr < 1e-7 ? 1e-7 : pr);
            mean += base[k];
        }
        mean /= t->K;
        for (uint32_t k = 0; k < t->K; k++) base[k] -= mean;
        break;
    }
    case FW_GBDT_L2: {
        double sw = 0, s = 0;
        for (size_t i = 0; i < n; i++) {
            sw += t->w[i];
            s += t->w[i] * y[i];
        }
        base[0] = s / sw;
        break;
    }
    case FW_GBDT_L1:
    case FW_GBDT_HUBER: {
        for (size_t i = 0; i < n; i++) {
            t->l1_buf[2 * i] = y[i];
            t->l1_buf[2 * i + 1] = t->w[i];
        }
        base[0] = weighted_median(t->l1_buf, n);
        break;
    }
    case FW_GBDT_LAMBDARANK: base[0] = 0; break; /* only the order within a query matters */
    }
}

typedef struct grad_ctx {
    trainer *t;
} grad_ctx;

static void grad_range(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    trainer *t = ((grad_ctx *)vctx)->t;
    const double *y = t->d->y;
    uint32_t K = t->K;
    size_t n = t->n;
    double delta = t->p.huber_delta;
    for (size_t i = b; i < e; i++) {
        double w = t->w[i];
        const double *m = t->margin + i * K;
        switch (t->p.objective) {
        case FW_GBDT_LOGLOSS: {
            double pr = 1.0 / (1.0 + exp(-m[0]));
            double h = pr * (1 - pr);
            t->gp[i] = (gpair){(pr - y[i]) * w, (h < 1e-16 ? 1e-16 : h) * w};
            break;
        }
        case FW_GBDT_SOFTMAX: {
            double mx = m[0], s = 0;
            for (uint32_t k = 1; k < K; k++)
                if (m[k] > mx) mx = m[k];
            for (uint32_t k = 0; k < K; k++) s += exp(m[k] - mx);
            uint32_t yc = (uint32_t)y[i];
            for (uint32_t k = 0; k < K; k++) {
                double pr = exp(m[k] - mx) / s;
                double h = 2.0 * pr * (1 - pr);
                t->gp[k * n + i] = (gpair){(pr - (k == yc)) * w, (h < 1e-16 ? 1e-16 : h) * w};
            }
            break;
        }
        case FW_GBDT_L2: t->gp[i] = (gpair){(m[0] - y[i]) * w, w}; break;
        case FW_GBDT_L1: {
            double r = m[0] - y[i];
            t->gp[i] = (gpair){(r > 0 ? 1.0 : r < 0 ? -1.0 : 0.0) * w, w};
            break;
        }
        case FW_GBDT_HUBER: {
            double r = m[0] - y[i];
            if (r > delta) r = delta;
            if (r < -delta) r = -delta;
            t->gp[i] = (gpair){r * w, w};
            break;
        }
        case FW_GBDT_LAMBDARANK: break; /* per query: fw__gbdt_rank_grad */
        }
    }
}

/* Mean loss of margins (n x K) against y, weighted by w (NULL = 1). Serial: deterministic. */
static double mean_loss(const fw_gbdt_params *p, uint32_t K, const double *margin,
                        const double *y, const double *w, size_t n) {
    double s = 0, sw = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, l = 0;
        const double *m = margin + i * K;
        switch (p->objective) {
        case FW_GBDT_LOGLOSS:
            l = (m[0] > 0 ? m[0] : 0) - y[i] * m[0] + log1p(exp(-fabs(m[0])));
            break;
        case FW_GBDT_SOFTMAX: {
            double mx = m[0], z = 0;
            for (uint32_t k = 1; k < K; k++)
                if (m[k] > mx) mx = m[k];
            for (uint32_t k = 0; k < K; k++) z += exp(m[k] - mx);
            l = mx + log(z) - m[(size_t)y[i]];
            break;
        }
        case FW_GBDT_L2: l = (m[0] - y[i]) * (m[0] - y[i]); break;
        case FW_GBDT_L1: l = fabs(m[0] - y[i]); break;
        case FW_GBDT_HUBER: {
            double r = fabs(m[0] - y[i]), dl = p->huber_delta;
            l = r <= dl ? 0.5 * r * r : dl * (r - 0.5 * dl);
            break;
        }
        case FW_GBDT_LAMBDARANK: break; /* 1 - NDCG per query: fw__gbdt_rank_ndcg */
        }
        s += wi * l;
        sw += wi;
    }
    double v = sw > 0 ? s / sw : 0;
    return p->objective == FW_GBDT_L2 ? sqrt(v) : v;
}

/* Fraction of rows whose predicted class (margin > 0, or the largest margin) is not y. Serial. */
static double error_rate(const fw_gbdt_params *p, uint32_t K, const double *margin, const double *y,
                         size_t n) {
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        const double *m = margin + i * K;
        size_t pred = 0;
        if (p->objective == FW_GBDT_LOGLOSS) {
            pred = m[0] > 0;
        } else {
            for (uint32_t k = 1; k < K; k++)
                if (m[k] > m[pred]) pred = k;
        }
        wrong += (double)pred != y[i];
    }
    return n ? (double)wrong / (double)n : 0;
}

/* ---- histograms ------------------------------------------------------------------------------ */

static gpair *hist_get(trainer *t) {
    if (t->n_pool) return t->pool[--t->n_pool];
    return fw_malloc(t->hist_len * sizeof(gpair));
}

static void hist_put(trainer *t, gpair *h) {
    if (!h) return;
    if (t->n_pool == t->cap_pool) {
        if (FW_GROW(&t->pool, &t->cap_pool, t->n_pool + 1) != FW_OK) {
            fw_free(h);
            return;
        }
    }
    t->pool[t->n_pool++] = h;
}

typedef struct hist_job {
    trainer *t;
    const gpair *gp;
    const uint32_t *rows;
    gpair *out; /* block 0 */
    size_t n_blocks;
    size_t n; /* rows (feature-parallel path) */
    gpair *const *dst;
    bool by_col; /* hist_accumulate_cols */
} hist_job;

/* Rows per step of the column-wise kernel: their gradients are gathered once (16 KiB) and reused
 * by every feature. */
#define COL_STEP 1024
double fw__gbdt_col_min_share = 0.25;

/* Adds g to slot bin of the histogram row h (a feature's slots). */
static inline void slot_add(gpair *h, uint32_t bin, const gpair *g) {
    h[bin].g += g->g;
    h[bin].h += g->h;
}

/* The column-wise form of hist_accumulate_feats for nodes holding most rows (the root and its big
 * children): feature by feature (four at a time) over COL_STEP rows, reading the column-major bin
 * ids, so the slots being added to (4 x 4 KiB) stay in the first-level cache instead of the whole
 * histogram (~200 KiB for 50 features) being touched by every row. Each slot still adds its rows
 * in row order: the sums are bit-identical to the row-wise loop. Slots [jb, je) zeroed first. */
static void hist_accumulate_cols(const trainer *t, const gpair *gp, const uint32_t *rows, size_t b,
                                 size_t e, size_t jb, size_t je, gpair *h) {
    const uint32_t *off = t->bins.offset;
    bool all = t->n_active == t->nf;
    const uint32_t *act = t->active;
    const uint8_t *cols = t->bins.cols;
    size_t n = t->n;
    for (size_t j = jb; j < je; j++) {
        uint32_t f = all ? (uint32_t)j : act[j];
        memset(h + off[f], 0, (size_t)(off[f + 1] - off[f]) * sizeof(gpair));
    }
    gpair og[COL_STEP];
    for (size_t s = b; s < e; s += COL_STEP) {
        size_t m = e - s < COL_STEP ? e - s : COL_STEP;
        const uint32_t *rs = rows + s;
        for (size_t i = 0; i < m; i++) og[i] = gp[rs[i]];
        size_t j = jb;
        for (; j + 4 <= je; j += 4) {
            uint32_t f0 = all ? (uint32_t)j : act[j], f1 = all ? (uint32_t)j + 1 : act[j + 1];
            uint32_t f2 = all ? (uint32_t)j + 2 : act[j + 2], f3 = all ? (uint32_t)j + 3 : act[j + 3];
            const uint8_t *c0 = cols + f0 * n, *c1 = cols + f1 * n, *c2 = cols + f2 * n,
                          *c3 = cols + f3 * n;
            gpair *h0 = h + off[f0], *h1 = h + off[f1], *h2 = h + off[f2], *h3 = h + off[f3];
            for (size_t i = 0; i < m; i++) {
                uint32_t r = rs[i];
                slot_add(h0, c0[r], &og[i]);
                slot_add(h1, c1[r], &og[i]);
                slot_add(h2, c2[r], &og[i]);
                slot_add(h3, c3[r], &og[i]);
            }
        }
        for (; j < je; j++) {
            uint32_t f = all ? (uint32_t)j : act[j];
            const uint8_t *c = cols + f * n;
            gpair *hf = h + off[f];
            for (size_t i = 0; i < m; i++) slot_add(hf, c[rs[i]], &og[i]);
        }
    }
}

/* Adds rows[b..e) into h for the active features active[jb..je) (their slots are zeroed first).
 * Every bin's sum runs over the rows in order, whatever the feature range: splitting the features
 * over threads does not change a single bit. */
static void hist_accumulate_feats(const trainer *t, const gpair *gp, const uint32_t *rows,
                                  size_t b, size_t e, size_t jb, size_t je, gpair *h, bool by_col) {
    if (by_col) {
        hist_accumulate_cols(t, gp, rows, b, e, jb, je, h);
        return;
    }
    const uint8_t *bins = t->bins.bins;
    const uint32_t *off = t->bins.offset;
    size_t nf = t->nf;
    if (t->n_active == nf) {
        memset(h + off[jb], 0, (size_t)(off[je] - off[jb]) * sizeof(gpair));
        size_t pe = e > PREFETCH_ROWS ? e - PREFETCH_ROWS : 0;
        for (size_t i = b; i < e; i++) {
            if (i < pe) { /* the row PREFETCH_ROWS ahead: its bins (first and last) and gradient */
                uint32_t q = rows[i + PREFETCH_ROWS];
                __builtin_prefetch(bins + (size_t)q * nf + jb);
                __builtin_prefetch(bins + (size_t)q * nf + je - 1);
                __builtin_prefetch(gp + q);
            }
            uint32_t r = rows[i];
            double g = gp[r].g, hh = gp[r].h;
            const uint8_t *br = bins + (size_t)r * nf;
            for (size_t f = jb; f < je; f++) {
                gpair *s = h + off[f] + br[f];
                s->g += g;
                s->h += hh;
            }
        }
    } else {
        const uint32_t *act = t->active;
        for (size_t j = jb; j < je; j++)
            memset(h + off[act[j]], 0, (size_t)(off[act[j] + 1] - off[act[j]]) * sizeof(gpair));
        size_t pe = e > PREFETCH_ROWS ? e - PREFETCH_ROWS : 0;
        for (size_t i = b; i < e; i++) {
            if (i < pe) {
                uint32_t q = rows[i + PREFETCH_ROWS];
                __builtin_prefetch(bins + (size_t)q * nf + act[jb]);
                __builtin_prefetch(bins + (size_t)q * nf + act[je - 1]);
                __builtin_prefetch(gp + q);
            }
            uint32_t r = rows[i];
            double g = gp[r].g, hh = gp[r].h;
            const uint8_t *br = bins + (size_t)r * nf;
            for (size_t j = jb; j < je; j++) {
                uint32_t f = act[j];
                gpair *s = h + off[f] + br[f];
                s->g += g;
                s->h += hh;
            }
        }
    }
}

/* The whole histogram of rows[b..e): slots of features left out by colsample are zero. */
static void hist_accumulate(const trainer *t, const gpair *gp, const uint32_t *rows, size_t b,
                            size_t e, gpair *h, bool by_col) {
    if (t->n_active != t->nf) memset(h, 0, t->hist_len * sizeof(gpair));
    hist_accumulate_feats(t, gp, rows, b, e, 0, t->n_active, h, by_col);
}

static void hist_block(void *vctx, int thread, size_t blk, size_t b, size_t e) {
    (void)thread;
    hist_job *j = vctx;
    gpair *h = blk == 0 ? j->out : j->t->partial + (blk - 1) * j->t->hist_len;
    hist_accumulate(j->t, j->gp, j->rows, b, e, h, j->by_col);
}

/* Feature-parallel form: each thread builds its own features' slots over all rows, block by
 * block, adding block k's sums after block k-1's — the same additions, in the same order, as the
 * block-parallel path followed by hist_reduce. Block k > 0 goes through the features' slots of
 * the scratch histogram t->partial (threads own disjoint slots). */
static void hist_feats(void *vctx, int thread, size_t blk, size_t jb, size_t je) {
    (void)thread;
    (void)blk;
    hist_job *j = vctx;
    const trainer *t = j->t;
    size_t bs = (j->n + j->n_blocks - 1) / j->n_blocks;
    size_t e0 = bs < j->n ? bs : j->n;
    hist_accumulate_feats(t, j->gp, j->rows, 0, e0, jb, je, j->out, j->by_col);
    const uint32_t *off = t->bins.offset;
    bool all = t->n_active == t->nf;
    for (size_t b = bs; b < j->n; b += bs) {
        size_t e = b + bs < j->n ? b + bs : j->n;
        gpair *scr = t->partial;
        hist_accumulate_feats(t, j->gp, j->rows, b, e, jb, je, scr, j->by_col);
        for (size_t q = jb; q < je; q++) {
            uint32_t f = all ? (uint32_t)q : t->active[q];
            for (uint32_t s = off[f]; s < off[f + 1]; s++) {
                j->out[s].g += scr[s].g;
                j->out[s].h += scr[s].h;
            }
        }
    }
}

static void hist_reduce(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    hist_job *j = vctx;
    size_t len = j->t->hist_len;
    for (size_t blk = 1; blk < j->n_blocks; blk++) {
        const gpair *src = j->t->partial + (blk - 1) * len;
        for (size_t s = b; s < e; s++) {
            j->out[s].g += src[s].g;
            j->out[s].h += src[s].h;
        }
    }
}

/* Histogram of rows[0..n). The block split depends on n only, so sums are the same for any
 * thread count. */
static void hist_build(trainer *t, const gpair *gp, const uint32_t *rows, size_t n, gpair *out) {
    size_t n_blocks = 1;
    if (n >= 8192) {
        n_blocks = 2 * ((n + 32767) / 32768);
        if (n_blocks > MAX_BLOCKS) n_blocks = MAX_BLOCKS;
    }
    if (!t->partial) n_blocks = 1;
    /* A node with at least fw__gbdt_col_min_share of the rows reads the column-major ids: its
     * rows are dense enough that every cache line of a column it reads holds several of them. */
    hist_job j = {t, gp, rows, out, n_blocks, n, NULL,
                  (double)n >= fw__gbdt_col_min_share * (double)(t->hi - t->lo)};
    /* Many features (or a single block): the threads take contiguous feature ranges, which
     * keeps each thread's slots in its own cache and needs no reduction pass. */
    bool by_feature = t->n_active >= 128 || (n_blocks == 1 && t->n_active >= 32);
    /* ~1.5 ns per (row, feature) */
    int nt = fw__gbdt_pass_threads(t->threads, 1.5 * (double)n * (double)t->n_active);
    if (nt > 1 && by_feature) {
        if (t->n_active != t->nf) memset(out, 0, t->hist_len * sizeof(gpair));
        /* feature chunks handed out dynamically: a delayed thread does not hold the pass up */
        size_t chunk = (t->n_active + 4 * (size_t)nt - 1) / (4 * (size_t)nt);
        fw_parallel_blocks(nt, t->n_active, chunk < 8 ? 8 : chunk, hist_feats, &j);
        return;
    }
    if (n_blocks == 1) {
        hist_accumulate(t, gp, rows, 0, n, out, j.by_col);
        return;
    }
    size_t bs = (n + n_blocks - 1) / n_blocks;
    fw_parallel_blocks(nt, n, bs, hist_block, &j);
    j.n_blocks = (n + bs - 1) / bs;
    fw_parallel_for(fw__gbdt_pass_threads(t->threads, (double)t->hist_len * (double)j.n_blocks),
                    t->hist_len, hist_reduce, &j);
}

/* The histogram of a node's rows on every rank: this rank's rows, summed over the ranks (exact:
 * the gradient pairs are fixed point under MPI). Without MPI, hist_build. */
static void hist_build_all(trainer *t, const gpair *gp, const uint32_t *rows, size_t n, gpair *out) {
    hist_build(t, gp, rows, n, out);
    if (t->dist) fw_dist_sum((double *)(void *)out, 2 * t->hist_len);
}

/* ---- split search ---------------------------------------------------------------------------- */

static inline double thr_l1(double g, double alpha) {
    if (g > alpha) return g - alpha;
    if (g < -alpha) return g + alpha;
    return 0.0;
}

static inline double score(double G, double H, double lambda, double alpha) {
    double g = alpha > 0 ? thr_l1(G, alpha) : G;
    return g * g / (H + lambda);
}

static inline double leaf_weight(double G, double H, double lambda, double alpha) {
    double g = alpha > 0 ? thr_l1(G, alpha) : G;
    return -g / (H + lambda);
}

typedef struct split_best {
    double gain;
    uint32_t feat, bin;
    int default_left;
    double GL, HL;
} split_best;

typedef struct split_job {
    const trainer *t;
    const cand *c;
    split_best best[64];
} split_job;

/* The best split of cand c over the active features active[jb .. je), scanned in feature order
 * (a strict '>' keeps the first best). */
static split_best split_scan(const trainer *t, const cand *c, size_t jb, size_t je) {
    double lambda = t->p.lambda, alpha = t->p.alpha, mcw = t->p.min_child_weight;
    double G = c->G, H = c->H, eps = 1e-10 * H;
    double parent = score(G, H, lambda, alpha);
    split_best b = {-INFINITY, 0, 0, 0, 0, 0};
    for (size_t j = jb; j < je; j++) {
        uint32_t f = t->active[j];
        uint32_t nb = t->bins.n_bins[f];
        const gpair *h = c->hist + t->bins.offset[f];
        double gm = h[nb].g, hm = h[nb].h;
        bool has_missing = hm > 0 || gm != 0;
        double gl = 0, hl = 0;
        for (uint32_t k = 0; k < nb; k++) {
            gl += h[k].g;
            hl += h[k].h;
            if (k + 1 == nb && !has_missing) break;
            /* missing goes right */
            double GL = gl, HL = hl, GR = G - GL, HR = H - HL;
            if (HL >= mcw && HR >= mcw && HL > eps && HR > eps) {
                double gain = score(GL, HL, lambda, alpha) + score(GR, HR, lambda, alpha) - parent;
                if (gain > b.gain) b = (split_best){gain, f, k, 0, GL, HL};
            }
            if (has_missing) { /* missing goes left */
                GL = gl + gm;
                HL = hl + hm;
                GR = G - GL;
                HR = H - HL;
                if (HL >= mcw && HR >= mcw && HL > eps && HR > eps) {
                    double gain =
                        score(GL, HL, lambda, alpha) + score(GR, HR, lambda, alpha) - parent;
                    if (gain > b.gain) b = (split_best){gain, f, k, 1, GL, HL};
                }
            }
        }
    }
    return b;
}

static void split_range(void *vctx, int thread, size_t blk, size_t jb, size_t je) {
    (void)thread;
    split_job *s = vctx;
    s->best[blk] = split_scan(s->t, s->c, jb, je);
}

/* Sets c's split from the best of consecutive feature chunks (in feature order). */
static void set_split(cand *c, const split_best *b) {
    c->gain = b->gain;
    c->feat = b->feat;
    c->bin = b->bin;
    c->default_left = b->default_left;
    c->GL = b->GL;
    c->HL = b->HL;
}

static void find_split(trainer *t, cand *c) {
    c->gain = -INFINITY;
    if (!c->hist) return;
    split_job s;
    s.t = t;
    s.c = c;
    int nt = t->threads > 64 ? 64 : t->threads;
    /* Threads only pay off when there is enough to scan (~4 ns per bin). */
    nt = fw__gbdt_pass_threads(nt, 4.0 * (double)t->hist_len * (double)t->n_active /
                                       (double)(t->nf ? t->nf : 1));
    if (nt < 1) nt = 1;
    /* Feature chunks handed out dynamically (a thread the scheduler delays does not hold the
     * pass up); each chunk's best goes in its own slot. */
    size_t n_chunks = nt > 1 ? 4 * (size_t)nt : 1;
    if (n_chunks > 64) n_chunks = 64;
    size_t chunk = (t->n_active + n_chunks - 1) / n_chunks;
    if (chunk < 1) chunk = 1;
    n_chunks = (t->n_active + chunk - 1) / chunk;
    for (size_t i = 0; i < n_chunks; i++) s.best[i].gain = -INFINITY;
    fw_parallel_blocks(nt, t->n_active, chunk, split_range, &s);
    /* Chunks are in feature order; a strict '>' keeps the first best, as a serial scan would. */
    split_best b = s.best[0];
    for (size_t i = 1; i < n_chunks; i++)
        if (s.best[i].gain > b.gain) b = s.best[i];
    set_split(c, &b);
}

/* ---- tree growth ----------------------------------------------------------------------------- */

static fw_status new_node(trainer *t, uint32_t *id) {
    if (t->n_nodes >= INT32_MAX - 1) return FW_ELIMIT;
    if (FW_GROW(&t->nodes, &t->cap_nodes, t->n_nodes + 1)) return FW_ENOMEM;
    memset(&t->nodes[t->n_nodes], 0, sizeof(tnode));
    t->nodes[t->n_nodes].n.left = t->nodes[t->n_nodes].n.right = -1;
    *id = (uint32_t)t->n_nodes++;
    return FW_OK;
}

static void make_leaf(trainer *t, cand *c, uint32_t k) {
    tnode *nd = &t->nodes[c->node];
    double v;
    if (t->p.objective == FW_GBDT_L1) {
        size_t m = 0;
        for (uint32_t i = c->begin; i < c->end; i++) {
            uint32_t r = t->rows[i];
            t->l1_buf[2 * m] = t->d->y[r] - t->margin[(size_t)r * t->K + k];
            t->l1_buf[2 * m + 1] = t->w[r];
            m++;
        }
        v = weighted_median(t->l1_buf, m);
    } else {
        v = leaf_weight(c->G, c->H, t->p.lambda, t->p.alpha);
    }
    nd->n.value = t->p.learning_rate * v;
    nd->n.left = nd->n.right = -1;
    /* Every training row is in some leaf's range (no row subsampling): add the leaf value to
     * their margins here, the same single addition the tree walk in update_train would make. */
    if (t->n_rows_sampled == t->n && !t->defer_margins && !t->dist) {
        double lv = nd->n.value;
        uint32_t K = t->K;
        for (uint32_t i = c->begin; i < c->end; i++) t->margin[(size_t)t->rows[i] * K + k] += lv;
    }
    nd->cover = c->H;
    hist_put(t, c->hist);
    c->hist = NULL;
    c->done = 1;
}

/* Which side each bin id of the split feature goes to (1 = left): the missing bin follows the
 * default direction. A table lookup keeps the partition loops free of data-dependent branches
 * (a node's rows go either way about as often: a branch would be mispredicted half the time). */
static void side_table(const trainer *t, const cand *c, uint8_t left[256]) {
    uint32_t miss = t->bins.n_bins[c->feat];
    for (uint32_t b = 0; b < 256; b++) left[b] = b == miss ? (uint8_t)(c->default_left != 0) : b <= c->bin;
}

/* Splits rows[b .. e) (ascending positions of the cand's node) into dst: left rows from dst[0]
 * up, right rows from dst[e - b - 1] down (in reverse); returns the left count. Reads the split
 * feature's column (one byte per row) and writes every row to both ends, keeping the one its
 * side asks for: no branch on the data. */
static uint32_t split_rows(const trainer *t, const cand *c, const uint8_t left[256],
                           const uint32_t *rows, size_t b, size_t e, uint32_t *dst) {
    const uint8_t *col = t->bins.cols + (size_t)c->feat * t->n;
    uint32_t nl = 0, nr = 0, last = (uint32_t)(e - b) - 1;
    for (size_t i = b; i < e; i++) {
        uint32_t r = rows[i], l = left[col[r]];
        dst[nl] = r;
        dst[last - nr] = r;
        nl += l;
        nr += l ^ 1u;
    }
    return nl;
}

/* Stable partition of rows[b .. e) of the cand's node into left then right (through
 * tmp[b .. e)); returns the left count. */
static uint32_t partition_range(trainer *t, const cand *c, uint32_t b, uint32_t e) {
    uint8_t left[256];
    side_table(t, c, left);
    uint32_t *tmp = t->tmp + b;
    uint32_t nl = split_rows(t, c, left, t->rows, b, e, tmp);
    uint32_t nr = (e - b) - nl, *rows = t->rows + b;
    memcpy(rows, tmp, (size_t)nl * sizeof(uint32_t));
    for (uint32_t q = 0; q < nr; q++) rows[nl + q] = tmp[e - b - 1 - q];
    return nl;
}

/* A big node's partition on every thread: each chunk of the node's rows puts its left rows at the
 * front of its part of tmp and its right rows at the back, in reverse (phase 0); then the chunks'
 * left parts, and after them their right parts, go back to rows in chunk order (phase 1). A
 * stable partition has one answer, so the rows come out in the same order as one pass, whatever
 * the thread count. */
#define PART_MAX_CHUNKS 64
#define PART_MIN_ROWS 32768 /* below, one pass on the calling thread (~0.1 ms) */
typedef struct part_ctx {
    trainer *t;
    const cand *c;
    int phase;
    uint32_t nl[PART_MAX_CHUNKS];        /* chunk j: its left rows */
    uint32_t size[PART_MAX_CHUNKS];      /* chunk j: its rows */
    uint32_t lo[PART_MAX_CHUNKS], ro[PART_MAX_CHUNKS]; /* where its left / right rows go */
    uint8_t left[256];                   /* side_table */
} part_ctx;

static void partition_pass(void *vctx, int thread, size_t b, size_t e) {
    part_ctx *p = vctx;
    trainer *t = p->t;
    const cand *c = p->c;
    uint32_t j = (uint32_t)thread, *rows = t->rows + c->begin, *tmp = t->tmp + c->begin;
    if (p->phase == 0) {
        p->size[j] = (uint32_t)(e - b);
        p->nl[j] = split_rows(t, c, p->left, rows, b, e, tmp + b);
    } else {
        uint32_t nl = p->nl[j], nr = p->size[j] - nl;
        memcpy(rows + p->lo[j], tmp + b, (size_t)nl * sizeof(uint32_t));
        uint32_t *dst = rows + p->ro[j];
        for (uint32_t q = 0; q < nr; q++) dst[q] = tmp[e - 1 - q];
    }
}

/* Stable partition of the cand's rows into left then right; returns the left count. */
static uint32_t partition(trainer *t, const cand *c) {
    uint32_t len = c->end - c->begin;
    int nt = t->threads < PART_MAX_CHUNKS ? t->threads : PART_MAX_CHUNKS;
    if (nt <= 1 || len < 2 || (len < PART_MIN_ROWS && fw__gbdt_parallel_min_ns > 0))
        return partition_range(t, c, c->begin, c->end);
    part_ctx p;
    memset(&p, 0, sizeof p);
    p.t = t;
    p.c = c;
    side_table(t, c, p.left);
    fw_parallel_for(nt, len, partition_pass, &p);
    uint32_t n_left = 0, n_right = 0;
    for (int j = 0; j < nt; j++) n_left += p.nl[j];
    uint32_t lsum = 0;
    for (int j = 0; j < nt; j++) {
        p.lo[j] = lsum;
        p.ro[j] = n_left + n_right;
        lsum += p.nl[j];
        n_right += p.size[j] - p.nl[j];
    }
    p.phase = 1;
    fw_parallel_for(nt, len, partition_pass, &p);
    return n_left;
}

/* The finished tree's leaf values added to the margins of their rows (every row is in exactly one
 * leaf's range: one addition per row, as make_leaf would do), over positions on every thread. */
typedef struct leaf_range {
    uint32_t begin, end;
    double value;
} leaf_range;
typedef struct leaf_add_ctx {
    trainer *t;
    const leaf_range *l;
    size_t n;
    uint32_t k;
} leaf_add_ctx;

static int by_begin(const void *a, const void *b) {
    const leaf_range *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static void leaf_add_pass(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    const leaf_add_ctx *a = vctx;
    trainer *t = a->t;
    size_t lo = 0, hi = a->n; /* the first leaf ending after b */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->l[mid].end <= b) lo = mid + 1;
        else hi = mid;
    }
    for (size_t li = lo; li < a->n && a->l[li].begin < e; li++) {
        size_t s = a->l[li].begin > b ? a->l[li].begin : b, en = a->l[li].end < e ? a->l[li].end : e;
        double v = a->l[li].value;
        for (size_t i = s; i < en; i++) t->margin[(size_t)t->rows[i] * t->K + a->k] += v;
    }
}

static fw_status add_leaf_values(trainer *t, size_t n_cands, uint32_t k) {
    leaf_range *l = fw_malloc((n_cands ? n_cands : 1) * sizeof *l);
    if (!l) return FW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < n_cands; i++) {
        const cand *c = &t->cands[i];
        const tnode *nd = &t->nodes[c->node];
        if (nd->n.left < 0 && c->end > c->begin) l[n++] = (leaf_range){c->begin, c->end, nd->n.value};
    }
    qsort(l, n, sizeof *l, by_begin);
    leaf_add_ctx a = {t, l, n, k};
    /* ~2 ns per row */
    fw_parallel_for(fw__gbdt_pass_threads(t->threads, 2.0 * (double)t->n_rows_sampled), t->n_rows_sampled,
                    leaf_add_pass, &a);
    fw_free(l);
    return FW_OK;
}

/* ---- depthwise growth, a level at a time ------------------------------------------------------ */

/* A depthwise tree grows a level at a time (grow_levels). The level's nodes are decided first, in
 * node order (split or leaf: the order the node-at-a-time loop takes them, so node ids and leaf
 * counts come out the same); then four parallel passes over the whole level: every split node's
 * rows partitioned; the smaller children's histograms built (the row blocks, or feature chunks, of
 * every node are the tasks); the blocks reduced and the children subtracted from their parents;
 * every child's best split searched (feature chunks of every child). A depth-6 tree takes ~25
 * passes instead of ~130, and each pass has tasks enough to keep every thread busy to its end
 * (before, a node's histogram was a pass of a few blocks, and the partition and split search of a
 * node under ~32k rows ran on one thread while the others waited). Every histogram is summed as
 * hist_build sums it (the same row blocks, reduced in block order) and a stable partition has one
 * answer: the trees are bit-identical to the node-at-a-time growth, for any thread count. */

/* One split of the level. */
typedef struct lsplit {
    cand c;              /* the node being split (c.hist: its histogram, then the big child's) */
    cand ch[2];          /* its children, left and right */
    uint32_t nl;         /* left rows after the partition */
    bool more;           /* the children may split: histograms and split search */
    uint8_t small;       /* the child whose histogram is built (0 left, 1 right) */
    size_t n_blocks, bs; /* the small child's row blocks, as hist_build splits them */
    gpair *partial;      /* its blocks 1 .. n_blocks - 1 (hist_len each), in t->lscr */
    uint8_t left[256];   /* side_table of the split */
} lsplit;

/* One task of a level pass. */
#define LTASK_FEATS UINT32_MAX
typedef struct ltask {
    uint32_t s;      /* the split (index in t->lsp) */
    uint32_t k;      /* partition: 1 = the whole node, 0 = a chunk; histogram: the row block, or
                      * LTASK_FEATS (one block, features b .. e); search: the child (0, 1) */
    size_t b, e;     /* rows of the node, active features, or histogram slots */
    uint32_t nl;     /* partition: the chunk's left rows */
    size_t lo, ro;   /* partition: where they and its right rows go */
    split_best best; /* search: the chunk's best */
} ltask;

typedef struct lpass {
    trainer *t;
    const gpair *gp;
    int phase;
} lpass;

#define LEVEL_PART_CHUNK 16384          /* rows per partition task */
#define LEVEL_FEAT_CHUNK 16             /* active features per histogram / search task */
#define LEVEL_SLOT_CHUNK 4096           /* histogram slots per reduce task */
bool fw__gbdt_levels = true;
size_t fw__gbdt_level_scratch_bytes = (size_t)64 << 20; /* row-block scratch of one pass */

/* Row blocks of a histogram of n rows: hist_build's split (it depends on n only). */
static void hist_blocks(const trainer *t, size_t n, size_t *n_blocks, size_t *bs) {
    size_t nb = 1;
    if (n >= 8192 && t->partial) {
        nb = 2 * ((n + 32767) / 32768);
        if (nb > MAX_BLOCKS) nb = MAX_BLOCKS;
    }
    size_t b = n ? (n + nb - 1) / nb : 1;
    *bs = b;
    *n_blocks = n ? (n + b - 1) / b : 1;
}

static void level_partition(void *vctx, int thread, size_t i, size_t b_, size_t e_) {
    (void)thread;
    (void)b_;
    (void)e_;
    lpass *L = vctx;
    trainer *t = L->t;
    ltask *k = &t->ltk[i];
    lsplit *s = &t->lsp[k->s];
    uint32_t *rows = t->rows + s->c.begin, *tmp = t->tmp + s->c.begin;
    if (L->phase == 0) {
        if (k->k)
            s->nl = partition_range(t, &s->c, s->c.begin, s->c.end);
        else
            k->nl = split_rows(t, &s->c, s->left, rows, k->b, k->e, tmp + k->b);
    } else if (!k->k) {
        uint32_t nr = (uint32_t)(k->e - k->b) - k->nl;
        memcpy(rows + k->lo, tmp + k->b, (size_t)k->nl * sizeof(uint32_t));
        uint32_t *dst = rows + k->ro;
        for (uint32_t q = 0; q < nr; q++) dst[q] = tmp[k->e - 1 - q];
    }
}

/* Stable partition of every split node's rows (s->nl: its left rows). */
static fw_status level_partition_all(trainer *t, size_t n_sp) {
    size_t nk = 0;
    double rows = 0;
    for (size_t i = 0; i < n_sp; i++) {
        size_t len = t->lsp[i].c.end - t->lsp[i].c.begin;
        nk += len <= LEVEL_PART_CHUNK ? 1 : (len + LEVEL_PART_CHUNK - 1) / LEVEL_PART_CHUNK;
        rows += (double)len;
    }
    if (FW_GROW(&t->ltk, &t->cap_ltk, nk)) return FW_ENOMEM;
    bool chunked = false;
    nk = 0;
    for (size_t i = 0; i < n_sp; i++) {
        lsplit *s = &t->lsp[i];
        size_t len = s->c.end - s->c.begin;
        if (len <= LEVEL_PART_CHUNK) {
            t->ltk[nk++] = (ltask){.s = (uint32_t)i, .k = 1, .b = 0, .e = len};
            continue;
        }
        chunked = true;
        side_table(t, &s->c, s->left);
        for (size_t b = 0; b < len; b += LEVEL_PART_CHUNK)
            t->ltk[nk++] = (ltask){.s = (uint32_t)i, .k = 0, .b = b,
                                   .e = b + LEVEL_PART_CHUNK < len ? b + LEVEL_PART_CHUNK : len};
    }
    lpass L = {t, NULL, 0};
    /* ~3 ns per row */
    int nt = fw__gbdt_pass_threads(t->threads, 3.0 * rows);
    fw_parallel_blocks(nt, nk, 1, level_partition, &L);
    if (!chunked) return FW_OK;
    /* a chunked node: its chunks' left rows in chunk order, then their right rows */
    for (size_t a = 0; a < nk;) {
        size_t z = a;
        while (z < nk && t->ltk[z].s == t->ltk[a].s) z++;
        if (!t->ltk[a].k) {
            size_t n_left = 0, lsum = 0, n_right = 0;
            for (size_t q = a; q < z; q++) n_left += t->ltk[q].nl;
            for (size_t q = a; q < z; q++) {
                ltask *k = &t->ltk[q];
                k->lo = lsum;
                k->ro = n_left + n_right;
                lsum += k->nl;
                n_right += (k->e - k->b) - k->nl;
            }
            t->lsp[t->ltk[a].s].nl = (uint32_t)n_left;
        }
        a = z;
    }
    L.phase = 1;
    fw_parallel_blocks(nt, nk, 1, level_partition, &L);
    return FW_OK;
}

static void level_hist(void *vctx, int thread, size_t i, size_t b_, size_t e_) {
    (void)thread;
    (void)b_;
    (void)e_;
    lpass *L = vctx;
    trainer *t = L->t;
    const ltask *k = &t->ltk[i];
    const lsplit *s = &t->lsp[k->s];
    const cand *c = &s->ch[s->small];
    const uint32_t *rows = t->rows + c->begin;
    size_t n = c->end - c->begin;
    bool by_col = (double)n >= fw__gbdt_col_min_share * (double)(t->hi - t->lo);
    if (k->k == LTASK_FEATS) {
        hist_accumulate_feats(t, L->gp, rows, 0, n, k->b, k->e, c->hist, by_col);
    } else {
        gpair *h = k->k == 0 ? c->hist : s->partial + (size_t)(k->k - 1) * t->hist_len;
        hist_accumulate(t, L->gp, rows, k->b, k->e, h, by_col);
    }
}

/* Slots b .. e of a split: the small child's blocks added in block order (hist_reduce), then the
 * small child subtracted from the parent's histogram, which becomes the big child's. */
static void level_reduce(void *vctx, int thread, size_t i, size_t b_, size_t e_) {
    (void)thread;
    (void)b_;
    (void)e_;
    lpass *L = vctx;
    trainer *t = L->t;
    const ltask *k = &t->ltk[i];
    const lsplit *s = &t->lsp[k->s];
    gpair *small = s->ch[s->small].hist, *big = s->c.hist;
    for (size_t blk = 1; blk < s->n_blocks; blk++) {
        const gpair *src = s->partial + (blk - 1) * t->hist_len;
        for (size_t q = k->b; q < k->e; q++) {
            small[q].g += src[q].g;
            small[q].h += src[q].h;
        }
    }
    for (size_t q = k->b; q < k->e; q++) {
        big[q].g -= small[q].g;
        big[q].h -= small[q].h;
    }
}

/* The smaller children's histograms and the bigger ones' by subtraction, for the splits with
 * `more`, in groups whose row-block scratch fits fw__gbdt_level_scratch_bytes (at least one split
 * per group). */
static fw_status level_hists(trainer *t, const gpair *gp, size_t n_sp) {
    size_t cap = fw__gbdt_level_scratch_bytes / sizeof(gpair), hl = t->hist_len, n_more = 0;
    for (size_t i = 0; i < n_sp; i++) n_more += t->lsp[i].more;
    /* a node of one row block is built by feature chunks only while the level has few nodes
     * (each chunk reads the node's rows again: ~3% more work on 50 features) */
    bool feats_ok = t->n_active >= 2 * LEVEL_FEAT_CHUNK && n_more < 4 * (size_t)t->threads;
    size_t feat_tasks = (t->n_active + LEVEL_FEAT_CHUNK - 1) / LEVEL_FEAT_CHUNK;
    for (size_t g0 = 0; g0 < n_sp;) {
        size_t need = 0, g1 = g0, nk = 0, nr = 0;
        double work = 0, rwork = 0;
        for (; g1 < n_sp; g1++) {
            lsplit *s = &t->lsp[g1];
            if (!s->more) continue;
            size_t n = s->ch[s->small].end - s->ch[s->small].begin;
            hist_blocks(t, n, &s->n_blocks, &s->bs);
            size_t add = (s->n_blocks - 1) * hl;
            if (need + add > cap && need > 0) break;
            need += add;
            nk += s->n_blocks > 1 ? s->n_blocks : feats_ok ? feat_tasks : 1;
            nr += (hl + LEVEL_SLOT_CHUNK - 1) / LEVEL_SLOT_CHUNK;
            work += 1.5 * (double)n * (double)t->n_active;
            rwork += (double)hl * (double)s->n_blocks;
        }
        if (need > t->cap_lscr) {
            fw_free(t->lscr);
            t->lscr = fw_malloc(need * sizeof(gpair));
            t->cap_lscr = t->lscr ? need : 0;
            if (!t->lscr) return FW_ENOMEM;
        }
        if (FW_GROW(&t->ltk, &t->cap_ltk, nk > nr ? nk : nr)) return FW_ENOMEM;
        size_t at = 0;
        nk = 0;
        for (size_t i = g0; i < g1; i++) {
            lsplit *s = &t->lsp[i];
            if (!s->more) continue;
            const cand *c = &s->ch[s->small];
            size_t n = c->end - c->begin;
            s->partial = t->lscr + at;
            at += (s->n_blocks - 1) * hl;
            if (s->n_blocks > 1 || !feats_ok) {
                for (size_t b = 0; b < s->n_blocks; b++)
                    t->ltk[nk++] = (ltask){.s = (uint32_t)i, .k = (uint32_t)b, .b = b * s->bs,
                                           .e = (b + 1) * s->bs < n ? (b + 1) * s->bs : n};
            } else {
                /* one block by feature chunks: the slots of features left out by colsample are
                 * zero (hist_accumulate's memset) */
                if (t->n_active != t->nf) memset(c->hist, 0, hl * sizeof(gpair));
                for (size_t j = 0; j < t->n_active; j += LEVEL_FEAT_CHUNK)
                    t->ltk[nk++] = (ltask){.s = (uint32_t)i, .k = LTASK_FEATS, .b = j,
                                           .e = j + LEVEL_FEAT_CHUNK < t->n_active ? j + LEVEL_FEAT_CHUNK : t->n_active};
            }
        }
        lpass L = {t, gp, 0};
        fw_parallel_blocks(fw__gbdt_pass_threads(t->threads, work), nk, 1, level_hist, &L);
        nk = 0;
        for (size_t i = g0; i < g1; i++) {
            if (!t->lsp[i].more) continue;
            for (size_t q = 0; q < hl; q += LEVEL_SLOT_CHUNK)
                t->ltk[nk++] = (ltask){.s = (uint32_t)i, .b = q, .e = q + LEVEL_SLOT_CHUNK < hl ? q + LEVEL_SLOT_CHUNK : hl};
        }
        fw_parallel_blocks(fw__gbdt_pass_threads(t->threads, rwork), nk, 1, level_reduce, &L);
        for (size_t i = g0; i < g1; i++) {
            lsplit *s = &t->lsp[i];
            if (!s->more) continue;
            s->ch[!s->small].hist = s->c.hist;
            s->c.hist = NULL;
        }
        g0 = g1;
    }
    return FW_OK;
}

static void level_search(void *vctx, int thread, size_t i, size_t b_, size_t e_) {
    (void)thread;
    (void)b_;
    (void)e_;
    lpass *L = vctx;
    ltask *k = &L->t->ltk[i];
    k->best = split_scan(L->t, &L->t->lsp[k->s].ch[k->k], k->b, k->e);
}

/* Every child's best split (children of splits with `more`). */
static fw_status level_search_all(trainer *t, size_t n_sp) {
    size_t per = (t->n_active + LEVEL_FEAT_CHUNK - 1) / LEVEL_FEAT_CHUNK, nk = 0;
    for (size_t i = 0; i < n_sp; i++) nk += t->lsp[i].more ? 2 * per : 0;
    if (FW_GROW(&t->ltk, &t->cap_ltk, nk)) return FW_ENOMEM;
    nk = 0;
    for (size_t i = 0; i < n_sp; i++) {
        if (!t->lsp[i].more) continue;
        for (uint32_t ch = 0; ch < 2; ch++)
            for (size_t j = 0; j < t->n_active; j += LEVEL_FEAT_CHUNK)
                t->ltk[nk++] = (ltask){.s = (uint32_t)i, .k = ch, .b = j,
                                       .e = j + LEVEL_FEAT_CHUNK < t->n_active ? j + LEVEL_FEAT_CHUNK : t->n_active};
    }
    lpass L = {t, NULL, 0};
    /* ~4 ns per bin of an active feature */
    double work = 4.0 * (double)nk / (double)(per ? per : 1) * (double)t->hist_len * (double)t->n_active /
                  (double)(t->nf ? t->nf : 1);
    fw_parallel_blocks(fw__gbdt_pass_threads(t->threads, work), nk, 1, level_search, &L);
    /* each child's chunks in feature order: a strict '>' keeps the first best, as one scan would */
    for (size_t a = 0; a < nk; a += per) {
        split_best b = t->ltk[a].best;
        for (size_t q = a + 1; q < a + per; q++)
            if (t->ltk[q].best.gain > b.gain) b = t->ltk[q].best;
        set_split(&t->lsp[t->ltk[a].s].ch[t->ltk[a].k], &b);
    }
    return FW_OK;
}

/* Gives back every histogram the level's splits hold (on an error). */
static void level_release(trainer *t, size_t n_sp) {
    for (size_t i = 0; i < n_sp; i++) {
        lsplit *s = &t->lsp[i];
        hist_put(t, s->c.hist);
        hist_put(t, s->ch[0].hist);
        hist_put(t, s->ch[1].hist);
        s->c.hist = s->ch[0].hist = s->ch[1].hist = NULL;
    }
}

/* Grows the tree whose root is t->cands[0] (its histogram built and split found) level by level;
 * *n_cands: the cands made (every leaf among them). */
static fw_status grow_levels(trainer *t, uint32_t k, const gpair *gp, size_t *n_cands_out) {
    uint32_t max_depth = t->p.max_depth ? t->p.max_depth : FW_GBDT_MAX_DEPTH;
    uint32_t max_leaves = t->p.max_leaves;
    size_t n_cands = 1, lb = 0, n_sp = 0;
    uint32_t n_leaves = 1;
    fw_status st = FW_OK;
    while (lb < n_cands) {
        size_t le = n_cands;
        n_sp = 0;
        if (FW_GROW(&t->lsp, &t->cap_lsp, le - lb)) return FW_ENOMEM;
        for (size_t i = lb; i < le; i++) {
            cand *c = &t->cands[i];
            bool split = c->gain > t->p.gamma && c->gain > 1e-6 && c->depth < max_depth &&
                         (max_leaves == 0 || n_leaves < max_leaves);
            if (!split) {
                make_leaf(t, c, k);
                continue;
            }
            lsplit *s = &t->lsp[n_sp++];
            memset(s, 0, offsetof(lsplit, left));
            s->c = *c;
            c->done = 1;
            c->hist = NULL;
            uint32_t l, r;
            if ((st = new_node(t, &l)) || (st = new_node(t, &r))) {
                level_release(t, n_sp);
                for (size_t q = i + 1; q < le; q++) hist_put(t, t->cands[q].hist);
                return st;
            }
            tnode *nd = &t->nodes[s->c.node];
            nd->n.feature = s->c.feat | (s->c.default_left ? FW_GBDT_DEFAULT_LEFT : 0);
            nd->n.threshold = t->bins.upper[t->bins.offset[s->c.feat] + s->c.bin];
            nd->n.left = (int32_t)l;
            nd->n.right = (int32_t)r;
            nd->bin = s->c.bin;
            nd->cover = s->c.H;
            nd->gain = s->c.gain;
            n_leaves++;
            s->more = s->c.depth + 1 < max_depth && (max_leaves == 0 || n_leaves < max_leaves);
            s->ch[0].node = l;
            s->ch[1].node = r;
        }
        lb = le;
        ph_end(t, FW_GBDT_PH_TREE);
        if (n_sp == 0) break;
        if ((st = level_partition_all(t, n_sp))) goto fail;
        ph_end(t, FW_GBDT_PH_PART);
        for (size_t i = 0; i < n_sp; i++) {
            lsplit *s = &t->lsp[i];
            cand *cl = &s->ch[0], *cr = &s->ch[1];
            cl->begin = s->c.begin;
            cl->end = s->c.begin + s->nl;
            cr->begin = cl->end;
            cr->end = s->c.end;
            cl->depth = cr->depth = s->c.depth + 1;
            cl->G = s->c.GL;
            cl->H = s->c.HL;
            cr->G = s->c.G - s->c.GL;
            cr->H = s->c.H - s->c.HL;
            cl->gain = cr->gain = -INFINITY;
            if (!s->more) {
                hist_put(t, s->c.hist);
                s->c.hist = NULL;
                continue;
            }
            s->small = (cl->end - cl->begin) <= (cr->end - cr->begin) ? 0 : 1;
            s->ch[s->small].hist = hist_get(t);
            if (!s->ch[s->small].hist) {
                st = FW_ENOMEM;
                goto fail;
            }
        }
        if ((st = level_hists(t, gp, n_sp))) goto fail;
        ph_end(t, FW_GBDT_PH_HIST);
        if ((st = level_search_all(t, n_sp))) goto fail;
        ph_end(t, FW_GBDT_PH_SPLIT);
        if (FW_GROW(&t->cands, &t->cap_cands, n_cands + 2 * n_sp)) {
            st = FW_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n_sp; i++) {
            lsplit *s = &t->lsp[i];
            for (int ch = 0; ch < 2; ch++) {
                cand *c = &s->ch[ch];
                /* a child that will not split needs no histogram: give it back now */
                if (c->hist && !(c->gain > t->p.gamma && c->gain > 1e-6)) {
                    hist_put(t, c->hist);
                    c->hist = NULL;
                }
                t->cands[n_cands++] = *c;
            }
        }
    }
    *n_cands_out = n_cands;
    return FW_OK;
fail:
    level_release(t, n_sp);
    return st;
}

static fw_status grow_tree(trainer *t, uint32_t k) {
    const gpair *gp = t->gp + (size_t)k * t->n;
    uint32_t max_depth = t->p.max_depth ? t->p.max_depth : FW_GBDT_MAX_DEPTH;
    uint32_t max_leaves = t->p.max_leaves;
    size_t n_cands = 0, head = 0;
    fw_status st;
    uint32_t root;
    if ((st = new_node(t, &root))) return st;
    if (FW_GROW(&t->cands, &t->cap_cands, 1)) return FW_ENOMEM;
    bool levels = fw__gbdt_levels && !t->p.lossguide && !t->dist; /* depthwise: grow_levels */
    t->defer_margins = !t->dist && t->n_rows_sampled == t->n &&
                       (levels || (t->threads > 1 && (t->n_rows_sampled >= PART_MIN_ROWS ||
                                                      fw__gbdt_parallel_min_ns <= 0)));
    cand *c0 = &t->cands[n_cands++];
    memset(c0, 0, sizeof *c0);
    c0->node = root;
    c0->begin = 0;
    c0->end = (uint32_t)t->n_rows_sampled;
    /* Root sums in row order: the same whatever the threads. */
    double G = 0, H = 0;
    for (size_t i = 0; i < t->n_rows_sampled; i++) {
        G += gp[t->rows[i]].g;
        H += gp[t->rows[i]].h;
    }
    double n_root = (double)t->n_rows_sampled;
    if (t->dist) { /* exact: fixed-point sums */
        double s[3] = {G, H, n_root};
        fw_dist_sum(s, 3);
        G = s[0];
        H = s[1];
        n_root = s[2];
    }
    c0->G = G;
    c0->H = H;
    ph_end(t, FW_GBDT_PH_GRAD);
    if (max_depth > 0 && n_root > 1) {
        c0->hist = hist_get(t);
        if (!c0->hist) return FW_ENOMEM;
        hist_build_all(t, gp, t->rows, t->n_rows_sampled, c0->hist);
    }
    ph_end(t, FW_GBDT_PH_HIST);
    find_split(t, c0);
    ph_end(t, FW_GBDT_PH_SPLIT);
    if (levels) {
        if ((st = grow_levels(t, k, gp, &n_cands))) return st;
        st = t->defer_margins ? add_leaf_values(t, n_cands, k) : FW_OK;
        ph_end(t, FW_GBDT_PH_MARGIN);
        return st;
    }
    uint32_t n_leaves = 1;
    for (;;) {
        size_t pick = SIZE_MAX;
        if (t->p.lossguide) {
            double bg = -INFINITY;
            for (size_t i = 0; i < n_cands; i++)
                if (!t->cands[i].done && (pick == SIZE_MAX || t->cands[i].gain > bg)) {
                    pick = i;
                    bg = t->cands[i].gain;
                }
        } else {
            while (head < n_cands && t->cands[head].done) head++;
            if (head < n_cands) pick = head;
        }
        if (pick == SIZE_MAX) break;
        cand c = t->cands[pick];
        bool split = c.gain > t->p.gamma && c.gain > 1e-6 && c.depth < max_depth &&
                     (max_leaves == 0 || n_leaves < max_leaves);
        if (!split) {
            make_leaf(t, &t->cands[pick], k);
            continue;
        }
        t->cands[pick].done = 1;
        t->cands[pick].hist = NULL;
        uint32_t l, r;
        if ((st = new_node(t, &l)) || (st = new_node(t, &r))) {
            hist_put(t, c.hist);
            return st;
        }
        tnode *nd = &t->nodes[c.node];
        nd->n.feature = c.feat | (c.default_left ? FW_GBDT_DEFAULT_LEFT : 0);
        nd->n.threshold = t->bins.upper[t->bins.offset[c.feat] + c.bin];
        nd->n.left = (int32_t)l;
        nd->n.right = (int32_t)r;
        nd->bin = c.bin;
        nd->cover = c.H;
        nd->gain = c.gain;
        n_leaves++;
        uint32_t nl = partition(t, &c);
        cand cl = {0}, cr = {0};
        cl.node = l;
        cl.begin = c.begin;
        cl.end = c.begin + nl;
        cl.depth = c.depth + 1;
        cl.G = c.GL;
        cl.H = c.HL;
        cr.node = r;
        cr.begin = c.begin + nl;
        cr.end = c.end;
        cr.depth = c.depth + 1;
        cr.G = c.G - c.GL;
        cr.H = c.H - c.HL;
        bool more = cl.depth < max_depth && (max_leaves == 0 || n_leaves < max_leaves);
        if (more) {
            /* Under MPI every rank must build the same child's histogram: the one with the smaller
             * hessian sum, which every rank knows (no collective; rows' counts are per rank). */
            bool left_small = t->dist ? cl.H <= cr.H : (cl.end - cl.begin) <= (cr.end - cr.begin);
            cand *small = left_small ? &cl : &cr;
            cand *big = small == &cl ? &cr : &cl;
            small->hist = hist_get(t);
            if (!small->hist) {
                hist_put(t, c.hist);
                return FW_ENOMEM;
            }
            hist_build_all(t, gp, t->rows + small->begin, small->end - small->begin, small->hist);
            big->hist = c.hist;
            for (size_t s = 0; s < t->hist_len; s++) {
                big->hist[s].g -= small->hist[s].g;
                big->hist[s].h -= small->hist[s].h;
            }
            find_split(t, &cl);
            find_split(t, &cr);
            /* a child that will not split needs no histogram: give it back now */
            if (!(cl.gain > t->p.gamma && cl.gain > 1e-6)) {
                hist_put(t, cl.hist);
                cl.hist = NULL;
            }
            if (!(cr.gain > t->p.gamma && cr.gain > 1e-6)) {
                hist_put(t, cr.hist);
                cr.hist = NULL;
            }
        } else {
            hist_put(t, c.hist);
            cl.gain = cr.gain = -INFINITY;
        }
        if (FW_GROW(&t->cands, &t->cap_cands, n_cands + 2)) {
            hist_put(t, cl.hist);
            hist_put(t, cr.hist);
            return FW_ENOMEM;
        }
        t->cands[n_cands++] = cl;
        t->cands[n_cands++] = cr;
    }
    if (t->defer_margins) return add_leaf_values(t, n_cands, k);
    return FW_OK;
}

/* ---- margins --------------------------------------------------------------------------------- */

typedef struct upd_ctx {
    trainer *t;
    uint32_t root, k;
} upd_ctx;

static void update_train(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    upd_ctx *u = vctx;
    trainer *t = u->t;
    const uint8_t *bins = t->bins.bins;
    size_t nf = t->nf;
    for (size_t i = b; i < e; i++) {
        const uint8_t *br = bins + i * nf;
        const tnode *nd = &t->nodes[u->root];
        while (nd->n.left >= 0) {
            uint32_t f = nd->n.feature & FW_GBDT_FEATURE_MASK;
            uint32_t bb = br[f];
            bool left = bb == t->bins.n_bins[f] ? (nd->n.feature & FW_GBDT_DEFAULT_LEFT) != 0
                                                : bb <= nd->bin;
            nd = &t->nodes[left ? nd->n.left : nd->n.right];
        }
        t->margin[i * t->K + u->k] += nd->n.value;
    }
}

static void update_valid(void *vctx, int thread, size_t b, size_t e) {
    (void)thread;
    upd_ctx *u = vctx;
    trainer *t = u->t;
    const fw_matrix *X = t->d->X_valid;
    for (size_t i = b; i < e; i++) {
        const float *x = X->dense + i * X->n_dense;
        const tnode *nd = &t->nodes[u->root];
        while (nd->n.left >= 0) {
            float v = x[nd->n.feature & FW_GBDT_FEATURE_MASK];
            bool left = v != v ? (nd->n.feature & FW_GBDT_DEFAULT_LEFT) != 0
                               : v <= nd->n.threshold;
            nd = &t->nodes[left ? nd->n.left : nd->n.right];
        }
        t->vmargin[i * t->K + u->k] += nd->n.value;
    }
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

/* Saves the trees of the first `rounds` rounds and the loop's state (rank 0 only under MPI). */
static fw_status ckpt_save(trainer *t, uint64_t key, const char *dir, uint32_t rounds, int32_t best_iter,
                           double best_loss, double best_err, fw_err *err) {
    if (fw_dist_rank() != 0) return FW_OK;
    fw__gbdt_ckpt c;
    memset(&c, 0, sizeof c);
    c.rounds = rounds;
    c.n_trees = rounds * t->K;
    c.n_nodes = t->tree_start[c.n_trees];
    c.node_size = sizeof(tnode);
    c.best_iter = best_iter;
    c.best_loss = best_loss;
    c.best_err = best_err;
    memcpy(c.rng, t->rng.s, sizeof c.rng);
    c.tree_start = t->tree_start;
    c.nodes = (uint8_t *)t->nodes;
    return fw__gbdt_ckpt_save(dir, key, &c, err);
}

/* Restores a checkpoint's trees and state and replays the trees over the training and validation
 * rows: margin = base + tree 0 + tree 1 + ..., the additions training made, in its order. Returns
 * the rounds restored (0 without a checkpoint) in *rounds. */
static fw_status ckpt_resume(trainer *t, uint64_t key, const char *dir, uint32_t *rounds, int32_t *best_iter,
                             double *best_loss, double *best_err, fw_err *err) {
    *rounds = 0;
    fw__gbdt_ckpt c;
    bool found = false;
    fw_status st = fw__gbdt_ckpt_load(dir, key, sizeof(tnode), &c, &found, err);
    if (st || !found) return st;
    bool ok = c.rounds <= t->p.n_estimators && c.n_trees == c.rounds * t->K && c.tree_start[0] == 0 &&
              c.tree_start[c.n_trees] == c.n_nodes;
    for (uint32_t i = 0; ok && i < c.n_trees; i++) ok = c.tree_start[i] < c.tree_start[i + 1];
    const tnode *nodes = (const tnode *)(void *)c.nodes;
    for (uint32_t i = 0; ok && i < c.n_nodes; i++) {
        const fw_gbdt_node *nd = &nodes[i].n;
        if (nd->left >= 0)
            ok = (uint32_t)nd->left > i && (uint32_t)nd->right > i && (uint32_t)nd->left < c.n_nodes &&
                 (uint32_t)nd->right < c.n_nodes && (nd->feature & FW_GBDT_FEATURE_MASK) < t->nf;
    }
    if (ok && c.n_nodes && FW_GROW(&t->nodes, &t->cap_nodes, c.n_nodes)) st = FW_ENOMEM;
    if (!ok || st) {
        fw_free(c.tree_start);
        fw_free(c.nodes);
        if (st) return st;
        return fw_err_set(err, FW_EDATA, "gbdt checkpoint in %s: its trees do not fit this fit", dir);
    }
    memcpy(t->nodes, c.nodes, (size_t)c.n_nodes * sizeof(tnode));
    t->n_nodes = c.n_nodes;
    memcpy(t->tree_start, c.tree_start, ((size_t)c.n_trees + 1) * sizeof(uint32_t));
    memcpy(t->rng.s, c.rng, sizeof c.rng);
    *best_iter = c.best_iter;
    *best_loss = c.best_loss;
    *best_err = c.best_err;
    *rounds = c.rounds;
    fw_free(c.tree_start);
    fw_free(c.nodes);
    double per_row = 3.0 * (1 + (t->p.max_depth ? t->p.max_depth : 12));
    for (uint32_t tr = 0; tr < c.n_trees; tr++) {
        upd_ctx u = {t, t->tree_start[tr], tr % t->K};
        fw_parallel_for(fw__gbdt_pass_threads(t->threads, per_row * (double)t->n), t->n, update_train, &u);
        if (t->nv)
            fw_parallel_for(fw__gbdt_pass_threads(t->threads, per_row * (double)t->nv), t->nv, update_valid, &u);
    }
    if (fw_dist_rank() == 0)
        fprintf(stderr, "flywheel: gbdt resumed at round %u of %u from %s\n", c.rounds, t->p.n_estimators, dir);
    return FW_OK;
}

/* ---- the boosting loop ----------------------------------------------------------------------- */

static void trainer_free(trainer *t) {
    fw__gbdt_bins_free(&t->bins);
    fw_free(t->w);
    fw_free(t->margin);
    fw_free(t->vmargin);
    fw_free(t->gp);
    fw_free(t->rows);
    fw_free(t->tmp);
    fw_free(t->active);
    for (size_t i = 0; i < t->n_pool; i++) fw_free(t->pool[i]);
    fw_free(t->pool);
    fw_free(t->partial);
    fw_free(t->nodes);
    fw_free(t->tree_start);
    fw_free(t->cands);
    fw_free(t->l1_buf);
    fw_free(t->lsp);
    fw_free(t->ltk);
    fw_free(t->lscr);
    fw__gbdt_rank_free(t->rank);
    fw__gbdt_rank_free(t->vrank);
}

/* A uniform number in [0, 1) for (seed, round, global row): under MPI a row's draw must not
 * depend on which rank holds it, or on how many rows come before it there. */
static double row_draw(uint64_t seed, uint32_t round, size_t row) {
    uint64_t z = seed ^ ((uint64_t)round << 40) ^ (uint64_t)row ^ 0x73756273616d706cull;
    z += 0x9e3779b97f4a7c15ull; /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

static void sample_round(trainer *t) {
    size_t m = 0;
    if (t->dist) { /* this rank's rows, sampled by their global ids */
        for (size_t i = t->lo; i < t->hi; i++)
            if (t->p.subsample >= 1.0 || row_draw(t->p.seed, t->round, i) < t->p.subsample)
                t->rows[m++] = (uint32_t)i;
    } else if (t->p.subsample < 1.0) {
        for (size_t i = 0; i < t->n; i++)
            if (fw_rng_uniform(&t->rng) < t->p.subsample) t->rows[m++] = (uint32_t)i;
        if (m == 0) t->rows[m++] = (uint32_t)fw_rng_below(&t->rng, t->n);
    } else {
        for (size_t i = 0; i < t->n; i++) t->rows[i] = (uint32_t)i;
        m = t->n;
    }
    t->n_rows_sampled = m;
}

/* Under MPI: rounds every gradient pair of the round to fixed point — g to a multiple of 2^-sg,
 * h to one of 2^-sh (at least one unit, so no hessian becomes 0), the exponents chosen so that the
 * sum of |values| over all rows stays below 2^52. Every sum of such values is then exact in
 * double arithmetic, so histograms come out the same whichever rank adds which rows, in whatever
 * order. Every rank holds all rows' gradients, so every rank picks the same exponents. */
static void quantize_grads(trainer *t) {
    size_t total = t->n * t->K;
    for (uint32_t k = 0; k < t->K; k++) {
        gpair *gp = t->gp + (size_t)k * t->n;
        double mg = 0, mh = 0;
        for (size_t i = 0; i < t->n; i++) {
            double ag = fabs(gp[i].g), ah = gp[i].h;
            if (ag > mg) mg = ag;
            if (ah > mh) mh = ah;
        }
        int eg = 0, eh = 0;
        frexp(mg * (double)total, &eg); /* mg * total < 2^eg */
        frexp(mh * (double)total, &eh);
        int sg = 52 - eg, sh = 52 - eh;
        for (size_t i = 0; i < t->n; i++) {
            gp[i].g = ldexp(nearbyint(ldexp(gp[i].g, sg)), -sg);
            double qh = nearbyint(ldexp(gp[i].h, sh));
            gp[i].h = ldexp(qh < 1 ? 1 : qh, -sh);
        }
    }
}

static void sample_columns(trainer *t) {
    size_t nf = t->nf;
    for (size_t f = 0; f < nf; f++) t->active[f] = (uint32_t)f;
    t->n_active = nf;
    if (t->p.colsample_bytree < 1.0) {
        size_t keep = (size_t)floor(t->p.colsample_bytree * (double)nf);
        if (keep < 1) keep = 1;
        fw_rng_shuffle_u32(&t->rng, t->active, nf);
        t->n_active = keep;
        /* sorted, so scans run in feature order (ties go to the lower index) */
        for (size_t i = 1; i < keep; i++)
            for (size_t j = i; j > 0 && t->active[j - 1] > t->active[j]; j--) {
                uint32_t x = t->active[j];
                t->active[j] = t->active[j - 1];
                t->active[j - 1] = x;
            }
    }
}

static fw_status pack_model(trainer *t, uint32_t rounds, const double *base, fw_model **out) {
    uint32_t n_trees = rounds * t->K;
    uint32_t n_nodes = t->tree_start[n_trees];
    fw_gbdt_model *m = fw__gbdt_alloc(t->K, n_trees, n_nodes, t->nf);
    if (!m) return FW_ENOMEM;
    m->params = t->p;
    m->base.task = t->d->task;
    m->base.n_outputs = t->p.objective == FW_GBDT_SOFTMAX ? t->K : 1;
    m->n_rounds = rounds;
    memcpy(m->base_score, base, t->K * sizeof(double));
    memcpy(m->tree_start, t->tree_start, ((size_t)n_trees + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < n_nodes; i++) {
        m->nodes[i] = t->nodes[i].n;
        m->cover[i] = t->nodes[i].cover;
        if (m->nodes[i].left >= 0)
            m->importance[m->nodes[i].feature & FW_GBDT_FEATURE_MASK] += t->nodes[i].gain;
    }
    if (!fw__gbdt_finish(m)) {
        fw_free(m);
        return FW_ENOMEM;
    }
    *out = &m->base;
    return FW_OK;
}

fw_status fw__gbdt_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                       fw_err *err) {
    *out = NULL;
    fw_fit_options defaults;
    if (!o) {
        fw_fit_options_init(&defaults);
        o = &defaults;
    }
    double t0 = fw_now_seconds();
    trainer t;
    memset(&t, 0, sizeof t);
    t.d = d;
    t.ph = fw__gbdt_phase_stats;
    if (t.ph) {
        t.ph_wall = fw_now_seconds();
        t.ph_cpu = fw_cpu_seconds();
    }
    fw_status st = parse_params(d, o, &t.p, err);
    if (st) return st;
    t.K = t.p.objective == FW_GBDT_SOFTMAX ? (uint32_t)d->n_classes : 1;
    if ((st = check_inputs(d, &t.p, t.K, err))) return st;
    t.threads = o->threads > 0 ? o->threads : fw_default_threads();
    t.n = d->X->n_rows;
    t.nf = d->X->n_dense;
    t.nv = d->X_valid ? d->X_valid->n_rows : 0;
    t.dist = fw_dist_active();
    t.lo = 0;
    t.hi = t.n;
    if (t.dist) {
        if (t.p.objective == FW_GBDT_L1) {
            st = fw_err_set(err, FW_EUNSUPPORTED, "gbdt: objective l1 is not supported under mpirun "
                                                  "(its leaf values are medians over every rank's rows)");
            return st;
        }
        fw_dist_shard(t.n, &t.lo, &t.hi);
    }
    fw_rng_seed(&t.rng, t.p.seed);
    double base[FW_GBDT_MAX_OUTPUTS];
    uint32_t K = t.K;
    size_t n = t.n;

    st = fw__gbdt_bins_build(d->X, t.p.max_bin, t.p.seed, t.threads, &t.bins);
    if (st) goto fail_oom;
    t.hist_len = t.bins.offset[t.nf];
    t.w = fw_malloc(n * sizeof(double));
    t.margin = fw_malloc(n * K * sizeof(double));
    t.gp = fw_malloc(n * K * sizeof(gpair));
    t.rows = fw_malloc(n * sizeof(uint32_t));
    t.tmp = fw_malloc(n * sizeof(uint32_t));
    t.active = fw_malloc(t.nf * sizeof(uint32_t));
    t.tree_start = fw_malloc(sizeof(uint32_t) * ((size_t)t.p.n_estimators * K + 1));
    if (t.nv) t.vmargin = fw_malloc(t.nv * K * sizeof(double));
    if (t.p.objective == FW_GBDT_L1 || t.p.objective == FW_GBDT_HUBER)
        t.l1_buf = fw_malloc(2 * n * sizeof(double));
    if (t.p.objective == FW_GBDT_LAMBDARANK) {
        if (fw__gbdt_rank_new(d->query, d->y, n, &t.p, &t.rank) ||
            (t.nv && fw__gbdt_rank_new(d->query_valid, d->y_valid, t.nv, &t.p, &t.vrank)))
            goto fail_oom;
    }
    if (!t.w || !t.margin || !t.gp || !t.rows || !t.tmp || !t.active || !t.tree_start ||
        (t.nv && !t.vmargin) ||
        ((t.p.objective == FW_GBDT_L1 || t.p.objective == FW_GBDT_HUBER) && !t.l1_buf))
        goto fail_oom;
    if (n >= 8192) { /* used for any thread count: the block split must not depend on it */
        t.partial = fw_malloc((MAX_BLOCKS - 1) * t.hist_len * sizeof(gpair));
        if (!t.partial) goto fail_oom;
    }
    /* weights: sample weight x balanced class weight n / (k * count_class) */
    for (size_t i = 0; i < n; i++) t.w[i] = d->weight ? d->weight[i] : 1.0;
    if (t.p.class_balanced) {
        uint32_t nc = t.p.objective == FW_GBDT_SOFTMAX ? K : 2;
        double cnt[FW_GBDT_MAX_OUTPUTS] = {0};
        uint32_t present = 0;
        for (size_t i = 0; i < n; i++) cnt[(size_t)d->y[i]] += 1;
        for (uint32_t c = 0; c < nc; c++) present += cnt[c] > 0;
        for (size_t i = 0; i < n; i++)
            t.w[i] *= (double)n / ((double)present * cnt[(size_t)d->y[i]]);
    }
    base_scores(&t, base);
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < K; k++) t.margin[i * K + k] = base[k];
    for (size_t i = 0; i < t.nv; i++)
        for (uint32_t k = 0; k < K; k++) t.vmargin[i * K + k] = base[k];
    ph_end(&t, FW_GBDT_PH_SETUP);

    uint32_t stop = FW_GBDT_STOP_COMPLETED, rounds = 0;
    int32_t best_iter = -1;
    double best_loss = INFINITY, best_err = INFINITY;
    t.tree_start[0] = 0;
    grad_ctx gc = {&t};
    uint64_t ckpt_key = 0;
    uint32_t first = 0;
    if (o->checkpoint_dir && o->checkpoint_every) {
        ckpt_key = fw__gbdt_ckpt_key(d, o, (uint32_t)sizeof(tnode));
        if ((st = ckpt_resume(&t, ckpt_key, o->checkpoint_dir, &first, &best_iter, &best_loss, &best_err, err))) {
            trainer_free(&t);
            return st;
        }
        rounds = first;
        /* the round that wrote the checkpoint may have been the one early stopping ends on */
        if (first && t.p.early_stopping_rounds && best_iter >= 0 &&
            first - 1 - (uint32_t)best_iter >= t.p.early_stopping_rounds) {
            stop = FW_GBDT_STOP_EARLY;
            first = t.p.n_estimators;
        }
    }
    for (uint32_t it = first; it < t.p.n_estimators; it++) {
        if (t.rank)
            fw__gbdt_rank_grad(t.rank, t.margin, t.w, (double *)(void *)t.gp, t.threads);
        else
            fw_parallel_for(fw__gbdt_pass_threads(t.threads, 15.0 * (double)n * K), n, grad_range,
                            &gc);
        if (t.dist) quantize_grads(&t);
        t.round = it;
        sample_round(&t);
        ph_end(&t, FW_GBDT_PH_GRAD);
        for (uint32_t k = 0; k < K; k++) {
            sample_columns(&t);
            uint32_t root = (uint32_t)t.n_nodes;
            if ((st = grow_tree(&t, k))) goto fail;
            t.tree_start[it * K + k + 1] = (uint32_t)t.n_nodes;
            upd_ctx u = {&t, root, k};
            /* ~3 ns per level a row goes down */
            double per_row = 3.0 * (1 + (t.p.max_depth ? t.p.max_depth : 12));
            if (t.dist || t.n_rows_sampled != n) /* else make_leaf updated the margins */
                fw_parallel_for(fw__gbdt_pass_threads(t.threads, per_row * (double)n), n,
                                update_train, &u);
            if (t.nv)
                fw_parallel_for(fw__gbdt_pass_threads(t.threads, per_row * (double)t.nv), t.nv,
                                update_valid, &u);
            ph_end(&t, FW_GBDT_PH_MARGIN);
        }
        rounds = it + 1;
        double vloss = NAN;
        if (t.nv) {
            vloss = t.vrank ? 1.0 - fw__gbdt_rank_ndcg(t.vrank, t.vmargin)
                            : mean_loss(&t.p, K, t.vmargin, d->y_valid, d->weight_valid, t.nv);
            bool better = vloss < best_loss;
            if (t.p.stop_metric == FW_GBDT_METRIC_ERROR) {
                /* the error decides; among equal errors the lower loss wins */
                double verr = error_rate(&t.p, K, t.vmargin, d->y_valid, t.nv);
                better = verr < best_err || (verr == best_err && vloss < best_loss);
                if (better) best_err = verr;
            }
            if (better) {
                best_loss = vloss;
                best_iter = (int32_t)it;
            }
        }
        if (o->progress) {
            double tl = t.rank ? 1.0 - fw__gbdt_rank_ndcg(t.rank, t.margin)
                               : mean_loss(&t.p, K, t.margin, d->y, t.w, n);
            int halt = o->progress(o->progress_ud, "gbdt", (int)it, (int)t.p.n_estimators, tl, vloss);
            if (t.dist) halt = fw_dist_bcast_int(halt); /* rank 0's callback decides for all */
            if (halt) {
                stop = FW_GBDT_STOP_CALLBACK;
                break;
            }
        }
        if (ckpt_key && (it + 1) % o->checkpoint_every == 0 && it + 1 < t.p.n_estimators &&
            (st = ckpt_save(&t, ckpt_key, o->checkpoint_dir, it + 1, best_iter, best_loss, best_err, err))) {
            trainer_free(&t);
            return st;
        }
        if (t.p.early_stopping_rounds && best_iter >= 0 &&
            it - (uint32_t)best_iter >= t.p.early_stopping_rounds) {
            stop = FW_GBDT_STOP_EARLY;
            break;
        }
        if (o->time_budget_s > 0 &&
            (t.dist ? fw_dist_bcast_int(fw_now_seconds() - t0 > o->time_budget_s) /* rank 0's clock */
                    : fw_now_seconds() - t0 > o->time_budget_s)) {
            stop = FW_GBDT_STOP_TIME_BUDGET;
            break;
        }
        ph_end(&t, FW_GBDT_PH_EVAL);
    }
    uint32_t keep = rounds;
    if (t.nv && best_iter >= 0 && t.p.early_stopping_rounds) keep = (uint32_t)best_iter + 1;
    if ((st = pack_model(&t, keep, base, out))) goto fail;
    ph_end(&t, FW_GBDT_PH_SETUP);
    fw_gbdt_model *m = (fw_gbdt_model *)*out;
    m->rounds_trained = rounds;
    m->stop_reason = stop;
    m->best_iteration = t.nv ? best_iter : -1;
    m->best_valid_loss = t.nv ? best_loss : NAN;
    trainer_free(&t);
    return FW_OK;
fail_oom:
    st = FW_ENOMEM;
fail:
    trainer_free(&t);
    if (st == FW_ENOMEM) return fw_err_set(err, st, "gbdt: out of memory while training");
    return fw_err_set(err, st, "gbdt: training failed (%s)", fw_strerror(st));
}
