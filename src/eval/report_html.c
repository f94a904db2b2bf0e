/* report_html.c — owns the self-contained HTML report: the model table (params as key = value
 * pairs), then for the best model inline SVG charts — ROC and PR curves (every model overlaid, the
 * decision threshold marked), calibration plot (rows per bin), confusion matrix heat map,
 * permutation importance bars (summed per input column, method and units stated) and per-slice
 * bars (drawn from the overall value on a zoomed axis, with bootstrap intervals). Task-specific
 * tables and scatter plots live in report_html_plots.c. No external assets, no scripts, no links;
 * every user-provided string is HTML-escaped. Coordinates are printed with fixed precision so the
 * same report gives the same bytes. */
#include "eval/report_html_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

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

void fw__html_esc(fw_buf *b, const char *s) { esc(b, s); }

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
    size_t max_chars = (size_t)((PW - 34) / fw__html_text_px("x", 11)); /* stays inside the plot */
    double tw = fmin(fw__html_text_px(name, 11), fw__html_text_px("x", 11) * (double)max_chars);
    double x = left ? PX + 10 : PX + PW - 10 - 14 - tw;
    fw_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>", x, y - 9, color);
    fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick lg\">", x + 14, y);
    fw__html_svg_label(b, name, max_chars);
    fw_buf_printf(b, "</text>\n");
}

/* The best model's operating point at its decision threshold, from its confusion matrix (row =
 * true class, column = predicted; class 1 positive): (FPR, TPR) on ROC, (recall, precision) on PR. */
static void threshold_marker(fw_buf *b, const fw_report_model *m, bool roc) {
    if (!m || !m->metrics->confusion || m->metrics->n_classes != 2) return;
    const uint64_t *c = m->metrics->confusion;
    double tn = (double)c[0], fp = (double)c[1], fn = (double)c[2], tp = (double)c[3];
    double tpr = tp + fn > 0 ? tp / (tp + fn) : NAN, fpr = fp + tn > 0 ? fp / (fp + tn) : NAN;
    double prec = tp + fp > 0 ? tp / (tp + fp) : NAN;
    double x = roc ? fpr : tpr, y = roc ? tpr : prec;
    if (!isfinite(x) || !isfinite(y)) return;
    fw_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" class=\"thr\"><title>%s at threshold %.4g: %s %.3f, %s %.3f"
                     "</title></circle>",
                  sx(x), sy(y), m->name, m->metrics->threshold, roc ? "FPR" : "recall", x, roc ? "TPR" : "precision", y);
    char label[64];
    snprintf(label, sizeof label, "threshold %.3g", m->metrics->threshold);
    bool right = x < 0.55; /* label on the side with room */
    double ly = sy(y) + (y > 0.85 ? 16 : -9);
    fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick thrl\" text-anchor=\"%s\">%s</text>\n",
                  sx(x) + (right ? 8 : -8), ly, right ? "start" : "end", label);
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
    threshold_marker(b, fw_report_best(r), roc);
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
    /* rows per bin above (or, near the top, below) each point */
    size_t total = 0;
    for (size_t i = 0; i < s->n_calibration; i++) total += s->calibration[i].count;
    for (size_t i = 0, j = 0; i < s->n_calibration && j < n; i++)
        if (s->calibration[i].count) {
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"cnt\" text-anchor=\"middle\">%zu<title>"
                             "predicted %.2f-%.2f: %zu rows, mean prediction %.3f, fraction positive %.3f</title></text>",
                          sx(x[j]), sy(y[j]) + (y[j] > 0.9 ? 14 : -7), s->calibration[i].count, s->calibration[i].lo,
                          s->calibration[i].hi, s->calibration[i].count, x[j], y[j]);
            j++;
        }
    fw_buf_printf(b, "\n<text x=\"%d\" y=\"%d\" class=\"tick lg\" text-anchor=\"end\">numbers: rows per bin (%zu in all)</text>\n",
                  PX + PW - 10, PY + PH - 30, total);
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
    double lw = 60, top = 40, longest = 0;
    for (size_t i = 0; i < k && r->class_names && i < r->n_classes; i++)
        longest = fmax(longest, fw__html_text_px(r->class_names[i], 11));
    double shown = fmin(longest, fw__html_text_px("x", 11) * 60); /* longer names are shortened */
    lw = fmax(lw, shown + 12);
    bool slant = longest + 4 > cell; /* column labels that do not fit the cell are slanted */
    if (slant) top = 30 + shown * 0.72;
    double w = lw + cell * (double)k + 10 + (slant ? shown * 0.72 : 0), h = top + cell * (double)k + 40;
    if (w < 400) w = 400;
    fw_buf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, h, w, h);
    fw_buf_printf(b, "<text x=\"4\" y=\"16\" class=\"t\">rows = true class, columns = predicted</text>\n");
    for (size_t i = 0; i < k; i++) {
        uint64_t row_total = 0;
        for (size_t j = 0; j < k; j++) row_total += s->confusion[i * k + j];
        char num[32];
        snprintf(num, sizeof num, "%zu", i);
        const char *label = r->class_names && i < r->n_classes && r->class_names[i] ? r->class_names[i] : num;
        fw_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lw - 4, top + cell * ((double)i + 0.5) + 4);
        fw__html_svg_label(b, label, 60);
        fw_buf_printf(b, "</text>");
        if (cell >= 14 && !slant) {
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">", lw + cell * ((double)i + 0.5), top - 6);
            esc(b, label);
            fw_buf_printf(b, "</text>");
        } else if (cell >= 10) {
            double cx = lw + cell * ((double)i + 0.5), cy = top - 6;
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" transform=\"rotate(-45 %.1f %.1f)\">", cx, cy, cx, cy);
            fw__html_svg_label(b, label, 60);
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

