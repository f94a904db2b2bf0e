/* cmd_models.c — owns `flywheel models`: list, show, diff, promote, rollback, alias, archive,
 * delete, export, import, history and check over the registry, each with --json and --help. */
#include "artifact/artifact.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "eval/report.h"
#include "registry/registry.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "models"

static const char *const usage_text =
    "usage: flywheel models <subcommand> [options]\n"
    "\n"
    "subcommands:\n"
    "  list [NAME]                 model names (or the versions of NAME)\n"
    "  show REF [--html FILE]      one version: metrics, lineage, aliases, artifact; --html writes\n"
    "                              the HTML report kept with the version when train registered it\n"
    "  diff REF REF                two versions' metrics and parameters side by side\n"
    "  promote REF                 point production (or --alias) at REF, by the promotion rule\n"
    "  rollback NAME               production back to the version before the last promotion\n"
    "  alias REF ALIAS             point ALIAS at REF;  alias --remove NAME ALIAS\n"
    "  archive REF                 keep but never serve or promote\n"
    "  delete REF                  hide a version and free its artifact\n"
    "  export REF PATH             copy the artifact (+ PATH.json metadata) out\n"
    "  import PATH [--name NAME]   verify and register an exported artifact\n"
    "  history [NAME]              the audit log: who did what, when, from which command\n"
    "  check [--clean]             verify every artifact and alias in the store; list (--clean:\n"
    "                              delete) temporary files left by interrupted writes and orphan\n"
    "                              artifacts no version refers to\n"
    "\n"
    "REF is NAME (its production version, else its latest), NAME@ALIAS, NAME@3 or NAME@v3.\n"
    "\n";

static const char epilog[] = "\nexit codes: 0 success, 1 failure (refused, not found, damaged), 2 usage error\n";

typedef struct opts {
    const char *home, *alias, *reason, *name, *html;
    double min_improvement;
    bool json, force, remove, clean;
    const char *pos[4];
    int n_pos;
} opts;

enum { N_OPTS = 11 };

/* The option table (every subcommand takes the same options; each says which ones it uses). */
static void models_args(opts *o, fw_opt *table, fw_args *a) {
    const fw_opt t[N_OPTS] = {
        {.kind = FW_OPT_SECTION, .help = "options (every subcommand):"},
        {"--home", 0, FW_OPT_STRING, &o->home, "DIR", "Flywheel home (default $FLYWHEEL_HOME, else ./.flywheel)"},
        {"--json", 0, FW_OPT_FLAG, &o->json, NULL, "machine-readable output on stdout"},
        {"--force", 0, FW_OPT_FLAG, &o->force, NULL, "promote past the rule; archive/delete under an alias"},
        {"--alias", 0, FW_OPT_STRING, &o->alias, "NAME", "promote/rollback: the alias (default production)"},
        {"--min-improvement", 0, FW_OPT_DOUBLE, &o->min_improvement, "X",
         "promote: required margin over the baseline (default: the\nversion's project setting)",
         .lo = 0, .hi = INFINITY, .expect = "a number >= 0"},
        {"--reason", 0, FW_OPT_STRING, &o->reason, "TEXT", "promote: note for the audit log"},
        {"--name", 0, FW_OPT_STRING, &o->name, "NAME", "import: register under this name"},
        {"--remove", 0, FW_OPT_FLAG, &o->remove, NULL, "alias: remove instead of set"},
        {"--html", 0, FW_OPT_STRING, &o->html, "FILE", "show: write the HTML report kept with the version"},
        {"--clean", 0, FW_OPT_FLAG, &o->clean, NULL, "check: delete leftover temporary files and orphan artifacts"},
    };
    memcpy(table, t, sizeof t);
    *a = (fw_args){.cmd = CMD, .usage = usage_text, .epilog = epilog, .opts = table, .n_opts = N_OPTS, .max_pos = 4};
}

/* Parses argv[2..] (after the subcommand); returns 0, or the exit code when the command is done
 * (-1 after --help: exit 0). */
static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->min_improvement = NAN;
    fw_opt table[N_OPTS];
    fw_args a;
    models_args(o, table, &a);
    int code;
    if (!fw_args_parse(&a, argc, argv, 2, &code)) return code == FW_EXIT_OK ? -1 : code;
    for (size_t i = 0; i < a.n_pos; i++) o->pos[o->n_pos++] = a.pos[i];
    return 0;
}

