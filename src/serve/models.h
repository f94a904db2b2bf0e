/* models.h — owns the table of served models: routes ("NAME@ALIAS" or "NAME#VERSION") mapped to
 * the currently loaded fw_srv_model, lazily loaded from a source, bounded in memory by an LRU,
 * and swapped without interruption when an alias moves.
 *
 * Hot path (fw_model_table_acquire on a loaded route): a lock-free probe of a fixed-size table, a
 * per-route pin counter and a model reference count — no mutex. Cold paths (load, swap, evict,
 * refresh) serialise on one table mutex. A swap publishes the new model with an atomic exchange,
 * waits until no reader is between "read the pointer" and "took a reference", then moves the
 * table's reference to the old model to a retire list: in-flight requests finish on the version
 * they started with, and the table's loader thread frees the old version once it alone holds it
 * (polled every 2 ms), so a request thread never pays for an unmap.
 *
 * The loader thread: alias moves, reloads and admin loads are jobs (fw_model_table_submit) run in
 * order on one background thread, so the HTTP worker threads never wait for the source (a store
 * write, a file map) while a new version loads: the old version keeps answering until the new one
 * is published. Alias re-resolution (refresh, set_alias) is serialised by its own mutex, which
 * requests never take; the source's resolve/load run without the table mutex. */
#ifndef FW_SERVE_MODELS_H
#define FW_SERVE_MODELS_H

#include "serve/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_model_table fw_model_table;

/* src is copied (the table calls src->free at the end). max_models bounds distinct routes;
 * mem_limit bounds the bytes of loaded models (0 = no bound). */
fw_status fw_model_table_new(const fw_serve_source *src, size_t max_models, size_t mem_limit,
                             fw_model_table **out, fw_err *err);
void fw_model_table_free(fw_model_table *t);

/* The model for a route: exactly one of alias/version is non-NULL. Loads it on first use. Returns
 * a reference the caller releases with fw_srv_model_unref. FW_ENOTFOUND when the source has no such
 * model/alias/version; FW_ELIMIT when the route table is full. Thread-safe. now_ns: fw_now_ns(). */
fw_status fw_model_table_acquire(fw_model_table *t, const char *name, const char *alias,
                                 const char *version, uint64_t now_ns, fw_srv_model **out, fw_err *err);
/* Drops a route's loaded model (it reloads lazily on next use). FW_ENOTFOUND when not loaded. */
fw_status fw_model_table_unload(fw_model_table *t, const char *name, const char *alias,
                                const char *version, fw_err *err);
/* Moves an alias in the source, then swaps the route NAME@ALIAS to the new version (if loaded). */
fw_status fw_model_table_set_alias(fw_model_table *t, const char *name, const char *alias,
                                   const char *version, bool force, fw_err *err);
/* Re-resolves every loaded alias route and swaps those whose version changed; *swapped counts
 * them (may be NULL). Errors on individual routes leave the old version serving. */
fw_status fw_model_table_refresh(fw_model_table *t, size_t *swapped, fw_err *err);
/* Background jobs run by the table's loader thread. */
typedef enum fw_model_job_kind {
    FW_MODEL_JOB_LOAD = 0, /* fw_model_table_acquire(name, alias | version) and drop the reference */
    FW_MODEL_JOB_ALIAS,    /* fw_model_table_set_alias(name, alias, version), the promotion rule applies */
    FW_MODEL_JOB_RELOAD,   /* fw_model_table_refresh */
    FW_MODEL_JOB_ALIAS_FORCE, /* the same as ALIAS, past the promotion rule (audited as forced) */
} fw_model_job_kind;

typedef struct fw_model_job fw_model_job;

/* What a finished job reports. */
typedef struct fw_model_job_result {
    fw_status status;
    char msg[512];        /* the error when status != FW_OK */
    char version[256];    /* LOAD: the version now loaded */
    size_t bytes;         /* LOAD: its bytes */
    double load_ms;       /* LOAD: how long its load took */
    size_t swapped;       /* RELOAD: routes swapped */
} fw_model_job_result;

/* Queues a job for the loader thread (strings are copied; unused ones NULL). done (may be NULL) is
 * called on the loader thread right after the job finished and its result is visible; it must not
 * block. With out non-NULL the caller gets a reference it must drop with fw_model_job_release
 * (also when done was called). FW_ELIMIT when the loader is stopping. Thread-safe. */
fw_status fw_model_table_submit(fw_model_table *t, fw_model_job_kind kind, const char *name, const char *alias,
                                const char *version, void (*done)(void *ud, fw_model_job *j), void *ud,
                                fw_model_job **out, fw_err *err);
/* True once the job finished (acquire ordering: its result is then readable). Thread-safe. */
bool fw_model_job_done(const fw_model_job *j);
/* The result of a finished job, NULL while it is queued or running. Lives as long as the job. */
const fw_model_job_result *fw_model_job_get_result(const fw_model_job *j);
void fw_model_job_release(fw_model_job *j);
/* Unpublished versions still held by in-flight requests (tests and metrics). Thread-safe. */
size_t fw_model_table_retiring(fw_model_table *t);

/* Names the source lists under alias (for preloading); see fw_serve_source.list. */
fw_status fw_model_table_list(fw_model_table *t, const char *alias, char ***names, size_t *n, fw_err *err);

/* Loaded models and their bytes. Thread-safe (approximate while loads run). */
size_t fw_model_table_loaded(const fw_model_table *t, size_t *bytes);
/* Called with every version the table loads, before it is published (cold loads and alias swaps;
 * the server attaches the version's monitor, serve/monitoring.h). Set before the first load. */
void fw_model_table_set_on_load(fw_model_table *t, void (*fn)(void *ud, fw_srv_model *m), void *ud);
/* References to every loaded model (caller unrefs each and fw_frees the array). */
fw_status fw_model_table_snapshot(fw_model_table *t, fw_srv_model ***out, size_t *n);
/* A number that changes whenever any route's model changes (a load, a swap, an unload, an
 * eviction): what was looked up in the table stays valid while it is the same. */
uint64_t fw_model_table_generation(const fw_model_table *t);
/* Counters: loads, evictions, swaps since start. */
void fw_model_table_counters(const fw_model_table *t, uint64_t *loads, uint64_t *evictions,
                             uint64_t *swaps);

#endif
