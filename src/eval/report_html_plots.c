/* report_html_plots.c — owns the HTML report's task-specific additions and its layout helpers:
 * the multiclass per-class precision/recall/F1 table, the regression predicted-vs-actual and
 * residual scatter plots, "nice" axis ticks, and label sizing (so no feature or class name is cut
 * off by a fixed-width column). */
#include "eval/report_html_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

double fw__html_text_px(const char *s, double font_px) {
    /* DejaVu Sans (Debian's default sans) averages ~0.55 em per Latin glyph; 0.64 em keeps a
     * margin for capitals and wide glyphs, so the column is never too narrow. */
    return (double)code_points(s) * font_px * 0.64;
}

void fw__html_svg_label(fw_buf *b, const char *s, size_t max_chars) {
    size_t n = code_points(s);
    if (n <= max_chars || max_chars < 8) {
        fw__html_esc(b, s);
        return;
    }
    /* first and last parts around an ellipsis; the full name in a tooltip */
    size_t head = (max_chars - 1) * 2 / 3, tail = max_chars - 1 - head, cp = 0;
    char part[1024];
    const char *p = s, *head_end = s, *tail_start = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (cp == head) head_end = p;
            if (cp == n - tail) tail_start = p;
            cp++;
        }
    }
    fw_buf_printf(b, "<tspan><title>");
    fw__html_esc(b, s);
    fw_buf_printf(b, "</title>");
    size_t hl = (size_t)(head_end - s) < sizeof part - 1 ? (size_t)(head_end - s) : sizeof part - 1;
    memcpy(part, s, hl);
    part[hl] = 0;
    fw__html_esc(b, part);
    fw_buf_printf(b, "&hellip;");
    fw__html_esc(b, tail_start);
    fw_buf_printf(b, "</tspan>");
}

int fw__html_n_ticks(double lo, double hi, double step) {
    double n = step > 0 ? floor((hi - lo) / step + 0.5) : 0;
    return n > 0 && n <= 40 ? (int)n : 0;
}

double fw__html_nice_axis(double *lo, double *hi, int want) {
    if (!isfinite(*lo) || !isfinite(*hi)) *lo = 0, *hi = 1;
    if (*hi - *lo <= 1e-9 * fmax(1, fmax(fabs(*lo), fabs(*hi)))) { /* one value: a band around it */
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.05 : 0.5;
        *lo -= pad;
        *hi += pad;
    }
    double raw = (*hi - *lo) / (want > 1 ? want : 1);
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

/* ---- multiclass: per-class precision, recall, F1 ------------------------------------------ */
void fw__html_class_table(fw_buf *b, const fw_report *r, const fw_metric_set *s) {
    size_t k = s->n_classes;
    if (!s->confusion || k < 2) return;
    fw_buf_printf(b, "<table class=\"classes\">\n<tr><th>class</th><th>precision</th><th>recall</th>"
                     "<th>F1</th><th>support (true rows)</th><th>predicted rows</th></tr>\n");
    for (size_t c = 0; c < k; c++) {
        uint64_t tp = s->confusion[c * k + c], row = 0, col = 0;
        for (size_t j = 0; j < k; j++) {
            row += s->confusion[c * k + j];
            col += s->confusion[j * k + c];
        }
        double p = col ? (double)tp / (double)col : NAN, rc = row ? (double)tp / (double)row : NAN;
        double f1 = isfinite(p) && isfinite(rc) && p + rc > 0 ? 2 * p * rc / (p + rc) : (row || col ? 0 : NAN);
        char ps[32], rs[32], fs[32];
        fw__report_num(ps, sizeof ps, p);
        fw__report_num(rs, sizeof rs, rc);
        fw__report_num(fs, sizeof fs, f1);
        fw_buf_printf(b, "<tr><td>");
        if (r->class_names && c < r->n_classes) fw__html_esc(b, r->class_names[c]);
        else fw_buf_printf(b, "%zu", c);
        fw_buf_printf(b, "</td><td>%s</td><td>%s</td><td>%s</td><td>%llu</td><td>%llu</td></tr>\n", ps, rs, fs,
                      (unsigned long long)row, (unsigned long long)col);
    }
    fw_buf_printf(b, "</table>\n<p class=\"note\">Precision: of the rows predicted as the class, the share that "
                     "are; recall: of the class's rows, the share found; \"-\" when a class was never predicted "
                     "or has no rows. From the confusion matrix below.</p>\n");
}

/* ---- regression: scatter plots ------------------------------------------------------------ */
enum { SW = 400, SH = 340, SX = 62, SY = 28, SPW = 310, SPH = 256, MAX_POINTS = 2000 };

typedef struct axis {
    double lo, hi, step;
} axis;

static double ax_x(const axis *a, double v) { return SX + (v - a->lo) / (a->hi - a->lo) * SPW; }
static double ax_y(const axis *a, double v) { return SY + (1 - (v - a->lo) / (a->hi - a->lo)) * SPH; }

static void scatter_frame(fw_buf *b, const char *title, const char *xl, const char *yl, const axis *ax,
                          const axis *ay) {
    fw_buf_printf(b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", SW, SH, SW, SH);
    fw_buf_printf(b, "<text x=\"%d\" y=\"16\" class=\"t\">", SX);
    fw__html_esc(b, title);
    fw_buf_printf(b, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n", SX, SY, SPW, SPH);
    for (int pass = 0; pass < 2; pass++) {
        const axis *a = pass ? ay : ax;
        int nt = fw__html_n_ticks(a->lo, a->hi, a->step);
        for (int ti = 0; ti <= nt; ti++) {
            double v = a->lo + ti * a->step;
            char t[32];
            fw__report_shortest(t, sizeof t, fabs(v) < a->step * 1e-9 ? 0 : v);
            if (strlen(t) > 8) snprintf(t, sizeof t, "%.3g", v);
            if (!pass) {
                double x = ax_x(a, v);
                fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>", x, SY, x, SY + SPH);
                fw_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%s</text>\n", x,
                              SY + SPH + 14, t);
            } else {
                double y = ax_y(a, v);
                fw_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", SX, y, SX + SPW, y);
                fw_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>\n", SX - 4,
                              y + 4, t);
            }
        }
    }
    fw_buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"lab\" text-anchor=\"middle\">", SX + SPW / 2, SY + SPH + 32);
    fw__html_esc(b, xl);
    fw_buf_printf(b, "</text><text x=\"12\" y=\"%d\" class=\"lab\" text-anchor=\"middle\" transform=\"rotate(-90 12 %d)\">",
                  SY + SPH / 2, SY + SPH / 2);
    fw__html_esc(b, yl);
    fw_buf_printf(b, "</text>\n");
}

