/* test_ha.c — the replicated serving set of issue 20, started by scripts/ha/cluster.sh (PostgreSQL
 * in a temp dir, 3 `flywheel serve` replicas sharing it, HAProxy with scripts/ha/haproxy.cfg) and
 * driven through HAProxy by client threads on keep-alive connections:
 *   - a replica killed with kill -9 under load leaves rotation (HAProxy's stats say DOWN) within a
 *     generous bound, and no prediction fails (what it had taken is retried on another replica);
 *   - a replica stopped with SIGTERM under predictions and feedback drains: it answers 503 to the
 *     health checks and keeps answering (Connection: close) for drain_delay_s until out of
 *     rotation, and no request fails;
 *   - PostgreSQL restarted (immediate shutdown) under load: every replica stays in rotation and
 *     answers from its loaded models (readiness does not need the store while it is down);
 *   - 10 faults (kill -9 of a replica, then its restart; PostgreSQL immediate restart) during
 *     predictions + feedback: the client keeps the request ids of every acknowledged (202) feedback;
 *     after recovery each is in the feedback table exactly once (0 lost, 0 duplicated).
 * The tight figures (errors per million, time out of rotation) are bench/scale/ha_faults.sh's. */
#include "test.h"

#include "../serve/client.h"
#include "backend.h"
#include "cluster.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CLIENTS = 6, MAX_ACK = 200000 };

static char *lines[800];
static size_t n_lines;
static char header[512];
static char *text;

static bool load_pima(void) {
    if (text) return n_lines > 0;
    text = fw_test_slurp("examples/pima/pima.csv", NULL);
    if (!text) return false;
    n_lines = fw_test_csv_lines(text, header, sizeof header, lines, 800);
    return n_lines > 0;
}

/* Row i of pima as a /v1 body and its label. */
static void body_of(size_t i, char *body, size_t cap, char *label, size_t lcap) {
    char hb[512], rb[512], *h[16], *f[16];
    snprintf(hb, sizeof hb, "%s", header);
    snprintf(rb, sizeof rb, "%s", lines[i % n_lines]);
    size_t nh = fw_test_split_commas(hb, h, 16), nf = fw_test_split_commas(rb, f, 16);
    size_t len = (size_t)snprintf(body, cap, "{\"instances\":[{");
    for (size_t k = 0; k + 1 < nh && k + 1 < nf; k++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%s\":%s", k ? "," : "", h[k], *f[k] ? f[k] : "null");
    snprintf(body + len, cap - len, "}]}");
    snprintf(label, lcap, "%s", nf ? f[nf - 1] : "0");
}

/* ---- the load: client threads on keep-alive connections through HAProxy ---------------------- */

typedef struct load {
    int port;
    bool feedback;                 /* each prediction's request id gets a label */
    atomic_bool stop;
    atomic_ullong pred_ok, pred_err, fb_ok, fb_err;
    atomic_int last_bad;           /* the last failing status (0: no answer) */
    pthread_mutex_t mu;
    char (*acked)[64];             /* request ids whose feedback was answered 202 */
    size_t n_acked;
    pthread_t th[CLIENTS];
    int seed[CLIENTS];
} load;

