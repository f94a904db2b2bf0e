/* numfmt.h — owns the canonical text of a number used wherever a numeric cell becomes a string:
 * class names of numeric labels, categories of numeric columns declared categorical, crosses.
 * Integral values print without a decimal point ("3"), others with the shortest of %.15g/%.17g
 * that reads back to the same double. Pure, thread-safe, never allocates. */
#ifndef FW_PROJECT_NUMFMT_H
#define FW_PROJECT_NUMFMT_H

#include <stddef.h>

#define FW_NUMFMT_MAX 32
/* Writes the canonical text of v into out (FW_NUMFMT_MAX bytes) and returns its length. */
size_t fw_num_format(double v, char out[FW_NUMFMT_MAX]);

#endif
