/* test_api.c — the public prediction API (include/flywheel.h) against the real binary: for every
 * model family the trainer produces (baseline, linear, gbdt, knn, hier; ranking families) and every
 * task (binary, multiclass, multilabel, regression, ranking), each data row of the training file
 * read as CSV cells (FW_FIELD_CSV) gives, bit for bit, the scores `flywheel batch` writes and
 * exactly the text of its `prediction` column; by name (fw_predict_record), by index
 * (fw_predict_values) and from memory (fw_predictor_load_mem) the same; four threads sharing one
 * predictor agree with one thread; the single-row calls make no allocation once the context
 * exists (a counting allocator hook); errors come back as codes with messages. Models are trained
 * by FLYWHEEL_BIN (tests/run.sh sets it); the test skips without it. */
#include "flywheel.h"
#include "test.h"
#include "csv_rows.h"
#include "../serve/client.h"
#include "data/scalar.h"

#include <jansson.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- counting allocator (installed first thing in main) ---- */
static atomic_long g_allocs;
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    atomic_fetch_add(&g_allocs, 1);
    return realloc(ptr, nsize);
}

/* ---- models ---- */
static char *tmp(const char *name) {
    static char buf[64][1024];
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, 1024, "%s/%s", fw_test_tmpdir(), name);
    return p;
}

/* Trains `models` on what (project file or CSV with --label) into DIR and registers it in the
 * shared home (the server test serves it from there); returns DIR/<fwm> or NULL, and the registered
 * name and version. */
static char *train(const char *what, const char *label, const char *models, const char *tag, const char *fwm,
                   char *name, long *version) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "\"$FW\" train '%s' %s%s --models %s --out '%s' --json --quiet --threads 1 --home '%s'",
                        what, label ? "--label " : "", label ? label : "", models, tmp(tag), tmp("home"));
    CHECK_MSG(rc == 0, "train %s --models %s exited %d: %.300s", what, models, rc,
              out && strlen(out) > 300 ? out + strlen(out) - 300 : out ? out : "");
    const char *r = out ? strstr(out, "\"registered\":{\"name\":\"") : NULL;
    name[0] = '\0';
    *version = 0;
    if (r) sscanf(r, "\"registered\":{\"name\":\"%63[^\"]\",\"version\":%ld", name, version);
    CHECK_MSG(name[0] && *version > 0, "train %s --models %s: no registered version in --json", what, models);
    free(out);
    char *p = malloc(1100);
    snprintf(p, 1100, "%s/%s", tmp(tag), fwm);
    if (rc != 0 || access(p, F_OK) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void make_multiclass(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,shade,kind\n");
    unsigned s = 777;
    for (int i = 0; i < 240; i++) {
        s = s * 1103515245u + 12345u;
        double a = (double)(s >> 8 & 1023) / 100.0;
        s = s * 1103515245u + 12345u;
        double b = (double)(s >> 8 & 1023) / 100.0;
        /* quoted CSV cells: a comma, doubled quotes */
        const char *shade = (s >> 20) & 1 ? "\"dark, deep\"" : "\"light \"\"pale\"\"\"";
        const char *kind = a + b < 8 ? "small" : a > b ? "wide" : "tall";
        if (i % 17 == 0) kind = "tall";
        if (i % 13 == 0) fprintf(f, "%.2f,NA,%s,%s\n", a, shade, kind);  /* missing token */
        else if (i % 11 == 0) fprintf(f, ",%.2f,,%s\n", b, kind);         /* empty cells */
        else fprintf(f, "%.2f,%.2f,%s,%s\n", a, b, shade, kind);
    }
    fclose(f);
}

static void make_multilabel(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/ml.csv", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "x,y,color,red,big\n");
    unsigned s = 99;
    for (int i = 0; i < 200; i++) {
        s = s * 1103515245u + 12345u;
        double x = (double)(s >> 8 & 1023) / 100.0;
        s = s * 1103515245u + 12345u;
        double y = (double)(s >> 8 & 1023) / 100.0;
        const char *color = (s >> 20) % 3 == 0 ? "red" : (s >> 20) % 3 == 1 ? "blue" : "green";
        int red = strcmp(color, "red") == 0 || (i % 9 == 0), big = x + y > 10;
        fprintf(f, "%.2f,%.2f,%s,%d,%d\n", x, y, color, red, big);
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/flywheel.yaml", dir);
    f = fopen(p, "w");
    fprintf(f, "name: ml\ntask: multilabel\ndata:\n  train: ml.csv\n  label: [red, big]\n");
    fclose(f);
}

/* A binary task with a text column (hashed, TF-IDF) and a timestamp column (ISO 8601 dates). */
static void make_reviews(const char *dir) {
    static const char *const good[] = {"great", "fast", "love", "perfect", "works"};
    static const char *const bad[] = {"broken", "slow", "refund", "awful", "late"};
    static const char *const filler[] = {"the", "box", "item", "it", "was", "and", "shipping", "again"};
    char p[1200];
    snprintf(p, sizeof p, "%s/reviews.csv", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "posted,review,stars,verdict\n");
    unsigned s = 31;
    for (int i = 0; i < 300; i++) {
        s = s * 1103515245u + 12345u;
        int pos = (s >> 16) % 2, words = 3 + (int)((s >> 8) % (i % 10 == 0 ? 120 : 12));
        fprintf(f, "2024-%02d-%02d,\"", 1 + (int)(s >> 4) % 12, 1 + (int)(s >> 12) % 28);
        for (int w = 0; w < words; w++) {
            s = s * 1103515245u + 12345u;
            const char *word = (s >> 20) % 3 == 0 ? (pos ? good : bad)[(s >> 8) % 5] : filler[(s >> 8) % 8];
            fprintf(f, "%s%s", w ? " " : "", word);
        }
        fprintf(f, "\",%d,%s\n", (int)((s >> 9) % 5) + 1, pos ? "good" : "bad");
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/flywheel.yaml", dir);
    f = fopen(p, "w");
    fprintf(f, "name: reviews\ntask: binary\ndata:\n  train: reviews.csv\n  label: verdict\n  positive: good\n"
               "features:\n  - name: review\n    type: text\n  - name: posted\n    type: timestamp\n");
    fclose(f);
}

typedef struct model_case {
    char tag[64];          /* output name */
    char data[1100];       /* the CSV scored */
    char *fwm;
    const char *family;    /* expected fw_predictor_family */
    const char *task;
    char name[64];         /* registered as name@version */
    long version;
} model_case;

static model_case g_cases[32];
static size_t g_n_cases;

static void add_case(const char *tag, const char *what, const char *label, const char *models, const char *fwm_name,
                     const char *data, const char *family, const char *task) {
    model_case *c = &g_cases[g_n_cases];
    memset(c, 0, sizeof *c);
    snprintf(c->tag, sizeof c->tag, "%s", tag);
    snprintf(c->data, sizeof c->data, "%s", data);
    c->family = family;
    c->task = task;
    c->fwm = train(what, label, models, tag, fwm_name, c->name, &c->version);
    CHECK_MSG(c->fwm != NULL, "%s: no artifact", tag);
    if (c->fwm) g_n_cases++;
}

static void train_all(void) {
    static bool done;
    if (done) return;
    done = true;
    static const char *const bin_f[] = {"baseline", "linear", "gbdt", "knn"};
    for (int i = 0; i < 4; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "pima_%s", bin_f[i]);
        add_case(tag, "examples/pima/flywheel.yaml", NULL, bin_f[i], "pima.fwm", "examples/pima/pima.csv",
                 bin_f[i], "binary");
    }
    for (int i = 0; i < 4; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "boston_%s", bin_f[i]);
        add_case(tag, "examples/boston/flywheel.yaml", NULL, bin_f[i], "boston.fwm",
                 "examples/boston/boston.csv", bin_f[i], "regression");
    }
    const char *mc = tmp("shapes.csv");
    make_multiclass(mc);
    static const char *const mc_f[] = {"baseline", "linear", "gbdt", "knn", "hier"};
    for (int i = 0; i < 5; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "shapes_%s", mc_f[i]);
        add_case(tag, mc, "kind", mc_f[i], "shapes.fwm", mc, mc_f[i], "multiclass");
    }
    static const char *const rk_f[] = {"baseline", "linear", "gbdt"};
    for (int i = 0; i < 3; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "rank_%s", rk_f[i]);
        add_case(tag, "examples/ranking/flywheel.yaml", NULL, rk_f[i], "diamonds_rank.fwm",
                 "examples/ranking/diamonds_rank.csv", rk_f[i], "ranking");
    }
    char *rvd = tmp("reviews");
    fw_test_sh(NULL, "mkdir -p '%s'", rvd);
    make_reviews(rvd);
    static const char *const rv_f[] = {"linear", "gbdt"};
    for (int i = 0; i < 2; i++) {
        char tag[64], proj[1100], data[1100];
        snprintf(tag, sizeof tag, "reviews_%s", rv_f[i]);
        snprintf(proj, sizeof proj, "%s/flywheel.yaml", rvd);
        snprintf(data, sizeof data, "%s/reviews.csv", rvd);
        add_case(tag, proj, NULL, rv_f[i], "reviews.fwm", data, rv_f[i], "binary");
    }
    char *mld = tmp("mlproj");
    fw_test_sh(NULL, "mkdir -p '%s'", mld);
    make_multilabel(mld);
    char proj[1100], data[1100];
    snprintf(proj, sizeof proj, "%s/flywheel.yaml", mld);
    snprintf(data, sizeof data, "%s/ml.csv", mld);
    static const char *const ml_f[] = {"baseline", "linear", "knn"};
    for (int i = 0; i < 3; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "ml_%s", ml_f[i]);
        add_case(tag, proj, NULL, ml_f[i], "ml.fwm", data, ml_f[i], "multilabel");
    }
}

