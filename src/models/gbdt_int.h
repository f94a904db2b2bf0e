/* gbdt_int.h — private to the gbdt family (src/models/gbdt*.c): the fitted model's layout (flat
 * node arrays, one block), the hyperparameters, and the helpers the family's files share.
 * Callers outside the family use the vtable `fw_gbdt_vtable` (models/model.h) only.
 *
 * Layout: every tree's nodes lie in one array; tree t owns nodes[tree_start[t] .. tree_start[t+1])
 * and its root is the first of them. Children always have a larger index than their parent (the
 * loader checks it), so a walk always ends. Tree t adds to output class (t % n_groups). */
#ifndef FW_MODELS_GBDT_INT_H
#define FW_MODELS_GBDT_INT_H

#include "models/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_GBDT_DEFAULT_LEFT 0x80000000u /* flag bit in fw_gbdt_node.feature */
#define FW_GBDT_FEATURE_MASK 0x7FFFFFFFu
#define FW_GBDT_MAX_DEPTH 32             /* hard cap (TreeSHAP scratch is sized by it) */
#define FW_GBDT_MAX_OUTPUTS 4096

/* One node, 24 bytes. Internal: go left when x <= threshold (NaN follows the default flag).
 * Leaf: left == right == -1, value is the margin it adds (learning rate already applied). */
typedef struct fw_gbdt_node {
    float threshold;
    uint32_t feature; /* feature index | FW_GBDT_DEFAULT_LEFT */
    int32_t left, right;
    double value;
} fw_gbdt_node;

/* The scoring form of a node, 16 bytes, derived from the nodes after fit/load: a leaf loops to
 * itself, so a row takes exactly tree_depth[t] branch-free steps and ends on its leaf. */
typedef struct fw_gbdt_walk {
    float threshold;
    uint32_t feature; /* feature | FW_GBDT_DEFAULT_LEFT (0 for a leaf) */
    int32_t child[2]; /* [0] = left (x <= threshold), [1] = right */
} fw_gbdt_walk;

static inline uint32_t fw__gbdt_step(const fw_gbdt_walk *w, uint32_t i, const float *x) {
    const fw_gbdt_walk *n = &w[i];
    float v = x[n->feature & FW_GBDT_FEATURE_MASK];
    int right = v != v ? !(n->feature & FW_GBDT_DEFAULT_LEFT) : !(v <= n->threshold);
    return (uint32_t)n->child[right];
}

/* The dense scoring form of a tree of depth D <= FW_GBDT_DENSE_MAX_DEPTH: a complete binary tree
 * in breadth-first order, 2^D - 1 split slots then 2^D leaf values. Slot i's children are 2i+1
 * and 2i+2, so a row needs no child pointers: D steps i = 2i + 1 + right, then leaf i - (2^D-1).
 * A leaf above the last level is copied into every slot below it (its split slots route
 * anywhere). Same leaves, same tree order: scores are bit-identical to the node walk.
 * Rows without NaN take the short step (x > threshold); the default directions for NaN sit in a
 * separate byte per slot, read only by rows that have a NaN. */
#define FW_GBDT_DENSE_MAX_DEPTH 10
typedef struct fw_gbdt_dsplit {
    float threshold;
    uint32_t feature; /* plain feature index */
} fw_gbdt_dsplit;

/* Next slot for a row known to hold no NaN. */
static inline uint32_t fw__gbdt_dstep(const fw_gbdt_dsplit *sp, uint32_t i, const float *x) {
    return 2 * i + 1 + (uint32_t)(x[sp[i].feature] > sp[i].threshold);
}

/* Next slot for any row: NaN goes right unless the slot's default is left (dleft[i] = 1). */
static inline uint32_t fw__gbdt_dstep_nan(const fw_gbdt_dsplit *sp, const uint8_t *dleft,
                                          uint32_t i, const float *x) {
    float v = x[sp[i].feature];
    uint32_t right = (uint32_t)(v > sp[i].threshold) | ((uint32_t)(v != v) & (dleft[i] ^ 1u));
    return 2 * i + 1 + right;
}

typedef enum fw_gbdt_objective {
    FW_GBDT_LOGLOSS = 0,
    FW_GBDT_SOFTMAX,
    FW_GBDT_L2,
    FW_GBDT_L1,
    FW_GBDT_HUBER,
    FW_GBDT_LAMBDARANK, /* ranking with query ids: LambdaMART (gbdt_rank.c) */
} fw_gbdt_objective;

