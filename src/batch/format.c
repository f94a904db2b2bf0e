/* format.c — owns the text forms of batch output cells: shortest round-trip doubles, CSV fields
 * (RFC 4180 quoting) and JSON string literals. */
#include "batch/batch_int.h"

#include <float.h>
#include <math.h>
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
