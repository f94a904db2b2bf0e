/* sources.c — owns where each transformed feature comes from, for explanations: the input column
 * of a dense feature (a one-hot part, a missing indicator, a timestamp part ...), and the hashed
 * (sparse) entries of a record source by source — a hashed categorical, a text column, a cross of
 * several columns — before they are merged into the row. The record path (pipeline.c) stays
 * untouched: this replays the same per-kind transforms one source at a time. */
#include "features/pipeline_int.h"

int fw_pipeline_dense_input(const fw_pipeline *pl, size_t j) {
    for (uint32_t i = 0; i < pl->n_cols; i++)
        if (j >= pl->cols[i].dense_off && j < (size_t)pl->cols[i].dense_off + pl->cols[i].n_dense) return (int)i;
    return -1;
}

/* Reports the entries pushed since the scratch was emptied, as parallel arrays, and empties it. */
static void report(fw_pipeline_scratch *s, const uint32_t *inputs, size_t n_inputs, fw_sparse_source_fn fn,
                   void *ud) {
    if (!s->n_ent) return;
    for (size_t k = 0; k < s->n_ent; k++) {
        s->indices[k] = s->ent[k].idx;
        s->values[k] = s->ent[k].val;
    }
    fn(ud, inputs, n_inputs, s->indices, s->values, s->n_ent);
    s->n_ent = 0;
}

fw_status fw_pipeline_sparse_sources(const fw_pipeline *pl, const fw_value *values, fw_pipeline_scratch *s,
                                     float *dense, fw_sparse_source_fn fn, void *ud, fw_err *err) {
    if (!pl->sparse_dim) return FW_OK;
    uint32_t mask = pl->sparse_dim - 1;
    s->n_ent = 0;
    for (uint32_t i = 0; i < pl->n_cols; i++) {
        const fw__col *c = &pl->cols[i];
        if (c->type != FW_COL_CATEGORICAL && c->type != FW_COL_TEXT) continue;
        if (fw__scratch_reserve(s, 1)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        char buf[32];
        fw__str sv;
        bool present = fw__value_str(&values[i], buf, &sv);
        if (c->type == FW_COL_CATEGORICAL) fw__categorical_apply(c, &sv, present, dense + c->dense_off, s, mask);
        else if (fw__text_apply(c, &sv, s, mask)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        report(s, &i, 1, fn, ud);
    }
    for (uint32_t x = 0; x < pl->n_crosses; x++) {
        if (fw__scratch_reserve(s, 1)) return fw_err_set(err, FW_ENOMEM, "out of memory");
        fw__cross_apply(&pl->crosses[x], pl->cols, values, s, mask);
        report(s, pl->crosses[x].cols, pl->crosses[x].n, fn, ud);
    }
    return FW_OK;
}
