/* cmd_batch.c — owns `flywheel batch`: scores a file with a registered model (or a .fwm file) to
 * CSV/JSONL or the store's precomputed answers, top-k recommendations, --top-fraction selection,
 * resume, and `flywheel batch history`. Exit codes for cron / systemd timers:
 *   0 every row scored, 1 failure, 2 usage, 3 completed with rejected rows, 4 lock held. */
#include "cli/args.h"
#include "cli/cli.h"

#include "artifact/artifact.h"
#include "batch/batch.h"
#include "batch/batch_bundle.h"
#include "store/store.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "data/scalar.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *CMD = "batch";

/* a default's value as text, for --help (the defaults live in batch.h) */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char usage_text[] =
    "usage: flywheel batch --model NAME[@ALIAS|@VERSION] --input FILE [--output FILE.csv|FILE.jsonl|store]\n"
    "                      [--id COL[,COL...]] [--threads N] [options]\n"
    "       flywheel batch --model NAME --entities users.csv --items items.csv --top-k 10 [--output ...]\n"
    "       flywheel batch history [JOB|MODEL] [--limit N] [--json] [--home DIR]\n"
    "       flywheel batch ... --partition I/N|auto   then   flywheel batch merge --output OUT --partitions N\n"
    "       ... | flywheel batch --model NAME --input - --output - [--input-format csv|jsonl] | ...\n"
    "\n"
    "Scores every row of FILE (.csv, .tsv, .jsonl, .ndjson, optionally .gz) in constant memory:\n"
    "a reader, N scorer threads and a writer; output rows come out in input order with the id\n"
    "column(s), the prediction, the score or class probabilities, the model version and the run's\n"
    "timestamp. --output store writes the answers to the store, keyed by id, for hybrid serving.\n"
    "\n";

static const char epilog[] =
    "\n"
    "Bad rows (unparseable values, wrong field counts, an unterminated quote, rows the model refuses)\n"
    "go to the reject file as line,reason and the run goes on unless --strict. A run checkpoints\n"
    "every --checkpoint-rows rows; after a crash or kill, --resume continues without duplicating or\n"
    "losing output rows. Two runs of the same job never overlap (a lock in HOME/locks); every run is\n"
    "recorded (flywheel batch history).\n"
    "\n"
    "exit codes: 0 all rows scored, 1 failure (I/O, model, --strict with a bad row, interrupted),\n"
    "            2 usage error, 3 completed with rejected rows (see the reject file),\n"
    "            4 another run of the same job holds the lock\n";

static const char history_usage[] =
    "usage: flywheel batch history [JOB|MODEL] [--limit N] [--json] [--home DIR]\n"
    "\n"
    "Every recorded run of `flywheel batch`, newest first (of one job or model when named): when it\n"
    "started and ended, rows read, scored and rejected, the outcome and the exit code.\n"
    "\n";

static const char merge_usage[] =
    "usage: flywheel batch merge --output OUT --partitions N\n"
    "\n"
    "Writes OUT from the N committed partitions OUT.part-I-of-N that `flywheel batch --partition I/N\n"
    "--output OUT` runs left (in order, a CSV header once): the file one process would have written\n"
    "(with the same --timestamp). Fails, naming them, while partitions are missing.\n"
    "\n";

static int cmd_merge(int argc, char **argv) {
    const char *output = NULL;
    uint32_t parts = 0;
    fw_opt opts[] = {
        {"--output", 0, FW_OPT_STRING, &output, "OUT", "the output the partitions were run with"},
        {"--partitions", 0, FW_OPT_INT, &parts, "N", "how many partitions (N of --partition I/N)",
         FW_OPT_RANGE(parts, 1, 1000000)},
    };
    fw_args a = {.cmd = CMD, .help_cmd = "batch merge", .usage = merge_usage, .opts = opts,
                 .n_opts = sizeof opts / sizeof *opts};
    int code;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    if (!output || !parts) return fw_cli_fail(CMD, FW_EXIT_USAGE, "merge: --output OUT and --partitions N are required");
    fw_err err;
    fw_err_clear(&err);
    if (fw_batch_merge(output, parts, &err) != FW_OK) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    fprintf(stderr, "batch: merged %u partitions into %s\n", parts, output);
    return FW_EXIT_OK;
}

