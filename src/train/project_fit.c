/* project_fit.c — owns what the project file says about fitting, as opposed to --param: the
 * per-row sample weights (data.weight times class_weights), the objective as each family's own
 * parameter (linear loss=, gbdt objective=), and a declared class hierarchy (hierarchy.parent or
 * hierarchy.groups) as hier's group map, plus the group-level metrics of every model. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "core/dtoa.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- weights ----------------------------------------------------------------------------------- */

/* Per-class weights (n_classes), 1 where the project gives none; NULL without class_weights. */
static fw_status class_weights(const fw_train_result *r, double **out, fw_err *err) {
    const fw_project *p = &r->project;
    *out = NULL;
    if (!p->class_weights_balanced && !p->n_class_weights) return FW_OK;
    size_t K = r->target.n_classes;
    double *cw = fw_malloc((K ? K : 1) * sizeof(double));
    if (!cw) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t k = 0; k < K; k++) cw[k] = 1.0;
    if (p->class_weights_balanced) {
        /* scikit-learn's "balanced": n / (K * n_k) over the training rows */
        size_t *cnt = fw_calloc(K ? K : 1, sizeof(size_t));
        if (!cnt) {
            fw_free(cw);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < r->split.n_train; i++) {
            double y = r->y_train[i];
            if (y >= 0 && (size_t)y < K) cnt[(size_t)y]++;
        }
        for (size_t k = 0; k < K; k++)
            cw[k] = cnt[k] ? (double)r->split.n_train / ((double)K * (double)cnt[k]) : 1.0;
        fw_free(cnt);
    } else {
        for (size_t i = 0; i < p->n_class_weights; i++) {
            size_t k = 0;
            while (k < K && strcmp(r->target.class_names[k], p->class_weight_names[i]) != 0) k++;
            if (k == K) {
                char list[300] = "";
                size_t len = 0;
                for (size_t j = 0; j < K && len + 2 < sizeof list; j++) {
                    int w = snprintf(list + len, sizeof list - len, "%s'%s'", j ? ", " : "", r->target.class_names[j]);
                    if (w > 0) len += (size_t)w;
                }
                fw_free(cw);
                return fw_err_set(err, FW_ECONFIG, "%s%s%d: 'class_weights': '%s' is not a class of the label (classes: %s)",
                                  p->path ? p->path : "", p->path ? ":" : "", p->line_class_weights,
                                  p->class_weight_names[i], list);
            }
            cw[k] = p->class_weight_values[i];
        }
    }
    *out = cw;
    return FW_OK;
}

/* Weights of rows[0..n) of train_ds: the weight column's value times the row's class weight. */
static fw_status row_weights(const fw_train_result *r, const uint32_t *rows, const double *y, size_t n,
                             const double *cw, double **out, fw_err *err) {
    const fw_project *p = &r->project;
    int col = p->weight_column ? fw_dataset_find(r->train_ds, p->weight_column) : -1;
    double *w = fw_malloc((n ? n : 1) * sizeof(double));
    if (!w) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        double v = 1.0;
        if (col >= 0) {
            v = r->train_ds->cols[col].num[rows[i]];
            if (!isfinite(v) || v < 0) {
                fw_free(w);
                return fw_err_set(err, FW_EDATA, "%s: line %u: weight column '%s' is %s (weights must be numbers >= 0)",
                                  r->train_ds->source ? r->train_ds->source : "data", rows[i] + 2, p->weight_column,
                                  isnan(v) ? "missing" : "negative or infinite");
            }
        }
        if (cw && y[i] >= 0 && (size_t)y[i] < r->target.n_classes) v *= cw[(size_t)y[i]];
        w[i] = v;
    }
    *out = w;
    return FW_OK;
}

/* ---- hierarchy --------------------------------------------------------------------------------- */

/* Group index of a group name, adding it when new. -1 on out of memory. */
static int group_index(fw_project_fit *f, const char *name) {
    for (size_t g = 0; g < f->n_groups; g++)
        if (strcmp(f->group_names[g], name) == 0) return (int)g;
    char **grown = fw_realloc(f->group_names, (f->n_groups + 1) * sizeof(char *));
    if (!grown) return -1;
    f->group_names = grown;
    if (!(f->group_names[f->n_groups] = fw_strdup(name))) return -1;
    return (int)f->n_groups++;
}

/* The group of every class, from hierarchy.groups or from the parent column of the training file;
 * then hier's "group_map=..." parameter. */
