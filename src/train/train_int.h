/* train_int.h — private to src/train: the steps of a training run, shared by train.c (the run in
 * order and the result's lifetime), prepare.c (split, labels, features, folds), candidates.c (the
 * families' fits, the latency budget, the refit) and evaluate.c (test metrics, slices, latency,
 * importance). Every function works on the run's fw_train_result; none is thread-safe. */
#ifndef FW_TRAIN_INT_H
#define FW_TRAIN_INT_H

#include "train/progress.h"
#include "core/clock.h"
#include "train/train.h"

/* Adds a warning to the report (the first FW_TRAIN_MAX_WARNINGS; later ones are counted). */
void fw__train_warn(fw_train_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- prepare.c ---- */

/* The train / validation / test rows of r->train_ds by the project's split (with a test file: all
 * of the training file trains, less its validation rows). */
fw_status fw__train_make_split(fw_train_result *r, fw_err *err);
/* Labels, target, pipeline (fitted on the training rows), the three matrices, fingerprints and the
 * cross-validation folds when selection uses them. */
fw_status fw__train_prepare(fw_train_result *r, const fw_train_options *o, fw_err *err);
/* A hash of encoded rows and their labels (lineage: which rows a model saw). */
uint64_t fw__train_fingerprint(const fw_matrix *X, const double *y, size_t n_y);

/* ---- project_fit.c ---- */

/* Weights, objective parameters and the hierarchy's group map from the project (r->fit); needs the
 * encoded training and validation labels. */
fw_status fw__train_project_fit(fw_train_result *r, fw_err *err);
/* The project's parameters for one family ("loss=huber", "group_map=..."), before the user's. */
size_t fw__train_project_params(const fw_train_result *r, const char *family, const char **out, size_t max);
/* With a hierarchy: c->group_metrics from c->test_pred (class probabilities summed per group). */
fw_status fw__train_group_metrics(const fw_train_result *r, fw_candidate *c, fw_err *err);
/* With a hierarchy: c's test rows at the group level, *yg (n_test group indexes, -1 for an unseen
 * class) and *pg (n_test x n_groups, the class probabilities summed per group), both fw_free'd by
 * the caller; both NULL (FW_OK) without a hierarchy. */
fw_status fw__train_group_scores(const fw_train_result *r, const fw_candidate *c, double **yg, double **pg,
                                 fw_err *err);
void fw__train_project_fit_free(fw_project_fit *f);
/* ---- ranking.c ---- */

/* Ranking: the query id of every row of the training file and of each side (r->q_*); nothing for
 * other tasks. */
fw_status fw__train_prepare_queries(fw_train_result *r, fw_err *err);
/* Frees what fw__train_prepare_queries made. */
void fw__train_free_queries(fw_train_result *r);

/* ---- candidates.c ---- */

/* A step's start (wall and process CPU); fw__phase_end adds what passed since to the phase. */
typedef struct fw__phase {
    double wall, cpu;
} fw__phase;
static inline fw__phase fw__phase_begin(void) { return (fw__phase){fw_now_seconds(), fw_cpu_seconds()}; }
static inline void fw__phase_end(fw_train_result *r, int phase, fw__phase p) {
    r->phase_seconds[phase] += fw_now_seconds() - p.wall;
    r->phase_cpu_seconds[phase] += fw_cpu_seconds() - p.cpu;
}

/* What a family's fit needs besides the result: the options and the terminal progress line. */
typedef struct fw__fit_ctx {
    const fw_train_result *r;
    const fw_train_options *o;
    fw_progress *progress; /* NULL: quiet */
} fw__fit_ctx;

/* Fits one family (its starting point, then random-search trials within budget_s) and keeps the
 * best by the selection score in cand. A failing family sets cand->failed and its message. */
fw_status fw__train_fit_family(fw__fit_ctx *c, const char *family, fw_candidate *cand, double budget_s);
/* The baseline: the project's rule, else a constant baseline family. */
fw_status fw__train_fit_baseline(fw_train_result *r, const fw_train_options *o, fw_candidate *cand,
                                 fw_err *err);
/* With constraints.p99_latency_ms: times each candidate on the validation (else training) rows and
 * marks those over the budget; *n_within counts the others (0 without a budget). */
fw_status fw__train_check_latency_budget(fw_train_result *r, size_t *n_within, fw_err *err);
/* Refits candidate c on training + validation rows with its chosen parameters. */
fw_status fw__train_refit(fw_train_result *r, const fw_train_options *o, fw_candidate *c, fw_err *err);

/* ---- evaluate.c ---- */

/* Evaluation options for the run's primary metric. */
fw_eval_options fw__train_eval_opts(const fw_train_result *r);
/* Test predictions, metrics, slices, latency and importance of candidate c. */
fw_status fw__train_evaluate(fw_train_result *r, fw_candidate *c, const fw_train_options *o, fw_err *err);

#endif
