/* test_gbdt_parallel.c — the gbdt trainer's and scorer's fast paths give the same bytes as the
 * plain ones: feature-parallel histograms (many features, one or several row blocks, with and
 * without colsample) against the single-thread build, for 1, 2 and 3 threads; and the
 * dense complete-tree scorer (rows with and without NaN, four trees at a time per row, tree counts
 * that are not a multiple of four, binary and multiclass) and the node walk kept for deep trees,
 * against a plain tree-by-tree walk and the block scorer, bit for bit; depthwise trees grown a
 * level at a time against the same trees grown a node at a time. */
#include "core/alloc.h"
#include "core/rng.h"
#include "models/gbdt_int.h"
#include "test.h"

#include <stdlib.h>
#include <xxhash.h>

/* xxh64 of test_pinned_bytes' model, from the trainer at a0b3d71 (before session 8's changes) */
#define PINNED_HASH 0x2117409402d8baf3ull

typedef struct dataset {
    fw_matrix X;
    double *y;
} dataset;

/* n rows x nf features: a few informative features (0..3), the rest noise with ~5% missing and
 * some integer-valued (few distinct values) columns; label: binary or k classes. */
static void make_data_nan(dataset *d, size_t n, size_t nf, uint32_t k, uint64_t seed,
                          double nan_rate) {
    fw_rng r;
    fw_rng_seed(&r, seed);
    CHECK_OK(fw_matrix_alloc(&d->X, n, nf, 0));
    d->y = fw_calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        float *x = d->X.dense + i * nf;
        for (size_t f = 0; f < nf; f++) {
            double u = fw_rng_uniform(&r);
            x[f] = f % 7 == 3 ? (float)floor(u * 5) : (float)(u * 2 - 1);
            if (f > 3 && fw_rng_uniform(&r) < nan_rate) x[f] = NAN;
        }
        double s = x[0] + 0.5 * x[1] * x[2] + (x[3] > 2 ? 0.7 : -0.3) + 0.3 * fw_rng_normal(&r);
        if (k <= 2)
            d->y[i] = s > 0;
        else {
            double v = floor((s + 1.5) / 3.0 * k);
            d->y[i] = v < 0 ? 0 : v >= k ? k - 1 : v;
        }
    }
}

static void make_data(dataset *d, size_t n, size_t nf, uint32_t k, uint64_t seed) {
    make_data_nan(d, n, nf, k, seed, 0.05);
}

static void ds_free(dataset *d) {
    fw_matrix_free(&d->X);
    fw_free(d->y);
}

static fw_model *fit(const dataset *d, uint32_t k, const char *const *params, size_t np,
                     int threads) {
    fw_train_data td = {0};
    td.X = &d->X;
    td.y = d->y;
    td.task = k > 2 ? FW_TASK_MULTICLASS : FW_TASK_BINARY;
    td.n_classes = k > 2 ? k : 2;
    td.n_outputs = k > 2 ? k : 1;
    fw_fit_options o;
    fw_fit_options_init(&o);
    o.params = params;
    o.n_params = np;
    o.threads = threads;
    fw_model *m = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_model_fit("gbdt", &td, &o, &m, &err);
    CHECK_MSG(st == FW_OK, "fit failed: %s", err.msg);
    return m;
}

static uint8_t *save_bytes(const fw_model *m, size_t *len) {
    fw_buf b;
    fw_buf_init(&b);
    CHECK_OK(fw_model_save(m, &b));
    return fw_buf_take(&b, len);
}

/* Fits with 1, 2 and 3 threads, every pass in parallel (and 2 threads with the default rule for
 * small passes); the saved bytes must be identical. */
static void same_bytes_any_threads(const dataset *d, uint32_t k, const char *const *params,
                                   size_t np) {
    uint8_t *b[4] = {0};
    size_t len[4] = {0};
    double saved = fw__gbdt_parallel_min_ns;
    for (int t = 0; t < 4; t++) {
        fw__gbdt_parallel_min_ns = t < 3 ? 0 : saved;
        fw_model *m = fit(d, k, params, np, t < 3 ? t + 1 : 2);
        if (!m) break;
        b[t] = save_bytes(m, &len[t]);
        fw_model_free(m);
    }
    fw__gbdt_parallel_min_ns = saved;
    CHECK(len[0] > 1000);
    for (int t = 1; t < 4; t++) {
        CHECK_EQ(len[t], len[0]);
        CHECK_MSG(b[t] && b[0] && len[t] == len[0] && memcmp(b[t], b[0], len[0]) == 0,
                  "model bytes (run %d) differ from 1 thread", t);
    }
    for (int t = 0; t < 4; t++) fw_free(b[t]);
}

