/* files.h — owns the small file utilities every layer shares: mkdir -p, reading a whole file, and
 * writing one atomically (temp file in the same directory + fsync + rename + fsync of the
 * directory, so a crash leaves the old file or the new one, never a torn one). */
#ifndef FW_CORE_FILES_H
#define FW_CORE_FILES_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* mkdir -p. FW_OK or FW_EIO naming the directory. */
fw_status fw_mkdirs(const char *path, fw_err *err);
/* Whole file into a fw_malloc'd buffer. FW_ENOTFOUND when absent, FW_EIO otherwise. */
fw_status fw_read_file(const char *path, uint8_t **out, size_t *len, fw_err *err);
/* Writes path atomically ("<path>.tmp.<pid>.<n>" first; fw_file_temp_abandoned recognises a
 * leftover of a process that is gone). */
fw_status fw_write_file_atomic(const char *path, const void *data, size_t len, fw_err *err);
/* True when name is a temporary file of fw_write_file_atomic whose writing process is gone. */
bool fw_file_temp_abandoned(const char *name);

#endif
