/* client.h — a tiny blocking HTTP/1.1 client over plain sockets for the server's black-box tests
 * (keep-alive, Content-Length bodies), and helpers to start/stop `flywheel serve` on a free port.
 * Header-only (static functions): each test program includes it once. */
#ifndef FW_TEST_SERVE_CLIENT_H
#define FW_TEST_SERVE_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct hc_resp {
    int status;
    char *body;     /* NUL-terminated, malloc'd (free with hc_resp_free) */
    size_t len;
    char headers[2048];
} hc_resp;

static void hc_resp_free(hc_resp *r) {
    free(r->body);
    r->body = NULL;
}

static int hc_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int hc_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue; /* a signal (SIGCHLD of a test's child), not the server */
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one request on fd and reads the response. Returns 0 or -1 (connection error). */
static int hc_request_fd(int fd, const char *method, const char *path, const char *body, const char *extra,
                         hc_resp *r) {
    memset(r, 0, sizeof *r);
    size_t bl = body ? strlen(body) : 0;
    char head[1024];
    int hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sContent-Length: %zu\r\n\r\n",
                      method, path, extra ? extra : "", body ? "Content-Type: application/json\r\n" : "", bl);
    if (hc_write_all(fd, head, (size_t)hl) || (bl && hc_write_all(fd, body, bl))) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    char *hend = NULL;
    while (!hend) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            free(buf);
            return -1;
        }
        len += (size_t)n;
        buf[len] = 0;
        hend = strstr(buf, "\r\n\r\n");
    }
    size_t hsize = (size_t)(hend - buf) + 4;
    snprintf(r->headers, sizeof r->headers, "%.*s", (int)hsize, buf);
    if (sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    const char *cl = strcasestr(r->headers, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    while (len - hsize < want) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            free(buf);
            return -1;
        }
        len += (size_t)n;
    }
    r->len = want;
    r->body = malloc(want + 1);
    memcpy(r->body, buf + hsize, want);
    r->body[want] = 0;
    free(buf);
    return 0;
}

/* One request on a fresh connection. */
static int hc_request(int port, const char *method, const char *path, const char *body, const char *extra,
                      hc_resp *r) {
    int fd = hc_connect(port);
    if (fd < 0) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    int rc = hc_request_fd(fd, method, path, body, extra, r);
    close(fd);
    return rc;
}

/* One Prometheus sample of GET /metrics by its full key (name and labels), -1 when absent. */
static inline double hc_metric(int port, const char *key) {
    hc_resp r;
    double v = -1;
    if (hc_request(port, "GET", "/metrics", NULL, NULL, &r) == 0 && r.status == 200 && r.body) {
        char k[256];
        snprintf(k, sizeof k, "\n%s ", key);
        const char *at = strstr(r.body, k);
        if (at) v = atof(at + strlen(k));
    }
    hc_resp_free(&r);
    return v;
}

/* One request on a fresh connection, checked: the status is `status` and, when want is non-NULL,
 * the body contains it. Returns 1, or 0 with the reason in why (for HC_EXPECT). */
__attribute__((unused)) static int hc_expect_(int port, const char *method, const char *path, const char *body, const char *extra,
                      int status, const char *want, char *why, size_t cap) {
    hc_resp r;
    int ok = 0;
    if (hc_request(port, method, path, body, extra, &r) != 0)
        snprintf(why, cap, "%s %s: no response", method, path);
    else if (r.status != status)
        snprintf(why, cap, "%s %s: status %d, want %d: %.400s", method, path, r.status, status, r.body ? r.body : "");
    else if (want && (!r.body || !strstr(r.body, want)))
        snprintf(why, cap, "%s %s: body lacks \"%s\": %.400s", method, path, want, r.body ? r.body : "");
    else
        ok = 1;
    hc_resp_free(&r);
    return ok;
}

/* HC_EXPECT(port, method, path, body, extra_headers, status, want_or_NULL): hc_expect_ with the
 * failure reported at the caller's line through fw_test_fail (include test.h first). */
#define HC_EXPECT(port, method, path, body, extra, status, want) \
    do { \
        char why_[1024]; \
        if (!hc_expect_(port, method, path, body, extra, status, want, why_, sizeof why_)) \
            fw_test_fail(__FILE__, __LINE__, "%s", why_); \
    } while (0)

/* A running server: pid and port. */
typedef struct hc_server {
    pid_t pid;
    int port;
} hc_server;

/* Starts `bin serve --port 0 args...` (bin NULL: $FLYWHEEL_BIN, the shipped binary under test) and
 * reads the bound port from its stdout: 0, or -1 when no "listening on" line came within 30 s (a
 * child still silent then is killed and reaped; one that exited is left for the caller's waitpid). 30 s: a server
 * recovering a spool after kill -9 on a machine at load 13 took more than the 10 s this waited
 * before (serve/test_durability test_kill9_loop, session 14). args is NULL-terminated. */
static int hc_server_start_bin(hc_server *s, const char *bin, const char *const *args) {
    if (!bin) bin = getenv("FLYWHEEL_BIN");
    if (!bin) bin = "build/flywheel";
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        const char *argv[64] = {bin, "serve", "--port", "0"};
        int n = 4;
        for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    s->pid = pid;
    s->port = 0;
    char line[256];
    size_t len = 0;
    struct pollfd p = {pfd[0], POLLIN, 0};
    int ready = 0;
    while (len < sizeof line - 1 && (ready = poll(&p, 1, 30000)) > 0) {
        ssize_t n = read(pfd[0], line + len, 1);
        if (n <= 0) break;
        if (line[len] == '\n') break;
        len++;
    }
    line[len] = 0;
    close(pfd[0]);
    const char *colon = strrchr(line, ':');
    if (strstr(line, "listening on") && colon) s->port = atoi(colon + 1);
    if (s->port > 0) return 0;
    if (ready == 0) { /* still silent after 30 s: killed (a server that exited is left to the caller's waitpid) */
        fprintf(stderr, "hc_server_start: %s serve printed no \"listening on\" line in 30 s: killed\n", bin);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        s->pid = 0;
    }
    return -1;
}

static int hc_server_start(hc_server *s, const char *const *args) { return hc_server_start_bin(s, NULL, args); }

/* The test build of the binary (test hooks compiled in: core/test_hooks.h): $FLYWHEEL_TEST_BIN,
 * set by tests/run.sh, else build/flywheel-test. */
__attribute__((unused)) static const char *hc_test_bin(void) {
    const char *b = getenv("FLYWHEEL_TEST_BIN");
    return b && *b ? b : "build/flywheel-test";
}

/* Sends sig and waits for exit; returns the exit status (or 128+signal, or -1 on timeout). */
static int hc_server_stop(hc_server *s, int sig) {
    if (s->pid <= 0) return -1; /* never started, or killed by hc_server_start_bin (kill(0) would hit us) */
    kill(s->pid, sig);
    for (int i = 0; i < 3000; i++) {
        int st;
        pid_t w = waitpid(s->pid, &st, WNOHANG);
        if (w == s->pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    return -1;
}

#endif
