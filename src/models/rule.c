/* rule.c — owns parsing, binding, fitting, evaluation and serialization of rule baselines
 * (see rule.h for the grammar and the meaning of the outputs). */
#include "models/rule.h"

#include "core/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RULE_FORMAT 1u
#define HARD_P 0.999

typedef struct lexer {
    const char *s;
    size_t i;
} lexer;

static void skip_ws(lexer *lx) {
    while (lx->s[lx->i] && isspace((unsigned char)lx->s[lx->i])) lx->i++;
}

static fw_status perr(const lexer *lx, size_t pos, fw_err *err, const char *what) {
    const char *at = lx->s + pos;
    int n = 0;
    while (at[n] && !isspace((unsigned char)at[n]) && n < 20) n++;
    if (!*at) return fw_err_set(err, FW_EPARSE, "rule '%s': column %zu: %s, got the end of the rule",
                                lx->s, pos + 1, what);
    return fw_err_set(err, FW_EPARSE, "rule '%s': column %zu: %s, got '%.*s'", lx->s, pos + 1, what,
                      n, at);
}

static bool is_word_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_word(char c) {
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* A keyword at the cursor followed by a non-word character. */
static bool at_keyword(const lexer *lx, const char *kw) {
    size_t n = strlen(kw);
    return strncasecmp(lx->s + lx->i, kw, n) == 0 && !is_word(lx->s[lx->i + n]);
}

/* Reads a column name: bare word or quoted. */
static fw_status read_name(lexer *lx, char **out, size_t *pos, fw_err *err) {
    skip_ws(lx);
    *pos = lx->i;
    char c = lx->s[lx->i];
    if (c == '"' || c == '`') {
        const char *end = strchr(lx->s + lx->i + 1, c);
        if (!end) return perr(lx, lx->i, err, "unterminated quoted column name");
        *out = fw_strndup(lx->s + lx->i + 1, (size_t)(end - lx->s - lx->i - 1));
        lx->i = (size_t)(end - lx->s) + 1;
    } else if (is_word_start(c)) {
        size_t b = lx->i;
        while (is_word(lx->s[lx->i])) lx->i++;
        *out = fw_strndup(lx->s + b, lx->i - b);
    } else {
        return perr(lx, lx->i, err, "expected a column name");
    }
    return *out ? FW_OK : fw_err_set(err, FW_ENOMEM, "rule: out of memory");
}

/* Reads a value: number, quoted string, or bare word. */
static fw_status read_value(lexer *lx, bool *is_num, double *num, char **str, size_t *pos,
                            fw_err *err) {
    skip_ws(lx);
    *pos = lx->i;
    char c = lx->s[lx->i];
    *str = NULL;
    if (c == '\'' || c == '"') {
        const char *end = strchr(lx->s + lx->i + 1, c);
        if (!end) return perr(lx, lx->i, err, "unterminated quoted value");
        *is_num = false;
        *str = fw_strndup(lx->s + lx->i + 1, (size_t)(end - lx->s - lx->i - 1));
        lx->i = (size_t)(end - lx->s) + 1;
        return *str ? FW_OK : fw_err_set(err, FW_ENOMEM, "rule: out of memory");
    }
    char c1 = c ? lx->s[lx->i + 1] : 0;
    if (isdigit((unsigned char)c) ||
        ((c == '-' || c == '+' || c == '.') && (isdigit((unsigned char)c1) || c1 == '.'))) {
        char *end;
        errno = 0;
        double v = strtod(lx->s + lx->i, &end);
        if (end == lx->s + lx->i || errno || !isfinite(v) || is_word(*end))
            return perr(lx, lx->i, err, "expected a number");
        *is_num = true;
        *num = v;
        lx->i = (size_t)(end - lx->s);
        return FW_OK;
    }
    if (is_word_start(c)) {
        size_t b = lx->i;
        while (is_word(lx->s[lx->i])) lx->i++;
        *is_num = false;
        *str = fw_strndup(lx->s + b, lx->i - b);
        return *str ? FW_OK : fw_err_set(err, FW_ENOMEM, "rule: out of memory");
    }
    return perr(lx, lx->i, err, "expected a value (number, 'string' or word)");
}

static bool read_op(lexer *lx, fw_baseline_rule_op *op) {
    skip_ws(lx);
    const char *p = lx->s + lx->i;
    static const struct { const char *t; fw_baseline_rule_op op; } ops[] = {
        {"<=", FW_BRULE_LE}, {">=", FW_BRULE_GE}, {"==", FW_BRULE_EQ}, {"!=", FW_BRULE_NE},
        {"<", FW_BRULE_LT},  {">", FW_BRULE_GT},  {"=", FW_BRULE_EQ}};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        size_t n = strlen(ops[k].t);
        if (strncmp(p, ops[k].t, n) == 0 && !(n == 1 && p[0] == '=' && p[1] == '>')) {
            *op = ops[k].op;
            lx->i += n;
            return true;
        }
    }
    return false;
}

