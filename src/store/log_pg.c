/* log_pg.c — owns the PostgreSQL back end of the prediction log (fw_store_log, store.h) and of the
 * store's continual-learning block: predictions go in by COPY on the log handle's own connection
 * (one COPY per batch: all rows or none; the server's log writer calls it off the request path,
 * batched), feedback under the label rule in one transaction with the rule serialized per request
 * id by an advisory lock (two replicas taking labels for one request at once cannot both make
 * theirs the first); the labelled-row scan and experiment reads stream through a cursor in one
 * REPEATABLE READ snapshot; the per-model retrain lock is a row with a time to live (learn_locks:
 * a holder that dies loses it when its time runs out, as with SQLite); retention deletes in chunks
 * on a thread with its own connection. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "store/pg.h"
#include "store/pg_int.h"
#include "store/store.h"
#include "store/store_backend.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pg_log {
    fw_store_log base;
    PGconn *c;
    char where[1024];
    fw_buf copy;               /* the COPY text of a batch, reused */
} pg_log;

static pg_log *L(fw_store_log *l) { return (pg_log *)l; }

/* ---- predictions by COPY -------------------------------------------------------------------- */
/* A text field of COPY's text format: backslash, tab, newline and carriage return escaped. */
static void copy_text(fw_buf *b, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i], e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (!e) continue;
        fw_buf_put(b, s + run, i - run);
        char esc[2] = {'\\', e};
        fw_buf_put(b, esc, 2);
        run = i + 1;
    }
    fw_buf_put(b, s + run, n - run);
}
static void copy_opt(fw_buf *b, const char *s, size_t n) {
    if (s) copy_text(b, s, n);
    else fw_buf_put(b, "\\N", 2);
}

static fw_status lg_put_predictions(fw_store_log *b, const fw_log_pred_row *rows, size_t n, fw_err *err) {
    pg_log *s = L(b);
    s->copy.len = 0;
    for (size_t i = 0; i < n; i++) {
        const fw_log_pred_row *r = &rows[i];
        fw_buf *o = &s->copy;
        copy_opt(o, r->request_id, r->request_id ? strlen(r->request_id) : 0);
        fw_buf_printf(o, "\t%" PRId64 "\t", r->ts_ms);
        copy_opt(o, r->model, r->model ? strlen(r->model) : 0);
        fw_buf_printf(o, "\t%" PRId64 "\t", r->version);
        copy_opt(o, r->input_json, r->input_len);
        fw_buf_put_u8(o, '\t');
        copy_opt(o, r->output_json, r->output_len);
        fw_buf_printf(o, "\t%" PRId64 "\t", r->latency_us);
        copy_opt(o, r->outcome, r->outcome ? strlen(r->outcome) : 0);
        fw_buf_put_u8(o, '\n');
    }
    if (!fw_buf_ok(&s->copy)) return fw_err_set(err, FW_ENOMEM, "prediction log: out of memory");
    if (fw_pq.status(s->c) == CONNECTION_BAD) fw_pq.reset(s->c);
    PGresult *r = fw_pq.exec(s->c, "COPY prediction_log(request_id, ts_ms, model_name, version, input_json,"
                                   " output_json, latency_us, outcome) FROM STDIN");
    if (!r || fw_pq.resultStatus(r) != PGRES_COPY_IN) {
        fw_status st = fw_pq_error(s->c, r, s->where, "logging predictions", err);
        if (r) fw_pq.clear(r);
        return st;
    }
    fw_pq.clear(r);
    /* in slices: PQputCopyData takes an int length */
    bool ok = true;
    for (size_t off = 0; ok && off < s->copy.len;) {
        size_t k = s->copy.len - off < ((size_t)1 << 20) ? s->copy.len - off : (size_t)1 << 20;
        ok = fw_pq.putCopyData(s->c, (const char *)s->copy.data + off, (int)k) == 1;
        off += k;
    }
    ok = fw_pq.putCopyEnd(s->c, ok ? NULL : "flywheel: sending the batch failed") == 1 && ok;
    fw_status st = FW_OK;
    while ((r = fw_pq.getResult(s->c)) != NULL) {
        if (st == FW_OK && fw_pq.resultStatus(r) != PGRES_COMMAND_OK)
            st = fw_pq_error(s->c, r, s->where, "logging predictions", err);
        fw_pq.clear(r);
    }
    if (st == FW_OK && !ok) st = fw_pq_error(s->c, NULL, s->where, "logging predictions", err);
    if (s->copy.cap > ((size_t)16 << 20)) { /* a huge batch does not keep its buffer */
        fw_buf_free(&s->copy);
        fw_buf_init(&s->copy);
    }
    return st;
}

