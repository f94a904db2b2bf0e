/* test_batch_data_id.c — the project's `data.id` names the rows of batch output (it is recorded in
 * the artifact as data.id): without --id, the output's first column is that id; --id still wins;
 * an input without the id column is named by line number (not refused), JSON Lines too. */
#include "test.h"

#include <stdlib.h>

static void test_project_id_names_batch_rows(void) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "awk -F, 'NR==1{print \"pid,\" $0; next}{print \"p\" NR \",\" $0}' examples/pima/pima.csv "
                            "> \"$T/pima_id.csv\" && "
                            "sed -e \"s#train: pima.csv#train: $T/pima_id.csv#\" "
                            "-e 's/^  positive: pos/  positive: pos\\n  id: pid/' examples/pima/flywheel.yaml > \"$T/p.yaml\" && "
                            "grep -q 'id: pid' \"$T/p.yaml\" && "
                            "\"$FW\" train \"$T/p.yaml\" --models linear --threads 1 --quiet --out \"$T/m\" --no-register "
                            "--home \"$T/h\" >/dev/null && "
                            "\"$FW\" batch --model \"$T/m/pima.fwm\" --input \"$T/pima_id.csv\" --output \"$T/a.csv\" --quiet "
                            "--home \"$T/h\" && head -n 2 \"$T/a.csv\" && "
                            "\"$FW\" batch --model \"$T/m/pima.fwm\" --input \"$T/pima_id.csv\" --output \"$T/a.jsonl\" --quiet "
                            "--home \"$T/h\" && head -n 1 \"$T/a.jsonl\"");
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(o, "pid,prediction,score");
    CHECK_CONTAINS(o, "\np2,pos,");
    CHECK_CONTAINS(o, "{\"pid\":\"p2\",");
    free(o);
    o = NULL;
    /* --id wins; an input without pid is named by line */
    rc = fw_test_sh(&o, "\"$FW\" batch --model \"$T/m/pima.fwm\" --input \"$T/pima_id.csv\" --id age --output \"$T/b.csv\" "
                        "--quiet --home \"$T/h\" && head -n 2 \"$T/b.csv\" && "
                        "\"$FW\" batch --model \"$T/m/pima.fwm\" --input examples/pima/pima.csv --output \"$T/c.csv\" "
                        "--quiet --home \"$T/h\" && head -n 2 \"$T/c.csv\"");
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(o, "age,prediction,score");
    CHECK_CONTAINS(o, "\n50,pos,");
    CHECK_CONTAINS(o, "line,prediction,score");
    CHECK_CONTAINS(o, "\n2,pos,");
    free(o);
}

int main(void) {
    TEST_RUN(test_project_id_names_batch_rows);
    return fw_test_report("test_batch_data_id");
}
