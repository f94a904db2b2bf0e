/* cluster.h — owns driving scripts/ha/cluster.sh from a test: start the replicated set (PostgreSQL,
 * N `flywheel serve` replicas, HAProxy) and read what it printed, fault commands (kill -9 or
 * SIGTERM of a replica, its restart, a PostgreSQL immediate restart), HAProxy's view of one replica
 * (its stats page), and stop by PID. Header-only (static functions); include test.h and
 * ../serve/client.h first. */
#ifndef FW_TEST_SCALE_CLUSTER_H
#define FW_TEST_SCALE_CLUSTER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fw_cluster {
    char dir[256];
    char home[300];    /* postgresql://... */
    int port;          /* HAProxy */
    int stats_port;    /* HAProxy's stats page */
    int n;             /* replicas */
    int rport[16];     /* replica i+1's port */
} fw_cluster;

static double cl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The port of "http://127.0.0.1:PORT..." (0 when none). */
static int cl_port_of(const char *url) {
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : 0;
}

/* Starts the set (`cluster.sh start --replicas n`); 0 or -1 (then the script's stderr is in why). */
static int cl_start(fw_cluster *c, int n, char *why, size_t cap) {
    memset(c, 0, sizeof *c);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "scripts/ha/cluster.sh start --replicas %d 2>'%s/cluster-start.err'", n, fw_test_tmpdir());
    FILE *p = popen(cmd, "r");
    char line[1024];
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "dir=", 4)) snprintf(c->dir, sizeof c->dir, "%.255s", line + 4);
        else if (!strncmp(line, "home=", 5)) snprintf(c->home, sizeof c->home, "%.299s", line + 5);
        else if (!strncmp(line, "url=", 4)) c->port = cl_port_of(line + 4);
        else if (!strncmp(line, "stats=", 6)) c->stats_port = atoi(strrchr(line + 6, ':') + 1);
        else if (!strncmp(line, "replicas=", 9)) c->n = atoi(line + 9);
        else if (line[0] == 'r' && line[1] >= '1' && line[1] <= '9' && strchr(line, '=')) {
            int i = atoi(line + 1);
            if (i >= 1 && i <= 16) c->rport[i - 1] = cl_port_of(strchr(line, '=') + 1);
        }
    }
    int rc = p ? pclose(p) : -1;
    if (rc != 0 || !c->dir[0] || !c->port || !c->stats_port || c->n != n) {
        char path[600];
        snprintf(path, sizeof path, "%s/cluster-start.err", fw_test_tmpdir());
        char *e = fw_test_slurp(path, NULL);
        snprintf(why, cap, "cluster.sh start (exit %d): %.900s", rc, e ? e : "");
        free(e);
        return -1;
    }
    return 0;
}

/* cluster.sh VERB DIR [I]; returns its exit code. */
static int cl_do(const fw_cluster *c, const char *verb, int i) {
    char cmd[700];
    if (i > 0) snprintf(cmd, sizeof cmd, "scripts/ha/cluster.sh %s '%s' %d >&2", verb, c->dir, i);
    else snprintf(cmd, sizeof cmd, "scripts/ha/cluster.sh %s '%s' >&2", verb, c->dir);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void cl_stop(fw_cluster *c) {
    if (c->dir[0]) cl_do(c, "stop", 0);
    c->dir[0] = 0;
}

/* HAProxy's status of replica i (1-based): "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2"
 * (coming back), "MAINT"...; "" when the stats page cannot be read. */
static void cl_status(const fw_cluster *c, int i, char *out, size_t cap) {
    out[0] = 0;
    /* HTTP/1.0, read to the end (HAProxy sends the page chunked to HTTP/1.1 clients) */
    int fd = hc_connect(c->stats_port);
    if (fd < 0) return;
    static const char req[] = "GET /stats;csv HTTP/1.0\r\n\r\n";
    char page[65536];
    size_t len = 0;
    if (hc_write_all(fd, req, sizeof req - 1) == 0) {
        ssize_t k;
        while (len + 1 < sizeof page && ((k = recv(fd, page + len, sizeof page - 1 - len, 0)) > 0 || (k < 0 && errno == EINTR)))
            if (k > 0) len += (size_t)k;
    }
    close(fd);
    page[len] = 0;
    char want[32];
    snprintf(want, sizeof want, "\nreplicas,r%d,", i);
    const char *l = strstr(page, want);
    if (l) {
        l++;
        /* field 18 (1-based) is the status */
        for (int f = 1; f < 18 && l; f++) {
            l = strchr(l, ',');
            if (l) l++;
        }
        if (l) {
            size_t k = strcspn(l, ",\n");
            snprintf(out, cap, "%.*s", (int)(k < cap ? k : cap - 1), l);
        }
    }
}

/* Waits up to secs for every replica to be UP behind HAProxy; true when they are. */
static bool cl_wait_all_up(const fw_cluster *c, double secs) {
    double t0 = cl_now();
    while (cl_now() - t0 < secs) {
        int up = 0;
        char st[64];
        for (int i = 1; i <= c->n; i++) {
            cl_status(c, i, st, sizeof st);
            up += strcmp(st, "UP") == 0;
        }
        if (up == c->n) return true;
        usleep(50000);
    }
    return false;
}

#endif
