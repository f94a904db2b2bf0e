/* numfmt.c — owns the canonical text of a number (see numfmt.h). */
#include "project/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

size_t fw_num_format(double v, char out[FW_NUMFMT_MAX]) {
    int n;
    if (isnan(v)) n = snprintf(out, FW_NUMFMT_MAX, "nan");
    else if (v == 0) n = snprintf(out, FW_NUMFMT_MAX, "0"); /* -0 and 0 are one value */
    else if (v == floor(v) && fabs(v) < 1e15) n = snprintf(out, FW_NUMFMT_MAX, "%.0f", v);
    else {
        n = snprintf(out, FW_NUMFMT_MAX, "%.15g", v);
        if (strtod(out, NULL) != v) n = snprintf(out, FW_NUMFMT_MAX, "%.17g", v);
    }
    return n < 0 ? 0 : (size_t)n;
}
