/* source_dir.c — owns the directory model source: models served without a store, for demos, tests
 * and benchmarks of the HTTP layer. Layout:
 *   DIR/NAME/VERSION.json   a linear model (below)
 *   DIR/NAME/aliases.json   {"production": "VERSION", ...}
 * Model file:
 *   {"task": "binary"|"regression"|"multiclass", "inputs": ["a", "b"],
 *    "weights": [w_a, w_b] (multiclass: one list per class), "bias": b (multiclass: a list),
 *    "impute": [m_a, m_b] (value for a missing input; default 0), "classes": ["no", "yes"],
 *    "threshold": 0.5, "confidence_threshold": 0.0, "fallback": "baseline"|"value"|"review",
 *    "fallback_value": "...", "baseline": [outputs...]}
 * Binary: P = sigmoid(w·x + b); multiclass: softmax; regression: w·x + b. Explain: w_i·x_i per input
 * for the explained class, in the same format as the store's models (serve/explain.h). */
#include "core/alloc.h"
#include "core/buf.h"
#include "serve/explain.h"
#include "serve/model.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dir_src {
    char *dir;
    pthread_mutex_t mu; /* serialises alias rewrites */
} dir_src;

typedef struct linear {
    size_t n_in, n_out;
    double *w;      /* n_out x n_in */
    double *b;      /* n_out */
    double *impute; /* n_in */
} linear;

static bool name_ok(const char *s) {
    if (!s || !*s || strlen(s) > 200 || s[0] == '.') return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static fw_status input_num(const fw_srv_model *m, const linear *l, const fw_value *v, size_t i,
                           double *out, fw_err *err) {
    switch (v[i].kind) {
    case FW_VALUE_NUMBER: *out = v[i].num; return FW_OK;
    case FW_VALUE_MISSING: *out = l->impute[i]; return FW_OK;
    case FW_VALUE_STRING: {
        char tmp[64];
        if (v[i].len == 0 || v[i].len >= sizeof tmp) break;
        memcpy(tmp, v[i].str, v[i].len);
        tmp[v[i].len] = 0;
        char *end;
        double d = strtod(tmp, &end);
        if (*end || !isfinite(d)) break;
        *out = d;
        return FW_OK;
    }
    }
    return fw_err_set(err, FW_ESCHEMA, "field '%s': expected a number, got a string", m->input_names[i]);
}

static void margins(const linear *l, const double *x, double *z) {
    for (size_t k = 0; k < l->n_out; k++) {
        double s = l->b[k];
        for (size_t i = 0; i < l->n_in; i++) s += l->w[k * l->n_in + i] * x[i];
        z[k] = s;
    }
}

static fw_status lin_predict(const fw_srv_model *m, const fw_value *in, void *scratch, double *out,
                             fw_err *err) {
    const linear *l = m->impl;
    double *x = scratch;
    for (size_t i = 0; i < l->n_in; i++) {
        fw_status st = input_num(m, l, in, i, &x[i], err);
        if (st) return st;
    }
    margins(l, x, out);
    if (m->task == FW_TASK_BINARY) out[0] = 1.0 / (1.0 + exp(-out[0]));
    else if (m->task == FW_TASK_MULTICLASS) {
        double mx = out[0], sum = 0;
        for (size_t k = 1; k < l->n_out; k++) mx = out[k] > mx ? out[k] : mx;
        for (size_t k = 0; k < l->n_out; k++) sum += (out[k] = exp(out[k] - mx));
        for (size_t k = 0; k < l->n_out; k++) out[k] /= sum;
    }
    return FW_OK;
}

/* :explain in the format of every source (serve/explain.h): the decision's class (multiclass), the
 * positive class (binary; the negative one when asked: the same terms negated), or the value;
 * w_i * x_i per input, the bias last. */
static fw_status lin_explain_json(const fw_srv_model *m, const fw_value *in, const double *own, int32_t cls,
                                  fw_buf *b, fw_err *err) {
    const linear *l = m->impl;
    double *x = fw_malloc((2 * l->n_in + 1) * sizeof *x), *per = x + l->n_in;
    if (!x) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n_in; i++) {
        fw_status st = input_num(m, l, in, i, &x[i], err);
        if (st) {
            fw_free(x);
            return st;
        }
    }
    fw_explain_output eo = fw_explain_output_for(m->task, cls, own, l->n_out);
    size_t k = eo.k;
    double sign = eo.sign;
    int32_t shown = eo.shown;
    const char *space = eo.space;
    for (size_t i = 0; i < l->n_in; i++) per[i] = sign * l->w[k * l->n_in + i] * x[i];
    const char *name = shown >= 0 && m->classes && (size_t)shown < m->n_classes ? m->classes[shown] : NULL;
    fw__explain_put_explained(b, m->task, name, shown, "additive", space);
    fw_buf_printf(b, ",\"contributions\":");
    fw__explain_put_contribs(b, (const char *const *)m->input_names, l->n_in, per, sign * l->b[k]);
    fw_buf_printf(b, ",\"contribution_space\":\"%s\"", space);
    fw_free(x);
    return FW_OK;
}

