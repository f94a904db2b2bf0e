/* v1_decode.c — owns the fast request-body decoders (see v1_decode.h): strict one-pass scanners of
 * the common /v1 {"instances":[{...}],"entity_id":...} shape and the common /v2 infer shapes (one
 * row tensor, or one tensor per input) into per-thread scratch, declining whatever they cannot
 * decode exactly as jansson would. */
#include "serve/v1_decode.h"

#include "serve/monitoring.h"

#include "core/alloc.h"
#include "core/decimal.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-thread scratch ---------------------------------------------------------------------- */

/* Whitespace runs between tokens, as (offset from the body's start, length) pairs in body order. */
typedef struct gap_list {
    uint32_t *v;
    size_t n, cap; /* pairs */
    bool oom;
    const char *base; /* the body the offsets count from */
    uint32_t end_noted; /* where the last run noted ends (0: none); set with n (gap_keep) */
} gap_list;

/* Keeps the first n runs of g. */
static void gap_keep(gap_list *g, size_t n) {
    g->n = n;
    g->end_noted = n ? g->v[2 * n - 2] + g->v[2 * n - 1] : 0;
}

typedef struct v1_scratch {
    fw_value *vals;    /* n x n_inputs decoded values */
    size_t vals_cap;
    char *strs;        /* unescaped string values */
    size_t strs_cap;
    char *ent;         /* entity_id text */
    size_t ent_cap;
    uint32_t *seen;    /* per input: the instance stamp that last set it (duplicate keys) */
    size_t seen_cap;
    uint32_t stamp;
    fw_value *tvals;   /* /v2: the tensors' values as they appear in the body */
    struct v2_span *tspan; /* /v2: each value's JSON text in the body (same index as tvals) */
    size_t tvals_cap, tspan_cap;
    int32_t *slot_tensor; /* /v2 per input: the tensor that gives it, or -1 */
    size_t slot_tensor_cap;
    char *logtext;     /* /v2 per-input tensors: the request as the log keeps it */
    size_t logtext_cap;
    struct v2_tensor *tens; /* /v2: one descriptor per tensor */
    size_t tens_cap;
    /* /v1: the body's whitespace runs (fw_v1_decoded.gaps): scan_top notes those before the
     * instances array in gaps (n_pre of them) and those after it in tail; decode adds the array's */
    gap_list gaps, tail;
    size_t n_pre;
    const char *base;  /* the body scan_top read */
    uint64_t plain_gen; /* the model (fw_srv_model.gen) plain tells about; 0: none yet */
    bool plain;        /* its input names hold no byte a key's text would escape or decline */
} v1_scratch;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local v1_scratch *t_scratch;

static void scratch_free(void *p) {
    v1_scratch *s = p;
    fw_free(s->vals);
    fw_free(s->strs);
    fw_free(s->ent);
    fw_free(s->seen);
    fw_free(s->tvals);
    fw_free(s->tspan);
    fw_free(s->slot_tensor);
    fw_free(s->logtext);
    fw_free(s->tens);
    fw_free(s->gaps.v);
    fw_free(s->tail.v);
    fw_free(s);
}

static void make_key(void) { pthread_key_create(&g_key, scratch_free); }

static v1_scratch *scratch(void) {
    if (t_scratch) return t_scratch;
    pthread_once(&g_once, make_key);
    v1_scratch *s = fw_calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_setspecific(g_key, s);
    t_scratch = s;
    return s;
}

