/* backend.c — owns the tests' choice of store back end and their throwaway PostgreSQL (backend.h). */
#include "test.h"

#include "backend.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool use_pg;
static char pg_url[256], pg_dir[256];
static pid_t pg_owner; /* the process that started the server (stops it at exit) */
static int n_homes;

const char *fw_test_backend(void) { return use_pg ? "postgresql" : "sqlite"; }
bool fw_test_is_pg(void) { return use_pg; }

static void stop_pg(void) {
    if (!pg_dir[0] || getpid() != pg_owner) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tests/support/pg.sh stop '%s'", pg_dir);
    if (system(cmd) != 0) fprintf(stderr, "backend.c: could not stop the PostgreSQL in %s\n", pg_dir);
    pg_dir[0] = 0;
}

const char *fw_test_pg_server(void) {
    if (pg_url[0]) return pg_url;
    const char *env = getenv("FW_TEST_PG_URL");
    if (env && *env) {
        snprintf(pg_url, sizeof pg_url, "%s", env);
        return pg_url;
    }
    /* tests run from the project root (tests/run.sh cds there) */
    FILE *p = popen("tests/support/pg.sh start", "r");
    char line[600] = "";
    if (!p || !fgets(line, sizeof line, p)) line[0] = 0;
    if (p) pclose(p);
    char url[256], dir[256];
    if (sscanf(line, "%255s %255s", url, dir) != 2) {
        fw_test_fail(__FILE__, __LINE__, "could not start a throwaway PostgreSQL (tests/support/pg.sh start)");
        return NULL;
    }
    snprintf(pg_url, sizeof pg_url, "%s", url);
    snprintf(pg_dir, sizeof pg_dir, "%s", dir);
    pg_owner = getpid();
    atexit(stop_pg);
    return pg_url;
}

/* psql of the server's version (the client binaries sit beside initdb) */
static const char *psql(void) {
    static char path[256];
    if (!path[0]) {
        FILE *p = popen("ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1", "r");
        if (!p || !fgets(path, sizeof path, p)) snprintf(path, sizeof path, "psql");
        if (p) pclose(p);
        path[strcspn(path, "\n")] = 0;
    }
    return path;
}

const char *fw_test_store_home(const char *tag) {
    static char homes[512][600]; /* kept until exit (no leak for LeakSanitizer to report) */
    if (n_homes >= 512) {
        fw_test_fail(__FILE__, __LINE__, "more than 512 homes in one test program");
        return NULL;
    }
    int n = ++n_homes;
    char *home = homes[n - 1];
    if (!use_pg) {
        snprintf(home, 600, "%s/%s-%d", fw_test_tmpdir(), tag, n);
        return home; /* the store creates it */
    }
    const char *base = fw_test_pg_server();
    if (!base) return NULL;
    char db[128];
    snprintf(db, sizeof db, "t%d_%d_", (int)getpid(), n);
    for (size_t i = strlen(db), j = 0; tag[j] && i < 60; j++)
        db[i++] = (tag[j] >= 'a' && tag[j] <= 'z') || (tag[j] >= '0' && tag[j] <= '9') ? tag[j] : '_', db[i] = 0;
    char *out = NULL;
    int rc = fw_test_sh(&out, "'%s' -X -q -v ON_ERROR_STOP=1 -d '%s/postgres' -c 'CREATE DATABASE %s' 2>&1", psql(),
                        base, db);
    if (rc != 0) {
        fw_test_fail(__FILE__, __LINE__, "CREATE DATABASE %s: %s", db, out ? out : "");
        free(out);
        return NULL;
    }
    free(out);
    snprintf(home, 600, "%s/%s", base, db);
    return home;
}

long long fw_test_home_int(const char *home, const char *file, const char *sql, const char *src, int line) {
    long long v = -1;
    if (strncmp(home, "postgresql://", 13) == 0) {
        char *out = NULL;
        /* the SQL goes through a file: no shell quoting of it */
        char path[600];
        snprintf(path, sizeof path, "%s/home_int.sql", fw_test_tmpdir());
        FILE *f = fopen(path, "w");
        if (!f) {
            fw_test_fail(src, line, "cannot write %s", path);
            return -1;
        }
        fputs(sql, f);
        fclose(f);
        int rc = fw_test_sh(&out, "'%s' -X -q -A -t -v ON_ERROR_STOP=1 -d '%s' -f '%s' 2>&1", psql(), home, path);
        if (rc != 0 || !out) fw_test_fail(src, line, "%s: %s", sql, out ? out : "psql failed");
        else if (out[0] && out[0] != '\n') v = strtoll(out, NULL, 10);
        free(out);
        return v;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%s", home, file);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fw_test_fail(src, line, "%s on %s: %s", sql, path, db ? sqlite3_errmsg(db) : "cannot open");
    } else if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

void fw_test_run_backends(const char *name, void (*fn)(void)) {
    static char names[256][2][160]; /* fw_test_name points here while the test runs, and after */
    static int k;
    if (k >= 256) {
        fw_test_fail(__FILE__, __LINE__, "more than 256 back-end tests in one program");
        return;
    }
    snprintf(names[k][0], sizeof names[k][0], "%s[sqlite]", name);
    snprintf(names[k][1], sizeof names[k][1], "%s[postgresql]", name);
    use_pg = false;
    fw_test_run(names[k][0], fn);
    use_pg = true;
    fw_test_run(names[k][1], fn);
    use_pg = false;
    k++;
}

void fw_test_run_pg(const char *name, void (*fn)(void)) {
    static char names[64][160];
    static int k;
    if (k >= 64) {
        fw_test_fail(__FILE__, __LINE__, "more than 64 PostgreSQL-only tests in one program");
        return;
    }
    snprintf(names[k], sizeof names[k], "%s[postgresql]", name);
    use_pg = true;
    fw_test_run(names[k++], fn);
    use_pg = false;
}
