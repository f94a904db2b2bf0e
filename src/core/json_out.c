/* json_out.c — owns hand-written JSON string literals and numbers (see json_out.h). */
#include "core/json_out.h"

#include "core/dtoa.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) whose lead byte is >= 0x80, or 0 when it is not
 * one (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], min;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0xFFu >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* 1 for the bytes that pass unchanged: ASCII from 0x20 except quote and backslash. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

void fw_json_put_strn(fw_buf *out, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    fw_buf_put_u8(out, '"');
    size_t start = 0; /* s[start..i) is pending output that needs no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (plain[c]) continue;
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l) {
                i += l - 1;
                continue;
            }
        }
        fw_buf_put(out, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': fw_buf_put(out, "\\\"", 2); break;
        case '\\': fw_buf_put(out, "\\\\", 2); break;
        case '\n': fw_buf_put(out, "\\n", 2); break;
        case '\r': fw_buf_put(out, "\\r", 2); break;
        case '\t': fw_buf_put(out, "\\t", 2); break;
        default:
            if (c >= 0x80) {
                fw_buf_put(out, "\\ufffd", 6);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                fw_buf_put(out, u, 6);
            }
        }
    }
    fw_buf_put(out, s + start, n - start);
    fw_buf_put_u8(out, '"');
}

void fw_json_put_str(fw_buf *out, const char *s) {
    if (!s) fw_buf_put(out, "null", 4);
    else fw_json_put_strn(out, s, strlen(s));
}

void fw_json_put_f64(fw_buf *out, double v) {
    if (!isfinite(v)) {
        fw_buf_put(out, "null", 4);
        return;
    }
    char tmp[FW_DTOA_MAX];
    fw_buf_put(out, tmp, fw_dtoa(v, tmp));
}
