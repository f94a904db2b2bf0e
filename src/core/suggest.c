/* suggest.c — owns "did you mean" (see suggest.h). */
#include "core/suggest.h"

#include <ctype.h>
#include <string.h>

size_t fw_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *fw_suggest(const char *s, const char *const *candidates, size_t n) {
    const char *best = NULL;
    size_t bd = 99;
    for (size_t i = 0; i < n; i++) {
        if (!candidates[i]) continue;
        size_t d = fw_edit_distance(s, candidates[i]);
        if (d < bd) {
            bd = d;
            best = candidates[i];
        }
    }
    size_t len = strlen(s);
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return bd <= limit ? best : NULL;
}
