/* test_batch_models.c — batch with real trained models: every family's batch answers equal the
 * single-row path (fw_bundle_predict_record, what the server calls) to the last bit; the registry
 * route through the real binary; kill -9 then --resume gives the same bytes as an uninterrupted
 * run; exit codes 3 (rejects) and 4 (lock held); `batch history`. Models are trained by the real
 * binary (FLYWHEEL_BIN, set by tests/run.sh) with `train --out DIR --no-register`; the test skips
 * when the binary is not there. */
#include "batch/batch.h"
#include "batch/batch_bundle.h"
#include "batch/batch_int.h"
#include "core/alloc.h"
#include "core/dtoa.h"
#include "data/load.h"
#include "features/record.h"
#include "registry/registry.h"
#include "test.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* the binary under test and whole-file reads come from the harness (tests/support/test.h) */
#define bin fw_test_bin
#define slurp fw_test_slurp

static char *tmp(const char *name) {
    static char buf[64][1024];
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, 1024, "%s/%s", fw_test_tmpdir(), name);
    return p;
}

/* Runs argv (NULL-terminated) with stdout/stderr to log; returns the exit code (or 128+signal). */
static int run(char *const *argv, const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


/* Trains `models` on a project or data file into dir; returns the .fwm path or NULL. */
static const char *train(const char *what, const char *label, const char *models, const char *dir,
                         const char *fwm_name) {
    char *argv[16];
    int k = 0;
    argv[k++] = (char *)bin();
    argv[k++] = "train";
    argv[k++] = (char *)what;
    if (label) {
        argv[k++] = "--label";
        argv[k++] = (char *)label;
    }
    argv[k++] = "--models";
    argv[k++] = (char *)models;
    argv[k++] = "--out";
    argv[k++] = (char *)dir;
    argv[k++] = "--no-register";
    argv[k++] = "--quiet";
    argv[k++] = "--home";
    argv[k++] = tmp("trainhome");
    argv[k] = NULL;
    int rc = run(argv, tmp("train.log"));
    CHECK_MSG(rc == 0, "train %s %s exited %d", what, models, rc);
    char *p = tmp("fwm");
    snprintf(p, 1024, "%s/%s", dir, fwm_name);
    return access(p, F_OK) == 0 ? p : NULL;
}

/* pima's baseline+gbdt artifact, trained once for the tests that need one (ASan time budget). */
static const char *pima_gbdt(void) {
    static char path[1024];
    if (!path[0]) {
        const char *p = train("examples/pima/flywheel.yaml", NULL, "baseline,gbdt", tmp("pima_gbdt_shared"), "pima.fwm");
        if (p) snprintf(path, sizeof path, "%s", p);
    }
    return path[0] ? path : NULL;
}

/* Batch-scores data with the model in fwm and checks every row against the single-row path. */
static void check_equal_to_single_row(const char *fwm, const char *data, const char *tag) {
    fw_err err;
    fw_err_clear(&err);
    fw_batch_bundle *bb;
    fw_status st = fw_batch_bundle_open_file(fwm, &bb, &err);
    CHECK_MSG(st == FW_OK, "%s: %s", tag, err.msg);
    if (st) return;
    const fw_batch_model *m = fw_batch_bundle_model(bb);
    const fw_bundle *b = fw_batch_bundle_get(bb);
    char out[1100];
    snprintf(out, sizeof out, "%s/%s.csv", fw_test_tmpdir(), tag);
    fw_batch_options o;
    fw_batch_options_init(&o);
    o.input = data;
    o.output = out;
    o.home = tmp("home");
    o.threads = 2;
    o.block_rows = 100;
    fw_batch_summary sum;
    st = fw_batch_run(m, &o, &sum, &err);
    CHECK_MSG(st == FW_OK, "%s: %s", tag, err.msg);
    CHECK_EQ(sum.rows_rejected, 0);
    /* the same rows through fw_bundle_predict_record */
    fw_dataset *ds;
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    fw_type_override ov[64];
    size_t nov = 0;
    for (size_t i = 0; i < m->n_inputs && nov < 64; i++) ov[nov++] = (fw_type_override){m->input_names[i], m->input_types[i]};
    lo.overrides = ov;
    lo.n_overrides = nov;
    CHECK_OK(fw_data_load(data, &lo, &ds, NULL, &err));
    const fw_pipeline *pl = fw_bundle_pipeline(b);
    size_t ni = fw_pipeline_n_inputs(pl);
    int *map = fw_calloc(ni + 1, sizeof *map);
    fw_value *vals = fw_calloc(ni + 1, sizeof *vals);
    fw_record_map(pl, ds, map);
    fw_bundle_scratch *s;
    CHECK_OK(fw_bundle_scratch_new(b, &s));
    char *text = slurp(out, NULL);
    CHECK(text != NULL);
    char *save = NULL;
    char *line = text ? strtok_r(text, "\n", &save) : NULL; /* header */
    size_t r = 0, mismatches = 0;
    while (text && (line = strtok_r(NULL, "\n", &save)) != NULL && r < ds->n_rows) {
        fw_record_from_row(ds, map, ni, r, vals);
        fw_prediction p;
        CHECK_OK(fw_bundle_predict_record(b, vals, s, &p, &err));
        /* line,prediction[,score | ,p_...],version,ts */
        char *f[64];
        int nf = 0;
        for (char *c = line; c && nf < 64;) {
            f[nf++] = c;
            c = strchr(c, ',');
            if (c) *c++ = '\0';
        }
        size_t n_scores = m->task == FW_TASK_BINARY ? 1 : m->task == FW_TASK_MULTICLASS ? m->n_outputs : 0;
        if (nf != (int)(4 + n_scores)) {
            mismatches++;
            r++;
            continue;
        }
        if (m->task == FW_TASK_REGRESSION) {
            if (strtod(f[1], NULL) != p.scores[0]) mismatches++;
        } else {
            for (size_t k = 0; k < n_scores; k++)
                if (strtod(f[2 + k], NULL) != p.scores[k]) mismatches++;
            if (!p.label_name || strcmp(f[1], p.label_name) != 0) mismatches++;
        }
        r++;
    }
    CHECK_MSG(mismatches == 0, "%s: %zu values differ from the single-row path", tag, mismatches);
    CHECK_EQ(r, ds->n_rows);
    free(text);
    fw_bundle_scratch_free(s);
    fw_free(map);
    fw_free(vals);
    fw_dataset_free(ds);
    fw_batch_bundle_free(bb);
}

static void make_multiclass(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "a,b,shade,kind\n");
    unsigned s = 12345;
    for (int i = 0; i < 240; i++) {
        s = s * 1103515245u + 12345u;
        double a = (double)(s >> 8 & 1023) / 100.0;
        s = s * 1103515245u + 12345u;
        double b = (double)(s >> 8 & 1023) / 100.0;
        const char *shade = (s >> 20) & 1 ? "dark" : "light";
        const char *kind = a + b < 8 ? "small" : a > b ? "wide" : "tall";
        if (i % 17 == 0) kind = "tall";
        fprintf(f, "%.2f,%.2f,%s,%s\n", a, b, shade, kind);
    }
    fclose(f);
}