static int need(const opts *o, int lo, int hi, const char *sub, const char *what) {
    if (o->n_pos < lo || o->n_pos > hi)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "%s expects %s (see flywheel models --help)", sub, what);
    return 0;
}

static int fail(const char *sub, const fw_err *err) {
    return fw_cli_fail(CMD, err->status == FW_EINVAL ? FW_EXIT_USAGE : FW_EXIT_FAILURE, "%s: %s", sub, err->msg);
}

static void print_buf(fw_buf *b) {
    fwrite(b->data, 1, b->len, stdout);
    fputc('\n', stdout);
}

static void when(int64_t ms, char out[40]) { fw_format_iso8601(ms, out, 40); }

/* ---- list ----------------------------------------------------------------------------------- */
static int do_list(fw_registry *r, const opts *o) {
    fw_err err;
    fw_buf b;
    fw_buf_init(&b);
    if (o->n_pos == 1) { /* versions of one name */
        fw_version_rec *v;
        size_t n;
        if (fw_registry_versions(r, o->pos[0], &v, &n, &err)) return fail("list", &err);
        fw_alias_rec *al = NULL;
        size_t na = 0;
        if (fw_registry_aliases(r, o->pos[0], &al, &na, &err)) na = 0;
        if (o->json) {
            fw_buf_put_u8(&b, '[');
            for (size_t i = 0; i < n; i++) {
                if (i) fw_buf_put_u8(&b, ',');
                fw_registry_version_json(&v[i], al, na, &b);
            }
            fw_buf_put_u8(&b, ']');
            print_buf(&b);
        } else {
            /* the metric is named in each row: versions may be trained for different metrics */
            printf("%-8s %-9s %-24s %-8s %-26s %-10s %s\n", "VERSION", "STATUS", "CREATED", "FAMILY",
                   "TEST METRIC", "BASELINE", "ALIASES");
            for (size_t i = 0; i < n; i++) {
                char t[40], m[64];
                when(v[i].created_ms, t);
                snprintf(m, sizeof m, "%s %.4f", v[i].metric_name ? v[i].metric_name : "metric", v[i].metric);
                printf("%-8" PRId64 " %-9s %-24s %-8s %-26s %-10.4f", v[i].version, v[i].status, t,
                       v[i].family ? v[i].family : "", m, v[i].baseline_metric);
                for (size_t k = 0; k < na; k++)
                    if (al[k].version == v[i].version) printf(" %s", al[k].alias);
                putchar('\n');
            }
        }
        fw_alias_recs_free(al, na);
        for (size_t i = 0; i < n; i++) fw_version_rec_free(&v[i]);
        fw_free(v);
        fw_buf_free(&b);
        return FW_EXIT_OK;
    }
    fw_model_summary *m;
    size_t n;
    if (fw_registry_list(r, &m, &n, &err)) return fail("list", &err);
    if (o->json) {
        fw_buf_put_u8(&b, '[');
        for (size_t i = 0; i < n; i++) {
            fw_buf_put(&b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
            fw_json_put_str(&b, m[i].name);
            fw_buf_printf(&b, ",\"versions\":%" PRId64 ",\"latest\":%" PRId64 ",\"aliases\":{", m[i].n_versions,
                          m[i].latest_version);
            /* "production=3,staging=4" → {"production":3,"staging":4} (aliases have no ',' or '=') */
            const char *p = m[i].aliases;
            bool first = true;
            while (p && *p) {
                const char *eq = strchr(p, '='), *comma = strchr(p, ',');
                if (!eq) break;
                if (!first) fw_buf_put_u8(&b, ',');
                first = false;
                fw_buf_put_u8(&b, '"');
                fw_buf_put(&b, p, (size_t)(eq - p));
                fw_buf_put(&b, "\":", 2);
                size_t vl = comma ? (size_t)(comma - eq - 1) : strlen(eq + 1);
                fw_buf_put(&b, eq + 1, vl);
                p = comma ? comma + 1 : NULL;
            }
            fw_buf_put(&b, "}}", 2);
        }
        fw_buf_put_u8(&b, ']');
        print_buf(&b);
    } else {
        printf("%-32s %-9s %-7s %s\n", "NAME", "VERSIONS", "LATEST", "ALIASES");
        for (size_t i = 0; i < n; i++)
            printf("%-32s %-9" PRId64 " %-7" PRId64 " %s\n", m[i].name, m[i].n_versions, m[i].latest_version,
                   m[i].aliases ? m[i].aliases : "");
    }
    fw_model_summaries_free(m, n);
    fw_buf_free(&b);
    return FW_EXIT_OK;
}

/* ---- show ----------------------------------------------------------------------------------- */
/* show --html FILE: the report kept with the version (a note on stderr in --json mode). */
static int write_report(fw_registry *r, const fw_version_rec *v, const opts *o, int rc) {
    fw_err err;
    char *html = NULL;
    size_t len = 0;
    if (fw_registry_report_html(r, v, &html, &len, &err) != FW_OK ||
        fw_report_write_file(o->html, html, len, &err) != FW_OK) {
        fw_free(html);
        return fw_cli_fail(CMD, FW_EXIT_FAILURE, "show --html: %s", err.msg);
    }
    fw_free(html);
    if (o->json) fprintf(stderr, "report of %s@%" PRId64 " written to %s\n", v->name, v->version, o->html);
    else printf("  report:         written to %s\n", o->html);
    return rc;
}

static int do_show(fw_registry *r, const opts *o) {
    fw_err err;
    fw_version_rec v;
    if (fw_registry_resolve(r, o->pos[0], &v, &err)) return fail("show", &err);
    fw_alias_rec *al = NULL;
    size_t na = 0;
    if (fw_registry_aliases(r, v.name, &al, &na, &err)) na = 0;
    fw_buf b;
    fw_buf_init(&b);
    /* the artifact: verified, its metadata shown */
    uint8_t *bytes = NULL;
    size_t len = 0;
    fw_err aerr;
    fw_err_clear(&aerr);
    fw_status ast = fw_registry_read_artifact(r, &v, &bytes, &len, &aerr);
    fw_artifact *a = NULL;
    if (ast == FW_OK) ast = fw_artifact_open(bytes, len, &a, &aerr);
    if (o->json) {
        fw_buf_put(&b, "{\"version\":", 11);
        fw_registry_version_json(&v, al, na, &b);
        fw_buf_put(&b, ",\"artifact\":", 12);
        if (a) {
            fw_artifact_metadata_json(a, &b);
        } else {
            fw_buf_put(&b, "{\"error\":", 9);
            fw_json_put_str(&b, aerr.msg);
            fw_buf_put_u8(&b, '}');
        }
        fw_buf_put_u8(&b, '}');
        print_buf(&b);
    } else {
        char t[40];
        when(v.created_ms, t);
        printf("%s@%" PRId64 " (%s)\n", v.name, v.version, v.status);
        printf("  aliases:        ");
        for (size_t k = 0; k < na; k++)
            if (al[k].version == v.version) printf("%s ", al[k].alias);
        printf("\n  created:        %s by %s\n", t, v.created_by ? v.created_by : "?");
        printf("  task / family:  %s / %s\n", v.task ? v.task : "?", v.family ? v.family : "?");
        printf("  test %-10s %.6g (baseline %.6g, %s is better)\n", v.metric_name ? v.metric_name : "metric",
               v.metric, v.baseline_metric, v.greater_is_better ? "higher" : "lower");
        if (v.parent_version > 0) printf("  parent:         %s@%" PRId64 "\n", v.name, v.parent_version);
        printf("  data:           train %s, test %s\n", v.data_fp ? v.data_fp : "?", v.test_fp ? v.test_fp : "?");
        printf("  run:            %s\n", v.run_id ? v.run_id : "?");
        printf("  artifact:       %s (%" PRId64 " bytes)%s%s\n", v.artifact_hash, v.artifact_size,
               a ? ", verified" : " — ", a ? "" : aerr.msg);
        if (v.params_json) printf("  params:         %s\n", v.params_json);
        if (v.metrics_json) printf("  metrics:        %s\n", v.metrics_json);
    }
    int rc = a || ast == FW_OK ? FW_EXIT_OK : FW_EXIT_FAILURE;
    if (o->html) rc = write_report(r, &v, o, rc);
    fw_artifact_close(a);
    fw_free(bytes);
    fw_alias_recs_free(al, na);
    fw_version_rec_free(&v);
    fw_buf_free(&b);
    return rc;
}

/* ---- diff ----------------------------------------------------------------------------------- */
typedef struct kv_pair {
    char *key;
    char *val; /* JSON text of the leaf */
} kv_pair;
typedef struct kv_list {
    kv_pair *p;
    size_t n, cap;
} kv_list;

static void flatten(json_t *j, const char *prefix, kv_list *out) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            char key[512];
            snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
            flatten(v, key, out);
        }
        return;
    }
    if (FW_GROW(&out->p, &out->cap, out->n + 1)) return;
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
    out->p[out->n].key = fw_strdup(prefix);
    out->p[out->n].val = fw_strdup(s ? s : "null");
    free(s);
    if (out->p[out->n].key && out->p[out->n].val) {
        out->n++;
    } else {
        fw_free(out->p[out->n].key);
        fw_free(out->p[out->n].val);
    }
}

