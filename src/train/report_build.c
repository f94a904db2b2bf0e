/* report_build.c — owns the mapping from fw_train_result to fw_report. Failed candidates are left
 * out of the report (the CLI prints their errors). */
#include "train/report_build.h"

#include "core/alloc.h"

#include <string.h>

fw_status fw_train_report_build(const fw_train_result *r, fw_train_report *out) {
    memset(out, 0, sizeof *out);
    out->models = fw_calloc(r->n_cands, sizeof(fw_report_model));
    size_t nd = fw_pipeline_n_dense(r->pipeline);
    out->dense_names = fw_calloc(nd ? nd : 1, sizeof(char *));
    out->dense_inputs = fw_calloc(nd ? nd : 1, sizeof(char *));
    if (!out->models || !out->dense_names || !out->dense_inputs) {
        fw_train_report_free(out);
        return FW_ENOMEM;
    }
    for (size_t j = 0; j < nd; j++) {
        out->dense_names[j] = fw_pipeline_dense_name(r->pipeline, j);
        out->dense_inputs[j] = fw_pipeline_dense_input_name(r->pipeline, j);
    }
    size_t n = 0;
    for (size_t i = 0; i < r->n_cands; i++) {
        const fw_candidate *c = &r->cands[i];
        if (c->failed) continue;
        fw_report_model *m = &out->models[n++];
        m->name = c->name;
        m->family = c->family;
        m->params_json = c->params_json;
        m->train_seconds = c->train_seconds + (c->refit ? c->refit_seconds : 0);
        m->refit_rows = c->refit ? c->refit_rows : 0;
        m->refit_seconds = c->refit ? c->refit_seconds : 0;
        m->metrics = &c->metrics;
        m->has_latency = c->model != NULL;
        m->latency = c->latency;
        m->size_bytes = c->size_bytes;
        if (c->importance) {
            m->importance = c->importance;
            m->importance_names = out->dense_names;
            m->n_importance = nd;
            m->importance_inputs = out->dense_inputs;
            m->importance_metric = c->importance_metric[0] ? c->importance_metric : NULL;
            m->importance_repeats = c->importance_repeats;
            m->importance_rows = c->importance_rows;
        }
        if (r->target.task == FW_TASK_REGRESSION && c->test_pred) {
            m->test_y = r->y_test;
            m->test_pred = c->test_pred;
            m->n_test = r->n_test;
        }
        m->slices = c->slices;
        m->n_slices = c->n_slices;
        m->group_slices = c->group_slices;
        m->threshold = r->has_threshold ? &r->threshold : NULL;
        m->group_metrics = r->fit.group_of && c->group_metrics.n_items ? &c->group_metrics : NULL;
        m->weighted = c->weighted_metrics.n_items ? &c->weighted_metrics : NULL;
        m->cv_scores = c->cv_scores;
        m->n_cv_scores = c->n_cv_scores;
        m->cv_mean = c->cv_mean;
        m->cv_std = c->cv_std;
        m->ci = c->ci;
        m->n_ci = c->n_ci;
        m->ci_resamples = c->ci_resamples;
        m->ci_level = 0.95;
    }
    fw_report *rep = &out->report;
    rep->title = r->project.name;
    rep->task = r->target.task;
    rep->primary_metric = r->project.metric;
    rep->min_improvement = r->project.constraints.min_improvement;
    rep->p99_budget_us = r->project.constraints.p99_latency_ms * 1000.0;
    rep->models = out->models;
    rep->n_models = n;
    rep->baseline = r->cands[0].failed ? NULL : &out->models[0];
    rep->best = r->cands[r->best].name;
    rep->metrics = (const char *const *)r->project.extra_metrics;
    rep->n_metrics = r->project.n_extra_metrics;
    rep->weight_column = r->project.weight_column;
    if (r->target.n_classes) {
        rep->class_names = (const char *const *)r->target.class_names;
        rep->n_classes = r->target.n_classes;
    }
    return FW_OK;
}

void fw_train_report_free(fw_train_report *tr) {
    fw_free(tr->models);
    fw_free(tr->dense_names);
    fw_free(tr->dense_inputs);
    memset(tr, 0, sizeof *tr);
}