typedef enum fw_gbdt_stop {
    FW_GBDT_STOP_COMPLETED = 0,
    FW_GBDT_STOP_EARLY,       /* early stopping on the validation loss */
    FW_GBDT_STOP_TIME_BUDGET, /* time_budget_s exceeded */
    FW_GBDT_STOP_CALLBACK,    /* the progress callback asked to stop */
} fw_gbdt_stop;

/* What early stopping watches on the validation rows (early_stopping_metric). */
typedef enum fw_gbdt_stop_metric {
    FW_GBDT_METRIC_LOSS = 0, /* the objective's loss (log loss, RMSE, ...) */
    FW_GBDT_METRIC_ERROR,    /* classification error (ties broken by the loss); classifiers only */
} fw_gbdt_stop_metric;

/* Hyperparameters (defaults: fw__gbdt_params_init). */
typedef struct fw_gbdt_params {
    fw_gbdt_objective objective;
    uint32_t n_estimators;   /* boosting rounds (100) */
    double learning_rate;    /* 0.3 */
    uint32_t max_depth;      /* 6 (depthwise); 0 = unlimited up to FW_GBDT_MAX_DEPTH */
    uint32_t max_leaves;     /* 0 = unlimited (depthwise); lossguide default 31 */
    bool lossguide;          /* grow_policy=lossguide */
    uint32_t max_bin;        /* 255 */
    double lambda, alpha;    /* L2 (1), L1 (0) leaf regularization */
    double min_child_weight; /* 1 */
    double gamma;            /* min split gain (0) */
    double subsample;        /* 1 */
    double colsample_bytree; /* 1 */
    double huber_delta;      /* 1 */
    bool class_balanced;     /* class_weight=balanced */
    uint32_t early_stopping_rounds; /* 20 when a validation set is given; 0 = off */
    uint8_t stop_metric;     /* fw_gbdt_stop_metric: what early stopping watches (loss) */
    uint32_t ndcg_at;        /* lambdarank: early stopping on validation NDCG@ndcg_at (10) */
    uint32_t rank_truncation; /* lambdarank: pairs with a row in the top this many (30) */
    bool rank_exp_gain;      /* lambdarank: gain 2^rel - 1 (gain=exponential) instead of rel */
    uint64_t seed;
} fw_gbdt_params;

typedef struct fw_gbdt_model {
    fw_model base;            /* vt, task, n_outputs, n_dense, sparse_dim = 0 */
    fw_gbdt_params params;
    uint32_t n_groups;        /* trees per round: n_classes for softmax, else 1 */
    uint32_t n_trees;
    uint32_t n_nodes;
    uint32_t max_depth;       /* deepest leaf (edges from the root) over all trees */
    uint32_t n_rounds;        /* rounds kept (best iteration + 1 after early stopping) */
    uint32_t rounds_trained;  /* rounds actually built */
    int32_t best_iteration;   /* -1 without validation */
    uint32_t stop_reason;     /* fw_gbdt_stop */
    double best_valid_loss;   /* NaN without validation */
    double *base_score;       /* n_groups margins (log-odds / mean / centered class log-priors) */
    uint32_t *tree_start;     /* n_trees + 1 */
    fw_gbdt_node *nodes;      /* n_nodes */
    double *cover;            /* n_nodes: hessian sum of the training rows reaching the node */
    double *importance;       /* n_dense: total split gain per feature */
    double *expected;         /* n_trees: cover-weighted mean leaf value (TreeSHAP bias) */
    fw_gbdt_walk *walk;       /* n_nodes: scoring form (fw__gbdt_finish) */
    uint8_t *tree_depth;      /* n_trees: deepest leaf of each tree */
    /* Dense scoring form (fw__gbdt_finish; NULL when a tree is too deep or memory is short, then
     * scoring walks `walk`): one separate allocation, freed by fw__gbdt_free. */
    void *dense_block;
    fw_gbdt_dsplit *dsplit;   /* all trees' split slots */
    uint8_t *ddleft;          /* per split slot: 1 when NaN goes left */
    double *dleaf;            /* all trees' leaf values */
    uint32_t *dsplit_off;     /* n_trees: first split slot of tree t */
    uint32_t *dleaf_off;      /* n_trees: first leaf of tree t */
} fw_gbdt_model;

extern const fw_model_vtable fw_gbdt_vtable;

/* ---- gbdt_rank.c: the LambdaMART objective ---- */
typedef struct fw__gbdt_rank fw__gbdt_rank;
/* Groups n rows by query (labels y are borrowed). FW_OK, FW_EINVAL, FW_ENOMEM. */
fw_status fw__gbdt_rank_new(const uint32_t *query, const double *y, size_t n,
                            const fw_gbdt_params *p, fw__gbdt_rank **out);
