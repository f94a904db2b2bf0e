/* test_batch_partition.c — `flywheel batch --partition I/N` (several workers over newline-aligned
 * byte ranges of one input, each committing its part once) and `batch merge`: the merged output is
 * byte-identical to one process's, whatever N, the order the workers ran in, a worker killed with
 * SIGKILL and run again, or workers launched by mpirun / a Slurm array (--partition auto); and the
 * stdin → stdout mode that Spark's RDD.pipe or GNU parallel drive. */
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAMP "--timestamp 1700000000000"

/* N workers (in reverse order), then merge: == the one-process output. */
static void run_partitions(int n) {
    char *out = NULL;
    for (int i = n - 1; i >= 0; i--) {
        int rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/p%d.csv "
                                  "--partition %d/%d --threads 1 --quiet " STAMP " --home $T/h 2>&1", n, i, n);
        CHECK_MSG(rc == 0, "partition %d/%d: exit %d: %s", i, n, rc, out);
        free(out);
    }
    int rc = fw_test_sh(&out, "\"$FW\" batch merge --output $T/p%d.csv --partitions %d 2>&1", n, n);
    CHECK_MSG(rc == 0, "merge: %s", out);
    free(out);
    char name[64];
    snprintf(name, sizeof name, "p%d.csv", n);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file(name)), "%d partitions merged differ from one process", n);
}

static void test_partitions_merge_identical(void) {
    run_partitions(2);
    run_partitions(3);
    run_partitions(7);
}

static void test_committed_partition_runs_once(void) {
    char *out = NULL;
    /* p2.csv.part-0-of-2 was committed above: a second run does nothing and leaves it alone */
    CHECK_EQ(fw_test_sh(NULL, "cp $T/p2.csv.part-0-of-2 $T/keep"), 0);
    int rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/p2.csv "
                              "--partition 0/2 --quiet --timestamp 1800000000000 --home $T/h 2>&1");
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "already committed");
    free(out);
    CHECK(fw_test_same_file(fw_test_tmp_file("keep"), fw_test_tmp_file("p2.csv.part-0-of-2")));
    /* merging before every partition is committed fails, naming the missing ones */
    rc = fw_test_sh(&out, "\"$FW\" batch merge --output $T/p5.csv --partitions 5 2>&1");
    CHECK(rc != 0);
    CHECK_CONTAINS(out, "5 of 5 partitions not committed yet (0, 1, 2, 3, 4)");
    free(out);
    rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/p5.csv "
                          "--partition 5/5 --home $T/h 2>&1");
    CHECK_EQ(rc, 2);
    CHECK_CONTAINS(out, "I/N");
    free(out);
}

/* A worker killed with SIGKILL mid-partition leaves no committed part; run again, it commits, and
 * the merge is the one-process output. */
static void test_killed_worker_rerun(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out,
                        "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/k.csv --partition 1/3 "
                        "--threads 1 --block-rows 64 --checkpoint-rows 64 --quiet " STAMP " --home $T/h >/dev/null 2>&1 & "
                        "pid=$!; i=0; while [ ! -s $T/k.csv.part-1-of-3.inprogress ] && [ ! -e $T/k.csv.part-1-of-3 ] && "
                        "[ $i -lt 3000 ]; do "
                        "sleep 0.01; i=$((i+1)); done; kill -9 $pid; wait $pid; echo \"rc=$?\"; "
                        "ls $T | grep '^k.csv' || true");
    CHECK_MSG(rc == 0 && out && strstr(out, "rc=137"), "not killed mid-run: %s", out);
    CHECK_MSG(out && !strstr(out, "k.csv.part-1-of-3\n"), "a killed partition was committed: %s", out);
    free(out);
    for (int i = 0; i < 3; i++) {
        rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/k.csv "
                              "--partition %d/3 --threads 1 --quiet " STAMP " --home $T/h 2>&1", i);
        CHECK_MSG(rc == 0, "partition %d: %s", i, out);
        free(out);
    }
    CHECK_EQ(fw_test_sh(NULL, "\"$FW\" batch merge --output $T/k.csv --partitions 3"), 0);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("k.csv")), "merge after a killed worker differs");
}

/* --partition auto: the rank and size from mpirun (the default binary: no MPI library needed) and
 * from a Slurm array's variables. */
