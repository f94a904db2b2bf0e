/* progress.c — owns drawing of the progress line (at most ~20 redraws a second). */
#include "train/progress.h"

#include "core/clock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void fw_progress_init(fw_progress *p, bool enabled) {
    p->enabled = enabled && isatty(STDERR_FILENO);
    p->log = enabled && !p->enabled;
    p->start = p->last_draw = 0;
    p->family = "";
    p->trial = 0;
}

void fw_progress_begin(fw_progress *p, const char *family, unsigned long trial) {
    if (!p->enabled) return;
    p->family = family;
    p->trial = trial;
    p->start = fw_now_seconds();
    p->last_draw = 0;
}

void fw_progress_update(fw_progress *p, const char *family, int iter, int n_iter, double train_loss,
                        double valid_loss) {
    if (!p->enabled) return;
    double now = fw_now_seconds();
    if (now - p->last_draw < 0.05 && iter + 1 < n_iter) return;
    p->last_draw = now;
    double el = now - p->start;
    double eta = iter > 0 && n_iter > 0 ? el / (iter + 1) * (n_iter - iter - 1) : NAN;
    char vl[32] = "-";
    if (!isnan(valid_loss)) snprintf(vl, sizeof vl, "%.5f", valid_loss);
    fprintf(stderr, "\r\033[K%-8s trial %-3lu iter %5d/%-5d train %.5f valid %s  %6.1fs  eta %5.1fs",
            family, p->trial, iter + 1, n_iter, train_loss, vl, el, isnan(eta) ? 0.0 : eta);
    fflush(stderr);
}

void fw_progress_end(fw_progress *p) {
    if (!p->enabled) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

void fw_progress_phase(fw_progress *p, const char *family, const char *phase, unsigned i, unsigned n) {
    if (!p->enabled) return;
    double el = p->start > 0 ? fw_now_seconds() - p->start : 0;
    fprintf(stderr, "\r\033[K%-8s %s %u/%u  %6.1fs", family, phase, i, n, el);
    fflush(stderr);
}

void fw_progress_log(fw_progress *p, const char *fmt, ...) {
    if (!p->log) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("flywheel train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
