/* test_learn.c — tests for the learn: section of the project file (src/project/learn.c and
 * learn_yaml.c): every key and its default, durations, the errors (file, line, column, key path,
 * did-you-mean, keys that do not go together), and write → read → write byte identity through
 * fw_project_to_yaml. */
#include "core/buf.h"
#include "project/project.h"
#include "test.h"

#include <stdlib.h>

#define HEAD "data:\n  train: /d/train.csv\n  label: y\n"

static const char k_learn[] = HEAD
    "learn:\n"
    "  rows: window\n"
    "  window: {rows: 50000, max_age: 30d}\n"
    "  base: false\n"
    "  base_data: orig/train.csv\n"
    "  gate:\n"
    "    min_improvement: 0.005\n"
    "    confidence: 0.99\n"
    "    min_rows: 300\n"
    "    holdout: 0.25\n"
    "    holdout_rows: 5000\n"
    "    resamples: 2000\n"
    "    seed: 7\n"
    "  every: 6h\n"
    "  on_alarm: [drift, performance]\n"
    "  after_labels: 5000\n"
    "  promote: auto\n"
    "  min_interval: 15m\n"
    "  online: true\n"
    "  snapshot: {updates: 10000, interval: 90s}\n";

static void test_every_key(void) {
    fw_project p;
    fw_project_init(&p);
    fw_err err;
    CHECK_OK(fw_project_parse(k_learn, strlen(k_learn), "proj/flywheel.yaml", &p, &err));
    const fw_learn_spec *l = &p.learn;
    CHECK(l->set);
    CHECK_EQ(l->line, 4);
    CHECK(l->rows == FW_LEARN_ROWS_WINDOW);
    CHECK_EQ(l->window_rows, 50000u);
    CHECK_NEAR(l->window_max_age_s, 30 * 86400.0, 0);
    CHECK(!l->base);
    CHECK_STR(l->base_data, "proj/orig/train.csv"); /* relative to the project file, as data.train */
    CHECK_NEAR(l->min_improvement, 0.005, 0);
    CHECK_NEAR(l->confidence, 0.99, 0);
    CHECK_EQ(l->min_rows, 300u);
    CHECK_NEAR(l->holdout, 0.25, 0);
    CHECK_EQ(l->holdout_rows, 5000u);
    CHECK_EQ(l->resamples, 2000u);
    CHECK_EQ(l->seed, 7u);
    CHECK_NEAR(l->every_s, 6 * 3600.0, 0);
    CHECK_EQ(l->on_alarm, (unsigned)(FW_LEARN_ALARM_DRIFT | FW_LEARN_ALARM_PERFORMANCE));
    CHECK_EQ(l->after_labels, 5000u);
    CHECK(l->promote_auto);
    CHECK_NEAR(l->min_interval_s, 900.0, 0);
    CHECK(l->online);
    CHECK_EQ(l->snapshot_updates, 10000u);
    CHECK_NEAR(l->snapshot_interval_s, 90.0, 0);
    fw_project_free(&p);
}

static void test_defaults(void) {
    fw_project p;
    fw_project_init(&p);
    fw_err err;
    const char *y = HEAD;
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK(!p.learn.set);
    y = HEAD "learn:\n";
    fw_project_free(&p);
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    const fw_learn_spec *l = &p.learn;
    CHECK(l->set);
    CHECK(l->rows == FW_LEARN_ROWS_WINDOW);
    CHECK_EQ(l->window_rows, 0u);
    CHECK(l->base);
    CHECK_NEAR(l->confidence, 0.95, 0);
    CHECK_EQ(l->min_rows, 200u);
    CHECK_NEAR(l->holdout, 0.2, 0);
    CHECK_EQ(l->resamples, 1000u);
    CHECK_NEAR(l->half_life_s, 7 * 86400.0, 0);
    CHECK_EQ(l->on_alarm, 0u);
    CHECK(!l->promote_auto && !l->online);
    y = HEAD "learn:\n  rows: decay\n  half_life: 36h\n  on_alarm: true\n";
    fw_project_free(&p);
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK(p.learn.rows == FW_LEARN_ROWS_DECAY);
    CHECK_NEAR(p.learn.half_life_s, 36 * 3600.0, 0);
    CHECK_EQ(p.learn.on_alarm, (unsigned)(FW_LEARN_ALARM_DRIFT | FW_LEARN_ALARM_PERFORMANCE));
    y = HEAD "learn:\n  on_alarm: quality\n";
    fw_project_free(&p);
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK_EQ(p.learn.on_alarm, (unsigned)FW_LEARN_ALARM_QUALITY);
    fw_project_free(&p);
}

