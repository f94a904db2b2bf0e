/* log_spool.c — owns the prediction log's disk spool (log_spool.h): the record encoding, the
 * append on the log writer's thread, the SCHED_IDLE ingest thread that moves records into the
 * real sink, the drained-file truncation, and the recovery of spools left by dead processes. */
#include "serve/log_spool.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/test_hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    HDR = 32,                  /* file header bytes */
    REC_HEAD = 8,              /* u32 length + u32 checksum before each body */
    N_STRS = 12,               /* strings per body */
    BODY_FIXED = 4 + 8 + 8 + 8 + 4 + 4,
    MAX_BODY = 1 << 28,        /* larger is corruption, not a record */
    READ_CHUNK = 4 << 20,      /* bytes an ingest read brings into the window, and the most one step
                                  decodes (more for one larger record): ~3,200 of the spam example's
                                  1.3 KB records, so it cuts the default ingest_batch (4096) short;
                                  a window and step fitting 4096 changed the ingest's instructions by
                                  0.13% (callgrind, session 16): not worth 4 MiB more */
    WRAP_AT = 8 << 20,         /* a drained spool longer than this starts again after its header,
                                  over its own pages (no truncation: see live_step) */
    KEEP_MAX = 32 << 20,       /* ... and is cut back to its header when it ever grew past this (a
                                  backlog's file is not kept at its largest) */
    BUSY_RETRY_MS = 100,       /* a busy store (another process's long write) is tried again after */
    INGEST_PACE_MS = 20,       /* a batch short of ingest_batch waits until this long after the last
                                  step began: at most 50 store transactions a second */
    DIRECT_BACKOFF_MS = 1000,  /* after a direct write the store refused, the spool takes batches
                                  for at least this long */
};
static const char MAGIC[8] = {'F', 'W', 'S', 'P', 'O', 'O', 'L', '2'};    /* the header holds the end */
static const char MAGIC_V1[8] = {'F', 'W', 'S', 'P', 'O', 'O', 'L', '1'}; /* earlier: the file's size is */

uint32_t fw_log_spool_checksum(const void *body, size_t n) {
    return (uint32_t)fw_hash64(body, n, 0x5f3759df2c1b3c6dull);
}

/* The ingest's decoded predictions, built in one block reused from chunk to chunk instead of a
 * malloc and a free each (~500 instructions a record). The block never moves while its records
 * live: a record that does not fit is a heap block as before, and the next chunk's block is grown
 * to what the last one wanted (a batch of spam-sized records: ~1.3 MB, what their mallocs took). */
typedef struct rec_arena {
    unsigned char *base;
    size_t cap, used;
    size_t wanted;               /* bytes the chunk's records asked for, fitting or not */
} rec_arena;

typedef struct spool {
    fw_log_sink inner;
    char *path;
    int fd;
    uint64_t max_bytes;
    size_t ingest_batch;
    fw_buf enc;                  /* the writer's encoded batch */
    size_t *ends;                /* the writer's per-record end offsets in enc */
    size_t ends_cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t write_off;          /* end of the appended records (mu); also in the header */
    uint64_t file_hi;            /* (mu) the highest write_off since the file was last cut back */
    uint64_t ingest_off;         /* first record not yet in inner (mu) */
    int64_t oldest_ts_ms;        /* time of the record at ingest_off, 0 when drained (mu) */
    bool stop;                   /* close asked for the drain (mu) */
    bool ingest_idle;            /* (mu) the ingester waits for records: an append wakes it */
    bool pacing;                 /* (mu) the ingester waits out INGEST_PACE_MS: only a full batch wakes it */
    pthread_t thread;
    /* one read-decode-deliver step at a time, whichever thread runs it: the sink is single-user
     * and records go in order (lock order: baton, then mu) */
    pthread_mutex_t baton;
    fw_log_record **recs;        /* (baton) the step's decoded batch */
    fw_buf chunk;                /* (baton) the read window: chunk.data[0..chunk.len) hold the bytes of
                                    file win_fd at win_off (win_fd -1: nothing), kept from step to
                                    step so a byte of the spool is read once (window_hold) */
    int win_fd;                  /* (baton) */
    uint64_t win_off;            /* (baton) */
    rec_arena arena;             /* (baton) the step's decoded predictions */
    bool retry[2];               /* (baton) a busy store: the batch is retried, skipping what went in */
    /* catch-up: past half of max_bytes a normal-priority thread ingests too, down to a quarter */
    bool catch_up;
    bool catcher_started;
    pthread_t catcher;
    pthread_cond_t catch_cv;     /* (mu) the writer wakes the catcher past the high-water mark */
    bool catching;               /* (mu) a catch-up episode: the idle ingester stands aside (a starved
                                    thread holding the baton would hold the catcher up) */
    char **orphans;              /* spools of dead processes, ingested first */
    size_t n_orphans;
    void *cnt_map;               /* accepted/settled (logq.h), mapped from a tmpfs file: they survive
                                    kill -9, and the request threads' increments never wait for
                                    disk writeback (a mapped page of the spool itself could make
                                    a request thread fault into the file system's journal) */
    char cnt_path[128];
    bool append_failing;         /* (writer) the last append failed: said once per episode */
    /* direct writes (fw_log_spool_direct): while the spool is empty the writer hands a batch to
     * the sink itself (inner.write_now) instead of appending it */
    atomic_bool direct;          /* asked for, and the sink can */
    atomic_bool orphans_done;    /* the ingest thread recovered the dead processes' spools */
    int64_t direct_after_ms;     /* (writer) no direct write before this (a refusal's back-off) */
    atomic_bool direct_unsynced; /* a direct write since the last sync: sync covers the store too */
    _Atomic(unsigned long long) appended, stored, store_errors, dropped, recovered, pending, caught_up;
    _Atomic(unsigned long long) lost, append_errors, damaged_bytes, set_aside, direct_stored;
} spool;

/* ---- encoding ------------------------------------------------------------------------------ */

static bool pred_kind(const fw_log_record *r) { return r->kind == FW_LOGREC_PREDICTION; }

static uint8_t *st32(uint8_t *d, uint32_t v) {
    for (int i = 0; i < 4; i++) d[i] = (uint8_t)(v >> (8 * i));
    return d + 4;
}
static uint8_t *st64(uint8_t *d, uint64_t v) {
    for (int i = 0; i < 8; i++) d[i] = (uint8_t)(v >> (8 * i));
    return d + 8;
}
/* a string: u32 length then the bytes, or u32 0xFFFFFFFF for NULL */
static uint8_t *st_str(uint8_t *d, const char *s, size_t n) {
    if (!s) return st32(d, 0xFFFFFFFFu);
    d = st32(d, (uint32_t)n);
    memcpy(d, s, n);
    return d + n;
}

/* The writer encodes every logged record: the strings' lengths first, one reservation, then plain
 * stores (no per-field growth checks). */
