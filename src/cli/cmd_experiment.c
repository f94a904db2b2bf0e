/* cmd_experiment.c — owns `flywheel experiment analyze EVENTS.csv` and `flywheel experiment report
 * NAME`: the same analysis (experiment/experiment.h) of a file of events or of the store's
 * prediction log and feedback for a model's traffic split, printed as text, one JSON document
 * (--json: the same bytes for the same events, whichever command), JSON Lines after every N events
 * (--every N) or an HTML page (report --html F). docs/EXPERIMENTS.md documents both. */
#include "artifact/artifact.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/files.h"
#include "experiment/events.h"
#include "experiment/experiment.h"
#include "experiment/shadow.h"
#include "project/project.h"
#include "registry/registry.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "experiment"

static const char usage_top[] =
    "usage: flywheel experiment analyze EVENTS.csv [--json] [--every N] [--alpha A] [options]\n"
    "       flywheel experiment report NAME [--json] [--html F] [--home DIR] [--slice FEATURE | --groups] [options]\n"
    "\n"
    "The statistics of an online experiment (docs/EXPERIMENTS.md): per variant, each metric's estimate\n"
    "(a rate per exposure, or a mean per unit), its relative lift over the control with an always-valid\n"
    "confidence interval and p-value (mSPRT: read the report as often as you like), CUPED when events\n"
    "carry a pre-period covariate, and the sample ratio mismatch check (shown first). Too little data\n"
    "reads \"inconclusive\", never a winner.\n"
    "\n"
    "analyze reads a CSV with columns unit, variant, time, metric, value and an optional pre; report\n"
    "reads the store: exposures are the model's logged predictions (variants primary and challenger),\n"
    "events the /v1/feedback events joined to them by request id, the unit the request's entity_id.\n"
    "For the same events both print the same --json bytes.\n"
    "\n";

/* The options both forms share. */
typedef struct common {
    bool json;
    uint64_t every;
    double alpha;
    const char *control;
    const char *cuped;
    bool no_correction;
    const char *metrics[FW_EXP_MAX_METRICS];
    size_t n_metrics;
    const char *weights[FW_EXP_MAX_VARIANTS];
    size_t n_weights;
    uint64_t min_units, min_events;
} common;

/* Builds the analysis options from the flags; the metric specs and weights go into the arrays. */
static int make_opts(const common *c, fw_exp_opts *o, fw_exp_metric_spec *specs, char wnames[][64], const char **wn,
                     double *w) {
    fw_exp_opts_init(o);
    o->alpha = c->alpha;
    o->control = c->control;
    o->correction = c->no_correction ? FW_EXP_NONE : FW_EXP_HOLM;
    if (c->min_units) o->min_units = c->min_units;
    if (c->min_events) o->min_events = c->min_events;
    if (c->cuped) o->cuped = strcmp(c->cuped, "on") == 0 ? 1 : strcmp(c->cuped, "off") == 0 ? 0 : -1;
    for (size_t i = 0; i < c->n_metrics; i++) {
        fw_err err;
        if (fw_exp_metric_parse(c->metrics[i], &specs[i], &err))
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "--metric: %s", err.msg);
    }
    if (c->n_metrics) {
        o->metrics = specs;
        o->n_metrics = c->n_metrics;
    }
    for (size_t i = 0; i < c->n_weights; i++) {
        const char *eq = strchr(c->weights[i], '=');
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : NAN;
        if (!eq || eq == c->weights[i] || (size_t)(eq - c->weights[i]) >= 64 || !end || *end || !(v > 0) ||
            !isfinite(v))
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "--weight '%s': want VARIANT=SHARE with a share > 0",
                               c->weights[i]);
        memcpy(wnames[i], c->weights[i], (size_t)(eq - c->weights[i]));
        wnames[i][eq - c->weights[i]] = 0;
        wn[i] = wnames[i];
        w[i] = v;
    }
    o->weight_names = wn;
    o->weights = w;
    o->n_weights = c->n_weights;
    return -1;
}

