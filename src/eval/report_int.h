/* report_int.h — private helpers shared by the report renderings (report_text.c, report_json.c,
 * report_html.c); not part of the API. */
#ifndef FW_EVAL_REPORT_INT_H
#define FW_EVAL_REPORT_INT_H

#include "eval/report.h"

/* The extra metric columns: the report's metrics list (each one, primary and repeats excluded, at
 * most FW_REPORT_MAX_EXTRAS), else up to 3 key metrics of the task (present in s when s is given). */
size_t fw__report_extras(const fw_report *r, const fw_metric_set *s, const char *out[FW_REPORT_MAX_EXTRAS]);
/* "0.1234", "1.234e+07", or "-" for NaN. */
void fw__report_num(char *buf, size_t size, double v);
/* "512 B", "3.4 KB", "1.2 MB". */
void fw__report_bytes(char *buf, size_t size, size_t n);
/* Model versus the report's baseline on the primary metric (NaN when there is no baseline). */
void fw__report_improvement(const fw_report *r, const fw_report_model *m, fw_improvement *im);
/* FW_EINVAL when a model lacks a name or metrics. */
fw_status fw__report_check(const fw_report *r);

#endif
