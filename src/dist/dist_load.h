/* dist_load.h — owns loading a training file under mpirun: each rank reads and parses only its
 * newline-aligned byte range of a CSV file (the partitioning `flywheel batch --partition` uses),
 * then the ranks exchange their parsed rows, so every rank ends with the table a whole-file load
 * gives — the same rows in file order (row i is global row i on every rank, whatever N), the same
 * dictionary codes (first appearance in the file), the schema inferred from the file's head.
 *
 * Outside an MPI job of two or more ranks, and for inputs that cannot be cut into byte ranges
 * (JSON Lines, gzip, not a regular file), it is fw_data_load. When any rank's range fails to load
 * (a syntax error, or a quoted field holding a newline across a range boundary), every rank loads
 * the whole file instead, so errors are the whole-file load's, with its line numbers. */
#ifndef FW_DIST_DIST_LOAD_H
#define FW_DIST_DIST_LOAD_H

#include "data/load.h"

/* What this rank's part of the last sharded load was (for FLYWHEEL_DIST_LOG and tests). */
typedef struct fw_dist_load_stats {
    bool sharded;                 /* false: the whole file was loaded by each rank */
    uint64_t begin, end;          /* this rank's byte range of the file */
    size_t rows;                  /* rows this rank parsed */
    size_t total_rows;            /* rows of the assembled table */
} fw_dist_load_stats;

/* fw_data_load, split across the ranks of an MPI job as above. Every rank must call it (it is a
 * collective). stats may be NULL. */
fw_status fw_dist_load(const char *path, const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                       fw_dist_load_stats *stats, fw_err *err);

#endif
