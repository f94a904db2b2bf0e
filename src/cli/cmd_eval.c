/* cmd_eval.c — owns `flywheel eval MODEL DATA`: evaluates a registered version and its baseline on
 * a data file (the model's own pipeline transforms it), overall and per slice, with the report in
 * text, --json or --html. */
#include "cli/args.h"
#include "cli/cli.h"

#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "data/query.h"
#include "train/register.h"
#include "core/alloc.h"
#include "data/load.h"
#include "eval/report.h"
#include "registry/registry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: flywheel eval NAME[@ALIAS|@VERSION] DATA [options]\n"
    "       flywheel eval --model NAME[@ALIAS|@VERSION] --input DATA [options]   (as batch)\n"
    "\n"
    "Evaluates a registered model and the baseline inside its artifact on DATA (which must hold\n"
    "the label column), with the model's own fitted pipeline: every metric of the task, the\n"
    "improvement over the baseline, latency, and per-slice figures for each --group column; every\n"
    "metric has a 95% bootstrap interval (200 resamples of the rows, seeded: --json metrics_ci).\n"
    "\n";

#define MAX_GROUPS 8

typedef struct eval_model {
    fw_metric_set metrics;
    fw_slice_report slices[MAX_GROUPS];
    size_t n_slices;
    fw_latency latency;
    double *pred;
    fw_metric_ci *ci;
    size_t n_ci, ci_resamples;
} eval_model;

static fw_status eval_one(const fw_model *m, const fw_matrix *X, const double *y, fw_task task,
                          size_t k, const fw_eval_options *eo, const fw_dataset *ds,
                          const char *const *groups, size_t n_groups, eval_model *out, fw_err *err) {
    out->pred = fw_malloc(X->n_rows * k * sizeof(double));
    if (!out->pred) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_status st = fw_model_predict_block(m, X, 0, out->pred);
    if (st) return fw_err_set(err, st, "prediction failed: %s", fw_strerror(st));
    if ((st = fw_eval_compute(task, y, out->pred, X->n_rows, k, eo, &out->metrics, err))) return st;
    fw_bootstrap_options bo;
    fw_bootstrap_options_init(&bo);
    if ((st = fw_eval_bootstrap(task, y, out->pred, X->n_rows, k, eo, &bo, &out->metrics, &out->ci, &out->n_ci,
                                &out->ci_resamples, err)))
        return st;
    if ((st = fw_eval_latency_model(m, X, 2000, &out->latency, err))) return st;
    int32_t *codes = fw_malloc(X->n_rows * sizeof(int32_t));
    if (!codes) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t g = 0; g < n_groups; g++) {
        int c = fw_dataset_find(ds, groups[g]);
        const fw_column *col = &ds->cols[c];
        if (!col->code) {
            fw_free(codes);
            return fw_err_set(err, FW_EINVAL, "--group %s: a group column must be categorical (use --type on describe to check)", groups[g]);
        }
        size_t nn = fw_dict_size(&col->dict);
        const char **names = fw_malloc((nn ? nn : 1) * sizeof(char *));
        if (!names) {
            fw_free(codes);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nn; i++) names[i] = fw_dict_str(&col->dict, (int32_t)i);
        memcpy(codes, col->code, X->n_rows * sizeof(int32_t));
        st = fw_eval_slices(task, y, out->pred, X->n_rows, k, eo, groups[g], codes, names, nn, 30,
                            &out->slices[g], err);
        out->n_slices = g + 1;
        fw_free(names);
        if (st) break;
    }
    fw_free(codes);
    return st;
}

/* The project the model was trained with (recorded in the artifact): its query column and its
 * metrics: list. false when the artifact has none (older artifacts). */
static bool recorded_project(const uint8_t *bytes, size_t len, fw_project *p) {
    fw_artifact *a = NULL;
    fw_err e;
    fw_err_clear(&e);
    const uint8_t *yaml;
    size_t n;
    bool ok = fw_artifact_open(bytes, len, &a, &e) == FW_OK &&
              fw_artifact_bytes(a, FW_KV_PROJECT_YAML, &yaml, &n) &&
              fw_project_parse((const char *)yaml, n, "recorded project", p, &e) == FW_OK;
    fw_artifact_close(a);
    return ok;
}

