/* monitoring.c — owns the server's side of monitoring (monitoring.h): settings from the config's
 * `monitoring:` section, one monitor per loaded model version, the per-instance and feedback calls,
 * the endpoint's state and the /metrics families. */
#include "serve/monitoring.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "monitor/monitor.h"
#include "serve/alerts.h"
#include "serve/learning.h"
#include "serve/metrics.h"
#include "serve/routes.h"
#include "serve/server_int.h"
#include "store/store.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The prepare thread: a version's monitor is built by its first prediction (monitor.h: cheap), and
 * its detectors' calibration (~1.4 ms a column, the expensive part) is done here, off the request
 * path, before the first full drift window needs it. A bounded queue of model references; when it
 * is full the version is not queued and its first full window calibrates on its own.
 * The same thread ticks every attached monitor (fw_monitor_tick) when monitoring.block_s > 0, every
 * tick_s (1 s, or block_s / 4 when shorter): a block whose first row is block_s old is closed and
 * tested even when no further prediction comes (a trickle of traffic is tested every block_s).
 * And it closes the live metric's label windows (monitor.h on_perf_window): the /v1/feedback
 * whose label fills a window only queues it (a pointer swap) and queues its version here (once:
 * a version already queued is not queued again; unbounded, a list through the versions' hooks);
 * this thread computes the window's metrics and bootstrap intervals and raises its alarms
 * (fw_monitor_perf_close), first among its jobs. At shutdown the versions still queued are closed
 * before the alert thread drains; a label that fills a window after that closes it itself.
 * It also runs the tests of the monitors' closed blocks (monitor.h on_blocks) and closes the
 * estimate windows predictions fill (perf.h: queued like label windows): a prediction whose row
 * closes a block queues its version here (close list) unless this thread holds it already; this
 * thread tests the version's closed blocks (fw_monitor_close_blocks) and then holds it (a
 * reference kept, its blocks_held flag set) and closes its blocks and windows again every
 * HELD_NAP_NS while any come: under sustained traffic the request threads only close blocks and
 * swap estimate buffers (no lock taken, no wake-up: the flag is set); a version whose round finds
 * nothing is let go (the next block queues it again; the flag is cleared before a last look, so
 * nothing queued is left without a closer). At shutdown the held versions are closed and let go;
 * from then on a request thread runs its block's tests (and its window's close) itself. */
enum { PREP_QUEUE = 256 };
enum { HELD_NAP_NS = 3000000 }; /* 3 ms: ~4 blocks of 50 rows at 70k predictions/s, of 15 in the ring */

typedef struct mon_hook mon_hook;

struct fw_srv_monitoring {
    const fw_serve_monitoring *cfg;
    fw_alerts *alerts;
    char *log_home;            /* the store home the prediction log goes to (late labels are joined
                                  through it: perf.h's store lookup); NULL when it goes elsewhere */
    fw_srv_alarm_hook_fn alarm_fn; /* raised alarms also go here (serve/learning.h), or NULL */
    void *alarm_ud;
    pthread_mutex_t prep_mu;
    pthread_cond_t prep_cv;
    pthread_t prep_thread;
    bool prep_started, prep_stop;
    fw_srv_model *prep_q[PREP_QUEUE];
    size_t prep_head, prep_n;
    mon_hook *close_head, *close_tail; /* versions with label windows or blocks to close (prep_mu) */
    mon_hook *held_head;       /* versions whose blocks this thread tests every HELD_NAP_NS (its own) */
    atomic_uint_fast64_t prepared;
    /* the attached monitors, for the tick (live_mu; a monitor leaves at fw_srv_monitor_detach) */
    double tick_s;             /* 0: no tick (block_s 0) */
    pthread_mutex_t live_mu;
    fw_monitor **live;
    size_t n_live, cap_live;
};

/* What a monitor's alarm callback needs: where alarms go and which version raised them; and
 * whether the version was queued for the prepare thread. */
struct mon_hook {
    fw_alerts *alerts;
    fw_srv_monitoring *sm;
    fw_srv_model *m;           /* the version (the hook lives as long as it does) */
    bool close_queued;         /* on the close list (prep_mu); a reference to m held meanwhile */
    mon_hook *close_next;
    atomic_bool blocks_held;   /* the monitor thread tests this version's blocks: a close only
                                  leaves them in the ring (set by the close that queues it) */
    bool held;                 /* on held_head (the monitor thread's alone); a reference held */
    mon_hook *held_next;
    atomic_bool queued;
    char name[129];
    int64_t version;           /* the registry's number; 0 when the version is not a number (directory models) */
};

