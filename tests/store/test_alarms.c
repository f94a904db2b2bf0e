/* test_alarms.c — the alarm history through the store interface (store.h fw_store_alarm_*, the
 * SQLite back end's `alarms` table, schema migration 3 -> 4): raise / clear / list keep every field,
 * clearing touches only the still-active alarms of that model version, kind and column (NULL = the
 * model), list filters by model and keeps the newest `limit`; a store written at schema 3 (before
 * the table) is migrated on open with its registry rows kept. Slices (schema 5 / PostgreSQL 2): a
 * slice's performance alarm keeps its slice value, and clearing it clears that slice alone — not the
 * column's other values, not the model's own performance alarm; stores written before the column
 * are migrated with their alarms kept (slice NULL), and re-running the migration is harmless. */
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
    CHECK_EQ(fw_store_schema_version(s), fw_test_is_pg() ? 2 : 5);
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
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "drift", "age", NULL, 5000, &n, &err));
    CHECK_EQ(n, 1);
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "drift", "age", NULL, 6000, &n, &err));
    CHECK_EQ(n, 0); /* already cleared: the first clear time stays */
    CHECK_OK(fw_store_alarm_clear(s, "spam", 2, "latency", NULL, NULL, 6000, &n, &err));
    CHECK_EQ(n, 0); /* another version */
    CHECK_OK(fw_store_alarm_clear(s, "spam", 3, "latency", "", NULL, 7000, &n, &err));
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

/* Three performance alarms of one model version: two values of the slice column "region" and the
 * model's own. Clearing (performance, region, "eu") clears that one only; clearing the model's
 * (column NULL, slice NULL) leaves the slices; list returns the slice. */
static void test_slices(void) {
    fw_store *s;
    fw_err err;
    const char *home = fw_test_store_home("slices");
    if (!home) return;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    fw_alarm_rec eu = alarm("churn", 2, "performance", "region", 500, 1000);
    eu.slice = (char *)"eu";
    eu.statistic = (char *)"auc";
    CHECK_OK(fw_store_alarm_raise(s, &eu, &err));
    fw_alarm_rec us = eu;
    us.slice = (char *)"us";
    us.row = 600;
    CHECK_OK(fw_store_alarm_raise(s, &us, &err));
    fw_alarm_rec whole = alarm("churn", 2, "performance", NULL, 700, 3000);
    whole.statistic = (char *)"auc";
    CHECK_OK(fw_store_alarm_raise(s, &whole, &err));
    fw_alarm_rec noslice = alarm("churn", 2, "drift", "region", 800, 3500);
    noslice.slice = (char *)""; /* "" = no slice, as NULL */
    CHECK_OK(fw_store_alarm_raise(s, &noslice, &err));

    int64_t n = -1;
    CHECK_OK(fw_store_alarm_clear(s, "churn", 2, "performance", "region", "eu", 4000, &n, &err));
    CHECK_EQ(n, 1);
    CHECK_OK(fw_store_alarm_clear(s, "churn", 2, "performance", "region", "asia", 4100, &n, &err));
    CHECK_EQ(n, 0); /* no such slice alarm */
    CHECK_OK(fw_store_alarm_clear(s, "churn", 2, "performance", "region", NULL, 4200, &n, &err));
    CHECK_EQ(n, 0); /* the column without a slice: not the slices' alarms */
    CHECK_OK(fw_store_alarm_clear(s, "churn", 2, "performance", NULL, NULL, 4300, &n, &err));
    CHECK_EQ(n, 1); /* the model's own */
    CHECK_OK(fw_store_alarm_clear(s, "churn", 2, "drift", "region", "", 4400, &n, &err));
    CHECK_EQ(n, 1);

    fw_alarm_rec *l = NULL;
    size_t k = 0;
    CHECK_OK(fw_store_alarm_list(s, "churn", 0, &l, &k, &err));
    CHECK_EQ(k, 4);
    if (k == 4) {
        CHECK_STR(l[0].column, "region");
        CHECK_STR(l[0].slice, "eu");
        CHECK_EQ(l[0].cleared_ms, 4000);
        CHECK_STR(l[1].slice, "us");
        CHECK_EQ(l[1].cleared_ms, 0); /* still active */
        CHECK_EQ(l[1].row, 600);
        CHECK(l[2].column == NULL && l[2].slice == NULL);
        CHECK_EQ(l[2].cleared_ms, 4300);
        CHECK(l[3].slice == NULL);
        CHECK_EQ(l[3].cleared_ms, 4400);
    }
    fw_alarm_recs_free(l, k);
    fw_store_close(s);
}

