/* hashing.c — owns signed feature hashing and the sparse row merge (see hashing.h). */
#include "features/hashing.h"

#include "core/hash.h"

#include <string.h>

#define SEED_SALT 0x666c7977686565ull /* "flywhee" */

uint64_t fw_feature_seed(const char *column) { return fw_hash64(column, strlen(column), SEED_SALT); }

uint64_t fw_feature_hash64(uint64_t seed, const void *p, size_t n) { return fw_hash64(p, n, seed); }

uint32_t fw_feature_hash(uint64_t seed, const void *p, size_t n, uint32_t dim_mask, float *sign) {
    uint64_t h = fw_hash64(p, n, seed);
    *sign = (h >> 63) ? -1.0f : 1.0f;
    return (uint32_t)(h & dim_mask);
}

uint64_t fw_feature_bigram_seed(uint64_t seed, uint64_t h1) {
    return (seed ^ 0x9e3779b97f4a7c15ull) + h1 * 0xff51afd7ed558ccdull;
}

static void sift_down(fw__entry *e, size_t root, size_t n) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && e[child + 1].idx > e[child].idx) child++;
        if (e[child].idx <= e[root].idx) return;
        fw__entry t = e[root];
        e[root] = e[child];
        e[child] = t;
        root = child;
    }
}

size_t fw_sparse_merge(fw__entry *e, size_t n) {
    if (n < 2) return n && e[0].val == 0.0f ? 0 : n;
    size_t i = 1;
    while (i < n && e[i - 1].idx < e[i].idx) i++;
    if (i < n) {
        for (size_t k = n / 2; k-- > 0;) sift_down(e, k, n);
        for (size_t end = n - 1; end > 0; end--) {
            fw__entry t = e[0];
            e[0] = e[end];
            e[end] = t;
            sift_down(e, 0, end);
        }
    }
    size_t out = 0;
    for (size_t k = 0; k < n;) {
        uint32_t idx = e[k].idx;
        float sum = 0;
        while (k < n && e[k].idx == idx) sum += e[k++].val;
        if (sum != 0.0f) {
            e[out].idx = idx;
            e[out].val = sum;
            out++;
        }
    }
    return out;
}
