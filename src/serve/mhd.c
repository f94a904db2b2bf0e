/* mhd.c — owns loading libmicrohttpd at run time (see mhd.h): dlopen once, dlsym per function. */
#include "serve/mhd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FW_MHD_SONAME "libmicrohttpd.so.12"

fw_mhd_api fw_mhd;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_error[512]; /* empty when loaded */

static void load(void) {
    void *h = dlopen(FW_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_error, sizeof g_error, "%s", dlerror());
        return;
    }
    fw_mhd_api a;
    const char *missing = NULL;
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer */
#define SYM(field, name)                                                                   \
    do {                                                                                   \
        void *p = dlsym(h, name);                                                          \
        if (!p && !missing) missing = name;                                                \
        memcpy(&a.field, &p, sizeof p);                                                    \
    } while (0)
    SYM(start_daemon, "MHD_start_daemon");
    SYM(stop_daemon, "MHD_stop_daemon");
    SYM(quiesce_daemon, "MHD_quiesce_daemon");
    SYM(get_daemon_info, "MHD_get_daemon_info");
    SYM(lookup_connection_value, "MHD_lookup_connection_value");
    SYM(get_connection_info, "MHD_get_connection_info");
    SYM(suspend_connection, "MHD_suspend_connection");
    SYM(resume_connection, "MHD_resume_connection");
    SYM(create_response_from_buffer_with_free_callback, "MHD_create_response_from_buffer_with_free_callback");
    SYM(add_response_header, "MHD_add_response_header");
    SYM(queue_response, "MHD_queue_response");
    SYM(destroy_response, "MHD_destroy_response");
#undef SYM
    if (missing) {
        snprintf(g_error, sizeof g_error, "%s has no %s (an older libmicrohttpd?)", FW_MHD_SONAME, missing);
        dlclose(h);
        return;
    }
    fw_mhd = a; /* the handle stays open for the life of the process */
}

fw_status fw_mhd_load(fw_err *err) {
    pthread_once(&g_once, load);
    if (!g_error[0]) return FW_OK;
    return fw_err_set(err, FW_EIO, "cannot load the HTTP library %s: %s (Debian: apt-get install libmicrohttpd12)",
                      FW_MHD_SONAME, g_error);
}
