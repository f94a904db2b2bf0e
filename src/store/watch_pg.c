/* watch_pg.c — owns the PostgreSQL back end's watcher of alias moves (store.h fw_store_watch_*): a
 * connection of its own that LISTENs on FW_PG_ALIAS_CHANNEL (store_pg.c NOTIFYs it in the
 * transaction of every alias set or removal, so a notification arrives only once the move is
 * committed and visible), waited on with poll(2) on the connection's socket. */
#include "core/alloc.h"
#include "store/pg.h"
#include "store/pg_int.h"
#include "store/store_backend.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

typedef struct pg_watch {
    fw_store_watch base;
    PGconn *c;
} pg_watch;

/* Consumes every notification received: how many. */
static int drain(PGconn *c) {
    int n = 0;
    PGnotify *note;
    while ((note = fw_pq.notifies(c)) != NULL) {
        n++;
        fw_pq.freemem(note);
    }
    return n;
}

static int pw_wait(fw_store_watch *b, int timeout_ms) {
    pg_watch *w = (pg_watch *)b;
    if (fw_pq.status(w->c) != CONNECTION_OK) return FW_EBUSY;
    if (!fw_pq.consumeInput(w->c)) return FW_EBUSY;
    if (drain(w->c)) return 1;
    struct pollfd p = {fw_pq.socket(w->c), POLLIN, 0};
    if (p.fd < 0) return FW_EBUSY;
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : FW_EIO;
    if (r == 0) return 0;
    if (!fw_pq.consumeInput(w->c)) return FW_EBUSY; /* the server went away */
    return drain(w->c) ? 1 : 0;
}

static void pw_close(fw_store_watch *b) {
    pg_watch *w = (pg_watch *)b;
    if (!w) return;
    if (w->c) fw_pq.finish(w->c);
    fw_free(w);
}

fw_status fw__pg_watch_open(const char *home, fw_store_watch **out, fw_err *err) {
    *out = NULL;
    pg_watch *w = fw_calloc(1, sizeof *w);
    if (!w) return fw_err_set(err, FW_ENOMEM, "out of memory");
    w->base.wait = pw_wait;
    w->base.close = pw_close;
    char where[1024];
    fw_pq_redact(home, where, sizeof where);
    fw_status st = fw_pq_connect(home, &w->c, err);
    if (!st) st = fw_pq_cmd(w->c, "LISTEN " FW_PG_ALIAS_CHANNEL, NULL, where, "listening for alias moves", NULL, err);
    if (st) {
        pw_close(&w->base);
        return st;
    }
    *out = &w->base;
    return FW_OK;
}