void fw_log_spool_encode(const fw_log_record *r, fw_buf *out) {
    bool pred = pred_kind(r);
    /* the 12 strings in body order, then feedback's optional origin (13th) */
    const char *str[N_STRS + 1] = {r->request_id,
                                   pred ? r->model : NULL,
                                   pred ? r->version : NULL,
                                   pred ? r->entity_id : NULL,
                                   pred ? r->variant : NULL,
                                   pred ? r->source : NULL,
                                   pred ? r->protocol : NULL,
                                   pred ? r->outcome : NULL,
                                   pred ? r->inputs : NULL,
                                   pred ? r->answers : NULL,
                                   pred ? NULL : r->label_json,
                                   pred ? NULL : r->event,
                                   pred ? NULL : r->origin};
    size_t len[N_STRS + 1], nd = pred ? (size_t)r->n_rows * r->n_out : 0;
    size_t body = BODY_FIXED + nd * sizeof(double);
    for (int i = 0; i <= N_STRS; i++) {
        len[i] = !str[i] ? 0 : i == 8 ? r->inputs_len : strlen(str[i]);
        if (len[i] >= 0xFFFFFFFFu) {
            out->oom = true;
            return;
        }
        if (i < N_STRS || str[i]) body += 4 + len[i];
    }
    if (out->oom || body > 0xFFFFFFFFu) {
        out->oom = true;
        return;
    }
    if (out->len + REC_HEAD + body > out->cap && FW_GROW(&out->data, &out->cap, out->len + REC_HEAD + body) != FW_OK) {
        out->oom = true;
        return;
    }
    uint8_t *head = out->data + out->len, *d = head + REC_HEAD;
    d[0] = (uint8_t)r->kind;
    d[1] = r->matched ? 1 : 0;
    /* flags: feedback bit 0 an explicit label update; prediction bit 1 the inputs are compact */
    d[2] = pred ? (r->inputs_compact ? 2 : 0) : (r->update ? 1 : 0);
    d[3] = 0;
    d = st64(d + 4, (uint64_t)r->ts_ms);
    d = st64(d, (uint64_t)r->latency_us);
    uint64_t v;
    memcpy(&v, &r->value, 8);
    d = st64(d, v);
    d = st32(d, pred ? r->n_rows : 0);
    d = st32(d, pred ? r->n_out : 0);
    for (int i = 0; i < N_STRS; i++) d = st_str(d, str[i], len[i]);
    if (pred && nd) {
        memcpy(d, r->outputs, nd * sizeof(double)); /* as fw_buf_put_f64s: the host's (little-endian) doubles */
        d += nd * sizeof(double);
    } else if (str[N_STRS]) {
        d = st_str(d, str[N_STRS], len[N_STRS]); /* feedback: its source, when known (optional tail) */
    }
    st32(head, (uint32_t)body);
    st32(head + 4, fw_log_spool_checksum(head + REC_HEAD, body));
    out->len += REC_HEAD + body;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The static name equal to the n bytes at s, or NULL: the record's variant/source/protocol/outcome
 * point at static strings (logq.h), so decoding maps the closed sets back onto them (by length
 * first: four of these per record). */
static const char *intern(const char *s, size_t n) {
    static const char *const known[] = {"primary", "challenger", "shadow", "online", "batch", "v1",
                                        "v2",      "model",      "fallback", "review", "?"};
    static const unsigned char len[] = {7, 10, 6, 6, 5, 2, 2, 5, 8, 6, 1};
    for (size_t i = 0; s && i < sizeof known / sizeof *known; i++)
        if (len[i] == n && s[0] == known[i][0] && memcmp(known[i], s, n) == 0) return known[i];
    return NULL;
}

/* The scratch bytes the decoder's NUL-terminated copies take, from a first look at the string
 * table at rd (its checks are the decoder's pass): the strings other than the names, inputs and
 * answers (4..9), plus whatever follows (a feedback's optional source). A spam-sized prediction
 * needs ~60 bytes: the whole body's bound (~1.1 KB) made every such record a malloc and a free
 * (~500 instructions). The body's bound when the table does not read (the decoder refuses it). */
static size_t scratch_need(const fw_reader *rd, uint32_t len) {
    const unsigned char *b = rd->p;
    size_t pos = rd->pos, n = rd->len, need = 0;
    for (int i = 0; i < N_STRS; i++) {
        if (n - pos < 4) return (size_t)len + N_STRS + 1;
        uint32_t sl = le32(b + pos);
        pos += 4;
        if (sl == 0xFFFFFFFFu) continue;
        if (sl > n - pos) return (size_t)len + N_STRS + 1;
        pos += sl;
        if (i < 4 || i > 9) need += (size_t)sl + 1;
    }
    return need + (n - pos) + 1;
}


static bool in_arena(const rec_arena *a, const fw_log_record *r) {
    const unsigned char *p = (const unsigned char *)r;
    return a && a->base && p >= a->base && p < a->base + a->cap;
}

/* Frees a decoded record (an arena record is given back with its chunk). */
static void rec_dispose(const rec_arena *a, fw_log_record *r) {
    if (!in_arena(a, r)) fw_free(r);
}

static fw_log_record *decode(const unsigned char *p, size_t n, size_t *used, rec_arena *arena);

fw_log_record *fw_log_spool_decode(const unsigned char *p, size_t n, size_t *used) {
    return decode(p, n, used, NULL);
}

/* The decoder accepts exactly what fw_log_spool_encode writes (fuzz_log_spool checks that the
 * bytes of every record it accepts encode back to themselves): zero padding, the strings a kind
 * does not use absent, no NUL inside the strings the record keeps NUL-terminated. */
static fw_log_record *decode(const unsigned char *p, size_t n, size_t *used, rec_arena *arena) {
    *used = 0;
    if (n < REC_HEAD) return NULL;
    uint32_t len = le32(p), sum = le32(p + 4);
    if (len < BODY_FIXED || len > MAX_BODY || n - REC_HEAD < len) return NULL;
    if (fw_log_spool_checksum(p + REC_HEAD, len) != sum) return NULL;
    fw_reader rd;
    fw_reader_init(&rd, p + REC_HEAD, len);
    uint8_t kind = fw_reader_u8(&rd), matched = fw_reader_u8(&rd);
    uint8_t pad0 = fw_reader_u8(&rd), pad1 = fw_reader_u8(&rd);
    int64_t ts = fw_reader_i64(&rd), latency = fw_reader_i64(&rd);
    double value = fw_reader_f64(&rd);
    uint32_t n_rows = fw_reader_u32(&rd), n_out = fw_reader_u32(&rd);
    bool pred = kind == FW_LOGREC_PREDICTION;
    if (kind > FW_LOGREC_FEEDBACK || matched > 1 || (pred ? pad0 != 0 && pad0 != 2 : pad0 > 1) || pad1 ||
        (!pred && (n_rows || n_out)))
        return NULL;
    /* strings: the ones used NUL-terminated (request id, model, version, entity id, label, event,
     * origin) copied into one scratch block (the body's size bounds them; the stack's for the usual
     * short ones); the inputs and answers are taken by length and the four names interned, in place */
    char stack_scratch[512], *scratch = stack_scratch;
    size_t need = scratch_need(&rd, len);
    if (need > sizeof stack_scratch && !(scratch = fw_malloc(need))) {
        *used = REC_HEAD + (size_t)len;
        return NULL;
    }
    const char *str[N_STRS], *origin = NULL;
    size_t slen[N_STRS], at = 0;
    bool ok = true;
    for (int i = 0; i < N_STRS && ok; i++) {
        uint32_t sl = fw_reader_u32(&rd);
        str[i] = NULL;
        slen[i] = 0;
        if (sl == 0xFFFFFFFFu) continue;
        const uint8_t *b = fw_reader_get(&rd, sl);
        if (!b || (i != 8 && memchr(b, 0, sl))) ok = false; /* only the inputs (8) are kept by length */
        else if (i >= 4 && i <= 9) {
            str[i] = (const char *)b;
            slen[i] = sl;
        } else {
            memcpy(scratch + at, b, sl);
            scratch[at + sl] = 0;
            str[i] = scratch + at;
            slen[i] = sl;
            at += (size_t)sl + 1;
        }
    }
    /* request_id always (it is an array in the record), at most 47 bytes; per kind, the others */
    ok = ok && fw_reader_ok(&rd) && str[0] && slen[0] < sizeof ((fw_log_record *)0)->request_id;
    const char *names[4] = {NULL, NULL, NULL, NULL}; /* variant, source, protocol, outcome */
    for (int i = 1; ok && i < N_STRS; i++) {
        bool pred_only = i <= 9, fb_only = i >= 10;
        if ((pred && fb_only) || (!pred && pred_only)) ok = str[i] == NULL;
        else if (pred && i >= 4 && i <= 7) ok = (names[i - 4] = intern(str[i], slen[i])) != NULL;
    }
    fw_log_record *r = NULL;
    double stack_outs[16], *outs = NULL; /* the scores, aligned (a record copies them) */
    size_t nd = (size_t)n_rows * n_out;
    const uint8_t *d = NULL;
    if (ok && pred) {
        d = nd <= fw_reader_left(&rd) / 8 ? fw_reader_get(&rd, nd * 8) : NULL;
        ok = (d || !nd) && fw_reader_left(&rd) == 0;
    } else if (ok && fw_reader_left(&rd) > 0) { /* feedback's optional source */
        uint32_t sl = fw_reader_u32(&rd);
        const uint8_t *b = sl != 0xFFFFFFFFu ? fw_reader_get(&rd, sl) : NULL;
        ok = b && !memchr(b, 0, sl) && fw_reader_ok(&rd) && fw_reader_left(&rd) == 0;
        if (ok) {
            memcpy(scratch + at, b, sl);
            scratch[at + sl] = 0;
            origin = scratch + at;
        }
    }
    if (ok && pred) {
        if (nd <= sizeof stack_outs / sizeof *stack_outs) outs = stack_outs;
        else if (!(outs = fw_malloc(nd * sizeof *outs))) {
            if (scratch != stack_scratch) fw_free(scratch);
            *used = REC_HEAD + (size_t)len;
            return NULL;
        }
        fw_reader dr;
        fw_reader_init(&dr, d, nd * 8);
        for (size_t i = 0; i < nd; i++) outs[i] = fw_reader_f64(&dr);
        fw_log_prediction pr = {.request_id = str[0], .model = str[1], .version = str[2], .entity_id = str[3],
                                .variant = names[0], .source = names[1], .protocol = names[2], .outcome = names[3],
                                .latency_us = latency, .inputs = str[8], .inputs_len = slen[8], .answers = str[9],
                                .answers_len = slen[9], .outputs = outs, .n_rows = n_rows, .n_out = n_out};
        size_t size = fw_log_prediction_size(&pr), off = arena ? (arena->used + 7) & ~(size_t)7 : 0;
        if (arena) arena->wanted += (size + 7) & ~(size_t)7;
        if (arena && arena->base && size <= arena->cap && off <= arena->cap - size) {
            r = fw_log_prediction_build(arena->base + off, size, &pr);
            arena->used = off + size;
        } else {
            r = fw_log_prediction_new(&pr);
        }
    } else if (ok) {
        r = fw_log_feedback_new2(str[0], str[10], str[11], value, matched != 0, pad0 != 0, origin);
    }
    if (r && pred) r->inputs_compact = pad0 == 2;
    if (outs != stack_outs) fw_free(outs);
    if (scratch != stack_scratch) fw_free(scratch);
    if (!ok) return NULL;
    *used = REC_HEAD + (size_t)len;
    if (r) {
        r->ts_ms = ts;
        r->latency_us = latency;
        r->value = value;
        r->matched = matched != 0;
    }
    return r;
}

/* ---- the file ------------------------------------------------------------------------------- */

static bool pwrite_all(int fd, const void *p, size_t n, uint64_t off) {
    const char *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w, n -= (size_t)w, off += (uint64_t)w;
    }
    return true;
}

