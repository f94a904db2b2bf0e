/* experiment.h — owns the analysis of one online experiment from its events (docs/EXPERIMENTS.md):
 * exposures and business events per randomization unit and variant, turned into each metric's
 * estimate per variant (a rate per exposure with the delta method, or a mean per unit), CUPED with a
 * pre-period covariate, the relative lift of each treatment over the control with an always-valid
 * p-value and confidence sequence (experiment/sequential.h), the sample ratio mismatch check, and a
 * decision that is "inconclusive" until the data say otherwise. `flywheel experiment analyze` feeds
 * it a CSV of events (experiment/events.h); `flywheel experiment report` the store's prediction log
 * and feedback; both print fw_experiment_json, so the same events give the same bytes.
 *
 * Use: fw_experiment_new(opts) → fw_experiment_add (events in time order; fw_events_sort orders a
 * file's) → fw_experiment_json at any point (the report as it reads after the events so far). The
 * sequential statistics look after every `look_every` events, so reading the report often is free
 * of the peeking problem. Not thread-safe; one experiment per thread. */
#ifndef FW_EXPERIMENT_EXPERIMENT_H
#define FW_EXPERIMENT_EXPERIMENT_H

#include "core/buf.h"
#include "experiment/sequential.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_EXP_EXPOSURE "exposure" /* the event that counts an exposure (a logged prediction) */
#define FW_EXP_MAX_VARIANTS 16
#define FW_EXP_MAX_METRICS 64

typedef enum fw_exp_kind {
    FW_EXP_RATE = 0, /* sum of the event's values / exposures, per variant (ratio: delta method) */
    FW_EXP_MEAN = 1, /* sum of the event's values per unit, averaged over the variant's units */
} fw_exp_kind;

/* One metric: which event, how it is summarised, which direction is better, what effect matters. */
typedef struct fw_exp_metric_spec {
    char name[64];       /* the report's name */
    char event[64];      /* the event (a `metric` value of the events) */
    fw_exp_kind kind;
    int direction;       /* +1: higher is better (default), -1: lower is better */
    double min_effect;   /* the relative lift that matters: the mixture's tau (default 0.05) */
} fw_exp_metric_spec;

/* A metric declared as text (the CLI's --metric): "NAME=EVENT:KIND[:DIRECTION[:MIN_EFFECT]]" with
 * KIND rate|mean, DIRECTION increase|decrease (default increase), MIN_EFFECT a relative lift > 0
 * (default 0.05); e.g. "ctr=click:rate", "latency=latency_ms:mean:decrease:0.02". FW_EINVAL with
 * the reason. */
fw_status fw_exp_metric_parse(const char *text, fw_exp_metric_spec *out, fw_err *err);

/* The correction of the report's comparisons for each other (docs/EXPERIMENTS.md). */
typedef enum fw_exp_correction {
    FW_EXP_HOLM = 0, /* Holm's step-down over every (metric, treatment) comparison (default) */
    FW_EXP_NONE = 1, /* each comparison at alpha on its own */
} fw_exp_correction;

typedef struct fw_exp_opts {
    double alpha;              /* 0.05 */
    fw_exp_correction correction; /* FW_EXP_HOLM: `significant` and the decisions hold for the family */
    double srm_alpha;          /* 0.001: the sample ratio mismatch threshold */
    int cuped;                 /* -1 auto (on when any event carries `pre`), 0 off, 1 on */
    const char *control;       /* the control variant; NULL: "control", else "primary", else the
                                  first variant in byte order */
    const char *const *weight_names; /* expected traffic shares by variant (NULL: equal) */
    const double *weights;
    size_t n_weights;
    uint64_t min_units;        /* per variant before a metric is tested (default 100) */
    uint64_t min_events;       /* units with a nonzero value per variant before a metric is tested
                                  (default 20) */
    uint64_t look_every;       /* the sequential test looks after every this many events (default 1) */
    const fw_exp_metric_spec *metrics; /* declared metrics; NULL: one per event (fw_exp_default_metrics) */
    size_t n_metrics;
} fw_exp_opts;

void fw_exp_opts_init(fw_exp_opts *o);

typedef struct fw_experiment fw_experiment;

/* A new experiment (opts copied, except the metric specs and weight names, which must outlive it).
 * FW_EINVAL for bad options (a metric without a name, too many metrics). */
fw_status fw_experiment_new(const fw_exp_opts *opts, fw_experiment **out, fw_err *err);
void fw_experiment_free(fw_experiment *e);

/* One event: unit (the randomization unit), variant, metric (FW_EXP_EXPOSURE or an event name),
 * value (NaN: 1, one occurrence), pre (NaN: none; the unit's pre-period covariate, the first given
 * stands). Events of metrics not declared are counted and otherwise ignored. FW_ENOMEM, or
 * FW_EINVAL past FW_EXP_MAX_VARIANTS variants (message says so). */
fw_status fw_experiment_add(fw_experiment *e, const char *unit, size_t unit_len, const char *variant,
                            size_t variant_len, const char *metric, size_t metric_len, double value, double pre,
                            fw_err *err);

/* The report after the events so far: one JSON object, no newline, appended to out. The keys are
 * documented in docs/EXPERIMENTS.md. */
void fw_experiment_json(fw_experiment *e, fw_buf *out);
/* The text report (for people) after the events so far. */
void fw_experiment_text(fw_experiment *e, fw_buf *out);

/* The same as a self-contained HTML page (the sample ratio check first). */
void fw_experiment_html(fw_experiment *e, fw_buf *out);

/* Read-only access for simulations and the canary analysis. */
uint64_t fw_experiment_events(const fw_experiment *e);
/* The sample ratio mismatch p-value (1 with fewer than two variants). */
double fw_experiment_srm_p(fw_experiment *e);
/* The sample ratio mismatch p-value of unit counts against expected shares (k cells; shares
 * NULL: equal): Pearson's chi-square goodness of fit (monitor/stats.h), 0 when a cell with units
 * expects none, 1 with no units or fewer than two cells. */
double fw_exp_srm_pvalue(const double *units, const double *shares, size_t k, double *statistic);
/* The number of (metric, treatment) comparisons, and one of them: its sequential test (NULL when
 * out of range; its p_value is the raw always-valid p-value), its current relative lift and
 * variance (NaN when not estimable), and whether it is called significant (the data gate passed
 * and the family-adjusted p-value, fw_experiment_adjusted_p, is <= alpha). */
size_t fw_experiment_n_comparisons(fw_experiment *e);
const fw_seq *fw_experiment_comparison(fw_experiment *e, size_t i, double *lift, double *variance, bool *significant);
/* The i-th comparison's p-value adjusted for the family (Holm over every comparison; the raw one
 * with FW_EXP_NONE); 1 before its data gate opens or when i is out of range. */
double fw_experiment_adjusted_p(fw_experiment *e, size_t i);
/* Holm's step-down adjusted p-values of n p-values (Holm 1979): sort ascending, q_(r) =
 * max over s <= r of min(1, (n - s + 1) p_(s)); q[i] belongs to p[i]. n <= FW_EXP_MAX_METRICS *
 * FW_EXP_MAX_VARIANTS. Valid for always-valid p-values at every look at once (docs/EXPERIMENTS.md). */
void fw_exp_holm(const double *p, size_t n, double *q);

#endif
