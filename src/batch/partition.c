/* partition.c — owns batch partitions: which partition of the input a worker scores (`--partition
 * I/N`, or from the launcher's environment: MPI ranks, Slurm array tasks or tasks), where a
 * partition's output goes and when it counts as committed (renamed into place once complete), and
 * the merge of the N committed partitions into the output one process would have written. The byte
 * ranges themselves are cut by the reader (input.c: fw__in_partition). */
#include "batch/batch.h"
#include "batch/batch_int.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static bool parse_u32(const char *s, uint32_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > 0xFFFFFFFFul || s[0] == '-') return false;
    *out = (uint32_t)v;
    return true;
}

fw_status fw_batch_partition_parse(const char *spec, uint32_t *index, uint32_t *count, fw_err *err) {
    if (spec && strcmp(spec, "auto") == 0) {
        /* rank and size as the launcher sets them: Open MPI, PMI (MPICH, srun), Slurm arrays, Slurm tasks */
        static const char *const pairs[][3] = {
            {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", NULL},
            {"PMI_RANK", "PMI_SIZE", NULL},
            {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"},
            {"SLURM_PROCID", "SLURM_NTASKS", NULL},
        };
        for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
            uint32_t id, n, lo = 0;
            if (!parse_u32(getenv(pairs[i][0]), &id) || !parse_u32(getenv(pairs[i][1]), &n)) continue;
            if (pairs[i][2] && getenv(pairs[i][2]) && !parse_u32(getenv(pairs[i][2]), &lo)) continue;
            if (id < lo || n == 0 || id - lo >= n)
                return fw_err_set(err, FW_EINVAL, "--partition auto: %s=%u is not in [%u, %u) (%s=%u)", pairs[i][0], id,
                                  lo, lo + n, pairs[i][1], n);
            *index = id - lo;
            *count = n;
            return FW_OK;
        }
        return fw_err_set(err, FW_EINVAL,
                          "--partition auto: no launcher in the environment (OMPI_COMM_WORLD_RANK/SIZE, "
                          "PMI_RANK/SIZE, SLURM_ARRAY_TASK_ID/COUNT, SLURM_PROCID/NTASKS)");
    }
    const char *slash = spec ? strchr(spec, '/') : NULL;
    char a[16];
    uint32_t i, n;
    if (!slash || slash == spec || (size_t)(slash - spec) >= sizeof a)
        return fw_err_set(err, FW_EINVAL, "--partition: expected I/N (0 <= I < N) or auto, got '%s'", spec ? spec : "");
    memcpy(a, spec, (size_t)(slash - spec));
    a[slash - spec] = 0;
    if (!parse_u32(a, &i) || !parse_u32(slash + 1, &n) || n == 0 || i >= n || n > 1000000)
        return fw_err_set(err, FW_EINVAL, "--partition: expected I/N (0 <= I < N <= 1000000) or auto, got '%s'", spec);
    *index = i;
    *count = n;
    return FW_OK;
}

void fw_batch_part_path(const char *output, uint32_t index, uint32_t count, char *out, size_t cap) {
    snprintf(out, cap, "%s.part-%u-of-%u", output, index, count);
}

/* Copies path's bytes to fd, from the second line on when skip_line (a CSV part's header). Streams
 * (a part may be larger than memory): the header line is found in the first block read, then the
 * rest is copied in the kernel by copy_file_range where the file systems allow it, else through a
 * 1 MiB buffer. Each copied piece's writeback is started at once (fw__start_writeback): the
 * merge's one fsync at the end then finds most of the copy written. */
static fw_status append_part(int fd, const char *path, bool skip_line, fw_err *err) {
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    enum { BLOCK = 1 << 20 };
    uint8_t *buf = fw_malloc(BLOCK);
    fw_status st = FW_OK;
    off_t from = 0;
    if (skip_line) { /* the header ends within the first blocks: find its newline */
        for (bool found = false; !found;) {
            ssize_t k = pread(in, buf, BLOCK, from);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) { st = fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno)); break; }
            if (k == 0) break; /* a part with a header and no rows, and no final newline */
            const uint8_t *nl = memchr(buf, '\n', (size_t)k);
            found = nl != NULL;
            from += nl ? (off_t)(nl - buf) + 1 : (off_t)k;
        }
    }
    bool kernel_copy = true;
    while (!st) {
        ssize_t k;
        if (kernel_copy) {
            k = copy_file_range(in, &from, fd, NULL, BLOCK * 8, 0);
            if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                kernel_copy = false; /* nothing was copied: the same bytes through the buffer */
                continue;
            }
        } else {
            k = pread(in, buf, BLOCK, from);
            if (k > 0) {
                for (ssize_t off = 0; off < k;) {
                    ssize_t w = write(fd, buf + off, (size_t)(k - off));
                    if (w < 0 && errno == EINTR) continue;
                    if (w <= 0) { st = fw_err_set(err, FW_EIO, "write: %s", strerror(errno)); break; }
                    off += w;
                }
                from += k;
            }
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && !st) st = fw_err_set(err, FW_EIO, "%s: copy: %s", path, strerror(errno));
        if (k <= 0) break;
        off_t end = lseek(fd, 0, SEEK_CUR);
        if (end >= k) fw__start_writeback(fd, (uint64_t)(end - k), (uint64_t)k);
    }
    fw_free(buf);
    close(in);
    return st;
}

