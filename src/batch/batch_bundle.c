/* batch_bundle.c — owns the fw_bundle → fw_batch_model adapter and the registry lookup. Every
 * prediction goes through fw_bundle_predict_record, the same call the server makes, so batch and
 * online answers are identical to the last bit. */
#include "batch/batch_bundle.h"

#include "artifact/artifact.h"
#include "core/alloc.h"
#include "registry/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct fw_batch_bundle {
    fw_batch_model m;
    fw_bundle *b;
    char *name, *version;
    const char **inputs;
    fw_col_type *types;
};

static void *scratch_new(void *ud) {
    fw_batch_bundle *bb = ud;
    fw_bundle_scratch *s = NULL;
    return fw_bundle_scratch_new(bb->b, &s) == FW_OK ? s : NULL;
}

static void scratch_free(void *ud, void *s) {
    (void)ud;
    fw_bundle_scratch_free(s);
}

static fw_status predict(void *ud, const fw_value *inputs, void *scratch, double *out, const char **label,
                         fw_err *err) {
    fw_batch_bundle *bb = ud;
    fw_prediction p;
    fw_status st = fw_bundle_predict_record(bb->b, inputs, scratch, &p, err);
    if (st) return st;
    size_t n = p.n_outputs < bb->m.n_outputs ? p.n_outputs : bb->m.n_outputs;
    memcpy(out, p.scores, n * sizeof *out);
    if (p.source == FW_PRED_REVIEW) *label = "review";
    else if (p.label_name) *label = p.label_name;
    else if (p.source != FW_PRED_MODEL && bb->m.task != FW_TASK_BINARY && bb->m.task != FW_TASK_MULTICLASS)
        out[0] = p.value;
    return FW_OK;
}

void fw_batch_bundle_free(fw_batch_bundle *bb) {
    if (!bb) return;
    fw_bundle_free(bb->b);
    fw_free(bb->name);
    fw_free(bb->version);
    fw_free(bb->inputs);
    fw_free(bb->types);
    fw_free(bb);
}

fw_status fw_batch_bundle_wrap(fw_bundle *b, const char *name, const char *version, fw_batch_bundle **out,
                               fw_err *err) {
    *out = NULL;
    fw_batch_bundle *bb = fw_calloc(1, sizeof *bb);
    if (!bb) {
        fw_bundle_free(b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    bb->b = b;
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    const fw_target *t = fw_bundle_target(b);
    size_t ni = fw_pipeline_n_inputs(pl);
    bb->name = fw_strdup(name ? name : "model");
    bb->version = fw_strdup(version ? version : "");
    bb->inputs = fw_calloc(ni + 1, sizeof *bb->inputs);
    bb->types = fw_calloc(ni + 1, sizeof *bb->types);
    if (!bb->name || !bb->version || !bb->inputs || !bb->types) {
        fw_batch_bundle_free(bb);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ni; i++) {
        bb->inputs[i] = fw_pipeline_input_name(pl, i);
        bb->types[i] = fw_pipeline_input_type(pl, i);
    }
    fw_batch_model *m = &bb->m;
    m->name = bb->name;
    m->version = bb->version;
    m->task = fw_bundle_task(b);
    m->n_outputs = fw_bundle_n_outputs(b);
    m->n_classes = t->n_classes ? t->n_classes : (m->task == FW_TASK_MULTILABEL ? t->n_outputs : 0);
    m->classes = (const char *const *)t->class_names;
    m->threshold = fw_bundle_threshold(b);
    m->n_inputs = ni;
    m->input_names = bb->inputs;
    m->input_types = bb->types;
    m->ud = bb;
    m->scratch_new = scratch_new;
    m->scratch_free = scratch_free;
    m->predict = predict;
    *out = bb;
    return FW_OK;
}

fw_status fw_batch_bundle_open_file(const char *path, fw_batch_bundle **out, fw_err *err) {
    *out = NULL;
    fw_bundle *b;
    fw_status st = fw_bundle_load_file(path, &b, err);
    if (st) return st;
    const char *name = fw_bundle_meta_str(b, FW_KV_NAME);
    return fw_batch_bundle_wrap(b, name, "file", out, err);
}

fw_status fw_batch_bundle_open(const char *home, const char *ref, fw_batch_bundle **out, fw_err *err) {
    *out = NULL;
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    ro.command = "flywheel batch";
    fw_registry *r;
    fw_status st = fw_registry_open(&ro, &r, err);
    if (st) return st;
    fw_version_rec v;
    memset(&v, 0, sizeof v);
    uint8_t *bytes = NULL;
    size_t len = 0;
    st = fw_registry_resolve(r, ref, &v, err);
    if (!st) st = fw_registry_read_artifact(r, &v, &bytes, &len, err);
    fw_registry_close(r);
    fw_bundle *b = NULL;
    if (!st) st = fw_bundle_load_mem(bytes, len, &b, err);
    fw_free(bytes);
    if (!st) {
        char ver[32];
        snprintf(ver, sizeof ver, "%" PRId64, v.version);
        st = fw_batch_bundle_wrap(b, v.name, ver, out, err);
    }
    fw_version_rec_free(&v);
    return st;
}

const fw_batch_model *fw_batch_bundle_model(const fw_batch_bundle *bb) { return &bb->m; }
const fw_bundle *fw_batch_bundle_get(const fw_batch_bundle *bb) { return bb->b; }
