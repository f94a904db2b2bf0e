/* train.h — owns training orchestration: load → resolve the project → split → fit the label
 * encoding and the feature pipeline on training rows → fit the baseline and every candidate family
 * (seeded random search within the time budget, selected on validation rows) → evaluate each on the
 * held-out test rows (metrics, slices, vs baseline, threshold, latency, size, importance) → pick the
 * best by the primary metric. The caller (cmd_train) prints the report and registers the result.
 *
 * Determinism: the same data, project, seed, params and thread count give the same models,
 * byte for byte. */
#ifndef FW_TRAIN_TRAIN_H
#define FW_TRAIN_TRAIN_H

#include "data/dataset.h"
#include "data/split.h"
#include "eval/bootstrap.h"
#include "eval/compare.h"
#include "eval/latency.h"
#include "eval/metrics.h"
#include "eval/slices.h"
#include "eval/threshold.h"
#include "features/pipeline.h"
#include "features/target.h"
#include "flywheel.h"
#include "models/model.h"
#include "models/rule.h"
#include "project/project.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct fw_train_options {
    const char *families;      /* comma list; NULL = "baseline,linear,gbdt,knn" (baseline is always added) */
    uint64_t seed;
    bool seed_set;             /* overrides the project's split seed too */
    int threads;               /* 0 = all cores */
    double time_budget_s;      /* 0 = defaults only, no search */
    const char *const *params; /* "family.key=value" */
    size_t n_params;
    const char *test_path;     /* evaluate on this file instead of a split */
    bool progress;             /* live progress line on stderr */
    bool skip_bad_rows;
    bool importance;           /* permutation importance for each model (default true) */
    const char *checkpoint_dir; /* gbdt fits checkpoint here every checkpoint_every rounds and */
    uint32_t checkpoint_every;  /* resume from what they find (fw_fit_options); NULL / 0 = none */
} fw_train_options;
void fw_train_options_init(fw_train_options *o);

typedef struct fw_candidate {
    char name[64];             /* "gbdt", "linear", "baseline" */
    const char *family;
    char *params_json;         /* chosen hyperparameters (JSON object text) */
    char **params;             /* chosen "key=value" list (for lineage and reproduce) */
    size_t n_params;
    size_t trials;             /* search trials run */
    double valid_score;        /* selection score (higher is better): on validation rows, or the
                                  mean over the cross-validation folds; NaN when none */
    double train_seconds;
    fw_model *model;           /* NULL for a rule baseline */
    double *test_pred;         /* n_test x n_outputs */
    fw_metric_set metrics;
    fw_metric_set group_metrics; /* hierarchy: the metrics of the group level (class probabilities
                                    summed per group), else empty */
    fw_metric_set weighted_metrics; /* data.weight: the test metrics weighted by it (eval/weighted.h),
                                       else empty */
    fw_improvement vs_baseline;
    fw_latency latency;
    size_t size_bytes;
    double *importance;        /* n_dense permutation importance (mean drop), or NULL */
    double *importance_std;
    char importance_metric[FW_METRIC_NAME_MAX]; /* the metric whose drop importance measures */
    size_t importance_repeats, importance_rows; /* shuffles per feature; test rows used */
    fw_slice_report *slices;   /* one per group column */
    fw_slice_report *group_slices; /* a class hierarchy: the same slices at the group level (one per
                                      group column, n_slices), else NULL */
    size_t n_slices;
    bool failed;
    char error[FW_ERR_MSG_MAX];
    double select_p99_us;      /* with a p99 latency budget: single-row p99 measured before selection */
    bool over_budget;          /* ... and it exceeded the budget (not chosen while another is within) */
    bool refit;                /* the model was refit on training + validation rows after selection */
    size_t refit_rows;         /* rows of that fit */
    double refit_seconds;
    bool cv_refit;             /* cross-validation decided the refit's extra parameter: cv_refit_param
                                  ("n_estimators=N", "max_iter=N"; "" = none), not the holdout model */
    char cv_refit_param[64];   /* FW_REFIT_PARAM_LEN */
    /* With cross-validation: the primary metric of the chosen parameters on each fold (the
     * metric's own direction), their mean and sample standard deviation (NaN with one fold or
     * without CV), and the out-of-fold predictions (fold after fold, in r->cv[f].y_score order). */
    double *cv_scores;
    uint32_t n_cv_scores;
    double cv_mean, cv_std;
    double *oof_pred;
    /* Bootstrap confidence intervals of the test metrics (in metrics' order), n_ci = 0 when none. */
    fw_metric_ci *ci;
    size_t n_ci;
    size_t ci_resamples;
} fw_candidate;

/* The steps of a training run that fw_train_result.phase_seconds times (names: fw_train_phase_name). */
enum {
    FW_TRAIN_PHASE_LOAD,       /* reading the data file(s) */
    FW_TRAIN_PHASE_PREPARE,    /* resolve, split, label encoding, pipeline fit + transform, CV folds */
    FW_TRAIN_PHASE_FIT,        /* the baseline and every family's fit and selection */
    FW_TRAIN_PHASE_REFIT,      /* the chosen model on training + validation rows */
    FW_TRAIN_PHASE_PREDICT,    /* test predictions, metrics, slices, the decision threshold */
    FW_TRAIN_PHASE_LATENCY,    /* single-row latency probes */
    FW_TRAIN_PHASE_IMPORTANCE, /* feature importance */
    FW_TRAIN_N_PHASES
};
const char *fw_train_phase_name(int phase);

#define FW_TRAIN_MAX_WARNINGS 16
/* Below this many training-side rows (train + validation) and matrix cells, models are selected
 * by k-fold cross-validation unless the project's split.folds says otherwise (1 = one holdout). */
