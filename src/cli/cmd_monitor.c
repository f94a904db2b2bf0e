/* cmd_monitor.c — owns `flywheel monitor NAME@REF --input FILE [--label COL] [--json] [--html F]`:
 * replays FILE's rows, in order, through the monitor the server runs (monitor/monitor.h: same code,
 * same windows, the model loaded by the server's own store source), as if each row were one
 * prediction request and, with --label, as if its label came back as feedback right after. Every
 * alarm is printed once, when raised (and, in text, when cleared). Exits 0 whether or not alarms
 * fire; 1 on a failure (model, file), 2 on a usage error. `flywheel monitor NAME --history` is
 * cmd_monitor_history.c's (mserve): argv is handed there. */
#include "cli/args.h"
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "data/load.h"
#include "data/scalar.h"
#include "eval/report_html_int.h"
#include "features/record.h"
#include "monitor/monitor.h"
#include "monitor/perf.h"
#include "registry/registry.h"
#include "serve/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "monitor"

static const char usage_text[] =
    "usage: flywheel monitor NAME[@ALIAS|@VERSION] --input FILE [--label COL] [--time-column COL]\n"
    "                        [--json] [--html FILE]\n"
    "       flywheel monitor NAME --history [--json]\n"
    "\n"
    "Replays FILE's rows in order through the monitor the server runs for that model version (same\n"
    "code, same windows): each row is one prediction request and, with --label, its label comes\n"
    "back as feedback right after. Prints every alarm once, at the 0-based row that raised it: input\n"
    "drift, quality (missing rate, unseen categories, out-of-range values, the project's\n"
    "expectations), schema (a value of the wrong type, an absent column), prediction drift, live and\n"
    "estimated performance, latency against the budget. With --time-column, windows also close by\n"
    "time as the server's do (monitoring.block_s); without, by count alone. See docs/MONITORING.md.\n"
    "\n";

static const char epilog[] =
    "\n"
    "exit codes: 0 replayed (whether or not alarms fired), 1 failure, 2 usage error\n";

/* ---- what the replay collects ---------------------------------------------------------------- */

typedef struct replay_event {
    fw_alarm a;
    bool raised;
} replay_event;

typedef struct perf_point {
    uint64_t row;
    double v, lo, hi;
} perf_point;

typedef struct replay {
    replay_event *ev;
    size_t n_ev, cap_ev, printed;
    bool oom;
    perf_point *real, *est;
    size_t n_real, n_est, cap_real, cap_est;
} replay;

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    replay *r = ud;
    if (r->n_ev == r->cap_ev) {
        size_t cap = r->cap_ev ? 2 * r->cap_ev : 64;
        replay_event *e = fw_realloc(r->ev, cap * sizeof *e);
        if (!e) {
            r->oom = true;
            return;
        }
        r->ev = e;
        r->cap_ev = cap;
    }
    r->ev[r->n_ev].a = *a;
    r->ev[r->n_ev++].raised = raised;
}

static bool add_point(perf_point **p, size_t *n, size_t *cap, uint64_t row, double v, double lo, double hi) {
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 32;
        perf_point *q = fw_realloc(*p, c * sizeof *q);
        if (!q) return false;
        *p = q;
        *cap = c;
    }
    (*p)[(*n)++] = (perf_point){row, v, lo, hi};
    return true;
}

/* ---- text and JSON ------------------------------------------------------------------------- */

static void print_event(FILE *f, const replay_event *e) {
    const fw_alarm *a = &e->a;
    char col[FW_ALARM_TEXT + 16];
    if (a->column[0]) snprintf(col, sizeof col, " on '%s'", a->column);
    else snprintf(col, sizeof col, " (model)");
    if (e->raised)
        fprintf(f, "row %" PRIu64 ": %s alarm%s: %s %.6g (threshold %.6g)%s%s\n", a->row, fw_alarm_kind_name(a->kind), col,
                a->statistic, a->value, a->threshold, a->detail[0] ? " — " : "", a->detail);
    else
        fprintf(f, "row %" PRIu64 ": %s alarm%s cleared\n", a->row, fw_alarm_kind_name(a->kind), col);
}

