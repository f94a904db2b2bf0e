/* train.c — owns the training run: data → split → target + pipeline → candidates → evaluation →
 * choice. One function per step, called in order by fw_train_run. */
#include "train/train.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/threads.h"
#include "data/load.h"
#include "eval/importance.h"
#include "features/record.h"
#include "train/progress.h"
#include "train/search.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void fw_train_options_init(fw_train_options *o) {
    memset(o, 0, sizeof *o);
    o->seed = 42;
    o->importance = true;
}

/* ---- step 1: data ------------------------------------------------------------------------- */

static fw_status load_file(const fw_project *p, const char *path, const fw_train_options *o,
                           fw_dataset **out, fw_err *err) {
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    lo.skip_bad_rows = o->skip_bad_rows;
    lo.threads = o->threads;
    if (p->n_missing_tokens) {
        lo.missing = (const char *const *)p->missing_tokens;
        lo.n_missing = p->n_missing_tokens;
    }
    fw_type_override ov[256];
    size_t n_ov = 0;
    for (size_t i = 0; i < p->n_features && n_ov < 256; i++)
        if (p->features[i].type_set) ov[n_ov++] = (fw_type_override){p->features[i].name, p->features[i].type};
    lo.overrides = ov;
    lo.n_overrides = n_ov;
    fw_load_result res;
    fw_status st = fw_data_load(path, &lo, out, &res, err);
    if (st) return st;
    if (res.rejected && o->progress)
        fprintf(stderr, "flywheel: %s: %zu bad rows skipped (first: %s)\n", path, res.rejected,
                res.n_kept ? res.kept[0].msg : "");
    return FW_OK;
}

static fw_status make_split(fw_train_result *r, fw_err *err) {
    const fw_project *p = &r->project;
    fw_split_opts so;
    fw_split_opts_init(&so);
    so.kind = p->split;
    so.seed = r->seed;
    so.test_fraction = r->test_ds ? 0 : p->test_fraction;
    so.valid_fraction = p->valid_fraction;
    switch (p->split) {
    case FW_SPLIT_STRATIFIED:
        so.column = p->n_label_columns ? p->label_columns[0] : NULL;
        break;
    case FW_SPLIT_TIME:
        so.column = p->time_column;
        break;
    case FW_SPLIT_GROUP:
        so.column = p->split_group ? p->split_group
                    : p->n_group_columns ? p->group_columns[0]
                    : p->query_column;
        break;
    default:
        break;
    }
    if (p->task == FW_TASK_RANKING && p->query_column && p->split != FW_SPLIT_TIME) {
        so.kind = FW_SPLIT_GROUP; /* a query's rows stay together */
        so.column = p->query_column;
    }
    if (r->test_ds) {
        /* All of the training file trains (minus validation rows); the test file evaluates. */
        if (so.valid_fraction <= 0) so.valid_fraction = 0.1;
        so.test_fraction = so.valid_fraction;
        so.valid_fraction = 0;
        fw_split tmp;
        fw_status st = fw_split_make(r->train_ds, &so, &tmp, err);
        if (st) return st;
        r->split.train = tmp.train;
        r->split.n_train = tmp.n_train;
        r->split.valid = tmp.test;
        r->split.n_valid = tmp.n_test;
        fw_free(tmp.valid);
        r->split.test = NULL;
        r->split.n_test = 0;
        return FW_OK;
    }
    return fw_split_make(r->train_ds, &so, &r->split, err);
}

/* ---- step 2: target and features ------------------------------------------------------------ */

static fw_status encode(const fw_train_result *r, const fw_dataset *ds, const uint32_t *rows,
                        size_t n, double **y, bool allow_unseen, size_t *n_unseen, fw_err *err) {
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    *y = fw_malloc((n ? n : 1) * per * sizeof(double));
    if (!*y) return fw_err_set(err, FW_ENOMEM, "out of memory encoding labels");
    size_t unseen = 0;
    fw_status st = fw_target_encode(&r->target, ds, rows, n, *y, &unseen, err);
    if (st) return st;
    if (n_unseen) *n_unseen = unseen;
    if (unseen && !allow_unseen)
        return fw_err_set(err, FW_EDATA, "%zu training rows have a class not seen when fitting", unseen);
    for (size_t i = 0; i < n * per; i++)
        if (!allow_unseen && !isfinite((*y)[i]))
            return fw_err_set(err, FW_EDATA, "%s: label of row %u is not a finite number",
                              ds->source ? ds->source : "data", rows[i / per] + 2);
    return FW_OK;
}

