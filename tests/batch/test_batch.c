/* test_batch.c — tests for src/batch with a hand-written model (the record-level predict of
 * fw_batch_model): ordered output for any thread count, answers equal to the single-row call to
 * the last bit, rejects with lines and reasons, --strict, resume after an interruption giving
 * byte-identical files, JSONL and gzip input, --top-fraction, top-k recommendations, store answers
 * and history, the lock. */
#include "batch/batch.h"
#include "batch/batch_int.h"
#include "store/store.h"
#include "core/alloc.h"
#include "core/dtoa.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- a toy binary model: p = sigmoid(0.7 x - 0.2 y + (color == "red")) ---------------------- */

static const char *const IN_NAMES[] = {"x", "y", "color"};
static const fw_col_type IN_TYPES[] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_CATEGORICAL};
static const char *const CLASSES[] = {"no", "yes"};

static fw_status toy_predict(void *ud, const fw_value *in, void *scratch, double *out, const char **label,
                             fw_err *err) {
    (void)ud;
    (void)label;
    (void)scratch;
    double x = in[0].kind == FW_VALUE_NUMBER ? in[0].num : 0;
    double y = in[1].kind == FW_VALUE_NUMBER ? in[1].num : 0;
    if (in[0].kind == FW_VALUE_STRING) return fw_err_set(err, FW_ESCHEMA, "field 'x': expected a number");
    if (x > 1e6) return fw_err_set(err, FW_EDATA, "field 'x': out of range");
    double red = in[2].kind == FW_VALUE_STRING && in[2].len == 3 && memcmp(in[2].str, "red", 3) == 0;
    out[0] = 1.0 / (1.0 + exp(-(0.7 * x - 0.2 * y + red)));
    return FW_OK;
}

static fw_batch_model toy_model(void) {
    fw_batch_model m;
    memset(&m, 0, sizeof m);
    m.name = "toy";
    m.version = "7";
    m.task = FW_TASK_BINARY;
    m.n_outputs = 1;
    m.n_classes = 2;
    m.classes = CLASSES;
    m.threshold = 0.5;
    m.n_inputs = 3;
    m.input_names = IN_NAMES;
    m.input_types = IN_TYPES;
    m.predict = toy_predict;
    return m;
}

static char *path_in_tmp(const char *name) {
    static char buf[64][1024];
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, 1024, "%s/%s", fw_test_tmpdir(), name);
    return p;
}

