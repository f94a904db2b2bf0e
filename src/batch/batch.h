/* batch.h — owns batch prediction: score a file of rows (CSV or JSON Lines, optionally gzipped)
 * with one model and write the answers to a CSV/JSONL file or to the store's precomputed-answer
 * table that `serve` reads for hybrid answers. High throughput, constant memory:
 *
 *   reader thread ──blocks of raw records──▶ scorer threads (N): parse, score, format ──▶ writer
 *                                                                                   (caller's thread)
 *
 * The reader only cuts the input into blocks of whole records (quote-aware for CSV), so parsing,
 * scoring and formatting all run on the N scorer threads: both cores stay busy.
 * Blocks carry a sequence number and go round a small ring of slots, so output rows come out in
 * input order whatever the thread count, and memory is (slots x block size) whatever the input
 * size. Other modes on the same engine:
 *   - recommendations (items != NULL): every input row is an entity; every (entity, item) pair is
 *     scored by a pointwise model and the top_k items per entity are written (streaming over
 *     entities; the item file is held in memory);
 *   - selection (top_fraction > 0): only the highest-scoring fraction of rows is written, still in
 *     input order. Scores are kept as (score, output length) pairs in a side file (16 bytes per
 *     row) and rows are spooled to disk, then a second pass over the spool copies the selected
 *     rows. The pairs are read back into memory for the selection: the one place where memory
 *     grows with the input (16 bytes/row + 8 bytes/row for the ordering), reported in the summary.
 *
 * Bad rows (unparseable values, wrong types, rows the model refuses) go to a reject file with
 * their line and the reason, and the run goes on unless `strict`. A run checkpoints (output and
 * reject file fsync'd, then a small state file written atomically) every checkpoint_rows rows; a
 * run killed at any moment and restarted with `resume` truncates back to the last checkpoint,
 * skips the input rows already done and produces byte-identical output (the run's timestamp is
 * recorded once and reused). A lock (flock on <home>/locks/<job>.lock) keeps two runs of the same
 * job from overlapping; every run is recorded in <home> (batch_jobs table; see store/store.h).
 *
 * Example:
 *   fw_batch_options o; fw_batch_options_init(&o);
 *   o.input = "customers.csv"; o.output = "scores.csv"; o.id_columns = ids; o.n_id_columns = 1;
 *   fw_batch_summary sum; fw_err err;
 *   fw_status st = fw_batch_run(&model, &o, &sum, &err);
 *   int code = fw_batch_exit_code(st, &sum);   // 0, 1, 3 or 4 (see below)
 */
#ifndef FW_BATCH_BATCH_H
#define FW_BATCH_BATCH_H

#include "data/dataset.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of `flywheel batch` (for cron and systemd timers). */
enum {
    FW_BATCH_EXIT_OK = 0,        /* every row scored */
    FW_BATCH_EXIT_FAILURE = 1,   /* the run failed (I/O, model, --strict with a bad row, ...) */
    FW_BATCH_EXIT_USAGE = 2,     /* bad command line */
    FW_BATCH_EXIT_REJECTS = 3,   /* completed, but some rows were rejected (see the reject file) */
    FW_BATCH_EXIT_LOCKED = 4,    /* another run of the same job holds the lock */
};

/* The model as batch sees it: a record-level predict over raw input values, in the input order
 * given by input_names. It is what a loaded bundle provides (batch_bundle.c adapts one); tests
 * supply their own. predict must be thread-safe given distinct scratches. */
typedef struct fw_batch_model {
    const char *name;                 /* model name (output, store key, lock name) */
    const char *version;              /* version label, e.g. "3" */
    fw_task task;
    size_t n_outputs;                 /* values predict writes */
    size_t n_classes;                 /* classification: class names (binary: [neg, pos]) */
    const char *const *classes;
    double threshold;                 /* binary decision threshold on P(positive) */
    size_t n_inputs;
    const char *const *input_names;
    const fw_col_type *input_types;   /* how to read each input column from a CSV file */
    void *ud;
    /* Per-thread scratch (may be NULL when predict needs none). */
    void *(*scratch_new)(void *ud);
    void (*scratch_free)(void *ud, void *scratch);
    /* inputs: n_inputs values; out: n_outputs doubles; *label (may be left NULL) the decision's
     * text when the model makes one (class name, fallback value, "review"): batch then writes it
     * as the prediction instead of applying threshold / argmax itself. A bad value → negative
     * status, err says. */
    fw_status (*predict)(void *ud, const fw_value *inputs, void *scratch, double *out,
                         const char **label, fw_err *err);
} fw_batch_model;

