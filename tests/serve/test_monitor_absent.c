/* test_monitor_absent.c — the /v1 decoders tell an absent input from an explicit null for the
 * monitor (serve/monitoring.h FW_SRV_ABSENT): to the model both are missing values, but an instance
 * that does not carry a model input at all raises a schema alarm ("absent") on that column AT its
 * row, while a null only counts toward the missing rate. Both decoders: the fast one (v1_decode.c)
 * and the jansson path (api_v1.c, taken here for a body with a \u escape). */
#include "test.h"

#include "client.h"
#include "pima_serve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL "\"pregnant\":6,\"glucose\":148,\"pressure\":72,\"triceps\":35,\"mass\":33.6,\"age\":50"

/* "row kind column statistic;" of every active alarm of pima@1. */
static char *alarms(int port) {
    hc_resp r;
    char *s = calloc(1, 4096);
    if (hc_request(port, "GET", "/v1/models/pima/versions/1/monitor", NULL, NULL, &r) != 0 || r.status != 200) {
        CHECK_MSG(0, "monitor state: %d %.300s", r.status, r.body ? r.body : "");
        hc_resp_free(&r);
        return s;
    }
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    json_t *al = json_object_get(j, "alarms");
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(al) && len < 3800; i++) {
        json_t *a = json_array_get(al, i);
        json_t *c = json_object_get(a, "column");
        len += (size_t)snprintf(s + len, 4096 - len, "%lld %s %s %s;", (long long)json_integer_value(json_object_get(a, "row")),
                                json_string_value(json_object_get(a, "kind")), json_is_string(c) ? json_string_value(c) : "-",
                                json_string_value(json_object_get(a, "statistic")));
    }
    json_decref(j);
    hc_resp_free(&r);
    return s;
}

static void test_absent_is_schema_null_is_missing(void) {
    fw_test_pima p;
    if (!fw_test_pima_serve(&p, NULL, NULL)) return; /* monitoring is on by default */
    const char *path = "/v1/models/pima/versions/1:predict";
    /* row 0: every input, two of them null: missing values, no schema alarm */
    HC_EXPECT(p.srv.port, "POST", path, "{\"instances\":[{" ALL ",\"insulin\":null,\"pedigree\":null}]}", NULL, 200, NULL);
    char *a = alarms(p.srv.port);
    CHECK_MSG(!strstr(a, "schema"), "a null raised a schema alarm: %s", a);
    free(a);
    /* row 1 (fast decoder): insulin absent */
    HC_EXPECT(p.srv.port, "POST", path, "{\"instances\":[{" ALL ",\"pedigree\":0.5}]}", NULL, 200, NULL);
    a = alarms(p.srv.port);
    CHECK_MSG(strstr(a, "1 schema insulin absent;") != NULL, "no schema alarm for the absent insulin: %s", a);
    CHECK_MSG(!strstr(a, "schema pedigree"), "%s", a);
    free(a);
    /* row 2 (the jansson path: the fast decoder declines \u escapes): pedigree absent */
    HC_EXPECT(p.srv.port, "POST", path, "{\"instances\":[{" ALL ",\"insulin\":0,\"note\":\"caf\\u00e9\"}]}", NULL, 200, NULL);
    a = alarms(p.srv.port);
    CHECK_MSG(strstr(a, "2 schema pedigree absent;") != NULL, "no schema alarm for the absent pedigree: %s", a);
    free(a);
    CHECK_EQ(fw_test_pima_stop(&p), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_absent_is_schema_null_is_missing);
    return fw_test_report(argv[0]);
}
