/* pg_int.h — owns what the PostgreSQL back end's two files share (store_pg.c: the registry and
 * the migrations; log_pg.c: the prediction log, the learn block, retention): advisory lock keys,
 * the NOTIFY channel of alias moves, and the entry points store_pg.c lists. Only src/store/. */
#ifndef FW_STORE_PG_INT_H
#define FW_STORE_PG_INT_H

#include "store/pg.h"
#include "store/store.h"

/* pg_advisory_xact_lock keys (bigint): "FWMG" and "FWRG" in ASCII */
#define FW_PG_LOCK_MIGRATE "1180125511"
#define FW_PG_LOCK_REGISTRY "1180127815"
/* a feedback row's label rule runs under pg_advisory_xact_lock(FW_PG_LOCK_LABEL_NS, hashtext(rid)) */
#define FW_PG_LOCK_LABEL_NS "1180123724"
/* singleton.c: a singleton is the session advisory lock (FW_PG_LOCK_SINGLETON_NS, hashtext(name)) */
#define FW_PG_LOCK_SINGLETON_NS "1180128071"
/* LISTEN/NOTIFY channel an alias move is announced on (payload: the model name) */
#define FW_PG_ALIAS_CHANNEL "flywheel_alias"

/* Applies every migration above the database's schema_version (store_pg.c); *schema gets the
 * version now in force. */
fw_status fw__pg_migrate(PGconn *c, const char *where, int *schema, fw_err *err);

/* log_pg.c */
fw_status fw__pg_log_open(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err);
fw_store_log_retention *fw__pg_retention_start(const char *home, const fw_log_retention *r,
                                               _Atomic(unsigned long long) *deleted);
fw_status fw__pg_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms, fw_learn_row_fn fn,
                            void *ud, fw_err *err);
fw_status fw__pg_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                            char *holder, size_t holder_size, fw_err *err);
fw_status fw__pg_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err);
/* watch_pg.c: the watcher of alias moves (LISTEN FW_PG_ALIAS_CHANNEL) */
fw_status fw__pg_watch_open(const char *home, fw_store_watch **out, fw_err *err);
/* The connection of a PostgreSQL registry handle (for the learn block's lock). */
PGconn *fw__pg_conn(fw_store *s);
const char *fw__pg_where(fw_store *s);

#endif
