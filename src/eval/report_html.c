/* report_html.c — owns the self-contained HTML report: the model table, then for the best model
 * inline SVG charts — ROC and PR curves (every model overlaid), calibration plot, confusion matrix
 * heat map, feature importance bars and per-slice bars. No external assets, no scripts, no links;
 * every user-provided string is HTML-escaped. Coordinates are printed with fixed precision so the
 * same report gives the same bytes. */
#include "eval/report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const COLORS[] = {"#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1",
                                     "#b7791f", "#2c7a7b", "#97266d"};
#define N_COLORS (sizeof COLORS / sizeof *COLORS)

static void esc(fw_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fw_buf_printf(b, "&amp;"); break;
        case '<': fw_buf_printf(b, "&lt;"); break;
        case '>': fw_buf_printf(b, "&gt;"); break;
        case '"': fw_buf_printf(b, "&quot;"); break;
        case '\'': fw_buf_printf(b, "&#39;"); break;
        default: fw_buf_put_u8(b, (uint8_t)*s);
        }
    }
}

/* ---- line charts on the unit square ------------------------------------------------------ */
enum { CW = 380, CH = 330, PX = 52, PY = 28, PW = 300, PH = 250 };

static double sx(double x) { return PX + x * PW; }
static double sy(double y) { return PY + (1 - y) * PH; }

static void chart_open(fw_buf *b, const char *title, const char *xl, const char *yl) {
    fw_buf_printf(b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", CW, CH, CW, CH);
    fw_buf_printf(b, "<text x=\"%d\" y=\"16\" class=\"t\">", PX);
    esc(b, title);
    fw_buf_printf(b, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", PX, PY, PW, PH);
    for (int i = 0; i <= 4; i++) {
        double v = i / 4.0;
        fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>", sx(v), PY, sx(v), PY + PH);
        fw_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>\n", PX, sy(v), PX + PW, sy(v));
        fw_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%.2g</text>", sx(v), PY + PH + 14, v);
        fw_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.2g</text>\n", PX - 4, sy(v) + 4, v);
    }
    fw_buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"lab\" text-anchor=\"middle\">", PX + PW / 2, PY + PH + 32);
    esc(b, xl);
    fw_buf_printf(b, "</text><text x=\"14\" y=\"%d\" class=\"lab\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
                  PY + PH / 2, PY + PH / 2);
    esc(b, yl);
    fw_buf_printf(b, "</text>\n");
}

static void polyline(fw_buf *b, const double *x, const double *y, size_t n, const char *color,
                     bool dots) {
    fw_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) fw_buf_printf(b, "%.1f,%.1f ", sx(x[i]), sy(y[i]));
    fw_buf_printf(b, "\"/>\n");
    if (dots)
        for (size_t i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i]))
                fw_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", sx(x[i]), sy(y[i]), color);
    if (dots) fw_buf_printf(b, "\n");
}

/* Legend entry i, stacked up from the bottom or down from the top, at the left or right side. */
static void legend(fw_buf *b, size_t i, const char *name, const char *color, bool bottom, bool left) {
    double y = bottom ? PY + PH - 12 - 16.0 * (double)i : PY + 14 + 16.0 * (double)i;
    int x = left ? PX + 10 : PX + PW - 150;
    fw_buf_printf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>", x, y - 9, color);
    fw_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" class=\"tick\">", x + 14, y);
    esc(b, name);
    fw_buf_printf(b, "</text>\n");
}

static void curves_chart(fw_buf *b, const fw_report *r, bool roc) {
    chart_open(b, roc ? "ROC curve" : "Precision-recall curve", roc ? "false positive rate" : "recall",
               roc ? "true positive rate" : "precision");
    if (roc)
        fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"diag\"/>\n", sx(0), sy(0), sx(1), sy(1));
    const uint64_t *cm = r->n_models ? r->models[0].metrics->confusion : NULL;
    if (!roc && cm && r->task == FW_TASK_BINARY && cm[0] + cm[1] + cm[2] + cm[3]) {
        /* no skill on PR is the prevalence of the positive class, a horizontal line */
        double prev = (double)(cm[2] + cm[3]) / (double)(cm[0] + cm[1] + cm[2] + cm[3]);
        fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"diag\"/>"
                         "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">no skill (prevalence %.3f)</text>\n",
                      sx(0), sy(prev), sx(1), sy(prev), sx(1) - 150, sy(prev) - 4, prev);
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_metric_set *s = r->models[i].metrics;
        const fw_curve *c = roc ? &s->roc : &s->pr;
        if (!c->n) continue;
        const char *col = COLORS[k % N_COLORS];
        polyline(b, c->x, c->y, c->n, col, false);
        char name[96], v[32];
        double a = NAN;
        fw_metric_set_get(s, roc ? "roc_auc" : "average_precision", &a);
        fw__report_num(v, sizeof v, a);
        snprintf(name, sizeof name, "%s (%s)", r->models[i].name, v);
        legend(b, k, name, col, true, !roc); /* ROC: bottom right; PR: bottom left */
        k++;
    }
    fw_buf_printf(b, "</svg>\n");
}

