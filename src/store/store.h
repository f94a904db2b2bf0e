/* store.h — owns the store interface: every table Flywheel keeps goes through it — the registry
 * (model names, versions, aliases, runs, audit log, artifact files), batch jobs and the batch
 * answers hybrid serving reads, and the prediction log with feedback (a handle of its own,
 * fw_store_log, because it is written by one thread in long batches). Callers see only this header
 * and opaque handles; nothing outside src/store/ touches SQLite. A back end fills the operations
 * tables of store/store_backend.h (the embedded SQLite one: store_sqlite.c and log_sqlite.c; a new
 * one, PostgreSQL, is one new file plus its line in store.c's list); fw_store_open picks the back
 * end from the home (a directory: SQLite). Table layout, the operations and how to add a back end:
 * docs/DESIGN.md ("The store interface").
 *
 * Artifacts are content-addressed files under <home>/artifacts/ab/cdef....fwm, written with
 * temp file + fsync + rename BEFORE the row that names them is committed: a crash leaves at most
 * an orphan file, never a row without its file.
 *
 * Thread safety: one fw_store handle per thread (handles are cheap); any number of processes may
 * open the same home at once (WAL; writers serialize with BEGIN IMMEDIATE and a busy timeout).
 *
 * Example:
 *   fw_store *s; if (fw_store_open(NULL, &s, &err) < 0) ...   // $FLYWHEEL_HOME or ./.flywheel
 *   fw_store_begin(s, true, &err); ... fw_store_version_insert(s, &rec, &err); ...
 *   fw_store_commit(s, &err); fw_store_close(s); */
#ifndef FW_STORE_STORE_H
#define FW_STORE_STORE_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_STORE_SCHEMA_VERSION 5 /* the newest schema this build creates and reads */

/* One model version (a row of `versions`). Strings are fw_malloc'd, NULL when unset;
 * free with fw_version_rec_free. */
typedef struct fw_version_rec {
    char *name;
    int64_t version;           /* 1, 2, ... per name; assigned by version_insert */
    char *status;              /* "active", "archived" or "deleted" */
    char *artifact_hash;       /* 32 hex chars: XXH3-128 of the .fwm file */
    int64_t artifact_size;
    int64_t created_ms;        /* registration time, Unix ms */
    int64_t parent_version;    /* 0 = none (same name) */
    char *run_id;
    char *family, *task;
    char *data_fp, *test_fp;   /* fingerprints of the training rows and of the test rows */
    char *metric_name;         /* primary metric */
    int greater_is_better;
    double metric, baseline_metric, min_improvement; /* NaN when unknown */
    char *params_json, *metrics_json, *tags_json;    /* JSON texts (may be NULL) */
    char *created_by;          /* "user: command line" */
} fw_version_rec;
void fw_version_rec_free(fw_version_rec *v);

/* Per-name summary for `models list`. */
typedef struct fw_model_summary {
    char *name;
    int64_t n_versions;        /* not deleted */
    int64_t latest_version;    /* 0 when none */
    int64_t created_ms;
    char *aliases;             /* "production=3,staging=4" (sorted by alias) or NULL */
} fw_model_summary;
void fw_model_summaries_free(fw_model_summary *m, size_t n);

typedef struct fw_alias_rec {
    char *alias;
    int64_t version;
    int64_t updated_ms;
} fw_alias_rec;
void fw_alias_recs_free(fw_alias_rec *a, size_t n);

/* A training run: the command that made a version and every candidate's metrics (JSON). */
typedef struct fw_run_rec {
    char *run_id;
    char *name;
    int64_t created_ms;
    char *command;
    char *user;
    char *record_json;
} fw_run_rec;
void fw_run_rec_free(fw_run_rec *r);

/* One audit entry: register, promote, rollback, alias_set, alias_remove, archive, delete, import. */
typedef struct fw_audit_rec {
    int64_t id;                /* ascending: the order things happened in */
    int64_t ts_ms;
    char *name;
    int64_t version;           /* 0 when not about one version */
    char *action;
    char *alias;               /* alias actions, promote, rollback */
    int64_t from_version, to_version; /* alias moves: before/after (0 = none) */
    int forced;                /* --force was used */
    char *reason;              /* free text: why (rule outcome, --force note, ...) */
    char *command;             /* the command line */
    char *user;
    int64_t pid;
} fw_audit_rec;
void fw_audit_recs_free(fw_audit_rec *a, size_t n);

