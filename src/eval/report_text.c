/* report_text.c — owns the plain-text training report: a table with one row per model (name,
 * family, primary metric, delta vs the baseline, key extra metrics, p50/p90/p99 latency, size, train
 * seconds), the decision threshold, warnings, and the best model's per-slice tables. Column widths
 * are computed from the content so the table lines up in a terminal. */
#include "eval/report_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NCOL (10 + FW_REPORT_MAX_EXTRAS) /* name, family, primary, vs baseline, extras, 5 tail, cv */
#define CELL 48

typedef struct table {
    size_t n_rows;
    char (*cells)[NCOL][CELL];
    size_t width[NCOL];
    size_t n_cols;
} table;

static void put_cell(table *t, size_t row, size_t col, const char *s) {
    snprintf(t->cells[row][col], CELL, "%s", s);
    size_t w = strlen(t->cells[row][col]);
    if (w > t->width[col]) t->width[col] = w;
    if (col + 1 > t->n_cols) t->n_cols = col + 1;
}

/* The first n_left columns are left-aligned (names), the rest right-aligned (numbers), except a
 * last column of notes when last_left; no trailing blanks. */
static void print_table(const table *t, size_t n_left, bool last_left, fw_buf *out) {
    for (size_t r = 0; r < t->n_rows; r++) {
        fw_buf_printf(out, "  ");
        for (size_t c = 0; c < t->n_cols; c++) {
            if (last_left && c + 1 == t->n_cols) fw_buf_printf(out, "%s", t->cells[r][c]);
            else if (c < n_left) fw_buf_printf(out, "%-*s", (int)t->width[c], t->cells[r][c]);
            else fw_buf_printf(out, "%*s", (int)t->width[c], t->cells[r][c]);
            if (c + 1 < t->n_cols) fw_buf_printf(out, "  ");
        }
        fw_buf_printf(out, "\n");
        if (r == 0) {
            fw_buf_printf(out, "  ");
            size_t total = 0;
            for (size_t c = 0; c < t->n_cols; c++) total += t->width[c] + (c + 1 < t->n_cols ? 2 : 0);
            for (size_t i = 0; i < total; i++) fw_buf_put_u8(out, '-');
            fw_buf_printf(out, "\n");
        }
    }
}

static void model_row(const fw_report *r, const fw_report_model *m, const fw_report_model *best,
                      table *t, size_t row, const char *const *extras, size_t n_extras, bool has_cv) {
    char buf[CELL], name[CELL];
    snprintf(name, sizeof name, "%s%s", m->name, m == best ? " *" : "");
    put_cell(t, row, 0, name);
    put_cell(t, row, 1, m->family ? m->family : "");
    double v = NAN;
    fw_metric_set_get(m->metrics, fw_report_primary(r), &v);
    fw__report_num(buf, sizeof buf, v);
    put_cell(t, row, 2, buf);
    if (r->baseline && m != r->baseline && strcmp(m->name, r->baseline->name) != 0) {
        fw_improvement im;
        fw__report_improvement(r, m, &im);
        if (isnan(im.improvement)) snprintf(buf, sizeof buf, "-");
        else snprintf(buf, sizeof buf, "%+.4f%s", im.improvement, im.meets ? "" : " (!)");
    } else {
        snprintf(buf, sizeof buf, r->baseline ? "(baseline)" : "-");
    }
    put_cell(t, row, 3, buf);
    for (size_t e = 0; e < n_extras; e++) {
        double x = NAN;
        fw_metric_set_get(m->metrics, extras[e], &x);
        fw__report_num(buf, sizeof buf, x);
        put_cell(t, row, 4 + e, buf);
    }
    size_t c = 4 + n_extras;
    if (m->has_latency) snprintf(buf, sizeof buf, "%.3g", m->latency.p50_us);
    else snprintf(buf, sizeof buf, "-");
    put_cell(t, row, c++, buf);
    if (m->has_latency) snprintf(buf, sizeof buf, "%.3g", m->latency.p90_us);
    else snprintf(buf, sizeof buf, "-");
    put_cell(t, row, c++, buf);
    if (m->has_latency)
        snprintf(buf, sizeof buf, "%.3g%s", m->latency.p99_us,
                 r->p99_budget_us > 0 && m->latency.p99_us > r->p99_budget_us ? " (over)" : "");
    else snprintf(buf, sizeof buf, "-");
    put_cell(t, row, c++, buf);
    fw__report_bytes(buf, sizeof buf, m->size_bytes);
    put_cell(t, row, c++, buf);
    snprintf(buf, sizeof buf, "%.2f", m->train_seconds);
    put_cell(t, row, c++, buf);
    if (has_cv) {
        if (m->n_cv_scores && isfinite(m->cv_mean))
            snprintf(buf, sizeof buf, "%.4f +/- %.4f", m->cv_mean, isfinite(m->cv_std) ? m->cv_std : 0.0);
        else snprintf(buf, sizeof buf, "-");
        put_cell(t, row, c, buf);
    }
}

