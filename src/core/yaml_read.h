/* yaml_read.h — owns reading typed values out of a libyaml document (the document API), for every
 * YAML file Flywheel reads: the project file (project/project_parse.c) and the serving section
 * (serve/config.c). Every error is FW_ECONFIG with a message naming the file, line and column and
 * the key path: "flywheel.yaml:5:18: 'split.test_fraction': expected a number, got 'abc'".
 *
 * The one behaviour of each getter:
 *   - null: a plain empty scalar, "~", "null", "Null" or "NULL" means "not given";
 *   - string: any scalar (null → NULL);
 *   - number: the text core/decimal.h reads (no spaces, hex, inf or nan), finite, in [lo, hi];
 *   - integer: digits (exact up to 2^64-1), or a number whose value is whole (1e6), in [lo, hi];
 *   - boolean: true/yes/on or false/no/off, any case;
 *   - enum: one of a NULL-terminated list, exactly (the error lists them and suggests the nearest);
 *   - map: keys are strings from a NULL-terminated list; an unknown key is an error that suggests
 *     the nearest known one or lists them, a repeated key is an error naming the first line.
 * Not thread-safe per fw_yaml (it carries the error); no global state. */
#ifndef FW_CORE_YAML_READ_H
#define FW_CORE_YAML_READ_H

#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct fw_yaml {
    yaml_document_t *doc;
    const char *file; /* the name errors give */
    fw_err *err;
    void *user; /* the caller's state, for fw_yaml_walk_map callbacks */
} fw_yaml;

/* Sets y->err to "FILE:LINE:COL: message" (n's position; "FILE: message" when n is NULL) and
 * returns FW_ECONFIG. */
fw_status fw_yaml_error(fw_yaml *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets y->err to "FILE: out of memory" and returns FW_ENOMEM. */
fw_status fw_yaml_oom(fw_yaml *y);

/* "a scalar", "a list", "a map" or "nothing", for messages. */
const char *fw_yaml_kind(const yaml_node_t *n);
/* The scalar's text, or NULL when n is NULL or not a scalar. */
const char *fw_yaml_scalar(const yaml_node_t *n);
bool fw_yaml_is_null(const yaml_node_t *n);
static inline int fw_yaml_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* The getters: on success set *out and return FW_OK; else an error naming path (the value is
 * left as it was). */
/* Replaces *out (fw_free'd) with a copy of the scalar; NULL for a null scalar. */
fw_status fw_yaml_get_str(fw_yaml *y, const yaml_node_t *n, const char *path, char **out);
fw_status fw_yaml_get_double(fw_yaml *y, const yaml_node_t *n, const char *path, double lo, double hi,
                             double *out);
fw_status fw_yaml_get_int(fw_yaml *y, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
                          uint64_t *out);
fw_status fw_yaml_get_u32(fw_yaml *y, const yaml_node_t *n, const char *path, uint32_t lo, uint32_t hi,
                          uint32_t *out);
fw_status fw_yaml_get_bool(fw_yaml *y, const yaml_node_t *n, const char *path, bool *out);
/* *out = the index in allowed (NULL-terminated). */
fw_status fw_yaml_get_enum(fw_yaml *y, const yaml_node_t *n, const char *path, const char *const *allowed,
                           int *out);
/* A list of strings (replacing *out[0..*n_out), fw_free'd); with allow_scalar a single string is a
 * one-item list; null is the empty list. */
fw_status fw_yaml_get_str_list(fw_yaml *y, const yaml_node_t *n, const char *path, bool allow_scalar,
                               char ***out, size_t *n_out);

/* A list's length into *count: 0 for null; not a list (the error says "expected WHAT", "a list"
 * when what is NULL) or more than max items is an error naming path. fw_yaml_item gives item i
 * (NULL for a malformed document). */
fw_status fw_yaml_list(fw_yaml *y, const yaml_node_t *n, const char *path, const char *what, size_t max,
                       size_t *count);
yaml_node_t *fw_yaml_item(fw_yaml *y, const yaml_node_t *list, size_t i);

/* Calls fn(y, key, value, key_node, ud) for each pair of the map in document order, key being the
 * key's index in known (NULL-terminated, at most 64 keys); stops at the first error. Not a map,
 * a key that is not a string, an unknown key and a repeated key are errors naming path ("" for
 * the top level). */
typedef fw_status (*fw_yaml_pair_fn)(fw_yaml *y, int key, yaml_node_t *val, yaml_node_t *key_node, void *ud);
fw_status fw_yaml_walk_map(fw_yaml *y, const yaml_node_t *map, const char *path, const char *const *known,
                           fw_yaml_pair_fn fn, void *ud);
/* The value of key in the map (NULL when absent or n is not a map). */
yaml_node_t *fw_yaml_map_get(fw_yaml *y, const yaml_node_t *map, const char *key);

#endif
