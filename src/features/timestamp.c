/* timestamp.c — owns timestamp columns (seconds since the Unix epoch, UTC): up to five dense
 * features, in this order:
 *   <name>_hour (0-23), <name>_dow (0 = Monday .. 6), <name>_month (1-12),
 *   <name>_doy (day of the year, 1-366),
 *   <name>_age_days = (reference - t) / 86400, the reference being the latest training timestamp,
 * stored at fit time so serving computes the same age as training did. A part with one value in
 * every training row (the hour of a date without a time) is left out: it carries nothing
 * (ts_parts records the parts kept; pipelines saved before it have hour, dow, month, age_days). A missing timestamp takes
 * the median training timestamp (with an optional "<name>_missing" indicator). Values are not
 * scaled. Records may give a number (epoch seconds) or an ISO 8601 string:
 * YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]. */
#include "features/pipeline_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

fw_status fw__timestamp_fit(fw__col *c, double *vals, size_t n, fw_err *err) {
    (void)err;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(vals[i])) vals[k++] = vals[i];
    qsort(vals, k, sizeof(double), cmp_double);
    c->fill = !k ? 0 : (k % 2) ? vals[k / 2] : 0.5 * (vals[k / 2 - 1] + vals[k / 2]);
    c->ref = k ? vals[k - 1] : 0;
    /* keep the parts that vary over the training rows */
    c->ts_parts = FW__TS_LEGACY | FW__TS_DOY;
    float first[5], d[6];
    uint8_t varies = 0;
    for (size_t i = 0; i < k; i++) {
        fw__timestamp_apply(c, vals[i], d);
        for (int j = 0; j < 5; j++) {
            if (i == 0) first[j] = d[j];
            else if (d[j] != first[j]) varies |= (uint8_t)(1u << j);
        }
    }
    static const uint8_t order[5] = {FW__TS_HOUR, FW__TS_DOW, FW__TS_MONTH, FW__TS_DOY, FW__TS_AGE};
    uint8_t keep = 0;
    for (int j = 0; j < 5; j++)
        if (varies & (1u << j)) keep |= order[j];
    c->ts_parts = keep ? keep : FW__TS_AGE; /* one time for all rows: age alone, like any constant */
    return FW_OK;
}

uint32_t fw__timestamp_n_parts(uint8_t parts) {
    uint32_t n = 0;
    for (int b = 0; b < 5; b++) n += (parts >> b) & 1u;
    return n;
}

const char *fw__timestamp_part_name(uint8_t parts, uint32_t k) {
    static const uint8_t order[5] = {FW__TS_HOUR, FW__TS_DOW, FW__TS_MONTH, FW__TS_DOY, FW__TS_AGE};
    static const char *const names[5] = {"_hour", "_dow", "_month", "_doy", "_age_days"};
    for (int j = 0; j < 5; j++)
        if (parts & order[j]) {
            if (k == 0) return names[j];
            k--;
        }
    return NULL;
}

/* Days since 1970-01-01 → civil date (proleptic Gregorian). */
static void civil_from_days(int64_t z, int *month, int64_t *year) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

static int64_t days_from_civil(int64_t y, int m, int d);

static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fw__timestamp_apply(const fw__col *c, double t, float *dense) {
    bool missing = isnan(t);
    if (missing) t = c->fill;
    double days = floor(t / 86400.0);
    double sod = t - days * 86400.0;
    int month = 1;
    int64_t year = 1970;
    int64_t di = (days > -1e12 && days < 1e12) ? (int64_t)days : 0;
    civil_from_days(di, &month, &year);
    int64_t dow = ((di % 7) + 7 + 3) % 7; /* 1970-01-01 was a Thursday (3 when Monday is 0) */
    size_t k = 0;
    if (c->ts_parts & FW__TS_HOUR) dense[k++] = (float)floor(sod / 3600.0);
    if (c->ts_parts & FW__TS_DOW) dense[k++] = (float)dow;
    if (c->ts_parts & FW__TS_MONTH) dense[k++] = (float)month;
    if (c->ts_parts & FW__TS_DOY) dense[k++] = (float)(di - days_from_civil(year, 1, 1) + 1);
    if (c->ts_parts & FW__TS_AGE) dense[k++] = (float)((c->ref - t) / 86400.0);
    if (c->missing_indicator) dense[k] = missing ? 1.0f : 0.0f;
}

static bool digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses an ISO 8601 date-time into epoch seconds. */
static bool parse_iso(const char *s, size_t n, double *out) {
    int y, mo, d, h = 0, mi = 0, sec = 0;
    double frac = 0;
    if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    size_t i = 10;
    if (i < n && (s[i] == 'T' || s[i] == ' ')) {
        if (n < i + 6 || !digits(s + i + 1, 2, &h) || s[i + 3] != ':' || !digits(s + i + 4, 2, &mi))
            return false;
        i += 6;
        if (i < n && s[i] == ':') {
            if (n < i + 3 || !digits(s + i + 1, 2, &sec)) return false;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                double scale = 0.1;
                i++;
                size_t b = i;
                while (i < n && s[i] >= '0' && s[i] <= '9') frac += (s[i++] - '0') * scale, scale /= 10;
                if (i == b) return false;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return false;
    }
    int offset = 0;
    if (i < n && s[i] == 'Z') i++;
    else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om = 0, sign = s[i] == '-' ? -1 : 1;
        if (n < i + 3 || !digits(s + i + 1, 2, &oh)) return false;
        i += 3;
        if (i < n && s[i] == ':') i++;
        if (i + 2 <= n) {
            if (!digits(s + i, 2, &om)) return false;
            i += 2;
        }
        offset = sign * (oh * 3600 + om * 60);
    }
    if (i != n) return false;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600 + mi * 60 + sec + frac - offset;
    return true;
}

fw_status fw__value_time(const fw__col *c, const fw_value *v, double *out, fw_err *err) {
    if (v->kind == FW_VALUE_NUMBER) {
        *out = v->num;
        return FW_OK;
    }
    if (v->kind != FW_VALUE_STRING || v->len == 0) {
        *out = NAN;
        return FW_OK;
    }
    if (parse_iso(v->str, v->len, out)) return FW_OK;
    fw_status st = fw__value_num(c, v, out, NULL);
    if (!st) return FW_OK;
    return fw_err_set(err, FW_ESCHEMA, "field '%s': expected a timestamp (ISO 8601 or epoch seconds), got '%.*s'",
                      c->name, (int)(v->len > 40 ? 40 : v->len), v->str);
}