/* Label column width for a list of names (at most MAX_LABEL characters shown, see
 * fw__html_svg_label), so that no name is cut off at the left edge. */
enum { MAX_LABEL = 60 };
static double label_width(const char *const *labels, size_t n) {
    double w = 60, cap = fw__html_text_px("x", 11) * MAX_LABEL;
    for (size_t i = 0; i < n; i++) w = fmax(w, fmin(fw__html_text_px(labels[i], 11), cap) + 12);
    return w;
}

/* Horizontal bars from zero: labels, values (NaN = undefined), an optional note per bar. Used for
 * per-label F1 and importance (quantities whose zero means "nothing"). */
static void bars(fw_buf *b, const char *title, const char *const *labels, const double *v,
                 const char *const *notes, size_t n) {
    double lw = label_width(labels, n), bw = 300, rowh = 20, top = 28;
    double lo = 0, hi = 0, note_w = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
        if (notes && notes[i]) note_w = fmax(note_w, fw__html_text_px(notes[i], 11));
    }
    if (hi - lo <= 0) hi = lo + 1;
    double w = fmax(lw + bw + 90 + note_w, fw__html_text_px(title, 13) + 20), h = top + rowh * (double)n + 24;
    fw_buf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, h, w, h);
    fw_buf_printf(b, "<text x=\"4\" y=\"16\" class=\"t\">");
    esc(b, title);
    fw_buf_printf(b, "</text>\n");
    double zero = lw + (0 - lo) / (hi - lo) * bw;
    for (size_t i = 0; i < n; i++) {
        double y = top + rowh * (double)i;
        fw_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lw - 6, y + 13);
        fw__html_svg_label(b, labels[i], MAX_LABEL);
        fw_buf_printf(b, "</text>");
        char num[32];
        fw__report_num(num, sizeof num, v[i]);
        if (isfinite(v[i])) {
            double x = lw + (v[i] - lo) / (hi - lo) * bw;
            double x0 = x < zero ? x : zero, bwid = fabs(x - zero);
            fw_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>", x0, y + 3, bwid,
                          rowh - 6, v[i] < 0 ? "#a0aec0" : COLORS[0]);
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s", fmax(x, zero) + 4, y + 13, num);
        } else {
            fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">undefined", zero + 4, y + 13);
        }
        if (notes && notes[i]) {
            fw_buf_printf(b, " ");
            esc(b, notes[i]);
        }
        fw_buf_printf(b, "</text>\n");
    }
    fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", zero, top,
                  zero, top + rowh * (double)n);
    fw_buf_printf(b, "</svg>\n");
}

/* Per-slice bars on a zoomed axis: each bar runs from the overall value to the slice's, so a gap
 * of 0.02 on an AUC of 0.85 is visible; a whisker shows the slice's bootstrap interval; the bar is
 * red only when the slice is flagged worse (interval beyond the overall value, enough rows). */
