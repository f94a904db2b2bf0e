/* metrics.c — owns the atomic counters/histograms and their Prometheus text rendering. */
#include "serve/metrics.h"

#include "core/alloc.h"

#include <math.h>
#include <string.h>

static const int codes[FW_N_CODES] = {200, 202, 400, 401, 403, 404, 405, 408, 413, 415, 422, 500, 503, 0};
static const double lat_le[FW_LAT_BUCKETS] = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
                                              25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 750e-3, 1.0};

const char *fw_variant_name(int v) {
    static const char *n[] = {"primary", "challenger", "shadow"};
    return v >= 0 && v < FW_N_VARIANTS ? n[v] : "?";
}

fw_srv_metrics *fw_srv_metrics_new(void) { return fw_calloc(1, sizeof(fw_srv_metrics)); }

int fw_metrics_code_index(int code) {
    for (int i = 0; i < FW_N_CODES - 1; i++)
        if (codes[i] == code) return i;
    return FW_N_CODES - 1;
}

int fw_metrics_code_value(int idx) { return idx >= 0 && idx < FW_N_CODES ? codes[idx] : 0; }

void fw_metrics_request(fw_srv_metrics *m, int variant, int code, uint64_t latency_ns) {
    if (!m || variant < 0 || variant >= FW_N_VARIANTS) return;
    atomic_fetch_add_explicit(&m->requests[variant][fw_metrics_code_index(code)], 1, memory_order_relaxed);
    double s = (double)latency_ns * 1e-9;
    int b = 0;
    while (b < FW_LAT_BUCKETS && s > lat_le[b]) b++;
    atomic_fetch_add_explicit(&m->lat[variant][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->lat_sum_ns[variant], latency_ns, memory_order_relaxed);
}

void fw_metrics_score(fw_srv_metrics *m, int variant, double score, int abstained) {
    if (!m || variant < 0 || variant >= FW_N_VARIANTS) return;
    if (abstained) atomic_fetch_add_explicit(&m->abstained[variant], 1, memory_order_relaxed);
    if (!isfinite(score)) return;
    /* bucket in double first: a huge regression score must not overflow the int conversion */
    double c = score <= 0 ? 0 : ceil(score * 10) - 1;
    int b = c < 0 ? 0 : c > FW_SCORE_BUCKETS ? FW_SCORE_BUCKETS : (int)c;
    atomic_fetch_add_explicit(&m->score[variant][b], 1, memory_order_relaxed);
    double u = score > 0 ? score * 1e6 : 0;
    atomic_fetch_add_explicit(&m->score_sum_u[variant], (unsigned long)(u < 1e18 ? u : 1e18),
                              memory_order_relaxed);
}

const char *fw_input_warning_name(int kind) {
    static const char *n[] = {"unseen_category", "coerced", "mostly_missing"};
    return kind >= 0 && kind < FW_N_INPUT_WARNINGS ? n[kind] : "?";
}

void fw_metrics_input_warning(fw_srv_metrics *m, int kind) {
    if (m && kind >= 0 && kind < FW_N_INPUT_WARNINGS)
        atomic_fetch_add_explicit(&m->input_warnings[kind], 1, memory_order_relaxed);
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

double fw_metrics_quantile(const unsigned long counts[FW_LAT_BUCKETS + 1], double q) {
    unsigned long total = 0;
    for (int b = 0; b <= FW_LAT_BUCKETS; b++) total += counts[b];
    if (!total) return NAN;
    double rank = q * (double)total, cum = 0;
    for (int b = 0; b < FW_LAT_BUCKETS; b++) {
        double c = (double)counts[b];
        if (c > 0 && cum + c >= rank) {
            double lo = b ? lat_le[b - 1] : 0, hi = lat_le[b];
            return lo + (hi - lo) * (rank - cum) / c;
        }
        cum += c;
    }
    return lat_le[FW_LAT_BUCKETS - 1]; /* in the +Inf bucket: the highest finite bound, as Prometheus */
}

/* Prometheus label values escape backslash, quote and newline. Model names are validated
 * ([A-Za-z0-9._-]) so this is belt and braces. */
static void put_label(fw_buf *out, const char *k, const char *v) {
    fw_buf_printf(out, "%s=\"", k);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"') fw_buf_put_u8(out, '\\');
        if (*p == '\n') {
            fw_buf_put(out, "\\n", 2);
            continue;
        }
        fw_buf_put_u8(out, (uint8_t)*p);
    }
    fw_buf_put_u8(out, '"');
}

static void labels(fw_buf *out, const fw_metrics_series *s, int v) {
    put_label(out, "model", s->model);
    fw_buf_put_u8(out, ',');
    put_label(out, "version", s->version);
    fw_buf_put_u8(out, ',');
    put_label(out, "variant", fw_variant_name(v));
}

void fw_metrics_render(fw_buf *out, const fw_metrics_series *s, size_t n) {
    fw_buf_printf(out, "# HELP flywheel_requests_total Requests by model, version, variant and HTTP code.\n"
                       "# TYPE flywheel_requests_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++)
            for (int c = 0; c < FW_N_CODES; c++) {
                unsigned long k = LD(s[i].m->requests[v][c]);
                if (!k) continue;
                fw_buf_printf(out, "flywheel_requests_total{");
                labels(out, &s[i], v);
                if (codes[c]) fw_buf_printf(out, ",code=\"%d\"} %lu\n", codes[c], k);
                else fw_buf_printf(out, ",code=\"other\"} %lu\n", k);
            }
    fw_buf_printf(out, "# HELP flywheel_errors_total Requests answered with a 4xx or 5xx code.\n"
                       "# TYPE flywheel_errors_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++) {
            unsigned long e = 0, any = 0;
            for (int c = 0; c < FW_N_CODES; c++) {
                unsigned long k = LD(s[i].m->requests[v][c]);
                any += k;
                if (codes[c] >= 400 || codes[c] == 0) e += k;
            }
            if (!any) continue;
            fw_buf_printf(out, "flywheel_errors_total{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %lu\n", e);
        }
    fw_buf_printf(out, "# HELP flywheel_request_duration_seconds Request latency.\n"
                       "# TYPE flywheel_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++) {
            unsigned long cum = 0;
            unsigned long counts[FW_LAT_BUCKETS + 1];
            for (int b = 0; b <= FW_LAT_BUCKETS; b++) cum += (counts[b] = LD(s[i].m->lat[v][b]));
            if (!cum) continue;
            cum = 0;
            for (int b = 0; b <= FW_LAT_BUCKETS; b++) {
                cum += counts[b];
                fw_buf_printf(out, "flywheel_request_duration_seconds_bucket{");
                labels(out, &s[i], v);
                if (b < FW_LAT_BUCKETS) fw_buf_printf(out, ",le=\"%g\"} %lu\n", lat_le[b], cum);
                else fw_buf_printf(out, ",le=\"+Inf\"} %lu\n", cum);
            }
            fw_buf_printf(out, "flywheel_request_duration_seconds_sum{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %.9f\n", (double)LD(s[i].m->lat_sum_ns[v]) * 1e-9);
            fw_buf_printf(out, "flywheel_request_duration_seconds_count{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %lu\n", cum);
        }
    /* a summary (quantile labels are a summary's: `promtool check metrics` refuses them on a gauge),
     * with the histogram's _sum and _count */
    fw_buf_printf(out, "# HELP flywheel_request_duration_quantile_seconds Request latency p50, p90 and p99, "
                       "estimated from the histogram's buckets as histogram_quantile() does.\n"
                       "# TYPE flywheel_request_duration_quantile_seconds summary\n");
    static const double qs[3] = {0.5, 0.9, 0.99};
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++) {
            unsigned long counts[FW_LAT_BUCKETS + 1], total = 0;
            for (int b = 0; b <= FW_LAT_BUCKETS; b++) total += (counts[b] = LD(s[i].m->lat[v][b]));
            if (!total) continue;
            for (int q = 0; q < 3; q++) {
                fw_buf_printf(out, "flywheel_request_duration_quantile_seconds{");
                labels(out, &s[i], v);
                fw_buf_printf(out, ",quantile=\"%g\"} %.9g\n", qs[q], fw_metrics_quantile(counts, qs[q]));
            }
            fw_buf_printf(out, "flywheel_request_duration_quantile_seconds_sum{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %.9f\n", (double)LD(s[i].m->lat_sum_ns[v]) * 1e-9);
            fw_buf_printf(out, "flywheel_request_duration_quantile_seconds_count{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %lu\n", total);
        }
    fw_buf_printf(out, "# HELP flywheel_abstentions_total Instances answered by the fallback (low confidence).\n"
                       "# TYPE flywheel_abstentions_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++) {
            unsigned long a = LD(s[i].m->abstained[v]);
            unsigned long any = 0;
            for (int b = 0; b <= FW_SCORE_BUCKETS; b++) any += LD(s[i].m->score[v][b]);
            if (!a && !any) continue;
            fw_buf_printf(out, "flywheel_abstentions_total{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %lu\n", a);
        }
    fw_buf_printf(out, "# HELP flywheel_input_warnings_total Input values answered with a warning: an unseen category, "
                       "a value of the wrong type coerced, most features missing.\n"
                       "# TYPE flywheel_input_warnings_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < FW_N_INPUT_WARNINGS; k++) {
            unsigned long w = LD(s[i].m->input_warnings[k]);
            if (!w) continue;
            fw_buf_printf(out, "flywheel_input_warnings_total{");
            put_label(out, "model", s[i].model);
            fw_buf_put_u8(out, ',');
            put_label(out, "version", s[i].version);
            fw_buf_printf(out, ",kind=\"%s\"} %lu\n", fw_input_warning_name(k), w);
        }
    fw_buf_printf(out, "# HELP flywheel_prediction_score Distribution of predicted scores (positive-class probability or value).\n"
                       "# TYPE flywheel_prediction_score histogram\n");
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < FW_N_VARIANTS; v++) {
            unsigned long counts[FW_SCORE_BUCKETS + 1], cum = 0;
            for (int b = 0; b <= FW_SCORE_BUCKETS; b++) cum += (counts[b] = LD(s[i].m->score[v][b]));
            if (!cum) continue;
            cum = 0;
            for (int b = 0; b <= FW_SCORE_BUCKETS; b++) {
                cum += counts[b];
                fw_buf_printf(out, "flywheel_prediction_score_bucket{");
                labels(out, &s[i], v);
                if (b < FW_SCORE_BUCKETS) fw_buf_printf(out, ",le=\"%.1f\"} %lu\n", (b + 1) / 10.0, cum);
                else fw_buf_printf(out, ",le=\"+Inf\"} %lu\n", cum);
            }
            fw_buf_printf(out, "flywheel_prediction_score_sum{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %.6f\n", (double)LD(s[i].m->score_sum_u[v]) * 1e-6);
            fw_buf_printf(out, "flywheel_prediction_score_count{");
            labels(out, &s[i], v);
            fw_buf_printf(out, "} %lu\n", cum);
        }
}

