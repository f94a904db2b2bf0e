/* gate.c — owns the promotion gate (see gate.h): DeLong's paired test for AUC, paired per-row losses
 * for metrics that are means over rows, the paired bootstrap for the others, and the decision. */
#include "learn/gate.h"

#include "core/alloc.h"
#include "core/json_out.h"
#include "core/rng.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fw_gate_decision_name(fw_gate_decision d) {
    switch (d) {
    case FW_GATE_PROMOTE: return "promote";
    case FW_GATE_REJECT: return "reject";
    case FW_GATE_INCONCLUSIVE: break;
    }
    return "inconclusive";
}

void fw_gate_options_init(fw_gate_options *o) {
    memset(o, 0, sizeof *o);
    o->confidence = FW_LEARN_DEFAULT_CONFIDENCE;
    o->min_rows = FW_LEARN_DEFAULT_MIN_ROWS;
    o->n_resamples = FW_LEARN_DEFAULT_RESAMPLES;
    o->seed = 42;
    o->threshold = 0.5;
    o->challenger_threshold = NAN;
}

void fw_gate_options_from_learn(const fw_learn_spec *l, const char *metric, fw_gate_options *o) {
    fw_gate_options_init(o);
    o->metric = metric;
    o->min_improvement = l->min_improvement;
    o->confidence = l->confidence;
    o->min_rows = (size_t)l->min_rows;
    o->n_resamples = l->resamples;
    o->seed = l->seed;
}