static void test_partition_auto(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=2 \"$FW\" batch "
                              "--model $T/m/pima.fwm --input $T/big.csv --output $T/s.csv --partition auto --quiet "
                              STAMP " --home $T/h 2>&1; ls $T | grep '^s.csv.part'");
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_CONTAINS(out, "s.csv.part-1-of-2");
    free(out);
    if (fw_test_sh(NULL, "command -v mpirun") != 0) {
        printf("test_partition_auto: mpirun not installed: the MPI launch is not checked\n");
        return;
    }
    rc = fw_test_sh(&out, "mpirun --allow-run-as-root --oversubscribe -np 3 \"$FW\" batch --model $T/m/pima.fwm "
                          "--input $T/big.csv --output $T/mp.csv --partition auto --threads 1 --quiet " STAMP
                          " --home $T/h 2>&1 && \"$FW\" batch merge --output $T/mp.csv --partitions 3 2>&1");
    CHECK_MSG(rc == 0, "mpirun: %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("mp.csv")), "mpirun partitions merged differ");
}

/* stdin → stdout, whole and in chunks (header + lines, as GNU parallel --pipe --header : sends
 * them): with an id column the answers are the one-process file's, row for row. */
static void test_stdin_stdout(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input $T/ids.csv --output $T/ids-whole.csv --id id "
                              "--quiet " STAMP " --home $T/h 2>&1 && "
                              "cat $T/ids.csv | \"$FW\" batch --model $T/m/pima.fwm --input - --output - --id id --quiet "
                              STAMP " --home $T/h > $T/ids-pipe.csv && "
                              "head -n 1 $T/ids.csv > $T/hdr && tail -n +2 $T/ids.csv | split -l 500 - $T/chunk. && "
                              "for c in $T/chunk.*; do cat $T/hdr $c | \"$FW\" batch --model $T/m/pima.fwm --input - "
                              "--output - --id id --quiet " STAMP " --home $T/h | tail -n +2; done > $T/ids-chunks && "
                              "head -n 1 $T/ids-whole.csv | cat - $T/ids-chunks > $T/ids-chunked.csv");
    CHECK_MSG(rc == 0, "%s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("ids-whole.csv"), fw_test_tmp_file("ids-pipe.csv")), "stdin → stdout differs from the file run");
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("ids-whole.csv"), fw_test_tmp_file("ids-chunked.csv")), "the chunked pipe differs");
    rc = fw_test_sh(&out, "head -n 3 $T/ids.csv | \"$FW\" batch --model $T/m/pima.fwm --input - --output - --id id "
                          "--output-format jsonl --quiet " STAMP " --home $T/h");
    CHECK_EQ(rc, 0);
    CHECK_MSG(out && out[0] == '{' && strstr(out, "\"id\""), "JSON lines expected: %s", out);
    free(out);
    rc = fw_test_sh(&out, "\"$FW\" batch --model $T/m/pima.fwm --input - --output - --partition 0/2 --home $T/h 2>&1 </dev/null");
    CHECK_EQ(rc, 2);
    free(out);
}

/* The merge on its own, on parts made by hand: a CSV part's header is dropped after the first part,
 * whatever its length, also from a part with a header and no rows; parts larger than the merge's
 * copy block (1 MiB) are copied whole; JSON lines parts have no header to drop. */
static void test_merge_hand_made_parts(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "cd $T && printf 'a,b\\n1,2\\n' > hm.csv.part-0-of-3 && printf 'a,b\\n' > hm.csv.part-1-of-3 && "
                              "{ printf 'a,b\\n'; seq 1 400000 | sed 's/$/,x/'; } > hm.csv.part-2-of-3 && "
                              "{ cat hm.csv.part-0-of-3; tail -n +2 hm.csv.part-1-of-3; tail -n +2 hm.csv.part-2-of-3; } > hm-want.csv && "
                              "\"$FW\" batch merge --output hm.csv --partitions 3 2>&1 && "
                              "printf '{\"a\":1}\\n' > hm.jsonl.part-0-of-2 && seq 1 300000 | sed 's/.*/{\"a\":&}/' > hm.jsonl.part-1-of-2 && "
                              "cat hm.jsonl.part-0-of-2 hm.jsonl.part-1-of-2 > hm-want.jsonl && "
                              "\"$FW\" batch merge --output hm.jsonl --partitions 2 2>&1");
    CHECK_MSG(rc == 0, "merge: %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("hm-want.csv"), fw_test_tmp_file("hm.csv")), "CSV parts merged wrongly");
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("hm-want.jsonl"), fw_test_tmp_file("hm.jsonl")), "JSON lines parts merged wrongly");
    size_t len = 0;
    char *m = fw_test_slurp(fw_test_tmp_file("hm.csv"), &len);
    CHECK_MSG(m && len > (1u << 20), "the big part should exceed one copy block: %zu bytes", len);
    free(m);
}

