/* candidates.c — owns step 3 of a training run: each family's fit (its starting point, the random
 * search within the time budget, selection on the validation rows or k folds), the baseline, the
 * p99 latency budget check before the choice, and the refit of the chosen model on training +
 * validation rows. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "features/record.h"
#include "train/search.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void train_data(const fw_train_result *r, fw_train_data *d) {
    memset(d, 0, sizeof *d);
    d->X = &r->X_train;
    d->y = r->y_train;
    d->weight = r->fit.w_train; /* data.weight x class_weights, or NULL */
    d->X_valid = r->split.n_valid ? &r->X_valid : NULL;
    d->y_valid = r->split.n_valid ? r->y_valid : NULL;
    d->task = r->target.task;
    d->n_outputs = r->target.n_outputs;
    d->n_classes = r->target.n_classes;
    d->query = r->q_train;
    d->query_valid = r->split.n_valid ? r->q_valid : NULL;
}

/* Collects the user's "family.key=value" params for one family (prefix stripped). */
static size_t user_params(const fw_train_options *o, const char *family, const char **out, size_t max) {
    size_t n = 0, fl = strlen(family);
    for (size_t i = 0; i < o->n_params && n < max; i++)
        if (strncmp(o->params[i], family, fl) == 0 && o->params[i][fl] == '.') out[n++] = o->params[i] + fl + 1;
    return n;
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
        fw_eval_options eo = fw__train_eval_opts(r);
        eo.query = r->q_valid;
        if (fw_eval_compute(r->target.task, r->y_valid, pred, r->split.n_valid, k, &eo, &s, err) == FW_OK) {
            score = fw_metric_set_primary(&s);
            if (!fw_metric_higher_is_better(s.primary)) score = -score;
        }
        fw_metric_set_free(&s);
    }
    fw_free(pred);
    return score;
}

/* The refit's extra parameter as the cross-validation folds decided it. */
typedef struct fw__cv_refit {
    bool decided;
    char param[FW_REFIT_PARAM_LEN];
} fw__cv_refit;
_Static_assert(sizeof(((fw_candidate *)0)->cv_refit_param) == FW_REFIT_PARAM_LEN, "cv_refit_param");

/* The mean selection score of a family's parameters over the cross-validation folds (each fold's
 * model fits on the other folds; its scoring fold also drives early stopping, as the validation
 * rows do for the final model). NaN when a fold fails or scores NaN. fold_scores (cv_folds values)
 * gets each fold's primary metric in its own direction, oof (n_pool x outputs) each fold's
 * predictions of its scoring rows, fold after fold; on a progress line, each fold is shown. cr gets
 * what the refit should do as the folds decide it. */
