/* scalar.c — owns cell-text parsing: numbers (core/decimal.h after trimming spaces and tabs),
 * ISO 8601 timestamps and missing tokens. */
#include "data/scalar.h"

#include "core/alloc.h"
#include "core/decimal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Non-finite numbers are missing values too: a model cannot use them, and reading them as text would
 * turn a numeric column into a categorical one. */
const char *const fw_default_missing[] = {"",     "NA",   "NaN",  "null", "?",    "N/A",  "nan",
                                          "NAN",  "-nan", "inf",  "-inf", "+inf", "Inf",  "-Inf",
                                          "+Inf", "INF",  "-INF", "+INF", "Infinity", "-Infinity",
                                          "+Infinity"};
const size_t fw_default_n_missing = sizeof fw_default_missing / sizeof fw_default_missing[0];

bool fw_is_missing(const char *s, size_t len, const char *const *tokens, size_t n) {
    if (len == 0) return true;
    for (size_t i = 0; i < n; i++) {
        const char *t = tokens[i];
        if (t[0] == s[0] && strlen(t) == len && memcmp(t, s, len) == 0) return true;
    }
    return false;
}

bool fw_parse_number(const char *s, size_t len, double *out, bool *is_int) {
    const char *p = s, *end = s + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    return fw_decimal_parse(p, (size_t)(end - p), out, is_int);
}

static int digits(const char *p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((unsigned)(p[i] - '0') >= 10) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

bool fw_parse_timestamp(const char *s, size_t len, double *out) {
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    if (len < 10 || s[4] != '-' || s[7] != '-') return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return false;
    double secs = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400.0;
    size_t i = 10;
    if (i == len) {
        *out = secs;
        return true;
    }
    if (s[i] != 'T' && s[i] != ' ') return false;
    i++;
    if (len - i < 5 || s[i + 2] != ':') return false;
    int hh = digits(s + i, 2), mm = digits(s + i + 3, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return false;
    i += 5;
    double sec = 0;
    if (i < len && s[i] == ':') {
        if (len - i < 3) return false;
        int ss = digits(s + i + 1, 2);
        if (ss < 0 || ss > 60) return false;
        sec = ss;
        i += 3;
        if (i < len && (s[i] == '.' || s[i] == ',')) {
            i++;
            double scale = 0.1;
            size_t f0 = i;
            while (i < len && (unsigned)(s[i] - '0') < 10) {
                sec += (s[i] - '0') * scale;
                scale *= 0.1;
                i++;
            }
            if (i == f0) return false;
        }
    }
    secs += hh * 3600.0 + mm * 60.0 + sec;
    if (i < len) {
        if (s[i] == 'Z' && i + 1 == len) {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int sign = s[i] == '-' ? -1 : 1;
            i++;
            int oh, om;
            if (len - i == 5 && s[i + 2] == ':') {
                oh = digits(s + i, 2);
                om = digits(s + i + 3, 2);
            } else if (len - i == 4) {
                oh = digits(s + i, 2);
                om = digits(s + i + 2, 2);
            } else if (len - i == 2) {
                oh = digits(s + i, 2);
                om = 0;
            } else {
                return false;
            }
            if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
            secs -= sign * (oh * 3600.0 + om * 60.0);
            i = len;
        } else {
            return false;
        }
    }
    if (i != len) return false;
    *out = secs;
    return true;
}
