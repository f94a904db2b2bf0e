/* test_registry.c — tests for src/registry over the store (SQLite; those marked in main on PostgreSQL too): versions, references, name
 * validation, aliases, the promotion rule, rollback, archive/delete and alias interplay, tampered
 * and missing artifacts, export/import, the audit log, concurrent registration from several
 * processes and kill -9 in the middle of registering. */
#include "artifact/artifact.h"
#include "core/alloc.h"
#include "core/test_hooks.h"
#include "store/store.h"
#include "registry/registry.h"
#include "test.h"

#include "backend.h"

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A small artifact with the metadata the registry reads; `salt` makes the bytes unique. */
static void make_artifact(fw_buf *out, const char *name, double metric, double baseline, const char *test_fp,
                          int salt) {
    fw_buf_init(out);
    fw_artifact_writer *w;
    if (fw_artifact_writer_new(&w)) return;
    fw_artifact_writer_str(w, FW_KV_NAME, name);
    fw_artifact_writer_str(w, FW_KV_TASK, "binary");
    fw_artifact_writer_str(w, FW_KV_FAMILY, "gbdt");
    fw_artifact_writer_str(w, FW_KV_METRIC, "roc_auc");
    fw_artifact_writer_i64(w, FW_KV_GREATER_BETTER, 1);
    fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, metric);
    fw_artifact_writer_f64(w, FW_KV_METRIC_BASELINE, baseline);
    fw_artifact_writer_str(w, FW_KV_TEST_FP, test_fp);
    fw_artifact_writer_str(w, FW_KV_DATA_FP, "trainfp");
    fw_artifact_writer_i64(w, FW_KV_SEED, salt);
    char params[64];
    snprintf(params, sizeof params, "{\"gbdt.max_depth\":%d}", 3 + salt % 4);
    fw_artifact_writer_section(w, FW_SECTION_PARAMS, params, strlen(params));
    char metrics[128];
    snprintf(metrics, sizeof metrics, "{\"model\":{\"roc_auc\":%g},\"baseline\":{\"roc_auc\":%g}}", metric, baseline);
    fw_artifact_writer_section(w, FW_SECTION_METRICS, metrics, strlen(metrics));
    fw_artifact_writer_section(w, FW_SECTION_MODEL, &salt, sizeof salt);
    fw_err err;
    fw_artifact_writer_finish(w, out, &err);
    fw_artifact_writer_free(w);
}

static char home_buf[512];
static const char *new_home(const char *tag) {
    const char *h = fw_test_store_home(tag); /* a directory, or a PostgreSQL database (backend.h) */
    snprintf(home_buf, sizeof home_buf, "%s", h ? h : "/nonexistent/home");
    return home_buf;
}

static fw_registry *open_reg(const char *home) {
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = home;
    o.command = "test_registry";
    o.user = "tester";
    fw_registry *r = NULL;
    fw_err err;
    fw_status st = fw_registry_open(&o, &r, &err);
    CHECK_MSG(st == FW_OK, "open %s: %s", home, err.msg);
    return r;
}

static int64_t reg(fw_registry *r, const char *name, double metric, double baseline, const char *fp, int salt) {
    fw_buf b;
    make_artifact(&b, name, metric, baseline, fp, salt);
    int64_t v = 0;
    fw_err err;
    fw_status st = fw_registry_register(r, b.data, b.len, NULL, &v, &err);
    CHECK_MSG(st == FW_OK, "register %s: %s", name, err.msg);
    fw_buf_free(&b);
    return v;
}

static int64_t resolve_v(fw_registry *r, const char *ref) {
    fw_version_rec v;
    fw_err err;
    if (fw_registry_resolve(r, ref, &v, &err) != FW_OK) return -1;
    int64_t n = v.version;
    fw_version_rec_free(&v);
    return n;
}

