/* test_rollout_analysis.c — serve/rollout.c's analysis without a server: arm counters fed directly,
 * ticks called by hand. Each guard rolls back on its own evidence (errors, p99 latency, a business
 * metric); a clean canary advances step by step to complete; the share is what the request path
 * reads; the state JSON names the reason. Deterministic (no clock, no thread timing). */
#include "core/buf.h"
#include "serve/config.h"
#include "serve/rollout.h"
#include "test.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double unif(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static fw_rollout *make(fw_serve_config *c, const char *split) {
    char y[1200];
    snprintf(y, sizeof y, "serving:\n  models_dir: /nonexistent\n  splits:\n    - %s\n", split);
    fw_serve_config_init(c);
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_serve_config_parse(c, y, strlen(y), "t.yaml", &err));
    fw_rollout *ro = NULL;
    CHECK_OK(fw_rollout_new(c, &ro, &err));
    CHECK(ro != NULL);
    return ro;
}

/* n requests split by the current share; canary ones fail with p_err and take lat_c ns. */
static void traffic(fw_rollout_split *rs, int n, double p_err, uint64_t lat_c) {
    for (int i = 0; i < n; i++) {
        bool can = unif() * 1e6 < fw_rollout_ppm(rs);
        uint64_t lat = can ? lat_c : (uint64_t)(20000 + unif() * 20000);
        fw_rollout_observe(rs, can ? FW_RO_CANARY : FW_RO_CHAMPION, can && unif() < p_err, lat, can ? 2 : 1);
    }
}

static char *state(fw_rollout *ro) {
    static char text[8192];
    fw_buf b;
    fw_buf_init(&b);
    CHECK(fw_rollout_state_json(ro, "m", &b));
    snprintf(text, sizeof text, "%.*s", (int)b.len, (const char *)b.data);
    fw_buf_free(&b);
    return text;
}

static void test_clean_canary_advances(void) {
    fw_serve_config c;
    fw_rollout *ro = make(&c, "{model: m, kind: canary, challenger: m@s, steps: [10, 50, 100], tick_s: 3600, min_requests: 500}");
    fw_rollout_split *rs = fw_rollout_for(ro, 0);
    CHECK_EQ(fw_rollout_ppm(rs), 100000);
    for (int t = 0; t < 200 && fw_rollout_ppm(rs) < 1000000; t++) {
        traffic(rs, 2000, 0, 30000);
        fw_rollout_tick(ro);
    }
    CHECK_EQ(fw_rollout_ppm(rs), 1000000);
    CHECK_CONTAINS(state(ro), "\"state\":\"complete\"");
    CHECK_CONTAINS(state(ro), "\"event\":\"advance\",\"from\":10,\"to\":50");
    fw_rollout_free(ro);
    fw_serve_config_free(&c);
}

static void test_errors_roll_back(void) {
    fw_serve_config c;
    fw_rollout *ro = make(&c, "{model: m, kind: canary, challenger: m@s, steps: [10, 100], tick_s: 3600, min_requests: 100000}");
    fw_rollout_split *rs = fw_rollout_for(ro, 0);
    for (int t = 0; t < 50 && fw_rollout_ppm(rs); t++) {
        traffic(rs, 2000, 0.05, 30000);
        fw_rollout_tick(ro);
    }
    CHECK_EQ(fw_rollout_ppm(rs), 0);
    CHECK_CONTAINS(state(ro), "\"reason\":\"errors: canary ");
    fw_rollout_free(ro);
    fw_serve_config_free(&c);
}

static void test_slow_rolls_back(void) {
    fw_serve_config c;
    fw_rollout *ro = make(&c, "{model: m, kind: canary, challenger: m@s, steps: [10, 100], tick_s: 3600, min_requests: 100000}");
    fw_rollout_split *rs = fw_rollout_for(ro, 0);
    for (int t = 0; t < 50 && fw_rollout_ppm(rs); t++) {
        traffic(rs, 2000, 0, 400000); /* 10x the champion's ~30 us */
        fw_rollout_tick(ro);
    }
    CHECK_EQ(fw_rollout_ppm(rs), 0);
    CHECK_CONTAINS(state(ro), "\"reason\":\"p99_latency: ");
    fw_rollout_free(ro);
    fw_serve_config_free(&c);
}

static void test_metric_rolls_back(void) {
    fw_serve_config c;
    fw_rollout *ro = make(&c, "{model: m, kind: canary, challenger: m@s, steps: [50, 100], tick_s: 3600, min_requests: 100000, "
                              "metrics: [{name: revenue, event: buy, kind: mean, min_effect: 0.1}]}");
    fw_rollout_split *rs = fw_rollout_for(ro, 0);
    for (int t = 0; t < 100 && fw_rollout_ppm(rs); t++) {
        for (int i = 0; i < 500; i++) {
            bool can = unif() * 1e6 < fw_rollout_ppm(rs);
            fw_rollout_observe(rs, can, false, 30000, can ? 2 : 1);
            if (unif() < 0.2) fw_rollout_feedback(ro, can ? 2 : 1, "buy", can ? 5.0 : 10.0);
            if (unif() < 0.1) fw_rollout_feedback(ro, can ? 2 : 1, "other", 100);
        }
        fw_rollout_tick(ro);
    }
    CHECK_EQ(fw_rollout_ppm(rs), 0);
    CHECK_CONTAINS(state(ro), "\"reason\":\"revenue: canary worse by ");
    fw_rollout_free(ro);
    fw_serve_config_free(&c);
}

int main(void) {
    TEST_RUN(test_clean_canary_advances);
    TEST_RUN(test_errors_roll_back);
    TEST_RUN(test_slow_rolls_back);
    TEST_RUN(test_metric_rolls_back);
    return fw_test_report("test_rollout_analysis");
}
