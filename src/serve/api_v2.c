/* api_v2.c — owns the KServe Open Inference Protocol v2 endpoints: server/model metadata, liveness
 * and readiness, and infer with inputs as one tensor per feature (shape [n] or [n, 1]) or one row
 * tensor of shape [n, n_features] in the model's input order. Errors use the protocol's own body
 * {"error": "message"} so existing v2 clients work unchanged. */
#include "serve/canary_runner.h"
#include "serve/monitoring.h"
#include "serve/server_int.h"
#include "serve/rollout.h"
#include "serve/input_warnings.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/test_hooks.h" /* FW_V1_FAST_ANSWERED: built twice */
#include "serve/v1_decode.h"

#include <string.h>

/* Flattens a possibly nested JSON array into leaves (row-major). Returns count or -1 (too deep /
 * mixed). leaves may be NULL to count. */
static long flatten(json_t *a, json_t **leaves, long at, int depth) {
    if (depth > 8) return -1;
    if (!json_is_array(a)) {
        if (leaves) leaves[at] = a;
        return 1;
    }
    long n = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        long k = flatten(json_array_get(a, i), leaves, at + n, depth + 1);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

static bool leaf_value(json_t *v, fw_value *out) {
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL: *out = (fw_value){FW_VALUE_NUMBER, json_number_value(v), NULL, 0}; return true;
    case JSON_TRUE: *out = (fw_value){FW_VALUE_NUMBER, 1, NULL, 0}; return true;
    case JSON_FALSE: *out = (fw_value){FW_VALUE_NUMBER, 0, NULL, 0}; return true;
    case JSON_NULL: *out = (fw_value){FW_VALUE_MISSING, 0, NULL, 0}; return true;
    case JSON_STRING: *out = (fw_value){FW_VALUE_STRING, 0, json_string_value(v), json_string_length(v)}; return true;
    default: return false;
    }
}

static long shape_product(json_t *shape, long *rows, long *cols) {
    if (!json_is_array(shape) || json_array_size(shape) == 0 || json_array_size(shape) > 2) return -1;
    long p = 1;
    for (size_t i = 0; i < json_array_size(shape); i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > 1000000) return -1;
        p *= (long)json_integer_value(d);
    }
    *rows = (long)json_integer_value(json_array_get(shape, 0));
    *cols = json_array_size(shape) == 2 ? (long)json_integer_value(json_array_get(shape, 1)) : 1;
    return p;
}

/* "parameters":{"classes":[...]}: the class names in output order (or their indices). */
static void put_classes_param(fw_buf *b, const fw_srv_model *m) {
    fw_buf_printf(b, "\"parameters\":{\"classes\":[");
    size_t n = m->task == FW_TASK_BINARY ? 2 : m->n_outputs;
    for (size_t k = 0; k < n; k++) {
        if (k) fw_buf_put_u8(b, ',');
        if (m->classes && k < m->n_classes) fw_json_put_str(b, m->classes[k]);
        else fw_buf_printf(b, "\"%zu\"", k);
    }
    fw_buf_printf(b, "]}");
}

/* KServe v2 model metadata: inputs typed as they are read (BYTES for categorical, text and
 * timestamp columns, which take strings), outputs with their shapes, and the class names in the
 * order of the probabilities (and, for binary, which class "score" is the probability of). */
