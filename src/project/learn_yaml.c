/* learn_yaml.c — owns reading and writing the learn: section of the project file as YAML (see
 * project/learn.h): the parser with its errors (file, line, column, key path) and the writer that
 * round-trips it. */
#include "project/learn.h"

#include "core/alloc.h"
#include "core/dtoa.h"
#include "core/yaml_read.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- parsing -------------------------------------------------------------------------------- */

static const char *const k_learn_keys[] = {"rows", "window", "half_life", "base", "base_data", "gate", "every",
                                           "on_alarm", "after_labels", "promote", "min_interval", "online",
                                           "snapshot", NULL};
static const char *const k_window_keys[] = {"rows", "max_age", NULL};
static const char *const k_gate_keys[] = {"min_improvement", "confidence", "min_rows", "holdout", "holdout_rows",
                                          "resamples", "seed", NULL};
static const char *const k_snapshot_keys[] = {"updates", "interval", NULL};
static const char *const k_rows[] = {"window", "decay", NULL};
static const char *const k_promote[] = {"none", "auto", NULL};
static const char *const k_alarms[] = {"drift", "performance", "quality", NULL};

typedef struct lctx {
    fw_learn_spec *l;
    bool window_given, half_life_given;
    const yaml_node_t *window_node, *half_life_node, *snapshot_node;
} lctx;

static fw_status get_duration(fw_yaml *y, const yaml_node_t *v, const char *path, bool positive, double *out) {
    const char *s = fw_yaml_scalar(v);
    if (!s || fw_yaml_is_null(v))
        return fw_yaml_error(y, v, "'%s': expected a duration (90s, 15m, 6h, 7d, 2w or seconds), got %s", path,
                             s ? "nothing" : fw_yaml_kind(v));
    double d;
    if (!fw_learn_parse_duration(s, &d))
        return fw_yaml_error(y, v, "'%s': expected a duration (90s, 15m, 6h, 7d, 2w or seconds), got '%s'", path, s);
    if (positive && !(d > 0)) return fw_yaml_error(y, v, "'%s': must be longer than 0, got '%s'", path, s);
    *out = d;
    return FW_OK;
}

static fw_status window_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    lctx *c = ud;
    (void)k;
    c->window_given = true;
    if (key == 0) return fw_yaml_get_int(y, v, "learn.window.rows", 0, UINT64_MAX, &c->l->window_rows);
    return get_duration(y, v, "learn.window.max_age", false, &c->l->window_max_age_s);
}

static fw_status gate_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    lctx *c = ud;
    fw_learn_spec *l = c->l;
    (void)k;
    switch (key) {
    case 0: return fw_yaml_get_double(y, v, "learn.gate.min_improvement", 0, 1e300, &l->min_improvement);
    case 1: {
        fw_status st = fw_yaml_get_double(y, v, "learn.gate.confidence", 0, 1, &l->confidence);
        if (st) return st;
        if (!(l->confidence >= 0.5 && l->confidence < 1))
            return fw_yaml_error(y, v, "'learn.gate.confidence': expected a level in [0.5, 1) such as 0.95, got '%s'",
                                 fw_yaml_scalar(v));
        return FW_OK;
    }
    case 2: return fw_yaml_get_int(y, v, "learn.gate.min_rows", 2, UINT64_MAX, &l->min_rows);
    case 3: {
        fw_status st = fw_yaml_get_double(y, v, "learn.gate.holdout", 0, 0.9, &l->holdout);
        if (st) return st;
        if (!(l->holdout > 0))
            return fw_yaml_error(y, v, "'learn.gate.holdout': the share of labelled rows held out must be above 0 "
                                 "(the gate needs rows no challenger trained on)");
        return FW_OK;
    }
    case 4: return fw_yaml_get_int(y, v, "learn.gate.holdout_rows", 0, UINT64_MAX, &l->holdout_rows);
    case 5: return fw_yaml_get_u32(y, v, "learn.gate.resamples", 100, 100000, &l->resamples);
    case 6: return fw_yaml_get_int(y, v, "learn.gate.seed", 0, UINT64_MAX, &l->seed);
    }
    return FW_OK;
}