/* Queues h's version for this thread unless it is stopping (false: the caller closes what it
 * queued itself). */
static bool close_enqueue(mon_hook *h) {
    fw_srv_monitoring *sm = h->sm;
    if (!sm->prep_started) return false;
    pthread_mutex_lock(&sm->prep_mu);
    bool taken = !sm->prep_stop;
    if (taken && !h->close_queued) {
        h->close_queued = true;
        fw_srv_model_ref(h->m);
        h->close_next = NULL;
        if (sm->close_tail) sm->close_tail->close_next = h;
        else sm->close_head = h;
        sm->close_tail = h;
        pthread_cond_signal(&sm->prep_cv);
    }
    pthread_mutex_unlock(&sm->prep_mu);
    return taken;
}

/* on_blocks (monitor.h): a prediction closed a block of m's monitor. Held by the monitor thread
 * already: nothing to do (one load); else the version is queued for it (false when it is stopping:
 * the closing thread tests the block). The flag is set before the queueing and read after the
 * close (both seq_cst), and the thread clears it before it looks at the ring a last time: a block is
 * never left untested with nobody to test it. */
static bool blocks_push(void *ud) {
    mon_hook *h = ud;
    if (atomic_load(&h->blocks_held)) return true;
    if (!h->sm->prep_started || atomic_exchange(&h->blocks_held, true)) return h->sm->prep_started;
    if (close_enqueue(h)) return true;
    atomic_store(&h->blocks_held, false);
    return false;
}

/* on_perf_window (monitor.h): a label filled m's live-metric window, or a prediction its estimate
 * window; the version is queued for this thread, unless the thread holds it already (its next
 * round closes the window: no lock, no wake-up) or is stopping (false: the filling thread closes
 * the window). */
static bool close_push(void *ud) {
    mon_hook *h = ud;
    if (h->sm->prep_started && atomic_load(&h->blocks_held)) return true; /* held: its next round closes it */
    return close_enqueue(h);
}

/* The next version with windows to close (prep_mu held), or NULL; off the list: a window filled
 * from now on queues it again. */
static mon_hook *close_pop(fw_srv_monitoring *sm) {
    mon_hook *h = sm->close_head;
    if (!h) return NULL;
    sm->close_head = h->close_next;
    if (!sm->close_head) sm->close_tail = NULL;
    h->close_queued = false;
    return h;
}

/* Lets a version the monitor thread held go: its blocks tested, the flag cleared (a block closed from
 * now on queues it again, or, the thread stopping, is tested by its closer), the reference dropped
 * (which may free it, and h with it). */
static void held_let_go(mon_hook *h) {
    atomic_store(&h->blocks_held, false); /* first: what was queued relying on it is closed below */
    if (h->m->monitor) {
        fw_monitor_perf_close(h->m->monitor);
        fw_monitor_close_blocks(h->m->monitor);
    }
    fw_srv_model_unref(h->m);
}

/* Closes h's queued windows and tests its closed blocks. A version whose blocks this thread now
 * tests (blocks_held) goes on the held list with the queue's reference when may_hold (the thread
 * running); otherwise the version is let go (which may free it, and h with it). */
static void close_run(fw_srv_monitoring *sm, mon_hook *h, bool may_hold) {
    fw_srv_model *m = h->m;
    if (m->monitor) {
        fw_monitor_perf_close(m->monitor);
        fw_monitor_close_blocks(m->monitor);
    }
    if (atomic_load(&h->blocks_held) && !h->held) {
        if (may_hold) {
            h->held = true;
            h->held_next = sm->held_head;
            sm->held_head = h;
        } else {
            held_let_go(h);
        }
        return;
    }
    fw_srv_model_unref(m);
}

/* One round over the held versions (the monitor thread, no lock held): each one's closed blocks
 * tested; one with none is let go — unless a block closed between its flag's clearing and the last
 * look at its ring: then it is held again (or, queued again by that close meanwhile, left to the
 * queue). */
