/* perf_store.c — owns the live-performance tracker's lookup beyond its table (perf.h,
 * fw_perf_store_lookup): a label whose prediction the tracker no longer holds is joined to the
 * logged one, read through the store interface (store/store.h fw_store_log_get_prediction); the
 * scores come from the logged "outputs" (the request's first instance) and the slice values from
 * the logged inputs (the first "<column>": value in the request's JSON). */
#include "monitor/perf.h"

#include "core/alloc.h"
#include "store/store.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fw_perf_store_lookup {
    char *home, *model;
    int64_t version;
    size_t n_slices;
    char **slice_names;        /* the tracker's slice columns, in its order */
    pthread_mutex_t mu;
    fw_store_log *log;         /* opened on first use */
};

fw_status fw_perf_store_lookup_new(const char *home, const char *model, int64_t version, const fw_perf_model *m,
                                   fw_perf_store_lookup **out, fw_err *err) {
    *out = NULL;
    fw_perf_store_lookup *l = fw_calloc(1, sizeof *l);
    if (!l) return fw_err_set(err, FW_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    l->version = version;
    l->home = fw_strdup(home ? home : "");
    l->model = fw_strdup(model ? model : "");
    bool ok = l->home && l->model;
    size_t ns = m->n_slice_columns;
    if (ok && ns) {
        l->slice_names = fw_calloc(ns, sizeof *l->slice_names);
        ok = l->slice_names != NULL;
        if (ok) l->n_slices = ns;
        for (size_t i = 0; ok && i < ns; i++) ok = (l->slice_names[i] = fw_strdup(m->slice_columns[i]));
    }
    if (!ok) {
        fw_perf_store_lookup_free(l);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = l;
    return FW_OK;
}

void fw_perf_store_lookup_free(fw_perf_store_lookup *l) {
    if (!l) return;
    fw_store_log_close(l->log);
    for (size_t i = 0; i < l->n_slices; i++) fw_free(l->slice_names[i]);
    fw_free(l->slice_names);
    fw_free(l->home);
    fw_free(l->model);
    pthread_mutex_destroy(&l->mu);
    fw_free(l);
}

/* The first instance's scores from the logged output JSON ({..., "outputs":[[s0,s1,...],...]}). */
static bool parse_outputs(const char *js, double *scores, size_t k) {
    const char *o = strstr(js, "\"outputs\":");
    if (!o) return false;
    o += 10;
    while (*o == ' ') o++;
    if (*o++ != '[') return false;
    while (*o == ' ') o++;
    if (*o++ != '[') return false;
    for (size_t j = 0; j < k; j++) {
        while (*o == ' ' || (j && *o == ',')) o++;
        char *end;
        scores[j] = strtod(o, &end);
        if (end == o || !isfinite(scores[j])) return false;
        o = end;
    }
    while (*o == ' ') o++;
    return *o == ']';
}

/* The value of the first "name": in the logged inputs, as text ("" when absent or null). */
static void input_value(const char *js, const char *name, char out[FW_PERF_SLICE_TEXT]) {
    out[0] = 0;
    if (!js) return;
    size_t nl = strlen(name);
    for (const char *s = strchr(js, '"'); s; s = strchr(s + 1, '"')) {
        if (strncmp(s + 1, name, nl) || s[1 + nl] != '"') continue;
        const char *v = s + 2 + nl;
        while (*v == ' ') v++;
        if (*v != ':') continue;
        v++;
        while (*v == ' ') v++;
        size_t n = 0;
        if (*v == '"') {
            for (v++; *v && *v != '"' && n < FW_PERF_SLICE_TEXT - 1; v++) {
                if (*v == '\\' && v[1]) v++;
                out[n++] = *v;
            }
        } else {
            for (; *v && *v != ',' && *v != '}' && *v != ']' && *v != ' ' && n < FW_PERF_SLICE_TEXT - 1; v++)
                out[n++] = *v;
            if (n == 4 && !memcmp(out, "null", 4)) n = 0;
        }
        out[n] = 0;
        return;
    }
}

fw_status fw_perf_store_lookup_fn(void *ud, const char *request_id, size_t rid_len, double *scores, size_t k,
                                  char (*slice_values)[FW_PERF_SLICE_TEXT], size_t n_slices, uint64_t *row,
                                  fw_err *err) {
    (void)rid_len;
    fw_perf_store_lookup *l = ud;
    *row = UINT64_MAX;
    pthread_mutex_lock(&l->mu);
    fw_status st = FW_OK;
    if (!l->log) st = fw_store_log_open(l->home, &l->log, err);
    fw_log_pred_found f = {0};
    if (!st) st = fw_store_log_get_prediction(l->log, request_id, l->model, l->version, &f, err);
    pthread_mutex_unlock(&l->mu);
    if (st) return st;
    if (!parse_outputs(f.output_json, scores, k))
        st = fw_err_set(err, FW_EDATA, "logged prediction of request %s: no %zu scores in its outputs", request_id, k);
    for (size_t c = 0; !st && c < n_slices; c++)
        input_value(f.input_json, c < l->n_slices ? l->slice_names[c] : "", slice_values[c]);
    fw_log_pred_found_free(&f);
    return st;
}
