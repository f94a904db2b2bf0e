/* feedback_cost.c — what online learning costs the server (issue 18: "learning from feedback adds
 * <= 5 us per event and leaves predict p99 unchanged"; run by bench/learn/feedback_cost.sh).
 *
 * Two sides on the same linear spam model (57 inputs), each a fresh copy of one trained home:
 *   on  — `learn: {online: true}` (FTRL from the feedback stream, the defaults: a snapshot every
 *         1,000 examples through the gate, promote none);
 *   off — no learn section.
 * Per run, CONNS client threads each loop for DUR seconds: predict one spam row (timed), then send
 * its label to /v1/feedback. After the clients stop, the run waits until the server has learned
 * every label (on: flywheel_learn_labels_total learned + unjoined + refused = sent) and the log is
 * stored, and takes the server's CPU time (utime + stime of the process) over the run and the
 * drain. Printed per run: pairs (= feedback events), the server's CPU us per pair, predict p50 /
 * p99. Per pair of runs (the side that goes first alternating): CPU on - off = the learning cost per
 * feedback event, and predict p99 on / off. Medians over PAIRS. Also printed (on): the CPU of the
 * learning thread alone (fw-learn, /proc/PID/task) per event and the HTTP worker threads' (MHD-worker)
 * CPU on - off — the two places learning adds work, each read from its own threads, so that the
 * log threads' noise (half the server's CPU, the same work on both sides) stays out — and the
 * labels joined through the store (not in memory).
 * Usage: feedback_cost FLYWHEEL_BIN WORK_DIR SPAM_CSV [PAIRS (3)] [DUR (5)] [CONNS (32)] */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tests/serve/client.h"

#define MAX_ROWS 4601
static char *g_body[MAX_ROWS];
static const char *g_label[MAX_ROWS];
static size_t g_n;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sh(const char *cmd) {
    int rc = system(cmd);
    if (rc) fprintf(stderr, "feedback_cost: failed (%d): %s\n", rc, cmd);
    return rc;
}

/* spam.csv: 57 numeric columns, then "type" (spam / nonspam); rows shuffled with a fixed seed (the
 * file is grouped by label: in-file order would be drift). */
static int load_spam(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[8192], *head[64];
    if (!fgets(line, sizeof line, f)) return -1;
    char hdr[8192];
    snprintf(hdr, sizeof hdr, "%s", line);
    size_t nh = 0;
    for (char *p = strtok(hdr, ",\r\n"); p && nh < 64; p = strtok(NULL, ",\r\n")) head[nh++] = p;
    while (g_n < MAX_ROWS && fgets(line, sizeof line, f)) {
        char buf[16384];
        size_t len = (size_t)snprintf(buf, sizeof buf, "{\"instances\":[{");
        char *save = NULL;
        size_t k = 0;
        const char *lab = NULL;
        for (char *p = strtok_r(line, ",\r\n", &save); p && k < nh; p = strtok_r(NULL, ",\r\n", &save), k++) {
            if (!strcmp(head[k], "type")) {
                lab = !strcmp(p, "spam") ? "spam" : "nonspam";
                continue;
            }
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s\"%s\":%s", len > 15 ? "," : "", head[k], p);
        }
        snprintf(buf + len, sizeof buf - len, "}]}");
        if (!lab) continue;
        g_body[g_n] = strdup(buf);
        g_label[g_n] = lab;
        g_n++;
    }
    fclose(f);
    uint64_t s = 7;
    for (size_t i = g_n; i > 1; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t j = (size_t)(s % i);
        char *b = g_body[i - 1];
        const char *l = g_label[i - 1];
        g_body[i - 1] = g_body[j], g_label[i - 1] = g_label[j];
        g_body[j] = b, g_label[j] = l;
    }
    return g_n ? 0 : -1;
}

typedef struct client {
    pthread_t th;
    int port, id;
    double until;
    double *lat;
    size_t n, cap, failed;
} client;

static void *client_main(void *arg) {
    client *c = arg;
    int fd = hc_connect(c->port);
    char fb[256];
    size_t i = (size_t)c->id * 997;
    while (fd >= 0 && mono() < c->until && c->n < c->cap) {
        size_t r = i++ % g_n;
        hc_resp resp;
        double t0 = mono();
        int rc = hc_request_fd(fd, "POST", "/v1/models/spam:predict", g_body[r], NULL, &resp);
        double t1 = mono();
        if (rc || resp.status != 200) {
            c->failed++;
            if (!rc) hc_resp_free(&resp);
            continue;
        }
        json_t *j = json_loads(resp.body, 0, NULL);
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid ? rid : "", g_label[r]);
        json_decref(j);
        hc_resp_free(&resp);
        if (hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &resp) != 0 || resp.status != 202) c->failed++;
        hc_resp_free(&resp);
        c->lat[c->n++] = t1 - t0;
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static double proc_cpu(pid_t pid) {
    char p[64], buf[2048];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return NAN;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    unsigned long ut = 0, stt = 0;
    if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2) return NAN;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds (utime + stime) of the server's threads named comm (e.g. "fw-learn"). */
