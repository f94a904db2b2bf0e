/* input.c — owns batch's streaming input: the columns a run needs (model inputs, id columns),
 * read block by block from a CSV file or a JSON Lines file. Memory is a few blocks whatever the
 * input size.
 *
 * Both formats are split in two so that both cores work: the reader thread only cuts the byte
 * stream into blocks of whole records (memchr for newlines; for CSV a quote scan only on lines
 * holding a quote), and each block is parsed by the scorer thread that scores it. CSV goes through
 * the data layer's CSV stream over the block's bytes (header + records) with the run's fixed
 * schema; an unrecoverable record (an unterminated quote, a line over the limit) is rejected with
 * its line and its bytes are blanked out, then the block is parsed again: the rest of the file is
 * still read. JSONL is one jansson parse per line. */
#include "batch/batch_int.h"

#include "core/alloc.h"
#include "data/scalar.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSONL_MAX_LINE (64u << 20)

void fw__in_block_init(fw__in_block *b) {
    memset(b, 0, sizeof *b);
    fw_row_block_init(&b->rb);
    fw_buf_init(&b->raw);
    fw_buf_init(&b->arena);
}

void fw__in_block_free(fw__in_block *b) {
    fw_row_block_free(&b->rb);
    fw_buf_free(&b->raw);
    fw_free(b->crej);
    fw_free(b->vals);
    fw_free(b->jlines);
    fw_free(b->jrej);
    fw_buf_free(&b->arena);
    memset(b, 0, sizeof *b);
}

void fw__in_close(fw__in_reader *r) {
    if (r->cols)
        for (size_t i = 0; i < r->n_cols; i++) fw_free(r->cols[i]);
    fw_free(r->cols);
    fw_free(r->present);
    fw_free(r->ds_col);
    fw_source_close(r->src);
    fw_schema_free(&r->schema);
    fw_free(r->hdr);
    fw_free(r->buf);
    fw_free(r->name);
    memset(r, 0, sizeof *r);
}

static bool has_suffix(const char *p, const char *suf) {
    size_t n = strlen(p), k = strlen(suf);
    if (n > 3 && strcasecmp(p + n - 3, ".gz") == 0) n -= 3;
    return n >= k && strncasecmp(p + n - k, suf, k) == 0;
}

#define CUT_BLOCK_BYTES (8u << 20)  /* a CSV block ends once it holds this many bytes */
#define CUT_MAX_PENDING (64u << 20) /* a record longer than this (a stray quote) is cut at a line end */
#define READ_CHUNK (1u << 20)
#define READ_STEP_MIN (32u << 10) /* CSV data reads: 1/8 of the last block's bytes, within these */
#define READ_STEP_MAX (1u << 20)

/* Compacts the read buffer (moves the bytes from buf_pos to pre, the room kept for the header),
 * grows it when less than a read's worth is free, and reads more (READ_CHUNK at most). Sets eof
 * at the end of the input. Once the CSV header is known (pre > 0) a read takes step bytes at most, so that little is read
 * past the block being cut: the block takes the buffer itself and only those bytes are copied. */
static fw_status read_more(fw__in_reader *r, fw_err *err) {
    if (r->buf_pos > r->pre) {
        memmove(r->buf + r->pre, r->buf + r->buf_pos, r->buf_len - r->buf_pos);
        r->moved += r->buf_len - r->buf_pos;
        r->buf_len -= r->buf_pos - r->pre;
        r->buf_pos = r->pre;
    }
    size_t want = r->pre ? r->step : READ_CHUNK;
    if (r->buf_cap - r->buf_len < want) {
        size_t ncap = r->buf_cap ? r->buf_cap * 2 : 4 * READ_CHUNK;
        while (ncap - r->buf_len < want) ncap *= 2;
        char *nb = fw_realloc(r->buf, ncap);
        if (!nb) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", r->name);
        r->buf = nb;
        r->buf_cap = ncap;
    }
    size_t got = 0, room = r->buf_cap - r->buf_len;
    if (room > want) room = want;
    if (r->limited && room > r->limit - r->abs_read) room = (size_t)(r->limit - r->abs_read);
    fw_status st = room ? fw_source_read_full(r->src, r->buf + r->buf_len, room, &got, err) : FW_OK;
    if (st) return st;
    if (!got) r->eof = true;
    r->buf_len += got;
    r->abs_read += got;
    return FW_OK;
}