static bool pread_all(int fd, void *p, size_t n, uint64_t off) {
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return true;
}

/* The header of a spool whose records are all ingested, ending at off. */
static bool write_header(int fd, uint64_t off) {
    unsigned char h[HDR] = {0};
    memcpy(h, MAGIC, 8);
    for (int i = 0; i < 8; i++) h[8 + i] = h[16 + i] = (unsigned char)(off >> (8 * i));
    return pwrite_all(fd, h, HDR, 0);
}

/* Both offsets at once: after a wrap, ingested = end = the first record's place (one write: a
 * process killed in between cannot leave one moved and not the other). */
static bool set_drained(int fd, uint64_t off) {
    unsigned char b[16];
    for (int i = 0; i < 8; i++) b[i] = b[8 + i] = (unsigned char)(off >> (8 * i));
    return pwrite_all(fd, b, 16, 8);
}

/* The end of the valid records: written after the records themselves, so the header never names
 * bytes that are not there; what lies past it (an earlier lap's records) is never read. */
static bool set_end(int fd, uint64_t off) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(off >> (8 * i));
    return pwrite_all(fd, b, 8, 16);
}

static bool set_ingested(int fd, uint64_t off) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(off >> (8 * i));
    return pwrite_all(fd, b, 8, 8);
}

