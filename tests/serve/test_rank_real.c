/* test_rank_real.c — black-box test of a ranking project end to end with the real binary: `flywheel
 * train examples/ranking/flywheel.yaml` (task: ranking, data.query) trains LambdaMART and the
 * pairwise linear model, reports the project's metrics: list (ndcg@5, map@10, mrr, ...) in --json,
 * registers; `flywheel eval` scores the registered model per query; `flywheel batch --entities
 * --items --top-k` keeps the items with the best ranking scores (the same scores as plain batch
 * scoring); `flywheel serve` answers /v1/rank over the same items in the same order with the same
 * scores. */
#include "client.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

static char g_home[700], g_dir[600];
static bool g_trained;

/* The diamonds of one query as an item file (item = the example's line number) and their JSON. */
static int g_n_items;
static char g_items_json[16384];
static void write_items(void) {
    FILE *in = fopen("examples/ranking/diamonds_rank.csv", "r");
    char path[700];
    snprintf(path, sizeof path, "%s/items.csv", g_dir);
    FILE *out = fopen(path, "w");
    CHECK(in && out);
    if (!in || !out) return;
    char line[512];
    int ln = 0;
    size_t used = 0;
    fprintf(out, "item,cut,color,clarity,depth,table,x,y,z\n");
    used += (size_t)snprintf(g_items_json + used, sizeof g_items_json - used, "[");
    while (fgets(line, sizeof line, in)) {
        ln++;
        if (strncmp(line, "0.30ct,", 7) != 0) continue;
        char cut[32], color[8], clarity[8];
        double depth, table, x, y, z;
        int rel;
        if (sscanf(line, "0.30ct,%31[^,],%7[^,],%7[^,],%lf,%lf,%lf,%lf,%lf,%d", cut, color, clarity, &depth,
                   &table, &x, &y, &z, &rel) != 9)
            continue;
        fprintf(out, "%d,%s,%s,%s,%.17g,%.17g,%.17g,%.17g,%.17g\n", ln, cut, color, clarity, depth, table, x, y, z);
        used += (size_t)snprintf(g_items_json + used, sizeof g_items_json - used,
                                 "%s{\"id\":\"%d\",\"cut\":\"%s\",\"color\":\"%s\",\"clarity\":\"%s\",\"depth\":%.17g,"
                                 "\"table\":%.17g,\"x\":%.17g,\"y\":%.17g,\"z\":%.17g}",
                                 g_n_items ? "," : "", ln, cut, color, clarity, depth, table, x, y, z);
        g_n_items++;
    }
    snprintf(g_items_json + used, sizeof g_items_json - used, "]");
    fclose(in);
    fclose(out);
    CHECK(g_n_items >= 20);
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s", fw_test_tmpdir());
    snprintf(g_home, sizeof g_home, "%s/home", g_dir);
    write_items();
    char *out = NULL;
    int rc = fw_test_sh(&out, "\"$FW\" train examples/ranking/flywheel.yaml --models linear,gbdt --threads 1 "
                              "--quiet --json --home '%s'", g_home);
    CHECK_EQ(rc, 0);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    CHECK_MSG(j != NULL, "train --json is not JSON: %s", out ? out : "(null)");
    if (j) {
        CHECK_STR(json_string_value(json_object_get(j, "task")), "ranking");
        json_t *models = json_object_get(j, "models");
        size_t i;
        json_t *m;
        json_array_foreach(models, i, m) {
            json_t *mt = json_object_get(m, "metrics");
            /* the metrics: list of the project file: each one present and a number in [0, 1] */
            const char *names[] = {"ndcg@10", "ndcg@5", "map@10", "precision@5", "recall@10", "mrr", "hit_rate@1"};
            for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
                json_t *v = json_object_get(mt, names[k]);
                CHECK_MSG(json_is_number(v), "%s: metric %s missing", json_string_value(json_object_get(m, "name")), names[k]);
                double x = json_number_value(v);
                CHECK(x >= 0 && x <= 1);
            }
            const char *fam = json_string_value(json_object_get(m, "family"));
            json_t *params = json_object_get(m, "params");
            if (fam && !strcmp(fam, "gbdt"))
                CHECK_STR(json_string_value(json_object_get(params, "objective")), "lambdarank");
            if (fam && !strcmp(fam, "linear"))
                CHECK_STR(json_string_value(json_object_get(params, "loss")), "pairwise");
            if (fam && strcmp(fam, "baseline") != 0) {
                /* the learned models beat the best single feature's order by a wide margin */
                double v = json_number_value(json_object_get(mt, "ndcg@10"));
                double b = json_number_value(json_object_get(json_object_get(json_object_get(j, "baseline"), "metrics"), "ndcg@10"));
                CHECK_MSG(v > b + 0.2, "%s ndcg@10 %g vs baseline %g", fam, v, b);
            }
        }
        CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(j, "baseline"), "params"), "kind")),
                  "feature");
        json_decref(j);
    }
    free(out);
    g_trained = rc == 0 && fw_test_sh(NULL, "\"$FW\" models promote diamonds_rank@1 --home '%s'", g_home) == 0;
    CHECK(g_trained);
}

