/* feedback_cost.c — what online learning costs the server (issue 18: "learning from feedback adds
 * <= 5 us per event and leaves predict p99 unchanged"; run by bench/learn/feedback_cost.sh).
 *
 * Two sides on the same linear spam model (57 inputs), each a fresh copy of one trained home:
 *   on  — `learn: {online: true}` (FTRL from the feedback stream, the defaults: a snapshot every
 *         1,000 examples through the gate, promote none);
 *   off — no learn section.
 * LEARN_YAML (environment): the on side's serve config instead (a variant: e.g. no snapshots, to
 * read what they cost the learning thread).
 * Fixed work per run, the same on both sides: WARM warm-up events (first loads, the monitor's
 * calibration, the learner's start), then EVENTS measured events split evenly over CONNS client
 * threads; an event is one predict of a spam row (timed) then its label to /v1/feedback. After the
 * clients finish, the run waits until the server has learned every label (on:
 * flywheel_learn_labels_total learned + unjoined + refused = sent) and the log spool is empty (both
 * sides), then 300 ms, and reads the CPU.
 * CPU is read per thread: /proc/PID/task/TID/schedstat (nanoseconds on a CPU) by thread name (comm:
 * fw-learn, MHD-worker, fw-log-writer, ...; threads of one name summed) before the measured events
 * and after the drain, and for the whole process (utime + stime of /proc/PID/stat, which also holds
 * threads that exited). Per pair of runs (the side that goes first alternating): the whole server's
 * CPU on - off per event = the learning cost, and the same difference for every thread name, with
 * its voluntary context switches (wake-ups) per 1,000 events. Medians and the spread (min..max) over
 * PAIRS; predict p99 on / off.
 * Usage: feedback_cost FLYWHEEL_BIN WORK_DIR SPAM_CSV [PAIRS (3)] [EVENTS (60000)] [CONNS (32)] [WARM (6000)] */
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
    size_t want;                 /* events to send */
    double *lat;
    size_t n, failed;
} client;

static void *client_main(void *arg) {
    client *c = arg;
    int fd = hc_connect(c->port);
    char fb[256];
    size_t i = (size_t)c->id * 997;
    for (size_t k = 0; fd >= 0 && k < c->want; k++) {
        size_t r = i++ % g_n;
        hc_resp resp;
        double t0 = mono();
        int rc = hc_request_fd(fd, "POST", "/v1/models/spam:predict", g_body[r], NULL, &resp);
        double t1 = mono();
        if (rc || resp.status != 200) {
            c->failed++;
            if (!rc) hc_resp_free(&resp);
            else { /* the connection broke: a new one */
                close(fd);
                fd = hc_connect(c->port);
            }
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

/* ---- CPU per thread ------------------------------------------------------------------------- */

#define MAX_THREADS 256
#define MAX_NAMES 48
typedef struct thread_snap {
    int n;
    int tid[MAX_THREADS];
    char name[MAX_THREADS][20];
    double ns[MAX_THREADS];      /* schedstat: time on a CPU */
    double wakes[MAX_THREADS];   /* voluntary context switches */
} thread_snap;

static int read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return 0;
}

static void snap_threads(pid_t pid, thread_snap *t) {
    char dir[64], p[384], buf[4096];
    t->n = 0;
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && t->n < MAX_THREADS) {
        if (e->d_name[0] == '.') continue;
        int i = t->n;
        t->tid[i] = atoi(e->d_name);
        snprintf(p, sizeof p, "%s/%s/comm", dir, e->d_name);
        if (read_small(p, buf, sizeof buf)) continue;
        buf[strcspn(buf, "\n")] = 0;
        snprintf(t->name[i], sizeof t->name[i], "%.19s", buf);
        snprintf(p, sizeof p, "%s/%s/schedstat", dir, e->d_name);
        if (read_small(p, buf, sizeof buf)) continue;
        t->ns[i] = atof(buf);
        snprintf(p, sizeof p, "%s/%s/status", dir, e->d_name);
        t->wakes[i] = 0;
        if (!read_small(p, buf, sizeof buf)) {
            const char *v = strstr(buf, "\nvoluntary_ctxt_switches:");
            if (v) t->wakes[i] = atof(v + strlen("\nvoluntary_ctxt_switches:"));
        }
        t->n++;
    }
    closedir(d);
}

/* Per-name sums of after - before (a thread new since `before` counts from 0). */
typedef struct by_name {
    int n;
    char name[MAX_NAMES][20];
    double us[MAX_NAMES];        /* CPU us per event */
    double wakes[MAX_NAMES];     /* voluntary switches per 1,000 events */
} by_name;

static int name_slot(by_name *b, const char *name) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->name[i], name)) return i;
    if (b->n == MAX_NAMES) return -1;
    snprintf(b->name[b->n], sizeof b->name[b->n], "%s", name);
    b->us[b->n] = b->wakes[b->n] = 0;
    return b->n++;
}