/* Parts larger than the merge's copy piece (8 MiB) are merged whole, and the merge starts writing
 * each copied piece to the disk as it goes (sync_file_range), so its one fsync at the end does not
 * write the whole file then; a worker does the same every 4 MiB of output before its checkpoint's
 * fsync. The calls are seen with strace (skipped when it is not installed). */
static void test_merge_large_parts_writeback(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "cd $T && { printf 'a,b\\n'; seq 1 900000 | sed 's/$/,abcdefgh/'; } > lg.csv.part-0-of-2 && "
                              "{ printf 'a,b\\n'; seq 900001 1800000 | sed 's/$/,ijklmnop/'; } > lg.csv.part-1-of-2 && "
                              "{ cat lg.csv.part-0-of-2; tail -n +2 lg.csv.part-1-of-2; } > lg-want.csv && "
                              "\"$FW\" batch merge --output lg.csv --partitions 2 2>&1");
    CHECK_MSG(rc == 0, "merge: %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("lg-want.csv"), fw_test_tmp_file("lg.csv")), "large parts merged wrongly");
    if (fw_test_sh(NULL, "command -v strace >/dev/null") != 0) {
        printf("test_merge_large_parts_writeback: strace not installed: the writeback calls are not checked\n");
        return;
    }
    /* LeakSanitizer cannot run under ptrace: the traced runs of a sanitizer build skip it */
    rc = fw_test_sh(&out, "cd $T && export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 && rm -f lg.csv && strace -f -e trace=sync_file_range,fsync -o lg.trace "
                          "\"$FW\" batch merge --output lg.csv --partitions 2 >/dev/null 2>&1 && "
                          "echo \"merge: $(grep -c sync_file_range lg.trace) $(grep -c 'fsync(' lg.trace)\" && "
                          "{ head -n 1 big.csv; for i in $(seq 1 20); do tail -n +2 big.csv; done; } > big20.csv && "
                          "strace -f -e trace=sync_file_range -o w.trace \"$FW\" batch --model m/pima.fwm --input big20.csv "
                          "--output w20.csv --partition 1/2 --threads 1 --quiet " STAMP " --home h >/dev/null 2>&1; "
                          "echo \"worker: $(grep -c sync_file_range w.trace) $(wc -c < w20.csv.part-1-of-2)\"");
    CHECK_MSG(rc == 0, "%s", out);
    unsigned calls = 0, fsyncs = 0, wcalls = 0;
    unsigned long wbytes = 0;
    const char *mp = out ? strstr(out, "merge: ") : NULL, *wp = out ? strstr(out, "worker: ") : NULL;
    CHECK_MSG(mp && sscanf(mp, "merge: %u %u", &calls, &fsyncs) == 2 && calls >= 3 && fsyncs == 1,
              "the merge of ~30 MB should start its writeback piece by piece (>= 3 calls) and fsync once: %s", out ? out : "");
    CHECK_MSG(wp && sscanf(wp, "worker: %u %lu", &wcalls, &wbytes) == 2 && wbytes > (8ul << 20) && wcalls >= 2,
              "a worker writing %lu bytes should start their writeback every 4 MiB: %s", wbytes, out ? out : "");
    free(out);
}

/* FLYWHEEL_BATCH_LOG=1: each worker says where its time went, with the lines of the earlier
 * partitions it counted (so that `line` is the file's: partition 1's first row is on line 2 + that
 * count), its commit, and the merge its copy and fsync; without it, none of that. */
