/* sqlite_open.c — owns how Flywheel opens one of its SQLite files (flywheel.db, log.db): the
 * connection flags, the busy timeout, the page size of a new file, WAL with synchronous=NORMAL,
 * and the retry that WAL's first switch needs when several processes open a fresh file at once. */
#include "store/store_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <time.h>

static fw_status open_error(sqlite3 *db, const char *path, const char *what, fw_err *err) {
    int code = db ? sqlite3_errcode(db) & 0xff : SQLITE_NOMEM;
    fw_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED  ? FW_EBUSY
                   : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? FW_ECORRUPT
                   : code == SQLITE_NOMEM                          ? FW_ENOMEM
                                                                   : FW_EIO;
    return fw_err_set(err, st, "store %s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

fw_status fw__sqlite_open_wal(const char *path, int busy_ms, sqlite3 **out, fw_err *err) {
    return fw__sqlite_open_wal_paged(path, busy_ms, 0, out, err);
}

fw_status fw__sqlite_open_wal_paged(const char *path, int busy_ms, int new_page_size, sqlite3 **out, fw_err *err) {
    *out = NULL;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fw_status st = open_error(db, path, "cannot open", err);
        sqlite3_close(db);
        return st;
    }
    sqlite3_busy_timeout(db, busy_ms);
    /* Every CLI command is a short process, usually the last connection: SQLite would checkpoint the
     * WAL into the database and fdatasync both files on each close (~2 syncs per `flywheel models
     * ...`, paid even by a reader after a write). Committed transactions are already in the WAL,
     * which writers checkpoint automatically once it passes 1000 pages. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    sqlite3_extended_result_codes(db, 1);
    /* a new file takes its page size from the first write, which the switch to WAL below is (a WAL
     * file's page size never changes after): an existing file ignores this */
    if (new_page_size > 0) {
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA page_size=%d", new_page_size);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    /* WAL: readers never block the writer; NORMAL sync: a committed transaction survives a process
     * crash (kill -9); only a power cut can lose the last few, never corrupt the file.
     * Switching a new database to WAL needs an exclusive lock that SQLite does not always wait for
     * through the busy handler (several processes opening a fresh file at once get SQLITE_BUSY at
     * once): retry for as long as the busy timeout. WAL is persistent, so later opens pass at once. */
    int rc;
    for (int waited_ms = 0;; waited_ms += 5) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) & 0xff;
        if (rc != SQLITE_BUSY || waited_ms >= busy_ms) break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc != SQLITE_OK || sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        fw_status st = open_error(db, path, "setting WAL mode", err);
        sqlite3_close(db);
        return st;
    }
    *out = db;
    return FW_OK;
}