static void test_eval(void) {
    if (!g_trained) return;
    char *out = NULL;
    int rc = fw_test_sh(&out, "\"$FW\" eval diamonds_rank@1 examples/ranking/diamonds_rank.csv --json --home '%s'",
                        g_home);
    CHECK_EQ(rc, 0);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    CHECK_MSG(j != NULL, "eval --json: %s", out ? out : "(null)");
    if (j) {
        json_t *m = json_array_get(json_object_get(j, "models"), 1);
        json_t *mt = json_object_get(m, "metrics");
        CHECK(json_is_number(json_object_get(mt, "ndcg@10")));
        CHECK(json_is_number(json_object_get(mt, "map@10")));
        CHECK(json_is_number(json_object_get(mt, "mrr")));
        CHECK(json_number_value(json_object_get(mt, "ndcg@10")) > 0.7);
        json_decref(j);
    }
    free(out);
}

/* item id → score from a CSV with a header; columns id_col and score_col (0-based) */
static int read_scores(const char *path, int id_col, int score_col, int *ids, double *sc, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        char *fld[8] = {0};
        int nf = 0;
        for (char *p = strtok(line, ",\n"); p && nf < 8; p = strtok(NULL, ",\n")) fld[nf++] = p;
        if (nf <= id_col || nf <= score_col) continue;
        ids[n] = atoi(fld[id_col]);
        sc[n] = strtod(fld[score_col], NULL);
        n++;
    }
    fclose(f);
    return n;
}

static void test_batch_topk_and_rank(void) {
    if (!g_trained || g_n_items < 5) return;
    CHECK_EQ(fw_test_sh(NULL, "printf 'query\\n0.30ct\\n' > '%s/ent.csv'", g_dir), 0);
    CHECK_EQ(fw_test_sh(NULL, "\"$FW\" batch --model diamonds_rank --entities '%s/ent.csv' --items '%s/items.csv' "
                              "--item-id item --top-k 5 --output '%s/top.csv' --threads 1 --quiet --home '%s'",
                        g_dir, g_dir, g_dir, g_home), 0);
    CHECK_EQ(fw_test_sh(NULL, "\"$FW\" batch --model diamonds_rank --input '%s/items.csv' --id item "
                              "--output '%s/all.csv' --threads 1 --quiet --home '%s'", g_dir, g_dir, g_home), 0);
    char p[700];
    int top_id[8], all_id[64];
    double top_sc[8], all_sc[64];
    snprintf(p, sizeof p, "%s/top.csv", g_dir);
    int nt = read_scores(p, 2, 3, top_id, top_sc, 8); /* line,rank,item,score,... */
    snprintf(p, sizeof p, "%s/all.csv", g_dir);
    int na = read_scores(p, 0, 1, all_id, all_sc, 64); /* item,score,... */
    CHECK_EQ(nt, 5);
    CHECK_EQ(na, g_n_items);
    /* the top 5 are the 5 best plain batch scores, best first, with the same scores */
    for (int r = 0; r < nt; r++) {
        int better = 0;
        double s = NAN;
        for (int i = 0; i < na; i++) {
            if (all_id[i] == top_id[r]) s = all_sc[i];
        }
        for (int i = 0; i < na; i++) better += all_sc[i] > s;
        CHECK_EQ(better, r);
        CHECK_NEAR(top_sc[r], s, 1e-12);
    }
    /* /v1/rank over the same items: the same order and scores */
    hc_server srv;
    const char *args[] = {"--home", g_home, "--threads", "1", NULL};
    if (hc_server_start(&srv, args) != 0) {
        CHECK_MSG(0, "server did not start");
        return;
    }
    char *body = malloc(sizeof g_items_json + 200);
    snprintf(body, sizeof g_items_json + 200,
             "{\"candidates\":%s,\"objectives\":[{\"model\":\"diamonds_rank\",\"weight\":1}],\"top_k\":5}",
             g_items_json);
    hc_resp r;
    CHECK_OK(hc_request(srv.port, "POST", "/v1/rank", body, NULL, &r));
    CHECK_EQ(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *ranked = json_object_get(j, "ranked");
    CHECK_EQ(json_array_size(ranked), 5);
    for (size_t i = 0; i < json_array_size(ranked) && i < (size_t)nt; i++) {
        json_t *it = json_array_get(ranked, i);
        size_t idx = (size_t)json_integer_value(json_object_get(it, "index"));
        double sc = json_number_value(json_object_get(it, "score"));
        CHECK(idx < (size_t)g_n_items);
        /* candidates are in items.csv order, so index idx is all.csv's row idx */
        if (idx < (size_t)na) CHECK_EQ(all_id[idx], top_id[i]);
        CHECK_NEAR(sc, top_sc[i], 1e-9);
    }
    json_decref(j);
    hc_resp_free(&r);
    free(body);
    hc_server_stop(&srv, SIGTERM);
}

int main(void) {
    if (!fw_test_bin()) {
        printf("test_rank_real: FLYWHEEL_BIN not set, skipped\n");
        return fw_test_report("test_rank_real");
    }
    setup();
    TEST_RUN(test_eval);
    TEST_RUN(test_batch_topk_and_rank);
    return fw_test_report("test_rank_real");
}
