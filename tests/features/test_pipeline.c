/* test_pipeline.c — tests for the feature pipeline: every transform against hand-computed values
 * (statistics from training rows only: test rows hold extreme values that must not leak), one-hot
 * unknown bucket and minimum frequency, hashing index and sign, TF-IDF on a 3-document corpus,
 * timestamps, crosses, block == record bit for bit for any thread count, save → load → transform
 * identical, no allocation on a warm record path, and corrupt pipeline bytes refused. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/rng.h"
#include "features/hashing.h"
#include "features/pipeline.h"
#include "project/project.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

enum { A, B, C, D, COLOR, COLOR2, CITY, NOTES, TS, Y, NCOL };
static const char *k_names[NCOL] = {"a", "b", "c", "d", "color", "color2", "city", "notes", "ts", "y"};
static const fw_col_type k_types[NCOL] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC,
                                          FW_COL_CATEGORICAL, FW_COL_CATEGORICAL, FW_COL_CATEGORICAL,
                                          FW_COL_TEXT, FW_COL_TIMESTAMP, FW_COL_NUMERIC};

/* Rows 0-4 train, 5-6 test (with extreme values that must not leak into any statistic). */
static const double k_num[7] = {1, 2, NAN, 4, 10, 1e9, NAN};
static const char *k_color[7] = {"red", "red", "blue", "green", "red", "purple", NULL};
static const char *k_city[7] = {"paris", "rome", NULL, "oslo", "paris", "paris", "lima"};
static const char *k_notes[7] = {"a b", "A, c!", "a a d", NULL, NULL, "a zzz", NULL};
static const double k_ts[7] = {1704067200, 1710509400, NAN, 1704067199, 1709186400, 4e9, NAN};
static const uint32_t k_train[5] = {0, 1, 2, 3, 4};

static fw_dataset *make_ds(void) {
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(NCOL, k_names, k_types, &ds));
    if (!ds) return NULL;
    for (size_t r = 0; r < 7; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        for (int c = A; c <= D; c++) fw_dataset_set_num(ds, (size_t)c, r, k_num[r]);
        if (k_color[r]) {
            CHECK_OK(fw_dataset_set_str(ds, COLOR, r, k_color[r], strlen(k_color[r])));
            CHECK_OK(fw_dataset_set_str(ds, COLOR2, r, k_color[r], strlen(k_color[r])));
        }
        if (k_city[r]) CHECK_OK(fw_dataset_set_str(ds, CITY, r, k_city[r], strlen(k_city[r])));
        if (k_notes[r]) CHECK_OK(fw_dataset_set_str(ds, NOTES, r, k_notes[r], strlen(k_notes[r])));
        fw_dataset_set_num(ds, TS, r, k_ts[r]);
        fw_dataset_set_num(ds, Y, r, (double)(r % 2));
    }
    return ds;
}

static const char k_yaml[] =
    "data:\n  train: t.csv\n  label: y\n"
    "hash_bits: 20\n"
    "features:\n"
    "  - name: a\n    missing_indicator: true\n"
    "  - name: b\n    impute: mean\n    scale: minmax\n"
    "  - name: c\n    impute: constant\n    impute_value: -1\n    scale: log1p\n"
    "  - name: d\n    impute: none\n    scale: quantile\n    bins: 4\n"
    "  - name: color\n    min_frequency: 2\n    missing_indicator: true\n"
    "  - name: city\n    encode: hash\n"
    "  - name: notes\n    bigrams: false\n"
    "crosses:\n  - [color2, city]\n";

static fw_pipeline *fit(fw_dataset *ds, fw_project *p) {
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_parse(k_yaml, strlen(k_yaml), "t.yaml", p, &err));
    CHECK_OK(fw_project_resolve(p, ds, &err));
    CHECK_MSG(err.msg[0] == 0, "%s", err.msg);
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(p, ds, k_train, 5, &pl, &err));
    CHECK_MSG(err.msg[0] == 0, "%s", err.msg);
    return pl;
}

static int find_name(const fw_pipeline *pl, const char *name) {
    for (size_t j = 0; j < fw_pipeline_n_dense(pl); j++)
        if (!strcmp(fw_pipeline_dense_name(pl, j), name)) return (int)j;
    fw_test_fail(__FILE__, __LINE__, "no dense feature '%s'", name);
    return 0;
}

#define AT(m, r, name) ((m).dense[(size_t)(r) * (m).n_dense + (size_t)find_name(pl, name)])

static float sparse_at(const fw_matrix *m, size_t r, uint32_t idx) {
    for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
        if (m->indices[k] == idx) return m->values[k];
    return 0;
}

