/* test_report_browser.c — every kind of HTML report, looked at as a user sees it: rendered by
 * headless Chromium, its screenshot must not be blank and no text may overflow (no element whose
 * content is wider than its box, no SVG label outside its chart, no page wider than the window).
 * Reports: `flywheel train` on the binary (examples/pima), multiclass (iris, when the shared
 * datasets are there) and regression (examples/boston) examples, stress reports built through the
 * API (very long feature, class and slice names, many slices, long hyperparameters), and multilabel
 * and ranking reports.
 * Skips, saying so, only when no chromium is installed (scripts/install-deps.sh installs it).
 * FW_REPORT_SHOTS=DIR keeps the screenshots for a look. */
#include "core/alloc.h"
#include "eval/report.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

static char chromium[256];

static bool find_chromium(void) {
    const char *env = getenv("FW_CHROMIUM");
    if (env && *env) {
        snprintf(chromium, sizeof chromium, "%s", env);
        return true;
    }
    char *out = NULL;
    int rc = fw_test_sh(&out, "command -v chromium || command -v chromium-browser || command -v google-chrome");
    if (rc == 0 && out && *out) {
        out[strcspn(out, "\n")] = 0;
        snprintf(chromium, sizeof chromium, "%s", out);
    }
    free(out);
    return chromium[0] != 0;
}

/* The flags every run uses: headless, as root, no network, a fresh profile each time. */
#define CHROME_FLAGS                                                                                  \
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking " \
    "--disable-component-update --disable-sync --hide-scrollbars"

/* Appended to a copy of the report: lists every overflow it finds into <pre id="fwcheck">. */
static const char *CHECK_JS =
    "<script>(function(){var bad=[],de=document.documentElement;"
    "if(de.scrollWidth>window.innerWidth+1)bad.push('page '+de.scrollWidth+'px wide in a '+window.innerWidth+'px window');"
    "document.querySelectorAll('body *').forEach(function(e){if(e.closest('svg')||e.tagName=='SCRIPT')return;"
    "if(e.clientWidth>0&&e.scrollWidth>e.clientWidth+1)bad.push(e.tagName+' \"'+e.textContent.slice(0,50)+'\" '+e.scrollWidth+'>'+e.clientWidth);});"
    "var n=0;document.querySelectorAll('svg').forEach(function(s){var r=s.getBoundingClientRect();"
    "s.querySelectorAll('text').forEach(function(t){var b=t.getBoundingClientRect();if(!b.width)return;n++;"
    "if(b.left<r.left-0.5||b.right>r.right+0.5||b.top<r.top-0.5||b.bottom>r.bottom+0.5)"
    "bad.push('svg text \"'+t.textContent.slice(0,50)+'\" outside its chart');});});"
    "var d=document.createElement('pre');d.id='fwcheck';"
    "d.textContent='FWCHECK '+(bad.length?'OVERFLOW '+bad.join(' | '):'ok')+' labels='+n;"
    "document.body.appendChild(d);})();</script>";

/* ---- a minimal PNG reader: 8-bit RGB/RGBA, not interlaced (what Chromium writes) ---------- */
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Decodes to RGB(A) rows; returns NULL on anything unexpected. */
static uint8_t *png_decode(const uint8_t *d, size_t len, uint32_t *w, uint32_t *h, int *bpp) {
    static const uint8_t sig[8] = {137, 'P', 'N', 'G', 13, 10, 26, 10};
    if (len < 33 || memcmp(d, sig, 8) != 0) return NULL;
    *w = be32(d + 16);
    *h = be32(d + 20);
    if (d[24] != 8 || (d[25] != 2 && d[25] != 6) || d[28] != 0) return NULL;
    *bpp = d[25] == 6 ? 4 : 3;
    uint8_t *z = malloc(len);
    size_t zn = 0;
    for (size_t off = 8; off + 12 <= len;) {
        uint32_t n = be32(d + off);
        if (off + 12 + n > len) break;
        if (memcmp(d + off + 4, "IDAT", 4) == 0) {
            memcpy(z + zn, d + off + 8, n);
            zn += n;
        }
        off += 12 + n;
    }
    size_t stride = (size_t)*w * (size_t)*bpp;
    uLongf raw_n = (uLongf)((stride + 1) * *h);
    uint8_t *raw = malloc(raw_n), *img = malloc(stride * *h);
    if (uncompress(raw, &raw_n, z, (uLong)zn) != Z_OK || raw_n != (stride + 1) * *h) {
        free(z), free(raw), free(img);
        return NULL;
    }
    for (uint32_t y = 0; y < *h; y++) {
        uint8_t f = raw[y * (stride + 1)];
        const uint8_t *src = raw + y * (stride + 1) + 1;
        uint8_t *row = img + y * stride, *up = y ? img + (y - 1) * stride : NULL;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)*bpp ? row[x - *bpp] : 0, b = up ? up[x] : 0,
                c = up && x >= (size_t)*bpp ? up[x - *bpp] : 0;
            int v = src[x];
            switch (f) {
            case 1: v += a; break;
            case 2: v += b; break;
            case 3: v += (a + b) / 2; break;
            case 4: v += paeth(a, b, c); break;
            default: break;
            }
            row[x] = (uint8_t)v;
        }
    }
    free(z);
    free(raw);
    return img;
}

