/* bundle.h — owns the LOADED form of an artifact and THE prediction path shared by the server and
 * the batch scorer: record of raw input values → fitted pipeline (record transform) → model
 * (predict_row) → decision (threshold / argmax, abstain below the confidence threshold with the
 * configured fallback: the baseline's answer, a fixed value, or "needs review").
 *
 * A bundle is immutable once loaded and shared by any number of threads; each thread brings its
 * own fw_bundle_scratch (allocated once: no allocation per prediction after that).
 *
 * Example:
 *   fw_bundle *b; fw_bundle_load_file("churn.fwm", &b, &err);
 *   fw_bundle_scratch *s; fw_bundle_scratch_new(b, &s);
 *   fw_prediction p; fw_bundle_predict_record(b, values, s, &p, &err);
 *   printf("%s %.3f\n", p.label_name, p.confidence);
 *   fw_bundle_scratch_free(s); fw_bundle_free(b); */
#ifndef FW_ARTIFACT_BUNDLE_H
#define FW_ARTIFACT_BUNDLE_H

#include "artifact/reference.h"
#include "data/dataset.h"
#include "features/pipeline.h"
#include "features/target.h"
#include "flywheel.h"
#include "models/model.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_bundle fw_bundle;

/* Loads from memory (the primary path). Verifies the container (see fw_artifact_open for the
 * errors), then loads pipeline, label encoding, model, baseline (optional) and reference
 * (optional). Every part is copied out: data may be freed after the call. Free with fw_bundle_free. */
fw_status fw_bundle_load_mem(const void *data, size_t len, fw_bundle **out, fw_err *err);
/* mmaps the file and loads it (errors name the file). */
fw_status fw_bundle_load_file(const char *path, fw_bundle **out, fw_err *err);
void fw_bundle_free(fw_bundle *b);

/* Parts and settings (owned by the bundle; valid while it lives). */
const fw_pipeline *fw_bundle_pipeline(const fw_bundle *b);
const fw_target *fw_bundle_target(const fw_bundle *b);
const fw_model *fw_bundle_model(const fw_bundle *b);
const fw_model *fw_bundle_baseline(const fw_bundle *b);      /* NULL when the artifact has none */
const fw_reference *fw_bundle_reference(const fw_bundle *b); /* NULL when the artifact has none */
fw_task fw_bundle_task(const fw_bundle *b);
size_t fw_bundle_n_outputs(const fw_bundle *b);
double fw_bundle_threshold(const fw_bundle *b);              /* binary decision threshold */
double fw_bundle_confidence_threshold(const fw_bundle *b);   /* 0 = never abstain */
fw_fallback_kind fw_bundle_fallback(const fw_bundle *b);
bool fw_bundle_has_baseline(const fw_bundle *b);
const char *fw_bundle_fallback_value(const fw_bundle *b);    /* NULL unless FW_FALLBACK_VALUE */
/* Metadata from the artifact (general.name, metric.primary, ...): NULL when absent. */
const char *fw_bundle_meta_str(const fw_bundle *b, const char *key);
bool fw_bundle_meta_f64(const fw_bundle *b, const char *key, double *out);
bool fw_bundle_meta_i64(const fw_bundle *b, const char *key, int64_t *out);
/* A bytes entry (e.g. the recorded project, train.project_yaml): NUL-terminated after n bytes. */
bool fw_bundle_meta_bytes(const fw_bundle *b, const char *key, const uint8_t **p, size_t *n);

/* Per-thread scratch. FW_OK or FW_ENOMEM. */
typedef struct fw_bundle_scratch fw_bundle_scratch;
fw_status fw_bundle_scratch_new(const fw_bundle *b, fw_bundle_scratch **out);
void fw_bundle_scratch_free(fw_bundle_scratch *s);
/* fw_pipeline_scratch_reserve_text for the scratch's pipeline pass. FW_OK or FW_ENOMEM. */
fw_status fw_bundle_scratch_reserve_text(const fw_bundle *b, fw_bundle_scratch *s, size_t text_bytes);
/* The baseline's scores for one record (n_outputs into out): the baseline model on the record's
 * transformed row, or a rule baseline (`baseline:` a rule in the project) on the raw inputs.
 * FW_ENOTFOUND when the artifact has neither. Thread-safe with the caller's scratch. */
fw_status fw_bundle_baseline_record(const fw_bundle *b, const fw_value *inputs, const fw_row *row,
                                    fw_bundle_scratch *s, double *out, fw_err *err);

typedef enum fw_prediction_source {
    FW_PRED_MODEL = 0,         /* the model's own answer */
    FW_PRED_BASELINE,          /* abstained: the baseline's answer */
    FW_PRED_VALUE,             /* abstained: the configured fixed value */
    FW_PRED_REVIEW,            /* abstained: needs human review (no label) */
} fw_prediction_source;
const char *fw_prediction_source_name(fw_prediction_source s); /* "model", "baseline", ... */

typedef struct fw_prediction {
    const double *scores;      /* n_outputs values of the answering model (model or baseline);
                                  points into the scratch: valid until its next use */
    size_t n_outputs;
    int32_t label;             /* classification: class index (-1: none — review, or a fixed
                                  value that is not a class); regression/ranking/multilabel: -1 */
    const char *label_name;    /* the class name / fixed value, or NULL */
    double value;              /* regression/ranking: the prediction; classification: P(label) */
    double confidence;         /* binary: fw_binary_confidence(P(positive), threshold); multiclass:
                                  the top class's probability; else NaN */
    bool abstained;            /* confidence < confidence threshold */
    fw_prediction_source source;
} fw_prediction;

/* The confidence of a binary decision with threshold t (positive when p >= t): the probability of
 * the label decided once the two classes are re-weighted so that t sits at 0.5, i.e. the odds
 * p/(1-p) divided by t's odds t/(1-t):
 *     q = p(1-t) / (p(1-t) + (1-p)t),   confidence = max(q, 1 - q)   (in [0.5, 1])
 * t is the Bayes threshold of a cost ratio (t = c_fp / (c_fp + c_fn)), and q is P(positive) under
 * the class weights that make those costs equal, so the confidence is measured from the decision
 * boundary on both sides alike. At t = 0.5 it is the decided label's probability, max(p, 1 - p);
 * at t = 0.176 (pima) P(pos) = 0.57 gives 0.86 and P(pos) = 0.2 (positive, barely) 0.54. A
 * confidence threshold c therefore abstains on the same share of the distance to certainty on
 * either side of the decision threshold. t outside (0, 1) is clamped to it. */
double fw_binary_confidence(double p, double t);

/* One record: inputs[i] is the pipeline's input i (fw_pipeline_n_inputs of them). A value that
 * does not fit its column (text in a numeric field) → FW_ESCHEMA naming the field. Thread-safe
 * with distinct scratches; does not allocate. */
fw_status fw_bundle_predict_record(const fw_bundle *b, const fw_value *inputs, fw_bundle_scratch *s,
                                   fw_prediction *out, fw_err *err);

/* Every row of ds (columns matched to inputs by name; absent columns are missing) through the very
 * same record path, split over threads (0 = all cores): results are bit-identical to calling
 * fw_bundle_predict_record row by row. scores: n_rows x n_outputs (the answering model's);
 * labels / abstained: n_rows each, may be NULL. On a bad row returns its error (row named). */
fw_status fw_bundle_predict_block(const fw_bundle *b, const fw_dataset *ds, int threads, double *scores,
                                  int32_t *labels, bool *abstained, fw_err *err);

#endif