static void warn(fw_train_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(fw_train_result *r, const char *fmt, ...) {
    if (r->n_warnings == FW_TRAIN_MAX_WARNINGS) {
        r->n_warnings_dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->n_warnings++], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
}

/* Features that cannot help: missing in every training row, or one value in all of them. */
static void check_features(fw_train_result *r) {
    const fw_project *p = &r->project;
    const fw_dataset *ds = r->train_ds;
    const uint32_t *rows = r->split.train;
    size_t n = r->split.n_train;
    for (size_t f = 0; f < p->n_features; f++) {
        int c = fw_dataset_find(ds, p->features[f].name);
        if (c < 0) continue;
        const fw_column *col = &ds->cols[c];
        size_t present = 0;
        bool constant = true;
        double first_num = 0;
        int32_t first_code = -1;
        for (size_t i = 0; i < n; i++) {
            uint32_t row = rows[i];
            if (col->num) {
                double v = col->num[row];
                if (isnan(v)) continue;
                if (present++ == 0) first_num = v;
                else if (v != first_num) constant = false;
            } else if (col->code) {
                int32_t k = col->code[row];
                if (k < 0) continue;
                if (present++ == 0) first_code = k;
                else if (k != first_code) constant = false;
            }
        }
        if (present == 0)
            warn(r, "feature '%s' is missing in every training row: it carries no information (exclude it or fix the source)",
                 col->name);
        else if (constant && present == n)
            warn(r, "feature '%s' has the same value in every training row: it carries no information", col->name);
    }
}

static uint64_t fingerprint(const fw_matrix *X, const double *y, size_t n_y) {
    fw_hasher *h = fw_hasher_new(0x46574650ull);
    if (!h) return 0;
    fw_hasher_update(h, &X->n_rows, sizeof X->n_rows);
    fw_hasher_update(h, &X->n_dense, sizeof X->n_dense);
    if (X->dense) fw_hasher_update(h, X->dense, X->n_rows * X->n_dense * sizeof(float));
    if (X->sparse_dim) {
        fw_hasher_update(h, X->indptr, (X->n_rows + 1) * sizeof(uint64_t));
        size_t nnz = (size_t)X->indptr[X->n_rows];
        if (nnz) {
            fw_hasher_update(h, X->indices, nnz * sizeof(uint32_t));
            fw_hasher_update(h, X->values, nnz * sizeof(float));
        }
    }
    if (y && n_y) fw_hasher_update(h, y, n_y * sizeof(double));
    uint64_t d = fw_hasher_digest(h);
    fw_hasher_free(h);
    return d;
}

/* k-fold cross-validation folds over the training side (train + validation rows, transformed by
 * the pipeline fitted on the training rows), for selection on small data where one validation
 * holdout is too noisy to choose between families. Ranking keeps the holdout (queries would need
 * grouped folds). */
static fw_status prepare_cv(fw_train_result *r, const fw_train_options *o, fw_err *err) {
    const fw_project *p = &r->project;
    size_t n_pool = r->split.n_train + r->split.n_valid;
    uint32_t k = p->folds;
    if (k == 0) {
        /* auto: small data only, by rows and by matrix cells (wide data makes k extra fits costly) */
        size_t nnz = r->X_train.sparse_dim ? (size_t)r->X_train.indptr[r->X_train.n_rows] : 0;
        double cells = (double)n_pool * ((double)r->X_train.n_dense +
                                         (r->X_train.n_rows ? (double)nnz / (double)r->X_train.n_rows : 0));
        k = n_pool <= FW_TRAIN_CV_AUTO_ROWS && cells <= FW_TRAIN_CV_AUTO_CELLS ? FW_TRAIN_CV_AUTO_FOLDS : 1;
    }
    if (k < 2 || r->target.task == FW_TASK_RANKING || n_pool < 4 * (size_t)k) return FW_OK;
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    uint32_t *pool = fw_malloc(n_pool * sizeof(uint32_t));
    uint32_t *fold = fw_malloc(r->train_ds->n_rows * sizeof(uint32_t));
    double *y_pool = fw_malloc(n_pool * per * sizeof(double));
    uint32_t *rows = fw_malloc(n_pool * sizeof(uint32_t));
    fw_matrix X_pool;
    memset(&X_pool, 0, sizeof X_pool);
    fw_status st = FW_ENOMEM;
    if (!pool || !fold || !y_pool || !rows) goto done;
    memcpy(pool, r->split.train, r->split.n_train * sizeof(uint32_t));
    if (r->split.n_valid) memcpy(pool + r->split.n_train, r->split.valid, r->split.n_valid * sizeof(uint32_t));
    memcpy(y_pool, r->y_train, r->split.n_train * per * sizeof(double));
    if (r->split.n_valid) memcpy(y_pool + r->split.n_train * per, r->y_valid, r->split.n_valid * per * sizeof(double));
    const char *strat = (r->target.task == FW_TASK_BINARY || r->target.task == FW_TASK_MULTICLASS) &&
                                p->n_label_columns
                            ? p->label_columns[0]
                            : NULL;
    if ((st = fw_kfold_make(r->train_ds, k, strat, r->seed ^ 0x6366ull, fold, err))) goto done;
    if ((st = fw_pipeline_transform_block(r->pipeline, r->train_ds, pool, n_pool, o->threads, &X_pool, err)))
        goto done;
    st = FW_ENOMEM;
    r->cv = fw_calloc(k, sizeof *r->cv);
    if (!r->cv) goto done;
    r->cv_folds = k;
    for (uint32_t f = 0; f < k; f++) {
        fw_cv_fold *cf = &r->cv[f];
        size_t n_fit = 0, n_score = 0;
        for (size_t i = 0; i < n_pool; i++) n_score += fold[pool[i]] == f;
        n_fit = n_pool - n_score;
        cf->y_fit = fw_malloc((n_fit ? n_fit : 1) * per * sizeof(double));
        cf->y_score = fw_malloc((n_score ? n_score : 1) * per * sizeof(double));
        if (!cf->y_fit || !cf->y_score) goto done;
        size_t a = 0;
        for (size_t i = 0; i < n_pool; i++)
            if (fold[pool[i]] != f) {
                memcpy(cf->y_fit + a * per, y_pool + i * per, per * sizeof(double));
                rows[a++] = (uint32_t)i;
            }
        if ((st = fw_matrix_select(&X_pool, rows, n_fit, &cf->X_fit))) goto done;
        size_t b = 0;
        for (size_t i = 0; i < n_pool; i++)
            if (fold[pool[i]] == f) {
                memcpy(cf->y_score + b * per, y_pool + i * per, per * sizeof(double));
                rows[b++] = (uint32_t)i;
            }
        if ((st = fw_matrix_select(&X_pool, rows, n_score, &cf->X_score))) goto done;
        st = FW_ENOMEM;
    }
    st = FW_OK;
done:
    if (st == FW_ENOMEM) fw_err_set(err, st, "out of memory preparing cross-validation folds");
    fw_matrix_free(&X_pool);
    fw_free(pool);
    fw_free(fold);
    fw_free(y_pool);
    fw_free(rows);
    return st;
}

static fw_status prepare(fw_train_result *r, const fw_train_options *o, fw_err *err) {
    fw_status st;
    const fw_project *p = &r->project;
    r->eval_ds = r->test_ds ? r->test_ds : r->train_ds;
    if (r->test_ds) {
        r->n_test = r->test_ds->n_rows;
        r->test_rows = fw_malloc((r->n_test ? r->n_test : 1) * sizeof(uint32_t));
        if (!r->test_rows) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < r->n_test; i++) r->test_rows[i] = (uint32_t)i;
    } else {
        r->n_test = r->split.n_test;
        r->test_rows = fw_malloc((r->n_test ? r->n_test : 1) * sizeof(uint32_t));
        if (!r->test_rows) return fw_err_set(err, FW_ENOMEM, "out of memory");
        memcpy(r->test_rows, r->split.test, r->n_test * sizeof(uint32_t));
    }
    if (r->split.n_train == 0) return fw_err_set(err, FW_EDATA, "no training rows left after the split");
    if (r->n_test == 0) return fw_err_set(err, FW_EDATA, "no test rows: the data is too small to split");
    st = fw_target_fit(p, r->train_ds, r->split.train, r->split.n_train, &r->target, err);
    if (st) return st;
    st = encode(r, r->train_ds, r->split.train, r->split.n_train, &r->y_train, false, NULL, err);
    if (st) return fw_err_prefix(err, "training labels");
    if (r->split.n_valid) {
        st = encode(r, r->train_ds, r->split.valid, r->split.n_valid, &r->y_valid, true, NULL, err);
        if (st) return fw_err_prefix(err, "validation labels");
    }
    /* test rows with a class training never saw: the evaluation counts them as wrong and warns */
    st = encode(r, r->eval_ds, r->test_rows, r->n_test, &r->y_test, true, NULL, err);
    if (st) return fw_err_prefix(err, "test labels");
    check_features(r);
    st = fw_pipeline_fit(p, r->train_ds, r->split.train, r->split.n_train, &r->pipeline, err);
    if (st) return st;
    st = fw_pipeline_transform_block(r->pipeline, r->train_ds, r->split.train, r->split.n_train,
                                     o->threads, &r->X_train, err);
    if (st) return fw_err_prefix(err, "transforming training rows");
    if (r->split.n_valid) {
        st = fw_pipeline_transform_block(r->pipeline, r->train_ds, r->split.valid, r->split.n_valid,
                                         o->threads, &r->X_valid, err);
        if (st) return fw_err_prefix(err, "transforming validation rows");
    }
    st = fw_pipeline_transform_block(r->pipeline, r->eval_ds, r->test_rows, r->n_test, o->threads,
                                     &r->X_test, err);
    if (st) return fw_err_prefix(err, "transforming test rows");
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    r->train_fingerprint = fingerprint(&r->X_train, r->y_train, r->split.n_train * per);
    r->test_fingerprint = fingerprint(&r->X_test, r->y_test, r->n_test * per);
    return prepare_cv(r, o, err);
}