static void held_round(fw_srv_monitoring *sm) {
    mon_hook **pp = &sm->held_head;
    while (*pp) {
        mon_hook *h = *pp;
        fw_monitor *mon = h->m->monitor;
        if (mon && fw_monitor_perf_close(mon) + fw_monitor_close_blocks(mon)) {
            pp = &h->held_next;
            continue;
        }
        atomic_store(&h->blocks_held, false);
        if (mon && (fw_monitor_blocks_pending(mon) || fw_monitor_perf_pending(mon)) &&
            !atomic_exchange(&h->blocks_held, true)) {
            pp = &h->held_next; /* tested next round */
            continue;
        }
        *pp = h->held_next;
        h->held = false;
        fw_srv_model_unref(h->m); /* may free h */
    }
}

/* Ticks every attached monitor (live_mu held meanwhile: a monitor is not freed under the tick; the
 * alarm callbacks only queue). */
static void tick_all(fw_srv_monitoring *sm) {
    pthread_mutex_lock(&sm->live_mu);
    for (size_t i = 0; i < sm->n_live; i++) fw_monitor_tick(sm->live[i]);
    pthread_mutex_unlock(&sm->live_mu);
}

static void *prep_main(void *ud) {
    fw_srv_monitoring *sm = ud;
    pthread_setname_np(pthread_self(), "fw-monitor");
    uint64_t next_tick = fw_now_ns() + (uint64_t)(sm->tick_s * 1e9);
    uint64_t next_round = 0;   /* the held versions' next round (when any is held) */
    pthread_mutex_lock(&sm->prep_mu);
    for (;;) {
        while (!sm->prep_n && !sm->close_head && !sm->prep_stop) {
            uint64_t until_ns = sm->tick_s > 0 ? next_tick : UINT64_MAX;
            if (sm->held_head && next_round < until_ns) until_ns = next_round;
            if (until_ns == UINT64_MAX) {
                pthread_cond_wait(&sm->prep_cv, &sm->prep_mu);
                continue;
            }
            uint64_t now = fw_now_ns();
            if (now >= until_ns) break;
            if (sm->held_head && until_ns == next_round) {
                /* the held versions' nap: a plain sleep, prep_mu let go. A timed wait on prep_cv
                 * would cost two futex calls a nap (glibc takes the mutex back marked contended,
                 * so its unlock wakes): 670 a second at 3 ms. What is queued meanwhile waits for
                 * the nap's end (<= 3 ms); close_push / prep_push signal no one. */
                pthread_mutex_unlock(&sm->prep_mu);
                uint64_t wait = until_ns - now;
                struct timespec nap = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
                nanosleep(&nap, NULL);
                pthread_mutex_lock(&sm->prep_mu);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            uint64_t wait = until_ns - now;
            until.tv_sec += (time_t)(wait / 1000000000u);
            until.tv_nsec += (long)(wait % 1000000000u);
            if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&sm->prep_cv, &sm->prep_mu, &until);
        }
        if (sm->prep_stop) break;
        mon_hook *h = close_pop(sm);
        if (h) { /* first: a filled window's figures and alarms wait for it */
            pthread_mutex_unlock(&sm->prep_mu);
            bool was_held = sm->held_head != NULL;
            close_run(sm, h, true);
            if (!was_held && sm->held_head) next_round = fw_now_ns() + HELD_NAP_NS;
            pthread_mutex_lock(&sm->prep_mu);
            continue;
        }
        if (sm->held_head && fw_now_ns() >= next_round) {
            pthread_mutex_unlock(&sm->prep_mu);
            held_round(sm);
            next_round = fw_now_ns() + HELD_NAP_NS;
            pthread_mutex_lock(&sm->prep_mu);
            continue;
        }
        if (sm->tick_s > 0 && fw_now_ns() >= next_tick) {
            pthread_mutex_unlock(&sm->prep_mu);
            tick_all(sm);
            next_tick = fw_now_ns() + (uint64_t)(sm->tick_s * 1e9);
            pthread_mutex_lock(&sm->prep_mu);
            continue;
        }
        if (!sm->prep_n) continue;
        fw_srv_model *m = sm->prep_q[sm->prep_head];
        sm->prep_head = (sm->prep_head + 1) % PREP_QUEUE;
        sm->prep_n--;
        pthread_mutex_unlock(&sm->prep_mu);
        fw_err err;
        fw_err_clear(&err);
        if (m->monitor && fw_monitor_prepare(m->monitor, &err) != FW_OK)
            fprintf(stderr, "flywheel serve: %s version %s: monitor: %s\n", m->name, m->version, err.msg);
        atomic_fetch_add(&sm->prepared, 1);
        fw_srv_model_unref(m);
        pthread_mutex_lock(&sm->prep_mu);
    }
    pthread_mutex_unlock(&sm->prep_mu);
    while (sm->held_head) { /* stopping: a block closed from now on is tested by its closer */
        mon_hook *h = sm->held_head;
        sm->held_head = h->held_next;
        h->held = false;
        held_let_go(h);
    }
    return NULL;
}

