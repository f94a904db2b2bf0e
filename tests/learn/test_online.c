/* test_online.c — the online learner (src/learn/online.c) on a linear model trained on pima:
 * progressive validation (each example scored before it is learned: the first batch's learner loss
 * equals the champion's, the weights being the same), recovery after a concept change (labels
 * flipped: the learner's loss falls below the champion's and the gate promotes), the negative
 * control (the same distribution: no promotion), the change test that resets the step sizes, a snapshot reproduced byte for byte from the
 * sequence it records, label and input refusals. */
#include "test.h"

#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "core/alloc.h"
#include "learn/online.h"

#include <stdlib.h>
#include <string.h>

static char *text, *lines[1000], header[512];
static size_t n_lines;
static uint8_t *art;
static size_t art_len;

static bool setup(void) {
    if (art) return true;
    if (!fw_test_bin()) return false;
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" && \"$FW\" train \"$T/pima.yaml\" --home \"$T/h\" "
                            "--quiet --models linear --out \"$T/out\"");
    CHECK_MSG(rc == 0, "train: %s", o ? o : "");
    free(o);
    o = NULL;
    if (rc) return false;
    rc = fw_test_sh(&o, "ls \"$T\"/out/*.fwm");
    char path[800];
    snprintf(path, sizeof path, "%s", o ? o : "");
    free(o);
    path[strcspn(path, "\n")] = 0;
    art = (uint8_t *)fw_test_slurp(path, &art_len);
    if (!text) text = fw_test_slurp("examples/pima/pima.csv", NULL);
    CHECK_MSG(art && text, "no artifact (%s) or no pima.csv", path);
    if (!art || !text) return false;
    n_lines = fw_test_csv_lines(text, header, sizeof header, lines, 1000);
    return n_lines > 100;
}

static size_t split(char *line, char **f) { return fw_test_split_commas(line, f, 16); }

/* Feeds example i of a stream (row (i * 7919) % n_lines; flipped labels when flip) to o. */
static fw_status feed(fw_online *o, size_t i, bool flip, char *rid_out) {
    char hb[512], buf[512], *h[16], *f[16];
    snprintf(hb, sizeof hb, "%s", header);
    size_t nh = split(hb, h);
    snprintf(buf, sizeof buf, "%s", lines[(i * 7919) % n_lines]);
    size_t n = split(buf, f);
    const fw_pipeline *pl = fw_online_pipeline(o);
    size_t ni = fw_pipeline_n_inputs(pl);
    fw_value vals[32];
    for (size_t k = 0; k < ni && k < 32; k++) vals[k] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    const char *label = NULL;
    for (size_t k = 0; k < n && k < nh; k++) {
        if (!strcmp(h[k], "diabetes")) {
            label = f[k];
            continue;
        }
        int j = fw_pipeline_input_index(pl, h[k], strlen(h[k]));
        if (j >= 0 && *f[k]) vals[j] = (fw_value){FW_VALUE_NUMBER, atof(f[k]), NULL, 0};
    }
    const fw_target *t = NULL;
    (void)t;
    char lab[64];
    snprintf(lab, sizeof lab, "%s", label ? label : "");
    if (flip) snprintf(lab, sizeof lab, "%s", !strcmp(label, "pos") ? "neg" : "pos");
    char rid[32];
    snprintf(rid, sizeof rid, "r%zu", i);
    if (rid_out) strcpy(rid_out, rid);
    fw_online_label y = {lab, strlen(lab), false, 0};
    fw_err err;
    return fw_online_add(o, rid, vals, &y, &err);
}

static fw_online *make(size_t batch, size_t snap_rows) {
    fw_online_settings s;
    fw_online_settings_init(&s);
    s.batch = batch;
    s.snapshot_rows = snap_rows;
    s.snapshot_s = 0;
    s.gate_min_rows = 100;
    fw_online *o = NULL;
    fw_err err;
    fw_status st = fw_online_new(art, art_len, "pima@1", &s, &o, &err);
    CHECK_MSG(st == 0, "fw_online_new: %s", err.msg);
    return o;
}