/* ---- feedback ------------------------------------------------------------------------------- */
#define LQ(s, sql, p, what) fw_pq_query((s)->c, (sql), (p), false, (s)->where, (what), err)
#define LCMD(s, sql, p, what, n) fw_pq_cmd((s)->c, (sql), (p), (s)->where, (what), (n), err)

/* 1 when the query returns a row, 0 when not, a negative status on an error. */
static int exists(pg_log *s, const char *sql, const fw_pq_params *p, const char *what, fw_err *err) {
    PGresult *r = LQ(s, sql, p, what);
    if (!r) return err->status;
    int found = fw_pq.ntuples(r) > 0;
    fw_pq.clear(r);
    return found;
}

static fw_status write_feedback(pg_log *s, fw_log_feedback_row *r, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, r->request_id);
    if (!r->matched) {
        int k = exists(s, "SELECT 1 FROM prediction_log WHERE request_id = $1 LIMIT 1", &p, "matching feedback", err);
        if (k < 0) return (fw_status)k;
        r->matched = k == 1;
    }
    const char *status = NULL;
    if (r->label_json) {
        /* the label rule for this request id, one transaction at a time across every writer */
        fw_status st = LCMD(s, "SELECT pg_advisory_xact_lock(" FW_PG_LOCK_LABEL_NS ", hashtext($1))", &p,
                            "locking a request's labels", NULL);
        if (st) return st;
        int k = exists(s, "SELECT 1 FROM feedback WHERE request_id = $1 AND label_json IS NOT NULL AND status IS NULL"
                          " LIMIT 1", &p, "looking up a label", err);
        if (k < 0) return (fw_status)k;
        if (k && !r->update) status = "ignored";
        else if (k && (st = LCMD(s, "UPDATE feedback SET status = 'superseded' WHERE request_id = $1 AND label_json IS"
                                    " NOT NULL AND status IS NULL", &p, "superseding a label", NULL)))
            return st;
    }
    fw_pq_params q = {0};
    fw_pq_text(&q, r->request_id);
    fw_pq_int(&q, r->ts_ms);
    fw_pq_text(&q, r->label_json);
    fw_pq_text(&q, r->event);
    fw_pq_real(&q, r->value);
    fw_pq_text(&q, r->source);
    fw_pq_text(&q, status);
    fw_status st = LCMD(s, "INSERT INTO feedback(request_id, ts_ms, label_json, event, value, source, status)"
                           " VALUES($1, $2, $3, $4, $5, $6, $7)", &q, "storing feedback", NULL);
    if (st || r->matched) return st;
    fw_pq_params u = {0};
    fw_pq_text(&u, r->request_id);
    fw_pq_int(&u, r->ts_ms);
    fw_pq_text(&u, r->label_json);
    return LCMD(s, "INSERT INTO feedback_unmatched(request_id, ts_ms, label_json) VALUES($1, $2, $3)", &u,
                "flagging unmatched feedback", NULL);
}

static fw_status lg_put_feedback(fw_store_log *b, fw_log_feedback_row *rows, size_t n, fw_err *err) {
    pg_log *s = L(b);
    fw_status st = LCMD(s, "BEGIN", NULL, "starting a feedback transaction", NULL);
    if (st) return st;
    for (size_t i = 0; i < n && st == FW_OK; i++) st = write_feedback(s, &rows[i], err);
    if (st == FW_OK) return LCMD(s, "COMMIT", NULL, "committing feedback", NULL);
    PGresult *r = fw_pq.exec(s->c, "ROLLBACK");
    if (r) fw_pq.clear(r);
    return st;
}

