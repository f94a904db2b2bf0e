/* artifact.c — owns the .fwm container: writing typed metadata and aligned sections, and verifying
 * and indexing a file held in memory. Layout and compatibility policy: docs/FORMAT.md. */
#include "artifact/artifact.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/json_out.h"
#include "core/test_hooks.h" /* FW_TEST_COUNT: built twice */

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header field offsets (format version 1). Only magic and version are promised to stay put. */
enum {
    H_MAGIC = 0,
    H_VERSION = 4,
    H_FLAGS = 8,
    H_HEADER_SIZE = 12,
    H_FILE_SIZE = 16,
    H_N_KV = 24,
    H_N_SECTIONS = 28,
    H_KV_OFFSET = 32,
    H_KV_SIZE = 40,
    H_TABLE_OFFSET = 48,
    H_ALIGN = 56,
    TABLE_ENTRY_SIZE = 64,
};
#define MAX_KV 4096u
#define MAX_SECTIONS 1024u

static const char *const section_names[] = {
    NULL, "pipeline", "target", "model", "baseline", "rule", "reference", "metrics", "params", "run",
};

const char *fw_section_name(uint32_t id) {
    if (id > 0 && id < sizeof section_names / sizeof *section_names) return section_names[id];
    return "unknown";
}

/* ---- writer -------------------------------------------------------------------------------- */
typedef struct kv_entry {
    char *key;
    fw_kv_type type;
    int64_t i64;
    double f64;
    uint8_t *bytes; /* STR (NUL-terminated copy) and BYTES */
    size_t n;
} kv_entry;

typedef struct sec_entry {
    uint32_t id;
    uint8_t *data;
    size_t n;
} sec_entry;

struct fw_artifact_writer {
    kv_entry *kv;
    size_t n_kv, cap_kv;
    sec_entry *sec;
    size_t n_sec, cap_sec;
    fw_status failed; /* first error, reported by finish */
    char failed_msg[128];
};

fw_status fw_artifact_writer_new(fw_artifact_writer **out) {
    *out = fw_calloc(1, sizeof **out);
    return *out ? FW_OK : FW_ENOMEM;
}

void fw_artifact_writer_free(fw_artifact_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        fw_free(w->kv[i].key);
        fw_free(w->kv[i].bytes);
    }
    for (size_t i = 0; i < w->n_sec; i++) fw_free(w->sec[i].data);
    fw_free(w->kv);
    fw_free(w->sec);
    fw_free(w);
}

static void writer_fail(fw_artifact_writer *w, fw_status st, const char *msg) {
    if (w->failed) return;
    w->failed = st;
    snprintf(w->failed_msg, sizeof w->failed_msg, "%s", msg);
}

static kv_entry *kv_slot(fw_artifact_writer *w, const char *key) {
    if (!key || !*key || strlen(key) > 255) {
        writer_fail(w, FW_EINVAL, "metadata key is empty or longer than 255 bytes");
        return NULL;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            fw_free(w->kv[i].bytes);
            w->kv[i].bytes = NULL;
            return &w->kv[i];
        }
    if (w->n_kv >= MAX_KV) {
        writer_fail(w, FW_ELIMIT, "too many metadata entries");
        return NULL;
    }
    char *k = fw_strdup(key);
    if (!k || FW_GROW(&w->kv, &w->cap_kv, w->n_kv + 1) != FW_OK) {
        fw_free(k);
        writer_fail(w, FW_ENOMEM, "out of memory");
        return NULL;
    }
    kv_entry *e = &w->kv[w->n_kv++];
    memset(e, 0, sizeof *e);
    e->key = k;
    return e;
}

static void kv_set_bytes(fw_artifact_writer *w, kv_entry *e, fw_kv_type t, const void *p, size_t n,
                         bool nul) {
    e->type = t;
    e->n = n;
    e->bytes = fw_malloc(n + 1);
    if (!e->bytes) {
        writer_fail(w, FW_ENOMEM, "out of memory");
        e->n = 0;
        return;
    }
    if (n) memcpy(e->bytes, p, n);
    if (nul) e->bytes[n] = 0;
}

