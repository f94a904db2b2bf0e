/* main.c — owns the flywheel entry point: --help, --version and dispatch to one command per file. */
#include "cli/cli.h"
#include "dist/dist.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Commands live in their own files; a weak reference keeps the build linking while one is absent. */
#pragma weak fw_cmd_describe
#pragma weak fw_cmd_train
#pragma weak fw_cmd_eval
#pragma weak fw_cmd_models
#pragma weak fw_cmd_reproduce
#pragma weak fw_cmd_retrain
#pragma weak fw_cmd_serve
#pragma weak fw_cmd_batch
#pragma weak fw_cmd_monitor
#pragma weak fw_cmd_experiment

typedef struct command {
    const char *name;
    fw_cmd_fn fn;
    const char *summary;
} command;

static const command commands[] = {
    {"describe", fw_cmd_describe, "profile a data file and infer its schema (and a project file)"},
    {"train", fw_cmd_train, "train the baseline and candidate models, evaluate, register the best"},
    {"eval", fw_cmd_eval, "evaluate a registered model on a data file against its baseline"},
    {"models", fw_cmd_models, "list, show, diff, promote, roll back, alias, export and import models"},
    {"reproduce", fw_cmd_reproduce, "retrain a version from its record and check it is byte-identical"},
    {"retrain", fw_cmd_retrain, "train a challenger on served traffic with labels; gate it against the champion"},
    {"serve", fw_cmd_serve, "serve models online over HTTP (v1 JSON and KServe v2)"},
    {"batch", fw_cmd_batch, "score a file in batch, to a file or the store"},
    {"monitor", fw_cmd_monitor, "replay a file through a model's monitor: drift, quality, schema, performance"},
    {"experiment", fw_cmd_experiment, "analyze an online experiment: lift, always-valid p-values, sample ratio check"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: flywheel <command> [options]\n"
            "       flywheel <command> --help\n"
            "       flywheel --version\n\n"
            "Flywheel runs the production ML loop: describe data, train against a baseline,\n"
            "version, serve online and in batch.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (commands[i].fn) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 success, 1 runtime failure, 2 usage error\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FW_EXIT_USAGE;
    }
    if (fw_cli_is_help(argv[1])) {
        usage(stdout);
        return FW_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("flywheel %s\n", fw_version());
        return FW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0 && commands[i].fn) {
            /* `mpirun -np N flywheel train`: the ranks train one model together (MPI build only) */
            if (strcmp(argv[1], "train") == 0) {
                fw_dist_init(&argc, &argv);
                return fw_dist_finish(commands[i].fn(argc - 1, argv + 1));
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "flywheel: unknown command '%s' (see flywheel --help)\n", argv[1]);
    return FW_EXIT_USAGE;
}