static void test_progressive_first_batch(void) {
    if (!setup()) return;
    fw_online *o = make(16, 1000);
    if (!o) return;
    for (size_t i = 0; i < 16; i++) CHECK_OK(feed(o, i, false, NULL));
    fw_online_stats s;
    fw_online_stats_get(o, &s);
    CHECK_EQ(s.examples, 16);
    /* scored before learned: the learner's weights were the champion's for the whole first batch */
    CHECK(s.recent_loss == s.recent_champion_loss);
    for (size_t i = 16; i < 48; i++) CHECK_OK(feed(o, i, false, NULL));
    fw_online_stats_get(o, &s);
    CHECK(s.recent_loss != s.recent_champion_loss); /* learned: now different weights */
    CHECK_EQ(s.examples, 48);
    for (size_t i = 48; i < 50; i++) CHECK_OK(feed(o, i, false, NULL));
    fw_online_stats_get(o, &s);
    CHECK_EQ(s.examples, 48);
    CHECK_EQ(s.queued, 2);
    fw_online_free(o);
}

static void test_change_promotes(void) {
    if (!setup()) return;
    fw_online *o = make(16, 800);
    if (!o) return;
    bool due = false;
    for (size_t i = 0; i < 800 && !due; i++) {
        CHECK_OK(feed(o, i, true, NULL));
        due = fw_online_snapshot_due(o, 0);
    }
    CHECK(due);
    fw_buf b;
    fw_buf_init(&b);
    fw_online_gate g;
    fw_err err;
    CHECK_OK(fw_online_snapshot(o, 0, &b, &g, &err));
    CHECK_EQ(g.n, 800);
    CHECK_MSG(g.challenger_loss < g.champion_loss, "learner %g, champion %g", g.challenger_loss, g.champion_loss);
    CHECK_EQ(g.decision, FW_ONLINE_PROMOTE);
    fw_bundle *bu = NULL;
    CHECK_OK(fw_bundle_load_mem(b.data, b.len, &bu, &err)); /* a loadable artifact */
    CHECK_STR(fw_bundle_meta_str(bu, "lineage.parent"), "pima@1");
    fw_bundle_free(bu);
    fw_buf_free(&b);
    fw_online_free(o);
}

static void test_no_change_no_promotion(void) {
    if (!setup()) return;
    for (size_t seed = 0; seed < 3; seed++) {
        fw_online *o = make(16, 400);
        if (!o) return;
        for (size_t i = 0; i < 400; i++) CHECK_OK(feed(o, i + seed * 400, false, NULL));
        fw_buf b;
        fw_buf_init(&b);
        fw_online_gate g;
        fw_err err;
        CHECK(fw_online_snapshot_due(o, 0));
        CHECK_OK(fw_online_snapshot(o, 0, &b, &g, &err));
        CHECK_MSG(g.decision != FW_ONLINE_PROMOTE, "seed %zu: promoted without a change: %g -> %g [%g, %g]", seed,
                  g.champion_loss, g.challenger_loss, g.r.lo, g.r.hi);
        fw_buf_free(&b);
        fw_online_free(o);
    }
}

/* The snapshot's recorded sequence, replayed from the parent, gives the same bytes; a second
 * snapshot continues from the first (its parent). */
/* The change test: a stream as trained (1,500 examples) resets nothing; after the labels flip the
 * learner's loss rises and stays up, it forgets its step sizes (resets >= 1) and learns the new
 * world: its recent loss falls below the champion's. */