/* The quote state at the end of line [p, e) given the state at its start. As the parser reads
 * them, quotes count only at the start of a field, and "" inside a quoted field is a quote. */
static bool quote_state(const char *p, const char *e, char delim, bool inq) {
    const char *q = p;
    for (;;) {
        if (inq) {
            const char *c = memchr(q, '"', (size_t)(e - q));
            if (!c) return true;
            if (c + 1 < e && c[1] == '"') {
                q = c + 2;
                continue;
            }
            inq = false;
            q = c + 1;
        } else if (q < e && *q == '"') {
            inq = true;
            q++;
            continue;
        }
        const char *d = memchr(q, delim, (size_t)(e - q));
        if (!d) return false;
        q = d + 1;
    }
}

/* Cuts the next records from the read buffer: up to max_records whole records (or fewer once
 * CUT_BLOCK_BYTES are taken); *len = their bytes (from buf_pos), *lines = newlines in them.
 * *len == 0 at the end of the input. */
static fw_status cut_records(fw__in_reader *r, size_t max_records, size_t *len, uint64_t *lines_out,
                             size_t *records_out, fw_err *err) {
    size_t scan = 0, cut = 0, records = 0;
    uint64_t lines = 0, cut_lines = 0;
    bool inq = false;
    char delim = r->lo.delimiter;
    for (;;) {
        char *base = r->buf + r->buf_pos;
        size_t avail = r->buf_len - r->buf_pos;
        char *nl = scan < avail ? memchr(base + scan, '\n', avail - scan) : NULL;
        if (!nl) {
            if (r->eof) {
                if (avail > cut) { /* a last line without a newline, or an open quote to the end */
                    records++;
                    cut = avail;
                    cut_lines = lines;
                }
                break;
            }
            if (avail - cut >= CUT_MAX_PENDING) { /* one record longer than the limit: cut it */
                records++;
                cut = avail;
                cut_lines = lines;
                break;
            }
            if (cut && avail >= CUT_BLOCK_BYTES + READ_CHUNK) break; /* enough for a block */
            fw_status st = read_more(r, err);
            if (st) return st;
            continue;
        }
        const char *ls = base + scan;
        size_t n = (size_t)(nl - ls);
        if (inq || memchr(ls, '"', n)) inq = quote_state(ls, nl, delim, inq);
        scan += n + 1;
        lines++;
        if (inq && scan - cut < CUT_MAX_PENDING) continue;
        inq = false; /* a record ends here (or a quoted one is cut at the limit) */
        cut = scan;
        cut_lines = lines;
        records++;
        if (records >= max_records || cut >= CUT_BLOCK_BYTES) break;
    }
    *len = cut;
    *lines_out = cut_lines;
    *records_out = records;
    return FW_OK;
}

