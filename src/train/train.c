/* train.c — owns the training run: data → split → target + pipeline → candidates → evaluation →
 * choice, by calling the steps in order (prepare.c, candidates.c, evaluate.c), and the result's
 * lifetime. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/threads.h"
#include "data/load.h"
#include "dist/dist_load.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
    fw_status st = fw_dist_load(path, &lo, out, &res, NULL, err); /* under mpirun: each rank parses its share */
    if (st) return st;
    if (res.rejected && o->progress)
        fprintf(stderr, "flywheel: %s: %zu bad rows skipped (first: %s)\n", path, res.rejected,
                res.n_kept ? res.kept[0].msg : "");
    return FW_OK;
}

void fw__train_warn(fw_train_result *r, const char *fmt, ...) {
    if (r->n_warnings == FW_TRAIN_MAX_WARNINGS) {
        r->n_warnings_dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->n_warnings++], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
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

const char *fw_train_phase_name(int phase) {
    static const char *const names[FW_TRAIN_N_PHASES] = {"load",    "prepare", "fit",       "refit",
                                                         "predict", "latency", "importance"};
    return phase >= 0 && phase < FW_TRAIN_N_PHASES ? names[phase] : "?";
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
    fw__phase tp = fw__phase_begin(), t_after_fit;
    if ((st = load_file(&r->project, r->project.train_path, o, &r->train_ds, err))) return st;
    const char *test_path = o->test_path ? o->test_path : r->project.test_path;
    if (test_path && (st = load_file(&r->project, test_path, o, &r->test_ds, err))) return st;
    fw__phase_end(r, FW_TRAIN_PHASE_LOAD, tp);
    tp = fw__phase_begin();
    if ((st = fw_project_resolve(&r->project, r->train_ds, err))) return st;
    for (const char *s = r->project.notes; s && *s;) { /* what resolving decided on its own */
        const char *e = strchr(s, '\n');
        int len = e ? (int)(e - s) : (int)strlen(s);
        fw__train_warn(r, "%.*s", len, s);
        s += len + (e ? 1 : 0);
    }
    if ((st = fw_eval_check_metric(r->project.task, r->project.metric, err))) return st;
    for (size_t i = 0; i < r->project.n_extra_metrics; i++) /* metrics: each one is shown */
        if ((st = fw_eval_check_metric(r->project.task, r->project.extra_metrics[i], err)))
            return fw_err_prefix(err, "metrics");
    if ((st = fw__train_make_split(r, err))) return st;
    if ((st = fw__train_prepare(r, o, err))) return st;
    if (!o->families && r->split.n_train > FW_TRAIN_KNN_DEFAULT_MAX_ROWS) {
        /* knn is brute force: O(training rows) per prediction. Not a default on big data. */
        size_t k = 0;
        for (size_t f = 0; f < n_fams; f++)
            if (strcmp(fams[f], "knn") != 0) memcpy(fams[k++], fams[f], sizeof fams[f]);
        if (k < n_fams)
            fw__train_warn(r, "knn left out of the default families: %zu training rows (each prediction scans them all; ask for it with --models)",
                 r->split.n_train);
        n_fams = k;
    }

    if (!o->families) {
        /* knn by its known cost (train.h): rarely the winner, often most of the run */
        double d = (double)r->X_train.n_dense, n_tr = (double)r->split.n_train, n_te = (double)r->n_test;
        double n_pool = (double)(r->split.n_train + r->split.n_valid);
        double select = r->cv_folds > 1 ? n_pool * n_pool * (double)(r->cv_folds - 1) / (double)r->cv_folds
                                        : (double)r->split.n_valid * n_tr;
        double passes = d * ((d > 200 ? 1 : 3) + 1);
        double imp_s = n_te * n_tr * d * passes / FW_TRAIN_KNN_TERMS_PER_S;
        if (imp_s > FW_TRAIN_IMPORTANCE_BUDGET_S) imp_s = FW_TRAIN_IMPORTANCE_BUDGET_S;
        double est_s = (select + (n_te + 2000) * n_tr) * d / FW_TRAIN_KNN_TERMS_PER_S + (o->importance ? imp_s : 0);
        size_t k = 0;
        for (size_t f = 0; f < n_fams; f++)
            if (strcmp(fams[f], "knn") != 0 || est_s <= FW_TRAIN_KNN_DEFAULT_BUDGET_S) memcpy(fams[k++], fams[f], sizeof fams[f]);
        if (k < n_fams)
            fw__train_warn(r, "knn left out of the default families: estimated %.0f s (brute-force distances over %zu training rows x %zu features, "
                              "%.0f s of it permutation importance), over the %.0f s budget; ask for it with --models",
                           est_s, r->split.n_train, r->X_train.n_dense, o->importance ? imp_s : 0.0, FW_TRAIN_KNN_DEFAULT_BUDGET_S);
        n_fams = k;
    }
    if (!o->families && fw_project_has_hierarchy(&r->project) && r->target.task == FW_TASK_MULTICLASS && n_fams < 8)
        memcpy(fams[n_fams++], "hier", 5); /* a declared hierarchy: its family is a default candidate */
    for (size_t i = 0; i < o->n_params; i++) {
        /* a parameter for a family that is not trained this run would otherwise be ignored */
        bool used = false;
        for (size_t f = 0; f < n_fams && !used; f++) {
            size_t fl = strlen(fams[f]);
            used = strncmp(o->params[i], fams[f], fl) == 0 && o->params[i][fl] == '.';
        }
        if (!used) fw__train_warn(r, "--param %s is not used: that family is not trained in this run", o->params[i]);
    }
    fw__phase_end(r, FW_TRAIN_PHASE_PREPARE, tp);
    tp = fw__phase_begin();
    r->n_cands = 1 + n_fams;
    r->cands = fw_calloc(r->n_cands, sizeof(fw_candidate));
    if (!r->cands) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_cands; i++) {
        fw_metric_set_init(&r->cands[i].metrics);
        fw_metric_set_init(&r->cands[i].group_metrics);
        fw_metric_set_init(&r->cands[i].weighted_metrics);
        r->cands[i].cv_mean = r->cands[i].cv_std = NAN;
    }
    if ((st = fw__train_fit_baseline(r, o, &r->cands[0], err))) return st;

    fw_progress prog;
    fw_progress_init(&prog, o->progress);
    fw__fit_ctx ctx = {r, o, o->progress ? &prog : NULL};
    double per_family = o->time_budget_s > 0 ? o->time_budget_s / (double)(n_fams ? n_fams : 1) : 0;
    size_t n_ok = 0;
    for (size_t f = 0; f < n_fams; f++) {
        fw_candidate *c = &r->cands[1 + f];
        snprintf(c->name, sizeof c->name, "%.63s", fams[f]);
        c->family = fw_model_family(fams[f])->family;
        fw_status fs = fw__train_fit_family(&ctx, fams[f], c, per_family);
        if (fs == FW_ENOMEM) return fw_err_set(err, FW_ENOMEM, "out of memory training %s", fams[f]);
        if (fs == FW_OK) n_ok++; /* a failed family keeps its message in c->error for the caller */
    }
    if (n_fams && n_ok == 0) return fw_err_set(err, FW_EDATA, "every model family failed; first: %s: %s", r->cands[1].name, r->cands[1].error);

    fw__phase_end(r, FW_TRAIN_PHASE_FIT, tp);
    t_after_fit = fw__phase_begin();
    /* The project's p99 latency budget: a model over it is chosen only when none is within. */
    size_t n_within = 0;
    if ((st = fw__train_check_latency_budget(r, &n_within, err))) return st;
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
        fw__train_warn(r, "%s scored best on validation but its p99 latency (%.3g us) is over the %.4g ms budget; chose %s",
             r->cands[best_any].name, r->cands[best_any].select_p99_us, r->project.constraints.p99_latency_ms,
             r->cands[r->best].name);
    if (r->best == 0) have_valid = false;
    r->selected_on_test = !have_valid;
    const fw_candidate *chosen = &r->cands[r->best];
    if (r->target.task == FW_TASK_BINARY && have_valid && chosen->model && r->cv_folds > 1 && chosen->oof_pred) {
        /* The decision threshold: the project's rule on the chosen parameters' out-of-fold
         * predictions (every training-side row, scored by a model that did not see it) — far
         * steadier than the validation holdout alone. */
        fw_threshold_options to;
        fw_threshold_options_from_project(&r->project.constraints, &to);
        size_t n_pool = r->split.n_train + r->split.n_valid, at = 0;
        double *yo = fw_malloc((n_pool ? n_pool : 1) * sizeof(double));
        if (!yo) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (uint32_t f = 0; f < r->cv_folds; f++) {
            memcpy(yo + at, r->cv[f].y_score, r->cv[f].X_score.n_rows * sizeof(double));
            at += r->cv[f].X_score.n_rows;
        }
        st = fw_eval_threshold(yo, chosen->oof_pred, at, &to, &r->threshold, err);
        fw_free(yo);
        if (st) return fw_err_prefix(err, "choosing the decision threshold");
        r->threshold.rows = "out-of-fold";
        r->threshold.n_rows = at;
        r->has_threshold = true;
    } else if (r->target.task == FW_TASK_BINARY && have_valid && r->split.n_valid && chosen->model) {
        /* The decision threshold: the project's rule on the chosen model's validation predictions. */
        fw_threshold_options to;
        fw_threshold_options_from_project(&r->project.constraints, &to);
        double *pv = fw_malloc(r->split.n_valid * sizeof(double));
        if (!pv) return fw_err_set(err, FW_ENOMEM, "out of memory");
        st = fw_model_predict_block(r->cands[r->best].model, &r->X_valid, r->threads, pv);
        if (!st) st = fw_eval_threshold(r->y_valid, pv, r->split.n_valid, &to, &r->threshold, err);
        fw_free(pv);
        if (st) return fw_err_prefix(err, "choosing the decision threshold");
        r->threshold.rows = "validation";
        r->threshold.n_rows = r->split.n_valid;
        r->has_threshold = true;
    }
    bool want_refit = r->project.refit == FW_REFIT_ON ||
                      (r->project.refit == FW_REFIT_AUTO &&
                       r->split.n_train + r->split.n_valid <= FW_TRAIN_REFIT_AUTO_ROWS);
    if (want_refit && have_valid && r->split.n_valid && r->cands[r->best].model) {
        fw__phase tr = fw__phase_begin();
        if ((st = fw__train_refit(r, o, &r->cands[r->best], err))) return st;
        fw__phase_end(r, FW_TRAIN_PHASE_REFIT, tr);
    }
    for (size_t i = 0; i < r->n_cands; i++) {
        fw_candidate *c = &r->cands[i];
        if (c->failed) continue;
        double te = fw_now_seconds();
        fw_progress_begin(&prog, c->name, 0);
        fw_progress_phase(&prog, c->name, "test metrics, intervals, importance: model", (unsigned)i + 1, (unsigned)r->n_cands);
        if ((st = fw__train_evaluate(r, c, o, err))) return st;
        fw_progress_end(&prog);
        fw_progress_log(&prog, "%s: evaluated on %zu test rows (metrics, %zu bootstrap resamples, importance) in %.2f s",
                        c->name, r->n_test, c->ci_resamples, fw_now_seconds() - te);
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
    /* predict: what the steps after the fit took besides the refit, latency and importance */
    fw__phase_end(r, FW_TRAIN_PHASE_PREDICT, t_after_fit);
    for (int ph = FW_TRAIN_PHASE_REFIT; ph < FW_TRAIN_N_PHASES; ph++)
        if (ph != FW_TRAIN_PHASE_PREDICT) {
            r->phase_seconds[FW_TRAIN_PHASE_PREDICT] -= r->phase_seconds[ph];
            r->phase_cpu_seconds[FW_TRAIN_PHASE_PREDICT] -= r->phase_cpu_seconds[ph];
        }
    return FW_OK;
}

static void free_candidate(fw_candidate *c) {
    fw_free(c->params_json);
    for (size_t i = 0; i < c->n_params; i++) fw_free(c->params[i]);
    fw_free(c->params);
    fw_model_free(c->model);
    fw_free(c->test_pred);
    fw_metric_set_free(&c->metrics);
    fw_metric_set_free(&c->group_metrics);
    fw_metric_set_free(&c->weighted_metrics);
    fw_free(c->importance);
    fw_free(c->importance_std);
    for (size_t i = 0; i < c->n_slices; i++) fw_slice_report_free(&c->slices[i]);
    fw_free(c->slices);
    for (size_t i = 0; c->group_slices && i < c->n_slices; i++) fw_slice_report_free(&c->group_slices[i]);
    fw_free(c->group_slices);
    fw_free(c->cv_scores);
    fw_free(c->oof_pred);
    fw_free(c->ci);
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
        fw_free(r->cv[f].w_fit);
        fw_free(r->cv[f].q_fit);
        fw_free(r->cv[f].q_score);
    }
    fw__train_project_fit_free(&r->fit);
    fw_free(r->cv);
    fw_free(r->y_train);
    fw_free(r->y_valid);
    fw_free(r->y_test);
    fw__train_free_queries(r);
    fw_pipeline_free(r->pipeline);
    fw_target_free(&r->target);
    fw_free(r->test_rows);
    fw_split_free(&r->split);
    fw_dataset_free(r->train_ds);
    fw_dataset_free(r->test_ds);
    fw_project_free(&r->project);
    memset(r, 0, sizeof *r);
}