static void test_phase_log(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "cd $T && for i in 0 1 2; do FLYWHEEL_BATCH_LOG=1 \"$FW\" batch --model m/pima.fwm --input big.csv "
                              "--output ph.csv --partition $i/3 --threads 1 --quiet " STAMP " --home h 2>&1; done && "
                              "FLYWHEEL_BATCH_LOG=1 \"$FW\" batch merge --output ph.csv --partitions 3 2>&1 && "
                              "echo \"first: $(sed -n 2p ph.csv.part-1-of-3 | cut -d, -f1)\"");
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_CONTAINS(out, "batch phases: model load ");
    CHECK_CONTAINS(out, "batch phases: partition 0/3: open ");
    CHECK_CONTAINS(out, "skip of 0 earlier lines");
    /* the count runs on a thread of its own while the outputs are opened */
    CHECK_CONTAINS(out, "on a thread of its own");
    CHECK_CONTAINS(out, "batch phases: commit of ph.csv.part-2-of-3");
    CHECK_CONTAINS(out, "batch phases: merge of 3 parts: copy ");
    const char *p1 = out ? strstr(out, "batch phases: partition 1/3:") : NULL, *f = out ? strstr(out, "first: ") : NULL;
    unsigned long long skipped = 0, first = 0;
    const char *k = p1 ? strstr(p1, "skip of ") : NULL;
    CHECK_MSG(k && sscanf(k, "skip of %llu", &skipped) == 1 && f && sscanf(f, "first: %llu", &first) == 1 &&
                  skipped > 0 && first == skipped + 2,
              "partition 1/3 counted %llu earlier lines, its first row is on line %llu: %s", skipped, first, out ? out : "");
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("ph.csv")), "merged with the log on differs");
    free(out);
    rc = fw_test_sh(&out, "cd $T && rm -f ph.csv* && \"$FW\" batch --model m/pima.fwm --input big.csv --output ph.csv "
                          "--partition 0/2 --quiet " STAMP " --home h 2>&1");
    CHECK_MSG(rc == 0 && out && !strstr(out, "batch phases"), "phases printed without FLYWHEEL_BATCH_LOG: %s", out ? out : "");
    free(out);
}

/* A compressed input cannot be cut into byte ranges: refused before anything is written (the range
 * is found before the outputs open; only the count of the earlier lines runs beside them). */
static void test_partition_gzip_refused(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "cd $T && gzip -c big.csv > bz.csv.gz && \"$FW\" batch --model m/pima.fwm --input bz.csv.gz "
                              "--output gz.csv --partition 1/2 --quiet " STAMP " --home h 2>&1; echo \"rc=$?\"; ls | grep '^gz.csv' || true");
    CHECK_MSG(rc == 0 && out && strstr(out, "cannot be cut into byte ranges") && !strstr(out, "rc=0"), "%s", out ? out : "");
    CHECK_MSG(out && !strstr(out, "gz.csv.part"), "a refused partition left files: %s", out ? out : "");
    free(out);
}

int main(void) {
    char *out = NULL;
    /* 768 rows x 40 (line numbers name the rows), and the same with an id column */
    int rc = fw_test_sh(&out, "mkdir -p $T/m && \"$FW\" train examples/pima/pima.csv --label diabetes --models linear "
                              "--quiet --no-register --home $T/h --out $T/m >/dev/null 2>&1 && "
                              "head -n 1 examples/pima/pima.csv > $T/big.csv && "
                              "for i in $(seq 1 40); do tail -n +2 examples/pima/pima.csv; done >> $T/big.csv && "
                              "awk 'NR == 1 {print \"id,\" $0; next} {print NR - 1 \",\" $0}' $T/big.csv > $T/ids.csv && "
                              "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/whole.csv --threads 2 "
                              "--quiet " STAMP " --home $T/h 2>&1 && ls $T/m");
    CHECK_MSG(rc == 0 && out && strstr(out, "pima.fwm"), "set-up: %s", out);
    free(out);
    TEST_RUN(test_partitions_merge_identical);
    TEST_RUN(test_committed_partition_runs_once);
    TEST_RUN(test_killed_worker_rerun);
    TEST_RUN(test_partition_auto);
    TEST_RUN(test_stdin_stdout);
    TEST_RUN(test_merge_hand_made_parts);
    TEST_RUN(test_merge_large_parts_writeback);
    TEST_RUN(test_phase_log);
    TEST_RUN(test_partition_gzip_refused);
    return fw_test_report("test_batch_partition");
}