/* A slice's value of the metric charted (NULL: the primary, which has an interval and a flag). */
static double slice_value(const fw_slice *s, const char *metric) {
    double v = NAN;
    if (!metric) return s->primary;
    if (s->ok) fw_metric_set_get(&s->metrics, metric, &v);
    return v;
}

/* "0.8123 [0.7710, 0.8502] n=412 worse": the text right of a slice's bar (another metric than the
 * primary: its value and rows). */
static void slice_note(const fw_slice *s, const char *metric, char *buf, size_t size) {
    if (metric) {
        char v[32];
        double x = slice_value(s, metric);
        fw__report_num(v, sizeof v, x);
        if (!s->ok) snprintf(buf, size, "error");
        else if (isnan(x)) snprintf(buf, size, "undefined, n=%zu", s->n_rows);
        else snprintf(buf, size, "%s n=%zu%s", v, s->n_rows, s->small ? " (few rows)" : "");
        return;
    }
    char p[32], l[32], h[32];
    fw__report_num(p, sizeof p, s->primary);
    fw__report_num(l, sizeof l, s->ci_lo);
    fw__report_num(h, sizeof h, s->ci_hi);
    const char *flag = s->worse ? " worse" : "", *few = s->small ? " (few rows)" : "";
    if (!s->ok) snprintf(buf, size, "error");
    else if (isnan(s->primary)) snprintf(buf, size, "undefined, n=%zu", s->n_rows);
    else if (isfinite(s->ci_lo)) snprintf(buf, size, "%s [%s, %s] n=%zu%s%s", p, l, h, s->n_rows, flag, few);
    else snprintf(buf, size, "%s n=%zu%s%s", p, s->n_rows, flag, few);
}

/* metric: NULL for the primary (with intervals and the worse flag), else another metric of the
 * slices and its overall value; level: NULL, or "group" for a class hierarchy's group level. */
