/* bundle.c — owns loading an artifact into its parts and the one record → decision path. */
#include "artifact/bundle.h"

#include "artifact/artifact.h"
#include "core/alloc.h"
#include "core/threads.h"
#include "features/record.h"
#include "models/rule.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct meta_kv {
    char *key;
    fw_kv_type type;
    char *str;                /* FW_KV_STR; FW_KV_BYTES: the bytes (+ a NUL), len of them */
    size_t len;
    int64_t i64;
    double f64;
} meta_kv;

struct fw_bundle {
    fw_pipeline *pipeline;
    fw_target target;
    bool has_target;
    fw_model *model;
    fw_model *baseline;
    fw_baseline_rule *rule;    /* a rule baseline, bound to the pipeline's inputs; NULL without */
    fw_reference *reference;
    double threshold;
    double confidence_threshold;
    fw_fallback_kind fallback;
    char *fallback_value;
    int32_t fallback_class;   /* class index of fallback_value, or -1 */
    meta_kv *meta;
    size_t n_meta;
    size_t n_dense;
};

struct fw_bundle_scratch {
    fw_pipeline_scratch *ps;
    float *dense;
    void *model_scratch;
    void *baseline_scratch;
    double *out;
    double *base_out;
};

void fw_bundle_free(fw_bundle *b) {
    if (!b) return;
    fw_pipeline_free(b->pipeline);
    if (b->has_target) fw_target_free(&b->target);
    fw_model_free(b->model);
    fw_model_free(b->baseline);
    if (b->rule) fw_baseline_rule_free(b->rule);
    fw_free(b->rule);
    fw_reference_free(b->reference);
    fw_free(b->fallback_value);
    for (size_t i = 0; i < b->n_meta; i++) {
        fw_free(b->meta[i].key);
        fw_free(b->meta[i].str);
    }
    fw_free(b->meta);
    fw_free(b);
}

static fw_status need_section(const fw_artifact *a, uint32_t id, const uint8_t **p, size_t *n, fw_err *err) {
    if (!fw_artifact_section(a, id, p, n))
        return fw_err_set(err, FW_ECORRUPT, "artifact has no '%s' section", fw_section_name(id));
    return FW_OK;
}

static fw_status copy_meta(fw_bundle *b, const fw_artifact *a) {
    size_t n = fw_artifact_kv_count(a);
    b->meta = fw_calloc(n ? n : 1, sizeof *b->meta);
    if (!b->meta) return FW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        meta_kv *m = &b->meta[b->n_meta++];
        m->key = fw_strdup(fw_artifact_kv_key(a, i));
        m->type = fw_artifact_kv_type(a, i);
        if (!m->key) return FW_ENOMEM;
        if (m->type == FW_KV_STR && !(m->str = fw_strdup(fw_artifact_str(a, m->key)))) return FW_ENOMEM;
        if (m->type == FW_KV_BYTES) {
            const uint8_t *p;
            if (!fw_artifact_bytes(a, m->key, &p, &m->len) || !(m->str = fw_malloc(m->len + 1))) return FW_ENOMEM;
            memcpy(m->str, p, m->len);
            m->str[m->len] = 0;
        }
        if (m->type == FW_KV_I64) fw_artifact_i64(a, m->key, &m->i64);
        if (m->type == FW_KV_F64) fw_artifact_f64(a, m->key, &m->f64);
    }
    return FW_OK;
}

/* A rule baseline: its conditions are bound to the training file's columns when saved; a record
 * carries the pipeline's inputs, so they are bound again by name (a rule on a column that is not a
 * feature sees it missing, as the training report warned). */
static fw_status load_rule(fw_bundle *b, const uint8_t *p, size_t n, fw_err *err) {
    if (!(b->rule = fw_calloc(1, sizeof *b->rule))) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_reader r;
    fw_reader_init(&r, p, n);
    fw_status st = fw_baseline_rule_load(&r, b->rule, err);
    if (st) {
        fw_free(b->rule);
        b->rule = NULL;
        return st;
    }
    if (b->rule->n_outputs != b->target.n_outputs)
        return fw_err_set(err, FW_ECORRUPT, "artifact parts disagree: the rule baseline gives %zu outputs, %zu expected",
                          b->rule->n_outputs, b->target.n_outputs);
    size_t ni = fw_pipeline_n_inputs(b->pipeline);
    const char **names = fw_malloc((ni ? ni : 1) * sizeof *names);
    if (!names) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < ni; i++) names[i] = fw_pipeline_input_name(b->pipeline, i);
    fw_baseline_rule_rebind(b->rule, names, ni);
    fw_free(names);
    return FW_OK;
}

