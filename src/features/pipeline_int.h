/* pipeline_int.h — private to src/features: the fitted pipeline's struct, the per-thread scratch,
 * and the per-kind transforms (numeric.c, categorical.c, text.c, timestamp.c, cross.c) that
 * pipeline.c composes. Every apply function runs on the record path: it must not allocate except
 * through fw__scratch_reserve (which grows once, then never again for inputs of the same size). */
#ifndef FW_FEATURES_PIPELINE_INT_H
#define FW_FEATURES_PIPELINE_INT_H

#include "core/buf.h"
#include "core/hash.h"
#include "features/hashing.h"
#include "features/pipeline.h"

#include <stdbool.h>
#include <stdint.h>

/* One input column and its fitted transform. Enum fields hold resolved values (never DEFAULT). */
typedef struct fw__col {
    char *name;
    uint8_t type;              /* fw_col_type the pipeline treats the column as */
    uint8_t impute;            /* fw_impute */
    uint8_t scale;             /* fw_scale */
    uint8_t encode;            /* fw_encode (categorical) */
    bool missing_indicator;
    bool tfidf, bigrams;       /* text */
    uint64_t seed;             /* hashing seed (per column) */
    double fill;               /* numeric: imputed value (NaN for impute none); timestamp: median */
    double center, div;        /* standard: mean, std; minmax: min, max - min */
    double ref;                /* timestamp: reference time (max training timestamp) */
    uint8_t ts_parts;          /* timestamp: FW__TS_* parts kept (those not constant in training) */
    uint32_t n_edges;          /* quantile: sorted unique bin edges */
    double *edges;
    uint32_t n_cats;           /* categorical one-hot: kept categories (sorted by strcmp) */
    char **cats;
    uint32_t n_idf;            /* text tf-idf: buckets seen at fit time, sorted, with their idf */
    uint32_t *idf_idx;
    float *idf_val;
    float idf_unseen;          /* idf of a bucket no training document had */
    /* derived (not serialized) */
    uint32_t dense_off, n_dense;
    fw_strmap cat_map;         /* category → index into cats */
} fw__col;

typedef struct fw__cross {
    uint32_t n;                /* 2..8 */
    uint32_t cols[8];          /* input indices */
    uint64_t seed;
} fw__cross;

struct fw_pipeline {
    uint32_t hash_bits;
    uint32_t n_cols;
    fw__col *cols;
    uint32_t n_crosses;
    fw__cross *crosses;
    /* derived */
    uint32_t sparse_dim;
    size_t n_dense;
    char **dense_names;
    fw_strmap input_map;
};

struct fw_pipeline_scratch {
    fw__entry *ent;            /* sparse entries of the current record (unsorted while building) */
    size_t n_ent, ent_cap;
    uint32_t *indices;         /* the merged, sorted output */
    float *values;
    size_t out_cap;
    char *tok;                 /* lowercased text of the current value */
    size_t tok_cap;
};

/* Ensures room for `extra` more entries (and the output arrays). FW_OK or FW_ENOMEM. */
fw_status fw__scratch_reserve(fw_pipeline_scratch *s, size_t extra);
static inline void fw__scratch_push(fw_pipeline_scratch *s, uint32_t idx, float val) {
    s->ent[s->n_ent].idx = idx;
    s->ent[s->n_ent].val = val;
    s->n_ent++;
}

/* A record value viewed as what each kind needs. */
typedef struct fw__str { const char *p; size_t len; } fw__str;
/* The string form of v (numbers in canonical text into buf); false when missing. */
bool fw__value_str(const fw_value *v, char buf[32], fw__str *out);

/* numeric.c: fit from n values (NaN = missing); apply writes n_dense floats at dense. */
fw_status fw__numeric_fit(fw__col *c, const fw_feature_spec *f, double *vals, size_t n, fw_err *err);
void fw__numeric_apply(const fw__col *c, double x, float *dense);
/* A record value as a number: NUMBER as is, strings parsed ("3.5"); missing → NaN.
 * FW_ESCHEMA naming the field for a non-numeric string. */
fw_status fw__value_num(const fw__col *c, const fw_value *v, double *out, fw_err *err);

/* categorical.c */
fw_status fw__categorical_fit(fw__col *c, const fw_feature_spec *f, const fw__str *vals, size_t n,
                              fw_err *err);
fw_status fw__categorical_index(fw__col *c); /* builds cat_map from cats (fit and load) */
void fw__categorical_apply(const fw__col *c, const fw__str *v, bool present, float *dense,
                           fw_pipeline_scratch *s, uint32_t dim_mask);

/* text.c */
fw_status fw__text_fit(fw__col *c, const fw__str *vals, size_t n, uint32_t dim_mask, fw_err *err);
fw_status fw__text_apply(const fw__col *c, const fw__str *v, fw_pipeline_scratch *s, uint32_t dim_mask);

/* timestamp.c: the derived parts, in output order; pipelines saved before the parts mask existed
 * have FW__TS_LEGACY. */
#define FW__TS_HOUR 1u
#define FW__TS_DOW 2u
#define FW__TS_MONTH 4u
#define FW__TS_DOY 16u
#define FW__TS_AGE 8u
#define FW__TS_LEGACY (FW__TS_HOUR | FW__TS_DOW | FW__TS_MONTH | FW__TS_AGE)
/* The number of dense outputs of the parts mask and the suffix of each (NULL past the last). */
uint32_t fw__timestamp_n_parts(uint8_t parts);
const char *fw__timestamp_part_name(uint8_t parts, uint32_t k);
fw_status fw__timestamp_fit(fw__col *c, double *vals, size_t n, fw_err *err);
void fw__timestamp_apply(const fw__col *c, double t, float *dense);
/* A record value as epoch seconds: NUMBER as is, strings as ISO 8601 or a number. */
fw_status fw__value_time(const fw__col *c, const fw_value *v, double *out, fw_err *err);

/* cross.c: hashes the conjunction of the cross's input values (skipped when any is missing). */
void fw__cross_apply(const fw__cross *x, const fw__col *cols, const fw_value *values,
                     fw_pipeline_scratch *s, uint32_t dim_mask);

#endif
