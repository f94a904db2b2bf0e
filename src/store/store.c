/* store.c — owns what every store implementation shares: choosing the implementation for a home,
 * freeing records, and the content-addressed artifact files under <home>/artifacts/. */
#include "store/store.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "store/store_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fw_store_default_home(const char *home) {
    if (home && *home) return home;
    const char *env = getenv("FLYWHEEL_HOME");
    if (env && *env) return env;
    return "./.flywheel";
}

fw_status fw_store_open(const char *home, fw_store **out, fw_err *err) {
    home = fw_store_default_home(home);
    if (strncmp(home, "postgres://", 11) == 0 || strncmp(home, "postgresql://", 13) == 0)
        return fw_err_set(err, FW_EUNSUPPORTED, "PostgreSQL stores are not built in yet (%s)", home);
    return fw_store_sqlite_open(home, out, err);
}

void fw_store_close(fw_store *s) {
    if (s) s->ops->close(s);
}

void fw_version_rec_free(fw_version_rec *v) {
    if (!v) return;
    char **strs[] = {&v->name, &v->status, &v->artifact_hash, &v->run_id, &v->family, &v->task,
                     &v->data_fp, &v->test_fp, &v->metric_name, &v->params_json, &v->metrics_json,
                     &v->tags_json, &v->created_by};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) fw_free(*strs[i]);
    memset(v, 0, sizeof *v);
}

void fw_model_summaries_free(fw_model_summary *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) {
        fw_free(m[i].name);
        fw_free(m[i].aliases);
    }
    fw_free(m);
}

void fw_alias_recs_free(fw_alias_rec *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) fw_free(a[i].alias);
    fw_free(a);
}

void fw_run_rec_free(fw_run_rec *r) {
    if (!r) return;
    fw_free(r->run_id);
    fw_free(r->name);
    fw_free(r->command);
    fw_free(r->user);
    fw_free(r->record_json);
    memset(r, 0, sizeof *r);
}

void fw_audit_recs_free(fw_audit_rec *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) {
        fw_free(a[i].name);
        fw_free(a[i].action);
        fw_free(a[i].alias);
        fw_free(a[i].reason);
        fw_free(a[i].command);
        fw_free(a[i].user);
    }
    fw_free(a);
}

