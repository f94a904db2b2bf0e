/* test_snapshot.c — tests for src/learn/snapshot.c: which logged requests become served rows (one v1
 * instance, a plain record; not several instances, a v2 body or no inputs), the window and decay
 * policies, and the snapshot files byte for byte: base records copied verbatim (quoted delimiters,
 * quoted newlines, CRLF, blank lines), served rows in the header's column order with the label, the
 * time column in the base data's own format, CSV quoting, the added weight column (CSV and JSON
 * Lines), learn.base: false, and the errors. */
#include "core/alloc.h"
#include "learn/snapshot.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static char g_home[600];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void add(fw_served_rows *s, const char *rid, int64_t ts, const char *in, const char *label) {
    fw_learn_row r = {.request_id = rid, .ts_ms = ts, .version = 1, .input_json = in, .label_json = label};
    CHECK_OK(fw_served_rows_add(s, &r));
}

static void test_served_records(void) {
    fw_served_rows s;
    fw_served_rows_init(&s);
    add(&s, "a", 1, "{\"instances\":[{\"x\":1,\"s\":\"u\"}]}", "1");
    add(&s, "b", 2, "{\"instances\":[{\"x\":1},{\"x\":2}]}", "1"); /* two instances, one label */
    add(&s, "c", 3, "{\"inputs\":[{\"name\":\"x\",\"data\":[1]}]}", "1");
    add(&s, "d", 4, NULL, "1");
    add(&s, "e", 5, "{\"x\":2.5}", "0");
    add(&s, "f", 6, "[1,2]", "0");
    CHECK_EQ(s.n, 2u);
    CHECK_EQ(s.n_skipped, 4u);
    CHECK_STR(s.v[0].input_json, "{\"x\":1,\"s\":\"u\"}");
    CHECK_STR(s.v[1].input_json, "{\"x\":2.5}");
    CHECK_STR(s.v[1].request_id, "e");
    fw_served_rows_free(&s);
}

static void test_policy(void) {
    fw_served_rows s;
    fw_served_rows_init(&s);
    for (int i = 0; i < 6; i++) add(&s, "r", 1000000 + i * 3600000LL, "{\"x\":1}", "1"); /* hourly */
    int64_t now = 1000000 + 6 * 3600000LL;
    fw_learn_spec l;
    fw_learn_spec_init(&l);
    bool keep[6];
    double w[6];
    CHECK_EQ(fw_snapshot_policy(&l, &s, 5, now, keep, w), 5u); /* a window without bounds: all */
    l.window_rows = 2;
    CHECK_EQ(fw_snapshot_policy(&l, &s, 5, now, keep, w), 2u);
    CHECK(!keep[2] && keep[3] && keep[4]);
    l.window_rows = 0;
    l.window_max_age_s = 3.5 * 3600; /* rows 0..4 are 6h..2h old */
    CHECK_EQ(fw_snapshot_policy(&l, &s, 5, now, keep, w), 2u);
    CHECK(!keep[2] && keep[3] && keep[4] && w[3] == 1);
    l.rows = FW_LEARN_ROWS_DECAY;
    l.half_life_s = 2 * 3600;
    CHECK_EQ(fw_snapshot_policy(&l, &s, 5, now, keep, w), 5u);
    CHECK_NEAR(w[4], 0.5, 1e-15);  /* 2h old */
    CHECK_NEAR(w[0], 0.125, 1e-15); /* 6h old */
    fw_learn_spec_free(&l);
    fw_served_rows_free(&s);
}

/* Writes the snapshots of rows under a project with label y and time t, returns the two files. */
static fw_status snap(const char *base_text, const char *ext, const char *yaml, fw_served_rows *rows, size_t n_train,
                      fw_snapshot_files *out, char **train, char **hold, fw_err *err) {
    char base[700];
    snprintf(base, sizeof base, "%s/base.%s", fw_test_tmpdir(), ext);
    write_file(base, base_text);
    fw_project p;
    fw_project_init(&p);
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "p.yaml", &p, err));
    fw_store *s;
    CHECK_OK(fw_store_open(g_home, &s, err));
    fw_snapshot_plan plan;
    fw_snapshot_plan_init(&plan);
    plan.project = &p;
    plan.learn = &p.learn;
    plan.base_path = base;
    plan.rows = rows;
    plan.n_train = n_train;
    plan.now_ms = 86400000LL * 20000 + 7200000; /* 2024-10-04T02:00Z */
    plan.base_ms = plan.now_ms - 3600000;
    fw_status st = fw_snapshot_write(s, &plan, out, err);
    fw_store_close(s);
    fw_project_free(&p);
    *train = st ? NULL : fw_test_slurp(out->train_path, NULL);
    *hold = st ? NULL : fw_test_slurp(out->holdout_path, NULL);
    return st;
}