/* One alarm of a served model version (a row of `alarms`, schema 4; `slice` since 5): what fired — the fields of
 * monitor/alarm.h's fw_alarm, the kind by its name — and when it was raised and cleared. The
 * server's alert thread writes them (serve/alerts.h); `flywheel monitor NAME --history` reads them.
 * Strings are fw_malloc'd (NULL when unset); free with fw_alarm_recs_free. */
typedef struct fw_alarm_rec {
    int64_t id;                /* ascending: the order alarms were raised in */
    char *model;
    int64_t version;
    char *kind;                /* "drift", "quality", ... (fw_alarm_kind_name) */
    char *column;              /* the column it is about; NULL = the model */
    char *slice;               /* a slice's performance alarm: the value of the group column `column`;
                                  NULL otherwise (schema 5; alarms kept before it read NULL) */
    char *statistic;           /* "ks", "missing_rate", ... */
    double value, threshold;   /* NaN when unknown */
    int64_t row;               /* 0-based index of the prediction that raised it, in its monitor's stream */
    int64_t raised_ms;         /* Unix ms */
    int64_t cleared_ms;        /* Unix ms; 0 = still active */
    char *detail;              /* one human sentence */
} fw_alarm_rec;
void fw_alarm_recs_free(fw_alarm_rec *a, size_t n);

/* A batch run (table batch_jobs): `flywheel batch history` lists them. */
typedef struct fw_batch_run_rec {
    int64_t run_id;
    char job[256];
    char model[256];
    char version[64];
    char input[1024];
    char output[1024];
    int64_t started_ms, ended_ms;      /* ended 0 while running */
    uint64_t rows_read, rows_scored, rows_rejected, rows_written;
    char outcome[32];                  /* "running", "ok", "rejects", "failed", "interrupted" */
    int exit_code;
    int attempts;                      /* 1 + number of resumes */
    char message[512];
} fw_batch_run_rec;

/* A precomputed answer (table batch_answers, one per (model NAME, entity id); a later run replaces
 * the rows it scores): what `flywheel batch --output store` writes and hybrid serving reads. */
typedef struct fw_batch_answer {
    char version[64];                  /* the model version that scored it, e.g. "3" */
    char *prediction;                  /* fw_malloc'd: the decision as text */
    char *scores_json;                 /* fw_malloc'd: {"score":p}, {"p":{..}}, {} or {"items":[..]} */
    int64_t scored_ms;                 /* the run's timestamp (Unix ms) */
    int64_t run_id;                    /* batch_jobs id of the run that wrote it */
} fw_batch_answer;
void fw_batch_answer_free(fw_batch_answer *a);

/* Why fw_store_answer_lookup found no usable answer. */
typedef enum fw_batch_miss {
    FW_BATCH_HIT = 0,          /* a usable answer (FW_OK) */
    FW_BATCH_MISSING,          /* no row for (model, entity) */
    FW_BATCH_STALE,            /* a row older than max_age_ms */
    FW_BATCH_OTHER_VERSION,    /* a row written by another version of the model */
} fw_batch_miss;

/* ---- the registry handle ------------------------------------------------------------------- */
typedef struct fw_store fw_store;

/* The home directory: `home` when not NULL, else $FLYWHEEL_HOME, else "./.flywheel".
 * Returns a pointer to a static or the given string; never NULL. */
const char *fw_store_default_home(const char *home);
/* The directory on this machine for the store's side files (the server's log spool, batch spools
 * and job locks, training-set snapshots): home itself for a directory home; for a URL home
 * (postgresql://...) $FLYWHEEL_LOCAL_DIR, else ./.flywheel-local (each replica of a shared store
 * keeps its own). */
void fw_store_local_dir(const char *home, char *out, size_t size);

/* Opens (creating when absent) the store under home (NULL: fw_store_default_home): the back end
 * that claims the home (a directory: SQLite, <home>/flywheel.db). Migrates an older schema; a
 * schema newer than FW_STORE_SCHEMA_VERSION is FW_EVERSION ("store at X was written by a newer
 * Flywheel"). A home that cannot be created or read is FW_EIO; a URL no back end built in claims
 * is FW_EUNSUPPORTED. One handle per thread (handles are cheap). */
fw_status fw_store_open(const char *home, fw_store **out, fw_err *err);
void fw_store_close(fw_store *s);
const char *fw_store_home(const fw_store *s);   /* as resolved at open */
const char *fw_store_kind(const fw_store *s);   /* the back end: "sqlite" */
int fw_store_schema_version(fw_store *s);

