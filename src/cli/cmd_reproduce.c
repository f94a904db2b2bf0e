/* cmd_reproduce.c — owns `flywheel reproduce NAME@VERSION`: retrains a registered version from its
 * recorded project, data, family, hyperparameters, seed and thread count, rebuilds the artifact
 * with the original creation time and lineage, and checks it is byte-identical — or says exactly
 * which metadata key or section differs. */
#include "cli/args.h"
#include "cli/cli.h"

#include "artifact/artifact.h"
#include "core/alloc.h"
#include "registry/registry.h"
#include "train/register.h"
#include "train/train.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: flywheel reproduce NAME@VERSION [--home DIR] [--data FILE]\n"
    "\n"
    "Retrains the version from its record (the resolved project kept in the artifact, the chosen\n"
    "family and hyperparameters, seed and thread count) and compares the new artifact with the\n"
    "registered one byte for byte. Exit 0 when identical, 1 when not (the differing metadata keys\n"
    "and sections are listed), 2 on a usage error.\n"
    "\n";

/* True for the metadata keys that name the build that wrote the artifact, not the model. */
static bool builder_key(const char *k) {
    return strcmp(k, FW_KV_GIT_COMMIT) == 0 || strcmp(k, FW_KV_FW_VERSION) == 0;
}

/* Lists what differs between two artifacts; returns the number of differences, of which
 * *n_builder are only in the builder's identity (version / commit). */
static size_t diff_artifacts(const fw_artifact *a, const fw_artifact *b, bool print, size_t *n_builder) {
    size_t n = 0;
    *n_builder = 0;
    for (size_t i = 0; i < fw_artifact_kv_count(a); i++) {
        const char *k = fw_artifact_kv_key(a, i);
        const uint8_t *pa, *pb;
        size_t la, lb;
        const char *sa = fw_artifact_str(a, k), *sb = fw_artifact_str(b, k);
        int64_t ia, ib;
        double da, db;
        bool same;
        if (sa || sb) same = sa && sb && strcmp(sa, sb) == 0;
        else if (fw_artifact_i64(a, k, &ia)) same = fw_artifact_i64(b, k, &ib) && ia == ib;
        else if (fw_artifact_f64(a, k, &da)) same = fw_artifact_f64(b, k, &db) && memcmp(&da, &db, sizeof da) == 0;
        else if (fw_artifact_bytes(a, k, &pa, &la)) same = fw_artifact_bytes(b, k, &pb, &lb) && la == lb && memcmp(pa, pb, la) == 0;
        else same = false;
        if (!same) {
            n++;
            if (builder_key(k)) ++*n_builder;
            if (print && sa && sb) printf("  metadata %s: registered '%s', reproduced '%s'\n", k, sa, sb);
            else if (print && !(sa && sb)) printf("  metadata %s differs\n", k);
        }
    }
    for (size_t i = 0; i < fw_artifact_kv_count(b); i++) {
        const char *k = fw_artifact_kv_key(b, i);
        bool found = false;
        for (size_t j = 0; j < fw_artifact_kv_count(a) && !found; j++) found = strcmp(fw_artifact_kv_key(a, j), k) == 0;
        if (!found) {
            n++;
            if (print) printf("  metadata %s only in the reproduced artifact\n", k);
        }
    }
    for (size_t i = 0; i < fw_artifact_section_count(a); i++) {
        uint32_t id = fw_artifact_section_id(a, i);
        const uint8_t *pa, *pb;
        size_t la, lb;
        fw_artifact_section(a, id, &pa, &la);
        if (!fw_artifact_section(b, id, &pb, &lb)) {
            n++;
            if (print) printf("  section %s missing from the reproduced artifact\n", fw_section_name(id));
        } else if (la != lb || memcmp(pa, pb, la) != 0) {
            n++;
            size_t at = 0;
            while (at < la && at < lb && pa[at] == pb[at]) at++;
            if (print) printf("  section %s differs (%zu vs %zu bytes, first difference at byte %zu)\n",
                   fw_section_name(id), la, lb, at);
        }
    }
    for (size_t i = 0; i < fw_artifact_section_count(b); i++) {
        uint32_t id = fw_artifact_section_id(b, i);
        const uint8_t *p;
        size_t l;
        if (!fw_artifact_section(a, id, &p, &l)) {
            n++;
            if (print) printf("  section %s only in the reproduced artifact\n", fw_section_name(id));
        }
    }
    return n;
}

