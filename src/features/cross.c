/* cross.c — owns feature crosses: the conjunction of two or more input columns' values (their
 * canonical strings) hashed with the cross's own seed into one signed sparse bucket (value +-1).
 * Numeric columns are crossed by their canonical number text ("3.0" and 3 agree). A row with any
 * of the crossed values missing contributes nothing. */
#include "features/pipeline_int.h"

void fw__cross_apply(const fw__cross *x, const fw__col *cols, const fw_value *values,
                     fw_pipeline_scratch *s, uint32_t dim_mask) {
    uint64_t h = x->seed;
    for (uint32_t k = 0; k < x->n; k++) {
        char buf[32];
        fw__str v;
        const fw__col *c = &cols[x->cols[k]];
        fw_value val = values[x->cols[k]];
        if (c->type == FW_COL_NUMERIC && val.kind == FW_VALUE_STRING) {
            /* "3.0" and 3 are one value of a numeric column */
            double num;
            if (fw__value_num(c, &val, &num, NULL) || num != num) return;
            val.kind = FW_VALUE_NUMBER;
            val.num = num;
        }
        if (!fw__value_str(&val, buf, &v)) return;
        h = fw_feature_hash64(h ^ (0x9e3779b97f4a7c15ull * (k + 1)), v.p, v.len);
    }
    fw__scratch_push(s, (uint32_t)(h & dim_mask), (h >> 63) ? -1.0f : 1.0f);
}
