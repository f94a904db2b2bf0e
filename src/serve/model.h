/* model.h — owns the servable model: what the server needs of a loaded model, whatever backs it
 * (an artifact bundle from the registry, or a directory model). A loaded fw_srv_model is immutable
 * and shared by every worker thread; it is reference counted so an in-flight request keeps the
 * version it started with while an alias swap publishes a new one. Each thread brings its own
 * scratch (ops->scratch_new), so predict never locks and never allocates after warm-up.
 *
 * Outputs follow models/model.h: binary 1 value P(positive); multiclass n_classes probabilities;
 * regression/ranking 1 value. */
#ifndef FW_SERVE_MODEL_H
#define FW_SERVE_MODEL_H

#include "artifact/bundle.h"
#include "core/buf.h"
#include "core/hash.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_srv_model fw_srv_model;
typedef struct fw_srv_metrics fw_srv_metrics;

typedef struct fw_srv_model_ops {
    /* inputs: n_inputs values in the model's input order. out: n_outputs doubles. */
    fw_status (*predict)(const fw_srv_model *m, const fw_value *inputs, void *scratch, double *out,
                         fw_err *err);
    /* The full decision (threshold / argmax / abstain with the fallback) made by THE shared
     * prediction path (fw_bundle_predict_record): out gets the model's own n_outputs scores,
     * *pred the decision (pred->scores points at the answering model's; label_name lives as long
     * as the model). override >= 0 replaces the artifact's confidence threshold (the serve
     * config's serving.confidence_threshold); < 0 keeps it. May be NULL: the API then decides
     * from predict's scores and the model's fields. */
    fw_status (*predict_decide)(const fw_srv_model *m, const fw_value *inputs, void *scratch, double override,
                                double *out, fw_prediction *pred, fw_err *err);
    /* The :explain fields of one instance appended to out, in the one format of every model source
     * (serve/explain.h: "explained", then "contributions" per input column sorted by magnitude and
     * "contribution_space", or a family's own): own is the model's own n_outputs scores, cls the
     * class asked for (-1: the decision's). May be NULL: the model cannot explain (400). */
    fw_status (*explain_json)(const fw_srv_model *m, const fw_value *inputs, const double *own, int32_t cls,
                              fw_buf *out, fw_err *err);
    void *(*scratch_new)(const fw_srv_model *m);   /* NULL on out of memory; may be NULL (no scratch) */
    void (*scratch_free)(void *scratch);           /* must not touch the model */
    void (*free_impl)(void *impl);
} fw_srv_model_ops;

struct fw_srv_model {
    const fw_srv_model_ops *ops;
    void *impl;
    atomic_long refs;
    uint64_t gen;              /* unique per loaded instance (scratch cache key) */
    char *name;
    char *version;
    fw_task task;
    size_t n_outputs;
    char **classes;            /* n_classes labels (binary: [negative, positive]); may be NULL */
    size_t n_classes;
    size_t n_inputs;
    char **input_names;        /* pipeline input order (v2 row tensors use it) */
    const fw_pipeline *pipeline; /* input types and categories, for warnings; NULL: every input numeric */
    fw_strmap input_index;     /* name → input position */
    double threshold;          /* binary decision threshold */
    double confidence_threshold; /* below → abstain; 0 = never */
    fw_fallback_kind fallback;
    char *fallback_value;      /* FW_FALLBACK_VALUE */
    double *baseline_out;      /* n_outputs: the baseline's answer (FW_FALLBACK_BASELINE) */
    size_t bytes;              /* memory held (LRU accounting) */
    double load_ms;            /* how long the load took */
    fw_srv_metrics *metrics;   /* owned; created by the model table */
    struct fw_monitor *monitor; /* owned (serve/monitoring.c, attached at load); NULL: not monitored */
    void *monitor_hook;        /* owned with it: where its alarms go */
    const fw_bundle *bundle;   /* the artifact it was loaded from (reference profile, recorded
                                  project: the monitor reads them); NULL for directory models */
};

