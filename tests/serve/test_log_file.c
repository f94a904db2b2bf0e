/* test_log_file.c — the prediction log's JSON-lines sinks (src/serve/logq.c): fw_log_record_json
 * writes, without printf, the very bytes the printf version wrote (kept below as the reference:
 * times from 1970 to 9999 and outside, latencies of every size and sign, escapes, feedback of every
 * shape); `--log FILE` appends those lines; and a path naming the null device (`--log /dev/null`,
 * or a link to it) is the discard sink: every record counted as written, durable pushes answered,
 * and no record formatted (its CPU per batch is a small fraction of formatting it). */
#include "serve/logq.h"
#include "test.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json_out.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the reference: fw_log_record_json as it was written with printf (logq.c before 15) ---- */

static void ref_jraw(fw_buf *b, const char *s) {
    if (s) fw_buf_put(b, s, strlen(s));
    else fw_buf_put(b, "null", 4);
}

static void ref_outputs(fw_buf *b, const fw_log_record *r) {
    fw_buf_put_u8(b, '[');
    for (uint32_t i = 0; i < r->n_rows; i++) {
        fw_buf_put(b, i ? ",[" : "[", i ? 2 : 1);
        for (uint32_t k = 0; k < r->n_out; k++) {
            if (k) fw_buf_put_u8(b, ',');
            fw_json_put_f64(b, r->outputs[(size_t)i * r->n_out + k]);
        }
        fw_buf_put_u8(b, ']');
    }
    fw_buf_put_u8(b, ']');
}

static void ref_record_json(const fw_log_record *r, fw_buf *b) {
    char ts[32];
    fw_format_iso8601(r->ts_ms, ts, sizeof ts);
    if (r->kind == FW_LOGREC_FEEDBACK) {
        fw_buf_printf(b, "{\"type\":\"feedback\",\"request_id\":");
        fw_json_put_str(b, r->request_id);
        fw_buf_printf(b, ",\"time\":\"%s\",\"matched\":%s", ts, r->matched ? "true" : "false");
        if (r->label_json) fw_buf_printf(b, ",\"label\":%s", r->label_json);
        if (r->event) {
            fw_buf_printf(b, ",\"event\":");
            fw_json_put_str(b, r->event);
        }
        if (isfinite(r->value)) {
            fw_buf_printf(b, ",\"value\":");
            fw_json_put_f64(b, r->value);
        }
        if (r->update) fw_buf_printf(b, ",\"update\":true");
        if (r->origin) {
            fw_buf_printf(b, ",\"source\":");
            fw_json_put_str(b, r->origin);
        }
        fw_buf_put_u8(b, '}');
        return;
    }
    fw_buf_printf(b, "{\"type\":\"prediction\",\"request_id\":");
    fw_json_put_str(b, r->request_id);
    fw_buf_printf(b, ",\"time\":\"%s\",\"model\":", ts);
    fw_json_put_str(b, r->model);
    fw_buf_printf(b, ",\"version\":");
    fw_json_put_str(b, r->version);
    fw_buf_printf(b, ",\"variant\":\"%s\",\"source\":\"%s\",\"protocol\":\"%s\",\"entity_id\":", r->variant, r->source,
                  r->protocol);
    fw_json_put_str(b, r->entity_id);
    fw_buf_printf(b, ",\"latency_ms\":%.4f,\"outcome\":\"%s\",\"inputs\":", (double)r->latency_us * 1e-3, r->outcome);
    ref_jraw(b, r->inputs);
    fw_buf_printf(b, ",\"answers\":");
    ref_jraw(b, r->answers);
    fw_buf_printf(b, ",\"outputs\":");
    ref_outputs(b, r);
    fw_buf_put_u8(b, '}');
}

/* ---- records ---- */

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static fw_log_record *pred(int i, int64_t ts_ms, int64_t latency_us) {
    static const char *const ids[] = {"req-1", "a\"quoted\\id", "tab\there", "ünï", ""};
    static const char *const variants[] = {"primary", "challenger", "shadow"};
    static const char *const outcomes[] = {"model", "fallback", "review"};
    char in[96];
    int n = snprintf(in, sizeof in, "{\"instances\":[{\"x\":%d,\"s\":\"a b\"}]}", i);
    double out[6] = {0.25, (double)i, -1e300, 3.5e-7, NAN, 1.0 / 3.0};
    fw_log_prediction p = {.request_id = ids[i % 5], .model = i % 4 ? "spam" : "m\"x", .version = i % 3 ? "12" : NULL,
                           .entity_id = i % 2 ? "e\n1" : NULL, .variant = variants[i % 3],
                           .source = i % 2 ? "batch" : "online", .protocol = i % 2 ? "v2" : "v1",
                           .outcome = outcomes[i % 3], .latency_us = latency_us,
                           .inputs = i % 6 ? in : NULL, .inputs_len = (size_t)n,
                           .answers = i % 5 ? "[\"pos\",\"neg\"]" : NULL, .answers_len = 13, .outputs = out,
                           .n_rows = (size_t)(i % 3), .n_out = 2};
    fw_log_record *r = fw_log_prediction_new(&p);
    if (r) r->ts_ms = ts_ms;
    return r;
}

