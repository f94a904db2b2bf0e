/* test_monitor_metrics.c — the monitoring families of /metrics (src/serve/metrics.c
 * fw_metrics_render_monitor): per-column series stop at the cap (the first columns in input order,
 * the rest counted in flywheel_monitor_columns_omitted), alarms by kind, the live and estimated
 * metric with their bounds, labels joined; per slice value of the live metric its metric, labelled
 * rows and alarm state (18 series per slice column at most: 16 values, "(other)", "(missing)");
 * series without a value yet are left out; label values are escaped; and `promtool check metrics`
 * (Debian package prometheus) accepts the text. */
#include "core/buf.h"
#include "serve/metrics.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count_lines(const char *text, const char *prefix) {
    size_t n = 0, len = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, prefix, len)) n++;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

static fw_metrics_monitor_slice g_slices[18];
static char g_slice_names[18][24];

static void render(fw_buf *b, fw_metrics_monitor_column *cols, char names[][24]) {
    for (int i = 0; i < 18; i++) { /* region: 16 values, "(other)", "(missing)"; v03 has no metric */
        if (i < 16) snprintf(g_slice_names[i], 24, "v%02d", i);
        g_slices[i] = (fw_metrics_monitor_slice){"region", i < 16 ? g_slice_names[i] : i == 16 ? "(other)" : "(missing)",
                                                 (uint64_t)(40 + i), i == 3 ? NAN : 0.5 + 0.01 * i, i == 7};
    }
    g_slices[5].value = "s\"o\\uth\n"; /* escaped: \" \\ \n */
    for (int c = 0; c < 60; c++) {
        snprintf(names[c], 24, "f%02d", c);
        cols[c].name = names[c];
        cols[c].statistic = c == 59 ? "" : c % 2 ? "chi2" : "ks";
        cols[c].drift = c == 59 ? NAN : 0.01 * c;
        cols[c].drift_threshold = c == 59 ? NAN : 0.2;
        cols[c].missing_rate = c == 3 ? NAN : 0.001 * c;
    }
    cols[1].name = "we\"ird\\name";
    fw_metrics_monitor m[2];
    memset(m, 0, sizeof m);
    m[0].model = "spam";
    m[0].version = "3";
    m[0].rows = 12345;
    m[0].active[0] = 1;
    m[0].raised[0] = 4;
    m[0].raised[6] = 1;
    m[0].columns = cols;
    m[0].n_columns = 60;
    m[0].metric = "roc_auc";
    m[0].live = 0.91;
    m[0].live_lo = 0.88;
    m[0].live_hi = 0.94;
    m[0].estimated = 0.93;
    m[0].estimated_lo = 0.9;
    m[0].estimated_hi = 0.95;
    m[0].labels = 700;
    m[0].labels_joined = 650;
    m[0].slices = g_slices;
    m[0].n_slices = 18;
    m[1].model = "churn";
    m[1].version = "1";
    m[1].columns = cols + 50;
    m[1].n_columns = 10;
    m[1].metric = NULL; /* no performance tracker */
    fw_metrics_render_monitor(b, m, 2, 50);
    fw_buf_put_u8(b, 0);
}

