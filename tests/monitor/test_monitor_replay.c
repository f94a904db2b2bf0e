/* test_monitor_replay.c — `flywheel monitor NAME@REF --input FILE` through the real binary, on real
 * tables (examples/pima, examples/boston) streamed in order: rows resampled with a fixed seed, a
 * change injected at a known row. Each case asserts that no alarm is raised before the change
 * and that the right alarm (kind and column) is raised within the delay: a 0.5-SD shift
 * of one numeric feature within 1,000 rows, missing rate +20 points within 200, an unseen
 * category at 5% of rows within 500, a value of the wrong type AT its row; a stream without a
 * change raises nothing. Also: the --json contract, exit codes, text and --html output. */
#include "test.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_ROWS = 4000, CHANGE = 2000 };

typedef struct table {
    char *text;
    char *header;
    char **lines;
    size_t n;
} table;

static bool table_load(const char *path, table *t) {
    memset(t, 0, sizeof *t);
    t->text = fw_test_slurp(path, NULL);
    if (!t->text) return false;
    size_t cap = 4096;
    t->lines = malloc(cap * sizeof *t->lines);
    char *save = NULL;
    for (char *l = strtok_r(t->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(l);
        if (n && l[n - 1] == '\r') l[n - 1] = 0;
        if (!t->header) t->header = l;
        else if (t->n < cap) t->lines[t->n++] = l;
    }
    return t->n > 0;
}

static void table_free(table *t) {
    free(t->text);
    free(t->lines);
}

/* Splits a copy of line into at most 32 fields (no quoting in these files). */
static size_t fields(char *line, char **f) {
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < 32; p++)
        if (*p == ',') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

static int field_index(const table *t, const char *name) {
    char *h = strdup(t->header), *f[32];
    size_t n = fields(h, f);
    int at = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i], name)) at = (int)i;
    free(h);
    return at;
}

/* The change made to row i's fields (from CHANGE on); u is a uniform in [0, 1) for that row. */
typedef void (*change_fn)(char **f, size_t n, size_t i, double u, int col, char *buf);

/* Writes N_ROWS rows resampled from t (seeded), change applied from row CHANGE on. */
static void write_stream(const table *t, const char *path, change_fn ch, int col) {
    FILE *out = fopen(path, "w");
    CHECK(out != NULL);
    if (!out) return;
    fprintf(out, "%s\n", t->header);
    unsigned s = 12345;
    for (size_t i = 0; i < N_ROWS; i++) {
        double v[2];
        fw_test_uniforms(&s, v, 2);
        size_t src = (size_t)((v[0] + 1) / 2 * (double)t->n) % t->n;
        char *l = strdup(t->lines[src]), *f[32], buf[64];
        size_t n = fields(l, f);
        if (ch && i >= CHANGE) ch(f, n, i, (v[1] + 1) / 2, col, buf);
        for (size_t k = 0; k < n; k++) fprintf(out, "%s%s", k ? "," : "", f[k]);
        fputc('\n', out);
        free(l);
    }
    fclose(out);
}

static void shift_half_sd(char **f, size_t n, size_t i, double u, int col, char *buf) {
    (void)n, (void)i, (void)u;
    if (!*f[col]) return;
    snprintf(buf, 64, "%.6g", atof(f[col]) + 16.0); /* glucose: SD 32 in pima */
    f[col] = buf;
}

static void missing_20(char **f, size_t n, size_t i, double u, int col, char *buf) {
    (void)n, (void)i, (void)buf;
    if (u < 0.2) f[col] = "";
}

static void unseen_5pct(char **f, size_t n, size_t i, double u, int col, char *buf) {
    (void)n, (void)u, (void)buf;
    if (i % 20 == 0) f[col] = "Atlantis";
}

static void bad_type_once(char **f, size_t n, size_t i, double u, int col, char *buf) {
    (void)n, (void)u, (void)buf;
    if (i == CHANGE) f[col] = "abc";
}

static json_t *replay(const char *model, const char *stream, const char *extra) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" monitor %s --input \"$T/%s\" --home \"$T/h\" --json %s 2>&1", model, stream,
                        extra ? extra : "");
    CHECK_MSG(rc == 0, "monitor %s %s: exit %d: %.400s", model, stream, rc, o ? o : "");
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "not JSON: %.400s", o ? o : "(null)");
    free(o);
    return j;
}

/* Every alarm has the contract's keys; none is raised before `change`; the first one of
 * (kind, column) comes at a row in [change, change + within]. Returns that row (or -1). */