/* ---- step 3: candidates --------------------------------------------------------------------- */

typedef struct fit_ctx {
    const fw_train_result *r;
    const fw_train_options *o;
    fw_progress *progress;
} fit_ctx;

static void train_data(const fw_train_result *r, fw_train_data *d) {
    memset(d, 0, sizeof *d);
    d->X = &r->X_train;
    d->y = r->y_train;
    d->X_valid = r->split.n_valid ? &r->X_valid : NULL;
    d->y_valid = r->split.n_valid ? r->y_valid : NULL;
    d->task = r->target.task;
    d->n_outputs = r->target.n_outputs;
    d->n_classes = r->target.n_classes;
}

/* Collects the user's "family.key=value" params for one family (prefix stripped). */
static size_t user_params(const fw_train_options *o, const char *family, const char **out, size_t max) {
    size_t n = 0, fl = strlen(family);
    for (size_t i = 0; i < o->n_params && n < max; i++)
        if (strncmp(o->params[i], family, fl) == 0 && o->params[i][fl] == '.') out[n++] = o->params[i] + fl + 1;
    return n;
}

static fw_eval_options eval_opts(const fw_train_result *r) {
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = r->project.metric;
    return eo;
}

/* Scores a fitted model on the validation rows (selection criterion, higher is better). */
static double valid_score(const fw_train_result *r, const fw_model *m, fw_err *err) {
    if (!r->split.n_valid) return NAN;
    size_t k = r->target.n_outputs;
    double *pred = fw_malloc(r->split.n_valid * k * sizeof(double));
    if (!pred) return NAN;
    double score = NAN;
    if (fw_model_predict_block(m, &r->X_valid, 0, pred) == FW_OK) {
        fw_metric_set s;
        fw_metric_set_init(&s);
        fw_eval_options eo = eval_opts(r);
        if (fw_eval_compute(r->target.task, r->y_valid, pred, r->split.n_valid, k, &eo, &s, err) == FW_OK) {
            score = fw_metric_set_primary(&s);
            if (!fw_metric_higher_is_better(s.primary)) score = -score;
        }
        fw_metric_set_free(&s);
    }
    fw_free(pred);
    return score;
}

/* The mean selection score of a family's parameters over the cross-validation folds (each fold's
 * model fits on the other folds; its scoring fold also drives early stopping, as the validation
 * rows do for the final model). NaN when a fold fails or scores NaN. */
static double cv_score(const fw_train_result *r, const char *family, const fw_fit_options *fo, fw_err *err) {
    size_t k = r->target.n_outputs;
    double sum = 0;
    for (uint32_t f = 0; f < r->cv_folds; f++) {
        const fw_cv_fold *cf = &r->cv[f];
        fw_train_data d;
        memset(&d, 0, sizeof d);
        d.X = &cf->X_fit;
        d.y = cf->y_fit;
        d.X_valid = &cf->X_score;
        d.y_valid = cf->y_score;
        d.task = r->target.task;
        d.n_outputs = r->target.n_outputs;
        d.n_classes = r->target.n_classes;
        fw_fit_options quiet = *fo;
        quiet.progress = NULL;
        fw_model *m = NULL;
        if (fw_model_fit(family, &d, &quiet, &m, err) != FW_OK) return NAN;
        size_t n = cf->X_score.n_rows;
        double *pred = fw_malloc((n ? n : 1) * k * sizeof(double));
        double score = NAN;
        if (pred && fw_model_predict_block(m, &cf->X_score, 0, pred) == FW_OK) {
            fw_metric_set s;
            fw_metric_set_init(&s);
            fw_eval_options eo = eval_opts(r);
            if (fw_eval_compute(r->target.task, cf->y_score, pred, n, k, &eo, &s, err) == FW_OK) {
                score = fw_metric_set_primary(&s);
                if (!fw_metric_higher_is_better(s.primary)) score = -score;
            }
            fw_metric_set_free(&s);
        }
        fw_free(pred);
        fw_model_free(m);
        if (isnan(score)) return NAN;
        sum += score;
    }
    return sum / r->cv_folds;
}

static int on_progress(void *ud, const char *family, int iter, int n_iter, double tl, double vl) {
    fit_ctx *c = ud;
    if (c->progress) fw_progress_update(c->progress, family, iter, n_iter, tl, vl);
    return 0;
}

