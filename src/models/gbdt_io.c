/* gbdt_io.c — owns the gbdt binary format (through core/buf.h: little-endian, fixed width, so the
 * same model gives the same bytes) and the loader that checks every count and index before the
 * model is used: corrupt bytes give FW_ECORRUPT, never a crash. Loading is one allocation.
 *
 * Layout (version 2; version 1 lacks early_stopping_metric and still loads, as "loss"):
 *   u32 magic "FWGB", u32 version,
 *   u32 task, u32 objective, u32 n_groups, u32 n_outputs, u64 n_dense,
 *   params: u32 n_estimators, f64 learning_rate, u32 max_depth, u32 max_leaves, u8 lossguide,
 *           u32 max_bin, f64 lambda, alpha, min_child_weight, gamma, subsample, colsample_bytree,
 *           huber_delta, u8 class_balanced, u32 early_stopping_rounds,
 *           u8 early_stopping_metric (v2: 0 loss, 1 error), u64 seed,
 *   u32 n_rounds, u32 rounds_trained, i32 best_iteration, u32 stop_reason, f64 best_valid_loss,
 *   u32 n_trees, u32 n_nodes,
 *   f64 base_score[n_groups], u32 tree_start[n_trees + 1],
 *   node[n_nodes] = {f32 threshold, u32 feature|default_left<<31, i32 left, i32 right, f64 value},
 *   f64 cover[n_nodes], f64 importance[n_dense]. Nothing may follow. */
#include "models/gbdt_int.h"

#include "core/alloc.h"

#include <math.h>
#include <string.h>

#define GBDT_MAGIC 0x42475746u /* "FWGB" little-endian */
#define GBDT_VERSION 2u

fw_status fw__gbdt_save(const fw_model *mm, fw_buf *b) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    const fw_gbdt_params *p = &m->params;
    fw_buf_put_u32(b, GBDT_MAGIC);
    fw_buf_put_u32(b, GBDT_VERSION);
    fw_buf_put_u32(b, (uint32_t)m->base.task);
    fw_buf_put_u32(b, (uint32_t)p->objective);
    fw_buf_put_u32(b, m->n_groups);
    fw_buf_put_u32(b, (uint32_t)m->base.n_outputs);
    fw_buf_put_u64(b, m->base.n_dense);
    fw_buf_put_u32(b, p->n_estimators);
    fw_buf_put_f64(b, p->learning_rate);
    fw_buf_put_u32(b, p->max_depth);
    fw_buf_put_u32(b, p->max_leaves);
    fw_buf_put_u8(b, p->lossguide);
    fw_buf_put_u32(b, p->max_bin);
    fw_buf_put_f64(b, p->lambda);
    fw_buf_put_f64(b, p->alpha);
    fw_buf_put_f64(b, p->min_child_weight);
    fw_buf_put_f64(b, p->gamma);
    fw_buf_put_f64(b, p->subsample);
    fw_buf_put_f64(b, p->colsample_bytree);
    fw_buf_put_f64(b, p->huber_delta);
    fw_buf_put_u8(b, p->class_balanced);
    fw_buf_put_u32(b, p->early_stopping_rounds);
    fw_buf_put_u8(b, p->stop_metric);
    fw_buf_put_u64(b, p->seed);
    fw_buf_put_u32(b, m->n_rounds);
    fw_buf_put_u32(b, m->rounds_trained);
    fw_buf_put_i32(b, m->best_iteration);
    fw_buf_put_u32(b, m->stop_reason);
    fw_buf_put_f64(b, m->best_valid_loss);
    fw_buf_put_u32(b, m->n_trees);
    fw_buf_put_u32(b, m->n_nodes);
    fw_buf_put_f64s(b, m->base_score, m->n_groups);
    fw_buf_put_u32s(b, m->tree_start, (size_t)m->n_trees + 1);
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const fw_gbdt_node *n = &m->nodes[i];
        fw_buf_put_f32(b, n->threshold);
        fw_buf_put_u32(b, n->feature);
        fw_buf_put_i32(b, n->left);
        fw_buf_put_i32(b, n->right);
        fw_buf_put_f64(b, n->value);
    }
    fw_buf_put_f64s(b, m->cover, m->n_nodes);
    fw_buf_put_f64s(b, m->importance, m->base.n_dense);
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}

