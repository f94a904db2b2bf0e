/* args.c — owns the table-driven option parser of src/cli/ (args.h): matching argv against a
 * command's option table, converting and range-checking values, usage errors that name the option
 * and the value, and --help generated from the same table. */
#include "cli/args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static bool usage_error(fw_args *a, int *exit_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool usage_error(fw_args *a, int *exit_code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "flywheel %s: %s\n", a->cmd, a->error);
    *exit_code = 2;
    return false;
}

static fw_opt *resolve(const fw_args *a, fw_opt *o) {
    for (int hops = 0; o && o->same_as && hops < 4; hops++) {
        fw_opt *t = NULL;
        for (size_t i = 0; i < a->n_opts && !t; i++)
            if (a->opts[i].name && strcmp(a->opts[i].name, o->same_as) == 0) t = &a->opts[i];
        o = t;
    }
    return o;
}

fw_opt *fw_args_find(const fw_args *a, const char *name) {
    for (size_t i = 0; i < a->n_opts; i++)
        if (a->opts[i].kind != FW_OPT_SECTION && a->opts[i].name && strcmp(a->opts[i].name, name) == 0)
            return resolve(a, &a->opts[i]);
    return NULL;
}

unsigned fw_args_seen(const fw_args *a, const char *name) {
    const fw_opt *o = fw_args_find(a, name);
    return o ? o->seen : 0;
}

/* The table entry argv's word names: a long name (up to '=' when has_eq) or a short one. */
static fw_opt *match_long(const fw_args *a, const char *word, size_t len) {
    for (size_t i = 0; i < a->n_opts; i++) {
        const fw_opt *o = &a->opts[i];
        if (o->kind == FW_OPT_SECTION || !o->name) continue;
        if (strlen(o->name) == len && strncmp(o->name, word, len) == 0) return &a->opts[i];
    }
    return NULL;
}

static fw_opt *match_short(const fw_args *a, char c) {
    for (size_t i = 0; i < a->n_opts; i++)
        if (a->opts[i].kind != FW_OPT_SECTION && a->opts[i].short_name == c) return &a->opts[i];
    return NULL;
}

/* A whole number in [min, max]: decimal digits, or a number such as 1e6 that is exactly whole. */
static bool parse_int(const char *v, int64_t min, uint64_t max, uint64_t *bits) {
    if (!*v) return false;
    char *end;
    errno = 0;
    if (v[0] == '-') {
        long long x = strtoll(v, &end, 10);
        if (!errno && !*end) {
            if (x >= min) {
                *bits = (uint64_t)x;
                return true;
            }
            return false;
        }
    } else {
        unsigned long long x = strtoull(v, &end, 10);
        if (!errno && !*end) {
            if (x <= max && (min <= 0 || x >= (uint64_t)min)) {
                *bits = x;
                return true;
            }
            return false;
        }
        if (errno) return false; /* beyond 64 bits */
    }
    errno = 0;
    double d = strtod(v, &end);
    if (*end || end == v || !isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return false;
    if (d < 0) {
        if ((int64_t)d < min) return false;
        *bits = (uint64_t)(int64_t)d;
        return true;
    }
    if ((uint64_t)d > max || (min > 0 && (uint64_t)d < (uint64_t)min)) return false;
    *bits = (uint64_t)d;
    return true;
}

/* Converts and stores one value of option o (already resolved); false after a usage error. */
static bool set_value(fw_args *a, fw_opt *o, const char *spelled, const char *v, int *exit_code) {
    switch (o->kind) {
    case FW_OPT_STRING:
        *(const char **)o->dest = v;
        return true;
    case FW_OPT_LIST:
        if (o->count && *o->count >= o->cap) return usage_error(a, exit_code, "%s: at most %zu", spelled, o->cap);
        ((const char **)o->dest)[(*o->count)++] = v;
        return true;
    case FW_OPT_INT: {
        uint64_t bits;
        if (!parse_int(v, o->min, o->max, &bits)) {
            if (o->expect) return usage_error(a, exit_code, "%s: expected %s, got '%s'", spelled, o->expect, v);
            return usage_error(a, exit_code, "%s: expected an integer in [%" PRId64 ", %" PRIu64 "], got '%s'", spelled,
                               o->min, o->max, v);
        }
        if (o->size == sizeof(int32_t)) {
            int32_t x = (int32_t)bits;
            memcpy(o->dest, &x, sizeof x);
        } else {
            memcpy(o->dest, &bits, sizeof bits);
        }
        return true;
    }
    case FW_OPT_DOUBLE: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d) || !(d >= o->lo && d <= o->hi)) {
            if (o->expect) return usage_error(a, exit_code, "%s: expected %s, got '%s'", spelled, o->expect, v);
            return usage_error(a, exit_code, "%s: expected a number in [%g, %g], got '%s'", spelled, o->lo, o->hi, v);
        }
        *(double *)o->dest = d;
        return true;
    }
    case FW_OPT_ENUM: {
        for (int i = 0; o->choices && o->choices[i]; i++)
            if (strcmp(o->choices[i], v) == 0) {
                *(int *)o->dest = i;
                return true;
            }
        char list[300] = "";
        size_t len = 0;
        for (int i = 0; o->choices && o->choices[i] && len < sizeof list; i++) {
            int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", o->choices[i]);
            if (k < 0) break;
            len += (size_t)k;
        }
        return usage_error(a, exit_code, "%s: expected one of %s, got '%s'", spelled, list, v);
    }
    default:
        return usage_error(a, exit_code, "internal: option %s has no kind", spelled);
    }
}