static void *lin_scratch_new(const fw_srv_model *m) {
    const linear *l = m->impl;
    return fw_calloc(l->n_in + 1, sizeof(double));
}

static void lin_free(void *p) {
    linear *l = p;
    fw_free(l->w);
    fw_free(l->b);
    fw_free(l->impute);
    fw_free(l);
}

static const fw_srv_model_ops lin_ops = {.predict = lin_predict, .explain_json = lin_explain_json, .scratch_new = lin_scratch_new, .scratch_free = fw_free, .free_impl = lin_free};

static fw_status read_file(const char *path, fw_buf *b, fw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "%s: %s", path, strerror(errno));
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) fw_buf_put(b, tmp, n);
    fclose(f);
    return fw_buf_ok(b) ? FW_OK : fw_err_set(err, FW_ENOMEM, "out of memory");
}

static fw_status load_json(const char *path, json_t **out, fw_err *err) {
    fw_buf b;
    fw_buf_init(&b);
    fw_status st = read_file(path, &b, err);
    if (st) {
        fw_buf_free(&b);
        return st;
    }
    json_error_t je;
    *out = json_loadb((const char *)b.data, b.len, 0, &je);
    fw_buf_free(&b);
    if (!*out) return fw_err_set(err, FW_EPARSE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return FW_OK;
}

static fw_status bad(const char *path, const char *what, fw_err *err) {
    return fw_err_set(err, FW_ECORRUPT, "%s: %s", path, what);
}

static fw_status num_list(json_t *a, size_t n, double *dst) {
    if (!json_is_array(a) || json_array_size(a) != n) return FW_ESCHEMA;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) return FW_ESCHEMA;
        dst[i] = json_number_value(v);
    }
    return FW_OK;
}

