/* test_artifact.c — tests for src/artifact/artifact.c: the .fwm container round trip, byte-identical
 * output, and detection of every kind of damage (bad magic, truncation, flipped bytes, versions). */
#include "artifact/artifact.h"
#include "core/alloc.h"
#include "test.h"

#include <stdlib.h>

static fw_status build(fw_buf *out, int order) {
    fw_artifact_writer *w;
    fw_status st = fw_artifact_writer_new(&w);
    if (st) return st;
    static const uint8_t model[100] = {1, 2, 3};
    uint8_t base[7] = {9, 8, 7, 6, 5, 4, 3};
    if (order == 0) {
        fw_artifact_writer_str(w, FW_KV_NAME, "churn");
        fw_artifact_writer_i64(w, FW_KV_SEED, -42);
        fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, 0.8125);
        fw_artifact_writer_bytes(w, "x.blob", "\0\1\2", 3);
        fw_artifact_writer_section(w, FW_SECTION_MODEL, model, sizeof model);
        fw_artifact_writer_section(w, FW_SECTION_BASELINE, base, sizeof base);
        fw_artifact_writer_section(w, FW_SECTION_METRICS, "{}", 2);
    } else { /* same content, other call order, and a replaced value */
        fw_artifact_writer_section(w, FW_SECTION_METRICS, "{}", 2);
        fw_artifact_writer_section(w, FW_SECTION_BASELINE, base, sizeof base);
        fw_artifact_writer_f64(w, FW_KV_METRIC_MODEL, 0.8125);
        fw_artifact_writer_bytes(w, "x.blob", "\0\1\2", 3);
        fw_artifact_writer_section(w, FW_SECTION_MODEL, base, 2);
        fw_artifact_writer_section(w, FW_SECTION_MODEL, model, sizeof model);
        fw_artifact_writer_i64(w, FW_KV_SEED, -42);
        fw_artifact_writer_str(w, FW_KV_NAME, "other");
        fw_artifact_writer_str(w, FW_KV_NAME, "churn");
    }
    fw_err err;
    st = fw_artifact_writer_finish(w, out, &err);
    fw_artifact_writer_free(w);
    return st;
}

static void test_roundtrip(void) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(build(&b, 0));
    CHECK_EQ(b.len % 8, 0);
    fw_artifact *a;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_artifact_open(b.data, b.len, &a, &err));
    if (!a) return;
    CHECK_EQ(fw_artifact_format_version(a), FW_ARTIFACT_FORMAT_VERSION);
    CHECK_STR(fw_artifact_str(a, FW_KV_NAME), "churn");
    int64_t i = 0;
    CHECK(fw_artifact_i64(a, FW_KV_SEED, &i));
    CHECK_EQ(i, -42);
    double f = 0;
    CHECK(fw_artifact_f64(a, FW_KV_METRIC_MODEL, &f));
    CHECK(f == 0.8125);
    CHECK(!fw_artifact_f64(a, FW_KV_SEED, &f)); /* wrong type */
    CHECK(fw_artifact_str(a, "no.such") == NULL);
    const uint8_t *p;
    size_t n;
    CHECK(fw_artifact_bytes(a, "x.blob", &p, &n));
    CHECK_EQ(n, 3);
    CHECK_EQ(p[2], 2);
    CHECK(fw_artifact_section(a, FW_SECTION_MODEL, &p, &n));
    CHECK_EQ(n, 100);
    CHECK_EQ(p[1], 2);
    CHECK_EQ((size_t)(p - b.data) % FW_ARTIFACT_ALIGN, 0);
    CHECK(fw_artifact_section(a, FW_SECTION_BASELINE, &p, &n));
    CHECK_EQ(n, 7);
    CHECK_EQ((size_t)(p - b.data) % FW_ARTIFACT_ALIGN, 0);
    CHECK(!fw_artifact_section(a, FW_SECTION_PIPELINE, &p, &n));
    CHECK_EQ(fw_artifact_section_count(a), 3);
    CHECK_EQ(fw_artifact_kv_count(a), 4);
    fw_buf j;
    fw_buf_init(&j);
    fw_artifact_metadata_json(a, &j);
    fw_buf_put_u8(&j, 0);
    CHECK_CONTAINS((char *)j.data, "\"general.name\":\"churn\"");
    CHECK_CONTAINS((char *)j.data, "\"train.seed\":-42");
    CHECK_CONTAINS((char *)j.data, "\"name\":\"model\",\"bytes\":100");
    fw_buf_free(&j);
    fw_artifact_close(a);
    fw_buf_free(&b);
}

