/* test_batch_claim.c — `flywheel batch --partition claim/N`: workers take partitions from the store
 * (SQLite home: flock per partition; PostgreSQL: FOR UPDATE SKIP LOCKED in an open transaction)
 * until every one is done; any number of workers at once score each partition once and the merge
 * is the one-process output byte for byte; a worker killed while it holds a partition gives it
 * back, and a worker still running takes it over. */
#include "test.h"
#include "backend.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAMP "--timestamp 1700000000000"

/* Sums "this worker scored K" over the workers' lines in out. */
static int scored_sum(const char *out) {
    int sum = 0;
    for (const char *p = out; p && (p = strstr(p, "this worker scored ")) != NULL; p++) sum += atoi(p + 19);
    return sum;
}

/* Three workers at once over 7 partitions: each partition scored once, merged == one process. */
static void test_workers_share_the_partitions(void) {
    const char *home = fw_test_store_home("claim");
    char *out = NULL;
    int rc = fw_test_sh(&out,
                        "cd $T; rm -f c3.csv*; for w in 1 2 3; do \"$FW\" batch --model m/pima.fwm --input big.csv "
                        "--output c3.csv --partition claim/7 --threads 1 --block-rows 512 " STAMP " --home '%s' "
                        "> w$w.log 2>&1 & done; wait; cat w1.log w2.log w3.log | grep 'partition claims'; "
                        "\"$FW\" batch merge --output c3.csv --partitions 7 2>&1",
                        home);
    CHECK_MSG(rc == 0, "workers: %s", out);
    CHECK_MSG(scored_sum(out) == 7, "7 partitions should be scored once in all: %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("c3.csv")), "claimed partitions merged differ from one process");
    /* a worker started after the job is done finds every partition committed and scores none */
    rc = fw_test_sh(&out, "cd $T && \"$FW\" batch --model m/pima.fwm --input big.csv --output c3.csv --partition claim/7 "
                          STAMP " --home '%s' 2>&1", home);
    CHECK_MSG(rc == 0 && out && strstr(out, "this worker scored 0,"), "a late worker: %s", out);
    free(out);
    /* the same output cut differently is another job (the count is part of its name): its own
     * partitions, claimed afresh */
    rc = fw_test_sh(&out, "cd $T && rm -f c3.csv* && \"$FW\" batch --model m/pima.fwm --input big.csv --output c3.csv "
                          "--partition claim/3 " STAMP " --home '%s' 2>&1 && \"$FW\" batch merge --output c3.csv --partitions 3",
                    home);
    CHECK_MSG(rc == 0, "a 3-way job of the same output: %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("c3.csv")), "the 3-way job merged differs");
}

/* A worker holding a partition is killed; the worker still running takes the partition over once
 * the holder's claim is gone, and the job completes byte-identical. */
static void test_killed_holder_handed_over(void) {
    const char *home = fw_test_store_home("claimkill");
    char *out = NULL;
    int rc = fw_test_sh(&out,
                        "cd $T; rm -f ck.csv*; "
                        "FLYWHEEL_TEST_CLAIM_HOLD_MS=60000 \"$FLYWHEEL_TEST_BIN\" batch --model m/pima.fwm --input big.csv "
                        "--output ck.csv --partition claim/4 --threads 1 " STAMP " --home '%s' >a.log 2>&1 & a=$!; "
                        "sleep 1; \"$FW\" batch --model m/pima.fwm --input big.csv --output ck.csv --partition claim/4 "
                        "--threads 1 " STAMP " --home '%s' >b.log 2>&1 & b=$!; "
                        /* B scores the three free partitions, then waits for A's */
                        "i=0; while [ $(ls ck.csv.part-*-of-4 2>/dev/null | grep -vc inprogress) -lt 3 ] && [ $i -lt 600 ]; do "
                        "sleep 0.05; i=$((i+1)); done; sleep 0.3; "
                        "if kill -0 $b 2>/dev/null; then echo b-waiting; fi; kill -9 $a; wait $a; echo \"a-rc=$?\"; "
                        "wait $b; echo \"b-rc=$?\"; cat a.log b.log; "
                        "\"$FW\" batch merge --output ck.csv --partitions 4 2>&1",
                        home, home);
    CHECK_MSG(rc == 0, "%s", out);
    CHECK_MSG(out && strstr(out, "b-waiting"), "B should wait for the partition A holds: %s", out);
    CHECK_MSG(out && strstr(out, "a-rc=137"), "A should be killed while holding: %s", out);
    CHECK_MSG(out && strstr(out, "b-rc=0"), "B should finish the job: %s", out);
    CHECK_MSG(scored_sum(out) == 4, "B should score all 4 partitions (A's too): %s", out);
    free(out);
    CHECK_MSG(fw_test_same_file(fw_test_tmp_file("whole.csv"), fw_test_tmp_file("ck.csv")), "the job after a killed holder differs");
}

static void test_claim_usage(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "cd $T && \"$FW\" batch --model m/pima.fwm --input big.csv --output x.csv "
                              "--partition claim/0 --home $T/h 2>&1");
    CHECK_EQ(rc, 2);
    CHECK_MSG(out && strstr(out, "claim/N"), "%s", out);
    free(out);
    rc = fw_test_sh(&out, "cd $T && \"$FW\" batch --model m/pima.fwm --input big.csv --partition claim/3 --home $T/h 2>&1");
    CHECK_EQ(rc, 2);
    CHECK_MSG(out && strstr(out, "give --output FILE"), "%s", out);
    free(out);
}

int main(void) {
    char *out = NULL;
    int rc = fw_test_sh(&out, "mkdir -p $T/m && \"$FW\" train examples/pima/pima.csv --label diabetes --models linear "
                              "--quiet --no-register --home $T/h --out $T/m >/dev/null 2>&1 && "
                              "head -n 1 examples/pima/pima.csv > $T/big.csv && "
                              "for i in $(seq 1 20); do tail -n +2 examples/pima/pima.csv; done >> $T/big.csv && "
                              "\"$FW\" batch --model $T/m/pima.fwm --input $T/big.csv --output $T/whole.csv --threads 2 "
                              "--quiet " STAMP " --home $T/h 2>&1 && ls $T/m");
    CHECK_MSG(rc == 0 && out && strstr(out, "pima.fwm"), "set-up: %s", out);
    free(out);
    TEST_RUN(test_claim_usage);
    TEST_RUN_BACKENDS(test_workers_share_the_partitions);
    TEST_RUN_BACKENDS(test_killed_holder_handed_over);
    return fw_test_report("test_batch_claim");
}
