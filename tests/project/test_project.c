/* test_project.c — tests for src/project: parsing every key of flywheel.yaml, every error kind with
 * its line, column and key path, did-you-mean, write → read → write byte identity, resolve against
 * a dataset (task inference per task, positive class, inferred features, missing columns), the
 * baseline rule syntax and the no-project-file constructor. */
#include "core/alloc.h"
#include "core/buf.h"
#include "data/dataset.h"
#include "core/dtoa.h"
#include "project/project.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char k_full[] =
    "# every key\n"
    "name: churn\n"
    "task: binary\n"
    "data:\n"
    "  train: data/train.csv\n"
    "  test: /abs/test.csv\n"
    "  id: customer\n"
    "  time: signup\n"
    "  groups: [region, plan]\n"
    "  label: churned\n"
    "  positive: 'yes'\n"
    "  query: q\n"
    "  missing_tokens: ['', NA, '?']\n"
    "  exclude: [leak]\n"
    "features:\n"
    "  - name: age\n"
    "    type: numeric\n"
    "    impute: constant\n"
    "    impute_value: -1.5\n"
    "    missing_indicator: true\n"
    "    scale: quantile\n"
    "    bins: 5\n"
    "  - name: plan\n"
    "    type: categorical\n"
    "    encode: hash\n"
    "    min_frequency: 3\n"
    "    max_categories: 20\n"
    "  - name: notes\n"
    "    type: text\n"
    "    tfidf: false\n"
    "    bigrams: no\n"
    "  - calls\n"
    "crosses:\n"
    "  - [region, plan]\n"
    "hash_bits: 16\n"
    "split:\n"
    "  kind: group\n"
    "  test_fraction: 0.25\n"
    "  valid_fraction: 0.05\n"
    "  seed: 7\n"
    "  folds: 5\n"
    "  group: region\n"
    "metric: pr_auc\n"
    "metrics: [roc_auc, f1]\n"
    "baseline:\n"
    "  rule: \"calls >= 4 -> yes\"\n"
    "constraints:\n"
    "  p99_latency_ms: 5\n"
    "  min_improvement: 0.02\n"
    "  confidence_threshold: 0.6\n"
    "  fallback: value\n"
    "  fallback_value: 'no'\n"
    "  cost_fp: 1\n"
    "  cost_fn: 5\n"
    "  target_recall: 0.8\n"
    "  target_precision: 0\n"
    "  threshold: 0.3\n";