/* ---- lexical pieces -------------------------------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end) {
    /* every whitespace byte is <= ' ': most tokens end the loop on the first compare */
    while (p < end && (unsigned char)*p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static bool gap_grow(gap_list *g) {
    size_t cap = g->cap ? 2 * g->cap : 128;
    uint32_t *v = fw_realloc(g->v, cap * 2 * sizeof *v);
    if (!v) {
        g->oom = true;
        return false;
    }
    g->v = v;
    g->cap = cap;
    return true;
}

/* skip_ws, noting the run skipped in g (the /v1 scanners; NULL: not noted). */
static inline const char *skip_ws_g(const char *p, const char *end, gap_list *g) {
    const char *q = skip_ws(p, end);
    if (q == p || !g) return q;
    uint32_t off = (uint32_t)(p - g->base);
    if (off < g->end_noted) return q; /* noted already */
    if (g->n == g->cap && !gap_grow(g)) return q;
    g->v[2 * g->n] = off;
    g->v[2 * g->n + 1] = (uint32_t)(q - p);
    g->n++;
    g->end_noted = off + (uint32_t)(q - p);
    return q;
}

/* p at the opening quote. Returns the byte after the closing quote, or NULL (decline) on a control
 * byte, a byte >= 0x80, an escape other than the simple ones (quote, backslash, slash, b f n r t),
 * or the end. The raw contents go to s and n; esc tells whether they hold escapes. */
static const char *scan_string(const char *p, const char *end, const char **s, size_t *n, bool *esc) {
    p++;
    *s = p;
    *esc = false;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *n = (size_t)(p - *s);
            return p + 1;
        }
        if (c < 0x20 || c >= 0x80) return NULL;
        if (c == '\\') {
            if (p + 1 >= end) return NULL;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
            default: return NULL;
            }
            *esc = true;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

/* Unescapes n raw bytes (validated by scan_string) into dst; returns the length written. */
static size_t unescape(const char *s, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            dst[o++] = c;
            continue;
        }
        char e = s[++i];
        dst[o++] = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
    }
    return o;
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A strict JSON number at p, read in one pass. Integers (no '.', 'e', 'E') of up to 18 digits are
 * read exactly and converted like jansson's json_integer → json_number_value; reals gather their
 * digits as they are scanned, and those of at most 19 digits within Clinger's bounds are converted
 * at once (fw_decimal_exact); the rest are read by fw_decimal_parse. Both give strtod's double, as
 * jansson's. Returns the byte after it, or NULL (decline). *is_int / *iv tell an integer. */
static const char *scan_number(const char *p, const char *end, double *v, bool *is_int, long long *iv) {
    const char *s = p;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end) return NULL;
    uint64_t mant = 0; /* the digits, while there are at most 19 of them */
    int nd = 0;        /* digits seen (the integer part has no leading zero but a lone '0') */
    int exp10 = 0;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        for (; p < end && is_digit(*p); p++, nd++)
            if (nd < 19) mant = mant * 10 + (uint64_t)(*p - '0');
    } else {
        return NULL;
    }
    bool real = false;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return NULL;
        for (; p < end && is_digit(*p); p++, nd++)
            if (nd < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
            }
        real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || !is_digit(*p)) return NULL;
        int e = 0;
        for (; p < end && is_digit(*p); p++)
            if (e < 100000) e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
        real = true;
    }
    *is_int = !real;
    if (!real) {
        if (nd > 18) return NULL; /* might overflow json_int_t: jansson decides */
        long long x = (long long)mant;
        *iv = neg ? -x : x;
        *v = (double)*iv;
        return p;
    }
    if (nd <= 19 && fw_decimal_exact(mant, exp10, neg, v)) return p;
    /* strtod's double (core/decimal.h); overflow declines: jansson says "real number overflow" */
    return fw_decimal_parse(s, (size_t)(p - s), v, NULL) ? p : NULL;
}

/* p at '[' or '{': the byte after the matching close, without validating in between; NULL at the
 * end. Strings are jumped over with memchr (a quote preceded by an odd run of backslashes is
 * escaped). */
static const char *skip_nested(const char *p, const char *end) {
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) return NULL;
                size_t bs = 0;
                while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
                p = q + 1;
                if (!(bs & 1)) break;
            }
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) return p;
        }
    }
    return NULL;
}

static inline bool key_is(const char *k, size_t n, const char *lit, size_t ln) { return n == ln && memcmp(k, lit, n) == 0; }

/* The object-member and array-item steps every loop below shares. */

/* p at a member's key: scans "key" (no escapes) and the colon. Returns the value's first byte
 * (before end) with the key in k/kn, or NULL (decline). */
static inline const char *scan_key(const char *p, const char *end, const char **k, size_t *kn, gap_list *g) {
    bool esc;
    if (p >= end || *p != '"') return NULL;
    if (!(p = scan_string(p, end, k, kn, &esc)) || esc) return NULL;
    p = skip_ws_g(p, end, g);
    if (p >= end || *p != ':') return NULL;
    p = skip_ws_g(p + 1, end, g);
    return p < end ? p : NULL;
}