static void eval_model_free(eval_model *e) {
    fw_metric_set_free(&e->metrics);
    for (size_t i = 0; i < e->n_slices; i++) fw_slice_report_free(&e->slices[i]);
    fw_free(e->pred);
    fw_free(e->ci);
}

int fw_cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    const char *ref = NULL, *data = NULL, *home = NULL, *html = NULL;
    const char *groups[MAX_GROUPS];
    size_t n_groups = 0;
    bool json = false;
    double threshold = NAN;
    fw_opt opts[] = {
        {"--model", 0, FW_OPT_STRING, &ref, "REF", "the model (instead of the first argument)"},
        {"--input", 0, FW_OPT_STRING, &data, "DATA", "the data file (instead of the second argument)"},
        {"--group", 0, FW_OPT_LIST, groups, "COL", "report every metric per value of COL (repeatable)",
         .count = &n_groups, .cap = MAX_GROUPS},
        {"--threshold", 0, FW_OPT_DOUBLE, &threshold, "T", "binary decision threshold (default: the one chosen at training)",
         .lo = 0, .hi = 1},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "one JSON object (docs/REPORT_JSON.md)"},
        {"--html", 0, FW_OPT_STRING, &html, "FILE", "a self-contained HTML report"},
    };
    fw_args args = {.cmd = cmd, .usage = usage_text, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 2};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    /* positionals fill what --model / --input did not give, model first */
    for (size_t i = 0; i < args.n_pos; i++) {
        if (!ref) ref = args.pos[i];
        else if (!data) data = args.pos[i];
        else return fw_cli_fail(cmd, FW_EXIT_USAGE, "unexpected argument '%s'", args.pos[i]);
    }
    if (!ref || !data) return fw_cli_fail(cmd, FW_EXIT_USAGE, "give a model and a data file: flywheel eval NAME@VERSION DATA");

    fw_err err;
    fw_err_clear(&err);
    int rc = FW_EXIT_FAILURE;
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    fw_registry *reg = NULL;
    fw_version_rec rec;
    memset(&rec, 0, sizeof rec);
    uint8_t *bytes = NULL;
    size_t len = 0;
    fw_bundle *b = NULL;
    fw_dataset *ds = NULL;
    fw_matrix X;
    memset(&X, 0, sizeof X);
    double *y = NULL;
    eval_model em, eb;
    memset(&em, 0, sizeof em);
    memset(&eb, 0, sizeof eb);
    fw_metric_set_init(&em.metrics);
    fw_metric_set_init(&eb.metrics);
    fw_buf out;
    fw_buf_init(&out);
    fw_project proj;
    fw_project_init(&proj);
    uint32_t *qid = NULL;
    if (fw_registry_open(&ro, &reg, &err) || fw_registry_resolve(reg, ref, &rec, &err) ||
        fw_registry_read_artifact(reg, &rec, &bytes, &len, &err) || fw_bundle_load_mem(bytes, len, &b, &err) ||
        fw_data_load(data, NULL, &ds, NULL, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    for (size_t g = 0; g < n_groups; g++)
        if (fw_dataset_find(ds, groups[g]) < 0) {
            fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s: no column named '%s' (--group)", data, groups[g]);
            goto done;
        }
    const fw_target *t = fw_bundle_target(b);
    size_t k = fw_bundle_n_outputs(b);
    size_t per = t->task == FW_TASK_MULTILABEL ? k : 1;
    y = fw_malloc((ds->n_rows ? ds->n_rows : 1) * per * sizeof(double));
    size_t unseen = 0;
    if (!y || fw_target_encode(t, ds, NULL, ds->n_rows, y, &unseen, &err) ||
        fw_pipeline_transform_block(fw_bundle_pipeline(b), ds, NULL, ds->n_rows, 0, &X, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg[0] ? err.msg : "out of memory");
        goto done;
    }
    fw_eval_options eo;
    fw_eval_options_init(&eo);
    eo.primary = fw_bundle_meta_str(b, "metric.primary");
    if (eo.primary && !eo.primary[0]) eo.primary = NULL;
    eo.threshold = isnan(threshold) ? fw_bundle_threshold(b) : threshold;
    if (recorded_project(bytes, len, &proj)) { /* metrics: list; ranking: the query column */
        eo.metrics = (const char *const *)proj.extra_metrics;
        eo.n_metrics = proj.n_extra_metrics;
        uint32_t n_q;
        if (t->task == FW_TASK_RANKING && proj.query_column) {
            qid = fw_malloc((ds->n_rows ? ds->n_rows : 1) * sizeof *qid);
            if (!qid || fw_query_ids(ds, proj.query_column, qid, &n_q, &err)) {
                fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", qid ? err.msg : "out of memory");
                goto done;
            }
            eo.query = qid;
        }
    }
    if (eval_one(fw_bundle_model(b), &X, y, t->task, k, &eo, ds, groups, n_groups, &em, &err) ||
        (fw_bundle_baseline(b) && eval_one(fw_bundle_baseline(b), &X, y, t->task, k, &eo, ds, groups, n_groups, &eb, &err))) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    double min_imp = 0;
    fw_bundle_meta_f64(b, "constraints.min_improvement", &min_imp);
    char name[160];
    snprintf(name, sizeof name, "%s@%lld", rec.name, (long long)rec.version);
    const char *family = fw_bundle_model(b)->vt->family;
    fw_report_model rows[2];
    memset(rows, 0, sizeof rows);
    rows[0] = (fw_report_model){.name = "baseline", .family = "baseline", .metrics = &eb.metrics,
                                .has_latency = true, .latency = eb.latency, .slices = eb.slices,
                                .n_slices = eb.n_slices, .ci = eb.ci, .n_ci = eb.n_ci,
                                .ci_resamples = eb.ci_resamples, .ci_level = 0.95};
    rows[1] = (fw_report_model){.name = name, .family = family, .metrics = &em.metrics,
                                .has_latency = true, .latency = em.latency, .slices = em.slices,
                                .n_slices = em.n_slices, .ci = em.ci, .n_ci = em.n_ci,
                                .ci_resamples = em.ci_resamples, .ci_level = 0.95,
                                .size_bytes = fw_bundle_model(b)->vt->size_bytes(fw_bundle_model(b))};
    if (t->task == FW_TASK_REGRESSION) { /* predicted-vs-actual and residual plots */
        rows[1].test_y = y;
        rows[1].test_pred = em.pred;
        rows[1].n_test = X.n_rows;
    }
    bool has_base = fw_bundle_baseline(b) != NULL;
    fw_report rep = {.title = rec.name, .task = t->task, .primary_metric = eo.primary,
                     .min_improvement = min_imp, .models = has_base ? rows : rows + 1,
                     .n_models = has_base ? 2 : 1, .baseline = has_base ? &rows[0] : NULL,
                     .best = name, .metrics = eo.metrics, .n_metrics = eo.n_metrics};
    if (t->n_classes) {
        rep.class_names = (const char *const *)t->class_names;
        rep.n_classes = t->n_classes;
    }
    fw_status st = json ? fw_report_json(&rep, &out, &err) : fw_report_text(&rep, &out);
    if (st) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg[0] ? err.msg : fw_strerror(st));
        goto done;
    }
    fwrite(out.data, 1, out.len, stdout);
    if (json) fputc('\n', stdout);
    else if (unseen) printf("note: %zu rows have a class not seen in training (counted as wrong)\n", unseen);
    rc = FW_EXIT_OK;
    if (html) {
        fw_buf h;
        fw_buf_init(&h);
        if (fw_report_html(&rep, &h) != FW_OK || fw_report_write_file(html, h.data, h.len, &err) != FW_OK)
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "--html: %s", err.msg[0] ? err.msg : "cannot render");
        fw_buf_free(&h);
    }
done:
    fw_free(qid);
    fw_project_free(&proj);
    fw_buf_free(&out);
    eval_model_free(&em);
    eval_model_free(&eb);
    fw_free(y);
    fw_matrix_free(&X);
    fw_dataset_free(ds);
    fw_bundle_free(b);
    fw_free(bytes);
    fw_version_rec_free(&rec);
    fw_registry_close(reg);
    return rc;
}