#define FW_TRAIN_CV_AUTO_ROWS 20000
#define FW_TRAIN_CV_AUTO_CELLS 2000000.0 /* ... and rows x features up to this */
#define FW_TRAIN_CV_AUTO_FOLDS 5
/* split.refit: auto refits the chosen model on training + validation rows up to this many rows
 * (where a tenth more rows still helps; beyond, it would double the cost for little). */
#define FW_TRAIN_REFIT_AUTO_ROWS 100000
/* Above this many training rows the default families leave knn out (brute-force neighbours). */
#define FW_TRAIN_KNN_DEFAULT_MAX_ROWS 20000
/* The default families leave knn out when its estimated cost passes this many seconds: knn is
 * brute force, so its cost is known before it runs — distances of n_dense terms, one per
 * (scored row, training row) pair, over the cross-validation, the test rows, the latency check and
 * permutation importance (capped by its budget) — at FW_TRAIN_KNN_TERMS_PER_S, measured here
 * (diamonds, 15,000 rows: 4.9e9 terms in 3.1 s of CPU, one thread). An estimate, not a timing, so
 * the same data always gives the same families (and the same artifact). */
#define FW_TRAIN_KNN_DEFAULT_BUDGET_S 5.0
#define FW_TRAIN_KNN_TERMS_PER_S 1.5e9
/* Permutation importance of one model may take about this long; beyond, fewer rows or none. */
#define FW_TRAIN_IMPORTANCE_BUDGET_S 20.0
/* ... and uses at most this many test rows (an even stride sample). */
#define FW_TRAIN_IMPORTANCE_MAX_ROWS 5000

/* One cross-validation fold of the training side: fit on X_fit, score on X_score. */
typedef struct fw_cv_fold {
    fw_matrix X_fit, X_score;
    double *y_fit, *y_score;
    double *w_fit;             /* sample weights of the fitting rows, NULL without */
    uint32_t *q_fit, *q_score; /* ranking: query id per row (NULL otherwise) */
} fw_cv_fold;

/* What the project file says about fitting (train/project_fit.c): per-row sample weights
 * (data.weight x class_weights), the objective as each family's parameter, the class hierarchy. */
typedef struct fw_project_fit {
    double *w_train, *w_valid; /* per-row weights of the training / validation rows; NULL without */
    char linear_loss[64];      /* "loss=..." for linear, "" when the project states no objective */
    char gbdt_objective[64];   /* "objective=..." for gbdt */
    char *hier_map;            /* "group_map=g0,g1,..." for hier (NULL without a hierarchy) */
    uint32_t *group_of;        /* hierarchy: class index -> group index (n_classes) */
    char **group_names;        /* n_groups, in group index order */
    size_t n_groups;
} fw_project_fit;

typedef struct fw_train_result {
    fw_project project;        /* resolved */
    fw_dataset *train_ds;      /* the training file */
    fw_dataset *test_ds;       /* the --test file, or NULL (then test rows come from train_ds) */
    fw_split split;            /* rows of train_ds (test empty when test_ds is given) */
    const fw_dataset *eval_ds; /* where the test rows live */
    uint32_t *test_rows;       /* rows of eval_ds */
    size_t n_test;
    fw_target target;
    fw_pipeline *pipeline;
    fw_matrix X_train, X_valid, X_test;
    double *y_train, *y_valid, *y_test;
    /* ranking: query id per row of train_ds (q_all), of each side, and of the test rows (ids of
     * eval_ds); NULL for other tasks (src/train/ranking.c) */
    uint32_t *q_all, *q_train, *q_valid, *q_test;
    fw_baseline_rule rule;     /* when the baseline is a rule */
    bool has_rule;
    fw_candidate *cands;       /* cands[0] is the baseline */
    size_t n_cands;
    size_t best;               /* index of the chosen model (never the baseline unless all failed) */
    fw_threshold_choice threshold;
    bool has_threshold;
    bool selected_on_test;     /* no validation rows: the choice was made on test rows (optimistic) */
    uint32_t cv_folds;         /* > 1: valid_score is the mean over k folds of train + validation rows */
    fw_cv_fold *cv;
    fw_project_fit fit;        /* weights, objective and hierarchy from the project */
    uint64_t train_fingerprint; /* hash of the training rows actually used (encoded X and y) */
    uint64_t test_fingerprint;  /* hash of the test rows as read (data/fingerprint.h), seed-independent */
    uint64_t seed;
    int threads;
    double total_seconds;
    /* Wall and process-CPU seconds of each step (FW_TRAIN_PHASE_*): `FLYWHEEL_TIMINGS=1`. */
    double phase_seconds[FW_TRAIN_N_PHASES];
    double phase_cpu_seconds[FW_TRAIN_N_PHASES];
    /* Data problems that do not stop training (a feature missing in every training row, a
     * constant feature, test rows whose class training never saw): shown with the report. */
    char warnings[FW_TRAIN_MAX_WARNINGS][256];
    size_t n_warnings;
    size_t n_warnings_dropped; /* beyond FW_TRAIN_MAX_WARNINGS */
} fw_train_result;

/* Runs training for a project that has been parsed (or built by fw_project_from_args); the
 * project is moved into the result (the caller's struct is left initialised-empty). */
fw_status fw_train_run(fw_project *project, const fw_train_options *o, fw_train_result *out,
                       fw_err *err);
void fw_train_result_free(fw_train_result *r);

/* Predicts test rows through a candidate (rule baselines read raw values). out: n_test x n_outputs. */
fw_status fw_train_predict_candidate(const fw_train_result *r, const fw_candidate *c, double *out,
                                     fw_err *err);

#endif