/* p after a value: a ',' (*more = true; returns the next item's first byte) or the container's
 * close (*more = false; returns the byte after it). NULL (decline) otherwise. */
static inline const char *after_value(const char *p, const char *end, char close, bool *more, gap_list *g) {
    p = skip_ws_g(p, end, g);
    if (p >= end) return NULL;
    if (*p == ',') {
        *more = true;
        return skip_ws_g(p + 1, end, g);
    }
    if (*p != close) return NULL;
    *more = false;
    return p + 1;
}

/* ---- top level ------------------------------------------------------------------------------- */

/* The ']' of a body that ends with ']' '}' and whitespace only, or NULL. */
static const char *last_close(const char *body, const char *end) {
    const char *p = end;
    while (p > body && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\r' || p[-1] == '\t')) p--;
    if (p == body || *--p != '}') return NULL;
    while (p > body && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\r' || p[-1] == '\t')) p--;
    return p > body && p[-1] == ']' ? p - 1 : NULL;
}

static bool scan_top(v1_scratch *sc, const char *body, size_t len, fw_v1_top *top, gap_list *g) {
    const char *p = body, *end = body + len;
    bool have_inst = false, have_ent = false;
    p = skip_ws_g(p, end, g);
    if (p >= end || *p != '{') return false;
    p = skip_ws_g(p + 1, end, g);
    for (bool more = true; more;) {
        const char *k;
        size_t kn;
        if (!(p = scan_key(p, end, &k, &kn, g))) return false;
        if (key_is(k, kn, "instances", 9)) {
            if (have_inst || *p != '[') return false;
            /* the last member (the body ends "]}"): the array runs to that ']', and decode, which
             * reads it anyway, finds out whether it does — no scan of it here */
            const char *last = last_close(p, end);
            const char *e = last ? last + 1 : skip_nested(p, end);
            if (!e) return false;
            top->inst = p;
            top->inst_len = (size_t)(e - p);
            have_inst = true;
            sc->n_pre = sc->gaps.n;
            if (g) g = &sc->tail; /* the runs after the array */
            p = e;
        } else if (key_is(k, kn, "entity_id", 9)) {
            if (have_ent) return false;
            have_ent = true;
            if (*p == '"') {
                const char *s;
                size_t n;
                bool esc;
                if (!(p = scan_string(p, end, &s, &n, &esc))) return false;
                if (n + 1 > sc->ent_cap && FW_GROW(&sc->ent, &sc->ent_cap, n + 1) != FW_OK) return false;
                size_t o = esc ? unescape(s, n, sc->ent) : (memcpy(sc->ent, s, n), n);
                sc->ent[o] = 0;
                top->entity = sc->ent;
            } else if (*p == 'n') {
                if (end - p < 4 || memcmp(p, "null", 4) != 0) return false;
                p += 4;
            } else {
                double v;
                bool is_int;
                long long iv = 0;
                if (!(p = scan_number(p, end, &v, &is_int, &iv)) || !is_int) return false;
                if (sc->ent_cap < 32 && FW_GROW(&sc->ent, &sc->ent_cap, 32) != FW_OK) return false;
                snprintf(sc->ent, sc->ent_cap, "%lld", iv);
                top->entity = sc->ent;
            }
        } else {
            return false; /* unknown top-level key: the jansson path warns */
        }
        if (!(p = after_value(p, end, '}', &more, g))) return false;
    }
    return skip_ws_g(p, end, g) == end && have_inst;
}

bool fw__v1_scan_top(const char *body, size_t len, fw_v1_top *top) {
    memset(top, 0, sizeof *top);
    if (!body || !len) return false;
    v1_scratch *sc = scratch();
    if (!sc) return false;
    gap_keep(&sc->gaps, 0);
    gap_keep(&sc->tail, 0);
    sc->n_pre = 0;
    sc->gaps.oom = sc->tail.oom = false;
    sc->base = NULL;
    bool note = len <= UINT32_MAX;
    sc->gaps.base = sc->tail.base = body;
    bool ok = scan_top(sc, body, len, top, note ? &sc->gaps : NULL);
    if (ok && note) sc->base = body;
    top->body = body;
    return ok;
}

/* ---- instances ------------------------------------------------------------------------------- */

/* One scalar value at p into *d. Returns the byte after it or NULL (decline: nested, malformed). */
static const char *scan_value(const char *p, const char *end, v1_scratch *sc, size_t *str_used, fw_value *d) {
    switch (*p) {
    case '"': {
        const char *s;
        size_t n;
        bool esc;
        if (!(p = scan_string(p, end, &s, &n, &esc))) return NULL;
        if (esc) {
            /* room was reserved for the whole array (unescaping only shrinks) */
            size_t o = unescape(s, n, sc->strs + *str_used);
            *d = (fw_value){FW_VALUE_STRING, 0, sc->strs + *str_used, o};
            sc->strs[*str_used + o] = 0;
            *str_used += o + 1;
        } else {
            *d = (fw_value){FW_VALUE_STRING, 0, s, n};
        }
        return p;
    }
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) return NULL;
        *d = (fw_value){FW_VALUE_NUMBER, 1, NULL, 0};
        return p + 4;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) return NULL;
        *d = (fw_value){FW_VALUE_NUMBER, 0, NULL, 0};
        return p + 5;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) return NULL;
        *d = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
        return p + 4;
    default: {
        double v;
        bool is_int;
        long long iv;
        if (!(p = scan_number(p, end, &v, &is_int, &iv))) return NULL;
        *d = (fw_value){FW_VALUE_NUMBER, v, NULL, 0};
        return p;
    }
    }
}

