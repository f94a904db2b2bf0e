/* fingerprint.c — owns the fingerprint of dataset rows as read (see fingerprint.h). */
#include "data/fingerprint.h"

#include <math.h>
#include <string.h>

uint64_t fw_dataset_fingerprint(const fw_dataset *ds, const uint32_t *rows, size_t n) {
    fw_hasher *h = fw_hasher_new(0x46575244ull); /* "FWRD" */
    if (!h) return 0;
    uint64_t n64 = n, nc = ds->n_cols;
    fw_hasher_update(h, &n64, sizeof n64);
    fw_hasher_update(h, &nc, sizeof nc);
    for (size_t c = 0; c < ds->n_cols; c++) {
        const fw_column *col = &ds->cols[c];
        uint32_t t = (uint32_t)col->type, len = (uint32_t)strlen(col->name);
        fw_hasher_update(h, &t, sizeof t);
        fw_hasher_update(h, &len, sizeof len);
        fw_hasher_update(h, col->name, len);
    }
    /* cells are packed into a buffer and hashed a block at a time: one hasher call per cell would
     * cost more than the hash itself on a large test file */
    unsigned char buf[1 << 15];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows ? rows[i] : i;
        for (size_t c = 0; c < ds->n_cols; c++) {
            const fw_column *col = &ds->cols[c];
            if (used + 16 > sizeof buf) {
                fw_hasher_update(h, buf, used);
                used = 0;
            }
            if (col->num) {
                double v = col->num[r];
                if (isnan(v)) {
                    buf[used++] = 0;
                    continue;
                }
                if (v == 0) v = 0; /* folds -0 */
                buf[used++] = 1;
                memcpy(buf + used, &v, sizeof v);
                used += sizeof v;
            } else if (col->code) {
                int32_t k = col->code[r];
                if (k < 0) {
                    buf[used++] = 0;
                    continue;
                }
                uint32_t len = (uint32_t)fw_dict_len(&col->dict, k);
                buf[used++] = 2;
                memcpy(buf + used, &len, sizeof len);
                used += sizeof len;
                if (used + len <= sizeof buf) {
                    memcpy(buf + used, fw_dict_str(&col->dict, k), len);
                    used += len;
                } else {
                    fw_hasher_update(h, buf, used);
                    used = 0;
                    fw_hasher_update(h, fw_dict_str(&col->dict, k), len);
                }
            }
        }
    }
    if (used) fw_hasher_update(h, buf, used);
    uint64_t d = fw_hasher_digest(h);
    fw_hasher_free(h);
    return d ? d : 1;
}