void fw_baseline_rule_free(fw_baseline_rule *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_conds; i++) {
        fw_free(r->conds[i].column);
        fw_free(r->conds[i].str);
    }
    fw_free(r->conds);
    fw_free(r->then_v.label);
    fw_free(r->else_v.label);
    fw_free(r->out_true);
    fw_free(r->out_false);
    fw_free(r->text);
    memset(r, 0, sizeof *r);
}

static fw_status read_result(lexer *lx, fw_baseline_rule_value *v, fw_err *err) {
    v->present = true;
    return read_value(lx, &v->is_num, &v->num, &v->label, &v->pos, err);
}

fw_status fw_baseline_rule_parse(const char *text, fw_baseline_rule *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (!text) return fw_err_set(err, FW_EPARSE, "rule: empty");
    if (!(out->text = fw_strdup(text))) return fw_err_set(err, FW_ENOMEM, "rule: out of memory");
    lexer lx = {out->text, 0};
    size_t cap = 0;
    fw_status st;
    for (;;) {
        if ((st = FW_GROW(&out->conds, &cap, out->n_conds + 1)))
            return fw_err_set(err, st, "rule: out of memory");
        fw_baseline_rule_cond *c = &out->conds[out->n_conds++];
        memset(c, 0, sizeof *c);
        c->input = -1;
        if ((st = read_name(&lx, &c->column, &c->column_pos, err))) return st;
        c->column_pos++;
        if (!read_op(&lx, &c->op)) return perr(&lx, lx.i, err, "expected an operator (< <= > >= == !=)");
        size_t vpos;
        if ((st = read_value(&lx, &c->is_num, &c->num, &c->str, &vpos, err))) return st;
        if (!c->is_num && c->op != FW_BRULE_EQ && c->op != FW_BRULE_NE)
            return perr(&lx, vpos, err, "a string value needs == or !=; expected a number");
        skip_ws(&lx);
        if (at_keyword(&lx, "and")) {
            lx.i += 3;
            continue;
        }
        break;
    }
    skip_ws(&lx);
    if (strncmp(lx.s + lx.i, "->", 2) != 0) return perr(&lx, lx.i, err, "expected 'and' or '->'");
    lx.i += 2;
    if ((st = read_result(&lx, &out->then_v, err))) return st;
    out->then_v.pos++;
    skip_ws(&lx);
    if (at_keyword(&lx, "else")) {
        lx.i += 4;
        if ((st = read_result(&lx, &out->else_v, err))) return st;
        out->else_v.pos++;
        skip_ws(&lx);
    }
    if (lx.s[lx.i]) return perr(&lx, lx.i, err, "expected the end of the rule");
    return FW_OK;
}