/* The time of the record at off (0 when it cannot be read). */
static int64_t peek_ts(int fd, uint64_t off) {
    unsigned char b[REC_HEAD + 12];
    if (!pread_all(fd, b, sizeof b, off)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[REC_HEAD + 4 + i] << (8 * i);
    return (int64_t)v;
}

/* ---- delivery to the inner sink ------------------------------------------------------------- */

/* Writes recs[0..n) to the inner sink and frees them; *kept = how many it was given. skipping[kind]:
 * the first records may already be in the sink (a recovered spool: stored, then the process died
 * before the header moved on; or a retried batch whose first transaction went in): per kind,
 * records the sink holds are dropped until the first one it does not hold. Returns false when the
 * sink was busy (locked by another process past its timeout): nothing is counted, the caller reads
 * the same records again later. Any other failure loses the records, counted and said. */
static bool deliver(spool *sp, fw_log_record **recs, size_t n, bool skipping[2], size_t *kept_out) {
    const rec_arena *arena = &sp->arena;
    size_t kept = n;
    if ((skipping[0] || skipping[1]) && sp->inner.contains) {
        kept = 0;
        for (size_t i = 0; i < n; i++) {
            int k = recs[i]->kind == FW_LOGREC_FEEDBACK;
            if (skipping[k] && sp->inner.contains(sp->inner.ud, recs[i])) {
                rec_dispose(arena, recs[i]);
                continue;
            }
            skipping[k] = false;
            recs[kept++] = recs[i];
        }
    }
    bool done = true;
    if (kept) {
        fw_err err;
        fw_err_clear(&err);
        fw_status st = sp->inner.write(sp->inner.ud, recs, kept, &err);
        if (st == FW_EBUSY) {
            done = false;
        } else if (st != FW_OK) {
            atomic_fetch_add(&sp->store_errors, kept);
            fprintf(stderr, "flywheel serve: prediction log: %s (%zu records lost)\n", err.msg, kept);
        } else {
            atomic_fetch_add(&sp->stored, kept);
        }
    }
    for (size_t i = 0; i < kept; i++) rec_dispose(arena, recs[i]);
    *kept_out = kept;
    return done;
}

typedef enum ingest_result { INGEST_DONE, INGEST_BAD, INGEST_BUSY } ingest_result;

/* Makes the read window hold the bytes [at, at + need) of fd (at + need <= end). The bytes before at
 * are let go; when the rest is short of need, what is left of it (a record the last read cut, or
 * nothing) moves to the front and the window reads on up to at + max(need, READ_CHUNK), or end.
 * The ingest goes forward through the file, so each byte is read once: until session 16 every step
 * read READ_CHUNK afresh from its offset and decoded one batch of it (1024 records, ~1 MB): the
 * spool was read ~2.7 times (strace of bench/store/log_ingest.c). A window on another file or
 * another place (a step retried after a busy store, a truncated spool: win_fd reset) reads anew.
 * Returns a pointer to the bytes at at, or NULL (out of memory, a read error: the window is empty). */
static const unsigned char *window_hold(spool *sp, int fd, uint64_t at, size_t need, uint64_t end) {
    fw_buf *w = &sp->chunk;
    if (sp->win_fd != fd || at < sp->win_off || at - sp->win_off > w->len) {
        sp->win_fd = -1;
        w->len = 0;
        sp->win_off = at;
    }
    size_t drop = (size_t)(at - sp->win_off);
    if (w->len - drop >= need) return w->data + drop;
    if (drop) memmove(w->data, w->data + drop, w->len - drop);
    w->len -= drop;
    sp->win_off = at;
    size_t target = need > READ_CHUNK ? need : READ_CHUNK;
    if (target > end - at) target = (size_t)(end - at);
    if (w->cap < target && FW_GROW(&w->data, &w->cap, target) != FW_OK) {
        sp->win_fd = -1;
        w->len = 0;
        return NULL;
    }
    if (!pread_all(fd, w->data + w->len, target - w->len, at + w->len)) {
        sp->win_fd = -1;
        w->len = 0;
        return NULL;
    }
    FW_TEST_ADD(FW_TC_SPOOL_READ_BYTES, target - w->len);
    w->len = target;
    sp->win_fd = fd;
    return w->data;
}

/* The time of the record at off of fd: from the window when it holds it, else read (0 when it
 * cannot be). */
static int64_t record_ts(spool *sp, int fd, uint64_t off) {
    const fw_buf *w = &sp->chunk;
    if (sp->win_fd == fd && off >= sp->win_off && off - sp->win_off + REC_HEAD + 12 <= w->len) {
        uint64_t v = 0;
        const unsigned char *b = w->data + (off - sp->win_off) + REC_HEAD + 4;
        for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
        return (int64_t)v;
    }
    FW_TEST_ADD(FW_TC_SPOOL_READ_BYTES, REC_HEAD + 12);
    return peek_ts(fd, off);
}

/* Reads records of fd from *off up to end and delivers them in batches; *off (and the file's
 * header) advances over what was delivered. A step takes up to ingest_batch records out of the
 * next READ_CHUNK bytes (one record, when it alone is longer). INGEST_BAD: the bytes stop being
 * valid records before end (a torn tail or corruption), *off is at the bad record. INGEST_BUSY: the
 * sink is busy, *off is at the batch to retry and skipping is set for it (its first transaction
 * may have gone in). */
static ingest_result ingest_range(spool *sp, int fd, uint64_t *off, uint64_t end, fw_log_record **recs,
                                  bool skipping[2], bool live, bool one_batch, size_t *stored) {
    while (*off < end) {
        uint64_t at = *off;
        size_t n = 0, seen = 0;
        bool bad = false;
        rec_arena *a = &sp->arena; /* no record of the last step lives now (deliver disposed of them) */
        if (a->wanted > a->cap) {
            size_t cap = a->wanted + a->wanted / 4;
            fw_free(a->base);
            a->base = fw_malloc(cap); /* NULL: records are heap blocks, as before */
            a->cap = a->base ? cap : 0;
        }
        a->used = a->wanted = 0;
        while (at < end && seen < sp->ingest_batch) {
            if (end - at < REC_HEAD) { /* a torn tail */
                bad = true;
                break;
            }
            const unsigned char *p = window_hold(sp, fd, at, REC_HEAD, end);
            if (!p) { /* a read error or no memory: the batch so far goes in; a first record is bad */
                bad = seen == 0;
                break;
            }
            uint64_t len = le32(p);
            if (len <= MAX_BODY && REC_HEAD + len <= end - at) {
                size_t whole = REC_HEAD + (size_t)len;
                if (seen && at - *off + whole > READ_CHUNK) break; /* the step's bytes: the next one goes on here */
                if (!(p = window_hold(sp, fd, at, whole, end))) {
                    bad = seen == 0;
                    break;
                }
            }
            size_t avail = sp->chunk.len - (size_t)(at - sp->win_off), used;
            if (avail > end - at) avail = (size_t)(end - at);
            fw_log_record *r = decode(p, avail, &used, &sp->arena);
            if (!used) { /* the whole record is here (or runs past end): bytes that are no record */
                bad = true;
                break;
            }
            at += used;
            seen++;
            if (r) recs[n++] = r;
            else atomic_fetch_add(&sp->store_errors, 1); /* out of memory decoding: lost, counted */
        }
        size_t kept = 0;
        if (n && !deliver(sp, recs, n, skipping, &kept)) {
            skipping[0] = skipping[1] = true;
            return INGEST_BUSY;
        }
        if (live) atomic_fetch_sub(&sp->pending, seen);
        else atomic_fetch_add(&sp->recovered, kept);
        *stored += kept;
        *off = at;
        if (live) {
            pthread_mutex_lock(&sp->mu);
            sp->ingest_off = *off;
            sp->oldest_ts_ms = sp->ingest_off < sp->write_off ? record_ts(sp, fd, sp->ingest_off) : 0;
            pthread_mutex_unlock(&sp->mu);
        }
        set_ingested(fd, *off);
        if (bad) return INGEST_BAD;
        if (one_batch) break;
    }
    return INGEST_DONE;
}

/* The offset of the first whole valid record at or after from (before end), scanning byte by byte:
 * recovery goes on past a damaged record instead of giving up the rest of the file. */
static bool resync(int fd, uint64_t from, uint64_t end, fw_buf *chunk, uint64_t *at) {
    enum { WIN = 1 << 20 };
    uint64_t base = 0, pos = from;
    size_t have = 0;
    while (pos + REC_HEAD <= end) {
        if (pos < base || pos + REC_HEAD > base + have) {
            size_t want = end - pos < WIN ? (size_t)(end - pos) : WIN;
            chunk->len = 0;
            if (chunk->cap < want && FW_GROW(&chunk->data, &chunk->cap, want) != FW_OK) return false;
            if (!pread_all(fd, chunk->data, want, pos)) return false;
            base = pos, have = want;
        }
        uint32_t len = le32(chunk->data + (pos - base));
        if (len >= BODY_FIXED && len <= MAX_BODY && pos + REC_HEAD + len <= end) {
            if (pos + REC_HEAD + len > base + have) { /* the candidate runs past the window: read it whole */
                size_t want = (size_t)REC_HEAD + len;
                chunk->len = 0;
                if (chunk->cap < want && FW_GROW(&chunk->data, &chunk->cap, want) != FW_OK) return false;
                if (!pread_all(fd, chunk->data, want, pos)) return false;
                base = pos, have = want;
            }
            size_t used;
            fw_log_record *r = fw_log_spool_decode(chunk->data + (pos - base), (size_t)REC_HEAD + len, &used);
            if (used) {
                fw_free(r);
                *at = pos;
                return true;
            }
        }
        pos++;
    }
    return false;
}

/* The loss counters of the spool file with this device and inode: a 16-byte file in /dev/shm. */
static bool counter_path(dev_t dev, ino_t ino, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "/dev/shm/flywheel-spool-%llx-%llx.count", (unsigned long long)dev,
                     (unsigned long long)ino);
    return n > 0 && (size_t)n < cap;
}

