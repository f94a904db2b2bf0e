/* cmd_retrain.c — owns `flywheel retrain NAME`: trains a challenger from the champion's recorded
 * project plus the labelled served traffic, registers it as a new version whose parent is the
 * champion, judges both on the same fresh held-out rows with the gate, and with --promote auto
 * moves production to a challenger the gate promotes (learn/retrain.h, docs/LEARNING.md). */
#include "cli/args.h"
#include "cli/cli.h"

#include "core/buf.h"
#include "learn/retrain.h"
#include "serve/config.h"
#include "serve/rollout.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: flywheel retrain NAME [--json] [--promote none|auto] [options]\n"
    "\n"
    "Retrains NAME's champion (its production version, else its latest) on its recorded data plus\n"
    "the served predictions whose labels came back (the prediction log joined to feedback), under\n"
    "the project's learn: policy. The most recent labelled rows are held out: the challenger never\n"
    "trains on them, and champion and challenger are compared on them with a paired test (DeLong\n"
    "for roc_auc, paired per-row losses or a paired bootstrap otherwise) against the project's\n"
    "learn.gate.min_improvement. The decision is promote, reject or inconclusive (too few labelled\n"
    "rows: never a promotion). The challenger is registered as a new version whose parent is the\n"
    "champion; `flywheel models history NAME` shows why it exists and `flywheel reproduce NAME@V`\n"
    "retrains it byte for byte. Where a canary rollout is configured for NAME (serving.splits: kind\n"
    "canary with steps and challenger NAME@ALIAS, in --config FILE or else in the champion's recorded\n"
    "project), --promote auto moves ALIAS to the challenger instead of production: a server serving\n"
    "that rollout starts it again with the challenger and moves production when it completes.\n"
    "Exit 0 whatever the decision, 1 on an error, 2 on a usage error.\n"
    "\n";

/* fw_retrain_options.canary: the canary rollout of the model in --config FILE (ud), else in the
 * champion's recorded project's serving: section. */
static int cli_canary(void *ud, const char *model, const char *serving_yaml, char *alias, size_t cap) {
    const fw_serve_config *given = ud;
    if (given) return fw_rollout_canary_alias(given, model, alias, cap);
    if (!serving_yaml) return 0;
    fw_serve_config c;
    fw_serve_config_init(&c);
    fw_err err;
    int rc = fw_serve_config_parse(&c, serving_yaml, strlen(serving_yaml), "recorded project", &err) == FW_OK
                 ? fw_rollout_canary_alias(&c, model, alias, cap)
                 : 0;
    fw_serve_config_free(&c);
    return rc;
}

int fw_cmd_retrain(int argc, char **argv) {
    const char *cmd = "retrain";
    const char *home = NULL, *data = NULL, *detail = NULL, *config = NULL;
    bool json = false;
    int promote = 0, reason = 0, threads = 0;
    static const char *const promote_choices[] = {"none", "auto", NULL};
    static const char *const reason_choices[] = {"manual", "schedule", "alarm", "labels", NULL};
    fw_opt opts[] = {
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "print the result as one JSON object"},
        {"--promote", 0, FW_OPT_ENUM, &promote, "none|auto",
         "auto: a \"promote\" decision moves production to the challenger at once, or hands it to the model's "
         "canary rollout (default none)",
         .choices = promote_choices},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--data", 0, FW_OPT_STRING, &data, "FILE", "the champion's base data, when it has moved since training"},
        {"--reason", 0, FW_OPT_ENUM, &reason, "WHY",
         "why this retrain runs, recorded with the version: manual (default), schedule, alarm, labels",
         .choices = reason_choices},
        {"--detail", 0, FW_OPT_STRING, &detail, "TEXT", "a note recorded with the reason (e.g. the alarm)"},
        {"--config", 0, FW_OPT_STRING, &config, "FILE",
         "the serve config whose canary rollout takes a promoted challenger (default: the recorded project's serving:)"},
        {"--threads", 0, FW_OPT_INT, &threads, "N", "training threads (default: the champion's)",
         FW_OPT_RANGE(threads, 1, 256)},
    };
    fw_args args = {.cmd = cmd, .usage = usage_text, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 1,
                    .pos_name = "model name"};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    const char *name = args.n_pos ? args.pos[0] : NULL;
    if (!name) return fw_cli_fail(cmd, FW_EXIT_USAGE, "give a model name, e.g. churn");
    if (strchr(name, '@'))
        return fw_cli_fail(cmd, FW_EXIT_USAGE, "'%s': give the model's name; its champion is its production version "
                           "(else its latest)", name);
    fw_buf cl;
    fw_buf_init(&cl);
    fw_buf_printf(&cl, "flywheel");
    for (int i = 0; i < argc; i++) fw_buf_printf(&cl, " %s", argv[i]);
    fw_buf_put_u8(&cl, 0);
    fw_serve_config sc;
    fw_serve_config_init(&sc);
    if (config) {
        fw_err cerr;
        fw_err_clear(&cerr);
        if (fw_serve_config_load(&sc, config, &cerr)) {
            fw_buf_free(&cl);
            fw_serve_config_free(&sc);
            return fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", cerr.msg);
        }
    }
    fw_retrain_options o;
    fw_retrain_options_init(&o);
    o.canary = cli_canary;
    o.canary_ud = config ? &sc : NULL;
    o.home = home;
    o.name = name;
    o.reason = (fw_retrain_reason)reason;
    o.detail = detail;
    o.promote_auto = promote == 1;
    o.data = data;
    o.threads = threads;
    o.command = fw_buf_ok(&cl) ? (const char *)cl.data : NULL;
    fw_retrain_result r;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_retrain_run(&o, &r, &err);
    fw_buf_free(&cl);
    fw_serve_config_free(&sc);
    if (st) return fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg[0] ? err.msg : fw_strerror(st));
    if (json) {
        fw_buf b;
        fw_buf_init(&b);
        fw_retrain_result_json(&r, &b);
        if (fw_buf_ok(&b)) printf("%.*s\n", (int)b.len, (const char *)b.data);
        fw_buf_free(&b);
        return FW_EXIT_OK;
    }
    printf("champion   %s@%lld\n", r.name, (long long)r.champion_version);
    if (r.challenger_version > 0)
        printf("challenger %s@%lld%s (parent %lld, reason %s)\n", r.name, (long long)r.challenger_version,
               r.reused ? " (the same artifact was already registered)" : "", (long long)r.champion_version,
               fw_retrain_reason_name(r.reason));
    else
        printf("challenger none\n");
    printf("rows       %zu labelled served rows: %zu held out, %zu served + %zu base rows trained\n", r.n_labelled,
           r.n_holdout, r.n_served_train, r.n_base);
    if (r.gate.metric[0] && isfinite(r.gate.champion_metric))
        printf("%-10s champion %.6g, challenger %.6g, gain %.4g, %g%% interval [%.4g, %.4g] (%s)\n", r.gate.metric,
               r.gate.champion_metric, r.gate.challenger_metric, r.gate.difference, r.gate.confidence * 100, r.gate.lo,
               r.gate.hi, r.gate.method);
    printf("decision   %s%s%s%s: %s\n", fw_gate_decision_name(r.gate.decision),
           r.promoted ? " (production moved)" : r.canary[0] ? " (handed to the canary " : "", r.canary,
           !r.promoted && r.canary[0] ? "; production moves when it completes)" : "", r.gate.reason);
    return FW_EXIT_OK;
}
