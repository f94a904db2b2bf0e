/* prepare.c — owns steps 1-2 of a training run after loading: the train / validation / test split,
 * the labels encoded by the target, the pipeline fitted on the training rows and the matrices it
 * makes, the data warnings (useless features), fingerprints for lineage, and the k-fold folds for
 * selection on small data. */
#include "train/train_int.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/threads.h"
#include "data/fingerprint.h"
#include "data/query.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

fw_status fw__train_make_split(fw_train_result *r, fw_err *err) {
    const fw_project *p = &r->project;
    fw_split_opts so;
    fw_split_opts_init(&so);
    so.kind = p->split;
    so.seed = r->seed;
    so.test_fraction = r->test_ds ? 0 : p->test_fraction;
    so.valid_fraction = p->valid_fraction;
    switch (p->split) {
    case FW_SPLIT_STRATIFIED:
        so.column = p->n_label_columns ? p->label_columns[0] : NULL;
        break;
    case FW_SPLIT_TIME:
        so.column = p->time_column;
        break;
    case FW_SPLIT_GROUP:
        so.column = p->split_group ? p->split_group
                    : p->n_group_columns ? p->group_columns[0]
                    : p->query_column;
        break;
    default:
        break;
    }
    if (p->task == FW_TASK_RANKING && p->query_column && p->split != FW_SPLIT_TIME) {
        so.kind = FW_SPLIT_GROUP; /* a query's rows stay together */
        so.column = p->query_column;
    }
    if (r->test_ds) {
        /* All of the training file trains (minus validation rows); the test file evaluates. */
        if (so.valid_fraction <= 0) so.valid_fraction = 0.1;
        so.test_fraction = so.valid_fraction;
        so.valid_fraction = 0;
        fw_split tmp;
        fw_status st = fw_split_make(r->train_ds, &so, &tmp, err);
        if (st) return st;
        r->split.train = tmp.train;
        r->split.n_train = tmp.n_train;
        r->split.valid = tmp.test;
        r->split.n_valid = tmp.n_test;
        fw_free(tmp.valid);
        r->split.test = NULL;
        r->split.n_test = 0;
        return FW_OK;
    }
    return fw_split_make(r->train_ds, &so, &r->split, err);
}

/* ---- step 2: target and features ------------------------------------------------------------ */

static fw_status encode(const fw_train_result *r, const fw_dataset *ds, const uint32_t *rows,
                        size_t n, double **y, bool allow_unseen, size_t *n_unseen, fw_err *err) {
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    *y = fw_malloc((n ? n : 1) * per * sizeof(double));
    if (!*y) return fw_err_set(err, FW_ENOMEM, "out of memory encoding labels");
    size_t unseen = 0;
    fw_status st = fw_target_encode(&r->target, ds, rows, n, *y, &unseen, err);
    if (st) return st;
    if (n_unseen) *n_unseen = unseen;
    if (unseen && !allow_unseen)
        return fw_err_set(err, FW_EDATA, "%zu training rows have a class not seen when fitting", unseen);
    for (size_t i = 0; i < n * per; i++)
        if (!allow_unseen && !isfinite((*y)[i]))
            return fw_err_set(err, FW_EDATA, "%s: label of row %u is not a finite number",
                              ds->source ? ds->source : "data", rows[i / per] + 2);
    return FW_OK;
}

/* Features that cannot help: missing in every training row, or one value in all of them. */
static void check_features(fw_train_result *r) {
    const fw_project *p = &r->project;
    const fw_dataset *ds = r->train_ds;
    const uint32_t *rows = r->split.train;
    size_t n = r->split.n_train;
    for (size_t f = 0; f < p->n_features; f++) {
        int c = fw_dataset_find(ds, p->features[f].name);
        if (c < 0) continue;
        const fw_column *col = &ds->cols[c];
        size_t present = 0;
        bool constant = true;
        double first_num = 0;
        int32_t first_code = -1;
        for (size_t i = 0; i < n; i++) {
            uint32_t row = rows[i];
            if (col->num) {
                double v = col->num[row];
                if (isnan(v)) continue;
                if (present++ == 0) first_num = v;
                else if (v != first_num) constant = false;
            } else if (col->code) {
                int32_t k = col->code[row];
                if (k < 0) continue;
                if (present++ == 0) first_code = k;
                else if (k != first_code) constant = false;
            }
        }
        if (present == 0)
            fw__train_warn(r, "feature '%s' is missing in every training row: it carries no information (exclude it or fix the source)",
                 col->name);
        else if (constant && present == n)
            fw__train_warn(r, "feature '%s' has the same value in every training row: it carries no information", col->name);
    }
}

