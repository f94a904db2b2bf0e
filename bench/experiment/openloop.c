/* openloop.c — the open-loop load generator of bench/experiment/isolation.sh (issue 19: "a canary
 * that hangs or runs 10x slower costs the champion's traffic <= 5% p99"). One thread, epoll, keep-alive
 * HTTP/1.1 connections to 127.0.0.1:PORT, two Poisson streams at a fixed rate each:
 *   champion   — RATE requests/s POSTed to CHAMP (the route whose latency is the measure);
 *   background — RATE requests/s POSTed to A in the windows labelled A and to B in those labelled B.
 * The run is a warm-up window, then PAIRS pairs of WINDOW_MS windows, one A and one B in a random
 * order per pair (seeded). A request's latency runs from its SCHEDULED send time to its last reply
 * byte, so a server that stalls is charged for the requests it made wait (no coordinated
 * omission); a request scheduled when all of its stream's connections are busy waits in a queue.
 * Each champion latency goes to its window's histogram (log buckets 0.5% wide), except those
 * scheduled in the first GUARD_MS of a window (the previous window's tail). Printed: per side the
 * champion's requests, failures (non-2xx, connection errors, timeouts of 5 s), p50/p99/p99.9 of the
 * pooled windows, the background route's p99 and failures; then the champion's p99 ratio B / A two
 * ways, each with a 95% bootstrap interval (pairs resampled, 2000 times): pooled (the p99 of all
 * of a side's requests: every stall counts, so a few stalls of the machine move it) and median
 * window (each window's own p99, the median over a side's windows: a stall spoils one window, not
 * the figure); and the pooled p50 ratio. Last line (for scripts):
 *   RESULT p99_ratio LO HI p50_ratio LO HI fails_A fails_B bg_fails_A bg_fails_B win_p99_ratio LO HI
 * OPENLOOP_WINDOWS=1 lists each window's p99 on stderr; OPENLOOP_AFTER_CONNECT=CMD runs CMD (system)
 * once every connection is open, before the first request.
 * Usage: openloop PORT RATE CONNS WINDOW_MS GUARD_MS PAIRS SEED BODY_FILE CHAMP A B */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NB 4000           /* histogram buckets: 1 us * 1.005^i, i < NB (~ 1 us .. 460 s) */
#define TIMEOUT_NS 5000000000ull
#define MAXC 64

typedef struct {
    uint64_t sched; /* scheduled send time */
    int side;       /* -1 warm-up/guard (not recorded), 0 = A, 1 = B */
    int win;        /* window index (>= 0), -1 warm-up */
    int lab;        /* the window's label (0 = A, 1 = B; warm-up: A): picks the background path */
} req;

typedef struct {
    req *v;
    size_t head, n, cap;
} fifo;

