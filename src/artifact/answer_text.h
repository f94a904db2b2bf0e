/* answer_text.h — owns the text of an answer: what `flywheel batch` writes in its `prediction`
 * column and the C API's fw_result_text gives (the one home of these rules; issue 16):
 *   - the decision's own text when it has one ("review" for an abstention, a fixed class name);
 *   - binary: the class name of score >= threshold (positive) or below, "1"/"0" without names;
 *   - multiclass: the name of the highest score (the first on a tie), its index without a name;
 *   - multilabel: the names of the labels scoring >= 0.5 joined by '|' ("" when none);
 *   - regression and ranking: the value's shortest round-trip text (core/dtoa.h), nothing when
 *     the value is not finite (an empty CSV cell; a JSON writer writes null).
 * Pure, thread-safe, never allocates. */
#ifndef FW_ARTIFACT_ANSWER_TEXT_H
#define FW_ARTIFACT_ANSWER_TEXT_H

#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>

/* What the text depends on besides the answer. */
typedef struct fw_answer_shape {
    fw_task task;
    size_t n_outputs;             /* scores per answer */
    double threshold;             /* binary decision threshold */
    const char *const *classes;   /* the names the text uses (multilabel: the label columns) */
    size_t n_classes;             /* 0: unnamed */
} fw_answer_shape;

/* Writes the text of one answer into buf[0..cap): label (the decision's own text, or NULL), else
 * from scores (n_outputs of them), else — for regression and ranking, and for any task when scores
 * is NULL — value. Always NUL-terminates when cap > 0 (cut when longer) and returns the full
 * length, as snprintf does. *is_number (may be NULL) is set when the text is the value's (a JSON
 * writer writes it as a number, null when empty). */
size_t fw_answer_text(const fw_answer_shape *m, const char *label, const double *scores, double value, char *buf,
                      size_t cap, bool *is_number);

#endif
