/* metric_set.c — owns the metric set container (ordered name/value pairs and the tables it
 * carries), evaluation option defaults, metric directions, default names per task and the check
 * that a metric name belongs to a task. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_eval_options_init(fw_eval_options *o) {
    memset(o, 0, sizeof *o);
    o->threshold = 0.5;
    o->calibration_bins = 10;
    o->top_k = 3;
    o->k = 10;
    o->max_curve_points = 200;
    o->log_loss_eps = DBL_EPSILON;
}

void fw_metric_set_init(fw_metric_set *s) {
    memset(s, 0, sizeof *s);
    s->threshold = NAN;
}

static void curve_free(fw_curve *c) {
    fw_free(c->x);
    fw_free(c->y);
    fw_free(c->threshold);
    memset(c, 0, sizeof *c);
}

void fw_metric_set_free(fw_metric_set *s) {
    if (!s) return;
    fw_free(s->items);
    fw_free(s->confusion);
    fw_free(s->label_f1);
    fw_free(s->calibration);
    curve_free(&s->roc);
    curve_free(&s->pr);
    fw_metric_set_init(s);
}

fw_status fw_metric_set_put(fw_metric_set *s, const char *name, double value) {
    for (size_t i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].name, name) == 0) {
            s->items[i].value = value;
            return FW_OK;
        }
    if (FW_GROW(&s->items, &s->cap_items, s->n_items + 1)) return FW_ENOMEM;
    fw_metric *m = &s->items[s->n_items++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
    return FW_OK;
}

bool fw_metric_set_get(const fw_metric_set *s, const char *name, double *value) {
    for (size_t i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].name, name) == 0) {
            if (value) *value = s->items[i].value;
            return true;
        }
    return false;
}

double fw_metric_set_primary(const fw_metric_set *s) {
    double v = NAN;
    if (!fw_metric_set_get(s, s->primary, &v)) return NAN;
    return v;
}

bool fw__metric_split_k(const char *name, char *base, size_t *k) {
    const char *at = strchr(name, '@');
    *k = 0;
    size_t len = at ? (size_t)(at - name) : strlen(name);
    if (len >= FW_METRIC_NAME_MAX) len = FW_METRIC_NAME_MAX - 1;
    memcpy(base, name, len);
    base[len] = '\0';
    if (!at) return true;
    char *end = NULL;
    if (at[1] < '1' || at[1] > '9') return false;
    unsigned long v = strtoul(at + 1, &end, 10);
    if (*end || v == 0 || v > 1000000) return false;
    *k = (size_t)v;
    return true;
}

bool fw_metric_higher_is_better(const char *name) {
    static const char *const lower[] = {"log_loss", "brier_score_loss", "expected_calibration_error",
                                        "hamming_loss", "rmse", "mse", "mae", "mape",
                                        "median_absolute_error"};
    for (size_t i = 0; i < sizeof lower / sizeof *lower; i++)
        if (strcmp(name, lower[i]) == 0) return false;
    return true;
}

const char *fw_eval_task_name(fw_task task) {
    switch (task) {
    case FW_TASK_BINARY: return "binary";
    case FW_TASK_MULTICLASS: return "multiclass";
    case FW_TASK_MULTILABEL: return "multilabel";
    case FW_TASK_REGRESSION: return "regression";
    case FW_TASK_RANKING: return "ranking";
    }
    return "unknown";
}

const char *fw_eval_default_metric(fw_task task) {
    switch (task) {
    case FW_TASK_BINARY: return "roc_auc";
    case FW_TASK_MULTICLASS: return "f1_macro";
    case FW_TASK_MULTILABEL: return "f1_micro";
    case FW_TASK_REGRESSION: return "rmse";
    case FW_TASK_RANKING: return "ndcg@10";
    }
    return "";
}

/* Names per task; ranking names ending in "@" take a cutoff. NULL-terminated. */
static const char *const *task_names(fw_task task) {
    static const char *const binary[] = {"accuracy", "precision", "recall", "f1", "roc_auc",
                                         "average_precision", "pr_auc", "log_loss",
                                         "brier_score_loss", "expected_calibration_error", NULL};
    static const char *const multiclass[] = {"accuracy", "f1_macro", "f1_micro", "f1_weighted",
                                             "precision_macro", "recall_macro", "log_loss",
                                             "top_k_accuracy", NULL};
    static const char *const multilabel[] = {"accuracy", "hamming_loss", "f1_micro", "f1_macro",
                                             NULL};
    static const char *const regression[] = {"rmse", "mse", "mae", "r2", "mape",
                                             "median_absolute_error", NULL};
    static const char *const ranking[] = {"ndcg", "ndcg@", "map", "map@", "precision@", "recall@",
                                          "mrr", "mrr@", "hit_rate@", "coverage@", NULL};
    static const char *const none[] = {NULL};
    switch (task) {
    case FW_TASK_BINARY: return binary;
    case FW_TASK_MULTICLASS: return multiclass;
    case FW_TASK_MULTILABEL: return multilabel;
    case FW_TASK_REGRESSION: return regression;
    case FW_TASK_RANKING: return ranking;
    }
    return none;
}

fw_status fw_eval_check_metric(fw_task task, const char *name, fw_err *err) {
    const char *const *names = task_names(task);
    char base[FW_METRIC_NAME_MAX];
    size_t k = 0;
    bool ok_k = name && fw__metric_split_k(name, base, &k);
    if (ok_k)
        for (const char *const *n = names; *n; n++) {
            size_t len = strlen(*n);
            bool takes_k = (*n)[len - 1] == '@';
            if (takes_k && k > 0 && strncmp(*n, base, len - 1) == 0 && base[len - 1] == '\0')
                return FW_OK;
            if (!takes_k && k == 0 && strcmp(*n, name) == 0) return FW_OK;
        }
    char list[400] = "";
    size_t used = 0;
    for (const char *const *n = names; *n; n++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s%s", used ? ", " : "", *n,
                         (*n)[strlen(*n) - 1] == '@' ? "K" : "");
        if (w < 0 || (size_t)w >= sizeof list - used) break;
        used += (size_t)w;
    }
    return fw_err_set(err, FW_EINVAL, "unknown metric '%s' for a %s task (known: %s)",
                      name ? name : "(null)", fw_eval_task_name(task), list);
}
