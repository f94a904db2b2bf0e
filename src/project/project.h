/* project.h — owns the project file (flywheel.yaml): the struct that frames the ML problem, its
 * defaults, the YAML parser that fills it (unknown keys, wrong types and missing required keys are
 * errors naming the key and its line), inference of a complete project from a dataset, and writing
 * it back out as YAML (--write-project).
 *
 * The CLI, the YAML file and (later) the HTTP API are thin parsers over this one struct. */
#ifndef FW_PROJECT_PROJECT_H
#define FW_PROJECT_PROJECT_H

#include "core/buf.h"
#include "data/dataset.h"
#include "data/split.h" /* fw_split_kind */
#include "project/learn.h" /* fw_learn_spec: the learn: section */
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fw_task {
    FW_TASK_BINARY = 0,
    FW_TASK_MULTICLASS,
    FW_TASK_MULTILABEL,
    FW_TASK_REGRESSION,
    FW_TASK_RANKING,
} fw_task;
const char *fw_task_name(fw_task t);
bool fw_task_parse(const char *s, fw_task *out);

/* split.refit: refit the chosen model on training + validation rows after selection. */
typedef enum fw_refit { FW_REFIT_AUTO = 0, FW_REFIT_ON, FW_REFIT_OFF } fw_refit;
const char *fw_split_kind_name(fw_split_kind k);

/* Per-feature transforms (a feature may list several; unset fields take pipeline defaults). */
typedef enum fw_impute { FW_IMPUTE_DEFAULT = 0, FW_IMPUTE_MEAN, FW_IMPUTE_MEDIAN, FW_IMPUTE_CONSTANT, FW_IMPUTE_NONE } fw_impute;
typedef enum fw_scale { FW_SCALE_DEFAULT = 0, FW_SCALE_NONE, FW_SCALE_STANDARD, FW_SCALE_MINMAX, FW_SCALE_LOG1P, FW_SCALE_QUANTILE } fw_scale;
typedef enum fw_encode { FW_ENCODE_DEFAULT = 0, FW_ENCODE_ONEHOT, FW_ENCODE_HASH } fw_encode;

typedef struct fw_feature_spec {
    char *name;              /* column name */
    fw_col_type type;        /* declared or inferred type */
    bool type_set;           /* declared in the file (vs inferred) */
    fw_impute impute;
    double impute_value;     /* for FW_IMPUTE_CONSTANT */
    bool missing_indicator;
    fw_scale scale;
    uint32_t quantile_bins;  /* for FW_SCALE_QUANTILE (default 10) */
    fw_encode encode;        /* categoricals */
    uint32_t min_frequency;  /* one-hot: categories seen fewer times go to "unknown" (default 1) */
    uint32_t max_categories; /* one-hot cap before switching to hashing (default 64) */
    bool tfidf;              /* text */
    bool bigrams;            /* text (default true) */
    int line;                /* line in the project file (0 when inferred) */
} fw_feature_spec;

typedef struct fw_cross_spec {
    char **columns;          /* two or more column names */
    size_t n_columns;
    int line;                /* line in the project file (0 when not from a file) */
} fw_cross_spec;

/* A baseline: prior/majority/mean/median or a rule "COLUMN OP VALUE -> LABEL". */
/* FW_BASELINE_FEATURE (ranking default): the training rows' best single feature's order. */
typedef enum fw_baseline_kind { FW_BASELINE_AUTO = 0, FW_BASELINE_PRIOR, FW_BASELINE_MAJORITY, FW_BASELINE_MEAN, FW_BASELINE_MEDIAN, FW_BASELINE_RULE, FW_BASELINE_FEATURE } fw_baseline_kind;
typedef struct fw_baseline_spec {
    fw_baseline_kind kind;
    char *rule;              /* the rule text as written, e.g. "calls >= 4 -> yes" */
} fw_baseline_spec;

typedef enum fw_threshold_rule { FW_THRESHOLD_MAX_F1 = 0, FW_THRESHOLD_FIXED, FW_THRESHOLD_TARGET_RECALL, FW_THRESHOLD_TARGET_PRECISION, FW_THRESHOLD_MIN_COST } fw_threshold_rule;
typedef enum fw_fallback_kind { FW_FALLBACK_BASELINE = 0, FW_FALLBACK_VALUE, FW_FALLBACK_REVIEW } fw_fallback_kind;