static long expect_alarm(json_t *j, const char *kind, const char *column, long change, long within) {
    if (!j) return -1;
    CHECK_EQ(json_integer_value(json_object_get(j, "rows")), N_ROWS);
    json_t *al = json_object_get(j, "alarms");
    CHECK(json_is_array(al));
    long found = -1;
    for (size_t i = 0; i < json_array_size(al); i++) {
        json_t *a = json_array_get(al, i);
        long row = (long)json_integer_value(json_object_get(a, "row"));
        const char *k = json_string_value(json_object_get(a, "kind"));
        json_t *c = json_object_get(a, "column");
        CHECK(json_is_integer(json_object_get(a, "row")) && k && (json_is_string(c) || json_is_null(c)));
        CHECK(json_is_string(json_object_get(a, "statistic")));
        CHECK(json_is_number(json_object_get(a, "value")) && json_is_number(json_object_get(a, "threshold")));
        CHECK_MSG(row >= change, "alarm %s on %s at row %ld, before the change at %ld", k ? k : "?",
                  json_is_string(c) ? json_string_value(c) : "(model)", row, change);
        if (found < 0 && k && !strcmp(k, kind) &&
            (column ? json_is_string(c) && !strcmp(json_string_value(c), column) : json_is_null(c)))
            found = row;
        if (i) CHECK(row >= (long)json_integer_value(json_object_get(json_array_get(al, i - 1), "row")));
    }
    CHECK_MSG(found >= change && found < change + within, "%s alarm on %s: row %ld, expected in [%ld, %ld)", kind,
              column ? column : "(model)", found, change, change + within);
    return found;
}

static bool trained_pima, trained_boston;

static bool train_pima(void) {
    if (trained_pima) return true;
    char *o = NULL;
    /* no latency budget here (timing is not part of these streams; test_latency sets one) */
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" 's/p99_latency_ms: 5/p99_latency_ms: 0/' && "
                            "\"$FW\" train \"$T/pima.yaml\" --home \"$T/h\" --quiet --models baseline,linear");
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return trained_pima = rc == 0;
}

static bool train_boston(void) {
    if (trained_boston) return true;
    char *o = NULL;
    /* town one-hot (92 towns > the 64 default cap), so its categories are known to the model */
    int rc = fw_test_sh(&o, "fw_project boston \"$T/boston.yaml\" 's/p99_latency_ms: 5/p99_latency_ms: 0/' && "
                            "printf 'features:\\n  - name: town\\n    max_categories: 200\\n' >> \"$T/boston.yaml\" && "
                            "\"$FW\" train \"$T/boston.yaml\" --home \"$T/h\" --quiet --models baseline,linear");
    CHECK_MSG(rc == 0, "train boston: %s", o ? o : "");
    free(o);
    return trained_boston = rc == 0;
}

static void test_no_change_no_alarm(void) {
    if (!fw_test_bin() || !train_pima()) return;
    table t;
    CHECK(table_load("examples/pima/pima.csv", &t));
    char path[600];
    snprintf(path, sizeof path, "%s/none.csv", fw_test_tmpdir());
    write_stream(&t, path, NULL, 0);
    json_t *j = replay("pima@1", "none.csv", "--label diabetes");
    if (j) {
        CHECK_EQ(json_integer_value(json_object_get(j, "rows")), N_ROWS);
        CHECK_MSG(json_array_size(json_object_get(j, "alarms")) == 0, "alarms on a stream without change: %s",
                  json_dumps(json_object_get(j, "alarms"), 0));
        json_t *mon = json_object_get(j, "monitor");
        CHECK(json_is_array(json_object_get(mon, "alarms")) && json_array_size(json_object_get(mon, "alarms")) == 0);
        CHECK_EQ(json_array_size(json_object_get(mon, "columns")), 8);
        json_decref(j);
    }
    table_free(&t);
}

static void test_numeric_shift(void) {
    if (!fw_test_bin() || !train_pima()) return;
    table t;
    CHECK(table_load("examples/pima/pima.csv", &t));
    char path[600];
    snprintf(path, sizeof path, "%s/shift.csv", fw_test_tmpdir());
    write_stream(&t, path, shift_half_sd, field_index(&t, "glucose"));
    json_t *j = replay("pima@1", "shift.csv", NULL);
    expect_alarm(j, "drift", "glucose", CHANGE, 1000);
    /* the same stream again: the same alarms, byte for byte (rows, values, ts_ms 0) */
    json_t *again = replay("pima@1", "shift.csv", NULL);
    char *a = j ? json_dumps(json_object_get(j, "alarms"), JSON_SORT_KEYS) : NULL;
    char *b = again ? json_dumps(json_object_get(again, "alarms"), JSON_SORT_KEYS) : NULL;
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
    json_decref(again);
    json_decref(j);
    table_free(&t);
}