/* Appends the shadow agreement report to the experiment's: a "shadow" key of the JSON document, a
 * section of the text and of the page (none with --every, or when no shadow scored). */
static void add_shadow(const common *c, fw_shadow *sh, fw_buf *out, fw_buf *page) {
    if (!sh || !fw_shadow_requests(sh) || c->every) return;
    if (c->json) {
        if (out->len >= 2 && memcmp(out->data + out->len - 2, "}\n", 2) == 0) {
            out->len -= 2;
            fw_buf_printf(out, ",\"shadow\":");
            fw_shadow_json(sh, out);
            fw_buf_printf(out, "}\n");
        }
    } else {
        fw_buf_printf(out, "\n");
        fw_shadow_text(sh, out);
    }
    static const char tail[] = "</body></html>\n";
    size_t tl = sizeof tail - 1;
    if (page && page->len >= tl && memcmp(page->data + page->len - tl, tail, tl) == 0) {
        page->len -= tl;
        fw_shadow_html(sh, page);
        fw_buf_printf(page, "%s", tail);
    }
}

/* Sorts the events and appends the analysis to out (and its page to page, when not NULL), with the
 * shadow agreement when sh has any. */
static fw_status report_into(const common *c, const fw_exp_opts *o, fw_exp_events *ev, fw_shadow *sh, fw_buf *out,
                             fw_buf *page, fw_err *err) {
    fw_status st = fw_exp_events_sort(ev, err);
    if (!st) st = fw_exp_events_report(ev, o, c->every, c->json, out, page, err);
    if (!st) add_shadow(c, sh, out, page);
    if (!st && (!fw_buf_ok(out) || (page && !fw_buf_ok(page)))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    return st;
}

/* Writes the page (html) and prints out; the exit code. */
static int emit(const char *html, fw_buf *out, fw_buf *page, fw_status st, fw_err *err) {
    if (!st && html) st = fw_write_file_atomic(html, page->data, page->len, err);
    if (!st) fwrite(out->data, 1, out->len, stdout);
    fw_buf_free(page);
    fw_buf_free(out);
    if (st) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err->msg);
    return fflush(stdout) == 0 ? FW_EXIT_OK : fw_cli_fail(CMD, FW_EXIT_FAILURE, "cannot write the report");
}

/* Sorts the events, runs the analysis and prints it (with the shadow agreement, when sh has any). */
static int run(const common *c, fw_exp_events *ev, const char *html, fw_shadow *sh) {
    fw_exp_opts o;
    fw_exp_metric_spec specs[FW_EXP_MAX_METRICS];
    char wnames[FW_EXP_MAX_VARIANTS][64];
    const char *wn[FW_EXP_MAX_VARIANTS];
    double w[FW_EXP_MAX_VARIANTS];
    int code = make_opts(c, &o, specs, wnames, wn, w);
    if (code >= 0) return code;
    fw_err err;
    fw_err_clear(&err);
    fw_buf out, page;
    fw_buf_init(&out);
    fw_buf_init(&page);
    fw_status st = report_into(c, &o, ev, sh, &out, html ? &page : NULL, &err);
    return emit(html, &out, &page, st, &err);
}

/* The data.groups columns of the project that NAME's version (its production alias, else its
 * latest) was trained with, as recorded in its artifact, into p. */