static void test_change_resets_rates(void) {
    if (!setup()) return;
    fw_online *o = make(1, 100000);
    if (!o) return;
    for (size_t i = 0; i < 1500; i++) CHECK_OK(feed(o, i, false, NULL));
    fw_online_stats s;
    fw_online_stats_get(o, &s);
    CHECK_EQ(s.resets, 0);
    for (size_t i = 1500; i < 2500; i++) CHECK_OK(feed(o, i, true, NULL));
    fw_online_stats_get(o, &s);
    CHECK_MSG(s.resets >= 1, "no reset after the change");
    CHECK_MSG(s.recent_loss < s.recent_champion_loss, "recent loss %.4f, champion's %.4f", s.recent_loss,
              s.recent_champion_loss);
    fw_buf b;
    fw_buf_init(&b);
    fw_online_stats_json(&s, &b);
    fw_buf_put_u8(&b, 0);
    CHECK_CONTAINS((const char *)b.data, "\"resets\":");
    fw_buf_free(&b);
    fw_online_free(o);
}

/* The summed progressive loss of every example learned so far. */
static double loss_sum(fw_online *o) {
    fw_online_stats s;
    fw_online_stats_get(o, &s);
    return s.examples ? s.loss * (double)s.examples : 0;
}

/* What a detected change resets: with refit_epochs the learner is also refitted on the examples
 * since the estimated change point, so its progressive loss after the change falls faster than with
 * fresh step sizes alone (refit_epochs 0, the learner before); before the change nothing differs. */
static void test_change_refit(void) {
    if (!setup()) return;
    fw_online *o[2] = {NULL, NULL};
    double before[2], after[2];
    for (int k = 0; k < 2; k++) {
        fw_online_settings s;
        fw_online_settings_init(&s);
        s.batch = 1;
        s.snapshot_rows = 100000;
        s.snapshot_s = 0;
        s.refit_epochs = k ? 5 : 0;
        fw_err err;
        CHECK_OK(fw_online_new(art, art_len, "pima@1", &s, &o[k], &err));
        if (!o[k]) return;
        for (size_t i = 0; i < 1500; i++) CHECK_OK(feed(o[k], i, false, NULL));
        before[k] = loss_sum(o[k]);
        for (size_t i = 1500; i < 1650; i++) CHECK_OK(feed(o[k], i, true, NULL));
        double mid = loss_sum(o[k]);
        for (size_t i = 1650; i < 1950; i++) CHECK_OK(feed(o[k], i, true, NULL));
        after[k] = (loss_sum(o[k]) - mid) / 300; /* the 300 examples from 150 after the change */
        fw_online_stats st;
        fw_online_stats_get(o[k], &st);
        CHECK_MSG(st.resets >= 1, "refit_epochs %d: no reset after the change", s.refit_epochs);
    }
    CHECK_NEAR(before[0], before[1], 0); /* the same learner until the change is detected */
    CHECK_MSG(after[1] < after[0] * 0.9, "mean loss 150..450 examples after the change: refit %.4f, step sizes only %.4f",
              after[1], after[0]);
    fw_online_free(o[0]);
    fw_online_free(o[1]);
}

