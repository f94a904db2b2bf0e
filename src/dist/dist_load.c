/* dist_load.c — owns the sharded load of a training file under mpirun (dist_load.h): the byte range
 * of each rank, its first line number, the parse of the range alone, and the exchange that
 * assembles the whole table on every rank. */
#include "dist/dist_load.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "dist/dist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first record start at or after x of a file of size bytes: 0 and the end as they are, else
 * just after the first newline at x - 1 or later (the end when there is none). */
static int record_start(int fd, uint64_t size, uint64_t x, uint64_t *out) {
    if (x == 0 || x >= size) {
        *out = x >= size ? size : 0;
        return 0;
    }
    char buf[1 << 16];
    for (uint64_t pos = x - 1; pos < size;) {
        ssize_t k = pread(fd, buf, sizeof buf, (off_t)pos);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        const char *nl = memchr(buf, '\n', (size_t)k);
        if (nl) {
            *out = pos + (uint64_t)(nl - buf) + 1;
            return 0;
        }
        pos += (uint64_t)k;
    }
    *out = size;
    return 0;
}

/* Newlines in [b, e) of the file: the lines before the next rank's range. */
static int count_lines(int fd, uint64_t b, uint64_t e, uint64_t *out) {
    static char buf[1 << 20];
    uint64_t n = 0;
    while (b < e) {
        size_t want = e - b < sizeof buf ? (size_t)(e - b) : sizeof buf;
        ssize_t k = pread(fd, buf, want, (off_t)b);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        for (const char *p = buf, *q = buf + k; (p = memchr(p, '\n', (size_t)(q - p))) != NULL; p++) n++;
        b += (uint64_t)k;
    }
    *out = n;
    return 0;
}

/* This rank's range [*b, *e) and the line number of *b; false when the input cannot be cut
 * (JSON Lines, gzip, not a regular file, unreadable: the whole-file load reports those). */
static bool my_range(const char *path, uint64_t *b, uint64_t *e, uint64_t *lines) {
    fw_data_format f = FW_FORMAT_CSV;
    (void)fw_data_format_of(path, &f);
    if (f != FW_FORMAT_CSV) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat sb;
    unsigned char magic[2] = {0, 0};
    bool ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && pread(fd, magic, 2, 0) >= 1 &&
              !(magic[0] == 0x1f && magic[1] == 0x8b);
    if (ok) {
        uint64_t size = (uint64_t)sb.st_size, r = (uint64_t)fw_dist_rank(), n = (uint64_t)fw_dist_size();
        ok = record_start(fd, size, (uint64_t)((unsigned __int128)size * r / n), b) == 0 &&
             record_start(fd, size, (uint64_t)((unsigned __int128)size * (r + 1) / n), e) == 0 &&
             count_lines(fd, *b, *e, lines) == 0;
    }
    close(fd);
    return ok;
}

/* True when every rank's flag is. */
static bool all_ranks(bool mine) {
    int n = fw_dist_size();
    uint64_t *all = fw_malloc((size_t)n * sizeof *all);
    if (!all) return false; /* out of memory: the job fails at the next allocation anyway */
    fw_dist_allgather_u64(mine, all);
    bool ok = true;
    for (int q = 0; q < n; q++) ok &= all[q] != 0;
    fw_free(all);
    return ok;
}

/* Interns rank root's dictionary of column c (its strings in local code order, sent as
 * [u32 length][bytes]...) into dict; returns remap (remap[k] = the code of its string k, *n_remap
 * entries). Out of memory aborts the rank (see assemble). */
static int32_t *merge_dict(const fw_dataset *local, size_t c, int root, fw_dict *dict, size_t *n_remap) {
    uint64_t hdr[2] = {0, 0}; /* strings, bytes */
    fw_buf blob;
    fw_buf_init(&blob);
    if (fw_dist_rank() == root) {
        const fw_dict *d = &local->cols[c].dict;
        for (size_t k = 0; k < fw_dict_size(d); k++) {
            uint32_t len = (uint32_t)fw_dict_len(d, (int32_t)k);
            fw_buf_put(&blob, &len, sizeof len);
            fw_buf_put(&blob, fw_dict_str(d, (int32_t)k), fw_dict_len(d, (int32_t)k));
        }
        if (!fw_buf_ok(&blob)) abort();
        hdr[0] = fw_dict_size(d);
        hdr[1] = blob.len;
    }
    fw_dist_bcast_bytes(hdr, sizeof hdr, root);
    char *data = fw_dist_rank() == root ? (char *)blob.data : fw_malloc(hdr[1] ? (size_t)hdr[1] : 1);
    int32_t *remap = fw_malloc((hdr[0] ? (size_t)hdr[0] : 1) * sizeof *remap);
    if ((!data && hdr[1]) || !remap) abort();
    fw_dist_bcast_bytes(data, (size_t)hdr[1], root);
    const char *p = data;
    for (uint64_t k = 0; k < hdr[0]; k++) {
        uint32_t len;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        if ((remap[k] = fw_dict_intern(dict, p, len)) < 0) abort();
        p += len;
    }
    if (data != (char *)blob.data) fw_free(data);
    fw_buf_free(&blob);
    *n_remap = (size_t)hdr[0];
    return remap;
}