static void kv_free(kv_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        fw_free(l->p[i].key);
        fw_free(l->p[i].val);
    }
    fw_free(l->p);
}

static const char *kv_get(const kv_list *l, const char *key) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->p[i].key, key) == 0) return l->p[i].val;
    return NULL;
}

static void diff_section(const char *title, const char *ja, const char *jb, bool json, fw_buf *b) {
    kv_list A = {0}, B = {0};
    json_t *pa = ja ? json_loads(ja, 0, NULL) : NULL, *pb = jb ? json_loads(jb, 0, NULL) : NULL;
    if (pa) flatten(pa, "", &A);
    if (pb) flatten(pb, "", &B);
    json_decref(pa);
    json_decref(pb);
    if (json) fw_buf_printf(b, ",\"%s\":[", title);
    else printf("%s:\n", title);
    bool first = true;
    for (int side = 0; side < 2; side++) {
        const kv_list *L = side ? &B : &A, *O = side ? &A : &B;
        for (size_t i = 0; i < L->n; i++) {
            const char *key = L->p[i].key;
            if (side && kv_get(O, key)) continue; /* already shown from A */
            const char *va = side ? NULL : L->p[i].val;
            const char *vb = side ? L->p[i].val : kv_get(O, key);
            bool same = va && vb && strcmp(va, vb) == 0;
            if (json) {
                if (!first) fw_buf_put_u8(b, ',');
                fw_buf_put(b, "{\"key\":", 7);
                fw_json_put_str(b, key);
                fw_buf_printf(b, ",\"a\":%s,\"b\":%s,\"same\":%s}", va ? va : "null", vb ? vb : "null",
                              same ? "true" : "false");
            } else {
                printf("  %-36s %-22s %-22s%s\n", key, va ? va : "-", vb ? vb : "-", same ? "" : "  *");
            }
            first = false;
        }
    }
    if (json) fw_buf_put_u8(b, ']');
    kv_free(&A);
    kv_free(&B);
}

