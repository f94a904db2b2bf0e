/* fuzz_pipeline.c — libFuzzer target for fw_pipeline_load (src/features): arbitrary bytes must be
 * refused cleanly or load into a pipeline that saves back to exactly the same bytes and transforms
 * records (all missing, numbers, strings) without any out-of-bounds access.
 *
 * Build and run: fuzz/README.md (make fuzz). By hand, from the project root:
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/fuzz_pipeline.c $(find src/core src/project src/features -name '*.c') \
 *     src/data/dataset.c -lyaml -lxxhash -lm -lpthread -o /tmp/fuzz_pipeline
 *   /tmp/fuzz_pipeline -max_total_time=60 CORPUS_DIR
 * A seed corpus is written by tests/features/test_pipeline when FW_FUZZ_SEED_DIR is set. */
#include "core/alloc.h"
#include "core/buf.h"
#include "features/pipeline.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fw_pipeline *pl = NULL;
    fw_err err;
    fw_err_clear(&err);
    if (fw_pipeline_load(data, size, &pl, &err)) {
        if (pl || !err.msg[0]) abort();
        return 0;
    }
    fw_buf b;
    fw_buf_init(&b);
    if (fw_pipeline_save(pl, &b) || b.len != size || memcmp(b.data, data, size)) abort();
    fw_buf_free(&b);
    size_t n = fw_pipeline_n_inputs(pl);
    if (n > 4096) {
        fw_pipeline_free(pl);
        return 0;
    }
    fw_value *v = calloc(n, sizeof *v);
    float *dense = malloc((fw_pipeline_n_dense(pl) + 1) * sizeof(float));
    fw_pipeline_scratch *s = NULL;
    if (!v || !dense || fw_pipeline_scratch_new(pl, &s)) abort();
    fw_row row;
    (void)fw_pipeline_transform_record(pl, v, s, dense, &row, &err); /* all missing */
    for (size_t i = 0; i < n; i++) v[i] = (fw_value){FW_VALUE_NUMBER, (double)i - 1.5, NULL, 0};
    (void)fw_pipeline_transform_record(pl, v, s, dense, &row, &err);
    for (size_t i = 0; i < n; i++) v[i] = (fw_value){FW_VALUE_STRING, 0, "Red fox 2024-01-02", 18};
    (void)fw_pipeline_transform_record(pl, v, s, dense, &row, &err);
    for (size_t k = 0; k + 1 < row.nnz; k++)
        if (row.indices[k] >= row.indices[k + 1]) abort();
    fw_pipeline_scratch_free(s);
    free(v);
    free(dense);
    fw_pipeline_free(pl);
    return 0;
}

#include "driver.h"
