/* backend.h — owns running a test program's store tests against each store back end: the back end
 * the running test uses (SQLite by default), a fresh home for it (a new directory, or a new
 * database on the run's throwaway PostgreSQL: tests/support/pg.sh, started once per tests/run.sh
 * and shared through $FW_TEST_PG_URL, else by the first test program that needs it and stopped
 * when it exits), and one integer query on a home's tables whichever back end holds them. Include
 * test.h first.
 *
 * Example:
 *   static void test_x(void) { const char *home = fw_test_store_home("x"); ... }
 *   TEST_RUN_BACKENDS(test_x);   // runs test_x[sqlite] and test_x[postgresql] */
#ifndef FW_TEST_BACKEND_H
#define FW_TEST_BACKEND_H

#include <stdbool.h>

/* "sqlite" or "postgresql": the back end of the running test. */
const char *fw_test_backend(void);
bool fw_test_is_pg(void);
/* The run's PostgreSQL base URL (postgresql://postgres@127.0.0.1:PORT), starting one when there is
 * none; NULL (and a test failure naming why) when none can start. */
const char *fw_test_pg_server(void);
/* A fresh empty home of the running test's back end, named after tag: <tmpdir>/<tag>-<n>, or the
 * URL of a new database. The string lives until exit; NULL on failure (a test failure). */
const char *fw_test_store_home(const char *tag);
/* The first column of the first row of sql on home's tables (SQLite: the file of home named file,
 * "flywheel.db" or "log.db"; PostgreSQL: the home's database, file ignored); -1 when no row or on
 * an error (then a test failure). */
#define HOME_INT(home, file, sql) fw_test_home_int((home), (file), (sql), __FILE__, __LINE__)
long long fw_test_home_int(const char *home, const char *file, const char *sql, const char *src, int line);
/* Runs fn as "<name>[sqlite]" with the SQLite back end, then as "<name>[postgresql]". */
void fw_test_run_backends(const char *name, void (*fn)(void));
#define TEST_RUN_BACKENDS(fn) fw_test_run_backends(#fn, fn)
/* Runs fn as "<name>[postgresql]" only (what only that back end has). */
void fw_test_run_pg(const char *name, void (*fn)(void));
#define TEST_RUN_PG(fn) fw_test_run_pg(#fn, fn)

#endif