static bool lg_has_prediction(fw_store_log *b, const char *rid, int64_t ts_ms, const char *model, int64_t version) {
    pg_log *s = L(b);
    fw_err e, *err = &e;
    fw_pq_params p = {0};
    fw_pq_text(&p, rid);
    fw_pq_int(&p, ts_ms);
    fw_pq_text(&p, model ? model : "");
    fw_pq_int(&p, version);
    return exists(s, "SELECT 1 FROM prediction_log WHERE request_id = $1 AND ts_ms = $2 AND model_name = $3"
                     " AND version = $4 LIMIT 1", &p, "looking up a prediction", err) == 1;
}

static bool lg_has_feedback(fw_store_log *b, const char *rid, int64_t ts_ms, const char *event) {
    pg_log *s = L(b);
    fw_err e, *err = &e;
    fw_pq_params p = {0};
    fw_pq_text(&p, rid);
    fw_pq_int(&p, ts_ms);
    fw_pq_text(&p, event);
    return exists(s, "SELECT 1 FROM feedback WHERE request_id = $1 AND ts_ms = $2 AND event IS NOT DISTINCT FROM $3"
                     " LIMIT 1", &p, "looking up feedback", err) == 1;
}

/* The first row of the request id by (model, version): the lowest id (prediction_log_by_request
 * is (request_id, id): one index seek). */
static fw_status lg_get_prediction(fw_store_log *b, const char *rid, const char *model, int64_t version,
                                   fw_log_pred_found *out, fw_err *err) {
    pg_log *s = L(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, rid);
    fw_pq_text(&p, model ? model : "");
    fw_pq_int(&p, version);
    PGresult *r = LQ(s, "SELECT ts_ms, input_json, output_json FROM prediction_log WHERE request_id = $1 AND"
                        " model_name = $2 AND version = $3 ORDER BY id LIMIT 1", &p, "looking up a logged prediction");
    if (!r) return err->status;
    fw_status st = FW_OK;
    if (fw_pq.ntuples(r) == 0) {
        st = fw_err_set(err, FW_ENOTFOUND, "no logged prediction of request %s by %s version %lld", rid,
                        model ? model : "", (long long)version);
    } else {
        out->ts_ms = fw_pq_i64(r, 0, 0);
        out->input_json = fw_pq_dup(r, 0, 1);
        out->output_json = fw_strdup(fw_pq.getisnull(r, 0, 2) ? "" : fw_pq.getvalue(r, 0, 2));
        if ((!fw_pq.getisnull(r, 0, 1) && !out->input_json) || !out->output_json) {
            fw_log_pred_found_free(out);
            st = fw_err_set(err, FW_ENOMEM, "out of memory reading a logged prediction");
        }
    }
    fw_pq.clear(r);
    return st;
}

/* ---- reading in one snapshot, through a cursor ---------------------------------------------- */
typedef fw_status (*row_fn)(void *ud, PGresult *r, int i, bool *stop, fw_err *err);

/* Runs sql (with p) in a REPEATABLE READ READ ONLY transaction, FETCH_ROWS rows at a time. */
enum { FETCH_ROWS = 2000 };
static fw_status scan_cursor(PGconn *c, const char *where, const char *sql, const fw_pq_params *p, row_fn fn,
                             void *ud, const char *what, fw_err *err) {
    fw_status st = fw_pq_cmd(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, where, what, NULL, err);
    if (st) return st;
    fw_buf decl;
    fw_buf_init(&decl);
    fw_buf_printf(&decl, "DECLARE fw_scan NO SCROLL CURSOR FOR %s", sql);
    fw_buf_put_u8(&decl, 0);
    if (!fw_buf_ok(&decl)) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    else st = fw_pq_cmd(c, (const char *)decl.data, p, where, what, NULL, err);
    fw_buf_free(&decl);
    bool stop = false;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM fw_scan", FETCH_ROWS);
    while (st == FW_OK && !stop) {
        PGresult *r = fw_pq_query(c, fetch, NULL, false, where, what, err);
        if (!r) {
            st = err->status;
            break;
        }
        int k = fw_pq.ntuples(r);
        for (int i = 0; i < k && st == FW_OK && !stop; i++) st = fn(ud, r, i, &stop, err);
        fw_pq.clear(r);
        if (k < FETCH_ROWS) break;
    }
    PGresult *r = fw_pq.exec(c, "ROLLBACK");
    if (r) fw_pq.clear(r);
    return st;
}