/* ---- content-addressed files ---------------------------------------------------------------- */
fw_status fw__mkdirs(const char *path, fw_err *err) {
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

static bool valid_hash(const char *h) {
    if (!h || strlen(h) != 32) return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

void fw__artifact_path(const char *home, const char *hash, char *out, size_t size) {
    snprintf(out, size, "%s/artifacts/%.2s/%s.fwm", home, hash, hash + 2);
}

fw_status fw__read_file(const char *path, uint8_t **out, size_t *len, fw_err *err) {
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

fw_status fw__write_file_atomic(const char *path, const void *data, size_t len, fw_err *err) {
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
    fw__crash_point("artifact:temp-written");
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

fw_status fw__fs_artifact_put(const char *home, const void *data, size_t len, char hash_out[33],
                              fw_err *err) {
    fw_hash128_hex(data, len, hash_out);
    char path[4096], dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts/%.2s", home, hash_out);
    fw__artifact_path(home, hash_out, path, sizeof path);
    /* An intact file with this name is the same bytes (content address): keep it. */
    uint8_t *old = NULL;
    size_t old_len = 0;
    fw_err ignore;
    if (fw__read_file(path, &old, &old_len, &ignore) == FW_OK) {
        char h[33];
        fw_hash128_hex(old, old_len, h);
        fw_free(old);
        if (strcmp(h, hash_out) == 0) return FW_OK;
    }
    fw_status st = fw__mkdirs(dir, err);
    if (st) return st;
    return fw__write_file_atomic(path, data, len, err);
}

fw_status fw__fs_artifact_read(const char *home, const char *hash, uint8_t **out, size_t *len,
                               fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    fw_status st = fw__read_file(path, out, len, err);
    if (st == FW_ENOTFOUND) return fw_err_set(err, FW_ENOTFOUND, "artifact file %s is missing", path);
    if (st) return st;
    char h[33];
    fw_hash128_hex(*out, *len, h);
    if (strcmp(h, hash) != 0) {
        fw_free(*out);
        *out = NULL;
        *len = 0;
        return fw_err_set(err, FW_ECORRUPT,
                          "artifact file %s was altered on disk (its content hash is %s, expected %s)", path,
                          h, hash);
    }
    return FW_OK;
}

fw_status fw__fs_artifact_remove(const char *home, const char *hash, fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return fw_err_set(err, FW_EIO, "cannot remove %s: %s", path, strerror(errno));
    return FW_OK;
}

fw_status fw__fs_artifact_list(const char *home, char ***hashes, size_t *n, fw_err *err) {
    *hashes = NULL;
    *n = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts", home);
    DIR *top = opendir(dir);
    if (!top) return errno == ENOENT ? FW_OK : fw_err_set(err, FW_EIO, "cannot read %s: %s", dir, strerror(errno));
    fw_status st = FW_OK;
    size_t cap = 0;
    struct dirent *e;
    while (st == FW_OK && (e = readdir(top)) != NULL) {
        if (strlen(e->d_name) != 2 || !isxdigit((unsigned char)e->d_name[0]) || !isxdigit((unsigned char)e->d_name[1]))
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *d = opendir(sub);
        if (!d) continue;
        struct dirent *f;
        while (st == FW_OK && (f = readdir(d)) != NULL) {
            char hash[40];
            if (strlen(f->d_name) != 34 || strcmp(f->d_name + 30, ".fwm") != 0) continue;
            snprintf(hash, sizeof hash, "%.2s%.30s", e->d_name, f->d_name);
            if (!valid_hash(hash)) continue;
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                char **nh = fw_realloc(*hashes, nc * sizeof *nh);
                if (!nh) {
                    st = fw_err_set(err, FW_ENOMEM, "out of memory");
                    break;
                }
                *hashes = nh;
                cap = nc;
            }
            if (!((*hashes)[*n] = fw_strdup(hash))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
            else (*n)++;
        }
        closedir(d);
    }
    closedir(top);
    return st;
}

/* A temporary file of fw__write_file_atomic ("<name>.tmp.<pid>.<n>") whose writer is gone. */
static bool abandoned_temp(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t) return false;
    char *end = NULL;
    long pid = strtol(t + 5, &end, 10);
    if (!end || *end != '.' || pid <= 0) return false;
    if (pid == (long)getpid()) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

fw_status fw__fs_artifact_leftovers(const char *home, bool remove, fw_buf *report, size_t *n,
                                    fw_err *err) {
    *n = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts", home);
    DIR *top = opendir(dir);
    if (!top) return errno == ENOENT ? FW_OK : fw_err_set(err, FW_EIO, "cannot read %s: %s", dir, strerror(errno));
    fw_status st = FW_OK;
    struct dirent *e;
    while (st == FW_OK && (e = readdir(top)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *d = opendir(sub);
        if (!d) continue; /* not a directory */
        struct dirent *f;
        while ((f = readdir(d)) != NULL) {
            if (!abandoned_temp(f->d_name)) continue;
            char path[4700];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            (*n)++;
            if (report) fw_buf_printf(report, "%s\n", path);
            if (remove && unlink(path) != 0 && errno != ENOENT) {
                st = fw_err_set(err, FW_EIO, "cannot remove %s: %s", path, strerror(errno));
                break;
            }
        }
        closedir(d);
    }
    closedir(top);
    return st;
}

void fw__crash_point(const char *name) {
    const char *want = getenv("FW_CRASH_POINT");
    if (want && strcmp(want, name) == 0) raise(SIGKILL);
}