/* stdin → a file in dir (input.csv / input.jsonl): the engine reads files. */
static fw_status spool_stdin(const char *path, fw_err *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (fwrite(buf, 1, k, f) != k) break;
    bool bad = ferror(stdin) || ferror(f);
    if (fclose(f) != 0) bad = true;
    return bad ? fw_err_set(err, FW_EIO, "reading stdin into %s failed", path) : FW_OK;
}

static fw_status copy_to_stdout(const char *path, fw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    char buf[1 << 16];
    size_t k;
    bool bad = false;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        if (fwrite(buf, 1, k, stdout) != k) {
            bad = true;
            break;
        }
    fclose(f);
    if (fflush(stdout) != 0) bad = true;
    return bad ? fw_err_set(err, FW_EIO, "writing the answers to stdout failed") : FW_OK;
}

static void remove_tree(const char *dir) {
    char cmd[4200];
    if (dir[0] && strstr(dir, "flywheel-batch-")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "batch: could not remove %s\n", dir);
    }
}

static volatile sig_atomic_t stop_asked;

static void on_signal(int sig) {
    (void)sig;
    stop_asked = 1;
    fw_batch_request_stop();
}

static int cmd_history(int argc, char **argv) {
    const char *home = NULL;
    size_t limit = 50;
    bool json = false;
    fw_opt opts[] = {
        {"--limit", 0, FW_OPT_INT, &limit, "N", "at most N runs (default 50)", FW_OPT_RANGE(limit, 1, 1000000)},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "one JSON array, newest first"},
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
    };
    fw_args a = {.cmd = CMD, .help_cmd = "batch history", .usage = history_usage, .opts = opts,
                 .n_opts = sizeof opts / sizeof *opts, .max_pos = 1};
    int code;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    const char *filter = a.n_pos ? a.pos[0] : NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_store *db;
    if (fw_store_open(home, &db, &err)) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    fw_batch_run_rec *h;
    size_t n;
    fw_status st = fw_store_batch_history(db, filter, limit, &h, &n, &err);
    fw_store_close(db);
    if (st) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    if (json) { /* one array, newest first, as `models list --json` */
        fw_buf b;
        fw_buf_init(&b);
        fw_buf_put_u8(&b, '[');
        for (size_t i = 0; i < n; i++) {
            char s[40], e[40];
            fw_format_iso8601(h[i].started_ms, s, sizeof s);
            fw_buf_printf(&b, "%s{\"run\":%" PRId64 ",\"job\":", i ? "," : "", h[i].run_id);
            fw_json_put_str(&b, h[i].job);
            fw_buf_printf(&b, ",\"model\":");
            fw_json_put_str(&b, h[i].model);
            fw_buf_printf(&b, ",\"version\":");
            fw_json_put_str(&b, h[i].version);
            fw_buf_printf(&b, ",\"input\":");
            fw_json_put_str(&b, h[i].input);
            fw_buf_printf(&b, ",\"output\":");
            fw_json_put_str(&b, h[i].output);
            fw_buf_printf(&b, ",\"started\":");
            fw_json_put_str(&b, s);
            fw_buf_printf(&b, ",\"ended\":");
            if (h[i].ended_ms) {
                fw_format_iso8601(h[i].ended_ms, e, sizeof e);
                fw_json_put_str(&b, e);
                fw_buf_printf(&b, ",\"seconds\":%.3f", (double)(h[i].ended_ms - h[i].started_ms) / 1000.0);
            } else {
                fw_buf_printf(&b, "null,\"seconds\":null");
            }
            fw_buf_printf(&b, ",\"rows_read\":%" PRIu64 ",\"rows_scored\":%" PRIu64 ",\"rows_rejected\":%" PRIu64
                              ",\"rows_written\":%" PRIu64 ",\"outcome\":",
                          h[i].rows_read, h[i].rows_scored, h[i].rows_rejected, h[i].rows_written);
            fw_json_put_str(&b, h[i].outcome);
            fw_buf_printf(&b, ",\"exit_code\":%d,\"attempts\":%d,\"message\":", h[i].exit_code, h[i].attempts);
            fw_json_put_str(&b, h[i].message);
            fw_buf_put_u8(&b, '}');
        }
        fw_buf_put_u8(&b, ']');
        int rc = fw_buf_ok(&b) ? FW_EXIT_OK : fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        if (rc == FW_EXIT_OK) printf("%.*s\n", (int)b.len, (const char *)b.data);
        fw_buf_free(&b);
        fw_free(h);
        return rc;
    }
    printf("%-6s %-24s %-20s %-8s %-24s %9s %10s %9s %9s %-11s %s\n", "run", "started", "job", "version",
           "ended", "seconds", "read", "scored", "rejected", "outcome", "exit");
    for (size_t i = 0; i < n; i++) {
        char s[40], e[40] = "-", secs[32] = "-";
        fw_format_iso8601(h[i].started_ms, s, sizeof s);
        if (h[i].ended_ms) {
            fw_format_iso8601(h[i].ended_ms, e, sizeof e);
            snprintf(secs, sizeof secs, "%.1f", (double)(h[i].ended_ms - h[i].started_ms) / 1000.0);
        }
        printf("%-6" PRId64 " %-24s %-20s %-8s %-24s %9s %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %-11s %d%s%s\n",
               h[i].run_id, s, h[i].job, h[i].version, e, secs, h[i].rows_read, h[i].rows_scored,
               h[i].rows_rejected, h[i].outcome, h[i].exit_code, h[i].message[0] ? "  " : "", h[i].message);
    }
    fw_free(h);
    return FW_EXIT_OK;
}

