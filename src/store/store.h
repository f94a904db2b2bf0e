/* store.h — owns the store interface: where the registry (model names, versions, aliases, runs,
 * audit log) and batch results are kept; the server's prediction log and feedback live in a file
 * of their own (store/log_db.h) so their write lock is not the registry's. Callers see only this
 * header; the embedded SQLite implementation (store_sqlite.c) sits behind a table of
 * operations, and a PostgreSQL one can be added beside it without changing any caller (the
 * Redis ae.c / ae_epoll.c pattern). Table layout and the reasoning: docs/DESIGN.md ("The store").
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

#define FW_STORE_SCHEMA_VERSION 2 /* the newest schema this build creates and reads */

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

typedef struct fw_store fw_store;

/* The operations every implementation provides. Callers use the fw_store_* wrappers below.
 * Every operation returns FW_OK or a negative status with err set; lookups that find nothing
 * return FW_ENOTFOUND. Output arrays are fw_malloc'd and freed with the matching _free. */
typedef struct fw_store_ops {
    const char *kind;          /* "sqlite" */
    void (*close)(fw_store *s);
    /* Transactions: write=true takes the write lock up front (no upgrade deadlocks). */
    fw_status (*begin)(fw_store *s, bool write, fw_err *err);
    fw_status (*commit)(fw_store *s, fw_err *err);
    void (*rollback)(fw_store *s);
    int (*schema_version)(fw_store *s);
    /* Models and versions. version_insert creates the name if new, assigns the next version
     * number (max + 1 over every row of the name, deleted included: numbers are never reused)
     * and fills v->version. Call it inside a write transaction. */
    fw_status (*version_insert)(fw_store *s, fw_version_rec *v, fw_err *err);
    fw_status (*version_get)(fw_store *s, const char *name, int64_t version, fw_version_rec *out,
                             fw_err *err);
    /* Highest version number with status "active" (any status when any_status). */
    fw_status (*version_latest)(fw_store *s, const char *name, bool any_status, int64_t *out,
                                fw_err *err);
    fw_status (*version_list)(fw_store *s, const char *name, fw_version_rec **out, size_t *n,
                              fw_err *err);
    fw_status (*version_set_status)(fw_store *s, const char *name, int64_t version,
                                    const char *status, fw_err *err);
    /* Number of versions not deleted, over all names, that use this artifact hash. */
    fw_status (*artifact_refs)(fw_store *s, const char *hash, int64_t *out, fw_err *err);
    fw_status (*model_exists)(fw_store *s, const char *name, bool *out, fw_err *err);
    fw_status (*model_list)(fw_store *s, fw_model_summary **out, size_t *n, fw_err *err);
    /* Aliases: one version per (name, alias). */
    fw_status (*alias_set)(fw_store *s, const char *name, const char *alias, int64_t version,
                           fw_err *err);
    fw_status (*alias_get)(fw_store *s, const char *name, const char *alias, int64_t *version,
                           fw_err *err);
    fw_status (*alias_remove)(fw_store *s, const char *name, const char *alias, fw_err *err);
    fw_status (*alias_list)(fw_store *s, const char *name, fw_alias_rec **out, size_t *n,
                            fw_err *err);
    /* Runs and the audit log. */
    fw_status (*run_insert)(fw_store *s, const fw_run_rec *r, fw_err *err);
    fw_status (*run_get)(fw_store *s, const char *run_id, fw_run_rec *out, fw_err *err);
    fw_status (*audit_append)(fw_store *s, const fw_audit_rec *a, fw_err *err);
    /* Entries for one name (all names when name is NULL), oldest first. */
    fw_status (*audit_list)(fw_store *s, const char *name, fw_audit_rec **out, size_t *n,
                            fw_err *err);
    /* Content-addressed artifact files. put: writes bytes under their hash (temp + fsync +
     * rename; an existing intact file is kept) and sets hash_out. read: the bytes of a hash,
     * verified against it (FW_ENOTFOUND when missing, FW_ECORRUPT when altered); *out is
     * fw_malloc'd. remove: deletes the file (FW_OK when already gone). */
    fw_status (*artifact_put)(fw_store *s, const void *data, size_t len, char hash_out[33],
                              fw_err *err);
    fw_status (*artifact_read)(fw_store *s, const char *hash, uint8_t **out, size_t *len,
                               fw_err *err);
    fw_status (*artifact_remove)(fw_store *s, const char *hash, fw_err *err);
    /* Optional (NULL: none kept): leftovers of interrupted artifact writes — temporary files whose
     * writing process is gone. Appends each path and a newline to report (may be NULL), counts
     * them in *n, and deletes them when remove is set. Files still being written are left alone. */
    fw_status (*artifact_leftovers)(fw_store *s, bool remove, fw_buf *report, size_t *n,
                                    fw_err *err);
    /* Optional: the hashes of every artifact file kept (fw_malloc'd array of fw_malloc'd strings). */
    fw_status (*artifact_list)(fw_store *s, char ***hashes, size_t *n, fw_err *err);
    /* Batch runs and their per-row outputs. */
    fw_status (*batch_run_begin)(fw_store *s, const char *name, int64_t version,
                                 const char *input_path, int64_t *batch_id, fw_err *err);
    fw_status (*batch_run_finish)(fw_store *s, int64_t batch_id, int64_t n_rows, const char *status,
                                  fw_err *err);
    fw_status (*batch_predictions_insert)(fw_store *s, int64_t batch_id, const int64_t *row_index,
                                          const char *const *output_json, size_t n, fw_err *err);
} fw_store_ops;

/* Every implementation's handle starts with this header. */
struct fw_store {
    const fw_store_ops *ops;
    char *home;                /* the FLYWHEEL_HOME directory */
};

/* The home directory: `home` when not NULL, else $FLYWHEEL_HOME, else "./.flywheel".
 * Returns a pointer to a static or the given string; never NULL. */
const char *fw_store_default_home(const char *home);

/* Opens (creating when absent) the store under home (NULL: fw_store_default_home). Migrates an
 * older schema; a schema newer than FW_STORE_SCHEMA_VERSION is FW_EVERSION ("store at X was
 * written by a newer Flywheel"). A home that cannot be created or read is FW_EIO. */
fw_status fw_store_open(const char *home, fw_store **out, fw_err *err);
void fw_store_close(fw_store *s);
/* The SQLite implementation directly (fw_store_open picks it for a plain directory). */
fw_status fw_store_sqlite_open(const char *home, fw_store **out, fw_err *err);

/* Wrappers over s->ops (same contracts as above). */
static inline fw_status fw_store_begin(fw_store *s, bool write, fw_err *err) { return s->ops->begin(s, write, err); }
static inline fw_status fw_store_commit(fw_store *s, fw_err *err) { return s->ops->commit(s, err); }
static inline void fw_store_rollback(fw_store *s) { s->ops->rollback(s); }

#endif
