/* clock.h — owns time: a monotonic clock for latency and elapsed figures, wall-clock for records. */
#ifndef FW_CORE_CLOCK_H
#define FW_CORE_CLOCK_H

#include <stdint.h>

uint64_t fw_now_ns(void);        /* monotonic nanoseconds */
double fw_now_seconds(void);     /* monotonic seconds */
double fw_cpu_seconds(void);     /* CPU seconds of the whole process (every thread) so far */
int64_t fw_wall_unix_ms(void);   /* wall-clock milliseconds since the Unix epoch */
/* Formats a Unix-epoch millisecond time as ISO 8601 UTC ("2026-11-23T10:35:45.123Z"); buf >= 32. */
void fw_format_iso8601(int64_t unix_ms, char *buf, unsigned size);

#endif
