/* test_singleton.c — singletons across processes (store/singleton.c; issue 20): on both back ends
 * one handle holds a name at a time, another takes it once the holder closes or is killed with
 * kill -9 (PostgreSQL ends the session and frees its advisory lock; the kernel frees an flock);
 * and through the binary: two `flywheel serve` processes on one PostgreSQL home with a retrain
 * schedule (learn.every) — one runs the scheduler, the other does not, and after kill -9 of the
 * holder the other takes it over and starts the scheduled retrains. */
#include "test.h"

#include "../serve/client.h"
#include "backend.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* try on s until it returns want (up to secs); the last answer */
static int try_until(fw_store_singleton *s, int want, double secs) {
    double t0 = now_s();
    int got;
    fw_err e;
    while ((got = fw_store_singleton_try(s, &e)) != want && now_s() - t0 < secs) usleep(20000);
    return got;
}

static void test_one_holder(void) {
    const char *home = fw_test_store_home("single");
    if (!home) return;
    fw_store_singleton *a = NULL, *b = NULL, *other = NULL;
    fw_err e;
    CHECK_OK(fw_store_singleton_open(home, "sched", &a, &e));
    CHECK_OK(fw_store_singleton_open(home, "sched", &b, &e));
    CHECK_OK(fw_store_singleton_open(home, "other", &other, &e));
    if (!a || !b || !other) return;
    CHECK(!fw_store_singleton_held(a));
    CHECK_EQ(fw_store_singleton_try(a, &e), 1);
    CHECK_EQ(fw_store_singleton_try(a, &e), 1); /* held: still 1 */
    CHECK(fw_store_singleton_held(a));
    CHECK_EQ(fw_store_singleton_try(b, &e), 0);
    CHECK(!fw_store_singleton_held(b));
    CHECK_EQ(fw_store_singleton_try(other, &e), 1); /* another name is another lock */
    fw_store_singleton_close(a);                    /* released: b takes it */
    CHECK_EQ(try_until(b, 1, 10), 1);
    fw_store_singleton_close(b);
    fw_store_singleton_close(other);
    fw_store_singleton *bad = NULL;
    CHECK_EQ(fw_store_singleton_open(home, "Bad Name", &bad, &e), FW_EINVAL);
    CHECK(bad == NULL);
}

/* A holder killed with kill -9 (a child process holding it) frees the singleton. */
static void test_killed_holder(void) {
    const char *home = fw_test_store_home("killed");
    if (!home) return;
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        fw_store_singleton *s = NULL;
        fw_err e;
        char c = fw_store_singleton_open(home, "sched", &s, &e) == FW_OK && fw_store_singleton_try(s, &e) == 1 ? 'y' : 'n';
        if (write(pfd[1], &c, 1) != 1) _exit(1);
        for (;;) pause(); /* holds it until killed */
    }
    close(pfd[1]);
    char c = 0;
    CHECK_EQ(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    CHECK_MSG(c == 'y', "the child did not take the singleton");
    fw_store_singleton *b = NULL;
    fw_err e;
    CHECK_OK(fw_store_singleton_open(home, "sched", &b, &e));
    if (b) CHECK_EQ(fw_store_singleton_try(b, &e), 0);
    double t0 = now_s();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (b) {
        CHECK_EQ(try_until(b, 1, 20), 1);
        if (getenv("FW_TEST_VERBOSE")) fprintf(stderr, "taken over %.3f s after kill -9\n", now_s() - t0);
        CHECK_MSG(now_s() - t0 < 20, "taken over only after %.1f s", now_s() - t0);
    }
    fw_store_singleton_close(b);
}


/* Two servers with a retrain schedule on one PostgreSQL home: one scheduler; kill -9 hands it over. */
static void test_two_servers(void) {
    if (!fw_test_bin()) {
        CHECK_MSG(0, "FLYWHEEL_BIN is not set (run through tests/run.sh)");
        return;
    }
    const char *home = fw_test_store_home("servers");
    if (!home) return;
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" && \"$FW\" train \"$T/pima.yaml\" --home '%s' --quiet"
                            " --models linear && \"$FW\" models promote pima@1 --home '%s' --force", home, home);
    CHECK_MSG(rc == 0, "train + promote: %s", o ? o : "");
    free(o);
    if (rc) return;
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/serve-sched.yaml", fw_test_tmpdir());
    FILE *f = fopen(cfg, "w");
    if (!f) return;
    fprintf(f, "serving:\n  store: %s\nlearn:\n  every: 2s\n  models: [pima]\n", home);
    fclose(f);
    char local[2][700];
    hc_server s[2];
    const char *args[] = {"--config", cfg, NULL};
    for (int i = 0; i < 2; i++) {
        snprintf(local[i], sizeof local[i], "%s/local-sched-%d", fw_test_tmpdir(), i);
        setenv("FLYWHEEL_LOCAL_DIR", local[i], 1); /* each its own, as on two machines */
        if (hc_server_start(&s[i], args) != 0) {
            CHECK_MSG(0, "server %d did not start", i);
            if (i) hc_server_stop(&s[0], SIGTERM);
            return;
        }
        if (i == 0) { /* the first takes the scheduler before the second starts */
            double t0 = now_s();
            while (hc_metric(s[0].port, "flywheel_learn_scheduler_held") != 1 && now_s() - t0 < 20) usleep(50000);
        }
    }
    /* a few schedule periods: only the holder starts retrains */
    double t0 = now_s();
    while (hc_metric(s[0].port, "flywheel_learn_retrains_started_total") < 1 && now_s() - t0 < 30) usleep(100000);
    usleep(2500000);
    CHECK_EQ(hc_metric(s[0].port, "flywheel_learn_scheduler_held"), 1);
    CHECK_EQ(hc_metric(s[1].port, "flywheel_learn_scheduler_held"), 0);
    CHECK(hc_metric(s[0].port, "flywheel_learn_retrains_started_total") >= 1);
    CHECK_EQ(hc_metric(s[1].port, "flywheel_learn_retrains_started_total"), 0);
    /* the holder dies: the other takes the scheduler over and runs the schedule */
    t0 = now_s();
    CHECK_EQ(hc_server_stop(&s[0], SIGKILL), 128 + SIGKILL);
    double held = 0;
    while ((held = hc_metric(s[1].port, "flywheel_learn_scheduler_held")) != 1 && now_s() - t0 < 30) usleep(50000);
    double took = now_s() - t0;
    CHECK_MSG(held == 1, "the second server never took the scheduler over");
    if (getenv("FW_TEST_VERBOSE")) fprintf(stderr, "scheduler taken over %.3f s after kill -9\n", took);
    while (hc_metric(s[1].port, "flywheel_learn_retrains_started_total") < 1 && now_s() - t0 < 40) usleep(100000);
    CHECK(hc_metric(s[1].port, "flywheel_learn_retrains_started_total") >= 1);
    CHECK_EQ(hc_server_stop(&s[1], SIGTERM), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_one_holder);
    TEST_RUN_BACKENDS(test_killed_holder);
    TEST_RUN_PG(test_two_servers);
    return fw_test_report(argv[0]);
}
