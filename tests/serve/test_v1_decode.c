/* test_v1_decode.c — the fast /v1 body decoder (src/serve/v1_decode.c) against the jansson path:
 * a corpus of valid and invalid bodies, the serve fuzz corpus (fuzz/corpus/serve, when present) and
 * thousands of deterministic mutations of them are answered through both paths on one server and
 * must be byte-identical (fw_serve_v1_compare); the common shapes must actually take the fast path;
 * the per-input /v2 form's log text must hold the values decoded (corpus and mutations); and the
 * decoder's values are checked directly (numbers like jansson's, escapes, missing inputs,
 * the declines); whenever the /v1 decoder takes a body, the body without the whitespace runs it
 * reports (what the log queue copies) is fw_json_compact's text (corpus, fuzz corpus, mutations);
 * and the top-level scan does not read an instances array that ends the body. */
#include "core/rng.h"
#include "serve/logq.h"
#include "serve/server_int.h"
#include "serve/v1_decode.h"
#include "serve/v1_fuzz.h"
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fw_server *g_s;
static int check_gaps(const char *body, size_t len);
static int g_gapped; /* bodies check_gaps compared */

/* Compares one body on every fuzz route; returns how many routes the fast path answered. */
static int compare_all(const char *body, size_t len) {
    int fast_n = 0;
    for (size_t i = 0; i < fw_serve_fuzz_v1_n_paths; i++) {
        static char why[8192];
        bool fast = false;
        int rc = fw_serve_v1_compare(g_s, fw_serve_fuzz_v1_paths[i], body, len, &fast, why, sizeof why);
        CHECK_MSG(rc == 0, "%s body %.*s\n%s", fw_serve_fuzz_v1_paths[i], (int)(len > 300 ? 300 : len), body, why);
        fast_n += fast;
    }
    return fast_n;
}

