/* calib_cache.h — owns the process-wide cache of drift-detector calibrations (issue 17's lazy
 * monitor): the chi-square threshold of a detector (detector.c, a deterministic simulation of ~1.4 ms
 * per column) depends only on the reference's pooled cell counts, the window and the settings, so
 * versions of a model retrained on the same data, or the same artifact imported under several
 * names, calibrate once. Keys are the exact bytes of those inputs (compared in full, not by hash
 * alone); values are a few doubles. Bounded: at most FW_CALIB_CACHE_MAX entries, then new results
 * are simply not kept. Thread-safe (one mutex; a lookup is a hash and a memcmp). */
#ifndef FW_MONITOR_CALIB_CACHE_H
#define FW_MONITOR_CALIB_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_CALIB_CACHE_MAX 4096
#define FW_CALIB_CACHE_VALUES 8

/* Copies the n_val (<= FW_CALIB_CACHE_VALUES) values stored under key into val; false when absent. */
bool fw_calib_cache_get(const void *key, size_t len, double *val, size_t n_val);
/* Stores n_val values under key (a copy); a key already there keeps its first values. */
void fw_calib_cache_put(const void *key, size_t len, const double *val, size_t n_val);
/* Entries held and lookups answered from the cache since the process started (for tests). */
void fw_calib_cache_stats(size_t *entries, uint64_t *hits);

#endif