/* ---- experiments (issue 19) ----------------------------------------------------------------- */
typedef struct exp_ctx {
    fw_log_exp_fn fn;
    void *ud;
    bool events;
    bool sliced;
} exp_ctx;

static fw_status exp_row(void *ud, PGresult *r, int i, bool *stop, fw_err *err) {
    exp_ctx *x = ud;
    (void)stop;
    if (fw_pq.getisnull(r, i, 1) || fw_pq.getisnull(r, i, 2) || (x->events && fw_pq.getisnull(r, i, 3))) return FW_OK;
    fw_log_exp_row row = {0};
    row.ts_ms = fw_pq_i64(r, i, 0);
    row.unit = fw_pq.getvalue(r, i, 1);
    row.unit_len = (size_t)fw_pq.getlength(r, i, 1);
    row.variant = fw_pq.getvalue(r, i, 2);
    row.variant_len = (size_t)fw_pq.getlength(r, i, 2);
    row.value = NAN;
    if (!x->events && x->sliced && !fw_pq.getisnull(r, i, 3)) {
        row.slice = fw_pq.getvalue(r, i, 3);
        row.slice_len = (size_t)fw_pq.getlength(r, i, 3);
    }
    if (x->events) {
        row.event = fw_pq.getvalue(r, i, 3);
        row.event_len = (size_t)fw_pq.getlength(r, i, 3);
        row.value = fw_pq_f64(r, i, 4);
    }
    return x->fn(x->ud, &row, err);
}

