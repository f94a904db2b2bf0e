/* alarm_serve.c — from a performance alarm to a gated challenger serving 100% of traffic, timed on
 * the real binary (docs/LEARNING.md, docs/BENCHMARKS.md; run by bench/learn/alarm_serve.sh).
 *
 * 1. A synthetic binary table (8 numeric inputs, y ~ Bernoulli(sigmoid(b.x))); a linear champion
 *    trained on 50,000 rows of it and promoted.
 * 2. A served history of N labelled rows (default 1,000,000) written to the store's prediction log
 *    and feedback (the records the server writes: the v1 body, one instance a request), dated
 *    8 days to 1 day ago.
 * 3. `flywheel serve` with `learn: {on_alarm: [performance], promote: auto}`. A load thread sends
 *    predictions all along (~RATE a second) and records, per response, its time, status and the
 *    version that answered.
 * 4. The concept changes (the signs of b0 and b1 flip): predictions and their labels stream in until
 *    the monitor's performance window raises the alarm (t0, the client's clock when it sees it); the
 *    labels stop there.
 * 5. The alarm starts a retrain on the server's worker (nice +10): it scans all N + the new labelled
 *    rows, trains on them (learn.rows: decay, half_life 1h: the new rows dominate) and holds out the
 *    most recent 300; the gate decides; production moves; the model table swaps.
 * Prints the phases: alarm -> retrain start, the retrain's steps (its "phases"), end -> the first
 * answer of the challenger, -> the last answer of the champion (100% of traffic from then on), and
 * the requests answered and failed meanwhile.
 * Usage: alarm_serve FLYWHEEL_BIN WORK_DIR [N_HISTORY (1000000)] [RATE (500)] */
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../tests/serve/client.h"

enum { NX = 8 };
static const double k_before[NX] = {1.2, -0.8, 0.6, 0.4, 0.0, 0.3, -0.5, 0.2};
static const double k_after[NX] = {-1.2, 0.8, 0.6, 0.4, 0.0, 0.3, -0.5, 0.2};

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static double unif(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(uint64_t *s) { return sqrt(-2 * log(unif(s))) * cos(6.283185307179586 * unif(s)); }

/* One row: inputs, and its label under b. */
static bool draw(uint64_t *s, const double *b, double *x) {
    double z = 0;
    for (int k = 0; k < NX; k++) x[k] = round(gauss(s) * 1000) / 1000, z += b[k] * x[k];
    return unif(s) < 1 / (1 + exp(-z));
}

static int body_of(const double *x, char *out, size_t cap) {
    int n = snprintf(out, cap, "{\"instances\":[{");
    for (int k = 0; k < NX; k++) n += snprintf(out + n, cap - (size_t)n, "%s\"x%d\":%.3f", k ? "," : "", k, x[k]);
    return n + snprintf(out + n, cap - (size_t)n, "}]}");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc) fprintf(stderr, "alarm_serve: failed (%d): %s\n", rc, cmd);
    return rc;
}

/* ---- the load thread --------------------------------------------------------------------------- */

typedef struct sample {
    double t, lat;
    int status;
    int version;
} sample;

static struct {
    int port, rate;
    atomic_bool stop;
    sample *s;
    size_t n, cap;
} g_load;