static void model_meta(fw_buf *b, const fw_srv_model *m) {
    fw_buf_printf(b, "{\"name\":");
    fw_json_put_str(b, m->name);
    fw_buf_printf(b, ",\"versions\":[");
    fw_json_put_str(b, m->version);
    fw_buf_printf(b, "],\"platform\":\"flywheel\",\"parameters\":{\"task\":\"%s\"},\"inputs\":[",
                  fw_task_name(m->task));
    for (size_t i = 0; i < m->n_inputs; i++) {
        fw_buf_printf(b, "%s{\"name\":", i ? "," : "");
        fw_json_put_str(b, m->input_names[i]);
        bool bytes = m->pipeline && fw_pipeline_input_type(m->pipeline, i) != FW_COL_NUMERIC;
        fw_buf_printf(b, ",\"datatype\":\"%s\",\"shape\":[-1]}", bytes ? "BYTES" : "FP64");
    }
    fw_buf_printf(b, "],\"outputs\":[{\"name\":\"score\",\"datatype\":\"FP64\",\"shape\":[-1]");
    if (m->task == FW_TASK_BINARY) {
        fw_buf_printf(b, ",\"parameters\":{\"probability_of\":");
        if (m->classes && m->n_classes > 1) fw_json_put_str(b, m->classes[1]);
        else fw_buf_printf(b, "\"1\"");
        fw_buf_printf(b, ",\"threshold\":");
        fw_json_put_f64(b, m->threshold);
        fw_buf_put_u8(b, '}');
    }
    fw_buf_put_u8(b, '}');
    if (m->task == FW_TASK_MULTICLASS) {
        fw_buf_printf(b, ",{\"name\":\"probabilities\",\"datatype\":\"FP64\",\"shape\":[-1,%zu],", m->n_outputs);
        put_classes_param(b, m);
        fw_buf_put_u8(b, '}');
    }
    if (m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS)
        fw_buf_printf(b, ",{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]},{\"name\":\"answer\",\"datatype\":\"BYTES\",\"shape\":[-1]}");
    fw_buf_printf(b, "]}");
}

/* The model's own label as a BYTES element (binary: P(positive) against the threshold). */
static void put_own_label(fw_buf *b, const fw_srv_model *m, const double *o) {
    char tmp[32];
    if (m->task == FW_TASK_BINARY) {
        int pos = o[0] >= m->threshold;
        snprintf(tmp, sizeof tmp, "%d", pos);
        fw_json_put_str(b, m->classes ? m->classes[pos] : tmp);
    } else {
        size_t best = 0;
        for (size_t k = 1; k < m->n_outputs; k++) best = o[k] > o[best] ? k : best;
        snprintf(tmp, sizeof tmp, "%zu", best);
        fw_json_put_str(b, m->classes && best < m->n_classes ? m->classes[best] : tmp);
    }
}

/* The decided answer as a BYTES element: the class name (or index), the fixed value, or
 * "needs review" when the model abstained to review. */
static void put_label_str(fw_buf *b, const fw_srv_model *m, const double *o, const fw_srv_decision *d) {
    (void)o;
    char tmp[32];
    if (d->source == FW_PRED_REVIEW) {
        fw_json_put_str(b, "needs review");
    } else if (d->answer) {
        fw_json_put_str(b, d->answer);
    } else {
        snprintf(tmp, sizeof tmp, "%d", (int)d->answer_index);
        fw_json_put_str(b, m->classes && d->answer_index >= 0 && (size_t)d->answer_index < m->n_classes
                             ? m->classes[d->answer_index] : tmp);
    }
}

static bool wants(json_t *req_outputs, const char *name) {
    if (!json_is_array(req_outputs)) return true;
    for (size_t i = 0; i < json_array_size(req_outputs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(req_outputs, i), "name")) ?: "", name) == 0)
            return true;
    return false;
}

/* The 200 body of an infer of n_rows rows (id: the request's own id, or NULL for ours; warn / n_warn:
 * the input warnings, input_warnings.h); counts the scores in the model's metrics. Shared by the
 * fast and the jansson paths. */
