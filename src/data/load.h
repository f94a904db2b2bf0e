/* load.h — owns the one entry point that loads a data file into a dataset, picking the reader by
 * extension (.csv, .tsv, .jsonl, .ndjson, each optionally followed by .gz), and the options and
 * result structs every reader shares (CSV and JSONL use the same schema model).
 *
 * Example:
 *   fw_load_opts o; fw_load_opts_init(&o);
 *   o.skip_bad_rows = true;
 *   fw_dataset *ds; fw_load_result res; fw_err err;
 *   if (fw_data_load("train.csv.gz", &o, &ds, &res, &err) < 0) die(err.msg);
 *   printf("%zu rows, %zu rejected\n", res.rows, res.rejected);
 *   fw_dataset_free(ds);
 */
#ifndef FW_DATA_LOAD_H
#define FW_DATA_LOAD_H

#include "data/dataset.h"
#include "data/schema.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_load_opts {
    char delimiter;                      /* CSV field separator (default ','; .tsv files use '\t') */
    const char *const *missing;          /* missing-value tokens; NULL → fw_default_missing */
    size_t n_missing;
    const fw_type_override *overrides;   /* per-column types that win over inference */
    size_t n_overrides;
    size_t sample_rows;                  /* rows used for type inference (default 1000) */
    bool skip_bad_rows;                  /* reject bad rows (counted, first ten kept) vs fail */
    size_t max_field_bytes;              /* longest accepted field (default 16 MiB) */
    size_t max_record_bytes;             /* longest accepted line/record (default 64 MiB) */
    size_t max_rows;                     /* stop after this many rows (0 = all) */
    int threads;                         /* parsing threads (0 = all cores) */
    size_t block_bytes;                  /* read block size (0 = default 8 MiB; tests use tiny) */
    /* CSV from a plain file only: when range_end > 0, parse only the records in the file's bytes
     * [range_begin, range_end) — both record starts (just after a newline), as one rank of a
     * sharded load takes them (dist/dist_load.h); the header and the type sample still come from
     * the file's head, so every range gets the schema the whole file does. range_line is the
     * physical line of range_begin (messages name the file's lines). */
    uint64_t range_begin, range_end, range_line;
} fw_load_opts;

/* Fills the defaults above. */
void fw_load_opts_init(fw_load_opts *o);

#define FW_LOAD_MAX_REJECTS 10
typedef struct fw_load_reject {
    uint64_t line;                       /* physical line in the file (1-based) */
    char msg[FW_ERR_MSG_MAX];            /* "file:line:column: what" */
} fw_load_reject;

typedef struct fw_load_result {
    size_t rows;                         /* rows loaded */
    size_t rejected;                     /* rows rejected (skip_bad_rows) */
    size_t n_kept;                       /* entries in kept[] (<= 10): the first rejected rows */
    fw_load_reject kept[FW_LOAD_MAX_REJECTS];
    uint64_t bytes;                      /* bytes parsed (after decompression) */
    bool gzip;                           /* the input was gzipped */
    double seconds;                      /* wall time of the load */
} fw_load_result;

void fw_load_result_clear(fw_load_result *r);
/* Records one rejected row (keeps the first FW_LOAD_MAX_REJECTS messages). */
void fw_load_result_reject(fw_load_result *r, uint64_t line, const char *msg);

typedef enum fw_data_format { FW_FORMAT_CSV = 0, FW_FORMAT_JSONL = 1 } fw_data_format;
/* Format from a path's extension (.csv/.tsv/.txt → CSV, .jsonl/.ndjson/.json → JSONL, optionally
 * followed by .gz). Returns false when the extension is not recognised. */
bool fw_data_format_of(const char *path, fw_data_format *out);

/* Loads path (CSV or JSONL by extension; unknown extensions are read as CSV) into a new dataset
 * (*out, freed by the caller with fw_dataset_free) labelled with the path. opts may be NULL
 * (defaults), res may be NULL. Errors: FW_ENOTFOUND/FW_EIO (file), FW_EPARSE (syntax, with
 * file:line:column), FW_ESCHEMA (a value of the wrong type), FW_ELIMIT (a field or line over the
 * limit), FW_EDATA (empty file, binary file), FW_ECONFIG (bad override). Thread-safe (no shared
 * state); uses opts->threads threads internally. */
fw_status fw_data_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                       fw_load_result *res, fw_err *err);

#endif
