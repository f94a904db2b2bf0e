/* test_batch_input.c — the batch reader's blocks (src/batch/input.c, white-box): every CSV block is
 * the header record followed by whole records of the input, the blocks together are the input's
 * bytes in order with the right first line, also for a partition; and a block takes the reader's
 * buffer instead of a copy of its records (only the bytes read past a block are copied again). */
#include "test.h"

#include "batch/batch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes a CSV of n rows (~100 bytes each; some quoted with a newline inside) after a BOM and a
 * CRLF header; returns its bytes. */
static char *write_csv(const char *path, size_t n, size_t *len) {
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fputs("\xEF\xBB\xBF" "a,b,note\r\n", f);
    for (size_t i = 0; i < n; i++) {
        if (i % 997 == 5) fprintf(f, "%zu,%zu,\"two\nlines %zu\"\n", i, i * 7, i);
        else fprintf(f, "%zu,%zu,%s\n", i, i * 7,
                     "some text to make a row about one hundred bytes long, as real rows are..........");
    }
    fclose(f);
    return fw_test_slurp(path, len);
}

static size_t count_nl(const char *p, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += p[i] == '\n';
    return c;
}

/* Reads every block of part/parts; checks each against the file's bytes from `from` (the first
 * data byte of the range) and the line it starts on; returns the bytes read. */
static size_t read_blocks(const char *path, const char *data, size_t from, uint32_t part, uint32_t parts,
                          uint64_t *moved) {
    static const char *const cols[] = {"a", "b", "note"};
    static const fw_col_type types[] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_CATEGORICAL};
    fw__in_reader r;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw__in_open(&r, path, 3, cols, types, &err));
    if (parts > 1) CHECK_OK(fw__in_partition(&r, part, parts, &err));
    static const char hdr[] = "a,b,note\n";
    fw__in_block b;
    fw__in_block_init(&b);
    size_t at = from, blocks = 0;
    uint64_t line = 1 + count_nl(data, from);
    for (;;) {
        fw_status st = fw__in_next(&r, 4096, &b, &err);
        CHECK_MSG(st == FW_OK, "block %zu: %s", blocks, err.msg);
        if (st || !b.n_records) break;
        CHECK_MSG(b.raw.len > sizeof hdr - 1 && memcmp(b.raw.data, hdr, sizeof hdr - 1) == 0,
                  "block %zu does not start with the header record", blocks);
        size_t n = b.raw.len - (sizeof hdr - 1);
        CHECK_MSG(memcmp(b.raw.data + sizeof hdr - 1, data + at, n) == 0, "block %zu: bytes differ from the file's at %zu",
                  blocks, at);
        CHECK_MSG(b.first_line == line, "block %zu starts on line %llu, not %llu", blocks,
                  (unsigned long long)b.first_line, (unsigned long long)line);
        CHECK_OK(fw__in_parse(&r, &b, &err));
        line += count_nl(data + at, n);
        at += n;
        blocks++;
    }
    *moved = r.moved;
    fw__in_block_free(&b);
    fw__in_close(&r);
    return at - from;
}

static void test_blocks_take_the_read_buffer(void) {
    const char *path = fw_test_tmp_file("in.csv");
    size_t len = 0;
    char *data = write_csv(path, 120000, &len);
    CHECK(data != NULL);
    if (!data) return;
    size_t first = (size_t)(strstr(data, "\r\n") - data) + 2; /* after the BOM and the header */
    uint64_t moved = 0;
    size_t got = read_blocks(path, data, first, 0, 1, &moved);
    CHECK_EQ(got, len - first);
    /* blocks of 4096 rows (~400 KB): before, each block's records were copied out of the read
     * buffer (moved >= every byte); now only the bytes read past a block (< 1/8 of it) and the
     * first read's 1 MiB */
    CHECK_MSG(moved * 4 < got, "%llu of %zu bytes copied again after their read", (unsigned long long)moved, got);
    /* a partition: the file's bytes of its range, numbered with the file's lines */
    size_t total = 0;
    for (uint32_t p = 0; p < 3; p++) {
        size_t b = len * p / 3, start = first;
        if (b > first) {
            const char *nl = memchr(data + b - 1, '\n', len - (b - 1));
            start = nl ? (size_t)(nl - data) + 1 : len;
        }
        total += read_blocks(path, data, start, p, 3, &moved);
    }
    CHECK_EQ(total, len - first);
    free(data);
}

/* A header with no newline and no rows, and a header line alone: no block, no error. */
static void test_header_only(void) {
    static const char *const cols[] = {"a"};
    static const fw_col_type types[] = {FW_COL_NUMERIC};
    const char *texts[] = {"a,b", "a,b\r\n", ("\xEF\xBB\xBF" "a")};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        const char *path = fw_test_tmp_file("h.csv");
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (!f) return;
        fputs(texts[i], f);
        fclose(f);
        fw__in_reader r;
        fw_err err;
        fw_err_clear(&err);
        CHECK_OK(fw__in_open(&r, path, 1, cols, types, &err));
        fw__in_block b;
        fw__in_block_init(&b);
        CHECK_OK(fw__in_next(&r, 4096, &b, &err));
        CHECK_EQ(b.n_records, 0);
        fw__in_block_free(&b);
        fw__in_close(&r);
    }
}

int main(void) {
    TEST_RUN(test_blocks_take_the_read_buffer);
    TEST_RUN(test_header_only);
    return fw_test_report("test_batch_input");
}
