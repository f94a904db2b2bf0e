/* csv.h — owns the RFC 4180 CSV reader: header row; quoted fields holding delimiters, doubled
 * quotes and newlines; LF or CRLF; UTF-8 validated (a leading BOM is skipped); an empty field or a
 * missing token is a missing value. Two ways in:
 *
 *   1. Whole-file load (fw_csv_load*): infer the schema on the first sample_rows rows, then parse
 *      typed values straight into dataset columns, block by block, with blocks split at record
 *      boundaries and parsed on all cores (a block holding a quote character is parsed on one
 *      thread, so quoted newlines are never split). Dictionary codes are assigned in order of first
 *      appearance in the file, so results are identical for any thread count.
 *
 *   2. Streaming (fw_csv_stream_*): for files larger than memory (batch prediction). Open with a
 *      fixed schema (or infer one), then read blocks of up to N rows into a reusable block; memory
 *      stays constant whatever the file size. Each row keeps its source line; bad rows are
 *      reported per row and reading goes on.
 *
 * Errors are "file:line:column: what" (line = physical line, column = byte column, 1-based). */
#ifndef FW_DATA_CSV_H
#define FW_DATA_CSV_H

#include "data/dataset.h"
#include "data/load.h"
#include "data/schema.h"
#include "data/source.h"
#include "flywheel.h"

#include <stddef.h>
#include <stdint.h>

/* Loads a CSV file (gzip detected by magic bytes) into a new dataset (*out; caller frees).
 * opts/res may be NULL. See fw_data_load for the status codes. */
fw_status fw_csv_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                      fw_load_result *res, fw_err *err);
/* The same from memory (data is not modified); name labels messages and the dataset source. */
fw_status fw_csv_load_mem(const void *data, size_t len, const char *name,
                          const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                          fw_err *err);
/* The same from an open source (the caller still closes it). */
fw_status fw_csv_load_source(fw_source *src, const fw_load_opts *opts, fw_dataset **out,
                             fw_load_result *res, fw_err *err);

/* ---- streaming ------------------------------------------------------------------------------- */
typedef struct fw_csv_stream fw_csv_stream;

/* One block of rows read by fw_csv_stream_next. Initialise with fw_row_block_init, reuse across
 * calls, free with fw_row_block_free. Everything in it is valid until the next call. */
typedef struct fw_row_block {
    fw_dataset *ds;          /* the rows (columns of the stream's schema); dictionaries hold only
                                this block's strings (reset each call) */
    uint64_t *lines;         /* lines[r] = source line of row r */
    size_t n_rejects;        /* rows of this block's span that were rejected */
    fw_load_reject *rejects; /* all of them: line + "file:line:column: what" */
    size_t cap_rows, cap_rejects;
} fw_row_block;

void fw_row_block_init(fw_row_block *b);
void fw_row_block_free(fw_row_block *b);

/* Opens path for streaming. schema == NULL infers one from the first sample_rows rows (reading
 * no more than that ahead); otherwise every column of schema must appear in the header (by name,
 * any order; extra file columns are ignored) and values are parsed with schema's types.
 * opts may be NULL. Returns FW_OK (*out set; close with fw_csv_stream_close) or an error. */
fw_status fw_csv_stream_open(const char *path, const fw_load_opts *opts, const fw_schema *schema,
                             fw_csv_stream **out, fw_err *err);
/* The same over a caller's memory buffer (not copied; must outlive the stream). */
fw_status fw_csv_stream_open_mem(const void *data, size_t len, const char *name,
                                 const fw_load_opts *opts, const fw_schema *schema,
                                 fw_csv_stream **out, fw_err *err);
/* The stream's schema (names and types of the block's columns). */
const fw_schema *fw_csv_stream_schema(const fw_csv_stream *s);
/* Reads the next rows: up to max_rows good rows into blk (bad rows go to blk->rejects, whatever
 * skip_bad_rows says, and do not count). At end of file, returns FW_OK with blk->ds->n_rows == 0
 * and blk->n_rejects == 0. Fatal errors (I/O, unterminated quote at end of file, binary data, a
 * line over the limit) return a negative status. Not thread-safe per stream. */
fw_status fw_csv_stream_next(fw_csv_stream *s, size_t max_rows, fw_row_block *blk, fw_err *err);
void fw_csv_stream_close(fw_csv_stream *s);

#endif