/* The resolved project a version was trained with (kept in its artifact), as a fw_malloc'd
 * NUL-terminated text, or NULL when it cannot be read. Comment lines are dropped. */
static char *version_project(fw_registry *r, const fw_version_rec *v) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    fw_artifact *a = NULL;
    fw_err err;
    char *out = NULL;
    const uint8_t *y;
    size_t yl;
    if (!fw_registry_read_artifact(r, v, &bytes, &len, &err) && !fw_artifact_open(bytes, len, &a, &err) &&
        fw_artifact_bytes(a, "train.project_yaml", &y, &yl) && (out = fw_malloc(yl + 1))) {
        size_t k = 0;
        for (size_t i = 0; i < yl;) {
            size_t e = i;
            while (e < yl && y[e] != '\n') e++;
            if (y[i] != '#') {
                memcpy(out + k, y + i, e - i);
                k += e - i;
                out[k++] = '\n';
            }
            i = e + 1;
        }
        out[k] = 0;
    }
    fw_artifact_close(a);
    fw_free(bytes);
    return out;
}

/* Lines of text a that b does not have (as a multiset, in a's order), each prefixed. */
static size_t lines_only_in(const char *a, const char *b, const char *mark, bool json, bool *first, fw_buf *out) {
    size_t n = 0;
    for (const char *s = a; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        size_t in_a = 0, in_b = 0;
        for (const char *t = a; *t;) { /* occurrences up to and including this one in a */
            const char *te = strchr(t, '\n');
            size_t tl = te ? (size_t)(te - t) : strlen(t);
            if (tl == len && !memcmp(t, s, len)) in_a++;
            if (t == s) break;
            t += tl + (te ? 1 : 0);
        }
        for (const char *t = b; *t;) {
            const char *te = strchr(t, '\n');
            size_t tl = te ? (size_t)(te - t) : strlen(t);
            if (tl == len && !memcmp(t, s, len)) in_b++;
            t += tl + (te ? 1 : 0);
        }
        if (in_a > in_b) {
            char line[600];
            snprintf(line, sizeof line, "%.*s", (int)(len < 590 ? len : 590), s);
            if (json) {
                fw_buf_printf(out, "%s{\"side\":\"%s\",\"line\":", *first ? "" : ",", mark[0] == '-' ? "a" : "b");
                fw_json_put_str(out, line);
                fw_buf_put_u8(out, '}');
            } else {
                printf("  %s %s\n", mark, line);
            }
            *first = false;
            n++;
        }
        s += len + (e ? 1 : 0);
    }
    return n;
}