void fw_artifact_writer_str(fw_artifact_writer *w, const char *key, const char *value) {
    kv_entry *e = kv_slot(w, key);
    if (!e) return;
    if (!value) value = "";
    kv_set_bytes(w, e, FW_KV_STR, value, strlen(value), true);
}

void fw_artifact_writer_i64(fw_artifact_writer *w, const char *key, int64_t value) {
    kv_entry *e = kv_slot(w, key);
    if (!e) return;
    e->type = FW_KV_I64;
    e->i64 = value;
}

void fw_artifact_writer_f64(fw_artifact_writer *w, const char *key, double value) {
    kv_entry *e = kv_slot(w, key);
    if (!e) return;
    e->type = FW_KV_F64;
    e->f64 = value;
}

void fw_artifact_writer_bytes(fw_artifact_writer *w, const char *key, const void *p, size_t n) {
    kv_entry *e = kv_slot(w, key);
    if (!e) return;
    kv_set_bytes(w, e, FW_KV_BYTES, p, n, false);
}

void fw_artifact_writer_section(fw_artifact_writer *w, uint32_t id, const void *p, size_t n) {
    if (id == 0) {
        writer_fail(w, FW_EINVAL, "section id 0 is reserved");
        return;
    }
    uint8_t *copy = fw_malloc(n ? n : 1);
    if (!copy) {
        writer_fail(w, FW_ENOMEM, "out of memory");
        return;
    }
    if (n) memcpy(copy, p, n);
    for (size_t i = 0; i < w->n_sec; i++)
        if (w->sec[i].id == id) {
            fw_free(w->sec[i].data);
            w->sec[i].data = copy;
            w->sec[i].n = n;
            return;
        }
    if (w->n_sec >= MAX_SECTIONS || FW_GROW(&w->sec, &w->cap_sec, w->n_sec + 1) != FW_OK) {
        fw_free(copy);
        writer_fail(w, FW_ENOMEM, "out of memory");
        return;
    }
    w->sec[w->n_sec++] = (sec_entry){id, copy, n};
}

static int kv_cmp(const void *a, const void *b) {
    return strcmp(((const kv_entry *)a)->key, ((const kv_entry *)b)->key);
}
static int sec_cmp(const void *a, const void *b) {
    uint32_t x = ((const sec_entry *)a)->id, y = ((const sec_entry *)b)->id;
    return (x > y) - (x < y);
}

static void patch_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void patch_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* Zero padding up to a multiple of align, measured from base (stops on out of memory). */
static void pad_from(fw_buf *out, size_t base, size_t align) {
    static const uint8_t zeros[FW_ARTIFACT_ALIGN];
    size_t r = (out->len - base) % align;
    if (r) fw_buf_put(out, zeros, align - r);
}