/* The row's fields in input order, from CSV cells (absent columns missing). */
static void row_fields(const fw_predictor *m, const csv_rows *in, size_t r, fw_field *f) {
    size_t ni = fw_predictor_n_inputs(m);
    for (size_t i = 0; i < ni; i++) {
        int c = col_of(in, fw_predictor_input_name(m, i));
        f[i] = fw_field_missing(fw_predictor_input_name(m, i));
        if (c >= 0) {
            f[i].kind = FW_FIELD_CSV;
            f[i].str = cell(in, r, (size_t)c);
            f[i].len = in->len[r * in->n_cols + (size_t)c];
        }
    }
}

static void check_case(const model_case *mc) {
    fw_err err;
    fw_err_clear(&err);
    fw_predictor *m = NULL;
    fw_status st = fw_predictor_load_file(mc->fwm, &m, &err);
    CHECK_MSG(st == FW_OK, "%s: %s", mc->tag, err.msg);
    if (st) return;
    CHECK_STR(fw_predictor_family(m), mc->family);
    CHECK_STR(fw_predictor_task(m), mc->task);
    /* the same model from memory */
    size_t len = 0;
    char *bytes = fw_test_slurp(mc->fwm, &len);
    fw_predictor *mm = NULL;
    CHECK_OK(fw_predictor_load_mem(bytes, len, &mm, &err));
    free(bytes); /* the predictor keeps no pointer into it */
    /* batch's answers */
    char out[1100];
    snprintf(out, sizeof out, "%s/batch_%s.csv", fw_test_tmpdir(), mc->tag);
    char *log = NULL;
    int rc = fw_test_sh(&log, "\"$FW\" batch --model '%s' --input '%s' --output '%s' --threads 2 --quiet --home '%s'",
                        mc->fwm, mc->data, out, tmp("batchhome"));
    CHECK_MSG(rc == 0, "%s: batch exited %d: %s", mc->tag, rc, log ? log : "");
    free(log);
    char *btxt = fw_test_slurp(out, NULL), *itxt = fw_test_slurp(mc->data, NULL);
    csv_rows bo, in;
    bool ok = btxt && itxt && csv_parse(btxt, &bo) && csv_parse(itxt, &in);
    CHECK_MSG(ok, "%s: cannot read batch output or input", mc->tag);
    if (ok) {
        int pc = col_of(&bo, "prediction"), vc = col_of(&bo, "model_version");
        CHECK_MSG(pc >= 0 && vc > pc, "%s: no prediction column", mc->tag);
        size_t no = fw_predictor_n_outputs(m), ni = fw_predictor_n_inputs(m);
        size_t n_sc = (size_t)(vc - pc - 1);
        CHECK_EQ(bo.n_rows, in.n_rows);
        fw_context *cx = NULL, *cx2 = NULL;
        CHECK_OK(fw_context_new(m, &cx, &err));
        CHECK_OK(fw_context_new(mm, &cx2, &err));
        fw_field *f = calloc(ni + 1, sizeof *f);
        double *s1 = calloc(no, sizeof *s1), *s2 = calloc(no, sizeof *s2), *s3 = calloc(no, sizeof *s3);
        size_t bad_text = 0, bad_score = 0, bad_same = 0;
        for (size_t r = 1; r <= in.n_rows && r <= bo.n_rows && cx && cx2; r++) {
            row_fields(m, &in, r, f);
            fw_result a, b, c;
            st = fw_predict_record(cx, f, ni, s1, no, &a, &err);
            CHECK_MSG(st == FW_OK, "%s row %zu: %s", mc->tag, r, err.msg);
            if (st) break;
            char text[512];
            size_t tl = fw_result_text(m, &a, s1, text, sizeof text);
            if (tl >= sizeof text || strcmp(text, cell(&bo, r, (size_t)pc)) != 0) {
                if (bad_text++ < 3)
                    printf("  %s row %zu: api '%s' batch '%s'\n", mc->tag, r, text, cell(&bo, r, (size_t)pc));
            }
            /* score columns: binary 1, multiclass/multilabel one per output, else none */
            for (size_t k = 0; k < n_sc && k < no; k++)
                if (strtod(cell(&bo, r, (size_t)pc + 1 + k), NULL) != s1[k]) bad_score++;
            if (n_sc == 0 && a.source == FW_SOURCE_MODEL && isfinite(s1[0]) &&
                strtod(cell(&bo, r, (size_t)pc), NULL) != s1[0])
                bad_score++;
            /* by index, and the predictor loaded from memory: the same bits */
            CHECK_OK(fw_predict_values(cx2, f, ni, s2, no, &b, &err));
            CHECK_OK(fw_predict_record(cx, f, ni, s3, no, &c, &err));
            if (memcmp(s1, s2, no * sizeof *s1) || memcmp(s1, s3, no * sizeof *s1) || a.label != b.label ||
                a.abstained != b.abstained)
                bad_same++;
        }
        printf("  %-16s %-10s %-10s %4zu rows equal to batch\n", mc->tag, fw_predictor_family(m), fw_predictor_task(m),
               in.n_rows - bad_text);
        CHECK_MSG(bad_text == 0, "%s: %zu prediction texts differ from batch", mc->tag, bad_text);
        CHECK_MSG(bad_score == 0, "%s: %zu scores differ from batch", mc->tag, bad_score);
        CHECK_MSG(bad_same == 0, "%s: %zu rows differ between by-name, by-index and from-memory", mc->tag, bad_same);
        free(f);
        free(s1);
        free(s2);
        free(s3);
        fw_context_free(cx);
        fw_context_free(cx2);
        csv_free(&bo);
        csv_free(&in);
    }
    free(btxt);
    free(itxt);
    fw_predictor_free(mm);
    fw_predictor_free(m);
}