static const char *const CORPUS[] = {
    /* common shapes (fast) */
    "{\"instances\":[{\"a\":1,\"b\":0.2,\"c\":3}]}",
    "{\"instances\":[{\"a\":1.5e-3,\"b\":-2,\"c\":1E+2},{\"c\":0,\"b\":true,\"a\":false}],\"entity_id\":\"u1\"}",
    "{\"entity_id\":42,\"instances\":[{\"x\":0.5,\"y\":1e3}]}",
    "{\"entity_id\":-7,\"instances\":[{\"x\":-0,\"y\":-0.0}]}",
    "{\"entity_id\":null,\"instances\":[{}]}",
    " \n\t{ \"instances\" : [ { \"a\" : 1 , \"b\" : null } , { } ] , \"entity_id\" : \"e\\\"q\\\\\" } \r\n",
    "{\"instances\":[{\"a\":\"2\",\"b\":\"x\\ty\",\"c\":\"\"}]}",
    "{\"instances\":[{\"a\":1,\"zz\":3,\"yy\":\"s\"},{\"zz\":4}]}",
    "{\"instances\":[{\"x\":1,\"q\":[1]}]}",
    "{\"instances\":[{\"f0\":1,\"f1\":2,\"f2\":3,\"f3\":4,\"f5\":5,\"f4\":6,\"f23\":7,\"f22\":8,\"f10\":9}]}",
    "{\"instances\":[{\"f23\":1,\"f0\":2},{\"f12\":123456789012345678,\"f13\":-123456789012345678}]}",
    "{\"instances\":[{\"a\":1e308,\"b\":4.9e-324,\"c\":2.2250738585072014e-308}]}",
    "{\"instances\":[{\"a\":0.1,\"b\":0.30000000000000004,\"c\":123.456e-7}]}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":\"\\/\\b\\f\\n\\r\\t\"}",
    /* v2 row tensors (fast on the v2 routes) */
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[0.5,-3]}]}",
    "{\"id\":\"r1\",\"inputs\":[{\"name\":\"row\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[[1,2],[null,true]]}]}",
    ("{\"inputs\":[{\"data\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,\"24\"],\"datatype\":\"FP64\","
     "\"shape\":[1,24],\"name\":\"x\"}]}"),
    /* v2 tensors named by inputs (fast on the v2 routes): absent inputs missing, [n] or [n, 1] */
    "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"y\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}",
    ("{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"b\",\"shape\":[1],"
     "\"datatype\":\"FP64\",\"data\":[0.2]},{\"name\":\"c\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[3]}]}"),
    ("{\"id\":\"q\",\"inputs\":[{\"datatype\":\"FP64\",\"name\":\"c\",\"shape\":[2,1],\"data\":[[1],[2]]},"
     "{\"name\":\"a\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"x\",null]}]}"),
    /* declined: the jansson path answers (errors or warnings) */
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}",
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"b\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[2,3]}]}",
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"nope\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[2]}]}",
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2,1],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
    "{\"inputs\":[{\"name\":\"a\",\"shape\":[],\"datatype\":\"FP64\",\"data\":[1]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[0.5]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[[[0.5,1]]]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[0,2],\"datatype\":\"FP64\",\"data\":[]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1.0,2],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"data\":[1,2]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,2]}],\"outputs\":[{\"name\":\"score\"}]}",
    "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,{}]}]}",
    "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,2],\"name\":\"b\"}]}",
    "{\"inputs\":[]}",
    "",
    "   ",
    "[]",
    "{}",
    "{\"instances\":[]}",
    "{\"instances\":{}}",
    "{\"instances\":[1]}",
    "{\"instances\":[{\"a\":1}],\"extra\":1}",
    "{\"instances\":[{\"a\":1}],\"instances\":[{\"a\":2}]}",
    "{\"instances\":[{\"a\":1,\"a\":2}]}",
    "{\"instances\":[{\"a\":null,\"a\":2}]}",
    "{\"instances\":[{\"zz\":1,\"zz\":2}]}",
    "{\"instances\":[{\"a\":{\"b\":1}}]}",
    "{\"instances\":[{\"a\":[1,2]}]}",
    "{\"instances\":[{\"a\":01}]}",
    "{\"instances\":[{\"a\":1.}]}",
    "{\"instances\":[{\"a\":.5}]}",
    "{\"instances\":[{\"a\":+1}]}",
    "{\"instances\":[{\"a\":1e}]}",
    "{\"instances\":[{\"a\":-}]}",
    "{\"instances\":[{\"a\":1e999}]}",
    "{\"instances\":[{\"a\":-1e999}]}",
    "{\"instances\":[{\"a\":1234567890123456789}]}",
    "{\"instances\":[{\"a\":99999999999999999999}]}",
    "{\"instances\":[{\"a\":-9223372036854775808}]}",
    "{\"instances\":[{\"a\":\"\\u0041\"}]}",
    "{\"instances\":[{\"a\":\"\\u0000\"}]}",
    "{\"instances\":[{\"a\":\"caf\xc3\xa9\"}]}",
    "{\"instances\":[{\"a\":\"\xff\"}]}",
    "{\"instances\":[{\"a\":\"tab\there\"}]}",
    "{\"instances\":[{\"a\":\"\\x\"}]}",
    "{\"instances\":[{\"\\u0061\":1}]}",
    "{\"instances\":[{\"a\\n\":1}]}",
    "{\"instances\":[{\"a\":tru}]}",
    "{\"instances\":[{\"a\":truex}]}",
    "{\"instances\":[{\"a\":nul}]}",
    "{\"instances\":[{\"a\":1,}]}",
    "{\"instances\":[{\"a\":1},]}",
    "{\"instances\":[{\"a\":1}]",
    "{\"instances\":[{\"a\":1}]}}",
    "{\"instances\":[{\"a\":1}]} x",
    "{\"instances\":[{\"a\" 1}]}",
    "{\"instances\":[{a:1}]}",
    "{'instances':[{'a':1}]}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":1.5}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":true}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":[\"x\"]}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":12345678901234567890}",
    "{\"instances\":[{\"a\":1}],\"entity_id\":\"\\u00e9\"}",
    "{\"entity_id\":\"u\"}",
    "{\"instances\":[{\"a\":\"]\"}],\"entity_id\":\"}\"}",
    "{\"instances\":[{\"a\":\"\\\"]\"}]}",
    ("{\"instances\":[{\"z1\":1,\"z2\":1,\"z3\":1,\"z4\":1,\"z5\":1,\"z6\":1,\"z7\":1,\"z8\":1,\"z9\":1,"
     "\"z10\":1,\"z11\":1,\"z12\":1,\"z13\":1,\"z14\":1,\"z15\":1,\"z16\":1,\"z17\":1}]}"),
};