/* What changed in the project between two versions: lines of one resolved project that the other
 * lacks ("-" only in a, "+" only in b). */
static void diff_project(fw_registry *r, const fw_version_rec *a, const fw_version_rec *b2, bool json, fw_buf *b) {
    char *pa = version_project(r, a), *pb = version_project(r, b2);
    bool first = true;
    if (json) fw_buf_printf(b, ",\"project\":[");
    else printf("project:\n");
    if (pa && pb) {
        size_t n = lines_only_in(pa, pb, "-", json, &first, b);
        n += lines_only_in(pb, pa, "+", json, &first, b);
        if (!n && !json) printf("  (the same)\n");
    } else if (!json) {
        printf("  (a version's artifact has no project record)\n");
    }
    if (json) fw_buf_put_u8(b, ']');
    fw_free(pa);
    fw_free(pb);
}

static int do_diff(fw_registry *r, const opts *o) {
    fw_err err;
    fw_version_rec a, b2;
    if (fw_registry_resolve(r, o->pos[0], &a, &err)) return fail("diff", &err);
    if (fw_registry_resolve(r, o->pos[1], &b2, &err)) {
        fw_version_rec_free(&a);
        return fail("diff", &err);
    }
    fw_buf b;
    fw_buf_init(&b);
    if (o->json) {
        /* the versions without their aliases (aliases move; a diff compares what was trained) */
        fw_buf_put(&b, "{\"a\":", 5);
        size_t at = b.len;
        fw_registry_version_json(&a, NULL, 0, &b);
        fw_buf_put(&b, ",\"b\":", 5);
        fw_registry_version_json(&b2, NULL, 0, &b);
        static const char noise[] = "\"aliases\":[],";
        for (size_t i = at; fw_buf_ok(&b) && i + sizeof noise - 1 <= b.len; i++)
            if (!memcmp(b.data + i, noise, sizeof noise - 1)) {
                memmove(b.data + i, b.data + i + sizeof noise - 1, b.len - i - (sizeof noise - 1));
                b.len -= sizeof noise - 1;
            }
    } else {
        char la[64], lb[64];
        snprintf(la, sizeof la, "%s@%" PRId64, a.name, a.version);
        snprintf(lb, sizeof lb, "%s@%" PRId64, b2.name, b2.version);
        printf("  %-36s %-22s %-22s\n", "", la, lb);
        printf("  %-36s %-22s %-22s\n", "family", a.family ? a.family : "-", b2.family ? b2.family : "-");
        printf("  %-36s %-22s %-22s%s\n", "data fingerprint", a.data_fp ? a.data_fp : "-",
               b2.data_fp ? b2.data_fp : "-",
               a.data_fp && b2.data_fp && strcmp(a.data_fp, b2.data_fp) == 0 ? "" : "  *");
        printf("  %-36s %-22s %-22s%s\n", "test fingerprint", a.test_fp ? a.test_fp : "-",
               b2.test_fp ? b2.test_fp : "-",
               a.test_fp && b2.test_fp && strcmp(a.test_fp, b2.test_fp) == 0 ? "" : "  *");
    }
    diff_section("metrics", a.metrics_json, b2.metrics_json, o->json, &b);
    diff_section("params", a.params_json, b2.params_json, o->json, &b);
    diff_project(r, &a, &b2, o->json, &b);
    if (o->json) {
        fw_buf_put_u8(&b, '}');
        print_buf(&b);
    }
    fw_buf_free(&b);
    fw_version_rec_free(&a);
    fw_version_rec_free(&b2);
    return FW_EXIT_OK;
}