static void test_every_family_equals_batch(void) {
    if (!fw_test_bin()) {
        printf("  skip: FLYWHEEL_BIN not set\n");
        return;
    }
    train_all();
    for (size_t i = 0; i < g_n_cases; i++) check_case(&g_cases[i]);
    CHECK_EQ(g_n_cases, 21);
}

/* ---- serve: the same rows through `flywheel serve` (v1 :predict of each registered version) ---- */

/* Appends s[0..n) as a JSON string. */
static void json_str(char **b, size_t *len, size_t *cap, const char *s, size_t n);
static void put_raw(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *b = realloc(*b, *cap);
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = '\0';
}
static void json_str(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
    put_raw(b, len, cap, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char e[8];
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            e[0] = '\\', e[1] = (char)c;
            put_raw(b, len, cap, e, 2);
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            put_raw(b, len, cap, e, 6);
        } else put_raw(b, len, cap, (const char *)&s[i], 1);
    }
    put_raw(b, len, cap, "\"", 1);
}

/* One instance as JSON: what the server's clients send for the CSV row (numbers as numbers, the
 * rest as strings, missing as null). */
static void put_instance(const fw_predictor *m, const fw_field *f, char **b, size_t *len, size_t *cap) {
    put_raw(b, len, cap, "{", 1);
    size_t ni = fw_predictor_n_inputs(m);
    for (size_t i = 0; i < ni; i++) {
        if (i) put_raw(b, len, cap, ",", 1);
        json_str(b, len, cap, f[i].name, strlen(f[i].name));
        put_raw(b, len, cap, ":", 1);
        double v;
        bool miss = f[i].kind != FW_FIELD_CSV || fw_is_missing(f[i].str, f[i].len, fw_default_missing, fw_default_n_missing);
        if (f[i].kind == FW_FIELD_CSV && fw_predictor_input_type(m, i) == FW_INPUT_NUMERIC &&
            fw_parse_number(f[i].str, f[i].len, &v, NULL)) {
            char t[40];
            int n = snprintf(t, sizeof t, "%.17g", v);
            put_raw(b, len, cap, t, (size_t)n);
        } else if (miss)
            put_raw(b, len, cap, "null", 4);
        else
            json_str(b, len, cap, f[i].str, f[i].len);
    }
    put_raw(b, len, cap, "}", 1);
}