fw_status fw_artifact_writer_finish(fw_artifact_writer *w, fw_buf *out, fw_err *err) {
    if (w->failed) return fw_err_set(err, w->failed, "artifact writer: %s", w->failed_msg);
    if (w->n_kv > 1) qsort(w->kv, w->n_kv, sizeof *w->kv, kv_cmp);
    if (w->n_sec > 1) qsort(w->sec, w->n_sec, sizeof *w->sec, sec_cmp);
    size_t base = out->len;
    uint8_t header[FW_ARTIFACT_HEADER_SIZE] = {0};
    fw_buf_put(out, header, sizeof header);
    size_t kv_off = out->len - base;
    for (size_t i = 0; i < w->n_kv; i++) {
        const kv_entry *e = &w->kv[i];
        fw_buf_put_str(out, e->key);
        fw_buf_put_u32(out, (uint32_t)e->type);
        switch (e->type) {
        case FW_KV_STR: fw_buf_put_strn(out, (const char *)e->bytes, e->n); break;
        case FW_KV_I64: fw_buf_put_i64(out, e->i64); break;
        case FW_KV_F64: fw_buf_put_f64(out, e->f64); break;
        case FW_KV_BYTES:
            fw_buf_put_u64(out, e->n);
            fw_buf_put(out, e->bytes, e->n);
            break;
        }
    }
    size_t kv_size = out->len - base - kv_off;
    pad_from(out, base, 8);
    size_t table_off = out->len - base;
    uint8_t entry[TABLE_ENTRY_SIZE] = {0};
    for (size_t i = 0; i < w->n_sec; i++) fw_buf_put(out, entry, sizeof entry);
    uint64_t *offs = fw_calloc(w->n_sec ? w->n_sec : 1, sizeof *offs);
    if (!offs) return fw_err_set(err, FW_ENOMEM, "artifact writer: out of memory");
    for (size_t i = 0; i < w->n_sec; i++) {
        pad_from(out, base, FW_ARTIFACT_ALIGN);
        offs[i] = out->len - base;
        fw_buf_put(out, w->sec[i].data, w->sec[i].n);
    }
    pad_from(out, base, 8);
    size_t file_size = out->len - base + FW_ARTIFACT_CHECKSUM_SIZE;
    if (!fw_buf_ok(out)) {
        fw_free(offs);
        return fw_err_set(err, FW_ENOMEM, "artifact writer: out of memory");
    }
    uint8_t *h = out->data + base;
    memcpy(h + H_MAGIC, FW_ARTIFACT_MAGIC, 4);
    patch_u32(h + H_VERSION, FW_ARTIFACT_FORMAT_VERSION);
    patch_u32(h + H_FLAGS, 0);
    patch_u32(h + H_HEADER_SIZE, FW_ARTIFACT_HEADER_SIZE);
    patch_u64(h + H_FILE_SIZE, file_size);
    patch_u32(h + H_N_KV, (uint32_t)w->n_kv);
    patch_u32(h + H_N_SECTIONS, (uint32_t)w->n_sec);
    patch_u64(h + H_KV_OFFSET, kv_off);
    patch_u64(h + H_KV_SIZE, kv_size);
    patch_u64(h + H_TABLE_OFFSET, table_off);
    patch_u32(h + H_ALIGN, FW_ARTIFACT_ALIGN);
    for (size_t i = 0; i < w->n_sec; i++) {
        uint8_t *t = h + table_off + i * TABLE_ENTRY_SIZE;
        patch_u32(t, w->sec[i].id);
        patch_u32(t + 4, 0);
        patch_u64(t + 8, offs[i]);
        patch_u64(t + 16, w->sec[i].n);
        patch_u64(t + 24, XXH3_64bits(w->sec[i].data, w->sec[i].n));
        const char *nm = fw_section_name(w->sec[i].id);
        memcpy(t + 32, nm, strlen(nm) < FW_ARTIFACT_SECTION_NAME_MAX ? strlen(nm) : FW_ARTIFACT_SECTION_NAME_MAX - 1);
    }
    fw_free(offs);
    XXH128_hash_t sum = XXH3_128bits(h, file_size - FW_ARTIFACT_CHECKSUM_SIZE);
    fw_buf_put_u64(out, sum.low64);
    fw_buf_put_u64(out, sum.high64);
    if (!fw_buf_ok(out)) return fw_err_set(err, FW_ENOMEM, "artifact writer: out of memory");
    return FW_OK;
}

/* ---- reader -------------------------------------------------------------------------------- */
typedef struct kv_view {
    char *key;
    fw_kv_type type;
    int64_t i64;
    double f64;
    char *str;          /* STR: NUL-terminated copy */
    const uint8_t *p;   /* BYTES: into the caller's memory */
    size_t n;
} kv_view;

typedef struct sec_view {
    uint32_t id;
    const uint8_t *p;
    size_t n;
} sec_view;

struct fw_artifact {
    uint32_t version;
    kv_view *kv;
    size_t n_kv;
    sec_view *sec;
    size_t n_sec;
};

