/* pg.h — owns libpq as the PostgreSQL store back end sees it (store_pg.c, log_pg.c): the library is
 * loaded with dlopen the first time a postgresql:// (or postgres://) home is opened, never when the
 * flywheel binary starts — SQLite stays the embedded default and the binary runs on a machine
 * without libpq (Debian: libpq5 provides libpq.so.5; libpq-dev the header). Also the few helpers
 * both files share: connecting, parameter lists, result accessors and the mapping of SQLSTATEs to
 * Flywheel's status codes. Only src/store/ includes it. */
#ifndef FW_STORE_PG_H
#define FW_STORE_PG_H

#include "flywheel.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fw_pq_api {
    __typeof__(PQconnectdbParams) *connectdbParams;
    __typeof__(PQstatus) *status;
    __typeof__(PQerrorMessage) *errorMessage;
    __typeof__(PQfinish) *finish;
    __typeof__(PQreset) *reset;
    __typeof__(PQexec) *exec;
    __typeof__(PQexecParams) *execParams;
    __typeof__(PQresultStatus) *resultStatus;
    __typeof__(PQresultErrorField) *resultErrorField;
    __typeof__(PQresultErrorMessage) *resultErrorMessage;
    __typeof__(PQclear) *clear;
    __typeof__(PQntuples) *ntuples;
    __typeof__(PQgetvalue) *getvalue;
    __typeof__(PQgetisnull) *getisnull;
    __typeof__(PQgetlength) *getlength;
    __typeof__(PQcmdTuples) *cmdTuples;
    __typeof__(PQputCopyData) *putCopyData;
    __typeof__(PQputCopyEnd) *putCopyEnd;
    __typeof__(PQgetResult) *getResult;
    __typeof__(PQsetNoticeProcessor) *setNoticeProcessor;
    __typeof__(PQconsumeInput) *consumeInput;
    __typeof__(PQnotifies) *notifies;
    __typeof__(PQsocket) *socket;
    __typeof__(PQfreemem) *freemem;
    __typeof__(PQtransactionStatus) *transactionStatus;
} fw_pq_api;

/* Filled by fw_pq_load; never changes afterwards. */
extern fw_pq_api fw_pq;

/* Loads libpq.so.5 once per process (thread-safe; later calls return the first outcome). FW_EIO
 * naming the library and the Debian package when it cannot. */
fw_status fw_pq_load(fw_err *err);

/* True when home is a PostgreSQL connection URL (postgresql:// or postgres://). */
bool fw_pq_claims(const char *home);

/* Loads libpq and connects to url (a libpq connection URI). Notices are not printed. FW_EBUSY when
 * the server cannot be reached (it may be restarting: the caller tries again later). */
fw_status fw_pq_connect(const char *url, PGconn **out, fw_err *err);

/* A statement's parameters: texts with explicit lengths (sent as bytes: no NUL needed), integers,
 * reals (NaN: NULL), bytea. FW_PQ_MAX at most. */
enum { FW_PQ_MAX = 24 };
typedef struct fw_pq_params {
    int n;
    const char *v[FW_PQ_MAX];
    int len[FW_PQ_MAX], fmt[FW_PQ_MAX];
    Oid type[FW_PQ_MAX];
    char num[FW_PQ_MAX][32];
} fw_pq_params;
void fw_pq_text(fw_pq_params *p, const char *s);              /* NULL: SQL NULL */
void fw_pq_textn(fw_pq_params *p, const char *s, size_t n);   /* NULL: SQL NULL */
void fw_pq_int(fw_pq_params *p, int64_t v);
void fw_pq_int_or_null(fw_pq_params *p, int64_t v);           /* v <= 0: NULL */
void fw_pq_real(fw_pq_params *p, double v);                   /* NaN: NULL */
void fw_pq_bytes(fw_pq_params *p, const void *data, size_t n);

/* Runs sql with p (may be NULL); results in text format (binary when binary). Returns the result
 * (PQclear it) when it is COMMAND_OK or TUPLES_OK, else NULL with err set naming where (the store)
 * and what was being done. */
PGresult *fw_pq_query(PGconn *c, const char *sql, const fw_pq_params *p, bool binary, const char *where,
                      const char *what, fw_err *err);
/* fw_pq_query for a statement whose rows are not wanted; *affected (may be NULL) gets the count. */
fw_status fw_pq_cmd(PGconn *c, const char *sql, const fw_pq_params *p, const char *where, const char *what,
                    int64_t *affected, fw_err *err);
/* The status for a failed result (NULL: the connection's error): FW_EBUSY for what may succeed
 * later (connection lost, serialization failure, deadlock, server shutting down, out of disk),
 * FW_ECORRUPT for data corruption, FW_ESTORE otherwise. */
fw_status fw_pq_error(PGconn *c, PGresult *r, const char *where, const char *what, fw_err *err);

/* Result accessors: a fw_malloc'd copy (NULL for SQL NULL), an integer (0 for NULL), a real (NaN
 * for NULL). */
char *fw_pq_dup(const PGresult *r, int row, int col);
int64_t fw_pq_i64(const PGresult *r, int row, int col);
double fw_pq_f64(const PGresult *r, int row, int col);

/* The home with its password (if any) replaced by "***", for messages. */
void fw_pq_redact(const char *url, char *out, size_t size);

#endif
