/* report_html_params.c — owns the params column of the HTML report: a model's hyperparameters as
 * readable "key = value" pairs (one unbreakable pair per chip, wrapping between pairs) instead of
 * the raw JSON text, with numbers in their shortest round-trip form. */
#include "eval/report_html_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fw__report_shortest(char *buf, size_t size, double v) {
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v < 0 ? "-inf" : "inf");
        return;
    }
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* plain decimals rather than an exponent for ordinary magnitudes: 50, not 5e+01 */
    double a = fabs(v);
    if (strchr(buf, 'e') && a >= 1e-5 && a < 1e16) {
        int dec = prec - 1 - (int)floor(log10(a));
        char alt[64];
        snprintf(alt, sizeof alt, "%.*f", dec > 0 ? dec : 0, v);
        if (strtod(alt, NULL) == v && strlen(alt) < size) snprintf(buf, size, "%s", alt);
    }
}

enum { MAX_VALUE_CHARS = 48 };

/* The raw (unescaped) text of a value. */
static void value_text(fw_buf *b, json_t *v) {
    char num[40];
    switch (json_typeof(v)) {
    case JSON_STRING: fw_buf_printf(b, "%s", json_string_value(v)); break;
    case JSON_INTEGER: fw_buf_printf(b, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL:
        fw__report_shortest(num, sizeof num, json_real_value(v));
        fw_buf_printf(b, "%s", num);
        break;
    case JSON_TRUE: fw_buf_printf(b, "true"); break;
    case JSON_FALSE: fw_buf_printf(b, "false"); break;
    case JSON_NULL: fw_buf_printf(b, "none"); break;
    case JSON_ARRAY: {
        fw_buf_printf(b, "[");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (i) fw_buf_printf(b, ", ");
            value_text(b, e);
        }
        fw_buf_printf(b, "]");
        break;
    }
    case JSON_OBJECT: fw_buf_printf(b, "{...}"); break;
    }
}

static void pairs(fw_buf *b, json_t *obj, const char *prefix) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        char key[160];
        snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v) && json_object_size(v)) {
            pairs(b, v, key);
            continue;
        }
        fw_buf vb;
        fw_buf_init(&vb);
        value_text(&vb, v);
        fw_buf_put_u8(&vb, 0);
        const char *text = fw_buf_ok(&vb) ? (const char *)vb.data : "";
        size_t len = strlen(text);
        fw_buf_printf(b, "<span class=\"kv\"");
        if (len > MAX_VALUE_CHARS) { /* the whole value stays readable on hover */
            fw_buf_printf(b, " title=\"");
            fw__html_esc(b, text);
            fw_buf_printf(b, "\"");
        }
        fw_buf_printf(b, ">");
        fw__html_esc(b, key);
        fw_buf_printf(b, " = ");
        if (len > MAX_VALUE_CHARS) {
            char cut[MAX_VALUE_CHARS];
            size_t n = MAX_VALUE_CHARS - 4;
            while (n && ((unsigned char)text[n] & 0xC0) == 0x80) n--; /* not inside a UTF-8 sequence */
            memcpy(cut, text, n);
            cut[n] = 0;
            fw__html_esc(b, cut);
            fw_buf_printf(b, "&hellip;");
        } else {
            fw__html_esc(b, text);
        }
        fw_buf_printf(b, "</span> ");
        fw_buf_free(&vb);
    }
}

void fw__html_params(fw_buf *b, const char *params_json) {
    if (!params_json || !*params_json) {
        fw_buf_printf(b, "<span class=\"kv\">(defaults)</span>");
        return;
    }
    json_error_t je;
    json_t *j = json_loads(params_json, JSON_DECODE_ANY, &je);
    if (!j || !json_is_object(j)) {
        fw_buf_printf(b, "<code>");
        fw__html_esc(b, params_json);
        fw_buf_printf(b, "</code>");
    } else if (!json_object_size(j)) {
        fw_buf_printf(b, "<span class=\"kv\">(defaults)</span>");
    } else {
        pairs(b, j, "");
    }
    json_decref(j);
}