static void calibration_chart(fw_buf *b, const fw_report_model *m) {
    const fw_metric_set *s = m->metrics;
    chart_open(b, "Calibration", "mean predicted probability", "fraction positive");
    fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"diag\"/>\n", sx(0), sy(0), sx(1), sy(1));
    double x[256], y[256];
    size_t n = 0;
    for (size_t i = 0; i < s->n_calibration && n < 256; i++)
        if (s->calibration[i].count) {
            x[n] = s->calibration[i].mean_pred;
            y[n] = s->calibration[i].frac_pos;
            n++;
        }
    polyline(b, x, y, n, COLORS[0], true);
    char name[96], v[32];
    double e = NAN;
    fw_metric_set_get(s, "expected_calibration_error", &e);
    fw__report_num(v, sizeof v, e);
    snprintf(name, sizeof name, "%s (ECE %s)", m->name, v);
    legend(b, 0, name, COLORS[0], true, false);
    fw_buf_printf(b, "</svg>\n");
}

static void confusion_chart(fw_buf *b, const fw_report *r, const fw_metric_set *s) {
    size_t k = s->n_classes;
    double cell = k <= 9 ? 40 : 360.0 / (double)k;
    double lw = 90, top = 40;
    double w = lw + cell * (double)k + 10, h = top + cell * (double)k + 40;
    if (w < 400) w = 400;
    fw_buf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, h, w, h);
    fw_buf_printf(b, "<text x=\"4\" y=\"16\" class=\"t\">rows = true class, columns = predicted</text>\n");
    for (size_t i = 0; i < k; i++) {
        uint64_t row_total = 0;
        for (size_t j = 0; j < k; j++) row_total += s->confusion[i * k + j];
        char label[64];
        if (r->class_names && i < r->n_classes) snprintf(label, sizeof label, "%s", r->class_names[i]);
        else snprintf(label, sizeof label, "%zu", i);
        fw_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lw - 4, top + cell * ((double)i + 0.5) + 4);
        esc(b, label);
        fw_buf_printf(b, "</text>");
        if (cell >= 14) {
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">", lw + cell * ((double)i + 0.5), top - 6);
            esc(b, label);
            fw_buf_printf(b, "</text>");
        }
        for (size_t j = 0; j < k; j++) {
            uint64_t c = s->confusion[i * k + j];
            double f = row_total ? (double)c / (double)row_total : 0;
            int cr = (int)lround(255 - f * (255 - 0x2b)), cg = (int)lround(255 - f * (255 - 0x6c)),
                cb = (int)lround(255 - f * (255 - 0xb0));
            fw_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%02x%02x%02x\" class=\"cell\"/>",
                          lw + cell * (double)j, top + cell * (double)i, cell, cell, cr, cg, cb);
            if (cell >= 24)
                fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\" fill=\"%s\">%llu</text>",
                              lw + cell * ((double)j + 0.5), top + cell * ((double)i + 0.5) + 4,
                              f > 0.5 ? "#fff" : "#222", (unsigned long long)c);
        }
        fw_buf_printf(b, "\n");
    }
    fw_buf_printf(b, "</svg>\n");
}

