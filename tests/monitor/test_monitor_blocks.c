/* test_monitor_blocks.c — the blocks' tests off the observing thread (src/monitor/monitor.c
 * settings.on_blocks / fw_monitor_close_blocks): with a closer thread taking the closed blocks, the
 * observing thread raises no alarm of a block's tests (none on it, every one on the closer) and
 * the alarms are the inline ones exactly (rows, kinds, columns, values, in order); a closer that
 * lags leaves the blocks waiting in the ring — at most half of it before an observation helps —
 * and every reader, fw_monitor_flush and fw_monitor_close_blocks test them first; eight observing
 * threads whose blocks are summed outside count_mu keep every row in the block of its row number
 * (per-block drift history equal to one thread's inline). */
#include "monitor/monitor.h"
#include "monitor/monitor_int.h"
#include "test.h"
#include "monitor_fixture.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct events {
    fw_alarm a[256];
    bool raised[256];
    size_t n;
    pthread_t observer;
    size_t on_observer;        /* alarms raised on the observing thread */
} events;

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    events *e = ud;
    if (pthread_equal(pthread_self(), e->observer)) e->on_observer++;
    if (e->n < 256) {
        e->a[e->n] = *a;
        e->raised[e->n++] = raised;
    }
}

/* A thread of the test's that tests the closed blocks when on_blocks asks (a server's monitor
 * thread). ev first: on_alarm reads ud as events. */
typedef struct closer {
    events ev;
    fw_monitor *mon;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t asked, tested;
    bool stop, refuse;         /* refuse: on_blocks says no one takes them (tests on the observer) */
    _Atomic size_t calls;
} closer;

static bool closer_wake(void *ud) {
    closer *c = ud;
    atomic_fetch_add(&c->calls, 1);
    if (c->refuse) return false;
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
        size_t n = fw_monitor_close_blocks(c->mon);
        pthread_mutex_lock(&c->mu);
        c->tested += n;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static bool never_taken_wake(void *ud) {
    atomic_fetch_add(&((closer *)ud)->calls, 1);
    return true; /* "taken", and no thread ever tests: the blocks wait for the readers */
}

/* The tiny fixture's stream with glucose shifted from row 3000 (drift, quality and prediction
 * alarms) through a monitor: inline (mode 0), through a closer thread (1), or with on_blocks
 * refusing (2: the observer tests, as inline). */
static void drift_stream(const fw_srv_model *m, const fw_reference *ref, int mode, closer *cl) {
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = cl;
    s.p99_ms = 0;
    s.reference = ref;
    if (mode) s.on_blocks = closer_wake;
    cl->refuse = mode == 2;
    cl->ev.observer = pthread_self();
    fw_monitor *mon;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    if (!mon) return;
    CHECK_OK(fw_monitor_build(mon, &err));
    cl->mon = mon;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv, NULL);
    pthread_t th;
    if (mode == 1) pthread_create(&th, NULL, closer_main, cl);
    unsigned seed = 7;
    fw_value v[32];
    for (int r = 0; r < 6000; r++) {
        fw_test_tiny_row(m, ref, r, 3000, &seed, v);
        double out = 0.3;
        fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1};
        fw_monitor_observe(mon, &o);
        CHECK(fw_monitor_blocks_pending(mon) <= MON_RING / 2);
        /* the test's closer kept within half the ring (a loaded machine can delay it): the
         * observer's help (monitor.h) stays out of this test */
        while (mode == 1 && fw_monitor_blocks_pending(mon) >= MON_RING / 4) sched_yield();
    }
    if (mode == 1) {
        pthread_mutex_lock(&cl->mu);
        cl->stop = true;
        pthread_cond_signal(&cl->cv);
        pthread_mutex_unlock(&cl->mu);
        pthread_join(th, NULL);
        CHECK_EQ(fw_monitor_blocks_pending(mon), 0);
        CHECK_EQ(cl->tested, 6000 / 50); /* every block by the closer */
    }
    if (mode) CHECK_EQ(atomic_load(&cl->calls), 6000 / 50); /* asked once per closed block */
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    CHECK_EQ(k.blocks, 6000 / 50);
    fw_monitor_free(mon);
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->cv);
}

