/* csv.c — owns the CSV reader: the record tokenizer, UTF-8/NUL validation, the header, schema
 * sampling, the typed per-chunk parser, the parallel block loader and the streaming reader. */
#include "data/csv.h"

#include "core/alloc.h"
#include "core/threads.h"
#include "data/scalar.h"

#include <math.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>

#define FW__DEF_BLOCK (8u << 20)
#define FW__MAX_CHUNKS 16
#define FW__BODY_MAX 400

void fw_load_opts_init(fw_load_opts *o) {
    memset(o, 0, sizeof *o);
    o->delimiter = ',';
    o->sample_rows = 1000;
    o->max_field_bytes = 16u << 20;
    o->max_record_bytes = 64u << 20;
}

void fw_load_result_clear(fw_load_result *r) { memset(r, 0, sizeof *r); }

void fw_load_result_reject(fw_load_result *r, uint64_t line, const char *msg) {
    if (r->n_kept < FW_LOAD_MAX_REJECTS) {
        r->kept[r->n_kept].line = line;
        snprintf(r->kept[r->n_kept].msg, sizeof r->kept[0].msg, "%s", msg);
        r->n_kept++;
    }
    r->rejected++;
}

/* ---- tokenizer ------------------------------------------------------------------------------- */

typedef struct field {
    char *p;        /* content (inside the quotes for a quoted field) */
    size_t len;
    bool quoted;
    bool esc;       /* holds doubled quotes still to be collapsed */
} field;

typedef struct rec {
    field *f;
    size_t n, cap;
    char *start, *end;      /* raw bytes [start, end), end is past the terminator */
    uint64_t extra_lines;   /* newlines inside quoted fields */
    bool blank;             /* an empty line */
} rec;

enum { TOK_OK = 0, TOK_MORE = 1, TOK_ERR = 2 };
enum { TE_UNTERMINATED = 1, TE_AFTER_QUOTE, TE_FIELD_LONG, TE_NOMEM };

typedef struct tok_err {
    int kind;
    char *at;       /* where: the opening quote, the stray byte, the field start */
} tok_err;

static size_t count_nl(const char *p, const char *end) {
    size_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Tokenizes one record starting at p. eof says whether bytes past `end` may still come. */
static int tok_record(char delim, size_t max_field, bool eof, char *p, char *end, rec *r,
                      tok_err *te) {
    r->n = 0;
    r->start = p;
    r->extra_lines = 0;
    r->blank = false;
    char *q = p;
    for (;;) {
        if (r->n == r->cap) {
            size_t cap = r->cap;
            if (FW_GROW(&r->f, &cap, r->n + 1)) {
                te->kind = TE_NOMEM;
                te->at = q;
                return TOK_ERR;
            }
            r->cap = cap;
        }
        field *f = &r->f[r->n];
        if (q < end && *q == '"') {
            char *open = q;
            bool esc = false;
            q++;
            char *close;
            for (;;) {
                char *c = memchr(q, '"', (size_t)(end - q));
                if (!c) {
                    if (!eof) return TOK_MORE;
                    te->kind = TE_UNTERMINATED;
                    te->at = open;
                    return TOK_ERR;
                }
                if (c + 1 == end && !eof) return TOK_MORE;
                if (c + 1 < end && c[1] == '"') {
                    esc = true;
                    q = c + 2;
                    continue;
                }
                close = c;
                q = c + 1;
                break;
            }
            f->p = open + 1;
            f->len = (size_t)(close - open - 1);
            f->quoted = true;
            f->esc = esc;
            r->extra_lines += count_nl(f->p, close);
            if (q < end && *q == '\r' && (q + 1 < end || !eof) && (q + 1 == end || q[1] == '\n')) {
                if (q + 1 == end) return TOK_MORE;
                q++; /* CR before LF */
            }
            if (q < end && *q != delim && *q != '\n') {
                te->kind = TE_AFTER_QUOTE;
                te->at = q;
                return TOK_ERR;
            }
        } else {
            char *s = q;
            while (q < end && *q != delim && *q != '\n') q++;
            f->p = s;
            f->len = (size_t)(q - s);
            f->quoted = false;
            f->esc = false;
            if (q < end && *q == '\n' && f->len && s[f->len - 1] == '\r') f->len--;
            if (q == end && eof && f->len && s[f->len - 1] == '\r') f->len--;
        }
        if (f->len > max_field) {
            te->kind = TE_FIELD_LONG;
            te->at = f->p;
            return TOK_ERR;
        }
        r->n++;
        if (q == end) {
            if (!eof) return TOK_MORE;
            r->end = q;
            break;
        }
        if (*q == delim) {
            q++;
            continue;
        }
        /* *q == '\n' */
        r->end = q + 1;
        break;
    }
    r->blank = r->n == 1 && !r->f[0].quoted && r->f[0].len == 0;
    return TOK_OK;
}

/* Collapses doubled quotes of a quoted field in place. */
static void unescape(field *f) {
    char *w = f->p, *rd = f->p, *e = f->p + f->len;
    while (rd < e) {
        char c = *rd++;
        *w++ = c;
        if (c == '"' && rd < e && *rd == '"') rd++;
    }
    f->len = (size_t)(w - f->p);
    f->esc = false;
}

/* ---- validation ------------------------------------------------------------------------------ */

enum { BAD_NONE = 0, BAD_NUL, BAD_UTF8 };

/* First NUL byte or invalid UTF-8 sequence in [p, end), or end. */
static const char *find_invalid(const char *p, const char *end, int *kind) {
    const unsigned char *s = (const unsigned char *)p, *e = (const unsigned char *)end;
    *kind = BAD_NONE;
    while (s < e) {
        if (e - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            uint64_t hi = w & 0x8080808080808080ull;
            uint64_t zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
            if (!(hi | zero)) {
                s += 8;
                continue;
            }
        }
        unsigned c = *s;
        if (c == 0) {
            *kind = BAD_NUL;
            return (const char *)s;
        }
        if (c < 0x80) {
            s++;
            continue;
        }
        int n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            *kind = BAD_UTF8;
            return (const char *)s;
        }
        if (e - s <= n) {
            *kind = BAD_UTF8;
            return (const char *)s;
        }
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) {
                *kind = BAD_UTF8;
                return (const char *)s;
            }
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            *kind = BAD_UTF8;
            return (const char *)s;
        }
        s += n + 1;
    }
    return end;
}

/* ---- shared parse context and per-chunk output ----------------------------------------------- */

