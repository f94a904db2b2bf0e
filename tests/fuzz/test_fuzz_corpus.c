/* test_fuzz_corpus.c — replays every file of fuzz/corpus/<target>/ (seeds, and the crashers the
 * fuzzers found, named by what they broke) through its fuzz target in the normal suite, so the
 * ASan/UBSan CI run covers every parser without clang or libFuzzer. Each target file is compiled in
 * here with its LLVMFuzzerTestOneInput renamed (one #define per target before its #include); the
 * targets abort on any property they check, which fails this program. Also checks by hand the
 * errors the fixed crashers must now produce. Run from the project root (tests/run.sh does);
 * FW_FUZZ_CORPUS overrides the corpus folder. */
#include "test.h"

#define LLVMFuzzerTestOneInput fw_fuzz_one_csv
#include "../../fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_jsonl
#include "../../fuzz/fuzz_jsonl.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_yaml
#include "../../fuzz/fuzz_yaml.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_pipeline
#include "../../fuzz/fuzz_pipeline.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_artifact
#include "../../fuzz/fuzz_artifact.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_serve
#include "../../fuzz/fuzz_serve.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_serve_config
#include "../../fuzz/fuzz_serve_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_serve_v1
#include "../../fuzz/fuzz_serve_v1.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_log_spool
#include "../../fuzz/fuzz_log_spool.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_decimal
#include "../../fuzz/fuzz_decimal.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_yaml_read
#include "../../fuzz/fuzz_yaml_read.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_experiment_events
#include "../../fuzz/fuzz_experiment_events.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fw_fuzz_one_feedback_body
#include "../../fuzz/fuzz_feedback_body.c"
#undef LLVMFuzzerTestOneInput

#include "core/json_out.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fuzz_fn)(const uint8_t *, size_t);

static const struct {
    const char *dir;
    fuzz_fn fn;
} targets[] = {
    {"csv", fw_fuzz_one_csv},         {"jsonl", fw_fuzz_one_jsonl},       {"yaml", fw_fuzz_one_yaml},
    {"pipeline", fw_fuzz_one_pipeline}, {"artifact", fw_fuzz_one_artifact}, {"serve", fw_fuzz_one_serve},
    {"serve_config", fw_fuzz_one_serve_config}, {"serve_v1", fw_fuzz_one_serve_v1},
    {"log_spool", fw_fuzz_one_log_spool}, {"decimal", fw_fuzz_one_decimal},
    {"yaml_read", fw_fuzz_one_yaml_read},
    {"experiment_events", fw_fuzz_one_experiment_events}, {"feedback_body", fw_fuzz_one_feedback_body},
};

static const char *corpus_root(void) {
    const char *e = getenv("FW_FUZZ_CORPUS");
    return e && *e ? e : "fuzz/corpus";
}

/* Reads a whole file into an exact-size fw_malloc'd buffer (so ASan sees one-past-the-end reads). */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fw_buf b;
    fw_buf_init(&b);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) fw_buf_put(&b, tmp, n);
    fclose(f);
    uint8_t *out = fw_malloc(b.len ? b.len : 1);
    if (out) memcpy(out, b.data, b.len);
    *len = b.len;
    fw_buf_free(&b);
    return out;
}

/* Every target has a corpus folder with at least one seed, and every file in it replays. */
static void test_replay_every_corpus(void) {
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", corpus_root(), targets[t].dir);
        DIR *d = opendir(dir);
        CHECK_MSG(d != NULL, "no corpus folder %s (run from the project root)", dir);
        if (!d) continue;
        int ran = 0, crashers = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t len = 0;
            uint8_t *data = slurp(path, &len);
            CHECK_MSG(data != NULL, "cannot read %s", path);
            if (!data) continue;
            targets[t].fn(data, len);
            fw_free(data);
            ran++;
            crashers += strncmp(e->d_name, "crash-", 6) == 0;
        }
        closedir(d);
        CHECK_MSG(ran > 0, "corpus %s is empty", dir);
        printf("  %-13s %3d inputs (%d former crashers)\n", targets[t].dir, ran, crashers);
    }
}

/* The fixed crashers give the errors they should. */
static void test_fixed_crashers_errors(void) {
    char path[1024];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/artifact/crash-kv-unknown-type-use-after-free", corpus_root());
    uint8_t *data = slurp(path, &len);
    CHECK_MSG(data != NULL, "missing %s", path);
    if (data && len > 1) {
        uint8_t *d = data + 1;
        fw_fuzz_artifact_reseal(d, len - 1);
        fw_artifact *a = NULL;
        fw_err err;
        fw_err_clear(&err);
        CHECK_EQ(fw_artifact_open(d, len - 1, &a, &err), FW_ECORRUPT);
        CHECK(a == NULL);
        CHECK_CONTAINS(err.msg, "unknown type");
    }
    fw_free(data);
    /* metadata with a key repeated under another type: refused at open (the bundle once strdup'ed NULL) */
    snprintf(path, sizeof path, "%s/artifact/crash-bundle-meta-repeated-key-null-strdup", corpus_root());
    data = slurp(path, &len);
    CHECK_MSG(data != NULL, "missing %s", path);
    if (data && len > 1) {
        uint8_t *d = data + 1;
        if (data[0] & 1) fw_fuzz_artifact_reseal(d, len - 1);
        fw_artifact *a = NULL;
        fw_err err;
        fw_err_clear(&err);
        CHECK_EQ(fw_artifact_open(d, len - 1, &a, &err), FW_ECORRUPT);
        CHECK_CONTAINS(err.msg, "out of order or repeated");
    }
    fw_free(data);
    /* JSON strings from artifact metadata: valid UTF-8 kept, every invalid byte becomes U+FFFD */
    fw_buf js;
    fw_buf_init(&js);
    fw_json_put_str(&js, "caf\xc3\xa9 \xff \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80 \xe2\x82");
    fw_buf_put_u8(&js, 0);
    CHECK_STR((const char *)js.data,
              "\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd \xf0\x9f\x98\x80 \\ufffd\\ufffd\"");
    json_error_t je;
    json_t *parsed = json_loadb((const char *)js.data, js.len - 1, JSON_DECODE_ANY, &je);
    CHECK_MSG(parsed != NULL, "not JSON: %s", je.text);
    json_decref(parsed);
    fw_buf_free(&js);
    /* CR-only line breaks before a serving: section: the kept text still round-trips */
    const char yaml[] = "name: p\rtask: binary\rdata:\r  train: x.csv\r  label: y\rserving:\r  port: 9\r";
    fw_project p, q;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_project_parse(yaml, sizeof yaml - 1, "cr.yaml", &p, &err);
    CHECK_MSG(st == FW_OK, "cr.yaml: %s", err.msg);
    if (st == FW_OK) {
        CHECK(p.serving_yaml != NULL);
        if (p.serving_yaml) CHECK(strncmp(p.serving_yaml, "serving:", 8) == 0);
        fw_buf a;
        fw_buf_init(&a);
        CHECK_OK(fw_project_to_yaml(&p, "", &a));
        CHECK_OK(fw_project_parse((const char *)a.data, a.len, "cr2.yaml", &q, &err));
        CHECK_STR(q.name, p.name);
        CHECK(q.serving_yaml != NULL);
        fw_project_free(&q);
        fw_buf_free(&a);
        fw_project_free(&p);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_replay_every_corpus);
    TEST_RUN(test_fixed_crashers_errors);
    return fw_test_report(argv[0]);
}
