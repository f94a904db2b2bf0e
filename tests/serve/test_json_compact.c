/* test_json_compact.c — fw_json_compact (src/serve/logq.c), the whitespace stripping of a logged
 * request's inputs, which works eight bytes at a time where it can: byte-identical to the plain
 * one-byte-at-a-time rule on random JSON-like text (whitespace, quotes, backslash escapes, control
 * and high bytes, strings across word boundaries), in place and into another buffer, at every
 * length and alignment. */
#include "serve/logq.h"
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the rule, one byte at a time */
static size_t reference(char *dst, const char *s, size_t n) {
    char *d = dst;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            *d++ = c;
            if (c == '\\' && i + 1 < n) *d++ = s[++i];
            else if (c == '"') in_str = false;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            *d++ = c;
            in_str = c == '"';
        }
    }
    return (size_t)(d - dst);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void fill(char *b, size_t n) {
    static const char alphabet[] = "   \n\t\r\"\"\\\\abcdefgh0123456789.,:{}[]-e";
    for (size_t i = 0; i < n; i++) {
        unsigned r = next() % 100;
        if (r < 3) b[i] = (char)(next() % 32);            /* control bytes */
        else if (r < 5) b[i] = (char)(0x80 + next() % 128); /* high bytes */
        else if (r < 50) b[i] = alphabet[next() % (sizeof alphabet - 1)];
        else b[i] = (char)('a' + next() % 26);          /* runs long enough for whole words */
    }
}

static void test_matches_bytewise(void) {
    char src[700], a[720], b[720], inplace[720];
    int bad = 0;
    for (int t = 0; t < 20000; t++) {
        size_t n = next() % 600, off = next() % 8;
        fill(src, n);
        size_t na = reference(a, src, n);
        size_t nb = fw_json_compact(b, src, n);
        memcpy(inplace + off, src, n);
        size_t nc = fw_json_compact(inplace + off, inplace + off, n);
        if (na != nb || memcmp(a, b, na) != 0 || na != nc || memcmp(a, inplace + off, na) != 0) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_known(void) {
    const char *in = "{\"instances\": [{\"word_freq_make\": 0.0, \"s\": \"a b\\\" c  d\\\\\", \"long key with spaces\": 1}]}\n";
    char out[200];
    size_t n = fw_json_compact(out, in, strlen(in));
    out[n] = 0;
    CHECK_EQ(strcmp(out, "{\"instances\":[{\"word_freq_make\":0.0,\"s\":\"a b\\\" c  d\\\\\",\"long key with spaces\":1}]}"), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_known);
    TEST_RUN(test_matches_bytewise);
    return fw_test_report(argv[0]);
}