bool fw_args_parse(fw_args *a, int argc, char **argv, int first, int *exit_code) {
    a->n_pos = 0;
    a->error[0] = '\0';
    *exit_code = 0;
    for (size_t i = 0; i < a->n_opts; i++) {
        a->opts[i].seen = 0;
        a->opts[i].text = NULL;
    }
    const char *see = a->help_cmd ? a->help_cmd : a->cmd;
    bool options_done = false;
    for (int i = first; i < argc; i++) {
        const char *w = argv[i];
        bool is_opt = !options_done && w[0] == '-' && w[1];
        if (is_opt && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!is_opt) {
            if (a->n_pos == 1 && a->max_pos == 1 && a->pos_name)
                return usage_error(a, exit_code, "one %s, got '%s' and '%s'", a->pos_name, a->pos[0], w);
            if (a->n_pos >= a->max_pos || a->n_pos >= FW_ARGS_MAX_POS)
                return usage_error(a, exit_code, "unexpected argument '%s' (see flywheel %s --help)", w, see);
            a->pos[a->n_pos++] = w;
            continue;
        }
        if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0) {
            fw_args_help(a, stdout);
            *exit_code = 0;
            return false;
        }
        /* which option, and an attached value (--name=VALUE, -xVALUE) */
        fw_opt *entry;
        const char *attached = NULL;
        char spelled[128];
        if (w[1] == '-') {
            const char *eq = strchr(w, '=');
            size_t len = eq ? (size_t)(eq - w) : strlen(w);
            entry = match_long(a, w, len);
            if (eq) attached = eq + 1;
            snprintf(spelled, sizeof spelled, "%.*s", (int)len, w);
        } else {
            entry = match_short(a, w[1]);
            if (w[2]) attached = w[2] == '=' ? w + 3 : w + 2;
            snprintf(spelled, sizeof spelled, "-%c", w[1]);
        }
        if (!entry) {
            if (w[1] != '-' && w[2]) /* "-xyz": name the whole word */
                return usage_error(a, exit_code, "unknown option '%s' (see flywheel %s --help)", w, see);
            return usage_error(a, exit_code, "unknown option '%s' (see flywheel %s --help)",
                               w[1] == '-' ? spelled : w, see);
        }
        fw_opt *o = resolve(a, entry);
        if (!o) return usage_error(a, exit_code, "internal: option %s is the same as an unknown option", spelled);
        if (o->kind == FW_OPT_FLAG) {
            if (attached) return usage_error(a, exit_code, "option %s takes no value (got '%s')", spelled, attached);
            *(bool *)o->dest = true;
            o->seen++;
            continue;
        }
        const char *v = attached;
        if (!v) {
            /* the next word is the value, unless there is none or it is one of this command's options */
            const char *next = i + 1 < argc ? argv[i + 1] : NULL;
            bool next_is_opt = false;
            if (next && next[0] == '-' && next[1] == '-' && next[2]) {
                const char *eq = strchr(next, '=');
                next_is_opt = match_long(a, next, eq ? (size_t)(eq - next) : strlen(next)) != NULL ||
                              strcmp(next, "--help") == 0;
            }
            if (!next || next_is_opt) {
                if (next) return usage_error(a, exit_code, "option %s needs a value (got the option '%s')", spelled, next);
                return usage_error(a, exit_code, "option %s needs a value", spelled);
            }
            v = next;
            i++;
        }
        if (o->seen && o->kind != FW_OPT_LIST && strcmp(o->text, v) != 0)
            return usage_error(a, exit_code, "%s: given twice ('%s', then '%s')", spelled, o->text, v);
        if (!(o->seen && o->kind != FW_OPT_LIST) && !set_value(a, o, spelled, v, exit_code)) return false;
        o->seen++;
        o->text = v;
    }
    return true;
}