static void *client_main(void *arg) {
    void **a = arg;
    load *L = a[0];
    int k = *(int *)a[1];
    int fd = -1;
    char body[1024], label[16], fb[400];
    for (size_t i = (size_t)k * 97; !atomic_load(&L->stop); i++) {
        if (fd < 0 && (fd = hc_connect(L->port)) < 0) {
            atomic_fetch_add(&L->pred_err, 1);
            usleep(10000);
            continue;
        }
        body_of(i, body, sizeof body, label, sizeof label);
        hc_resp r;
        int rc = hc_request_fd(fd, "POST", "/v1/models/pima:predict", body, NULL, &r);
        if (rc != 0 || r.status != 200) {
            atomic_fetch_add(&L->pred_err, 1);
            atomic_store(&L->last_bad, rc ? 0 : r.status);
            hc_resp_free(&r);
            close(fd);
            fd = -1;
            continue;
        }
        atomic_fetch_add(&L->pred_ok, 1);
        char rid[64] = "";
        const char *p = strstr(r.body, "\"request_id\":\"");
        if (p) snprintf(rid, sizeof rid, "%.*s", (int)strcspn(p + 14, "\""), p + 14);
        hc_resp_free(&r);
        if (!L->feedback || !rid[0]) continue;
        snprintf(fb, sizeof fb, "{\"request_id\":\"%s\",\"label\":\"%s\"}", rid, label);
        rc = hc_request_fd(fd, "POST", "/v1/feedback", fb, NULL, &r);
        if (rc == 0 && r.status == 202) {
            atomic_fetch_add(&L->fb_ok, 1);
            pthread_mutex_lock(&L->mu);
            if (L->n_acked < MAX_ACK) snprintf(L->acked[L->n_acked++], 64, "%s", rid);
            pthread_mutex_unlock(&L->mu);
        } else {
            atomic_fetch_add(&L->fb_err, 1);
            atomic_store(&L->last_bad, rc ? 0 : r.status);
            close(fd);
            fd = -1;
        }
        hc_resp_free(&r);
    }
    if (fd >= 0) close(fd);
    free(a);
    return NULL;
}

static void load_start(load *L, int port, bool feedback) {
    memset(L, 0, sizeof *L);
    L->port = port;
    L->feedback = feedback;
    pthread_mutex_init(&L->mu, NULL);
    if (feedback) L->acked = calloc(MAX_ACK, sizeof *L->acked);
    for (int k = 0; k < CLIENTS; k++) {
        L->seed[k] = k;
        void **a = malloc(2 * sizeof *a);
        a[0] = L;
        a[1] = &L->seed[k];
        pthread_create(&L->th[k], NULL, client_main, a);
    }
}

static void load_stop(load *L) {
    atomic_store(&L->stop, true);
    for (int k = 0; k < CLIENTS; k++) pthread_join(L->th[k], NULL);
}

static void load_free(load *L) {
    free(L->acked);
    pthread_mutex_destroy(&L->mu);
}

static void sleep_s(double s) { usleep((useconds_t)(s * 1e6)); }

/* ---- the set, with a model every replica serves ---------------------------------------------- */

static fw_cluster C;
static bool up;

static bool cluster_up(void) {
    if (up) return true;
    if (!fw_test_bin() || !load_pima()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set or examples/pima is missing");
        return false;
    }
    char why[1200];
    if (cl_start(&C, 3, why, sizeof why) != 0) {
        CHECK_MSG(0, "%s", why);
        return false;
    }
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" && \"$FW\" train \"$T/pima.yaml\" --home '%s' --quiet"
                            " --models linear && \"$FW\" models promote pima@1 --home '%s' --force", C.home, C.home);
    CHECK_MSG(rc == 0, "train + promote on %s: %s", C.home, o ? o : "");
    free(o);
    if (rc) return false;
    /* the promotion reaches every replica (NOTIFY): each answers pima itself */
    char body[1024], label[16];
    body_of(0, body, sizeof body, label, sizeof label);
    for (int i = 0; i < C.n; i++) {
        int status = 0;
        for (int t = 0; t < 300 && status != 200; t++) {
            hc_resp r;
            status = hc_request(C.rport[i], "POST", "/v1/models/pima:predict", body, NULL, &r) == 0 ? r.status : 0;
            hc_resp_free(&r);
            if (status != 200) usleep(100000);
        }
        CHECK_MSG(status == 200, "replica %d does not serve pima: %d", i + 1, status);
        if (status != 200) return false;
    }
    CHECK(cl_wait_all_up(&C, 30));
    up = true;
    return true;
}