static void test_serve_equals_api(void) {
    if (!fw_test_bin()) return;
    train_all();
    if (!g_n_cases) return;
    hc_server srv;
    const char *args[] = {"--home", tmp("home"), "--threads", "2", NULL};
    bool up = hc_server_start(&srv, args) == 0;
    CHECK_MSG(up, "server did not start");
    if (!up) return;
    for (size_t c = 0; c < g_n_cases; c++) {
        const model_case *mc = &g_cases[c];
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(mc->fwm, &m, &err)) continue;
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        char *itxt = fw_test_slurp(mc->data, NULL);
        csv_rows in;
        if (!itxt || !csv_parse(itxt, &in)) continue;
        size_t ni = fw_predictor_n_inputs(m), no = fw_predictor_n_outputs(m);
        fw_field *f = calloc(ni + 1, sizeof *f);
        double *sc = calloc(no, sizeof *sc);
        size_t compared = 0, bad = 0;
        char path[200];
        snprintf(path, sizeof path, "/v1/models/%s/versions/%ld:predict", mc->name, mc->version);
        for (size_t r0 = 1; r0 <= in.n_rows && r0 <= 100; r0 += 25) {
            char *body = NULL;
            size_t len = 0, cap = 0;
            put_raw(&body, &len, &cap, "{\"instances\":[", 14);
            size_t r1 = r0 + 25 <= in.n_rows + 1 ? r0 + 25 : in.n_rows + 1;
            for (size_t r = r0; r < r1; r++) {
                if (r > r0) put_raw(&body, &len, &cap, ",", 1);
                row_fields(m, &in, r, f);
                put_instance(m, f, &body, &len, &cap);
            }
            put_raw(&body, &len, &cap, "]}", 2);
            hc_resp resp;
            int hr = hc_request(srv.port, "POST", path, body, NULL, &resp);
            free(body);
            CHECK_MSG(hr == 0 && resp.status == 200, "%s: %s answered %d", mc->tag, path, hr == 0 ? resp.status : -1);
            if (hr != 0) break;
            json_t *j = resp.status == 200 ? json_loads(resp.body, 0, NULL) : NULL;
            if (!j) printf("  %s: %s\n", mc->tag, resp.body ? resp.body : "");
            hc_resp_free(&resp);
            json_t *preds = json_object_get(j, "predictions");
            for (size_t r = r0; j && r < r1; r++) {
                json_t *p = json_array_get(preds, r - r0);
                row_fields(m, &in, r, f);
                fw_result res;
                if (fw_predict_record(cx, f, ni, sc, no, &res, &err) || !p) {
                    bad++;
                    continue;
                }
                compared++;
                if (res.abstained) continue; /* serve shows the model's own scores beside the fallback's */
                json_t *probs = json_object_get(p, "probabilities");
                if (!strcmp(mc->task, "multiclass")) {
                    for (size_t k = 0; k < no; k++)
                        if (json_number_value(json_object_get(probs, fw_predictor_class_name(m, k))) != sc[k]) {
                            if (bad++ < 3)
                                printf("  %s row %zu: class %s api %.17g serve %.17g\n", mc->tag, r,
                                       fw_predictor_class_name(m, k), sc[k],
                                       json_number_value(json_object_get(probs, fw_predictor_class_name(m, k))));
                        }
                } else if (json_number_value(json_object_get(p, "score")) != sc[0])
                    bad++;
                if (res.label_name && (!json_is_string(json_object_get(p, "label")) ||
                                       strcmp(json_string_value(json_object_get(p, "label")), res.label_name)))
                    bad++;
            }
            json_decref(j);
        }
        CHECK_MSG(bad == 0, "%s: %zu values differ between serve and the API", mc->tag, bad);
        CHECK_MSG(compared >= 50 || compared == in.n_rows, "%s: only %zu rows compared", mc->tag, compared);
        free(f);
        free(sc);
        csv_free(&in);
        free(itxt);
        fw_context_free(cx);
        fw_predictor_free(m);
    }
    hc_server_stop(&srv, SIGTERM);
}

/* ---- threads: four threads, one shared predictor, the same bits as one thread ---- */
typedef struct thr {
    const fw_predictor *m;
    const double *rows;
    size_t n_rows, ni, no;
    double *scores;
    fw_status st;
} thr;

static void *thr_main(void *arg) {
    thr *t = arg;
    fw_context *cx;
    fw_err err;
    if ((t->st = fw_context_new(t->m, &cx, &err))) return NULL;
    for (int rep = 0; rep < 20 && !t->st; rep++)
        for (size_t r = 0; r < t->n_rows && !t->st; r++) {
            fw_result res;
            t->st = fw_predict_row(cx, t->rows + r * t->ni, t->ni, t->scores + r * t->no, t->no, &res, &err);
        }
    fw_context_free(cx);
    return NULL;
}

