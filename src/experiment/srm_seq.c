/* srm_seq.c — owns the anytime-valid SRM test (srm_seq.h): the Dirichlet-multinomial mixture
 * Bayes factor, updated per unit in O(1) or recomputed from counts with lgamma. */
#include "experiment/srm_seq.h"

#include <math.h>
#include <string.h>

int fw_srm_seq_init(fw_srm_seq *t, int k, const double *p0, double conc, double alpha) {
    memset(t, 0, sizeof *t);
    if (k < 2 || k > FW_SRM_SEQ_MAX_ARMS || !(alpha > 0 && alpha < 1) || !(conc >= 0)) return -1;
    double sum = 0;
    for (int i = 0; i < k; i++) {
        if (!(p0[i] > 0) || !isfinite(p0[i])) return -1;
        sum += p0[i];
    }
    t->k = k;
    t->alpha = alpha;
    t->conc = conc > 0 ? conc : FW_SRM_SEQ_CONCENTRATION;
    for (int i = 0; i < k; i++) {
        t->p0[i] = p0[i] / sum;
        t->log_p0[i] = log(t->p0[i]);
    }
    t->p_value = 1;
    return 0;
}

static void after_look(fw_srm_seq *t) {
    if (t->log_bf > t->max_log_bf) {
        t->max_log_bf = t->log_bf;
        t->p_value = fmin(1.0, exp(-t->max_log_bf));
        if (t->p_value <= t->alpha) t->rejected = true;
    }
}

void fw_srm_seq_add(fw_srm_seq *t, int arm, uint64_t count) {
    if (arm < 0 || arm >= t->k) return;
    double a = t->conc * t->p0[arm];
    for (uint64_t j = 0; j < count; j++) {
        /* BF_{n+1} / BF_n = (c p0_i + x_i) / (c + n) / p0_i */
        t->log_bf += log((a + (double)t->x[arm]) / (t->conc + (double)t->n)) - t->log_p0[arm];
        t->x[arm]++;
        t->n++;
        after_look(t);
    }
}

double fw_srm_seq_log_bf(int k, const double *p0, double conc, const uint64_t *x) {
    double n = 0, s = 0;
    for (int i = 0; i < k; i++) {
        double a = conc * p0[i], xi = (double)x[i];
        s += lgamma(a + xi) - lgamma(a) - xi * log(p0[i]);
        n += xi;
    }
    return s + lgamma(conc) - lgamma(conc + n);
}

void fw_srm_seq_set_counts(fw_srm_seq *t, const uint64_t *counts) {
    uint64_t n = 0;
    for (int i = 0; i < t->k; i++) {
        t->x[i] = counts[i];
        n += counts[i];
    }
    t->n = n;
    t->log_bf = fw_srm_seq_log_bf(t->k, t->p0, t->conc, t->x);
    after_look(t);
}
