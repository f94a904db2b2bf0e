/* test_monitor_time.c — windows by time (src/monitor/monitor.c, settings.block_seconds): a block is
 * timed from its first row's own timestamp and closes BEFORE counting the first row that is
 * block_seconds past it; fw_monitor_tick_at closes it at exactly that row when no further row
 * comes (an idle server), so a stream with pauses raises the same alarms at the same rows whether
 * the pauses are ended by the late row or by ticks; a stream that never pauses raises exactly what
 * it raised by count alone; a slow trickle is tested every block_seconds; rows without a time
 * (the replay without --time-column) never close a block by time. */
#include "monitor/monitor.h"
#include "test.h"
#include "monitor_fixture.h"

#include "artifact/artifact.h"
#include "data/load.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_EV = 256 };

typedef struct events {
    fw_alarm a[MAX_EV];
    bool raised[MAX_EV];
    size_t n;
} events;

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    events *e = ud;
    if (e->n < MAX_EV) {
        e->a[e->n] = *a;
        e->raised[e->n++] = raised;
    }
}

static fw_srv_model *bare_model(void) {
    fw_srv_model *m = fw_srv_model_new("bare", "1");
    const char *names[1] = {"x0"};
    CHECK_OK(fw_srv_model_set_inputs(m, names, 1));
    m->task = FW_TASK_REGRESSION;
    m->n_outputs = 1;
    return m;
}

static void observe_at(fw_monitor *mon, double x, int64_t ts) {
    fw_value v = {FW_VALUE_NUMBER, x, NULL, 0};
    double out = 0.5;
    fw_monitor_obs o = {.values = &v, .outputs = &out, .latency_ms = 1, .ts_ms = ts};
    fw_monitor_observe(mon, &o);
}

static fw_monitor *timed(fw_srv_model *m, double block_s, events *ev) {
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.block_seconds = block_s;
    s.history = true;
    s.on_alarm = ev ? on_alarm : NULL;
    s.ud = ev;
    fw_monitor *mon = NULL;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    return mon;
}

/* The rows that closed each block so far, as text. */
static void block_rows(fw_monitor *mon, char *out, size_t cap) {
    const uint64_t *row;
    const double *val;
    size_t n = fw_monitor_history(mon, &row, &val), len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && len < cap; i++) len += (size_t)snprintf(out + len, cap - len, "%llu,", (unsigned long long)row[i]);
}

static const int64_t t0 = 1700000000000LL;

static void test_close_before_the_late_row(void) {
    fw_srv_model *m = bare_model();
    fw_monitor *mon = timed(m, 10, NULL);
    for (int r = 0; r < 20; r++) observe_at(mon, r, t0 + r * 100); /* rows 0-19 within 2 s */
    observe_at(mon, 1, t0 + 9999);                                  /* row 20: still inside */
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    CHECK_EQ(k.blocks, 0);
    observe_at(mon, 1, t0 + 10000); /* row 21: 10 s past row 0 → the block of rows 0-20 closes first */
    fw_monitor_counts_get(mon, &k);
    CHECK_EQ(k.blocks, 1);
    CHECK_EQ(k.rows, 22);
    char got[256];
    block_rows(mon, got, sizeof got);
    CHECK_STR(got, "20,");
    /* the next block is timed from row 21's own time, and still closes by count */
    for (int r = 0; r < 49; r++) observe_at(mon, r, t0 + 10000 + r);
    block_rows(mon, got, sizeof got);
    CHECK_STR(got, "20,70,");
    /* rows without a time never close a block by time, whatever block_seconds says */
    fw_monitor *untimed = timed(m, 10, NULL);
    for (int r = 0; r < 30; r++) observe_at(untimed, r, -1);
    CHECK(!fw_monitor_tick_at(untimed, t0 + 1000000));
    fw_monitor_counts_get(untimed, &k);
    CHECK_EQ(k.blocks, 0);
    fw_monitor_free(untimed);
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

static void test_tick_closes_at_the_same_row(void) {
    fw_srv_model *m = bare_model();
    fw_monitor *a = timed(m, 10, NULL), *b = timed(m, 10, NULL);
    for (int r = 0; r < 7; r++) {
        observe_at(a, r, t0 + r * 1000);
        observe_at(b, r, t0 + r * 1000);
    }
    CHECK(!fw_monitor_tick_at(b, t0 + 9999)); /* not yet */
    CHECK(fw_monitor_tick_at(b, t0 + 10000)); /* idle: the tick closes rows 0-6 */
    CHECK(!fw_monitor_tick_at(b, t0 + 20000)); /* nothing open */
    observe_at(a, 1, t0 + 30000); /* the late row closes a's block first */
    observe_at(b, 1, t0 + 30000);
    char ga[128], gb[128];
    block_rows(a, ga, sizeof ga);
    block_rows(b, gb, sizeof gb);
    CHECK_STR(ga, "6,");
    CHECK_STR(gb, "6,");
    /* the tick reads the wall clock: a block whose rows are stamped now stays open */
    fw_monitor *c = timed(m, 10, NULL);
    observe_at(c, 1, 0); /* 0: the clock */
    CHECK(!fw_monitor_tick(c));
    fw_monitor_free(a);
    fw_monitor_free(b);
    fw_monitor_free(c);
    fw_srv_model_unref(m);
}

static void test_trickle_tested_every_block(void) {
    fw_srv_model *m = bare_model();
    fw_monitor *mon = timed(m, 60, NULL);
    for (int r = 0; r < 40; r++) observe_at(mon, r, t0 + (int64_t)r * 10000); /* a row every 10 s */
    char got[256];
    block_rows(mon, got, sizeof got);
    CHECK_STR(got, "5,11,17,23,29,35,"); /* 6 rows (60 s) a block, never 50 */
    fw_monitor_free(mon);
    fw_srv_model_unref(m);
}

/* ---- with drift tests, on the checked-in artifact's reference ----------------------------------- */

/* The time of row r: 10 ms apart, and (with pauses) a 45 s pause before every 137th row. */
static int64_t row_time(int r, bool pauses) { return t0 + (int64_t)r * 10 + (pauses ? (int64_t)(r / 137) * 45000 : 0); }

/* Streams 6,000 rows drawn from the reference (glucose shifted by about one SD from row 3000, the
 * output a constant far from the reference's) into a monitor with block_s; ts: the rows' times,
 * or none (-1). tick: also ticks every simulated second between rows (an idle server). */
static void stream(const fw_srv_model *m, const fw_reference *ref, double block_s, bool pauses, bool with_ts, bool tick,
                   events *ev, uint64_t *blocks) {
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = ev;
    s.p99_ms = 0;
    s.reference = ref;
    s.block_seconds = block_s;
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    unsigned seed = 7;
    fw_value v[32];
    int64_t clock = row_time(0, pauses);
    for (int r = 0; r < 6000; r++) {
        int64_t t = row_time(r, pauses);
        for (; tick && clock + 1000 <= t; clock += 1000) fw_monitor_tick_at(mon, clock + 1000);
        fw_test_tiny_row(m, ref, r, 3000, &seed, v);
        double out = 0.3;
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = with_ts ? t : -1};
        fw_monitor_observe(mon, &o);
    }
    fw_monitor_flush(mon);
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    *blocks = k.blocks;
    fw_monitor_free(mon);
}

