/* experiment.c — owns the experiment analysis of experiment.h: per-unit accumulation of exposures,
 * metric values and the pre-period covariate; per-variant sums kept up to date as a unit's values
 * change (so every look is O(metrics x variants)); the estimates (rate per exposure by the delta
 * method, mean per unit), CUPED, the relative lift and its variance, the sequential test per
 * (metric, treatment), the sample ratio mismatch check, and the JSON and text reports. */
#include "experiment/experiment.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/json_out.h"
#include "monitor/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sums over a variant's units u of e_u (exposures) and p_u (pre-period covariate, 0 when none). */
typedef struct var_agg {
    uint64_t n;
    double se, see, sp, spp, sep;
} var_agg;

/* Sums over a variant's units of y_u (the metric's total for the unit) and its products. */
typedef struct met_agg {
    uint64_t nnz; /* units with y_u != 0 */
    double sy, syy, sye, syp;
} met_agg;

/* One (metric, variant) estimate at a look. */
typedef struct est {
    double estimate, variance; /* NaN when not estimable */
    bool gate;                 /* enough data in this variant for this metric */
} est;

struct fw_experiment {
    fw_exp_opts o;
    const fw_exp_metric_spec *m;
    size_t k;
    char *vname[FW_EXP_MAX_VARIANTS];
    size_t nv;
    fw_strmap variants;
    fw_strmap evnames;      /* event name -> index into ev_mask */
    uint64_t *ev_mask;      /* per event name: the metrics it feeds (bit i: metric i) */
    size_t n_ev, cap_ev;
    fw_strmap units;        /* unit -> its slot in the variant it was first seen in */
    fw_strmap unit_other;   /* unit + variant byte -> slot, for units seen in a second variant */
    double *slot;           /* per slot: e, p, y_0 .. y_{k-1} */
    uint8_t *slot_variant;  /* per slot: its variant */
    size_t n_slots, cap_slots, cap_sv;
    char *key;              /* the last event's unit (and scratch for keys) */
    size_t key_cap, last_len;
    int last_variant;
    int64_t last_slot;      /* the last event's slot (-1: none) */
    var_agg va[FW_EXP_MAX_VARIANTS];
    met_agg *ma;            /* [metric * FW_EXP_MAX_VARIANTS + variant] */
    fw_seq *seq;            /* [metric * FW_EXP_MAX_VARIANTS + variant]: treatment vs control */
    bool *opened;           /* the data gate opened at some look */
    double *padj;           /* [metric * FW_EXP_MAX_VARIANTS + variant]: the family-adjusted p-value
                               (refresh_family; 1 for the control and untested comparisons) */
    int control;            /* the control the tests were started against (-1: none yet) */
    uint64_t events, ignored, mixed, since_look;
    bool any_pre;
};

void fw_exp_opts_init(fw_exp_opts *o) {
    memset(o, 0, sizeof *o);
    o->alpha = 0.05;
    o->srm_alpha = 0.001;
    o->cuped = -1;
    o->min_units = 100;
    o->min_events = 20;
    o->look_every = 1;
}

fw_status fw_exp_metric_parse(const char *text, fw_exp_metric_spec *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    out->direction = 1;
    out->min_effect = 0.05;
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || (size_t)(eq - text) >= sizeof out->name)
        return fw_err_set(err, FW_EINVAL, "metric '%s': want NAME=EVENT:rate|mean[:increase|decrease[:MIN_EFFECT]]",
                          text);
    memcpy(out->name, text, (size_t)(eq - text));
    const char *p = eq + 1;
    char part[4][64];
    int n = 0;
    while (n < 4) {
        const char *c = strchr(p, ':');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || len >= sizeof part[0])
            return fw_err_set(err, FW_EINVAL, "metric '%s': an empty or overlong part", text);
        memcpy(part[n], p, len);
        part[n++][len] = 0;
        if (!c) break;
        p = c + 1;
        if (n == 4) return fw_err_set(err, FW_EINVAL, "metric '%s': too many parts", text);
    }
    if (n < 2) return fw_err_set(err, FW_EINVAL, "metric '%s': want NAME=EVENT:rate|mean[...]", text);
    snprintf(out->event, sizeof out->event, "%s", part[0]);
    if (strcmp(part[1], "rate") == 0) out->kind = FW_EXP_RATE;
    else if (strcmp(part[1], "mean") == 0) out->kind = FW_EXP_MEAN;
    else return fw_err_set(err, FW_EINVAL, "metric '%s': kind '%s' (want rate or mean)", text, part[1]);
    if (n > 2) {
        if (strcmp(part[2], "increase") == 0) out->direction = 1;
        else if (strcmp(part[2], "decrease") == 0) out->direction = -1;
        else return fw_err_set(err, FW_EINVAL, "metric '%s': direction '%s' (want increase or decrease)", text, part[2]);
    }
    if (n > 3) {
        char *end;
        double v = strtod(part[3], &end);
        if (*end || !(v > 0) || !isfinite(v))
            return fw_err_set(err, FW_EINVAL, "metric '%s': min_effect '%s' (want a number > 0)", text, part[3]);
        out->min_effect = v;
    }
    return FW_OK;
}

