/* rule.c — owns validating the baseline rule syntax when the project file is read, so a bad rule
 * is reported with the file's line before any data is loaded, and resolve can check the columns it
 * names. The grammar is the one models/rule.c evaluates:
 *   rule  := cond ("and" cond)* "->" value ("else" value)?
 *   cond  := column op value;  op := < <= > >= == != (a single = means ==)
 *   column: a bare name [A-Za-z_][A-Za-z0-9_.-]* or a "double-quoted" or `backquoted` name
 *   value : a number, a 'single' or "double" quoted string, or a bare word
 * Strings only compare with == and !=. */
#include "project/project.h"

#include "core/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rp {
    const char *text;
    const char *p;
    fw_err *err;
} rp;

static void skip_ws(rp *r) {
    while (*r->p == ' ' || *r->p == '\t') r->p++;
}

static fw_status fail(rp *r, const char *what) {
    return fw_err_set(r->err, FW_ECONFIG, "rule '%s': column %d: %s", r->text, (int)(r->p - r->text) + 1, what);
}

static bool at_word(const rp *r, const char *w) {
    size_t n = strlen(w);
    return !strncmp(r->p, w, n) && (r->p[n] == ' ' || r->p[n] == '\t' || r->p[n] == 0);
}

/* A quoted token starting at *r->p (which is the quote), unquoted into *out. */
static fw_status quoted(rp *r, char **out) {
    char q = *r->p++;
    const char *b = r->p;
    while (*r->p && *r->p != q) r->p++;
    if (!*r->p) return fail(r, "unterminated quote");
    *out = fw_strndup(b, (size_t)(r->p - b));
    r->p++;
    return *out ? FW_OK : fw_err_set(r->err, FW_ENOMEM, "out of memory");
}

static fw_status column(rp *r, char **out) {
    skip_ws(r);
    if (*r->p == '"' || *r->p == '`') return quoted(r, out);
    const char *b = r->p;
    if (isalpha((unsigned char)*r->p) || *r->p == '_')
        while (isalnum((unsigned char)*r->p) || strchr("_.-", *r->p)) {
            if (r->p[0] == '-' && r->p[1] == '>') break;
            r->p++;
        }
    if (r->p == b) return fail(r, "missing a column before the comparison");
    *out = fw_strndup(b, (size_t)(r->p - b));
    return *out ? FW_OK : fw_err_set(r->err, FW_ENOMEM, "out of memory");
}

/* A value: quoted, or a bare word up to blank space or "->". *is_str set for quoted values. */
static fw_status value(rp *r, char **out, bool *quoted_out, const char *what) {
    skip_ws(r);
    *quoted_out = false;
    if (*r->p == '"' || *r->p == '\'') {
        *quoted_out = true;
        return quoted(r, out);
    }
    const char *b = r->p;
    while (*r->p && *r->p != ' ' && *r->p != '\t' && !(r->p[0] == '-' && r->p[1] == '>')) r->p++;
    if (r->p == b) return fail(r, what);
    *out = fw_strndup(b, (size_t)(r->p - b));
    return *out ? FW_OK : fw_err_set(r->err, FW_ENOMEM, "out of memory");
}

void fw_rule_free(fw_rule *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_conds; i++) {
        fw_free(r->conds[i].column);
        fw_free(r->conds[i].value);
    }
    fw_free(r->conds);
    fw_free(r->then);
    fw_free(r->otherwise);
    memset(r, 0, sizeof *r);
}

static fw_status parse(rp *r, fw_rule *out) {
    size_t cap = 0;
    fw_status st;
    for (;;) {
        if (FW_GROW(&out->conds, &cap, out->n_conds + 1)) return fw_err_set(r->err, FW_ENOMEM, "out of memory");
        fw_rule_cond *c = &out->conds[out->n_conds];
        memset(c, 0, sizeof *c);
        out->n_conds++;
        if ((st = column(r, &c->column))) return st;
        skip_ws(r);
        static const char *const ops[] = {"<=", ">=", "==", "!=", "<", ">", "="};
        size_t k = 0;
        while (k < 7 && strncmp(r->p, ops[k], strlen(ops[k]))) k++;
        if (k == 7 || (k >= 4 && r->p[1] && strchr("<>=!", r->p[1])))
            return fail(r, "bad comparison (expected one of <, <=, >, >=, ==, !=)");
        strcpy(c->op, k == 6 ? "==" : ops[k]); /* fits: op is char[3] */
        r->p += strlen(ops[k]);
        bool q;
        if ((st = value(r, &c->value, &q, "missing a value after the comparison"))) return st;
        char *end = NULL;
        errno = 0;
        double v = strtod(c->value, &end);
        c->numeric = !q && end != c->value && !*end && errno != ERANGE && isfinite(v);
        c->num = c->numeric ? v : 0;
        if (!c->numeric && strcmp(c->op, "==") && strcmp(c->op, "!=")) {
            char msg[300];
            snprintf(msg, sizeof msg, "'%s' needs a number, got '%s'", c->op, c->value);
            return fail(r, msg);
        }
        skip_ws(r);
        if (at_word(r, "and")) {
            r->p += 3;
            continue;
        }
        if (r->p[0] == '-' && r->p[1] == '>') {
            r->p += 2;
            break;
        }
        return fail(r, *r->p ? "expected 'and' or '->'" : "missing '-> LABEL'");
    }
    bool q;
    if ((st = value(r, &out->then, &q, "missing a label after '->'"))) return st;
    skip_ws(r);
    if (at_word(r, "else")) {
        r->p += 4;
        if ((st = value(r, &out->otherwise, &q, "missing a value after 'else'"))) return st;
        skip_ws(r);
    }
    if (*r->p) return fail(r, "unexpected text after the rule");
    return FW_OK;
}

fw_status fw_rule_parse(const char *text, fw_rule *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!text || !*text) return fw_err_set(err, FW_ECONFIG, "empty rule");
    rp r = {text, text, err};
    fw_status st = parse(&r, out);
    if (st) fw_rule_free(out);
    return st;
}
