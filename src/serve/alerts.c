/* alerts.c — owns the alert thread (alerts.h): the bounded event queue, the log line, the store's
 * alarm history and the webhook POST with retries (libcurl through serve/curl.h). */
#include "serve/alerts.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "serve/curl.h"
#include "store/store.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

enum { MODEL_TEXT = 129 }; /* FW_NAME_MAX + 1 (registry/registry.h) */

typedef struct alert_event {
    char model[MODEL_TEXT];
    int64_t version;
    fw_alarm a;
    bool raised;
    int64_t ts_ms;             /* when pushed (wall clock) */
} alert_event;

struct fw_alerts {
    /* settings (copied) */
    bool log_on, history_on;
    char *url;
    unsigned retries;
    double backoff_s, timeout_s;
    char *home;
    FILE *log;
    /* the queue */
    pthread_mutex_t mu;
    pthread_cond_t work;       /* an event arrived, or stop */
    pthread_cond_t idle;       /* an event was handled */
    alert_event *ring;
    size_t cap, head, count;
    bool stopping;
    double drain_until;        /* monotonic seconds: webhook attempts end then (when stopping) */
    fw_alerts_stats st;
    pthread_t thread;
    /* the thread's own */
    fw_store *store;
    CURL *curl;
    struct curl_slist *headers;
    fw_buf body;
};

/* ---- the JSON alert --------------------------------------------------------------------------- */

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

void fw_alerts_event_json(const char *model, int64_t version, const fw_alarm *a, bool raised, int64_t ts_ms,
                          fw_buf *b) {
    char ts[40];
    fw_format_iso8601(ts_ms, ts, sizeof ts);
    fw_buf_printf(b, "{\"event\":\"%s\",\"model\":", raised ? "raised" : "cleared");
    fw_json_put_str(b, model);
    fw_buf_printf(b, ",\"version\":%" PRId64 ",\"ts\":", version);
    fw_json_put_str(b, ts);
    /* the alarm as monitor --json and the endpoint spell it (monitor.h fw_monitor_alarm_json) */
    fw_buf_printf(b, ",\"alarm\":{\"row\":%" PRIu64 ",\"kind\":", a->row);
    const char *kind = fw_alarm_kind_name(a->kind);
    fw_json_put_str(b, kind ? kind : "?");
    fw_buf_printf(b, ",\"column\":");
    if (a->column[0]) fw_json_put_str(b, a->column);
    else fw_buf_printf(b, "null");
    if (a->slice[0]) {
        fw_buf_printf(b, ",\"slice\":");
        fw_json_put_str(b, a->slice);
    }
    fw_buf_printf(b, ",\"statistic\":");
    fw_json_put_str(b, a->statistic);
    fw_buf_printf(b, ",\"value\":");
    put_num(b, a->value);
    fw_buf_printf(b, ",\"threshold\":");
    put_num(b, a->threshold);
    fw_buf_printf(b, ",\"ts_ms\":%" PRId64 ",\"detail\":", a->ts_ms);
    fw_json_put_str(b, a->detail);
    fw_buf_printf(b, "}}");
}

/* ---- the thread's work ------------------------------------------------------------------------ */

static void count(fw_alerts *al, uint64_t *field, uint64_t n) {
    pthread_mutex_lock(&al->mu);
    *field += n;
    pthread_mutex_unlock(&al->mu);
}

static void log_event(fw_alerts *al, const alert_event *e) {
    const fw_alarm *a = &e->a;
    fprintf(al->log, "flywheel serve: alarm %s: %s#%" PRId64 " %s%s%s%s%s: %s %.6g, threshold %.6g, at row %" PRIu64 "%s%s\n",
            e->raised ? "raised" : "cleared", e->model, e->version, fw_alarm_kind_name(a->kind),
            a->column[0] ? " column " : "", a->column, a->slice[0] ? " slice " : "", a->slice, a->statistic[0] ? a->statistic : "value", a->value,
            a->threshold, a->row, a->detail[0] ? ": " : "", a->detail);
    fflush(al->log);
}

