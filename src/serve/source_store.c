/* source_store.c — owns the store model source: the server's models come from the registry
 * (registry/registry.h) under FLYWHEEL_HOME. A version is loaded from a read-only memory map of its
 * content-addressed artifact file (verified against its hash; the store's read path only when the
 * file is not there) into an fw_bundle, and adapted to fw_srv_model: inputs are
 * the pipeline's input columns, predictions go through fw_bundle_predict_record (the one path the
 * batch scorer also uses), explanations through serve/explain.c (fw__explain_bundle). Aliases are read from the store on every resolve, so another process's promotion is seen
 * at the next alias poll. */
#include "core/alloc.h"
#include "core/clock.h"
#include "registry/registry.h"
#include "serve/explain.h"
#include "serve/model.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct store_src {
    fw_registry *reg;
    fw_store *store;    /* the registry's: artifact_map is safe beside other threads' use */
    pthread_mutex_t mu; /* the registry handle is single-threaded */
} store_src;

/* The loaded artifact behind one fw_srv_model. */
typedef struct bundle_impl {
    fw_bundle *b;
    size_t n_dense;
    size_t n_out;
    size_t mscratch_size;
} bundle_impl;

/* Per-thread scratch: the bundle's (predict) plus our own pipeline pass for the model's own scores. */
typedef struct bundle_scratch {
    fw_bundle_scratch *bs;
    fw_pipeline_scratch *ps;
    float *dense;
    void *mscratch;   /* model scratch, 16-byte aligned */
    double *own;      /* n_out: the model's own scores after an abstention */
    double *answer;   /* n_out: the baseline's scores after a baseline fallback */
} bundle_scratch;

/* ---- the servable model ------------------------------------------------------------------- */

/* The model's own scores for a record (pipeline pass + predict_row on our scratch): used when the
 * bundle abstained and its answer came from a fallback, so the reply can still show what the model
 * itself said. */
static fw_status own_scores(const fw_srv_model *m, const fw_value *inputs, bundle_scratch *sc, double *out,
                            fw_err *err) {
    const bundle_impl *bi = m->impl;
    const fw_model *model = fw_bundle_model(bi->b);
    fw_row row;
    fw_status st = fw_pipeline_transform_record(fw_bundle_pipeline(bi->b), inputs, sc->ps, sc->dense, &row, err);
    if (st) return st;
    if ((st = fw_model_predict_row(model, &row, sc->mscratch, sc->own)))
        return fw_err_set(err, st, "model prediction failed: %s", fw_strerror(st));
    for (size_t k = 0; k < m->n_outputs; k++) out[k] = k < bi->n_out ? sc->own[k] : NAN;
    return FW_OK;
}

/* The class a classifier's scores pick (binary: the artifact's decision threshold), its
 * probability and the confidence (max class probability) — as the bundle decides. */
static int32_t pick(const fw_srv_model *m, const double *o, double *p_label, double *conf) {
    if (m->task == FW_TASK_BINARY) {
        int32_t lab = o[0] >= m->threshold ? 1 : 0;
        *p_label = lab ? o[0] : 1 - o[0];
        *conf = *p_label; /* the decision's confidence: the probability of the label decided */
        return lab;
    }
    int32_t best = 0;
    for (size_t k = 1; k < m->n_outputs; k++)
        if (o[k] > o[best]) best = (int32_t)k;
    *p_label = *conf = o[best];
    return best;
}

/* serving.confidence_threshold disagrees with the artifact's: decide again from the model's own
 * scores (abstain = the override says so), with the artifact's fallback when abstaining. */
