/* test_store_log.c — the prediction log through the store interface only (store/store.h, as a
 * second back end would be driven): predictions land in one transaction, more than a multi-row
 * INSERT's worth plus a remainder; has_prediction / has_feedback find exactly what was stored; the
 * label rule (the first label stands, a second without update is 'ignored', an update supersedes)
 * and the unmatched flag are the back end's; retention started through the interface deletes the
 * oldest rows and counts them; a URL no back end claims is refused by name; the page cache bounds
 * asked for are the ones the connections run with (read back from the back end), and the
 * process's database heap stays under them while rows go in; and a sustained ingest (40 batches
 * of 512 one-KB rows with random request ids, as the server's ingest writes them) stores every row
 * without SQLite writing a temp file: its temp directory is made unusable, so a statement journal
 * spilled to disk (what 32-row INSERTs did on every batch) fails the batch instead of passing; and
 * the WAL stays bounded whether its writer runs at SCHED_IDLE (it checkpoints inline: the
 * checkpointer thread writes nothing) or at normal priority (the checkpointer thread does it). */
#include "core/clock.h"
#include "core/alloc.h"
#include "store/store.h"
#include "test.h"

#include "backend.h"
#include "db.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char home_buf[512];
static const char *new_home(const char *tag) {
    const char *h = fw_test_store_home(tag);
    snprintf(home_buf, sizeof home_buf, "%s", h ? h : "/nonexistent/home");
    fw_store *s;
    fw_err err;
    CHECK_OK(fw_store_open(home_buf, &s, &err)); /* creates the home (and migrates) */
    fw_store_close(s);
    return home_buf;
}

static void test_predictions(void) {
    const char *home = new_home("preds");
    fw_store_log *l;
    fw_err err;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    enum { N = 70 };
    char rid[N][16];
    fw_log_pred_row rows[N];
    for (int i = 0; i < N; i++) {
        snprintf(rid[i], sizeof rid[i], "r%d", i);
        rows[i] = (fw_log_pred_row){.request_id = rid[i], .ts_ms = 1000 + i, .model = "m", .version = 1 + i % 2,
                                    .input_json = i % 3 ? "{\"x\":1}xx" : NULL, .input_len = 7,
                                    .output_json = "{\"y\":2}", .output_len = 7, .latency_us = i, .outcome = "model"};
    }
    CHECK_OK(fw_store_log_put_predictions(l, rows, N, &err));
    CHECK(fw_store_log_has_prediction(l, "r69", 1069, "m", 2));
    CHECK(!fw_store_log_has_prediction(l, "r69", 1069, "m", 1)); /* another version: a shadow's record */
    CHECK(!fw_store_log_has_prediction(l, "r69", 1068, "m", 2));
    CHECK(!fw_store_log_has_prediction(l, "r70", 1070, "m", 1));
    fw_store_log_close(l);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log"), N);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log WHERE input_json IS NULL"), 24);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log WHERE input_json = '{\"x\":1}'"), N - 24);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT sum(latency_us) FROM prediction_log"), N * (N - 1) / 2);
}

static void test_feedback_rule(void) {
    const char *home = new_home("feedback");
    fw_store_log *l;
    fw_err err;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    fw_log_pred_row p = {.request_id = "known", .ts_ms = 5, .model = "m", .version = 1, .output_json = "{}",
                         .output_len = 2, .outcome = "model"};
    CHECK_OK(fw_store_log_put_predictions(l, &p, 1, &err));
    fw_log_feedback_row fb[5] = {
        {.request_id = "known", .ts_ms = 10, .label_json = "\"a\"", .value = NAN, .source = "1.2.3.4"},
        {.request_id = "known", .ts_ms = 11, .label_json = "\"b\"", .value = NAN},                 /* ignored */
        {.request_id = "known", .ts_ms = 12, .event = "click", .value = 2.5},                     /* an event */
        {.request_id = "ghost", .ts_ms = 13, .label_json = "\"c\"", .value = NAN},                /* unmatched */
        {.request_id = "local", .ts_ms = 14, .label_json = "\"d\"", .value = NAN, .matched = true}, /* known here */
    };
    CHECK_OK(fw_store_log_put_feedback(l, fb, 5, &err));
    CHECK(fb[0].matched && fb[1].matched && fb[2].matched && !fb[3].matched && fb[4].matched);
    fw_log_feedback_row upd = {.request_id = "known", .ts_ms = 20, .label_json = "\"e\"", .value = NAN, .update = true};
    CHECK_OK(fw_store_log_put_feedback(l, &upd, 1, &err));
    CHECK(fw_store_log_has_feedback(l, "known", 12, "click"));
    CHECK(!fw_store_log_has_feedback(l, "known", 12, NULL));
    CHECK(fw_store_log_has_feedback(l, "ghost", 13, NULL));
    CHECK(!fw_store_log_has_feedback(l, "ghost", 14, NULL));
    fw_store_log_close(l);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback"), 6);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback WHERE label_json = '\"a\"' AND status = 'superseded'"
                        " AND source = '1.2.3.4'"), 1);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback WHERE label_json = '\"b\"' AND status = 'ignored'"), 1);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback WHERE label_json = '\"e\"' AND status IS NULL"), 1);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback WHERE event = 'click' AND value = 2.5"), 1);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback_unmatched"), 1);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM feedback_unmatched WHERE request_id = 'ghost'"), 1);
}