/* ---- HTML ------------------------------------------------------------------------------------ */

enum { PW = 720, PH = 150, PL = 60, PT = 24 };

static void svg_series(fw_buf *b, const char *title, const uint64_t *rows, size_t n, const double *v, size_t stride,
                       const double *lo, const double *hi, const double *v2, const double *thr, uint64_t max_row,
                       const uint64_t *marks, size_t n_marks) {
    double ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double xs[5] = {v[i * stride], lo ? lo[i] : NAN, hi ? hi[i] : NAN, v2 ? v2[i] : NAN, thr ? thr[i] : NAN};
        for (int k = 0; k < 5; k++)
            if (isfinite(xs[k])) {
                if (xs[k] < ymin) ymin = xs[k];
                if (xs[k] > ymax) ymax = xs[k];
            }
    }
    fw_buf_printf(b, "<h3>");
    fw__html_esc(b, title);
    fw_buf_printf(b, "</h3>\n");
    if (!(ymin <= ymax)) {
        fw_buf_printf(b, "<p class=\"note\">no tested window</p>\n");
        return;
    }
    if (ymin == ymax) ymin -= 1, ymax += 1;
    double step = fw__html_nice_axis(&ymin, &ymax, 4);
    double xmax = max_row ? (double)max_row : 1;
    fw_buf_printf(b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", PW + PL + 20, PH + PT + 30, PW + PL + 20,
                  PH + PT + 30);
#define X(r) (PL + (double)(r) / xmax * PW)
#define Y(y) (PT + (1 - ((y) - ymin) / (ymax - ymin)) * PH)
    int nt = fw__html_n_ticks(ymin, ymax, step);
    for (int t = 0; t <= nt; t++) {
        double y = ymin + t * step;
        char s[40];
        fw__report_shortest(s, sizeof s, y);
        fw_buf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                         "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>\n",
                      PL, PL + PW, Y(y), Y(y), PL - 4, Y(y) + 3, s);
    }
    fw_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">row %" PRIu64 "</text>\n", PL + PW,
                  PT + PH + 14, max_row);
    for (size_t m = 0; m < n_marks; m++)
        fw_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#d33\" stroke-dasharray=\"3,2\">"
                         "<title>alarm raised at row %" PRIu64 "</title></line>\n",
                      X(marks[m]), X(marks[m]), PT, PT + PH, marks[m]);
    if (lo && hi) { /* the interval as a band */
        fw_buf_printf(b, "<path fill=\"#cde\" stroke=\"none\" d=\"");
        bool first = true;
        for (size_t i = 0; i < n; i++)
            if (isfinite(hi[i])) fw_buf_printf(b, "%c%.1f,%.1f", first ? 'M' : 'L', X(rows[i]), Y(hi[i])), first = false;
        for (size_t i = n; i-- > 0;)
            if (isfinite(lo[i])) fw_buf_printf(b, "L%.1f,%.1f", X(rows[i]), Y(lo[i]));
        fw_buf_printf(b, "Z\"/>\n");
    }
    const double *series[3] = {thr, v2, NULL};
    const char *colors[3] = {"#999", "#e80", "#15a"};
    for (int s = 0; s < 3; s++) {
        bool first = true;
        fw_buf_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s d=\"", colors[s],
                      s == 0 ? " stroke-dasharray=\"4,3\"" : "");
        for (size_t i = 0; i < n; i++) {
            double y = s == 2 ? v[i * stride] : series[s] ? series[s][i] : NAN;
            if (!isfinite(y)) {
                first = true;
                continue;
            }
            fw_buf_printf(b, "%c%.1f,%.1f", first ? 'M' : 'L', X(rows[i]), Y(y));
            first = false;
        }
        fw_buf_printf(b, "\"/>\n");
    }