/* Makes m the candidate's model (freeing any previous one), with its params_json and size. On
 * failure (FW_ENOMEM) m is freed and the candidate keeps what it had. */
static fw_status adopt_model(fw_candidate *c, fw_model *m) {
    fw_buf pj;
    fw_buf_init(&pj);
    m->vt->params_json(m, &pj);
    fw_buf_put_u8(&pj, 0);
    if (!fw_buf_ok(&pj)) {
        fw_buf_free(&pj);
        fw_model_free(m);
        return FW_ENOMEM;
    }
    fw_free(c->params_json);
    c->params_json = (char *)fw_buf_take(&pj, NULL);
    if (c->model != m) fw_model_free(c->model);
    c->model = m;
    c->size_bytes = m->vt->size_bytes(m);
    return FW_OK;
}

/* Fit options of this run (seed, threads) with the given "key=value" parameters. */
static fw_fit_options fit_options(const fw_train_result *r, const fw_train_options *o,
                                  const char *const *params, size_t n_params) {
    fw_fit_options fo;
    fw_fit_options_init(&fo);
    fo.seed = r->seed;
    fo.threads = o->threads;
    fo.params = params;
    fo.n_params = n_params;
    return fo;
}

/* True when the primary metric judges hard decisions of a classifier (accuracy, F1, precision,
 * recall) rather than its scores (ROC-AUC, log loss, ...). */
static bool decision_metric(const fw_train_result *r) {
    if (r->target.task != FW_TASK_BINARY && r->target.task != FW_TASK_MULTICLASS) return false;
    const char *m = r->project.metric ? r->project.metric : "";
    static const char *const prefixes[] = {"accuracy", "balanced_accuracy", "f1", "precision", "recall"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(m, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return false;
}

static fw_status fit_family(fit_ctx *c, const char *family, fw_candidate *cand, double budget_s) {
    const fw_train_result *r = c->r;
    const fw_train_options *o = c->o;
    fw_err err;
    fw_err_clear(&err);
    fw_train_data d;
    train_data(r, &d);
    const char *user[FW_SEARCH_MAX_PARAMS];
    size_t n_user = user_params(o, family, user, FW_SEARCH_MAX_PARAMS);
    double start = fw_now_seconds();
    fw_model *best = NULL;
    double best_score = -INFINITY;
    fw_trial best_trial;
    memset(&best_trial, 0, sizeof best_trial);
    fw_status last = FW_OK;
    for (size_t t = 0;; t++) {
        fw_trial trial;
        if (t > 0) {
            if (budget_s <= 0 || fw_now_seconds() - start > budget_s * 0.5) break;
            if (fw_search_trial(family, r->target.task, r->seed, t, &trial) != FW_OK) break;
        } else {
            memset(&trial, 0, sizeof trial);
            /* The training candidate's starting point (recorded like any drawn parameter, so
             * reproduce sees it): gbdt with a smaller learning rate and more rounds, which early
             * stopping on the validation rows trims; the family's own defaults stay XGBoost's. */
            if (strcmp(family, "gbdt") == 0) {
                snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "learning_rate=0.1");
                snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "n_estimators=300");
            }
        }
        /* Every gbdt trial: a decision metric (accuracy, F1, ...) keeps improving long after the
         * validation log loss turns up (over-confident probabilities): stop on the error then. */
        if (strcmp(family, "gbdt") == 0 && decision_metric(r) && trial.n_params < FW_SEARCH_MAX_PARAMS)
            snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "early_stopping_metric=error");
        /* user params override the drawn ones (they come last: last one wins) */
        const char *params[2 * FW_SEARCH_MAX_PARAMS];
        size_t np = fw_trial_params(&trial, params);
        for (size_t i = 0; i < n_user; i++) params[np++] = user[i];
        fw_fit_options fo = fit_options(r, o, params, np);
        fo.progress = o->progress ? on_progress : NULL;
        fo.progress_ud = c;
        fo.time_budget_s = budget_s > 0 ? budget_s : 0;
        if (c->progress) fw_progress_begin(c->progress, family, t);
        fw_model *m = NULL;
        last = fw_model_fit(family, &d, &fo, &m, &err);
        if (last) {
            if (t == 0) break; /* the defaults fail: report it */
            continue;
        }
        cand->trials = t + 1;
        double s = r->cv_folds > 1 ? cv_score(r, family, &fo, &err) : valid_score(r, m, &err);
        if (isnan(s)) s = -INFINITY;
        if (!best || s > best_score) {
            fw_model_free(best);
            best = m;
            best_score = s;
            best_trial = trial;
            for (size_t i = 0; i < n_user && best_trial.n_params < FW_SEARCH_MAX_PARAMS; i++)
                snprintf(best_trial.params[best_trial.n_params++], FW_SEARCH_PARAM_LEN, "%s", user[i]);
        } else {
            fw_model_free(m);
        }
        if (!r->split.n_valid && r->cv_folds < 2) break; /* nothing to select on */
    }
    if (c->progress) fw_progress_end(c->progress);
    cand->valid_score = best ? best_score : NAN;
    if (isinf(cand->valid_score)) cand->valid_score = NAN;
    cand->train_seconds = fw_now_seconds() - start;
    if (!best) {
        cand->failed = true;
        snprintf(cand->error, sizeof cand->error, "%s", err.msg[0] ? err.msg : fw_strerror(last));
        return last ? last : FW_EDATA;
    }
    cand->n_params = best_trial.n_params;
    if (cand->n_params) {
        cand->params = fw_calloc(cand->n_params, sizeof(char *));
        if (!cand->params) return FW_ENOMEM;
        for (size_t i = 0; i < cand->n_params; i++) {
            cand->params[i] = fw_strdup(best_trial.params[i]);
            if (!cand->params[i]) return FW_ENOMEM;
        }
    }
    return adopt_model(cand, best);
}

