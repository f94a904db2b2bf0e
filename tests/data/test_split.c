/* test_split.c — tests for src/data/split.c: every strategy's sides are disjoint and cover all
 * rows; stratification keeps class ratios; time splits keep the past in train; groups never
 * straddle sides; same seed → same split, other seed → another; k-fold sizes and strata; errors. */
#include "data/split.h"
#include "test.h"

#include <stdlib.h>

static fw_dataset *make(size_t n) {
    const char *names[] = {"label", "t", "g", "y"};
    fw_col_type types[] = {FW_COL_CATEGORICAL, FW_COL_TIMESTAMP, FW_COL_NUMERIC, FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    if (fw_dataset_new(4, names, types, &ds)) return NULL;
    for (size_t r = 0; r < n; r++) {
        fw_dataset_append_row(ds);
        const char *lab = r % 10 == 0 ? "rare" : r % 3 == 0 ? "b" : "a"; /* 10% rare */
        fw_dataset_set_str(ds, 0, r, lab, strlen(lab));
        fw_dataset_set_num(ds, 1, r, (double)((r * 7919) % n)); /* a permutation of times */
        fw_dataset_set_num(ds, 2, r, (double)(r / 7));            /* groups of 7 rows */
        fw_dataset_set_num(ds, 3, r, (double)r * 0.5);
    }
    return ds;
}

/* Checks disjointness, coverage and ascending order. */
static void check_partition(const fw_dataset *ds, const fw_split *s) {
    size_t n = ds->n_rows;
    unsigned char *seen = calloc(n, 1);
    const uint32_t *sides[3] = {s->train, s->valid, s->test};
    size_t counts[3] = {s->n_train, s->n_valid, s->n_test};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            CHECK(sides[k][i] < n);
            if (sides[k][i] >= n) continue;
            CHECK_MSG(!seen[sides[k][i]], "row %u twice", sides[k][i]);
            seen[sides[k][i]] = 1;
            if (i) CHECK(sides[k][i] > sides[k][i - 1]);
        }
    CHECK_EQ(s->n_train + s->n_valid + s->n_test, n);
    free(seen);
}

static void test_random(void) {
    fw_dataset *ds = make(1000);
    fw_split_opts o;
    fw_split_opts_init(&o);
    o.valid_fraction = 0.1;
    fw_split a, b, c;
    fw_err err;
    CHECK_OK(fw_split_make(ds, &o, &a, &err));
    check_partition(ds, &a);
    CHECK_EQ(a.n_test, 200);
    CHECK_EQ(a.n_valid, 100);
    CHECK_EQ(a.n_train, 700);
    CHECK_OK(fw_split_make(ds, &o, &b, &err));
    CHECK(b.n_test == a.n_test && memcmp(a.test, b.test, a.n_test * 4) == 0);
    o.seed = 43;
    CHECK_OK(fw_split_make(ds, &o, &c, &err));
    CHECK(memcmp(a.test, c.test, a.n_test * 4) != 0);
    fw_split_free(&a);
    fw_split_free(&b);
    fw_split_free(&c);
    fw_dataset_free(ds);
}

static void test_stratified(void) {
    fw_dataset *ds = make(1000);
    fw_split_opts o;
    fw_split_opts_init(&o);
    o.kind = FW_SPLIT_STRATIFIED;
    o.column = "label";
    o.test_fraction = 0.3;
    fw_split s;
    fw_err err;
    CHECK_OK(fw_split_make(ds, &o, &s, &err));
    check_partition(ds, &s);
    size_t rare_test = 0, rare_train = 0;
    for (size_t i = 0; i < s.n_test; i++) rare_test += strcmp(fw_dataset_str(ds, 0, s.test[i]), "rare") == 0;
    for (size_t i = 0; i < s.n_train; i++) rare_train += strcmp(fw_dataset_str(ds, 0, s.train[i]), "rare") == 0;
    CHECK_EQ(rare_test, 30); /* exactly 30% of the 100 rare rows */
    CHECK_EQ(rare_train, 70);
    fw_split_free(&s);
    /* Numeric label with many values: quantile strata still partition. */
    o.column = "y";
    CHECK_OK(fw_split_make(ds, &o, &s, &err));
    check_partition(ds, &s);
    size_t low = 0;
    for (size_t i = 0; i < s.n_test; i++) low += ds->cols[3].num[s.test[i]] < 250;
    CHECK_NEAR((double)low / (double)s.n_test, 0.5, 0.02);
    fw_split_free(&s);
    fw_dataset_free(ds);
}