typedef enum fw_batch_output_kind {
    FW_BATCH_OUT_AUTO = 0,            /* from the output path: .jsonl/.ndjson → JSONL, "store" → store,
                                         anything else → CSV */
    FW_BATCH_OUT_CSV,
    FW_BATCH_OUT_JSONL,
    FW_BATCH_OUT_STORE,
} fw_batch_output_kind;

/* The defaults of fw_batch_options (fw_batch_options_init fills them; `flywheel batch --help`
 * prints them). */
#define FW_BATCH_DEFAULT_BLOCK_ROWS 4096
#define FW_BATCH_DEFAULT_CHECKPOINT_ROWS 262144
#define FW_BATCH_DEFAULT_TOP_K 10

typedef struct fw_batch_options {
    const char *input;                /* .csv/.tsv/.jsonl/.ndjson, optionally .gz (required) */
    const char *output;               /* file path, or "store" (default: "-"? no: required) */
    fw_batch_output_kind output_kind;
    const char *const *id_columns;    /* copied to the output / store key; none → the row number */
    size_t n_id_columns;
    bool id_columns_optional;         /* the ids are the model's data.id, not asked for: a CSV input
                                         without them is named by row number instead of refused */
    int threads;                      /* scorer threads; 0 = all cores */
    size_t block_rows;                /* rows per block (FW_BATCH_DEFAULT_BLOCK_ROWS) */
    size_t checkpoint_rows;           /* rows between checkpoints (FW_BATCH_DEFAULT_CHECKPOINT_ROWS) */
    const char *reject_path;          /* default <output>.rejects.csv (store: <home>/batch/<job>.rejects.csv) */
    bool strict;                      /* the first bad row fails the run */
    bool allow_missing_columns;       /* score a CSV lacking some model inputs (as missing values);
                                         default: refuse the run naming the columns */
    bool resume;                      /* continue an interrupted run of the same job */
    double top_fraction;              /* (0, 1]: keep only the highest-scoring rows; 0 = all */
    const char *score_class;          /* multiclass selection/top-k: the class whose probability is
                                         the score (default: the highest probability) */
    /* Recommendations: input rows are entities. */
    const char *items;                /* item file (CSV/JSONL), held in memory */
    const char *item_id_column;       /* item id column (NULL: the items file's first column that
                                         is not a model input) */
    size_t top_k;                     /* items kept per entity (FW_BATCH_DEFAULT_TOP_K) */
    const char *home;                 /* Flywheel home (locks, store); NULL = $FLYWHEEL_HOME or ./.flywheel */
    const char *job;                  /* job name (lock, history); NULL = "<model>-<output basename>" */
    bool progress;                    /* draw a progress bar on stderr (only when it is a terminal) */
    bool record_history;              /* record the run in <home> (default true) */
    int64_t now_ms;                   /* the run's timestamp; 0 = now (tests fix it) */
    /* Partitions (several workers score one input: MPI ranks, Slurm array tasks, ...): with
     * part_count > 1 only the records starting in bytes [size*part_index/part_count,
     * size*(part_index+1)/part_count) of the input are scored, with the file's line numbers
     * (fw__in_partition). 0 / 0 = the whole input. partition.c names and merges the outputs. */
    uint32_t part_index, part_count;
    /* Test hook: stop (as if killed) once this many blocks have been written, leaving the state
     * file and partial output behind. 0 = off. */
    uint64_t stop_after_blocks;
} fw_batch_options;

