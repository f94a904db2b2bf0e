/* test_profile.c — tests for src/data/profile.c: statistics checked against hand-computed
 * values, top categories and label balance, text tokens, timestamp range, table and JSON. */
#include "core/alloc.h"
#include "data/csv.h"
#include "data/profile.h"
#include "data/schema.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>

static const char *csv =
    "x,color,note,when,label\n"
    "1,red,one two three,2024-01-01,yes\n"
    "2,blue,four five six seven,2024-01-03,no\n"
    "3,red,a b c,,yes\n"
    "4,,d e f g h,2024-01-02T12:00:00Z,yes\n"
    ",red,i j k,2024-01-02,no\n"
    "10,green,l m n,2024-01-05,yes\n";

static fw_dataset *load(void) {
    fw_dataset *ds = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_csv_load_mem(csv, strlen(csv), "p.csv", NULL, &ds, NULL, &err);
    CHECK_MSG(st == FW_OK, "%s", err.msg);
    return ds;
}

static void test_numbers(void) {
    fw_dataset *ds = load();
    if (!ds) return;
    fw_profile *p;
    fw_err err;
    CHECK_OK(fw_profile_build(ds, "label", &p, &err));
    const fw_col_profile *x = &p->cols[0];
    CHECK_EQ(x->type, FW_COL_NUMERIC);
    CHECK_EQ(x->n_missing, 1);
    CHECK_NEAR(x->missing_rate, 1.0 / 6.0, 1e-12);
    CHECK_EQ(x->distinct, 5);
    CHECK(x->min == 1 && x->max == 10);
    CHECK_NEAR(x->mean, 4.0, 1e-12);                 /* (1+2+3+4+10)/5 */
    CHECK_NEAR(x->std, sqrt(50.0 / 4.0), 1e-12);     /* squares of deviations: 9+4+1+0+36 */
    CHECK_NEAR(x->q[0], 1.04, 1e-12);                /* h = 4*0.01 = 0.04 → 1 + 0.04*1 */
    CHECK_NEAR(x->q[1], 2.0, 1e-12);
    CHECK_NEAR(x->q[2], 3.0, 1e-12);
    CHECK_NEAR(x->q[3], 4.0, 1e-12);
    CHECK_NEAR(x->q[4], 9.76, 1e-12);                /* h = 3.96 → 4 + 0.96*6 */
    CHECK(x->is_integer);
    const fw_col_profile *color = &p->cols[1];
    CHECK_EQ(color->type, FW_COL_CATEGORICAL);
    CHECK_EQ(color->distinct, 3);
    CHECK_EQ(color->n_top, 3);
    CHECK_STR(color->top[0].value, "red");
    CHECK_EQ(color->top[0].count, 3);
    CHECK_STR(color->top[1].value, "blue"); /* tie with green: first appearance wins */
    CHECK_STR(color->top[2].value, "green");
    const fw_col_profile *note = &p->cols[2];
    CHECK_EQ(note->type, FW_COL_TEXT);
    CHECK_NEAR(note->avg_tokens, (3 + 4 + 3 + 5 + 3 + 3) / 6.0, 1e-12);
    const fw_col_profile *when = &p->cols[3];
    CHECK_EQ(when->type, FW_COL_TIMESTAMP);
    CHECK(when->min == 1704067200.0);
    CHECK(when->max == 1704067200.0 + 4 * 86400);
    CHECK_EQ(when->n_missing, 1);
    CHECK_STR(p->label, "label");
    CHECK_EQ(p->n_classes, 2);
    CHECK_STR(p->classes[0].value, "yes");
    CHECK_EQ(p->classes[0].count, 4);
    CHECK_EQ(p->classes[1].count, 2);
    fw_profile_free(p);
    CHECK_EQ(fw_profile_build(ds, "nope", &p, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "'nope'");
    /* Numeric label with few values gets a balance too. */
    CHECK_OK(fw_profile_build(ds, "x", &p, &err));
    CHECK_EQ(p->n_classes, 5);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

static void test_outputs(void) {
    fw_dataset *ds = load();
    if (!ds) return;
    fw_profile *p;
    fw_err err;
    CHECK_OK(fw_profile_build(ds, "label", &p, &err));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fw_profile_print(p, f);
    fclose(f);
    CHECK_CONTAINS(buf, "rows: 6");
    CHECK_CONTAINS(buf, "p50 3");
    CHECK_CONTAINS(buf, "red 3 (60.0%)");
    CHECK_CONTAINS(buf, "2024-01-01T00:00:00.000Z .. 2024-01-05T00:00:00.000Z");
    CHECK_CONTAINS(buf, "label 'label': 2 classes");
    free(buf);
    char *js = fw_profile_json(p);
    CHECK(js != NULL);
    json_error_t je;
    json_t *root = js ? json_loads(js, 0, &je) : NULL;
    CHECK(root != NULL);
    if (root) {
        json_t *c0 = json_array_get(json_object_get(root, "columns"), 0);
        CHECK_NEAR(json_real_value(json_object_get(c0, "p99")), 9.76, 1e-12);
        CHECK_EQ(json_integer_value(json_object_get(c0, "missing")), 1);
        json_t *bal = json_object_get(root, "label_balance");
        CHECK_EQ(json_array_size(bal), 2);
        CHECK_NEAR(json_real_value(json_object_get(json_array_get(bal, 0), "fraction")), 4.0 / 6.0, 1e-12);
        json_decref(root);
    }
    fw_free(js);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

static void test_all_missing_and_empty(void) {
    fw_dataset *ds = NULL;
    fw_err err;
    CHECK_OK(fw_csv_load_mem("a,b\n,\n,\n", 8, "e.csv", NULL, &ds, NULL, &err));
    if (!ds) return;
    fw_profile *p;
    CHECK_OK(fw_profile_build(ds, NULL, &p, &err));
    CHECK(isnan(p->cols[0].mean));
    CHECK_NEAR(p->cols[0].missing_rate, 1.0, 0);
    char *js = fw_profile_json(p);
    CHECK_CONTAINS(js, "\"mean\": null");
    fw_free(js);
    fw_profile_free(p);
    fw_dataset_free(ds);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Integer columns over a small range are sorted by counting (pixels, counts): every statistic
 * must be bit for bit what the comparison sort gives — Welford's mean and deviation summed in
 * sorted order, the interpolated quantiles, distinct values — for negative values, a wide range
 * (comparison sort), and a column holding -0 (comparison sort, so -0 stays as it was). */
static void test_small_integers_exact(void) {
    enum { N = 700, C = 4 };
    static char text[N * 64 + 64];
    size_t at = (size_t)snprintf(text, sizeof text, "px,neg,wide,zero\n");
    unsigned s = 77;
    static double want[C][N];
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        int px = (int)((s >> 8) % 256), neg = (int)((s >> 4) % 41) - 20;
        long wide = (long)((s >> 3) % 100000000u) - 5000;
        double zero = i % 5 == 0 ? -0.0 : (double)((s >> 9) % 7);
        want[0][i] = px;
        want[1][i] = neg;
        want[2][i] = (double)wide;
        want[3][i] = zero;
        at += (size_t)snprintf(text + at, sizeof text - at, "%d,%d,%ld,%s\n", px, neg, wide,
                               i % 5 == 0 ? "-0" : (char[2]){(char)('0' + (int)zero), 0});
    }
    fw_dataset *ds = NULL;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_csv_load_mem(text, at, "ints.csv", NULL, &ds, NULL, &err));
    if (!ds) return;
    fw_profile *p;
    CHECK_OK(fw_profile_build(ds, NULL, &p, &err));
    for (int c = 0; c < C; c++) {
        double *v = want[c];
        qsort(v, N, sizeof *v, cmp_d);
        double mean = 0, m2 = 0;
        for (size_t i = 0; i < N; i++) {
            double d = v[i] - mean;
            mean += d / (double)(i + 1);
            m2 += d * (v[i] - mean);
        }
        size_t distinct = 0;
        for (size_t i = 0; i < N; i++) distinct += i == 0 || v[i] != v[i - 1];
        const fw_col_profile *cp = &p->cols[c];
        CHECK_MSG(cp->mean == mean && cp->std == sqrt(m2 / (N - 1)), "column %d: mean %.17g vs %.17g", c,
                  cp->mean, mean);
        CHECK_MSG(cp->min == v[0] && cp->max == v[N - 1] && cp->distinct == distinct, "column %d", c);
        static const double ps[5] = {0.01, 0.25, 0.5, 0.75, 0.99};
        for (int k = 0; k < 5; k++) {
            double h = (double)(N - 1) * ps[k];
            size_t lo = (size_t)floor(h);
            double q = v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
            CHECK_MSG(cp->q[k] == q, "column %d q%d: %.17g vs %.17g", c, k, cp->q[k], q);
        }
    }
    fw_profile_free(p);
    fw_dataset_free(ds);
}

/* A table of over a million cells is profiled over the threads, a column at a time: every
 * column's statistics are the ones the single-column table gives (the serial path). */
static void test_many_columns_parallel(void) {
    enum { N = 20000, C = 60 };
    fw_err err;
    fw_err_clear(&err);
    const char *names[C];
    fw_col_type types[C];
    char nb[C][16];
    for (int c = 0; c < C; c++) {
        snprintf(nb[c], sizeof nb[c], "c%d", c);
        names[c] = nb[c];
        types[c] = c % 10 == 9 ? FW_COL_CATEGORICAL : FW_COL_NUMERIC;
    }
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(C, names, types, &ds));
    if (!ds) return;
    CHECK_OK(fw_dataset_reserve(ds, N));
    unsigned s = 5;
    for (size_t r = 0; r < N; r++)
        for (int c = 0; c < C; c++) {
            s = s * 1103515245u + 12345u;
            fw_column *col = &ds->cols[c];
            if (types[c] == FW_COL_CATEGORICAL) {
                char v[16];
                int len = snprintf(v, sizeof v, "k%u", (s >> 10) % 17);
                col->code[r] = fw_dict_intern(&col->dict, v, (size_t)len);
            } else {
                col->num[r] = c % 3 == 0 ? (double)((s >> 8) % 256) : c % 3 == 1 ? (double)(s >> 5) / 7.0 : NAN;
                if (c % 3 == 2 && r % 3) col->num[r] = (double)(int)((s >> 7) % 1000) - 500.5;
            }
        }
    ds->n_rows = N;
    fw_profile *all = NULL;
    CHECK_OK(fw_profile_build(ds, "c9", &all, &err));
    for (int c = 0; c < C && all; c++) {
        fw_dataset *one = NULL;
        CHECK_OK(fw_dataset_new(1, &names[c], &types[c], &one));
        if (!one) break;
        CHECK_OK(fw_dataset_reserve(one, N));
        fw_column *src = &ds->cols[c], *dst = &one->cols[0];
        for (size_t r = 0; r < N; r++) {
            if (src->num)
                dst->num[r] = src->num[r];
            else
                dst->code[r] = fw_dict_intern(&dst->dict, fw_dict_str(&src->dict, src->code[r]),
                                              fw_dict_len(&src->dict, src->code[r]));
        }
        one->n_rows = N;
        fw_profile *p1 = NULL;
        CHECK_OK(fw_profile_build(one, NULL, &p1, &err));
        const fw_col_profile *a = &all->cols[c], *b = p1 ? &p1->cols[0] : NULL;
        CHECK_MSG(b && a->n_missing == b->n_missing && a->distinct == b->distinct &&
                      memcmp(&a->mean, &b->mean, sizeof a->mean) == 0 &&
                      memcmp(&a->std, &b->std, sizeof a->std) == 0 &&
                      memcmp(&a->min, &b->min, sizeof a->min) == 0 &&
                      memcmp(&a->max, &b->max, sizeof a->max) == 0 &&
                      memcmp(a->q, b->q, sizeof a->q) == 0 && a->n_top == b->n_top,
                  "column %d differs from its own profile", c);
        for (size_t k = 0; b && k < a->n_top && k < b->n_top; k++)
            CHECK(strcmp(a->top[k].value, b->top[k].value) == 0 && a->top[k].count == b->top[k].count);
        fw_profile_free(p1);
        fw_dataset_free(one);
    }
    CHECK(all && all->n_classes == 17);
    fw_profile_free(all);
    fw_dataset_free(ds);
}

/* The token count shared by type inference (schema.c) and the profile: runs without space, tab,
 * CR or LF; other punctuation does not split. */
static void test_count_tokens(void) {
    CHECK_EQ(fw_count_tokens("", 0), 0);
    CHECK_EQ(fw_count_tokens(" \t\r\n", 4), 0);
    CHECK_EQ(fw_count_tokens("word", 4), 1);
    CHECK_EQ(fw_count_tokens(" a  b\tc\r\nd ", 11), 4);
    CHECK_EQ(fw_count_tokens("a,b;c", 5), 1);
    CHECK_EQ(fw_count_tokens("a b c", 3), 2); /* only the first len bytes */
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_count_tokens);
    TEST_RUN(test_numbers);
    TEST_RUN(test_outputs);
    TEST_RUN(test_all_missing_and_empty);
    TEST_RUN(test_small_integers_exact);
    TEST_RUN(test_many_columns_parallel);
    return fw_test_report(argv[0]);
}
