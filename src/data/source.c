/* source.c — owns the byte-stream sources: plain files (read(2) straight into the caller's block),
 * gzip files and buffers (zlib inflate, multi-member aware, optionally on a read-ahead thread that
 * inflates the next blocks while the caller parses), and memory buffers. */
#include "data/source.h"

#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FW__GZ_IN (1u << 20)
#define FW__RA_BLOCK (1u << 20) /* read-ahead: inflated block size */
#define FW__RA_BLOCKS 16        /* read-ahead: blocks inflated ahead of the reader at most */

/* The read-ahead thread's ring: it inflates into block (tail % N) while the reader copies out of
 * block (head % N); head <= tail <= head + N. After the last block (or an error) `done` is set;
 * the error, if any, reaches the reader after every block inflated before it. */
typedef struct gz_ahead {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more; /* a block was filled, or done */
    pthread_cond_t room; /* a block was freed, or stop */
    unsigned char *mem;  /* FW__RA_BLOCKS x FW__RA_BLOCK */
    size_t len[FW__RA_BLOCKS];
    size_t head, tail, pos; /* pos: bytes of block head already handed out */
    bool done, stop;
    fw_status st;
    fw_err err;
} gz_ahead;

struct fw_source {
    char *name;
    int fd;              /* -1 for memory */
    bool own_fd;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    size_t size_hint;
    bool gzip;
    bool gz_end;         /* the last member ended and no more input follows */
    z_stream zs;
    unsigned char *in;   /* compressed input block (file + gzip) */
    /* bytes peeked while sniffing the magic of a plain file, handed out first */
    unsigned char peek[2];
    size_t peek_len, peek_pos;
    bool eof_raw;
    gz_ahead *ra; /* non-NULL once fw_source_readahead started the thread */
};

static fw_status raw_read(fw_source *s, unsigned char *buf, size_t cap, size_t *got, fw_err *err) {
    *got = 0;
    if (s->fd < 0) {
        size_t n = s->mem_len - s->mem_pos;
        if (n > cap) n = cap;
        if (n) memcpy(buf, s->mem + s->mem_pos, n);
        s->mem_pos += n;
        *got = n;
        return FW_OK;
    }
    size_t done = 0;
    while (s->peek_pos < s->peek_len && done < cap) buf[done++] = s->peek[s->peek_pos++];
    if (done == cap || s->eof_raw) {
        *got = done;
        return FW_OK;
    }
    for (;;) {
        ssize_t r = read(s->fd, buf + done, cap - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fw_err_set(err, FW_EIO, "%s: read failed: %s", s->name, strerror(errno));
        if (r == 0) s->eof_raw = true;
        *got = done + (size_t)r;
        return FW_OK;
    }
}

static fw_status start(fw_source *s, fw_err *err) {
    /* Sniff the gzip magic. */
    unsigned char m[2];
    size_t n = 0;
    if (s->fd < 0) {
        n = s->mem_len < 2 ? s->mem_len : 2;
        memcpy(m, s->mem, n);
    } else {
        while (n < 2) {
            size_t got;
            fw_status st = raw_read(s, m + n, 2 - n, &got, err);
            if (st) return st;
            if (!got) break;
            n += got;
        }
        memcpy(s->peek, m, n);
        s->peek_len = n;
        s->peek_pos = 0;
    }
    if (n == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        s->gzip = true;
        memset(&s->zs, 0, sizeof s->zs);
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)
            return fw_err_set(err, FW_ENOMEM, "%s: cannot start gzip decoder", s->name);
        if (s->fd >= 0) {
            s->in = fw_malloc(FW__GZ_IN);
            if (!s->in) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", s->name);
        } else {
            s->zs.next_in = (unsigned char *)s->mem;
            s->zs.avail_in = (uInt)(s->mem_len > UINT32_MAX ? UINT32_MAX : s->mem_len);
            s->mem_pos = s->zs.avail_in;
        }
    }
    return FW_OK;
}

static fw_source *alloc_source(const char *name) {
    fw_source *s = fw_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    s->name = fw_strdup(name);
    if (!s->name) {
        fw_free(s);
        return NULL;
    }
    return s;
}

