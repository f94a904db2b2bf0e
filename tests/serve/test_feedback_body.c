/* test_feedback_body.c — tests for src/serve/feedback_body.c, the fast reading of a /v1/feedback
 * body: whatever it reads, jansson (json_loadb with JSON_REJECT_DUPLICATES, the server's general
 * path) reads alike — same keys, values and number types — and whatever jansson refuses, it leaves
 * alone (the caller's jansson parse then answers with its error). The common bodies take the fast
 * path; 40,000 random mutations of them never make the two disagree. */
#include "core/rng.h"
#include "serve/feedback_body.h"
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const COMMON[] = {
    "{\"request_id\":\"8b431a225e2371426d9525341e884ac5-b870c4c4\",\"label\":\"spam\"}",
    "{\"request_id\": \"r-1\", \"label\": 1}",
    "{\"request_id\":\"r-2\",\"label\":0.25,\"update\":true}",
    "{\"request_id\":\"r-3\",\"event\":\"click\",\"value\":1.5e3}",
    "{\"request_id\":\"r-4\",\"event\":\"buy\",\"value\":-12}",
    "{\"request_id\":\"r-5\",\"label\":false,\"model\":\"pima@production\"}",
    "  {\n\t\"request_id\" : \"r-6\" ,\r\n \"label\" : null , \"extra\": \"ignored\" }  \n",
    "{\"request_id\":\"r-7\",\"label\":-0}",
    "{\"request_id\":\"r-8\",\"label\":-0.0,\"update\":false}",
    "{\"request_id\":\"r-9\",\"label\":9223372036854775807}",
    "{\"request_id\":\"r-10\",\"label\":1E-5}",
    "{}",
    "{\"\":\"\"}",
};

/* Left to jansson: its object or its error decides. */
static const char *const OTHER[] = {
    "",
    "[1,2]",
    "{\"request_id\":\"caf\xc3\xa9\",\"label\":1}",          /* UTF-8: jansson checks it */
    "{\"request_id\":\"a\\\"b\",\"label\":1}",               /* an escape */
    "{\"request_id\":\"r\",\"label\":{\"x\":1}}",            /* nested */
    "{\"request_id\":\"r\",\"label\":[1]}",
    "{\"request_id\":\"r\",\"request_id\":\"s\",\"label\":1}", /* duplicate key: jansson refuses */
    "{\"request_id\":\"r\",\"label\":01}",
    "{\"request_id\":\"r\",\"label\":1.}",
    "{\"request_id\":\"r\",\"label\":.5}",
    "{\"request_id\":\"r\",\"label\":1e}",
    "{\"request_id\":\"r\",\"label\":+1}",
    "{\"request_id\":\"r\",\"label\":99999999999999999999}",  /* too big an integer */
    "{\"request_id\":\"r\",\"label\":1e400}",                  /* real overflow */
    "{\"request_id\":\"r\",\"label\":tru}",
    "{\"request_id\":\"r\",\"label\":truex}",
    "{\"request_id\":\"r\",\"label\":1,}",
    "{\"request_id\":\"r\" \"label\":1}",
    "{\"request_id\":\"r\",\"label\":1} x",
    "{\"request_id\":\"r\",\"label\":1}}",
    "{\"request_id\":\"r\",\"label\":1",
    "{request_id:\"r\"}",
    "{\"a\":\"tab\there\"}",                                  /* a raw control character */
};

static json_t *jansson(const char *s, size_t n) { return json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL); }

/* Same keys, same values, same types (json_equal: an integer never equals a real). */
static bool same(json_t *a, json_t *b) {
    if (!a || !b || !json_equal(a, b) || json_object_size(a) != json_object_size(b)) return false;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        json_t *w = json_object_get(b, k);
        if (json_typeof(v) != json_typeof(w)) return false;
        if (json_is_real(v) && memcmp(&(double){json_real_value(v)}, &(double){json_real_value(w)}, sizeof(double)))
            return false; /* -0.0 and 0.0 alike to json_equal */
    }
    return true;
}

static void test_common_bodies_read_fast_and_alike(void) {
    for (size_t i = 0; i < sizeof COMMON / sizeof *COMMON; i++) {
        size_t n = strlen(COMMON[i]);
        json_t *f = fw_feedback_body_read(COMMON[i], n), *j = jansson(COMMON[i], n);
        CHECK_MSG(f != NULL, "not read fast: %s", COMMON[i]);
        CHECK_MSG(same(f, j), "differs from jansson: %s", COMMON[i]);
        json_decref(f);
        json_decref(j);
    }
    json_t *f = fw_feedback_body_read(COMMON[2], strlen(COMMON[2]));
    CHECK(json_is_real(json_object_get(f, "label")) && json_is_true(json_object_get(f, "update")));
    json_decref(f);
    f = fw_feedback_body_read(COMMON[1], strlen(COMMON[1]));
    CHECK(json_is_integer(json_object_get(f, "label")) && json_integer_value(json_object_get(f, "label")) == 1);
    json_decref(f);
    /* a length, not a terminator, bounds the body */
    f = fw_feedback_body_read("{\"a\":1}garbage", 7);
    CHECK(f != NULL && json_integer_value(json_object_get(f, "a")) == 1);
    json_decref(f);
}

static void test_other_bodies_left_to_jansson(void) {
    for (size_t i = 0; i < sizeof OTHER / sizeof *OTHER; i++) {
        json_t *f = fw_feedback_body_read(OTHER[i], strlen(OTHER[i]));
        CHECK_MSG(f == NULL, "read fast: %s", OTHER[i]);
        json_decref(f);
    }
    CHECK(fw_feedback_body_read(NULL, 0) == NULL);
}

/* Random edits of the common bodies (a byte replaced, inserted or removed, from an alphabet of
 * JSON's own characters): whenever the fast path reads one, jansson reads the same. */
static void test_mutations_never_disagree(void) {
    static const char alphabet[] = "{}[]\":,. -+eE0123456789truefalsn\\\t\nx\x7f\xc3";
    fw_rng r;
    fw_rng_seed(&r, 14);
    size_t fast = 0, disagree = 0;
    for (int it = 0; it < 40000; it++) {
        char buf[256];
        const char *src = COMMON[fw_rng_next(&r) % (sizeof COMMON / sizeof *COMMON)];
        size_t n = strlen(src);
        memcpy(buf, src, n);
        for (int edits = 1 + (int)(fw_rng_next(&r) % 3); edits > 0; edits--) {
            size_t at = n ? fw_rng_next(&r) % n : 0;
            char c = alphabet[fw_rng_next(&r) % (sizeof alphabet - 1)];
            switch (fw_rng_next(&r) % 3) {
            case 0: if (n) buf[at] = c; break;
            case 1:
                if (n < sizeof buf - 1) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
                break;
            default:
                if (n) {
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                }
            }
        }
        json_t *f = fw_feedback_body_read(buf, n);
        if (f) {
            fast++;
            json_t *j = jansson(buf, n);
            if (!same(f, j) && disagree++ < 5) fw_test_fail(__FILE__, __LINE__, "disagree on %.*s", (int)n, buf);
            json_decref(j);
        }
        json_decref(f);
    }
    CHECK_EQ(disagree, 0);
    CHECK_MSG(fast > 4000, "only %zu of 40,000 mutations read fast", fast);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_common_bodies_read_fast_and_alike);
    TEST_RUN(test_other_bodies_left_to_jansson);
    TEST_RUN(test_mutations_never_disagree);
    return fw_test_report(argv[0]);
}
