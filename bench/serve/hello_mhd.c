/* hello_mhd.c — bench-only: the fastest libmicrohttpd hello world (epoll + internal thread pool),
 * used by bench/serve/choose_http.sh to compare the HTTP library against nginx before choosing it. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char body[256];
static size_t body_len;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **ptr) {
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (*ptr == NULL) { *ptr = (void *)1; return MHD_YES; }
    *upload_size = 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 18081;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    body_len = argc > 3 ? (size_t)atoi(argv[3]) : 120;
    if (body_len >= sizeof body) body_len = sizeof body - 1;
    memset(body, 'x', body_len);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, NULL,
                                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                                            MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_END);
    if (!d) { fprintf(stderr, "start failed\n"); return 1; }
    pause();
    return 0;
}