typedef struct {
    int fd;
    int stream; /* 0 champion, 1 background */
    int busy;
    req cur;
    char out[1024];
    size_t out_len, out_off;
    char in[65536];
    size_t in_len;
} conn;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_s;
static double urand(void) { /* xorshift64*, (0, 1) */
    rng_s ^= rng_s >> 12;
    rng_s ^= rng_s << 25;
    rng_s ^= rng_s >> 27;
    return ((double)((rng_s * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}

static void fifo_push(fifo *f, req r) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        req *v = malloc(cap * sizeof *v);
        if (!v) { perror("malloc"); exit(1); }
        for (size_t i = 0; i < f->n; i++) v[i] = f->v[(f->head + i) % f->cap];
        free(f->v);
        f->v = v, f->cap = cap, f->head = 0;
    }
    f->v[(f->head + f->n++) % f->cap] = r;
}
static req fifo_pop(fifo *f) {
    req r = f->v[f->head];
    f->head = (f->head + 1) % f->cap;
    f->n--;
    return r;
}

static int port, n_pairs, n_win;
static uint64_t t_start, win_ns, guard_ns;
static int *order;            /* side of each recorded window */
static uint32_t (*hist)[NB];  /* per window, champion */
static uint32_t bg_hist[2][NB];
static long fails[2][2];      /* [stream][side] */
static long done_n[2][2];
static const char *body;
static size_t body_len;
static const char *paths[3]; /* champion, A, B */
static int ep;

static int bucket(uint64_t ns) {
    double us = (double)ns / 1000.0;
    if (us <= 1) return 0;
    int b = (int)(log(us) / log(1.005)) + 1;
    return b < NB ? b : NB - 1;
}
static double bucket_us(int b) { return b == 0 ? 1.0 : pow(1.005, b - 0.5); }

/* Classifies a scheduled time: the window and its side (-1 before the first recorded window or
 * inside a window's guard). */
static void classify(req *r) {
    r->win = -1, r->side = -1, r->lab = 0;
    if (r->sched < t_start + win_ns) return; /* warm-up window */
    uint64_t k = (r->sched - t_start - win_ns) / win_ns;
    if (k >= (uint64_t)n_win) return;
    r->win = (int)k;
    r->lab = order[k];
    if ((r->sched - t_start - win_ns) % win_ns >= guard_ns) r->side = order[k];
}

static int open_conn(conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->busy = 0, c->in_len = 0, c->out_len = c->out_off = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void finish(conn *c, int ok, uint64_t t) {
    req r = c->cur;
    c->busy = 0;
    if (r.side < 0) return;
    done_n[c->stream][r.side]++;
    if (!ok) fails[c->stream][r.side]++;
    int b = bucket(t - r.sched);
    if (c->stream == 0) hist[r.win][b]++;
    else bg_hist[r.side][b]++;
}

static void reconnect(conn *c, uint64_t t) {
    if (c->busy) finish(c, 0, t);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    while (open_conn(c) != 0) usleep(1000);
}

static void flush_out(conn *c, uint64_t t) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w > 0) { c->out_off += (size_t)w; continue; }
        if (w < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        reconnect(c, t);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_req(conn *c, req r, uint64_t t) {
    const char *path = paths[c->stream == 0 ? 0 : 1 + r.lab];
    int n = snprintf(c->out, sizeof c->out,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, body_len, body);
    c->out_len = (size_t)n, c->out_off = 0;
    c->cur = r;
    c->busy = 1;
    flush_out(c, t);
}

/* Reads and consumes complete replies (one at most is outstanding). */
static void on_read(conn *c, uint64_t t) {
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (n > 0) { c->in_len += (size_t)n; if (c->in_len == sizeof c->in) break; continue; }
        if (n < 0 && errno == EAGAIN) break;
        reconnect(c, t); /* closed or failed */
        return;
    }
    c->in[c->in_len < sizeof c->in ? c->in_len : sizeof c->in - 1] = 0;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return;
    size_t hdr = (size_t)(end - c->in) + 4;
    int code = c->in_len > 12 ? atoi(c->in + 9) : 0;
    long cl = -1;
    int close_after = 0;
    for (char *p = c->in; p < end; p++) {
        if (*p != '\n') continue;
        if (!strncasecmp(p + 1, "content-length:", 15)) cl = atol(p + 16);
        if (!strncasecmp(p + 1, "connection: close", 17)) close_after = 1;
    }
    if (cl < 0 || hdr + (size_t)cl > sizeof c->in) { reconnect(c, t); return; }
    if (c->in_len < hdr + (size_t)cl) return;
    size_t used = hdr + (size_t)cl;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (c->busy) finish(c, code >= 200 && code < 300, t);
    if (close_after) reconnect(c, t);
}

static double quant(const uint32_t *h, double q) {
    uint64_t tot = 0;
    for (int b = 0; b < NB; b++) tot += h[b];
    if (!tot) return NAN;
    uint64_t k = (uint64_t)ceil(q * (double)tot), acc = 0;
    if (k < 1) k = 1;
    for (int b = 0; b < NB; b++)
        if ((acc += h[b]) >= k) return bucket_us(b);
    return bucket_us(NB - 1);
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Pools the champion histograms of the given pairs (pair index list, with repeats) by side. */
static void pool(const int *pairs, int n, uint32_t out[2][NB]) {
    memset(out, 0, 2 * NB * sizeof(uint32_t));
    for (int i = 0; i < n; i++)
        for (int w = 2 * pairs[i]; w < 2 * pairs[i] + 2; w++)
            for (int b = 0; b < NB; b++) out[order[w]][b] += hist[w][b];
}

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: openloop PORT RATE CONNS WINDOW_MS GUARD_MS PAIRS SEED BODY_FILE CHAMP A B\n");
        return 2;
    }
    port = atoi(argv[1]);
    double rate = atof(argv[2]);
    int conns = atoi(argv[3]);
    win_ns = (uint64_t)atol(argv[4]) * 1000000ull;
    guard_ns = (uint64_t)atol(argv[5]) * 1000000ull;
    n_pairs = atoi(argv[6]);
    rng_s = (uint64_t)atoll(argv[7]) * 0x9E3779B97F4A7C15ull + 1;
    paths[0] = argv[9], paths[1] = argv[10], paths[2] = argv[11];
    if (rate <= 0 || conns < 1 || conns > MAXC || n_pairs < 2 || !win_ns || guard_ns >= win_ns) {
        fprintf(stderr, "openloop: bad arguments\n");
        return 2;
    }
    static char bodybuf[512];
    FILE *f = fopen(argv[8], "r");
    if (!f) { perror(argv[8]); return 2; }
    body_len = fread(bodybuf, 1, sizeof bodybuf - 1, f);
    fclose(f);
    while (body_len && (bodybuf[body_len - 1] == '\n')) body_len--;
    bodybuf[body_len] = 0;
    body = bodybuf;
    n_win = 2 * n_pairs;
    order = malloc((size_t)n_win * sizeof *order);
    hist = calloc((size_t)n_win, sizeof *hist);
    if (!order || !hist) return 1;
    for (int p = 0; p < n_pairs; p++) {
        int first = urand() < 0.5;
        order[2 * p] = first, order[2 * p + 1] = !first;
    }
    ep = epoll_create1(0);
    static conn cs[2][MAXC];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < conns; i++) {
            cs[s][i].stream = s;
            if (open_conn(&cs[s][i]) != 0) { perror("connect"); return 1; }
            usleep(5000); /* spread over the server's HTTP threads (each takes the ones it accepts) */
        }
    const char *after = getenv("OPENLOOP_AFTER_CONNECT"); /* e.g. the server's switch to SCHED_FIFO */
    if (after && *after && system(after) != 0) fprintf(stderr, "openloop: '%s' failed\n", after);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
    double gap_ns = 1e9 / rate;
    t_start = now_ns() + 10000000ull;
    uint64_t t_end = t_start + (uint64_t)(n_win + 1) * win_ns;
    uint64_t next[2] = {t_start + (uint64_t)(-log(urand()) * gap_ns), t_start + (uint64_t)(-log(urand()) * gap_ns)};
    fifo pend[2] = {{0}, {0}};
    for (;;) {
        uint64_t t = now_ns();
        for (int s = 0; s < 2; s++)
            while (next[s] <= t && next[s] < t_end) {
                req r = {.sched = next[s]};
                classify(&r);
                fifo_push(&pend[s], r);
                next[s] += (uint64_t)(-log(urand()) * gap_ns) + 1;
            }
        int idle = 1;
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < conns; i++) {
                conn *c = &cs[s][i];
                if (c->busy) {
                    idle = 0;
                    if (t - c->cur.sched > TIMEOUT_NS && t > c->cur.sched) reconnect(c, t);
                } else if (pend[s].n) {
                    send_req(c, fifo_pop(&pend[s]), t);
                    idle = 0;
                }
            }
        if (next[0] >= t_end && next[1] >= t_end && !pend[0].n && !pend[1].n && idle) break;
        uint64_t wake = next[0] < next[1] ? next[0] : next[1];
        if (wake >= t_end) wake = t + 10000000ull; /* draining: look at timeouts every 10 ms */
        struct itimerspec its = {{0, 0}, {(time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull)}};
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        struct epoll_event evs[2 * MAXC + 1];
        int n = epoll_wait(ep, evs, 2 * MAXC + 1, 1000);
        t = now_ns();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) {}
                continue;
            }
            if (evs[i].events & EPOLLOUT) flush_out(c, t);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_read(c, t);
        }
    }
    /* report */
    int *all = malloc((size_t)n_pairs * sizeof *all), *bs = malloc((size_t)n_pairs * sizeof *bs);
    static uint32_t pooled[2][NB];
    for (int p = 0; p < n_pairs; p++) all[p] = p;
    pool(all, n_pairs, pooled);
    double p99[2], p50[2], m99 = NAN;
    for (int s = 0; s < 2; s++) {
        uint64_t n = 0;
        for (int b = 0; b < NB; b++) n += pooled[s][b];
        p99[s] = quant(pooled[s], 0.99), p50[s] = quant(pooled[s], 0.50);
        printf("side %c: champion %lu requests, %ld failed, p50 %.1f us, p99 %.1f us, p99.9 %.1f us; background p99 %.1f us, %ld of %ld failed\n",
               "AB"[s], (unsigned long)n, fails[0][s], p50[s], p99[s], quant(pooled[s], 0.999), quant(bg_hist[s], 0.99),
               fails[1][s], done_n[1][s]);
    }
    /* the robust figure: each window's p99, the median over each side's windows, their ratio */
    double *wq[2] = {malloc((size_t)n_pairs * sizeof(double)), malloc((size_t)n_pairs * sizeof(double))};
    double *w99 = malloc((size_t)n_win * sizeof *w99);
    for (int w = 0; w < n_win; w++) w99[w] = quant(hist[w], 0.99);
    double *r99 = malloc(2000 * sizeof *r99), *r50 = malloc(2000 * sizeof *r50), *rm = malloc(2000 * sizeof *rm);
    for (int k = 0; k <= 2000; k++) { /* k == 2000: the sample itself */
        for (int p = 0; p < n_pairs; p++) bs[p] = k < 2000 ? (int)(urand() * n_pairs) : p;
        for (int p = 0; p < n_pairs; p++)
            for (int w = 2 * bs[p]; w < 2 * bs[p] + 2; w++) wq[order[w]][p] = w99[w];
        qsort(wq[0], (size_t)n_pairs, sizeof(double), cmpd);
        qsort(wq[1], (size_t)n_pairs, sizeof(double), cmpd);
        double m0 = n_pairs % 2 ? wq[0][n_pairs / 2] : (wq[0][n_pairs / 2 - 1] + wq[0][n_pairs / 2]) / 2;
        double m1 = n_pairs % 2 ? wq[1][n_pairs / 2] : (wq[1][n_pairs / 2 - 1] + wq[1][n_pairs / 2]) / 2;
        if (k == 2000) {
            printf("window p99 median: none %.1f us, case %.1f us\n", m0, m1);
            m99 = m1 / m0;
            break;
        }
        rm[k] = m1 / m0;
        pool(bs, n_pairs, pooled);
        r99[k] = quant(pooled[1], 0.99) / quant(pooled[0], 0.99);
        r50[k] = quant(pooled[1], 0.50) / quant(pooled[0], 0.50);
    }
    qsort(r99, 2000, sizeof *r99, cmpd);
    qsort(r50, 2000, sizeof *r50, cmpd);
    qsort(rm, 2000, sizeof *rm, cmpd);
    if (getenv("OPENLOOP_WINDOWS"))
        for (int w = 0; w < n_win; w++) fprintf(stderr, "window %d side %c p99 %.1f us\n", w, "AB"[order[w]], w99[w]);
    printf("champion p99 B/A: pooled %.3f (95%% bootstrap %.3f-%.3f), median window %.3f (%.3f-%.3f), over %d pairs of %.0f ms windows; p50 B/A %.3f (%.3f-%.3f)\n",
           p99[1] / p99[0], r99[49], r99[1949], m99, rm[49], rm[1949], n_pairs, (double)win_ns / 1e6, p50[1] / p50[0],
           r50[49], r50[1949]);
    printf("RESULT %.4f %.4f %.4f %.4f %.4f %.4f %ld %ld %ld %ld %.4f %.4f %.4f\n", p99[1] / p99[0], r99[49], r99[1949],
           p50[1] / p50[0], r50[49], r50[1949], fails[0][0], fails[0][1], fails[1][0], fails[1][1], m99, rm[49], rm[1949]);
    return 0;
}