static void test_deterministic_bytes(void) {
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    CHECK_OK(build(&a, 0));
    CHECK_OK(build(&b, 1));
    CHECK_EQ(a.len, b.len);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    char ha[33], hb[33];
    fw_artifact_hash(a.data, a.len, ha);
    fw_artifact_hash(b.data, b.len, hb);
    CHECK_STR(ha, hb);
    CHECK_EQ(strlen(ha), 32);
    fw_buf_free(&a);
    fw_buf_free(&b);
}

static void test_bad_magic(void) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(build(&b, 0));
    fw_artifact *a;
    fw_err err;
    b.data[0] = 'X';
    CHECK_EQ(fw_artifact_open(b.data, b.len, &a, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "not a Flywheel artifact");
    CHECK_EQ(fw_artifact_open("FW", 2, &a, &err), FW_EINVAL);
    CHECK_EQ(fw_artifact_open("name,age\n1,2\n", 13, &a, &err), FW_EINVAL);
    fw_buf_free(&b);
}

static void test_truncated_everywhere(void) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(build(&b, 0));
    fw_artifact *a;
    fw_err err;
    /* every cut point from just after the magic to one byte short */
    for (size_t cut = 4; cut < b.len; cut++) {
        fw_status st = fw_artifact_open(b.data, cut, &a, &err);
        CHECK_MSG(st == FW_EDATA, "cut at %zu: status %d (%s)", cut, st, err.msg);
        if (st == FW_EDATA && cut >= 64) CHECK_CONTAINS(err.msg, "truncated");
        if (st == FW_OK) fw_artifact_close(a);
    }
    fw_buf_free(&b);
}

static void test_flip_each_byte(void) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(build(&b, 0));
    fw_artifact *a;
    fw_err err;
    int model_named = 0, baseline_named = 0;
    for (size_t i = 8; i < b.len; i++) { /* bytes 0..7: magic and version, tested on their own */
        b.data[i] ^= 0x40;
        fw_status st = fw_artifact_open(b.data, b.len, &a, &err);
        CHECK_MSG(st != FW_OK, "flip at %zu accepted", i);
        if (st == FW_OK) fw_artifact_close(a);
        if (strstr(err.msg, "section 'model'")) model_named++;
        if (strstr(err.msg, "section 'baseline'")) baseline_named++;
        b.data[i] ^= 0x40;
    }
    CHECK(model_named >= 100); /* every flip inside the model section names it (and its table entry) */
    CHECK(baseline_named >= 7);
    /* and the undamaged file still opens */
    CHECK_OK(fw_artifact_open(b.data, b.len, &a, &err));
    fw_artifact_close(a);
    fw_buf_free(&b);
}

static void test_versions(void) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(build(&b, 0));
    fw_artifact *a;
    fw_err err;
    b.data[4] = 2; /* future version */
    CHECK_EQ(fw_artifact_open(b.data, b.len, &a, &err), FW_EVERSION);
    CHECK_CONTAINS(err.msg, "newer");
    b.data[4] = 0;
    CHECK_EQ(fw_artifact_open(b.data, b.len, &a, &err), FW_EVERSION);
    b.data[4] = 1;
    /* trailing garbage is not silently ignored */
    fw_buf_put_u8(&b, 0);
    CHECK_EQ(fw_artifact_open(b.data, b.len, &a, &err), FW_ECORRUPT);
    fw_buf_free(&b);
}

static void test_writer_oom(void) {
    /* every allocation in the write + read path failing in turn must give an error, not a crash */
    for (long k = 1; k < 60; k++) {
        fw_buf b;
        fw_buf_init(&b);
        fw_alloc_fail_after(k);
        fw_status st = build(&b, 0);
        fw_artifact *a = NULL;
        fw_err err;
        if (st == FW_OK) {
            st = fw_artifact_open(b.data, b.len, &a, &err);
            if (st == FW_OK) fw_artifact_close(a);
        }
        fw_alloc_fail_after(0);
        CHECK(st == FW_OK || st == FW_ENOMEM);
        fw_buf_free(&b);
    }
}

static void test_empty_artifact(void) {
    fw_artifact_writer *w;
    CHECK_OK(fw_artifact_writer_new(&w));
    fw_buf b;
    fw_buf_init(&b);
    fw_err err;
    CHECK_OK(fw_artifact_writer_finish(w, &b, &err));
    fw_artifact_writer_free(w);
    CHECK_EQ(b.len, 64 + 16);
    fw_artifact *a;
    CHECK_OK(fw_artifact_open(b.data, b.len, &a, &err));
    CHECK_EQ(fw_artifact_kv_count(a), 0);
    fw_artifact_close(a);
    fw_buf_free(&b);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_deterministic_bytes);
    TEST_RUN(test_bad_magic);
    TEST_RUN(test_truncated_everywhere);
    TEST_RUN(test_flip_each_byte);
    TEST_RUN(test_versions);
    TEST_RUN(test_writer_oom);
    TEST_RUN(test_empty_artifact);
    return fw_test_report(argv[0]);
}
