/* fuzz_yaml_read.c — libFuzzer target for core/yaml_read (the typed getters every YAML file goes
 * through: the project file and the serving section). Arbitrary bytes are loaded with libyaml; every
 * node of the first document goes through every getter, and each answer is checked against the
 * getter's contract in yaml_read.h, computed here independently:
 *   - a refusal is FW_ECONFIG whose message starts "fuzz.yaml:" (with line:col when it names a node);
 *   - str: the scalar's text, NULL for a null scalar; a number: fw_decimal_parse's value, in [lo, hi];
 *     an integer: digits read exactly (strtoull) or a whole number, in [lo, hi]; a boolean: one of the
 *     six words; an enum: the index of the exact match;
 *   - a string list: one string per item, equal to it; a list's length is the sequence's;
 *   - walk_map: accepted exactly when every key is a known string given once, and the callback sees
 *     every pair in order; map_get gives the first pair's value.
 * Build and run: fuzz/README.md. */
#include "core/alloc.h"
#include "core/decimal.h"
#include "core/yaml_read.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fw_fuzz_yaml_read_keys[] = {"name", "port", "a", "b", "threads", "log", "on", "1", NULL};

static void fw_fuzz_yaml_read_refused(fw_status st, const fw_err *err) {
    if (st == FW_ENOMEM) return;
    if (st != FW_ECONFIG || strncmp(err->msg, "fuzz.yaml:", 10) != 0) abort();
}

typedef struct {
    size_t calls;
    yaml_node_t *map;
} fw_fuzz_yaml_read_walk;

static fw_status fw_fuzz_yaml_read_pair(fw_yaml *y, int key, yaml_node_t *val, yaml_node_t *key_node, void *ud) {
    fw_fuzz_yaml_read_walk *w = ud;
    yaml_node_pair_t *pr = w->map->data.mapping.pairs.start + w->calls;
    if (pr >= w->map->data.mapping.pairs.top) abort(); /* more calls than pairs */
    if (yaml_document_get_node(y->doc, pr->key) != key_node || yaml_document_get_node(y->doc, pr->value) != val)
        abort(); /* not in document order */
    if (strcmp(fw_yaml_scalar(key_node), fw_fuzz_yaml_read_keys[key]) != 0) abort();
    w->calls++;
    return FW_OK;
}

/* What walk_map must answer for this map, computed independently. */
static bool fw_fuzz_yaml_read_map_ok(yaml_document_t *doc, yaml_node_t *map) {
    bool seen[16] = {0};
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key), *v = yaml_document_get_node(doc, pr->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) return false;
        int idx = -1;
        for (int i = 0; fw_fuzz_yaml_read_keys[i]; i++)
            if (!strcmp((const char *)k->data.scalar.value, fw_fuzz_yaml_read_keys[i])) idx = i;
        if (idx < 0 || seen[idx]) return false;
        seen[idx] = true;
    }
    return true;
}