typedef struct pctx {
    const char *name;
    char delim;
    size_t max_field;
    const char *const *missing;
    size_t n_missing;
    const fw_schema *schema;
    const int *map;          /* file field index → schema column, or -1 (ignored) */
    size_t n_fields;         /* fields per record in the file */
    size_t sample_rows;
    bool skip_bad;
    char *buf_start;         /* start of the buffer: bound for the backwards column scan */
} pctx;

typedef struct rej_entry {
    uint64_t line;           /* chunk-relative until merged */
    uint32_t col;
    char body[FW__BODY_MAX];
} rej_entry;

typedef struct chunk {
    char *begin, *end;
    bool eof;
    size_t budget;           /* most rows to produce */
    /* out */
    char *stop;              /* where parsing stopped (start of the first unparsed record) */
    uint64_t lines;          /* physical lines consumed up to stop */
    size_t n_rows, cap_rows;
    size_t off;              /* first output row in the dataset's columns */
    double **num;            /* per schema column: views into the dataset at off (not owned) */
    int32_t **code;          /* chunk-local dictionary codes, remapped at merge */
    fw_dict *dict;
    uint64_t *row_line;      /* chunk-relative line of each row */
    size_t n_rejected, n_rej;
    rej_entry *rej;          /* all rejects (stream) or the first FW_LOAD_MAX_REJECTS (load) */
    size_t cap_rej;
    bool keep_all_rejects;
    bool fatal;
    fw_status fst;
    rej_entry ferr;
    rec r;
    double *tmp;
    /* Numeric values of the last tile_n committed rows, row-major (CSV_TILE x n_cols): written to
     * the columns a tile at a time, so a wide file does not store every row into n_cols distant
     * column arrays (one cache line and TLB entry per value). */
    double *tile;
    size_t tile_n, n_cols;
} chunk;

#define CSV_TILE 64

static void chunk_free(chunk *c, size_t n_cols) {
    for (size_t j = 0; j < n_cols; j++) {
        if (c->dict) fw_dict_free(&c->dict[j]);
    }
    fw_free(c->num);
    fw_free(c->code);
    fw_free(c->dict);
    fw_free(c->row_line);
    fw_free(c->rej);
    fw_free(c->r.f);
    fw_free(c->tmp);
    fw_free(c->tile);
    memset(c, 0, sizeof *c);
}

static fw_status chunk_init(chunk *c, size_t n_cols) {
    memset(c, 0, sizeof *c);
    c->num = fw_calloc(n_cols ? n_cols : 1, sizeof *c->num);
    c->code = fw_calloc(n_cols ? n_cols : 1, sizeof *c->code);
    c->dict = fw_calloc(n_cols ? n_cols : 1, sizeof *c->dict);
    c->tmp = fw_calloc(n_cols ? n_cols : 1, sizeof *c->tmp);
    c->tile = fw_malloc((n_cols ? n_cols : 1) * CSV_TILE * sizeof *c->tile);
    c->n_cols = n_cols;
    if (!c->num || !c->code || !c->dict || !c->tmp || !c->tile) return FW_ENOMEM;
    for (size_t j = 0; j < n_cols; j++) fw_dict_init(&c->dict[j]);
    return FW_OK;
}

/* Empties the chunk's rows and dictionaries, keeping capacity. */
static void chunk_reset(chunk *c, size_t n_cols) {
    c->n_rows = 0;
    c->n_rejected = c->n_rej = 0;
    c->fatal = false;
    c->fst = FW_OK;
    c->lines = 0;
    for (size_t j = 0; j < n_cols; j++)
        if (fw_dict_size(&c->dict[j])) {
            fw_dict_free(&c->dict[j]);
            fw_dict_init(&c->dict[j]);
        }
}

static bool is_num_type(fw_col_type t) { return t == FW_COL_NUMERIC || t == FW_COL_TIMESTAMP; }

/* Room for `need` row lines (the column data lives in the dataset). */
static fw_status chunk_grow(chunk *c, size_t need) {
    if (need <= c->cap_rows) return FW_OK;
    size_t cap = c->cap_rows ? c->cap_rows : 1024;
    while (cap < need) cap *= 2;
    uint64_t *l = fw_realloc(c->row_line, cap * sizeof *l);
    if (!l) return FW_ENOMEM;
    c->row_line = l;
    c->cap_rows = cap;
    return FW_OK;
}

/* Line (chunk-relative) and byte column of position at, inside record r starting at line rl. */
static void locate(const pctx *x, const rec *r, uint64_t rl, const char *at, uint64_t *line,
                   uint32_t *col) {
    *line = rl + count_nl(r->start, at);
    const char *ls = at;
    while (ls > x->buf_start && ls[-1] != '\n') ls--;
    size_t cl = (size_t)(at - ls) + 1;
    *col = cl > UINT32_MAX ? UINT32_MAX : (uint32_t)cl;
}

static void set_entry(rej_entry *e, uint64_t line, uint32_t col, const char *fmt, va_list ap) {
    e->line = line;
    e->col = col;
    vsnprintf(e->body, sizeof e->body, fmt, ap);
}

