/* gbdt.c — owns the gbdt family's vtable and the small shared pieces: default hyperparameters,
 * the one-block model allocation, output transforms, importance, params_json, size and free.
 * Training lives in gbdt_train.c (binning in gbdt_bin.c), scoring in gbdt_predict.c, TreeSHAP in
 * gbdt_shap.c and the binary format in gbdt_io.c. */
#include "models/gbdt_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double fw__gbdt_parallel_min_ns = 2e5;

void fw__gbdt_params_init(fw_gbdt_params *p) {
    memset(p, 0, sizeof *p);
    p->objective = FW_GBDT_L2;
    p->n_estimators = 100;
    p->learning_rate = 0.3;
    p->max_depth = 6;
    p->max_leaves = 0;
    p->max_bin = 255;
    p->lambda = 1.0;
    p->alpha = 0.0;
    p->min_child_weight = 1.0;
    p->gamma = 0.0;
    p->subsample = 1.0;
    p->colsample_bytree = 1.0;
    p->huber_delta = 1.0;
    p->early_stopping_rounds = 20;
    p->ndcg_at = 10;
    p->rank_truncation = 30;
    p->seed = 42;
}

const char *fw__gbdt_objective_name(fw_gbdt_objective o) {
    switch (o) {
    case FW_GBDT_LOGLOSS: return "logloss";
    case FW_GBDT_SOFTMAX: return "softmax";
    case FW_GBDT_L2: return "l2";
    case FW_GBDT_L1: return "l1";
    case FW_GBDT_HUBER: return "huber";
    case FW_GBDT_LAMBDARANK: return "lambdarank";
    }
    return "?";
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

fw_gbdt_model *fw__gbdt_alloc(uint32_t n_groups, uint32_t n_trees, uint32_t n_nodes,
                              size_t n_dense) {
    size_t sz = align16(sizeof(fw_gbdt_model));
    size_t o_base = sz;
    sz += align16((size_t)n_groups * sizeof(double));
    size_t o_start = sz;
    sz += align16(((size_t)n_trees + 1) * sizeof(uint32_t));
    size_t o_nodes = sz;
    sz += align16((size_t)n_nodes * sizeof(fw_gbdt_node));
    size_t o_cover = sz;
    sz += align16((size_t)n_nodes * sizeof(double));
    size_t o_imp = sz;
    sz += align16(n_dense * sizeof(double));
    size_t o_exp = sz;
    sz += align16((size_t)n_trees * sizeof(double));
    size_t o_walk = sz;
    sz += align16((size_t)n_nodes * sizeof(fw_gbdt_walk));
    size_t o_depth = sz;
    sz += align16((size_t)n_trees);
    uint8_t *blk = fw_calloc(1, sz);
    if (!blk) return NULL;
    fw_gbdt_model *m = (fw_gbdt_model *)blk;
    m->base.vt = &fw_gbdt_vtable;
    m->base.n_dense = n_dense;
    m->base.sparse_dim = 0;
    m->n_groups = n_groups;
    m->n_trees = n_trees;
    m->n_nodes = n_nodes;
    m->best_iteration = -1;
    m->best_valid_loss = NAN;
    m->base_score = (double *)(blk + o_base);
    m->tree_start = (uint32_t *)(blk + o_start);
    m->nodes = (fw_gbdt_node *)(blk + o_nodes);
    m->cover = (double *)(blk + o_cover);
    m->importance = (double *)(blk + o_imp);
    m->expected = (double *)(blk + o_exp);
    m->walk = (fw_gbdt_walk *)(blk + o_walk);
    m->tree_depth = blk + o_depth;
    return m;
}

/* Writes the subtree of node `node` (NULL-free: a leaf fills everything below it) into the dense
 * slots of one tree: split slot `pos` at `level`, leaves at level D. */
static void dense_fill(const fw_gbdt_model *m, uint32_t node, uint32_t pos, uint32_t level,
                       uint32_t D, fw_gbdt_dsplit *sp, uint8_t *dl, double *leaf) {
    const fw_gbdt_node *n = &m->nodes[node];
    if (level == D) {
        leaf[pos - ((1u << D) - 1)] = n->value; /* a leaf: the walk never goes deeper than D */
        return;
    }
    if (n->left < 0) { /* a leaf above the last level: both ways lead to it */
        sp[pos] = (fw_gbdt_dsplit){0.0f, 0};
        dl[pos] = 0;
        dense_fill(m, node, 2 * pos + 1, level + 1, D, sp, dl, leaf);
        dense_fill(m, node, 2 * pos + 2, level + 1, D, sp, dl, leaf);
        return;
    }
    sp[pos] = (fw_gbdt_dsplit){n->threshold, n->feature & FW_GBDT_FEATURE_MASK};
    dl[pos] = (n->feature & FW_GBDT_DEFAULT_LEFT) != 0;
    dense_fill(m, (uint32_t)n->left, 2 * pos + 1, level + 1, D, sp, dl, leaf);
    dense_fill(m, (uint32_t)n->right, 2 * pos + 2, level + 1, D, sp, dl, leaf);
}

static size_t dense_bytes(const fw_gbdt_model *m) {
    if (!m->dense_block) return 0;
    size_t n_split = 0, n_leaf = 0;
    for (uint32_t t = 0; t < m->n_trees; t++) {
        n_split += ((size_t)1 << m->tree_depth[t]) - 1;
        n_leaf += (size_t)1 << m->tree_depth[t];
    }
    return n_split * (sizeof(fw_gbdt_dsplit) + 1) + n_leaf * sizeof(double) +
           2 * (size_t)m->n_trees * sizeof(uint32_t);
}

/* The dense form, when every tree is at most FW_GBDT_DENSE_MAX_DEPTH deep and the copies stay
 * within 16x the node walk (+1 MiB): otherwise scoring keeps the walk. */
static void build_dense(fw_gbdt_model *m) {
    size_t n_split = 0, n_leaf = 0;
    for (uint32_t t = 0; t < m->n_trees; t++) {
        if (m->tree_depth[t] > FW_GBDT_DENSE_MAX_DEPTH) return;
        n_split += ((size_t)1 << m->tree_depth[t]) - 1;
        n_leaf += (size_t)1 << m->tree_depth[t];
    }
    size_t bytes = align16(n_split * sizeof(fw_gbdt_dsplit)) + align16(n_leaf * sizeof(double)) +
                   align16(n_split) + 2 * align16((size_t)m->n_trees * sizeof(uint32_t));
    if (bytes > 16 * (size_t)m->n_nodes * sizeof(fw_gbdt_walk) + ((size_t)1 << 20)) return;
    uint8_t *blk = fw_malloc(bytes ? bytes : 1);
    if (!blk) return;
    m->dense_block = blk;
    m->dleaf = (double *)blk;
    blk += align16(n_leaf * sizeof(double));
    m->dsplit = (fw_gbdt_dsplit *)blk;
    blk += align16(n_split * sizeof(fw_gbdt_dsplit));
    m->ddleft = blk;
    blk += align16(n_split);
    m->dsplit_off = (uint32_t *)blk;
    blk += align16((size_t)m->n_trees * sizeof(uint32_t));
    m->dleaf_off = (uint32_t *)blk;
    size_t so = 0, lo = 0;
    for (uint32_t t = 0; t < m->n_trees; t++) {
        uint32_t D = m->tree_depth[t];
        m->dsplit_off[t] = (uint32_t)so;
        m->dleaf_off[t] = (uint32_t)lo;
        dense_fill(m, m->tree_start[t], 0, 0, D, m->dsplit + so, m->ddleft + so, m->dleaf + lo);
        so += ((size_t)1 << D) - 1;
        lo += (size_t)1 << D;
    }
}

bool fw__gbdt_finish(fw_gbdt_model *m) {
    uint32_t stack_buf[512];
    uint32_t largest = 0;
    for (uint32_t t = 0; t < m->n_trees; t++)
        if (m->tree_start[t + 1] - m->tree_start[t] > largest)
            largest = m->tree_start[t + 1] - m->tree_start[t];
    uint32_t *depth = stack_buf;
    if (largest > 512) {
        depth = fw_malloc((size_t)largest * sizeof(uint32_t));
        if (!depth) return false;
    }
    uint32_t max_depth = 0;
    bool ok = true;
    for (uint32_t t = 0; t < m->n_trees && ok; t++) {
        uint32_t s = m->tree_start[t], e = m->tree_start[t + 1];
        /* Children have larger indices than their parent, so one forward pass gives depths. */
        double num = 0, den = 0;
        uint32_t tree_depth = 0;
        memset(depth, 0, (size_t)(e - s) * sizeof(uint32_t));
        for (uint32_t i = s; i < e; i++) {
            const fw_gbdt_node *n = &m->nodes[i];
            uint32_t d = depth[i - s];
            if (d > FW_GBDT_MAX_DEPTH) {
                ok = false;
                break;
            }
            if (n->left < 0) {
                if (d > max_depth) max_depth = d;
                if (d > tree_depth) tree_depth = d;
                num += m->cover[i] * n->value;
                den += m->cover[i];
                m->walk[i] = (fw_gbdt_walk){0.0f, 0, {(int32_t)i, (int32_t)i}};
            } else {
                m->walk[i] = (fw_gbdt_walk){n->threshold, n->feature, {n->left, n->right}};
                uint32_t l = (uint32_t)n->left - s, r = (uint32_t)n->right - s;
                if (depth[l] < d + 1) depth[l] = d + 1;
                if (depth[r] < d + 1) depth[r] = d + 1;
            }
        }
        m->expected[t] = den > 0 ? num / den : 0.0;
        m->tree_depth[t] = (uint8_t)tree_depth;
    }
    if (depth != stack_buf) fw_free(depth);
    m->max_depth = max_depth;
    if (ok) build_dense(m);
    return ok;
}

void fw__gbdt_free(fw_gbdt_model *m) {
    if (!m) return;
    fw_free(m->dense_block);
    fw_free(m);
}

void fw__gbdt_transform(const fw_gbdt_model *m, const double *margin, double *out) {
    switch (m->params.objective) {
    case FW_GBDT_LOGLOSS: out[0] = 1.0 / (1.0 + exp(-margin[0])); break;
    case FW_GBDT_SOFTMAX: {
        uint32_t k = m->n_groups;
        double mx = margin[0];
        for (uint32_t c = 1; c < k; c++)
            if (margin[c] > mx) mx = margin[c];
        double s = 0;
        for (uint32_t c = 0; c < k; c++) {
            out[c] = exp(margin[c] - mx);
            s += out[c];
        }
        for (uint32_t c = 0; c < k; c++) out[c] /= s;
        break;
    }
    default: out[0] = margin[0]; break;
    }
}

static fw_status gbdt_importance(const fw_model *mm, double *out) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    memcpy(out, m->importance, m->base.n_dense * sizeof(double));
    return FW_OK;
}

