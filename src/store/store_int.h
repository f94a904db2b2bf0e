/* store_int.h — owns the helpers shared by store implementations (not for callers of the store):
 * file-system pieces of the content-addressed artifact area and small file utilities. */
#ifndef FW_STORE_STORE_INT_H
#define FW_STORE_STORE_INT_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mkdir -p. FW_OK or FW_EIO naming the directory. */
fw_status fw__mkdirs(const char *path, fw_err *err);
/* <home>/artifacts/ab/cdef....fwm for a 32-hex hash. */
void fw__artifact_path(const char *home, const char *hash, char *out, size_t size);
/* Whole file into a fw_malloc'd buffer. FW_ENOTFOUND when absent, FW_EIO otherwise. */
fw_status fw__read_file(const char *path, uint8_t **out, size_t *len, fw_err *err);
/* temp file in the same directory + fsync + rename + fsync of the directory. */
fw_status fw__write_file_atomic(const char *path, const void *data, size_t len, fw_err *err);
/* The artifact_put / artifact_read / artifact_remove operations over <home>/artifacts. */
fw_status fw__fs_artifact_put(const char *home, const void *data, size_t len, char hash_out[33],
                              fw_err *err);
fw_status fw__fs_artifact_read(const char *home, const char *hash, uint8_t **out, size_t *len,
                               fw_err *err);
fw_status fw__fs_artifact_remove(const char *home, const char *hash, fw_err *err);
fw_status fw__fs_artifact_list(const char *home, char ***hashes, size_t *n, fw_err *err);
fw_status fw__fs_artifact_leftovers(const char *home, bool remove, fw_buf *report, size_t *n,
                                    fw_err *err);

/* Opens (creating when absent) the SQLite file at path the way every Flywheel file is opened: no
 * mutex (one connection per thread), busy timeout busy_ms, no checkpoint on close, extended result
 * codes, WAL and synchronous=NORMAL. FW_EIO / FW_ECORRUPT / FW_EBUSY naming the file on failure. */
typedef struct sqlite3 sqlite3;
fw_status fw__sqlite_open_wal(const char *path, int busy_ms, sqlite3 **out, fw_err *err);

/* Crash-test hook (the SQLite way of testing crashes): when the environment variable
 * FW_CRASH_POINT equals `name`, the process kills itself with SIGKILL right there, so a test can
 * stop a registration or a deletion at an exact step and check what the store looks like after.
 * A no-op otherwise (one getenv). Points: "artifact:temp-written" (before the rename), "register:file-written", "register:before-commit",
 * "delete:before-commit", "delete:after-commit". */
void fw__crash_point(const char *name);

#endif