static fw_status lg_experiment_rows(fw_store_log *b, const char *model, const char *slice_feature, fw_log_exp_fn fn,
                                    void *ud, fw_err *err) {
    pg_log *s = L(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    exp_ctx x = {fn, ud, false, slice_feature != NULL};
    /* the unit: the prediction's entity_id, else its request id; the variant from its output; the
     * slice from the logged input's first instance (a logged input is the JSON the server parsed) */
    fw_status st;
    if (slice_feature) {
        fw_pq_params ps = {0};
        fw_pq_text(&ps, model);
        fw_pq_text(&ps, slice_feature);
        st = scan_cursor(
            s->c, s->where,
            "SELECT ts_ms, COALESCE(NULLIF(o->>'entity_id', ''), request_id), o->>'variant',"
            " input_json::jsonb->'instances'->0->>$2 FROM"
            " (SELECT ts_ms, request_id, input_json, output_json::jsonb AS o FROM prediction_log WHERE model_name = $1) p"
            " WHERE o->>'variant' IN ('primary', 'challenger')",
            &ps, exp_row, &x, "reading an experiment", err);
    } else {
        st = scan_cursor(
            s->c, s->where,
            "SELECT ts_ms, COALESCE(NULLIF(o->>'entity_id', ''), request_id), o->>'variant' FROM"
            " (SELECT ts_ms, request_id, output_json::jsonb AS o FROM prediction_log WHERE model_name = $1) p"
            " WHERE o->>'variant' IN ('primary', 'challenger')",
            &p, exp_row, &x, "reading an experiment", err);
    }
    if (st) return st;
    /* each event joins the request's first exposure (a shadow's record shares the request id) */
    x.events = true;
    return scan_cursor(
        s->c, s->where,
        "SELECT f.ts_ms, COALESCE(NULLIF(p.o->>'entity_id', ''), p.request_id), p.o->>'variant', f.event, f.value"
        " FROM feedback f JOIN LATERAL (SELECT q.request_id, q.output_json::jsonb AS o FROM prediction_log q"
        "  WHERE q.request_id = f.request_id AND q.model_name = $1"
        "  AND q.output_json::jsonb->>'variant' IN ('primary', 'challenger') ORDER BY q.id LIMIT 1) p ON true"
        " WHERE f.event IS NOT NULL",
        &p, exp_row, &x, "reading an experiment", err);
}

/* Shadow agreement: the champion's first record of each request of the model and the first shadow
 * record under the same request id, with the request's label in force (its last counting one) —
 * the rows of log_sqlite.c's SHADOW_SQL; the JSON arrays come back as jsonb's text (the reader
 * parses them, so its spacing does not matter). */
static const char SHADOW_SQL[] =
    "WITH pr AS (SELECT DISTINCT ON (request_id) request_id, ts_ms, o->'answers' AS a, o->'outputs' AS o FROM"
    "   (SELECT id, request_id, ts_ms, output_json::jsonb AS o FROM prediction_log WHERE model_name = $1) x"
    "   WHERE o->>'variant' = 'primary' ORDER BY request_id, id),"
    " sh AS (SELECT DISTINCT ON (request_id) request_id, model_name, version, o->'answers' AS a, o->'outputs' AS o FROM"
    "   (SELECT id, request_id, model_name, version, output_json::jsonb AS o FROM prediction_log"
    "    WHERE request_id IN (SELECT request_id FROM prediction_log WHERE model_name = $1)) x"
    "   WHERE o->>'variant' = 'shadow' ORDER BY request_id, id),"
    " lb AS (SELECT DISTINCT ON (request_id) request_id, label_json FROM feedback"
    "   WHERE label_json IS NOT NULL AND status IS NULL ORDER BY request_id, id DESC)"
    " SELECT pr.request_id, pr.ts_ms, sh.model_name, sh.version, pr.a::text, pr.o::text, sh.a::text, sh.o::text,"
    " lb.label_json FROM pr JOIN sh ON sh.request_id = pr.request_id LEFT JOIN lb ON lb.request_id = pr.request_id";

typedef struct shadow_ctx {
    fw_log_shadow_fn fn;
    void *ud;
} shadow_ctx;

static fw_status shadow_row(void *ud, PGresult *r, int i, bool *stop, fw_err *err) {
    shadow_ctx *x = ud;
    (void)stop;
    for (int k = 0; k < 8; k++)
        if (k != 1 && k != 3 && fw_pq.getisnull(r, i, k)) return FW_OK; /* a record without answers */
    fw_log_shadow_row row = {
        .request_id = fw_pq.getvalue(r, i, 0),
        .ts_ms = fw_pq_i64(r, i, 1),
        .shadow_model = fw_pq.getvalue(r, i, 2),
        .shadow_version = fw_pq_i64(r, i, 3),
        .answers = fw_pq.getvalue(r, i, 4),
        .outputs = fw_pq.getvalue(r, i, 5),
        .shadow_answers = fw_pq.getvalue(r, i, 6),
        .shadow_outputs = fw_pq.getvalue(r, i, 7),
        .label_json = fw_pq.getisnull(r, i, 8) ? NULL : fw_pq.getvalue(r, i, 8),
    };
    return x->fn(x->ud, &row, err);
}

static fw_status lg_shadow_rows(fw_store_log *b, const char *model, fw_log_shadow_fn fn, void *ud, fw_err *err) {
    pg_log *s = L(b);
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    shadow_ctx x = {fn, ud};
    return scan_cursor(s->c, s->where, SHADOW_SQL, &p, shadow_row, &x, "reading shadow answers", err);
}

/* ---- the handle ----------------------------------------------------------------------------- */
static void lg_close(fw_store_log *b) {
    pg_log *s = L(b);
    if (!s) return;
    if (s->c) fw_pq.finish(s->c);
    fw_buf_free(&s->copy);
    fw_free(s);
}

static const fw_store_log_ops pg_log_ops = {
    .close = lg_close,
    .put_predictions = lg_put_predictions,
    .put_feedback = lg_put_feedback,
    .has_prediction = lg_has_prediction,
    .has_feedback = lg_has_feedback,
    .get_prediction = lg_get_prediction,
    /* .cache: none (the server's memory, not ours) */
    .experiment_rows = lg_experiment_rows,
    .shadow_rows = lg_shadow_rows,
};

fw_status fw__pg_log_open(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err) {
    (void)cache_bytes;
    *out = NULL;
    pg_log *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->base.ops = &pg_log_ops;
    fw_buf_init(&s->copy);
    fw_pq_redact(home, s->where, sizeof s->where);
    int schema = 0;
    fw_status st = fw_pq_connect(home, &s->c, err);
    if (!st) st = fw__pg_migrate(s->c, s->where, &schema, err);
    if (st) {
        lg_close(&s->base);
        return st;
    }
    *out = &s->base;
    return FW_OK;
}

/* ---- the learn block ------------------------------------------------------------------------ */
/* The first logged prediction of each request id of the model in the window (widened by
 * SCAN_MARGIN_MS like SQLite's: a request's rows share its time), joined to the label in force. */
#define SCAN_MARGIN_MS 60000
typedef struct learn_ctx {
    fw_learn_row_fn fn;
    void *ud;
} learn_ctx;

static fw_status learn_row(void *ud, PGresult *r, int i, bool *stop, fw_err *err) {
    (void)err;
    learn_ctx *x = ud;
    if (fw_pq.getisnull(r, i, 0) || fw_pq.getisnull(r, i, 4)) return FW_OK;
    fw_learn_row row = {
        .request_id = fw_pq.getvalue(r, i, 0),
        .ts_ms = fw_pq_i64(r, i, 1),
        .version = fw_pq_i64(r, i, 2),
        .input_json = fw_pq.getisnull(r, i, 3) ? NULL : fw_pq.getvalue(r, i, 3),
        .label_json = fw_pq.getvalue(r, i, 4),
        .label_ts_ms = fw_pq_i64(r, i, 5),
    };
    if (x->fn(x->ud, &row) != 0) *stop = true;
    return FW_OK;
}

fw_status fw__pg_learn_scan(fw_store *s, const char *model, int64_t since_ms, int64_t until_ms, fw_learn_row_fn fn,
                            void *ud, fw_err *err) {
    /* a connection of its own: the handle may be inside a transaction of its caller */
    PGconn *c = NULL;
    fw_status st = fw_pq_connect(fw_store_home(s), &c, err);
    if (st) return st;
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_int(&p, since_ms);
    fw_pq_int(&p, until_ms > 0 ? until_ms : INT64_MAX);
    fw_pq_int(&p, since_ms > INT64_MIN + SCAN_MARGIN_MS ? since_ms - SCAN_MARGIN_MS : INT64_MIN);
    learn_ctx x = {fn, ud};
    st = scan_cursor(c, fw__pg_where(s),
                     "SELECT p.request_id, p.ts_ms, p.version, p.input_json, f.label_json, f.ts_ms FROM"
                     " (SELECT DISTINCT ON (request_id) id, request_id, ts_ms, version, input_json FROM prediction_log"
                     "  WHERE model_name = $1 AND ts_ms >= $4 AND ts_ms < $3 ORDER BY request_id, id) p"
                     " JOIN LATERAL (SELECT label_json, ts_ms FROM feedback f WHERE f.request_id = p.request_id"
                     "  AND f.label_json IS NOT NULL AND f.status IS NULL ORDER BY f.id DESC LIMIT 1) f ON true"
                     " WHERE p.ts_ms >= $2 ORDER BY p.ts_ms, p.id",
                     &p, learn_row, &x, "reading labelled predictions", err);
    fw_pq.finish(c);
    return st;
}

/* One statement: a new row, or the row taken over when it is the owner's own (renewed) or its
 * time has run out; another owner's live row makes it return nothing (busy). */
fw_status fw__pg_learn_lock(fw_store *s, const char *model, const char *owner, int64_t now_ms, int64_t ttl_ms,
                            char *holder, size_t holder_size, fw_err *err) {
    if (holder && holder_size) holder[0] = 0;
    PGconn *c = fw__pg_conn(s);
    const char *where = fw__pg_where(s);
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_text(&p, owner);
    fw_pq_int(&p, now_ms + ttl_ms);
    fw_pq_int(&p, now_ms);
    PGresult *r = fw_pq_query(c,
                              "INSERT INTO learn_locks(model, owner, until_ms) VALUES($1, $2, $3)"
                              " ON CONFLICT(model) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms"
                              " WHERE learn_locks.owner = excluded.owner OR learn_locks.until_ms <= $4 RETURNING owner",
                              &p, false, where, "taking the retrain lock", err);
    if (!r) return err->status;
    bool taken = fw_pq.ntuples(r) == 1;
    fw_pq.clear(r);
    if (taken) return FW_OK;
    fw_pq_params q = {0};
    fw_pq_text(&q, model);
    r = fw_pq_query(c, "SELECT owner, until_ms FROM learn_locks WHERE model = $1", &q, false, where,
                    "reading the retrain lock", err);
    if (!r) return err->status;
    char who[512] = "";
    long long until = 0;
    if (fw_pq.ntuples(r) == 1) {
        snprintf(who, sizeof who, "%s", fw_pq.getvalue(r, 0, 0));
        until = (long long)fw_pq_i64(r, 0, 1);
    }
    fw_pq.clear(r);
    if (holder && holder_size) snprintf(holder, holder_size, "%s", who);
    return fw_err_set(err, FW_EBUSY, "a retrain of %s is running (%s) until %lld ms at most", model, who, until);
}

fw_status fw__pg_learn_unlock(fw_store *s, const char *model, const char *owner, fw_err *err) {
    fw_pq_params p = {0};
    fw_pq_text(&p, model);
    fw_pq_text(&p, owner);
    return fw_pq_cmd(fw__pg_conn(s), "DELETE FROM learn_locks WHERE model = $1 AND owner = $2", &p, fw__pg_where(s),
                     "releasing the retrain lock", NULL, err);
}

/* ---- retention ------------------------------------------------------------------------------ */
typedef struct pg_retention {
    fw_store_log_retention base;
    char *home;
    fw_log_retention ret;
    _Atomic(unsigned long long) *deleted;
    pthread_t thread;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pg_retention;

static bool retention_stopping(pg_retention *s, long wait_ms) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    if (!s->stop && wait_ms > 0) pthread_cond_timedwait(&s->cv, &s->mu, &dl);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* Deletes up to FW_LOG_RETENTION_CHUNK of the oldest rows (by id) that match; how many, -1 on an
 * error. */
static int64_t delete_chunk(PGconn *c, const char *where, int64_t below_id, int64_t before_ms) {
    fw_pq_params p = {0};
    fw_pq_int(&p, FW_LOG_RETENTION_CHUNK);
    fw_pq_int(&p, before_ms > 0 ? before_ms : below_id);
    fw_err e;
    int64_t n = 0;
    if (fw_pq_cmd(c,
                  before_ms > 0
                      ? "DELETE FROM prediction_log WHERE id IN (SELECT id FROM prediction_log ORDER BY id LIMIT $1)"
                        " AND ts_ms < $2"
                      : "DELETE FROM prediction_log WHERE id IN (SELECT id FROM prediction_log WHERE id < $2"
                        " ORDER BY id LIMIT $1)",
                  &p, where, "retention", &n, &e))
        return -1;
    return n;
}

/* max_bytes: the table's size on disk, estimated as PostgreSQL keeps it (deleted rows' space is
 * reused by autovacuum, not given back); the bound keeps the live rows' share under it. */
static int64_t live_bytes(PGconn *c, const char *where) {
    fw_err e;
    PGresult *r = fw_pq_query(c,
                              "SELECT (pg_total_relation_size('prediction_log') * COALESCE((SELECT n_live_tup::float8 /"
                              " NULLIF(n_live_tup + n_dead_tup, 0) FROM pg_stat_user_tables WHERE relname ="
                              " 'prediction_log'), 1))::bigint",
                              NULL, false, where, "retention", &e);
    if (!r) return -1;
    int64_t v = fw_pq_i64(r, 0, 0);
    fw_pq.clear(r);
    return v;
}

static void retention_pass(pg_retention *s, PGconn *c, const char *where) {
    for (int kind = 0; kind < 3; kind++) {
        for (;;) {
            if (retention_stopping(s, 0)) return;
            int64_t n = 0;
            if (kind == 0) {
                if (s->ret.max_age_s <= 0) break;
                n = delete_chunk(c, where, 0, fw_wall_unix_ms() - (int64_t)(s->ret.max_age_s * 1000));
            } else if (kind == 1) {
                if (!s->ret.max_rows) break;
                fw_err e;
                PGresult *r = fw_pq_query(c, "SELECT min(id), max(id) FROM prediction_log", NULL, false, where,
                                          "retention", &e);
                if (!r) break;
                int64_t lo = fw_pq_i64(r, 0, 0), hi = fw_pq_i64(r, 0, 1);
                fw_pq.clear(r);
                if (hi <= 0 || lo <= 0 || hi - lo + 1 <= (int64_t)s->ret.max_rows) break;
                n = delete_chunk(c, where, hi - (int64_t)s->ret.max_rows + 1, 0);
            } else {
                if (!s->ret.max_bytes) break;
                int64_t used = live_bytes(c, where);
                if (used <= (int64_t)s->ret.max_bytes) break;
                fw_err e;
                PGresult *r = fw_pq_query(c, "SELECT min(id) FROM prediction_log", NULL, false, where, "retention", &e);
                if (!r) break;
                int64_t lo = fw_pq_i64(r, 0, 0);
                fw_pq.clear(r);
                if (lo <= 0) break;
                n = delete_chunk(c, where, lo + FW_LOG_RETENTION_CHUNK, 0);
                if (n > 0) { /* the statistics the estimate reads lag: refresh them */
                    PGresult *a = fw_pq.exec(c, "ANALYZE prediction_log");
                    if (a) fw_pq.clear(a);
                }
            }
            if (n <= 0) break;
            if (s->deleted) atomic_fetch_add(s->deleted, (unsigned long long)n);
            if (retention_stopping(s, 5)) return;
        }
    }
}

static void *retention_main(void *arg) {
    pg_retention *s = arg;
    pthread_setname_np(pthread_self(), "fw-log-retain");
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    long every_ms = (long)((s->ret.interval_s > 0 ? s->ret.interval_s : 10.0) * 1000);
    char where[1024];
    fw_pq_redact(s->home, where, sizeof where);
    PGconn *c = NULL;
    do {
        if (!c) {
            fw_err e;
            if (fw_pq_connect(s->home, &c, &e) != FW_OK) c = NULL;
        }
        if (c) retention_pass(s, c, where);
    } while (!retention_stopping(s, every_ms));
    if (c) fw_pq.finish(c);
    return NULL;
}

static void retention_stop(fw_store_log_retention *b) {
    pg_retention *s = (pg_retention *)b;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    fw_free(s->home);
    fw_free(s);
}

fw_store_log_retention *fw__pg_retention_start(const char *home, const fw_log_retention *r,
                                               _Atomic(unsigned long long) *deleted) {
    fw_err e;
    if (fw_pq_load(&e) != FW_OK) return NULL;
    pg_retention *s = fw_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!(s->home = fw_strdup(home))) {
        fw_free(s);
        return NULL;
    }
    s->base.stop = retention_stop;
    s->ret = *r;
    s->deleted = deleted;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, retention_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        fw_free(s->home);
        fw_free(s);
        return NULL;
    }
    return &s->base;
}
