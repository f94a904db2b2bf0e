/* fuzz_artifact.c — libFuzzer target for the .fwm readers (src/artifact): fw_artifact_open (the
 * container: header, metadata, section table, checksums) and fw_bundle_load_mem (every section's
 * loader: pipeline, label encoding, model, baseline, reference profile), then one prediction per
 * kind of record when a bundle loads; the metadata as JSON (what `models show` prints) must parse. A damaged artifact must be refused with a message, never
 * crash, leak or read out of bounds.
 *
 * Input: one selector byte, then the file. Most mutations break the whole-file checksum and stop
 * at the container, so when the selector's bit 0 is set the target first rewrites the header's file
 * size and the trailing XXH3-128 so the damage reaches the section loaders (the case of a forged
 * checksum or a bug in the writer). Seeds: tests/artifact/fixtures/v1.fwm with a 0x00 and a 0x01
 * selector in fuzz/corpus/artifact/. Build and run: fuzz/README.md. */
#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "core/alloc.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Makes the header's file size and the trailing checksum agree with the bytes. */
static void fw_fuzz_artifact_reseal(uint8_t *d, size_t n) {
    if (n < FW_ARTIFACT_HEADER_SIZE + FW_ARTIFACT_CHECKSUM_SIZE) return;
    uint64_t fs = n;
    for (int i = 0; i < 8; i++) d[16 + i] = (uint8_t)(fs >> (8 * i)); /* H_FILE_SIZE */
    XXH128_hash_t h = XXH3_128bits(d, n - FW_ARTIFACT_CHECKSUM_SIZE);
    for (int i = 0; i < 8; i++) {
        d[n - 16 + i] = (uint8_t)(h.low64 >> (8 * i));
        d[n - 8 + i] = (uint8_t)(h.high64 >> (8 * i));
    }
}

static void fw_fuzz_artifact_predict(const fw_bundle *b) {
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    size_t n = pl ? fw_pipeline_n_inputs(pl) : 0;
    if (n > 4096) return;
    fw_bundle_scratch *s = NULL;
    if (fw_bundle_scratch_new(b, &s) != FW_OK) return;
    fw_value *v = fw_calloc(n ? n : 1, sizeof *v);
    if (!v) abort();
    fw_prediction p;
    fw_err err;
    fw_err_clear(&err);
    (void)fw_bundle_predict_record(b, v, s, &p, &err); /* all missing */
    for (size_t i = 0; i < n; i++) v[i] = (fw_value){FW_VALUE_NUMBER, (double)i * 0.75 - 1.0, NULL, 0};
    if (fw_bundle_predict_record(b, v, s, &p, &err) == FW_OK && p.n_outputs != fw_bundle_n_outputs(b)) abort();
    for (size_t i = 0; i < n; i++) v[i] = (fw_value){FW_VALUE_STRING, 0, "red 2024-01-02 x", 16};
    (void)fw_bundle_predict_record(b, v, s, &p, &err);
    fw_free(v);
    fw_bundle_scratch_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    uint8_t *d = fw_malloc(size ? size : 1);
    if (!d) abort();
    memcpy(d, data, size);
    if (sel & 1) fw_fuzz_artifact_reseal(d, size);
    fw_err err;
    fw_err_clear(&err);
    fw_artifact *a = NULL;
    if (fw_artifact_open(d, size, &a, &err) == FW_OK) {
        for (size_t i = 0; i < fw_artifact_kv_count(a); i++) (void)fw_artifact_kv_key(a, i);
        for (size_t i = 0; i < fw_artifact_section_count(a); i++) (void)fw_artifact_section_size(a, i);
        (void)fw_artifact_str(a, FW_KV_NAME);
        fw_buf j;
        fw_buf_init(&j);
        fw_artifact_metadata_json(a, &j);
        json_error_t je;
        json_t *parsed = json_loadb((const char *)j.data, j.len, 0, &je);
        if (!parsed) { /* models show / export print this: it must be valid JSON whatever the bytes */
            fprintf(stderr, "fuzz_artifact: metadata JSON invalid (%s): %.*s\n", je.text, (int)j.len, (const char *)j.data);
            abort();
        }
        json_decref(parsed);
        fw_buf_free(&j);
        fw_artifact_close(a);
    } else if (a != NULL || err.msg[0] == 0) {
        abort(); /* a refusal leaves no handle and says why */
    }
    fw_bundle *b = NULL;
    fw_err_clear(&err);
    if (fw_bundle_load_mem(d, size, &b, &err) == FW_OK) {
        fw_free(d); /* the bundle must not point into the input */
        d = NULL;
        fw_fuzz_artifact_predict(b);
        fw_bundle_free(b);
    } else if (b != NULL || err.msg[0] == 0) {
        abort();
    }
    fw_free(d);
    return 0;
}

#include "driver.h"