static int check_v2_log_text(const char *body, size_t len);

static void test_corpus(void) {
    if (!g_s) return;
    int fast_bodies = 0;
    int logged = 0;
    for (size_t i = 0; i < sizeof CORPUS / sizeof *CORPUS; i++) {
        fast_bodies += compare_all(CORPUS[i], strlen(CORPUS[i])) > 0;
        logged += check_v2_log_text(CORPUS[i], strlen(CORPUS[i]));
        g_gapped += check_gaps(CORPUS[i], strlen(CORPUS[i]));
    }
    CHECK(logged >= 3); /* the three per-input bodies at least */
    /* a body with an embedded NUL after the JSON */
    static const char nul[] = "{\"instances\":[{\"a\":1}]}\0";
    compare_all(nul, sizeof nul - 1);
    /* the first 20 bodies are common shapes: each must be answered by the fast path somewhere */
    CHECK_MSG(fast_bodies >= 20, "only %d corpus bodies took the fast path", fast_bodies);
    /* a predict of a common body on the binary model is fast, and gives the documented answer */
    bool fast = false;
    char why[4096];
    const char *b = "{\"instances\":[{\"a\":1,\"b\":0.2,\"c\":3}]}";
    CHECK_EQ(fw_serve_v1_compare(g_s, "/v1/models/m:predict", b, strlen(b), &fast, why, sizeof why), 0);
    CHECK(fast);
    /* the environment switch forces jansson */
    CHECK(!g_s->slow_decode);
}

/* Files in a directory (each a fuzz input: selector byte + body). */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        size_t len;
        char *data = fw_test_slurp(p, &len);
        if (!data) continue;
        if (len > 0) compare_all(data + 1, len - 1);
        if (len > 0) g_gapped += check_gaps(data + 1, len - 1);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

static void test_fuzz_corpus(void) {
    if (!g_s) return;
    int n = replay_dir("fuzz/corpus/serve");
    if (n < 0) n = replay_dir("../fuzz/corpus/serve");
    if (n < 0) {
        printf("  (fuzz/corpus/serve not found: skipped)\n");
        return;
    }
    CHECK(n > 0);
    int k = replay_dir("tests/serve/fixtures/v1_bodies");
    if (k < 0) k = replay_dir("../tests/serve/fixtures/v1_bodies");
    CHECK(k > 0);
}

static fw_srv_model *acquire(const char *name);

/* Whenever the fast decoder takes a /v2 body in the per-input form, the text it gives the log must
 * be JSON in the /v1 shape with one instance per row and, input by input, the values it decoded
 * (an input without a tensor absent, null for a missing value). Returns how many models' decodes
 * it checked. */
static int check_v2_log_text(const char *body, size_t len) {
    static const char *const names[] = {"m", "mc", "w"};
    int checked = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        fw_srv_model *m = acquire(names[i]);
        if (!m) continue;
        fw_v2_decoded d;
        if (fw__v2_decode_rows(m, body, len, &d) && d.log_text) {
            checked++;
            json_error_t je;
            json_t *j = json_loadb(d.log_text, d.log_len, JSON_REJECT_DUPLICATES, &je);
            json_t *inst = json_object_get(j, "instances");
            CHECK_MSG(j && json_array_size(inst) == (size_t)d.rows, "log text %.*s (body %.*s): %s", (int)d.log_len,
                      d.log_text, (int)(len > 300 ? 300 : len), body, j ? "rows differ" : je.text);
            for (long r = 0; j && r < d.rows && (size_t)r < json_array_size(inst); r++)
                for (size_t k = 0; k < m->n_inputs; k++) {
                    json_t *v = json_object_get(json_array_get(inst, (size_t)r), m->input_names[k]);
                    const fw_value *x = &d.vals[(size_t)r * m->n_inputs + k];
                    bool same = !v ? x->kind == FW_VALUE_MISSING
                                : json_is_null(v) ? x->kind == FW_VALUE_MISSING
                                : json_is_number(v) ? x->kind == FW_VALUE_NUMBER && x->num == json_number_value(v)
                                : json_is_true(v) ? x->kind == FW_VALUE_NUMBER && x->num == 1
                                : json_is_false(v) ? x->kind == FW_VALUE_NUMBER && x->num == 0
                                : json_is_string(v) && x->kind == FW_VALUE_STRING && x->len == json_string_length(v) &&
                                      memcmp(x->str, json_string_value(v), x->len) == 0;
                    CHECK_MSG(same, "row %ld input %s: log text %.*s disagrees with the decoded value", r,
                              m->input_names[k], (int)d.log_len, d.log_text);
                }
            json_decref(j);
        }
        fw_srv_model_unref(m);
    }
    return checked;
}