static void reply_infer(const fw_srv_model *m, int variant, long n_rows, const double *out, const fw_srv_decision *dec,
                        const char *id, json_t *req_out, const fw_buf *warn, size_t n_warn, fw_reply *r) {
    fw_buf *b = &r->body;
    r->code = 200;
    fw_buf_printf(b, "{\"model_name\":");
    fw_json_put_str(b, m->name);
    fw_buf_printf(b, ",\"model_version\":");
    fw_json_put_str(b, m->version);
    fw_buf_printf(b, ",\"id\":");
    fw_json_put_str(b, id ? id : r->request_id);
    fw_buf_printf(b, ",\"parameters\":{\"request_id\":\"%s\",\"variant\":\"%s\",\"warnings\":[", r->request_id,
                  fw_variant_name(variant));
    fw__input_warnings_merge(b, 0, warn, n_warn);
    fw_buf_printf(b, "]},\"outputs\":[");
    bool first = true;
    if (wants(req_out, "score")) {
        fw_buf_printf(b, "{\"name\":\"score\",\"datatype\":\"FP64\",\"shape\":[%ld],\"data\":[", n_rows);
        for (long i = 0; i < n_rows; i++) {
            if (i) fw_buf_put_u8(b, ',');
            const double *o = out + (size_t)i * m->n_outputs;
            double sc = o[0];
            for (size_t k = 1; m->task == FW_TASK_MULTICLASS && k < m->n_outputs; k++) sc = o[k] > sc ? o[k] : sc;
            fw_json_put_f64(b, sc);
            fw_metrics_score(m->metrics, variant, sc, dec[i].abstained);
        }
        fw_buf_printf(b, "]}");
        first = false;
    }
    if (m->task == FW_TASK_MULTICLASS && wants(req_out, "probabilities")) {
        fw_buf_printf(b, "%s{\"name\":\"probabilities\",\"datatype\":\"FP64\",\"shape\":[%ld,%zu],", first ? "" : ",",
                      n_rows, m->n_outputs);
        put_classes_param(b, m);
        fw_buf_printf(b, ",\"data\":[");
        for (size_t i = 0; i < (size_t)n_rows * m->n_outputs; i++) {
            if (i) fw_buf_put_u8(b, ',');
            fw_json_put_f64(b, out[i]);
        }
        fw_buf_printf(b, "]}");
        first = false;
    }
    if ((m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS) && wants(req_out, "label")) {
        fw_buf_printf(b, "%s{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[%ld],\"data\":[", first ? "" : ",", n_rows);
        for (long i = 0; i < n_rows; i++) {
            if (i) fw_buf_put_u8(b, ',');
            put_own_label(b, m, out + (size_t)i * m->n_outputs);
        }
        fw_buf_printf(b, "]}");
        first = false;
    }
    /* what answered: the model's label, or the fallback's answer where it abstained (as v1's "answer") */
    if ((m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS) && wants(req_out, "answer")) {
        fw_buf_printf(b, "%s{\"name\":\"answer\",\"datatype\":\"BYTES\",\"shape\":[%ld],\"data\":[", first ? "" : ",", n_rows);
        for (long i = 0; i < n_rows; i++) {
            if (i) fw_buf_put_u8(b, ',');
            put_label_str(b, m, out + (size_t)i * m->n_outputs, &dec[i]);
        }
        fw_buf_printf(b, "]}");
    }
    fw_buf_printf(b, "]}");
}

enum { V2_SMALL_OUT = 64, V2_SMALL_ROWS = 16 };

/* The fast path for one row tensor (v1_decode.h): false, with nothing written and no reference
 * held, when the body is not of that shape; the jansson path then answers. */
static bool infer_fast(fw_server *s, const fw_route *rt, const char *body, size_t len, uint64_t t0, uint64_t reqno,
                       fw_reply *r) {
    fw_srv_target t;
    fw_err err;
    if (!body || fw__resolve_flags(s, rt->name, NULL, rt->version, NULL, reqno, r->resolve_flags, &t, &err)) return false;
    const fw_srv_model *m = t.m;
    fw_v2_decoded d;
    if (!fw__v2_decode_rows(m, body, len, &d) || (size_t)d.rows > s->cfg->max_instances) {
        fw__target_release(&t);
        return false;
    }
    fw__request_id_bind(s, r, m);
    r->metrics = m->metrics;
    r->variant = t.variant;
    r->ro = t.ro;
    r->ro_arm = t.ro_arm;
    size_t n = (size_t)d.rows;
    double out_st[V2_SMALL_OUT];
    fw_srv_decision dec_st[V2_SMALL_ROWS];
    double *out = n * m->n_outputs <= V2_SMALL_OUT ? out_st : fw_malloc(n * m->n_outputs * sizeof *out);
    fw_srv_decision *dec = n <= V2_SMALL_ROWS ? dec_st : fw_malloc(n * sizeof *dec);
    fw_buf warn;
    fw_buf_init(&warn);
    size_t n_warn = 0;
    bool oom = false;
    void *scratch = out && dec ? fw_srv_model_scratch(m, &oom) : (oom = true, NULL);
    if (oom) {
        fw__reply_error_v2(r, 500, "out of memory");
        goto out;
    }
    if (fw__canary_fault(s, &t, reqno, r)) goto out;
    for (size_t i = 0; i < n; i++) {
        fw__input_warnings(m, d.vals + i * m->n_inputs, "rows", i, &warn, &n_warn);
        fw_status st = fw_srv_model_decide(m, d.vals + i * m->n_inputs, scratch, s->cfg->confidence_threshold,
                                           out + i * m->n_outputs, &dec[i], &err);
        fw_srv_monitor_observe(m, d.vals + i * m->n_inputs, st == FW_OK ? out + i * m->n_outputs : NULL, t0, r->request_id);
        if (st) {
            fw__reply_error_v2(r, 400, "row %ld: %s", (long)i, err.msg);
            goto out;
        }
    }
    reply_infer(m, t.variant, d.rows, out, dec, d.id, NULL, &warn, n_warn, r);
    if (t.ro && n) fw_rollout_prediction(t.ro, t.ro_arm, r->request_id, m->n_classes > 0, dec[0].answer, dec[0].answer_value);
    FW_V1_FAST_ANSWERED();
    fw__log_prediction(s, r->request_id, m, t.variant, NULL, fw_now_ns() - t0, d.log_text ? d.log_text : body,
                       d.log_text ? d.log_len : len, out, dec, n, "v2");
out:
    r->hold = t.m;
    t.m = NULL;
    fw__target_release(&t);
    fw_buf_free(&warn);
    if (out != out_st) fw_free(out);
    if (dec != dec_st) fw_free(dec);
    return true;
}