/* Item 0: the useless-feature warnings; 1: the fingerprint of the encoded training rows and labels
 * (lineage: which rows a model saw); 2: the test rows' fingerprint, as read, not as transformed
 * (the transform depends on the fitted pipeline, and so on the seed: two models scored on the
 * same rows must compare). */
static void prepare_checks(void *ctx, int thread, size_t b, size_t e) {
    (void)thread;
    fw_train_result *r = ctx;
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    for (size_t i = b; i < e; i++) {
        if (i == 0) check_features(r);
        else if (i == 1) r->train_fingerprint = fw__train_fingerprint(&r->X_train, r->y_train, r->split.n_train * per);
        else r->test_fingerprint = fw_dataset_fingerprint(r->eval_ds, r->test_rows, r->n_test);
    }
}

uint64_t fw__train_fingerprint(const fw_matrix *X, const double *y, size_t n_y) {
    fw_hasher *h = fw_hasher_new(0x46574650ull);
    if (!h) return 0;
    fw_hasher_update(h, &X->n_rows, sizeof X->n_rows);
    fw_hasher_update(h, &X->n_dense, sizeof X->n_dense);
    if (X->dense) fw_hasher_update(h, X->dense, X->n_rows * X->n_dense * sizeof(float));
    if (X->sparse_dim) {
        fw_hasher_update(h, X->indptr, (X->n_rows + 1) * sizeof(uint64_t));
        size_t nnz = (size_t)X->indptr[X->n_rows];
        if (nnz) {
            fw_hasher_update(h, X->indices, nnz * sizeof(uint32_t));
            fw_hasher_update(h, X->values, nnz * sizeof(float));
        }
    }
    if (y && n_y) fw_hasher_update(h, y, n_y * sizeof(double));
    uint64_t d = fw_hasher_digest(h);
    fw_hasher_free(h);
    return d;
}

/* k-fold cross-validation folds over the training side (train + validation rows, transformed by
 * the pipeline fitted on the training rows), for selection on small data where one validation
 * holdout is too noisy to choose between families. Ranking folds hold whole queries. */
#define RANK_CV_AUTO_QUERIES 1000