fw_status fw_experiment_new(const fw_exp_opts *opts, fw_experiment **out, fw_err *err) {
    *out = NULL;
    if (opts->n_metrics > FW_EXP_MAX_METRICS)
        return fw_err_set(err, FW_EINVAL, "too many metrics (%zu; at most %d)", opts->n_metrics, FW_EXP_MAX_METRICS);
    if (!(opts->alpha > 0 && opts->alpha < 1)) return fw_err_set(err, FW_EINVAL, "alpha must be in (0, 1)");
    for (size_t i = 0; i < opts->n_metrics; i++) {
        if (!opts->metrics[i].name[0] || !opts->metrics[i].event[0])
            return fw_err_set(err, FW_EINVAL, "metric %zu has no name or no event", i + 1);
        if (!(opts->metrics[i].min_effect > 0))
            return fw_err_set(err, FW_EINVAL, "metric '%s': min_effect must be > 0", opts->metrics[i].name);
    }
    fw_experiment *e = fw_calloc(1, sizeof *e);
    if (!e) return fw_err_set(err, FW_ENOMEM, "out of memory");
    e->o = *opts;
    if (!e->o.look_every) e->o.look_every = 1;
    e->m = opts->metrics;
    e->k = opts->n_metrics;
    e->control = -1;
    fw_strmap_init(&e->variants);
    fw_strmap_init(&e->evnames);
    fw_strmap_init(&e->units);
    fw_strmap_init(&e->unit_other);
    e->last_slot = -1;
    size_t cells = (e->k ? e->k : 1) * FW_EXP_MAX_VARIANTS;
    e->ma = fw_calloc(cells, sizeof *e->ma);
    e->seq = fw_calloc(cells, sizeof *e->seq);
    e->opened = fw_calloc(cells, sizeof *e->opened);
    e->padj = fw_calloc(cells, sizeof *e->padj);
    if (!e->ma || !e->seq || !e->opened || !e->padj) {
        fw_experiment_free(e);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < e->k; i++)
        for (size_t v = 0; v < FW_EXP_MAX_VARIANTS; v++)
            fw_seq_init(&e->seq[i * FW_EXP_MAX_VARIANTS + v], e->o.alpha, e->m[i].min_effect, 0);
    *out = e;
    return FW_OK;
}

void fw_experiment_free(fw_experiment *e) {
    if (!e) return;
    for (size_t v = 0; v < e->nv; v++) fw_free(e->vname[v]);
    fw_strmap_free(&e->variants);
    fw_strmap_free(&e->evnames);
    fw_strmap_free(&e->units);
    fw_strmap_free(&e->unit_other);
    fw_free(e->slot_variant);
    fw_free(e->ev_mask);
    fw_free(e->slot);
    fw_free(e->key);
    fw_free(e->ma);
    fw_free(e->seq);
    fw_free(e->opened);
    fw_free(e->padj);
    fw_free(e);
}

uint64_t fw_experiment_events(const fw_experiment *e) { return e->events; }

/* ---- the control ------------------------------------------------------------------------------ */

static int find_variant(const fw_experiment *e, const char *name) {
    int64_t v = fw_strmap_get(&e->variants, name, strlen(name));
    return v < 0 ? -1 : (int)v;
}

/* The control as the options say (see experiment.h); -1 when no variant qualifies yet. */
static int pick_control(const fw_experiment *e) {
    if (e->o.control) return find_variant(e, e->o.control);
    int c = find_variant(e, "control");
    if (c < 0) c = find_variant(e, "primary");
    if (c >= 0) return c;
    for (size_t v = 0; v < e->nv; v++)
        if (c < 0 || strcmp(e->vname[v], e->vname[c]) < 0) c = (int)v;
    return c;
}

/* ---- accumulation ----------------------------------------------------------------------------- */

static fw_status grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return FW_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = fw_realloc(*p, c * size);
    if (!q) return FW_ENOMEM;
    *p = q;
    *cap = c;
    return FW_OK;
}

/* The metrics an event name feeds (interning the name). */
static fw_status event_mask(fw_experiment *e, const char *name, size_t len, uint64_t *mask) {
    int64_t i = fw_strmap_get(&e->evnames, name, len);
    if (i >= 0) {
        *mask = e->ev_mask[i];
        return FW_OK;
    }
    if (grow((void **)&e->ev_mask, &e->cap_ev, e->n_ev + 1, sizeof *e->ev_mask)) return FW_ENOMEM;
    uint64_t m = 0;
    for (size_t j = 0; j < e->k; j++)
        if (strlen(e->m[j].event) == len && memcmp(e->m[j].event, name, len) == 0) m |= 1ull << j;
    if (fw_strmap_put(&e->evnames, name, len, (uint32_t)e->n_ev)) return FW_ENOMEM;
    e->ev_mask[e->n_ev++] = m;
    *mask = m;
    return FW_OK;
}