static void test_threads_share_one_model(void) {
    if (!fw_test_bin()) return;
    train_all();
    for (size_t i = 0; i < g_n_cases; i++) {
        if (strcmp(g_cases[i].tag, "pima_gbdt") && strcmp(g_cases[i].tag, "boston_knn") &&
            strcmp(g_cases[i].tag, "pima_linear"))
            continue;
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(g_cases[i].fwm, &m, &err)) continue;
        size_t ni = fw_predictor_n_inputs(m), no = fw_predictor_n_outputs(m), n = 300;
        double *rows = malloc(n * ni * sizeof *rows), *ref = malloc(n * no * sizeof *ref);
        unsigned s = 5;
        for (size_t k = 0; k < n * ni; k++) {
            s = s * 1103515245u + 12345u;
            rows[k] = (s >> 16) % 23 == 0 ? NAN : (double)(s >> 8 & 4095) / 37.0;
        }
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        int32_t *labels = malloc(n * sizeof *labels);
        CHECK_OK(fw_predict_block(cx, rows, n, ni, ref, labels, &err));
        /* the block equals row by row */
        for (size_t r = 0; r < n; r++) {
            double sc[64];
            fw_result res;
            CHECK_OK(fw_predict_row(cx, rows + r * ni, ni, sc, 64, &res, &err));
            CHECK(memcmp(sc, ref + r * no, no * sizeof *sc) == 0);
            CHECK_EQ(res.label, labels[r]);
        }
        fw_context_free(cx);
        thr t[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            t[k] = (thr){m, rows, n, ni, no, calloc(n * no, sizeof(double)), FW_OK};
            pthread_create(&th[k], NULL, thr_main, &t[k]);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(th[k], NULL);
            CHECK_OK(t[k].st);
            CHECK_MSG(memcmp(t[k].scores, ref, n * no * sizeof *ref) == 0, "%s: thread %d differs", g_cases[i].tag, k);
            free(t[k].scores);
        }
        free(rows);
        free(ref);
        free(labels);
        fw_predictor_free(m);
    }
}

/* ---- no allocation on the single-row path once the context exists ---- */
static void test_single_row_does_not_allocate(void) {
    if (!fw_test_bin()) return;
    train_all();
    size_t checked = 0, text_checked = 0;
    for (size_t i = 0; i < g_n_cases; i++) {
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(g_cases[i].fwm, &m, &err)) continue;
        char *itxt = fw_test_slurp(g_cases[i].data, NULL);
        csv_rows in;
        if (!itxt || !csv_parse(itxt, &in)) {
            free(itxt);
            fw_predictor_free(m);
            continue;
        }
        size_t ni = fw_predictor_n_inputs(m), no = fw_predictor_n_outputs(m), nf = fw_predictor_n_features(m);
        fw_field *f = calloc(ni + 1, sizeof *f);
        double *sc = calloc(no, sizeof *sc), *row = calloc(ni + 1, sizeof *row);
        double *contrib = calloc((nf + 1) * no, sizeof *contrib);
        fw_contribution *items = calloc(ni + 1, sizeof *items);
        fw_neighbor nbs[8];
        for (size_t k = 0; k < ni; k++) row[k] = (double)k + 0.5;
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        long before = atomic_load(&g_allocs);
        for (size_t r = 1; r <= in.n_rows && r <= 200; r++) {
            row_fields(m, &in, r, f);
            fw_result res;
            char text[256];
            fw_predict_record(cx, f, ni, sc, no, &res, &err);
            fw_result_text(m, &res, sc, text, sizeof text);
            fw_predict_values(cx, f, ni, sc, no, &res, &err);
            fw_predict_row(cx, row, ni, sc, no, &res, &err);
            fw_explain_record(cx, f, ni, contrib, (nf + 1) * no, &err);
            fw_explanation ex;
            fw_explain_inputs(cx, f, ni, -1, items, ni, &ex, &err);
            size_t nn;
            fw_explain_neighbors(cx, f, ni, nbs, 8, &nn, &ex, &err);
        }
        long made = atomic_load(&g_allocs) - before;
        CHECK_MSG(made == 0, "%s: %ld allocations on the single-row path", g_cases[i].tag, made);
        /* text beyond the default reservation: reserved once, then no allocation either */
        int ti = -1;
        for (size_t k = 0; k < ni; k++)
            if (fw_predictor_input_type(m, k) == FW_INPUT_TEXT) ti = (int)k;
        if (ti >= 0) {
            static char big[6001];
            for (size_t k = 0; k < 6000; k++) big[k] = "good item fast "[k % 15];
            CHECK_OK(fw_context_reserve(cx, 6000, &err));
            before = atomic_load(&g_allocs);
            fw_field one = {.name = fw_predictor_input_name(m, (size_t)ti), .kind = FW_FIELD_STRING, .str = big, .len = 6000};
            fw_result res;
            CHECK_OK(fw_predict_record(cx, &one, 1, sc, no, &res, &err));
            CHECK_OK(fw_explain_record(cx, &one, 1, contrib, (nf + 1) * no, &err));
            fw_explanation ex;
            CHECK_OK(fw_explain_inputs(cx, &one, 1, -1, items, ni, &ex, &err));
            made = atomic_load(&g_allocs) - before;
            CHECK_MSG(made == 0, "%s: %ld allocations for 6000 bytes of reserved text", g_cases[i].tag, made);
            text_checked++;
        }
        checked++;
        fw_context_free(cx);
        free(f);
        free(sc);
        free(row);
        free(contrib);
        free(items);
        csv_free(&in);
        free(itxt);
        fw_predictor_free(m);
    }
    CHECK_EQ(checked, g_n_cases);
    CHECK_EQ(text_checked, 2);
}