fw_status fw_source_open(const char *path, fw_source **out, fw_err *err) {
    *out = NULL;
    fw_source *s = alloc_source(path);
    if (!s) return fw_err_set(err, FW_ENOMEM, "%s: out of memory", path);
    if (strcmp(path, "-") == 0) {
        s->fd = 0;
    } else {
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            int e = errno;
            fw_source_close(s);
            return fw_err_set(err, e == ENOENT ? FW_ENOTFOUND : FW_EIO, "%s: cannot open: %s", path,
                              strerror(e));
        }
        s->own_fd = true;
        struct stat stt;
        if (fstat(s->fd, &stt) == 0) {
            if (S_ISDIR(stt.st_mode)) {
                fw_source_close(s);
                return fw_err_set(err, FW_EIO, "%s: is a directory", path);
            }
            if (S_ISREG(stt.st_mode)) s->size_hint = (size_t)stt.st_size;
        }
    }
    fw_status st = start(s, err);
    if (st) {
        fw_source_close(s);
        return st;
    }
    if (s->gzip && s->size_hint >= 18) {
        /* The gzip trailer's ISIZE: the uncompressed size mod 4 GiB (of the last member). */
        unsigned char t[4];
        if (pread(s->fd, t, 4, (off_t)(s->size_hint - 4)) == 4) {
            size_t isize = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
            while (isize < s->size_hint) isize += (size_t)1 << 32; /* wrapped: > 4 GiB */
            s->size_hint = isize;
        } else {
            s->size_hint = 0;
        }
    } else if (s->gzip) {
        s->size_hint = 0;
    }
    *out = s;
    return FW_OK;
}

fw_status fw_source_open_mem(const void *data, size_t len, const char *name, fw_source **out,
                             fw_err *err) {
    *out = NULL;
    fw_source *s = alloc_source(name ? name : "<memory>");
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->mem = data;
    s->mem_len = data ? len : 0;
    s->size_hint = s->mem_len;
    fw_status st = start(s, err);
    if (st) {
        fw_source_close(s);
        return st;
    }
    *out = s;
    return FW_OK;
}

/* The next compressed bytes as inflate's input: a read of the file, or the rest of the memory
 * buffer (at most 4 GiB at a time); *n = how many (0: the input has ended). */
static fw_status gz_refill(fw_source *s, size_t *n, fw_err *err) {
    *n = 0;
    if (s->fd >= 0) {
        fw_status st = raw_read(s, s->in, FW__GZ_IN, n, err);
        if (st) return st;
        s->zs.next_in = s->in;
    } else if (s->mem_pos < s->mem_len) {
        *n = s->mem_len - s->mem_pos;
        if (*n > UINT32_MAX) *n = UINT32_MAX;
        s->zs.next_in = (unsigned char *)s->mem + s->mem_pos;
        s->mem_pos += *n;
    }
    s->zs.avail_in = (uInt)*n;
    return FW_OK;
}

static fw_status gz_read(fw_source *s, unsigned char *buf, size_t cap, size_t *got, fw_err *err) {
    *got = 0;
    if (s->gz_end) return FW_OK;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    s->zs.next_out = buf;
    s->zs.avail_out = (uInt)cap;
    while (s->zs.avail_out > 0) {
        if (s->zs.avail_in == 0) {
            size_t n = 0;
            fw_status st = gz_refill(s, &n, err);
            if (st) return st;
            if (n == 0) {
                return fw_err_set(err, FW_ECORRUPT, "%s: truncated gzip data (stream ends early)",
                                  s->name);
            }
        }
        int r = inflate(&s->zs, Z_NO_FLUSH);
        if (r == Z_STREAM_END) {
            /* Another member may follow (concatenated gzip); peek for more input. */
            if (s->zs.avail_in == 0) {
                size_t n = 0;
                fw_status st = gz_refill(s, &n, err);
                if (st) return st;
                if (n == 0) {
                    s->gz_end = true;
                    break;
                }
            }
            inflateReset(&s->zs);
            continue;
        }
        if (r == Z_BUF_ERROR) continue; /* needs more input: loop refills */
        if (r != Z_OK)
            return fw_err_set(err, FW_ECORRUPT, "%s: corrupt gzip data (%s)", s->name,
                              s->zs.msg ? s->zs.msg : "inflate failed");
    }
    *got = cap - s->zs.avail_out;
    return FW_OK;
}

static void *ra_main(void *arg) {
    fw_source *s = arg;
    gz_ahead *ra = s->ra;
    for (;;) {
        pthread_mutex_lock(&ra->mu);
        while (ra->tail - ra->head == FW__RA_BLOCKS && !ra->stop) pthread_cond_wait(&ra->room, &ra->mu);
        bool stop = ra->stop;
        size_t slot = ra->tail % FW__RA_BLOCKS;
        pthread_mutex_unlock(&ra->mu);
        if (stop) break;
        size_t got = 0;
        fw_err e;
        fw_err_clear(&e);
        fw_status st = gz_read(s, ra->mem + slot * FW__RA_BLOCK, FW__RA_BLOCK, &got, &e);
        pthread_mutex_lock(&ra->mu);
        ra->len[slot] = got;
        if (st) {
            ra->st = st;
            ra->err = e;
            ra->done = true;
        } else {
            if (got) ra->tail++;
            if (got < FW__RA_BLOCK) ra->done = true; /* gz_read fills the block unless at the end */
        }
        bool done = ra->done;
        pthread_cond_signal(&ra->more);
        pthread_mutex_unlock(&ra->mu);
        if (done) break;
    }
    return NULL;
}

