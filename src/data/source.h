/* source.h — owns byte-stream input for the readers: a file (transparently gunzipped when its first
 * bytes are the gzip magic, whatever its name), or a caller's memory buffer (the primary path: the
 * fuzzers and tests use it). Reads are buffered in large blocks; I/O and decompression errors name
 * the file.
 *
 * Example:
 *   fw_source *src;
 *   if (fw_source_open("data.csv.gz", &src, &err) < 0) ...;
 *   char buf[65536]; size_t got;
 *   while (fw_source_read(src, buf, sizeof buf, &got, &err) == FW_OK && got > 0) ...;
 *   fw_source_close(src);
 */
#ifndef FW_DATA_SOURCE_H
#define FW_DATA_SOURCE_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_source fw_source;

/* Opens path for reading ("-" is stdin). Gzip is detected by magic bytes (1f 8b), so a gzipped
 * file without ".gz" also works and a plain file named ".gz" is read as is. Returns FW_OK, or
 * FW_EIO / FW_ENOTFOUND with err naming the file. Free with fw_source_close. */
fw_status fw_source_open(const char *path, fw_source **out, fw_err *err);

/* Reads from data[0..len) (not copied: it must outlive the source). Gzip magic is honoured here
 * too. `name` labels messages (NULL → "<memory>"). Returns FW_OK or FW_ENOMEM. */
fw_status fw_source_open_mem(const void *data, size_t len, const char *name, fw_source **out,
                             fw_err *err);

/* Reads up to cap bytes into buf; *got = 0 means end of stream. Returns FW_OK, or FW_EIO /
 * FW_ECORRUPT (truncated or corrupt gzip) with err naming the file. Not thread-safe per source. */
fw_status fw_source_read(fw_source *s, void *buf, size_t cap, size_t *got, fw_err *err);

/* Reads until buf holds cap bytes or the stream ends (fewer bytes only at the end). */
fw_status fw_source_read_full(fw_source *s, void *buf, size_t cap, size_t *got, fw_err *err);

/* For a gzip stream: inflates on a thread of its own from now on, up to 16 MiB ahead of the reads,
 * so decompression overlaps the caller's parsing (same bytes, same errors, each after the bytes
 * before it). No-op for a plain stream; FW_OK, or FW_ENOMEM. Call before the first read, or
 * between reads. */
fw_status fw_source_readahead(fw_source *s);

/* Moves a plain file or memory source to byte offset off (the next read starts there): range
 * loads (fw_load_opts.range_begin). FW_EINVAL for a gzip stream or a file that cannot seek. */
fw_status fw_source_seek(fw_source *s, uint64_t off, fw_err *err);

/* The name given at open (the path); never NULL; valid until close. */
const char *fw_source_name(const fw_source *s);
/* True when the stream is being gunzipped. */
bool fw_source_is_gzip(const fw_source *s);
/* Expected number of bytes the stream yields, when known: the size of a plain file or buffer; for
 * a gzip file the size its trailer records (a hint: exact for one member under 4 GiB); else 0. */
size_t fw_source_size_hint(const fw_source *s);

/* Closes the file (when opened by path) and frees s. NULL is a no-op. */
void fw_source_close(fw_source *s);

#endif
