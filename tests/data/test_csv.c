/* test_csv.c — tests for src/data/csv.c, source.c and schema inference: RFC 4180 details, every
 * bad-input error (exact status, and the message naming file:line:column), type inference and
 * overrides, skip_bad_rows, gzip, block boundaries, thread-count independence, the streaming
 * reader, bounded memory on huge lines, and allocation-failure paths. */
#include "core/alloc.h"
#include "core/buf.h"
#include "data/csv.h"
#include "data/load.h"
#include "data/scalar.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

static fw_dataset *ds;
static fw_err err;
static fw_load_result res;

/* Loads text as "t.csv" with opts (NULL = defaults); returns the status. ds is freed by done(). */
static fw_status load(const char *text, const fw_load_opts *o) {
    fw_err_clear(&err);
    ds = NULL;
    return fw_csv_load_mem(text, strlen(text), "t.csv", o, &ds, &res, &err);
}

static void done(void) {
    fw_dataset_free(ds);
    ds = NULL;
}

static double num(const char *col, size_t r) {
    int c = fw_dataset_find(ds, col);
    return c < 0 ? -12345.0 : ds->cols[c].num[r];
}

static const char *str(const char *col, size_t r) {
    int c = fw_dataset_find(ds, col);
    return c < 0 ? "<no column>" : fw_dataset_str(ds, (size_t)c, r);
}

static fw_col_type type(const char *col) {
    int c = fw_dataset_find(ds, col);
    return c < 0 ? (fw_col_type)99 : ds->cols[c].type;
}

static void test_basic_types(void) {
    CHECK_OK(load("id,price,color,when,note\n"
                  "1,2.5,red,2024-01-02,the quick brown fox\n"
                  "2,-3e2,blue,2024-01-03T10:00:00Z,jumps over the lazy dog\n"
                  "3,,red,2024-01-04 12:30,a completely different sentence here\n",
                  NULL));
    CHECK_EQ(ds->n_rows, 3);
    CHECK_EQ(ds->n_cols, 5);
    CHECK_STR(ds->source, "t.csv");
    CHECK_EQ(type("id"), FW_COL_NUMERIC);
    CHECK_EQ(type("price"), FW_COL_NUMERIC);
    CHECK_EQ(type("color"), FW_COL_CATEGORICAL);
    CHECK_EQ(type("when"), FW_COL_TIMESTAMP);
    CHECK_EQ(type("note"), FW_COL_TEXT);
    CHECK(num("price", 0) == 2.5);
    CHECK(num("price", 1) == -300.0);
    CHECK(isnan(num("price", 2)));
    CHECK_STR(str("color", 2), "red");
    CHECK_EQ(ds->cols[2].code[0], ds->cols[2].code[2]);
    CHECK(num("when", 0) == 1704153600.0);
    CHECK(num("when", 1) == 1704153600.0 + 86400 + 36000);
    CHECK(num("when", 2) == 1704153600.0 + 2 * 86400 + 12 * 3600 + 30 * 60);
    CHECK_EQ(res.rows, 3);
    CHECK_EQ(res.rejected, 0);
    done();
}