static void slice_chart(fw_buf *b, const fw_slice_report *sr, const char *metric, double overall, const char *level) {
    size_t n = sr->n_slices;
    const char *labels[256] = {0};
    size_t shown = n < 256 ? n : 256;
    for (size_t i = 0; i < shown; i++) labels[i] = sr->slices[i].name;
    double lw = label_width(labels, shown), bw = 320, rowh = 22, top = 44;
    if (!metric) overall = sr->overall;
    double lo = overall, hi = overall, note_w = 0;
    for (size_t i = 0; i < shown; i++) {
        const fw_slice *s = &sr->slices[i];
        double vals[3] = {slice_value(s, metric), metric ? NAN : s->ci_lo, metric ? NAN : s->ci_hi};
        for (int j = 0; j < 3; j++)
            if (isfinite(vals[j])) lo = fmin(lo, vals[j]), hi = fmax(hi, vals[j]);
    }
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    double step = fw__html_nice_axis(&lo, &hi, 5);
    for (size_t i = 0; i < shown; i++) {
        char buf[200];
        slice_note(&sr->slices[i], metric, buf, sizeof buf);
        note_w = fmax(note_w, fw__html_text_px(buf, 11));
    }
    const char *mname = metric ? metric : sr->primary;
    char title[200];
    if (level) snprintf(title, sizeof title, "%s level: %s by %s", level, mname, sr->column ? sr->column : "");
    else snprintf(title, sizeof title, "%s by %s", mname, sr->column ? sr->column : "");
    double w = fmax(lw + bw + 16 + note_w, fw__html_text_px(title, 13) + 20);
    double h = top + rowh * (double)shown + 36;
    fw_buf_printf(b, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", w, h, w, h);
    fw_buf_printf(b, "<text x=\"4\" y=\"16\" class=\"t\">");
    esc(b, title);
    fw_buf_printf(b, "</text>\n");
    double x_of_overall = lw + (overall - lo) / (hi - lo) * bw;
    double bottom = top + rowh * (double)shown;
    /* axis: grid and ticks (the axis need not start at zero: the ticks say where it starts) */
    int nt = fw__html_n_ticks(lo, hi, step);
    for (int ti = 0; ti <= nt; ti++) {
        double t = lo + ti * step;
        double x = lw + (t - lo) / (hi - lo) * bw;
        char tv[32];
        fw__report_shortest(tv, sizeof tv, fabs(t) < step * 1e-9 ? 0 : t);
        if (strlen(tv) > 8) snprintf(tv, sizeof tv, "%.4g", t);
        fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", x, top - 4, x, bottom);
        fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%s</text>\n", x, bottom + 14, tv);
    }
    for (size_t i = 0; i < shown; i++) {
        const fw_slice *s = &sr->slices[i];
        double y = top + rowh * (double)i;
        fw_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lw - 6, y + 14);
        fw__html_svg_label(b, s->name, MAX_LABEL);
        fw_buf_printf(b, "</text>");
        double v = slice_value(s, metric);
        if (s->ok && isfinite(v)) {
            double x = lw + (v - lo) / (hi - lo) * bw;
            const char *cls = !metric && s->worse ? "worse" : s->small ? "small" : "slice";
            fw_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"%s\"/>",
                          fmin(x, x_of_overall), y + 5, fmax(fabs(x - x_of_overall), 1.5), rowh - 10, cls);
            if (!metric && isfinite(s->ci_lo) && isfinite(s->ci_hi)) {
                double a = lw + (s->ci_lo - lo) / (hi - lo) * bw, c = lw + (s->ci_hi - lo) / (hi - lo) * bw;
                double m = y + rowh / 2;
                fw_buf_printf(b, "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" class=\"ci\"/>", a, m, c, a,
                              m - 4, m + 4, c, m - 4, m + 4);
            }
        }
        char buf[200];
        slice_note(s, metric, buf, sizeof buf);
        fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick%s\">", lw + bw + 12, y + 14,
                      !metric && s->worse ? " bad" : "");
        esc(b, buf);
        fw_buf_printf(b, "</text>\n");
    }
    char ov[32];
    fw__report_num(ov, sizeof ov, overall);
    fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ref\"/>", x_of_overall, top - 8,
                  x_of_overall, bottom + 2);
    fw_buf_printf(b, "<text x=\"%.1f\" y=\"%.0f\" class=\"tick\" text-anchor=\"middle\">overall %s</text>\n",
                  x_of_overall, top - 12, ov);
    fw_buf_printf(b, "<text x=\"4\" y=\"%.1f\" class=\"tick\">", bottom + 30);
    if (shown < n) fw_buf_printf(b, "first %zu of %zu values; ", shown, n);
    fw_buf_printf(b, "%s is better</text>\n</svg>\n", fw_metric_higher_is_better(mname) ? "higher" : "lower");
}

/* Importance per input column: one-hot parts and missing indicators summed into their input
 * column (when the report says which input each feature derives from), top TOP by value. */
