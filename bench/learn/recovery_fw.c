/* recovery_fw.c — the flywheel side of bench/learn/recovery.sh: the server's online learner
 * (src/learn/online.h, FTRL-proximal, starting from the batch-trained artifact's weights) over a
 * labelled stream, one example at a time (batch 1), each scored before it is learned
 * (progressive validation). Writes one line per example: its progressive log loss; prints
 * "resets N" (the change test's firings) on stdout.
 * Usage: recovery_fw ARTIFACT.fwm STREAM.csv OUT.txt [BATCH (1)] [LR (0.1, the server's default)]
 *        [REFIT_EPOCHS (the default, 5; 0: a change resets the step sizes only)]
 * STREAM.csv: header x0..x7,y; y is "yes" / "no". */
#include "core/alloc.h"
#include "learn/online.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: recovery_fw ARTIFACT STREAM OUT [BATCH]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *art = malloc((size_t)len);
    if (fread(art, 1, (size_t)len, f) != (size_t)len) return 1;
    fclose(f);
    fw_online_settings s;
    fw_online_settings_init(&s);
    s.batch = argc > 4 ? (size_t)atoi(argv[4]) : 1;
    if (argc > 5) s.lr = atof(argv[5]);
    if (argc > 6) s.refit_epochs = atoi(argv[6]);
    s.snapshot_rows = 0;
    s.snapshot_s = 1e12; /* no snapshot: the learner's own curve */
    fw_online *o;
    fw_err err;
    if (fw_online_new(art, (size_t)len, "m@1", &s, &o, &err)) {
        fprintf(stderr, "recovery_fw: %s\n", err.msg);
        return 1;
    }
    const fw_pipeline *pl = fw_online_pipeline(o);
    size_t ni = fw_pipeline_n_inputs(pl);
    FILE *in = fopen(argv[2], "r"), *out = fopen(argv[3], "w");
    if (!in || !out) return 1;
    char line[1024];
    if (!fgets(line, sizeof line, in)) return 1;
    int idx[8];
    for (int k = 0; k < 8; k++) {
        char name[8];
        snprintf(name, sizeof name, "x%d", k);
        idx[k] = fw_pipeline_input_index(pl, name, strlen(name));
    }
    fw_value *vals = calloc(ni ? ni : 1, sizeof *vals);
    double prev = 0;
    uint64_t n = 0;
    char rid[32];
    while (fgets(line, sizeof line, in)) {
        for (size_t i = 0; i < ni; i++) vals[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
        char *p = line;
        for (int k = 0; k < 8; k++) {
            double v = strtod(p, &p);
            if (*p == ',') p++;
            if (idx[k] >= 0) vals[idx[k]] = (fw_value){FW_VALUE_NUMBER, v, NULL, 0};
        }
        size_t ll = strcspn(p, "\r\n");
        fw_online_label y = {p, ll, false, 0};
        snprintf(rid, sizeof rid, "r%llu", (unsigned long long)n);
        if (fw_online_add(o, rid, vals, &y, &err)) {
            fprintf(stderr, "recovery_fw: row %llu: %s\n", (unsigned long long)n, err.msg);
            return 1;
        }
        fw_online_stats st;
        fw_online_stats_get(o, &st);
        /* the running mean over every learned example: each new batch's losses by difference */
        while (n < st.examples) {
            double sum = st.loss * (double)st.examples;
            uint64_t k = st.examples - n;
            double each = (sum - prev) / (double)k;
            for (uint64_t j = 0; j < k; j++) fprintf(out, "%.6f\n", each);
            prev = sum;
            n = st.examples;
        }
    }
    fw_online_stats st;
    fw_online_stats_get(o, &st);
    printf("resets %llu\n", (unsigned long long)st.resets);
    fclose(in);
    fclose(out);
    free(vals);
    free(art);
    fw_online_free(o);
    return 0;
}