/* The baseline: a rule from the project file (raw inputs), else a constant baseline family. */
static fw_status fit_baseline(fw_train_result *r, const fw_train_options *o, fw_candidate *cand,
                              fw_err *err) {
    const fw_project *p = &r->project;
    snprintf(cand->name, sizeof cand->name, "baseline");
    cand->family = "baseline";
    double start = fw_now_seconds();
    if (p->baseline.kind == FW_BASELINE_RULE) {
        fw_status st = fw_baseline_rule_parse(p->baseline.rule, &r->rule, err);
        if (st) return st;
        r->has_rule = true;
        size_t ni = fw_pipeline_n_inputs(r->pipeline);
        const char **names = fw_malloc((ni ? ni : 1) * sizeof(char *));
        if (!names) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < ni; i++) names[i] = fw_pipeline_input_name(r->pipeline, i);
        /* The rule may name a column that is not a feature (the pipeline's inputs are features):
         * bind against every dataset column instead, in dataset order. */
        fw_free(names);
        size_t nc = r->train_ds->n_cols;
        const char **cols = fw_malloc(nc * sizeof(char *));
        if (!cols) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < nc; i++) cols[i] = r->train_ds->cols[i].name;
        st = fw_baseline_rule_bind(&r->rule, cols, nc, r->target.task,
                                   (const char *const *)r->target.class_names, r->target.n_classes, err);
        fw_free(cols);
        if (st) return fw_err_prefix(err, "baseline rule (line %d)", p->lines.baseline);
        fw_value *vals = fw_malloc((r->split.n_train ? r->split.n_train : 1) * nc * sizeof(fw_value));
        int *map = fw_malloc(nc * sizeof(int));
        if (!vals || !map) {
            fw_free(vals);
            fw_free(map);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nc; i++) map[i] = (int)i;
        for (size_t i = 0; i < r->split.n_train; i++)
            fw_record_from_row(r->train_ds, map, nc, r->split.train[i], vals + i * nc);
        st = fw_baseline_rule_fit(&r->rule, vals, nc, r->y_train, r->split.n_train, err);
        fw_free(vals);
        fw_free(map);
        if (st) return st;
        cand->params_json = fw_strdup("{\"kind\":\"rule\"}");
        cand->train_seconds = fw_now_seconds() - start;
        return cand->params_json ? FW_OK : FW_ENOMEM;
    }
    const char *kind = NULL;
    switch (p->baseline.kind) {
    case FW_BASELINE_PRIOR: kind = "kind=prior"; break;
    case FW_BASELINE_MAJORITY: kind = "kind=majority"; break;
    case FW_BASELINE_MEAN: kind = "kind=mean"; break;
    case FW_BASELINE_MEDIAN: kind = "kind=median"; break;
    default: break;
    }
    fw_train_data d;
    train_data(r, &d);
    const char *params[1] = {kind};
    fw_fit_options fo = fit_options(r, o, params, kind ? 1 : 0);
    fw_model *m = NULL;
    fw_status st = fw_model_fit("baseline", &d, &fo, &m, err);
    if (st) return fw_err_prefix(err, "baseline");
    cand->train_seconds = fw_now_seconds() - start;
    return adopt_model(cand, m) ? fw_err_set(err, FW_ENOMEM, "out of memory") : FW_OK;
}

/* With a p99 latency budget (constraints.p99_latency_ms), times every trained candidate's
 * single-row scoring on the validation rows (else the training rows: never the test rows, which
 * decide nothing) and marks those over it; *n_within counts the others. No budget: nothing. */
static fw_status check_latency_budget(fw_train_result *r, size_t *n_within, fw_err *err) {
    *n_within = 0;
    double budget_us = r->project.constraints.p99_latency_ms * 1000.0;
    if (!(budget_us > 0)) return FW_OK;
    const fw_matrix *X = r->split.n_valid ? &r->X_valid : &r->X_train;
    for (size_t i = 1; i < r->n_cands; i++) {
        fw_candidate *c = &r->cands[i];
        if (c->failed || !c->model) continue;
        fw_latency lat;
        fw_status st = fw_eval_latency_model(c->model, X, 1000, &lat, err);
        if (st) return fw_err_prefix(err, "timing %s", c->name);
        c->select_p99_us = lat.p99_us;
        c->over_budget = lat.p99_us > budget_us;
        if (!c->over_budget) (*n_within)++;
    }
    if (*n_within == 0)
        warn(r, "no model meets the p99 latency budget of %.4g ms: chose on the metric alone",
             r->project.constraints.p99_latency_ms);
    return FW_OK;
}

/* The chosen candidate once more, on the training and validation rows together, with its chosen
 * parameters and what its family needs for the larger set (gbdt: the rounds early stopping kept,
 * scaled); the validation rows then serve no early stopping. Deterministic like any fit. */
