/* rule.c — owns the baseline rule syntax "COLUMN OP VALUE -> LABEL" (e.g. "calls >= 4 -> yes"):
 * parsing into fw_rule with precise messages. The baseline model evaluates it. */
#include "project/project.h"

#include "core/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* Copies a token [b, e) trimmed of blanks and of one pair of surrounding double quotes. */
static char *token(const char *b, const char *e) {
    while (b < e && (*b == ' ' || *b == '\t')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e - b >= 2 && *b == '"' && e[-1] == '"') b++, e--;
    return fw_strndup(b, (size_t)(e - b));
}

void fw_rule_free(fw_rule *r) {
    if (!r) return;
    fw_free(r->column);
    fw_free(r->value);
    fw_free(r->then);
    memset(r, 0, sizeof *r);
}

fw_status fw_rule_parse(const char *text, fw_rule *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!text) return fw_err_set(err, FW_ECONFIG, "empty rule");
    const char *arrow = strstr(text, "->");
    if (!arrow)
        return fw_err_set(err, FW_ECONFIG, "rule '%s': expected \"COLUMN OP VALUE -> LABEL\" (no '->')", text);
    if (strstr(arrow + 2, "->"))
        return fw_err_set(err, FW_ECONFIG, "rule '%s': more than one '->'", text);
    /* The column runs up to the first operator character. */
    const char *s = skip_ws(text);
    const char *op = s;
    while (op < arrow && !strchr("<>=!", *op)) op++;
    if (op == arrow)
        return fw_err_set(err, FW_ECONFIG,
                          "rule '%s': no comparison (expected one of >=, >, <=, <, ==, !=)", text);
    size_t oplen = (op[1] == '=') ? 2 : 1;
    char ops[3] = {op[0], oplen == 2 ? op[1] : 0, 0};
    static const char *const valid[] = {">=", ">", "<=", "<", "==", "!=", NULL};
    bool ok = false;
    for (int i = 0; valid[i]; i++) ok |= !strcmp(ops, valid[i]);
    if (!ok || strchr("<>=!", op[oplen]))
        return fw_err_set(err, FW_ECONFIG, "rule '%s': bad comparison '%.*s' (expected one of >=, >, "
                          "<=, <, ==, !=)", text, (int)(oplen + (strchr("<>=!", op[oplen]) ? 1 : 0)), op);
    memcpy(out->op, ops, 3);
    out->column = token(s, op);
    out->value = token(op + oplen, arrow);
    out->then = token(arrow + 2, arrow + strlen(arrow));
    if (!out->column || !out->value || !out->then) {
        fw_rule_free(out);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    const char *missing = !*out->column ? "a column before the comparison"
                        : !*out->value  ? "a value after the comparison"
                        : !*out->then   ? "a label after '->'"
                                        : NULL;
    if (missing) {
        fw_rule_free(out);
        return fw_err_set(err, FW_ECONFIG, "rule '%s': missing %s", text, missing);
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(out->value, &end);
    out->numeric = end != out->value && !*end && errno != ERANGE && isfinite(v);
    out->num = out->numeric ? v : 0;
    if (!out->numeric && strcmp(out->op, "==") && strcmp(out->op, "!=")) {
        fw_status st = fw_err_set(err, FW_ECONFIG, "rule '%s': '%s' needs a number, got '%s'", text,
                                  out->op, out->value);
        fw_rule_free(out);
        return st;
    }
    return FW_OK;
}
