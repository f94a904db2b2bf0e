/* test_experiment_cli.c — `flywheel experiment analyze` and `flywheel experiment report`, black-box
 * through the real binary: the contract keys of --json and of --every N (JSON Lines, the last line
 * the --json document), errors naming file:line:column and the exit code, and the report from the
 * store: predictions and feedback events written through the store's log interface read back by
 * `report NAME --json` byte-identical to `analyze` of the same events as a CSV (shadow records,
 * other models and feedback for unknown requests left out), plus --html. */
#include "store/store.h"
#include "test.h"
#include "backend.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static double unif(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

static char path_buf[4096];
static const char *tpath(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", fw_test_tmpdir(), name);
    return path_buf;
}

/* A CSV of n_units units, treatment clicking at (1 + lift) times the control's 10%. */
static void write_events(const char *name, int n_units, double lift) {
    FILE *f = fopen(tpath(name), "w");
    fprintf(f, "unit,variant,time,metric,value,pre\n");
    long t = 0;
    for (int u = 0; u < n_units; u++) {
        int b = unif() < 0.5;
        double pre = unif();
        fprintf(f, "user%d,%s,%ld,exposure,,%.3f\n", u, b ? "challenger" : "primary", ++t, pre);
        if (unif() < 0.1 * (b ? 1 + lift : 1) * (0.5 + pre)) fprintf(f, "user%d,%s,%ld,click,,\n", u, b ? "challenger" : "primary", ++t);
        if (unif() < 0.05) fprintf(f, "user%d,%s,%ld,revenue,%.2f,\n", u, b ? "challenger" : "primary", ++t, 1 + 20 * unif());
    }
    fclose(f);
}

static json_t *parse(const char *s, size_t len) {
    json_error_t je;
    json_t *j = json_loadb(s, len, 0, &je);
    CHECK_MSG(j != NULL, "not JSON (%s): %.200s", je.text, s);
    return j;
}

static void test_analyze_json(void) {
    write_events("ev.csv", 3000, 0.0);
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/ev.csv\" --json");
    CHECK_EQ(rc, 0);
    json_t *j = parse(o, strlen(o));
    CHECK(json_is_integer(json_object_get(j, "events")));
    json_t *srm = json_object_get(j, "srm");
    CHECK(json_is_number(json_object_get(srm, "p_value")));
    CHECK(!strncmp(o, "{\"events\":", 10) && strstr(o, "\"srm\":") < strstr(o, "\"metrics\":")); /* SRM first */
    json_t *ms = json_object_get(j, "metrics");
    CHECK_EQ(json_array_size(ms), 2);
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *m = json_array_get(ms, i);
        CHECK(json_is_string(json_object_get(m, "name")));
        CHECK(json_is_number(json_object_get(m, "lift")));
        CHECK(json_is_array(json_object_get(m, "interval")) && json_array_size(json_object_get(m, "interval")) == 2);
        CHECK(json_is_number(json_object_get(m, "p_value")));
        CHECK(json_is_boolean(json_object_get(m, "significant")));
    }
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 0), "kind")), "rate");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 1), "kind")), "mean");
    CHECK_STR(json_string_value(json_object_get(j, "control")), "primary");
    json_decref(j);
    free(o);
    /* text: the ratio check first */
    rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/ev.csv\" --alpha 0.01");
    CHECK_EQ(rc, 0);
    CHECK(o && strncmp(o, "sample ratio: ok", 16) == 0);
    CHECK_CONTAINS(o, "alpha: 0.01");
    free(o);
}