static void test_layout(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    /* a a_missing b c d color=red color=__unknown__ color_missing color2=blue color2=green
     * color2=red color2=__unknown__ ts_hour ts_dow ts_month ts_doy ts_age_days (day of the year
     * since issue 15) */
    CHECK_EQ(fw_pipeline_n_dense(pl), 17);
    CHECK_STR(fw_pipeline_dense_name(pl, 0), "a");
    CHECK_STR(fw_pipeline_dense_name(pl, 1), "a_missing");
    CHECK_STR(fw_pipeline_dense_name(pl, 5), "color=red");
    CHECK_STR(fw_pipeline_dense_name(pl, 6), "color=__unknown__");
    CHECK_STR(fw_pipeline_dense_name(pl, 7), "color_missing");
    CHECK_STR(fw_pipeline_dense_name(pl, 8), "color2=blue");
    CHECK_STR(fw_pipeline_dense_name(pl, 12), "ts_hour");
    CHECK_STR(fw_pipeline_dense_name(pl, 15), "ts_doy");
    CHECK_STR(fw_pipeline_dense_name(pl, 16), "ts_age_days");
    CHECK_EQ(fw_pipeline_sparse_dim(pl), 1u << 20);
    CHECK_EQ(fw_pipeline_n_inputs(pl), 9); /* every column but the label */
    CHECK_EQ(fw_pipeline_input_index(pl, "notes", 5), 7);
    CHECK_EQ(fw_pipeline_input_index(pl, "nope", 4), -1);
    CHECK(fw_pipeline_input_type(pl, 7) == FW_COL_TEXT);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_numeric_no_leakage(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    fw_matrix m;
    fw_err err;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m, &err));
    CHECK_EQ(m.n_rows, 7);
    /* a: median of train {1,2,4,10} = 3; imputed {1,2,3,4,10}: mean 4, population std sqrt(10) */
    double sd = sqrt(10.0);
    CHECK_NEAR(AT(m, 0, "a"), (1 - 4) / sd, 1e-6);
    CHECK_NEAR(AT(m, 2, "a"), (3 - 4) / sd, 1e-6);
    CHECK_NEAR(AT(m, 4, "a"), (10 - 4) / sd, 1e-6);
    CHECK_NEAR(AT(m, 5, "a"), (1e9 - 4) / sd, 1e3); /* test row: transformed with train stats */
    CHECK_NEAR(AT(m, 6, "a"), (3 - 4) / sd, 1e-6);
    CHECK(AT(m, 2, "a_missing") == 1 && AT(m, 0, "a_missing") == 0 && AT(m, 6, "a_missing") == 1);
    /* b: mean of present train values 17/4 = 4.25; min-max over imputed {1,2,4.25,4,10}: (x-1)/9 */
    CHECK_NEAR(AT(m, 1, "b"), (2 - 1) / 9.0, 1e-6);
    CHECK_NEAR(AT(m, 2, "b"), (4.25 - 1) / 9.0, 1e-6);
    CHECK_NEAR(AT(m, 4, "b"), 1.0, 1e-6);
    CHECK_NEAR(AT(m, 5, "b"), (1e9 - 1) / 9.0, 1e3);
    /* c: constant -1 then sign(x) * log1p(|x|) */
    CHECK_NEAR(AT(m, 0, "c"), log1p(1.0), 1e-6);
    CHECK_NEAR(AT(m, 2, "c"), -log1p(1.0), 1e-6);
    CHECK_NEAR(AT(m, 4, "c"), log1p(10.0), 1e-6);
    /* d: quantile edges from train {1,2,4,10} with 4 bins: {2,4,10}; missing stays NaN */
    CHECK(AT(m, 0, "d") == 0.0f);
    CHECK_NEAR(AT(m, 1, "d"), 1.0 / 3, 1e-6);
    CHECK_NEAR(AT(m, 3, "d"), 2.0 / 3, 1e-6);
    CHECK(AT(m, 4, "d") == 1.0f);
    CHECK(AT(m, 5, "d") == 1.0f);
    CHECK(isnan(AT(m, 2, "d")));
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_categorical_and_hashing(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    fw_matrix m;
    fw_err err;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m, &err));
    /* color, min_frequency 2: only "red" (3 times) keeps a column; blue/green/purple/missing → unknown */
    CHECK(AT(m, 0, "color=red") == 1 && AT(m, 0, "color=__unknown__") == 0);
    CHECK(AT(m, 2, "color=red") == 0 && AT(m, 2, "color=__unknown__") == 1);
    CHECK(AT(m, 5, "color=__unknown__") == 1);  /* unseen "purple" */
    CHECK(AT(m, 6, "color=__unknown__") == 1 && AT(m, 6, "color_missing") == 1);
    CHECK(AT(m, 5, "color_missing") == 0);
    /* color2 default: every training category, sorted */
    CHECK(AT(m, 2, "color2=blue") == 1 && AT(m, 3, "color2=green") == 1 && AT(m, 5, "color2=__unknown__") == 1);
    /* city hashed: one +-1 entry at the documented bucket */
    float sign;
    uint32_t idx = fw_feature_hash(fw_feature_seed("city"), "paris", 5, (1u << 20) - 1, &sign);
    CHECK(sign == 1.0f || sign == -1.0f);
    CHECK(sparse_at(&m, 0, idx) == sign);
    CHECK(sparse_at(&m, 5, idx) == sign); /* stable across rows */
    CHECK(sparse_at(&m, 1, idx) == 0);
    /* the same value in another column lands elsewhere (per-column seeds) */
    float s2;
    CHECK(fw_feature_hash(fw_feature_seed("town"), "paris", 5, (1u << 20) - 1, &s2) != idx);
    /* stable across builds: pin one value */
    CHECK_EQ(fw_feature_seed("city"), fw_feature_seed("city"));
    /* indices sorted and unique in every row */
    for (size_t r = 0; r < m.n_rows; r++)
        for (uint64_t k = m.indptr[r] + 1; k < m.indptr[r + 1]; k++) CHECK(m.indices[k - 1] < m.indices[k]);
    /* cross color2 x city: rows 0 and 4 (red, paris) share a bucket; row 2 (city missing) has none */
    size_t n0 = (size_t)(m.indptr[1] - m.indptr[0]), n2 = (size_t)(m.indptr[3] - m.indptr[2]);
    CHECK_EQ(n0, 2 + 2); /* city + cross + 2 text unigrams */
    CHECK_EQ(n2, 0 + 0 + 2); /* "a a d": 2 unigrams */
    size_t n4 = (size_t)(m.indptr[5] - m.indptr[4]);
    CHECK_EQ(n4, 2); /* city + cross, no text */
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_tfidf_by_hand(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    fw_matrix m;
    fw_err err;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m, &err));
    uint64_t seed = fw_feature_seed("notes");
    uint32_t mask = (1u << 20) - 1;
    float sa, sb, sc, sd, sz;
    uint32_t ia = fw_feature_hash(seed, "a", 1, mask, &sa), ib = fw_feature_hash(seed, "b", 1, mask, &sb);
    uint32_t ic = fw_feature_hash(seed, "c", 1, mask, &sc), id = fw_feature_hash(seed, "d", 1, mask, &sd);
    uint32_t iz = fw_feature_hash(seed, "zzz", 3, mask, &sz);
    CHECK(ia != ib && ia != ic && ia != id && ib != ic && ib != id && ic != id && iz != ia);
    /* corpus (N = 3 documents with a value): "a b", "a c" ("A, c!" lowercased), "a a d"
     * idf(a) = ln(4/4) + 1 = 1; idf(b) = idf(c) = idf(d) = ln(4/2) + 1; unseen: ln(4) + 1 */
    double ia_ = 1, ib_ = log(2.0) + 1, iu = log(4.0) + 1;
    double n0 = sqrt(ia_ * ia_ + ib_ * ib_);
    CHECK_NEAR(sparse_at(&m, 0, ia), sa * ia_ / n0, 1e-6);
    CHECK_NEAR(sparse_at(&m, 0, ib), sb * ib_ / n0, 1e-6);
    CHECK_NEAR(sparse_at(&m, 1, ic), sc * ib_ / n0, 1e-6);
    double n2 = sqrt(4 * ia_ * ia_ + ib_ * ib_); /* "a a d": tf(a) = 2 */
    CHECK_NEAR(sparse_at(&m, 2, ia), sa * 2 * ia_ / n2, 1e-6);
    CHECK_NEAR(sparse_at(&m, 2, id), sd * ib_ / n2, 1e-6);
    double n5 = sqrt(ia_ * ia_ + iu * iu); /* test row "a zzz": zzz unseen at fit time */
    CHECK_NEAR(sparse_at(&m, 5, ia), sa * ia_ / n5, 1e-6);
    CHECK_NEAR(sparse_at(&m, 5, iz), sz * iu / n5, 1e-6);
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_bigrams_plain_hashing(void) {
    /* tfidf off, bigrams on: "x y x" → x (tf 2), y, bigrams "x y" and "y x", L2-normalised */
    const char *names[] = {"t", "y"};
    fw_col_type types[] = {FW_COL_TEXT, FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(2, names, types, &ds));
    if (!ds) return;
    CHECK_OK(fw_dataset_append_row(ds));
    CHECK_OK(fw_dataset_set_str(ds, 0, 0, "X y x", 5));
    CHECK_OK(fw_dataset_append_row(ds));
    CHECK_OK(fw_dataset_set_str(ds, 0, 1, "y x", 3));
    fw_dataset_set_num(ds, 1, 0, 0);
    fw_dataset_set_num(ds, 1, 1, 1);
    const char *y = "data:\n  train: t.csv\n  label: y\nfeatures:\n  - name: t\n    tfidf: false\n";
    fw_project p;
    fw_err err;
    CHECK_OK(fw_project_parse(y, strlen(y), "t.yaml", &p, &err));
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(&p, ds, NULL, 2, &pl, &err));
    if (!pl) return;
    fw_matrix m;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m, &err));
    uint64_t seed = fw_feature_seed("t");
    uint32_t mask = (1u << 18) - 1;
    float sx, sy, sxy, syx;
    uint32_t ix = fw_feature_hash(seed, "x", 1, mask, &sx), iy = fw_feature_hash(seed, "y", 1, mask, &sy);
    uint32_t ixy = fw_feature_hash(fw_feature_bigram_seed(seed, fw_feature_hash64(seed, "x", 1)), "y", 1, mask, &sxy);
    uint32_t iyx = fw_feature_hash(fw_feature_bigram_seed(seed, fw_feature_hash64(seed, "y", 1)), "x", 1, mask, &syx);
    CHECK(ixy != iyx);
    double norm = sqrt(4 + 1 + 1 + 1);
    CHECK_EQ(m.indptr[1], 4);
    CHECK_NEAR(sparse_at(&m, 0, ix), sx * 2 / norm, 1e-6);
    CHECK_NEAR(sparse_at(&m, 0, iy), sy / norm, 1e-6);
    CHECK_NEAR(sparse_at(&m, 0, ixy), sxy / norm, 1e-6);
    CHECK_NEAR(sparse_at(&m, 0, iyx), syx / norm, 1e-6);
    CHECK_NEAR(sparse_at(&m, 1, iyx), syx / sqrt(3.0), 1e-6);
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_timestamps_and_records(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    fw_matrix m;
    fw_err err;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m, &err));
    /* 2024-01-01 00:00 Monday January; reference = max train = 2024-03-15 13:30 (a Friday) */
    CHECK(AT(m, 0, "ts_hour") == 0 && AT(m, 0, "ts_dow") == 0 && AT(m, 0, "ts_month") == 1);
    CHECK_NEAR(AT(m, 0, "ts_age_days"), (1710509400.0 - 1704067200.0) / 86400, 1e-3);
    CHECK(AT(m, 1, "ts_hour") == 13 && AT(m, 1, "ts_dow") == 4 && AT(m, 1, "ts_month") == 3);
    CHECK(AT(m, 1, "ts_age_days") == 0);
    CHECK(AT(m, 3, "ts_hour") == 23 && AT(m, 3, "ts_dow") == 6 && AT(m, 3, "ts_month") == 12);
    CHECK(AT(m, 4, "ts_hour") == 6 && AT(m, 4, "ts_dow") == 3 && AT(m, 4, "ts_month") == 2);
    /* missing → median of train {1704067199, 1704067200, 1709186400, 1710509400} */
    double med = (1704067200.0 + 1709186400.0) / 2;
    CHECK_NEAR(AT(m, 2, "ts_age_days"), (1710509400.0 - med) / 86400, 1e-3);
    CHECK(AT(m, 5, "ts_age_days") < 0); /* a test row after the reference: negative age, not refit */

    /* the record path: strings for numbers and ISO timestamps give the block path's values */
    size_t nd = fw_pipeline_n_dense(pl);
    float dense[32], dense2[32];
    fw_value v[9];
    memset(v, 0, sizeof v);
    v[0] = (fw_value){FW_VALUE_STRING, 0, " 2 ", 3};
    v[1] = (fw_value){FW_VALUE_NUMBER, 2, NULL, 0};
    v[8] = (fw_value){FW_VALUE_STRING, 0, "2024-03-15T14:30:00+01:00", 25};
    v[5] = (fw_value){FW_VALUE_STRING, 0, "red", 3};
    v[6] = (fw_value){FW_VALUE_STRING, 0, "paris", 5};
    fw_pipeline_scratch *s = NULL;
    CHECK_OK(fw_pipeline_scratch_new(pl, &s));
    fw_row row;
    CHECK_OK(fw_pipeline_transform_record(pl, v, s, dense, &row, &err));
    CHECK(dense[0] == m.dense[1 * nd + 0]); /* "2" == row 1's a */
    CHECK(dense[find_name(pl, "ts_hour")] == 13 && dense[find_name(pl, "ts_age_days")] == 0);
    CHECK_EQ(row.nnz, 2); /* city + cross */
    CHECK(row.indices[0] < row.indices[1]);
    memcpy(dense2, dense, sizeof dense);
    /* the same record with numbers instead of strings: identical output */
    v[0] = (fw_value){FW_VALUE_NUMBER, 2, NULL, 0};
    v[8] = (fw_value){FW_VALUE_NUMBER, 1710509400, NULL, 0};
    CHECK_OK(fw_pipeline_transform_record(pl, v, s, dense, &row, &err));
    CHECK(memcmp(dense, dense2, nd * sizeof(float)) == 0);
    /* bad values name the field */
    v[0] = (fw_value){FW_VALUE_STRING, 0, "abc", 3};
    CHECK_EQ(fw_pipeline_transform_record(pl, v, s, dense, &row, &err), FW_ESCHEMA);
    CHECK_STR(err.msg, "field 'a': expected a number, got 'abc'");
    v[0] = (fw_value){FW_VALUE_STRING, 0, "NA", 2}; /* a missing token is missing, not an error */
    CHECK_OK(fw_pipeline_transform_record(pl, v, s, dense, &row, &err));
    CHECK(dense[1] == 1);
    v[8] = (fw_value){FW_VALUE_STRING, 0, "2024-13-01", 10};
    CHECK_EQ(fw_pipeline_transform_record(pl, v, s, dense, &row, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "field 'ts': expected a timestamp");
    fw_pipeline_scratch_free(s);
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

/* A larger random dataset so that two threads really split the rows. */
static fw_dataset *make_big(size_t n) {
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(NCOL, k_names, k_types, &ds));
    if (!ds) return NULL;
    fw_rng rng;
    fw_rng_seed(&rng, 5);
    static const char *words[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"};
    char text[256];
    for (size_t r = 0; r < n; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        for (int c = A; c <= D; c++)
            fw_dataset_set_num(ds, (size_t)c, r, fw_rng_uniform(&rng) < 0.1 ? NAN : fw_rng_normal(&rng) * 5);
        char cat[16];
        snprintf(cat, sizeof cat, "c%u", (unsigned)fw_rng_below(&rng, 12));
        CHECK_OK(fw_dataset_set_str(ds, COLOR, r, cat, strlen(cat)));
        CHECK_OK(fw_dataset_set_str(ds, COLOR2, r, cat + 1, strlen(cat + 1)));
        snprintf(cat, sizeof cat, "t%u", (unsigned)fw_rng_below(&rng, 200));
        CHECK_OK(fw_dataset_set_str(ds, CITY, r, cat, strlen(cat)));
        size_t at = 0, nw = fw_rng_below(&rng, 12);
        for (size_t w = 0; w < nw; w++)
            at += (size_t)snprintf(text + at, sizeof text - at, "%s ", words[fw_rng_below(&rng, 8)]);
        if (nw) CHECK_OK(fw_dataset_set_str(ds, NOTES, r, text, at));
        fw_dataset_set_num(ds, TS, r, 1.7e9 + fw_rng_uniform(&rng) * 3e7);
        fw_dataset_set_num(ds, Y, r, (double)(r % 2));
    }
    return ds;
}

static bool same_matrix(const fw_matrix *a, const fw_matrix *b) {
    if (a->n_rows != b->n_rows || a->n_dense != b->n_dense || a->sparse_dim != b->sparse_dim) return false;
    if (memcmp(a->dense, b->dense, a->n_rows * a->n_dense * sizeof(float))) return false;
    if (!a->sparse_dim) return true;
    if (memcmp(a->indptr, b->indptr, (a->n_rows + 1) * sizeof(uint64_t))) return false;
    size_t nnz = (size_t)a->indptr[a->n_rows];
    return !memcmp(a->indices, b->indices, nnz * 4) && !memcmp(a->values, b->values, nnz * 4);
}

static void test_block_record_threads_saveload(void) {
    fw_dataset *ds = make_big(3000);
    if (!ds) return;
    fw_project p;
    fw_err err;
    CHECK_OK(fw_project_parse(k_yaml, strlen(k_yaml), "t.yaml", &p, &err));
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    uint32_t *train = fw_malloc(2000 * sizeof(uint32_t));
    for (uint32_t i = 0; i < 2000; i++) train[i] = i;
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(&p, ds, train, 2000, &pl, &err));
    if (!pl) return;
    fw_matrix m1, m2, m3;
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 1, &m1, &err));
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 2, &m2, &err));
    CHECK_OK(fw_pipeline_transform_block(pl, ds, NULL, 0, 3, &m3, &err));
    CHECK(same_matrix(&m1, &m2));
    CHECK(same_matrix(&m1, &m3));
    CHECK(m1.indptr[m1.n_rows] > 3000);
    CHECK_STR(m1.dense_names[0], "a");
    /* block == record, bit for bit */
    size_t nd = fw_pipeline_n_dense(pl);
    float *dense = fw_malloc(nd * sizeof(float));
    fw_pipeline_scratch *s = NULL;
    CHECK_OK(fw_pipeline_scratch_new(pl, &s));
    fw_value vals[9];
    bool all_same = true;
    for (size_t r = 0; r < ds->n_rows; r += 7) {
        for (size_t k = 0; k < 9; k++) {
            const fw_column *c = &ds->cols[k];
            vals[k] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            if (c->num && !isnan(c->num[r])) vals[k] = (fw_value){FW_VALUE_NUMBER, c->num[r], NULL, 0};
            if (c->code && c->code[r] >= 0)
                vals[k] = (fw_value){FW_VALUE_STRING, 0, fw_dict_str(&c->dict, c->code[r]), fw_dict_len(&c->dict, c->code[r])};
        }
        fw_row row;
        CHECK_OK(fw_pipeline_transform_record(pl, vals, s, dense, &row, &err));
        fw_row br = fw_matrix_row(&m1, r);
        all_same &= !memcmp(dense, br.dense, nd * sizeof(float)) && row.nnz == br.nnz &&
                    !memcmp(row.indices, br.indices, row.nnz * 4) && !memcmp(row.values, br.values, row.nnz * 4);
    }
    CHECK(all_same);
    /* no allocation on a warm record path */
    fw_row row;
    CHECK_OK(fw_pipeline_transform_record(pl, vals, s, dense, &row, &err));
    long before = fw_alloc_count();
    size_t bytes = fw_bytes_in_use();
    for (int i = 0; i < 100; i++) CHECK_OK(fw_pipeline_transform_record(pl, vals, s, dense, &row, &err));
    CHECK_EQ(fw_alloc_count(), before);
    CHECK_EQ(fw_bytes_in_use(), bytes);
    /* save → load → save gives the same bytes; the loaded pipeline transforms identically */
    fw_buf b1, b2;
    fw_buf_init(&b1);
    fw_buf_init(&b2);
    CHECK_OK(fw_pipeline_save(pl, &b1));
    const char *seed_dir = getenv("FW_FUZZ_SEED_DIR"); /* seeds for fuzz/fuzz_pipeline.c */
    if (seed_dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/pipeline.bin", seed_dir);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(b1.data, 1, b1.len, f);
            fclose(f);
        }
    }
    fw_pipeline *pl2 = NULL;
    CHECK_OK(fw_pipeline_load(b1.data, b1.len, &pl2, &err));
    if (pl2) {
        CHECK_OK(fw_pipeline_save(pl2, &b2));
        CHECK(b1.len == b2.len && !memcmp(b1.data, b2.data, b1.len));
        fw_matrix m4;
        CHECK_OK(fw_pipeline_transform_block(pl2, ds, NULL, 0, 2, &m4, &err));
        CHECK(same_matrix(&m1, &m4));
        fw_matrix_free(&m4);
        fw_pipeline_free(pl2);
    }
    /* a refit on the same rows gives the same bytes (determinism), with the columns fitted on
     * three threads too */
    fw_pipeline *pl3 = NULL;
    CHECK_OK(fw_pipeline_fit_threads(&p, ds, train, 2000, 3, &pl3, &err));
    fw_buf b3;
    fw_buf_init(&b3);
    if (pl3) CHECK_OK(fw_pipeline_save(pl3, &b3));
    CHECK(b1.len == b3.len && !memcmp(b1.data, b3.data, b1.len));
    fw_pipeline_free(pl3);
    fw_buf_free(&b3);
    /* truncations and byte flips are refused or load to something valid, never crash */
    for (size_t cut = 0; cut < b1.len; cut += 1 + cut / 16) {
        fw_pipeline *bad = NULL;
        CHECK(fw_pipeline_load(b1.data, cut, &bad, &err) != FW_OK);
        CHECK(bad == NULL);
    }
    fw_rng rng;
    fw_rng_seed(&rng, 9);
    for (int i = 0; i < 300; i++) {
        size_t at = fw_rng_below(&rng, b1.len);
        uint8_t old = b1.data[at];
        b1.data[at] ^= (uint8_t)(1u << fw_rng_below(&rng, 8));
        fw_pipeline *maybe = NULL;
        if (fw_pipeline_load(b1.data, b1.len, &maybe, &err) == FW_OK) {
            fw_pipeline_scratch *s2 = NULL;
            float *d2 = fw_malloc((fw_pipeline_n_dense(maybe) + 1) * sizeof(float));
            if (fw_pipeline_n_inputs(maybe) == 9 && d2 && !fw_pipeline_scratch_new(maybe, &s2))
                (void)fw_pipeline_transform_record(maybe, vals, s2, d2, &row, &err);
            fw_pipeline_scratch_free(s2);
            fw_free(d2);
            fw_pipeline_free(maybe);
        }
        b1.data[at] = old;
    }
    fw_buf_free(&b1);
    fw_buf_free(&b2);
    fw_pipeline_scratch_free(s);
    fw_free(dense);
    fw_free(train);
    fw_matrix_free(&m1);
    fw_matrix_free(&m2);
    fw_matrix_free(&m3);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