/* Every operation returns FW_OK or a negative status with err set; lookups that find nothing
 * return FW_ENOTFOUND. Output arrays are fw_malloc'd and freed with the matching _free.
 * Transactions: write=true takes the write lock up front (no upgrade deadlocks). */
fw_status fw_store_begin(fw_store *s, bool write, fw_err *err);
fw_status fw_store_commit(fw_store *s, fw_err *err);
void fw_store_rollback(fw_store *s);

/* Models and versions. version_insert creates the name if new, assigns the next version number (max
 * + 1 over every row of the name, deleted included: numbers are never reused) and fills
 * v->version. Call it inside a write transaction. */
fw_status fw_store_version_insert(fw_store *s, fw_version_rec *v, fw_err *err);
fw_status fw_store_version_get(fw_store *s, const char *name, int64_t version, fw_version_rec *out, fw_err *err);
/* Highest version number with status "active" (any status when any_status). */
fw_status fw_store_version_latest(fw_store *s, const char *name, bool any_status, int64_t *out, fw_err *err);
fw_status fw_store_version_list(fw_store *s, const char *name, fw_version_rec **out, size_t *n, fw_err *err);
fw_status fw_store_version_set_status(fw_store *s, const char *name, int64_t version, const char *status,
                                      fw_err *err);
/* Number of versions not deleted, over all names, that use this artifact hash. */
fw_status fw_store_artifact_refs(fw_store *s, const char *hash, int64_t *out, fw_err *err);
fw_status fw_store_model_exists(fw_store *s, const char *name, bool *out, fw_err *err);
fw_status fw_store_model_list(fw_store *s, fw_model_summary **out, size_t *n, fw_err *err);
/* Aliases: one version per (name, alias). */
fw_status fw_store_alias_set(fw_store *s, const char *name, const char *alias, int64_t version, fw_err *err);
fw_status fw_store_alias_get(fw_store *s, const char *name, const char *alias, int64_t *version, fw_err *err);
fw_status fw_store_alias_remove(fw_store *s, const char *name, const char *alias, fw_err *err);
fw_status fw_store_alias_list(fw_store *s, const char *name, fw_alias_rec **out, size_t *n, fw_err *err);
/* Runs and the audit log (entries for one name, all names when name is NULL, oldest first). */
fw_status fw_store_run_insert(fw_store *s, const fw_run_rec *r, fw_err *err);
fw_status fw_store_run_get(fw_store *s, const char *run_id, fw_run_rec *out, fw_err *err);
fw_status fw_store_audit_append(fw_store *s, const fw_audit_rec *a, fw_err *err);
fw_status fw_store_audit_list(fw_store *s, const char *name, fw_audit_rec **out, size_t *n, fw_err *err);
/* Alarm history. raise: appends a (model, version, kind and raised_ms required) and sets a->id.
 * clear: sets cleared_ms on every still-active alarm of that model version, kind, column and slice
 * (column NULL or "": the model-level ones; slice NULL or "": the alarms that are not a slice's, so
 * clearing one slice value's performance alarm leaves the column's other values and the whole
 * model's alone), *n_cleared (may be NULL) gets how many. list: the alarms of model (all
 * models when NULL), oldest first; limit > 0 keeps the newest limit of them. */
fw_status fw_store_alarm_raise(fw_store *s, fw_alarm_rec *a, fw_err *err);
fw_status fw_store_alarm_clear(fw_store *s, const char *model, int64_t version, const char *kind, const char *column,
                               const char *slice, int64_t cleared_ms, int64_t *n_cleared, fw_err *err);
fw_status fw_store_alarm_list(fw_store *s, const char *model, size_t limit, fw_alarm_rec **out, size_t *n,
                              fw_err *err);

/* Content-addressed artifacts. put: stores bytes under their hash (a crash leaves at most an
 * orphan, never a row without its bytes; an existing intact copy is kept) and sets hash_out. read:
 * the bytes of a hash, verified against it (FW_ENOTFOUND when missing, FW_ECORRUPT when altered);
 * *out is fw_malloc'd. remove: FW_OK when already gone. */
fw_status fw_store_artifact_put(fw_store *s, const void *data, size_t len, char hash_out[33], fw_err *err);
fw_status fw_store_artifact_read(fw_store *s, const char *hash, uint8_t **out, size_t *len, fw_err *err);
fw_status fw_store_artifact_remove(fw_store *s, const char *hash, fw_err *err);
/* Whether the artifact of hash is kept with len bytes, without reading them (a file's size, a
 * row's): FW_OK, FW_ENOTFOUND when missing or of another size, FW_EINVAL for a malformed hash. For
 * a writer that has just put those bytes (put hashed them as they went to disk) and must know they
 * are still there under its transaction, e.g. after a concurrent delete of identical bytes. */
