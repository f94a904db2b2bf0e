/* decimal.c — owns decimal text → double (see decimal.h): Clinger's exact fast path and the
 * strtod fallback. */
#include "core/decimal.h"

#include "core/alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const double fw__exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool fw_decimal_parse(const char *s, size_t n, double *out, bool *is_int) {
    const char *p = s, *end = s + n;
    if (p == end) return false;
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
    if (!overflow && fw_decimal_exact(mant, exp10, neg, out)) return true;
    char tmp[128];
    char *buf = tmp;
    if (n >= sizeof tmp) {
        buf = fw_malloc(n + 1); /* rare: very long digit strings; freed below */
        if (!buf) return false;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    double v = strtod(buf, NULL);
    if (buf != tmp) fw_free(buf);
    if (isinf(v)) return false;
    *out = v;
    return true;
}
