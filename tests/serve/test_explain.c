/* test_explain.c — `:explain` of real registry models over a socket: contributions per INPUT column
 * (one-hot parts summed, hashed, text and crossed columns given their share instead of the bias),
 * zeros left out, largest first, adding up to the explained output's margin; which output is
 * explained ("explained"), the predicted class by default and any class the request names
 * ("class"); gbdt by TreeSHAP; knn by its nearest neighbours; hier by its path (group, then class).
 * And `confidence` is the decision's: the probability of the label decided, also when the binary
 * threshold is below 0.5. */
#include "test.h"
#include "client.h"

#include "core/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>

static hc_server g_srv;
static bool g_up;

/* A binary table with a numeric, a one-hot, a hashed, a text column and a cross. */
static void write_orders(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "amount,plan,merchant,note,region,y\n");
    static const char *plans[] = {"basic", "pro", "max"}, *regions[] = {"north", "south", "east", "west"};
    unsigned s = 99;
    for (int i = 0; i < 1500; i++) {
        double u[6];
        for (int k = 0; k < 6; k++) {
            s = s * 1103515245u + 12345u;
            u[k] = (double)((s >> 8) % 10000) / 10000.0;
        }
        double amount = u[0] * 100;
        const char *plan = plans[(int)(u[1] * 3)], *region = regions[(int)(u[2] * 4)];
        int merchant = (int)(u[3] * 300);
        bool refund = u[4] < 0.5;
        double score = amount / 50 + (!strcmp(plan, "max") ? 1 : 0) + (refund ? 1.5 : 0) + (merchant % 10 == 7 ? 1 : 0) +
                       (!strcmp(plan, "pro") && !strcmp(region, "north") ? 2 : 0) - 2.5 + (u[5] - 0.5);
        fprintf(f, "%.2f,%s,m%d,%s,%s,%s\n", amount, plan, merchant, refund ? "refund please late" : "thanks great fast",
                region, score > 0 ? "yes" : "no");
    }
    fclose(f);
}

/* 900 rows, 6 sub-categories in 2 categories. */
static void write_products(const char *path) {
    FILE *f = fopen(path, "w");
    fprintf(f, "x1,x2,noise,category,sub\n");
    unsigned s = 777;
    for (int i = 0; i < 900; i++) {
        double v[3];
        fw_test_uniforms(&s, v, 3);
        const char *sub = v[0] < 0 ? (v[1] < -0.3 ? "sofa" : v[1] < 0.3 ? "lamp" : "rug")
                                   : (v[1] < -0.3 ? "phone" : v[1] < 0.3 ? "laptop" : "tv");
        if (i % 10 == 3) v[1] = -v[1];
        fprintf(f, "%.4f,%.4f,%.4f,%s,%s\n", v[0], v[1], v[2], v[0] < 0 ? "home" : "tech", sub);
    }
    fclose(f);
}

static void setup(void) {
    char path[700];
    snprintf(path, sizeof path, "%s/orders.csv", fw_test_tmpdir());
    write_orders(path);
    snprintf(path, sizeof path, "%s/products.csv", fw_test_tmpdir());
    write_products(path);
    char *o = NULL;
    int rc = fw_test_sh(&o,
                        "B=$PWD && cd \"$T\" && printf 'data:\\n  train: orders.csv\\n  label: y\\n  positive: \"yes\"\\ntask: binary\\n"
                        "features:\\n  - name: merchant\\n    encode: hash\\n  - name: note\\n    type: text\\n"
                        "crosses:\\n  - [plan, region]\\n' > o.yaml && "
                        "printf 'data:\\n  train: products.csv\\n  label: sub\\ntask: multiclass\\nhierarchy:\\n  parent: category\\n' > p.yaml && "
                        "for m in linear gbdt; do \"$FW\" train o.yaml --models $m --name o$m --threads 1 --quiet --home h >/dev/null "
                        "&& \"$FW\" models promote o$m@1 --force --home h >/dev/null || exit 3; done && "
                        "for m in linear knn hier; do \"$FW\" train p.yaml --models $m --name p$m --threads 1 --quiet --home h >/dev/null "
                        "&& \"$FW\" models promote p$m@1 --force --home h >/dev/null || exit 4; done && "
                        "\"$FW\" train \"$B/examples/boston/flywheel.yaml\" --models linear --threads 1 --quiet --home h >/dev/null && "
                        "\"$FW\" models promote boston@1 --force --home h >/dev/null");
    CHECK_MSG(rc == 0, "setup failed (%d): %s", rc, o ? o : "");
    free(o);
    if (rc) return;
    char home[700];
    snprintf(home, sizeof home, "%s/h", fw_test_tmpdir());
    const char *args[] = {"--home", home, "--threads", "1", NULL};
    g_up = hc_server_start(&g_srv, args) == 0;
    CHECK_MSG(g_up, "server did not start");
}

