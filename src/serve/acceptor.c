/* acceptor.c — owns the shared listening socket's accepting thread (acceptor.h): accept, then
 * MHD_add_connection, within the connection limit. */
#include "serve/acceptor.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/mhd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    BACKLOG = 1024,
    BURST = 64,      /* accepts between two looks at the open count */
    POLL_MS = 100,   /* how soon a stop is seen */
    SETTLE_MS = 200, /* an added connection not registered after this was dropped by the daemon */
};

struct fw_acceptor {
    int fd;
    struct MHD_Daemon *d;
    size_t limit;
    unsigned long long (*registered)(void *ud);
    void *ud;
    unsigned long long added, dropped; /* the accepting thread's own */
    uint64_t last_add_ns;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    _Atomic unsigned long long accepted;
};

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

fw_status fw_acceptor_open(const struct sockaddr_in *addr, fw_acceptor **out, int *port, fw_err *err) {
    *out = NULL;
    char host[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr->sin_addr, host, sizeof host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, BACKLOG) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return fw_err_set(err, FW_EIO, "cannot listen on %s:%d: %s", host, ntohs(addr->sin_port), strerror(e));
    }
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        int e = errno;
        close(fd);
        return fw_err_set(err, FW_EIO, "cannot listen on %s:%d: %s", host, ntohs(addr->sin_port), strerror(e));
    }
    fw_acceptor *a = fw_calloc(1, sizeof *a);
    if (!a) {
        close(fd);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    a->fd = fd;
    *port = ntohs(bound.sin_port);
    *out = a;
    return FW_OK;
}

/* The connections the daemon holds (its own count, which keeps a closed connection until its worker
 * has cleaned it up: what MHD_add_connection checks) plus those added but not registered yet (a
 * worker takes an added connection in at its next wake-up). An added connection the daemon dropped
 * before registering it (out of memory, a TLS session it could not set up) stops counting after
 * SETTLE_MS. */
static size_t in_use(fw_acceptor *a) {
    const union MHD_DaemonInfo *i = fw_mhd.get_daemon_info(a->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    size_t held = i ? i->num_connections : 0;
    unsigned long long seen = a->registered(a->ud) + a->dropped;
    unsigned long long pending = a->added > seen ? a->added - seen : 0;
    if (pending && fw_now_ns() - a->last_add_ns > (uint64_t)SETTLE_MS * 1000000u) {
        a->dropped += pending;
        pending = 0;
    }
    return held + (size_t)pending;
}

static void *accept_main(void *arg) {
    fw_acceptor *a = arg;
    pthread_setname_np(pthread_self(), "fw-accept");
    struct pollfd p = {.fd = a->fd, .events = POLLIN};
    while (!atomic_load_explicit(&a->stop, memory_order_relaxed)) {
        size_t open = in_use(a);
        if (open >= a->limit) { /* at the limit: new clients wait in the backlog */
            nap_ms(1);
            continue;
        }
        if (poll(&p, 1, POLL_MS) <= 0) continue;
        size_t budget = a->limit - open < BURST ? a->limit - open : BURST, n = 0;
        while (n < budget) {
            struct sockaddr_storage from;
            socklen_t len = sizeof from;
            int c = accept4(a->fd, (struct sockaddr *)&from, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                /* EAGAIN: the backlog is empty; EMFILE, ENFILE, ENOBUFS, ENOMEM: out of descriptors
                 * or memory — the client waits in the backlog, tried again shortly */
                if (errno != EAGAIN && errno != EWOULDBLOCK) nap_ms(10);
                break;
            }
            n++;
            /* the daemon takes the socket: on refusal it has closed it */
            if (fw_mhd.add_connection(a->d, c, (const struct sockaddr *)&from, len) == MHD_YES) {
                a->added++;
                a->last_add_ns = fw_now_ns();
                atomic_fetch_add_explicit(&a->accepted, 1, memory_order_relaxed);
            }
        }
        if (n == budget && n < BURST) nap_ms(1); /* the slots taken: let the workers register them first */
    }
    return NULL;
}

fw_status fw_acceptor_start(fw_acceptor *a, struct MHD_Daemon *d, size_t limit,
                            unsigned long long (*registered)(void *ud), void *ud, fw_err *err) {
    a->d = d;
    a->limit = limit ? limit : 1;
    a->registered = registered;
    a->ud = ud;
    int e = pthread_create(&a->thread, NULL, accept_main, a);
    if (e) return fw_err_set(err, FW_EIO, "cannot start the accepting thread: %s", strerror(e));
    a->started = true;
    return FW_OK;
}

void fw_acceptor_stop(fw_acceptor *a) {
    if (!a) return;
    atomic_store(&a->stop, true);
    if (a->started) pthread_join(a->thread, NULL);
    close(a->fd);
    fw_free(a);
}

unsigned long long fw_acceptor_accepted(const fw_acceptor *a) {
    return a ? atomic_load_explicit(&a->accepted, memory_order_relaxed) : 0;
}