static fw_status hierarchy(fw_train_result *r, fw_err *err) {
    const fw_project *p = &r->project;
    fw_project_fit *f = &r->fit;
    size_t K = r->target.n_classes;
    char where[600];
    snprintf(where, sizeof where, "%s%s%d: ", p->path ? p->path : "", p->path ? ":" : "", p->line_hierarchy);
    if (!p->path) where[0] = 0;
    if (!(f->group_of = fw_malloc((K ? K : 1) * sizeof(uint32_t)))) return fw_err_set(err, FW_ENOMEM, "out of memory");
    char **parent = fw_calloc(K ? K : 1, sizeof(char *)); /* class -> group name (borrowed) */
    if (!parent) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_status st = FW_OK;
    if (p->n_hier) {
        for (size_t k = 0; k < K; k++)
            for (size_t i = 0; i < p->n_hier && !parent[k]; i++)
                if (strcmp(p->hier_classes[i], r->target.class_names[k]) == 0) parent[k] = p->hier_groups[i];
    } else {
        int lc = fw_dataset_find(r->train_ds, p->label_columns[0]);
        int pc = fw_dataset_find(r->train_ds, p->hier_parent);
        const fw_column *pcol = &r->train_ds->cols[pc];
        char num[FW_NUMFMT_MAX];
        char **own = fw_calloc(K ? K : 1, sizeof(char *)); /* numeric parents formatted */
        if (!own) st = fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; !st && i < r->split.n_train; i++) {
            double y = r->y_train[i];
            if (!(y >= 0) || (size_t)y >= K) continue;
            size_t k = (size_t)y;
            uint32_t row = r->split.train[i];
            const char *v = NULL;
            if (pcol->num) {
                if (isnan(pcol->num[row])) continue;
                fw_num_format(pcol->num[row], num);
                v = num;
            } else {
                v = fw_dataset_str(r->train_ds, (size_t)pc, row);
            }
            if (!v) continue;
            if (!parent[k]) {
                if (!(own[k] = fw_strdup(v))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
                parent[k] = own[k];
            } else if (strcmp(parent[k], v) != 0) {
                st = fw_err_set(err, FW_EDATA,
                                "%s'hierarchy.parent': class '%s' has two parents in column '%s': '%s' and '%s' (line %u); "
                                "a class must belong to one group",
                                where, r->target.class_names[k], p->hier_parent, parent[k], v, row + 2);
            }
        }
        (void)lc;
        for (size_t k = 0; !st && k < K; k++)
            if (parent[k]) {
                int g = group_index(f, parent[k]);
                if (g < 0) st = fw_err_set(err, FW_ENOMEM, "out of memory");
                else f->group_of[k] = (uint32_t)g;
            }
        for (size_t k = 0; !st && k < K; k++)
            if (!parent[k])
                st = fw_err_set(err, FW_EDATA, "%s'hierarchy.parent': class '%s' has no value in column '%s' in any training row",
                                where, r->target.class_names[k], p->hier_parent);
        for (size_t k = 0; own && k < K; k++) fw_free(own[k]);
        fw_free(own);
        fw_free(parent);
        parent = NULL;
    }
    if (parent) {
        for (size_t k = 0; !st && k < K; k++) {
            if (!parent[k]) {
                st = fw_err_set(err, FW_ECONFIG, "%s'hierarchy.groups': class '%s' has no group (every class of the label needs one)",
                                where, r->target.class_names[k]);
                break;
            }
            int g = group_index(f, parent[k]);
            if (g < 0) st = fw_err_set(err, FW_ENOMEM, "out of memory");
            else f->group_of[k] = (uint32_t)g;
        }
        for (size_t i = 0; !st && i < p->n_hier; i++) {
            bool known = false;
            for (size_t k = 0; k < K && !known; k++) known = strcmp(p->hier_classes[i], r->target.class_names[k]) == 0;
            if (!known)
                fw__train_warn(r, "hierarchy.groups names class '%s', which is not in the training rows", p->hier_classes[i]);
        }
        fw_free(parent);
    }
    if (st) return st;
    /* "group_map=g0,g1,...", one group id per class index */
    size_t cap = 16 + K * 11;
    if (!(f->hier_map = fw_malloc(cap))) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t len = (size_t)snprintf(f->hier_map, cap, "group_map=");
    for (size_t k = 0; k < K; k++) len += (size_t)snprintf(f->hier_map + len, cap - len, "%s%u", k ? "," : "", f->group_of[k]);
    if (f->n_groups < 2)
        fw__train_warn(r, "the hierarchy puts every class in one group: the group level says nothing");
    return FW_OK;
}

