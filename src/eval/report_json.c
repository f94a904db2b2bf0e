/* report_json.c — owns the JSON rendering of the training report (shape documented in
 * docs/REPORT_JSON.md), built with jansson. Non-finite numbers are written as null. Key order is
 * fixed (insertion order), so the same report gives the same bytes. Jansson allocates through its
 * own (process-wide) allocator hooks; this file never changes them. */
#include "eval/report_int.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* A JSON string; text that is not valid UTF-8 is replaced rather than failing the report. */
static json_t *str(const char *s) {
    json_t *v = json_string(s ? s : "");
    return v ? v : json_string("(invalid UTF-8)");
}

/* json_object_set_new that records a failure instead of leaking. */
static void set(json_t *o, const char *k, json_t *v, int *bad) {
    if (!o || !v || json_object_set_new(o, k, v)) *bad = 1;
}
static void push(json_t *a, json_t *v, int *bad) {
    if (!a || !v || json_array_append_new(a, v)) *bad = 1;
}

static json_t *metrics_obj(const fw_metric_set *s, int *bad) {
    json_t *o = json_object();
    for (size_t i = 0; i < s->n_items; i++) set(o, s->items[i].name, num(s->items[i].value), bad);
    return o;
}

static json_t *threshold_obj(const fw_threshold_choice *t, int *bad) {
    if (!t) return json_null();
    json_t *o = json_object();
    set(o, "rule", str(fw_threshold_rule_name(t->rule)), bad);
    set(o, "value", num(t->threshold), bad);
    set(o, "reached", json_boolean(t->reached), bad);
    set(o, "precision", num(t->precision), bad);
    set(o, "recall", num(t->recall), bad);
    set(o, "f1", num(t->f1), bad);
    set(o, "accuracy", num(t->accuracy), bad);
    set(o, "cost", num(t->cost), bad);
    set(o, "rows", t->rows ? str(t->rows) : json_null(), bad);
    set(o, "n_rows", json_integer((json_int_t)t->n_rows), bad);
    json_t *c = json_object();
    set(c, "tp", json_integer((json_int_t)t->tp), bad);
    set(c, "fp", json_integer((json_int_t)t->fp), bad);
    set(c, "tn", json_integer((json_int_t)t->tn), bad);
    set(c, "fn", json_integer((json_int_t)t->fn), bad);
    set(o, "counts", c, bad);
    return o;
}

static json_t *curve_obj(const fw_curve *c, const char *xn, const char *yn, int *bad) {
    json_t *o = json_object(), *x = json_array(), *y = json_array(), *t = json_array();
    for (size_t i = 0; i < c->n; i++) {
        push(x, num(c->x[i]), bad);
        push(y, num(c->y[i]), bad);
        push(t, num(c->threshold[i]), bad);
    }
    set(o, xn, x, bad);
    set(o, yn, y, bad);
    set(o, "threshold", t, bad);
    return o;
}

static json_t *slices_obj(const fw_report_model *m, int *bad) {
    json_t *o = json_object();
    for (size_t g = 0; g < m->n_slices; g++) {
        const fw_slice_report *sr = &m->slices[g];
        json_t *col = json_object(), *arr = json_array();
        set(col, "metric", str(sr->primary), bad);
        set(col, "overall", num(sr->overall), bad);
        set(col, "min_size", json_integer((json_int_t)sr->min_size), bad);
        for (size_t i = 0; i < sr->n_slices; i++) {
            const fw_slice *s = &sr->slices[i];
            json_t *so = json_object();
            set(so, "value", str(s->name), bad);
            set(so, "n_rows", json_integer((json_int_t)s->n_rows), bad);
            set(so, "small", json_boolean(s->small), bad);
            set(so, "primary", num(s->primary), bad);
            set(so, "gap", num(s->gap), bad);
            set(so, "ci_low", num(s->ci_lo), bad);
            set(so, "ci_high", num(s->ci_hi), bad);
            set(so, "worse", json_boolean(s->worse), bad);
            if (s->ok) set(so, "metrics", metrics_obj(&s->metrics, bad), bad);
            else set(so, "error", str(s->error), bad);
            if (m->group_slices && i < m->group_slices[g].n_slices) { /* a class hierarchy: per level */
                const fw_slice *gs = &m->group_slices[g].slices[i];
                json_t *lv = json_object();
                set(lv, "group", gs->ok ? metrics_obj(&gs->metrics, bad) : json_null(), bad);
                set(lv, "class", s->ok ? metrics_obj(&s->metrics, bad) : json_null(), bad);
                set(so, "levels", lv, bad);
            }
            push(arr, so, bad);
        }
        set(col, "slices", arr, bad);
        set(o, sr->column ? sr->column : "", col, bad);
    }
    return o;
}