/* Fills the defaults above. */
void fw_batch_options_init(fw_batch_options *o);

#define FW_BATCH_MAX_REASONS 8
typedef struct fw_batch_reason {
    char text[160];                   /* the reason without its line, e.g. "column 'age': ..." */
    uint64_t count;
} fw_batch_reason;

typedef struct fw_batch_summary {
    uint64_t rows_read;               /* data rows seen (scored + rejected) */
    uint64_t rows_scored;
    uint64_t rows_rejected;
    uint64_t rows_written;            /* output rows (top-k: entities x k; selection: kept rows) */
    uint64_t rows_skipped;            /* rows already done by the interrupted run (resume) */
    size_t n_reasons;                 /* the most common rejection reasons (others in "other") */
    fw_batch_reason reasons[FW_BATCH_MAX_REASONS];
    uint64_t reasons_other;
    double seconds;                   /* wall time of this process's run */
    double rows_per_s;
    size_t selection_bytes;           /* memory that grew with the input (top_fraction), else 0 */
    size_t peak_rss_kb;               /* peak resident memory of the process */
    int64_t run_id;                   /* history id (0 when not recorded) */
    int64_t started_ms;               /* the run's timestamp (kept across resume) */
    bool resumed;
    /* Where this process's time went (FLYWHEEL_BATCH_LOG=1 prints it to stderr): wall and process
     * CPU seconds of opening (the input and, for --partition, counting the lines of the earlier
     * partitions so that `line` is the file's; the outputs, the history record, the first
     * checkpoint), of scoring the blocks, and of finishing (last checkpoint, selection, commit) */
    double open_s, open_cpu_s, skip_s, skip_cpu_s, score_s, score_cpu_s, finish_s, finish_cpu_s;
    uint64_t skip_lines;              /* lines of the earlier partitions counted */
    char output[1024];                /* where the answers went */
    char reject_path[1024];           /* the reject file ("" when no row was rejected) */
} fw_batch_summary;

/* Runs one batch job. Returns FW_OK (rows may have been rejected: see sum->rows_rejected),
 * FW_EBUSY (lock held by another run), FW_EINTERRUPTED (stop_after_blocks reached, or SIGINT /
 * SIGTERM seen: the state is checkpointed and --resume continues), FW_EDATA (strict and a row
 * was rejected), or another negative status with err set. sum is always filled as far as the run
 * got. Not reentrant for the same job (that is what the lock is for); distinct jobs may run in
 * parallel threads. */
fw_status fw_batch_run(const fw_batch_model *m, const fw_batch_options *o, fw_batch_summary *sum,
                       fw_err *err);

/* The process exit code for a run's outcome (FW_BATCH_EXIT_*). */
int fw_batch_exit_code(fw_status st, const fw_batch_summary *sum);

/* Prints the end-of-run summary (rows read, scored, rejected with reasons, wall time, throughput,
 * memory) to f. */
void fw_batch_summary_print(const fw_batch_summary *sum, FILE *f);

/* ---- partition.c ---- */
/* "I/N" (0 <= I < N), or "auto": the launcher's rank and size (OMPI_COMM_WORLD_RANK/SIZE,
 * PMI_RANK/SIZE, SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT,
 * SLURM_PROCID/SLURM_NTASKS). FW_EINVAL with err saying what was expected. */
fw_status fw_batch_partition_parse(const char *spec, uint32_t *index, uint32_t *count, fw_err *err);
/* Where partition index of count of output goes once committed: "<output>.part-<I>-of-<N>". */
void fw_batch_part_path(const char *output, uint32_t index, uint32_t count, char *out, size_t cap);
/* Writes output from the count committed partitions, in order (a CSV header once), through a
 * temporary file renamed into place; FW_ENOTFOUND naming the partitions not committed yet. */
fw_status fw_batch_merge(const char *output, uint32_t count, fw_err *err);

/* Asks every running batch in the process to stop at the next block boundary after a checkpoint
 * (async-signal-safe: the CLI calls it from its SIGINT/SIGTERM handler). */
void fw_batch_request_stop(void);

#endif
