/* fuzz_log_spool.c — libFuzzer target for the prediction log spool's record decoder
 * (src/serve/log_spool.c: what a restarted server reads back from a spool a crashed one left):
 * the input is walked record by record like the ingest thread does; every record that decodes is
 * encoded again and must give the very bytes it was decoded from (so the decoder accepts only what
 * the encoder writes), and a refusal must say how much it used (0) without reading past the input.
 * First byte bit 0 re-seals each record's checksum (in a copy) so the damage reaches the body
 * checks behind it, like fuzz_artifact's re-seal.
 * First byte bit 1: the bytes are a whole spool file left by a dead process (header included), and
 * the real recovery runs on it (fw_log_sink_spool over a temp folder, an in-memory sink): every
 * record it delivers must encode to bytes present in the file, and it must deliver exactly as many
 * as a naive reference finds (start at the header's offset; past a record that does not decode,
 * the next offset where one does; stop at the header's end, FWSPOOL2, or the file's, FWSPOOL1) —
 * resynchronisation loses nothing valid after damage, and nothing past the end (an earlier lap's
 * records) is read; a damaged header delivers nothing and the file is set aside.
 * Seeds: fuzz/corpus/log_spool/. Build and run: fuzz/README.md. */
#include "serve/log_spool.h"

#include "core/alloc.h"
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct fz_sink {
    const uint8_t *file;
    size_t size, n;
    fw_buf enc;
} fz_sink;

static fw_status fz_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)err;
    fz_sink *k = ud;
    for (size_t i = 0; i < n; i++) {
        k->enc.len = 0;
        fw_log_spool_encode(recs[i], &k->enc);
        if (fw_buf_ok(&k->enc) && !memmem(k->file, k->size, k->enc.data, k->enc.len)) abort(); /* not from the file */
        k->n++;
    }
    return FW_OK;
}
static void fz_close(void *ud) { (void)ud; }

/* Records a naive walk finds in a spool file (see the header comment). */
static size_t reference_count(const uint8_t *d, size_t size) {
    if (size < 32) return 0;
    uint64_t off = 0, end = size; /* FWSPOOL1: the records run to the file's end */
    for (int i = 0; i < 8; i++) off |= (uint64_t)d[8 + i] << (8 * i);
    if (memcmp(d, "FWSPOOL2", 8) == 0) { /* to the header's end; past the file's end: damaged */
        end = 0;
        for (int i = 0; i < 8; i++) end |= (uint64_t)d[16 + i] << (8 * i);
        if (end < 32 || end > size) return 0;
    } else if (memcmp(d, "FWSPOOL1", 8) != 0) {
        return 0;
    }
    if (off < 32 || off > end) off = 32;
    size_t n = 0;
    while (off < end) {
        size_t used = 0;
        fw_log_record *r = fw_log_spool_decode(d + off, (size_t)(end - off), &used);
        if (used) {
            fw_free(r);
            n++;
            off += used;
        } else {
            off++;
        }
    }
    return n;
}

static int recover_file(const uint8_t *d, size_t size) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz-log-spool-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char path[128], aside[160];
    snprintf(path, sizeof path, "%s/serve-1-fuzz.spool", dir);
    snprintf(aside, sizeof aside, "%s.damaged", path);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(d, 1, size, f);
    fclose(f);
    fz_sink k = {.file = d, .size = size};
    fw_buf_init(&k.enc);
    fw_log_sink inner = {.ud = &k, .write = fz_write, .close = fz_close}, sp;
    fw_err err;
    if (fw_log_sink_spool(dir, &inner, 1 << 20, 16, false, &sp, &err) != FW_OK) abort();
    sp.close(sp.ud); /* the ingest thread recovers the file before it stops */
    size_t want = reference_count(d, size);
    if (k.n != want) {
        fprintf(stderr, "fuzz_log_spool: recovery delivered %zu records, the reference walk finds %zu\n", k.n, want);
        abort();
    }
    if (access(path, F_OK) == 0) abort(); /* never left in place */
    unlink(aside);
    fw_buf_free(&k.enc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size) {
    if (in_size < 1) return 0;
    if (in[0] & 2) return recover_file(in + 1, in_size - 1);
    size_t size = in_size - 1;
    uint8_t *data = fw_malloc(size ? size : 1); /* exact size: ASan sees a read past the end */
    if (!data) return 0;
    memcpy(data, in + 1, size);
    if (in[0] & 1) /* re-seal: each length-framed record gets the checksum its body would have */
        for (size_t p = 0; p + 8 <= size;) {
            uint32_t len = rd32(data + p);
            if (len > size - p - 8) break;
            uint32_t sum = fw_log_spool_checksum(data + p + 8, len);
            for (int i = 0; i < 4; i++) data[p + 4 + (size_t)i] = (uint8_t)(sum >> (8 * i));
            p += 8 + (size_t)len;
        }
    size_t pos = 0;
    fw_buf again;
    fw_buf_init(&again);
    while (pos < size) {
        size_t used = 0;
        fw_log_record *r = fw_log_spool_decode(data + pos, size - pos, &used);
        if (!used) break;            /* not a whole valid record: where the ingest thread stops */
        if (used > size - pos) abort();
        if (r) {
            again.len = 0;
            fw_log_spool_encode(r, &again);
            if (fw_buf_ok(&again) && (again.len != used || memcmp(again.data, data + pos, used) != 0)) abort();
            fw_free(r);
        }
        pos += used;
    }
    fw_buf_free(&again);
    fw_free(data);
    return 0;
}

#include "driver.h"