static double thread_cpu(pid_t pid, const char *comm) {
    char dir[64], p[384], buf[2048];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return NAN;
    double sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *o = strchr(buf, '('), *q = strrchr(buf, ')');
        if (!o || !q || (size_t)(q - o - 1) != strlen(comm) || strncmp(o + 1, comm, strlen(comm))) continue;
        unsigned long ut = 0, stt = 0;
        if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) == 2)
            sum += (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
    return sum;
}


/* The sum of flywheel_learn_labels_total for learned, unjoined and refused (-1: not there). */
static long long learned(int port) {
    hc_resp r;
    if (hc_request(port, "GET", "/metrics", NULL, NULL, &r) != 0) return -1;
    long long sum = -1;
    const char *outs[] = {"learned", "unjoined", "refused"};
    for (int k = 0; k < 3 && r.body; k++) {
        char key[96];
        snprintf(key, sizeof key, "flywheel_learn_labels_total{outcome=\"%s\"} ", outs[k]);
        const char *p = strstr(r.body, key);
        if (p) sum = (sum < 0 ? 0 : sum) + atoll(p + strlen(key));
    }
    hc_resp_free(&r);
    return sum;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double cpu_us_per_pair, p50_ms, p99_ms, rps;
    double learn_thread_us;       /* the fw-learn thread's CPU per event (on) */
    double request_us;            /* the HTTP worker threads' (MHD-worker) CPU per event */
    double store_joins;           /* labels joined through the store over the whole run (on) */
    size_t pairs, failed;
} result;

