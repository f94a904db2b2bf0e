/* model.c — owns the family table, the dispatching wrappers and the hyperparameter helpers shared
 * by every model family. */
#include "models/model.h"

#include "core/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Families are defined in their own files; this table is the one place that names them all (a
 * strong reference, so a static link pulls every family in). */
extern const fw_model_vtable fw_baseline_vtable;
extern const fw_model_vtable fw_linear_vtable;
extern const fw_model_vtable fw_gbdt_vtable;
extern const fw_model_vtable fw_knn_vtable;
extern const fw_model_vtable fw_hier_vtable;

const fw_model_vtable *const *fw_model_families(void) {
    static const fw_model_vtable *list[8];
    static int filled;
    if (!filled) {
        size_t n = 0;
        const fw_model_vtable *all[] = {&fw_baseline_vtable, &fw_linear_vtable, &fw_gbdt_vtable,
                                        &fw_knn_vtable, &fw_hier_vtable};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) list[n++] = all[i];
        list[n] = NULL;
        filled = 1;
    }
    return list;
}

const fw_model_vtable *fw_model_family(const char *name) {
    for (const fw_model_vtable *const *f = fw_model_families(); *f; f++)
        if (strcmp((*f)->family, name) == 0) return *f;
    return NULL;
}

void fw_fit_options_init(fw_fit_options *o) {
    memset(o, 0, sizeof *o);
    o->seed = 42;
}

fw_status fw_model_fit(const char *family, const fw_train_data *d, const fw_fit_options *o,
                       fw_model **out, fw_err *err) {
    const fw_model_vtable *vt = fw_model_family(family);
    if (!vt) return fw_err_set(err, FW_EINVAL, "unknown model family '%s'", family);
    if (!d || !d->X || !d->y || d->X->n_rows == 0)
        return fw_err_set(err, FW_EDATA, "%s: no training rows", family);
    fw_fit_options def;
    if (!o) {
        fw_fit_options_init(&def);
        o = &def;
    }
    return vt->fit(d, o, out, err);
}

fw_status fw_model_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out) {
    if (!m || !X || !out) return FW_EINVAL;
    if (X->n_dense != m->n_dense) return FW_ESCHEMA;
    return m->vt->predict_block(m, X, threads, out);
}

fw_status fw_model_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out) {
    return m->vt->predict_row(m, x, scratch, out);
}

size_t fw_model_scratch_size(const fw_model *m) { return m->vt->scratch_size(m); }

fw_status fw_model_col_scorer(const fw_model *m, const fw_matrix *base, int threads, fw_col_scorer **out) {
    *out = NULL;
    if (!m || !base) return FW_EINVAL;
    if (!m->vt->col_scorer) return FW_EUNSUPPORTED;
    return m->vt->col_scorer(m, base, threads, out);
}

fw_status fw_model_save(const fw_model *m, fw_buf *out) {
    fw_buf_put_str(out, m->vt->family);
    fw_status st = m->vt->save(m, out);
    if (st) return st;
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}

fw_status fw_model_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err) {
    fw_reader r;
    fw_reader_init(&r, data, len);
    char *family = NULL;
    if (!fw_reader_str(&r, &family) || !family)
        return fw_err_set(err, FW_ECORRUPT, "model section: missing family name");
    const fw_model_vtable *vt = fw_model_family(family);
    if (!vt) {
        fw_err_set(err, FW_EUNSUPPORTED, "model section: unknown model family '%s'", family);
        fw_free(family);
        return FW_EUNSUPPORTED;
    }
    fw_free(family);
    return vt->load(data + r.pos, len - r.pos, out, err);
}

void fw_model_free(fw_model *m) {
    if (m) m->vt->free(m);
}

const char *fw_fit_param(const fw_fit_options *o, const char *key) {
    if (!o) return NULL;
    size_t kl = strlen(key);
    const char *found = NULL;
    for (size_t i = 0; i < o->n_params; i++) {
        const char *p = o->params[i];
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') found = p + kl + 1; /* last one wins */
    }
    return found;
}

fw_status fw_fit_param_int(const fw_fit_options *o, const char *family, const char *key, long lo,
                           long hi, long *inout, fw_err *err) {
    const char *v = fw_fit_param(o, key);
    if (!v) return FW_OK;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return fw_err_set(err, FW_EINVAL, "%s.%s: expected an integer in [%ld, %ld], got '%s'",
                          family, key, lo, hi, v);
    *inout = x;
    return FW_OK;
}

fw_status fw_fit_param_double(const fw_fit_options *o, const char *family, const char *key,
                              double lo, double hi, double *inout, fw_err *err) {
    const char *v = fw_fit_param(o, key);
    if (!v) return FW_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi)
        return fw_err_set(err, FW_EINVAL, "%s.%s: expected a number in [%g, %g], got '%s'", family,
                          key, lo, hi, v);
    *inout = x;
    return FW_OK;
}

fw_status fw_fit_params_check(const fw_fit_options *o, const char *family,
                              const char *const *known, fw_err *err) {
    if (!o) return FW_OK;
    for (size_t i = 0; i < o->n_params; i++) {
        const char *p = o->params[i];
        const char *eq = strchr(p, '=');
        size_t kl = eq ? (size_t)(eq - p) : strlen(p);
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            if (strlen(*k) == kl && strncmp(*k, p, kl) == 0) ok = 1;
        if (!ok || !eq)
            return fw_err_set(err, FW_EINVAL, "%s: unknown parameter '%.*s'", family, (int)kl, p);
    }
    return FW_OK;
}
