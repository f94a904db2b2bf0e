/* register.c — owns the artifact assembly of a training result and its registration. */
#include "train/register.h"

#include "core/files.h"

#include "artifact/artifact.h"
#include "artifact/reference.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fw_register_options_init(fw_register_options *o) { memset(o, 0, sizeof *o); }

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)v); }

/* The metrics section: JSON text with the chosen model's and the baseline's test metrics. */
static void metrics_json(const fw_metric_set *s, fw_buf *b) {
    fw_buf_put_u8(b, '{');
    for (size_t i = 0; i < s->n_items; i++) {
        if (i) fw_buf_put_u8(b, ',');
        fw_json_put_str(b, s->items[i].name);
        fw_buf_put_u8(b, ':');
        fw_json_put_f64(b, s->items[i].value);
    }
    fw_buf_put_u8(b, '}');
}

static void run_json(const fw_train_result *r, const fw_register_options *o, fw_buf *b) {
    fw_buf_printf(b, "{\"primary_metric\":");
    fw_json_put_str(b, r->project.metric);
    fw_buf_printf(b, ",\"best\":");
    fw_json_put_str(b, r->cands[r->best].name);
    fw_buf_printf(b, ",\"candidates\":[");
    bool first = true;
    for (size_t i = 0; i < r->n_cands; i++) {
        const fw_candidate *c = &r->cands[i];
        if (!first) fw_buf_put_u8(b, ',');
        first = false;
        fw_buf_printf(b, "{\"name\":");
        fw_json_put_str(b, c->name);
        fw_buf_printf(b, ",\"family\":");
        fw_json_put_str(b, c->family);
        if (c->failed) {
            fw_buf_printf(b, ",\"error\":");
            fw_json_put_str(b, c->error);
        } else {
            fw_buf_printf(b, ",\"params\":%s,\"metrics\":", c->params_json ? c->params_json : "{}");
            metrics_json(&c->metrics, b);
        }
        fw_buf_put_u8(b, '}');
    }
    fw_buf_printf(b, "]");
    if (o->report_html) { /* the report as the user saw it, for `models show REF --html F` */
        fw_buf_printf(b, ",\"report_html\":");
        fw_json_put_str(b, o->report_html);
    }
    fw_buf_printf(b, "}");
}

/* Training parameters: everything `reproduce` needs to retrain the same artifact (the chosen
 * family and its exact hyperparameters — never the search budget, which depends on the clock). */
static void params_json(const fw_train_result *r, const fw_register_options *o, fw_buf *b) {
    const fw_train_options *to = o->train_options;
    const fw_candidate *c = &r->cands[r->best];
    fw_buf_printf(b, "{\"family\":");
    fw_json_put_str(b, c->family);
    fw_buf_printf(b, ",\"model_params\":[");
    for (size_t i = 0; i < c->n_params; i++) {
        if (i) fw_buf_put_u8(b, ',');
        fw_json_put_str(b, c->params[i]);
    }
    fw_buf_printf(b, "],\"chosen\":%s", c->params_json ? c->params_json : "{}");
    fw_buf_printf(b, ",\"seed\":%llu,\"threads\":%d", (unsigned long long)r->seed, r->threads);
    if (to) {
        fw_buf_printf(b, ",\"test_path\":");
        if (to->test_path) fw_json_put_str(b, to->test_path);
        else fw_buf_printf(b, "null");
    }
    fw_buf_printf(b, "}");
}