static void importance_chart(fw_buf *b, const fw_report *r, const fw_report_model *m) {
    enum { TOP = 20 };
    size_t nf = m->n_importance;
    const char **names = fw_calloc(nf ? nf : 1, sizeof *names);
    double *sum = fw_calloc(nf ? nf : 1, sizeof *sum);
    size_t *parts = fw_calloc(nf ? nf : 1, sizeof *parts);
    char (*fallback)[32] = fw_calloc(nf ? nf : 1, sizeof *fallback);
    if (!names || !sum || !parts || !fallback) {
        fw_free(names), fw_free(sum), fw_free(parts), fw_free(fallback);
        fw_buf_printf(b, "<p class=\"warn\">importance: out of memory</p>\n");
        return;
    }
    size_t ng = 0;
    bool grouped = false;
    for (size_t i = 0; i < nf; i++) {
        const char *name = m->importance_inputs && m->importance_inputs[i] ? m->importance_inputs[i]
                           : m->importance_names && m->importance_names[i] ? m->importance_names[i] : NULL;
        if (!name) {
            snprintf(fallback[i], sizeof fallback[i], "f%zu", i);
            name = fallback[i];
        }
        size_t g = 0;
        while (g < ng && strcmp(names[g], name) != 0) g++;
        if (g == ng) {
            names[ng] = name;
            sum[ng] = 0;
            ng++;
        }
        if (isfinite(m->importance[i])) sum[g] += m->importance[i];
        parts[g]++;
        grouped |= parts[g] > 1;
    }
    /* top by value, ties by first appearance */
    size_t idx[TOP], n = 0;
    for (size_t pick = 0; pick < TOP && pick < ng; pick++) {
        size_t best = SIZE_MAX;
        for (size_t g = 0; g < ng; g++) {
            bool taken = false;
            for (size_t j = 0; j < n; j++) taken |= idx[j] == g;
            if (!taken && (best == SIZE_MAX || sum[g] > sum[best])) best = g;
        }
        idx[n++] = best;
    }
    const char *labels[TOP], *notes[TOP];
    char note_buf[TOP][32];
    double v[TOP];
    for (size_t i = 0; i < n; i++) {
        labels[i] = names[idx[i]];
        v[i] = sum[idx[i]];
        notes[i] = NULL;
        if (parts[idx[i]] > 1) {
            snprintf(note_buf[i], sizeof note_buf[i], "(%zu parts)", parts[idx[i]]);
            notes[i] = note_buf[i];
        }
    }
    const char *metric = m->importance_metric ? m->importance_metric : fw_report_primary(r);
    fw_buf_printf(b, "<p class=\"note\"><b>Permutation importance</b> of <b>");
    esc(b, m->name);
    fw_buf_printf(b, "</b>: how much <b>");
    esc(b, metric);
    fw_buf_printf(b, "</b> gets worse on the test rows");
    if (m->importance_rows) fw_buf_printf(b, " (%zu rows)", m->importance_rows);
    fw_buf_printf(b, " when one input column's values are shuffled");
    if (m->importance_repeats) fw_buf_printf(b, ", mean of %zu shuffles", m->importance_repeats);
    fw_buf_printf(b, ". Units: %s points (%s); 0 = the model does not use the column, below 0 = noise.",
                  metric, fw_metric_higher_is_better(metric) ? "the drop in the score" : "the rise in the error");
    if (grouped)
        fw_buf_printf(b, " One-hot parts and missing-value indicators of a column are summed into that column.");
    fw_buf_printf(b, "</p>\n");
    char title[160];
    snprintf(title, sizeof title, "Importance per input column (top %zu of %zu)", n, ng);
    bars(b, title, labels, v, notes, n);
    fw_free(names);
    fw_free(sum);
    fw_free(parts);
    fw_free(fallback);
}

static void model_table(fw_buf *b, const fw_report *r, const fw_report_model *best) {
    const char *pm = fw_report_primary(r);
    const char *extras[FW_REPORT_MAX_EXTRAS];
    size_t ne = fw__report_extras(r, r->n_models ? r->models[0].metrics : NULL, extras);
    fw_buf_printf(b, "<table>\n<tr><th>model</th><th>family</th><th>");
    esc(b, pm);
    fw_buf_printf(b, "</th><th>vs baseline</th>");
    for (size_t e = 0; e < ne; e++) {
        fw_buf_printf(b, "<th>");
        esc(b, extras[e]);
        fw_buf_printf(b, "</th>");
    }
    fw_buf_printf(b, "<th>p50 &micro;s</th><th>p90 &micro;s</th><th>p99 &micro;s</th><th>size</th><th>train s</th><th>cv (mean &plusmn; sd)</th></tr>\n");
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        char buf[64];
        fw_buf_printf(b, "<tr%s><td>", m == best ? " class=\"best\"" : "");
        esc(b, m->name);
        fw_buf_printf(b, "%s%s</td><td>", m == best ? " &#9733;" : "",
                      m->refit_rows ? "<br><small>refit on training + validation rows</small>" : "");
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
            fw_buf_printf(b, "<td>%.3g</td><td>%.3g</td><td%s>%.3g</td>", m->latency.p50_us, m->latency.p90_us,
                          r->p99_budget_us > 0 && m->latency.p99_us > r->p99_budget_us ? " class=\"bad\"" : "",
                          m->latency.p99_us);
        else fw_buf_printf(b, "<td>-</td><td>-</td><td>-</td>");
        fw__report_bytes(buf, sizeof buf, m->size_bytes);
        fw_buf_printf(b, "<td>%s</td><td>%.2f</td>", buf, m->train_seconds);
        if (m->n_cv_scores && isfinite(m->cv_mean))
            fw_buf_printf(b, "<td>%.4f &plusmn; %.4f</td>", m->cv_mean, isfinite(m->cv_std) ? m->cv_std : 0.0);
        else fw_buf_printf(b, "<td>-</td>");
        fw_buf_printf(b, "</tr>\n");
    }
    fw_buf_printf(b, "</table>\n");
}