static void test_missing_column_and_oom(void) {
    fw_dataset *ds = make_ds();
    if (!ds) return;
    fw_project p;
    fw_pipeline *pl = fit(ds, &p);
    if (!pl) return;
    /* a dataset without one of the inputs */
    const char *names[] = {"a"};
    fw_col_type types[] = {FW_COL_NUMERIC};
    fw_dataset *small = NULL;
    CHECK_OK(fw_dataset_new(1, names, types, &small));
    fw_matrix m;
    fw_err err;
    CHECK_EQ(fw_pipeline_transform_block(pl, small, NULL, 0, 1, &m, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "column 'b' (a model input) is not in");
    fw_dataset_free(small);
    /* every allocation failure during fit and transform is an error, never a crash or a leak */
    for (long n = 1; n < 2000; n++) {
        fw_pipeline *q = NULL;
        fw_alloc_fail_after(n);
        fw_status st = fw_pipeline_fit(&p, ds, k_train, 5, &q, &err);
        if (!st) st = fw_pipeline_transform_block(q, ds, NULL, 0, 1, &m, &err);
        fw_alloc_fail_after(0);
        if (!st) {
            fw_matrix_free(&m);
            fw_pipeline_free(q);
            break;
        }
        CHECK_EQ(st, FW_ENOMEM);
        fw_pipeline_free(q);
    }
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

/* Dates without a time of day: the hour is 0 in every training row and is left out; the day of
 * the year is there (2024-03-15 is day 75 of a leap year); save → load keeps the layout. */
static void test_timestamp_parts(void) {
    const char *names[2] = {"day", "y"};
    fw_col_type types[2] = {FW_COL_TIMESTAMP, FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(2, names, types, &ds));
    if (!ds) return;
    static const double days[4] = {1704067200 /* 2024-01-01 */, 1710460800 /* 2024-03-15 */,
                                   1735603200 /* 2024-12-31 */, 1709251200 /* 2024-03-01 */};
    for (size_t r = 0; r < 4; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        fw_dataset_set_num(ds, 0, r, days[r]);
        fw_dataset_set_num(ds, 1, r, (double)(r % 2));
    }
    static const char yaml[] = "data:\n  train: t.csv\n  label: y\ntask: regression\n"
                               "split:\n  kind: random\n";
    fw_project p;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "t.yaml", &p, &err));
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(&p, ds, NULL, 4, &pl, &err));
    if (!pl) {
        fw_project_free(&p);
        fw_dataset_free(ds);
        return;
    }
    /* day_dow day_month day_doy day_age_days: no day_hour */
    CHECK_EQ(fw_pipeline_n_dense(pl), 4);
    for (size_t j = 0; j < fw_pipeline_n_dense(pl); j++) CHECK(strcmp(fw_pipeline_dense_name(pl, j), "day_hour") != 0);
    fw_matrix m;
    uint32_t rows[4] = {0, 1, 2, 3};
    CHECK_OK(fw_pipeline_transform_block(pl, ds, rows, 4, 1, &m, &err));
    CHECK(AT(m, 0, "day_doy") == 1 && AT(m, 1, "day_doy") == 75 && AT(m, 2, "day_doy") == 366 &&
          AT(m, 3, "day_doy") == 61);
    CHECK(AT(m, 1, "day_month") == 3 && AT(m, 1, "day_dow") == 4); /* a Friday */
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_pipeline_save(pl, &b));
    fw_pipeline *back = NULL;
    CHECK_OK(fw_pipeline_load(b.data, b.len, &back, &err));
    if (back) {
        CHECK_EQ(fw_pipeline_n_dense(back), 4);
        CHECK_STR(fw_pipeline_dense_name(back, 2), "day_doy");
        fw_pipeline_free(back);
    }
    fw_buf_free(&b);
    fw_matrix_free(&m);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

