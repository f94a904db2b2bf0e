/* calibration.c — owns the calibration table (uniform bins, as sklearn's calibration_curve with
 * strategy="uniform": bin i holds (i/n, (i+1)/n], bin 0 also holds 0) and the expected calibration
 * error: sum over bins of (count / N) * |mean predicted - fraction positive|. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>

fw_status fw__eval_calibration(const double *y, const double *p, size_t n, size_t bins,
                               fw_metric_set *s) {
    if (bins == 0) bins = 10;
    fw_calib_bin *b = fw_calloc(bins, sizeof *b);
    double *sum_p = fw_calloc(bins, sizeof *sum_p), *sum_y = fw_calloc(bins, sizeof *sum_y);
    if (!b || !sum_p || !sum_y) {
        fw_free(b);
        fw_free(sum_p);
        fw_free(sum_y);
        return FW_ENOMEM;
    }
    double step = 1.0 / (double)bins; /* numpy.linspace computes edges as i * step */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) continue;
        /* searchsorted(edges[1:-1], p, side="left"): first inner edge >= p */
        size_t lo = 0, hi = bins - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if ((double)(mid + 1) * step >= p[i]) hi = mid;
            else lo = mid + 1;
        }
        b[lo].count++;
        sum_p[lo] += p[i];
        sum_y[lo] += y[i];
        m++;
    }
    double ece = 0;
    for (size_t k = 0; k < bins; k++) {
        b[k].lo = (double)k * step;
        b[k].hi = k + 1 == bins ? 1.0 : (double)(k + 1) * step;
        if (b[k].count) {
            b[k].mean_pred = sum_p[k] / (double)b[k].count;
            b[k].frac_pos = sum_y[k] / (double)b[k].count;
            ece += (double)b[k].count / (double)m * fabs(b[k].mean_pred - b[k].frac_pos);
        } else {
            b[k].mean_pred = NAN;
            b[k].frac_pos = NAN;
        }
    }
    fw_free(sum_p);
    fw_free(sum_y);
    fw_free(s->calibration);
    s->calibration = b;
    s->n_calibration = bins;
    return fw_metric_set_put(s, "expected_calibration_error", m ? ece : NAN);
}