fw_status fw_store_artifact_has(fw_store *s, const char *hash, size_t len, fw_err *err);
/* A read-only view of an artifact's bytes, verified against the hash, without a copy when the back
 * end keeps files (a memory map); release it with fw_store_artifact_unmap. Safe to call from any
 * thread while another uses the handle. FW_EUNSUPPORTED when the back end has no such view (then
 * use fw_store_artifact_read on the handle's thread), FW_ENOTFOUND / FW_ECORRUPT as read. */
fw_status fw_store_artifact_map(fw_store *s, const char *hash, const void **data, size_t *len, fw_err *err);
void fw_store_artifact_unmap(fw_store *s, const void *data, size_t len);
/* Leftovers of interrupted artifact writes whose writing process is gone: appends each (a path or
 * a name, then a newline) to report (may be NULL), counts them in *n, deletes them when remove. */
fw_status fw_store_artifact_leftovers(fw_store *s, bool remove, fw_buf *report, size_t *n, fw_err *err);
/* The hashes of every artifact kept (fw_malloc'd array of fw_malloc'd strings). */
fw_status fw_store_artifact_list(fw_store *s, char ***hashes, size_t *n, fw_err *err);
/* Where an artifact lives, for messages ("<home>/artifacts/ab/cdef...fwm"). */
void fw_store_artifact_where(const fw_store *s, const char *hash, char *out, size_t size);

/* Batch runs and their per-row outputs (tables batch_runs / batch_predictions). */
fw_status fw_store_batch_run_begin(fw_store *s, const char *name, int64_t version, const char *input_path,
                                   int64_t *batch_id, fw_err *err);
fw_status fw_store_batch_run_finish(fw_store *s, int64_t batch_id, int64_t n_rows, const char *status, fw_err *err);
fw_status fw_store_batch_predictions_insert(fw_store *s, int64_t batch_id, const int64_t *row_index,
                                            const char *const *output_json, size_t n, fw_err *err);

/* Batch jobs (table batch_jobs). job_begin inserts r (outcome "running") and sets r->run_id;
 * job_update rewrites every field of run r->run_id; history: runs newest first, of one job or model
 * (filter matches either; NULL = all), at most limit (0 = 50), *out fw_malloc'd (fw_free it). */
fw_status fw_store_batch_job_begin(fw_store *s, fw_batch_run_rec *r, fw_err *err);
fw_status fw_store_batch_job_update(fw_store *s, const fw_batch_run_rec *r, fw_err *err);
fw_status fw_store_batch_history(fw_store *s, const char *filter, size_t limit, fw_batch_run_rec **out, size_t *n,
                                 fw_err *err);

/* Batch answers. put replaces an entity's row; write them inside fw_store_begin(s, true) ...
 * fw_store_commit (a run commits at each checkpoint, so serving sees a long run progressively). */
fw_status fw_store_answer_put(fw_store *s, const char *model, const char *entity_id, size_t entity_len,
                              const char *version, const char *prediction, size_t prediction_len,
                              const char *scores_json, size_t scores_len, int64_t scored_ms, int64_t run_id,
                              fw_err *err);
/* The answer for (model, entity[0..entity_len)) whatever its version and age: FW_OK (free with
 * fw_batch_answer_free), FW_ENOTFOUND, or an error. One point query on a statement kept by the
 * handle; does not write. */
fw_status fw_store_answer_get(fw_store *s, const char *model, const char *entity, size_t entity_len,
                              fw_batch_answer *out, fw_err *err);
/* THE read for hybrid serving: the answer when one exists, was written by `version` (NULL: any)
 * and is at most max_age_ms old at now_ms (max_age_ms <= 0: any age; now_ms 0: the wall clock).
 * FW_OK with *out filled, FW_ENOTFOUND with *why saying which miss (out left empty; why may be
 * NULL), or an error. */
fw_status fw_store_answer_lookup(fw_store *s, const char *model, const char *version, const char *entity,
                                 size_t entity_len, int64_t max_age_ms, int64_t now_ms, fw_batch_answer *out,
                                 fw_batch_miss *why, fw_err *err);
