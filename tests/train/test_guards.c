/* test_guards.c — the guards a careful data scientist would have (issue 15), through the real
 * binary: an identifier column is left out of the features with a warning (describe, train, the
 * written project); a timestamp column makes the split a time split (said in the report and the
 * written project); binary labels are split stratified by default; rows without a label are
 * skipped and counted with --skip-bad-rows, and describe warns about them. */
#include "test.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static double u(size_t i, unsigned salt) { return (double)((i * 2654435761u + salt * 97u) % 1000u) / 1000.0; }

/* A 400-row binary table: an id, two numeric features, optionally a date, a label with ~25%
 * positives; every 40th label empty when holes. */
static const char *write_table(const char *name, bool with_date, bool holes) {
    static char path[8][1024];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 1024, "%s/%s", fw_test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    fprintf(f, "customer_id,x,z,%sy\n", with_date ? "day," : "");
    for (size_t i = 0; i < 400; i++) {
        double x = u(i, 1), z = u(i, 2);
        const char *y = x + 0.3 * z > 0.95 ? "yes" : "no";
        if (holes && i % 40 == 7) y = "";
        fprintf(f, "C%05zu,%.3f,%.3f,", 1000 + (i * 7919) % 9000, x, z);
        if (with_date) fprintf(f, "2023-%02zu-%02zu,", 1 + i / 34, 1 + i % 28);
        fprintf(f, "%s\n", y);
    }
    fclose(f);
    return p;
}

static void test_id_like_column_excluded(void) {
    const char *t = write_table("ids.csv", false, false);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y", t), 0);
    CHECK_CONTAINS(o, "warning: column 'customer_id' looks like an identifier (400 distinct values in 400 rows)");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y --json", t), 0);
    json_error_t je;
    json_t *j = o ? json_loads(o, 0, &je) : NULL;
    CHECK_MSG(j && json_array_size(json_object_get(j, "warnings")) == 1, "describe --json: %.300s", o ? o : "");
    json_decref(j);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --no-register --quiet --home \"$T/h\" --write-project \"$T/ids.yaml\"",
                        t), 0);
    CHECK_CONTAINS(o, "warning: column 'customer_id' looks like an identifier");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "cat \"$T/ids.yaml\""), 0);
    CHECK_CONTAINS(o, "exclude: [customer_id]");
    CHECK_CONTAINS(o, "# note: column 'customer_id' looks like an identifier");
    CHECK_MSG(o && !strstr(o, "name: customer_id"), "customer_id is still a feature: %s", o ? o : "");
    free(o);
    /* the features the models saw */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --no-register --home \"$T/h\" --json", t), 0);
    CHECK_MSG(o && !strstr(o, "\"feature\": \"customer_id"), "customer_id has an importance: %.300s", o ? o : "");
    free(o);
    /* listed as a feature in a project file, it stays one */
    CHECK_EQ(fw_test_sh(&o, "printf 'data:\\n  train: %s\\n  label: y\\nfeatures:\\n  - name: customer_id\\n' > \"$T/keep.yaml\" && "
                            "\"$FW\" train \"$T/keep.yaml\" --no-register --quiet --home \"$T/h\"", t), 0);
    CHECK_MSG(o && !strstr(o, "looks like an identifier"), "declared feature warned: %s", o ? o : "");
    free(o);
}

static void test_timestamp_time_split_and_stratified(void) {
    const char *t = write_table("dated.csv", true, false);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y", t), 0);
    CHECK_CONTAINS(o, "column 'day' holds timestamps: train splits by time on it");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --no-register --quiet --home \"$T/h\" --write-project \"$T/dated.yaml\"",
                        t), 0);
    CHECK_CONTAINS(o, "warning: column 'day' holds timestamps: split by time");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "cat \"$T/dated.yaml\""), 0);
    CHECK_CONTAINS(o, "  time: day\n");
    CHECK_CONTAINS(o, "  kind: time\n");
    free(o);
    /* split.kind given: as written, the timestamp stays a feature */
    CHECK_EQ(fw_test_sh(&o, "printf 'data:\\n  train: %s\\n  label: y\\nsplit:\\n  kind: random\\n' > \"$T/rnd.yaml\" && "
                            "\"$FW\" train \"$T/rnd.yaml\" --no-register --home \"$T/h\" --json", t), 0);
    CHECK_CONTAINS(o, "\"day_doy\"");
    CHECK_MSG(o && !strstr(o, "split by time"), "split.kind random was overridden: %.300s", o ? o : "");
    free(o);
    /* no timestamp, binary labels (25% positive): stratified */
    t = write_table("plain.csv", false, false);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y --write-project \"$T/plain.yaml\" >/dev/null && cat \"$T/plain.yaml\"", t), 0);
    CHECK_CONTAINS(o, "  kind: stratified\n");
    free(o);
}

static void test_missing_labels(void) {
    const char *t = write_table("holes.csv", false, true);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" describe '%s' --label y", t), 0);
    CHECK_CONTAINS(o, "warning: label 'y' is missing in 10 of 400 rows");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --no-register --quiet --home \"$T/h\"", t), 1);
    CHECK_CONTAINS(o, "is missing");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" train '%s' --label y --no-register --quiet --home \"$T/h\" --skip-bad-rows", t), 0);
    CHECK_CONTAINS(o, "warning: 10 rows of ");
    CHECK_CONTAINS(o, "have no label: skipped (--skip-bad-rows)");
    free(o);
}

int main(void) {
    TEST_RUN(test_id_like_column_excluded);
    TEST_RUN(test_timestamp_time_split_and_stratified);
    TEST_RUN(test_missing_labels);
    return fw_test_report("test_guards");
}
