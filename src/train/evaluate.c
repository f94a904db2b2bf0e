/* evaluate.c — owns step 4 of a training run: each candidate's test predictions (a rule baseline
 * scores raw rows), its metrics against the primary metric's options, per-slice reports, single-row
 * latency, and permutation importance within a time budget. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "eval/importance.h"
#include "eval/weighted.h"
#include "features/record.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

fw_eval_options fw__train_eval_opts(const fw_train_result *r) {
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = r->project.metric;
    /* the project's metrics: list: each one computed (ranking "@k" cutoffs included) and shown */
    eo.metrics = (const char *const *)r->project.extra_metrics;
    eo.n_metrics = r->project.n_extra_metrics;
    return eo;
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

/* data.weight: the test metrics weighted by the column, when the test rows have it. A test row
 * whose weight is missing or negative leaves them out, with a note (the fit refuses such rows in
 * training; a separate test file is not checked before this point). */
static fw_status weighted_metrics(const fw_train_result *r, fw_candidate *c, const fw_eval_options *eo, fw_err *err) {
    const char *wc = r->project.weight_column;
    int col = wc ? fw_dataset_find(r->eval_ds, wc) : -1;
    if (col < 0 || !r->eval_ds->cols[col].num || !r->n_test) return FW_OK;
    double *w = fw_malloc(r->n_test * sizeof *w);
    if (!w) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_test; i++) w[i] = r->eval_ds->cols[col].num[r->test_rows[i]];
    fw_metric_set_free(&c->weighted_metrics);
    fw_err e2;
    fw_err_clear(&e2);
    fw_status st = fw_eval_weighted(r->target.task, r->y_test, c->test_pred, w, r->n_test, r->target.n_outputs,
                                    eo->threshold, &c->weighted_metrics, &e2);
    fw_free(w);
    if (st == FW_ENOMEM) return fw_err_set(err, st, "out of memory");
    if (st) {
        fw_metric_set_free(&c->weighted_metrics);
        fprintf(stderr, "flywheel: note: %s: no metrics weighted by '%s' (test %s)\n", c->name, wc, e2.msg);
    }
    return FW_OK;
}

/* Fills pick with `rows` test-row indexes spread evenly over n (a stride sample); returns pick. */
static const uint32_t *pick_rows(uint32_t *pick, size_t rows, size_t n) {
    for (size_t i = 0; i < rows; i++) pick[i] = (uint32_t)((i * n) / rows);
    return pick;
}

