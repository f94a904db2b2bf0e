/* test_latency_p90.c — p90 is reported wherever latency is: the training report's latency (text
 * column, --json latency_us.p90, HTML column), and /metrics (p50/p90/p99 estimated from the request
 * histogram, checked here against hand-computed buckets and on a live server). */
#include "test.h"
#include "../serve/client.h"
#include "serve/metrics.h"

#include <jansson.h>
#include <stdlib.h>

static void test_histogram_quantile(void) {
    unsigned long c[FW_LAT_BUCKETS + 1] = {0};
    /* 100 requests: 50 under 50 us, 40 in (50, 100] us, 10 in (100, 250] us */
    c[0] = 50;
    c[1] = 40;
    c[2] = 10;
    CHECK_NEAR(fw_metrics_quantile(c, 0.5), 50e-6, 1e-12);
    CHECK_NEAR(fw_metrics_quantile(c, 0.9), 100e-6, 1e-12);
    CHECK_NEAR(fw_metrics_quantile(c, 0.99), 100e-6 + 150e-6 * 0.9, 1e-12);
    CHECK_NEAR(fw_metrics_quantile(c, 0.25), 25e-6, 1e-12);
    unsigned long z[FW_LAT_BUCKETS + 1] = {0};
    CHECK(isnan(fw_metrics_quantile(z, 0.9)));
    z[FW_LAT_BUCKETS] = 3; /* all over the last bound: that bound, as Prometheus */
    CHECK_NEAR(fw_metrics_quantile(z, 0.9), 1.0, 1e-12);
}

static void test_train_reports_p90(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --models linear --threads 1 --quiet "
                            "--home \"$T/h\" --html \"$T/r.html\" && grep -c 'p90 &micro;s' \"$T/r.html\""),
             0);
    CHECK_CONTAINS(o, "p50 us  p90 us  p99 us");
    free(o);
    o = NULL;
    CHECK_EQ(fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --models linear --threads 1 --quiet "
                            "--home \"$T/h\" --json"),
             0);
    json_t *j = o ? json_loads(o, 0, NULL) : NULL;
    CHECK(j != NULL);
    size_t n = 0;
    json_t *models = json_object_get(j, "models"), *m;
    size_t i;
    json_array_foreach(models, i, m) {
        json_t *l = json_object_get(m, "latency_us");
        if (!json_is_object(l)) continue;
        double p50 = json_number_value(json_object_get(l, "p50")), p90 = json_number_value(json_object_get(l, "p90")),
               p99 = json_number_value(json_object_get(l, "p99"));
        CHECK(json_is_number(json_object_get(l, "p90")));
        CHECK(p50 <= p90 && p90 <= p99);
        n++;
    }
    CHECK(n >= 1);
    json_decref(j);
    free(o);
}

static void test_metrics_quantiles(void) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "cd examples/pima && \"$FW\" train flywheel.yaml --models linear --threads 1 --quiet "
                            "--home \"$T/hm\" >/dev/null && \"$FW\" models promote pima@1 --home \"$T/hm\"");
    CHECK_EQ(rc, 0);
    free(o);
    if (rc) return;
    char home[600];
    snprintf(home, sizeof home, "%s/hm", fw_test_tmpdir());
    const char *args[] = {"--home", home, "--threads", "1", NULL};
    hc_server srv;
    if (hc_server_start(&srv, args) != 0) {
        CHECK_MSG(0, "server did not start");
        return;
    }
    for (int k = 0; k < 20; k++)
        HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, 200, NULL);
    HC_EXPECT(srv.port, "GET", "/metrics", NULL, NULL, 200,
              "flywheel_request_duration_quantile_seconds{model=\"pima\",version=\"1\",variant=\"primary\",quantile=\"0.9\"} ");
    HC_EXPECT(srv.port, "GET", "/metrics", NULL, NULL, 200, "quantile=\"0.5\"} ");
    HC_EXPECT(srv.port, "GET", "/metrics", NULL, NULL, 200, "quantile=\"0.99\"} ");
    hc_server_stop(&srv, SIGTERM);
}

int main(void) {
    TEST_RUN(test_histogram_quantile);
    TEST_RUN(test_train_reports_p90);
    TEST_RUN(test_metrics_quantiles);
    return fw_test_report("test_latency_p90");
}
