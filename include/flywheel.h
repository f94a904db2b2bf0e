/*
 * flywheel.h — the public API of libflywheel: status codes, the allocator hook, version, and the
 * prediction API (load a trained .fwm model, predict and explain, from any thread, with no server).
 *
 * Flywheel runs the production ML loop: describe data, train models against a baseline,
 * version them, serve them online and in batch. This is the ONE public header: everything a
 * program embedding a model needs is here, behind opaque handles. Layer headers under src/<area>/
 * are internal (the flywheel binary and the tests use them; libflywheel.so does not export them).
 *
 * Conventions (see ../shared/STYLE.md):
 *   - every function returns fw_status: 0 (FW_OK) on success, a negative code on failure;
 *   - detailed messages are kept in a caller-provided fw_err, never in a process global;
 *   - callers own output buffers; opaque handles are freed with their own _free().
 *
 * Example:
 *   fw_err err; fw_err_clear(&err);
 *   fw_status st = fw_something(..., &err);
 *   if (st < 0) fprintf(stderr, "flywheel: %s\n", err.msg);
 */
#ifndef FLYWHEEL_H
#define FLYWHEEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libflywheel.so exports (it is built with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define FW_API __attribute__((visibility("default")))
#else
#define FW_API
#endif

#define FW_VERSION_MAJOR 0
#define FW_VERSION_MINOR 1
#define FW_VERSION_PATCH 0
#define FW_VERSION_STRING "0.1.0"

/* X-macro table of status codes: name, value, message. One table makes the enum and fw_strerror. */
#define FW_STATUS_TABLE(X)                                                \
    X(FW_OK, 0, "success")                                                \
    X(FW_ENOMEM, -1, "out of memory")                                     \
    X(FW_EINVAL, -2, "invalid argument")                                  \
    X(FW_EIO, -3, "input/output error")                                   \
    X(FW_EPARSE, -4, "parse error")                                       \
    X(FW_ESCHEMA, -5, "schema violation")                                 \
    X(FW_ENOTFOUND, -6, "not found")                                      \
    X(FW_EEXIST, -7, "already exists")                                    \
    X(FW_ECORRUPT, -8, "corrupt data")                                    \
    X(FW_EVERSION, -9, "unsupported format version")                      \
    X(FW_EUNSUPPORTED, -10, "unsupported operation")                      \
    X(FW_ESTORE, -11, "store error")                                      \
    X(FW_EBUSY, -12, "resource busy")                                     \
    X(FW_ELIMIT, -13, "limit exceeded")                                   \
    X(FW_EDATA, -14, "unusable data")                                     \
    X(FW_ECONFIG, -15, "invalid configuration")                           \
    X(FW_EINTERRUPTED, -16, "interrupted")

typedef enum fw_status {
#define FW__STATUS_ENUM(name, value, msg) name = value,
    FW_STATUS_TABLE(FW__STATUS_ENUM)
#undef FW__STATUS_ENUM
} fw_status;

/* The generic message for a status code; never NULL. */
FW_API const char *fw_strerror(fw_status st);
/* The code's symbolic name, e.g. "FW_EPARSE"; never NULL. */
FW_API const char *fw_status_name(fw_status st);

/* A detailed error: status plus a human message naming file, line, column or field. */
#define FW_ERR_MSG_MAX 512
typedef struct fw_err {
    fw_status status;
    char msg[FW_ERR_MSG_MAX];
} fw_err;

