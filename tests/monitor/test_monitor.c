/* test_monitor.c — tests for src/monitor/monitor.c: settings checked; a value of the wrong type
 * and an absent column raise a schema alarm AT their row, once, cleared after a clean quality
 * window; expectations (range, allowed, max missing) become quality alarms; a latency budget;
 * drift and prediction drift against the checked-in artifact's reference (values drawn from the
 * reference itself raise nothing, a shifted column is named); counts from many threads add up
 * and blocks close by count; no allocation per observation after warm-up; the state JSON. */
#include "monitor/calib_cache.h"
#include "monitor/monitor.h"
#include "monitor/monitor_int.h"
#include "test.h"
#include "monitor_fixture.h"

#include "core/alloc.h"
#include "data/load.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct events {
    fw_alarm a[64];
    bool raised[64];
    size_t n;
} events;

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    events *e = ud;
    if (e->n < 64) {
        e->a[e->n] = *a;
        e->raised[e->n++] = raised;
    }
}

/* A model without an artifact: n numeric inputs x0.., one output. */
static fw_srv_model *bare_model(size_t n) {
    fw_srv_model *m = fw_srv_model_new("bare", "1");
    const char *names[8] = {"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
    CHECK_OK(fw_srv_model_set_inputs(m, names, n));
    m->task = FW_TASK_REGRESSION;
    m->n_outputs = 1;
    return m;
}

static void test_settings_checked(void) {
    fw_srv_model *m = bare_model(2);
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    CHECK_EQ(s.step_rows, 50);
    CHECK_EQ(s.window_rows, 1000);
    CHECK_EQ(s.quality_rows, 200);
    CHECK(s.drift && s.block_seconds == 0 && s.sensitivity == 1);
    fw_monitor *mon = NULL;
    fw_err err;
    s.window_rows = 75;
    CHECK_EQ(fw_monitor_new(m, &s, &mon, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "multiples");
    fw_monitor_settings_init(&s);
    const char *cols[] = {"x1", "nope"};
    s.columns = cols;
    s.n_columns = 2;
    CHECK_EQ(fw_monitor_new(m, &s, &mon, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "'nope'");
    fw_monitor_settings_init(&s);
    fw_monitor_expect ex = {"zz", NAN, 1, NULL, 0, -1};
    s.expect = &ex;
    s.n_expect = 1;
    CHECK_EQ(fw_monitor_new(m, &s, &mon, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "'zz'");
    CHECK(mon == NULL);
    /* only the columns named are watched */
    fw_monitor_settings_init(&s);
    s.columns = cols;
    s.n_columns = 1;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    CHECK_EQ(fw_monitor_n_columns(mon), 1);
    fw_monitor_column c;
    fw_monitor_column_get(mon, 0, &c);
    CHECK_STR(c.name, "x1");
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

static void observe_num(fw_monitor *mon, size_t n, const double *x, const uint8_t *flags, double lat) {
    fw_value v[8];
    for (size_t i = 0; i < n; i++)
        v[i] = isnan(x[i]) ? (fw_value){FW_VALUE_MISSING, 0, NULL, 0} : (fw_value){FW_VALUE_NUMBER, x[i], NULL, 0};
    double out = 0.5;
    fw_monitor_obs o = {.values = v, .flags = flags, .outputs = &out, .latency_ms = lat, .ts_ms = -1};
    fw_monitor_observe(mon, &o);
}

static void test_schema_at_its_row(void) {
    fw_srv_model *m = bare_model(3);
    events ev = {0};
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &ev;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    double x[3] = {1, 2, 3};
    for (int r = 0; r < 137; r++) observe_num(mon, 3, x, NULL, 1);
    CHECK_EQ(ev.n, 0);
    /* row 137: x2 cannot be read as a number (the caller passes the text) */
    fw_value v[3] = {{FW_VALUE_NUMBER, 1, NULL, 0}, {FW_VALUE_NUMBER, 2, NULL, 0}, {FW_VALUE_STRING, 0, "abc", 3}};
    double out = 0;
    fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 1, .ts_ms = -1};
    CHECK_EQ(fw_monitor_observe(mon, &o), 137);
    CHECK_EQ(ev.n, 1);
    CHECK(ev.raised[0] && ev.a[0].kind == FW_ALARM_SCHEMA && ev.a[0].row == 137);
    CHECK_STR(ev.a[0].column, "x2");
    CHECK_STR(ev.a[0].statistic, "bad_type");
    /* a number as text is no violation; more bad values while active: listed once */
    v[2] = (fw_value){FW_VALUE_STRING, 0, " 4.5", 4};
    fw_monitor_observe(mon, &o);
    v[2] = (fw_value){FW_VALUE_STRING, 0, "abc", 3};
    fw_monitor_observe(mon, &o);
    CHECK_EQ(ev.n, 1);
    fw_alarm act[4];
    CHECK_EQ(fw_monitor_active(mon, act, 4), 1);
    /* 200 clean rows later (a quality window), it clears at a block's end */
    for (int r = 0; r < 260; r++) observe_num(mon, 3, x, NULL, 1);
    CHECK_EQ(ev.n, 2);
    CHECK(!ev.raised[1] && ev.a[1].kind == FW_ALARM_SCHEMA && ev.a[1].row == 349);
    CHECK_EQ(fw_monitor_active(mon, act, 4), 0);
    /* an absent column: flagged by the caller */
    uint8_t fl[3] = {0, FW_MON_ABSENT, 0};
    observe_num(mon, 3, x, fl, 1);
    CHECK_EQ(ev.n, 3);
    CHECK(ev.raised[2] && ev.a[2].row == 400 && ev.a[2].kind == FW_ALARM_SCHEMA);
    CHECK_STR(ev.a[2].column, "x1");
    CHECK_STR(ev.a[2].statistic, "absent");
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    CHECK_EQ(k.rows, 401);
    CHECK_EQ(k.raised[FW_ALARM_SCHEMA], 2);
    CHECK_EQ(k.active[FW_ALARM_SCHEMA], 1);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

static void test_expectations(void) {
    fw_srv_model *m = bare_model(2);
    events ev = {0};
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &ev;
    fw_monitor_expect ex[2] = {{"x0", 0, 10, NULL, 0, -1}, {"x1", NAN, NAN, NULL, 0, 0.1}};
    s.expect = ex;
    s.n_expect = 2;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    double ok[2] = {5, 1};
    for (int r = 0; r < 1000; r++) observe_num(mon, 2, ok, NULL, 1);
    CHECK_EQ(ev.n, 0);
    /* x0 out of its expected range on every other row from row 1000 */
    for (int r = 0; r < 100; r++) {
        double bad[2] = {r % 2 ? 50 : 5, 1};
        observe_num(mon, 2, bad, NULL, 1);
    }
    CHECK(ev.n >= 1);
    CHECK(ev.raised[0] && ev.a[0].kind == FW_ALARM_QUALITY && ev.a[0].row == 1049);
    CHECK_STR(ev.a[0].column, "x0");
    CHECK_STR(ev.a[0].statistic, "expectation_violations");
    /* x1 missing in 30% of rows: over its max_missing 0.1 once the quality window shows it */
    size_t before = ev.n;
    for (int r = 0; r < 200; r++) {
        double y[2] = {5, r % 10 < 3 ? NAN : 1};
        observe_num(mon, 2, y, NULL, 1);
    }
    bool x1 = false;
    for (size_t i = before; i < ev.n; i++)
        if (ev.raised[i] && !strcmp(ev.a[i].column, "x1")) {
            x1 = true;
            CHECK_STR(ev.a[i].statistic, "missing_rate");
            CHECK(ev.a[i].threshold == 0.1 && ev.a[i].value > 0.1);
            CHECK(ev.a[i].row >= 1100 && ev.a[i].row < 1300);
        }
    CHECK(x1);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

static void test_latency_budget(void) {
    fw_srv_model *m = bare_model(1);
    events ev = {0};
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &ev;
    s.p99_ms = 10;
    s.p50_ms = 3;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    double x = 1;
    for (int r = 0; r < 1000; r++) observe_num(mon, 1, &x, NULL, r % 100 == 0 ? 9 : 1); /* p99 9 ms: under */
    CHECK_EQ(ev.n, 0);
    for (int r = 0; r < 50; r++) observe_num(mon, 1, &x, NULL, r < 20 ? 50 : 1); /* 20 of 1000 at 50 ms */
    CHECK_EQ(ev.n, 1);
    CHECK(ev.a[0].kind == FW_ALARM_LATENCY && ev.a[0].row == 1049 && ev.a[0].column[0] == 0);
    CHECK_STR(ev.a[0].statistic, "p99_ms");
    CHECK(ev.a[0].value == 50 && ev.a[0].threshold == 10);
    for (int r = 0; r < 1000; r++) observe_num(mon, 1, &x, NULL, 1);
    CHECK_EQ(ev.n, 2);
    CHECK(!ev.raised[1] && ev.a[1].kind == FW_ALARM_LATENCY);
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_monitor_state_json(mon, &b));
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    CHECK_MSG(j != NULL, "%s: %.*s", je.text, (int)b.len, (const char *)b.data);
    CHECK_EQ(json_integer_value(json_object_get(j, "rows")), 2050);
    CHECK_EQ(json_integer_value(json_object_get(j, "blocks")), 41);
    CHECK(json_number_value(json_object_get(json_object_get(j, "latency"), "budget_p99_ms")) == 10);
    CHECK(json_number_value(json_object_get(json_object_get(j, "latency"), "p99_ms")) == 1);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "raised"), "latency")), 1);
    json_decref(j);
    fw_buf_free(&b);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

typedef struct thread_arg {
    fw_monitor *mon;
    int n;
} thread_arg;

static void *observer(void *p) {
    thread_arg *a = p;
    double x[4] = {1, 2, 3, 4};
    for (int r = 0; r < a->n; r++) observe_num(a->mon, 4, x, NULL, 0.1);
    return NULL;
}

static void test_threads_and_no_allocation(void) {
    fw_srv_model *m = bare_model(4);
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    pthread_t t[4];
    thread_arg a = {mon, 5000};
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, observer, &a);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    CHECK_EQ(k.rows, 20000);
    CHECK_EQ(k.blocks, 400);
    fw_monitor_column c;
    fw_monitor_column_get(mon, 3, &c);
    CHECK(c.missing_rate == 0);
    /* single-threaded now: observing (block closes and tests included) allocates nothing */
    long before = fw_alloc_count();
    double x[4] = {1, 2, NAN, 4};
    for (int r = 0; r < 3000; r++) observe_num(mon, 4, x, NULL, 0.1);
    CHECK_EQ(fw_alloc_count(), before);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

/* ---- against the checked-in artifact's reference ---------------------------------------------- */

/* Issue 17's load regression: a monitor costs nothing until it is used (a server loading 1,000
 * versions built 1,000 monitors, each calibrating every column and holding a 2.6 MiB join table);
 * its first observation builds it without calibrating (that is the prepare thread's work, or the
 * first full window's); equal references calibrate once per process; and where the calibration
 * happens does not change a single alarm. */
static void count_drift(fw_monitor *mon, const fw_srv_model *m, const fw_reference *ref, int rows, unsigned seed) {
    fw_value v[32];
    for (int r = 0; r < rows; r++) {
        fw_test_tiny_row(m, ref, r, 1500, &seed, v);
        double out = 0.3;
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1, .request_id = "r",
                            .request_id_len = 1};
        fw_monitor_observe(mon, &o);
    }
}

static void test_lazy_build(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    if (!ref) {
        fw_srv_model_unref(m);
        fw_bundle_free(b);
        return;
    }
    static events ev[2];
    memset(ev, 0, sizeof ev);
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.p99_ms = 0;
    s.reference = ref;
    s.window_rows = 700; /* settings no other test uses: nothing of this test is in the cache yet */
    s.on_alarm = on_alarm;
    fw_monitor *mon[2];
    fw_err err;
    for (int k = 0; k < 2; k++) {
        s.ud = &ev[k];
        size_t before = fw_bytes_in_use();
        CHECK_OK(fw_monitor_new(m, &s, &mon[k], &err));
        size_t idle = fw_bytes_in_use() - before;
        CHECK_MSG(idle < 4096, "an unused monitor holds %zu bytes", idle);
        CHECK(!fw_monitor_built(mon[k]));
        fw_monitor_counts c;
        fw_monitor_counts_get(mon[k], &c);
        CHECK_EQ(c.rows, 0);
        CHECK_EQ(fw_monitor_active(mon[k], NULL, 0), 0);
    }
    /* the first observation builds, and calibrates nothing: the request that makes it stays cheap */
    size_t entries0;
    uint64_t hits0;
    fw_calib_cache_stats(&entries0, &hits0);
    count_drift(mon[0], m, ref, 1, 11);
    CHECK(fw_monitor_built(mon[0]));
    size_t n_det = 0;
    for (size_t i = 0; i < mon[0]->n_cols; i++)
        if (mon[0]->cols[i].det) {
            n_det++;
            CHECK_MSG(!fw_detector_calibrated(mon[0]->cols[i].det), "column %s calibrated at the first observation",
                      mon[0]->cols[i].name);
        }
    CHECK(n_det >= 2);
    size_t entries1;
    uint64_t hits1;
    fw_calib_cache_stats(&entries1, &hits1);
    CHECK_EQ(entries1, entries0);
    /* monitor 0 is prepared ahead (a server's background thread); monitor 1 calibrates at its
     * first full window, from the cache that monitor 0 filled: the same alarms at the same rows */
    CHECK_OK(fw_monitor_prepare(mon[0], &err));
    for (size_t i = 0; i < mon[0]->n_cols; i++)
        if (mon[0]->cols[i].det) CHECK(fw_detector_calibrated(mon[0]->cols[i].det));
    fw_calib_cache_stats(&entries1, &hits1);
    CHECK(entries1 > entries0);
    count_drift(mon[0], m, ref, 2999, 12);
    count_drift(mon[1], m, ref, 1, 11);
    count_drift(mon[1], m, ref, 2999, 12);
    uint64_t hits2;
    fw_calib_cache_stats(&entries1, &hits2);
    CHECK_MSG(hits2 - hits1 >= n_det, "equal references calibrated again: %llu cache hits for %zu detectors",
              (unsigned long long)(hits2 - hits1), n_det);
    CHECK(ev[0].n > 0);
    CHECK_EQ(ev[0].n, ev[1].n);
    for (size_t i = 0; i < ev[0].n && i < ev[1].n; i++) {
        CHECK_EQ(ev[0].a[i].row, ev[1].a[i].row);
        CHECK_STR(ev[0].a[i].column, ev[1].a[i].column);
        CHECK_EQ(ev[0].a[i].threshold, ev[1].a[i].threshold);
    }
    for (int k = 0; k < 2; k++) fw_monitor_free(mon[k]);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

static void test_drift_against_reference(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_err err;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    if (!ref) {
        fw_srv_model_unref(m);
        fw_bundle_free(b);
        return;
    }
    events ev = {0};
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &ev;
    s.p99_ms = 0;
    s.reference = ref;
    fw_monitor *mon;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    unsigned seed = 7;
    size_t n = m->n_inputs;
    fw_value v[32];
    int g = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m->input_names[i], "glucose")) g = (int)i;
    CHECK(g >= 0);
    for (int r = 0; r < 6000; r++) {
        fw_test_tiny_row(m, ref, r, 3000, &seed, v); /* a one-"SD" shift of glucose from row 3000 */
        double out = 0.3;
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1};
        fw_monitor_observe(mon, &o);
    }
    bool glucose = false;
    for (size_t i = 0; i < ev.n; i++) {
        if (ev.raised[i] && ev.a[i].kind == FW_ALARM_DRIFT) {
            CHECK_MSG(ev.a[i].row >= 3000, "drift on %s at row %llu", ev.a[i].column, (unsigned long long)ev.a[i].row);
            if (!strcmp(ev.a[i].column, "glucose")) glucose = ev.a[i].row < 4000;
        }
        CHECK_MSG(ev.a[i].kind != FW_ALARM_QUALITY || ev.a[i].row >= 3000, "quality on %s at %llu", ev.a[i].column,
                  (unsigned long long)ev.a[i].row);
    }
    CHECK(glucose);
    /* a constant output far from the reference's predictions: prediction drift, model-level */
    bool pred = false;
    for (size_t i = 0; i < ev.n; i++) pred |= ev.raised[i] && ev.a[i].kind == FW_ALARM_PREDICTION && !ev.a[i].column[0];
    CHECK(pred);
    fw_monitor_column c;
    fw_monitor_column_get(mon, (size_t)g, &c);
    CHECK_STR(c.statistic, "chi2");
    CHECK(c.drift > c.drift_threshold);
    fw_monitor_free(mon);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