/* ---- changes -------------------------------------------------------------------------------- */
static int report_ok(const opts *o, const char *json_fmt_name, const char *ref, int64_t version, const char *note) {
    if (o->json) {
        fw_buf b;
        fw_buf_init(&b);
        fw_buf_printf(&b, "{\"ok\":true,\"action\":\"%s\",\"ref\":", json_fmt_name);
        fw_json_put_str(&b, ref);
        if (version > 0) fw_buf_printf(&b, ",\"version\":%" PRId64, version);
        if (note) {
            fw_buf_put(&b, ",\"note\":", 8);
            fw_json_put_str(&b, note);
        }
        fw_buf_put_u8(&b, '}');
        print_buf(&b);
        fw_buf_free(&b);
    } else {
        printf("%s %s%s%s\n", json_fmt_name, ref, note ? ": " : "", note ? note : "");
    }
    return FW_EXIT_OK;
}

static int do_promote(fw_registry *r, const opts *o) {
    fw_promote_options po;
    fw_promote_options_init(&po);
    po.alias = o->alias;
    po.force = o->force;
    po.min_improvement = o->min_improvement;
    po.reason = o->reason;
    char note[600];
    fw_err err;
    if (fw_registry_promote(r, o->pos[0], &po, note, sizeof note, &err)) return fail("promote", &err);
    fw_version_rec v;
    int64_t ver = 0;
    if (fw_registry_resolve(r, o->pos[0], &v, &err) == FW_OK) {
        ver = v.version;
        fw_version_rec_free(&v);
    }
    return report_ok(o, "promoted", o->pos[0], ver, note);
}

static int do_rollback(fw_registry *r, const opts *o) {
    int64_t to = 0;
    fw_err err;
    if (fw_registry_rollback(r, o->pos[0], o->alias, &to, &err)) return fail("rollback", &err);
    char note[200];
    snprintf(note, sizeof note, "%s now points at version %" PRId64, o->alias ? o->alias : "production", to);
    return report_ok(o, "rolled back", o->pos[0], to, note);
}

static int do_alias(fw_registry *r, const opts *o) {
    fw_err err;
    if (o->remove) {
        if (fw_registry_alias_remove(r, o->pos[0], o->pos[1], &err)) return fail("alias", &err);
        return report_ok(o, "alias removed", o->pos[1], 0, NULL);
    }
    if (fw_registry_alias_set(r, o->pos[0], o->pos[1], o->force, &err)) return fail("alias", &err);
    return report_ok(o, "alias set", o->pos[0], 0, o->pos[1]);
}

static int do_status(fw_registry *r, const opts *o, bool del) {
    fw_err err;
    fw_status st = del ? fw_registry_delete(r, o->pos[0], o->force, &err) : fw_registry_archive(r, o->pos[0], o->force, &err);
    if (st) return fail(del ? "delete" : "archive", &err);
    return report_ok(o, del ? "deleted" : "archived", o->pos[0], 0, NULL);
}

static int do_export(fw_registry *r, const opts *o) {
    fw_err err;
    char written[4096];
    if (fw_registry_export(r, o->pos[0], o->pos[1], written, sizeof written, &err)) return fail("export", &err);
    return report_ok(o, "exported", o->pos[0], 0, written);
}

static int do_import(fw_registry *r, const opts *o) {
    fw_err err;
    int64_t v = 0;
    if (fw_registry_import(r, o->pos[0], o->name, &v, &err)) return fail("import", &err);
    return report_ok(o, "imported", o->pos[0], v, NULL);
}