FW_API void fw_err_clear(fw_err *err);
/* Sets err (when not NULL) with a printf-style message and returns st, for `return fw_err_set(...)`. */
FW_API fw_status fw_err_set(fw_err *err, fw_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with more context ("while loading x: <old message>"). */
FW_API fw_status fw_err_prefix(fw_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- allocator hook -------------------------------------------------------------------------- */
/* One hook for every allocation the library makes, in the manner of Lua's lua_Alloc:
 *   ptr == NULL, nsize > 0: allocate; nsize == 0: free ptr; otherwise realloc.
 * Returns NULL on failure (or after a free). */
typedef void *(*fw_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);
/* Installs a hook (NULL restores the default). Not thread-safe: call before any other use. */
FW_API void fw_set_allocator(fw_alloc_fn fn, void *ud);
/* Bytes currently allocated through the hook (the server reports it). Thread-safe. */
FW_API size_t fw_bytes_in_use(void);

/* Version string including the git commit, e.g. "0.1.0 (abc1234)". */
FW_API const char *fw_version(void);

/* ==== prediction API ========================================================================== *
 * Load a model trained by `flywheel train` (a .fwm file, or its bytes), then predict from any
 * number of threads: the model handle is immutable and shared; each thread brings its own context
 * (scratch memory allocated once: the single-row calls below never allocate and never lock).
 * Answers are the very same, bit for bit, as `flywheel batch` and `flywheel serve` give for the
 * same input (the same pipeline, model and decision code runs). Every call returns FW_OK (0) or a
 * negative fw_status with a message in *err (err may be NULL); nothing exits or prints.
 *
 * Example (docs/EMBED.md has the whole program, examples/embed/predict.c):
 *   fw_err err; fw_predictor *m; fw_context *cx;
 *   if (fw_predictor_load_file("churn.fwm", &m, &err) < 0) { fputs(err.msg, stderr); return 1; }
 *   fw_context_new(m, &cx, &err);
 *   fw_field in[2] = {fw_field_number("tenure", 12), fw_field_string("plan", "pro")};
 *   double scores[8]; fw_result r;
 *   if (fw_predict_record(cx, in, 2, scores, 8, &r, &err) == FW_OK)
 *       printf("%s p=%.3f\n", r.label_name ? r.label_name : "-", r.value);
 *   fw_context_free(cx); fw_predictor_free(m);
 */

/* A loaded model: pipeline + model + baseline + decision settings. Immutable; thread-safe. */
typedef struct fw_predictor fw_predictor;
/* One thread's scratch for one predictor. Not shared between threads at the same time. */
typedef struct fw_context fw_context;

/* How an input column is read (the type the model was trained with). */
typedef enum fw_input_type {
    FW_INPUT_NUMERIC = 0,
    FW_INPUT_CATEGORICAL = 1,
    FW_INPUT_TEXT = 2,
    FW_INPUT_TIMESTAMP = 3, /* ISO 8601 text, or a number of seconds since the Unix epoch */
} fw_input_type;

/* One input value. */
typedef enum fw_field_kind {
    FW_FIELD_MISSING = 0, /* absent / null */
    FW_FIELD_NUMBER = 1,  /* num (NaN and infinities are missing) */
    FW_FIELD_STRING = 2,  /* str[0..len): as a JSON string is read by `flywheel serve` */
    FW_FIELD_CSV = 3,     /* str[0..len): one CSV cell's text (unquoted), read exactly as `flywheel
                             batch` reads a CSV cell of this input's type: empty or a missing token
                             ("NA", "null", "?", ...) is missing; a numeric input must be a decimal
                             number and a timestamp input an ISO 8601 date/time, else FW_ESCHEMA */
} fw_field_kind;

typedef struct fw_field {
    const char *name;     /* input name, NUL-terminated (fw_predict_record); ignored by the by-index calls */
    fw_field_kind kind;
    double num;           /* FW_FIELD_NUMBER */
    const char *str;      /* FW_FIELD_STRING / FW_FIELD_CSV: need not be NUL-terminated */
    size_t len;
} fw_field;

/* Builders for the common cases (str must be NUL-terminated here). */
FW_API fw_field fw_field_number(const char *name, double v);
FW_API fw_field fw_field_string(const char *name, const char *str);
FW_API fw_field fw_field_missing(const char *name);

/* Where an answer comes from: the model, or — when a classifier's confidence is below the model's
 * confidence threshold — its configured fallback. */
typedef enum fw_answer_source {
    FW_SOURCE_MODEL = 0,
    FW_SOURCE_BASELINE = 1, /* abstained: the baseline's answer */
    FW_SOURCE_VALUE = 2,    /* abstained: a fixed value */
    FW_SOURCE_REVIEW = 3,   /* abstained: needs human review (no label) */
} fw_answer_source;

/* One answer (caller-owned; no pointer into a context). */
typedef struct fw_result {
    int32_t label;          /* classification: the class index decided (-1: none); else -1 */
    const char *label_name; /* the class name or fixed value, or NULL; lives as long as the predictor */
    double value;           /* regression/ranking: the prediction; classification: P(label) */
    double confidence;      /* classification: the decision's confidence (binary: measured from the
                               decision threshold, fw_binary_confidence in artifact/bundle.h;
                               multiclass: the top class's probability); else NaN */
    int abstained;          /* 1 when the fallback answered */
    fw_answer_source source;
    size_t n_scores;        /* scores written (fw_predictor_n_outputs) */
} fw_result;

/* ---- loading ---- */
/* Loads from memory (data may be freed after the call: every part is copied). Errors: FW_EINVAL
 * not a model file, FW_ECORRUPT checksum or shape mismatch, FW_EVERSION too new, FW_EDATA truncated,
 * FW_ENOMEM. Free with fw_predictor_free. */
FW_API fw_status fw_predictor_load_mem(const void *data, size_t len, fw_predictor **out, fw_err *err);
/* Loads a .fwm file (errors name the file; FW_ENOTFOUND when it does not exist). */
FW_API fw_status fw_predictor_load_file(const char *path, fw_predictor **out, fw_err *err);
/* Frees the predictor; every context made from it must be freed first. NULL is a no-op. */
FW_API void fw_predictor_free(fw_predictor *m);

/* ---- what the model takes and gives (strings live as long as the predictor) ---- */
FW_API const char *fw_predictor_name(const fw_predictor *m);   /* the project's name, or "" */
FW_API const char *fw_predictor_family(const fw_predictor *m); /* "gbdt", "linear", "knn", "hier", "baseline" */
/* "binary", "multiclass", "multilabel", "regression" or "ranking". */
FW_API const char *fw_predictor_task(const fw_predictor *m);
/* Input columns, in the order the by-index calls use. Out of range: NULL / FW_INPUT_NUMERIC. */
FW_API size_t fw_predictor_n_inputs(const fw_predictor *m);
FW_API const char *fw_predictor_input_name(const fw_predictor *m, size_t i);
FW_API fw_input_type fw_predictor_input_type(const fw_predictor *m, size_t i);
/* The index of the input called name, or -1. */
FW_API int fw_predictor_input_index(const fw_predictor *m, const char *name);
/* Scores per answer: binary 1 (P(positive class)); multiclass and multilabel one per class;
 * regression 1 (the value); ranking 1 (higher is better). */
FW_API size_t fw_predictor_n_outputs(const fw_predictor *m);
/* The name of score k: the class (binary: the positive class), or "value" / "score". */
FW_API const char *fw_predictor_output_name(const fw_predictor *m, size_t k);
/* Classification: the class names (binary: [negative, positive]); 0 / NULL otherwise. */
FW_API size_t fw_predictor_n_classes(const fw_predictor *m);
FW_API const char *fw_predictor_class_name(const fw_predictor *m, size_t k);

/* ---- contexts ---- */
/* A context for one thread (allocates its scratch once). FW_OK or FW_ENOMEM. */
FW_API fw_status fw_context_new(const fw_predictor *m, fw_context **out, fw_err *err);
FW_API void fw_context_free(fw_context *cx);
/* Text inputs are tokenized in the context, whose scratch grows to the longest record seen. After
 * fw_context_reserve(cx, n, &err), a record whose text values add up to at most n bytes is handled
 * without allocating (fw_context_new reserves FW_CONTEXT_TEXT_BYTES). FW_OK or FW_ENOMEM. */
#define FW_CONTEXT_TEXT_BYTES 1024
FW_API fw_status fw_context_reserve(fw_context *cx, size_t text_bytes, fw_err *err);

/* ---- predicting (none of these allocates — see fw_context_reserve for text — and each is
 * thread-safe with distinct contexts) ---- */
/* One record by name: fields[0..n) (unknown names are ignored, inputs not given are missing; a name
 * given twice: the last wins). scores: at least fw_predictor_n_outputs doubles (may be NULL with
 * n_scores 0 when only the decision is wanted): the answering model's scores, what `flywheel batch`
 * writes in its score columns. FW_EINVAL for a short buffer; FW_ESCHEMA naming the field for a
 * value its input cannot take (text in a numeric input). */
FW_API fw_status fw_predict_record(fw_context *cx, const fw_field *fields, size_t n_fields, double *scores,
                                   size_t n_scores, fw_result *res, fw_err *err);
/* One row by input index: values[i] is input i (n must be fw_predictor_n_inputs; names ignored). */
FW_API fw_status fw_predict_values(fw_context *cx, const fw_field *values, size_t n, double *scores,
                                   size_t n_scores, fw_result *res, fw_err *err);
/* One dense numeric row by input index: row[i] is input i (NaN = missing; a number given for a
 * categorical input is its category's text, as the server reads a JSON number). */
FW_API fw_status fw_predict_row(fw_context *cx, const double *row, size_t n, double *scores, size_t n_scores,
                                fw_result *res, fw_err *err);
/* A block of dense rows: row r starts at rows + r * stride (stride >= n_inputs). Writes
 * n_rows x n_outputs scores (row-major) and, when labels is not NULL, n_rows decided class indexes
 * (-1: none). On a bad row stops with its error (the message names the row, from 1). */
FW_API fw_status fw_predict_block(fw_context *cx, const double *rows, size_t n_rows, size_t stride,
                                  double *scores, int32_t *labels, fw_err *err);

/* The text of an answer exactly as `flywheel batch` writes it in its `prediction` column (the
 * class name, labels joined by '|', "review", or the value in the shortest round-trip form), before
 * CSV quoting. scores: the scores of the same call. Writes at most cap bytes including the NUL;
 * returns the full length (snprintf-like: a result >= cap means it was cut). */
FW_API size_t fw_result_text(const fw_predictor *m, const fw_result *res, const double *scores, char *buf,
                             size_t cap);

/* ---- explaining ---- */
/* The model's features (after the pipeline: one-hot parts, missing indicators, ...). */
FW_API size_t fw_predictor_n_features(const fw_predictor *m);
FW_API const char *fw_predictor_feature_name(const fw_predictor *m, size_t j);
/* Per-feature contributions of one record (fields as fw_predict_record) in margin space (log-odds /
 * raw): (n_features + 1) x n_outputs doubles, row-major, the last row the bias; they add up to the
 * model's margin. FW_EUNSUPPORTED for a family with no additive explanation (knn, hier: see
 * fw_explain_neighbors, fw_explain_path); FW_EINVAL when n_contrib is short. Per input column, as
 * the server shows them: fw_explain_inputs below. Thread-safe with distinct contexts; does not allocate. */
FW_API fw_status fw_explain_record(fw_context *cx, const fw_field *fields, size_t n_fields, double *contrib,
                                   size_t n_contrib, fw_err *err);

/* One record explained in the terms of its own fields — what `flywheel serve`'s :explain answers
 * for the same model, computed by the same code. Additive families (linear, baseline: exact; gbdt:
 * TreeSHAP) give contributions per INPUT column: a column's one-hot parts, missing indicator and
 * timestamp parts summed, hashed categorical and text columns given what their hashed entries add,
 * a hashed cross split evenly between its columns; the rest is the bias; together they add up to
 * the explained output's margin. knn gives the nearest training rows (fw_explain_neighbors), hier
 * the path through its hierarchy (fw_explain_path). */
typedef struct fw_contribution {
    size_t input;            /* the input column (fw_predictor_input_name) */
    double value;            /* its part of the explained output's margin */
} fw_contribution;

typedef struct fw_explanation {
    int32_t class_index;     /* the class explained; -1 for a regression / ranking value */
    const char *class_name;  /* its name; NULL for a value or an unnamed class */
    const char *method;      /* "additive" (linear, baseline), "treeshap" (gbdt), "nearest_neighbors"
                                (knn) or "hierarchy" (hier) */
    const char *space;       /* "log_odds", "softmax_margin" or "raw"; NULL for knn */
    double bias;             /* what no input column takes (never -0) */
    size_t n_contributions;  /* input columns with a non-zero contribution (also those past cap) */
} fw_explanation;

/* cls: the class to explain, as :explain's "class" — -1 for the decision's (multiclass: the
 * model's most likely class; binary: the positive class; multilabel: the first label); binary 0
 * gives the negative class's terms (the same, negated). out: up to cap contributions, largest
 * magnitude first (ties by column name), zeros left out. FW_EUNSUPPORTED for knn and hier,
 * FW_EINVAL for a class out of range or a value model given a class. Thread-safe with distinct
 * contexts; does not allocate. */
FW_API fw_status fw_explain_inputs(fw_context *cx, const fw_field *fields, size_t n_fields, int32_t cls,
                                   fw_contribution *out, size_t cap, fw_explanation *ex, fw_err *err);

/* knn: the training rows that vote for the record, nearest first (ties by row), as :explain's
 * "neighbors"; at most FW_EXPLAIN_MAX_NEIGHBORS. ex (may be NULL) says which class the vote decided
 * (class_index / class_name; method "nearest_neighbors"). FW_EUNSUPPORTED for other families.
 * Does not allocate. */
#define FW_EXPLAIN_MAX_NEIGHBORS 64
typedef struct fw_neighbor {
    uint64_t row;            /* the training row (in the order the model was fitted on, from 0) */
    double distance;         /* euclidean, or cosine distance */
    double label;            /* its label: class index, or the target value */
    const char *class_name;  /* the class's name (NULL for a value or an unnamed class) */
} fw_neighbor;
FW_API fw_status fw_explain_neighbors(fw_context *cx, const fw_field *fields, size_t n_fields, fw_neighbor *out,
                                      size_t cap, size_t *n_out, fw_explanation *ex, fw_err *err);

/* hier: the path of class cls (-1: the decision's) through the hierarchy, as :explain's "path":
 * the group, then the class within it, each level with its probability and — when the level has a
 * model (more than one group; more than one class in the group) — its contributions per input
 * column (as fw_explain_inputs, softmax margin of that level). FW_EUNSUPPORTED for other families,
 * FW_EINVAL for a class out of range. May allocate (the family's own work space). */
typedef struct fw_path_level {
    double probability;      /* P(group | x), or P(class | group, x) */
    int has_model;           /* 0: one group / a group of one class (probability 1, no contributions) */
    double bias;
    size_t n_contributions;  /* as fw_explanation's */
} fw_path_level;
typedef struct fw_explanation_path {
    int32_t class_index;
    const char *class_name;
    double probability;      /* P(group) x P(class | group) */
    uint32_t group;          /* the class's group (index) */
    const char *group_name;  /* its name when the project declared the hierarchy, else NULL; valid
                                until the context's next call */
    size_t n_groups;
    fw_path_level group_level, class_level;
} fw_explanation_path;
FW_API fw_status fw_explain_path(fw_context *cx, const fw_field *fields, size_t n_fields, int32_t cls,
                                 fw_contribution *group_out, size_t group_cap, fw_contribution *class_out,
                                 size_t class_cap, fw_explanation_path *ex, fw_err *err);

#ifdef __cplusplus
}
#endif
#endif /* FLYWHEEL_H */