/* Queues m's monitor for the prepare thread (once per version; a reference held while queued). */
static void prep_push(fw_srv_monitoring *sm, fw_srv_model *m) {
    if (!sm->prep_started) return;
    pthread_mutex_lock(&sm->prep_mu);
    if (sm->prep_n < PREP_QUEUE && !sm->prep_stop) {
        fw_srv_model_ref(m);
        sm->prep_q[(sm->prep_head + sm->prep_n) % PREP_QUEUE] = m;
        sm->prep_n++;
        pthread_cond_signal(&sm->prep_cv);
    }
    pthread_mutex_unlock(&sm->prep_mu);
}

fw_status fw_srv_monitoring_new(const fw_serve_config *cfg, fw_srv_monitoring **out, fw_err *err) {
    *out = NULL;
    if (!cfg->monitoring.enabled) return FW_OK;
    fw_srv_monitoring *sm = fw_calloc(1, sizeof *sm);
    if (!sm) return fw_err_set(err, FW_ENOMEM, "out of memory");
    sm->cfg = &cfg->monitoring;
    const char *home = cfg->models_dir ? NULL : fw_store_default_home(cfg->store_path);
    fw_status st = fw_alerts_start(&cfg->monitoring, home, NULL, &sm->alerts, err);
    if (st) {
        fw_free(sm);
        return st;
    }
    pthread_mutex_init(&sm->prep_mu, NULL);
    pthread_cond_init(&sm->prep_cv, NULL);
    pthread_mutex_init(&sm->live_mu, NULL);
    sm->tick_s = cfg->monitoring.block_s > 0 ? (cfg->monitoring.block_s / 4 < 1 ? cfg->monitoring.block_s / 4 : 1) : 0;
    if (home && !cfg->log_path && !(sm->log_home = fw_strdup(home))) {
        fw_srv_monitoring_free(sm, 0);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    sm->prep_started = pthread_create(&sm->prep_thread, NULL, prep_main, sm) == 0;
    *out = sm;
    return FW_OK;
}

void fw_srv_monitoring_set_alarm_hook(fw_srv_monitoring *sm, fw_srv_alarm_hook_fn fn, void *ud) {
    if (!sm) return;
    sm->alarm_fn = fn;
    sm->alarm_ud = ud;
}

void fw_srv_monitoring_free(fw_srv_monitoring *sm, double drain_s) {
    if (!sm) return;
    if (sm->prep_started) {
        pthread_mutex_lock(&sm->prep_mu);
        sm->prep_stop = true;
        pthread_cond_signal(&sm->prep_cv);
        pthread_mutex_unlock(&sm->prep_mu);
        pthread_join(sm->prep_thread, NULL);
        for (;;) { /* the windows still queued, before the alerts drain */
            pthread_mutex_lock(&sm->prep_mu);
            mon_hook *h = close_pop(sm);
            pthread_mutex_unlock(&sm->prep_mu);
            if (!h) break;
            close_run(sm, h, false);
        }
        for (; sm->prep_n; sm->prep_n--, sm->prep_head = (sm->prep_head + 1) % PREP_QUEUE)
            fw_srv_model_unref(sm->prep_q[sm->prep_head]); /* may free the model and its monitor */
    }
    pthread_mutex_destroy(&sm->prep_mu);
    pthread_cond_destroy(&sm->prep_cv);
    pthread_mutex_destroy(&sm->live_mu);
    fw_free(sm->live);
    fw_alerts_stop(sm->alerts, drain_s);
    fw_free(sm->log_home);
    fw_free(sm);
}

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    mon_hook *h = ud;
    fw_alerts_push(h->alerts, h->name, h->version, a, raised);
    if (raised && h->sm->alarm_fn) h->sm->alarm_fn(h->sm->alarm_ud, h->name, h->version, (int)a->kind, a->detail);
}