static double cv_score(const fw__fit_ctx *c, const char *family, const fw_fit_options *fo, fw_err *err,
                       double *fold_scores, double *oof, fw__cv_refit *cr) {
    const fw_train_result *r = c->r;
    size_t k = r->target.n_outputs;
    double sum = 0;
    size_t at = 0;
    size_t n_pool = r->split.n_train + r->split.n_valid;
    memset(cr, 0, sizeof *cr);
    double iters = 0;     /* sum over folds of the one refit parameter's value */
    uint32_t n_with = 0;  /* folds whose model named one (e.g. gbdt's rounds, a stopped L-BFGS) */
    bool same_key = true;
    for (uint32_t f = 0; f < r->cv_folds; f++) {
        if (c->progress) fw_progress_phase(c->progress, family, "cross-validation fold", f + 1, r->cv_folds);
        const fw_cv_fold *cf = &r->cv[f];
        fw_train_data d;
        memset(&d, 0, sizeof d);
        d.X = &cf->X_fit;
        d.y = cf->y_fit;
        d.weight = cf->w_fit;
        d.X_valid = &cf->X_score;
        d.y_valid = cf->y_score;
        d.task = r->target.task;
        d.n_outputs = r->target.n_outputs;
        d.n_classes = r->target.n_classes;
        d.query = cf->q_fit;
        d.query_valid = cf->q_score;
        fw_fit_options quiet = *fo;
        quiet.progress = NULL;
        fw_model *m = NULL;
        if (fw_model_fit(family, &d, &quiet, &m, err) != FW_OK) return NAN;
        char fp[4][FW_REFIT_PARAM_LEN];
        size_t nfp = m->vt->refit_params && cf->X_fit.n_rows
                         ? m->vt->refit_params(m, (double)n_pool / (double)cf->X_fit.n_rows, fp, 4)
                         : 0;
        if (nfp == 1 && strchr(fp[0], '=')) {
            size_t kl = (size_t)(strchr(fp[0], '=') - fp[0]) + 1;
            if (n_with && strncmp(cr->param, fp[0], kl) != 0) same_key = false;
            if (!n_with) snprintf(cr->param, sizeof cr->param, "%.*s", (int)kl, fp[0]);
            iters += strtod(fp[0] + kl, NULL);
            n_with++;
        } else if (nfp) {
            same_key = false;
        }
        size_t n = cf->X_score.n_rows;
        double *pred = fw_malloc((n ? n : 1) * k * sizeof(double));
        double score = NAN;
        if (pred && fw_model_predict_block(m, &cf->X_score, 0, pred) == FW_OK) {
            fw_metric_set s;
            fw_metric_set_init(&s);
            fw_eval_options eo = fw__train_eval_opts(r);
            eo.query = cf->q_score;
            if (fw_eval_compute(r->target.task, cf->y_score, pred, n, k, &eo, &s, err) == FW_OK) {
                score = fw_metric_set_primary(&s);
                fold_scores[f] = score;
                if (!fw_metric_higher_is_better(s.primary)) score = -score;
            }
            fw_metric_set_free(&s);
            memcpy(oof + at * k, pred, n * k * sizeof(double));
            at += n;
        }
        fw_free(pred);
        fw_model_free(m);
        if (isnan(score)) return NAN;
        sum += score;
    }
    /* What the refit on all training-side rows does, decided by the k folds (k times the
     * validation rows of one holdout, whose early stop on a few hundred rows is mostly noise):
     * most folds stopped → the mean of their stops (scaled to the rows); most did not → none. */
    if (same_key && 2 * n_with > r->cv_folds) {
        long v = lround(iters / n_with);
        char key[32];
        snprintf(key, sizeof key, "%.31s", cr->param);
        snprintf(cr->param, sizeof cr->param, "%s%ld", key, v > 1 ? v : 1);
        cr->decided = true;
    } else if (same_key) {
        cr->param[0] = 0;
        cr->decided = true;
    }
    return sum / r->cv_folds;
}

static int on_progress(void *ud, const char *family, int iter, int n_iter, double tl, double vl) {
    fw__fit_ctx *c = ud;
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
    fo.checkpoint_dir = o->checkpoint_dir;
    fo.checkpoint_every = o->checkpoint_every;
    return fo;
}

/* Adds "key=value" to the trial's record, replacing a parameter with the same key (the user's
 * value wins, as in the fit), so the record is the set of parameters in force and retraining from
 * it (`flywheel reproduce`) records the same list again. */
static void record_param(fw_trial *t, const char *kv) {
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) + 1 : strlen(kv);
    for (size_t i = 0; i < t->n_params; i++)
        if (strncmp(t->params[i], kv, klen) == 0) {
            snprintf(t->params[i], FW_SEARCH_PARAM_LEN, "%s", kv);
            return;
        }
    if (t->n_params < FW_SEARCH_MAX_PARAMS) snprintf(t->params[t->n_params++], FW_SEARCH_PARAM_LEN, "%s", kv);
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

