/* test_query.c — tests for src/data/query.c and the query-aware splits of a ranking run: query ids
 * from a categorical or numeric column (equal values, equal ids; a missing one is an error naming
 * the row), k-fold by whole queries (every query in one fold, folds balanced by rows, the same seed
 * the same folds), and the group split by the query column never putting a query on two sides. */
#include "data/query.h"
#include "data/split.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

/* rows of 37 queries of uneven size (1..12 rows), interleaved; "q" categorical, "qn" numeric */
static fw_dataset *make(size_t *n_out) {
    const char *names[] = {"q", "qn", "rel"};
    fw_col_type types[] = {FW_COL_CATEGORICAL, FW_COL_NUMERIC, FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    if (fw_dataset_new(3, names, types, &ds)) return NULL;
    size_t r = 0;
    for (int round = 0; round < 12; round++)
        for (int g = 0; g < 37; g++) {
            if (round >= 1 + (g * 5) % 12) continue; /* query g has 1 + (5g mod 12) rows */
            fw_dataset_append_row(ds);
            char s[16];
            int len = snprintf(s, sizeof s, "query-%d", g);
            fw_dataset_set_str(ds, 0, r, s, (size_t)len);
            fw_dataset_set_num(ds, 1, r, (double)(g - 3) * 1.5);
            fw_dataset_set_num(ds, 2, r, (double)(round % 4));
            r++;
        }
    *n_out = r;
    return ds;
}

static void test_ids(void) {
    size_t n;
    fw_dataset *ds = make(&n);
    CHECK(ds != NULL);
    if (!ds) return;
    uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    uint32_t na = 0, nb = 0;
    fw_err err;
    CHECK_OK(fw_query_ids(ds, "q", a, &na, &err));
    CHECK_OK(fw_query_ids(ds, "qn", b, &nb, &err));
    CHECK_EQ(na, 37);
    CHECK_EQ(nb, 37);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            CHECK((a[i] == a[j]) == (b[i] == b[j])); /* both columns define the same queries */
            if (i > 40) break;
        }
    for (size_t i = 0; i < n; i++) CHECK(a[i] < na && b[i] < nb);
    CHECK_EQ(a[0], 0); /* dense, in order of first appearance */
    CHECK_EQ(fw_query_ids(ds, "nope", a, &na, &err), FW_ENOTFOUND);
    /* a missing query value is an error naming the row (line 2 + row) */
    fw_dataset_set_num(ds, 1, 5, NAN);
    CHECK_EQ(fw_query_ids(ds, "qn", b, &nb, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "row 7");
    CHECK_CONTAINS(err.msg, "query column 'qn' is missing");
    free(a);
    free(b);
    fw_dataset_free(ds);
}

static void test_kfold_groups(void) {
    size_t n;
    fw_dataset *ds = make(&n);
    if (!ds) return;
    uint32_t *q = malloc(n * sizeof *q), *f1 = malloc(n * sizeof *f1), *f2 = malloc(n * sizeof *f2);
    uint32_t nq;
    fw_err err;
    CHECK_OK(fw_query_ids(ds, "q", q, &nq, &err));
    CHECK_OK(fw_kfold_groups(q, n, nq, 5, 42, f1, &err));
    CHECK_OK(fw_kfold_groups(q, n, nq, 5, 42, f2, &err));
    CHECK(memcmp(f1, f2, n * sizeof *f1) == 0);
    size_t rows[5] = {0};
    uint32_t fold_of_q[64];
    for (uint32_t g = 0; g < nq; g++) fold_of_q[g] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        CHECK(f1[i] < 5);
        rows[f1[i]]++;
        if (fold_of_q[q[i]] == UINT32_MAX) fold_of_q[q[i]] = f1[i];
        CHECK_MSG(fold_of_q[q[i]] == f1[i], "query %u in folds %u and %u", q[i], fold_of_q[q[i]], f1[i]);
    }
    size_t lo = n, hi = 0;
    for (int k = 0; k < 5; k++) {
        if (rows[k] < lo) lo = rows[k];
        if (rows[k] > hi) hi = rows[k];
    }
    CHECK_MSG(hi - lo <= 12, "fold sizes %zu..%zu", lo, hi); /* within one query's size */
    CHECK_OK(fw_kfold_groups(q, n, nq, 5, 7, f2, &err));
    CHECK(memcmp(f1, f2, n * sizeof *f1) != 0);
    CHECK_EQ(fw_kfold_groups(q, n, nq, 38, 42, f2, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "37 queries");
    free(q);
    free(f1);
    free(f2);
    fw_dataset_free(ds);
}

static void test_group_split_keeps_queries(void) {
    size_t n;
    fw_dataset *ds = make(&n);
    if (!ds) return;
    uint32_t *q = malloc(n * sizeof *q);
    uint32_t nq;
    fw_err err;
    CHECK_OK(fw_query_ids(ds, "q", q, &nq, &err));
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fw_split_opts o;
        fw_split_opts_init(&o);
        o.kind = FW_SPLIT_GROUP;
        o.column = seed % 2 ? "q" : "qn";
        o.seed = seed;
        o.test_fraction = 0.2;
        o.valid_fraction = 0.1;
        fw_split s;
        CHECK_OK(fw_split_make(ds, &o, &s, &err));
        int side_of_q[64];
        for (uint32_t g = 0; g < nq; g++) side_of_q[g] = -1;
        const uint32_t *sides[3] = {s.train, s.valid, s.test};
        size_t counts[3] = {s.n_train, s.n_valid, s.n_test};
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < counts[k]; i++) {
                uint32_t g = q[sides[k][i]];
                if (side_of_q[g] < 0) side_of_q[g] = k;
                CHECK_MSG(side_of_q[g] == k, "seed %llu: query %u on sides %d and %d",
                          (unsigned long long)seed, g, side_of_q[g], k);
            }
        CHECK(s.n_test > 0 && s.n_train > 0);
        fw_split_free(&s);
    }
    free(q);
    fw_dataset_free(ds);
}

int main(void) {
    TEST_RUN(test_ids);
    TEST_RUN(test_kfold_groups);
    TEST_RUN(test_group_split_keeps_queries);
    return fw_test_report("test_query");
}
