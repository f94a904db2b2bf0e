/* pg.c — owns loading libpq at run time and the helpers the PostgreSQL back end shares (pg.h). */
#include "store/pg.h"

#include "core/alloc.h"
#include "core/dynlib.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_PQ_SONAME "libpq.so.5"

/* type oids of the parameters sent (catalog/pg_type.h; stable since PostgreSQL 7) */
enum { OID_BYTEA = 17, OID_INT8 = 20, OID_TEXT = 25, OID_FLOAT8 = 701 };

fw_pq_api fw_pq;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_error[512]; /* empty when loaded */

static const fw_dynsym g_syms[] = {
    FW_DYNSYM(fw_pq_api, connectdbParams, "PQconnectdbParams"),
    FW_DYNSYM(fw_pq_api, status, "PQstatus"),
    FW_DYNSYM(fw_pq_api, errorMessage, "PQerrorMessage"),
    FW_DYNSYM(fw_pq_api, finish, "PQfinish"),
    FW_DYNSYM(fw_pq_api, reset, "PQreset"),
    FW_DYNSYM(fw_pq_api, exec, "PQexec"),
    FW_DYNSYM(fw_pq_api, execParams, "PQexecParams"),
    FW_DYNSYM(fw_pq_api, resultStatus, "PQresultStatus"),
    FW_DYNSYM(fw_pq_api, resultErrorField, "PQresultErrorField"),
    FW_DYNSYM(fw_pq_api, resultErrorMessage, "PQresultErrorMessage"),
    FW_DYNSYM(fw_pq_api, clear, "PQclear"),
    FW_DYNSYM(fw_pq_api, ntuples, "PQntuples"),
    FW_DYNSYM(fw_pq_api, getvalue, "PQgetvalue"),
    FW_DYNSYM(fw_pq_api, getisnull, "PQgetisnull"),
    FW_DYNSYM(fw_pq_api, getlength, "PQgetlength"),
    FW_DYNSYM(fw_pq_api, cmdTuples, "PQcmdTuples"),
    FW_DYNSYM(fw_pq_api, putCopyData, "PQputCopyData"),
    FW_DYNSYM(fw_pq_api, putCopyEnd, "PQputCopyEnd"),
    FW_DYNSYM(fw_pq_api, getResult, "PQgetResult"),
    FW_DYNSYM(fw_pq_api, setNoticeProcessor, "PQsetNoticeProcessor"),
    FW_DYNSYM(fw_pq_api, consumeInput, "PQconsumeInput"),
    FW_DYNSYM(fw_pq_api, notifies, "PQnotifies"),
    FW_DYNSYM(fw_pq_api, socket, "PQsocket"),
    FW_DYNSYM(fw_pq_api, freemem, "PQfreemem"),
    FW_DYNSYM(fw_pq_api, transactionStatus, "PQtransactionStatus"),
};

static void load(void) {
    fw_pq_api a;
    memset(&a, 0, sizeof a);
    void *h;
    /* FLYWHEEL_LIBPQ: another soname or path (tests use it to show a missing library is named) */
    const char *so = getenv("FLYWHEEL_LIBPQ");
    if (fw_dynlib_load(so && *so ? so : FW_PQ_SONAME, g_syms, sizeof g_syms / sizeof *g_syms, &a, &h, g_error,
                       sizeof g_error))
        return;
    fw_pq = a; /* the handle stays open for the life of the process */
}

fw_status fw_pq_load(fw_err *err) {
    pthread_once(&g_once, load);
    if (!g_error[0]) return FW_OK;
    return fw_err_set(err, FW_EIO,
                      "a postgresql:// store needs the PostgreSQL client library %s: %s (Debian: apt-get install "
                      "libpq5)",
                      FW_PQ_SONAME, g_error);
}

bool fw_pq_claims(const char *home) {
    return home && (strncmp(home, "postgresql://", 13) == 0 || strncmp(home, "postgres://", 11) == 0);
}

void fw_pq_redact(const char *url, char *out, size_t size) {
    /* scheme://user:password@host...: the password is between the first ':' after "//" and '@' */
    const char *s = strstr(url, "://");
    const char *at = s ? strchr(s + 3, '@') : NULL;
    const char *colon = s ? memchr(s + 3, ':', at ? (size_t)(at - (s + 3)) : 0) : NULL;
    if (!at || !colon) {
        snprintf(out, size, "%s", url);
        return;
    }
    snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
}

static void quiet_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

