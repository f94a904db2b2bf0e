/* cmd_train.c — owns `flywheel train`: parses flags into fw_train_options, runs training, prints the
 * report (text, --json, --html) and registers the chosen model as a new version in the store. */
#include "cli/args.h"
#include "cli/cli.h"

#include "models/model.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "dist/dist.h"
#include "models/model.h"
#include "registry/registry.h"
#include "train/register.h"
#include "train/report_build.h"
#include "train/train.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: flywheel train [flywheel.yaml | DATA.csv --label COL] [options]\n"
    "\n"
    "Trains the baseline and each candidate family on the training split, evaluates them on the\n"
    "held-out split, prints the report and registers the best as a new version.\n"
    "\n";

static const char *const task_names[] = {"binary", "multiclass", "multilabel", "regression", "ranking", NULL};

#define MAX_PARAMS 64
#define MAX_GROUPS 8

/* --metric, --group, --id override the project's metric, data.groups and data.id. */
static fw_status apply_overrides(fw_project *p, const char *metric, const char *const *groups, size_t n_groups,
                                 const char *id) {
    if (metric) {
        fw_free(p->metric);
        if (!(p->metric = fw_strdup(metric))) return FW_ENOMEM;
    }
    if (id) {
        fw_free(p->id_column);
        if (!(p->id_column = fw_strdup(id))) return FW_ENOMEM;
        p->lines.id = 0;
    }
    for (size_t g = 0; g < n_groups; g++) {
        bool have = false;
        for (size_t i = 0; i < p->n_group_columns; i++) have |= strcmp(p->group_columns[i], groups[g]) == 0;
        if (have) continue;
        char **v = fw_realloc(p->group_columns, (p->n_group_columns + 1) * sizeof(char *));
        if (!v) return FW_ENOMEM;
        p->group_columns = v;
        if (!(v[p->n_group_columns] = fw_strdup(groups[g]))) return FW_ENOMEM;
        p->n_group_columns++;
        p->lines.groups = 0;
    }
    return FW_OK;
}

