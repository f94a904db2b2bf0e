/* progress.h — owns the live training progress line: one line per family rewritten in place on a
 * terminal (iteration, train and validation loss, elapsed, ETA); silent when stderr is not a TTY. */
#ifndef FW_TRAIN_PROGRESS_H
#define FW_TRAIN_PROGRESS_H

#include <stdbool.h>

typedef struct fw_progress {
    bool enabled;
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

#endif
