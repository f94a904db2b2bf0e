/* db.h — reading Flywheel's SQLite files from the tests: one integer query on a SQLite handle, with a
 * failed prepare reported at the test's line. Header-only; include test.h first. */
#ifndef FW_TEST_DB_H
#define FW_TEST_DB_H

#include <sqlite3.h>

/* The first column of the first row of sql as an integer; -1 (and a test failure) when it does not
 * prepare, -1 when it returns no row. */
#define DB_INT(db, sql) db_int_((db), (sql), __FILE__, __LINE__)

static inline long long db_int_(sqlite3 *db, const char *sql, const char *file, int line) {
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fw_test_fail(file, line, "%s: %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

#endif
