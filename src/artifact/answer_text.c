/* answer_text.c — owns the text of an answer (answer_text.h): the rules batch's prediction column
 * and the C API's fw_result_text share. */
#include "artifact/answer_text.h"

#include "core/dtoa.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Appends s[0..n) at *k within buf[0..cap) (always counting the full length). */
static void put(char *buf, size_t cap, size_t *k, const char *s, size_t n) {
    if (*k < cap) {
        size_t room = cap - 1 - *k, c = n < room ? n : room;
        memcpy(buf + *k, s, c);
    }
    *k += n;
}

static void put_str(char *buf, size_t cap, size_t *k, const char *s) { put(buf, cap, k, s, strlen(s)); }

static void put_value(char *buf, size_t cap, size_t *k, double v) {
    char tmp[FW_DTOA_MAX];
    if (isfinite(v)) put(buf, cap, k, tmp, fw_dtoa(v, tmp));
}

size_t fw_answer_text(const fw_answer_shape *m, const char *label, const double *scores, double value, char *buf,
                      size_t cap, bool *is_number) {
    size_t k = 0;
    bool number = false;
    char tmp[32];
    if (label) {
        put_str(buf, cap, &k, label);
    } else if (!scores) {
        number = true; /* no scores: only the decision's value can be written */
        put_value(buf, cap, &k, value);
    } else {
        switch (m->task) {
        case FW_TASK_BINARY: {
            int c = scores[0] >= m->threshold ? 1 : 0;
            put_str(buf, cap, &k, m->n_classes == 2 ? m->classes[c] : c ? "1" : "0");
            break;
        }
        case FW_TASK_MULTICLASS: {
            size_t best = 0;
            for (size_t j = 1; j < m->n_outputs; j++)
                if (scores[j] > scores[best]) best = j;
            if (best < m->n_classes) {
                put_str(buf, cap, &k, m->classes[best]);
            } else {
                snprintf(tmp, sizeof tmp, "%zu", best);
                put_str(buf, cap, &k, tmp);
            }
            break;
        }
        case FW_TASK_MULTILABEL: {
            bool first = true;
            for (size_t j = 0; j < m->n_outputs; j++)
                if (scores[j] >= 0.5) {
                    if (!first) put(buf, cap, &k, "|", 1);
                    first = false;
                    put_str(buf, cap, &k, j < m->n_classes ? m->classes[j] : "?");
                }
            break;
        }
        default:
            number = true;
            put_value(buf, cap, &k, value);
        }
    }
    if (cap) buf[k < cap ? k : cap - 1] = '\0';
    if (is_number) *is_number = number;
    return k;
}