/* Each model's hyperparameters as key = value pairs (its own table: the pairs wrap across the
 * page width instead of widening the metrics table). */
static void params_table(fw_buf *b, const fw_report *r, const fw_report_model *best) {
    fw_buf_printf(b, "<table class=\"params\">\n<tr><th>model</th><th>hyperparameters</th></tr>\n");
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        fw_buf_printf(b, "<tr%s><td>", m == best ? " class=\"best\"" : "");
        esc(b, m->name);
        fw_buf_printf(b, "</td><td class=\"params\">");
        fw__html_params(b, m->params_json);
        fw_buf_printf(b, "</td></tr>\n");
    }
    fw_buf_printf(b, "</table>\n");
}

static const char *CSS =
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;"
    "text-align:right;white-space:nowrap}td.params{white-space:normal;text-align:left;font-size:12px}"
    "table.params{max-width:100%}table.params th{text-align:left}.kv{display:inline-block;white-space:nowrap;margin:0 14px 1px 0}"
    "td small{font-size:11px;color:#555}td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:6em}"
    "td:first-child,th:first-child,td:nth-child(2){text-align:left}"
    "tr.best{background:#ebf4ff}td.ok{color:#2f855a}td.bad{color:#9b2c2c}code{font-size:11px}"
    ".charts{display:flex;flex-wrap:wrap;gap:16px}svg{background:#fff;border:1px solid #eee}"
    ".t{font-size:13px;font-weight:600}.tick{font-size:11px}.lab{font-size:12px}"
    ".frame{fill:none;stroke:#888}.grid{stroke:#eee}.diag{stroke:#aaa;stroke-dasharray:4 4}"
    ".ref{stroke:#c05621;stroke-dasharray:4 3;stroke-width:1.5}.cell{stroke:#fff}"
    ".warn{color:#9b2c2c}.note{font-size:13px;color:#444;max-width:900px}"
    ".thr{fill:#fff;stroke:#111;stroke-width:2}.thrl{font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}.cnt{font-size:9px;fill:#555}.lg{paint-order:stroke;stroke:#fff;stroke-width:3px}"
    ".slice{fill:#2b6cb0}.small{fill:#2b6cb0;fill-opacity:0.35}.worse{fill:#c53030}.bad{fill:#9b2c2c}"
    ".ci{stroke:#222;stroke-width:1.2;fill:none}table.classes td:first-child{font-weight:600}";

/* A class hierarchy: each model's metrics at the group level and at the class level. */
static void levels_table(fw_buf *b, const fw_report *r) {
    bool any = false;
    for (size_t i = 0; i < r->n_models; i++) any |= r->models[i].group_metrics != NULL;
    if (!any) return;
    const char *pm = fw_report_primary(r);
    const char *cols[4] = {pm};
    size_t nc = 1;
    static const char *const more[] = {"accuracy", "f1_macro", "log_loss"};
    for (size_t k = 0; k < 3; k++)
        if (strcmp(more[k], pm) != 0) cols[nc++] = more[k];
    fw_buf_printf(b, "<h2>Per level of the class hierarchy</h2>\n<p>group: the class probabilities summed per "
                     "group</p>\n<table>\n<tr><th>model</th><th>level</th>");
    for (size_t c = 0; c < nc; c++) {
        fw_buf_printf(b, "<th>");
        esc(b, cols[c]);
        fw_buf_printf(b, "</th>");
    }
    fw_buf_printf(b, "</tr>\n");
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        if (!m->group_metrics) continue;
        for (int lv = 0; lv < 2; lv++) {
            fw_buf_printf(b, "<tr><td>");
            esc(b, m->name);
            fw_buf_printf(b, "</td><td>%s</td>", lv ? "class" : "group");
            for (size_t c = 0; c < nc; c++) {
                char buf[32];
                double x = NAN;
                fw_metric_set_get(lv ? m->metrics : m->group_metrics, cols[c], &x);
                fw__report_num(buf, sizeof buf, x);
                fw_buf_printf(b, "<td>%s</td>", buf);
            }
            fw_buf_printf(b, "</tr>\n");
        }
    }
    fw_buf_printf(b, "</table>\n");
}