#undef X
#undef Y
    fw_buf_printf(b, "</svg>\n");
}

static fw_status write_html(const char *path, const char *ref, fw_monitor *mon, const replay *r, uint64_t rows,
                            fw_err *err) {
    fw_buf b;
    fw_buf_init(&b);
    fw_buf_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>monitor ");
    fw__html_esc(&b, ref);
    fw_buf_printf(&b, "</title><style>body{font-family:sans-serif;margin:2em;max-width:60em}"
                      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%%}"
                      ".note{color:#777}</style></head><body>\n<h1>Monitor replay of ");
    fw__html_esc(&b, ref);
    fw_buf_printf(&b, "</h1>\n<p>%" PRIu64 " rows replayed; %zu alarm events.</p>\n<h2>Alarms</h2>\n", rows, r->n_ev);
    fw_buf_printf(&b, "<table><tr><th>row</th><th>event</th><th>kind</th><th>column</th><th>statistic</th><th>value</th>"
                      "<th>threshold</th><th>detail</th></tr>\n");
    for (size_t i = 0; i < r->n_ev; i++) {
        const fw_alarm *a = &r->ev[i].a;
        char v[40], t[40];
        fw__report_shortest(v, sizeof v, a->value);
        fw__report_shortest(t, sizeof t, a->threshold);
        fw_buf_printf(&b, "<tr><td>%" PRIu64 "</td><td>%s</td><td>%s</td><td>", a->row, r->ev[i].raised ? "raised" : "cleared",
                      fw_alarm_kind_name(a->kind));
        fw__html_esc(&b, a->column[0] ? a->column : "(model)");
        fw_buf_printf(&b, "</td><td>");
        fw__html_esc(&b, a->statistic);
        fw_buf_printf(&b, "</td><td>%s</td><td>%s</td><td>", r->ev[i].raised ? v : "", r->ev[i].raised ? t : "");
        fw__html_esc(&b, a->detail);
        fw_buf_printf(&b, "</td></tr>\n");
    }
    fw_buf_printf(&b, "</table>\n<h2>Live and estimated performance</h2>\n");
    if (r->n_real || r->n_est) {
        for (int k = 0; k < 2; k++) {
            const perf_point *p = k ? r->est : r->real;
            size_t n = k ? r->n_est : r->n_real;
            uint64_t *rw = fw_calloc(n + 1, sizeof *rw);
            double *v = fw_calloc(3 * n + 1, sizeof *v);
            if (!rw || !v) {
                fw_free(rw);
                fw_free(v);
                fw_buf_free(&b);
                return fw_err_set(err, FW_ENOMEM, "out of memory");
            }
            for (size_t i = 0; i < n; i++) {
                rw[i] = p[i].row;
                v[i] = p[i].v;
                v[n + i] = p[i].lo;
                v[2 * n + i] = p[i].hi;
            }
            svg_series(&b, k ? "estimated metric (CBPE) per window, with its interval" : "realized metric per labelled window, with its interval",
                       rw, n, v, 1, v + n, v + 2 * n, NULL, NULL, rows, NULL, 0);
            fw_free(rw);
            fw_free(v);
        }
    } else {
        fw_buf_printf(&b, "<p class=\"note\">no closed performance window (give --label COL for the realized metric; the "
                          "estimate needs a classifier)</p>\n");
    }
    fw_buf_printf(&b, "<h2>Drift statistic per column</h2>\n<p class=\"note\">chi-square of the sliding window against "
                      "the training reference (blue), its calibrated threshold (grey, dashed); red lines: alarms raised "
                      "on the column.</p>\n");
    const uint64_t *hr;
    const double *hv;
    size_t nh = fw_monitor_history(mon, &hr, &hv), nc = fw_monitor_n_columns(mon);
    double *thr = fw_calloc(nh + 1, sizeof *thr);
    uint64_t *marks = fw_calloc(r->n_ev + 1, sizeof *marks);
    if (!thr || !marks) {
        fw_free(thr);
        fw_free(marks);
        fw_buf_free(&b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < nc; c++) {
        fw_monitor_column col;
        fw_monitor_column_get(mon, c, &col);
        for (size_t i = 0; i < nh; i++) thr[i] = col.drift_threshold;
        size_t nm = 0;
        for (size_t i = 0; i < r->n_ev; i++)
            if (r->ev[i].raised && !strcmp(r->ev[i].a.column, col.name)) marks[nm++] = r->ev[i].a.row;
        svg_series(&b, col.name, hr, nh, hv + c, nc, NULL, NULL, NULL, thr, rows, marks, nm);
    }
    fw_free(thr);
    fw_free(marks);
    fw_buf_printf(&b, "</body></html>\n");
    fw_status st = FW_OK;
    FILE *f = fw_buf_ok(&b) ? fopen(path, "wb") : NULL;
    if (!fw_buf_ok(&b)) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    else if (!f || fwrite(b.data, 1, b.len, f) != b.len) st = fw_err_set(err, FW_EIO, "%s: cannot write", path);
    if (f && fclose(f) && !st) st = fw_err_set(err, FW_EIO, "%s: cannot write", path);
    fw_buf_free(&b);
    return st;
}

