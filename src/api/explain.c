/* explain.c — owns fw_explain_record: one record's per-feature contributions (margin space, the
 * bias last) from the model family's explain_row over the same pipeline pass predictions use, in
 * the context's own scratch (no allocation). */
#include "api/api_int.h"

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