/* accepted - settled from the counter file of a dead process's spool (0 when there is none), and
 * the file removed. */
static unsigned long long take_lost(const struct stat *st) {
    char p[128];
    if (!counter_path(st->st_dev, st->st_ino, p, sizeof p)) return 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char b[16];
    unsigned long long lost = 0;
    if (pread_all(fd, b, 16, 0)) {
        uint64_t acc = 0, set = 0;
        for (int i = 0; i < 8; i++) acc |= (uint64_t)b[i] << (8 * i), set |= (uint64_t)b[8 + i] << (8 * i);
        lost = acc > set ? acc - set : 0;
    }
    close(fd);
    unlink(p);
    return lost;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool stopping(spool *sp) {
    pthread_mutex_lock(&sp->mu);
    bool s = sp->stop;
    pthread_mutex_unlock(&sp->mu);
    return s;
}

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A spool file left by a process that is gone: ingest what its header says is not yet stored,
 * resynchronising on the next valid record past any damaged bytes, count the records the process
 * accepted but never appended (its header's accepted - settled: lost in the flush window), then
 * remove it. A file whose header is damaged is renamed <name>.damaged and reported (an empty one,
 * left by a process that died creating it, is removed). Spools another live server holds (flock)
 * are left alone. */
static void recover_orphan(spool *sp, const char *path) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* its owner is alive */
        close(fd);
        return;
    }
    pthread_mutex_lock(&sp->baton);
    if (sp->win_fd == fd) sp->win_fd = -1; /* a window on an earlier file that had this descriptor */
    pthread_mutex_unlock(&sp->baton);
    unsigned char h[HDR];
    struct stat stt;
    if (fstat(fd, &stt) != 0) {
        close(fd);
        return;
    }
    unsigned long long lost = take_lost(&stt);
    atomic_fetch_add(&sp->lost, lost);
    if (lost)
        fprintf(stderr,
                "flywheel serve: prediction log: %s: %llu records were accepted but not yet appended when its "
                "process died (the flush window); counted as lost\n",
                path, lost);
    if (stt.st_size == 0) {
        fprintf(stderr, "flywheel serve: prediction log: %s is empty (its process died creating it); removed\n", path);
        unlink(path);
        close(fd);
        return;
    }
    /* FWSPOOL2: the records end where the header says (the pages past it may hold an earlier lap's
     * records); FWSPOOL1 (earlier versions, which never wrapped): at the file's end. An end the file
     * does not reach is a damaged header too. */
    uint64_t end = 0;
    bool read = pread_all(fd, h, HDR, 0);
    if (read && memcmp(h, MAGIC, 8) == 0) end = le64(h + 16);
    else if (read && memcmp(h, MAGIC_V1, 8) == 0) end = (uint64_t)stt.st_size;
    if (end < HDR || end > (uint64_t)stt.st_size) {
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.damaged", path);
        bool moved = rename(path, aside) == 0;
        atomic_fetch_add(&sp->set_aside, 1);
        fprintf(stderr, "flywheel serve: prediction log: %s has a damaged header (not a spool file); %s%s\n", path,
                moved ? "set aside as " : "could not be set aside: ", moved ? aside : strerror(errno));
        close(fd);
        return;
    }
    uint64_t off = le64(h + 8);
    if (off < HDR || off > end) off = HDR;
    unsigned long long before = atomic_load(&sp->recovered), damaged = 0;
    bool skipping[2] = {true, true};
    ingest_result res = INGEST_DONE;
    while (off < end) { /* one batch per hold of the baton: the catch-up thread may need it */
        size_t stored = 0;
        pthread_mutex_lock(&sp->baton);
        res = ingest_range(sp, fd, &off, end, sp->recs, skipping, false, true, &stored);
        uint64_t next = end;
        bool found = false;
        if (res == INGEST_BAD) {
            sp->win_fd = -1; /* resync reads into the window's buffer */
            found = resync(fd, off + 1, end, &sp->chunk, &next);
        }
        pthread_mutex_unlock(&sp->baton);
        if (res == INGEST_BAD) {
            damaged += next - off;
            atomic_fetch_add(&sp->damaged_bytes, next - off); /* live in /metrics while recovery runs */
            off = next;
            if (!found) break;
            set_ingested(fd, off);
            res = INGEST_DONE;
            continue;
        }
        if (res == INGEST_BUSY) {
            if (stopping(sp)) { /* shutting down with the store locked: the next server takes it over */
                fprintf(stderr, "flywheel serve: prediction log: the store is busy; %s left for the next server\n",
                        path);
                close(fd);
                return;
            }
            nap_ms(BUSY_RETRY_MS);
        }
    }
    fprintf(stderr, "flywheel serve: prediction log: recovered %llu records from %s\n",
            atomic_load(&sp->recovered) - before, path);
    if (damaged)
        fprintf(stderr, "flywheel serve: prediction log: %s: %llu damaged or torn bytes skipped\n", path, damaged);
    unlink(path);
    close(fd);
}

/* One batch of this process's spool into the sink. *stored: records the sink took. A drained spool
 * longer than WRAP_AT starts again after its header: the next records overwrite the first lap's
 * pages, which the page cache and the file system already hold. Until session 17 the file was cut
 * back (ftruncate) instead, and every append went to new pages: the kernel's page allocation, its
 * delayed-allocation bookkeeping and the truncation's freeing were most of the spool's kernel time.
 * A file that ever grew past KEEP_MAX (a backlog) is still cut back when it drains. */
