/* test_embed.c — the library as another program sees it: `make install DESTDIR=... PREFIX=...` puts
 * the binary, include/flywheel.h, libflywheel.a, libflywheel.so (with its SONAME) and flywheel.pc
 * in place; `nm -D` on the .so lists only functions the public header declares; examples/embed/
 * predict.c, copied out of the tree and built with `pkg-config --cflags --libs flywheel` against the
 * installed files only, prints for every data row the text of the `prediction` column `flywheel
 * batch` writes (binary, multiclass with quoted cells and missing values, regression); and the
 * prediction-only build (`make predict-lib`) links the same program with no SQLite, YAML, HTTP or
 * JSON library and gives the same lines. Uses the release build (make V=release). */
#include "test.h"
#include "csv_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory V=release"

static char g_stage[900], g_lib[1000], g_pc[1100];
static bool g_installed;

static void test_install(void) {
    snprintf(g_stage, sizeof g_stage, "%s/stage", fw_test_tmpdir());
    snprintf(g_lib, sizeof g_lib, "%s/opt/fw/lib", g_stage);
    snprintf(g_pc, sizeof g_pc, "%s/pkgconfig", g_lib);
    char *out = NULL;
    int rc = fw_test_sh(&out, MAKE " install PREFIX=/opt/fw DESTDIR='%s' 2>&1", g_stage);
    CHECK_MSG(rc == 0, "make install exited %d: %s", rc, out ? out : "");
    free(out);
    static const char *const files[] = {"bin/flywheel", "include/flywheel.h", "lib/libflywheel.a", "lib/libflywheel.so",
                                        "lib/libflywheel.so.0", "lib/pkgconfig/flywheel.pc"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/opt/fw/%s", g_stage, files[i]);
        CHECK_MSG(access(p, F_OK) == 0, "not installed: %s", files[i]);
    }
    /* the installed binary runs */
    rc = fw_test_sh(&out, "'%s/opt/fw/bin/flywheel' --version", g_stage);
    CHECK_EQ(rc, 0);
    free(out);
    /* SONAME */
    rc = fw_test_sh(&out, "readelf -d '%s/libflywheel.so' | grep SONAME", g_lib);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "[libflywheel.so.0]");
    free(out);
    /* pkg-config sees the staged prefix */
    rc = fw_test_sh(&out, "PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH='%s' pkg-config --cflags --libs flywheel", g_stage,
                    g_pc);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "-lflywheel");
    CHECK_CONTAINS(out, "/opt/fw/include");
    free(out);
    g_installed = rc == 0;
}

/* Every dynamic symbol the .so defines is a function of the public header (and only those). */
static void test_exports_only_public_api(void) {
    if (!g_installed) return;
    char *out = NULL;
    int rc = fw_test_sh(&out, "nm -D --defined-only '%s/libflywheel.so' | awk '{print $3}' | sort", g_lib);
    CHECK_EQ(rc, 0);
    char *hdr = fw_test_slurp("include/flywheel.h", NULL);
    CHECK(hdr != NULL);
    size_t n = 0;
    char *save = NULL;
    for (char *s = out ? strtok_r(out, "\n", &save) : NULL; s && hdr; s = strtok_r(NULL, "\n", &save)) {
        char *at = strchr(s, '@'); /* version suffix, if any */
        if (at) *at = '\0';
        char decl[300];
        snprintf(decl, sizeof decl, " %s(", s);
        bool in_header = strstr(hdr, decl) != NULL;
        snprintf(decl, sizeof decl, "*%s(", s);
        in_header = in_header || strstr(hdr, decl) != NULL;
        CHECK_MSG(in_header && strncmp(s, "fw_", 3) == 0, "libflywheel.so exports '%s', not in include/flywheel.h", s);
        n++;
    }
    CHECK_MSG(n >= 30, "only %zu exported symbols", n);
    /* and the prediction API is among them */
    CHECK(out != NULL);
    free(out);
    rc = fw_test_sh(&out, "nm -D --defined-only '%s/libflywheel.so' | grep -c ' T fw_predict_record$'", g_lib);
    CHECK_EQ(rc, 0);
    free(out);
    free(hdr);
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s) {
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

/* The `prediction` column of batch's CSV output, one value per line (unquoted). */
static char *batch_predictions(const char *fwm, const char *data, const char *tag) {
    char *out = NULL;
    int rc = fw_test_sh(NULL, "\"$FW\" batch --model '%s' --input '%s' --output \"$T/batch_%s.csv\" --quiet --home \"$T/bh\"",
                        fwm, data, tag);
    CHECK_MSG(rc == 0, "%s: batch exited %d", tag, rc);
    char path[1100];
    snprintf(path, sizeof path, "%s/batch_%s.csv", fw_test_tmpdir(), tag);
    char *text = fw_test_slurp(path, NULL);
    csv_rows c;
    if (!text || !csv_parse(text, &c)) {
        CHECK_MSG(false, "%s: cannot read batch output", tag);
        free(text);
        return NULL;
    }
    int pc = col_of(&c, "prediction");
    CHECK(pc >= 0);
    sbuf b = {0};
    for (size_t r = 1; pc >= 0 && r <= c.n_rows; r++) {
        put(&b, cell(&c, r, (size_t)pc));
        put(&b, "\n");
    }
    csv_free(&c);
    free(text);
    out = b.p ? b.p : strdup("");
    return out;
}

static void make_shapes(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "\xEF\xBB\xBF" "a,b,shade,kind\r\n");
    unsigned s = 4242;
    for (int i = 0; i < 200; i++) {
        s = s * 1103515245u + 12345u;
        double a = (double)(s >> 8 & 1023) / 100.0;
        s = s * 1103515245u + 12345u;
        double b = (double)(s >> 8 & 1023) / 100.0;
        const char *kind = a + b < 8 ? "small, round" : a > b ? "wide \"flat\"" : "tall";
        const char *q = kind[0] == 's' ? "\"small, round\"" : kind[0] == 'w' ? "\"wide \"\"flat\"\"\"" : "tall";
        if (i % 7 == 0) fprintf(f, "%.2f,NA,,%s\r\n", a, q);
        else fprintf(f, "%.2f,%.2f,\"%s\",%s\r\n", a, b, (s >> 20) & 1 ? "dark" : "light", q);
        if (i == 50) fprintf(f, "\r\n"); /* a blank line: skipped by both */
    }
    fclose(f);
}