/* ---- explain: contributions add up to the margin (additive families), knn/hier say unsupported ---- */
static void test_explain(void) {
    if (!fw_test_bin()) return;
    train_all();
    for (size_t i = 0; i < g_n_cases; i++) {
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(g_cases[i].fwm, &m, &err)) continue;
        size_t ni = fw_predictor_n_inputs(m), no = fw_predictor_n_outputs(m), nf = fw_predictor_n_features(m);
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        double *c = calloc((nf + 1) * no, sizeof *c), sc[64];
        fw_field *f = calloc(ni + 1, sizeof *f);
        char *itxt = fw_test_slurp(g_cases[i].data, NULL);
        csv_rows in;
        bool ok = itxt && csv_parse(itxt, &in);
        CHECK(ok);
        const char *fam = fw_predictor_family(m);
        bool additive = strcmp(fam, "knn") && strcmp(fam, "hier");
        bool one_margin = !strcmp(g_cases[i].task, "binary") || !strcmp(g_cases[i].task, "regression");
        size_t checked = 0;
        for (size_t r = 1; ok && r <= in.n_rows && r <= 60; r++) {
            row_fields(m, &in, r, f);
            fw_status st = fw_explain_record(cx, f, ni, c, (nf + 1) * no, &err);
            if (!additive) {
                CHECK_MSG(st == FW_EUNSUPPORTED, "%s: explain gave %d", g_cases[i].tag, st);
                break;
            }
            CHECK_MSG(st == FW_OK, "%s: %s", g_cases[i].tag, err.msg);
            fw_result res;
            CHECK_OK(fw_predict_record(cx, f, ni, sc, 64, &res, &err));
            if (!one_margin || res.abstained) continue; /* abstained: the scores are the fallback's */
            double margin = 0;
            for (size_t j = 0; j <= nf; j++) margin += c[j * no];
            double want = !strcmp(g_cases[i].task, "binary") ? log(sc[0] / (1 - sc[0])) : sc[0];
            CHECK_MSG(fabs(margin - want) <= 1e-6 * (1 + fabs(want)), "%s row %zu: contributions add to %.17g, margin %.17g",
                      g_cases[i].tag, r, margin, want);
            checked++;
        }
        if (additive && one_margin) CHECK_MSG(checked >= 10, "%s: only %zu rows explained", g_cases[i].tag, checked);
        fw_status st1 = fw_explain_record(cx, f, ni, c, 1, &err);
        CHECK_MSG(st1 == FW_EINVAL, "%s: a short buffer gave %d", g_cases[i].tag, st1);
        if (ok) csv_free(&in);
        free(itxt);
        free(c);
        free(f);
        fw_context_free(cx);
        fw_predictor_free(m);
    }
}

/* ---- explain in the record's own terms: the API's answer is the server's :explain, bit for bit ---- */
/* One contributions object of :explain against the API's ordered list and bias. */
static size_t same_contribs(const char *tag, const fw_predictor *m, json_t *obj, const fw_contribution *c, size_t n,
                            double bias) {
    size_t bad = 0, i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!strcmp(k, "(bias)")) {
            bad += json_number_value(v) != bias;
            continue;
        }
        if (i >= n || strcmp(k, fw_predictor_input_name(m, c[i].input)) || json_number_value(v) != c[i].value) {
            if (bad++ < 2)
                printf("  %s: serve '%s' %.17g, api '%s' %.17g\n", tag, k, json_number_value(v),
                       i < n ? fw_predictor_input_name(m, c[i].input) : "-", i < n ? c[i].value : 0.0);
        }
        i++;
    }
    return bad + (i != n);
}