static void test_every(void) {
    char *all = NULL, *lines = NULL;
    CHECK_EQ(fw_test_sh(&all, "\"$FW\" experiment analyze \"$T/ev.csv\" --json"), 0);
    CHECK_EQ(fw_test_sh(&lines, "\"$FW\" experiment analyze \"$T/ev.csv\" --every 500"), 0);
    json_t *j = parse(all, strlen(all));
    long long total = json_integer_value(json_object_get(j, "events"));
    json_decref(j);
    long long want_lines = (total + 499) / 500, n = 0, last_events = 0;
    const char *p = lines, *last = lines;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        json_t *l = parse(p, (size_t)(nl - p));
        long long ev = json_integer_value(json_object_get(l, "events"));
        CHECK(ev > last_events && (ev % 500 == 0 || ev == total));
        last_events = ev;
        CHECK(json_is_number(json_object_get(json_object_get(l, "srm"), "p_value")));
        json_t *m0 = json_array_get(json_object_get(l, "metrics"), 0);
        CHECK(json_object_get(m0, "name") && json_object_get(m0, "lift") && json_object_get(m0, "interval") &&
              json_object_get(m0, "p_value") && json_is_boolean(json_object_get(m0, "significant")));
        json_decref(l);
        last = p;
        p = nl + 1;
        n++;
    }
    CHECK_EQ(n, want_lines);
    CHECK_STR(last, all); /* the last line is the report at the end */
    free(all);
    free(lines);
}

static void test_errors(void) {
    FILE *f = fopen(tpath("bad.csv"), "w");
    fprintf(f, "unit,variant,time,metric,value\nu1,A,1,exposure,\nu2,B,2,click,1x\n");
    fclose(f);
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/bad.csv\" --json 2>&1");
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(o, "bad.csv:3:14: column 'value': '1x' is not a number");
    free(o);
    rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/missing.csv\" 2>&1");
    CHECK_EQ(rc, 1);
    CHECK_CONTAINS(o, "missing.csv");
    free(o);
    rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/ev.csv\" --metric ctr=click 2>&1");
    CHECK_EQ(rc, 2);
    CHECK_CONTAINS(o, "--metric");
    free(o);
    rc = fw_test_sh(&o, "\"$FW\" experiment frobnicate x 2>&1");
    CHECK_EQ(rc, 2);
    free(o);
    rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/ev.csv\" --every 0 2>&1");
    CHECK_EQ(rc, 2);
    free(o);
}

static void test_declared_metrics_and_srm(void) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/ev.csv\" --json --metric ctr=click:rate:increase:0.1 "
                            "--weight primary=0.9 --weight challenger=0.1");
    CHECK_EQ(rc, 0);
    json_t *j = parse(o, strlen(o));
    json_t *ms = json_object_get(j, "metrics");
    CHECK_EQ(json_array_size(ms), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ms, 0), "name")), "ctr");
    CHECK(json_number_value(json_object_get(json_array_get(ms, 0), "min_effect")) == 0.1);
    CHECK(json_is_true(json_object_get(json_object_get(j, "srm"), "mismatch")));
    CHECK_STR(json_string_value(json_object_get(j, "decision")), "sample ratio mismatch");
    json_decref(j);
    free(o);
}

/* ---- the store ------------------------------------------------------------------------------ */