static void test_parse_every_key(void) {
    fw_project p;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_parse(k_full, strlen(k_full), "proj/flywheel.yaml", &p, &err));
    CHECK_STR(p.name, "churn");
    CHECK(p.task_set && p.task == FW_TASK_BINARY);
    CHECK_STR(p.train_path, "proj/data/train.csv"); /* relative to the project file */
    CHECK_STR(p.test_path, "/abs/test.csv");
    CHECK_STR(p.id_column, "customer");
    CHECK_STR(p.time_column, "signup");
    CHECK_EQ(p.n_group_columns, 2);
    CHECK_STR(p.group_columns[1], "plan");
    CHECK_EQ(p.n_label_columns, 1);
    CHECK_STR(p.label_columns[0], "churned");
    CHECK_STR(p.positive_value, "yes");
    CHECK_STR(p.query_column, "q");
    CHECK_EQ(p.n_missing_tokens, 3);
    CHECK_STR(p.missing_tokens[0], "");
    CHECK_STR(p.missing_tokens[2], "?");
    CHECK_EQ(p.n_exclude, 1);
    CHECK_EQ(p.n_features, 4);
    fw_feature_spec *f = p.features;
    CHECK_STR(f[0].name, "age");
    CHECK(f[0].type_set && f[0].type == FW_COL_NUMERIC);
    CHECK(f[0].impute == FW_IMPUTE_CONSTANT);
    CHECK(f[0].impute_value == -1.5);
    CHECK(f[0].missing_indicator);
    CHECK(f[0].scale == FW_SCALE_QUANTILE);
    CHECK_EQ(f[0].quantile_bins, 5);
    CHECK_EQ(f[0].line, 16);
    CHECK(f[1].type == FW_COL_CATEGORICAL && f[1].encode == FW_ENCODE_HASH);
    CHECK_EQ(f[1].min_frequency, 3);
    CHECK_EQ(f[1].max_categories, 20);
    CHECK(f[2].type == FW_COL_TEXT && !f[2].tfidf && !f[2].bigrams);
    CHECK_STR(f[3].name, "calls");
    CHECK(!f[3].type_set && f[3].tfidf && f[3].bigrams && f[3].max_categories == 64);
    CHECK_EQ(p.n_crosses, 1);
    CHECK_EQ(p.crosses[0].n_columns, 2);
    CHECK_STR(p.crosses[0].columns[1], "plan");
    CHECK_EQ(p.hash_bits, 16);
    CHECK(p.split == FW_SPLIT_GROUP);
    CHECK(p.test_fraction == 0.25 && p.valid_fraction == 0.05);
    CHECK_EQ(p.seed, 7);
    CHECK_EQ(p.folds, 5);
    CHECK_STR(p.split_group, "region");
    CHECK_STR(p.metric, "pr_auc");
    CHECK_EQ(p.n_extra_metrics, 2);
    CHECK(p.baseline.kind == FW_BASELINE_RULE);
    CHECK_STR(p.baseline.rule, "calls >= 4 -> yes");
    CHECK(p.constraints.p99_latency_ms == 5);
    CHECK(p.constraints.min_improvement == 0.02);
    CHECK(p.constraints.confidence_threshold == 0.6);
    CHECK(p.constraints.fallback == FW_FALLBACK_VALUE);
    CHECK_STR(p.constraints.fallback_value, "no");
    CHECK(p.constraints.cost_fp == 1 && p.constraints.cost_fn == 5);
    CHECK(p.constraints.target_recall == 0.8);
    CHECK(p.constraints.threshold_rule == FW_THRESHOLD_FIXED && p.constraints.threshold == 0.3);
    CHECK_EQ(p.lines.label, 10);
    CHECK_EQ(p.lines.baseline, 45);
    fw_project_free(&p);
}

/* Parses text expecting failure; returns the message in a static buffer. */
static const char *parse_err(const char *yaml, fw_status *st_out) {
    static fw_err err;
    fw_project p;
    fw_err_clear(&err);
    fw_status st = fw_project_parse(yaml, strlen(yaml), "f.yaml", &p, &err);
    if (st_out) *st_out = st;
    CHECK_MSG(st != FW_OK, "expected an error for:\n%s", yaml);
    if (st == FW_OK) fw_project_free(&p);
    return err.msg;
}

#define MIN_DATA "data:\n  train: t.csv\n  label: y\n"