/* > 8192 rows and >= 128 features: several row blocks, built feature-parallel. */
static void test_many_features_many_rows(void) {
    dataset d;
    make_data(&d, 9000, 130, 2, 1);
    const char *p[] = {"n_estimators=6", "max_depth=4"};
    same_bytes_any_threads(&d, 2, p, 2);
    const char *pc[] = {"n_estimators=6", "max_depth=4", "colsample_bytree=0.5", "subsample=0.7"};
    same_bytes_any_threads(&d, 2, pc, 4);
    ds_free(&d);
}

/* < 8192 rows (one block) and >= 32 features: feature-parallel from the root down. */
static void test_one_block_feature_parallel(void) {
    dataset d;
    make_data(&d, 6000, 48, 4, 2);
    const char *p[] = {"n_estimators=5", "max_depth=5"};
    same_bytes_any_threads(&d, 4, p, 2);
    const char *pc[] = {"n_estimators=5", "max_depth=5", "colsample_bytree=0.6"};
    same_bytes_any_threads(&d, 4, pc, 3);
    ds_free(&d);
}

/* Nodes over PART_MIN_ROWS (32,768) rows are partitioned on every thread and the tree's leaf
 * values reach the margins in one parallel pass: with the default rule for small passes too,
 * binary and multiclass (one tree per class and round) models are the same bytes for 1, 2 and 3
 * threads. */
static void test_big_nodes_parallel_partition(void) {
    dataset d;
    make_data(&d, 40000, 6, 3, 5);
    const char *p[] = {"n_estimators=4", "max_depth=5"};
    same_bytes_any_threads(&d, 3, p, 2);
    ds_free(&d);
    make_data(&d, 40000, 6, 2, 6);
    same_bytes_any_threads(&d, 2, p, 2);
    ds_free(&d);
}

/* Fits under every column-kernel share (default, every node by column, none) and thread count;
 * all must save the same bytes. */
static void same_bytes_any_kernel(const dataset *d, uint32_t k, const char *const *params,
                                  size_t np) {
    static const double shares[] = {0.25, 0.0, 2.0};
    double saved = fw__gbdt_col_min_share;
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    for (size_t s = 0; s < sizeof shares / sizeof *shares; s++)
        for (int t = 1; t <= 2; t++) {
            fw__gbdt_col_min_share = shares[s];
            fw_model *m = fit(d, k, params, np, t);
            fw__gbdt_col_min_share = saved;
            if (!m) continue;
            size_t len;
            uint8_t *b = save_bytes(m, &len);
            fw_model_free(m);
            if (!ref) {
                ref = b;
                ref_len = len;
                continue;
            }
            CHECK_MSG(len == ref_len && memcmp(b, ref, len) == 0,
                      "share %.2f threads %d: model bytes differ", shares[s], t);
            fw_free(b);
        }
    fw_free(ref);
}

/* Histograms built column by column (fw_gbdt_bins.cols, four features at a time, 1,024 rows a
 * step) equal the row-wise ones bit for bit: with missing values, few-valued columns (long runs of
 * one bin), a feature count that is not a multiple of four, colsample, subsample, and more rows
 * than one step and one block. */
static void test_column_histograms(void) {
    dataset d;
    make_data(&d, 20000, 11, 2, 7);
    const char *p[] = {"n_estimators=4", "max_depth=5"};
    same_bytes_any_kernel(&d, 2, p, 2);
    const char *pc[] = {"n_estimators=4", "max_depth=5", "colsample_bytree=0.7", "subsample=0.8"};
    same_bytes_any_kernel(&d, 2, pc, 4);
    ds_free(&d);
    make_data(&d, 9000, 6, 3, 8);
    const char *pm[] = {"n_estimators=3", "max_depth=4"};
    same_bytes_any_kernel(&d, 3, pm, 2);
    ds_free(&d);
}

/* The model bytes of a fixed fit, pinned: this hash was taken with the trainer before the
 * column-major partition and histograms (session 8), so the speed work provably kept every
 * tree. */