static fw_status redecide(const fw_srv_model *m, const fw_value *inputs, bundle_scratch *sc, bool abstain,
                          double *out, fw_prediction *pred, fw_err *err) {
    const bundle_impl *bi = m->impl;
    fw_row row;
    fw_status st = fw_pipeline_transform_record(fw_bundle_pipeline(bi->b), inputs, sc->ps, sc->dense, &row, err);
    if (st) return st;
    if ((st = fw_model_predict_row(fw_bundle_model(bi->b), &row, sc->mscratch, sc->own)))
        return fw_err_set(err, st, "model prediction failed: %s", fw_strerror(st));
    for (size_t k = 0; k < m->n_outputs; k++) out[k] = k < bi->n_out ? sc->own[k] : NAN;
    memset(pred, 0, sizeof *pred);
    pred->n_outputs = m->n_outputs;
    double p, conf;
    int32_t k = pick(m, out, &p, &conf);
    pred->confidence = conf;
    fw_fallback_kind fb = m->fallback;
    if (fb == FW_FALLBACK_BASELINE && !fw_bundle_has_baseline(bi->b)) fb = FW_FALLBACK_REVIEW;
    if (abstain) {
        pred->abstained = true;
        if (fb == FW_FALLBACK_BASELINE) {
            /* the baseline model, or a rule baseline on the raw inputs */
            if ((st = fw_bundle_baseline_record(bi->b, inputs, &row, sc->bs, sc->answer, err))) return st;
            pred->scores = sc->answer;
            pred->source = FW_PRED_BASELINE;
            k = pick(m, sc->answer, &p, &conf);
        } else {
            pred->scores = NULL;
            pred->value = NAN;
            pred->label = -1;
            if (fb == FW_FALLBACK_VALUE) {
                pred->source = FW_PRED_VALUE;
                pred->label_name = fw_bundle_fallback_value(bi->b);
                for (size_t c = 0; pred->label_name && m->classes && c < m->n_classes; c++)
                    if (strcmp(m->classes[c], pred->label_name) == 0) pred->label = (int32_t)c;
            } else {
                pred->source = FW_PRED_REVIEW;
            }
            return FW_OK;
        }
    } else {
        pred->scores = out;
        pred->source = FW_PRED_MODEL;
    }
    pred->label = k;
    pred->value = p;
    pred->label_name = m->classes && k >= 0 && (size_t)k < m->n_classes ? m->classes[k] : NULL;
    return FW_OK;
}

/* THE shared path (fw_bundle_predict_record) decides; out always gets the model's own scores and
 * pred->scores points at the answering model's (the baseline's after a baseline fallback). With
 * override >= 0 on a classifier, the abstention follows it instead of the artifact's threshold. */
static fw_status b_decide(const fw_srv_model *m, const fw_value *inputs, void *scratch, double override,
                          double *out, fw_prediction *pred, fw_err *err) {
    const bundle_impl *bi = m->impl;
    bundle_scratch *sc = scratch;
    fw_status st = fw_bundle_predict_record(bi->b, inputs, sc->bs, pred, err);
    if (st) return st;
    if (override >= 0 && (m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS)) {
        bool abstain = override > 0 && pred->confidence < override;
        if (abstain != pred->abstained) return redecide(m, inputs, sc, abstain, out, pred, err);
    }
    if (pred->source == FW_PRED_MODEL) {
        size_t n = pred->n_outputs < m->n_outputs ? pred->n_outputs : m->n_outputs;
        for (size_t k = 0; k < m->n_outputs; k++) out[k] = k < n ? pred->scores[k] : NAN;
        pred->scores = out;
        return FW_OK;
    }
    /* abstained: keep the fallback's answer (pred), report the model's own scores beside it */
    if (pred->source == FW_PRED_BASELINE) {
        size_t n = pred->n_outputs < m->n_outputs ? pred->n_outputs : m->n_outputs;
        for (size_t k = 0; k < m->n_outputs; k++) sc->answer[k] = k < n ? pred->scores[k] : NAN;
        pred->scores = sc->answer;
    } else {
        pred->scores = NULL;
    }
    return own_scores(m, inputs, sc, out, err);
}

