/* cmd_monitor_history.c — owns `flywheel monitor NAME --history [--json]`: the alarms the server's
 * monitors raised for a model (every version), read from the store's alarm history (store.h
 * fw_store_alarm_list, written by serve/alerts.c), oldest first, with when each was raised and
 * cleared. The replay form `flywheel monitor NAME@REF --input FILE` is cmd_monitor.c's; it hands
 * argv here when --history is given. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "store/store.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CMD "monitor"

static const char usage[] =
    "usage: flywheel monitor NAME --history [--json] [--limit N] [--active] [--home DIR]\n"
    "\n"
    "What the server's monitors raised for model NAME (every version), oldest first: when each alarm\n"
    "was raised and cleared, its kind, column (a slice's performance alarm: the group column and its\n"
    "slice value), statistic, value and threshold, and the row of the\n"
    "version's prediction stream that raised it. Alarms are kept when `monitoring.history` is on\n"
    "(the default) and the server has a store.\n"
    "\n";

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

static void put_time(fw_buf *b, int64_t ms) {
    if (ms <= 0) {
        fw_buf_printf(b, "null");
        return;
    }
    char t[40];
    fw_format_iso8601(ms, t, sizeof t);
    fw_json_put_str(b, t);
}

/* {"model":NAME,"alarms":[{...}, ...]}, oldest first */
static void write_json(fw_buf *b, const char *name, const fw_alarm_rec *a, size_t n) {
    fw_buf_printf(b, "{\"model\":");
    fw_json_put_str(b, name);
    fw_buf_printf(b, ",\"alarms\":[");
    for (size_t i = 0; i < n; i++) {
        fw_buf_printf(b, "%s{\"id\":%" PRId64 ",\"version\":%" PRId64 ",\"kind\":", i ? "," : "", a[i].id,
                      a[i].version);
        fw_json_put_str(b, a[i].kind);
        fw_buf_printf(b, ",\"column\":");
        if (a[i].column) fw_json_put_str(b, a[i].column);
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"slice\":"); /* a slice's performance alarm: the value of `column` */
        if (a[i].slice) fw_json_put_str(b, a[i].slice);
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"statistic\":");
        fw_json_put_str(b, a[i].statistic ? a[i].statistic : "");
        fw_buf_printf(b, ",\"value\":");
        put_num(b, a[i].value);
        fw_buf_printf(b, ",\"threshold\":");
        put_num(b, a[i].threshold);
        fw_buf_printf(b, ",\"row\":%" PRId64 ",\"raised\":", a[i].row);
        put_time(b, a[i].raised_ms);
        fw_buf_printf(b, ",\"raised_ms\":%" PRId64 ",\"cleared\":", a[i].raised_ms);
        put_time(b, a[i].cleared_ms);
        fw_buf_printf(b, ",\"cleared_ms\":");
        if (a[i].cleared_ms > 0) fw_buf_printf(b, "%" PRId64, a[i].cleared_ms);
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"active\":%s,\"detail\":", a[i].cleared_ms > 0 ? "false" : "true");
        fw_json_put_str(b, a[i].detail ? a[i].detail : "");
        fw_buf_put_u8(b, '}');
    }
    fw_buf_printf(b, "]}");
}

static void print_table(const fw_alarm_rec *a, size_t n) {
    printf("%-24s %-24s %-7s %-11s %-20s %-12s %-14s %12s %12s %10s  %s\n", "raised", "cleared", "version", "kind",
           "column", "slice", "statistic", "value", "threshold", "row", "detail");
    for (size_t i = 0; i < n; i++) {
        char r[40], c[40] = "active";
        fw_format_iso8601(a[i].raised_ms, r, sizeof r);
        if (a[i].cleared_ms > 0) fw_format_iso8601(a[i].cleared_ms, c, sizeof c);
        printf("%-24s %-24s %-7" PRId64 " %-11s %-20s %-12s %-14s %12.6g %12.6g %10" PRId64 "  %s\n", r, c,
               a[i].version, a[i].kind, a[i].column ? a[i].column : "-", a[i].slice ? a[i].slice : "-",
               a[i].statistic ? a[i].statistic : "-", a[i].value, a[i].threshold, a[i].row,
               a[i].detail ? a[i].detail : "");
    }
}

/* cmd_monitor.c's fw_cmd_monitor hands argv here when --history is given (cli.h). */
int fw_cmd_monitor_history(int argc, char **argv) {
    const char *home = NULL;
    bool json = false, history = false, active = false;
    size_t limit = 0;
    fw_opt opts[] = {
        {"--history", 0, FW_OPT_FLAG, &history, NULL, "list the alarm history (this form's required flag)"},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "one JSON document {\"model\", \"alarms\": [...]}"},
        {"--limit", 0, FW_OPT_INT, &limit, "N", "only the newest N alarms (default: all)", FW_OPT_RANGE(limit, 1, 100000000)},
        {"--active", 0, FW_OPT_FLAG, &active, NULL, "only the alarms still active"},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
    };
    fw_args a = {.cmd = CMD, .help_cmd = "monitor", .usage = usage, .opts = opts, .n_opts = sizeof opts / sizeof *opts,
                 .max_pos = 1, .pos_name = "model name"};
    int code;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    if (!history) return fw_cli_fail(CMD, FW_EXIT_USAGE, "this form needs --history (see flywheel monitor --help)");
    if (a.n_pos != 1) return fw_cli_fail(CMD, FW_EXIT_USAGE, "--history needs the model NAME");
    const char *name = a.pos[0];
    if (strpbrk(name, "@#"))
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--history takes a model NAME (every version is listed), got '%s'", name);
    fw_err err;
    fw_err_clear(&err);
    fw_store *db;
    if (fw_store_open(home, &db, &err)) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    bool exists = false;
    fw_status st = fw_store_model_exists(db, name, &exists, &err);
    fw_alarm_rec *l = NULL;
    size_t n = 0;
    if (!st && exists) st = fw_store_alarm_list(db, name, active ? 0 : limit, &l, &n, &err);
    fw_store_close(db);
    if (st) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    if (!exists) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "no model '%s' in the registry", name);
    /* --active: the active ones moved to the front in order (swaps keep every record in l[0, n) for
     * the free), then the newest `limit` of them */
    size_t from = 0, shown = n;
    if (active) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (l[i].cleared_ms > 0) continue;
            fw_alarm_rec t = l[k];
            l[k++] = l[i];
            l[i] = t;
        }
        from = limit && k > limit ? k - limit : 0;
        shown = k - from;
    }
    int rc = FW_EXIT_OK;
    if (json) {
        fw_buf b;
        fw_buf_init(&b);
        write_json(&b, name, l + from, shown);
        rc = fw_buf_ok(&b) ? FW_EXIT_OK : fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        if (rc == FW_EXIT_OK) printf("%.*s\n", (int)b.len, (const char *)b.data);
        fw_buf_free(&b);
    } else {
        print_table(l + from, shown);
    }
    fw_alarm_recs_free(l, n);
    return rc;
}
