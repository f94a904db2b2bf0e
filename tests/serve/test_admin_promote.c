/* test_admin_promote.c — `PUT /admin/models/{name}/aliases/production` applies the same promotion
 * rule as `flywheel models promote`: a version the rule refuses gets 409 with the rule's reason and
 * the alias stays; `"force": true` in the body moves it anyway and the audit log records the move as
 * forced; a `force` that is not a boolean is a 400. Black-box: the real binary over a socket. */
#include "test.h"
#include "client.h"
#include "db.h"

#include <stdlib.h>

static void test_admin_alias_follows_the_promotion_rule(void) {
    /* v1 and v2 split pima with other seeds: their test rows differ, so the rule refuses v2 */
    char *o = NULL;
    int rc = fw_test_sh(&o, "for s in 7 8; do \"$FW\" train examples/pima/flywheel.yaml --seed $s --models linear "
                            "--threads 1 --quiet --home \"$T/h\" >/dev/null || exit 3; done && "
                            "\"$FW\" models promote pima@1 --home \"$T/h\"");
    CHECK_EQ(rc, 0);
    free(o);
    if (rc) return;
    char home[600];
    snprintf(home, sizeof home, "%s/h", fw_test_tmpdir());
    const char *args[] = {"--home", home, "--threads", "1", "--admin-token", "sekret", "--alias-poll", "0", NULL};
    hc_server srv;
    if (hc_server_start(&srv, args) != 0) {
        CHECK_MSG(0, "server did not start");
        return;
    }
    const char *auth = "Authorization: Bearer sekret\r\n";
    const char *path = "/admin/models/pima/aliases/production";
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, 200,
              "\"version\":\"1\"");
    /* refused by the rule, with its reason and how to override */
    HC_EXPECT(srv.port, "PUT", path, "{\"version\":\"2\"}", auth, 409, "not comparable");
    HC_EXPECT(srv.port, "PUT", path, "{\"version\":\"2\"}", auth, 409, "\\\"force\\\": true");
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, 200,
              "\"version\":\"1\"");
    HC_EXPECT(srv.port, "PUT", path, "{\"version\":\"2\",\"force\":\"yes\"}", auth, 400, "force");
    /* an explicit false is the rule */
    HC_EXPECT(srv.port, "PUT", path, "{\"version\":\"2\",\"force\":false}", auth, 409, "promotion_refused");
    /* forced: moved, served, audited as forced */
    HC_EXPECT(srv.port, "PUT", path, "{\"version\":\"2\",\"force\":true}", auth, 200, "\"version\":\"2\"");
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":120}]}", NULL, 200,
              "\"version\":\"2\"");
    hc_server_stop(&srv, SIGTERM);
    char db_path[700];
    snprintf(db_path, sizeof db_path, "%s/flywheel.db", home);
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'promote' AND to_version = 2 AND forced = 1"), 1);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'promote' AND to_version = 2"), 1);
    CHECK_EQ(DB_INT(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'promote' AND to_version = 1 AND forced = 0"), 1);
    sqlite3_close(db);
}

int main(void) {
    TEST_RUN(test_admin_alias_follows_the_promotion_rule);
    return fw_test_report("test_admin_promote");
}
