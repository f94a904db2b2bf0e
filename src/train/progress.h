/* progress.h — owns the live training progress line: one line per family rewritten in place on a
 * terminal (iteration, train and validation loss, elapsed, ETA; the fold of a cross-validation;
 * the model whose importance is being measured). When stderr is not a terminal (a log), the live
 * line is off and each long phase writes one line when it ends instead (fw_progress_log). */
#ifndef FW_TRAIN_PROGRESS_H
#define FW_TRAIN_PROGRESS_H

#include <stdbool.h>

typedef struct fw_progress {
    bool enabled;      /* a terminal: the live line */
    bool log;          /* progress wanted but stderr is not a terminal: a line per phase */
    double start, last_draw;
    const char *family;
    unsigned long trial;
} fw_progress;

/* enabled && stderr is a terminal → draws; otherwise every call is a no-op. */
void fw_progress_init(fw_progress *p, bool enabled);
void fw_progress_begin(fw_progress *p, const char *family, unsigned long trial);
void fw_progress_update(fw_progress *p, const char *family, int iter, int n_iter, double train_loss,
                        double valid_loss);
void fw_progress_end(fw_progress *p);
/* The live line for step i of n of a phase ("cross-validation fold 2/5", "importance 1/4"). */
void fw_progress_phase(fw_progress *p, const char *family, const char *phase, unsigned i, unsigned n);
/* In log mode, one line "flywheel train: <text>" on stderr; otherwise nothing. */
void fw_progress_log(fw_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
