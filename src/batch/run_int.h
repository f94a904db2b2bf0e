/* run_int.h — owns the state of one batch run shared by the files of src/batch/ that carry it out:
 * batch.c (the steps of fw_batch_run, the reader → scorers → writer pipeline, output rows) and
 * recommend.c (top-k recommendations: the item file and each entity's best items). Not for callers. */
#ifndef FW_BATCH_RUN_INT_H
#define FW_BATCH_RUN_INT_H

#include "batch/batch_int.h"

#include <pthread.h>

enum { FW__MAX_SCORERS = 64 };

/* A slot of the ring: free, read (a block waits for a scorer), being scored, done (waits for the
 * writer). */
enum { FW__S_FREE = 0, FW__S_READ, FW__S_SCORING, FW__S_DONE };

typedef struct fw__slot {
    int state;
    uint64_t seq;
    fw__in_block in;
    fw_buf out;               /* formatted rows (store: records of 3 length-prefixed fields) */
    fw_buf scores;            /* selection: fw__score_rec per output row */
    fw_load_reject *rej;      /* rows the model refused */
    size_t n_rej, cap_rej;
    uint64_t n_scored, n_written;
    fw_status fatal;
    fw_err ferr;
} fw__slot;

typedef struct fw__items {
    fw_dataset *ds;
    size_t n;
    fw_value *vals;           /* n x n_inputs; strings point into ds */
    bool *from_item;          /* n_inputs: the items file provides this input */
    int id_col;
    char *id_name;            /* the item id column (--item-id or the first non-input column) */
} fw__items;

typedef struct fw__run {
    const fw_batch_model *m;
    const fw_batch_options *o;
    fw_batch_output_kind kind;
    bool spool;               /* top_fraction: rows go to a spool + scores file first */
    fw__in_reader rd;
    int *in_idx;              /* model input i → reader column */
    int *id_idx;              /* id column j → reader column */
    size_t n_ids;
    int score_class;          /* multiclass: class whose probability is the score; -1 = max */
    fw__items it;
    char ts[40];
    int64_t ts_ms;
    fw_buf csv_tail;          /* ",<version>,<timestamp>\n": the same for every CSV row */
    fw_buf json_tail;         /* ",\"model_version\":..,\"scored_at\":..}\n" */
    /* pipeline */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fw__slot *slots;
    size_t n_slots;
    uint64_t next_score, end_seq, skip_blocks;
    bool eof, abort;
    fw_status rstatus;        /* reader failure (blocks before end_seq are still written) */
    fw_err rerr;
    uint64_t skipped_rows;
    double skip_s, skip_cpu_s; /* --partition: counting the earlier partitions' lines (wall, CPU) */
    pthread_t skipper;         /* runs that count while the outputs are opened */
    bool skip_started;
    fw_status skip_st;
    fw_err skip_err;
    pthread_t reader;
    pthread_t scorers[FW__MAX_SCORERS];
    int n_scorers;
    bool reader_started, mu_init;
} fw__run;

/* The item kept in an entity's top k. */
typedef struct fw__topk {
    double score;
    uint32_t item;
} fw__topk;

/* ---- output rows (batch.c) ------------------------------------------------------------------ */

/* The model's score of a row: binary P(positive); multiclass the chosen class or the max;
 * multilabel the max; regression/ranking the value. */
double fw__row_score(const fw__run *R, const double *out);
/* A number as output text (JSON: null when not finite; CSV: empty). */
void fw__put_num(fw_buf *b, double v, bool json);
/* An input value as a CSV field or a JSON value. */
void fw__put_value_text(fw_buf *b, const fw_value *v, bool json);
/* The entity key: id values joined by '|' (the line number when there are no id columns). */
void fw__put_entity_key(const fw__run *R, const fw_value *ids, uint64_t line, fw_buf *b);
/* The start of an output row: JSONL '{' then "line": N or each id column's "name": value; CSV the
 * line number or the id values; each followed by ','. */
void fw__put_row_ids(const fw__run *R, const fw_value *ids, uint64_t line, fw_buf *b, bool json);
/* Appends f[from..] as one field of a store record (u32 length + bytes). */
void fw__put_rec_field(fw_buf *b, const fw_buf *f, size_t from);

/* ---- recommendations (recommend.c) ---------------------------------------------------------- */

/* Loads o->items for R (held in memory; the model's input types; the id column: --item-id, else
 * the first column that is not a model input). */
fw_status fw__items_load(fw__run *R, fw_err *err);
void fw__items_free(fw__items *it);
/* Scores every item for one entity (ent: its input values) and formats its top k into b: k rows
 * (CSV/JSONL) or one store record. *written += rows written. A negative status when the model
 * refused a pair (err names the item). vals, out: scratch of n_inputs / n_outputs; heap: top_k. */
fw_status fw__recommend_row(const fw__run *R, const fw_value *ent, const fw_value *ids, uint64_t line,
                            void *scratch, fw_value *vals, double *out, fw__topk *heap, fw_buf *b,
                            fw_buf *tmp, uint64_t *written, fw_err *err);

#endif