static void test_every_family_equals_single_row(void) {
    if (!bin()) {
        printf("  skip: FLYWHEEL_BIN not set\n");
        return;
    }
    static const char *const fams[] = {"linear", "gbdt", "knn", "baseline"};
    for (size_t i = 0; i < 4; i++) {
        char dir[64], models[64], tag[64];
        snprintf(dir, sizeof dir, "pima_%s", fams[i]);
        snprintf(models, sizeof models, "%s%s", strcmp(fams[i], "baseline") ? "baseline," : "", fams[i]);
        const char *fwm = strcmp(fams[i], "gbdt") == 0 ? pima_gbdt()
                                                       : train("examples/pima/flywheel.yaml", NULL, models, tmp(dir), "pima.fwm");
        CHECK_MSG(fwm != NULL, "no artifact for %s", fams[i]);
        snprintf(tag, sizeof tag, "pima_%s", fams[i]);
        if (fwm) check_equal_to_single_row(fwm, "examples/pima/pima.csv", tag);
    }
    static const char *const reg[] = {"linear", "gbdt", "knn"};
    for (size_t i = 0; i < 3; i++) {
        char dir[64], models[64], tag[64];
        snprintf(dir, sizeof dir, "boston_%s", reg[i]);
        snprintf(models, sizeof models, "baseline,%s", reg[i]);
        const char *fwm = train("examples/boston/flywheel.yaml", NULL, models, tmp(dir), "boston.fwm");
        CHECK_MSG(fwm != NULL, "no artifact for boston %s", reg[i]);
        snprintf(tag, sizeof tag, "boston_%s", reg[i]);
        if (fwm) check_equal_to_single_row(fwm, "examples/boston/boston.csv", tag);
    }
    const char *mc = tmp("shapes.csv");
    make_multiclass(mc);
    static const char *const mcf[] = {"linear", "gbdt", "knn", "hier"};
    for (size_t i = 0; i < 4; i++) {
        char dir[64], models[64], tag[64];
        snprintf(dir, sizeof dir, "shapes_%s", mcf[i]);
        snprintf(models, sizeof models, "baseline,%s", mcf[i]);
        const char *fwm = train(mc, "kind", models, tmp(dir), "shapes.fwm");
        if (!fwm) {
            printf("  note: could not train %s on the multiclass fixture (see train.log)\n", mcf[i]);
            continue;
        }
        snprintf(tag, sizeof tag, "shapes_%s", mcf[i]);
        check_equal_to_single_row(fwm, mc, tag);
    }
}

