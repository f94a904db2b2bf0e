/* test_accept.c — tests for src/serve/acceptor.c: with `serving.listeners: shared` and two worker
 * threads, a burst of 64 new connections is spread evenly over the workers (when the workers
 * accepted from the shared socket themselves, one could take 62 of 64 and leave its core idle);
 * /metrics shows the spread (flywheel_worker_connections); at serving.conn_limit new clients
 * wait in the backlog and are served once slots free, none is refused; a server on port 0 tells
 * the port the acceptor bound. */
#include "client.h"
#include "test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_models[600];

static int worker_conns(int port, int w) {
    char key[80];
    snprintf(key, sizeof key, "flywheel_worker_connections{worker=\"%d\"}", w);
    return (int)hc_metric(port, key);
}

/* Three rounds of 64 connections opened at once (each sends a request and reads its answer, so the
 * server has registered it): both workers hold 31-33 of them (the /metrics request's own
 * connection is the 65th). */
static void test_burst_spread(void) {
    hc_server s;
    const char *args[] = {"--models-dir", g_models, "--threads", "2", NULL};
    CHECK_OK(hc_server_start(&s, args));
    for (int round = 0; round < 3; round++) {
        enum { N = 64 };
        int fds[N], n = 0;
        for (int i = 0; i < N; i++) {
            int fd = hc_connect(s.port);
            if (fd >= 0) fds[n++] = fd;
        }
        CHECK_EQ(n, N);
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        for (int i = 0; i < n; i++) hc_write_all(fds[i], req, sizeof req - 1);
        for (int i = 0; i < n; i++) { /* the status line of each answer: the connection is registered */
            char buf[512];
            ssize_t got = read(fds[i], buf, sizeof buf);
            CHECK(got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0);
        }
        int a = worker_conns(s.port, 0), b = worker_conns(s.port, 1);
        CHECK_MSG(a + b >= N && a >= 31 && b >= 31, "round %d: workers hold %d and %d of %d connections", round, a, b, N);
        for (int i = 0; i < n; i++) close(fds[i]);
        for (int t = 0; t < 100 && hc_metric(s.port, "flywheel_connections") > 1; t++) usleep(20000);
    }
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* conn_limit 8 with 8 idle connections open: a ninth client is not refused; it waits in the backlog
 * and is answered when one of the eight closes. */
static void test_limit_waits(void) {
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/limit8.yaml", fw_test_tmpdir());
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("serving:\n  conn_limit: 8\n  conn_timeout_s: 60\n  alias_poll_s: 0\n", f);
    fclose(f);
    hc_server s;
    const char *args[] = {"--models-dir", g_models, "--threads", "2", "--config", cfg, NULL};
    CHECK_OK(hc_server_start(&s, args));
    int fds[8], n = 0;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 8; i++) {
        int fd = hc_connect(s.port);
        if (fd < 0) continue;
        hc_write_all(fd, req, sizeof req - 1);
        char buf[512];
        CHECK(read(fd, buf, sizeof buf) > 12); /* answered: open and idle, holding a slot */
        fds[n++] = fd;
    }
    CHECK_EQ(n, 8);
    int ninth = hc_connect(s.port); /* the kernel completes the handshake: it waits in the backlog */
    CHECK(ninth >= 0);
    hc_write_all(ninth, req, sizeof req - 1);
    usleep(300000);
    char buf[512];
    CHECK_EQ(recv(ninth, buf, sizeof buf, MSG_DONTWAIT), -1); /* not accepted yet: no answer, not closed */
    close(fds[0]);
    ssize_t got = read(ninth, buf, sizeof buf); /* a slot frees: accepted and answered */
    CHECK_MSG(got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0, "the ninth client read %zd bytes: %.*s", got,
              got > 0 ? (int)got : 0, buf);
    close(ninth);
    for (int i = 1; i < n; i++) close(fds[i]);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    snprintf(g_models, sizeof g_models, "%s/models", fw_test_tmpdir());
    mkdir(g_models, 0755);
    TEST_RUN(test_burst_spread);
    TEST_RUN(test_limit_waits);
    return fw_test_report(argv[0]);
}
