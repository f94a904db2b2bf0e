/* fuzz_log_spool.c — libFuzzer target for the prediction log spool's record decoder
 * (src/serve/log_spool.c: what a restarted server reads back from a spool a crashed one left):
 * the input is walked record by record like the ingest thread does; every record that decodes is
 * encoded again and must give the very bytes it was decoded from (so the decoder accepts only what
 * the encoder writes), and a refusal must say how much it used (0) without reading past the input.
 * First byte bit 0 re-seals each record's checksum (in a copy) so the damage reaches the body
 * checks behind it, like fuzz_artifact's re-seal.
 * Seeds: fuzz/corpus/log_spool/. Build and run: fuzz/README.md. */
#include "serve/log_spool.h"

#include "core/alloc.h"
#include "core/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t in_size) {
    if (in_size < 1) return 0;
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
