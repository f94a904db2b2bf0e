/* record.c — owns dataset row → fw_value record conversion. */
#include "features/record.h"

#include <math.h>

void fw_record_map(const fw_pipeline *pl, const fw_dataset *ds, int *col_of_input) {
    size_t n = fw_pipeline_n_inputs(pl);
    for (size_t i = 0; i < n; i++) col_of_input[i] = fw_dataset_find(ds, fw_pipeline_input_name(pl, i));
}

void fw_record_from_row(const fw_dataset *ds, const int *col_of_input, size_t n_inputs, size_t r,
                        fw_value *values) {
    for (size_t i = 0; i < n_inputs; i++) {
        fw_value *v = &values[i];
        v->kind = FW_VALUE_MISSING;
        v->num = 0;
        v->str = NULL;
        v->len = 0;
        int c = col_of_input[i];
        if (c < 0) continue;
        const fw_column *col = &ds->cols[c];
        if (col->num) {
            double x = col->num[r];
            if (!isnan(x)) {
                v->kind = FW_VALUE_NUMBER;
                v->num = x;
            }
        } else if (col->code[r] >= 0) {
            v->kind = FW_VALUE_STRING;
            v->str = fw_dict_str(&col->dict, col->code[r]);
            v->len = fw_dict_len(&col->dict, col->code[r]);
        }
    }
}
