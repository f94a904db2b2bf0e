/* singleton.c — owns singletons across processes (store.h fw_store_singleton_*): a role that one
 * process at a time holds among all those sharing a store, such as the retrain scheduler of
 * `flywheel serve` replicas. PostgreSQL home: a session advisory lock (pg_try_advisory_lock on
 * FW_PG_LOCK_SINGLETON_NS and hashtext(name)) on a connection of the singleton's own, which the
 * server releases when that session ends — a holder killed with kill -9 included (its socket is
 * closed by the kernel, its backend exits). Directory home (SQLite, one machine): flock(2) on
 * <home>/singleton-<name>.lock, which the kernel releases when the holder dies. */
#include "core/alloc.h"
#include "store/pg.h"
#include "store/pg_int.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct fw_store_singleton {
    char *home;
    char *name;
    bool pg;
    PGconn *c;        /* PostgreSQL: the session that holds the lock (NULL: not connected) */
    int fd;           /* directory: the lock file (-1: not open) */
    bool held;
    char where[1024]; /* the home without its password, for messages */
};

static bool name_ok(const char *name) {
    size_t n = strlen(name);
    if (!n || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
              name[i] == '-'))
            return false;
    return true;
}

fw_status fw_store_singleton_open(const char *home, const char *name, fw_store_singleton **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    if (!name_ok(name))
        return fw_err_set(err, FW_EINVAL, "singleton name '%s': want 1-64 of [a-z0-9_-]", name);
    fw_store_singleton *s = fw_calloc(1, sizeof *s);
    if (!s || !(s->home = fw_strdup(home)) || !(s->name = fw_strdup(name))) {
        fw_store_singleton_close(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    s->fd = -1;
    s->pg = fw_pq_claims(home);
    if (s->pg) fw_pq_redact(home, s->where, sizeof s->where);
    else snprintf(s->where, sizeof s->where, "%s", home);
    *out = s;
    return FW_OK;
}

static void pg_drop(fw_store_singleton *s) {
    if (s->c) fw_pq.finish(s->c); /* ends the session: PostgreSQL releases its advisory locks */
    s->c = NULL;
    s->held = false;
}

static int pg_try(fw_store_singleton *s, fw_err *err) {
    if (s->c && fw_pq.status(s->c) != CONNECTION_OK) pg_drop(s);
    if (s->held) {
        /* held while the session lives: one round trip proves it does */
        fw_status st = fw_pq_cmd(s->c, "SELECT 1", NULL, s->where, "checking a singleton's session", NULL, err);
        if (st == FW_OK) return 1;
        pg_drop(s); /* the session is gone, and the lock with it */
        return st;
    }
    if (!s->c) {
        fw_status st = fw_pq_connect(s->home, &s->c, err);
        if (st) return st;
    }
    fw_pq_params p = {0};
    fw_pq_text(&p, s->name);
    PGresult *r = fw_pq_query(s->c, "SELECT pg_try_advisory_lock(" FW_PG_LOCK_SINGLETON_NS ", hashtext($1))", &p,
                              false, s->where, "taking a singleton", err);
    if (!r) {
        fw_status st = err->status;
        pg_drop(s);
        return st;
    }
    s->held = fw_pq.ntuples(r) == 1 && !strcmp(fw_pq.getvalue(r, 0, 0), "t");
    fw_pq.clear(r);
    return s->held;
}

static int file_try(fw_store_singleton *s, fw_err *err) {
    if (s->held) return 1; /* an flock lasts as long as the descriptor */
    if (s->fd < 0) {
        mkdir(s->home, 0755); /* a home not made yet (the store makes it the same way) */
        char path[4200];
        snprintf(path, sizeof path, "%s/singleton-%s.lock", s->home, s->name);
        s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s->fd < 0) return fw_err_set(err, FW_EIO, "cannot open '%s': %s", path, strerror(errno));
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) == 0) return s->held = true;
    if (errno == EWOULDBLOCK || errno == EINTR) return 0;
    return fw_err_set(err, FW_EIO, "cannot lock %s/singleton-%s.lock: %s", s->home, s->name, strerror(errno));
}

int fw_store_singleton_try(fw_store_singleton *s, fw_err *err) { return s->pg ? pg_try(s, err) : file_try(s, err); }

bool fw_store_singleton_held(const fw_store_singleton *s) { return s && s->held; }

void fw_store_singleton_close(fw_store_singleton *s) {
    if (!s) return;
    pg_drop(s);
    if (s->fd >= 0) close(s->fd); /* releases the flock */
    fw_free(s->home);
    fw_free(s->name);
    fw_free(s);
}