static void chunk_fatal(chunk *c, fw_status st, uint64_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void chunk_fatal(chunk *c, fw_status st, uint64_t line, uint32_t col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_entry(&c->ferr, line, col, fmt, ap);
    va_end(ap);
    c->fatal = true;
    c->fst = st;
}

/* A bad row: fatal unless skipping, in which case it is counted (and kept). */
static void chunk_badrow(chunk *c, const pctx *x, fw_status st, uint64_t line, uint32_t col,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void chunk_badrow(chunk *c, const pctx *x, fw_status st, uint64_t line, uint32_t col,
                         const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!x->skip_bad) {
        set_entry(&c->ferr, line, col, fmt, ap);
        c->fatal = true;
        c->fst = st;
    } else {
        c->n_rejected++;
        size_t lim = c->keep_all_rejects ? SIZE_MAX : FW_LOAD_MAX_REJECTS;
        if (c->n_rej < lim) {
            if (c->n_rej == c->cap_rej) {
                size_t cap = c->cap_rej;
                if (FW_GROW(&c->rej, &cap, c->n_rej + 1)) {
                    va_end(ap);
                    c->fatal = true;
                    c->fst = FW_ENOMEM;
                    snprintf(c->ferr.body, sizeof c->ferr.body, "out of memory");
                    return;
                }
                c->cap_rej = cap;
            }
            set_entry(&c->rej[c->n_rej++], line, col, fmt, ap);
        }
    }
    va_end(ap);
}

/* Shows at most 40 bytes of a bad value (never splitting inside a UTF-8 sequence badly matters
 * little: messages are for people). */
static int show_len(size_t len) { return len > 40 ? 40 : (int)len; }

/* Parses records of [c->begin, c->end) into typed columns. */
/* Writes the staged tile of numeric values into the columns (rows n_rows - tile_n .. n_rows). */
static void tile_flush(const pctx *x, chunk *c) {
    const fw_schema *s = x->schema;
    size_t n = c->tile_n, row0 = c->n_rows - n, nc = c->n_cols;
    for (size_t j = 0; j < nc && n; j++) {
        if (!is_num_type(s->types[j]) || !c->num[j]) continue;
        double *dst = c->num[j] + row0;
        const double *src = c->tile + j;
        for (size_t t = 0; t < n; t++) dst[t] = src[t * nc];
    }
    c->tile_n = 0;
}

static void chunk_parse_rows(const pctx *x, chunk *c);

static void chunk_parse(const pctx *x, chunk *c) {
    c->tile_n = 0;
    chunk_parse_rows(x, c);
    tile_flush(x, c);
}

static void chunk_parse_rows(const pctx *x, chunk *c) {
    const fw_schema *s = x->schema;
    char *p = c->begin, *end = c->end;
    uint64_t line = 0;
    int bad_kind;
    const char *bad = find_invalid(p, end, &bad_kind);
    c->stop = p;
    while (p < end && c->n_rows < c->budget) {
        tok_err te;
        int t = tok_record(x->delim, x->max_field, c->eof, p, end, &c->r, &te);
        if (t == TOK_MORE) break;
        if (t == TOK_ERR) {
            uint64_t l;
            uint32_t col;
            locate(x, &c->r, line, te.at, &l, &col);
            if (te.kind == TE_NOMEM)
                chunk_fatal(c, FW_ENOMEM, l, col, "out of memory");
            else if (te.kind == TE_UNTERMINATED)
                chunk_fatal(c, FW_EPARSE, l, col,
                            "unterminated quoted field (the quote opened here is never closed)");
            else if (te.kind == TE_AFTER_QUOTE)
                chunk_fatal(c, FW_EPARSE, l, col,
                            "unexpected character '%c' after a closing quote (a quote inside a "
                            "field must be doubled)",
                            (unsigned char)*te.at >= 32 && (unsigned char)*te.at < 127 ? *te.at : '?');
            else
                chunk_fatal(c, FW_ELIMIT, l, col, "field longer than the limit (%zu bytes)",
                            x->max_field);
            return;
        }
        rec *r = &c->r;
        uint64_t rl = line;
        line += r->extra_lines + (r->end[-1] == '\n' ? 1 : 0);
        p = r->end;
        c->stop = p;
        c->lines = line;
        if ((const char *)bad < r->end) {
            uint64_t l;
            uint32_t col;
            locate(x, r, rl, bad, &l, &col);
            if (bad_kind == BAD_NUL) {
                chunk_fatal(c, FW_EDATA, l, col, "NUL byte: this looks like a binary file, not CSV");
                return;
            }
            unsigned bb = (unsigned char)*bad;
            bad = find_invalid(r->end, end, &bad_kind);
            chunk_badrow(c, x, FW_EPARSE, l, col, "invalid UTF-8 (byte 0x%02X)", bb);
            if (c->fatal) return;
            continue;
        }
        if (r->blank) continue;
        if (r->n != x->n_fields) {
            uint64_t l;
            uint32_t col;
            const char *at = r->n > x->n_fields ? r->f[x->n_fields].p - (r->f[x->n_fields].quoted ? 1 : 0)
                                                : r->f[r->n - 1].p + r->f[r->n - 1].len;
            locate(x, r, rl, at, &l, &col);
            chunk_badrow(c, x, FW_EPARSE, l, col, "expected %zu fields, got %zu", x->n_fields,
                         r->n);
            if (c->fatal) return;
            continue;
        }
        /* Phase 1: parse and check every typed value. */
        bool ok = true;
        for (size_t i = 0; i < r->n; i++) {
            int j = x->map[i];
            if (j < 0) continue;
            field *f = &r->f[i];
            if (f->esc) unescape(f);
            fw_col_type ty = s->types[j];
            if (!is_num_type(ty)) continue;
            double v;
            if (f->len == 0) {
                v = NAN;
            } else if (ty == FW_COL_NUMERIC ? fw_parse_number(f->p, f->len, &v, NULL)
                                             : fw_parse_timestamp(f->p, f->len, &v)) {
            } else if (fw_is_missing(f->p, f->len, x->missing, x->n_missing)) {
                v = NAN;
            } else {
                uint64_t l;
                uint32_t col;
                locate(x, r, rl, f->p - (f->quoted ? 1 : 0), &l, &col);
                if (ty == FW_COL_NUMERIC)
                    chunk_badrow(c, x, FW_ESCHEMA, l, col,
                                 "column '%s': expected a number, got '%.*s'%s (the type was "
                                 "inferred from the first %zu rows; declare the column's type, "
                                 "e.g. %s=categorical, to override)",
                                 s->names[j], show_len(f->len), f->p, f->len > 40 ? "..." : "",
                                 x->sample_rows, s->names[j]);
                else
                    chunk_badrow(c, x, FW_ESCHEMA, l, col,
                                 "column '%s': expected an ISO 8601 date/time, got '%.*s'%s",
                                 s->names[j], show_len(f->len), f->p, f->len > 40 ? "..." : "");
                ok = false;
                break;
            }
            c->tmp[j] = v;
        }
        if (c->fatal) return;
        if (!ok) continue;
        /* Phase 2: commit. */
        size_t row = c->n_rows;
        double *staged = c->tile + c->tile_n * c->n_cols;
        for (size_t i = 0; i < r->n; i++) {
            int j = x->map[i];
            if (j < 0) continue;
            field *f = &r->f[i];
            if (is_num_type(s->types[j])) {
                staged[j] = c->tmp[j];
            } else if (fw_is_missing(f->p, f->len, x->missing, x->n_missing)) {
                c->code[j][row] = -1;
            } else {
                int32_t code = fw_dict_intern(&c->dict[j], f->p, f->len);
                if (code < 0) {
                    chunk_fatal(c, FW_ENOMEM, rl, 1, "out of memory");
                    return;
                }
                c->code[j][row] = code;
            }
        }
        c->row_line[row] = rl;
        c->n_rows++;
        if (++c->tile_n == CSV_TILE) tile_flush(x, c);
    }
}

static void chunk_main(void *ctx, int thread, size_t begin, size_t end);

/* ---- the reader state shared by load and stream ---------------------------------------------- */

typedef struct csv_state {
    fw_source *src;
    bool own_src;
    fw_load_opts o;
    char *buf;
    size_t cap, len, pos;
    bool eof;
    uint64_t line;           /* physical line number of buf[pos] */
    uint64_t bytes;          /* bytes read so far: the file offset of buf[len] */
    uint64_t limit;          /* a range load reads no byte at or past this offset (0: no limit) */
    fw_schema schema;
    int *map;
    size_t n_fields;
    pctx x;
    chunk ch[FW__MAX_CHUNKS];
    int n_ch;                /* chunks initialised */
    size_t body_start;       /* bytes before the first data row (header, BOM) */
    size_t sampled_rows, sampled_bytes;
} csv_state;

typedef struct par_job {
    const pctx *x;
    chunk *ch;
} par_job;

static void chunk_main(void *ctx, int thread, size_t begin, size_t end) {
    par_job *j = ctx;
    for (size_t k = begin; k < end; k++) chunk_parse(j->x, &j->ch[k]);
}

static fw_status errf(fw_err *err, fw_status st, const char *name, uint64_t line, uint32_t col,
                      const char *body) {
    return fw_err_set(err, st, "%s:%llu:%u: %s", name, (unsigned long long)line, col, body);
}

/* Moves unread bytes to the front and reads until the buffer is full or the stream ends. */
static fw_status fill(csv_state *cs, fw_err *err) {
    if (cs->pos) {
        memmove(cs->buf, cs->buf + cs->pos, cs->len - cs->pos);
        cs->len -= cs->pos;
        cs->pos = 0;
    }
    if (cs->eof || cs->len == cs->cap) return FW_OK;
    size_t got = 0, room = cs->cap - cs->len;
    if (cs->limit && room > cs->limit - cs->bytes) room = (size_t)(cs->limit - cs->bytes);
    fw_status st = room ? fw_source_read_full(cs->src, cs->buf + cs->len, room, &got, err) : FW_OK;
    if (st) return st;
    cs->len += got;
    cs->bytes += got;
    if (got < room || (cs->limit && cs->bytes >= cs->limit)) cs->eof = true;
    return FW_OK;
}

/* Doubles the buffer (for a record that does not fit), up to max_record_bytes + block. */
static fw_status grow_buf(csv_state *cs, fw_err *err) {
    size_t ncap = cs->cap * 2;
    char *nb = fw_realloc(cs->buf, ncap + 1);
    if (!nb) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", fw_source_name(cs->src));
    cs->buf = nb;
    cs->cap = ncap;
    return FW_OK;
}

static fw_status too_long(csv_state *cs, fw_err *err) {
    return fw_err_set(err, FW_ELIMIT,
                      "%s:%llu:1: line longer than the limit (%zu bytes, max_record_bytes)",
                      fw_source_name(cs->src), (unsigned long long)cs->line,
                      cs->o.max_record_bytes);
}

/* Tokenizes the next record from pos, reading more as needed. *got = false at the end. */
static fw_status next_raw(csv_state *cs, rec *r, bool *got, fw_err *err) {
    for (;;) {
        tok_err te;
        int t = cs->pos < cs->len || cs->eof
                    ? tok_record(cs->o.delimiter, cs->o.max_field_bytes, cs->eof, cs->buf + cs->pos,
                                 cs->buf + cs->len, r, &te)
                    : TOK_MORE;
        if (cs->pos == cs->len && cs->eof) {
            *got = false;
            return FW_OK;
        }
        if (t == TOK_OK) {
            *got = true;
            return FW_OK;
        }
        if (t == TOK_ERR) {
            const char *name = fw_source_name(cs->src);
            uint64_t l = cs->line + count_nl(cs->buf + cs->pos, te.at);
            const char *ls = te.at;
            while (ls > cs->buf && ls[-1] != '\n') ls--;
            uint32_t col = (uint32_t)(te.at - ls + 1);
            if (te.kind == TE_NOMEM) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            if (te.kind == TE_UNTERMINATED)
                return errf(err, FW_EPARSE, name, l, col,
                            "unterminated quoted field (the quote opened here is never closed)");
            if (te.kind == TE_AFTER_QUOTE)
                return errf(err, FW_EPARSE, name, l, col,
                            "unexpected character after a closing quote (a quote inside a field "
                            "must be doubled)");
            return errf(err, FW_ELIMIT, name, l, col, "field longer than the limit");
        }
        /* TOK_MORE */
        if (cs->len - cs->pos >= cs->o.max_record_bytes) return too_long(cs, err);
        if (cs->pos == 0 && cs->len == cs->cap) {
            fw_status st = grow_buf(cs, err);
            if (st) return st;
        }
        fw_status st = fill(cs, err);
        if (st) return st;
    }
}

static void state_free(csv_state *cs) {
    for (int k = 0; k < cs->n_ch; k++) chunk_free(&cs->ch[k], cs->schema.n);
    fw_schema_free(&cs->schema);
    fw_free(cs->map);
    fw_free(cs->buf);
    if (cs->own_src) fw_source_close(cs->src);
}

/* Reads the header, then the schema: given (mapped by name) or inferred from a sample. */
static fw_status open_state(csv_state *cs, const fw_load_opts *opts, const fw_schema *given,
                            fw_err *err) {
    const char *name = fw_source_name(cs->src);
    if (opts)
        cs->o = *opts;
    else
        fw_load_opts_init(&cs->o);
    if (!cs->o.block_bytes) cs->o.block_bytes = FW__DEF_BLOCK;
    if (!cs->o.sample_rows) cs->o.sample_rows = 1;
    if (!cs->o.max_field_bytes) cs->o.max_field_bytes = 16u << 20;
    if (!cs->o.max_record_bytes) cs->o.max_record_bytes = 64u << 20;
    if (!cs->o.missing) {
        cs->o.missing = fw_default_missing;
        cs->o.n_missing = fw_default_n_missing;
    }
    if (cs->o.delimiter == '"' || cs->o.delimiter == '\n' || cs->o.delimiter == '\r' ||
        cs->o.delimiter == 0)
        return fw_err_set(err, FW_EINVAL, "%s: invalid delimiter", name);
    cs->cap = cs->o.block_bytes < 64 ? 64 : cs->o.block_bytes;
    cs->buf = fw_malloc(cs->cap + 1);
    if (!cs->buf) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
    cs->line = 1;
    fw_status st = fill(cs, err);
    if (st) return st;
    /* BOM */
    if (cs->len >= 3 && memcmp(cs->buf, "\xEF\xBB\xBF", 3) == 0) cs->pos = 3;
    /* Header: skip leading blank lines. */
    rec hdr = {0};
    bool got = false;
    for (;;) {
        st = next_raw(cs, &hdr, &got, err);
        if (st || !got || !hdr.blank) break;
        cs->line += 1;
        cs->pos = (size_t)(hdr.end - cs->buf);
    }
    if (st) {
        fw_free(hdr.f);
        return st;
    }
    if (!got) {
        fw_free(hdr.f);
        return fw_err_set(err, FW_EDATA, "%s:1:1: empty file (no header row)", name);
    }
    int bk;
    const char *bad = find_invalid(hdr.start, hdr.end, &bk);
    if (bk) {
        const char *ls = bad;
        while (ls > cs->buf && ls[-1] != '\n') ls--;
        uint64_t l = cs->line + count_nl(hdr.start, bad);
        fw_free(hdr.f);
        if (bk == BAD_NUL)
            return errf(err, FW_EDATA, name, l, (uint32_t)(bad - ls + 1),
                        "NUL byte: this looks like a binary file, not CSV");
        return errf(err, FW_EPARSE, name, l, (uint32_t)(bad - ls + 1), "invalid UTF-8 in the header");
    }
    size_t nf = hdr.n;
    char **names = fw_calloc(nf, sizeof *names);
    if (!names) {
        fw_free(hdr.f);
        return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
    }
    st = FW_OK;
    for (size_t i = 0; i < nf && !st; i++) {
        field *f = &hdr.f[i];
        char *raw = f->p - (f->quoted ? 1 : 0);
        const char *ls = raw;
        while (ls > cs->buf && ls[-1] != '\n') ls--;
        uint32_t col = (uint32_t)(raw - ls + 1);
        uint64_t l = cs->line + count_nl(hdr.start, raw);
        names[i] = fw_malloc(f->len + 1);
        if (!names[i]) {
            st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            break;
        }
        /* unescape into the copy (the buffer must stay intact for re-reading) */
        size_t w = 0;
        for (size_t k = 0; k < f->len; k++) {
            names[i][w++] = f->p[k];
            if (f->esc && f->p[k] == '"' && k + 1 < f->len && f->p[k + 1] == '"') k++;
        }
        names[i][w] = 0;
        if (w == 0) {
            char body[96];
            snprintf(body, sizeof body, "header: column %zu has an empty name", i + 1);
            st = errf(err, FW_EPARSE, name, l, col, body);
        }
        for (size_t k = 0; k < i && !st; k++)
            if (strcmp(names[k], names[i]) == 0) {
                char body[FW__BODY_MAX];
                snprintf(body, sizeof body, "header: duplicate column name '%.200s' (also column %zu)",
                         names[i], k + 1);
                st = errf(err, FW_EPARSE, name, l, col, body);
            }
    }
    uint64_t hdr_lines = 1 + hdr.extra_lines;
    size_t hdr_end = (size_t)(hdr.end - cs->buf);
    fw_free(hdr.f);
    if (!st) {
        cs->n_fields = nf;
        cs->map = fw_malloc(nf * sizeof *cs->map);
        if (!cs->map) st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
    }
    if (!st && given) {
        st = fw_schema_copy(&cs->schema, given);
        if (st) fw_err_set(err, st, "%s: out of memory", name);
        for (size_t i = 0; i < nf && !st; i++)
            cs->map[i] = fw_schema_find(&cs->schema, names[i], strlen(names[i]));
        for (size_t j = 0; j < cs->schema.n && !st; j++) {
            bool found = false;
            for (size_t i = 0; i < nf; i++) found |= cs->map[i] == (int)j;
            if (!found)
                st = fw_err_set(err, FW_ESCHEMA,
                                "%s:1: column '%s' required by the schema is missing from the header",
                                name, cs->schema.names[j]);
        }
    } else if (!st) {
        st = fw_schema_init(&cs->schema, nf, (const char *const *)names);
        if (st) fw_err_set(err, st, "%s: out of memory", name);
        for (size_t i = 0; i < nf; i++) cs->map[i] = (int)i;
    }
    for (size_t i = 0; i < nf; i++) fw_free(names[i]);
    fw_free(names);
    if (st) return st;
    cs->pos = hdr_end;
    cs->body_start = hdr_end;
    cs->line += hdr_lines;
    if (!given) {
        /* Sample: tokenize up to sample_rows records without consuming them. */
        size_t n = cs->schema.n;
        fw_infer_col *ic = fw_calloc(n ? n : 1, sizeof *ic);
        char *tmp = NULL;
        size_t tmp_cap = 0;
        if (!ic) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
        for (size_t j = 0; j < n; j++) fw_infer_col_init(&ic[j]);
        rec r = {0};
        size_t save_pos = cs->pos;
        uint64_t save_line = cs->line;
        size_t rows = 0;
        /* sampling never holds more than max_record_bytes (or 64 MiB) of text */
        size_t sample_limit = cs->o.max_record_bytes < (64u << 20) ? cs->o.max_record_bytes : (64u << 20);
        while (rows < cs->o.sample_rows && !(cs->pos == cs->len && cs->eof)) {
            tok_err te;
            int t = tok_record(cs->o.delimiter, cs->o.max_field_bytes, cs->eof, cs->buf + cs->pos,
                               cs->buf + cs->len, &r, &te);
            if (t == TOK_ERR) { /* the main pass reports it with its position */
                if (te.kind == TE_NOMEM) st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                break;
            }
            if (t == TOK_MORE) {
                if (cs->eof || cs->cap >= sample_limit) break;
                /* keep the sampled bytes: grow rather than compact past them */
                size_t keep = save_pos;
                memmove(cs->buf, cs->buf + keep, cs->len - keep);
                cs->len -= keep;
                cs->pos -= keep;
                save_pos = 0;
                if (cs->len == cs->cap && (st = grow_buf(cs, err))) break;
                size_t keep_pos = cs->pos;
                cs->pos = 0;
                st = fill(cs, err);
                cs->pos = keep_pos;
                if (st) break;
                continue;
            }
            cs->pos = (size_t)(r.end - cs->buf);
            cs->sampled_bytes += (size_t)(r.end - r.start);
            if (r.blank || r.n != nf) continue;
            if (find_invalid(r.start, r.end, &bk) != r.end) continue;
            rows++;
            cs->sampled_rows++;
            for (size_t i = 0; i < r.n && !st; i++) {
                field *f = &r.f[i];
                const char *v = f->p;
                size_t vl = f->len;
                if (f->esc) {
                    if (vl > tmp_cap) {
                        char *t2 = fw_realloc(tmp, vl);
                        if (!t2) {
                            st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                            break;
                        }
                        tmp = t2;
                        tmp_cap = vl;
                    }
                    size_t w = 0;
                    for (size_t k = 0; k < vl; k++) {
                        tmp[w++] = v[k];
                        if (v[k] == '"' && k + 1 < vl && v[k + 1] == '"') k++;
                    }
                    v = tmp;
                    vl = w;
                }
                if (fw_is_missing(v, vl, cs->o.missing, cs->o.n_missing)) continue;
                if (fw_infer_col_text(&ic[i], v, vl))
                    st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            }
            if (st) break;
        }
        cs->pos = save_pos;
        cs->line = save_line;
        for (size_t j = 0; j < n; j++) {
            cs->schema.types[j] = fw_infer_col_type(&ic[j], &cs->schema.is_integer[j]);
            fw_infer_col_free(&ic[j]);
        }
        fw_free(ic);
        fw_free(tmp);
        fw_free(r.f);
        if (st) return st;
        st = fw_schema_apply_overrides(&cs->schema, cs->o.overrides, cs->o.n_overrides, name, err);
        if (st) return st;
    }
    cs->x = (pctx){.name = name,
                   .delim = cs->o.delimiter,
                   .max_field = cs->o.max_field_bytes,
                   .missing = cs->o.missing,
                   .n_missing = cs->o.n_missing,
                   .schema = &cs->schema,
                   .map = cs->map,
                   .n_fields = cs->n_fields,
                   .sample_rows = cs->o.sample_rows,
                   .skip_bad = cs->o.skip_bad_rows};
    return FW_OK;
}

/* A range load (fw_load_opts.range_end > 0), after the header and the sample: moves to the range's
 * first record (reading nothing before it past what the sample read) and makes the range's end the
 * end of the input. Sets *body to the bytes the range holds. */
static fw_status enter_range(csv_state *cs, uint64_t *body, fw_err *err) {
    uint64_t base = cs->bytes - cs->len; /* the file offset of buf[0] */
    uint64_t first = base + cs->pos;     /* the first data record */
    uint64_t b = cs->o.range_begin, e = cs->o.range_end;
    if (e < first) e = first;
    if (b > e) b = e;
    if (b > first) {
        if (b <= cs->bytes) {
            cs->pos = (size_t)(b - base);
        } else {
            fw_status st = fw_source_seek(cs->src, b, err);
            if (st) return st;
            cs->pos = cs->len = 0;
            cs->bytes = b;
            cs->eof = false;
        }
        cs->line = cs->o.range_line;
        first = b;
    }
    if (cs->bytes > e) { /* the sample read past the range: forget those bytes */
        cs->len -= (size_t)(cs->bytes - e);
        cs->bytes = e;
    }
    cs->limit = e;
    if (cs->bytes >= e) cs->eof = true;
    *body = e - first;
    return FW_OK;
}

static fw_status ensure_chunks(csv_state *cs, int n, fw_err *err) {
    while (cs->n_ch < n) {
        if (chunk_init(&cs->ch[cs->n_ch], cs->schema.n)) {
            chunk_free(&cs->ch[cs->n_ch], cs->schema.n);
            return fw_err_set(err, FW_ENOMEM, "%s: out of memory", cs->x.name);
        }
        cs->n_ch++;
    }
    return FW_OK;
}

/* Grows ds to cap rows and asks for transparent huge pages on its column arrays: the loader's
 * output is written once, column by column, and 4 KiB page faults would otherwise cost a
 * quarter of the load time. */
static fw_status reserve_rows(fw_dataset *ds, size_t cap) {
    if (fw_dataset_reserve(ds, cap)) return FW_ENOMEM;
#ifdef MADV_HUGEPAGE
    const uintptr_t hp = (uintptr_t)2 << 20;
    for (size_t j = 0; j < ds->n_cols; j++) {
        fw_column *col = &ds->cols[j];
        uintptr_t a = col->num ? (uintptr_t)col->num : (uintptr_t)col->code;
        size_t bytes = cap * (col->num ? sizeof(double) : sizeof(int32_t));
        uintptr_t b = (a + hp - 1) & ~(hp - 1), e = (a + bytes) & ~(hp - 1);
        if (e > b) (void)madvise((void *)b, e - b, MADV_HUGEPAGE);
    }
#endif
    return FW_OK;
}

/* Parses what the buffer holds from pos with up to n_threads chunks, each producing at most
 * budget rows, written straight into ds's columns (capacity *cap_rows, grown here) from row
 * ds->n_rows on: each chunk gets room for as many rows as its range holds newlines (+1), so the
 * chunks never collide; merge_chunk closes the gaps blank or rejected lines leave. Sets the
 * chunks' base lines in *base (absolute line of each chunk start). Returns the chunk count, or
 * -1 when out of memory. */
static int run_chunks(csv_state *cs, fw_dataset *ds, size_t *cap_rows, int n_threads,
                      size_t budget, uint64_t *base) {
    char *begin = cs->buf + cs->pos, *end = cs->buf + cs->len;
    size_t size = (size_t)(end - begin);
    int n = n_threads;
    if (n > FW__MAX_CHUNKS) n = FW__MAX_CHUNKS;
    if (size < (256u << 10) || memchr(begin, '"', size)) n = 1;
    char *cuts[FW__MAX_CHUNKS + 1];
    cuts[0] = begin;
    int k = 1;
    for (int t = 1; t < n; t++) {
        char *m = begin + size * (size_t)t / (size_t)n;
        if (m < cuts[k - 1]) m = cuts[k - 1];
        char *nl = memchr(m, '\n', (size_t)(end - m));
        if (!nl || nl + 1 >= end) break;
        cuts[k++] = nl + 1;
    }
    cuts[k] = end;
    n = k;
    cs->x.buf_start = cs->buf;
    size_t off = ds->n_rows;
    for (int t = 0; t < n; t++) {
        chunk *c = &cs->ch[t];
        chunk_reset(c, cs->schema.n);
        c->begin = cuts[t];
        c->end = cuts[t + 1];
        c->eof = t < n - 1 ? true : cs->eof;
        size_t bound = count_nl(c->begin, c->end) + 1;
        c->budget = bound < budget ? bound : budget;
        c->off = off;
        off += c->budget;
        if (chunk_grow(c, c->budget)) return -1;
    }
    if (off > *cap_rows) {
        size_t cap = *cap_rows ? *cap_rows : 1024;
        while (cap < off) cap *= 2;
        if (reserve_rows(ds, cap)) return -1;
        *cap_rows = cap;
    }
    for (int t = 0; t < n; t++) {
        chunk *c = &cs->ch[t];
        for (size_t j = 0; j < cs->schema.n; j++) {
            fw_column *col = &ds->cols[j];
            c->num[j] = col->num ? col->num + c->off : NULL;
            c->code[j] = col->code ? col->code + c->off : NULL;
        }
    }
    par_job job = {&cs->x, cs->ch};
    fw_parallel_for(n, (size_t)n, chunk_main, &job);
    base[0] = cs->line;
    for (int t = 1; t < n; t++) base[t] = base[t - 1] + cs->ch[t - 1].lines;
    return n;
}

/* Makes chunk c's first `take` rows (already in ds's columns at c->off) rows ds->n_rows.. of ds:
 * closes the gap before them and maps its dictionary codes to ds's dictionaries, interning the
 * chunk's strings in first-appearance order (so codes do not depend on the thread count). */
static fw_status merge_chunk(fw_dataset *ds, const fw_schema *s, chunk *c, size_t take) {
    size_t n0 = ds->n_rows;
    for (size_t j = 0; j < s->n; j++) {
        fw_column *col = &ds->cols[j];
        if (is_num_type(s->types[j])) {
            if (take && c->off != n0) memmove(col->num + n0, col->num + c->off, take * sizeof(double));
            continue;
        }
        int32_t *dst = col->code + n0;
        if (take && c->off != n0) memmove(dst, col->code + c->off, take * sizeof(int32_t));
        size_t nd = fw_dict_size(&c->dict[j]);
        int32_t *remap = fw_malloc((nd ? nd : 1) * sizeof *remap);
        if (!remap) return FW_ENOMEM;
        for (size_t k = 0; k < nd; k++) {
            remap[k] = fw_dict_intern(&col->dict, fw_dict_str(&c->dict[j], (int32_t)k),
                                      fw_dict_len(&c->dict[j], (int32_t)k));
            if (remap[k] < 0) {
                fw_free(remap);
                return FW_ENOMEM;
            }
        }
        for (size_t r = 0; r < take; r++) dst[r] = dst[r] < 0 ? -1 : remap[dst[r]];
        fw_free(remap);
    }
    ds->n_rows = n0 + take;
    return FW_OK;
}

static fw_status new_dataset(const fw_schema *s, const char *name, fw_dataset **out) {
    fw_status st = fw_dataset_new(s->n, (const char *const *)s->names, s->types, out);
    if (st) return st;
    (*out)->source = fw_strdup(name);
    if (!(*out)->source) {
        fw_dataset_free(*out);
        *out = NULL;
        return FW_ENOMEM;
    }
    return FW_OK;
}

fw_status fw_csv_load_source(fw_source *src, const fw_load_opts *opts, fw_dataset **out,
                             fw_load_result *res, fw_err *err) {
    *out = NULL;
    fw_load_result local;
    if (!res) res = &local;
    fw_load_result_clear(res);
    csv_state cs;
    memset(&cs, 0, sizeof cs);
    cs.src = src;
    res->gzip = fw_source_is_gzip(src);
    /* With more than one thread, gzip is inflated on a thread of its own while the chunks parse
     * (otherwise inflating each block waits for the parse and the parse for the inflate). */
    int want = opts && opts->threads > 0 ? opts->threads : fw_default_threads();
    fw_status st = want > 1 && res->gzip ? fw_source_readahead(src) : FW_OK;
    if (st) st = fw_err_set(err, st, "%s: out of memory", fw_source_name(src));
    if (!st) st = open_state(&cs, opts, NULL, err);
    uint64_t range_body = 0;
    if (!st && cs.o.range_end) st = enter_range(&cs, &range_body, err);
    fw_dataset *ds = NULL;
    const char *name = fw_source_name(src);
    if (!st && new_dataset(&cs.schema, name, &ds)) st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
    int threads = cs.o.threads > 0 ? cs.o.threads : fw_default_threads();
    if (threads > FW__MAX_CHUNKS) threads = FW__MAX_CHUNKS;
    if (!st) st = ensure_chunks(&cs, threads, err);
    size_t cap_rows = 0;
    size_t max_rows = cs.o.max_rows ? cs.o.max_rows : SIZE_MAX;
    /* Reserve once from the expected size (untouched pages of an over-estimate cost nothing). */
    size_t hint = fw_source_size_hint(src);
    double body = cs.o.range_end ? (double)range_body : (double)hint - (double)cs.body_start;
    if (!st && body > 0 && cs.sampled_rows >= 10 && cs.sampled_bytes) {
        double per_row = (double)cs.sampled_bytes / (double)cs.sampled_rows;
        double est = body / per_row * 1.05 + 1024;
        if (est > (double)max_rows) est = (double)max_rows;
        if (est < 1e9 && reserve_rows(ds, (size_t)est) == FW_OK) cap_rows = (size_t)est;
    }
    while (!st && ds->n_rows < max_rows) {
        if (cs.pos == cs.len && cs.eof) break;
        uint64_t base[FW__MAX_CHUNKS];
        int n = run_chunks(&cs, ds, &cap_rows, threads, max_rows - ds->n_rows, base);
        if (n < 0) {
            st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            break;
        }
        bool progressed = false, stop = false;
        for (int t = 0; t < n && !st && !stop; t++) {
            chunk *c = &cs.ch[t];
            for (size_t k = 0; k < c->n_rej; k++) {
                char msg[FW_ERR_MSG_MAX];
                snprintf(msg, sizeof msg, "%s:%llu:%u: %s", name,
                         (unsigned long long)(base[t] + c->rej[k].line), c->rej[k].col,
                         c->rej[k].body);
                fw_load_result_reject(res, base[t] + c->rej[k].line, msg);
            }
            res->rejected += c->n_rejected - c->n_rej;
            size_t take = c->n_rows;
            if (take > max_rows - ds->n_rows) take = max_rows - ds->n_rows;
            if (merge_chunk(ds, &cs.schema, c, take)) {
                st = fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                break;
            }
            if (c->fatal) {
                st = errf(err, c->fst, name, base[t] + c->ferr.line, c->ferr.col, c->ferr.body);
                break;
            }
            if (c->stop > c->begin) progressed = true;
            cs.pos = (size_t)(c->stop - cs.buf);
            cs.line = base[t] + c->lines;
            if (c->stop < c->end || ds->n_rows >= max_rows) stop = true;
        }
        if (st || ds->n_rows >= max_rows) break;
        if (!progressed) {
            if (cs.eof) break;
            if (cs.len - cs.pos >= cs.o.max_record_bytes) {
                st = too_long(&cs, err);
                break;
            }
            if (cs.pos == 0 && cs.len == cs.cap && (st = grow_buf(&cs, err))) break;
        }
        st = fill(&cs, err);
    }
    res->bytes = cs.o.range_end ? range_body : cs.bytes;
    state_free(&cs);
    if (st) {
        fw_dataset_free(ds);
        return st;
    }
    res->rows = ds->n_rows;
    *out = ds;
    return FW_OK;
}

fw_status fw_csv_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                      fw_load_result *res, fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open(path, &src, err);
    if (st) return st;
    st = fw_csv_load_source(src, opts, out, res, err);
    fw_source_close(src);
    return st;
}

