/* test_log_store.c — the prediction log's store sink on its own (no server): a batch larger than
 * one multi-row INSERT plus a remainder lands row for row in prediction_log (inputs compacted,
 * outputs formatted), feedback in the same batch finds its prediction, and a batch after the
 * first reuses the prepared statements. */
#include "serve/logq.h"
#include "test.h"
#include "db.h"

#include "core/alloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static fw_log_record *pred(int i) {
    char rid[32], in[128];
    snprintf(rid, sizeof rid, "req-%04d", i);
    int n = snprintf(in, sizeof in, "{ \"instances\": [ {\"x\": %d, \"s\": \"a b\"} ] }", i);
    double out[2] = {0.25, (double)i};
    fw_log_prediction p = {.request_id = rid, .model = "m", .version = i % 2 ? "2" : "1", .outcome = "model",
                           .latency_us = i, .inputs = in, .inputs_len = (size_t)n, .outputs = out, .n_rows = 1,
                           .n_out = 2, .answers = "[\"pos\"]", .answers_len = 7};
    return fw_log_prediction_new(&p);
}

static void test_batches(void) {
    char home[600];
    snprintf(home, sizeof home, "%s/home", fw_test_tmpdir());
    _Atomic(unsigned long long) matched = 0, unmatched = 0;
    fw_log_sink sink;
    fw_err err;
    CHECK_OK(fw_log_sink_store(home, &matched, &unmatched, &sink, &err));
    /* 32 x 2 + 7 predictions and 2 feedback records in one batch, then one more batch */
    enum { N = 71 };
    fw_log_record *recs[N + 2];
    for (int i = 0; i < N; i++) recs[i] = pred(i);
    recs[N] = fw_log_feedback_new("req-0005", "\"pos\"", NULL, 0, false);
    recs[N + 1] = fw_log_feedback_new("nobody", NULL, "click", 1, false);
    for (int i = 0; i < N + 2; i++) CHECK(recs[i] != NULL);
    CHECK_OK(sink.write(sink.ud, recs, N + 2, &err));
    for (int i = 0; i < N + 2; i++) fw_free(recs[i]);
    fw_log_record *more[3] = {pred(100), pred(101), pred(102)};
    CHECK_OK(sink.write(sink.ud, more, 3, &err));
    for (int i = 0; i < 3; i++) fw_free(more[i]);
    sink.close(sink.ud);
    CHECK_EQ((long long)matched, 1);
    CHECK_EQ((long long)unmatched, 1);

    char path[700];
    snprintf(path, sizeof path, "%s/log.db", home);
    sqlite3 *db;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log"), N + 3);
    CHECK_EQ(DB_INT(db, "SELECT count(DISTINCT request_id) FROM prediction_log"), N + 3);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE request_id = 'req-0070' AND version = 1"
                       " AND latency_us = 70 AND model_name = 'm' AND outcome = 'model'"
                       " AND input_json = '{\"instances\":[{\"x\":70,\"s\":\"a b\"}]}'"
                       " AND output_json = '{\"variant\":\"primary\",\"source\":\"online\",\"protocol\":\"v1\","
                       "\"entity_id\":null,\"answers\":[\"pos\"],\"outputs\":[[0.25,70]]}'"),
             1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE request_id = 'req-0033' AND version = 2"
                       " AND latency_us = 33 AND input_json LIKE '%\"x\":33,%'"),
             1);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM prediction_log WHERE request_id = 'req-0102'"), 1);
    CHECK_EQ(DB_INT(db, "SELECT sum(latency_us) FROM prediction_log"), N * (N - 1) / 2 + 303);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback"), 2);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM feedback_unmatched WHERE request_id = 'nobody'"), 1);
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_batches);
    return fw_test_report(argv[0]);
}
