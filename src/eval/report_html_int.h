/* report_html_int.h — private helpers shared by the HTML report's files: report_html.c (the page,
 * curves, calibration, confusion, importance and slice charts), report_html_params.c (the params
 * column) and report_html_plots.c (per-class table, regression scatter plots). Not an API. */
#ifndef FW_EVAL_REPORT_HTML_INT_H
#define FW_EVAL_REPORT_HTML_INT_H

#include "eval/report_int.h"

/* Appends s HTML-escaped (& < > " '). */
void fw__html_esc(fw_buf *b, const char *s);
/* Width in pixels a label of s takes at font_px in the report's sans-serif font (a conservative
 * estimate: every code point counts as a wide glyph), used to size label columns so no name is
 * cut off. */
double fw__html_text_px(const char *s, double font_px);
/* Appends a label: s itself when it has at most max_chars code points, else its first and last
 * parts around an ellipsis inside a <tspan> whose <title> holds the full text (SVG) — the caller
 * is inside a <text> element. */
void fw__html_svg_label(fw_buf *b, const char *s, size_t max_chars);
/* The shortest decimal text that reads back as exactly v ("0.1", not "0.10000000000000001");
 * "NaN"/"inf" for non-finite values. */
void fw__report_shortest(char *buf, size_t size, double v);

/* "Nice" axis ticks covering [lo, hi]: about `want` round values (steps of 1, 2 or 5 x 10^k).
 * Widens *lo / *hi to the outer ticks and returns the step. */
double fw__html_nice_axis(double *lo, double *hi, int want);
/* The number of steps between lo and hi (ticks at lo + i * step, i = 0..n); 0 when degenerate. */
int fw__html_n_ticks(double lo, double hi, double step);

/* The params cell: a model's params JSON object as readable "key = value" pairs (nested keys
 * joined with '.', numbers in shortest round-trip form). Invalid JSON is shown as text. */
void fw__html_params(fw_buf *b, const char *params_json);

/* Multiclass: a table of per-class precision, recall, F1 and support from the confusion matrix. */
void fw__html_class_table(fw_buf *b, const fw_report *r, const fw_metric_set *s);
/* Regression: predicted-vs-actual and residual scatter plots of m's test rows (at most a few
 * thousand points, an even stride through the rows). Nothing when m has no test predictions. */
void fw__html_regression_plots(fw_buf *b, const fw_report_model *m);

#endif