/* Two threads observing one monitor raise what one thread raises: nothing on an i.i.d. stream
 * drawn from the reference (each thread its own seed), and the same alarm on a column shifted from
 * a given stream row, within the same tolerance (the rows are the order the monitor saw). */
typedef struct iid_arg {
    fw_monitor *mon;
    const fw_srv_model *m;
    const fw_reference *ref;
    unsigned seed;
    _Atomic long *next;      /* stream rows handed out (the shift starts at row `shift`) */
    long rows, shift;
} iid_arg;

static void *iid_observer(void *p) {
    iid_arg *a = p;
    fw_value v[32];
    for (;;) {
        long r = atomic_fetch_add(a->next, 1);
        if (r >= a->rows) break;
        fw_test_tiny_row(a->m, a->ref, r, a->shift, &a->seed, v);
        double u[1];
        fw_test_uniforms(&a->seed, u, 1);
        double out = 0.3 + 0.01 * u[0];
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1};
        fw_monitor_observe(a->mon, &o);
    }
    return NULL;
}

/* Runs `threads` observers over `rows` rows; returns the events' count and the first drift row on
 * glucose (-1: none). */
static size_t run_threads(const fw_srv_model *m, const fw_reference *ref, int threads, long rows, long shift, events *ev,
                          long *glucose_row) {
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = ev;
    s.p99_ms = 0;
    s.reference = ref;
    s.drift = true;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    /* the output: not watched for drift here (the reference's predictions are the fixture
     * model's, not these draws) */
    _Atomic long next = 0;
    iid_arg a[2];
    pthread_t t[2];
    for (int i = 0; i < threads; i++) {
        a[i] = (iid_arg){mon, m, ref, 1000u + (unsigned)i * 7919u, &next, rows, shift};
        pthread_create(&t[i], NULL, iid_observer, &a[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    fw_monitor_flush(mon);
    *glucose_row = -1;
    size_t inputs = 0;
    for (size_t i = 0; i < ev->n; i++) {
        if (!ev->raised[i] || ev->a[i].kind == FW_ALARM_PREDICTION) continue;
        inputs++;
        if (*glucose_row < 0 && ev->a[i].kind == FW_ALARM_DRIFT && !strcmp(ev->a[i].column, "glucose"))
            *glucose_row = (long)ev->a[i].row;
    }
    fw_monitor_free(mon);
    return inputs;
}

static void test_two_threads_raise_what_one_raises(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    if (ref) {
        for (int th = 1; th <= 2; th++) {
            events ev = {0};
            long g;
            size_t n = run_threads(m, ref, th, 40000, -1, &ev, &g);
            CHECK_MSG(n == 0, "%d thread(s), no change: %zu input alarms (first: %s on %s at row %llu)", th, n,
                      n ? fw_alarm_kind_name(ev.a[0].kind) : "", n ? ev.a[0].column : "",
                      n ? (unsigned long long)ev.a[0].row : 0ULL);
            events ev2 = {0};
            run_threads(m, ref, th, 8000, 4000, &ev2, &g);
            CHECK_MSG(g >= 4000 && g < 5000, "%d thread(s): glucose shifted at row 4000 raised at row %ld", th, g);
            for (size_t i = 0; i < ev2.n; i++)
                CHECK_MSG(!ev2.raised[i] || ev2.a[i].kind == FW_ALARM_PREDICTION || ev2.a[i].row >= 4000,
                          "%d thread(s): %s on %s at row %llu, before the change", th, fw_alarm_kind_name(ev2.a[i].kind),
                          ev2.a[i].column, (unsigned long long)ev2.a[i].row);
        }
        fw_reference_free(ref);
    }
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

/* Eight threads observing one monitor (two per count shard: monitor_int.h) keep every row's cells in
 * the block of its row number, as one thread does: with every row the same, each block holds
 * exactly step_rows rows in the same cells, so the per-block history of every column's drift
 * statistic (a function of the window's counts) equals one thread's exactly — a row counted into
 * the next block (an add not waited for at the close) makes one window 1,001 rows and changes it. */
typedef struct same_arg {
    fw_monitor *mon;
    const fw_value *v;
    long rows;
} same_arg;

static void *same_observer(void *p) {
    same_arg *a = p;
    double out = 0.3;
    for (long r = 0; r < a->rows; r++) {
        fw_monitor_obs o = {.values = a->v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1};
        fw_monitor_observe(a->mon, &o);
    }
    return NULL;
}

static void test_threads_keep_rows_in_their_blocks(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    fw_value v[32];
    for (size_t i = 0; ref && i < m->n_inputs && i < 32; i++) {
        const fw_ref_column *c = fw_reference_column(ref, m->input_names[i]);
        v[i] = (fw_value){FW_VALUE_NUMBER, c && c->n_bins ? (c->min + c->max) / 2 : 0, NULL, 0};
    }
    enum { ROWS = 24000 };
    size_t n_hist[2] = {0, 0}, n_cols = 0;
    double *hist[2] = {NULL, NULL};
    for (int pass = 0; ref && pass < 2; pass++) {
        int threads = pass ? 8 : 1;
        fw_monitor_settings s;
        fw_monitor_settings_init(&s);
        s.p99_ms = 0;
        s.reference = ref;
        s.history = true;
        fw_monitor *mon;
        fw_err err;
        CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
        if (!mon) break;
        same_arg a[8];
        pthread_t t[8];
        for (int i = 0; i < threads; i++) {
            a[i] = (same_arg){mon, v, ROWS / threads};
            pthread_create(&t[i], NULL, same_observer, &a[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        fw_monitor_counts k;
        fw_monitor_counts_get(mon, &k);
        CHECK_EQ(k.rows, ROWS);
        CHECK_EQ(k.blocks, ROWS / 50);
        const uint64_t *hr;
        const double *hv;
        n_cols = fw_monitor_n_columns(mon);
        n_hist[pass] = fw_monitor_history(mon, &hr, &hv);
        hist[pass] = malloc(n_hist[pass] * (n_cols ? n_cols : 1) * sizeof(double) + 1);
        if (hist[pass]) memcpy(hist[pass], hv, n_hist[pass] * n_cols * sizeof(double));
        for (size_t w = 0; w < n_hist[pass]; w++) CHECK_EQ(hr[w], 50 * w + 49);
        fw_monitor_free(mon);
    }
    CHECK_EQ(n_hist[0], ROWS / 50);
    CHECK_EQ(n_hist[1], n_hist[0]);
    size_t differ = 0, first = SIZE_MAX;
    for (size_t i = 0; hist[0] && hist[1] && n_hist[0] == n_hist[1] && i < n_hist[0] * n_cols; i++)
        if (memcmp(&hist[0][i], &hist[1][i], sizeof(double))) {
            differ++;
            if (first == SIZE_MAX) first = i;
        }
    CHECK_MSG(differ == 0, "8 threads: %zu of %zu per-block drift figures differ from 1 thread's (first: block %zu)",
              differ, n_hist[0] * n_cols, first == SIZE_MAX ? 0 : first / (n_cols ? n_cols : 1));
    free(hist[0]);
    free(hist[1]);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

/* The thread a server gives the live metric's window closes (settings.on_perf_window): woken by
 * the labelling thread, it calls fw_monitor_perf_close. ev first: on_alarm reads ud as events. */
typedef struct closer {
    events ev;
    fw_monitor *mon;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t asked, closed;
    bool stop;
} closer;

static bool closer_wake(void *ud) {
    closer *c = ud;
    pthread_mutex_lock(&c->mu);
    c->asked++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return true;
}

static void *closer_main(void *ud) {
    closer *c = ud;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->asked && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
        if (!c->asked) break;
        c->asked = 0;
        pthread_mutex_unlock(&c->mu);
        size_t n = fw_monitor_perf_close(c->mon);
        pthread_mutex_lock(&c->mu);
        c->closed += n;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* A slice's performance alarm goes through the monitor in a slot of its own: named by the group
 * column and the value (column x1, slice "1") in the callback, the active list and the state.
 * off_thread: the windows are closed by a thread of the test's (on_perf_window ->
 * fw_monitor_perf_close), not by fw_monitor_feedback: the same alarm, raised once, at the same row,
 * through the same callback; fw_monitor_perf_pending is 0 once the thread is done. */
static void slice_alarm_through_monitor(bool off_thread, uint64_t *alarm_row) {
    fw_srv_model *m = bare_model(2);
    closer cl = {0};
    events *evp = &cl.ev;
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &cl;
    if (off_thread) s.on_perf_window = closer_wake;
    const char *groups[] = {"x1"};
    s.groups = groups;
    s.n_groups = 1;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    CHECK_OK(fw_monitor_build(mon, &err));
    cl.mon = mon;
    pthread_t th;
    pthread_mutex_init(&cl.mu, NULL);
    pthread_cond_init(&cl.cv, NULL);
    if (off_thread) pthread_create(&th, NULL, closer_main, &cl);
    unsigned seed = 5;
    for (int r = 0; r < 6000; r++) {
        double u[2];
        fw_test_uniforms(&seed, u, 2);
        double x0 = 10 * u[0], x1 = u[1] < 0 ? 1 : 2, out = x0;
        fw_value v[2] = {{FW_VALUE_NUMBER, x0, NULL, 0}, {FW_VALUE_NUMBER, x1, NULL, 0}};
        char rid[24];
        int rl = snprintf(rid, sizeof rid, "r%d", r);
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.1, .ts_ms = -1, .request_id = rid,
                            .request_id_len = (size_t)rl};
        fw_monitor_observe(mon, &o);
        fw_value y = {FW_VALUE_NUMBER, x0 + 0.1 * u[1] + (r >= 3000 && x1 == 1 ? 5 : 0), NULL, 0};
        CHECK_OK(fw_monitor_feedback(mon, rid, (size_t)rl, &y, -1, &err));
    }
    if (off_thread) {
        pthread_mutex_lock(&cl.mu);
        cl.stop = true;
        pthread_cond_signal(&cl.cv);
        pthread_mutex_unlock(&cl.mu);
        pthread_join(th, NULL);
        CHECK_EQ(cl.closed, 6000 / 500); /* every window by the thread (the label windows: 500) */
    }
    CHECK_EQ(fw_monitor_perf_pending(mon), 0);
    events ev = *evp;
    size_t found = 0;
    for (size_t i = 0; i < ev.n; i++)
        if (ev.raised[i] && ev.a[i].kind == FW_ALARM_PERFORMANCE && ev.a[i].slice[0]) {
            CHECK_STR(ev.a[i].column, "x1");
            CHECK_STR(ev.a[i].slice, "1");
            CHECK_MSG(ev.a[i].row >= 3000 && ev.a[i].row < 4000, "slice alarm at row %llu", (unsigned long long)ev.a[i].row);
            *alarm_row = ev.a[i].row;
            found++;
        }
    CHECK_EQ(found, 1);
    fw_alarm act[64];
    size_t na = fw_monitor_active(mon, act, 64), slice_active = 0;
    for (size_t i = 0; i < na && i < 64; i++) slice_active += act[i].slice[0] && !strcmp(act[i].slice, "1");
    CHECK_EQ(slice_active, 1);
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_monitor_state_json(mon, &b));
    CHECK_CONTAINS((const char *)b.data, "\"kind\":\"performance\",\"column\":\"x1\",\"slice\":\"1\"");
    fw_buf_free(&b);
    fw_monitor_free(mon);
    pthread_mutex_destroy(&cl.mu);
    pthread_cond_destroy(&cl.cv);
    fw_srv_model_unref(m);
}

static void test_slice_alarm_through_monitor(void) {
    uint64_t on_labeller = 0, off_thread = 1;
    slice_alarm_through_monitor(false, &on_labeller);
    slice_alarm_through_monitor(true, &off_thread);
    CHECK_EQ(off_thread, on_labeller);
}

int main(void) {
    TEST_RUN(test_settings_checked);
    TEST_RUN(test_schema_at_its_row);
    TEST_RUN(test_expectations);
    TEST_RUN(test_latency_budget);
    TEST_RUN(test_threads_and_no_allocation);
    TEST_RUN(test_drift_against_reference);
    TEST_RUN(test_lazy_build);
    TEST_RUN(test_two_threads_raise_what_one_raises);
    TEST_RUN(test_slice_alarm_through_monitor);
    TEST_RUN(test_threads_keep_rows_in_their_blocks);
    return fw_test_report("test_monitor");
}