/* Number of answers stored for a model. */
fw_status fw_store_answer_count(fw_store *s, const char *model, int64_t *n, fw_err *err);

/* Secrets of a home: len (1..64) random bytes drawn from the kernel's CSPRNG (getrandom) the
 * first time any process asks for name on this home, and the same bytes for every later call from
 * any process (a race between two first callers: both get the first writer's). Kept as hex in the
 * home's settings (SQLite: fw_meta, key "secret.NAME"); nothing else reads them. FW_ECORRUPT when
 * the kept value is not len bytes of hex, FW_EIO when the kernel gives no random bytes, the store's
 * error otherwise (a home this process may only read, where the secret does not exist yet). What
 * uses one: `flywheel serve`'s request-id key ("request_id_key", serve/request_id.h). */
fw_status fw_store_secret(fw_store *s, const char *name, unsigned char *out, size_t len, fw_err *err);

/* ---- continual learning (src/learn: `flywheel retrain`, the server's learn: triggers) -------- */
/* One labelled served row: a logged prediction of the model joined to the label in force for its
 * request (fw_store_learn_scan). Texts are the back end's, valid during the callback only. */
typedef struct fw_learn_row {
    const char *request_id;
    int64_t ts_ms;                     /* when the prediction was made (Unix ms) */
    int64_t version;                   /* the version that answered */
    const char *input_json;            /* the logged inputs (a JSON object); NULL: none were logged */
    const char *label_json;            /* the label in force (JSON text: "pos", 1, 2.5, ...) */
    int64_t label_ts_ms;               /* when that label arrived */
} fw_learn_row;
/* The callback of fw_store_learn_scan: 0 to go on, nonzero to stop (the scan then returns FW_OK). */
typedef int (*fw_learn_row_fn)(void *ud, const fw_learn_row *row);
/* Calls fn for each prediction of model (every version) made in [since_ms, until_ms) (until_ms 0:
 * no bound) whose request id has a label in force in the feedback (the first label, or the last
 * update; ignored and superseded labels never count), oldest first (prediction time, then log
 * order). A request id logged several times for the model (a shadow of the same name) counts once,
 * with its first logged prediction. Reads the prediction log through a connection of its own (a
 * consistent snapshot of the log: one read transaction); never writes; a home without a log gives
 * no rows. FW_OK, or the log's errors (FW_EBUSY, FW_ECORRUPT, FW_ESTORE) naming it. */
fw_status fw_store_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms,
                              fw_learn_row_fn fn, void *ud, fw_err *err);
/* The per-model retrain lock (one retrain per model at a time, across processes and servers sharing
 * the store). lock: takes it for owner (a text naming the run: "host pid N reason") until now_ms +
 * ttl_ms, atomically; a lock held by another owner whose time has run out is taken over (a crashed
 * run); the same owner taking it again renews it. FW_OK when taken, FW_EBUSY when another owner
 * holds it (err names the owner and until when; holder, when not NULL, gets the owner text). Not
 * inside a transaction of the handle. unlock: releases it when owner holds it (FW_OK otherwise too). */
fw_status fw_store_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                              char *holder, size_t holder_size, fw_err *err);
fw_status fw_store_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err);
/* Training-set snapshots: the rows a retrain trained and was judged on, kept so `flywheel reproduce`
 * can retrain the version byte for byte. put: stores bytes under their content hash (an existing
 * intact copy is kept; temp file + fsync + rename) and sets hash_out and path (the file a trainer
 * reads: <home>/snapshots/ab/cdef....EXT for the file back end). ext: the file name's extension
 * ("csv"), [a-z0-9.]{1,16}. path_of: where a snapshot lives (whether or not it exists). */
fw_status fw_store_learn_snapshot_put(fw_store *s, const void *data, size_t len, const char *ext, char hash_out[33],
                                      char *path, size_t path_size, fw_err *err);
void fw_store_learn_snapshot_path(const fw_store *s, const char *hash, const char *ext, char *path, size_t size);
/* ---- end of continual learning -------------------------------------------------------------- */

/* ---- singletons across processes (singleton.c) ------------------------------------------------ */
/* A role one process at a time holds among all the processes sharing a store, whatever machine
 * they run on (the retrain scheduler of `flywheel serve` replicas). PostgreSQL: a session advisory
 * lock on a connection of the singleton's own, released by PostgreSQL when the session ends, also
 * when the holder is killed; a directory home: an flock on <home>/singleton-<name>.lock, released
 * by the kernel when the holder dies. name: 1-64 of [a-z0-9_-].
 * open: nothing taken yet (no connection made). try: 1 when this handle holds it (taken now, or
 * held and its session still alive), 0 when another process holds it, a negative status when the
 * store cannot be reached (then not held: a lost session lost the lock; call again later). Not
 * thread-safe: one thread per handle. close: releases it. */