bool fw_bundle_has_baseline(const fw_bundle *b) { return b->baseline || b->rule; }

fw_status fw_bundle_baseline_record(const fw_bundle *b, const fw_value *inputs, const fw_row *row,
                                    fw_bundle_scratch *s, double *out, fw_err *err) {
    if (b->baseline) {
        fw_status st = fw_model_predict_row(b->baseline, row, s->baseline_scratch, out);
        if (st) return fw_err_set(err, st, "baseline prediction failed: %s", fw_strerror(st));
        return FW_OK;
    }
    if (b->rule) {
        fw_baseline_rule_eval(b->rule, inputs, out);
        return FW_OK;
    }
    return fw_err_set(err, FW_ENOTFOUND, "the artifact has no baseline");
}

fw_status fw_bundle_load_mem(const void *data, size_t len, fw_bundle **out, fw_err *err) {
    *out = NULL;
    fw_artifact *a;
    fw_status st = fw_artifact_open(data, len, &a, err);
    if (st) return st;
    fw_bundle *b = fw_calloc(1, sizeof *b);
    if (!b) {
        fw_artifact_close(a);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    const uint8_t *p;
    size_t n;
    if ((st = need_section(a, FW_SECTION_PIPELINE, &p, &n, err))) goto fail;
    if ((st = fw_pipeline_load(p, n, &b->pipeline, err))) goto fail_part;
    if ((st = need_section(a, FW_SECTION_TARGET, &p, &n, err))) goto fail;
    fw_reader r;
    fw_reader_init(&r, p, n);
    if ((st = fw_target_load(&r, &b->target))) {
        st = fw_err_set(err, st, "target section cannot be loaded: %s", fw_strerror(st));
        goto fail;
    }
    b->has_target = true;
    if ((st = need_section(a, FW_SECTION_MODEL, &p, &n, err))) goto fail;
    if ((st = fw_model_load(p, n, &b->model, err))) goto fail_part;
    if (fw_artifact_section(a, FW_SECTION_BASELINE, &p, &n) && (st = fw_model_load(p, n, &b->baseline, err)))
        goto fail_part;
    if (fw_artifact_section(a, FW_SECTION_REFERENCE, &p, &n) && (st = fw_reference_load(p, n, &b->reference, err)))
        goto fail_part;
    if (fw_artifact_section(a, FW_SECTION_RULE, &p, &n) && (st = load_rule(b, p, n, err))) goto fail_part;
    b->n_dense = fw_pipeline_n_dense(b->pipeline);
    if (b->model->n_dense != b->n_dense || b->model->n_outputs != b->target.n_outputs) {
        st = fw_err_set(err, FW_ECORRUPT, "artifact parts disagree: pipeline makes %zu features and %zu outputs are "
                        "expected, the model takes %zu and gives %zu", b->n_dense, b->target.n_outputs,
                        b->model->n_dense, b->model->n_outputs);
        goto fail;
    }
    if (b->baseline && (b->baseline->n_dense != b->n_dense || b->baseline->n_outputs != b->model->n_outputs)) {
        st = fw_err_set(err, FW_ECORRUPT, "artifact parts disagree: the baseline's shape differs from the model's");
        goto fail;
    }
    b->threshold = 0.5;
    fw_artifact_f64(a, FW_KV_THRESHOLD, &b->threshold);
    fw_artifact_f64(a, FW_KV_CONFIDENCE, &b->confidence_threshold);
    const char *fb = fw_artifact_str(a, FW_KV_FALLBACK);
    b->fallback = !fb || strcmp(fb, "baseline") == 0 ? FW_FALLBACK_BASELINE
                  : strcmp(fb, "value") == 0         ? FW_FALLBACK_VALUE
                                                     : FW_FALLBACK_REVIEW;
    if (b->fallback == FW_FALLBACK_BASELINE && !fw_bundle_has_baseline(b)) b->fallback = FW_FALLBACK_REVIEW;
    b->fallback_class = -1;
    const char *fv = fw_artifact_str(a, FW_KV_FALLBACK_VALUE);
    if (fv && !(b->fallback_value = fw_strdup(fv))) goto oom;
    for (size_t k = 0; fv && k < b->target.n_classes; k++)
        if (strcmp(b->target.class_names[k], fv) == 0) b->fallback_class = (int32_t)k;
    if (copy_meta(b, a)) goto oom;
    fw_artifact_close(a);
    *out = b;
    return FW_OK;
oom:
    st = fw_err_set(err, FW_ENOMEM, "out of memory");
    goto fail;
fail_part:
    fw_err_prefix(err, "loading the artifact");
fail:
    fw_artifact_close(a);
    fw_bundle_free(b);
    return st;
}

fw_status fw_bundle_load_file(const char *path, fw_bundle **out, fw_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    }
    size_t len = (size_t)sb.st_size;
    if (len == 0) {
        close(fd);
        return fw_err_set(err, FW_EDATA, "%s: empty file (not a Flywheel artifact)", path);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return fw_err_set(err, FW_EIO, "%s: mmap: %s", path, strerror(errno));
    fw_status st = fw_bundle_load_mem(map, len, out, err);
    munmap(map, len); /* every part was copied out */
    if (st) fw_err_prefix(err, "%s", path);
    return st;
}

const fw_pipeline *fw_bundle_pipeline(const fw_bundle *b) { return b->pipeline; }
const fw_target *fw_bundle_target(const fw_bundle *b) { return &b->target; }
const fw_model *fw_bundle_model(const fw_bundle *b) { return b->model; }
const fw_model *fw_bundle_baseline(const fw_bundle *b) { return b->baseline; }
const fw_reference *fw_bundle_reference(const fw_bundle *b) { return b->reference; }
fw_task fw_bundle_task(const fw_bundle *b) { return b->target.task; }
size_t fw_bundle_n_outputs(const fw_bundle *b) { return b->model->n_outputs; }
double fw_bundle_threshold(const fw_bundle *b) { return b->threshold; }
double fw_bundle_confidence_threshold(const fw_bundle *b) { return b->confidence_threshold; }
fw_fallback_kind fw_bundle_fallback(const fw_bundle *b) { return b->fallback; }
const char *fw_bundle_fallback_value(const fw_bundle *b) { return b->fallback_value; }

static const meta_kv *find_meta(const fw_bundle *b, const char *key, fw_kv_type t) {
    for (size_t i = 0; i < b->n_meta; i++)
        if (strcmp(b->meta[i].key, key) == 0) return b->meta[i].type == t ? &b->meta[i] : NULL;
    return NULL;
}
const char *fw_bundle_meta_str(const fw_bundle *b, const char *key) {
    const meta_kv *m = find_meta(b, key, FW_KV_STR);
    return m ? m->str : NULL;
}
bool fw_bundle_meta_f64(const fw_bundle *b, const char *key, double *out) {
    const meta_kv *m = find_meta(b, key, FW_KV_F64);
    if (m) *out = m->f64;
    return m != NULL;
}
bool fw_bundle_meta_bytes(const fw_bundle *b, const char *key, const uint8_t **p, size_t *n) {
    const meta_kv *m = find_meta(b, key, FW_KV_BYTES);
    if (m) {
        *p = (const uint8_t *)m->str;
        *n = m->len;
    }
    return m != NULL;
}
bool fw_bundle_meta_i64(const fw_bundle *b, const char *key, int64_t *out) {
    const meta_kv *m = find_meta(b, key, FW_KV_I64);
    if (m) *out = m->i64;
    return m != NULL;
}

/* 16-byte aligned block for a model scratch (size may be 0). */
static void *aligned_scratch(size_t n) {
    size_t sz = (n + 15) & ~(size_t)15;
    return fw_calloc(1, sz ? sz : 16);
}

void fw_bundle_scratch_free(fw_bundle_scratch *s) {
    if (!s) return;
    fw_pipeline_scratch_free(s->ps);
    fw_free(s->dense);
    fw_free(s->model_scratch);
    fw_free(s->baseline_scratch);
    fw_free(s->out);
    fw_free(s->base_out);
    fw_free(s);
}

fw_status fw_bundle_scratch_new(const fw_bundle *b, fw_bundle_scratch **out) {
    *out = NULL;
    fw_bundle_scratch *s = fw_calloc(1, sizeof *s);
    if (!s) return FW_ENOMEM;
    size_t no = b->model->n_outputs;
    s->dense = fw_calloc(b->n_dense ? b->n_dense : 1, sizeof *s->dense);
    s->model_scratch = aligned_scratch(fw_model_scratch_size(b->model));
    s->out = fw_calloc(no ? no : 1, sizeof *s->out);
    s->base_out = fw_calloc(no ? no : 1, sizeof *s->base_out);
    if (b->baseline) s->baseline_scratch = aligned_scratch(fw_model_scratch_size(b->baseline));
    if (!s->dense || !s->model_scratch || !s->out || !s->base_out || (b->baseline && !s->baseline_scratch) ||
        fw_pipeline_scratch_new(b->pipeline, &s->ps) != FW_OK) {
        fw_bundle_scratch_free(s);
        return FW_ENOMEM;
    }
    *out = s;
    return FW_OK;
}

fw_status fw_bundle_scratch_reserve_text(const fw_bundle *b, fw_bundle_scratch *s, size_t text_bytes) {
    return fw_pipeline_scratch_reserve_text(b->pipeline, s->ps, text_bytes);
}

const char *fw_prediction_source_name(fw_prediction_source s) {
    switch (s) {
    case FW_PRED_MODEL: return "model";
    case FW_PRED_BASELINE: return "baseline";
    case FW_PRED_VALUE: return "value";
    case FW_PRED_REVIEW: return "review";
    }
    return "unknown";
}

static bool is_classification(fw_task t) { return t == FW_TASK_BINARY || t == FW_TASK_MULTICLASS; }

double fw_binary_confidence(double p, double t) {
    if (!(t > 1e-12)) t = 1e-12;
    if (!(t < 1 - 1e-12)) t = 1 - 1e-12;
    double pos = p * (1 - t), q = pos / (pos + (1 - p) * t);
    return q >= 0.5 ? q : 1 - q;
}

/* The label and its probability from outputs (classification); -1 otherwise. */
static int32_t decide(const fw_bundle *b, const double *o, double *p_label, double *conf) {
    fw_task t = b->target.task;
    if (t == FW_TASK_BINARY) {
        int32_t lab = o[0] >= b->threshold ? 1 : 0;
        *p_label = lab ? o[0] : 1 - o[0];
        *conf = fw_binary_confidence(o[0], b->threshold); /* measured from the threshold (bundle.h) */
        return lab;
    }
    if (t == FW_TASK_MULTICLASS) {
        int32_t best = 0;
        for (size_t k = 1; k < b->model->n_outputs; k++)
            if (o[k] > o[best]) best = (int32_t)k;
        *p_label = *conf = o[best];
        return best;
    }
    *p_label = o[0];
    *conf = NAN;
    return -1;
}

fw_status fw_bundle_predict_record(const fw_bundle *b, const fw_value *inputs, fw_bundle_scratch *s,
                                   fw_prediction *out, fw_err *err) {
    fw_row row;
    fw_status st = fw_pipeline_transform_record(b->pipeline, inputs, s->ps, s->dense, &row, err);
    if (st) return st;
    if ((st = fw_model_predict_row(b->model, &row, s->model_scratch, s->out)))
        return fw_err_set(err, st, "model prediction failed: %s", fw_strerror(st));
    memset(out, 0, sizeof *out);
    out->scores = s->out;
    out->n_outputs = b->model->n_outputs;
    out->source = FW_PRED_MODEL;
    double p = 0, conf = NAN;
    out->label = decide(b, s->out, &p, &conf);
    out->value = p;
    out->confidence = conf;
    if (is_classification(b->target.task) && b->confidence_threshold > 0 && conf < b->confidence_threshold) {
        out->abstained = true;
        switch (b->fallback) {
        case FW_FALLBACK_BASELINE:
            if ((st = fw_bundle_baseline_record(b, inputs, &row, s, s->base_out, err))) return st;
            out->scores = s->base_out;
            out->label = decide(b, s->base_out, &out->value, &conf);
            out->source = FW_PRED_BASELINE;
            break;
        case FW_FALLBACK_VALUE:
            out->label = b->fallback_class;
            out->source = FW_PRED_VALUE;
            out->label_name = b->fallback_value;
            out->value = NAN;
            return FW_OK;
        case FW_FALLBACK_REVIEW:
            out->label = -1;
            out->source = FW_PRED_REVIEW;
            out->value = NAN;
            return FW_OK;
        }
    }
    if (out->label >= 0 && (size_t)out->label < b->target.n_classes)
        out->label_name = b->target.class_names[out->label];
    return FW_OK;
}

/* ---- block path ----------------------------------------------------------------------------- */
typedef struct block_ctx {
    const fw_bundle *b;
    const fw_dataset *ds;
    const int *col_of_input;
    size_t n_inputs;
    double *scores;
    int32_t *labels;
    bool *abstained;
    fw_status *status;         /* per thread */
    size_t *bad_row;           /* per thread */
    fw_err *errs;              /* per thread */
} block_ctx;

static void block_range(void *vctx, int thread, size_t begin, size_t end) {
    block_ctx *c = vctx;
    fw_bundle_scratch *s = NULL;
    fw_value *vals = fw_calloc(c->n_inputs ? c->n_inputs : 1, sizeof *vals);
    if (!vals || fw_bundle_scratch_new(c->b, &s) != FW_OK) {
        c->status[thread] = fw_err_set(&c->errs[thread], FW_ENOMEM, "out of memory");
        c->bad_row[thread] = begin;
        fw_free(vals);
        return;
    }
    size_t no = c->b->model->n_outputs;
    for (size_t r = begin; r < end; r++) {
        fw_record_from_row(c->ds, c->col_of_input, c->n_inputs, r, vals);
        fw_prediction p;
        fw_status st = fw_bundle_predict_record(c->b, vals, s, &p, &c->errs[thread]);
        if (st) {
            c->status[thread] = st;
            c->bad_row[thread] = r;
            break;
        }
        memcpy(c->scores + r * no, p.scores, no * sizeof *p.scores);
        if (c->labels) c->labels[r] = p.label;
        if (c->abstained) c->abstained[r] = p.abstained;
    }
    fw_bundle_scratch_free(s);
    fw_free(vals);
}

fw_status fw_bundle_predict_block(const fw_bundle *b, const fw_dataset *ds, int threads, double *scores,
                                  int32_t *labels, bool *abstained, fw_err *err) {
    if (threads <= 0) threads = fw_default_threads();
    if (threads > 64) threads = 64;
    size_t n_inputs = fw_pipeline_n_inputs(b->pipeline);
    int *col = fw_calloc(n_inputs ? n_inputs : 1, sizeof *col);
    fw_status status[64] = {0};
    size_t bad_row[64] = {0};
    fw_err *errs = fw_calloc((size_t)threads, sizeof *errs);
    if (!col || !errs) {
        fw_free(col);
        fw_free(errs);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_record_map(b->pipeline, ds, col);
    block_ctx c = {b, ds, col, n_inputs, scores, labels, abstained, status, bad_row, errs};
    fw_parallel_for(threads, ds->n_rows, block_range, &c);
    fw_status st = FW_OK;
    size_t first = SIZE_MAX;
    for (int t = 0; t < threads; t++)
        if (status[t] && bad_row[t] < first) {
            first = bad_row[t];
            st = fw_err_set(err, status[t], "row %zu%s%s: %s", bad_row[t] + 1, ds->source ? " of " : "",
                            ds->source ? ds->source : "", errs[t].msg);
        }
    fw_free(col);
    fw_free(errs);
    return st;
}