fw_status fw__train_evaluate(fw_train_result *r, fw_candidate *c, const fw_train_options *o, fw_err *err) {
    size_t k = r->target.n_outputs;
    c->test_pred = fw_malloc(r->n_test * k * sizeof(double));
    if (!c->test_pred) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_status st = fw_train_predict_candidate(r, c, c->test_pred, err);
    if (st) return st;
    fw_eval_options eo = fw__train_eval_opts(r);
    if (r->has_threshold) eo.threshold = r->threshold.threshold;
    eo.query = r->q_test;
    st = fw_eval_compute(r->target.task, r->y_test, c->test_pred, r->n_test, k, &eo, &c->metrics, err);
    if (st) return fw_err_prefix(err, "evaluating %s", c->name);
    if ((st = fw__train_group_metrics(r, c, err))) return st;
    if ((st = weighted_metrics(r, c, &eo, err))) return st;
    {
        /* how far each test figure could move on another draw of test rows (seeded) */
        fw_bootstrap_options bo;
        fw_bootstrap_options_init(&bo);
        bo.seed = r->seed;
        bo.threads = r->threads;
        st = fw_eval_bootstrap(r->target.task, r->y_test, c->test_pred, r->n_test, k, &eo, &bo, &c->metrics,
                               &c->ci, &c->n_ci, &c->ci_resamples, err);
        if (st) return fw_err_prefix(err, "confidence intervals of %s", c->name);
    }
    for (size_t e = 0; e < r->project.n_extra_metrics; e++) {
        double v;
        if (!fw_metric_set_get(&c->metrics, r->project.extra_metrics[e], &v))
            fprintf(stderr, "flywheel: note: metric '%s' is not computed for a %s task\n",
                    r->project.extra_metrics[e], fw_task_name(r->target.task));
    }
    if (r->project.n_group_columns) {
        /* a class hierarchy: every slice is also scored at the group level */
        double *yg = NULL, *pg = NULL;
        if ((st = fw__train_group_scores(r, c, &yg, &pg, err))) return st;
        fw_eval_options geo = eo;
        geo.metrics = NULL;
        geo.n_metrics = 0;
        c->slices = fw_calloc(r->project.n_group_columns, sizeof(fw_slice_report));
        if (yg) c->group_slices = fw_calloc(r->project.n_group_columns, sizeof(fw_slice_report));
        if (!c->slices || (yg && !c->group_slices)) {
            fw_free(yg);
            fw_free(pg);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        for (size_t g = 0; g < r->project.n_group_columns; g++) {
            int col = fw_dataset_find(r->eval_ds, r->project.group_columns[g]);
            if (col < 0) {
                st = fw_err_set(err, FW_ENOTFOUND, "group column '%s' not in the test data", r->project.group_columns[g]);
                break;
            }
            fw_group_codes gc;
            st = fw_dataset_group_codes(r->eval_ds, (size_t)col, r->test_rows, r->n_test, &gc);
            if (st == FW_OK)
                st = fw_eval_slices(r->target.task, r->y_test, c->test_pred, r->n_test, k, &eo,
                                    r->project.group_columns[g], gc.codes, gc.names, gc.n_names, 30, &c->slices[g], err);
            else
                fw_err_set(err, st, "out of memory");
            c->n_slices = g + 1;
            if (st == FW_OK && yg)
                st = fw_eval_slices(FW_TASK_MULTICLASS, yg, pg, r->n_test, r->fit.n_groups, &geo,
                                    r->project.group_columns[g], gc.codes, gc.names, gc.n_names, 30,
                                    &c->group_slices[g], err);
            fw_group_codes_free(&gc);
            if (st) break;
        }
        fw_free(yg);
        fw_free(pg);
        if (st) return st;
    }
    if (c->model) {
        fw__phase tl = fw__phase_begin();
        st = fw_eval_latency_model(c->model, &r->X_test, 2000, &c->latency, err);
        fw__phase_end(r, FW_TRAIN_PHASE_LATENCY, tl);
        if (st) return st;
        tl = fw__phase_begin();
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
            /* At most FW_TRAIN_IMPORTANCE_MAX_ROWS test rows (a stride sample, the same for
             * every run): enough to rank the features, and a fixed cost beside a fit on big
             * data (100k test rows x 50 features took 13 CPU-s against the fit's 9). */
            size_t rows = r->n_test < FW_TRAIN_IMPORTANCE_MAX_ROWS ? r->n_test : FW_TRAIN_IMPORTANCE_MAX_ROWS;
            double budget_s = FW_TRAIN_IMPORTANCE_BUDGET_S;
            if (passes * (double)rows * per_row_s > budget_s) {
                double fit = budget_s / (passes * per_row_s);
                rows = fit < 200 ? 0 : (size_t)fit;
            }
            if (rows == 0 || r->X_test.n_dense > 1000) {
                fw__train_warn(r, "%s: permutation importance skipped (%zu features x %zu test rows at %.3g us per row exceeds %.0f s)",
                     c->name, r->X_test.n_dense, r->n_test, c->latency.mean_us, budget_s);
            } else {
                fw_matrix Xs;
                memset(&Xs, 0, sizeof Xs);
                double *ys = NULL;
                uint32_t *qs = NULL;
                fw_eval_options eo_imp = eo;
                const fw_matrix *X = &r->X_test;
                const double *y = r->y_test;
                if (rows < r->n_test) { /* every step-th test row */
                    size_t per = r->target.task == FW_TASK_MULTILABEL ? k : 1;
                    uint32_t *pick = fw_malloc(rows * sizeof(uint32_t));
                    ys = fw_malloc(rows * per * sizeof(double));
                    qs = r->q_test ? fw_malloc(rows * sizeof(uint32_t)) : NULL;
                    if (!pick || !ys || (r->q_test && !qs) ||
                        fw_matrix_select(&r->X_test, pick_rows(pick, rows, r->n_test), rows, &Xs)) {
                        fw_free(pick);
                        fw_free(ys);
                        fw_free(qs);
                        return fw_err_set(err, FW_ENOMEM, "out of memory sampling rows for importance");
                    }
                    for (size_t i = 0; i < rows; i++)
                        memcpy(ys + i * per, r->y_test + (size_t)pick[i] * per, per * sizeof(double));
                    if (qs) {
                        for (size_t i = 0; i < rows; i++) qs[i] = r->q_test[pick[i]];
                        eo_imp.query = qs;
                    }
                    fw_free(pick);
                    X = &Xs;
                    y = ys;
                }
                /* a family that can re-score one changed column faster (gbdt: only the trees that
                 * split on it) does, with the same predictions bit for bit */
                fw_col_scorer *cs = NULL;
                fw_status cst = fw_model_col_scorer(c->model, X, r->threads, &cs);
                if (cst == FW_ENOMEM) st = fw_err_set(err, cst, "out of memory");
                io.col_scorer = cs;
                io.threads = r->threads;
                if (!st)
                    st = fw_eval_permutation_importance(r->target.task, X, y, k, &eo_imp, fw_eval_predict_model,
                                                        c->model, &io, &imp, err);
                if (cs) cs->free(cs);
                fw_matrix_free(&Xs);
                fw_free(ys);
                fw_free(qs);
                if (st) return st;
                c->importance = imp.mean;
                c->importance_std = imp.std;
                snprintf(c->importance_metric, sizeof c->importance_metric, "%s", imp.metric);
                c->importance_repeats = io.n_repeats;
                c->importance_rows = rows;
                imp.mean = imp.std = NULL;
                fw_importance_free(&imp);
            }
        }
        fw__phase_end(r, FW_TRAIN_PHASE_IMPORTANCE, tl);
    }
    return FW_OK;
}
