/* acceptor.h — owns the listening socket of `serving.listeners: shared` when several worker
 * threads serve it: one thread accepts and hands each connection to libmicrohttpd's pool
 * (MHD_add_connection), which gives it to the worker the socket's number points at (fd modulo the
 * pool, the next one when that one is full) — consecutive connections alternate between workers.
 *
 * Why not the library's own accepting: with one listening socket in every worker's epoll set, the
 * worker that wakes first accepts a whole burst of new connections and then serves all of them
 * while the other worker idles. Measured (session 16, epoll fdinfo of a server under wrk -c64):
 * connections per worker 48/20, 4/64, 46/22, 37/31, 38/30, 66/2 in six runs (one worker can use
 * one core). Balanced, the runs' throughput still varies (56-83k req/s with the log on, quiet
 * machine, session 16): the spread was one cause of the slow runs, not the only one. SO_REUSEPORT listeners
 * (`per_thread`) spread by address hash: 30/38, 43/25, 38/30, 43/25 — better, still uneven.
 *
 * The limit keeps libmicrohttpd's behaviour at serving.conn_limit: past it nothing is accepted, so
 * new clients wait in the kernel's backlog (and the poll thread's pressure guard frees slots)
 * instead of being accepted and closed by a full daemon. The count is the daemon's own (a closed
 * connection counts until its worker cleans it up, as MHD_add_connection sees it) plus the
 * connections added and not registered yet; a burst of accepts takes at most the slots free.
 *
 * Example:
 *   fw_acceptor *a; int port;
 *   fw_acceptor_open(&addr, &a, &port, &err);              // bound and listening
 *   fw_acceptor_start(a, daemon, conn_limit, open_count, server, &err);
 *   ...
 *   fw_acceptor_stop(a);                                    // joins, closes the socket, frees */
#ifndef FW_SERVE_ACCEPTOR_H
#define FW_SERVE_ACCEPTOR_H

#include "flywheel.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>

typedef struct fw_acceptor fw_acceptor;

/* Binds addr (SO_REUSEADDR; port 0: the kernel picks, *port tells which) and listens with a backlog
 * of 1024. FW_EIO naming the address on failure. */
fw_status fw_acceptor_open(const struct sockaddr_in *addr, fw_acceptor **out, int *port, fw_err *err);

/* Starts the accepting thread ("fw-accept"): connections go to d (a daemon started with
 * MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC, its connection limit `limit`); none is accepted while
 * the daemon holds limit connections, counting those added and not yet registered: registered(ud)
 * is how many connections the daemon has started so far (its MHD_CONNECTION_NOTIFY_STARTED calls). */
fw_status fw_acceptor_start(fw_acceptor *a, struct MHD_Daemon *d, size_t limit,
                            unsigned long long (*registered)(void *ud), void *ud, fw_err *err);

/* Stops accepting (within 100 ms), joins the thread, closes the socket, frees a. NULL: no-op. */
void fw_acceptor_stop(fw_acceptor *a);

/* Connections handed to the daemon so far. */
unsigned long long fw_acceptor_accepted(const fw_acceptor *a);

#endif
