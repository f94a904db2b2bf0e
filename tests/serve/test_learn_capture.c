/* test_learn_capture.c — online learning's join cache (src/serve/learn_capture.c): a prediction's
 * values come back by request id and answering version, in the learner's order, strings intact and
 * missing values missing, exactly once; a version, an id or a model whose inputs are not the
 * learner's (other names or order) finds nothing; a peek names the answering version and takes nothing; a request whose strings do not fit is not kept;
 * two ids that hash to one slot both stay (two-way pairs); a full table keeps at most one prediction
 * a slot; and request threads putting while the
 * learning thread takes never hand back another request's values. */
#include "serve/learn_capture.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const char *const k_names[] = {"age", "city", "income"};

static fw_srv_model *model(const char *version, const char *const *names, size_t n) {
    fw_srv_model *m = fw_srv_model_new("churn", version);
    CHECK(m != NULL);
    if (m) CHECK_OK(fw_srv_model_set_inputs(m, names, n));
    return m;
}

static void test_round_trip(void) {
    fw_learn_capture *c = fw_learn_capture_new("churn", k_names, 3, 1024);
    CHECK(c != NULL);
    fw_srv_model *m = model("3", k_names, 3);
    fw_value in[3] = {{FW_VALUE_NUMBER, 41.5, NULL, 0}, {FW_VALUE_STRING, 0, "Lyon", 4}, {FW_VALUE_MISSING, 0, NULL, 0}};
    fw_learn_capture_put(c, m, "rid-1", in);
    fw_value out[3];
    char strs[FW_LEARN_CAPTURE_STR];
    CHECK(!fw_learn_capture_take(c, "rid-1", 2, out, strs, sizeof strs)); /* another version answered */
    CHECK(!fw_learn_capture_take(c, "rid-2", 3, out, strs, sizeof strs)); /* another request */
    CHECK(fw_learn_capture_take(c, "rid-1", 3, out, strs, sizeof strs));
    CHECK_EQ(out[0].kind, FW_VALUE_NUMBER);
    CHECK_NEAR(out[0].num, 41.5, 0);
    CHECK_EQ(out[1].kind, FW_VALUE_STRING);
    CHECK_EQ(out[1].len, 4);
    CHECK(out[1].str && !memcmp(out[1].str, "Lyon", 4));
    CHECK_EQ(out[2].kind, FW_VALUE_MISSING);
    CHECK(!fw_learn_capture_take(c, "rid-1", 3, out, strs, sizeof strs)); /* once */
    /* two strings side by side keep their own lengths */
    const char *const names2[] = {"a", "b", "c"};
    fw_learn_capture *c2 = fw_learn_capture_new("churn", names2, 3, 64);
    fw_srv_model *m2 = model("1", names2, 3);
    fw_value two[3] = {{FW_VALUE_STRING, 0, "xy", 2}, {FW_VALUE_STRING, 0, "", 0}, {FW_VALUE_STRING, 0, "pqrs", 4}};
    fw_learn_capture_put(c2, m2, "r", two);
    CHECK(fw_learn_capture_take(c2, "r", 1, out, strs, sizeof strs));
    CHECK(out[0].len == 2 && !memcmp(out[0].str, "xy", 2));
    CHECK_EQ(out[1].len, 0);
    CHECK(out[2].len == 4 && !memcmp(out[2].str, "pqrs", 4));
    fw_learn_capture_stats st;
    fw_learn_capture_stats_get(c, &st);
    CHECK_EQ(st.hits, 1);
    CHECK_EQ(st.misses, 3);
    fw_srv_model_unref(m);
    fw_srv_model_unref(m2);
    fw_learn_capture_free(c);
    fw_learn_capture_free(c2);
}

/* peek (the label's way to its learner on the request thread): says which version answered, takes
 * nothing, finds nothing for another id or once the example is taken. */
static void test_peek(void) {
    fw_learn_capture *c = fw_learn_capture_new("churn", k_names, 3, 1024);
    CHECK(c != NULL);
    fw_srv_model *m = model("7", k_names, 3);
    fw_value in[3] = {{FW_VALUE_NUMBER, 1, NULL, 0}, {FW_VALUE_STRING, 0, "Oslo", 4}, {FW_VALUE_NUMBER, 2, NULL, 0}};
    fw_learn_capture_put(c, m, "rid-p", in);
    int64_t v = 0;
    CHECK(!fw_learn_capture_peek(c, "rid-q", &v));
    CHECK(fw_learn_capture_peek(c, "rid-p", &v));
    CHECK_EQ(v, 7);
    CHECK(fw_learn_capture_peek(c, "rid-p", &v)); /* still there */
    fw_value out[3];
    char strs[FW_LEARN_CAPTURE_STR];
    CHECK(fw_learn_capture_take(c, "rid-p", 7, out, strs, sizeof strs));
    CHECK(out[1].len == 4 && !memcmp(out[1].str, "Oslo", 4));
    CHECK(!fw_learn_capture_peek(c, "rid-p", &v)); /* taken */
    CHECK(!fw_learn_capture_peek(c, "", &v));
    CHECK(!fw_learn_capture_peek(NULL, "rid-p", &v));
    fw_srv_model_unref(m);
    fw_learn_capture_free(c);
}

