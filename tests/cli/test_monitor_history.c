/* test_monitor_history.c — `flywheel monitor NAME --history [--json]` (src/cli/cmd_monitor_history.c)
 * on a store whose alarm history this test writes through the store interface: every alarm of the
 * model (all versions), oldest first, with raised/cleared times, kind, column (null for the
 * model), slice (a slice's performance alarm: the group column's value; null otherwise), statistic,
 * value, threshold and row; --active and --limit; a model that is not
 * registered is an error (exit 1), a missing NAME or a NAME@REF a usage error (exit 2). On both store
 * back ends (SQLite and PostgreSQL: tests/support/backend.h). */
#include "store/store.h"
#include "test.h"

#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char home[600];

static void seed(void) {
    const char *h = fw_test_store_home("home");
    snprintf(home, sizeof home, "%s", h ? h : "/nonexistent/home");
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    if (!s) return;
    for (int v = 1; v <= 2; v++) {
        fw_version_rec r;
        memset(&r, 0, sizeof r);
        r.name = (char *)"spam";
        r.artifact_hash = (char *)"0123456789abcdef0123456789abcdef";
        r.artifact_size = 1;
        r.created_ms = 1000;
        r.metric = r.baseline_metric = r.min_improvement = 0;
        CHECK_OK(fw_store_version_insert(s, &r, &err));
    }
    fw_alarm_rec a;
    memset(&a, 0, sizeof a);
    a.model = (char *)"spam";
    a.version = 1;
    a.kind = (char *)"drift";
    a.column = (char *)"age";
    a.statistic = (char *)"ks";
    a.value = 0.25;
    a.threshold = 0.125;
    a.row = 999;
    a.raised_ms = 1765000000000;
    a.detail = (char *)"age moved";
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    CHECK_OK(fw_store_alarm_clear(s, "spam", 1, "drift", "age", NULL, 1765000060000, NULL, &err));
    a.version = 2;
    a.kind = (char *)"latency";
    a.column = NULL;
    a.statistic = (char *)"p99_ms";
    a.value = 80;
    a.threshold = 50;
    a.row = 1999;
    a.raised_ms = 1765000120000;
    a.detail = (char *)"p99 80 ms over the 50 ms budget";
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    a.kind = (char *)"performance";
    a.column = (char *)"region";
    a.slice = (char *)"eu";
    a.statistic = (char *)"auc";
    a.value = 0.61;
    a.threshold = 0.7;
    a.row = 2999;
    a.raised_ms = 1765000180000;
    a.detail = (char *)"auc of region=eu fell";
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    a.slice = (char *)"us";
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    /* one slice clears: the other slice of the column stays active */
    CHECK_OK(fw_store_alarm_clear(s, "spam", 2, "performance", "region", "eu", 1765000240000, NULL, &err));
    a.slice = NULL;
    a.model = (char *)"other";
    CHECK_OK(fw_store_alarm_raise(s, &a, &err));
    fw_store_close(s);
}

static void test_history(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    seed();
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor spam --history --json --home '%s'", home), 0);
    CHECK_STR(o, "{\"model\":\"spam\",\"alarms\":["
                 "{\"id\":1,\"version\":1,\"kind\":\"drift\",\"column\":\"age\",\"slice\":null,\"statistic\":\"ks\",\"value\":0.25,"
                 "\"threshold\":0.125,\"row\":999,\"raised\":\"2025-12-06T05:46:40.000Z\",\"raised_ms\":1765000000000,"
                 "\"cleared\":\"2025-12-06T05:47:40.000Z\",\"cleared_ms\":1765000060000,\"active\":false,"
                 "\"detail\":\"age moved\"},"
                 "{\"id\":2,\"version\":2,\"kind\":\"latency\",\"column\":null,\"slice\":null,\"statistic\":\"p99_ms\",\"value\":80,"
                 "\"threshold\":50,\"row\":1999,\"raised\":\"2025-12-06T05:48:40.000Z\",\"raised_ms\":1765000120000,"
                 "\"cleared\":null,\"cleared_ms\":null,\"active\":true,\"detail\":\"p99 80 ms over the 50 ms budget\"},"
                 "{\"id\":3,\"version\":2,\"kind\":\"performance\",\"column\":\"region\",\"slice\":\"eu\","
                 "\"statistic\":\"auc\",\"value\":0.61,\"threshold\":0.7,\"row\":2999,\"raised\":\"2025-12-06T05:49:40.000Z\","
                 "\"raised_ms\":1765000180000,\"cleared\":\"2025-12-06T05:50:40.000Z\",\"cleared_ms\":1765000240000,"
                 "\"active\":false,\"detail\":\"auc of region=eu fell\"},"
                 "{\"id\":4,\"version\":2,\"kind\":\"performance\",\"column\":\"region\",\"slice\":\"us\","
                 "\"statistic\":\"auc\",\"value\":0.61,\"threshold\":0.7,\"row\":2999,\"raised\":\"2025-12-06T05:49:40.000Z\","
                 "\"raised_ms\":1765000180000,\"cleared\":null,\"cleared_ms\":null,\"active\":true,"
                 "\"detail\":\"auc of region=eu fell\"}]}\n");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor spam --history --active --json --home '%s'", home), 0);
    CHECK_CONTAINS(o, "\"kind\":\"latency\"");
    CHECK_CONTAINS(o, "\"slice\":\"us\"");
    CHECK(o && !strstr(o, "\"kind\":\"drift\"") && !strstr(o, "\"slice\":\"eu\""));
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor spam --history --limit 3 --json --home '%s'", home), 0);
    CHECK(o && !strstr(o, "\"kind\":\"drift\"") && strstr(o, "\"kind\":\"latency\""));
    free(o);
    /* the table: a header and one line per alarm, oldest first */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor spam --history --home '%s'", home), 0);
    CHECK_CONTAINS(o, "raised ");
    CHECK_CONTAINS(o, "2025-12-06T05:46:40.000Z 2025-12-06T05:47:40.000Z 1       drift       age");
    CHECK_CONTAINS(o, "2025-12-06T05:48:40.000Z active                   2       latency     -                    -            p99_ms");
    CHECK_CONTAINS(o, "2025-12-06T05:49:40.000Z active                   2       performance region               us           auc");
    CHECK(o && strstr(o, "drift") < strstr(o, "latency"));
    free(o);
    /* errors */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor nobody --history --home '%s'", home), 1);
    CHECK_CONTAINS(o, "flywheel monitor: no model 'nobody' in the registry");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor --history --home '%s'", home), 2);
    CHECK_CONTAINS(o, "--history needs the model NAME");
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" monitor spam@production --history --home '%s'", home), 2);
    CHECK_CONTAINS(o, "takes a model NAME");
    free(o);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_history);
    return fw_test_report(argv[0]);
}
