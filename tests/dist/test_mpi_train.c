/* test_mpi_train.c — `mpirun -np N flywheel train` (the MPI build, build-mpi/flywheel; make mpi):
 * np = 1, 2 and 4 register byte-identical artifacts (fixed-point histograms, sampling keyed on the
 * global row id) and only rank 0 registers; a rank killed with SIGKILL ends the whole job fast;
 * a job killed after a checkpoint resumes to the model an uninterrupted run builds; the default
 * binary does not link MPI. Skipped (with a note) only when mpirun is not installed. */
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mpi_bin;

/* A binary task with numeric features (some missing), a categorical one and noise, n rows. */
static void write_data(const char *path, size_t n, unsigned seed) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "a,b,c,d,e,f,g,h,colour,y\n");
    static const char *const colours[] = {"red", "green", "blue", "grey"};
    unsigned s = seed;
    for (size_t i = 0; i < n; i++) {
        double v[10];
        fw_test_uniforms(&s, v, 10);
        double score = 1.5 * v[0] - v[1] + v[2] * v[3] + 0.7 * (v[8] > 0.3) + 0.5 * v[9];
        for (int j = 0; j < 8; j++) {
            if (j == 4 && v[9] > 0.8) fprintf(f, ",");
            else fprintf(f, "%s%.5f", j ? "," : "", v[j]);
        }
        /* colours first seen late in the file (a later rank's range only): a sharded load must
         * still give them the codes a whole-file load does */
        const char *colour = colours[(int)((v[8] + 1) * 2) & 3];
        if (i > n * 3 / 4 && v[7] > 0.6) colour = v[6] > 0 ? "violet" : "amber";
        fprintf(f, ",%s,%d\n", colour, score > 0);
    }
    fclose(f);
}

static int mpirun_train(char **out, int np, const char *tag, const char *extra) {
    return fw_test_sh(out,
                      "FLYWHEEL_DIST_LOG=1 mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np %d %s train "
                      "$T/data.csv --label y --models gbdt --seed 11 --threads 1 --quiet --home $T/home-%s "
                      "--out $T/out-%s --param gbdt.n_estimators=40 --param gbdt.subsample=0.8 "
                      "--param gbdt.colsample_bytree=0.8 --param gbdt.max_depth=3 %s 2>&1",
                      np, mpi_bin, tag, tag, extra ? extra : "");
}

static void test_default_binary_links_no_mpi(void) {
    char *out = NULL;
    CHECK_EQ(fw_test_sh(&out, "ldd \"$FW\""), 0);
    CHECK_MSG(out && !strstr(out, "libmpi") && !strstr(out, "libopen-"), "default binary links MPI: %s", out);
    free(out);
    CHECK_EQ(fw_test_sh(&out, "ldd %s", mpi_bin), 0);
    CHECK_CONTAINS(out, "libmpi");
    free(out);
}

/* The FLYWHEEL_DIST_LOG lines of a run of np ranks over a file of `size` bytes and `rows` rows:
 * every rank parsed only its byte range (the ranges tile the file in rank order) and about a 1/np
 * share of the rows, and the table every rank assembled holds them all. */
static void check_shards(const char *out, int np, unsigned long long size, size_t rows) {
    unsigned long long begin[8] = {0}, end[8] = {0};
    size_t got[8] = {0}, total[8] = {0};
    int seen = 0;
    for (const char *p = out; p && (p = strstr(p, "flywheel: rank ")) != NULL; p++) {
        int r, n;
        unsigned long long b, e;
        size_t k, t;
        if (sscanf(p, "flywheel: rank %d of %d: %*[^:]: parsed bytes [%llu, %llu), %zu of %zu rows", &r, &n, &b, &e,
                   &k, &t) != 6 || r < 0 || r >= 8 || n != np)
            continue;
        begin[r] = b, end[r] = e, got[r] = k, total[r] = t;
        seen |= 1 << r;
    }
    CHECK_MSG(seen == (1 << np) - 1, "np=%d: not every rank loaded its shard: %s", np, out);
    size_t sum = 0;
    for (int r = 0; r < np; r++) {
        CHECK_MSG(begin[r] == (r ? end[r - 1] : 0) && end[r] > begin[r], "np=%d rank %d: bytes [%llu, %llu)", np, r,
                  begin[r], end[r]);
        /* its share: within 10% of rows / np (the rows are about the same length) */
        CHECK_MSG(got[r] * 10 * (size_t)np > rows * 9 && got[r] * 10 * (size_t)np < rows * 11,
                  "np=%d rank %d parsed %zu of %zu rows", np, r, got[r], rows);
        CHECK_MSG(total[r] == rows, "np=%d rank %d assembled %zu rows", np, r, total[r]);
        sum += got[r];
    }
    CHECK_MSG(end[np - 1] == size, "np=%d: the last range ends at %llu of %llu", np, end[np - 1], size);
    CHECK_MSG(sum == rows, "np=%d: the ranks parsed %zu rows in all, not %zu", np, sum, rows);
}