static void test_csv_window(void) {
    fw_served_rows s;
    fw_served_rows_init(&s);
    int64_t t0 = 86400000LL * 20000; /* 2024-10-04 */
    add(&s, "r1", t0 + 1000, "{\"instances\":[{\"a\":1.5,\"b\":\"x, y\",\"extra\":7}]}", "\"pos\"");
    add(&s, "r2", t0 + 2000, "{\"instances\":[{\"a\":-2,\"b\":\"say \\\"hi\\\"\",\"t\":\"2024-01-01\"}]}", "\"neg\"");
    add(&s, "r3", t0 + 3000, "{\"instances\":[{\"a\":null,\"b\":true}]}", "\"pos\"");
    const char *base = "a,t,b,y\r\n1,2024-09-01,\"q,1\",neg\r\n\r\n2,2024-09-02,\"multi\nline\",pos\n3,2024-09-03,z,neg";
    fw_snapshot_files f;
    char *train, *hold;
    fw_err err;
    CHECK_OK(snap(base, "csv", "data: {train: x.csv, label: y, time: t}\nlearn:\n", &s, 2, &f, &train, &hold, &err));
    CHECK_STR(train, "a,t,b,y\n1,2024-09-01,\"q,1\",neg\n2,2024-09-02,\"multi\nline\",pos\n3,2024-09-03,z,neg\n"
                     "1.5,2024-10-04,\"x, y\",pos\n-2,2024-01-01,\"say \"\"hi\"\"\",neg\n");
    CHECK_STR(hold, "a,t,b,y\n,2024-10-04,true,pos\n");
    CHECK_EQ(f.n_base, 3u);
    CHECK_EQ(f.n_served_train, 2u);
    CHECK_STR(f.weight_column, "");
    CHECK_EQ(strlen(f.train_hash), 32u);
    free(train);
    free(hold);
    /* learn.base: false: the served rows alone; window rows: 1 */
    CHECK_OK(snap(base, "csv", "data: {train: x.csv, label: y}\nlearn: {base: false, window: {rows: 1}}\n", &s, 2, &f,
                  &train, &hold, &err));
    CHECK_STR(train, "a,t,b,y\n-2,2024-01-01,\"say \"\"hi\"\"\",neg\n");
    CHECK_EQ(f.n_base, 0u);
    free(train);
    free(hold);
    /* nothing to train on */
    CHECK(snap(base, "csv", "data: {train: x.csv, label: y}\nlearn: {base: false}\n", &s, 0, &f, &train, &hold, &err) ==
          FW_EDATA);
    CHECK_CONTAINS(err.msg, "no training rows");
    fw_served_rows_free(&s);
}

static void test_decay_weight_column(void) {
    fw_served_rows s;
    fw_served_rows_init(&s);
    int64_t now = 86400000LL * 20000 + 7200000;
    add(&s, "r1", now - 3600000, "{\"a\":1}", "1");
    add(&s, "r2", now - 1000, "{\"a\":2}", "0");
    fw_snapshot_files f;
    char *train, *hold;
    fw_err err;
    const char *yaml = "data: {train: x.csv, label: y}\nlearn: {rows: decay, half_life: 1h}\n";
    CHECK_OK(snap("a,y\n5,1\n\"6\n\",0\n", "csv", yaml, &s, 1, &f, &train, &hold, &err));
    /* base rows weigh as of base_ms (1h old): 0.5; the served row 1h old: 0.5 */
    CHECK_STR(train, "a,y,_fw_learn_weight\n5,1,0.5\n\"6\n\",0,0.5\n1,1,0.5\n");
    CHECK_STR(hold, "a,y,_fw_learn_weight\n2,0,1\n");
    CHECK_STR(f.weight_column, FW_SNAPSHOT_WEIGHT_COLUMN);
    free(train);
    free(hold);
    /* JSON Lines base: the key goes into each object; served rows are objects with the label */
    CHECK_OK(snap("{\"a\":5,\"y\":1}\n{}\n", "jsonl", yaml, &s, 1, &f, &train, &hold, &err));
    CHECK_STR(train, "{\"a\":5,\"y\":1,\"_fw_learn_weight\":0.5}\n{\"_fw_learn_weight\":0.5}\n"
                     "{\"a\":1,\"y\":1,\"_fw_learn_weight\":0.5}\n");
    CHECK_STR(hold, "{\"a\":2,\"y\":0,\"_fw_learn_weight\":1.0}\n");
    free(train);
    free(hold);
    /* the project's own weight column: served rows fill it, base rows are copied as they are */
    CHECK_OK(snap("a,w,y\n5,3,1\n", "csv", "data: {train: x.csv, label: y, weight: w}\nlearn: {rows: decay, half_life: 1h}\n",
                  &s, 1, &f, &train, &hold, &err));
    CHECK_STR(train, "a,w,y\n5,3,1\n1,0.5,1\n");
    CHECK_STR(f.weight_column, "");
    free(train);
    free(hold);
    /* a base file that is not there */
    fw_project p;
    fw_project_init(&p);
    fw_learn_spec l;
    fw_learn_spec_init(&l);
    fw_snapshot_plan plan;
    fw_snapshot_plan_init(&plan);
    CHECK_OK(fw_project_parse("data: {train: x.csv, label: y}\n", 31, "p.yaml", &p, &err));
    plan.project = &p;
    plan.learn = &l;
    plan.base_path = "/nonexistent/base.csv";
    plan.rows = &s;
    fw_store *st;
    CHECK_OK(fw_store_open(g_home, &st, &err));
    CHECK(fw_snapshot_write(st, &plan, &f, &err) == FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "/nonexistent/base.csv");
    fw_store_close(st);
    fw_project_free(&p);
    fw_served_rows_free(&s);
}

int main(int argc, char **argv) {
    (void)argc;
    snprintf(g_home, sizeof g_home, "%s/home", fw_test_tmpdir());
    TEST_RUN(test_served_records);
    TEST_RUN(test_policy);
    TEST_RUN(test_csv_window);
    TEST_RUN(test_decay_weight_column);
    return fw_test_report(argv[0]);
}