static fw_log_record *feedback(int i, int64_t ts_ms) {
    fw_log_record *r = fw_log_feedback_new2(i % 3 ? "req-9" : "q\"9", i % 2 ? "\"spam\"" : NULL,
                                            i % 4 ? NULL : "click", i % 5 ? 0.1 * i : NAN, i % 3 == 0, i % 7 == 0,
                                            i % 2 ? "127.0.0.1 role=feedback" : NULL);
    if (r) r->ts_ms = ts_ms;
    return r;
}

/* times worth a look: the epoch, leap days, centuries, the last representable millisecond of 9999
 * and the first after it, before 1970, and random ones over the whole range */
static int64_t some_time(int i) {
    static const int64_t fixed[] = {0,
                                    1,
                                    999,
                                    86399999,
                                    86400000,
                                    951782400000,    /* 2000-02-29 */
                                    951868799999,    /* 2000-02-29T23:59:59.999 */
                                    4107542400000,   /* 2100-03-01 */
                                    1796675165123,   /* 2026-12-07 */
                                    253402300799999, /* 9999-12-31T23:59:59.999 */
                                    253402300800000, /* 10000-01-01 */
                                    -1,
                                    -1000,
                                    -86400001,
                                    -62135596800000};
    size_t nf = sizeof fixed / sizeof *fixed;
    if ((size_t)i < nf) return fixed[i];
    uint64_t x = next();
    switch (i % 4) {
    case 0: return (int64_t)(x % 253402300800000ull);                  /* 1970..9999 */
    case 1: return INT64_C(1700000000000) + (int64_t)(x % 100000000000ull); /* recent */
    case 2: return -(int64_t)(x % 62135596800000ull);                   /* before 1970 */
    default: return (int64_t)(x % 300000000000000ull);                  /* past 9999 too */
    }
}

static int64_t some_latency(int i) {
    static const int64_t fixed[] = {0, 1, 9, 10, 999, 1000, 1001, 123456, -1, -5, -1000, -123456,
                                    999999999999, 1000000000000, -999999999999, -1000000000000,
                                    INT64_C(4503599627370496), INT64_C(9007199254740993), INT64_MAX, INT64_MIN + 1};
    size_t nf = sizeof fixed / sizeof *fixed;
    if ((size_t)i < nf) return fixed[i];
    uint64_t x = next();
    switch (i % 5) {
    case 0: return (int64_t)(x % 100000);
    case 1: return (int64_t)(x % 1000000000000ull);
    case 2: return -(int64_t)(x % 1000000000000ull);
    case 3: return (int64_t)(x >> 1);
    default: return (int64_t)(x % 10000000);
    }
}

static void test_json_bytes_as_printf_wrote_them(void) {
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        fw_log_record *r = i % 4 == 3 ? feedback(i, some_time(i % 1000 < 15 ? i % 1000 : i))
                                      : pred(i, some_time(i % 1000 < 15 ? i % 1000 : i), some_latency(i));
        CHECK(r != NULL);
        if (!r) break;
        a.len = b.len = 0;
        fw_log_record_json(r, &a);
        ref_record_json(r, &b);
        CHECK(fw_buf_ok(&a) && fw_buf_ok(&b));
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
            if (bad++ < 3)
                CHECK_MSG(false, "record %d (ts %lld, latency %lld):\n  got  %.*s\n  want %.*s", i, (long long)r->ts_ms,
                          (long long)r->latency_us, (int)a.len, (const char *)a.data, (int)b.len,
                          (const char *)b.data);
        }
        fw_free(r);
    }
    CHECK_EQ(bad, 0);
    fw_buf_free(&a);
    fw_buf_free(&b);
}