static void test_report_matches_analyze(void) {
    const char *home = fw_test_tmpdir();
    char h[4200];
    snprintf(h, sizeof h, "%s/home", home);
    fw_err err;
    fw_store *s;
    CHECK_OK(fw_store_open(h, &s, &err));
    fw_store_close(s);
    fw_store_log *l;
    CHECK_OK(fw_store_log_open(h, &l, &err));
    FILE *csv = fopen(tpath("same.csv"), "w");
    fprintf(csv, "unit,variant,time,metric,value\n");
    enum { N = 1500 };
    char rid[N][40], out[N][200];
    fw_log_pred_row rows[N + 2];
    int64_t t0 = 1796600000000;
    size_t nr = 0;
    for (int i = 0; i < N; i++) {
        const char *v = unif() < 0.5 ? "challenger" : "primary";
        snprintf(rid[i], sizeof rid[i], "req%06d", i);
        char ent[32] = "";
        if (i % 10) snprintf(ent, sizeof ent, "user%d", i % 700); /* repeat visitors; some without entity */
        if (ent[0]) snprintf(out[i], sizeof out[i], "{\"variant\":\"%s\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":\"%s\",\"answers\":[1]}", v, ent);
        else snprintf(out[i], sizeof out[i], "{\"variant\":\"%s\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":null,\"answers\":[1]}", v);
        /* a unit keeps its variant (sticky) */
        if (ent[0]) {
            int user = i % 700;
            v = user % 2 ? "challenger" : "primary";
            snprintf(out[i], sizeof out[i], "{\"variant\":\"%s\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":\"%s\",\"answers\":[1]}", v, ent);
        }
        rows[nr++] = (fw_log_pred_row){rid[i], t0 + i, "m", 1, NULL, 0, out[i], strlen(out[i]), 100, "model"};
        fprintf(csv, "%s,%s,%lld,exposure,\n", ent[0] ? ent : rid[i], v, (long long)(t0 + i));
    }
    /* not exposures: a shadow's record of request 0, another model's prediction */
    static const char shadow[] = "{\"variant\":\"shadow\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":\"x\",\"answers\":[1]}";
    rows[nr++] = (fw_log_pred_row){rid[0], t0, "m", 2, NULL, 0, shadow, strlen(shadow), 100, "model"};
    static const char other[] = "{\"variant\":\"primary\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":\"y\",\"answers\":[1]}";
    rows[nr++] = (fw_log_pred_row){"other-req", t0, "other", 1, NULL, 0, other, strlen(other), 100, "model"};
    CHECK_OK(fw_store_log_put_predictions(l, rows, nr, &err));
    fw_log_feedback_row fb[N + 1];
    size_t nf = 0;
    for (int i = 0; i < N; i++) {
        double r = unif();
        if (r < 0.2) {
            bool rev = r < 0.05;
            fb[nf++] = (fw_log_feedback_row){rid[i], t0 + 100000 + i, NULL, rev ? "purchase" : "click",
                                             rev ? (double)(i % 50) + 0.25 : NAN, "test", false, true};
            /* the unit and variant of the request's exposure */
            char unit[64];
            const char *ent = strstr(out[i], "\"entity_id\":\"");
            if (ent) {
                ent += 13;
                snprintf(unit, sizeof unit, "%.*s", (int)(strchr(ent, '"') - ent), ent);
            } else {
                memcpy(unit, rid[i], sizeof rid[i]);
            }
            const char *var = strstr(out[i], "challenger") ? "challenger" : "primary";
            if (rev) fprintf(csv, "%s,%s,%lld,purchase,%.17g\n", unit, var, (long long)(t0 + 100000 + i), (double)(i % 50) + 0.25);
            else fprintf(csv, "%s,%s,%lld,click,\n", unit, var, (long long)(t0 + 100000 + i));
        }
    }
    fb[nf++] = (fw_log_feedback_row){"unknown-request", t0, NULL, "click", NAN, "test", false, false};
    CHECK_OK(fw_store_log_put_feedback(l, fb, nf, &err));
    fw_store_log_close(l);
    fclose(csv);
    char *a = NULL, *r = NULL;
    CHECK_EQ(fw_test_sh(&a, "\"$FW\" experiment analyze \"$T/same.csv\" --json --min-units 50 --min-events 5"), 0);
    CHECK_EQ(fw_test_sh(&r, "\"$FW\" experiment report m --home \"$T/home\" --json --min-units 50 --min-events 5 "
                            "--html \"$T/r.html\""), 0);
    CHECK_MSG(a && r && strcmp(a, r) == 0, "report and analyze differ:\n%s\n%s", a ? a : "", r ? r : "");
    json_t *j = parse(r, strlen(r));
    long long want_events = N + (long long)nf - 1;
    CHECK_EQ(json_integer_value(json_object_get(j, "events")), want_events);
    CHECK_EQ(json_array_size(json_object_get(j, "metrics")), 2);
    json_decref(j);
    free(a);
    free(r);
    char *html = fw_test_slurp(tpath("r.html"), NULL);
    CHECK(html && strstr(html, "Sample ratio") && strstr(html, "purchase") && strstr(html, "</html>"));
    free(html);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report nosuch --home \"$T/home\" 2>&1"), 1);
    CHECK_CONTAINS(o, "no logged predictions of model 'nosuch'");
    free(o);
}