fw_status fw_train_build_artifact(const fw_train_result *r, const fw_register_options *o,
                                  fw_buf *out, fw_err *err) {
    const fw_candidate *best = &r->cands[r->best];
    const fw_candidate *base = &r->cands[0];
    if (!best->model) return fw_err_set(err, FW_EDATA, "no trained model to register");
    fw_artifact_writer *w;
    if (fw_artifact_writer_new(&w)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_buf b;
    fw_buf_init(&b);
    fw_status st = FW_OK;
#define SECTION(id, expr)                                                    \
    do {                                                                     \
        b.len = 0;                                                           \
        if ((st = (expr)) != FW_OK || !fw_buf_ok(&b)) goto fail;             \
        fw_artifact_writer_section(w, id, b.data, b.len);                    \
    } while (0)
    SECTION(FW_SECTION_PIPELINE, fw_pipeline_save(r->pipeline, &b));
    SECTION(FW_SECTION_TARGET, fw_target_save(&r->target, &b));
    SECTION(FW_SECTION_MODEL, fw_model_save(best->model, &b));
    if (base->model) SECTION(FW_SECTION_BASELINE, fw_model_save(base->model, &b));
    if (r->has_rule) SECTION(FW_SECTION_RULE, fw_baseline_rule_save(&r->rule, &b));
    {
        /* the training reference profile: input columns over training rows, and the chosen
         * model's predictions on the test rows (what monitoring compares live traffic with) */
        size_t ni = fw_pipeline_n_inputs(r->pipeline);
        const char **cols = fw_malloc((ni ? ni : 1) * sizeof(char *));
        if (!cols) {
            st = FW_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < ni; i++) cols[i] = fw_pipeline_input_name(r->pipeline, i);
        fw_reference *ref = NULL;
        st = fw_reference_build_threads(r->train_ds, r->split.train, r->split.n_train, cols, ni,
                                        best->test_pred, r->n_test, r->target.n_outputs, 0, r->threads, &ref, err);
        fw_free(cols);
        if (st) goto fail;
        b.len = 0;
        st = fw_reference_save(ref, &b);
        fw_reference_free(ref);
        if (st || !fw_buf_ok(&b)) goto fail;
        fw_artifact_writer_section(w, FW_SECTION_REFERENCE, b.data, b.len);
    }
#undef SECTION
    b.len = 0;
    fw_buf_printf(&b, "{\"model\":");
    metrics_json(&best->metrics, &b);
    fw_buf_printf(&b, ",\"baseline\":");
    if (base->failed) fw_buf_printf(&b, "null");
    else metrics_json(&base->metrics, &b);
    if (r->has_threshold) {
        fw_buf_printf(&b, ",\"threshold\":");
        fw_json_put_f64(&b, r->threshold.threshold);
    }
    fw_buf_printf(&b, "}");
    fw_artifact_writer_section(w, FW_SECTION_METRICS, b.data, b.len);
    b.len = 0;
    params_json(r, o, &b);
    fw_artifact_writer_section(w, FW_SECTION_PARAMS, b.data, b.len);
    /* The run record (every candidate's metrics) goes to the registry, not into the artifact:
     * the artifact holds only what determines the model, so `reproduce` can rebuild it byte for
     * byte. The resolved project is kept so the run can be repeated without the project file. */
    b.len = 0;
    if ((st = fw_project_to_yaml(&r->project, "", &b)) != FW_OK) goto fail;
    fw_artifact_writer_bytes(w, FW_KV_PROJECT_YAML, b.data, b.len);
    if (!fw_buf_ok(&b)) {
        st = FW_ENOMEM;
        goto fail;
    }

    char fp[17];
    fw_artifact_writer_str(w, FW_KV_NAME, r->project.name ? r->project.name : "model");
    fw_artifact_writer_str(w, FW_KV_TASK, fw_task_name(r->target.task));
    fw_artifact_writer_str(w, FW_KV_FAMILY, best->family);
    /* No creation time in the artifact: it is a function of data, project, seed, parameters and
     * build only (byte-identical when trained again); the registry records when it was registered. */
    fw_artifact_writer_str(w, FW_KV_FW_VERSION, FW_VERSION_STRING);
    fw_artifact_writer_str(w, FW_KV_GIT_COMMIT, fw_version());
    fw_artifact_writer_str(w, FW_KV_PARENT, o->parent ? o->parent : "");
    hex64(r->train_fingerprint, fp);
    fw_artifact_writer_str(w, FW_KV_DATA_FP, fp);
    hex64(r->test_fingerprint, fp);
    fw_artifact_writer_str(w, FW_KV_TEST_FP, fp);
    if (r->project.id_column && *r->project.id_column) fw_artifact_writer_str(w, FW_KV_DATA_ID, r->project.id_column);
    if (r->fit.n_groups) { /* the hierarchy's group names, for explanations */
        fw_buf gn;
        fw_buf_init(&gn);
        for (size_t g = 0; g < r->fit.n_groups; g++) fw_buf_printf(&gn, "%s%s", g ? "\n" : "", r->fit.group_names[g]);
        fw_buf_put_u8(&gn, 0);
        if (fw_buf_ok(&gn)) fw_artifact_writer_str(w, FW_KV_HIER_GROUPS, (const char *)gn.data);
        fw_buf_free(&gn);
    }
    fw_artifact_writer_i64(w, FW_KV_N_TRAIN, (int64_t)(best->refit ? best->refit_rows : r->split.n_train));
    fw_artifact_writer_i64(w, FW_KV_N_TEST, (int64_t)r->n_test);
    fw_artifact_writer_i64(w, FW_KV_SEED, (int64_t)r->seed);
    fw_artifact_writer_i64(w, FW_KV_THREADS, r->threads);
    fw_artifact_writer_str(w, FW_KV_METRIC, r->project.metric ? r->project.metric : "");
    fw_artifact_writer_i64(w, FW_KV_GREATER_BETTER, fw_metric_higher_is_better(best->metrics.primary));
    fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, fw_metric_set_primary(&best->metrics));
    if (!base->failed) fw_artifact_writer_f64(w, FW_KV_METRIC_BASELINE, fw_metric_set_primary(&base->metrics));
    const fw_constraints *c = &r->project.constraints;
    fw_artifact_writer_f64(w, FW_KV_MIN_IMPROVEMENT, c->min_improvement);
    if (r->target.task == FW_TASK_BINARY)
        fw_artifact_writer_f64(w, FW_KV_THRESHOLD, r->has_threshold ? r->threshold.threshold : 0.5);
    fw_artifact_writer_f64(w, FW_KV_CONFIDENCE, c->confidence_threshold);
    fw_artifact_writer_str(w, FW_KV_FALLBACK, c->fallback == FW_FALLBACK_VALUE ? "value"
                                              : c->fallback == FW_FALLBACK_REVIEW ? "review"
                                                                                  : "baseline");
    if (c->fallback_value) fw_artifact_writer_str(w, FW_KV_FALLBACK_VALUE, c->fallback_value);
    st = fw_artifact_writer_finish(w, out, err);
    fw_artifact_writer_free(w);
    fw_buf_free(&b);
    return st;
fail:
    fw_artifact_writer_free(w);
    fw_buf_free(&b);
    if (st == FW_OK) st = FW_ENOMEM;
    return fw_err_set(err, st, "building the artifact: %s", fw_strerror(st));
}