/* --log FILE: lines appended, each the record's JSON */
static void test_file_sink_appends_lines(void) {
    const char *path = fw_test_tmp_file("log.jsonl");
    fw_log_sink sink;
    fw_err err;
    CHECK_OK(fw_log_sink_file(path, &sink, &err));
    CHECK(!fw_log_sink_discards(&sink));
    fw_log_record *recs[3] = {pred(1, 1796675165123, 1234), feedback(2, 1796675165124), pred(4, 0, 7)};
    CHECK_OK(sink.write(sink.ud, recs, 3, &err));
    sink.close(sink.ud);
    fw_buf want;
    fw_buf_init(&want);
    for (int i = 0; i < 3; i++) {
        ref_record_json(recs[i], &want);
        fw_buf_put_u8(&want, '\n');
        fw_free(recs[i]);
    }
    fw_buf_put_u8(&want, 0);
    size_t len = 0;
    char *got = fw_test_slurp(path, &len);
    CHECK_STR(got, (const char *)want.data);
    free(got);
    fw_buf_free(&want);
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --log /dev/null (and a link to it) is the discard sink: nothing formatted. Its write of a batch
 * takes a small fraction of the CPU of formatting the batch (the JSON-lines sink on /dev/null
 * formatted every record: about as much as formatting them, or more with the write) */
static void test_null_device_formats_nothing(void) {
    fw_log_sink sink;
    fw_err err;
    CHECK_OK(fw_log_sink_file("/dev/null", &sink, &err));
    const char *link = fw_test_tmp_file("null-link");
    CHECK(symlink("/dev/null", link) == 0);
    fw_log_sink linked;
    CHECK_OK(fw_log_sink_file(link, &linked, &err));
    CHECK(fw_log_sink_discards(&linked));
    linked.close(linked.ud);
    enum { N = 512, ROUNDS = 40 };
    fw_log_record *recs[N];
    for (int i = 0; i < N; i++) recs[i] = pred(i + 1, 1796675165123 + i, 100 + i);
    fw_buf b;
    fw_buf_init(&b);
    double c0 = thread_cpu_s();
    for (int k = 0; k < ROUNDS; k++)
        for (int i = 0; i < N; i++) {
            b.len = 0;
            fw_log_record_json(recs[i], &b);
        }
    double format_s = thread_cpu_s() - c0;
    c0 = thread_cpu_s();
    for (int k = 0; k < ROUNDS; k++) CHECK_OK(sink.write(sink.ud, recs, N, &err));
    double write_s = thread_cpu_s() - c0;
    CHECK_MSG(write_s < 0.1 * format_s, "the /dev/null sink took %.6f s CPU for %d records, formatting them %.6f s",
              write_s, N * ROUNDS, format_s);
    sink.close(sink.ud);
    for (int i = 0; i < N; i++) fw_free(recs[i]);
    fw_buf_free(&b);
}

/* through a queue: every record counted as written, a durable push answered (nothing to sync) */
static void test_null_device_counts_written(void) {
    fw_log_sink sink;
    fw_err err;
    CHECK_OK(fw_log_sink_file("/dev/null", &sink, &err));
    CHECK(fw_log_sink_discards(&sink));
    fw_logq *q;
    CHECK_OK(fw_logq_new(&sink, 4096, FW_LOG_DROP_NEWEST, 0.1, 64, &q, &err));
    int pushed = 0;
    for (int i = 0; i < 1000; i++) {
        char rid[32], in[48];
        snprintf(rid, sizeof rid, "r-%d", i);
        int n = snprintf(in, sizeof in, "{\"x\":%d}", i);
        double out[1] = {(double)i};
        fw_log_prediction p = {.request_id = rid, .model = "m", .version = "1", .inputs = in,
                               .inputs_len = (size_t)n, .outputs = out, .n_rows = 1, .n_out = 1};
        pushed += fw_logq_push_prediction(q, &p);
    }
    CHECK_EQ(fw_logq_push_durable(q, feedback(1, 1796675165123), 10000), FW_OK);
    fw_logq_stats s;
    fw_logq_get_stats(q, &s);
    CHECK_EQ(s.dropped, 0);
    CHECK_EQ(pushed, 1000);
    CHECK_EQ(s.written, 1001); /* the durable push waited for its batch: every earlier one is written */
    CHECK_EQ(s.write_errors, 0);
    fw_logq_close(q);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_json_bytes_as_printf_wrote_them);
    TEST_RUN(test_file_sink_appends_lines);
    TEST_RUN(test_null_device_formats_nothing);
    TEST_RUN(test_null_device_counts_written);
    return fw_test_report(argv[0]);
}
