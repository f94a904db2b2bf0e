/* store_backend.h — owns the contract of a store back end: the operations tables behind the opaque
 * handles of store/store.h and the descriptor fw_store_open chooses by. Only src/store/ includes
 * it. A back end is one file here that defines a fw_store_backend (its two operations tables and
 * its open functions) and adds itself to the list in store.c; callers never change.
 *
 * Every operation has the contract of its fw_store_* / fw_store_log_* wrapper in store.h; those
 * marked optional may be NULL (the wrapper then answers for them). */
#ifndef FW_STORE_STORE_BACKEND_H
#define FW_STORE_STORE_BACKEND_H

#include "store/store.h"

typedef struct fw_store_ops {
    const char *kind;          /* "sqlite" */
    void (*close)(fw_store *s);
    fw_status (*begin)(fw_store *s, bool write, fw_err *err);
    fw_status (*commit)(fw_store *s, fw_err *err);
    void (*rollback)(fw_store *s);
    int (*schema_version)(fw_store *s);
    /* registry */
    fw_status (*version_insert)(fw_store *s, fw_version_rec *v, fw_err *err);
    fw_status (*version_get)(fw_store *s, const char *name, int64_t version, fw_version_rec *out, fw_err *err);
    fw_status (*version_latest)(fw_store *s, const char *name, bool any_status, int64_t *out, fw_err *err);
    fw_status (*version_list)(fw_store *s, const char *name, fw_version_rec **out, size_t *n, fw_err *err);
    fw_status (*version_set_status)(fw_store *s, const char *name, int64_t version, const char *status,
                                    fw_err *err);
    fw_status (*artifact_refs)(fw_store *s, const char *hash, int64_t *out, fw_err *err);
    fw_status (*model_exists)(fw_store *s, const char *name, bool *out, fw_err *err);
    fw_status (*model_list)(fw_store *s, fw_model_summary **out, size_t *n, fw_err *err);
    fw_status (*alias_set)(fw_store *s, const char *name, const char *alias, int64_t version, fw_err *err);
    fw_status (*alias_get)(fw_store *s, const char *name, const char *alias, int64_t *version, fw_err *err);
    fw_status (*alias_remove)(fw_store *s, const char *name, const char *alias, fw_err *err);
    fw_status (*alias_list)(fw_store *s, const char *name, fw_alias_rec **out, size_t *n, fw_err *err);
    fw_status (*run_insert)(fw_store *s, const fw_run_rec *r, fw_err *err);
    fw_status (*run_get)(fw_store *s, const char *run_id, fw_run_rec *out, fw_err *err);
    fw_status (*audit_append)(fw_store *s, const fw_audit_rec *a, fw_err *err);
    fw_status (*audit_list)(fw_store *s, const char *name, fw_audit_rec **out, size_t *n, fw_err *err);
    /* alarm history */
    fw_status (*alarm_raise)(fw_store *s, fw_alarm_rec *a, fw_err *err);
    fw_status (*alarm_clear)(fw_store *s, const char *model, int64_t version, const char *kind, const char *column,
                             const char *slice, int64_t cleared_ms, int64_t *n_cleared, fw_err *err);
    fw_status (*alarm_list)(fw_store *s, const char *model, size_t limit, fw_alarm_rec **out, size_t *n,
                            fw_err *err);
    /* artifacts */
    fw_status (*artifact_put)(fw_store *s, const void *data, size_t len, char hash_out[33], fw_err *err);
    fw_status (*artifact_read)(fw_store *s, const char *hash, uint8_t **out, size_t *len, fw_err *err);
    fw_status (*artifact_remove)(fw_store *s, const char *hash, fw_err *err);
    /* optional: has (NULL: artifact_read stands in) */
    fw_status (*artifact_has)(fw_store *s, const char *hash, size_t len, fw_err *err);
    /* optional: map (NULL: FW_EUNSUPPORTED) with its unmap, leftovers (NULL: none kept), list (NULL:
     * none), where (NULL: "<kind> artifact <hash>") */
    fw_status (*artifact_map)(fw_store *s, const char *hash, const void **data, size_t *len, fw_err *err);
    void (*artifact_unmap)(fw_store *s, const void *data, size_t len);
    fw_status (*artifact_leftovers)(fw_store *s, bool remove, fw_buf *report, size_t *n, fw_err *err);
    fw_status (*artifact_list)(fw_store *s, char ***hashes, size_t *n, fw_err *err);
    void (*artifact_where)(const fw_store *s, const char *hash, char *out, size_t size);
    /* batch */
    fw_status (*batch_run_begin)(fw_store *s, const char *name, int64_t version, const char *input_path,
                                 int64_t *batch_id, fw_err *err);
    fw_status (*batch_run_finish)(fw_store *s, int64_t batch_id, int64_t n_rows, const char *status, fw_err *err);
    fw_status (*batch_predictions_insert)(fw_store *s, int64_t batch_id, const int64_t *row_index,
                                          const char *const *output_json, size_t n, fw_err *err);
    fw_status (*batch_job_begin)(fw_store *s, fw_batch_run_rec *r, fw_err *err);
    fw_status (*batch_job_update)(fw_store *s, const fw_batch_run_rec *r, fw_err *err);
    fw_status (*batch_history)(fw_store *s, const char *filter, size_t limit, fw_batch_run_rec **out, size_t *n,
                               fw_err *err);
    fw_status (*answer_put)(fw_store *s, const char *model, const char *entity_id, size_t entity_len,
                            const char *version, const char *prediction, size_t prediction_len,
                            const char *scores_json, size_t scores_len, int64_t scored_ms, int64_t run_id,
                            fw_err *err);
    /* fw_store_answer_lookup is built on answer_get (store.c) */
    fw_status (*answer_get)(fw_store *s, const char *model, const char *entity, size_t entity_len,
                            fw_batch_answer *out, fw_err *err);
    fw_status (*answer_count)(fw_store *s, const char *model, int64_t *n, fw_err *err);
    /* settings: the text kept under key, storing fresh first when there is none, atomically (every
     * concurrent caller gets the first writer's); *out fw_malloc'd. fw_store_secret is built on it. */
    fw_status (*setting_get_or_put)(fw_store *s, const char *key, const char *fresh, char **out, fw_err *err);
    /* continual learning (src/learn); snapshot_put and snapshot_path are the store's own (files
     * under the home), the same for every back end */
    fw_status (*learn_scan)(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms, fw_learn_row_fn fn,
                            void *ud, fw_err *err);
    fw_status (*learn_lock)(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                            char *holder, size_t holder_size, fw_err *err);
    fw_status (*learn_unlock)(fw_store *s, const char *model, const char *owner, fw_err *err);
} fw_store_ops;

