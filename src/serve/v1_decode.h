/* v1_decode.h — owns the fast decoders of request bodies: /v1 :predict and :explain, and /v2
 * infer's row-tensor and per-input-tensor shapes (at the end). It reads the common shape
 * {"instances":[{"f":1.5,"g":"x",...},...],"entity_id":"..."} straight into fw_value inputs in a
 * per-thread scratch, with one scan of the bytes and no allocation after warm-up. Keys are mapped to
 * the model's input positions by the model's own open-addressing index (input_index, built at load),
 * after a cheaper guess: the key following the previous one in input order.
 *
 * It accepts only what it can decode exactly as the jansson path would (api_v1.c): strict JSON
 * numbers (integers up to 18 digits, reals through strtod), ASCII strings with the simple escapes,
 * true/false/null, flat objects, no duplicate keys. Anything else — escapes like \u, bytes >= 0x80,
 * nested values, unknown top-level keys, malformed JSON — makes it decline, and the caller answers
 * through the jansson path, so every error message is that path's. */
#ifndef FW_SERVE_V1_DECODE_H
#define FW_SERVE_V1_DECODE_H

#include "features/pipeline.h"
#include "serve/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the top-level keys of a body are. */
typedef struct fw_v1_top {
    const char *inst;     /* the instances array, from '[' to its matching ']' (not yet validated);
                             when it is the last member, to the body's last ']' without reading it
                             (fw__v1_decode declines unless that is where the array ends) */
    size_t inst_len;
    const char *entity;   /* entity_id as text (NUL-terminated, per-thread scratch), or NULL */
    const char *body;     /* the body scanned */
} fw_v1_top;

/* Scans the top level of body: an object with "instances" (an array) and optionally "entity_id"
 * (a simple string, an integer up to 18 digits — formatted as %lld like the jansson path — or
 * null), nothing else, then only whitespace. Returns false (decline) for anything else. The
 * entity text lives in this thread's scratch until the next call on this thread. Does not allocate
 * after warm-up; false also on out of memory. Thread-safe (per-thread scratch). */
bool fw__v1_scan_top(const char *body, size_t len, fw_v1_top *top);

/* A decoded request: n instances of m->n_inputs values each (row-major), MISSING where absent.
 * String values point into this thread's scratch. unknown[] are the keys that are not inputs of
 * m, in body order, with the instance they came from (for the "unknown feature" warnings). */
#define FW_V1_MAX_UNKNOWN 16
typedef struct fw_v1_decoded {
    size_t n;
    fw_value *vals;
    size_t n_unknown;
    struct {
        size_t inst;
        const char *key;
        size_t len;
    } unknown[FW_V1_MAX_UNKNOWN];
    /* the body's whitespace between tokens, as n_gaps (offset, length) pairs in body order: the
     * body without them is fw_json_compact's text (logq.h), which the log queue copies without
     * scanning the body again (fw_json_compact_gaps). NULL when scan_top read another body since,
     * or out of memory (the log writer compacts the body itself then). */
    const uint32_t *gaps;
    size_t n_gaps;
} fw_v1_decoded;

/* Decodes top->inst for model m into out. Returns false (decline) on anything outside the subset
 * above, on an empty array, on more than FW_V1_MAX_UNKNOWN unknown keys, or on out of memory. The
 * values are valid until the next fw__v1_scan_top/fw__v1_decode on this thread. Thread-safe. */
bool fw__v1_decode(const fw_srv_model *m, const fw_v1_top *top, fw_v1_decoded *out);

/* /v2 infer's common bodies, with an optional "id" (a simple string):
 *   one row tensor in the model's input order, not named by an input:
 *     {"inputs":[{"name":"input","shape":[rows,n_inputs],"datatype":T,"data":[...]}]}
 *   or one tensor per input (KServe's usual form; absent inputs are missing values):
 *     {"inputs":[{"name":"f1","shape":[rows] or [rows,1],"datatype":T,"data":[...]}, ...]}
 * data flat or nested one level. Decodes rows x n_inputs values into this thread's scratch.
 * Returns false (decline: the jansson path answers) for anything else, including a count that does
 * not match the shape, an input named twice, rows that differ between tensors, "outputs" or
 * "parameters", and out of memory. Thread-safe. */
typedef struct fw_v2_decoded {
    long rows;
    fw_value *vals;       /* rows x m->n_inputs */
    const char *id;       /* the request's "id" (NUL-terminated, scratch) or NULL */
    /* tensors per input: the request as the prediction log keeps it, in the /v1 shape
     * {"instances":[{"f":v,...}],"id":"..."} (values as sent, inputs in the model's order; scratch);
     * NULL for a row tensor, which is logged as sent */
    const char *log_text;
    size_t log_len;
} fw_v2_decoded;
bool fw__v2_decode_rows(const fw_srv_model *m, const char *body, size_t len, fw_v2_decoded *out);

#endif