static int do_history(fw_registry *r, const opts *o) {
    fw_err err;
    fw_audit_rec *h;
    size_t n;
    if (fw_registry_history(r, o->n_pos ? o->pos[0] : NULL, &h, &n, &err)) return fail("history", &err);
    if (o->n_pos && n == 0) {
        fw_version_rec v;
        if (fw_registry_resolve(r, o->pos[0], &v, &err)) return fail("history", &err);
        fw_version_rec_free(&v);
    }
    fw_buf b;
    fw_buf_init(&b);
    if (o->json) fw_buf_put_u8(&b, '[');
    for (size_t i = 0; i < n; i++) {
        char t[40];
        when(h[i].ts_ms, t);
        if (o->json) {
            if (i) fw_buf_put_u8(&b, ',');
            fw_buf_printf(&b, "{\"id\":%" PRId64 ",\"time\":\"%s\",\"name\":", h[i].id, t);
            fw_json_put_str(&b, h[i].name);
            fw_buf_put(&b, ",\"action\":", 10);
            fw_json_put_str(&b, h[i].action);
            fw_buf_printf(&b, ",\"version\":%" PRId64 ",\"alias\":", h[i].version);
            fw_json_put_str(&b, h[i].alias);
            fw_buf_printf(&b, ",\"from\":%" PRId64 ",\"to\":%" PRId64 ",\"forced\":%s,\"reason\":", h[i].from_version,
                          h[i].to_version, h[i].forced ? "true" : "false");
            fw_json_put_str(&b, h[i].reason);
            fw_buf_put(&b, ",\"command\":", 11);
            fw_json_put_str(&b, h[i].command);
            fw_buf_put(&b, ",\"user\":", 8);
            fw_json_put_str(&b, h[i].user);
            fw_buf_printf(&b, ",\"pid\":%" PRId64 "}", h[i].pid);
        } else {
            printf("%s  %-12s %s@%" PRId64, t, h[i].action, h[i].name, h[i].version);
            if (h[i].alias) printf("  %s: %" PRId64 " -> %" PRId64, h[i].alias, h[i].from_version, h[i].to_version);
            if (h[i].forced) printf("  FORCED");
            printf("  by %s: %s", h[i].user ? h[i].user : "?", h[i].command ? h[i].command : "?");
            if (h[i].reason) printf("  (%s)", h[i].reason);
            putchar('\n');
        }
    }
    if (o->json) {
        fw_buf_put_u8(&b, ']');
        print_buf(&b);
    }
    fw_buf_free(&b);
    fw_audit_recs_free(h, n);
    return FW_EXIT_OK;
}

static int do_check(fw_registry *r, const opts *o) {
    fw_err err;
    fw_buf rep;
    fw_buf_init(&rep);
    size_t problems = 0;
    if (fw_registry_check(r, &rep, &problems, &err)) {
        fw_buf_free(&rep);
        return fail("check", &err);
    }
    fw_buf left, orph;
    fw_buf_init(&left);
    fw_buf_init(&orph);
    size_t n_left = 0, n_orph = 0;
    if (fw_registry_leftovers(r, o->clean, &left, &n_left, &err) ||
        fw_registry_orphans(r, o->clean, &orph, &n_orph, &err)) {
        fw_buf_free(&rep);
        fw_buf_free(&left);
        fw_buf_free(&orph);
        return fail("check", &err);
    }
    if (o->json) {
        fw_buf b;
        fw_buf_init(&b);
        fw_buf_printf(&b, "{\"ok\":%s,\"problems\":%zu,\"report\":", problems ? "false" : "true", problems);
        fw_buf_put_u8(&rep, 0);
        fw_json_put_str(&b, (const char *)rep.data);
        fw_buf_printf(&b, ",\"leftover_temp_files\":%zu,\"removed\":%s,\"leftovers\":", n_left,
                      o->clean && n_left ? "true" : "false");
        fw_buf_put_u8(&left, 0);
        fw_json_put_str(&b, (const char *)left.data);
        fw_buf_printf(&b, ",\"orphan_artifacts\":%zu,\"orphans_removed\":%s,\"orphans\":", n_orph,
                      o->clean && n_orph ? "true" : "false");
        fw_buf_put_u8(&orph, 0);
        fw_json_put_str(&b, (const char *)orph.data);
        fw_buf_put_u8(&b, '}');
        print_buf(&b);
        fw_buf_free(&b);
    } else {
        if (rep.len) fwrite(rep.data, 1, rep.len, stdout);
        if (n_left) {
            printf("%zu temporary file%s left by interrupted writes (harmless; %s):\n", n_left,
                   n_left == 1 ? "" : "s", o->clean ? "removed" : "`flywheel models check --clean` removes them");
            fwrite(left.data, 1, left.len, stdout);
        }
        if (n_orph) {
            printf("%zu orphan artifact%s no version refers to (an interrupted registration or delete; %s):\n",
                   n_orph, n_orph == 1 ? "" : "s",
                   o->clean ? "removed" : "`flywheel models check --clean` removes them");
            fwrite(orph.data, 1, orph.len, stdout);
        }
        printf("%zu problem%s\n", problems, problems == 1 ? "" : "s");
    }
    fw_buf_free(&rep);
    fw_buf_free(&left);
    fw_buf_free(&orph);
    return problems ? FW_EXIT_FAILURE : FW_EXIT_OK;
}