/* Every rank's rows of local, in rank order, into the new dataset *out (rows[q] rows from rank q). */
static fw_status assemble(const fw_dataset *local, const uint64_t *rows, const char *path, fw_dataset **out) {
    int n = fw_dist_size(), me = fw_dist_rank();
    size_t total = 0;
    for (int q = 0; q < n; q++) total += (size_t)rows[q];
    const char **names = fw_malloc((local->n_cols ? local->n_cols : 1) * sizeof *names);
    fw_col_type *types = fw_malloc((local->n_cols ? local->n_cols : 1) * sizeof *types);
    fw_status st = names && types ? FW_OK : FW_ENOMEM;
    for (size_t c = 0; c < local->n_cols && !st; c++) {
        names[c] = local->cols[c].name;
        types[c] = local->cols[c].type;
    }
    fw_dataset *ds = NULL;
    if (!st) st = fw_dataset_new(local->n_cols, names, types, &ds);
    fw_free(names);
    fw_free(types);
    if (!st && !(ds->source = fw_strdup(path))) st = FW_ENOMEM;
    if (!st && total) st = fw_dataset_reserve(ds, total);
    /* memory is the one thing that can fail here, and a rank that stops mid-exchange would hang
     * the others: from here on each rank finishes the exchange and fails afterwards */
    if (st) abort();
    for (size_t c = 0; c < local->n_cols; c++) {
        fw_column *col = &ds->cols[c];
        size_t off = 0;
        for (int q = 0; q < n; q++) {
            size_t k = (size_t)rows[q];
            if (col->num) {
                if (q == me && k) memcpy(col->num + off, local->cols[c].num, k * sizeof *col->num);
                fw_dist_bcast_bytes(col->num + off, k * sizeof *col->num, q);
            } else if (col->code) {
                size_t n_remap = 0;
                int32_t *remap = merge_dict(local, c, q, &col->dict, &n_remap);
                if (q == me && k) memcpy(col->code + off, local->cols[c].code, k * sizeof *col->code);
                fw_dist_bcast_bytes(col->code + off, k * sizeof *col->code, q);
                for (size_t r = 0; r < k; r++) {
                    int32_t v = col->code[off + r];
                    col->code[off + r] = v < 0 || (size_t)v >= n_remap ? -1 : remap[v];
                }
                fw_free(remap);
            }
            off += k;
        }
    }
    ds->n_rows = total;
    *out = ds;
    return FW_OK;
}

/* The rejected rows of every rank, in rank order (file order): counts summed, the first
 * FW_LOAD_MAX_REJECTS messages kept. */
static void merge_rejects(const fw_load_result *mine, fw_load_result *res) {
    int n = fw_dist_size(), me = fw_dist_rank();
    uint64_t *counts = fw_malloc((size_t)n * sizeof *counts);
    if (!counts) abort();
    fw_dist_allgather_u64(mine->rejected, counts);
    fw_load_result part;
    for (int q = 0; q < n; q++) {
        res->rejected += (size_t)counts[q];
        if (!counts[q]) continue;
        if (q == me) part = *mine;
        fw_dist_bcast_bytes(&part, sizeof part, q);
        for (size_t k = 0; k < part.n_kept && res->n_kept < FW_LOAD_MAX_REJECTS; k++) res->kept[res->n_kept++] = part.kept[k];
    }
    fw_free(counts);
}

fw_status fw_dist_load(const char *path, const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                       fw_dist_load_stats *stats, fw_err *err) {
    fw_dist_load_stats local_stats;
    if (!stats) stats = &local_stats;
    memset(stats, 0, sizeof *stats);
    *out = NULL;
    if (fw_dist_size() <= 1) return fw_data_load(path, opts, out, res, err);
    double t0 = fw_now_seconds();
    uint64_t b = 0, e = 0, lines = 0;
    bool cut = all_ranks(my_range(path, &b, &e, &lines));
    fw_dataset *local = NULL;
    fw_load_result mine;
    fw_load_result_clear(&mine);
    if (cut) {
        int n = fw_dist_size(), me = fw_dist_rank();
        uint64_t *all = fw_malloc((size_t)n * sizeof *all);
        if (!all) abort();
        fw_dist_allgather_u64(lines, all);
        uint64_t first_line = 1;
        for (int q = 0; q < me; q++) first_line += all[q];
        fw_load_opts o;
        if (opts)
            o = *opts;
        else
            fw_load_opts_init(&o);
        o.range_begin = b;
        o.range_end = e ? e : 1; /* 0 would mean the whole file; [0, 1) is clamped to nothing */
        o.range_line = first_line;
        fw_err local_err;
        fw_status st = fw_data_load(path, &o, &local, &mine, &local_err);
        bool ok = all_ranks(st == FW_OK);
        if (ok) {
            fw_dist_allgather_u64(local->n_rows, all);
            fw_status ast = assemble(local, all, path, out);
            if (res) {
                fw_load_result_clear(res);
                merge_rejects(&mine, res);
                res->rows = (*out)->n_rows;
                uint64_t bytes = mine.bytes;
                fw_dist_allgather_u64(bytes, all);
                for (int q = 0; q < n; q++) res->bytes += all[q];
                res->seconds = fw_now_seconds() - t0;
            }
            stats->sharded = true;
            stats->begin = b;
            stats->end = e;
            stats->rows = local->n_rows;
            stats->total_rows = (*out)->n_rows;
            fw_free(all);
            fw_dataset_free(local);
            if (ast) return fw_err_set(err, ast, "%s: out of memory", path);
            if (getenv("FLYWHEEL_DIST_LOG"))
                fprintf(stderr, "flywheel: rank %d of %d: %s: parsed bytes [%llu, %llu), %zu of %zu rows\n", me, n,
                        path, (unsigned long long)b, (unsigned long long)e, stats->rows, stats->total_rows);
            return FW_OK;
        }
        fw_free(all);
        fw_dataset_free(local);
        local = NULL;
    }
    /* not cut, or some rank's range failed: the whole file on every rank (its errors, its lines) */
    if (getenv("FLYWHEEL_DIST_LOG"))
        fprintf(stderr, "flywheel: rank %d of %d: %s: loading the whole file\n", fw_dist_rank(), fw_dist_size(), path);
    return fw_data_load(path, opts, out, res, err);
}