/* A replica killed with kill -9 under load: out of rotation quickly, no prediction fails. */
static void test_kill9(void) {
    if (!cluster_up()) return;
    load L;
    load_start(&L, C.port, false);
    sleep_s(1.5);
    unsigned long long before = atomic_load(&L.pred_ok);
    double t0 = cl_now();
    CHECK_EQ(cl_do(&C, "kill", 2), 0);
    double out = -1;
    char st[64];
    for (double t = 0; t < 20; t = cl_now() - t0) {
        cl_status(&C, 2, st, sizeof st);
        if (!strncmp(st, "DOWN", 4)) {
            out = cl_now() - t0;
            break;
        }
        usleep(10000);
    }
    sleep_s(1.5);
    load_stop(&L);
    unsigned long long ok = atomic_load(&L.pred_ok), err = atomic_load(&L.pred_err);
    fprintf(stderr, "kill -9: out of rotation after %.3f s; %llu predictions (%llu after the kill), %llu failed\n",
            out, ok, ok - before, err);
    CHECK_MSG(out >= 0, "replica 2 never left rotation (status '%s')", st);
    /* the target is 1.5 s (bench/scale/ha_faults.sh measures it); on a loaded 2-core machine the
     * checks' timers run late, so the test bounds it at 5 s */
    CHECK_MSG(out <= 5.0, "out of rotation after %.3f s", out);
    CHECK_MSG(ok - before > 0, "no prediction answered after the kill");
    /* the target is <= 0.01%: what the killed replica had taken is retried elsewhere, so none fail */
    CHECK_MSG(err * 10000 <= ok, "%llu of %llu predictions failed (last status %d)", err, ok + err,
              atomic_load(&L.last_bad));
    load_free(&L);
    CHECK_EQ(cl_do(&C, "restart", 2), 0);
    CHECK(cl_wait_all_up(&C, 30));
}

/* SIGTERM drains: the replica answers 503 to the checks, is taken out, and only then closes. No
 * request fails, feedback (never replayed by HAProxy) included. */