/* One option's label in --help: "-q, --quiet", "--model REF", "--task binary|multiclass". */
static void label_of(const fw_opt *o, char *out, size_t cap) {
    char meta[200] = "";
    if (o->kind != FW_OPT_FLAG) {
        if (o->meta) {
            snprintf(meta, sizeof meta, " %s", o->meta);
        } else if (o->kind == FW_OPT_ENUM && o->choices) {
            size_t len = 0;
            for (int i = 0; o->choices[i] && len < sizeof meta; i++) {
                int k = snprintf(meta + len, sizeof meta - len, "%s%s", i ? "|" : " ", o->choices[i]);
                if (k < 0) break;
                len += (size_t)k;
            }
        } else {
            snprintf(meta, sizeof meta, " %s", o->kind == FW_OPT_INT || o->kind == FW_OPT_DOUBLE ? "N" : "VALUE");
        }
    }
    if (o->short_name) snprintf(out, cap, "-%c, %s%s", o->short_name, o->name, meta);
    else snprintf(out, cap, "%s%s", o->name, meta);
}

void fw_args_help(const fw_args *a, FILE *f) {
    if (a->usage) fputs(a->usage, f);
    /* the help column: two spaces past the longest label, at most 26 */
    size_t col = 0;
    char label[256];
    for (size_t i = 0; i < a->n_opts; i++) {
        if (a->opts[i].kind == FW_OPT_SECTION) continue;
        label_of(&a->opts[i], label, sizeof label);
        size_t w = 2 + strlen(label) + 2;
        if (w > col) col = w;
    }
    if (col > 26) col = 26;
    if (a->n_opts && a->opts[0].kind != FW_OPT_SECTION) fputs("options:\n", f);
    for (size_t i = 0; i < a->n_opts; i++) {
        const fw_opt *o = &a->opts[i];
        if (o->kind == FW_OPT_SECTION) {
            fprintf(f, "%s\n", o->help ? o->help : "");
            continue;
        }
        label_of(o, label, sizeof label);
        int pad = (int)col - 2 - (int)strlen(label);
        fprintf(f, "  %s%*s", label, pad >= 2 ? pad : 2, "");
        const char *h = o->help ? o->help : "";
        for (;;) {
            const char *nl = strchr(h, '\n');
            fprintf(f, "%.*s\n", (int)(nl ? nl - h : (long)strlen(h)), h);
            if (!nl || !nl[1]) break;
            h = nl + 1;
            fprintf(f, "%*s", (int)col, "");
        }
    }
    if (a->epilog) fputs(a->epilog, f);
}
