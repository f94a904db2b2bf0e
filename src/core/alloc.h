/* alloc.h — owns the library's allocation wrappers: every allocation goes through the one hook
 * installed with fw_set_allocator(), bytes in use are counted, and a test build can make the Nth
 * allocation fail (fw_alloc_fail_after) so every error path can be exercised. */
#ifndef FW_CORE_ALLOC_H
#define FW_CORE_ALLOC_H

#include "flywheel.h"

#include <stddef.h>

/* malloc/calloc/realloc/free through the hook. fw_free(NULL) is a no-op. Sizes are tracked in a
 * small header, so fw_free does not need the size. All return NULL on failure (and on size 0). */
void *fw_malloc(size_t n);
void *fw_calloc(size_t count, size_t size);
void *fw_realloc(void *p, size_t n);
void fw_free(void *p);
/* A copy of s (or of its first n bytes, NUL-terminated) allocated with fw_malloc. */
char *fw_strdup(const char *s);
char *fw_strndup(const char *s, size_t n);

/* Test hook: the Nth allocation from now fails (n >= 1); n = 0 disables. Returns nothing.
 * Thread-safe counter; meant for single-threaded fault-injection tests. */
void fw_alloc_fail_after(long n);
/* Number of allocations since the process started (for the fault-injection loop). */
long fw_alloc_count(void);

/* Growth helper: ensures *cap >= need for an array of elem-size items at *pp, doubling.
 * Returns FW_OK or FW_ENOMEM (leaving *pp untouched). */
fw_status fw_grow(void **pp, size_t *cap, size_t need, size_t elem);
#define FW_GROW(pp, capp, need) fw_grow((void **)(pp), (capp), (need), sizeof(**(pp)))

#endif
