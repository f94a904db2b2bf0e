/* fuzz_feedback_body.c — libFuzzer target for the fast /v1/feedback body reader
 * (src/serve/feedback_body.c), checked against jansson on every input:
 *   - whenever fw_feedback_body_read returns an object, json_loadb(JSON_REJECT_DUPLICATES) of the
 *     same bytes returns one too, with the same keys, the same values and the same types (an
 *     integer never stands for a real) and the same bits for reals (the sign of zero included);
 *   - the reader never reads past the length it is given (ASan: the input is an exact-size buffer).
 * A NULL from the fast reader decides nothing (the server then parses with jansson), so inputs it
 * declines are not compared. Seeds: fuzz/corpus/feedback_body/. Build and run: fuzz/README.md. */
#include "serve/feedback_body.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fw_fuzz_feedback_body_same(json_t *a, json_t *b) {
    if (!a || !b || !json_is_object(a) || !json_equal(a, b) || json_object_size(a) != json_object_size(b)) return 0;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        json_t *w = json_object_get(b, k);
        if (!w || json_typeof(v) != json_typeof(w)) return 0;
        if (json_is_real(v)) {
            double x = json_real_value(v), y = json_real_value(w);
            if (memcmp(&x, &y, sizeof x) != 0) return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *fast = fw_feedback_body_read((const char *)data, size);
    if (!fast) return 0;
    json_t *ref = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!fw_fuzz_feedback_body_same(fast, ref)) abort(); /* the fast read is not jansson's */
    json_decref(fast);
    json_decref(ref);
    return 0;
}

#include "driver.h"
