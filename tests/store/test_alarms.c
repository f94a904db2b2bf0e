/* test_alarms.c — the alarm history through the store interface (store.h fw_store_alarm_*, the
 * SQLite back end's `alarms` table, schema migration 3 -> 4): raise / clear / list keep every field,
 * clearing touches only the still-active alarms of that model version, kind and column (NULL = the
 * model), list filters by model and keeps the newest `limit`; a store written at schema 3 (before
 * the table) is migrated on open with its registry rows kept. */
#include "store/store.h"
#include "test.h"

#include "backend.h"
#include "db.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char home_buf[512];
static const char *new_home(const char *tag) {
    snprintf(home_buf, sizeof home_buf, "%s/%s", fw_test_tmpdir(), tag);
    return home_buf;
}

static fw_alarm_rec alarm(const char *model, int64_t version, const char *kind, const char *column, int64_t row,
                          int64_t ms) {
    fw_alarm_rec a;
    memset(&a, 0, sizeof a);
    a.model = (char *)model;
    a.version = version;
    a.kind = (char *)kind;
    a.column = (char *)column;
    a.statistic = (char *)"ks";
    a.value = 0.25;
    a.threshold = 0.125;
    a.row = row;
    a.raised_ms = ms;
    a.detail = (char *)"age moved";
    return a;
}

static void test_raise_clear_list(void) {
    fw_store *s;
    fw_err err;
    const char *home = fw_test_store_home("history");
    if (!home) return;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    CHECK_EQ(fw_store_schema_version(s), fw_test_is_pg() ? 1 : 4);
    fw_alarm_rec a = alarm("spam", 3, "drift", "age", 1200, 1000);
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    CHECK(a.id > 0);
    fw_alarm_rec b = alarm("spam", 3, "latency", NULL, 1300, 2000);
    b.statistic = (char *)"p99_ms";
    b.value = NAN;
    CHECK_OK(fw_store_alarm_raise(s, &b, &err));
    fw_alarm_rec c = alarm("spam", 3, "drift", "income", 1400, 3000);
    CHECK_OK(fw_store_alarm_raise(s, &c, &err));
    fw_alarm_rec d = alarm("churn", 1, "drift", "age", 10, 4000);
    CHECK_OK(fw_store_alarm_raise(s, &d, &err));
    fw_alarm_rec bad = alarm(NULL, 3, "drift", "age", 1, 1);
    CHECK(fw_store_alarm_raise(s, &bad, &err) == FW_EINVAL);

    /* clear drift on age of spam#3: only that one (not income, not churn's age) */
    int64_t n = -1;
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "drift", "age", 5000, &n, &err));
    CHECK_EQ(n, 1);
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "drift", "age", 6000, &n, &err));
    CHECK_EQ(n, 0); /* already cleared: the first clear time stays */
    CHECK_OK(fw_store_alarm_clear(s, "spam", 2, "latency", NULL, 6000, &n, &err));
    CHECK_EQ(n, 0); /* another version */
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "latency", "", 7000, &n, &err));
    CHECK_EQ(n, 1); /* "" and NULL both mean the model */

    fw_alarm_rec *l = NULL;
    size_t k = 0;
    CHECK_OK(fw_store_alarm_list(s, "spam", 0, &l, &k, &err));
    CHECK_EQ(k, 3);
    if (k == 3) {
        CHECK_STR(l[0].model, "spam");
        CHECK_EQ(l[0].version, 3);
        CHECK_STR(l[0].kind, "drift");
        CHECK_STR(l[0].column, "age");
        CHECK_STR(l[0].statistic, "ks");
        CHECK(l[0].value == 0.25 && l[0].threshold == 0.125);
        CHECK_EQ(l[0].row, 1200);
        CHECK_EQ(l[0].raised_ms, 1000);
        CHECK_EQ(l[0].cleared_ms, 5000);
        CHECK_STR(l[0].detail, "age moved");
        CHECK(l[1].column == NULL);
        CHECK(isnan(l[1].value));
        CHECK_EQ(l[1].cleared_ms, 7000);
        CHECK_STR(l[2].column, "income");
        CHECK_EQ(l[2].cleared_ms, 0); /* still active */
        CHECK(l[0].id < l[1].id && l[1].id < l[2].id);
    }
    fw_alarm_recs_free(l, k);
    CHECK_OK(fw_store_alarm_list(s, NULL, 0, &l, &k, &err));
    CHECK_EQ(k, 4);
    fw_alarm_recs_free(l, k);
    /* the newest two, oldest first */
    CHECK_OK(fw_store_alarm_list(s, NULL, 2, &l, &k, &err));
    CHECK_EQ(k, 2);
    if (k == 2) {
        CHECK_STR(l[0].column, "income");
        CHECK_STR(l[1].model, "churn");
    }
    fw_alarm_recs_free(l, k);
    CHECK_OK(fw_store_alarm_list(s, "nobody", 0, &l, &k, &err));
    CHECK_EQ(k, 0);
    fw_alarm_recs_free(l, k);
    fw_store_close(s);
}

/* A store at schema 3 (as this build's predecessor left it: no alarms table) is migrated on open. */
static void test_migration_from_3(void) {
    fw_store *s;
    fw_err err;
    const char *home = new_home("from3");
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    fw_audit_rec a;
    memset(&a, 0, sizeof a);
    a.ts_ms = 1;
    a.name = (char *)"kept";
    a.action = (char *)"register";
    CHECK_OK(fw_store_audit_append(s, &a, &err));
    fw_store_close(s);
    char path[700];
    snprintf(path, sizeof path, "%s/flywheel.db", home);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "DROP TABLE alarms; UPDATE fw_meta SET value = '3' WHERE key = 'schema_version'", NULL,
                       NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    CHECK_EQ(fw_store_schema_version(s), FW_STORE_SCHEMA_VERSION);
    fw_alarm_rec r = alarm("kept", 1, "schema", "age", 0, 9);
    CHECK_OK(fw_store_alarm_raise(s, &r, &err));
    fw_audit_rec *l = NULL;
    size_t n = 0;
    CHECK_OK(fw_store_audit_list(s, "kept", &l, &n, &err));
    CHECK_EQ(n, 1);
    fw_audit_recs_free(l, n);
    fw_store_close(s);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT value FROM fw_meta WHERE key = 'schema_version'"), 4);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM alarms"), 1);
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_raise_clear_list);
    TEST_RUN(test_migration_from_3);
    return fw_test_report(argv[0]);
}
