/* csv_rows.h — a small RFC 4180 reader for the api tests' own CSV files (whole text in memory;
 * quoted fields unquoted; CRLF or LF; a UTF-8 BOM skipped; blank lines skipped). Test code only. */
#ifndef FW_TESTS_API_CSV_ROWS_H
#define FW_TESTS_API_CSV_ROWS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_rows {
    size_t n_rows, n_cols;
    char **cell;   /* (n_rows + 1) x n_cols, row 0 the header; NUL-terminated copies */
    size_t *len;
} csv_rows;

/* Splits text into records of fields; returns false on a ragged record. */
static inline bool csv_parse(const char *text, csv_rows *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 0, n = 0, cols = 0, in_row = 0;
    const char *p = text;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    while (*p) {
        if (in_row == 0 && (*p == '\n' || (*p == '\r' && p[1] == '\n'))) { /* blank line */
            p += *p == '\r' ? 2 : 1;
            continue;
        }
        /* the field's raw extent bounds its unquoted length */
        const char *e = p;
        if (*e == '"') {
            for (e++; *e && !(*e == '"' && e[1] != '"'); e += *e == '"' ? 2 : 1) {}
            if (*e) e++;
        }
        while (*e && *e != ',' && *e != '\n' && *e != '\r') e++;
        char *f = malloc((size_t)(e - p) + 1);
        size_t k = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) break;
                if (*p == '"' && p[1] == '"') f[k++] = '"', p += 2;
                else if (*p == '"') {
                    p++;
                    break;
                } else f[k++] = *p++;
            }
        }
        while (*p && *p != ',' && *p != '\n' && *p != '\r') f[k++] = *p++;
        f[k] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            out->cell = realloc(out->cell, cap * sizeof *out->cell);
            out->len = realloc(out->len, cap * sizeof *out->len);
        }
        out->cell[n] = f;
        out->len[n++] = k;
        in_row++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\r') p++;
        if (*p == '\n') p++;
        if (!cols) cols = in_row;
        else if (in_row != cols) return false;
        in_row = 0;
    }
    out->n_cols = cols;
    out->n_rows = cols ? n / cols - 1 : 0;
    return true;
}

static inline void csv_free(csv_rows *c) {
    size_t n = (c->n_rows + 1) * c->n_cols;
    for (size_t i = 0; i < n; i++) free(c->cell[i]);
    free(c->cell);
    free(c->len);
}

static inline const char *cell(const csv_rows *c, size_t row, size_t col) { return c->cell[row * c->n_cols + col]; }

static inline int col_of(const csv_rows *c, const char *name) {
    for (size_t j = 0; j < c->n_cols; j++)
        if (strcmp(cell(c, 0, j), name) == 0) return (int)j;
    return -1;
}

#endif
