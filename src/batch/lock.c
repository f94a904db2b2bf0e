/* lock.c — owns the job lock: an exclusive flock on <home>/locks/<job>.lock, so two runs of the
 * same batch job (cron firing while the last run is still going) never overlap. The kernel drops
 * the lock when the process dies, so a killed run never leaves a stale lock behind. */
#include "batch/batch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void fw__safe_name(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '@';
        out[n++] = ok ? c : '_';
    }
    if (cap) out[n] = '\0';
}

static void mkdir_p(const char *path) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

fw_status fw__lock_take(const char *home, const char *job, int *fd_out, fw_err *err) {
    char dir[1100], safe[256], path[1400];
    snprintf(dir, sizeof dir, "%s/locks", home);
    mkdir_p(dir);
    fw__safe_name(job, safe, sizeof safe);
    snprintf(path, sizeof path, "%s/%s.lock", dir, safe);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fw_err_set(err, FW_EIO, "%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0) pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return fw_err_set(err, FW_EBUSY, "job '%s' is already running (pid %s; lock %s)", job,
                              pid[0] ? pid : "?", path);
        return fw_err_set(err, FW_EIO, "%s: cannot lock: %s", path, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) { /* best effort */
    }
    *fd_out = fd;
    return FW_OK;
}

void fw__lock_release(int fd) {
    if (fd < 0) return;
    if (ftruncate(fd, 0) != 0) { /* best effort */
    }
    flock(fd, LOCK_UN);
    close(fd);
}