static int run(const char *bin, const char *work, bool on, double dur, int conns, result *out) {
    char home[1200], cfg[1200], cmd[4000], errlog[1200];
    snprintf(home, sizeof home, "%s/run", work);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/home' '%s'", home, work, home);
    if (sh(cmd)) return -1;
    snprintf(cfg, sizeof cfg, "%s/%s.yaml", work, on ? "on" : "off");
    snprintf(errlog, sizeof errlog, "%s/%s.err", work, on ? "on" : "off");
    int saved = dup(2);
    if (!freopen(errlog, "a", stderr)) return -1;
    hc_server s;
    const char *args[] = {"--home", home, "--config", cfg, "--threads", "2", "--alias-poll", "0", NULL};
    int rc = hc_server_start_bin(&s, bin, args);
    dup2(saved, 2);
    close(saved);
    if (rc) {
        fprintf(stderr, "feedback_cost: the server did not start (%s)\n", errlog);
        return -1;
    }
    client *cs = calloc((size_t)conns, sizeof *cs);
    /* warm-up: 1 s (first loads, the monitor's calibration, the learner's start) */
    for (int pass = 0; pass < 2; pass++) {
        double len = pass ? dur : 1.0;
        double c0 = proc_cpu(s.pid), l0 = thread_cpu(s.pid, "fw-learn"), w0 = thread_cpu(s.pid, "MHD-worker"), t0 = mono();
        for (int i = 0; i < conns; i++) {
            cs[i] = (client){.port = s.port, .id = i + pass * 100, .until = t0 + len, .cap = 2000000};
            cs[i].lat = malloc(cs[i].cap * sizeof(double));
            pthread_create(&cs[i].th, NULL, client_main, &cs[i]);
        }
        for (int i = 0; i < conns; i++) pthread_join(cs[i].th, NULL);
        double t1 = mono();
        size_t n = 0, failed = 0;
        for (int i = 0; i < conns; i++) n += cs[i].n, failed += cs[i].failed;
        /* the drain: every label learned (on), then a moment for the log writer */
        static long long total;
        if (!pass) total = 0;
        total += (long long)n;
        for (int w = 0; on && w < 600 && learned(s.port) < total; w++) usleep(50000);
        if (on && learned(s.port) < total) fprintf(stderr, "feedback_cost: %lld of %lld labels learned after 30 s\n", learned(s.port), total);
        usleep(300000);
        double c1 = proc_cpu(s.pid), l1 = thread_cpu(s.pid, "fw-learn"), w1 = thread_cpu(s.pid, "MHD-worker");
        if (pass) {
            double *lat = malloc((n ? n : 1) * sizeof(double));
            size_t k = 0;
            for (int i = 0; i < conns; i++) {
                memcpy(lat + k, cs[i].lat, cs[i].n * sizeof(double));
                k += cs[i].n;
            }
            qsort(lat, n, sizeof(double), cmpd);
            out->pairs = n;
            out->failed = failed;
            out->cpu_us_per_pair = n ? (c1 - c0) * 1e6 / (double)n : NAN;
            out->learn_thread_us = n && on ? (l1 - l0) * 1e6 / (double)n : NAN;
            out->request_us = n ? (w1 - w0) * 1e6 / (double)n : NAN;
            out->store_joins = on ? hc_metric(s.port, "flywheel_learn_joins_total{via=\"store\"}") : NAN;
            out->p50_ms = n ? lat[n / 2] * 1e3 : NAN;
            out->p99_ms = n ? lat[(size_t)(0.99 * (double)(n - 1))] * 1e3 : NAN;
            out->rps = (double)n / (t1 - t0);
            free(lat);
        }
        for (int i = 0; i < conns; i++) free(cs[i].lat);
    }
    free(cs);
    hc_server_stop(&s, SIGTERM);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: feedback_cost FLYWHEEL_BIN WORK_DIR SPAM_CSV [PAIRS] [DUR] [CONNS]\n");
        return 2;
    }
    const char *bin = argv[1], *work = argv[2];
    int pairs = argc > 4 ? atoi(argv[4]) : 3;
    double dur = argc > 5 ? atof(argv[5]) : 5;
    int conns = argc > 6 ? atoi(argv[6]) : 32;
    if (load_spam(argv[3])) {
        fprintf(stderr, "feedback_cost: cannot read %s\n", argv[3]);
        return 1;
    }
    char cmd[4000], p[1200];
    snprintf(cmd, sizeof cmd, "'%s' train '%s' --label type --models linear --name spam --home '%s/home' --quiet >/dev/null && "
                              "'%s' models promote spam@1 --force --home '%s/home' >/dev/null", bin, argv[3], work, bin, work);
    if (sh(cmd)) return 1;
    snprintf(p, sizeof p, "%s/on.yaml", work);
    FILE *f = fopen(p, "w");
    fprintf(f, "learn:\n  online: true\n  models: [spam]\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/off.yaml", work);
    f = fopen(p, "w");
    fprintf(f, "monitoring:\n  enabled: true\n");
    fclose(f);
    printf("model: spam linear (57 inputs); %d pairs of %.0f s runs, %d connections, each predict then its label; "
           "server --threads 2; CPU = utime + stime of the server over the run and the drain\n", pairs, dur, conns);
    double cost[64], ratio[64], lthread[64], rthread[64];
    for (int r = 0; r < pairs && r < 64; r++) {
        result res[2];
        memset(res, 0, sizeof res);
        for (int k = 0; k < 2; k++) {
            bool on = (r % 2 == 0) ? k == 0 : k == 1;
            if (run(bin, work, on, dur, conns, &res[on ? 0 : 1])) return 1;
        }
        cost[r] = res[0].cpu_us_per_pair - res[1].cpu_us_per_pair;
        ratio[r] = res[0].p99_ms / res[1].p99_ms;
        printf("pair %d (%s first): on %zu events %.0f/s %.2f us CPU/event predict p50 %.3f p99 %.3f ms (%zu failed) | "
               "off %zu events %.0f/s %.2f us CPU/event p50 %.3f p99 %.3f ms (%zu failed) | learning %.2f us/event, "
               "p99 on/off %.3f | learning thread %.2f us CPU/event, request threads on - off %.2f us, %.0f labels joined "
               "through the store\n",
               r + 1, r % 2 == 0 ? "on" : "off", res[0].pairs, res[0].rps, res[0].cpu_us_per_pair, res[0].p50_ms,
               res[0].p99_ms, res[0].failed, res[1].pairs, res[1].rps, res[1].cpu_us_per_pair, res[1].p50_ms,
               res[1].p99_ms, res[1].failed, cost[r], ratio[r], res[0].learn_thread_us,
               res[0].request_us - res[1].request_us, res[0].store_joins);
        lthread[r] = res[0].learn_thread_us;
        rthread[r] = res[0].request_us - res[1].request_us;
        fflush(stdout);
    }
    qsort(cost, (size_t)pairs, sizeof(double), cmpd);
    qsort(ratio, (size_t)pairs, sizeof(double), cmpd);
    qsort(lthread, (size_t)pairs, sizeof(double), cmpd);
    qsort(rthread, (size_t)pairs, sizeof(double), cmpd);
    printf("median: learning from feedback %.2f us CPU per event (target <= 5), predict p99 on/off %.3f (target: unchanged); "
           "by thread: the learning thread %.2f us + the request threads on - off %.2f us per event\n",
           cost[pairs / 2], ratio[pairs / 2], lthread[pairs / 2], rthread[pairs / 2]);
    return 0;
}