/* Every back end's registry handle starts with this header. */
struct fw_store {
    const fw_store_ops *ops;
    char *home;                /* as resolved at open (fw_malloc'd; the back end frees it) */
};

typedef struct fw_store_log_ops {
    void (*close)(fw_store_log *l);
    fw_status (*put_predictions)(fw_store_log *l, const fw_log_pred_row *rows, size_t n, fw_err *err);
    fw_status (*put_feedback)(fw_store_log *l, fw_log_feedback_row *rows, size_t n, fw_err *err);
    bool (*has_prediction)(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *model,
                           int64_t version);
    bool (*has_feedback)(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *event);
    /* optional (NULL: FW_EUNSUPPORTED) */
    fw_status (*get_prediction)(fw_store_log *l, const char *request_id, const char *model, int64_t version,
                                fw_log_pred_found *out, fw_err *err);
    /* NULL: the back end has no page caches (fw_store_log_cache: FW_EUNSUPPORTED) */
    fw_status (*cache)(fw_store_log *l, size_t *writer, size_t *checkpointer, fw_err *err);
    /* optional (NULL: nothing to do): the contracts of fw_store_log_busy_ms and fw_store_log_sync */
    void (*busy_ms)(fw_store_log *l, int ms);
    fw_status (*sync)(fw_store_log *l, fw_err *err);
    /* experiments (issue 19): optional (NULL: FW_EUNSUPPORTED); the contract of
     * fw_store_log_experiment_rows */
    fw_status (*experiment_rows)(fw_store_log *l, const char *model, const char *slice_feature, fw_log_exp_fn fn,
                                 void *ud, fw_err *err); /* slice_feature NULL: no slices */
    /* shadow agreement (issue 19): optional; the contract of fw_store_log_shadow_rows */
    fw_status (*shadow_rows)(fw_store_log *l, const char *model, fw_log_shadow_fn fn, void *ud, fw_err *err);
} fw_store_log_ops;

/* Every back end's log handle starts with this header. */
struct fw_store_log {
    const fw_store_log_ops *ops;
};

/* A back end: the homes it claims and how it opens them. */
typedef struct fw_store_backend {
    const char *name;
    /* true when home is this back end's (a URL scheme, or a plain directory for SQLite) */
    bool (*claims)(const char *home);
    fw_status (*open)(const char *home, fw_store **out, fw_err *err);
    fw_status (*log_open)(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err);
    /* NULL: retention is not supported (fw_store_log_retention_start returns NULL) */
    fw_store_log_retention *(*retention_start)(const char *home, const fw_log_retention *r,
                                               _Atomic(unsigned long long) *deleted);
    /* NULL: no watcher of alias moves (fw_store_watch_open: FW_EUNSUPPORTED) */
    fw_status (*watch_open)(const char *home, fw_store_watch **out, fw_err *err);
    /* batch partition claims (store.h fw_store_claims_*) */
    fw_status (*claims_open)(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err);
} fw_store_backend;

/* Every back end's partition claims start with this header. */
struct fw_store_claims {
    fw_status (*next)(fw_store_claims *c, uint32_t *index, fw_err *err);
    fw_status (*done)(fw_store_claims *c, uint32_t index, fw_err *err);
    void (*release)(fw_store_claims *c, uint32_t index);
    void (*close)(fw_store_claims *c);
};

/* Every back end's watcher starts with this header. */
struct fw_store_watch {
    int (*wait)(fw_store_watch *w, int timeout_ms);
    void (*close)(fw_store_watch *w);
};

/* Every back end's retention task starts with this header. */
struct fw_store_log_retention {
    void (*stop)(fw_store_log_retention *t); /* joins the task and frees it */
};

extern const fw_store_backend fw_store_sqlite_backend;
extern const fw_store_backend fw_store_pg_backend; /* store_pg.c: postgresql:// and postgres:// homes */

/* claims_pg.c and claims_local.c: the two back ends' partition claims */
fw_status fw__pg_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err);
fw_status fw__local_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err);

#endif
