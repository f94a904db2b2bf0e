/* bulk_load.c — the registry benchmark's loader and timer (bench/registry/run.sh builds and runs
 * it). Registers NAMES model names x VERSIONS versions into HOME through the library
 * (fw_registry_register: the same path `flywheel train` takes, one transaction each; the versions
 * of one index share their artifact bytes), then times MORE further registrations, each with new
 * artifact bytes (file write + fsync), half to existing names and half to new names, and the
 * library's list call, and prints one line per figure:
 *   bulk_load HOME NAMES VERSIONS MORE
 *   bulk_load --write DIR K      writes K fresh artifacts DIR/fresh-<i>.fwm (for the CLI timings)
 * Output lines: "load_seconds S", "register_ms median p90 max", "list_ms median max". */
#include "artifact/artifact.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void make_artifact(fw_buf *out, const char *name, long salt) {
    fw_buf_init(out);
    fw_artifact_writer *w;
    if (fw_artifact_writer_new(&w)) exit(1);
    fw_artifact_writer_str(w, FW_KV_NAME, name);
    fw_artifact_writer_str(w, FW_KV_TASK, "binary");
    fw_artifact_writer_str(w, FW_KV_FAMILY, "gbdt");
    fw_artifact_writer_str(w, FW_KV_METRIC, "roc_auc");
    fw_artifact_writer_i64(w, FW_KV_GREATER_BETTER, 1);
    fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, 0.8 + (double)(salt % 100) / 1000.0);
    fw_artifact_writer_f64(w, FW_KV_METRIC_BASELINE, 0.5);
    fw_artifact_writer_str(w, FW_KV_TEST_FP, "testfp");
    fw_artifact_writer_str(w, FW_KV_DATA_FP, "datafp");
    fw_artifact_writer_i64(w, FW_KV_SEED, salt);
    char params[64];
    snprintf(params, sizeof params, "{\"gbdt.max_depth\":%ld}", 3 + salt % 4);
    fw_artifact_writer_section(w, FW_SECTION_PARAMS, params, strlen(params));
    char model[2048];
    for (size_t i = 0; i < sizeof model; i++) model[i] = (char)((salt * 31 + (long)i * 7) & 0xff);
    fw_artifact_writer_section(w, FW_SECTION_MODEL, model, sizeof model);
    fw_err err;
    if (fw_artifact_writer_finish(w, out, &err)) exit(1);
    fw_artifact_writer_free(w);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--write") == 0) {
        for (long i = 0; i < atol(argv[3]); i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/fresh-%ld.fwm", argv[2], i);
            fw_buf b;
            make_artifact(&b, "fresh", 2000000000L + i);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f)) {
                fprintf(stderr, "bulk_load: cannot write %s\n", path);
                return 1;
            }
            fw_buf_free(&b);
        }
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: bulk_load HOME NAMES VERSIONS MORE\n");
        return 2;
    }
    const char *home = argv[1];
    long names = atol(argv[2]), versions = atol(argv[3]), more = atol(argv[4]);
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = home;
    o.command = "bench/registry/bulk_load";
    fw_registry *r;
    fw_err err;
    if (fw_registry_open(&o, &r, &err)) {
        fprintf(stderr, "bulk_load: %s\n", err.msg);
        return 1;
    }
    double t0 = fw_now_seconds();
    /* The load shares one artifact per version index (registered under each name with o.name):
     * content addressing stores it once, so the load costs transactions, not 30,000 fsyncs. */
    for (long v = 0; v < versions; v++) {
        fw_buf b;
        make_artifact(&b, "shared", v);
        for (long n = 0; n < names; n++) {
            char name[64];
            snprintf(name, sizeof name, "model-%05ld", n);
            fw_registry_register_options ro;
            fw_registry_register_options_init(&ro);
            ro.name = name;
            if (fw_registry_register(r, b.data, b.len, &ro, NULL, &err)) {
                fprintf(stderr, "bulk_load: %s: %s\n", name, err.msg);
                return 1;
            }
        }
        fw_buf_free(&b);
    }
    if (names * versions > 0) printf("load_seconds %.1f\n", fw_now_seconds() - t0);
    if (more > 0) {
        double *ms = calloc((size_t)more, sizeof *ms);
        for (long i = 0; i < more; i++) {
            char name[64];
            snprintf(name, sizeof name, i % 2 ? "model-%05ld" : "fresh-%05ld", i % 2 ? i % (names ? names : 1) : i);
            fw_buf b;
            make_artifact(&b, name, 1000000000L + i);
            double s = fw_now_seconds();
            if (fw_registry_register(r, b.data, b.len, NULL, NULL, &err)) {
                fprintf(stderr, "bulk_load: %s\n", err.msg);
                return 1;
            }
            ms[i] = (fw_now_seconds() - s) * 1e3;
            fw_buf_free(&b);
        }
        qsort(ms, (size_t)more, sizeof *ms, cmp_d);
        printf("register_ms %.2f %.2f %.2f\n", ms[more / 2], ms[(more * 9) / 10], ms[more - 1]);
        for (long i = 0; i < 5 && i < more; i++) {
            fw_model_summary *m;
            size_t n;
            double s = fw_now_seconds();
            if (fw_registry_list(r, &m, &n, &err)) return 1;
            ms[i] = (fw_now_seconds() - s) * 1e3;
            fw_model_summaries_free(m, n);
        }
        long k = more < 5 ? more : 5;
        qsort(ms, (size_t)k, sizeof *ms, cmp_d);
        printf("list_ms %.2f %.2f\n", ms[k / 2], ms[k - 1]);
        free(ms);
    }
    fw_registry_close(r);
    return 0;
}
