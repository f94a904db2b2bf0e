/* online.h — owns online learning of one served linear model from its label stream (issue 18,
 * "Online learning"; docs/LEARNING.md): labelled examples arrive one at a time, are gathered into
 * fixed-size micro-batches, each example is scored before it is learned (progressive validation)
 * by the learner AND by the weights being served (the champion), then the batch is learned once
 * (fw_linear_partial_fit: FTRL-proximal or AdaGrad). Every so many examples or seconds the learned
 * weights are written as a new artifact (a snapshot) whose gate decision compares the two losses
 * of the same examples pairwise.
 *
 * Learning starts from the batch-trained weights of the artifact given to fw_online_new (the
 * offline model and the online updates combined). A snapshot holds only complete batches, so its
 * bytes depend on the sequence of examples alone, never on timing: it records that sequence (request
 * id and label of each example, in order) under "learn.online.sequence", and replaying it from the
 * parent artifact with the same settings and champion (fw_online_new, fw_online_set_champion from the
 * learn.online.champion version, fw_online_add in that order, fw_online_snapshot) gives
 * byte-identical artifact bytes.
 *
 * Not thread-safe: one learner belongs to one thread (the server's learning thread), which is never
 * a request thread. The served model is never touched: a snapshot becomes a registry version and is
 * served through the model table's swap like any other version.
 *
 * Example:
 *   fw_online_settings s; fw_online_settings_init(&s);
 *   fw_online *o; if (fw_online_new(art, len, "churn@3", &s, &o, &err)) ...
 *   per label: fw_online_add(o, rid, values, &label, &err);
 *   if (fw_online_snapshot_due(o, now_s)) {
 *       fw_buf a; fw_online_gate g; fw_online_snapshot(o, now_s, &a, &g, &err);
 *       ... register a, promote when g.decision == FW_ONLINE_PROMOTE ...
 *       fw_online_committed(o, "churn@4", promoted); }
 *   fw_online_free(o); */
#ifndef FW_LEARN_ONLINE_H
#define FW_LEARN_ONLINE_H

#include "core/buf.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "learn/gate.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_online_settings {
    const char *solver;          /* "ftrl" (default) or "sgd" (AdaGrad) */
    double lr;                   /* learning rate α: 0.1 */
    double beta;                 /* β: 1 */
    double l1, l2;               /* NaN (default): the batch model's own */
    size_t batch;                /* examples per update: 32 */
    size_t snapshot_rows;        /* a snapshot after this many learned examples: 1000 (0: by time only) */
    double snapshot_s;           /* ... or once the last is this many seconds old: 300 (0: by count only) */
    size_t gate_min_rows;        /* examples the gate needs, fewer: inconclusive: 200 */
    double gate_confidence;      /* two-sided level of the gate's interval: 0.95 */
    double gate_min_improvement; /* the margin on the primary metric the gate requires: 0 */
    int refit_epochs;            /* after a detected change (stats.resets), passes over the examples
                                    since the estimated change point, one example per step: 8 (0: the
                                    step sizes are reset, nothing is refitted) */
} fw_online_settings;
void fw_online_settings_init(fw_online_settings *s);

typedef struct fw_online fw_online;

/* A learner starting from the artifact's model (copied: the bytes need not outlive the call).
 * parent is the artifact's reference "NAME@VERSION" (the snapshots' lineage parent until the
 * first is committed). FW_EUNSUPPORTED when the model is not of the linear family or its task is
 * not binary, multiclass or regression; FW_EINVAL for bad settings; artifact errors as
 * fw_bundle_load_mem. */
fw_status fw_online_new(const uint8_t *artifact, size_t len, const char *parent, const fw_online_settings *s,
                        fw_online **out, fw_err *err);
void fw_online_free(fw_online *o);
/* The pipeline whose input order fw_online_add's values follow (lives as long as o). */
const fw_pipeline *fw_online_pipeline(const fw_online *o);

/* A label as feedback carries it: a string (a class name, "true"/"false", or a number's text) or a
 * number. */
typedef struct fw_online_label {
    const char *text;            /* NULL when is_number */
    size_t len;
    bool is_number;
    double num;
} fw_online_label;