static void test_errors(void) {
    fw_status st;
    /* unknown key, nested, with did-you-mean and line:column */
    const char *m = parse_err("data:\n  train: t.csv\n  lable: y\n", &st);
    CHECK_EQ(st, FW_ECONFIG);
    CHECK_STR(m, "f.yaml:3:3: unknown key 'lable' in 'data' (did you mean 'label'?)");
    m = parse_err(MIN_DATA "constraint:\n  cost_fp: 1\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:4:1: unknown key 'constraint' (did you mean 'constraints'?)");
    m = parse_err(MIN_DATA "zzzzqqq: 1\n", NULL);
    CHECK_CONTAINS(m, "unknown key 'zzzzqqq' (known keys: name, data,");
    m = parse_err(MIN_DATA "features:\n  - name: a\n    scael: standard\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:6:5: unknown key 'scael' in 'features[0]' (did you mean 'scale'?)");
    /* a list where a string is expected */
    m = parse_err("data:\n  train: [a, b]\n  label: y\n", NULL);
    CHECK_STR(m, "f.yaml:2:10: 'data.train': expected a string, got a list");
    /* "abc" for a number, 1.5 for an integer, out of range */
    m = parse_err(MIN_DATA "split:\n  test_fraction: abc\n", NULL);
    CHECK_STR(m, "f.yaml:5:18: 'split.test_fraction': expected a number, got 'abc'");
    m = parse_err(MIN_DATA "hash_bits: 1.5\n", NULL);
    CHECK_STR(m, "f.yaml:4:12: 'hash_bits': expected an integer, got '1.5'");
    m = parse_err(MIN_DATA "hash_bits: 40\n", NULL);
    CHECK_CONTAINS(m, "'hash_bits': 40 is out of range [4, 28]");
    m = parse_err(MIN_DATA "features:\n  - name: a\n    missing_indicator: maybe\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:6:24: 'features[0].missing_indicator': expected true or false, got 'maybe'");
    /* unknown enum values list the allowed ones */
    m = parse_err(MIN_DATA "task: binnary\n", NULL);
    CHECK_STR(m, "f.yaml:4:7: 'task': unknown value 'binnary' (did you mean 'binary'? allowed: binary, "
                 "multiclass, multilabel, regression, ranking)");
    m = parse_err(MIN_DATA "features:\n  - name: a\n    scale: zscore\n", NULL);
    CHECK_CONTAINS(m, "'features[0].scale': unknown value 'zscore' (allowed: none, standard, minmax, log1p, quantile)");
    m = parse_err(MIN_DATA "baseline: average\n", NULL);
    CHECK_CONTAINS(m, "'baseline': unknown value 'average'");
    m = parse_err(MIN_DATA "baseline: \"calls >> 4 -> yes\"\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:4:11: 'baseline': rule 'calls >> 4 -> yes': column 7: bad comparison");
    /* missing required keys */
    m = parse_err("name: x\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:1:1: missing required key 'data'");
    m = parse_err("data:\n  train: t.csv\n", NULL);
    CHECK_STR(m, "f.yaml:2:3: 'data': missing required key 'label'");
    m = parse_err(MIN_DATA "features:\n  - type: numeric\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:5:5: 'features[0]': missing required key 'name'");
    /* duplicate keys, wrong shapes, cross-key consistency */
    m = parse_err(MIN_DATA "name: a\nname: b\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:5:1: duplicate key 'name' (first given on line 4)");
    m = parse_err(MIN_DATA "crosses: [a, b]\n", NULL);
    CHECK_CONTAINS(m, "'crosses[0]': expected a list of column names, got a scalar");
    m = parse_err(MIN_DATA "crosses:\n  - [a]\n", NULL);
    CHECK_CONTAINS(m, "'crosses[0]': a cross needs 2 to 8 columns, got 1");
    m = parse_err(MIN_DATA "constraints:\n  threshold: min_cost\n", NULL);
    CHECK_CONTAINS(m, "min_cost but 'constraints.cost_fp' and 'cost_fn' are not both set");
    m = parse_err(MIN_DATA "split:\n  kind: time\n", NULL);
    CHECK_CONTAINS(m, "'split.kind: time' needs 'data.time'");
    m = parse_err(MIN_DATA "features:\n  - name: a\n    impute: constant\n", NULL);
    CHECK_CONTAINS(m, "f.yaml:6:13: 'features[0].impute': constant imputation needs 'impute_value'");
    m = parse_err(MIN_DATA "features: [a, a]\n", NULL);
    CHECK_CONTAINS(m, "feature 'a' is listed twice");
    /* YAML syntax and empty files */
    m = parse_err("data:\n  train: [a\n", &st);
    CHECK_EQ(st, FW_ECONFIG);
    CHECK_CONTAINS(m, "f.yaml:");
    CHECK_CONTAINS(m, "YAML syntax error");
    m = parse_err("", NULL);
    CHECK_CONTAINS(m, "empty");
    m = parse_err("- a\n- b\n", NULL);
    CHECK_CONTAINS(m, "expected a map, got a list");
    /* a file that does not exist */
    fw_project p;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_project_load("/nonexistent/flywheel.yaml", &p, &err), FW_EIO);
    CHECK_CONTAINS(err.msg, "/nonexistent/flywheel.yaml: cannot open");
}

static void test_implied_settings(void) {
    fw_project p;
    fw_err err;
    const char *y = MIN_DATA "constraints:\n  cost_fp: 1\n  cost_fn: 5\n  fallback_value: x\n";
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK(p.constraints.threshold_rule == FW_THRESHOLD_MIN_COST);
    CHECK(p.constraints.fallback == FW_FALLBACK_VALUE);
    CHECK_STR(p.name, "t"); /* the training file's stem */
    CHECK(!p.task_set);
    CHECK(p.hash_bits == 18 && p.seed == 42 && p.test_fraction == 0.2);
    fw_project_free(&p);
    y = "data:\n  train: t.csv\n  label: [a, b, c]\nbaseline: \"x == red -> b\"\n";
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK_EQ(p.n_label_columns, 3);
    CHECK(p.baseline.kind == FW_BASELINE_RULE);
    fw_project_free(&p);
}

