/* test_bundle.c — tests for src/artifact/bundle.c and reference.c: the checked-in format-version-1
 * artifact keeps loading and predicting the same values, the block path is bit-identical to the
 * record path for any thread count, abstention uses each configured fallback, damaged files are
 * refused, and the reference profile round-trips byte-identically. */
#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "artifact/reference.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "data/dataset.h"
#include "data/load.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/artifact/fixtures/v1.fwm"
#define TINY_CSV "tests/artifact/fixtures/tiny.csv"

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = fw_malloc((size_t)n);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        fw_free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static fw_dataset *load_tiny(void) {
    fw_load_opts o;
    fw_load_opts_init(&o);
    o.threads = 1;
    fw_dataset *ds = NULL;
    fw_load_result res;
    fw_err err;
    fw_status st = fw_data_load(TINY_CSV, &o, &ds, &res, &err);
    CHECK_MSG(st == FW_OK, "load %s: %s", TINY_CSV, err.msg);
    return ds;
}

/* Inputs of row r of ds in the bundle's input order. */
static void row_inputs(const fw_bundle *b, const fw_dataset *ds, size_t r, fw_value *v) {
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    for (size_t i = 0; i < fw_pipeline_n_inputs(pl); i++) {
        int c = fw_dataset_find(ds, fw_pipeline_input_name(pl, i));
        v[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
        if (c < 0 || fw_dataset_is_missing(ds, (size_t)c, r)) continue;
        if (ds->cols[c].num) {
            v[i].kind = FW_VALUE_NUMBER;
            v[i].num = ds->cols[c].num[r];
        } else {
            v[i].kind = FW_VALUE_STRING;
            v[i].str = fw_dataset_str(ds, (size_t)c, r);
            v[i].len = strlen(v[i].str);
        }
    }
}

static void test_fixture_v1_loads(void) {
    fw_bundle *b = NULL;
    fw_err err;
    fw_status st = fw_bundle_load_file(FIXTURE, &b, &err);
    CHECK_MSG(st == FW_OK, "%s", err.msg);
    if (!b) return;
    CHECK_STR(fw_bundle_meta_str(b, FW_KV_NAME), "tiny");
    CHECK_STR(fw_bundle_meta_str(b, FW_KV_FAMILY), "gbdt");
    CHECK_STR(fw_bundle_meta_str(b, FW_KV_METRIC), "roc_auc");
    CHECK_EQ(fw_bundle_task(b), FW_TASK_BINARY);
    CHECK_EQ(fw_bundle_n_outputs(b), 1);
    CHECK(fw_bundle_baseline(b) != NULL);
    CHECK_NEAR(fw_bundle_confidence_threshold(b), 0.6, 1e-12);
    CHECK_EQ(fw_bundle_fallback(b), FW_FALLBACK_BASELINE);
    CHECK(fw_bundle_threshold(b) > 0 && fw_bundle_threshold(b) < 1);
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    CHECK_EQ(fw_pipeline_n_inputs(pl), 8);
    CHECK_STR(fw_bundle_target(b)->class_names[1], "pos");
    fw_dataset *ds = load_tiny();
    if (!ds) {
        fw_bundle_free(b);
        return;
    }
    fw_bundle_scratch *s;
    CHECK_OK(fw_bundle_scratch_new(b, &s));
    fw_value v[16];
    int n_model = 0, n_base = 0;
    for (size_t r = 0; r < ds->n_rows; r++) {
        row_inputs(b, ds, r, v);
        fw_prediction p;
        CHECK_OK(fw_bundle_predict_record(b, v, s, &p, &err));
        CHECK(p.scores[0] >= 0 && p.scores[0] <= 1);
        CHECK(p.label == 0 || p.label == 1);
        CHECK(p.label_name != NULL);
        CHECK(p.abstained == (p.confidence < 0.6));
        if (p.source == FW_PRED_MODEL) n_model++;
        if (p.source == FW_PRED_BASELINE) {
            n_base++;
            CHECK_EQ(p.label, p.scores[0] >= fw_bundle_threshold(b)); /* the baseline's own decision */
        }
    }
    CHECK(n_model > 0);
    CHECK_EQ(n_model + n_base, (int)ds->n_rows);
    /* a string where a number belongs is an error naming the field, never a silent value */
    row_inputs(b, ds, 0, v);
    int g = fw_pipeline_input_index(pl, "glucose", 7);
    CHECK(g >= 0);
    if (g >= 0) {
        v[g] = (fw_value){FW_VALUE_STRING, 0, "high", 4};
        fw_prediction p;
        CHECK_EQ(fw_bundle_predict_record(b, v, s, &p, &err), FW_ESCHEMA);
        CHECK_CONTAINS(err.msg, "glucose");
    }
    fw_bundle_scratch_free(s);
    fw_dataset_free(ds);
    fw_bundle_free(b);
}

/* Known answers from the v1 fixture: if these move, a change broke reading old artifacts. */
static void test_fixture_v1_known_answers(void) {
    fw_bundle *b = NULL;
    fw_err err;
    if (fw_bundle_load_file(FIXTURE, &b, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    fw_dataset *ds = load_tiny();
    if (!ds) {
        fw_bundle_free(b);
        return;
    }
    fw_bundle_scratch *s;
    CHECK_OK(fw_bundle_scratch_new(b, &s));
    fw_value v[16];
    /* row 1: the model's P(pos) 0.3038 is over the fixture's decision threshold, so it decides pos
     * with confidence 0.3038 (the decision's: the probability of the label decided), under the
     * confidence threshold: the baseline answers (until confidence was max(p, 1 - p), 0.696,
     * and the model answered) */
    static const double expect[5] = {0.67393293121301701, 0.36923076923076925, 0.36923076923076925,
                                     0.11979466452434252, 0.65181497349202322};
    static const fw_prediction_source expect_src[5] = {FW_PRED_MODEL, FW_PRED_BASELINE, FW_PRED_BASELINE,
                                                       FW_PRED_MODEL, FW_PRED_MODEL};
    for (size_t r = 0; r < 5; r++) {
        row_inputs(b, ds, r, v);
        fw_prediction p;
        CHECK_OK(fw_bundle_predict_record(b, v, s, &p, &err));
        CHECK_NEAR(p.scores[0], expect[r], 1e-9);
        CHECK_EQ(p.source, expect_src[r]);
        if (getenv("FW_PRINT_EXPECTED")) printf("row %zu: %.17g (%s)\n", r, p.scores[0], fw_prediction_source_name(p.source));
    }
    fw_bundle_scratch_free(s);
    fw_dataset_free(ds);
    fw_bundle_free(b);
}

static void test_block_matches_record(void) {
    fw_bundle *b = NULL;
    fw_err err;
    if (fw_bundle_load_file(FIXTURE, &b, &err)) return;
    fw_dataset *ds = load_tiny();
    if (!ds) {
        fw_bundle_free(b);
        return;
    }
    size_t n = ds->n_rows;
    double *s1 = fw_calloc(n, sizeof *s1), *s2 = fw_calloc(n, sizeof *s2), *s3 = fw_calloc(n, sizeof *s3);
    int32_t *l1 = fw_calloc(n, sizeof *l1), *l2 = fw_calloc(n, sizeof *l2);
    bool *a1 = fw_calloc(n, sizeof *a1);
    CHECK_OK(fw_bundle_predict_block(b, ds, 1, s1, l1, a1, &err));
    CHECK_OK(fw_bundle_predict_block(b, ds, 2, s2, l2, NULL, &err));
    CHECK(memcmp(s1, s2, n * sizeof *s1) == 0);
    CHECK(memcmp(l1, l2, n * sizeof *l1) == 0);
    fw_bundle_scratch *s;
    CHECK_OK(fw_bundle_scratch_new(b, &s));
    fw_value v[16];
    for (size_t r = 0; r < n; r++) {
        row_inputs(b, ds, r, v);
        fw_prediction p;
        CHECK_OK(fw_bundle_predict_record(b, v, s, &p, &err));
        s3[r] = p.scores[0];
        CHECK_EQ(p.label, l1[r]);
        CHECK_EQ(p.abstained, a1[r]);
    }
    CHECK(memcmp(s1, s3, n * sizeof *s1) == 0);
    fw_bundle_scratch_free(s);
    fw_free(s1);
    fw_free(s2);
    fw_free(s3);
    fw_free(l1);
    fw_free(l2);
    fw_free(a1);
    fw_dataset_free(ds);
    fw_bundle_free(b);
}

/* The fixture rewritten with other decision settings (every section and key copied). */
static fw_status rewrite(const uint8_t *data, size_t len, double confidence, const char *fallback,
                         const char *fallback_value, fw_buf *out) {
    fw_artifact *a;
    fw_err err;
    fw_status st = fw_artifact_open(data, len, &a, &err);
    if (st) return st;
    fw_artifact_writer *w;
    fw_artifact_writer_new(&w);
    for (size_t i = 0; i < fw_artifact_kv_count(a); i++) {
        const char *k = fw_artifact_kv_key(a, i);
        int64_t iv;
        double dv;
        const uint8_t *p;
        size_t n;
        switch (fw_artifact_kv_type(a, i)) {
        case FW_KV_STR: fw_artifact_writer_str(w, k, fw_artifact_str(a, k)); break;
        case FW_KV_I64: fw_artifact_i64(a, k, &iv); fw_artifact_writer_i64(w, k, iv); break;
        case FW_KV_F64: fw_artifact_f64(a, k, &dv); fw_artifact_writer_f64(w, k, dv); break;
        case FW_KV_BYTES: fw_artifact_bytes(a, k, &p, &n); fw_artifact_writer_bytes(w, k, p, n); break;
        }
    }
    for (size_t i = 0; i < fw_artifact_section_count(a); i++) {
        const uint8_t *p;
        size_t n;
        uint32_t id = fw_artifact_section_id(a, i);
        fw_artifact_section(a, id, &p, &n);
        fw_artifact_writer_section(w, id, p, n);
    }
    fw_artifact_writer_f64(w, FW_KV_CONFIDENCE, confidence);
    fw_artifact_writer_str(w, FW_KV_FALLBACK, fallback);
    if (fallback_value) fw_artifact_writer_str(w, FW_KV_FALLBACK_VALUE, fallback_value);
    st = fw_artifact_writer_finish(w, out, &err);
    fw_artifact_writer_free(w);
    fw_artifact_close(a);
    return st;
}

static void test_copy_is_byte_identical_and_fallbacks(void) {
    size_t len;
    uint8_t *data = read_all(FIXTURE, &len);
    CHECK(data != NULL);
    if (!data) return;
    fw_err err;
    /* copying with the same settings reproduces the file byte for byte */
    fw_bundle *b0;
    CHECK_OK(fw_bundle_load_mem(data, len, &b0, &err));
    double conf0 = fw_bundle_confidence_threshold(b0);
    fw_bundle_free(b0);
    fw_buf same;
    fw_buf_init(&same);
    CHECK_OK(rewrite(data, len, conf0, "baseline", NULL, &same));
    CHECK_EQ(same.len, len);
    CHECK(same.len == len && memcmp(same.data, data, len) == 0);
    fw_buf_free(&same);
    fw_dataset *ds = load_tiny();
    if (!ds) {
        fw_free(data);
        return;
    }
    const char *kinds[3] = {"value", "review", "baseline"};
    for (int k = 0; k < 3; k++) {
        fw_buf nb;
        fw_buf_init(&nb);
        CHECK_OK(rewrite(data, len, 1.01, kinds[k], k == 0 ? "pos" : NULL, &nb)); /* always abstain */
        fw_bundle *b;
        if (fw_bundle_load_mem(nb.data, nb.len, &b, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            fw_buf_free(&nb);
            continue;
        }
        fw_buf_free(&nb); /* the bundle copied what it needs */
        fw_bundle_scratch *s;
        CHECK_OK(fw_bundle_scratch_new(b, &s));
        fw_value v[16];
        row_inputs(b, ds, 0, v);
        fw_prediction p;
        CHECK_OK(fw_bundle_predict_record(b, v, s, &p, &err));
        CHECK(p.abstained);
        if (k == 0) {
            CHECK_EQ(p.source, FW_PRED_VALUE);
            CHECK_STR(p.label_name, "pos");
            CHECK_EQ(p.label, 1);
        } else if (k == 1) {
            CHECK_EQ(p.source, FW_PRED_REVIEW);
            CHECK_EQ(p.label, -1);
            CHECK(p.label_name == NULL);
        } else {
            CHECK_EQ(p.source, FW_PRED_BASELINE);
            CHECK(p.label == 0 || p.label == 1);
        }
        fw_bundle_scratch_free(s);
        fw_bundle_free(b);
    }
    fw_dataset_free(ds);
    fw_free(data);
}

static void test_damaged_fixture_refused(void) {
    size_t len;
    uint8_t *data = read_all(FIXTURE, &len);
    if (!data) return;
    fw_artifact *a;
    fw_err err;
    CHECK_OK(fw_artifact_open(data, len, &a, &err));
    const uint8_t *p;
    size_t n;
    CHECK(fw_artifact_section(a, FW_SECTION_MODEL, &p, &n));
    size_t off = (size_t)(p - data) + n / 2;
    fw_artifact_close(a);
    data[off] ^= 1;
    fw_bundle *b;
    CHECK_EQ(fw_bundle_load_mem(data, len, &b, &err), FW_ECORRUPT);
    CHECK_CONTAINS(err.msg, "section 'model'");
    data[off] ^= 1;
    CHECK_EQ(fw_bundle_load_mem(data, len / 2, &b, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "truncated");
    CHECK_EQ(fw_bundle_load_file("tests/artifact/fixtures/tiny.csv", &b, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "tiny.csv");
    CHECK_CONTAINS(err.msg, "not a Flywheel artifact");
    fw_free(data);
}

static void test_load_time(void) {
    size_t len;
    uint8_t *data = read_all(FIXTURE, &len);
    if (!data) return;
    fw_err err;
    int iters = 200;
    uint64_t t0 = fw_now_ns();
    for (int i = 0; i < iters; i++) {
        fw_bundle *b;
        if (fw_bundle_load_mem(data, len, &b, &err)) break;
        fw_bundle_free(b);
    }
    double us = (double)(fw_now_ns() - t0) / 1e3 / iters;
    printf("bundle load from memory: %.1f us (%zu bytes)\n", us, len);
    CHECK(us < 5000); /* generous: ASan and a busy machine; bench/registry measures the real figure */
    fw_free(data);
}

static void test_reference_profile(void) {
    fw_dataset *ds = load_tiny();
    if (!ds) return;
    const char *cols[] = {"glucose", "insulin", "diabetes"};
    double pred[6] = {0.1, 0.9, 0.2, 0.8, 0.3, 0.7};
    fw_reference *r;
    fw_err err;
    CHECK_OK(fw_reference_build(ds, NULL, 0, cols, 3, pred, 6, 1, 4, &r, &err));
    if (!r) {
        fw_dataset_free(ds);
        return;
    }
    const fw_ref_column *g = fw_reference_column(r, "glucose");
    CHECK(g != NULL);
    if (g) {
        CHECK_EQ(g->n_rows, 100);
        uint64_t total = g->n_missing;
        for (uint32_t i = 0; i < g->n_bins; i++) total += g->counts[i];
        CHECK_EQ(total, 100);
        CHECK(g->min <= g->edges[0] && g->max == g->edges[g->n_bins]);
    }
    const fw_ref_column *ins = fw_reference_column(r, "insulin");
    CHECK(ins && ins->n_missing > 0 && ins->n_missing < 100);
    const fw_ref_column *d = fw_reference_column(r, "diabetes");
    CHECK(d && d->n_top == 2 && d->n_distinct == 2);
    if (d && d->n_top == 2) {
        CHECK_EQ(d->top_counts[0] + d->top_counts[1], 100);
        CHECK(d->top_counts[0] >= d->top_counts[1]);
    }
    CHECK_EQ(r->n_outputs, 1);
    uint64_t pt = 0;
    for (uint32_t i = 0; i < r->pred[0].n_bins; i++) pt += r->pred[0].counts[i];
    CHECK_EQ(pt, 6);
    fw_buf a, b;
    fw_buf_init(&a);
    fw_buf_init(&b);
    CHECK_OK(fw_reference_save(r, &a));
    fw_reference *r2;
    CHECK_OK(fw_reference_load(a.data, a.len, &r2, &err));
    if (r2) {
        CHECK_OK(fw_reference_save(r2, &b));
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        fw_reference_free(r2);
    }
    /* every truncation is refused cleanly */
    for (size_t cut = 0; cut < a.len; cut += 7) {
        fw_reference *r3 = NULL;
        CHECK(fw_reference_load(a.data, cut, &r3, &err) != FW_OK);
        CHECK(r3 == NULL);
    }
    CHECK_EQ(fw_reference_build(ds, NULL, 0, (const char *[]){"nope"}, 1, NULL, 0, 0, 4, &r2, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "nope");
    fw_buf_free(&a);
    fw_buf_free(&b);
    fw_reference_free(r);
    fw_dataset_free(ds);
}

/* The bins' counts match a search of every value (the selection's partition shortcut is exact
 * with many ties, missing values and a constant column), and the same bytes come out for any
 * thread count. */
static void test_reference_counts_and_threads(void) {
    const char *names[] = {"ties", "wide", "const", "cat"};
    fw_col_type types[] = {FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_NUMERIC, FW_COL_CATEGORICAL};
    fw_dataset *ds = NULL;
    CHECK_OK(fw_dataset_new(4, names, types, &ds));
    if (!ds) return;
    uint64_t x = 12345;
    size_t n = 5000;
    for (size_t r = 0; r < n; r++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        CHECK_OK(fw_dataset_append_row(ds));
        fw_dataset_set_num(ds, 0, r, r % 11 == 0 ? NAN : (double)((x >> 33) % 7));
        fw_dataset_set_num(ds, 1, r, (double)(x >> 11) / 9007199254740992.0 - 0.5);
        fw_dataset_set_num(ds, 2, r, 3.0);
        const char *c = (x >> 40) % 3 ? "a" : "b";
        CHECK_OK(fw_dataset_set_str(ds, 3, r, c, 1));
    }
    uint32_t rows[4000];
    for (size_t i = 0; i < 4000; i++) rows[i] = (uint32_t)(i * 5 / 4);
    const char *cols[] = {"ties", "wide", "const", "cat"};
    fw_reference *a = NULL, *b = NULL;
    fw_err err;
    CHECK_OK(fw_reference_build_threads(ds, rows, 4000, cols, 4, NULL, 0, 0, 10, 1, &a, &err));
    CHECK_OK(fw_reference_build_threads(ds, rows, 4000, cols, 4, NULL, 0, 0, 10, 3, &b, &err));
    if (!a || !b) {
        fw_reference_free(a);
        fw_reference_free(b);
        fw_dataset_free(ds);
        return;
    }
    for (size_t j = 0; j < 3; j++) {
        const fw_ref_column *c = &a->cols[j];
        uint64_t want[4096] = {0};
        for (size_t i = 0; i < 4000; i++) {
            double v = ds->cols[j].num[rows[i]];
            if (isnan(v)) continue;
            uint32_t k = 0; /* the last bin whose lower edge is <= v, by a plain scan */
            for (uint32_t e = 1; e < c->n_bins; e++)
                if (c->edges[e] <= v) k = e;
            want[k]++;
        }
        for (uint32_t k = 0; k < c->n_bins; k++)
            CHECK_MSG(c->counts[k] == want[k], "%s bin %u: %llu, want %llu", c->name, k,
                      (unsigned long long)c->counts[k], (unsigned long long)want[k]);
    }
    CHECK_EQ(a->cols[2].n_bins, 1);
    fw_buf ba, bb;
    fw_buf_init(&ba);
    fw_buf_init(&bb);
    CHECK_OK(fw_reference_save(a, &ba));
    CHECK_OK(fw_reference_save(b, &bb));
    CHECK(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0);
    fw_buf_free(&ba);
    fw_buf_free(&bb);
    fw_reference_free(a);
    fw_reference_free(b);
    fw_dataset_free(ds);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_fixture_v1_loads);
    TEST_RUN(test_fixture_v1_known_answers);
    TEST_RUN(test_block_matches_record);
    TEST_RUN(test_copy_is_byte_identical_and_fallbacks);
    TEST_RUN(test_damaged_fixture_refused);
    TEST_RUN(test_load_time);
    TEST_RUN(test_reference_profile);
    TEST_RUN(test_reference_counts_and_threads);
    return fw_test_report(argv[0]);
}