static fw_status prepare_cv(fw_train_result *r, const fw_train_options *o, fw_err *err) {
    const fw_project *p = &r->project;
    size_t n_pool = r->split.n_train + r->split.n_valid;
    bool by_query = r->target.task == FW_TASK_RANKING;
    uint32_t n_q = 0;
    size_t distinct = 0; /* ranking: queries on the training side */
    if (by_query) {
        for (size_t i = 0; i < r->train_ds->n_rows; i++)
            if (r->q_all[i] + 1 > n_q) n_q = r->q_all[i] + 1;
        uint8_t *seen = fw_calloc(n_q ? n_q : 1, 1);
        if (!seen) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < n_pool; i++) {
            uint32_t row = i < r->split.n_train ? r->split.train[i] : r->split.valid[i - r->split.n_train];
            distinct += !seen[r->q_all[row]];
            seen[r->q_all[row]] = 1;
        }
        fw_free(seen);
    }
    uint32_t k = p->folds;
    if (k == 0) {
        /* auto: small data only, by rows and by matrix cells (wide data makes k extra fits costly).
         * Ranking: a holdout's noise goes with its number of queries, not rows: folds while the
         * training side has few queries (up to RANK_CV_AUTO_QUERIES, and 10x the rows) */
        size_t nnz = r->X_train.sparse_dim ? (size_t)r->X_train.indptr[r->X_train.n_rows] : 0;
        double cells = (double)n_pool * ((double)r->X_train.n_dense +
                                         (r->X_train.n_rows ? (double)nnz / (double)r->X_train.n_rows : 0));
        bool small = by_query ? distinct <= RANK_CV_AUTO_QUERIES && n_pool <= 10 * (size_t)FW_TRAIN_CV_AUTO_ROWS
                              : n_pool <= FW_TRAIN_CV_AUTO_ROWS;
        k = small && cells <= FW_TRAIN_CV_AUTO_CELLS ? FW_TRAIN_CV_AUTO_FOLDS : 1;
    }
    if (k < 2 || n_pool < 4 * (size_t)k) return FW_OK;
    if (by_query && distinct < 4 * (size_t)k) return FW_OK; /* whole queries per fold: enough of them */
    size_t per = r->target.task == FW_TASK_MULTILABEL ? r->target.n_outputs : 1;
    uint32_t *pool = fw_malloc(n_pool * sizeof(uint32_t));
    uint32_t *fold = fw_malloc(r->train_ds->n_rows * sizeof(uint32_t));
    double *y_pool = fw_malloc(n_pool * per * sizeof(double));
    double *w_pool = r->fit.w_train ? fw_malloc(n_pool * sizeof(double)) : NULL;
    uint32_t *rows = fw_malloc(n_pool * sizeof(uint32_t));
    fw_matrix X_pool;
    memset(&X_pool, 0, sizeof X_pool);
    fw_status st = FW_ENOMEM;
    if (!pool || !fold || !y_pool || !rows || (r->fit.w_train && !w_pool)) goto done;
    if (w_pool) {
        memcpy(w_pool, r->fit.w_train, r->split.n_train * sizeof(double));
        if (r->split.n_valid) memcpy(w_pool + r->split.n_train, r->fit.w_valid, r->split.n_valid * sizeof(double));
    }
    memcpy(pool, r->split.train, r->split.n_train * sizeof(uint32_t));
    if (r->split.n_valid) memcpy(pool + r->split.n_train, r->split.valid, r->split.n_valid * sizeof(uint32_t));
    memcpy(y_pool, r->y_train, r->split.n_train * per * sizeof(double));
    if (r->split.n_valid) memcpy(y_pool + r->split.n_train * per, r->y_valid, r->split.n_valid * per * sizeof(double));
    const char *strat = (r->target.task == FW_TASK_BINARY || r->target.task == FW_TASK_MULTICLASS) &&
                                p->n_label_columns
                            ? p->label_columns[0]
                            : NULL;
    if (by_query) { /* folds of the training side's queries (rows then read fold[pool[i]]) */
        for (size_t i = 0; i < n_pool; i++) rows[i] = r->q_all[pool[i]];
        uint32_t *fp = y_pool ? fw_malloc(n_pool * sizeof(uint32_t)) : NULL;
        if (!fp) goto done;
        st = fw_kfold_groups(rows, n_pool, n_q, k, r->seed ^ 0x6366ull, fp, err);
        for (size_t i = 0; !st && i < n_pool; i++) fold[pool[i]] = fp[i];
        fw_free(fp);
    } else {
        st = fw_kfold_make(r->train_ds, k, strat, r->seed ^ 0x6366ull, fold, err);
    }
    if (st) goto done;
    if ((st = fw_pipeline_transform_block(r->pipeline, r->train_ds, pool, n_pool, o->threads, &X_pool, err)))
        goto done;
    st = FW_ENOMEM;
    r->cv = fw_calloc(k, sizeof *r->cv);
    if (!r->cv) goto done;
    r->cv_folds = k;
    for (uint32_t f = 0; f < k; f++) {
        fw_cv_fold *cf = &r->cv[f];
        size_t n_fit = 0, n_score = 0;
        for (size_t i = 0; i < n_pool; i++) n_score += fold[pool[i]] == f;
        n_fit = n_pool - n_score;
        cf->y_fit = fw_malloc((n_fit ? n_fit : 1) * per * sizeof(double));
        cf->y_score = fw_malloc((n_score ? n_score : 1) * per * sizeof(double));
        if (!cf->y_fit || !cf->y_score) goto done;
        if (w_pool && !(cf->w_fit = fw_malloc((n_fit ? n_fit : 1) * sizeof(double)))) goto done;
        if (by_query) {
            cf->q_fit = fw_malloc((n_fit ? n_fit : 1) * sizeof(uint32_t));
            cf->q_score = fw_malloc((n_score ? n_score : 1) * sizeof(uint32_t));
            if (!cf->q_fit || !cf->q_score) goto done;
        }
        size_t a = 0;
        for (size_t i = 0; i < n_pool; i++)
            if (fold[pool[i]] != f) {
                if (w_pool) cf->w_fit[a] = w_pool[i];
                memcpy(cf->y_fit + a * per, y_pool + i * per, per * sizeof(double));
                if (by_query) cf->q_fit[a] = r->q_all[pool[i]];
                rows[a++] = (uint32_t)i;
            }
        if ((st = fw_matrix_select(&X_pool, rows, n_fit, &cf->X_fit))) goto done;
        size_t b = 0;
        for (size_t i = 0; i < n_pool; i++)
            if (fold[pool[i]] == f) {
                memcpy(cf->y_score + b * per, y_pool + i * per, per * sizeof(double));
                if (by_query) cf->q_score[b] = r->q_all[pool[i]];
                rows[b++] = (uint32_t)i;
            }
        if ((st = fw_matrix_select(&X_pool, rows, n_score, &cf->X_score))) goto done;
        st = FW_ENOMEM;
    }
    st = FW_OK;
done:
    if (st == FW_ENOMEM) fw_err_set(err, st, "out of memory preparing cross-validation folds");
    fw_matrix_free(&X_pool);
    fw_free(pool);
    fw_free(fold);
    fw_free(y_pool);
    fw_free(w_pool);
    fw_free(rows);
    return st;
}

/* True when row of ds has no value in a label column. */
static bool label_missing(const fw_project *p, const fw_dataset *ds, uint32_t row) {
    for (size_t l = 0; l < p->n_label_columns; l++) {
        int c = fw_dataset_find(ds, p->label_columns[l]);
        if (c < 0) continue;
        const fw_column *col = &ds->cols[c];
        if (col->num ? isnan(col->num[row]) : (col->code && col->code[row] < 0)) return true;
    }
    return false;
}