static fw_status parse_model(const char *path, json_t *j, fw_srv_model *m, fw_err *err) {
    const char *task = json_string_value(json_object_get(j, "task"));
    if (task && strcmp(task, "binary") == 0) m->task = FW_TASK_BINARY;
    else if (task && strcmp(task, "regression") == 0) m->task = FW_TASK_REGRESSION;
    else if (task && strcmp(task, "multiclass") == 0) m->task = FW_TASK_MULTICLASS;
    else
        return bad(path, "'task' must be binary, regression or multiclass", err);
    json_t *in = json_object_get(j, "inputs");
    if (!json_is_array(in) || json_array_size(in) == 0) return bad(path, "'inputs' must be a non-empty list", err);
    size_t n = json_array_size(in);
    const char **names = fw_calloc(n, sizeof *names);
    if (!names) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(names[i] = json_string_value(json_array_get(in, i)))) {
            fw_free(names);
            return bad(path, "'inputs' must be strings", err);
        }
    fw_status st = fw_srv_model_set_inputs(m, names, n);
    fw_free(names);
    if (st) return fw_err_set(err, st, "out of memory");
    json_t *cl = json_object_get(j, "classes");
    size_t n_out = 1;
    if (m->task == FW_TASK_MULTICLASS) {
        if (!json_is_array(cl) || json_array_size(cl) < 2) return bad(path, "multiclass needs 'classes'", err);
        n_out = json_array_size(cl);
    }
    if (json_is_array(cl)) {
        m->n_classes = json_array_size(cl);
        if (!(m->classes = fw_calloc(m->n_classes, sizeof(char *)))) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t k = 0; k < m->n_classes; k++) {
            const char *s = json_string_value(json_array_get(cl, k));
            if (!s) return bad(path, "'classes' must be strings", err);
            if (!(m->classes[k] = fw_strdup(s))) return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        if (m->task == FW_TASK_BINARY && m->n_classes != 2) return bad(path, "binary needs 2 classes", err);
    }
    m->n_outputs = n_out;
    linear *l = fw_calloc(1, sizeof *l);
    if (!l) return fw_err_set(err, FW_ENOMEM, "out of memory");
    m->impl = l;
    m->ops = &lin_ops;
    l->n_in = n;
    l->n_out = n_out;
    l->w = fw_calloc(n * n_out, sizeof(double));
    l->b = fw_calloc(n_out, sizeof(double));
    l->impute = fw_calloc(n, sizeof(double));
    m->baseline_out = fw_calloc(n_out, sizeof(double));
    if (!l->w || !l->b || !l->impute || !m->baseline_out) return fw_err_set(err, FW_ENOMEM, "out of memory");
    json_t *w = json_object_get(j, "weights"), *b = json_object_get(j, "bias");
    if (n_out == 1) {
        if (num_list(w, n, l->w)) return bad(path, "'weights' must be one number per input", err);
        if (b && !json_is_number(b)) return bad(path, "'bias' must be a number", err);
        l->b[0] = b ? json_number_value(b) : 0;
    } else {
        if (!json_is_array(w) || json_array_size(w) != n_out) return bad(path, "'weights' must hold one list per class", err);
        for (size_t k = 0; k < n_out; k++)
            if (num_list(json_array_get(w, k), n, l->w + k * n)) return bad(path, "'weights' rows must be one number per input", err);
        if (b && num_list(b, n_out, l->b)) return bad(path, "'bias' must be one number per class", err);
    }
    json_t *imp = json_object_get(j, "impute");
    if (imp && num_list(imp, n, l->impute)) return bad(path, "'impute' must be one number per input", err);
    json_t *bl = json_object_get(j, "baseline");
    if (bl && num_list(bl, n_out, m->baseline_out)) return bad(path, "'baseline' must be one number per output", err);
    json_t *t = json_object_get(j, "threshold");
    if (t) m->threshold = json_number_value(t);
    t = json_object_get(j, "confidence_threshold");
    if (t) m->confidence_threshold = json_number_value(t);
    const char *fb = json_string_value(json_object_get(j, "fallback"));
    if (fb && strcmp(fb, "value") == 0) m->fallback = FW_FALLBACK_VALUE;
    else if (fb && strcmp(fb, "review") == 0) m->fallback = FW_FALLBACK_REVIEW;
    else if (fb && strcmp(fb, "baseline") != 0) return bad(path, "'fallback' must be baseline, value or review", err);
    const char *fv = json_string_value(json_object_get(j, "fallback_value"));
    if (fv && !(m->fallback_value = fw_strdup(fv))) return fw_err_set(err, FW_ENOMEM, "out of memory");
    m->bytes = sizeof *m + sizeof *l + (n * n_out + n_out + n) * sizeof(double) + 64 * n;
    return FW_OK;
}

