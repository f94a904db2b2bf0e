/* progress.c — owns the batch progress bar on a terminal (stderr): rows, rows/s and an ETA from
 * the estimated row count, redrawn at most 4 times a second; and the process's peak memory. */
#include "batch/batch_int.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void fw__progress_start(fw__progress *p, bool on, uint64_t total_est) {
    p->on = on && isatty(2);
    p->t0 = p->last = fw_now_seconds();
    p->total_est = total_est;
}

void fw__progress_update(fw__progress *p, uint64_t rows, bool final) {
    if (!p->on) return;
    double now = fw_now_seconds();
    if (!final && now - p->last < 0.25) return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)rows / el : 0;
    char bar[32] = "";
    char eta[32] = "--";
    if (p->total_est) {
        double f = (double)rows / (double)p->total_est;
        if (f > 1) f = final ? 1 : 0.99;
        int w = 20, fill = (int)(f * w);
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        if (rate > 0 && !final) {
            double left = ((double)p->total_est - (double)rows) / rate;
            if (left < 0) left = 0;
            snprintf(eta, sizeof eta, "%dm%02ds", (int)(left / 60), (int)left % 60);
        } else if (final)
            snprintf(eta, sizeof eta, "done");
        fprintf(stderr, "\r[%s] %3.0f%% %12llu rows %10.0f rows/s ETA %s   ", bar, f * 100,
                (unsigned long long)rows, rate, eta);
    } else
        fprintf(stderr, "\r%12llu rows %10.0f rows/s   ", (unsigned long long)rows, rate);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

size_t fw__peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss;
}