/* The jansson path's twin of the fast decoder's log text (v1_decode.h): tensors per input as
 * {"instances":[{"f":v,...}],"id":"..."}, inputs in the model's order; numbers as the answers
 * format them (%.17g), so the same values as the fast path's, not always the same characters. */
static void log_text(fw_buf *b, const fw_srv_model *m, json_t ***cols, long rows, json_t *id) {
    fw_buf_printf(b, "{\"instances\":[");
    for (long i = 0; i < rows; i++) {
        fw_buf_put(b, i ? ",{" : "{", i ? 2 : 1);
        bool first = true;
        for (size_t k = 0; k < m->n_inputs; k++) {
            if (!cols[k]) continue;
            if (!first) fw_buf_put_u8(b, ',');
            first = false;
            fw_json_put_str(b, m->input_names[k]);
            fw_buf_put_u8(b, ':');
            json_t *v = cols[k][i];
            if (json_is_number(v)) fw_json_put_f64(b, json_number_value(v));
            else if (json_is_string(v)) fw_json_put_strn(b, json_string_value(v), json_string_length(v));
            else fw_buf_printf(b, "%s", json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
        }
        fw_buf_put_u8(b, '}');
    }
    fw_buf_put_u8(b, ']');
    if (json_is_string(id)) {
        fw_buf_printf(b, ",\"id\":");
        fw_json_put_strn(b, json_string_value(id), json_string_length(id));
    }
    fw_buf_put_u8(b, '}');
}

/* Answers an infer request whose id (number reqno) r already carries. */
static void infer_req(fw_server *s, const fw_route *rt, const char *body, size_t len, uint64_t reqno, fw_reply *r) {
    uint64_t t0 = fw_now_ns();
    r->t0_ns = t0;
    if (!s->slow_decode && infer_fast(s, rt, body, len, t0, reqno, r)) return;
    json_t *j = fw__parse_body(r, body, len, true);
    if (!j) return;
    fw_srv_target t = {0};
    json_t ***cols = NULL;
    long *col_len = NULL;
    fw_value *vals = NULL;
    double *out = NULL;
    fw_srv_decision *dec = NULL;
    fw_buf warn;
    fw_buf_init(&warn);
    size_t n_warn = 0;
    fw_err err;
    fw_status st = fw__resolve_flags(s, rt->name, NULL, rt->version, NULL, reqno, r->resolve_flags, &t, &err);
    if (st) {
        fw__reply_error_v2(r, fw__http_for(st), "%s", err.msg);
        goto out;
    }
    const fw_srv_model *m = t.m;
    fw__request_id_bind(s, r, m);
    r->metrics = m->metrics;
    r->variant = t.variant;
    r->ro = t.ro;
    r->ro_arm = t.ro_arm;
    if (fw__canary_fault(s, &t, reqno, r)) goto out;
    json_t *inputs = json_object_get(j, "inputs");
    json_t *req_out = json_object_get(j, "outputs");
    if (!json_is_array(inputs) || json_array_size(inputs) == 0) {
        fw__reply_error_v2(r, 400, "'inputs' must be a non-empty array of tensors");
        goto out;
    }
    if (req_out && json_is_array(req_out)) {
        for (size_t i = 0; i < json_array_size(req_out); i++) {
            const char *nm = json_string_value(json_object_get(json_array_get(req_out, i), "name"));
            if (!nm || (strcmp(nm, "score") && strcmp(nm, "label") && strcmp(nm, "answer") && strcmp(nm, "probabilities"))) {
                fw__reply_error_v2(r, 400, "unknown requested output '%s' (have score, label, answer, probabilities)", nm ? nm : "?");
                goto out;
            }
        }
    }
    size_t n_t = json_array_size(inputs);
    cols = fw_calloc(m->n_inputs, sizeof *cols);
    col_len = fw_calloc(m->n_inputs, sizeof *col_len);
    vals = fw_malloc((m->n_inputs ? m->n_inputs : 1) * sizeof *vals);
    json_t **row_leaves = NULL;
    long n_rows = -1;
    bool row_mode = false;
    if (!cols || !col_len || !vals) {
        fw__reply_error_v2(r, 500, "out of memory");
        goto out;
    }
    for (size_t ti = 0; ti < n_t; ti++) {
        json_t *tn = json_array_get(inputs, ti);
        const char *name = json_string_value(json_object_get(tn, "name"));
        json_t *data = json_object_get(tn, "data");
        long rows, ncol;
        long prod = shape_product(json_object_get(tn, "shape"), &rows, &ncol);
        if (!name || !data || prod < 0 || !json_string_value(json_object_get(tn, "datatype"))) {
            fw__reply_error_v2(r, 400, "inputs[%zu]: a tensor needs 'name', 'shape' (1 or 2 dimensions), 'datatype' and 'data'", ti);
            goto out;
        }
        long cnt = flatten(data, NULL, 0, 0);
        if (cnt != prod) {
            fw__reply_error_v2(r, 400, "inputs[%zu] '%s': shape says %ld values, data has %ld", ti, name, prod, cnt);
            goto out;
        }
        json_t **leaves = fw_malloc((size_t)(cnt ? cnt : 1) * sizeof *leaves);
        if (!leaves) {
            fw__reply_error_v2(r, 500, "out of memory");
            goto out;
        }
        flatten(data, leaves, 0, 0);
        int64_t k = fw_strmap_get(&m->input_index, name, strlen(name));
        if (k < 0 && n_t == 1 && ncol == (long)m->n_inputs && json_array_size(json_object_get(tn, "shape")) == 2) {
            row_mode = true;
            row_leaves = leaves;
            n_rows = rows;
            break;
        }
        if (k < 0) {
            fw_free(leaves);
            fw__reply_error_v2(r, 400, "inputs[%zu]: unknown input '%s' (model inputs: one tensor per feature, or one tensor of shape [n, %zu])",
                               ti, name, m->n_inputs);
            goto out;
        }
        if (ncol != 1 || (n_rows >= 0 && rows != n_rows)) {
            fw_free(leaves);
            fw__reply_error_v2(r, 400, "inputs[%zu] '%s': expected shape [n] or [n, 1] with the same n for every input", ti, name);
            goto out;
        }
        n_rows = rows;
        fw_free(cols[k]);
        cols[k] = leaves;
        col_len[k] = rows;
    }
    if (n_rows <= 0) {
        fw_free(row_leaves);
        fw__reply_error_v2(r, 400, "no rows to infer");
        goto out;
    }
    if ((size_t)n_rows > s->cfg->max_instances) {
        fw_free(row_leaves);
        fw__reply_error_v2(r, 413, "%ld rows in one request, over serving.max_instances = %zu", n_rows,
                           s->cfg->max_instances);
        goto out;
    }
    out = fw_malloc((size_t)n_rows * m->n_outputs * sizeof *out);
    dec = fw_malloc((size_t)n_rows * sizeof *dec);
    bool oom;
    void *scratch = fw_srv_model_scratch(m, &oom);
    if (!out || !dec || oom) {
        fw_free(row_leaves);
        fw__reply_error_v2(r, 500, "out of memory");
        goto out;
    }
    for (long i = 0; i < n_rows; i++) {
        for (size_t k = 0; k < m->n_inputs; k++) {
            json_t *leaf = row_mode ? row_leaves[(size_t)i * m->n_inputs + k] : (cols[k] ? cols[k][i] : NULL);
            vals[k] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            if (leaf && !leaf_value(leaf, &vals[k])) {
                fw_free(row_leaves);
                fw__reply_error_v2(r, 400, "row %ld, input '%s': expected a number, string, boolean or null", i, m->input_names[k]);
                goto out;
            }
        }
        fw__input_warnings(m, vals, "rows", (size_t)i, &warn, &n_warn);
        st = fw_srv_model_decide(m, vals, scratch, s->cfg->confidence_threshold, out + (size_t)i * m->n_outputs,
                                 &dec[i], &err);
        fw_srv_monitor_observe(m, vals, st == FW_OK ? out + (size_t)i * m->n_outputs : NULL, r->t0_ns, r->request_id);
        if (st) {
            fw_free(row_leaves);
            fw__reply_error_v2(r, 400, "row %ld: %s", i, err.msg);
            goto out;
        }
    }
    fw_free(row_leaves);
    json_t *id = json_object_get(j, "id");
    reply_infer(m, t.variant, n_rows, out, dec, json_is_string(id) ? json_string_value(id) : NULL, req_out, &warn,
                n_warn, r);
    if (t.ro && n_rows > 0)
        fw_rollout_prediction(t.ro, t.ro_arm, r->request_id, m->n_classes > 0, dec[0].answer, dec[0].answer_value);
    if (row_mode) {
        fw__log_prediction(s, r->request_id, m, t.variant, NULL, fw_now_ns() - t0, body, len, out, dec,
                           (size_t)n_rows, "v2");
    } else { /* tensors per input: logged in the /v1 shape, like the fast path does */
        fw_buf lt;
        fw_buf_init(&lt);
        log_text(&lt, m, cols, n_rows, id);
        bool ok = fw_buf_ok(&lt);
        fw__log_prediction(s, r->request_id, m, t.variant, NULL, fw_now_ns() - t0, ok ? (const char *)lt.data : body,
                           ok ? lt.len : len, out, dec, (size_t)n_rows, "v2");
        fw_buf_free(&lt);
    }
out:
    if (t.m) {
        r->hold = t.m;
        t.m = NULL;
    }
    fw__target_release(&t);
    if (cols) {
        for (size_t k = 0; r->hold && k < r->hold->n_inputs; k++) fw_free(cols[k]);
        fw_free(cols);
    }
    fw_free(col_len);
    fw_free(vals);
    fw_free(out);
    fw_free(dec);
    fw_buf_free(&warn);
    json_decref(j);
}

static void infer(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r) {
    infer_req(s, rt, body, len, fw__new_request_id(s, r), r);
}

void fw__v2_infer_canary(fw_server *s, const fw_route *rt, const char *body, size_t len, uint64_t reqno, fw_reply *r) {
    r->resolve_flags = FW_RESOLVE_CANARY;
    infer_req(s, rt, body, len, reqno, r);
}

/* The champion answers a canary rollout's infer request that the canary did not (failed with a
 * 5xx, timed out, or shed); the failure is counted against the canary (rollout.h). */
static void infer_champion(fw_server *s, const fw_route *rt, const char *body, size_t len, struct fw_rollout_split *ro,
                           fw_reply *r) {
    fw_srv_model_unref(r->hold);
    r->hold = NULL;
    r->metrics = NULL;
    r->body.len = 0;
    r->body.oom = false;
    r->code = 0;
    r->resolve_flags = FW_RESOLVE_CHAMPION;
    fw_rollout_fallback(ro);
    infer(s, rt, body, len, r);
    r->ro = ro;
    r->ro_arm = FW_RO_CANARY;
    r->ro_failed = true;
}

/* A canary rollout's infer request routed to its canary runs on a canary runner with the
 * connection suspended (canary_runner.h), as for /v1 :predict: the champion answers when the canary
 * fails (5xx), does not answer within timeout_ms, or has max_inflight requests in flight. Whichever
 * arm answers, server.c counts the request against the arm it was routed to (r->ro). */
static void infer_counted(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r) {
    if (r->canary_slot && *r->canary_slot) { /* resumed: the canary answered, or its time is up */
        fw_canary_job *j = *r->canary_slot;
        *r->canary_slot = NULL;
        struct fw_rollout_split *ro = NULL;
        if (!fw_canary_finish(s->canary, j, r, &ro)) {
            fw_rollout_isolated(ro, true);
            infer_champion(s, rt, body, len, ro, r);
            return;
        }
    } else {
        uint64_t reqno = fw__new_request_id(s, r), timeout_ns = 0;
        struct fw_rollout_split *ro = r->conn && r->canary_slot ? fw__canary_route(s, rt, reqno, &timeout_ns) : NULL;
        if (ro) {
            if (fw_canary_submit(s->canary, r->conn, r->canary_slot, ro, rt, body, len, false, reqno, r, timeout_ns) ==
                FW_CANARY_SUSPENDED) {
                r->suspended = true;
                return;
            }
            fw_rollout_isolated(ro, false);
            infer_champion(s, rt, body, len, ro, r);
            return;
        }
        infer_req(s, rt, body, len, reqno, r);
    }
    if (!r->ro || r->ro_arm != FW_RO_CANARY || r->code < 500 || r->ro_failed) return;
    struct fw_rollout_split *ro = r->ro;
    if (r->hold && r->metrics) fw_metrics_request(r->metrics, FW_VARIANT_CHALLENGER, r->code, fw_now_ns() - r->t0_ns);
    infer_champion(s, rt, body, len, ro, r);
}

void fw__api_v2(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r) {
    switch (rt->kind) {
    case FW_ROUTE_V2_SERVER:
        r->code = 200;
        fw_buf_printf(&r->body, "{\"name\":\"flywheel\",\"version\":");
        fw_json_put_str(&r->body, fw_version());
        fw_buf_printf(&r->body, ",\"extensions\":[]}");
        return;
    case FW_ROUTE_V2_LIVE:
        r->code = 200;
        fw_buf_printf(&r->body, "{\"live\":true}");
        return;
    case FW_ROUTE_V2_READY: {
        /* ready: started, not draining, and every served route can answer (503 names those that cannot) */
        bool ready = atomic_load(&s->ready);
        fw_buf bad;
        fw_buf_init(&bad);
        size_t n_bad = ready ? fw__routes_unready(s, &bad) : 0;
        r->code = ready && !n_bad ? 200 : 503;
        fw_buf_printf(&r->body, "{\"ready\":%s", r->code == 200 ? "true" : "false");
        if (n_bad) {
            fw_buf_printf(&r->body, ",\"unready\":[");
            fw_buf_put(&r->body, bad.data, bad.len);
            fw_buf_put_u8(&r->body, ']');
        }
        fw_buf_put_u8(&r->body, '}');
        fw_buf_free(&bad);
        return;
    }
    case FW_ROUTE_V2_MODEL:
    case FW_ROUTE_V2_MODEL_READY: {
        fw_srv_target t;
        fw_err err;
        fw_status st = fw__resolve(s, rt->name, NULL, rt->version, NULL, 0, &t, &err);
        if (rt->kind == FW_ROUTE_V2_MODEL_READY && st == FW_ENOTFOUND) {
            fw__reply_error_v2(r, 404, "%s", err.msg);
        } else if (rt->kind == FW_ROUTE_V2_MODEL_READY) {
            r->code = st ? 503 : 200;
            fw_buf_printf(&r->body, "{\"name\":");
            fw_json_put_str(&r->body, rt->name);
            fw_buf_printf(&r->body, ",\"ready\":%s}", st ? "false" : "true");
        } else if (st) {
            fw__reply_error_v2(r, fw__http_for(st), "%s", err.msg);
        } else {
            r->code = 200;
            model_meta(&r->body, t.m);
        }
        if (!st) fw__target_release(&t);
        return;
    }
    case FW_ROUTE_V2_INFER: infer_counted(s, rt, body, len, r); return;
    default: fw__reply_error_v2(r, 404, "no such v2 endpoint");
    }
}