static void test_retention(void) {
    const char *home = new_home("retention");
    fw_store_log *l;
    fw_err err;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    enum { N = 2500 };
    static char rid[N][16];
    static fw_log_pred_row rows[N];
    for (int i = 0; i < N; i++) {
        snprintf(rid[i], sizeof rid[i], "r%d", i);
        rows[i] = (fw_log_pred_row){.request_id = rid[i], .ts_ms = fw_wall_unix_ms(), .model = "m", .version = 1,
                                    .output_json = "{}", .output_len = 2, .outcome = "model"};
    }
    CHECK_OK(fw_store_log_put_predictions(l, rows, N, &err));
    fw_log_retention nothing = {0};
    CHECK(fw_store_log_retention_start(home, &nothing, NULL) == NULL); /* nothing bounded */
    _Atomic(unsigned long long) deleted = 0;
    fw_log_retention r = {.max_rows = 500, .interval_s = 0.05};
    fw_store_log_retention *t = fw_store_log_retention_start(home, &r, &deleted);
    CHECK(t != NULL);
    for (int i = 0; i < 400 && deleted < N - 500; i++) usleep(10000);
    fw_store_log_retention_stop(t);
    CHECK_EQ((long long)deleted, N - 500);
    fw_store_log_close(l);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log"), 500);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log WHERE request_id = 'r2000' AND id ="
                                      " (SELECT min(id) FROM prediction_log)"), 1);
}

/* The lookup of a late label's prediction: the first record of the request by model and version
 * (a shadow's record, another version, is not it), its texts as stored, NOT FOUND otherwise. */
static void test_get_prediction(void) {
    const char *home = new_home("getpred");
    fw_store_log *l;
    fw_err err;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    fw_log_pred_row rows[4] = {
        {.request_id = "a", .ts_ms = 7, .model = "m", .version = 2, .input_json = "{\"g\":\"x\"}", .input_len = 9,
         .output_json = "{\"outputs\":[[0.25]]}xx", .output_len = 20, .outcome = "model"},
        {.request_id = "a", .ts_ms = 7, .model = "m", .version = 3, .input_json = NULL,
         .output_json = "{\"outputs\":[[0.75]]}", .output_len = 20, .outcome = "model"},
        {.request_id = "a", .ts_ms = 9, .model = "m", .version = 2, .input_json = NULL,
         .output_json = "{\"outputs\":[[0.5]]}", .output_len = 19, .outcome = "model"},
        {.request_id = "b", .ts_ms = 8, .model = "m", .version = 2, .input_json = NULL,
         .output_json = "{}", .output_len = 2, .outcome = "model"},
    };
    CHECK_OK(fw_store_log_put_predictions(l, rows, 4, &err));
    fw_log_pred_found f;
    CHECK_OK(fw_store_log_get_prediction(l, "a", "m", 2, &f, &err));
    CHECK_EQ(f.ts_ms, 7);
    CHECK_STR(f.input_json, "{\"g\":\"x\"}");
    CHECK_STR(f.output_json, "{\"outputs\":[[0.25]]}");
    fw_log_pred_found_free(&f);
    CHECK_OK(fw_store_log_get_prediction(l, "a", "m", 3, &f, &err));
    CHECK(f.input_json == NULL);
    CHECK_STR(f.output_json, "{\"outputs\":[[0.75]]}");
    fw_log_pred_found_free(&f);
    CHECK_EQ(fw_store_log_get_prediction(l, "a", "m", 4, &f, &err), FW_ENOTFOUND);
    CHECK(f.output_json == NULL);
    CHECK_EQ(fw_store_log_get_prediction(l, "c", "m", 2, &f, &err), FW_ENOTFOUND);
    CHECK_EQ(fw_store_log_get_prediction(l, "b", "other", 2, &f, &err), FW_ENOTFOUND);
    fw_store_log_close(l);
}

static void test_unclaimed_home(void) {
    fw_store *s = NULL;
    fw_store_log *l = NULL;
    fw_err err;
    CHECK_EQ(fw_store_open("nosuch://db.example/fw", &s, &err), FW_EUNSUPPORTED);
    CHECK_CONTAINS(err.msg, "nosuch://db.example/fw");
    CHECK_CONTAINS(err.msg, "built in: sqlite, postgresql");
    CHECK(s == NULL);
    CHECK_EQ(fw_store_log_open("nosuch://x", &l, &err), FW_EUNSUPPORTED);
    CHECK(l == NULL);
}

