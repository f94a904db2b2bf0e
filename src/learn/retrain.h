/* retrain.h — owns one retrain of a registered model from what the server saw (docs/LEARNING.md):
 * the library entry point `flywheel retrain` calls and `flywheel serve`'s learn: triggers call on a
 * background thread or process.
 *
 * One run:
 *   1. takes the model's retrain lock in the store (fw_store_learn_lock: one retrain per model at a
 *      time, across processes and servers sharing the store) — FW_EBUSY when another holds it;
 *   2. resolves the champion (the `production` alias, else the latest active version) and reads
 *      its recorded project (data file, pipeline settings, families, learn: section);
 *   3. streams the labelled served rows of the model, all its versions (prediction log joined to
 *      the label in force, fw_store_learn_scan), oldest first;
 *   4. holds out the most recent rows (learn.gate.holdout / holdout_rows) for the gate — they never
 *      train the challenger — and builds the training set from the champion's data (learn.base)
 *      plus the older served rows under the policy (window or decay weights);
 *   5. writes both sets as content-addressed CSV snapshots in the store
 *      (fw_store_learn_snapshot_put) and trains the challenger on them with the champion's
 *      project, family and seed: the challenger's recorded project names the snapshots, so
 *      `flywheel reproduce NAME@V` retrains it byte for byte;
 *   6. registers the challenger as a new version whose parent is the champion, with the reason
 *      (manual, schedule, alarm, labels) in its tags and the audit log;
 *   7. scores the held-out rows with the champion and the challenger and decides with the gate
 *      (learn/gate.h); with promote_auto and a "promote" decision, moves `production` to the
 *      challenger at once (refused if production moved meanwhile), the gate's evidence in the
 *      audit entry — or, where a canary rollout is configured for the model (options.canary), moves
 *      the canary's alias to the challenger instead: a server serving that rollout restarts it with
 *      the challenger and moves production when it completes (serve/rollout.h).
 * Too few labelled rows for the gate (fewer held-out rows than learn.gate.min_rows) ends at step 4
 * with decision "inconclusive" and no challenger (challenger_version 0).
 *
 * Thread safety: reentrant; each call opens its own store handles. A caller on a server thread
 * should lower its priority first (the run trains models: seconds to minutes of CPU).
 *
 * Example:
 *   fw_retrain_options o; fw_retrain_options_init(&o);
 *   o.name = "churn"; o.reason = FW_RETRAIN_ALARM; o.detail = "drift on glucose"; o.promote_auto = true;
 *   fw_retrain_result r;
 *   if (fw_retrain_run(&o, &r, &err) == FW_OK && r.promoted) ... */
#ifndef FW_LEARN_RETRAIN_H
#define FW_LEARN_RETRAIN_H

#include "core/buf.h"
#include "flywheel.h"
#include "learn/gate.h"
#include "project/learn.h"

#include <stdbool.h>
#include <stdint.h>

/* Why a version was trained (recorded as tags.retrain.reason and in the audit log). */
typedef enum fw_retrain_reason {
    FW_RETRAIN_MANUAL = 0,       /* `flywheel retrain` */
    FW_RETRAIN_SCHEDULE,         /* learn.every */
    FW_RETRAIN_ALARM,            /* learn.on_alarm */
    FW_RETRAIN_LABELS,           /* learn.after_labels */
} fw_retrain_reason;
/* "manual", "schedule", "alarm", "labels". */
const char *fw_retrain_reason_name(fw_retrain_reason r);