static bool is_jsonl(const char *p) {
    size_t n = strlen(p);
    return (n >= 6 && strcasecmp(p + n - 6, ".jsonl") == 0) || (n >= 7 && strcasecmp(p + n - 7, ".ndjson") == 0);
}

fw_status fw_batch_merge(const char *output, uint32_t count, fw_err *err) {
    if (count == 0) return fw_err_set(err, FW_EINVAL, "merge: no partitions");
    char path[4200];
    fw_buf missing;
    fw_buf_init(&missing);
    size_t n_missing = 0;
    for (uint32_t i = 0; i < count; i++) {
        fw_batch_part_path(output, i, count, path, sizeof path);
        if (access(path, F_OK) != 0) {
            if (n_missing++ < 8) fw_buf_printf(&missing, "%s%u", n_missing > 1 ? ", " : "", i);
        }
    }
    if (n_missing) {
        fw_buf_put_u8(&missing, 0);
        fw_status st = fw_err_set(err, FW_ENOTFOUND, "merge %s: %zu of %u partitions not committed yet (%s%s)", output,
                                  n_missing, count, fw_buf_ok(&missing) ? (const char *)missing.data : "?",
                                  n_missing > 8 ? ", ..." : "");
        fw_buf_free(&missing);
        return st;
    }
    fw_buf_free(&missing);
    /* into a temporary file next to the output, then renamed: a merge is all or nothing */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.merging.%ld", output, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fw_err_set(err, FW_EIO, "%s: %s", tmp, strerror(errno));
    bool csv = !is_jsonl(output);
    fw_status st = FW_OK;
    double t0 = fw_now_seconds();
    for (uint32_t i = 0; i < count && !st; i++) {
        fw_batch_part_path(output, i, count, path, sizeof path);
        st = append_part(fd, path, csv && i > 0, err);
    }
    double t1 = fw_now_seconds();
    if (!st && fsync(fd) != 0) st = fw_err_set(err, FW_EIO, "%s: fsync: %s", tmp, strerror(errno));
    double t2 = fw_now_seconds();
    if (close(fd) != 0 && !st) st = fw_err_set(err, FW_EIO, "%s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, output) != 0) st = fw_err_set(err, FW_EIO, "rename %s: %s", output, strerror(errno));
    if (st) unlink(tmp);
    else if (getenv("FLYWHEEL_BATCH_LOG")) /* where the merge's time went (bench/scale/batch_workers.sh) */
        fprintf(stderr, "batch phases: merge of %u parts: copy %.1f ms, fsync %.1f ms, close + rename %.1f ms\n", count,
                (t1 - t0) * 1e3, (t2 - t1) * 1e3, (fw_now_seconds() - t2) * 1e3);
    return st;
}