/* Renders a copy of the report with the check script in Chromium: the check's verdict from the
 * DOM, and the screenshot must show ink. */
static void look_at(const char *label, const char *path) {
    size_t len = 0;
    char *page = fw_test_slurp(path, &len);
    CHECK_MSG(page != NULL, "%s: no report at %s", label, path);
    if (!page) return;
    char *end = strstr(page, "</body>");
    CHECK_MSG(end != NULL, "%s: no </body>", label);
    if (!end) {
        free(page);
        return;
    }
    char checked[600];
    snprintf(checked, sizeof checked, "%s/%s-check.html", fw_test_tmpdir(), label);
    FILE *f = fopen(checked, "wb");
    fwrite(page, 1, (size_t)(end - page), f);
    fputs(CHECK_JS, f);
    fputs(end, f);
    fclose(f);
    free(page);

    /* one run: the DOM after the check script, and a screenshot of the first 1600 px */
    const char *keep = getenv("FW_REPORT_SHOTS");
    char png[600];
    snprintf(png, sizeof png, "%s/%s.png", keep ? keep : fw_test_tmpdir(), label);
    char *dom = NULL;
    int rc = fw_test_sh(&dom, "rm -f '%s'; P=$(mktemp -d \"$T/profile.XXXXXX\") && timeout 90 '%s' " CHROME_FLAGS
                        " --user-data-dir=\"$P\" --window-size=1280,1600 --screenshot='%s' --dump-dom 'file://%s' 2>/dev/null",
                        png, chromium, png, checked);
    const char *res = dom ? strstr(dom, "<pre id=\"fwcheck\">") : NULL;
    CHECK_MSG(rc == 0 && res, "%s: chromium --dump-dom failed (exit %d) or the check did not run", label, rc);
    if (res) {
        res += strlen("<pre id=\"fwcheck\">");
        const char *close = strstr(res, "</pre>");
        int n = close ? (int)(close - res) : 200;
        CHECK_MSG(strncmp(res, "FWCHECK ok", 10) == 0, "%s: %.*s", label, n, res);
        const char *lab = strstr(res, "labels=");
        CHECK_MSG(lab && atoi(lab + 7) >= 10, "%s: only %s SVG labels rendered", label, lab ? lab + 7 : "no");
    }
    free(dom);

    size_t plen = 0;
    uint8_t *bytes = (uint8_t *)fw_test_slurp(png, &plen);
    CHECK_MSG(rc == 0 && bytes, "%s: chromium --screenshot failed (exit %d)", label, rc);
    if (!bytes) return;
    uint32_t w = 0, h = 0;
    int bpp = 0;
    uint8_t *img = png_decode(bytes, plen, &w, &h, &bpp);
    CHECK_MSG(img != NULL, "%s: the screenshot is not a PNG this test reads", label);
    if (img) {
        CHECK_EQ(w, 1280);
        size_t ink = 0, colors = 0;
        static uint8_t seen[4096];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < (size_t)w * h; i++) {
            const uint8_t *px = img + i * (size_t)bpp;
            if (px[0] < 235 || px[1] < 235 || px[2] < 235) ink++;
            unsigned q = (unsigned)(px[0] >> 4) << 8 | (unsigned)(px[1] >> 4) << 4 | (unsigned)(px[2] >> 4);
            if (!seen[q]) seen[q] = 1, colors++;
        }
        double frac = (double)ink / ((double)w * h);
        CHECK_MSG(frac > 0.01 && colors >= 16, "%s: the screenshot looks blank (%.2f%% ink, %zu colours)", label,
                  100 * frac, colors);
        free(img);
    }
    free(bytes);
}

static void train_and_look(const char *label, const char *args) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.html", fw_test_tmpdir(), label);
    char *out = NULL;
    int rc = fw_test_sh(&out, "\"$FW\" train %s --home \"$T/home\" --no-register --quiet --html '%s'", args, path);
    CHECK_MSG(rc == 0, "%s: train failed: %s", label, out ? out : "");
    free(out);
    if (rc == 0) look_at(label, path);
}