typedef struct fw_store_singleton fw_store_singleton;
fw_status fw_store_singleton_open(const char *home, const char *name, fw_store_singleton **out, fw_err *err);
int fw_store_singleton_try(fw_store_singleton *s, fw_err *err);
bool fw_store_singleton_held(const fw_store_singleton *s);
void fw_store_singleton_close(fw_store_singleton *s);

/* ---- watching the registry ------------------------------------------------------------------ */
/* A watcher of alias moves made by any process on the store (a promote, rollback or alias change
 * elsewhere), so a server reloads at once instead of at its next alias poll (which stays the
 * backstop for a lost notification). PostgreSQL: LISTEN on the channel every alias move NOTIFYs in
 * its transaction. open: FW_EUNSUPPORTED when the back end has none (SQLite: the poll only), else
 * the back end's connection errors. wait: up to timeout_ms; 1 when at least one move was announced
 * (all pending ones are consumed), 0 on timeout, a negative status when the watcher broke (close it
 * and open another later). One thread per watcher. */
typedef struct fw_store_watch fw_store_watch;
fw_status fw_store_watch_open(const char *home, fw_store_watch **out, fw_err *err);
int fw_store_watch_wait(fw_store_watch *w, int timeout_ms);
void fw_store_watch_close(fw_store_watch *w);

/* ---- batch partition claims ------------------------------------------------------------------ */
/* Workers that score the partitions of one batch job (`flywheel batch --partition claim/N`) take
 * them from the store, each partition by one worker at a time, so any number of workers on any
 * machines sharing the store (and the output's file system) finish the job together, and a worker
 * that dies gives its partition back at once. PostgreSQL: a row per partition of a job in table
 * batch_partitions (created on first use), claimed by SELECT ... FOR UPDATE SKIP LOCKED in a
 * transaction the claimer keeps open while it scores (its death ends the transaction: the row is
 * free again). SQLite (one machine): an flock on <home>/locks/<job>.part-<I>.lock per partition,
 * dropped by the kernel when the holder dies.
 * next: FW_OK with *index claimed; FW_EBUSY when every partition not yet done is held by another
 * worker (wait and ask again: a holder that dies frees its partition); FW_ENOTFOUND when every
 * partition is done. done: marks a claimed partition done (after its output is committed) and
 * releases the claim; release: gives a claimed partition back undone (a failed run). One thread
 * per handle. */
typedef struct fw_store_claims fw_store_claims;
fw_status fw_store_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err);
fw_status fw_store_claims_next(fw_store_claims *c, uint32_t *index, fw_err *err);
fw_status fw_store_claims_done(fw_store_claims *c, uint32_t index, fw_err *err);
void fw_store_claims_release(fw_store_claims *c, uint32_t index);
void fw_store_claims_close(fw_store_claims *c);

/* ---- the prediction log --------------------------------------------------------------------- */
/* One logged prediction as stored (table prediction_log). Texts are not copied; lengths without
 * the NUL. */
typedef struct fw_log_pred_row {
    const char *request_id;
    int64_t ts_ms;
    const char *model;
    int64_t version;
    const char *input_json;            /* NULL: none */
    size_t input_len;
    const char *output_json;
    size_t output_len;
    int64_t latency_us;
    const char *outcome;
} fw_log_pred_row;

/* One feedback event as stored (tables feedback and feedback_unmatched). */
typedef struct fw_log_feedback_row {
    const char *request_id;
    int64_t ts_ms;
    const char *label_json;            /* NULL: an event without a label */
    const char *event;                 /* NULL: none */
    double value;                      /* NaN: none */
    const char *source;                /* who sent it (NULL: unknown) */
    bool update;                       /* an explicit label update */
    bool matched;                      /* in: the caller knows the request id; out: set when the log
                                          holds a prediction with this request id */
} fw_log_feedback_row;

/* serving.log.retention: prediction_log rows older than max_age_s, beyond the newest max_rows, or
 * while the log's used bytes pass max_bytes are deleted, oldest first, off the request path (a
 * thread of its own with its own connection, in transactions of FW_LOG_RETENTION_CHUNK rows with a
 * pause between them) every interval_s; then the space is given back. 0 = no bound of that kind.
 * Feedback is kept. */