int fw_cmd_reproduce(int argc, char **argv) {
    const char *cmd = "reproduce";
    const char *home = NULL, *data = NULL;
    fw_opt opts[] = {
        {"--home", 0, FW_OPT_STRING, &home, "DIR", "Flywheel home (default $FLYWHEEL_HOME or ./.flywheel)"},
        {"--data", 0, FW_OPT_STRING, &data, "FILE", "the training data, when it has moved since training"},
    };
    fw_args args = {.cmd = cmd, .usage = usage_text, .opts = opts, .n_opts = sizeof opts / sizeof *opts, .max_pos = 1,
                    .pos_name = "model reference"};
    int code;
    if (!fw_args_parse(&args, argc, argv, 1, &code)) return code;
    const char *ref = args.n_pos ? args.pos[0] : NULL;
    if (!ref) return fw_cli_fail(cmd, FW_EXIT_USAGE, "give a model version, e.g. churn@3");

    fw_err err;
    fw_err_clear(&err);
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    ro.command = "flywheel reproduce";
    fw_registry *reg = NULL;
    fw_version_rec rec;
    memset(&rec, 0, sizeof rec);
    uint8_t *orig = NULL;
    size_t orig_len = 0;
    fw_artifact *a = NULL, *b = NULL;
    json_t *params = NULL;
    fw_project proj;
    fw_project_init(&proj);
    fw_train_result res;
    memset(&res, 0, sizeof res);
    fw_buf art;
    fw_buf_init(&art);
    char **pv = NULL;
    size_t n_pv = 0;
    int rc = FW_EXIT_FAILURE;

    if (fw_registry_open(&ro, &reg, &err) || fw_registry_resolve(reg, ref, &rec, &err) ||
        fw_registry_read_artifact(reg, &rec, &orig, &orig_len, &err) ||
        fw_artifact_open(orig, orig_len, &a, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    const uint8_t *yaml, *pj;
    size_t yaml_len, pj_len;
    if (!fw_artifact_bytes(a, FW_KV_PROJECT_YAML, &yaml, &yaml_len) ||
        !fw_artifact_section(a, FW_SECTION_PARAMS, &pj, &pj_len)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s: the artifact has no training record (project and params); it cannot be reproduced", ref);
        goto done;
    }
    json_error_t je;
    params = json_loadb((const char *)pj, pj_len, 0, &je);
    const char *family = params ? json_string_value(json_object_get(params, "family")) : NULL;
    json_t *seed = params ? json_object_get(params, "seed") : NULL;
    json_t *threads = params ? json_object_get(params, "threads") : NULL;
    json_t *mp = params ? json_object_get(params, "model_params") : NULL;
    if (!family || !json_is_integer(seed) || !json_is_integer(threads) || !json_is_array(mp)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s: the params section is incomplete", ref);
        goto done;
    }
    if (fw_project_parse((const char *)yaml, yaml_len, "recorded project", &proj, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    if (data) {
        fw_free(proj.train_path);
        proj.train_path = fw_strdup(data);
    }
    fw_train_options to;
    fw_train_options_init(&to);
    char families[64];
    snprintf(families, sizeof families, "baseline,%s", family);
    to.families = families;
    to.seed = (uint64_t)json_integer_value(seed);
    to.seed_set = true;
    to.threads = (int)json_integer_value(threads);
    to.importance = false;
    json_t *tp = json_object_get(params, "test_path");
    to.test_path = json_is_string(tp) ? json_string_value(tp) : NULL;
    n_pv = json_array_size(mp);
    pv = fw_calloc(n_pv ? n_pv : 1, sizeof(char *));
    if (!pv) goto done;
    for (size_t i = 0; i < n_pv; i++) {
        const char *kv = json_string_value(json_array_get(mp, i));
        size_t len = strlen(family) + 2 + (kv ? strlen(kv) : 0);
        pv[i] = fw_malloc(len);
        if (!pv[i]) goto done;
        snprintf(pv[i], len, "%s.%s", family, kv ? kv : "");
    }
    to.params = (const char *const *)pv;
    to.n_params = n_pv;
    printf("reproducing %s@%lld: %s with %zu recorded parameters, seed %llu, %d threads\n", rec.name,
           (long long)rec.version, family, n_pv, (unsigned long long)to.seed, to.threads);
    if (fw_train_run(&proj, &to, &res, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "retraining failed: %s", err.msg);
        goto done;
    }
    fw_register_options rgo;
    fw_register_options_init(&rgo);
    rgo.parent = fw_artifact_str(a, FW_KV_PARENT);
    rgo.train_options = &to;
    if (fw_train_build_artifact(&res, &rgo, &art, &err) || fw_artifact_open(art.data, art.len, &b, &err)) {
        fw_cli_fail(cmd, FW_EXIT_FAILURE, "%s", err.msg);
        goto done;
    }
    if (art.len == orig_len && memcmp(art.data, orig, orig_len) == 0) {
        char h[33];
        fw_artifact_hash(orig, orig_len, h);
        printf("reproduced: byte-identical (%zu bytes, hash %s)\n", orig_len, h);
        rc = FW_EXIT_OK;
    } else {
        /* Same model and data, different build: every difference is in the builder's identity. */
        size_t n_builder = 0;
        size_t n = diff_artifacts(a, b, false, &n_builder);
        if (n > 0 && n == n_builder) {
            printf("reproduced: the model is byte-identical; only the build that wrote it differs:\n");
            diff_artifacts(a, b, true, &n_builder);
            printf("  (a build of the registering commit reproduces the artifact byte for byte)\n");
            rc = FW_EXIT_OK;
        } else {
            printf("NOT reproduced: the new artifact differs (%zu vs %zu bytes):\n", orig_len, art.len);
            diff_artifacts(a, b, true, &n_builder);
            if (n == 0) printf("  (same metadata and sections; the container bytes differ)\n");
        }
    }
done:
    for (size_t i = 0; i < n_pv; i++) fw_free(pv ? pv[i] : NULL);
    fw_free(pv);
    fw_artifact_close(a);
    fw_artifact_close(b);
    fw_buf_free(&art);
    fw_train_result_free(&res);
    fw_project_free(&proj);
    if (params) json_decref(params);
    fw_free(orig);
    fw_version_rec_free(&rec);
    fw_registry_close(reg);
    return rc;
}