static bool decode(v1_scratch *sc, const fw_srv_model *m, const fw_v1_top *top, fw_v1_decoded *out, gap_list *g);

bool fw__v1_decode(const fw_srv_model *m, const fw_v1_top *top, fw_v1_decoded *out) {
    out->n = 0;
    out->n_unknown = 0;
    out->vals = NULL;
    out->gaps = NULL;
    out->n_gaps = 0;
    v1_scratch *sc = scratch();
    if (!sc || !top->inst || top->inst_len < 2) return false;
    bool note = sc->base && sc->base == top->body; /* scan_top's runs are this body's */
    if (note) gap_keep(&sc->gaps, sc->n_pre); /* (again, if decoded before) */
    bool ok = decode(sc, m, top, out, note ? &sc->gaps : NULL);
    if (ok && note) {
        gap_list *g = &sc->gaps;
        if (g->n + sc->tail.n > g->cap) {
            uint32_t *v = fw_realloc(g->v, (g->n + sc->tail.n) * 2 * sizeof *v);
            if (v) g->v = v, g->cap = g->n + sc->tail.n;
            else g->oom = true;
        }
        if (!g->oom && !sc->tail.oom) {
            if (sc->tail.n) memcpy(g->v + 2 * g->n, sc->tail.v, sc->tail.n * 2 * sizeof *g->v);
            static const uint32_t none[2];
            out->gaps = g->v ? g->v : none; /* a compact body: no runs, and it says so */
            out->n_gaps = g->n + sc->tail.n;
        }
        gap_keep(g, sc->n_pre);
    }
    return ok;
}

/* True when every input name of m is plain: no quote, backslash, control byte or byte >= 0x80, so
 * a key whose raw text equals the name is that name exactly as scan_key would read it (cached per
 * thread for the last model asked). */
static bool keys_plain(v1_scratch *sc, const fw_srv_model *m) {
    if (sc->plain_gen == m->gen) return sc->plain;
    const fw_strmap *ix = &m->input_index;
    bool ok = true;
    for (size_t i = 0; i < ix->count && ok; i++)
        for (size_t j = 0; j < ix->key_len[i] && ok; j++) {
            unsigned char c = (unsigned char)ix->keys[i][j];
            ok = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
        }
    sc->plain_gen = m->gen;
    sc->plain = ok;
    return ok;
}

/* p at a member whose key may be the plain name want (wn bytes): on a match, scans "want" and the
 * colon as scan_key does and returns the value's first byte; NULL when the key is another (p is
 * then read by scan_key as usual). */