static void test_series(void) {
    fw_buf b;
    fw_buf_init(&b);
    fw_metrics_monitor_column cols[60];
    char names[60][24];
    render(&b, cols, names);
    const char *t = (const char *)b.data;
    /* spam: 50 of 60 columns; churn: its 10, one (f59) not tested yet */
    CHECK_EQ(count_lines(t, "flywheel_monitor_drift{model=\"spam\""), 50);
    CHECK_EQ(count_lines(t, "flywheel_monitor_drift{model=\"churn\""), 9);
    CHECK_EQ(count_lines(t, "flywheel_monitor_drift_threshold{model=\"spam\""), 50);
    CHECK_EQ(count_lines(t, "flywheel_monitor_missing_rate{model=\"spam\""), 49); /* f03 not tested */
    CHECK(!strstr(t, "flywheel_monitor_drift{model=\"spam\",version=\"3\",column=\"f50\""));
    CHECK_CONTAINS(t, "flywheel_monitor_drift{model=\"spam\",version=\"3\",column=\"f00\",statistic=\"ks\"} 0\n");
    CHECK_CONTAINS(t, "flywheel_monitor_drift{model=\"spam\",version=\"3\",column=\"we\\\"ird\\\\name\",statistic=\"chi2\"} 0.01\n");
    CHECK_CONTAINS(t, "flywheel_monitor_columns_omitted{model=\"spam\",version=\"3\"} 10\n");
    CHECK_CONTAINS(t, "flywheel_monitor_columns_omitted{model=\"churn\",version=\"1\"} 0\n");
    CHECK_CONTAINS(t, "flywheel_monitor_rows_total{model=\"spam\",version=\"3\"} 12345\n");
    CHECK_CONTAINS(t, "flywheel_monitor_alarms_active{model=\"spam\",version=\"3\",kind=\"drift\"} 1\n");
    CHECK_CONTAINS(t, "flywheel_monitor_alarms_raised_total{model=\"spam\",version=\"3\",kind=\"latency\"} 1\n");
    CHECK_EQ(count_lines(t, "flywheel_monitor_alarms_active{"), 14);
    CHECK_CONTAINS(t, "flywheel_monitor_metric{model=\"spam\",version=\"3\",metric=\"roc_auc\",source=\"live\"} 0.91\n");
    CHECK_CONTAINS(t, "flywheel_monitor_metric{model=\"spam\",version=\"3\",metric=\"roc_auc\",source=\"estimated\"} 0.93\n");
    CHECK_CONTAINS(t, "flywheel_monitor_metric_lower{model=\"spam\",version=\"3\",metric=\"roc_auc\",source=\"live\"} 0.88\n");
    CHECK_CONTAINS(t, "flywheel_monitor_labels_joined_total{model=\"spam\",version=\"3\"} 650\n");
    CHECK(!strstr(t, "flywheel_monitor_metric{model=\"churn\""));
    /* the slices: metric where there is one, labelled rows and alarm state for each */
    CHECK_EQ(count_lines(t, "flywheel_monitor_slice_metric{model=\"spam\",version=\"3\",column=\"region\""), 17);
    CHECK_EQ(count_lines(t, "flywheel_monitor_slice_labels{"), 18);
    CHECK_EQ(count_lines(t, "flywheel_monitor_slice_alarm{"), 18);
    CHECK_CONTAINS(t, "flywheel_monitor_slice_metric{model=\"spam\",version=\"3\",column=\"region\",slice=\"v00\","
                      "metric=\"roc_auc\"} 0.5\n");
    CHECK(!strstr(t, "slice=\"v03\",metric="));
    CHECK_CONTAINS(t, "flywheel_monitor_slice_labels{model=\"spam\",version=\"3\",column=\"region\",slice=\"(other)\"} 56\n");
    CHECK_CONTAINS(t, "flywheel_monitor_slice_alarm{model=\"spam\",version=\"3\",column=\"region\",slice=\"v07\"} 1\n");
    CHECK_CONTAINS(t, "flywheel_monitor_slice_alarm{model=\"spam\",version=\"3\",column=\"region\",slice=\"v08\"} 0\n");
    CHECK_CONTAINS(t, "slice=\"s\\\"o\\\\uth\\n\"} 45\n");
    /* every sample line has a family declared before it */
    CHECK_EQ(count_lines(t, "# TYPE flywheel_monitor_"), 15);
    fw_buf_free(&b);
}

static void test_promtool_accepts(void) {
    fw_buf b;
    fw_buf_init(&b);
    fw_metrics_monitor_column cols[60];
    char names[60][24];
    render(&b, cols, names);
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.txt", fw_test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs((const char *)b.data, f);
    fclose(f);
    fw_buf_free(&b);
    char *out = NULL;
    int rc = fw_test_sh(&out, "command -v promtool >/dev/null || { echo 'promtool missing: scripts/install-deps.sh'; exit 99; }; "
                              "promtool check metrics < '%s'", path);
    CHECK_MSG(rc == 0, "promtool check metrics: exit %d: %s", rc, out ? out : "");
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_series);
    TEST_RUN(test_promtool_accepts);
    return fw_test_report(argv[0]);
}