static json_t *model_obj(const fw_report *r, const fw_report_model *m, bool is_baseline, int *bad) {
    json_t *o = json_object();
    const fw_metric_set *s = m->metrics;
    set(o, "name", str(m->name), bad);
    set(o, "family", str(m->family ? m->family : ""), bad);
    json_t *params = NULL;
    if (m->params_json) {
        json_error_t je;
        params = json_loads(m->params_json, JSON_DECODE_ANY, &je);
        if (params && !json_is_object(params)) {
            json_decref(params);
            params = NULL;
        }
        if (!params) params = str(m->params_json); /* keep the text rather than lose it */
    }
    set(o, "params", params ? params : json_object(), bad);
    set(o, "train_seconds", num(m->train_seconds), bad);
    if (m->refit_rows) {
        json_t *rf = json_object();
        set(rf, "rows", json_integer((json_int_t)m->refit_rows), bad);
        set(rf, "seconds", num(m->refit_seconds), bad);
        set(o, "refit", rf, bad);
    } else {
        set(o, "refit", json_null(), bad);
    }
    set(o, "metrics", metrics_obj(s, bad), bad);
    if (m->weighted) set(o, "metrics_weighted", metrics_obj(m->weighted, bad), bad); /* data.weight */
    if (m->group_metrics) { /* a class hierarchy: the metrics per level */
        json_t *lv = json_object();
        set(lv, "group", metrics_obj(m->group_metrics, bad), bad);
        set(lv, "class", metrics_obj(s, bad), bad);
        set(o, "levels", lv, bad);
    }
    if (m->n_ci) {
        json_t *ci = json_object(), *iv = json_object();
        set(ci, "level", num(m->ci_level), bad);
        set(ci, "resamples", json_integer((json_int_t)m->ci_resamples), bad);
        set(ci, "rows", json_integer((json_int_t)s->n_rows), bad);
        for (size_t i = 0; i < m->n_ci; i++) {
            json_t *pair = json_array();
            push(pair, num(m->ci[i].lo), bad);
            push(pair, num(m->ci[i].hi), bad);
            set(iv, m->ci[i].name, pair, bad);
        }
        set(ci, "intervals", iv, bad);
        set(o, "metrics_ci", ci, bad);
    } else {
        set(o, "metrics_ci", json_null(), bad);
    }
    if (m->n_cv_scores) {
        json_t *cv = json_object(), *sc = json_array();
        set(cv, "metric", str(fw_report_primary(r)), bad);
        set(cv, "folds", json_integer((json_int_t)m->n_cv_scores), bad);
        set(cv, "mean", num(m->cv_mean), bad);
        set(cv, "std", num(m->cv_std), bad);
        for (size_t i = 0; i < m->n_cv_scores; i++) push(sc, num(m->cv_scores[i]), bad);
        set(cv, "scores", sc, bad);
        set(o, "cv", cv, bad);
    } else {
        set(o, "cv", json_null(), bad);
    }
    if (!is_baseline && r->baseline) {
        fw_improvement im;
        fw__report_improvement(r, m, &im);
        json_t *vb = json_object();
        set(vb, "metric", str(im.metric), bad);
        set(vb, "model", num(im.model), bad);
        set(vb, "baseline", num(im.baseline), bad);
        set(vb, "improvement", num(im.improvement), bad);
        set(vb, "relative", num(im.relative), bad);
        set(vb, "min_improvement", num(im.min_improvement), bad);
        set(vb, "meets_min_improvement", json_boolean(im.meets), bad);
        set(o, "vs_baseline", vb, bad);
    } else {
        set(o, "vs_baseline", json_null(), bad);
    }
    if (m->has_latency) {
        json_t *l = json_object();
        set(l, "p50", num(m->latency.p50_us), bad);
        set(l, "p90", num(m->latency.p90_us), bad);
        set(l, "p99", num(m->latency.p99_us), bad);
        set(l, "mean", num(m->latency.mean_us), bad);
        set(l, "n_calls", json_integer((json_int_t)m->latency.n_calls), bad);
        if (r->p99_budget_us > 0) set(l, "within_budget", json_boolean(m->latency.p99_us <= r->p99_budget_us), bad);
        set(o, "latency_us", l, bad);
    } else {
        set(o, "latency_us", json_null(), bad);
    }
    set(o, "size_bytes", json_integer((json_int_t)m->size_bytes), bad);
    set(o, "slices", slices_obj(m, bad), bad);
    json_t *imp = json_array();
    for (size_t i = 0; i < m->n_importance; i++) {
        json_t *e = json_object();
        char fname[32];
        snprintf(fname, sizeof fname, "f%zu", i);
        set(e, "feature", str(m->importance_names && m->importance_names[i] ? m->importance_names[i] : fname), bad);
        set(e, "importance", num(m->importance[i]), bad);
        push(imp, e, bad);
    }
    set(o, "importance", imp, bad);
    set(o, "threshold", threshold_obj(m->threshold, bad), bad);
    set(o, "n_rows", json_integer((json_int_t)s->n_rows), bad);
    set(o, "n_unseen", json_integer((json_int_t)s->n_unseen), bad);
    set(o, "warning", s->warning[0] ? str(s->warning) : json_null(), bad);
    if (s->confusion) {
        json_t *cm = json_array();
        for (size_t i = 0; i < s->n_classes; i++) {
            json_t *row = json_array();
            for (size_t j = 0; j < s->n_classes; j++)
                push(row, json_integer((json_int_t)s->confusion[i * s->n_classes + j]), bad);
            push(cm, row, bad);
        }
        set(o, "confusion_matrix", cm, bad);
    }
    if (s->label_f1) {
        json_t *lf = json_array();
        for (size_t j = 0; j < s->n_labels; j++) push(lf, num(s->label_f1[j]), bad);
        set(o, "label_f1", lf, bad);
    }
    if (s->calibration) {
        json_t *cal = json_array();
        for (size_t b = 0; b < s->n_calibration; b++) {
            const fw_calib_bin *cb = &s->calibration[b];
            json_t *e = json_object();
            set(e, "lo", num(cb->lo), bad);
            set(e, "hi", num(cb->hi), bad);
            set(e, "mean_predicted", num(cb->mean_pred), bad);
            set(e, "fraction_positive", num(cb->frac_pos), bad);
            set(e, "count", json_integer((json_int_t)cb->count), bad);
            push(cal, e, bad);
        }
        set(o, "calibration", cal, bad);
    }
    if (s->roc.n) {
        json_t *cv = json_object();
        set(cv, "roc", curve_obj(&s->roc, "fpr", "tpr", bad), bad);
        set(cv, "pr", curve_obj(&s->pr, "recall", "precision", bad), bad);
        set(o, "curves", cv, bad);
    }
    return o;
}