/* data.weight: each model's test metrics weighted by the column. */
static void weighted_table(fw_buf *b, const fw_report *r) {
    const fw_metric_set *first = NULL;
    for (size_t i = 0; i < r->n_models && !first; i++) first = r->models[i].weighted;
    if (!first) return;
    fw_buf_printf(b, "<h2>Weighted by data.weight</h2>\n<p>each test row counts as its weight in <code>");
    esc(b, r->weight_column ? r->weight_column : "?");
    fw_buf_printf(b, "</code> (scikit-learn's <code>sample_weight</code>)</p>\n<table>\n<tr><th>model</th>");
    for (size_t c = 0; c < first->n_items; c++) {
        fw_buf_printf(b, "<th>");
        esc(b, first->items[c].name);
        fw_buf_printf(b, "</th>");
    }
    fw_buf_printf(b, "</tr>\n");
    for (size_t i = 0; i < r->n_models; i++) {
        const fw_report_model *m = &r->models[i];
        if (!m->weighted) continue;
        fw_buf_printf(b, "<tr><td>");
        esc(b, m->name);
        fw_buf_printf(b, "</td>");
        for (size_t c = 0; c < first->n_items; c++) {
            char buf[32];
            double x = NAN;
            fw_metric_set_get(m->weighted, first->items[c].name, &x);
            fw__report_num(buf, sizeof buf, x);
            fw_buf_printf(b, "<td>%s</td>", buf);
        }
        fw_buf_printf(b, "</tr>\n");
    }
    fw_buf_printf(b, "</table>\n");
}

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
    levels_table(b, r);
    weighted_table(b, r);
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
    fw_buf_printf(b, "<h2>Hyperparameters</h2>\n");
    params_table(b, r, best);
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
        if (s->confusion && s->n_classes > 2) {
            fw_buf_printf(b, "<h2>Per-class precision, recall and F1 (");
            esc(b, best->name);
            fw_buf_printf(b, ")</h2>\n");
            fw__html_class_table(b, r, s);
        }
        if (s->confusion && s->n_classes) {
            fw_buf_printf(b, "<h2>Confusion matrix (");
            esc(b, best->name);
            if (r->task == FW_TASK_BINARY) fw_buf_printf(b, ", at threshold %.4g", s->threshold);
            fw_buf_printf(b, ")</h2>\n");
            confusion_chart(b, r, s);
        }
        if (best->test_y && best->test_pred && best->n_test) {
            fw_buf_printf(b, "<h2>Predictions on the test rows</h2>\n");
            fw__html_regression_plots(b, best);
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
            bars(b, "F1 per label", labels, s->label_f1, NULL, n);
        }
        if (best->n_importance) {
            fw_buf_printf(b, "<h2>Feature importance</h2>\n");
            importance_chart(b, r, best);
        }
        for (size_t g = 0; g < best->n_slices; g++) {
            const fw_slice_report *sr = &best->slices[g];
            if (g == 0) {
                fw_buf_printf(b, "<h2>Slices</h2>\n<p class=\"note\">Each bar runs from the overall value (dashed line) "
                                 "to the slice's; the axis is zoomed to the values, so read the ticks. Whiskers: 95%% "
                                 "bootstrap interval. A slice is flagged <b class=\"warn\">worse</b> only when its whole "
                                 "interval lies beyond the overall value and it has at least %zu rows; pale bars have "
                                 "fewer rows.</p>\n",
                              sr->min_size);
            }
            slice_chart(b, sr, NULL, NAN, NULL);
            /* the project's other metrics (metrics:), each on its own zoomed axis */
            for (size_t e = 0; e < r->n_metrics && e < FW_REPORT_MAX_EXTRAS; e++) {
                double ov = NAN;
                if (!strcmp(r->metrics[e], sr->primary) || !fw_metric_set_get(best->metrics, r->metrics[e], &ov))
                    continue;
                slice_chart(b, sr, r->metrics[e], ov, NULL);
            }
            /* a class hierarchy: the same slices at the group level */
            if (best->group_slices && g < best->n_slices) slice_chart(b, &best->group_slices[g], NULL, NAN, "group");
        }
    }
    fw_buf_printf(b, "</body>\n</html>\n");
    return fw_buf_ok(b) ? FW_OK : FW_ENOMEM;
}
