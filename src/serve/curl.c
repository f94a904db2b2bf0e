/* curl.c — owns loading libcurl at run time (see curl.h): dlopen once, dlsym per function, one
 * curl_global_init. */
#include "serve/curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FW_CURL_SONAME "libcurl-gnutls.so.4"

fw_curl_api fw_curl;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_error[512]; /* empty when loaded */

static void load(void) {
    void *h = dlopen(FW_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_error, sizeof g_error, "%s", dlerror());
        return;
    }
    fw_curl_api a;
    const char *missing = NULL;
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer */
#define SYM(field, name)                                                                   \
    do {                                                                                   \
        void *p = dlsym(h, name);                                                          \
        if (!p && !missing) missing = name;                                                \
        memcpy(&a.field, &p, sizeof p);                                                    \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_perform, "curl_easy_perform");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    if (missing) {
        snprintf(g_error, sizeof g_error, "%s has no %s", FW_CURL_SONAME, missing);
        dlclose(h);
        return;
    }
    if (a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(g_error, sizeof g_error, "curl_global_init failed");
        dlclose(h);
        return;
    }
    fw_curl = a; /* the handle stays open for the life of the process */
}

fw_status fw_curl_load(fw_err *err) {
    pthread_once(&g_once, load);
    if (!g_error[0]) return FW_OK;
    return fw_err_set(err, FW_EIO, "cannot load the HTTP client library %s: %s (Debian: apt-get install libcurl3-gnutls)",
                      FW_CURL_SONAME, g_error);
}
