/* snapshot.h — owns the training-set snapshots of a retrain (docs/LEARNING.md, "Reproducing a
 * retrained version"): the labelled served rows collected from the store, the policy that picks
 * and weights them (learn.rows: window or decay), and the two files a challenger is trained and
 * judged on — the training rows (the champion's base data, copied record by record, plus the
 * served rows under the policy) and the held-out rows (the most recent served rows) — written in
 * the base data's format (CSV, TSV or JSON Lines) as content-addressed files of the store
 * (fw_store_learn_snapshot_put). The challenger's recorded project names them, so `flywheel
 * reproduce` reads the very same bytes. */
#ifndef FW_LEARN_SNAPSHOT_H
#define FW_LEARN_SNAPSHOT_H

#include "flywheel.h"
#include "project/project.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One labelled served row, copied out of the store's scan. */
typedef struct fw_served_row {
    char *request_id;
    char *input_json;          /* the served record, a JSON object (a v1 body's one instance) */
    char *label_json;
    int64_t ts_ms;
    int64_t version;
} fw_served_row;

/* The rows of a model in scan order (oldest first). Rows whose logged inputs hold no single record
 * (none logged, several instances sharing one request id and so one label, a KServe v2 tensor
 * body) are counted in n_skipped and not kept. */
typedef struct fw_served_rows {
    fw_served_row *v;
    size_t n, cap;
    size_t n_skipped;
    bool oom;                  /* an add failed: the set is incomplete */
} fw_served_rows;
void fw_served_rows_init(fw_served_rows *s);
void fw_served_rows_free(fw_served_rows *s);
/* Appends r with its served record (skipped and counted when there is none). FW_OK or FW_ENOMEM
 * (oom set). */
fw_status fw_served_rows_add(fw_served_rows *s, const fw_learn_row *r);

/* What to write. */
typedef struct fw_snapshot_plan {
    const fw_project *project; /* the champion's recorded project (label, time, weight columns, tokens) */
    const fw_learn_spec *learn;
    const char *base_path;     /* the base data file (its format and header are the snapshots') */
    const fw_served_rows *rows;
    size_t n_train;            /* rows[0, n_train) may train; rows[n_train, n) are held out */
    int64_t now_ms;            /* ages are taken from here */
    int64_t base_ms;           /* decay: the time the base rows are taken to be from */
} fw_snapshot_plan;
void fw_snapshot_plan_init(fw_snapshot_plan *p);

typedef struct fw_snapshot_files {
    char train_path[4200], holdout_path[4200];
    char train_hash[33], holdout_hash[33];
    char base_abs[4096];       /* the base data's absolute path (recorded as learn.base_data) */
    char weight_column[128];   /* the column the snapshots carry weights in ("" when none added) */
    size_t n_base;             /* base rows copied into the training snapshot */
    size_t n_served_train;     /* served rows in it */
} fw_snapshot_files;

/* The weight column a decay snapshot adds when the project has none of its own. */
#define FW_SNAPSHOT_WEIGHT_COLUMN "_fw_learn_weight"

/* Writes both snapshots into the store. Errors: FW_EIO / FW_ENOTFOUND (the base data cannot be
 * read; err names it), FW_EDATA (no header, or no training rows at all under the policy),
 * FW_EUNSUPPORTED (a base format other than CSV, TSV or JSON Lines), the store's, FW_ENOMEM. */
fw_status fw_snapshot_write(fw_store *s, const fw_snapshot_plan *p, fw_snapshot_files *out, fw_err *err);

/* The policy alone (exposed for tests): which of rows[0, n_train) train, and each one's weight.
 * keep[i] (n_train entries) gets true for a kept row; weight[i] (may be NULL) its weight (1 in a
 * window). Returns the number kept. */
size_t fw_snapshot_policy(const fw_learn_spec *l, const fw_served_rows *rows, size_t n_train, int64_t now_ms,
                          bool *keep, double *weight);

#endif