static void thread_delta(const thread_snap *a, const thread_snap *z, size_t events, by_name *out) {
    out->n = 0;
    for (int i = 0; i < z->n; i++) {
        double ns0 = 0, w0 = 0;
        for (int k = 0; k < a->n; k++)
            if (a->tid[k] == z->tid[i]) ns0 = a->ns[k], w0 = a->wakes[k];
        int s = name_slot(out, z->name[i]);
        if (s < 0) continue;
        out->us[s] += (z->ns[i] - ns0) * 1e-3 / (double)events;
        out->wakes[s] += (z->wakes[i] - w0) * 1e3 / (double)events;
    }
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
    double cpu_us_per_pair, threads_us, p50_ms, p99_ms, rps;
    double store_joins;          /* labels joined through the store over the whole run (on) */
    by_name th;
    size_t pairs, failed;
} result;

/* Sends `events` events over conns clients; their latencies into *lat (malloc'd), *n of them. */
static void send_events(int port, int conns, size_t events, int id0, double **lat, size_t *n, size_t *failed) {
    client *cs = calloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i] = (client){.port = port, .id = i + id0, .want = events / (size_t)conns + ((size_t)i < events % (size_t)conns)};
        cs[i].lat = malloc((cs[i].want ? cs[i].want : 1) * sizeof(double));
        pthread_create(&cs[i].th, NULL, client_main, &cs[i]);
    }
    *n = *failed = 0;
    for (int i = 0; i < conns; i++) pthread_join(cs[i].th, NULL);
    *lat = malloc((events ? events : 1) * sizeof(double));
    for (int i = 0; i < conns; i++) {
        memcpy(*lat + *n, cs[i].lat, cs[i].n * sizeof(double));
        *n += cs[i].n;
        *failed += cs[i].failed;
        free(cs[i].lat);
    }
    free(cs);
}

/* Waits until every label sent is learned (on) and the log spool is empty; then 300 ms. */
static void drain(int port, bool on, long long total) {
    for (int w = 0; w < 600; w++) {
        bool done = !on || learned(port) >= total;
        if (done && hc_metric(port, "flywheel_log_spool_records") <= 0) break;
        usleep(50000);
    }
    if (on && learned(port) < total) fprintf(stderr, "feedback_cost: %lld of %lld labels learned after 30 s\n", learned(port), total);
    usleep(300000);
}

static int run(const char *bin, const char *work, bool on, size_t events, size_t warm, int conns, result *out) {
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
    double *lat;
    size_t n, failed;
    send_events(s.port, conns, warm, 100, &lat, &n, &failed);
    free(lat);
    long long total = (long long)n;
    drain(s.port, on, total);
    static thread_snap t0, t1;
    snap_threads(s.pid, &t0);
    double c0 = proc_cpu(s.pid), w0 = mono();
    send_events(s.port, conns, events, 0, &lat, &n, &failed);
    double w1 = mono();
    total += (long long)n;
    drain(s.port, on, total);
    double c1 = proc_cpu(s.pid);
    snap_threads(s.pid, &t1);
    qsort(lat, n, sizeof(double), cmpd);
    out->pairs = n;
    out->failed = failed;
    out->cpu_us_per_pair = n ? (c1 - c0) * 1e6 / (double)n : NAN;
    thread_delta(&t0, &t1, n ? n : 1, &out->th);
    out->threads_us = 0;
    for (int i = 0; i < out->th.n; i++) out->threads_us += out->th.us[i];
    out->store_joins = on ? hc_metric(s.port, "flywheel_learn_joins_total{via=\"store\"}") : NAN;
    out->p50_ms = n ? lat[n / 2] * 1e3 : NAN;
    out->p99_ms = n ? lat[(size_t)(0.99 * (double)(n - 1))] * 1e3 : NAN;
    out->rps = (double)n / (w1 - w0);
    free(lat);
    hc_server_stop(&s, SIGTERM);
    return 0;
}

/* "median (min..max)" of v[0..n) (sorted in place) into buf. */
static const char *spread(double *v, int n, char *buf, size_t cap) {
    qsort(v, (size_t)n, sizeof(double), cmpd);
    double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    snprintf(buf, cap, "%7.2f (%.2f..%.2f)", m, v[0], v[n - 1]);
    return buf;
}