static json_t *post(const char *path, const char *body, int want) {
    hc_resp r;
    if (hc_request(g_srv.port, "POST", path, body, NULL, &r) != 0) {
        CHECK_MSG(0, "no answer from %s", path);
        return NULL;
    }
    CHECK_MSG(r.status == want, "%s: status %d, want %d: %s", path, r.status, want, r.body);
    json_t *j = json_loads(r.body, JSON_REJECT_DUPLICATES, NULL);
    CHECK_MSG(j != NULL, "not JSON: %s", r.body);
    hc_resp_free(&r);
    return j;
}

static json_t *pred(json_t *j, size_t i) { return json_array_get(json_object_get(j, "predictions"), i); }

/* Sum of a contributions object (bias included); checks names, no zeros, order by magnitude. */
static double check_contribs(json_t *c, const char *const *inputs, size_t n_inputs) {
    double sum = 0, prev = INFINITY;
    const char *k;
    json_t *v;
    CHECK(json_object_get(c, "(bias)") != NULL);
    json_object_foreach(c, k, v) {
        double x = json_number_value(v);
        sum += x;
        if (!strcmp(k, "(bias)")) continue;
        bool known = false;
        for (size_t i = 0; i < n_inputs; i++) known |= !strcmp(k, inputs[i]);
        CHECK_MSG(known, "'%s' is not an input column", k);
        CHECK_MSG(x != 0, "zero contribution listed: %s", k);
        CHECK_MSG(fabs(x) <= prev, "not sorted by magnitude at %s", k);
        prev = fabs(x);
    }
    return sum;
}

static const char *const ORDER_INPUTS[] = {"amount", "plan", "merchant", "note", "region"};

static void test_binary_linear_by_input_column(void) {
    CHECK(g_up);
    if (!g_up) return;
    json_t *j = post("/v1/models/olinear:explain",
                     "{\"instances\":[{\"amount\":70,\"plan\":\"pro\",\"merchant\":\"m17\",\"note\":\"refund please\","
                     "\"region\":\"north\"},{\"amount\":20,\"plan\":\"max\",\"merchant\":\"m3\",\"note\":\"thanks\",\"region\":\"south\"}]}",
                     200);
    double bias[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *p = pred(j, i), *c = json_object_get(p, "contributions");
        double sum = check_contribs(c, ORDER_INPUTS, 5);
        double s = json_number_value(json_object_get(p, "score"));
        CHECK_NEAR(sum, log(s / (1 - s)), 1e-9);
        /* the hashed, text and crossed columns have their share, not the bias */
        CHECK(json_number_value(json_object_get(c, "note")) != 0);
        CHECK(json_number_value(json_object_get(c, "merchant")) != 0);
        CHECK(json_number_value(json_object_get(c, "region")) != 0);
        bias[i] = json_number_value(json_object_get(c, "(bias)"));
        json_t *e = json_object_get(p, "explained");
        CHECK_STR(json_string_value(json_object_get(e, "output")), "yes");
        CHECK_STR(json_string_value(json_object_get(e, "method")), "additive");
        CHECK_STR(json_string_value(json_object_get(p, "contribution_space")), "log_odds");
    }
    /* every hashed entry went to a column: the bias is the intercept alone, the same for both */
    CHECK_NEAR(bias[0], bias[1], 1e-12);
    json_decref(j);
    /* the negative class: the same contributions, negated */
    json_t *a = post("/v1/models/olinear:explain", "{\"instances\":[{\"amount\":70,\"plan\":\"pro\"}]}", 200);
    json_t *b = post("/v1/models/olinear:explain", "{\"instances\":[{\"amount\":70,\"plan\":\"pro\"}],\"class\":\"no\"}", 200);
    json_t *ca = json_object_get(pred(a, 0), "contributions"), *cb = json_object_get(pred(b, 0), "contributions");
    CHECK_NEAR(json_number_value(json_object_get(ca, "amount")), -json_number_value(json_object_get(cb, "amount")), 1e-12);
    CHECK_STR(json_string_value(json_object_get(json_object_get(pred(b, 0), "explained"), "output")), "no");
    json_decref(a);
    json_decref(b);
}

