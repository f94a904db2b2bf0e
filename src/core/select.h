/* select.h — owns order statistics of double arrays without a full sort: the k-th smallest value
 * (quickselect, branch-free Lomuto passes with equal values set aside at once, median-of-three (ninther) pivots, a heap-sort fallback past a depth limit so the worst case
 * stays O(n log n)) and several order statistics at once. The values must not be NaN. The results
 * are the values a full sort would put at those positions, so callers stay bit-identical. */
#ifndef FW_CORE_SELECT_H
#define FW_CORE_SELECT_H

#include <stddef.h>

/* Reorders v[0..n) so that v[k] is the value a sort would put there, every v[i] <= v[k] for i < k
 * and every v[i] >= v[k] for i > k; returns v[k]. k < n. */
double fw_select_double(double *v, size_t n, size_t k);

/* The same for each position ks[0..nk) (ascending, < n) at once: afterwards each v[ks[j]] is the
 * value a sort would put there, and v is partitioned around every one of them. */
void fw_select_doubles(double *v, size_t n, const size_t *ks, size_t nk);

#endif
