/* test_learn_store.c — the store's continual-learning block through store/store.h only: the scan of
 * labelled served rows (the label in force: the first label, an update superseding it, an ignored
 * second label never counting; one row per request id of the model, the first logged; other
 * models and unlabelled predictions left out; time bounds; oldest first; stopping early; a home
 * without a log), the per-model retrain lock (taken, refused to another owner naming the holder,
 * renewed by its owner, taken over once expired, released only by its owner, independent per
 * model, from two processes at once exactly one wins) and the snapshots (content-addressed, kept
 * when intact, repaired when altered, extensions checked). */
#include "core/files.h"
#include "store/store.h"
#include "test.h"

#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char home_buf[512];
static const char *new_home(const char *tag) {
    const char *h = fw_test_store_home(tag);
    snprintf(home_buf, sizeof home_buf, "%s", h ? h : "/nonexistent/home");
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home_buf, &s, &err));
    fw_store_close(s);
    return home_buf;
}

typedef struct seen {
    char rid[32][16];
    char label[32][16];
    char input[32][32];
    int64_t ts[32], version[32];
    int n, stop_after;
} seen;

static int on_row(void *ud, const fw_learn_row *r) {
    seen *s = ud;
    if (s->n < 32) {
        snprintf(s->rid[s->n], 16, "%s", r->request_id);
        snprintf(s->label[s->n], 16, "%s", r->label_json);
        snprintf(s->input[s->n], 32, "%s", r->input_json ? r->input_json : "(null)");
        s->ts[s->n] = r->ts_ms;
        s->version[s->n] = r->version;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void pred(fw_log_pred_row *p, const char *rid, int64_t ts, const char *model, int64_t v, const char *in) {
    *p = (fw_log_pred_row){.request_id = rid, .ts_ms = ts, .model = model, .version = v, .input_json = in,
                           .input_len = in ? strlen(in) : 0, .output_json = "{}", .output_len = 2, .outcome = "model"};
}

static void test_scan(void) {
    const char *home = new_home("scan");
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    seen none = {0};
    CHECK_OK(fw_store_learn_scan(s, "m", 0, 0, on_row, &none, &err)); /* no log.db yet */
    CHECK_EQ(none.n, 0);
    fw_store_log *l;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    fw_log_pred_row p[8];
    pred(&p[0], "a", 3000, "m", 1, "{\"x\":1}");
    pred(&p[1], "b", 1000, "m", 1, "{\"x\":2}");
    pred(&p[2], "c", 2000, "m", 2, "{\"x\":3}");
    pred(&p[3], "c", 2001, "m", 3, "{\"x\":33}");     /* a shadow of the same model: counted once */
    pred(&p[4], "d", 1500, "m", 1, "{\"x\":4}");      /* never labelled */
    pred(&p[5], "e", 1200, "other", 1, "{\"x\":5}");  /* another model */
    pred(&p[6], "f", 4000, "m", 2, NULL);             /* no inputs logged: still a row (callers decide) */
    pred(&p[7], "g", 5000, "m", 2, "{\"x\":7}");      /* only an event, no label */
    CHECK_OK(fw_store_log_put_predictions(l, p, 8, &err));
    fw_log_feedback_row f[7] = {
        {.request_id = "a", .ts_ms = 9000, .label_json = "\"pos\"", .value = NAN},
        {.request_id = "a", .ts_ms = 9001, .label_json = "\"neg\"", .value = NAN},           /* ignored */
        {.request_id = "b", .ts_ms = 9002, .label_json = "1", .value = NAN},
        {.request_id = "b", .ts_ms = 9003, .label_json = "0", .value = NAN, .update = true}, /* supersedes */
        {.request_id = "c", .ts_ms = 9004, .label_json = "2.5", .value = NAN},
        {.request_id = "e", .ts_ms = 9005, .label_json = "\"pos\"", .value = NAN},
        {.request_id = "f", .ts_ms = 9006, .label_json = "\"neg\"", .value = NAN},
    };
    CHECK_OK(fw_store_log_put_feedback(l, f, 7, &err));
    fw_log_feedback_row ev = {.request_id = "g", .ts_ms = 9007, .event = "click", .value = 1};
    CHECK_OK(fw_store_log_put_feedback(l, &ev, 1, &err));
    fw_store_log_close(l);
    seen sn = {0};
    CHECK_OK(fw_store_learn_scan(s, "m", 0, 0, on_row, &sn, &err));
    CHECK_EQ(sn.n, 4);
    if (sn.n == 4) {
        /* oldest first: b (1000), c (2000), a (3000), f (4000) */
        CHECK_STR(sn.rid[0], "b");
        CHECK_STR(sn.label[0], "0"); /* the update */
        CHECK_EQ(sn.ts[0], 1000);
        CHECK_STR(sn.rid[1], "c");
        CHECK_STR(sn.input[1], "{\"x\":3}"); /* the first logged prediction */
        CHECK_EQ(sn.version[1], 2);
        CHECK_STR(sn.label[1], "2.5");
        CHECK_STR(sn.rid[2], "a");
        CHECK_STR(sn.label[2], "\"pos\""); /* the first label stands */
        CHECK_STR(sn.rid[3], "f");
        CHECK_STR(sn.input[3], "(null)");
    }
    seen win = {0};
    CHECK_OK(fw_store_learn_scan(s, "m", 1500, 3000, on_row, &win, &err)); /* [since, until) */
    CHECK_EQ(win.n, 1);
    CHECK_STR(win.rid[0], "c");
    seen stop = {.stop_after = 2};
    CHECK_OK(fw_store_learn_scan(s, "m", 0, 0, on_row, &stop, &err));
    CHECK_EQ(stop.n, 2);
    seen other = {0};
    CHECK_OK(fw_store_learn_scan(s, "other", 0, 0, on_row, &other, &err));
    CHECK_EQ(other.n, 1);
    seen nobody = {0};
    CHECK_OK(fw_store_learn_scan(s, "nobody", 0, 0, on_row, &nobody, &err));
    CHECK_EQ(nobody.n, 0);
    CHECK(fw_store_learn_scan(s, "m", 0, 0, NULL, NULL, &err) == FW_EINVAL);
    fw_store_close(s);
}

static void test_lock(void) {
    const char *home = new_home("lock");
    fw_store *s, *t;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    CHECK_OK(fw_store_open(home, &t, &err));
    char holder[128];
    CHECK_OK(fw_store_learn_lock(s, "m", "run A", 1000, 60000, holder, sizeof holder, &err));
    CHECK(fw_store_learn_lock(t, "m", "run B", 2000, 60000, holder, sizeof holder, &err) == FW_EBUSY);
    CHECK_STR(holder, "run A");
    CHECK_CONTAINS(err.msg, "a retrain of m is running (run A)");
    CHECK_OK(fw_store_learn_lock(t, "n", "run B", 2000, 60000, NULL, 0, &err)); /* per model */
    CHECK_OK(fw_store_learn_lock(s, "m", "run A", 3000, 60000, NULL, 0, &err));  /* renewed: until 63000 */
    CHECK(fw_store_learn_lock(t, "m", "run B", 62000, 60000, NULL, 0, &err) == FW_EBUSY);
    CHECK_OK(fw_store_learn_unlock(t, "m", "run B", &err)); /* not B's: nothing happens */
    CHECK(fw_store_learn_lock(t, "m", "run B", 62000, 60000, NULL, 0, &err) == FW_EBUSY);
    CHECK_OK(fw_store_learn_lock(t, "m", "run B", 63001, 60000, NULL, 0, &err)); /* expired: taken over */
    CHECK(fw_store_learn_lock(s, "m", "run A", 63002, 60000, NULL, 0, &err) == FW_EBUSY);
    CHECK_OK(fw_store_learn_unlock(t, "m", "run B", &err));
    CHECK_OK(fw_store_learn_lock(s, "m", "run A", 63003, 60000, NULL, 0, &err));
    CHECK(fw_store_learn_lock(s, "m", "", 1, 1, NULL, 0, &err) == FW_EINVAL);
    CHECK(fw_store_learn_lock(s, "m", "x", 1, 0, NULL, 0, &err) == FW_EINVAL);
    fw_store_close(s);
    fw_store_close(t);
}

/* Eight processes race for one lock: exactly one takes it. */
static void test_lock_across_processes(void) {
    const char *home = new_home("race");
    enum { N = 8 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            fw_store *s;
            fw_err err;
            char owner[32];
            snprintf(owner, sizeof owner, "proc %d", i);
            if (fw_store_open(home, &s, &err)) _exit(3);
            fw_status st = fw_store_learn_lock(s, "m", owner, 1000, 600000, NULL, 0, &err);
            fw_store_close(s);
            _exit(st == FW_OK ? 0 : st == FW_EBUSY ? 1 : 2);
        }
    }
    int won = 0, lost = 0;
    for (int i = 0; i < N; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 9;
        won += code == 0;
        lost += code == 1;
    }
    CHECK_EQ(won, 1);
    CHECK_EQ(lost, N - 1);
}

static void test_snapshots(void) {
    const char *home = new_home("snap");
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home, &s, &err));
    char hash[33], path[4200], where[4200];
    const char data[] = "x,y\n1,pos\n";
    CHECK_OK(fw_store_learn_snapshot_put(s, data, sizeof data - 1, "csv", hash, path, sizeof path, &err));
    fw_store_learn_snapshot_path(s, hash, "csv", where, sizeof where);
    CHECK_STR(path, where);
    char want[600];
    snprintf(want, sizeof want, "%s/snapshots/%.2s/%s.csv", home, hash, hash + 2);
    CHECK_STR(path, want);
    size_t len;
    char *back = fw_test_slurp(path, &len);
    CHECK(back && len == sizeof data - 1 && !memcmp(back, data, len));
    free(back);
    /* the same bytes again: the same file; an altered file is rewritten */
    char hash2[33];
    CHECK_OK(fw_store_learn_snapshot_put(s, data, sizeof data - 1, "csv", hash2, path, sizeof path, &err));
    CHECK_STR(hash, hash2);
    FILE *f = fopen(path, "wb");
    fputs("tampered", f);
    fclose(f);
    CHECK_OK(fw_store_learn_snapshot_put(s, data, sizeof data - 1, "csv", hash2, path, sizeof path, &err));
    back = fw_test_slurp(path, &len);
    CHECK(back && len == sizeof data - 1 && !memcmp(back, data, len));
    free(back);
    CHECK(fw_store_learn_snapshot_put(s, data, 3, "../x", hash2, path, sizeof path, &err) == FW_EINVAL);
    CHECK(fw_store_learn_snapshot_put(s, data, 3, "", hash2, path, sizeof path, &err) == FW_EINVAL);
    CHECK(fw_store_learn_snapshot_put(s, data, 3, "CSV", hash2, path, sizeof path, &err) == FW_EINVAL);
    fw_store_close(s);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_scan);
    TEST_RUN_BACKENDS(test_lock);
    TEST_RUN_BACKENDS(test_lock_across_processes);
    TEST_RUN(test_snapshots);
    return fw_test_report(argv[0]);
}