static void test_binary(void) { train_and_look("binary", "examples/pima/flywheel.yaml"); }
static void test_regression(void) { train_and_look("regression", "examples/boston/flywheel.yaml"); }

static void test_multiclass(void) {
    const char *iris = fw_test_shared("iris.csv");
    if (!iris) {
        printf("test_multiclass: ../shared/datasets/iris.csv absent; the stress report covers multiclass\n");
        return;
    }
    char args[700];
    snprintf(args, sizeof args, "'%s' --label target --task multiclass", iris);
    train_and_look("multiclass", args);
}

/* A report with everything long: names that used to be cut off or overflow. */
static void test_stress(void) {
    enum { N = 1200, K = 12, G = 24 };
    static double y[N], p[N * K], yb[N], pb[N];
    static int32_t codes[N];
    static char cls_buf[K][80], grp_buf[G][80], feat_buf[30][96], inp_buf[30][96];
    const char *classes[K], *groups[G], *feats[30], *inputs[30];
    double imp[30];
    for (size_t c = 0; c < K; c++) {
        snprintf(cls_buf[c], sizeof cls_buf[c], "customer_segment_%zu_with_a_long_descriptive_name", c);
        classes[c] = cls_buf[c];
    }
    for (size_t g = 0; g < G; g++) {
        snprintf(grp_buf[g], sizeof grp_buf[g], "region-%zu-%s", g, g % 5 ? "north" : "a-very-long-region-name-nobody-abbreviated-in-the-crm-export");
        groups[g] = grp_buf[g];
    }
    for (size_t j = 0; j < 30; j++) {
        snprintf(inp_buf[j], sizeof inp_buf[j], "%s_%zu", j % 3 ? "average_monthly_minutes_in_the_evening_last_quarter_and_more" : "plan", j / 3);
        snprintf(feat_buf[j], sizeof feat_buf[j], "%s=v%zu", inp_buf[j], j);
        feats[j] = feat_buf[j];
        inputs[j] = inp_buf[j];
        imp[j] = 0.001 * (double)(j % 7);
    }
    uint64_t s = 3;
    for (size_t i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t c = (size_t)(s >> 33) % K;
        y[i] = (double)c;
        double tot = 0;
        for (size_t k = 0; k < K; k++) tot += p[i * K + k] = (k == c ? 3.0 : 1.0) + (double)((i * 7 + k) % 5);
        for (size_t k = 0; k < K; k++) p[i * K + k] /= tot;
        yb[i] = (double)(c % 2);
        pb[i] = fmin(1, fmax(0, 0.3 + 0.3 * yb[i] + 0.1 * (double)((i * 13) % 7) / 7.0));
        codes[i] = (int32_t)(i % G);
    }
    const char *params = "{\"objective\":\"logloss\",\"learning_rate\":0.10000000000000001,\"max_depth\":6,"
                         "\"feature_fraction_by_node_and_by_level_and_by_tree\":0.80000000000000004,"
                         "\"monotone_constraints\":[0,1,-1,0,0,1,1,0,0,0,1,-1,0,0,0,0,1,1,1,0,0],"
                         "\"categorical_columns\":\"plan,region,segment,tenure_bucket,device,os,browser,referrer\"}";
    fw_metric_set mc, bin;
    fw_slice_report sl;
    CHECK_OK(fw_eval_compute(FW_TASK_MULTICLASS, y, p, N, K, NULL, &mc, NULL));
    CHECK_OK(fw_eval_compute(FW_TASK_BINARY, yb, pb, N, 1, NULL, &bin, NULL));
    CHECK_OK(fw_eval_slices(FW_TASK_BINARY, yb, pb, N, 1, NULL, "sales_region_as_entered_by_the_account_manager",
                            codes, groups, G, 30, &sl, NULL));
    fw_report_model m = {.name = "gradient_boosted_trees_candidate_with_a_long_name", .family = "gbdt",
                         .params_json = params, .metrics = &mc, .importance = imp, .importance_names = feats,
                         .importance_inputs = inputs, .n_importance = 30, .importance_repeats = 3};
    fw_report r = {.title = "segments", .task = FW_TASK_MULTICLASS, .models = &m, .n_models = 1,
                   .class_names = classes, .n_classes = K};
    fw_report_model mb = {.name = "linear_model_with_a_rather_long_name_too", .family = "linear", .params_json = params,
                          .metrics = &bin, .importance = imp, .importance_names = feats, .n_importance = 30,
                          .slices = &sl, .n_slices = 1};
    fw_report rb = {.title = "churn", .task = FW_TASK_BINARY, .models = &mb, .n_models = 1};
    const fw_report *reports[2] = {&r, &rb};
    const char *labels[2] = {"stress-multiclass", "stress-binary"};
    for (int i = 0; i < 2; i++) {
        fw_buf b;
        fw_buf_init(&b);
        CHECK_OK(fw_report_html(reports[i], &b));
        char path[600];
        snprintf(path, sizeof path, "%s/%s.html", fw_test_tmpdir(), labels[i]);
        fw_err err;
        CHECK_OK(fw_report_write_file(path, b.data, b.len, &err));
        fw_buf_free(&b);
        look_at(labels[i], path);
    }
    fw_metric_set_free(&mc);
    fw_metric_set_free(&bin);
    fw_slice_report_free(&sl);
}

