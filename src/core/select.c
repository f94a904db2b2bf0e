/* select.c — owns order statistics without a full sort (see select.h). */
#include "core/select.h"

static void swap(double *a, double *b) {
    double t = *a;
    *a = *b;
    *b = t;
}

static void sift(double *v, size_t n, size_t i) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && v[c + 1] > v[c]) c++;
        if (!(v[c] > v[i])) return;
        swap(&v[c], &v[i]);
        i = c;
    }
}

static void heap_sort(double *v, size_t n) {
    for (size_t i = n / 2; i-- > 0;) sift(v, n, i);
    for (size_t e = n; e-- > 1;) {
        swap(&v[0], &v[e]);
        sift(v, e, 0);
    }
}

/* Partitions v[lo..hi] (inclusive, hi - lo >= 2) around a median-of-three pivot (Hoare scheme);
 * returns p with v[lo..p] <= pivot <= v[p+1..hi] and, on the left, v[p] the left part's maximum
 * only when the caller sorts further. */
static size_t partition(double *v, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < v[lo]) swap(&v[mid], &v[lo]);
    if (v[hi] < v[lo]) swap(&v[hi], &v[lo]);
    if (v[hi] < v[mid]) swap(&v[hi], &v[mid]);
    double pivot = v[mid];
    size_t i = lo - 1, j = hi + 1;
    for (;;) {
        do i++; while (v[i] < pivot);
        do j--; while (v[j] > pivot);
        if (i >= j) return j;
        swap(&v[i], &v[j]);
    }
}

/* Places the order statistics ks[0..nk) of v[lo..hi]. */
static void select_range(double *v, size_t lo, size_t hi, const size_t *ks, size_t nk, int depth) {
    while (nk && hi > lo) {
        if (hi - lo < 16 || depth <= 0) { /* small or degenerate: sort the range */
            if (hi - lo < 16) {
                for (size_t i = lo + 1; i <= hi; i++) {
                    double x = v[i];
                    size_t j = i;
                    for (; j > lo && v[j - 1] > x; j--) v[j] = v[j - 1];
                    v[j] = x;
                }
            } else {
                heap_sort(v + lo, hi - lo + 1);
            }
            return;
        }
        size_t p = partition(v, lo, hi);
        depth--;
        /* ks below or at p go left, the rest right */
        size_t nl = 0;
        while (nl < nk && ks[nl] <= p) nl++;
        if (nl && nl < nk) {
            select_range(v, lo, p, ks, nl, depth);
            lo = p + 1;
            ks += nl;
            nk -= nl;
        } else if (nl) {
            hi = p;
        } else {
            lo = p + 1;
        }
    }
}

static int depth_limit(size_t n) {
    int d = 0;
    while (n > 1) {
        n >>= 1;
        d++;
    }
    return 2 * d + 8;
}

void fw_select_doubles(double *v, size_t n, const size_t *ks, size_t nk) {
    if (n < 2 || !nk) return;
    select_range(v, 0, n - 1, ks, nk, depth_limit(n));
}

double fw_select_double(double *v, size_t n, size_t k) {
    fw_select_doubles(v, n, &k, 1);
    return v[k];
}