static void test_gbdt_treeshap(void) {
    CHECK(g_up);
    if (!g_up) return;
    json_t *j = post("/v1/models/ogbdt:explain", "{\"instances\":[{\"amount\":70,\"plan\":\"max\",\"region\":\"east\"}]}", 200);
    json_t *p = pred(j, 0);
    double sum = check_contribs(json_object_get(p, "contributions"), ORDER_INPUTS, 5);
    double s = json_number_value(json_object_get(p, "score"));
    CHECK_NEAR(sum, log(s / (1 - s)), 1e-6);
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "explained"), "method")), "treeshap");
    json_decref(j);
}

static const char *const PRODUCT_INPUTS[] = {"x1", "x2", "noise"};

static void test_multiclass_explains_the_predicted_class(void) {
    CHECK(g_up);
    if (!g_up) return;
    const char *inst = "{\"instances\":[{\"x1\":0.5,\"x2\":0.1,\"noise\":0.3},{\"x1\":-0.5,\"x2\":-0.8,\"noise\":0.1}]";
    char body[300];
    snprintf(body, sizeof body, "%s}", inst);
    json_t *j = post("/v1/models/plinear:explain", body, 200);
    for (size_t i = 0; i < 2; i++) {
        json_t *p = pred(j, i);
        const char *label = json_string_value(json_object_get(p, "label"));
        json_t *e = json_object_get(p, "explained");
        CHECK_STR(json_string_value(json_object_get(e, "output")), label);
        check_contribs(json_object_get(p, "contributions"), PRODUCT_INPUTS, 3);
    }
    CHECK_STR(json_string_value(json_object_get(pred(j, 0), "label")), "laptop");
    CHECK_STR(json_string_value(json_object_get(pred(j, 1), "label")), "sofa");
    /* a class asked for: softmax margins differ by the log of the probability ratio */
    snprintf(body, sizeof body, "%s,\"class\":\"tv\"}", inst);
    json_t *t = post("/v1/models/plinear:explain", body, 200);
    json_t *p0 = pred(j, 0), *pt = pred(t, 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(pt, "explained"), "output")), "tv");
    double s_lap = check_contribs(json_object_get(p0, "contributions"), PRODUCT_INPUTS, 3);
    double s_tv = check_contribs(json_object_get(pt, "contributions"), PRODUCT_INPUTS, 3);
    json_t *pr = json_object_get(p0, "probabilities");
    CHECK_NEAR(s_lap - s_tv, log(json_number_value(json_object_get(pr, "laptop")) / json_number_value(json_object_get(pr, "tv"))),
               1e-9);
    json_decref(t);
    json_decref(j);
    /* a class the model does not have; a class for a regression model */
    json_decref(post("/v1/models/plinear:explain", "{\"instances\":[{\"x1\":1}],\"class\":\"chair\"}", 400));
    json_decref(post("/v1/models/boston:explain", "{\"instances\":[{\"rm\":6}],\"class\":\"a\"}", 400));
    /* "class" is an :explain key: :predict warns about it like any unknown key */
    json_t *w = post("/v1/models/plinear:predict", "{\"instances\":[{\"x1\":1}],\"class\":\"tv\"}", 200);
    /* (its other warning: most of the model's features are missing) */
    char *wt = json_dumps(json_object_get(w, "warnings"), JSON_COMPACT);
    CHECK_CONTAINS(wt, "\"unknown top-level key 'class' ignored\"");
    free(wt);
    json_decref(w);
}

