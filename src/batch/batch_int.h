/* batch_int.h — owns the pieces of src/batch/ shared between its files (not for callers): the
 * streaming input reader (CSV via the data layer's stream, JSON Lines line by line), output row
 * formatting, the checkpoint state file, the job lock, the progress bar and the selection pass. */
#ifndef FW_BATCH_BATCH_INT_H
#define FW_BATCH_BATCH_INT_H

#include "batch/batch.h"
#include "core/buf.h"
#include "data/csv.h"
#include "data/load.h"
#include "data/source.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- input (input.c) ------------------------------------------------------------------------ */

/* One block of input rows: values of the reader's wanted columns for each row, the source line of
 * each row, and the rows rejected while reading (line + "file:line[:column]: what").
 *
 * Blocks come in two steps so that parsing runs on the scorer threads, not the reader: the
 * reader only cuts the file into blocks of whole records (fw__in_next: for CSV the header line plus
 * the block's raw bytes, quote-aware; for JSONL the lines; no parsing), and the scorer that takes
 * the block parses it (fw__in_parse). A record the parser cannot recover from (an unterminated quote, a line over the
 * limit) is rejected with its line and the block is parsed again without it, so one bad line never
 * stops the run. */
typedef struct fw__in_block {
    size_t n_rows;
    const uint64_t *lines;
    size_t n_rejects;
    const fw_load_reject *rejects;
    /* CSV */
    fw_row_block rb;
    fw_buf raw;              /* CSV: header record + this block's records, as read; JSONL: the
                                block's lines, each ending in '\n' */
    uint64_t first_line;     /* physical line of the first byte after the header in raw */
    size_t n_records;        /* records the reader counted (an upper bound on rows) */
    bool parsed;
    fw_load_reject *crej;    /* rejects in line order (parser's + unrecoverable lines) */
    size_t n_crej, cap_crej;
    /* JSONL */
    fw_value *vals;          /* n_rows x n_cols */
    size_t cap_rows;
    uint64_t *jlines;
    fw_buf arena;            /* string bytes of this block */
    fw_load_reject *jrej;
    size_t cap_rej;
} fw__in_block;

typedef struct fw__in_reader {
    fw_data_format fmt;
    size_t n_cols;           /* wanted columns */
    char **cols;
    bool *present;           /* the file has the column */
    int *ds_col;             /* CSV: column index in the parsed blocks, -1 when absent */
    fw_source *src;          /* the input bytes (gunzipped as needed) */
    char *buf;               /* read buffer: JSONL lines / CSV records not yet handed out */
    size_t buf_len, buf_pos, buf_cap;
    bool eof;
    uint64_t line;           /* JSONL: lines consumed; CSV: physical line of buf[buf_pos] */
    char *name;
    size_t size_hint;        /* file size (compressed for gzip) */
    bool gzip;
    /* CSV */
    fw_schema schema;        /* the present wanted columns and their types */
    fw_load_opts lo;         /* how blocks are parsed */
    char *hdr;               /* the header record's bytes (with its newline) */
    size_t hdr_len;
    uint64_t hdr_lines;      /* physical lines the header record spans */
    bool inq;                /* CSV cutter: inside a quoted field at buf[buf_pos + scan] */
    uint64_t abs_read;       /* bytes read from src so far */
    bool limited;            /* a partition: src is read up to limit (absolute) only */
    uint64_t limit;
    size_t pre;              /* CSV: bytes kept free at buf's start (hdr_len once the header is
                                known): a block takes buf itself, the header copied there */
    size_t step;             /* CSV: bytes one read takes once pre is set */
    uint64_t moved;          /* bytes copied again after their read (compaction, the bytes read
                                past a block): a measure for tests */
    uint64_t skip_lines;     /* fw__in_partition: lines of the earlier partitions counted */
    bool part_cut;           /* fw__in_partition_cut done, the skip not yet */
    uint64_t part_s, part_t; /* the partition's byte range [part_s, part_t) */
} fw__in_reader;

/* Opens path for streaming the wanted columns (types used for CSV parsing). Wanted columns absent
 * from the file read as missing (reader->present says which). */
fw_status fw__in_open(fw__in_reader *r, const char *path, size_t n_cols, const char *const *names,
                      const fw_col_type *types, fw_err *err);
void fw__in_close(fw__in_reader *r);
/* Restricts an opened reader to partition part of parts: the records whose first byte lies in
 * [size*part/parts, size*(part+1)/parts) of the file (a record starts at the file's first data
 * byte or just after a newline, so a CSV field with a newline inside quotes must not be in a
 * partitioned file). Skips to the first such record (counting its lines, so line numbers stay the
 * file's) and ends the input after the last. Not for compressed input. */
fw_status fw__in_partition(fw__in_reader *r, uint32_t part, uint32_t parts, fw_err *err);
/* fw__in_partition in two steps: the checks and the range (quick: the boundaries' newlines), then
 * the skip to the range's start, counting the lines before it (reads every earlier byte: a
 * worker runs it on a thread of its own while it opens its outputs). The reader may not be used
 * by another thread between them. */