static void test_register_and_resolve(void) {
    fw_registry *r = open_reg(new_home("basic"));
    if (!r) return;
    CHECK_EQ(reg(r, "churn", 0.8, 0.7, "t1", 1), 1);
    CHECK_EQ(reg(r, "churn", 0.82, 0.7, "t1", 2), 2);
    CHECK_EQ(reg(r, "fraud", 0.9, 0.5, "t9", 3), 1);
    CHECK_EQ(resolve_v(r, "churn"), 2); /* no production: latest */
    CHECK_EQ(resolve_v(r, "churn@1"), 1);
    CHECK_EQ(resolve_v(r, "churn@v1"), 1);
    fw_version_rec v;
    fw_err err;
    CHECK_OK(fw_registry_resolve(r, "churn@2", &v, &err));
    CHECK_STR(v.metric_name, "roc_auc");
    CHECK_NEAR(v.metric, 0.82, 1e-12);
    CHECK_NEAR(v.baseline_metric, 0.7, 1e-12);
    CHECK_STR(v.test_fp, "t1");
    CHECK_STR(v.family, "gbdt");
    CHECK_CONTAINS(v.params_json, "max_depth");
    CHECK_CONTAINS(v.tags_json, "\"run\":\"run-");
    CHECK_CONTAINS(v.created_by, "tester: test_registry");
    CHECK_EQ(strlen(v.artifact_hash), 32);
    uint8_t *bytes;
    size_t len;
    CHECK_OK(fw_registry_read_artifact(r, &v, &bytes, &len, &err));
    CHECK_EQ((int64_t)len, v.artifact_size);
    fw_free(bytes);
    fw_version_rec_free(&v);
    CHECK_EQ(fw_registry_resolve(r, "churn@3", &v, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no version 3");
    CHECK_EQ(fw_registry_resolve(r, "nope", &v, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no model named 'nope'");
    CHECK_EQ(fw_registry_resolve(r, "churn@staging", &v, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no alias 'staging'");
    fw_model_summary *m;
    size_t n;
    CHECK_OK(fw_registry_list(r, &m, &n, &err));
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(m[0].name, "churn");
        CHECK_EQ(m[0].n_versions, 2);
        CHECK_EQ(m[0].latest_version, 2);
    }
    fw_model_summaries_free(m, n);
    fw_registry_close(r);
}

static void test_name_validation(void) {
    fw_registry *r = open_reg(new_home("names"));
    if (!r) return;
    char long_name[301];
    memset(long_name, 'a', 300);
    long_name[300] = 0;
    const char *bad[] = {"../x", "a/b", long_name, "", ".hidden", "a b", "x@y", "..", "a..b", "c\\d"};
    fw_err err;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(fw_registry_check_name(bad[i], &err) == FW_EINVAL, "name '%s' accepted", bad[i]);
        fw_buf b;
        make_artifact(&b, "ok", 0.8, 0.7, "t", (int)i);
        fw_registry_register_options o;
        fw_registry_register_options_init(&o);
        o.name = bad[i];
        CHECK(fw_registry_register(r, b.data, b.len, &o, NULL, &err) == FW_EINVAL);
        fw_buf_free(&b);
    }
    CHECK_OK(fw_registry_check_name("churn-v2_final.1", &err));
    CHECK_EQ(fw_registry_check_alias("3", &err), FW_EINVAL);
    CHECK_EQ(fw_registry_check_alias("v12", &err), FW_EINVAL);
    CHECK_OK(fw_registry_check_alias("champion", &err));
    /* nothing was created for the bad names, and no file escaped the home */
    fw_model_summary *m;
    size_t n;
    CHECK_OK(fw_registry_list(r, &m, &n, &err));
    CHECK_EQ(n, 0);
    fw_model_summaries_free(m, n);
    char path[700];
    snprintf(path, sizeof path, "%s/x", fw_test_tmpdir());
    CHECK(access(path, F_OK) != 0);
    fw_registry_close(r);
}

static void test_aliases_and_promote_rule(void) {
    fw_registry *r = open_reg(new_home("promote"));
    if (!r) return;
    reg(r, "m", 0.80, 0.70, "t1", 1);  /* v1 */
    reg(r, "m", 0.69, 0.70, "t1", 2);  /* v2: worse than baseline */
    reg(r, "m", 0.85, 0.70, "t1", 3);  /* v3 */
    reg(r, "m", 0.90, 0.70, "t2", 4);  /* v4: other test data */
    reg(r, "m", 0.84, 0.70, "t1", 5);  /* v5: worse than v3 */
    fw_err err;
    char note[512];
    fw_promote_options o;
    fw_promote_options_init(&o);
    CHECK_OK(fw_registry_promote(r, "m@1", &o, note, sizeof note, &err));
    CHECK_CONTAINS(note, "no current production");
    CHECK_EQ(resolve_v(r, "m"), 1); /* NAME means production */
    CHECK_EQ(resolve_v(r, "m@production"), 1);
    CHECK_EQ(fw_registry_promote(r, "m@2", &o, NULL, 0, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "does not beat its baseline");
    CHECK_OK(fw_registry_promote(r, "m@3", &o, NULL, 0, &err));
    CHECK_EQ(fw_registry_promote(r, "m@4", &o, NULL, 0, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "other test data");
    CHECK_EQ(fw_registry_promote(r, "m@5", &o, NULL, 0, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "does not beat production m@3");
    CHECK_EQ(resolve_v(r, "m@production"), 3);
    /* a margin the version does not reach */
    o.min_improvement = 0.2;
    reg(r, "m", 0.86, 0.70, "t1", 6); /* v6: +0.16 over baseline */
    CHECK_EQ(fw_registry_promote(r, "m@6", &o, NULL, 0, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "required margin");
    o.min_improvement = 0.1;
    CHECK_OK(fw_registry_promote(r, "m@6", &o, NULL, 0, &err));
    /* --force overrides and is recorded */
    fw_promote_options_init(&o);
    o.force = true;
    CHECK_OK(fw_registry_promote(r, "m@4", &o, note, sizeof note, &err));
    CHECK_CONTAINS(note, "forced");
    CHECK_EQ(resolve_v(r, "m"), 4);
    /* other aliases: no rule, one version per alias */
    CHECK_OK(fw_registry_alias_set(r, "m@2", "staging", false, &err));
    CHECK_OK(fw_registry_alias_set(r, "m@5", "staging", false, &err));
    CHECK_EQ(resolve_v(r, "m@staging"), 5);
    CHECK_OK(fw_registry_alias_remove(r, "m", "staging", &err));
    CHECK_EQ(resolve_v(r, "m@staging"), -1);
    CHECK_EQ(fw_registry_alias_remove(r, "m", "staging", &err), FW_ENOTFOUND);
    CHECK_EQ(fw_registry_alias_set(r, "m@3", "7", false, &err), FW_EINVAL);
    fw_audit_rec *h;
    size_t n;
    CHECK_OK(fw_registry_history(r, "m", &h, &n, &err));
    int forced = 0, promotes = 0, registers = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].action, "promote") == 0) promotes++;
        if (strcmp(h[i].action, "register") == 0) registers++;
        if (h[i].forced) forced++;
        CHECK_STR(h[i].user, "tester");
        CHECK_STR(h[i].command, "test_registry");
    }
    CHECK_EQ(registers, 6);
    CHECK_EQ(promotes, 6); /* 1, 3, 6, 4(forced), staging x2 */
    CHECK_EQ(forced, 1);
    fw_audit_recs_free(h, n);
    fw_registry_close(r);
}

static void test_rollback(void) {
    fw_registry *r = open_reg(new_home("rollback"));
    if (!r) return;
    for (int i = 1; i <= 4; i++) reg(r, "m", 0.70 + 0.05 * i, 0.5, "t", i);
    fw_err err;
    int64_t to = 0;
    CHECK_EQ(fw_registry_rollback(r, "m", NULL, &to, &err), FW_ENOTFOUND); /* no production yet */
    fw_promote_options o;
    fw_promote_options_init(&o);
    CHECK_OK(fw_registry_promote(r, "m@1", &o, NULL, 0, &err));
    CHECK_EQ(fw_registry_rollback(r, "m", NULL, &to, &err), FW_ENOTFOUND); /* nothing earlier */
    CHECK_OK(fw_registry_promote(r, "m@2", &o, NULL, 0, &err));
    CHECK_OK(fw_registry_promote(r, "m@3", &o, NULL, 0, &err));
    CHECK_OK(fw_registry_promote(r, "m@4", &o, NULL, 0, &err));
    CHECK_OK(fw_registry_rollback(r, "m", NULL, &to, &err));
    CHECK_EQ(to, 3);
    /* a deleted version is skipped */
    CHECK_OK(fw_registry_delete(r, "m@2", false, &err));
    CHECK_OK(fw_registry_rollback(r, "m", NULL, &to, &err));
    CHECK_EQ(to, 1);
    CHECK_EQ(resolve_v(r, "m"), 1);
    CHECK_EQ(fw_registry_rollback(r, "m", NULL, &to, &err), FW_ENOTFOUND);
    fw_registry_close(r);
}

static void test_delete_alias_interplay(void) {
    const char *home = new_home("delete");
    fw_registry *r = open_reg(home);
    if (!r) return;
    reg(r, "m", 0.8, 0.5, "t", 1);
    reg(r, "m", 0.9, 0.5, "t", 2);
    reg(r, "m", 0.95, 0.5, "t", 3);
    fw_err err;
    CHECK_OK(fw_registry_alias_set(r, "m@2", "champion", false, &err));
    CHECK_EQ(fw_registry_delete(r, "m@2", false, &err), FW_EBUSY);
    CHECK_CONTAINS(err.msg, "champion");
    CHECK_EQ(resolve_v(r, "m@2"), 2); /* still there */
    fw_version_rec v;
    CHECK_OK(fw_registry_resolve(r, "m@2", &v, &err));
    char path[1024];
    snprintf(path, sizeof path, "%s/artifacts/%.2s/%s.fwm", home, v.artifact_hash, v.artifact_hash + 2);
    fw_version_rec_free(&v);
    CHECK(access(path, F_OK) == 0);
    CHECK_OK(fw_registry_delete(r, "m@2", true, &err));
    CHECK(access(path, F_OK) != 0); /* file gone with its only version */
    CHECK_EQ(fw_registry_resolve(r, "m@2", &v, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "deleted");
    CHECK_EQ(fw_registry_resolve(r, "m@champion", &v, &err), FW_ENOTFOUND); /* alias went with it */
    /* numbers are never reused */
    CHECK_EQ(reg(r, "m", 0.7, 0.5, "t", 4), 4);
    /* archive: refused under an alias, then kept and loadable but not promotable */
    CHECK_OK(fw_registry_alias_set(r, "m@3", "staging", false, &err));
    CHECK_EQ(fw_registry_archive(r, "m@3", false, &err), FW_EBUSY);
    CHECK_OK(fw_registry_archive(r, "m@3", true, &err));
    CHECK_OK(fw_registry_resolve(r, "m@3", &v, &err));
    CHECK_STR(v.status, "archived");
    fw_version_rec_free(&v);
    CHECK_EQ(fw_registry_alias_set(r, "m@3", "staging", false, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "archived");
    /* identical bytes in two versions share one file; deleting one keeps it */
    fw_buf b;
    make_artifact(&b, "dup", 0.8, 0.5, "t", 77);
    CHECK_OK(fw_registry_register(r, b.data, b.len, NULL, NULL, &err));
    CHECK_OK(fw_registry_register(r, b.data, b.len, NULL, NULL, &err));
    fw_buf_free(&b);
    CHECK_OK(fw_registry_delete(r, "dup@1", false, &err));
    CHECK_OK(fw_registry_resolve(r, "dup@2", &v, &err));
    uint8_t *bytes;
    size_t len;
    CHECK_OK(fw_registry_read_artifact(r, &v, &bytes, &len, &err));
    fw_free(bytes);
    fw_version_rec_free(&v);
    size_t problems = 9;
    CHECK_OK(fw_registry_check(r, NULL, &problems, &err));
    CHECK_EQ(problems, 0);
    fw_registry_close(r);
}

static void test_dangling_alias_detected(void) {
    const char *home = new_home("dangling");
    fw_registry *r = open_reg(home);
    if (!r) return;
    reg(r, "m", 0.8, 0.5, "t", 1);
    fw_err err;
    CHECK_OK(fw_registry_alias_set(r, "m@1", "champion", false, &err));
    fw_registry_close(r);
    /* damage the store behind the registry's back */
    char db[700];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    sqlite3 *h;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "UPDATE versions SET status='deleted'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    r = open_reg(home);
    if (!r) return;
    fw_version_rec v;
    CHECK_EQ(fw_registry_resolve(r, "m@champion", &v, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "points at deleted version 1");
    fw_buf rep;
    fw_buf_init(&rep);
    size_t problems = 0;
    CHECK_OK(fw_registry_check(r, &rep, &problems, &err));
    CHECK_EQ(problems, 1);
    fw_buf_free(&rep);
    fw_registry_close(r);
}

static void test_tampered_and_missing_artifact(void) {
    const char *home = new_home("tamper");
    fw_registry *r = open_reg(home);
    if (!r) return;
    reg(r, "m", 0.8, 0.5, "t", 1);
    reg(r, "m", 0.8, 0.5, "t", 2);
    fw_version_rec v1, v2;
    fw_err err;
    CHECK_OK(fw_registry_resolve(r, "m@1", &v1, &err));
    CHECK_OK(fw_registry_resolve(r, "m@2", &v2, &err));
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s/artifacts/%.2s/%s.fwm", home, v1.artifact_hash, v1.artifact_hash + 2);
    snprintf(p2, sizeof p2, "%s/artifacts/%.2s/%s.fwm", home, v2.artifact_hash, v2.artifact_hash + 2);
    FILE *f = fopen(p1, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 100, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    CHECK(unlink(p2) == 0);
    uint8_t *bytes = NULL;
    size_t len;
    CHECK_EQ(fw_registry_read_artifact(r, &v1, &bytes, &len, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "altered on disk");
    CHECK_CONTAINS(err.msg, "m@1");
    CHECK_EQ(fw_registry_read_artifact(r, &v2, &bytes, &len, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "missing");
    size_t problems = 0;
    CHECK_OK(fw_registry_check(r, NULL, &problems, &err));
    CHECK_EQ(problems, 2);
    /* re-registering the same bytes repairs the file */
    fw_buf b;
    make_artifact(&b, "m", 0.8, 0.5, "t", 1);
    CHECK_OK(fw_registry_register(r, b.data, b.len, NULL, NULL, &err));
    fw_buf_free(&b);
    CHECK_OK(fw_registry_read_artifact(r, &v1, &bytes, &len, &err));
    fw_free(bytes);
    fw_version_rec_free(&v1);
    fw_version_rec_free(&v2);
    fw_registry_close(r);
}

/* An artifact with a run section (what `train` writes): the registry stores it as the run record. */
static void make_artifact_with_run(fw_buf *out, const char *name, int salt, const char *run) {
    fw_buf_init(out);
    fw_artifact_writer *w;
    if (fw_artifact_writer_new(&w)) return;
    fw_artifact_writer_str(w, FW_KV_NAME, name);
    fw_artifact_writer_str(w, FW_KV_TASK, "binary");
    fw_artifact_writer_str(w, FW_KV_FAMILY, "gbdt");
    fw_artifact_writer_i64(w, FW_KV_SEED, salt);
    fw_artifact_writer_section(w, FW_SECTION_RUN, run, strlen(run));
    fw_artifact_writer_section(w, FW_SECTION_MODEL, &salt, sizeof salt);
    fw_err err;
    fw_artifact_writer_finish(w, out, &err);
    fw_artifact_writer_free(w);
}

/* The work of one registration, counted by the test build's hooks (core/test_hooks.h): the
 * artifact is opened once (its metadata and its run section read together) and the stored file is
 * not read back (under the transaction its presence is checked — fw_store_artifact_has — not its
 * bytes re-read and re-hashed: the hash was taken of the very bytes written). */
static void test_register_work_counted(void) {
    const char *home = new_home("work");
    fw_registry *r = open_reg(home);
    if (!r) return;
    const char *run = "{\"command\":\"train\",\"candidates\":[1,2]}";
    fw_buf b;
    make_artifact_with_run(&b, "w", 7, run);
    fw_err err;
    unsigned long long opens = fw__test_counts[FW_TC_ARTIFACT_OPEN], reads = fw__test_counts[FW_TC_ARTIFACT_READ];
    int64_t v = 0;
    CHECK_OK(fw_registry_register(r, b.data, b.len, NULL, &v, &err));
    CHECK_EQ(v, 1);
    CHECK_EQ(fw__test_counts[FW_TC_ARTIFACT_OPEN] - opens, 1);
    CHECK_EQ(fw__test_counts[FW_TC_ARTIFACT_READ] - reads, 0);
    /* the run record is still the artifact's own run section */
    fw_store *s = fw_registry_store(r);
    fw_version_rec rec;
    CHECK_OK(fw_registry_resolve(r, "w@1", &rec, &err));
    fw_run_rec rr;
    memset(&rr, 0, sizeof rr);
    CHECK_OK(fw_store_run_get(s, rec.run_id, &rr, &err));
    CHECK_STR(rr.record_json ? rr.record_json : "", run);
    fw_run_rec_free(&rr);
    /* the presence check the registration relies on, on both back ends */
    CHECK_OK(fw_store_artifact_has(s, rec.artifact_hash, b.len, &err));
    CHECK_EQ(fw_store_artifact_has(s, rec.artifact_hash, b.len + 1, &err), FW_ENOTFOUND); /* not those bytes */
    CHECK_EQ(fw_store_artifact_has(s, "0123456789abcdef0123456789abcdef", b.len, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_store_artifact_has(s, "../../etc/passwd", 1, &err), FW_EINVAL);
    /* the caller's run record: one open too */
    fw_buf b2;
    make_artifact_with_run(&b2, "w", 8, run);
    fw_registry_register_options o;
    fw_registry_register_options_init(&o);
    o.run_json = "{\"k\":1}";
    opens = fw__test_counts[FW_TC_ARTIFACT_OPEN];
    CHECK_OK(fw_registry_register(r, b2.data, b2.len, &o, &v, &err));
    CHECK_EQ(v, 2);
    CHECK_EQ(fw__test_counts[FW_TC_ARTIFACT_OPEN] - opens, 1);
    fw_version_rec_free(&rec);
    fw_buf_free(&b);
    fw_buf_free(&b2);
    fw_registry_close(r);
}

static void test_export_import(void) {
    fw_registry *r = open_reg(new_home("export"));
    if (!r) return;
    reg(r, "m", 0.8, 0.5, "t", 1);
    fw_err err;
    char out[700], written[4096];
    snprintf(out, sizeof out, "%s", fw_test_tmpdir());
    CHECK_OK(fw_registry_export(r, "m@1", out, written, sizeof written, &err));
    CHECK_CONTAINS(written, "m-v1.fwm");
    char json[4200];
    snprintf(json, sizeof json, "%s.json", written);
    CHECK(access(json, R_OK) == 0);
    fw_registry *r2 = open_reg(new_home("import"));
    if (!r2) return;
    int64_t v = 0;
    CHECK_OK(fw_registry_import(r2, written, NULL, &v, &err));
    CHECK_EQ(v, 1);
    CHECK_OK(fw_registry_import(r2, written, "copy", &v, &err));
    fw_version_rec a, b;
    CHECK_OK(fw_registry_resolve(r, "m@1", &a, &err));
    CHECK_OK(fw_registry_resolve(r2, "copy@1", &b, &err));
    CHECK_STR(a.artifact_hash, b.artifact_hash);
    CHECK_CONTAINS(b.tags_json, "imported_from");
    fw_version_rec_free(&a);
    fw_version_rec_free(&b);
    /* a damaged file is refused */
    FILE *f = fopen(written, "r+b");
    if (f) {
        fseek(f, 90, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    CHECK_EQ(fw_registry_import(r2, written, NULL, &v, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "corrupted");
    fw_audit_rec *h;
    size_t n;
    CHECK_OK(fw_registry_history(r2, "copy", &h, &n, &err));
    CHECK_EQ(n, 1);
    if (n) CHECK_STR(h[0].action, "import");
    fw_audit_recs_free(h, n);
    fw_registry_close(r);
    fw_registry_close(r2);
}

static void test_newer_store_rejected(void) {
    const char *home = new_home("newer");
    fw_registry *r = open_reg(home);
    if (!r) return;
    reg(r, "m", 0.8, 0.5, "t", 1);
    fw_registry_close(r);
    char db[700];
    snprintf(db, sizeof db, "%s/flywheel.db", home);
    sqlite3 *h;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "UPDATE fw_meta SET value='99' WHERE key='schema_version'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = home;
    fw_err err;
    CHECK_EQ(fw_registry_open(&o, &r, &err), FW_EVERSION);
    CHECK_CONTAINS(err.msg, "newer Flywheel");
    /* the store is untouched: putting the version back opens it with its data */
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "UPDATE fw_meta SET value='1' WHERE key='schema_version'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    r = open_reg(home);
    if (!r) return;
    CHECK_EQ(resolve_v(r, "m@1"), 1);
    CHECK_EQ(fw_store_default_home(NULL) != NULL, 1);
    CHECK_EQ(r ? fw_store_schema_version(fw_registry_store(r)) : 0, FW_STORE_SCHEMA_VERSION);
    fw_registry_close(r);
}

/* 4 processes x 25 registrations of the same name → exactly versions 1..100. */
static void test_concurrent_processes(void) {
    const char *home = new_home("concurrent");
    fw_registry *r = open_reg(home); /* create the schema once up front */
    fw_registry_close(r);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            fw_registry_options o;
            fw_registry_options_init(&o);
            o.home = home;
            fw_registry *c;
            fw_err err;
            if (fw_registry_open(&o, &c, &err)) _exit(10);
            for (int i = 0; i < 25; i++) {
                fw_buf b;
                make_artifact(&b, "shared", 0.8, 0.5, "t", k * 1000 + i);
                if (fw_registry_register(c, b.data, b.len, NULL, NULL, &err)) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    _exit(11);
                }
                fw_buf_free(&b);
            }
            fw_registry_close(c);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) {
        int status = 0;
        waitpid(kids[k], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", k, status);
    }
    r = open_reg(home);
    if (!r) return;
    fw_version_rec *v;
    size_t n;
    fw_err err;
    CHECK_OK(fw_registry_versions(r, "shared", &v, &n, &err));
    CHECK_EQ(n, 100);
    for (size_t i = 0; i < n; i++) CHECK_EQ(v[i].version, (int64_t)i + 1);
    /* every artifact distinct and present */
    for (size_t i = 1; i < n; i++) CHECK(strcmp(v[i].artifact_hash, v[i - 1].artifact_hash) != 0);
    for (size_t i = 0; i < n; i++) fw_version_rec_free(&v[i]);
    fw_free(v);
    size_t problems = 1;
    CHECK_OK(fw_registry_check(r, NULL, &problems, &err));
    CHECK_EQ(problems, 0);
    fw_registry_close(r);
}

/* A child registers in a loop; kill -9 at a random moment; the store must reopen cleanly, pass
 * SQLite's integrity check and our own (every visible version has its intact artifact). */
static void test_kill9_while_registering(void) {
    const char *home = new_home("kill9");
    fw_registry *r = open_reg(home);
    fw_registry_close(r);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 3; round++) {
        int pipefd[2];
        CHECK(pipe(pipefd) == 0);
        pid_t kid = fork();
        if (kid == 0) {
            close(pipefd[0]);
            fw_registry_options o;
            fw_registry_options_init(&o);
            o.home = home;
            fw_registry *c;
            fw_err err;
            if (fw_registry_open(&o, &c, &err)) _exit(10);
            for (int i = 0;; i++) {
                fw_buf b;
                make_artifact(&b, "k", 0.8, 0.5, "t", round * 100000 + i);
                (void)fw_registry_register(c, b.data, b.len, NULL, NULL, &err);
                fw_buf_free(&b);
                if (i == 0 && write(pipefd[1], "x", 1) != 1) _exit(12); /* tell the parent: one is in */
            }
        }
        close(pipefd[1]);
        char ready;
        CHECK(read(pipefd[0], &ready, 1) == 1);
        close(pipefd[0]);
        usleep((useconds_t)(rand() % 60000));
        kill(kid, SIGKILL);
        int status;
        waitpid(kid, &status, 0);
        CHECK(WIFSIGNALED(status));
        char db[700];
        snprintf(db, sizeof db, "%s/flywheel.db", home);
        sqlite3 *h;
        CHECK(sqlite3_open(db, &h) == SQLITE_OK);
        sqlite3_stmt *st;
        CHECK(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(h);
        r = open_reg(home);
        if (!r) return;
        fw_version_rec *v;
        size_t n;
        fw_err err;
        CHECK_OK(fw_registry_versions(r, "k", &v, &n, &err));
        CHECK_MSG(n > 0, "round %d: the child registered nothing before the kill", round);
        for (size_t i = 0; i < n; i++) CHECK_EQ(v[i].version, (int64_t)i + 1);
        for (size_t i = 0; i < n; i++) fw_version_rec_free(&v[i]);
        fw_free(v);
        size_t problems = 1;
        fw_buf rep;
        fw_buf_init(&rep);
        CHECK_OK(fw_registry_check(r, &rep, &problems, &err));
        fw_buf_put_u8(&rep, 0);
        CHECK_MSG(problems == 0, "after kill -9: %s", (char *)rep.data);
        fw_buf_free(&rep);
        /* the audit log has exactly one register entry per version */
        fw_audit_rec *h2;
        size_t na;
        CHECK_OK(fw_registry_history(r, "k", &h2, &na, &err));
        CHECK_EQ(na, n);
        fw_audit_recs_free(h2, na);
        fw_registry_close(r);
    }
}

static void test_store_batch_tables(void) {
    fw_registry *r = open_reg(new_home("batchrows"));
    if (!r) return;
    fw_store *s = fw_registry_store(r);
    fw_err err;
    int64_t id = 0;
    CHECK_OK(fw_store_batch_run_begin(s, "m", 1, "in.csv", &id, &err));
    CHECK(id > 0);
    int64_t rows[2] = {0, 1};
    const char *outs[2] = {"{\"p\":0.1}", "{\"p\":0.9}"};
    CHECK_OK(fw_store_batch_predictions_insert(s, id, rows, outs, 2, &err));
    CHECK_EQ(fw_store_batch_predictions_insert(s, id, rows, outs, 1, &err), FW_ESTORE); /* duplicate row */
    CHECK_OK(fw_store_batch_run_finish(s, id, 2, "done", &err));
    fw_registry_close(r);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_register_and_resolve);
    TEST_RUN_BACKENDS(test_name_validation);
    TEST_RUN_BACKENDS(test_aliases_and_promote_rule);
    TEST_RUN_BACKENDS(test_rollback);
    TEST_RUN(test_delete_alias_interplay);
    TEST_RUN(test_dangling_alias_detected);
    TEST_RUN(test_tampered_and_missing_artifact);
    TEST_RUN_BACKENDS(test_export_import);
    TEST_RUN_BACKENDS(test_register_work_counted);
    TEST_RUN(test_newer_store_rejected);
    TEST_RUN_BACKENDS(test_concurrent_processes);
    TEST_RUN(test_kill9_while_registering);
    TEST_RUN_BACKENDS(test_store_batch_tables);
    return fw_test_report(argv[0]);
}
