/* test_rule_baseline.c — a rule baseline (`baseline:` a rule in the project file) is saved in the
 * artifact AND used: with `fallback: baseline`, an abstaining model answers with the rule in batch
 * and in serve (not "review"), and the training report warns when the rule reads a column that is
 * not a feature (records at serve time do not carry it). Black-box: the real binary. */
#include "test.h"
#include "../serve/client.h"

#include <stdlib.h>

static void test_rule_fallback_in_batch_and_serve(void) {
    char *o = NULL;
    /* every answer abstains (confidence 0.99 is out of reach), so the rule answers every row */
    int rc = fw_test_sh(&o, "fw_project pima \"$T/p.yaml\" "
                            "'s/^baseline: prior/baseline:\\n  rule: \"glucose >= 140 -> pos else neg\"/' "
                            "'s/confidence_threshold: 0.6/confidence_threshold: 0.99/' && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --threads 1 --quiet --home \"$T/h\" >/dev/null && "
                            "\"$FW\" models promote pima@1 --force --home \"$T/h\" >/dev/null && "
                            "\"$FW\" batch --model pima --input examples/pima/pima.csv --output \"$T/o.csv\" --home \"$T/h\" "
                            "--quiet && head -n 3 \"$T/o.csv\"");
    CHECK_EQ(rc, 0);
    /* pima.csv rows 2 and 3: glucose 148 and 85 */
    CHECK_CONTAINS(o, "\n2,pos,0.999,");
    CHECK_CONTAINS(o, "\n3,neg,0.001");
    free(o);
    if (rc) return;
    char home[600];
    snprintf(home, sizeof home, "%s/h", fw_test_tmpdir());
    const char *args[] = {"--home", home, "--threads", "1", NULL};
    hc_server srv;
    if (hc_server_start(&srv, args) != 0) {
        CHECK_MSG(0, "server did not start");
        return;
    }
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":150,\"age\":30}]}", NULL,
              200, "\"fallback\":\"baseline\",\"answer\":\"pos\"");
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"glucose\":90,\"age\":30}]}", NULL,
              200, "\"fallback\":\"baseline\",\"answer\":\"neg\"");
    /* a missing glucose never satisfies the condition: the else value */
    HC_EXPECT(srv.port, "POST", "/v1/models/pima:predict", "{\"instances\":[{\"age\":30}]}", NULL, 200,
              "\"answer\":\"neg\"");
    hc_server_stop(&srv, SIGTERM);
}

static void test_rule_on_a_non_feature_warns(void) {
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "fw_project pima \"$T/q.yaml\" "
                            "'s/^baseline: prior/baseline:\\n  rule: \"pressure >= 80 -> pos else neg\"/' "
                            "'s/^  positive: pos/  positive: pos\\n  exclude: [pressure]/' && "
                            "\"$FW\" train \"$T/q.yaml\" --models linear --threads 1 --quiet --no-register --home \"$T/h2\""),
             0);
    CHECK_CONTAINS(o, "baseline rule reads 'pressure', which is not a feature");
    free(o);
}

int main(void) {
    TEST_RUN(test_rule_fallback_in_batch_and_serve);
    TEST_RUN(test_rule_on_a_non_feature_warns);
    return fw_test_report("test_rule_baseline");
}