fw_status fw__train_fit_family(fw__fit_ctx *c, const char *family, fw_candidate *cand, double budget_s) {
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
    /* cross-validation: each trial's fold scores and out-of-fold predictions; the best trial's kept */
    size_t n_pool = r->split.n_train + r->split.n_valid;
    double *folds = NULL, *best_folds = NULL, *oof = NULL, *best_oof = NULL;
    if (r->cv_folds > 1) {
        size_t po = n_pool * r->target.n_outputs;
        folds = fw_calloc(r->cv_folds, sizeof(double));
        best_folds = fw_calloc(r->cv_folds, sizeof(double));
        oof = fw_calloc(po ? po : 1, sizeof(double));
        best_oof = fw_calloc(po ? po : 1, sizeof(double));
        if (!folds || !best_folds || !oof || !best_oof) {
            fw_free(folds);
            fw_free(best_folds);
            fw_free(oof);
            fw_free(best_oof);
            return FW_ENOMEM;
        }
    }
    fw_trial best_trial;
    memset(&best_trial, 0, sizeof best_trial);
    fw__cv_refit best_cr = {0};
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
        /* Every linear trial: stop L-BFGS where the validation loss starts to climb (wide data
         * with a weak l2 overfits long before the solver converges). */
        if (strcmp(family, "linear") == 0 && trial.n_params < FW_SEARCH_MAX_PARAMS)
            snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "early_stopping_rounds=20");
        /* Every gbdt trial: a decision metric (accuracy, F1, ...) keeps improving long after the
         * validation log loss turns up (over-confident probabilities): stop on the error then. */
        if (strcmp(family, "gbdt") == 0 && decision_metric(r) && trial.n_params < FW_SEARCH_MAX_PARAMS)
            snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "early_stopping_metric=error");
        /* Ranking: LambdaMART stops on the validation queries' NDCG at the primary metric's cutoff */
        unsigned long at = 0;
        if (strcmp(family, "gbdt") == 0 && r->q_train && r->project.metric &&
            sscanf(r->project.metric, "ndcg@%lu", &at) == 1 && at > 0 && at != 10 &&
            trial.n_params < FW_SEARCH_MAX_PARAMS)
            snprintf(trial.params[trial.n_params++], FW_SEARCH_PARAM_LEN, "ndcg_at=%lu", at);
        /* the project's (objective, hierarchy) after the drawn ones, and the user's last: last one wins */
        const char *params[2 * FW_SEARCH_MAX_PARAMS + 4];
        size_t np = fw_trial_params(&trial, params);
        np += fw__train_project_params(r, family, params + np, 4);
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
        fw__cv_refit cr = {0};
        double s = r->cv_folds > 1 ? cv_score(c, family, &fo, &err, folds, oof, &cr) : valid_score(r, m, &err);
        if (isnan(s)) s = -INFINITY;
        if (!best || s > best_score) {
            if (folds) {
                double *t1 = best_folds, *t2 = best_oof;
                best_folds = folds;
                best_oof = oof;
                folds = t1;
                oof = t2;
            }
            fw_model_free(best);
            best = m;
            best_score = s;
            best_trial = trial;
            best_cr = cr;
            for (size_t i = 0; i < n_user; i++) record_param(&best_trial, user[i]);
        } else {
            fw_model_free(m);
        }
        if (!r->split.n_valid && r->cv_folds < 2) break; /* nothing to select on */
    }
    if (c->progress) fw_progress_end(c->progress);
    cand->valid_score = best ? best_score : NAN;
    if (isinf(cand->valid_score)) cand->valid_score = NAN;
    cand->train_seconds = fw_now_seconds() - start;
    fw_free(folds);
    fw_free(oof);
    cand->cv_mean = cand->cv_std = NAN;
    if (best_folds && best && isfinite(best_score)) {
        double sum = 0, ss = 0;
        for (uint32_t f = 0; f < r->cv_folds; f++) sum += best_folds[f];
        cand->cv_mean = sum / r->cv_folds;
        for (uint32_t f = 0; f < r->cv_folds; f++) ss += (best_folds[f] - cand->cv_mean) * (best_folds[f] - cand->cv_mean);
        cand->cv_std = sqrt(ss / (r->cv_folds - 1));
        cand->cv_scores = best_folds;
        cand->n_cv_scores = r->cv_folds;
        cand->oof_pred = best_oof;
    } else {
        fw_free(best_folds);
        fw_free(best_oof);
    }
    if (c->progress && best) {
        if (cand->n_cv_scores)
            fw_progress_log(c->progress, "%s: %zu trial(s), %u-fold cross-validation %s %.4f +/- %.4f, %.2f s", family,
                            cand->trials, cand->n_cv_scores, r->project.metric ? r->project.metric : "score",
                            cand->cv_mean, cand->cv_std, cand->train_seconds);
        else
            fw_progress_log(c->progress, "%s: %zu trial(s), %.2f s", family, cand->trials, cand->train_seconds);
    }
    if (!best) {
        cand->failed = true;
        snprintf(cand->error, sizeof cand->error, "%s", err.msg[0] ? err.msg : fw_strerror(last));
        return last ? last : FW_EDATA;
    }
    cand->cv_refit = best_cr.decided;
    snprintf(cand->cv_refit_param, sizeof cand->cv_refit_param, "%s", best_cr.param);
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
fw_status fw__train_fit_baseline(fw_train_result *r, const fw_train_options *o, fw_candidate *cand,
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
         * bind against every dataset column instead, in dataset order. Serving and batch records
         * carry only the features: say so when the rule reads another column. */
        for (size_t c = 0; c < r->rule.n_conds; c++) {
            bool found = false;
            for (size_t i = 0; i < ni && !found; i++) found = strcmp(names[i], r->rule.conds[c].column) == 0;
            if (!found)
                fw__train_warn(r, "baseline rule reads '%s', which is not a feature: served and batch records do not "
                                  "carry it, so there the condition is never true (the fallback answers the else value)",
                               r->rule.conds[c].column);
        }
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
    case FW_BASELINE_FEATURE: kind = "kind=feature"; break;
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
fw_status fw__train_check_latency_budget(fw_train_result *r, size_t *n_within, fw_err *err) {
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
        fw__train_warn(r, "no model meets the p99 latency budget of %.4g ms: chose on the metric alone",
             r->project.constraints.p99_latency_ms);
    return FW_OK;
}

/* The chosen candidate once more, on the training and validation rows together, with its chosen
 * parameters and what its family needs for the larger set (gbdt: the rounds early stopping kept,
 * scaled); the validation rows then serve no early stopping. Deterministic like any fit. */
fw_status fw__train_refit(fw_train_result *r, const fw_train_options *o, fw_candidate *c, fw_err *err) {
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
    uint32_t *q_all = NULL;
    if (r->q_train) { /* ranking: the two sides' query ids, in the same order as the rows */
        q_all = fw_malloc(n_all * sizeof(uint32_t));
        if (!q_all) {
            fw_matrix_free(&X_all);
            fw_free(y_all);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        memcpy(q_all, r->q_train, r->split.n_train * sizeof(uint32_t));
        memcpy(q_all + r->split.n_train, r->q_valid, r->split.n_valid * sizeof(uint32_t));
    }
    fw_train_data d;
    train_data(r, &d);
    d.X = &X_all;
    d.y = y_all;
    d.X_valid = NULL;
    d.y_valid = NULL;
    double *w_all = NULL;
    if (r->fit.w_train) {
        if (!(w_all = fw_malloc(n_all * sizeof(double)))) {
            fw_matrix_free(&X_all);
            fw_free(y_all);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        memcpy(w_all, r->fit.w_train, r->split.n_train * sizeof(double));
        if (r->split.n_valid) memcpy(w_all + r->split.n_train, r->fit.w_valid, r->split.n_valid * sizeof(double));
    }
    d.weight = w_all;
    d.query = q_all;
    d.query_valid = NULL;
    char extra[4][FW_REFIT_PARAM_LEN];
    size_t n_extra = 0;
    if (c->cv_refit) { /* the folds decided it (see cv_score) */
        snprintf(extra[0], sizeof extra[0], "%s", c->cv_refit_param);
        n_extra = extra[0][0] ? 1 : 0;
    } else if (c->model->vt->refit_params) {
        n_extra = c->model->vt->refit_params(c->model, (double)n_all / (double)r->split.n_train, extra, 4);
    }
    const char *params[FW_SEARCH_MAX_PARAMS + 8];
    size_t np = fw__train_project_params(r, c->family, params, 4); /* recorded ones (the user's) win */
    for (size_t i = 0; i < c->n_params && np < FW_SEARCH_MAX_PARAMS + 4; i++) params[np++] = c->params[i];
    for (size_t i = 0; i < n_extra; i++) params[np++] = extra[i]; /* last one wins */
    fw_fit_options fo = fit_options(r, o, params, np);
    fw_model *m = NULL;
    st = fw_model_fit(c->family, &d, &fo, &m, err);
    if (!st) r->train_fingerprint = fw__train_fingerprint(&X_all, y_all, n_all * per); /* the rows it saw */
    fw_matrix_free(&X_all);
    fw_free(y_all);
    fw_free(w_all);
    fw_free(q_all);
    if (st) return fw_err_prefix(err, "refitting %s on the training and validation rows", c->name);
    if (adopt_model(c, m)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    c->refit = true;
    c->refit_rows = n_all;
    c->refit_seconds = fw_now_seconds() - start;
    return FW_OK;
}