fw_status fw_csv_load_mem(const void *data, size_t len, const char *name,
                          const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                          fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open_mem(data, len, name, &src, err);
    if (st) return st;
    st = fw_csv_load_source(src, opts, out, res, err);
    fw_source_close(src);
    return st;
}

/* ---- streaming ------------------------------------------------------------------------------- */

struct fw_csv_stream {
    csv_state cs;
};

void fw_row_block_init(fw_row_block *b) { memset(b, 0, sizeof *b); }

void fw_row_block_free(fw_row_block *b) {
    fw_dataset_free(b->ds);
    fw_free(b->lines);
    fw_free(b->rejects);
    memset(b, 0, sizeof *b);
}

static fw_status stream_open(fw_source *src, const fw_load_opts *opts, const fw_schema *schema,
                             fw_csv_stream **out, fw_err *err) {
    fw_csv_stream *s = fw_calloc(1, sizeof *s);
    if (!s) {
        fw_source_close(src);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    s->cs.src = src;
    s->cs.own_src = true;
    fw_status st = open_state(&s->cs, opts, schema, err);
    if (!st) st = ensure_chunks(&s->cs, 1, err);
    if (st) {
        fw_csv_stream_close(s);
        return st;
    }
    s->cs.x.skip_bad = true;
    s->cs.ch[0].keep_all_rejects = true;
    *out = s;
    return FW_OK;
}

fw_status fw_csv_stream_open(const char *path, const fw_load_opts *opts, const fw_schema *schema,
                             fw_csv_stream **out, fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open(path, &src, err);
    if (st) return st;
    return stream_open(src, opts, schema, out, err);
}

fw_status fw_csv_stream_open_mem(const void *data, size_t len, const char *name,
                                 const fw_load_opts *opts, const fw_schema *schema,
                                 fw_csv_stream **out, fw_err *err) {
    *out = NULL;
    fw_source *src;
    fw_status st = fw_source_open_mem(data, len, name, &src, err);
    if (st) return st;
    return stream_open(src, opts, schema, out, err);
}

const fw_schema *fw_csv_stream_schema(const fw_csv_stream *s) { return &s->cs.schema; }

fw_status fw_csv_stream_next(fw_csv_stream *s, size_t max_rows, fw_row_block *blk, fw_err *err) {
    csv_state *cs = &s->cs;
    const char *name = cs->x.name;
    if (!blk->ds && new_dataset(&cs->schema, name, &blk->ds))
        return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
    fw_dataset *ds = blk->ds;
    ds->n_rows = 0;
    for (size_t j = 0; j < ds->n_cols; j++)
        if (fw_dict_size(&ds->cols[j].dict)) {
            fw_dict_free(&ds->cols[j].dict);
            fw_dict_init(&ds->cols[j].dict);
        }
    blk->n_rejects = 0;
    if (max_rows == 0) max_rows = 1;
    while (ds->n_rows < max_rows) {
        if (cs->pos == cs->len && cs->eof) break;
        uint64_t base[1];
        size_t before = ds->n_rows;
        size_t cap = blk->cap_rows;
        if (run_chunks(cs, ds, &cap, 1, max_rows - ds->n_rows, base) < 0)
            return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
        chunk *c = &cs->ch[0];
        if (merge_chunk(ds, &cs->schema, c, c->n_rows))
            return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
        if (cap > blk->cap_rows) {
            uint64_t *l = fw_realloc(blk->lines, cap * sizeof *l);
            if (!l) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
            blk->lines = l;
            blk->cap_rows = cap;
        }
        for (size_t r = 0; r < c->n_rows; r++) blk->lines[before + r] = base[0] + c->row_line[r];
        for (size_t k = 0; k < c->n_rej; k++) {
            if (blk->n_rejects == blk->cap_rejects) {
                size_t cr = blk->cap_rejects;
                if (FW_GROW(&blk->rejects, &cr, blk->n_rejects + 1))
                    return fw_err_set(err, FW_ENOMEM, "%s: out of memory", name);
                blk->cap_rejects = cr;
            }
            fw_load_reject *rj = &blk->rejects[blk->n_rejects++];
            rj->line = base[0] + c->rej[k].line;
            snprintf(rj->msg, sizeof rj->msg, "%s:%llu:%u: %s", name, (unsigned long long)rj->line,
                     c->rej[k].col, c->rej[k].body);
        }
        if (c->fatal) return errf(err, c->fst, name, base[0] + c->ferr.line, c->ferr.col, c->ferr.body);
        bool progressed = c->stop > c->begin;
        cs->pos = (size_t)(c->stop - cs->buf);
        cs->line = base[0] + c->lines;
        if (ds->n_rows >= max_rows) break;
        if (!progressed) {
            if (cs->eof) break;
            if (cs->len - cs->pos >= cs->o.max_record_bytes) return too_long(cs, err);
            if (cs->pos == 0 && cs->len == cs->cap) {
                fw_status st = grow_buf(cs, err);
                if (st) return st;
            }
        }
        fw_status st = fill(cs, err);
        if (st) return st;
        if (blk->n_rejects && !ds->n_rows && cs->pos == cs->len && cs->eof) break;
    }
    return FW_OK;
}

void fw_csv_stream_close(fw_csv_stream *s) {
    if (!s) return;
    state_free(&s->cs);
    fw_free(s);
}
