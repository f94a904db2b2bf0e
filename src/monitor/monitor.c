/* monitor.c — owns the monitor of one served model version (monitor.h): building it from the model
 * and its artifact, the per-request observation (cells outside any lock, counts under a short
 * mutex), closing blocks by count (or time), testing closed windows in row order (mstat's
 * detectors for drift and the missing rate, rate CUSUMs for unseen categories, out-of-range values
 * and expectation violations, latency percentiles against the budget), the performance tracker
 * (mperf's perf.h) it feeds, and the raise / clear bookkeeping of alarms. The JSON views are in
 * monitor_json.c. */
#include "monitor/monitor_int.h"

#include "artifact/artifact.h"
#include "monitor/bins.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/dtoa.h"
#include "core/hash.h"
#include "core/select.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw_monitor_settings_init(fw_monitor_settings *s) {
    memset(s, 0, sizeof *s);
    s->step_rows = 50;
    s->window_rows = 1000;
    s->quality_rows = 200;
    s->block_seconds = 0;
    s->sensitivity = 1;
    s->p99_ms = -1;
    s->drift = true;
}

/* ---- building --------------------------------------------------------------------------------- */

static fw_status add_expectation(fw_monitor *mon, const char *column, double min, double max,
                                 const char *const *allowed, size_t n_allowed, double max_missing, fw_err *err) {
    mon_col *c = NULL;
    for (size_t i = 0; i < mon->n_cols; i++)
        if (!mon->cols[i].output && strcmp(mon->cols[i].name, column) == 0) c = &mon->cols[i];
    if (!c) return fw_err_set(err, FW_EINVAL, "expectations: '%s' is not a watched input of model %s", column, mon->model->name);
    if (!isnan(min)) c->ex_min = min;
    if (!isnan(max)) c->ex_max = max;
    if (max_missing >= 0) c->ex_max_missing = max_missing;
    if (n_allowed) {
        if (!c->ex_allowed_on) fw_strmap_init(&c->ex_allowed);
        c->ex_allowed_on = true;
        for (size_t k = 0; k < n_allowed; k++)
            if (fw_strmap_get(&c->ex_allowed, allowed[k], strlen(allowed[k])) < 0 &&
                fw_strmap_put(&c->ex_allowed, allowed[k], strlen(allowed[k]), (uint32_t)k))
                return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    c->expect_on = !isnan(c->ex_min) || !isnan(c->ex_max) || c->ex_allowed_on;
    return FW_OK;
}

/* The project recorded in the artifact: constraints.p99_latency_ms and expectations:. */
static fw_status from_project(fw_monitor *mon, const fw_monitor_settings *s, fw_project *p, fw_err *err) {
    const uint8_t *yaml;
    size_t n;
    if (!mon->model->bundle || !fw_bundle_meta_bytes(mon->model->bundle, "train.project_yaml", &yaml, &n)) return FW_OK;
    fw_err e;
    fw_err_clear(&e);
    if (fw_project_parse((const char *)yaml, n, "recorded project", p, &e) != FW_OK) { /* older text */
        fw_project_init(p);
        return FW_OK;
    }
    fw_status st = FW_OK;
    if (s->p99_ms < 0) mon->budget[2] = p->constraints.p99_latency_ms;
    for (size_t i = 0; i < p->n_expectations && st == FW_OK; i++) {
        const fw_expectation *x = &p->expectations[i];
        bool watched = false;
        for (size_t c = 0; c < mon->n_cols; c++) watched |= !mon->cols[c].output && !strcmp(mon->cols[c].name, x->column);
        if (!watched) continue; /* a column the settings do not watch */
        st = add_expectation(mon, x->column, x->min, x->max, (const char *const *)x->allowed, x->n_allowed,
                             x->max_missing, err);
    }
    return st;
}

static fw_status col_init(fw_monitor *mon, mon_col *c, const fw_ref_column *ref, const fw_detector_settings *ds,
                          fw_err *err) {
    c->ex_min = c->ex_max = NAN;
    c->ex_max_missing = -1;
    c->ref_min = c->ref_max = NAN;
    c->drift = c->drift_thr = NAN;
    c->missing_rate = c->unseen_rate = c->oor_rate = NAN;
    c->stat = "";
    c->n_slots = 2; /* without a detector: present, missing */
    c->missing_slot = 1;
    if (ref && mon->s.drift && c->type != FW_COL_TIMESTAMP) { /* timestamps: watched for missing values only */
        fw_status st = fw_detector_create(ref, ds, &c->det, err);
        if (st) return fw_err_prefix(err, "monitor of column '%s'", c->name);
        if ((st = fw_detector_state_new(c->det, &c->dst))) return fw_err_set(err, st, "out of memory");
        c->n_slots = fw_detector_n_slots(c->det);
        c->missing_slot = fw_detector_missing_slot(c->det);
    }
    if (ref && !c->output) {
        double alpha = fw_detector_alpha_row(ds);
        double nonmissing = (double)(ref->n_rows - ref->n_missing);
        if (c->type == FW_COL_NUMERIC && !isnan(ref->min) && !isnan(ref->max)) {
            c->ref_min = ref->min;
            c->ref_max = ref->max;
            /* a new value falls outside the range of N training values with probability 2/(N+1) */
            fw_rate_cusum_init(&c->oor, 2, nonmissing, 0.05, alpha);
            c->oor_on = true;
        }
        if (c->type == FW_COL_CATEGORICAL && mon->model->pipeline &&
            fw_pipeline_category_known(mon->model->pipeline, c->input, "", 0) >= 0) {
            /* the unseen mass is at most the share of distinct values beyond the top N (Good-Turing:
             * the share of values seen once) */
            double tail = ref->n_distinct > ref->n_top ? (double)(ref->n_distinct - ref->n_top) : 0;
            if (tail > (double)ref->other_count) tail = (double)ref->other_count;
            fw_rate_cusum_init(&c->unseen, tail, nonmissing, 0.05, alpha);
            c->unseen_on = true;
            c->unseen_ref_n = nonmissing;
        }
    }
    return FW_OK;
}

/* Names in s->columns that are not inputs → an error naming the first. */
static fw_status pick_columns(const fw_srv_model *m, const fw_monitor_settings *s, bool *watch, fw_err *err) {
    for (size_t i = 0; i < m->n_inputs; i++) watch[i] = s->columns == NULL;
    for (size_t k = 0; s->columns && k < s->n_columns; k++) {
        int64_t i = fw_strmap_get(&m->input_index, s->columns[k], strlen(s->columns[k]));
        if (i < 0) return fw_err_set(err, FW_EINVAL, "monitoring.columns: '%s' is not an input of model %s", s->columns[k], m->name);
        watch[i] = true;
    }
    return FW_OK;
}

static fw_status perf_init(fw_monitor *mon, const fw_monitor_settings *s, const fw_project *p, fw_err *err) {
    const fw_srv_model *m = mon->model;
    if (m->task != FW_TASK_BINARY && m->task != FW_TASK_MULTICLASS && m->task != FW_TASK_REGRESSION) return FW_OK;
    fw_perf_model pm;
    memset(&pm, 0, sizeof pm);
    pm.task = m->task;
    pm.n_outputs = m->n_outputs;
    pm.classes = (const char *const *)m->classes;
    pm.n_classes = m->n_classes;
    pm.threshold = m->threshold;
    pm.reference = NAN;
    pm.reference_se = NAN;
    pm.input_names = (const char *const *)m->input_names;
    pm.n_inputs = m->n_inputs;
    pm.slice_columns = s->groups ? s->groups : (const char *const *)p->group_columns;
    pm.n_slice_columns = s->groups ? s->n_groups : p->n_group_columns;
    if (m->bundle) {
        pm.primary = fw_bundle_meta_str(m->bundle, "metric.primary");
        if (pm.primary && !*pm.primary) pm.primary = NULL;
        fw_bundle_meta_f64(m->bundle, "metric.model", &pm.reference);
        int64_t n_test = 0;
        if (fw_bundle_meta_i64(m->bundle, FW_KV_N_TEST, &n_test) && n_test > 0) pm.reference_rows = (size_t)n_test;
    }
    fw_perf_settings ps;
    fw_perf_settings_init(&ps);
    if (mon->s.block_seconds <= 0) ps.window_seconds = 0;
    if (s->join_table) ps.table_slots = s->join_table;
    fw_status st = fw_perf_new(&pm, &ps, &mon->perf, err);
    if (st == FW_OK && mon->s.on_perf_window) fw_perf_set_closer(mon->perf, mon->s.on_perf_window, mon->s.ud);
    if (st == FW_OK && s->perf_home && s->perf_version > 0) {
        st = fw_perf_store_lookup_new(s->perf_home, m->name, s->perf_version, &pm, &mon->perf_lookup, err);
        if (st == FW_OK) fw_perf_set_lookup(mon->perf, fw_perf_store_lookup_fn, mon->perf_lookup);
    }
    return st ? fw_err_prefix(err, "monitor of model %s", m->name) : FW_OK;
}

/* ---- the recipe (fw_monitor_new) and the lazy build ---------------------------------------------- */

static void strs_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) fw_free(v[i]);
    fw_free(v);
}