#define MAX_IDS 16

/* Points o at partition index of count of output: its answers go to OUTPUT.part-I-of-N.inprogress
 * (renamed to OUTPUT.part-I-of-N by commit_partition once complete), its rejects beside it unless
 * --rejects names a file. */
static void partition_setup(fw_batch_options *o, const char *output, const char *rejects, uint32_t index,
                            uint32_t count, char *final, size_t final_cap, char *work, size_t work_cap, char *rej,
                            size_t rej_cap) {
    o->part_index = index;
    o->part_count = count;
    fw_batch_part_path(output, index, count, final, final_cap);
    size_t ol = strlen(output);
    o->output_kind = (ol > 6 && strcasecmp(output + ol - 6, ".jsonl") == 0) ||
                             (ol > 7 && strcasecmp(output + ol - 7, ".ndjson") == 0)
                         ? FW_BATCH_OUT_JSONL
                         : FW_BATCH_OUT_CSV;
    snprintf(work, work_cap, "%s.inprogress", final);
    if (!rejects) {
        snprintf(rej, rej_cap, "%s.rejects.csv", final);
        o->reject_path = rej;
    } else {
        o->reject_path = rejects;
    }
    o->output = work;
}

/* A complete partition is committed once: renamed into place, the directory synced. */
static int commit_partition(const char *work, const char *final) {
    double t0 = fw_now_seconds();
    if (rename(work, final) != 0) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "commit %s: %s", final, strerror(errno));
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", final);
    char *sl = strrchr(dir, '/');
    if (sl) *sl = 0;
    int dfd = open(sl ? (*dir ? dir : "/") : ".", O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (getenv("FLYWHEEL_BATCH_LOG"))
        fprintf(stderr, "batch phases: commit of %s: rename + directory fsync %.1f ms\n", final, (fw_now_seconds() - t0) * 1e3);
    return FW_EXIT_OK;
}

/* --partition claim/N: "claim" and N, or false. */
static bool claim_spec(const char *spec, uint32_t *count) {
    if (!spec || strncmp(spec, "claim/", 6) != 0) return false;
    char *end;
    errno = 0;
    unsigned long n = strtoul(spec + 6, &end, 10);
    *count = (errno || *end || spec[6] == '-' || n > 1000000) ? 0 : (uint32_t)n;
    return true;
}

/* The job every worker of --partition claim/N shares: the output's absolute path and N (workers on
 * several machines name the output by the same path on a shared file system). */
static void claim_job(const char *output, uint32_t count, char *job, size_t cap) {
    char dir[4096];
    const char *sl = strrchr(output, '/');
    const char *base = sl ? sl + 1 : output;
    snprintf(dir, sizeof dir, "%.*s", sl ? (int)(sl - output) + (sl == output) : 1, sl ? output : ".");
    char real[4096];
    if (!realpath(dir, real)) snprintf(real, sizeof real, "%s", dir);
    snprintf(job, cap, "batch:%.4095s%s%.4000s#%u", real, strcmp(real, "/") ? "/" : "", base, count);
}


