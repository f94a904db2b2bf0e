/* buf.c — owns the little-endian growable buffer and the bounds-checked reader. */
#include "core/buf.h"

#include "core/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fw_buf_init(fw_buf *b) { memset(b, 0, sizeof *b); }

void fw_buf_free(fw_buf *b) {
    fw_free(b->data);
    memset(b, 0, sizeof *b);
}

static bool reserve(fw_buf *b, size_t n) {
    if (b->oom) return false;
    if (n <= b->cap - b->len) return true; /* room already: no call (the reply path puts ~100 pieces) */
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return false;
    }
    if (FW_GROW(&b->data, &b->cap, b->len + n) != FW_OK) {
        b->oom = true;
        return false;
    }
    return true;
}

void fw_buf_put(fw_buf *b, const void *p, size_t n) {
    if (n == 0 || !reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void fw_buf_pad(fw_buf *b, size_t align) {
    if (align <= 1) return;
    size_t r = b->len % align;
    if (r == 0) return;
    size_t n = align - r;
    if (!reserve(b, n)) return;
    memset(b->data + b->len, 0, n);
    b->len += n;
}

void fw_buf_put_u8(fw_buf *b, uint8_t v) { fw_buf_put(b, &v, 1); }

void fw_buf_put_u32(fw_buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fw_buf_put(b, x, 4);
}

void fw_buf_put_u64(fw_buf *b, uint64_t v) {
    fw_buf_put_u32(b, (uint32_t)v);
    fw_buf_put_u32(b, (uint32_t)(v >> 32));
}

void fw_buf_put_i32(fw_buf *b, int32_t v) { fw_buf_put_u32(b, (uint32_t)v); }
void fw_buf_put_i64(fw_buf *b, int64_t v) { fw_buf_put_u64(b, (uint64_t)v); }

void fw_buf_put_f32(fw_buf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    fw_buf_put_u32(b, u);
}

void fw_buf_put_f64(fw_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    fw_buf_put_u64(b, u);
}

void fw_buf_put_strn(fw_buf *b, const char *s, size_t n) {
    if (!s) {
        fw_buf_put_u32(b, 0xFFFFFFFFu);
        return;
    }
    if (n >= 0xFFFFFFFFu) {
        b->oom = true;
        return;
    }
    fw_buf_put_u32(b, (uint32_t)n);
    fw_buf_put(b, s, n);
}

void fw_buf_put_str(fw_buf *b, const char *s) { fw_buf_put_strn(b, s, s ? strlen(s) : 0); }

/* Host is checked to be little-endian at build time (see Makefile); arrays are copied as is. */
void fw_buf_put_f32s(fw_buf *b, const float *v, size_t n) { fw_buf_put(b, v, n * sizeof *v); }
void fw_buf_put_f64s(fw_buf *b, const double *v, size_t n) { fw_buf_put(b, v, n * sizeof *v); }
void fw_buf_put_u32s(fw_buf *b, const uint32_t *v, size_t n) { fw_buf_put(b, v, n * sizeof *v); }

void fw_buf_printf(fw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

uint8_t *fw_buf_take(fw_buf *b, size_t *len) {
    uint8_t *d = b->data;
    if (len) *len = b->len;
    fw_buf_init(b);
    return d;
}

void fw_reader_init(fw_reader *r, const void *p, size_t len) {
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->bad = false;
}

const uint8_t *fw_reader_get(fw_reader *r, size_t n) {
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

void fw_reader_align(fw_reader *r, size_t align) {
    if (align <= 1 || r->bad) return;
    size_t rem = r->pos % align;
    if (rem) fw_reader_get(r, align - rem);
}

uint8_t fw_reader_u8(fw_reader *r) {
    const uint8_t *p = fw_reader_get(r, 1);
    return p ? p[0] : 0;
}

uint32_t fw_reader_u32(fw_reader *r) {
    const uint8_t *p = fw_reader_get(r, 4);
    if (!p) return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fw_reader_u64(fw_reader *r) {
    uint64_t lo = fw_reader_u32(r);
    uint64_t hi = fw_reader_u32(r);
    return lo | hi << 32;
}

int32_t fw_reader_i32(fw_reader *r) { return (int32_t)fw_reader_u32(r); }
int64_t fw_reader_i64(fw_reader *r) { return (int64_t)fw_reader_u64(r); }

float fw_reader_f32(fw_reader *r) {
    uint32_t u = fw_reader_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double fw_reader_f64(fw_reader *r) {
    uint64_t u = fw_reader_u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

bool fw_reader_str(fw_reader *r, char **out) {
    *out = NULL;
    uint32_t n = fw_reader_u32(r);
    if (r->bad) return false;
    if (n == 0xFFFFFFFFu) return true;
    const uint8_t *p = fw_reader_get(r, n);
    if (!p) return false;
    *out = fw_strndup((const char *)p, n);
    return *out != NULL;
}

static bool read_arr(fw_reader *r, void *dst, size_t n, size_t elem) {
    if (n && elem > SIZE_MAX / n) {
        r->bad = true;
        return false;
    }
    const uint8_t *p = fw_reader_get(r, n * elem);
    if (!p) return false;
    if (n) memcpy(dst, p, n * elem);
    return true;
}

bool fw_reader_f32s(fw_reader *r, float *dst, size_t n) { return read_arr(r, dst, n, 4); }
bool fw_reader_f64s(fw_reader *r, double *dst, size_t n) { return read_arr(r, dst, n, 8); }
bool fw_reader_u32s(fw_reader *r, uint32_t *dst, size_t n) { return read_arr(r, dst, n, 4); }
