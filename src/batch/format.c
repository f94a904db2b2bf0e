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

/* "%.17g" of v when |v| is in [1e-4, 1e15) (fixed notation, every probability a model writes),
 * by exact integer arithmetic: v = m 2^q, the 17 digits are m 10^p / 2^-q rounded half to even,
 * as printf rounds, all within 128 bits (m < 2^53, 10^p <= 10^20). About 10x cheaper than printf.
 * Returns the length, or 0 when v is outside that range (the caller uses printf). */
static size_t fmt17_fixed(double v, char *out) {
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int s = 1075 - (int)(bits >> 52); /* a = m / 2^s, s in [3, 66] here */
    if (s < 1 || s > 120) return 0;
    static const uint64_t p10[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                     100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
                                     1000000000000ull, 10000000000000ull, 100000000000000ull,
                                     1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
                                     1000000000000000000ull, 10000000000000000000ull};
    const unsigned __int128 lo = p10[16], hi = p10[17];
    int e10 = (int)floor(log10(a));
    unsigned __int128 d = 0;
    for (int tries = 0;; tries++) {
        int p = 16 - e10; /* in [2, 20] */
        if (tries > 2 || p < 0 || p > 20) return 0;
        unsigned __int128 pw = p == 20 ? (unsigned __int128)p10[19] * 10u : p10[p];
        unsigned __int128 x = (unsigned __int128)m * pw;
        d = x >> s;
        if (d < lo) {
            e10--;
            continue;
        }
        if (d >= hi) {
            e10++;
            continue;
        }
        unsigned __int128 rem = x - (d << s), half = (unsigned __int128)1 << (s - 1);
        if (rem > half || (rem == half && (d & 1))) d++;
        if (d == hi) { /* 9.99..95 rounded up to 10.0 */
            d = lo;
            e10++;
        }
        break;
    }
    if (e10 < -4 || e10 >= 15) return 0;
    char dig[17];
    for (int i = 16; i >= 0; i--) {
        dig[i] = (char)('0' + (int)(d % 10u));
        d /= 10u;
    }
    int nd = 17;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    size_t n = 0;
    if (v < 0) out[n++] = '-';
    if (e10 >= 0) {
        for (int i = 0; i <= e10; i++) out[n++] = i < nd ? dig[i] : '0';
        if (nd > e10 + 1) {
            out[n++] = '.';
            for (int i = e10 + 1; i < nd; i++) out[n++] = dig[i];
        }
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -e10 - 1; i++) out[n++] = '0';
        for (int i = 0; i < nd; i++) out[n++] = dig[i];
    }
    out[n] = '\0';
    return n;
}

size_t fw__fmt_double(char *out, size_t cap, double v) {
    if (!isfinite(v)) {
        if (cap) out[0] = '\0';
        return 0;
    }
    /* The shortest of "%.15g" and "%.17g" that reads back to v (17 digits always do). Model
     * outputs rarely have a 15-digit form, so "%.17g" comes first and "%.15g" (plus the strtod
     * check) only when may_be_shorter says it can win: the same text as trying 15 first, at
     * about half the cost. */
    char l[40];
    int n = (int)fmt17_fixed(v, l);
    if (!n) n = snprintf(l, sizeof l, "%.17g", v);
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