static void test_cache_bounds(void) {
    const char *home = new_home("cache");
    fw_store_log *l;
    fw_err err;
    size_t w = 0, c = 0;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    CHECK_OK(fw_store_log_cache(l, &w, &c, &err));
    CHECK_EQ(w, FW_STORE_LOG_CACHE_BYTES); /* explicit, not SQLite's 2,000 KiB default */
    CHECK_EQ(c, FW_STORE_LOG_AUX_CACHE_BYTES);
    fw_store_log_close(l);
    CHECK_OK(fw_store_log_open_cache(home, 3 << 20, &l, &err));
    if (!l) return;
    CHECK_OK(fw_store_log_cache(l, &w, &c, &err));
    CHECK_EQ(w, (size_t)3 << 20);
    CHECK_EQ(c, FW_STORE_LOG_AUX_CACHE_BYTES);
    /* 20,000 rows of 1 KB with random ids (a random index insert per row): the engine's heap ends
     * under the caches' bounds plus statements and schema, not growing with the table */
    static char in[1024];
    memset(in, 'x', sizeof in);
    char rid[200][48];
    fw_log_pred_row rows[200];
    uint64_t x = 88172645463325252ull;
    for (int b = 0; b < 100; b++) {
        for (int i = 0; i < 200; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            snprintf(rid[i], sizeof rid[i], "%016llx%016llx", (unsigned long long)x, (unsigned long long)(x * 31));
            rows[i] = (fw_log_pred_row){.request_id = rid[i], .ts_ms = b * 200 + i, .model = "m", .version = 1,
                                        .input_json = in, .input_len = sizeof in, .output_json = "{}",
                                        .output_len = 2, .outcome = "model"};
        }
        CHECK_OK(fw_store_log_put_predictions(l, rows, 200, &err));
    }
    uint64_t now = 0, peak = 0;
    fw_store_memory(&now, &peak);
    if (getenv("FW_TEST_VERBOSE")) fprintf(stderr, "database heap %llu, peak %llu\n", (unsigned long long)now, (unsigned long long)peak);
    CHECK_MSG(now > 0 && now < ((size_t)3 << 20) + FW_STORE_LOG_AUX_CACHE_BYTES + (2u << 20),
              "database heap %llu bytes with a 3 MiB writer cache", (unsigned long long)now);
    fw_store_log_close(l);
}

/* Sustained ingest: every batch commits and every row is stored, with no temp file. SQLite names a
 * temp file <temp dir>/etilqs_<16 hex digits> in a buffer of its longest path (512 bytes on unix):
 * under a 480-character directory no name fits, so any temp file — the statement journal a
 * multi-row INSERT spills past 64 KiB — fails its statement. */
static void test_sustained_ingest_no_temp_files(void) {
    const char *home = new_home("sustained");
    char dir[600];
    int dl = snprintf(dir, sizeof dir, "%s/tmp", home);
    CHECK(mkdir(dir, 0700) == 0);
    while (dl < 480) { /* nested 60-character levels: each mkdir is well under NAME_MAX */
        dl += snprintf(dir + dl, sizeof dir - (size_t)dl, "/%.*s", 59, "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt");
        CHECK(mkdir(dir, 0700) == 0);
    }
    fw_store_log *l;
    fw_err err;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    char *saved = sqlite3_temp_directory;
    sqlite3_temp_directory = sqlite3_mprintf("%s", dir);
    enum { BATCHES = 40, ROWS = 512 };
    static char in[1024];
    memset(in, 'x', sizeof in);
    static char rid[ROWS][48];
    static fw_log_pred_row rows[ROWS];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int failed = 0;
    long long lat = 0, bytes = 0;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < ROWS; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            snprintf(rid[i], sizeof rid[i], "%016llx%016llx", (unsigned long long)x, (unsigned long long)(x * 31));
            rows[i] = (fw_log_pred_row){.request_id = rid[i], .ts_ms = b * ROWS + i, .model = "m", .version = 1,
                                        .input_json = in, .input_len = sizeof in - (size_t)(i % 7),
                                        .output_json = "{\"y\":1}", .output_len = 7, .latency_us = i, .outcome = "model"};
            lat += i;
            bytes += (long long)rows[i].input_len;
        }
        if (fw_store_log_put_predictions(l, rows, ROWS, &err) != FW_OK) {
            if (!failed++) fprintf(stderr, "batch %d: %s\n", b, err.msg);
        }
    }
    sqlite3_free(sqlite3_temp_directory);
    sqlite3_temp_directory = saved;
    CHECK_EQ(failed, 0);
    fw_store_log_close(l);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(*) FROM prediction_log"), BATCHES * ROWS);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT count(DISTINCT request_id) FROM prediction_log"), BATCHES * ROWS);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT sum(latency_us) FROM prediction_log"), lat);
    CHECK_EQ(HOME_INT(home, "log.db", "SELECT sum(length(input_json)) FROM prediction_log"), bytes);
}

