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
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_create_response_from_buffer_with_free_callback) *create_response_from_buffer_with_free_callback;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} fw_mhd_api;

/* Filled by fw_mhd_load; never changes afterwards. */
extern fw_mhd_api fw_mhd;

/* Loads the library and resolves every function above, once per process (thread-safe; later calls
 * return the first outcome). FW_EIO naming the library and dlerror's text when it cannot. */
fw_status fw_mhd_load(fw_err *err);

#endif