/* "roc_auc 0.7812-0.8521" for the primary metric and the extras, from the model's intervals. */
static void ci_line(const fw_report *r, const fw_report_model *m, const char *const *extras, size_t n_extras,
                    fw_buf *out) {
    if (!m->n_ci) return;
    const char *names[1 + FW_REPORT_MAX_EXTRAS] = {fw_report_primary(r)};
    size_t nn = 1;
    for (size_t e = 0; e < n_extras; e++) names[nn++] = extras[e];
    bool any = false;
    for (size_t i = 0; i < nn; i++)
        for (size_t k = 0; k < m->n_ci; k++) {
            const fw_metric_ci *ci = &m->ci[k];
            if (strcmp(ci->name, names[i]) != 0 || !isfinite(ci->lo)) continue;
            if (!any)
                fw_buf_printf(out, "%.0f%% bootstrap intervals on the %zu test rows (%zu resamples, %s):",
                              m->ci_level * 100, m->metrics->n_rows, m->ci_resamples, m->name);
            fw_buf_printf(out, "%s %s [%.4f, %.4f]", any ? "," : "", ci->name, ci->lo, ci->hi);
            any = true;
        }
    if (any) fw_buf_printf(out, "\n");
}

/* level: NULL for the model's own slices, "group" for a class hierarchy's group level. */
static fw_status slices_text(const fw_report_model *m, const fw_slice_report *all, const char *level,
                             const char *const *extras, size_t ne, fw_buf *out) {
    for (size_t g = 0; g < m->n_slices; g++) {
        const fw_slice_report *sr = &all[g];
        char ov[32];
        fw__report_num(ov, sizeof ov, sr->overall);
        fw_buf_printf(out, "\nSlices of %s by '%s'%s%s%s (%s; overall %s; min size %zu):\n", m->name, sr->column,
                      level ? " at the " : "", level ? level : "", level ? " level" : "", sr->primary, ov, sr->min_size);
        table t = {0};
        t.n_rows = sr->n_slices + 1;
        t.cells = fw_calloc(t.n_rows, sizeof *t.cells);
        if (!t.cells) return FW_ENOMEM;
        /* value, rows, primary, the extra metrics, gap, note */
        const char *head[5] = {"value", "rows", sr->primary, "gap", "note"};
        for (size_t c = 0; c < 3; c++) put_cell(&t, 0, c, head[c]);
        for (size_t e = 0; e < ne; e++) put_cell(&t, 0, 3 + e, extras[e]);
        put_cell(&t, 0, 3 + ne, head[3]);
        put_cell(&t, 0, 4 + ne, head[4]);
        for (size_t i = 0; i < sr->n_slices; i++) {
            const fw_slice *s = &sr->slices[i];
            char buf[CELL];
            put_cell(&t, i + 1, 0, s->name);
            snprintf(buf, sizeof buf, "%zu", s->n_rows);
            put_cell(&t, i + 1, 1, buf);
            fw__report_num(buf, sizeof buf, s->primary);
            put_cell(&t, i + 1, 2, buf);
            for (size_t e = 0; e < ne; e++) {
                double x = NAN;
                if (s->ok) fw_metric_set_get(&s->metrics, extras[e], &x);
                fw__report_num(buf, sizeof buf, x);
                put_cell(&t, i + 1, 3 + e, buf);
            }
            if (isnan(s->gap)) snprintf(buf, sizeof buf, "-");
            else snprintf(buf, sizeof buf, "%+.4f", s->gap);
            put_cell(&t, i + 1, 3 + ne, buf);
            snprintf(buf, sizeof buf, "%s%s%s", s->small ? "small " : "", s->worse ? "worse " : "",
                     !s->ok ? "error" : (isnan(s->primary) ? "undefined" : ""));
            size_t len = strlen(buf);
            if (len && buf[len - 1] == ' ') buf[len - 1] = '\0';
            put_cell(&t, i + 1, 4 + ne, buf);
        }
        print_table(&t, 1, true, out);
        fw_free(t.cells);
    }
    return FW_OK;
}