static void write_file(const char *path, const char *data) {
    FILE *f = fopen(path, "wb");
    fputs(data, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    if (len) *len = got;
    return b;
}

/* id,x,y,color with n rows; bad_every > 0 puts a bad value on every bad_every-th row. */
static void make_input(const char *path, int n, int bad_every) {
    FILE *f = fopen(path, "w");
    fprintf(f, "id,x,y,color,unused\n");
    for (int i = 1; i <= n; i++) {
        if (bad_every && i % bad_every == 0)
            fprintf(f, "u%d,abc,%d,red,z\n", i, i % 7);
        else
            fprintf(f, "u%d,%.3f,%d,%s,z\n", i, (i % 101) / 17.0 - 2.5, i % 7, i % 3 ? "blue" : "red");
    }
    fclose(f);
}

static const char *const IDS[] = {"id"};

static void base_opts(fw_batch_options *o, const char *in, const char *out) {
    fw_batch_options_init(o);
    o->input = in;
    o->output = out;
    o->id_columns = IDS;
    o->n_id_columns = 1;
    o->home = path_in_tmp("home");
    o->now_ms = 1700000000000;
    o->block_rows = 64;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_csv_matches_single_row_and_order(void) {
    const char *in = path_in_tmp("a.csv");
    make_input(in, 1000, 0);
    fw_batch_model m = toy_model();
    char *outs[3];
    int threads[3] = {1, 2, 4};
    for (int t = 0; t < 3; t++) {
        char name[32];
        snprintf(name, sizeof name, "a_out%d.csv", t);
        const char *out = path_in_tmp(name);
        fw_batch_options o;
        base_opts(&o, in, out);
        o.threads = threads[t];
        fw_batch_summary sum;
        fw_err err;
        fw_err_clear(&err);
        CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
        CHECK_EQ(sum.rows_read, 1000);
        CHECK_EQ(sum.rows_scored, 1000);
        CHECK_EQ(sum.rows_rejected, 0);
        CHECK_EQ(fw_batch_exit_code(FW_OK, &sum), 0);
        CHECK(access(out, F_OK) == 0);
        CHECK(access(path_in_tmp("a_out0.csv.rejects.csv"), F_OK) != 0); /* no rejects → no file */
        outs[t] = read_all(out, NULL);
    }
    CHECK_STR(outs[0], outs[1]);
    CHECK_STR(outs[0], outs[2]);
    /* header, then each row's score equals the direct call to the last bit, in input order */
    char *line = strtok(outs[0], "\n");
    CHECK_STR(line, "id,prediction,score,model_version,scored_at");
    int i = 0;
    while ((line = strtok(NULL, "\n")) != NULL) {
        i++;
        char id[32], pred[8], ver[8], ts[40];
        double score;
        char sc[64];
        int got = sscanf(line, "%31[^,],%7[^,],%63[^,],%7[^,],%39s", id, pred, sc, ver, ts);
        CHECK_EQ(got, 5);
        score = strtod(sc, NULL);
        char want_id[32];
        snprintf(want_id, sizeof want_id, "u%d", i);
        CHECK_STR(id, want_id);
        fw_value v[3] = {{FW_VALUE_NUMBER, (i % 101) / 17.0 - 2.5, NULL, 0},
                         {FW_VALUE_NUMBER, (double)(i % 7), NULL, 0},
                         {FW_VALUE_STRING, 0, i % 3 ? "blue" : "red", i % 3 ? 4u : 3u}};
        /* the CSV text of x was printed with %.3f: parse it back the same way */
        char xt[32];
        snprintf(xt, sizeof xt, "%.3f", (i % 101) / 17.0 - 2.5);
        v[0].num = strtod(xt, NULL);
        double want;
        CHECK_OK(toy_predict(NULL, v, NULL, &want, NULL, NULL));
        CHECK_MSG(score == want, "row %d: %.17g != %.17g", i, score, want);
        CHECK_STR(pred, want >= 0.5 ? "yes" : "no");
        CHECK_STR(ver, "7");
        CHECK_STR(ts, "2023-11-14T22:13:20.000Z");
    }
    CHECK_EQ(i, 1000);
    for (int t = 0; t < 3; t++) free(outs[t]);
}

static void test_rejects_file_and_summary(void) {
    const char *in = path_in_tmp("b.csv");
    make_input(in, 500, 50); /* 10 bad rows: x = "abc" */
    /* plus a row the model refuses and a row with too many fields */
    FILE *f = fopen(in, "a");
    fprintf(f, "big,2000000,1,red,z\nshort,1\n");
    fclose(f);
    fw_batch_model m = toy_model();
    const char *out = path_in_tmp("b_out.csv");
    fw_batch_options o;
    base_opts(&o, in, out);
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_read, 502);
    CHECK_EQ(sum.rows_rejected, 12);
    CHECK_EQ(sum.rows_scored, 490);
    CHECK_EQ(fw_batch_exit_code(FW_OK, &sum), FW_BATCH_EXIT_REJECTS);
    CHECK(sum.n_reasons >= 2);
    uint64_t total = sum.reasons_other;
    for (size_t i = 0; i < sum.n_reasons; i++) total += sum.reasons[i].count;
    CHECK_EQ(total, 12);
    char *rej = read_all(sum.reject_path, NULL);
    CHECK(rej != NULL);
    if (rej) {
        CHECK(strncmp(rej, "line,reason\n", 12) == 0);
        CHECK_EQ(count_lines(rej), 13);
        CHECK_CONTAINS(rej, "\n51,"); /* row 50 is on line 51 (after the header) */
        CHECK_CONTAINS(rej, "b.csv:51:");
        CHECK_CONTAINS(rej, "out of range");
        CHECK_CONTAINS(rej, "\n503,");
    }
    char *o_txt = read_all(out, NULL);
    CHECK_EQ(count_lines(o_txt), 491);
    /* the summary prints the counts and reasons */
    char *buf = NULL;
    size_t blen = 0;
    FILE *mf = open_memstream(&buf, &blen);
    fw_batch_summary_print(&sum, mf);
    fclose(mf);
    CHECK_CONTAINS(buf, "502 rows read, 490 scored, 12 rejected");
    CHECK_CONTAINS(buf, "rows/s");
    free(buf);
    free(rej);
    free(o_txt);
    /* --strict: the first bad row fails the run */
    o.strict = true;
    o.output = path_in_tmp("b_strict.csv");
    fw_status st = fw_batch_run(&m, &o, &sum, &err);
    CHECK_EQ(st, FW_EDATA);
    CHECK_CONTAINS(err.msg, "b.csv:51");
    CHECK_EQ(fw_batch_exit_code(st, &sum), FW_BATCH_EXIT_FAILURE);
}

/* Malformed CSV in the middle of a file: the bad lines are rejected with their line numbers and
 * every other row is scored, for any block size; quoted fields may hold newlines and delimiters. */
static void test_malformed_csv_recovers(void) {
    const char *in = path_in_tmp("m.csv");
    write_file(in, "id,x,y,color,unused\n"                    /* 1 */
                   "u1,1,2,red,z\n"                            /* 2 */
                   "\"u2\nsecond line\",0.5,1,\"blue, dark\",z\n" /* 3-4: quoted newline and comma */
                   "u3,\"1.5,2,red,z\n"                       /* 5: a stray quote, never closed */
                   "u4,2,3,blue,z\n"                           /* 6 */
                   "u5\"x,1,1,red,z\n"                        /* 7: a quote inside a field is data */
                   "u6,abc,1,red,z\n"                          /* 8: a bad number */
                   "u7,3,3,red\n"                              /* 9: too few fields */
                   "\n"                                        /* 10: blank */
                   "u8,4,4,red,z\n"                            /* 11 */
                   "\"unterminated,1\n");                     /* 12: unterminated on the last line */
    fw_batch_model m = toy_model();
    char *first = NULL;
    const size_t blocks[] = {1, 2, 3, 4096};
    for (size_t t = 0; t < 4; t++) {
        char name[32];
        snprintf(name, sizeof name, "m_out%zu.csv", t);
        const char *out = path_in_tmp(name);
        fw_batch_options o;
        base_opts(&o, in, out);
        o.block_rows = blocks[t];
        o.threads = t % 2 ? 1 : 2;
        fw_batch_summary sum;
        fw_err err;
        fw_err_clear(&err);
        fw_status st = fw_batch_run(&m, &o, &sum, &err);
        CHECK_MSG(st == FW_OK, "block_rows %zu: %s", blocks[t], err.msg);
        CHECK_EQ(sum.rows_scored, 5);
        CHECK_EQ(sum.rows_rejected, 4);
        CHECK_EQ(fw_batch_exit_code(st, &sum), FW_BATCH_EXIT_REJECTS);
        char *txt = read_all(out, NULL);
        CHECK(txt != NULL);
        if (!txt) continue;
        CHECK_CONTAINS(txt, "\nu1,");
        CHECK_CONTAINS(txt, "\n\"u2\nsecond line\",");
        CHECK_CONTAINS(txt, "\nu4,");
        CHECK_CONTAINS(txt, "\n\"u5\"\"x\","); /* the id as data, quoted on the way out (RFC 4180) */
        CHECK_CONTAINS(txt, "\nu8,");
        if (!first) first = txt;
        else {
            CHECK_STR(txt, first);
            free(txt);
        }
        char *rej = read_all(sum.reject_path, NULL);
        CHECK(rej != NULL);
        if (!rej) continue;
        CHECK_CONTAINS(rej, "\n5,");
        CHECK_CONTAINS(rej, "m.csv:5:");
        CHECK_CONTAINS(rej, "unterminated quoted field");
        CHECK_CONTAINS(rej, "\n8,");
        CHECK_CONTAINS(rej, "\n9,");
        CHECK_CONTAINS(rej, "\n12,");
        CHECK_CONTAINS(rej, "m.csv:12:");
        CHECK(strstr(rej, "\n6,") == NULL && strstr(rej, "\n11,") == NULL);
        /* in line order */
        CHECK(strstr(rej, "\n5,") < strstr(rej, "\n8,") && strstr(rej, "\n9,") < strstr(rej, "\n12,"));
        free(rej);
    }
    free(first);
    /* --strict stops at the first of them, naming its line */
    fw_batch_options o;
    base_opts(&o, in, path_in_tmp("m_strict.csv"));
    o.strict = true;
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_batch_run(&m, &o, &sum, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "m.csv:5:");
}

/* Many blocks with quoted newlines crossing every block boundary: same bytes as one block. */
static void test_block_cuts_respect_quotes(void) {
    const char *in = path_in_tmp("q.csv");
    FILE *f = fopen(in, "w");
    fprintf(f, "id,x,y,color\n");
    for (int i = 1; i <= 300; i++) {
        if (i % 3 == 0) fprintf(f, "\"id %d\nline two, \"\"quoted\"\"\",%d,1,red\n", i, i % 5);
        else fprintf(f, "r%d,%d,2,\"blue\"\n", i, i % 5);
    }
    fclose(f);
    fw_batch_model m = toy_model();
    char *outs[3];
    const size_t blocks[] = {1, 5, 4096};
    for (int t = 0; t < 3; t++) {
        char name[32];
        snprintf(name, sizeof name, "q_out%d.csv", t);
        const char *out = path_in_tmp(name);
        fw_batch_options o;
        base_opts(&o, in, out);
        o.block_rows = blocks[t];
        fw_batch_summary sum;
        fw_err err;
        fw_err_clear(&err);
        CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
        CHECK_EQ(sum.rows_scored, 300);
        CHECK_EQ(sum.rows_rejected, 0);
        outs[t] = read_all(out, NULL);
    }
    CHECK_STR(outs[0], outs[2]);
    CHECK_STR(outs[1], outs[2]);
    CHECK_CONTAINS(outs[2], "\n\"id 300\nline two, \"\"quoted\"\"\",");
    for (int t = 0; t < 3; t++) free(outs[t]);
}

static void test_resume_is_byte_identical(void) {
    const char *in = path_in_tmp("c.csv");
    make_input(in, 3000, 97);
    fw_batch_model m = toy_model();
    fw_err err;
    fw_err_clear(&err);
    fw_batch_summary sum;
    const char *full = path_in_tmp("c_full.csv");
    fw_batch_options o;
    base_opts(&o, in, full);
    o.checkpoint_rows = 200;
    o.threads = 2;
    o.job = "full";
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    size_t nf, nr;
    char *want = read_all(full, &nf);
    char *want_rej = read_all(sum.reject_path, &nr);
    /* interrupted twice at different points, then resumed to the end */
    const char *part = path_in_tmp("c_part.csv");
    base_opts(&o, in, part);
    o.checkpoint_rows = 200;
    o.threads = 2;
    o.job = "part";
    o.stop_after_blocks = 7;
    CHECK_EQ(fw_batch_run(&m, &o, &sum, &err), FW_EINTERRUPTED);
    CHECK(access(path_in_tmp("c_part.csv.state"), F_OK) == 0);
    o.resume = true;
    o.stop_after_blocks = 11;
    o.now_ms = 1800000000000; /* a later clock: the run's original timestamp must be kept */
    CHECK_EQ(fw_batch_run(&m, &o, &sum, &err), FW_EINTERRUPTED);
    CHECK(sum.resumed);
    o.stop_after_blocks = 0;
    o.threads = 3;
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK(sum.resumed);
    CHECK(sum.rows_skipped > 0);
    CHECK_EQ(sum.rows_read, 3000);
    CHECK_EQ(sum.rows_rejected, 30);
    size_t np, npr;
    char *got = read_all(part, &np);
    char *got_rej = read_all(sum.reject_path, &npr);
    CHECK_EQ(np, nf);
    CHECK(got && want && np == nf && memcmp(got, want, nf) == 0);
    CHECK(got_rej && want_rej && npr == nr && memcmp(got_rej, want_rej, nr) == 0);
    CHECK(access(path_in_tmp("c_part.csv.state"), F_OK) != 0); /* removed on success */
    free(want);
    free(want_rej);
    free(got);
    free(got_rej);
    /* resuming against a changed input is refused */
    o.stop_after_blocks = 3;
    o.resume = false;
    CHECK_EQ(fw_batch_run(&m, &o, &sum, &err), FW_EINTERRUPTED);
    FILE *f = fopen(in, "a");
    fprintf(f, "new,1,1,red,z\n");
    fclose(f);
    o.resume = true;
    o.stop_after_blocks = 0;
    fw_status st = fw_batch_run(&m, &o, &sum, &err);
    CHECK_EQ(st, FW_EINVAL);
    CHECK_CONTAINS(err.msg, "input file changed");
}

static void test_jsonl_and_gzip(void) {
    const char *in = path_in_tmp("d.jsonl");
    write_file(in, "{\"id\": \"a\", \"x\": 1.5, \"y\": 2, \"color\": \"red\"}\n"
                   "\n"
                   "{\"id\": \"b\", \"x\": -1, \"color\": null}\n"
                   "{\"id\": \"c\", \"x\": [1]}\n"
                   "not json\n"
                   "{\"id\": 4, \"x\": \"zz\"}\n");
    fw_batch_model m = toy_model();
    const char *out = path_in_tmp("d_out.jsonl");
    fw_batch_options o;
    base_opts(&o, in, out);
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_read, 5);
    CHECK_EQ(sum.rows_scored, 2);
    CHECK_EQ(sum.rows_rejected, 3);
    char *txt = read_all(out, NULL);
    CHECK_CONTAINS(txt, "{\"id\":\"a\",\"prediction\":\"yes\",\"score\":");
    CHECK_CONTAINS(txt, "\"model_version\":\"7\",\"scored_at\":\"2023-11-14T22:13:20.000Z\"}\n{\"id\":\"b\"");
    CHECK_EQ(count_lines(txt), 2);
    char *rej = read_all(sum.reject_path, NULL);
    CHECK_CONTAINS(rej, "\n4,");
    CHECK_CONTAINS(rej, "nested");
    CHECK_CONTAINS(rej, "\n5,");
    CHECK_CONTAINS(rej, "invalid JSON");
    CHECK_CONTAINS(rej, "\n6,");
    /* the same bytes whatever the block size (lines are cut by the reader, parsed by the scorers) */
    for (size_t br = 1; br <= 2; br++) {
        base_opts(&o, in, path_in_tmp(br == 1 ? "d_out1.jsonl" : "d_out2.jsonl"));
        o.block_rows = br;
        CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
        char *t2 = read_all(o.output, NULL), *r2 = read_all(sum.reject_path, NULL);
        CHECK_STR(t2, txt);
        CHECK_STR(r2, rej);
        free(t2);
        free(r2);
    }
    free(txt);
    free(rej);
    /* gzip input gives the same output as the plain file */
    const char *plain = path_in_tmp("e.csv");
    make_input(plain, 300, 0);
    size_t n;
    char *data = read_all(plain, &n);
    const char *gz = path_in_tmp("e.csv.gz");
    gzFile g = gzopen(gz, "wb");
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
    free(data);
    base_opts(&o, plain, path_in_tmp("e1.csv"));
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    base_opts(&o, gz, path_in_tmp("e2.csv"));
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    char *a = read_all(path_in_tmp("e1.csv"), NULL), *b = read_all(path_in_tmp("e2.csv"), NULL);
    CHECK_STR(a, b);
    free(a);
    free(b);
}

