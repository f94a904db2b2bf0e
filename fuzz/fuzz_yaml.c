/* fuzz_yaml.c — libFuzzer target for the project file parser (src/project): arbitrary bytes must
 * give FW_OK or a clean error, never a crash, leak or sanitizer report. When a parse succeeds the
 * project is written back out and parsed again, and the two written texts must be byte-identical
 * (the write → read → write property), then it is resolved against a small fixed dataset.
 *
 * Build and run: fuzz/README.md (make fuzz). By hand, from the project root:
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     fuzz/fuzz_yaml.c $(find src/core src/project -name '*.c') src/data/dataset.c \
 *     -lyaml -lxxhash -lm -o /tmp/fuzz_yaml
 *   /tmp/fuzz_yaml -max_total_time=60 -max_len=4096 examples/pima examples/boston */
#include "core/alloc.h"
#include "core/buf.h"
#include "project/project.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fw_dataset *fw_fuzz_yaml_ds;

static fw_dataset *fw_fuzz_yaml_dataset(void) {
    if (fw_fuzz_yaml_ds) return fw_fuzz_yaml_ds;
    const char *names[] = {"y", "age", "color", "notes", "ts", "q", "label", "calls"};
    fw_col_type types[] = {FW_COL_CATEGORICAL, FW_COL_NUMERIC, FW_COL_CATEGORICAL, FW_COL_TEXT,
                           FW_COL_TIMESTAMP, FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC};
    if (fw_dataset_new(8, names, types, &fw_fuzz_yaml_ds)) abort();
    for (size_t r = 0; r < 6; r++) {
        if (fw_dataset_append_row(fw_fuzz_yaml_ds)) abort();
        fw_dataset_set_str(fw_fuzz_yaml_ds, 0, r, r % 2 ? "yes" : "no", r % 2 ? 3 : 2);
        fw_dataset_set_num(fw_fuzz_yaml_ds, 1, r, (double)r * 1.5);
        fw_dataset_set_str(fw_fuzz_yaml_ds, 2, r, r % 3 ? "red" : "blue", r % 3 ? 3 : 4);
        fw_dataset_set_str(fw_fuzz_yaml_ds, 3, r, "some text", 9);
        fw_dataset_set_num(fw_fuzz_yaml_ds, 4, r, 1.7e9 + (double)r);
        fw_dataset_set_num(fw_fuzz_yaml_ds, 5, r, (double)(r / 2));
        fw_dataset_set_num(fw_fuzz_yaml_ds, 6, r, (double)r * 0.37);
        fw_dataset_set_num(fw_fuzz_yaml_ds, 7, r, (double)r);
    }
    return fw_fuzz_yaml_ds;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fw_project p, q;
    fw_err err;
    fw_err_clear(&err);
    if (fw_project_parse((const char *)data, size, "f.yaml", &p, &err)) {
        if (!err.msg[0]) abort(); /* every error carries a message */
        return 0;
    }
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    if (fw_project_to_yaml(&p, "", &a)) abort();
    if (fw_project_parse((const char *)a.data, a.len, "f.yaml", &q, &err)) {
        fprintf(stderr, "written project does not parse: %s\n%.*s\n", err.msg, (int)a.len, (const char *)a.data);
        abort();
    }
    if (fw_project_to_yaml(&q, "", &b)) abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
        fprintf(stderr, "write → read → write differs:\n%.*s\n----\n%.*s\n", (int)a.len,
                (const char *)a.data, (int)b.len, (const char *)b.data);
        abort();
    }
    (void)fw_project_resolve(&q, fw_fuzz_yaml_dataset(), &err);
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_project_free(&p);
    fw_project_free(&q);
    return 0;
}

#include "driver.h"