/* --partition claim/N: takes partitions of the job from the store one after another, scores and
 * commits each, and marks it done; waits while the other workers hold the rest (a worker that
 * dies gives its partition back, and this one takes it); returns once every partition is done. */
static int run_claimed(fw_batch_bundle *bb, const fw_batch_options *o, const char *output, const char *rejects,
                       uint32_t count, bool quiet) {
    char job[8300];
    claim_job(output, count, job, sizeof job);
    fw_err err;
    fw_err_clear(&err);
    fw_store_claims *cl = NULL;
    fw_status st = fw_store_claims_open(o->home, job, count, &cl, &err);
    if (st) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "partition claims: %s", err.msg);
    uint32_t scored = 0, found = 0, claims = 0;
    double claim_ms_sum = 0, claim_ms_max = 0;
    int code = FW_EXIT_OK;
    while (!stop_asked) {
        uint32_t i;
        uint64_t t0 = fw_now_ns();
        st = fw_store_claims_next(cl, &i, &err);
        if (st == FW_ENOTFOUND) break; /* every partition is done */
        if (st == FW_EBUSY) {          /* the others hold the rest: wait for them, or for one to die */
            usleep(100 * 1000);
            continue;
        }
        if (st) {
            code = fw_cli_fail(CMD, FW_EXIT_FAILURE, "partition claims: %s", err.msg);
            break;
        }
        double ms = (double)(fw_now_ns() - t0) / 1e6;
        claims++;
        claim_ms_sum += ms;
        if (ms > claim_ms_max) claim_ms_max = ms;
        char final[1100], work[1200], rej[1200];
        fw_batch_options po = *o;
        partition_setup(&po, output, rejects, i, count, final, sizeof final, work, sizeof work, rej, sizeof rej);
        if (access(final, F_OK) != 0) { /* not committed yet (a worker may have died after its commit) */
            fw_batch_summary sum;
            st = fw_batch_run(fw_batch_bundle_model(bb), &po, &sum, &err);
            if (!quiet || st) fw_batch_summary_print(&sum, stderr);
            if (st) {
                fw_store_claims_release(cl, i);
                code = fw_cli_fail(CMD, fw_batch_exit_code(st, &sum), "partition %u/%u: %s", i, count, err.msg);
                break;
            }
            code = commit_partition(work, final);
            if (code) {
                fw_store_claims_release(cl, i);
                break;
            }
            scored++;
        } else {
            found++;
        }
        if (fw_store_claims_done(cl, i, &err) != FW_OK) {
            code = fw_cli_fail(CMD, FW_EXIT_FAILURE, "partition %u/%u committed, but: %s", i, count, err.msg);
            break;
        }
    }
    fw_store_claims_close(cl);
    if (stop_asked && !code) code = fw_cli_fail(CMD, FW_EXIT_FAILURE, "interrupted: the partitions left are for the other workers");
    if (!quiet || code)
        fprintf(stderr, "batch: partition claims of %s (%u partitions): this worker scored %u, found %u committed; "
                        "claim %.2f ms mean, %.2f ms max\n",
                output, count, scored, found, claims ? claim_ms_sum / claims : 0.0, claim_ms_max);
    return code;
}

