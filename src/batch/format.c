/* format.c — owns CSV fields of batch output (RFC 4180 quoting); numbers and JSON strings are
 * core/dtoa.h's and core/json_out.h's. */
#include "batch/batch_int.h"


void fw__csv_put(fw_buf *b, const char *s, size_t n) {
    bool quote = false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') {
            quote = true;
            break;
        }
    if (!quote) {
        fw_buf_put(b, s, n);
        return;
    }
    fw_buf_put_u8(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            fw_buf_put(b, s + start, i + 1 - start);
            fw_buf_put_u8(b, '"');
            start = i + 1;
        }
    fw_buf_put(b, s + start, n - start);
    fw_buf_put_u8(b, '"');
}