static void test_top_fraction(void) {
    const char *in = path_in_tmp("f.csv");
    make_input(in, 1000, 0);
    fw_batch_model m = toy_model();
    const char *all = path_in_tmp("f_all.csv"), *top = path_in_tmp("f_top.csv");
    fw_batch_options o;
    base_opts(&o, in, all);
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    base_opts(&o, in, top);
    o.top_fraction = 0.1;
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_written, 100);
    CHECK_EQ(sum.selection_bytes, 1000 * 24);
    /* the kept rows are a subsequence of the full output (input order) and hold the 100 best */
    char *a = read_all(all, NULL), *t = read_all(top, NULL);
    CHECK_EQ(count_lines(t), 101);
    double scores[1000];
    int n = 0;
    char *save;
    for (char *l = strtok_r(a, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == 0 && strncmp(l, "id,", 3) == 0) continue;
        char *c = strchr(strchr(l, ',') + 1, ',') + 1;
        scores[n++] = strtod(c, NULL);
    }
    CHECK_EQ(n, 1000);
    double sorted[1000];
    memcpy(sorted, scores, sizeof sorted);
    for (int i = 0; i < 1000; i++)
        for (int j = i + 1; j < 1000; j++)
            if (sorted[j] > sorted[i]) {
                double x = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = x;
            }
    double thr = sorted[99];
    int kept = 0, last_row = 0;
    bool ordered = true, all_good = true;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "id,", 3) == 0) continue;
        int row = atoi(l + 1);
        if (row <= last_row) ordered = false;
        last_row = row;
        char *c = strchr(strchr(l, ',') + 1, ',') + 1;
        if (strtod(c, NULL) < thr) all_good = false;
        kept++;
    }
    CHECK_EQ(kept, 100);
    CHECK(ordered);
    CHECK(all_good);
    CHECK(access(path_in_tmp("f_top.csv.spool"), F_OK) != 0);
    free(a);
    free(t);
}

