/* test_alarm.c — tests for src/monitor/alarm.c: every alarm kind has the name the monitoring issue
 * names (JSON "kind", /metrics, the store), names parse back to their kind, and nothing else parses. */
#include "monitor/alarm.h"
#include "test.h"

static void test_names_round_trip(void) {
    static const char *const want[FW_ALARM_KIND_COUNT] = {"drift",       "quality",  "schema", "prediction",
                                                          "performance", "estimate", "latency"};
    for (unsigned i = 0; i < FW_ALARM_KIND_COUNT; i++) {
        CHECK_STR(fw_alarm_kind_name((fw_alarm_kind)i), want[i]);
        fw_alarm_kind k = FW_ALARM_KIND_COUNT;
        CHECK(fw_alarm_kind_parse(want[i], &k));
        CHECK_EQ((unsigned)k, i);
    }
}

static void test_unknown_names(void) {
    fw_alarm_kind k = FW_ALARM_DRIFT;
    CHECK(!fw_alarm_kind_parse("Drift", &k));
    CHECK(!fw_alarm_kind_parse("", &k));
    CHECK(!fw_alarm_kind_parse(NULL, &k));
    CHECK(!fw_alarm_kind_parse("latency ", &k));
    CHECK(fw_alarm_kind_name(FW_ALARM_KIND_COUNT) == NULL);
    CHECK(fw_alarm_kind_name((fw_alarm_kind)-1) == NULL);
}

int main(void) {
    TEST_RUN(test_names_round_trip);
    TEST_RUN(test_unknown_names);
    return fw_test_report("test_alarm");
}