void fw_srv_monitoring_attach(void *ud, fw_srv_model *m) {
    fw_srv_monitoring *sm = ud;
    if (!sm || m->monitor) return;
    const fw_serve_monitoring *c = sm->cfg;
    mon_hook *h = fw_calloc(1, sizeof *h);
    if (!h) {
        fprintf(stderr, "flywheel serve: %s version %s is served without monitoring: out of memory\n", m->name, m->version);
        return;
    }
    h->alerts = sm->alerts;
    h->sm = sm;
    h->m = m;
    atomic_init(&h->queued, false);
    atomic_init(&h->blocks_held, false);
    snprintf(h->name, sizeof h->name, "%s", m->name);
    char *end;
    long long v = strtoll(m->version, &end, 10);
    h->version = *m->version && !*end && v > 0 ? v : 0;
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    if (c->step_rows) s.step_rows = c->step_rows;
    if (c->window_rows) s.window_rows = c->window_rows;
    if (c->quality_rows) s.quality_rows = c->quality_rows;
    s.block_seconds = c->block_s;
    s.sensitivity = c->sensitivity;
    s.columns = (const char *const *)c->columns;
    s.n_columns = c->n_columns;
    s.history = false; /* bounded memory */
    s.on_alarm = on_alarm;
    s.ud = h;
    s.perf_home = h->version > 0 ? sm->log_home : NULL;
    s.perf_version = h->version;
    s.join_table = c->join_table;
    s.on_perf_window = close_push;
    s.on_blocks = blocks_push;
    fw_err err;
    fw_err_clear(&err);
    fw_monitor *mon = NULL;
    if (fw_monitor_new(m, &s, &mon, &err) != FW_OK) {
        fprintf(stderr, "flywheel serve: %s version %s is served without monitoring: %s\n", m->name, m->version,
                err.msg);
        fw_free(h);
        return;
    }
    if (sm->tick_s > 0) { /* followed by the tick (without room to grow: served unticked, by count) */
        pthread_mutex_lock(&sm->live_mu);
        if (sm->n_live == sm->cap_live) {
            size_t cap = sm->cap_live ? 2 * sm->cap_live : 16;
            fw_monitor **grown = fw_realloc(sm->live, cap * sizeof *grown);
            if (grown) sm->live = grown, sm->cap_live = cap;
        }
        if (sm->n_live < sm->cap_live) sm->live[sm->n_live++] = mon;
        else fprintf(stderr, "flywheel serve: %s version %s: out of memory: its blocks close by count only\n", m->name, m->version);
        pthread_mutex_unlock(&sm->live_mu);
    }
    m->monitor = mon;
    m->monitor_hook = h;
}

void fw_srv_monitor_detach(fw_srv_model *m) {
    if (!m->monitor) return;
    fw_srv_monitoring *sm = ((mon_hook *)m->monitor_hook)->sm;
    if (sm->tick_s > 0) {
        pthread_mutex_lock(&sm->live_mu);
        for (size_t i = 0; i < sm->n_live; i++)
            if (sm->live[i] == m->monitor) {
                sm->live[i] = sm->live[--sm->n_live];
                break;
            }
        pthread_mutex_unlock(&sm->live_mu);
    }
    fw_monitor_close_blocks(m->monitor); /* blocks closed and not tested yet: their alarms still go out */
    fw_monitor_free(m->monitor);
    fw_free(m->monitor_hook);
    m->monitor = NULL;
    m->monitor_hook = NULL;
}

const char fw_srv_absent_mark[] = "";

enum { MAX_FLAGGED = 1024 }; /* inputs past this many are not flagged when absent (as before the mark) */

