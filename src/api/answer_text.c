/* answer_text.c — owns the text of an answer as `flywheel batch` writes it in its `prediction` column:
 * the decision's label (class name, fixed value, "review"), labels joined by '|' (multilabel), or
 * the value in the shortest round-trip form (core/dtoa.h, as batch writes it). The rules are batch's
 * (batch/batch_bundle.c: which label; batch/batch.c put_prediction: the text); the test
 * tests/api/test_api.c compares the two on every family. */
#include "api/api_int.h"

#include "core/dtoa.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Appends s[0..n) at *k within buf[0..cap) (always counting the full length). */
static void put(char *buf, size_t cap, size_t *k, const char *s, size_t n) {
    if (*k < cap) {
        size_t room = cap - 1 - *k, c = n < room ? n : room;
        if (cap) memcpy(buf + *k, s, c);
    }
    *k += n;
}

size_t fw_result_text(const fw_predictor *m, const fw_result *res, const double *scores, char *buf, size_t cap) {
    size_t k = 0;
    char tmp[40];
    const char *lab = NULL;
    if (res->source == FW_SOURCE_REVIEW) lab = "review";
    else if (res->label_name) lab = res->label_name;
    if (lab) put(buf, cap, &k, lab, strlen(lab));
    else if (!scores || res->n_scores < m->n_outputs) {
        /* no scores: only the decision's value can be written */
        if (isfinite(res->value)) {
            size_t n = fw_dtoa(res->value, tmp);
            put(buf, cap, &k, tmp, n);
        }
    } else {
        switch (m->task) {
        case FW_TASK_BINARY: {
            int c = scores[0] >= m->threshold ? 1 : 0;
            if (m->n_text_classes == 2) put(buf, cap, &k, m->classes[c], strlen(m->classes[c]));
            else put(buf, cap, &k, c ? "1" : "0", 1);
            break;
        }
        case FW_TASK_MULTICLASS: {
            size_t best = 0;
            for (size_t j = 1; j < m->n_outputs; j++)
                if (scores[j] > scores[best]) best = j;
            if (best < m->n_text_classes) put(buf, cap, &k, m->classes[best], strlen(m->classes[best]));
            else {
                int n = snprintf(tmp, sizeof tmp, "%zu", best);
                put(buf, cap, &k, tmp, n > 0 ? (size_t)n : 0);
            }
            break;
        }
        case FW_TASK_MULTILABEL: {
            bool first = true;
            for (size_t j = 0; j < m->n_outputs; j++)
                if (scores[j] >= 0.5) {
                    if (!first) put(buf, cap, &k, "|", 1);
                    first = false;
                    const char *c = j < m->n_text_classes ? m->classes[j] : "?";
                    put(buf, cap, &k, c, strlen(c));
                }
            break;
        }
        default: {
            /* an abstained regression answer carries its value in res->value (batch does the same) */
            double v = res->source != FW_SOURCE_MODEL ? res->value : scores[0];
            if (isfinite(v)) {
                size_t n = fw_dtoa(v, tmp);
                put(buf, cap, &k, tmp, n);
            }
        }
        }
    }
    if (cap) buf[k < cap ? k : cap - 1] = '\0';
    return k;
}