/* ---- recommendations: score = user affinity x item quality ---------------------------------- */

static const char *const REC_NAMES[] = {"affinity", "quality"};
static const fw_col_type REC_TYPES[] = {FW_COL_NUMERIC, FW_COL_NUMERIC};

static fw_status rec_predict(void *ud, const fw_value *in, void *scratch, double *out, const char **label,
                             fw_err *err) {
    (void)ud;
    (void)label;
    (void)scratch;
    (void)err;
    double a = in[0].kind == FW_VALUE_NUMBER ? in[0].num : 0, q = in[1].kind == FW_VALUE_NUMBER ? in[1].num : 0;
    out[0] = a * q - 0.01 * q * q;
    return FW_OK;
}

static void test_recommendations(void) {
    const char *users = path_in_tmp("users.csv"), *itemsf = path_in_tmp("items.csv");
    FILE *f = fopen(users, "w");
    fprintf(f, "user,affinity\n");
    for (int u = 0; u < 40; u++) fprintf(f, "U%d,%d\n", u, u - 20);
    fclose(f);
    f = fopen(itemsf, "w");
    fprintf(f, "item,quality\n");
    for (int i = 0; i < 25; i++) fprintf(f, "%d,%d\n", 100 + i, (i * 7) % 25);
    fclose(f);
    fw_batch_model m = toy_model();
    m.task = FW_TASK_REGRESSION;
    m.n_classes = 0;
    m.classes = NULL;
    m.n_inputs = 2;
    m.input_names = REC_NAMES;
    m.input_types = REC_TYPES;
    m.predict = rec_predict;
    const char *out = path_in_tmp("recs.csv");
    static const char *const UID[] = {"user"};
    fw_batch_options o;
    base_opts(&o, users, out);
    o.id_columns = UID;
    o.items = itemsf;
    o.item_id_column = "item";
    o.top_k = 3;
    o.block_rows = 7;
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_scored, 40);
    CHECK_EQ(sum.rows_written, 120);
    char *t = read_all(out, NULL);
    CHECK(strncmp(t, "user,rank,item,score,model_version,scored_at\n", 45) == 0);
    /* brute force for user U25 (affinity 5) */
    double best[3] = {-1e300, -1e300, -1e300};
    int bi[3] = {0};
    for (int i = 0; i < 25; i++) {
        double q = (i * 7) % 25, s = 5 * q - 0.01 * q * q;
        for (int r = 0; r < 3; r++)
            if (s > best[r]) {
                for (int z = 2; z > r; z--) {
                    best[z] = best[z - 1];
                    bi[z] = bi[z - 1];
                }
                best[r] = s;
                bi[r] = 100 + i;
                break;
            }
    }
    char want[256];
    char s0[40];
    fw_dtoa(best[0], s0);
    snprintf(want, sizeof want, "\nU25,1,%d,%s,7,", bi[0], s0);
    CHECK_CONTAINS(t, want);
    snprintf(want, sizeof want, "\nU25,3,%d,", bi[2]);
    CHECK_CONTAINS(t, want);
    free(t);
}