static void test_pinned_bytes(void) {
    dataset d;
    make_data(&d, 40000, 9, 2, 11);
    const char *p[] = {"n_estimators=5", "max_depth=6"};
    fw_model *m = fit(&d, 2, p, 2, 2);
    if (m) {
        size_t len;
        uint8_t *b = save_bytes(m, &len);
        unsigned long long h = XXH64(b, len, 0);
        CHECK_MSG(h == PINNED_HASH, "model bytes hash %016llx", h);
        fw_free(b);
        fw_model_free(m);
    }
    ds_free(&d);
}

/* Fits (task: 0 binary/multiclass by k, 1 regression) a level at a time with 1, 2 and 3 threads
 * (every pass in parallel), and with one split per level pass (no shared row-block scratch), and
 * a node at a time with 1 and 2 threads: every fit must save the same bytes. */
static void levels_equal_nodes(const dataset *d, uint32_t k, int regression, const char *const *params,
                               size_t np) {
    double saved_ns = fw__gbdt_parallel_min_ns;
    size_t saved_scr = fw__gbdt_level_scratch_bytes;
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    for (int run = 0; run < 6; run++) {
        fw__gbdt_levels = run >= 2;
        fw__gbdt_parallel_min_ns = run == 0 ? saved_ns : 0;
        fw__gbdt_level_scratch_bytes = run == 5 ? 0 : saved_scr;
        int threads = run < 2 ? run + 1 : run < 5 ? run - 1 : 2;
        fw_train_data td = {0};
        td.X = &d->X;
        td.y = d->y;
        td.task = regression ? FW_TASK_REGRESSION : k > 2 ? FW_TASK_MULTICLASS : FW_TASK_BINARY;
        td.n_classes = regression ? 0 : k > 2 ? k : 2;
        td.n_outputs = !regression && k > 2 ? k : 1;
        fw_fit_options o;
        fw_fit_options_init(&o);
        o.params = params;
        o.n_params = np;
        o.threads = threads;
        fw_model *m = NULL;
        fw_err err;
        fw_err_clear(&err);
        fw_status st = fw_model_fit("gbdt", &td, &o, &m, &err);
        fw__gbdt_levels = true;
        fw__gbdt_parallel_min_ns = saved_ns;
        fw__gbdt_level_scratch_bytes = saved_scr;
        CHECK_MSG(st == FW_OK, "fit failed: %s", err.msg);
        if (!m) continue;
        size_t len;
        uint8_t *b = save_bytes(m, &len);
        fw_model_free(m);
        if (!ref) {
            ref = b;
            ref_len = len;
            continue;
        }
        CHECK_MSG(len == ref_len && memcmp(b, ref, len) == 0,
                  "run %d (%s, %d threads): model bytes differ from node-at-a-time growth", run,
                  run >= 2 ? "levels" : "nodes", threads);
        fw_free(b);
    }
    fw_free(ref);
}

/* Depthwise trees grown a level at a time (every split node of a level partitioned, the smaller
 * children's histograms built, reduced and subtracted, every child's split searched: one pass
 * each) are the trees grown a node at a time, bit for bit: chunked partitions (nodes over 16,384
 * rows), several row blocks per node, feature-chunk tasks (>= 32 features), colsample and
 * subsample, max_leaves (decisions in node order), deep trees, multiclass, L1 leaves. */
static void test_levels_equal_nodes(void) {
    dataset d;
    make_data(&d, 40000, 40, 2, 21);
    const char *p1[] = {"n_estimators=3", "max_depth=6"};
    levels_equal_nodes(&d, 2, 0, p1, 2);
    const char *p2[] = {"n_estimators=3", "max_depth=5", "colsample_bytree=0.5", "subsample=0.8"};
    levels_equal_nodes(&d, 2, 0, p2, 4);
    const char *p3[] = {"n_estimators=3", "max_depth=6", "max_leaves=11"};
    levels_equal_nodes(&d, 2, 0, p3, 3);
    ds_free(&d);
    make_data(&d, 12000, 7, 3, 22);
    const char *p4[] = {"n_estimators=2", "max_depth=9", "min_child_weight=0", "lambda=0.5"};
    levels_equal_nodes(&d, 3, 0, p4, 4);
    const char *p5[] = {"n_estimators=3", "max_depth=4", "objective=l1"};
    levels_equal_nodes(&d, 3, 1, p5, 3);
    ds_free(&d);
}