static void test_sigterm(void) {
    if (!cluster_up()) return;
    load L;
    load_start(&L, C.port, true);
    sleep_s(1.0);
    char path[400];
    snprintf(path, sizeof path, "%s/r3/pid", C.dir);
    char *pid = fw_test_slurp(path, NULL);
    CHECK(pid && atoi(pid) > 0);
    if (pid && atoi(pid) > 0) kill(atoi(pid), SIGTERM);
    free(pid);
    /* drain_delay_s (1 s in cluster.sh's config): unready at once, still answering meanwhile */
    sleep_s(0.1);
    char body[1024], label[16];
    body_of(1, body, sizeof body, label, sizeof label);
    HC_EXPECT(C.rport[2], "GET", "/v2/health/ready", NULL, NULL, 503, NULL);
    hc_resp r;
    CHECK_EQ(hc_request(C.rport[2], "POST", "/v1/models/pima:predict", body, NULL, &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.headers, "Connection: close");
    hc_resp_free(&r);
    CHECK_EQ(cl_do(&C, "term", 3), 0); /* returns once it has exited */
    sleep_s(0.5);
    load_stop(&L);
    fprintf(stderr, "SIGTERM: %llu predictions, %llu failed; %llu feedback, %llu failed\n",
            atomic_load(&L.pred_ok), atomic_load(&L.pred_err), atomic_load(&L.fb_ok), atomic_load(&L.fb_err));
    CHECK_MSG(atomic_load(&L.pred_err) == 0 && atomic_load(&L.fb_err) == 0,
              "%llu predictions and %llu feedback failed (last status %d)", atomic_load(&L.pred_err),
              atomic_load(&L.fb_err), atomic_load(&L.last_bad));
    CHECK(atomic_load(&L.fb_ok) > 0);
    load_free(&L);
    CHECK_EQ(cl_do(&C, "restart", 3), 0);
    CHECK(cl_wait_all_up(&C, 30));
}

/* PostgreSQL restarted under load: the replicas stay in rotation and answer (loaded models). */
static void test_pg_restart(void) {
    if (!cluster_up()) return;
    load L;
    load_start(&L, C.port, false);
    sleep_s(1.0);
    CHECK_EQ(cl_do(&C, "pg-restart", 0), 0);
    sleep_s(1.0);
    load_stop(&L);
    fprintf(stderr, "PostgreSQL restart: %llu predictions, %llu failed\n", atomic_load(&L.pred_ok),
            atomic_load(&L.pred_err));
    CHECK_MSG(atomic_load(&L.pred_err) == 0, "%llu predictions failed (last status %d)", atomic_load(&L.pred_err),
              atomic_load(&L.last_bad));
    load_free(&L);
    CHECK(cl_wait_all_up(&C, 30));
}

/* 10 faults during predictions + feedback: every acknowledged feedback stored exactly once. */
static void test_ten_faults(void) {
    if (!cluster_up()) return;
    long long before = HOME_INT(C.home, "", "SELECT count(*) FROM feedback");
    load L;
    load_start(&L, C.port, true);
    sleep_s(1.0);
    for (int f = 0; f < 10; f++) {
        if (f % 2 == 0) {
            int i = (f / 2) % C.n + 1;
            CHECK_EQ(cl_do(&C, "kill", i), 0);
            sleep_s(0.3);
            CHECK_EQ(cl_do(&C, "restart", i), 0); /* recovers the dead process's spool */
        } else {
            CHECK_EQ(cl_do(&C, "pg-restart", 0), 0);
        }
        sleep_s(0.7);
    }
    sleep_s(1.0);
    load_stop(&L);
    fprintf(stderr, "10 faults: %llu predictions (%llu failed), %llu feedback acknowledged (%llu failed)\n",
            atomic_load(&L.pred_ok), atomic_load(&L.pred_err), atomic_load(&L.fb_ok), atomic_load(&L.fb_err));
    CHECK_MSG(L.n_acked >= 50, "only %zu feedback acknowledged", L.n_acked);
    /* the acknowledged ids, then: each in the table exactly once (waiting for the spools to drain) */
    size_t cap = L.n_acked * 80 + 256, len = 0;
    char *sql = malloc(cap);
    len += (size_t)snprintf(sql + len, cap - len, "CREATE TEMP TABLE acked(id text PRIMARY KEY);\n");
    for (size_t i = 0; i < L.n_acked; i++)
        len += (size_t)snprintf(sql + len, cap - len, "%s('%s')", i % 500 ? "," : ";\nINSERT INTO acked VALUES ",
                                L.acked[i]);
    snprintf(sql + len, cap - len, ";\n");
    size_t head = strlen(sql);
    long long missing = -1, dup = -1;
    for (int t = 0; t < 120 && missing != 0; t++) {
        if (t) sleep_s(0.5);
        snprintf(sql + head, cap - head,
                 "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = a.id);");
        missing = HOME_INT(C.home, "", sql);
    }
    snprintf(sql + head, cap - head,
             "SELECT count(*) FROM acked a WHERE (SELECT count(*) FROM feedback f WHERE f.request_id = a.id) > 1;");
    dup = HOME_INT(C.home, "", sql);
    long long dup_all = HOME_INT(C.home, "", "SELECT count(*) FROM (SELECT request_id FROM feedback GROUP BY request_id"
                                             " HAVING count(*) > 1) d");
    long long after = HOME_INT(C.home, "", "SELECT count(*) FROM feedback");
    fprintf(stderr, "10 faults: %zu acknowledged: %lld missing, %lld stored twice or more; %lld rows added "
                    "(feedback answered with an error may be stored too: never twice)\n",
            L.n_acked, missing, dup, after - before);
    CHECK_EQ(missing, 0);
    CHECK_EQ(dup, 0);
    CHECK_EQ(dup_all, 0);
    free(sql);
    load_free(&L);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)hc_server_start; /* client.h's server helpers: the set's servers are cluster.sh's */
    (void)hc_server_stop;
    TEST_RUN(test_kill9);
    TEST_RUN(test_sigterm);
    TEST_RUN(test_pg_restart);
    TEST_RUN(test_ten_faults);
    if (up) cl_stop(&C);
    else if (C.dir[0]) cl_stop(&C);
    free(text);
    return fw_test_report(argv[0]);
}
