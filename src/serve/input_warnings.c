/* input_warnings.c — owns the warnings about an instance's scored values (input_warnings.h), for
 * the /v1 and the KServe v2 answers alike. */
#include "serve/input_warnings.h"

#include "core/dtoa.h"
#include "serve/metrics.h"
#include "serve/server_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_warning(fw_buf *w, size_t *n, const char *msg) {
    if ((*n)++ >= FW_MAX_INPUT_WARNINGS) return;
    if (*n > 1) fw_buf_put_u8(w, ',');
    fw_json_put_str(w, msg);
}

/* The fast and the jansson paths call it alike, after the unknown-feature warnings, so both answer
 * the same text. */
void fw__input_warnings(const fw_srv_model *m, const fw_value *vals, const char *what, size_t idx, fw_buf *w,
                        size_t *n) {
    bool kinds[FW_N_INPUT_WARNINGS] = {false};
    size_t missing = 0;
    char msg[512];
    /* a number warns only about a categorical input: whether m has one, kept per thread for the
     * last model asked (fw_srv_model.gen) */
    static _Thread_local struct {
        uint64_t gen;
        bool any_cat;
    } t_cat;
    if (t_cat.gen != m->gen) {
        t_cat.any_cat = false;
        for (size_t i = 0; m->pipeline && i < m->n_inputs; i++)
            t_cat.any_cat |= fw_pipeline_input_type(m->pipeline, i) == FW_COL_CATEGORICAL;
        t_cat.gen = m->gen;
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        const fw_value *v = &vals[i];
        if (v->kind == FW_VALUE_MISSING) {
            missing++;
            continue;
        }
        if (v->kind == FW_VALUE_NUMBER && !t_cat.any_cat) continue;
        fw_col_type t = m->pipeline ? fw_pipeline_input_type(m->pipeline, i) : FW_COL_NUMERIC;
        const char *name = m->input_names[i];
        if (t == FW_COL_NUMERIC && v->kind == FW_VALUE_STRING && m->pipeline) {
            double x; /* read as the record path reads it; others: missing words, or a 400 later */
            if (fw_pipeline_input_num(m->pipeline, i, v, &x, NULL) == FW_OK && !isnan(x)) {
                size_t l = v->len < 60 ? v->len : 60;
                snprintf(msg, sizeof msg, "%s[%zu].%.100s: the string '%.*s' was read as a number", what, idx, name,
                         (int)l, v->str);
                add_warning(w, n, msg);
                kinds[FW_WARN_COERCED] = true;
            }
        } else if (t == FW_COL_CATEGORICAL) {
            char num[FW_NUMFMT_MAX];
            const char *cs = v->str;
            size_t cl = v->len;
            if (v->kind == FW_VALUE_NUMBER) {
                cl = fw_num_format(v->num, num);
                cs = num;
                snprintf(msg, sizeof msg, "%s[%zu].%.100s: the number %.*s was read as the category '%.*s'", what, idx,
                         name, (int)cl, cs, (int)cl, cs);
                add_warning(w, n, msg);
                kinds[FW_WARN_COERCED] = true;
            }
            if (fw_pipeline_category_known(m->pipeline, i, cs, cl) == 0) {
                snprintf(msg, sizeof msg, "%s[%zu].%.100s: unseen category '%.*s' (scored as __unknown__)", what, idx,
                         name, (int)(cl < 60 ? cl : 60), cs);
                add_warning(w, n, msg);
                kinds[FW_WARN_UNSEEN_CATEGORY] = true;
            }
        }
    }
    if (m->n_inputs >= 2 && missing * 2 > m->n_inputs) {
        snprintf(msg, sizeof msg, "%s[%zu]: %zu of %zu features missing (imputed)", what, idx, missing, m->n_inputs);
        add_warning(w, n, msg);
        kinds[FW_WARN_MOSTLY_MISSING] = true;
    }
    for (int k = 0; k < FW_N_INPUT_WARNINGS; k++)
        if (kinds[k]) fw_metrics_input_warning(m->metrics, k);
}

void fw__input_warnings_merge(fw_buf *warn, size_t n_warn, const fw_buf *iw, size_t n_iw) {
    if (!n_iw) return;
    if (n_warn) fw_buf_put_u8(warn, ',');
    fw_buf_put(warn, iw->data, iw->len);
    if (n_iw > FW_MAX_INPUT_WARNINGS)
        fw_buf_printf(warn, ",\"%zu more input warnings not listed\"", n_iw - FW_MAX_INPUT_WARNINGS);
}