int fw_cmd_batch(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "history") == 0) return cmd_history(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "merge") == 0) return cmd_merge(argc - 1, argv + 1);
    const char *model = NULL, *ids = NULL, *stamp = NULL, *partition = NULL, *in_format = NULL, *out_format = NULL;
    bool quiet = false;
    fw_batch_options o;
    fw_batch_options_init(&o);
    fw_opt opts[] = {
        {"--model", 0, FW_OPT_STRING, &model, "REF",
         "registered model: NAME (production alias, else latest), NAME@ALIAS,\n"
         "NAME@VERSION; or a path to a .fwm file"},
        {"--input", 0, FW_OPT_STRING, &o.input, "FILE", "rows to score"},
        {"--output", 0, FW_OPT_STRING, &o.output, "OUT", "FILE.csv, FILE.jsonl or store (default: store)"},
        {"--id", 0, FW_OPT_STRING, &ids, "COLS",
         "id column(s), comma-separated (default: the project's data.id when\n"
         "the input has it, else the input line number)"},
        {"--threads", 0, FW_OPT_INT, &o.threads, "N", "scorer threads (default: all cores)",
         FW_OPT_RANGE(o.threads, 1, 64)},
        {.kind = FW_OPT_SECTION,
         .help = "\nrecommendations (a pointwise model scores every (entity, item) pair; streams over entities,\n"
                 "holds the item file in memory; a new item needs no retraining):"},
        {"--entities", 0, FW_OPT_STRING, NULL, "FILE", "the entities (same as --input): one output group per entity",
         .same_as = "--input"},
        {"--items", 0, FW_OPT_STRING, &o.items, "FILE",
         "the candidate items; the model's inputs are taken from the item\n"
         "file when it has the column, else from the entity"},
        {"--item-id", 0, FW_OPT_STRING, &o.item_id_column, "COL",
         "the items' id column (default: its first column that is not an input)"},
        {"--top-k", 0, FW_OPT_INT, &o.top_k, "K", "keep the K best items per entity, best first (default " STR(FW_BATCH_DEFAULT_TOP_K) ")",
         FW_OPT_RANGE(o.top_k, 1, 1000000)},
        {.kind = FW_OPT_SECTION, .help = "\nselection, errors, scheduling:"},
        {"--top-fraction", 0, FW_OPT_DOUBLE, &o.top_fraction, "F",
         "keep only the highest-scoring fraction F of rows (0 < F <= 1); holds\n"
         "24 bytes per row in memory for the selection",
         .lo = 1e-12, .hi = 1},
        {"--score-class", 0, FW_OPT_STRING, &o.score_class, "CLASS",
         "multiclass: rank by this class's probability (default: the max)"},
        {"--rejects", 0, FW_OPT_STRING, &o.reject_path, "FILE", "reject file (default OUTPUT.rejects.csv)"},
        {"--strict", 0, FW_OPT_FLAG, &o.strict, NULL, "the first bad row fails the run (default: reject it and go on)"},
        {"--allow-missing-columns", 0, FW_OPT_FLAG, &o.allow_missing_columns, NULL,
         "score a CSV that lacks some of the model's input columns (they are\n"
         "missing on every row; default: refuse, naming them)"},
        {"--resume", 0, FW_OPT_FLAG, &o.resume, NULL, "continue an interrupted run of the same job from its checkpoint"},
        {"--job", 0, FW_OPT_STRING, &o.job, "NAME", "job name for the lock and history (default MODEL-OUTPUT)"},
        {"--block-rows", 0, FW_OPT_INT, &o.block_rows, "N", "rows per block (default " STR(FW_BATCH_DEFAULT_BLOCK_ROWS) ")",
         FW_OPT_RANGE(o.block_rows, 1, 1 << 20)},
        {"--checkpoint-rows", 0, FW_OPT_INT, &o.checkpoint_rows, "N", "rows between checkpoints (default " STR(FW_BATCH_DEFAULT_CHECKPOINT_ROWS) ")",
         FW_OPT_RANGE(o.checkpoint_rows, 1, 1000000000000)},
        {"--timestamp", 0, FW_OPT_STRING, &stamp, "T",
         "the run's timestamp written with every answer: Unix milliseconds or\n"
         "ISO 8601 (default: now; a resumed run keeps its original one)"},
        {"--home", 0, FW_OPT_STRING, &o.home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {.kind = FW_OPT_SECTION, .help = "\nseveral workers, pipes (docs/SCALING.md):"},
        {"--partition", 0, FW_OPT_STRING, &partition, "I/N",
         "score only partition I of N of the input (records starting in bytes\n"
         "[size*I/N, size*(I+1)/N)), into OUTPUT.part-I-of-N, renamed into place once\n"
         "complete (a committed partition is not run again); auto: the MPI rank /\n"
         "Slurm array task from the environment; claim/N: take partitions of N\n"
         "from the store (--home; PostgreSQL: FOR UPDATE SKIP LOCKED) until every\n"
         "one is done, with any number of workers; then: batch merge"},
        {"--input-format", 0, FW_OPT_STRING, &in_format, "csv|jsonl", "with --input -: what stdin holds (default csv, header first)"},
        {"--output-format", 0, FW_OPT_STRING, &out_format, "csv|jsonl", "with --output -: what goes to stdout (default csv)"},
        {"--quiet", 0, FW_OPT_FLAG, &quiet, NULL,
         "no progress bar or summary (the bar is drawn only when stderr is a\n"
         "terminal; the summary always goes to stderr)"},
    };
    fw_args a = {.cmd = CMD, .usage = usage_text, .epilog = epilog, .opts = opts, .n_opts = sizeof opts / sizeof *opts};
    int code;
    if (!fw_args_parse(&a, argc, argv, 1, &code)) return code;
    if (!model) return fw_cli_fail(CMD, FW_EXIT_USAGE, "--model NAME[@ALIAS|@VERSION] is required");
    if (!o.input) return fw_cli_fail(CMD, FW_EXIT_USAGE, "--input FILE (or --entities FILE) is required");
    if (!o.output) o.output = "store";
    o.progress = !quiet;
    /* --input - / --output -: through files in a private temporary directory (the engine reads
     * and writes files: checkpoints, input order) */
    bool pipe_in = strcmp(o.input, "-") == 0, pipe_out = strcmp(o.output, "-") == 0;
    char tmpdir[1024] = "", in_path[1100], out_path[1100];
    if (in_format && strcmp(in_format, "csv") != 0 && strcmp(in_format, "jsonl") != 0)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--input-format: expected csv or jsonl, got '%s'", in_format);
    if (out_format && strcmp(out_format, "csv") != 0 && strcmp(out_format, "jsonl") != 0)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--output-format: expected csv or jsonl, got '%s'", out_format);
    if ((pipe_in || pipe_out) && partition)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--partition cuts a file: it does not go with --input - or --output -");
    if (pipe_in || pipe_out) {
        const char *td = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/flywheel-batch-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmpdir)) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s: %s", tmpdir, strerror(errno));
        if (pipe_in) {
            snprintf(in_path, sizeof in_path, "%s/input.%s", tmpdir, in_format ? in_format : "csv");
            fw_err e0;
            fw_err_clear(&e0);
            if (spool_stdin(in_path, &e0) != FW_OK) {
                remove_tree(tmpdir);
                return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", e0.msg);
            }
            o.input = in_path;
        }
        if (pipe_out) {
            snprintf(out_path, sizeof out_path, "%s/answers.%s", tmpdir, out_format ? out_format : "csv");
            o.output = out_path;
            o.record_history = false; /* one pipe chunk is not a job worth a history row */
        }
    }
    /* --partition: this worker's part of the input, committed by a rename once complete;
     * claim/N: the partitions this worker takes from the store, one after another */
    char part_final[1100] = "", part_work[1200], part_rej[1200];
    const char *whole_output = o.output, *rejects = o.reject_path;
    uint32_t claim_count = 0;
    bool claiming = claim_spec(partition, &claim_count);
    if (partition) {
        fw_err e0;
        fw_err_clear(&e0);
        if (claiming ? claim_count == 0 : fw_batch_partition_parse(partition, &o.part_index, &o.part_count, &e0) != FW_OK)
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "%s",
                               claiming ? "--partition claim/N: expected N, a count of partitions (1 <= N <= 1000000)"
                                        : e0.msg);
        if (strcmp(o.output, "store") == 0)
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "--partition writes OUTPUT.part-I-of-N files: give --output FILE");
    }
    if (partition && !claiming) {
        fw_batch_part_path(o.output, o.part_index, o.part_count, part_final, sizeof part_final);
        if (access(part_final, F_OK) == 0) {
            fprintf(stderr, "batch: partition %u/%u of %s is already committed (%s): nothing to do\n", o.part_index,
                    o.part_count, o.output, part_final);
            return FW_EXIT_OK;
        }
        partition_setup(&o, whole_output, rejects, o.part_index, o.part_count, part_final, sizeof part_final, part_work,
                        sizeof part_work, part_rej, sizeof part_rej);
    }
    if (stamp) {
        char *end;
        long long ms = strtoll(stamp, &end, 10);
        double secs;
        if (end != stamp && !*end && ms > 0)
            o.now_ms = ms;
        else if (fw_parse_timestamp(stamp, strlen(stamp), &secs))
            o.now_ms = (int64_t)llround(secs * 1000.0);
        else
            return fw_cli_fail(CMD, FW_EXIT_USAGE, "--timestamp: expected Unix milliseconds or ISO 8601, got '%s'", stamp);
    }
    if (o.items && fw_args_seen(&a, "--top-fraction"))
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--top-fraction cannot be combined with --items");
    char *idbuf = NULL;
    const char *idv[MAX_IDS];
    if (ids) {
        idbuf = fw_strdup(ids);
        if (!idbuf) return fw_cli_fail(CMD, FW_EXIT_FAILURE, "out of memory");
        char *save = NULL;
        for (char *t = strtok_r(idbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (o.n_id_columns == MAX_IDS) {
                fw_free(idbuf);
                return fw_cli_fail(CMD, FW_EXIT_USAGE, "--id: at most %d columns", MAX_IDS);
            }
            idv[o.n_id_columns++] = t;
        }
        o.id_columns = idv;
    }
    fw_err err;
    fw_err_clear(&err);
    fw_batch_bundle *bb = NULL;
    size_t ml = strlen(model);
    double load_t0 = fw_now_seconds();
    fw_status st = ml > 4 && strcmp(model + ml - 4, ".fwm") == 0 && access(model, F_OK) == 0
                       ? fw_batch_bundle_open_file(model, &bb, &err)
                       : fw_batch_bundle_open(o.home, model, &bb, &err);
    if (st) {
        fw_free(idbuf);
        return fw_cli_fail(CMD, st == FW_EINVAL ? FW_EXIT_USAGE : FW_EXIT_FAILURE, "%s", err.msg);
    }
    if (getenv("FLYWHEEL_BATCH_LOG"))
        fprintf(stderr, "batch phases: model load %.1f ms\n", (fw_now_seconds() - load_t0) * 1e3);
    if (!ids) {
        /* the project's data.id names the rows when --id is not given (and the input has it) */
        const char *pid = fw_bundle_meta_str(fw_batch_bundle_get(bb), FW_KV_DATA_ID);
        if (pid && *pid) {
            idv[0] = pid;
            o.id_columns = idv;
            o.n_id_columns = 1;
            o.id_columns_optional = true;
        }
    }
    /* Every block allocates and frees the same few MiB-sized buffers (the parser's): keep them in
     * the heap instead of fresh mmaps, whose page faults cost more than the parse on a VM. */
    mallopt(M_MMAP_THRESHOLD, 16 << 20); /* at most 32 MiB on 64-bit glibc */
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_ARENA_MAX, 1); /* thread arenas shrink their heaps (and fault again) whatever the above */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (claiming) {
        code = run_claimed(bb, &o, whole_output, rejects, claim_count, quiet);
        fw_batch_bundle_free(bb);
        fw_free(idbuf);
        return code;
    }
    fw_batch_summary sum;
    st = fw_batch_run(fw_batch_bundle_model(bb), &o, &sum, &err);
    code = fw_batch_exit_code(st, &sum);
    if (st && st != FW_EINTERRUPTED && st != FW_EBUSY) {
        /* a failed run: no "0 written to FILE" line — say what exists and what does not */
        const char *out = sum.output[0] ? sum.output : o.output;
        bool file = strcmp(out, "store") != 0 && access(out, F_OK) == 0;
        fprintf(stderr, "batch: FAILED after %" PRIu64 " rows read (%" PRIu64 " scored, %" PRIu64 " rejected): %s\n",
                sum.rows_read, sum.rows_scored, sum.rows_rejected,
                strcmp(out, "store") == 0 ? "no answers were committed to the store"
                : file ? "the output file exists but this run did not complete it"
                       : "no output file was written");
    } else if (!quiet || st) {
        fw_batch_summary_print(&sum, stderr);
    }
    if (st) fw_cli_fail(CMD, code, "%s", err.msg);
    if (!st && part_final[0]) code = commit_partition(o.output, part_final); /* once; a re-run finds it */
    if (!st && pipe_out) {
        fw_err_clear(&err);
        if (copy_to_stdout(o.output, &err) != FW_OK) code = fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    }
    if (tmpdir[0]) remove_tree(tmpdir);
    fw_batch_bundle_free(bb);
    fw_free(idbuf);
    return code;
}
