/* regression.c — owns the regression metrics as sklearn defines them: mse, rmse (its square
 * root), mae, r2 (a constant y gives 1.0 for a perfect fit, else 0.0: force_finite), mape
 * (mean of |y - p| / max(|y|, DBL_EPSILON), a fraction, not a percent) and
 * median_absolute_error (the mean of the two middle values for an even count). */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <float.h>
#include <math.h>

fw_status fw__eval_regression(const double *y, const double *p, size_t n, fw_metric_set *s,
                              fw_err *err) {
    (void)err;
    double *ae = fw_malloc(n * sizeof *ae);
    if (!ae) return FW_ENOMEM;
    double se = 0, sae = 0, sape = 0, mean = 0;
    for (size_t i = 0; i < n; i++) mean += y[i];
    mean /= (double)n;
    double ss_tot = 0;
    for (size_t i = 0; i < n; i++) {
        double d = y[i] - p[i];
        se += d * d;
        ae[i] = fabs(d);
        sae += ae[i];
        double ay = fabs(y[i]);
        sape += ae[i] / (ay > DBL_EPSILON ? ay : DBL_EPSILON);
        ss_tot += (y[i] - mean) * (y[i] - mean);
    }
    fw__sort_doubles(ae, n);
    double med = n % 2 ? ae[n / 2] : (ae[n / 2 - 1] + ae[n / 2]) / 2;
    fw_free(ae);
    double mse = se / (double)n;
    double r2 = ss_tot != 0 ? 1 - se / ss_tot : (se == 0 ? 1.0 : 0.0);
    fw_status st = fw_metric_set_put(s, "rmse", sqrt(mse));
    if (!st) st = fw_metric_set_put(s, "mse", mse);
    if (!st) st = fw_metric_set_put(s, "mae", sae / (double)n);
    if (!st) st = fw_metric_set_put(s, "r2", r2);
    if (!st) st = fw_metric_set_put(s, "mape", sape / (double)n);
    if (!st) st = fw_metric_set_put(s, "median_absolute_error", med);
    return st;
}