static ingest_result live_step(spool *sp, size_t *stored) {
    *stored = 0;
    pthread_mutex_lock(&sp->baton);
    pthread_mutex_lock(&sp->mu);
    uint64_t off = sp->ingest_off, end = sp->write_off;
    pthread_mutex_unlock(&sp->mu);
    ingest_result res = INGEST_DONE;
    if (off < end) res = ingest_range(sp, sp->fd, &off, end, sp->recs, sp->retry, true, true, stored);
    if (res == INGEST_BAD) {
        /* the file under our own records is not what we wrote: skip to the end, say so */
        fprintf(stderr, "flywheel serve: prediction log: spool %s unreadable at offset %llu; %llu bytes skipped\n",
                sp->path, (unsigned long long)off, (unsigned long long)(end - off));
        pthread_mutex_lock(&sp->mu);
        sp->ingest_off = end;
        sp->oldest_ts_ms = sp->ingest_off < sp->write_off ? record_ts(sp, sp->fd, sp->ingest_off) : 0;
        pthread_mutex_unlock(&sp->mu);
        set_ingested(sp->fd, end);
    }
    pthread_mutex_lock(&sp->mu);
    if (sp->ingest_off == sp->write_off && sp->write_off > WRAP_AT && set_drained(sp->fd, HDR)) {
        sp->write_off = sp->ingest_off = HDR;
        sp->win_fd = -1; /* the offsets start again: what the window holds is stale */
        if (sp->file_hi > KEEP_MAX && ftruncate(sp->fd, HDR) == 0) sp->file_hi = HDR;
        FW_TEST_ADD(FW_TC_SPOOL_WRAPS, 1);
    }
    pthread_mutex_unlock(&sp->mu);
    pthread_mutex_unlock(&sp->baton);
    return res;
}

static void *ingest_main(void *arg) {
    spool *sp = arg;
    pthread_setname_np(pthread_self(), "fw-log-ingest");
    /* SCHED_IDLE: it runs only when no request thread wants the CPU; a busy server defers the
     * store's cost to its quiet moments (the spool bounds how far) */
    struct sched_param prio = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &prio);
    for (size_t i = 0; i < sp->n_orphans; i++) recover_orphan(sp, sp->orphans[i]);
    atomic_store(&sp->orphans_done, true); /* direct writes may begin: nothing older waits */
    struct timespec last = {0}; /* when the last step began (CLOCK_REALTIME, the condvar's clock) */
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        while ((sp->ingest_off == sp->write_off || sp->catching) && !sp->stop) {
            sp->ingest_idle = true;
            pthread_cond_wait(&sp->cv, &sp->mu);
        }
        sp->ingest_idle = false;
        /* Pacing: a partial batch waits until INGEST_PACE_MS after the last step began (a full one
         * goes at once). The writer appends every flush_ms; ingesting each append was one store
         * transaction and one wake-up per 2 ms per process — with four replicas on two cores 0.30
         * ingest wake-ups per request against 0.01 for one saturated replica. A record reaches the
         * store at most INGEST_PACE_MS later than it would have; nothing waits on that (the spool is
         * the durable point: docs/SERVING.md). */
        if (!sp->stop) {
            struct timespec dl = last;
            dl.tv_nsec += INGEST_PACE_MS * 1000000L;
            while (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
            sp->pacing = true;
            while (!sp->stop && !sp->catching && atomic_load(&sp->pending) < sp->ingest_batch &&
                   pthread_cond_timedwait(&sp->cv, &sp->mu, &dl) != ETIMEDOUT) {
            }
            sp->pacing = false;
            if (sp->catching && !sp->stop) {
                pthread_mutex_unlock(&sp->mu);
                continue;
            }
        }
        bool stop = sp->stop;
        pthread_mutex_unlock(&sp->mu);
        clock_gettime(CLOCK_REALTIME, &last);
        if (stop) break; /* the drain is close's, on the closing thread (spool_close) */
        size_t stored;
        if (live_step(sp, &stored) == INGEST_BUSY) {
            if (stopping(sp)) break; /* the file stays (close sees it undrained): nothing is lost */
            nap_ms(BUSY_RETRY_MS);
        }
    }
    return NULL;
}

/* The catch-up thread (serving.log.catch_up): at the writer's priority, it ingests while the spool
 * is more than half full, until it is down to a quarter — the store keeps up under sustained
 * overload, at the cost of CPU the request threads would have had. */
static void *catch_main(void *arg) {
    spool *sp = arg;
    pthread_setname_np(pthread_self(), "fw-log-catchup");
    struct sched_param prio = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &prio);
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        while (!sp->stop && sp->write_off - sp->ingest_off <= sp->max_bytes / 2)
            pthread_cond_wait(&sp->catch_cv, &sp->mu);
        bool stop = sp->stop;
        sp->catching = !stop;
        pthread_mutex_unlock(&sp->mu);
        if (stop) break;
        for (;;) {
            pthread_mutex_lock(&sp->mu);
            bool more = !sp->stop && sp->write_off - sp->ingest_off > sp->max_bytes / 4;
            pthread_mutex_unlock(&sp->mu);
            if (!more) break;
            size_t stored;
            ingest_result res = live_step(sp, &stored);
            atomic_fetch_add(&sp->caught_up, stored);
            if (res == INGEST_BUSY) nap_ms(BUSY_RETRY_MS);
        }
        pthread_mutex_lock(&sp->mu);
        sp->catching = false;
        pthread_cond_broadcast(&sp->cv); /* the idle ingester goes on */
        pthread_mutex_unlock(&sp->mu);
    }
    return NULL;
}

/* ---- the sink ------------------------------------------------------------------------------- */

static fw_status spool_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err);

/* The direct path: while nothing waits in the spool (and the dead processes' spools are in), the
 * batch goes to the sink on this thread, skipping the spool's append, read and decode (at c=64,
 * the server's CPU a request all-in 25.3 -> 23.7 us; docs/BENCHMARKS.md). True when the sink took it.
 * The sink refusing it (busy past write_now's short wait, full, unhealthy) sends this batch and
 * those of the next DIRECT_BACKOFF_MS to the spool; the ingest's first batch then skips what the
 * refused write stored before failing (its predictions' transaction), so nothing is stored twice.
 * Order holds: a batch goes direct only when every earlier one is in the store. */