void fw__gbdt_rank_free(fw__gbdt_rank *r);
/* Lambda gradients and Hessians of margins (one per row) into gh (g, h per row), row weights w
 * (NULL = 1) applied. Deterministic for any thread count. */
void fw__gbdt_rank_grad(const fw__gbdt_rank *r, const double *margin, const double *w, double *gh,
                        int threads);
/* Mean NDCG@ndcg_at of the margins over the queries (training-time measure, rank_groups.h). */
double fw__gbdt_rank_ndcg(fw__gbdt_rank *r, const double *margin);

void fw__gbdt_params_init(fw_gbdt_params *p);
const char *fw__gbdt_objective_name(fw_gbdt_objective o);

/* Allocates a model with all arrays in one block (zeroed); NULL on out of memory. */
fw_gbdt_model *fw__gbdt_alloc(uint32_t n_groups, uint32_t n_trees, uint32_t n_nodes,
                              size_t n_dense);
/* Fills max_depth, tree_depth[], walk[] and expected[] from the nodes and covers, and builds the
 * dense scoring form when every tree fits it (optional: skipped when memory is short). Returns
 * false when a tree is deeper than FW_GBDT_MAX_DEPTH (nothing extra is allocated then). */
bool fw__gbdt_finish(fw_gbdt_model *m);
/* Frees a model made by fw__gbdt_alloc (and its dense form). */
void fw__gbdt_free(fw_gbdt_model *m);

/* Walks tree t for one dense row; returns the leaf value. */
static inline double fw__gbdt_tree_value(const fw_gbdt_node *nodes, uint32_t root,
                                         const float *x) {
    const fw_gbdt_node *n = nodes + root;
    while (n->left >= 0) {
        float v = x[n->feature & FW_GBDT_FEATURE_MASK];
        int32_t next;
        if (v != v)
            next = (n->feature & FW_GBDT_DEFAULT_LEFT) ? n->left : n->right;
        else
            next = v <= n->threshold ? n->left : n->right;
        n = nodes + next;
    }
    return n->value;
}

/* Threads for one parallel pass of about `work_ns` nanoseconds of single-thread work. The pool's
 * workers are parked between passes (core/threads.c: a short spin, then a condition variable), so
 * a pass costs tens of microseconds; one under fw__gbdt_parallel_min_ns (0.2 ms; it was 2 ms when
 * threads were started per pass, which left every histogram of a node under ~27k rows x 50
 * features to one thread: the worker took 32% of a 500k x 50 train command's samples, now 41%)
 * runs on the calling thread. Results never depend on the choice. The knob is for tests (0 =
 * every pass in parallel); set it before any fit. */
extern double fw__gbdt_parallel_min_ns;
static inline int fw__gbdt_pass_threads(int threads, double work_ns) {
    return work_ns >= fw__gbdt_parallel_min_ns ? threads : 1;
}

/* Depthwise trees grow a level at a time (gbdt_train.c, grow_levels): true by default; false grows
 * them a node at a time, as loss-guided trees grow (the same trees, bit for bit: tests compare the
 * two). fw__gbdt_level_scratch_bytes bounds the row-block scratch of one level pass (64 MiB; 0 =
 * one split per pass). Knobs for tests; set them before any fit. */
extern bool fw__gbdt_levels;
extern size_t fw__gbdt_level_scratch_bytes;

/* Per-phase wall and process-CPU seconds of gbdt fits (bench/gbdt/bench_gbdt.c prints them with
 * FW_GBDT_PHASES=1): while fw__gbdt_phase_stats points at a struct, each fit adds the time of its
 * phases to it (the time since the previous phase ended is charged to the phase that ends). Set it
 * before a fit, one fit at a time; NULL (the default) costs a branch per phase. */
enum {
    FW_GBDT_PH_SETUP,  /* bins, weights, base scores, the model's packing */
    FW_GBDT_PH_GRAD,   /* gradients, row sampling, root sums */
    FW_GBDT_PH_HIST,   /* histograms (blocks, reduction, subtraction) */
    FW_GBDT_PH_PART,   /* row partitions after a split */
    FW_GBDT_PH_SPLIT,  /* split search */
    FW_GBDT_PH_TREE,   /* decisions, leaves, node bookkeeping */
    FW_GBDT_PH_MARGIN, /* leaf values into the training and validation margins */
    FW_GBDT_PH_EVAL,   /* validation loss, progress, early stopping, checkpoints */
    FW_GBDT_N_PH
};
typedef struct fw__gbdt_phases {
    double wall[FW_GBDT_N_PH], cpu[FW_GBDT_N_PH];
} fw__gbdt_phases;
extern fw__gbdt_phases *fw__gbdt_phase_stats;
const char *fw__gbdt_phase_name(int phase);