static void store_event(fw_alerts *al, const alert_event *e) {
    fw_err err;
    fw_err_clear(&err);
    fw_status st = FW_OK;
    if (!al->store) st = fw_store_open(al->home, &al->store, &err);
    if (!st) {
        const char *kind = fw_alarm_kind_name(e->a.kind);
        if (e->raised) {
            fw_alarm_rec r;
            memset(&r, 0, sizeof r);
            r.model = (char *)e->model;
            r.version = e->version;
            r.kind = (char *)kind;
            r.column = e->a.column[0] ? (char *)e->a.column : NULL;
            r.slice = e->a.slice[0] ? (char *)e->a.slice : NULL;
            r.statistic = (char *)e->a.statistic;
            r.value = e->a.value;
            r.threshold = e->a.threshold;
            r.row = (int64_t)e->a.row;
            r.raised_ms = e->a.ts_ms > 0 ? e->a.ts_ms : e->ts_ms;
            r.detail = (char *)e->a.detail;
            st = fw_store_alarm_raise(al->store, &r, &err);
        } else {
            st = fw_store_alarm_clear(al->store, e->model, e->version, kind, e->a.column, e->a.slice, e->ts_ms,
                                      NULL, &err);
        }
    }
    if (!st) {
        count(al, &al->st.stored, 1);
        return;
    }
    count(al, &al->st.store_errors, 1);
    fprintf(al->log, "flywheel serve: alarm history: %s (alarm of %s#%" PRId64 " not kept)\n", err.msg, e->model,
            e->version);
    fflush(al->log);
    if (al->store) { /* reopened for the next event */
        fw_store_close(al->store);
        al->store = NULL;
    }
}

static size_t discard(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return size * n;
}

/* Seconds left for webhook attempts (INFINITY unless stopping). */
static double time_left(fw_alerts *al) {
    pthread_mutex_lock(&al->mu);
    double left = al->stopping ? al->drain_until - fw_now_seconds() : INFINITY;
    pthread_mutex_unlock(&al->mu);
    return left;
}

/* One POST; true on a 2xx answer. why gets the failure. */
static bool post_once(fw_alerts *al, double timeout_s, char *why, size_t why_size) {
    CURL *c = al->curl;
    long ms = (long)ceil(timeout_s * 1000);
    if (ms < 1) ms = 1;
    fw_curl.easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    fw_curl.easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)al->body.data);
    fw_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)al->body.len);
    CURLcode rc = fw_curl.easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(why, why_size, "%s", fw_curl.easy_strerror(rc));
        return false;
    }
    long code = 0;
    fw_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) return true;
    snprintf(why, why_size, "HTTP %ld", code);
    return false;
}