void fw_artifact_close(fw_artifact *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n_kv; i++) {
        fw_free(a->kv[i].key);
        fw_free(a->kv[i].str);
    }
    fw_free(a->kv);
    fw_free(a->sec);
    fw_free(a);
}

/* After a whole-file checksum mismatch: name the damaged part when the table is still sane. */
static fw_status checksum_error(const uint8_t *d, uint64_t file_size, uint32_t n_sec,
                                uint64_t table_off, fw_err *err) {
    uint64_t end = file_size - FW_ARTIFACT_CHECKSUM_SIZE;
    if (n_sec <= MAX_SECTIONS && table_off <= end && (uint64_t)n_sec * TABLE_ENTRY_SIZE <= end - table_off) {
        for (uint32_t i = 0; i < n_sec; i++) {
            const uint8_t *t = d + table_off + (uint64_t)i * TABLE_ENTRY_SIZE;
            uint64_t off = get_u64(t + 8), size = get_u64(t + 16), h = get_u64(t + 24);
            if (off > end || size > end - off) break;
            if (XXH3_64bits(d + off, size) != h)
                return fw_err_set(err, FW_ECORRUPT,
                                  "artifact is corrupted: checksum mismatch in section '%s' (id %" PRIu32 ")",
                                  fw_section_name(get_u32(t)), get_u32(t));
        }
    }
    return fw_err_set(err, FW_ECORRUPT,
                      "artifact is corrupted: checksum mismatch (header, metadata or section table)");
}