static fw_status add_variant(fw_experiment *e, const char *name, size_t len, int *out, fw_err *err) {
    int64_t v = fw_strmap_get(&e->variants, name, len);
    if (v >= 0) {
        *out = (int)v;
        return FW_OK;
    }
    if (e->nv >= FW_EXP_MAX_VARIANTS)
        return fw_err_set(err, FW_EINVAL, "more than %d variants (the %dth is '%.*s')", FW_EXP_MAX_VARIANTS,
                          FW_EXP_MAX_VARIANTS + 1, (int)(len > 64 ? 64 : len), name);
    char *s = fw_malloc(len + 1);
    if (!s || fw_strmap_put(&e->variants, name, len, (uint32_t)e->nv)) {
        fw_free(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    memcpy(s, name, len);
    s[len] = 0;
    e->vname[e->nv] = s;
    *out = (int)e->nv++;
    return FW_OK;
}

/* Moves a unit's contribution for the metrics in mask from (e0, p0, y0[]) to the slot's current
 * values: callers change the slot, then call this with the old values. */
static void reaccount(fw_experiment *e, int v, const double *s, double e0, double p0, const double *y0) {
    var_agg *a = &e->va[v];
    double e1 = s[0], p1 = isnan(s[1]) ? 0 : s[1];
    a->se += e1 - e0;
    a->see += e1 * e1 - e0 * e0;
    a->sp += p1 - p0;
    a->spp += p1 * p1 - p0 * p0;
    a->sep += e1 * p1 - e0 * p0;
    for (size_t j = 0; j < e->k; j++) {
        double yo = y0 ? y0[j] : s[2 + j], yn = s[2 + j];
        if (yo == yn && e0 == e1 && p0 == p1) continue;
        met_agg *m = &e->ma[j * FW_EXP_MAX_VARIANTS + (size_t)v];
        m->sy += yn - yo;
        m->syy += yn * yn - yo * yo;
        m->sye += yn * e1 - yo * e0;
        m->syp += yn * p1 - yo * p0;
        m->nnz += (uint64_t)(yn != 0) - (uint64_t)(yo != 0);
    }
}

static void look(fw_experiment *e);

fw_status fw_experiment_add(fw_experiment *e, const char *unit, size_t unit_len, const char *variant,
                            size_t variant_len, const char *metric, size_t metric_len, double value, double pre,
                            fw_err *err) {
    int v = 0;
    fw_status st = add_variant(e, variant, variant_len, &v, err);
    if (st) return st;
    uint64_t mask = 0;
    bool is_exposure = metric_len == strlen(FW_EXP_EXPOSURE) && memcmp(metric, FW_EXP_EXPOSURE, metric_len) == 0;
    if (!is_exposure && event_mask(e, metric, metric_len, &mask)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    e->events++;
    if (isnan(value)) value = 1;
    /* the unit's slot in this variant: the unit's own (the variant it was first seen in), else
     * (a unit seen in two variants) a second slot keyed by variant and unit */
    size_t stride = 2 + e->k;
    int64_t si;
    if (e->last_len == unit_len && e->last_variant == v && e->last_slot >= 0 && memcmp(e->key, unit, unit_len) == 0) {
        si = e->last_slot;
    } else {
        if (grow((void **)&e->key, &e->key_cap, unit_len + 1, 1)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        memcpy(e->key, unit, unit_len);
        si = fw_strmap_get(&e->units, unit, unit_len);
        if (si >= 0 && e->slot_variant[si] != (uint8_t)v) { /* a unit in a second variant */
            e->key[unit_len] = (char)v;
            int64_t s2 = fw_strmap_get(&e->unit_other, e->key, unit_len + 1);
            if (s2 < 0) e->mixed++;
            si = s2 < 0 ? -2 : s2;
        }
        if (si < 0) {
            if (grow((void **)&e->slot, &e->cap_slots, (e->n_slots + 1) * stride, sizeof *e->slot) ||
                grow((void **)&e->slot_variant, &e->cap_sv, e->n_slots + 1, 1) ||
                (si == -1 ? fw_strmap_put(&e->units, unit, unit_len, (uint32_t)e->n_slots)
                          : fw_strmap_put(&e->unit_other, e->key, unit_len + 1, (uint32_t)e->n_slots)))
                return fw_err_set(err, FW_ENOMEM, "out of memory");
            si = (int64_t)e->n_slots++;
            double *s = e->slot + (size_t)si * stride;
            s[0] = 0;
            s[1] = NAN;
            for (size_t j = 0; j < e->k; j++) s[2 + j] = 0;
            e->slot_variant[si] = (uint8_t)v;
            e->va[v].n++;
        }
        e->last_len = unit_len;
        e->last_variant = v;
        e->last_slot = si;
    }
    double *s = e->slot + (size_t)si * stride;
    double e0 = s[0], p0 = isnan(s[1]) ? 0 : s[1];
    double y0[FW_EXP_MAX_METRICS];
    for (size_t j = 0; j < e->k; j++) y0[j] = s[2 + j];
    if (isnan(s[1]) && !isnan(pre) && isfinite(pre)) {
        s[1] = pre;
        e->any_pre = true;
    }
    if (is_exposure) s[0] += value;
    else if (!mask) e->ignored++;
    else
        for (size_t j = 0; j < e->k; j++)
            if (mask >> j & 1) s[2 + j] += value;
    reaccount(e, v, s, e0, p0, y0);
    if (++e->since_look >= e->o.look_every) {
        e->since_look = 0;
        look(e);
    }
    return FW_OK;
}

/* ---- estimates -------------------------------------------------------------------------------- */

static bool cuped_on(const fw_experiment *e) { return e->o.cuped > 0 || (e->o.cuped < 0 && e->any_pre); }

/* Sample (co)variance from sums: (sxy - sx sy / n) / (n - 1). */
static double cov(double sxy, double sx, double sy, double n) { return n > 1 ? (sxy - sx * sy / n) / (n - 1) : NAN; }

/* The influence-function moments of metric j in variant v: var(phi), cov(phi, p), and the
 * unadjusted estimate. Rate: phi = (y - R e) / e_bar (delta method); mean: phi = y. */
static void moments(const fw_experiment *e, size_t j, size_t v, double *estimate, double *vphi, double *cphi) {
    const var_agg *a = &e->va[v];
    const met_agg *m = &e->ma[j * FW_EXP_MAX_VARIANTS + v];
    double n = (double)a->n;
    double vy = cov(m->syy, m->sy, m->sy, n), cyp = cov(m->syp, m->sy, a->sp, n);
    if (e->m[j].kind == FW_EXP_MEAN) {
        *estimate = n > 0 ? m->sy / n : NAN;
        *vphi = vy;
        *cphi = cyp;
        return;
    }
    double ebar = a->se / n, r = a->se > 0 ? m->sy / a->se : NAN;
    double ve = cov(a->see, a->se, a->se, n), cye = cov(m->sye, m->sy, a->se, n), cep = cov(a->sep, a->se, a->sp, n);
    *estimate = r;
    *vphi = (vy - 2 * r * cye + r * r * ve) / (ebar * ebar);
    *cphi = (cyp - r * cep) / ebar;
}

/* Each variant's estimate of metric j at this point (CUPED-adjusted when on). */
static void estimates(const fw_experiment *e, size_t j, est *out) {
    double theta = 0, pbar = 0;
    bool cu = cuped_on(e);
    if (cu) { /* theta pooled within variants; covariate centred on its overall mean */
        double num = 0, den = 0, sp = 0, n = 0;
        for (size_t v = 0; v < e->nv; v++) {
            double est0, vphi, cphi, nv = (double)e->va[v].n;
            if (nv < 2) continue;
            moments(e, j, v, &est0, &vphi, &cphi);
            double vp = cov(e->va[v].spp, e->va[v].sp, e->va[v].sp, nv);
            if (isfinite(cphi) && isfinite(vp)) {
                num += cphi * (nv - 1);
                den += vp * (nv - 1);
            }
            sp += e->va[v].sp;
            n += nv;
        }
        theta = den > 0 ? num / den : 0;
        pbar = n > 0 ? sp / n : 0;
    }
    for (size_t v = 0; v < e->nv; v++) {
        const var_agg *a = &e->va[v];
        double n = (double)a->n, est0, vphi, cphi;
        moments(e, j, v, &est0, &vphi, &cphi);
        double var = vphi;
        if (cu && theta != 0) {
            double vp = cov(a->spp, a->sp, a->sp, n);
            est0 -= theta * (a->sp / n - pbar);
            var = vphi - 2 * theta * cphi + theta * theta * vp;
        }
        out[v].estimate = est0;
        out[v].variance = n > 1 && var >= 0 ? var / n : NAN;
        out[v].gate = a->n >= e->o.min_units && e->ma[j * FW_EXP_MAX_VARIANTS + v].nnz >= e->o.min_events &&
                      (e->m[j].kind == FW_EXP_MEAN || a->se > 0);
    }
}

/* The relative lift t / c - 1 and its delta-method variance. */
static void lift_of(const est *t, const est *c, double *lift, double *var) {
    if (!(c->estimate != 0) || !isfinite(c->estimate) || !isfinite(t->estimate)) {
        *lift = NAN;
        *var = NAN;
        return;
    }
    double cc = c->estimate * c->estimate;
    *lift = t->estimate / c->estimate - 1;
    *var = t->variance / cc + t->estimate * t->estimate * c->variance / (cc * cc);
}

static void look(fw_experiment *e) {
    int c = pick_control(e);
    if (c < 0) return;
    if (c != e->control) { /* a different control: the tests start over */
        for (size_t j = 0; j < e->k; j++)
            for (size_t v = 0; v < FW_EXP_MAX_VARIANTS; v++) {
                fw_seq_init(&e->seq[j * FW_EXP_MAX_VARIANTS + v], e->o.alpha, e->m[j].min_effect, 0);
                e->opened[j * FW_EXP_MAX_VARIANTS + v] = false;
            }
        e->control = c;
    }
    est es[FW_EXP_MAX_VARIANTS];
    for (size_t j = 0; j < e->k; j++) {
        estimates(e, j, es);
        if (!es[c].gate) continue;
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c || !es[v].gate) continue;
            double l, lv;
            lift_of(&es[v], &es[c], &l, &lv);
            if (fw_seq_look(&e->seq[j * FW_EXP_MAX_VARIANTS + v], l, lv)) e->opened[j * FW_EXP_MAX_VARIANTS + v] = true;
        }
    }
}

/* ---- sample ratio mismatch -------------------------------------------------------------------- */

static double expected_share(const fw_experiment *e, size_t v) {
    if (!e->o.n_weights) return 1.0 / (double)e->nv;
    double sum = 0, w = 0;
    for (size_t i = 0; i < e->o.n_weights; i++) {
        sum += e->o.weights[i];
        if (strcmp(e->o.weight_names[i], e->vname[v]) == 0) w = e->o.weights[i];
    }
    return sum > 0 ? w / sum : 0;
}

double fw_exp_srm_pvalue(const double *units, const double *shares, size_t k, double *statistic) {
    double stat = 0, p = 1, n = 0, sum_w = 0;
    double exp_[FW_EXP_MAX_VARIANTS];
    if (k >= 2 && k <= FW_EXP_MAX_VARIANTS) {
        for (size_t v = 0; v < k; v++) {
            n += units[v];
            sum_w += shares ? shares[v] : 1;
        }
        for (size_t v = 0; v < k && n > 0; v++) {
            exp_[v] = (shares ? shares[v] : 1) / sum_w * n;
            if (!(exp_[v] > 0)) { /* units in a variant that should have none */
                stat = INFINITY;
                p = 0;
                break;
            }
        }
        fw_chi2_result r;
        fw_err err;
        if (n > 0 && p > 0 && fw_stats_chisquare(units, exp_, k, &r, &err) == FW_OK) {
            stat = r.statistic;
            p = r.pvalue;
        }
    }
    if (statistic) *statistic = stat;
    return p;
}

static void srm(fw_experiment *e, double *stat, double *p) {
    double obs[FW_EXP_MAX_VARIANTS], w[FW_EXP_MAX_VARIANTS];
    for (size_t v = 0; v < e->nv; v++) {
        obs[v] = (double)e->va[v].n;
        w[v] = expected_share(e, v);
    }
    *p = fw_exp_srm_pvalue(obs, w, e->nv, stat);
}

double fw_experiment_srm_p(fw_experiment *e) {
    double s, p;
    srm(e, &s, &p);
    return p;
}

/* ---- comparisons ------------------------------------------------------------------------------ */

size_t fw_experiment_n_comparisons(fw_experiment *e) {
    int c = pick_control(e);
    return c < 0 ? 0 : e->k * (e->nv - 1);
}

/* The i-th comparison's metric and treatment variant. */
static void comparison_at(const fw_experiment *e, int c, size_t i, size_t *j, size_t *v) {
    size_t per = e->nv - 1;
    *j = i / per;
    size_t t = i % per;
    *v = t >= (size_t)c ? t + 1 : t;
}

void fw_exp_holm(const double *p, size_t n, double *q) {
    enum { CAP = FW_EXP_MAX_METRICS * FW_EXP_MAX_VARIANTS };
    uint16_t ix[CAP];
    if (n > CAP) n = CAP;
    for (size_t i = 0; i < n; i++) ix[i] = (uint16_t)i;
    for (size_t i = 1; i < n; i++) { /* insertion sort by p, then index: stable, deterministic */
        uint16_t x = ix[i];
        size_t k = i;
        while (k > 0 && p[ix[k - 1]] > p[x]) {
            ix[k] = ix[k - 1];
            k--;
        }
        ix[k] = x;
    }
    double run = 0;
    for (size_t r = 0; r < n; r++) {
        double v = (double)(n - r) * p[ix[r]];
        if (!(v < 1)) v = 1; /* NaN too */
        if (v > run) run = v;
        q[ix[r]] = run;
    }
}

/* The family-adjusted p-values of every (metric, treatment) comparison against control c. The
 * family is all of them, tested or not (an untested one has p = 1): a family that grew as gates
 * opened would test the first metric alone at alpha. */
static void refresh_family(fw_experiment *e, int c) {
    enum { CAP = FW_EXP_MAX_METRICS * FW_EXP_MAX_VARIANTS };
    double p[CAP] = {0}, q[CAP];
    size_t cell[CAP], n = 0;
    for (size_t i = 0; i < e->k * FW_EXP_MAX_VARIANTS; i++) e->padj[i] = 1;
    if (c < 0) return;
    for (size_t j = 0; j < e->k; j++)
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c) continue;
            size_t x = j * FW_EXP_MAX_VARIANTS + v;
            cell[n] = x;
            p[n++] = e->opened[x] ? e->seq[x].p_value : 1;
        }
    if (e->o.correction == FW_EXP_NONE) memcpy(q, p, n * sizeof *p);
    else fw_exp_holm(p, n, q);
    for (size_t i = 0; i < n; i++) e->padj[cell[i]] = q[i];
}

