/* predict.c — owns the prediction calls of the public API: one record by name, one row by input
 * index (fields or dense numbers), a block of dense rows. Every one fills the context's record
 * and runs it through fw_bundle_predict_record — the call `flywheel batch` and `flywheel serve`
 * make — so the answers are theirs to the last bit — and the answer's text, by batch's rules
 * (artifact/answer_text.h, the one home batch's prediction column uses too). Nothing here allocates. */
#include "api/api_int.h"

#include "artifact/answer_text.h"

#include <math.h>
#include <string.h>

static fw_answer_source source_of(fw_prediction_source s) {
    switch (s) {
    case FW_PRED_MODEL: return FW_SOURCE_MODEL;
    case FW_PRED_BASELINE: return FW_SOURCE_BASELINE;
    case FW_PRED_VALUE: return FW_SOURCE_VALUE;
    case FW_PRED_REVIEW: return FW_SOURCE_REVIEW;
    }
    return FW_SOURCE_MODEL;
}

static fw_status check_out(const fw_context *cx, const double *scores, size_t n_scores, const fw_result *res,
                           fw_err *err) {
    if (!cx) return fw_err_set(err, FW_EINVAL, "no context");
    if (!res) return fw_err_set(err, FW_EINVAL, "no result to fill");
    if (n_scores && (!scores || n_scores < cx->m->n_outputs))
        return fw_err_set(err, FW_EINVAL, "scores buffer holds %zu values, the model gives %zu", scores ? n_scores : 0,
                          cx->m->n_outputs);
    return FW_OK;
}

fw_status fw__api_predict_vals(fw_context *cx, double *scores, size_t n_scores, fw_result *res, fw_err *err) {
    const fw_predictor *m = cx->m;
    fw_prediction p;
    fw_status st = fw_bundle_predict_record(m->b, cx->vals, cx->bs, &p, err);
    if (st) return st;
    res->label = p.label;
    res->label_name = p.label_name;
    res->value = p.value;
    res->confidence = p.confidence;
    res->abstained = p.abstained;
    res->source = source_of(p.source);
    res->n_scores = 0;
    if (n_scores) {
        size_t n = p.n_outputs < m->n_outputs ? p.n_outputs : m->n_outputs;
        memcpy(scores, p.scores, n * sizeof *scores);
        res->n_scores = n;
    }
    return FW_OK;
}

static void clear_vals(fw_context *cx) {
    for (size_t i = 0; i < cx->m->n_inputs; i++) cx->vals[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
}

fw_status fw__api_record_vals(fw_context *cx, const fw_field *fields, size_t n_fields, fw_err *err) {
    if (n_fields && !fields) return fw_err_set(err, FW_EINVAL, "fields is NULL");
    clear_vals(cx);
    for (size_t k = 0; k < n_fields; k++) {
        if (!fields[k].name) return fw_err_set(err, FW_EINVAL, "field %zu has no name", k + 1);
        int i = fw_pipeline_input_index(cx->m->pl, fields[k].name, strlen(fields[k].name));
        if (i < 0) continue; /* not an input of this model */
        fw_status st = fw__api_field_value(cx->m, (size_t)i, &fields[k], &cx->vals[i], err);
        if (st) return st;
    }
    return FW_OK;
}

fw_status fw_predict_record(fw_context *cx, const fw_field *fields, size_t n_fields, double *scores,
                            size_t n_scores, fw_result *res, fw_err *err) {
    fw_status st = check_out(cx, scores, n_scores, res, err);
    if (!st) st = fw__api_record_vals(cx, fields, n_fields, err);
    return st ? st : fw__api_predict_vals(cx, scores, n_scores, res, err);
}

fw_status fw_predict_values(fw_context *cx, const fw_field *values, size_t n, double *scores, size_t n_scores,
                            fw_result *res, fw_err *err) {
    fw_status st = check_out(cx, scores, n_scores, res, err);
    if (st) return st;
    if (n != cx->m->n_inputs || (n && !values))
        return fw_err_set(err, FW_EINVAL, "the row has %zu values, the model takes %zu inputs", values ? n : 0,
                          cx->m->n_inputs);
    for (size_t i = 0; i < n; i++)
        if ((st = fw__api_field_value(cx->m, i, &values[i], &cx->vals[i], err))) return st;
    return fw__api_predict_vals(cx, scores, n_scores, res, err);
}

static void dense_vals(fw_context *cx, const double *row) {
    for (size_t i = 0; i < cx->m->n_inputs; i++)
        cx->vals[i] = isnan(row[i]) ? (fw_value){FW_VALUE_MISSING, 0, NULL, 0} : (fw_value){FW_VALUE_NUMBER, row[i], NULL, 0};
}

fw_status fw_predict_row(fw_context *cx, const double *row, size_t n, double *scores, size_t n_scores,
                         fw_result *res, fw_err *err) {
    fw_status st = check_out(cx, scores, n_scores, res, err);
    if (st) return st;
    if (n != cx->m->n_inputs || (n && !row))
        return fw_err_set(err, FW_EINVAL, "the row has %zu values, the model takes %zu inputs", row ? n : 0,
                          cx->m->n_inputs);
    dense_vals(cx, row);
    return fw__api_predict_vals(cx, scores, n_scores, res, err);
}

fw_status fw_predict_block(fw_context *cx, const double *rows, size_t n_rows, size_t stride, double *scores,
                           int32_t *labels, fw_err *err) {
    if (!cx) return fw_err_set(err, FW_EINVAL, "no context");
    const fw_predictor *m = cx->m;
    if (stride < m->n_inputs)
        return fw_err_set(err, FW_EINVAL, "stride %zu is shorter than a row (%zu inputs)", stride, m->n_inputs);
    if (n_rows && (!rows || !scores)) return fw_err_set(err, FW_EINVAL, "rows or scores is NULL");
    fw_result res;
    for (size_t r = 0; r < n_rows; r++) {
        dense_vals(cx, rows + r * stride);
        fw_status st = fw__api_predict_vals(cx, scores + r * m->n_outputs, m->n_outputs, &res, err);
        if (st) {
            if (err) fw_err_prefix(err, "row %zu", r + 1);
            return st;
        }
        if (labels) labels[r] = res.label;
    }
    return FW_OK;
}

size_t fw_result_text(const fw_predictor *m, const fw_result *res, const double *scores, char *buf, size_t cap) {
    fw_answer_shape shape = {m->task, m->n_outputs, m->threshold, m->classes, m->n_text_classes};
    const char *label = res->source == FW_SOURCE_REVIEW ? "review" : res->label_name;
    bool have = scores && res->n_scores >= m->n_outputs;
    /* an abstained regression answer carries its value in res->value (batch does the same) */
    double value = have && res->source == FW_SOURCE_MODEL ? scores[0] : res->value;
    return fw_answer_text(&shape, label, have ? scores : NULL, value, buf, cap, NULL);
}