/* Parses a string input as a number when it looks like one. */
static bool str_num(const char *s, size_t len, double *out) {
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) return false;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *end;
    double v = strtod(tmp, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    if (end == tmp || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Fills o[n_outputs] for a result value. */
static fw_status result_outputs(const fw_baseline_rule *r, const fw_baseline_rule_value *v,
                                const char *const *class_names, size_t n_classes, double *o,
                                fw_err *err) {
    size_t no = r->n_outputs;
    if (r->task == FW_TASK_REGRESSION || r->task == FW_TASK_RANKING) {
        if (!v->is_num)
            return fw_err_set(err, FW_EINVAL, "rule '%s': column %zu: expected a number for a %s task, got '%s'",
                              r->text, v->pos, fw_task_name(r->task), v->label);
        o[0] = v->num;
        return FW_OK;
    }
    size_t c;
    if (v->is_num) { /* a number naming a class ("-> 3" with classes "0".."9") is that class */
        for (c = 0; c < n_classes; c++) {
            double cv;
            if (class_names && class_names[c] &&
                str_num(class_names[c], strlen(class_names[c]), &cv) && cv == v->num)
                break;
        }
        if (c < n_classes) goto found;
        if (r->task != FW_TASK_BINARY || v->num < 0 || v->num > 1)
            return fw_err_set(err, FW_EINVAL,
                              "rule '%s': column %zu: a number result must be a probability in [0, 1] "
                              "of a binary task; got %g",
                              r->text, v->pos, v->num);
        o[0] = v->num;
        return FW_OK;
    }
    for (c = 0; c < n_classes; c++)
        if (class_names && class_names[c] && strcmp(class_names[c], v->label) == 0) break;
    if (c == n_classes)
        return fw_err_set(err, FW_ENOTFOUND, "rule '%s': column %zu: unknown class '%s'", r->text,
                          v->pos, v->label);
found:
    if (r->task == FW_TASK_BINARY) {
        o[0] = c == 1 ? HARD_P : 1 - HARD_P;
    } else {
        for (size_t k = 0; k < no; k++) o[k] = (1 - HARD_P) / (double)(no - 1);
        o[c] = HARD_P;
    }
    return FW_OK;
}

fw_status fw_baseline_rule_bind(fw_baseline_rule *r, const char *const *inputs, size_t n_inputs, fw_task task,
                       const char *const *class_names, size_t n_classes, fw_err *err) {
    if (task == FW_TASK_MULTILABEL)
        return fw_err_set(err, FW_EUNSUPPORTED, "rule '%s': rules are not supported for multilabel",
                          r->text);
    if (task == FW_TASK_MULTICLASS && n_classes < 2)
        return fw_err_set(err, FW_EINVAL, "rule '%s': multiclass needs classes", r->text);
    for (size_t i = 0; i < r->n_conds; i++) {
        fw_baseline_rule_cond *c = &r->conds[i];
        c->input = -1;
        for (size_t k = 0; k < n_inputs; k++)
            if (inputs[k] && strcmp(inputs[k], c->column) == 0) {
                c->input = (int)k;
                break;
            }
        if (c->input < 0)
            return fw_err_set(err, FW_ENOTFOUND, "rule '%s': column %zu: unknown input column '%s'",
                              r->text, c->column_pos, c->column);
    }
    r->task = task;
    r->n_outputs = task == FW_TASK_MULTICLASS ? n_classes : 1;
    fw_free(r->out_true);
    fw_free(r->out_false);
    r->out_true = fw_calloc(r->n_outputs, sizeof(double));
    r->out_false = fw_calloc(r->n_outputs, sizeof(double));
    if (!r->out_true || !r->out_false) return fw_err_set(err, FW_ENOMEM, "rule: out of memory");
    fw_status st = result_outputs(r, &r->then_v, class_names, n_classes, r->out_true, err);
    if (st) return st;
    if (r->else_v.present) {
        if ((st = result_outputs(r, &r->else_v, class_names, n_classes, r->out_false, err))) return st;
        r->fitted = true;
    }
    r->bound = true;
    return FW_OK;
}

static bool cond_true(const fw_baseline_rule_cond *c, const fw_value *v) {
    if (v->kind == FW_VALUE_MISSING) return false;
    double x;
    if (c->is_num) {
        if (v->kind == FW_VALUE_NUMBER) x = v->num;
        else if (!str_num(v->str, v->len, &x)) return false;
        if (isnan(x)) return false;
        switch (c->op) {
        case FW_BRULE_LT: return x < c->num;
        case FW_BRULE_LE: return x <= c->num;
        case FW_BRULE_GT: return x > c->num;
        case FW_BRULE_GE: return x >= c->num;
        case FW_BRULE_EQ: return x == c->num;
        case FW_BRULE_NE: return x != c->num;
        }
        return false;
    }
    bool eq;
    if (v->kind == FW_VALUE_NUMBER) {
        double y;
        if (!str_num(c->str, strlen(c->str), &y)) eq = false;
        else eq = v->num == y;
    } else {
        size_t n = strlen(c->str);
        eq = v->len == n && memcmp(v->str, c->str, n) == 0;
    }
    return c->op == FW_BRULE_EQ ? eq : !eq;
}

size_t fw_baseline_rule_rebind(fw_baseline_rule *r, const char *const *inputs, size_t n_inputs) {
    size_t lost = 0;
    for (size_t i = 0; i < r->n_conds; i++) {
        fw_baseline_rule_cond *c = &r->conds[i];
        c->input = -1;
        for (size_t k = 0; k < n_inputs && c->input < 0; k++)
            if (inputs[k] && strcmp(inputs[k], c->column) == 0) c->input = (int)k;
        lost += c->input < 0;
    }
    return lost;
}

bool fw_baseline_rule_test(const fw_baseline_rule *r, const fw_value *inputs) {
    for (size_t i = 0; i < r->n_conds; i++)
        if (r->conds[i].input < 0 || !cond_true(&r->conds[i], &inputs[r->conds[i].input])) return false;
    return true;
}

void fw_baseline_rule_eval(const fw_baseline_rule *r, const fw_value *inputs, double *out) {
    const double *src = fw_baseline_rule_test(r, inputs) ? r->out_true : r->out_false;
    memcpy(out, src, r->n_outputs * sizeof(double));
}

fw_status fw_baseline_rule_fit(fw_baseline_rule *r, const fw_value *values, size_t n_inputs, const double *y,
                      size_t n_rows, fw_err *err) {
    if (!r->bound) return fw_err_set(err, FW_EINVAL, "rule '%s': not bound", r->text);
    if (n_rows == 0) return fw_err_set(err, FW_EDATA, "rule '%s': no training rows", r->text);
    for (size_t i = 0; i < n_rows; i++)
        if (!isfinite(y[i]))
            return fw_err_set(err, FW_EDATA, "rule '%s': label of row %zu is not a number", r->text, i);
    if (r->else_v.present) return FW_OK;
    size_t no = r->n_outputs;
    double *acc = r->out_false;
    for (int pass = 0; pass < 2; pass++) {
        size_t cnt = 0;
        for (size_t k = 0; k < no; k++) acc[k] = 0;
        for (size_t i = 0; i < n_rows; i++) {
            if (pass == 0 && fw_baseline_rule_test(r, values + i * n_inputs)) continue;
            cnt++;
            if (r->task == FW_TASK_MULTICLASS) {
                size_t c = (size_t)y[i];
                if (y[i] < 0 || c >= no)
                    return fw_err_set(err, FW_EDATA, "rule '%s': row %zu: class %g out of range",
                                      r->text, i, y[i]);
                acc[c] += 1;
            } else {
                acc[0] += y[i];
            }
        }
        if (cnt == 0) continue; /* fires everywhere: use all rows */
        for (size_t k = 0; k < no; k++) acc[k] /= (double)cnt;
        break;
    }
    r->fitted = true;
    return FW_OK;
}

fw_status fw_baseline_rule_save(const fw_baseline_rule *r, fw_buf *out) {
    if (!r->bound || !r->fitted) return FW_EINVAL;
    fw_buf_put_u32(out, RULE_FORMAT);
    fw_buf_put_str(out, r->text);
    fw_buf_put_u32(out, (uint32_t)r->task);
    fw_buf_put_u64(out, r->n_outputs);
    fw_buf_put_u64(out, r->n_conds);
    for (size_t i = 0; i < r->n_conds; i++) fw_buf_put_i32(out, r->conds[i].input);
    fw_buf_put_f64s(out, r->out_true, r->n_outputs);
    fw_buf_put_f64s(out, r->out_false, r->n_outputs);
    return fw_buf_ok(out) ? FW_OK : FW_ENOMEM;
}

fw_status fw_baseline_rule_load(fw_reader *rd, fw_baseline_rule *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    uint32_t ver = fw_reader_u32(rd);
    if (!fw_reader_ok(rd)) return fw_err_set(err, FW_ECORRUPT, "rule: truncated");
    if (ver != RULE_FORMAT) return fw_err_set(err, FW_EVERSION, "rule: format %u unsupported", ver);
    char *text = NULL;
    if (!fw_reader_str(rd, &text) || !text) return fw_err_set(err, FW_ECORRUPT, "rule: bad text");
    fw_status st = fw_baseline_rule_parse(text, out, err);
    fw_free(text);
    if (st) {
        fw_baseline_rule_free(out);
        return fw_err_set(err, FW_ECORRUPT, "rule: stored text does not parse");
    }
    uint32_t task = fw_reader_u32(rd);
    uint64_t no = fw_reader_u64(rd), nc = fw_reader_u64(rd);
    if (!fw_reader_ok(rd) || task > FW_TASK_RANKING || task == FW_TASK_MULTILABEL || no == 0 ||
        no > (1u << 20) || nc != out->n_conds || no * 16 > fw_reader_left(rd))
        goto bad;
    out->task = (fw_task)task;
    out->n_outputs = (size_t)no;
    for (size_t i = 0; i < out->n_conds; i++) {
        out->conds[i].input = fw_reader_i32(rd);
        if (out->conds[i].input < 0) goto bad;
    }
    out->out_true = fw_malloc(no * sizeof(double));
    out->out_false = fw_malloc(no * sizeof(double));
    if (!out->out_true || !out->out_false) {
        fw_baseline_rule_free(out);
        return fw_err_set(err, FW_ENOMEM, "rule: out of memory");
    }
    if (!fw_reader_f64s(rd, out->out_true, no) || !fw_reader_f64s(rd, out->out_false, no)) goto bad;
    for (size_t k = 0; k < no; k++)
        if (!isfinite(out->out_true[k]) || !isfinite(out->out_false[k])) goto bad;
    out->bound = out->fitted = true;
    return FW_OK;
bad:
    fw_baseline_rule_free(out);
    return fw_err_set(err, FW_ECORRUPT, "rule: corrupt section");
}