static size_t gbdt_size_bytes(const fw_model *mm) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    return sizeof *m + m->n_groups * sizeof(double) + (m->n_trees + 1) * sizeof(uint32_t) +
           (size_t)m->n_nodes * (sizeof(fw_gbdt_node) + sizeof(double)) +
           m->base.n_dense * sizeof(double) + m->n_trees * (sizeof(double) + 1) +
           (size_t)m->n_nodes * sizeof(fw_gbdt_walk) + dense_bytes(m);
}

static const char *stop_name(uint32_t s) {
    switch (s) {
    case FW_GBDT_STOP_COMPLETED: return "completed";
    case FW_GBDT_STOP_EARLY: return "early_stopping";
    case FW_GBDT_STOP_TIME_BUDGET: return "time_budget";
    case FW_GBDT_STOP_CALLBACK: return "callback";
    }
    return "?";
}

static void gbdt_params_json(const fw_model *mm, fw_buf *out) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    const fw_gbdt_params *p = &m->params;
    fw_buf_printf(out,
                  "{\"objective\":\"%s\",\"n_estimators\":%u,\"learning_rate\":%.17g,"
                  "\"max_depth\":%u,\"max_leaves\":%u,\"grow_policy\":\"%s\",\"max_bin\":%u,"
                  "\"lambda\":%.17g,\"alpha\":%.17g,\"min_child_weight\":%.17g,\"gamma\":%.17g,"
                  "\"subsample\":%.17g,\"colsample_bytree\":%.17g,",
                  fw__gbdt_objective_name(p->objective), p->n_estimators, p->learning_rate,
                  p->max_depth, p->max_leaves, p->lossguide ? "lossguide" : "depthwise",
                  p->max_bin, p->lambda, p->alpha, p->min_child_weight, p->gamma, p->subsample,
                  p->colsample_bytree);
    if (p->objective == FW_GBDT_HUBER) fw_buf_printf(out, "\"huber_delta\":%.17g,", p->huber_delta);
    if (p->objective == FW_GBDT_LAMBDARANK)
        fw_buf_printf(out, "\"ndcg_at\":%u,\"truncation\":%u,\"gain\":\"%s\",", p->ndcg_at,
                      p->rank_truncation, p->rank_exp_gain ? "exponential" : "linear");
    fw_buf_printf(out,
                  "\"class_weight\":\"%s\",\"early_stopping_rounds\":%u,"
                  "\"early_stopping_metric\":\"%s\",\"seed\":%llu,"
                  "\"rounds_trained\":%u,\"n_rounds\":%u,\"n_trees\":%u,\"best_iteration\":%d,"
                  "\"stopped\":\"%s\"}",
                  p->class_balanced ? "balanced" : "none", p->early_stopping_rounds,
                  p->stop_metric == FW_GBDT_METRIC_ERROR ? "error" : "loss", (unsigned long long)p->seed, m->rounds_trained, m->n_rounds, m->n_trees,
                  m->best_iteration, stop_name(m->stop_reason));
}