static void points(fw_buf *b, const double *x, const double *y, size_t n, size_t stride, const axis *ax,
                   const axis *ay) {
    fw_buf_printf(b, "<g fill=\"#2b6cb0\" fill-opacity=\"0.45\">");
    for (size_t i = 0; i < n; i += stride)
        if (isfinite(x[i]) && isfinite(y[i]))
            fw_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", ax_x(ax, x[i]), ax_y(ay, y[i]));
    fw_buf_printf(b, "</g>\n");
}

void fw__html_regression_plots(fw_buf *b, const fw_report_model *m) {
    size_t n = m->n_test;
    if (!m->test_y || !m->test_pred || !n) return;
    const double *y = m->test_y, *p = m->test_pred;
    double lo = INFINITY, hi = -INFINITY, rlo = INFINITY, rhi = -INFINITY, plo = INFINITY, phi = -INFINITY;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || !isfinite(p[i])) continue;
        lo = fmin(lo, fmin(y[i], p[i]));
        hi = fmax(hi, fmax(y[i], p[i]));
        plo = fmin(plo, p[i]);
        phi = fmax(phi, p[i]);
        double res = y[i] - p[i];
        rlo = fmin(rlo, res);
        rhi = fmax(rhi, res);
        used++;
    }
    if (!used) return;
    size_t stride = n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1;
    fw_buf_printf(b, "<p class=\"note\">");
    if (stride > 1) fw_buf_printf(b, "%zu (every %zu%s row) of ", (n + stride - 1) / stride, stride,
                                  stride % 10 == 2 && stride % 100 != 12 ? "nd" : stride % 10 == 3 && stride % 100 != 13 ? "rd" : "th");
    fw_buf_printf(b, "%zu test rows of <b>", n);
    fw__html_esc(b, m->name);
    fw_buf_printf(b, "</b>. Points on the dashed line are exact; residual = actual &minus; predicted (above zero: the "
                     "model predicted too low).</p>\n<div class=\"charts\">\n");
    axis a = {lo, hi, 0};
    a.step = fw__html_nice_axis(&a.lo, &a.hi, 5);
    scatter_frame(b, "Predicted vs actual", "predicted", "actual", &a, &a);
    fw_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"diag\"/>\n", ax_x(&a, a.lo),
                  ax_y(&a, a.lo), ax_x(&a, a.hi), ax_y(&a, a.hi));
    points(b, p, y, n, stride, &a, &a);
    fw_buf_printf(b, "</svg>\n");
    /* residuals against the prediction */
    double bound = fmax(fabs(rlo), fabs(rhi));
    axis ax = {plo, phi, 0}, ar = {-bound, bound, 0};
    ax.step = fw__html_nice_axis(&ax.lo, &ax.hi, 5);
    ar.step = fw__html_nice_axis(&ar.lo, &ar.hi, 6);
    scatter_frame(b, "Residuals", "predicted", "actual − predicted", &ax, &ar);
    fw_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"diag\"/>\n", SX, ax_y(&ar, 0),
                  SX + SPW, ax_y(&ar, 0));
    fw_buf_printf(b, "<g fill=\"#c05621\" fill-opacity=\"0.45\">");
    for (size_t i = 0; i < n; i += stride)
        if (isfinite(y[i]) && isfinite(p[i]))
            fw_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", ax_x(&ax, p[i]), ax_y(&ar, y[i] - p[i]));
    fw_buf_printf(b, "</g>\n</svg>\n</div>\n");
}
