/* explain.c — owns the :explain answer of an artifact-backed model: which output is explained (the
 * decision's class, or the class the request names), and the explanation in the terms of the
 * request's own fields:
 *   - additive families (linear, baseline: exact; gbdt: TreeSHAP): contributions per INPUT column
 *     (artifact/explain_inputs.h computes and orders them, for the C API too), the bias last:
 *     they still add up to the explained output's margin;
 *   - knn: the nearest training rows with their labels and distances;
 *   - hier: the path, group then class, each level with its probability and contributions.
 * Explanations are not on the hot path: buffers are allocated per call. */
#include "serve/explain.h"

#include "artifact/artifact.h"
#include "artifact/explain_inputs.h"
#include "core/alloc.h"
#include "models/explain.h"
#include "serve/server_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fw__explain_put_contribs(fw_buf *b, const char *const *names, size_t ni, const double *per_input, double bias) {
    uint32_t *order = fw_malloc((ni ? ni : 1) * sizeof *order);
    size_t n = order ? fw_explain_order(names, per_input, ni, order) : 0;
    if (!order) b->oom = true;
    fw_buf_put_u8(b, '{');
    for (size_t i = 0; i < n; i++) {
        fw_json_put_str(b, names[order[i]]);
        fw_buf_put_u8(b, ':');
        fw_json_put_f64(b, per_input[order[i]]);
        fw_buf_put_u8(b, ',');
    }
    fw_buf_printf(b, "\"(bias)\":");
    fw_json_put_f64(b, bias == 0 ? 0 : bias); /* never "-0" (a negated zero bias) */
    fw_buf_put_u8(b, '}');
    fw_free(order);
}

/* The same for a pipeline's input columns. */
static void put_contribs(fw_buf *b, const fw_pipeline *pl, const double *per_input, double bias) {
    size_t ni = fw_pipeline_n_inputs(pl);
    const char **names = fw_malloc((ni ? ni : 1) * sizeof *names);
    if (!names) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < ni; i++) names[i] = fw_pipeline_input_name(pl, i);
    fw__explain_put_contribs(b, names, ni, per_input, bias);
    fw_free(names);
}

/* The class a multiclass answer explains by default: the model's own argmax. */
static int32_t argmax(const double *o, size_t n) {
    int32_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (o[k] > o[best]) best = (int32_t)k;
    return best;
}

static const char *class_name(const fw_target *t, int32_t k) {
    return k >= 0 && (size_t)k < t->n_classes && t->class_names ? t->class_names[k] : NULL;
}

void fw__explain_put_explained(fw_buf *b, fw_task task, const char *name, int32_t k, const char *method,
                               const char *space) {
    fw_buf_printf(b, ",\"explained\":{\"output\":");
    if (name) fw_json_put_str(b, name);
    else fw_json_put_str(b, task == FW_TASK_REGRESSION || task == FW_TASK_RANKING ? "value" : "score");
    if (name) fw_buf_printf(b, ",\"class_index\":%d", (int)k);
    fw_buf_printf(b, ",\"method\":\"%s\"", method);
    if (space) fw_buf_printf(b, ",\"space\":\"%s\"", space);
    fw_buf_put_u8(b, '}');
}

static void put_explained(fw_buf *b, const fw_target *t, int32_t k, const char *method, const char *space) {
    fw__explain_put_explained(b, t->task, class_name(t, k), k, method, space);
}

static fw_status explain_knn(const fw_bundle *bu, const fw_model *model, const fw_row *row, const double *own,
                             fw_buf *b, fw_err *err) {
    const fw_target *t = fw_bundle_target(bu);
    enum { MAXN = 64 };
    uint64_t rows[MAXN];
    double dist[MAXN], lab[MAXN];
    size_t msz = (fw_model_scratch_size(model) + 15) & ~(size_t)15;
    void *scratch = aligned_alloc(16, msz ? msz : 16);
    if (!scratch) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t n = fw_knn_neighbors(model, row, scratch, MAXN, rows, dist, lab);
    free(scratch);
    int32_t k = t->task == FW_TASK_MULTICLASS ? argmax(own, model->n_outputs)
                : t->task == FW_TASK_BINARY    ? (own[0] >= fw_bundle_threshold(bu) ? 1 : 0)
                                               : -1;
    put_explained(b, t, k, "nearest_neighbors", NULL);
    fw_buf_printf(b, ",\"neighbors\":[");
    for (size_t q = 0; q < n; q++) {
        fw_buf_printf(b, "%s{\"row\":%llu,\"label\":", q ? "," : "", (unsigned long long)rows[q]);
        const char *name = (t->task == FW_TASK_BINARY || t->task == FW_TASK_MULTICLASS) ? class_name(t, (int32_t)lab[q]) : NULL;
        if (name) fw_json_put_str(b, name);
        else fw_json_put_f64(b, lab[q]);
        fw_buf_printf(b, ",\"distance\":");
        fw_json_put_f64(b, dist[q]);
        fw_buf_put_u8(b, '}');
    }
    fw_buf_put_u8(b, ']');
    return FW_OK;
}

