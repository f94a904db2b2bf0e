/* test_logq_gaps.c — the log queue drops a prediction's whitespace runs as it copies the inputs
 * (src/serve/logq.c, fw_log_prediction.inputs_gaps: the /v1 decoder's runs) when its sink keeps
 * inputs compact: the record reaches the sink compact and marked so (the writer has nothing left to
 * compact); a sink that keeps inputs as sent (the JSON-lines file) gets them as sent; runs that are
 * not ascending or leave the text are not used (the text as sent, unmarked). */
#include "serve/logq.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

typedef struct cap_sink {
    char text[8][256];
    bool compact[8];
    int n;
} cap_sink;

static fw_status cap_write(void *ud, fw_log_record *const *recs, size_t n, fw_err *err) {
    (void)err;
    cap_sink *k = ud;
    for (size_t i = 0; i < n && k->n < 8; i++, k->n++) {
        snprintf(k->text[k->n], sizeof k->text[k->n], "%.*s", (int)recs[i]->inputs_len, recs[i]->inputs);
        k->compact[k->n] = recs[i]->inputs_compact;
    }
    return FW_OK;
}
static void cap_close(void *ud) { (void)ud; }

static const char BODY[] = " {\"instances\" : [ {\"a\": 1, \"s\": \"x y\"} ] } ";
/* its whitespace runs between tokens: (offset, length) */
static const uint32_t RUNS[] = {0, 1, 13, 1, 15, 1, 17, 1, 23, 1, 26, 1, 31, 1, 38, 1, 40, 1, 42, 1};

static void push(fw_logq *q, const uint32_t *runs, size_t n_runs) {
    double out[1] = {0.5};
    fw_log_prediction p = {.request_id = "r", .model = "m", .version = "1", .inputs = BODY,
                           .inputs_len = sizeof BODY - 1, .inputs_gaps = runs, .n_gaps = n_runs, .outputs = out,
                           .n_rows = 1, .n_out = 1};
    CHECK(fw_logq_push_prediction(q, &p));
}

static void run(bool compacts, cap_sink *k) {
    memset(k, 0, sizeof *k);
    fw_log_sink sink = {.ud = k, .write = cap_write, .close = cap_close, .compacts_inputs = compacts};
    fw_logq *q;
    fw_err err;
    CHECK_OK(fw_logq_new(&sink, 64, FW_LOG_DROP_NEWEST, 1.0, 16, &q, &err));
    if (!q) return;
    push(q, RUNS, sizeof RUNS / sizeof *RUNS / 2);
    push(q, NULL, 0);
    static const uint32_t unordered[] = {13, 1, 0, 1};
    push(q, unordered, 2);
    static const uint32_t outside[] = {44, 5};
    push(q, outside, 1);
    fw_logq_close(q);
    CHECK_EQ(k->n, 4);
}

static void test_runs_dropped_for_a_compacting_sink(void) {
    char want[256];
    CHECK_EQ(fw_json_compact(want, BODY, sizeof BODY - 1), strlen("{\"instances\":[{\"a\":1,\"s\":\"x y\"}]}"));
    cap_sink k;
    run(true, &k);
    CHECK_STR(k.text[0], "{\"instances\":[{\"a\":1,\"s\":\"x y\"}]}");
    CHECK(k.compact[0]);
    for (int i = 1; i < 4; i++) { /* no runs, bad runs: as sent, for the writer to compact */
        CHECK_STR(k.text[i], BODY);
        CHECK(!k.compact[i]);
    }
}

static void test_runs_ignored_for_a_verbatim_sink(void) {
    cap_sink k;
    run(false, &k);
    for (int i = 0; i < 4; i++) {
        CHECK_STR(k.text[i], BODY);
        CHECK(!k.compact[i]);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_runs_dropped_for_a_compacting_sink);
    TEST_RUN(test_runs_ignored_for_a_verbatim_sink);
    return fw_test_report(argv[0]);
}
