/* report.c — owns what the three report renderings share: choosing the best model, the primary
 * metric name, the "key extra metrics" per task, formatting helpers and writing a file. */
#include "eval/report.h"

#include "eval/report_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *fw_report_primary(const fw_report *r) {
    if (r->primary_metric) return r->primary_metric;
    if (r->n_models && r->models[0].metrics) return r->models[0].metrics->primary;
    return fw_eval_default_metric(r->task);
}

const fw_report_model *fw_report_best(const fw_report *r) {
    if (r->best)
        for (size_t i = 0; i < r->n_models; i++)
            if (r->models[i].name && strcmp(r->models[i].name, r->best) == 0) return &r->models[i];
    const char *pm = fw_report_primary(r);
    bool hib = fw_metric_higher_is_better(pm);
    const fw_report_model *best = NULL;
    double bv = NAN;
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        if (m == r->baseline || !m->metrics) continue;
        if (r->baseline && r->baseline->name && m->name && !strcmp(m->name, r->baseline->name)) continue;
        double v = NAN;
        fw_metric_set_get(m->metrics, pm, &v);
        if (isnan(v)) continue;
        if (!best || (hib ? v > bv : v < bv)) {
            best = m;
            bv = v;
        }
    }
    return best;
}

size_t fw__report_extras(const fw_report *r, const fw_metric_set *s, const char *out[FW_REPORT_MAX_EXTRAS]) {
    static const char *const bin[] = {"average_precision", "log_loss", "f1", "roc_auc", NULL};
    static const char *const mc[] = {"accuracy", "log_loss", "f1_macro", "f1_weighted", NULL};
    static const char *const ml[] = {"f1_macro", "hamming_loss", "accuracy", "f1_micro", NULL};
    static const char *const rg[] = {"mae", "r2", "mape", "rmse", NULL};
    static const char *const rk[] = {"map", "ndcg", "hit_rate@10", "ndcg@10", NULL};
    const char *const *list = r->task == FW_TASK_BINARY ? bin
                              : r->task == FW_TASK_MULTICLASS ? mc
                              : r->task == FW_TASK_MULTILABEL ? ml
                              : r->task == FW_TASK_REGRESSION ? rg : rk;
    const char *pm = fw_report_primary(r);
    size_t n = 0;
    if (r->metrics && r->n_metrics) { /* the project's metrics: list chooses the columns */
        for (size_t i = 0; i < r->n_metrics && n < FW_REPORT_MAX_EXTRAS; i++) {
            bool dup = !r->metrics[i] || strcmp(r->metrics[i], pm) == 0;
            for (size_t j = 0; j < n && !dup; j++) dup = strcmp(out[j], r->metrics[i]) == 0;
            if (!dup) out[n++] = r->metrics[i];
        }
        return n;
    }
    for (; *list && n < 3; list++)
        if (strcmp(*list, pm) != 0 && (!s || fw_metric_set_get(s, *list, NULL))) out[n++] = *list;
    return n;
}

void fw__report_num(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "-");
    else if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3)) snprintf(buf, size, "%.3e", v);
    else snprintf(buf, size, "%.4f", v);
}

void fw__report_bytes(char *buf, size_t size, size_t n) {
    if (n >= (1u << 20)) snprintf(buf, size, "%.1f MB", (double)n / (1 << 20));
    else if (n >= 1024) snprintf(buf, size, "%.1f KB", (double)n / 1024);
    else snprintf(buf, size, "%zu B", n);
}

void fw__report_improvement(const fw_report *r, const fw_report_model *m, fw_improvement *im) {
    const char *pm = fw_report_primary(r);
    double v = NAN, b = NAN;
    fw_metric_set_get(m->metrics, pm, &v);
    if (r->baseline && r->baseline->metrics) fw_metric_set_get(r->baseline->metrics, pm, &b);
    fw_eval_improvement(pm, v, b, r->min_improvement, im);
}

fw_status fw__report_check(const fw_report *r) {
    if (!r || (r->n_models && !r->models)) return FW_EINVAL;
    for (size_t i = 0; i < r->n_models; i++)
        if (!r->models[i].metrics || !r->models[i].name) return FW_EINVAL;
    if (r->baseline && (!r->baseline->metrics || !r->baseline->name)) return FW_EINVAL;
    return FW_OK;
}

fw_status fw_report_write_file(const char *path, const void *data, size_t len, fw_err *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return fw_err_set(err, FW_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    int bad = fclose(f) != 0 || w != len;
    if (bad) return fw_err_set(err, FW_EIO, "%s: write failed: %s", path, strerror(errno));
    return FW_OK;
}