int fw_cmd_train(int argc, char **argv) {
    const char *cmd = "train";
    fw_train_options o;
    fw_train_options_init(&o);
    const char *query = NULL, *label = NULL, *out_dir = NULL, *name = NULL, *home = NULL, *html = NULL,
               *write_project = NULL, *metric = NULL, *id = NULL;
    const char *params[MAX_PARAMS], *groups[MAX_GROUPS];
    size_t n_params = 0, n_groups = 0;
    int task = -1;
    bool json = false, no_register = false, quiet = false;
    int ckpt_every = 10;
    fw_opt opts[] = {
        {"--label", 0, FW_OPT_STRING, &label, "COL", "label column (when no project file is given)"},
        {"--task", 0, FW_OPT_ENUM, &task, NULL, "the task (default: inferred from the label)",
         .choices = task_names},
        {"--query", 0, FW_OPT_STRING, &query, "COL", "ranking: the query column (rows ranked together; data.query)"},
        {"--metric", 0, FW_OPT_STRING, &metric, "M",
         "primary metric (as eval and batch; default: the project's, else by task)"},
        {"--group", 0, FW_OPT_LIST, groups, "COL", "report every metric per value of COL too (repeatable; data.groups)",
         .count = &n_groups, .cap = MAX_GROUPS},
        {"--id", 0, FW_OPT_STRING, &id, "COL", "the id column, never a feature (data.id)"},
        {"--models", 0, FW_OPT_STRING, &o.families, "LIST", "families to try (default baseline,linear,gbdt,knn)"},
        {"--seed", 0, FW_OPT_INT, &o.seed, "N", "seed for splits, sampling and search (default: the project's)",
         FW_OPT_RANGE(o.seed, 0, UINT64_MAX), .expect = "a non-negative integer"},
        {"--threads", 0, FW_OPT_INT, &o.threads, "N", "threads (default: all cores)", FW_OPT_RANGE(o.threads, 0, 256)},
        {"--time-budget", 0, FW_OPT_DOUBLE, &o.time_budget_s, "SECONDS",
         "random search over each family's hyperparameters within the budget\n"
         "(default 0: each family's defaults, no search)",
         .lo = 0, .hi = 1e7, .expect = "seconds >= 0"},
        {"--param", 0, FW_OPT_LIST, params, "F.KEY=VALUE",
         "a hyperparameter for family F (repeatable), e.g. gbdt.max_depth=4;\n"
         "every family's keys and defaults: docs/MODELS.md",
         .count = &n_params, .cap = MAX_PARAMS},
        {"--test", 0, FW_OPT_STRING, &o.test_path, "FILE", "evaluate on this file instead of a split of the training data"},
        {"--out", 0, FW_OPT_STRING, &out_dir, "DIR", "also write the artifact (.fwm), report.json and report.html to DIR"},
        {"--name", 0, FW_OPT_STRING, &name, "NAME", "model name in the registry (default: the project's name)"},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--no-register", 0, FW_OPT_FLAG, &no_register, NULL, "do not register the chosen model"},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "print one JSON object (docs/REPORT_JSON.md) instead of the table"},
        {"--html", 0, FW_OPT_STRING, &html, "FILE", "write a self-contained HTML report"},
        {"--write-project", 0, FW_OPT_STRING, &write_project, "FILE",
         "write the resolved project file (for editing) and continue"},
        {"--skip-bad-rows", 0, FW_OPT_FLAG, &o.skip_bad_rows, NULL,
         "reject malformed rows and rows without a label (counted) instead of failing"},
        {"--quiet", 0, FW_OPT_FLAG, &quiet, NULL, "no progress line"},
        {"--checkpoint", 0, FW_OPT_STRING, &o.checkpoint_dir, "DIR",
         "gbdt fits save their trees in DIR every --checkpoint-every rounds, and a run\n"
         "that finds them there resumes to the same model (killed jobs; docs/SCALING.md)"},
        {"--checkpoint-every", 0, FW_OPT_INT, &ckpt_every, "K", "rounds between checkpoints (default 10)",
         FW_OPT_RANGE(ckpt_every, 1, 1000000)},
    };
    fw_args args = {.cmd = cmd, .usage = usage_text, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 1,
                    .pos_name = "project or data file"};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    const char *positional = args.n_pos ? args.pos[0] : NULL;
    o.seed_set = fw_args_seen(&args, "--seed") > 0;
    for (size_t i = 0; i < n_params; i++) { /* FAMILY.KEY=VALUE, of a model family */
        const char *v = params[i], *dot = strchr(v, '.'), *eq = strchr(v, '=');
        if (!dot || !eq || dot > eq || dot == v || eq == dot + 1)
            return fw_cli_fail(cmd, FW_EXIT_USAGE, "--param: expected FAMILY.KEY=VALUE, got '%s'", v);
        char fam[32];
        snprintf(fam, sizeof fam, "%.*s", (int)(dot - v), v);
        if (!fw_model_family(fam))
            return fw_cli_fail(cmd, FW_EXIT_USAGE,
                               "--param %s: '%s' is not a model family (baseline, linear, gbdt, knn, hier); "
                               "project settings such as split.folds go in the project file", v, fam);
    }
    if (!positional) return fw_cli_fail(cmd, FW_EXIT_USAGE, "give a project file (flywheel.yaml) or a data file with --label");
    if (fw_dist_active()) { /* under mpirun (MPI build): one model, trained by every rank */
        if (o.time_budget_s > 0 && fw_dist_size() > 1)
            return fw_cli_fail(cmd, FW_EXIT_USAGE, "--time-budget: not supported under mpirun (the search's trials "
                                                   "would follow each rank's own clock)");
        if (fw_dist_rank() != 0) { /* only rank 0 reports, writes and registers */
            no_register = true;
            json = false;
            quiet = true;
            out_dir = html = write_project = NULL;
            if (!freopen("/dev/null", "w", stdout)) return fw_cli_fail(cmd, FW_EXIT_FAILURE, "/dev/null: cannot open");
        }
    }
    o.checkpoint_every = o.checkpoint_dir ? (uint32_t)ckpt_every : 0;
    o.params = params;
    o.n_params = n_params;
    o.progress = !quiet && !json;

    fw_err err;
    fw_err_clear(&err);
    fw_project proj;
    size_t plen = strlen(positional);
    bool is_yaml = (plen > 5 && strcmp(positional + plen - 5, ".yaml") == 0) ||
                   (plen > 4 && strcmp(positional + plen - 4, ".yml") == 0);
    fw_status st;
    if (is_yaml) {
        if (label) return fw_cli_fail(cmd, FW_EXIT_USAGE, "--label goes with a data file; the project file names its label");
        st = fw_project_load(positional, &proj, &err);
    } else {
        if (!label) return fw_cli_fail(cmd, FW_EXIT_USAGE, "%s: a data file needs --label COL (or give a project file)", positional);
        st = fw_project_from_args(positional, label, &proj, &err);
    }
    if (st) return fw_cli_fail(cmd, st == FW_EINVAL ? FW_EXIT_USAGE : FW_EXIT_FAILURE, "%s", err.msg);
    if (task >= 0) {
        if (!fw_task_parse(task_names[task], &proj.task)) {
            fw_project_free(&proj);
            return fw_cli_fail(cmd, FW_EXIT_FAILURE, "internal: task '%s' has no code", task_names[task]);
        }
        proj.task_set = true;
    }
    if (name) {
        fw_free(proj.name);
        proj.name = fw_strdup(name);
    }
    /* a name the registry refuses (too long, bad characters) fails now, not after training */
    if (proj.name && fw_registry_check_name(proj.name, &err) != FW_OK) {
        fw_project_free(&proj);
        return fw_cli_fail(cmd, FW_EXIT_USAGE, "%s%s", name ? "--name: " : "project name: ", err.msg);
    }
    if (query) { /* a query column makes the task ranking unless --task says otherwise */
        fw_free(proj.query_column);
        proj.query_column = fw_strdup(query);
        if (!proj.query_column) {
            fw_project_free(&proj);
            return fw_cli_fail(cmd, FW_EXIT_FAILURE, "out of memory");
        }
    }
    if (apply_overrides(&proj, metric, groups, n_groups, id)) {
        fw_project_free(&proj);
        return fw_cli_fail(cmd, FW_EXIT_FAILURE, "out of memory");
    }

    fw_train_result res;
    double t_start = fw_now_seconds();
    st = fw_train_run(&proj, &o, &res, &err);
    double t_after = fw_now_seconds(), c_after = fw_cpu_seconds();
    fw_project_free(&proj);
    if (st) {
        fw_train_result_free(&res);
        return fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
    }
    int rc = FW_EXIT_OK;
    if (write_project && fw_project_write(&res.project, write_project, &err) != FW_OK)
        rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);

    fw_train_report tr;
    fw_buf out;
    fw_buf_init(&out);
    if (fw_train_report_build(&res, &tr) != FW_OK) {
        fw_train_result_free(&res);
        return fw_cli_fail(cmd, FW_EXIT_FAILURE, "out of memory");
    }
    for (size_t i = 0; i < res.n_cands; i++)
        if (res.cands[i].failed)
            fprintf(stderr, "flywheel train: %s failed: %s\n", res.cands[i].name, res.cands[i].error);

    /* the HTML report: for --html, and kept with the registered version (models show --html) */
    fw_buf h;
    fw_buf_init(&h);
    bool have_html = fw_report_html(&tr.report, &h) == FW_OK;
    if (have_html) fw_buf_put_u8(&h, 0);
    have_html = have_html && fw_buf_ok(&h);

    /* register, and write the artifact to --out */
    fw_registered reg;
    memset(&reg, 0, sizeof reg);
    if (!no_register || out_dir) {
        fw_register_options ro;
        fw_register_options_init(&ro);
        ro.home = home;
        ro.out_dir = out_dir;
        ro.no_register = no_register;
        ro.argv = argv;
        ro.argc = argc;
        ro.train_options = &o;
        ro.report_html = have_html ? (const char *)h.data : NULL;
        if (fw_train_register(&res, &ro, &reg, &err) != FW_OK) rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
    }

    if (json) {
        if (fw_report_json(&tr.report, &out, &err) != FW_OK) {
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        } else {
            /* add the registration to the JSON object: replace the final '}' */
            while (out.len && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' ')) out.len--;
            if (out.len && out.data[out.len - 1] == '}') {
                out.len--;
                if (reg.version > 0)
                    fw_buf_printf(&out, ",\"registered\":{\"name\":\"%s\",\"version\":%lld,\"artifact\":\"%s\",\"reused\":%s}", reg.name, (long long)reg.version, reg.artifact_hash, reg.reused ? "true" : "false");
                fw_buf_printf(&out, ",\"data_warnings\":[");
                for (size_t i = 0; i < res.n_warnings; i++) {
                    if (i) fw_buf_put_u8(&out, ',');
                    fw_json_put_str(&out, res.warnings[i]);
                }
                fw_buf_printf(&out, "]}");
            }
            fwrite(out.data, 1, out.len, stdout);
            fputc('\n', stdout);
        }
    } else {
        fw_report_text(&tr.report, &out);
        fwrite(out.data, 1, out.len, stdout);
        if (res.selected_on_test) printf("note: no validation rows; the model was chosen on the test rows (optimistic)\n");
        else if (res.cv_folds > 1)
            printf("selection: %u-fold cross-validation on the training side (%zu rows); split.folds: 1 selects on one holdout\n",
                   res.cv_folds, res.split.n_train + res.split.n_valid);
        for (size_t i = 0; i < res.n_warnings; i++) printf("warning: %s\n", res.warnings[i]);
        if (res.n_warnings_dropped) printf("warning: %zu more data warnings not shown\n", res.n_warnings_dropped);
        if (reg.version > 0 && reg.reused)
            printf("not registered again: the artifact is identical to %s@%lld (artifact %s; same data, project, "
                   "seed and build)\n", reg.name, (long long)reg.version, reg.artifact_hash);
        else if (reg.version > 0)
            printf("registered %s@%lld (artifact %s)\n", reg.name, (long long)reg.version, reg.artifact_hash);
        if (reg.artifact_path[0]) printf("artifact written to %s\n", reg.artifact_path);
    }
    if (html) {
        fw_err_clear(&err);
        if (!have_html || fw_report_write_file(html, h.data, h.len - 1, &err) != FW_OK)
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "--html: %s", err.msg[0] ? err.msg : "cannot render the report");
    }
    if (out_dir && reg.artifact_path[0]) { /* --out: report.html and report.json next to the artifact */
        char path[1100];
        fw_buf j;
        fw_buf_init(&j);
        fw_err_clear(&err);
        snprintf(path, sizeof path, "%s/report.html", out_dir);
        if (!have_html || fw_report_write_file(path, h.data, h.len - 1, &err) != FW_OK)
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "--out: %s", err.msg[0] ? err.msg : "cannot render the report");
        snprintf(path, sizeof path, "%s/report.json", out_dir);
        if (fw_report_json(&tr.report, &j, &err) != FW_OK || fw_report_write_file(path, j.data, j.len, &err) != FW_OK)
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "--out: %s", err.msg[0] ? err.msg : "cannot render the report");
        fw_buf_free(&j);
    }
    fw_buf_free(&h);
    fw_buf_free(&out);
    fw_train_report_free(&tr);
    if (getenv("FLYWHEEL_TIMINGS")) { /* per-step wall seconds, for bench/train/overhead.sh */
        fprintf(stderr, "flywheel timings (wall/cpu s):");
        for (int ph = 0; ph < FW_TRAIN_N_PHASES; ph++)
            fprintf(stderr, " %s=%.3f/%.3f", fw_train_phase_name(ph), res.phase_seconds[ph],
                    res.phase_cpu_seconds[ph]);
        fprintf(stderr, " report+register=%.3f/%.3f total=%.3f/%.3f\n", fw_now_seconds() - t_after,
                fw_cpu_seconds() - c_after, fw_now_seconds() - t_start, fw_cpu_seconds());
    }
    fw_train_result_free(&res);
    return rc;
}