static fw_status explain_hier(const fw_bundle *bu, const fw_model *model, const fw_row *row, const double *own,
                              int32_t cls, fw_buf *b, fw_err *err) {
    const fw_target *t = fw_bundle_target(bu);
    const fw_pipeline *pl = fw_bundle_pipeline(bu);
    size_t nd = model->n_dense, ni = fw_pipeline_n_inputs(pl);
    int32_t k = cls >= 0 ? cls : argmax(own, model->n_outputs);
    double *gc = fw_malloc((nd + 1) * sizeof(double)), *cc = fw_malloc((nd + 1) * sizeof(double));
    double *per = fw_calloc(ni ? ni : 1, sizeof(double));
    fw_hier_path path;
    fw_status st = gc && cc && per ? fw_hier_explain(model, row, (uint32_t)k, &path, gc, cc) : FW_ENOMEM;
    if (st) {
        fw_free(gc);
        fw_free(cc);
        fw_free(per);
        return fw_err_set(err, st, "explain: %s", fw_strerror(st));
    }
    /* group names, when the project declared the hierarchy (the artifact keeps them) */
    const char *names = fw_bundle_meta_str(bu, FW_KV_HIER_GROUPS);
    put_explained(b, t, k, "hierarchy", "softmax_margin");
    fw_buf_printf(b, ",\"probability\":");
    fw_json_put_f64(b, path.p_group * path.p_in_group);
    fw_buf_printf(b, ",\"path\":[{\"level\":\"group\",\"group\":%u", path.group);
    if (names) {
        /* one name a line */
        const char *p = names;
        for (uint32_t g = 0; p && g < path.group; g++) {
            p = strchr(p, '\n');
            if (p) p++;
        }
        if (p) {
            const char *e = strchr(p, '\n');
            char nm[256];
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len >= sizeof nm) len = sizeof nm - 1;
            memcpy(nm, p, len);
            nm[len] = 0;
            fw_buf_printf(b, ",\"name\":");
            fw_json_put_str(b, nm);
        }
    }
    fw_buf_printf(b, ",\"groups\":%zu,\"probability\":", path.n_groups);
    fw_json_put_f64(b, path.p_group);
    if (path.has_group_model) {
        fw_explain_group_dense(pl, gc, nd, per);
        fw_buf_printf(b, ",\"contributions\":");
        put_contribs(b, pl, per, gc[nd]);
    }
    fw_buf_printf(b, "},{\"level\":\"class\",\"class\":");
    fw_json_put_str(b, class_name(t, k) ? class_name(t, k) : "");
    fw_buf_printf(b, ",\"probability_in_group\":");
    fw_json_put_f64(b, path.p_in_group);
    if (path.has_class_model) {
        memset(per, 0, (ni ? ni : 1) * sizeof(double));
        fw_explain_group_dense(pl, cc, nd, per);
        fw_buf_printf(b, ",\"contributions\":");
        put_contribs(b, pl, per, cc[nd]);
    }
    fw_buf_printf(b, "}]");
    fw_free(gc);
    fw_free(cc);
    fw_free(per);
    return FW_OK;
}

fw_status fw__explain_bundle(const fw_bundle *bu, const fw_value *inputs, const double *own, int32_t cls, fw_buf *b,
                             fw_err *err) {
    const fw_model *model = fw_bundle_model(bu);
    const fw_pipeline *pl = fw_bundle_pipeline(bu);
    const fw_target *t = fw_bundle_target(bu);
    size_t ni = fw_pipeline_n_inputs(pl);
    fw_explain_scratch *s = NULL;
    double *per = fw_calloc(ni ? ni : 1, sizeof(double));
    fw_status st;
    if (!per || fw_explain_scratch_new(bu, &s)) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    fw_row row;
    if ((st = fw_explain_prepare(bu, inputs, s, &row, err))) goto done;
    if (fw_model_is_knn(model)) {
        st = explain_knn(bu, model, &row, own, b, err);
        goto done;
    }
    if (fw_model_is_hier(model)) {
        st = explain_hier(bu, model, &row, own, cls, b, err);
        goto done;
    }
    double bias;
    fw_explain_output eo;
    if ((st = fw_explain_by_input(bu, inputs, &row, own, cls, s, per, &bias, &eo, err))) goto done;
    put_explained(b, t, eo.shown, !strcmp(model->vt->family, "gbdt") ? "treeshap" : "additive", eo.space);
    fw_buf_printf(b, ",\"contributions\":");
    put_contribs(b, pl, per, bias);
    fw_buf_printf(b, ",\"contribution_space\":\"%s\"", eo.space);
done:
    fw_explain_scratch_free(s);
    fw_free(per);
    return st;
}