static char **strs_dup(const char *const *v, size_t n) {
    char **o = fw_calloc(n ? n : 1, sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        if (!(o[i] = fw_strdup(v[i] ? v[i] : ""))) {
            strs_free(o, n);
            return NULL;
        }
    return o;
}

static void recipe_free(mon_recipe *r) {
    strs_free(r->columns, r->n_columns);
    strs_free(r->groups, r->n_groups);
    for (size_t i = 0; r->expect && i < r->n_expect; i++) {
        fw_free((char *)r->expect[i].column);
        strs_free((char **)r->expect[i].allowed, r->expect[i].n_allowed);
    }
    fw_free(r->expect);
    memset(r, 0, sizeof *r);
}

static fw_status recipe_copy(mon_recipe *r, const fw_monitor_settings *s) {
    if (s->columns && !(r->columns = strs_dup(s->columns, s->n_columns))) return FW_ENOMEM;
    r->n_columns = s->columns ? s->n_columns : 0;
    if (s->groups && !(r->groups = strs_dup(s->groups, s->n_groups))) return FW_ENOMEM;
    r->n_groups = s->groups ? s->n_groups : 0;
    if (s->expect && s->n_expect) {
        if (!(r->expect = fw_calloc(s->n_expect, sizeof *r->expect))) return FW_ENOMEM;
        for (size_t i = 0; i < s->n_expect; i++) {
            fw_monitor_expect *x = &r->expect[i];
            *x = s->expect[i];
            x->column = NULL;
            x->allowed = NULL;
            x->n_allowed = 0;
            r->n_expect = i + 1;
            if (!(x->column = fw_strdup(s->expect[i].column))) return FW_ENOMEM;
            if (s->expect[i].allowed && s->expect[i].n_allowed) {
                if (!(x->allowed = (const char *const *)strs_dup(s->expect[i].allowed, s->expect[i].n_allowed)))
                    return FW_ENOMEM;
                x->n_allowed = s->expect[i].n_allowed;
            }
        }
    }
    return FW_OK;
}

/* Frees what build made (NULL-safe: a build that failed half-way), leaving the monitor unbuilt. */
static void body_free(fw_monitor *mon) {
    for (size_t i = 0; mon->cols && i < mon->n_cols; i++) {
        mon_col *c = &mon->cols[i];
        fw_detector_state_free(c->dst);
        fw_detector_free(c->det);
        if (c->ex_allowed_on) fw_strmap_free(&c->ex_allowed);
        fw_free(c->q_rows);
        fw_free(c->q_missing);
        fw_free(c->q_unseen);
        fw_free(c->q_oor);
        fw_free(c->top_known);
    }
    fw_free(mon->cols);
    mon->cols = NULL;
    fw_free(mon->hot);
    fw_free(mon->hot_edges);
    mon->hot = NULL;
    mon->hot_edges = NULL;
    mon->n_hot_num = mon->n_hot_out = 0;
    mon->n_cols = mon->n_inputs_watched = 0;
    for (uint32_t b = 0; mon->ring && b < mon->ring_cap; b++) {
        fw_free(mon->ring[b].counts);
        fw_free(mon->ring[b].lat);
        fw_free(mon->ring[b].newcomer);
    }
    fw_free(mon->ring);
    mon->ring = NULL;
    mon->ring_cap = 0;
    for (int i = 0; i < MON_SHARDS; i++) {
        fw_free(mon->shard[i]);
        mon->shard[i] = NULL;
    }
    for (int i = 0; i < MON_SPARES; i++) fw_free(atomic_exchange(&mon->spare[i], NULL));
    mon->shard_used = 0;
    fw_free(mon->lat_ring);
    fw_free(mon->lat_tmp);
    fw_free(mon->alarms);
    fw_free(mon->hist_row);
    fw_free(mon->hist_val);
    mon->lat_ring = mon->lat_tmp = NULL;
    mon->alarms = NULL;
    mon->hist_row = NULL;
    mon->hist_val = NULL;
    fw_perf_free(mon->perf);
    fw_perf_store_lookup_free(mon->perf_lookup);
    mon->perf = NULL;
    mon->perf_lookup = NULL;
}

/* Column c's top_known (monitor_int.h): whether the pipeline knows each of its detector's top values. */
static fw_status top_known_init(const fw_monitor *mon, mon_col *c) {
    if (!c->unseen_on || !c->det || fw_detector_numeric(c->det)) return FW_OK;
    size_t len;
    uint32_t n = 0;
    while (fw_detector_top_value(c->det, n, &len)) n++;
    if (!n) return FW_OK;
    if (!(c->top_known = fw_malloc(n))) return FW_ENOMEM;
    for (uint32_t j = 0; j < n; j++) {
        const char *v = fw_detector_top_value(c->det, j, &len);
        c->top_known[j] = (uint8_t)(fw_pipeline_category_known(mon->model->pipeline, c->input, v, len) > 0);
    }
    c->n_top_known = n;
    return FW_OK;
}

/* The per-row loop's view of the columns (monitor_int.h mon_hot), once the columns, their layout and
 * expectations are set. */
enum { HOT_NUMERIC = 0, HOT_OUTPUT, HOT_GENERAL };

static int hot_path(const mon_col *c, const double **inner, uint32_t *n) {
    *inner = NULL;
    *n = 0;
    if (c->type != FW_COL_NUMERIC) return HOT_GENERAL;
    if (c->det && (!(*inner = fw_detector_inner_edges(c->det, n)) || *n > (1u << FW_BINS_MAX_LOG2))) return HOT_GENERAL;
    return c->output ? HOT_OUTPUT : HOT_NUMERIC; /* no detector: no edges, every number in slot 0 */
}

static fw_status hot_init(fw_monitor *mon, fw_err *err) {
    for (size_t i = 0; i < mon->n_cols; i++)
        if (top_known_init(mon, &mon->cols[i])) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t pads = 0;
    for (size_t i = 0; i < mon->n_cols; i++) {
        const double *inner;
        uint32_t n;
        if (hot_path(&mon->cols[i], &inner, &n) != HOT_GENERAL) pads += (size_t)1 << fw_bins_log2(n);
    }
    mon->hot = fw_calloc(mon->n_cols + 1, sizeof *mon->hot);
    mon->hot_edges = fw_malloc((pads + 1) * sizeof *mon->hot_edges);
    if (!mon->hot || !mon->hot_edges) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t k = 0, at = 0;
    for (int path = HOT_NUMERIC; path <= HOT_GENERAL; path++)
        for (size_t i = 0; i < mon->n_cols; i++) {
            const mon_col *c = &mon->cols[i];
            const double *inner;
            uint32_t n;
            if (hot_path(c, &inner, &n) != path) continue;
            mon_hot *h = &mon->hot[k++];
            h->col = (uint32_t)i;
            h->input = (uint32_t)c->input;
            h->base = (uint32_t)c->off;
            h->missing = h->base + c->missing_slot;
            h->oor = h->base + c->n_slots + X_OOR;
            h->expect = h->base + c->n_slots + X_EXPECT;
            h->lo = c->oor_on ? c->ref_min : -INFINITY;
            h->hi = c->oor_on ? c->ref_max : INFINITY;
            h->ex_on = !isnan(c->ex_min) || !isnan(c->ex_max);
            h->ex_lo = isnan(c->ex_min) ? -INFINITY : c->ex_min;
            h->ex_hi = isnan(c->ex_max) ? INFINITY : c->ex_max;
            if (path == HOT_NUMERIC) mon->n_hot_num++;
            if (path == HOT_OUTPUT) mon->n_hot_out++;
            if (path == HOT_GENERAL) continue;
            h->k = fw_bins_log2(n);
            h->edges = mon->hot_edges + at;
            for (uint32_t j = 0; j < (1u << h->k); j++) mon->hot_edges[at + j] = j < n ? inner[j] : NAN;
            at += (size_t)1 << h->k;
        }
    return FW_OK;
}

/* Builds the body from the model and the recipe (build_mu held; the monitor is unbuilt). */
static fw_status build(fw_monitor *mon, fw_err *err) {
    const fw_srv_model *m = mon->model;
    fw_monitor_settings s = mon->s;
    s.columns = (const char *const *)mon->recipe.columns;
    s.n_columns = mon->recipe.n_columns;
    s.expect = mon->recipe.expect;
    s.n_expect = mon->recipe.n_expect;
    s.groups = (const char *const *)mon->recipe.groups;
    s.n_groups = mon->recipe.n_groups;
    bool *watch = fw_calloc(m->n_inputs + 1, sizeof *watch);
    if (!watch) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_project proj;
    fw_project_init(&proj);
    fw_status st = pick_columns(m, &s, watch, err);
    const fw_reference *ref = s.reference ? s.reference : m->bundle ? fw_bundle_reference(m->bundle) : NULL;
    size_t n_watch = 0;
    for (size_t i = 0; i < m->n_inputs; i++) n_watch += watch[i];
    size_t n_out = ref && s.drift ? ref->n_outputs : 0;
    if (n_out > m->n_outputs) n_out = m->n_outputs;
    mon->cols = fw_calloc(n_watch + n_out + 1, sizeof *mon->cols);
    if (!st && !mon->cols) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_detector_settings ds;
    fw_detector_settings_init(&ds);
    ds.window_rows = s.window_rows;
    ds.step_rows = s.step_rows;
    ds.false_alarms_per_100k *= s.sensitivity;
    ds.defer_calibration = true; /* at the first full window, or fw_monitor_prepare's thread */
    ds.effect_when_over = true;  /* run_tests reads the chi-square's PSI of active checks only */
    /* the family: each watched input's three detector tests, the outputs' detectors, and the
     * monitor's own rate tests (unseen, out of range, expectations: up to one per column each) */
    uint32_t n_det = 0, n_rate = 0;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (watch[i] && ref && fw_reference_column(ref, m->input_names[i])) n_det++;
    n_rate = (uint32_t)(2 * n_watch);
    ds.family_size = fw_detector_family_size(n_det + (uint32_t)n_out, n_rate);
    mon->alpha_row = fw_detector_alpha_row(&ds);
    for (size_t i = 0; st == FW_OK && i < m->n_inputs; i++) {
        if (!watch[i]) continue;
        mon_col *c = &mon->cols[mon->n_cols++];
        c->input = i;
        c->name = m->input_names[i];
        c->type = m->pipeline ? fw_pipeline_input_type(m->pipeline, i) : FW_COL_NUMERIC;
        st = col_init(mon, c, ref ? fw_reference_column(ref, c->name) : NULL, &ds, err);
    }
    mon->n_inputs_watched = mon->n_cols;
    for (size_t o = 0; st == FW_OK && o < n_out; o++) {
        mon_col *c = &mon->cols[mon->n_cols++];
        c->output = true;
        c->input = o;
        c->name = ref->pred[o].name;
        c->type = FW_COL_NUMERIC;
        st = col_init(mon, c, &ref->pred[o], &ds, err);
    }
    fw_free(watch);
    /* the flat layout of a block's counts: per column its slots, then the extra counters (the
     * followed unseen values' only for a column that counts unseen categories) */
    size_t off = 0;
    for (size_t i = 0; i < mon->n_cols; i++) {
        mon->cols[i].off = off;
        off += mon->cols[i].n_slots + (mon->cols[i].unseen_on ? X_COUNT : X_TRACK);
    }
    mon->n_cells = off ? off : 1;
    mon->qb = s.quality_rows / s.step_rows;
    mon->wb = s.window_rows / s.step_rows;
    uint32_t cap = s.on_blocks ? MON_RING : MON_RING_INLINE;
    if (st == FW_OK && !(mon->ring = fw_calloc(cap, sizeof *mon->ring))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    if (st == FW_OK) mon->ring_cap = cap;
    for (uint32_t b = 0; st == FW_OK && b < cap; b++) {
        mon_block *k = &mon->ring[b];
        k->counts = fw_calloc(mon->n_cells, sizeof(uint64_t));
        k->lat = fw_calloc(s.step_rows, sizeof(double));
        k->newcomer = fw_calloc(mon->n_cols + 1, sizeof(mon_newcomer));
        atomic_init(&k->ready, 0);
        if (!k->counts || !k->lat || !k->newcomer) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    for (int i = 0; st == FW_OK && i < MON_SHARDS + MON_SPARES; i++) {
        mon_counts *a = fw_calloc(1, sizeof *a + mon->n_cells * sizeof(uint64_t));
        if (!a) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
            break;
        }
        atomic_init(&a->busy, 0);
        if (i < MON_SHARDS) mon->shard[i] = a;
        else atomic_store(&mon->spare[i - MON_SHARDS], a);
    }
    for (size_t i = 0; st == FW_OK && i < mon->n_cols; i++) {
        mon_col *c = &mon->cols[i];
        c->q_rows = fw_calloc(mon->qb, sizeof(uint64_t));
        c->q_missing = fw_calloc(mon->qb, sizeof(uint64_t));
        c->q_unseen = fw_calloc(mon->qb, sizeof(uint64_t));
        c->q_oor = fw_calloc(mon->qb, sizeof(uint64_t));
        if (!c->q_rows || !c->q_missing || !c->q_unseen || !c->q_oor) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    mon->lat_cap = s.window_rows;
    mon->lat_ring = fw_calloc(mon->lat_cap, sizeof(double));
    mon->lat_tmp = fw_calloc(mon->lat_cap, sizeof(double));
    mon->alarms = fw_calloc(mon->n_cols * MON_COL_ALARMS + MON_MODEL_ALARMS, sizeof *mon->alarms);
    if (!st && (!mon->lat_ring || !mon->lat_tmp || !mon->alarms)) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; st == FW_OK && s.expect && i < s.n_expect; i++) {
        const fw_monitor_expect *x = &s.expect[i];
        st = add_expectation(mon, x->column, x->min, x->max, x->allowed, x->n_allowed, x->max_missing, err);
    }
    if (st == FW_OK) st = from_project(mon, &s, &proj, err);
    for (size_t i = 0; st == FW_OK && i < mon->n_cols; i++)
        if (mon->cols[i].expect_on) fw_rate_cusum_init(&mon->cols[i].expect, 0, 1e6, 0.01, mon->alpha_row);
    if (st == FW_OK) st = perf_init(mon, &s, &proj, err);
    if (st == FW_OK) st = hot_init(mon, err);
    fw_project_free(&proj);
    return st;
}

/* The body, built on first use; false when it could not be (the monitor stays inert). */
static bool ensure_built(fw_monitor *mon) {
    int b = atomic_load_explicit(&mon->built, memory_order_acquire);
    if (b) return b > 0;
    pthread_mutex_lock(&mon->build_mu);
    b = atomic_load_explicit(&mon->built, memory_order_relaxed);
    if (!b) {
        fw_err e;
        fw_err_clear(&e);
        if (build(mon, &e) == FW_OK) {
            b = 1;
        } else {
            body_free(mon);
            snprintf(mon->build_error, sizeof mon->build_error, "%s", e.msg);
            mon->build_status = e.status;
            b = -1;
        }
        atomic_store_explicit(&mon->built, b, memory_order_release);
    }
    pthread_mutex_unlock(&mon->build_mu);
    return b > 0;
}

static bool is_built(const fw_monitor *mon) {
    return atomic_load_explicit(&((fw_monitor *)mon)->built, memory_order_acquire) > 0;
}

fw_status fw_monitor_new(const fw_srv_model *m, const fw_monitor_settings *s_in, fw_monitor **out, fw_err *err) {
    *out = NULL;
    fw_monitor_settings s;
    if (s_in) s = *s_in;
    else fw_monitor_settings_init(&s);
    if (!s.step_rows || s.window_rows < s.step_rows || s.quality_rows < s.step_rows ||
        s.window_rows % s.step_rows || s.quality_rows % s.step_rows)
        return fw_err_set(err, FW_EINVAL,
                          "monitoring windows: window_rows (%u) and quality_rows (%u) must be whole multiples of "
                          "step_rows (%u), which must be at least 1",
                          s.window_rows, s.quality_rows, s.step_rows);
    if (!(s.sensitivity > 0) || !(s.block_seconds >= 0))
        return fw_err_set(err, FW_EINVAL, "monitoring: sensitivity must be > 0 and block_seconds >= 0");
    /* the names the settings give are checked now (the build itself waits for the first use) */
    bool *watch = fw_calloc(m->n_inputs + 1, sizeof *watch);
    if (!watch) return fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_status st = pick_columns(m, &s, watch, err);
    for (size_t k = 0; st == FW_OK && s.expect && k < s.n_expect; k++) {
        const char *col = s.expect[k].column ? s.expect[k].column : "";
        int64_t i = fw_strmap_get(&m->input_index, col, strlen(col));
        if (i < 0 || !watch[i])
            st = fw_err_set(err, FW_EINVAL, "expectations: '%s' is not a watched input of model %s", col, m->name);
    }
    fw_free(watch);
    if (st) return st;
    fw_monitor *mon = fw_calloc(1, sizeof *mon);
    if (!mon) return fw_err_set(err, FW_ENOMEM, "out of memory");
    mon->model = m;
    mon->s = s;
    mon->s.columns = NULL; /* not kept: pointers of the caller (the recipe has copies) */
    mon->s.expect = NULL;
    mon->s.groups = NULL;
    mon->budget[0] = s.p50_ms > 0 ? s.p50_ms : 0;
    mon->budget[1] = s.p90_ms > 0 ? s.p90_ms : 0;
    mon->budget[2] = s.p99_ms > 0 ? s.p99_ms : 0;
    mon->block_ms = (int64_t)llround(s.block_seconds * 1000);
    /* count_mu is held for a few dozen instructions (a row number, a time, a block's bookkeeping):
     * a thread that finds it taken spins a little before it sleeps (glibc's adaptive mutex), rather
     * than paying two futex calls (its wait and the holder's wake) for a wait shorter than them */
    pthread_mutexattr_t adaptive;
    pthread_mutexattr_init(&adaptive);
    pthread_mutexattr_settype(&adaptive, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mon->count_mu, &adaptive);
    pthread_mutexattr_destroy(&adaptive);
    atomic_init(&mon->closed, 0);
    atomic_init(&mon->tested, 0);
    for (int i = 0; i < MON_SPARES; i++) atomic_init(&mon->spare[i], NULL);
    pthread_mutex_init(&mon->test_mu, NULL);
    pthread_mutex_init(&mon->build_mu, NULL);
    atomic_init(&mon->built, 0);
    if (recipe_copy(&mon->recipe, &s)) {
        fw_monitor_free(mon);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    *out = mon;
    return FW_OK;
}

fw_status fw_monitor_build(fw_monitor *mon, fw_err *err) {
    if (ensure_built(mon)) return FW_OK;
    return fw_err_set(err, mon->build_status ? mon->build_status : FW_ENOMEM, "%s", mon->build_error);
}

fw_status fw_monitor_prepare(fw_monitor *mon, fw_err *err) {
    fw_status st = fw_monitor_build(mon, err);
    for (size_t i = 0; st == FW_OK && i < mon->n_cols; i++)
        if (mon->cols[i].det && fw_detector_calibrate(mon->cols[i].det))
            st = fw_err_set(err, FW_ENOMEM, "monitor of model %s: out of memory calibrating column '%s'",
                            mon->model->name, mon->cols[i].name);
    return st;
}

bool fw_monitor_built(const fw_monitor *mon) { return is_built(mon); }

void fw_monitor_free(fw_monitor *mon) {
    if (!mon) return;
    body_free(mon);
    recipe_free(&mon->recipe);
    pthread_mutex_destroy(&mon->count_mu);
    pthread_mutex_destroy(&mon->test_mu);
    pthread_mutex_destroy(&mon->build_mu);
    fw_free(mon);
}

/* ---- alarms ----------------------------------------------------------------------------------- */

static void set_alarm(fw_monitor *mon, mon_alarm *a, const fw_alarm *rec, bool raised) {
    if (raised == a->active) return;
    a->active = raised;
    if (raised) {
        a->rec = *rec;
        mon->raised[rec->kind]++;
        if (mon->s.on_alarm) mon->s.on_alarm(mon->s.ud, &a->rec, true);
    } else {
        fw_alarm cl = a->rec;
        cl.row = rec->row;
        cl.ts_ms = rec->ts_ms;
        if (mon->s.on_alarm) mon->s.on_alarm(mon->s.ud, &cl, false);
    }
}

static void make_alarm(fw_alarm *a, fw_alarm_kind kind, const char *column, const char *statistic, double value,
                       double threshold, uint64_t row, int64_t ts) {
    memset(a, 0, sizeof *a);
    a->kind = kind;
    snprintf(a->column, sizeof a->column, "%s", column ? column : "");
    snprintf(a->statistic, sizeof a->statistic, "%s", statistic);
    a->value = value;
    a->threshold = threshold;
    a->row = row;
    a->ts_ms = ts;
}

static mon_alarm *model_alarm(fw_monitor *mon, int which) {
    return &mon->alarms[mon->n_cols * MON_COL_ALARMS + (size_t)which];
}

void fw_monitor_signal(fw_monitor *mon, const fw_alarm *a, bool raised) {
    if (!ensure_built(mon)) return;
    int which = a->kind == FW_ALARM_PERFORMANCE ? MA_PERFORMANCE
                : a->kind == FW_ALARM_ESTIMATE  ? MA_ESTIMATE
                : a->kind == FW_ALARM_LATENCY   ? MA_LATENCY
                                                : MA_PREDICTION;
    mon_alarm *slot = model_alarm(mon, which);
    for (size_t i = 0; a->column[0] && i < mon->n_inputs_watched; i++)
        if (!strcmp(mon->cols[i].name, a->column) && a->kind <= FW_ALARM_SCHEMA)
            slot = &mon->alarms[i * MON_COL_ALARMS + (size_t)a->kind];
    pthread_mutex_lock(&mon->test_mu);
    fw__monitor_drain_locked(mon); /* the blocks closed before it first: alarms in row order */
    if (a->slice[0]) { /* a slice's alarm: its own slot, by (column, slice), or a free one */
        slot = NULL;
        for (int j = 0; j < MON_SLICE_SLOTS && !slot; j++) {
            mon_alarm *s = model_alarm(mon, MA_SLICE0 + j);
            if (s->active && !strcmp(s->rec.column, a->column) && !strcmp(s->rec.slice, a->slice)) slot = s;
        }
        for (int j = 0; j < MON_SLICE_SLOTS && !slot && raised; j++)
            if (!model_alarm(mon, MA_SLICE0 + j)->active) slot = model_alarm(mon, MA_SLICE0 + j);
    }
    if (slot) set_alarm(mon, slot, a, raised);
    pthread_mutex_unlock(&mon->test_mu);
}

/* ---- the hot path ----------------------------------------------------------------------------- */

/* A string in a numeric input read as the model reads it (the pipeline's own reading: missing words
 * are missing); without a pipeline, a plain number or an error. */
static fw_status value_num(const fw_monitor *mon, const mon_col *c, const fw_value *v, double *x) {
    if (mon->model->pipeline) return fw_pipeline_input_num(mon->model->pipeline, c->input, v, x, NULL);
    char buf[64], *end;
    if (v->len >= sizeof buf) return FW_ESCHEMA;
    memcpy(buf, v->str, v->len);
    buf[v->len] = 0;
    *x = strtod(buf, &end);
    return end != buf && !*end && isfinite(*x) ? FW_OK : FW_ESCHEMA;
}

/* Input column c's FW_MON_* flags in observation o: o->flags, and FW_MON_ABSENT for a missing value
 * carrying o->absent_mark. */
static uint8_t obs_flags(const fw_monitor_obs *o, const mon_col *c) {
    uint8_t f = o->flags ? o->flags[c->input] : 0;
    const fw_value *v = &o->values[c->input];
    if (o->absent_mark && v->kind == FW_VALUE_MISSING && v->str == o->absent_mark) f |= FW_MON_ABSENT;
    return f;
}

/* The cells observation o adds for column c: its slot, and the extra counters it hits. Returns the
 * number of cell indices written (1..4) and sets *schema on a value that cannot be read; an unseen
 * value not followed yet goes to *nc (may be NULL). */
static size_t col_cells(const fw_monitor *mon, const mon_col *c, const fw_monitor_obs *o, uint32_t *cells,
                        bool *schema, mon_newcomer *nc) {
    size_t n = 0;
    const fw_value *v;
    fw_value outv;
    if (c->output) {
        outv.kind = o->outputs && !isnan(o->outputs[c->input]) ? FW_VALUE_NUMBER : FW_VALUE_MISSING;
        outv.num = o->outputs ? o->outputs[c->input] : NAN;
        v = &outv;
    } else {
        v = &o->values[c->input];
        if (obs_flags(o, c) & (FW_MON_ABSENT | FW_MON_BAD_TYPE)) *schema = true;
    }
    uint32_t base = (uint32_t)c->off;
    if (v->kind == FW_VALUE_MISSING) {
        cells[n++] = base + c->missing_slot;
        return n;
    }
    uint32_t slot = 0; /* without a detector: the present slot */
    if (c->type == FW_COL_TIMESTAMP) {
        cells[n++] = base + slot;
        return n;
    }
    if (c->type == FW_COL_NUMERIC) {
        double x = v->num;
        if (v->kind == FW_VALUE_STRING && value_num(mon, c, v, &x) != FW_OK) {
            *schema = true;
            x = NAN;
        }
        if (c->det) slot = fw_detector_slot_num(c->det, x);
        else if (isnan(x)) slot = c->missing_slot;
        cells[n++] = base + slot;
        if (!isnan(x)) {
            if (c->oor_on && (x < c->ref_min || x > c->ref_max)) cells[n++] = base + c->n_slots + X_OOR;
            if ((!isnan(c->ex_min) && x < c->ex_min) || (!isnan(c->ex_max) && x > c->ex_max))
                cells[n++] = base + c->n_slots + X_EXPECT;
        }
        return n;
    }
    /* categorical / text: the text (a number is read as its text, as the pipeline does) */
    char num[FW_NUMFMT_MAX];
    const char *s = v->str;
    size_t len = v->len;
    if (v->kind == FW_VALUE_NUMBER) {
        len = fw_num_format(v->num, num);
        s = num;
    }
    if (c->det) slot = fw_detector_slot_str(c->det, s, len);
    cells[n++] = base + slot;
    if (c->unseen_on && (slot < c->n_top_known ? c->top_known[slot]
                                                 : fw_pipeline_category_known(mon->model->pipeline, c->input, s, len)) == 0) {
        cells[n++] = base + c->n_slots + X_UNSEEN;
        uint64_t key = fw_hash64(s, len, 0x6d6f6e) | 1; /* never 0: 0 marks a free track */
        int j = 0;
        while (j < UNSEEN_TRACK && atomic_load_explicit(&c->track[j].key, memory_order_relaxed) != key) j++;
        if (j < UNSEEN_TRACK) cells[n++] = base + c->n_slots + X_TRACK + (uint32_t)j;
        else if (nc) {
            nc->key = key;
            snprintf(nc->text, sizeof nc->text, "%.*s", (int)(len < 47 ? len : 47), s);
        }
    }
    if (c->ex_allowed_on && fw_strmap_get(&c->ex_allowed, s, len) < 0) cells[n++] = base + c->n_slots + X_EXPECT;
    return n;
}

static void run_tests(fw_monitor *mon, mon_block *b, uint64_t last_row);

/* Waits until array a is idle: the adds it waits for are ~100 increments by a running thread; a
 * thread preempted mid-add is yielded to. */
static void wait_idle(mon_counts *a) {
    for (unsigned i = 0; atomic_load_explicit(&a->busy, memory_order_acquire); i++) {
        if (i >= 64) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
}

/* Adds array a (idle) into counts and empties it. */
static void add_counts(uint64_t *counts, mon_counts *a, size_t n_cells) {
    for (size_t i = 0; i < n_cells; i++) {
        counts[i] += a->c[i];
        a->c[i] = 0;
    }
}

/* An empty array from the spares, or NULL (lock-free: the closing threads take and give back). */
static mon_counts *spare_take(fw_monitor *mon) {
    for (int i = 0; i < MON_SPARES; i++)
        if (atomic_load_explicit(&mon->spare[i], memory_order_relaxed)) {
            mon_counts *a = atomic_exchange_explicit(&mon->spare[i], NULL, memory_order_acquire);
            if (a) return a;
        }
    return NULL;
}

static void spare_give(fw_monitor *mon, mon_counts *a) {
    for (;;) /* a free slot exists: MON_SPARES slots for the MON_SPARES arrays not in a shard */
        for (int i = 0; i < MON_SPARES; i++) {
            mon_counts *none = NULL;
            if (atomic_compare_exchange_strong_explicit(&mon->spare[i], &none, a, memory_order_release,
                                                        memory_order_relaxed))
                return;
        }
}

/* Runs the tests of the closed blocks, oldest first (test_mu held), each once it is summed; a tested
 * block is emptied for reuse. Returns how many were tested. */
size_t fw__monitor_drain_locked(fw_monitor *mon) {
    size_t n = 0;
    for (;;) {
        uint64_t t = atomic_load_explicit(&mon->tested, memory_order_relaxed);
        if (t >= atomic_load_explicit(&mon->closed, memory_order_acquire)) break;
        mon_block *b = &mon->ring[t % mon->ring_cap];
        for (unsigned i = 0; !atomic_load_explicit(&b->ready, memory_order_acquire); i++) {
            if (i >= 64) sched_yield(); /* its closing thread is still adding its arrays (no lock held) */
#if defined(__x86_64__) || defined(__i386__)
            else __builtin_ia32_pause();
#endif
        }
        run_tests(mon, b, b->last_row);
        memset(b->counts, 0, mon->n_cells * sizeof *b->counts);
        memset(b->newcomer, 0, mon->n_cols * sizeof *b->newcomer);
        b->rows = 0;
        b->n_lat = 0;
        b->errors = 0;
        atomic_store_explicit(&b->ready, 0, memory_order_relaxed);
        atomic_store_explicit(&mon->tested, t + 1, memory_order_release); /* the block may reopen */
        n++;
    }
    return n;
}

static size_t drain(fw_monitor *mon) {
    pthread_mutex_lock(&mon->test_mu);
    size_t n = fw__monitor_drain_locked(mon);
    pthread_mutex_unlock(&mon->test_mu);
    return n;
}

/* What a close leaves for its thread to do once count_mu is let go: the arrays to add into the
 * block, then the block to hand to its tests. */
typedef struct mon_closing {
    mon_block *b;
    mon_counts *arr[MON_SHARDS];
    int n_arr;
} mon_closing;

/* Closes the open block (count_mu held, kept): notes its last row, swaps the arrays of the shards
 * it used for spares (into *cl, summed by close_finish) and opens the next block of the ring. When
 * the ring is full (the tests ring_cap - 1 blocks behind) they are run here first, count_mu held;
 * an array without a spare is summed here. */
static void close_open(fw_monitor *mon, mon_closing *cl) {
    uint64_t k = atomic_load_explicit(&mon->closed, memory_order_relaxed);
    while (k + 1 - atomic_load_explicit(&mon->tested, memory_order_acquire) >= mon->ring_cap) drain(mon);
    mon_block *b = &mon->ring[k % mon->ring_cap];
    cl->b = b;
    cl->n_arr = 0;
    for (int sh = 0; mon->shard_used && sh < MON_SHARDS; sh++)
        if (mon->shard_used & (1u << sh)) {
            mon_counts *fresh = spare_take(mon);
            if (fresh) {
                cl->arr[cl->n_arr++] = mon->shard[sh];
                mon->shard[sh] = fresh;
            } else { /* the closing threads lag: summed here, as before */
                wait_idle(mon->shard[sh]);
                add_counts(b->counts, mon->shard[sh], mon->n_cells);
            }
        }
    mon->shard_used = 0;
    b->last_row = mon->rows - 1;
    atomic_fetch_add(&mon->closed, 1); /* seq_cst: settings.on_blocks' thread reads it after its flag */
}

/* The rest of a close, no lock held: adds the swapped arrays into the block (each once idle: a
 * thread may still be adding a row of the block) and gives them back empty; the block is ready for
 * its tests. */
static void close_finish(fw_monitor *mon, mon_closing *cl) {
    for (int i = 0; i < cl->n_arr; i++) {
        wait_idle(cl->arr[i]);
        add_counts(cl->b->counts, cl->arr[i], mon->n_cells);
        spare_give(mon, cl->arr[i]);
    }
    atomic_store_explicit(&cl->b->ready, 1, memory_order_release);
}

/* After a close, no lock held: the tests run on settings.on_blocks' thread when it takes them, else
 * here. */
static void close_hand(fw_monitor *mon) {
    if (!(mon->s.on_blocks && mon->s.on_blocks(mon->s.ud))) drain(mon);
}

/* True when block b holds rows and a row stamped t would be block_ms or more past its first row
 * (count_mu held): such a row opens the next block. */
static bool expired(const mon_block *b, int64_t t, int64_t block_ms) {
    return b->rows && b->first_ts > 0 && t - b->first_ts >= block_ms;
}

static mon_block *open_block(fw_monitor *mon) {
    return &mon->ring[atomic_load_explicit(&mon->closed, memory_order_relaxed) % mon->ring_cap];
}

enum { CELL_CHUNK = 1024 };

enum { MAX_NEWCOMERS = 4 };

/* The cells of every column of observation o into cells (up to 4 per column), as col_cells gives
 * them column by column: numeric inputs and outputs found inline (monitor_int.h mon_hot), the
 * others by col_cells, whose first MAX_NEWCOMERS unseen values not followed yet go into nc / nc_col
 * (*n_new of them, in column order). Returns the number of cells. */
static size_t row_cells(const fw_monitor *mon, const fw_monitor_obs *o, uint32_t *cells, bool *schema,
                        mon_newcomer *nc, size_t *nc_col, size_t *n_new) {
    size_t n = 0, i = 0;
    const uint8_t *fl = o->flags;
    bool bad = false;
    for (; i < mon->n_hot_num; i++) {
        const mon_hot *h = &mon->hot[i];
        const fw_value *v = &o->values[h->input];
        double x;
        if (fl && (fl[h->input] & (FW_MON_ABSENT | FW_MON_BAD_TYPE))) bad = true;
        if (v->kind == FW_VALUE_NUMBER) {
            x = v->num;
        } else if (v->kind == FW_VALUE_MISSING) {
            if (o->absent_mark && v->str == o->absent_mark) bad = true;
            cells[n++] = h->missing;
            continue;
        } else if (value_num(mon, &mon->cols[h->col], v, &x) != FW_OK) {
            bad = true;
            x = NAN;
        }
        if (isnan(x)) {
            cells[n++] = h->missing;
            continue;
        }
        /* below the first inner edge: slot 0 without the search (a zero-inflated column's zeros, the
         * point-mass bin [0, nextafter(0)) of its reference: most values of spam's 57 inputs) */
        cells[n++] = h->base + (x < h->edges[0] ? 0 : fw_bins_count_pow2(h->edges, h->k, x));
        cells[n] = h->oor; /* written always, counted when out of range: no branch */
        n += (x < h->lo) | (x > h->hi);
        if (h->ex_on) {
            cells[n] = h->expect;
            n += (x < h->ex_lo) | (x > h->ex_hi);
        }
    }
    for (; i < mon->n_hot_num + mon->n_hot_out; i++) { /* the model's outputs: no range, no expectation */
        const mon_hot *h = &mon->hot[i];
        double x = o->outputs ? o->outputs[h->input] : NAN;
        cells[n++] = isnan(x) ? h->missing : h->base + fw_bins_count_pow2(h->edges, h->k, x);
    }
    for (; i < mon->n_cols; i++) {
        const mon_hot *h = &mon->hot[i];
        if (*n_new < MAX_NEWCOMERS) nc[*n_new].key = 0;
        n += col_cells(mon, &mon->cols[h->col], o, cells + n, &bad, *n_new < MAX_NEWCOMERS ? &nc[*n_new] : NULL);
        if (*n_new < MAX_NEWCOMERS && nc[*n_new].key) nc_col[(*n_new)++] = h->col;
    }
    if (bad) *schema = true;
    return n;
}

/* This thread's shard (monitor_int.h): threads are numbered in the order they first observe. */
static atomic_uint g_threads;
static _Thread_local unsigned tl_shard = UINT32_MAX;

static unsigned my_shard(void) {
    if (tl_shard == UINT32_MAX) tl_shard = atomic_fetch_add_explicit(&g_threads, 1, memory_order_relaxed) % MON_SHARDS;
    return tl_shard;
}

uint64_t fw_monitor_observe(fw_monitor *mon, const fw_monitor_obs *o) {
    if (!ensure_built(mon)) return 0;
    uint32_t cells[CELL_CHUNK * 4];
    size_t n = 0, n_new = 0;
    mon_newcomer nc[MAX_NEWCOMERS];
    size_t nc_col[MAX_NEWCOMERS];
    bool schema = false, wide = mon->n_cols > CELL_CHUNK;
    if (!wide) n = row_cells(mon, o, cells, &schema, nc, nc_col, &n_new);
    unsigned sh = my_shard();
    /* settings.on_blocks' thread behind by half the ring: helped here, unless it is testing now */
    if (mon->s.on_blocks &&
        atomic_load_explicit(&mon->closed, memory_order_relaxed) - atomic_load_explicit(&mon->tested, memory_order_relaxed) >=
            mon->ring_cap / 2 &&
        pthread_mutex_trylock(&mon->test_mu) == 0) {
        fw__monitor_drain_locked(mon);
        pthread_mutex_unlock(&mon->test_mu);
    }
    mon_closing cl;
    pthread_mutex_lock(&mon->count_mu);
    /* the timestamp: the caller's, or the clock read under count_mu, so that rows get their times
     * in row order and fw_monitor_tick (which reads the clock under the same lock) cannot close a
     * block that a later row's own time would have kept open */
    int64_t ts = o->ts_ms == 0 ? fw_wall_unix_ms() : o->ts_ms < 0 ? 0 : o->ts_ms;
    /* a block is block_seconds long from its first row's time: it closes before this row is counted
     * when this row is that far past (loop: another thread may have opened the next one meanwhile) */
    while (mon->block_ms > 0 && ts > 0 && expired(open_block(mon), ts, mon->block_ms)) {
        close_open(mon, &cl);
        pthread_mutex_unlock(&mon->count_mu);
        close_finish(mon, &cl);
        close_hand(mon);
        pthread_mutex_lock(&mon->count_mu);
    }
    uint64_t row = mon->rows++;
    mon_block *b = open_block(mon);
    mon_counts *cnt = mon->shard[sh];
    mon->shard_used |= 1u << sh;
    if (!wide)
        for (size_t j = 0; j < n_new; j++) b->newcomer[nc_col[j]] = nc[j];
    if (b->rows < mon->s.step_rows && !(o->latency_ms < 0) && !isnan(o->latency_ms)) b->lat[b->n_lat++] = o->latency_ms;
    if (!o->outputs) b->errors++;
    if (!b->rows) b->first_ts = ts;
    b->rows++;
    b->last_ts = ts;
    bool full = b->rows >= mon->s.step_rows;
    /* the cells go to this thread's shard's array, marked busy before count_mu is let go
     * (monitor_int.h): whoever sums the block waits for them */
    wait_idle(cnt); /* a thread sharing this shard still adding (more threads than shards) */
    atomic_store_explicit(&cnt->busy, 1, memory_order_relaxed);
    if (wide) { /* more columns than a stack chunk: counted column by column under count_mu */
        for (size_t i = 0; i < mon->n_cols; i++) {
            mon_newcomer one = {0};
            size_t k = col_cells(mon, &mon->cols[i], o, cells, &schema, &one);
            for (size_t j = 0; j < k; j++) cnt->c[cells[j]]++;
            if (one.key) b->newcomer[i] = one;
        }
        atomic_store_explicit(&cnt->busy, 0, memory_order_release);
    }
    if (full && !wide) { /* added before the close (count_mu held: once a block), which may sum it */
        for (size_t j = 0; j < n; j++) cnt->c[cells[j]]++;
        atomic_store_explicit(&cnt->busy, 0, memory_order_release);
    }
    if (full) close_open(mon, &cl);
    pthread_mutex_unlock(&mon->count_mu);
    if (!full && !wide) {
        for (size_t j = 0; j < n; j++) cnt->c[cells[j]]++;
        atomic_store_explicit(&cnt->busy, 0, memory_order_release);
    }
    if (full) {
        close_finish(mon, &cl);
        close_hand(mon);
    }
    if (schema) {
        /* a value that cannot be read as its column's type: raised at this very row, after the tests
         * of the blocks closed before it (alarms in row order) */
        pthread_mutex_lock(&mon->test_mu);
        fw__monitor_drain_locked(mon);
        for (size_t i = 0; i < mon->n_inputs_watched; i++) {
            mon_col *c = &mon->cols[i];
            bool bad = false;
            uint32_t tmp[8];
            col_cells(mon, c, o, tmp, &bad, NULL);
            if (!bad) continue;
            c->last_schema_row = row;
            c->schema_rows++;
            mon_alarm *a = &mon->alarms[i * MON_COL_ALARMS + FW_ALARM_SCHEMA];
            if (!a->active) {
                fw_alarm rec;
                uint8_t f = obs_flags(o, c);
                make_alarm(&rec, FW_ALARM_SCHEMA, c->name, f & FW_MON_ABSENT ? "absent" : "bad_type", 1, 0, row, ts);
                if (f & FW_MON_ABSENT) snprintf(rec.detail, sizeof rec.detail, "the column is absent from the request");
                else
                    snprintf(rec.detail, sizeof rec.detail, "a value cannot be read as the column's type (%s)",
                             fw_col_type_name(c->type));
                set_alarm(mon, a, &rec, true);
            }
        }
        pthread_mutex_unlock(&mon->test_mu);
    }
    if (mon->perf && o->outputs) {
        fw_alarm al[8];
        size_t k = fw_perf_observe(mon->perf, o->request_id, o->request_id_len, o->outputs, o->values, row,
                                   o->ts_ms < 0 ? 0 : ts, al, 8);
        for (size_t i = 0; i < k; i++) fw_monitor_signal(mon, &al[i], true);
    }
    return row;
}

bool fw_monitor_tick_at(fw_monitor *mon, int64_t now_ms) {
    if (!is_built(mon) || mon->block_ms <= 0) return false; /* nothing observed yet, or no time windows */
    pthread_mutex_lock(&mon->count_mu);
    if (expired(open_block(mon), now_ms, mon->block_ms)) {
        mon_closing cl;
        close_open(mon, &cl);
        pthread_mutex_unlock(&mon->count_mu);
        close_finish(mon, &cl);
        close_hand(mon);
        return true;
    }
    pthread_mutex_unlock(&mon->count_mu);
    return false;
}

bool fw_monitor_tick(fw_monitor *mon) { return fw_monitor_tick_at(mon, fw_wall_unix_ms()); }

void fw_monitor_flush(fw_monitor *mon) {
    if (!is_built(mon)) return;
    fw_monitor_perf_close(mon);
    pthread_mutex_lock(&mon->count_mu);
    if (open_block(mon)->rows) {
        mon_closing cl;
        close_open(mon, &cl);
        pthread_mutex_unlock(&mon->count_mu);
        close_finish(mon, &cl);
    } else {
        pthread_mutex_unlock(&mon->count_mu);
    }
    drain(mon);
}

size_t fw_monitor_close_blocks(fw_monitor *mon) { return is_built(mon) ? drain(mon) : 0; }

size_t fw_monitor_blocks_pending(fw_monitor *mon) {
    if (!is_built(mon)) return 0;
    return (size_t)(atomic_load(&mon->closed) - atomic_load(&mon->tested));
}

size_t fw_monitor_perf_close(fw_monitor *mon) {
    if (!is_built(mon) || !mon->perf) return 0;
    size_t n = 0;
    for (bool closed = true; closed; n += closed) {
        fw_alarm al[2 + MON_SLICE_SLOTS];
        size_t k = fw_perf_close_next(mon->perf, al, 2 + MON_SLICE_SLOTS, &closed);
        for (size_t i = 0; i < k; i++) fw_monitor_signal(mon, &al[i], true);
    }
    return n;
}

size_t fw_monitor_perf_pending(fw_monitor *mon) {
    return is_built(mon) && mon->perf ? fw_perf_pending(mon->perf) : 0;
}

fw_status fw_monitor_feedback(fw_monitor *mon, const char *request_id, size_t len, const fw_value *label,
                              int64_t ts_ms, fw_err *err) {
    if (!ensure_built(mon)) return fw_monitor_build(mon, err);
    if (!mon->perf) return fw_err_set(err, FW_ENOTFOUND, "model %s: no performance tracker (task %s)", mon->model->name,
                                      fw_task_name(mon->model->task));
    char num[FW_NUMFMT_MAX];
    const char *s = label->str;
    size_t n = label->len;
    if (label->kind == FW_VALUE_NUMBER) {
        n = fw_num_format(label->num, num);
        s = num;
    } else if (label->kind == FW_VALUE_MISSING) {
        return fw_err_set(err, FW_EDATA, "the label is missing");
    }
    double y;
    fw_status st = fw_perf_parse_label(mon->perf, s, n, &y, err);
    if (st) return st;
    fw_alarm al[2 + MON_SLICE_SLOTS];
    size_t k = fw_perf_label(mon->perf, request_id, len, y, ts_ms < 0 ? 0 : ts_ms == 0 ? fw_wall_unix_ms() : ts_ms, al,
                             2 + MON_SLICE_SLOTS);
    for (size_t i = 0; i < k; i++) fw_monitor_signal(mon, &al[i], true);
    return FW_OK;
}

/* ---- the tests of a closed block (test_mu held) ----------------------------------------------- */

static double ring_sum(const uint64_t *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i];
    return s;
}

/* Quality of input column c at this block: the detector's missing-rate CUSUM, the rate CUSUMs of
 * unseen categories, out-of-range values and expectation violations, the expectation's max missing
 * rate over the quality window. Raises / clears the column's one quality alarm. */
/* The followed unseen values of column c at this block: each one's rate CUSUM against 1 / (N + 1)
 * (the rate of a value that N training rows missed, as likely as not: (1 - p)^N ~ 1/e), designed
 * for +5 points; a track with no more evidence than one hit gives way to the block's newcomer. Returns
 * the track that is active (or -1). */
static int test_tracks(fw_monitor *mon, mon_col *c, const uint64_t *x, uint64_t present, const mon_newcomer *nc) {
    int active = -1;
    for (int j = 0; j < UNSEEN_TRACK; j++) {
        mon_track *t = &c->track[j];
        if (!atomic_load_explicit(&t->key, memory_order_relaxed)) continue;
        t->hits += x[X_TRACK + j];
        t->rows += present;
        if (fw_rate_cusum_update(&t->cusum, x[X_TRACK + j], present) && active < 0) active = j;
    }
    if (nc->key) {
        int weakest = -1;
        for (int j = 0; j < UNSEEN_TRACK; j++) {
            mon_track *t = &c->track[j];
            if (!atomic_load_explicit(&t->key, memory_order_relaxed)) {
                weakest = j;
                break;
            }
            if (j != active && t->cusum.s <= t->cusum.llr_hit && (weakest < 0 || t->cusum.s < c->track[weakest].cusum.s))
                weakest = j;
        }
        if (weakest >= 0) {
            mon_track *t = &c->track[weakest];
            memcpy(t->text, nc->text, sizeof t->text);
            fw_rate_cusum_init(&t->cusum, 0.5, c->unseen_ref_n, 0.05, mon->alpha_row);
            fw_rate_cusum_update(&t->cusum, 1, 1); /* the newcomer's own hit */
            t->hits = 1;
            t->rows = 1;
            atomic_store_explicit(&t->key, nc->key, memory_order_relaxed);
        }
    }
    return active;
}

static void test_quality(fw_monitor *mon, mon_col *c, mon_alarm *qa, const uint64_t *cnt, uint64_t rows,
                         const fw_detector_check *ck, uint64_t row, int64_t ts, const mon_newcomer *nc) {
    const uint64_t *x = cnt + c->n_slots;
    size_t qi = mon->blocks % mon->qb;
    c->q_rows[qi] = rows;
    c->q_missing[qi] = cnt[c->missing_slot];
    c->q_unseen[qi] = x[X_UNSEEN];
    c->q_oor[qi] = x[X_OOR];
    double qr = ring_sum(c->q_rows, mon->qb), qm = ring_sum(c->q_missing, mon->qb);
    double present = qr - qm;
    c->missing_rate = qr > 0 ? qm / qr : NAN;
    c->unseen_rate = c->unseen_on && present > 0 ? ring_sum(c->q_unseen, mon->qb) / present : NAN;
    c->oor_rate = c->oor_on && present > 0 ? ring_sum(c->q_oor, mon->qb) / present : NAN;
    uint64_t present_block = rows - cnt[c->missing_slot];
    fw_alarm rec;
    bool any = false;
    const char *why = NULL;
    double val = 0, thr = 0;
    char detail[2 * FW_ALARM_TEXT] = "";
    if (ck && ck[FW_DET_MISSING].evaluated && ck[FW_DET_MISSING].active) {
        any = true;
        why = "missing_rate";
        val = ck[FW_DET_MISSING].effect;
        thr = ck[FW_DET_MISSING].reference;
        snprintf(detail, sizeof detail, "missing rate %.3g vs %.3g in training (CUSUM %.3g > %.3g)", val, thr,
                 ck[FW_DET_MISSING].value, ck[FW_DET_MISSING].threshold);
    }
    if (c->unseen_on && fw_rate_cusum_update(&c->unseen, x[X_UNSEEN], present_block) && !any) {
        any = true;
        why = "unseen_rate";
        val = c->unseen_rate;
        thr = c->unseen.p0;
        snprintf(detail, sizeof detail, "unseen categories in %.3g of values vs at most %.3g expected (CUSUM %.3g > %.3g)",
                 val, thr, c->unseen.s, c->unseen.h);
    } else if (!c->unseen_on) {
        (void)0;
    }
    int tr = c->unseen_on ? test_tracks(mon, c, x, present_block, nc) : -1;
    if (tr >= 0 && !any) {
        const mon_track *t = &c->track[tr];
        any = true;
        why = "unseen_value_rate";
        val = t->rows ? (double)t->hits / (double)t->rows : 0;
        thr = t->cusum.p0;
        snprintf(detail, sizeof detail, "the unseen category '%s' in %.3g of values (CUSUM %.3g > %.3g)", t->text, val,
                 t->cusum.s, t->cusum.h);
    }
    if (c->oor_on && fw_rate_cusum_update(&c->oor, x[X_OOR], present_block) && !any) {
        any = true;
        why = "out_of_range_rate";
        val = c->oor_rate;
        thr = c->oor.p0;
        snprintf(detail, sizeof detail, "%.3g of values outside the training range [%.6g, %.6g] (CUSUM %.3g > %.3g)",
                 val, c->ref_min, c->ref_max, c->oor.s, c->oor.h);
    }
    if (c->expect_on && fw_rate_cusum_update(&c->expect, x[X_EXPECT], present_block) && !any) {
        any = true;
        why = "expectation_violations";
        val = present_block ? (double)x[X_EXPECT] / (double)present_block : 0;
        thr = 0;
        snprintf(detail, sizeof detail, "values outside the project's expectations (%.3g of the last block)", val);
    }
    if (c->ex_max_missing >= 0 && mon->blocks + 1 >= mon->qb && qr > 0 && c->missing_rate > c->ex_max_missing && !any) {
        any = true;
        why = "missing_rate";
        val = c->missing_rate;
        thr = c->ex_max_missing;
        snprintf(detail, sizeof detail, "missing rate %.3g over the last %.0f rows, above the expected max %.3g", val, qr,
                 thr);
    }
    if (any && !qa->active) {
        make_alarm(&rec, FW_ALARM_QUALITY, c->name, why, val, thr, row, ts);
        snprintf(rec.detail, sizeof rec.detail, "%s", detail);
        set_alarm(mon, qa, &rec, true);
    } else if (!any && qa->active) {
        make_alarm(&rec, FW_ALARM_QUALITY, c->name, qa->rec.statistic, 0, 0, row, ts);
        set_alarm(mon, qa, &rec, false);
    }
}

/* The nearest-rank p50 / p90 / p99 of the latency ring into lat_q, by selection (no sort, no
 * allocation; test_mu held). */
void fw__monitor_latency_quantiles(fw_monitor *mon) {
    if (!mon->lat_n || mon->lat_q_fresh) return;
    memcpy(mon->lat_tmp, mon->lat_ring, mon->lat_n * sizeof(double));
    static const double q[3] = {0.5, 0.9, 0.99};
    size_t ks[3];
    for (int k = 0; k < 3; k++) {
        size_t at = (size_t)ceil(q[k] * (double)mon->lat_n);
        ks[k] = at ? at - 1 : 0;
    }
    fw_select_doubles(mon->lat_tmp, mon->lat_n, ks, 3);
    for (int k = 0; k < 3; k++) mon->lat_q[k] = mon->lat_tmp[ks[k]];
    mon->lat_q_fresh = true;
}

static void test_latency(fw_monitor *mon, const mon_block *b, uint64_t row, int64_t ts) {
    for (size_t i = 0; i < b->n_lat; i++) {
        mon->lat_ring[mon->lat_next] = b->lat[i];
        mon->lat_next = (mon->lat_next + 1) % mon->lat_cap;
        if (mon->lat_n < mon->lat_cap) mon->lat_n++;
    }
    if (b->n_lat) mon->lat_q_fresh = false;
    if (!mon->lat_n) return;
    /* without a budget nothing is tested: the percentiles wait for a reader (the state JSON) */
    if (!(mon->budget[0] > 0 || mon->budget[1] > 0 || mon->budget[2] > 0)) return;
    fw__monitor_latency_quantiles(mon);
    static const char *const names[3] = {"p50_ms", "p90_ms", "p99_ms"};
    int over = -1;
    for (int k = 2; k >= 0; k--)
        if (mon->budget[k] > 0 && mon->lat_n >= 100 && mon->lat_q[k] > mon->budget[k]) over = k;
    mon_alarm *a = model_alarm(mon, MA_LATENCY);
    fw_alarm rec;
    if (over >= 0 && !a->active) {
        make_alarm(&rec, FW_ALARM_LATENCY, NULL, names[over], mon->lat_q[over], mon->budget[over], row, ts);
        snprintf(rec.detail, sizeof rec.detail, "latency %s %.3g ms over the last %zu predictions, budget %.3g ms",
                 names[over], mon->lat_q[over], mon->lat_n, mon->budget[over]);
        set_alarm(mon, a, &rec, true);
    } else if (over < 0 && a->active && mon->lat_n >= 100) {
        make_alarm(&rec, FW_ALARM_LATENCY, NULL, a->rec.statistic, 0, 0, row, ts);
        set_alarm(mon, a, &rec, false);
    }
}

static void history_add(fw_monitor *mon, uint64_t row) {
    if (!mon->s.history) return;
    if (mon->n_hist == mon->cap_hist) { /* --html's replay only: grows with the stream */
        size_t cap = mon->cap_hist ? 2 * mon->cap_hist : 64;
        uint64_t *r = fw_realloc(mon->hist_row, cap * sizeof *r);
        if (r) mon->hist_row = r;
        double *v = fw_realloc(mon->hist_val, cap * (mon->n_inputs_watched ? mon->n_inputs_watched : 1) * sizeof *v);
        if (v) mon->hist_val = v;
        if (!r || !v) return;
        mon->cap_hist = cap;
    }
    mon->hist_row[mon->n_hist] = row;
    for (size_t i = 0; i < mon->n_inputs_watched; i++)
        mon->hist_val[mon->n_hist * mon->n_inputs_watched + i] = mon->cols[i].drift;
    mon->n_hist++;
}

static void run_tests(fw_monitor *mon, mon_block *b, uint64_t last_row) {
    int64_t ts = b->last_ts;
    mon->errors += b->errors;
    bool pred_any = false;
    const fw_detector_check *pred_ck = NULL;
    const mon_col *pred_col = NULL;
    int pred_t = 0;
    fw_detector_check cks[FW_DETECTOR_TESTS];
    fw_detector_check pred_keep[FW_DETECTOR_TESTS];
    for (size_t i = 0; i < mon->n_cols; i++) {
        mon_col *c = &mon->cols[i];
        const uint64_t *cnt = b->counts + c->off;
        bool have = false;
        if (c->det) {
            fw_detector_step(c->det, c->dst, cnt, cks);
            have = true;
            if (cks[FW_DET_CHI2].evaluated) {
                c->stat = "chi2";
                c->drift = cks[FW_DET_CHI2].value;
                c->drift_thr = cks[FW_DET_CHI2].threshold;
            }
        }
        uint32_t drift_active = 0;
        int first = -1;
        for (int t = FW_DET_CHI2; have && t <= FW_DET_CUSUM; t++)
            if (cks[t].evaluated && cks[t].active) {
                drift_active |= 1u << t;
                if (first < 0) first = t;
            }
        if (c->output) {
            if (drift_active && !pred_any) {
                pred_any = true;
                memcpy(pred_keep, cks, sizeof cks);
                pred_ck = pred_keep;
                pred_col = c;
                pred_t = first;
            }
            continue;
        }
        mon_alarm *da = &mon->alarms[i * MON_COL_ALARMS + FW_ALARM_DRIFT];
        fw_alarm rec;
        if (drift_active && !da->active) {
            fw_detector_alarm(c->det, (fw_detector_test)first, &cks[first], last_row, ts, &rec);
            set_alarm(mon, da, &rec, true);
        } else if (!drift_active && da->active && have) {
            make_alarm(&rec, FW_ALARM_DRIFT, c->name, da->rec.statistic, 0, 0, last_row, ts);
            set_alarm(mon, da, &rec, false);
        }
        test_quality(mon, c, &mon->alarms[i * MON_COL_ALARMS + FW_ALARM_QUALITY], cnt, b->rows, have ? cks : NULL,
                     last_row, ts, &b->newcomer[i]);
        mon_alarm *sa = &mon->alarms[i * MON_COL_ALARMS + FW_ALARM_SCHEMA];
        if (sa->active && last_row - c->last_schema_row >= mon->s.quality_rows) {
            make_alarm(&rec, FW_ALARM_SCHEMA, c->name, sa->rec.statistic, 0, 0, last_row, ts);
            set_alarm(mon, sa, &rec, false);
        }
    }
    mon_alarm *pa = model_alarm(mon, MA_PREDICTION);
    fw_alarm rec;
    if (pred_any && !pa->active) {
        fw_detector_alarm(pred_col->det, (fw_detector_test)pred_t, &pred_ck[pred_t], last_row, ts, &rec);
        rec.kind = FW_ALARM_PREDICTION;
        rec.column[0] = 0; /* model-level; the detail names the output */
        snprintf(rec.detail, sizeof rec.detail, "the model's output %s moved: %s %.4g > %.4g", pred_col->name,
                 fw_detector_test_name((fw_detector_test)pred_t), pred_ck[pred_t].value, pred_ck[pred_t].threshold);
        set_alarm(mon, pa, &rec, true);
    } else if (!pred_any && pa->active) {
        make_alarm(&rec, FW_ALARM_PREDICTION, NULL, pa->rec.statistic, 0, 0, last_row, ts);
        set_alarm(mon, pa, &rec, false);
    }
    test_latency(mon, b, last_row, ts);
    if (mon->perf) { /* the tracker's alarms that cleared since */
        fw_alarm act[2 + MON_SLICE_SLOTS];
        size_t k = fw_perf_active(mon->perf, act, 2 + MON_SLICE_SLOTS);
        for (int w = MA_PERFORMANCE; w < MON_MODEL_ALARMS; w++) {
            mon_alarm *a = model_alarm(mon, w);
            bool still = false;
            for (size_t j = 0; j < k; j++)
                still |= act[j].kind == a->rec.kind && !strcmp(act[j].column, a->rec.column) &&
                         !strcmp(act[j].slice, a->rec.slice);
            if (a->active && !still) {
                make_alarm(&rec, a->rec.kind, NULL, a->rec.statistic, 0, 0, last_row, ts);
                set_alarm(mon, a, &rec, false);
            }
        }
    }
    mon->blocks++;
    history_add(mon, last_row);
}

/* ---- readers ---------------------------------------------------------------------------------- */

/* The estimate window a prediction filled and left for settings.on_perf_window's thread, closed
 * here if it still waits (a reader sees every full window's figures and alarms). */
static void estimate_catch_up(fw_monitor *mon) {
    if (!mon->perf) return;
    fw_alarm al[2 + MON_SLICE_SLOTS];
    size_t k = fw_perf_close_estimate(mon->perf, al, 2 + MON_SLICE_SLOTS);
    for (size_t i = 0; i < k; i++) fw_monitor_signal(mon, &al[i], true);
}

void fw_monitor_counts_get(fw_monitor *mon, fw_monitor_counts *out) {
    memset(out, 0, sizeof *out);
    if (!is_built(mon)) return;
    estimate_catch_up(mon);
    pthread_mutex_lock(&mon->count_mu);
    out->rows = mon->rows;
    pthread_mutex_unlock(&mon->count_mu);
    pthread_mutex_lock(&mon->test_mu);
    fw__monitor_drain_locked(mon); /* the blocks closed so far, tested */
    out->blocks = mon->blocks;
    out->errors = mon->errors;
    for (int k = 0; k < FW_ALARM_KIND_COUNT; k++) out->raised[k] = mon->raised[k];
    size_t n = mon->n_cols * MON_COL_ALARMS + MON_MODEL_ALARMS;
    for (size_t i = 0; i < n; i++)
        if (mon->alarms[i].active) out->active[mon->alarms[i].rec.kind]++;
    pthread_mutex_unlock(&mon->test_mu);
}

size_t fw_monitor_n_columns(const fw_monitor *mon) {
    return ensure_built((fw_monitor *)mon) ? mon->n_inputs_watched : 0; /* builds on first use */
}

void fw_monitor_column_get(fw_monitor *mon, size_t i, fw_monitor_column *out) {
    memset(out, 0, sizeof *out);
    if (!ensure_built(mon) || i >= mon->n_inputs_watched) return;
    pthread_mutex_lock(&mon->test_mu);
    fw__monitor_drain_locked(mon);
    const mon_col *c = &mon->cols[i];
    out->name = c->name;
    out->statistic = c->stat;
    out->drift = c->drift;
    out->drift_threshold = c->drift_thr;
    out->missing_rate = c->missing_rate;
    out->unseen_rate = c->unseen_rate;
    out->out_of_range_rate = c->oor_rate;
    pthread_mutex_unlock(&mon->test_mu);
}

size_t fw_monitor_active(fw_monitor *mon, fw_alarm *out, size_t cap) {
    size_t k = 0;
    if (!is_built(mon)) return 0;
    estimate_catch_up(mon);
    pthread_mutex_lock(&mon->test_mu);
    fw__monitor_drain_locked(mon);
    size_t n = mon->n_cols * MON_COL_ALARMS + MON_MODEL_ALARMS;
    for (size_t i = 0; i < n; i++)
        if (mon->alarms[i].active) {
            if (k < cap) out[k] = mon->alarms[i].rec;
            k++;
        }
    pthread_mutex_unlock(&mon->test_mu);
    return k;
}

bool fw_monitor_perf_summary(fw_monitor *mon, fw_perf_summary *out) {
    if (!is_built(mon) || !mon->perf) return false;
    estimate_catch_up(mon);
    fw_perf_summary_get(mon->perf, out);
    return true;
}

size_t fw_monitor_perf_slices(fw_monitor *mon, fw_perf_slice *out, size_t cap) {
    if (!is_built(mon) || !mon->perf) return 0;
    return fw_perf_slices(mon->perf, out, cap);
}

size_t fw_monitor_history(fw_monitor *mon, const uint64_t **row, const double **value) {
    if (!is_built(mon)) {
        *row = NULL;
        *value = NULL;
        return 0;
    }
    drain(mon);
    *row = mon->hist_row;
    *value = mon->hist_val;
    return mon->n_hist;
}