/* The standard normal quantile (bisection on erfc: exact to ~1e-12, and called once per decision). */
static double normal_quantile(double p) {
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- DeLong ---------------------------------------------------------------------------------- */

/* A score as its order key (order_key) and where it came from. */
typedef struct vi {
    uint64_t k;
    size_t i;
} vi;

/* The order of a double as an unsigned key: a < b exactly when key(a) < key(b), equal keys for
 * equal values (-0 and +0 alike). */
static inline uint64_t order_key(double v) {
    uint64_t b;
    if (v == 0) v = 0; /* -0 -> +0 */
    memcpy(&b, &v, sizeof b);
    return b >> 63 ? ~b : b | (UINT64_C(1) << 63);
}

/* Sorts a[0..n) by key, equal keys in their order in a: a stable LSD radix sort, a byte per pass,
 * the eight counts taken in one read and a pass skipped when its byte is the same in every key.
 * aux holds n more. Filled in index order, a ends as (value, index) ascending — what a comparison
 * sort on both leaves — in O(n): the snapshot gate sorts 2 x 1,000 scores per snapshot, which
 * qsort did in ~0.53M instructions each. */
static void sort_vi(vi *a, vi *aux, size_t n) {
    size_t cnt[8][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < 8; d++) cnt[d][(a[i].k >> (8 * d)) & 255]++;
    vi *src = a, *dst = aux;
    for (unsigned d = 0; d < 8 && n; d++) {
        size_t *c = cnt[d];
        if (c[(src[0].k >> (8 * d)) & 255] == n) continue; /* one value of this byte: nothing moves */
        size_t at = 0;
        for (size_t b = 0; b < 256; b++) {
            size_t m = c[b];
            c[b] = at;
            at += m;
        }
        for (size_t i = 0; i < n; i++) dst[c[(src[i].k >> (8 * d)) & 255]++] = src[i];
        vi *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* The structural components of one model's AUC: v10 over the m positives, v01 over the n
 * negatives (Sun & Xu's fast DeLong). v10[i] = (midrank of positive i among all - its midrank among
 * the positives) / n = (negatives below it + half the negatives tied with it) / n, and v01[j] =
 * 1 - (positives below negative j + half those tied with it) / m: one sort of the m + n scores
 * gives both (the same exact half-integer counts as three midrank sorts, so the same doubles). */
static void delong_components(const double *pos, size_t m, const double *neg, size_t n, double *v10, double *v01,
                              vi *tmp) {
    for (size_t i = 0; i < m; i++) tmp[i] = (vi){order_key(pos[i]), i};
    for (size_t j = 0; j < n; j++) tmp[m + j] = (vi){order_key(neg[j]), m + j};
    sort_vi(tmp, tmp + m + n, m + n);
    size_t pos_below = 0, neg_below = 0;
    for (size_t i = 0; i < m + n;) {
        size_t j = i, tp = 0;
        while (j < m + n && tmp[j].k == tmp[i].k) tp += tmp[j++].i < m; /* tied: equal values */
        size_t tn = (j - i) - tp;
        double v10_num = (double)neg_below + 0.5 * (double)tn, v01_num = (double)pos_below + 0.5 * (double)tp;
        for (size_t k = i; k < j; k++) {
            if (tmp[k].i < m) v10[tmp[k].i] = v10_num / (double)n;
            else v01[tmp[k].i - m] = 1.0 - v01_num / (double)m;
        }
        pos_below += tp;
        neg_below += tn;
        i = j;
    }
}

static double mean(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

static double cov(const double *a, const double *b, size_t n) {
    double ma = mean(a, n), mb = mean(b, n), s = 0;
    for (size_t i = 0; i < n; i++) s += (a[i] - ma) * (b[i] - mb);
    return s / (double)(n - 1);
}

static fw_status gate_delong(const double *y, const double *pa, const double *pb, size_t n_rows, double z,
                             fw_gate_result *g, fw_err *err) {
    size_t m = 0, n = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (y[i] == 1) m++;
        else if (y[i] == 0) n++;
    }
    if (m < 2 || n < 2) {
        g->decision = FW_GATE_INCONCLUSIVE;
        snprintf(g->reason, sizeof g->reason, "roc_auc needs both classes among the held-out rows (%zu positive, %zu "
                 "negative)", m, n);
        return FW_OK;
    }
    double *buf = fw_malloc(4 * (m + n) * sizeof(double));
    vi *tmp = fw_malloc(2 * (m + n) * sizeof *tmp); /* the sort's and its aux */
    if (!buf || !tmp) {
        fw_free(buf);
        fw_free(tmp);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    double *posa = buf, *nega = posa + m, *posb = nega + n, *negb = posb + m;
    double *v10a = negb + n, *v01a = v10a + m, *v10b = v01a + n, *v01b = v10b + m;
    size_t ip = 0, in = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (y[i] == 1) posa[ip] = pa[i], posb[ip++] = pb[i];
        else if (y[i] == 0) nega[in] = pa[i], negb[in++] = pb[i];
    }
    delong_components(posa, m, nega, n, v10a, v01a, tmp);
    delong_components(posb, m, negb, n, v10b, v01b, tmp);
    double auc_a = mean(v10a, m), auc_b = mean(v10b, m);
    double var = (cov(v10a, v10a, m) + cov(v10b, v10b, m) - 2 * cov(v10a, v10b, m)) / (double)m +
                 (cov(v01a, v01a, n) + cov(v01b, v01b, n) - 2 * cov(v01a, v01b, n)) / (double)n;
    fw_free(buf);
    fw_free(tmp);
    g->champion_metric = auc_a;
    g->challenger_metric = auc_b;
    g->difference = auc_b - auc_a;
    g->se = var > 0 ? sqrt(var) : 0;
    g->lo = g->difference - z * g->se;
    g->hi = g->difference + z * g->se;
    g->method = "delong";
    return FW_OK;
}

/* ---- per-row paired losses ------------------------------------------------------------------- */

/* The per-row score (higher is better) of metric for one row; NaN when the row does not count. */
static double row_score(fw_task task, const char *metric, double y, const double *p, size_t k, double threshold) {
    const double eps = DBL_EPSILON;
    if (task == FW_TASK_BINARY) {
        double q = p[0];
        if (!strcmp(metric, "accuracy")) return (q >= threshold) == (y == 1);
        if (y != 0 && y != 1) return NAN;
        q = q < eps ? eps : q > 1 - eps ? 1 - eps : q;
        if (!strcmp(metric, "log_loss")) return y == 1 ? log(q) : log(1 - q);
        if (!strcmp(metric, "brier_score_loss")) return -(p[0] - y) * (p[0] - y);
        return NAN;
    }
    if (task == FW_TASK_MULTICLASS) {
        if (!strcmp(metric, "accuracy")) {
            size_t best = 0;
            for (size_t c = 1; c < k; c++)
                if (p[c] > p[best]) best = c;
            return y >= 0 && (size_t)y == best;
        }
        if (y < 0 || (size_t)y >= k) return NAN;
        /* sklearn: probabilities clipped and renormalised per row */
        double s = 0;
        for (size_t c = 0; c < k; c++) s += p[c] < eps ? eps : p[c] > 1 - eps ? 1 - eps : p[c];
        double q = p[(size_t)y];
        q = q < eps ? eps : q > 1 - eps ? 1 - eps : q;
        return log(q / s);
    }
    if (task == FW_TASK_REGRESSION) {
        double e = p[0] - y;
        if (!strcmp(metric, "mse")) return -e * e;
        if (!strcmp(metric, "mae")) return -fabs(e);
    }
    return NAN;
}

static bool per_row_metric(fw_task task, const char *m) {
    if (task == FW_TASK_BINARY) return !strcmp(m, "accuracy") || !strcmp(m, "log_loss") || !strcmp(m, "brier_score_loss");
    if (task == FW_TASK_MULTICLASS) return !strcmp(m, "accuracy") || !strcmp(m, "log_loss");
    if (task == FW_TASK_REGRESSION) return !strcmp(m, "mse") || !strcmp(m, "mae");
    return false;
}

static void gate_paired_loss(fw_task task, const double *y, const double *pa, const double *pb, size_t n, size_t k,
                             double ta, double tb, double z, fw_gate_result *g) {
    /* Welford over the rows that count */
    double md = 0, m2 = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        double sa = row_score(task, g->metric, y[i], pa + i * k, k, ta);
        double sb = row_score(task, g->metric, y[i], pb + i * k, k, tb);
        if (isnan(sa) || isnan(sb)) continue;
        double d = sb - sa;
        used++;
        double delta = d - md;
        md += delta / (double)used;
        m2 += delta * (d - md);
    }
    g->method = "paired_loss";
    if (used < 2) {
        g->decision = FW_GATE_INCONCLUSIVE;
        snprintf(g->reason, sizeof g->reason, "%zu held-out rows count for %s", used, g->metric);
        return;
    }
    g->difference = md;
    g->se = sqrt(m2 / (double)(used - 1) / (double)used);
    g->lo = md - z * g->se;
    g->hi = md + z * g->se;
}

/* ---- paired bootstrap ------------------------------------------------------------------------ */

static fw_status metric_of(fw_task task, const double *y, const double *p, size_t n, size_t k, double threshold,
                           const char *metric, double *out, fw_err *err) {
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = metric;
    eo.threshold = threshold;
    eo.max_curve_points = 2;
    fw_metric_set s;
    fw_metric_set_init(&s);
    fw_status st = fw_eval_compute(task, y, p, n, k, &eo, &s, err);
    if (st == FW_OK && !fw_metric_set_get(&s, metric, out)) *out = NAN;
    fw_metric_set_free(&s);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static fw_status gate_bootstrap(fw_task task, const double *y, const double *pa, const double *pb, size_t n, size_t k,
                                double ta, double tb, const fw_gate_options *o, fw_gate_result *g, fw_err *err) {
    size_t R = o->n_resamples ? o->n_resamples : FW_LEARN_DEFAULT_RESAMPLES;
    double *ry = fw_malloc(n * sizeof *ry), *ra = fw_malloc(n * k * sizeof *ra), *rb = fw_malloc(n * k * sizeof *rb);
    double *diffs = fw_malloc(R * sizeof *diffs);
    fw_status st = FW_OK;
    if (!ry || !ra || !rb || !diffs) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    fw_rng rng;
    fw_rng_seed(&rng, o->seed);
    size_t got = 0;
    double sign = g->greater_is_better ? 1 : -1;
    for (size_t r = 0; r < R; r++) {
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)fw_rng_below(&rng, n);
            ry[i] = y[j];
            memcpy(ra + i * k, pa + j * k, k * sizeof *ra);
            memcpy(rb + i * k, pb + j * k, k * sizeof *rb);
        }
        double a, b;
        fw_err e2;
        if (metric_of(task, ry, ra, n, k, ta, g->metric, &a, &e2) || metric_of(task, ry, rb, n, k, tb, g->metric, &b, &e2))
            continue;
        double d = sign * (b - a);
        if (isfinite(d)) diffs[got++] = d;
    }
    g->method = "paired_bootstrap";
    if (got < R / 2 || got < 20) {
        g->decision = FW_GATE_INCONCLUSIVE;
        snprintf(g->reason, sizeof g->reason, "%s is undefined on most resamples of the held-out rows (%zu of %zu)",
                 g->metric, got, R);
        goto done;
    }
    qsort(diffs, got, sizeof *diffs, cmp_double);
    double alpha = (1 - g->confidence) / 2;
    size_t lo = (size_t)floor(alpha * (double)(got - 1)), hi = (size_t)ceil((1 - alpha) * (double)(got - 1));
    g->lo = diffs[lo];
    g->hi = diffs[hi < got ? hi : got - 1];
    double m = mean(diffs, got);
    double s = 0;
    for (size_t i = 0; i < got; i++) s += (diffs[i] - m) * (diffs[i] - m);
    g->se = sqrt(s / (double)(got - 1));
done:
    fw_free(ry);
    fw_free(ra);
    fw_free(rb);
    fw_free(diffs);
    return st;
}

/* ---- the decision ---------------------------------------------------------------------------- */

fw_status fw_gate_decide(fw_task task, const double *y, const double *p_champion, const double *p_challenger,
                         size_t n, size_t n_outputs, const fw_gate_options *o, fw_gate_result *g, fw_err *err) {
    fw_gate_options def;
    if (!o) {
        fw_gate_options_init(&def);
        o = &def;
    }
    memset(g, 0, sizeof *g);
    g->decision = FW_GATE_INCONCLUSIVE;
    g->champion_metric = g->challenger_metric = g->difference = g->lo = g->hi = g->se = NAN;
    g->min_improvement = o->min_improvement;
    g->confidence = o->confidence;
    g->n_rows = n;
    g->method = "none";
    if (task == FW_TASK_RANKING || task == FW_TASK_MULTILABEL)
        return fw_err_set(err, FW_EUNSUPPORTED, "the promotion gate compares binary, multiclass and regression models "
                          "(not %s)", fw_task_name(task));
    const char *metric = o->metric && *o->metric ? o->metric : fw_eval_default_metric(task);
    fw_status st = fw_eval_check_metric(task, metric, err);
    if (st) return st;
    if (!(o->confidence >= 0.5 && o->confidence < 1))
        return fw_err_set(err, FW_EINVAL, "gate confidence %g: expected a level in [0.5, 1)", o->confidence);
    snprintf(g->metric, sizeof g->metric, "%s", metric);
    g->greater_is_better = fw_metric_higher_is_better(metric);
    size_t k = n_outputs ? n_outputs : 1;
    double ta = o->threshold, tb = isnan(o->challenger_threshold) ? o->threshold : o->challenger_threshold;
    size_t min_rows = o->min_rows < 2 ? 2 : o->min_rows;
    if (n < min_rows) {
        snprintf(g->reason, sizeof g->reason, "%zu labelled held-out rows, fewer than the %zu the gate needs "
                 "(learn.gate.min_rows): no promotion", n, min_rows);
        if (n >= 2) { /* the point values, for information */
            fw_err e2;
            if (metric_of(task, y, p_champion, n, k, ta, metric, &g->champion_metric, &e2)) g->champion_metric = NAN;
            if (metric_of(task, y, p_challenger, n, k, tb, metric, &g->challenger_metric, &e2)) g->challenger_metric = NAN;
        }
        return FW_OK;
    }
    bool delong = task == FW_TASK_BINARY && !strcmp(metric, "roc_auc");
    /* DeLong computes both AUCs itself (NaN when a class is missing): no full evaluation needed */
    if (!delong && ((st = metric_of(task, y, p_champion, n, k, ta, metric, &g->champion_metric, err)) ||
                    (st = metric_of(task, y, p_challenger, n, k, tb, metric, &g->challenger_metric, err))))
        return st;
    double z = normal_quantile(1 - (1 - o->confidence) / 2);
    if (delong) {
        if ((st = gate_delong(y, p_champion, p_challenger, n, z, g, err))) return st;
    } else if (per_row_metric(task, metric)) {
        gate_paired_loss(task, y, p_champion, p_challenger, n, k, ta, tb, z, g);
        double sign = g->greater_is_better ? 1 : -1;
        if (isfinite(g->champion_metric) && isfinite(g->challenger_metric) && !strcmp(metric, "accuracy"))
            g->difference = sign * (g->challenger_metric - g->champion_metric);
    } else {
        if ((st = gate_bootstrap(task, y, p_champion, p_challenger, n, k, ta, tb, o, g, err))) return st;
        double sign = g->greater_is_better ? 1 : -1;
        g->difference = sign * (g->challenger_metric - g->champion_metric);
    }
    if (g->reason[0]) return FW_OK; /* inconclusive, said why */
    if (!isfinite(g->lo) || !isfinite(g->hi)) {
        g->decision = FW_GATE_INCONCLUSIVE;
        snprintf(g->reason, sizeof g->reason, "%s is undefined on the held-out rows", metric);
        return FW_OK;
    }
    int pct = (int)lround(o->confidence * 100);
    if (g->lo > o->min_improvement) {
        g->decision = FW_GATE_PROMOTE;
        snprintf(g->reason, sizeof g->reason,
                 "the challenger's gain in %s is %.4g, %d%% interval [%.4g, %.4g] (%s, %zu rows): its lower bound "
                 "is above the minimum improvement %.4g", metric, g->difference, pct, g->lo, g->hi, g->method, n,
                 o->min_improvement);
    } else {
        g->decision = FW_GATE_REJECT;
        snprintf(g->reason, sizeof g->reason,
                 "the challenger's gain in %s is %.4g, %d%% interval [%.4g, %.4g] (%s, %zu rows): not surely above "
                 "the minimum improvement %.4g", metric, g->difference, pct, g->lo, g->hi, g->method, n,
                 o->min_improvement);
    }
    return FW_OK;
}

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

void fw_gate_result_json(const fw_gate_result *g, fw_buf *b) {
    fw_buf_printf(b, "{\"decision\":\"%s\",\"metric\":", fw_gate_decision_name(g->decision));
    fw_json_put_str(b, g->metric);
    fw_buf_printf(b, ",\"method\":");
    fw_json_put_str(b, g->method ? g->method : "none");
    fw_buf_printf(b, ",\"rows\":%zu,\"champion_metric\":", g->n_rows);
    put_num(b, g->champion_metric);
    fw_buf_printf(b, ",\"challenger_metric\":");
    put_num(b, g->challenger_metric);
    fw_buf_printf(b, ",\"difference\":");
    put_num(b, g->difference);
    fw_buf_printf(b, ",\"interval\":[");
    put_num(b, g->lo);
    fw_buf_put_u8(b, ',');
    put_num(b, g->hi);
    fw_buf_printf(b, "],\"se\":");
    put_num(b, g->se);
    fw_buf_printf(b, ",\"confidence\":");
    put_num(b, g->confidence);
    fw_buf_printf(b, ",\"min_improvement\":");
    put_num(b, g->min_improvement);
    fw_buf_printf(b, ",\"reason\":");
    fw_json_put_str(b, g->reason);
    fw_buf_put_u8(b, '}');
}