/* Registry route, kill -9 + --resume, exit codes, history — through the real binary. */
static void test_binary_registry_resume_exit_codes(void) {
    if (!bin()) {
        printf("  skip: FLYWHEEL_BIN not set\n");
        return;
    }
    const char *fwm = pima_gbdt();
    CHECK(fwm != NULL);
    if (!fwm) return;
    const char *home = tmp("reghome");
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = home;
    fw_registry *reg;
    fw_err err;
    fw_err_clear(&err);
    CHECK_OK(fw_registry_open(&ro, &reg, &err));
    int64_t v = 0;
    CHECK_OK(fw_registry_import(reg, fwm, NULL, &v, &err));
    CHECK_EQ(v, 1);
    fw_registry_close(reg);
    /* a larger input: pima's rows repeated */
    const char *big = tmp("big.csv");
    char *src = slurp("examples/pima/pima.csv", NULL);
    CHECK(src != NULL);
    if (!src) return;
    FILE *f = fopen(big, "w");
    char *body = strchr(src, '\n') + 1;
    fwrite(src, 1, (size_t)(body - src), f);
    for (int i = 0; i < 15; i++) fputs(body, f);
    fclose(f);
    free(src);
    const char *full = tmp("full.csv"), *part = tmp("part.csv");
    char *argv_full[] = {(char *)bin(), "batch", "--model", "pima@1", "--input", (char *)big, "--output", (char *)full,
                         "--home", (char *)home, "--quiet", "--timestamp", "1700000000000", "--block-rows", "128",
                         "--checkpoint-rows", "512", NULL};
    CHECK_EQ(run(argv_full, tmp("full.log")), 0);
    char *argv_part[] = {(char *)bin(), "batch", "--model", "pima@1", "--input", (char *)big, "--output", (char *)part,
                         "--home", (char *)home, "--quiet", "--timestamp", "1700000000000", "--block-rows", "128",
                         "--checkpoint-rows", "512", "--threads", "2", NULL, NULL};
    /* start, wait until a few checkpoints are written, kill -9, resume; repeat a few times */
    int kills = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            execv(argv_part[0], argv_part);
            _exit(127);
        }
        char state[1100];
        snprintf(state, sizeof state, "%s.state", part);
        struct stat st;
        for (int w = 0; w < 2000; w++) {
            if (stat(part, &st) == 0 && st.st_size > 40000 * (attempt + 1)) break;
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) kills++;
        argv_part[19] = "--resume";
        argv_part[20] = NULL;
    }
    printf("  killed %d of 3 runs mid-way\n", kills);
    CHECK_EQ(run(argv_part, tmp("resume.log")), 0);
    size_t na, nb;
    char *a = slurp(full, &na), *b = slurp(part, &nb);
    CHECK(a && b);
    CHECK_EQ(na, nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    CHECK_EQ(na > 0 ? (long)(strstr(a, "2023-11-14T22:13:20.000Z") != NULL) : 0, 1);
    free(a);
    free(b);
    /* a malformed row → exit 3 and a reject file */
    const char *bad = tmp("bad.csv");
    f = fopen(bad, "w");
    fputs("pregnant,glucose,pressure,triceps,insulin,mass,pedigree,age\n1,85,66,29,,26.6,0.351,31\n"
          "2,lots,66,29,,26.6,0.351,31\n\"unterminated,1\n",
          f);
    fclose(f);
    char *argv_bad[] = {(char *)bin(), "batch", "--model", "pima", "--input", (char *)bad, "--output", tmp("bad_out.csv"),
                        "--home", (char *)home, NULL};
    const char *badlog = tmp("bad.log");
    int rc = run(argv_bad, badlog);
    char *log = slurp(badlog, NULL);
    /* the unterminated quote on the last line is a reject too: the run completes (exit 3) */
    CHECK_MSG(rc == 3, "exit %d: %s", rc, log ? log : "");
    CHECK_CONTAINS(log, "3 rows read, 1 scored, 2 rejected");
    CHECK_CONTAINS(log, "rejected");
    char *rej = slurp(tmp("bad_out.csv.rejects.csv"), NULL);
    CHECK_CONTAINS(rej, "\n3,");
    CHECK_CONTAINS(rej, "glucose");
    CHECK_CONTAINS(rej, "\n4,");
    CHECK_CONTAINS(rej, "bad.csv:4:1: unterminated quoted field");
    free(rej);
    free(log);
    /* the lock held by another process → exit 4 */
    int fd;
    CHECK_OK(fw__lock_take(home, "pima-bad_out.csv", &fd, &err));
    CHECK_EQ(run(argv_bad, tmp("locked.log")), 4);
    fw__lock_release(fd);
    /* usage errors → 2; unknown model → 1 */
    char *argv_usage[] = {(char *)bin(), "batch", "--input", (char *)bad, NULL};
    CHECK_EQ(run(argv_usage, NULL), 2);
    char *argv_nomodel[] = {(char *)bin(), "batch", "--model", "nosuch", "--input", (char *)bad, "--home", (char *)home, NULL};
    CHECK_EQ(run(argv_nomodel, NULL), 1);
    /* history lists the runs */
    char *argv_hist[] = {(char *)bin(), "batch", "history", "--home", (char *)home, NULL};
    const char *hlog = tmp("hist.log");
    CHECK_EQ(run(argv_hist, hlog), 0);
    char *h = slurp(hlog, NULL);
    CHECK_CONTAINS(h, "pima-part.csv");
    CHECK_CONTAINS(h, " ok ");
    CHECK_CONTAINS(h, "rejected");
    CHECK_CONTAINS(h, "pima-bad_out.csv");
    CHECK(strstr(h, "95433") == NULL); /* seconds come from the real clock, not --timestamp */
    free(h);
}