static void fw_fuzz_yaml_read_node(fw_yaml *y, yaml_node_t *n, size_t ix) {
    fw_err *err = y->err;
    const char *s = fw_yaml_scalar(n);
    bool scalar = n->type == YAML_SCALAR_NODE;
    fw_status st;

    char *str = NULL;
    st = fw_yaml_get_str(y, n, "k.str", &str);
    if (scalar != (st == FW_OK) && st != FW_ENOMEM) abort();
    if (st == FW_OK && (fw_yaml_is_null(n) ? str != NULL : !str || strcmp(str, s) != 0)) abort();
    if (st) fw_fuzz_yaml_read_refused(st, err);
    fw_free(str);

    static const double ranges[][2] = {{0, 1}, {-1e300, 1e300}, {1, 65535}, {-INFINITY, INFINITY}};
    const double *r = ranges[ix % 4];
    double d = -7.0, ref;
    st = fw_yaml_get_double(y, n, "k.num", r[0], r[1], &d);
    bool dec = scalar && fw_decimal_parse(s, strlen(s), &ref, NULL);
    if (st == FW_OK) {
        if (!dec || memcmp(&d, &ref, sizeof d) != 0 || !(d >= r[0] && d <= r[1]) || !isfinite(d)) abort();
    } else {
        fw_fuzz_yaml_read_refused(st, err);
        if (d != -7.0) abort(); /* a refusal leaves the value */
        if (dec && ref >= r[0] && ref <= r[1]) abort();
    }

    static const uint64_t iranges[][2] = {{0, UINT64_MAX}, {1, 65535}, {0, 0}, {10, 20}};
    const uint64_t *ir = iranges[ix % 4];
    uint64_t u = 77;
    st = fw_yaml_get_int(y, n, "k.int", ir[0], ir[1], &u);
    if (st == FW_OK) {
        if (!scalar || u < ir[0] || u > ir[1]) abort();
        const char *q = s + (*s == '+');
        if (*q && strspn(q, "0123456789") == strlen(q)) {
            if (u != strtoull(q, NULL, 10)) abort();
        } else {
            double w;
            if (!fw_decimal_parse(s, strlen(s), &w, NULL) || w != floor(w) || w < 0 || (double)u != w) abort();
        }
    } else {
        fw_fuzz_yaml_read_refused(st, err);
        if (u != 77) abort();
    }
    uint32_t u32 = 5;
    st = fw_yaml_get_u32(y, n, "k.u32", 1, 1000, &u32);
    if (st == FW_OK ? u32 < 1 || u32 > 1000 : u32 != 5) abort();
    if (st) fw_fuzz_yaml_read_refused(st, err);

    bool b = false;
    st = fw_yaml_get_bool(y, n, "k.bool", &b);
    if (st == FW_OK) {
        if (!scalar) abort();
        bool t = !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on");
        bool f = !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off");
        if (!(t || f) || b != t) abort();
    } else {
        fw_fuzz_yaml_read_refused(st, err);
    }

    int e = -1;
    st = fw_yaml_get_enum(y, n, "k.enum", fw_fuzz_yaml_read_keys, &e);
    if (st == FW_OK) {
        if (!scalar || e < 0 || e > 7 || strcmp(fw_fuzz_yaml_read_keys[e], s) != 0) abort();
    } else {
        fw_fuzz_yaml_read_refused(st, err);
        if (e != -1) abort();
        if (scalar)
            for (int i = 0; fw_fuzz_yaml_read_keys[i]; i++)
                if (!strcmp(fw_fuzz_yaml_read_keys[i], s)) abort();
    }

    char **list = NULL;
    size_t nl = 0;
    for (int allow = 0; allow < 2; allow++) {
        st = fw_yaml_get_str_list(y, n, "k.list", allow, &list, &nl);
        if (st == FW_OK) {
            if (fw_yaml_is_null(n)) {
                if (nl != 0) abort();
            } else if (scalar) {
                if (!allow || nl != 1 || strcmp(list[0], s) != 0) abort();
            } else {
                if (n->type != YAML_SEQUENCE_NODE) abort();
                size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
                if (nl != k) abort();
                for (size_t i = 0; i < nl; i++) {
                    const char *is = fw_yaml_scalar(fw_yaml_item(y, n, i));
                    if (!is || strcmp(is, list[i]) != 0) abort();
                }
            }
        } else {
            fw_fuzz_yaml_read_refused(st, err);
        }
    }
    for (size_t i = 0; i < nl; i++) fw_free(list[i]);
    fw_free(list);

    size_t count = 99;
    st = fw_yaml_list(y, n, "k.seq", NULL, 3, &count);
    if (st == FW_OK) {
        if (fw_yaml_is_null(n) ? count != 0
                               : n->type != YAML_SEQUENCE_NODE ||
                                     count != (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) ||
                                     count > 3)
            abort();
    } else {
        fw_fuzz_yaml_read_refused(st, err);
    }

    fw_fuzz_yaml_read_walk w = {0, n};
    st = fw_yaml_walk_map(y, n, ix % 2 ? "" : "k.map", fw_fuzz_yaml_read_keys, fw_fuzz_yaml_read_pair, &w);
    bool want = n->type == YAML_MAPPING_NODE && fw_fuzz_yaml_read_map_ok(y->doc, n);
    if ((st == FW_OK) != want && st != FW_ENOMEM) abort();
    if (st == FW_OK && w.calls != (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start)) abort();
    if (st) fw_fuzz_yaml_read_refused(st, err);

    for (int i = 0; fw_fuzz_yaml_read_keys[i]; i++) {
        yaml_node_t *v = fw_yaml_map_get(y, n, fw_fuzz_yaml_read_keys[i]), *first = NULL;
        if (n->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
                if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, fw_fuzz_yaml_read_keys[i])) {
                    first = yaml_document_get_node(y->doc, pr->value);
                    break;
                }
            }
        if (v != first) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return 0;
    yaml_parser_set_input_string(&parser, data, size);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parser_delete(&parser);
        return 0;
    }
    fw_err err;
    fw_err_clear(&err);
    fw_yaml y = {&doc, "fuzz.yaml", &err, NULL};
    size_t nodes = (size_t)(doc.nodes.top - doc.nodes.start);
    for (size_t i = 0; i < nodes && i < 2000; i++) {
        fw_err_clear(&err);
        fw_fuzz_yaml_read_node(&y, doc.nodes.start + i, i);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return 0;
}

#include "driver.h"
