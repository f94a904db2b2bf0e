/* project.c — owns the fw_project struct itself: defaults, release, enum names, the default metric
 * per task and the no-project-file constructor (fw_project_from_args). Parsing lives in
 * project_parse.c, inference in project_resolve.c, YAML output in project_write.c. */
#include "project/project.h"

#include "core/alloc.h"

#include <string.h>

static const char *const k_task_names[] = {"binary", "multiclass", "multilabel", "regression",
                                           "ranking"};

const char *fw_task_name(fw_task t) {
    if ((unsigned)t < sizeof k_task_names / sizeof *k_task_names) return k_task_names[t];
    return "unknown";
}

bool fw_task_parse(const char *s, fw_task *out) {
    for (unsigned i = 0; i < sizeof k_task_names / sizeof *k_task_names; i++)
        if (s && strcmp(s, k_task_names[i]) == 0) {
            *out = (fw_task)i;
            return true;
        }
    return false;
}

const char *fw_split_kind_name(fw_split_kind k) {
    switch (k) {
    case FW_SPLIT_RANDOM: return "random";
    case FW_SPLIT_STRATIFIED: return "stratified";
    case FW_SPLIT_TIME: return "time";
    case FW_SPLIT_GROUP: return "group";
    }
    return "unknown";
}

const char *fw_project_default_metric(fw_task t) {
    switch (t) {
    case FW_TASK_BINARY: return "roc_auc";
    case FW_TASK_MULTICLASS: return "accuracy";
    case FW_TASK_MULTILABEL: return "f1_micro";
    case FW_TASK_REGRESSION: return "rmse";
    case FW_TASK_RANKING: return "ndcg@10";
    }
    return "accuracy";
}

void fw_feature_spec_init(fw_feature_spec *f) {
    memset(f, 0, sizeof *f);
    f->type = FW_COL_NUMERIC;
    f->quantile_bins = 10;
    f->min_frequency = 1;
    f->max_categories = 64;
    f->tfidf = true;
    f->bigrams = true;
}

void fw_project_init(fw_project *p) {
    memset(p, 0, sizeof *p);
    p->task = FW_TASK_BINARY;
    p->hash_bits = 18;
    p->split = FW_SPLIT_RANDOM;
    p->test_fraction = 0.2;
    p->valid_fraction = 0.1;
    p->refit = FW_REFIT_AUTO;
    p->seed = 42;
    p->folds = 0;
    p->baseline.kind = FW_BASELINE_AUTO;
    p->constraints.fallback = FW_FALLBACK_BASELINE;
    p->constraints.threshold_rule = FW_THRESHOLD_MAX_F1;
    p->constraints.threshold = 0.5;
    fw_learn_spec_init(&p->learn);
}

bool fw_project_has_hierarchy(const fw_project *p) { return p->hier_parent || p->n_hier; }

static void free_strs(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) fw_free(v[i]);
    fw_free(v);
}

void fw_project_free(fw_project *p) {
    if (!p) return;
    fw_free(p->name);
    fw_free(p->path);
    fw_free(p->train_path);
    fw_free(p->test_path);
    fw_free(p->id_column);
    fw_free(p->time_column);
    free_strs(p->group_columns, p->n_group_columns);
    free_strs(p->label_columns, p->n_label_columns);
    fw_free(p->positive_value);
    fw_free(p->query_column);
    for (size_t i = 0; i < p->n_features; i++) fw_free(p->features[i].name);
    fw_free(p->features);
    free_strs(p->exclude, p->n_exclude);
    for (size_t i = 0; i < p->n_crosses; i++) free_strs(p->crosses[i].columns, p->crosses[i].n_columns);
    fw_free(p->crosses);
    free_strs(p->missing_tokens, p->n_missing_tokens);
    fw_free(p->metric);
    free_strs(p->extra_metrics, p->n_extra_metrics);
    fw_free(p->baseline.rule);
    fw_free(p->constraints.fallback_value);
    fw_free(p->split_group);
    fw_free(p->serving_yaml);
    fw_free(p->objective);
    fw_free(p->weight_column);
    free_strs(p->class_weight_names, p->n_class_weights);
    fw_free(p->class_weight_values);
    fw_free(p->hier_parent);
    free_strs(p->hier_classes, p->n_hier);
    free_strs(p->hier_groups, p->n_hier);
    fw_free(p->notes);
    for (size_t i = 0; i < p->n_expectations; i++) {
        fw_free(p->expectations[i].column);
        free_strs(p->expectations[i].allowed, p->expectations[i].n_allowed);
    }
    fw_free(p->expectations);
    fw_learn_spec_free(&p->learn);
    fw_project_init(p);
}

fw_status fw_project_from_args(const char *train_path, const char *label, fw_project *out,
                               fw_err *err) {
    fw_project_init(out);
    if (!train_path || !*train_path) return fw_err_set(err, FW_EINVAL, "no training file given");
    if (!label || !*label) return fw_err_set(err, FW_EINVAL, "no label column given (--label)");
    const char *base = strrchr(train_path, '/');
    base = base ? base + 1 : train_path;
    const char *dot = strchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    out->name = fw_strndup(base, stem);
    out->train_path = fw_strdup(train_path);
    out->label_columns = fw_calloc(1, sizeof(char *));
    if (out->label_columns) {
        out->label_columns[0] = fw_strdup(label);
        out->n_label_columns = 1;
    }
    if (!out->name || !out->train_path || !out->label_columns || !out->label_columns[0]) {
        fw_project_free(out);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    return FW_OK;
}