static void *load_main(void *arg) {
    (void)arg;
    uint64_t rs = 12345;
    int fd = hc_connect(g_load.port);
    char body[512];
    double x[NX];
    while (!atomic_load(&g_load.stop) && g_load.n < g_load.cap) {
        draw(&rs, k_after, x);
        body_of(x, body, sizeof body);
        double t0 = now_s();
        hc_resp r;
        memset(&r, 0, sizeof r);
        int rc = fd >= 0 ? hc_request_fd(fd, "POST", "/v1/models/m:predict", body, NULL, &r) : -1;
        double t1 = now_s();
        sample *sm = &g_load.s[g_load.n];
        sm->t = t1;
        sm->lat = t1 - t0;
        sm->status = rc == 0 ? r.status : -1;
        sm->version = 0;
        if (rc == 0 && r.status == 200) {
            json_t *j = json_loads(r.body, 0, NULL);
            const char *v = json_string_value(json_object_get(j, "version"));
            sm->version = v ? atoi(v) : (int)json_integer_value(json_object_get(j, "version"));
            json_decref(j);
        }
        hc_resp_free(&r);
        if (rc != 0) { /* a broken connection counts as a failed request; reconnect */
            if (fd >= 0) close(fd);
            fd = hc_connect(g_load.port);
        }
        g_load.n++;
        struct timespec ts = {0, 1000000000L / g_load.rate};
        nanosleep(&ts, NULL);
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* ---- the server's state ------------------------------------------------------------------------ */

static json_t *get_json(int port, const char *path) {
    hc_resp r;
    if (hc_request(port, "GET", path, NULL, NULL, &r) != 0) return NULL;
    json_t *j = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    hc_resp_free(&r);
    return j;
}

static long long raised_performance(int port) {
    json_t *j = get_json(port, "/v1/models/m/monitor");
    json_t *v = json_object_get(json_object_get(j, "raised"), "performance");
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: alarm_serve FLYWHEEL_BIN WORK_DIR [N_HISTORY] [RATE]\n");
        return 2;
    }
    const char *bin = argv[1], *work = argv[2];
    size_t n_hist = argc > 3 ? (size_t)atoll(argv[3]) : 1000000;
    g_load.rate = argc > 4 ? atoi(argv[4]) : 500;
    char path[1200], cmd[4000], home[1100];
    snprintf(home, sizeof home, "%s/h", work);
    double x[NX];

    /* 1. the champion */
    snprintf(path, sizeof path, "%s/base.csv", work);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    for (int k = 0; k < NX; k++) fprintf(f, "x%d,", k);
    fprintf(f, "y\n");
    for (int i = 0; i < 50000; i++) {
        bool y = draw(&g_rng, k_before, x);
        for (int k = 0; k < NX; k++) fprintf(f, "%.3f,", x[k]);
        fprintf(f, "%s\n", y ? "yes" : "no");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/flywheel.yaml", work);
    f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "name: m\ntask: binary\ndata:\n  train: %s/base.csv\n  label: y\n  positive: \"yes\"\nmetric: roc_auc\n"
               "learn:\n  base: false\n  rows: decay\n  half_life: 1h\n"
               "  gate: {holdout_rows: 300, min_rows: 200, min_improvement: 0.01}\n", work);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' train '%s/flywheel.yaml' --home '%s' --quiet --models linear && "
                              "'%s' models promote m@1 --force --home '%s' >/dev/null", bin, work, home, bin, home);
    if (sh(cmd)) return 1;

    /* 2. the served history */
    double t_hist = now_s();
    fw_err err;
    fw_store *st0;
    if (fw_store_open(home, &st0, &err) != FW_OK) {
        fprintf(stderr, "alarm_serve: %s\n", err.msg);
        return 1;
    }
    fw_store_close(st0);
    fw_store_log *lg;
    if (fw_store_log_open(home, &lg, &err) != FW_OK) {
        fprintf(stderr, "alarm_serve: %s\n", err.msg);
        return 1;
    }
    enum { TX = 10000 };
    fw_log_pred_row *pr = calloc(TX, sizeof *pr);
    fw_log_feedback_row *fb = calloc(TX, sizeof *fb);
    char (*rid)[24] = calloc(TX, 24);
    char (*bodies)[256] = calloc(TX, 256);
    int64_t t_now = (int64_t)(now_s() * 1000), span = 7LL * 86400 * 1000, t_first = t_now - 8LL * 86400 * 1000;
    for (size_t i0 = 0; i0 < n_hist; i0 += TX) {
        size_t m = n_hist - i0 < TX ? n_hist - i0 : TX;
        for (size_t k = 0; k < m; k++) {
            size_t i = i0 + k;
            bool y = draw(&g_rng, k_before, x);
            int bl = body_of(x, bodies[k], sizeof bodies[k]);
            snprintf(rid[k], sizeof rid[k], "h%zu", i);
            int64_t ts = t_first + (int64_t)((double)span * (double)i / (double)n_hist);
            pr[k] = (fw_log_pred_row){.request_id = rid[k], .ts_ms = ts, .model = "m", .version = 1,
                                      .input_json = bodies[k], .input_len = (size_t)bl, .output_json = "{}",
                                      .output_len = 2, .outcome = "model"};
            fb[k] = (fw_log_feedback_row){.request_id = rid[k], .ts_ms = ts + 1000, .label_json = y ? "\"yes\"" : "\"no\"",
                                          .value = NAN, .matched = true};
        }
        if (fw_store_log_put_predictions(lg, pr, m, &err) || fw_store_log_put_feedback(lg, fb, m, &err)) {
            fprintf(stderr, "alarm_serve: %s\n", err.msg);
            return 1;
        }
    }
    fw_store_log_close(lg);
    free(pr), free(fb), free(rid), free(bodies);
    printf("history: %zu labelled served rows written in %.1f s (not timed)\n", n_hist, now_s() - t_hist);

    /* 3. the server and the load */
    snprintf(path, sizeof path, "%s/serve.yaml", work);
    f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "learn:\n  on_alarm: [performance]\n  promote: auto\n");
    fclose(f);
    char errlog[1200];
    snprintf(errlog, sizeof errlog, "%s/serve.err", work);
    fflush(stdout);
    int saved = dup(2);
    if (!freopen(errlog, "w", stderr)) return 1;
    hc_server s;
    const char *args[] = {"--home", home, "--config", path, NULL};
    int rc = hc_server_start_bin(&s, bin, args);
    dup2(saved, 2);
    close(saved);
    if (rc) {
        fprintf(stderr, "alarm_serve: the server did not start (see %s)\n", errlog);
        return 1;
    }
    g_load.port = s.port;
    g_load.cap = 4000000;
    g_load.s = calloc(g_load.cap, sizeof *g_load.s);
    pthread_t th;
    pthread_create(&th, NULL, load_main, NULL);

    /* 4. the change, until the alarm */
    int fd = hc_connect(s.port);
    char body[512], fbb[256];
    double t_alarm = 0;
    size_t sent = 0;
    uint64_t cs = 777;
    for (; sent < 20000 && !t_alarm; sent++) {
        bool y = draw(&cs, k_after, x);
        body_of(x, body, sizeof body);
        hc_resp r;
        if (hc_request_fd(fd, "POST", "/v1/models/m:predict", body, NULL, &r) != 0 || r.status != 200) {
            fprintf(stderr, "alarm_serve: a labelled prediction failed\n");
            hc_resp_free(&r);
            continue;
        }
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(fbb, sizeof fbb, "{\"request_id\":\"%s\",\"label\":\"%s\"}",
                 json_string_value(json_object_get(j, "request_id")), y ? "yes" : "no");
        json_decref(j);
        hc_resp_free(&r);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fbb, NULL, &r) != 0 || r.status != 202)
            fprintf(stderr, "alarm_serve: feedback failed\n");
        hc_resp_free(&r);
        if (sent % 5 == 4 && raised_performance(s.port) > 0) t_alarm = now_s();
    }
    close(fd);
    if (!t_alarm) {
        fprintf(stderr, "alarm_serve: no performance alarm after %zu changed rows\n", sent);
        return 1;
    }

    /* 5. the retrain, the gate, the swap */
    json_t *lr = NULL;
    while (!lr && now_s() - t_alarm < 900) {
        json_t *j = get_json(s.port, "/v1/models/m/monitor");
        json_t *v = json_object_get(json_object_get(j, "online"), "last_retrain");
        if (json_is_object(v)) lr = json_incref(v);
        json_decref(j);
        if (!lr) usleep(100000);
    }
    double t_end_seen = now_s();
    /* 100%: wait until the load has seen only the challenger for 2 s (or 120 s after the retrain) */
    int challenger = 0;
    const char *cv = json_string_value(json_object_get(lr, "challenger"));
    if (cv && strchr(cv, '@')) challenger = atoi(strchr(cv, '@') + 1);
    bool promoted = json_is_true(json_object_get(lr, "promoted"));
    for (;;) {
        usleep(200000);
        size_t n = g_load.n;
        double t_last_other = 0;
        for (size_t i = 0; i < n; i++)
            if (g_load.s[i].version != challenger) t_last_other = g_load.s[i].t;
        if (!promoted || (n && g_load.s[n - 1].t - t_last_other > 2.0) || now_s() - t_end_seen > 120) break;
    }
    atomic_store(&g_load.stop, true);
    pthread_join(th, NULL);
    rc = hc_server_stop(&s, SIGTERM);

    /* the figures */
    size_t n = g_load.n, failed = 0, during = 0;
    double t_first_ch = 0, t_last_old = 0;
    double *lat = calloc(n ? n : 1, sizeof *lat);
    size_t nl = 0;
    for (size_t i = 0; i < n; i++) {
        const sample *sm = &g_load.s[i];
        if (sm->status != 200) failed++;
        if (sm->t >= t_alarm) {
            during++;
            lat[nl++] = sm->lat;
        }
        if (sm->version == challenger && !t_first_ch && sm->t >= t_alarm) t_first_ch = sm->t;
        if (sm->version != challenger) t_last_old = sm->t;
    }
    int cmpd(const void *a, const void *b);
    qsort(lat, nl, sizeof *lat, cmpd);
    json_t *ph = json_object_get(lr, "phases");
    double started = (double)json_integer_value(json_object_get(lr, "started_ms")) / 1000;
    double secs = json_number_value(json_object_get(lr, "seconds"));
    json_t *rows = json_object_get(lr, "rows");
    printf("changed rows streamed with labels until the alarm: %zu\n", sent);
    printf("retrain: decision=%s promoted=%s challenger=%s rows labelled=%lld holdout=%lld served_train=%lld "
           "champion_metric=%.4f challenger_metric=%.4f\n",
           json_string_value(json_object_get(lr, "decision")), promoted ? "true" : "false", cv ? cv : "null",
           json_integer_value(json_object_get(rows, "labelled")), json_integer_value(json_object_get(rows, "holdout")),
           json_integer_value(json_object_get(rows, "served_train")),
           json_number_value(json_object_get(lr, "champion_metric")),
           json_number_value(json_object_get(lr, "challenger_metric")));
    printf("phase alarm_to_retrain_start_s=%.3f\n", started - t_alarm);
    const char *names[] = {"lock", "scan", "snapshot", "train", "register", "gate", "promote"};
    for (int k = 0; k < 7; k++) printf("phase retrain_%s_s=%.3f\n", names[k], json_number_value(json_object_get(ph, names[k])));
    printf("phase retrain_total_s=%.3f\n", secs);
    if (promoted && t_first_ch) {
        printf("phase retrain_end_to_first_challenger_answer_s=%.3f\n", t_first_ch - (started + secs));
        printf("phase first_to_last_champion_answer_s=%.3f\n", t_last_old > t_first_ch ? t_last_old - t_first_ch : 0.0);
        printf("alarm_to_100pct_s=%.3f (target <= 60)\n", (t_last_old > t_first_ch ? t_last_old : t_first_ch) - t_alarm);
    } else {
        printf("alarm_to_100pct_s=none (not promoted)\n");
    }
    printf("requests during: %zu answered after the alarm, %zu failed in all (of %zu), p50 %.2f ms p99 %.2f ms "
           "max %.2f ms\n",
           during, failed, n, nl ? lat[nl / 2] * 1e3 : 0, nl ? lat[(size_t)(0.99 * (double)(nl - 1))] * 1e3 : 0,
           nl ? lat[nl - 1] * 1e3 : 0);
    printf("server exit: %d\n", rc);
    json_decref(lr);
    free(lat);
    free(g_load.s);
    return failed || !promoted ? 1 : 0;
}

int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