/* Histograms of nodes holding at least this share of the training rows (0.25) are built column by
 * column from fw_gbdt_bins.cols, the others row by row; the sums are the same bits either way.
 * The knob is for tests (0 = every node by column, > 1 = none); set it before any fit. */
extern double fw__gbdt_col_min_share;

/* Margins (n_groups) → outputs (n_outputs) for the model's objective. */
void fw__gbdt_transform(const fw_gbdt_model *m, const double *margin, double *out);

/* Quantile bins of a training matrix (gbdt_bin.c). Feature f has n_bins[f] value bins (ids
 * 0 .. n_bins[f]-1, bin b holds upper[offset[f]+b-1] < x <= upper[offset[f]+b], the last one's
 * upper edge is +inf) and a missing bin (id n_bins[f]) for NaN. Its histogram slots are
 * offset[f] .. offset[f] + n_bins[f] (inclusive), so offset[n_features] is the total. */
typedef struct fw_gbdt_bins {
    size_t n_rows, n_features;
    uint8_t *bins;     /* n_rows x n_features, row-major (histograms read whole rows) */
    uint8_t *cols;     /* the same ids column-major, n_features x n_rows (a partition reads one
                        * feature of a node's rows: 1 byte per row instead of a 64-byte line) */
    uint32_t *n_bins;  /* n_features */
    uint32_t *offset;  /* n_features + 1 */
    float *upper;      /* offset[n_features] (the missing slots hold NaN) */
} fw_gbdt_bins;

/* Builds the bins from a deterministic sample of at most 200,000 rows (seeded) and maps every
 * row into both layouts. max_bin in [2, 255]. Same X + max_bin + seed → same bins for any thread count.
 * Free with fw__gbdt_bins_free. */
fw_status fw__gbdt_bins_build(const fw_matrix *X, uint32_t max_bin, uint64_t seed, int threads,
                              fw_gbdt_bins *out);
void fw__gbdt_bins_free(fw_gbdt_bins *b);

/* ---- gbdt_checkpoint.c: training checkpoints (fw_fit_options.checkpoint_dir) ---- */
typedef struct fw__gbdt_ckpt {
    uint32_t rounds;      /* boosting rounds done */
    uint32_t n_trees, n_nodes;
    uint32_t node_size;   /* bytes of one trainer node record */
    int32_t best_iter;    /* early stopping's state after those rounds */
    double best_loss, best_err;
    uint64_t rng[4];      /* the column sampler's state */
    uint32_t *tree_start; /* n_trees + 1 */
    uint8_t *nodes;       /* n_nodes x node_size */
} fw__gbdt_ckpt;
/* The name of a fit's checkpoint: a hash of its rows, labels, weights, validation rows, seed,
 * parameters and node record size, and whether it runs under MPI (not the number of ranks). */
uint64_t fw__gbdt_ckpt_key(const fw_train_data *d, const fw_fit_options *o, uint32_t node_size);
/* Writes dir/gbdt-KEY.ckpt atomically (creating dir). */
fw_status fw__gbdt_ckpt_save(const char *dir, uint64_t key, const fw__gbdt_ckpt *c, fw_err *err);
/* Reads dir/gbdt-KEY.ckpt into c (*found = false, FW_OK when there is none); tree_start and nodes
 * are the caller's to fw_free. A damaged file is FW_EDATA. */
fw_status fw__gbdt_ckpt_load(const char *dir, uint64_t key, uint32_t node_size, fw__gbdt_ckpt *c,
                             bool *found, fw_err *err);

/* The vtable entries implemented across the family's files. */
fw_status fw__gbdt_fit(const fw_train_data *d, const fw_fit_options *o, fw_model **out,
                       fw_err *err);
fw_status fw__gbdt_predict_block(const fw_model *m, const fw_matrix *X, int threads, double *out);
fw_status fw__gbdt_predict_row(const fw_model *m, const fw_row *x, void *scratch, double *out);
fw_status fw__gbdt_explain_row(const fw_model *m, const fw_row *x, void *scratch,
                               double *contrib);
size_t fw__gbdt_scratch_size(const fw_model *m);
fw_status fw__gbdt_col_scorer(const fw_model *m, const fw_matrix *base, int threads, fw_col_scorer **out);
fw_status fw__gbdt_save(const fw_model *m, fw_buf *out);
fw_status fw__gbdt_load(const uint8_t *data, size_t len, fw_model **out, fw_err *err);

#endif
