/* test_jsonl.c — tests for src/data/jsonl.c and fw_data_load dispatch: inference, missing
 * values, errors with file:line, nested values, skip_bad_rows, gzip, extension detection. */
#include "data/jsonl.h"
#include "data/load.h"
#include "test.h"

#include <stdio.h>
#include <zlib.h>

static fw_dataset *ds;
static fw_err err;
static fw_load_result res;

static fw_status load(const char *text, const fw_load_opts *o) {
    fw_err_clear(&err);
    ds = NULL;
    return fw_jsonl_load_mem(text, strlen(text), "t.jsonl", o, &ds, &res, &err);
}

static void test_basic(void) {
    CHECK_OK(load("{\"a\": 1, \"b\": \"red\", \"t\": \"2024-01-01\"}\n"
                  "\n"
                  "{\"b\": \"blue\", \"a\": 2.5, \"c\": true}\r\n"
                  "{\"a\": null, \"b\": \"NA\", \"t\": \"2024-01-02T00:00:00Z\"}\n"
                  "{\"a\": \"3\", \"b\": 7}",
                  NULL));
    CHECK_EQ(ds->n_rows, 4);
    CHECK_EQ(ds->n_cols, 4);
    CHECK_STR(ds->cols[0].name, "a");
    CHECK_STR(ds->cols[3].name, "c");
    CHECK_EQ(ds->cols[0].type, FW_COL_NUMERIC);
    CHECK_EQ(ds->cols[1].type, FW_COL_CATEGORICAL);
    CHECK_EQ(ds->cols[2].type, FW_COL_TIMESTAMP);
    CHECK_EQ(ds->cols[3].type, FW_COL_CATEGORICAL);
    CHECK(ds->cols[0].num[1] == 2.5);
    CHECK(isnan(ds->cols[0].num[2]));
    CHECK(ds->cols[0].num[3] == 3); /* a numeric string in a numeric column */
    CHECK(fw_dataset_str(ds, 1, 2) == NULL);
    CHECK_STR(fw_dataset_str(ds, 1, 3), "7");
    CHECK(isnan(ds->cols[2].num[1]));
    CHECK(ds->cols[2].num[2] == 1704153600.0);
    CHECK_STR(fw_dataset_str(ds, 3, 1), "true");
    CHECK_STR(ds->source, "t.jsonl");
    fw_dataset_free(ds);
}

/* a real number in a string column reads as the text a CSV cell would hold (core/dtoa.h): the same
 * category whether the data came as CSV or JSON Lines, and the same as the server's mapping */
static void test_real_in_string_column(void) {
    CHECK_OK(load("{\"b\": \"red\"}\n{\"b\": 0.1}\n{\"b\": 0.30000000000000004}\n{\"b\": -2.5e-7}\n{\"b\": 1e300}\n", NULL));
    CHECK_EQ(ds->cols[0].type, FW_COL_CATEGORICAL);
    CHECK_STR(fw_dataset_str(ds, 0, 1), "0.1");
    CHECK_STR(fw_dataset_str(ds, 0, 2), "0.30000000000000004");
    CHECK_STR(fw_dataset_str(ds, 0, 3), "-2.5e-07");
    CHECK_STR(fw_dataset_str(ds, 0, 4), "1e+300");
    fw_dataset_free(ds);
}

static void test_errors(void) {
    CHECK_EQ(load("{\"a\": 1}\n{\"a\": 2,}\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.jsonl:2:");
    CHECK_EQ(load("{\"a\": 1}\n[1, 2]\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.jsonl:2: expected a JSON object");
    CHECK_EQ(load("{\"a\": 1}\n{\"a\": {\"x\": 1}}\n", NULL), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "t.jsonl:2: field 'a' holds an object");
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.sample_rows = 1;
    CHECK_EQ(load("{\"a\": 1}\n{\"a\": 2}\n{\"a\": \"x\"}\n", &o), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "t.jsonl:3: field 'a': expected a number, got 'x'");
    CHECK_EQ(load("", NULL), FW_EDATA);
    CHECK_EQ(load("{\"a\": 1, \"a\": 2}\n", NULL), FW_EPARSE);
    static const char bin[] = "{\"a\": 1}\n{\"a\"\0: 2}\n";
    fw_err_clear(&err);
    CHECK_EQ(fw_jsonl_load_mem(bin, sizeof bin - 1, "t.jsonl", NULL, &ds, &res, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "t.jsonl:2: NUL byte");
}

static void test_skip(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.skip_bad_rows = true;
    o.sample_rows = 2;
    CHECK_OK(load("{\"a\": 1}\n{\"a\": 2}\n{\"a\": \"x\"}\nnot json\n{\"a\": [1]}\n{\"a\": 6}\n", &o));
    CHECK_EQ(ds->n_rows, 3);
    CHECK_EQ(res.rejected, 3);
    CHECK_EQ(res.kept[0].line, 3);
    CHECK_EQ(res.kept[1].line, 4);
    CHECK_CONTAINS(res.kept[2].msg, "t.jsonl:5:");
    CHECK(ds->cols[0].num[2] == 6);
    fw_dataset_free(ds);
}

static void test_dispatch_and_gzip(void) {
    fw_data_format f;
    CHECK(fw_data_format_of("x.jsonl", &f) && f == FW_FORMAT_JSONL);
    CHECK(fw_data_format_of("x.NDJSON.gz", &f) && f == FW_FORMAT_JSONL);
    CHECK(fw_data_format_of("x.csv.gz", &f) && f == FW_FORMAT_CSV);
    CHECK(fw_data_format_of("x.tsv", &f) && f == FW_FORMAT_CSV);
    CHECK(!fw_data_format_of("x.parquet", &f));
    char path[512];
    snprintf(path, sizeof path, "%s/d.ndjson.gz", fw_test_tmpdir());
    gzFile g = gzopen(path, "wb");
    CHECK(g != NULL);
    if (!g) return;
    gzputs(g, "{\"k\": \"a\", \"v\": 1}\n{\"k\": \"b\", \"v\": 2}\n");
    gzclose(g);
    fw_err_clear(&err);
    CHECK_OK(fw_data_load(path, NULL, &ds, &res, &err));
    if (!ds) return;
    CHECK(res.gzip);
    CHECK_EQ(ds->n_rows, 2);
    CHECK(ds->cols[1].num[1] == 2);
    fw_dataset_free(ds);
    snprintf(path, sizeof path, "%s/d.tsv", fw_test_tmpdir());
    FILE *fp = fopen(path, "w");
    if (!fp) return;
    fputs("a\tb\n1\tx,y\n", fp);
    fclose(fp);
    CHECK_OK(fw_data_load(path, NULL, &ds, &res, &err));
    if (!ds) return;
    CHECK_EQ(ds->n_cols, 2);
    CHECK_STR(fw_dataset_str(ds, 1, 0), "x,y");
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_basic);
    TEST_RUN(test_real_in_string_column);
    TEST_RUN(test_errors);
    TEST_RUN(test_skip);
    TEST_RUN(test_dispatch_and_gzip);
    return fw_test_report(argv[0]);
}