/* Drops rows of list[0..*n) whose label is missing; returns how many. */
static size_t drop_unlabelled(const fw_project *p, const fw_dataset *ds, uint32_t *list, size_t *n) {
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < *n; i++) {
        if (label_missing(p, ds, list[i])) dropped++;
        else list[k++] = list[i];
    }
    *n = k;
    return dropped;
}

fw_status fw__train_prepare(fw_train_result *r, const fw_train_options *o, fw_err *err) {
    fw_status st;
    const fw_project *p = &r->project;
    r->eval_ds = r->test_ds ? r->test_ds : r->train_ds;
    if (r->test_ds) {
        r->n_test = r->test_ds->n_rows;
        r->test_rows = fw_malloc((r->n_test ? r->n_test : 1) * sizeof(uint32_t));
        if (!r->test_rows) return fw_err_set(err, FW_ENOMEM, "out of memory");
        for (size_t i = 0; i < r->n_test; i++) r->test_rows[i] = (uint32_t)i;
    } else {
        r->n_test = r->split.n_test;
        r->test_rows = fw_malloc((r->n_test ? r->n_test : 1) * sizeof(uint32_t));
        if (!r->test_rows) return fw_err_set(err, FW_ENOMEM, "out of memory");
        memcpy(r->test_rows, r->split.test, r->n_test * sizeof(uint32_t));
    }
    if (o->skip_bad_rows) {
        /* --skip-bad-rows: a row without a label teaches and tests nothing; skip and count it */
        size_t d = drop_unlabelled(p, r->train_ds, r->split.train, &r->split.n_train);
        d += drop_unlabelled(p, r->train_ds, r->split.valid, &r->split.n_valid);
        size_t dt = drop_unlabelled(p, r->eval_ds, r->test_rows, &r->n_test);
        if (!r->test_ds) d += dt, dt = 0;
        if (d) fw__train_warn(r, "%zu rows of %s have no label: skipped (--skip-bad-rows)", d,
                              r->train_ds->source ? r->train_ds->source : "the training data");
        if (dt) fw__train_warn(r, "%zu rows of %s have no label: skipped (--skip-bad-rows)", dt,
                               r->test_ds->source ? r->test_ds->source : "the test data");
    }
    if (r->split.n_train == 0) return fw_err_set(err, FW_EDATA, "no training rows left after the split");
    if (r->n_test == 0) return fw_err_set(err, FW_EDATA, "no test rows: the data is too small to split");
    st = fw_target_fit(p, r->train_ds, r->split.train, r->split.n_train, &r->target, err);
    if (st) return st;
    st = encode(r, r->train_ds, r->split.train, r->split.n_train, &r->y_train, false, NULL, err);
    if (st) return fw_err_prefix(err, "training labels");
    if (r->split.n_valid) {
        st = encode(r, r->train_ds, r->split.valid, r->split.n_valid, &r->y_valid, true, NULL, err);
        if (st) return fw_err_prefix(err, "validation labels");
    }
    /* test rows with a class training never saw: the evaluation counts them as wrong and warns */
    st = encode(r, r->eval_ds, r->test_rows, r->n_test, &r->y_test, true, NULL, err);
    if (st) return fw_err_prefix(err, "test labels");
    if ((st = fw__train_project_fit(r, err))) return st;
    st = fw_pipeline_fit_threads(p, r->train_ds, r->split.train, r->split.n_train, r->threads, &r->pipeline, err);
    if (st) return st;
    st = fw_pipeline_transform_block(r->pipeline, r->train_ds, r->split.train, r->split.n_train,
                                     o->threads, &r->X_train, err);
    if (st) return fw_err_prefix(err, "transforming training rows");
    if (r->split.n_valid) {
        st = fw_pipeline_transform_block(r->pipeline, r->train_ds, r->split.valid, r->split.n_valid,
                                         o->threads, &r->X_valid, err);
        if (st) return fw_err_prefix(err, "transforming validation rows");
    }
    st = fw_pipeline_transform_block(r->pipeline, r->eval_ds, r->test_rows, r->n_test, o->threads,
                                     &r->X_test, err);
    if (st) return fw_err_prefix(err, "transforming test rows");
    /* three serial steps side by side (~0.1 s of one core on 500k x 50): the useless-feature
     * warnings (the only one that writes r's warnings, on the calling thread), the training rows'
     * fingerprint and the test rows' */
    fw_parallel_for(r->threads, 3, prepare_checks, r);
    if ((st = fw__train_prepare_queries(r, err))) return st;
    return prepare_cv(r, o, err);
}