typedef struct fw_constraints {
    double p99_latency_ms;       /* 0 = no budget */
    double min_improvement;      /* over the baseline on the primary metric (absolute), default 0 */
    double confidence_threshold; /* below → abstain with the fallback; 0 = never abstain */
    fw_fallback_kind fallback;
    char *fallback_value;        /* for FW_FALLBACK_VALUE */
    double cost_fp, cost_fn;     /* both > 0 selects FW_THRESHOLD_MIN_COST unless overridden */
    double target_recall;        /* > 0 selects FW_THRESHOLD_TARGET_RECALL */
    double target_precision;     /* > 0 selects FW_THRESHOLD_TARGET_PRECISION */
    fw_threshold_rule threshold_rule;
    double threshold;            /* for FW_THRESHOLD_FIXED */
} fw_constraints;

/* expectations: per input column, conditions the served traffic should meet; the monitor
 * (src/monitor) turns each into a quality check (docs/PROJECT.md, docs/MONITORING.md). */
typedef struct fw_expectation {
    char *column;
    double min, max;             /* allowed range of a numeric column; NaN = no bound */
    char **allowed;              /* allowed values of a categorical column; n_allowed 0 = any */
    size_t n_allowed;
    double max_missing;          /* largest acceptable missing rate in [0, 1]; < 0 = none */
    int line;
} fw_expectation;

typedef struct fw_project {
    char *name;                  /* model name in the registry; default: training file stem */
    char *path;                  /* the project file this came from (NULL when inferred) */
    char *train_path;            /* data.train (relative paths are resolved against the file) */
    char *test_path;             /* data.test, optional */
    char *id_column;
    char *time_column;
    char **group_columns;  size_t n_group_columns;     /* slices for per-slice reports */
    char **label_columns;  size_t n_label_columns;     /* one, or several for multilabel */
    char *positive_value;        /* binary: which label value is positive */
    char *query_column;          /* ranking */
    fw_task task;
    bool task_set;
    fw_feature_spec *features; size_t n_features;       /* declared + inferred, in column order */
    char **exclude;        size_t n_exclude;            /* columns never used as features */
    fw_cross_spec *crosses; size_t n_crosses;
    uint32_t hash_bits;          /* sparse hashed space = 2^hash_bits (default 18) */
    char **missing_tokens; size_t n_missing_tokens;     /* default: fw_default_missing (data/scalar.h) */
    fw_split_kind split;
    bool split_set;              /* split.kind given (else fw_project_resolve chooses: time on a
                                  * timestamp column, stratified for binary labels, else random) */
    double test_fraction;        /* default 0.2 */
    double valid_fraction;       /* carved from train for early stopping (default 0.1) */
    uint64_t seed;               /* default 42 */
    uint32_t folds;              /* k-fold selection: 0 = auto (5 up to 20k rows), 1 = holdout */
    fw_refit refit;              /* auto (default): refit up to 100,000 training-side rows */
    char *metric;                /* primary metric, sklearn spelling; default by task */
    char **extra_metrics;  size_t n_extra_metrics;
    fw_baseline_spec baseline;
    fw_constraints constraints;
    /* Later issues add: serving, monitoring, learning sections. */
    char *split_group;           /* split.group: the column whose values are kept together (group
                                  * splits); when NULL the first data.groups column is used */
    /* Lines (1-based, 0 = not from a file) where column-naming keys were given, so that
     * fw_project_resolve can say where a missing column was named. */
    struct fw_project_lines {
        int label, id, time, query, groups, exclude, positive, split_group, baseline, serving;
    } lines;
    /* The `serving:` section is owned by serve/config.h (fw_serve_config_load reads it from the same
     * file); the project keeps its text as written, whole lines from "serving:" on, so that
     * fw_project_write carries it over. NULL when absent. */
    char *serving_yaml;
    /* How the models are fitted, stated in the project rather than with --param (train/weights.c,
     * train/hierarchy.c); the lines where each was given (0 = not from a file). */
    char *objective;             /* NULL: the task's own loss; squared_error | absolute_error | huber
                                  * (regression, ranking) or log_loss (classification) */
    char *weight_column;         /* data.weight: numeric per-row sample weights (>= 0), never a feature */
    bool class_weights_balanced; /* class_weights: balanced (n / (k * n_class) per class) */
    char **class_weight_names; double *class_weight_values; size_t n_class_weights; /* {class: w} */
    char *hier_parent;           /* hierarchy.parent: a column naming each row's group (a class's parent) */
    char **hier_classes, **hier_groups; size_t n_hier; /* hierarchy.groups: {class: group} */
    int line_objective, line_weight, line_class_weights, line_hierarchy;
    /* What fw_project_resolve decided on its own that a user should know (an id-like column
     * excluded, the split chosen for a timestamp): one line each, "\n"-terminated; NULL when
     * none. Callers show them as warnings; fw_project_write writes them as comments. */
    char *notes;
    fw_expectation *expectations; size_t n_expectations; /* expectations: {column: {min, max,
                                  * allowed, max_missing}}, in file order */
    fw_learn_spec learn;         /* learn: continual learning (project/learn.h, docs/LEARNING.md) */
} fw_project;