/* A store written before the slice column (SQLite schema 4; PostgreSQL 1) is migrated on open: its
 * alarms are kept (slice NULL) and clear as before; a new slice alarm is kept with its slice. */
static void test_migration_slice(void) {
    fw_store *s;
    fw_err err;
    const char *home = fw_test_store_home("to-slice");
    if (!home) return;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    fw_alarm_rec old = alarm("kept", 1, "performance", "region", 5, 9);
    CHECK_OK(fw_store_alarm_raise(s, &old, &err));
    fw_store_close(s);
    if (fw_test_is_pg()) {
        CHECK_EQ(HOME_INT(home, "", "ALTER TABLE alarms DROP COLUMN slice; DELETE FROM schema_version WHERE version = 2;"
                                    " SELECT count(*) FROM schema_version"), 1);
    } else {
        char path[700];
        snprintf(path, sizeof path, "%s/flywheel.db", home);
        sqlite3 *db = NULL;
        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "ALTER TABLE alarms DROP COLUMN slice; UPDATE fw_meta SET value = '4' WHERE key ="
                               " 'schema_version'", NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
    }
    CHECK_EQ(HOME_INT(home, "flywheel.db", "SELECT count(*) FROM alarms"), 1);
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    CHECK_EQ(fw_store_schema_version(s), fw_test_is_pg() ? 2 : FW_STORE_SCHEMA_VERSION);
    fw_alarm_rec eu = alarm("kept", 1, "performance", "region", 6, 10);
    eu.slice = (char *)"eu";
    CHECK_OK(fw_store_alarm_raise(s, &eu, &err));
    int64_t n = -1;
    CHECK_OK(fw_store_alarm_clear(s, "kept", 1, "performance", "region", NULL, 11, &n, &err));
    CHECK_EQ(n, 1); /* the old one (no slice), not eu */
    fw_alarm_rec *l = NULL;
    size_t k = 0;
    CHECK_OK(fw_store_alarm_list(s, "kept", 0, &l, &k, &err));
    CHECK_EQ(k, 2);
    if (k == 2) {
        CHECK(l[0].slice == NULL);
        CHECK_EQ(l[0].cleared_ms, 11);
        CHECK_STR(l[1].slice, "eu");
        CHECK_EQ(l[1].cleared_ms, 0);
    }
    fw_alarm_recs_free(l, k);
    fw_store_close(s);
    if (!fw_test_is_pg()) { /* set back to 4 with the column there: the re-run skips the ALTER */
        char path[700];
        snprintf(path, sizeof path, "%s/flywheel.db", home);
        sqlite3 *db = NULL;
        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, "UPDATE fw_meta SET value = '4' WHERE key = 'schema_version'", NULL, NULL, NULL) ==
              SQLITE_OK);
        sqlite3_close(db);
        CHECK_OK(fw_store_open(home, &s, &err));
        if (s) {
            CHECK_EQ(fw_store_schema_version(s), FW_STORE_SCHEMA_VERSION);
            fw_store_close(s);
        }
        CHECK_EQ(HOME_INT(home, "flywheel.db", "SELECT count(*) FROM alarms WHERE slice = 'eu'"), 1);
    }
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
    CHECK_EQ(DB_INT(db, "SELECT value FROM fw_meta WHERE key = 'schema_version'"), FW_STORE_SCHEMA_VERSION);
    CHECK_EQ(DB_INT(db, "SELECT count(*) FROM alarms"), 1);
    sqlite3_close(db);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_raise_clear_list);
    TEST_RUN_BACKENDS(test_slices);
    TEST_RUN_BACKENDS(test_migration_slice);
    TEST_RUN(test_migration_from_3);
    return fw_test_report(argv[0]);
}