static inline const char *match_key(const char *p, const char *end, const char *want, size_t wn, bool *declined,
                                    gap_list *g) {
    if ((size_t)(end - p) < wn + 2 || *p != '"' || p[wn + 1] != '"' || memcmp(p + 1, want, wn) != 0) return NULL;
    p += wn + 2;
    if (p < end && *p != ':') p = skip_ws_g(p, end, g); /* usually the colon follows at once */
    if (p >= end || *p != ':' || (p = skip_ws_g(p + 1, end, g)) >= end) {
        *declined = true;
        return NULL;
    }
    return p;
}

static bool decode(v1_scratch *sc, const fw_srv_model *m, const fw_v1_top *top, fw_v1_decoded *out, gap_list *g) {
    const char *p = top->inst, *end = top->inst + top->inst_len;
    size_t n_in = m->n_inputs;
    const fw_strmap *ix = &m->input_index;
    if (n_in > sc->seen_cap) {
        size_t old = sc->seen_cap;
        if (FW_GROW(&sc->seen, &sc->seen_cap, n_in) != FW_OK) return false;
        memset(sc->seen + old, 0, (sc->seen_cap - old) * sizeof *sc->seen);
    }
    if (top->inst_len + 1 > sc->strs_cap && FW_GROW(&sc->strs, &sc->strs_cap, top->inst_len + 1) != FW_OK)
        return false;
    size_t str_used = 0;
    bool plain = keys_plain(sc, m);
    p = skip_ws_g(p + 1, end, g);
    if (p >= end || *p == ']') return false; /* empty: the jansson path explains */
    size_t n = 0;
    for (bool more_inst = true; more_inst;) {
        if (p >= end || *p != '{') return false;
        if ((n + 1) * n_in > sc->vals_cap) {
            if ((n + 1) * n_in > ((size_t)1 << 22)) return false;
            if (FW_GROW(&sc->vals, &sc->vals_cap, (n + 1) * n_in) != FW_OK) return false;
        }
        fw_value *v = sc->vals + n * n_in;
        for (size_t i = 0; i < n_in; i++) v[i] = FW_SRV_ABSENT; /* not null: absent (monitoring.h) */
        if (++sc->stamp == 0) {
            memset(sc->seen, 0, sc->seen_cap * sizeof *sc->seen);
            sc->stamp = 1;
        }
        size_t first_unknown = out->n_unknown;
        size_t guess = 0; /* keys usually come in input order: try the next one before hashing */
        p = skip_ws_g(p + 1, end, g);
        if (p < end && *p == '}') {
            p++;
        } else {
            for (bool more = true; more;) {
                const char *k = p + 1, *q;
                size_t kn;
                int64_t slot = -1;
                bool declined = false;
                if (plain && guess < ix->count &&
                    (q = match_key(p, end, ix->keys[guess], kn = ix->key_len[guess], &declined, g)) != NULL) {
                    p = q; /* the next input's name, as the keys usually come */
                    slot = ix->values[guess];
                    guess++;
                } else if (declined || !(p = scan_key(p, end, &k, &kn, g))) {
                    return false;
                } else if (guess < ix->count && ix->key_len[guess] == kn && memcmp(ix->keys[guess], k, kn) == 0) {
                    slot = ix->values[guess];
                    guess++;
                } else {
                    slot = fw_strmap_get(ix, k, kn);
                    if (slot >= 0)
                        for (size_t gi = 0; gi < ix->count; gi++)
                            if (ix->values[gi] == (uint32_t)slot) {
                                guess = gi + 1;
                                break;
                            }
                }
                fw_value tmp;
                if (slot < 0 || (size_t)slot >= n_in) {
                    /* an unknown feature: warned about; a repeated one is jansson's error */
                    for (size_t u = first_unknown; u < out->n_unknown; u++)
                        if (key_is(out->unknown[u].key, out->unknown[u].len, k, kn)) return false;
                    if (out->n_unknown == FW_V1_MAX_UNKNOWN) return false;
                    out->unknown[out->n_unknown].inst = n;
                    out->unknown[out->n_unknown].key = k;
                    out->unknown[out->n_unknown].len = kn;
                    out->n_unknown++;
                    if (!(p = scan_value(p, end, sc, &str_used, &tmp))) return false;
                } else {
                    if (sc->seen[slot] == sc->stamp) return false; /* duplicate key */
                    sc->seen[slot] = sc->stamp;
                    if (*p == '-' || is_digit(*p)) { /* a number, as most values are */
                        double x;
                        bool is_int;
                        long long iv;
                        if (!(p = scan_number(p, end, &x, &is_int, &iv))) return false;
                        v[slot] = (fw_value){FW_VALUE_NUMBER, x, NULL, 0};
                    } else if (!(p = scan_value(p, end, sc, &str_used, &v[slot]))) {
                        return false;
                    }
                }
                if (!(p = after_value(p, end, '}', &more, g))) return false;
            }
        }
        n++;
        if (!(p = after_value(p, end, ']', &more_inst, g))) return false;
    }
    if (p != end) return false;
    out->n = n;
    out->vals = sc->vals;
    return true;
}