/* Horizontal bars: labels, values, an optional reference line (NaN = none). */
static void bars(fw_buf *b, const char *title, const char *const *labels, const double *v,
                 const bool *dim, const double *gap, size_t n, double ref, const char *ref_label) {
    double lw = 170, bw = 300, rowh = 20, top = 28;
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
    if (isfinite(ref)) {
        if (ref < lo) lo = ref;
        if (ref > hi) hi = ref;
    }
    if (hi - lo <= 0) hi = lo + 1;
    double w = lw + bw + 170, h = top + rowh * (double)n + 24;
    fw_buf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, h, w, h);
    fw_buf_printf(b, "<text x=\"4\" y=\"16\" class=\"t\">");
    esc(b, title);
    fw_buf_printf(b, "</text>\n");
    double zero = lw + (0 - lo) / (hi - lo) * bw;
    for (size_t i = 0; i < n; i++) {
        double y = top + rowh * (double)i;
        fw_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lw - 6, y + 13);
        esc(b, labels[i]);
        fw_buf_printf(b, "</text>");
        char num[32];
        fw__report_num(num, sizeof num, v[i]);
        if (isfinite(v[i])) {
            double x = lw + (v[i] - lo) / (hi - lo) * bw;
            double x0 = x < zero ? x : zero, bwid = fabs(x - zero);
            fw_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s/>", x0, y + 3,
                          bwid, rowh - 6, COLORS[0], dim && dim[i] ? " fill-opacity=\"0.35\"" : "");
            char g[48] = "";
            if (gap && isfinite(gap[i])) snprintf(g, sizeof g, " (%+.4f)", gap[i]);
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s%s%s</text>\n", (x > zero ? x : zero) + 4, y + 13,
                          num, g, dim && dim[i] ? " small" : "");
        } else {
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">undefined</text>\n", zero + 4, y + 13);
        }
    }
    fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", zero, top,
                  zero, top + rowh * (double)n);
    if (isfinite(ref)) {
        double x = lw + (ref - lo) / (hi - lo) * bw;
        fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ref\"/>", x, top - 4, x,
                      top + rowh * (double)n + 4);
        fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">", x, top + rowh * (double)n + 18);
        esc(b, ref_label);
        fw_buf_printf(b, "</text>\n");
    }
    fw_buf_printf(b, "</svg>\n");
}

static void importance_chart(fw_buf *b, const fw_report_model *m) {
    enum { TOP = 20 };
    size_t idx[TOP], n = 0;
    /* top by value, ties by index: selection without sorting the caller's arrays */
    for (size_t pick = 0; pick < TOP && pick < m->n_importance; pick++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < m->n_importance; i++) {
            bool taken = false;
            for (size_t j = 0; j < n; j++) taken |= idx[j] == i;
            if (taken) continue;
            double v = isfinite(m->importance[i]) ? m->importance[i] : -INFINITY;
            double bv = best == SIZE_MAX ? 0 : (isfinite(m->importance[best]) ? m->importance[best] : -INFINITY);
            if (best == SIZE_MAX || v > bv) best = i;
        }
        idx[n++] = best;
    }
    const char *labels[TOP];
    char names[TOP][32];
    double v[TOP];
    for (size_t i = 0; i < n; i++) {
        if (m->importance_names && m->importance_names[idx[i]]) labels[i] = m->importance_names[idx[i]];
        else {
            snprintf(names[i], sizeof names[i], "f%zu", idx[i]);
            labels[i] = names[i];
        }
        v[i] = m->importance[idx[i]];
    }
    char title[128];
    snprintf(title, sizeof title, "Feature importance (%s, top %zu of %zu)", m->name, n, m->n_importance);
    bars(b, title, labels, v, NULL, NULL, n, NAN, NULL);
}