/* Per-slice analyses from the store: each exposure's slice is an input feature of its logged
 * request (`report --slice country`), the same bytes as `analyze` of the events with a slice column;
 * the text and the HTML have a section per slice; `report --groups` slices by the data.groups of
 * the project the model was trained with (the same bytes again). On SQLite and PostgreSQL. */
static void test_report_slices(void) {
    const char *h = fw_test_store_home("slices");
    if (!h) return;
    fw_err err;
    fw_store *s;
    CHECK_OK(fw_store_open(h, &s, &err));
    fw_store_close(s);
    fw_store_log *l;
    CHECK_OK(fw_store_log_open(h, &l, &err));
    FILE *csv = fopen(tpath("slices.csv"), "w");
    fprintf(csv, "unit,variant,time,metric,value,slice\n");
    enum { N = 800 };
    static char rid[N][32], out[N][160], in[N][80];
    fw_log_pred_row rows[N];
    fw_log_feedback_row fb[N];
    size_t nf = 0;
    int64_t t0 = 1796700000000;
    for (int i = 0; i < N; i++) {
        const char *v = i % 2 ? "challenger" : "primary", *country = (i / 2) % 2 ? "fr" : "de";
        snprintf(rid[i], sizeof rid[i], "slreq%05d", i);
        snprintf(out[i], sizeof out[i], "{\"variant\":\"%s\",\"source\":\"online\",\"protocol\":\"v1\",\"entity_id\":null,\"answers\":[1]}", v);
        snprintf(in[i], sizeof in[i], "{\"instances\":[{\"x\":%d,\"country\":\"%s\"}]}", i % 5, country);
        rows[i] = (fw_log_pred_row){rid[i], t0 + i, "sl", 1, in[i], strlen(in[i]), out[i], strlen(out[i]), 100, "model"};
        fprintf(csv, "%s,%s,%lld,exposure,,%s\n", rid[i], v, (long long)(t0 + i), country);
        /* fr clicks more on the challenger, de the same on both */
        int every = !strcmp(country, "fr") && i % 2 ? 3 : 6;
        if (i % every == 1 || i % every == 0) {
            fb[nf++] = (fw_log_feedback_row){rid[i], t0 + 50000 + i, NULL, "click", NAN, "test", false, true};
            fprintf(csv, "%s,%s,%lld,click,,\n", rid[i], v, (long long)(t0 + 50000 + i));
        }
    }
    CHECK_OK(fw_store_log_put_predictions(l, rows, N, &err));
    CHECK_OK(fw_store_log_put_feedback(l, fb, nf, &err));
    fw_store_log_close(l);
    fclose(csv);
    char *a = NULL, *r = NULL;
    CHECK_EQ(fw_test_sh(&a, "\"$FW\" experiment analyze \"$T/slices.csv\" --json --min-units 50 --min-events 5"), 0);
    CHECK_EQ(fw_test_sh(&r, "\"$FW\" experiment report sl --home '%s' --slice country --json --min-units 50 "
                            "--min-events 5 --html \"$T/sl.html\"", h), 0);
    CHECK_MSG(a && r && strcmp(a, r) == 0, "report --slice and analyze differ:\n%s\n%s", a ? a : "", r ? r : "");
    json_t *j = r ? parse(r, strlen(r)) : NULL;
    json_t *sl = json_object_get(j, "slices");
    CHECK_EQ(json_array_size(sl), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(sl, 0), "slice")), "de");
    json_t *fr = json_object_get(json_array_get(sl, 1), "report");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(fr, "variants"), 0), "units")), N / 4);
    json_t *m = json_array_get(json_object_get(fr, "metrics"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "variant")), "challenger");
    CHECK(json_is_number(json_array_get(json_object_get(m, "interval"), 0))); /* each slice, per variant, its interval */
    json_decref(j);
    free(a);
    free(r);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sl --home '%s' --slice country --min-units 50 --min-events 5", h), 0);
    CHECK_CONTAINS(o, "== slice de (its units only");
    CHECK_CONTAINS(o, "== slice fr (its units only");
    free(o);
    char *html = fw_test_slurp(tpath("sl.html"), NULL);
    CHECK(html && strstr(html, "<h2>Slice de ") && strstr(html, "<h2>Slice fr ") && strstr(html, "</html>"));
    CHECK(html && strstr(strstr(html, "<h2>Slice fr ") ? strstr(html, "<h2>Slice fr ") : html, "<table>"));
    free(html);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment analyze \"$T/slices.csv\" --slice country 2>&1"), 2);
    CHECK_CONTAINS(o, "--slice is for 'report'");
    free(o);
    /* --groups: the slices from the data.groups of the project model sl was trained with */
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sl --home '%s' --groups 2>&1", h), 1);
    CHECK_CONTAINS(o, "'sl'"); /* no such model in the registry yet */
    free(o);
    FILE *tr = fopen(tpath("sl.csv"), "w");
    fprintf(tr, "x,country,y\n");
    for (int i = 0; i < 80; i++) fprintf(tr, "%d,%s,%d\n", i % 5, i % 2 ? "fr" : "de", (i % 5 + i % 3) % 2);
    fclose(tr);
    FILE *py = fopen(tpath("sl.yaml"), "w");
    fprintf(py, "name: sl\ntask: binary\ndata:\n  train: sl.csv\n  label: y\n  groups: [country]\n");
    fclose(py);
    int rc = fw_test_sh(&o, "\"$FW\" train \"$T/sl.yaml\" --home '%s' --quiet --models linear", h);
    CHECK_MSG(rc == 0, "train sl: %s", o ? o : "");
    free(o);
    if (rc) return;
    CHECK_EQ(fw_test_sh(&a, "\"$FW\" experiment analyze \"$T/slices.csv\" --json --min-units 50 --min-events 5"), 0);
    CHECK_EQ(fw_test_sh(&r, "\"$FW\" experiment report sl --home '%s' --groups --json --min-units 50 --min-events 5 "
                            "--html \"$T/gr.html\"", h), 0);
    CHECK_MSG(a && r && strcmp(a, r) == 0, "report --groups and analyze differ:\n%s\n%s", a ? a : "", r ? r : "");
    free(a);
    free(r);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sl --home '%s' --groups --min-units 50 --min-events 5", h), 0);
    CHECK_CONTAINS(o, "==== data.groups column country");
    CHECK_CONTAINS(o, "== slice fr (its units only");
    free(o);
    html = fw_test_slurp(tpath("gr.html"), NULL);
    CHECK(html && strstr(html, "<h2>Slice de ") && strstr(html, "<h2>Slice fr ") && strstr(html, "</html>"));
    free(html);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sl --home '%s' --groups --slice country 2>&1", h), 2);
    CHECK_CONTAINS(o, "not both");
    free(o);
}

