/* suggest.h — owns "did you mean": the nearest name to a misspelling by edit distance, used for
 * unknown keys, enum values and column names. Pure, thread-safe, never allocates. */
#ifndef FW_CORE_SUGGEST_H
#define FW_CORE_SUGGEST_H

#include <stddef.h>

/* Case-insensitive Levenshtein distance (strings longer than 64 bytes count as very far). */
size_t fw_edit_distance(const char *a, const char *b);
/* The candidate nearest to s when it is close enough to be a typo (distance <= 1 for short names,
 * 2 up to 6 characters, 3 beyond), else NULL. candidates[i] may be NULL (skipped). */
const char *fw_suggest(const char *s, const char *const *candidates, size_t n);

#endif
