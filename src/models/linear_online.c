/* linear_online.c — owns the linear family's online solvers: mini-batch FTRL-proximal (McMahan et
 * al. 2013) and AdaGrad SGD with an L1 proximal step. Rows are visited once per epoch in the given
 * order, batch by batch; each batch's gradient is the weighted mean over its rows at the weights
 * of the batch start. Only coordinates a batch touches are updated (intercept and dense always,
 * sparse ones when present), so a pass costs O(nnz), not O(2^bits). Per-coordinate squared-gradient
 * sums are kept in the model (lm->acc) so later partial_fit calls continue from them. FTRL's z is
 * re-derived from the weights at the start of each call (exact where w != 0; where w == 0 z is
 * taken as 0). Serial and deterministic. */
#include "models/linear_int.h"

#include "core/alloc.h"
#include "core/clock.h"

#include <math.h>
#include <string.h>

typedef struct online {
    fw_linear *lm;
    const fw_linear_hp *hp;
    double *z;   /* FTRL state, P */
} online;

static void update(online *s, size_t i, double g) {
    fw_linear *lm = s->lm;
    const fw_linear_hp *hp = s->hp;
    int reg = i >= lm->base.n_outputs;
    double l1 = reg ? hp->l1 : 0, l2 = reg ? hp->l2 : 0;
    double *w = lm->theta + i, *n = lm->acc + i;
    if (hp->solver == FW_LIN_FTRL) {
        double sig = (sqrt(*n + g * g) - sqrt(*n)) / hp->lr;
        s->z[i] += g - sig * *w;
        *n += g * g;
        double z = s->z[i];
        *w = fabs(z) <= l1 ? 0.0 : -(z - (z > 0 ? l1 : -l1)) / ((hp->beta + sqrt(*n)) / hp->lr + l2);
    } else {
        g += l2 * *w;
        *n += g * g;
        double lr = hp->lr / (hp->beta + sqrt(*n));
        double v = *w - lr * g;
        if (l1 > 0) v = fabs(v) <= lr * l1 ? 0.0 : v - (v > 0 ? lr * l1 : -lr * l1);
        *w = v;
    }
}

fw_status fw__linear_online(fw_linear *lm, const fw_matrix *X, const double *y, const double *w,
                            const fw_linear_hp *hp, const fw_fit_options *o, fw_err *err) {
    size_t no = lm->base.n_outputs, nd = lm->base.n_dense, P = lm->n_feat * no;
    size_t gdim = (1 + nd) * no, ys = lm->base.task == FW_TASK_MULTILABEL ? no : 1;
    uint32_t D = lm->base.sparse_dim;
    online s = {lm, hp, NULL};
    double *gd = NULL, *gs = NULL, *m = NULL;
    uint32_t *mark = NULL, *touched = NULL;
    fw_status st = FW_ENOMEM;
    int new_acc = 0;
    if (!lm->acc) {
        if (!(lm->acc = fw_calloc(P, sizeof(double)))) goto done;
        new_acc = 1;
    }
    gd = fw_malloc(gdim * sizeof(double));
    m = fw_malloc(2 * no * sizeof(double));
    if (!gd || !m) goto done;
    if (D) {
        gs = fw_malloc((size_t)D * no * sizeof(double));
        mark = fw_calloc(D, sizeof(uint32_t));
        touched = fw_malloc((size_t)D * sizeof(uint32_t));
        if (!gs || !mark || !touched) goto done;
    }
    if (hp->solver == FW_LIN_FTRL) {
        if (!(s.z = fw_malloc(P * sizeof(double)))) goto done;
        for (size_t i = 0; i < P; i++) {
            int reg = i >= no;
            double l1 = reg ? hp->l1 : 0, l2 = reg ? hp->l2 : 0, wi = lm->theta[i];
            s.z[i] = wi == 0 ? 0.0
                             : -wi * ((hp->beta + sqrt(lm->acc[i])) / hp->lr + l2) -
                                   (wi > 0 ? l1 : -l1);
        }
    }
    double *d = m + no;
    fw_matrix Xv = *X;
    if (!D) Xv.sparse_dim = 0;
    size_t B = (size_t)hp->batch;
    uint32_t stamp = 0;
    double t0 = fw_now_seconds();
    int ep;
    for (ep = 0; ep < hp->epochs; ep++) {
        double loss = 0, lw = 0;
        for (size_t b = 0; b < X->n_rows; b += B) {
            size_t e = b + B < X->n_rows ? b + B : X->n_rows;
            memset(gd, 0, gdim * sizeof(double));
            size_t nt = 0;
            if (++stamp == 0) { /* wrapped: reset marks */
                memset(mark, 0, (size_t)D * sizeof(uint32_t));
                stamp = 1;
            }
            double wb = 0;
            for (size_t i = b; i < e; i++) {
                double wi = w ? w[i] : 1.0;
                if (wi == 0) continue;
                fw_row r = fw_matrix_row(&Xv, i);
                fw__linear_margins(lm, &r, m);
                double l = fw__linear_row_loss(lm, m, y + i * ys, d);
                loss += wi * l;
                wb += wi;
                for (size_t k = 0; k < no; k++) {
                    d[k] *= wi;
                    gd[k] += d[k];
                }
                for (size_t j = 0; j < nd; j++) {
                    double v = r.dense[j];
                    for (size_t k = 0; k < no; k++) gd[(1 + j) * no + k] += d[k] * v;
                }
                for (size_t q = 0; q < r.nnz; q++) {
                    uint32_t c = r.indices[q];
                    if (c >= D) continue;
                    double *gc = gs + (size_t)c * no;
                    if (mark[c] != stamp) {
                        mark[c] = stamp;
                        touched[nt++] = c;
                        for (size_t k = 0; k < no; k++) gc[k] = 0;
                    }
                    for (size_t k = 0; k < no; k++) gc[k] += d[k] * (double)r.values[q];
                }
            }
            if (wb <= 0) continue;
            lw += wb;
            double sc = 1.0 / wb;
            for (size_t i = 0; i < gdim; i++) update(&s, i, gd[i] * sc);
            for (size_t q = 0; q < nt; q++) {
                size_t base = (1 + nd + (size_t)touched[q]) * no;
                const double *gc = gs + (size_t)touched[q] * no;
                for (size_t k = 0; k < no; k++) update(&s, base + k, gc[k] * sc);
            }
        }
        if (o && o->progress &&
            o->progress(o->progress_ud, "linear", ep + 1, (int)hp->epochs, lw > 0 ? loss / lw : NAN,
                        NAN)) {
            ep++;
            break;
        }
        if (o && o->time_budget_s > 0 && fw_now_seconds() - t0 > o->time_budget_s) {
            ep++;
            break;
        }
    }
    lm->iters = ep;
    st = FW_OK;
done:
    if (st) {
        if (new_acc) {
            fw_free(lm->acc);
            lm->acc = NULL;
        }
        fw_err_set(err, st, "linear: out of memory for the online solver");
    }
    fw_free(s.z);
    fw_free(gd);
    fw_free(gs);
    fw_free(m);
    fw_free(mark);
    fw_free(touched);
    return st;
}
