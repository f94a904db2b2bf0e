/* curl.c — owns loading libcurl at run time (see curl.h): core/dynlib.h's table load, one
 * curl_global_init. */
#include "serve/curl.h"

#include "core/dynlib.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FW_CURL_SONAME "libcurl-gnutls.so.4"

fw_curl_api fw_curl;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_error[512]; /* empty when loaded */

static const fw_dynsym g_syms[] = {
    FW_DYNSYM(fw_curl_api, global_init, "curl_global_init"),
    FW_DYNSYM(fw_curl_api, easy_init, "curl_easy_init"),
    FW_DYNSYM(fw_curl_api, easy_setopt, "curl_easy_setopt"),
    FW_DYNSYM(fw_curl_api, easy_perform, "curl_easy_perform"),
    FW_DYNSYM(fw_curl_api, easy_getinfo, "curl_easy_getinfo"),
    FW_DYNSYM(fw_curl_api, easy_cleanup, "curl_easy_cleanup"),
    FW_DYNSYM(fw_curl_api, easy_strerror, "curl_easy_strerror"),
    FW_DYNSYM(fw_curl_api, slist_append, "curl_slist_append"),
    FW_DYNSYM(fw_curl_api, slist_free_all, "curl_slist_free_all"),
};

static void load(void) {
    fw_curl_api a;
    memset(&a, 0, sizeof a);
    void *h;
    if (fw_dynlib_load(FW_CURL_SONAME, g_syms, sizeof g_syms / sizeof *g_syms, &a, &h, g_error, sizeof g_error)) return;
    if (a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(g_error, sizeof g_error, "curl_global_init failed");
        fw_dynlib_close(h);
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