static fw_status refit(fw_train_result *r, const fw_train_options *o, fw_candidate *c, fw_err *err) {
    double start = fw_now_seconds();
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    size_t n_all = r->split.n_train + r->split.n_valid;
    fw_matrix X_all;
    fw_status st = fw_matrix_concat(&r->X_train, &r->X_valid, &X_all);
    if (st) return fw_err_set(err, st, "refit: %s", fw_strerror(st));
    double *y_all = fw_malloc(n_all * per * sizeof(double));
    if (!y_all) {
        fw_matrix_free(&X_all);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    memcpy(y_all, r->y_train, r->split.n_train * per * sizeof(double));
    memcpy(y_all + r->split.n_train * per, r->y_valid, r->split.n_valid * per * sizeof(double));
    fw_train_data d;
    train_data(r, &d);
    d.X = &X_all;
    d.y = y_all;
    d.X_valid = NULL;
    d.y_valid = NULL;
    char extra[4][FW_REFIT_PARAM_LEN];
    size_t n_extra = 0;
    if (c->model->vt->refit_params)
        n_extra = c->model->vt->refit_params(c->model, (double)n_all / (double)r->split.n_train, extra, 4);
    const char *params[FW_SEARCH_MAX_PARAMS + 4];
    size_t np = 0;
    for (size_t i = 0; i < c->n_params && np < FW_SEARCH_MAX_PARAMS; i++) params[np++] = c->params[i];
    for (size_t i = 0; i < n_extra; i++) params[np++] = extra[i]; /* last one wins */
    fw_fit_options fo = fit_options(r, o, params, np);
    fw_model *m = NULL;
    st = fw_model_fit(c->family, &d, &fo, &m, err);
    if (!st) r->train_fingerprint = fingerprint(&X_all, y_all, n_all * per); /* the rows it saw */
    fw_matrix_free(&X_all);
    fw_free(y_all);
    if (st) return fw_err_prefix(err, "refitting %s on the training and validation rows", c->name);
    if (adopt_model(c, m)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    c->refit = true;
    c->refit_rows = n_all;
    c->refit_seconds = fw_now_seconds() - start;
    return FW_OK;
}

fw_status fw_train_predict_candidate(const fw_train_result *r, const fw_candidate *c, double *out,
                                     fw_err *err) {
    if (c->model) {
        fw_status st = fw_model_predict_block(c->model, &r->X_test, r->threads, out);
        if (st) return fw_err_set(err, st, "%s: prediction failed: %s", c->name, fw_strerror(st));
        return FW_OK;
    }
    /* rule baseline: raw values of each test row */
    const fw_dataset *ds = r->eval_ds;
    size_t nc = r->train_ds->n_cols;
    int *map = fw_malloc(nc * sizeof(int));
    fw_value *vals = fw_malloc(nc * sizeof(fw_value));
    if (!map || !vals) {
        fw_free(map);
        fw_free(vals);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nc; i++) map[i] = fw_dataset_find(ds, r->train_ds->cols[i].name);
    for (size_t i = 0; i < r->n_test; i++) {
        fw_record_from_row(ds, map, nc, r->test_rows[i], vals);
        fw_baseline_rule_eval(&r->rule, vals, out + i * r->target.n_outputs);
    }
    fw_free(map);
    fw_free(vals);
    return FW_OK;
}

/* ---- step 4: evaluation --------------------------------------------------------------------- */

static fw_status group_codes(const fw_train_result *r, size_t g, int32_t *codes, const char ***names,
                             size_t *n_names, fw_err *err) {
    const fw_dataset *ds = r->eval_ds;
    int c = fw_dataset_find(ds, r->project.group_columns[g]);
    if (c < 0) return fw_err_set(err, FW_ENOTFOUND, "group column '%s' not in the test data", r->project.group_columns[g]);
    const fw_column *col = &ds->cols[c];
    if (col->code) {
        *n_names = fw_dict_size(&col->dict);
        *names = fw_malloc((*n_names ? *n_names : 1) * sizeof(char *));
        if (!*names) return FW_ENOMEM;
        for (size_t i = 0; i < *n_names; i++) (*names)[i] = fw_dict_str(&col->dict, (int32_t)i);
        for (size_t i = 0; i < r->n_test; i++) codes[i] = col->code[r->test_rows[i]];
        return FW_OK;
    }
    /* numeric group column: each distinct value is a slice (named by its %g text) */
    fw_dict *d = fw_malloc(sizeof *d);
    if (!d) return FW_ENOMEM;
    fw_dict_init(d);
    for (size_t i = 0; i < r->n_test; i++) {
        double v = col->num[r->test_rows[i]];
        if (isnan(v)) {
            codes[i] = -1;
            continue;
        }
        char txt[40];
        int n = snprintf(txt, sizeof txt, "%g", v);
        codes[i] = fw_dict_intern(d, txt, (size_t)n);
    }
    *n_names = fw_dict_size(d);
    *names = fw_malloc((*n_names ? *n_names : 1) * sizeof(char *) + sizeof(fw_dict *));
    if (!*names) {
        fw_dict_free(d);
        fw_free(d);
        return FW_ENOMEM;
    }
    for (size_t i = 0; i < *n_names; i++) (*names)[i] = fw_dict_str(d, (int32_t)i);
    /* keep the dict alive until the report is built: stash it past the names */
    memcpy((char *)*names + (*n_names ? *n_names : 1) * sizeof(char *), &d, sizeof d);
    return FW_OK;
}

/* Fills pick with `rows` test-row indexes spread evenly over n (a stride sample); returns pick. */
static const uint32_t *pick_rows(uint32_t *pick, size_t rows, size_t n) {
    for (size_t i = 0; i < rows; i++) pick[i] = (uint32_t)((i * n) / rows);
    return pick;
}

static fw_status evaluate(fw_train_result *r, fw_candidate *c, const fw_train_options *o, fw_err *err) {
    size_t k = r->target.n_outputs;
    c->test_pred = fw_malloc(r->n_test * k * sizeof(double));
    if (!c->test_pred) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_status st = fw_train_predict_candidate(r, c, c->test_pred, err);
    if (st) return st;
    fw_eval_options eo = eval_opts(r);
    if (r->has_threshold) eo.threshold = r->threshold.threshold;
    st = fw_eval_compute(r->target.task, r->y_test, c->test_pred, r->n_test, k, &eo, &c->metrics, err);
    if (st) return fw_err_prefix(err, "evaluating %s", c->name);
    for (size_t e = 0; e < r->project.n_extra_metrics; e++) {
        double v;
        if (!fw_metric_set_get(&c->metrics, r->project.extra_metrics[e], &v))
            fprintf(stderr, "flywheel: note: metric '%s' is not computed for a %s task\n",
                    r->project.extra_metrics[e], fw_task_name(r->target.task));
    }
    if (r->project.n_group_columns) {
        c->slices = fw_calloc(r->project.n_group_columns, sizeof(fw_slice_report));
        int32_t *codes = fw_malloc(r->n_test * sizeof(int32_t));
        if (!c->slices || !codes) {
            fw_free(codes);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        for (size_t g = 0; g < r->project.n_group_columns; g++) {
            const char **names = NULL;
            size_t n_names = 0;
            st = group_codes(r, g, codes, &names, &n_names, err);
            if (st) {
                fw_free(codes);
                return st;
            }
            bool numeric = r->eval_ds->cols[fw_dataset_find(r->eval_ds, r->project.group_columns[g])].num != NULL;
            st = fw_eval_slices(r->target.task, r->y_test, c->test_pred, r->n_test, k, &eo,
                                r->project.group_columns[g], codes, names, n_names, 30,
                                &c->slices[g], err);
            c->n_slices = g + 1;
            if (numeric) {
                fw_dict *d;
                memcpy(&d, (char *)names + (n_names ? n_names : 1) * sizeof(char *), sizeof d);
                fw_dict_free(d);
                fw_free(d);
            }
            fw_free(names);
            if (st) {
                fw_free(codes);
                return st;
            }
        }
        fw_free(codes);
    }
    if (c->model) {
        st = fw_eval_latency_model(c->model, &r->X_test, 2000, &c->latency, err);
        if (st) return st;
        if (o->importance && r->X_test.n_dense && strcmp(c->family, "baseline") != 0) {
            fw_importance imp;
            fw_importance_options io;
            fw_importance_options_init(&io);
            io.seed = r->seed;
            io.n_repeats = r->X_test.n_dense > 200 ? 1 : 3;
            /* A time budget: n_dense x repeats passes over the test rows, each row at the model's
             * measured latency. Over budget, a stride sample of the test rows (at least 200);
             * still over, skipped with a warning (e.g. knn on wide data would take hours). */
            double per_row_s = (c->latency.mean_us > 0 ? c->latency.mean_us : 1.0) * 1e-6 / (double)r->threads;
            double passes = (double)r->X_test.n_dense * (double)(io.n_repeats + 1);
            size_t rows = r->n_test;
            double budget_s = FW_TRAIN_IMPORTANCE_BUDGET_S;
            if (passes * (double)rows * per_row_s > budget_s) {
                double fit = budget_s / (passes * per_row_s);
                rows = fit < 200 ? 0 : (size_t)fit;
            }
            if (rows == 0 || r->X_test.n_dense > 1000) {
                warn(r, "%s: permutation importance skipped (%zu features x %zu test rows at %.3g us per row exceeds %.0f s)",
                     c->name, r->X_test.n_dense, r->n_test, c->latency.mean_us, budget_s);
            } else {
                fw_matrix Xs;
                memset(&Xs, 0, sizeof Xs);
                double *ys = NULL;
                const fw_matrix *X = &r->X_test;
                const double *y = r->y_test;
                if (rows < r->n_test) { /* every step-th test row */
                    size_t per = r->target.task == FW_TASK_MULTILABEL ? k : 1;
                    uint32_t *pick = fw_malloc(rows * sizeof(uint32_t));
                    ys = fw_malloc(rows * per * sizeof(double));
                    if (!pick || !ys || fw_matrix_select(&r->X_test, pick_rows(pick, rows, r->n_test), rows, &Xs)) {
                        fw_free(pick);
                        fw_free(ys);
                        return fw_err_set(err, FW_ENOMEM, "out of memory sampling rows for importance");
                    }
                    for (size_t i = 0; i < rows; i++)
                        memcpy(ys + i * per, r->y_test + (size_t)pick[i] * per, per * sizeof(double));
                    fw_free(pick);
                    X = &Xs;
                    y = ys;
                }
                st = fw_eval_permutation_importance(r->target.task, X, y, k, &eo, fw_eval_predict_model,
                                                    c->model, &io, &imp, err);
                fw_matrix_free(&Xs);
                fw_free(ys);
                if (st) return st;
                c->importance = imp.mean;
                c->importance_std = imp.std;
                imp.mean = imp.std = NULL;
                fw_importance_free(&imp);
            }
        }
    }
    return FW_OK;
}

/* ---- the run -------------------------------------------------------------------------------- */

static fw_status parse_families(const char *list, char fam[8][16], size_t *n, fw_err *err) {
    *n = 0;
    const char *s = list ? list : "baseline,linear,gbdt,knn";
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || len >= 16) return fw_err_set(err, FW_EINVAL, "--models: bad family name in '%s'", list);
        char name[16];
        memcpy(name, s, len);
        name[len] = 0;
        if (!fw_model_family(name)) return fw_err_set(err, FW_EINVAL, "--models: unknown model family '%s' (known: baseline, linear, gbdt, knn, hier)", name);
        bool dup = strcmp(name, "baseline") == 0;
        for (size_t i = 0; i < *n; i++) dup |= strcmp(fam[i], name) == 0;
        if (!dup && *n < 8) memcpy(fam[(*n)++], name, len + 1);
        s += len + (e ? 1 : 0);
    }
    return FW_OK;
}

fw_status fw_train_run(fw_project *project, const fw_train_options *o, fw_train_result *r, fw_err *err) {
    memset(r, 0, sizeof *r);
    r->project = *project;
    fw_project_init(project);
    double t0 = fw_now_seconds();
    fw_status st;
    char fams[8][16];
    size_t n_fams;
    if ((st = parse_families(o->families, fams, &n_fams, err))) return st;
    r->seed = o->seed_set ? o->seed : r->project.seed;
    r->threads = o->threads > 0 ? o->threads : fw_default_threads();
    if (!r->project.train_path) return fw_err_set(err, FW_ECONFIG, "no training data (data.train)");
    {
        /* record the data path absolutely: lineage and `reproduce` work from any directory */
        char *abs = realpath(r->project.train_path, NULL);
        if (abs) {
            char *copy = fw_strdup(abs);
            free(abs);
            if (copy) {
                fw_free(r->project.train_path);
                r->project.train_path = copy;
            }
        }
    }
    if ((st = load_file(&r->project, r->project.train_path, o, &r->train_ds, err))) return st;
    const char *test_path = o->test_path ? o->test_path : r->project.test_path;
    if (test_path && (st = load_file(&r->project, test_path, o, &r->test_ds, err))) return st;
    if ((st = fw_project_resolve(&r->project, r->train_ds, err))) return st;
    if ((st = fw_eval_check_metric(r->project.task, r->project.metric, err))) return st;
    if ((st = make_split(r, err))) return st;
    if ((st = prepare(r, o, err))) return st;
    if (!o->families && r->split.n_train > FW_TRAIN_KNN_DEFAULT_MAX_ROWS) {
        /* knn is brute force: O(training rows) per prediction. Not a default on big data. */
        size_t k = 0;
        for (size_t f = 0; f < n_fams; f++)
            if (strcmp(fams[f], "knn") != 0) memcpy(fams[k++], fams[f], sizeof fams[f]);
        if (k < n_fams)
            warn(r, "knn left out of the default families: %zu training rows (each prediction scans them all; ask for it with --models)",
                 r->split.n_train);
        n_fams = k;
    }

    for (size_t i = 0; i < o->n_params; i++) {
        /* a parameter for a family that is not trained this run would otherwise be ignored */
        bool used = false;
        for (size_t f = 0; f < n_fams && !used; f++) {
            size_t fl = strlen(fams[f]);
            used = strncmp(o->params[i], fams[f], fl) == 0 && o->params[i][fl] == '.';
        }
        if (!used) warn(r, "--param %s is not used: that family is not trained in this run", o->params[i]);
    }
    r->n_cands = 1 + n_fams;
    r->cands = fw_calloc(r->n_cands, sizeof(fw_candidate));
    if (!r->cands) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_cands; i++) fw_metric_set_init(&r->cands[i].metrics);
    if ((st = fit_baseline(r, o, &r->cands[0], err))) return st;

    fw_progress prog;
    fw_progress_init(&prog, o->progress);
    fit_ctx ctx = {r, o, o->progress ? &prog : NULL};
    double per_family = o->time_budget_s > 0 ? o->time_budget_s / (double)(n_fams ? n_fams : 1) : 0;
    size_t n_ok = 0;
    for (size_t f = 0; f < n_fams; f++) {
        fw_candidate *c = &r->cands[1 + f];
        snprintf(c->name, sizeof c->name, "%.63s", fams[f]);
        c->family = fw_model_family(fams[f])->family;
        fw_status fs = fit_family(&ctx, fams[f], c, per_family);
        if (fs == FW_ENOMEM) return fw_err_set(err, FW_ENOMEM, "out of memory training %s", fams[f]);
        if (fs == FW_OK) n_ok++; /* a failed family keeps its message in c->error for the caller */
    }
    if (n_fams && n_ok == 0) return fw_err_set(err, FW_EDATA, "every model family failed; first: %s: %s", r->cands[1].name, r->cands[1].error);

    /* The project's p99 latency budget: a model over it is chosen only when none is within. */
    size_t n_within = 0;
    if ((st = check_latency_budget(r, &n_within, err))) return st;
    /* Choose the best on validation rows (test rows are for the report only); without a
     * validation side, on the test rows, and the report says so. */
    r->best = 0;
    double best = -INFINITY;
    bool have_valid = r->split.n_valid > 0 || r->cv_folds > 1;
    size_t best_any = 0;
    double best_any_score = -INFINITY;
    for (size_t i = 1; i < r->n_cands; i++) {
        fw_candidate *c = &r->cands[i];
        if (c->failed || isnan(c->valid_score)) continue;
        if (c->valid_score > best_any_score) {
            best_any_score = c->valid_score;
            best_any = i;
        }
        if (n_within && c->over_budget) continue;
        if (c->valid_score > best) {
            best = c->valid_score;
            r->best = i;
        }
    }
    if (best_any && r->best && best_any != r->best)
        warn(r, "%s scored best on validation but its p99 latency (%.3g us) is over the %.4g ms budget; chose %s",
             r->cands[best_any].name, r->cands[best_any].select_p99_us, r->project.constraints.p99_latency_ms,
             r->cands[r->best].name);
    if (r->best == 0) have_valid = false;
    r->selected_on_test = !have_valid;
    if (r->target.task == FW_TASK_BINARY && have_valid && r->split.n_valid && r->cands[r->best].model) {
        /* The decision threshold: the project's rule on the chosen model's validation predictions. */
        fw_threshold_options to;
        fw_threshold_options_from_project(&r->project.constraints, &to);
        double *pv = fw_malloc(r->split.n_valid * sizeof(double));
        if (!pv) return fw_err_set(err, FW_ENOMEM, "out of memory");
        st = fw_model_predict_block(r->cands[r->best].model, &r->X_valid, r->threads, pv);
        if (!st) st = fw_eval_threshold(r->y_valid, pv, r->split.n_valid, &to, &r->threshold, err);
        fw_free(pv);
        if (st) return fw_err_prefix(err, "choosing the decision threshold");
        r->has_threshold = true;
    }
    bool want_refit = r->project.refit == FW_REFIT_ON ||
                      (r->project.refit == FW_REFIT_AUTO &&
                       r->split.n_train + r->split.n_valid <= FW_TRAIN_REFIT_AUTO_ROWS);
    if (want_refit && have_valid && r->split.n_valid && r->target.task != FW_TASK_RANKING &&
        r->cands[r->best].model) {
        if ((st = refit(r, o, &r->cands[r->best], err))) return st;
    }
    for (size_t i = 0; i < r->n_cands; i++) {
        fw_candidate *c = &r->cands[i];
        if (c->failed) continue;
        if ((st = evaluate(r, c, o, err))) return st;
    }
    if (!have_valid) {
        for (size_t i = 1; i < r->n_cands; i++) {
            fw_candidate *c = &r->cands[i];
            if (c->failed || (n_within && c->over_budget)) continue;
            double v = fw_metric_set_primary(&c->metrics);
            if (isnan(v)) continue;
            if (!fw_metric_higher_is_better(c->metrics.primary)) v = -v;
            if (v > best) {
                best = v;
                r->best = i;
            }
        }
    }
    for (size_t i = 0; i < r->n_cands; i++)
        if (!r->cands[i].failed)
            fw_eval_improvement_sets(&r->cands[i].metrics, &r->cands[0].metrics,
                                     r->project.constraints.min_improvement, &r->cands[i].vs_baseline);
    r->total_seconds = fw_now_seconds() - t0;
    return FW_OK;
}

