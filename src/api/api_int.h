/* api_int.h — owns the structs behind the public prediction handles (include/flywheel.h):
 * fw_predictor wraps a loaded bundle (artifact/bundle.h: THE prediction path batch and serve share)
 * and fw_context one thread's scratch. Shared by the files of src/api/ only. */
#ifndef FW_API_API_INT_H
#define FW_API_API_INT_H

#include "artifact/bundle.h"
#include "artifact/explain_inputs.h"
#include "flywheel.h"

#include <stddef.h>

struct fw_predictor {
    fw_bundle *b;
    const fw_pipeline *pl;
    const fw_target *t;
    const fw_model *model;
    fw_task task;
    size_t n_inputs;
    size_t n_outputs;
    size_t n_features;         /* the pipeline's dense features (the model's n_dense) */
    const char *name;          /* general.name, or "" */
    double threshold;          /* binary decision threshold */
    size_t n_text_classes;     /* the class names batch's text uses (multilabel: the label columns) */
    const char *const *classes;
    const char **input_names;  /* n_inputs: the pipeline's (explanations order ties by them) */
};

struct fw_context {
    const fw_predictor *m;
    fw_bundle_scratch *bs;     /* predict: the bundle's own scratch */
    fw_value *vals;            /* n_inputs: the record in input order */
    /* explain: a pipeline pass and the model's scratch of our own */
    fw_pipeline_scratch *ps;
    float *dense;
    void *mscratch;
    /* explain per input column (artifact/explain_inputs.h, the server's code): its scratch, the
     * sums per input, their order, the model's own scores; knn's neighbours; hier's two levels */
    fw_explain_scratch *es;
    double *per, *own;
    uint32_t *order;
    uint64_t nb_rows[FW_EXPLAIN_MAX_NEIGHBORS];
    double nb_dist[FW_EXPLAIN_MAX_NEIGHBORS], nb_label[FW_EXPLAIN_MAX_NEIGHBORS];
    double *gc, *cc;           /* hier: n_features + 1 each */
    char group_name[256];
};

/* Converts one public field into the record value for input i (FW_FIELD_CSV read as batch reads
 * a CSV cell of the input's type). FW_ESCHEMA naming the input when the text does not fit. */
fw_status fw__api_field_value(const fw_predictor *m, size_t i, const fw_field *f, fw_value *out, fw_err *err);

/* The record in cx->vals through the shared path; fills scores (n_scores >= n_outputs, or 0) and res. */
fw_status fw__api_predict_vals(fw_context *cx, double *scores, size_t n_scores, fw_result *res, fw_err *err);

/* Fills cx->vals from named fields (unknown names ignored, the rest missing). */
fw_status fw__api_record_vals(fw_context *cx, const fw_field *fields, size_t n_fields, fw_err *err);

#endif