/* Deterministic mutations of the corpus: the differential fuzzer's replay in the test suite. */
static void test_mutations(void) {
    if (!g_s) return;
    fw_rng rng;
    fw_rng_seed(&rng, 20261123);
    static const char pieces[] = "\"\\{}[],:0123456789-+.eEtrufalsn \n\tu/xabcf";
    static const char *const snippets[] = {"\"a\":1", "\"zz\":2", ",", "\"", "\\u0041", "\\n", "null", "1e999",
                                           "{}", "[", "]", "\"f3\":", "-0", "12345678901234567890", "\xc3\xa9"};
    char buf[1024];
    int fast_n = 0, total = 0, logged = 0;
    for (int it = 0; it < 6000; it++) {
        const char *seed = CORPUS[fw_rng_below(&rng, 20)];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = fw_rng_below(&rng, 3) ? 1 : 2 + (int)fw_rng_below(&rng, 2);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = (size_t)fw_rng_below(&rng, len);
            switch (fw_rng_below(&rng, 5)) {
            case 0: buf[at] = pieces[fw_rng_below(&rng, sizeof pieces - 1)]; break;
            case 1: /* delete a byte */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            case 2: { /* insert a snippet */
                const char *s = snippets[fw_rng_below(&rng, sizeof snippets / sizeof *snippets)];
                size_t sl = strlen(s);
                if (len + sl >= sizeof buf) break;
                memmove(buf + at + sl, buf + at, len - at);
                memcpy(buf + at, s, sl);
                len += sl;
                break;
            }
            case 3: len = at; break; /* truncate */
            default: buf[at] = (char)fw_rng_below(&rng, 256); break;
            }
        }
        fast_n += compare_all(buf, len) > 0;
        logged += check_v2_log_text(buf, len);
        g_gapped += check_gaps(buf, len);
        total++;
    }
    /* and single edits of the three per-input /v2 bodies (CORPUS[17..19]), for their log text */
    for (int it = 0; it < 3000; it++) {
        const char *seed = CORPUS[17 + fw_rng_below(&rng, 3)];
        size_t len = strlen(seed), at = (size_t)fw_rng_below(&rng, len);
        memcpy(buf, seed, len);
        if (fw_rng_below(&rng, 2)) buf[at] = pieces[fw_rng_below(&rng, sizeof pieces - 1)];
        else memmove(buf + at, buf + at + 1, --len - at);
        logged += check_v2_log_text(buf, len);
    }
    printf("  %d mutated bodies, %d answered by the fast path on some route; %d per-input /v2 log texts checked\n",
           total, fast_n, logged);
    CHECK(logged > 150); /* 255 with this seed: the edits reach the accepting side */
    CHECK(fast_n > 200); /* the mutations must reach the fast path's accepting side too */
}

/* Whenever the /v1 decoder takes a body for a model, the body without the whitespace runs it
 * reports must be fw_json_compact's text of it. Returns how many models' decodes it compared. */
