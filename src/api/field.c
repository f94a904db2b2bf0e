/* field.c — owns the public input values (fw_field) and their conversion into the record values
 * the pipeline reads: numbers, strings (as the server reads JSON), and CSV cells read exactly as
 * `flywheel batch` reads them (the data layer's own scalar parsers and missing tokens). */
#include "api/api_int.h"

#include "data/scalar.h"

#include <math.h>
#include <string.h>

fw_field fw_field_number(const char *name, double v) {
    return (fw_field){.name = name, .kind = FW_FIELD_NUMBER, .num = v};
}

fw_field fw_field_string(const char *name, const char *str) {
    if (!str) return (fw_field){.name = name, .kind = FW_FIELD_MISSING};
    return (fw_field){.name = name, .kind = FW_FIELD_STRING, .str = str, .len = strlen(str)};
}

fw_field fw_field_missing(const char *name) { return (fw_field){.name = name, .kind = FW_FIELD_MISSING}; }

static int show(size_t n) { return n > 40 ? 40 : (int)n; }

fw_status fw__api_field_value(const fw_predictor *m, size_t i, const fw_field *f, fw_value *out, fw_err *err) {
    *out = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    switch (f->kind) {
    case FW_FIELD_MISSING: return FW_OK;
    case FW_FIELD_NUMBER:
        if (!isnan(f->num)) *out = (fw_value){FW_VALUE_NUMBER, f->num, NULL, 0};
        return FW_OK;
    case FW_FIELD_STRING:
        if (!f->str && f->len) break;
        *out = (fw_value){FW_VALUE_STRING, 0, f->str ? f->str : "", f->len};
        return FW_OK;
    case FW_FIELD_CSV: {
        if (!f->str && f->len) break;
        const char *s = f->str ? f->str : "";
        fw_col_type ty = fw_pipeline_input_type(m->pl, i);
        bool missing = fw_is_missing(s, f->len, fw_default_missing, fw_default_n_missing);
        if (ty == FW_COL_NUMERIC || ty == FW_COL_TIMESTAMP) {
            /* the CSV reader's order (data/csv.c): empty → missing, a value, a missing token */
            double v;
            if (f->len == 0) return FW_OK;
            if (ty == FW_COL_NUMERIC ? fw_parse_number(s, f->len, &v, NULL) : fw_parse_timestamp(s, f->len, &v)) {
                if (!isnan(v)) *out = (fw_value){FW_VALUE_NUMBER, v, NULL, 0};
                return FW_OK;
            }
            if (missing) return FW_OK;
            return fw_err_set(err, FW_ESCHEMA, "input '%s': expected %s, got '%.*s'%s", fw_pipeline_input_name(m->pl, i),
                              ty == FW_COL_NUMERIC ? "a number" : "an ISO 8601 date/time", show(f->len), s,
                              f->len > 40 ? "..." : "");
        }
        if (!missing) *out = (fw_value){FW_VALUE_STRING, 0, s, f->len};
        return FW_OK;
    }
    }
    return fw_err_set(err, FW_EINVAL, "input '%s': invalid field (kind %d, or a NULL string with a length)",
                      fw_pipeline_input_name(m->pl, i), (int)f->kind);
}