/* One labelled example: values are the model's inputs in its pipeline's order (missing where
 * absent). The example is transformed and queued; once batch examples are queued they are scored
 * (learner and champion) and learned. FW_EDATA when the label is not a value of the task or the
 * inputs are refused by the pipeline (nothing is queued then), FW_ENOMEM. request_id (at most 200
 * bytes, no tab or newline) and the label are recorded for the snapshot's sequence. */
fw_status fw_online_add(fw_online *o, const char *request_id, const fw_value *values, const fw_online_label *y,
                        fw_err *err);

/* True when a snapshot is due at now_s (seconds on any clock; the first call starts the timer): at
 * least one complete batch learned since the last snapshot, and snapshot_rows of them or
 * snapshot_s elapsed. */
bool fw_online_snapshot_due(fw_online *o, double now_s);

enum { FW_ONLINE_INCONCLUSIVE = 0, FW_ONLINE_PROMOTE = 1, FW_ONLINE_REJECT = 2 };
const char *fw_online_decision_name(int d); /* "inconclusive", "promote", "reject" */

/* The gate's evidence: the examples learned since the last snapshot, each scored before it was
 * learned by the learner (challenger) and by the champion's weights, compared by retrain's gate
 * (learn/gate.h fw_gate_decide: the artifact's primary metric — DeLong for roc_auc, paired
 * per-row losses, else the paired bootstrap — with the settings' min_rows, confidence and
 * min_improvement), plus both mean progressive losses. */
typedef struct fw_online_gate {
    int decision;                /* FW_ONLINE_* (from r.decision) */
    size_t n;
    double champion_loss, challenger_loss;
    char loss[16];               /* "log_loss", "squared_error" */
    fw_gate_result r;            /* the gate's result */
} fw_online_gate;

/* Writes the snapshot: the parent artifact with its model replaced by the learned weights,
 * lineage.parent set to the parent and the learn.online.* keys (examples, the sequence, settings,
 * champion, the gate's evidence). Appends the artifact bytes to out (usually empty) and fills g. Then the
 * period starts again (even on error, apart from FW_ENOMEM). Deterministic: see the top. */
fw_status fw_online_snapshot(fw_online *o, double now_s, fw_buf *out, fw_online_gate *g, fw_err *err);
/* The gate's evidence as JSON: {"loss", "champion_loss", "challenger_loss", "gate": {fw_gate_result_json}}. */
void fw_online_gate_json(const fw_online_gate *g, fw_buf *out);

/* The last snapshot was registered as `ref` ("NAME@VERSION"): it becomes the next snapshot's
 * parent (its bytes are kept: pass them, len > 0); with promoted, its weights become the
 * champion's (the version now served). FW_ENOMEM or FW_OK. */
fw_status fw_online_committed(fw_online *o, const char *ref, const uint8_t *artifact, size_t len, bool promoted);

/* The champion's weights (what the gate compares the learner with) from the model of an artifact
 * (ref: its "NAME@VERSION", recorded as learn.online.champion). fw_online_new starts with the
 * parent's own; a replay of a snapshot whose champion was another version sets that one.
 * FW_EDATA when the model is not a linear model of the same shape; artifact errors. */
fw_status fw_online_set_champion(fw_online *o, const char *ref, const uint8_t *artifact, size_t len);

/* Counters and losses for the endpoint and /metrics. */
typedef struct fw_online_stats {
    uint64_t examples;           /* scored and learned */
    uint64_t queued;             /* in the incomplete batch */
    uint64_t refused;            /* refused by fw_online_add */
    uint64_t snapshots, promoted, rejected, inconclusive;
    uint64_t resets;             /* the learner saw its loss rise and stay up (a change) and forgot
                                    its per-coordinate step sizes: it learns at a fresh pace */
    double loss;                 /* progressive-validation loss over every learned example (NaN: none) */
    double recent_loss;          /* over the last (up to) 1000 (NaN: none) */
    double recent_champion_loss; /* the champion's over the same examples */
    char loss_name[16];
    char parent[160];            /* the snapshots' parent now */
    fw_online_gate last_gate;    /* decision -1: no snapshot yet */
} fw_online_stats;
void fw_online_stats_get(const fw_online *o, fw_online_stats *out);
/* The stats as one JSON object appended to out. */
void fw_online_stats_json(const fw_online_stats *st, fw_buf *out);

#endif
