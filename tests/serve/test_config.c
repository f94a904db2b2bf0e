/* test_config.c — the `serving:` section parser (src/serve/config.c) reads through the shared YAML
 * getters (src/core/yaml_read.c): the same value rules as the project file (booleans in any case,
 * integers as digits or whole numbers like 1e6, strict decimals), the same FILE:LINE:COL: 'key.path'
 * errors, unknown keys with "did you mean", repeated keys refused, and every nested map (log,
 * retention, tls, splits, rank) walked the same way. */
#include "core/alloc.h"
#include "core/buf.h"
#include "project/project.h"
#include "serve/config.h"
#include "test.h"

#include <math.h>

static fw_status parse(const char *yaml, fw_serve_config *c, fw_err *err) {
    fw_serve_config_init(c);
    fw_err_clear(err);
    return fw_serve_config_parse(c, yaml, strlen(yaml), "s.yaml", err);
}

/* the error message of a config that must be refused */
static const char *refused(const char *yaml) {
    static fw_err err;
    fw_serve_config c;
    fw_status st = parse(yaml, &c, &err);
    CHECK_MSG(st == FW_ECONFIG, "accepted: %s", yaml);
    fw_serve_config_free(&c);
    return err.msg;
}

static void test_values(void) {
    fw_serve_config c;
    fw_err err;
    const char *y = "serving:\n"
                    "  host: 0.0.0.0\n"
                    "  port: 8181\n"
                    "  threads: +3\n"
                    "  model_memory_bytes: 2e9\n"
                    "  max_body_bytes: 65536\n"
                    "  alias_poll_s: 0.25\n"
                    "  confidence_threshold: 1\n"
                    "  models: [a@production, b@staging]\n"
                    "  cors_origins: ['*']\n"
                    "  tls: {cert: c.pem, key: k.pem}\n"
                    "  log:\n"
                    "    catch_up: Off\n"
                    "    policy: drop-oldest\n"
                    "    flush_ms: 5\n"
                    "    retention: {max_rows: 1000, max_age_s: 3600, interval_s: 0.5, max_bytes: 1e6}\n"
                    "  splits:\n"
                    "    - {model: spam, challenger: 'spam#2', kind: shadow, percent: 12.5}\n"
                    "    - {model: ads, kind: bandit, challenger: ads@staging, challengers: ['ads#3', ads@x],\n"
                    "       reward: {event: revenue, kind: mean, window_s: 60}, min_share: 0.1, seed: 9}\n"
                    "  rank:\n"
                    "    objectives: [{model: q, weight: 0.7}, {model: r, class: yes}]\n"
                    "    filters: [{model: s, max: 0.9}]\n";
    fw_status st = parse(y, &c, &err);
    CHECK_MSG(st == FW_OK, "%s", err.msg);
    if (st == FW_OK) {
        CHECK_STR(c.host, "0.0.0.0");
        CHECK_EQ(c.port, 8181);
        CHECK_EQ(c.threads, 3);
        CHECK(c.model_memory_bytes == (size_t)2000000000);
        CHECK(c.alias_poll_s == 0.25);
        CHECK(c.confidence_threshold == 1);
        CHECK_EQ(c.n_models, 2);
        if (c.n_models == 2) CHECK_STR(c.models[1], "b@staging");
        CHECK_EQ(c.n_cors_origins, 1);
        CHECK_STR(c.tls_cert, "c.pem");
        CHECK_STR(c.tls_key, "k.pem");
        CHECK(!c.log_catch_up);
        CHECK_EQ(c.log_policy, FW_LOG_DROP_OLDEST);
        CHECK_EQ(c.log_flush_ms, 5);
        CHECK_EQ(c.log_retention_rows, 1000);
        CHECK_EQ(c.log_retention_bytes, 1000000);
        CHECK(c.log_retention_age_s == 3600 && c.log_retention_interval_s == 0.5);
        CHECK_EQ(c.n_splits, 2);
        if (c.n_splits == 2) {
            CHECK(c.splits[0].kind == FW_SPLIT_SHADOW && c.splits[0].percent == 12.5);
            const fw_serve_split *b = &c.splits[1];
            CHECK(b->kind == FW_SPLIT_BANDIT && b->n_challengers == 2 && b->reward_mean == 1 &&
                  b->reward_window_s == 60 && b->min_share == 0.1 && b->seed == 9);
            CHECK_STR(b->reward_event, "revenue");
            if (b->n_challengers == 2) CHECK_STR(b->challengers[1], "ads@x");
        }
        CHECK_EQ(c.n_objectives, 2);
        if (c.n_objectives == 2) {
            CHECK(c.objectives[0].weight == 0.7);
            CHECK(c.objectives[1].weight == 1.0);
            CHECK_STR(c.objectives[1].cls, "yes");
        }
        CHECK_EQ(c.n_filters, 1);
        if (c.n_filters == 1) CHECK(c.filters[0].max == 0.9);
    }
    fw_serve_config_free(&c);
    /* no serving section, an empty file: the defaults */
    CHECK_OK(parse("name: x\n", &c, &err));
    CHECK_EQ(c.port, 8080);
    fw_serve_config_free(&c);
    CHECK_OK(parse("", &c, &err));
    fw_serve_config_free(&c);
}