/* The interleaved single-row walk equals a plain tree-by-tree sum and the block scorer. */
static void check_row_paths(const fw_model *mm, const fw_matrix *X) {
    const fw_gbdt_model *m = (const fw_gbdt_model *)mm;
    size_t no = mm->n_outputs, K = m->n_groups;
    double *blk = fw_malloc(X->n_rows * no * sizeof(double));
    double saved = fw__gbdt_parallel_min_ns;
    fw__gbdt_parallel_min_ns = 0; /* two threads even for a small block */
    CHECK_OK(fw_model_predict_block(mm, X, 2, blk));
    fw__gbdt_parallel_min_ns = saved;
    void *scr = fw_malloc(fw_model_scratch_size(mm) + 16);
    double out[16], margin[16], ref[16];
    size_t bad = 0, bad_blk = 0;
    for (size_t i = 0; i < X->n_rows; i++) {
        fw_row r = fw_matrix_row(X, i);
        CHECK_OK(fw_model_predict_row(mm, &r, scr, out));
        for (size_t k = 0; k < K; k++) margin[k] = m->base_score[k];
        for (uint32_t t = 0; t < m->n_trees; t++)
            margin[t % K] += fw__gbdt_tree_value(m->nodes, m->tree_start[t], r.dense);
        fw__gbdt_transform(m, margin, ref);
        for (size_t k = 0; k < no; k++) {
            bad += memcmp(&out[k], &ref[k], sizeof(double)) != 0;
            bad_blk += memcmp(&out[k], &blk[i * no + k], sizeof(double)) != 0;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(bad_blk, 0);
    fw_free(scr);
    fw_free(blk);
}

static void test_row_walk_interleaved(void) {
    dataset d;
    make_data(&d, 3000, 12, 2, 3);
    /* 7 trees: one group of four, then three alone; depths differ per tree */
    const char *p[] = {"n_estimators=7", "max_depth=6", "min_child_weight=20"};
    fw_model *m = fit(&d, 2, p, 3, 2);
    if (m) {
        check_row_paths(m, &d.X);
        fw_model_free(m);
    }
    dataset c;
    make_data(&c, 2000, 10, 3, 4);
    /* 3 classes x 3 rounds = 9 trees: groups of four cross class boundaries */
    const char *pc[] = {"n_estimators=3", "max_depth=3"};
    m = fit(&c, 3, pc, 2, 1);
    if (m) {
        CHECK_EQ(((fw_gbdt_model *)m)->n_trees, 9);
        check_row_paths(m, &c.X);
        fw_model_free(m);
    }
    ds_free(&d);
    ds_free(&c);
}

/* No NaN at all: every block and row takes the short dense step. */
static void test_row_walk_no_nan(void) {
    dataset d;
    make_data_nan(&d, 2500, 9, 2, 5, 0.0);
    const char *p[] = {"n_estimators=10", "max_depth=6"};
    fw_model *m = fit(&d, 2, p, 2, 2);
    if (m) {
        CHECK(((fw_gbdt_model *)m)->dsplit != NULL);
        check_row_paths(m, &d.X);
        /* one NaN in one row: that row (and its block) switch to the NaN-aware step */
        d.X.dense[17 * 9 + 5] = NAN;
        check_row_paths(m, &d.X);
        fw_model_free(m);
    }
    ds_free(&d);
}

/* Trees deeper than FW_GBDT_DENSE_MAX_DEPTH keep the node walk; scores still agree. */
static void test_deep_trees_walk(void) {
    dataset d;
    make_data(&d, 3000, 8, 2, 6);
    const char *p[] = {"n_estimators=5", "max_depth=14", "min_child_weight=0", "lambda=0.01"};
    fw_model *m = fit(&d, 2, p, 4, 2);
    if (m) {
        const fw_gbdt_model *g = (const fw_gbdt_model *)m;
        CHECK_MSG(g->max_depth > FW_GBDT_DENSE_MAX_DEPTH, "max depth %u", g->max_depth);
        CHECK(g->dsplit == NULL);
        check_row_paths(m, &d.X);
        fw_model_free(m);
    }
    ds_free(&d);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_many_features_many_rows);
    TEST_RUN(test_big_nodes_parallel_partition);
    TEST_RUN(test_column_histograms);
    TEST_RUN(test_pinned_bytes);
    TEST_RUN(test_levels_equal_nodes);
    TEST_RUN(test_one_block_feature_parallel);
    TEST_RUN(test_row_walk_interleaved);
    TEST_RUN(test_row_walk_no_nan);
    TEST_RUN(test_deep_trees_walk);
    return fw_test_report(argv[0]);
}