void fw__srv_monitor_observe(const fw_srv_model *m, const fw_value *vals, const double *out, uint64_t t0_ns,
                             const char *request_id) {
    fw_monitor_obs o = {
        .values = vals,
        .flags = NULL,
        .outputs = out,
        .latency_ms = (double)(fw_now_ns() - t0_ns) * 1e-6,
        .request_id = request_id,
        .request_id_len = request_id ? strlen(request_id) : 0,
        .ts_ms = 0,
        /* absent inputs carry the mark (FW_SRV_ABSENT): the monitor checks its missing values for it */
        .absent_mark = m->n_inputs <= MAX_FLAGGED ? fw_srv_absent_mark : NULL,
    };
    fw_monitor_observe(m->monitor, &o); /* the first one builds the monitor (monitor.h) */
    mon_hook *h = m->monitor_hook;
    if (!atomic_load_explicit(&h->queued, memory_order_relaxed) && !atomic_exchange(&h->queued, true))
        prep_push(h->sm, (fw_srv_model *)m); /* its calibration, off the request path */
}

void fw_srv_monitor_feedback(const fw_srv_model *m, const char *request_id, const char *label, size_t len,
                             bool is_number, double num) {
    if (!m || !m->monitor) return;
    fw_value y = is_number ? (fw_value){FW_VALUE_NUMBER, num, NULL, 0} : (fw_value){FW_VALUE_STRING, 0, label, len};
    fw_err err;
    (void)fw_monitor_feedback(m->monitor, request_id, strlen(request_id), &y, 0, &err);
}

bool fw_srv_monitor_state(const fw_srv_model *m, fw_buf *out) {
    if (!m->monitor) return false;
    return fw_monitor_state_json(m->monitor, out) == FW_OK;
}

void fw_srv_monitoring_metrics(fw_srv_monitoring *sm, fw_srv_model *const *ms, size_t n, fw_buf *out) {
    if (!sm) return;
    size_t cap = sm->cfg->metrics_columns;
    fw_metrics_monitor *blocks = fw_calloc(n ? n : 1, sizeof *blocks);
    fw_metrics_monitor_column **cols = fw_calloc(n ? n : 1, sizeof *cols);
    fw_perf_summary *perf = fw_calloc(n ? n : 1, sizeof *perf);
    fw_perf_slice **psl = fw_calloc(n ? n : 1, sizeof *psl);
    fw_metrics_monitor_slice **msl = fw_calloc(n ? n : 1, sizeof *msl);
    size_t k = 0;
    for (size_t i = 0; blocks && cols && perf && psl && msl && i < n; i++) {
        fw_monitor *mon = ms[i]->monitor;
        if (!mon || !fw_monitor_built(mon)) continue; /* not used yet: nothing to show, nothing built */
        fw_metrics_monitor *b = &blocks[k];
        b->model = ms[i]->name;
        b->version = ms[i]->version;
        fw_monitor_counts c;
        fw_monitor_counts_get(mon, &c);
        b->rows = c.rows;
        for (int j = 0; j < FW_METRICS_ALARM_KINDS && j < FW_ALARM_KIND_COUNT; j++) {
            b->active[j] = c.active[j];
            b->raised[j] = c.raised[j];
        }
        size_t nc = fw_monitor_n_columns(mon), shown = nc < cap ? nc : cap;
        cols[k] = fw_calloc(shown ? shown : 1, sizeof **cols);
        if (!cols[k]) break;
        for (size_t j = 0; j < shown; j++) {
            fw_monitor_column mc;
            fw_monitor_column_get(mon, j, &mc);
            cols[k][j] = (fw_metrics_monitor_column){mc.name, mc.statistic, mc.drift, mc.drift_threshold, mc.missing_rate};
        }
        b->columns = cols[k];
        b->n_columns = nc;
        b->live = b->live_lo = b->live_hi = b->estimated = b->estimated_lo = b->estimated_hi = NAN;
        if (fw_monitor_perf_summary(mon, &perf[k])) {
            b->metric = perf[k].metric;
            b->live = perf[k].realized;
            b->live_lo = perf[k].realized_lo;
            b->live_hi = perf[k].realized_hi;
            b->estimated = perf[k].estimated;
            b->estimated_lo = perf[k].estimated_lo;
            b->estimated_hi = perf[k].estimated_hi;
            b->labels = perf[k].labels;
            b->labels_joined = perf[k].joined;
            /* the slices' series: bounded by the tracker (16 values per column, then "(other)") */
            size_t ns = fw_monitor_perf_slices(mon, NULL, 0);
            if (ns && (psl[k] = fw_calloc(ns, sizeof **psl)) && (msl[k] = fw_calloc(ns, sizeof **msl))) {
                size_t got = fw_monitor_perf_slices(mon, psl[k], ns);
                if (got > ns) got = ns; /* a value met in between waits for the next scrape */
                for (size_t j = 0; j < got; j++)
                    msl[k][j] = (fw_metrics_monitor_slice){psl[k][j].column, psl[k][j].value, psl[k][j].rows,
                                                           psl[k][j].metric, psl[k][j].alarm};
                b->slices = msl[k];
                b->n_slices = got;
            }
        }
        k++;
    }
    if (blocks && cols && perf && psl && msl) fw_metrics_render_monitor(out, blocks, k, cap);
    for (size_t i = 0; psl && msl && i < n; i++) {
        fw_free(psl[i]);
        fw_free(msl[i]);
    }
    fw_free(psl);
    fw_free(msl);
    for (size_t i = 0; cols && i < n; i++) fw_free(cols[i]);
    fw_free(cols);
    fw_free(blocks);
    fw_free(perf);
    fw_alerts_stats a;
    fw_alerts_stats_get(sm->alerts, &a);
    fw_buf_printf(out, "# HELP flywheel_monitor_alerts_total Alarm events (raised or cleared) by what became of them: "
                       "queued for the alert thread, dropped (queue full), delivered to the webhook, failed after every "
                       "retry, kept in the store's history, refused by the store.\n"
                       "# TYPE flywheel_monitor_alerts_total counter\n"
                       "flywheel_monitor_alerts_total{outcome=\"queued\"} %llu\n"
                       "flywheel_monitor_alerts_total{outcome=\"dropped\"} %llu\n"
                       "flywheel_monitor_alerts_total{outcome=\"sent\"} %llu\n"
                       "flywheel_monitor_alerts_total{outcome=\"failed\"} %llu\n"
                       "flywheel_monitor_alerts_total{outcome=\"stored\"} %llu\n"
                       "flywheel_monitor_alerts_total{outcome=\"store_error\"} %llu\n",
                  (unsigned long long)a.queued, (unsigned long long)a.dropped, (unsigned long long)a.webhook_sent,
                  (unsigned long long)a.webhook_failed, (unsigned long long)a.stored,
                  (unsigned long long)a.store_errors);
}

