/* predict.c — embeds a Flywheel model in a plain C program through the public API only
 * (include/flywheel.h, linked with `pkg-config --cflags --libs flywheel`, or statically against the
 * prediction-only libflywheel-predict.a: see docs/EMBED.md).
 *
 *   predict MODEL.fwm INPUT.csv
 *
 * prints, for each data row of INPUT.csv, one line holding the text `flywheel batch` writes in its
 * `prediction` column for that row (the class, labels joined by '|', "review", or the value; a
 * label holding a comma or quote is printed as is, not CSV-quoted). The CSV is read as batch reads
 * it: a header row naming the columns (matched to the model's inputs by name; inputs the file lacks
 * are missing), RFC 4180 quoting, CRLF or LF, a UTF-8 BOM skipped, blank lines skipped, empty cells
 * and the missing tokens ("NA", "null", "?", ...) missing. A row the model cannot read (text in a
 * numeric column, a wrong number of fields) prints an empty line and a message on stderr, and the
 * program then exits 3 (batch's code for "completed with rejected rows"); 1 on other errors.
 *
 * Build:  cc -o predict predict.c $(pkg-config --cflags --libs flywheel) */
#include <flywheel.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file in memory (NUL-terminated), or NULL. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One CSV record: fields unquoted in place (each is s[0..len) inside the file buffer). */
typedef struct cell {
    char *s;
    size_t len;
} cell;

/* Reads the record at *pos into cells (at most cap); returns the number of fields (0 for a blank
 * line), sets *more to 0 at the end of the text, -1 on an unterminated quote. */
static long next_record(char *text, size_t len, size_t *pos, cell *cells, size_t cap, int *more) {
    size_t p = *pos, n = 0;
    if (p >= len) {
        *more = 0;
        return 0;
    }
    *more = 1;
    if (text[p] == '\n' || (text[p] == '\r' && p + 1 < len && text[p + 1] == '\n')) { /* blank line */
        *pos = p + (text[p] == '\r' ? 2 : 1);
        return 0;
    }
    for (;;) {
        char *out = text + p;
        size_t k = 0;
        if (p < len && text[p] == '"') {
            p++;
            for (;;) {
                if (p >= len) return -1;
                if (text[p] == '"' && p + 1 < len && text[p + 1] == '"') {
                    out[k++] = '"';
                    p += 2;
                } else if (text[p] == '"') {
                    p++;
                    break;
                } else out[k++] = text[p++];
            }
        }
        while (p < len && text[p] != ',' && text[p] != '\n' && text[p] != '\r') out[k++] = text[p++];
        if (n < cap) cells[n] = (cell){out, k};
        n++;
        if (p < len && text[p] == ',') {
            p++;
            continue;
        }
        if (p < len && text[p] == '\r') p++;
        if (p < len && text[p] == '\n') p++;
        break;
    }
    *pos = p;
    return (long)n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.fwm INPUT.csv\n", argv[0]);
        return 2;
    }
    fw_err err;
    fw_err_clear(&err);
    fw_predictor *m = NULL;
    fw_context *cx = NULL;
    if (fw_predictor_load_file(argv[1], &m, &err) < 0 || fw_context_new(m, &cx, &err) < 0) {
        fprintf(stderr, "predict: %s\n", err.msg);
        fw_predictor_free(m);
        return 1;
    }
    size_t len = 0;
    char *text = read_file(argv[2], &len);
    if (!text) {
        fprintf(stderr, "predict: cannot read %s\n", argv[2]);
        return 1;
    }
    size_t pos = 0, ni = fw_predictor_n_inputs(m), no = fw_predictor_n_outputs(m);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    enum { MAXF = 4096 };
    cell *cells = malloc(MAXF * sizeof *cells);
    int *col = malloc((ni ? ni : 1) * sizeof *col);       /* input i → CSV column, -1: absent */
    fw_field *vals = malloc((ni ? ni : 1) * sizeof *vals); /* the row by input index */
    double *scores = malloc((no ? no : 1) * sizeof *scores);
    int more = 1, rc = 0;
    long nf = 0;
    while (more && (nf = next_record(text, len, &pos, cells, MAXF, &more)) == 0) {}
    if (nf <= 0 || nf > MAXF) {
        fprintf(stderr, "predict: %s: no header row\n", argv[2]);
        return 1;
    }
    size_t n_cols = (size_t)nf;
    for (size_t i = 0; i < ni; i++) {
        col[i] = -1;
        const char *name = fw_predictor_input_name(m, i);
        for (size_t j = 0; j < n_cols; j++)
            if (strlen(name) == cells[j].len && memcmp(name, cells[j].s, cells[j].len) == 0) col[i] = (int)j;
    }
    char answer[1024];
    for (size_t row = 1; more; row++) {
        nf = next_record(text, len, &pos, cells, MAXF, &more);
        if (nf == 0) {
            row--;
            continue;
        }
        if (nf < 0 || (size_t)nf != n_cols) {
            fprintf(stderr, "predict: %s: data row %zu: %s\n", argv[2], row,
                    nf < 0 ? "unterminated quote" : "wrong number of fields");
            puts("");
            rc = 3;
            if (nf < 0) break;
            continue;
        }
        for (size_t i = 0; i < ni; i++) {
            vals[i] = fw_field_missing(NULL);
            if (col[i] >= 0) {
                vals[i].kind = FW_FIELD_CSV; /* read as batch reads a CSV cell of this input's type */
                vals[i].str = cells[col[i]].s;
                vals[i].len = cells[col[i]].len;
            }
        }
        fw_result res;
        if (fw_predict_values(cx, vals, ni, scores, no, &res, &err) < 0) {
            fprintf(stderr, "predict: %s: data row %zu: %s\n", argv[2], row, err.msg);
            puts("");
            rc = 3;
            continue;
        }
        size_t n = fw_result_text(m, &res, scores, answer, sizeof answer);
        if (n >= sizeof answer) {
            char *big = malloc(n + 1);
            if (!big) return 1;
            fw_result_text(m, &res, scores, big, n + 1);
            puts(big);
            free(big);
        } else
            puts(answer);
    }
    free(cells);
    free(col);
    free(vals);
    free(scores);
    free(text);
    fw_context_free(cx);
    fw_predictor_free(m);
    return rc;
}
