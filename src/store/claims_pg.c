/* claims_pg.c — owns batch partition claims on PostgreSQL (store.h fw_store_claims_*): table
 * batch_partitions, one row per partition of a job, made on first use; a worker claims the first
 * row not done with SELECT ... FOR UPDATE SKIP LOCKED in a transaction it keeps open on a
 * connection of its own while it scores, and marks it done in that transaction. A worker that
 * dies ends its transaction with its connection: the row is free for the next claimer at once. */
#include "core/alloc.h"
#include "store/pg.h"
#include "store/pg_int.h"
#include "store/store_backend.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* pg_advisory_xact_lock key (bigint) of making the table and a job's rows: "FWBP" */
#define FW_PG_LOCK_PARTITIONS "1180123728"

typedef struct pg_claims {
    fw_store_claims base;
    PGconn *c;
    char *job;
    uint32_t count;
    bool in_tx;       /* a claim's transaction is open */
    uint32_t held;
    char worker[128]; /* host:pid, recorded with the done row */
    char where[1024];
} pg_claims;

/* A failure of the connection or a statement: FW_ESTORE (never FW_EBUSY, which next() keeps for
 * "the other workers hold the rest"). */
static fw_status failed(fw_status st) { return st == FW_EBUSY ? FW_ESTORE : st; }

static void rollback(pg_claims *c) {
    if (!c->in_tx) return;
    fw_err e;
    fw_err_clear(&e);
    (void)fw_pq_cmd(c->c, "ROLLBACK", NULL, c->where, "giving a partition back", NULL, &e);
    c->in_tx = false;
}

static fw_status pc_next(fw_store_claims *b, uint32_t *index, fw_err *err) {
    pg_claims *c = (pg_claims *)b;
    rollback(c);
    fw_status st = fw_pq_cmd(c->c, "BEGIN", NULL, c->where, "claiming a partition", NULL, err);
    if (st) return failed(st);
    c->in_tx = true;
    fw_pq_params p = {0};
    fw_pq_text(&p, c->job);
    PGresult *r = fw_pq_query(c->c,
                              "SELECT idx FROM batch_partitions WHERE job = $1 AND NOT done ORDER BY idx "
                              "LIMIT 1 FOR UPDATE SKIP LOCKED",
                              &p, false, c->where, "claiming a partition", err);
    if (!r) { /* err says why */
        rollback(c);
        return FW_ESTORE;
    }
    bool got = fw_pq.ntuples(r) == 1;
    int64_t idx = got ? fw_pq_i64(r, 0, 0) : -1;
    fw_pq.clear(r);
    if (got) {
        c->held = (uint32_t)idx;
        *index = (uint32_t)idx;
        return FW_OK; /* the transaction stays open: the row stays ours */
    }
    rollback(c);
    r = fw_pq_query(c->c, "SELECT count(*) FROM batch_partitions WHERE job = $1 AND NOT done", &p, false, c->where,
                    "counting the partitions left", err);
    if (!r) return FW_ESTORE;
    int64_t left = fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    return left > 0 ? FW_EBUSY : FW_ENOTFOUND;
}

static fw_status pc_done(fw_store_claims *b, uint32_t index, fw_err *err) {
    pg_claims *c = (pg_claims *)b;
    if (!c->in_tx || c->held != index)
        return fw_err_set(err, FW_EINVAL, "%s: partition %u is not claimed by this worker", c->where, index);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fw_pq_params p = {0};
    fw_pq_text(&p, c->job);
    fw_pq_int(&p, index);
    fw_pq_text(&p, c->worker);
    fw_pq_int(&p, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int64_t n = 0;
    fw_status st = fw_pq_cmd(c->c, "UPDATE batch_partitions SET done = true, worker = $3, done_ms = $4 "
                                   "WHERE job = $1 AND idx = $2",
                             &p, c->where, "marking a partition done", &n, err);
    if (!st) st = fw_pq_cmd(c->c, "COMMIT", NULL, c->where, "marking a partition done", NULL, err);
    if (st) {
        rollback(c);
        return failed(st);
    }
    c->in_tx = false;
    return n == 1 ? FW_OK : fw_err_set(err, FW_ESTORE, "%s: partition %u of job %s has no row", c->where, index, c->job);
}

static void pc_release(fw_store_claims *b, uint32_t index) {
    pg_claims *c = (pg_claims *)b;
    if (c->in_tx && c->held == index) rollback(c);
}

static void pc_close(fw_store_claims *b) {
    pg_claims *c = (pg_claims *)b;
    if (!c) return;
    if (c->c) {
        rollback(c);
        fw_pq.finish(c->c);
    }
    fw_free(c->job);
    fw_free(c);
}

fw_status fw__pg_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err) {
    *out = NULL;
    pg_claims *c = fw_calloc(1, sizeof *c);
    if (!c) return fw_err_set(err, FW_ENOMEM, "out of memory");
    c->base = (fw_store_claims){pc_next, pc_done, pc_release, pc_close};
    c->count = count;
    c->job = fw_strdup(job);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(c->worker, sizeof c->worker, "%s:%ld", host, (long)getpid());
    fw_pq_redact(home, c->where, sizeof c->where);
    fw_status st = c->job ? fw_pq_connect(home, &c->c, err) : fw_err_set(err, FW_ENOMEM, "out of memory");
    /* the table (once per database) and the job's rows (once per job), under one advisory lock so
     * that workers starting together neither race on CREATE nor insert twice */
    if (!st) st = fw_pq_cmd(c->c, "BEGIN", NULL, c->where, "preparing partition claims", NULL, err);
    if (!st)
        st = fw_pq_cmd(c->c, "SELECT pg_advisory_xact_lock(" FW_PG_LOCK_PARTITIONS ")", NULL, c->where,
                       "preparing partition claims", NULL, err);
    if (!st)
        st = fw_pq_cmd(c->c,
                       "CREATE TABLE IF NOT EXISTS batch_partitions(job text NOT NULL, idx integer NOT NULL, "
                       "count integer NOT NULL, done boolean NOT NULL DEFAULT false, worker text, done_ms bigint, "
                       "PRIMARY KEY (job, idx))",
                       NULL, c->where, "preparing partition claims", NULL, err);
    if (!st) {
        fw_pq_params p = {0};
        fw_pq_text(&p, job);
        PGresult *r = fw_pq_query(c->c, "SELECT DISTINCT count FROM batch_partitions WHERE job = $1", &p, false,
                                  c->where, "preparing partition claims", err);
        if (!r) st = FW_ESTORE;
        else {
            int64_t had = fw_pq.ntuples(r) ? fw_pq_i64(r, 0, 0) : 0;
            fw_pq.clear(r);
            if (had && had != (int64_t)count)
                st = fw_err_set(err, FW_EINVAL, "%s: batch job %s was cut into %lld partitions, not %u", c->where, job,
                                (long long)had, count);
        }
    }
    if (!st) {
        fw_pq_params p = {0};
        fw_pq_text(&p, job);
        fw_pq_int(&p, count);
        st = fw_pq_cmd(c->c,
                       "INSERT INTO batch_partitions(job, idx, count) SELECT $1, g, $2 FROM "
                       "generate_series(0, $2::integer - 1) g ON CONFLICT DO NOTHING",
                       &p, c->where, "preparing partition claims", NULL, err);
    }
    if (!st) st = fw_pq_cmd(c->c, "COMMIT", NULL, c->where, "preparing partition claims", NULL, err);
    if (st) {
        pc_close(&c->base);
        return failed(st);
    }
    *out = &c->base;
    return FW_OK;
}
