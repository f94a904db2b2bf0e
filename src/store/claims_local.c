/* claims_local.c — owns batch partition claims on a home directory (the SQLite back end: one
 * machine): partition I of a job is held by an exclusive flock on <home>/locks/<job>.part-I.lock,
 * which the kernel drops when the holder dies; the file is removed once the partition is done.
 * What is done is each worker's own knowledge: the caller marks a partition done once its output
 * is committed (or found committed), and a worker's scan skips those; partitions another live
 * worker holds answer FW_EBUSY until they are done. */
#include "core/alloc.h"
#include "store/store.h"
#include "store/store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct local_claims {
    fw_store_claims base;
    char *dir;        /* <home>/locks */
    char *job;        /* the job's name as a file name */
    uint32_t count;
    unsigned char *done; /* count flags: done, as far as this worker knows */
    uint32_t held;    /* the partition held (fd >= 0) */
    int fd;
} local_claims;

/* The job's name as a file name: [A-Za-z0-9._-] kept, anything else '_', then a 64-bit FNV-1a of
 * the whole name (two jobs whose names differ only in replaced characters do not share locks). */
static char *job_file_name(const char *job) {
    size_t n = strlen(job), keep = n > 96 ? 96 : n;
    char *out = fw_malloc(keep + 24);
    if (!out) return NULL;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)job[i]) * 1099511628211ull;
    for (size_t i = 0; i < keep; i++) {
        char c = job[n - keep + i]; /* the end of a path names the output best */
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        out[i] = ok ? c : '_';
    }
    snprintf(out + keep, 24, "-%016llx", (unsigned long long)h);
    return out;
}

static void unhold(local_claims *c) {
    if (c->fd >= 0) close(c->fd); /* closing drops the flock */
    c->fd = -1;
}

static fw_status lc_next(fw_store_claims *b, uint32_t *index, fw_err *err) {
    local_claims *c = (local_claims *)b;
    unhold(c);
    bool busy = false;
    char path[4096];
    for (uint32_t i = 0; i < c->count; i++) {
        if (c->done[i]) continue;
        snprintf(path, sizeof path, "%s/%s.part-%u.lock", c->dir, c->job, i);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            c->fd = fd;
            c->held = i;
            *index = i;
            return FW_OK;
        }
        int e = errno;
        close(fd);
        if (e != EWOULDBLOCK) return fw_err_set(err, FW_EIO, "%s: lock: %s", path, strerror(e));
        busy = true;
    }
    return busy ? FW_EBUSY : FW_ENOTFOUND;
}

static fw_status lc_done(fw_store_claims *b, uint32_t index, fw_err *err) {
    local_claims *c = (local_claims *)b;
    if (index >= c->count) return fw_err_set(err, FW_EINVAL, "partition %u of %u", index, c->count);
    c->done[index] = 1;
    /* the lock file goes with the claim: a worker that opens it meanwhile, or makes it again, finds
     * the partition committed (done follows the commit) and marks it done in turn */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.part-%u.lock", c->dir, c->job, index);
    unlink(path);
    if (c->fd >= 0 && c->held == index) unhold(c);
    return FW_OK;
}

static void lc_release(fw_store_claims *b, uint32_t index) {
    local_claims *c = (local_claims *)b;
    if (c->fd >= 0 && c->held == index) unhold(c);
}

static void lc_close(fw_store_claims *b) {
    local_claims *c = (local_claims *)b;
    if (!c) return;
    unhold(c);
    fw_free(c->dir);
    fw_free(c->job);
    fw_free(c->done);
    fw_free(c);
}

fw_status fw__local_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err) {
    *out = NULL;
    local_claims *c = fw_calloc(1, sizeof *c);
    if (!c) return fw_err_set(err, FW_ENOMEM, "out of memory");
    c->base = (fw_store_claims){lc_next, lc_done, lc_release, lc_close};
    c->fd = -1;
    c->count = count;
    size_t dl = strlen(home) + 8;
    c->dir = fw_malloc(dl);
    c->job = job_file_name(job);
    c->done = fw_calloc(count, 1);
    if (!c->dir || !c->job || !c->done) {
        lc_close(&c->base);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    snprintf(c->dir, dl, "%s/locks", home);
    mkdir(home, 0755);
    if (mkdir(c->dir, 0755) != 0 && errno != EEXIST) {
        fw_status st = fw_err_set(err, FW_EIO, "%s: %s", c->dir, strerror(errno));
        lc_close(&c->base);
        return st;
    }
    *out = &c->base;
    return FW_OK;
}
