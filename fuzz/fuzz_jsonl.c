/* fuzz_jsonl.c — libFuzzer target for the JSON Lines reader from memory (options from the first
 * input byte: skip_bad_rows, sample size). With -DFW_FUZZ_DRIVER it is a plain program that runs
 * the target over files and directories given as arguments. Build lines: fuzz/README.md. */
#include "data/jsonl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.skip_bad_rows = (sel & 1) != 0;
    o.sample_rows = (sel & 2) ? 1 : 1000;
    o.max_rows = (sel & 4) ? 3 : 0;
    fw_dataset *ds = NULL;
    fw_load_result res;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_jsonl_load_mem(data, size, "fuzz.jsonl", &o, &ds, &res, &err);
    if (st == FW_OK) {
        if (!ds || ds->n_rows != res.rows) abort();
        fw_dataset_free(ds);
    } else if (ds != NULL || err.msg[0] == 0) {
        abort();
    }
    return 0;
}

#include "driver.h"