static void model_table(fw_buf *b, const fw_report *r, const fw_report_model *best) {
    const char *pm = fw_report_primary(r);
    const char *extras[3];
    size_t ne = fw__report_extras(r, r->n_models ? r->models[0].metrics : NULL, extras);
    fw_buf_printf(b, "<table>\n<tr><th>model</th><th>family</th><th>");
    esc(b, pm);
    fw_buf_printf(b, "</th><th>vs baseline</th>");
    for (size_t e = 0; e < ne; e++) {
        fw_buf_printf(b, "<th>");
        esc(b, extras[e]);
        fw_buf_printf(b, "</th>");
    }
    fw_buf_printf(b, "<th>p50 &micro;s</th><th>p99 &micro;s</th><th>size</th><th>train s</th><th>cv (mean &plusmn; sd)</th><th>params</th></tr>\n");
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        char buf[64];
        fw_buf_printf(b, "<tr%s><td>", m == best ? " class=\"best\"" : "");
        esc(b, m->name);
        fw_buf_printf(b, "%s%s</td><td>", m == best ? " &#9733;" : "",
                      m->refit_rows ? " <small>(refit on training + validation rows)</small>" : "");
        esc(b, m->family ? m->family : "");
        double v = NAN;
        fw_metric_set_get(m->metrics, pm, &v);
        fw__report_num(buf, sizeof buf, v);
        fw_buf_printf(b, "</td><td>%s</td>", buf);
        bool isb = r->baseline && (m == r->baseline || !strcmp(m->name, r->baseline->name));
        if (r->baseline && !isb) {
            fw_improvement im;
            fw__report_improvement(r, m, &im);
            if (isnan(im.improvement)) fw_buf_printf(b, "<td>-</td>");
            else fw_buf_printf(b, "<td class=\"%s\">%+.4f</td>", im.meets ? "ok" : "bad", im.improvement);
        } else {
            fw_buf_printf(b, "<td>%s</td>", isb ? "(baseline)" : "-");
        }
        for (size_t e = 0; e < ne; e++) {
            double x = NAN;
            fw_metric_set_get(m->metrics, extras[e], &x);
            fw__report_num(buf, sizeof buf, x);
            fw_buf_printf(b, "<td>%s</td>", buf);
        }
        if (m->has_latency)
            fw_buf_printf(b, "<td>%.3g</td><td%s>%.3g</td>", m->latency.p50_us,
                          r->p99_budget_us > 0 && m->latency.p99_us > r->p99_budget_us ? " class=\"bad\"" : "",
                          m->latency.p99_us);
        else fw_buf_printf(b, "<td>-</td><td>-</td>");
        fw__report_bytes(buf, sizeof buf, m->size_bytes);
        fw_buf_printf(b, "<td>%s</td><td>%.2f</td>", buf, m->train_seconds);
        if (m->n_cv_scores && isfinite(m->cv_mean))
            fw_buf_printf(b, "<td>%.4f &plusmn; %.4f</td>", m->cv_mean, isfinite(m->cv_std) ? m->cv_std : 0.0);
        else fw_buf_printf(b, "<td>-</td>");
        fw_buf_printf(b, "<td class=\"params\"><code>");
        esc(b, m->params_json ? m->params_json : "{}");
        fw_buf_printf(b, "</code></td></tr>\n");
    }
    fw_buf_printf(b, "</table>\n");
}

static const char *CSS =
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;"
    "text-align:right;white-space:nowrap}td.params{white-space:normal;word-break:break-all;"
    "text-align:left;max-width:360px}td:first-child,th:first-child,td:nth-child(2){text-align:left}"
    "tr.best{background:#ebf4ff}td.ok{color:#2f855a}td.bad{color:#9b2c2c}code{font-size:11px}"
    ".charts{display:flex;flex-wrap:wrap;gap:16px}svg{background:#fff;border:1px solid #eee}"
    ".t{font-size:13px;font-weight:600}.tick{font-size:11px}.lab{font-size:12px}"
    ".frame{fill:none;stroke:#888}.grid{stroke:#eee}.diag{stroke:#aaa;stroke-dasharray:4 4}"
    ".ref{stroke:#c05621;stroke-dasharray:4 3;stroke-width:1.5}.cell{stroke:#fff}"
    ".warn{color:#9b2c2c}";

