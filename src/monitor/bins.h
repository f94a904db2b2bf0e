/* bins.h — owns the per-value search of the monitor's hot path: which quantile bin a number falls
 * in, as the count of a column's sorted inner bin edges at or below it. One function, inline, so
 * the monitor's per-column loop (monitor.c) and the detector's fw_detector_slot_num (detector.c)
 * share it without a call per value. */
#ifndef FW_MONITOR_BINS_H
#define FW_MONITOR_BINS_H

#include <stdint.h>

/* The number of e[0..n) that are <= x, for e sorted ascending (no NaN) and x not NaN: the same
 * figure as counting every edge, found in ceil(log2(n)) halvings that compile to conditional moves
 * (no branch to mispredict on random values; a linear count of 10-30 edges costs 3-4 instructions
 * per edge). Callers check the order once (fw_bins_sorted) and count linearly otherwise. */
static inline uint32_t fw_bins_count_le(const double *e, uint32_t n, double x) {
    if (!n) return 0;
    const double *base = e;
    while (n > 1) { /* the first edge > x lies in [base, base + n] */
        uint32_t half = n / 2;
        base = base[half] <= x ? base + half : base;
        n -= half;
    }
    return (uint32_t)(base - e) + (*base <= x);
}

/* The largest k the unrolled search takes: 2^k = 1,024 edges. */
enum { FW_BINS_MAX_LOG2 = 10 };

/* The same count for e[0..2^k) padded: the sorted edges, then NaN up to 2^k entries (NaN <= x is
 * false for every x, so the pads are never counted), k <= FW_BINS_MAX_LOG2: k fixed steps of one
 * comparison and one conditional add each, no loop counter (a column's k is the same at every
 * row: its jump into the steps is predicted). */
static inline uint32_t fw_bins_count_pow2(const double *e, uint32_t k, double x) {
    const double *b = e;
    switch (k) {
    case 10: b += b[512] <= x ? 512 : 0; /* fall through */
    case 9: b += b[256] <= x ? 256 : 0; /* fall through */
    case 8: b += b[128] <= x ? 128 : 0; /* fall through */
    case 7: b += b[64] <= x ? 64 : 0; /* fall through */
    case 6: b += b[32] <= x ? 32 : 0; /* fall through */
    case 5: b += b[16] <= x ? 16 : 0; /* fall through */
    case 4: b += b[8] <= x ? 8 : 0; /* fall through */
    case 3: b += b[4] <= x ? 4 : 0; /* fall through */
    case 2: b += b[2] <= x ? 2 : 0; /* fall through */
    case 1: b += b[1] <= x ? 1 : 0; /* fall through */
    default: break;
    }
    return (uint32_t)(b - e) + (b[0] <= x);
}

/* The k of fw_bins_count_pow2 for n edges: the smallest with 2^k >= n (k = 0 for n <= 1: one entry,
 * a NaN pad when n is 0). */
static inline uint32_t fw_bins_log2(uint32_t n) {
    uint32_t k = 0;
    while ((1u << k) < n) k++;
    return k;
}

/* True when e[0..n) is ascending (non-decreasing) and holds no NaN. */
static inline int fw_bins_sorted(const double *e, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        if (!(e[i - 1] <= e[i])) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (e[i] != e[i]) return 0;
    return 1;
}

#endif