/* True when the project declares a class hierarchy (hierarchy.parent or hierarchy.groups). */
bool fw_project_has_hierarchy(const fw_project *p);

/* Fills defaults (all pointers NULL). */
void fw_project_init(fw_project *p);
/* Fills a feature spec's defaults for `name` (not copied: the caller sets spec->name). */
void fw_feature_spec_init(fw_feature_spec *f);
void fw_project_free(fw_project *p);

/* Parses a YAML project file. On error returns FW_ECONFIG / FW_EIO with err->msg like
 * "flywheel.yaml:12:3: unknown key 'lable' in 'data' (did you mean 'label'?)". */
fw_status fw_project_load(const char *path, fw_project *out, fw_err *err);
fw_status fw_project_parse(const char *yaml, size_t len, const char *name_for_errors,
                           fw_project *out, fw_err *err);

/* Completes a project against a loaded dataset: infers task (from the label's values), features
 * not declared (every column but label/id/time/query/excluded), default metric and baseline.
 * Checks that every named column exists (error names the key and line). */
fw_status fw_project_resolve(fw_project *p, const fw_dataset *ds, fw_err *err);
/* True when dataset column col looks like an identifier, a bad feature (it names rows rather than
 * describing them): at least 20 present values and either a categorical column with a distinct
 * value in 95% or more of its rows, or a numeric column of distinct integers whose name ends in
 * "id". *n_distinct (optional) gets the distinct count (0 for a numeric column whose name or
 * values already rule it out: no count is made for those). Train and
 * describe share it; fw_project_resolve leaves such a column out of the inferred features
 * (data.exclude) with a note, unless the project file lists it as a feature. */
bool fw_project_id_like(const fw_dataset *ds, size_t col, size_t *n_distinct);

/* Writes the project as YAML that fw_project_parse reads back to the same struct. Data paths are
 * written relative to the written file's directory (which the parser resolves them against), for
 * `describe --write-project` and `train --write-project` alike. */
fw_status fw_project_write(const fw_project *p, const char *path, fw_err *err);
/* The same YAML appended to out (the caller owns out). Data paths are written relative to `dir`
 * (the directory the text will live in); NULL or "": as they are (the artifact's record).
 * FW_OK or FW_ENOMEM. */
fw_status fw_project_to_yaml(const fw_project *p, const char *dir, fw_buf *out);

/* The no-project-file path (`flywheel train data.csv --label y`): a project with train_path and
 * label set and name = the file stem ("data"). out is initialised here; free with
 * fw_project_free. Returns FW_EINVAL when an argument is NULL/empty, FW_ENOMEM. */
fw_status fw_project_from_args(const char *train_path, const char *label, fw_project *out,
                               fw_err *err);

/* A baseline rule as written in the project file, validated when the file is read (the baseline
 * model evaluates it: models/rule.h). Grammar:
 *   rule  := cond ("and" cond)* "->" value ("else" value)?
 *   cond  := column op value;  op := < <= > >= == != (a single = means ==)
 *   column: a bare name [A-Za-z_][A-Za-z0-9_.-]* or a "double-quoted" or `backquoted` name
 *   value : a number, a 'single' or "double" quoted string, or a bare word
 * e.g. "calls >= 4 -> yes", "age < 30 and plan == 'basic' -> 0.2 else 0.05". */
typedef struct fw_rule_cond {
    char *column;
    char op[3];              /* "<", "<=", ">", ">=", "==", "!=" */
    char *value;             /* as written (unquoted) */
    bool numeric;            /* an unquoted number, parsed into num */
    double num;
} fw_rule_cond;
typedef struct fw_rule {
    fw_rule_cond *conds;     /* joined by "and" */
    size_t n_conds;
    char *then;              /* the value when every condition holds */
    char *otherwise;         /* the "else" value, or NULL */
} fw_rule;
/* Parses text into out (strings fw_malloc'd; free with fw_rule_free, also after a failure).
 * FW_ECONFIG with err "rule 'TEXT': column N: what is wrong"; FW_ENOMEM. */
fw_status fw_rule_parse(const char *text, fw_rule *out, fw_err *err);
void fw_rule_free(fw_rule *r);

/* Default primary metric for a task: roc_auc, accuracy(f1_macro?), ..., rmse, ndcg@10. */
const char *fw_project_default_metric(fw_task t);

#endif