static void test_np_1_2_4_identical(void) {
    char *out = NULL;
    const char *tags[] = {"np1", "np2", "np4"};
    int nps[] = {1, 2, 4};
    char data[512];
    snprintf(data, sizeof data, "%s/data.csv", fw_test_tmpdir());
    FILE *f = fopen(data, "r");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    unsigned long long size = (unsigned long long)ftell(f);
    fclose(f);
    for (int i = 0; i < 3; i++) {
        int rc = mpirun_train(&out, nps[i], tags[i], NULL);
        CHECK_MSG(rc == 0, "np=%d: exit %d: %s", nps[i], rc, out);
        if (nps[i] > 1) check_shards(out, nps[i], size, 4000);
        free(out);
    }
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/out-np1/data.fwm", fw_test_tmpdir());
    for (int i = 1; i < 3; i++) {
        snprintf(b, sizeof b, "%s/out-%s/data.fwm", fw_test_tmpdir(), tags[i]);
        CHECK_MSG(fw_test_same_file(a, b), "np=1 and %s artifacts differ", tags[i]);
    }
    /* one registration, by rank 0 */
    CHECK_EQ(fw_test_sh(&out, "\"$FW\" models list --home $T/home-np4"), 0);
    CHECK_CONTAINS(out, "data");
    int versions = 0;
    for (char *p = out; (p = strstr(p, "data")) != NULL; p += 4) versions++;
    CHECK_MSG(versions == 1, "expected one registered version: %s", out);
    free(out);
}

/* A sharded load whose range cannot be parsed alone falls back to the whole file on every rank:
 * a bad value in the last rank's range is the whole-file error with the file's line number, and a
 * quoted field holding newlines across a range boundary still trains the np = 1 model. */
static void test_shard_fallbacks(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "awk 'NR == 3800 { $0 = \"0.5,x9,0.1,0.1,0.1,0.1,0.1,0.1,red,1\" } { print }' "
                              "$T/data.csv > $T/bad.csv");
    CHECK_EQ(rc, 0);
    free(out);
    rc = fw_test_sh(&out, "FLYWHEEL_DIST_LOG=1 mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 "
                          "-np 2 %s train $T/bad.csv --label y --models gbdt --threads 1 --quiet --no-register "
                          "--home $T/home-bad 2>&1",
                    mpi_bin);
    CHECK_MSG(rc != 0, "a bad value was accepted: %s", out);
    CHECK_CONTAINS(out, "bad.csv:3800:");
    CHECK_CONTAINS(out, "column 'b': expected a number, got 'x9'");
    CHECK_CONTAINS(out, "loading the whole file");
    free(out);
    /* every row's note holds a newline inside quotes after most of the row's bytes: the middle of
     * the file falls before one (the test checks that it did) */
    char q[512];
    snprintf(q, sizeof q, "%s/quoted.csv", fw_test_tmpdir());
    FILE *f = fopen(q, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "a,note,y\n");
    unsigned s = 5;
    for (int i = 0; i < 599; i++) { /* odd: the middle falls mid-row */
        double v[2];
        fw_test_uniforms(&s, v, 2);
        fprintf(f, "%.4f,\"first line %03d of a note, long enough for the middle of the file to fall in it\n%s\",%d\n",
                v[0], i, v[1] > 0 ? "yes" : "no", v[0] + 0.3 * v[1] > 0);
    }
    fclose(f);
    for (int np = 1; np <= 2; np++) {
        rc = fw_test_sh(&out,
                        "FLYWHEEL_DIST_LOG=1 mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 "
                        "-np %d %s train $T/quoted.csv --label y --models gbdt --seed 3 --threads 1 --quiet "
                        "--no-register --home $T/home-q%d --out $T/out-q%d --param gbdt.n_estimators=10 2>&1",
                        np, mpi_bin, np, np);
        CHECK_MSG(rc == 0, "quoted np=%d: exit %d: %s", np, rc, out);
        if (np == 2) CHECK_CONTAINS(out, "loading the whole file");
        free(out);
    }
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/out-q1/quoted.fwm", fw_test_tmpdir());
    snprintf(b, sizeof b, "%s/out-q2/quoted.fwm", fw_test_tmpdir());
    CHECK_MSG(fw_test_same_file(a, b), "np=1 and np=2 artifacts differ on the quoted file");
}