static fw_status b_predict(const fw_srv_model *m, const fw_value *inputs, void *scratch, double *out,
                           fw_err *err) {
    fw_prediction p;
    return b_decide(m, inputs, scratch, -1, out, &p, err);
}

static fw_status b_explain_json(const fw_srv_model *m, const fw_value *inputs, const double *own, int32_t cls,
                                fw_buf *out, fw_err *err) {
    const bundle_impl *bi = m->impl;
    return fw__explain_bundle(bi->b, inputs, own, cls, out, err);
}

static void b_scratch_free(void *p) {
    bundle_scratch *sc = p;
    if (!sc) return;
    fw_bundle_scratch_free(sc->bs);
    fw_pipeline_scratch_free(sc->ps);
    fw_free(sc->dense);
    free(sc->mscratch);
    fw_free(sc->own);
    fw_free(sc->answer);
    fw_free(sc);
}

static void *b_scratch_new(const fw_srv_model *m) {
    const bundle_impl *bi = m->impl;
    bundle_scratch *sc = fw_calloc(1, sizeof *sc);
    if (!sc) return NULL;
    size_t msz = (bi->mscratch_size + 15) & ~(size_t)15;
    if (fw_bundle_scratch_new(bi->b, &sc->bs) != FW_OK ||
        fw_pipeline_scratch_new(fw_bundle_pipeline(bi->b), &sc->ps) != FW_OK ||
        !(sc->dense = fw_calloc(bi->n_dense ? bi->n_dense : 1, sizeof *sc->dense)) ||
        !(sc->own = fw_calloc(bi->n_out, sizeof *sc->own)) ||
        !(sc->answer = fw_calloc(bi->n_out > m->n_outputs ? bi->n_out : m->n_outputs, sizeof *sc->answer)) ||
        /* aligned_alloc: the models' scratch contract wants 16-byte alignment, which the counted
         * fw_malloc header does not promise; it is per thread and freed with the scratch */
        !(sc->mscratch = aligned_alloc(16, msz ? msz : 16))) {
        b_scratch_free(sc);
        return NULL;
    }
    return sc;
}

static void b_free_impl(void *p) {
    bundle_impl *bi = p;
    fw_bundle_free(bi->b);
    fw_free(bi);
}

static const fw_srv_model_ops bundle_ops = {
    .predict = b_predict,
    .explain_json = b_explain_json,
    .predict_decide = b_decide,
    .scratch_new = b_scratch_new,
    .scratch_free = b_scratch_free,
    .free_impl = b_free_impl,
};

