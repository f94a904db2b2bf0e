/* explain.c — owns the explanations of the public API: fw_explain_record (one record's per-feature
 * contributions, margin space, the bias last, from the family's explain_row) and, in the terms of
 * the record's own fields as `flywheel serve`'s :explain gives them — by the same code,
 * artifact/explain_inputs.c and models/explain.h — fw_explain_inputs (per input column),
 * fw_explain_neighbors (knn) and fw_explain_path (hier). All in the context's own scratch. */
#include "api/api_int.h"

#include "artifact/artifact.h"
#include "models/explain.h"

#include <string.h>

fw_status fw_explain_record(fw_context *cx, const fw_field *fields, size_t n_fields, double *contrib,
                            size_t n_contrib, fw_err *err) {
    if (!cx) return fw_err_set(err, FW_EINVAL, "no context");
    const fw_predictor *m = cx->m;
    const fw_model *model = m->model;
    if (!model->vt->explain_row)
        return fw_err_set(err, FW_EUNSUPPORTED, "model family '%s' has no additive explanation", model->vt->family);
    size_t need = (m->n_features + 1) * m->n_outputs;
    if (!contrib || n_contrib < need)
        return fw_err_set(err, FW_EINVAL, "contributions buffer holds %zu values, %zu needed", contrib ? n_contrib : 0,
                          need);
    fw_status st = fw__api_record_vals(cx, fields, n_fields, err);
    if (st) return st;
    fw_row row;
    if ((st = fw_pipeline_transform_record(m->pl, cx->vals, cx->ps, cx->dense, &row, err))) return st;
    if ((st = model->vt->explain_row(model, &row, cx->mscratch, contrib)))
        return fw_err_set(err, st, "explain failed: %s", fw_strerror(st));
    return FW_OK;
}

static const char *class_name(const fw_predictor *m, int32_t k) {
    return k >= 0 && (size_t)k < m->t->n_classes && m->t->class_names ? m->t->class_names[k] : NULL;
}

/* cls is -1 or a class the task has (the server's check of :explain's "class"). */
static fw_status check_class(const fw_predictor *m, int32_t cls, fw_err *err) {
    if (cls < 0) return cls == -1 ? FW_OK : fw_err_set(err, FW_EINVAL, "class %d: give -1 or a class index", (int)cls);
    size_t n = m->task == FW_TASK_BINARY ? 2
               : m->task == FW_TASK_MULTICLASS || m->task == FW_TASK_MULTILABEL ? m->n_outputs
                                                                                 : 0;
    if ((size_t)cls >= n)
        return fw_err_set(err, FW_EINVAL, "class %d: model '%s' (%s) has %zu classes", (int)cls, m->name,
                          fw_predictor_task(m), n);
    return FW_OK;
}

/* The record from fields through the pipeline (the explanation's own pass). */
static fw_status prepare(fw_context *cx, const fw_field *fields, size_t n_fields, fw_row *row, fw_err *err) {
    fw_status st = fw__api_record_vals(cx, fields, n_fields, err);
    return st ? st : fw_explain_prepare(cx->m->b, cx->vals, cx->es, row, err);
}

/* The model's own scores for the prepared row into cx->own. */
static fw_status own_scores(fw_context *cx, const fw_row *row, fw_err *err) {
    fw_status st = fw_model_predict_row(cx->m->model, row, fw_explain_scratch_model(cx->es), cx->own);
    return st ? fw_err_set(err, st, "model prediction failed: %s", fw_strerror(st)) : FW_OK;
}

static int32_t argmax(const double *o, size_t n) {
    int32_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (o[k] > o[best]) best = (int32_t)k;
    return best;
}

/* Per-input sums (cx->per) into out in the order :explain shows them; returns how many there are. */
static size_t put_ordered(fw_context *cx, fw_contribution *out, size_t cap) {
    const fw_predictor *m = cx->m;
    size_t n = fw_explain_order(m->input_names, cx->per, m->n_inputs, cx->order);
    for (size_t i = 0; i < n && i < cap && out; i++) out[i] = (fw_contribution){cx->order[i], cx->per[cx->order[i]]};
    return n;
}

fw_status fw_explain_inputs(fw_context *cx, const fw_field *fields, size_t n_fields, int32_t cls,
                            fw_contribution *out, size_t cap, fw_explanation *ex, fw_err *err) {
    if (!cx || !ex) return fw_err_set(err, FW_EINVAL, "fw_explain_inputs: no context or explanation");
    const fw_predictor *m = cx->m;
    const fw_model *model = m->model;
    if (fw_model_is_knn(model) || fw_model_is_hier(model) || !model->vt->explain_row)
        return fw_err_set(err, FW_EUNSUPPORTED, "model family '%s' has no explanation per input column (%s)",
                          model->vt->family,
                          fw_model_is_knn(model)    ? "fw_explain_neighbors gives its nearest rows"
                          : fw_model_is_hier(model) ? "fw_explain_path gives its path"
                                                    : "none");
    fw_status st = check_class(m, cls, err);
    fw_row row;
    if (st || (st = prepare(cx, fields, n_fields, &row, err))) return st;
    fw_explain_output eo;
    double bias;
    if ((st = fw_explain_by_input(m->b, cx->vals, &row, NULL, cls, cx->es, cx->per, &bias, &eo, err))) return st;
    ex->class_index = eo.shown;
    ex->class_name = class_name(m, eo.shown);
    ex->method = strcmp(model->vt->family, "gbdt") == 0 ? "treeshap" : "additive";
    ex->space = eo.space;
    ex->bias = bias;
    ex->n_contributions = put_ordered(cx, out, cap);
    return FW_OK;
}

