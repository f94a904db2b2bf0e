/* fuzz_csv.c — libFuzzer target for the CSV reader from memory: the whole-file loader (with
 * options taken from the first input byte: delimiter, tiny blocks, threads, skip_bad_rows), and
 * the streaming reader over the same bytes. Any crash, leak, sanitizer report or inconsistent
 * result is a bug. Build lines are in fuzz/README.md; with -DFW_FUZZ_DRIVER it is a plain program
 * that runs the target over files and directories given as arguments. */
#include "data/csv.h"

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
    o.delimiter = (sel & 1) ? ';' : ',';
    o.block_bytes = (sel & 2) ? 64 : 4096; /* not the 8 MiB default: zeroing it made a run ~15 ms */
    o.threads = (sel & 4) ? 2 : 1;
    o.skip_bad_rows = (sel & 8) != 0;
    o.sample_rows = (sel & 16) ? 2 : 1000;
    o.max_field_bytes = (sel & 32) ? 16 : o.max_field_bytes;
    o.max_record_bytes = (sel & 32) ? 200 : o.max_record_bytes;
    fw_dataset *ds = NULL;
    fw_load_result res;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_csv_load_mem(data, size, "fuzz.csv", &o, &ds, &res, &err);
    if (st == FW_OK) {
        if (!ds || ds->n_rows != res.rows) abort();
        for (size_t c = 0; c < ds->n_cols; c++)
            for (size_t r = 0; r < ds->n_rows; r++)
                if (ds->cols[c].code && ds->cols[c].code[r] >= (int32_t)fw_dict_size(&ds->cols[c].dict))
                    abort();
        fw_dataset_free(ds);
    } else if (ds != NULL || err.msg[0] == 0) {
        abort(); /* failures leave no dataset and always say why */
    }
    fw_csv_stream *s = NULL;
    if (fw_csv_stream_open_mem(data, size, "fuzz.csv", &o, NULL, &s, &err) == FW_OK) {
        fw_row_block blk;
        fw_row_block_init(&blk);
        for (int i = 0; i < 10000; i++) {
            if (fw_csv_stream_next(s, 3, &blk, &err) != FW_OK) break;
            if (blk.ds->n_rows == 0 && blk.n_rejects == 0) break;
            if (blk.ds->n_rows > 3) abort();
        }
        fw_row_block_free(&blk);
        fw_csv_stream_close(s);
    }
    return 0;
}

#include "driver.h"
