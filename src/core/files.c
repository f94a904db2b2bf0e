/* files.c — owns the shared file utilities (files.h) and, in test builds, the crash-point hook
 * (core/test_hooks.h). */
#include "core/files.h"

#include "core/alloc.h"
#include "core/test_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fw_status fw_mkdirs(const char *path, fw_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return fw_err_set(err, FW_EINVAL, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return fw_err_set(err, FW_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return fw_err_set(err, FW_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
    return FW_OK;
}

fw_status fw_read_file(const char *path, uint8_t **out, size_t *len, fw_err *err) {
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "cannot open %s: %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return fw_err_set(err, FW_EIO, "cannot stat %s: %s", path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = fw_malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return fw_err_set(err, FW_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            fw_free(buf);
            return fw_err_set(err, FW_EIO, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "short read");
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return FW_OK;
}

fw_status fw_write_file_atomic(const char *path, const void *data, size_t len, fw_err *err) {
    char tmp[4200];
    static unsigned counter;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fw_err_set(err, FW_EIO, "cannot create %s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return fw_err_set(err, FW_EIO, "cannot write %s: %s", tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return fw_err_set(err, FW_EIO, "cannot sync %s: %s", tmp, strerror(e));
    }
    FW_CRASH_POINT("artifact:temp-written");
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fw_err_set(err, FW_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    /* make the rename itself durable */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    return FW_OK;
}

/* A temporary file of fw_write_file_atomic ("<name>.tmp.<pid>.<n>") whose writer is gone. */
bool fw_file_temp_abandoned(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t) return false;
    char *end = NULL;
    long pid = strtol(t + 5, &end, 10);
    if (!end || *end != '.' || pid <= 0) return false;
    if (pid == (long)getpid()) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

#ifdef FW_TEST
_Atomic unsigned long long fw__test_counts[FW_TC_COUNT];
const char *const fw__test_counter_names[FW_TC_COUNT] = {"artifact_open", "artifact_read", "feedback_parse",
                                                         "request_id_model", "spool_read_bytes",
                                                         "spool_wraps"};

void fw__crash_point(const char *name) {
    const char *want = getenv("FW_CRASH_POINT");
    if (want && strcmp(want, name) == 0) raise(SIGKILL);
}
#endif