static void test_refused(void) {
    fw_learn_capture *c = fw_learn_capture_new("churn", k_names, 3, 64);
    fw_value out[3], in[3] = {{FW_VALUE_NUMBER, 1, NULL, 0}, {FW_VALUE_STRING, 0, "x", 1}, {FW_VALUE_NUMBER, 2, NULL, 0}};
    char strs[FW_LEARN_CAPTURE_STR];
    /* the served version reads its inputs in another order: nothing is kept for it */
    const char *const swapped[] = {"city", "age", "income"};
    fw_srv_model *ms = model("4", swapped, 3);
    fw_learn_capture_put(c, ms, "rid-s", in);
    CHECK(!fw_learn_capture_take(c, "rid-s", 4, out, strs, sizeof strs));
    fw_learn_capture_put(c, ms, "rid-s2", in); /* the remembered verdict */
    CHECK(!fw_learn_capture_take(c, "rid-s2", 4, out, strs, sizeof strs));
    /* strings longer than the slot's room: not kept (the label joins through the store) */
    fw_srv_model *m = model("5", k_names, 3);
    char big[FW_LEARN_CAPTURE_STR + 1];
    memset(big, 'z', sizeof big);
    fw_value in2[3] = {{FW_VALUE_NUMBER, 1, NULL, 0}, {FW_VALUE_STRING, 0, big, sizeof big}, {FW_VALUE_NUMBER, 2, NULL, 0}};
    fw_learn_capture_put(c, m, "rid-big", in2);
    CHECK(!fw_learn_capture_take(c, "rid-big", 5, out, strs, sizeof strs));
    fw_learn_capture_stats st;
    fw_learn_capture_stats_get(c, &st);
    CHECK_EQ(st.skipped, 3);
    /* a full table: a slot keeps its newest prediction, the others' labels miss */
    size_t hits = 0;
    char rid[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(rid, sizeof rid, "r%d", i);
        fw_learn_capture_put(c, m, rid, in);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(rid, sizeof rid, "r%d", i);
        if (fw_learn_capture_take(c, rid, 5, out, strs, sizeof strs)) {
            hits++;
            CHECK(out[1].len == 1 && out[1].str[0] == 'x');
        }
    }
    CHECK_MSG(hits > 0 && hits <= 64, "%zu of 1000 found in 64 slots", hits);
    fw_srv_model_unref(ms);
    fw_srv_model_unref(m);
    fw_learn_capture_free(c);
}

/* Two predictions waiting at once always both come back, however their ids hash: in a 64-slot table
 * a direct-mapped cache lost one of two in 1 of 64 tries (the learner lagging behind a burst of
 * predictions joined those through the store); a pair holds both. 2,000 tries, fresh ids each. */
static void test_pairs(void) {
    fw_learn_capture *c = fw_learn_capture_new("churn", k_names, 3, 64);
    fw_srv_model *m = model("7", k_names, 3);
    fw_value out[3], in[3] = {{FW_VALUE_NUMBER, 1, NULL, 0}, {FW_VALUE_STRING, 0, "x", 1}, {FW_VALUE_NUMBER, 2, NULL, 0}};
    char strs[FW_LEARN_CAPTURE_STR], a[32], b[32];
    size_t lost = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(a, sizeof a, "a-%d", i);
        snprintf(b, sizeof b, "b-%d", i);
        fw_learn_capture_put(c, m, a, in);
        fw_learn_capture_put(c, m, b, in);
        lost += !fw_learn_capture_take(c, a, 7, out, strs, sizeof strs);
        lost += !fw_learn_capture_take(c, b, 7, out, strs, sizeof strs);
    }
    CHECK_EQ(lost, 0);
    fw_srv_model_unref(m);
    fw_learn_capture_free(c);
}

/* Request threads put (request i: values i, 2i, "s<i>") while the learning thread takes. */
typedef struct shared {
    fw_learn_capture *c;
    fw_srv_model *m;
    atomic_int next;
    int total;
} shared;

static void *putter(void *arg) {
    shared *sh = arg;
    int i;
    char rid[32], s[32];
    while ((i = atomic_fetch_add(&sh->next, 1)) < sh->total) {
        snprintf(rid, sizeof rid, "req-%d", i);
        int n = snprintf(s, sizeof s, "s%d", i);
        fw_value in[3] = {{FW_VALUE_NUMBER, i, NULL, 0}, {FW_VALUE_STRING, 0, s, (size_t)n}, {FW_VALUE_NUMBER, 2.0 * i, NULL, 0}};
        fw_learn_capture_put(sh->c, sh->m, rid, in);
    }
    return NULL;
}

static void test_threads(void) {
    shared sh = {.c = fw_learn_capture_new("churn", k_names, 3, 4096), .m = model("2", k_names, 3), .total = 40000};
    pthread_t th[3];
    for (int t = 0; t < 3; t++) pthread_create(&th[t], NULL, putter, &sh);
    size_t found = 0, bad = 0;
    fw_value out[3];
    char strs[FW_LEARN_CAPTURE_STR], rid[32], want[32];
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < sh.total; i++) {
            snprintf(rid, sizeof rid, "req-%d", i);
            if (!fw_learn_capture_take(sh.c, rid, 2, out, strs, sizeof strs)) continue;
            found++;
            int n = snprintf(want, sizeof want, "s%d", i);
            if (out[0].num != i || out[2].num != 2.0 * i || out[1].len != (size_t)n || memcmp(out[1].str, want, (size_t)n))
                bad++;
        }
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
    CHECK_EQ(bad, 0);
    CHECK(found > 0);
    fw_srv_model_unref(sh.m);
    fw_learn_capture_free(sh.c);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_round_trip);
    TEST_RUN(test_peek);
    TEST_RUN(test_refused);
    TEST_RUN(test_pairs);
    TEST_RUN(test_threads);
    return fw_test_report(argv[0]);
}