static fw_status snapshot_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    lctx *c = ud;
    (void)k;
    if (key == 0) return fw_yaml_get_int(y, v, "learn.snapshot.updates", 0, UINT64_MAX, &c->l->snapshot_updates);
    return get_duration(y, v, "learn.snapshot.interval", false, &c->l->snapshot_interval_s);
}

static fw_status parse_on_alarm(fw_yaml *y, const yaml_node_t *v, unsigned *out) {
    if (v->type == YAML_SCALAR_NODE) {
        bool b;
        const char *s = fw_yaml_scalar(v);
        for (int i = 0; k_alarms[i]; i++)
            if (!strcmp(s, k_alarms[i])) {
                *out = 1u << i;
                return FW_OK;
            }
        fw_err keep = *y->err;
        if (fw_yaml_get_bool(y, v, "learn.on_alarm", &b) == FW_OK) {
            *out = b ? FW_LEARN_ALARM_DRIFT | FW_LEARN_ALARM_PERFORMANCE : 0;
            return FW_OK;
        }
        *y->err = keep;
        return fw_yaml_error(y, v,
                             "'learn.on_alarm': expected true, false, or alarm kinds (drift, performance, quality), "
                             "got '%s'", s);
    }
    size_t n;
    fw_status st = fw_yaml_list(y, v, "learn.on_alarm", "true, false or a list of alarm kinds", 16, &n);
    if (st) return st;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = fw_yaml_item(y, v, i);
        int e;
        if (!it) return fw_yaml_error(y, v, "'learn.on_alarm': malformed list");
        if ((st = fw_yaml_get_enum(y, it, "learn.on_alarm", k_alarms, &e))) return st;
        if (bits & (1u << e)) return fw_yaml_error(y, it, "'learn.on_alarm': '%s' is listed twice", k_alarms[e]);
        bits |= 1u << e;
    }
    *out = bits;
    return FW_OK;
}

static fw_status learn_pair(fw_yaml *y, int key, yaml_node_t *v, yaml_node_t *k, void *ud) {
    lctx *c = ud;
    fw_learn_spec *l = c->l;
    fw_status st;
    int e;
    (void)k;
    switch (key) {
    case 0:
        if ((st = fw_yaml_get_enum(y, v, "learn.rows", k_rows, &e))) return st;
        l->rows = (fw_learn_rows)e;
        return FW_OK;
    case 1:
        c->window_node = v;
        if (fw_yaml_is_null(v)) return FW_OK;
        return fw_yaml_walk_map(y, v, "learn.window", k_window_keys, window_pair, c);
    case 2:
        c->half_life_given = true;
        c->half_life_node = v;
        return get_duration(y, v, "learn.half_life", true, &l->half_life_s);
    case 3: return fw_yaml_get_bool(y, v, "learn.base", &l->base);
    case 4:
        if ((st = fw_yaml_get_str(y, v, "learn.base_data", &l->base_data))) return st;
        if (l->base_data && !*l->base_data) return fw_yaml_error(y, v, "'learn.base_data': empty path");
        return FW_OK;
    case 5:
        if (fw_yaml_is_null(v)) return FW_OK;
        return fw_yaml_walk_map(y, v, "learn.gate", k_gate_keys, gate_pair, c);
    case 6: return get_duration(y, v, "learn.every", false, &l->every_s);
    case 7: return parse_on_alarm(y, v, &l->on_alarm);
    case 8: return fw_yaml_get_int(y, v, "learn.after_labels", 0, UINT64_MAX, &l->after_labels);
    case 9:
        if ((st = fw_yaml_get_enum(y, v, "learn.promote", k_promote, &e))) return st;
        l->promote_auto = e == 1;
        return FW_OK;
    case 10: return get_duration(y, v, "learn.min_interval", false, &l->min_interval_s);
    case 11: return fw_yaml_get_bool(y, v, "learn.online", &l->online);
    case 12:
        c->snapshot_node = v;
        if (fw_yaml_is_null(v)) return FW_OK;
        return fw_yaml_walk_map(y, v, "learn.snapshot", k_snapshot_keys, snapshot_pair, c);
    }
    return FW_OK;
}