fw_status fw_explain_neighbors(fw_context *cx, const fw_field *fields, size_t n_fields, fw_neighbor *out,
                               size_t cap, size_t *n_out, fw_explanation *ex, fw_err *err) {
    if (!cx || !n_out) return fw_err_set(err, FW_EINVAL, "fw_explain_neighbors: no context or count");
    *n_out = 0;
    const fw_predictor *m = cx->m;
    if (!fw_model_is_knn(m->model))
        return fw_err_set(err, FW_EUNSUPPORTED, "model family '%s' has no neighbours (knn has)", m->model->vt->family);
    fw_row row;
    fw_status st = prepare(cx, fields, n_fields, &row, err);
    if (st || (st = own_scores(cx, &row, err))) return st;
    size_t n = fw_knn_neighbors(m->model, &row, fw_explain_scratch_model(cx->es), FW_EXPLAIN_MAX_NEIGHBORS, cx->nb_rows,
                                cx->nb_dist, cx->nb_label);
    bool classes = m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS;
    for (size_t q = 0; q < n && q < cap && out; q++)
        out[q] = (fw_neighbor){cx->nb_rows[q], cx->nb_dist[q], cx->nb_label[q],
                               classes ? class_name(m, (int32_t)cx->nb_label[q]) : NULL};
    *n_out = n < cap ? n : cap;
    if (ex) {
        /* the class the vote decided, as the server names it */
        int32_t k = m->task == FW_TASK_MULTICLASS ? argmax(cx->own, m->n_outputs)
                    : m->task == FW_TASK_BINARY    ? (cx->own[0] >= m->threshold ? 1 : 0)
                                                   : -1;
        *ex = (fw_explanation){k, class_name(m, k), "nearest_neighbors", NULL, 0, 0};
    }
    return FW_OK;
}

/* Group g's name: line g of the artifact's group names (NULL when the project declared none). */
static const char *group_name(fw_context *cx, uint32_t g) {
    const char *p = fw_bundle_meta_str(cx->m->b, FW_KV_HIER_GROUPS);
    for (uint32_t i = 0; p && i < g; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) return NULL;
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len >= sizeof cx->group_name) len = sizeof cx->group_name - 1;
    memcpy(cx->group_name, p, len);
    cx->group_name[len] = 0;
    return cx->group_name;
}

/* One level of the path: its dense contributions summed per input column into out. */
static void put_level(fw_context *cx, bool has_model, double p, const double *dense_contrib, fw_contribution *out,
                      size_t cap, fw_path_level *lv) {
    const fw_predictor *m = cx->m;
    *lv = (fw_path_level){p, has_model, 0, 0};
    if (!has_model) return;
    memset(cx->per, 0, m->n_inputs * sizeof *cx->per);
    fw_explain_group_dense(m->pl, dense_contrib, m->n_features, cx->per);
    lv->bias = dense_contrib[m->n_features] == 0 ? 0 : dense_contrib[m->n_features];
    lv->n_contributions = put_ordered(cx, out, cap);
}

fw_status fw_explain_path(fw_context *cx, const fw_field *fields, size_t n_fields, int32_t cls,
                          fw_contribution *group_out, size_t group_cap, fw_contribution *class_out, size_t class_cap,
                          fw_explanation_path *ex, fw_err *err) {
    if (!cx || !ex) return fw_err_set(err, FW_EINVAL, "fw_explain_path: no context or explanation");
    const fw_predictor *m = cx->m;
    if (!fw_model_is_hier(m->model))
        return fw_err_set(err, FW_EUNSUPPORTED, "model family '%s' has no hierarchy (hier has)", m->model->vt->family);
    fw_status st = check_class(m, cls, err);
    fw_row row;
    if (st || (st = prepare(cx, fields, n_fields, &row, err))) return st;
    if (cls < 0) {
        if ((st = own_scores(cx, &row, err))) return st;
        cls = argmax(cx->own, m->n_outputs);
    }
    fw_hier_path path;
    if ((st = fw_hier_explain(m->model, &row, (uint32_t)cls, &path, cx->gc, cx->cc)))
        return fw_err_set(err, st, "explain: %s", fw_strerror(st));
    ex->class_index = cls;
    ex->class_name = class_name(m, cls);
    ex->probability = path.p_group * path.p_in_group;
    ex->group = path.group;
    ex->group_name = group_name(cx, path.group);
    ex->n_groups = path.n_groups;
    put_level(cx, path.has_group_model, path.p_group, cx->gc, group_out, group_cap, &ex->group_level);
    put_level(cx, path.has_class_model, path.p_in_group, cx->cc, class_out, class_cap, &ex->class_level);
    return FW_OK;
}
