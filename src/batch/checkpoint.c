/* checkpoint.c — owns the batch state file: the small text record (key=value lines) written
 * atomically at every checkpoint, from which --resume knows how far an interrupted run got (blocks
 * done, output/reject/score file lengths, counters, the run's timestamp), and the early writeback of
 * the files a checkpoint will fsync. */
#include "batch/batch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "flywheel-batch-state 1"

/* Values are written raw; fields that could hold a newline or '=' (names, paths) are not
 * allowed to hold a newline (the writer replaces it with a space). */
static void put_str(fw_buf *b, const char *key, const char *v) {
    fw_buf_printf(b, "%s=", key);
    for (const char *p = v; *p; p++) fw_buf_put_u8(b, (*p == '\n' || *p == '\r') ? ' ' : (uint8_t)*p);
    fw_buf_put_u8(b, '\n');
}

fw_status fw__state_save(const char *path, const fw__state *s, fw_err *err) {
    fw_buf b;
    fw_buf_init(&b);
    fw_buf_printf(&b, "%s\n", STATE_MAGIC);
    put_str(&b, "job", s->job);
    put_str(&b, "input", s->input);
    fw_buf_printf(&b, "input_size=%" PRId64 "\ninput_mtime=%" PRId64 "\n", s->input_size, s->input_mtime);
    put_str(&b, "model", s->model);
    put_str(&b, "version", s->version);
    fw_buf_printf(&b,
                  "started_ms=%" PRId64 "\nrun_id=%" PRId64 "\nblock_rows=%" PRIu64 "\nblocks_done=%" PRIu64
                  "\nrows_read=%" PRIu64 "\nrows_scored=%" PRIu64 "\nrows_rejected=%" PRIu64
                  "\nrows_written=%" PRIu64 "\nout_len=%" PRIu64 "\nrej_len=%" PRIu64
                  "\nscores_len=%" PRIu64 "\nreasons_other=%" PRIu64 "\ndone=%d\n",
                  s->started_ms, s->run_id, s->block_rows, s->blocks_done, s->rows_read, s->rows_scored,
                  s->rows_rejected, s->rows_written, s->out_len, s->rej_len, s->scores_len,
                  s->reasons_other, s->done);
    for (size_t i = 0; i < s->n_reasons; i++) {
        char key[48];
        snprintf(key, sizeof key, "reason.%" PRIu64, s->reasons[i].count);
        put_str(&b, key, s->reasons[i].text);
    }
    fw_buf_put(&b, "end\n", 4);
    if (!fw_buf_ok(&b)) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    bool ok = off == b.len && fsync(fd) == 0;
    close(fd);
    fw_buf_free(&b);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return fw_err_set(err, FW_EIO, "%s: cannot write the checkpoint: %s", path, strerror(errno));
    }
    return FW_OK;
}

static bool get_u64(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end || errno) return false;
    *out = x;
    return true;
}

static bool get_i64(const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) return false;
    *out = x;
    return true;
}

fw_status fw__state_load(const char *path, fw__state *s, fw_err *err) {
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return fw_err_set(err, FW_ENOTFOUND, "%s: no checkpoint", path);
        return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    }
    char line[2048];
    int lineno = 0;
    bool magic = false, end = false;
    fw_status st = FW_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = '\0';
        if (lineno == 1) {
            magic = strcmp(line, STATE_MAGIC) == 0;
            if (!magic) break;
            continue;
        }
        if (strcmp(line, "end") == 0) {
            end = true;
            break;
        }
        char *eq = strchr(line, '=');
        if (!eq) {
            st = fw_err_set(err, FW_ECORRUPT, "%s:%d: expected key=value", path, lineno);
            break;
        }
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        bool ok = true;
        uint64_t u;
        if (strcmp(k, "job") == 0) snprintf(s->job, sizeof s->job, "%s", v);
        else if (strcmp(k, "input") == 0) snprintf(s->input, sizeof s->input, "%s", v);
        else if (strcmp(k, "model") == 0) snprintf(s->model, sizeof s->model, "%s", v);
        else if (strcmp(k, "version") == 0) snprintf(s->version, sizeof s->version, "%s", v);
        else if (strcmp(k, "input_size") == 0) ok = get_i64(v, &s->input_size);
        else if (strcmp(k, "input_mtime") == 0) ok = get_i64(v, &s->input_mtime);
        else if (strcmp(k, "started_ms") == 0) ok = get_i64(v, &s->started_ms);
        else if (strcmp(k, "run_id") == 0) ok = get_i64(v, &s->run_id);
        else if (strcmp(k, "block_rows") == 0) ok = get_u64(v, &s->block_rows);
        else if (strcmp(k, "blocks_done") == 0) ok = get_u64(v, &s->blocks_done);
        else if (strcmp(k, "rows_read") == 0) ok = get_u64(v, &s->rows_read);
        else if (strcmp(k, "rows_scored") == 0) ok = get_u64(v, &s->rows_scored);
        else if (strcmp(k, "rows_rejected") == 0) ok = get_u64(v, &s->rows_rejected);
        else if (strcmp(k, "rows_written") == 0) ok = get_u64(v, &s->rows_written);
        else if (strcmp(k, "out_len") == 0) ok = get_u64(v, &s->out_len);
        else if (strcmp(k, "rej_len") == 0) ok = get_u64(v, &s->rej_len);
        else if (strcmp(k, "scores_len") == 0) ok = get_u64(v, &s->scores_len);
        else if (strcmp(k, "reasons_other") == 0) ok = get_u64(v, &s->reasons_other);
        else if (strcmp(k, "done") == 0) {
            ok = get_u64(v, &u) && u <= 1;
            s->done = (int)u;
        } else if (strncmp(k, "reason.", 7) == 0 && s->n_reasons < FW_BATCH_MAX_REASONS) {
            fw_batch_reason *r = &s->reasons[s->n_reasons++];
            ok = get_u64(k + 7, &r->count);
            snprintf(r->text, sizeof r->text, "%s", v);
        } else
            ok = false;
        if (!ok) {
            st = fw_err_set(err, FW_ECORRUPT, "%s:%d: bad value for '%s'", path, lineno, k);
            break;
        }
    }
    fclose(f);
    if (st) return st;
    if (!magic) return fw_err_set(err, FW_ECORRUPT, "%s: not a batch checkpoint file", path);
    if (!end) return fw_err_set(err, FW_ECORRUPT, "%s: truncated checkpoint file", path);
    if (!s->block_rows) return fw_err_set(err, FW_ECORRUPT, "%s: block_rows missing", path);
    return FW_OK;
}

void fw__start_writeback(int fd, uint64_t off, uint64_t len) {
#ifdef SYNC_FILE_RANGE_WRITE
    if (fd >= 0 && len) (void)sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)off, (void)len;
#endif
}