static bool write_direct(spool *sp, fw_log_record *const *recs, size_t n) {
    if (!atomic_load_explicit(&sp->direct, memory_order_relaxed) || !atomic_load(&sp->orphans_done)) return false;
    int64_t now = fw_wall_unix_ms();
    if (now < sp->direct_after_ms) return false;
    pthread_mutex_lock(&sp->mu);
    bool empty = sp->ingest_off == sp->write_off && !sp->stop;
    pthread_mutex_unlock(&sp->mu);
    /* the sink is single-user (the baton), and the writer never waits for it: a step holding it may
     * be waiting out a busy store, or (records or not) be the idle-priority ingest thread, starved
     * on a busy machine, in its bookkeeping after its last delivery. The batch is appended then. */
    if (!empty || pthread_mutex_trylock(&sp->baton) != 0) return false;
    pthread_mutex_lock(&sp->mu); /* again under the baton: no step runs now, and only this thread appends */
    empty = sp->ingest_off == sp->write_off && !sp->stop;
    pthread_mutex_unlock(&sp->mu);
    bool done = false;
    if (empty) {
        fw_err e;
        fw_err_clear(&e);
        if (sp->inner.write_now(sp->inner.ud, recs, n, &e) == FW_OK) {
            done = true;
            atomic_store(&sp->direct_unsynced, true);
            atomic_fetch_add(&sp->stored, n);
            atomic_fetch_add(&sp->direct_stored, n);
        } else {
            sp->retry[0] = sp->retry[1] = true; /* the spool's next batch is this one: skip what went in */
            sp->direct_after_ms = now + DIRECT_BACKOFF_MS;
        }
    }
    pthread_mutex_unlock(&sp->baton);
    return done;
}

void fw_log_spool_direct(const fw_log_sink *sink, bool on) {
    if (sink->write != spool_write) return;
    spool *sp = sink->ud;
    atomic_store(&sp->direct, on && sp->inner.write_now != NULL);
}

static fw_status spool_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    spool *sp = ud;
    if (n && write_direct(sp, recs, n)) return FW_OK;
    if (n > sp->ends_cap) {
        size_t *e = fw_realloc(sp->ends, n * sizeof *e);
        if (!e) return fw_err_set(err, FW_ENOMEM, "out of memory");
        sp->ends = e;
        sp->ends_cap = n;
    }
    /* the room left under max_bytes: records past it are dropped without being encoded (a full
     * spool under sustained overload costs the writer nothing per record) */
    pthread_mutex_lock(&sp->mu);
    uint64_t room = sp->max_bytes > sp->write_off - sp->ingest_off ? sp->max_bytes - (sp->write_off - sp->ingest_off) : 0;
    pthread_mutex_unlock(&sp->mu);
    sp->enc.len = 0;
    size_t fit = 0;
    for (; fit < n; fit++) {
        fw_log_record *r = recs[fit];
        /* the inputs without the whitespace between tokens, once, here: a smaller spool, and the
         * ingest thread (the one short of CPU) only copies them */
        if (r->kind == FW_LOGREC_PREDICTION && r->inputs && !r->inputs_compact) {
            char *in = (char *)(uintptr_t)r->inputs; /* the record's own bytes (logq.h) */
            r->inputs_len = (uint32_t)fw_json_compact(in, in, r->inputs_len);
            in[r->inputs_len] = 0;
            r->inputs_compact = true;
        }
        fw_log_spool_encode(r, &sp->enc);
        if (sp->enc.len > room) break;
        sp->ends[fit] = sp->enc.len;
    }
    if (!fw_buf_ok(&sp->enc)) {
        sp->enc.oom = false;
        return fw_err_set(err, FW_ENOMEM, "out of memory encoding the prediction log");
    }
    pthread_mutex_lock(&sp->mu);
    size_t bytes = fit ? sp->ends[fit - 1] : 0;
    /* the records, then the header's end over them (a kill -9 between the two leaves them unnamed:
     * not yet settled, so counted as lost by the next server, never read as half a batch) */
    bool ok = !bytes || (pwrite_all(sp->fd, sp->enc.data, bytes, sp->write_off) &&
                         set_end(sp->fd, sp->write_off + bytes));
    if (ok && bytes) {
        if (sp->write_off == sp->ingest_off) sp->oldest_ts_ms = recs[0]->ts_ms;
        sp->write_off += bytes;
        if (sp->write_off > sp->file_hi) sp->file_hi = sp->write_off;
        atomic_fetch_add(&sp->pending, fit);
        atomic_fetch_add(&sp->appended, fit);
        /* the ingester: waiting for records, or pacing and a whole batch is here (no futex wake
         * per append while it paces) */
        if (sp->ingest_idle || (sp->pacing && atomic_load(&sp->pending) >= sp->ingest_batch)) pthread_cond_signal(&sp->cv);
        if (sp->catch_up && sp->write_off - sp->ingest_off > sp->max_bytes / 2) pthread_cond_signal(&sp->catch_cv);
    }
    int werr = errno;
    pthread_mutex_unlock(&sp->mu);
    if (!ok) {
        /* the disk refused the append (full): the batch is dropped and counted; the store is the
         * ingest thread's alone (never written from here), and the next batch tries the disk again
         * at the same offset, so logging resumes as soon as there is space */
        for (size_t i = 0; i < n; i++) recs[i]->lost = true;
        atomic_fetch_add(&sp->append_errors, n);
        if (!sp->append_failing)
            fprintf(stderr, "flywheel serve: prediction log: appending to %s: %s; records are dropped (counted in "
                            "flywheel_log_dropped_total) until it can be written again\n", sp->path, strerror(werr));
        sp->append_failing = true;
        return FW_OK;
    }
    if (sp->append_failing) {
        fprintf(stderr, "flywheel serve: prediction log: %s can be written again; logging resumed\n", sp->path);
        sp->append_failing = false;
    }
    for (size_t i = fit; i < n; i++) recs[i]->lost = true;
    if (fit < n) atomic_fetch_add(&sp->dropped, n - fit);
    return FW_OK;
}

static fw_status spool_sync(void *ud, fw_err *err) {
    spool *sp = ud;
    /* the store's part first: a direct write the writer finishes meanwhile sets the flag again */
    if (atomic_exchange(&sp->direct_unsynced, false) && sp->inner.sync && sp->inner.sync(sp->inner.ud, err) != FW_OK) {
        atomic_store(&sp->direct_unsynced, true);
        return FW_EIO;
    }
    if (fdatasync(sp->fd) != 0)
        return fw_err_set(err, FW_EIO, "syncing %s: %s", sp->path, strerror(errno));
    return FW_OK;
}

static void spool_stats(void *ud, fw_log_sink_stats *s) {
    spool *sp = ud;
    pthread_mutex_lock(&sp->mu);
    s->spool_bytes = sp->write_off - sp->ingest_off;
    int64_t oldest = sp->oldest_ts_ms;
    pthread_mutex_unlock(&sp->mu);
    s->spooled = true;
    s->spool_records = atomic_load(&sp->pending);
    s->spool_capacity_bytes = sp->max_bytes;
    s->stored = atomic_load(&sp->stored);
    s->store_errors = atomic_load(&sp->store_errors);
    s->spool_dropped = atomic_load(&sp->dropped);
    s->recovered = atomic_load(&sp->recovered);
    s->caught_up = atomic_load(&sp->caught_up);
    s->lost = atomic_load(&sp->lost);
    s->append_errors = atomic_load(&sp->append_errors);
    s->damaged_bytes = atomic_load(&sp->damaged_bytes);
    s->set_aside = atomic_load(&sp->set_aside);
    s->direct = atomic_load(&sp->direct_stored);
    if (sp->inner.stats) {
        fw_log_sink_stats in = {0};
        sp->inner.stats(sp->inner.ud, &in);
        s->store_unhealthy = in.store_unhealthy;
        s->retention_deleted = in.retention_deleted;
    }
    int64_t now = fw_wall_unix_ms();
    s->lag_s = oldest > 0 && now > oldest ? (double)(now - oldest) * 1e-3 : 0;
}

