/* mhd.c — owns loading libmicrohttpd at run time (see mhd.h): core/dynlib.h's table load. */
#include "serve/mhd.h"

#include "core/dynlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FW_MHD_SONAME "libmicrohttpd.so.12"

fw_mhd_api fw_mhd;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_error[512]; /* empty when loaded */

static const fw_dynsym g_syms[] = {
    FW_DYNSYM(fw_mhd_api, start_daemon, "MHD_start_daemon"),
    FW_DYNSYM(fw_mhd_api, stop_daemon, "MHD_stop_daemon"),
    FW_DYNSYM(fw_mhd_api, get_daemon_info, "MHD_get_daemon_info"),
    FW_DYNSYM(fw_mhd_api, lookup_connection_value, "MHD_lookup_connection_value"),
    FW_DYNSYM(fw_mhd_api, get_connection_values_n, "MHD_get_connection_values_n"),
    FW_DYNSYM(fw_mhd_api, get_connection_info, "MHD_get_connection_info"),
    FW_DYNSYM(fw_mhd_api, suspend_connection, "MHD_suspend_connection"),
    FW_DYNSYM(fw_mhd_api, resume_connection, "MHD_resume_connection"),
    FW_DYNSYM(fw_mhd_api, create_response_from_buffer_with_free_callback,
              "MHD_create_response_from_buffer_with_free_callback"),
    FW_DYNSYM(fw_mhd_api, create_response_from_buffer_with_free_callback_cls,
              "MHD_create_response_from_buffer_with_free_callback_cls"),
    FW_DYNSYM(fw_mhd_api, create_response_from_buffer, "MHD_create_response_from_buffer"),
    FW_DYNSYM(fw_mhd_api, add_response_header, "MHD_add_response_header"),
    FW_DYNSYM(fw_mhd_api, queue_response, "MHD_queue_response"),
    FW_DYNSYM(fw_mhd_api, destroy_response, "MHD_destroy_response"),
};

static void load(void) {
    fw_mhd_api a;
    memset(&a, 0, sizeof a);
    void *h; /* stays open for the life of the process */
    if (fw_dynlib_load(FW_MHD_SONAME, g_syms, sizeof g_syms / sizeof *g_syms, &a, &h, g_error, sizeof g_error)) return;
    fw_mhd = a;
}

fw_status fw_mhd_load(fw_err *err) {
    pthread_once(&g_once, load);
    if (!g_error[0]) return FW_OK;
    return fw_err_set(err, FW_EIO, "cannot load the HTTP library %s: %s (an older libmicrohttpd? Debian: apt-get install libmicrohttpd12)",
                      FW_MHD_SONAME, g_error);
}

/* ---- libmicrohttpd's own error replies as JSON (see mhd.h) ------------------------------------ */

_Atomic unsigned long fw_mhd_json_errors;

/* The JSON error code of one of libmicrohttpd's built-in messages, from its HTML title and text. */
static const char *error_code_of(const char *html) {
    static const struct {
        const char *needle, *code;
    } map[] = {
        {"HTTP version", "http_version_not_supported"},
        {"chunk size", "chunk_too_large"},
        {"chunked encoding", "bad_chunked_encoding"},
        {"content too large", "payload_too_large"},
        {"too big", "headers_too_large"},
        {"Host", "missing_host"},
        {"wrong value", "bad_header_value"},
        {"Transfer-Encoding", "bad_transfer_encoding"},
        {"malformed", "bad_request"},
        {"syntactically", "bad_request"},
        {"Internal", "internal_error"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strstr(html, map[i].needle)) return map[i].code;
    return "bad_request";
}

/* libmicrohttpd's error path: builds {"error":{"code","message"}} from the HTML message (the text
 * of its <body>, tags dropped) instead of the HTML itself. Called only by the library. */
/* (default visibility: the library is built with -fvisibility=hidden and the binary exports this one) */
__attribute__((visibility("default")))
struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode) {
    pthread_once(&g_once, load);
    if (g_error[0] || !fw_mhd.create_response_from_buffer) return NULL;
    char text[600], json[900];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, buffer, n);
    text[n] = 0;
    const char *body = strstr(text, "<body>");
    body = body ? body + 6 : text;
    char msg[600];
    size_t m = 0;
    bool in_tag = false;
    for (const char *p = body; *p && m < sizeof msg - 1; p++) {
        if (*p == '<') in_tag = true;
        else if (*p == '>') in_tag = false;
        else if (!in_tag && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
            msg[m++] = *p;
    }
    msg[m] = 0;
    int len = snprintf(json, sizeof json, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                       error_code_of(text), msg);
    (void)mode; /* the JSON is copied: the caller's buffer is not kept */
    struct MHD_Response *r =
        fw_mhd.create_response_from_buffer((size_t)len, json, MHD_RESPMEM_MUST_COPY);
    if (r) {
        fw_mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        atomic_fetch_add(&fw_mhd_json_errors, 1);
    }
    return r;
}