typedef struct fw_log_retention {
    double max_age_s;
    uint64_t max_rows, max_bytes;
    double interval_s;            /* 0: 10 s */
} fw_log_retention;
#define FW_LOG_RETENTION_CHUNK 1000

/* A writer of the prediction log: one per writing thread (the server's log writer). */
typedef struct fw_store_log fw_store_log;
/* The retention task of a log (runs on a thread of its own until stopped). */
typedef struct fw_store_log_retention fw_store_log_retention;

/* Opens the prediction log of the store under home (resolved, existing; the store opened once
 * before, so its migrations ran): for SQLite <home>/log.db, a file of its own so ingestion never
 * holds the registry's write lock. FW_EIO / FW_ECORRUPT / FW_EVERSION / FW_EBUSY naming the place
 * when it cannot be opened (a server keeps serving and tries again: log_store.c). */
fw_status fw_store_log_open(const char *home, fw_store_log **out, fw_err *err);
/* The page cache bound of the log writer's connection (SQLite: PRAGMA cache_size), set explicitly
 * so a long-running server's memory is the budget docs/SERVING.md states, not a default per
 * connection; the writer's helpers (the checkpointer) get FW_STORE_LOG_AUX_CACHE_BYTES. */
#define FW_STORE_LOG_CACHE_BYTES ((size_t)8 << 20)
/* How long a log write waits for a lock another connection holds before FW_EBUSY (the default;
 * fw_store_log_busy_ms changes it). */
#define FW_STORE_LOG_BUSY_MS 5000
#define FW_STORE_LOG_AUX_CACHE_BYTES ((size_t)256 << 10)
/* fw_store_log_open with the writer's page cache bound (0: FW_STORE_LOG_CACHE_BYTES). */
fw_status fw_store_log_open_cache(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err);
/* The page cache bounds l's connections run with, read back from the back end: the writer's and
 * its checkpointer's (0: no such connection). FW_EUNSUPPORTED when the back end has none. */
fw_status fw_store_log_cache(fw_store_log *l, size_t *writer, size_t *checkpointer, fw_err *err);
/* Bytes of heap the embedded database engine holds now and at most since start (all connections
 * of the process: page caches, statements, schema). */
void fw_store_memory(uint64_t *now, uint64_t *peak);
void fw_store_log_close(fw_store_log *l);
/* How long l's writes wait for a lock another connection holds before FW_EBUSY (the log opens with
 * FW_STORE_LOG_BUSY_MS; the spool's direct writes ask for less: docs/SERVING.md). No-op for a back end without. */
void fw_store_log_busy_ms(fw_store_log *l, int ms);
/* Makes every transaction l committed durable against a power cut (SQLite, synchronous=NORMAL:
 * fdatasync of the WAL file, through a descriptor of its own, so it may run on another thread
 * while l writes; PostgreSQL: a commit already is). */
fw_status fw_store_log_sync(fw_store_log *l, fw_err *err);
/* Stores the predictions in one transaction (all or none). Errors: FW_EBUSY when it may succeed
 * later (the lock was held past the busy timeout, the disk is full), FW_ECORRUPT when the log is
 * damaged (reopen it later), FW_ESTORE / FW_ENOMEM otherwise. */
fw_status fw_store_log_put_predictions(fw_store_log *l, const fw_log_pred_row *rows, size_t n, fw_err *err);
/* Stores the feedback rows in one transaction (errors as put_predictions). The label rule: the
 * first label for a request id stands; a later label without update is kept with status 'ignored';
 * with update the labels in force become 'superseded'. Events always count. A row whose request id
 * is neither matched on input nor in the log is also listed in feedback_unmatched; rows[i].matched
 * says which were. */
fw_status fw_store_log_put_feedback(fw_store_log *l, fw_log_feedback_row *rows, size_t n, fw_err *err);
/* Whether the log already holds this prediction (request id, time, model, version) or this
 * feedback (request id, time, event): spool recovery skips what is stored. */
bool fw_store_log_has_prediction(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *model,
                                 int64_t version);
bool fw_store_log_has_feedback(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *event);
/* One logged prediction read back (fw_store_log_get_prediction): texts fw_malloc'd, NUL-terminated;
 * free with fw_log_pred_found_free. */