fw_status fw_report_json(const fw_report *r, fw_buf *out, fw_err *err) {
    if (fw__report_check(r)) return fw_err_set(err, FW_EINVAL, "report: a model has no name or metrics");
    int bad = 0;
    const fw_report_model *best = fw_report_best(r);
    json_t *root = json_object();
    set(root, "title", str(r->title ? r->title : ""), &bad);
    set(root, "task", str(fw_eval_task_name(r->task)), &bad);
    set(root, "primary_metric", str(fw_report_primary(r)), &bad);
    set(root, "higher_is_better", json_boolean(fw_metric_higher_is_better(fw_report_primary(r))), &bad);
    {   /* the extra columns the text and HTML tables show (the project's metrics: list) */
        const char *ex[FW_REPORT_MAX_EXTRAS];
        size_t ne = fw__report_extras(r, r->n_models ? r->models[0].metrics : NULL, ex);
        json_t *cols = json_array();
        for (size_t i = 0; i < ne; i++) push(cols, str(ex[i]), &bad);
        set(root, "metrics_shown", cols, &bad);
    }
    set(root, "best", best ? str(best->name) : json_null(), &bad);
    set(root, "weight_column", r->weight_column ? str(r->weight_column) : json_null(), &bad);
    set(root, "threshold", threshold_obj(best ? best->threshold : NULL, &bad), &bad);
    set(root, "test_rows", r->n_models ? json_integer((json_int_t)r->models[0].metrics->n_rows) : json_null(), &bad);
    set(root, "min_improvement", num(r->min_improvement), &bad);
    set(root, "p99_latency_budget_us", r->p99_budget_us > 0 ? num(r->p99_budget_us) : json_null(), &bad);
    if (r->class_names) {
        json_t *cn = json_array();
        for (size_t i = 0; i < r->n_classes; i++) push(cn, str(r->class_names[i] ? r->class_names[i] : ""), &bad);
        set(root, "classes", cn, &bad);
    }
    json_t *models = json_array();
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        bool isb = r->baseline && (m == r->baseline || !strcmp(m->name, r->baseline->name));
        push(models, model_obj(r, m, isb, &bad), &bad);
    }
    set(root, "models", models, &bad);
    set(root, "baseline", r->baseline ? model_obj(r, r->baseline, true, &bad) : json_null(), &bad);
    if (bad) {
        json_decref(root);
        return fw_err_set(err, FW_ENOMEM, "report: out of memory building JSON");
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) return fw_err_set(err, FW_ENOMEM, "report: out of memory writing JSON");
    fw_buf_put(out, text, strlen(text));
    fw_buf_put_u8(out, '\n');
    json_malloc_t mf;
    json_free_t ff;
    json_get_alloc_funcs(&mf, &ff);
    ff(text);
    return fw_buf_ok(out) ? FW_OK : fw_err_set(err, FW_ENOMEM, "report: out of memory");
}