/* ---- /v2 infer: one row tensor, or one tensor per input ------------------------------------- */

/* A strict JSON integer in [0, 1000000] (shape dimensions). */
static const char *scan_dim(const char *p, const char *end, long *out) {
    double v;
    bool is_int;
    long long iv;
    if (!(p = scan_number(p, end, &v, &is_int, &iv)) || !is_int || iv < 0 || iv > 1000000) return NULL;
    *out = (long)iv;
    return p;
}

typedef struct v2_span {
    const char *p;
    size_t n;
} v2_span;

/* One decoded tensor: its values are sc->tvals[off .. off + cnt). */
typedef struct v2_tensor {
    const char *name; /* in the body (no escapes) */
    size_t name_len;
    int64_t slot;     /* the model input it names, or -1 */
    int ndim;         /* 1 or 2 */
    long dim[2];
    size_t off, cnt;
} v2_tensor;

/* One tensor object {"name":..,"shape":[r] or [r,c],"datatype":..,"data":[..]} (keys in any order,
 * data flat or nested one level) appended to sc->tvals at *used. */
static const char *scan_tensor(const fw_srv_model *m, const char *p, const char *end, v1_scratch *sc,
                               size_t *str_used, size_t *used, v2_tensor *t) {
    bool have_name = false, have_shape = false, have_type = false, have_data = false;
    *t = (v2_tensor){.slot = -1, .off = *used};
    p = skip_ws(p + 1, end);
    for (bool more = true; more;) {
        const char *k, *vs;
        size_t kn, vn;
        bool esc;
        if (!(p = scan_key(p, end, &k, &kn, NULL))) return NULL;
        if (key_is(k, kn, "name", 4) || key_is(k, kn, "datatype", 8)) {
            bool *have = kn == 4 ? &have_name : &have_type;
            if (*have || *p != '"' || !(p = scan_string(p, end, &vs, &vn, &esc)) || esc) return NULL;
            *have = true;
            if (kn == 4) {
                t->slot = fw_strmap_get(&m->input_index, vs, vn);
                t->name = vs;
                t->name_len = vn;
            }
        } else if (key_is(k, kn, "shape", 5)) {
            if (have_shape || *p != '[') return NULL;
            have_shape = true;
            for (t->ndim = 0;;) {
                p = skip_ws(p + 1, end);
                if (t->ndim == 2 || !(p = scan_dim(p, end, &t->dim[t->ndim++]))) return NULL;
                p = skip_ws(p, end);
                if (p < end && *p == ']') break;
                if (p >= end || *p != ',') return NULL;
            }
            p++;
        } else if (key_is(k, kn, "data", 4)) {
            if (have_data || *p != '[') return NULL;
            have_data = true;
            int depth = 1;
            p = skip_ws(p + 1, end);
            if (p < end && *p == ']') {
                p++;
                depth = 0;
            }
            while (depth > 0) {
                if (p >= end) return NULL;
                if (*p == '[') {
                    if (depth == 2) return NULL; /* deeper nesting: the jansson path */
                    depth++;
                    p = skip_ws(p + 1, end);
                    if (p < end && *p == ']') return NULL; /* empty inner array: rare, jansson */
                    continue;
                }
                if (*used + 1 > sc->tvals_cap) {
                    if (*used + 1 > ((size_t)1 << 22)) return NULL;
                    if (FW_GROW(&sc->tvals, &sc->tvals_cap, *used + 1) != FW_OK) return NULL;
                }
                if (*used + 1 > sc->tspan_cap && FW_GROW(&sc->tspan, &sc->tspan_cap, *used + 1) != FW_OK) return NULL;
                const char *v0 = p;
                if (!(p = scan_value(p, end, sc, str_used, &sc->tvals[*used]))) return NULL;
                sc->tspan[(*used)++] = (v2_span){v0, (size_t)(p - v0)};
                p = skip_ws(p, end);
                while (p < end && *p == ']' && depth > 0) {
                    depth--;
                    p = skip_ws(p + 1, end);
                }
                if (depth == 0) break;
                if (p >= end || *p != ',') return NULL;
                p = skip_ws(p + 1, end);
            }
        } else {
            return NULL;
        }
        if (!(p = after_value(p, end, '}', &more, NULL))) return NULL;
    }
    if (!have_name || !have_shape || !have_type || !have_data) return NULL;
    t->cnt = *used - t->off;
    if (t->cnt != (size_t)t->dim[0] * (size_t)(t->ndim == 2 ? t->dim[1] : 1)) return NULL;
    return p;
}