static void test_write_read_write(void) {
    const char *dir = fw_test_tmpdir();
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/flywheel.yaml", dir);
    snprintf(path2, sizeof path2, "%s/again.yaml", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(k_full, f);
    /* names that need quoting survive */
    fclose(f);
    fw_project a, b;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_load(path, &a, &err));
    fw_free(a.positive_value);
    a.positive_value = fw_strdup("null"); /* must be quoted to read back as a string */
    fw_free(a.exclude[0]);
    a.exclude[0] = fw_strdup("odd \"name\": #1");
    CHECK_OK(fw_project_write(&a, path2, &err));
    CHECK_OK(fw_project_load(path2, &b, &err));
    CHECK_STR(b.train_path, a.train_path);
    CHECK_STR(b.positive_value, "null");
    CHECK_STR(b.exclude[0], "odd \"name\": #1");
    CHECK(b.constraints.threshold == 0.3 && b.test_fraction == 0.25);
    CHECK_EQ(b.n_features, 4);
    CHECK(b.features[0].impute_value == -1.5 && b.features[0].quantile_bins == 5);
    CHECK(!b.features[2].tfidf);
    fw_buf x, y;
    fw_buf_init(&x);
    fw_buf_init(&y);
    CHECK_OK(fw_project_to_yaml(&a, dir, &x));
    CHECK_OK(fw_project_to_yaml(&b, dir, &y));
    CHECK_EQ(x.len, y.len);
    CHECK(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
    fw_buf_put_u8(&x, 0);
    CHECK_CONTAINS((const char *)x.data, "train: data/train.csv\n");
    CHECK_CONTAINS((const char *)x.data, "# Flywheel project file");
    fw_buf_free(&x);
    fw_buf_free(&y);
    fw_project_free(&a);
    fw_project_free(&b);
}

static bool in_exclude(const fw_project *p, const char *name) {
    for (size_t i = 0; i < p->n_exclude; i++)
        if (!strcmp(p->exclude[i], name)) return true;
    return false;
}

/* A dataset with columns of every type for resolve tests. */
static fw_dataset *make_ds(void) {
    const char *names[] = {"id", "age", "color", "notes", "ts", "yesno", "grade", "price", "rank_q"};
    fw_col_type types[] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_CATEGORICAL, FW_COL_TEXT,
                           FW_COL_TIMESTAMP, FW_COL_CATEGORICAL, FW_COL_NUMERIC, FW_COL_NUMERIC,
                           FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(9, names, types, &ds));
    if (!ds) return NULL;
    static const char *colors[] = {"red", "green", "blue"};
    for (size_t r = 0; r < 30; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        fw_dataset_set_num(ds, 0, r, (double)r);
        fw_dataset_set_num(ds, 1, r, 20.0 + (double)r);
        CHECK_OK(fw_dataset_set_str(ds, 2, r, colors[r % 3], strlen(colors[r % 3])));
        CHECK_OK(fw_dataset_set_str(ds, 3, r, "some words", 10));
        fw_dataset_set_num(ds, 4, r, 1.7e9 + (double)r * 3600);
        const char *yn = r % 4 == 0 ? "Yes" : "No";
        CHECK_OK(fw_dataset_set_str(ds, 5, r, yn, strlen(yn)));
        fw_dataset_set_num(ds, 6, r, (double)(r % 4));
        fw_dataset_set_num(ds, 7, r, 100.0 + (double)r * 1.25);
        fw_dataset_set_num(ds, 8, r, (double)(r / 5));
    }
    return ds;
}

static fw_status resolve_with(const char *yaml, fw_dataset *ds, fw_project *p, fw_err *err) {
    fw_err_clear(err);
    fw_status st = fw_project_parse(yaml, strlen(yaml), "p.yaml", p, err);
    if (st) return st;
    fw_free(p->path);
    p->path = fw_strdup("p.yaml");
    return fw_project_resolve(p, ds, err);
}

