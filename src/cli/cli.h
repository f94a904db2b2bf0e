/* cli.h — owns the command table shared by src/cli/: every command is one file cmd_<name>.c
 * exporting `int fw_cmd_<name>(int argc, char **argv)` (argv[0] is the command name) and a one-line
 * summary. Exit codes: 0 success, 1 runtime failure, 2 usage error. Errors go to stderr, one line
 * each, "flywheel <command>: what was wrong and where". */
#ifndef FW_CLI_CLI_H
#define FW_CLI_CLI_H

#include "flywheel.h"

#include <stdbool.h>
#include <stdio.h>

enum { FW_EXIT_OK = 0, FW_EXIT_FAILURE = 1, FW_EXIT_USAGE = 2 };

typedef int (*fw_cmd_fn)(int argc, char **argv);

int fw_cmd_describe(int argc, char **argv);
int fw_cmd_train(int argc, char **argv);
int fw_cmd_eval(int argc, char **argv);
int fw_cmd_models(int argc, char **argv);
int fw_cmd_reproduce(int argc, char **argv);
int fw_cmd_retrain(int argc, char **argv);
int fw_cmd_serve(int argc, char **argv);
int fw_cmd_batch(int argc, char **argv);
int fw_cmd_monitor(int argc, char **argv);
/* `flywheel monitor NAME --history` (cmd_monitor_history.c); fw_cmd_monitor hands --history here. */
int fw_cmd_monitor_history(int argc, char **argv);

/* `flywheel experiment analyze|report` (cmd_experiment.c, docs/EXPERIMENTS.md). */
int fw_cmd_experiment(int argc, char **argv);

/* Prints "flywheel <cmd>: <message>" to stderr (one line) and returns the exit code given. */
int fw_cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* True when argv[i] is --help or -h. */
bool fw_cli_is_help(const char *arg);

#endif
