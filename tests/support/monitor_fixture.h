/* monitor_fixture.h — owns the monitor tests' artifact fixture: the checked-in v1 artifact
 * (tests/artifact/fixtures/v1.fwm) as a served model, a reference built from its training file,
 * and rows drawn from that reference (with an optional glucose shift). Header-only (static
 * functions); include it after test.h. */
#ifndef FW_TEST_MONITOR_FIXTURE_H
#define FW_TEST_MONITOR_FIXTURE_H

#include "test.h"

#include "artifact/artifact.h"
#include "data/load.h"
#include "monitor/monitor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FW_TEST_TINY_ARTIFACT "tests/artifact/fixtures/v1.fwm"

/* The v1 artifact loaded into *bp (caller frees with fw_bundle_free, after the model) as served
 * model "tiny" version 1 (caller unrefs), or NULL with the failure recorded. */
__attribute__((unused)) static fw_srv_model *fw_test_tiny_model(fw_bundle **bp) {
    fw_err err;
    if (fw_bundle_load_file(FW_TEST_TINY_ARTIFACT, bp, &err) != FW_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return NULL;
    }
    const fw_pipeline *pl = fw_bundle_pipeline(*bp);
    fw_srv_model *m = fw_srv_model_new("tiny", "1");
    size_t n = fw_pipeline_n_inputs(pl);
    const char *names[32];
    for (size_t i = 0; i < n && i < 32; i++) names[i] = fw_pipeline_input_name(pl, i);
    CHECK_OK(fw_srv_model_set_inputs(m, names, n));
    m->pipeline = pl;
    m->bundle = *bp;
    m->task = fw_bundle_task(*bp);
    m->n_outputs = fw_bundle_n_outputs(*bp);
    m->threshold = fw_bundle_threshold(*bp);
    return m;
}

/* The v1 artifact predates the reference section: one built from its training file, with the
 * model's predictions on it as the output histogram (caller frees), or NULL (failure recorded). */
__attribute__((unused)) static fw_reference *fw_test_tiny_reference(fw_srv_model *m, fw_bundle *b) {
    fw_dataset *ds = NULL;
    fw_err err;
    CHECK_OK(fw_data_load("tests/artifact/fixtures/tiny.csv", NULL, &ds, NULL, &err));
    if (!ds) return NULL;
    double *scores = calloc(ds->n_rows, sizeof *scores);
    CHECK_OK(fw_bundle_predict_block(b, ds, 1, scores, NULL, NULL, &err));
    fw_reference *ref = NULL;
    CHECK_OK(fw_reference_build(ds, NULL, 0, (const char *const *)m->input_names, m->n_inputs, scores, ds->n_rows, 1, 0,
                                &ref, &err));
    free(scores);
    fw_dataset_free(ds);
    return ref;
}

/* A value drawn from reference column c: a bin by its count, uniform inside it (two draws of the
 * tests' generator, state *seed). */
__attribute__((unused)) static double fw_test_ref_draw(const fw_ref_column *c, unsigned *seed) {
    uint64_t total = 0;
    for (uint32_t b = 0; b < c->n_bins; b++) total += c->counts[b];
    double u[2];
    fw_test_uniforms(seed, u, 2);
    double at = (u[0] + 1) / 2 * (double)total;
    uint32_t b = 0;
    for (double acc = 0; b + 1 < c->n_bins && (acc += (double)c->counts[b]) <= at; b++) {}
    return c->edges[b] + (u[1] + 1) / 2 * (c->edges[b + 1] - c->edges[b]);
}

/* Row r of a stream of m's inputs into v[0..min(n_inputs, 32)): each value drawn from its
 * reference column (0 where ref has none), glucose moved up by a sixth of its reference range
 * (a rough one-"SD" shift) from row shift_at on (shift_at < 0: never). */
__attribute__((unused)) static void fw_test_tiny_row(const fw_srv_model *m, const fw_reference *ref, long r,
                                                     long shift_at, unsigned *seed, fw_value *v) {
    for (size_t i = 0; i < m->n_inputs && i < 32; i++) {
        const fw_ref_column *c = fw_reference_column(ref, m->input_names[i]);
        double x = c && c->n_bins ? fw_test_ref_draw(c, seed) : 0;
        if (shift_at >= 0 && r >= shift_at && !strcmp(m->input_names[i], "glucose")) x += (c->max - c->min) / 6;
        v[i] = (fw_value){FW_VALUE_NUMBER, x, NULL, 0};
    }
}

#endif