static fw_status write_file(const char *path, const void *p, size_t n, fw_err *err) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fw_err_set(err, FW_EIO, "%s: %s", tmp, strerror(errno));
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return fw_err_set(err, FW_EIO, "%s: %s", tmp, strerror(errno));
        }
        c += k;
        n -= (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) return fw_err_set(err, FW_EIO, "%s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    return FW_OK;
}

fw_status fw_train_register(const fw_train_result *r, const fw_register_options *o,
                            fw_registered *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    const char *name = r->project.name ? r->project.name : "model";
    /* never cut to fit: two long names would become one */
    if (strlen(name) >= sizeof out->name)
        return fw_err_set(err, FW_EINVAL, "model name is %zu characters long (at most %zu)", strlen(name),
                          sizeof out->name - 1);
    snprintf(out->name, sizeof out->name, "%s", name);
    fw_buf art;
    fw_buf_init(&art);
    fw_status st = fw_train_build_artifact(r, o, &art, err);
    if (st) {
        fw_buf_free(&art);
        return st;
    }
    fw_artifact_hash(art.data, art.len, out->artifact_hash);
    if (o->out_dir) {
        if ((st = fw_mkdirs(o->out_dir, err))) {
            fw_buf_free(&art);
            return st;
        }
        snprintf(out->artifact_path, sizeof out->artifact_path, "%s/%s.fwm", o->out_dir, out->name);
        st = write_file(out->artifact_path, art.data, art.len, err);
        if (st) {
            fw_buf_free(&art);
            return st;
        }
    }
    if (!o->no_register) {
        /* the command line, for the audit log */
        fw_buf cmdline;
        fw_buf_init(&cmdline);
        fw_buf_printf(&cmdline, "flywheel train");
        for (int i = 1; i < o->argc; i++) fw_buf_printf(&cmdline, " %s", o->argv[i]);
        fw_buf_put_u8(&cmdline, 0);
        fw_registry_options ro;
        fw_registry_options_init(&ro);
        ro.home = o->home;
        ro.command = fw_buf_ok(&cmdline) ? (const char *)cmdline.data : "flywheel train";
        fw_registry *reg = NULL;
        st = fw_registry_open(&ro, &reg, err);
        if (!st) {
            fw_buf run;
            fw_buf_init(&run);
            run_json(r, o, &run);
            fw_buf_put_u8(&run, 0);
            fw_registry_register_options rg;
            fw_registry_register_options_init(&rg);
            rg.name = out->name;
            rg.run_json = fw_buf_ok(&run) ? (const char *)run.data : NULL;
            /* identical bytes already registered under this name: reuse that version, say so */
            fw_version_rec *vs = NULL;
            size_t nv = 0;
            fw_err e2;
            if (fw_registry_versions(reg, out->name, &vs, &nv, &e2) == FW_OK) {
                for (size_t i = nv; i-- > 0 && !out->reused;)
                    if (vs[i].artifact_hash && !strcmp(vs[i].artifact_hash, out->artifact_hash) &&
                        strcmp(vs[i].status ? vs[i].status : "", "deleted") != 0) {
                        out->version = vs[i].version;
                        out->reused = true;
                    }
                for (size_t i = 0; i < nv; i++) fw_version_rec_free(&vs[i]);
                fw_free(vs);
            }
            if (!out->reused) st = fw_registry_register(reg, art.data, art.len, &rg, &out->version, err);
            fw_buf_free(&run);
            fw_registry_close(reg);
        }
        fw_buf_free(&cmdline);
    }
    fw_buf_free(&art);
    return st;
}