typedef struct fw_log_pred_found {
    int64_t ts_ms;
    char *input_json;                  /* NULL: none logged */
    char *output_json;
} fw_log_pred_found;
/* The first logged prediction of request_id by (model, version) — a shadow record shares its
 * request's id, not its model version — for labels that arrive after the server forgot the
 * prediction (monitor/perf.h). One seek of the request-id index per 16,384-row segment of the log
 * (store/log_db.h), oldest first, stopping at the first that has it; does not write. FW_OK,
 * FW_ENOTFOUND, FW_EUNSUPPORTED (a back end without it), or an error as put_predictions. */
fw_status fw_store_log_get_prediction(fw_store_log *l, const char *request_id, const char *model, int64_t version,
                                      fw_log_pred_found *out, fw_err *err);
void fw_log_pred_found_free(fw_log_pred_found *f);
/* Starts retention for the log under home; NULL when nothing is bounded or the thread could not
 * start. *deleted counts the rows removed. Stop joins the thread and frees. */
fw_store_log_retention *fw_store_log_retention_start(const char *home, const fw_log_retention *r,
                                                     _Atomic(unsigned long long) *deleted);
void fw_store_log_retention_stop(fw_store_log_retention *t);

/* ---- experiments (issue 19: src/experiment/, `flywheel experiment report`) ------------------ */
/* One row of an experiment read back from the log: an exposure (a prediction of the model logged
 * on its "primary" or "challenger" variant; event NULL) or a feedback event (`/v1/feedback` with
 * an event) joined to such a prediction by request id (the request's first one). Texts point into
 * the back end's buffers, valid during the callback only; lengths without the NUL. */
typedef struct fw_log_exp_row {
    const char *unit;          /* the prediction's entity_id (the A/B split's sticky key), else its request id */
    size_t unit_len;
    const char *variant;       /* "primary" or "challenger" */
    size_t variant_len;
    int64_t ts_ms;             /* the prediction's or the feedback's time */
    const char *event;         /* NULL: the exposure */
    size_t event_len;
    double value;              /* the feedback's value; NaN: none */
    const char *slice;         /* an exposure's slice (the feature asked for, from its first instance's
                                  input, as text); NULL: none asked, or the input has none */
    size_t slice_len;
} fw_log_exp_row;
/* Called once per row; a nonzero status stops the read and is returned. */
typedef fw_status (*fw_log_exp_fn)(void *ud, const fw_log_exp_row *row, fw_err *err);
/* Every exposure and joined feedback event of the experiment on model (predictions logged under
 * that model name, any version), in no particular order (callers order them: experiment/events.h).
 * Feedback whose request id has no such prediction is not an event of the experiment (yet). Reads
 * only. FW_OK, FW_EUNSUPPORTED (a back end without it), an error as put_predictions, or the
 * callback's status. */
fw_status fw_store_log_experiment_rows(fw_store_log *l, const char *model, fw_log_exp_fn fn, void *ud, fw_err *err);
/* The same with each exposure's slice: the value of input feature slice_feature in the request's
 * first instance (the logged /v1 shape {"instances":[{...}]}), as text. */
fw_status fw_store_log_experiment_rows_sliced(fw_store_log *l, const char *model, const char *slice_feature,
                                              fw_log_exp_fn fn, void *ud, fw_err *err);

/* One request a shadow also answered: the champion's record (model's prediction on the "primary"
 * variant) and the shadow's (variant "shadow", same request id), with the request's label in force
 * (the last label /v1/feedback kept as counting; NULL: none yet). answers / outputs are the logged
 * JSON arrays (one entry per instance: the answer, and the model's output scores). Texts as
 * fw_log_exp_row's. */
typedef struct fw_log_shadow_row {
    const char *request_id;
    int64_t ts_ms;
    const char *shadow_model;  /* the shadow's model name */
    int64_t shadow_version;
    const char *answers, *outputs;               /* the champion's */
    const char *shadow_answers, *shadow_outputs; /* the shadow's */
    const char *label_json;    /* JSON text of the label, or NULL */
} fw_log_shadow_row;
typedef fw_status (*fw_log_shadow_fn)(void *ud, const fw_log_shadow_row *row, fw_err *err);
/* Every request of model answered by its champion and scored by a shadow (the prediction log
 * joined to itself and to the labels by request id), in no particular order. Reads only. FW_OK,
 * FW_EUNSUPPORTED (a back end without it), a read error, or the callback's status. */
fw_status fw_store_log_shadow_rows(fw_store_log *l, const char *model, fw_log_shadow_fn fn, void *ud, fw_err *err);

#endif
