/* select.c — owns --top-fraction: given every row's score (a side file of (score, length) pairs
 * written while scoring) and the spooled output rows, keeps the ceil(fraction x n) highest-scoring
 * rows, ties broken by input order, and emits them in input order. Memory: the pairs (16 bytes per
 * row) plus a sorted copy of the scores (8 bytes per row) — the one part of batch that grows with
 * the input; the rows themselves are streamed from the spool. */
#include "batch/batch_int.h"

#include "core/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double key(double s) { return isnan(s) ? -INFINITY : s; }

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

fw_status fw__select_top(const char *scores_path, const char *spool_path, double fraction,
                         fw__emit_fn emit, void *ud, uint64_t *kept, size_t *mem_bytes,
                         fw_err *err) {
    *kept = 0;
    *mem_bytes = 0;
    FILE *fs = fopen(scores_path, "rb");
    if (!fs) return fw_err_set(err, FW_EIO, "%s: %s", scores_path, strerror(errno));
    fseek(fs, 0, SEEK_END);
    long sz = ftell(fs);
    fseek(fs, 0, SEEK_SET);
    size_t n = sz > 0 ? (size_t)sz / sizeof(fw__score_rec) : 0;
    fw__score_rec *recs = fw_malloc(n ? n * sizeof *recs : 1);
    double *sorted = fw_malloc(n ? n * sizeof *sorted : 1);
    FILE *sp = NULL;
    uint8_t *row = NULL;
    size_t row_cap = 0;
    fw_status st = FW_OK;
    if (!recs || !sorted) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory selecting the top rows of %zu", n);
        goto done;
    }
    *mem_bytes = n * (sizeof *recs + sizeof *sorted);
    if (n && fread(recs, sizeof *recs, n, fs) != n) {
        st = fw_err_set(err, FW_EIO, "%s: short read", scores_path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) sorted[i] = key(recs[i].score);
    qsort(sorted, n, sizeof *sorted, cmp_desc);
    size_t k = (size_t)ceil(fraction * (double)n - 1e-9);
    if (k > n) k = n;
    if (k == 0 && n > 0 && fraction > 0) k = 1;
    double thr = k ? sorted[k - 1] : INFINITY;
    size_t greater = 0;
    for (size_t i = 0; i < k; i++) greater += sorted[i] > thr;
    size_t ties_left = k - greater;
    sp = fopen(spool_path, "rb");
    if (!sp) {
        st = fw_err_set(err, FW_EIO, "%s: %s", spool_path, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        double s = key(recs[i].score);
        bool take = s > thr || (s == thr && ties_left > 0);
        if (take && s == thr) ties_left--;
        size_t len = (size_t)recs[i].len;
        if (!take) {
            if (fseeko(sp, (off_t)len, SEEK_CUR) != 0) {
                st = fw_err_set(err, FW_EIO, "%s: seek failed", spool_path);
                goto done;
            }
            continue;
        }
        if (len > row_cap) {
            uint8_t *nr = fw_realloc(row, len);
            if (!nr) {
                st = fw_err_set(err, FW_ENOMEM, "out of memory");
                goto done;
            }
            row = nr;
            row_cap = len;
        }
        if (len && fread(row, 1, len, sp) != len) {
            st = fw_err_set(err, FW_EIO, "%s: short read (spool and scores disagree)", spool_path);
            goto done;
        }
        if ((st = emit(ud, row, len, err)) != FW_OK) goto done;
        (*kept)++;
    }
done:
    if (sp) fclose(sp);
    fclose(fs);
    fw_free(recs);
    fw_free(sorted);
    fw_free(row);
    return st;
}
