/* feedback_body.h — owns the fast reading of a /v1/feedback body: the common shape, one flat JSON
 * object of a few keys whose values are plain strings, numbers, booleans or null, read in one pass
 * into the same jansson object json_loadb would build, at a fraction of its cost (jansson reads a
 * character at a time through its stream: ~14k instructions for a 90-byte label). Anything else —
 * an escape or a byte >= 0x80 in a string, a nested value, a duplicate key, a number out of range,
 * any syntax error — is not read here: the caller parses the body with jansson, whose object and
 * error messages stand (tests/serve/test_feedback_body checks both paths agree).
 *
 * Example:
 *   json_t *j = fw_feedback_body_read(body, len);
 *   if (!j) j = fw__parse_body(r, body, len, false);   // the general path and its errors */
#ifndef FW_SERVE_FEEDBACK_BODY_H
#define FW_SERVE_FEEDBACK_BODY_H

#include <stddef.h>

struct json_t;

/* The body as a new jansson object (the caller's reference: json_decref), identical to what
 * json_loadb(body, len, JSON_REJECT_DUPLICATES) returns — same keys, values and number types
 * (integer without '.', 'e' or 'E'; real otherwise) — or NULL when the body is not of the simple
 * shape above (or memory ran out): then nothing was decided about it. */
struct json_t *fw_feedback_body_read(const char *body, size_t len);

#endif