static void test_reproducible(void) {
    if (!setup()) return;
    fw_online *o = make(8, 200);
    if (!o) return;
    fw_buf b1, b2;
    fw_buf_init(&b1);
    fw_buf_init(&b2);
    fw_online_gate g;
    fw_err err;
    size_t i = 0;
    for (; !fw_online_snapshot_due(o, 0); i++) CHECK_OK(feed(o, i, i > 100, NULL));
    CHECK_OK(fw_online_snapshot(o, 0, &b1, &g, &err));
    CHECK_OK(fw_online_committed(o, "pima@2", b1.data, b1.len, false));
    for (; !fw_online_snapshot_due(o, 0); i++) CHECK_OK(feed(o, i, i > 100, NULL));
    CHECK_OK(fw_online_snapshot(o, 0, &b2, &g, &err));
    fw_online_free(o);
    /* replay the second from the first with its recorded sequence */
    fw_artifact *a = NULL;
    CHECK_OK(fw_artifact_open(b2.data, b2.len, &a, &err));
    const uint8_t *seq = NULL;
    size_t n = 0;
    CHECK(a && fw_artifact_bytes(a, "learn.online.sequence", &seq, &n));
    CHECK_STR(fw_artifact_str(a, "lineage.parent"), "pima@2");
    fw_online_settings s;
    fw_online_settings_init(&s);
    s.batch = 8;
    s.snapshot_rows = 200;
    s.snapshot_s = 0;
    s.gate_min_rows = 100;
    fw_online *r = NULL;
    CHECK_OK(fw_online_new(b1.data, b1.len, "pima@2", &s, &r, &err));
    CHECK_STR(fw_artifact_str(a, "learn.online.champion"), "pima@1");
    if (r) CHECK_OK(fw_online_set_champion(r, "pima@1", art, art_len)); /* the champion it was judged against */
    char *copy = calloc(1, n + 1);
    if (n) memcpy(copy, seq, n);
    size_t rows = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); r && l; l = strtok_r(NULL, "\n", &save)) {
        size_t k = (size_t)atol(l + 1); /* "r<k>\t<label>": re-derive the example */
        CHECK_OK(feed(r, k, k > 100, NULL));
        rows++;
    }
    CHECK_EQ(rows, 200);
    fw_buf b3;
    fw_buf_init(&b3);
    CHECK(r && fw_online_snapshot_due(r, 0));
    if (r) CHECK_OK(fw_online_snapshot(r, 0, &b3, &g, &err));
    CHECK_EQ(b3.len, b2.len);
    CHECK(b3.len == b2.len && !memcmp(b3.data, b2.data, b2.len));
    fw_online_free(r);
    fw_artifact_close(a);
    free(copy);
    fw_buf_free(&b1);
    fw_buf_free(&b2);
    fw_buf_free(&b3);
}

static void test_refusals(void) {
    if (!setup()) return;
    fw_online *o = make(4, 100);
    if (!o) return;
    fw_value vals[32];
    for (size_t k = 0; k < 32; k++) vals[k] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    fw_err err;
    fw_online_label bad = {"maybe", 5, false, 0};
    CHECK_EQ(fw_online_add(o, "x1", vals, &bad, &err), FW_EDATA);
    CHECK_CONTAINS(err.msg, "'maybe' is not a class");
    fw_online_label one = {NULL, 0, true, 1};
    CHECK_OK(fw_online_add(o, "x2", vals, &one, &err)); /* 1 is the positive class of a binary model */
    CHECK_EQ(fw_online_add(o, "x\t3", vals, &one, &err), FW_EDATA);
    fw_online_stats s;
    fw_online_stats_get(o, &s);
    CHECK_EQ(s.refused, 2);
    CHECK_EQ(s.queued, 1);
    fw_online_free(o);
    /* a model that is not linear is refused */
    char *out = NULL;
    int rc = fw_test_sh(NULL, "\"$FW\" train \"$T/pima.yaml\" --home \"$T/h2\" --quiet --models gbdt --out \"$T/g\"");
    CHECK_EQ(rc, 0);
    if (rc == 0) rc = fw_test_sh(&out, "ls \"$T\"/g/*.fwm");
    if (rc == 0 && out) {
        out[strcspn(out, "\n")] = 0;
        size_t gl = 0;
        uint8_t *ga = (uint8_t *)fw_test_slurp(out, &gl);
        fw_online_settings st;
        fw_online_settings_init(&st);
        fw_online *g = NULL;
        CHECK_EQ(fw_online_new(ga, gl, "pima@1", &st, &g, &err), FW_EUNSUPPORTED);
        CHECK_CONTAINS(err.msg, "linear family");
        free(ga);
    }
    free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_progressive_first_batch);
    TEST_RUN(test_change_promotes);
    TEST_RUN(test_no_change_no_promotion);
    TEST_RUN(test_change_resets_rates);
    TEST_RUN(test_change_refit);
    TEST_RUN(test_reproducible);
    TEST_RUN(test_refusals);
    free(art);
    free(text);
    return fw_test_report(argv[0]);
}