fw_status fw_source_readahead(fw_source *s) {
    if (!s->gzip || s->ra || s->gz_end) return FW_OK;
    gz_ahead *ra = fw_calloc(1, sizeof *ra);
    if (!ra) return FW_ENOMEM;
    ra->mem = fw_malloc((size_t)FW__RA_BLOCKS * FW__RA_BLOCK);
    if (!ra->mem) {
        fw_free(ra);
        return FW_ENOMEM;
    }
    pthread_mutex_init(&ra->mu, NULL);
    pthread_cond_init(&ra->more, NULL);
    pthread_cond_init(&ra->room, NULL);
    s->ra = ra;
    if (pthread_create(&ra->thread, NULL, ra_main, s) != 0) {
        s->ra = NULL;
        pthread_mutex_destroy(&ra->mu);
        pthread_cond_destroy(&ra->more);
        pthread_cond_destroy(&ra->room);
        fw_free(ra->mem);
        fw_free(ra);
        return FW_OK; /* no thread: the reads inflate on the caller's thread as before */
    }
    return FW_OK;
}

/* Copies what the read-ahead thread has inflated (waiting for the next block when none is). */
static fw_status ra_read(gz_ahead *ra, unsigned char *buf, size_t cap, size_t *got, fw_err *err) {
    size_t done = 0;
    pthread_mutex_lock(&ra->mu);
    while (ra->head == ra->tail && !ra->done) pthread_cond_wait(&ra->more, &ra->mu);
    while (done < cap && ra->head < ra->tail) {
        size_t slot = ra->head % FW__RA_BLOCKS, len = ra->len[slot];
        pthread_mutex_unlock(&ra->mu);
        size_t n = len - ra->pos < cap - done ? len - ra->pos : cap - done;
        memcpy(buf + done, ra->mem + slot * FW__RA_BLOCK + ra->pos, n);
        done += n;
        ra->pos += n;
        pthread_mutex_lock(&ra->mu);
        if (ra->pos == len) {
            ra->pos = 0;
            ra->head++;
            pthread_cond_signal(&ra->room);
        }
    }
    fw_status st = done == 0 && ra->done && ra->head == ra->tail ? ra->st : FW_OK;
    if (st && err) *err = ra->err;
    pthread_mutex_unlock(&ra->mu);
    *got = st ? 0 : done;
    return st;
}

static void ra_stop(fw_source *s) {
    gz_ahead *ra = s->ra;
    if (!ra) return;
    pthread_mutex_lock(&ra->mu);
    ra->stop = true;
    pthread_cond_signal(&ra->room);
    pthread_mutex_unlock(&ra->mu);
    pthread_join(ra->thread, NULL);
    pthread_mutex_destroy(&ra->mu);
    pthread_cond_destroy(&ra->more);
    pthread_cond_destroy(&ra->room);
    fw_free(ra->mem);
    fw_free(ra);
    s->ra = NULL;
}

fw_status fw_source_read(fw_source *s, void *buf, size_t cap, size_t *got, fw_err *err) {
    if (s->ra) return ra_read(s->ra, buf, cap, got, err);
    if (s->gzip) return gz_read(s, buf, cap, got, err);
    return raw_read(s, buf, cap, got, err);
}

fw_status fw_source_read_full(fw_source *s, void *buf, size_t cap, size_t *got, fw_err *err) {
    size_t done = 0;
    while (done < cap) {
        size_t n;
        fw_status st = fw_source_read(s, (char *)buf + done, cap - done, &n, err);
        if (st) {
            *got = done;
            return st;
        }
        if (n == 0) break;
        done += n;
    }
    *got = done;
    return FW_OK;
}

fw_status fw_source_seek(fw_source *s, uint64_t off, fw_err *err) {
    if (s->gzip || s->ra) return fw_err_set(err, FW_EINVAL, "%s: a compressed stream cannot seek", s->name);
    if (s->fd < 0) {
        s->mem_pos = off < s->mem_len ? (size_t)off : s->mem_len;
        return FW_OK;
    }
    if (lseek(s->fd, (off_t)off, SEEK_SET) < 0)
        return fw_err_set(err, FW_EINVAL, "%s: cannot seek: %s", s->name, strerror(errno));
    s->peek_len = s->peek_pos = 0; /* the sniffed bytes are the file's first two */
    s->eof_raw = false;
    return FW_OK;
}

const char *fw_source_name(const fw_source *s) { return s->name; }
bool fw_source_is_gzip(const fw_source *s) { return s->gzip; }
size_t fw_source_size_hint(const fw_source *s) { return s->size_hint; }

void fw_source_close(fw_source *s) {
    if (!s) return;
    ra_stop(s);
    if (s->gzip) inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0) close(s->fd);
    fw_free(s->in);
    fw_free(s->name);
    fw_free(s);
}
