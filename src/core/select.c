/* select.c — owns order statistics without a full sort (see select.h). */
#include "core/select.h"

#include <stdbool.h>

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

/* Branch-free Lomuto passes over v[lo..hi] (inclusive): the values below (part_lt) or not above
 * (part_le) the pivot move to the front, in one pass whose only branch is the loop's; returns the
 * first index past them. On random data a comparison branch mispredicts half the time, and that
 * made the Hoare scheme this replaces ~2.5x slower. */
static size_t part_lt(double *v, size_t lo, size_t hi, double pivot) {
    size_t i = lo;
    for (size_t j = lo; j <= hi; j++) {
        double x = v[j];
        v[j] = v[i];
        v[i] = x;
        i += x < pivot;
    }
    return i;
}

static size_t part_le(double *v, size_t lo, size_t hi, double pivot) {
    size_t i = lo;
    for (size_t j = lo; j <= hi; j++) {
        double x = v[j];
        v[j] = v[i];
        v[i] = x;
        i += x <= pivot;
    }
    return i;
}

static double median3(double a, double b, double c) {
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    return c < a ? a : c > b ? b : c;
}

/* Places the order statistics ks[0..nk) of v[lo..hi]. has_lb: every value of the range is >= lb
 * (the pivot that put it on the right). A pivot equal to that bound means many equal values:
 * they all go left at once (part_le), so a column of a few distinct values costs a few passes. */
static void select_range(double *v, size_t lo, size_t hi, const size_t *ks, size_t nk, int depth, bool has_lb,
                         double lb) {
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
        size_t mid = lo + (hi - lo) / 2, q = (hi - lo) / 4;
        double pivot = hi - lo >= 1024 ? median3(median3(v[lo], v[lo + 1], v[lo + 2]), median3(v[mid - q], v[mid], v[mid + q]),
                                                 median3(v[hi - 2], v[hi - 1], v[hi]))
                                       : median3(v[lo], v[mid], v[hi]);
        depth--;
        if (has_lb && !(lb < pivot)) {
            /* [lo, a) all equal the pivot (>= lb == pivot, <= pivot): positions there are placed */
            size_t a = part_le(v, lo, hi, pivot);
            while (nk && ks[0] < a) ks++, nk--;
            lo = a;
            continue;
        }
        /* [lo, a) < pivot <= [a, hi]; the pivot's own value is on the right, so a <= hi */
        size_t a = part_lt(v, lo, hi, pivot);
        size_t nl = 0;
        while (nl < nk && ks[nl] < a) nl++;
        if (nl) select_range(v, lo, a - 1, ks, nl, depth, has_lb, lb);
        ks += nl;
        nk -= nl;
        lo = a;
        has_lb = true;
        lb = pivot;
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
    select_range(v, 0, n - 1, ks, nk, depth_limit(n), false, 0);
}

double fw_select_double(double *v, size_t n, size_t k) {
    fw_select_doubles(v, n, &k, 1);
    return v[k];
}