static void free_candidate(fw_candidate *c) {
    fw_free(c->params_json);
    for (size_t i = 0; i < c->n_params; i++) fw_free(c->params[i]);
    fw_free(c->params);
    fw_model_free(c->model);
    fw_free(c->test_pred);
    fw_metric_set_free(&c->metrics);
    fw_free(c->importance);
    fw_free(c->importance_std);
    for (size_t i = 0; i < c->n_slices; i++) fw_slice_report_free(&c->slices[i]);
    fw_free(c->slices);
}

void fw_train_result_free(fw_train_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_cands; i++) free_candidate(&r->cands[i]);
    fw_free(r->cands);
    if (r->has_rule) fw_baseline_rule_free(&r->rule);
    fw_matrix_free(&r->X_train);
    fw_matrix_free(&r->X_valid);
    fw_matrix_free(&r->X_test);
    for (uint32_t f = 0; f < r->cv_folds; f++) {
        fw_matrix_free(&r->cv[f].X_fit);
        fw_matrix_free(&r->cv[f].X_score);
        fw_free(r->cv[f].y_fit);
        fw_free(r->cv[f].y_score);
    }
    fw_free(r->cv);
    fw_free(r->y_train);
    fw_free(r->y_valid);
    fw_free(r->y_test);
    fw_pipeline_free(r->pipeline);
    fw_target_free(&r->target);
    fw_free(r->test_rows);
    fw_split_free(&r->split);
    fw_dataset_free(r->train_ds);
    fw_dataset_free(r->test_ds);
    fw_project_free(&r->project);
    memset(r, 0, sizeof *r);
}