/* Takes the pending look (the report reads the data as of now) and refreshes the family. */
static void prepare(fw_experiment *e) {
    if (e->since_look) {
        e->since_look = 0;
        look(e);
    }
    refresh_family(e, e->control == pick_control(e) ? e->control : -1);
}

static bool is_significant(const fw_experiment *e, size_t j, size_t v) {
    size_t x = j * FW_EXP_MAX_VARIANTS + v;
    return e->opened[x] && e->padj[x] <= e->o.alpha && fw_seq_side(&e->seq[x], 0) != 0;
}

const fw_seq *fw_experiment_comparison(fw_experiment *e, size_t i, double *lift, double *variance, bool *significant) {
    int c = pick_control(e);
    if (c < 0 || i >= fw_experiment_n_comparisons(e)) return NULL;
    size_t j, v;
    comparison_at(e, c, i, &j, &v);
    est es[FW_EXP_MAX_VARIANTS];
    estimates(e, j, es);
    lift_of(&es[v], &es[c], lift, variance);
    refresh_family(e, c == e->control ? c : -1);
    *significant = c == e->control && is_significant(e, j, v);
    return &e->seq[j * FW_EXP_MAX_VARIANTS + v];
}

double fw_experiment_adjusted_p(fw_experiment *e, size_t i) {
    int c = pick_control(e);
    if (c < 0 || i >= fw_experiment_n_comparisons(e) || c != e->control) return 1;
    size_t j, v;
    comparison_at(e, c, i, &j, &v);
    refresh_family(e, c);
    return e->padj[j * FW_EXP_MAX_VARIANTS + v];
}