static void test_time(void) {
    fw_dataset *ds = make(500);
    fw_split_opts o;
    fw_split_opts_init(&o);
    o.kind = FW_SPLIT_TIME;
    o.column = "t";
    o.valid_fraction = 0.2;
    fw_split s;
    fw_err err;
    CHECK_OK(fw_split_make(ds, &o, &s, &err));
    check_partition(ds, &s);
    double max_train = -1, min_valid = 1e18, max_valid = -1, min_test = 1e18;
    for (size_t i = 0; i < s.n_train; i++) max_train = fmax(max_train, ds->cols[1].num[s.train[i]]);
    for (size_t i = 0; i < s.n_valid; i++) {
        min_valid = fmin(min_valid, ds->cols[1].num[s.valid[i]]);
        max_valid = fmax(max_valid, ds->cols[1].num[s.valid[i]]);
    }
    for (size_t i = 0; i < s.n_test; i++) min_test = fmin(min_test, ds->cols[1].num[s.test[i]]);
    CHECK(max_train < min_valid);
    CHECK(max_valid < min_test);
    CHECK_EQ(s.n_test, 100);
    CHECK(min_test == 400);
    fw_split_free(&s);
    /* Missing times are an error naming the column. */
    ds->cols[1].num[17] = NAN;
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "'t'");
    CHECK_CONTAINS(err.msg, "row 18");
    o.column = "label";
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_ESCHEMA);
    fw_dataset_free(ds);
}

static void test_group(void) {
    fw_dataset *ds = make(700);
    fw_split_opts o;
    fw_split_opts_init(&o);
    o.kind = FW_SPLIT_GROUP;
    o.column = "g";
    fw_split s;
    fw_err err;
    CHECK_OK(fw_split_make(ds, &o, &s, &err));
    check_partition(ds, &s);
    unsigned char side[100] = {0};
    for (size_t i = 0; i < s.n_train; i++) side[(size_t)ds->cols[2].num[s.train[i]]] |= 1;
    for (size_t i = 0; i < s.n_test; i++) side[(size_t)ds->cols[2].num[s.test[i]]] |= 2;
    for (int g = 0; g < 100; g++) CHECK_MSG(side[g] == 1 || side[g] == 2, "group %d on both sides", g);
    CHECK_NEAR((double)s.n_test / 700.0, 0.2, 0.03);
    fw_split_free(&s);
    /* By a categorical column too. */
    o.column = "label";
    CHECK_OK(fw_split_make(ds, &o, &s, &err));
    check_partition(ds, &s);
    fw_split_free(&s);
    fw_dataset_free(ds);
}

static void test_errors(void) {
    fw_dataset *ds = make(10);
    fw_split_opts o;
    fw_split_opts_init(&o);
    fw_split s;
    fw_err err;
    o.test_fraction = 0;
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_EINVAL);
    o.test_fraction = 1.5;
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "test_fraction");
    o.test_fraction = 0.6;
    o.valid_fraction = 0.5;
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_EINVAL);
    o.valid_fraction = 0;
    o.test_fraction = 0.01; /* 10 rows * 0.01 → zero test rows */
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "test side would have zero rows");
    o.test_fraction = 0.2;
    o.kind = FW_SPLIT_STRATIFIED;
    o.column = "nope";
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "'nope'");
    o.column = NULL;
    CHECK_EQ(fw_split_make(ds, &o, &s, &err), FW_ENOTFOUND);
    /* One group only: a side is empty. */
    fw_dataset *one = make(5);
    o.kind = FW_SPLIT_GROUP;
    o.column = "g";
    CHECK_EQ(fw_split_make(one, &o, &s, &err), FW_EDATA);
    fw_dataset_free(one);
    fw_dataset_free(ds);
}

static void test_kfold(void) {
    fw_dataset *ds = make(103);
    uint32_t f1[103], f2[103];
    fw_err err;
    CHECK_OK(fw_kfold_make(ds, 5, NULL, 1, f1, &err));
    size_t cnt[5] = {0};
    for (int r = 0; r < 103; r++) {
        CHECK(f1[r] < 5);
        if (f1[r] < 5) cnt[f1[r]]++;
    }
    for (int k = 0; k < 5; k++) CHECK(cnt[k] == 20 || cnt[k] == 21);
    CHECK_OK(fw_kfold_make(ds, 5, NULL, 1, f2, &err));
    CHECK(memcmp(f1, f2, sizeof f1) == 0);
    CHECK_OK(fw_kfold_make(ds, 5, "label", 1, f2, &err));
    size_t rare[5] = {0};
    memset(cnt, 0, sizeof cnt);
    for (int r = 0; r < 103; r++) {
        cnt[f2[r]]++;
        if (strcmp(fw_dataset_str(ds, 0, (size_t)r), "rare") == 0) rare[f2[r]]++;
    }
    for (int k = 0; k < 5; k++) {
        CHECK(cnt[k] == 20 || cnt[k] == 21);
        CHECK(rare[k] >= 2 && rare[k] <= 3); /* 11 rare rows over 5 folds */
    }
    CHECK_EQ(fw_kfold_make(ds, 1, NULL, 1, f1, &err), FW_EINVAL);
    CHECK_EQ(fw_kfold_make(ds, 104, NULL, 1, f1, &err), FW_EINVAL);
    CHECK_EQ(fw_kfold_make(ds, 3, "nope", 1, f1, &err), FW_ENOTFOUND);
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_random);
    TEST_RUN(test_stratified);
    TEST_RUN(test_time);
    TEST_RUN(test_group);
    TEST_RUN(test_errors);
    TEST_RUN(test_kfold);
    return fw_test_report(argv[0]);
}