static fw_status recorded_groups(const char *home, const char *name, fw_project *p, fw_err *err) {
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    ro.command = "flywheel experiment report";
    fw_registry *r = NULL;
    fw_status st = fw_registry_open(&ro, &r, err);
    fw_version_rec v;
    memset(&v, 0, sizeof v);
    uint8_t *bytes = NULL;
    size_t len = 0;
    fw_artifact *a = NULL;
    const uint8_t *y = NULL;
    size_t yl = 0;
    if (!st) st = fw_registry_resolve(r, name, &v, err);
    if (!st) st = fw_registry_read_artifact(r, &v, &bytes, &len, err);
    if (!st) st = fw_artifact_open(bytes, len, &a, err);
    if (!st && !fw_artifact_bytes(a, "train.project_yaml", &y, &yl))
        st = fw_err_set(err, FW_ENOTFOUND, "--groups: version %lld of '%s' has no recorded project", (long long)v.version,
                        name);
    if (!st) st = fw_project_parse((const char *)y, yl, "the recorded project", p, err);
    if (!st && !p->n_group_columns)
        st = fw_err_set(err, FW_ENOTFOUND, "--groups: the project of '%s' version %lld declares no data.groups", name,
                        (long long)v.version);
    fw_artifact_close(a);
    fw_free(bytes);
    fw_version_rec_free(&v);
    fw_registry_close(r);
    return st;
}

static fw_status push_row(void *ud, const fw_log_exp_row *r, fw_err *err);

/* report NAME --groups: one sliced analysis per data.groups column of the recorded project, each
 * as `--slice COLUMN` prints it (JSON: one document per line; text: a heading per column; HTML: the
 * columns' sections on one page). */
static int run_groups(const common *c, const char *home, const char *name, const char *html) {
    fw_exp_opts o;
    fw_exp_metric_spec specs[FW_EXP_MAX_METRICS];
    char wnames[FW_EXP_MAX_VARIANTS][64];
    const char *wn[FW_EXP_MAX_VARIANTS];
    double w[FW_EXP_MAX_VARIANTS];
    int code = make_opts(c, &o, specs, wnames, wn, w);
    if (code >= 0) return code;
    fw_err err;
    fw_err_clear(&err);
    fw_project p;
    fw_project_init(&p);
    fw_buf out, page, one;
    fw_buf_init(&out);
    fw_buf_init(&page);
    fw_buf_init(&one);
    fw_store *db = NULL;
    fw_store_log *log = NULL;
    fw_status st = recorded_groups(home, name, &p, &err);
    if (!st) st = fw_store_open(home, &db, &err);
    if (!st) st = fw_store_log_open(fw_store_home(db), &log, &err);
    for (size_t g = 0; !st && g < p.n_group_columns; g++) {
        const char *col = p.group_columns[g];
        fw_exp_events ev;
        fw_exp_events_init(&ev);
        st = fw_store_log_experiment_rows_sliced(log, name, col, push_row, &ev, &err);
        if (!st && ev.n == 0)
            st = fw_err_set(&err, FW_ENOTFOUND, "no logged predictions of model '%s' on a primary or challenger variant",
                            name);
        if (!st && !c->json) fw_buf_printf(&out, "%s==== data.groups column %s\n", g ? "\n" : "", col);
        one.len = 0;
        if (!st) st = report_into(c, &o, &ev, NULL, &out, html ? &one : NULL, &err);
        fw_exp_events_free(&ev);
        if (st || !html) continue;
        /* the page: the first column's whole, then each next column's body before </body> */
        static const char tail[] = "</body></html>\n";
        size_t tl = sizeof tail - 1;
        const char *body = g ? strstr((const char *)one.data, "<body>") : NULL;
        if (g && page.len >= tl && body) {
            page.len -= tl;
            body += 6;
            fw_buf_printf(&page, "<h1>data.groups column ");
            for (const char *q = col; *q; q++) /* a column name in HTML text */
                if (*q == '<') fw_buf_printf(&page, "&lt;");
                else if (*q == '&') fw_buf_printf(&page, "&amp;");
                else fw_buf_put_u8(&page, (uint8_t)*q);
            fw_buf_printf(&page, "</h1>\n");
            fw_buf_put(&page, body, one.len - (size_t)(body - (const char *)one.data));
        } else {
            fw_buf_put(&page, one.data, one.len);
        }
    }
    fw_buf_free(&one);
    fw_store_log_close(log);
    fw_store_close(db);
    fw_project_free(&p);
    return emit(html, &out, &page, st, &err);
}

