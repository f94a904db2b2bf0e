/* numfmt.c — owns the server's number text (see numfmt.h): %.17g by exact 128-bit integer
 * arithmetic and the exact short-decimal reader (Clinger's fast path). */
#include "serve/numfmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

/* round-half-even(m * 10^k * 2^e) into *d and its floor into *fl, for k in [0, 32]; false when it
 * does not fit the method */
static bool scaled(uint64_t m, int e, int k, uint64_t *d, uint64_t *fl) {
    u128 a = m;
    for (int i = 0; i < k; i++) a *= 5; /* m < 2^53, 5^32 < 2^75 */
    int sh = e + k;
    if (sh >= 0) {
        if (sh >= 64 || (a >> (127 - sh)) != 0) return false;
        a <<= sh;
        if (a >> 64) return false;
        *d = *fl = (uint64_t)a;
        return true;
    }
    int s = -sh;
    if (s >= 127) return false;
    u128 q = a >> s, rem = a & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
    if (q >> 64) return false;
    *fl = (uint64_t)q;
    if (rem > half || (rem == half && (q & 1))) q++;
    if (q >> 64) return false;
    *d = (uint64_t)q;
    return true;
}

size_t fw__fmt_g17(double v, char out[32]) {
    char *o = out;
    if (v == 0) {
        if (signbit(v)) *o++ = '-';
        *o++ = '0';
        return (size_t)(o - out);
    }
    double a = fabs(v);
    if (!(a >= 1e-16 && a < 1e17)) return (size_t)snprintf(out, 32, "%.17g", v);
    int e2;
    double fr = frexp(a, &e2);
    uint64_t m = (uint64_t)ldexp(fr, 53);
    int e = e2 - 53;
    int x = (int)floor(log10(a));
    uint64_t d = 0, fl = 0;
    const uint64_t lo = 10000000000000000ull, hi = 100000000000000000ull; /* 1e16, 1e17 */
    bool ok = false, up = false;
    for (int tries = 0; tries < 4; tries++) {
        int k = 16 - x;
        if (k < 0 || k > 32 || !scaled(m, e, k, &d, &fl)) break;
        if (d >= hi) { /* 17 digits rounded up to 18: one exponent up (%e's rule) */
            x++;
            up = true;
        } else if (fl < lo && !(up && d == lo)) {
            x--; /* the exact value has fewer than 17 integer digits */
        } else {
            ok = true;
            break;
        }
    }
    if (!ok) return (size_t)snprintf(out, 32, "%.17g", v);
    char dig[17];
    for (int i = 16; i >= 0; i--) {
        dig[i] = (char)('0' + d % 10);
        d /= 10;
    }
    int last = 16; /* last significant digit after stripping trailing zeros */
    while (last > 0 && dig[last] == '0') last--;
    if (signbit(v)) *o++ = '-';
    if (x < -4 || x >= 17) {
        *o++ = dig[0];
        if (last > 0) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)last);
            o += last;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        memcpy(o, dig, (size_t)x + 1);
        o += x + 1;
        if (last > x) {
            *o++ = '.';
            memcpy(o, dig + x + 1, (size_t)(last - x));
            o += last - x;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        memcpy(o, dig, (size_t)last + 1);
        o += last + 1;
    }
    return (size_t)(o - out);
}

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool fw__parse_short_decimal(const char *s, size_t n, double *out) {
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    uint64_t w = 0;
    int sig = 0, e10 = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (w == 0 && *p == '0') continue;
        if (++sig > 15) return false;
        w = w * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            e10--;
            if (w == 0 && *p == '0') continue;
            if (++sig > 15) return false;
            w = w * 10 + (uint64_t)(*p - '0');
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        int x = 0, nd = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++nd > 4) return false;
            x = x * 10 + (*p - '0');
        }
        e10 += eneg ? -x : x;
    }
    if (p != end) return false;
    double v;
    if (w == 0) v = 0;
    else if (e10 < -22 || e10 > 22) return false;
    else v = e10 < 0 ? (double)w / POW10[-e10] : (double)w * POW10[e10];
    *out = neg ? -v : v;
    return true;
}
