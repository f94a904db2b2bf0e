/* log_db.h — owns <home>/log.db, the SQLite file of the prediction log: prediction_log (one row
 * per answered prediction, shadow scores included), feedback (labels and business events, joined
 * to predictions by request id) and feedback_unmatched (feedback whose request id was not known
 * when it was stored).
 *
 * Why a file of its own: the server ingests tens of thousands of log rows a second in long
 * transactions at idle priority, and SQLite has one write lock per file. With the log inside
 * flywheel.db an alias move (`flywheel models promote`, the admin endpoint) waited behind the
 * ingester for 0.15-1.6 s under load. Separate files give separate locks: registry writes never
 * wait for the log, and the log never waits for a training run's registration.
 *
 * Joins with the registry: `ATTACH '<home>/log.db' AS log` on a connection to flywheel.db, or the
 * other way round. Schema versions are kept in the file's own fw_meta(key 'log_schema_version').
 * Version 2 adds feedback.source (who sent it: remote address, token role) and feedback.status
 * (NULL: in force; 'ignored': a second label without "update"; 'superseded': replaced by an
 * update) — joins take `status IS NULL`. New files use auto_vacuum=INCREMENTAL so retention
 * (serving.log.retention) gives space back.
 * Version 3 replaces the index on prediction_log(request_id) by one on (id >> 14, request_id):
 * request ids are random, so the plain index took each new row into a random leaf page (one 4 KB
 * page per row into the WAL and again at the checkpoint: ~40% of the ingest CPU); keyed by the
 * row's segment of 16,384 ids first, new rows go into the newest segment's few pages only. A
 * lookup by request id probes each segment (FW_LOG_DB_SEG_SHIFT: min(id) to max(id), one index
 * seek each: ~1 us, 61 of them at 1M rows); prediction_log_by_time serves lookups that also
 * name the model and the time.
 * Version 4 adds the run index, so a lookup no longer makes a seek per segment: a run is 32
 * segments (2^19 ids: FW_LOG_DB_RUN_SHIFT); once the log's newest row is past a run, the writer
 * builds the run's entries in bulk, a step after each batch it ingests (read one segment's request
 * ids from the segment index, or write 1,024 buckets): prediction_log_run holds, under key
 * (run << 12 | bucket), the bucket's entries — every row of the run whose request-id hash
 * (fw_log_db_rid_hash) has those top 12 bits, as 12 bytes each (the hash, 8 bytes little-endian,
 * then the id's offset in the run, 4 bytes), sorted by hash then id: ~128 entries, 1.5 KB, one
 * page. prediction_log_run_built marks a run complete (with its entry count). A run costs 4,096
 * row writes (~0.003 WAL pages a row); a random-keyed index on the whole table would cost a page a
 * row again. A lookup takes one rowid seek per built run and one seek per segment of the runs not
 * built (the newest, unfinished one: at most 32) and checks each row found against the request id
 * (hashes may collide). Runs whose rows are all
 * gone are dropped by retention; a batch whose ids fall into a built run (ids reused after the
 * newest rows were deleted) unmarks it in the same transaction, so a marked run never misses a
 * row. 100M rows: ~190 run seeks + <= 32 segment seeks instead of ~6,100 segment seeks.
 * Version 5 stores each row's request-id hash (prediction_log.rid_hash: fw_log_db_rid_hash as a
 * signed 64-bit integer; also the SQL function fw_rid_hash on connections fw_log_db_open opened)
 * and keys the segment index by it: prediction_log_by_hash_seg (id >> 14, rid_hash) replaces
 * (id >> 14, request_id). An entry is ~16 bytes instead of ~50, so the newest segment's index is
 * 40% of the pages a transaction rewrites into the WAL (0.045 -> 0.028 pages a row), and a run's
 * build reads the hashes from the index alone. The migration fills rid_hash for rows of runs not
 * built (built runs are found through prediction_log_run) before building the index; a row without
 * a hash (written by hand) is found by a second seek on (segment, NULL) and hashed from its
 * request id when its run is built.
 *
 * Stores written before the split (flywheel.db schema 1) held these tables in flywheel.db; the
 * store's migration to schema 2 calls fw_log_db_adopt_legacy first, which copies the rows here
 * keeping their ids (INSERT OR IGNORE: a migration interrupted after the copy and before the drop
 * copies nothing twice), then the migration drops the old tables. */
#ifndef FW_STORE_LOG_DB_H
#define FW_STORE_LOG_DB_H

#include "flywheel.h"

#include <sqlite3.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FW_LOG_DB_SCHEMA_VERSION 5
#define FW_LOG_DB_SEG_SHIFT 14 /* the segment of a prediction_log row: id >> 14 (migration 2 -> 3) */
#define FW_LOG_DB_RUN_SHIFT 19 /* the run of a prediction_log row: id >> 19, 32 segments (migration 3 -> 4) */

#define FW_LOG_DB_RUN_BUCKET_BITS 12 /* a run's hash buckets: the hash's top 12 bits */

/* The page size of a new log.db (bytes). A prediction row is ~1 KB (the inputs' JSON): in SQLite's
 * default 4 KiB pages the ingest wrote ~4 rows a page, and every WAL frame, checkpoint copy and
 * page split came 4x as often — 16 KiB pages cut the ingest's CPU per record by ~25% (session 14,
 * bench/store/log_ingest.c spool: WAL bytes between checkpoints kept equal). A file created with
 * other pages (before session 14) keeps them: a WAL file's page size is fixed once written (to
 * change it, offline: journal_mode=DELETE, page_size, VACUUM, journal_mode=WAL). */
#define FW_LOG_DB_PAGE_SIZE 16384

/* The hash of a request id in prediction_log_run (FNV-1a 64 with a finalizer; stored: never changes). */
uint64_t fw_log_db_rid_hash(const char *rid, size_t n);

/* Index seeks made by lookups by request id (segment probes and run seeks), process-wide: what
 * tests count to prove a lookup is not a probe per segment. */
extern _Atomic(unsigned long long) fw_log_db_probes;

/* Opens (creating and migrating as needed) <home>/log.db for reading and writing: WAL,
 * synchronous=NORMAL, busy timeout busy_ms. home must be resolved (fw_store_default_home) and
 * exist. *out is closed with sqlite3_close. FW_EIO / FW_ECORRUPT / FW_EVERSION / FW_EBUSY naming
 * the file on failure. */
fw_status fw_log_db_open(const char *home, int busy_ms, sqlite3 **out, fw_err *err);

/* Copies prediction_log, feedback and (when present) feedback_unmatched rows from the legacy
 * tables of the store file store_path into <home>/log.db, ids kept, duplicates ignored; commits.
 * Tables absent from store_path are skipped. */
fw_status fw_log_db_adopt_legacy(const char *home, const char *store_path, fw_err *err);

#endif
