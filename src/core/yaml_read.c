/* yaml_read.c — owns typed reads from a libyaml document with file:line:column errors (see
 * yaml_read.h). */
#include "core/yaml_read.h"

#include "core/alloc.h"
#include "core/decimal.h"
#include "core/suggest.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST_ITEMS 100000 /* guards against alias bombs and absurd files */

fw_status fw_yaml_error(fw_yaml *y, const yaml_node_t *n, const char *fmt, ...) {
    char msg[FW_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return fw_err_set(y->err, FW_ECONFIG, "%s:%d:%d: %s", y->file, fw_yaml_line(n),
                          (int)n->start_mark.column + 1, msg);
    return fw_err_set(y->err, FW_ECONFIG, "%s: %s", y->file, msg);
}

fw_status fw_yaml_oom(fw_yaml *y) { return fw_err_set(y->err, FW_ENOMEM, "%s: out of memory", y->file); }

const char *fw_yaml_kind(const yaml_node_t *n) {
    switch (n ? n->type : YAML_NO_NODE) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a map";
    default: return "nothing";
    }
}

const char *fw_yaml_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool fw_yaml_is_null(const yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = fw_yaml_scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a, b, c" of a NULL-terminated list, cut to size. */
static void join(const char *const *known, char *out, size_t size) {
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; known[i] && at + 1 < size; i++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", i ? ", " : "", known[i]);
}

static const char *nearest(const char *s, const char *const *known) {
    size_t n = 0;
    while (known[n]) n++;
    return fw_suggest(s, known, n);
}

static fw_status want_scalar(fw_yaml *y, const yaml_node_t *n, const char *path, const char *what) {
    if (n->type == YAML_SCALAR_NODE) return FW_OK;
    return fw_yaml_error(y, n, "'%s': expected %s, got %s", path, what, fw_yaml_kind(n));
}

fw_status fw_yaml_get_str(fw_yaml *y, const yaml_node_t *n, const char *path, char **out) {
    fw_status st = want_scalar(y, n, path, "a string");
    if (st) return st;
    char *s = NULL;
    if (!fw_yaml_is_null(n) && !(s = fw_strdup(fw_yaml_scalar(n)))) return fw_yaml_oom(y);
    fw_free(*out);
    *out = s;
    return FW_OK;
}

fw_status fw_yaml_get_double(fw_yaml *y, const yaml_node_t *n, const char *path, double lo, double hi,
                             double *out) {
    fw_status st = want_scalar(y, n, path, "a number");
    if (st) return st;
    const char *s = fw_yaml_scalar(n);
    double v;
    if (!fw_decimal_parse(s, strlen(s), &v, NULL)) return fw_yaml_error(y, n, "'%s': expected a number, got '%s'", path, s);
    if (v < lo || v > hi) return fw_yaml_error(y, n, "'%s': %s is out of range [%g, %g]", path, s, lo, hi);
    *out = v;
    return FW_OK;
}

fw_status fw_yaml_get_int(fw_yaml *y, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
                          uint64_t *out) {
    fw_status st = want_scalar(y, n, path, "an integer");
    if (st) return st;
    const char *s = fw_yaml_scalar(n), *q = s + (*s == '+');
    size_t len = strlen(q);
    bool digits = len > 0 && strspn(q, "0123456789") == len, range = false;
    uint64_t v = 0;
    if (digits) {
        errno = 0;
        unsigned long long u = strtoull(q, NULL, 10);
        range = errno == ERANGE;
        v = u;
    } else { /* a whole number written as a number: 1e6 */
        double d;
        if (!fw_decimal_parse(s, strlen(s), &d, NULL) || d != floor(d) || d < 0)
            return fw_yaml_error(y, n, "'%s': expected an integer, got '%s'", path, s);
        range = d >= 18446744073709551616.0;
        v = range ? 0 : (uint64_t)d;
    }
    if (range || v < lo || v > hi)
        return fw_yaml_error(y, n, "'%s': %s is out of range [%llu, %llu]", path, s, (unsigned long long)lo,
                             (unsigned long long)hi);
    *out = v;
    return FW_OK;
}

fw_status fw_yaml_get_u32(fw_yaml *y, const yaml_node_t *n, const char *path, uint32_t lo, uint32_t hi,
                          uint32_t *out) {
    uint64_t v;
    fw_status st = fw_yaml_get_int(y, n, path, lo, hi, &v);
    if (!st) *out = (uint32_t)v;
    return st;
}

fw_status fw_yaml_get_bool(fw_yaml *y, const yaml_node_t *n, const char *path, bool *out) {
    fw_status st = want_scalar(y, n, path, "true or false");
    if (st) return st;
    const char *s = fw_yaml_scalar(n);
    static const char *const yes[] = {"true", "yes", "on", NULL}, *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (!strcasecmp(s, yes[i])) return *out = true, FW_OK;
    for (int i = 0; no[i]; i++)
        if (!strcasecmp(s, no[i])) return *out = false, FW_OK;
    return fw_yaml_error(y, n, "'%s': expected true or false, got '%s'", path, s);
}

fw_status fw_yaml_get_enum(fw_yaml *y, const yaml_node_t *n, const char *path, const char *const *allowed,
                           int *out) {
    fw_status st = want_scalar(y, n, path, "a string");
    if (st) return st;
    const char *s = fw_yaml_scalar(n);
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(s, allowed[i])) return *out = i, FW_OK;
    char list[256];
    join(allowed, list, sizeof list);
    const char *near = nearest(s, allowed);
    if (near)
        return fw_yaml_error(y, n, "'%s': unknown value '%s' (did you mean '%s'? allowed: %s)", path, s, near, list);
    return fw_yaml_error(y, n, "'%s': unknown value '%s' (allowed: %s)", path, s, list);
}