/* The numeric-only block path (dataset order with a shuffled or partial row list, gathered for a
 * small share or a row listed twice, any thread count) gives the record path's cells bit for bit,
 * with NaN, infinities, a missing indicator and every scaling (the default column inline). */
static void test_numeric_block_path(void) {
    static const char *names[6] = {"a", "b", "c", "d", "e", "y"};
    static const fw_col_type types[6] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC,
                                         FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(6, names, types, &ds));
    if (!ds) return;
    fw_rng rng;
    fw_rng_seed(&rng, 9);
    for (size_t r = 0; r < 5000; r++) {
        CHECK_OK(fw_dataset_append_row(ds));
        for (size_t c = 0; c < 5; c++)
            fw_dataset_set_num(ds, c, r, fw_rng_uniform(&rng) < 0.1 ? NAN : fw_rng_normal(&rng) * 5);
        if (r % 97 == 0) fw_dataset_set_num(ds, 1, r, r % 2 ? INFINITY : -INFINITY);
        if (r % 89 == 0) fw_dataset_set_num(ds, 4, r, r % 2 ? INFINITY : -INFINITY);
        fw_dataset_set_num(ds, 5, r, (double)(r % 2));
    }
    static const char yaml[] = "data:\n  train: t.csv\n  label: y\n"
                               "features:\n"
                               "  - name: a\n    missing_indicator: true\n"
                               "  - name: b\n    impute: mean\n    scale: minmax\n"
                               "  - name: c\n    impute: constant\n    impute_value: -1\n    scale: log1p\n"
                               "  - name: d\n    impute: none\n    scale: quantile\n    bins: 4\n"
                               "  - name: e\n"; /* the defaults: median, standard */
    fw_project p;
    fw_err err;
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "t.yaml", &p, &err));
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    uint32_t *rows = fw_malloc(5000 * sizeof(uint32_t));
    for (uint32_t i = 0; i < 5000; i++) rows[i] = i;
    fw_rng_shuffle_u32(&rng, rows, 5000);
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(&p, ds, rows, 3000, &pl, &err));
    if (!pl) return;
    CHECK(fw_pipeline_sparse_dim(pl) == 0);
    size_t nd = fw_pipeline_n_dense(pl);
    float *dense = fw_malloc(nd * sizeof(float));
    fw_pipeline_scratch *s = NULL;
    CHECK_OK(fw_pipeline_scratch_new(pl, &s));
    /* row lists: all (NULL), 3000 shuffled, 500 shuffled (gathered), 3000 with a repeat */
    uint32_t *dup = fw_malloc(3000 * sizeof(uint32_t));
    memcpy(dup, rows, 3000 * sizeof(uint32_t));
    dup[2999] = dup[17];
    const uint32_t *lists[4] = {NULL, rows, rows + 1000, dup};
    size_t counts[4] = {0, 3000, 500, 3000};
    bool all_same = true;
    for (int li = 0; li < 4; li++)
        for (int threads = 1; threads <= 3; threads++) {
            fw_matrix m;
            CHECK_OK(fw_pipeline_transform_block(pl, ds, lists[li], counts[li], threads, &m, &err));
            CHECK(m.n_rows == (lists[li] ? counts[li] : ds->n_rows) && m.n_dense == nd);
            for (size_t i = 0; i < m.n_rows; i++) {
                size_t r = lists[li] ? lists[li][i] : i;
                fw_value vals[5];
                for (size_t k = 0; k < 5; k++) {
                    double x = ds->cols[k].num[r];
                    vals[k] = isnan(x) ? (fw_value){FW_VALUE_MISSING, 0, NULL, 0} : (fw_value){FW_VALUE_NUMBER, x, NULL, 0};
                }
                fw_row row;
                CHECK_OK(fw_pipeline_transform_record(pl, vals, s, dense, &row, &err));
                all_same &= !memcmp(dense, m.dense + i * nd, nd * sizeof(float));
            }
            fw_matrix_free(&m);
        }
    CHECK(all_same);
    fw_pipeline_scratch_free(s);
    fw_free(dense);
    fw_free(dup);
    fw_free(rows);
    fw_pipeline_free(pl);
    fw_project_free(&p);
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_timestamp_parts);
    TEST_RUN(test_layout);
    TEST_RUN(test_numeric_no_leakage);
    TEST_RUN(test_categorical_and_hashing);
    TEST_RUN(test_tfidf_by_hand);
    TEST_RUN(test_bigrams_plain_hashing);
    TEST_RUN(test_timestamps_and_records);
    TEST_RUN(test_block_record_threads_saveload);
    TEST_RUN(test_numeric_block_path);
    TEST_RUN(test_missing_column_and_oom);
    return fw_test_report(argv[0]);
}
