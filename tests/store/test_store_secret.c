/* test_store_secret.c — tests for fw_store_secret (src/store/store.c over the back end's
 * setting_get_or_put): a secret is made once per home from the kernel's random bytes and every later
 * handle and process on that home reads the same bytes (what lets a restarted server or a replica
 * check the request ids another issued); another home has its own; first callers racing in several
 * processes all get one value; a damaged kept value is refused by name, never replaced silently. */
#include "store/store.h"
#include "test.h"

#include "backend.h"
#include "db.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char home_buf[512];
static const char *new_home(const char *tag) {
    snprintf(home_buf, sizeof home_buf, "%s/%s", fw_test_tmpdir(), tag);
    return home_buf;
}

static fw_status secret_of(const char *home, const char *name, unsigned char *out, size_t len, fw_err *err) {
    fw_store *s = NULL;
    fw_status st = fw_store_open(home, &s, err);
    if (st == FW_OK) st = fw_store_secret(s, name, out, len, err);
    fw_store_close(s);
    return st;
}

static void test_once_per_home(void) {
    fw_err err;
    unsigned char a[32], b[32], c[32], d[16], zero[32] = {0};
    char home[512];
    snprintf(home, sizeof home, "%s", new_home("one"));
    CHECK_OK(secret_of(home, "request_id_key", a, sizeof a, &err));
    CHECK(memcmp(a, zero, sizeof a) != 0);
    CHECK_OK(secret_of(home, "request_id_key", b, sizeof b, &err)); /* a new handle: a restart */
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* two handles open at once: both read the one value */
    fw_store *s1, *s2;
    CHECK_OK(fw_store_open(home, &s1, &err));
    CHECK_OK(fw_store_open(home, &s2, &err));
    CHECK_OK(fw_store_secret(s1, "request_id_key", b, sizeof b, &err));
    CHECK_OK(fw_store_secret(s2, "request_id_key", c, sizeof c, &err));
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) == 0);
    /* another name, another secret */
    CHECK_OK(fw_store_secret(s1, "other", d, sizeof d, &err));
    CHECK(memcmp(a, d, sizeof d) != 0);
    fw_store_close(s1);
    fw_store_close(s2);
    /* another home, another secret */
    CHECK_OK(secret_of(new_home("two"), "request_id_key", c, sizeof c, &err));
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* kept as 64 hex characters in the home's settings */
    char path[700];
    snprintf(path, sizeof path, "%s/flywheel.db", home);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT length(value) FROM fw_meta WHERE key = 'secret.request_id_key'"), 64);
    CHECK_EQ(DB_INT(db, "SELECT value GLOB '*[^0-9a-f]*' FROM fw_meta WHERE key = 'secret.request_id_key'"), 0);
    /* damaged: refused by name, and left as it is (never silently replaced: ids would stop checking) */
    CHECK(sqlite3_exec(db, "UPDATE fw_meta SET value = 'zz' || substr(value, 3) WHERE key = 'secret.request_id_key'",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ(secret_of(home, "request_id_key", b, sizeof b, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "secret 'request_id_key' is damaged");
    CHECK_EQ(DB_INT(db, "SELECT substr(value, 1, 2) = 'zz' FROM fw_meta WHERE key = 'secret.request_id_key'"), 1);
    CHECK(sqlite3_exec(db, "UPDATE fw_meta SET value = substr(value, 1, 62) WHERE key = 'secret.request_id_key'",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ(secret_of(home, "request_id_key", b, sizeof b, &err), FW_ECORRUPT);
    sqlite3_close(db);
    /* sizes outside 1..64 are refused */
    unsigned char big[65];
    CHECK_EQ(secret_of(home, "big", big, sizeof big, &err), FW_EINVAL);
    CHECK_EQ(secret_of(home, "none", big, 0, &err), FW_EINVAL);
}

/* Four processes asking at once on a new home: one value for all. */
static void test_first_callers_race(void) {
    char home[512];
    const char *h = fw_test_store_home("race");
    if (!h) return;
    snprintf(home, sizeof home, "%s", h);
    fw_err err;
    fw_store *s;
    CHECK_OK(fw_store_open(home, &s, &err)); /* the home exists; the secret does not yet */
    fw_store_close(s);
    enum { N = 4 };
    int fds[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        CHECK(pipe(fds[i]) == 0);
        pids[i] = fork();
        if (pids[i] == 0) {
            unsigned char k[32];
            fw_err e;
            int ok = secret_of(home, "request_id_key", k, sizeof k, &e) == FW_OK;
            if (ok && write(fds[i][1], k, sizeof k) != (ssize_t)sizeof k) ok = 0;
            _exit(ok ? 0 : 1);
        }
        close(fds[i][1]);
    }
    unsigned char got[N][32];
    for (int i = 0; i < N; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d could not read the secret", i);
        CHECK(read(fds[i][0], got[i], 32) == 32);
        close(fds[i][0]);
    }
    for (int i = 1; i < N; i++) CHECK_MSG(memcmp(got[0], got[i], 32) == 0, "process %d read another secret", i);
    unsigned char after[32];
    CHECK_OK(secret_of(home, "request_id_key", after, sizeof after, &err));
    CHECK(memcmp(after, got[0], 32) == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_once_per_home);
    TEST_RUN_BACKENDS(test_first_callers_race);
    return fw_test_report(argv[0]);
}