#define CORRUPT(...) \
    do { fw_err_set(err, FW_ECORRUPT, "gbdt model: " __VA_ARGS__); goto bad; } while (0)

fw_status fw__gbdt_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    *out = NULL;
    fw_gbdt_model *m = NULL;
    fw_reader r;
    fw_reader_init(&r, data, len);
    uint32_t magic = fw_reader_u32(&r), version = fw_reader_u32(&r);
    if (!fw_reader_ok(&r) || magic != GBDT_MAGIC)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: bad magic (not a gbdt model)");
    if (version < 1 || version > GBDT_VERSION)
        return fw_err_set(err, FW_EVERSION, "gbdt model: format version %u (this build reads 1 to %u)",
                          version, GBDT_VERSION);
    uint32_t task = fw_reader_u32(&r), objective = fw_reader_u32(&r);
    uint32_t n_groups = fw_reader_u32(&r), n_outputs = fw_reader_u32(&r);
    uint64_t n_dense = fw_reader_u64(&r);
    fw_gbdt_params p;
    fw__gbdt_params_init(&p);
    p.n_estimators = fw_reader_u32(&r);
    p.learning_rate = fw_reader_f64(&r);
    p.max_depth = fw_reader_u32(&r);
    p.max_leaves = fw_reader_u32(&r);
    uint8_t lossguide = fw_reader_u8(&r);
    p.max_bin = fw_reader_u32(&r);
    p.lambda = fw_reader_f64(&r);
    p.alpha = fw_reader_f64(&r);
    p.min_child_weight = fw_reader_f64(&r);
    p.gamma = fw_reader_f64(&r);
    p.subsample = fw_reader_f64(&r);
    p.colsample_bytree = fw_reader_f64(&r);
    p.huber_delta = fw_reader_f64(&r);
    uint8_t balanced = fw_reader_u8(&r);
    p.early_stopping_rounds = fw_reader_u32(&r);
    uint8_t stop_metric = version >= 2 ? fw_reader_u8(&r) : FW_GBDT_METRIC_LOSS;
    p.seed = fw_reader_u64(&r);
    uint32_t n_rounds = fw_reader_u32(&r), rounds_trained = fw_reader_u32(&r);
    int32_t best_iteration = fw_reader_i32(&r);
    uint32_t stop_reason = fw_reader_u32(&r);
    double best_valid_loss = fw_reader_f64(&r);
    uint32_t n_trees = fw_reader_u32(&r), n_nodes = fw_reader_u32(&r);
    if (!fw_reader_ok(&r)) return fw_err_set(err, FW_ECORRUPT, "gbdt model: truncated header");
    if (lossguide > 1 || balanced > 1 || stop_reason > FW_GBDT_STOP_CALLBACK ||
        stop_metric > FW_GBDT_METRIC_ERROR)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: bad flag in header");
    p.lossguide = lossguide;
    p.class_balanced = balanced;
    p.stop_metric = stop_metric;
    if (objective > FW_GBDT_LAMBDARANK)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: unknown objective %u", objective);
    p.objective = (fw_gbdt_objective)objective;
    bool task_ok = false;
    switch (task) {
    case FW_TASK_BINARY: task_ok = objective == FW_GBDT_LOGLOSS; break;
    case FW_TASK_MULTICLASS: task_ok = objective == FW_GBDT_SOFTMAX; break;
    case FW_TASK_REGRESSION: task_ok = objective >= FW_GBDT_L2 && objective <= FW_GBDT_HUBER; break;
    case FW_TASK_RANKING: task_ok = objective >= FW_GBDT_L2; break;
    default: break;
    }
    if (!task_ok)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: task %u does not fit objective %u", task,
                          objective);
    if (objective == FW_GBDT_SOFTMAX ? (n_groups < 2 || n_groups > FW_GBDT_MAX_OUTPUTS ||
                                        n_outputs != n_groups)
                                     : (n_groups != 1 || n_outputs != 1))
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: %u groups / %u outputs", n_groups,
                          n_outputs);
    if (n_dense == 0 || n_dense > (1u << 24))
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: %llu dense features",
                          (unsigned long long)n_dense);
    if ((uint64_t)n_rounds * n_groups != n_trees || n_nodes < n_trees || n_nodes >= INT32_MAX ||
        rounds_trained < n_rounds)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: %u trees, %u nodes, %u rounds", n_trees,
                          n_nodes, n_rounds);
    if (!isfinite(p.learning_rate) || p.max_depth > FW_GBDT_MAX_DEPTH || p.max_bin > 255)
        return fw_err_set(err, FW_ECORRUPT, "gbdt model: bad hyperparameters");
    uint64_t need = (uint64_t)n_groups * 8 + ((uint64_t)n_trees + 1) * 4 + (uint64_t)n_nodes * 32 +
                    n_dense * 8;
    if (need != fw_reader_left(&r))
        return fw_err_set(err, FW_ECORRUPT,
                          "gbdt model: %zu bytes of trees, expected %llu for %u trees / %u nodes",
                          fw_reader_left(&r), (unsigned long long)need, n_trees, n_nodes);
    m = fw__gbdt_alloc(n_groups, n_trees, n_nodes, (size_t)n_dense);
    if (!m) return fw_err_set(err, FW_ENOMEM, "gbdt model: out of memory");
    m->params = p;
    m->base.task = (fw_task)task;
    m->base.n_outputs = n_outputs;
    m->n_rounds = n_rounds;
    m->rounds_trained = rounds_trained;
    m->best_iteration = best_iteration;
    m->stop_reason = stop_reason;
    m->best_valid_loss = best_valid_loss;
    fw_reader_f64s(&r, m->base_score, n_groups);
    fw_reader_u32s(&r, m->tree_start, (size_t)n_trees + 1);
    for (uint32_t i = 0; i < n_nodes; i++) {
        fw_gbdt_node *n = &m->nodes[i];
        n->threshold = fw_reader_f32(&r);
        n->feature = fw_reader_u32(&r);
        n->left = fw_reader_i32(&r);
        n->right = fw_reader_i32(&r);
        n->value = fw_reader_f64(&r);
    }
    fw_reader_f64s(&r, m->cover, n_nodes);
    fw_reader_f64s(&r, m->importance, (size_t)n_dense);
    if (!fw_reader_ok(&r) || fw_reader_left(&r) != 0) CORRUPT("truncated trees");
    for (uint32_t k = 0; k < n_groups; k++)
        if (!isfinite(m->base_score[k])) CORRUPT("base score %u is not finite", k);
    if (m->tree_start[0] != 0 || m->tree_start[n_trees] != n_nodes) CORRUPT("bad tree offsets");
    for (uint32_t t = 0; t < n_trees; t++) {
        uint32_t s = m->tree_start[t], e = m->tree_start[t + 1];
        if (e <= s || e > n_nodes) CORRUPT("tree %u: bad node range %u..%u", t, s, e);
        for (uint32_t i = s; i < e; i++) {
            const fw_gbdt_node *n = &m->nodes[i];
            if (!isfinite(m->cover[i]) || !(m->cover[i] > 0))
                CORRUPT("tree %u node %u: bad cover", t, i - s);
            if (n->left < 0 || n->right < 0) {
                if (n->left != -1 || n->right != -1 || !isfinite(n->value))
                    CORRUPT("tree %u node %u: bad leaf", t, i - s);
                continue;
            }
            if ((uint32_t)n->left <= i || (uint32_t)n->left >= e || (uint32_t)n->right <= i ||
                (uint32_t)n->right >= e || n->left == n->right)
                CORRUPT("tree %u node %u: child index out of range", t, i - s);
            if ((n->feature & FW_GBDT_FEATURE_MASK) >= n_dense)
                CORRUPT("tree %u node %u: feature %u >= %llu", t, i - s,
                        n->feature & FW_GBDT_FEATURE_MASK, (unsigned long long)n_dense);
            if (isnan(n->threshold)) CORRUPT("tree %u node %u: NaN threshold", t, i - s);
        }
    }
    for (uint64_t f = 0; f < n_dense; f++)
        if (!isfinite(m->importance[f]) || m->importance[f] < 0)
            CORRUPT("importance of feature %llu", (unsigned long long)f);
    if (!fw__gbdt_finish(m)) CORRUPT("a tree is deeper than %d", FW_GBDT_MAX_DEPTH);
    *out = &m->base;
    return FW_OK;
bad:
    fw_free(m);
    return FW_ECORRUPT;
}