static fw_status dir_load(void *ud, const char *name, const char *version, fw_srv_model **out, fw_err *err) {
    dir_src *d = ud;
    if (!name_ok(name) || !name_ok(version))
        return fw_err_set(err, FW_ENOTFOUND, "model '%s' version '%s' not found", name, version);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.json", d->dir, name, version);
    json_t *j;
    fw_status st = load_json(path, &j, err);
    if (st == FW_ENOTFOUND) return fw_err_set(err, st, "model '%s' has no version '%s'", name, version);
    if (st) return st;
    fw_srv_model *m = fw_srv_model_new(name, version);
    if (!m) {
        json_decref(j);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    st = parse_model(path, j, m, err);
    json_decref(j);
    if (st) {
        fw_srv_model_unref(m);
        return st;
    }
    *out = m;
    return FW_OK;
}

static fw_status dir_resolve(void *ud, const char *name, const char *alias, char *version, size_t cap,
                             fw_err *err) {
    dir_src *d = ud;
    if (!name_ok(name)) return fw_err_set(err, FW_ENOTFOUND, "model '%s' not found", name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/aliases.json", d->dir, name);
    json_t *j;
    pthread_mutex_lock(&d->mu);
    fw_status st = load_json(path, &j, err);
    pthread_mutex_unlock(&d->mu);
    if (st == FW_ENOTFOUND) return fw_err_set(err, st, "model '%s' not found", name);
    if (st) return st;
    const char *v = json_string_value(json_object_get(j, alias));
    if (!v) st = fw_err_set(err, FW_ENOTFOUND, "model '%s' has no alias '%s'", name, alias);
    else if (strlen(v) >= cap) st = fw_err_set(err, FW_ELIMIT, "version name too long");
    else strcpy(version, v);
    json_decref(j);
    return st;
}

static fw_status dir_set_alias(void *ud, const char *name, const char *alias, const char *version,
                               bool force, fw_err *err) { /* a directory has no promotion rule */
    dir_src *d = ud;
    if (!name_ok(name) || !name_ok(alias) || !name_ok(version))
        return fw_err_set(err, FW_EINVAL, "invalid model, alias or version name");
    char path[4096], tmp[4200], vpath[4096];
    snprintf(vpath, sizeof vpath, "%s/%s/%s.json", d->dir, name, version);
    if (access(vpath, R_OK) != 0) return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version '%s'", name, version);
    snprintf(path, sizeof path, "%s/%s/aliases.json", d->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    pthread_mutex_lock(&d->mu);
    json_t *j = NULL;
    fw_err e2;
    if (load_json(path, &j, &e2) != FW_OK) j = json_object();
    fw_status st = FW_OK;
    if (!j || json_object_set_new(j, alias, json_string(version)) != 0) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    else if (json_dump_file(j, tmp, JSON_SORT_KEYS) != 0 || rename(tmp, path) != 0)
        st = fw_err_set(err, FW_EIO, "%s: cannot write: %s", path, strerror(errno));
    pthread_mutex_unlock(&d->mu);
    json_decref(j);
    return st;
}

static fw_status dir_list(void *ud, const char *alias, char ***names, size_t *n, fw_err *err) {
    dir_src *d = ud;
    *names = NULL;
    *n = 0;
    DIR *dh = opendir(d->dir);
    if (!dh) return fw_err_set(err, FW_EIO, "%s: %s", d->dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    fw_status st = FW_OK;
    while ((e = readdir(dh)) != NULL) {
        if (!name_ok(e->d_name)) continue;
        char v[256];
        fw_err ignore;
        if (dir_resolve(ud, e->d_name, alias, v, sizeof v, &ignore) != FW_OK) continue;
        if (FW_GROW(names, &cap, *n + 1) != FW_OK || !((*names)[*n] = fw_strdup(e->d_name))) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(dh);
    return st;
}

static void dir_free(void *ud) {
    dir_src *d = ud;
    pthread_mutex_destroy(&d->mu);
    fw_free(d->dir);
    fw_free(d);
}

fw_status fw_serve_source_dir(const char *dir, fw_serve_source *src, fw_err *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fw_err_set(err, FW_EIO, "%s: not a directory", dir);
    dir_src *d = fw_calloc(1, sizeof *d);
    if (!d || !(d->dir = fw_strdup(dir))) {
        fw_free(d);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&d->mu, NULL);
    *src = (fw_serve_source){d, "dir", dir_resolve, dir_load, dir_set_alias, dir_list, dir_free};
    return FW_OK;
}