static int check_gaps(const char *body, size_t len) {
    static const char *const names[] = {"m", "mc", "w"};
    static char a[4096], b[4096];
    int checked = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names && len <= sizeof a; i++) {
        fw_srv_model *m = acquire(names[i]);
        if (!m) continue;
        fw_v1_top top;
        fw_v1_decoded d;
        if (fw__v1_scan_top(body, len, &top) && fw__v1_decode(m, &top, &d)) {
            checked++;
            CHECK_MSG(d.gaps != NULL || d.n_gaps == 0, "no runs reported for %.*s", (int)len, body);
            size_t want = fw_json_compact(a, body, len);
            size_t got = fw_json_compact_gaps(b, body, len, d.gaps, d.n_gaps);
            CHECK_MSG(got == want && memcmp(a, b, want) == 0, "body %.*s\n  compact %.*s\n  by runs %.*s", (int)len,
                      body, (int)want, a, got == (size_t)-1 ? 4 : (int)got, got == (size_t)-1 ? "(-1)" : b);
        }
        fw_srv_model_unref(m);
    }
    return checked;
}

/* The top-level scan leaves an instances array that ends the body to the decoder (one read of it,
 * not two): a broken array there passes the scan and the decoder declines it; in the middle of the
 * body it is still skipped over by the scan. And runs: a body decoded twice reports the same runs;
 * bad runs are refused by the copy. */
static void test_scan_leaves_last_array(void) {
    if (!g_s) return;
    fw_srv_model *m = acquire("m");
    CHECK(m != NULL);
    if (!m) return;
    fw_v1_top top;
    fw_v1_decoded d;
    const char *open_str = "{\"instances\":[{\"a\":\"x]} \n";
    CHECK(fw__v1_scan_top(open_str, strlen(open_str), &top)); /* never read: the decoder's to refuse */
    CHECK(top.inst == open_str + 13 && top.inst_len == strlen(open_str) - 13 - 3);
    CHECK(!fw__v1_decode(m, &top, &d));
    const char *mid = "{\"instances\":[{\"a\":\"x]},\"entity_id\":\"e\"}";
    CHECK(!fw__v1_scan_top(mid, strlen(mid), &top)); /* the open string runs to the end */
    const char *two = "{\"instances\":[{\"a\":1}],\"entity_id\":\"e\",\"x\":[1]}";
    CHECK(!(fw__v1_scan_top(two, strlen(two), &top) && fw__v1_decode(m, &top, &d)));
    const char *ok = " { \"entity_id\" : 7 , \"instances\" : [ { \"a\" : 1 } ,{\"b\":\" x \"} ] } ";
    CHECK(fw__v1_scan_top(ok, strlen(ok), &top));
    CHECK_STR(top.entity, "7");
    CHECK(fw__v1_decode(m, &top, &d));
    CHECK_EQ(d.n_gaps, 17);
    char a[200], b[200];
    size_t n1 = fw_json_compact_gaps(a, ok, strlen(ok), d.gaps, d.n_gaps);
    CHECK(n1 == strlen("{\"entity_id\":7,\"instances\":[{\"a\":1},{\"b\":\" x \"}]}") &&
          memcmp(a, "{\"entity_id\":7,\"instances\":[{\"a\":1},{\"b\":\" x \"}]}", n1) == 0);
    CHECK(fw__v1_decode(m, &top, &d)); /* again: the same runs */
    CHECK_EQ(d.n_gaps, 17);
    CHECK(fw_json_compact_gaps(b, ok, strlen(ok), d.gaps, d.n_gaps) == n1 && memcmp(a, b, n1) == 0);
    /* another body scanned since: no runs for the first */
    fw_v1_top top2;
    CHECK(fw__v1_scan_top(two, strlen(two), &top2));
    CHECK(fw__v1_decode(m, &top, &d) && d.gaps == NULL && d.n_gaps == 0);
    uint32_t bad[] = {5, 2, 3, 1};                     /* not ascending */
    CHECK(fw_json_compact_gaps(a, ok, strlen(ok), bad, 2) == (size_t)-1);
    uint32_t out[] = {(uint32_t)strlen(ok) - 1, 2}; /* past the end */
    CHECK(fw_json_compact_gaps(a, ok, strlen(ok), out, 1) == (size_t)-1);
    fw_srv_model_unref(m);
}

static fw_srv_model *acquire(const char *name) {
    fw_srv_target t;
    fw_err err;
    if (fw__resolve(g_s, name, "production", NULL, NULL, 0, &t, &err) != FW_OK) return NULL;
    fw_srv_model *m = t.m;
    t.m = NULL;
    fw__target_release(&t);
    return m;
}