static void spool_free(spool *sp) {
    if (sp->cnt_map) munmap(sp->cnt_map, 16);
    for (size_t i = 0; i < sp->n_orphans; i++) fw_free(sp->orphans[i]);
    fw_free(sp->orphans);
    fw_buf_free(&sp->enc);
    fw_free(sp->ends);
    fw_free(sp->path);
    fw_free(sp->recs);
    fw_buf_free(&sp->chunk);
    fw_free(sp->arena.base);
    pthread_mutex_destroy(&sp->mu);
    pthread_mutex_destroy(&sp->baton);
    pthread_cond_destroy(&sp->cv);
    pthread_cond_destroy(&sp->catch_cv);
    fw_free(sp);
}

static void spool_close(void *ud) {
    spool *sp = ud;
    pthread_mutex_lock(&sp->mu);
    sp->stop = true;
    pthread_cond_signal(&sp->cv);
    pthread_cond_signal(&sp->catch_cv);
    pthread_mutex_unlock(&sp->mu);
    if (sp->catcher_started) pthread_join(sp->catcher, NULL);
    pthread_join(sp->thread, NULL); /* ends after its step (orphans it recovers first) */
    /* The drain, on this thread (the server's, shutting down: normal priority). The ingest thread
     * did it until session 15, raising itself out of SCHED_IDLE first: without CAP_SYS_NICE (a
     * server not run as root, RLIMIT_NICE 0) Linux refuses that (EPERM), and at idle priority on
     * a machine busy with other work a full spool's drain had taken longer than 13 minutes. */
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        bool more = sp->ingest_off < sp->write_off;
        pthread_mutex_unlock(&sp->mu);
        size_t stored;
        if (!more || live_step(sp, &stored) == INGEST_BUSY) break; /* busy: the file stays for the next server */
    }
    if (sp->ingest_off == sp->write_off) { /* else kept: the next server ingests it */
        unlink(sp->path);
        if (sp->cnt_path[0]) unlink(sp->cnt_path);
    }
    close(sp->fd);
    if (sp->inner.close) sp->inner.close(sp->inner.ud);
    spool_free(sp);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The other *.spool files of dir, sorted (oldest process first by name is not guaranteed; order
 * between spools does not matter: each is in order, and feedback can join later). */
static void list_orphans(spool *sp, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 7 || strcmp(e->d_name + l - 6, ".spool") != 0) continue;
        if (sp->n_orphans == cap) {
            size_t nc = cap ? cap * 2 : 4;
            char **no = fw_realloc(sp->orphans, nc * sizeof *no);
            if (!no) break;
            sp->orphans = no;
            cap = nc;
        }
        size_t pl = strlen(dir) + 1 + l + 1;
        char *p = fw_malloc(pl);
        if (!p) break;
        snprintf(p, pl, "%s/%s", dir, e->d_name);
        sp->orphans[sp->n_orphans++] = p;
    }
    closedir(d);
    if (sp->n_orphans) qsort(sp->orphans, sp->n_orphans, sizeof *sp->orphans, cmp_str);
}

fw_status fw_log_sink_spool(const char *dir, const fw_log_sink *inner, uint64_t max_bytes, size_t ingest_batch,
                            bool catch_up, fw_log_sink *out, fw_err *err) {
    spool *sp = fw_calloc(1, sizeof *sp);
    if (!sp) return fw_err_set(err, FW_ENOMEM, "out of memory");
    sp->inner = *inner;
    sp->fd = -1;
    sp->max_bytes = max_bytes;
    sp->ingest_batch = ingest_batch ? ingest_batch : 64;
    sp->catch_up = catch_up;
    fw_buf_init(&sp->enc);
    fw_buf_init(&sp->chunk);
    sp->win_fd = -1;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_mutex_init(&sp->baton, NULL);
    pthread_cond_init(&sp->cv, NULL);
    pthread_cond_init(&sp->catch_cv, NULL);
    fw_status st = FW_OK;
    if (!(sp->recs = fw_malloc(sp->ingest_batch * sizeof *sp->recs))) {
        spool_free(sp);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        st = fw_err_set(err, FW_EIO, "prediction log spool: cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    list_orphans(sp, dir);
    size_t pl = strlen(dir) + 64;
    if (!(sp->path = fw_malloc(pl))) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto fail;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(sp->path, pl, "%s/serve-%ld-%08lx.spool", dir, (long)getpid(),
             (unsigned long)((uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 20) & 0xffffffffu);
    sp->fd = open(sp->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (sp->fd < 0) {
        st = fw_err_set(err, FW_EIO, "prediction log spool: cannot create %s: %s", sp->path, strerror(errno));
        goto fail;
    }
    if (flock(sp->fd, LOCK_EX | LOCK_NB) != 0 || !write_header(sp->fd, HDR)) {
        st = fw_err_set(err, FW_EIO, "prediction log spool: cannot prepare %s: %s", sp->path, strerror(errno));
        goto fail;
    }
    sp->write_off = sp->ingest_off = sp->file_hi = HDR;
    /* accepted/settled in /dev/shm (see cnt_map); without it, losses in the flush window go uncounted */
    struct stat me;
    int cfd = -1;
    if (fstat(sp->fd, &me) == 0 && counter_path(me.st_dev, me.st_ino, sp->cnt_path, sizeof sp->cnt_path) &&
        (cfd = open(sp->cnt_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0 && ftruncate(cfd, 16) == 0) {
        void *m = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        sp->cnt_map = m == MAP_FAILED ? NULL : m;
    }
    if (cfd >= 0) close(cfd);
    if (!sp->cnt_map) {
        if (sp->cnt_path[0]) unlink(sp->cnt_path);
        sp->cnt_path[0] = 0;
        fprintf(stderr, "flywheel serve: prediction log: no counter file in /dev/shm; records lost to a kill -9 "
                        "will not be counted\n");
    }
    if (pthread_create(&sp->thread, NULL, ingest_main, sp) != 0) {
        st = fw_err_set(err, FW_EIO, "prediction log spool: cannot start the ingest thread");
        goto fail;
    }
    if (catch_up) {
        if (pthread_create(&sp->catcher, NULL, catch_main, sp) == 0) sp->catcher_started = true;
        else fprintf(stderr, "flywheel serve: prediction log: cannot start the catch-up thread; the spool bound drops\n");
    }
    *out = (fw_log_sink){.ud = sp, .write = spool_write, .close = spool_close, .stats = spool_stats,
                         .sync = spool_sync, .compacts_inputs = true};
    if (sp->cnt_map) {
        out->accepted = (_Atomic(unsigned long long) *)sp->cnt_map;
        out->settled = (_Atomic(unsigned long long) *)(void *)((char *)sp->cnt_map + 8);
    }
    return FW_OK;
fail:
    if (sp->cnt_path[0]) unlink(sp->cnt_path);
    if (sp->fd >= 0) {
        close(sp->fd);
        unlink(sp->path);
    }
    spool_free(sp);
    return st;
}