/* A canary rollout (steps, tick, rollback margins, business metrics) reads back what it wrote, and
 * each bad key or value is refused naming its line and column. */
static void test_rollout(void) {
    const char *yaml = "serving:\n  splits:\n    - model: churn\n      kind: canary\n      challenger: churn@staging\n"
                       "      steps: [1, 5, 25, 100]\n      tick_s: 2.5\n      min_requests: 300\n      alpha: 0.01\n"
                       "      deadline_ms: 250\n      timeout_ms: 80\n      max_inflight: 12\n"
                       "      rollback: {errors: 0.02, p99: 0.25, srm: 0.0001, metric: 0.03}\n"
                       "      metrics:\n        - {name: ctr, event: click, kind: rate, min_effect: 0.01, margin: 0.005}\n"
                       "        - {name: refunds, event: refund, kind: mean, better: lower, min_effect: 0.5}\n";
    fw_serve_config c;
    fw_err err;
    CHECK_OK(parse(yaml, &c, &err));
    CHECK_EQ(c.n_splits, 1);
    const fw_serve_rollout *r = c.splits[0].rollout;
    CHECK(r != NULL);
    if (!r) return;
    CHECK_EQ(r->n_steps, 4);
    CHECK(r->steps[2] == 25 && c.splits[0].percent == 1);
    CHECK(r->tick_s == 2.5 && r->min_requests == 300 && r->alpha == 0.01 && r->deadline_ms == 250);
    CHECK(r->timeout_ms == 80 && r->max_inflight == 12);
    CHECK(r->max_errors == 0.02 && r->max_p99 == 0.25 && r->srm_alpha == 0.0001 && r->live_metric && r->max_metric == 0.03);
    CHECK_EQ(r->n_metrics, 2);
    CHECK(r->metrics[0].kind == FW_ROLLOUT_RATE && r->metrics[0].higher_is_better && r->metrics[0].margin == 0.005);
    CHECK(r->metrics[1].kind == FW_ROLLOUT_MEAN && !r->metrics[1].higher_is_better && r->metrics[1].margin == 0);
    CHECK_STR(r->metrics[1].event, "refund");
    /* round trip: written as a flow map, parsed again, written again: the same text and values */
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    fw_buf_printf(&a, "serving:\n  splits:\n    - {model: churn, kind: canary, challenger: churn@staging");
    fw_serve_rollout_write(&a, &c.splits[0]);
    fw_buf_printf(&a, "}\n");
    fw_buf_put_u8(&a, 0);
    fw_serve_config c2;
    CHECK_OK(parse((const char *)a.data, &c2, &err));
    if (c2.n_splits == 1 && c2.splits[0].rollout) {
        fw_buf_printf(&b, "serving:\n  splits:\n    - {model: churn, kind: canary, challenger: churn@staging");
        fw_serve_rollout_write(&b, &c2.splits[0]);
        fw_buf_printf(&b, "}\n");
        fw_buf_put_u8(&b, 0);
        CHECK_STR((const char *)a.data, (const char *)b.data);
        CHECK(c2.splits[0].rollout->steps[3] == 100 && c2.splits[0].rollout->metrics[1].min_effect == 0.5);
        CHECK(c2.splits[0].rollout->live_metric && c2.splits[0].rollout->max_metric == 0.03);
        CHECK(c2.splits[0].rollout->timeout_ms == 80 && c2.splits[0].rollout->max_inflight == 12);
    } else {
        CHECK_MSG(0, "round trip lost the rollout: %s", (const char *)a.data);
    }
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_serve_config_free(&c2);
    fw_serve_config_free(&c);
    /* defaults */
    CHECK_OK(parse("serving:\n  splits:\n    - {model: a, kind: canary, challenger: a@s, steps: [10, 100]}\n", &c, &err));
    r = c.splits[0].rollout;
    CHECK(r && r->tick_s == 10 && r->min_requests == 1000 && r->alpha == 0.05 && r->max_errors == 0.01 &&
          r->max_p99 == 0.5 && r->srm_alpha == 0.001 && r->deadline_ms == 0 && c.splits[0].percent == 10 &&
          !r->live_metric && r->timeout_ms == 1000 && r->max_inflight == 0);
    fw_serve_config_free(&c);
    /* errors */
    CHECK_STR(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5, 1]}\n"),
              "s.yaml:3:58: 'serving.splits.steps[1]': 1 is not above the step before it (5)");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5, 101]}\n"),
                   "'serving.splits.steps[]': 101 is out of range");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5], timeout_ms: -1}\n"),
                   "s.yaml:3:71: 'serving.splits.timeout_ms': -1 is out of range");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: ab, challenger: b, max_inflight: 3}\n"),
                   "belong to kind: canary");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: ab, challenger: b, steps: [5]}\n"),
                   "s.yaml:3:7: 'serving.splits': steps, tick_s, rollback and metrics belong to kind: canary (this split is ab)");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, tick_s: 5}\n"),
                   "a canary rollout needs 'steps'");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, percent: 3, steps: [5]}\n"),
                   "s.yaml:3:56: 'serving.splits.percent': 3 differs from the first step (5)");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5], rollback: {error: 1}}\n"),
                   "unknown key 'error' in 'serving.splits.rollback' (did you mean 'errors'?)");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5], rollback: 3}\n"),
                   "'serving.splits.rollback': expected a map {errors, p99, srm, metric}, got a scalar");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5],\n"
                           "       metrics: [{name: m, event: click, kind: ratio, min_effect: 1}]}\n"),
                   "s.yaml:4:48: 'serving.splits.metrics.kind': unknown value 'ratio'");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5],\n"
                           "       metrics: [{name: m, event: click}]}\n"),
                   "s.yaml:4:18: 'serving.splits.metrics[0]': each metric needs 'name', 'event' and 'min_effect' (> 0)");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5],\n"
                           "       metrics: [{name: m, event: e, min_effect: 1, better: up}]}\n"),
                   "'serving.splits.metrics.better': unknown value 'up'");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, kind: canary, challenger: b, steps: [5], alpha: 0.9}\n"),
                   "'serving.splits.alpha': 0.9 is out of range");
}

