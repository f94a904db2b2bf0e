/* pima_serve.h — owns the serve tests' pima fixture: examples/pima trained into <tmpdir>/h, a
 * serve.yaml written beside it, `flywheel serve` started on that home and stopped, and pima's rows
 * as /v1 predict bodies. Header-only (static functions, as tests/serve/client.h, whose server
 * start it uses); include it after test.h.
 *
 *     fw_test_pima p;
 *     if (!fw_test_pima_serve(&p, NULL, "monitoring:\n  enabled: true\n")) return;
 *     ... requests to p.srv.port ...
 *     CHECK_EQ(fw_test_pima_stop(&p), 0);
 */
#ifndef FW_TEST_PIMA_SERVE_H
#define FW_TEST_PIMA_SERVE_H

#include "test.h"

#include "../serve/client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fw_test_pima {
    hc_server srv;  /* the running server: srv.port */
    char home[700]; /* <tmpdir>/h */
    char cfg[700];  /* <tmpdir>/serve.yaml */
} fw_test_pima;

/* Trains pima into <tmpdir>/h with `--models models` (NULL: linear), its p99 latency budget off
 * (a loaded test machine must not raise latency alarms) and then the sed expressions `sed` (NULL:
 * none; quoted as fw_project's arguments, e.g. "'s/a/b/' 's/c/d/'") applied to its project file
 * <tmpdir>/pima.yaml. Returns true, or records the failure with the command's output and returns
 * false. */
__attribute__((unused)) static bool fw_test_pima_train(const char *sed, const char *models) {
    char *o = NULL;
    int rc = fw_test_sh(&o, "fw_project pima \"$T/pima.yaml\" 's/p99_latency_ms: 5/p99_latency_ms: 0/' %s && "
                            "\"$FW\" train \"$T/pima.yaml\" --home \"$T/h\" --quiet --models %s",
                        sed ? sed : "", models ? models : "linear");
    CHECK_MSG(rc == 0, "train pima: %s", o ? o : "");
    free(o);
    return rc == 0;
}

/* Starts `flywheel serve --home <tmpdir>/h` — with `--config <tmpdir>/serve.yaml` holding `yaml`
 * when yaml is not NULL — on a free port. Returns true with the server running, or records the
 * failure and returns false with nothing to stop. */
__attribute__((unused)) static bool fw_test_pima_start(fw_test_pima *p, const char *yaml) {
    snprintf(p->home, sizeof p->home, "%s/h", fw_test_tmpdir());
    snprintf(p->cfg, sizeof p->cfg, "%s/serve.yaml", fw_test_tmpdir());
    if (yaml) {
        FILE *c = fopen(p->cfg, "w");
        if (!c || fputs(yaml, c) < 0 || fclose(c) != 0) {
            fw_test_fail(__FILE__, __LINE__, "cannot write %s", p->cfg);
            return false;
        }
    }
    const char *args[] = {"--home", p->home, yaml ? "--config" : NULL, p->cfg, NULL};
    int started = hc_server_start(&p->srv, args);
    CHECK_EQ(started, 0);
    return started == 0;
}

/* fw_test_pima_train(sed, NULL), then fw_test_pima_start(p, yaml); false (failure recorded, no
 * server running) when either fails or there is no binary under test. */
__attribute__((unused)) static bool fw_test_pima_serve(fw_test_pima *p, const char *sed, const char *yaml) {
    return fw_test_bin() && fw_test_pima_train(sed, NULL) && fw_test_pima_start(p, yaml);
}

/* Stops the server with SIGTERM; returns its exit status (0: a clean stop; hc_server_stop). */
__attribute__((unused)) static int fw_test_pima_stop(fw_test_pima *p) { return hc_server_stop(&p->srv, SIGTERM); }

/* pima's data rows (examples/pima/pima.csv, read once per program): the header and the lines. */
typedef struct fw_test_pima_rows {
    char *text;
    char header[512];
    char *lines[800];
    size_t n;
} fw_test_pima_rows;

__attribute__((unused)) static fw_test_pima_rows *fw__test_pima_rows(void) {
    static fw_test_pima_rows r;
    if (!r.text && (r.text = fw_test_slurp("examples/pima/pima.csv", NULL)))
        r.n = fw_test_csv_lines(r.text, r.header, sizeof r.header, r.lines, 800);
    return &r;
}

/* How many data rows pima has (0: the file is not there: the test skips). */
__attribute__((unused)) static size_t fw_test_pima_n_rows(void) { return fw__test_pima_rows()->n; }

/* Row i (modulo the row count; fw_test_pima_n_rows must be > 0) as CSV text. */
__attribute__((unused)) static const char *fw_test_pima_line(size_t i) {
    fw_test_pima_rows *r = fw__test_pima_rows();
    return r->lines[i % r->n];
}

/* Row i as a /v1 predict body of one instance (empty cells null) and its label
 * (fw_test_v1_row_body). */
__attribute__((unused)) static void fw_test_pima_body(size_t i, char *body, size_t cap, char *label, size_t lcap) {
    fw_test_v1_row_body(fw__test_pima_rows()->header, fw_test_pima_line(i), body, cap, label, lcap);
}

#endif