static void test_store_answers_history_and_lock(void) {
    const char *in = path_in_tmp("g.csv");
    make_input(in, 200, 40);
    fw_batch_model m = toy_model();
    fw_batch_options o;
    base_opts(&o, in, "store");
    o.job = "nightly";
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_scored, 195);
    fw_store *db;
    CHECK_OK(fw_store_open(o.home, &db, &err));
    int64_t n = 0;
    CHECK_OK(fw_store_answer_count(db, "toy", &n, &err));
    CHECK_EQ(n, 195);
    fw_batch_answer a;
    CHECK_OK(fw_store_answer_get(db, "toy", "u3", 2, &a, &err));
    CHECK_STR(a.version, "7");
    CHECK_EQ(a.scored_ms, 1700000000000);
    fw_value v[3] = {{FW_VALUE_NUMBER, 0, NULL, 0}, {FW_VALUE_NUMBER, 3, NULL, 0}, {FW_VALUE_STRING, 0, "red", 3}};
    char xt[32];
    snprintf(xt, sizeof xt, "%.3f", 3 / 17.0 - 2.5);
    v[0].num = strtod(xt, NULL);
    double want;
    toy_predict(NULL, v, NULL, &want, NULL, NULL);
    char js[80], num[40];
    fw_dtoa(want, num);
    snprintf(js, sizeof js, "{\"score\":%s}", num);
    CHECK_STR(a.scores_json, js);
    CHECK_STR(a.prediction, want >= 0.5 ? "yes" : "no");
    fw_batch_answer_free(&a);
    CHECK_EQ(fw_store_answer_get(db, "toy", "u40", 3, &a, &err), FW_ENOTFOUND); /* rejected row */
    /* the hybrid-serving read: version and age checked, the reason for a miss given */
    fw_batch_miss why = FW_BATCH_MISSING;
    const int64_t t0 = 1700000000000, hour = 3600000;
    CHECK_OK(fw_store_answer_lookup(db, "toy", "7", "u3;ignored", 2, hour, t0 + 1000, &a, &why, &err));
    CHECK_EQ(why, FW_BATCH_HIT);
    CHECK_STR(a.scores_json, js);
    CHECK_EQ(a.scored_ms, t0);
    CHECK(a.run_id > 0);
    fw_batch_answer_free(&a);
    CHECK_OK(fw_store_answer_lookup(db, "toy", NULL, "u3", 2, 0, 0, &a, &why, &err)); /* any version, any age */
    fw_batch_answer_free(&a);
    CHECK_EQ(fw_store_answer_lookup(db, "toy", "7", "u3", 2, hour, t0 + 2 * hour, &a, &why, &err), FW_ENOTFOUND);
    CHECK_EQ(why, FW_BATCH_STALE);
    CHECK_CONTAINS(err.msg, "too old");
    CHECK(a.prediction == NULL);
    CHECK_EQ(fw_store_answer_lookup(db, "toy", "8", "u3", 2, hour, t0, &a, &why, &err), FW_ENOTFOUND);
    CHECK_EQ(why, FW_BATCH_OTHER_VERSION);
    CHECK_EQ(fw_store_answer_lookup(db, "toy", "7", "u40", 3, hour, t0, &a, &why, &err), FW_ENOTFOUND);
    CHECK_EQ(why, FW_BATCH_MISSING);
    CHECK_EQ(fw_store_answer_lookup(db, "other", "7", "u3", 2, hour, t0, &a, &why, &err), FW_ENOTFOUND);
    CHECK_EQ(why, FW_BATCH_MISSING);
    fw_batch_run_rec *h;
    size_t nh;
    CHECK_OK(fw_store_batch_history(db, "nightly", 0, &h, &nh, &err));
    CHECK_EQ(nh, 1);
    if (nh) {
        CHECK_STR(h[0].outcome, "rejects");
        CHECK_EQ(h[0].rows_rejected, 5);
        CHECK_EQ(h[0].exit_code, 3);
        CHECK(h[0].ended_ms >= h[0].started_ms);
    }
    fw_free(h);
    fw_store_close(db);
    /* a second run of the same job while the lock is held */
    int fd;
    CHECK_OK(fw__lock_take(o.home, "nightly", &fd, &err));
    fw_status st = fw_batch_run(&m, &o, &sum, &err);
    CHECK_EQ(st, FW_EBUSY);
    CHECK_EQ(fw_batch_exit_code(st, &sum), FW_BATCH_EXIT_LOCKED);
    CHECK_CONTAINS(err.msg, "already running");
    fw__lock_release(fd);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    /* a new version's run overwrites the answers: readers of version 7 now miss */
    m.version = "8";
    o.now_ms = t0 + hour;
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_OK(fw_store_open(o.home, &db, &err));
    CHECK_EQ(fw_store_answer_lookup(db, "toy", "7", "u3", 2, 0, 0, &a, &why, &err), FW_ENOTFOUND);
    CHECK_EQ(why, FW_BATCH_OTHER_VERSION);
    CHECK_OK(fw_store_answer_lookup(db, "toy", "8", "u3", 2, hour, t0 + hour + 5, &a, &why, &err));
    CHECK_EQ(a.scored_ms, t0 + hour);
    CHECK_STR(a.version, "8");
    fw_batch_answer_free(&a);
    CHECK_OK(fw_store_answer_count(db, "toy", &n, &err));
    CHECK_EQ(n, 195);
    fw_store_close(db);
}