/* ---- monitoring -------------------------------------------------------------------------------- */

static const char *const alarm_kinds[FW_METRICS_ALARM_KINDS] = {"drift",       "quality",  "schema",  "prediction",
                                                                 "performance", "estimate", "latency"};

static void mon_labels(fw_buf *out, const fw_metrics_monitor *s) {
    put_label(out, "model", s->model);
    fw_buf_put_u8(out, ',');
    put_label(out, "version", s->version);
}

static void family(fw_buf *out, const char *name, const char *type, const char *help) {
    fw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A column series: name{model,version,column[,statistic]} value. */
static void column_series(fw_buf *out, const char *name, const fw_metrics_monitor *s,
                          const fw_metrics_monitor_column *c, bool with_stat, double v) {
    fw_buf_printf(out, "%s{", name);
    mon_labels(out, s);
    fw_buf_put_u8(out, ',');
    put_label(out, "column", c->name);
    if (with_stat) {
        fw_buf_put_u8(out, ',');
        put_label(out, "statistic", c->statistic);
    }
    fw_buf_printf(out, "} %.9g\n", v);
}

/* name{model,version,column,slice[,metric]} (the value is the caller's). */
static void slice_series(fw_buf *out, const char *name, const fw_metrics_monitor *s,
                         const fw_metrics_monitor_slice *sl, bool with_metric) {
    fw_buf_printf(out, "%s{", name);
    mon_labels(out, s);
    fw_buf_put_u8(out, ',');
    put_label(out, "column", sl->column);
    fw_buf_put_u8(out, ',');
    put_label(out, "slice", sl->value);
    if (with_metric) {
        fw_buf_put_u8(out, ',');
        put_label(out, "metric", s->metric);
    }
    fw_buf_put_u8(out, '}');
}

static void metric_series(fw_buf *out, const char *name, const fw_metrics_monitor *s, const char *source, double v) {
    if (!isfinite(v)) return;
    fw_buf_printf(out, "%s{", name);
    mon_labels(out, s);
    fw_buf_put_u8(out, ',');
    put_label(out, "metric", s->metric);
    fw_buf_printf(out, ",source=\"%s\"} %.9g\n", source, v);
}

void fw_metrics_render_monitor(fw_buf *out, const fw_metrics_monitor *s, size_t n, size_t max_columns) {
    family(out, "flywheel_monitor_rows_total", "counter", "Predictions observed by the model version's monitor.");
    for (size_t i = 0; i < n; i++) {
        fw_buf_printf(out, "flywheel_monitor_rows_total{");
        mon_labels(out, &s[i]);
        fw_buf_printf(out, "} %llu\n", (unsigned long long)s[i].rows);
    }
    family(out, "flywheel_monitor_drift", "gauge",
           "An input's drift statistic in the last tested window (the statistic label names it).");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < s[i].n_columns && c < max_columns; c++)
            if (s[i].columns[c].statistic && s[i].columns[c].statistic[0] && isfinite(s[i].columns[c].drift))
                column_series(out, "flywheel_monitor_drift", &s[i], &s[i].columns[c], true, s[i].columns[c].drift);
    family(out, "flywheel_monitor_drift_threshold", "gauge",
           "The calibrated threshold the input's drift statistic was compared with.");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < s[i].n_columns && c < max_columns; c++)
            if (s[i].columns[c].statistic && s[i].columns[c].statistic[0] && isfinite(s[i].columns[c].drift_threshold))
                column_series(out, "flywheel_monitor_drift_threshold", &s[i], &s[i].columns[c], true,
                              s[i].columns[c].drift_threshold);
    family(out, "flywheel_monitor_missing_rate", "gauge", "An input's missing rate in the last quality window.");
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < s[i].n_columns && c < max_columns; c++)
            if (isfinite(s[i].columns[c].missing_rate))
                column_series(out, "flywheel_monitor_missing_rate", &s[i], &s[i].columns[c], false,
                              s[i].columns[c].missing_rate);
    family(out, "flywheel_monitor_columns_omitted", "gauge",
           "Watched inputs without per-column series (past monitoring.metrics_columns).");
    for (size_t i = 0; i < n; i++) {
        fw_buf_printf(out, "flywheel_monitor_columns_omitted{");
        mon_labels(out, &s[i]);
        fw_buf_printf(out, "} %zu\n", s[i].n_columns > max_columns ? s[i].n_columns - max_columns : 0);
    }
    family(out, "flywheel_monitor_alarms_active", "gauge", "Alarms active now, by kind.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < FW_METRICS_ALARM_KINDS; k++) {
            fw_buf_printf(out, "flywheel_monitor_alarms_active{");
            mon_labels(out, &s[i]);
            fw_buf_printf(out, ",kind=\"%s\"} %llu\n", alarm_kinds[k], (unsigned long long)s[i].active[k]);
        }
    family(out, "flywheel_monitor_alarms_raised_total", "counter", "Alarms raised, by kind.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < FW_METRICS_ALARM_KINDS; k++) {
            fw_buf_printf(out, "flywheel_monitor_alarms_raised_total{");
            mon_labels(out, &s[i]);
            fw_buf_printf(out, ",kind=\"%s\"} %llu\n", alarm_kinds[k], (unsigned long long)s[i].raised[k]);
        }
    family(out, "flywheel_monitor_metric", "gauge",
           "The primary metric in the last window: realized from joined labels (source=live) or estimated "
           "from the model's confidences before labels arrive (source=estimated).");
    for (size_t i = 0; i < n; i++)
        if (s[i].metric) {
            metric_series(out, "flywheel_monitor_metric", &s[i], "live", s[i].live);
            metric_series(out, "flywheel_monitor_metric", &s[i], "estimated", s[i].estimated);
        }
    family(out, "flywheel_monitor_metric_lower", "gauge", "Lower bound of the metric's confidence interval.");
    for (size_t i = 0; i < n; i++)
        if (s[i].metric) {
            metric_series(out, "flywheel_monitor_metric_lower", &s[i], "live", s[i].live_lo);
            metric_series(out, "flywheel_monitor_metric_lower", &s[i], "estimated", s[i].estimated_lo);
        }
    family(out, "flywheel_monitor_metric_upper", "gauge", "Upper bound of the metric's confidence interval.");
    for (size_t i = 0; i < n; i++)
        if (s[i].metric) {
            metric_series(out, "flywheel_monitor_metric_upper", &s[i], "live", s[i].live_hi);
            metric_series(out, "flywheel_monitor_metric_upper", &s[i], "estimated", s[i].estimated_hi);
        }
    family(out, "flywheel_monitor_labels_total", "counter", "Labels received through feedback.");
    for (size_t i = 0; i < n; i++)
        if (s[i].metric) {
            fw_buf_printf(out, "flywheel_monitor_labels_total{");
            mon_labels(out, &s[i]);
            fw_buf_printf(out, "} %llu\n", (unsigned long long)s[i].labels);
        }
    family(out, "flywheel_monitor_labels_joined_total", "counter",
           "Labels joined to their prediction by request id (in memory or through the prediction log).");
    for (size_t i = 0; i < n; i++)
        if (s[i].metric) {
            fw_buf_printf(out, "flywheel_monitor_labels_joined_total{");
            mon_labels(out, &s[i]);
            fw_buf_printf(out, "} %llu\n", (unsigned long long)s[i].labels_joined);
        }
    family(out, "flywheel_monitor_slice_metric", "gauge",
           "The primary metric realized over one slice value's labelled rows in the last label window (slice "
           "columns: data.groups; at most 16 values per column, the rest in slice=\"(other)\").");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; s[i].metric && j < s[i].n_slices; j++)
            if (isfinite(s[i].slices[j].metric)) {
                slice_series(out, "flywheel_monitor_slice_metric", &s[i], &s[i].slices[j], true);
                fw_buf_printf(out, " %.9g\n", s[i].slices[j].metric);
            }
    family(out, "flywheel_monitor_slice_labels", "gauge",
           "Labelled rows of one slice value in the last label window.");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; s[i].metric && j < s[i].n_slices; j++) {
            slice_series(out, "flywheel_monitor_slice_labels", &s[i], &s[i].slices[j], false);
            fw_buf_printf(out, " %llu\n", (unsigned long long)s[i].slices[j].rows);
        }
    family(out, "flywheel_monitor_slice_alarm", "gauge",
           "1 while the slice value's performance alarm is active, else 0.");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; s[i].metric && j < s[i].n_slices; j++) {
            slice_series(out, "flywheel_monitor_slice_alarm", &s[i], &s[i].slices[j], false);
            fw_buf_printf(out, " %d\n", s[i].slices[j].alarm ? 1 : 0);
        }
}

void fw_metrics_render_scalar(fw_buf *out, const char *name, const char *type, const char *help,
                              double value) {
    fw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}