/* A rank killed with SIGKILL mid-training: mpirun ends the whole job (non-zero) within seconds
 * instead of leaving the other rank blocked in a collective. */
static void test_killed_rank_ends_job(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out,
                        "mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np 2 %s train "
                        "$T/data.csv --label y --models gbdt --threads 1 --quiet --no-register --home $T/home-kill "
                        "--param gbdt.n_estimators=100000 --param gbdt.early_stopping_rounds=0 >$T/kill.log 2>&1 & "
                        "mp=$!; i=0; while [ $(pgrep -P $mp | wc -l) -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; "
                        "i=$((i+1)); done; sleep 3; "
                        "victim=$(pgrep -P $mp | tail -n 1); [ -n \"$victim\" ] || { echo no rank; exit 3; }; "
                        "t0=$(date +%%s%%N); kill -9 $victim; wait $mp; rc=$?; t1=$(date +%%s%%N); "
                        "echo \"rc=$rc ms=$(( (t1 - t0) / 1000000 ))\"; "
                        "pgrep -P $mp >/dev/null && echo 'ranks left'; exit 0",
                        mpi_bin);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    int job_rc = -1, ms = -1;
    const char *p = out ? strstr(out, "rc=") : NULL;
    CHECK_MSG(p && sscanf(p, "rc=%d ms=%d", &job_rc, &ms) == 2, "no result: %s", out);
    CHECK_MSG(job_rc != 0, "the job did not fail: %s", out);
    /* measured ~1 s; 20 s leaves room for a loaded machine, a hang would be forever */
    CHECK_MSG(ms >= 0 && ms < 20000, "the job took %d ms to end after the kill", ms);
    CHECK_MSG(out && !strstr(out, "ranks left"), "ranks left running: %s", out);
    free(out);
}

/* A job killed after its first checkpoint, run again with the same command, resumes (it says so)
 * and registers the artifact of an uninterrupted run, byte for byte. */
static void test_checkpoint_resume_identical(void) {
    char *out = NULL;
    const char *longer = "--param gbdt.n_estimators=120 --param gbdt.early_stopping_rounds=0";
    int rc = mpirun_train(&out, 2, "whole", longer);
    CHECK_MSG(rc == 0, "uninterrupted: exit %d: %s", rc, out);
    free(out);
    rc = fw_test_sh(&out,
                    "mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np 2 %s train "
                    "$T/data.csv --label y --models gbdt --seed 11 --threads 1 --quiet --home $T/home-ck "
                    "--out $T/out-ck --param gbdt.n_estimators=40 --param gbdt.subsample=0.8 "
                    "--param gbdt.colsample_bytree=0.8 --param gbdt.max_depth=3 %s --checkpoint $T/ck --checkpoint-every 7 "
                    ">$T/ck1.log 2>&1 & mp=$!; i=0; "
                    "while ! ls $T/ck/gbdt-*.ckpt >/dev/null 2>&1 && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; "
                    "victim=$(pgrep -P $mp | tail -n 1); [ -n \"$victim\" ] && kill -9 $victim; wait $mp; "
                    "echo \"first=$?\"; ls $T/ck",
                    mpi_bin, longer);
    CHECK_MSG(rc == 0 && out && strstr(out, ".ckpt") && !strstr(out, "first=0"), "killed run: %s", out);
    CHECK_MSG(access("out-ck", F_OK) != 0, "cwd polluted");
    free(out);
    rc = mpirun_train(&out, 2, "ck", "--param gbdt.n_estimators=120 --param gbdt.early_stopping_rounds=0 "
                                     "--checkpoint $T/ck --checkpoint-every 7");
    CHECK_MSG(rc == 0, "resumed: exit %d: %s", rc, out);
    CHECK_CONTAINS(out, "gbdt resumed at round");
    free(out);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/out-whole/data.fwm", fw_test_tmpdir());
    snprintf(b, sizeof b, "%s/out-ck/data.fwm", fw_test_tmpdir());
    CHECK_MSG(fw_test_same_file(a, b), "the resumed artifact differs from the uninterrupted one");
}

