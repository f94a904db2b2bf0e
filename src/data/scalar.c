/* scalar.c — owns cell-text parsing: the exact fast-path number parser (Clinger), the strtod
 * fallback, ISO 8601 timestamps and missing tokens. */
#include "data/scalar.h"

#include "core/alloc.h"

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

/* Powers of ten exactly representable as doubles (10^0 .. 10^22). */
static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool fw_parse_number(const char *s, size_t len, double *out, bool *is_int) {
    const char *p = s, *end = s + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (p == end) return false;
    const char *start = p;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    uint64_t mant = 0;
    int ndig = 0;        /* significant digits accumulated in mant */
    int exp10 = 0;       /* decimal exponent adjustment */
    bool any = false, frac = false, overflow = false;
    while (p < end && *p == '0') { /* leading zeros are not significant */
        p++;
        any = true;
    }
    while (p < end && (unsigned)(*p - '0') < 10) {
        if (ndig < 19) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            if (mant) ndig++;
        } else {
            overflow = true;
            exp10++;
        }
        p++;
        any = true;
    }
    if (p < end && *p == '.') {
        frac = true;
        p++;
        if (mant == 0)
            while (p < end && *p == '0') {
                p++;
                exp10--;
                any = true;
            }
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant) ndig++;
                exp10--;
            } else {
                overflow = true;
            }
            p++;
            any = true;
        }
    }
    if (!any) return false;
    bool has_exp = false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        has_exp = true;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == end || (unsigned)(*p - '0') >= 10) return false;
        int e = 0;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (e < 100000) e = e * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -e : e;
    }
    if (p != end) return false;
    if (is_int) *is_int = !frac && !has_exp;
    double v;
    if (mant == 0) {
        v = 0.0;
    } else if (!overflow && mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Clinger's fast path: both operands exact, one IEEE operation → correctly rounded. */
        v = (double)mant;
        v = exp10 < 0 ? v / exact_pow10[-exp10] : v * exact_pow10[exp10];
    } else {
        char tmp[128];
        size_t n = (size_t)(end - start);
        char *buf = tmp;
        if (n >= sizeof tmp) {
            buf = fw_malloc(n + 1); /* rare: very long digit strings; freed below */
            if (!buf) return false;
        }
        memcpy(buf, start, n);
        buf[n] = 0;
        v = strtod(buf, NULL);
        if (buf != tmp) fw_free(buf);
        if (isinf(v)) return false;
        *out = v;
        return true;
    }
    *out = neg ? -v : v;
    return true;
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