static void test_explain_equals_serve(void) {
    if (!fw_test_bin()) return;
    train_all();
    if (!g_n_cases) return;
    hc_server srv;
    const char *args[] = {"--home", tmp("home"), "--threads", "2", NULL};
    bool up = hc_server_start(&srv, args) == 0;
    CHECK_MSG(up, "server did not start");
    if (!up) return;
    size_t families[3] = {0};
    for (size_t c = 0; c < g_n_cases; c++) {
        const model_case *mc = &g_cases[c];
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(mc->fwm, &m, &err)) continue;
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        char *itxt = fw_test_slurp(mc->data, NULL);
        csv_rows in;
        if (!itxt || !csv_parse(itxt, &in)) continue;
        size_t ni = fw_predictor_n_inputs(m);
        fw_field *f = calloc(ni + 1, sizeof *f);
        fw_contribution *ca = calloc(ni + 1, sizeof *ca), *cb = calloc(ni + 1, sizeof *cb);
        const char *fam = fw_predictor_family(m);
        bool knn = !strcmp(fam, "knn"), hier = !strcmp(fam, "hier");
        char path[200], *body = NULL;
        size_t len = 0, cap = 0, rows = in.n_rows < 12 ? in.n_rows : 12, bad = 0, compared = 0;
        snprintf(path, sizeof path, "/v1/models/%s/versions/%ld:explain", mc->name, mc->version);
        put_raw(&body, &len, &cap, "{\"instances\":[", 14);
        for (size_t r = 1; r <= rows; r++) {
            if (r > 1) put_raw(&body, &len, &cap, ",", 1);
            row_fields(m, &in, r, f);
            put_instance(m, f, &body, &len, &cap);
        }
        put_raw(&body, &len, &cap, "]}", 2);
        hc_resp resp;
        int hr = hc_request(srv.port, "POST", path, body, NULL, &resp);
        free(body);
        CHECK_MSG(hr == 0 && resp.status == 200, "%s: %s answered %d", mc->tag, path, hr == 0 ? resp.status : -1);
        json_t *j = hr == 0 && resp.status == 200 ? json_loads(resp.body, 0, NULL) : NULL;
        if (hr == 0) hc_resp_free(&resp);
        for (size_t r = 1; j && r <= rows; r++) {
            json_t *p = json_array_get(json_object_get(j, "predictions"), r - 1);
            json_t *ex = json_object_get(p, "explained");
            row_fields(m, &in, r, f);
            const char *want_method = json_string_value(json_object_get(ex, "method"));
            json_t *ci = json_object_get(ex, "class_index");
            int32_t want_class = ci ? (int32_t)json_integer_value(ci) : -1;
            fw_explanation e;
            if (knn) {
                fw_neighbor nb[FW_EXPLAIN_MAX_NEIGHBORS];
                size_t n = 0;
                CHECK_OK(fw_explain_neighbors(cx, f, ni, nb, FW_EXPLAIN_MAX_NEIGHBORS, &n, &e, &err));
                json_t *arr = json_object_get(p, "neighbors");
                bad += n != json_array_size(arr) || n == 0;
                for (size_t q = 0; q < n && q < json_array_size(arr); q++) {
                    json_t *o = json_array_get(arr, q), *lab = json_object_get(o, "label");
                    bad += (uint64_t)json_integer_value(json_object_get(o, "row")) != nb[q].row;
                    bad += json_number_value(json_object_get(o, "distance")) != nb[q].distance;
                    bad += json_is_string(lab) ? !nb[q].class_name || strcmp(json_string_value(lab), nb[q].class_name)
                                               : json_number_value(lab) != nb[q].label;
                }
                bad += strcmp(e.method, want_method ? want_method : "") != 0 || e.class_index != want_class;
                families[1]++;
            } else if (hier) {
                fw_explanation_path ep;
                CHECK_OK(fw_explain_path(cx, f, ni, -1, ca, ni, cb, ni, &ep, &err));
                json_t *pa = json_object_get(p, "path"), *g = json_array_get(pa, 0), *cl = json_array_get(pa, 1);
                bad += ep.class_index != want_class || json_number_value(json_object_get(p, "probability")) != ep.probability;
                bad += (uint32_t)json_integer_value(json_object_get(g, "group")) != ep.group ||
                       json_integer_value(json_object_get(g, "groups")) != (json_int_t)ep.n_groups ||
                       json_number_value(json_object_get(g, "probability")) != ep.group_level.probability;
                bad += strcmp(json_string_value(json_object_get(cl, "class")), ep.class_name ? ep.class_name : "") != 0 ||
                       json_number_value(json_object_get(cl, "probability_in_group")) != ep.class_level.probability;
                bad += !json_object_get(g, "contributions") != !ep.group_level.has_model ||
                       !json_object_get(cl, "contributions") != !ep.class_level.has_model;
                if (ep.group_level.has_model)
                    bad += same_contribs(mc->tag, m, json_object_get(g, "contributions"), ca,
                                         ep.group_level.n_contributions, ep.group_level.bias);
                if (ep.class_level.has_model)
                    bad += same_contribs(mc->tag, m, json_object_get(cl, "contributions"), cb,
                                         ep.class_level.n_contributions, ep.class_level.bias);
                CHECK_EQ(fw_explain_inputs(cx, f, ni, -1, ca, ni, &e, &err), FW_EUNSUPPORTED);
                families[2]++;
            } else {
                CHECK_OK(fw_explain_inputs(cx, f, ni, -1, ca, ni, &e, &err));
                bad += same_contribs(mc->tag, m, json_object_get(p, "contributions"), ca, e.n_contributions, e.bias);
                bad += strcmp(e.method, want_method ? want_method : "") != 0 || e.class_index != want_class;
                bad += strcmp(e.space, json_string_value(json_object_get(p, "contribution_space"))) != 0;
                if (e.class_name) bad += strcmp(e.class_name, json_string_value(json_object_get(ex, "output"))) != 0;
                /* a short buffer: the first ones, the full count */
                size_t full = e.n_contributions;
                CHECK_OK(fw_explain_inputs(cx, f, ni, -1, cb, 1, &e, &err));
                CHECK_EQ(e.n_contributions, full);
                if (full) bad += cb[0].input != ca[0].input || cb[0].value != ca[0].value;
                CHECK_EQ(fw_explain_neighbors(cx, f, ni, NULL, 0, &len, NULL, &err), FW_EUNSUPPORTED);
                families[0]++;
            }
            compared++;
        }
        CHECK_MSG(bad == 0, "%s: %zu differences between the API's explanation and :explain", mc->tag, bad);
        CHECK_MSG(compared == rows, "%s: %zu of %zu rows compared", mc->tag, compared, rows);
        json_decref(j);
        free(f);
        free(ca);
        free(cb);
        csv_free(&in);
        free(itxt);
        fw_context_free(cx);
        fw_predictor_free(m);
    }
    CHECK(families[0] > 0 && families[1] > 0 && families[2] > 0);
    hc_server_stop(&srv, SIGTERM);
}

/* The class asked for: binary 0 negates class 1's terms; a multiclass class of choice; out of range refused. */
static void test_explain_class(void) {
    if (!fw_test_bin()) return;
    train_all();
    for (size_t c = 0; c < g_n_cases; c++) {
        const model_case *mc = &g_cases[c];
        bool pima = !strcmp(mc->tag, "pima_linear"), shapes = !strcmp(mc->tag, "shapes_gbdt");
        bool boston = !strcmp(mc->tag, "boston_gbdt");
        if (!pima && !shapes && !boston) continue;
        fw_err err;
        fw_predictor *m;
        if (fw_predictor_load_file(mc->fwm, &m, &err)) continue;
        fw_context *cx;
        CHECK_OK(fw_context_new(m, &cx, &err));
        size_t ni = fw_predictor_n_inputs(m);
        fw_field *f = calloc(ni + 1, sizeof *f);
        fw_contribution *a = calloc(ni + 1, sizeof *a), *b = calloc(ni + 1, sizeof *b);
        for (size_t i = 0; i < ni; i++) f[i] = fw_field_number(fw_predictor_input_name(m, i), 1.5 + (double)i);
        fw_explanation ea, eb;
        if (pima) {
            CHECK_OK(fw_explain_inputs(cx, f, ni, -1, a, ni, &ea, &err));
            CHECK_OK(fw_explain_inputs(cx, f, ni, 0, b, ni, &eb, &err));
            CHECK_EQ(ea.class_index, 1);
            CHECK_EQ(eb.class_index, 0);
            CHECK_STR(ea.space, "log_odds");
            CHECK_EQ(ea.n_contributions, eb.n_contributions);
            for (size_t i = 0; i < ea.n_contributions; i++) CHECK(a[i].input == b[i].input && a[i].value == -b[i].value);
            CHECK(ea.bias == -eb.bias);
            CHECK_EQ(fw_explain_inputs(cx, f, ni, 2, a, ni, &ea, &err), FW_EINVAL);
        } else if (shapes) {
            for (int32_t k = 0; k < (int32_t)fw_predictor_n_outputs(m); k++) {
                CHECK_OK(fw_explain_inputs(cx, f, ni, k, a, ni, &ea, &err));
                CHECK_EQ(ea.class_index, k);
                CHECK_STR(ea.class_name, fw_predictor_class_name(m, (size_t)k));
                CHECK_STR(ea.method, "treeshap");
                CHECK_STR(ea.space, "softmax_margin");
            }
            CHECK_EQ(fw_explain_inputs(cx, f, ni, (int32_t)fw_predictor_n_outputs(m), a, ni, &ea, &err), FW_EINVAL);
            CHECK_EQ(fw_explain_inputs(cx, f, ni, -2, a, ni, &ea, &err), FW_EINVAL);
        } else {
            CHECK_OK(fw_explain_inputs(cx, f, ni, -1, a, ni, &ea, &err));
            CHECK_EQ(ea.class_index, -1);
            CHECK(ea.class_name == NULL);
            CHECK_STR(ea.space, "raw");
            /* the sorted contributions and the bias add up to the value */
            double sc[4], sum = ea.bias;
            fw_result res;
            CHECK_OK(fw_predict_record(cx, f, ni, sc, 4, &res, &err));
            for (size_t i = 0; i < ea.n_contributions; i++) {
                sum += a[i].value;
                if (i) CHECK(fabs(a[i].value) <= fabs(a[i - 1].value));
            }
            CHECK_MSG(fabs(sum - sc[0]) <= 1e-6 * (1 + fabs(sc[0])), "contributions add to %.17g, value %.17g", sum, sc[0]);
            CHECK_EQ(fw_explain_inputs(cx, f, ni, 0, a, ni, &ea, &err), FW_EINVAL);
        }
        free(f);
        free(a);
        free(b);
        fw_context_free(cx);
        fw_predictor_free(m);
    }
}

