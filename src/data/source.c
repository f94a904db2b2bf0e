/* source.c — owns the byte-stream sources: plain files (read(2) straight into the caller's block),
 * gzip files and buffers (zlib inflate, multi-member aware), and memory buffers. */
#include "data/source.h"

#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FW__GZ_IN (1u << 20)

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

static fw_status gz_read(fw_source *s, unsigned char *buf, size_t cap, size_t *got, fw_err *err) {
    *got = 0;
    if (s->gz_end) return FW_OK;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    s->zs.next_out = buf;
    s->zs.avail_out = (uInt)cap;
    while (s->zs.avail_out > 0) {
        if (s->zs.avail_in == 0) {
            size_t n = 0;
            if (s->fd >= 0) {
                fw_status st = raw_read(s, s->in, FW__GZ_IN, &n, err);
                if (st) return st;
                s->zs.next_in = s->in;
            } else if (s->mem_pos < s->mem_len) {
                n = s->mem_len - s->mem_pos;
                if (n > UINT32_MAX) n = UINT32_MAX;
                s->zs.next_in = (unsigned char *)s->mem + s->mem_pos;
                s->mem_pos += n;
            }
            s->zs.avail_in = (uInt)n;
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
                if (s->fd >= 0) {
                    fw_status st = raw_read(s, s->in, FW__GZ_IN, &n, err);
                    if (st) return st;
                    s->zs.next_in = s->in;
                } else if (s->mem_pos < s->mem_len) {
                    n = s->mem_len - s->mem_pos;
                    if (n > UINT32_MAX) n = UINT32_MAX;
                    s->zs.next_in = (unsigned char *)s->mem + s->mem_pos;
                    s->mem_pos += n;
                }
                s->zs.avail_in = (uInt)n;
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

fw_status fw_source_read(fw_source *s, void *buf, size_t cap, size_t *got, fw_err *err) {
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

const char *fw_source_name(const fw_source *s) { return s->name; }
bool fw_source_is_gzip(const fw_source *s) { return s->gzip; }
size_t fw_source_size_hint(const fw_source *s) { return s->size_hint; }

void fw_source_close(fw_source *s) {
    if (!s) return;
    if (s->gzip) inflateEnd(&s->zs);
    if (s->own_fd && s->fd >= 0) close(s->fd);
    fw_free(s->in);
    fw_free(s->name);
    fw_free(s);
}