static void test_decoder_values(void) {
    if (!g_s) return;
    fw_srv_model *m = acquire("m");
    CHECK(m != NULL);
    if (!m) return;
    const char *b = "{\"instances\":[{\"c\":\"x\\\"y\",\"a\":-12,\"zz\":1},{\"b\":2.5e-1,\"a\":true,\"c\":null}],"
                    "\"entity_id\":\"e\\n1\"}";
    fw_v1_top top;
    CHECK(fw__v1_scan_top(b, strlen(b), &top));
    CHECK_STR(top.entity, "e\n1");
    fw_v1_decoded d;
    CHECK(fw__v1_decode(m, &top, &d));
    CHECK_EQ(d.n, 2);
    if (d.n == 2) {
        const fw_value *v = d.vals;
        CHECK_EQ(v[0].kind, FW_VALUE_NUMBER);
        CHECK(v[0].num == -12.0);
        CHECK_EQ(v[1].kind, FW_VALUE_MISSING);
        CHECK_EQ(v[2].kind, FW_VALUE_STRING);
        CHECK(v[2].len == 3 && memcmp(v[2].str, "x\"y", 3) == 0);
        CHECK(v[3].kind == FW_VALUE_NUMBER && v[3].num == 1.0);
        CHECK(v[4].kind == FW_VALUE_NUMBER && v[4].num == 0.25);
        CHECK_EQ(v[5].kind, FW_VALUE_MISSING);
    }
    CHECK_EQ(d.n_unknown, 1);
    CHECK(d.unknown[0].inst == 0 && d.unknown[0].len == 2 && memcmp(d.unknown[0].key, "zz", 2) == 0);
    /* integer entity formatted like jansson's %lld; -0 is 0 */
    const char *b2 = "{\"entity_id\":-0,\"instances\":[{\"a\":-0}]}";
    CHECK(fw__v1_scan_top(b2, strlen(b2), &top));
    CHECK_STR(top.entity, "0");
    CHECK(fw__v1_decode(m, &top, &d));
    CHECK(d.n == 1 && d.vals[0].num == 0.0 && !signbit(d.vals[0].num));
    /* declines */
    const char *no[] = {"{\"instances\":[{\"a\":1,\"a\":1}]}", "{\"instances\":[{\"a\":\"\\u0041\"}]}",
                        "{\"instances\":[{\"a\":1e400}]}", "{\"instances\":[]}", "{\"instances\":[{\"a\":[1]}]}"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        bool ok = fw__v1_scan_top(no[i], strlen(no[i]), &top) && fw__v1_decode(m, &top, &d);
        CHECK_MSG(!ok, "accepted %s", no[i]);
    }
    /* v2, one tensor per input: scattered into rows, absent inputs missing, nesting [n, 1] */
    const char *t = "{\"inputs\":[{\"name\":\"c\",\"shape\":[2,1],\"datatype\":\"BYTES\",\"data\":[[\"p\"],[\"q\\\"\"]]},"
                    "{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1.5,null]}],\"id\":\"r9\"}";
    fw_v2_decoded d2;
    CHECK(fw__v2_decode_rows(m, t, strlen(t), &d2));
    CHECK_EQ(d2.rows, 2);
    CHECK_STR(d2.id, "r9");
    if (d2.rows == 2) {
        const fw_value *v = d2.vals; /* inputs a, b, c */
        CHECK(v[0].kind == FW_VALUE_NUMBER && v[0].num == 1.5);
        CHECK_EQ(v[1].kind, FW_VALUE_MISSING);
        CHECK(v[2].kind == FW_VALUE_STRING && v[2].len == 1 && v[2].str[0] == 'p');
        CHECK_EQ(v[3].kind, FW_VALUE_MISSING);
        CHECK_EQ(v[4].kind, FW_VALUE_MISSING);
        CHECK(v[5].kind == FW_VALUE_STRING && v[5].len == 2 && memcmp(v[5].str, "q\"", 2) == 0);
    }
    /* logged in the /v1 shape: inputs in the model's order, values as sent, the id kept */
    CHECK(d2.log_text && d2.log_len == strlen("{\"instances\":[{\"a\":1.5,\"c\":\"p\"},{\"a\":null,\"c\":\"q\\\"\"}],\"id\":\"r9\"}") &&
          memcmp(d2.log_text, "{\"instances\":[{\"a\":1.5,\"c\":\"p\"},{\"a\":null,\"c\":\"q\\\"\"}],\"id\":\"r9\"}", d2.log_len) == 0);
    /* the row tensor still decodes in place */
    const char *rt = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[[4,5,6]]}]}";
    CHECK(fw__v2_decode_rows(m, rt, strlen(rt), &d2));
    CHECK(d2.rows == 1 && d2.vals[0].num == 4 && d2.vals[2].num == 6 && d2.id == NULL && d2.log_text == NULL);
    const char *no2[] = {
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},{\"name\":\"b\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"zz\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP64\",\"data\":[1,2]}]}",
    };
    for (size_t i = 0; i < sizeof no2 / sizeof *no2; i++) CHECK_MSG(!fw__v2_decode_rows(m, no2[i], strlen(no2[i]), &d2), "accepted %s", no2[i]);
    fw_srv_model_unref(m);
}

