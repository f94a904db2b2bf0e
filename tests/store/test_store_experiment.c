/* test_store_experiment.c — fw_store_log_experiment_rows (issue 19) through the store interface
 * only: the exposures of a model are its predictions logged on the primary and challenger variants
 * (a shadow's record and another model's are not), the unit is the prediction's entity_id and else
 * its request id, each feedback event joins the request's first exposure (its unit, variant and the
 * feedback's own time and value), feedback without an event (a label) or for a request the log does
 * not hold is not an event, and a callback's error stops the read and is returned. */
#include "store/store.h"
#include "test.h"

#include "backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct seen {
    int exposures, events;
    char log[4096];
    int stop_after;
} seen;

static fw_status collect(void *ud, const fw_log_exp_row *r, fw_err *err) {
    seen *s = ud;
    if (r->event) s->events++;
    else s->exposures++;
    size_t n = strlen(s->log);
    snprintf(s->log + n, sizeof s->log - n, "%.*s|%.*s|%lld|%.*s|%g\n", (int)r->unit_len, r->unit, (int)r->variant_len,
             r->variant, (long long)r->ts_ms, r->event ? (int)r->event_len : 1, r->event ? r->event : "-",
             isnan(r->value) ? -1.0 : r->value);
    if (s->stop_after && s->exposures + s->events >= s->stop_after) return fw_err_set(err, FW_EINTERRUPTED, "stop");
    return FW_OK;
}

static void test_rows(void) {
    const char *home = fw_test_store_home("h");
    if (!home) return;
    fw_store *st;
    fw_err err;
    CHECK_OK(fw_store_open(home, &st, &err));
    fw_store_close(st);
    fw_store_log *l;
    CHECK_OK(fw_store_log_open(home, &l, &err));
    if (!l) return;
    static const char p1[] = "{\"variant\":\"primary\",\"source\":\"online\",\"entity_id\":\"alice\",\"answers\":[1]}",
                      c1[] = "{\"variant\":\"challenger\",\"source\":\"online\",\"entity_id\":null,\"answers\":[0]}",
                      sh[] = "{\"variant\":\"shadow\",\"source\":\"online\",\"entity_id\":\"alice\",\"answers\":[0]}";
    fw_log_pred_row rows[] = {
        {"r1", 1000, "m", 1, NULL, 0, p1, sizeof p1 - 1, 5, "model"},
        {"r1", 1000, "m", 2, NULL, 0, sh, sizeof sh - 1, 5, "model"},     /* r1's shadow */
        {"r2", 1001, "m", 2, NULL, 0, c1, sizeof c1 - 1, 5, "model"},     /* no entity: the request is the unit */
        {"r3", 1002, "other", 1, NULL, 0, p1, sizeof p1 - 1, 5, "model"}, /* another model */
    };
    CHECK_OK(fw_store_log_put_predictions(l, rows, 4, &err));
    fw_log_feedback_row fb[] = {
        {"r1", 2000, NULL, "click", NAN, "t", false, true},
        {"r2", 2001, NULL, "purchase", 12.5, "t", false, true},
        {"r2", 2002, "1", NULL, NAN, "t", false, true},        /* a label, no event */
        {"r9", 2003, NULL, "click", NAN, "t", false, false},   /* unknown request */
        {"r3", 2004, NULL, "click", NAN, "t", false, true},    /* another model's request */
    };
    CHECK_OK(fw_store_log_put_feedback(l, fb, 5, &err));
    seen s = {0};
    CHECK_OK(fw_store_log_experiment_rows(l, "m", collect, &s, &err));
    CHECK_EQ(s.exposures, 2);
    CHECK_EQ(s.events, 2);
    CHECK_CONTAINS(s.log, "alice|primary|1000|-|-1\n");
    CHECK_CONTAINS(s.log, "r2|challenger|1001|-|-1\n");
    CHECK_CONTAINS(s.log, "alice|primary|2000|click|-1\n");
    CHECK_CONTAINS(s.log, "r2|challenger|2001|purchase|12.5\n");
    CHECK(!strstr(s.log, "shadow"));
    seen none = {0};
    CHECK_OK(fw_store_log_experiment_rows(l, "nosuch", collect, &none, &err));
    CHECK_EQ(none.exposures + none.events, 0);
    seen stop = {.stop_after = 1};
    CHECK(fw_store_log_experiment_rows(l, "m", collect, &stop, &err) == FW_EINTERRUPTED);
    CHECK_EQ(stop.exposures + stop.events, 1);
    fw_store_log_close(l);
}

int main(void) {
    TEST_RUN_BACKENDS(test_rows);
    return fw_test_report("test_store_experiment");
}
