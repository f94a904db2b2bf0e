/* test_bandit.c — black-box test of a `kind: bandit` split (serve/bandit.h): the real server
 * routes spam's default route between version 1 and version 2 by Thompson sampling on the click
 * event; the client clicks on 60% of version 2's answers and 10% of version 1's, through
 * /v1/feedback with the request id. Traffic shifts to version 2 once the reward windows close, both
 * arms keep at least the floor, GET /v1/bandits and /metrics show the state, and a feedback event
 * of another name does not count. */
#include "client.h"
#include "test.h"

#include <sys/stat.h>
#include <stdbool.h>
#include <time.h>

static char g_dir[512];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void make_models(void) {
    char p[1024];
    snprintf(g_dir, sizeof g_dir, "%s/models", fw_test_tmpdir());
    mkdir(g_dir, 0755);
    snprintf(p, sizeof p, "%s/spam", g_dir);
    mkdir(p, 0755);
    const char *m = "{\"task\":\"regression\",\"inputs\":[\"a\"],\"weights\":[1.0],\"bias\":0}";
    snprintf(p, sizeof p, "%s/spam/1.json", g_dir);
    write_file(p, m);
    snprintf(p, sizeof p, "%s/spam/2.json", g_dir);
    write_file(p, m);
    snprintf(p, sizeof p, "%s/spam/aliases.json", g_dir);
    write_file(p, "{\"production\":\"1\",\"staging\":\"2\"}");
}

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static double unif(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* n requests; clicks as the arm deserves; returns how many version 2 answered. */
static int traffic(int port, int n, const char *event) {
    int v2 = 0;
    for (int i = 0; i < n; i++) {
        hc_resp r;
        if (hc_request(port, "POST", "/v1/models/spam:predict", "{\"instances\":[{\"a\":1}]}", NULL, &r) != 0 ||
            r.status != 200) {
            CHECK_MSG(0, "predict failed (%d)", r.status);
            hc_resp_free(&r);
            return -1;
        }
        bool is2 = strstr(r.body, "\"version\":\"2\"") != NULL;
        v2 += is2;
        const char *id = strstr(r.body, "\"request_id\":\"");
        char rid[64] = "";
        if (id) sscanf(id + 14, "%63[^\"]", rid);
        hc_resp_free(&r);
        if (unif() < (is2 ? 0.6 : 0.1)) {
            char body[200];
            snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"event\":\"%s\"}", rid, event);
            CHECK_OK(hc_request(port, "POST", "/v1/feedback", body, NULL, &r));
            CHECK_EQ(r.status, 202);
            hc_resp_free(&r);
        }
    }
    return v2;
}

static double num_after(const char *s, const char *key) {
    const char *p = s ? strstr(s, key) : NULL;
    return p ? atof(p + strlen(key)) : -1;
}

static void test_shifts_to_better_arm(void) {
    make_models();
    char cfg[700], log[700];
    snprintf(cfg, sizeof cfg, "%s/bandit.yaml", fw_test_tmpdir());
    snprintf(log, sizeof log, "%s/bandit.jsonl", fw_test_tmpdir());
    write_file(cfg, "serving:\n  splits:\n    - model: spam\n      kind: bandit\n      challenger: spam@staging\n"
                    "      reward: {event: click, kind: rate, window_s: 0.3}\n      min_share: 0.05\n      seed: 7\n");
    hc_server s;
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, "--log", log, NULL};
    CHECK_OK(hc_server_start(&s, args));
    /* before any reward: an even split */
    hc_resp r;
    CHECK_OK(hc_request(s.port, "GET", "/v1/bandits", NULL, NULL, &r));
    double share0 = num_after(r.body, "{\"arm\":\"spam@default\",\"share\":");
    CHECK_MSG(share0 > 0.47 && share0 < 0.53, "share before any reward %g", share0);
    hc_resp_free(&r);
    int first = traffic(s.port, 300, "click");
    CHECK_MSG(first > 30, "version 2 answered %d of the first 300", first);
    /* a non-reward event is not a reward */
    traffic(s.port, 40, "purchase");
    sleep_s(0.3 + 0.4); /* every window closed, the updater ran */
    CHECK_OK(hc_request(s.port, "GET", "/v1/bandits", NULL, NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"model\":\"spam\",\"reward\":{\"event\":\"click\",\"kind\":\"rate\"");
    const char *a2 = r.body ? strstr(r.body, "\"arm\":\"spam@staging\"") : NULL;
    double share2 = num_after(a2, "\"share\":"), trials2 = num_after(a2, "\"trials\":");
    const char *a1 = r.body ? strstr(r.body, "\"arm\":\"spam@default\"") : NULL;
    double trials1 = num_after(a1, "\"trials\":");
    CHECK_MSG(share2 > 0.9, "share of the better arm %g\n%s", share2, r.body ? r.body : "");
    CHECK_MSG(trials1 + trials2 >= 330, "trials closed %g + %g", trials1, trials2);
    hc_resp_free(&r);
    /* the traffic follows; the worse arm keeps its floor */
    int later = traffic(s.port, 300, "click");
    CHECK_MSG(later > 240 && later < 300, "version 2 answered %d of the next 300", later); /* < 300: the floor */
    CHECK_OK(hc_request(s.port, "GET", "/metrics", NULL, NULL, &r));
    CHECK_CONTAINS(r.body, "flywheel_bandit_share{model=\"spam\",arm=\"spam@staging\"} 0.9");
    CHECK_CONTAINS(r.body, "flywheel_bandit_share{model=\"spam\",arm=\"spam@default\"} 0.0");
    CHECK_CONTAINS(r.body, "flywheel_bandit_rewards_total{model=\"spam\",outcome=\"joined\"}");
    hc_resp_free(&r);
    CHECK_EQ(hc_server_stop(&s, SIGTERM), 0);
}

/* A bandit config the server refuses names the file, line and column (exit 2). */
static void test_bad_bandit_config(void) {
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/bad_bandit.yaml", fw_test_tmpdir());
    write_file(cfg, "serving:\n  splits:\n    - {model: spam, kind: bandit, challenger: spam@staging}\n");
    hc_server s;
    const char *args[] = {"--models-dir", g_dir, "--config", cfg, NULL};
    CHECK(hc_server_start(&s, args) != 0);
    int st;
    waitpid(s.pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    TEST_RUN(test_shifts_to_better_arm);
    TEST_RUN(test_bad_bandit_config);
    return fw_test_report(argv[0]);
}