/* One random JSON number's text into b (returns its length): a sign, an integer part of 0 to 25
 * digits, a fraction of 1 to 25 digits, an exponent of up to 3 digits, in every combination, with
 * the digit counts around the fast path's bounds (19 digits, 2^53, 10^±22) and runs of 0s and 9s. */
static size_t random_number(fw_rng *r, char *b) {
    static const char *const EDGE[] = {"9007199254740992", "9007199254740993", "9007199254740991",
                                       "18014398509481985", "4.9e-324", "2.2250738585072011e-308",
                                       "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623159e308",
                                       "1e22", "1e23", "1e-22", "1e-23", "123456789012345678", "1234567890123456789",
                                       "0.30000000000000004", "9999999999999999999", "0.1e-22", "89255.0e-22",
                                       "8.98846567431158e307", "2.4703282292062327e-324", "-0.0", "-0", "0e999"};
    size_t n = 0;
    if (fw_rng_below(r, 50) == 0) {
        const char *e = EDGE[fw_rng_below(r, sizeof EDGE / sizeof *EDGE)];
        n = strlen(e);
        memcpy(b, e, n);
        return n;
    }
    if (fw_rng_below(r, 2)) b[n++] = '-';
    unsigned style = (unsigned)fw_rng_below(r, 4); /* digits: random, 9s, 0s after a 1, 5s */
    size_t id = fw_rng_below(r, 5) == 0 ? 0 : (size_t)fw_rng_below(r, 26);
    bool frac = fw_rng_below(r, 4) != 0, ex = fw_rng_below(r, 3) == 0;
    if (id == 0) {
        b[n++] = '0';
    } else {
        for (size_t i = 0; i < id; i++) {
            char c = style == 0 ? (char)('0' + fw_rng_below(r, 10)) : style == 1 ? '9' : style == 2 ? (i ? '0' : '1') : '5';
            b[n++] = i == 0 && c == '0' ? '7' : c;
        }
    }
    if (frac || (id == 0 && !ex)) {
        b[n++] = '.';
        size_t fd = 1 + (size_t)fw_rng_below(r, fw_rng_below(r, 2) ? 6 : 25);
        for (size_t i = 0; i < fd; i++)
            b[n++] = style == 0 ? (char)('0' + fw_rng_below(r, 10)) : style == 1 ? '9' : style == 2 ? '0' : '5';
        if (style >= 2 && fw_rng_below(r, 2)) b[n - 1] = '1';
    }
    if (ex) {
        b[n++] = fw_rng_below(r, 2) ? 'e' : 'E';
        unsigned sg = (unsigned)fw_rng_below(r, 3);
        if (sg) b[n++] = sg == 1 ? '-' : '+';
        long e = fw_rng_below(r, 3) ? (long)fw_rng_below(r, 30) : (long)fw_rng_below(r, 400);
        n += (size_t)snprintf(b + n, 8, "%ld", e);
    }
    return n;
}

/* The decoder's numbers are strtod's doubles bit for bit, over random and edge-case texts (the
 * one-pass scan with its exact fast path, and fw_decimal_parse behind it; integers as jansson's
 * json_integer, so "-0" is 0); a text is declined only
 * when jansson decides (an integer past 18 digits) or strtod overflows. FW_NUMBERS=N: that many. */