/* `--entities users.csv --items items.csv --top-k K` through the real binary with a real model:
 * each entity's K best items, best first, with scores equal to the single-row path on the merged
 * record (item columns from the item file, the others from the entity); the item id column is the
 * items file's first non-input column when --item-id is not given. */
static void test_binary_recommendations(void) {
    if (!bin()) {
        printf("  skip: FLYWHEEL_BIN not set\n");
        return;
    }
    const char *fwm = pima_gbdt();
    CHECK(fwm != NULL);
    if (!fwm) return;
    const char *users = tmp("users.csv"), *items = tmp("items.csv"), *out = tmp("recs.csv");
    FILE *f = fopen(users, "w");
    fprintf(f, "user,pregnant,pressure,triceps,mass,pedigree,age\n");
    for (int u = 0; u < 30; u++)
        fprintf(f, "U%d,%d,%d,%d,%.1f,%.3f,%d\n", u, u % 9, 60 + u % 25, 20 + u % 15, 22.0 + u * 0.7, 0.1 + u * 0.03, 21 + u * 2);
    fclose(f);
    f = fopen(items, "w");
    fprintf(f, "sku,glucose,insulin\n");
    for (int i = 0; i < 40; i++) fprintf(f, "item%02d,%d,%d\n", i, 70 + (i * 37) % 130, (i * 53) % 300);
    fclose(f);
    char *argv[] = {(char *)bin(), "batch", "--model", (char *)fwm, "--entities", (char *)users, "--items", (char *)items,
                    "--top-k", "3", "--id", "user", "--output", (char *)out, "--home", tmp("rechome"), "--quiet",
                    "--timestamp", "2024-01-02T03:04:05Z", NULL};
    const char *log = tmp("rec.log");
    int rc = run(argv, log);
    char *ltxt = slurp(log, NULL);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, ltxt ? ltxt : "");
    free(ltxt);
    char *txt = slurp(out, NULL);
    CHECK(txt != NULL);
    if (!txt) return;
    CHECK(strncmp(txt, "user,rank,sku,score,model_version,scored_at\n", 44) == 0);
    /* the expected answer, brute force through the single-row path */
    fw_err err;
    fw_err_clear(&err);
    fw_batch_bundle *bb;
    CHECK_OK(fw_batch_bundle_open_file(fwm, &bb, &err));
    const fw_batch_model *m = fw_batch_bundle_model(bb);
    const fw_bundle *b = fw_batch_bundle_get(bb);
    fw_bundle_scratch *s;
    CHECK_OK(fw_bundle_scratch_new(b, &s));
    size_t ni = m->n_inputs;
    fw_value *v = fw_calloc(ni + 1, sizeof *v);
    int lines = 0, bad = 0;
    for (int u = 0; u < 30; u++) {
        double best[3] = {-1, -1, -1};
        int bi[3] = {-1, -1, -1};
        for (int i = 0; i < 40; i++) {
            for (size_t k = 0; k < ni; k++) {
                const char *n = m->input_names[k];
                double x = NAN;
                if (!strcmp(n, "glucose")) x = 70 + (i * 37) % 130;
                else if (!strcmp(n, "insulin")) x = (i * 53) % 300;
                else if (!strcmp(n, "pregnant")) x = u % 9;
                else if (!strcmp(n, "pressure")) x = 60 + u % 25;
                else if (!strcmp(n, "triceps")) x = 20 + u % 15;
                else if (!strcmp(n, "age")) x = 21 + u * 2;
                else if (!strcmp(n, "mass") || !strcmp(n, "pedigree")) {
                    char t[32];
                    snprintf(t, sizeof t, !strcmp(n, "mass") ? "%.1f" : "%.3f", !strcmp(n, "mass") ? 22.0 + u * 0.7 : 0.1 + u * 0.03);
                    x = strtod(t, NULL);
                }
                v[k] = isnan(x) ? (fw_value){FW_VALUE_MISSING, 0, NULL, 0} : (fw_value){FW_VALUE_NUMBER, x, NULL, 0};
            }
            fw_prediction p;
            CHECK_OK(fw_bundle_predict_record(b, v, s, &p, &err));
            double sc = p.scores[0];
            for (int r = 0; r < 3; r++)
                if (sc > best[r]) {
                    for (int z = 2; z > r; z--) {
                        best[z] = best[z - 1];
                        bi[z] = bi[z - 1];
                    }
                    best[r] = sc;
                    bi[r] = i;
                    break;
                }
        }
        for (int r = 0; r < 3; r++) {
            char want[160], num[40];
            fw_dtoa(best[r], num);
            snprintf(want, sizeof want, "\nU%d,%d,item%02d,%s,%s,2024-01-02T03:04:05.000Z\n", u, r + 1, bi[r], num, m->version);
            if (!strstr(txt, want)) {
                if (bad++ < 3) printf("  missing: %s", want + 1);
            }
            lines++;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(lines, 90);
    int n = 0;
    for (const char *c = txt; *c; c++) n += *c == '\n';
    CHECK_EQ(n, 91);
    free(txt);
    fw_free(v);
    fw_bundle_scratch_free(s);
    fw_batch_bundle_free(bb);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_every_family_equals_single_row);
    TEST_RUN(test_binary_registry_resume_exit_codes);
    TEST_RUN(test_binary_recommendations);
    return fw_test_report(argv[0]);
}
