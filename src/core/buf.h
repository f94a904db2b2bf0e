/* buf.h — owns the growable byte buffer and the bounds-checked reader used by every serializer
 * (pipeline, models, artifact). All multi-byte values are little-endian, fixed width, so the bytes
 * are the same on every machine: the basis of byte-identical artifacts. */
#ifndef FW_CORE_BUF_H
#define FW_CORE_BUF_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool oom; /* set once an append failed; later appends are no-ops; check with fw_buf_ok() */
} fw_buf;

void fw_buf_init(fw_buf *b);
void fw_buf_free(fw_buf *b);
static inline bool fw_buf_ok(const fw_buf *b) { return !b->oom; }
/* Appends raw bytes / zero padding up to a multiple of `align` (measured from the buffer start). */
void fw_buf_put(fw_buf *b, const void *p, size_t n);
void fw_buf_pad(fw_buf *b, size_t align);
void fw_buf_put_u8(fw_buf *b, uint8_t v);
void fw_buf_put_u32(fw_buf *b, uint32_t v);
void fw_buf_put_u64(fw_buf *b, uint64_t v);
void fw_buf_put_i32(fw_buf *b, int32_t v);
void fw_buf_put_i64(fw_buf *b, int64_t v);
void fw_buf_put_f32(fw_buf *b, float v);
void fw_buf_put_f64(fw_buf *b, double v);
/* A string as u32 length + bytes (no NUL). NULL is written as length 0xFFFFFFFF. */
void fw_buf_put_str(fw_buf *b, const char *s);
void fw_buf_put_strn(fw_buf *b, const char *s, size_t n);
/* Arrays: raw little-endian element data (no length prefix). */
void fw_buf_put_f32s(fw_buf *b, const float *v, size_t n);
void fw_buf_put_f64s(fw_buf *b, const double *v, size_t n);
void fw_buf_put_u32s(fw_buf *b, const uint32_t *v, size_t n);
/* printf-style append (text; no NUL kept in len). */
void fw_buf_printf(fw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (fw_free them) and resets the buffer. */
uint8_t *fw_buf_take(fw_buf *b, size_t *len);

/* Bounds-checked reader. Any read past the end sets `bad` and returns zero values; check once
 * at the end with fw_reader_ok(). Never reads out of bounds, whatever the input. */
typedef struct fw_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool bad;
} fw_reader;

void fw_reader_init(fw_reader *r, const void *p, size_t len);
static inline bool fw_reader_ok(const fw_reader *r) { return !r->bad; }
static inline size_t fw_reader_left(const fw_reader *r) { return r->bad ? 0 : r->len - r->pos; }
const uint8_t *fw_reader_get(fw_reader *r, size_t n); /* pointer to n bytes, or NULL */
void fw_reader_align(fw_reader *r, size_t align);
uint8_t fw_reader_u8(fw_reader *r);
uint32_t fw_reader_u32(fw_reader *r);
uint64_t fw_reader_u64(fw_reader *r);
int32_t fw_reader_i32(fw_reader *r);
int64_t fw_reader_i64(fw_reader *r);
float fw_reader_f32(fw_reader *r);
double fw_reader_f64(fw_reader *r);
/* Reads a string written by fw_buf_put_str into a new fw_malloc'd NUL-terminated copy (*out),
 * or NULL for a NULL string. Returns false on a bad read or out of memory. */
bool fw_reader_str(fw_reader *r, char **out);
/* Copies n elements into dst (which must hold n). Returns false on a short read. */
bool fw_reader_f32s(fw_reader *r, float *dst, size_t n);
bool fw_reader_f64s(fw_reader *r, double *dst, size_t n);
bool fw_reader_u32s(fw_reader *r, uint32_t *dst, size_t n);

#endif