static void test_errors(void) {
    CHECK_STR(refused("serving:\n  port: lots\n"), "s.yaml:2:9: 'serving.port': expected an integer, got 'lots'");
    CHECK_STR(refused("serving:\n  port: 80.5\n"), "s.yaml:2:9: 'serving.port': expected an integer, got '80.5'");
    CHECK_STR(refused("serving:\n  port: 70000\n"), "s.yaml:2:9: 'serving.port': 70000 is out of range [0, 65535]");
    CHECK_STR(refused("serving:\n  alias_poll_s: 0x10\n"),
              "s.yaml:2:17: 'serving.alias_poll_s': expected a number, got '0x10'");
    CHECK_STR(refused("serving:\n  log:\n    catch_up: maybe\n"),
              "s.yaml:3:15: 'serving.log.catch_up': expected true or false, got 'maybe'");
    CHECK_STR(refused("serving:\n  prot: 1\n"), "s.yaml:2:3: unknown key 'prot' in 'serving' (did you mean 'port'?)");
    CHECK_STR(refused("serving:\n  port: 1\n  port: 2\n"),
              "s.yaml:3:3: duplicate key 'serving.port' (first given on line 2)");
    CHECK_CONTAINS(refused("serving:\n  log:\n    retention: {max_rowz: 5}\n"),
                   "unknown key 'max_rowz' in 'serving.log.retention' (did you mean 'max_rows'?)");
    CHECK_CONTAINS(refused("serving:\n  log:\n    retention: [1]\n"),
                   "'serving.log.retention': expected a map, got a list");
    CHECK_CONTAINS(refused("serving:\n  tls: {cert: a, kye: b}\n"), "unknown key 'kye' in 'serving.tls' (known keys: cert, key)");
    CHECK_CONTAINS(refused("serving:\n  tls: yes\n"), "'serving.tls': expected a map {cert, key}, got a scalar");
    CHECK_CONTAINS(refused("serving:\n  log: {policy: drop}\n"), "'serving.log.policy': unknown value 'drop'");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: abc}\n"),
                   "'serving.splits.kind': unknown value 'abc' (did you mean 'ab'?");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a}\n"), "each split needs 'model' and 'challenger'");
    /* bandits */
    CHECK_STR(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: bandit}\n"),
              "s.yaml:3:7: 'serving.splits': a bandit needs 'reward: {event: NAME, kind: rate|mean}'");
    CHECK_STR(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: bandit, reward: {event: c, kind: median}}\n"),
              "s.yaml:3:72: 'serving.splits.reward.kind': unknown value 'median' (did you mean 'mean'? allowed: rate, mean)");
    CHECK_STR(refused("serving:\n  splits:\n    - model: a\n      challenger: b\n      kind: bandit\n"
                      "      reward: {event: c}\n      min_share: 0.4\n      challengers: [d]\n"),
              "s.yaml:7:18: 'serving.splits.min_share': 0.4 x 3 arms is more than 1");
    CHECK_STR(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: bandit, reward: {event: c}, percent: 5}\n"),
              "s.yaml:3:76: 'serving.splits.percent': a bandit sets its own shares (use min_share)");
    CHECK_STR(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: canary, reward: {event: c}}\n"),
              "s.yaml:3:7: 'serving.splits': reward, challengers, min_share and seed are for kind: bandit");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: bandit, reward: {event: c, window_s: 0}}\n"),
                   "'serving.splits.reward.window_s': 0 is out of range");
    CHECK_CONTAINS(refused("serving:\n  splits:\n    - {model: a, challenger: b, kind: bandit, reward: {evnt: c}}\n"),
                   "unknown key 'evnt' in 'serving.splits.reward' (did you mean 'event'?)");
    CHECK_CONTAINS(refused("serving:\n  rank: {filters: [{model: a, weight: 2}]}\n"),
                   "unknown key 'weight' in 'serving.rank.filters[0]'");
    CHECK_CONTAINS(refused("serving:\n  rank: {objectives: [{weight: 2}]}\n"),
                   "'serving.rank.objectives[0]': missing required key 'model'");
    CHECK_CONTAINS(refused("serving:\n  models: [spam]\n"), "s.yaml:2:12: 'serving.models[0]': expected NAME@ALIAS, got 'spam'");
    CHECK_CONTAINS(refused("serving:\n  host: ~\n"), "'serving.host': expected a string, got nothing");
    CHECK_CONTAINS(refused("serving:\n  host: [a]\n"), "'serving.host': expected a string, got a list");
    CHECK_CONTAINS(refused("- 1\n"), "s.yaml:1:1: expected a map at the top level, got a list");
}