fw_status fw_learn_parse(fw_yaml *y, const yaml_node_t *v, const yaml_node_t *key, fw_learn_spec *l) {
    fw_learn_spec_free(l);
    l->set = true;
    l->line = key ? fw_yaml_line(key) : 0;
    if (fw_yaml_is_null(v)) return FW_OK;
    lctx c = {.l = l};
    fw_status st = fw_yaml_walk_map(y, v, "learn", k_learn_keys, learn_pair, &c);
    if (st) return st;
    /* the keys together */
    if (l->rows == FW_LEARN_ROWS_DECAY && c.window_given)
        return fw_yaml_error(y, c.window_node, "'learn.window' is for 'learn.rows: window' (rows: decay weights "
                             "every row by its age: give 'learn.half_life')");
    if (l->rows == FW_LEARN_ROWS_WINDOW && c.half_life_given)
        return fw_yaml_error(y, c.half_life_node, "'learn.half_life' is for 'learn.rows: decay' (this section's "
                             "rows are a window)");
    if ((l->snapshot_updates || l->snapshot_interval_s > 0) && !l->online)
        return fw_yaml_error(y, c.snapshot_node, "'learn.snapshot' is for online learning: set 'learn.online: true'");
    return FW_OK;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void put_num(fw_buf *b, double v) {
    char tmp[FW_DTOA_MAX];
    fw_buf_put(b, tmp, fw_dtoa(v, tmp));
}

/* A duration in the largest unit that divides it (so it reads back to the same double). */
static void put_duration(fw_buf *b, double s) {
    static const struct { double sec; char unit; } units[] = {{7 * 86400.0, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        double q = s / units[i].sec;
        if (s > 0 && q == floor(q) && q < 1e15 && q * units[i].sec == s) {
            fw_buf_printf(b, "%.0f%c", q, units[i].unit);
            return;
        }
    }
    put_num(b, s);
    fw_buf_put_u8(b, 's');
}

void fw_learn_write(const fw_learn_spec *l, fw_buf *b) {
    if (!l->set) return;
    fw_buf_printf(b, "learn:\n  rows: %s\n", fw_learn_rows_name(l->rows));
    if (l->rows == FW_LEARN_ROWS_WINDOW) {
        fw_buf_printf(b, "  window:\n    rows: %llu\n    max_age: ", (unsigned long long)l->window_rows);
        put_duration(b, l->window_max_age_s);
        fw_buf_put_u8(b, '\n');
    } else {
        fw_buf_printf(b, "  half_life: ");
        put_duration(b, l->half_life_s);
        fw_buf_put_u8(b, '\n');
    }
    fw_buf_printf(b, "  base: %s\n", l->base ? "true" : "false");
    fw_buf_printf(b, "  gate:\n    min_improvement: ");
    put_num(b, l->min_improvement);
    fw_buf_printf(b, "\n    confidence: ");
    put_num(b, l->confidence);
    fw_buf_printf(b, "\n    min_rows: %llu\n    holdout: ", (unsigned long long)l->min_rows);
    put_num(b, l->holdout);
    fw_buf_printf(b, "\n    holdout_rows: %llu\n    resamples: %u\n    seed: %llu\n", (unsigned long long)l->holdout_rows,
                  l->resamples, (unsigned long long)l->seed);
    fw_buf_printf(b, "  every: ");
    put_duration(b, l->every_s);
    fw_buf_printf(b, "\n  on_alarm: [");
    bool first = true;
    for (int i = 0; k_alarms[i]; i++)
        if (l->on_alarm & (1u << i)) {
            fw_buf_printf(b, "%s%s", first ? "" : ", ", k_alarms[i]);
            first = false;
        }
    fw_buf_printf(b, "]\n  after_labels: %llu\n  promote: %s\n  min_interval: ", (unsigned long long)l->after_labels,
                  l->promote_auto ? "auto" : "none");
    put_duration(b, l->min_interval_s);
    fw_buf_printf(b, "\n  online: %s\n", l->online ? "true" : "false");
    if (l->online) {
        fw_buf_printf(b, "  snapshot:\n    updates: %llu\n    interval: ", (unsigned long long)l->snapshot_updates);
        put_duration(b, l->snapshot_interval_s);
        fw_buf_put_u8(b, '\n');
    }
}
