/* batch_store.h — owns batch's records in the store's SQLite file (<home>/flywheel.db, WAL):
 *
 *   batch_jobs     one row per run: job, model, version, input, output, start, end, rows read /
 *                  scored / rejected / written, outcome ("running", "ok", "rejects", "failed",
 *                  "interrupted"), exit code, attempts (1 + resumes), message. `flywheel batch
 *                  history` lists it.
 *   batch_answers  the precomputed answers serve reads in hybrid mode (`flywheel batch --output
 *                  store`). One row per (model, entity_id); a later run overwrites the rows it
 *                  scores and leaves the others (so a reader checks the version and the age):
 *
 *     column       type     meaning
 *     model        TEXT     the model NAME as registered (not NAME@ALIAS)         } primary key
 *     entity_id    TEXT     the --id column values joined by '|' (e.g. "u42" or   }
 *                           "shop7|u42"); the input line number when no --id was given
 *     version      TEXT     the model version that scored it, e.g. "3"
 *     prediction   TEXT     the decision as text: class label, labels joined by '|' (multilabel),
 *                           the value (regression), "review" (abstained), or the best item (top-k)
 *     scores_json  TEXT     binary {"score":P(positive)}; multiclass / multilabel
 *                           {"p":{"class":p,...}}; regression {}; top-k
 *                           {"items":[{"item":ID,"score":s},...]} best first
 *     scored_ms    INTEGER  the run's timestamp (Unix ms; one per run, kept across --resume)
 *     run_id       INTEGER  batch_jobs.id of the run that wrote it
 *
 *   Reading: fw_batch_db_lookup(db, model, version, entity, max_age_ms, ...) returns the answer only
 *   when it is for that version and young enough, and says why not otherwise (missing, stale,
 *   another version). Answers become visible when a run's checkpoint commits (every
 *   checkpoint_rows rows), so serving sees a long run's answers progressively.
 *
 * These live beside the store's own tables (store/store.h batch_runs / batch_predictions, keyed by
 * (batch id, row index)) because serving needs the answer by entity id and history needs rejected
 * counts and outcomes; the tables are created here with IF NOT EXISTS on first use.
 *
 * Thread safety: one fw_batch_db per thread (a handle caches prepared statements); any number of
 * processes (SQLite WAL, busy timeout): serve reads while batch writes. */
#ifndef FW_BATCH_BATCH_STORE_H
#define FW_BATCH_BATCH_STORE_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_batch_db fw_batch_db;

/* Opens (creating the file and tables as needed) <home>/flywheel.db; home NULL = $FLYWHEEL_HOME or
 * ./.flywheel. FW_OK, FW_EIO or FW_ESTORE with err set. Close with fw_batch_db_close. */
fw_status fw_batch_db_open(const char *home, fw_batch_db **out, fw_err *err);
void fw_batch_db_close(fw_batch_db *db);

typedef struct fw_batch_run_rec {
    int64_t run_id;
    char job[256];
    char model[256];
    char version[64];
    char input[1024];
    char output[1024];
    int64_t started_ms, ended_ms;      /* ended 0 while running */
    uint64_t rows_read, rows_scored, rows_rejected, rows_written;
    char outcome[32];
    int exit_code;
    int attempts;                      /* 1 + number of resumes */
    char message[512];
} fw_batch_run_rec;

/* Inserts a run (outcome "running"); sets r->run_id. */
fw_status fw_batch_db_run_begin(fw_batch_db *db, fw_batch_run_rec *r, fw_err *err);
/* Updates every field of run r->run_id. */
fw_status fw_batch_db_run_update(fw_batch_db *db, const fw_batch_run_rec *r, fw_err *err);
/* Runs newest first, of one job or model (filter matches either; NULL = all), at most limit (0 =
 * 50). *out is fw_malloc'd (fw_free it). */
fw_status fw_batch_db_history(fw_batch_db *db, const char *filter, size_t limit,
                              fw_batch_run_rec **out, size_t *n, fw_err *err);

/* Answers: writes go in transactions (begin ... put ... commit); put replaces an entity's row. */
fw_status fw_batch_db_begin(fw_batch_db *db, fw_err *err);
fw_status fw_batch_db_put_answer(fw_batch_db *db, const char *model, const char *entity_id,
                                 size_t entity_len, const char *version, const char *prediction,
                                 size_t prediction_len, const char *scores_json, size_t scores_len,
                                 int64_t scored_ms, int64_t run_id, fw_err *err);
fw_status fw_batch_db_commit(fw_batch_db *db, fw_err *err);

typedef struct fw_batch_answer {
    char version[64];
    char *prediction;                  /* fw_malloc'd */
    char *scores_json;                 /* fw_malloc'd */
    int64_t scored_ms;
    int64_t run_id;
} fw_batch_answer;
/* The precomputed answer for (model, entity) whatever its version and age: FW_OK, FW_ENOTFOUND,
 * or an error. Free with fw_batch_answer_free. (Serving wants fw_batch_db_lookup.) */
fw_status fw_batch_answer_get(fw_batch_db *db, const char *model, const char *entity_id,
                              fw_batch_answer *out, fw_err *err);
void fw_batch_answer_free(fw_batch_answer *a);

/* Why fw_batch_db_lookup found no usable answer. */
typedef enum fw_batch_miss {
    FW_BATCH_HIT = 0,          /* a usable answer (FW_OK) */
    FW_BATCH_MISSING,          /* no row for (model, entity) */
    FW_BATCH_STALE,            /* a row older than max_age_ms */
    FW_BATCH_OTHER_VERSION,    /* a row written by another version of the model */
} fw_batch_miss;

/* THE read for hybrid serving: the precomputed answer for (model, entity[0..entity_len)) when one
 * exists, was written by `version` (NULL: any version) and is at most max_age_ms old at now_ms
 * (max_age_ms <= 0: any age; now_ms 0: the wall clock). Returns FW_OK with *out filled (free with
 * fw_batch_answer_free), FW_ENOTFOUND with *why saying which miss (out left empty), or FW_ESTORE /
 * FW_ENOMEM with err set. why may be NULL. One indexed point query (primary key) on a statement
 * prepared once per handle; does not write. */
fw_status fw_batch_db_lookup(fw_batch_db *db, const char *model, const char *version, const char *entity,
                             size_t entity_len, int64_t max_age_ms, int64_t now_ms, fw_batch_answer *out,
                             fw_batch_miss *why, fw_err *err);
/* Number of answers stored for a model (tests, `batch history`). */
fw_status fw_batch_answer_count(fw_batch_db *db, const char *model, int64_t *n, fw_err *err);

#endif