static void test_missing_rate(void) {
    if (!fw_test_bin() || !train_pima()) return;
    table t;
    CHECK(table_load("examples/pima/pima.csv", &t));
    char path[600];
    snprintf(path, sizeof path, "%s/missing.csv", fw_test_tmpdir());
    write_stream(&t, path, missing_20, field_index(&t, "mass"));
    json_t *j = replay("pima@1", "missing.csv", NULL);
    expect_alarm(j, "quality", "mass", CHANGE, 200);
    json_decref(j);
    table_free(&t);
}

static void test_wrong_type_at_its_row(void) {
    if (!fw_test_bin() || !train_pima()) return;
    table t;
    CHECK(table_load("examples/pima/pima.csv", &t));
    char path[600];
    snprintf(path, sizeof path, "%s/badtype.csv", fw_test_tmpdir());
    write_stream(&t, path, bad_type_once, field_index(&t, "pressure"));
    json_t *j = replay("pima@1", "badtype.csv", NULL);
    CHECK_EQ(expect_alarm(j, "schema", "pressure", CHANGE, 1), CHANGE);
    json_decref(j);
    /* text: the alarm's line names the row, kind and column; exit 0 although an alarm fired */
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input \"$T/badtype.csv\" --home \"$T/h\""), 0);
    CHECK_CONTAINS(o, "row 2000: schema alarm on 'pressure'");
    CHECK_CONTAINS(o, "4000 rows replayed");
    free(o);
    table_free(&t);
}

static void test_unseen_category(void) {
    if (!fw_test_bin() || !train_boston()) return;
    table t;
    CHECK(table_load("examples/boston/boston.csv", &t));
    char path[600];
    snprintf(path, sizeof path, "%s/unseen.csv", fw_test_tmpdir());
    write_stream(&t, path, unseen_5pct, field_index(&t, "town"));
    json_t *j = replay("boston@1", "unseen.csv", NULL);
    expect_alarm(j, "quality", "town", CHANGE, 500);
    json_decref(j);
    table_free(&t);
}

static void test_absent_column_and_errors(void) {
    if (!fw_test_bin() || !train_pima()) return;
    char *o = NULL;
    /* a file without the column 'age': a schema alarm at row 0 */
    CHECK_EQ(fw_test_sh(&o, "cut -d, -f1-7,9 examples/pima/pima.csv > \"$T/noage.csv\" && "
                            "\"$FW\" monitor pima@1 --input \"$T/noage.csv\" --home \"$T/h\" --json"), 0);
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK(j != NULL);
    json_t *a0 = json_array_get(json_object_get(j, "alarms"), 0);
    CHECK_EQ(json_integer_value(json_object_get(a0, "row")), 0);
    CHECK_STR(json_string_value(json_object_get(a0, "kind")), "schema");
    CHECK_STR(json_string_value(json_object_get(a0, "column")), "age");
    json_decref(j);
    free(o);
    /* failures exit 1, usage errors 2 */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor nosuch@1 --input examples/pima/pima.csv --home \"$T/h\""), 1);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input \"$T/no-such-file.csv\" --home \"$T/h\""), 1);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input examples/pima/pima.csv --label nosuch --home \"$T/h\""), 1);
    CHECK_CONTAINS(o, "nosuch");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --home \"$T/h\""), 2);
    CHECK_CONTAINS(o, "--input");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input x --step-rows 50 --window-rows 75 --home \"$T/h\""), 1);
    CHECK_CONTAINS(o, "multiples");
    free(o);
}

/* --time-column: the rows' own times close blocks as the server's clock does (epoch seconds,
 * epoch ms and ISO 8601 read alike; without the column, by count alone); a value that is not a
 * time fails naming the file, the line and the column. */