static void gbdt_free(fw_model *m) { fw__gbdt_free((fw_gbdt_model *)m); }

/* Refit on more rows without validation: the rounds kept, scaled by the growth in rows (the
 * per-row step of each tree is the same, so more rows take proportionally more rounds to fit). */
static size_t gbdt_refit_params(const fw_model *mm, double row_scale,
                                char (*out)[FW_REFIT_PARAM_LEN], size_t max) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    if (max < 1) return 0;
    double r = (double)m->n_rounds * (row_scale > 1 ? row_scale : 1.0);
    unsigned long rounds = (unsigned long)(r + 0.5);
    if (rounds < 1) rounds = 1;
    if (rounds > 100000) rounds = 100000;
    snprintf(out[0], FW_REFIT_PARAM_LEN, "n_estimators=%lu", rounds);
    return 1;
}

const fw_model_vtable fw_gbdt_vtable = {
    .family = "gbdt",
    .fit = fw__gbdt_fit,
    .predict_block = fw__gbdt_predict_block,
    .predict_row = fw__gbdt_predict_row,
    .explain_row = fw__gbdt_explain_row,
    .importance = gbdt_importance,
    .save = fw__gbdt_save,
    .load = fw__gbdt_load,
    .refit_params = gbdt_refit_params,
    .scratch_size = fw__gbdt_scratch_size,
    .col_scorer = fw__gbdt_col_scorer,
    .size_bytes = gbdt_size_bytes,
    .params_json = gbdt_params_json,
    .free = gbdt_free,
};
