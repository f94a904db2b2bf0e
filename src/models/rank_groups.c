/* rank_groups.c — owns query grouping and training-time NDCG@k for the ranking objectives. See
 * rank_groups.h. */
#include "models/rank_groups.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

fw_status fw_rank_groups_make(const uint32_t *query, size_t n, fw_rank_groups *g) {
    memset(g, 0, sizeof *g);
    if (!query || n == 0 || n > UINT32_MAX) return FW_EINVAL;
    uint32_t max_q = 0;
    for (size_t i = 0; i < n; i++)
        if (query[i] > max_q) max_q = query[i];
    if (max_q == UINT32_MAX) return FW_EINVAL;
    /* counting sort by query id, then renumber the non-empty queries densely */
    uint32_t *cnt = fw_calloc((size_t)max_q + 2, sizeof *cnt);
    g->rows = fw_malloc(n * sizeof *g->rows);
    if (!cnt || !g->rows) {
        fw_free(cnt);
        fw_free(g->rows);
        g->rows = NULL;
        return FW_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) cnt[query[i] + 1]++;
    uint32_t ng = 0;
    for (size_t q = 1; q <= (size_t)max_q + 1; q++) ng += cnt[q] > 0;
    g->start = fw_malloc(((size_t)ng + 1) * sizeof *g->start);
    if (!g->start) {
        fw_free(cnt);
        fw_free(g->rows);
        g->rows = NULL;
        return FW_ENOMEM;
    }
    uint32_t gi = 0;
    for (size_t q = 1; q <= (size_t)max_q + 1; q++) {
        if (cnt[q] > 0) {
            if (cnt[q] > g->max_size) g->max_size = cnt[q];
            g->start[gi + 1] = cnt[q];
            gi++;
        }
        cnt[q] += cnt[q - 1];
    }
    g->start[0] = 0;
    for (uint32_t i = 0; i < ng; i++) g->start[i + 1] += g->start[i];
    for (size_t i = 0; i < n; i++) g->rows[cnt[query[i]]++] = (uint32_t)i;
    fw_free(cnt);
    g->n_rows = n;
    g->n_groups = ng;
    return FW_OK;
}

void fw_rank_groups_free(fw_rank_groups *g) {
    if (!g) return;
    fw_free(g->start);
    fw_free(g->rows);
    memset(g, 0, sizeof *g);
}

/* merge sort (stable, no qsort context needed): descending key, ties by row ascending */
static void msort(uint32_t *a, uint32_t *tmp, size_t m, const double *key, size_t stride) {
    if (m < 2) return;
    if (m <= 16) {
        for (size_t i = 1; i < m; i++) {
            uint32_t x = a[i];
            double kx = key[(size_t)x * stride];
            size_t j = i;
            while (j > 0) {
                double kj = key[(size_t)a[j - 1] * stride];
                if (kj > kx || (kj == kx && a[j - 1] < x)) break;
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    size_t h = m / 2;
    msort(a, tmp, h, key, stride);
    msort(a + h, tmp, m - h, key, stride);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < m) {
        double ki = key[(size_t)a[i] * stride], kj = key[(size_t)a[j] * stride];
        if (ki > kj || (ki == kj && a[i] < a[j])) tmp[o++] = a[i++];
        else tmp[o++] = a[j++];
    }
    while (i < h) tmp[o++] = a[i++];
    while (j < m) tmp[o++] = a[j++];
    memcpy(a, tmp, m * sizeof *a);
}

void fw_rank_sort_desc(uint32_t *idx, size_t m, const double *key, size_t stride) {
    uint32_t small[64];
    uint32_t *tmp = m <= 64 ? small : fw_malloc(m * sizeof *tmp);
    if (!tmp) { /* out of memory: insertion sort, same order */
        for (size_t i = 1; i < m; i++) {
            uint32_t x = idx[i];
            double kx = key[(size_t)x * stride];
            size_t j = i;
            while (j > 0 && !(key[(size_t)idx[j - 1] * stride] > kx ||
                              (key[(size_t)idx[j - 1] * stride] == kx && idx[j - 1] < x))) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = x;
        }
        return;
    }
    msort(idx, tmp, m, key, stride);
    if (tmp != small) fw_free(tmp);
}

size_t fw_rank_ndcg_scratch_bytes(const fw_rank_groups *g) {
    return (size_t)g->max_size * (2 * sizeof(uint32_t) + sizeof(double)) + 16;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

double fw_rank_ndcg(const fw_rank_groups *g, const double *y, const double *s, size_t stride,
                    size_t k, void *scratch) {
    if (g->n_groups == 0) return 0;
    uint32_t *idx = scratch;
    double *rel = (double *)(void *)((char *)scratch + (((size_t)g->max_size * 2 * sizeof(uint32_t) + 15) & ~(size_t)15));
    double sum = 0;
    for (uint32_t q = 0; q < g->n_groups; q++) {
        size_t b = g->start[q], m = g->start[q + 1] - b;
        size_t kk = k && k < m ? k : m;
        memcpy(idx, g->rows + b, m * sizeof *idx);
        for (size_t i = 0; i < m; i++) rel[i] = y[idx[i]];
        qsort(rel, m, sizeof *rel, cmp_desc);
        double ideal = 0;
        for (size_t i = 0; i < kk; i++) ideal += rel[i] / log2((double)i + 2);
        if (!(ideal > 0)) {
            sum += 1;
            continue;
        }
        fw_rank_sort_desc(idx, m, s, stride);
        double dcg = 0;
        for (size_t i = 0; i < kk; i++) dcg += y[idx[i]] / log2((double)i + 2);
        sum += dcg / ideal;
    }
    return sum / g->n_groups;
}
