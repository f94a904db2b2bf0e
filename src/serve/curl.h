/* curl.h — owns libcurl as the alert thread sees it (serve/alerts.c: the monitoring webhook): the
 * library is loaded with dlopen when a server with a webhook starts, not when the flywheel binary
 * does — libcurl and the libraries it pulls in (GnuTLS, nghttp2, libssh2, LDAP, ...) would
 * otherwise be loaded by every command, as libmicrohttpd was (serve/mhd.h). The Debian 12 package
 * libcurl3-gnutls provides libcurl-gnutls.so.4 (the GnuTLS flavour: the TLS library libmicrohttpd
 * already uses); libcurl4-gnutls-dev provides the header.
 *
 * Only the alert thread calls these, after fw_curl_load has succeeded. */
#ifndef FW_SERVE_CURL_H
#define FW_SERVE_CURL_H

#include "flywheel.h"

#include <curl/curl.h>

typedef struct fw_curl_api {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
} fw_curl_api;

/* Filled by fw_curl_load; never changes afterwards. */
extern fw_curl_api fw_curl;

/* Loads the library, resolves every function above and runs curl_global_init, once per process
 * (thread-safe; later calls return the first outcome). FW_EIO naming the library when it cannot. */
fw_status fw_curl_load(fw_err *err);

#endif
