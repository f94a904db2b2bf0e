/* mhd.h — owns libmicrohttpd as the server sees it: the library is loaded when a server starts
 * (dlopen of libmicrohttpd.so.12, the soname of the Debian 12 package whose header this is built
 * against), not when the flywheel binary does. Linked normally, libmicrohttpd and the nine
 * libraries it needs (gnutls, nettle, gmp, ...) were loaded by every command: 5.4 ms of a 9.7 ms
 * `flywheel --version`, paid by every `flywheel models ...` and every registration.
 *
 * The server calls the library only through fw_mhd, after fw_mhd_load has succeeded; the types,
 * constants and macros come from <microhttpd.h> as usual. */
#ifndef FW_SERVE_MHD_H
#define FW_SERVE_MHD_H

#include "flywheel.h"

#include <microhttpd.h>

typedef struct fw_mhd_api {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_values_n) *get_connection_values_n;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_create_response_from_buffer_with_free_callback) *create_response_from_buffer_with_free_callback;
    __typeof__(MHD_create_response_from_buffer_with_free_callback_cls) *create_response_from_buffer_with_free_callback_cls;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} fw_mhd_api;

/* Filled by fw_mhd_load; never changes afterwards. */
extern fw_mhd_api fw_mhd;

/* Loads the library and resolves every function above, once per process (thread-safe; later calls
 * return the first outcome). FW_EIO naming the library and dlerror's text when it cannot. */
fw_status fw_mhd_load(fw_err *err);

/* Protocol errors libmicrohttpd detects itself (a malformed request line or header, an unsupported
 * HTTP version, a bad chunk, headers or URI over the connection's memory) are answered by the
 * library with built-in HTML bodies; 0.9.75 has no option to change them. The library builds each
 * of those replies with MHD_create_response_from_buffer, called through its PLT, and flywheel never
 * calls that function itself: mhd.c defines it, the flywheel binary exports it
 * (-Wl,--export-dynamic-symbol), so the dlopen'ed library binds to it and every such reply carries
 * the documented JSON error body {"error":{"code":...,"message":...}} with Content-Type
 * application/json. A program that does not export it keeps libmicrohttpd's HTML.
 * fw_mhd_json_errors counts the replies rewritten (tests read it through /metrics). */
extern _Atomic unsigned long fw_mhd_json_errors;

#endif