static void test_knn_neighbours(void) {
    CHECK(g_up);
    if (!g_up) return;
    json_t *j = post("/v1/models/pknn:explain", "{\"instances\":[{\"x1\":0.5,\"x2\":0.1,\"noise\":0.3}]}", 200);
    json_t *p = pred(j, 0), *nb = json_object_get(p, "neighbors");
    CHECK_EQ(json_array_size(nb), 5); /* knn's default k */
    CHECK_STR(json_string_value(json_object_get(json_object_get(p, "explained"), "method")), "nearest_neighbors");
    const char *label = json_string_value(json_object_get(p, "label"));
    double prev = -1;
    size_t votes = 0, i;
    json_t *e;
    json_array_foreach(nb, i, e) {
        double d = json_number_value(json_object_get(e, "distance"));
        CHECK(d >= prev);
        prev = d;
        CHECK(json_is_integer(json_object_get(e, "row")));
        votes += label && !strcmp(json_string_value(json_object_get(e, "label")), label);
    }
    /* uniform votes: the label's probability is its share of the neighbours */
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(p, "probabilities"), label)), votes / 5.0, 1e-12);
    json_decref(j);
}

static void test_hier_path(void) {
    CHECK(g_up);
    if (!g_up) return;
    json_t *j = post("/v1/models/phier:explain", "{\"instances\":[{\"x1\":0.5,\"x2\":0.1,\"noise\":0.3}]}", 200);
    json_t *p = pred(j, 0), *path = json_object_get(p, "path");
    CHECK_EQ(json_array_size(path), 2);
    json_t *g = json_array_get(path, 0), *c = json_array_get(path, 1);
    CHECK_STR(json_string_value(json_object_get(g, "level")), "group");
    CHECK_STR(json_string_value(json_object_get(g, "name")), "tech");
    CHECK_STR(json_string_value(json_object_get(c, "level")), "class");
    CHECK_STR(json_string_value(json_object_get(c, "class")), json_string_value(json_object_get(p, "label")));
    double pg = json_number_value(json_object_get(g, "probability"));
    double pc = json_number_value(json_object_get(c, "probability_in_group"));
    CHECK_NEAR(pg * pc, json_number_value(json_object_get(p, "score")), 1e-9);
    check_contribs(json_object_get(g, "contributions"), PRODUCT_INPUTS, 3);
    check_contribs(json_object_get(c, "contributions"), PRODUCT_INPUTS, 3);
    json_decref(j);
}

/* confidence is the probability of the label decided: below 0.5 when the threshold is */
static void test_confidence_is_the_decisions(void) {
    CHECK(g_up);
    if (!g_up) return;
    fw_buf b;
    fw_buf_init(&b);
    fw_buf_printf(&b, "{\"instances\":[");
    for (int i = 0; i < 200; i++) fw_buf_printf(&b, "%s{\"amount\":%.1f,\"plan\":\"basic\"}", i ? "," : "", i * 0.5);
    fw_buf_printf(&b, "]}");
    fw_buf_put_u8(&b, 0);
    json_t *j = post("/v1/models/olinear:predict", (const char *)b.data, 200);
    fw_buf_free(&b);
    size_t below_half = 0, i;
    json_t *p;
    json_array_foreach(json_object_get(j, "predictions"), i, p) {
        const char *label = json_string_value(json_object_get(p, "label"));
        double conf = json_number_value(json_object_get(p, "confidence"));
        double pl = json_number_value(json_object_get(json_object_get(p, "probabilities"), label));
        CHECK_NEAR(conf, pl, 1e-15);
        below_half += conf < 0.5;
    }
    CHECK_MSG(below_half > 0, "no answer between the threshold and 0.5: the test sees nothing");
    json_decref(j);
}

int main(void) {
    setup();
    TEST_RUN(test_binary_linear_by_input_column);
    TEST_RUN(test_gbdt_treeshap);
    TEST_RUN(test_multiclass_explains_the_predicted_class);
    TEST_RUN(test_knn_neighbours);
    TEST_RUN(test_hier_path);
    TEST_RUN(test_confidence_is_the_decisions);
    if (g_up) hc_server_stop(&g_srv, SIGTERM);
    return fw_test_report("test_explain");
}