fw_status fw__in_partition_cut(fw__in_reader *r, uint32_t part, uint32_t parts, fw_err *err);
fw_status fw__in_partition_skip(fw__in_reader *r, fw_err *err);
void fw__in_block_init(fw__in_block *b);
void fw__in_block_free(fw__in_block *b);
/* Reads the next block: up to max_rows whole records (CSV) or lines (JSONL), fewer when they pass
 * 8 MiB, not parsed yet: call fw__in_parse. End of input: FW_OK with n_records == 0. The reader
 * thread calls it. */
fw_status fw__in_next(fw__in_reader *r, size_t max_rows, fw__in_block *b, fw_err *err);
/* Parses a block read by fw__in_next (a no-op for a parsed block): fills n_rows, lines,
 * n_rejects, rejects. CSV lines whose errors the parser cannot recover from (unterminated quote,
 * record over the limit) become rejects; a JSONL line that is not a flat object is a reject. Safe to call from any thread for distinct blocks
 * (the reader is only read). FW_OK, FW_ENOMEM, or a fatal parse error (binary data). */
fw_status fw__in_parse(const fw__in_reader *r, fw__in_block *b, fw_err *err);
/* Where one wanted column's values live in a parsed block, resolved once per block so that reading
 * a row (fw__in_row) is a tight loop without lookups. */
typedef struct fw__in_view {
    const double *num;       /* CSV numeric column (NaN = missing), or NULL */
    const int32_t *code;     /* CSV categorical column (-1 = missing), or NULL */
    const fw_dict *dict;
    int jcol;                /* JSONL: column within the block's rows; -1 = missing */
} fw__in_view;
/* Views of wanted columns idx[0..n) (reader column indices; -1 → missing) in parsed block b. */
void fw__in_view_init(const fw__in_reader *r, const fw__in_block *b, const int *idx, size_t n,
                      fw__in_view *v);
/* The values of row `row` of block b through views v[0..n) (strings point into the block). */
void fw__in_row(const fw__in_reader *r, const fw__in_block *b, const fw__in_view *v, size_t n,
                size_t row, fw_value *out);

/* ---- output formatting (format.c) ----------------------------------------------------------- */

/* Appends s as a CSV field (quoted when it holds the delimiter, a quote, CR or LF). */
void fw__csv_put(fw_buf *b, const char *s, size_t n);

/* ---- checkpoint state (checkpoint.c) -------------------------------------------------------- */

typedef struct fw__state {
    char job[256];
    char input[1024];
    int64_t input_size, input_mtime;
    char model[256], version[64];
    int64_t started_ms;
    int64_t run_id;
    uint64_t block_rows;
    uint64_t blocks_done;
    uint64_t rows_read, rows_scored, rows_rejected, rows_written;
    uint64_t out_len, rej_len, scores_len;
    size_t n_reasons;
    fw_batch_reason reasons[FW_BATCH_MAX_REASONS];
    uint64_t reasons_other;
    int done;                /* every block written (selection may still be pending) */
} fw__state;

/* Writes the state atomically (temp file, fsync, rename). */
fw_status fw__state_save(const char *path, const fw__state *s, fw_err *err);
/* Reads a state file. FW_ENOTFOUND when absent; FW_ECORRUPT naming the line when malformed. */
fw_status fw__state_load(const char *path, fw__state *s, fw_err *err);
/* Starts writing bytes [off, off + len) of fd to the disk without waiting for them (Linux:
 * sync_file_range), so that the fsync that makes them durable (a checkpoint, a commit, a merge)
 * finds most of them written already. Best effort; durability still rests on that fsync. */
void fw__start_writeback(int fd, uint64_t off, uint64_t len);

/* ---- lock (lock.c) -------------------------------------------------------------------------- */

/* Takes an exclusive, non-blocking flock on <home>/locks/<job>.lock (created as needed). Returns
 * FW_OK with *fd set, FW_EBUSY when another process holds it (err names the job and the holder's
 * pid when known), FW_EIO otherwise. Release with fw__lock_release. */
fw_status fw__lock_take(const char *home, const char *job, int *fd, fw_err *err);
void fw__lock_release(int fd);
/* A file-name-safe version of s (letters, digits, '-', '_', '.', '@'; others → '_'). */
void fw__safe_name(const char *s, char *out, size_t cap);

/* ---- progress (progress.c) ------------------------------------------------------------------ */

typedef struct fw__progress {
    bool on;
    double t0, last;
    uint64_t total_est;      /* 0 = unknown */
} fw__progress;
void fw__progress_start(fw__progress *p, bool on, uint64_t total_est);
void fw__progress_update(fw__progress *p, uint64_t rows, bool final);

/* ---- selection (select.c) ------------------------------------------------------------------- */

/* One scored row in the scores side file. */
typedef struct fw__score_rec {
    double score;
    uint64_t len;            /* bytes of the row in the spool */
} fw__score_rec;

/* Reads the scores file, keeps the ceil(fraction * n) highest scores (ties: earlier row first) and
 * calls emit for each kept row of the spool in input order. *mem_bytes = memory used. */
typedef fw_status (*fw__emit_fn)(void *ud, const uint8_t *row, size_t len, fw_err *err);
fw_status fw__select_top(const char *scores_path, const char *spool_path, double fraction,
                         fw__emit_fn emit, void *ud, uint64_t *kept, size_t *mem_bytes,
                         fw_err *err);

/* Peak resident set size of the process in KiB (0 when unknown). */
size_t fw__peak_rss_kb(void);

#endif