static void test_tests_off_the_observing_thread(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    closer *cl = calloc(3, sizeof *cl);
    for (int mode = 0; ref && cl && mode < 3; mode++) drift_stream(m, ref, mode, &cl[mode]);
    if (ref && cl) {
        const events *in = &cl[0].ev, *off = &cl[1].ev;
        CHECK(in->n >= 2); /* the stream raises (drift on glucose, the prediction) */
        CHECK_EQ(in->on_observer, in->n);
        CHECK_MSG(off->on_observer == 0, "%zu of %zu alarms raised on the observing thread with a closer",
                  off->on_observer, off->n);
        CHECK_EQ(cl[2].ev.on_observer, cl[2].ev.n); /* refused: the observer tests */
        for (int mode = 1; mode < 3; mode++) {
            const events *e = &cl[mode].ev;
            CHECK_EQ(e->n, in->n);
            size_t differ = 0;
            for (size_t i = 0; i < e->n && i < in->n; i++)
                differ += e->raised[i] != in->raised[i] || e->a[i].kind != in->a[i].kind || e->a[i].row != in->a[i].row ||
                          strcmp(e->a[i].column, in->a[i].column) || strcmp(e->a[i].statistic, in->a[i].statistic) ||
                          memcmp(&e->a[i].value, &in->a[i].value, sizeof(double)) || strcmp(e->a[i].detail, in->a[i].detail);
            CHECK_MSG(differ == 0, "mode %d: %zu of %zu alarms differ from the inline ones", mode, differ, in->n);
        }
    }
    free(cl);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

/* on_blocks takes the blocks and no thread tests them: they wait in the ring (an observation helps
 * once half of it waits), and every reader tests them first. */
static void test_waiting_blocks_read(void) {
    fw_bundle *b = NULL;
    fw_srv_model *m = fw_test_tiny_model(&b);
    if (!m) return;
    fw_reference *ref = fw_test_tiny_reference(m, b);
    closer cl;
    memset(&cl, 0, sizeof cl);
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = &cl;
    s.p99_ms = 0;
    s.reference = ref;
    s.history = true;
    s.on_blocks = never_taken_wake;
    fw_monitor *mon = NULL;
    fw_err err;
    if (ref) CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    unsigned seed = 11;
    fw_value v[32];
    double out = 0.3;
    fw_monitor_obs o = {.values = v, .outputs = &out, .latency_ms = 0.01, .ts_ms = -1};
    for (int r = 0; mon && r < 350; r++) {
        fw_test_tiny_row(m, ref, r, -1, &seed, v);
        fw_monitor_observe(mon, &o);
    }
    if (mon) {
        CHECK_EQ(fw_monitor_blocks_pending(mon), 7);
        const uint64_t *hr;
        const double *hv;
        CHECK_EQ(fw_monitor_history(mon, &hr, &hv), 7); /* the reader tested them */
        CHECK_EQ(fw_monitor_blocks_pending(mon), 0);
        size_t most = 0;
        for (int r = 350; r < 350 + 50 * 3 * MON_RING; r++) {
            fw_test_tiny_row(m, ref, r, -1, &seed, v);
            fw_monitor_observe(mon, &o);
            size_t p = fw_monitor_blocks_pending(mon);
            if (p > most) most = p;
        }
        CHECK_EQ(most, MON_RING / 2); /* helped at half the ring: never full */
        fw_monitor_counts k;
        fw_monitor_counts_get(mon, &k);
        CHECK_EQ(k.blocks, 7 + 3 * MON_RING);
        CHECK_EQ(fw_monitor_blocks_pending(mon), 0);
        for (int r = 0; r < 120; r++) fw_monitor_observe(mon, &o);
        CHECK_EQ(fw_monitor_blocks_pending(mon), 2);
        fw_monitor_column c;
        fw_monitor_column_get(mon, 0, &c);
        CHECK_EQ(fw_monitor_blocks_pending(mon), 0);
        for (int r = 0; r < 120; r++) fw_monitor_observe(mon, &o);
        fw_monitor_flush(mon); /* the 2 waiting, then the partial third */
        fw_monitor_counts_get(mon, &k);
        CHECK_EQ(k.blocks, 7 + 3 * MON_RING + 2 + 3);
        CHECK_EQ(k.rows, 350 + 50 * 3 * MON_RING + 240);
        for (int r = 0; r < 100; r++) fw_monitor_observe(mon, &o);
        CHECK_EQ(fw_monitor_close_blocks(mon), 2);
        fw_buf js;
        fw_buf_init(&js);
        for (int r = 0; r < 50; r++) fw_monitor_observe(mon, &o);
        CHECK_OK(fw_monitor_state_json(mon, &js));
        fw_buf_put_u8(&js, 0);
        char want[64];
        snprintf(want, sizeof want, "\"blocks\":%d", 7 + 3 * MON_RING + 2 + 3 + 2 + 1);
        CHECK_CONTAINS((const char *)js.data, want);
        fw_buf_free(&js);
    }
    fw_monitor_free(mon);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

/* Eight threads and a closer: each block's arrays are summed after count_mu is let go, and every
 * row still counts in the block of its row number (every row the same: each block the same
 * counts, so the per-block drift history equals one thread's inline exactly). */
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

static void test_threads_and_closer_keep_rows_in_their_blocks(void) {
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
    closer *cl = calloc(1, sizeof *cl);
    for (int pass = 0; ref && cl && pass < 2; pass++) {
        int threads = pass ? 8 : 1;
        fw_monitor_settings s;
        fw_monitor_settings_init(&s);
        s.p99_ms = 0;
        s.reference = ref;
        s.history = true;
        if (pass) {
            s.on_blocks = closer_wake;
            s.ud = cl;
        }
        fw_monitor *mon;
        fw_err err;
        CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
        if (!mon) break;
        CHECK_OK(fw_monitor_build(mon, &err));
        cl->mon = mon;
        pthread_mutex_init(&cl->mu, NULL);
        pthread_cond_init(&cl->cv, NULL);
        pthread_t ct;
        if (pass) pthread_create(&ct, NULL, closer_main, cl);
        same_arg a[8];
        pthread_t t[8];
        for (int i = 0; i < threads; i++) {
            a[i] = (same_arg){mon, v, ROWS / threads};
            pthread_create(&t[i], NULL, same_observer, &a[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
        if (pass) {
            pthread_mutex_lock(&cl->mu);
            cl->stop = true;
            pthread_cond_signal(&cl->cv);
            pthread_mutex_unlock(&cl->mu);
            pthread_join(ct, NULL);
        }
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
        pthread_mutex_destroy(&cl->mu);
        pthread_cond_destroy(&cl->cv);
    }
    CHECK_EQ(n_hist[0], ROWS / 50);
    CHECK_EQ(n_hist[1], n_hist[0]);
    size_t differ = 0;
    for (size_t i = 0; hist[0] && hist[1] && n_hist[0] == n_hist[1] && i < n_hist[0] * n_cols; i++)
        differ += memcmp(&hist[0][i], &hist[1][i], sizeof(double)) != 0;
    CHECK_MSG(differ == 0, "8 threads and a closer: %zu of %zu per-block drift figures differ from 1 thread's", differ,
              n_hist[0] * n_cols);
    free(hist[0]);
    free(hist[1]);
    free(cl);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_bundle_free(b);
}

int main(void) {
    TEST_RUN(test_tests_off_the_observing_thread);
    TEST_RUN(test_waiting_blocks_read);
    TEST_RUN(test_threads_and_closer_keep_rows_in_their_blocks);
    return fw_test_report("test_monitor_blocks");
}
