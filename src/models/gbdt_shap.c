/* gbdt_shap.c — owns explain_row for gbdt: exact TreeSHAP (Lundberg, Erion & Lee, "Consistent
 * Individualized Feature Attribution for Tree Ensembles", Algorithm 2) in margin space, using the
 * training covers (hessian sums) for the conditional expectations. The caller's scratch holds the
 * path buffer, so explaining a row allocates nothing. */
#include "models/gbdt_int.h"

#include <string.h>

typedef struct path_el {
    double z; /* fraction of "zero" paths (feature not in the coalition) flowing here */
    double o; /* fraction of "one" paths (feature in the coalition and following x) */
    double w; /* permutation weight */
    int64_t d; /* feature, -1 for the root placeholder */
} path_el;

static size_t path_elems(uint32_t depth) { return ((size_t)depth + 2) * (depth + 3) / 2 + 2; }

size_t fw__gbdt_scratch_size(const fw_model *mm) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    size_t a = (size_t)m->n_groups * sizeof(double);
    size_t b = path_elems(m->max_depth) * sizeof(path_el);
    size_t s = a > b ? a : b;
    return (s + 15) & ~(size_t)15;
}

static void extend(path_el *p, uint32_t ud, double z, double o, int64_t d) {
    p[ud] = (path_el){z, o, ud == 0 ? 1.0 : 0.0, d};
    for (int64_t i = (int64_t)ud - 1; i >= 0; i--) {
        p[i + 1].w += o * p[i].w * (double)(i + 1) / (double)(ud + 1);
        p[i].w = z * p[i].w * (double)(ud - i) / (double)(ud + 1);
    }
}

static void unwind(path_el *p, uint32_t ud, uint32_t pi) {
    double o = p[pi].o, z = p[pi].z, next = p[ud].w;
    for (int64_t i = (int64_t)ud - 1; i >= 0; i--) {
        if (o != 0) {
            double tmp = p[i].w;
            p[i].w = next * (double)(ud + 1) / ((double)(i + 1) * o);
            next = tmp - p[i].w * z * (double)(ud - i) / (double)(ud + 1);
        } else {
            p[i].w = p[i].w * (double)(ud + 1) / (z * (double)(ud - i));
        }
    }
    for (uint32_t i = pi; i < ud; i++) {
        p[i].d = p[i + 1].d;
        p[i].z = p[i + 1].z;
        p[i].o = p[i + 1].o;
    }
}

static double unwound_sum(const path_el *p, uint32_t ud, uint32_t pi) {
    double o = p[pi].o, z = p[pi].z, next = p[ud].w, total = 0;
    for (int64_t i = (int64_t)ud - 1; i >= 0; i--) {
        if (o != 0) {
            double tmp = next * (double)(ud + 1) / ((double)(i + 1) * o);
            total += tmp;
            next = p[i].w - tmp * z * (double)(ud - i) / (double)(ud + 1);
        } else {
            total += p[i].w / z * (double)(ud + 1) / (double)(ud - i);
        }
    }
    return total;
}

typedef struct shap_ctx {
    const fw_gbdt_model *m;
    const float *x;
    double *phi; /* contrib + class offset; stride K */
    uint32_t K;
} shap_ctx;

static void recurse(const shap_ctx *c, uint32_t node, path_el *parent, uint32_t ud, double pz,
                    double po, int64_t pd) {
    path_el *p = parent + ud + 1;
    memcpy(p, parent, ((size_t)ud + 1) * sizeof(path_el));
    extend(p, ud, pz, po, pd);
    const fw_gbdt_node *n = &c->m->nodes[node];
    if (n->left < 0) {
        for (uint32_t i = 1; i <= ud; i++) {
            double w = unwound_sum(p, ud, i);
            c->phi[(size_t)p[i].d * c->K] += w * (p[i].o - p[i].z) * n->value;
        }
        return;
    }
    uint32_t f = n->feature & FW_GBDT_FEATURE_MASK;
    float v = c->x[f];
    bool go_left = v != v ? (n->feature & FW_GBDT_DEFAULT_LEFT) != 0 : v <= n->threshold;
    uint32_t hot = (uint32_t)(go_left ? n->left : n->right);
    uint32_t cold = (uint32_t)(go_left ? n->right : n->left);
    double w = c->m->cover[node];
    double hz = w > 0 ? c->m->cover[hot] / w : 0.5, cz = w > 0 ? c->m->cover[cold] / w : 0.5;
    double iz = 1, io = 1;
    uint32_t k = 1;
    for (; k <= ud; k++)
        if (p[k].d == (int64_t)f) break;
    if (k <= ud) {
        iz = p[k].z;
        io = p[k].o;
        unwind(p, ud, k);
        ud--;
    }
    recurse(c, hot, p, ud + 1, hz * iz, io, f);
    recurse(c, cold, p, ud + 1, cz * iz, 0, f);
}

fw_status fw__gbdt_explain_row(const fw_model *mm, const fw_row *x, void *scratch,
                               double *contrib) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    if (!x || !x->dense || !scratch || !contrib) return FW_EINVAL;
    uint32_t K = m->n_groups;
    size_t nd = m->base.n_dense;
    memset(contrib, 0, (nd + 1) * K * sizeof(double));
    for (uint32_t k = 0; k < K; k++) contrib[nd * K + k] = m->base_score[k];
    path_el *buf = scratch;
    buf[0] = (path_el){1, 1, 1, -1}; /* copied into the root's path, then overwritten */
    for (uint32_t t = 0; t < m->n_trees; t++) {
        uint32_t k = t % K;
        contrib[nd * K + k] += m->expected[t];
        shap_ctx c = {m, x->dense, contrib + k, K};
        recurse(&c, m->tree_start[t], buf, 0, 1, 1, -1);
    }
    return FW_OK;
}