/* The tensors as rows: one row tensor (not named by an input, shape [rows, n_inputs]) is used as
 * it is; tensors named by inputs (shape [n] or [n, 1], the same n, each input at most once) are
 * scattered into rows, MISSING where an input has no tensor. False for anything else. */
static bool tensors_to_rows(const fw_srv_model *m, v1_scratch *sc, const v2_tensor *t, size_t n_t,
                            fw_v2_decoded *out) {
    size_t n_in = m->n_inputs;
    if (n_t == 1 && t[0].slot < 0) {
        if (t[0].ndim != 2 || (size_t)t[0].dim[1] != n_in || t[0].dim[0] <= 0) return false;
        out->rows = t[0].dim[0];
        out->vals = sc->tvals;
        return true;
    }
    long rows = t[0].dim[0];
    if (rows <= 0 || (size_t)rows * n_in > ((size_t)1 << 22)) return false;
    if (n_in > sc->seen_cap) {
        size_t old = sc->seen_cap;
        if (FW_GROW(&sc->seen, &sc->seen_cap, n_in) != FW_OK) return false;
        memset(sc->seen + old, 0, (sc->seen_cap - old) * sizeof *sc->seen);
    }
    if (++sc->stamp == 0) {
        memset(sc->seen, 0, sc->seen_cap * sizeof *sc->seen);
        sc->stamp = 1;
    }
    for (size_t i = 0; i < n_t; i++) {
        if (t[i].slot < 0 || (size_t)t[i].slot >= n_in || t[i].dim[0] != rows || (t[i].ndim == 2 && t[i].dim[1] != 1) ||
            sc->seen[t[i].slot] == sc->stamp)
            return false;
        sc->seen[t[i].slot] = sc->stamp;
    }
    size_t need = (size_t)rows * n_in;
    if (need > sc->vals_cap && FW_GROW(&sc->vals, &sc->vals_cap, need) != FW_OK) return false;
    fw_value *v = sc->vals;
    for (size_t k = 0; k < n_in; k++)
        if (sc->seen[k] != sc->stamp)
            for (long r = 0; r < rows; r++) v[(size_t)r * n_in + k] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    for (size_t i = 0; i < n_t; i++)
        for (long r = 0; r < rows; r++) v[(size_t)r * n_in + (size_t)t[i].slot] = sc->tvals[t[i].off + (size_t)r];
    out->rows = rows;
    out->vals = v;
    return true;
}

/* Appends n bytes at *at of sc->logtext (room reserved by the caller). */
static inline void put(char *buf, size_t *at, const char *s, size_t n) {
    memcpy(buf + *at, s, n);
    *at += n;
}

/* The per-input-tensor request as the prediction log keeps it: the /v1 shape
 * {"instances":[{"f":v,...},...],"id":"..."} with each value's text as sent, inputs in the model's
 * order — a quarter of the body's bytes, and one query shape for every protocol. */