/* A class hierarchy: every model's metrics at the group level and at the class level. */
static fw_status levels_text(const fw_report *r, fw_buf *out) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_models; i++) n += r->models[i].group_metrics != NULL;
    if (!n) return FW_OK;
    const char *pm = fw_report_primary(r);
    const char *cols[4] = {pm, NULL, NULL, NULL};
    size_t nc = 1;
    static const char *const more[] = {"accuracy", "f1_macro", "log_loss"};
    for (size_t k = 0; k < 3; k++)
        if (strcmp(more[k], pm) != 0) cols[nc++] = more[k];
    fw_buf_printf(out, "\nPer level of the class hierarchy (group: the class probabilities summed per group):\n");
    table t = {0};
    t.n_rows = 1 + 2 * n;
    t.cells = fw_calloc(t.n_rows, sizeof *t.cells);
    if (!t.cells) return FW_ENOMEM;
    put_cell(&t, 0, 0, "model");
    put_cell(&t, 0, 1, "level");
    for (size_t c = 0; c < nc; c++) put_cell(&t, 0, 2 + c, cols[c]);
    size_t row = 1;
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        if (!m->group_metrics) continue;
        for (int lv = 0; lv < 2; lv++, row++) {
            const fw_metric_set *s = lv ? m->metrics : m->group_metrics;
            put_cell(&t, row, 0, m->name);
            put_cell(&t, row, 1, lv ? "class" : "group");
            for (size_t c = 0; c < nc; c++) {
                char buf[CELL];
                double x = NAN;
                fw_metric_set_get(s, cols[c], &x);
                fw__report_num(buf, sizeof buf, x);
                put_cell(&t, row, 2 + c, buf);
            }
        }
    }
    print_table(&t, 2, false, out);
    fw_free(t.cells);
    return FW_OK;
}

/* data.weight: every model's test metrics weighted by the column (sklearn's sample_weight). */
static fw_status weighted_text(const fw_report *r, fw_buf *out) {
    const fw_metric_set *first = NULL;
    for (size_t i = 0; i < r->n_models && !first; i++) first = r->models[i].weighted;
    if (!first) return FW_OK;
    fw_buf_printf(out, "\nWeighted by data.weight '%s' (each row counts as its weight):\n",
                  r->weight_column ? r->weight_column : "?");
    table t = {0};
    t.n_rows = 1 + r->n_models;
    t.cells = fw_calloc(t.n_rows, sizeof *t.cells);
    if (!t.cells) return FW_ENOMEM;
    size_t nc = first->n_items < 7 ? first->n_items : 7;
    put_cell(&t, 0, 0, "model");
    for (size_t c = 0; c < nc; c++) put_cell(&t, 0, 1 + c, first->items[c].name);
    size_t row = 1;
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        if (!m->weighted) continue;
        put_cell(&t, row, 0, m->name);
        for (size_t c = 0; c < nc; c++) {
            char buf[CELL];
            double x = NAN;
            fw_metric_set_get(m->weighted, first->items[c].name, &x);
            fw__report_num(buf, sizeof buf, x);
            put_cell(&t, row, 1 + c, buf);
        }
        row++;
    }
    t.n_rows = row;
    print_table(&t, 1, false, out);
    fw_free(t.cells);
    return FW_OK;
}