fw_status fw_artifact_open(const void *data, size_t len, fw_artifact **out, fw_err *err) {
    FW_TEST_COUNT(FW_TC_ARTIFACT_OPEN);
    *out = NULL;
    const uint8_t *d = data;
    if (!d || len < 4 || memcmp(d, FW_ARTIFACT_MAGIC, 4) != 0)
        return fw_err_set(err, FW_EINVAL, "not a Flywheel artifact (bad magic: expected \"%s\")",
                          FW_ARTIFACT_MAGIC);
    if (len < 8) return fw_err_set(err, FW_EDATA, "artifact is truncated: %zu bytes, no version", len);
    uint32_t version = get_u32(d + H_VERSION);
    if (version > FW_ARTIFACT_FORMAT_VERSION)
        return fw_err_set(err, FW_EVERSION,
                          "artifact format version %" PRIu32 " is newer than this Flywheel reads "
                          "(up to %u): upgrade Flywheel (%s)",
                          version, FW_ARTIFACT_FORMAT_VERSION, FW_VERSION_STRING);
    if (version < FW_ARTIFACT_MIN_FORMAT_VERSION)
        return fw_err_set(err, FW_EVERSION, "artifact format version %" PRIu32 " is not a valid version",
                          version);
    if (len < FW_ARTIFACT_HEADER_SIZE)
        return fw_err_set(err, FW_EDATA, "artifact is truncated: %zu bytes, smaller than the %u-byte header",
                          len, FW_ARTIFACT_HEADER_SIZE);
    uint64_t file_size = get_u64(d + H_FILE_SIZE);
    if (file_size > len)
        return fw_err_set(err, FW_EDATA, "artifact is truncated: %zu bytes, header says %" PRIu64, len,
                          file_size);
    if (file_size < len)
        return fw_err_set(err, FW_ECORRUPT,
                          "artifact is corrupted: %zu bytes, header says %" PRIu64 " (trailing bytes or a damaged header)",
                          len, file_size);
    if (get_u32(d + H_HEADER_SIZE) != FW_ARTIFACT_HEADER_SIZE ||
        file_size < FW_ARTIFACT_HEADER_SIZE + FW_ARTIFACT_CHECKSUM_SIZE)
        return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: bad header size");
    uint32_t n_kv = get_u32(d + H_N_KV), n_sec = get_u32(d + H_N_SECTIONS);
    uint64_t kv_off = get_u64(d + H_KV_OFFSET), kv_size = get_u64(d + H_KV_SIZE);
    uint64_t table_off = get_u64(d + H_TABLE_OFFSET);
    uint64_t body_end = file_size - FW_ARTIFACT_CHECKSUM_SIZE;
    XXH128_hash_t sum = XXH3_128bits(d, (size_t)body_end);
    if (sum.low64 != get_u64(d + body_end) || sum.high64 != get_u64(d + body_end + 8))
        return checksum_error(d, file_size, n_sec, table_off, err);
    /* The bytes are what the writer wrote; structural checks guard against a forged checksum. */
    if (n_kv > MAX_KV || n_sec > MAX_SECTIONS || kv_off != FW_ARTIFACT_HEADER_SIZE ||
        kv_size > body_end - kv_off || table_off < kv_off + kv_size || table_off > body_end ||
        (uint64_t)n_sec * TABLE_ENTRY_SIZE > body_end - table_off ||
        get_u32(d + H_ALIGN) != FW_ARTIFACT_ALIGN)
        return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: inconsistent header fields");
    fw_artifact *a = fw_calloc(1, sizeof *a);
    if (!a) return fw_err_set(err, FW_ENOMEM, "out of memory");
    a->version = version;
    a->kv = fw_calloc(n_kv ? n_kv : 1, sizeof *a->kv);
    a->sec = fw_calloc(n_sec ? n_sec : 1, sizeof *a->sec);
    if (!a->kv || !a->sec) {
        fw_artifact_close(a);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_reader r;
    fw_reader_init(&r, d + kv_off, (size_t)kv_size);
    for (uint32_t i = 0; i < n_kv; i++) {
        kv_view *e = &a->kv[a->n_kv];
        if (!fw_reader_str(&r, &e->key)) goto bad_kv;
        if (!e->key) {
            r.bad = true;
            goto bad_kv;
        }
        a->n_kv++;
        /* the writer sorts keys and keeps one of each: a repeat (or a key with a NUL in it) would
         * make lookups by key disagree with iteration */
        if (i > 0 && strcmp(a->kv[i - 1].key, e->key) >= 0) {
            fw_artifact_close(a);
            return fw_err_set(err, FW_ECORRUPT,
                              "artifact is corrupted: metadata entry %" PRIu32 " is out of order or repeated", i);
        }
        e->type = (fw_kv_type)fw_reader_u32(&r);
        switch (e->type) {
        case FW_KV_STR:
            if (!fw_reader_str(&r, &e->str)) goto bad_kv;
            if (!e->str && !(e->str = fw_strdup(""))) goto bad_kv;
            break;
        case FW_KV_I64: e->i64 = fw_reader_i64(&r); break;
        case FW_KV_F64: e->f64 = fw_reader_f64(&r); break;
        case FW_KV_BYTES: {
            uint64_t n = fw_reader_u64(&r);
            if (n > fw_reader_left(&r)) {
                r.bad = true;
                goto bad_kv;
            }
            e->n = (size_t)n;
            e->p = fw_reader_get(&r, e->n);
            break;
        }
        default: {
            unsigned bad_type = (unsigned)e->type; /* read before e is freed */
            fw_artifact_close(a);
            return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: metadata entry %" PRIu32 " has unknown type %u",
                              i, bad_type);
        }
        }
        if (!fw_reader_ok(&r)) goto bad_kv;
    }
    for (uint32_t i = 0; i < n_sec; i++) {
        const uint8_t *t = d + table_off + (uint64_t)i * TABLE_ENTRY_SIZE;
        uint64_t off = get_u64(t + 8), size = get_u64(t + 16);
        if (off < table_off + (uint64_t)n_sec * TABLE_ENTRY_SIZE || off > body_end || size > body_end - off ||
            off % FW_ARTIFACT_ALIGN) {
            fw_artifact_close(a);
            return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: section %" PRIu32 " lies outside the file", i);
        }
        if (i > 0 && get_u32(t) <= a->sec[i - 1].id) {
            fw_artifact_close(a);
            return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: section %" PRIu32 " is out of order or repeated", i);
        }
        a->sec[a->n_sec++] = (sec_view){get_u32(t), d + off, (size_t)size};
    }
    *out = a;
    return FW_OK;
bad_kv:
    fw_artifact_close(a);
    if (fw_reader_ok(&r)) return fw_err_set(err, FW_ENOMEM, "out of memory"); /* read fine, copy failed */
    return fw_err_set(err, FW_ECORRUPT, "artifact is corrupted: metadata block is malformed");
}