/* ---- the run's entry points -------------------------------------------------------------------- */

fw_status fw__train_project_fit(fw_train_result *r, fw_err *err) {
    const fw_project *p = &r->project;
    fw_project_fit *f = &r->fit;
    if (p->objective) {
        static const char *const names[][3] = {/* project, linear loss, gbdt objective */
                                               {"squared_error", "squared", "l2"},
                                               {"absolute_error", "absolute", "l1"},
                                               {"huber", "huber", "huber"}};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (strcmp(p->objective, names[i][0]) == 0) {
                snprintf(f->linear_loss, sizeof f->linear_loss, "loss=%s", names[i][1]);
                snprintf(f->gbdt_objective, sizeof f->gbdt_objective, "objective=%s", names[i][2]);
            }
        /* log_loss is what classification fits anyway: nothing to pass */
    }
    if (p->weight_column || p->class_weights_balanced || p->n_class_weights) {
        double *cw = NULL;
        fw_status st = class_weights(r, &cw, err);
        if (!st) st = row_weights(r, r->split.train, r->y_train, r->split.n_train, cw, &f->w_train, err);
        if (!st && r->split.n_valid)
            st = row_weights(r, r->split.valid, r->y_valid, r->split.n_valid, cw, &f->w_valid, err);
        fw_free(cw);
        if (st) return st;
        double sum = 0;
        for (size_t i = 0; i < r->split.n_train; i++) sum += f->w_train[i];
        if (!(sum > 0)) return fw_err_set(err, FW_EDATA, "every training row has weight 0");
    }
    if (fw_project_has_hierarchy(p) && r->target.task == FW_TASK_MULTICLASS) return hierarchy(r, err);
    return FW_OK;
}

size_t fw__train_project_params(const fw_train_result *r, const char *family, const char **out, size_t max) {
    const fw_project_fit *f = &r->fit;
    size_t n = 0;
    if (n < max && f->linear_loss[0] && strcmp(family, "linear") == 0) out[n++] = f->linear_loss;
    if (n < max && f->gbdt_objective[0] && strcmp(family, "gbdt") == 0) out[n++] = f->gbdt_objective;
    if (n < max && f->hier_map && strcmp(family, "hier") == 0) out[n++] = f->hier_map;
    return n;
}

fw_status fw__train_group_scores(const fw_train_result *r, const fw_candidate *c, double **out_yg, double **out_pg,
                                 fw_err *err) {
    const fw_project_fit *f = &r->fit;
    *out_yg = *out_pg = NULL;
    if (!f->group_of || !c->test_pred || r->target.task != FW_TASK_MULTICLASS) return FW_OK;
    size_t n = r->n_test, K = r->target.n_classes, G = f->n_groups;
    double *yg = fw_malloc((n ? n : 1) * sizeof(double));
    double *pg = fw_calloc((n ? n : 1) * (G ? G : 1), sizeof(double));
    if (!yg || !pg) {
        fw_free(yg);
        fw_free(pg);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        double y = r->y_test[i];
        yg[i] = y >= 0 && (size_t)y < K ? (double)f->group_of[(size_t)y] : -1;
        for (size_t k = 0; k < K; k++) pg[i * G + f->group_of[k]] += c->test_pred[i * K + k];
    }
    *out_yg = yg;
    *out_pg = pg;
    return FW_OK;
}

fw_status fw__train_group_metrics(const fw_train_result *r, fw_candidate *c, fw_err *err) {
    double *yg, *pg;
    fw_status st = fw__train_group_scores(r, c, &yg, &pg, err);
    if (st || !yg) return st;
    size_t n = r->n_test, G = r->fit.n_groups;
    fw_eval_options eo = fw__train_eval_opts(r);
    eo.metrics = NULL;
    eo.n_metrics = 0;
    fw_metric_set_free(&c->group_metrics);
    st = fw_eval_compute(FW_TASK_MULTICLASS, yg, pg, n, G, &eo, &c->group_metrics, err);
    fw_free(yg);
    fw_free(pg);
    return st ? fw_err_prefix(err, "group-level metrics of %s", c->name) : FW_OK;
}

void fw__train_project_fit_free(fw_project_fit *f) {
    fw_free(f->w_train);
    fw_free(f->w_valid);
    fw_free(f->hier_map);
    fw_free(f->group_of);
    for (size_t g = 0; g < f->n_groups; g++) fw_free(f->group_names[g]);
    fw_free(f->group_names);
    memset(f, 0, sizeof *f);
}