static void test_resolve_tasks(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_err err;
    /* binary from 2 string values: "Yes" is a conventional positive spelling */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: yesno\n  id: id\nsplit:\n  kind: random\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_BINARY && p.task_set);
    CHECK_STR(p.positive_value, "Yes");
    CHECK_STR(p.metric, "roc_auc");
    CHECK(p.baseline.kind == FW_BASELINE_PRIOR);
    /* features: every other column, in column order, types from the data */
    CHECK_EQ(p.n_features, 7);
    CHECK_STR(p.features[0].name, "age");
    CHECK(p.features[1].type == FW_COL_CATEGORICAL);
    CHECK(p.features[2].type == FW_COL_TEXT);
    CHECK(p.features[3].type == FW_COL_TIMESTAMP);
    CHECK_STR(p.features[6].name, "rank_q");
    fw_project_free(&p);
    /* multiclass from few integers; from strings */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: grade\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_MULTICLASS);
    CHECK_STR(p.metric, "accuracy");
    CHECK(p.baseline.kind == FW_BASELINE_PRIOR);
    fw_project_free(&p);
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: color\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_MULTICLASS);
    fw_project_free(&p);
    /* regression from many distinct numbers */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: price\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_REGRESSION);
    CHECK_STR(p.metric, "rmse");
    CHECK(p.baseline.kind == FW_BASELINE_MEAN);
    fw_project_free(&p);
    /* ranking from a query column; multilabel from several labels */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: grade\n  query: rank_q\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_RANKING);
    CHECK_STR(p.metric, "ndcg@10");
    CHECK_EQ(p.n_features, 6); /* query is not a feature, nor the identifier 'id' (issue 15) */
    CHECK(in_exclude(&p, "id"));
    fw_project_free(&p);
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: [yesno, grade]\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_MULTILABEL);
    CHECK_STR(p.metric, "f1_micro");
    fw_project_free(&p);
    /* declared task wins; a string label cannot be regression */
    CHECK_EQ(resolve_with("task: regression\ndata:\n  train: t.csv\n  label: color\n", ds, &p, &err),
             FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:4: task regression needs a numeric label");
    fw_project_free(&p);
    /* binary numeric 0/1-like: the larger value; declared positive must exist */
    CHECK_OK(resolve_with("task: binary\ndata:\n  train: t.csv\n  label: yesno\n  positive: 'No'\n", ds, &p, &err));
    CHECK_STR(p.positive_value, "No");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\n  positive: maybe\n", ds, &p, &err),
             FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:4: 'data.positive' is 'maybe', but label 'yesno' only takes 'Yes' and 'No'");
    fw_project_free(&p);
    fw_dataset_free(ds);
}

/* Numeric labels are counted without a sort when they have few values (a table of them), with
 * one past 64 values; identifiers are found by name and integer values before any count. */