/* A shadow split's agreement report from the store: 300 requests of model "sh" answered by the
 * champion (variant primary) and scored by shadow "sh2" version 3 under the same request id; the
 * shadow answers differently on every 3rd; labels for the first 120, equal to the champion's answer.
 * `report sh` shows the disagreement, the score differences and both live accuracies in JSON (a
 * "shadow" key after the experiment's), text and HTML. */
static void test_shadow_report(void) {
    const char *h = fw_test_store_home("shadow"); /* SQLite or PostgreSQL (TEST_RUN_BACKENDS) */
    if (!h) return;
    fw_err err;
    fw_store *s;
    CHECK_OK(fw_store_open(h, &s, &err));
    fw_store_close(s);
    fw_store_log *l;
    CHECK_OK(fw_store_log_open(h, &l, &err));
    enum { N = 300 };
    static char rid[N][32], out[2 * N][200], lab[N][16];
    fw_log_pred_row rows[2 * N];
    fw_log_feedback_row fb[N];
    size_t nr = 0, nf = 0;
    int64_t t0 = 1796600000000;
    for (int i = 0; i < N; i++) {
        snprintf(rid[i], sizeof rid[i], "sreq%05d", i);
        const char *ca = i % 2 ? "yes" : "no", *xa = i % 3 == 0 ? (i % 2 ? "no" : "yes") : ca;
        snprintf(out[2 * i], sizeof out[0], "{\"variant\":\"primary\",\"source\":\"online\",\"protocol\":\"v1\","
                 "\"entity_id\":null,\"answers\":[\"%s\"],\"outputs\":[[0.5]]}", ca);
        snprintf(out[2 * i + 1], sizeof out[0], "{\"variant\":\"shadow\",\"source\":\"online\",\"protocol\":\"v1\","
                 "\"entity_id\":null,\"answers\":[\"%s\"],\"outputs\":[[0.75]]}", xa);
        rows[nr++] = (fw_log_pred_row){rid[i], t0 + i, "sh", 1, NULL, 0, out[2 * i], strlen(out[2 * i]), 100, "model"};
        rows[nr++] = (fw_log_pred_row){rid[i], t0 + i, "sh2", 3, NULL, 0, out[2 * i + 1], strlen(out[2 * i + 1]), 100, "model"};
        if (i < 120) {
            snprintf(lab[i], sizeof lab[i], "\"%s\"", ca);
            fb[nf++] = (fw_log_feedback_row){rid[i], t0 + 5000 + i, lab[i], NULL, NAN, "test", false, true};
        }
    }
    CHECK_OK(fw_store_log_put_predictions(l, rows, nr, &err));
    CHECK_OK(fw_store_log_put_feedback(l, fb, nf, &err));
    fw_store_log_close(l);
    char *o = NULL;
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sh --home '%s' --json --html \"$T/sh.html\"", h), 0);
    json_t *j = o ? parse(o, strlen(o)) : NULL;
    json_t *g = json_array_get(json_object_get(json_object_get(j, "shadow"), "shadows"), 0);
    CHECK_STR(json_string_value(json_object_get(g, "shadow")), "sh2#3");
    CHECK_EQ(json_integer_value(json_object_get(g, "requests")), N);
    json_t *dis = json_object_get(g, "disagreement");
    CHECK_EQ(json_integer_value(json_object_get(dis, "differ")), N / 3);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(g, "score_diff"), "mean_abs")), 0.25, 1e-12);
    json_t *live = json_object_get(g, "live");
    CHECK_EQ(json_integer_value(json_object_get(live, "labelled")), 120);
    CHECK_NEAR(json_number_value(json_object_get(live, "champion")), 1.0, 1e-12);
    CHECK_NEAR(json_number_value(json_object_get(live, "shadow")), 80.0 / 120, 1e-12);
    CHECK(json_is_number(json_object_get(j, "events"))); /* the experiment's keys first, as before */
    json_decref(j);
    free(o);
    CHECK_EQ(fw_test_sh(&o, "\"$FW\" experiment report sh --home '%s'", h), 0);
    CHECK_CONTAINS(o, "shadow sh2#3: 300 requests");
    CHECK_CONTAINS(o, "answers differ: 33.33% of 300");
    CHECK_CONTAINS(o, "live accuracy on the same 120 labelled requests: champion 1, shadow 0.6667");
    free(o);
    char *html = fw_test_slurp(tpath("sh.html"), NULL);
    CHECK(html && strstr(html, "<h2>Shadow agreement</h2>") && strstr(html, "sh2#3") && strstr(html, "</html>"));
    free(html);
}

int main(void) {
    if (!fw_test_bin()) {
        printf("test_experiment_cli: FLYWHEEL_BIN not set\n");
        return fw_test_report("test_experiment_cli");
    }
    TEST_RUN(test_analyze_json);
    TEST_RUN(test_every);
    TEST_RUN(test_errors);
    TEST_RUN(test_declared_metrics_and_srm);
    TEST_RUN(test_report_matches_analyze);
    TEST_RUN_BACKENDS(test_shadow_report);
    TEST_RUN_BACKENDS(test_report_slices);
    return fw_test_report("test_experiment_cli");
}