static void test_time_column(void) {
    if (!fw_test_bin() || !train_pima()) return;
    char *o = NULL;
    /* pima's 768 rows, 2 s apart, with a 10-minute pause before data row 130 (line 132): three
     * spellings of the same times (all on 2023-11-14, UTC) */
    CHECK_EQ(fw_test_sh(&o, "awk -F, 'NR==1{print $0\",t\"; next} {s=1700000000+2*(NR-2)+(NR>=132?600:0); print $0\",\"s}' "
                            "examples/pima/pima.csv > \"$T/ts_s.csv\" && "
                            "awk -F, 'NR==1{print; next} {n=split($0,f,\",\"); f[n]=sprintf(\"%%.0f\",f[n]*1000); o=f[1]; "
                            "for(i=2;i<=n;i++) o=o\",\"f[i]; print o}' \"$T/ts_s.csv\" > \"$T/ts_ms.csv\" && "
                            "awk -F, 'NR==1{print; next} {n=split($0,f,\",\"); d=f[n]-1699920000; "
                            "f[n]=sprintf(\"2023-11-14T%%02d:%%02d:%%02dZ\",int(d/3600),int(d%%3600/60),d%%60); "
                            "o=f[1]; for(i=2;i<=n;i++) o=o\",\"f[i]; print o}' \"$T/ts_s.csv\" > \"$T/ts_iso.csv\""), 0);
    free(o);
    long blocks[4];
    const char *files[4] = {"ts_s.csv", "ts_ms.csv", "ts_iso.csv", "ts_s.csv"};
    for (int k = 0; k < 4; k++) {
        json_t *j = replay("pima@1", files[k], k < 3 ? "--time-column t --block-seconds 60" : "");
        blocks[k] = j ? (long)json_integer_value(json_object_get(json_object_get(j, "monitor"), "blocks")) : -1;
        json_decref(j);
    }
    /* by count: 15 blocks of 50 and the flushed 18 rows; by time (60 s = 30 rows): before the
     * pause 4 x 30 + 10, after it 21 x 30 + the flushed 8 */
    CHECK_EQ(blocks[3], 16);
    CHECK_EQ(blocks[0], 5 + 22);
    CHECK_EQ(blocks[1], blocks[0]);
    CHECK_EQ(blocks[2], blocks[0]);
    /* errors */
    CHECK_EQ(fw_test_sh(&o, "sed '5s/,[0-9]*$/,yesterday/' \"$T/ts_s.csv\" > \"$T/ts_bad.csv\" && "
                            "\"$FW\" monitor pima@1 --input \"$T/ts_bad.csv\" --time-column t --home \"$T/h\""), 1);
    CHECK_CONTAINS(o, "ts_bad.csv:5: column 't': 'yesterday' is not a time");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input \"$T/ts_s.csv\" --time-column nosuch --home \"$T/h\""), 1);
    CHECK_CONTAINS(o, "'nosuch' (--time-column)");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input \"$T/ts_s.csv\" --block-seconds 60 --home \"$T/h\""), 2);
    CHECK_CONTAINS(o, "--time-column");
    free(o);
}

/* A latency budget no prediction can meet: a latency alarm (model-level: column null) as soon as
 * the window holds 100 predictions, i.e. at the block that closes at row 99. */
static void test_latency_budget(void) {
    if (!fw_test_bin()) return;
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/slow.yaml\" 's/p99_latency_ms: 5/p99_latency_ms: 0.000001/' "
                            "'s/^name: pima$/name: slow/' && "
                            "\"$FW\" train \"$T/slow.yaml\" --home \"$T/h\" --quiet --models baseline,linear >/dev/null && "
                            "\"$FW\" monitor slow@1 --input examples/pima/pima.csv --home \"$T/h\" --json");
    CHECK_EQ(rc, 0);
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j != NULL, "%.300s", o ? o : "");
    json_t *a0 = json_array_get(json_object_get(j, "alarms"), 0);
    CHECK_STR(json_string_value(json_object_get(a0, "kind")), "latency");
    CHECK(json_is_null(json_object_get(a0, "column")));
    CHECK_EQ(json_integer_value(json_object_get(a0, "row")), 99);
    CHECK_STR(json_string_value(json_object_get(a0, "statistic")), "p99_ms");
    CHECK(json_number_value(json_object_get(a0, "threshold")) == 0.000001);
    /* listed once although it stays raised */
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(j, "alarms")); i++)
        n += !strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "alarms"), i), "kind")), "latency");
    CHECK_EQ(n, 1);
    json_decref(j);
    free(o);
}

static void test_html(void) {
    if (!fw_test_bin() || !train_pima()) return;
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor pima@1 --input \"$T/shift.csv\" --label diabetes --home \"$T/h\" "
                            "--html \"$T/r.html\" >/dev/null && grep -c '<svg' \"$T/r.html\" && "
                            "grep -c 'glucose' \"$T/r.html\""),
             0);
    CHECK(o && atoi(o) >= 9); /* 8 columns + the metric plots */
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_no_change_no_alarm);
    TEST_RUN(test_numeric_shift);
    TEST_RUN(test_missing_rate);
    TEST_RUN(test_wrong_type_at_its_row);
    TEST_RUN(test_unseen_category);
    TEST_RUN(test_absent_column_and_errors);
    TEST_RUN(test_time_column);
    TEST_RUN(test_latency_budget);
    TEST_RUN(test_html);
    return fw_test_report(argv[0]);
}