static void test_resolve_label_counts_and_id_like(void) {
    const char *names[] = {"user_id", "f1", "lab3", "lab100", "frac_id", "lab1", "lab2"};
    fw_col_type types[7];
    for (int i = 0; i < 7; i++) types[i] = FW_COL_NUMERIC;
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(7, names, types, &ds));
    if (!ds) return;
    for (size_t r = 0; r < 200; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        fw_dataset_set_num(ds, 0, r, (double)(1000 - r));
        fw_dataset_set_num(ds, 1, r, (double)r);
        fw_dataset_set_num(ds, 2, r, r % 3 == 0 ? 7.0 : r % 3 == 1 ? -2.5 : 4.0);
        fw_dataset_set_num(ds, 3, r, (double)(r % 100) + (r % 7 == 0 ? NAN : 0.0));
        fw_dataset_set_num(ds, 4, r, (double)r + 0.5);
        fw_dataset_set_num(ds, 5, r, r % 5 ? 9.0 : NAN);
        fw_dataset_set_num(ds, 6, r, r % 4 == 0 ? 1.0 : r % 2 ? 0.0 : -0.0);
    }
    size_t nd = 99;
    CHECK(fw_project_id_like(ds, 0, &nd));
    CHECK_EQ(nd, 200);
    nd = 99;
    CHECK(!fw_project_id_like(ds, 1, &nd)); /* distinct integers, but not named like an id */
    CHECK_EQ(nd, 0);                        /* and not counted */
    nd = 99;
    CHECK(!fw_project_id_like(ds, 4, &nd)); /* named like an id, but not integers */
    CHECK_EQ(nd, 0);
    fw_project p;
    fw_err err;
    CHECK_EQ(resolve_with("task: binary\ndata:\n  train: t.csv\n  label: lab3\n", ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "task binary needs 2 label values, column 'lab3' has 3");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("task: binary\ndata:\n  train: t.csv\n  label: lab100\n", ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "column 'lab100' has 100"); /* past the table: the sort counts */
    fw_project_free(&p);
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: lab3\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_REGRESSION); /* -2.5 is not an integer */
    fw_project_free(&p);
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: lab100\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_REGRESSION); /* integers, but more than 10 */
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: lab1\n", ds, &p, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "has a single value ('9')");
    fw_project_free(&p);
    /* -0 and 0 are one value; the larger of the two is the positive class; 50/150 rows: stratified */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: lab2\n", ds, &p, &err));
    CHECK(p.task == FW_TASK_BINARY);
    CHECK_STR(p.positive_value, "1");
    CHECK(p.split == FW_SPLIT_STRATIFIED);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_resolve_errors(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_err err;
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesnoo\n", ds, &p, &err), FW_ECONFIG);
    CHECK_STR(err.msg, "p.yaml:3: 'data.label' names column 'yesnoo', which is not in the data (did you mean 'yesno'?)");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\nfeatures:\n  - age\n  - name: colour\n",
                          ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:6: 'features[1]' names column 'colour'");
    CHECK_CONTAINS(err.msg, "did you mean 'color'?");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\n  exclude: [nope_col_xyz]\n", ds, &p, &err),
             FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:4: 'data.exclude' names column 'nope_col_xyz'");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\nbaseline: \"age > 3 and calls >= 4 -> Yes\"\n", ds, &p, &err),
             FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:4: 'baseline.rule' names column 'calls'");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\nfeatures: [yesno]\n", ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "column 'yesno' is the label and cannot be a feature");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\n  exclude: [age]\ncrosses:\n  - [age, color]\n",
                          ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:6: 'crosses[0]': column 'age' is excluded, not a feature");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\nfeatures:\n  - name: color\n    type: numeric\n",
                          ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "column 'color' is categorical and cannot be used as numeric");
    fw_project_free(&p);
    CHECK_EQ(resolve_with("data:\n  train: t.csv\n  label: yesno\nbaseline: mean\n", ds, &p, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "p.yaml:4: baseline 'mean' needs a numeric target");
    fw_project_free(&p);
    /* a declared numeric column used as categorical is fine; declared spec keeps its options */
    CHECK_OK(resolve_with("data:\n  train: t.csv\n  label: yesno\nfeatures:\n  - name: grade\n    type: categorical\n"
                          "    min_frequency: 2\nsplit:\n  kind: random\n", ds, &p, &err));
    /* (the identifier 'id' is excluded since issue 15: grade is the fifth feature) */
    CHECK(p.features[4].type == FW_COL_CATEGORICAL && p.features[4].min_frequency == 2);
    CHECK_EQ(p.features[4].line, 5);
    /* resolving twice changes nothing */
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    CHECK_EQ(p.n_features, 7);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_from_args_and_rule(void) {
    fw_project p;
    fw_err err;
    CHECK_OK(fw_project_from_args("dir/x/sales.2024.csv", "y", &p, &err));
    CHECK_STR(p.name, "sales");
    CHECK_STR(p.label_columns[0], "y");
    CHECK(p.path == NULL);
    fw_project_free(&p);
    CHECK_EQ(fw_project_from_args("a.csv", "", &p, &err), FW_EINVAL);
    fw_rule r;
    CHECK_OK(fw_rule_parse("calls >= 4 -> yes", &r, &err));
    CHECK_EQ(r.n_conds, 1);
    CHECK_STR(r.conds[0].column, "calls");
    CHECK_STR(r.conds[0].op, ">=");
    CHECK(r.conds[0].numeric && r.conds[0].num == 4);
    CHECK_STR(r.then, "yes");
    CHECK(r.otherwise == NULL);
    fw_rule_free(&r);
    CHECK_OK(fw_rule_parse("`my plan`=\"gold plan\"->1", &r, &err));
    CHECK_STR(r.conds[0].column, "my plan");
    CHECK_STR(r.conds[0].op, "==");
    CHECK(!r.conds[0].numeric);
    CHECK_STR(r.conds[0].value, "gold plan");
    CHECK_STR(r.then, "1");
    fw_rule_free(&r);
    CHECK_OK(fw_rule_parse("age < 30 and plan == 'basic' -> 0.2 else 0.05", &r, &err));
    CHECK_EQ(r.n_conds, 2);
    CHECK_STR(r.conds[1].column, "plan");
    CHECK_STR(r.conds[1].value, "basic");
    CHECK_STR(r.then, "0.2");
    CHECK_STR(r.otherwise, "0.05");
    fw_rule_free(&r);
    CHECK_OK(fw_rule_parse("x != '4' -> a", &r, &err)); /* quoted: a string, not a number */
    CHECK(!r.conds[0].numeric);
    fw_rule_free(&r);
    CHECK_EQ(fw_rule_parse("plan > gold -> 1", &r, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "'>' needs a number, got 'gold'");
    CHECK_EQ(fw_rule_parse("calls >= 4", &r, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "missing '-> LABEL'");
    CHECK_EQ(fw_rule_parse(">= 4 -> y", &r, &err), FW_ECONFIG);
    CHECK_STR(err.msg, "rule '>= 4 -> y': column 1: missing a column before the comparison");
    CHECK_EQ(fw_rule_parse("a >= 4 ->", &r, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "missing a label after '->'");
    CHECK_EQ(fw_rule_parse("a >= 4 -> y else", &r, &err), FW_ECONFIG);
    CHECK_EQ(fw_rule_parse("a >= 4 -> y z", &r, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "unexpected text");
    CHECK_EQ(fw_rule_parse("a >= 4 or b < 2 -> y", &r, &err), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "column 8: expected 'and' or '->'");
    char buf[FW_NUMFMT_MAX];
    fw_num_format(3.0, buf);
    CHECK_STR(buf, "3");
    fw_num_format(-0.0, buf);
    CHECK_STR(buf, "0");
    fw_num_format(0.1, buf);
    CHECK_STR(buf, "0.1");
    fw_num_format(1.0 / 3, buf);
    CHECK(strtod(buf, NULL) == 1.0 / 3);
}

/* The serving: section belongs to serve/config.c: accepted here and carried over by the writer. */
static void test_serving_section(void) {
    const char *y = "data:\n  train: t.csv\n  label: y\n"
                    "serving:   # owned by the server\n"
                    "  port: 8080\n"
                    "  log: {path: p.jsonl, sample: 0.1}\n"
                    "  models:\n    - spam@production\n"
                    "\n"
                    "metric: f1\n";
    fw_project p, q;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK_STR(p.serving_yaml, "serving:   # owned by the server\n  port: 8080\n  log: {path: p.jsonl, sample: 0.1}\n"
                              "  models:\n    - spam@production");
    CHECK_EQ(p.lines.serving, 4);
    CHECK_STR(p.metric, "f1");
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    CHECK_OK(fw_project_to_yaml(&p, "", &a));
    CHECK_OK(fw_project_parse((const char *)a.data, a.len, "g.yaml", &q, &err));
    CHECK_STR(q.serving_yaml, p.serving_yaml);
    CHECK_OK(fw_project_to_yaml(&q, "", &b));
    CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_project_free(&p);
    fw_project_free(&q);
    y = "data: {train: t.csv, label: y}\nserving: {port: 1}\n";
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK_STR(p.serving_yaml, "serving: {port: 1}");
    fw_project_free(&p);
    /* monitoring: is the server's too (serve/config.c reads and checks it); other future sections
     * are still unknown keys */
    y = "data: {train: t.csv, label: y}\nmonitoring: {enabled: false}\n";
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    fw_project_free(&p);
    fw_status st;
    const char *m = parse_err(MIN_DATA "learning:\n  drift: 0.1\n", &st);
    CHECK_CONTAINS(m, "f.yaml:4:1: unknown key 'learning'");
}

/* expectations: parsed per column, written back, read again to the same text; errors name the key. */
static void test_expectations(void) {
    const char *y = MIN_DATA "expectations:\n"
                    "  age: {min: 0, max: 120, max_missing: 0.05}\n"
                    "  color:\n    allowed: [red, \"dark blue\"]\n"
                    "  note: {}\n";
    fw_project p, q;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_parse(y, strlen(y), "f.yaml", &p, &err));
    CHECK_EQ(p.n_expectations, 3);
    if (p.n_expectations == 3) {
        CHECK_STR(p.expectations[0].column, "age");
        CHECK(p.expectations[0].min == 0 && p.expectations[0].max == 120 && p.expectations[0].max_missing == 0.05);
        CHECK_EQ(p.expectations[0].n_allowed, 0);
        CHECK_STR(p.expectations[1].column, "color");
        CHECK(isnan(p.expectations[1].min) && isnan(p.expectations[1].max) && p.expectations[1].max_missing < 0);
        CHECK_EQ(p.expectations[1].n_allowed, 2);
        if (p.expectations[1].n_allowed == 2) CHECK_STR(p.expectations[1].allowed[1], "dark blue");
        CHECK_EQ(p.expectations[1].line, 6);
        CHECK_STR(p.expectations[2].column, "note");
    }
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    CHECK_OK(fw_project_to_yaml(&p, "", &a));
    CHECK_OK(fw_project_parse((const char *)a.data, a.len, "g.yaml", &q, &err));
    CHECK_MSG(err.msg[0] == 0, "%s", err.msg);
    CHECK_EQ(q.n_expectations, 3);
    CHECK_OK(fw_project_to_yaml(&q, "", &b));
    CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_project_free(&p);
    fw_project_free(&q);
    fw_status st;
    const char *m = parse_err(MIN_DATA "expectations:\n  age: {min: 5, max: 1}\n", &st);
    CHECK_CONTAINS(m, "'expectations.age': min 5 is above max 1");
    m = parse_err(MIN_DATA "expectations:\n  age: {maximum: 1}\n", &st);
    CHECK_CONTAINS(m, "expectations.age");
    CHECK_CONTAINS(m, "maximum");
    m = parse_err(MIN_DATA "expectations:\n  age: {max_missing: 2}\n", &st);
    CHECK_CONTAINS(m, "expectations.age.max_missing");
    m = parse_err(MIN_DATA "expectations:\n  age: {}\n  age: {}\n", &st);
    CHECK(m != NULL && st == FW_ECONFIG);
    m = parse_err(MIN_DATA "expectations: [age]\n", &st);
    CHECK_CONTAINS(m, "'expectations': expected a map");
}

static void test_examples_load(void) {
    fw_project p;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_load("examples/pima/flywheel.yaml", &p, &err));
    CHECK_MSG(err.msg[0] == 0, "%s", err.msg);
    CHECK_STR(p.train_path, "examples/pima/pima.csv");
    CHECK_STR(p.positive_value, "pos");
    CHECK(p.constraints.threshold_rule == FW_THRESHOLD_MIN_COST);
    fw_project_free(&p);
    CHECK_OK(fw_project_load("examples/boston/flywheel.yaml", &p, &err));
    CHECK(p.task == FW_TASK_REGRESSION && p.baseline.kind == FW_BASELINE_MEAN);
    CHECK_EQ(p.n_exclude, 2);
    fw_project_free(&p);
}

/* Every allocation failure during a parse is reported, never a crash or a leak. */
static void test_parse_oom(void) {
    for (long n = 1; n < 400; n++) {
        fw_project p;
        fw_err err;
        fw_alloc_fail_after(n);
        fw_status st = fw_project_parse(k_full, strlen(k_full), "proj/f.yaml", &p, &err);
        fw_alloc_fail_after(0);
        if (st == FW_OK) {
            fw_project_free(&p);
            break;
        }
        CHECK_EQ(st, FW_ENOMEM);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_parse_every_key);
    TEST_RUN(test_errors);
    TEST_RUN(test_implied_settings);
    TEST_RUN(test_write_read_write);
    TEST_RUN(test_resolve_tasks);
    TEST_RUN(test_resolve_label_counts_and_id_like);
    TEST_RUN(test_resolve_errors);
    TEST_RUN(test_from_args_and_rule);
    TEST_RUN(test_serving_section);
    TEST_RUN(test_expectations);
    TEST_RUN(test_examples_load);
    TEST_RUN(test_parse_oom);
    return fw_test_report(argv[0]);
}
