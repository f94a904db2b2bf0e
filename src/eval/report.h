/* report.h — owns the training report: one input struct the trainer fills (per model: name,
 * family, params JSON text, train seconds, metric set, latency, size, importance, slices,
 * threshold) and three renderings of it:
 *   - fw_report_text: a readable table for stdout (models as rows, then per-slice tables);
 *   - fw_report_json: JSON documented in docs/REPORT_JSON.md;
 *   - fw_report_html: one self-contained HTML page with inline SVG charts (ROC and PR curves,
 *     calibration, confusion matrix heat map, importance bars, per-slice bars): no external
 *     assets, no JavaScript, no links.
 * The report only borrows the pointers it is given; nothing is freed by it. All renderings are
 * deterministic (same input → same bytes) and reentrant.
 *
 * Example (trainer):
 *   fw_report_model rows[8] = {{.name = "gbdt", .family = "gbdt", .metrics = &set, ...}};
 *   fw_report r = {.title = "churn", .task = FW_TASK_BINARY, .models = rows, .n_models = n,
 *                  .baseline = &base, .min_improvement = 0.01};
 *   fw_buf b; fw_buf_init(&b); fw_report_text(&r, &b); fwrite(b.data, 1, b.len, stdout); */
#ifndef FW_EVAL_REPORT_H
#define FW_EVAL_REPORT_H

#include "core/buf.h"
#include "eval/bootstrap.h"
#include "eval/compare.h"
#include "eval/latency.h"
#include "eval/metrics.h"
#include "eval/slices.h"
#include "eval/threshold.h"

typedef struct fw_report_model {
    const char *name;               /* unique within the report, e.g. "gbdt" or "gbdt#3" */
    const char *family;             /* "baseline", "linear", "gbdt", ... */
    const char *params_json;        /* a JSON object text ("{...}"), or NULL for {} */
    double train_seconds;           /* including the refit, when there was one */
    size_t refit_rows;              /* > 0: refit on this many training + validation rows after
                                       selection (the metrics are the refit model's) */
    double refit_seconds;
    const fw_metric_set *metrics;   /* required */
    bool has_latency;
    fw_latency latency;
    size_t size_bytes;
    const char *const *importance_names; /* n_importance names (NULL → "f0", "f1", ...) */
    const double *importance;       /* n_importance values (e.g. fw_importance.mean) */
    size_t n_importance;
    const char *const *importance_inputs; /* per feature, the input column it derives from (one-hot
                                       parts and missing indicators share theirs); the HTML sums
                                       the parts per input column. NULL → no grouping */
    const char *importance_metric;  /* the metric whose drop is measured (NULL → the primary) */
    size_t importance_repeats;      /* shuffles per feature (0 = not stated) */
    size_t importance_rows;         /* test rows the importance was measured on (0 = not stated) */
    const double *test_y, *test_pred; /* regression: n_test labels and predictions (the
                                       predicted-vs-actual and residual plots), or NULL */
    size_t n_test;
    const fw_slice_report *slices;  /* one per group column */
    size_t n_slices;
    const fw_slice_report *group_slices; /* a class hierarchy: the same slices scored at the group
                                       level (n_slices, same values in the same order), else NULL */
    const fw_threshold_choice *threshold; /* binary: the chosen decision threshold, or NULL */
    const fw_metric_set *group_metrics; /* a class hierarchy: the metrics of the group level (the
                                           class probabilities summed per group), else NULL */
    const fw_metric_set *weighted;  /* the test metrics weighted by fw_report.weight_column
                                       (eval/weighted.h), else NULL */
    /* Cross-validation of the chosen parameters on the training side: the primary metric per
     * fold (n_cv_scores = 0 when there was none), mean and sample standard deviation. A zero-
     * initialised model has none; cv_mean/cv_std are read only when n_cv_scores > 0. */
    const double *cv_scores;
    size_t n_cv_scores;
    double cv_mean, cv_std;
    /* Bootstrap intervals of the test metrics (fw_eval_bootstrap), n_ci = 0 when none. */
    const fw_metric_ci *ci;
    size_t n_ci;
    size_t ci_resamples;
    double ci_level;                /* e.g. 0.95 */
} fw_report_model;

typedef struct fw_report {
    const char *title;              /* project / model name */
    fw_task task;
    const char *primary_metric;     /* NULL → the first model's metrics->primary */
    double min_improvement;         /* project constraint, absolute, on the primary metric */
    double p99_budget_us;           /* project constraint on single-row p99 latency; 0 = none */
    const fw_report_model *models;  /* candidates (the baseline may be listed here too) */
    size_t n_models;
    const fw_report_model *baseline; /* NULL when there is none */
    const char *best;               /* the chosen model's name, or NULL → fw_report_best */
    const char *const *class_names; /* confusion-matrix labels (n_classes), or NULL → indices */
    size_t n_classes;
    /* The project's `metrics:` list: the report's extra columns, in this order (beside the
     * primary; the first FW_REPORT_MAX_EXTRAS). NULL → a few key metrics of the task. */
    const char *const *metrics;
    size_t n_metrics;
    const char *weight_column;      /* data.weight: the column the models' `weighted` metrics are
                                       weighted by, or NULL */
} fw_report;
#define FW_REPORT_MAX_EXTRAS 8

/* The best model: the one named r->best, else the best primary value among models other than
 * the baseline (direction-aware; NaN never wins; ties → the first listed). NULL when none. */
const fw_report_model *fw_report_best(const fw_report *r);
/* The primary metric name of the report (never NULL). */
const char *fw_report_primary(const fw_report *r);

/* Appends the rendering to out. FW_OK, FW_EINVAL (no models, a model without metrics) or
 * FW_ENOMEM. */
fw_status fw_report_text(const fw_report *r, fw_buf *out);
fw_status fw_report_json(const fw_report *r, fw_buf *out, fw_err *err);
fw_status fw_report_html(const fw_report *r, fw_buf *out);

/* Writes bytes to a file (replacing it). FW_EIO naming the path on failure. */
fw_status fw_report_write_file(const char *path, const void *data, size_t len, fw_err *err);

#endif