int fw_cmd_models(int argc, char **argv) {
    if (argc < 2 || fw_cli_is_help(argv[1])) { /* the help, from the option table */
        opts o;
        fw_opt table[N_OPTS];
        fw_args a;
        models_args(&o, table, &a);
        fw_args_help(&a, argc < 2 ? stderr : stdout);
        return argc < 2 ? FW_EXIT_USAGE : FW_EXIT_OK;
    }
    const char *sub = argv[1];
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc < 0) return FW_EXIT_OK; /* --help */
    if (rc) return rc;
    struct {
        const char *name;
        int lo, hi;
        const char *what;
    } subs[] = {
        {"list", 0, 1, "at most a model name"}, {"show", 1, 1, "one model reference"},
        {"diff", 2, 2, "two model references"}, {"promote", 1, 1, "one model reference"},
        {"rollback", 1, 1, "a model name"},    {"alias", 2, 2, "REF ALIAS (or --remove NAME ALIAS)"},
        {"archive", 1, 1, "one model reference"}, {"delete", 1, 1, "one model reference"},
        {"export", 2, 2, "REF PATH"},          {"import", 1, 1, "a .fwm path"},
        {"history", 0, 1, "at most a model name"}, {"check", 0, 0, "no arguments"},
    };
    size_t k = 0;
    while (k < sizeof subs / sizeof *subs && strcmp(subs[k].name, sub) != 0) k++;
    if (k == sizeof subs / sizeof *subs)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "unknown subcommand '%s' (see flywheel models --help)", sub);
    if ((rc = need(&o, subs[k].lo, subs[k].hi, sub, subs[k].what))) return rc;
    if (o.clean && strcmp(sub, "check") != 0)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--clean is an option of 'check', not of '%s'", sub);
    if (o.html && strcmp(sub, "show") != 0)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--html is an option of 'show', not of '%s'", sub);
    if (o.remove && strcmp(sub, "alias") != 0)
        return fw_cli_fail(CMD, FW_EXIT_USAGE, "--remove is an option of 'alias', not of '%s'", sub);
    /* the command line for the audit log */
    fw_buf cmdline;
    fw_buf_init(&cmdline);
    fw_buf_put(&cmdline, "flywheel", 8);
    for (int i = 0; i < argc; i++) fw_buf_printf(&cmdline, " %s", argv[i]);
    fw_buf_put_u8(&cmdline, 0);
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = o.home;
    ro.command = fw_buf_ok(&cmdline) ? (const char *)cmdline.data : "flywheel models";
    fw_registry *r;
    fw_err err;
    if (fw_registry_open(&ro, &r, &err)) {
        fw_buf_free(&cmdline);
        return fw_cli_fail(CMD, FW_EXIT_FAILURE, "%s", err.msg);
    }
    switch (k) {
    case 0: rc = do_list(r, &o); break;
    case 1: rc = do_show(r, &o); break;
    case 2: rc = do_diff(r, &o); break;
    case 3: rc = do_promote(r, &o); break;
    case 4: rc = do_rollback(r, &o); break;
    case 5: rc = do_alias(r, &o); break;
    case 6: rc = do_status(r, &o, false); break;
    case 7: rc = do_status(r, &o, true); break;
    case 8: rc = do_export(r, &o); break;
    case 9: rc = do_import(r, &o); break;
    case 10: rc = do_history(r, &o); break;
    default: rc = do_check(r, &o); break;
    }
    fw_registry_close(r);
    fw_buf_free(&cmdline);
    return rc;
}