/* ---- reports ---------------------------------------------------------------------------------- */

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

static const char *decision_of(const fw_experiment *e, size_t j, size_t v, bool *sig) {
    *sig = is_significant(e, j, v);
    if (!e->opened[j * FW_EXP_MAX_VARIANTS + v]) return "too little data";
    if (!*sig) return "inconclusive";
    int side = fw_seq_side(&e->seq[j * FW_EXP_MAX_VARIANTS + v], 0) * (e->m[j].direction < 0 ? -1 : 1);
    return side > 0 ? "better" : "worse";
}

static const char *overall(fw_experiment *e, double srm_p) {
    if (e->nv < 2) return "too little data";
    if (srm_p < e->o.srm_alpha) return "sample ratio mismatch";
    int c = pick_control(e);
    bool better = false, worse = false;
    for (size_t j = 0; j < e->k; j++)
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c) continue;
            bool sig;
            const char *d = decision_of(e, j, v, &sig);
            better |= strcmp(d, "better") == 0;
            worse |= strcmp(d, "worse") == 0;
        }
    return worse ? "worse" : better ? "better" : "inconclusive";
}

void fw_experiment_json(fw_experiment *e, fw_buf *b) {
    prepare(e); /* the report reads the data as of now: a look at the last events too */
    double srm_stat, srm_p;
    srm(e, &srm_stat, &srm_p);
    int c = pick_control(e);
    uint64_t units = 0;
    for (size_t v = 0; v < e->nv; v++) units += e->va[v].n;
    fw_buf_printf(b, "{\"events\":%llu,\"srm\":{\"p_value\":", (unsigned long long)e->events);
    put_num(b, srm_p);
    fw_buf_printf(b, ",\"statistic\":");
    put_num(b, srm_stat);
    fw_buf_printf(b, ",\"threshold\":");
    put_num(b, e->o.srm_alpha);
    fw_buf_printf(b, ",\"mismatch\":%s},\"decision\":", srm_p < e->o.srm_alpha ? "true" : "false");
    fw_json_put_str(b, overall(e, srm_p));
    fw_buf_printf(b, ",\"alpha\":");
    put_num(b, e->o.alpha);
    fw_buf_printf(b, ",\"correction\":\"%s\",\"comparisons\":%zu", e->o.correction == FW_EXP_NONE ? "none" : "holm",
                  fw_experiment_n_comparisons(e));
    fw_buf_printf(b, ",\"cuped\":%s,\"units\":%llu,\"mixed_units\":%llu,\"ignored_events\":%llu,\"control\":",
                  cuped_on(e) ? "true" : "false", (unsigned long long)units, (unsigned long long)e->mixed,
                  (unsigned long long)e->ignored);
    if (c >= 0) fw_json_put_str(b, e->vname[c]);
    else fw_buf_printf(b, "null");
    fw_buf_printf(b, ",\"variants\":[");
    for (size_t v = 0; v < e->nv; v++) {
        fw_buf_printf(b, "%s{\"name\":", v ? "," : "");
        fw_json_put_str(b, e->vname[v]);
        fw_buf_printf(b, ",\"units\":%llu,\"exposures\":", (unsigned long long)e->va[v].n);
        put_num(b, e->va[v].se);
        fw_buf_printf(b, ",\"expected_share\":");
        put_num(b, expected_share(e, v));
        fw_buf_put_u8(b, '}');
    }
    fw_buf_printf(b, "],\"metrics\":[");
    est es[FW_EXP_MAX_VARIANTS];
    size_t n_out = 0;
    for (size_t j = 0; c >= 0 && j < e->k; j++) {
        estimates(e, j, es);
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c) continue;
            const fw_seq *s = &e->seq[j * FW_EXP_MAX_VARIANTS + v];
            double l, lv;
            lift_of(&es[v], &es[c], &l, &lv);
            bool sig;
            const char *d = decision_of(e, j, v, &sig);
            fw_buf_printf(b, "%s{\"name\":", n_out++ ? "," : "");
            fw_json_put_str(b, e->m[j].name);
            fw_buf_printf(b, ",\"event\":");
            fw_json_put_str(b, e->m[j].event);
            fw_buf_printf(b, ",\"kind\":\"%s\",\"direction\":\"%s\",\"min_effect\":",
                          e->m[j].kind == FW_EXP_RATE ? "rate" : "mean",
                          e->m[j].direction < 0 ? "decrease" : "increase");
            put_num(b, e->m[j].min_effect);
            fw_buf_printf(b, ",\"variant\":");
            fw_json_put_str(b, e->vname[v]);
            fw_buf_printf(b, ",\"control_estimate\":");
            put_num(b, es[c].estimate);
            fw_buf_printf(b, ",\"control_std_error\":");
            put_num(b, sqrt(es[c].variance));
            fw_buf_printf(b, ",\"estimate\":");
            put_num(b, es[v].estimate);
            fw_buf_printf(b, ",\"std_error\":");
            put_num(b, sqrt(es[v].variance));
            fw_buf_printf(b, ",\"lift\":");
            put_num(b, l);
            fw_buf_printf(b, ",\"interval\":[");
            put_num(b, s->looks ? s->lo : NAN);
            fw_buf_put_u8(b, ',');
            put_num(b, s->looks ? s->hi : NAN);
            fw_buf_printf(b, "],\"p_value\":");
            put_num(b, s->p_value);
            fw_buf_printf(b, ",\"p_value_adjusted\":");
            put_num(b, e->padj[j * FW_EXP_MAX_VARIANTS + v]);
            fw_buf_printf(b, ",\"significant\":%s,\"decision\":", sig ? "true" : "false");
            fw_json_put_str(b, d);
            fw_buf_printf(b, ",\"looks\":%llu}", (unsigned long long)s->looks);
        }
    }
    fw_buf_printf(b, "]}");
}