/* Wraps a loaded bundle (taken over, also on failure). */
static fw_status adapt(const char *name, const char *version, fw_bundle *b, size_t artifact_len,
                       fw_srv_model **out, fw_err *err) {
    fw_srv_model *m = fw_srv_model_new(name, version);
    bundle_impl *bi = fw_calloc(1, sizeof *bi);
    if (!m || !bi) {
        fw_bundle_free(b);
        fw_free(bi);
        fw_srv_model_unref(m);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    bi->b = b;
    m->impl = bi;
    m->ops = &bundle_ops;
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    const fw_model *model = fw_bundle_model(b);
    const fw_target *tg = fw_bundle_target(b);
    bi->n_dense = fw_pipeline_n_dense(pl);
    bi->n_out = model->n_outputs ? model->n_outputs : 1;
    bi->mscratch_size = fw_model_scratch_size(model);
    m->task = fw_bundle_task(b);
    m->n_outputs = fw_bundle_n_outputs(b);
    m->threshold = fw_bundle_threshold(b);
    m->confidence_threshold = fw_bundle_confidence_threshold(b);
    m->fallback = fw_bundle_fallback(b);
    size_t n_in = fw_pipeline_n_inputs(pl);
    const char **names = fw_calloc(n_in ? n_in : 1, sizeof *names);
    fw_status st = names ? FW_OK : FW_ENOMEM;
    for (size_t i = 0; st == FW_OK && i < n_in; i++) names[i] = fw_pipeline_input_name(pl, i);
    if (st == FW_OK) st = fw_srv_model_set_inputs(m, names, n_in);
    m->pipeline = pl;
    m->bundle = b;
    fw_free(names);
    if (st == FW_OK && tg->n_classes && tg->class_names) {
        if (!(m->classes = fw_calloc(tg->n_classes, sizeof *m->classes))) st = FW_ENOMEM;
        else m->n_classes = tg->n_classes;
        for (size_t k = 0; st == FW_OK && k < tg->n_classes; k++)
            if (!(m->classes[k] = fw_strdup(tg->class_names[k] ? tg->class_names[k] : ""))) st = FW_ENOMEM;
    }
    if (st == FW_OK && fw_bundle_fallback_value(b) && !(m->fallback_value = fw_strdup(fw_bundle_fallback_value(b))))
        st = FW_ENOMEM;
    if (st) {
        fw_srv_model_unref(m);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    size_t mb = model->vt->size_bytes ? model->vt->size_bytes(model) : 0;
    m->bytes = sizeof *m + mb + artifact_len / 4 + 4096;
    *out = m;
    return FW_OK;
}

/* ---- the source --------------------------------------------------------------------------- */

static fw_status st_resolve(void *ud, const char *name, const char *alias, char *version, size_t cap,
                            fw_err *err) {
    store_src *s = ud;
    char ref[2 * FW_NAME_MAX + 4];
    if (snprintf(ref, sizeof ref, "%s@%s", name, alias) >= (int)sizeof ref)
        return fw_err_set(err, FW_ENOTFOUND, "model '%.64s...': name too long", name);
    fw_version_rec rec = {0};
    pthread_mutex_lock(&s->mu);
    fw_status st = fw_registry_resolve(s->reg, ref, &rec, err);
    pthread_mutex_unlock(&s->mu);
    if (st == FW_EINVAL) st = fw_err_set(err, FW_ENOTFOUND, "%s", err->msg);
    if (st == FW_OK) snprintf(version, cap, "%" PRId64, rec.version);
    fw_version_rec_free(&rec);
    return st;
}

static fw_status st_load(void *ud, const char *name, const char *version, fw_srv_model **out, fw_err *err) {
    store_src *s = ud;
    uint64_t t0 = fw_now_ns();
    char ref[2 * FW_NAME_MAX + 4];
    char *end;
    long long v = strtoll(version, &end, 10);
    if (!*version || *end || v <= 0)
        return fw_err_set(err, FW_ENOTFOUND, "model '%s' has no version '%s' (versions are numbers)", name, version);
    snprintf(ref, sizeof ref, "%s@%lld", name, v);
    fw_version_rec rec = {0};
    pthread_mutex_lock(&s->mu);
    fw_status st = fw_registry_resolve(s->reg, ref, &rec, err);
    pthread_mutex_unlock(&s->mu);
    if (st == FW_EINVAL) st = fw_err_set(err, FW_ENOTFOUND, "%s", err->msg);
    if (st) {
        fw_version_rec_free(&rec);
        return st;
    }
    /* the primary path: a read-only map of the content-addressed file, loaded in place */
    const void *map = NULL;
    size_t len = 0;
    uint8_t *bytes = NULL;
    if (!rec.artifact_hash || strlen(rec.artifact_hash) != 32)
        st = fw_err_set(err, FW_ECORRUPT, "version %s@%" PRId64 " has no valid artifact hash", rec.name, rec.version);
    else
        st = fw_store_artifact_map(s->store, rec.artifact_hash, &map, &len, err);
    if (st == FW_ENOTFOUND || st == FW_EUNSUPPORTED) {
        /* missing, or a back end without mapped artifacts: let the store say */
        pthread_mutex_lock(&s->mu);
        st = fw_registry_read_artifact(s->reg, &rec, &bytes, &len, err);
        pthread_mutex_unlock(&s->mu);
    }
    fw_version_rec_free(&rec);
    if (st) return fw_err_prefix(err, "model %s", ref);
    fw_bundle *b = NULL;
    st = fw_bundle_load_mem(map ? map : bytes, len, &b, err);
    fw_store_artifact_unmap(s->store, map, len); /* the bundle copied every part out */
    fw_free(bytes);
    if (st) return fw_err_prefix(err, "model %s", ref);
    char vs[32];
    snprintf(vs, sizeof vs, "%lld", v);
    if ((st = adapt(name, vs, b, len, out, err))) return st;
    (*out)->load_ms = (double)(fw_now_ns() - t0) * 1e-6;
    return FW_OK;
}

/* The same rule as `flywheel models promote`: production moves only past the promotion rule unless
 * force (then the audit log records it as forced). */
static fw_status st_set_alias(void *ud, const char *name, const char *alias, const char *version, bool force,
                              fw_err *err) {
    store_src *s = ud;
    char ref[2 * FW_NAME_MAX + 4];
    snprintf(ref, sizeof ref, "%s@%s", name, version);
    fw_promote_options o;
    fw_promote_options_init(&o);
    o.alias = alias;
    o.force = force;
    o.reason = "admin API";
    pthread_mutex_lock(&s->mu);
    fw_status st = fw_registry_promote(s->reg, ref, &o, NULL, 0, err);
    pthread_mutex_unlock(&s->mu);
    if (st == FW_EDATA && !force) {
        /* the registry's words are the CLI's; say how to override here */
        char *hint = strstr(err->msg, "(use --force to override)");
        if (hint) {
            *hint = 0;
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof err->msg - l, "(send \"force\": true to override)");
        }
    }
    return st;
}

/* Names whose alias list ("production=3,staging=4") holds alias. */
static fw_status st_list(void *ud, const char *alias, char ***names, size_t *n, fw_err *err) {
    store_src *s = ud;
    fw_model_summary *ms = NULL;
    size_t nm = 0;
    *names = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    fw_status st = fw_registry_list(s->reg, &ms, &nm, err);
    pthread_mutex_unlock(&s->mu);
    if (st) return st;
    char **out = fw_calloc(nm ? nm : 1, sizeof *out);
    size_t k = 0, al = strlen(alias);
    for (size_t i = 0; out && i < nm; i++) {
        const char *a = ms[i].aliases;
        bool has = false;
        while (a && *a && !has) {
            const char *eq = strchr(a, '=');
            if (!eq) break;
            has = (size_t)(eq - a) == al && memcmp(a, alias, al) == 0;
            a = strchr(eq, ',');
            if (a) a++;
        }
        if (has && !(out[k++] = fw_strdup(ms[i].name))) {
            for (size_t j = 0; j + 1 < k; j++) fw_free(out[j]);
            fw_free(out);
            out = NULL;
        }
    }
    fw_model_summaries_free(ms, nm);
    if (!out) return fw_err_set(err, FW_ENOMEM, "out of memory");
    *names = out;
    *n = k;
    return FW_OK;
}

static void st_free(void *ud) {
    store_src *s = ud;
    fw_registry_close(s->reg);
    pthread_mutex_destroy(&s->mu);
    fw_free(s);
}

fw_status fw_serve_source_store(const char *home, fw_serve_source *src, fw_err *err) {
    store_src *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = home;
    o.command = "flywheel serve";
    fw_status st = fw_registry_open(&o, &s->reg, err);
    if (st) {
        fw_free(s);
        return st;
    }
    s->store = fw_registry_store(s->reg);
    pthread_mutex_init(&s->mu, NULL);
    *src = (fw_serve_source){s, "store", st_resolve, st_load, st_set_alias, st_list, st_free};
    return FW_OK;
}