fw_status fw_pq_connect(const char *url, PGconn **out, fw_err *err) {
    *out = NULL;
    fw_status st = fw_pq_load(err);
    if (st) return st;
    /* later keywords override what the URL says: only the application name's fallback and a
     * connect timeout when the URL names none */
    const char *keys[4] = {"dbname", "fallback_application_name", NULL, NULL};
    const char *vals[4] = {url, "flywheel", NULL, NULL};
    if (!strstr(url, "connect_timeout")) {
        keys[2] = "connect_timeout";
        vals[2] = "10";
    }
    PGconn *c = fw_pq.connectdbParams(keys, vals, 1);
    char where[1024];
    fw_pq_redact(url, where, sizeof where);
    if (!c) return fw_err_set(err, FW_ENOMEM, "store %s: out of memory connecting", where);
    if (fw_pq.status(c) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", fw_pq.errorMessage(c));
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = 0;
        fw_pq.finish(c);
        return fw_err_set(err, FW_EBUSY, "store %s: cannot connect: %s", where, msg);
    }
    fw_pq.setNoticeProcessor(c, quiet_notice, NULL);
    *out = c;
    return FW_OK;
}

static void put(fw_pq_params *p, const char *v, int len, int fmt, Oid type) {
    if (p->n >= FW_PQ_MAX) abort(); /* a programming error: the statements are fixed */
    p->v[p->n] = v;
    p->len[p->n] = len;
    p->fmt[p->n] = fmt;
    p->type[p->n] = type;
    p->n++;
}
void fw_pq_text(fw_pq_params *p, const char *s) { put(p, s, s ? (int)strlen(s) : 0, 1, OID_TEXT); }
void fw_pq_textn(fw_pq_params *p, const char *s, size_t n) { put(p, s, s ? (int)n : 0, 1, OID_TEXT); }
void fw_pq_int(fw_pq_params *p, int64_t v) {
    if (p->n >= FW_PQ_MAX) abort();
    snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
    put(p, p->num[p->n], 0, 0, OID_INT8);
}
void fw_pq_int_or_null(fw_pq_params *p, int64_t v) {
    if (v > 0) fw_pq_int(p, v);
    else put(p, NULL, 0, 0, OID_INT8);
}
void fw_pq_real(fw_pq_params *p, double v) {
    if (p->n >= FW_PQ_MAX) abort();
    if (isnan(v)) {
        put(p, NULL, 0, 0, OID_FLOAT8);
        return;
    }
    snprintf(p->num[p->n], sizeof p->num[p->n], "%.17g", v);
    put(p, p->num[p->n], 0, 0, OID_FLOAT8);
}
void fw_pq_bytes(fw_pq_params *p, const void *data, size_t n) { put(p, data ? data : "", (int)n, 1, OID_BYTEA); }

fw_status fw_pq_error(PGconn *c, PGresult *r, const char *where, const char *what, fw_err *err) {
    const char *state = r ? fw_pq.resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? fw_pq.resultErrorMessage(r) : NULL;
    if (!msg || !*msg) msg = fw_pq.errorMessage(c);
    char m[400];
    snprintf(m, sizeof m, "%s", msg ? msg : "unknown error");
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) m[--n] = 0;
    fw_status st = FW_ESTORE;
    if (!state || fw_pq.status(c) == CONNECTION_BAD || !strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
        !strncmp(state, "53", 2) || !strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        st = FW_EBUSY;
    else if (!strcmp(state, "XX001") || !strcmp(state, "XX002"))
        st = FW_ECORRUPT;
    return fw_err_set(err, st, "store %s: %s: %s", where, what, m);
}

PGresult *fw_pq_query(PGconn *c, const char *sql, const fw_pq_params *p, bool binary, const char *where,
                      const char *what, fw_err *err) {
    /* a connection lost between transactions is made again once (a server restart) */
    if (fw_pq.status(c) == CONNECTION_BAD) fw_pq.reset(c);
    PGresult *r = p ? fw_pq.execParams(c, sql, p->n, p->type, p->v, p->len, p->fmt, binary ? 1 : 0)
                    : fw_pq.execParams(c, sql, 0, NULL, NULL, NULL, NULL, binary ? 1 : 0);
    ExecStatusType s = r ? fw_pq.resultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return r;
    fw_pq_error(c, r, where, what, err);
    if (r) fw_pq.clear(r);
    return NULL;
}

fw_status fw_pq_cmd(PGconn *c, const char *sql, const fw_pq_params *p, const char *where, const char *what,
                    int64_t *affected, fw_err *err) {
    PGresult *r = fw_pq_query(c, sql, p, false, where, what, err);
    if (!r) return err->status;
    if (affected) *affected = strtoll(fw_pq.cmdTuples(r), NULL, 10);
    fw_pq.clear(r);
    return FW_OK;
}

char *fw_pq_dup(const PGresult *r, int row, int col) {
    if (fw_pq.getisnull(r, row, col)) return NULL;
    return fw_strndup(fw_pq.getvalue(r, row, col), (size_t)fw_pq.getlength(r, row, col));
}
int64_t fw_pq_i64(const PGresult *r, int row, int col) {
    return fw_pq.getisnull(r, row, col) ? 0 : strtoll(fw_pq.getvalue(r, row, col), NULL, 10);
}
double fw_pq_f64(const PGresult *r, int row, int col) {
    return fw_pq.getisnull(r, row, col) ? NAN : strtod(fw_pq.getvalue(r, row, col), NULL);
}