/* ---- errors: codes plus messages, never a crash ---- */
static void test_errors(void) {
    fw_err err;
    fw_err_clear(&err);
    fw_predictor *m = (fw_predictor *)1;
    CHECK_EQ(fw_predictor_load_file("/nonexistent/x.fwm", &m, &err), FW_ENOTFOUND);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.msg, "/nonexistent/x.fwm");
    CHECK_EQ(fw_predictor_load_mem("not a model at all, not at all, really not a model file....", 60, &m, &err),
             FW_EINVAL);
    CHECK_CONTAINS(err.msg, "not a Flywheel artifact");
    CHECK(fw_predictor_load_mem(NULL, 0, &m, NULL) < 0);
    if (!fw_test_bin()) return;
    train_all();
    if (!g_n_cases) return;
    CHECK_OK(fw_predictor_load_file(g_cases[0].fwm, &m, &err)); /* pima baseline: numeric inputs */
    fw_context *cx;
    CHECK_OK(fw_context_new(m, &cx, &err));
    double sc[4];
    fw_result res;
    fw_field f = {.name = "glucose", .kind = FW_FIELD_CSV, .str = "lots", .len = 4};
    CHECK_EQ(fw_predict_record(cx, &f, 1, sc, 4, &res, &err), FW_ESCHEMA);
    CHECK_CONTAINS(err.msg, "glucose");
    f = fw_field_number("glucose", 150);
    CHECK_EQ(fw_predict_record(cx, &f, 1, sc, 0, &res, &err), FW_OK); /* decision only */
    CHECK_EQ(res.n_scores, 0);
    double row[2] = {1, 2};
    CHECK_EQ(fw_predict_row(cx, row, 2, sc, 4, &res, &err), FW_EINVAL);
    CHECK_CONTAINS(err.msg, "inputs");
    CHECK_EQ(fw_predictor_input_index(m, "glucose") >= 0, 1);
    CHECK_EQ(fw_predictor_input_index(m, "nope"), -1);
    CHECK(fw_predictor_input_name(m, 9999) == NULL);
    char small[3];
    f = fw_field_number("glucose", 150);
    CHECK_OK(fw_predict_record(cx, &f, 1, sc, 4, &res, &err));
    size_t full = fw_result_text(m, &res, sc, small, sizeof small);
    CHECK(full >= 3 && strlen(small) == 2);
    fw_context_free(cx);
    fw_predictor_free(m);
    /* a scores buffer shorter than the outputs (a three-class model) */
    for (size_t i = 0; i < g_n_cases; i++) {
        if (strcmp(g_cases[i].tag, "shapes_gbdt")) continue;
        CHECK_OK(fw_predictor_load_file(g_cases[i].fwm, &m, &err));
        CHECK_EQ(fw_predictor_n_outputs(m), 3);
        CHECK_EQ(fw_predictor_n_classes(m), 3);
        CHECK_OK(fw_context_new(m, &cx, &err));
        CHECK_EQ(fw_predict_record(cx, NULL, 0, sc, 2, &res, &err), FW_EINVAL);
        CHECK_CONTAINS(err.msg, "scores buffer");
        CHECK_OK(fw_predict_record(cx, NULL, 0, sc, 3, &res, &err)); /* every input missing */
        CHECK_EQ(res.n_scores, 3);
        fw_context_free(cx);
        fw_predictor_free(m);
    }
}

int main(void) {
    fw_set_allocator(counting_alloc, NULL);
    TEST_RUN(test_errors);
    TEST_RUN(test_every_family_equals_batch);
    TEST_RUN(test_serve_equals_api);
    TEST_RUN(test_threads_share_one_model);
    TEST_RUN(test_single_row_does_not_allocate);
    TEST_RUN(test_explain);
    TEST_RUN(test_explain_equals_serve);
    TEST_RUN(test_explain_class);
    for (size_t i = 0; i < g_n_cases; i++) free(g_cases[i].fwm);
    return fw_test_report("test_api");
}