static void test_numbers_like_strtod(void) {
    if (!g_s) return;
    fw_srv_model *m = acquire("m");
    CHECK(m != NULL);
    if (!m) return;
    const char *env = getenv("FW_NUMBERS");
    long total = env ? atol(env) : 300000;
    fw_rng r;
    fw_rng_seed(&r, 20261207);
    char body[128], num[96];
    long bad = 0, declined = 0;
    for (long i = 0; i < total && bad < 10; i++) {
        size_t n = random_number(&r, num);
        num[n] = 0;
        int bl = snprintf(body, sizeof body, "{\"instances\":[{\"a\":%s}]}", num);
        fw_v1_top top;
        fw_v1_decoded d;
        bool is_int = !strpbrk(num, ".eE");
        /* an integer is jansson's json_integer as a double ("-0" is 0); a real strtod's */
        double want = is_int ? (double)strtoll(num, NULL, 10) : strtod(num, NULL);
        size_t digits = strspn(num + (num[0] == '-'), "0123456789");
        bool ok = fw__v1_scan_top(body, (size_t)bl, &top) && fw__v1_decode(m, &top, &d);
        if (!ok) {
            declined++;
            bool may = (is_int && digits > 18) || isinf(want);
            CHECK_MSG(may, "declined %s (strtod %.17g)", num, want);
            bad += !may;
            continue;
        }
        double got = d.vals[0].num;
        bool same = d.vals[0].kind == FW_VALUE_NUMBER && memcmp(&got, &want, sizeof got) == 0;
        CHECK_MSG(same, "%s: decoded %.17g, strtod %.17g", num, got, want);
        bad += !same;
    }
    printf("  %ld numbers against strtod, %ld declined (long integers, overflow)\n", total, declined);
    fw_srv_model_unref(m);
}

/* Replies stay valid JSON when the body holds invalid UTF-8 (jansson's error text quotes it):
 * fuzz/known/serve/open-error-reply-invalid-utf8, and the JSON string writer directly. */
static void test_invalid_utf8_reply(void) {
    fw_buf b;
    fw_buf_init(&b);
    fw_json_put_strn(&b, "a\xff\xc3\xa9\xe2\x82", 6);
    CHECK(b.len == 23 && memcmp(b.data, "\"a\\ufffd\xc3\xa9\\ufffd\\ufffd\"", 23) == 0);
    fw_buf_free(&b);
    if (!g_s) return;
    const char *bodies[] = {"\"\x8d\xa3\xa3\xdd\x15", "{\"instances\":[{\"x\":\"\xff\"}]}", "{\"\xc0\xaf\":1}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        fw_route rt;
        fw_route_match("POST", "/v1/models/mc/versions/1:predict", &rt);
        fw_reply r;
        memset(&r, 0, sizeof r);
        fw_buf_init(&r.body);
        fw__api_predict(g_s, &rt, bodies[i], strlen(bodies[i]), false, &r);
        json_error_t je;
        json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, &je);
        CHECK_MSG(j != NULL, "reply is not JSON (%s): %.*s", je.text, (int)r.body.len, (const char *)r.body.data);
        json_decref(j);
        CHECK_EQ(r.code, 400);
        fw_srv_model_unref(r.hold);
        fw_buf_free(&r.body);
    }
}

int main(int argc, char **argv) {
    (void)argc;
    g_s = fw_serve_fuzz_v1_server();
    CHECK(g_s != NULL);
    TEST_RUN(test_corpus);
    TEST_RUN(test_decoder_values);
    TEST_RUN(test_numbers_like_strtod);
    TEST_RUN(test_fuzz_corpus);
    TEST_RUN(test_mutations);
    TEST_RUN(test_invalid_utf8_reply);
    TEST_RUN(test_scan_leaves_last_array);
    if (g_s) {
        printf("  %d /v1 decodes: whitespace runs checked against fw_json_compact\n", g_gapped);
        CHECK_MSG(g_gapped > 300, "only %d decodes had their runs checked", g_gapped);
    }
    return fw_test_report(argv[0]);
}