/* The default binary (no MPI): a run that finds the checkpoints a finished run left (the last at
 * round 35 of 40 for each fit) resumes from them and registers the artifact of a run without
 * checkpoints. */
static void test_checkpoint_default_build(void) {
    char *out = NULL;
    const char *common = "train $T/data.csv --label y --models gbdt --seed 5 --threads 2 --quiet --no-register "
                         "--param gbdt.n_estimators=40 --param gbdt.subsample=0.7 --param gbdt.early_stopping_rounds=0";
    int rc = fw_test_sh(&out, "\"$FW\" %s --home $T/hd --out $T/plain", common);
    CHECK_MSG(rc == 0, "plain: %s", out);
    free(out);
    rc = fw_test_sh(&out, "\"$FW\" %s --home $T/hd --out $T/ck-a --checkpoint $T/ckd --checkpoint-every 5", common);
    CHECK_MSG(rc == 0, "first: %s", out);
    CHECK_MSG(out && !strstr(out, "resumed"), "nothing to resume from yet: %s", out);
    free(out);
    rc = fw_test_sh(&out, "\"$FW\" %s --home $T/hd --out $T/ck-b --checkpoint $T/ckd --checkpoint-every 5 2>&1", common);
    CHECK_MSG(rc == 0, "second: %s", out);
    CHECK_CONTAINS(out, "gbdt resumed at round 35 of 40");
    free(out);
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/plain/data.fwm", fw_test_tmpdir());
    snprintf(b, sizeof b, "%s/ck-a/data.fwm", fw_test_tmpdir());
    snprintf(c, sizeof c, "%s/ck-b/data.fwm", fw_test_tmpdir());
    CHECK_MSG(fw_test_same_file(a, b), "checkpointing changed the model");
    CHECK_MSG(fw_test_same_file(a, c), "the resumed model differs");
    /* a damaged checkpoint is an error naming it, never a silently different model */
    rc = fw_test_sh(&out, "for f in $T/ckd/*.ckpt; do printf 'xx' | dd of=$f bs=1 seek=100 conv=notrunc 2>/dev/null; done; "
                          "\"$FW\" %s --home $T/hd --checkpoint $T/ckd 2>&1", common);
    CHECK_MSG(rc != 0, "a damaged checkpoint was accepted: %s", out);
    CHECK_CONTAINS(out, "damaged");
    free(out);
}

int main(void) {
    if (fw_test_sh(NULL, "command -v mpirun") != 0) {
        printf("test_mpi_train: mpirun not installed (scripts/install-deps.sh): skipped\n");
        return fw_test_report("test_mpi_train");
    }
    mpi_bin = getenv("FLYWHEEL_MPI_BIN") ? getenv("FLYWHEEL_MPI_BIN") : "build-mpi/flywheel";
    static char abs_bin[1024];
    if (mpi_bin[0] != '/' && getcwd(abs_bin, 512)) {
        strcat(abs_bin, "/");
        strncat(abs_bin, mpi_bin, 500);
        mpi_bin = abs_bin;
    }
    if (access(mpi_bin, X_OK) != 0) {
        fw_test_fail(__FILE__, __LINE__, "%s missing: `make mpi` builds it", mpi_bin);
        return fw_test_report("test_mpi_train");
    }
    char path[512];
    snprintf(path, sizeof path, "%s/data.csv", fw_test_tmpdir());
    write_data(path, 4000, 7);
    TEST_RUN(test_default_binary_links_no_mpi);
    TEST_RUN(test_checkpoint_default_build);
    /* the mpirun runs use build-mpi/flywheel whatever the variant under test: once is enough */
    const char *fw = getenv("FLYWHEEL_BIN");
    if (fw && strstr(fw, "build-san")) {
        printf("test_mpi_train: the mpirun tests run with the release suite only\n");
        return fw_test_report("test_mpi_train");
    }
    TEST_RUN(test_np_1_2_4_identical);
    TEST_RUN(test_shard_fallbacks);
    TEST_RUN(test_killed_rank_ends_job);
    TEST_RUN(test_checkpoint_resume_identical);
    return fw_test_report("test_mpi_train");
}
