/* cmd_describe.c — owns `flywheel describe`: load a data file, print its inferred schema and
 * per-column profile (text or --json), and optionally write an inferred project file. */
#include "cli/args.h"
#include "cli/cli.h"

#include "core/alloc.h"
#include "data/load.h"
#include "data/profile.h"
#include "project/project.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: flywheel describe FILE [--label COL] [--json] [--write-project FILE]\n"
    "\n"
    "Loads a CSV or JSON Lines file (optionally .gz), infers each column's type (numeric,\n"
    "categorical, text, timestamp) and prints a profile: missing rate, distinct count,\n"
    "min/max/mean/quantiles or top categories, and the label's balance.\n"
    "\n";

#define MAX_OVERRIDES 64

/* What a careful look at the table would catch before training: identifiers, rows without a
 * label, timestamps (a random split leaks the future). One line each into out. */
static void data_warnings(const fw_dataset *ds, const char *label, fw_buf *out) {
    for (size_t c = 0; c < ds->n_cols; c++) {
        const fw_column *col = &ds->cols[c];
        if (label && !strcmp(col->name, label)) {
            size_t missing = 0;
            for (size_t r = 0; r < ds->n_rows; r++) missing += col->num ? isnan(col->num[r]) : col->code[r] < 0;
            if (missing)
                fw_buf_printf(out, "label '%s' is missing in %zu of %zu rows: train stops at the first one unless "
                                   "--skip-bad-rows (then they are skipped and counted)\n", label, missing, ds->n_rows);
            continue;
        }
        size_t nd = 0;
        if (fw_project_id_like(ds, c, &nd))
            fw_buf_printf(out, "column '%s' looks like an identifier (%zu distinct values in %zu rows): train leaves it "
                               "out of the features (data.exclude) unless the project lists it\n", col->name, nd, ds->n_rows);
        else if (col->type == FW_COL_TIMESTAMP)
            fw_buf_printf(out, "column '%s' holds timestamps: train splits by time on it (data.time) unless the project "
                               "sets split.kind; a random split would let the model see the future\n", col->name);
    }
}

int fw_cmd_describe(int argc, char **argv) {
    const char *cmd = "describe";
    const char *label = NULL, *write_project = NULL;
    bool json = false;
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    const char *types[MAX_OVERRIDES];
    size_t n_types = 0;
    fw_opt opts[] = {
        {"--label", 0, FW_OPT_STRING, &label, "COL", "the label column (adds label balance; needed for --write-project)"},
        {"--type", 0, FW_OPT_LIST, types, "COL=TYPE", "override an inferred type (repeatable)", .count = &n_types,
         .cap = MAX_OVERRIDES},
        {"--json", 0, FW_OPT_FLAG, &json, NULL, "one JSON object on stdout"},
        {"--write-project", 0, FW_OPT_STRING, &write_project, "FILE",
         "infer a complete project file (task, features, metric, baseline)"},
        {"--skip-bad-rows", 0, FW_OPT_FLAG, &lo.skip_bad_rows, NULL,
         "reject malformed rows (counted, first ten shown) instead of failing"},
        {"--sample-rows", 0, FW_OPT_INT, &lo.sample_rows, "N", "rows used for type inference (default 1000)",
         FW_OPT_RANGE(lo.sample_rows, 1, 100000000), .expect = "a positive integer"},
    };
    fw_args args = {.cmd = cmd, .usage = usage_text, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 1,
                    .pos_name = "data file"};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    const char *path = args.n_pos ? args.pos[0] : NULL;
    fw_type_override ov[MAX_OVERRIDES];
    char *ov_names[MAX_OVERRIDES];
    size_t n_ov = 0;
    int rc = FW_EXIT_OK;
    for (size_t i = 0; i < n_types; i++) {
        const char *v = types[i], *eq = strrchr(v, '=');
        fw_col_type t;
        if (!eq || eq == v || !fw_col_type_parse(eq + 1, &t)) {
            rc = fw_cli_fail(cmd, FW_EXIT_USAGE, "--type: expected COL=numeric|categorical|text|timestamp, got '%s'", v);
            goto done;
        }
        if (!(ov_names[n_ov] = fw_strndup(v, (size_t)(eq - v)))) {
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "out of memory");
            goto done;
        }
        ov[n_ov] = (fw_type_override){ov_names[n_ov], t};
        n_ov++;
    }
    if (!path) {
        rc = fw_cli_fail(cmd, FW_EXIT_USAGE, "give a data file (see flywheel describe --help)");
        goto done;
    }
    if (write_project && !label) {
        rc = fw_cli_fail(cmd, FW_EXIT_USAGE, "--write-project needs --label COL");
        goto done;
    }
    lo.overrides = ov;
    lo.n_overrides = n_ov;
    fw_err err;
    fw_err_clear(&err);
    fw_dataset *ds = NULL;
    fw_load_result res;
    fw_status st = fw_data_load(path, &lo, &ds, &res, &err);
    if (st) {
        rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    if (label && fw_dataset_find(ds, label) < 0) {
        rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s: no column named '%s' (--label)", path, label);
        fw_dataset_free(ds);
        goto done;
    }
    fw_profile *prof = NULL;
    st = fw_profile_build(ds, label, &prof, &err);
    if (st) {
        rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        fw_dataset_free(ds);
        goto done;
    }
    fw_buf warn;
    fw_buf_init(&warn);
    data_warnings(ds, label, &warn);
    fw_buf_put_u8(&warn, 0);
    if (json) {
        char *js = fw_profile_json(prof);
        if (!js || !fw_buf_ok(&warn)) {
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "out of memory");
        } else {
            /* the warnings join the profile object as "warnings": [lines] */
            size_t len = strlen(js);
            while (len && (js[len - 1] == '\n' || js[len - 1] == ' ')) len--;
            if (len && js[len - 1] == '}') {
                fwrite(js, 1, len - 1, stdout);
                fputs(",\"warnings\":[", stdout);
                bool first = true;
                for (const char *s = (const char *)warn.data; *s;) {
                    const char *e = strchr(s, '\n');
                    printf("%s\"", first ? "" : ",");
                    for (; s < e; s++) {
                        if (*s == '"' || *s == '\\') putchar('\\');
                        putchar(*s);
                    }
                    putchar('"');
                    first = false;
                    s = e + 1;
                }
                puts("]}");
            } else {
                puts(js);
            }
        }
        fw_free(js);
    } else {
        fw_profile_print(prof, stdout);
        for (const char *s = (const char *)warn.data; s && *s;) {
            const char *e = strchr(s, '\n');
            printf("%swarning: %.*s\n", s == (const char *)warn.data ? "\n" : "", (int)(e - s), s);
            s = e + 1;
        }
        if (res.rejected) {
            printf("\n%zu rows rejected (first %zu):\n", res.rejected, res.n_kept);
            for (size_t i = 0; i < res.n_kept; i++) printf("  %s\n", res.kept[i].msg);
        }
    }
    fw_buf_free(&warn);
    fw_profile_free(prof);
    if (write_project) {
        fw_project p;
        st = fw_project_from_args(path, label, &p, &err);
        if (!st) st = fw_project_resolve(&p, ds, &err);
        if (!st) st = fw_project_write(&p, write_project, &err);
        if (st)
            rc = fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        else if (!json)
            printf("\nproject written to %s (task %s, metric %s, baseline inferred)\n", write_project,
                   fw_task_name(p.task), p.metric ? p.metric : "default");
        fw_project_free(&p);
    }
    fw_dataset_free(ds);
done:
    for (size_t i = 0; i < n_ov; i++) fw_free(ov_names[i]);
    return rc;
}
