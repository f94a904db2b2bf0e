/* numeric.c — owns numeric columns: imputation (mean / median / constant / none, statistics from
 * training rows only), the optional missing indicator, and scaling:
 *   standard: (x - mean) / std, population std of the imputed training values (std 0 → 1);
 *   minmax:   (x - min) / (max - min) over the imputed training values (range 0 → 1), not clipped;
 *   log1p:    sign(x) * log1p(|x|), so negative values stay finite and keep their order;
 *   quantile: the number of fitted bin edges <= x divided by the number of edges, in [0, 1]; edges
 *             are the training quantiles k/bins (k = 1..bins-1, lower order statistic), deduplicated.
 * Defaults (project.h DEFAULT): impute median, scale standard — trees do not care about scale, and
 * linear/knn models need it, so one default serves every family.
 * With impute none a missing value stays NaN after scaling (only trees should see that). */
#include "features/pipeline_int.h"

#include "core/alloc.h"
#include "core/select.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

fw_status fw__numeric_fit(fw__col *c, const fw_feature_spec *f, double *vals, size_t n, fw_err *err) {
    c->impute = f->impute == FW_IMPUTE_DEFAULT ? FW_IMPUTE_MEDIAN : (uint8_t)f->impute;
    c->scale = f->scale == FW_SCALE_DEFAULT ? FW_SCALE_STANDARD : (uint8_t)f->scale;
    c->missing_indicator = f->missing_indicator;
    /* statistics of the present values */
    double *sorted = fw_malloc((n ? n : 1) * sizeof(double));
    if (!sorted) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t k = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(vals[i])) {
            sorted[k++] = vals[i];
            sum += vals[i];
        }
    switch (c->impute) {
    case FW_IMPUTE_MEAN: c->fill = k ? sum / (double)k : 0; break;
    case FW_IMPUTE_MEDIAN:
        /* the middle order statistics (a selection, not a sort: 50 columns of 500k rows took
         * 1.5 CPU-s to sort), the values a sort would put there */
        if (!k) {
            c->fill = 0;
        } else {
            double hi = fw_select_double(sorted, k, k / 2);
            if (k % 2) {
                c->fill = hi;
            } else {
                double lo = sorted[0]; /* the largest of sorted[0 .. k/2), all <= hi */
                for (size_t i = 1; i < k / 2; i++)
                    if (sorted[i] > lo) lo = sorted[i];
                c->fill = 0.5 * (lo + hi);
            }
        }
        break;
    case FW_IMPUTE_CONSTANT: c->fill = f->impute_value; break;
    default: c->fill = NAN; break;
    }
    /* scaling statistics over the imputed values (the present ones when impute is none) */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double v = isnan(vals[i]) ? c->fill : vals[i];
        if (!isnan(v)) vals[m++] = v;
    }
    c->center = 0;
    c->div = 1;
    if (c->scale == FW_SCALE_STANDARD && m) {
        double mean = 0;
        for (size_t i = 0; i < m; i++) mean += vals[i];
        mean /= (double)m;
        double ss = 0;
        for (size_t i = 0; i < m; i++) ss += (vals[i] - mean) * (vals[i] - mean);
        double sd = sqrt(ss / (double)m);
        c->center = mean;
        c->div = sd > 0 ? sd : 1;
    } else if (c->scale == FW_SCALE_MINMAX && m) {
        double lo = vals[0], hi = vals[0];
        for (size_t i = 1; i < m; i++) {
            if (vals[i] < lo) lo = vals[i];
            if (vals[i] > hi) hi = vals[i];
        }
        c->center = lo;
        c->div = hi > lo ? hi - lo : 1;
    } else if (c->scale == FW_SCALE_QUANTILE && m) {
        qsort(vals, m, sizeof(double), cmp_double);
        uint32_t bins = f->quantile_bins >= 2 ? f->quantile_bins : 10;
        c->edges = fw_malloc(bins * sizeof(double));
        if (!c->edges) {
            fw_free(sorted);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        c->n_edges = 0;
        for (uint32_t q = 1; q < bins; q++) {
            double e = vals[(size_t)((double)q * (double)m / (double)bins)];
            if (!c->n_edges || e > c->edges[c->n_edges - 1]) c->edges[c->n_edges++] = e;
        }
    }
    fw_free(sorted);
    return FW_OK;
}

void fw__numeric_apply(const fw__col *c, double x, float *dense) {
    bool missing = isnan(x);
    double v = missing ? c->fill : x;
    switch (c->scale) {
    case FW_SCALE_STANDARD:
    case FW_SCALE_MINMAX: v = (v - c->center) / c->div; break;
    case FW_SCALE_LOG1P: v = v < 0 ? -log1p(-v) : log1p(v); break;
    case FW_SCALE_QUANTILE:
        if (!isnan(v)) {
            uint32_t lo = 0, hi = c->n_edges; /* count of edges <= v */
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (c->edges[mid] <= v) lo = mid + 1;
                else hi = mid;
            }
            v = c->n_edges ? (double)lo / (double)c->n_edges : 0;
        }
        break;
    default: break;
    }
    dense[0] = (float)v;
    if (c->missing_indicator) dense[1] = missing ? 1.0f : 0.0f;
}

static bool missing_word(const char *s, size_t n) {
    static const char *const words[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strlen(words[i]) == n && !memcmp(words[i], s, n)) return true;
    return false;
}

fw_status fw__value_num(const fw__col *c, const fw_value *v, double *out, fw_err *err) {
    switch (v->kind) {
    case FW_VALUE_NUMBER: *out = isfinite(v->num) ? v->num : NAN; return FW_OK; /* inf → missing */
    case FW_VALUE_STRING: {
        const char *s = v->str;
        size_t n = v->len;
        while (n && (*s == ' ' || *s == '\t')) s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        if (missing_word(s, n)) {
            *out = NAN;
            return FW_OK;
        }
        char buf[64];
        if (n < sizeof buf) {
            memcpy(buf, s, n);
            buf[n] = 0;
            char *end;
            errno = 0;
            double x = strtod(buf, &end);
            if (end != buf && !*end && errno != ERANGE && isfinite(x)) {
                *out = x;
                return FW_OK;
            }
        }
        return fw_err_set(err, FW_ESCHEMA, "field '%s': expected a number, got '%.*s'", c->name,
                          (int)(v->len > 40 ? 40 : v->len), v->str);
    }
    default: *out = NAN; return FW_OK;
    }
}