/* Store rows → events (the exposure as FW_EXP_EXPOSURE with value 1). */
static fw_status push_row(void *ud, const fw_log_exp_row *r, fw_err *err) {
    fw_exp_events *ev = ud;
    const char *metric = r->event ? r->event : FW_EXP_EXPOSURE;
    size_t mlen = r->event ? r->event_len : strlen(FW_EXP_EXPOSURE);
    fw_status st = fw_exp_events_push(ev, r->unit, r->unit_len, r->variant, r->variant_len, (double)r->ts_ms, metric,
                                      mlen, r->event ? r->value : NAN, NAN, err);
    if (!st && r->slice && r->slice_len) st = fw_exp_events_set_slice(ev, r->slice, r->slice_len, err);
    return st;
}

/* Store rows -> the shadow agreement report. */
static fw_status push_shadow(void *ud, const fw_log_shadow_row *r, fw_err *err) {
    return fw_shadow_add(ud, r->shadow_model, r->shadow_version, r->answers, r->outputs, r->shadow_answers,
                         r->shadow_outputs, r->label_json, err);
}

int fw_cmd_experiment(int argc, char **argv) {
    common c = {.alpha = 0.05};
    const char *home = NULL, *html = NULL, *slice = NULL;
    bool groups = false;
    static const char *const cuped_choices[] = {"auto", "on", "off", NULL};
    int cuped_ix = 0, corr_ix = 0;
    static const char *const corr_choices[] = {"holm", "none", NULL};
    fw_opt opts[] = {
        {"--json", 0, FW_OPT_FLAG, &c.json, NULL, "one JSON document (docs/EXPERIMENTS.md has its keys)"},
        {"--every", 0, FW_OPT_INT, &c.every, "N",
         "JSON Lines: the report as it read after every N events (and after the last)", FW_OPT_RANGE(c.every, 1, UINT64_MAX >> 1)},
        {"--alpha", 0, FW_OPT_DOUBLE, &c.alpha, "A", "the error level of the always-valid tests (default 0.05)",
         .lo = 1e-9, .hi = 0.5},
        {"--metric", 0, FW_OPT_LIST, c.metrics, "SPEC",
         "declare a metric: NAME=EVENT:rate|mean[:increase|decrease[:MIN_EFFECT]] (repeatable;\n"
         "default: one per event name, a rate per exposure for counts, else a mean per unit)",
         .count = &c.n_metrics, .cap = FW_EXP_MAX_METRICS},
        {"--control", 0, FW_OPT_STRING, &c.control, "VARIANT",
         "the control (default: \"control\", else \"primary\", else the first name in byte order)"},
        {"--weight", 0, FW_OPT_LIST, c.weights, "VARIANT=SHARE",
         "the expected traffic share of a variant for the ratio check (repeatable; default equal)",
         .count = &c.n_weights, .cap = FW_EXP_MAX_VARIANTS},
        {"--cuped", 0, FW_OPT_ENUM, &cuped_ix, "auto|on|off", "CUPED with the pre column (default auto: on when given)",
         .choices = cuped_choices},
        {"--correction", 0, FW_OPT_ENUM, &corr_ix, "holm|none",
         "across the comparisons (default holm: significant and the decision hold for the family)",
         .choices = corr_choices},
        {"--min-units", 0, FW_OPT_INT, &c.min_units, "N", "units per variant before a metric is tested (default 100)",
         FW_OPT_RANGE(c.min_units, 2, UINT64_MAX >> 1)},
        {"--min-events", 0, FW_OPT_INT, &c.min_events, "N",
         "units with a nonzero value per variant before a metric is tested (default 20)",
         FW_OPT_RANGE(c.min_events, 1, UINT64_MAX >> 1)},
        {"--html", 0, FW_OPT_STRING, &html, "FILE", "also write the report as an HTML page"},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "report: Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--slice", 0, FW_OPT_STRING, &slice, "FEATURE",
         "report: one analysis per value of this input feature (e.g. a data.groups column), from each exposure's logged input"},
        {"--groups", 0, FW_OPT_FLAG, &groups, NULL,
         "report: --slice by each data.groups column of the project NAME's version (production, else latest) was trained\n"
         "with (recorded in its artifact); --json prints one document per column"},
    };
    fw_args a = {.cmd = CMD, .usage = usage_top, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 2};
    int code;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    if (a.n_pos != 2 || (strcmp(a.pos[0], "analyze") != 0 && strcmp(a.pos[0], "report") != 0))
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "want 'analyze EVENTS.csv' or 'report NAME' (see flywheel experiment --help)");
    if (fw_args_seen(&a, "--cuped")) c.cuped = cuped_choices[cuped_ix];
    c.no_correction = corr_ix == 1;
    bool analyze = strcmp(a.pos[0], "analyze") == 0;
    if (c.every && fw_args_seen(&a, "--json")) c.json = true;
    if (analyze && home) return fw_cli_fail(CMD, FW_EXIT_USAGE, "--home is for 'report' (analyze reads a file)");
    if (analyze && (slice || groups))
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "%s is for 'report' (analyze reads the events file's slice column)",
                           slice ? "--slice" : "--groups");
    if (slice && groups) return fw_cli_fail(CMD, FW_EXIT_USAGE, "give --slice FEATURE or --groups, not both");
    if (groups && c.every) return fw_cli_fail(CMD, FW_EXIT_USAGE, "--every is not for --groups (use --slice COLUMN)");
    if (groups) {
        if (strpbrk(a.pos[1], "@#"))
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "report takes a model NAME (its split's variants), got '%s'", a.pos[1]);
        return run_groups(&c, home, a.pos[1], html);
    }
    fw_err err;
    fw_err_clear(&err);
    fw_exp_events ev;
    fw_exp_events_init(&ev);
    fw_status st;
    fw_shadow *sh = NULL;
    if (analyze) {
        uint8_t *data = NULL;
        size_t len = 0;
        st = fw_read_file(a.pos[1], &data, &len, &err);
        if (!st) st = fw_exp_events_parse_csv(&ev, a.pos[1], (const char *)data, len, &err);
        fw_free(data);
    } else {
        const char *name = a.pos[1];
        if (strpbrk(name, "@#"))
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "report takes a model NAME (its split's variants), got '%s'", name);
        fw_store *db;
        st = fw_store_open(home, &db, &err);
        fw_store_log *log = NULL;
        if (!st) {
            st = fw_store_log_open(fw_store_home(db), &log, &err);
            fw_store_close(db);
        }
        if (!st)
            st = slice ? fw_store_log_experiment_rows_sliced(log, name, slice, push_row, &ev, &err)
                       : fw_store_log_experiment_rows(log, name, push_row, &ev, &err);
        /* a shadow split: its agreement with the champion (a back end without it: none) */
        if (!st && (st = fw_shadow_new(&sh, &err)) == FW_OK) {
            st = fw_store_log_shadow_rows(log, name, push_shadow, sh, &err);
            if (st == FW_EUNSUPPORTED) st = FW_OK;
        }
        fw_store_log_close(log);
        if (!st && ev.n == 0)
            st = fw_err_set(&err, FW_ENOTFOUND, "no logged predictions of model '%s' on a primary or challenger variant",
                            name);
    }
    if (st) {
        fw_exp_events_free(&ev);
        fw_shadow_free(sh);
        return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    }
    code = run(&c, &ev, html, sh);
    fw_exp_events_free(&ev);
    fw_shadow_free(sh);
    return code;
}