static void test_state_file_roundtrip_and_corrupt(void) {
    fw__state s, r;
    memset(&s, 0, sizeof s);
    snprintf(s.job, sizeof s.job, "j");
    snprintf(s.input, sizeof s.input, "in.csv");
    s.block_rows = 64;
    s.blocks_done = 9;
    s.out_len = 12345;
    s.n_reasons = 1;
    s.reasons[0].count = 4;
    snprintf(s.reasons[0].text, sizeof s.reasons[0].text, "column 'x': bad = value");
    const char *p = path_in_tmp("s.state");
    fw_err err;
    CHECK_OK(fw__state_save(p, &s, &err));
    CHECK_OK(fw__state_load(p, &r, &err));
    CHECK_EQ(r.blocks_done, 9);
    CHECK_EQ(r.out_len, 12345);
    CHECK_STR(r.reasons[0].text, "column 'x': bad = value");
    CHECK_EQ(r.reasons[0].count, 4);
    write_file(p, "flywheel-batch-state 1\nblocks_done=x\nend\n");
    CHECK_EQ(fw__state_load(p, &r, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, ":2:");
    write_file(p, "flywheel-batch-state 1\nblock_rows=4\n");
    CHECK_EQ(fw__state_load(p, &r, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "truncated");
}

/* A header that lacks model inputs (a typo) is refused, naming them, unless allowed. */
static void test_missing_columns_refused(void) {
    const char *in = path_in_tmp("h.csv");
    write_file(in, "id,x,colour\nu1,1,red\nu2,2,blue\n");
    fw_batch_model m = toy_model();
    fw_batch_options o;
    base_opts(&o, in, path_in_tmp("h_out.csv"));
    fw_batch_summary sum;
    fw_err err;
    fw_err_clear(&err);
    CHECK_EQ(fw_batch_run(&m, &o, &sum, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "h.csv: the header has no column 'y', 'color' (2 of the model's 3 inputs)");
    CHECK_EQ(fw_batch_exit_code(FW_ESCHEMA, &sum), FW_BATCH_EXIT_FAILURE);
    o.allow_missing_columns = true;
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_scored, 2);
}

/* Every allocation failing in turn: the run fails cleanly (an error, no crash, no leak under ASan,
 * the lock released) and a normal run afterwards still works. */
static void test_allocation_failures(void) {
    const char *in = path_in_tmp("oom.csv");
    make_input(in, 70, 40);
    FILE *f = fopen(in, "a");
    fprintf(f, "\"open,1,1,red,z\n");
    fclose(f);
    fw_batch_model m = toy_model();
    fw_batch_options o;
    base_opts(&o, in, path_in_tmp("oom_out.csv"));
    o.block_rows = 32;
    o.threads = 2;
    fw_batch_summary sum;
    fw_err err;
    long before = fw_alloc_count();
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    long total = fw_alloc_count() - before;
    CHECK(total > 10);
    /* every one of the first 60 (setup), then a sample of ~90 across the run (ASan time budget) */
    long stride = total > 60 ? (total - 60) / 90 + 1 : 1;
    printf("  %ld allocations in a run, failing each of the first 60 and every %ld-th after\n", total, stride);
    int failed = 0;
    for (long n = 1; n <= total + 5; n += n < 60 ? 1 : stride) {
        fw_err_clear(&err);
        fw_alloc_fail_after(n);
        fw_status st = fw_batch_run(&m, &o, &sum, &err);
        fw_alloc_fail_after(0);
        if (st) {
            failed++;
            CHECK_MSG(err.msg[0] != '\0', "allocation %ld: status %d without a message", n, (int)st);
            CHECK_MSG(st != FW_EBUSY, "allocation %ld: lock left behind", n);
        }
    }
    CHECK(failed > 0);
    CHECK_OK(fw_batch_run(&m, &o, &sum, &err));
    CHECK_EQ(sum.rows_scored, 69);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_csv_matches_single_row_and_order);
    TEST_RUN(test_rejects_file_and_summary);
    TEST_RUN(test_malformed_csv_recovers);
    TEST_RUN(test_block_cuts_respect_quotes);
    TEST_RUN(test_resume_is_byte_identical);
    TEST_RUN(test_jsonl_and_gzip);
    TEST_RUN(test_top_fraction);
    TEST_RUN(test_recommendations);
    TEST_RUN(test_store_answers_history_and_lock);
    TEST_RUN(test_state_file_roundtrip_and_corrupt);
    TEST_RUN(test_missing_columns_refused);
    TEST_RUN(test_allocation_failures);
    return fw_test_report(argv[0]);
}