static void test_durations(void) {
    double s;
    CHECK(fw_learn_parse_duration("90", &s) && s == 90);
    CHECK(fw_learn_parse_duration("90s", &s) && s == 90);
    CHECK(fw_learn_parse_duration("15m", &s) && s == 900);
    CHECK(fw_learn_parse_duration("1.5h", &s) && s == 5400);
    CHECK(fw_learn_parse_duration("2w", &s) && s == 14 * 86400.0);
    CHECK(!fw_learn_parse_duration("6 h", &s));
    CHECK(!fw_learn_parse_duration("6x", &s));
    CHECK(!fw_learn_parse_duration("-1h", &s));
    CHECK(!fw_learn_parse_duration("h", &s));
    CHECK(!fw_learn_parse_duration("", &s));
    CHECK(!fw_learn_parse_duration("inf", &s));
}

/* The error for yaml, which must be FW_ECONFIG and contain want. */
static void check_err(const char *yaml, const char *want) {
    fw_project p;
    fw_project_init(&p);
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_project_parse(yaml, strlen(yaml), "f.yaml", &p, &err);
    CHECK_MSG(st == FW_ECONFIG, "status %d for %s", st, want);
    CHECK_MSG(strstr(err.msg, want) != NULL, "wanted '%s' in '%s'", want, err.msg);
    fw_project_free(&p);
}

static void test_errors(void) {
    check_err(HEAD "learn:\n  evry: 6h\n", "f.yaml:5:3: unknown key 'evry' in 'learn' (did you mean 'every'?)");
    check_err(HEAD "learn:\n  every: 6 hours\n", "f.yaml:5:10: 'learn.every': expected a duration");
    check_err(HEAD "learn:\n  rows: sliding\n", "f.yaml:5:9: 'learn.rows'");
    check_err(HEAD "learn:\n  gate:\n    confidence: 2\n", "f.yaml:6:17: 'learn.gate.confidence'");
    check_err(HEAD "learn:\n  gate:\n    confidence: 0.3\n", "expected a level in [0.5, 1)");
    check_err(HEAD "learn:\n  gate:\n    holdout: 0\n", "'learn.gate.holdout': the share of labelled rows held out must be above 0");
    check_err(HEAD "learn:\n  gate:\n    holdout: 0.95\n", "'learn.gate.holdout'");
    check_err(HEAD "learn:\n  gate:\n    min_rows: 1\n", "'learn.gate.min_rows'");
    check_err(HEAD "learn:\n  gate:\n    min_improvement: -0.1\n", "'learn.gate.min_improvement'");
    check_err(HEAD "learn:\n  gate: {minimum: 3}\n", "unknown key 'minimum' in 'learn.gate'");
    check_err(HEAD "learn:\n  on_alarm: [drift, drift]\n", "'drift' is listed twice");
    check_err(HEAD "learn:\n  on_alarm: latency\n", "'learn.on_alarm': expected true, false, or alarm kinds");
    check_err(HEAD "learn:\n  on_alarm: [latency]\n", "'learn.on_alarm'");
    check_err(HEAD "learn:\n  promote: always\n", "'learn.promote'");
    check_err(HEAD "learn:\n  rows: decay\n  window: {rows: 10}\n", "f.yaml:6:11: 'learn.window' is for 'learn.rows: window'");
    check_err(HEAD "learn:\n  half_life: 1d\n", "'learn.half_life' is for 'learn.rows: decay'");
    check_err(HEAD "learn:\n  rows: decay\n  half_life: 0s\n", "'learn.half_life': must be longer than 0");
    check_err(HEAD "learn:\n  snapshot: {updates: 10}\n", "'learn.snapshot' is for online learning");
    check_err(HEAD "learn:\n  after_labels: -5\n", "'learn.after_labels'");
    check_err(HEAD "learn:\n  online: maybe\n", "'learn.online'");
    check_err(HEAD "learn:\n  every: 1h\n  every: 2h\n", "f.yaml:6:3:");
    check_err(HEAD "learn: [1, 2]\n", "'learn': expected a map");
    check_err(HEAD "learn:\n  base_data: ''\n", "'learn.base_data': empty path");
}

