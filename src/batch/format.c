/* format.c — owns the text forms of batch output cells: shortest round-trip doubles, CSV fields
 * (RFC 4180 quoting) and JSON string literals. */
#include "batch/batch_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when "%.15g" may read back to the value printed as s = "%.17g": either the 17 digits end
 * in zeros (%g dropped them), or their last two digits are rounding noise around a 15-digit
 * decimal (a 15-digit form that reads back is within half an ulp of a normal double, i.e. within
 * about 11 units of the 17th digit: the last two digits are then 00..12 or 88..99). */
static bool may_be_shorter(const char *s) {
    int d[17], n = 0;
    for (const char *p = s; *p && *p != 'e' && *p != 'E'; p++)
        if (*p >= '0' && *p <= '9') {
            if (n == 0 && *p == '0') continue; /* leading zeros of 0.00ddd */
            if (n < 17) d[n++] = *p - '0';
        }
    if (n <= 15) return true;
    int last = d[15] * 10 + (n == 17 ? d[16] : 0);
    return last <= 15 || last >= 85;
}

static const uint64_t P10[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                 100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                 1000000000000ull, 10000000000000ull, 100000000000000ull,
                                 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                                 1000000000000000000ull, 10000000000000000000ull};

static unsigned __int128 pow10_128(int p) { return p == 20 ? (unsigned __int128)P10[19] * 10u : P10[p]; }

/* x / 2^s rounded half to even (s >= 1). */
static unsigned __int128 round_shift(unsigned __int128 x, int s) {
    unsigned __int128 d = x >> s, rem = x - (d << s), half = (unsigned __int128)1 << (s - 1);
    if (rem > half || (rem == half && (d & 1))) d++;
    return d;
}

/* Writes the n significant digits of d (no more than 17) with decimal exponent e10 as %g does in
 * fixed notation (-4 <= e10 < precision): trailing zeros dropped. Returns the length. */
static size_t put_fixed(char *out, bool neg, uint64_t d, int n, int e10) {
    char dig[17];
    for (int i = n - 1; i >= 0; i--) {
        dig[i] = (char)('0' + (int)(d % 10u));
        d /= 10u;
    }
    int nd = n;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (e10 >= 0) {
        for (int i = 0; i <= e10; i++) out[k++] = i < nd ? dig[i] : '0';
        if (nd > e10 + 1) {
            out[k++] = '.';
            for (int i = e10 + 1; i < nd; i++) out[k++] = dig[i];
        }
    } else {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -e10 - 1; i++) out[k++] = '0';
        for (int i = 0; i < nd; i++) out[k++] = dig[i];
    }
    out[k] = '\0';
    return k;
}

/* The shortest of %.15g / %.17g for |v| in [1e-4, 1e15) (fixed notation: every probability a
 * model writes) by exact integer arithmetic, about 10x cheaper than printf + strtod: v = m / 2^s,
 * the n-digit form is m 10^p / 2^s rounded half to even (as printf rounds), all within 128 bits
 * (m < 2^53, 10^p <= 10^20), and the 15-digit form C reads back to v (as strtod would) when it
 * lies within half an ulp: 2 |m 10^p - C 2^s| < 10^p (a quarter below a power of two; a tie
 * goes to the even m). Returns the length, or 0 outside that range (the caller uses printf). */
static size_t fmt_fast(double v, char *out) {
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - (int)(bits >> 52); /* a = m / 2^s, s in [3, 66] here */
    if (s < 3 || s > 66) return 0; /* (C 2^s below must fit in 128 bits) */
    int e10 = (int)floor(log10(a));
    unsigned __int128 x = 0, d = 0;
    int p = 0;
    for (int tries = 0;; tries++) {
        p = 16 - e10; /* 17 digits: v 10^p in [1e16, 1e17) */
        if (tries > 2 || p < 2 || p > 20) return 0;
        x = (unsigned __int128)m * pow10_128(p);
        d = x >> s;
        if (d < P10[16]) e10--;
        else if (d >= P10[17]) e10++;
        else break;
    }
    if (e10 < -4 || e10 >= 15) return 0;
    /* 15 digits first, kept when it reads back */
    unsigned __int128 x15 = (unsigned __int128)m * pow10_128(p - 2), d15 = round_shift(x15, s);
    if (d15 >= P10[14] && d15 < P10[15]) {
        unsigned __int128 c = d15 * 100u << s, dist = c > x ? c - x : x - c, lim = pow10_128(p);
        bool below_pow2 = m == (1ull << 52) && c < x; /* the next double down is half an ulp nearer */
        unsigned __int128 twice = below_pow2 ? dist * 4u : dist * 2u;
        if (twice < lim || (twice == lim && !(m & 1) && !below_pow2)) return put_fixed(out, v < 0, (uint64_t)d15, 15, e10);
    }
    d = round_shift(x, s);
    if (d >= P10[17]) return 0; /* 9.99..95 rounds up a decade: rare, printf does it */
    return put_fixed(out, v < 0, (uint64_t)d, 17, e10);
}

size_t fw__fmt_double(char *out, size_t cap, double v) {
    if (!isfinite(v)) {
        if (cap) out[0] = '\0';
        return 0;
    }
    /* The shortest of "%.15g" and "%.17g" that reads back to v (17 digits always do): by integer
     * arithmetic in the common range (fmt_fast), else by printf — "%.17g" first and "%.15g" (plus
     * the strtod check) only when may_be_shorter says it can win: the same text as trying 15
     * first, at about half the cost. */
    char l[40];
    size_t fast = fmt_fast(v, l);
    if (fast) {
        size_t c = cap ? (fast < cap - 1 ? fast : cap - 1) : 0;
        if (cap) {
            memcpy(out, l, c);
            out[c] = '\0';
        }
        return c;
    }
    int n = snprintf(l, sizeof l, "%.17g", v);
    if (fabs(v) < DBL_MIN || may_be_shorter(l)) { /* subnormals have fewer bits: always try */
        char s[40];
        int k = snprintf(s, sizeof s, "%.15g", v);
        if (k > 0 && strtod(s, NULL) == v) {
            n = snprintf(out, cap, "%s", s);
            return n < 0 ? 0 : (size_t)n;
        }
    }
    n = snprintf(out, cap, "%s", l);
    return n < 0 ? 0 : (size_t)n;
}
void fw__csv_put(fw_buf *b, const char *s, size_t n) {
    bool quote = false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') {
            quote = true;
            break;
        }
    if (!quote) {
        fw_buf_put(b, s, n);
        return;
    }
    fw_buf_put_u8(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            fw_buf_put(b, s + start, i + 1 - start);
            fw_buf_put_u8(b, '"');
            start = i + 1;
        }
    fw_buf_put(b, s + start, n - start);
    fw_buf_put_u8(b, '"');
}

void fw__json_put(fw_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    fw_buf_put_u8(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        fw_buf_put(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': fw_buf_put(b, "\\\"", 2); break;
        case '\\': fw_buf_put(b, "\\\\", 2); break;
        case '\n': fw_buf_put(b, "\\n", 2); break;
        case '\r': fw_buf_put(b, "\\r", 2); break;
        case '\t': fw_buf_put(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fw_buf_put(b, u, 6);
        }
        }
    }
    fw_buf_put(b, s + start, n - start);
    fw_buf_put_u8(b, '"');
}