/* Multilabel (per-label F1 bars with long label names) and ranking (slices without intervals). */
static void test_multilabel_and_ranking(void) {
    enum { N = 400, L = 6 };
    static double y[N * L], p[N * L], rel[N], score[N];
    static uint32_t query[N];
    static int32_t codes[N];
    static char lab_buf[L][96];
    const char *labels[L];
    for (size_t j = 0; j < L; j++) {
        snprintf(lab_buf[j], sizeof lab_buf[j], "topic_%zu_%s", j, j % 2 ? "billing_and_refunds_after_cancellation" : "x");
        labels[j] = lab_buf[j];
    }
    uint64_t s = 11;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < L; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            y[i * L + j] = (s >> 40) % 3 == 0;
            p[i * L + j] = fmin(1, fmax(0, 0.2 + 0.5 * y[i * L + j] + 0.3 * (double)((s >> 20) % 100) / 100.0 - 0.15));
        }
        query[i] = (uint32_t)(i / 10);
        rel[i] = (double)((i * 7) % 4 == 0);
        score[i] = rel[i] * 0.5 + (double)((i * 13) % 10) / 10.0;
        codes[i] = (int32_t)((i / 10) % 3);
    }
    fw_metric_set ml, rk;
    CHECK_OK(fw_eval_compute(FW_TASK_MULTILABEL, y, p, N, L, NULL, &ml, NULL));
    fw_eval_options o;
    fw_eval_options_init(&o);
    o.query = query;
    fw_slice_report sl;
    static const char *const groups[3] = {"web", "mobile_app_on_older_devices_with_small_screens", "email"};
    CHECK_OK(fw_eval_compute(FW_TASK_RANKING, rel, score, N, 1, &o, &rk, NULL));
    CHECK_OK(fw_eval_slices(FW_TASK_RANKING, rel, score, N, 1, &o, "channel", codes, groups, 3, 30, &sl, NULL));
    fw_report_model mm = {.name = "linear", .family = "linear", .metrics = &ml, .params_json = "{\"l2\":0.001}"};
    fw_report rm = {.title = "tickets", .task = FW_TASK_MULTILABEL, .models = &mm, .n_models = 1,
                    .class_names = labels, .n_classes = L};
    fw_report_model mr = {.name = "gbdt", .family = "gbdt", .metrics = &rk, .slices = &sl, .n_slices = 1};
    fw_report rr = {.title = "search", .task = FW_TASK_RANKING, .models = &mr, .n_models = 1};
    const fw_report *reports[2] = {&rm, &rr};
    const char *names[2] = {"multilabel", "ranking"};
    for (int i = 0; i < 2; i++) {
        fw_buf b;
        fw_buf_init(&b);
        CHECK_OK(fw_report_html(reports[i], &b));
        char path[600];
        snprintf(path, sizeof path, "%s/%s.html", fw_test_tmpdir(), names[i]);
        fw_err err;
        CHECK_OK(fw_report_write_file(path, b.data, b.len, &err));
        fw_buf_free(&b);
        look_at(names[i], path);
    }
    fw_metric_set_free(&ml);
    fw_metric_set_free(&rk);
    fw_slice_report_free(&sl);
}

int main(int argc, char **argv) {
    (void)argc;
    if (!fw_test_bin()) {
        printf("test_report_browser: no flywheel binary ($FLYWHEEL_BIN)\n");
        return fw_test_report(argv[0]);
    }
    if (!find_chromium()) {
        printf("test_report_browser: SKIPPED — no chromium on this machine (scripts/install-deps.sh installs it)\n");
        return fw_test_report(argv[0]);
    }
    TEST_RUN(test_binary);
    TEST_RUN(test_multiclass);
    TEST_RUN(test_regression);
    TEST_RUN(test_stress);
    TEST_RUN(test_multilabel_and_ranking);
    return fw_test_report(argv[0]);
}