/* Sleeps up to s seconds, in slices, ending early when stopping shortens the time left. */
static void backoff_sleep(fw_alerts *al, double s) {
    double until = fw_now_seconds() + s;
    for (;;) {
        double now = fw_now_seconds(), left = fmin(until - now, time_left(al));
        if (left <= 0) return;
        double slice = fmin(left, 0.05);
        struct timespec ts = {(time_t)slice, (long)((slice - floor(slice)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void send_event(fw_alerts *al, const alert_event *e) {
    al->body.len = 0;
    fw_alerts_event_json(e->model, e->version, &e->a, e->raised, e->ts_ms, &al->body);
    fw_buf_put_u8(&al->body, 0);
    if (!fw_buf_ok(&al->body)) {
        count(al, &al->st.webhook_failed, 1);
        return;
    }
    al->body.len--; /* the NUL stays after the text */
    double backoff = al->backoff_s;
    char why[256] = "";
    for (unsigned attempt = 0; attempt <= al->retries; attempt++) {
        if (attempt) {
            count(al, &al->st.webhook_retries, 1);
            backoff_sleep(al, backoff);
            backoff = fmin(backoff * 2, 60);
        }
        double left = time_left(al);
        if (left <= 0) {
            if (!why[0]) snprintf(why, sizeof why, "the server stopped before it was sent");
            break;
        }
        if (post_once(al, fmin(al->timeout_s, left), why, sizeof why)) {
            count(al, &al->st.webhook_sent, 1);
            return;
        }
    }
    count(al, &al->st.webhook_failed, 1);
    fprintf(al->log, "flywheel serve: alarm webhook: %s#%" PRId64 " %s alert not delivered to %s after %u attempt%s: %s\n",
            e->model, e->version, fw_alarm_kind_name(e->a.kind), al->url, al->retries + 1, al->retries ? "s" : "", why);
    fflush(al->log);
}

static void *run(void *arg) {
    fw_alerts *al = arg;
    pthread_setname_np(pthread_self(), "fw-alerts");
    for (;;) {
        pthread_mutex_lock(&al->mu);
        while (!al->count && !al->stopping) pthread_cond_wait(&al->work, &al->mu);
        if (!al->count) {
            pthread_mutex_unlock(&al->mu);
            break;
        }
        alert_event e = al->ring[al->head];
        al->head = (al->head + 1) % al->cap;
        al->count--;
        pthread_mutex_unlock(&al->mu);
        if (al->log_on) log_event(al, &e);
        if (al->history_on && e.version > 0) store_event(al, &e); /* versions the registry numbers */
        if (al->curl) send_event(al, &e);
        pthread_mutex_lock(&al->mu);
        al->st.handled++;
        pthread_cond_broadcast(&al->idle);
        pthread_mutex_unlock(&al->mu);
    }
    return NULL;
}

/* ---- the interface ---------------------------------------------------------------------------- */

static void free_alerts(fw_alerts *al) {
    if (al->curl) fw_curl.easy_cleanup(al->curl);
    if (al->headers) fw_curl.slist_free_all(al->headers);
    if (al->store) fw_store_close(al->store);
    fw_buf_free(&al->body);
    fw_free(al->ring);
    fw_free(al->url);
    fw_free(al->home);
    pthread_mutex_destroy(&al->mu);
    pthread_cond_destroy(&al->work);
    pthread_cond_destroy(&al->idle);
    fw_free(al);
}

fw_status fw_alerts_start(const fw_serve_monitoring *m, const char *store_home, FILE *log, fw_alerts **out,
                          fw_err *err) {
    *out = NULL;
    fw_alerts *al = fw_calloc(1, sizeof *al);
    if (!al) return fw_err_set(err, FW_ENOMEM, "out of memory");
    pthread_mutex_init(&al->mu, NULL);
    pthread_cond_init(&al->work, NULL);
    pthread_cond_init(&al->idle, NULL);
    fw_buf_init(&al->body);
    al->log_on = m->alert_log;
    al->history_on = m->history && store_home;
    al->retries = m->webhook_retries;
    al->backoff_s = m->webhook_backoff_s;
    al->timeout_s = m->webhook_timeout_s;
    al->log = log ? log : stderr;
    al->cap = m->alert_queue ? m->alert_queue : 1;
    al->ring = fw_calloc(al->cap, sizeof *al->ring);
    if (!al->ring || (store_home && !(al->home = fw_strdup(store_home))) ||
        (m->webhook_url && !(al->url = fw_strdup(m->webhook_url)))) {
        free_alerts(al);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (al->url) {
        fw_status st = fw_curl_load(err);
        if (st) {
            free_alerts(al);
            return st;
        }
        al->curl = fw_curl.easy_init();
        al->headers = fw_curl.slist_append(NULL, "Content-Type: application/json");
        if (!al->curl || !al->headers) {
            free_alerts(al);
            return fw_err_set(err, FW_ENOMEM, "cannot set up the webhook's HTTP client");
        }
        CURL *c = al->curl;
        fw_curl.easy_setopt(c, CURLOPT_URL, al->url);
        fw_curl.easy_setopt(c, CURLOPT_HTTPHEADER, al->headers);
        fw_curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        fw_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        fw_curl.easy_setopt(c, CURLOPT_USERAGENT, "flywheel/" FW_VERSION_STRING);
        fw_curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    if (pthread_create(&al->thread, NULL, run, al) != 0) {
        free_alerts(al);
        return fw_err_set(err, FW_ENOMEM, "cannot start the alert thread");
    }
    *out = al;
    return FW_OK;
}

bool fw_alerts_push(fw_alerts *al, const char *model, int64_t version, const fw_alarm *a, bool raised) {
    if (!al) return false;
    int64_t now = fw_wall_unix_ms();
    pthread_mutex_lock(&al->mu);
    bool ok = al->count < al->cap && !al->stopping;
    if (ok) {
        alert_event *e = &al->ring[(al->head + al->count) % al->cap];
        snprintf(e->model, sizeof e->model, "%s", model);
        e->version = version;
        e->a = *a;
        e->raised = raised;
        e->ts_ms = now;
        al->count++;
        al->st.queued++;
        pthread_cond_signal(&al->work);
    } else {
        al->st.dropped++;
    }
    pthread_mutex_unlock(&al->mu);
    return ok;
}

void fw_alerts_stats_get(fw_alerts *al, fw_alerts_stats *out) {
    if (!al) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&al->mu);
    *out = al->st;
    pthread_mutex_unlock(&al->mu);
}

bool fw_alerts_wait_idle(fw_alerts *al, double timeout_s) {
    double until = fw_now_seconds() + timeout_s;
    pthread_mutex_lock(&al->mu);
    while (al->st.handled < al->st.queued) {
        double left = until - fw_now_seconds();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double slice = fmin(left, 0.05);
        ts.tv_nsec += (long)(slice * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&al->idle, &al->mu, &ts);
    }
    bool done = al->st.handled >= al->st.queued;
    pthread_mutex_unlock(&al->mu);
    return done;
}

void fw_alerts_stop(fw_alerts *al, double drain_s) {
    if (!al) return;
    pthread_mutex_lock(&al->mu);
    al->stopping = true;
    al->drain_until = fw_now_seconds() + drain_s;
    pthread_cond_signal(&al->work);
    pthread_mutex_unlock(&al->mu);
    pthread_join(al->thread, NULL);
    free_alerts(al);
}
