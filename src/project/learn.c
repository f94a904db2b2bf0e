/* learn.c — owns the learn: section's struct (see learn.h): defaults, release, copy, names and
 * durations. Its YAML reader and writer are learn_yaml.c's. */
#include "project/learn.h"

#include "core/alloc.h"
#include "core/decimal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *fw_learn_rows_name(fw_learn_rows r) { return r == FW_LEARN_ROWS_DECAY ? "decay" : "window"; }

void fw_learn_spec_init(fw_learn_spec *l) {
    memset(l, 0, sizeof *l);
    l->rows = FW_LEARN_ROWS_WINDOW;
    l->half_life_s = FW_LEARN_DEFAULT_HALF_LIFE_S;
    l->base = true;
    l->confidence = FW_LEARN_DEFAULT_CONFIDENCE;
    l->min_rows = FW_LEARN_DEFAULT_MIN_ROWS;
    l->holdout = FW_LEARN_DEFAULT_HOLDOUT;
    l->resamples = FW_LEARN_DEFAULT_RESAMPLES;
    l->seed = 42;
}

void fw_learn_spec_free(fw_learn_spec *l) {
    if (!l) return;
    fw_free(l->base_data);
    fw_learn_spec_init(l);
}

fw_status fw_learn_spec_copy(const fw_learn_spec *in, fw_learn_spec *out) {
    *out = *in;
    out->base_data = NULL;
    if (in->base_data && !(out->base_data = fw_strdup(in->base_data))) return FW_ENOMEM;
    return FW_OK;
}

bool fw_learn_parse_duration(const char *text, double *seconds) {
    if (!text || !*text) return false;
    size_t n = strlen(text);
    double unit = 1;
    char last = text[n - 1];
    switch (last) {
    case 's': unit = 1; n--; break;
    case 'm': unit = 60; n--; break;
    case 'h': unit = 3600; n--; break;
    case 'd': unit = 86400; n--; break;
    case 'w': unit = 7 * 86400.0; n--; break;
    default:
        if (last < '0' || last > '9') return false;
    }
    double v;
    if (n == 0 || !fw_decimal_parse(text, n, &v, NULL) || !isfinite(v) || v < 0) return false;
    v *= unit;
    if (!isfinite(v) || v > 1e11) return false; /* ~3,000 years: anything beyond is a typo */
    *seconds = v;
    return true;
}
