/* feedback_body.c — owns the fast reading of a /v1/feedback body (see feedback_body.h): one pass
 * over a flat JSON object of plain values into the jansson object json_loadb would build, or NULL
 * for anything else (the caller's jansson parse then decides, with its own errors). */
#include "serve/feedback_body.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_KEYS = 16, MAX_NUMBER = 64 };

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* A string without escapes, of printable ASCII (no byte < 0x20 or >= 0x80: what needs no UTF-8
 * check); p at its opening quote. Its text is [*s, *s + *n); returns the byte after the closing
 * quote, or NULL when the string is not of that kind. */
static const char *scan_string(const char *p, const char *e, const char **s, size_t *n) {
    const char *q = ++p;
    while (q < e && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c >= 0x80 || c == '\\') return NULL;
        q++;
    }
    if (q >= e) return NULL;
    *s = p;
    *n = (size_t)(q - p);
    return q + 1;
}

static bool digit(const char *p, const char *e) { return p < e && *p >= '0' && *p <= '9'; }

/* A number by JSON's grammar, as jansson reads it: an integer when it has no fraction and no
 * exponent (json_int_t, refused when out of range), else a real (strtod, refused on overflow or
 * underflow). NULL value: not read here. */
static const char *scan_number(const char *p, const char *e, json_t **value) {
    const char *s = p;
    bool is_int = true;
    if (s < e && *s == '-') s++;
    if (!digit(s, e)) return NULL;
    if (*s == '0') s++;
    else
        while (digit(s, e)) s++;
    if (s < e && *s == '.') {
        s++;
        if (!digit(s, e)) return NULL;
        while (digit(s, e)) s++;
        is_int = false;
    }
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < e && (*s == '+' || *s == '-')) s++;
        if (!digit(s, e)) return NULL;
        while (digit(s, e)) s++;
        is_int = false;
    }
    size_t n = (size_t)(s - p);
    if (n >= MAX_NUMBER) return NULL;
    char buf[MAX_NUMBER], *end;
    memcpy(buf, p, n);
    buf[n] = 0;
    errno = 0;
    if (is_int) {
        long long v = strtoll(buf, &end, 10);
        if (errno || end != buf + n) return NULL;
        *value = json_integer((json_int_t)v);
    } else {
        double v = strtod(buf, &end);
        if (errno || end != buf + n) return NULL;
        *value = json_real(v);
    }
    return *value ? s : NULL;
}

static bool literal(const char *p, const char *e, const char *word, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0;
}

json_t *fw_feedback_body_read(const char *body, size_t len) {
    if (!body) return NULL;
    const char *p = body, *e = body + len;
    p = skip_ws(p, e);
    if (p >= e || *p != '{') return NULL;
    json_t *obj = json_object();
    if (!obj) return NULL;
    const char *keys[MAX_KEYS];
    size_t key_len[MAX_KEYS], n_keys = 0;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') goto done;
    for (;;) {
        const char *k;
        size_t kn;
        if (p >= e || *p != '"' || n_keys == MAX_KEYS || !(p = scan_string(p, e, &k, &kn))) goto other;
        for (size_t i = 0; i < n_keys; i++)
            if (key_len[i] == kn && memcmp(keys[i], k, kn) == 0) goto other; /* jansson refuses duplicates */
        keys[n_keys] = k;
        key_len[n_keys++] = kn;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') goto other;
        p = skip_ws(p + 1, e);
        if (p >= e) goto other;
        json_t *v = NULL;
        if (*p == '"') {
            const char *s;
            size_t sn;
            if (!(p = scan_string(p, e, &s, &sn)) || !(v = json_stringn_nocheck(s, sn))) goto other;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            if (!(p = scan_number(p, e, &v))) goto other;
        } else if (literal(p, e, "true", 4)) {
            v = json_true(), p += 4;
        } else if (literal(p, e, "false", 5)) {
            v = json_false(), p += 5;
        } else if (literal(p, e, "null", 4)) {
            v = json_null(), p += 4;
        } else {
            goto other; /* an object, an array, or not JSON */
        }
        if (json_object_setn_new_nocheck(obj, k, kn, v) != 0) goto other; /* v is released by the call */
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') break;
        goto other;
    }
done:
    if (skip_ws(p + 1, e) != e) goto other; /* text after the object */
    return obj;
other:
    json_decref(obj);
    return NULL;
}