static char *event_keys(const events *e, bool with_ts) {
    size_t cap = 64 + 160 * e->n, len = 0;
    char *s = calloc(1, cap);
    for (size_t i = 0; i < e->n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s %llu %s %s %s %.17g %lld;", e->raised[i] ? "+" : "-",
                                (unsigned long long)e->a[i].row, fw_alarm_kind_name(e->a[i].kind), e->a[i].column,
                                e->a[i].statistic, e->a[i].value, with_ts ? (long long)e->a[i].ts_ms : 0LL);
    return s;
}

static void test_pauses_and_no_pauses(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    if (ref) {
        static events count_only, steady, late_row, ticked;
        uint64_t bk0, bk1, bk2, bk3;
        /* a stream that never pauses 5 minutes: exactly the alarms of windows by count */
        stream(m, ref, 0, false, false, false, &count_only, &bk0);
        stream(m, ref, 300, false, true, true, &steady, &bk1);
        char *a = event_keys(&count_only, false), *b1 = event_keys(&steady, false);
        CHECK_MSG(!strcmp(a, b1), "block_s 300 changed the alarms of a steady stream:\n  %s\n  %s", a, b1);
        CHECK_EQ(bk0, bk1);
        CHECK(strstr(a, "+ ") != NULL); /* it does raise (the shift, the output) */
        /* pauses of 45 s with block_s 20: the late rows and the idle ticks close the same blocks */
        stream(m, ref, 20, true, true, false, &late_row, &bk2);
        stream(m, ref, 20, true, true, true, &ticked, &bk3);
        char *c = event_keys(&late_row, true), *d = event_keys(&ticked, true);
        CHECK_MSG(!strcmp(c, d), "tick and late row differ:\n  %s\n  %s", c, d);
        CHECK_EQ(bk2, bk3);
        CHECK_MSG(bk2 > bk0, "no block closed by time: %llu vs %llu", (unsigned long long)bk2, (unsigned long long)bk0);
        /* and the shift is still found after the change, nothing before it */
        bool glucose = false;
        for (size_t i = 0; i < late_row.n; i++)
            if (late_row.raised[i] && late_row.a[i].kind == FW_ALARM_DRIFT) {
                CHECK_MSG(late_row.a[i].row >= 3000, "drift on %s at row %llu", late_row.a[i].column,
                          (unsigned long long)late_row.a[i].row);
                glucose |= !strcmp(late_row.a[i].column, "glucose") && late_row.a[i].row < 4000;
            }
        CHECK(glucose);
        free(a);
        free(b1);
        free(c);
        free(d);
        fw_reference_free(ref);
    }
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

int main(void) {
    TEST_RUN(test_close_before_the_late_row);
    TEST_RUN(test_tick_closes_at_the_same_row);
    TEST_RUN(test_trickle_tested_every_block);
    TEST_RUN(test_pauses_and_no_pauses);
    return fw_test_report("test_monitor_time");
}