fw_status fw_yaml_get_str_list(fw_yaml *y, const yaml_node_t *n, const char *path, bool allow_scalar,
                               char ***out, size_t *n_out) {
    for (size_t i = 0; i < *n_out; i++) fw_free((*out)[i]);
    fw_free(*out);
    *out = NULL;
    *n_out = 0;
    if (fw_yaml_is_null(n)) return FW_OK;
    if (n->type == YAML_SCALAR_NODE && allow_scalar) {
        *out = fw_calloc(1, sizeof(char *));
        if (!*out || !(**out = fw_strdup(fw_yaml_scalar(n)))) return fw_yaml_oom(y);
        *n_out = 1;
        return FW_OK;
    }
    size_t count;
    fw_status st = fw_yaml_list(y, n, path, allow_scalar ? "a list or a string" : NULL, MAX_LIST_ITEMS, &count);
    if (st || !count) return st;
    *out = fw_calloc(count, sizeof(char *));
    if (!*out) return fw_yaml_oom(y);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *it = fw_yaml_item(y, n, i);
        if (!it || it->type != YAML_SCALAR_NODE || fw_yaml_is_null(it))
            return fw_yaml_error(y, it ? it : n, "'%s[%zu]': expected a string, got %s", path, i,
                                 it && it->type == YAML_SCALAR_NODE ? "nothing" : fw_yaml_kind(it));
        (*out)[i] = fw_strdup(fw_yaml_scalar(it));
        if (!(*out)[i]) return fw_yaml_oom(y);
        *n_out = i + 1;
    }
    return FW_OK;
}

fw_status fw_yaml_list(fw_yaml *y, const yaml_node_t *n, const char *path, const char *what, size_t max,
                       size_t *count) {
    *count = 0;
    if (fw_yaml_is_null(n)) return FW_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return fw_yaml_error(y, n, "'%s': expected %s, got %s", path, what ? what : "a list", fw_yaml_kind(n));
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (k > max) return fw_yaml_error(y, n, "'%s': too many items (%zu)", path, k);
    *count = k;
    return FW_OK;
}

yaml_node_t *fw_yaml_item(fw_yaml *y, const yaml_node_t *list, size_t i) {
    return yaml_document_get_node(y->doc, list->data.sequence.items.start[i]);
}

fw_status fw_yaml_walk_map(fw_yaml *y, const yaml_node_t *map, const char *path, const char *const *known,
                           fw_yaml_pair_fn fn, void *ud) {
    if (map->type != YAML_MAPPING_NODE)
        return fw_yaml_error(y, map, "'%s': expected a map, got %s", path, fw_yaml_kind(map));
    int seen_line[64] = {0};
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, pr->value);
        if (!k || !v) return fw_yaml_error(y, map, "'%s': malformed map", path);
        if (k->type != YAML_SCALAR_NODE)
            return fw_yaml_error(y, k, "%s%s%skeys must be strings, got %s", *path ? "'" : "", path,
                                 *path ? "': " : "", fw_yaml_kind(k));
        const char *ks = fw_yaml_scalar(k);
        int idx = -1;
        for (int i = 0; known[i] && i < 64; i++)
            if (!strcmp(ks, known[i])) idx = i;
        if (idx < 0) {
            const char *near = nearest(ks, known);
            char where[160];
            if (*path) snprintf(where, sizeof where, " in '%s'", path);
            else where[0] = 0;
            if (near) return fw_yaml_error(y, k, "unknown key '%s'%s (did you mean '%s'?)", ks, where, near);
            char list[400];
            join(known, list, sizeof list);
            return fw_yaml_error(y, k, "unknown key '%s'%s (known keys: %s)", ks, where, list);
        }
        if (seen_line[idx])
            return fw_yaml_error(y, k, "duplicate key '%s%s%s' (first given on line %d)", path, *path ? "." : "", ks,
                                 seen_line[idx]);
        seen_line[idx] = fw_yaml_line(k);
        fw_status st = fn(y, idx, v, k, ud);
        if (st) return st;
    }
    return FW_OK;
}

yaml_node_t *fw_yaml_map_get(fw_yaml *y, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pr->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(fw_yaml_scalar(k), key))
            return yaml_document_get_node(y->doc, pr->value);
    }
    return NULL;
}