void fw_experiment_text(fw_experiment *e, fw_buf *b) {
    prepare(e);
    double srm_stat, srm_p;
    srm(e, &srm_stat, &srm_p);
    int c = pick_control(e);
    fw_buf_printf(b, "sample ratio: %s (chi-square p = %.3g; mismatch when p < %g)\n",
                  srm_p < e->o.srm_alpha ? "MISMATCH - the split is broken, do not trust the metrics" : "ok", srm_p,
                  e->o.srm_alpha);
    fw_buf_printf(b, "decision: %s\n", overall(e, srm_p));
    fw_buf_printf(b, "events: %llu   control: %s   cuped: %s   alpha: %g (always-valid: read as often as you like)\n",
                  (unsigned long long)e->events, c >= 0 ? e->vname[c] : "-", cuped_on(e) ? "on" : "off", e->o.alpha);
    fw_buf_printf(b, "correction: %s over %zu comparisons (p adj: the family's p-value; significant when <= alpha)\n",
                  e->o.correction == FW_EXP_NONE ? "none" : "holm", fw_experiment_n_comparisons(e));
    for (size_t v = 0; v < e->nv; v++)
        fw_buf_printf(b, "  variant %-20s units %10llu  exposures %12.0f  expected share %.4g\n", e->vname[v],
                      (unsigned long long)e->va[v].n, e->va[v].se, expected_share(e, v));
    fw_buf_printf(b, "%-20s %-4s %-14s %12s %12s %9s %21s %9s %9s  %s\n", "metric", "kind", "variant", "control",
                  "treatment", "lift", "interval (always-valid)", "p", "p adj", "decision");
    est es[FW_EXP_MAX_VARIANTS];
    for (size_t j = 0; c >= 0 && j < e->k; j++) {
        estimates(e, j, es);
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c) continue;
            const fw_seq *s = &e->seq[j * FW_EXP_MAX_VARIANTS + v];
            double l, lv;
            lift_of(&es[v], &es[c], &l, &lv);
            bool sig;
            const char *d = decision_of(e, j, v, &sig);
            char iv[64];
            if (s->looks) snprintf(iv, sizeof iv, "[%+.2f%%, %+.2f%%]", 100 * s->lo, 100 * s->hi);
            else snprintf(iv, sizeof iv, "-");
            fw_buf_printf(b, "%-20s %-4s %-14s %12.6g %12.6g %+8.2f%% %21s %9.3g %9.3g  %s\n", e->m[j].name,
                          e->m[j].kind == FW_EXP_RATE ? "rate" : "mean", e->vname[v], es[c].estimate, es[v].estimate,
                          100 * l, iv, s->p_value, e->padj[j * FW_EXP_MAX_VARIANTS + v], d);
        }
    }
}

