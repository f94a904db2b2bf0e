/* alarm.c — owns the names of the alarm kinds (alarm.h): one table read by JSON, /metrics and the
 * store. */
#include "monitor/alarm.h"

#include <string.h>

static const char *const kind_names[FW_ALARM_KIND_COUNT] = {
    [FW_ALARM_DRIFT] = "drift",           [FW_ALARM_QUALITY] = "quality",
    [FW_ALARM_SCHEMA] = "schema",         [FW_ALARM_PREDICTION] = "prediction",
    [FW_ALARM_PERFORMANCE] = "performance", [FW_ALARM_ESTIMATE] = "estimate",
    [FW_ALARM_LATENCY] = "latency",
};

const char *fw_alarm_kind_name(fw_alarm_kind k)
{
    if ((unsigned)k >= FW_ALARM_KIND_COUNT) return NULL;
    return kind_names[k];
}

bool fw_alarm_kind_parse(const char *name, fw_alarm_kind *out)
{
    if (!name) return false;
    for (unsigned i = 0; i < FW_ALARM_KIND_COUNT; i++) {
        if (strcmp(kind_names[i], name) == 0) {
            *out = (fw_alarm_kind)i;
            return true;
        }
    }
    return false;
}
