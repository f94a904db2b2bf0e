/* format.c — owns the text forms of batch output cells: shortest round-trip doubles, CSV fields
 * (RFC 4180 quoting) and JSON string literals. */
#include "batch/batch_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fw__fmt_double(char *out, size_t cap, double v) {
    if (!isfinite(v)) {
        if (cap) out[0] = '\0';
        return 0;
    }
    int n = snprintf(out, cap, "%.15g", v);
    if (strtod(out, NULL) != v) n = snprintf(out, cap, "%.17g", v);
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
