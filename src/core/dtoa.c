/* dtoa.c — owns the shortest round-trip text of a double (see dtoa.h): the exact integer fast path and
 * the printf + strtod fallback. */
#include "core/dtoa.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static const uint64_t P10[18] = {1ull,
                                 10ull,
                                 100ull,
                                 1000ull,
                                 10000ull,
                                 100000ull,
                                 1000000ull,
                                 10000000ull,
                                 100000000ull,
                                 1000000000ull,
                                 10000000000ull,
                                 100000000000ull,
                                 1000000000000ull,
                                 10000000000000ull,
                                 100000000000000ull,
                                 1000000000000000ull,
                                 10000000000000000ull,
                                 100000000000000000ull};

/* 5^k for k in [0, 32] (5^27 is the largest that fits 64 bits). */
static u128 pow5(int k) {
    static const uint64_t p5[28] = {
        1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull, 78125ull, 390625ull, 1953125ull,
        9765625ull, 48828125ull, 244140625ull, 1220703125ull, 6103515625ull, 30517578125ull,
        152587890625ull, 762939453125ull, 3814697265625ull, 19073486328125ull, 95367431640625ull,
        476837158203125ull, 2384185791015625ull, 11920928955078125ull, 59604644775390625ull,
        298023223876953125ull, 1490116119384765625ull, 7450580596923828125ull};
    return k <= 27 ? (u128)p5[k] : (u128)p5[27] * p5[k - 27];
}

/* For a = m 2^e (m the 53-bit significand of a normal double): a 10^k = A / 2^s with A = m 5^k and
 * s = -(e + k). Sets *fl to its floor, *d to its rounding half to even (as printf rounds) and *back
 * to whether the decimal d 10^-k reads back to a (as strtod reads: within half an ulp, a tie going
 * to the even significand; the gap below a power of two is half as wide). In units of 2^-s the
 * distance is |d 2^s - A| and half an ulp is 5^k / 2. False when the numbers do not fit 128 bits
 * (the caller falls back to printf). */
static bool scale(uint64_t m, int e, int k, uint64_t *fl, uint64_t *d, bool *back) {
    int s = -(e + k);
    if (k < 0 || k > 32 || s <= 0 || s > 125) return false;
    u128 p5 = pow5(k), a = (u128)m * p5; /* m < 2^53, 5^32 < 2^75 */
    u128 q = a >> s;
    if (q >> 62) return false;
    u128 rem = a - (q << s), half = (u128)1 << (s - 1);
    bool up = rem > half || (rem == half && (q & 1));
    *fl = (uint64_t)q;
    *d = (uint64_t)q + up;
    u128 dist = up ? ((u128)1 << s) - rem : rem;
    bool narrow = m == (1ull << 52) && !up && rem != 0; /* below a power of two */
    u128 twice = narrow ? dist << 2 : dist << 1;
    *back = twice < p5 || (twice == p5 && !(m & 1));
    return true;
}

/* Writes the P digits of d with decimal exponent x as printf's %.{P}g does (trailing zeros
 * dropped), then a NUL. */
static size_t put_g(char *out, bool neg, uint64_t d, int P, int x) {
    static const char two[201] = "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
                                 "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    char dig[17];
    int left = P;
    for (; left >= 2; left -= 2) { /* two digits per division */
        uint64_t q = d / 100u;
        unsigned r = (unsigned)(d - q * 100u);
        dig[left - 2] = two[2 * r];
        dig[left - 1] = two[2 * r + 1];
        d = q;
    }
    if (left == 1) dig[0] = (char)('0' + (int)d);
    int nd = P;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (x < -4 || x >= P) {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100) *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++) *o++ = i < nd ? dig[i] : '0';
        if (nd > x + 1) {
            *o++ = '.';
            memcpy(o, dig + x + 1, (size_t)(nd - x - 1));
            o += nd - x - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        memcpy(o, dig, (size_t)nd);
        o += nd;
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* The fast path for 1e-16 <= |v| < 1e15; 0 when it cannot decide (the caller uses printf). */
static size_t fast(double v, char *out) {
    double a = fabs(v);
    if (!(a >= 1e-16 && a < 1e15)) return 0;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int be = (int)(bits >> 52);
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int e = be - 1075; /* a = m 2^e */
    /* x = floor(log10 a): estimated from the binary exponent (off by at most one), then made exact
     * by the 17-digit floor, which lies in [1e16, 1e17) exactly when 10^x <= a < 10^(x+1) */
    int x = (int)floor((double)(be - 1023) * 0.30102999566398120);
    uint64_t fl, d17 = 0, d;
    bool back;
    for (int tries = 0;; tries++) {
        if (tries > 3 || !scale(m, e, 16 - x, &fl, &d17, &back)) return 0;
        if (fl < P10[16]) x--;
        else if (fl >= P10[17]) x++;
        else break;
    }
    /* A shorter form C reads back only within half an ulp: |C 10^(17-P) - d17| < d17 / 2m + 1/2
     * in units of the 17th digit. When d17 is farther than that from every multiple of 10^(17-P),
     * skip the exact check (most computed values: it saves one or two 128-bit products). */
    double reach = (double)d17 / (double)m * 0.5 + 1.0;
    for (int P = 15; P < 17; P++) { /* 15, then 16 digits, the first that reads back */
        uint64_t unit = P == 15 ? 100 : 10, r = d17 % unit, near = r < unit - r ? r : unit - r;
        if ((double)near > reach) continue;
        if (!scale(m, e, P - 1 - x, &fl, &d, &back)) return 0;
        if (!back) continue;
        if (d == P10[P]) return put_g(out, v < 0, P10[P - 1], P, x + 1); /* rounded up a decade */
        return put_g(out, v < 0, d, P, x);
    }
    if (d17 == P10[17]) return put_g(out, v < 0, P10[16], 17, x + 1);
    return put_g(out, v < 0, d17, 17, x);
}

size_t fw_dtoa(double v, char out[FW_DTOA_MAX]) {
    if (isnan(v)) {
        memcpy(out, "nan", 4);
        return 3;
    }
    if (isinf(v)) {
        if (v < 0) {
            memcpy(out, "-inf", 5);
            return 4;
        }
        memcpy(out, "inf", 4);
        return 3;
    }
    if (v == 0) {
        if (signbit(v)) {
            memcpy(out, "-0", 3);
            return 2;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    size_t n = fast(v, out);
    if (n) return n;
    int k = 0;
    for (int prec = 15; prec <= 17; prec++) {
        k = snprintf(out, FW_DTOA_MAX, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v) break;
    }
    return k > 0 ? (size_t)k : 0;
}

size_t fw_num_format(double v, char out[FW_NUMFMT_MAX]) { return fw_dtoa(v == 0 ? 0.0 : v, out); }
