/* test_request_id.c — tests for src/serve/request_id: an id carries the answering model's code under
 * the keys (read back only with them, changed by no client: any other digit breaks the tag), its
 * 96 random bits do not depend on the code, and the shape stays 41 characters; two processes
 * sharing the home's keys (fw_reqid_key_share) check each other's ids but never issue the same one. */
#include "serve/request_id.h"
#include "test.h"

#include <pthread.h>
#include <string.h>

static void test_code_round_trip(void) {
    fw_reqid_key k, other;
    fw_reqid_key_init(&k);
    fw_reqid_key_init(&other);
    uint32_t pima3 = fw_reqid_model_code(&k, "pima", "3"), pima4 = fw_reqid_model_code(&k, "pima", "4");
    CHECK(pima3 != 0 && pima4 != 0 && pima3 != pima4);
    CHECK(fw_reqid_model_code(&k, "pim", "a3") != pima3); /* name and version are kept apart */
    char a[48], b[48], c[48];
    fw_reqid_format(&k, 42, pima3, a);
    fw_reqid_format(&k, 42, 0, b);
    CHECK_EQ(strlen(a), FW_REQID_LEN);
    CHECK(a[32] == '-');
    CHECK(memcmp(a, b, 24) == 0); /* the random part is the request's, whatever answers */
    CHECK(strcmp(a, b) != 0);
    uint32_t code = 7;
    CHECK(fw_reqid_code(&k, a, &code));
    CHECK_EQ(code, pima3);
    CHECK(fw_reqid_code(&k, b, &code));
    CHECK_EQ(code, 0);
    /* rebinding an id is formatting it with that code */
    fw_reqid_rebind(&k, pima3, b);
    CHECK_STR(b, a);
    /* deterministic per (number, code); another number, another random part */
    fw_reqid_format(&k, 42, pima3, c);
    CHECK_STR(c, a);
    fw_reqid_format(&k, 43, pima3, c);
    CHECK(memcmp(a, c, 24) != 0);
    /* another key does not know the id; any digit changed breaks the tag */
    CHECK(!fw_reqid_issued(&other, a));
    for (int i = 0; i < FW_REQID_LEN; i++) {
        if (i == 32) continue;
        strcpy(c, a);
        c[i] = c[i] == '0' ? '1' : '0';
        CHECK_MSG(!fw_reqid_issued(&k, c), "digit %d changed and still issued", i);
    }
    CHECK(!fw_reqid_issued(&k, "r1"));
    CHECK(!fw_reqid_issued(&k, ""));
}

/* Two servers on one home (or one server restarted): the same shared bytes, their own random keys. */
static void test_shared_keys(void) {
    unsigned char shared[FW_REQID_SHARED_KEY_LEN], other_shared[FW_REQID_SHARED_KEY_LEN];
    for (int i = 0; i < FW_REQID_SHARED_KEY_LEN; i++) shared[i] = (unsigned char)(i * 37 + 11), other_shared[i] = (unsigned char)i;
    fw_reqid_key a, b, c;
    fw_reqid_key_init(&a);
    fw_reqid_key_init(&b);
    fw_reqid_key_init(&c);
    fw_reqid_key_share(&a, shared);
    fw_reqid_key_share(&b, shared);
    fw_reqid_key_share(&c, other_shared);
    uint32_t code_a = fw_reqid_model_code(&a, "churn", "1");
    CHECK_EQ(fw_reqid_model_code(&b, "churn", "1"), code_a); /* the code is the home's */
    char ia[48], ib[48];
    fw_reqid_format(&a, 0, code_a, ia);
    fw_reqid_format(&b, 0, code_a, ib);
    CHECK(memcmp(ia, ib, 24) != 0); /* the same request number, not the same id */
    uint32_t code = 0;
    CHECK(fw_reqid_code(&b, ia, &code)); /* b checks a's id and reads its model */
    CHECK_EQ(code, code_a);
    code = 0;
    CHECK(fw_reqid_code(&a, ib, &code));
    CHECK_EQ(code, code_a);
    CHECK(!fw_reqid_issued(&c, ia)); /* another home's keys do not */
    /* the shared bytes decide: the same bytes into a fresh key read the id as well */
    fw_reqid_key d;
    fw_reqid_key_init(&d);
    CHECK(!fw_reqid_issued(&d, ia));
    fw_reqid_key_share(&d, shared);
    CHECK(fw_reqid_issued(&d, ia));
}

/* The code mask and the model code are remembered per thread (a bound id re-uses both): the memo
 * is keyed by the key's bytes, not by where the key lives, so a key changed in place (shared keys
 * read after the first ids) gives the new key's mask and code at once. */
typedef struct check_job {
    const fw_reqid_key *k;
    const char *id;
    bool ok;
    uint32_t code;
} check_job;

static void *check_elsewhere(void *p) { /* a thread of its own: nothing remembered */
    check_job *j = p;
    j->ok = fw_reqid_code(j->k, j->id, &j->code);
    return NULL;
}

static void test_memo_follows_the_key(void) {
    unsigned char shared[FW_REQID_SHARED_KEY_LEN];
    for (int i = 0; i < FW_REQID_SHARED_KEY_LEN; i++) shared[i] = (unsigned char)(i * 13 + 5);
    fw_reqid_key k, fresh;
    fw_reqid_key_init(&k);
    uint32_t before = fw_reqid_model_code(&k, "pima", "3");
    char id[48], want[48];
    fw_reqid_format(&k, 7, before, id);
    CHECK(fw_reqid_issued(&k, id));
    fw_reqid_key_share(&k, shared); /* same struct, new mask and tag keys */
    uint32_t after = fw_reqid_model_code(&k, "pima", "3");
    CHECK(after != before);
    fw_reqid_key_init(&fresh);
    fw_reqid_key_share(&fresh, shared);
    CHECK_EQ(fw_reqid_model_code(&fresh, "pima", "3"), after);
    CHECK(!fw_reqid_issued(&k, id)); /* the old tag key's id */
    fw_reqid_rebind(&k, after, id);   /* the same random part under the new keys */
    uint32_t code = 0;
    CHECK(fw_reqid_code(&k, id, &code));
    CHECK_EQ(code, after);
    fw_reqid_format(&k, 7, after, want);
    CHECK_STR(id, want);
    check_job j = {&k, id, false, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, check_elsewhere, &j) == 0 && pthread_join(t, NULL) == 0);
    CHECK(j.ok && j.code == after); /* another thread reads the code back without the memo */
    CHECK_EQ(fw_reqid_model_code(&k, "pima", "4") != after, 1);
    CHECK_EQ(fw_reqid_model_code(&k, "pima", "3"), after);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_code_round_trip);
    TEST_RUN(test_shared_keys);
    TEST_RUN(test_memo_follows_the_key);
    return fw_test_report(argv[0]);
}