static fw_status open_csv(fw__in_reader *r, const char *path, const fw_col_type *types,
                          fw_err *err) {
    fw_load_opts_init(&r->lo);
    r->lo.delimiter = has_suffix(path, ".tsv") ? '\t' : ',';
    r->lo.skip_bad_rows = true;
    /* First a peek at the header (one sample row) to learn which wanted columns exist; the data
     * layer also checks the header (empty file, binary data, bad UTF-8) here. */
    fw_load_opts lo = r->lo;
    lo.sample_rows = 1;
    lo.block_bytes = 256u << 10; /* the peek reads one buffer: keep it small (it grows for a long header) */
    fw_csv_stream *peek;
    fw_status st = fw_csv_stream_open(path, &lo, NULL, &peek, err);
    if (st) return st;
    const fw_schema *hs = fw_csv_stream_schema(peek);
    size_t n_present = 0;
    const char **names = fw_calloc(r->n_cols ? r->n_cols : 1, sizeof *names);
    if (!names) {
        fw_csv_stream_close(peek);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_cols; i++) {
        r->present[i] = fw_schema_find(hs, r->cols[i], strlen(r->cols[i])) >= 0;
        r->ds_col[i] = -1;
        if (r->present[i]) {
            r->ds_col[i] = (int)n_present;
            names[n_present++] = r->cols[i];
        }
    }
    fw_csv_stream_close(peek);
    st = fw_schema_init(&r->schema, n_present, names);
    fw_free(names);
    if (st) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_cols; i++)
        if (r->ds_col[i] >= 0) r->schema.types[r->ds_col[i]] = types[i];
    /* Then the bytes: skip a BOM and blank lines, keep the header record for every block. */
    if ((st = fw_source_open(path, &r->src, err))) return st;
    r->line = 1;
    for (;;) {
        if ((st = read_more(r, err))) return st;
        if (r->buf_len >= 3 || r->eof) break;
    }
    if (r->buf_len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->buf_pos = 3;
    for (;;) {
        size_t len, recs;
        uint64_t lines;
        if ((st = cut_records(r, 1, &len, &lines, &recs, err))) return st;
        if (!len) return fw_err_set(err, FW_EDATA, "%s:1:1: empty file (no header row)", r->name);
        const char *p = r->buf + r->buf_pos;
        size_t k = len;
        while (k && (p[k - 1] == '\n' || p[k - 1] == '\r')) k--;
        if (!k) { /* a blank line before the header */
            r->buf_pos += len;
            r->line += lines;
            continue;
        }
        r->hdr = fw_malloc(k + 1);
        if (!r->hdr) return fw_err_set(err, FW_ENOMEM, "out of memory");
        memcpy(r->hdr, p, k);
        r->hdr[k] = '\n';
        r->hdr_len = k + 1;
        r->hdr_lines = lines ? lines : 1;
        r->buf_pos += len;
        r->line += r->hdr_lines;
        /* From now on the data bytes start at pre = hdr_len, so that a block can take the read
         * buffer with the header copied in front of its records (fw__in_next). */
        r->step = READ_STEP_MIN;
        if (r->buf_pos < r->hdr_len) { /* a header without a newline at the end of the input */
            size_t rest = r->buf_len - r->buf_pos;
            if (r->buf_cap < r->hdr_len + rest) {
                char *nb = fw_realloc(r->buf, r->hdr_len + rest);
                if (!nb) return fw_err_set(err, FW_ENOMEM, "out of memory");
                r->buf = nb;
                r->buf_cap = r->hdr_len + rest;
            }
            memmove(r->buf + r->hdr_len, r->buf + r->buf_pos, rest);
            r->buf_len = r->hdr_len + rest;
            r->buf_pos = r->hdr_len;
        }
        r->pre = r->hdr_len;
        return FW_OK;
    }
}

static fw_status open_jsonl(fw__in_reader *r, const char *path, fw_err *err) {
    fw_status st = fw_source_open(path, &r->src, err);
    if (st) return st;
    r->buf_cap = 1u << 20;
    r->buf = fw_malloc(r->buf_cap);
    if (!r->buf) return fw_err_set(err, FW_ENOMEM, "out of memory");
    /* Every wanted column may appear on any line: all are "present". */
    for (size_t i = 0; i < r->n_cols; i++) {
        r->present[i] = true;
        r->ds_col[i] = (int)i;
    }
    return FW_OK;
}

fw_status fw__in_open(fw__in_reader *r, const char *path, size_t n_cols, const char *const *names,
                      const fw_col_type *types, fw_err *err) {
    memset(r, 0, sizeof *r);
    r->fmt = FW_FORMAT_CSV;
    (void)fw_data_format_of(path, &r->fmt);
    r->n_cols = n_cols;
    r->cols = fw_calloc(n_cols ? n_cols : 1, sizeof *r->cols);
    r->present = fw_calloc(n_cols ? n_cols : 1, sizeof *r->present);
    r->ds_col = fw_calloc(n_cols ? n_cols : 1, sizeof *r->ds_col);
    r->name = fw_strdup(path);
    if (!r->cols || !r->present || !r->ds_col || !r->name) goto oom;
    for (size_t i = 0; i < n_cols; i++)
        if (!(r->cols[i] = fw_strdup(names[i]))) goto oom;
    struct stat stt;
    if (stat(path, &stt) == 0) r->size_hint = (size_t)stt.st_size;
    fw_status st = r->fmt == FW_FORMAT_JSONL ? open_jsonl(r, path, err) : open_csv(r, path, types, err);
    if (st) {
        fw__in_close(r);
        return st;
    }
    if (r->src) r->gzip = fw_source_is_gzip(r->src);
    return FW_OK;
oom:
    fw__in_close(r);
    return fw_err_set(err, FW_ENOMEM, "out of memory");
}

/* ---- partitions ------------------------------------------------------------------------------ */

/* The first record start at or after x: 0 or the end as they are, else just after the first
 * newline at x - 1 or later (the end when there is none). */
