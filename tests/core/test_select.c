/* test_select.c — tests for src/core/select.c: every order statistic equals the value a full sort
 * puts at that position, and the array is partitioned around it, for random, sorted, reversed,
 * constant and few-valued inputs (the shapes that break naive quickselects), single and several
 * positions at once; the median imputation and reference quantiles built on it depend on this. */
#include "core/rng.h"
#include "core/select.h"
#include "test.h"

#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { RANDOM, SORTED, REVERSED, CONSTANT, FEW, ORGAN, N_SHAPES };

static void fill(double *v, size_t n, int shape, fw_rng *rng) {
    for (size_t i = 0; i < n; i++) {
        double u = (double)(fw_rng_next(rng) >> 11) * 0x1p-53 - 0.5;
        switch (shape) {
        case RANDOM: v[i] = u * 1e6; break;
        case SORTED: v[i] = (double)i; break;
        case REVERSED: v[i] = -(double)i; break;
        case CONSTANT: v[i] = 3.5; break;
        case FEW: v[i] = (double)(fw_rng_next(rng) % 3) - 1.0; break;
        default: v[i] = (double)(i < n / 2 ? i : n - i); break; /* organ pipe */
        }
    }
}

/* checks v (after selection of ks) against the sorted copy s */
static void check_positions(const double *v, const double *s, size_t n, const size_t *ks, size_t nk) {
    for (size_t j = 0; j < nk; j++) {
        size_t k = ks[j];
        CHECK_MSG(v[k] == s[k], "n=%zu k=%zu: %g != sorted %g", n, k, v[k], s[k]);
        int bad = 0;
        for (size_t i = 0; i < k; i++) bad += v[i] > v[k];
        for (size_t i = k + 1; i < n; i++) bad += v[i] < v[k];
        CHECK_MSG(bad == 0, "n=%zu k=%zu: %d values on the wrong side", n, k, bad);
    }
}

static void test_single_positions(void) {
    fw_rng rng;
    fw_rng_seed(&rng, 7);
    static const size_t sizes[] = {1, 2, 3, 5, 15, 16, 17, 100, 1001, 20000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int shape = 0; shape < N_SHAPES; shape++) {
            size_t n = sizes[si];
            double *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s), *w = malloc(n * sizeof *w);
            fill(v, n, shape, &rng);
            memcpy(s, v, n * sizeof *v);
            qsort(s, n, sizeof *s, cmp);
            size_t ks[] = {0, n / 2, n - 1, n / 3, (n * 9) / 10};
            for (size_t j = 0; j < 5; j++) {
                memcpy(w, v, n * sizeof *v);
                double got = fw_select_double(w, n, ks[j]);
                CHECK_MSG(got == s[ks[j]], "shape %d n=%zu k=%zu", shape, n, ks[j]);
                check_positions(w, s, n, &ks[j], 1);
            }
            free(v);
            free(s);
            free(w);
        }
}

static void test_several_positions(void) {
    fw_rng rng;
    fw_rng_seed(&rng, 11);
    for (int shape = 0; shape < N_SHAPES; shape++)
        for (size_t n = 1; n < 3000; n = n * 3 + 1) {
            double *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
            fill(v, n, shape, &rng);
            memcpy(s, v, n * sizeof *v);
            qsort(s, n, sizeof *s, cmp);
            /* the reference profile's quantile positions: (n-1)*i/bins, duplicates included */
            size_t ks[21];
            for (size_t i = 0; i <= 20; i++) ks[i] = (size_t)((double)(n - 1) * (double)i / 20.0);
            fw_select_doubles(v, n, ks, 21);
            check_positions(v, s, n, ks, 21);
            free(v);
            free(s);
        }
}

/* Large inputs of few distinct values (0/1 flags, a value repeated in most rows): the equal values
 * are set aside at once when a pivot repeats the range's lower bound; checked on every shape with
 * the reference profile's 11 positions. */
static void test_large_duplicates(void) {
    fw_rng rng;
    fw_rng_seed(&rng, 13);
    size_t n = 200001;
    double *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
    for (int shape = 0; shape < 4; shape++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t u = fw_rng_next(&rng);
            v[i] = shape == 0 ? (double)(u & 1)                        /* two values */
                   : shape == 1 ? (u % 100 ? 0.0 : (double)(u % 7))    /* 99% zeros */
                   : shape == 2 ? (u % 100 ? 5.0 : -(double)(u % 7))   /* 99% the maximum */
                                : (double)((u >> 3) % 1000) * 0.25;    /* 1,000 values */
        }
        memcpy(s, v, n * sizeof *v);
        qsort(s, n, sizeof *s, cmp);
        size_t ks[11];
        for (size_t i = 0; i <= 10; i++) ks[i] = (size_t)((double)(n - 1) * (double)i / 10.0);
        fw_select_doubles(v, n, ks, 11);
        check_positions(v, s, n, ks, 11);
    }
    free(v);
    free(s);
}

int main(void) {
    TEST_RUN(test_single_positions);
    TEST_RUN(test_large_duplicates);
    TEST_RUN(test_several_positions);
    return fw_test_report("test_select");
}