/* Allocates an empty model with refs = 1 and the common fields zeroed/NULL. NULL on OOM. */
fw_srv_model *fw_srv_model_new(const char *name, const char *version);
/* Adds input names (builds input_index) — copies them. FW_OK or FW_ENOMEM. */
fw_status fw_srv_model_set_inputs(fw_srv_model *m, const char *const *names, size_t n);
/* Reference counting; the last unref frees the model (thread-safe). */
void fw_srv_model_ref(fw_srv_model *m);
void fw_srv_model_unref(fw_srv_model *m);

/* The per-thread scratch for m (a small thread-local cache keyed by m->gen). NULL when m needs
 * none or on out of memory (check *oom). Valid until this thread asks for 8 other models. */
void *fw_srv_model_scratch(const fw_srv_model *m, bool *oom);

/* One instance's decision, whatever backs the model (see fw_srv_model_decide). */
typedef struct fw_srv_decision {
    bool abstained;              /* confidence below the threshold: a fallback answered */
    fw_prediction_source source; /* FW_PRED_MODEL unless abstained */
    const char *answer;          /* the answer's label: a class name or the fixed value (lives as long as
                                    the model); NULL for review, regression, or an unnamed class */
    int32_t answer_index;        /* the answer's class index (-1: none) */
    double answer_value;         /* regression: the value; classification: P(answer) (NaN: none) */
    double confidence;           /* the probability of the label decided (classification), else NaN */
    double threshold;            /* the confidence threshold that applied (0 = never abstain) */
} fw_srv_decision;

/* Predicts one instance and decides: out gets the MODEL's own n_outputs scores (also when it
 * abstained), d the decision. Models with ops->predict_decide decide through it (the artifact's
 * shared path and fallback); others are decided here from the model's fields. For both, override
 * >= 0 (serving.confidence_threshold) replaces the model's own confidence threshold (an artifact's
 * constraints.confidence_threshold, a directory model's "confidence_threshold"); d->threshold is
 * the one that applied. Thread-safe with a per-thread scratch; does not allocate. */
fw_status fw_srv_model_decide(const fw_srv_model *m, const fw_value *inputs, void *scratch, double override,
                              double *out, fw_srv_decision *d, fw_err *err);

/* Where models come from: a registry/store or a directory. All callbacks are called from cold paths
 * (loads, admin), possibly concurrently from several threads: the source must be thread-safe. */
typedef struct fw_serve_source {
    void *ud;
    const char *kind; /* "dir", "store" */
    /* alias → version into version[cap]. FW_ENOTFOUND when the model or alias does not exist. */
    fw_status (*resolve)(void *ud, const char *name, const char *alias, char *version, size_t cap,
                         fw_err *err);
    /* Loads one version. FW_ENOTFOUND when absent. */
    fw_status (*load)(void *ud, const char *name, const char *version, fw_srv_model **out, fw_err *err);
    /* Moves (or creates) an alias. A source that keeps a promotion rule (the registry) applies it
     * to production unless force, which moves it anyway and records it as forced. */
    fw_status (*set_alias)(void *ud, const char *name, const char *alias, const char *version,
                           bool force, fw_err *err);
    /* Lists the names of models that have `alias` (for preloading); may be NULL. Caller frees each
     * string and the array with fw_free. */
    fw_status (*list)(void *ud, const char *alias, char ***names, size_t *n, fw_err *err);
    void (*free)(void *ud);
} fw_serve_source;

/* A directory source (source_dir.c): DIR/NAME/VERSION.json holds a linear model and
 * DIR/NAME/aliases.json maps alias → version. Returns FW_OK and fills *src. */
fw_status fw_serve_source_dir(const char *dir, fw_serve_source *src, fw_err *err);

/* The store source (source_store.c): models, versions and aliases of the registry under home
 * (NULL: $FLYWHEEL_HOME, else ./.flywheel). Versions are the registry's numbers as text ("3"); a
 * load maps the content-addressed artifact file read-only (verified against its hash) and loads an
 * fw_bundle from the map, served through fw_bundle_predict_record (decisions included). Aliases are re-read from the store on every resolve, so a
 * `flywheel models promote` in another process is seen at the next alias poll. The registry
 * handle is shared under a mutex (cold paths only). Returns FW_OK and fills *src. */
fw_status fw_serve_source_store(const char *home, fw_serve_source *src, fw_err *err);

#endif
