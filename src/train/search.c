/* search.c — owns the search spaces. Each draw picks one value per hyperparameter from a list or a
 * log-uniform range; values are printed with %.6g so the params round-trip exactly as text. */
#include "train/search.h"

#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void add(fw_trial *t, const char *key, const char *fmt, double v) {
    if (t->n_params >= FW_SEARCH_MAX_PARAMS) return;
    char val[32];
    snprintf(val, sizeof val, fmt, v);
    snprintf(t->params[t->n_params++], FW_SEARCH_PARAM_LEN, "%s=%s", key, val);
}

static double pick(fw_rng *r, const double *v, size_t n) { return v[fw_rng_below(r, n)]; }

static double log_uniform(fw_rng *r, double lo, double hi) {
    return exp(log(lo) + fw_rng_uniform(r) * (log(hi) - log(lo)));
}

fw_status fw_search_trial(const char *family, fw_task task, uint64_t seed, size_t index,
                          fw_trial *out) {
    memset(out, 0, sizeof *out);
    if (index == 0) return FW_OK;
    fw_rng r;
    /* One stream per (seed, family, trial): adding a family never changes another's draws. */
    uint64_t h = seed * 0x9E3779B97F4A7C15ull + index;
    for (const char *c = family; *c; c++) h = h * 131 + (unsigned char)*c;
    fw_rng_seed(&r, h);
    if (strcmp(family, "gbdt") == 0) {
        static const double depth[] = {3, 4, 5, 6, 7, 8};
        static const double mcw[] = {1, 2, 5, 10};
        static const double sub[] = {0.6, 0.8, 0.9, 1.0};
        add(out, "max_depth", "%.0f", pick(&r, depth, 6));
        add(out, "learning_rate", "%.6g", log_uniform(&r, 0.03, 0.3));
        add(out, "n_estimators", "%.0f", 400);
        add(out, "min_child_weight", "%.0f", pick(&r, mcw, 4));
        add(out, "subsample", "%.6g", pick(&r, sub, 4));
        add(out, "colsample_bytree", "%.6g", pick(&r, sub, 4));
        add(out, "lambda", "%.6g", log_uniform(&r, 0.1, 10));
        return FW_OK;
    }
    if (strcmp(family, "linear") == 0) {
        add(out, "l2", "%.6g", log_uniform(&r, 1e-6, 1e-1));
        if (fw_rng_uniform(&r) < 0.3) add(out, "l1", "%.6g", log_uniform(&r, 1e-6, 1e-2));
        return FW_OK;
    }
    if (strcmp(family, "knn") == 0) {
        static const double k[] = {3, 5, 7, 11, 15, 25, 50};
        add(out, "k", "%.0f", pick(&r, k, 7));
        if (task != FW_TASK_REGRESSION && task != FW_TASK_RANKING && fw_rng_uniform(&r) < 0.5)
            snprintf(out->params[out->n_params++], FW_SEARCH_PARAM_LEN, "weights=distance");
        return FW_OK;
    }
    return FW_EINVAL;
}

size_t fw_trial_params(const fw_trial *t, const char *ptrs[FW_SEARCH_MAX_PARAMS]) {
    for (size_t i = 0; i < t->n_params; i++) ptrs[i] = t->params[i];
    return t->n_params;
}
