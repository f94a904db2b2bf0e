/* store_int.h — owns the helpers shared by the store's implementation files (only src/store/
 * includes it): the file-system pieces of the content-addressed artifact area, how Flywheel opens
 * a SQLite file, and the SQLite log's entry points (log_sqlite.c) the SQLite back end lists. */
#ifndef FW_STORE_STORE_INT_H
#define FW_STORE_STORE_INT_H

#include "core/buf.h"
#include "flywheel.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <home>/artifacts/ab/cdef....fwm for a 32-hex hash. */
void fw__artifact_path(const char *home, const char *hash, char *out, size_t size);
/* The artifact_put / artifact_read / artifact_remove operations over <home>/artifacts. */
fw_status fw__fs_artifact_put(const char *home, const void *data, size_t len, char hash_out[33],
                              fw_err *err);
fw_status fw__fs_artifact_read(const char *home, const char *hash, uint8_t **out, size_t *len,
                               fw_err *err);
/* A read-only map of the artifact file, verified against hash (artifact_map); unmap releases it. */
fw_status fw__fs_artifact_map(const char *home, const char *hash, const void **data, size_t *len, fw_err *err);
void fw__fs_artifact_unmap(const void *data, size_t len);
fw_status fw__fs_artifact_remove(const char *home, const char *hash, fw_err *err);
/* artifact_has: the file is there with len bytes (a stat, no read). */
fw_status fw__fs_artifact_has(const char *home, const char *hash, size_t len, fw_err *err);
fw_status fw__fs_artifact_list(const char *home, char ***hashes, size_t *n, fw_err *err);
fw_status fw__fs_artifact_leftovers(const char *home, bool remove, fw_buf *report, size_t *n,
                                    fw_err *err);

/* Opens (creating when absent) the SQLite file at path the way every Flywheel file is opened: no
 * mutex (one connection per thread), busy timeout busy_ms, no checkpoint on close, extended result
 * codes, WAL and synchronous=NORMAL. FW_EIO / FW_ECORRUPT / FW_EBUSY naming the file on failure. */
typedef struct sqlite3 sqlite3;
fw_status fw__sqlite_open_wal(const char *path, int busy_ms, sqlite3 **out, fw_err *err);
/* fw__sqlite_open_wal, and a file it creates gets pages of new_page_size bytes (a power of two from
 * 512 to 65536; 0: SQLite's default, 4096); an existing file keeps its own. */
fw_status fw__sqlite_open_wal_paged(const char *path, int busy_ms, int new_page_size, sqlite3 **out, fw_err *err);

/* The SQLite prediction log (log_sqlite.c): <home>/log.db through store/log_db.h. */
fw_status fw__sqlite_log_open(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err);
fw_store_log_retention *fw__sqlite_retention_start(const char *home, const fw_log_retention *r,
                                                   _Atomic(unsigned long long) *deleted);

/* The SQLite back end's continual-learning operations (learn_sqlite.c; contracts in store.h). */
fw_status fw__sqlite_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms,
                                fw_learn_row_fn fn, void *ud, fw_err *err);
fw_status fw__sqlite_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                                char *holder, size_t holder_size, fw_err *err);
fw_status fw__sqlite_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err);

#endif