uint32_t fw_artifact_format_version(const fw_artifact *a) { return a->version; }

static const kv_view *find_kv(const fw_artifact *a, const char *key, fw_kv_type t) {
    for (size_t i = 0; i < a->n_kv; i++)
        if (strcmp(a->kv[i].key, key) == 0) return a->kv[i].type == t ? &a->kv[i] : NULL;
    return NULL;
}

const char *fw_artifact_str(const fw_artifact *a, const char *key) {
    const kv_view *e = find_kv(a, key, FW_KV_STR);
    return e ? e->str : NULL;
}

bool fw_artifact_i64(const fw_artifact *a, const char *key, int64_t *out) {
    const kv_view *e = find_kv(a, key, FW_KV_I64);
    if (e) *out = e->i64;
    return e != NULL;
}

bool fw_artifact_f64(const fw_artifact *a, const char *key, double *out) {
    const kv_view *e = find_kv(a, key, FW_KV_F64);
    if (e) *out = e->f64;
    return e != NULL;
}

bool fw_artifact_bytes(const fw_artifact *a, const char *key, const uint8_t **p, size_t *n) {
    const kv_view *e = find_kv(a, key, FW_KV_BYTES);
    if (e) {
        *p = e->p;
        *n = e->n;
    }
    return e != NULL;
}

size_t fw_artifact_kv_count(const fw_artifact *a) { return a->n_kv; }
const char *fw_artifact_kv_key(const fw_artifact *a, size_t i) { return a->kv[i].key; }
fw_kv_type fw_artifact_kv_type(const fw_artifact *a, size_t i) { return a->kv[i].type; }

bool fw_artifact_section(const fw_artifact *a, uint32_t id, const uint8_t **p, size_t *n) {
    for (size_t i = 0; i < a->n_sec; i++)
        if (a->sec[i].id == id) {
            *p = a->sec[i].p;
            *n = a->sec[i].n;
            return true;
        }
    return false;
}

size_t fw_artifact_section_count(const fw_artifact *a) { return a->n_sec; }
uint32_t fw_artifact_section_id(const fw_artifact *a, size_t i) { return a->sec[i].id; }
size_t fw_artifact_section_size(const fw_artifact *a, size_t i) { return a->sec[i].n; }

void fw_artifact_hash(const void *data, size_t len, char out[33]) { fw_hash128_hex(data, len, out); }

void fw_artifact_metadata_json(const fw_artifact *a, fw_buf *out) {
    fw_buf_printf(out, "{\"format_version\":%" PRIu32, a->version);
    for (size_t i = 0; i < a->n_kv; i++) {
        const kv_view *e = &a->kv[i];
        fw_buf_put_u8(out, ',');
        fw_json_put_str(out, e->key);
        fw_buf_put_u8(out, ':');
        switch (e->type) {
        case FW_KV_STR: fw_json_put_str(out, e->str); break;
        case FW_KV_I64: fw_buf_printf(out, "%" PRId64, e->i64); break;
        case FW_KV_F64: fw_json_put_f64(out, e->f64); break;
        case FW_KV_BYTES: fw_buf_printf(out, "{\"bytes\":%zu}", e->n); break;
        }
    }
    fw_buf_put(out, ",\"sections\":[", 13);
    for (size_t i = 0; i < a->n_sec; i++)
        fw_buf_printf(out, "%s{\"id\":%" PRIu32 ",\"name\":\"%s\",\"bytes\":%zu}", i ? "," : "", a->sec[i].id,
                      fw_section_name(a->sec[i].id), a->sec[i].n);
    fw_buf_put(out, "]}", 2);
}