static void test_quotes_and_newlines(void) {
    CHECK_OK(load("a,b,c\n"
                  "\"x, y\",\"say \"\"hi\"\"\",\"line1\nline2\"\n"
                  "plain,\"\",\"\"\"\"\n"
                  "q,r,s\n",
                  NULL));
    CHECK_EQ(ds->n_rows, 3);
    CHECK_STR(str("a", 0), "x, y");
    CHECK_STR(str("b", 0), "say \"hi\"");
    CHECK_STR(str("c", 0), "line1\nline2");
    CHECK(str("b", 1) == NULL); /* "" is an empty field: missing */
    CHECK_STR(str("c", 1), "\"");
    done();
    /* An error after a quoted newline names the physical line. */
    CHECK_EQ(load("a,b\n\"1\n2\",3\n4,5,6\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:4:");
    CHECK_CONTAINS(err.msg, "expected 2 fields, got 3");
    done();
}

static void test_crlf_bom_blank_lines(void) {
    CHECK_OK(load("\xEF\xBB\xBFx,y\r\n1,a\r\n\r\n2,\"b\r\nc\"\r\n3,d", NULL));
    CHECK_EQ(ds->n_rows, 3);
    CHECK_STR(ds->cols[0].name, "x");
    CHECK(num("x", 2) == 3);
    CHECK_STR(str("y", 0), "a");
    CHECK_STR(str("y", 1), "b\r\nc");
    CHECK_STR(str("y", 2), "d");
    done();
}

static void test_missing_tokens(void) {
    CHECK_OK(load("v,s\n1,NA\nNaN,null\n?,N/A\n,x\n4,\n", NULL));
    CHECK_EQ(type("v"), FW_COL_NUMERIC);
    CHECK(num("v", 0) == 1);
    CHECK(isnan(num("v", 1)) && isnan(num("v", 2)) && isnan(num("v", 3)));
    CHECK(num("v", 4) == 4);
    CHECK(str("s", 0) == NULL && str("s", 1) == NULL && str("s", 2) == NULL);
    CHECK_STR(str("s", 3), "x");
    done();
    /* Custom tokens replace the defaults. */
    fw_load_opts o;
    fw_load_opts_init(&o);
    const char *toks[] = {"-"};
    o.missing = toks;
    o.n_missing = 1;
    CHECK_OK(load("v\n1\n-\n", &o));
    CHECK(isnan(num("v", 1)));
    done();
    CHECK_OK(load("v\n1\n2\nNA\n-\n", &o)); /* NA is not missing now: a category */
    CHECK_EQ(type("v"), FW_COL_CATEGORICAL);
    CHECK(str("v", 3) == NULL);
    done();
}

static void test_ragged_rows(void) {
    CHECK_EQ(load("a,b,c\n1,2,3\n4,5,6,7\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:3:7: expected 3 fields, got 4");
    done();
    CHECK_EQ(load("a,b,c\n1,2,3\n4,5\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:3:4: expected 3 fields, got 2");
    done();
}

static void test_unterminated_quote(void) {
    CHECK_EQ(load("a,b\n1,2\n3,\"open\n4,5\n6,7\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:3:3: unterminated quoted field");
    done();
    CHECK_EQ(load("a,b\n1,\"x\"y\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:2:6: unexpected character 'y' after a closing quote");
    done();
}

static void test_invalid_utf8_and_binary(void) {
    CHECK_EQ(load("a,b\n1,ok\n2,bad\xC3\x28here\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:3:6: invalid UTF-8");
    done();
    CHECK_EQ(load("a,b\n1,\xED\xA0\x80\n", NULL), FW_EPARSE); /* surrogate */
    CHECK_CONTAINS(err.msg, "t.csv:2:3: invalid UTF-8");
    done();
    CHECK_OK(load("a,b\n1,caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n", NULL));
    done();
    static const char bin[] = "a,b\n1,2\n\x01\x00\x02\x03,4\n";
    fw_err_clear(&err);
    CHECK_EQ(fw_csv_load_mem(bin, sizeof bin - 1, "t.csv", NULL, &ds, &res, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "t.csv:3:2: NUL byte");
    done();
    static const char binhdr[] = "\x7f" "ELF\x02\x01\x01\x00\x00";
    fw_err_clear(&err);
    CHECK_EQ(fw_csv_load_mem(binhdr, sizeof binhdr - 1, "t.csv", NULL, &ds, &res, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "t.csv:1:8: NUL byte");
    done();
}

static void test_non_number_after_sample(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.sample_rows = 2;
    CHECK_EQ(load("id,v\n1,10\n2,20\n3,30\n4,oops\n", &o), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "t.csv:5:3: column 'v': expected a number, got 'oops'");
    CHECK_CONTAINS(err.msg, "v=categorical");
    done();
    /* Long bad values are truncated in the message. */
    CHECK_EQ(load("id,v\n1,10\n2,20\n3,30\n4,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", &o),
             FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'...");
    done();
    /* The override makes it load. */
    fw_type_override ov = {"v", FW_COL_CATEGORICAL};
    o.overrides = &ov;
    o.n_overrides = 1;
    CHECK_OK(load("id,v\n1,10\n2,20\n3,30\n4,oops\n", &o));
    CHECK_EQ(type("v"), FW_COL_CATEGORICAL);
    CHECK_STR(str("v", 3), "oops");
    CHECK_STR(str("v", 0), "10");
    done();
    /* Overriding an unknown column is an error naming it. */
    fw_type_override bad = {"nope", FW_COL_TEXT};
    o.overrides = &bad;
    CHECK_EQ(load("a\n1\n", &o), FW_ECONFIG);
    CHECK_CONTAINS(err.msg, "'nope'");
    done();
}

static void test_timestamp_errors(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.sample_rows = 1;
    CHECK_EQ(load("t\n2024-01-01\n2024-02-30\n", &o), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "t.csv:3:1: column 't': expected an ISO 8601 date/time, got '2024-02-30'");
    done();
}

static void test_empty_and_header_errors(void) {
    CHECK_EQ(load("", NULL), FW_EDATA);
    CHECK_CONTAINS(err.msg, "t.csv:1:1: empty file");
    done();
    CHECK_EQ(load("\xEF\xBB\xBF\n\n", NULL), FW_EDATA);
    done();
    CHECK_EQ(load("a,b,a\n1,2,3\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:1:5: header: duplicate column name 'a' (also column 1)");
    done();
    CHECK_EQ(load("a,,c\n1,2,3\n", NULL), FW_EPARSE);
    CHECK_CONTAINS(err.msg, "t.csv:1:3: header: column 2 has an empty name");
    done();
    /* Header only: zero rows, every column numeric. */
    CHECK_OK(load("a,b\n", NULL));
    CHECK_EQ(ds->n_rows, 0);
    CHECK_EQ(ds->n_cols, 2);
    done();
}

static void test_field_limit(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.max_field_bytes = 8;
    CHECK_EQ(load("a,b\n1,short\n2,muchtoolongvalue\n", &o), FW_ELIMIT);
    CHECK_CONTAINS(err.msg, "t.csv:3:3: field longer than the limit");
    done();
}

/* Allocator hook that tracks the peak of bytes in use. */
static size_t cur_bytes, peak_bytes;
static void *peak_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize == 0) {
        free(p);
        cur_bytes -= osize;
        return NULL;
    }
    void *q = realloc(p, nsize);
    if (!q) return NULL;
    cur_bytes += nsize - osize;
    if (cur_bytes > peak_bytes) peak_bytes = cur_bytes;
    return q;
}

static void test_huge_line_bounded_memory(void) {
    /* A 24 MB line with a 1 MB record limit: fails fast, memory stays near the limit. */
    char path[512];
    snprintf(path, sizeof path, "%s/huge.csv", fw_test_tmpdir());
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs("a,b\n1,2\n3,", f);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 24 * 16; i++) fwrite(chunk, 1, sizeof chunk, f);
    fputs("\n5,6\n", f);
    fclose(f);
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.max_record_bytes = 1u << 20;
    o.max_field_bytes = 1u << 20;
    o.block_bytes = 1u << 16;
    cur_bytes = peak_bytes = 0;
    fw_set_allocator(peak_alloc, NULL);
    fw_err_clear(&err);
    fw_status st = fw_csv_load(path, &o, &ds, &res, &err);
    fw_set_allocator(NULL, NULL);
    CHECK_EQ(st, FW_ELIMIT);
    CHECK_CONTAINS(err.msg, "huge.csv:3:");
    CHECK_CONTAINS(err.msg, "longer than the limit");
    CHECK_MSG(peak_bytes < (5u << 20), "peak %zu bytes", peak_bytes);
    remove(path);
}

static void test_skip_bad_rows(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.skip_bad_rows = true;
    o.sample_rows = 2;
    CHECK_OK(load("a,b\n1,x\n2,y\n3\n4,z,extra\nfive,w\n6,\xFF\n7,v\n", &o));
    CHECK_EQ(ds->n_rows, 3);
    CHECK(num("a", 2) == 7);
    CHECK_EQ(res.rejected, 4);
    CHECK_EQ(res.n_kept, 4);
    CHECK_EQ(res.kept[0].line, 4);
    CHECK_CONTAINS(res.kept[0].msg, "t.csv:4:");
    CHECK_CONTAINS(res.kept[1].msg, "expected 2 fields, got 3");
    CHECK_CONTAINS(res.kept[2].msg, "t.csv:6:1: column 'a'");
    CHECK_CONTAINS(res.kept[3].msg, "t.csv:7:3: invalid UTF-8");
    /* Rejected rows leave nothing in the dictionaries. */
    CHECK_EQ(fw_dict_size(&ds->cols[1].dict), 3);
    done();
    /* Only the first ten reasons are kept; all are counted. */
    char text[4096] = "a\n1\n";
    for (int i = 0; i < 25; i++) strcat(text, "bad\n");
    strcat(text, "2\n");
    o.sample_rows = 1;
    CHECK_OK(load(text, &o));
    CHECK_EQ(ds->n_rows, 2);
    CHECK_EQ(res.rejected, 25);
    CHECK_EQ(res.n_kept, 10);
    CHECK_EQ(res.kept[9].line, 12);
    done();
}

static void test_max_rows_and_delimiter(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.max_rows = 2;
    o.delimiter = ';';
    CHECK_OK(load("a;b\n1;2,5\n3;4\n5;6\n", &o));
    CHECK_EQ(ds->n_rows, 2);
    CHECK_EQ(type("b"), FW_COL_CATEGORICAL);
    CHECK_STR(str("b", 0), "2,5");
    done();
}

static char *gen_csv(size_t rows, bool quotes, size_t *len) {
    size_t cap = rows * 96 + 64, n = 0;
    char *b = malloc(cap);
    n += (size_t)snprintf(b + n, cap - n, "id,x,cat,y\n");
    uint64_t s = 12345;
    for (size_t r = 0; r < rows; r++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        unsigned k = (unsigned)(s >> 33);
        if (quotes && r % 97 == 5)
            n += (size_t)snprintf(b + n, cap - n, "%zu,%u.%03u,\"c%u,\n\"\"q\"\"\",%d\n", r, k % 1000,
                                  k % 997, k % 13, (int)(k % 7) - 3);
        else
            n += (size_t)snprintf(b + n, cap - n, "%zu,%u.%03u,c%u,%d\n", r, k % 1000, k % 997,
                                  k % 13, (int)(k % 7) - 3);
    }
    *len = n;
    return b;
}

static bool same_dataset(const fw_dataset *a, const fw_dataset *b) {
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols) return false;
    for (size_t c = 0; c < a->n_cols; c++) {
        const fw_column *x = &a->cols[c], *y = &b->cols[c];
        if (x->type != y->type) return false;
        if (x->num) {
            if (memcmp(x->num, y->num, a->n_rows * sizeof(double)) != 0) return false;
        } else {
            if (memcmp(x->code, y->code, a->n_rows * sizeof(int32_t)) != 0) return false;
            if (fw_dict_size(&x->dict) != fw_dict_size(&y->dict)) return false;
            for (size_t k = 0; k < fw_dict_size(&x->dict); k++)
                if (strcmp(fw_dict_str(&x->dict, (int32_t)k), fw_dict_str(&y->dict, (int32_t)k))) return false;
        }
    }
    return true;
}

static void test_threads_and_blocks_same_result(void) {
    for (int q = 0; q < 2; q++) {
        size_t len;
        char *text = gen_csv(30000, q == 1, &len);
        fw_dataset *ref = NULL, *other = NULL;
        fw_load_opts o;
        fw_load_opts_init(&o);
        o.threads = 1;
        fw_err_clear(&err);
        CHECK_OK(fw_csv_load_mem(text, len, "g.csv", &o, &ref, NULL, &err));
        if (!ref) {
            free(text);
            return;
        }
        CHECK_EQ(ref->n_rows, 30000);
        CHECK_EQ(ref->cols[2].type, FW_COL_CATEGORICAL);
        size_t blocks[] = {300u << 10, 4096, 257};
        int threads[] = {2, 3, 2};
        for (int v = 0; v < 3; v++) {
            o.threads = threads[v];
            o.block_bytes = blocks[v];
            CHECK_OK(fw_csv_load_mem(text, len, "g.csv", &o, &other, NULL, &err));
            CHECK_MSG(other && same_dataset(ref, other), "variant %d (quotes %d) differs", v, q);
            fw_dataset_free(other);
            other = NULL;
        }
        /* A bad row deep in the file is reported with its line whatever the split. */
        text[len - 3] = 'z'; /* last row's y becomes non-numeric */
        o.threads = 2;
        o.block_bytes = 300u << 10;
        CHECK_EQ(fw_csv_load_mem(text, len, "g.csv", &o, &other, NULL, &err), FW_ESCHEMA);
        char want[64];
        snprintf(want, sizeof want, "g.csv:%d:", 30001 + (q ? 310 : 0)); /* 310 quoted newlines */
        CHECK_CONTAINS(err.msg, want);
        fw_dataset_free(ref);
        free(text);
    }
}

static void write_gz(const char *path, const char *text, size_t len) {
    gzFile g = gzopen(path, "wb");
    CHECK(g != NULL);
    if (!g) return;
    gzwrite(g, text, (unsigned)len);
    gzclose(g);
}

static void test_gzip(void) {
    size_t len;
    char *text = gen_csv(5000, true, &len);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/data.csv.gz", fw_test_tmpdir());
    snprintf(p2, sizeof p2, "%s/noext.csv", fw_test_tmpdir()); /* gzip without .gz in the name */
    write_gz(p1, text, len);
    write_gz(p2, text, len);
    fw_dataset *ref = NULL, *a = NULL, *b = NULL;
    fw_err_clear(&err);
    CHECK_OK(fw_csv_load_mem(text, len, "m.csv", NULL, &ref, NULL, &err));
    CHECK_OK(fw_data_load(p1, NULL, &a, &res, &err));
    CHECK(res.gzip);
    CHECK_EQ(res.bytes, len);
    CHECK_OK(fw_data_load(p2, NULL, &b, &res, &err));
    CHECK(res.gzip);
    CHECK(ref && a && b && same_dataset(ref, a) && same_dataset(ref, b));
    CHECK(a && strcmp(a->source, p1) == 0);
    fw_dataset_free(ref);
    fw_dataset_free(a);
    fw_dataset_free(b);
    /* Truncated gzip → FW_ECORRUPT naming the file. */
    FILE *f = fopen(p1, "rb");
    char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(n > 100);
    f = fopen(p2, "wb");
    if (f) {
        fwrite(buf, 1, n / 2, f);
        fclose(f);
    }
    CHECK_EQ(fw_data_load(p2, NULL, &a, &res, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "noext.csv: truncated gzip");
    /* Corrupt bytes. */
    buf[n / 2] ^= 0x55;
    buf[n / 2 + 1] ^= 0x55;
    f = fopen(p2, "wb");
    if (f) {
        fwrite(buf, 1, n, f);
        fclose(f);
    }
    fw_status st = fw_data_load(p2, NULL, &a, &res, &err);
    CHECK(st == FW_ECORRUPT || st == FW_EPARSE || st == FW_ESCHEMA);
    if (st == FW_OK) fw_dataset_free(a);
    /* Missing file. */
    CHECK_EQ(fw_data_load("/nonexistent/x.csv", NULL, &a, &res, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "/nonexistent/x.csv");
    free(text);
}

/* A gzip file of many read-ahead blocks (1 MiB each, 16 ahead at most) loads the same with the
 * inflating thread (threads=2) as without it (threads=1) and as from memory, with small and large
 * read blocks; a load that stops early (max_rows) while the thread waits for room stops it; a file
 * truncated after several blocks still fails with the truncation error, after the rows before it
 * were parsed. */
static void test_gzip_readahead(void) {
    size_t len;
    char *text = gen_csv(400000, true, &len); /* ~8 MB: 8 blocks */
    CHECK(len > 6u * (1u << 20));
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/big.csv.gz", fw_test_tmpdir());
    snprintf(p2, sizeof p2, "%s/big_cut.csv.gz", fw_test_tmpdir());
    write_gz(p1, text, len);
    fw_dataset *ref = NULL;
    fw_err_clear(&err);
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.threads = 1;
    CHECK_OK(fw_csv_load_mem(text, len, "m.csv", &o, &ref, NULL, &err));
    const size_t blocks[] = {0, 4096, 3u << 20};
    for (int t = 1; t <= 2; t++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            fw_dataset *a = NULL;
            o.threads = t;
            o.block_bytes = blocks[b];
            CHECK_OK(fw_data_load(p1, &o, &a, &res, &err));
            CHECK(res.gzip);
            CHECK_EQ(res.bytes, len);
            CHECK_MSG(ref && a && same_dataset(ref, a), "threads %d block %zu differs", t, blocks[b]);
            fw_dataset_free(a);
        }
    /* early stop: 10 rows of a file the thread keeps inflating */
    fw_dataset *a = NULL;
    o.threads = 2;
    o.block_bytes = 0;
    o.max_rows = 10;
    CHECK_OK(fw_data_load(p1, &o, &a, &res, &err));
    CHECK(a && a->n_rows == 10);
    fw_dataset_free(a);
    o.max_rows = 0;
    /* truncated after ~5 blocks of output */
    FILE *f = fopen(p1, "rb");
    size_t cap = 8u << 20, n = 0;
    char *gz = malloc(cap);
    if (f && gz) n = fread(gz, 1, cap, f);
    if (f) fclose(f);
    CHECK(n > 1000);
    f = fopen(p2, "wb");
    if (f && gz) {
        fwrite(gz, 1, n * 6 / 10, f);
        fclose(f);
    }
    for (int t = 1; t <= 2; t++) {
        o.threads = t;
        a = NULL;
        CHECK_EQ(fw_data_load(p2, &o, &a, &res, &err), FW_ECORRUPT);
        CHECK_CONTAINS(err.msg, "big_cut.csv.gz: truncated gzip");
        CHECK(a == NULL);
    }
    free(gz);
    fw_dataset_free(ref);
    free(text);
}

static void test_stream(void) {
    const char *text = "extra,b,a\n"
                       "e1,1,x\n"
                       "e2,2,y\n"
                       "e3,bad,z\n"
                       "e4,4,\"multi\nline\"\n"
                       "e5,5\n"
                       "e6,6,w\n"
                       "e7,7,v\n";
    fw_schema sc;
    const char *names[] = {"a", "b"};
    CHECK_OK(fw_schema_init(&sc, 2, names));
    sc.types[0] = FW_COL_CATEGORICAL;
    sc.types[1] = FW_COL_NUMERIC;
    fw_csv_stream *s = NULL;
    fw_err_clear(&err);
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.block_bytes = 16; /* tiny buffer: records straddle refills */
    CHECK_OK(fw_csv_stream_open_mem(text, strlen(text), "s.csv", &o, &sc, &s, &err));
    if (!s) {
        fw_schema_free(&sc);
        return;
    }
    fw_row_block blk;
    fw_row_block_init(&blk);
    size_t total = 0, rejects = 0;
    uint64_t lines[16];
    double bs[16];
    for (int it = 0; it < 20; it++) {
        CHECK_OK(fw_csv_stream_next(s, 2, &blk, &err));
        if (blk.ds->n_rows == 0 && blk.n_rejects == 0) break;
        CHECK(blk.ds->n_rows <= 2);
        CHECK_EQ(blk.ds->n_cols, 2);
        for (size_t r = 0; r < blk.ds->n_rows && total < 16; r++) {
            lines[total] = blk.lines[r];
            bs[total++] = blk.ds->cols[1].num[r];
        }
        for (size_t k = 0; k < blk.n_rejects; k++) {
            if (rejects == 0) CHECK_CONTAINS(blk.rejects[k].msg, "s.csv:4:4: column 'b'");
            if (rejects == 1) CHECK_CONTAINS(blk.rejects[k].msg, "s.csv:7:");
            rejects++;
        }
    }
    CHECK_EQ(total, 5);
    CHECK_EQ(rejects, 2);
    CHECK(lines[0] == 2 && lines[1] == 3 && lines[2] == 5 && lines[3] == 8 && lines[4] == 9);
    CHECK(bs[0] == 1 && bs[2] == 4 && bs[4] == 7);
    fw_row_block_free(&blk);
    fw_csv_stream_close(s);
    /* A schema column absent from the header. */
    const char *names2[] = {"a", "zzz"};
    fw_schema sc2;
    CHECK_OK(fw_schema_init(&sc2, 2, names2));
    CHECK_EQ(fw_csv_stream_open_mem(text, strlen(text), "s.csv", NULL, &sc2, &s, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "'zzz'");
    fw_schema_free(&sc2);
    fw_schema_free(&sc);
    /* Inferred schema. */
    CHECK_OK(fw_csv_stream_open_mem("a,b\n1,x\n2,y\n", 12, "s.csv", NULL, NULL, &s, &err));
    if (s) {
        CHECK_EQ(fw_csv_stream_schema(s)->types[1], FW_COL_CATEGORICAL);
        fw_row_block_init(&blk);
        CHECK_OK(fw_csv_stream_next(s, 100, &blk, &err));
        CHECK_EQ(blk.ds->n_rows, 2);
        CHECK_OK(fw_csv_stream_next(s, 100, &blk, &err));
        CHECK_EQ(blk.ds->n_rows, 0);
        fw_row_block_free(&blk);
        fw_csv_stream_close(s);
    }
}

static void test_stream_constant_memory(void) {
    /* 200k rows streamed in blocks of 1000: bytes in use stay flat. */
    size_t len;
    char *text = gen_csv(60000, false, &len);
    fw_csv_stream *s = NULL;
    fw_err_clear(&err);
    CHECK_OK(fw_csv_stream_open_mem(text, len, "big.csv", NULL, NULL, &s, &err));
    if (!s) {
        free(text);
        return;
    }
    fw_row_block blk;
    fw_row_block_init(&blk);
    size_t total = 0, after_first = 0, max_in_use = 0;
    for (;;) {
        CHECK_OK(fw_csv_stream_next(s, 1000, &blk, &err));
        if (blk.ds->n_rows == 0) break;
        total += blk.ds->n_rows;
        size_t u = fw_bytes_in_use();
        if (!after_first) after_first = u;
        if (u > max_in_use) max_in_use = u;
    }
    CHECK_EQ(total, 60000);
    CHECK_MSG(max_in_use < after_first + (1u << 20), "grew from %zu to %zu", after_first, max_in_use);
    fw_row_block_free(&blk);
    fw_csv_stream_close(s);
    free(text);
}

static void test_alloc_failures(void) {
    /* Every allocation in a small load fails in turn: always a clean FW_ENOMEM (or success). */
    const char *text = "a,b,c\n1,x,\"q\"\"q\"\n2,y,z\n3,x,w\n";
    int n_ok = 0;
    for (long n = 1; n < 200; n++) {
        fw_alloc_fail_after(n);
        fw_dataset *d = NULL;
        fw_err_clear(&err);
        fw_status st = fw_csv_load_mem(text, strlen(text), "t.csv", NULL, &d, NULL, &err);
        fw_alloc_fail_after(0);
        CHECK_MSG(st == FW_OK || st == FW_ENOMEM, "n=%ld st=%d %s", n, st, err.msg);
        if (st == FW_OK) {
            CHECK_EQ(d->n_rows, 3);
            n_ok++;
        }
        fw_dataset_free(d);
    }
    CHECK(n_ok > 0);
}

static void test_shared_dataset(void) {
    const char *p = fw_test_shared("diamonds.csv");
    if (!p) return;
    fw_err_clear(&err);
    CHECK_OK(fw_data_load(p, NULL, &ds, &res, &err));
    if (!ds) return;
    CHECK_EQ(ds->n_rows, 53940);
    CHECK_EQ(type("cut"), FW_COL_CATEGORICAL);
    CHECK_EQ(type("price"), FW_COL_NUMERIC);
    CHECK(num("carat", 0) == 0.23);
    done();
}

/* Range loads (fw_load_opts.range_*: one rank's share of a sharded load): three ranges cut just
 * after a newline tile the file and give its rows in order, with the schema of the file's head;
 * a range past the first read block seeks; errors name the file's line. */
static void test_ranges(void) {
    fw_buf t;
    fw_buf_init(&t);
    fw_buf_printf(&t, "x,colour,y\n");
    for (int i = 0; i < 3000; i++)
        fw_buf_printf(&t, "%d.5,%s,%d\n", i, i < 2500 ? (i % 2 ? "red" : "blue") : "late", i % 3);
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.block_bytes = 4096;
    o.sample_rows = 50;
    const char *text = (const char *)t.data;
    CHECK_EQ(load(text, &o), FW_OK);
    fw_dataset *whole = ds;
    ds = NULL;
    uint64_t cut[4] = {0, 0, 0, t.len};
    for (int k = 1; k < 3; k++) cut[k] = (uint64_t)(strchr(text + t.len * (size_t)k / 3, '\n') - text) + 1;
    size_t row = 0;
    uint64_t line = 1;
    for (int k = 0; k < 3; k++) {
        o.range_begin = cut[k];
        o.range_end = cut[k + 1];
        o.range_line = line;
        CHECK_EQ(load(text, &o), FW_OK);
        if (!ds) break;
        CHECK_EQ(ds->cols[1].type, FW_COL_CATEGORICAL); /* "late" is not in the sample: the head's type */
        CHECK(res.bytes == cut[k + 1] - (k ? cut[k] : strlen("x,colour,y\n"))); /* range 0: after the header */
        for (size_t r = 0; r < ds->n_rows; r++, row++) {
            CHECK(ds->cols[0].num[r] == whole->cols[0].num[row]);
            CHECK_STR(fw_dataset_str(ds, 1, r), fw_dataset_str(whole, 1, row));
        }
        for (const char *p = text + cut[k]; p < text + cut[k + 1]; p++) line += *p == '\n';
        done();
    }
    CHECK_EQ(row, whole->n_rows);
    fw_dataset_free(whole);
    /* a bad value in the last range: its line in the file */
    char *bad = strstr((char *)t.data, "\n2900.5,");
    CHECK(bad != NULL);
    if (bad) bad[1] = 'z';
    o.range_begin = cut[2];
    o.range_end = cut[3];
    line = 1;
    for (const char *p = text; p < text + cut[2]; p++) line += *p == '\n';
    o.range_line = line;
    CHECK_EQ(load(text, &o), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "t.csv:2902:1:"); /* row 2900: line 2902 */
    done();
    fw_buf_free(&t);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_basic_types);
    TEST_RUN(test_quotes_and_newlines);
    TEST_RUN(test_crlf_bom_blank_lines);
    TEST_RUN(test_missing_tokens);
    TEST_RUN(test_ragged_rows);
    TEST_RUN(test_unterminated_quote);
    TEST_RUN(test_invalid_utf8_and_binary);
    TEST_RUN(test_non_number_after_sample);
    TEST_RUN(test_timestamp_errors);
    TEST_RUN(test_empty_and_header_errors);
    TEST_RUN(test_field_limit);
    TEST_RUN(test_huge_line_bounded_memory);
    TEST_RUN(test_skip_bad_rows);
    TEST_RUN(test_max_rows_and_delimiter);
    TEST_RUN(test_threads_and_blocks_same_result);
    TEST_RUN(test_gzip);
    TEST_RUN(test_gzip_readahead);
    TEST_RUN(test_stream);
    TEST_RUN(test_stream_constant_memory);
    TEST_RUN(test_alloc_failures);
    TEST_RUN(test_shared_dataset);
    TEST_RUN(test_ranges);
    return fw_test_report(argv[0]);
}