/* ---- the replay -------------------------------------------------------------------------------- */

/* A row's time (--time-column) as Unix ms: epoch seconds (a number below 1e11, fractions allowed),
 * epoch milliseconds (a number from 1e11 up: 1e11 s would be the year 5138) or an ISO 8601 date /
 * datetime (data/scalar.h; no offset = UTC). False for anything else, and for times not after
 * 1970-01-01 (0 means "no time" to the monitor). */
static bool parse_time_ms(const char *s, size_t len, int64_t *ms) {
    double x;
    if (fw_parse_number(s, len, &x, NULL)) x = x >= 1e11 ? x : x * 1000;
    else if (fw_parse_timestamp(s, len, &x)) x *= 1000;
    else return false;
    if (!(x >= 1) || x > 9e15) return false;
    *ms = (int64_t)llround(x);
    return true;
}

static bool has_history(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) return false;
        if (!strcmp(argv[i], "--history")) return true;
    }
    return false;
}

int fw_cmd_monitor(int argc, char **argv) {
    if (has_history(argc, argv)) return fw_cmd_monitor_history(argc, argv);
    const char *input = NULL, *label = NULL, *html = NULL, *home = NULL, *time_col = NULL;
    double block_s = -1;
    bool json = false;
    uint64_t step = 0, window = 0, quality = 0;
    fw_opt opts[] = {
        {"--input", 0, FW_OPT_STRING, &input, "FILE", "the rows to replay (.csv, .tsv, .jsonl, optionally .gz)"},
        {"--label", 0, FW_OPT_STRING, &label, "COL", "FILE's label column: each row's label comes back as feedback"},
        {"--time-column", 0, FW_OPT_STRING, &time_col, "COL",
         "FILE's time column (epoch seconds, epoch ms or ISO 8601; e.g. the prediction\n"
         "log's time): blocks also close by time, as in the server"},
        {"--block-seconds", 0, FW_OPT_DOUBLE, &block_s, "S",
         "with --time-column: a block closes once its rows span S seconds (the\n"
         "server's monitoring.block_s; default 300)", .lo = 0.001, .hi = 86400},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "one JSON document: rows, alarms (docs/MONITORING.md)"},
        {"--html", 0, FW_OPT_STRING, &html, "FILE", "a report with plots (drift per column, live and estimated metric)"},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--step-rows", 0, FW_OPT_INT, &step, "N", "rows per block: windows are tested every N rows (default 50)",
         FW_OPT_RANGE(step, 1, 1000000)},
        {"--window-rows", 0, FW_OPT_INT, &window, "N", "drift window, a multiple of --step-rows (default 1000)",
         FW_OPT_RANGE(window, 1, 100000000)},
        {"--quality-rows", 0, FW_OPT_INT, &quality, "N", "quality window, a multiple of --step-rows (default 200)",
         FW_OPT_RANGE(quality, 1, 100000000)},
    };
    fw_args args = {.cmd = CMD, .usage = usage_text, .epilog = epilog, .opts = opts,
                    .n_opts = sizeof opts / sizeof *opts, .max_pos = 1, .pos_name = "model"};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    if (!args.n_pos) return fw_cli_fail(CMD, FW_EXIT_USAGE, "give a model: flywheel monitor NAME@VERSION --input FILE");
    if (!input) return fw_cli_fail(CMD, FW_EXIT_USAGE, "give the rows to replay: --input FILE");
    if (block_s >= 0 && !time_col)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--block-seconds needs --time-column COL (without times the replay closes blocks by count alone)");
    const char *ref = args.pos[0];

    fw_err err;
    fw_err_clear(&err);
    int rc = FW_EXIT_FAILURE;
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    fw_registry *reg = NULL;
    fw_version_rec rec;
    memset(&rec, 0, sizeof rec);
    fw_serve_source src;
    memset(&src, 0, sizeof src);
    fw_srv_model *m = NULL;
    fw_monitor *mon = NULL;
    fw_dataset *ds = NULL;
    int *col_of = NULL;
    uint8_t *flags = NULL;
    fw_value *vals = NULL;
    double *out = NULL;
    fw_type_override *ov = NULL;
    replay r;
    memset(&r, 0, sizeof r);
    fw_buf jb;
    fw_buf_init(&jb);
    char version[32];
    /* the version the reference names, then the model loaded as the server loads it */
    if (fw_registry_open(&ro, &reg, &err) || fw_registry_resolve(reg, ref, &rec, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    snprintf(version, sizeof version, "%" PRId64, rec.version);
    if (fw_serve_source_store(home, &src, &err) || src.load(src.ud, rec.name, version, &m, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    fw_monitor_settings ms;
    fw_monitor_settings_init(&ms);
    if (step) ms.step_rows = (uint32_t)step;
    if (window) ms.window_rows = (uint32_t)window;
    else if (step && ms.window_rows % step) ms.window_rows = (uint32_t)(step * ((ms.window_rows + step - 1) / step));
    if (quality) ms.quality_rows = (uint32_t)quality;
    else if (step && ms.quality_rows % step) ms.quality_rows = (uint32_t)(step * ((ms.quality_rows + step - 1) / step));
    /* times only from the file: without --time-column, windows by count alone */
    ms.block_seconds = time_col ? (block_s >= 0 ? block_s : 300) : 0;
    ms.history = html != NULL;
    ms.on_alarm = on_alarm;
    ms.ud = &r;
    if (fw_monitor_new(m, &ms, &mon, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    /* The inputs are read as text, as a request carries them: the monitor (and the model) read each
     * value as its column's type, so a value of the wrong type is seen at its row, never rejected by
     * the file reader. */
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    lo.threads = 1;
    ov = fw_calloc(m->n_inputs + 2, sizeof *ov);
    if (!ov) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        goto done;
    }
    /* first the header (one row), to override only the columns the file has */
    lo.max_rows = 1;
    if (fw_data_load(input, &lo, &ds, NULL, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    size_t n_ov = 0;
    bool time_is_input = false;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (fw_dataset_find(ds, m->input_names[i]) >= 0) {
            ov[n_ov++] = (fw_type_override){m->input_names[i], FW_COL_CATEGORICAL};
            time_is_input |= time_col && !strcmp(time_col, m->input_names[i]);
        }
    if (time_col && fw_dataset_find(ds, time_col) < 0) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s: no column named '%s' (--time-column)", input, time_col);
        goto done;
    }
    if (time_col && !time_is_input) ov[n_ov++] = (fw_type_override){time_col, FW_COL_CATEGORICAL}; /* its text */
    fw_dataset_free(ds);
    ds = NULL;
    lo.max_rows = 0;
    lo.overrides = ov;
    lo.n_overrides = n_ov;
    if (fw_data_load(input, &lo, &ds, NULL, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    int label_col = -1, time_idx = time_col ? fw_dataset_find(ds, time_col) : -1;
    if (label && (label_col = fw_dataset_find(ds, label)) < 0) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s: no column named '%s' (--label)", input, label);
        goto done;
    }
    fw_data_format fmt = FW_FORMAT_CSV;
    (void)fw_data_format_of(input, &fmt);
    col_of = fw_calloc(m->n_inputs + 1, sizeof *col_of);
    flags = fw_calloc(m->n_inputs + 1, 1);
    vals = fw_calloc(m->n_inputs + 1, sizeof *vals);
    out = fw_calloc(m->n_outputs + 1, sizeof *out);
    if (!col_of || !flags || !vals || !out) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        col_of[i] = fw_dataset_find(ds, m->input_names[i]);
        flags[i] = col_of[i] < 0 ? FW_MON_ABSENT : 0;
    }
    bool oom = false;
    void *scratch = fw_srv_model_scratch(m, &oom);
    if (oom) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        goto done;
    }
    uint64_t last_real = 0, last_est = 0;
    for (size_t row = 0; row < ds->n_rows; row++) {
        int64_t ts = -1; /* no time: count-only */
        if (time_idx >= 0) {
            const fw_column *tc = &ds->cols[time_idx];
            const char *t = tc->code[row] >= 0 ? fw_dict_str(&tc->dict, tc->code[row]) : "";
            size_t tl = tc->code[row] >= 0 ? fw_dict_len(&tc->dict, tc->code[row]) : 0;
            if (!parse_time_ms(t, tl, &ts)) { /* the header is line 1 of a CSV; a JSONL has none */
                fw_cli_fail(CMD, FW_EXIT_FAILURE,
                            "%s:%zu: column '%s': '%.*s' is not a time (epoch seconds, epoch milliseconds or ISO 8601 "
                            "after 1970)",
                            input, row + (fmt == FW_FORMAT_JSONL ? 1 : 2), time_col, (int)(tl < 64 ? tl : 64), t);
                goto done;
            }
        }
        fw_record_from_row(ds, col_of, m->n_inputs, row, vals);
        fw_srv_decision d;
        fw_err perr;
        fw_err_clear(&perr);
        uint64_t t0 = fw_now_ns();
        fw_status ps = fw_srv_model_decide(m, vals, scratch, -1, out, &d, &perr);
        double ms_taken = (double)(fw_now_ns() - t0) / 1e6;
        char rid[32];
        int rl = snprintf(rid, sizeof rid, "row-%zu", row);
        fw_monitor_obs o = {.values = vals, .flags = flags, .outputs = ps == FW_OK ? out : NULL,
                            .latency_ms = ms_taken, .request_id = rid, .request_id_len = (size_t)rl, .ts_ms = ts};
        fw_monitor_observe(mon, &o);
        if (label_col >= 0 && ps == FW_OK) {
            const fw_column *lc = &ds->cols[label_col];
            fw_value y = {FW_VALUE_MISSING, 0, NULL, 0};
            if (lc->num && !isnan(lc->num[row])) y = (fw_value){FW_VALUE_NUMBER, lc->num[row], NULL, 0};
            else if (!lc->num && lc->code[row] >= 0)
                y = (fw_value){FW_VALUE_STRING, 0, fw_dict_str(&lc->dict, lc->code[row]), fw_dict_len(&lc->dict, lc->code[row])};
            fw_err lerr;
            if (y.kind != FW_VALUE_MISSING) (void)fw_monitor_feedback(mon, rid, (size_t)rl, &y, ts, &lerr);
        }
        if (html && label_col >= 0) { /* the performance windows, for the plot */
            fw_perf_summary su;
            if (fw_monitor_perf_summary(mon, &su)) {
                if (su.windows != last_real &&
                    !add_point(&r.real, &r.n_real, &r.cap_real, row, su.realized, su.realized_lo, su.realized_hi))
                    r.oom = true;
                if (su.estimate_windows != last_est &&
                    !add_point(&r.est, &r.n_est, &r.cap_est, row, su.estimated, su.estimated_lo, su.estimated_hi))
                    r.oom = true;
                last_real = su.windows;
                last_est = su.estimate_windows;
            }
        } else if (html) {
            fw_perf_summary su;
            if (fw_monitor_perf_summary(mon, &su) && su.estimate_windows != last_est) {
                if (!add_point(&r.est, &r.n_est, &r.cap_est, row, su.estimated, su.estimated_lo, su.estimated_hi))
                    r.oom = true;
                last_est = su.estimate_windows;
            }
        }
        if (!json) /* text: as they come */
            for (; r.printed < r.n_ev; r.printed++) print_event(stdout, &r.ev[r.printed]);
    }
    fw_monitor_flush(mon);
    if (!json)
        for (; r.printed < r.n_ev; r.printed++) print_event(stdout, &r.ev[r.printed]);
    if (r.oom) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        goto done;
    }
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    if (json) {
        fw_buf_printf(&jb, "{\"model\":");
        fw_json_put_str(&jb, rec.name);
        fw_buf_printf(&jb, ",\"version\":%" PRId64 ",\"input\":", rec.version);
        fw_json_put_str(&jb, input);
        fw_buf_printf(&jb, ",\"rows\":%zu,\"alarms\":[", ds->n_rows);
        size_t w = 0;
        for (size_t i = 0; i < r.n_ev; i++)
            if (r.ev[i].raised) {
                if (w++) fw_buf_put_u8(&jb, ',');
                fw_monitor_alarm_json(&r.ev[i].a, &jb);
            }
        fw_buf_printf(&jb, "],\"cleared\":[");
        w = 0;
        for (size_t i = 0; i < r.n_ev; i++)
            if (!r.ev[i].raised) {
                if (w++) fw_buf_put_u8(&jb, ',');
                fw_buf_printf(&jb, "{\"row\":%" PRIu64 ",\"kind\":\"%s\",\"column\":", r.ev[i].a.row,
                              fw_alarm_kind_name(r.ev[i].a.kind));
                fw_json_put_str(&jb, r.ev[i].a.column[0] ? r.ev[i].a.column : NULL);
                fw_buf_put_u8(&jb, '}');
            }
        fw_buf_printf(&jb, "],\"monitor\":");
        if (fw_monitor_state_json(mon, &jb) || (fw_buf_put_u8(&jb, '}'), fw_buf_put_u8(&jb, '\n'), !fw_buf_ok(&jb))) {
            fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
            goto done;
        }
        fwrite(jb.data, 1, jb.len, stdout);
    } else {
        uint64_t raised = 0;
        for (int kd = 0; kd < FW_ALARM_KIND_COUNT; kd++) raised += k.raised[kd];
        printf("%s@%" PRId64 ": %zu rows replayed, %" PRIu64 " alarms raised, %zu active at the end\n", rec.name,
               rec.version, ds->n_rows, raised, fw_monitor_active(mon, NULL, 0));
    }
    if (html && write_html(html, ref, mon, &r, ds->n_rows, &err)) {
        fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    rc = FW_EXIT_OK;
done:
    fw_buf_free(&jb);
    fw_free(r.ev);
    fw_free(r.real);
    fw_free(r.est);
    fw_free(col_of);
    fw_free(flags);
    fw_free(vals);
    fw_free(out);
    fw_free(ov);
    fw_monitor_free(mon);
    fw_dataset_free(ds);
    if (m) fw_srv_model_unref(m);
    if (src.free) src.free(src.ud);
    fw_version_rec_free(&rec);
    fw_registry_close(reg);
    return rc;
}