static fw_status record_start(int fd, uint64_t size, uint64_t x, const char *name, uint64_t *out, fw_err *err) {
    if (x == 0 || x >= size) {
        *out = x >= size ? size : 0;
        return FW_OK;
    }
    char buf[1 << 16];
    uint64_t pos = x - 1;
    while (pos < size) {
        ssize_t k = pread(fd, buf, sizeof buf, (off_t)pos);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return fw_err_set(err, FW_EIO, "%s: %s", name, strerror(errno));
        if (k == 0) break;
        const char *nl = memchr(buf, '\n', (size_t)k);
        if (nl) {
            *out = pos + (uint64_t)(nl - buf) + 1;
            return FW_OK;
        }
        pos += (uint64_t)k;
    }
    *out = size;
    return FW_OK;
}

fw_status fw__in_partition(fw__in_reader *r, uint32_t part, uint32_t parts, fw_err *err) {
    fw_status st = fw__in_partition_cut(r, part, parts, err);
    return st ? st : fw__in_partition_skip(r, err);
}

fw_status fw__in_partition_cut(fw__in_reader *r, uint32_t part, uint32_t parts, fw_err *err) {
    if (parts <= 1) return FW_OK;
    if (r->gzip)
        return fw_err_set(err, FW_EINVAL, "%s: a compressed input cannot be cut into byte ranges (--partition): "
                                          "decompress it first", r->name);
    int fd = open(r->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fw_err_set(err, FW_EIO, "%s: %s", r->name, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fw_err_set(err, FW_EINVAL, "%s: --partition needs a regular file", r->name);
    }
    uint64_t size = (uint64_t)sb.st_size, s, t;
    uint64_t b = (uint64_t)((unsigned __int128)size * part / parts);
    uint64_t e = (uint64_t)((unsigned __int128)size * (part + 1) / parts);
    fw_status st = record_start(fd, size, b, r->name, &s, err);
    if (!st) st = record_start(fd, size, e, r->name, &t, err);
    close(fd);
    if (st) return st;
    r->part_cut = true;
    r->part_s = s;
    r->part_t = t;
    return FW_OK;
}

fw_status fw__in_partition_skip(fw__in_reader *r, fw_err *err) {
    if (!r->part_cut) return FW_OK;
    r->part_cut = false;
    fw_status st = FW_OK;
    uint64_t s = r->part_s, t = r->part_t;
    uint64_t here = r->abs_read - (r->buf_len - r->buf_pos); /* the file offset of buf[buf_pos] */
    if (s < here) s = here; /* partition 0 starts after the header */
    if (t < s) t = s;
    size_t step = r->step;
    uint64_t line0 = r->line;
    r->step = READ_CHUNK;
    while (here < s) { /* skip the records of earlier partitions, counting their lines */
        if (r->buf_pos == r->buf_len) {
            r->buf_pos = r->buf_len = r->pre;
            if ((st = read_more(r, err))) return st;
            if (r->buf_len == r->pre) break;
        }
        size_t take = r->buf_len - r->buf_pos;
        if (take > s - here) take = (size_t)(s - here);
        for (const char *p = r->buf + r->buf_pos, *q = p + take; (p = memchr(p, '\n', (size_t)(q - p))) != NULL; p++)
            r->line++;
        r->buf_pos += take;
        here += take;
    }
    r->step = step;
    r->skip_lines = r->line - line0;
    if (r->abs_read > t) { /* bytes of later partitions already in the buffer */
        r->buf_len -= (size_t)(r->abs_read - t);
        r->abs_read = t;
    }
    r->limited = true;
    r->limit = t;
    r->eof = r->abs_read >= t;
    return FW_OK;
}

/* ---- JSONL ----------------------------------------------------------------------------------- */

/* Next line (without its newline) into *s and *n; *got false at the end. */
static fw_status next_line(fw__in_reader *r, const char **s, size_t *n, bool *got, fw_err *err) {
    *got = false;
    for (;;) {
        char *nl = r->buf_pos < r->buf_len ? memchr(r->buf + r->buf_pos, '\n', r->buf_len - r->buf_pos) : NULL;
        if (nl || (r->eof && r->buf_pos < r->buf_len)) {
            size_t end = nl ? (size_t)(nl - r->buf) : r->buf_len;
            *s = r->buf + r->buf_pos;
            *n = end - r->buf_pos;
            if (*n && (*s)[*n - 1] == '\r') (*n)--;
            r->buf_pos = nl ? end + 1 : end;
            r->line++;
            *got = true;
            return FW_OK;
        }
        if (r->eof) return FW_OK;
        /* Compact, grow when one line fills the buffer, then read more. */
        if (r->buf_pos) {
            memmove(r->buf, r->buf + r->buf_pos, r->buf_len - r->buf_pos);
            r->buf_len -= r->buf_pos;
            r->buf_pos = 0;
        }
        if (r->buf_len == r->buf_cap) {
            if (r->buf_cap >= JSONL_MAX_LINE)
                return fw_err_set(err, FW_ELIMIT, "%s:%llu: line longer than %u bytes", r->name,
                                  (unsigned long long)r->line + 1, JSONL_MAX_LINE);
            char *nb = fw_realloc(r->buf, r->buf_cap * 2);
            if (!nb) return fw_err_set(err, FW_ENOMEM, "out of memory");
            r->buf = nb;
            r->buf_cap *= 2;
        }
        size_t got_n = 0, room = r->buf_cap - r->buf_len;
        if (r->limited && room > r->limit - r->abs_read) room = (size_t)(r->limit - r->abs_read);
        fw_status st = room ? fw_source_read(r->src, r->buf + r->buf_len, room, &got_n, err) : FW_OK;
        if (st) return st;
        if (!got_n) r->eof = true;
        r->buf_len += got_n;
        r->abs_read += got_n;
    }
}

static fw_status add_reject(fw__in_block *b, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fw_status add_reject(fw__in_block *b, uint64_t line, const char *fmt, ...) {
    if (b->n_rejects == b->cap_rej) {
        size_t cap = b->cap_rej;
        if (FW_GROW(&b->jrej, &cap, b->n_rejects + 1)) return FW_ENOMEM;
        b->cap_rej = cap;
    }
    fw_load_reject *rj = &b->jrej[b->n_rejects++];
    rj->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rj->msg, sizeof rj->msg, fmt, ap);
    va_end(ap);
    return FW_OK;
}

/* Strings are first stored as arena offsets (the arena may move), fixed up at the end. */
static fw_status parse_jsonl_row(const fw__in_reader *r, fw__in_block *b, uint64_t line, const char *s,
                                 size_t n, bool *ok) {
    *ok = false;
    json_error_t je;
    json_t *j = json_loadb(s, n, 0, &je);
    if (!j)
        return add_reject(b, line, "%s:%llu:%d: invalid JSON: %s", r->name, (unsigned long long)line,
                          je.column > 0 ? je.column : 1, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return add_reject(b, line, "%s:%llu: expected a JSON object", r->name, (unsigned long long)line);
    }
    fw_value *row = b->vals + b->n_rows * r->n_cols;
    fw_status st = FW_OK;
    for (size_t i = 0; i < r->n_cols; i++) {
        fw_value *v = &row[i];
        memset(v, 0, sizeof *v);
        json_t *x = json_object_get(j, r->cols[i]);
        if (!x || json_is_null(x)) continue;
        if (json_is_integer(x)) {
            v->kind = FW_VALUE_NUMBER;
            v->num = (double)json_integer_value(x);
        } else if (json_is_real(x)) {
            v->kind = FW_VALUE_NUMBER;
            v->num = json_real_value(x);
        } else if (json_is_string(x) || json_is_boolean(x)) {
            const char *str = json_is_string(x) ? json_string_value(x) : json_is_true(x) ? "true" : "false";
            size_t len = json_is_string(x) ? json_string_length(x) : strlen(str);
            if (json_is_string(x) && fw_is_missing(str, len, fw_default_missing, fw_default_n_missing))
                continue;
            v->kind = FW_VALUE_STRING;
            v->str = (const char *)(uintptr_t)b->arena.len;
            v->len = len;
            fw_buf_put(&b->arena, str, len);
        } else {
            json_decref(j);
            return add_reject(b, line, "%s:%llu: field '%s': nested objects and arrays are not supported",
                              r->name, (unsigned long long)line, r->cols[i]);
        }
    }
    json_decref(j);
    if (!fw_buf_ok(&b->arena)) return FW_ENOMEM;
    *ok = true;
    return st;
}

/* Reader side: cuts up to max_rows lines (blank ones included) into b->raw, each ending in '\n';
 * the scorer parses them (parse_jsonl). */
static fw_status cut_jsonl(fw__in_reader *r, size_t max_rows, fw__in_block *b, fw_err *err) {
    b->raw.len = 0;
    b->n_rows = b->n_rejects = b->n_records = 0;
    b->parsed = false;
    b->first_line = r->line + 1;
    while (b->n_records < max_rows && b->raw.len < CUT_BLOCK_BYTES) {
        const char *s;
        size_t n;
        bool got;
        fw_status st = next_line(r, &s, &n, &got, err);
        if (st) return st;
        if (!got) break;
        fw_buf_put(&b->raw, s, n);
        fw_buf_put_u8(&b->raw, '\n');
        b->n_records++;
    }
    if (!fw_buf_ok(&b->raw)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    return FW_OK;
}

/* Scorer side: one jansson parse per line of a block cut by cut_jsonl. */
static fw_status parse_jsonl(const fw__in_reader *r, fw__in_block *b, fw_err *err) {
    b->arena.len = 0;
    b->n_rows = 0;
    b->n_rejects = 0;
    size_t need = b->n_records ? b->n_records : 1;
    if (b->cap_rows < need) {
        fw_value *v = fw_realloc(b->vals, need * (r->n_cols ? r->n_cols : 1) * sizeof *v);
        if (!v) return fw_err_set(err, FW_ENOMEM, "out of memory");
        b->vals = v;
        uint64_t *l = fw_realloc(b->jlines, need * sizeof *l);
        if (!l) return fw_err_set(err, FW_ENOMEM, "out of memory");
        b->jlines = l;
        b->cap_rows = need;
    }
    const char *p = (const char *)b->raw.data, *end = p + b->raw.len;
    for (uint64_t line = b->first_line; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        const char *s = p;
        size_t n = (size_t)(nl - p);
        p = nl + 1;
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == n) continue; /* blank line */
        if (memchr(s, 0, n))
            return fw_err_set(err, FW_EDATA, "%s:%llu: NUL byte: this looks like a binary file, not JSON Lines",
                              r->name, (unsigned long long)line);
        bool ok;
        if (parse_jsonl_row(r, b, line, s, n, &ok)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        if (ok) b->jlines[b->n_rows++] = line;
    }
    for (size_t i = 0; i < b->n_rows * r->n_cols; i++)
        if (b->vals[i].kind == FW_VALUE_STRING)
            b->vals[i].str = (const char *)b->arena.data + (uintptr_t)b->vals[i].str;
    b->lines = b->jlines;
    b->rejects = b->jrej;
    return FW_OK;
}

fw_status fw__in_next(fw__in_reader *r, size_t max_rows, fw__in_block *b, fw_err *err) {
    if (r->fmt == FW_FORMAT_JSONL) return cut_jsonl(r, max_rows ? max_rows : 1, b, err);
    b->n_rows = b->n_rejects = b->n_records = b->n_crej = 0;
    b->raw.len = 0;
    b->parsed = false;
    b->first_line = r->line;
    size_t len, recs;
    uint64_t lines;
    fw_status st = cut_records(r, max_rows ? max_rows : 1, &len, &lines, &recs, err);
    if (st || !len) return st;
    /* The block takes the read buffer as it is, the header copied into the room kept before the
     * records; the reader goes on in the block's previous buffer with the bytes read past the
     * block (less than one read step). So the records are copied once, by the read itself. While
     * more than the block is buffered (the first reads fill the buffer), or the block does not
     * start at the buffer's data start, it is copied (until the cutter next reads, which moves
     * the partial record it holds to the start). */
    size_t rest_at = r->buf_pos + len, rest = r->buf_len - rest_at;
    if (r->buf_pos != r->pre || rest > len) {
        fw_buf_put(&b->raw, r->hdr, r->hdr_len);
        fw_buf_put(&b->raw, r->buf + r->buf_pos, len);
        if (!fw_buf_ok(&b->raw)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        r->moved += len;
        r->buf_pos += len;
        r->line += lines;
        b->n_records = recs;
        return FW_OK;
    }
    size_t need = r->pre + rest + r->step;
    char *nb = (char *)b->raw.data;
    size_t ncap = b->raw.cap;
    if (ncap < need) {
        fw_free(nb);
        ncap = need > r->buf_cap ? need : r->buf_cap;
        if (!(nb = fw_malloc(ncap))) {
            fw_buf_init(&b->raw);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    memcpy(nb + r->pre, r->buf + rest_at, rest);
    r->moved += rest;
    memcpy(r->buf, r->hdr, r->hdr_len);
    b->raw.data = (uint8_t *)r->buf;
    b->raw.len = r->hdr_len + len;
    b->raw.cap = r->buf_cap;
    b->raw.oom = false;
    r->buf = nb;
    r->buf_cap = ncap;
    r->buf_len = r->pre + rest;
    r->buf_pos = r->pre;
    /* the next reads: about 1/8 of a block, so the bytes read past it stay small */
    size_t step = len / 8;
    r->step = step < READ_STEP_MIN ? READ_STEP_MIN : step > READ_STEP_MAX ? READ_STEP_MAX : step;
    r->line += lines;
    b->n_records = recs;
    return FW_OK;
}

/* The line number in a "name:line:..." message (0 when it has none). */
static uint64_t msg_line(const char *msg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(msg, name, n) != 0 || msg[n] != ':') return 0;
    char *end;
    unsigned long long v = strtoull(msg + n + 1, &end, 10);
    return end > msg + n + 1 && *end == ':' ? (uint64_t)v : 0;
}

/* Rewrites "name:L:..." to "name:L+off:..." in place (lines of a block → lines of the file). */
static void msg_shift(char *msg, size_t cap, const char *name, int64_t off) {
    uint64_t l = msg_line(msg, name);
    if (!l) return;
    size_t n = strlen(name);
    const char *rest = strchr(msg + n + 1, ':');
    char tmp[FW_ERR_MSG_MAX];
    int k = snprintf(tmp, sizeof tmp, "%s:%llu%s", name, (unsigned long long)((int64_t)l + off), rest);
    if (k > 0) {
        size_t m = (size_t)k < cap - 1 ? (size_t)k : cap - 1;
        memcpy(msg, tmp, m);
        msg[m] = '\0';
    }
}

static fw_status add_crej(fw__in_block *b, uint64_t line, const char *msg) {
    if (b->n_crej == b->cap_crej) {
        size_t cap = b->cap_crej;
        if (FW_GROW(&b->crej, &cap, b->n_crej + 1)) return FW_ENOMEM;
        b->cap_crej = cap;
    }
    fw_load_reject *rj = &b->crej[b->n_crej++];
    rj->line = line;
    snprintf(rj->msg, sizeof rj->msg, "%s", msg);
    return FW_OK;
}

static int cmp_reject(const void *a, const void *b) {
    uint64_t x = ((const fw_load_reject *)a)->line, y = ((const fw_load_reject *)b)->line;
    return x < y ? -1 : x > y;
}

/* Removes the first line of the record holding block line `line` (lines numbered as the parser
 * numbers them: header first), keeping its newline so that later lines keep their numbers: the
 * record's opening line holds the quote that went wrong (an error may surface lines later, e.g. a
 * stray quote closed by another one). *first = the line removed. False when there is none. */
static bool blank_line(const fw__in_reader *r, fw__in_block *b, uint64_t line, uint64_t *first) {
    if (line <= r->hdr_lines) return false;
    char *p = (char *)b->raw.data, *end = p + b->raw.len, *q = p + r->hdr_len, *rec = q;
    bool inq = false;
    uint64_t rec_line = r->hdr_lines + 1;
    for (uint64_t l = r->hdr_lines + 1; l < line; l++) {
        char *nl = memchr(q, '\n', (size_t)(end - q));
        if (!nl) return false;
        if (inq || memchr(q, '"', (size_t)(nl - q))) inq = quote_state(q, nl, r->lo.delimiter, inq);
        q = nl + 1;
        if (!inq) {
            rec = q;
            rec_line = l + 1;
        }
    }
    q = rec;
    *first = rec_line;
    char *nl = memchr(q, '\n', (size_t)(end - q));
    char *e = nl ? nl : end;
    if (e == q) return false;
    memmove(q, e, (size_t)(end - e));
    b->raw.len -= (size_t)(e - q);
    return true;
}

fw_status fw__in_parse(const fw__in_reader *r, fw__in_block *b, fw_err *err) {
    if (b->parsed) return FW_OK;
    b->parsed = true;
    if (r->fmt == FW_FORMAT_JSONL) return parse_jsonl(r, b, err);
    b->n_crej = 0;
    /* block line l is file line l + off */
    int64_t off = (int64_t)b->first_line - (int64_t)(r->hdr_lines + 1);
    fw_load_opts lo = r->lo;
    for (;;) {
        lo.block_bytes = b->raw.len + 64; /* one read holds the whole block */
        fw_csv_stream *cs;
        fw_err e;
        fw_err_clear(&e);
        fw_status st = fw_csv_stream_open_mem(b->raw.data, b->raw.len, r->name, &lo, &r->schema, &cs, &e);
        if (!st) {
            st = fw_csv_stream_next(cs, b->n_records + 1, &b->rb, &e);
            fw_csv_stream_close(cs);
        }
        if (!st) break;
        uint64_t l = msg_line(e.msg, r->name), first = l;
        /* an unterminated quote or an over-long line: reject the line, parse the rest again */
        if ((st != FW_EPARSE && st != FW_ELIMIT) || !l || !blank_line(r, b, l, &first)) {
            msg_shift(e.msg, sizeof e.msg, r->name, off);
            *err = e;
            return st;
        }
        char msg[FW_ERR_MSG_MAX];
        const char *body = strstr(e.msg + strlen(r->name) + 1, ": "); /* after "name:L:COL" */
        body = body ? body + 2 : e.msg;
        msg_shift(e.msg, sizeof e.msg, r->name, off);
        if (first == l) snprintf(msg, sizeof msg, "%s", e.msg);
        else
            snprintf(msg, sizeof msg, "%s:%llu: a quote opened on this line is not closed as CSV expects (line %llu: %.*s)",
                     r->name, (unsigned long long)((int64_t)first + off), (unsigned long long)((int64_t)l + off), (int)strnlen(body, 200), body);
        if (add_crej(b, (uint64_t)((int64_t)first + off), msg)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_row_block *rb = &b->rb;
    for (size_t i = 0; i < rb->ds->n_rows; i++) rb->lines[i] = (uint64_t)((int64_t)rb->lines[i] + off);
    size_t own = b->n_crej;
    for (size_t k = 0; k < rb->n_rejects; k++) {
        fw_load_reject *rj = &rb->rejects[k];
        msg_shift(rj->msg, sizeof rj->msg, r->name, off);
        if (add_crej(b, (uint64_t)((int64_t)rj->line + off), rj->msg)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (own && b->n_crej > own) qsort(b->crej, b->n_crej, sizeof *b->crej, cmp_reject);
    b->n_rows = rb->ds->n_rows;
    b->lines = rb->lines;
    b->n_rejects = b->n_crej;
    b->rejects = b->crej;
    return FW_OK;
}

void fw__in_view_init(const fw__in_reader *r, const fw__in_block *b, const int *idx, size_t n,
                      fw__in_view *v) {
    for (size_t i = 0; i < n; i++) {
        memset(&v[i], 0, sizeof v[i]);
        v[i].jcol = -1;
        if (idx[i] < 0) continue;
        if (r->fmt == FW_FORMAT_JSONL) {
            v[i].jcol = idx[i];
            continue;
        }
        int c = r->ds_col[idx[i]];
        if (c < 0 || !b->rb.ds) continue;
        const fw_column *col = &b->rb.ds->cols[c];
        v[i].num = col->num;
        v[i].code = col->num ? NULL : col->code;
        v[i].dict = &col->dict;
    }
}

void fw__in_row(const fw__in_reader *r, const fw__in_block *b, const fw__in_view *v, size_t n,
                size_t row, fw_value *out) {
    if (r->fmt == FW_FORMAT_JSONL) {
        const fw_value *src = b->vals + row * r->n_cols;
        for (size_t i = 0; i < n; i++)
            out[i] = v[i].jcol < 0 ? (fw_value){FW_VALUE_MISSING, 0, NULL, 0} : src[v[i].jcol];
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const fw__in_view *w = &v[i];
        if (w->num) {
            double x = w->num[row];
            out[i] = x == x ? (fw_value){FW_VALUE_NUMBER, x, NULL, 0} : (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
        } else if (w->code && w->code[row] >= 0) {
            int32_t c = w->code[row];
            out[i] = (fw_value){FW_VALUE_STRING, 0, fw_dict_str(w->dict, c), fw_dict_len(w->dict, c)};
        } else
            out[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    }
}