static bool log_text(const fw_srv_model *m, v1_scratch *sc, const v2_tensor *t, size_t n_t, long rows,
                     const char *id, fw_v2_decoded *out) {
    size_t n_in = m->n_inputs;
    if (n_in > sc->slot_tensor_cap && FW_GROW(&sc->slot_tensor, &sc->slot_tensor_cap, n_in) != FW_OK) return false;
    for (size_t k = 0; k < n_in; k++) sc->slot_tensor[k] = -1;
    size_t need = 32 + (id ? strlen(id) + 8 : 0);
    for (size_t i = 0; i < n_t; i++) {
        sc->slot_tensor[t[i].slot] = (int32_t)i;
        need += (size_t)rows * (t[i].name_len + 4);
        for (size_t v = 0; v < t[i].cnt; v++) need += sc->tspan[t[i].off + v].n;
    }
    need += (size_t)rows * 3;
    if (need > sc->logtext_cap && FW_GROW(&sc->logtext, &sc->logtext_cap, need) != FW_OK) return false;
    char *b = sc->logtext;
    size_t at = 0;
    put(b, &at, "{\"instances\":[", 14);
    for (long r = 0; r < rows; r++) {
        put(b, &at, r ? ",{" : "{", r ? 2 : 1);
        bool first = true;
        for (size_t k = 0; k < n_in; k++) {
            int32_t i = sc->slot_tensor[k];
            if (i < 0) continue;
            const v2_span *v = &sc->tspan[t[i].off + (size_t)r];
            put(b, &at, first ? "\"" : ",\"", first ? 1 : 2);
            first = false;
            put(b, &at, t[i].name, t[i].name_len);
            put(b, &at, "\":", 2);
            put(b, &at, v->p, v->n);
        }
        put(b, &at, "}", 1);
    }
    put(b, &at, "]", 1);
    if (id) {
        put(b, &at, ",\"id\":\"", 7);
        put(b, &at, id, strlen(id));
        put(b, &at, "\"", 1);
    }
    put(b, &at, "}", 1);
    out->log_text = b;
    out->log_len = at;
    return true;
}

bool fw__v2_decode_rows(const fw_srv_model *m, const char *body, size_t len, fw_v2_decoded *out) {
    memset(out, 0, sizeof *out);
    v1_scratch *sc = scratch();
    if (!sc || !body || !len || m->n_inputs == 0) return false;
    if (len + 1 > sc->strs_cap && FW_GROW(&sc->strs, &sc->strs_cap, len + 1) != FW_OK) return false;
    size_t str_used = 0, used = 0, n_t = 0;
    const char *p = skip_ws(body, body + len), *end = body + len;
    bool have_inputs = false, have_id = false;
    if (p >= end || *p != '{') return false;
    p = skip_ws(p + 1, end);
    for (bool more = true; more;) {
        const char *k;
        size_t kn;
        bool esc;
        if (!(p = scan_key(p, end, &k, &kn, NULL))) return false;
        if (key_is(k, kn, "inputs", 6)) {
            if (have_inputs || *p != '[') return false;
            have_inputs = true;
            p = skip_ws(p + 1, end);
            for (bool more_t = true; more_t;) {
                if (p >= end || *p != '{') return false; /* also an empty array: jansson explains */
                if (n_t == sc->tens_cap && FW_GROW(&sc->tens, &sc->tens_cap, n_t + 1) != FW_OK) return false;
                if (!(p = scan_tensor(m, p, end, sc, &str_used, &used, &sc->tens[n_t++]))) return false;
                if (!(p = after_value(p, end, ']', &more_t, NULL))) return false;
            }
        } else if (key_is(k, kn, "id", 2)) {
            const char *s;
            size_t n;
            if (have_id || *p != '"' || !(p = scan_string(p, end, &s, &n, &esc)) || esc) return false;
            have_id = true;
            if (n + 1 > sc->ent_cap && FW_GROW(&sc->ent, &sc->ent_cap, n + 1) != FW_OK) return false;
            memcpy(sc->ent, s, n);
            sc->ent[n] = 0;
            out->id = sc->ent;
        } else {
            return false; /* outputs, parameters, ...: the jansson path */
        }
        if (!(p = after_value(p, end, '}', &more, NULL))) return false;
    }
    if (skip_ws(p, end) != end || !have_inputs) return false;
    if (!tensors_to_rows(m, sc, sc->tens, n_t, out)) return false;
    /* the row tensor is logged as sent (it is already compact); tensors per input in the /v1 shape */
    return out->vals == sc->tvals || log_text(m, sc, sc->tens, n_t, out->rows, out->id, out);
}