fw_status fw_report_text(const fw_report *r, fw_buf *out) {
    if (fw__report_check(r)) return FW_EINVAL;
    const char *pm = fw_report_primary(r);
    const fw_report_model *best = fw_report_best(r);
    const char *extras[FW_REPORT_MAX_EXTRAS];
    size_t n_extras = fw__report_extras(r, r->n_models ? r->models[0].metrics : NULL, extras);
    fw_buf_printf(out, "%s — %s task, primary metric %s (%s is better)\n",
                  r->title ? r->title : "evaluation", fw_eval_task_name(r->task), pm,
                  fw_metric_higher_is_better(pm) ? "higher" : "lower");
    bool has_cv = false;
    size_t cv_folds = 0;
    for (size_t i = 0; i < r->n_models; i++)
        if (r->models[i].n_cv_scores) {
            has_cv = true;
            cv_folds = r->models[i].n_cv_scores;
        }
    if (r->n_models)
        fw_buf_printf(out, "metrics on the %zu test rows%s\n", r->models[0].metrics->n_rows,
                      has_cv ? "; cv: mean +/- sd of the primary metric over the cross-validation folds" : "");
    table t = {0};
    bool base_listed = false;
    for (size_t i = 0; i < r->n_models; i++)
        if (r->baseline && (&r->models[i] == r->baseline || !strcmp(r->models[i].name, r->baseline->name)))
            base_listed = true;
    t.n_rows = 1 + r->n_models + (r->baseline && !base_listed);
    t.cells = fw_calloc(t.n_rows, sizeof *t.cells);
    if (!t.cells) return FW_ENOMEM;
    put_cell(&t, 0, 0, "model");
    put_cell(&t, 0, 1, "family");
    put_cell(&t, 0, 2, pm);
    put_cell(&t, 0, 3, "vs baseline");
    for (size_t e = 0; e < n_extras; e++) put_cell(&t, 0, 4 + e, extras[e]);
    const char *tail[5] = {"p50 us", "p90 us", "p99 us", "size", "train s"};
    for (size_t c = 0; c < 5; c++) put_cell(&t, 0, 4 + n_extras + c, tail[c]);
    if (has_cv) {
        char h[CELL];
        snprintf(h, sizeof h, "cv %s (%zu folds)", pm, cv_folds);
        put_cell(&t, 0, 9 + n_extras, h);
    }
    size_t row = 1;
    if (r->baseline && !base_listed) model_row(r, r->baseline, best, &t, row++, extras, n_extras, has_cv);
    for (size_t i = 0; i < r->n_models; i++) model_row(r, &r->models[i], best, &t, row++, extras, n_extras, has_cv);
    print_table(&t, 2, false, out);
    fw_free(t.cells);
    if (best) {
        fw_buf_printf(out, "\nbest: %s", best->name);
        if (r->baseline) {
            fw_improvement im;
            fw__report_improvement(r, best, &im);
            if (isnan(im.improvement))
                fw_buf_printf(out, " (%s is undefined on these test rows: no comparison with the baseline)", pm);
            else
                fw_buf_printf(out, " (%+.4f %s over the baseline; min_improvement %g: %s)", im.improvement,
                              pm, r->min_improvement, im.meets ? "met" : "NOT met");
        }
        fw_buf_printf(out, "\n");
        if (r->p99_budget_us > 0 && best->has_latency)
            fw_buf_printf(out, "p99 latency budget %.4g ms: %s has p99 %.3g us (%s)\n", r->p99_budget_us / 1000,
                          best->name, best->latency.p99_us,
                          best->latency.p99_us <= r->p99_budget_us ? "within" : "OVER the budget");
        if (best->refit_rows)
            fw_buf_printf(out, "%s was refit on %zu training + validation rows after selection (%.2f s); "
                               "its test metrics are the refit model's\n",
                          best->name, best->refit_rows, best->refit_seconds);
        ci_line(r, best, extras, n_extras, out);
        if (best->threshold) {
            const fw_threshold_choice *th = best->threshold;
            fw_buf_printf(out, "decision threshold: %.4f (%s%s), chosen on %zu %s rows: there precision %.4f, recall %.4f, f1 %.4f\n",
                          th->threshold, fw_threshold_rule_name(th->rule), th->reached ? "" : ", target NOT reached",
                          th->n_rows, th->rows ? th->rows : "held-out", th->precision, th->recall, th->f1);
            double tp = NAN, tr = NAN, tf = NAN;
            fw_metric_set_get(best->metrics, "precision", &tp);
            fw_metric_set_get(best->metrics, "recall", &tr);
            fw_metric_set_get(best->metrics, "f1", &tf);
            fw_buf_printf(out, "  at that threshold on the %zu test rows: precision %.4f, recall %.4f, f1 %.4f\n",
                          best->metrics->n_rows, tp, tr, tf);
        }
        if (r->task == FW_TASK_BINARY)
            fw_buf_printf(out, "(thresholded metrics in the table use p >= %.4g)\n", best->metrics->threshold);
        if (best->metrics->warning[0]) fw_buf_printf(out, "warning: %s\n", best->metrics->warning);
    } else if (r->n_models) {
        fw_buf_printf(out, "\nbest: none (no model has a defined %s)\n", pm);
    }
    if (best && slices_text(best, best->slices, NULL, extras, n_extras, out)) return FW_ENOMEM;
    if (best && best->group_slices) {
        /* the group level has the multiclass metrics of the groups: the extras that exist there */
        const char *gx[FW_REPORT_MAX_EXTRAS];
        size_t ng = 0;
        for (size_t e = 0; e < n_extras; e++) {
            double v;
            if (best->group_slices[0].n_slices && best->group_slices[0].slices[0].ok &&
                fw_metric_set_get(&best->group_slices[0].slices[0].metrics, extras[e], &v))
                gx[ng++] = extras[e];
        }
        if (slices_text(best, best->group_slices, "group", gx, ng, out)) return FW_ENOMEM;
    }
    if (levels_text(r, out)) return FW_ENOMEM;
    if (weighted_text(r, out)) return FW_ENOMEM;
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}