typedef struct fw_retrain_options {
    const char *home;            /* NULL: $FLYWHEEL_HOME, else ./.flywheel */
    const char *name;            /* the model name (required) */
    fw_retrain_reason reason;
    const char *detail;          /* free text with the reason (the alarm, the schedule), or NULL */
    bool promote_auto;           /* a "promote" decision moves `production` at once */
    const char *data;            /* the champion's base data file when it moved since training (as
                                    `reproduce --data`); NULL: the recorded one */
    const fw_learn_spec *learn;  /* NULL: the champion's recorded learn: section (defaults if none) */
    int threads;                 /* 0: the champion's recorded thread count */
    int64_t now_ms;              /* the time ages are taken from; 0: the clock */
    const char *command;         /* the command line for the audit log; NULL: "flywheel retrain NAME" */
    double lock_ttl_s;           /* the lock is taken over after this long (a crashed run); 0: 3600 */
    /* Promotion through a canary (docs/LEARNING.md "Promotion through a canary"): called once the
     * champion is known, with the model's name and its recorded project's `serving:` text (NULL
     * when it has none). Returns 1 with the alias (of the same model) that a canary rollout
     * configured for the model serves as its challenger — a "promote" decision then moves that
     * alias, not production, and the server's rollout decides —, 0 when no canary rollout is
     * configured for it (production moves at once), -1 when one is configured with a fixed version
     * as its challenger (alias receives that reference; the promotion is refused: FW_ECONFIG).
     * NULL: no canary. */
    int (*canary)(void *ud, const char *model, const char *serving_yaml, char *alias, size_t cap);
    void *canary_ud;
} fw_retrain_options;
void fw_retrain_options_init(fw_retrain_options *o);

enum { FW_RETRAIN_PHASES = 7 };
/* The names of the steps phase_s times ("lock", "scan", "snapshot", "train", "register", "gate",
 * "promote"), as in the --json object's "phases". */
extern const char *const fw_retrain_phase_names[FW_RETRAIN_PHASES];

typedef struct fw_retrain_result {
    char name[129];
    int64_t champion_version;
    int64_t challenger_version;  /* 0: no challenger (too few labelled rows) */
    bool reused;                 /* the challenger's artifact was already that version (the same data,
                                    project and seed trained before) */
    fw_gate_result gate;
    bool promoted;               /* production now points at the challenger */
    const char *promotion;       /* what promote_auto did: "direct" (production moved), "canary" (the
                                    canary's alias moved: production moves when the canary
                                    completes), "none" (no promotion) */
    char canary[260];            /* with promotion "canary": the canary's reference, NAME@ALIAS */
    fw_retrain_reason reason;
    size_t n_labelled;           /* labelled served rows found */
    size_t n_holdout;            /* of them, held out for the gate (the most recent) */
    size_t n_served_train;       /* of them, in the challenger's training set under the policy */
    size_t n_base;               /* the champion's data rows kept (learn.base) */
    char train_hash[33], holdout_hash[33]; /* the snapshots (content hashes; "" when none) */
    double seconds;              /* wall time of the run */
    int64_t started_ms;          /* wall clock (Unix ms) when the run started */
    /* wall seconds of each step, in order: the lock and the champion, the labelled-row scan, the
     * snapshots, training the challenger, registering it, the gate, the promotion (0: not reached) */
    double phase_s[FW_RETRAIN_PHASES];
    char note[512];              /* what happened, one or two sentences (the promotion's note, or
                                    why there is no challenger) */
} fw_retrain_result;

/* Runs one retrain (see the top of this file). FW_OK whatever the decision; errors: FW_EBUSY (the
 * model's retrain lock is held by another run, named in err), FW_ENOTFOUND (no such model),
 * FW_EIO (the base data cannot be read), FW_EDATA (served rows that do not fit the champion's
 * schema are skipped and counted, never an error; a training failure is), FW_ENOMEM, the store's
 * errors. out is filled as far as the run got. */
fw_status fw_retrain_run(const fw_retrain_options *o, fw_retrain_result *out, fw_err *err);

/* Appends the result as the `flywheel retrain --json` object: {"challenger": "NAME@V" | null,
 * "champion": "NAME@V", "decision", "champion_metric", "challenger_metric", "interval": [lo, hi],
 * "promoted", "reason", "metric", "method", "rows": {...}, "gate": {...}, "snapshots": {...}}
 * (NaN as null), "promotion": "direct" | "canary" | "none" and, through a canary, "canary": "NAME@ALIAS".
 * The first six keys are a contract. */
void fw_retrain_result_json(const fw_retrain_result *r, fw_buf *out);

#endif