/* a bad value reads the same in the project file and in the serving section: one set of getters */
static void test_same_rules_as_project(void) {
    fw_project p;
    fw_err perr;
    fw_err_clear(&perr);
    const char *proj = "data: {train: t.csv, label: y}\nhash_bits: 1.5\n";
    CHECK(fw_project_parse(proj, strlen(proj), "s.yaml", &p, &perr) == FW_ECONFIG);
    CHECK_STR(perr.msg, "s.yaml:2:12: 'hash_bits': expected an integer, got '1.5'");
    CHECK_STR(refused("serving:\n  port: 1.5\n"), "s.yaml:2:9: 'serving.port': expected an integer, got '1.5'");
    /* whole numbers in exponent form are integers in both */
    proj = "data: {train: t.csv, label: y}\nhash_bits: 2e1\n";
    fw_status st = fw_project_parse(proj, strlen(proj), "s.yaml", &p, &perr);
    CHECK_MSG(st == FW_OK, "%s", perr.msg);
    if (st == FW_OK) {
        CHECK_EQ(p.hash_bits, 20);
        fw_project_free(&p);
    }
}

/* the top-level `monitoring:` section: defaults (on), every key read, and the project file accepts
 * the section (the same file serves both) */
static void test_monitoring(void) {
    fw_serve_config c;
    fw_err err;
    CHECK_OK(parse("serving:\n  port: 1\n", &c, &err));
    CHECK(c.monitoring.enabled);
    CHECK(c.monitoring.history && c.monitoring.alert_log);
    CHECK(c.monitoring.sensitivity == 1);
    CHECK(c.monitoring.block_s == 300); /* windows by time on by default (replay == live holds with them) */
    CHECK_EQ(c.monitoring.window_rows, 0); /* the monitor's default */
    CHECK_EQ(c.monitoring.metrics_columns, 50);
    CHECK_EQ(c.monitoring.n_columns, 0);
    CHECK(c.monitoring.webhook_url == NULL);
    CHECK_EQ(c.monitoring.webhook_retries, 5);
    CHECK_EQ(c.monitoring.alert_queue, 1024);
    fw_serve_config_free(&c);
    CHECK_OK(parse("monitoring:\n  enabled: false\n", &c, &err));
    CHECK(!c.monitoring.enabled);
    fw_serve_config_free(&c);
    const char *y = "monitoring:\n"
                    "  enabled: yes\n"
                    "  step_rows: 100\n"
                    "  window_rows: 500\n"
                    "  quality_rows: 300\n"
                    "  block_s: 60\n"
                    "  sensitivity: 2.5\n"
                    "  columns: [age, income]\n"
                    "  metrics_columns: 8\n"
                    "  history: off\n"
                    "  alerts:\n"
                    "    log: false\n"
                    "    webhook: http://127.0.0.1:9/hook\n"
                    "    retries: 2\n"
                    "    backoff_s: 0.05\n"
                    "    timeout_s: 1.5\n"
                    "    queue: 16\n";
    fw_status st = parse(y, &c, &err);
    CHECK_MSG(st == FW_OK, "%s", err.msg);
    if (st == FW_OK) {
        CHECK(c.monitoring.enabled);
        CHECK_EQ(c.monitoring.step_rows, 100);
        CHECK_EQ(c.monitoring.window_rows, 500);
        CHECK_EQ(c.monitoring.quality_rows, 300);
        CHECK(c.monitoring.block_s == 60);
        CHECK(c.monitoring.sensitivity == 2.5);
        CHECK_EQ(c.monitoring.n_columns, 2);
        if (c.monitoring.n_columns == 2) CHECK_STR(c.monitoring.columns[1], "income");
        CHECK_EQ(c.monitoring.metrics_columns, 8);
        CHECK(!c.monitoring.history && !c.monitoring.alert_log);
        CHECK_STR(c.monitoring.webhook_url, "http://127.0.0.1:9/hook");
        CHECK_EQ(c.monitoring.webhook_retries, 2);
        CHECK(c.monitoring.webhook_backoff_s == 0.05 && c.monitoring.webhook_timeout_s == 1.5);
        CHECK_EQ(c.monitoring.alert_queue, 16);
    }
    fw_serve_config_free(&c);
    /* errors name file:line:column and the field */
    CHECK_STR(refused("monitoring:\n  enabled: maybe\n"),
              "s.yaml:2:12: 'monitoring.enabled': expected true or false, got 'maybe'");
    CHECK_CONTAINS(refused("monitoring:\n  window_rows: 0\n"), "s.yaml:2:16: 'monitoring.window_rows': 0 is out of range");
    CHECK_STR(refused("monitoring:\n  window_rows: 1020\n"),
              "s.yaml:2:16: 'monitoring.window_rows': 1020 is not a multiple of step_rows (50)");
    CHECK_STR(refused("monitoring:\n  step_rows: 300\n"),
              "s.yaml:2:14: 'monitoring.window_rows': 1000 is not a multiple of step_rows (300)");
    CHECK_CONTAINS(refused("monitoring:\n  sensitivity: high\n"), "s.yaml:2:16: 'monitoring.sensitivity': expected a number");
    CHECK_CONTAINS(refused("monitoring:\n  sensitivity: 0\n"), "'monitoring.sensitivity': 0 is out of range");
    CHECK_CONTAINS(refused("monitoring:\n  windows: 5\n"), "s.yaml:2:3: unknown key 'windows' in 'monitoring'");
    CHECK_CONTAINS(refused("monitoring:\n  columns: [a, b, a]\n"), "s.yaml:2:19: 'monitoring.columns[2]': 'a' is listed twice");
    CHECK_CONTAINS(refused("monitoring:\n  alerts:\n    webhook: ftp://x/\n"),
                   "s.yaml:3:14: 'monitoring.alerts.webhook': expected an http:// or https:// URL, got 'ftp://x/'");
    CHECK_CONTAINS(refused("monitoring:\n  alerts:\n    webhook: 'http://'\n"), "expected a URL with a host");
    CHECK_CONTAINS(refused("monitoring:\n  alerts:\n    retries: -1\n"), "s.yaml:3:14: 'monitoring.alerts.retries'");
    CHECK_CONTAINS(refused("monitoring:\n  alerts:\n    timeout_s: 0\n"), "'monitoring.alerts.timeout_s'");
    CHECK_CONTAINS(refused("monitoring:\n  alerts: https://x\n"), "s.yaml:2:11: 'monitoring.alerts': expected a map");
    CHECK_CONTAINS(refused("monitoring: [a]\n"), "s.yaml:1:13: 'monitoring': expected a map");
    /* a project file with the section still parses as a project */
    fw_project p;
    fw_err perr;
    fw_err_clear(&perr);
    const char *proj = "data: {train: t.csv, label: y}\nmonitoring:\n  enabled: false\n";
    st = fw_project_parse(proj, strlen(proj), "s.yaml", &p, &perr);
    CHECK_MSG(st == FW_OK, "%s", perr.msg);
    if (st == FW_OK) fw_project_free(&p);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_monitoring);
    TEST_RUN(test_values);
    TEST_RUN(test_errors);
    TEST_RUN(test_rollout);
    TEST_RUN(test_same_rules_as_project);
    return fw_test_report(argv[0]);
}