static double find(const by_name *b, const char *name, bool wakes) {
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->name[i], name)) return wakes ? b->wakes[i] : b->us[i];
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: feedback_cost FLYWHEEL_BIN WORK_DIR SPAM_CSV [PAIRS] [EVENTS] [CONNS] [WARM]\n");
        return 2;
    }
    const char *bin = argv[1], *work = argv[2];
    int pairs = argc > 4 ? atoi(argv[4]) : 3;
    size_t events = argc > 5 ? (size_t)atoll(argv[5]) : 60000;
    int conns = argc > 6 ? atoi(argv[6]) : 32;
    size_t warm = argc > 7 ? (size_t)atoll(argv[7]) : 6000;
    if (pairs < 1 || pairs > 64 || conns < 1 || events < (size_t)conns) {
        fprintf(stderr, "feedback_cost: PAIRS 1..64, EVENTS >= CONNS >= 1\n");
        return 2;
    }
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
    const char *learn_yaml = getenv("LEARN_YAML"); /* a variant of the on side (e.g. no snapshots) */
    fprintf(f, "%s", learn_yaml && *learn_yaml ? learn_yaml : "learn:\n  online: true\n  models: [spam]\n");
    fclose(f);
    snprintf(p, sizeof p, "%s/off.yaml", work);
    f = fopen(p, "w");
    fprintf(f, "monitoring:\n  enabled: true\n");
    fclose(f);
    printf("model: spam linear (57 inputs); %d pairs; each run %zu warm-up then %zu measured events over %d connections "
           "(the same work on and off), each a predict then its label; server --threads 2; CPU = the server's over the "
           "measured events and the drain (process: utime + stime; threads: schedstat, by name)\n",
           pairs, warm, events, conns);
    if (learn_yaml && *learn_yaml) printf("on side: LEARN_YAML = %s\n", learn_yaml);
    static double cost[64], ratio[64], tsum[64], ton[MAX_NAMES][64], toff[MAX_NAMES][64], tdiff[MAX_NAMES][64],
        wdiff[MAX_NAMES][64];
    static char names[MAX_NAMES][20];
    static result res[64][2];
    int n_names = 0;
    for (int r = 0; r < pairs; r++) {
        for (int k = 0; k < 2; k++) {
            bool on = (r % 2 == 0) ? k == 0 : k == 1;
            if (run(bin, work, on, events, warm, conns, &res[r][on ? 0 : 1])) return 1;
        }
        result *a = &res[r][0], *b = &res[r][1];
        cost[r] = a->cpu_us_per_pair - b->cpu_us_per_pair;
        tsum[r] = a->threads_us - b->threads_us;
        ratio[r] = a->p99_ms / b->p99_ms;
        printf("pair %d (%s first): on %zu events %.0f/s %.2f us CPU/event p50 %.3f p99 %.3f ms (%zu failed) | "
               "off %zu events %.0f/s %.2f us CPU/event p50 %.3f p99 %.3f ms (%zu failed) | learning %.2f us/event "
               "(live threads %.2f), p99 on/off %.3f, %.0f labels joined through the store\n",
               r + 1, r % 2 == 0 ? "on" : "off", a->pairs, a->rps, a->cpu_us_per_pair, a->p50_ms, a->p99_ms, a->failed,
               b->pairs, b->rps, b->cpu_us_per_pair, b->p50_ms, b->p99_ms, b->failed, cost[r], tsum[r], ratio[r],
               a->store_joins);
        for (int side = 0; side < 2; side++)
            for (int i = 0; i < res[r][side].th.n; i++) {
                int k = 0;
                while (k < n_names && strcmp(names[k], res[r][side].th.name[i])) k++;
                if (k == n_names && n_names < MAX_NAMES) snprintf(names[n_names++], sizeof names[0], "%s", res[r][side].th.name[i]);
            }
        printf("  by thread, us CPU/event on - off (wake-ups per 1,000 events on/off):");
        for (int k = 0; k < n_names; k++)
            printf(" %s %+.2f (%.0f/%.0f)", names[k], find(&a->th, names[k], false) - find(&b->th, names[k], false),
                   find(&a->th, names[k], true), find(&b->th, names[k], true));
        printf("\n");
        fflush(stdout);
    }
    for (int k = 0; k < n_names; k++)
        for (int r = 0; r < pairs; r++) {
            ton[k][r] = find(&res[r][0].th, names[k], false);
            toff[k][r] = find(&res[r][1].th, names[k], false);
            tdiff[k][r] = ton[k][r] - toff[k][r];
            wdiff[k][r] = find(&res[r][0].th, names[k], true) - find(&res[r][1].th, names[k], true);
        }
    char b1[64], b2[64], b3[64], b4[64];
    printf("per thread over %d pairs, median (min..max): us CPU per event on | off | on - off | wake-ups per 1,000 events on - off\n", pairs);
    for (int k = 0; k < n_names; k++)
        printf("  %-16s %s | %s | %s | %s\n", names[k], spread(ton[k], pairs, b1, sizeof b1), spread(toff[k], pairs, b2, sizeof b2),
               spread(tdiff[k], pairs, b3, sizeof b3), spread(wdiff[k], pairs, b4, sizeof b4));
    printf("  %-16s on - off %s\n", "all live threads", spread(tsum, pairs, b1, sizeof b1));
    printf("median: learning from feedback %s us CPU per event (whole process on - off; target <= 5), predict p99 on/off %s "
           "(target: unchanged)\n", spread(cost, pairs, b1, sizeof b1), spread(ratio, pairs, b2, sizeof b2));
    return 0;
}
