/* predictor.c — owns fw_predictor: loading a model (memory or file) into the shared, immutable
 * handle, and what it tells about itself (inputs, types, outputs, classes, features). */
#include "api/api_int.h"

#include "artifact/artifact.h"
#include "core/alloc.h"

#include <string.h>

static fw_status wrap(fw_bundle *b, fw_predictor **out, fw_err *err) {
    fw_predictor *m = fw_calloc(1, sizeof *m);
    if (!m) {
        fw_bundle_free(b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    m->b = b;
    m->pl = fw_bundle_pipeline(b);
    m->t = fw_bundle_target(b);
    m->model = fw_bundle_model(b);
    m->task = fw_bundle_task(b);
    m->n_inputs = fw_pipeline_n_inputs(m->pl);
    m->n_outputs = fw_bundle_n_outputs(b);
    m->n_features = fw_pipeline_n_dense(m->pl);
    const char *name = fw_bundle_meta_str(b, FW_KV_NAME);
    m->name = name ? name : "";
    m->threshold = fw_bundle_threshold(b);
    /* as batch sees the classes (batch/batch_bundle.c) */
    m->n_text_classes = m->t->n_classes ? m->t->n_classes : (m->task == FW_TASK_MULTILABEL ? m->t->n_outputs : 0);
    m->classes = (const char *const *)m->t->class_names;
    m->input_names = fw_calloc(m->n_inputs ? m->n_inputs : 1, sizeof *m->input_names);
    if (!m->input_names) {
        fw_predictor_free(m);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->n_inputs; i++) m->input_names[i] = fw_pipeline_input_name(m->pl, i);
    *out = m;
    return FW_OK;
}

fw_status fw_predictor_load_mem(const void *data, size_t len, fw_predictor **out, fw_err *err) {
    if (!out) return fw_err_set(err, FW_EINVAL, "fw_predictor_load_mem: out is NULL");
    *out = NULL;
    if (!data && len) return fw_err_set(err, FW_EINVAL, "fw_predictor_load_mem: data is NULL");
    fw_bundle *b;
    fw_status st = fw_bundle_load_mem(data, len, &b, err);
    return st ? st : wrap(b, out, err);
}

fw_status fw_predictor_load_file(const char *path, fw_predictor **out, fw_err *err) {
    if (!out) return fw_err_set(err, FW_EINVAL, "fw_predictor_load_file: out is NULL");
    *out = NULL;
    if (!path) return fw_err_set(err, FW_EINVAL, "fw_predictor_load_file: path is NULL");
    fw_bundle *b;
    fw_status st = fw_bundle_load_file(path, &b, err);
    return st ? st : wrap(b, out, err);
}

void fw_predictor_free(fw_predictor *m) {
    if (!m) return;
    fw_bundle_free(m->b);
    fw_free(m->input_names);
    fw_free(m);
}

const char *fw_predictor_name(const fw_predictor *m) { return m->name; }
const char *fw_predictor_family(const fw_predictor *m) { return m->model->vt->family; }

const char *fw_predictor_task(const fw_predictor *m) {
    switch (m->task) {
    case FW_TASK_BINARY: return "binary";
    case FW_TASK_MULTICLASS: return "multiclass";
    case FW_TASK_MULTILABEL: return "multilabel";
    case FW_TASK_REGRESSION: return "regression";
    case FW_TASK_RANKING: return "ranking";
    }
    return "unknown";
}

size_t fw_predictor_n_inputs(const fw_predictor *m) { return m->n_inputs; }

const char *fw_predictor_input_name(const fw_predictor *m, size_t i) {
    return i < m->n_inputs ? fw_pipeline_input_name(m->pl, i) : NULL;
}

fw_input_type fw_predictor_input_type(const fw_predictor *m, size_t i) {
    if (i >= m->n_inputs) return FW_INPUT_NUMERIC;
    switch (fw_pipeline_input_type(m->pl, i)) {
    case FW_COL_NUMERIC: return FW_INPUT_NUMERIC;
    case FW_COL_CATEGORICAL: return FW_INPUT_CATEGORICAL;
    case FW_COL_TEXT: return FW_INPUT_TEXT;
    case FW_COL_TIMESTAMP: return FW_INPUT_TIMESTAMP;
    }
    return FW_INPUT_NUMERIC;
}

int fw_predictor_input_index(const fw_predictor *m, const char *name) {
    return name ? fw_pipeline_input_index(m->pl, name, strlen(name)) : -1;
}

size_t fw_predictor_n_outputs(const fw_predictor *m) { return m->n_outputs; }

const char *fw_predictor_output_name(const fw_predictor *m, size_t k) {
    if (k >= m->n_outputs) return NULL;
    switch (m->task) {
    case FW_TASK_BINARY: return m->t->n_classes == 2 && m->classes ? m->classes[1] : "score";
    case FW_TASK_MULTICLASS:
    case FW_TASK_MULTILABEL: return k < m->n_text_classes && m->classes ? m->classes[k] : "score";
    case FW_TASK_REGRESSION: return "value";
    case FW_TASK_RANKING: return "score";
    }
    return "score";
}

size_t fw_predictor_n_classes(const fw_predictor *m) { return m->classes ? m->t->n_classes : 0; }

const char *fw_predictor_class_name(const fw_predictor *m, size_t k) {
    return m->classes && k < m->t->n_classes ? m->classes[k] : NULL;
}

size_t fw_predictor_n_features(const fw_predictor *m) { return m->n_features; }

const char *fw_predictor_feature_name(const fw_predictor *m, size_t j) {
    return j < m->n_features ? fw_pipeline_dense_name(m->pl, j) : NULL;
}