/* bytes the thread named name has written (write/pwrite: /proc/self/task/<tid>/io wchar); -1 when no
 * such thread */
static long long thread_wchar(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    long long got = -1;
    struct dirent *e;
    while (got < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name) != 0) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/io", e->d_name);
        if (!(f = fopen(p, "r"))) continue;
        char line[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "wchar: %lld", &got) == 1) break;
        fclose(f);
    }
    closedir(d);
    return got;
}

static long long file_size(const char *home, const char *name) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", home, name);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

typedef struct wal_run {
    const char *home;
    bool idle;                   /* the writer runs at SCHED_IDLE (the spool's ingest thread) */
    int failed;
    long long wal_max, ckpt_wchar;
} wal_run;

/* 96 batches of 512 one-KB rows with random request ids (~120 MiB of WAL frames at 16 KiB pages),
 * from a thread at SCHED_IDLE or at normal priority; the WAL file's size after every batch */
static void *wal_writer(void *arg) {
    wal_run *w = arg;
    if (w->idle) {
        struct sched_param sp = {0};
        pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    }
    fw_store_log *l;
    fw_err err;
    if (fw_store_log_open(w->home, &l, &err) != FW_OK) {
        w->failed = -1;
        return NULL;
    }
    enum { BATCHES = 96, ROWS = 512 };
    static char in[1024];
    memset(in, 'x', sizeof in);
    static char rid[ROWS][48];
    static fw_log_pred_row rows[ROWS];
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < ROWS; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            snprintf(rid[i], sizeof rid[i], "%016llx%016llx", (unsigned long long)x, (unsigned long long)(x * 31));
            rows[i] = (fw_log_pred_row){.request_id = rid[i], .ts_ms = b * ROWS + i, .model = "m", .version = 1,
                                        .input_json = in, .input_len = sizeof in - (size_t)(i % 7),
                                        .output_json = "{\"y\":1}", .output_len = 7, .latency_us = i, .outcome = "model"};
        }
        if (fw_store_log_put_predictions(l, rows, ROWS, &err) != FW_OK) w->failed++;
        long long wal = file_size(w->home, "log.db-wal");
        if (wal > w->wal_max) w->wal_max = wal;
    }
    w->ckpt_wchar = thread_wchar("fw-log-ckpt"); /* before close joins it */
    fw_store_log_close(l);
    return NULL;
}

/* The WAL stays bounded whoever writes: a writer at SCHED_IDLE (the spool's ingest thread)
 * checkpoints inline, so the checkpointer thread writes nothing (its copy and fdatasync ran at
 * SCHED_BATCH, competing with the request threads during a burst) and the WAL never passes
 * CKPT_BYTES (32 MiB) by more than a batch; a writer at normal priority (the catch-up thread) hands
 * the checkpoints to the checkpointer thread and the WAL stays under CKPT_INLINE_BYTES (128 MiB). */
static void test_wal_bounded_idle_writer_checkpoints_inline(void) {
    for (int idle = 1; idle >= 0; idle--) {
        wal_run w = {.home = new_home(idle ? "wal-idle" : "wal-normal"), .idle = idle != 0};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, wal_writer, &w) == 0);
        pthread_join(t, NULL);
        CHECK_EQ(w.failed, 0);
        CHECK_EQ(HOME_INT(w.home, "log.db", "SELECT count(*) FROM prediction_log"), 96 * 512);
        if (idle) {
            CHECK_MSG(w.ckpt_wchar == 0, "the checkpointer wrote %lld bytes for a SCHED_IDLE writer", w.ckpt_wchar);
            CHECK_MSG(w.wal_max <= (40ll << 20), "WAL %lld bytes with a SCHED_IDLE writer", w.wal_max);
        } else {
            CHECK_MSG(w.wal_max <= (136ll << 20), "WAL %lld bytes with a normal-priority writer", w.wal_max);
        }
        CHECK_MSG(w.wal_max > 0, "no WAL seen");
    }
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN_BACKENDS(test_predictions);
    TEST_RUN_BACKENDS(test_feedback_rule);
    TEST_RUN_BACKENDS(test_retention);
    TEST_RUN_BACKENDS(test_get_prediction);
    TEST_RUN(test_unclaimed_home);
    TEST_RUN(test_cache_bounds);
    TEST_RUN(test_sustained_ingest_no_temp_files);
    TEST_RUN(test_wal_bounded_idle_writer_checkpoints_inline);
    return fw_test_report(argv[0]);
}
