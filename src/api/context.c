/* context.c — owns fw_context: one thread's scratch for one predictor, allocated once so that the
 * single-row calls never allocate (the bundle's predict scratch, the record in input order, and a
 * pipeline pass plus model scratch of its own for explanations, and the explanation per input
 * column's scratch and buffers), sized for FW_CONTEXT_TEXT_BYTES of
 * text per record unless fw_context_reserve asks for more. */
#include "api/api_int.h"

#include "core/alloc.h"

void fw_context_free(fw_context *cx) {
    if (!cx) return;
    fw_bundle_scratch_free(cx->bs);
    fw_pipeline_scratch_free(cx->ps);
    fw_free(cx->vals);
    fw_free(cx->dense);
    fw_free(cx->mscratch);
    fw_explain_scratch_free(cx->es);
    fw_free(cx->per);
    fw_free(cx->own);
    fw_free(cx->order);
    fw_free(cx->gc);
    fw_free(cx->cc);
    fw_free(cx);
}

fw_status fw_context_new(const fw_predictor *m, fw_context **out, fw_err *err) {
    if (!out) return fw_err_set(err, FW_EINVAL, "fw_context_new: out is NULL");
    *out = NULL;
    if (!m) return fw_err_set(err, FW_EINVAL, "fw_context_new: no predictor");
    fw_context *cx = fw_calloc(1, sizeof *cx);
    if (!cx) return fw_err_set(err, FW_ENOMEM, "out of memory");
    cx->m = m;
    size_t msz = (fw_model_scratch_size(m->model) + 15) & ~(size_t)15;
    cx->vals = fw_calloc(m->n_inputs ? m->n_inputs : 1, sizeof *cx->vals);
    cx->dense = fw_calloc(m->n_features ? m->n_features : 1, sizeof *cx->dense);
    cx->mscratch = fw_calloc(1, msz ? msz : 16); /* 16-byte aligned: fw_alloc's blocks are */
    size_t ni = m->n_inputs ? m->n_inputs : 1;
    cx->per = fw_calloc(ni, sizeof *cx->per);
    cx->order = fw_calloc(ni, sizeof *cx->order);
    cx->own = fw_calloc(m->n_outputs ? m->n_outputs : 1, sizeof *cx->own);
    cx->gc = fw_calloc(m->n_features + 1, sizeof *cx->gc);
    cx->cc = fw_calloc(m->n_features + 1, sizeof *cx->cc);
    if (!cx->vals || !cx->dense || !cx->mscratch || !cx->per || !cx->order || !cx->own || !cx->gc || !cx->cc ||
        fw_bundle_scratch_new(m->b, &cx->bs) != FW_OK || fw_pipeline_scratch_new(m->pl, &cx->ps) != FW_OK ||
        fw_explain_scratch_new(m->b, &cx->es) != FW_OK) {
        fw_context_free(cx);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (fw_context_reserve(cx, FW_CONTEXT_TEXT_BYTES, err)) {
        fw_context_free(cx);
        return FW_ENOMEM;
    }
    *out = cx;
    return FW_OK;
}

fw_status fw_context_reserve(fw_context *cx, size_t text_bytes, fw_err *err) {
    if (!cx) return fw_err_set(err, FW_EINVAL, "no context");
    if (fw_bundle_scratch_reserve_text(cx->m->b, cx->bs, text_bytes) ||
        fw_pipeline_scratch_reserve_text(cx->m->pl, cx->ps, text_bytes) ||
        fw_explain_scratch_reserve_text(cx->m->b, cx->es, text_bytes))
        return fw_err_set(err, FW_ENOMEM, "out of memory reserving %zu bytes of text", text_bytes);
    return FW_OK;
}