/* write → read → write gives the same bytes, and the same struct */
static void roundtrip(const char *yaml) {
    fw_project p, q;
    fw_project_init(&p);
    fw_project_init(&q);
    fw_err err;
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "f.yaml", &p, &err));
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    CHECK_OK(fw_project_to_yaml(&p, "", &a));
    CHECK_OK(fw_project_parse((const char *)a.data, a.len, "g.yaml", &q, &err));
    CHECK_OK(fw_project_to_yaml(&q, "", &b));
    CHECK_EQ(a.len, b.len);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    const fw_learn_spec *l = &p.learn, *m = &q.learn;
    CHECK_EQ(l->set, m->set);
    CHECK(l->rows == m->rows);
    CHECK_EQ(l->window_rows, m->window_rows);
    CHECK(l->window_max_age_s == m->window_max_age_s && l->half_life_s == m->half_life_s);
    CHECK(l->min_improvement == m->min_improvement && l->confidence == m->confidence);
    CHECK(l->holdout == m->holdout && l->every_s == m->every_s && l->min_interval_s == m->min_interval_s);
    CHECK_EQ(l->min_rows, m->min_rows);
    CHECK_EQ(l->holdout_rows, m->holdout_rows);
    CHECK_EQ(l->resamples, m->resamples);
    CHECK_EQ(l->seed, m->seed);
    CHECK_EQ(l->on_alarm, m->on_alarm);
    CHECK_EQ(l->after_labels, m->after_labels);
    CHECK_EQ(l->promote_auto, m->promote_auto);
    CHECK_EQ(l->base, m->base);
    CHECK_EQ(l->online, m->online);
    CHECK_EQ(l->snapshot_updates, m->snapshot_updates);
    CHECK(l->snapshot_interval_s == m->snapshot_interval_s);
    CHECK((l->base_data == NULL) == (m->base_data == NULL));
    if (l->base_data && m->base_data) CHECK_STR(l->base_data, m->base_data);
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_project_free(&p);
    fw_project_free(&q);
}

static void test_roundtrip(void) {
    roundtrip(k_learn);
    roundtrip(HEAD "learn:\n  rows: decay\n  half_life: 1.5s\n  every: 7d\n  on_alarm: [quality]\n");
    roundtrip(HEAD "learn:\n  every: 3601\n  gate: {min_improvement: 0.0001, confidence: 0.9}\n");
    roundtrip(HEAD "learn:\n");
    roundtrip(HEAD);
    roundtrip(HEAD "serving:\n  port: 8080\nlearn:\n  every: 1h\n"); /* the kept serving text ends at its section */
    roundtrip(HEAD "learn:\n  every: 1h\nserving:\n  port: 8080\n");
    /* a section that is written says so: no learn: without one */
    fw_project p;
    fw_project_init(&p);
    fw_err err;
    CHECK_OK(fw_project_parse(HEAD, strlen(HEAD), "f.yaml", &p, &err));
    fw_buf a;
    fw_buf_init(&a);
    CHECK_OK(fw_project_to_yaml(&p, "", &a));
    fw_buf_put_u8(&a, 0);
    CHECK(strstr((const char *)a.data, "learn:") == NULL);
    fw_buf_free(&a);
    fw_project_free(&p);
}

/* fw_project_write: base_data is written relative to the written file, as data.train is */
static void test_base_data_path_written_relative(void) {
    char yaml[1200], path[700];
    snprintf(yaml, sizeof yaml, "data: {train: %s/data/t.csv, label: y}\nlearn: {base_data: %s/data/base.csv}\n",
             fw_test_tmpdir(), fw_test_tmpdir());
    fw_project p, q;
    fw_project_init(&p);
    fw_project_init(&q);
    fw_err err;
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "/abs/p.yaml", &p, &err));
    snprintf(path, sizeof path, "%s/sub", fw_test_tmpdir());
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    CHECK_EQ(system(cmd), 0);
    snprintf(path, sizeof path, "%s/sub/p.yaml", fw_test_tmpdir());
    CHECK_OK(fw_project_write(&p, path, &err));
    char *text = fw_test_slurp(path, NULL);
    CHECK_MSG(text && strstr(text, "  base_data: \"../data/base.csv\"\n"), "%s", text ? text : "(none)");
    CHECK_OK(fw_project_load(path, &q, &err));
    char want[800];
    snprintf(want, sizeof want, "%s/sub/../data/base.csv", fw_test_tmpdir());
    CHECK_STR(q.learn.base_data, want);
    free(text);
    fw_project_free(&p);
    fw_project_free(&q);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_every_key);
    TEST_RUN(test_defaults);
    TEST_RUN(test_durations);
    TEST_RUN(test_errors);
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_base_data_path_written_relative);
    return fw_test_report(argv[0]);
}