void fw__api_monitor(fw_server *s, const fw_route *rt, fw_reply *r) {
    if (!s->monitoring) {
        fw__reply_error(r, 404, "monitoring_off", "monitoring is off in this server (monitoring.enabled: false)");
        return;
    }
    fw_srv_target t;
    fw_err err;
    fw_status st = fw__resolve(s, rt->name, rt->alias, rt->version, NULL, 0, &t, &err);
    if (st) {
        fw__reply_error(r, fw__http_for(st), st == FW_ENOTFOUND ? "model_not_found" : fw_status_name(st), "%s", err.msg);
        return;
    }
    if (fw_srv_monitor_state(t.m, &r->body)) {
        r->code = 200;
        if (s->learning && r->body.len && r->body.data[r->body.len - 1] == '}') { /* + "online" (serve/learning.h) */
            r->body.len--;
            fw_srv_learning_state_json(s->learning, t.m->name, &r->body);
            fw_buf_put(&r->body, "}", 1);
        }
    } else {
        r->body.len = 0;
        fw__reply_error(r, 404, "not_monitored", "model '%s' version '%s' is not monitored (see the server's log)",
                        t.m->name, t.m->version);
    }
    fw__target_release(&t);
}

void fw__monitor_feedback(fw_server *s, fw_srv_model *m, const char *rid, json_t *label) {
    if (!s->monitoring || !m) return;
    if (json_is_string(label)) fw_srv_monitor_feedback(m, rid, json_string_value(label), json_string_length(label), false, 0);
    else if (json_is_number(label)) fw_srv_monitor_feedback(m, rid, NULL, 0, true, json_number_value(label));
    else if (json_is_boolean(label))
        fw_srv_monitor_feedback(m, rid, json_is_true(label) ? "true" : "false", json_is_true(label) ? 4 : 5, false, 0);
}
