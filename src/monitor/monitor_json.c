/* monitor_json.c — owns the JSON spellings of the monitor (monitor.h): one alarm (the record every
 * reader prints: `monitor --json`, the endpoint, the hooks) and the state that
 * GET /v1/models/{name}/monitor answers. */
#include "monitor/monitor_int.h"

#include "core/json_out.h"

#include <math.h>
#include <string.h>

void fw_monitor_alarm_json(const fw_alarm *a, fw_buf *out) {
    fw_buf_printf(out, "{\"row\":%llu,\"kind\":", (unsigned long long)a->row);
    fw_json_put_str(out, fw_alarm_kind_name(a->kind));
    fw_buf_printf(out, ",\"column\":");
    fw_json_put_str(out, a->column[0] ? a->column : NULL);
    if (a->slice[0]) { /* a slice's performance alarm: the value of the group column */
        fw_buf_printf(out, ",\"slice\":");
        fw_json_put_str(out, a->slice);
    }
    fw_buf_printf(out, ",\"statistic\":");
    fw_json_put_str(out, a->statistic);
    fw_buf_printf(out, ",\"value\":");
    fw_json_put_f64(out, a->value);
    fw_buf_printf(out, ",\"threshold\":");
    fw_json_put_f64(out, a->threshold);
    fw_buf_printf(out, ",\"ts_ms\":%lld,\"detail\":", (long long)a->ts_ms);
    fw_json_put_str(out, a->detail);
    fw_buf_put_u8(out, '}');
}

static void put_num_key(fw_buf *out, const char *key, double v) {
    fw_buf_printf(out, ",\"%s\":", key);
    fw_json_put_f64(out, v);
}

fw_status fw_monitor_state_json(fw_monitor *mon, fw_buf *out) {
    fw_err berr;
    fw_status bst = fw_monitor_build(mon, &berr); /* built on first use (monitor.h) */
    if (bst) return bst;
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    const fw_monitor_settings *s = &mon->s;
    fw_buf_printf(out, "{\"model\":");
    fw_json_put_str(out, mon->model->name);
    fw_buf_printf(out, ",\"version\":");
    fw_json_put_str(out, mon->model->version);
    fw_buf_printf(out, ",\"rows\":%llu,\"blocks\":%llu,\"errors\":%llu", (unsigned long long)k.rows,
                  (unsigned long long)k.blocks, (unsigned long long)k.errors);
    fw_buf_printf(out, ",\"settings\":{\"step_rows\":%u,\"window_rows\":%u,\"quality_rows\":%u", s->step_rows,
                  s->window_rows, s->quality_rows);
    put_num_key(out, "block_seconds", s->block_seconds);
    put_num_key(out, "sensitivity", s->sensitivity);
    fw_buf_printf(out, ",\"drift\":%s}", s->drift ? "true" : "false");
    pthread_mutex_lock(&mon->test_mu);
    fw__monitor_drain_locked(mon);
    fw_buf_printf(out, ",\"alarms\":[");
    size_t n = mon->n_cols * MON_COL_ALARMS + MON_MODEL_ALARMS, w = 0;
    for (size_t i = 0; i < n; i++)
        if (mon->alarms[i].active) {
            if (w++) fw_buf_put_u8(out, ',');
            fw_monitor_alarm_json(&mon->alarms[i].rec, out);
        }
    fw_buf_printf(out, "],\"raised\":{");
    for (int kd = 0; kd < FW_ALARM_KIND_COUNT; kd++)
        fw_buf_printf(out, "%s\"%s\":%llu", kd ? "," : "", fw_alarm_kind_name((fw_alarm_kind)kd),
                      (unsigned long long)mon->raised[kd]);
    fw_buf_printf(out, "},\"columns\":[");
    for (size_t i = 0; i < mon->n_cols; i++) {
        const mon_col *c = &mon->cols[i];
        if (c->output) continue;
        if (i) fw_buf_put_u8(out, ',');
        fw_buf_printf(out, "{\"name\":");
        fw_json_put_str(out, c->name);
        fw_buf_printf(out, ",\"type\":\"%s\",\"reference\":%s,\"statistic\":", fw_col_type_name(c->type),
                      c->det ? "true" : "false");
        fw_json_put_str(out, c->stat[0] ? c->stat : NULL);
        put_num_key(out, "drift", c->drift);
        put_num_key(out, "drift_threshold", c->drift_thr);
        put_num_key(out, "missing_rate", c->missing_rate);
        put_num_key(out, "unseen_rate", c->unseen_rate);
        put_num_key(out, "out_of_range_rate", c->oor_rate);
        fw_buf_printf(out, ",\"schema_violations\":%llu}", (unsigned long long)c->schema_rows);
    }
    fw_buf_printf(out, "],\"predictions\":[");
    w = 0;
    for (size_t i = 0; i < mon->n_cols; i++) {
        const mon_col *c = &mon->cols[i];
        if (!c->output) continue;
        if (w++) fw_buf_put_u8(out, ',');
        fw_buf_printf(out, "{\"output\":");
        fw_json_put_str(out, c->name);
        fw_buf_printf(out, ",\"statistic\":");
        fw_json_put_str(out, c->stat[0] ? c->stat : NULL);
        put_num_key(out, "drift", c->drift);
        put_num_key(out, "drift_threshold", c->drift_thr);
        fw_buf_put_u8(out, '}');
    }
    fw__monitor_latency_quantiles(mon);
    fw_buf_printf(out, "],\"latency\":{\"n\":%zu", mon->lat_n);
    static const char *const qn[3] = {"p50_ms", "p90_ms", "p99_ms"};
    static const char *const bn[3] = {"budget_p50_ms", "budget_p90_ms", "budget_p99_ms"};
    for (int q = 0; q < 3; q++) put_num_key(out, qn[q], mon->lat_n ? mon->lat_q[q] : NAN);
    for (int q = 0; q < 3; q++) put_num_key(out, bn[q], mon->budget[q] > 0 ? mon->budget[q] : NAN);
    fw_buf_put_u8(out, '}');
    pthread_mutex_unlock(&mon->test_mu);
    fw_buf_printf(out, ",\"performance\":");
    if (mon->perf) {
        fw_status st = fw_perf_state_json(mon->perf, out);
        if (st) return st;
    } else {
        fw_buf_printf(out, "null");
    }
    fw_buf_put_u8(out, '}');
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}