static void test_example_equals_batch(void) {
    if (!g_installed || !fw_test_bin()) return;
    char *out = NULL;
    /* the example, out of the tree, against the installed files only */
    int rc = fw_test_sh(&out, "cp examples/embed/predict.c \"$T/predict.c\" && cd \"$T\" && "
                              "PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_PATH='%s' sh -c "
                              "'cc -std=c17 -Wall -Wextra -Werror -o predict predict.c $(pkg-config --cflags --libs flywheel)' 2>&1",
                    g_stage, g_pc);
    CHECK_MSG(rc == 0, "building the example: %s", out ? out : "");
    free(out);
    if (rc) return;
    /* the prediction-only build of the same program */
    rc = fw_test_sh(&out, MAKE " predict-lib 2>&1");
    CHECK_MSG(rc == 0, "make predict-lib: %s", out ? out : "");
    free(out);
    rc = fw_test_sh(&out, "readelf -d build/examples/embed/predict-static | grep NEEDED");
    CHECK_EQ(rc, 0);
    static const char *const banned[] = {"sqlite", "yaml", "jansson", "microhttpd", "libz", "zstd", "flywheel"};
    for (size_t i = 0; out && i < sizeof banned / sizeof *banned; i++)
        CHECK_MSG(!strstr(out, banned[i]), "the prediction-only program needs %s: %s", banned[i], out);
    free(out);
    char shapes[1000];
    snprintf(shapes, sizeof shapes, "%s/shapes.csv", fw_test_tmpdir());
    make_shapes(shapes);
    struct {
        const char *what, *label, *models, *fwm, *data, *tag;
    } cases[] = {
        {"examples/pima/flywheel.yaml", NULL, "gbdt", "pima.fwm", "examples/pima/pima.csv", "pima"},
        {"examples/boston/flywheel.yaml", NULL, "linear", "boston.fwm", "examples/boston/boston.csv", "boston"},
        {shapes, "kind", "gbdt", "shapes.fwm", shapes, "shapes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rc = fw_test_sh(NULL, "\"$FW\" train '%s' %s%s --models %s --out \"$T/m_%s\" --no-register --quiet --threads 1 "
                              "--home \"$T/th\"", cases[i].what, cases[i].label ? "--label " : "",
                        cases[i].label ? cases[i].label : "", cases[i].models, cases[i].tag);
        CHECK_MSG(rc == 0, "train %s exited %d", cases[i].tag, rc);
        if (rc) continue;
        char fwm[1200];
        snprintf(fwm, sizeof fwm, "%s/m_%s/%s", fw_test_tmpdir(), cases[i].tag, cases[i].fwm);
        char *want = batch_predictions(fwm, cases[i].data, cases[i].tag);
        char *got = NULL, *got_static = NULL;
        rc = fw_test_sh(&got, "LD_LIBRARY_PATH='%s' \"$T/predict\" '%s' '%s'", g_lib, fwm, cases[i].data);
        CHECK_MSG(rc == 0, "%s: predict exited %d", cases[i].tag, rc);
        int rc2 = fw_test_sh(&got_static, "build/examples/embed/predict-static '%s' '%s'", fwm, cases[i].data);
        CHECK_MSG(rc2 == 0, "%s: predict-static exited %d", cases[i].tag, rc2);
        if (want && got && strcmp(want, got) != 0) {
            size_t k = 0;
            while (want[k] && want[k] == got[k]) k++;
            size_t from = k > 40 ? k - 40 : 0;
            printf("  %s: first difference at byte %zu: batch [%.80s] example [%.80s]\n", cases[i].tag, k, want + from,
                   got + from);
        }
        CHECK_MSG(want && got && strcmp(want, got) == 0, "%s: the example's lines differ from batch's prediction column",
                  cases[i].tag);
        CHECK_MSG(want && got_static && strcmp(want, got_static) == 0, "%s: predict-static differs from batch",
                  cases[i].tag);
        CHECK_MSG(want && strlen(want) > 100, "%s: batch wrote too little", cases[i].tag);
        free(want);
        free(got);
        free(got_static);
    }
}

int main(void) {
    TEST_RUN(test_install);
    TEST_RUN(test_exports_only_public_api);
    TEST_RUN(test_example_equals_batch);
    return fw_test_report("test_embed");
}