fw_status fw_report_html(const fw_report *r, fw_buf *b) {
    if (fw__report_check(r)) return FW_EINVAL;
    const char *pm = fw_report_primary(r);
    const fw_report_model *best = fw_report_best(r);
    fw_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    esc(b, r->title ? r->title : "evaluation");
    fw_buf_printf(b, " — flywheel report</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", CSS);
    esc(b, r->title ? r->title : "evaluation");
    fw_buf_printf(b, "</h1>\n<p>%s task &middot; primary metric <b>", fw_eval_task_name(r->task));
    esc(b, pm);
    fw_buf_printf(b, "</b> (%s is better)", fw_metric_higher_is_better(pm) ? "higher" : "lower");
    if (best) {
        fw_buf_printf(b, " &middot; best model <b>");
        esc(b, best->name);
        fw_buf_printf(b, "</b>");
        if (r->baseline) {
            fw_improvement im;
            fw__report_improvement(r, best, &im);
            fw_buf_printf(b, " (%+.4f over the baseline; min_improvement %g %s)", im.improvement,
                          r->min_improvement, im.meets ? "met" : "<span class=\"warn\">NOT met</span>");
        }
    }
    fw_buf_printf(b, "</p>\n");
    if (best && best->threshold) {
        const fw_threshold_choice *t = best->threshold;
        double tp = NAN, tr = NAN, tf = NAN;
        fw_metric_set_get(best->metrics, "precision", &tp);
        fw_metric_set_get(best->metrics, "recall", &tr);
        fw_metric_set_get(best->metrics, "f1", &tf);
        fw_buf_printf(b, "<p>Decision threshold <b>%.4f</b> (%s%s), chosen on %zu %s rows: there precision %.4f, "
                         "recall %.4f, F1 %.4f; on the %zu test rows (the confusion matrix below): precision %.4f, "
                         "recall %.4f, F1 %.4f</p>\n",
                      t->threshold, fw_threshold_rule_name(t->rule), t->reached ? "" : ", target not reached",
                      t->n_rows, t->rows ? t->rows : "held-out", t->precision, t->recall, t->f1,
                      best->metrics->n_rows, tp, tr, tf);
    }
    if (best && best->metrics->warning[0]) {
        fw_buf_printf(b, "<p class=\"warn\">Warning: ");
        esc(b, best->metrics->warning);
        fw_buf_printf(b, "</p>\n");
    }
    fw_buf_printf(b, "<h2>Models</h2>\n<p>Metrics on the %zu test rows.</p>\n",
                  r->n_models ? r->models[0].metrics->n_rows : 0);
    model_table(b, r, best);
    if (best && best->n_ci) {
        /* the chosen model's bootstrap intervals, one plain row */
        fw_buf_printf(b, "<p>%.0f%% bootstrap intervals of ", best->ci_level * 100);
        esc(b, best->name);
        fw_buf_printf(b, " on the test rows (%zu resamples):", best->ci_resamples);
        for (size_t i = 0; i < best->n_ci; i++)
            if (isfinite(best->ci[i].lo)) {
                fw_buf_printf(b, " %s", i ? "&middot; " : "");
                esc(b, best->ci[i].name);
                fw_buf_printf(b, " [%.4f, %.4f]", best->ci[i].lo, best->ci[i].hi);
            }
        fw_buf_printf(b, "</p>\n");
    }
    if (best) {
        const fw_metric_set *s = best->metrics;
        if (s->roc.n || s->calibration) {
            fw_buf_printf(b, "<h2>Curves and calibration</h2>\n<div class=\"charts\">\n");
            if (s->roc.n) {
                curves_chart(b, r, true);
                curves_chart(b, r, false);
            }
            if (s->calibration) calibration_chart(b, best);
            fw_buf_printf(b, "</div>\n");
        }
        if (s->confusion && s->n_classes) {
            fw_buf_printf(b, "<h2>Confusion matrix (");
            esc(b, best->name);
            if (r->task == FW_TASK_BINARY) fw_buf_printf(b, ", at threshold %.4g", s->threshold);
            fw_buf_printf(b, ")</h2>\n");
            confusion_chart(b, r, s);
        }
        if (s->label_f1) {
            const char *labels[64];
            char names[64][16];
            size_t n = s->n_labels < 64 ? s->n_labels : 64;
            for (size_t j = 0; j < n; j++) {
                if (r->class_names && j < r->n_classes) labels[j] = r->class_names[j];
                else {
                    snprintf(names[j], sizeof names[j], "label %zu", j);
                    labels[j] = names[j];
                }
            }
            fw_buf_printf(b, "<h2>Per-label F1</h2>\n");
            bars(b, "F1 per label", labels, s->label_f1, NULL, NULL, n, NAN, NULL);
        }
        if (best->n_importance) {
            fw_buf_printf(b, "<h2>Feature importance</h2>\n");
            importance_chart(b, best);
        }
        for (size_t g = 0; g < best->n_slices; g++) {
            const fw_slice_report *sr = &best->slices[g];
            size_t n = sr->n_slices < 64 ? sr->n_slices : 64;
            const char *labels[64];
            double v[64];
            bool dim[64];
            double gap[64];
            for (size_t i = 0; i < n; i++) {
                labels[i] = sr->slices[i].name;
                v[i] = sr->slices[i].primary;
                dim[i] = sr->slices[i].small;
                gap[i] = sr->slices[i].gap;
            }
            if (g == 0) fw_buf_printf(b, "<h2>Slices</h2>\n");
            char title[160], ref[64], ov[32];
            snprintf(title, sizeof title, "%s by %s (rows < %zu are pale)", sr->primary, sr->column, sr->min_size);
            fw__report_num(ov, sizeof ov, sr->overall);
            snprintf(ref, sizeof ref, "overall %s", ov);
            bars(b, title, labels, v, dim, gap, n, sr->overall, ref);
        }
    }
    fw_buf_printf(b, "</body>\n</html>\n");
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}