/* ---- HTML ------------------------------------------------------------------------------------- */

static void put_s(fw_buf *b, const char *s) { fw_buf_put(b, s, strlen(s)); }

static void html_text(fw_buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': put_s(b, "&lt;"); break;
        case '>': put_s(b, "&gt;"); break;
        case '&': put_s(b, "&amp;"); break;
        case '"': put_s(b, "&quot;"); break;
        default: fw_buf_put_u8(b, (uint8_t)*s);
        }
    }
}

static void html_num(fw_buf *b, const char *fmt, double v) {
    if (isfinite(v)) fw_buf_printf(b, fmt, v);
    else put_s(b, "&ndash;");
}

void fw_experiment_html(fw_experiment *e, fw_buf *b) {
    prepare(e);
    double srm_stat, srm_p;
    srm(e, &srm_stat, &srm_p);
    int c = pick_control(e);
    bool mismatch = srm_p < e->o.srm_alpha;
    put_s(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Experiment report</title>"
                      "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
                      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
                      "text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}"
                      ".bad{background:#fde2e2;padding:.6em;border-left:4px solid #c00}"
                      ".ok{background:#e6f4e6;padding:.6em;border-left:4px solid #2a2}"
                      ".better{color:#080;font-weight:bold}.worse{color:#b00;font-weight:bold}</style></head><body>\n"
                      "<h1>Experiment report</h1>\n");
    fw_buf_printf(b, "<p class=\"%s\">Sample ratio: %s (chi-square p = %.3g; a mismatch is p &lt; %g)</p>\n",
                  mismatch ? "bad" : "ok",
                  mismatch ? "MISMATCH &mdash; the split is broken; do not trust the metrics below" : "ok", srm_p,
                  e->o.srm_alpha);
    put_s(b, "<p>Decision: <b>");
    html_text(b, overall(e, srm_p));
    fw_buf_printf(b, "</b> &middot; %llu events &middot; CUPED %s &middot; alpha %g, always-valid (read as often as you"
                     " like) &middot; correction %s over %zu comparisons</p>\n<table><tr><th class=\"l\">variant</th>"
                     "<th>units</th><th>exposures</th><th>expected share</th></tr>\n",
                  (unsigned long long)e->events, cuped_on(e) ? "on" : "off", e->o.alpha,
                  e->o.correction == FW_EXP_NONE ? "none" : "Holm", fw_experiment_n_comparisons(e));
    for (size_t v = 0; v < e->nv; v++) {
        put_s(b, "<tr><td class=\"l\">");
        html_text(b, e->vname[v]);
        if ((int)v == c) put_s(b, " (control)");
        fw_buf_printf(b, "</td><td>%llu</td><td>%.0f</td><td>%.4g</td></tr>\n", (unsigned long long)e->va[v].n,
                      e->va[v].se, expected_share(e, v));
    }
    put_s(b, "</table>\n<table><tr><th class=\"l\">metric</th><th class=\"l\">kind</th><th class=\"l\">variant</th>"
                      "<th>control</th><th>treatment</th><th>lift</th><th>interval (always-valid)</th><th>p</th>"
                      "<th>p adjusted</th><th class=\"l\">decision</th></tr>\n");
    est es[FW_EXP_MAX_VARIANTS];
    for (size_t j = 0; c >= 0 && j < e->k; j++) {
        estimates(e, j, es);
        for (size_t v = 0; v < e->nv; v++) {
            if ((int)v == c) continue;
            const fw_seq *s = &e->seq[j * FW_EXP_MAX_VARIANTS + v];
            double l, lv;
            lift_of(&es[v], &es[c], &l, &lv);
            bool sig;
            const char *d = decision_of(e, j, v, &sig);
            put_s(b, "<tr><td class=\"l\">");
            html_text(b, e->m[j].name);
            fw_buf_printf(b, "</td><td class=\"l\">%s</td><td class=\"l\">", e->m[j].kind == FW_EXP_RATE ? "rate" : "mean");
            html_text(b, e->vname[v]);
            put_s(b, "</td><td>");
            html_num(b, "%.6g", es[c].estimate);
            put_s(b, "</td><td>");
            html_num(b, "%.6g", es[v].estimate);
            put_s(b, "</td><td>");
            html_num(b, "%+.2f%%", 100 * l);
            put_s(b, "</td><td>");
            if (s->looks) {
                html_num(b, "[%+.2f%%, ", 100 * s->lo);
                html_num(b, "%+.2f%%]", 100 * s->hi);
            } else {
                put_s(b, "&ndash;");
            }
            fw_buf_printf(b, "</td><td>%.3g</td><td>%.3g</td><td class=\"l %s\">", s->p_value,
                          e->padj[j * FW_EXP_MAX_VARIANTS + v], d);
            html_text(b, d);
            put_s(b, "</td></tr>\n");
        }
    }
    put_s(b, "</table>\n</body></html>\n");
}
